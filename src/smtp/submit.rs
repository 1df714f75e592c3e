//! The outbound Direct path that SMTP submission, `hisp send`, the portal and
//! the API share: give the message a Message-ID and ask for timely-and-reliable
//! delivery, sign and encrypt it per recipient with the agent, then in one
//! transaction queue each copy (recipients on this HISP go straight to the
//! inbound queue, through the same checks as mail from outside), start
//! tracking, file a copy in the sender's `sent` folder, and file a failure DSN
//! for each recipient the agent refused (5.7.31 / 5.7.11).

use sqlx::AnyConnection;

use super::Gateway;
use super::notices::Failure;
use crate::direct::outgoing::Outcome;
use crate::direct::{DirectAddress, notice};
use crate::mailbox::{MessageInfo, Origin, SENT};
use crate::ops::OpsError;
use crate::store::queue::{self, InboundRow, NewInbound, NewOutbound, OutboundKind};
use crate::store::tracking::{self, NewTrack, Step};

/// The header a Direct sender adds to ask for timely-and-reliable delivery.
pub const FINAL_DELIVERY_OPTION: &str =
    "Disposition-Notification-Options: X-DIRECT-FINAL-DESTINATION-DELIVERY=optional,true";

/// A message to send.
#[derive(Debug, Clone)]
pub struct Submission<'a> {
    /// The envelope sender (a local address).
    pub mail_from: &'a DirectAddress,
    /// The envelope recipients.
    pub rcpts: &'a [DirectAddress],
    /// The plain RFC 5322 message; its From is the signer.
    pub message: &'a [u8],
    /// Who submitted it, for the audit log.
    pub actor: &'a str,
    /// File a copy in the sender's Sent folder, as for a person's message.
    /// Encounter alerts are not filed there: the worklist is their record,
    /// and a Sent copy of each would keep every alert's PHI in the
    /// notification address's mailbox, beyond the opt-out's reach.
    pub sent_copy: bool,
    /// When to ask for final-delivery notification (a `dispatched` MDN)
    /// for a message without Disposition-Notification-Options of its own.
    pub final_delivery: FinalDelivery,
}

/// When a submission asks for final-delivery notification: the
/// timely-and-reliable request (Implementation Guide for Delivery
/// Notification in Direct §3.2), which a receiving HISP answers with a
/// `dispatched` MDN once the message reaches its final destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalDelivery {
    /// Always: a person's message, whose sender sees its delivery status.
    Always,
    /// Only when a recipient is on another HISP. Encounter alerts: for an
    /// address here, the processed MDN is queued in the transaction that
    /// files the alert in the mailbox, so it already says the alert reached
    /// its final destination; a dispatched MDN would repeat it at the cost
    /// of another signed and encrypted message (two RSA private-key
    /// operations: its signature, and its decryption at the notification
    /// address). Without the request, the processed MDN completes the
    /// tracking (§2 of STANDARDS.md).
    WhenRemote,
}

/// A submission made ready outside the write transaction that queues it
/// (see [`Gateway::prepare`]).
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The message with its Direct headers.
    message: Vec<u8>,
    message_id: String,
    info: MessageInfo,
    from: DirectAddress,
    /// Each recipient's signed and encrypted copy, or why it was refused.
    outcomes: Vec<Outcome>,
    /// Whether each encrypted copy's recipient is on this HISP.
    local: std::collections::HashMap<DirectAddress, bool>,
    /// The sender's address row.
    sender_id: i64,
}

/// A local copy committed claimed for this process's inbound worker: the
/// worker's node name and the row (see [`crate::ops::Handoff`]).
pub(crate) type Handed = (String, InboundRow);

/// What became of a submission.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Submitted {
    /// The Message-ID it carries (assigned when it had none).
    pub message_id: String,
    /// Recipients queued for delivery.
    pub queued: Vec<String>,
    /// Recipients refused: address, status, cause.
    pub rejected: Vec<(String, String, String)>,
}

impl Gateway {
    /// Sign, encrypt, queue and track a message from a local sender.
    pub async fn submit(&self, s: &Submission<'_>) -> Result<Submitted, OpsError> {
        self.submit_carrying(s, &[], None).await
    }

