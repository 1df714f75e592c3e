//! The inbound worker's step for one committed message: run the agent's
//! `incoming` for its local recipients; an MDN or DSN updates tracking; any
//! other trusted message is filed in each trusted recipient's inbox, and a
//! processed MDN (plus a dispatched MDN when timely-and-reliable delivery was
//! asked for) goes back to the sender. An MDN to an address here is applied
//! to its tracking in the transaction that files the message. Whatever fails
//! its checks is held in quarantine with the reason, never delivered, and
//! gets no processed MDN.
//! Never an MDN for an MDN or a DSN (RFC 8098 §2.1, RFC 3464 §2).

use sqlx::AnyConnection;

use super::Gateway;
use super::submit::Copy;
use crate::direct::mdn::Disposition;
use crate::direct::notice::{self, Kind};
use crate::direct::outgoing::Outcome;
use crate::direct::{DirectAddress, dsn, mdn};
use crate::mailbox::{INBOX, MessageInfo, Origin};
use crate::ops::OpsError;
use crate::ops::directory::Lookup;
use crate::store::queue::{self, InboundRow, OutboundKind};

/// What became of one inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// Filed for these recipients.
    Delivered(usize),
    /// A notice that updated tracking.
    Notice,
    /// Held, with the reason.
    Quarantined(String),
}

impl Gateway {
    /// Process one claimed inbound row to its end (done or quarantined).
    pub async fn process_inbound(&self, row: &InboundRow) -> Result<Processed, OpsError> {
        let rcpts: Vec<DirectAddress> = row
            .rcpts
            .iter()
            .filter_map(|r| DirectAddress::parse(r).ok())
            .collect();
        // One directory read for everything this message needs.
        let mut look = self.hisp.lookup().await?;
        let opened = match self.hisp.incoming_in(&mut look, &row.raw, &rcpts).await? {
            Ok(o) => o,
            Err(e) => {
                if row.mail_from.is_empty() && notice::kind(&row.raw) == Kind::Dsn {
                    return self.plain_dsn(row).await;
                }
                return self.hold(row, &e.to_string()).await;
            }
        };
        let mut trusted = Vec::new();
        let mut refused = Vec::new();
        for (addr, verdict) in &opened.verdicts {
            match verdict {
                Ok(()) => trusted.push(addr.clone()),
                Err(why) => refused.push(format!("{addr}: {why}")),
            }
        }
        if trusted.is_empty() {
            return self.hold(row, &refused.join("; ")).await;
        }
        let Some(sender) = opened.from.clone() else {
            return self.hold(row, "the message has no From address").await;
        };
        match notice::kind(&opened.message) {
            Kind::Mdn | Kind::Dsn => self.notice(row, &opened.message, &sender).await,
            Kind::Message => {
                self.deliver(&mut look, row, &opened.message, &sender, &trusted, &refused)
                    .await
            }
        }
    }

    /// File a trusted message and answer it with MDNs.
    async fn deliver(
        &self,
        look: &mut Lookup<'_>,
        row: &InboundRow,
        message: &[u8],
        sender: &DirectAddress,
        trusted: &[DirectAddress],
        refused: &[String],
    ) -> Result<Processed, OpsError> {
        let info = MessageInfo::read(message);
        let original_id = info.message_id.clone().unwrap_or_default();
        // Every read happens before the write transaction: it then only writes.
        let mut enabled = Vec::with_capacity(trusted.len());
        for rcpt in trusted {
            let row = look.address(rcpt).await?;
            let on = row.as_ref().is_some_and(|a| a.enabled);
            enabled.push((rcpt, on, row.map(|a| a.id)));
        }
        let sender_local = look.domain(sender.domain()).await?.is_some();
        let mut filed = Vec::new();
        let mut mdns = Vec::new();
        let mut local_mdns = Vec::new();
        for (rcpt, on, id) in enabled {
            let dispositions: &[Disposition] = match (on, info.wants_dispatched) {
                (false, _) => &[Disposition::Failed],
                (true, true) => &[Disposition::Processed, Disposition::Dispatched],
                (true, false) => &[Disposition::Processed],
            };
            if let (true, Some(id)) = (on, id) {
                filed.push((rcpt.clone(), id));
            }
            for d in dispositions {
                let failure = (*d == Disposition::Failed).then_some("the mailbox is disabled");
                let plain =
                    self.build_mdn(rcpt, sender, &original_id, &info.subject, *d, failure)?;
                if sender_local {
                    // Between two addresses here the MDN never leaves the
                    // HISP: it is applied to the sender's tracking in this
                    // transaction, not signed with one of our keys to be
                    // decrypted and verified with another (see ARCHITECTURE).
                    local_mdns.push((plain, rcpt.clone()));
                } else {
                    mdns.extend(self.encrypt_notice(look, &plain, rcpt, sender).await?);
                }
            }
        }
        let mut tx = self.hisp.store.begin().await?;
        let mut handed = Vec::new();
        for (_, address_id) in &filed {
            let origin = Origin {
                kind: "inbound",
                id: Some(row.id),
            };
            self.hisp
                .file_in(&mut tx, *address_id, INBOX, message, origin)
                .await?;
        }
        for (rcpt, bytes) in &mdns {
            let copy = Copy {
                kind: OutboundKind::Mdn,
                message_id: &original_id,
                mail_from: "",
                rcpt,
                raw: bytes,
            };
            self.queue_copy(&mut tx, &copy, None, false, &mut handed)
                .await?;
        }
        for (plain, reporter) in &local_mdns {
            self.apply_notice(&mut tx, plain, reporter).await?;
        }
        if !refused.is_empty() {
            queue::quarantine(
                &mut tx,
                self.hisp.store.sealer(),
                row,
                &refused.join("; "),
                self.hisp.now(),
            )
            .await?;
        }
        let detail = format!("filed for {}, {} refused", filed.len(), refused.len());
        self.hisp
            .audit(&mut tx, "mx", "message.receive", &original_id, &detail)
            .await?;
        if !self.finish(&mut tx, row, "done", &detail).await? {
            return Ok(Processed::Delivered(0));
        }
        tx.commit().await?;
        // Only MDNs to other HISPs were queued (one to a sender here is
        // applied above): nothing is handed over or left for the inbound
        // worker.
        debug_assert!(handed.is_empty());
        self.outbound_ready.notify_one();
        Ok(Processed::Delivered(filed.len()))
    }

