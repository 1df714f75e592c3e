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