    /// [`Self::submit`] for a message that carries the filed encounter
    /// alerts `alert_ids` (one alert, or a digest's): each is marked sent
    /// with the Message-ID in the transaction that queues the message, so
    /// the message is queued exactly when they are marked. A crash or a
    /// failed write after the submit can no longer leave them unsent, to be
    /// sent again. One already marked (sent by another node meanwhile) or
    /// gone (withdrawn by an opt-out) fails the submit with
    /// `StoreError::Conflict` and nothing is queued. With `generation`, the
    /// store's change counter as the alerts were judged (consent, rosters),
    /// the transaction holds the counter first (`generation_held`): moved
    /// since, the submit fails the same way, so the alerts are judged again;
    /// an opt-out recorded later waits for the commit.
    pub async fn submit_carrying(
        &self,
        s: &Submission<'_>,
        alert_ids: &[i64],
        generation: Option<i64>,
    ) -> Result<Submitted, OpsError> {
        let ready = self.prepare(s).await?;
        let mut tx = self.hisp.store.begin().await?;
        if let Some(judged) = generation {
            let engine = self.hisp.store.engine();
            if crate::store::notify::generation_held(&mut tx, engine).await? != judged {
                return Err(OpsError::Store(crate::store::StoreError::Conflict(
                    "consents, rosters or feeds changed since the alerts were judged: \
                     judged again"
                        .into(),
                )));
            }
        }
        let mut handed = Vec::new();
        let done = self
            .write_prepared(&mut tx, s, &ready, alert_ids, &mut handed)
            .await?;
        tx.commit().await?;
        self.submitted(&done, handed).await;
        Ok(done)
    }

    /// The part of a submission that needs no write: its Direct headers
    /// set, each recipient's copy signed and encrypted (or refused), and the
    /// directory read. [`Self::write_prepared`] then queues it inside a
    /// write transaction, which it only writes (so the one SQLite writer
    /// is not held across the crypto).
    pub(crate) async fn prepare(&self, s: &Submission<'_>) -> Result<Prepared, OpsError> {
        let info = MessageInfo::read(s.message);
        let from = info.from.clone().ok_or_else(|| {
            OpsError::Invalid("the message has no From address that is a Direct address".into())
        })?;
        // One directory read for everything this message needs.
        let mut look = self.hisp.lookup().await?;
        let ask_final = match s.final_delivery {
            FinalDelivery::Always => true,
            FinalDelivery::WhenRemote => {
                let mut remote = false;
                for r in s.rcpts {
                    remote |= look.domain(r.domain()).await?.is_none();
                }
                remote
            }
        };
        let (message, message_id) = self.with_direct_headers(s.message, &info, &from, ask_final)?;
        let info = MessageInfo::read(&message);
        {
            let mut conn = self.hisp.conn().await?;
            if !tracking::by_message(&mut conn, self.hisp.store.sealer(), &message_id)
                .await?
                .is_empty()
            {
                return Err(OpsError::Invalid(format!(
                    "message {message_id} was submitted already"
                )));
            }
        }
        let mut rcpts: Vec<DirectAddress> = Vec::with_capacity(s.rcpts.len());
        for r in s.rcpts {
            if !rcpts.contains(r) {
                rcpts.push(r.clone());
            }
        }
        let outcomes = self
            .hisp
            .outgoing_in(&mut look, &message, &from, &rcpts, self.remote.as_ref())
            .await?;
        let mut local = std::collections::HashMap::new();
        for outcome in &outcomes {
            if let Outcome::Encrypted { address, .. } = outcome {
                let here = look.domain(address.domain()).await?.is_some();
                local.insert(address.clone(), here);
            }
        }
        let sender_id = look
            .address(&from)
            .await?
            .ok_or_else(|| crate::store::StoreError::NotFound(format!("address {from}")))?
            .id;
        Ok(Prepared {
            message,
            message_id,
            info,
            from,
            outcomes,
            local,
            sender_id,
        })
    }

