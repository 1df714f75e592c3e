//! The gateway's background loops: the inbound worker, the delivery worker and
//! the tracking timer. Each claims due rows with a lease, works them with
//! bounded concurrency, and sleeps until woken (a local commit) or for a short
//! poll interval (work another node committed). They stop between rows when
//! the stop signal flips; a row in flight finishes or keeps its lease, and a
//! row claimed ahead but not started goes back to the queue.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Gateway;
use super::outbound::Outbound;
use crate::ops::OpsError;
use crate::store::Engine;
use crate::store::queue::{self, InboundRow, Table};

/// How often idle workers look for work other nodes committed.
const POLL: Duration = Duration::from_secs(1);
/// How often the tracking timer looks for overdue recipients.
const TRACK_EVERY: Duration = Duration::from_secs(5);
/// Rows claimed at once.
const BATCH: i64 = 16;
/// Concurrent SMTP deliveries.
const DELIVERIES: usize = 16;
/// Give up processing an inbound message after this many failed attempts (store or internal errors).
const INBOUND_ATTEMPTS: i64 = 5;

/// Start the workers; they run until `stop` becomes true.
pub fn spawn(
    gw: &Gateway,
    outbound: Outbound,
    stop: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(inbound_loop(gw.clone(), stop.clone())),
        tokio::spawn(delivery_loop(gw.clone(), Arc::new(outbound), stop.clone())),
        tokio::spawn(tracking_loop(gw.clone(), stop.clone())),
    ]
}

/// On one-node SQLite, leases left by a previous run of this process are void.
pub async fn release_stale_leases(gw: &Gateway) -> Result<(), OpsError> {
    if gw.hisp.store.engine() == Engine::Sqlite {
        let mut conn = gw.hisp.conn().await?;
        queue::release_all(&mut conn).await?;
    }
    Ok(())
}

/// Sleep until woken, the poll interval passes, or stop; true on stop.
async fn idle(wake: &Notify, stop: &mut watch::Receiver<bool>, every: Duration) -> bool {
    tokio::select! {
        _ = wake.notified() => false,
        _ = tokio::time::sleep(every) => false,
        _ = stop.wait_for(|s| *s) => true,
    }
}

/// How long a claimed row may wait in a worker's lookahead before it is given
/// back instead of started: with [`super::LEASE_SECS`] at 300 s and one
/// delivery attempt at most 240 s, a row started later than this could outlive
/// its lease.
const LOOKAHEAD_FRESH: Duration = Duration::from_secs(30);

/// Keep up to `permits` rows in work, and as many more claimed and waiting, so
/// a slot that frees starts its next row at once instead of after a claim's
/// round trip through the store (the claim is a write transaction). Claims
/// top the lookahead up while rows run; the loop sleeps only when nothing was
/// due (until `wake`, the poll interval, or stop). Rows still waiting at stop,
/// or for longer than [`LOOKAHEAD_FRESH`], go back to the queue unstarted.
async fn pump<R, C, CF, W, WF, U, UF>(
    permits: usize,
    wake: &Notify,
    stop: &mut watch::Receiver<bool>,
    claim: C,
    work: W,
    unclaim: U,
) where
    R: Send + 'static,
    C: Fn(i64) -> CF,
    CF: std::future::Future<Output = Vec<R>>,
    W: Fn(R) -> WF,
    WF: std::future::Future<Output = ()> + Send + 'static,
    U: Fn(Vec<R>) -> UF,
    UF: std::future::Future<Output = ()>,
{
    let slots = Arc::new(Semaphore::new(permits));
    let mut waiting: VecDeque<(Instant, R)> = VecDeque::new();
    let mut tasks = JoinSet::new();
    loop {
        if *stop.borrow() {
            break;
        }
        while tasks.try_join_next().is_some() {}
        // Start what has a slot; give back what waited too long.
        let mut stale = Vec::new();
        while !waiting.is_empty() {
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                break;
            };
            let Some((at, row)) = waiting.pop_front() else {
                break;
            };
            if at.elapsed() > LOOKAHEAD_FRESH {
                stale.push(row);
                continue;
            }
            let job = work(row);
            tasks.spawn(async move {
                let _slot = slot;
                job.await;
            });
        }
        if !stale.is_empty() {
            unclaim(stale).await;
        }
        // Top up: rows in work plus rows waiting up to twice the slots.
        let want = (slots.available_permits() + permits).saturating_sub(waiting.len());
        let want = i64::try_from(want).unwrap_or(0).min(BATCH);
        let claimed = if want > 0 {
            claim(want).await
        } else {
            Vec::new()
        };
        let n = claimed.len();
        let at = Instant::now();
        waiting.extend(claimed.into_iter().map(|r| (at, r)));
        if slots.available_permits() > 0 && !waiting.is_empty() {
            continue;
        }
        if !waiting.is_empty() {
            // Every slot busy: wait for one row to finish.
            if tasks.join_next().await.is_none() {
                tokio::task::yield_now().await;
            }
            continue;
        }
        if n == 0 && idle(wake, stop, POLL).await {
            break;
        }
    }
    if !waiting.is_empty() {
        unclaim(waiting.into_iter().map(|(_, r)| r).collect()).await;
    }
    while tasks.join_next().await.is_some() {}
}

