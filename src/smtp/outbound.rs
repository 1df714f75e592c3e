//! Outbound SMTP delivery: from "this message goes to these recipients in domain D" to one
//! SMTP transaction on the first mail exchanger of D that takes it.
//!
//! This module owns target selection (configured routes, MX lookup with null MX and implicit
//! MX, address lookup), the SMTP client session (through lettre's low-level
//! `AsyncSmtpConnection`), timeouts, and the verdict: [`Delivery::Sent`],
//! [`Delivery::Temporary`] (queue and retry) or [`Delivery::Permanent`] (bounce). It owns no
//! queue, no retry schedule and no DSN; the caller does.
//!
//! # Layout
//!
//! - [`Outbound::targets`]: route, else MX (RFC 5321 §5.1, RFC 7505), else implicit MX.
//! - [`Outbound::deliver`]: tries each target host, and each of its addresses, in order.
//! - `attempt`: one TCP connection, EHLO, STARTTLS, MAIL, RCPT, DATA, each step under a timeout.
//!
//! # TLS
//!
//! STARTTLS is opportunistic (RFC 7435): certificates and host names are *not* checked, so TLS
//! here only defeats passive eavesdropping. Direct's confidentiality and authenticity come from
//! the S/MIME layer, which is checked elsewhere. For domains in
//! [`OutboundConfig::tls_required`] a host that does not offer STARTTLS, or whose handshake
//! fails, counts as a temporary failure. Elsewhere a failed handshake also fails the attempt
//! (there is no retry in plain text), and the next address or host is tried.
//!
//! # Why not `AsyncSmtpTransport::send_raw`
//!
//! In lettre 0.11.23's tokio path the transport's `timeout` bounds only the TCP connect: reads
//! and writes have no timeout, so a peer that stalls would hang a delivery forever. And
//! `send_raw` waits for the QUIT reply after the message was accepted. So each step here runs
//! under `tokio::time::timeout`, and QUIT is sent after the verdict is known.
//!
//! # Privacy
//!
//! Logs at INFO carry the domain, the host, the address and the outcome class and code; server
//! texts (which may echo a mailbox) and envelope addresses appear only at DEBUG. Message content
//! is never logged.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::{Name, RData, Record};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use lettre::address::{Address, Envelope};
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::client::{AsyncSmtpConnection, CertificateStore, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use tokio::net::TcpStream;
use tracing::{debug, info};

/// What outbound delivery needs to know; built from the `[delivery]` config section.
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// Our EHLO name.
    pub helo_name: String,
    /// Port used for MX and implicit-MX targets (25 in production, a test port in tests).
    pub port: u16,
    /// Domain (lower case) to `host`, `host:port`, `[ip]`, `[ip]:port` or `ip`; overrides MX.
    pub routes: BTreeMap<String, String>,
    /// Domains where STARTTLS must succeed, else the attempt fails temporarily.
    pub tls_required: BTreeSet<String>,
    /// Empty: the system resolver. Else only these servers, over UDP and TCP.
    pub nameservers: Vec<SocketAddr>,
    /// Bound on one TCP connect.
    pub connect_timeout: Duration,
    /// Bound on one SMTP command and its reply.
    pub command_timeout: Duration,
}

impl OutboundConfig {
    /// A config with the documented defaults: port 25, no routes, system resolver, 30 s
    /// connect and 60 s command timeouts.
    pub fn new(helo_name: impl Into<String>) -> Self {
        Self {
            helo_name: helo_name.into(),
            port: 25,
            routes: BTreeMap::new(),
            tls_required: BTreeSet::new(),
            nameservers: Vec::new(),
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(60),
        }
    }
}

/// A configuration that cannot work; reported once, at start-up.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// A `routes` entry does not parse as `host`, `host:port`, `[ip]` or `[ip]:port`.
    #[error("route for {domain:?}: {reason} in {value:?}")]
    BadRoute {
        domain: String,
        value: String,
        reason: &'static str,
    },
    /// The EHLO name is empty or not a domain name.
    #[error("helo_name {0:?} is not a domain name")]
    BadHeloName(String),
    /// The resolver could not be built (for example, no usable /etc/resolv.conf).
    #[error("DNS resolver: {0}")]
    Resolver(String),
}

/// One host to try, in order. `host` is a name (TLS SNI and logs) or an IP literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
}

/// The verdict on one message for one domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Accepted: the host that took it and its final reply ("250 2.0.0 queued as …").
    Sent { host: String, reply: String },
    /// 4xx, connection, DNS, timeout or missing required TLS: retry later.
    Temporary(String),
    /// 5xx, null MX, nonexistent domain, unusable address: bounce.
    Permanent(String),
}

impl Delivery {
    pub fn is_sent(&self) -> bool {
        matches!(self, Self::Sent { .. })
    }

    pub fn is_temporary(&self) -> bool {
        matches!(self, Self::Temporary(_))
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent(_))
    }

    /// The reply or failure text, for the queue record or a DSN.
    pub fn text(&self) -> &str {
        match self {
            Self::Sent { reply, .. } => reply,
            Self::Temporary(text) | Self::Permanent(text) => text,
        }
    }
}

/// The outbound SMTP client. Cheap to clone: the state is behind an `Arc`.
#[derive(Clone)]
pub struct Outbound {
    inner: Arc<Inner>,
}

struct Inner {
    config: OutboundConfig,
    /// Parsed `config.routes`.
    routes: BTreeMap<String, Target>,
    resolver: TokioResolver,
    /// TLS client parameters per host, built once: building them sets up an
    /// OpenSSL context, which parses the system's CA bundle (tens of
    /// milliseconds of CPU each time on OpenSSL 3.0).
    tls: std::sync::Mutex<std::collections::HashMap<String, TlsParameters>>,
    /// Sessions left open after a message went through, per address and
    /// whether they are encrypted: the next message to that address reuses
    /// one (after a NOOP) instead of paying a new TCP and TLS handshake.
    idle: std::sync::Mutex<std::collections::HashMap<(SocketAddr, bool), Vec<Idle>>>,
}

/// An open session waiting for the next message.
struct Idle {
    since: std::time::Instant,
    conn: AsyncSmtpConnection,
}