    /// Queue and track a prepared submission in `tx` (see
    /// [`Self::submit_carrying`] for `alert_ids`); local copies claimed for
    /// this process's inbound worker go to `handed`. After the commit, call
    /// [`Self::submitted`].
    pub(crate) async fn write_prepared(
        &self,
        tx: &mut AnyConnection,
        s: &Submission<'_>,
        p: &Prepared,
        alert_ids: &[i64],
        handed: &mut Vec<Handed>,
    ) -> Result<Submitted, OpsError> {
        let Prepared {
            message,
            message_id,
            info,
            from,
            outcomes,
            local,
            sender_id,
        } = p;
        let mut done = Submitted {
            message_id: message_id.clone(),
            queued: Vec::new(),
            rejected: Vec::new(),
        };
        for outcome in outcomes {
            let track = NewTrack {
                message_id,
                sender: &from.to_string(),
                recipient: &outcome_address(outcome).to_string(),
                subject: &info.subject,
                wants_dispatched: info.wants_dispatched,
                wants_notice: info.notification_to,
                state: "queued",
            };
            let id = tracking::insert(&mut *tx, self.hisp.store.sealer(), &track, self.hisp.now())
                .await?;
            match outcome {
                Outcome::Encrypted {
                    address, message, ..
                } => {
                    let copy = Copy {
                        kind: OutboundKind::Message,
                        message_id,
                        mail_from: &s.mail_from.to_string(),
                        rcpt: address,
                        raw: message,
                    };
                    let is_local = local.get(address).copied().unwrap_or(false);
                    self.queue_copy(&mut *tx, &copy, Some(id), is_local, handed)
                        .await?;
                    done.queued.push(address.to_string());
                }
                Outcome::Rejected {
                    address,
                    status,
                    cause,
                } => {
                    self.reject(
                        &mut *tx,
                        id,
                        from,
                        message_id,
                        &info.subject,
                        address,
                        status,
                        cause,
                    )
                    .await?;
                    done.rejected
                        .push((address.to_string(), (*status).to_string(), cause.clone()));
                }
            }
        }
        let origin = Origin {
            kind: "submission",
            id: None,
        };
        if s.sent_copy {
            self.hisp
                .file_in(&mut *tx, *sender_id, SENT, message, origin)
                .await?;
        }
        let detail = format!(
            "{} queued, {} refused",
            done.queued.len(),
            done.rejected.len()
        );
        self.hisp
            .audit(&mut *tx, s.actor, "message.submit", message_id, &detail)
            .await?;
        for id in alert_ids {
            if !crate::store::notify::set_alert_message(&mut *tx, *id, message_id).await? {
                return Err(OpsError::Store(crate::store::StoreError::Conflict(
                    format!("alert {id} was sent already or withdrawn: not sent"),
                )));
            }
        }
        Ok(done)
    }

    /// After a prepared submission's transaction committed: hand its local
    /// copies over and wake the workers.
    pub(crate) async fn submitted(&self, done: &Submitted, handed: Vec<Handed>) {
        self.hand_over(handed).await;
        self.inbound_ready.notify_one();
        self.outbound_ready.notify_one();
        tracing::info!(message_id = %done.message_id, queued = done.queued.len(), refused = done.rejected.len(), "submitted");
    }

    /// Give local copies claimed in a transaction that has committed to this
    /// process's inbound worker (the caller wakes it); should the worker have
    /// stopped meanwhile, give them back to the queue.
    pub(crate) async fn hand_over(&self, handed: Vec<Handed>) {
        for (taker, row) in handed {
            if let Err(back) = self.hisp.wakes.handoff.push(&taker, vec![row]) {
                let ids: Vec<i64> = back.iter().map(|r| r.id).collect();
                super::worker::give_back(self, queue::Table::Inbound, &ids, &taker).await;
            }
        }
    }

    /// Mark a refused recipient failed and file the DSN.
    #[allow(clippy::too_many_arguments)]
    async fn reject(
        &self,
        conn: &mut AnyConnection,
        track_id: i64,
        sender: &DirectAddress,
        message_id: &str,
        subject: &str,
        rcpt: &DirectAddress,
        status: &str,
        cause: &str,
    ) -> Result<(), OpsError> {
        let detail = format!("{status} {cause}");
        let now = self.hisp.now();
        tracking::finish(conn, track_id, "failed", Some(&detail), now).await?;
        tracking::event(conn, track_id, "refused", Some(&detail), false, now).await?;
        let failure = Failure {
            sender,
            message_id,
            subject,
            recipient: &rcpt.to_string(),
            status,
            diagnostic: cause,
        };
        self.file_failure_dsn(conn, &failure).await
    }