async fn inbound_loop(gw: Gateway, mut stop: watch::Receiver<bool>) {
    // The agent's work is CPU (RSA) with store round trips between: twice the
    // cores keeps them busy while some messages wait on the store.
    let parallel = std::thread::available_parallelism().map_or(2, usize::from) * 2;
    let wake = gw.inbound_ready.clone();
    // Local copies come claimed from here on (see `Handoff`).
    gw.hisp.wakes.handoff.open(&gw.node);
    pump(
        parallel,
        &wake,
        &mut stop,
        |limit| claim_inbound(&gw, limit),
        |row| {
            let gw = gw.clone();
            async move { inbound_one(&gw, row).await }
        },
        |rows| {
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            unclaim(&gw, Table::Inbound, ids)
        },
    )
    .await;
    let left = gw.hisp.wakes.handoff.close(&gw.node);
    if !left.is_empty() {
        unclaim(&gw, Table::Inbound, left.iter().map(|r| r.id).collect()).await;
    }
}

/// Up to `limit` rows: those handed over in memory first, then due rows
/// claimed from the queue.
async fn claim_inbound(gw: &Gateway, limit: i64) -> Vec<InboundRow> {
    let mut rows = gw
        .hisp
        .wakes
        .handoff
        .take(&gw.node, usize::try_from(limit).unwrap_or(0));
    let rest = limit - i64::try_from(rows.len()).unwrap_or(limit);
    if rest > 0 {
        rows.extend(claim_queued(gw, rest).await);
    }
    rows
}

async fn claim_queued(gw: &Gateway, limit: i64) -> Vec<InboundRow> {
    let claimed = async {
        let claim = gw.claim(limit);
        // Nothing due (the usual answer to the look after a batch): no
        // write turn taken to learn it.
        if !queue::inbound_due(&mut *gw.hisp.conn().await?, claim.now).await? {
            return Ok(Vec::new());
        }
        // A queued write transaction (see `Store::begin`), not an autocommit
        // write polling SQLite's lock.
        let mut tx = gw.hisp.store.begin().await?;
        let sealer = gw.hisp.store.sealer();
        let rows = queue::claim_inbound(&mut tx, sealer, claim).await?;
        tx.commit().await?;
        Ok::<_, OpsError>(rows)
    };
    claimed.await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot claim inbound messages");
        Vec::new()
    })
}

async fn inbound_one(gw: &Gateway, row: InboundRow) {
    match gw.process_inbound(&row).await {
        Ok(done) => tracing::info!(inbound = row.id, ?done, "inbound processed"),
        Err(e) if row.attempts >= INBOUND_ATTEMPTS => {
            let reason = format!("processing failed {} times: {e}", row.attempts);
            if let Err(e) = gw.hold(&row, &reason).await {
                tracing::error!(inbound = row.id, error = %e, "cannot quarantine");
            }
        }
        Err(e) => {
            tracing::warn!(inbound = row.id, error = %e, "inbound processing failed; will retry");
            let next = gw.hisp.now() + 30 * row.attempts;
            if let Ok(mut conn) = gw.hisp.conn().await {
                let _ = queue::release(
                    &mut conn,
                    Table::Inbound,
                    row.id,
                    &gw.node,
                    next,
                    &e.to_string(),
                )
                .await;
            }
        }
    }
}

async fn delivery_loop(gw: Gateway, outbound: Arc<Outbound>, mut stop: watch::Receiver<bool>) {
    let wake = gw.outbound_ready.clone();
    pump(
        DELIVERIES,
        &wake,
        &mut stop,
        |limit| claim_outbound(&gw, limit),
        |row| {
            let (gw, outbound) = (gw.clone(), outbound.clone());
            async move {
                if let Err(e) = gw.deliver_one(&outbound, &row).await {
                    tracing::warn!(outbound = row.id, error = %e, "cannot record a delivery attempt");
                }
            }
        },
        |rows| {
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            unclaim(&gw, Table::Outbound, ids)
        },
    )
    .await;
}

async fn claim_outbound(gw: &Gateway, limit: i64) -> Vec<queue::OutboundRow> {
    let claimed = async {
        let claim = gw.claim(limit);
        // Nothing due (the usual answer to the look after a batch): no
        // write turn taken to learn it.
        if !queue::outbound_due(&mut *gw.hisp.conn().await?, claim.now).await? {
            return Ok(Vec::new());
        }
        // A queued write transaction (see `Store::begin`), not an autocommit
        // write polling SQLite's lock.
        let mut tx = gw.hisp.store.begin().await?;
        let sealer = gw.hisp.store.sealer();
        let rows = queue::claim_outbound(&mut tx, sealer, claim).await?;
        tx.commit().await?;
        Ok::<_, OpsError>(rows)
    };
    claimed.await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot claim outbound messages");
        Vec::new()
    })
}