/// How long an open session is kept for reuse.
const IDLE_FOR: Duration = Duration::from_secs(10);
/// Open sessions kept per address: as many as this node delivers at once
/// (the delivery worker's concurrency), so a busy route reuses every session
/// it opened instead of closing most of them and handshaking again. Below
/// the MX listener's default of 20 connections per client address.
const IDLE_PER_ADDR: usize = 16;

/// Hosts whose TLS parameters are kept (the map is cleared when it is full).
const TLS_CACHE_HOSTS: usize = 1024;

impl Outbound {
    /// Checks the routes and the EHLO name, and builds the resolver.
    pub fn new(config: OutboundConfig) -> Result<Self, OutboundError> {
        if Name::from_ascii(&config.helo_name).is_err() || config.helo_name.is_empty() {
            return Err(OutboundError::BadHeloName(config.helo_name));
        }
        let routes = parse_routes(&config.routes, config.port)?;
        let resolver = build_resolver(&config.nameservers)?;
        let mut config = config;
        config.tls_required = config
            .tls_required
            .iter()
            .map(|domain| normalize_domain(domain))
            .collect();
        let inner = Inner {
            config,
            routes,
            resolver,
            tls: std::sync::Mutex::default(),
            idle: std::sync::Mutex::default(),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Delivers one message to `rcpts` (all in `domain`), trying each target host in order.
    /// `mail_from` is "" for the null sender. A trailing CRLF of `message` is the end of its
    /// last line, not an extra empty line.
    pub async fn deliver(
        &self,
        domain: &str,
        mail_from: &str,
        rcpts: &[String],
        message: &[u8],
    ) -> Delivery {
        // RFC 5321 §2.3.8: clients "MUST NOT transmit these characters except when they are
        // intended as line terminators". A bare LF before "." could also end DATA early at a
        // lenient server (SMTP smuggling), since lettre dot-stuffs only after CRLF.
        if has_bare_cr_or_lf(message) {
            return Delivery::Permanent("message contains a bare CR or LF".into());
        }
        let envelope = match envelope(mail_from, rcpts) {
            Ok(envelope) => envelope,
            Err(verdict) => return verdict,
        };
        let targets = match self.targets(domain).await {
            Ok(targets) => targets,
            Err(verdict) => {
                info!(
                    domain,
                    outcome = outcome_class(&verdict),
                    "no delivery target"
                );
                return verdict;
            }
        };
        let body = strip_final_crlf(message);
        let mut last = Delivery::Temporary(format!("{domain}: no target host"));
        for target in &targets {
            last = self.deliver_to_host(domain, target, &envelope, body).await;
            if !last.is_temporary() {
                break;
            }
        }
        last
    }

    /// The hosts that would be tried, in order. `Err` carries the verdict when there are none.
    pub async fn targets(&self, domain: &str) -> Result<Vec<Target>, Delivery> {
        let domain = normalize_domain(domain);
        if let Some(route) = self.inner.routes.get(&domain) {
            return Ok(vec![route.clone()]);
        }
        let name = fqdn(&domain)
            .map_err(|_| Delivery::Permanent(format!("{domain}: not a valid domain name")))?;
        match self.inner.resolver.mx_lookup(name.clone()).await {
            Ok(lookup) => self.mx_targets(&domain, lookup.answers()),
            // NXDOMAIN is also "no records", so it is matched first.
            Err(err) if err.is_nx_domain() => Err(nxdomain(&domain)),
            Err(err) if err.is_no_records_found() => self.implicit_mx(&domain, name).await,
            Err(err) => Err(Delivery::Temporary(format!(
                "{domain}: MX lookup failed: {err}"
            ))),
        }
    }

    /// RFC 7505 §3: "A domain that advertises a null MX MUST NOT advertise any other MX RR."
    /// A null MX among others is skipped; a null MX alone refuses mail.
    fn mx_targets(&self, domain: &str, answers: &[Record]) -> Result<Vec<Target>, Delivery> {
        let mut exchanges: Vec<(u16, &Name)> = answers
            .iter()
            .filter_map(|record| match &record.data {
                RData::MX(mx) => Some((mx.preference, &mx.exchange)),
                _ => None,
            })
            .collect();
        let had_null_mx = exchanges.iter().any(|(_, exchange)| exchange.is_root());
        exchanges.retain(|(_, exchange)| !exchange.is_root());
        if exchanges.is_empty() && had_null_mx {
            return Err(Delivery::Permanent(format!(
                "{domain}: domain does not accept mail (null MX)"
            )));
        }
        // RFC 5321 §5.1: "Multiple MX records contain a preference indication that MUST be
        // used in sorting". Equal preferences are ordered by name, so attempts are reproducible.
        let mut hosts: Vec<(u16, String)> = exchanges
            .into_iter()
            .map(|(preference, exchange)| (preference, host_of(exchange)))
            .collect();
        hosts.sort();
        hosts.dedup_by(|later, earlier| later.1 == earlier.1);
        let port = self.inner.config.port;
        Ok(hosts
            .into_iter()
            .map(|(_, host)| Target { host, port })
            .collect())
    }

    /// RFC 5321 §5.1: "If an empty list of MXs is returned, the address is treated as if it
    /// was associated with an implicit MX RR, with a preference of 0, pointing to that host."
    async fn implicit_mx(&self, domain: &str, name: Name) -> Result<Vec<Target>, Delivery> {
        match self.inner.resolver.lookup_ip(name).await {
            Ok(_) => Ok(vec![Target {
                host: domain.to_owned(),
                port: self.inner.config.port,
            }]),
            Err(err) if err.is_nx_domain() => Err(nxdomain(domain)),
            Err(err) if err.is_no_records_found() => Err(Delivery::Permanent(format!(
                "{domain}: no MX and no address records"
            ))),
            Err(err) => Err(Delivery::Temporary(format!(
                "{domain}: address lookup failed: {err}"
            ))),
        }
    }

    /// Tries each address of one host. `Temporary` means: go on to the next host.
    async fn deliver_to_host(
        &self,
        domain: &str,
        target: &Target,
        envelope: &Envelope,
        body: &[u8],
    ) -> Delivery {
        let addresses = match self.addresses(&target.host).await {
            Ok(addresses) => addresses,
            Err(err) => {
                info!(domain, host = %target.host, outcome = "temporary", "address lookup failed");
                return Delivery::Temporary(format!(
                    "{}: address lookup failed: {err}",
                    target.host
                ));
            }
        };
        let mut last = Delivery::Temporary(format!("{}: no addresses", target.host));
        for ip in addresses {
            let addr = SocketAddr::new(ip, target.port);
            last = self
                .attempt_logged(domain, target, addr, envelope, body)
                .await;
            if !last.is_temporary() {
                break;
            }
        }
        last
    }

    async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, NetError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let name = fqdn(host)?;
        let lookup = self.inner.resolver.lookup_ip(name).await?;
        Ok(lookup.iter().collect())
    }

    /// One attempt, with its INFO line.
    async fn attempt_logged(
        &self,
        domain: &str,
        target: &Target,
        addr: SocketAddr,
        envelope: &Envelope,
        body: &[u8],
    ) -> Delivery {
        let (verdict, code) = match self.attempt(domain, target, addr, envelope, body).await {
            Ok(reply) => {
                let sent = Delivery::Sent {
                    host: target.host.clone(),
                    reply: reply_text(&reply),
                };
                (sent, Some(reply.code().to_string()))
            }
            Err(err) => (err.verdict(&target.host, addr), err.code()),
        };
        let code = code.as_deref().unwrap_or("-");
        info!(domain, host = %target.host, %addr, outcome = outcome_class(&verdict), code, "smtp attempt");
        debug!(domain, host = %target.host, %addr, text = verdict.text(), "smtp attempt detail");
        verdict
    }

    /// One SMTP session on one address.
    async fn attempt(
        &self,
        domain: &str,
        target: &Target,
        addr: SocketAddr,
        envelope: &Envelope,
        body: &[u8],
    ) -> Result<Response, AttemptError> {
        let config = &self.inner.config;
        let hello = ClientId::Domain(config.helo_name.clone());
        let step = config.command_timeout;
        let tls_required = config.tls_required.contains(&normalize_domain(domain));
        let mut conn = match self.reuse(addr, tls_required, step).await {
            Some(conn) => conn,
            None => self.open(target, addr, &hello, tls_required).await?,
        };
        // MAIL, one RCPT per recipient, DATA, and the content up to its final reply.
        let steps = u32::try_from(envelope.to().len())
            .unwrap_or(u32::MAX)
            .saturating_add(3);
        let reply = within(
            step.saturating_mul(steps),
            "transaction",
            conn.send(envelope, body),
        )
        .await;
        match reply {
            Ok(reply) => {
                // Accepted: keep the session for the next message to this address.
                self.keep(addr, conn);
                Ok(reply)
            }
            Err(e) => {
                // The session's state is unknown after a failure: close it.
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(step, conn.quit()).await;
                });
                Err(e)
            }
        }
    }

    /// An idle session to `addr` that still answers NOOP (encrypted when
    /// `tls_required`, else preferably so).
    async fn reuse(
        &self,
        addr: SocketAddr,
        tls_required: bool,
        step: Duration,
    ) -> Option<AsyncSmtpConnection> {
        let keys: &[(SocketAddr, bool)] = if tls_required {
            &[(addr, true)]
        } else {
            &[(addr, true), (addr, false)]
        };
        loop {
            let mut found = None;
            {
                let mut idle = match self.inner.idle.lock() {
                    Ok(m) => m,
                    Err(poisoned) => poisoned.into_inner(),
                };
                for key in keys {
                    if let Some(list) = idle.get_mut(key) {
                        list.retain(|i| i.since.elapsed() < IDLE_FOR);
                        if let Some(i) = list.pop() {
                            found = Some(i.conn);
                            break;
                        }
                    }
                }
            }
            let mut conn = found?;
            if tokio::time::timeout(step, conn.test_connected())
                .await
                .unwrap_or(false)
            {
                return Some(conn);
            }
            // Closed by the peer while idle: drop it and try the next one.
        }
    }

    /// Put a session that just delivered back for reuse.
    fn keep(&self, addr: SocketAddr, conn: AsyncSmtpConnection) {
        let key = (addr, conn.is_encrypted());
        let mut idle = match self.inner.idle.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let list = idle.entry(key).or_default();
        list.retain(|i| i.since.elapsed() < IDLE_FOR);
        if list.len() < IDLE_PER_ADDR {
            list.push(Idle {
                since: std::time::Instant::now(),
                conn,
            });
        }
        // Otherwise it is dropped: the peer sees the connection close.
    }

    /// A new session: connect, greeting, EHLO, and STARTTLS when offered or required.
    async fn open(
        &self,
        target: &Target,
        addr: SocketAddr,
        hello: &ClientId,
        tls_required: bool,
    ) -> Result<AsyncSmtpConnection, AttemptError> {
        let config = &self.inner.config;
        let step = config.command_timeout;
        let stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| AttemptError::Timeout("connect"))?
            .map_err(AttemptError::Connect)?;
        // lettre writes a message's end (CRLF . CRLF) apart from its body:
        // with Nagle's algorithm that last small segment waits for the ACK of
        // the one before, which the server delays (40 ms on Linux) because it
        // is waiting for that very end. Every command is written whole, so
        // nothing gains from coalescing.
        let _ = stream.set_nodelay(true);
        // Greeting and EHLO.
        let mut conn = within(
            step.saturating_mul(2),
            "greeting",
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), hello),
        )
        .await?;
        if tls_required || conn.can_starttls() {
            let params = self.tls_parameters(&target.host)?;
            // STARTTLS, the handshake, and EHLO again.
            within(
                step.saturating_mul(3),
                "STARTTLS",
                conn.starttls(params, hello),
            )
            .await?;
        }
        Ok(conn)
    }
}

