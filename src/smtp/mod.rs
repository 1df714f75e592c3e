//! The SMTP gateway: the MX and submission listeners (`session/`, `mx.rs`,
//! `submission.rs`), the outbound Direct path every sender shares
//! (`submit.rs`), the inbound worker (`inbound.rs`), SMTP delivery
//! (`outbound.rs` for one attempt, `delivery.rs` for the queue and retries),
//! and timely-and-reliable tracking (`tracking.rs`). Work queues are store
//! tables claimed with leases, so several nodes share them.

// pub mod delivery;
pub mod inbound;
pub mod notices;
pub mod submit;
pub mod tracking;
// pub mod worker;

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
    /// A gateway discovering remote certificates with the `[discovery]` config.
    pub fn new(hisp: Hisp) -> Self {
        let remote = Arc::new(Discoverer::new(&hisp));
        Self::with_remote(hisp, remote)
    }

    /// A gateway with its own certificate source.
    pub fn with_remote(hisp: Hisp, remote: Arc<dyn CertSource>) -> Self {
        Self {
            hisp,
            remote,
            node: node_name(),
            inbound_ready: Arc::new(Notify::new()),
            outbound_ready: Arc::new(Notify::new()),
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
