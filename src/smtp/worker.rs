//! The gateway's background loops: the inbound worker, the delivery worker and
//! the tracking timer. Each claims due rows with a lease, works them with
//! bounded concurrency, and sleeps until woken (a local commit) or for a short
//! poll interval (work another node committed). They stop between rows when
//! the stop signal flips; a row in flight finishes or keeps its lease.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

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

async fn inbound_loop(gw: Gateway, mut stop: watch::Receiver<bool>) {
    // The agent's work is CPU (RSA) with store round trips between: twice the
    // cores keeps them busy while some messages wait on the store.
    let parallel = std::thread::available_parallelism().map_or(2, usize::from) * 2;
    let permits = Arc::new(Semaphore::new(parallel));
    let mut tasks = JoinSet::new();
    loop {
        if *stop.borrow() {
            break;
        }
        while tasks.try_join_next().is_some() {}
        // Claim only what can start now, so a lease is not spent waiting.
        let free = i64::try_from(permits.available_permits())
            .unwrap_or(0)
            .min(BATCH);
        let claimed = if free > 0 {
            claim_inbound(&gw, free).await
        } else {
            Vec::new()
        };
        let n = claimed.len();
        for row in claimed {
            let gw = gw.clone();
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            tasks.spawn(async move {
                let _permit = permit;
                inbound_one(&gw, row).await;
            });
        }
        if n == 0 {
            if free == 0 {
                // Every permit busy: wait for one message to finish.
                if tasks.join_next().await.is_none() {
                    tokio::task::yield_now().await;
                }
                continue;
            }
            if idle(&gw.inbound_ready, &mut stop, POLL).await {
                break;
            }
        }
    }
    while tasks.join_next().await.is_some() {}
}

async fn claim_inbound(gw: &Gateway, limit: i64) -> Vec<InboundRow> {
    let claimed = async {
        // A queued write transaction (see `Store::begin`), not an autocommit
        // write polling SQLite's lock.
        let mut tx = gw.hisp.store.begin().await?;
        let sealer = gw.hisp.store.sealer();
        let rows = queue::claim_inbound(&mut tx, sealer, gw.claim(limit)).await?;
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
    let permits = Arc::new(Semaphore::new(DELIVERIES));
    let mut tasks = JoinSet::new();
    loop {
        if *stop.borrow() {
            break;
        }
        while tasks.try_join_next().is_some() {}
        let free = i64::try_from(permits.available_permits())
            .unwrap_or(0)
            .min(BATCH);
        let claimed = if free > 0 {
            claim_outbound(&gw, free).await
        } else {
            Vec::new()
        };
        let n = claimed.len();
        for row in claimed {
            let (gw, outbound) = (gw.clone(), outbound.clone());
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            tasks.spawn(async move {
                let _permit = permit;
                if let Err(e) = gw.deliver_one(&outbound, &row).await {
                    tracing::warn!(outbound = row.id, error = %e, "cannot record a delivery attempt");
                }
            });
        }
        if n == 0 {
            if free == 0 {
                // Every permit busy: wait for one delivery to finish.
                if tasks.join_next().await.is_none() {
                    tokio::task::yield_now().await;
                }
                continue;
            }
            if idle(&gw.outbound_ready, &mut stop, POLL).await {
                break;
            }
        }
    }
    while tasks.join_next().await.is_some() {}
}

async fn claim_outbound(gw: &Gateway, limit: i64) -> Vec<queue::OutboundRow> {
    let claimed = async {
        // A queued write transaction (see `Store::begin`), not an autocommit
        // write polling SQLite's lock.
        let mut tx = gw.hisp.store.begin().await?;
        let sealer = gw.hisp.store.sealer();
        let rows = queue::claim_outbound(&mut tx, sealer, gw.claim(limit)).await?;
        tx.commit().await?;
        Ok::<_, OpsError>(rows)
    };
    claimed.await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot claim outbound messages");
        Vec::new()
    })
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
