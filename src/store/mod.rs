//! The store: one sqlx `Any` pool over SQLite (embedded default, WAL mode) or
//! PostgreSQL (`postgres://…`, for several nodes), the migrations per engine, and
//! one file per table family. Every query uses `$1`-style placeholders so that one
//! code path runs on both engines. Private keys and (later) PHI bodies are sealed
//! by [`seal::Sealer`] before they reach a table.

pub mod addresses;
pub mod anchors;
pub mod api;
pub mod ca;
pub mod certs;
pub mod dns;
pub mod domains;
pub mod mailbox;
mod migrate;
pub mod notify;
pub mod parsed;
pub mod queue;
pub mod seal;
pub mod stats;
pub mod tracking;
pub mod users;
pub mod web;
pub mod worklist;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};

pub use seal::{SealError, Sealer};
pub use writer::{Site, Tx};

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Embedded SQLite in WAL mode.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// What went wrong in the store. The variant decides the outward answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or opened.
    #[error("cannot open the database {url}: {why}")]
    Open { url: String, why: String },
    /// A query failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The named thing exists already.
    #[error("{0} already exists")]
    Duplicate(String),
    /// The change conflicts with what is stored (the message says what to do).
    #[error("{0}")]
    Conflict(String),
    /// A sealed value could not be sealed or opened.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A stored value is not what it should be.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

/// The store: a pool plus the sealer for secret columns.
#[derive(Clone, Debug)]
pub struct Store {
    /// Connections to SQLite or PostgreSQL through sqlx::Any.
    pool: AnyPool,
    /// Which engine, for the few statements that differ.
    engine: Engine,
    /// Seals private keys and PHI before they are written.
    sealer: Arc<Sealer>,
    /// SQLite's one writer: the in-process queue and group commit (see
    /// [`writer`]).
    writer: Arc<writer::Writer>,
}

impl Store {
    /// Open (creating a SQLite file if needed) and migrate the database at `url`.
    pub async fn open(url: &str, sealer: Arc<Sealer>) -> Result<Self, StoreError> {
        install_default_drivers();
        let engine = engine_of(url).ok_or_else(|| StoreError::Open {
            url: redact(url),
            why: "the URL must start with sqlite: or postgres://".into(),
        })?;
        let connect_url = match engine {
            Engine::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if engine == Engine::Sqlite { 8 } else { 10 })
            .acquire_timeout(Duration::from_secs(10))
            // A SQLite connection is a file handle in this process: pinging
            // it before each use only costs a round trip to its thread.
            .test_before_acquire(engine == Engine::Postgres)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        // Group commit runs each writer in a savepoint: keep
                        // the statement journals in memory, not temp files.
                        sqlx::raw_sql("PRAGMA temp_store = MEMORY")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&connect_url)
            .await
            .map_err(|e| StoreError::Open {
                url: redact(url),
                why: e.to_string(),
            })?;
        if engine == Engine::Sqlite {
            let mode: String = sqlx::query("PRAGMA journal_mode=WAL")
                .fetch_one(&pool)
                .await?
                .try_get(0)?;
            tracing::debug!(journal_mode = %mode, "sqlite opened");
        }
        let store = Self {
            pool,
            engine,
            sealer,
            writer: Arc::default(),
        };
        migrate::run(&store).await?;
        Ok(store)
    }

    /// The connection pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begin a write transaction. On SQLite it is `BEGIN IMMEDIATE`: it takes
    /// the write lock up front, so two transactions that read then write wait
    /// for each other instead of failing with SQLITE_BUSY when the second
    /// tries to upgrade its read snapshot. Writers of this process queue in a
    /// FIFO and those queued together share one commit (see [`writer`]); each
    /// one's work is still all or nothing, and `commit` returns once durable.
    ///
    /// The caller's source location names the turn in
    /// [`Store::writer_sites`].
    #[track_caller]
    pub fn begin(&self) -> impl Future<Output = Result<Tx, sqlx::Error>> + Send + '_ {
        let site = std::panic::Location::caller();
        async move {
            match self.engine {
                Engine::Sqlite => self.writer.begin(&self.pool, site).await,
                Engine::Postgres => Ok(Tx::plain(self.pool.begin().await?)),
            }
        }
    }

    /// Write transactions committed so far, and the SQLite commits that
    /// carried them (group commit; both zero on PostgreSQL).
    pub fn group_commits(&self) -> (u64, u64) {
        self.writer.committed()
    }

    /// How long the SQLite writer lock has been held so far, all write
    /// turns together, and how much of that its group COMMITs took (WAL
    /// write and fsync); both zero on PostgreSQL.
    pub fn writer_held(&self) -> (std::time::Duration, std::time::Duration) {
        self.writer.held()
    }

    /// Where the SQLite writer lock went so far: for each `begin` call site
    /// (`file:line`), its turns and how long they held the lock, longest
    /// first (empty on PostgreSQL). What the MLLP bench prints to show which
    /// writes the one writer spends its time on.
    pub fn writer_sites(&self) -> Vec<Site> {
        self.writer.sites()
    }

    /// Write transactions waiting for SQLite's writer turn right now (zero
    /// on PostgreSQL): the `hisp_store_writers_queued` gauge.
    pub fn writers_queued(&self) -> usize {
        self.writer.queued()
    }

    /// The engine behind the pool.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The sealer for secret columns.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Close the pool, waiting for connections to return.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The engine a URL names.
