//! The review queue of near-miss matches (STANDARDS §8: "a near-miss goes to a
//! review queue rather than out as an alert"): listing it with both sides of
//! each pair, and a person's decision. Confirming sends the very alert the
//! worker held back (same encounter, same change key, so the subscriber's
//! alert row is the one the worker would have filed); rejecting closes the
//! item. Either way the decision is audited.
//!
//! A sure match whose alert only near misses' opt-outs withheld (another
//! practice's patient the message nearly matches: a twin) is held here too
//! (`Review::withheld_by`), judged without those near misses until decided.
//! Confirming it first records that its entry and theirs are different
//! people (`distinct_entries`), so they no longer withhold its alerts
//! (until an admin undoes it: `review_undo_distinct`).
//!
//! Confirming first checks that the alert still makes sense: the encounter's
//! change was not cancelled since (a retraction review needs the alert it
//! retracts to have gone to the same subscriber), the roster entry is still
//! current and its subscriber's address enabled, and consent allows it under either identity (the ADT's or the
//! roster entry's: confirming is what says they are one person). It then
//! claims the review (`confirming`), so that of two people confirming at once
//! only one sends, sends, and records `confirmed`.
//!
//! **Decision:** reviews are decided by an admin with the CLI (`hisp alert
//! reviews`, `hisp alert review ID --confirm|--reject`), not by the care
//! manager: a near miss may be someone else's patient, and a care manager
//! must never be shown a patient who is not theirs. Consent and the feed's
//! sensitivity are checked again when confirming, since either may have
//! changed while the item waited.

use serde::Serialize;

use super::Notifier;
use super::adt::Ended;
use super::process::{
    Content, Filing, OPT_IN, OPT_OUT, Snapshot, Target, alternate_record, cancelled_unsent,
    hospital_record, read_event, told_of_cancelled,
};
use crate::hl7;
use crate::ops::OpsError;
use crate::store::StoreError;
use crate::store::addresses;
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
    /// The roster entry; `None` when it was removed, ended by a
    /// replacing roster, or has expired.
    pub entry: Option<RosterEntry>,
    /// The patient has opted out (under either identity) since the message
    /// came: the message's side is not shown.
    pub opted_out: bool,
    /// For a sure match held back because only near misses' opt-outs
    /// withheld it (`Review::withheld_by`), those near misses' roster
    /// entries still kept: the person deciding compares them with the
    /// message's patient. Confirming says they are other people.
    pub opted_out_near_misses: Vec<RosterEntry>,
    /// Of those near misses (by entry id), the ones still set apart from
    /// the review's entry, as confirming it recorded (or another review
    /// did): `alert review ID --undo-distinct` of a confirmed review that
    /// recorded them takes them back.
    pub set_apart: Vec<i64>,
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

/// What undoing a confirmed held review's pairs did
/// (`Notifier::review_undo_distinct`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undone {
    /// The review's roster entry.
    pub entry: i64,
    /// The near misses no longer set apart from it, each with the review
    /// that had recorded the pair.
    pub gone: Vec<(i64, i64)>,
    /// The pairs of those near misses with other entries still standing:
    /// near miss, other entry, the review that recorded it.
    pub standing: Vec<(i64, i64, i64)>,
}

/// Why a review whose patient opted out cannot be confirmed.
const OPTED_OUT: &str = "the patient has opted out, so no alert may be sent";

/// The events a review can hold back, as `Target` names them.
fn event_name(event: &str) -> Option<&'static str> {
    ["admit", "ed", "discharge", "transfer", "retraction"]
        .into_iter()
        .find(|e| *e == event)
}

