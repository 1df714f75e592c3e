//! `hisp.toml`: typed and strict (an unknown key is an error naming it), with
//! `HISP_<SECTION>_<KEY>` environment overrides (`HISP_HTTP_LISTEN=0.0.0.0:443`).
//! Secrets are never inline: the master key is a file, and a database password
//! comes from `HISP_SERVER_DATABASE_URL` or `database_url_file`, never the TOML.
//! Relative paths resolve against the config file's directory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {why}")]
    Read { path: String, why: String },
    /// The TOML or an override does not fit the schema (unknown key, wrong type).
    #[error("{source_name}: {why}")]
    Invalid { source_name: String, why: String },
    /// A value is out of range or unsafe.
    #[error("config: {0}")]
    Value(String),
}

/// Sections whose keys `HISP_<SECTION>_<KEY>` may override.
const SECTIONS: &[&str] = &[
    "server",
    "pki",
    "smtp",
    "imap",
    "delivery",
    "dns",
    "discovery",
    "mllp",
    "http",
    "notify",
];

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Identity, storage and keys.
    pub server: ServerConfig,
    /// The built-in CA's certificate profile.
    pub pki: PkiConfig,
    /// SMTP listeners and TLS.
    pub smtp: SmtpConfig,
    /// IMAP listener.
    pub imap: ImapConfig,
    /// Outbound delivery.
    pub delivery: DeliveryConfig,
    /// The authoritative DNS responder.
    pub dns: DnsConfig,
    /// Certificate discovery.
    pub discovery: DiscoveryConfig,
    /// The HL7 MLLP listener.
    pub mllp: MllpConfig,
    /// The portal, API, metrics and PKI URLs.
    pub http: HttpConfig,
    /// Encounter notifications.
    pub notify: NotifyConfig,
    /// The Direct agent's algorithms.
    pub agent: AgentConfig,
    /// The directory relative paths resolve against (the config file's).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// EHLO name, MX target and TLS certificate name.
    pub hostname: String,
    /// Where the SQLite database, master key and TLS files live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default SQLite under data_dir. No password here.
    pub database_url: Option<String>,
    /// A file holding the database URL (for URLs with passwords).
    pub database_url_file: Option<PathBuf>,
    /// The master key file (default `<data_dir>/master.key`).
    pub master_key_file: Option<PathBuf>,
    /// Base of the CRL and AIA URLs in issued certificates (default `http://<http.listen>`).
    pub public_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            hostname: "mail.direct.localhost".into(),
            data_dir: "hisp-data".into(),
            database_url: None,
            database_url_file: None,
            master_key_file: None,
            public_url: None,
        }
    }
}

/// `[pki]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PkiConfig {
    /// RSA size of issued end-entity keys: 2048, 3072 or 4096.
    pub key_bits: u32,
    /// Lifetime of issued end-entity certificates.
    pub validity_days: u32,
    /// Lifetime of the CA certificate made at setup.
    pub ca_validity_days: u32,
    /// certificatePolicies OIDs put in issued certificates (DirectTrust arc 1.3.6.1.4.1.41179).
    pub policies: Vec<String>,
    /// Issue single-use pairs instead of dual-use certificates by default.
    pub single_use_certs: bool,
    /// Lifetime of each CRL we publish.
    pub crl_validity_days: u32,
}

impl Default for PkiConfig {
    fn default() -> Self {
        Self {
            key_bits: 2048,
            validity_days: 365,
            ca_validity_days: 3650,
            policies: Vec::new(),
            single_use_certs: false,
            crl_validity_days: 7,
        }
    }
}

