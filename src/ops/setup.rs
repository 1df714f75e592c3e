//! First-time setup (`hisp init`, and `hisp serve` with no config): the config
//! file, the data directory, the master key (0600), the CA, the TLS certificate
//! for the hostname, a domain with its organization-bound certificate, and one
//! admin whose one-time password is printed once. Every step is skipped when its
//! result already exists, so setup is idempotent.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Hisp, OpsError};
use crate::clock::SharedClock;
use crate::config::{self, Config};
use crate::direct::Domain;
use crate::pki::{self, CaKeys, Subject, Usage};
use crate::store::{ca, domains, seal, users};

/// The domain `hisp serve` sets up on a fresh machine.
pub const DEV_DOMAIN: &str = "direct.localhost";
/// The admin login setup creates.
pub const ADMIN_USER: &str = "admin";

/// What `init` should set up.
#[derive(Debug)]
pub struct InitOptions {
    /// The domain to serve.
    pub domain: Domain,
    /// The host name (default `mail.<domain>`), used only when writing a new config.
    pub hostname: Option<String>,
    /// Adopt this CA instead of generating one (a CA moved from another
    /// installation; tests share one to save RSA-4096 generation).
    pub ca: Option<CaKeys>,
}

/// What setup did; false/None for steps that were already done.
#[derive(Debug, Default)]
pub struct SetupReport {
    /// The config file.
    pub config_path: PathBuf,
    /// A new config file was written.
    pub wrote_config: bool,
    /// A new master key was made.
    pub created_master_key: bool,
    /// A new CA was made.
    pub created_ca: bool,
    /// A new TLS certificate was made.
    pub created_tls: bool,
    /// The domain was added.
    pub added_domain: bool,
    /// The admin created, with its one-time password.
    pub admin: Option<(String, String)>,
}

/// Run setup for `opts` against the config at `config_path`.
pub async fn init(
    config_path: &Path,
    opts: &InitOptions,
    env: &[(String, String)],
    clock: SharedClock,
) -> Result<(Hisp, SetupReport), OpsError> {
    let mut report = SetupReport {
        config_path: config_path.to_path_buf(),
        ..SetupReport::default()
    };
    if !config_path.exists() {
        let hostname = opts
            .hostname
            .clone()
            .unwrap_or_else(|| format!("mail.{}", opts.domain));
        let text = config::initial_toml(&hostname, "hisp-data", "127.0.0.1:8080");
        write_new(config_path, text.as_bytes(), 0o644)?;
        report.wrote_config = true;
    }
    let config = Config::load(config_path, env)?;
    let data_dir = config.data_dir();
    fs::create_dir_all(&data_dir).map_err(|e| OpsError::io(&data_dir, e))?;
    set_mode(&data_dir, 0o700)?;
    report.created_master_key = seal::create_key_file(&config.master_key_file())?;

    let hisp = Hisp::open(config, clock).await?;
    report.created_ca = ensure_ca(&hisp, opts.ca.as_ref()).await?;
    report.created_tls = ensure_tls(&hisp).await?;
    let mut conn = hisp.conn().await?;
    let have_domain = domains::find(&mut conn, &opts.domain).await?.is_some();
    let have_admin = users::list(&mut conn)
        .await?
        .iter()
        .any(|u| u.role == users::Role::Admin);
    drop(conn);
    if !have_domain {
        hisp.domain_add(&opts.domain, "setup").await?;
        report.added_domain = true;
    }
    if !have_admin {
        let (user, password) = hisp
            .user_add(ADMIN_USER, users::Role::Admin, None, "setup")
            .await?;
        report.admin = password.map(|p| (user.username, p));
    }
    Ok((hisp, report))
}

/// Make (or adopt) the CA (RSA-4096 root) and its first CRL unless one exists.
async fn ensure_ca(hisp: &Hisp, adopt: Option<&CaKeys>) -> Result<bool, OpsError> {
    let mut conn = hisp.conn().await?;
    if ca::cert(&mut conn).await?.is_some() {
        return Ok(false);
    }
    drop(conn);
    let name = format!("hisp CA ({})", hisp.config.server.hostname);
    let days = hisp.config.pki.ca_validity_days;
    let now = hisp.now();
    let keys = match adopt {
        Some(ca) => CaKeys {
            cert: ca.cert.clone(),
            key: ca.key.clone(),
        },
        None => super::blocking(move || Ok(CaKeys::generate(&name, now, days)?)).await?,
    };
    let mut tx = hisp.store.begin().await?;
    ca::insert(&hisp.store, &mut tx, &keys, now).await?;
    hisp.sign_crl(&mut tx).await?;
    hisp.audit(
        &mut tx,
        "setup",
        "ca.create",
        &pki::fingerprint(&keys.cert),
        "",
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Issue the TLS certificate for the hostname unless its files exist.
async fn ensure_tls(hisp: &Hisp) -> Result<bool, OpsError> {
    let (cert_path, key_path) = hisp.config.tls_files();
    if cert_path.exists() && key_path.exists() {
        return Ok(false);
    }
    let subject = Subject::TlsServer {
        hostname: hisp.config.server.hostname.clone(),
    };
    static TLS: &[Usage] = &[Usage::Dual];
    let issued = hisp
        .issue(subject, TLS)
        .await?
        .pop()
        .ok_or_else(|| OpsError::Invalid("no TLS certificate was issued".into()))?;
    let ca_cert = hisp.ca_cert().await?;
    let chain = [pki::cert_pem(&issued.cert)?, pki::cert_pem(&ca_cert)?].concat();
    let key = issued
        .key
        .private_key_to_pem_pkcs8()
        .map_err(|e| OpsError::Invalid(e.to_string()))?;
    for p in [&cert_path, &key_path] {
        if let Some(dir) = p.parent() {
            fs::create_dir_all(dir).map_err(|e| OpsError::io(dir, e))?;
        }
    }
    write_new(&key_path, &key, 0o600)?;
    write_new(&cert_path, chain.as_bytes(), 0o644)?;
    Ok(true)
}

/// Write a file that must not exist yet, with `mode`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), OpsError> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    let mut f = opts.open(path).map_err(|e| OpsError::io(path, e))?;
    f.write_all(bytes).map_err(|e| OpsError::io(path, e))?;
    f.sync_all().map_err(|e| OpsError::io(path, e))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), OpsError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| OpsError::io(path, e))?;
    }
    let _ = (path, mode);
    Ok(())
}