impl Notifier {
    /// Queue the worker's near miss in a write transaction that holds the
    /// change counter (`generation_held`), as an alert is filed: an opt-out
    /// recorded since the snapshot at `generation` was taken makes it
    /// stale (false: nothing queued, the row is decided again), and one
    /// recorded after waits for this commit and then finds the review (the
    /// opt-out reads the open reviews again once it holds the counter).
    /// Before, it was queued on a pooled connection after an unlocked
    /// check, so an opt-out whose sweep had read the queue just before
    /// left the review open and the patient's ADT kept.
    pub(super) async fn queue_review(
        &self,
        review: &notify::NewReview<'_>,
        generation: Option<i64>,
    ) -> Result<bool, OpsError> {
        let hisp = &self.gw.hisp;
        let mut tx = hisp.store.begin().await?;
        let held = notify::generation_held(&mut tx, hisp.store.engine()).await?;
        if generation != Some(held) {
            return Ok(false);
        }
        notify::insert_review(&mut tx, review, hisp.now()).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The review queue, newest first: the undecided items, or every one.
    /// Shows PHI, so the listing is audited under `actor`.
    pub async fn review_list(&self, all: bool, actor: &str) -> Result<Vec<ReviewItem>, OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let mut snap = Snapshot::default();
        snap.refresh(self).await?;
        let mut conn = hisp.conn().await?;
        let mut out = Vec::new();
        for review in notify::reviews(&mut conn, all).await? {
            out.push(self.judged(&snap, &mut conn, review, now).await?);
        }
        let scope = if all { "all" } else { "undecided" };
        let ids: Vec<String> = out
            .iter()
            .take(50)
            .map(|i| i.review.id.to_string())
            .collect();
        let more = if out.len() > 50 { " and more" } else { "" };
        let detail = format!("{} reviews: {}{more}", out.len(), ids.join(", "));
        hisp.audit(&mut conn, actor, "review.view", scope, &detail)
            .await?;
        Ok(out)
    }

    /// A review with both sides of its pair, its patient judged for
    /// consent as the worker judges a message: the ADT's patient, the
    /// index's person for it, this review's roster entry, and every
    /// practice's entry that matches the patient for sure (in `snap`).
    async fn judged(
        &self,
        snap: &Snapshot,
        conn: &mut sqlx::AnyConnection,
        review: Review,
        now: i64,
    ) -> Result<ReviewItem, OpsError> {
        let sealer = self.gw.hisp.store.sealer();
        let raw = notify::adt_message(conn, sealer, review.adt_id).await?;
        let adt = raw.and_then(|raw| read_event(&hl7::parse(&raw).ok()?).ok());
        let alternate = adt.as_ref().and_then(alternate_record);
        let record = adt.as_ref().map(hospital_record);
        let adt_patient = adt.map(|ev| ev.patient);
        let entry = notify::entry(conn, sealer, review.roster_entry_id, now).await?;
        // Shown as typed; judged under each name its authority goes by.
        let read = entry.clone().map(super::roster::read_entry);
        let on_roster = read.as_ref().map(|e| &e.patient);
        let indexed = match &adt_patient {
            Some(p) => self.indexed(snap, p).await?,
            None => None,
        };
        let people = adt_patient.iter().chain(&indexed).chain(on_roster);
        // A held review's near misses are what it asks about: judged
        // without them, as confirming it would; so are those a person set
        // apart from its entry.
        // A review whose message is gone (decided) shows every pair of its
        // entry, whatever the record: what its confirmation left standing.
        let mut doubted = snap.apart_from(review.roster_entry_id, record.as_deref());
        let set_apart: Vec<i64> = (review.withheld_by.iter().copied())
            .filter(|id| doubted.contains(id))
            .collect();
        doubted.extend(&review.withheld_by);
        let consent = match &adt_patient {
            Some(p) => snap.consent_of_person(
                p,
                indexed.as_ref(),
                people,
                alternate.as_ref(),
                &doubted,
                record.as_deref(),
                now,
            ),
            None => snap.consent_of_all(people),
        };
        let opted_out = consent == Some(OPT_OUT);
        let mut withheld_by = Vec::new();
        for id in &review.withheld_by {
            withheld_by.extend(notify::entry(conn, sealer, *id, now).await?);
        }
        Ok(ReviewItem {
            review,
            adt_patient: adt_patient.filter(|_| !opted_out),
            entry,
            opted_out,
            opted_out_near_misses: withheld_by,
            set_apart,
        })
    }