    /// Queue one encrypted copy: to the inbound queue when the recipient's
    /// domain is ours, else to the outbound queue. A tracked copy that stays
    /// local counts as sent at once.
    /// `local` says the recipient's domain is ours (a directory lookup made before the transaction).
    /// A local copy claimed for this process's inbound worker is added to
    /// `handed`, for [`Gateway::hand_over`] once the transaction commits.
    pub(crate) async fn queue_copy(
        &self,
        conn: &mut AnyConnection,
        copy: &Copy<'_>,
        track_id: Option<i64>,
        local: bool,
        handed: &mut Vec<Handed>,
    ) -> Result<(), OpsError> {
        let now = self.hisp.now();
        let rcpt = copy.rcpt.to_string();
        if local {
            let m = NewInbound {
                source: "local",
                peer: "local",
                mail_from: copy.mail_from,
                rcpts: std::slice::from_ref(&rcpt),
                raw: copy.raw,
            };
            let sealer = self.hisp.store.sealer();
            if let Some(taker) = self.hisp.wakes.handoff.taker() {
                // Claimed as it is committed, for this process's inbound
                // worker: no claim turn of its own (see `Handoff`).
                let claim = queue::Claim {
                    node: &taker,
                    now,
                    ..self.claim(1)
                };
                let row = queue::insert_inbound_claimed(conn, sealer, &m, claim).await?;
                handed.push((taker, row));
            } else {
                queue::insert_inbound(conn, sealer, &m, now).await?;
            }
            if let Some(id) = track_id {
                let deadline = now + self.mdn_timeout();
                tracking::step(conn, id, Step::Sent { deadline }, now).await?;
                tracking::event(conn, id, "sent", Some("delivered locally"), false, now).await?;
            }
            return Ok(());
        }
        let m = NewOutbound {
            kind: copy.kind,
            message_id: copy.message_id,
            mail_from: copy.mail_from,
            rcpt: &rcpt,
            domain: copy.rcpt.domain().as_str(),
            raw: copy.raw,
            expires_at: now
                + i64::try_from(self.hisp.config.delivery.give_up_after_secs)
                    .unwrap_or(i64::MAX / 2),
        };
        queue::insert_outbound(conn, self.hisp.store.sealer(), &m, now).await?;
        Ok(())
    }

    /// `[delivery] mdn_timeout`, in seconds.
    pub(crate) fn mdn_timeout(&self) -> i64 {
        i64::try_from(self.hisp.config.delivery.mdn_timeout_secs).unwrap_or(i64::MAX / 4)
    }

    /// The message with a Message-ID and Date when it lacked them, and, when
    /// `ask_final`, the timely-and-reliable request (Implementation Guide for
    /// Delivery Notification in Direct §3.2) unless it carries its own
    /// options.
    fn with_direct_headers(
        &self,
        message: &[u8],
        info: &MessageInfo,
        from: &DirectAddress,
        ask_final: bool,
    ) -> Result<(Vec<u8>, String), OpsError> {
        let now = self.hisp.now();
        let mut added = String::new();
        let message_id = match &info.message_id {
            Some(id) => id.clone(),
            None => {
                let id = notice::new_message_id(from.domain(), now)
                    .map_err(|e| OpsError::Invalid(e.to_string()))?;
                added.push_str(&format!("Message-ID: {id}\r\n"));
                id
            }
        };
        if info.date.is_none() && !has_header(message, "Date") {
            added.push_str(&format!("Date: {}\r\n", notice::rfc5322_date(now)));
        }
        if ask_final && !has_header(message, "Disposition-Notification-Options") {
            added.push_str(FINAL_DELIVERY_OPTION);
            added.push_str("\r\n");
        }
        let mut out = Vec::with_capacity(added.len() + message.len());
        out.extend_from_slice(added.as_bytes());
        out.extend_from_slice(message);
        Ok((out, message_id))
    }
}

/// One encrypted copy to queue.
#[derive(Debug, Clone)]
pub(crate) struct Copy<'a> {
    /// Tracked message or MDN.
    pub kind: OutboundKind,
    /// The tracking key.
    pub message_id: &'a str,
    /// The envelope sender ("" for MDNs, RFC 8098 §2.1... kept null).
    pub mail_from: &'a str,
    /// The recipient.
    pub rcpt: &'a DirectAddress,
    /// The encrypted message.
    pub raw: &'a [u8],
}

fn outcome_address(o: &Outcome) -> &DirectAddress {
    match o {
        Outcome::Encrypted { address, .. } | Outcome::Rejected { address, .. } => address,
    }
}

/// Does the header block of `message` have a field `name`?
fn has_header(message: &[u8], name: &str) -> bool {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| message.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(message.len());
    message
        .get(..end)
        .unwrap_or(message)
        .split(|&b| b == b'\n')
        .any(|line| {
            line.len() > name.len()
                && line.get(name.len()) == Some(&b':')
                && line
                    .get(..name.len())
                    .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
        })
}

#[cfg(test)]
mod tests {
    use super::has_header;

    #[test]
    fn finds_header_fields_only_in_the_header() {
        let m = b"From: a@a.test\r\ndate: x\r\n\r\nMessage-ID: <in-body>\r\n";
        assert!(has_header(m, "Date"));
        assert!(has_header(m, "from"));
        assert!(!has_header(m, "Message-ID"));
        assert!(!has_header(b"Dates: x\r\n\r\n", "Date"));
    }
}
