//! The delivery worker's step for one claimed outbound row: one SMTP attempt
//! (`outbound.rs`), then sent (tracking waits for MDNs until the deadline), a
//! retry with exponential backoff after a 4xx or a connection failure, or a
//! failure DSN to the sender after a 5xx or when the queue lifetime ends
//! (5.4.7). MDNs we send are never bounced.

use super::Gateway;
use super::outbound::{Delivery, Outbound};
use crate::ops::OpsError;
use crate::store::queue::{self, OutboundKind, OutboundRow, Table};
use crate::store::tracking::{self, Step};

/// The delay before retry number `attempt` (1-based): `initial` doubling, at most `max`.
pub fn backoff(attempt: i64, initial: u64, max: u64) -> u64 {
    let shift = u32::try_from(attempt.saturating_sub(1).clamp(0, 40)).unwrap_or(40);
    initial.saturating_mul(1u64 << shift).min(max)
}

/// The enhanced status code in a server reply (`5.1.1`), or `fallback`.
pub fn status_in(reply: &str, fallback: &str) -> String {
    reply
        .split(|c: char| c.is_whitespace() || c == ',' || c == ':')
        .find(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3
                && matches!(parts[0], "4" | "5")
                && parts[1..]
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .unwrap_or(fallback)
        .to_string()
}

/// The longest one delivery attempt may take (well under `LEASE_SECS`).
const ATTEMPT_SECS: u64 = 240;

/// How many times recording an attempt is retried.
const RECORD_TRIES: u64 = 5;

impl Gateway {
    /// Try one claimed row and record the result.
    pub async fn deliver_one(
        &self,
        outbound: &Outbound,
        row: &OutboundRow,
    ) -> Result<(), OpsError> {
        // One attempt must end well inside the lease, or another claim of the
        // same row could deliver it in parallel.
        let attempt = outbound.deliver(
            &row.domain,
            &row.mail_from,
            std::slice::from_ref(&row.rcpt),
            &row.raw,
        );
        let limit = std::time::Duration::from_secs(ATTEMPT_SECS);
        let result = tokio::time::timeout(limit, attempt)
            .await
            .unwrap_or_else(|_| {
                Delivery::Temporary(format!("attempt timed out after {ATTEMPT_SECS} s"))
            });
        // The attempt happened: recording it must not fail quietly, or the
        // lease would run out and the message go out twice.
        let mut tries = 0;
        loop {
            match self.record(row, &result).await {
                Err(e) if tries < RECORD_TRIES => {
                    tries += 1;
                    tracing::warn!(outbound = row.id, error = %e, "recording a delivery attempt failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(200 * tries)).await;
                }
                done => return done,
            }
        }
    }

    /// Record one attempt's result (one transaction).
    async fn record(&self, row: &OutboundRow, result: &Delivery) -> Result<(), OpsError> {
        let now = self.hisp.now();
        let mut tx = self.hisp.store.begin().await?;
        let track = match row.kind {
            OutboundKind::Message => {
                tracking::find(
                    &mut tx,
                    self.hisp.store.sealer(),
                    &row.message_id,
                    &row.rcpt,
                )
                .await?
            }
            OutboundKind::Mdn => None,
        };
        let summary = match &result {
            Delivery::Sent { host, .. } => format!("sent via {host}"),
            Delivery::Temporary(_) if now < row.expires_at => String::new(),
            Delivery::Temporary(_) => "expired".to_string(),
            Delivery::Permanent(why) => format!("failed {}", status_in(why, "5.0.0")),
        };
        match result {
            Delivery::Sent { host, reply } => {
                queue::finish_outbound(
                    &mut tx,
                    row.id,
                    &self.node,
                    "sent",
                    &format!("{host}: {reply}"),
                    now,
                )
                .await?;
                if let Some(t) = &track {
                    let deadline = now + self.mdn_timeout();
                    tracking::step(&mut tx, t.id, Step::Sent { deadline }, now).await?;
                    tracking::event(&mut tx, t.id, "sent", Some(host), false, now).await?;
                }
            }
            Delivery::Temporary(why) if now < row.expires_at => {
                let d = &self.hisp.config.delivery;
                let wait = backoff(row.attempts, d.retry_initial_secs, d.retry_max_secs);
                let next = now + i64::try_from(wait).unwrap_or(i64::MAX / 4);
                queue::release(
                    &mut tx,
                    Table::Outbound,
                    row.id,
                    &self.node,
                    next.min(row.expires_at),
                    why,
                )
                .await?;
                if let Some(t) = &track {
                    tracking::event(&mut tx, t.id, "retry", Some(why), false, now).await?;
                }
                tracing::info!(outbound = row.id, domain = %row.domain, attempt = row.attempts, wait, "delivery deferred");
            }
            Delivery::Temporary(why) => {
                let detail = format!("5.4.7 delivery time expired; last error: {why}");
                queue::finish_outbound(&mut tx, row.id, &self.node, "expired", &detail, now)
                    .await?;
                if let Some(t) = &track {
                    self.fail(&mut tx, t, "expired", &detail, Some("5.4.7"))
                        .await?;
                }
            }
            Delivery::Permanent(why) => {
                let status = status_in(why, "5.0.0");
                queue::finish_outbound(&mut tx, row.id, &self.node, "failed", why, now).await?;
                if let Some(t) = &track {
                    self.fail(&mut tx, t, "failed", why, Some(&status)).await?;
                }
            }
        }
        if row.kind == OutboundKind::Message && !summary.is_empty() {
            let detail = format!("{} {summary}", row.domain);
            self.hisp
                .audit(
                    &mut tx,
                    "delivery",
                    "message.deliver",
                    &row.message_id,
                    &detail,
                )
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap() {
        assert_eq!(backoff(1, 60, 14_400), 60);
        assert_eq!(backoff(2, 60, 14_400), 120);
        assert_eq!(backoff(8, 60, 14_400), 7_680);
        assert_eq!(backoff(9, 60, 14_400), 14_400);
        assert_eq!(backoff(500, 60, 14_400), 14_400);
        assert_eq!(backoff(0, 60, 14_400), 60);
    }

    #[test]
    fn finds_enhanced_status() {
        assert_eq!(
            status_in("550 5.1.1 <jo@b.test>: unknown user", "5.0.0"),
            "5.1.1"
        );
        assert_eq!(status_in("554 transaction failed", "5.0.0"), "5.0.0");
        assert_eq!(status_in("host mx: 552 5.3.4 too big", "5.0.0"), "5.3.4");
        assert_eq!(status_in("v1.2.3 x", "5.0.0"), "5.0.0");
    }
}