    /// Sign as `from` and encrypt to `to`; refused MDNs are logged and dropped
    /// (a notice is never answered with a notice).
    async fn encrypt_notice(
        &self,
        look: &mut Lookup<'_>,
        plain: &[u8],
        from: &DirectAddress,
        to: &DirectAddress,
    ) -> Result<Vec<(DirectAddress, Vec<u8>)>, OpsError> {
        let outcomes = self
            .hisp
            .outgoing_in(
                look,
                plain,
                from,
                std::slice::from_ref(to),
                self.remote.as_ref(),
            )
            .await?;
        Ok(outcomes
            .into_iter()
            .filter_map(|o| match o {
                Outcome::Encrypted {
                    address, message, ..
                } => Some((address, message)),
                Outcome::Rejected { status, cause, .. } => {
                    tracing::warn!(%status, %cause, "MDN not sent: the sender cannot be secured");
                    None
                }
            })
            .collect())
    }

    /// A trusted MDN or DSN: update tracking.
    async fn notice(
        &self,
        row: &InboundRow,
        message: &[u8],
        reporter: &DirectAddress,
    ) -> Result<Processed, OpsError> {
        let mut tx = self.hisp.store.begin().await?;
        let applied = self.apply_notice(&mut tx, message, reporter).await?;
        if !self.finish(&mut tx, row, "done", &applied).await? {
            return Ok(Processed::Notice);
        }
        tx.commit().await?;
        Ok(Processed::Notice)
    }

    /// Apply a trusted MDN or DSN from `reporter` to tracking; says what it did.
    async fn apply_notice(
        &self,
        conn: &mut AnyConnection,
        message: &[u8],
        reporter: &DirectAddress,
    ) -> Result<String, OpsError> {
        Ok(match notice::kind(message) {
            Kind::Mdn => match mdn::parse_mdn(message) {
                Ok(m) => self.apply_mdn(conn, &m, reporter, message).await?,
                Err(e) => format!("unreadable MDN: {e}"),
            },
            _ => match dsn::parse_dsn(message) {
                Ok(d) => self.apply_dsn(conn, &d, message, Some(reporter)).await?,
                Err(e) => format!("unreadable DSN: {e}"),
            },
        })
    }

    /// A plain DSN from a mail server (null sender, not S/MIME): failures of
    /// our messages that never reached a HISP.
    async fn plain_dsn(&self, row: &InboundRow) -> Result<Processed, OpsError> {
        let mut tx = self.hisp.store.begin().await?;
        let applied = match dsn::parse_dsn(&row.raw) {
            Ok(d) => self.apply_dsn(&mut tx, &d, &row.raw, None).await?,
            Err(e) => format!("unreadable DSN: {e}"),
        };
        if !self.finish(&mut tx, row, "done", &applied).await? {
            return Ok(Processed::Notice);
        }
        tx.commit().await?;
        Ok(Processed::Notice)
    }

    /// Quarantine the message with `reason`.
    pub(crate) async fn hold(&self, row: &InboundRow, reason: &str) -> Result<Processed, OpsError> {
        let mut tx = self.hisp.store.begin().await?;
        queue::quarantine(
            &mut tx,
            self.hisp.store.sealer(),
            row,
            reason,
            self.hisp.now(),
        )
        .await?;
        self.hisp
            .audit(
                &mut tx,
                "mx",
                "message.quarantine",
                &format!("inbound {}", row.id),
                reason,
            )
            .await?;
        if !self.finish(&mut tx, row, "quarantined", reason).await? {
            return Ok(Processed::Quarantined(reason.to_string()));
        }
        tx.commit().await?;
        tracing::warn!(inbound = row.id, %reason, "message quarantined");
        Ok(Processed::Quarantined(reason.to_string()))
    }

    /// Mark the row finished while we still hold its lease.
    async fn finish(
        &self,
        conn: &mut AnyConnection,
        row: &InboundRow,
        state: &str,
        result: &str,
    ) -> Result<bool, OpsError> {
        let held =
            queue::finish_inbound(conn, row.id, &self.node, state, result, self.hisp.now()).await?;
        if !held {
            tracing::warn!(
                inbound = row.id,
                "lease lost; another node finishes this message"
            );
        }
        Ok(held)
    }
}
