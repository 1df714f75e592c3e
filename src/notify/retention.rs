//! Retention of the ADT dedup keys: the daily deletion of those of
//! messages processed more than `[notify] adt_retention_days` ago.

use crate::ops::{Hisp, OpsError};
use crate::store::notify;

impl Hisp {
    /// Delete the dedup keys (and stored ACKs) of ADT messages processed
    /// more than `[notify] adt_retention_days` ago, so `adt_messages` does
    /// not grow with every message ever received; a resend after that is
    /// taken as a new message (the encounter's state still keeps a repeated
    /// event from alerting again). Runs in transactions of at most
    /// [`notify::PURGE_BATCH`] rows, each a short turn of the writer, and
    /// audits the count as `adt.purge`. Returns the number deleted; 0 days
    /// keeps every key.
    pub async fn purge_adt_keys(&self, actor: &str) -> Result<u64, OpsError> {
        let days = i64::from(self.config.notify.adt_retention_days);
        if days == 0 {
            return Ok(0);
        }
        let before = self.now().saturating_sub(days * 86_400);
        let (mut after, mut deleted) = (0, 0);
        loop {
            let mut tx = self.store.begin().await?;
            let step = notify::purge_adt_keys_step(&mut tx, before, after).await?;
            tx.commit().await?;
            deleted += step.deleted;
            after = step.last_id;
            if !step.more {
                break;
            }
        }
        if deleted > 0 {
            let mut tx = self.store.begin().await?;
            let detail =
                format!("{deleted} keys of messages processed over {days} days ago deleted");
            self.audit(&mut tx, actor, "adt.purge", "adt_messages", &detail)
                .await?;
            tx.commit().await?;
        }
        Ok(deleted)
    }
}
