//! Operations: what an admin can do (set up, add domains and addresses, issue,
//! revoke and import certificates, manage users), each in one transaction with
//! its audit entry. The CLI calls these today; the portal and API call the same.

pub mod address;
pub mod agent;
pub mod cert;
pub mod directory;
pub mod domain;
pub mod localpki;
pub mod setup;
pub mod trust;
pub mod user;

use std::fmt;
use std::sync::Arc;

use sqlx::AnyConnection;
use sqlx::pool::PoolConnection;

use crate::audit;
use crate::clock::SharedClock;
use crate::config::{Config, ConfigError};
use crate::direct::policy::AlgorithmPolicy;
use crate::direct::trust::{Fetcher, HttpFetcher, Validator};
use crate::direct::{AddressError, DirectAddress, Domain};
use crate::pki::PkiError;
use crate::store::{SealError, Sealer, Store, StoreError};

/// Why an operation failed; one line, naming what and why.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The master key could not be read or used.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// Certificate work failed.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// A malformed address or domain.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// The request makes no sense as given (the message says what to do).
    #[error("{0}")]
    Invalid(String),
    /// A file could not be read or written.
    #[error("{path}: {why}")]
    Io { path: String, why: String },
}

impl From<sqlx::Error> for OpsError {
    fn from(e: sqlx::Error) -> Self {
        OpsError::Store(StoreError::Db(e))
    }
}

impl OpsError {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, e: impl fmt::Display) -> Self {
        OpsError::Io {
            path: path.display().to_string(),
            why: e.to_string(),
        }
    }
}

/// An address or a domain: what a certificate binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// An address-bound certificate's owner.
    Address(DirectAddress),
    /// An organization-bound certificate's owner.
    Domain(Domain),
}

impl Owner {
    /// `jo@x.org` is an address, `x.org` a domain.
    pub fn parse(s: &str) -> Result<Self, AddressError> {
        if s.contains('@') {
            DirectAddress::parse(s).map(Owner::Address)
        } else {
            Domain::parse(s).map(Owner::Domain)
        }
    }

    /// The owner's domain.
    pub fn domain(&self) -> &Domain {
        match self {
            Owner::Address(a) => a.domain(),
            Owner::Domain(d) => d,
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Address(a) => a.fmt(f),
            Owner::Domain(d) => d.fmt(f),
        }
    }
}

/// A running hisp: its config, store, clock, and the trust agent's validator.
#[derive(Debug, Clone)]
pub struct Hisp {
    /// The loaded configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Store,
    /// Where time comes from.
    pub clock: SharedClock,
    /// Fetches CRLs, AIA intermediates and trust bundles (HTTP; injectable).
    pub fetcher: Arc<dyn Fetcher>,
    /// Path validation with its CRL and AIA caches, shared by every message.
    pub validator: Arc<Validator>,
    /// The memo of domains, addresses, certificates and anchors.
    pub directory: Arc<directory::Directory>,
    /// Wakes this process's queue workers after a local commit.
    pub wakes: Arc<Wakes>,
}

/// Wakes this process's queue workers after a local commit. Shared by every
/// clone of a [`Hisp`], so whichever gateway committed (the server's, the
/// portal's, one built by a test or a bench on the same `Hisp`) wakes the
/// workers at once instead of leaving the rows to their next poll.
#[derive(Debug, Default)]
pub struct Wakes {
    /// The inbound worker: a message was committed to the inbound queue.
    pub inbound: Arc<tokio::sync::Notify>,
    /// The delivery worker: a message was queued for delivery.
    pub outbound: Arc<tokio::sync::Notify>,
    /// Local copies committed already leased to this process's inbound
    /// worker (see [`Handoff`]).
    pub handoff: Arc<Handoff>,
}

/// Local copies (a message or MDN from one address of this HISP to another)
/// committed to the inbound queue already leased to this process, and handed
/// to its inbound worker in memory: the worker starts them without a claim of
/// its own, which on SQLite is a turn of the one write lock (each local
/// alert and its MDN used to cost two). Open only while an inbound worker
/// runs in this process; a writer that finds it closed inserts its copy
/// unleased for whichever worker claims it. A copy handed over but never
/// started (the process stopped) keeps its lease: on SQLite the next start
/// voids every lease, and on PostgreSQL another node claims it once the
/// lease lapses, as for any claimed row of a worker that died.
#[derive(Debug, Default)]
pub struct Handoff {
    state: std::sync::Mutex<HandoffState>,
}

#[derive(Debug, Default)]
struct HandoffState {
    /// The node name of the worker taking rows; None while closed.
    taker: Option<String>,
    /// Each row with the node it was claimed as.
    rows: std::collections::VecDeque<(String, crate::store::queue::InboundRow)>,
}

impl Handoff {
    fn state(&self) -> std::sync::MutexGuard<'_, HandoffState> {
        // A panic while holding it leaves plain data: keep using it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The node name to claim a handed row as: the inbound worker's, while
    /// one takes handed rows.
    pub fn taker(&self) -> Option<String> {
        self.state().taker.clone()
    }

    /// Open it for the worker named `node` (its `claimed_by`); the last
    /// worker to open it is handed the rows claimed from then on.
    pub fn open(&self, node: &str) {
        self.state().taker = Some(node.to_string());
    }