/// `[smtp]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Where other HISPs deliver (port 25 in production).
    #[serde(deserialize_with = "socket_addr")]
    pub mx_listen: SocketAddr,
    /// Where users' mail clients submit (587 in production).
    #[serde(deserialize_with = "socket_addr")]
    pub submission_listen: SocketAddr,
    /// TLS certificate chain, PEM (default `<data_dir>/tls/cert.pem`, made at setup).
    pub tls_cert: Option<PathBuf>,
    /// TLS private key, PEM (default `<data_dir>/tls/key.pem`).
    pub tls_key: Option<PathBuf>,
    /// Largest message accepted, bytes.
    pub max_message_size: u64,
    /// Longest command line, bytes with CRLF (RFC 5321 §4.5.3.1.4: at least 512).
    pub max_line_length: usize,
    /// Most recipients per message (RFC 5321 §4.5.3.1.8: at least 100).
    pub max_recipients: usize,
    /// Idle seconds waiting for a command before 421 (RFC 5321 §4.5.3.2: 5 minutes).
    pub command_timeout_secs: u64,
    /// Idle seconds inside DATA before 421 (RFC 5321 §4.5.3.2.6: 10 minutes).
    pub data_timeout_secs: u64,
    /// Concurrent connections per client IP, per listener.
    pub max_connections_per_ip: usize,
    /// Failed AUTH attempts per client IP or user name before a lockout.
    pub auth_max_failures: u32,
    /// How long a lockout (and the failure window) lasts, seconds.
    pub auth_lockout_secs: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            mx_listen: ([127, 0, 0, 1], 2525).into(),
            submission_listen: ([127, 0, 0, 1], 2587).into(),
            tls_cert: None,
            tls_key: None,
            max_message_size: 50 * 1024 * 1024,
            max_line_length: 4096,
            max_recipients: 100,
            command_timeout_secs: 300,
            data_timeout_secs: 600,
            max_connections_per_ip: 20,
            auth_max_failures: 5,
            auth_lockout_secs: 900,
        }
    }
}

/// `[imap]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImapConfig {
    /// Where mail clients read mail.
    #[serde(deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
}

impl Default for ImapConfig {
    fn default() -> Self {
        Self {
            listen: ([127, 0, 0, 1], 2143).into(),
        }
    }
}

/// `[delivery]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// The port outbound SMTP connects to.
    pub port: u16,
    /// Static routes, domain → host:port, overriding MX.
    pub routes: BTreeMap<String, String>,
    /// First retry delay, seconds (doubling).
    pub retry_initial_secs: u64,
    /// Longest retry delay, seconds.
    pub retry_max_secs: u64,
    /// Give up and bounce after this long, seconds.
    pub give_up_after_secs: u64,
    /// How long to wait for the final MDN, seconds.
    pub mdn_timeout_secs: u64,
    /// Domains whose servers must offer STARTTLS (else delivery is retried).
    pub tls_required: Vec<String>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            port: 25,
            routes: BTreeMap::new(),
            retry_initial_secs: 60,
            retry_max_secs: 4 * 3600,
            give_up_after_secs: 5 * 86_400,
            mdn_timeout_secs: 3600,
            tls_required: Vec::new(),
        }
    }
}

/// `[dns]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// UDP and TCP address of the authoritative responder.
    #[serde(deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
    /// The A/AAAA addresses published for `server.hostname` (the MX target).
    pub host_addresses: Vec<std::net::IpAddr>,
    /// TTL of generated records, seconds.
    pub ttl: u32,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            listen: ([127, 0, 0, 1], 1053).into(),
            host_addresses: vec![[127, 0, 0, 1].into()],
            ttl: 3600,
        }
    }
}

/// What to do when a CRL cannot be fetched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrlPolicy {
    /// Treat the certificate as untrusted.
    #[default]
    HardFail,
    /// Accept it and log a warning.
    SoftFail,
}

/// `[discovery]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoveryConfig {
    /// Resolvers to ask (default: the system resolver).
    pub nameservers: Vec<SocketAddr>,
    /// Look in LDAP after DNS.
    pub ldap: bool,
    /// How long found certificates are cached, seconds.
    pub cache_ttl_secs: u64,
    /// How long "nothing found" is cached, seconds.
    pub negative_cache_ttl_secs: u64,
    /// When a CRL cannot be fetched.
    pub crl_policy: CrlPolicy,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            nameservers: Vec::new(),
            ldap: true,
            cache_ttl_secs: 3600,
            negative_cache_ttl_secs: 300,
            crl_policy: CrlPolicy::HardFail,
        }
    }
}

