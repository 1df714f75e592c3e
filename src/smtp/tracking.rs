//! Timely-and-reliable tracking (Implementation Guide for Delivery
//! Notification in Direct): per message and recipient, success is processed
//! plus dispatched when dispatched was asked for (any MDN otherwise); failure
//! is a failed MDN or a DSN; no final outcome by the deadline is a failure DSN
//! (5.4.71 no processed MDN, 5.4.72 no dispatched MDN). The sender learns
//! exactly one final outcome per recipient: in `hisp track`, and in their inbox
//! for every failure (and for success when they asked with
//! Disposition-Notification-To). Late and duplicate notices are recorded and
//! suppressed.

use sqlx::AnyConnection;

use super::Gateway;
use super::notices::Failure;
use crate::direct::DirectAddress;
use crate::direct::dsn::Dsn;
use crate::direct::mdn::{Disposition, Mdn};
use crate::ops::OpsError;
use crate::store::tracking::{self, Step, TrackRow};

/// The address in a typed report field (`rfc822;a@b.org`, or bare).
fn typed_address(value: &str) -> Option<DirectAddress> {
    let addr = value.split_once(';').map_or(value, |(_, a)| a);
    DirectAddress::parse(addr.trim().trim_matches(['<', '>'])).ok()
}

impl Gateway {
    /// Apply an MDN `reporter` sent; returns what was done, for the queue row.
    pub(crate) async fn apply_mdn(
        &self,
        conn: &mut AnyConnection,
        mdn: &Mdn,
        reporter: &DirectAddress,
        raw: &[u8],
    ) -> Result<String, OpsError> {
        let (Some(id), Some(recipient)) = (
            mdn.original_message_id.as_deref(),
            mdn.final_recipient.as_deref().and_then(typed_address),
        ) else {
            return Ok("MDN without Original-Message-ID or Final-Recipient: ignored".into());
        };
        if &recipient != reporter {
            tracing::warn!(reporter = %reporter.domain(), "MDN about another recipient ignored");
            return Ok("MDN signed by someone other than its final recipient: ignored".into());
        }
        let sealer = self.hisp.store.sealer();
        let Some(row) = tracking::find(conn, sealer, id, &recipient.to_string()).await? else {
            return Ok("MDN for a message we do not track: ignored".into());
        };
        let now = self.hisp.now();
        let event = mdn.disposition.as_str();
        let failure = mdn.failure.as_deref();
        let overtaken = mdn.disposition == Disposition::Processed
            && row.processed_at.is_none()
            && row.final_outcome.as_deref() == Some("delivered");
        if overtaken {
            // The dispatched MDN overtook it on the way; it is not late.
            tracking::step(conn, row.id, Step::Processed, now).await?;
            tracking::event(conn, row.id, event, failure, false, now).await?;
            return Ok("processed MDN after the dispatched one recorded".into());
        }
        if row.final_outcome.is_some() {
            tracking::event(conn, row.id, event, failure, true, now).await?;
            return Ok(format!("late {event} MDN recorded and suppressed"));
        }
        tracking::event(conn, row.id, event, failure, false, now).await?;
        match mdn.disposition {
            _ if mdn.is_failure() => {
                let detail = failure.unwrap_or("the recipient's HISP reported failure");
                if self.fail(conn, &row, "failed", detail, None).await? {
                    self.file_notice(conn, &sender_of(&row)?, raw).await?;
                } else {
                    tracking::event(conn, row.id, event, failure, true, now).await?;
                }
            }
            // Success is processed + dispatched when dispatched was asked for,
            // whichever arrives last; any MDN otherwise.
            Disposition::Processed => {
                tracking::step(conn, row.id, Step::Processed, now).await?;
                if !row.wants_dispatched || row.dispatched_at.is_some() {
                    self.succeed(conn, &row, raw).await?;
                }
            }
            Disposition::Dispatched => {
                tracking::step(conn, row.id, Step::Dispatched, now).await?;
                if !row.wants_dispatched || row.processed_at.is_some() {
                    self.succeed(conn, &row, raw).await?;
                }
            }
            Disposition::Failed => {}
        }
        Ok(format!("{event} MDN applied"))
    }

