//! The SMTP gateway: the MX and submission listeners (`session/`, `mx.rs`,
//! `submission.rs`), the outbound Direct path every sender shares
//! (`submit.rs`), the inbound worker (`inbound.rs`), SMTP delivery
//! (`outbound.rs` for one attempt, `delivery.rs` for the queue and retries),
//! and timely-and-reliable tracking (`tracking.rs`). Work queues are store
//! tables claimed with leases, so several nodes share them.

pub mod delivery;
pub mod inbound;
pub mod mx;
pub mod notices;
pub mod outbound;
pub mod session;
pub mod submission;
pub mod submit;
pub mod tracking;
pub mod worker;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::direct::discovery::Discoverer;
use crate::ops::Hisp;
use crate::ops::agent::CertSource;

/// How long a worker holds a claimed row before another node may take it.
pub const LEASE_SECS: i64 = 300;

/// Everything the gateway's listeners and workers share.
#[derive(Clone)]
pub struct Gateway {
    /// Config, store, clock and the trust agent.
    pub hisp: Hisp,
    /// Certificates of remote recipients (DNS CERT, then LDAP).
    pub remote: Arc<dyn CertSource>,
    /// This process's name in `claimed_by`.
    pub node: String,
    /// Wakes the inbound worker when a message is committed.
    pub inbound_ready: Arc<Notify>,
    /// Wakes the delivery worker when a message is queued.
    pub outbound_ready: Arc<Notify>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("node", &self.node).finish()
    }
}

impl Gateway {
    /// A claim of up to `limit` due rows by this node, leased for [`LEASE_SECS`].
    pub fn claim(&self, limit: i64) -> crate::store::queue::Claim<'_> {
        let now = self.hisp.now();
        crate::store::queue::Claim {
            engine: self.hisp.store.engine(),
            node: &self.node,
            lease_until: now + LEASE_SECS,
            now,
            limit,
        }
    }

    /// A gateway discovering remote certificates with the `[discovery]` config.
    pub fn new(hisp: Hisp) -> Self {
        let remote = Arc::new(Discoverer::new(&hisp));
        Self::with_remote(hisp, remote)
    }

    /// A gateway with its own certificate source.
    pub fn with_remote(hisp: Hisp, remote: Arc<dyn CertSource>) -> Self {
        Self {
            remote,
            node: node_name(),
            inbound_ready: hisp.wakes.inbound.clone(),
            outbound_ready: hisp.wakes.outbound.clone(),
            hisp,
        }
    }
}

/// `host:pid:random`, unique per process.
fn node_name() -> String {
    let mut r = [0u8; 4];
    let _ = openssl::rand::rand_bytes(&mut r);
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "node".into());
    format!(
        "{host}:{}:{:08x}",
        std::process::id(),
        u32::from_be_bytes(r)
    )
}

/// The session settings for one listener, from `[smtp]`.
pub fn session_config(
    config: &crate::config::Config,
    mode: session::Mode,
    tls: Option<Arc<openssl::ssl::SslAcceptor>>,
) -> session::SessionConfig {
    let s = &config.smtp;
    session::SessionConfig {
        hostname: config.server.hostname.clone(),
        mode,
        limits: session::Limits {
            max_line: s.max_line_length.max(512),
            max_message_size: s.max_message_size,
            max_recipients: s.max_recipients.max(1),
            command_timeout: std::time::Duration::from_secs(s.command_timeout_secs.max(1)),
            data_timeout: std::time::Duration::from_secs(s.data_timeout_secs.max(1)),
            ..session::Limits::default()
        },
        tls,
    }
}

/// The STARTTLS acceptor from `[smtp] tls_cert` / `tls_key` (made at setup).
/// OpenSSL rather than rustls: it is already our S/MIME engine, it reads the
/// PEM chain and PKCS#8 key setup writes, and it adds no second TLS stack.
pub fn tls_acceptor(
    config: &crate::config::Config,
) -> Result<Arc<openssl::ssl::SslAcceptor>, crate::ops::OpsError> {
    Ok(Arc::new(tls_acceptor_builder(config)?.build()))
}

/// [`tls_acceptor`]'s builder, for a listener that adds to it (MLLP).
pub fn tls_acceptor_builder(
    config: &crate::config::Config,
) -> Result<openssl::ssl::SslAcceptorBuilder, crate::ops::OpsError> {
    use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
    let (cert, key) = config.tls_files();
    let fail = |p: &std::path::Path, e: openssl::error::ErrorStack| crate::ops::OpsError::io(p, e);
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
        .map_err(|e| fail(&cert, e))?;
    b.set_certificate_chain_file(&cert)
        .map_err(|e| fail(&cert, e))?;
    b.set_private_key_file(&key, SslFiletype::PEM)
        .map_err(|e| fail(&key, e))?;
    b.check_private_key().map_err(|e| fail(&key, e))?;
    Ok(b)
}

/// The delivery client's settings, from `[delivery]` and `[discovery] nameservers`.
pub fn outbound_config(config: &crate::config::Config) -> outbound::OutboundConfig {
    let mut c = outbound::OutboundConfig::new(config.server.hostname.clone());
    c.port = config.delivery.port;
    c.routes = config
        .delivery
        .routes
        .iter()
        .map(|(d, r)| (d.to_ascii_lowercase(), r.clone()))
        .collect();
    c.tls_required = config.delivery.tls_required.iter().cloned().collect();
    c.nameservers = config.discovery.nameservers.clone();
    c
}