/// `[mllp]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MllpConfig {
    /// Where hospitals' interface engines send ADT.
    #[serde(deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
    /// MLLP over TLS on `listen` (TLS from the first byte, as interface
    /// engines do it), with the server's certificate (`[smtp] tls_cert`).
    pub tls: bool,
    /// Connections one client address may hold open at once.
    pub max_connections_per_ip: usize,
    /// The MSH-11 processing id this listener takes (table 0103): `P`
    /// (production). Training (`T`) and debugging (`D`) messages get AR with
    /// error 202, since their patients and events are not real; a staging
    /// node that takes a hospital's test feed sets `T`.
    pub processing_id: String,
}

impl Default for MllpConfig {
    fn default() -> Self {
        Self {
            listen: ([127, 0, 0, 1], 2575).into(),
            tls: false,
            max_connections_per_ip: 64,
            processing_id: "P".into(),
        }
    }
}

/// `[http]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// The portal, API, /healthz, /metrics and /pki.
    #[serde(deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
    /// A portal session ends after this many seconds without a request.
    pub idle_timeout_secs: i64,
    /// Require a TOTP second factor of every user, not only of admins
    /// (admins always need one).
    pub require_mfa: bool,
    /// Mark the session cookie `Secure`. Unset: on unless `listen` is a
    /// loopback address (set it when a TLS proxy fronts a loopback listener).
    pub secure_cookies: Option<bool>,
    /// Largest request body (compose with attachments, roster uploads), bytes.
    pub max_upload_bytes: usize,
    /// Reverse proxies (TLS terminators) whose `X-Forwarded-For` names the
    /// client. Empty: the connection's address is the client, and the
    /// header is ignored (anyone could send it).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: ([127, 0, 0, 1], 8080).into(),
            idle_timeout_secs: 15 * 60,
            require_mfa: false,
            secure_cookies: None,
            max_upload_bytes: 25 * 1024 * 1024,
            trusted_proxies: Vec::new(),
        }
    }
}

impl HttpConfig {
    /// Whether the session cookie carries `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.secure_cookies
            .unwrap_or(!self.listen.ip().is_loopback())
    }
}

/// `[notify]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Roster entries expire after this many days unless re-submitted.
    pub roster_expiry_days: u32,
    /// Expired roster entries are kept this many days more (an archive of who
    /// was enrolled when), then deleted.
    pub roster_archive_days: u32,
    /// Identical alerts within this window are sent once, seconds.
    pub dedup_window_secs: u64,
    /// An ADT message's dedup key (MSH-3, MSH-4, MSH-10) and the ACK it got
    /// are kept, once it is processed, this many days from its receipt, so a
    /// resend within them gets the same ACK and is not processed again; 0
    /// keeps them for ever.
    pub adt_retention_days: u32,
    /// When the daily digest goes out, `HH:MM` UTC.
    pub digest_time: String,
    /// The most alerts one digest message carries; more go in further
    /// messages of the same digest.
    pub digest_max_alerts: usize,
    /// The Direct address alerts are sent from (default `notifications@<first domain>`).
    pub sender: Option<String>,
    /// Largest MLLP frame accepted, bytes.
    pub max_frame: usize,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            roster_expiry_days: 90,
            roster_archive_days: 180,
            sender: None,
            max_frame: 1024 * 1024,
            dedup_window_secs: 86_400,
            adt_retention_days: 30,
            digest_time: "07:00".into(),
            digest_max_alerts: 500,
        }
    }
}

/// `[agent]`: the algorithms the Direct agent sends with and accepts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Accept SHA-1 signatures from others (never used for sending).
    pub allow_sha1: bool,
    /// Default content encryption: aes-256-cbc, aes-128-cbc, aes-128-gcm or aes-256-gcm.
    pub cipher: String,
    /// Default key transport: pkcs1v15 or rsa-oaep-sha256.
    pub key_transport: String,
    /// Per destination domain overrides.
    pub domains: BTreeMap<String, AgentDomainConfig>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            allow_sha1: false,
            cipher: "aes-256-cbc".into(),
            key_transport: "pkcs1v15".into(),
            domains: BTreeMap::new(),
        }
    }
}