/// Why one attempt failed, before it becomes a [`Delivery`].
#[derive(Debug)]
enum AttemptError {
    Connect(std::io::Error),
    Timeout(&'static str),
    Smtp(SmtpError),
}

impl AttemptError {
    /// A 5xx is final for the message (RFC 5321 §4.2.1: "the SMTP client SHOULD NOT repeat
    /// the exact request"); everything else moves on to the next address or host.
    fn verdict(&self, host: &str, addr: SocketAddr) -> Delivery {
        match self {
            Self::Smtp(err) if err.is_permanent() => {
                Delivery::Permanent(format!("{host} [{addr}]: {err}"))
            }
            Self::Smtp(err) => Delivery::Temporary(format!("{host} [{addr}]: {err}")),
            Self::Connect(err) => Delivery::Temporary(format!("{host} [{addr}]: connect: {err}")),
            Self::Timeout(step) => {
                Delivery::Temporary(format!("{host} [{addr}]: {step} timed out"))
            }
        }
    }

    /// The SMTP reply code, for logs.
    fn code(&self) -> Option<String> {
        match self {
            Self::Smtp(err) => err.status().map(|code| code.to_string()),
            _ => None,
        }
    }
}

/// Runs one SMTP step under a deadline.
async fn within<T>(
    limit: Duration,
    step: &'static str,
    future: impl Future<Output = Result<T, SmtpError>>,
) -> Result<T, AttemptError> {
    tokio::time::timeout(limit, future)
        .await
        .map_err(|_| AttemptError::Timeout(step))?
        .map_err(AttemptError::Smtp)
}

impl Outbound {
    /// Opportunistic TLS parameters for `host` (cached); see the module doc
    /// for why nothing is verified, and so why no CA store is loaded.
    fn tls_parameters(&self, host: &str) -> Result<TlsParameters, AttemptError> {
        let mut cache = match self.inner.tls.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(p) = cache.get(host) {
            return Ok(p.clone());
        }
        // Built while holding the lock: deliveries that start together toward
        // a new host wait for this one build instead of each making their own
        // (each costs tens of milliseconds: OpenSSL's connector builder reads
        // the system CA bundle even though none of it is used).
        let params = TlsParameters::builder(host.to_owned())
            .certificate_store(CertificateStore::None)
            .dangerous_accept_invalid_certs(true)
            .dangerous_accept_invalid_hostnames(true)
            .build()
            .map_err(AttemptError::Smtp)?;
        if cache.len() >= TLS_CACHE_HOSTS {
            cache.clear();
        }
        cache.insert(host.to_owned(), params.clone());
        Ok(params)
    }
}

/// The SMTP envelope; a bad address is the caller's data, so retrying cannot help.
fn envelope(mail_from: &str, rcpts: &[String]) -> Result<Envelope, Delivery> {
    let from = match mail_from {
        "" => None,
        sender => Some(
            sender
                .parse::<Address>()
                .map_err(|_| Delivery::Permanent("invalid sender address".into()))?,
        ),
    };
    let to = rcpts
        .iter()
        .map(|rcpt| rcpt.parse::<Address>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| Delivery::Permanent("invalid recipient address".into()))?;
    Envelope::new(from, to).map_err(|_| Delivery::Permanent("no recipients".into()))
}

/// lettre ends DATA with "\r\n.\r\n" (and dot-stuffs the content), so a message that already
/// ends in CRLF would gain an empty last line. Strip one CRLF to deliver it byte for byte.
fn strip_final_crlf(message: &[u8]) -> &[u8] {
    message.strip_suffix(b"\r\n").unwrap_or(message)
}

fn has_bare_cr_or_lf(message: &[u8]) -> bool {
    message.iter().enumerate().any(|(i, byte)| match byte {
        b'\r' => message.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || message.get(i - 1) != Some(&b'\r'),
        _ => false,
    })
}

/// "250 2.0.0 queued as X" from a possibly multi-line reply.
fn reply_text(reply: &Response) -> String {
    let lines: Vec<&str> = reply.message().collect();
    format!("{} {}", reply.code(), lines.join(" "))
}

fn outcome_class(verdict: &Delivery) -> &'static str {
    match verdict {
        Delivery::Sent { .. } => "sent",
        Delivery::Temporary(_) => "temporary",
        Delivery::Permanent(_) => "permanent",
    }
}

