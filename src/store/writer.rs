//! Write transactions ([`Tx`]) and, on SQLite, group commit.
//!
//! SQLite has one writer, and with `synchronous=FULL` every COMMIT is a WAL
//! write plus an fsync. Under load the writers of one process used to queue
//! for the lock, each paying its own BEGIN, COMMIT and fsync, and the lock was
//! busy most of the time doing so. Now the writers that find others queued
//! behind them share one SQLite transaction:
//!
//! - Writers queue in-process in a FIFO async mutex (a waiting writer is woken
//!   the moment the lock frees, instead of polling SQLite's lock with its busy
//!   handler's growing sleeps).
//! - The first writer opens a batch (`BEGIN IMMEDIATE` on a pooled
//!   connection). Each later writer's work runs inside its own `SAVEPOINT`,
//!   so a writer that fails or drops its [`Tx`] rolls back only its own work
//!   (the first one needs none: if it fails, the whole transaction is its).
//! - At commit a writer releases its savepoint. If other writers are queued
//!   (and the batch is young and small), it hands the open batch to the next
//!   one and waits; the last writer of the chain commits the batch once, and
//!   every member's `commit` returns the outcome of that one COMMIT. Nobody's
//!   `commit` returns before its work is durable.
//! - A member left waiting flushes the batch itself after a short while, so
//!   a chain broken by a cancelled writer cannot strand it.
//!
//! PostgreSQL transactions are independent (the server does its own group
//! commit), and so is a SQLite writer that waited in the queue too long (a
//! task that begins while holding a transaction would otherwise wait for
//! itself; it falls back to SQLite's own lock wait instead).

use std::collections::HashMap;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool};
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

/// How long a writer waits in the in-process queue before falling back to
/// SQLite's own lock wait.
const QUEUE_WAIT: Duration = Duration::from_secs(2);
/// A batch is committed once it has this many members...
const MAX_MEMBERS: usize = 64;
/// ...or has been open this long, so its first member does not wait long.
const MAX_AGE: Duration = Duration::from_millis(5);
/// A member waiting for its batch's COMMIT flushes it itself after this.
const FLUSH_AFTER: Duration = Duration::from_millis(10);

/// The savepoint each member's work runs in.
const SAVEPOINT: &str = "SAVEPOINT hisp_member";
const RELEASE: &str = "RELEASE hisp_member";
const ROLLBACK_TO: &str = "ROLLBACK TO hisp_member";

/// A batch's outcome, as each member learns it.
type Outcome = Result<(), String>;

/// One SQLite process's writer: the queue and the open batch.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    state: Arc<Mutex<Batch>>,
    /// Writers waiting for `state` (decremented when they get it or give up).
    queued: AtomicUsize,
    next_batch: AtomicU64,
    /// Members committed, and the batches that carried them.
    committed_members: AtomicU64,
    committed_batches: AtomicU64,
    /// Nanoseconds the writer lock has been held, all turns together (what
    /// the MLLP bench compares with the wall clock: how busy the one SQLite
    /// writer was).
    held_nanos: Arc<AtomicU64>,
    /// Nanoseconds spent in COMMIT (the WAL write and its fsync).
    commit_nanos: AtomicU64,
    /// Turns and nanoseconds held, by `Store::begin` call site.
    sites: Arc<std::sync::Mutex<HashMap<&'static Location<'static>, (u64, u64)>>>,
}

/// One `Store::begin` call site's share of the writer lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// `file:line` of the `begin` call; "(flush)" for a waiting member
    /// committing a batch whose chain broke.
    pub site: String,
    /// Write turns taken there.
    pub turns: u64,
    /// How long those turns held the lock, together.
    pub held: Duration,
}

#[derive(Debug, Default)]
struct Batch {
    open: Option<Open>,
}

/// An open SQLite transaction shared by the members of one batch.
#[derive(Debug)]
struct Open {
    id: u64,
    conn: Option<PoolConnection<Any>>,
    members: usize,
    started: Instant,
    waiters: Vec<oneshot::Sender<Outcome>>,
    /// A member ended without commit and its work is not undone yet:
    /// `Some(true)` when it ran in a savepoint, `Some(false)` when it was the
    /// batch's first member (no savepoint: the whole transaction is its).
    abandoned: Option<bool>,
}