/// `[agent.domains."example.org"]`: how to encrypt toward one peer domain.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentDomainConfig {
    /// Content encryption toward this domain (AES-GCM only for peers known to accept it).
    pub cipher: Option<String>,
    /// Key transport toward this domain.
    pub key_transport: Option<String>,
}

impl Config {
    /// Read `path`, apply `HISP_*` overrides from `env`, and validate.
    pub fn load(path: &Path, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Self::from_toml(&text, &path.display().to_string(), env, base)
    }

    /// Parse TOML text (named `source_name` in errors), apply overrides, validate.
    pub fn from_toml(
        text: &str,
        source_name: &str,
        env: &[(String, String)],
        base_dir: PathBuf,
    ) -> Result<Self, ConfigError> {
        let invalid = |why: String| ConfigError::Invalid {
            source_name: source_name.to_string(),
            why,
        };
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| invalid(one_line(&e, text)))?;
        refuse_inline_secrets(&table)?;
        for (var, value) in env {
            apply_override(&mut table, var, value)?;
        }
        let mut config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| invalid(one_line(&e, text)))?;
        config.base_dir = base_dir;
        config.validate()?;
        Ok(config)
    }

    /// Check ranges and formats that types cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |s: String| Err(ConfigError::Value(s));
        if !(60..=86_400).contains(&self.http.idle_timeout_secs) {
            return bad(format!(
                "http.idle_timeout_secs = {} (use 60 to 86400)",
                self.http.idle_timeout_secs
            ));
        }
        if ![2048, 3072, 4096].contains(&self.pki.key_bits) {
            return bad(format!(
                "pki.key_bits = {} (use 2048, 3072 or 4096)",
                self.pki.key_bits
            ));
        }
        if let Some(oid) = self.pki.policies.iter().find(|o| !is_oid(o)) {
            return bad(format!("pki.policies: '{oid}' is not a dotted OID"));
        }
        if self.pki.validity_days == 0 || self.pki.crl_validity_days == 0 {
            return bad("pki.validity_days and pki.crl_validity_days must be at least 1".into());
        }
        if crate::direct::Domain::parse(&self.server.hostname).is_err() {
            return bad(format!(
                "server.hostname '{}' is not a fully qualified host name",
                self.server.hostname
            ));
        }
        if let Some(url) = &self.server.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return bad(format!(
                "server.public_url '{url}' must start with http:// or https://"
            ));
        }
        if crate::notify::digest::last_due(0, &self.notify.digest_time).is_none() {
            return bad(format!(
                "notify.digest_time '{}' must be HH:MM (UTC), e.g. 07:00",
                self.notify.digest_time
            ));
        }
        if self.notify.digest_max_alerts == 0 {
            return bad("notify.digest_max_alerts must be at least 1".into());
        }
        Ok(())
    }

    /// A path from the config, resolved against the config file's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.resolve(&self.server.data_dir)
    }

    /// The master key file.
    pub fn master_key_file(&self) -> PathBuf {
        match &self.server.master_key_file {
            Some(p) => self.resolve(p),
            None => self.data_dir().join("master.key"),
        }
    }

    /// The database URL: `database_url`, else `database_url_file`'s content, else SQLite under data_dir.
    pub fn database_url(&self) -> Result<String, ConfigError> {
        if let Some(url) = &self.server.database_url {
            return Ok(url.clone());
        }
        if let Some(file) = &self.server.database_url_file {
            let path = self.resolve(file);
            return std::fs::read_to_string(&path)
                .map(|s| s.trim().to_string())
                .map_err(|e| ConfigError::Read {
                    path: path.display().to_string(),
                    why: e.to_string(),
                });
        }
        Ok(format!(
            "sqlite://{}",
            self.data_dir().join("hisp.db").display()
        ))
    }

    /// The base of CRL and AIA URLs.
    pub fn public_url(&self) -> String {
        let url = self
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.http.listen));
        url.trim_end_matches('/').to_string()
    }

    /// TLS certificate and key files.
    pub fn tls_files(&self) -> (PathBuf, PathBuf) {
        let dir = self.data_dir().join("tls");
        (
            self.smtp
                .tls_cert
                .as_ref()
                .map_or_else(|| dir.join("cert.pem"), |p| self.resolve(p)),
            self.smtp
                .tls_key
                .as_ref()
                .map_or_else(|| dir.join("key.pem"), |p| self.resolve(p)),
        )
    }

    /// The listeners `hisp serve` starts, by name.
    pub fn listeners(&self) -> Vec<(&'static str, String)> {
        vec![
            ("http", self.http.listen.to_string()),
            ("dns", self.dns.listen.to_string()),
            ("smtp-mx", self.smtp.mx_listen.to_string()),
            ("submit", self.smtp.submission_listen.to_string()),
            ("mllp", self.mllp.listen.to_string()),
        ]
    }
}