/// Give claimed, unstarted rows back to the queue (a failure only leaves them
/// to their lease).
async fn unclaim(gw: &Gateway, table: Table, ids: Vec<i64>) {
    give_back(gw, table, &ids, &gw.node).await;
}

/// Give rows claimed as `node` back to the queue (a failure only leaves them
/// to their lease).
pub(super) async fn give_back(gw: &Gateway, table: Table, ids: &[i64], node: &str) {
    let given = async {
        let mut conn = gw.hisp.conn().await?;
        queue::unclaim(&mut conn, table, ids, node).await?;
        Ok::<_, OpsError>(())
    };
    if let Err(e) = given.await {
        tracing::warn!(error = %e, rows = ids.len(), "cannot give back unstarted rows; their lease will lapse");
    }
}

async fn tracking_loop(gw: Gateway, mut stop: watch::Receiver<bool>) {
    let never = Notify::new();
    let every = TRACK_EVERY.min(Duration::from_secs(
        (gw.hisp.config.delivery.mdn_timeout_secs / 2).max(1),
    ));
    loop {
        match gw.expire_overdue().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "tracking deadlines passed"),
            Err(e) => tracing::warn!(error = %e, "tracking check failed"),
        }
        if idle(&never, &mut stop, every).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio::sync::{Notify, Semaphore, watch};

    use super::{LOOKAHEAD_FRESH, pump};

    /// A queue of row ids, what started, what was given back, and a gate that
    /// each started row waits on (one permit lets one row finish).
    #[derive(Clone)]
    struct Rig {
        queue: Arc<Mutex<VecDeque<i64>>>,
        started: Arc<Mutex<Vec<i64>>>,
        given_back: Arc<Mutex<Vec<i64>>>,
        gate: Arc<Semaphore>,
    }

    impl Rig {
        fn new(rows: i64) -> Self {
            let rig = Self {
                queue: Arc::default(),
                started: Arc::default(),
                given_back: Arc::default(),
                gate: Arc::new(Semaphore::new(0)),
            };
            rig.queue.lock().expect("lock").extend(1..=rows);
            rig
        }

        fn run(&self, permits: usize) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
            let (stop_tx, mut stop) = watch::channel(false);
            let rig = self.clone();
            let task = tokio::spawn(async move {
                let wake = Notify::new();
                let (q, s, g, b) = (&rig.queue, &rig.started, &rig.gate, &rig.given_back);
                pump(
                    permits,
                    &wake,
                    &mut stop,
                    |n| {
                        let mut q = q.lock().expect("lock");
                        let n = usize::try_from(n).expect("limit").min(q.len());
                        let rows: Vec<i64> = q.drain(..n).collect();
                        async move { rows }
                    },
                    |row| {
                        s.lock().expect("lock").push(row);
                        let g = g.clone();
                        async move { g.acquire().await.expect("gate").forget() }
                    },
                    |rows| {
                        b.lock().expect("lock").extend(rows);
                        async {}
                    },
                )
                .await;
            });
            (stop_tx, task)
        }

        fn snapshot(&self) -> (Vec<i64>, usize, Vec<i64>) {
            (
                self.started.lock().expect("lock").clone(),
                self.queue.lock().expect("lock").len(),
                self.given_back.lock().expect("lock").clone(),
            )
        }
    }

    /// Let the pump run until it waits (time is paused: sleeps end at once).
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn one_row_waits_per_permit_starts_when_a_permit_frees_and_goes_back_at_stop() {
        let rig = Rig::new(10);
        let (stop, task) = rig.run(2);
        settle().await;
        // Two running, two claimed and waiting: six still queued.
        assert_eq!(rig.snapshot(), (vec![1, 2], 6, vec![]));
        rig.gate.add_permits(1);
        settle().await;
        // The freed permit started the next waiting row, and the lookahead
        // was topped up from the queue.
        assert_eq!(rig.snapshot(), (vec![1, 2, 3], 5, vec![]));
        stop.send(true).expect("stop");
        rig.gate.add_permits(10);
        task.await.expect("pump");
        // The rows claimed but never started went back; no other row did.
        assert_eq!(rig.snapshot(), (vec![1, 2, 3], 5, vec![4, 5]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_row_that_waited_too_long_is_given_back_not_started() {
        let rig = Rig::new(3);
        let (stop, task) = rig.run(1);
        settle().await;
        assert_eq!(rig.snapshot(), (vec![1], 1, vec![]));
        tokio::time::advance(LOOKAHEAD_FRESH + Duration::from_secs(1)).await;
        rig.gate.add_permits(1);
        settle().await;
        // Row 2 was claimed before the wait: it goes back; row 3, claimed
        // fresh, starts in its place.
        let (started, queued, back) = rig.snapshot();
        assert_eq!((started, queued), (vec![1, 3], 0));
        assert_eq!(back, vec![2]);
        stop.send(true).expect("stop");
        rig.gate.add_permits(10);
        task.await.expect("pump");
    }
}
