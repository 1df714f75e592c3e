//! What an opt-out removes besides future alerts (STANDARDS.md §7, Connie:
//! "opted-out data is deleted within 5 business days"). hisp does it at once,
//! in the transaction that records the opt-out:
//!
//! - **The patient index's people** filed under the opt-out's identifiers
//!   (and not contradicted by its demographics) are unfiled. Their
//!   identifiers are first copied into the consent record, so that the
//!   opt-out keeps holding for the hospital numbers only the index linked to
//!   it.
//! - **Open reviews** about the patient (the ADT's patient, the index's
//!   person for it, or the roster entry, judged as the worker judges an
//!   opt-out, near misses included) are closed as rejected, by whoever
//!   recorded the opt-out, and their ADT messages are forgotten. One the
//!   sweep cannot judge without the rosters (the opt-out is under another
//!   practice's number for the patient) is closed by the digest task's next
//!   turn (`Notifier::close_opted_out_reviews`).
//!
//! - **Alerts filed and not yet sent** about the patient (judged under the
//!   patient the ADT named, kept with the alert until it is sent, the
//!   index's person for it, the roster entry, and the ADT's PID-4 numbers,
//!   kept beside the patient, which only withhold) are withdrawn: a digest
//!   subscriber's, and one left unsent when its subscriber moved from the
//!   digest back to real time, which would otherwise stay in the worklist.
//!
//! - **Judgments that two roster entries are different people** made for
//!   the patient's hospital record (`distinct_entries`, whose record names
//!   one of the opt-out's or the index's identifiers) are deleted with the
//!   numbers they keep (session 36).
//!
//! The other ADT messages were forgotten when processed (a processed message
//! is kept only while a review of it is open, see `process::Keep`), and an
//! opted-out patient's later messages are never kept. Alerts already sent are
//! the subscriber's record and stay in their worklist; the digest checks
//! consent again before it sends.
//!
//! **Decision:** an index person is found by identifier only. Finding one by
//! demographics would mean opening every person in the index on each
//! opt-out; an opt-out recorded by demographics alone stops alerts and closes
//! reviews all the same, and the index keeps only what hospitals' A28/A31
//! said, which leaves with the patient's next identifier-named opt-out.

use sqlx::AnyConnection;

use super::mpi::{self, Index, Outcome};
use super::process::{mpi_patient, read_event};
use crate::hl7;
use crate::ops::{Hisp, OpsError};
use crate::store::notify::{self, StoredPatient};

/// What recording an opt-out will remove, gathered before its transaction
/// and completed in it (`catch_up`).
#[derive(Debug, Default)]
pub(super) struct Sweep {
    /// Identifiers of the index's people for the patient: copied into the
    /// consent record, then unfiled.
    pub identifiers: Vec<(String, String)>,
    /// Open reviews about the patient: closed.
    reviews: Vec<(i64, i64)>,
    /// Alerts about the patient filed and not yet sent: withdrawn.
    alerts: Vec<i64>,
    /// The patient the opt-out names, and the reviews and alerts already
    /// judged: what the transaction reads again.
    patient: StoredPatient,
    seen_reviews: std::collections::HashSet<i64>,
    seen_alerts: std::collections::HashSet<i64>,
}

/// The patient index's people for `p`: filed under its identifiers and not
/// contradicted by its demographics.
async fn indexed_people(
    conn: &mut AnyConnection,
    sealer: &crate::store::Sealer,
    p: &StoredPatient,
) -> Result<Vec<StoredPatient>, OpsError> {
    let demo = mpi_patient(0, p).demographics;
    let people = notify::index_persons(conn, sealer, &p.identifiers).await?;
    Ok(people
        .into_iter()
        .filter(|k| !mpi::contradicts(&mpi_patient(0, k).demographics, &demo))
        .collect())
}

/// The opt-out as the worker matches it: a one-person index.
fn holds(index: &Index, p: &StoredPatient) -> bool {
    let q = mpi_patient(0, p);
    !matches!(
        index.lookup(&q.identifiers, &q.demographics),
        Outcome::NoMatch
    )
}