fn nxdomain(domain: &str) -> Delivery {
    Delivery::Permanent(format!("{domain}: domain does not exist (NXDOMAIN)"))
}

fn normalize_domain(domain: &str) -> String {
    domain.trim_end_matches('.').to_ascii_lowercase()
}

/// A fully qualified name, so that no search domain is ever appended.
fn fqdn(host: &str) -> Result<Name, NetError> {
    let mut name = Name::from_ascii(host)?;
    name.set_fqdn(true);
    Ok(name)
}

/// "mail.example.org" from "Mail.Example.org.".
fn host_of(name: &Name) -> String {
    normalize_domain(&name.to_ascii())
}

fn parse_routes(
    routes: &BTreeMap<String, String>,
    default_port: u16,
) -> Result<BTreeMap<String, Target>, OutboundError> {
    routes
        .iter()
        .map(|(domain, value)| {
            let bad = |reason| OutboundError::BadRoute {
                domain: domain.clone(),
                value: value.clone(),
                reason,
            };
            let target = parse_route(value, default_port).map_err(bad)?;
            Ok((normalize_domain(domain), target))
        })
        .collect()
}

/// `host`, `host:port`, `ip`, `[ip]`, `ipv4:port` or `[ip]:port`.
fn parse_route(value: &str, default_port: u16) -> Result<Target, &'static str> {
    let (host, port) = split_route(value.trim())?;
    let port = port.map_or(Ok(default_port), parse_port)?;
    let host = match host.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) if is_host_name(host) => normalize_domain(host),
        Err(_) => return Err("bad host name"),
    };
    Ok(Target { host, port })
}

/// The host and the port text, if any. A bare IPv6 address has no port.
fn split_route(value: &str) -> Result<(&str, Option<&str>), &'static str> {
    if value.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((value, None));
    }
    if let Some(rest) = value.strip_prefix('[') {
        let (literal, after) = rest.split_once(']').ok_or("bad IP literal")?;
        literal.parse::<IpAddr>().map_err(|_| "bad IP literal")?;
        return match after {
            "" => Ok((literal, None)),
            _ => Ok((literal, Some(after.strip_prefix(':').ok_or("bad port")?))),
        };
    }
    Ok(match value.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (value, None),
    })
}

fn is_host_name(host: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    !host.is_empty() && host.chars().all(allowed) && Name::from_ascii(host).is_ok()
}