    /// Close, as rejected, the open reviews whose patient has opted out,
    /// their ADT messages forgotten; how many were closed. An opt-out's own
    /// sweep (`opt_out`) judges a review by the records it can read
    /// without the rosters, so one recorded under another practice's number
    /// for the patient (a roster entry that matches them for sure) leaves
    /// the review open: the digest task runs this whenever the change
    /// counter moves (`digest::run`). Before, such a review kept the
    /// patient's ADT until someone tried to confirm it.
    ///
    /// `snap` is the caller's, kept between sweeps and reloaded only when
    /// the change counter moved; nothing is loaded while no review is open.
    /// A review that cannot be judged (its row unreadable) is logged and
    /// left for a person. Each is closed only while the decisions it was
    /// judged against stand: under the change counter, as the snapshot's.
    pub async fn close_opted_out_reviews(&self, snap: &mut Snapshot) -> Result<usize, OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let mut conn = hisp.conn().await?;
        let open: Vec<Review> = notify::reviews(&mut conn, false)
            .await?
            .into_iter()
            .filter(|r| r.status == "open")
            .collect();
        drop(conn);
        if open.is_empty() {
            // No rosters kept in memory while there is nothing to judge.
            *snap = Snapshot::default();
            return Ok(0);
        }
        snap.refresh(self).await?;
        let mut conn = hisp.conn().await?;
        let mut opted_out = Vec::new();
        // A store that failed is tried again next turn (the error is the
        // answer); only a review that cannot be read is left for a person.
        let mut retry = None;
        for review in open {
            let id = review.id;
            match self.judged(snap, &mut conn, review, now).await {
                Ok(item) if item.opted_out => opted_out.push(item.review),
                Ok(_) => {}
                Err(OpsError::Store(StoreError::Corrupt(e))) => {
                    tracing::warn!(review = id, error = %e, "cannot judge a review");
                }
                Err(OpsError::Store(StoreError::Seal(e))) => {
                    tracing::warn!(review = id, error = %e, "cannot judge a review");
                }
                Err(e) => retry = Some(e),
            }
        }
        drop(conn);
        let mut closed = 0;
        let at = snap.generation();
        for review in &opted_out {
            // Decided meanwhile (another node's sweep, a person), or the
            // decisions changed (the next sweep judges again): left as is.
            match self
                .reject_at(review, "notify", "the patient opted out", at)
                .await
            {
                Ok(Decided::Rejected) => closed += 1,
                Ok(Decided::Confirmed { .. }) => {}
                Err(e) => tracing::debug!(review = review.id, error = %e, "review not closed"),
            }
        }
        if let Some(e) = retry {
            return Err(e);
        }
        Ok(closed)
    }

    /// Close, as rejected, the held reviews (`Review::withheld_by`) left
    /// undecided for [`HOLD_SECS`]; how many. Their patient may be the
    /// near miss who opted out, whose data is deleted within 5 business
    /// days (STANDARDS §7), and an alert that late is no longer news; the
    /// message goes with the review. Run on every turn of the digest task.
    pub async fn close_stale_holds(&self) -> Result<usize, OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let before = now.saturating_sub(HOLD_SECS);
        let mut conn = hisp.conn().await?;
        let stale: Vec<Review> = notify::reviews(&mut conn, false)
            .await?
            .into_iter()
            .filter(|r| !r.withheld_by.is_empty() && r.created_at < before)
            .filter(|r| match r.status.as_str() {
                "open" => true,
                // A confirmation cut short (as `move_review` takes it over).
                "confirming" => r.decided_at.is_some_and(|at| at < now - CONFIRM_STALE_SECS),
                _ => false,
            })
            .collect();
        drop(conn);
        let mut closed = 0;
        for review in &stale {
            let why =
                "held 5 days undecided: a possibly opted-out patient's message is not kept longer";
            match self.reject(review, "notify", why).await {
                Ok(Decided::Rejected) => closed += 1,
                Ok(Decided::Confirmed { .. }) => {}
                Err(e) => tracing::debug!(review = review.id, error = %e, "hold not closed"),
            }
        }
        Ok(closed)
    }

    /// Decide an undecided review: confirm (send the held-back alert to the
    /// roster entry's owner) or reject. Audited under `actor`.
    pub async fn review_decide(
        &self,
        id: i64,
        confirm: bool,
        actor: &str,
    ) -> Result<Decided, OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let mut conn = hisp.conn().await?;
        let review = notify::review(&mut conn, id)
            .await?
            .ok_or_else(|| OpsError::Invalid(format!("no review {id}")))?;
        drop(conn);
        if !confirm {
            return self.reject(&review, actor, "no alert").await;
        }
        let Confirmable {
            mut content,
            entry,
            snap,
            encounter_id,
            event,
            key,
        } = match self.confirmable(&review).await {
            Ok(c) => c,
            Err(e) => {
                // A refused confirmation is a decision attempt too: audited
                // (a failure to audit it is logged; the refusal is the answer).
                if let OpsError::Invalid(why) = &e {
                    self.audit_refusal(id, actor, why).await;
                    if why.contains(OPTED_OUT) {
                        self.close_opted_out(&review, actor).await;
                    }
                }
                return Err(e);
            }
        };
        let feed = snap
            .feed(content.facility())
            .ok_or_else(|| OpsError::Invalid(format!("the feed of review {id} is gone")))?;
        let mut target = Target {
            feed,
            encounter_id,
            event,
            key: &key,
            generation: snap.generation(),
            withheld_by: None,
        };
        // A retraction of an alert still waiting in a digest waits with it.
        let waits = match event {
            "retraction" => {
                let mut conn = hisp.conn().await?;
                cancelled_unsent(&mut conn, &entry.owner, encounter_id, &key).await? == Some(true)
            }
            _ => false,
        };
        // Claim it: of two people confirming at once, one sends.
        let mut tx = hisp.store.begin().await?;
        let held = match review.withheld_by.is_empty() {
            true => None,
            false => Some(notify::generation_held(&mut tx, hisp.store.engine()).await?),
        };
        if held.is_some() && held != snap.generation() {
            let why = format!(
                "rosters or consents changed while review {id} was being confirmed: \
                 decide it again"
            );
            drop(tx);
            self.audit_refusal(id, actor, &why).await;
            return Err(OpsError::Invalid(why));
        }
        let stale = now.saturating_sub(CONFIRM_STALE_SECS);
        if !notify::move_review(&mut tx, id, "open", "confirming", actor, now, stale).await? {
            return Err(not_open(&review));
        }
        if let Some(held) = held {
            content.released_by_review();
            // Claimed: the judgment that the near misses are other people
            // is recorded with the claim, so a rejection or another
            // confirmation that won instead records none.
            self.set_apart(&mut tx, &review, content.record(), actor)
                .await?;
            target.generation = Some(held + 1);
        }
        tx.commit().await?;
        let digest = snap.digest(&entry.owner) || waits;
        let filed = self
            .send_alert(&content, &target, &entry, digest)
            .await
            .and_then(|filed| match filed {
                Filing::Disabled => Err(OpsError::Invalid(format!(
                    "review {id}: {} was disabled or removed while it was being confirmed, so \
                     no alert may be sent: reject it, or confirm it once the address is enabled again",
                    entry.owner
                ))),
                Filing::Stale => Err(OpsError::Invalid(format!(
                    "rosters or consents changed while review {id} was being confirmed: \
                     decide it again"
                ))),
                filed => Ok(filed == Filing::Filed),
            });
        let sent = match filed {
            Ok(sent) => sent,
            Err(e) => {
                // Give it back for another try; the alert, if filed, is
                // found again by its change key.
                // The pair recorded with the claim goes with it: the review
                // may yet be rejected.
                let mut tx = hisp.store.begin().await?;
                if !review.withheld_by.is_empty() {
                    // The counter first, as every writer of what snapshots
                    // read takes it (on PostgreSQL, a claim holding it
                    // would wait for this review's row).
                    notify::generation_held(&mut tx, hisp.store.engine()).await?;
                }
                // Only while still this confirmation's: one taken over as
                // stale meanwhile relies on the pairs.
                if notify::move_review(&mut tx, id, "confirming", "open", actor, now, 0).await? {
                    unset_apart(&mut tx, &review).await?;
                }
                tx.commit().await?;
                if let OpsError::Invalid(why) = &e {
                    self.audit_refusal(id, actor, why).await;
                }
                // An opt-out recorded meanwhile found the review confirming,
                // so its sweep left it: close it now, or it would keep the
                // patient's ADT until someone rejected it by hand.
                if let Err(OpsError::Invalid(why)) = self.confirmable(&review).await
                    && why.contains(OPTED_OUT)
                {
                    self.close_opted_out(&review, actor).await;
                }
                return Err(e);
            }
        };
        let detail = if sent {
            format!("alert filed for {}", entry.owner)
        } else {
            format!("{} already had this alert", entry.owner)
        };
        self.finish(&review, "confirming", "confirmed", actor, &detail, None)
            .await?;
        Ok(Decided::Confirmed {
            owner: entry.owner,
            sent,
        })
    }

    /// Record the person's judgment, confirming a held review, that its
    /// roster entry (a sure match of the message) and the near misses whose
    /// opt-outs withheld it (those still kept) are different people
    /// (`distinct_entries`), so that those no longer withhold its alerts
    /// (until undone: [`Self::review_undo_distinct`]);
    /// audited as `match.distinct`. In the transaction that claims the
    /// review, after every check of the confirmation passed, holding the
    /// change counter, which it moves (every snapshot reloads with it).
    /// Should the send then fail, the confirmation is given back and the
    /// pair deleted with it (`unset_apart`): the review may yet be rejected.
    async fn set_apart(
        &self,
        tx: &mut sqlx::AnyConnection,
        review: &Review,
        record: &[(String, String)],
        actor: &str,
    ) -> Result<(), OpsError> {
        let hisp = &self.gw.hisp;
        notify::bump_generation(tx).await?;
        let entry = review.roster_entry_id;
        let judged = notify::Judgment {
            review_id: review.id,
            actor,
            at: hisp.now(),
            record,
        };
        let sealer = hisp.store.sealer();
        notify::set_apart(tx, sealer, entry, &review.withheld_by, &judged).await?;
        let others: Vec<String> = review.withheld_by.iter().map(i64::to_string).collect();
        let detail = format!(
            "roster entry {entry} is not the patient of roster entries {}",
            others.join(", ")
        );
        let subject = format!("review {}", review.id);
        hisp.audit(tx, actor, "match.distinct", &subject, &detail)
            .await?;
        Ok(())
    }

    /// Undo the judgment a held review's confirmation recorded, that its
    /// roster entry and its opted-out near misses are different people
    /// (`set_apart`): the admin found they may be one person after all, so
    /// the near misses' opt-outs withhold that entry's alerts again (held
    /// for review, as before the confirmation). The pairs of its entry with
    /// its near misses are deleted whichever review recorded them, holding
    /// and moving the change counter, so every snapshot reloads; audited
    /// as `match.distinct_undone`, naming each deleted pair and its review.
    /// The alert already sent stays sent; one still waiting in a digest is
    /// withdrawn by the digest's own check.
    ///
    /// A near miss set apart from another sure match of a message says
    /// nothing of that message's patient (`consent_with_rosters`), so the
    /// near misses' pairs with other entries still standing are returned
    /// with the reviews that recorded them: each is undone by its own.
    pub async fn review_undo_distinct(&self, id: i64, actor: &str) -> Result<Undone, OpsError> {
        let hisp = &self.gw.hisp;
        let mut tx = hisp.store.begin().await?;
        notify::generation_held(&mut tx, hisp.store.engine()).await?;
        let review = notify::review(&mut tx, id)
            .await?
            .ok_or_else(|| OpsError::Invalid(format!("no review {id}")))?;
        if review.withheld_by.is_empty() {
            return Err(OpsError::Invalid(format!(
                "review {id} was not held by an opted-out near miss, so it set no entries apart"
            )));
        }
        match review.status.as_str() {
            "confirmed" => {}
            "confirming" => {
                let now = hisp.now();
                let stale = review
                    .decided_at
                    .is_some_and(|at| at < now.saturating_sub(CONFIRM_STALE_SECS));
                return Err(OpsError::Invalid(match stale {
                    true => format!(
                        "review {id}'s confirmation was cut short: decide it again first \
                         (--reject records it confirmed if its alert went out, and deletes its \
                         pairs if not)"
                    ),
                    false => {
                        format!("review {id} is being confirmed: try again once it is decided")
                    }
                }));
            }
            status => {
                return Err(OpsError::Invalid(format!(
                    "review {id} is {status}: only a confirmed one set its entries apart"
                )));
            }
        }
        let entry = review.roster_entry_id;
        let gone = notify::unset_pairs(&mut tx, entry, &review.withheld_by).await?;
        if gone.is_empty() {
            return Err(OpsError::Invalid(format!(
                "review {id}'s entries are no longer set apart (undone already, or an entry \
                 is gone)"
            )));
        }
        let mut standing = Vec::new();
        for near in &review.withheld_by {
            for (other, by) in notify::pairs_of(&mut tx, *near).await? {
                standing.push((*near, other, by));
            }
        }
        notify::bump_generation(&mut tx).await?;
        let pairs: Vec<String> = gone
            .iter()
            .map(|(other, by)| format!("{other} (review {by})"))
            .collect();
        let detail = format!(
            "roster entry {entry} may be the patient of roster entries {}",
            pairs.join(", ")
        );
        let subject = format!("review {id}");
        hisp.audit(&mut tx, actor, "match.distinct_undone", &subject, &detail)
            .await?;
        tx.commit().await?;
        Ok(Undone {
            entry,
            gone,
            standing,
        })
    }

    /// Close a review whose patient has opted out as rejected (its ADT
    /// message is forgotten), audited; a failure is logged, since the
    /// refusal already answered the caller and the next attempt retries.
    async fn close_opted_out(&self, review: &Review, actor: &str) {
        let closed = self.reject(review, actor, "the patient opted out").await;
        if let Err(e) = closed {
            tracing::warn!(review = review.id, error = %e, "cannot close an opted-out review");
        }
    }

    /// Reject `review`, audited with `detail`. Unless a confirmation cut
    /// short (its process died after the alert was filed, before it was
    /// recorded) left the review `confirming` with its alert filed: that
    /// one is recorded confirmed, as it was. Closed "rejected, no alert",
    /// the audit would deny a disclosure made.
    async fn reject(
        &self,
        review: &Review,
        actor: &str,
        detail: &str,
    ) -> Result<Decided, OpsError> {
        self.reject_at(review, actor, detail, None).await
    }

    /// [`Self::reject`]; with `at`, only while the change counter is still
    /// `at` (held in the rejection's transaction, its first lock).
    async fn reject_at(
        &self,
        review: &Review,
        actor: &str,
        detail: &str,
        at: Option<i64>,
    ) -> Result<Decided, OpsError> {
        if let Some(owner) = self.filed_by_confirmation(review).await? {
            let detail = format!(
                "alert filed for {owner} by a confirmation cut short: recorded confirmed, not rejected"
            );
            self.finish(review, "open", "confirmed", actor, &detail, None)
                .await?;
            return Ok(Decided::Confirmed { owner, sent: false });
        }
        self.finish(review, "open", "rejected", actor, detail, at)
            .await?;
        Ok(Decided::Rejected)
    }

    /// The owner a `confirming` review's alert was filed for, if it was.
    async fn filed_by_confirmation(&self, review: &Review) -> Result<Option<String>, OpsError> {
        let hisp = &self.gw.hisp;
        let mut conn = hisp.conn().await?;
        let now = notify::review(&mut conn, review.id).await?;
        let (Some(now), Some(encounter_id), Some(key)) =
            (now, review.encounter_id, review.change_key.as_deref())
        else {
            return Ok(None);
        };
        if now.status != "confirming" {
            return Ok(None);
        }
        let sealer = hisp.store.sealer();
        let Some(entry) = notify::entry(&mut conn, sealer, review.roster_entry_id, 0).await? else {
            return Ok(None);
        };
        let filed = notify::alert_filed(&mut conn, &entry.owner, encounter_id, key).await?;
        Ok(filed.then_some(entry.owner))
    }

    /// Audit a refused confirmation of review `id` with its reason.
    async fn audit_refusal(&self, id: i64, actor: &str, why: &str) {
        let hisp = &self.gw.hisp;
        let subject = format!("review {id}");
        let audited = match hisp.conn().await {
            Ok(mut conn) => {
                hisp.audit(&mut conn, actor, "match.confirm_refused", &subject, why)
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = audited {
            tracing::warn!(review = id, error = %e, "cannot audit a refused confirmation");
        }
    }

    /// Everything a confirmation needs, each checked (see the module docs).
    async fn confirmable(&self, review: &Review) -> Result<Confirmable, OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let sealer = hisp.store.sealer();
        let id = review.id;
        if !matches!(review.status.as_str(), "open" | "confirming") {
            return Err(not_open(review));
        }
        let (Some(encounter_id), Some(key), Some(event)) = (
            review.encounter_id,
            review.change_key.clone(),
            review.event.as_deref().and_then(event_name),
        ) else {
            return Err(OpsError::Invalid(format!(
                "review {id} was queued before reviews kept the encounter's change, so there is \
                 no alert to send: reject it"
            )));
        };
        let refuse = |why: &str| OpsError::Invalid(format!("review {id}: {why}: reject it"));
        let mut conn = hisp.conn().await?;
        let raw = notify::adt_message(&mut conn, sealer, review.adt_id)
            .await?
            .ok_or_else(|| refuse("its ADT message is no longer stored"))?;
        let entry = notify::entry(&mut conn, sealer, review.roster_entry_id, now)
            .await?
            .ok_or_else(|| {
                refuse(&format!(
                    "roster entry {} was removed, ended by a replacing roster, or has \
                     expired (the patient's next message is matched against the current roster)",
                    review.roster_entry_id
                ))
            })?;
        if !addresses::is_enabled(&mut conn, &entry.owner).await? {
            return Err(OpsError::Invalid(format!(
                "review {id}: its subscriber {} is disabled or removed, so no alert may be \
                 sent: reject it, or confirm it once the address is enabled again",
                entry.owner
            )));
        }
        let encounter = notify::encounter_by_id(&mut conn, encounter_id)
            .await?
            .ok_or_else(|| refuse("its encounter is gone"))?;
        if let Some(why) = changed_since(&encounter.alerted, &key) {
            return Err(refuse(why));
        }
        if !told_of_cancelled(&mut conn, &entry.owner, encounter_id, &key).await? {
            return Err(refuse(&format!(
                "the alert it retracts never went to {}",
                entry.owner
            )));
        }
        drop(conn);
        let msg = hl7::parse(&raw).map_err(|_| refuse("its ADT message no longer reads"))?;
        let ev = read_event(&msg).map_err(|_| refuse("its ADT message no longer reads"))?;
        let mut snap = Snapshot::default();
        snap.refresh(self).await?;
        let feed = snap
            .feed(&ev.sending_facility)
            .ok_or_else(|| refuse("its feed is no longer registered"))?;
        let sensitive = feed.sensitive;
        // The entry as the snapshot the alert is filed under has it: one a
        // replacing roster or a past end_date ended after it was read above
        // is gone from it (and one ended later moves the change counter, so
        // the filing finds the snapshot stale). Before, the entry was
        // checked only before the snapshot was taken.
        if snap.current_entry(entry.id, now).is_none() {
            return Err(refuse(&format!(
                "roster entry {} was ended or removed as it was being confirmed",
                entry.id
            )));
        }
        let indexed = self.indexed(&snap, &ev.patient).await?;
        // Judged as the worker judges a message, other rosters' entries
        // included: an opt-out recorded under another practice's number for
        // this patient holds here too (the opt-out's sweep, which has no
        // rosters, may have left this review open).
        let on_roster = super::roster::read_entry(entry.clone()).patient;
        let people = [Some(&ev.patient), indexed.as_ref(), Some(&on_roster)];
        let alternate = alternate_record(&ev);
        let record = hospital_record(&ev);
        let mut doubted = snap.apart_from(entry.id, Some(&record));
        doubted.extend(&review.withheld_by);
        let consent = snap.consent_of_person(
            &ev.patient,
            indexed.as_ref(),
            people.into_iter().flatten(),
            alternate.as_ref(),
            &doubted,
            Some(&record),
            now,
        );
        if consent == Some(OPT_OUT) {
            return Err(refuse(OPTED_OUT));
        }
        if sensitive && consent != Some(OPT_IN) {
            return Err(OpsError::Invalid(format!(
                "review {id}: it comes from a sensitive feed and the patient has no recorded \
                 consent, so no alert may be sent: reject it, or record consent first"
            )));
        }
        Ok(Confirmable {
            content: Content::new(ev, &raw, consent),
            entry,
            snap,
            encounter_id,
            event,
            key,
        })
    }

    /// Move the review from `from` to `status` and audit the decision, in
    /// one transaction.
    /// With `at`, only while the change counter is still `at`.
    async fn finish(
        &self,
        review: &Review,
        from: &str,
        status: &str,
        actor: &str,
        detail: &str,
        at: Option<i64>,
    ) -> Result<(), OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let stale = now.saturating_sub(CONFIRM_STALE_SECS);
        let mut tx = hisp.store.begin().await?;
        // A rejection may delete the pairs a held review's confirmation
        // recorded: the counter first, as every writer of what snapshots
        // read takes it.
        if at.is_some() || (status == "rejected" && !review.withheld_by.is_empty()) {
            let held = notify::generation_held(&mut tx, hisp.store.engine()).await?;
            if at.is_some_and(|at| at != held) {
                return Err(OpsError::Invalid(format!(
                    "review {}: rosters or consents changed: judged again next time",
                    review.id
                )));
            }
        }
        if !notify::move_review(&mut tx, review.id, from, status, actor, now, stale).await? {
            return Err(not_open(review));
        }
        if status != "confirming" {
            // Decided: nothing sends from the message any more.
            notify::forget_adt_unless_reviewed(&mut tx, review.adt_id).await?;
        }
        if status == "rejected" {
            // A confirmation cut short before its alert was filed recorded
            // the pair with its claim: a rejection keeps none.
            unset_apart(&mut tx, review).await?;
        }
        let action = if status == "confirmed" {
            "match.confirm"
        } else {
            "match.reject"
        };
        let subject = format!("review {}", review.id);
        hisp.audit(&mut tx, actor, action, &subject, detail).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// What confirming a review sends, and to whom.
struct Confirmable {
    /// The alert's content, consent applied.
    content: Content,
    /// The roster entry (its owner gets the alert).
    entry: RosterEntry,
    /// Feeds, consents and delivery modes as of now.
    snap: Snapshot,
    /// The held-back change: its encounter, event and key.
    encounter_id: i64,
    event: &'static str,
    key: String,
}

/// How long a held review (`Review::withheld_by`) waits for a person before
/// the digest task closes it, seconds: 5 days.
pub const HOLD_SECS: i64 = 5 * 86_400;

/// How long a confirmation may be under way before another may take over
/// (one cut short by a crash), seconds.
const CONFIRM_STALE_SECS: i64 = 300;

/// Delete the pairs `review`'s confirmation recorded (`set_apart`), moving
/// the change counter when there were any.
async fn unset_apart(tx: &mut sqlx::AnyConnection, review: &Review) -> Result<(), OpsError> {
    if !review.withheld_by.is_empty() && notify::unset_apart(tx, review.id).await? > 0 {
        notify::bump_generation(tx).await?;
    }
    Ok(())
}

/// The error for a review that is no longer undecided.
fn not_open(review: &Review) -> OpsError {
    OpsError::Invalid(format!(
        "review {} was already {} (or is being decided by someone else)",
        review.id, review.status
    ))
}

/// Why the held-back change `key` (`admit#2`: the change and its
/// generation, see `process::remember`) can no longer be sent, if it cannot:
/// a later message cancelled that generation. A generation whose episode
/// closed (a readmission under the same number since) is still news.
fn changed_since(alerted: &str, key: &str) -> Option<&'static str> {
    let Some((base, generation)) = key.rsplit_once('#') else {
        return Some("its change key does not read");
    };
    if base.starts_with("retract:") {
        return None;
    }
    let Some(generation) = generation.parse::<usize>().ok().filter(|g| *g > 0) else {
        return Some("its change key does not read");
    };
    // The ends of this change's generations, oldest first, then the live one.
    let mut generations = alerted
        .split(',')
        .map(Ended::of)
        .filter(|(change, _)| *change == base)
        .map(|(_, ended)| ended);
    match generations.nth(generation - 1) {
        Some(None | Some(Ended::Closed | Ended::Left(..))) => None,
        _ => Some("the event was cancelled by a later message"),
    }
}