impl Open {
    fn conn(&mut self) -> &mut AnyConnection {
        self.conn
            .as_mut()
            .expect("an open batch has its connection")
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        // Still open (the runtime is going away, or a COMMIT or ROLLBACK
        // failed): close the connection rather than return it to the pool
        // inside a transaction. SQLite rolls back on close.
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}

/// The writer lock, held: adds the time it was held to the writer's total
/// when released.
#[derive(Debug)]
struct Held {
    guard: OwnedMutexGuard<Batch>,
    since: Instant,
    total: Arc<AtomicU64>,
    /// Whose turn it is (None: a flush for a broken chain).
    site: Option<&'static Location<'static>>,
    sites: Arc<std::sync::Mutex<HashMap<&'static Location<'static>, (u64, u64)>>>,
}

impl Writer {
    async fn lock(&self, site: Option<&'static Location<'static>>) -> Held {
        let guard = self.state.clone().lock_owned().await;
        Held {
            guard,
            since: Instant::now(),
            total: self.held_nanos.clone(),
            site,
            sites: self.sites.clone(),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let nanos = u64::try_from(self.since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.total.fetch_add(nanos, Ordering::Relaxed);
        if let Some(site) = self.site
            && let Ok(mut sites) = self.sites.lock()
        {
            let e = sites.entry(site).or_default();
            e.0 += 1;
            e.1 = e.1.saturating_add(nanos);
        }
    }
}

impl std::ops::Deref for Held {
    type Target = Batch;
    fn deref(&self) -> &Batch {
        &self.guard
    }
}

impl std::ops::DerefMut for Held {
    fn deref_mut(&mut self) -> &mut Batch {
        &mut self.guard
    }
}

/// Counts a writer as queued until it gets the lock or is cancelled.
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        Queued(n)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A write transaction (see [`crate::store::Store::begin`]): derefs to the
/// connection. Dropped without [`Tx::commit`], its work is rolled back.
#[derive(Debug)]
pub struct Tx {
    /// None once committed or rolled back.
    inner: Option<Inner>,
}

#[derive(Debug)]
enum Inner {
    /// An ordinary transaction of its own.
    Plain(sqlx::Transaction<'static, Any>),
    /// A member of a SQLite batch.
    Member {
        guard: Held,
        writer: Arc<Writer>,
        /// False for a batch's first member (see [`Writer::begin`]).
        savepoint: bool,
    },
}

impl Writer {
    /// Writers committed, and the SQLite commits that carried them.
    pub(crate) fn committed(&self) -> (u64, u64) {
        (
            self.committed_members.load(Ordering::Relaxed),
            self.committed_batches.load(Ordering::Relaxed),
        )
    }

    /// How long the writer lock has been held so far, all turns together, and
    /// how much of that went to group COMMITs.
    pub(crate) fn held(&self) -> (Duration, Duration) {
        (
            Duration::from_nanos(self.held_nanos.load(Ordering::Relaxed)),
            Duration::from_nanos(self.commit_nanos.load(Ordering::Relaxed)),
        )
    }

    /// Writers waiting for the lock now.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Each `begin` call site's turns and time held, longest first.
    pub(crate) fn sites(&self) -> Vec<Site> {
        let Ok(sites) = self.sites.lock() else {
            return Vec::new();
        };
        let mut out: Vec<Site> = sites
            .iter()
            .map(|(at, (turns, nanos))| Site {
                site: format!("{}:{}", at.file(), at.line()),
                turns: *turns,
                held: Duration::from_nanos(*nanos),
            })
            .collect();
        out.sort_by(|a, b| b.held.cmp(&a.held).then_with(|| a.site.cmp(&b.site)));
        out
    }

    /// Begin a member of the current batch, opening one if needed; `site`
    /// is the caller's `Store::begin`.
    pub(crate) async fn begin(
        self: &Arc<Self>,
        pool: &AnyPool,
        site: &'static Location<'static>,
    ) -> Result<Tx, sqlx::Error> {
        let queued = Queued::new(&self.queued);
        let locked = tokio::time::timeout(QUEUE_WAIT, self.lock(Some(site))).await;
        drop(queued);
        let Ok(mut guard) = locked else {
            return Ok(Tx {
                inner: Some(Inner::Plain(pool.begin_with("BEGIN IMMEDIATE").await?)),
            });
        };
        undo_abandoned(&mut guard).await;
        if guard.open.is_none() {
            let mut conn = pool.acquire().await?;
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            guard.open = Some(Open {
                id: self.next_batch.fetch_add(1, Ordering::Relaxed),
                conn: Some(conn),
                members: 0,
                started: Instant::now(),
                waiters: Vec::new(),
                abandoned: None,
            });
        }
        let open = guard.open.as_mut().expect("opened above");
        // The batch's first member needs no savepoint: should it fail, the
        // whole transaction is its own and is rolled back.
        let savepoint = !open.waiters.is_empty();
        if savepoint && let Err(e) = sqlx::query(SAVEPOINT).execute(open.conn()).await {
            abort(&mut guard, &e).await;
            return Err(e);
        }
        Ok(Tx {
            inner: Some(Inner::Member {
                guard,
                writer: self.clone(),
                savepoint,
            }),
        })
    }
}

/// Roll back an abandoned or failed member's work, keeping the batch's.
async fn undo_member(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query(ROLLBACK_TO).execute(&mut *conn).await?;
    sqlx::query(RELEASE).execute(&mut *conn).await?;
    Ok(())
}

/// Undo the work of a member that ended without commit, if one did: its
/// savepoint, or, for a first member, the whole (otherwise empty) batch.
async fn undo_abandoned(guard: &mut Held) {
    let Some(open) = guard.open.as_mut() else {
        return;
    };
    match open.abandoned.take() {
        None => {}
        Some(true) => {
            if let Err(e) = undo_member(open.conn()).await {
                abort(guard, &e).await;
            }
        }
        Some(false) => discard(guard, "its first member failed").await,
    }
}

/// Roll back the open batch; its waiting members (none when it is a first
/// member's own) learn `why`.
async fn discard(guard: &mut Held, why: &str) {
    let Some(mut open) = guard.open.take() else {
        return;
    };
    if let Some(mut conn) = open.conn.take() {
        match sqlx::query("ROLLBACK").execute(&mut *conn).await {
            Ok(_) => drop(conn),
            Err(_) => drop(conn.detach()),
        }
    }
    for w in open.waiters.drain(..) {
        let _ = w.send(Err(why.to_string()));
    }
}

/// Give up the open batch: roll it back and tell its waiting members why.
async fn abort(guard: &mut Held, why: &sqlx::Error) {
    let members = guard.open.as_ref().map_or(0, |o| o.waiters.len());
    tracing::error!(error = %why, members, "write batch rolled back");
    discard(guard, &why.to_string()).await;
}

/// Commit the open batch and tell every waiting member.
async fn flush(guard: &mut Held, writer: &Writer) {
    undo_abandoned(guard).await;
    let Some(mut open) = guard.open.take() else {
        return;
    };
    let Some(mut conn) = open.conn.take() else {
        return;
    };
    let started = Instant::now();
    let committed = sqlx::query("COMMIT").execute(&mut *conn).await;
    writer.commit_nanos.fetch_add(
        u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    let outcome = match committed {
        Ok(_) => {
            drop(conn);
            if !open.waiters.is_empty() {
                writer.committed_batches.fetch_add(1, Ordering::Relaxed);
                writer
                    .committed_members
                    .fetch_add(open.waiters.len() as u64, Ordering::Relaxed);
            }
            Ok(())
        }
        Err(e) => {
            tracing::error!(error = %e, members = open.waiters.len(), "write batch commit failed");
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            drop(conn.detach());
            Err(e.to_string())
        }
    };
    for w in open.waiters.drain(..) {
        let _ = w.send(outcome.clone());
    }
}

/// End a member's turn: commit the batch if nobody is queued to join it (or
/// it is old or big enough), else leave it open for the next writer. It is
/// left open only with a member waiting for it, whose own timer flushes it
/// should the next writer never come.
async fn end_turn(mut guard: Held, writer: &Writer) {
    let keep_open = guard.open.as_ref().is_some_and(|o| {
        !o.waiters.is_empty()
            && writer.queued.load(Ordering::SeqCst) > 0
            && o.members < MAX_MEMBERS
            && o.started.elapsed() < MAX_AGE
    });
    if !keep_open {
        flush(&mut guard, writer).await;
    }
}

/// Wait for the batch `id` to be committed, flushing it if the chain broke.
async fn await_outcome(
    mut rx: oneshot::Receiver<Outcome>,
    writer: &Writer,
    id: u64,
) -> Result<(), sqlx::Error> {
    let outcome = match tokio::time::timeout(FLUSH_AFTER, &mut rx).await {
        Ok(r) => r,
        Err(_) => {
            let mut guard = writer.lock(None).await;
            if guard.open.as_ref().is_some_and(|o| o.id == id) {
                flush(&mut guard, writer).await;
            }
            drop(guard);
            rx.await
        }
    };
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(why)) => Err(sqlx::Error::Protocol(format!(
            "the write batch was not committed: {why}"
        ))),
        Err(_) => Err(sqlx::Error::Protocol(
            "the write batch ended without an outcome".into(),
        )),
    }
}

impl Tx {
    /// An ordinary transaction of its own (PostgreSQL).
    pub(crate) fn plain(tx: sqlx::Transaction<'static, Any>) -> Self {
        Tx {
            inner: Some(Inner::Plain(tx)),
        }
    }

    /// Commit: returns once the work is durable.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        match self.inner.take() {
            None => Ok(()),
            Some(Inner::Plain(tx)) => tx.commit().await,
            Some(Inner::Member {
                mut guard,
                writer,
                savepoint,
            }) => {
                let open = guard.open.as_mut().expect("a member's batch is open");
                if savepoint && let Err(e) = sqlx::query(RELEASE).execute(open.conn()).await {
                    abort(&mut guard, &e).await;
                    return Err(e);
                }
                open.members += 1;
                let id = open.id;
                let (tx, rx) = oneshot::channel();
                open.waiters.push(tx);
                end_turn(guard, &writer).await;
                await_outcome(rx, &writer, id).await
            }
        }
    }