/// Every `HISP_*` variable of the process, for [`Config::load`].
pub fn process_env() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("HISP_"))
        .collect()
}

/// A `host:port` socket address, with an error that names the bad value.
fn socket_addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "'{text}' is not an IP address and port (like 127.0.0.1:8080)"
        ))
    })
}

fn is_oid(s: &str) -> bool {
    let arcs: Vec<&str> = s.split('.').collect();
    arcs.len() >= 2
        && arcs
            .iter()
            .all(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
}

fn refuse_inline_secrets(table: &toml::Table) -> Result<(), ConfigError> {
    let url = table
        .get("server")
        .and_then(|s| s.get("database_url"))
        .and_then(|u| u.as_str());
    if let Some(url) = url
        && let Some((_, rest)) = url.split_once("://")
        && rest
            .split('@')
            .next()
            .is_some_and(|userinfo| rest.contains('@') && userinfo.contains(':'))
    {
        return Err(ConfigError::Value(
            "server.database_url holds a password: put it in HISP_SERVER_DATABASE_URL or a file named by database_url_file".into(),
        ));
    }
    Ok(())
}

/// Apply `HISP_<SECTION>_<KEY>=value`; variables of other shapes are ignored.
fn apply_override(table: &mut toml::Table, var: &str, value: &str) -> Result<(), ConfigError> {
    let Some(rest) = var.strip_prefix("HISP_") else {
        return Ok(());
    };
    let lower = rest.to_ascii_lowercase();
    let Some((section, key)) = lower.split_once('_') else {
        return Ok(());
    };
    if !SECTIONS.contains(&section) {
        return Ok(());
    }
    let parsed = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let entry = table
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(section_table) = entry else {
        return Err(ConfigError::Invalid {
            source_name: var.to_string(),
            why: format!("[{section}] is not a table"),
        });
    };
    section_table.insert(key.to_string(), parsed);
    // Check this override alone so an unknown key names the variable.
    let probe = toml::Value::Table(toml::Table::from_iter([(
        section.to_string(),
        toml::Value::Table(section_table.clone()),
    )]));
    probe
        .try_into::<Config>()
        .map(|_| ())
        .map_err(|e| ConfigError::Invalid {
            source_name: var.to_string(),
            why: e.message().to_string(),
        })
}

/// A TOML error as one line, naming the line (number and text) when it has a position.
fn one_line(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or("");
            let number = before.matches('\n').count() + 1;
            let line = text.lines().nth(number - 1).unwrap_or("").trim();
            format!("line {number} `{line}`: {message}")
        }
        None => message,
    }
}