#[cfg(test)]
mod tests {
    use super::changed_since;
    use crate::notify::process::retracted;

    #[test]
    fn a_held_back_change_is_current_until_a_later_message_cancels_it() {
        assert_eq!(changed_since("admit", "admit#1"), None);
        assert_eq!(changed_since("ed,discharge", "ed#1"), None);
        // A11 after the admit: the admit is tombstoned.
        assert!(changed_since("admit~", "admit#1").is_some());
        // Admitted again after the cancel: the second generation is current,
        // the first is not.
        assert_eq!(changed_since("admit~,admit", "admit#2"), None);
        // A transfer the patient has since left (and come back to) happened.
        let moves = "transfer:s^200,transfer:n,transfer:s";
        assert_eq!(changed_since(moves, "transfer:s#1"), None);
        assert_eq!(changed_since(moves, "transfer:s#2"), None);
        assert!(changed_since("admit~,admit", "admit#1").is_some());
        assert!(changed_since("", "admit#1").is_some());
        assert!(changed_since("admit", "admit").is_some());
        // A readmission under the same number closed the first episode: its
        // held-back change is still news; a cancelled one of the second is not.
        assert_eq!(changed_since("ed!,discharge!,admit", "ed#1"), None);
        assert_eq!(changed_since("ed!,ed", "ed#2"), None);
        assert!(changed_since("ed!,ed~", "ed#2").is_some());
        assert_eq!(changed_since("ed!,ed~", "ed#1"), None);
        assert!(changed_since("ed!", "ed#2").is_some());
        assert!(changed_since("ed", "ed#0").is_some());
        // Retractions are checked against the alert they retract instead.
        assert_eq!(changed_since("admit~", "retract:admit#1"), None);
        assert_eq!(retracted("retract:admit#1").as_deref(), Some("admit#1"));
        assert_eq!(
            retracted("retract:transfer:south#2").as_deref(),
            Some("transfer:south#2")
        );
        assert_eq!(retracted("admit#1"), None);
    }
}