fn parse_port(port: &str) -> Result<u16, &'static str> {
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err("bad port"),
        Ok(port) => Ok(port),
    }
}

/// The system resolver, or exactly the configured servers.
fn build_resolver(nameservers: &[SocketAddr]) -> Result<TokioResolver, OutboundError> {
    let resolver_error = |err: NetError| OutboundError::Resolver(err.to_string());
    if nameservers.is_empty() {
        return TokioResolver::builder_tokio()
            .map_err(resolver_error)?
            .build()
            .map_err(resolver_error);
    }
    let servers = nameservers.iter().map(|addr| name_server(*addr)).collect();
    let config = ResolverConfig::from_name_servers(servers);
    let mut options = ResolverOpts::default();
    options.timeout = Duration::from_secs(3);
    options.attempts = 2;
    options.cache_size = 256;
    options.use_hosts_file = ResolveHosts::Never;
    TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(options)
        .build()
        .map_err(resolver_error)
}

fn name_server(addr: SocketAddr) -> NameServerConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = addr.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = addr.port();
    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, ResponseCode};
    use hickory_proto::rr::RecordType;
    use hickory_proto::rr::rdata::{A, MX};
    use std::collections::HashMap;
    use std::net::Ipv4Addr;
    use std::sync::Mutex;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, UdpSocket};

    // ---- an authoritative-only DNS server (RA=0, AA=1) on 127.0.0.1:0, UDP ----

    #[derive(Clone, Default)]
    struct Node {
        mx: Vec<(u16, &'static str)>,
        a: Vec<Ipv4Addr>,
        servfail: bool,
    }

    fn mx(records: &[(u16, &'static str)]) -> Node {
        Node {
            mx: records.to_vec(),
            ..Node::default()
        }
    }

    fn a(ip: [u8; 4]) -> Node {
        Node {
            a: vec![Ipv4Addr::from(ip)],
            ..Node::default()
        }
    }

    async fn dns_server(zone: HashMap<&'static str, Node>) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind dns");
        let addr = socket.local_addr().expect("dns addr");
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((len, peer)) = socket.recv_from(&mut buf).await {
                let Ok(query) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                if let Ok(bytes) = dns_answer(&zone, &query).to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        addr
    }

    fn dns_answer(zone: &HashMap<&'static str, Node>, query: &Message) -> Message {
        let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
        reply.metadata.authoritative = true;
        reply.metadata.recursion_desired = query.metadata.recursion_desired;
        let Some(question) = query.queries.first() else {
            reply.metadata.response_code = ResponseCode::FormErr;
            return reply;
        };
        reply.add_query(question.clone());
        let key = normalize_domain(&question.name.to_ascii());
        let owner = question.name.clone();
        match zone.get(key.as_str()) {
            None => reply.metadata.response_code = ResponseCode::NXDomain,
            Some(node) if node.servfail => reply.metadata.response_code = ResponseCode::ServFail,
            Some(node) => match question.query_type {
                RecordType::MX => {
                    for (preference, exchange) in &node.mx {
                        let exchange = Name::from_ascii(exchange).expect("exchange");
                        let rdata = RData::MX(MX::new(*preference, exchange));
                        reply.add_answer(Record::from_rdata(owner.clone(), 60, rdata));
                    }
                }
                RecordType::A => {
                    for ip in &node.a {
                        let rdata = RData::A(A(*ip));
                        reply.add_answer(Record::from_rdata(owner.clone(), 60, rdata));
                    }
                }
                _ => {}
            },
        }
        reply
    }

    // ---- a small SMTP sink on 127.0.0.x:port ----

    #[derive(Clone, Default)]
    struct Plan {
        rcpt_reply: Option<&'static str>,
        data_reply: Option<&'static str>,
        /// Accept the connection and never say anything.
        silent: bool,
        /// Offer STARTTLS, then answer 220 and hang up instead of a handshake.
        broken_starttls: bool,
        /// Close the connection right after answering DATA (a server that
        /// hangs up on idle sessions).
        hang_up_after_data: bool,
    }

    #[derive(Debug, Default, Clone)]
    struct Received {
        mail_from: String,
        rcpts: Vec<String>,
        /// The content as un-stuffed by the sink.
        data: Vec<u8>,
        /// The DATA section as it was on the wire, terminator included.
        wire: Vec<u8>,
    }

    type Inbox = Arc<Mutex<Vec<Received>>>;

    async fn sink_on(addr: &str, plan: Plan) -> (SocketAddr, Inbox) {
        let listener = TcpListener::bind(addr).await.expect("bind sink");
        let addr = listener.local_addr().expect("sink addr");
        let inbox = Inbox::default();
        let sessions = inbox.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(smtp_session(stream, plan.clone(), sessions.clone()));
            }
        });
        (addr, inbox)
    }

    async fn sink(plan: Plan) -> (SocketAddr, Inbox) {
        sink_on("127.0.0.1:0", plan).await
    }

    /// A sink that also counts the connections it accepted.
    async fn counting_sink(plan: Plan) -> (SocketAddr, Inbox, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
        let addr = listener.local_addr().expect("sink addr");
        let inbox = Inbox::default();
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (sessions, seen) = (inbox.clone(), count.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(smtp_session(stream, plan.clone(), sessions.clone()));
            }
        });
        (addr, inbox, count)
    }

    async fn smtp_session(stream: TcpStream, plan: Plan, inbox: Inbox) -> std::io::Result<()> {
        if plan.silent {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return Ok(());
        }
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        write.write_all(b"220 sink.test ESMTP\r\n").await?;
        let mut current = Received::default();
        loop {
            let line = read_line(&mut read).await?;
            if line.is_empty() {
                return Ok(());
            }
            let command = String::from_utf8_lossy(&line).to_ascii_uppercase();
            let reply = if command.starts_with("EHLO") && plan.broken_starttls {
                "250-sink.test\r\n250-STARTTLS\r\n250 8BITMIME"
            } else if command.starts_with("EHLO") {
                "250-sink.test\r\n250-8BITMIME\r\n250 SIZE 10000000"
            } else if command.starts_with("STARTTLS") {
                write.write_all(b"220 2.0.0 go ahead\r\n").await?;
                return Ok(());
            } else if command.starts_with("MAIL FROM:") {
                current.mail_from = angle_content(&line);
                "250 2.1.0 ok"
            } else if command.starts_with("RCPT TO:") {
                current.rcpts.push(angle_content(&line));
                plan.rcpt_reply.unwrap_or("250 2.1.5 ok")
            } else if command.starts_with("DATA") {
                write.write_all(b"354 go ahead\r\n").await?;
                read_data(&mut read, &mut current).await?;
                let reply = plan.data_reply.unwrap_or("250 2.0.0 queued as 42");
                if reply.starts_with('2') {
                    inbox
                        .lock()
                        .expect("inbox")
                        .push(std::mem::take(&mut current));
                }
                if plan.hang_up_after_data {
                    write.write_all(format!("{reply}\r\n").as_bytes()).await?;
                    return Ok(());
                }
                reply
            } else if command.starts_with("QUIT") {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            } else if command.starts_with("RSET") || command.starts_with("NOOP") {
                "250 ok"
            } else {
                "502 5.5.2 not implemented"
            };
            write.write_all(format!("{reply}\r\n").as_bytes()).await?;
        }
    }

    async fn read_line(
        read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    ) -> std::io::Result<Vec<u8>> {
        let mut line = Vec::new();
        read.read_until(b'\n', &mut line).await?;
        Ok(line)
    }

    /// RFC 5321 §4.5.2: "If the first character is a period and there are other characters on
    /// the line, the first character is deleted."
    async fn read_data(
        read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
        current: &mut Received,
    ) -> std::io::Result<()> {
        loop {
            let line = read_line(read).await?;
            if line.is_empty() {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            current.wire.extend_from_slice(&line);
            if line == b".\r\n" {
                return Ok(());
            }
            current
                .data
                .extend_from_slice(line.strip_prefix(b".").unwrap_or(&line));
        }
    }

    fn angle_content(line: &[u8]) -> String {
        let text = String::from_utf8_lossy(line);
        let start = text.find('<').map_or(0, |i| i + 1);
        let end = text.rfind('>').unwrap_or(text.len());
        text.get(start..end).unwrap_or("").to_owned()
    }

    // ---- fixtures ----

    fn config(port: u16, nameservers: Vec<SocketAddr>) -> OutboundConfig {
        let mut config = OutboundConfig::new("hisp.test");
        config.port = port;
        config.nameservers = nameservers;
        config.connect_timeout = Duration::from_secs(2);
        config.command_timeout = Duration::from_secs(5);
        config
    }

    fn routed(domain: &str, to: SocketAddr) -> OutboundConfig {
        // A dead nameserver: a route must never touch DNS.
        let mut config = config(25, vec!["127.0.0.1:9".parse().expect("addr")]);
        config.routes.insert(domain.into(), to.to_string());
        config
    }

    async fn closed_port() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("addr")
    }

    fn rcpts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    const MESSAGE: &[u8] = b"From: a@a.test\r\nTo: b@b.test\r\nSubject: dots\r\n\r\n\
        .leading dot\r\n.\r\n..two dots\r\nlast line\r\n";

    // ---- routes ----

    #[test]
    fn routes_parse() {
        let cases: &[(&str, Option<(&str, u16)>)] = &[
            ("relay.b.test", Some(("relay.b.test", 25))),
            ("Relay.B.test:2525", Some(("relay.b.test", 2525))),
            ("10.1.2.3", Some(("10.1.2.3", 25))),
            ("10.1.2.3:587", Some(("10.1.2.3", 587))),
            ("[10.1.2.3]", Some(("10.1.2.3", 25))),
            ("[10.1.2.3]:26", Some(("10.1.2.3", 26))),
            ("[::1]:2525", Some(("::1", 2525))),
            ("[::1]", Some(("::1", 25))),
            ("::1", Some(("::1", 25))),
            ("relay.b.test:0", None),
            ("relay.b.test:99999", None),
            ("relay.b.test:", None),
            ("[10.1.2.3", None),
            ("[nonsense]:25", None),
            ("[::1]:x", None),
            ("", None),
            (":25", None),
            ("bad host:25", None),
        ];
        for (value, expected) in cases {
            let got = parse_route(value, 25).ok();
            let expected = expected.map(|(host, port)| Target {
                host: host.into(),
                port,
            });
            assert_eq!(got, expected, "route {value:?}");
        }
    }

    #[tokio::test]
    async fn bad_route_is_rejected_at_new() {
        let mut config = OutboundConfig::new("hisp.test");
        config
            .routes
            .insert("b.test".into(), "relay:notaport".into());
        let err = Outbound::new(config).err().expect("must fail");
        let text = err.to_string();
        assert!(
            text.contains("b.test") && text.contains("bad port"),
            "{text}"
        );
        assert!(Outbound::new(OutboundConfig::new("")).is_err());
    }

    /// hisp builds this at start-up; neither resolver needs a runtime to be built.
    #[test]
    fn new_needs_no_runtime() {
        let configured = config(25, vec!["127.0.0.1:53".parse().expect("addr")]);
        assert!(Outbound::new(configured).is_ok());
        let system = Outbound::new(OutboundConfig::new("hisp.test"));
        assert!(system.is_ok(), "{:?}", system.err());
    }

    // ---- DNS ----

    async fn dns_fixture() -> Outbound {
        let zone = HashMap::from([
            (
                "a.test",
                mx(&[(20, "mx9.a.test"), (10, "mx2.a.test"), (10, "MX1.a.test.")]),
            ),
            ("null.test", mx(&[(0, ".")])),
            ("implicit.test", a([127, 0, 0, 1])),
            ("nothing.test", Node::default()),
            (
                "broken.test",
                Node {
                    servfail: true,
                    ..Node::default()
                },
            ),
        ]);
        let dns = dns_server(zone).await;
        Outbound::new(config(2525, vec![dns])).expect("outbound")
    }

    fn hosts(targets: &[Target]) -> Vec<String> {
        targets
            .iter()
            .map(|t| format!("{}:{}", t.host, t.port))
            .collect()
    }

    #[tokio::test]
    async fn mx_sorted_by_preference_then_name() {
        let outbound = dns_fixture().await;
        let targets = outbound.targets("A.test").await.expect("targets");
        assert_eq!(
            hosts(&targets),
            ["mx1.a.test:2525", "mx2.a.test:2525", "mx9.a.test:2525"]
        );
    }

    #[tokio::test]
    async fn dns_verdicts() {
        let outbound = dns_fixture().await;
        let null = outbound.targets("null.test").await.expect_err("null MX");
        assert_eq!(
            null,
            Delivery::Permanent("null.test: domain does not accept mail (null MX)".into())
        );
        let implicit = outbound
            .targets("implicit.test")
            .await
            .expect("implicit MX");
        assert_eq!(hosts(&implicit), ["implicit.test:2525"]);
        let nothing = outbound
            .targets("nothing.test")
            .await
            .expect_err("no records");
        assert!(nothing.is_permanent(), "{nothing:?}");
        let nx = outbound.targets("nx.test").await.expect_err("nxdomain");
        assert!(
            nx.is_permanent() && nx.text().contains("NXDOMAIN"),
            "{nx:?}"
        );
        let broken = outbound.targets("broken.test").await.expect_err("servfail");
        assert!(broken.is_temporary(), "{broken:?}");
    }

    #[tokio::test]
    async fn dns_timeout_is_temporary() {
        // Nothing answers on this UDP port.
        let silent = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = silent.local_addr().expect("addr");
        let outbound = Outbound::new(config(25, vec![addr])).expect("outbound");
        let verdict = outbound.targets("a.test").await.expect_err("timeout");
        assert!(verdict.is_temporary(), "{verdict:?}");
    }

    #[tokio::test]
    async fn route_needs_no_dns() {
        let outbound = Outbound::new(routed("b.test", "127.0.0.1:2526".parse().expect("addr")))
            .expect("outbound");
        let targets = outbound.targets("b.test").await.expect("targets");
        assert_eq!(hosts(&targets), ["127.0.0.1:2526"]);
    }

    // ---- end to end ----

    #[tokio::test]
    async fn delivers_byte_exact_through_mx() {
        let (smtp, inbox) = sink(Plan::default()).await;
        let dns = dns_server(HashMap::from([
            ("b.test", mx(&[(10, "mail.b.test")])),
            ("mail.b.test", a([127, 0, 0, 1])),
        ]))
        .await;
        let outbound = Outbound::new(config(smtp.port(), vec![dns])).expect("outbound");
        let verdict = outbound
            .deliver(
                "b.test",
                "",
                &rcpts(&["bob@b.test", "carol@b.test"]),
                MESSAGE,
            )
            .await;
        assert_eq!(
            verdict,
            Delivery::Sent {
                host: "mail.b.test".into(),
                reply: "250 2.0.0 queued as 42".into()
            }
        );
        let received = inbox.lock().expect("inbox").clone();
        assert_eq!(received.len(), 1);
        let got = &received[0];
        assert_eq!(got.mail_from, "", "null sender");
        assert_eq!(got.rcpts, ["bob@b.test", "carol@b.test"]);
        assert_eq!(got.data, MESSAGE, "byte-exact after un-stuffing");
        let wire = String::from_utf8_lossy(&got.wire);
        assert!(
            wire.contains("\r\n..leading dot\r\n..\r\n...two dots\r\n"),
            "{wire:?}"
        );
        assert!(wire.ends_with("last line\r\n.\r\n"), "{wire:?}");
    }

    #[tokio::test]
    async fn a_session_that_delivered_carries_the_next_message() {
        let (smtp, inbox, connections) = counting_sink(Plan::default()).await;
        let outbound = Outbound::new(routed("b.test", smtp)).expect("outbound");
        for _ in 0..3 {
            let verdict = outbound
                .deliver("b.test", "", &rcpts(&["bob@b.test"]), MESSAGE)
                .await;
            assert!(matches!(verdict, Delivery::Sent { .. }), "{verdict:?}");
        }
        assert_eq!(inbox.lock().expect("inbox").len(), 3);
        assert_eq!(
            connections.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "one session for three messages"
        );
    }

    #[tokio::test]
    async fn a_session_the_server_closed_is_not_reused() {
        let plan = Plan {
            hang_up_after_data: true,
            ..Plan::default()
        };
        let (smtp, inbox, connections) = counting_sink(plan).await;
        let outbound = Outbound::new(routed("b.test", smtp)).expect("outbound");
        for _ in 0..3 {
            let verdict = outbound
                .deliver("b.test", "", &rcpts(&["bob@b.test"]), MESSAGE)
                .await;
            assert!(matches!(verdict, Delivery::Sent { .. }), "{verdict:?}");
        }
        assert_eq!(inbox.lock().expect("inbox").len(), 3, "each delivered once");
        assert_eq!(
            connections.load(std::sync::atomic::Ordering::SeqCst),
            3,
            "a new session each time"
        );
    }

    #[tokio::test]
    async fn message_without_final_crlf_gets_one() {
        let (smtp, inbox) = sink(Plan::default()).await;
        let outbound = Outbound::new(routed("b.test", smtp)).expect("outbound");
        let verdict = outbound
            .deliver(
                "b.test",
                "alice@a.test",
                &rcpts(&["bob@b.test"]),
                b"Subject: x\r\n\r\nno end",
            )
            .await;
        assert!(verdict.is_sent(), "{verdict:?}");
        let received = inbox.lock().expect("inbox").clone();
        assert_eq!(received[0].mail_from, "alice@a.test");
        assert_eq!(received[0].data, b"Subject: x\r\n\r\nno end\r\n");
    }

    async fn deliver_with(plan: Plan) -> (Delivery, Inbox) {
        let (smtp, inbox) = sink(plan).await;
        let outbound = Outbound::new(routed("b.test", smtp)).expect("outbound");
        let verdict = outbound
            .deliver("b.test", "alice@a.test", &rcpts(&["bob@b.test"]), MESSAGE)
            .await;
        (verdict, inbox)
    }

    #[tokio::test]
    async fn smtp_replies_decide() {
        let rcpt_450 = Plan {
            rcpt_reply: Some("450 4.2.1 mailbox busy"),
            ..Plan::default()
        };
        let (verdict, inbox) = deliver_with(rcpt_450).await;
        assert!(
            verdict.is_temporary() && verdict.text().contains("450"),
            "{verdict:?}"
        );
        assert!(inbox.lock().expect("inbox").is_empty());

        let rcpt_550 = Plan {
            rcpt_reply: Some("550 5.1.1 no such user"),
            ..Plan::default()
        };
        let (verdict, _) = deliver_with(rcpt_550).await;
        assert!(
            verdict.is_permanent() && verdict.text().contains("550"),
            "{verdict:?}"
        );
        assert!(verdict.text().contains("no such user"), "{verdict:?}");

        let data_554 = Plan {
            data_reply: Some("554 5.6.0 rejected"),
            ..Plan::default()
        };
        let (verdict, _) = deliver_with(data_554).await;
        assert!(
            verdict.is_permanent() && verdict.text().contains("554"),
            "{verdict:?}"
        );

        let data_451 = Plan {
            data_reply: Some("451 4.3.0 try later"),
            ..Plan::default()
        };
        let (verdict, _) = deliver_with(data_451).await;
        assert!(verdict.is_temporary(), "{verdict:?}");
    }

    #[tokio::test]
    async fn connection_refused_is_temporary() {
        let outbound = Outbound::new(routed("b.test", closed_port().await)).expect("outbound");
        let verdict = outbound
            .deliver("b.test", "", &rcpts(&["bob@b.test"]), MESSAGE)
            .await;
        assert!(
            verdict.is_temporary() && verdict.text().contains("connect"),
            "{verdict:?}"
        );
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        let (smtp, _) = sink(Plan {
            silent: true,
            ..Plan::default()
        })
        .await;
        let mut config = routed("b.test", smtp);
        config.command_timeout = Duration::from_millis(200);
        let outbound = Outbound::new(config).expect("outbound");
        let verdict = outbound
            .deliver("b.test", "", &rcpts(&["bob@b.test"]), MESSAGE)
            .await;
        assert!(
            verdict.is_temporary() && verdict.text().contains("timed out"),
            "{verdict:?}"
        );
    }

    #[tokio::test]
    async fn tls_required_without_starttls_is_temporary() {
        let (smtp, inbox) = sink(Plan::default()).await;
        let mut config = routed("b.test", smtp);
        config.tls_required.insert("b.test".into());
        let outbound = Outbound::new(config).expect("outbound");
        let verdict = outbound
            .deliver("b.test", "", &rcpts(&["bob@b.test"]), MESSAGE)
            .await;
        assert!(
            verdict.is_temporary() && verdict.text().contains("STARTTLS"),
            "{verdict:?}"
        );
        assert!(inbox.lock().expect("inbox").is_empty());
    }

    #[tokio::test]
    async fn bad_addresses_are_permanent() {
        let outbound = Outbound::new(routed("b.test", closed_port().await)).expect("outbound");
        let verdict = outbound
            .deliver("b.test", "not an address", &rcpts(&["bob@b.test"]), MESSAGE)
            .await;
        assert!(verdict.is_permanent(), "{verdict:?}");
        let verdict = outbound.deliver("b.test", "", &[], MESSAGE).await;
        assert!(verdict.is_permanent(), "{verdict:?}");
    }

    #[tokio::test]
    async fn bare_line_feeds_are_refused() {
        let outbound = Outbound::new(routed("b.test", closed_port().await)).expect("outbound");
        for message in [&b"a\n.\r\nMAIL FROM:<x@y>\r\n"[..], b"a\rb\r\n", b"\nx\r\n"] {
            let verdict = outbound
                .deliver("b.test", "", &rcpts(&["bob@b.test"]), message)
                .await;
            assert!(verdict.is_permanent(), "{verdict:?}");
        }
        assert!(!has_bare_cr_or_lf(MESSAGE));
        assert!(!has_bare_cr_or_lf(b""));
    }

    /// Opportunistic TLS that fails is not retried in plain text.
    #[tokio::test]
    async fn failed_starttls_is_temporary() {
        let plan = Plan {
            broken_starttls: true,
            ..Plan::default()
        };
        let (verdict, inbox) = deliver_with(plan).await;
        assert!(verdict.is_temporary(), "{verdict:?}");
        assert!(inbox.lock().expect("inbox").is_empty());
    }

    /// Two MX hosts share the port: the first (127.0.0.2) refuses, the second takes it.
    #[tokio::test]
    async fn falls_over_to_next_mx() {
        let (smtp, inbox) = sink(Plan::default()).await;
        let dns = dns_server(HashMap::from([
            ("b.test", mx(&[(10, "mx1.b.test"), (20, "mx2.b.test")])),
            ("mx1.b.test", a([127, 0, 0, 2])),
            ("mx2.b.test", a([127, 0, 0, 1])),
        ]))
        .await;
        let outbound = Outbound::new(config(smtp.port(), vec![dns])).expect("outbound");
        let verdict = outbound
            .deliver("b.test", "", &rcpts(&["bob@b.test"]), MESSAGE)
            .await;
        assert!(
            matches!(&verdict, Delivery::Sent { host, .. } if host == "mx2.b.test"),
            "{verdict:?}"
        );
        assert_eq!(inbox.lock().expect("inbox").len(), 1);
    }

    /// A 5xx from the first MX is final: the second is not tried.
    #[tokio::test]
    async fn permanent_failure_stops_at_first_mx() {
        let reject = Plan {
            rcpt_reply: Some("550 5.1.1 no such user"),
            ..Plan::default()
        };
        let (first, _) = sink_on("127.0.0.1:0", reject).await;
        let (_, second_inbox) =
            sink_on(&format!("127.0.0.3:{}", first.port()), Plan::default()).await;
        let dns = dns_server(HashMap::from([
            ("b.test", mx(&[(10, "mx1.b.test"), (20, "mx2.b.test")])),
            ("mx1.b.test", a([127, 0, 0, 1])),
            ("mx2.b.test", a([127, 0, 0, 3])),
        ]))
        .await;
        let outbound = Outbound::new(config(first.port(), vec![dns])).expect("outbound");
        let verdict = outbound
            .deliver("b.test", "", &rcpts(&["bob@b.test"]), MESSAGE)
            .await;
        assert!(verdict.is_permanent(), "{verdict:?}");
        assert!(second_inbox.lock().expect("inbox").is_empty());
    }
}