impl Hisp {
    /// Find what an opt-out for `patient` removes (reads only, on a pooled
    /// connection: the write transaction is taken only to apply it).
    pub(super) async fn opt_out_sweep(&self, patient: &StoredPatient) -> Result<Sweep, OpsError> {
        let sealer = self.store.sealer();
        let demo = mpi_patient(0, patient).demographics;
        let mut conn = self.conn().await?;
        let mut sweep = Sweep {
            patient: patient.clone(),
            ..Sweep::default()
        };
        let people = notify::index_persons(&mut conn, sealer, &patient.identifiers).await?;
        for person in people {
            let p = mpi_patient(0, &person);
            if mpi::contradicts(&p.demographics, &demo) {
                continue;
            }
            for id in person.identifiers {
                if !sweep.identifiers.iter().any(|x| notify::same_id(x, &id))
                    && !mpi::placeholder_identifier(&id.0, &id.1)
                {
                    sweep.identifiers.push(id);
                }
            }
        }
        self.sweep_queues(&mut conn, &mut sweep).await?;
        Ok(sweep)
    }

    /// Judge the open reviews and unsent alerts `sweep` has not judged yet.
    /// Run before the opt-out's transaction, on a pooled connection (most
    /// of the work, none of it under the writer), and again in it once it
    /// holds the change counter (`catch_up`).
    async fn sweep_queues(
        &self,
        conn: &mut AnyConnection,
        sweep: &mut Sweep,
    ) -> Result<(), OpsError> {
        let sealer = self.store.sealer();
        let mut index = Index::new();
        index.insert(mpi_patient(1, &sweep.patient));
        for review in notify::reviews(conn, false).await? {
            if review.status != "open" || !sweep.seen_reviews.insert(review.id) {
                continue;
            }
            let about = self.review_people(conn, &review).await?;
            if about.iter().any(|p| holds(&index, p)) {
                sweep.reviews.push((review.id, review.adt_id));
            }
        }
        for alert in notify::unsent_alerts(conn, sealer, notify::Unsent::All).await? {
            if !sweep.seen_alerts.insert(alert.id) {
                continue;
            }
            let mut about = Vec::new();
            if let Some(id) = alert.roster_entry_id
                && let Some(e) = notify::entry(conn, sealer, id, 0).await?
            {
                about.push(super::roster::read_entry(e).patient);
            }
            if let Some(p) = alert.patient {
                about.extend(indexed_people(conn, sealer, &p).await?);
                about.push(p);
            }
            // PID-4 withholds: an opt-out under one of its numbers withdraws
            // the alert too.
            about.extend(alert.withholding);
            if about.iter().any(|p| holds(&index, p)) {
                sweep.alerts.push(alert.id);
            }
        }
        Ok(())
    }

    /// In the opt-out's transaction, before anything is recorded: hold the
    /// change counter (`generation_held`), then judge the reviews queued and
    /// alerts filed since the sweep read them. The worker queues and files
    /// under the counter too, so each is committed before this reads (and
    /// is swept) or waits and finds its snapshot stale. Before, a review
    /// queued between the sweep's read and the opt-out's commit stayed open,
    /// and with it the patient's ADT.
    pub(super) async fn catch_up(
        &self,
        tx: &mut AnyConnection,
        sweep: &mut Sweep,
    ) -> Result<(), OpsError> {
        notify::generation_held(tx, self.store.engine()).await?;
        // Usually nothing is new: two reads of ids, nothing unsealed under
        // the writer.
        let (reviews, alerts) = notify::queued_ids(tx).await?;
        if reviews.iter().all(|id| sweep.seen_reviews.contains(id))
            && alerts.iter().all(|id| sweep.seen_alerts.contains(id))
        {
            return Ok(());
        }
        self.sweep_queues(tx, sweep).await
    }

    /// The records an open review is about: the ADT's patient, the index's
    /// person for it, and the roster entry.
    async fn review_people(
        &self,
        conn: &mut AnyConnection,
        review: &notify::Review,
    ) -> Result<Vec<StoredPatient>, OpsError> {
        let sealer = self.store.sealer();
        let mut out = Vec::new();
        if let Some(e) = notify::entry(conn, sealer, review.roster_entry_id, 0).await? {
            out.push(super::roster::read_entry(e).patient);
        }
        let raw = notify::adt_message(conn, sealer, review.adt_id).await?;
        let adt = raw.and_then(|raw| read_event(&hl7::parse(&raw).ok()?).ok());
        if let Some(ev) = adt {
            out.extend(indexed_people(conn, sealer, &ev.patient).await?);
            // PID-4 withholds: an opt-out under one of its numbers closes
            // the review too.
            out.extend(super::process::alternate_record(&ev));
            out.push(ev.patient);
        }
        Ok(out)
    }

