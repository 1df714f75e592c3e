//! Retention of the ADT dedup keys: the daily deletion of those of
//! messages received more than `[notify] adt_retention_days` ago.

use crate::ops::{Hisp, OpsError};
use crate::store::notify;

/// Steps of [`notify::PURGE_BATCH`] rows one call of the sweep takes at most
/// (the digest task calls it again 30 seconds later until it is done): a
/// backlog, such as the first sweep of a large install, never holds up the
/// digests or a shutdown for long.
pub const PURGE_STEPS: usize = 100;

/// What one call of the sweep did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtPurge {
    /// Keys deleted.
    pub deleted: u64,
    /// Whether nothing older than the cut-off is left to read (false when
    /// the call stopped at its step limit).
    pub done: bool,
}

impl Hisp {
    /// Delete the dedup keys (and stored ACKs) of processed ADT messages
    /// received more than `[notify] adt_retention_days` ago, so
    /// `adt_messages` does not grow with every message ever received; a
    /// resend after that is taken as a new message. At most `max_steps`
    /// transactions of at most [`notify::PURGE_BATCH`] rows, each a short
    /// turn of the writer. The call's count is audited as `adt.purge` in its
    /// last transaction (or, when a step fails, in one of its own before the
    /// error is returned). 0 days keeps every key.
    pub async fn purge_adt_keys(
        &self,
        actor: &str,
        max_steps: usize,
    ) -> Result<AdtPurge, OpsError> {
        let days = i64::from(self.config.notify.adt_retention_days);
        if days == 0 {
            return Ok(AdtPurge {
                deleted: 0,
                done: true,
            });
        }
        let before = self.now().saturating_sub(days * 86_400);
        let (mut after, mut deleted, mut steps) = (0, 0, 0);
        loop {
            let last = |step: &notify::PurgeStep| !step.more || steps + 1 >= max_steps;
            // One step in its own transaction; on failure the transaction
            // is dropped (rolled back, the writer freed) before the audit.
            let result: Result<notify::PurgeStep, OpsError> = async {
                let mut tx = self.store.begin().await?;
                let step = notify::purge_adt_keys_step(&mut tx, before, after).await?;
                let total = deleted + step.deleted;
                if last(&step) && total > 0 {
                    let detail = purge_detail(total, days);
                    self.audit(&mut tx, actor, "adt.purge", "adt_messages", &detail)
                        .await?;
                }
                tx.commit().await?;
                Ok(step)
            }
            .await;
            let step = match result {
                Ok(step) => step,
                Err(e) => return self.purge_failed(actor, days, deleted, e).await,
            };
            let done = last(&step);
            steps += 1;
            deleted += step.deleted;
            after = step.last_id;
            if done {
                return Ok(AdtPurge {
                    deleted,
                    done: !step.more,
                });
            }
        }
    }

    /// A step failed after `deleted` keys were deleted by committed steps:
    /// audit those (as far as the store lets us), then return `e`.
    async fn purge_failed(
        &self,
        actor: &str,
        days: i64,
        deleted: u64,
        e: OpsError,
    ) -> Result<AdtPurge, OpsError> {
        if deleted > 0 {
            let detail = purge_detail(deleted, days);
            let audited = async {
                let mut tx = self.store.begin().await?;
                self.audit(&mut tx, actor, "adt.purge", "adt_messages", &detail)
                    .await?;
                tx.commit().await?;
                Ok::<(), OpsError>(())
            };
            if let Err(a) = audited.await {
                tracing::error!(error = %a, deleted, "cannot audit the ADT keys deleted");
            }
        }
        Err(e)
    }
}

fn purge_detail(deleted: u64, days: i64) -> String {
    format!("{deleted} keys of processed messages received over {days} days ago deleted")
}