    /// Roll back this transaction's work (other members' work is kept).
    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        match self.inner.take() {
            None => Ok(()),
            Some(Inner::Plain(tx)) => tx.rollback().await,
            Some(Inner::Member {
                mut guard,
                writer,
                savepoint,
            }) => {
                if let Some(open) = guard.open.as_mut() {
                    open.abandoned = Some(savepoint);
                }
                undo_abandoned(&mut guard).await;
                end_turn(guard, &writer).await;
                Ok(())
            }
        }
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        let Some(Inner::Member {
            mut guard,
            writer,
            savepoint,
        }) = self.inner.take()
        else {
            return;
        };
        // Ended without commit or rollback (an error returned early): undo
        // this member's work, then end the turn as a rollback would. If the
        // runtime is gone, the next writer undoes it before its own work.
        if let Some(open) = guard.open.as_mut() {
            open.abandoned = Some(savepoint);
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                undo_abandoned(&mut guard).await;
                end_turn(guard, &writer).await;
            });
        }
    }
}

impl std::ops::Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &Self::Target {
        match &self.inner {
            Some(Inner::Plain(tx)) => tx,
            Some(Inner::Member { guard, .. }) => guard
                .open
                .as_ref()
                .and_then(|o| o.conn.as_deref())
                .expect("a live member's batch is open"),
            None => unreachable!("a Tx is used only until it ends"),
        }
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match &mut self.inner {
            Some(Inner::Plain(tx)) => tx,
            Some(Inner::Member { guard, .. }) => guard
                .open
                .as_mut()
                .and_then(|o| o.conn.as_deref_mut())
                .expect("a live member's batch is open"),
            None => unreachable!("a Tx is used only until it ends"),
        }
    }
}