    /// Apply a DSN: each failed recipient of our message fails. A signed DSN
    /// (`reporter` is its verified signer) speaks only for recipients in the
    /// reporter's domain, and is filed for the sender as received. A plain one
    /// from a mail server (`reporter` None) speaks only for recipients we
    /// handed to SMTP, and the sender gets a DSN we write, not its bytes.
    pub(crate) async fn apply_dsn(
        &self,
        conn: &mut AnyConnection,
        dsn: &Dsn,
        raw: &[u8],
        reporter: Option<&DirectAddress>,
    ) -> Result<String, OpsError> {
        let Some(id) = dsn.original_message_id.as_deref() else {
            return Ok("DSN without the original Message-ID: ignored".into());
        };
        let sealer = self.hisp.store.sealer();
        let now = self.hisp.now();
        let mut applied = 0;
        for r in &dsn.recipients {
            let Some(row) = tracking::find(conn, sealer, id, &r.address).await? else {
                continue;
            };
            if !self.may_report(&row, reporter, conn).await? {
                tracing::warn!("DSN about a recipient its reporter does not speak for: ignored");
                continue;
            }
            let detail = format!(
                "{} {}",
                r.status,
                r.diagnostic
                    .as_deref()
                    .unwrap_or("reported by the next hop")
            );
            let is_failure = r.action.eq_ignore_ascii_case("failed");
            let late = row.final_outcome.is_some();
            tracking::event(conn, row.id, "dsn", Some(&detail), late || !is_failure, now).await?;
            if !is_failure || late {
                continue;
            }
            let ours = reporter.is_none().then_some(r.status.as_str());
            if self.fail(conn, &row, "failed", &detail, ours).await? {
                if reporter.is_some() {
                    self.file_notice(conn, &sender_of(&row)?, raw).await?;
                }
                applied += 1;
            }
        }
        Ok(format!("DSN applied to {applied} recipient(s)"))
    }

    /// May this reporter speak for this recipient?
    async fn may_report(
        &self,
        row: &TrackRow,
        reporter: Option<&DirectAddress>,
        conn: &mut AnyConnection,
    ) -> Result<bool, OpsError> {
        let recipient = DirectAddress::parse(&row.recipient)?;
        Ok(match reporter {
            Some(r) => r.domain() == recipient.domain(),
            None => {
                row.sent_at.is_some()
                    && crate::store::domains::find(conn, recipient.domain())
                        .await?
                        .is_none()
            }
        })
    }

    /// Success: final `delivered`, and the notice forwarded when asked for.
    async fn succeed(
        &self,
        conn: &mut AnyConnection,
        row: &TrackRow,
        raw: &[u8],
    ) -> Result<(), OpsError> {
        let now = self.hisp.now();
        if tracking::finish(conn, row.id, "delivered", None, now).await? && row.wants_notice {
            self.file_notice(conn, &sender_of(row)?, raw).await?;
        }
        Ok(())
    }

    /// Failure: the final outcome (once), and a DSN when `status` is given.
    /// False when the outcome was final already.
    pub(crate) async fn fail(
        &self,
        conn: &mut AnyConnection,
        row: &TrackRow,
        outcome: &str,
        detail: &str,
        dsn_status: Option<&str>,
    ) -> Result<bool, OpsError> {
        let now = self.hisp.now();
        if !tracking::finish(conn, row.id, outcome, Some(detail), now).await? {
            return Ok(false);
        }
        if let Some(status) = dsn_status {
            let failure = Failure {
                sender: &sender_of(row)?,
                message_id: &row.message_id,
                subject: &row.subject,
                recipient: &row.recipient,
                status,
                diagnostic: detail,
            };
            self.file_failure_dsn(conn, &failure).await?;
        }
        Ok(true)
    }

    /// Give every recipient whose deadline passed its failure DSN; returns how many.
    pub async fn expire_overdue(&self) -> Result<usize, OpsError> {
        let now = self.hisp.now();
        let rows = {
            let mut conn = self.hisp.conn().await?;
            tracking::overdue(&mut conn, self.hisp.store.sealer(), now, 100).await?
        };
        let mut expired = 0;
        for row in rows {
            let (status, why) = match (row.processed_at, row.dispatched_at) {
                (None, None) => ("5.4.71", "no processed MDN arrived in time"),
                (Some(_), None) => ("5.4.72", "no dispatched MDN arrived in time"),
                (_, Some(_)) => {
                    // Dispatched implies processed: a lost processed MDN is no failure.
                    let mut tx = self.hisp.store.begin().await?;
                    let detail = "dispatched; the processed MDN never came";
                    tracking::event(&mut tx, row.id, "deadline", Some(detail), false, now).await?;
                    tracking::finish(&mut tx, row.id, "delivered", None, now).await?;
                    tx.commit().await?;
                    continue;
                }
            };
            let mut tx = self.hisp.store.begin().await?;
            let detail = format!("{status} {why}");
            if self
                .fail(&mut tx, &row, "expired", &detail, Some(status))
                .await?
            {
                tracking::event(&mut tx, row.id, "expired", Some(&detail), false, now).await?;
                expired += 1;
            }
            tx.commit().await?;
        }
        Ok(expired)
    }
}

fn sender_of(row: &TrackRow) -> Result<DirectAddress, OpsError> {
    Ok(DirectAddress::parse(&row.sender)?)
}

#[cfg(test)]
mod tests {
    use super::typed_address;

    #[test]
    fn typed_addresses() {
        assert_eq!(
            typed_address("rfc822; jo@b.test")
                .map(|a| a.to_string())
                .as_deref(),
            Some("jo@b.test")
        );
        assert!(typed_address("rfc822;<a@b.test>").is_some());
        assert!(typed_address("rfc822;").is_none());
    }
}