    /// The worker `node` stops: no more rows for it, and those it did not
    /// take come back, for it to give back to the queue.
    pub fn close(&self, node: &str) -> Vec<crate::store::queue::InboundRow> {
        let mut s = self.state();
        if s.taker.as_deref() == Some(node) {
            s.taker = None;
        }
        take_where(&mut s.rows, node, usize::MAX)
    }

    /// Hand rows claimed as `node` (in a transaction that has committed) to
    /// that worker; should it have stopped meanwhile, they come back.
    pub fn push(
        &self,
        node: &str,
        rows: Vec<crate::store::queue::InboundRow>,
    ) -> Result<(), Vec<crate::store::queue::InboundRow>> {
        let mut s = self.state();
        if s.taker.as_deref() != Some(node) {
            return Err(rows);
        }
        s.rows
            .extend(rows.into_iter().map(|r| (node.to_string(), r)));
        Ok(())
    }

    /// Up to `limit` rows handed to the worker `node`, oldest first.
    pub fn take(&self, node: &str, limit: usize) -> Vec<crate::store::queue::InboundRow> {
        take_where(&mut self.state().rows, node, limit)
    }
}

/// Remove and return up to `limit` of the rows claimed as `node`, in order.
fn take_where(
    rows: &mut std::collections::VecDeque<(String, crate::store::queue::InboundRow)>,
    node: &str,
    limit: usize,
) -> Vec<crate::store::queue::InboundRow> {
    let mut out = Vec::new();
    let mut kept = std::collections::VecDeque::with_capacity(rows.len());
    for (n, row) in rows.drain(..) {
        if n == node && out.len() < limit {
            out.push(row);
        } else {
            kept.push_back((n, row));
        }
    }
    *rows = kept;
    out
}

impl Hisp {
    /// Open the store named by the config, with the master key it names.
    pub async fn open(config: Config, clock: SharedClock) -> Result<Self, OpsError> {
        let sealer = Sealer::from_key_file(&config.master_key_file())?;
        let store = Store::open(&config.database_url()?, Arc::new(sealer)).await?;
        Ok(Self::with_fetcher(
            config,
            store,
            clock,
            Arc::new(HttpFetcher::default()),
        ))
    }

    /// Assemble a hisp around an open store and a given fetcher.
    pub fn with_fetcher(
        config: Config,
        store: Store,
        clock: SharedClock,
        fetcher: Arc<dyn Fetcher>,
    ) -> Self {
        let fetcher: Arc<dyn Fetcher> = Arc::new(localpki::LocalPki::new(
            fetcher,
            store.clone(),
            &config.public_url(),
        ));
        let policy = AlgorithmPolicy {
            allow_sha1: config.agent.allow_sha1,
        };
        let validator = Arc::new(Validator::new(
            fetcher.clone(),
            clock.clone(),
            config.discovery.crl_policy,
            policy,
        ));
        Self {
            config: Arc::new(config),
            store,
            clock,
            fetcher,
            validator,
            directory: Arc::default(),
            wakes: Arc::default(),
        }
    }

    /// The current time.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// A pooled connection for reads.
    pub async fn conn(&self) -> Result<PoolConnection<sqlx::Any>, OpsError> {
        Ok(self.store.pool().acquire().await?)
    }

    /// Append an audit entry in the caller's transaction.
    pub async fn audit(
        &self,
        conn: &mut AnyConnection,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<(), OpsError> {
        let entry = audit::Entry {
            actor,
            action,
            subject,
            detail,
        };
        audit::append(conn, &entry, self.now()).await?;
        Ok(())
    }
}

/// Run CPU-heavy work (RSA key generation) off the async threads.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, OpsError>
where
    F: FnOnce() -> Result<T, OpsError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| OpsError::Invalid(format!("background task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::Handoff;
    use crate::store::queue::InboundRow;

    fn row(id: i64) -> InboundRow {
        InboundRow {
            id,
            received_at: 0,
            source: "local".into(),
            mail_from: String::new(),
            rcpts: vec!["carol@a.test".into()],
            raw: Vec::new(),
            attempts: 1,
        }
    }

    fn ids(rows: &[InboundRow]) -> Vec<i64> {
        rows.iter().map(|r| r.id).collect()
    }

    #[test]
    fn handed_rows_reach_only_the_worker_they_were_claimed_for() {
        let h = Handoff::default();
        assert_eq!(h.taker(), None, "closed until a worker opens it");
        let back = h.push("a", vec![row(1)]).expect_err("closed");
        assert_eq!(ids(&back), [1]);

        h.open("a");
        assert_eq!(h.taker().as_deref(), Some("a"));
        h.push("a", vec![row(1), row(2), row(3)]).expect("open");
        assert_eq!(ids(&h.push("b", vec![row(9)]).expect_err("not b's")), [9]);
        assert_eq!(ids(&h.take("b", 10)), Vec::<i64>::new());
        assert_eq!(ids(&h.take("a", 1)), [1], "oldest first, up to the limit");

        // A second worker opens it: new rows are claimed for it, and the
        // first one's rows stay the first one's.
        h.open("b");
        h.push("b", vec![row(4)]).expect("b's now");
        assert!(h.push("a", vec![row(5)]).is_err(), "a no longer takes rows");
        assert_eq!(ids(&h.close("a")), [2, 3], "a's rows, to give back");
        assert_eq!(h.taker().as_deref(), Some("b"), "a's close leaves b's open");
        assert_eq!(ids(&h.close("b")), [4]);
        assert_eq!(h.taker(), None);
    }
}