    /// Delete the judgments that two roster entries are different people
    /// (`distinct_entries`) kept with the patient's hospital numbers: whose
    /// record names one of the opt-out's or the index's identifiers (one
    /// the index holds without an authority, by value), or whose record
    /// or the sure match's entry (its review's) the opt-out holds for, as
    /// the worker matches it (an opt-out by demographics alone, or under
    /// another name of the authority). Erring deletes another patient's judgment, whose next
    /// visit is then held for review again. How many.
    async fn forget_apart_records(
        &self,
        conn: &mut AnyConnection,
        sweep: &Sweep,
    ) -> Result<u64, OpsError> {
        let sealer = self.store.sealer();
        let pairs = notify::distinct_entries(conn, sealer).await?;
        if pairs.iter().all(|p| p.record.is_none()) {
            return Ok(0);
        }
        let mut index = Index::new();
        index.insert(mpi_patient(1, &sweep.patient));
        let named: Vec<&(String, String)> = (sweep.patient.identifiers.iter())
            .chain(&sweep.identifiers)
            .collect();
        let names = |(value, authority): &(String, String)| {
            named.iter().any(|(v, a)| {
                v.trim() == value.trim()
                    && (a.trim().is_empty()
                        || a.trim().to_lowercase() == authority.trim().to_lowercase())
            })
        };
        let mut forgotten = 0;
        for p in &pairs {
            let Some(record) = &p.record else { continue };
            let mut about = vec![StoredPatient {
                identifiers: record.clone(),
                ..StoredPatient::default()
            }];
            // The sure match's entry (the review's): the near miss's own
            // patient re-recording her opt-out leaves the judgment that
            // she is someone else. Both when the review is gone.
            let entries = match notify::review(conn, p.review_id).await? {
                Some(r) => vec![r.roster_entry_id],
                None => vec![p.entry, p.other],
            };
            for id in entries {
                if let Some(e) = notify::entry(conn, sealer, id, 0).await? {
                    about.push(super::roster::read_entry(e).patient);
                }
            }
            if record.iter().any(names) || about.iter().any(|a| holds(&index, a)) {
                forgotten += notify::unset_pair(conn, p).await?;
            }
        }
        Ok(forgotten)
    }

    /// Apply a sweep in the opt-out's transaction; the audit detail, when
    /// anything was removed.
    pub(super) async fn apply_opt_out_sweep(
        &self,
        conn: &mut AnyConnection,
        sweep: &Sweep,
        actor: &str,
    ) -> Result<Option<String>, OpsError> {
        let now = self.now();
        // Open only. One being confirmed at this moment has passed its
        // consent check and may still send, like any alert already on its
        // way; its message is forgotten once it is decided. Every review is
        // moved before any message is forgotten, in the order a person's
        // decision takes them (review, then message), so that on PostgreSQL
        // the two cannot deadlock over two reviews of one message.
        let mut closed = Vec::new();
        for &(id, adt_id) in &sweep.reviews {
            if notify::move_review(conn, id, "open", "rejected", actor, now, i64::MIN).await? {
                closed.push(adt_id);
            }
        }
        for &adt_id in &closed {
            notify::forget_adt_unless_reviewed(conn, adt_id).await?;
        }
        let closed = closed.len();
        notify::index_forget(conn, self.store.sealer(), &sweep.identifiers).await?;
        let pairs = self.forget_apart_records(conn, sweep).await?;
        let mut withdrawn = 0;
        for &id in &sweep.alerts {
            // Unsent only: one sent meanwhile is the subscriber's record.
            if notify::delete_unsent_alert(conn, id).await? {
                withdrawn += 1;
            }
        }
        if closed == 0 && sweep.identifiers.is_empty() && withdrawn == 0 && pairs == 0 {
            return Ok(None);
        }
        let mut detail = format!(
            "{closed} open review(s) closed; {} identifier(s) unfiled from the patient index; \
             {withdrawn} unsent alert(s) withdrawn",
            sweep.identifiers.len()
        );
        if pairs > 0 {
            detail.push_str(&format!(
                "; {pairs} judgment(s) of entries set apart for the patient's hospital record \
                 forgotten"
            ));
        }
        Ok(Some(detail))
    }
}