/// The config written by first-time setup.
pub fn initial_toml(hostname: &str, data_dir: &str, http_listen: &str) -> String {
    format!(
        "# hisp configuration. Every key is documented in README.md.\n\
         # Secrets never go here: the master key is a file, and a database URL with a\n\
         # password goes in HISP_SERVER_DATABASE_URL or a file named by database_url_file.\n\
         \n\
         [server]\n\
         hostname = \"{hostname}\"\n\
         data_dir = \"{data_dir}\"\n\
         # database_url = \"postgres://hisp@db/hisp\"   # default: SQLite under data_dir\n\
         \n\
         [pki]\n\
         key_bits = 2048\n\
         # DirectTrust certificatePolicies OIDs to put in issued certificates:\n\
         policies = []\n\
         \n\
         [http]\n\
         listen = \"{http_listen}\"\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_toml(text, "hisp.toml", &env, PathBuf::from("/etc/hisp"))
    }

    #[test]
    fn defaults_and_initial_file_parse() {
        let c = parse("", &[]).expect("empty config");
        assert_eq!(c.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            c.database_url().expect("url"),
            "sqlite:///etc/hisp/hisp-data/hisp.db"
        );
        assert_eq!(
            c.master_key_file(),
            PathBuf::from("/etc/hisp/hisp-data/master.key")
        );
        assert_eq!(c.public_url(), "http://127.0.0.1:8080");
        let init = initial_toml("mail.example.org", "data", "127.0.0.1:9999");
        let c = parse(&init, &[]).expect("initial config");
        assert_eq!(c.server.hostname, "mail.example.org");
        assert_eq!(c.http.listen.port(), 9999);
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = parse("[server]\nhostnme = \"x.org\"\n", &[]).expect_err("typo");
        assert!(err.to_string().contains("hostnme"), "{err}");
        let err = parse("[bogus]\n", &[]).expect_err("section");
        assert!(err.to_string().contains("bogus"), "{err}");
        let err = parse("", &[("HISP_HTTP_LISTN", "1.2.3.4:5")]).expect_err("env typo");
        assert!(err.to_string().contains("HISP_HTTP_LISTN"), "{err}");
        assert!(err.to_string().contains("listn"), "{err}");
    }

    /// A syntax error is one line naming the line, as a schema error is;
    /// before, it was the TOML crate's multi-line report with a caret
    /// (found by the `config` fuzz target).
    #[test]
    fn a_syntax_error_is_one_line() {
        for (text, needle) in [
            ("\0", "line 1"),
            (" x\n", "line 1 `x`"),
            ("[server]\nhostname = \"a\nb\"\n", "line 3"),
            ("[http]\nlisten = \n", "line 2 `listen =`"),
        ] {
            let err = parse(text, &[]).expect_err("syntax").to_string();
            assert!(!err.contains('\n'), "{text:?}: {err}");
            assert!(err.contains(needle), "{text:?}: {err}");
            assert!(err.starts_with("hisp.toml"), "{err}");
        }
    }

    #[test]
    fn env_overrides_file() {
        let c = parse(
            "[http]\nlisten = \"127.0.0.1:1\"\n",
            &[
                ("HISP_HTTP_LISTEN", "127.0.0.1:8443"),
                ("HISP_PKI_KEY_BITS", "3072"),
                ("HISP_SERVER_DATABASE_URL", "postgres://u:pw@db/hisp"),
                ("HISP_TEST_POSTGRES_URL", "ignored"),
                ("HISP_LOG", "debug"),
            ],
        )
        .expect("overrides");
        assert_eq!(c.http.listen.port(), 8443);
        assert_eq!(c.pki.key_bits, 3072);
        assert_eq!(c.database_url().expect("url"), "postgres://u:pw@db/hisp");
    }

    #[test]
    fn refuses_bad_values_and_inline_secrets() {
        for (text, needle) in [
            ("[pki]\nkey_bits = 1024\n", "key_bits"),
            ("[pki]\npolicies = [\"1.3.x\"]\n", "1.3.x"),
            ("[server]\nhostname = \"no spaces allowed\"\n", "hostname"),
            (
                "[server]\ndatabase_url = \"postgres://u:secret@h/d\"\n",
                "password",
            ),
            (
                "[http]\nlisten = \"not-an-address\"\n",
                "'not-an-address' is not an IP address",
            ),
            ("[server]\npublic_url = \"ftp://x\"\n", "public_url"),
        ] {
            let err = parse(text, &[]).expect_err(text);
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }
}