pub fn engine_of(url: &str) -> Option<Engine> {
    if url.starts_with("sqlite:") {
        Some(Engine::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(Engine::Postgres)
    } else {
        None
    }
}

/// A URL with any password replaced by `***`, safe for errors and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// Map a unique-constraint violation to `Duplicate(what)`, other errors to `Db`.
pub(crate) fn unique_as_duplicate(err: sqlx::Error, what: impl Into<String>) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate(what.into()),
        _ => StoreError::Db(err),
    }
}

/// `0/1` integer flag to bool.
pub(crate) fn flag(v: i64) -> bool {
    v != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://hisp:s3cret@db:5432/hisp"),
            "postgres://hisp:***@db:5432/hisp"
        );
        assert_eq!(redact("postgres://db/hisp"), "postgres://db/hisp");
        assert_eq!(redact("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }

    #[test]
    fn knows_engines() {
        assert_eq!(engine_of("sqlite://x.db"), Some(Engine::Sqlite));
        assert_eq!(engine_of("postgresql://h/d"), Some(Engine::Postgres));
        assert_eq!(engine_of("mysql://h/d"), None);
    }
}

/// One sampled count for `/metrics`.
#[derive(Debug, Clone)]
pub struct Count {
    /// Metric name.
    pub name: &'static str,
    /// HELP text.
    pub help: &'static str,
    /// Formatted labels, or empty.
    pub labels: String,
    /// The value.
    pub value: i64,
}

impl Store {
    /// Counts of what is stored, for `/metrics`.
    pub async fn counts(&self, now: i64) -> Result<Vec<Count>, StoreError> {
        let one = |sql: &'static str| async move {
            Ok::<i64, StoreError>(
                sqlx::query(sql)
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await?
                    .try_get(0)?,
            )
        };
        let domains = sqlx::query("SELECT COUNT(*) FROM domains")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let audit = sqlx::query("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let count = |name, help, labels: &str, value| Count {
            name,
            help,
            labels: labels.to_string(),
            value,
        };
        Ok([
            count("hisp_domains", "Domains served.", "", domains),
            count("hisp_addresses", "Direct addresses by state.", "state=\"enabled\"",
                one("SELECT COUNT(*) FROM addresses WHERE enabled = 1 AND $1 = $1").await?),
            count("hisp_addresses", "Direct addresses by state.", "state=\"disabled\"",
                one("SELECT COUNT(*) FROM addresses WHERE enabled = 0 AND $1 = $1").await?),
            count("hisp_certificates", "Certificates by status.", "status=\"valid\"",
                one("SELECT COUNT(*) FROM certificates WHERE revoked_at IS NULL AND not_after >= $1").await?),
            count("hisp_certificates", "Certificates by status.", "status=\"expired\"",
                one("SELECT COUNT(*) FROM certificates WHERE revoked_at IS NULL AND not_after < $1").await?),
            count("hisp_certificates", "Certificates by status.", "status=\"revoked\"",
                one("SELECT COUNT(*) FROM certificates WHERE revoked_at IS NOT NULL AND $1 = $1").await?),
            count("hisp_audit_rows", "Rows in the audit log.", "", audit),
        ]
        .into_iter()
        .chain(self.queue_counts().await?)
        .collect())
    }

    /// Rows per work queue and state, and quarantined messages.
    async fn queue_counts(&self) -> Result<Vec<Count>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut out: Vec<Count> = queue::depth(&mut conn)
            .await?
            .into_iter()
            .map(|(q, state, n)| Count {
                name: "hisp_queue_rows",
                help: "Rows in the mail queues by queue and state.",
                labels: format!("queue=\"{q}\",state=\"{state}\""),
                value: n,
            })
            .collect();
        let held: i64 = sqlx::query("SELECT COUNT(*) FROM quarantine")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        out.push(Count {
            name: "hisp_quarantined_messages",
            help: "Messages held because they failed their checks.",
            labels: String::new(),
            value: held,
        });
        Ok(out)
    }
}
