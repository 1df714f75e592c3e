//! The review queue of near-miss matches (STANDARDS §8: "a near-miss goes to a
//! review queue rather than out as an alert"): listing it with both sides of
//! each pair, and a person's decision. Confirming sends the very alert the
//! worker held back (same encounter, same change key, so it is never sent
//! twice); rejecting closes the item. Either way the decision is audited.
//!
//! **Decision:** reviews are decided by an admin with the CLI (`hisp alert
//! reviews`, `hisp alert review ID --confirm|--reject`), not by the care
//! manager: a near miss may be someone else's patient, and a care manager
//! must never be shown a patient who is not theirs. Consent and the feed's
//! sensitivity are checked again when confirming, since either may have
//! changed while the item waited.

use serde::Serialize;

use super::Notifier;
use super::adt;
use super::process::{Content, Snapshot, Target};
use crate::hl7;
use crate::ops::OpsError;
use crate::store::notify::{self, Review, RosterEntry, StoredPatient};

/// A review with both sides of the pair, for a person to decide.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewItem {
    /// The queued review.
    #[serde(flatten)]
    pub review: Review,
    /// The patient as the ADT message named them; `None` when the message
    /// is no longer stored or no longer reads.
    pub adt_patient: Option<StoredPatient>,
    /// The roster entry; `None` when it was removed or has expired.
    pub entry: Option<RosterEntry>,
}

/// What a decision did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// Confirmed: the alert went to (or was filed for) `owner`; `sent` is
    /// false when that alert already existed or an identical one went out
    /// within the dedup window.
    Confirmed {
        /// The roster entry's owner.
        owner: String,
        /// Whether a new alert was filed.
        sent: bool,
    },
    /// Rejected: nothing sent.
    Rejected,
}

/// The events a review can hold back, as `Target` names them.
fn event_name(event: &str) -> Option<&'static str> {
    ["admit", "ed", "discharge", "transfer", "retraction"]
        .into_iter()
        .find(|e| *e == event)
}

impl Notifier {
    /// The review queue, newest first: the open items, or every one. Shows
    /// PHI, so the listing is audited under `actor`.
    pub async fn review_list(&self, all: bool, actor: &str) -> Result<Vec<ReviewItem>, OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let sealer = hisp.store.sealer();
        let mut conn = hisp.conn().await?;
        let mut out = Vec::new();
        for review in notify::reviews(&mut conn, all).await? {
            let raw = notify::adt_message(&mut conn, sealer, review.adt_id).await?;
            let adt_patient = raw.and_then(|raw| {
                let msg = hl7::parse(&raw).ok()?;
                adt::read(&msg).ok().map(|ev| ev.patient)
            });
            let entry = notify::entry(&mut conn, sealer, review.roster_entry_id, now).await?;
            out.push(ReviewItem {
                review,
                adt_patient,
                entry,
            });
        }
        let scope = if all { "all" } else { "open" };
        let detail = format!("{} reviews", out.len());
        hisp.audit(&mut conn, actor, "review.view", scope, &detail)
            .await?;
        Ok(out)
    }

    /// Decide an open review: confirm (send the held-back alert to the roster
    /// entry's owner) or reject. Audited under `actor`.
    pub async fn review_decide(
        &self,
        id: i64,
        confirm: bool,
        actor: &str,
    ) -> Result<Decided, OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let sealer = hisp.store.sealer();
        let mut conn = hisp.conn().await?;
        let review = notify::review(&mut conn, id)
            .await?
            .ok_or_else(|| OpsError::Invalid(format!("no review {id}")))?;
        if review.status != "open" {
            return Err(OpsError::Invalid(format!(
                "review {id} was already {}",
                review.status
            )));
        }
        if !confirm {
            drop(conn);
            self.record(id, "rejected", actor, "no alert").await?;
            return Ok(Decided::Rejected);
        }
        let (Some(encounter_id), Some(key), Some(event)) = (
            review.encounter_id,
            review.change_key.as_deref(),
            review.event.as_deref().and_then(event_name),
        ) else {
            return Err(OpsError::Invalid(format!(
                "review {id} was queued before reviews kept the encounter's change, so there is \
                 no alert to send: reject it"
            )));
        };
        let raw = notify::adt_message(&mut conn, sealer, review.adt_id)
            .await?
            .ok_or_else(|| {
                OpsError::Invalid(format!(
                    "the ADT message of review {id} is no longer stored: reject it"
                ))
            })?;
        let entry = notify::entry(&mut conn, sealer, review.roster_entry_id, now)
            .await?
            .ok_or_else(|| {
                OpsError::Invalid(format!(
                    "roster entry {} of review {id} was removed or has expired: reject it",
                    review.roster_entry_id
                ))
            })?;
        drop(conn);
        let unreadable =
            || OpsError::Invalid(format!("the ADT message of review {id} no longer reads"));
        let msg = hl7::parse(&raw).map_err(|_| unreadable())?;
        let ev = adt::read(&msg).map_err(|_| unreadable())?;
        let mut snap = Snapshot::default();
        snap.refresh(self).await?;
        let feed = snap.feed(&ev.sending_facility).ok_or_else(|| {
            OpsError::Invalid(format!(
                "the feed of review {id} is no longer registered: reject it"
            ))
        })?;
        let consent = snap.consent_of(&ev.patient);
        if consent == Some("opt-out") {
            return Err(OpsError::Invalid(format!(
                "the patient of review {id} has opted out, so no alert may be sent: reject it"
            )));
        }
        if feed.sensitive && consent != Some("opt-in") {
            return Err(OpsError::Invalid(format!(
                "review {id} comes from a sensitive feed and the patient has no recorded \
                 consent, so no alert may be sent: reject it, or record consent first"
            )));
        }
        let digest = snap.digest(&entry.owner);
        let content = Content::new(ev, &raw, consent);
        let target = Target {
            feed,
            encounter_id,
            event,
            key,
        };
        let sent = self.send_alert(&content, &target, &entry, digest).await?;
        let detail = if sent {
            format!("alert filed for {}", entry.owner)
        } else {
            format!("{} already had this alert", entry.owner)
        };
        self.record(id, "confirmed", actor, &detail).await?;
        Ok(Decided::Confirmed {
            owner: entry.owner,
            sent,
        })
    }

    /// Write the decision and its audit entry in one transaction.
    async fn record(
        &self,
        id: i64,
        status: &str,
        actor: &str,
        detail: &str,
    ) -> Result<(), OpsError> {
        let hisp = &self.gw.hisp;
        let mut tx = hisp.store.begin().await?;
        if !notify::decide_review(&mut tx, id, status, actor, hisp.now()).await? {
            return Err(OpsError::Invalid(format!(
                "review {id} was decided by someone else meanwhile"
            )));
        }
        let action = if status == "confirmed" {
            "match.confirm"
        } else {
            "match.reject"
        };
        hisp.audit(&mut tx, actor, action, &format!("review {id}"), detail)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
