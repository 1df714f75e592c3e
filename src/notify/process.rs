//! The notify worker's step for one committed ADT message: read the event;
//! honour consent (an opted-out patient gets no alert and nothing stored
//! beyond the dedup key; a sensitive feed needs recorded opt-in consent, and
//! every suppression is audited with its reason); run the encounter state
//! machine; match the patient against each subscriber's roster (identifier,
//! else demographics; near misses go to review, never out); file one alert
//! per state change per subscriber and send it through the outbound Direct
//! path from the notification address.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyConnection;
use tokio::sync::watch;

use super::Notifier;
use super::adt::{self, AdtEvent, Change, Ended};
use super::alert::{self, AlertContext};
use super::mpi::{self, Demographics, Identifier, Index, Outcome, Patient, placeholder_identifier};
use super::sensitive;
use crate::direct::DirectAddress;
use crate::hl7;
use crate::ops::OpsError;
use crate::smtp::submit::{FinalDelivery, Handed, Prepared, Submission, Submitted};
use crate::store::addresses;
use crate::store::notify::{
    self, AdtRow, EncounterRow, FeedRow, KeyedBy, NewAlert, RosterEntry, StoredPatient,
};

/// What became of one ADT message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// Alerts sent to these subscribers.
    Alerted(Vec<String>),
    /// No alert, and why.
    Quiet(&'static str),
    /// Nothing done: feeds, rosters, consents or enabled addresses changed
    /// since the snapshot was loaded. The batch reloads it and runs the row again.
    Again,
}

/// An MPI patient from a stored one.
pub fn mpi_patient(id: i64, p: &StoredPatient) -> Patient {
    Patient {
        id,
        identifiers: identifiers(p),
        demographics: demographics(p),
    }
}

fn identifiers(p: &StoredPatient) -> Vec<Identifier> {
    p.identifiers
        .iter()
        .map(|(value, authority)| Identifier {
            value: value.clone(),
            authority: authority.clone(),
        })
        .collect()
}

fn demographics(p: &StoredPatient) -> Demographics {
    Demographics {
        family: p.family.clone(),
        given: p.given.clone(),
        birth_date: p.birth_date.clone(),
        sex: p.sex,
        postal_code: p.postal_code.clone(),
        phone: p.phone.clone(),
    }
}

/// The consent decisions.
pub(super) const OPT_OUT: &str = "opt-out";
pub(super) const OPT_IN: &str = "opt-in";

/// The message names the patient with every field matching uses.
fn complete(p: &StoredPatient) -> bool {
    !p.family.trim().is_empty()
        && !p.given.trim().is_empty()
        && p.birth_date.is_some()
        && p.sex.is_some()
        && p.postal_code.is_some()
}

/// Fill what the message leaves out of the patient (demographics, other
/// identifiers) from the patient index's person; the message's own values
/// win. True when something was added.
fn fill_gaps(p: &mut StoredPatient, known: &StoredPatient) -> bool {
    let mut merged = notify::merge_person(known, p);
    drop_placeholders(&mut merged.identifiers);
    let changed = merged != *p;
    *p = merged;
    changed
}

/// Forget identifiers that name no one in particular (`mpi::placeholder_identifier`):
/// shared by every patient they were typed for, they would link strangers.
fn drop_placeholders(ids: &mut Vec<(String, String)>) {
    ids.retain(|(value, authority)| !placeholder_identifier(value, authority));
}

/// The ADT event of a parsed message, without placeholder identifiers (in
/// PID-3, PID-2, MRG-1 and MRG-4): what the worker and reviews act on.
pub(super) fn read_event(msg: &hl7::Message) -> Result<AdtEvent, adt::AdtError> {
    let mut ev = adt::read(msg)?;
    strip_placeholders(&mut ev);
    Ok(ev)
}

/// Remove placeholder identifiers from PID-3 and PID-2 (`adt::read` leaves
/// them out of merges already); the ones they had.
fn strip_placeholders(ev: &mut AdtEvent) -> Vec<(String, String)> {
    let (kept, stripped) = std::mem::take(&mut ev.patient.identifiers)
        .into_iter()
        .partition(|(value, authority)| !placeholder_identifier(value, authority));
    ev.patient.identifiers = kept;
    stripped
}

/// The record PID-4's identifiers make, when it gives any: it may withhold
/// (an opt-out recorded under one holds), never release or match
/// (`adt::ALTERNATE_ID_FIELD`). Placeholders are left out.
pub(super) fn alternate_record(ev: &AdtEvent) -> Option<StoredPatient> {
    let identifiers: Vec<(String, String)> = ev
        .alternate_identifiers
        .iter()
        .filter(|(value, authority)| !placeholder_identifier(value, authority))
        .cloned()
        .collect();
    (!identifiers.is_empty()).then(|| StoredPatient {
        identifiers,
        ..StoredPatient::default()
    })
}

/// The hospital's record of a message's patient, as a judgment that two
/// roster entries are different people is about it (`set_apart`): the
/// numbers it files the patient under ([`AdtEvent::own_numbers`]: PID-3
/// typed `MR`, else the first untyped; never an SSN, another government
/// number, a member number a mother's newborn twins may share, or a
/// placeholder), each also under its authority's ISO OID when the message
/// names one (an opt-out may be recorded under either), and one with no
/// assigning authority under the sending facility's name (that hospital's
/// own number). Read at `adt::read`, before the patient index fills gaps.
pub(super) fn hospital_record(ev: &AdtEvent) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (value, authority) in &ev.own_numbers {
        if value.trim().is_empty() {
            continue;
        }
        if authority.trim().is_empty() {
            out.push((value.clone(), ev.sending_facility.clone()));
            continue;
        }
        out.push((value.clone(), authority.clone()));
        for (namespace, oid) in &ev.authority_oids {
            if namespace.trim().eq_ignore_ascii_case(authority.trim()) {
                out.push((value.clone(), oid.clone()));
            }
        }
    }
    out
}

/// Whether a judgment about the hospital's record `judged` (None: recorded
/// before judgments named a record, any) covers a message whose record is
/// `record`: one number in common. A judgment about a message that named
/// no number covers no message, and a message that names none is covered
/// by no judgment (held for review each time: precision first).
fn covers(judged: Option<&[(String, String)]>, record: &[(String, String)]) -> bool {
    match judged {
        None => true,
        Some(judged) => judged
            .iter()
            .any(|a| record.iter().any(|b| notify::same_id(a, b))),
    }
}

/// The two records cannot be one person (`mpi::contradicts`).
fn contradicts(a: &StoredPatient, b: &StoredPatient) -> bool {
    mpi::contradicts(&demographics(a), &demographics(b))
}

impl Notifier {
    /// Read one claimed ADT row and match it against the snapshot: what the
    /// row needs written, decided outside the batch's write transaction (the
    /// parse, the rosters and the patient index's pooled reads take the
    /// CPU time of a row; holding SQLite's one writer meanwhile would stall
    /// the MLLP intake). Nothing is written here.
    async fn plan<'s>(&self, row: &AdtRow, snap: &'s Snapshot) -> Result<Plan<'s>, OpsError> {
        let quiet = |result, why| Ok(Plan::Quiet(result, Done::Quiet(why)));
        let Ok(msg) = hl7::parse(&row.raw) else {
            return quiet("unparseable", "unparseable");
        };
        let Ok(mut ev) = adt::read(&msg) else {
            return quiet("no patient", "no patient");
        };
        let Some(feed) = snap.feed(&ev.sending_facility) else {
            return quiet("feed removed", "unregistered feed");
        };
        let stripped = strip_placeholders(&mut ev);
        let alternate = alternate_record(&ev);
        let record = hospital_record(&ev);
        // PID-4 withholds: a later opt-in under the patient's own numbers
        // overrides an older opt-out under it, as elsewhere.
        let opted_out = snap.consent_of([&ev.patient], alternate.as_ref()) == Some(OPT_OUT)
            || snap.opted_out_under_placeholder(&stripped);
        match ev.trigger.as_str() {
            // Merges keep rosters and consents together (an opt-out follows
            // its patient), so they apply even to an opted-out patient,
            // whose message is then forgotten.
            // A39 (merge person, by PID-2 or PID-3) and A18 (merge patient
            // information) are v2.3's forms, kept for backward compatibility.
            "A40" | "A39" | "A34" | "A36" | "A18" | "A47" => {
                // Per merge, also under its retired and surviving numbers:
                // an opt-out recorded under the retired one (whose index
                // person its sweep unfiled) holds for the survivor's.
                let under = |id: &(String, String)| StoredPatient {
                    identifiers: vec![id.clone()],
                    ..StoredPatient::default()
                };
                let opted = ev
                    .merged
                    .iter()
                    .map(|m| {
                        let ids = [under(&m.retired), under(&m.survivor)];
                        opted_out || snap.consent_of_all(&ids) == Some(OPT_OUT)
                    })
                    .collect();
                return Ok(Plan::Merge(ev, opted));
            }
            // A visit renumbered keeps what was alerted about it (an opted-out
            // patient's encounters hold nothing of theirs but the number).
            // So is a visit keyed by its account number, when the account
            // number changes (A35, A49).
            "A45" | "A50" | "A35" | "A49" => return Ok(Plan::Renumber(ev)),
            _ if opted_out => return Ok(Plan::OptedOut),
            // Judged with the roster entries the message's patient matches
            // for sure, as an alert is: an opt-out recorded under an entry's
            // own number (a practice's) holds for the hospital's record of
            // that patient too, so the index does not take the patient back
            // in. (The index's own person was unfiled by the opt-out.)
            "A28" | "A31" => {
                let matches = snap.match_rosters(&ev.patient, self.gw.hisp.now());
                let consent = snap.consent_with_rosters(
                    std::iter::once(&ev.patient),
                    &matches,
                    std::iter::empty(),
                    &[],
                    Some(&record),
                );
                if consent == Some(OPT_OUT) {
                    return Ok(Plan::OptedOut);
                }
                return Ok(Plan::Index(ev));
            }
            _ => {}
        }
        let now = self.gw.hisp.now();
        // A late enrolment gets no retroactive alerts (STANDARDS.md §7): an
        // entry added after this message was received (its ACK) alerts no
        // one about it, nor queues a review, even when a backlog is
        // processed after the import; the visit's next change does. Such a
        // match is evidence only, as a disabled roster's is: an opt-out
        // under its number withholds, an opt-in under it releases nothing.
        let (mut matches, mut late) = snap.match_rosters_at(&ev.patient, now, row.received_at);
        // A match that may alert: a disabled roster's is evidence only, and
        // must not spare the lookup that could complete an enabled one's.
        let matched = |m: &[(String, Matched<'_>)]| {
            m.iter()
                .any(|(owner, x)| snap.alerting(owner) && matches!(x, Matched::Yes(_)))
        };
        // The patient index's person: read when the message lacks what
        // matching uses, and for consent once a roster matched. What it
        // fills in is matched again even when a roster already matched:
        // another subscriber may know the patient only by what the message
        // left out. A roster's result from the message itself stands
        // unless the filled-in patient matches it more strongly.
        let mut indexed = None;
        if !complete(&ev.patient) {
            let known = self.indexed(snap, &ev.patient).await?;
            if let Some(k) = &known
                && fill_gaps(&mut ev.patient, k)
            {
                let (filled, filled_late) =
                    snap.match_rosters_at(&ev.patient, now, row.received_at);
                late.extend(filled_late);
                matches = if matched(&matches) {
                    stronger(matches, filled)
                } else {
                    filled
                };
            }
            indexed = Some(known);
        }
        let late: Vec<&StoredPatient> = late.iter().map(|(_, m)| &m.entry().patient).collect();
        // A cancellation is news to whoever was told of what it cancels,
        // whether or not their roster still lists the patient (the entry
        // ended, replaced or aged out since): they hold a notice now wrong.
        // Who was told is read from the visit's alerts, as committed.
        // Only where the entry their alert matched is, for sure, the patient
        // this message names: a visit moved to another patient (A45) or its
        // number reused must not carry that patient's name to the first's
        // care manager. A purged entry can no longer say, so its practice
        // is not sent one.
        let mut told = match adt::cancels(&ev.trigger) {
            true => self.told_of_visit(&ev).await?,
            false => Vec::new(),
        };
        for t in &mut told {
            t.same = t
                .entry
                .as_ref()
                .is_some_and(|e| snap.same_person(&t.owner, e, &ev.patient));
        }
        // Most ADT traffic is about patients on nobody's roster: they need no
        // encounter bookkeeping (it only remembers what was alerted to whom).
        let tells = told.iter().any(|t| t.sendable && t.same);
        if !tells && !matches.iter().any(|(owner, _)| snap.alerting(owner)) {
            return match late.is_empty() {
                true => quiet("no subscriber", "no subscriber's roster matched"),
                false => quiet("no subscriber", "enrolled only after the message came"),
            };
        }
        let indexed = match indexed {
            Some(known) => known,
            None => self.indexed(snap, &ev.patient).await?,
        };
        // Consent under every record of this person: the message, the index's
        // person and each roster entry it matched (a near miss is not known
        // to be the same person; its review checks again when confirmed).
        // For a cancellation, the entries its visit's alerts matched too
        // (those of this patient), ended or a removed practice's: they may
        // withhold, never release (no longer kept up, as a disabled
        // practice's). A purged entry says nothing any more.
        let told_entries: Vec<&StoredPatient> = told
            .iter()
            .filter(|t| t.same)
            .filter_map(|t| t.entry.as_ref().map(|e| &e.patient))
            .chain(alternate.as_ref())
            .chain(late.iter().copied())
            .collect();
        let records: Vec<&StoredPatient> = std::iter::once(&ev.patient)
            .chain(indexed.as_ref())
            .collect();
        let judge = |doubted: &[i64]| {
            snap.consent_with_rosters(
                records.iter().copied(),
                &matches,
                told_entries.iter().copied(),
                doubted,
                Some(&record),
            )
        };
        let mut consent = judge(&[]);
        // Withheld only by near misses' opt-outs (another practice's entry
        // the message nearly matches: a twin, a sibling at the same
        // address): each sure match's alert is held for an admin's review
        // instead of dropped, naming them (`Matched::Withheld`); confirmed,
        // they are set apart from it (until an admin undoes it). Before,
        // the patient's alerts were withheld as an opt-out, with no review.
        let mut withheld_by = Vec::new();
        if consent == Some(OPT_OUT) {
            let near: Vec<(i64, f64)> = matches
                .iter()
                .filter_map(|(_, m)| match m {
                    Matched::Review(e, score)
                        if snap.consent_of_all([&e.patient]) == Some(OPT_OUT) =>
                    {
                        Some((e.id, *score))
                    }
                    _ => None,
                })
                .collect();
            let ids: Vec<i64> = near.iter().map(|(id, _)| *id).collect();
            let without = match ids.is_empty() {
                true => Some(OPT_OUT),
                false => judge(&ids),
            };
            let sure_of = |owner: &str| {
                snap.alerting(owner)
                    && matches
                        .iter()
                        .any(|(o, m)| o == owner && matches!(m, Matched::Yes(_)))
            };
            let sure = matches.iter().any(|(owner, _)| sure_of(owner));
            // A sensitive feed's alert needs an opt-in: with none, there is
            // nothing a review could send. A cancellation due to a practice
            // told of the visit whom no roster entry matches for sure now
            // could not be held for it (a review is of a match): withheld,
            // as before.
            let untold = told
                .iter()
                .any(|t| t.sendable && t.same && !sure_of(&t.owner));
            if without == Some(OPT_OUT)
                || !sure
                || untold
                || (feed.sensitive && without != Some(OPT_IN))
            {
                return Ok(Plan::OptedOut);
            }
            consent = without;
            withheld_by = near;
        }
        if !withheld_by.is_empty() {
            let score = withheld_by.iter().map(|(_, s)| *s).fold(f64::MIN, f64::max);
            for (_, m) in &mut matches {
                if let Matched::Yes(e) = *m {
                    *m = Matched::Withheld(e, score);
                }
            }
            // Nothing goes out directly while it is held (every told
            // practice is matched for sure, and held, above).
            for t in &mut told {
                t.sendable = false;
            }
        }
        let withheld_by = withheld_by
            .iter()
            .map(|(id, _)| id.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let tells = told.iter().any(|t| t.sendable && t.same);
        // A disabled subscriber's match served as evidence only. A near
        // miss of an entry whose patient opted out is not queued: confirmed,
        // it would be that patient, and the confirmation refuses it, so the
        // review could only keep the message until it was rejected (an
        // opt-out's sweep closes such reviews; before, the worker queued
        // new ones after it).
        matches.retain(|(owner, m)| {
            snap.alerting(owner)
                && !matches!(m, Matched::Review(e, _)
                    if snap.consent_of_all([&e.patient]) == Some(OPT_OUT))
        });
        if matches.is_empty() && !tells {
            return quiet("no subscriber", "only near misses of opted-out patients");
        }
        // Should that fail, the alerts are made as they are filed, where
        // the failure counts.
        let early = self
            .early_alerts(row, &ev, feed, &matches, consent, snap)
            .await
            .unwrap_or_else(|e| {
                tracing::debug!(adt = row.id, error = %e, "alerts not made ready ahead");
                None
            });
        Ok(Plan::Encounter(Box::new(Visit {
            ev,
            feed,
            matches,
            told,
            consent,
            early,
            withheld_by,
        })))
    }

    /// The alerts a rostered patient's event is to send, made ready ahead of
    /// the batch's transaction by deciding on the encounter as committed
    /// (`find_encounter`). When the transaction's own decision is the same
    /// change, they are filed in it (`file_early`): no turn of the writer
    /// of their own, no crypto inside one. None when, as things stand, the
    /// event alerts no one, is a retraction (which reads what it takes
    /// back as it files), or comes from a sensitive feed without consent.
    async fn early_alerts(
        &self,
        row: &AdtRow,
        ev: &AdtEvent,
        feed: &FeedRow,
        matches: &[(String, Matched<'_>)],
        consent: Option<&'static str>,
        snap: &Snapshot,
    ) -> Result<Option<Early>, OpsError> {
        let sure = |m: &Matched<'_>| matches!(m, Matched::Yes(_));
        if (feed.sensitive && consent != Some(OPT_IN)) || !matches.iter().any(|(_, m)| sure(m)) {
            return Ok(None);
        }
        let hisp = &self.gw.hisp;
        let key = stored_key(hisp.store.sealer(), &ev.encounter_key)?;
        let facility = ev.sending_facility.to_lowercase();
        let found = notify::find_encounter(&mut *hisp.conn().await?, &facility, &key).await?;
        let read = found.unwrap_or_else(|| EncounterRow {
            id: 0,
            state: "new".to_string(),
            alerted: String::new(),
            state_at: None,
            closed_at: None,
        });
        let encounter_id = read.id;
        let (Change::Alert { event, key }, _) = decide(ev, read) else {
            return Ok(None);
        };
        if event == "retraction" {
            return Ok(None);
        }
        let content = Content::new(ev.clone(), &row.raw, consent);
        let target = Target {
            feed,
            encounter_id,
            event,
            key: &key,
            generation: snap.generation,
            withheld_by: None,
        };
        let mut ready = Vec::new();
        for (owner, m) in matches {
            if let Matched::Yes(entry) = m {
                let digest = snap.digest(owner);
                let alert = self.ready_alert(&content, &target, entry, digest).await?;
                ready.push((owner.clone(), alert));
            }
        }
        Ok(Some(Early {
            event,
            key,
            content,
            ready,
        }))
    }

    /// File the alerts made ready ahead (`early_alerts`) for the change the
    /// batch's transaction decided, in that transaction, with the reviews
    /// of near misses and the encounter's new state; their messages are
    /// handed over once it commits. The caller has checked the change
    /// counter under the transaction's lock (`generation_held`, as
    /// `send_alert` does): an opt-out or a disable recorded since the
    /// snapshot was loaded was seen, or waits for the batch's commit.
    #[allow(clippy::too_many_arguments)]
    async fn file_early(
        &self,
        batch: &mut Batch,
        row: &AdtRow,
        early: Early,
        enc: &Advanced,
        feed: &FeedRow,
        matches: &[(String, Matched<'_>)],
        snap: &Snapshot,
        withheld_by: Option<&str>,
    ) -> Result<Done, OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let conn = batch.conn(hisp).await?;
        let target = Target {
            feed,
            encounter_id: enc.new.id,
            event: early.event,
            key: &early.key,
            generation: snap.generation,
            withheld_by: None,
        };
        let (mut sent, mut submitted) = (Vec::new(), Vec::new());
        for (owner, matched) in matches {
            match matched {
                Matched::Review(e, score) => {
                    let review = target.review(row, e, *score);
                    notify::insert_review(conn, &review, now).await?;
                }
                // Made ready ahead only with a sure match (`Yes`), so not
                // met here; held as the worker holds it, were it.
                Matched::Withheld(e, score) => {
                    let mut review = target.review(row, e, *score);
                    review.withheld_by = withheld_by;
                    notify::insert_review(conn, &review, now).await?;
                }
                Matched::Yes(entry) => {
                    let Some((_, ready)) = early.ready.iter().find(|(o, _)| o == owner) else {
                        continue;
                    };
                    let mut handed = Vec::new();
                    let (filing, done) = self
                        .file_alert(conn, ready, &early.content, &target, entry, &mut handed)
                        .await?;
                    if filing == Filing::Filed {
                        sent.push(owner.clone());
                    }
                    submitted.extend(done.map(|done| (done, handed)));
                }
            }
        }
        batch.submitted.extend(submitted);
        // Filed alerts are found again by their change key should the row
        // run again (as after `alert_subscribers`).
        if !self.save(batch, enc).await? {
            return Ok(Done::Again);
        }
        let done = if sent.is_empty() {
            Done::Quiet("no new alert for any subscriber")
        } else {
            Done::Alerted(sent)
        };
        finish(batch, row, early.event, done)
    }

    /// Carry out a row's plan. Quiet outcomes are written in `batch`'s open
    /// transaction (committed with the rest of the batch), and so are alerts
    /// made ready ahead (`file_early`); any other alert commits the batch
    /// first, goes out, and the row's own completion joins the next
    /// transaction.
    async fn apply(
        &self,
        row: &AdtRow,
        plan: Plan<'_>,
        snap: &Snapshot,
        batch: &mut Batch,
    ) -> Result<Done, OpsError> {
        let visit = match plan {
            Plan::Quiet(result, done) => return finish(batch, row, result, done),
            Plan::Merge(ev, opted) => return self.merge(batch, row, &ev, &opted, snap).await,
            Plan::Renumber(ev) => return self.renumber(batch, row, &ev).await,
            Plan::OptedOut => return self.opted_out(batch, row).await,
            Plan::Index(_) if !self.current(snap).await? => return Ok(Done::Again),
            Plan::Index(ev) => return self.index_person(batch, row, &ev).await,
            Plan::Encounter(visit) => visit,
        };
        let Visit {
            ev,
            feed,
            matches,
            told,
            consent,
            early,
            withheld_by,
        } = *visit;
        let withheld_by = Some(withheld_by.as_str()).filter(|w| !w.is_empty());
        // An opt-out recorded since the snapshot was loaded must stop what
        // follows (an alert, a review, the index): check just before.
        if !self.current(snap).await? {
            return Ok(Done::Again);
        }
        // Alerts made ready ahead are filed under the change counter, held
        // until the batch commits (`file_early`). It is the first lock its
        // transaction takes: one that already wrote (and on PostgreSQL
        // holds encounter rows) commits first, so that two nodes' batches
        // cannot each hold what the other waits for.
        if early.is_some()
            && let Some(held) = batch.hold_counter(&self.gw).await?
            && snap.generation != Some(held)
        {
            return Ok(Done::Again);
        }
        let (change, enc) = self.advance(batch, &ev).await?;
        let enc_id = enc.new.id;
        let Change::Alert { event, key } = change else {
            if !self.save(batch, &enc).await? {
                return Ok(Done::Again);
            }
            let done = Done::Quiet("no state change to alert");
            return finish(batch, row, "no alert", done);
        };
        if feed.sensitive && consent != Some(OPT_IN) {
            if !self.save(batch, &enc).await? {
                return Ok(Done::Again);
            }
            self.suppressed(batch, row, "sensitive source and no recorded consent")
                .await?;
            let done = Done::Quiet("sensitive without consent");
            return finish(batch, row, "suppressed", done);
        }
        if let Some(early) = early.filter(|e| e.event == event && e.key == key) {
            return self
                .file_early(batch, row, early, &enc, feed, &matches, snap, withheld_by)
                .await;
        }
        let content = Content::new(ev, &row.raw, consent);
        // The alerts write with their own connections: commit what the batch holds.
        batch.flush(&self.gw).await?;
        let target = Target {
            feed,
            encounter_id: enc_id,
            event,
            key: &key,
            generation: snap.generation,
            withheld_by,
        };
        let sent = self
            .alert_subscribers(row, &content, &target, (&matches, &told), snap)
            .await?;
        // The encounter is saved only once every subscriber was seen to, so
        // the row run again decides the same change.
        let Some(sent) = sent else {
            return Ok(Done::Again);
        };
        if !self.save(batch, &enc).await? {
            return Ok(Done::Again);
        }
        let done = if sent.is_empty() {
            Done::Quiet("no new alert for any subscriber")
        } else {
            Done::Alerted(sent)
        };
        finish(batch, row, event, done)
    }

    /// Whether the snapshot is still current: no feed, roster entry or
    /// consent changed since it was loaded (one query, for the rows about to
    /// alert, queue a review or index a person).
    async fn current(&self, snap: &Snapshot) -> Result<bool, OpsError> {
        let mut conn = self.gw.hisp.conn().await?;
        Ok(snap.generation == Some(notify::generation(&mut conn).await?))
    }

    /// The patient index's person for the message's patient: the first one
    /// filed under its identifiers that its demographics do not contradict
    /// (a person the index knows under a shared or reused number is someone
    /// else). No query while the index is empty. Read on a pooled
    /// connection, outside the batch's write transaction (an A28/A31
    /// earlier in the batch committed it first).
    pub(super) async fn indexed(
        &self,
        snap: &Snapshot,
        p: &StoredPatient,
    ) -> Result<Option<StoredPatient>, OpsError> {
        let mut ids = p.identifiers.clone();
        drop_placeholders(&mut ids);
        if !snap.index_nonempty || ids.is_empty() {
            return Ok(None);
        }
        let hisp = &self.gw.hisp;
        let mut conn = hisp.conn().await?;
        let persons = notify::index_persons(&mut conn, hisp.store.sealer(), &ids).await?;
        Ok(persons.into_iter().find(|known| !contradicts(known, p)))
    }

    /// An opted-out patient: audited, and nothing kept beyond the dedup key.
    async fn opted_out(&self, batch: &mut Batch, row: &AdtRow) -> Result<Done, OpsError> {
        self.suppressed(batch, row, "the patient opted out").await?;
        finish(batch, row, "opted out", Done::Quiet("opted out"))
    }

    /// A28/A31: add or update the person in the patient index; no alert.
    async fn index_person(
        &self,
        batch: &mut Batch,
        row: &AdtRow,
        ev: &AdtEvent,
    ) -> Result<Done, OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let sealer = hisp.store.sealer();
        let conn = batch.conn(hisp).await?;
        let ids = &ev.patient.identifiers;
        let known = notify::index_persons(conn, sealer, ids).await?;
        let (others, same): (Vec<_>, Vec<_>) =
            known.into_iter().partition(|k| contradicts(k, &ev.patient));
        let subject = format!("adt {}", row.id);
        // The message's identifiers find people the index knows to be
        // different (a message without a birth date contradicts no one): it
        // cannot be applied without folding them together.
        let apart = same
            .iter()
            .enumerate()
            .any(|(i, a)| same.iter().skip(i + 1).any(|b| contradicts(a, b)));
        if apart {
            let detail = format!(
                "{}: its identifiers name different people in the patient index; not applied",
                ev.trigger
            );
            hisp.audit(conn, "notify", "patient.index_conflict", &subject, &detail)
                .await?;
            return finish(batch, row, "index conflict", Done::Quiet("index conflict"));
        }
        // The message's non-empty fields win; identifiers accumulate.
        let mut person = same.iter().fold(StoredPatient::default(), |acc, k| {
            notify::merge_person(&acc, k)
        });
        person = notify::merge_person(&person, &ev.patient);
        drop_placeholders(&mut person.identifiers);
        // An identifier the index holds for someone this message cannot be
        // names two people: it is disputed, kept by neither and never filed
        // again, so it links no one.
        let shared: Vec<(String, String)> = ids
            .iter()
            .filter(|id| {
                others
                    .iter()
                    .any(|o| o.identifiers.iter().any(|x| notify::same_id(x, id)))
            })
            .cloned()
            .collect();
        if !shared.is_empty() {
            notify::index_dispute(conn, sealer, &shared, now).await?;
            for mut other in others {
                other
                    .identifiers
                    .retain(|x| !shared.iter().any(|s| notify::same_id(x, s)));
                notify::index_write(conn, sealer, &other, now).await?;
            }
            person
                .identifiers
                .retain(|x| !shared.iter().any(|s| notify::same_id(x, s)));
            let detail = format!(
                "{}: {} identifier(s) named two different people and are disputed",
                ev.trigger,
                shared.len()
            );
            hisp.audit(conn, "notify", "patient.index_conflict", &subject, &detail)
                .await?;
        }
        notify::index_write(conn, sealer, &person, now).await?;
        // Later rows read the index outside this transaction: commit first.
        batch.stale = true;
        let done = Done::Quiet("patient index updated");
        finish(batch, row, "indexed", done)
    }

    /// Run the state machine for the event's encounter; returns the change and
    /// the encounter's new state, which the caller saves once the alerts are
    /// out (so a failure before that re-decides the same change on retry). A
    /// change already alerted becomes quiet.
    async fn advance(
        &self,
        batch: &mut Batch,
        ev: &AdtEvent,
    ) -> Result<(Change, Advanced), OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let key = stored_key(hisp.store.sealer(), &ev.encounter_key)?;
        let conn = batch.conn(hisp).await?;
        let read = notify::encounter(
            conn,
            &ev.sending_facility.to_lowercase(),
            &key,
            Some(keyed_by(ev)),
            now,
        )
        .await?;
        Ok(decide(ev, read))
    }
}

/// The encounter state machine's step for `ev` from the encounter as `read`:
/// the change, and the encounter's new state (no I/O).
fn decide(ev: &AdtEvent, read: EncounterRow) -> (Change, Advanced) {
    let mut enc = read.clone();
    let mut alerted: Vec<String> = enc
        .alerted
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let at = hl7::timestamp(&ev.event_time).map(|(_, at)| at);
    let episode = adt::new_episode(ev, at, &enc.state, enc.state_at);
    if episode {
        alerted = retire(&alerted);
        enc.alerted = alerted.join(",");
        // When the episode ended: its discharge or cancellation, or for an
        // ED visit never discharged, 48 hours on (session 38, review:
        // before, its arrival, so the visit's own delayed discharge read as
        // the new episode's).
        enc.closed_at = match enc.state.as_str() {
            "ed" => enc
                .state_at
                .map(|t| t.saturating_add(adt::ED_CLOSES_AFTER_SECS)),
            _ => enc.state_at,
        };
    }
    let refs: Vec<&str> = alerted.iter().map(String::as_str).collect();
    let (change, state) = adt::decide(ev, &enc.state, &refs);
    // A message timed before the encounter's state (a late or replayed
    // one) may still alert a change never alerted, but does not move the
    // state back: a discharged visit stays discharged, so its
    // readmission is still a new episode.
    let late = matches!((at, enc.state_at), (Some(at), Some(since)) if at < since);
    // A late message from the closed episode (timed at or before its
    // close) about a change it alerted (`discharge!`) is a replay: not
    // news in the live one. One timed after the close is the new
    // episode's, arrived out of order, and alerts as its own.
    let of_closed = match (at, enc.closed_at) {
        (Some(at), Some(closed)) => at <= closed,
        _ => true,
    };
    let closed_before = |key: &str| {
        late && of_closed
            && refs
                .iter()
                .any(|k| Ended::of(k) == (key, Some(Ended::Closed)))
    };
    // A transfer into a facility the patient has since left is news
    // again only when timed after they left it (a return); else it is
    // the first transfer replayed, or a time that does not read.
    let left_since = |key: &str| {
        let left = refs
            .iter()
            .filter_map(|k| match Ended::of(k) {
                (change, Some(Ended::Left(t, _))) if change == key => Some(t),
                _ => None,
            })
            .max();
        left.is_some_and(|t| at.is_none_or(|at| at <= t))
    };
    // A change cancelled is news again unless timed before its
    // cancellation, and a retraction unless timed before a retraction of
    // its kind already made (A11s of a registration, A12s of a transfer,
    // A13s of a discharge; each cancels the latest first, no earlier than
    // the last): else it is the change, or the cancellation, replayed
    // under a new control id, which carries its original time. Without
    // this a replayed A12 retracted the transfer the A12 after it had
    // revived, a replayed A11 the ED visit whose admission the first had
    // cancelled, and a replayed A13 the real discharge that followed.
    // Strictly before for transfers: EVN-2 is often to the minute, and
    // two A12s, or an A12 and the corrected move, in one minute are real.
    // At or before for the others: the first A11's or A13's own time is
    // what its replay carries, and a second real one in its very minute
    // (cancelling the admission, then the ED visit it came from) is rarer
    // than a replay, whose false retraction would hide a real visit.
    let cancelled_since = |key: &str| {
        let (retraction, base) = match key.strip_prefix("retract:") {
            Some(base) => (true, base),
            None => (false, key),
        };
        let cancelled = refs
            .iter()
            .filter_map(|k| match Ended::of(k) {
                (change, Some(Ended::Cancelled(Some(t))))
                    if change == base || (retraction && adt::cancelled_alike(change, base)) =>
                {
                    Some(t)
                }
                _ => None,
            })
            .max();
        let inclusive = retraction && !base.starts_with("transfer:");
        cancelled.is_some_and(|t| at.is_none_or(|at| at < t || (inclusive && at == t)))
    };
    // A replay (what `closed_before`, `left_since` and `cancelled_since`
    // tell) moves no state either, as a late message does: a replayed A13
    // timed in the very minute of the discharge that followed it would
    // otherwise put that discharged patient back in hospital, and the
    // readmission after it would begin no episode and never alert.
    let replay = matches!(&change, Change::Alert { key, .. }
        if closed_before(key) || left_since(key) || cancelled_since(key));
    if !late && !replay {
        if episode || state != enc.state {
            enc.state_at = at;
        }
        enc.state = state;
    }
    let change = match change {
        Change::Alert { key, .. } if replay || refs.contains(&key.as_str()) => Change::Quiet,
        Change::Alert { event, key } => {
            let (mut keys, unique) = remember(&alerted, &key, at);
            // News of the closed episode (timed at or before its close, after
            // a new one began) is that episode's: kept closed, so it does not
            // take the live episode's change (a delayed discharge of the
            // first ED visit made the second's discharge quiet).
            if late
                && of_closed
                && enc.closed_at.is_some()
                && !key.starts_with("retract:")
                && let Some(last) = keys.last_mut()
                && *last == key
            {
                *last = format!("{key}{}", Ended::Closed.mark());
            }
            if let Some(at) = at.filter(|t| *t >= 0 && key.starts_with("transfer:")) {
                keys = leave(keys, &key, at, &unique);
            }
            if key.starts_with("retract:transfer:")
                && let Some(cancelled) = retracted(&unique)
            {
                keys = revive(keys, &cancelled, enc.closed_at);
            }
            enc.alerted = keys.join(",");
            Change::Alert { event, key: unique }
        }
        Change::Quiet => Change::Quiet,
    };
    (change, Advanced { new: enc, read })
}

impl Notifier {
    /// Save the encounter's new state; false when another worker changed it
    /// since it was read (the row is then run again).
    async fn save(&self, batch: &mut Batch, enc: &Advanced) -> Result<bool, OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let conn = batch.conn(hisp).await?;
        Ok(notify::save_encounter(conn, &enc.new, &enc.read, now).await?)
    }

    /// Alert each matched subscriber (near misses go to the review queue),
    /// and a retraction to whoever of `told` was told of what it cancels.
    async fn alert_subscribers(
        &self,
        row: &AdtRow,
        content: &Content,
        target: &Target<'_>,
        (matches, told): (&[(String, Matched<'_>)], &[Told]),
        snap: &Snapshot,
    ) -> Result<Option<Vec<String>>, OpsError> {
        let hisp = &self.gw.hisp;
        let mut sent = Vec::new();
        // An opt-out (or roster change) recorded while the alerts go out stops
        // the rest (`send_alert` and `queue_review` check as they write,
        // under the change counter): the row runs again on a fresh snapshot, and what was
        // already filed is found again (alerts by their change key, reviews
        // by theirs), not doubled.
        // A retraction goes to whoever was told of what it cancels. One
        // matched now only as a near miss gets it directly, below, under the
        // entry that alert matched: the visit, not the match, says it is
        // theirs, and a review rejected (rightly: another patient of theirs
        // is the near miss) would leave them the wrong notice.
        let retraction = target.event == "retraction";
        let sure = |owner: &str| {
            matches
                .iter()
                .any(|(o, m)| o == owner && matches!(m, Matched::Yes(_)))
        };
        for (owner, matched) in matches {
            let direct = |t: &Told| t.owner == *owner && t.sendable && t.same;
            if retraction && !sure(owner) && told.iter().any(direct) {
                continue;
            }
            let mut waits = false;
            if retraction {
                let mut conn = hisp.conn().await?;
                match cancelled_unsent(&mut conn, owner, target.encounter_id, target.key).await? {
                    None => continue,
                    Some(unsent) => waits = unsent,
                }
            }
            let entry = match matched {
                Matched::Yes(e) => *e,
                Matched::Review(e, score) => {
                    let review = target.review(row, e, *score);
                    if !self.queue_review(&review, target.generation).await? {
                        return Ok(None);
                    }
                    continue;
                }
                Matched::Withheld(e, score) => {
                    let mut review = target.review(row, e, *score);
                    review.withheld_by = target.withheld_by;
                    if !self.queue_review(&review, target.generation).await? {
                        return Ok(None);
                    }
                    continue;
                }
            };
            let digest = snap.digest(owner) || waits;
            match self.send_alert(content, target, entry, digest).await? {
                Filing::Filed => sent.push(owner.clone()),
                Filing::Not | Filing::Disabled => {}
                Filing::Stale => return Ok(None),
            }
        }
        // Those told of the cancelled change whom the roster no longer
        // matches for sure, under the entry their alert matched.
        let unmatched = told
            .iter()
            .filter(|t| t.sendable && t.same && !sure(&t.owner));
        for t in unmatched.filter(|_| retraction) {
            let mut conn = hisp.conn().await?;
            let cancelled = cancelled_unsent(&mut conn, &t.owner, target.encounter_id, target.key);
            let Some(waits) = cancelled.await? else {
                continue;
            };
            drop(conn);
            let Some(entry) = &t.entry else {
                continue;
            };
            let digest = snap.digest(&t.owner) || waits;
            match self.send_alert(content, target, entry, digest).await? {
                Filing::Filed => sent.push(t.owner.clone()),
                Filing::Not | Filing::Disabled => {}
                Filing::Stale => return Ok(None),
            }
        }
        Ok(Some(sent))
    }

    /// Who was alerted about the visit `ev` is about (`visit_recipients`),
    /// each with the roster entry their latest alert matched while it is
    /// kept (ended ones too). Nothing when the visit alerted no one.
    ///
    /// Read as committed, when the batch's rows are planned: an alert filed
    /// by an earlier row of the same batch is not seen. That row matched
    /// under the same snapshot, so its subscribers are matched here too
    /// unless this message names the patient differently (as before).
    async fn told_of_visit(&self, ev: &AdtEvent) -> Result<Vec<Told>, OpsError> {
        let hisp = &self.gw.hisp;
        let sealer = hisp.store.sealer();
        let key = stored_key(sealer, &ev.encounter_key)?;
        let facility = ev.sending_facility.to_lowercase();
        let mut conn = hisp.conn().await?;
        let found = notify::find_encounter(&mut conn, &facility, &key).await?;
        let Some(enc) = found.filter(|e| !e.alerted.is_empty()) else {
            return Ok(Vec::new());
        };
        let mut told = Vec::new();
        for r in notify::visit_recipients(&mut conn, enc.id).await? {
            let entry = match r.roster_entry_id {
                // Under each name its authority goes by, as the snapshot's
                // entries are (`read_authorities`).
                Some(id) => notify::entry(&mut conn, sealer, id, 0)
                    .await?
                    .filter(|e| e.owner == r.subscriber)
                    .map(super::roster::read_entry),
                None => None,
            };
            // A removed practice's alerts went to a tombstone owner, which
            // is no address; a disabled one is not sent to (checked again
            // as the retraction is filed).
            let sendable = DirectAddress::parse(&r.subscriber).is_ok()
                && addresses::is_enabled(&mut conn, &r.subscriber).await?;
            told.push(Told {
                sendable,
                same: false,
                owner: r.subscriber,
                entry,
            });
        }
        Ok(told)
    }

    /// File the alert (once per change) and send it, unless the subscriber
    /// takes a daily digest. Nothing is filed when it existed, an identical
    /// alert went out within the dedup window, or the feeds, rosters,
    /// consents or enabled addresses changed since `target.generation` (an
    /// opt-out recorded, or the subscriber disabled, after the decision): the
    /// filing transaction reads the change counter so that it cannot move
    /// until the alert is filed, so an opt-out or a disable is recorded either
    /// before (and seen) or after the alert.
    pub(super) async fn send_alert(
        &self,
        content: &Content,
        target: &Target<'_>,
        entry: &RosterEntry,
        digest: bool,
    ) -> Result<Filing, OpsError> {
        let hisp = &self.gw.hisp;
        let ready = self.ready_alert(content, target, entry, digest).await?;
        // A queued write transaction (see `Store::begin`), not autocommit
        // writes polling SQLite's lock while the MLLP intake commits.
        let mut tx = hisp.store.begin().await?;
        let held = notify::generation_held(&mut tx, hisp.store.engine()).await?;
        if target.generation != Some(held) {
            return Ok(Filing::Stale);
        }
        let mut handed = Vec::new();
        let (filing, done) = self
            .file_alert(&mut tx, &ready, content, target, entry, &mut handed)
            .await?;
        if filing == Filing::Filed {
            tx.commit().await?;
        }
        if let Some(done) = done {
            self.gw.submitted(&done, handed).await;
        }
        Ok(filing)
    }

    /// Render, sign and encrypt an alert, before the write transaction that
    /// files it: one turn of the writer, and no crypto inside it. (Should
    /// the filing find nothing to send, the sealing was wasted: a rare race
    /// with an opt-out, a disable or another node.) Nothing is written.
    pub(super) async fn ready_alert(
        &self,
        content: &Content,
        target: &Target<'_>,
        entry: &RosterEntry,
        digest: bool,
    ) -> Result<ReadyAlert, OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let from = self.sender().await?;
        let to = DirectAddress::parse(&entry.owner)?;
        let id = random_id()?;
        let (ev, raw) = (&content.ev, content.raw.as_slice());
        // A retraction says which alert it takes back.
        let retracts = match retracted(target.key).filter(|_| target.event == "retraction") {
            Some(cancelled) => {
                let mut conn = hisp.conn().await?;
                notify::filed_alert(&mut conn, &entry.owner, target.encounter_id, &cancelled)
                    .await?
                    .map(|a| {
                        alert::retracted_alert(
                            &a.event,
                            a.event_time.as_deref(),
                            a.message_id.as_deref(),
                        )
                    })
            }
            None => None,
        };
        let ctx = AlertContext {
            from: &from,
            to: &to,
            event: target.event,
            facility_name: &target.feed.name,
            program: entry.program.as_deref(),
            adt: raw,
            now,
            id: &id,
            withheld: content.withheld,
            retracts: retracts.as_deref(),
        };
        let summary = alert::summary(ev, &ctx);
        let message = match digest {
            true => None,
            false => {
                let message = alert::render(ev, &ctx);
                let prepared = self
                    .gw
                    .prepare(&self.submission(&from, &to, &message))
                    .await?;
                Some((message, prepared))
            }
        };
        Ok(ReadyAlert {
            from,
            to,
            summary,
            message,
        })
    }

    /// File a ready alert (once per change) in `conn`, a write transaction
    /// that has checked the change counter (`generation_held`), and queue
    /// its message unless the subscriber takes a daily digest; the local
    /// copies to hand over after the commit go to `handed`. Nothing is
    /// written unless it is `Filing::Filed` (a savepoint undoes a filing that
    /// finds its alert sent meanwhile). The submission to pass to
    /// `Gateway::submitted` after the commit comes back with it.
    pub(super) async fn file_alert(
        &self,
        conn: &mut AnyConnection,
        ready: &ReadyAlert,
        content: &Content,
        target: &Target<'_>,
        entry: &RosterEntry,
        handed: &mut Vec<Handed>,
    ) -> Result<(Filing, Option<Submitted>), OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let digest = ready.message.is_none();
        let ev = &content.ev;
        let new = NewAlert {
            subscriber: &entry.owner,
            encounter_id: target.encounter_id,
            change_key: target.key,
            event: target.event,
            program: entry.program.as_deref(),
            facility: &target.feed.facility,
            summary: &ready.summary,
            roster_entry_id: Some(entry.id),
            event_time: &ev.event_time,
            patient: digest.then_some(&content.patient),
            withholding: content.withholding.as_ref().filter(|_| digest),
            record: Some(content.record.as_slice()).filter(|_| digest && !content.released),
        };
        let window = i64::try_from(hisp.config.notify.dedup_window_secs).unwrap_or(i64::MAX);
        // Disabling bumps the counter, so a snapshot that matched this
        // subscriber saw them enabled; checked here as well, under the
        // held counter, since a review's confirmation decides outside
        // the snapshot's matching.
        if !addresses::is_enabled(conn, &entry.owner).await? {
            return Ok((Filing::Disabled, None));
        }
        if target.event != "retraction"
            && window > 0
            && notify::identical_alert_since(conn, &new, now.saturating_sub(window)).await?
        {
            tracing::info!(
                event = target.event,
                "identical alert sent within the dedup window: not sent again"
            );
            return Ok((Filing::Not, None));
        }
        sqlx::query("SAVEPOINT alert_filing")
            .execute(&mut *conn)
            .await
            .map_err(crate::store::StoreError::from)?;
        let filed = self
            .file_new_alert(conn, ready, &new, target, entry, handed)
            .await;
        let keep = matches!(filed, Ok((Filing::Filed, _)));
        let ends: &[&str] = match keep {
            true => &["RELEASE SAVEPOINT alert_filing"],
            false => &[
                "ROLLBACK TO SAVEPOINT alert_filing",
                "RELEASE SAVEPOINT alert_filing",
            ],
        };
        for end in ends {
            if let Err(e) = sqlx::query(*end).execute(&mut *conn).await {
                // The filing's own error, if any, is the one that says why.
                filed?;
                return Err(crate::store::StoreError::from(e).into());
            }
        }
        if !keep {
            handed.clear();
        }
        filed
    }

    /// `file_alert`'s writes, inside its savepoint.
    async fn file_new_alert(
        &self,
        conn: &mut AnyConnection,
        ready: &ReadyAlert,
        new: &NewAlert<'_>,
        target: &Target<'_>,
        entry: &RosterEntry,
        handed: &mut Vec<Handed>,
    ) -> Result<(Filing, Option<Submitted>), OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let alert_id = match notify::insert_alert(conn, hisp.store.sealer(), new, now).await? {
            Some(id) => id,
            // Filed but never sent (a failure or crash before the submit): send it now.
            None if ready.message.is_none() => return Ok((Filing::Not, None)),
            None => {
                let unsent =
                    notify::unsent_alert(conn, &entry.owner, target.encounter_id, target.key)
                        .await?;
                match unsent {
                    Some(id) => id,
                    None => return Ok((Filing::Not, None)),
                }
            }
        };
        let Some((message, prepared)) = &ready.message else {
            // Filed in the worklist; the daily digest carries it.
            return Ok((Filing::Filed, None));
        };
        // Marked sent in the transaction that queues it, so a failure after
        // the submit cannot send it twice.
        let sub = self.submission(&ready.from, &ready.to, message);
        match self
            .gw
            .write_prepared(conn, &sub, prepared, &[alert_id], handed)
            .await
        {
            // Another node sent it meanwhile, or an opt-out withdrew it.
            Err(e) if sent_already(&e) => Ok((Filing::Not, None)),
            Err(e) => Err(e),
            Ok(done) => Ok((Filing::Filed, Some(done))),
        }
    }

    /// The submission of an alert or digest `message` from the notification
    /// address to `to` through the outbound Direct path.
    fn submission<'a>(
        &self,
        from: &'a DirectAddress,
        to: &'a DirectAddress,
        message: &'a [u8],
    ) -> Submission<'a> {
        Submission {
            mail_from: from,
            rcpts: std::slice::from_ref(to),
            message,
            actor: "notify",
            sent_copy: false,
            final_delivery: FinalDelivery::WhenRemote,
        }
    }

    /// Send `message` from the notification address to `to` through the
    /// outbound Direct path, recording its Message-ID on the filed alerts it
    /// carries (one alert, or a digest's) in the same transaction.
    pub(super) async fn send_filed(
        &self,
        from: &DirectAddress,
        to: &DirectAddress,
        message: &[u8],
        alert_ids: &[i64],
        generation: Option<i64>,
    ) -> Result<(), OpsError> {
        let sub = self.submission(from, to, message);
        // Marked sent in the transaction that queues it (`submit_carrying`),
        // so a failure after the submit cannot send it twice; under the
        // change counter the alerts were judged at.
        self.gw.submit_carrying(&sub, alert_ids, generation).await?;
        Ok(())
    }

    /// A40, A39, A34, A36, A18 (merges) and A47 (an identifier corrected):
    /// the MRG-1 identifier is retired in favour of PID-3's (STANDARDS.md §8:
    /// "An A40 merge retires the MRG-1 identifier"), and MRG-4's in favour
    /// of PID-2's, in the rosters, the consent decisions (which keep it too)
    /// and the patient index. The survivor is the group's identifier from
    /// the retired one's assigning authority, else the first of the
    /// succeeding field, else PID-3's first (`adt::Merge`).
    async fn merge(
        &self,
        batch: &mut Batch,
        row: &AdtRow,
        ev: &AdtEvent,
        opted: &[bool],
        snap: &Snapshot,
    ) -> Result<Done, OpsError> {
        if ev.merged.is_empty() {
            let done = Done::Quiet("nothing to merge");
            return finish(batch, row, "merge without MRG or PID identifiers", done);
        }
        // A merge bumps the change counter: taken as the transaction's
        // first lock, as for an alert filed ahead, so a batch holding
        // encounter rows commits them before it waits for the counter.
        // Before, on PostgreSQL, a batch that had saved an encounter bumped
        // the counter at the merge: another node's batch holding the
        // counter and waiting for that encounter deadlocked with it, and
        // one of them was rolled back and retried.
        //
        // `opted` was judged against the snapshot: when a consent decision
        // was recorded since (it holds the counter too), the row is planned
        // again. Before, an opt-out under the survivor committed after the
        // plan left the retired number's person filed under the survivor.
        // Only decisions count (recorded, or rewritten by another merge):
        // any other change (a roster import) leaves `opted` as it was, and
        // a merge that kept meeting them would be given up.
        let held = batch.hold_counter(&self.gw).await?;
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let sealer = hisp.store.sealer();
        let conn = batch.conn(hisp).await?;
        if held.is_some_and(|h| snap.generation() != Some(h))
            && notify::consent_stamp(conn).await? != snap.consent_stamp
        {
            return Ok(Done::Again);
        }
        let (mut n, mut c) = (0, 0);
        for (i, adt::Merge { retired, survivor }) in ev.merged.iter().enumerate() {
            let opted_out = opted.get(i).copied().unwrap_or(true);
            // Kept for opt-outs recorded later under either number, when
            // the hospital said for sure they are one person's (and the
            // index holds neither number as two people's).
            let sure = kept_merge(&ev.trigger, retired, survivor)
                && !notify::index_disputed(conn, sealer, retired).await?
                && !notify::index_disputed(conn, sealer, survivor).await?;
            if sure {
                notify::record_merge(conn, sealer, retired, survivor, now).await?;
            }
            n += notify::merge_identifier(conn, sealer, retired, survivor, now).await?;
            c += notify::merge_consent_identifier(conn, sealer, retired, survivor, sure).await?;
            // An opted-out patient's index people are unfiled, not merged.
            if opted_out {
                notify::unfile_merged(conn, sealer, retired, survivor).await?;
            } else {
                notify::index_merge(conn, sealer, retired, survivor, now).await?;
            }
        }
        let subject = format!("adt {}", row.id);
        let mut detail = format!(
            "{}: {} identifiers retired, {n} roster entries and {c} consent decisions updated",
            ev.trigger,
            ev.merged.len()
        );
        if opted.iter().any(|o| *o) {
            detail
                .push_str("; the patient opted out: nothing of theirs stays in the patient index");
        }
        hisp.audit(conn, "notify", "patient.merge", &subject, &detail)
            .await?;
        // The rosters changed: the worker reloads them before the next message.
        batch.stale = true;
        finish(batch, row, "merged", Done::Quiet("identifiers merged"))
    }

    /// A45 (visit moved) and A50 (visit number changed): the encounter MRG-5
    /// names is the one PV1-19 names from now on, so its changes are not
    /// alerted again under the new number (nor a retraction missed). A35 and
    /// A49 (account number changed) do the same from MRG-3 to PID-18 for an
    /// encounter keyed by its account number (`notify::KeyedBy`).
    async fn renumber(
        &self,
        batch: &mut Batch,
        row: &AdtRow,
        ev: &AdtEvent,
    ) -> Result<Done, OpsError> {
        // A45/A50 move the visit number (MRG-5 to PV1-19), A35/A49 the
        // account number (MRG-3 to PID-18): each renumbers only a visit
        // keyed by that number (PID-18 keys one only without a real PV1-19).
        let (kind, prior, without) = if matches!(ev.trigger.as_str(), "A35" | "A49") {
            (
                KeyedBy::Account,
                &ev.prior_account,
                "renumber without MRG-3",
            )
        } else {
            (KeyedBy::Visit, &ev.prior_visit, "renumber without MRG-5")
        };
        let named = keyed_by(ev) == kind;
        let Some(from) = prior.as_deref().filter(|f| named && *f != ev.visit) else {
            let result = match prior.as_deref() {
                None => without,
                Some(f) if f == ev.visit => "number unchanged",
                Some(_) => "visit not keyed by the number moved",
            };
            return finish(batch, row, result, Done::Quiet("no visit to renumber"));
        };
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let facility = ev.sending_facility.to_lowercase();
        let conn = batch.conn(hisp).await?;
        let moved = notify::renumber_encounter(conn, &facility, from, &ev.visit, kind, now).await?;
        let (result, done) = if moved {
            ("renumbered", Done::Quiet("visit renumbered"))
        } else {
            (
                "nothing renumbered",
                Done::Quiet("no encounter to renumber"),
            )
        };
        finish(batch, row, result, done)
    }

    /// Audit a suppressed alert with its reason (no PHI: the row id only).
    async fn suppressed(
        &self,
        batch: &mut Batch,
        row: &AdtRow,
        reason: &str,
    ) -> Result<(), OpsError> {
        let hisp = &self.gw.hisp;
        let conn = batch.conn(hisp).await?;
        hisp.audit(
            conn,
            "notify",
            "alert.suppressed",
            &format!("adt {}", row.id),
            reason,
        )
        .await
    }

    /// The notification address, issued on first use.
    pub async fn sender(&self) -> Result<DirectAddress, OpsError> {
        self.gw.hisp.notification_address().await
    }
}

/// Mark a row done in the batch's transaction (written, grouped by result,
/// when the batch commits).
fn finish(batch: &mut Batch, row: &AdtRow, result: &str, done: Done) -> Result<Done, OpsError> {
    batch.finishes.push((row.id, result.to_string()));
    Ok(done)
}

/// What an alert is about: the feed, the encounter and its change.
pub(super) struct Target<'a> {
    pub(super) feed: &'a FeedRow,
    pub(super) encounter_id: i64,
    pub(super) event: &'static str,
    pub(super) key: &'a str,
    /// The change counter of the snapshot the alert was decided under.
    pub(super) generation: Option<i64>,
    /// The near misses whose opt-outs alone withheld it (`Visit`), when
    /// they did: its sure matches are held for review.
    pub(super) withheld_by: Option<&'a str>,
}

impl Target<'_> {
    /// The review of `row`'s near miss `entry`, for this change.
    fn review<'k>(
        &'k self,
        row: &AdtRow,
        entry: &RosterEntry,
        score: f64,
    ) -> notify::NewReview<'k> {
        notify::NewReview {
            adt_id: row.id,
            entry_id: entry.id,
            score,
            encounter_id: self.encounter_id,
            change_key: self.key,
            event: self.event,
            withheld_by: None,
        }
    }
}

/// Roster entries' identifiers as matching reads them (in the snapshot only;
/// stored as typed): each also under every name its assigning authority
/// goes by (`adt::authority_names`), so a row typed with a whole HD
/// (`NORTH&OID&ISO`) or `urn:oid:` is found by a feed sending either name,
/// as consent decisions are. Not a name another entry of the same roster
/// holds as typed: two rows naming one number by its two names stay two
/// sure matches (each by the name a feed sends), not a conflict for review.
/// Before, such a row matched by demographics only.
fn read_authorities(entries: &mut [RosterEntry]) {
    let key =
        |value: &str, authority: &str| (value.trim().to_string(), authority.trim().to_lowercase());
    let mut typed: HashMap<(&str, (String, String)), Vec<i64>> = HashMap::new();
    for e in entries.iter() {
        for (value, authority) in &e.patient.identifiers {
            typed
                .entry((&e.owner, key(value, authority)))
                .or_default()
                .push(e.id);
        }
    }
    let mut names: Vec<(usize, (String, String))> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        // Per entry: each name once, and none it holds already (a set, so
        // a load stays linear in the rosters' size).
        let mut seen: std::collections::HashSet<(String, String)> = e
            .patient
            .identifiers
            .iter()
            .map(|(v, a)| key(v, a))
            .collect();
        for (value, authority) in &e.patient.identifiers {
            for name in super::adt::authority_names(authority) {
                let k = key(value, &name);
                let other = typed
                    .get(&(e.owner.as_str(), k.clone()))
                    .is_some_and(|ids| ids.iter().any(|x| *x != e.id));
                if !other && seen.insert(k) {
                    names.push((i, (value.clone(), name)));
                }
            }
        }
    }
    for (i, id) in names {
        entries[i].patient.identifiers.push(id);
    }
}

/// Which number keys the event's encounter (`adt::encounter_key`): recorded
/// with the encounter so a renumber moves only its own kind of number.
fn keyed_by(ev: &AdtEvent) -> KeyedBy {
    match (
        !ev.visit.is_empty() && ev.encounter_key == ev.visit,
        ev.visit_is_account,
    ) {
        (true, false) => KeyedBy::Visit,
        (true, true) => KeyedBy::Account,
        (false, _) => KeyedBy::Derived,
    }
}

/// The key an encounter is stored under: the visit number, or for a key
/// `adt::encounter_key` derived from the patient's identifier (`~…`), a keyed
/// hash of it (`Sealer::blind`), so the MRN cannot be recovered by hashing
/// candidates.
fn stored_key(sealer: &crate::store::Sealer, key: &str) -> Result<String, OpsError> {
    match key.strip_prefix('~') {
        Some(derived) => {
            let blind = sealer
                .blind("encounter", derived.as_bytes())
                .map_err(crate::store::StoreError::from)?;
            Ok(format!("~{}", blind.get(..24).unwrap_or(&blind)))
        }
        None => Ok(key.to_string()),
    }
}

/// An encounter as the state machine left it, and as it was read.
struct Advanced {
    new: EncounterRow,
    read: EncounterRow,
}

/// An alert rendered, signed and encrypted for one subscriber, to be filed
/// (`Notifier::ready_alert`, `Notifier::file_alert`).
pub(super) struct ReadyAlert {
    from: DirectAddress,
    to: DirectAddress,
    /// The worklist's summary of it.
    summary: String,
    /// The message and its prepared submission; none for a subscriber who
    /// takes the daily digest.
    message: Option<(Vec<u8>, Prepared)>,
}

/// What `Notifier::send_alert` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Filing {
    /// Filed now (and sent, or left for the digest), or filed before and
    /// only now sent.
    Filed,
    /// Not filed: it was already, or an identical alert went out.
    Not,
    /// Not filed: feeds, rosters, consents or enabled addresses changed
    /// since the decision.
    Stale,
    /// Not filed: the subscriber's address is disabled.
    Disabled,
}

/// The encounter's alerted changes after alerting `key`, and the alert's
/// unique key. A retraction tombstones the change it cancels (`admit~`), so
/// the same change may alert again later (a real discharge after an A13);
/// so does a new episode (`admit!`, see [`retire`]). Each generation of a
/// change gets its own alert key (`discharge#2`): a change's entries stand
/// in the order they were alerted (a new one at the end, a mark where the
/// entry is), so an entry's generation is its place among its change's.
/// That holds when an A12 revives an older transfer (see [`revive`]),
/// which then is not the last of its facility's.
///
/// A retraction, timed `at`, marks what it cancels with that time
/// (`transfer:south~<unix>`, `admit~<unix>`), for the replays `decide`
/// ignores.
fn remember(alerted: &[String], key: &str, at: Option<i64>) -> (Vec<String>, String) {
    let mut keys = alerted.to_vec();
    let (base, at) = match key.strip_prefix("retract:") {
        Some(cancelled) => {
            let when = at.filter(|t| *t >= 0);
            let marked = format!("{cancelled}{}", Ended::Cancelled(when).mark());
            match keys.iter().position(|k| k == cancelled) {
                Some(i) => {
                    keys[i] = marked;
                    (cancelled, i)
                }
                None => {
                    keys.push(marked);
                    (cancelled, keys.len() - 1)
                }
            }
        }
        None => {
            keys.push(key.to_string());
            (key, keys.len() - 1)
        }
    };
    let generation = keys
        .iter()
        .take(at + 1)
        .filter(|k| Ended::of(k).0 == base)
        .count();
    (keys, format!("{key}#{generation}"))
}

/// The alerted changes once a transfer into `key` was alerted, timed `at`,
/// under the alert key `by` (`transfer:south#2`): every other live transfer
/// is left (`transfer:north^<at>@transfer:south#2`), so a return there
/// later is news again.
fn leave(alerted: Vec<String>, key: &str, at: i64, by: &str) -> Vec<String> {
    alerted
        .into_iter()
        .map(|k| {
            if k != key && k.starts_with("transfer:") && Ended::of(&k).1.is_none() {
                format!("{k}{}", Ended::Left(at, Some(by)).mark())
            } else {
                k
            }
        })
        .collect()
}

/// The alerted changes once the transfer alerted as `cancelled`
/// (`transfer:south#2`) was cancelled (A12): the transfers it had left are
/// live again, where the patient still is, so the A12 that cancels the move
/// before it finds that move's transfer. Transfers left by any other move
/// stay left: one left in an earlier episode, or by a move since cancelled,
/// is not where the patient is. Marks that do not name their transfer
/// (written before they did) follow the old rule, the latest of them, in a
/// list where no mark names one and only those of the live episode (left
/// after `closed_at`, when the last one closed).
fn revive(alerted: Vec<String>, cancelled: &str, closed_at: Option<i64>) -> Vec<String> {
    let named = alerted
        .iter()
        .any(|k| matches!(Ended::of(k).1, Some(Ended::Left(_, Some(_)))));
    let latest = alerted
        .iter()
        .filter_map(|k| match Ended::of(k) {
            (_, Some(Ended::Left(t, None)))
                if !named && closed_at.is_none_or(|closed| t > closed) =>
            {
                Some(t)
            }
            _ => None,
        })
        .max();
    alerted
        .into_iter()
        .map(|k| match Ended::of(&k) {
            (change, Some(Ended::Left(_, Some(by)))) if by == cancelled => change.to_string(),
            (change, Some(Ended::Left(t, None))) if Some(t) == latest => change.to_string(),
            _ => k,
        })
        .collect()
}

/// The alerted changes once an episode of the encounter is over (a new one
/// began): each live one is closed (`admit!`), so it alerts again, under its
/// next generation's key; a review of the closed one may still be
/// confirmed (it was not cancelled).
fn retire(alerted: &[String]) -> Vec<String> {
    alerted
        .iter()
        .map(|k| match Ended::of(k) {
            (_, Some(_)) => k.clone(),
            (change, None) => format!("{change}{}", Ended::Closed.mark()),
        })
        .collect()
}

/// For a retraction's key (`retract:admit#1`), the key of the alert it
/// retracts (`admit#1`).
pub(super) fn retracted(key: &str) -> Option<String> {
    let (base, generation) = key.rsplit_once('#')?;
    Some(format!("{}#{generation}", base.strip_prefix("retract:")?))
}

/// The submit refused because an alert it carried was sent already or
/// withdrawn (`Gateway::submit_carrying`); nothing was queued.
pub(super) fn sent_already(e: &OpsError) -> bool {
    matches!(e, OpsError::Store(crate::store::StoreError::Conflict(_)))
}

/// Whether `owner` may be sent the change `key`: anything but a retraction,
/// and a retraction only when the alert it cancels was filed for them (a
/// subscriber enrolled since, or matched only now, never heard of it).
pub(super) async fn told_of_cancelled(
    conn: &mut AnyConnection,
    owner: &str,
    encounter_id: i64,
    key: &str,
) -> Result<bool, OpsError> {
    Ok(cancelled_unsent(conn, owner, encounter_id, key)
        .await?
        .is_some())
}

/// For a retraction to `owner` (`key`): `None` when the alert it cancels
/// was not filed for them; else whether that alert is still unsent, filed
/// for a digest. The retraction then goes in the digest too (one last
/// digest, for a subscriber gone back to real time), so that it cannot
/// arrive before the alert it takes back. (A real-time alert left unsent
/// by a failure is sent by its row's retry, not a digest: not this.)
pub(super) async fn cancelled_unsent(
    conn: &mut AnyConnection,
    owner: &str,
    encounter_id: i64,
    key: &str,
) -> Result<Option<bool>, OpsError> {
    let Some(cancelled) = retracted(key) else {
        return Ok(Some(false));
    };
    let filed = notify::filed_alert(conn, owner, encounter_id, &cancelled).await?;
    Ok(filed.map(|a| a.message_id.is_none() && a.for_digest))
}

fn random_id() -> Result<String, OpsError> {
    let mut b = [0u8; 16];
    openssl::rand::rand_bytes(&mut b).map_err(|e| OpsError::Invalid(e.to_string()))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// What an alert carries: the event and the ADT, redacted when consent is missing.
pub(super) struct Content {
    ev: AdtEvent,
    /// The patient as the message names them, every identifier kept (the
    /// redacted event can lose one whose authority is sensitive): sealed
    /// with a digest alert, for the opt-out sweep to judge it by.
    patient: StoredPatient,
    /// PID-4's numbers ([`alternate_record`], before redaction), sealed
    /// beside `patient` with a digest alert: an opt-out under one withholds it.
    withholding: Option<StoredPatient>,
    /// The hospital's record of the patient ([`hospital_record`]), sealed
    /// beside `patient` with a digest alert: the digest judges the pairs
    /// set apart for it as the worker did.
    record: Vec<(String, String)>,
    /// Released by a person confirming a held review
    /// ([`Self::released_by_review`]): its digest alert is sealed with no
    /// record, so every pair of its entry counts, the one the confirmation
    /// recorded included, whatever number the message named (none, say).
    released: bool,
    raw: Vec<u8>,
    /// The patient has no recorded opt-in, so sensitive content, if any, was
    /// left out (`sensitive`): the alert says so.
    withheld: bool,
}

impl Content {
    /// The alert's content under the patient's recorded `consent`: without
    /// opt-in, the event loses what is sensitive and the attachment keeps
    /// only what an alert reads (`sensitive::redact_raw`).
    ///
    /// **Decision:** the notice that sensitive content is withheld goes on
    /// every alert about a patient without recorded opt-in, whether or not
    /// anything was. Shown only when something was, the notice would itself
    /// tell the care manager that the patient has a mental health, substance
    /// use or HIV diagnosis.
    pub(super) fn new(ev: AdtEvent, raw: &[u8], consent: Option<&str>) -> Self {
        if consent == Some(OPT_IN) {
            // Whole, in ER7's own form (CR after each segment, no BOM or
            // blank lines), as the redacted attachment is; before, it went
            // as received, LF and all, to opted-in patients' subscribers only.
            return Self {
                patient: ev.patient.clone(),
                withholding: alternate_record(&ev),
                record: hospital_record(&ev),
                released: false,
                ev,
                raw: crate::hl7::canonical(raw),
                withheld: false,
            };
        }
        let (redacted, _) = sensitive::redact_event(&ev);
        Self {
            ev: redacted,
            withholding: alternate_record(&ev),
            record: hospital_record(&ev),
            released: false,
            patient: ev.patient,
            raw: sensitive::redact_raw(raw),
            withheld: true,
        }
    }

    /// The hospital's record of the patient ([`hospital_record`]).
    pub(super) fn record(&self) -> &[(String, String)] {
        &self.record
    }

    /// Mark the content as released by a person confirming a held review
    /// (see `released`). Before, a confirmed message that named no medical
    /// record number was withdrawn by the digest as opted out: its pair
    /// covered no record.
    pub(super) fn released_by_review(&mut self) {
        self.released = true;
    }

    /// The sending facility (the feed) of the message.
    pub(super) fn facility(&self) -> &str {
        &self.ev.sending_facility
    }
}

/// Whether a merge is kept for opt-outs recorded later under either number
/// (`notify::record_merge`): a merge of two of one hospital's records (A40,
/// A39, A34, A36, A18), both numbers from one assigning authority, neither a
/// placeholder nor a social security number. An A47 corrects a number
/// that was wrong, perhaps someone else's; a survivor from another
/// authority is the message's fallback, not the hospital's statement; and a
/// social security number is a namespace every hospital shares. (The
/// caller also refuses a retired number the patient index holds as two
/// people's.) Kept pairs are joined transitively and never expire, so one
/// wrong pair would carry an opt-out to someone else.
fn kept_merge(trigger: &str, retired: &(String, String), survivor: &(String, String)) -> bool {
    let odd = |(v, a): &(String, String)| placeholder_identifier(v, a) || mpi::ssa_authority(a);
    matches!(trigger, "A40" | "A39" | "A34" | "A36" | "A18")
        && retired.1.trim().to_lowercase() == survivor.1.trim().to_lowercase()
        && !odd(retired)
        && !odd(survivor)
}

/// What one ADT row needs written, as read and matched against a snapshot
/// (`Notifier::plan`); good only while that snapshot stands.
enum Plan<'s> {
    /// Done without writing more than its completion: the result, and why.
    Quiet(&'static str, Done),
    /// A merge, and per identifier merged whether its patient has opted out.
    Merge(AdtEvent, Vec<bool>),
    Renumber(AdtEvent),
    /// The patient opted out: audited, nothing kept.
    OptedOut,
    /// A28/A31: into the patient index.
    Index(AdtEvent),
    /// A visit of a patient on an alerting roster: run its encounter.
    Encounter(Box<Visit<'s>>),
}

/// A rostered patient's event, with the rosters it matched.
struct Visit<'s> {
    ev: AdtEvent,
    feed: &'s FeedRow,
    matches: Vec<(String, Matched<'s>)>,
    /// For a cancellation, who was alerted about the visit (`told_of_visit`).
    told: Vec<Told>,
    consent: Option<&'static str>,
    /// Its alerts, made ready ahead of the batch's transaction.
    early: Option<Early>,
    /// The near misses (roster entry ids, comma-separated) whose opt-outs
    /// alone withheld the alert: every sure match in `matches` is then
    /// `Matched::Withheld`. Empty when none did.
    withheld_by: String,
}

/// Alerts made ready ahead (`Notifier::early_alerts`) for the change the
/// encounter as committed decided: used when the batch's transaction
/// decides the same.
struct Early {
    event: &'static str,
    key: String,
    content: Content,
    /// Per subscriber matched for sure.
    ready: Vec<(String, ReadyAlert)>,
}

/// A subscriber alerted about a visit, as a cancellation of it reads them.
struct Told {
    owner: String,
    /// An enabled address (not a removed practice's tombstone): it may be
    /// sent the retraction. The others' entries count for consent only.
    sendable: bool,
    /// `entry` is, for sure, the patient the cancellation names (set by
    /// `plan`): only then is it sent one, or its entry judged for consent.
    same: bool,
    /// The roster entry their latest alert about the visit matched, while
    /// it is kept (ended ones too): the retraction is filed under it.
    entry: Option<RosterEntry>,
}

/// A roster match.
#[derive(Clone, Copy)]
enum Matched<'a> {
    Yes(&'a RosterEntry),
    Review(&'a RosterEntry, f64),
    /// A sure match whose alert only near misses' opt-outs withheld: held
    /// for review, with the strongest near miss's score (`plan`).
    Withheld(&'a RosterEntry, f64),
}

/// Per roster owner, the entry matched.
type Matches<'a> = Vec<(String, Matched<'a>)>;

/// Two roster entries are one record of a patient: the same family and
/// given names (case aside), birth date and sex (not U), all given. A re-import
/// correcting an MRN (without `--replace`) leaves two such entries; twins
/// differ in given name.
fn same_record(a: &StoredPatient, b: &StoredPatient) -> bool {
    let name = |x: &str, y: &str| !x.trim().is_empty() && x.trim().eq_ignore_ascii_case(y.trim());
    name(&a.family, &b.family)
        && name(&a.given, &b.given)
        && a.birth_date.is_some()
        && a.birth_date == b.birth_date
        && a.sex.is_some_and(|s| !s.eq_ignore_ascii_case(&'U'))
        && a.sex == b.sex
}

impl<'a> Matched<'a> {
    /// The roster entry matched.
    fn entry(&self) -> &'a RosterEntry {
        match *self {
            Matched::Yes(e) | Matched::Review(e, _) | Matched::Withheld(e, _) => e,
        }
    }
}

/// Per roster owner, the stronger of two results (a match over a near miss
/// over none; `first`'s on a tie), in `first`'s order, then `second`'s new
/// owners.
fn stronger<'a>(
    first: Vec<(String, Matched<'a>)>,
    second: Vec<(String, Matched<'a>)>,
) -> Vec<(String, Matched<'a>)> {
    let rank = |m: &Matched<'_>| match m {
        Matched::Yes(_) | Matched::Withheld(..) => 2,
        Matched::Review(..) => 1,
    };
    let mut out = first;
    for (owner, m) in second {
        match out.iter_mut().find(|(o, _)| *o == owner) {
            Some(slot) if rank(&m) > rank(&slot.1) => slot.1 = m,
            Some(_) => {}
            None => out.push((owner, m)),
        }
    }
    out
}

/// One subscriber's roster, indexed for matching.
struct Roster {
    owner: String,
    /// The owner is an enabled address: it may be alerted. A disabled or
    /// removed one's roster only says who the patient is (consent).
    alerting: bool,
    entries: HashMap<i64, RosterEntry>,
    index: Index,
    /// When the newest of `entries` was added: a message received before
    /// it is matched against the roster as it stood then.
    newest: i64,
}

/// The worker's in-memory copy of the feeds, consents, rosters (each
/// subscriber's normalized and indexed once; a disabled one's only as
/// evidence of identity, see [`Roster::alerting`]) and delivery modes. Reloaded when the store's change counter
/// moves (any process or node that changes them, or disables or enables an
/// address, bumps it), when the earliest roster entry expires, and at least
/// every five minutes.
#[derive(Default)]
pub struct Snapshot {
    generation: Option<i64>,
    valid_until: i64,
    feeds: HashMap<String, FeedRow>,
    consents: Vec<(Index, String)>,
    /// Where the consent decisions stood when loaded
    /// (`notify::consent_stamp`, read before them): a merge judged against
    /// this copy checks it.
    consent_stamp: (Option<i64>, i64),
    /// Placeholder identifiers opt-outs were recorded under before they were
    /// refused: they match nobody, so such an opt-out would silently stop
    /// holding. Honoured on the message's own PID-3 and PID-2 (erring towards no
    /// alert); an opt-in under one never counts.
    placeholder_opt_outs: Vec<(String, String)>,
    rosters: Vec<Roster>,
    digest: Vec<String>,
    /// Pairs of roster entries a person judged to be different people
    /// (lower id first, migrations 0027 and 0028), one per review, each
    /// about one hospital record: the one does not withhold the other's
    /// alerts as a near miss for a message about that record (until
    /// `--undo-distinct`).
    distinct: Vec<notify::DistinctPair>,
    /// The patient index has someone (else no lookup is worth a query). Set
    /// when loaded and as soon as this worker indexes a person; another
    /// node's first A28/A31 is seen at the next reload (5 minutes at most).
    index_nonempty: bool,
}

/// The longest a snapshot is used without reloading, seconds.
const SNAPSHOT_MAX_AGE: i64 = 300;

impl Snapshot {
    /// Reload when stale.
    pub(super) async fn refresh(&mut self, n: &Notifier) -> Result<(), OpsError> {
        let hisp = &n.gw.hisp;
        let now = hisp.now();
        let mut conn = hisp.conn().await?;
        let generation = notify::generation(&mut conn).await?;
        if self.generation == Some(generation) && now < self.valid_until {
            return Ok(());
        }
        *self = Self::load(&mut conn, n, generation, now).await?;
        Ok(())
    }

    async fn load(
        conn: &mut AnyConnection,
        n: &Notifier,
        generation: i64,
        now: i64,
    ) -> Result<Self, OpsError> {
        let sealer = n.gw.hisp.store.sealer();
        let feeds = notify::feeds(conn)
            .await?
            .into_iter()
            .map(|f| (f.facility.to_ascii_lowercase(), f))
            .collect();
        // Read first: a decision recorded in between makes it older than
        // what is read, never newer (a merge plans again for nothing).
        let consent_stamp = notify::consent_stamp(conn).await?;
        let stored = notify::consents(conn, sealer).await?;
        let placeholder_opt_outs = stored
            .iter()
            .filter(|c| c.decision == OPT_OUT)
            .flat_map(|c| &c.patient.identifiers)
            .filter(|(value, authority)| placeholder_identifier(value, authority))
            .cloned()
            .collect();
        let consents = stored
            .into_iter()
            .map(|c| {
                // Decisions recorded before their authorities were read as
                // HDs (session 32) are read so now too.
                let patient = super::roster::consent_patient(&c.patient);
                let mut index = Index::new();
                index.insert(mpi_patient(c.id, &patient));
                (index, c.decision)
            })
            .collect();
        // A disabled (or removed) subscriber's roster is kept but alerts
        // no one (no alert, review or digest for it); disabling bumps the
        // counter. It still matches, as evidence of who the patient is: an
        // opt-out recorded under its identifiers still holds for the others.
        let enabled: std::collections::HashSet<String> =
            addresses::enabled(conn).await?.into_iter().collect();
        let mut entries = notify::entries(conn, sealer, None, now).await?;
        read_authorities(&mut entries);
        let valid_until = entries
            .iter()
            .map(|e| e.expires_at)
            .min()
            .unwrap_or(i64::MAX)
            .min(now + SNAPSHOT_MAX_AGE);
        let mut by_owner: std::collections::BTreeMap<String, Roster> = Default::default();
        for e in entries {
            let r = by_owner.entry(e.owner.clone()).or_insert_with(|| Roster {
                owner: e.owner.clone(),
                alerting: enabled.contains(&e.owner),
                entries: HashMap::new(),
                index: Index::new(),
                newest: i64::MIN,
            });
            r.newest = r.newest.max(e.created_at);
            r.index.insert(mpi_patient(e.id, &e.patient));
            r.entries.insert(e.id, e);
        }
        let rosters: Vec<Roster> = by_owner.into_values().collect();
        let digest = notify::digest_subscribers(conn).await?;
        let index_nonempty = notify::index_nonempty(conn).await?;
        let distinct = notify::distinct_entries(conn, sealer).await?;
        Ok(Self {
            index_nonempty,
            distinct,
            consent_stamp,
            generation: Some(generation),
            valid_until,
            feeds,
            consents,
            placeholder_opt_outs,
            rosters,
            digest,
        })
    }

    pub(super) fn feed(&self, facility: &str) -> Option<&FeedRow> {
        self.feeds.get(&facility.to_ascii_lowercase())
    }

    /// The store's change counter this copy was loaded at.
    pub(super) fn generation(&self) -> Option<i64> {
        self.generation
    }

    /// Roster entry `id` as this copy has it, still current at `now`.
    pub(super) fn current_entry(&self, id: i64, now: i64) -> Option<&RosterEntry> {
        self.rosters
            .iter()
            .find_map(|r| r.entries.get(&id))
            .filter(|e| e.expires_at > now)
    }

    pub(super) fn digest(&self, subscriber: &str) -> bool {
        self.digest.iter().any(|s| s == subscriber)
    }

    /// The consent that governs a message about `people`, records of one
    /// person (the message's, the patient index's, a roster entry's): the
    /// latest decision that matches any of them. An opt-out matches a near
    /// miss too: recorded by name, birth date and sex alone it can never
    /// reach an automatic match, and erring there withholds an alert rather
    /// than sending one. An opt-in needs a match.
    pub(super) fn consent_of_all<'a>(
        &self,
        people: impl IntoIterator<Item = &'a StoredPatient>,
    ) -> Option<&'static str> {
        self.consent_of(people, std::iter::empty())
    }

    /// [`Self::consent_of_all`] over `people` and `withholding`, records
    /// that may withhold but never release (a disabled or removed
    /// practice's entry, no longer kept up): the latest decision that holds,
    /// an opt-out under any of them, an opt-in under `people` only; an
    /// opt-in under a withholding record still supersedes the older
    /// opt-outs under that record. (Not
    /// "an opt-out under `withholding` wins": a later opt-in recorded under
    /// the hospital's number overrides an older opt-out, whoever holds the
    /// number it was recorded under.)
    fn consent_of<'a>(
        &self,
        people: impl IntoIterator<Item = &'a StoredPatient>,
        withholding: impl IntoIterator<Item = &'a StoredPatient>,
    ) -> Option<&'static str> {
        let read = |p: &StoredPatient| (identifiers(p), demographics(p));
        let people: Vec<(Vec<Identifier>, Demographics)> = people.into_iter().map(read).collect();
        let withholding: Vec<(Vec<Identifier>, Demographics)> =
            withholding.into_iter().map(read).collect();
        // A withholding record whose latest decision is an opt-in has no
        // older opt-out to withhold with: that opt-in superseded it.
        let mut superseded = vec![false; withholding.len()];
        self.consents.iter().rev().find_map(|(index, decision)| {
            let decision = [OPT_OUT, OPT_IN].into_iter().find(|d| d == decision)?;
            let holds =
                |(ids, demo): &(Vec<Identifier>, Demographics)| match index.lookup(ids, demo) {
                    Outcome::Identifier { .. } | Outcome::Demographic { .. } => true,
                    Outcome::Review { .. } => decision == OPT_OUT,
                    Outcome::NoMatch => false,
                };
            if people.iter().any(holds) {
                return Some(decision);
            }
            for (record, gone) in withholding.iter().zip(superseded.iter_mut()) {
                if !*gone && holds(record) {
                    if decision == OPT_OUT {
                        return Some(OPT_OUT);
                    }
                    *gone = true;
                }
            }
            None
        })
    }

    /// An old opt-out was recorded under one of these placeholder identifiers
    /// of the message (see `placeholder_opt_outs`).
    /// Compared as placeholders are recognised: the value's letters and
    /// digits, the authority's first part ("999-99-9999" under "SSA&…&ISO"
    /// is "999999999" under "SSA").
    fn opted_out_under_placeholder(&self, stripped: &[(String, String)]) -> bool {
        let fold = |(value, authority): &(String, String)| {
            let value: String = value
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_uppercase())
                .collect();
            let authority = authority.split('&').next().unwrap_or_default();
            (value, authority.trim().to_ascii_lowercase())
        };
        stripped
            .iter()
            .map(fold)
            .any(|id| self.placeholder_opt_outs.iter().map(fold).any(|x| x == id))
    }

    /// [`Self::consent_of_all`] over `records` and every roster entry in
    /// `matches` that matched for sure: another practice's entry may carry
    /// the number an opt-out was recorded under. A disabled or removed
    /// practice's entry, no longer kept up, counts towards an opt-out only:
    /// it may withhold, never release; so do the records in `withholding`,
    /// and every near miss (`Matched::Review`): it may be this patient, so
    /// an opt-out recorded under its number withholds (precision first: before,
    /// it only kept its own review back, and a sure match elsewhere was
    /// alerted about a patient who may have opted out), and an opt-in under
    /// it releases nothing. The worker, a review's confirmation and listing,
    /// and the digest all judge a patient this way: the worker with the
    /// rosters as they stood when the message came (an entry added since
    /// only withholds, `match_rosters_at`), the others with them as they
    /// are when they judge (`consent_of_person`: a review is confirmed,
    /// a digest sent, now).
    ///
    /// A near miss in `doubted` (a review held for it, undecided), or one a
    /// person set apart from one of the sure matches (`distinct`: a
    /// different person) judging a message about the hospital's `record`
    /// (`hospital_record`), says nothing.
    fn consent_with_rosters<'a>(
        &self,
        records: impl IntoIterator<Item = &'a StoredPatient>,
        matches: &[(String, Matched<'_>)],
        withholding: impl IntoIterator<Item = &'a StoredPatient>,
        doubted: &[i64],
        record: Option<&[(String, String)]>,
    ) -> Option<&'static str> {
        let sure = |alerting: bool| {
            matches.iter().filter_map(move |(owner, m)| match m {
                Matched::Yes(e) | Matched::Withheld(e, _) if self.alerting(owner) == alerting => {
                    Some(&e.patient)
                }
                _ => None,
            })
        };
        let sure_ids: Vec<i64> = matches
            .iter()
            .filter_map(|(_, m)| match m {
                Matched::Yes(e) | Matched::Withheld(e, _) => Some(e.id),
                Matched::Review(..) => None,
            })
            .collect();
        let apart =
            |id: i64| doubted.contains(&id) || sure_ids.iter().any(|s| self.apart(id, *s, record));
        let mut people: Vec<&StoredPatient> = records.into_iter().collect();
        people.extend(sure(true));
        let mut evidence: Vec<&StoredPatient> = sure(false).collect();
        evidence.extend(matches.iter().filter_map(|(_, m)| match m {
            Matched::Review(e, _) if !apart(e.id) => Some(&e.patient),
            _ => None,
        }));
        for p in withholding {
            evidence.push(p);
        }
        self.consent_of(people, evidence)
    }

    /// The consent that governs `records` of one person outside the worker
    /// (a review, an unsent alert), judged as the worker judges a message:
    /// with every roster entry that matches `patient` (the ADT's, its gaps
    /// filled from `indexed`, the patient index's person) for sure, and
    /// `withholding` (the ADT's PID-4, [`alternate_record`]) able only to
    /// withhold; the near misses in `doubted` (a held review's) say nothing,
    /// nor do those set apart from a sure match for the hospital's `record`
    /// of the message ([`hospital_record`]; None for an alert filed before
    /// alerts kept it: whatever the record).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn consent_of_person<'a>(
        &self,
        patient: &StoredPatient,
        indexed: Option<&StoredPatient>,
        records: impl IntoIterator<Item = &'a StoredPatient>,
        withholding: Option<&'a StoredPatient>,
        doubted: &[i64],
        record: Option<&[(String, String)]>,
        now: i64,
    ) -> Option<&'static str> {
        let mut patient = patient.clone();
        if let Some(known) = indexed {
            fill_gaps(&mut patient, known);
        }
        let matches = self.match_rosters(&patient, now);
        self.consent_with_rosters(records, &matches, withholding, doubted, record)
    }

    /// The roster entry `e` of `owner` (current or ended) is `p` for sure,
    /// as rosters are matched: looked up among `owner`'s current entries and
    /// `e`, so that a namesake born the same day on the roster (a twin)
    /// makes it a near miss, not a match. Built for the one lookup: only
    /// cancellations ask, for subscribers told of what they cancel.
    pub(super) fn same_person(&self, owner: &str, e: &RosterEntry, p: &StoredPatient) -> bool {
        let mut index = Index::new();
        let roster = self.rosters.iter().find(|r| r.owner == owner);
        for other in roster.iter().flat_map(|r| r.entries.values()) {
            if other.id != e.id {
                index.insert(mpi_patient(other.id, &other.patient));
            }
        }
        index.insert(mpi_patient(e.id, &e.patient));
        matches!(
            index.lookup(&identifiers(p), &demographics(p)),
            Outcome::Identifier { id } | Outcome::Demographic { id, .. } if id == e.id
        )
    }

    /// Per subscriber (owner), the best match in their roster (entries still
    /// current at `now`).
    fn match_rosters(&self, p: &StoredPatient, now: i64) -> Vec<(String, Matched<'_>)> {
        self.match_rosters_at(p, now, i64::MAX).0
    }

    /// [`Self::match_rosters`] for a message received at `received`: per
    /// subscriber, the best match in their roster as it stood then (its
    /// entries added since left out), and apart, the best match among the
    /// entries added since (a late enrolment's: evidence only, it alerts no
    /// one about this message, `plan`). More lookups only for a roster
    /// changed since the message came (a backlog processed after an
    /// import): an entry added since must not hide the one the roster had,
    /// as a re-import correcting a patient's MRN (without `--replace`) adds
    /// a second entry for them. But what the roster knows now is not
    /// thrown away: a sure match of the roster as it stood stands only when
    /// the whole roster matches that entry for sure too, or an entry added
    /// since that is the same record ([`same_record`]: the MRN's
    /// correction); otherwise it is a near miss (a twin enrolled since may
    /// be whom the message is about, or the duplicate ties with it).
    fn match_rosters_at(
        &self,
        p: &StoredPatient,
        now: i64,
        received: i64,
    ) -> (Matches<'_>, Matches<'_>) {
        let ids = identifiers(p);
        let demo = demographics(p);
        let (mut out, mut late) = (Vec::new(), Vec::new());
        for roster in &self.rosters {
            let find = |id: i64| roster.entries.get(&id).filter(|e| e.expires_at > now);
            let matched = |outcome| match outcome {
                Outcome::Identifier { id } | Outcome::Demographic { id, .. } => {
                    find(id).map(Matched::Yes)
                }
                Outcome::Review { id, score } => find(id).map(|e| Matched::Review(e, score)),
                Outcome::NoMatch => None,
            };
            let all = matched(roster.index.lookup(&ids, &demo));
            let m = match roster.newest > received {
                false => all,
                true => {
                    let was = |id| {
                        roster
                            .entries
                            .get(&id)
                            .is_some_and(|e| e.created_at <= received)
                    };
                    let then = matched(roster.index.lookup_among(&ids, &demo, &was));
                    let since = matched(roster.index.lookup_among(&ids, &demo, &|id| !was(id)));
                    let is_late = |m: &Matched<'_>| m.entry().created_at > received;
                    // The same record as the on-time match (the MRN's
                    // correction), or a twin or namesake.
                    let same = |late: &Matched<'_>| {
                        then.is_some_and(|t| same_record(&late.entry().patient, &t.entry().patient))
                    };
                    // Evidence (an opt-out under its number withholds): the
                    // late entry the whole roster names, or one that is the
                    // same record as the on-time match. Not a twin the whole
                    // roster ranks below the on-time entry: an on-time one
                    // would be a near miss, whose opt-out holds a review.
                    if let Some(m) = since
                        && (all.is_some_and(|a| a.entry().id == m.entry().id) || same(&m))
                    {
                        late.push((roster.owner.clone(), m));
                    }
                    match (then, all) {
                        // The whole roster is sure of an entry added since:
                        // the message is that late enrolment's (no one is
                        // alerted, nor a review queued against another
                        // entry), unless it is the on-time one's record.
                        (Some(Matched::Yes(e)), Some(best @ Matched::Yes(_)))
                            if best.entry().id == e.id || (is_late(&best) && same(&best)) =>
                        {
                            Some(Matched::Yes(e))
                        }
                        (Some(_), Some(best @ Matched::Yes(_))) if is_late(&best) => None,
                        // Otherwise a sure match of the roster as it stood
                        // is a near miss now (a twin or a tying duplicate
                        // enrolled since), scored as the whole roster scored
                        // it, else at least at the review threshold (an
                        // identifier's match may have few demographics).
                        (Some(Matched::Yes(e)), all) => {
                            let score = match all {
                                Some(Matched::Review(x, score)) if x.id == e.id => score,
                                _ => mpi::score(&demographics(&e.patient), &demo).max(mpi::REVIEW),
                            };
                            Some(Matched::Review(e, score))
                        }
                        (then, _) => then,
                    }
                }
            };
            if let Some(m) = m {
                out.push((roster.owner.clone(), m));
            }
        }
        (out, late)
    }

    /// Whether a person set roster entries `a` and `b` apart (judged them
    /// other people, `distinct_entries`) for a message about the hospital's
    /// `record` (`hospital_record`; None: whatever the record).
    fn apart(&self, a: i64, b: i64, record: Option<&[(String, String)]>) -> bool {
        let (a, b) = (a.min(b), a.max(b));
        self.distinct.iter().any(|p| {
            p.entry == a
                && p.other == b
                && record.is_none_or(|record| covers(p.record.as_deref(), record))
        })
    }

    /// The roster entries a person set apart from entry `id` (judged to be
    /// other people, `distinct_entries`) for a message about the
    /// hospital's `record` ([`hospital_record`]; None: whatever the
    /// record): for a judgment about a message filed under `id` (a review,
    /// an alert) whether or not it still matches the patient for sure.
    pub(super) fn apart_from(&self, id: i64, record: Option<&[(String, String)]>) -> Vec<i64> {
        let mut out: Vec<i64> = self
            .distinct
            .iter()
            .filter_map(|p| match (p.entry == id, p.other == id) {
                (true, _) => Some(p.other),
                (_, true) => Some(p.entry),
                _ => None,
            })
            .filter(|other| self.apart(id, *other, record))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether `owner`'s roster may alert (an enabled address).
    fn alerting(&self, owner: &str) -> bool {
        self.rosters.iter().any(|r| r.owner == owner && r.alerting)
    }
}

/// The open transaction a batch of ADT rows is finished in (one commit for
/// many messages), and the rows it finishes.
#[derive(Default)]
struct Batch {
    tx: Option<crate::store::Tx>,
    /// Rows to mark done when the batch commits: id, result. Each keeps its
    /// message only while a review of it is open (`finish_adts`).
    finishes: Vec<(i64, String)>,
    /// Rows finished inside `tx`, logged once it commits.
    done: Vec<(i64, Done)>,
    /// Set when a row changed what plans read (a merge, the patient
    /// index): commit, reload and plan the rows after it again.
    stale: bool,
    /// `tx` holds the change counter (`generation_held`), as its first lock.
    counter_held: bool,
    /// Alerts queued inside `tx`: their local copies are handed over, and
    /// the workers woken, once it commits.
    submitted: Vec<(Submitted, Vec<Handed>)>,
}

impl Batch {
    async fn conn(&mut self, hisp: &crate::ops::Hisp) -> Result<&mut AnyConnection, OpsError> {
        let tx = match self.tx.take() {
            Some(tx) => tx,
            None => hisp.store.begin().await?,
        };
        Ok(&mut **self.tx.insert(tx))
    }

    /// Take the change counter (`generation_held`) as the transaction's
    /// first lock, committing first what the batch already wrote: on
    /// PostgreSQL a batch holding encounter rows must not wait for the
    /// counter, which another node's batch may hold while it waits for one
    /// of those rows. The counter as read when this call took it; `None`
    /// when the transaction held it already.
    async fn hold_counter(&mut self, gw: &crate::smtp::Gateway) -> Result<Option<i64>, OpsError> {
        if self.counter_held {
            return Ok(None);
        }
        if self.tx.is_some() {
            self.flush(gw).await?;
        }
        let hisp = &gw.hisp;
        let conn = self.conn(hisp).await?;
        let held = notify::generation_held(conn, hisp.store.engine()).await?;
        self.counter_held = true;
        Ok(Some(held))
    }

    /// Commit what the batch holds, the rows' completions with it.
    async fn flush(&mut self, gw: &crate::smtp::Gateway) -> Result<(), OpsError> {
        self.flush_claiming(gw, None).await.map(drop)
    }

    /// [`Self::flush`], claiming the next rows with `claim` in the same
    /// transaction when there is one to commit (no turn of the writer of
    /// its own for the claim that follows every batch).
    async fn flush_claiming(
        &mut self,
        gw: &crate::smtp::Gateway,
        claim: Option<crate::store::queue::Claim<'_>>,
    ) -> Result<Vec<AdtRow>, OpsError> {
        let (hisp, node) = (&gw.hisp, gw.node.as_str());
        let mut claimed = Vec::new();
        if !self.finishes.is_empty() {
            let mut groups: Vec<(String, Vec<i64>)> = Vec::new();
            for (id, result) in &self.finishes {
                match groups.iter_mut().find(|(r, _)| r == result) {
                    Some((_, ids)) => ids.push(*id),
                    None => groups.push((result.clone(), vec![*id])),
                }
            }
            let conn = self.conn(hisp).await?;
            for (result, ids) in &groups {
                notify::finish_adts(conn, ids, node, result).await?;
            }
            self.finishes.clear();
        }
        if let Some(mut tx) = self.tx.take() {
            self.counter_held = false;
            if let Some(claim) = claim {
                claimed = notify::claim_adt(&mut tx, hisp.store.sealer(), claim).await?;
            }
            tx.commit().await?;
        }
        for (done, handed) in self.submitted.drain(..) {
            gw.submitted(&done, handed).await;
        }
        // Which practices a patient's message reached says which care
        // program they are in: addresses only at TRACE.
        for (id, done) in self.done.drain(..) {
            match &done {
                Done::Alerted(sent) => {
                    tracing::info!(adt = id, alerted = sent.len(), "ADT processed");
                    tracing::trace!(adt = id, ?sent, "ADT alerted");
                }
                _ => tracing::info!(adt = id, ?done, "ADT processed"),
            }
        }
        Ok(claimed)
    }

    /// Roll back; the ids of the rows whose completion was undone.
    fn abort(&mut self) -> Vec<i64> {
        self.tx = None;
        self.counter_held = false;
        self.finishes.clear();
        self.submitted.clear();
        self.done.drain(..).map(|(id, _)| id).collect()
    }
}

/// Give up on an ADT message after this many failed attempts.
const ADT_ATTEMPTS: i64 = 5;

/// Rows claimed at a time (and finished in one transaction when quiet).
const BATCH: i64 = 64;

impl Notifier {
    /// Process claimed rows in order, finishing the quiet ones in shared
    /// transactions. Every row still to run is read and matched first
    /// (`plan`), before the batch's transaction opens; a row that changes
    /// what the snapshot holds (a merge, the patient index) or meets a
    /// change (`Done::Again`) commits, reloads and plans the rest again.
    ///
    /// A row that fails, or keeps meeting changes, ends the batch: the rows
    /// finished with it in the open transaction are rolled back, and they
    /// and the rows not yet run go back to the queue at once, the failing
    /// one on its own retry schedule. A feed's messages take effect in the
    /// order received, so nothing behind a failure runs ahead of it: the
    /// claim (`store::notify::claim_adt`) takes the failing feed's later
    /// rows only once it is done (before, the batch went on, and an A11
    /// could be applied before the A01 it cancels). Other feeds' rows are
    /// claimed again with the next batch.
    ///
    /// With `claim_next`, the next rows are claimed in the batch's last
    /// transaction and returned (empty when it had nothing to commit: the
    /// caller claims on its own).
    async fn process_batch(
        &self,
        rows: &[AdtRow],
        snap: &mut Snapshot,
        claim_next: bool,
    ) -> Vec<AdtRow> {
        let mut batch = Batch::default();
        // The first row not yet run to its end, and how often it met a change.
        let (mut next, mut again) = (0, 0);
        while next < rows.len() {
            let mut reload = false;
            let mut plans = Vec::with_capacity(rows.len() - next);
            for row in &rows[next..] {
                let plan = self.plan(row, snap).await;
                // A merge or an index update changes what the rows after it
                // read: they are planned once it is done.
                let changes = matches!(plan, Ok(Plan::Merge(..) | Plan::Index(_)));
                plans.push(plan);
                if changes {
                    break;
                }
            }
            for (row, plan) in rows[next..].iter().zip(plans) {
                let plan = match plan {
                    Ok(plan) => plan,
                    // Nothing of it was written, so the rows finished before
                    // it stand: committed first, since its release writes.
                    Err(e) => {
                        self.settle(&mut batch).await;
                        self.failed(row, &e).await;
                        return self.give_back(rows.get(next + 1..)).await;
                    }
                };
                match self.apply(row, plan, snap, &mut batch).await {
                    // Reload and run the row again (a few times at most: a
                    // row that keeps meeting changes goes back to the queue).
                    Ok(Done::Again) => {
                        if again == 3 {
                            // This one was tried (its attempt counts, so
                            // one that never settles is given up in the end).
                            self.settle(&mut batch).await;
                            let hisp = &self.gw.hisp;
                            if let Ok(mut conn) = hisp.conn().await {
                                let (node, now) = (&self.gw.node, hisp.now());
                                let _ =
                                    notify::release_adt(&mut conn, row.id, node, now, "retried")
                                        .await;
                            }
                            return self.give_back(rows.get(next + 1..)).await;
                        }
                        again += 1;
                        reload = true;
                        break;
                    }
                    Ok(done) => batch.done.push((row.id, done)),
                    Err(e) => {
                        let undone = batch.abort();
                        self.release_now(&undone).await;
                        self.failed(row, &e).await;
                        return self.give_back(rows.get(next + 1..)).await;
                    }
                }
                (next, again) = (next + 1, 0);
                if batch.stale {
                    batch.stale = false;
                    snap.index_nonempty = true;
                    reload = true;
                    break;
                }
            }
            if reload {
                // Commit what the batch holds first: reloading takes a
                // while, and the rows planned next read what it wrote.
                if !self.settle(&mut batch).await {
                    return self.give_back(rows.get(next..)).await;
                }
                if let Err(e) = snap.refresh(self).await {
                    tracing::warn!(error = %e, "cannot reload rosters");
                }
            }
        }
        let gw = &self.gw;
        let next = claim_next.then(|| gw.claim(BATCH));
        match batch.flush_claiming(gw, next).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "cannot commit ADT results; retrying");
                let undone = batch.abort();
                self.release_now(&undone).await;
                Vec::new()
            }
        }
    }

    /// End a batch early: `rest`, the rows not yet run, goes back to the
    /// queue, due now. Nothing is claimed with it.
    async fn give_back(&self, rest: Option<&[AdtRow]>) -> Vec<AdtRow> {
        let ids: Vec<i64> = rest.unwrap_or_default().iter().map(|r| r.id).collect();
        self.release_now(&ids).await;
        Vec::new()
    }

    /// Commit the batch; if that fails, its rows go back to the queue (and
    /// it is false).
    async fn settle(&self, batch: &mut Batch) -> bool {
        if let Err(e) = batch.flush(&self.gw).await {
            tracing::warn!(error = %e, "cannot commit ADT results; retrying");
            let undone = batch.abort();
            self.release_now(&undone).await;
            return false;
        }
        true
    }

    /// Give rows back to the queue unrun, due now, their claim not counted
    /// as an attempt (`notify::unclaim_adts`, one statement).
    async fn release_now(&self, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        let hisp = &self.gw.hisp;
        let released = match hisp.conn().await {
            Ok(mut conn) => notify::unclaim_adts(&mut conn, ids, &self.gw.node, hisp.now())
                .await
                .map_err(OpsError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = released {
            // Their leases end and they are claimed again (their feeds wait
            // until then).
            tracing::warn!(error = %e, rows = ids.len(), "cannot give ADT rows back; their leases will end");
        }
    }

    /// A row failed: back to the queue with a delay, or given up for good.
    async fn failed(&self, row: &AdtRow, e: &OpsError) {
        if row.attempts >= ADT_ATTEMPTS {
            tracing::error!(adt = row.id, error = %e, "ADT processing failed for good");
            if let Err(e) = self.give_up(row, &e.to_string()).await {
                tracing::error!(adt = row.id, error = %e, "cannot record the failure");
            }
            return;
        }
        tracing::warn!(adt = row.id, error = %e, "ADT processing failed; will retry");
        if let Ok(mut conn) = self.gw.hisp.conn().await {
            let next = self.gw.hisp.now() + 30 * row.attempts;
            let _ =
                notify::release_adt(&mut conn, row.id, &self.gw.node, next, &e.to_string()).await;
        }
    }

    /// Finish a message that keeps failing, audited (its ACK stands; a person looks).
    async fn give_up(&self, row: &AdtRow, why: &str) -> Result<(), OpsError> {
        let hisp = &self.gw.hisp;
        let mut tx = hisp.store.begin().await?;
        let subject = format!("adt {}", row.id);
        hisp.audit(&mut tx, "notify", "adt.failed", &subject, why)
            .await?;
        notify::finish_adt(&mut tx, row.id, &self.gw.node, &format!("failed: {why}")).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Run the notify worker until `stop` flips.
pub async fn run(n: Notifier, mut stop: watch::Receiver<bool>) {
    let n = Arc::new(n);
    let mut snap = Snapshot::default();
    // Rows claimed with the last batch's commit.
    let mut rows = Vec::new();
    loop {
        if *stop.borrow() {
            let ids: Vec<i64> = rows.iter().map(|r: &AdtRow| r.id).collect();
            n.release_now(&ids).await;
            return;
        }
        if rows.is_empty() {
            rows = claim(&n).await;
        }
        if rows.is_empty() {
            tokio::select! {
                _ = n.ready.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            continue;
        }
        if let Err(e) = snap.refresh(&n).await {
            tracing::warn!(error = %e, "cannot load feeds, consents and rosters");
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            n.release_now(&ids).await;
            rows.clear();
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // A full batch says more is waiting: claim it as this one commits
        // (unless the worker is stopping).
        let full = rows.len() as i64 >= BATCH;
        let claim_next = full && !*stop.borrow();
        rows = n.process_batch(&rows, &mut snap, claim_next).await;
        // A batch that was not full caught up with the intake: let the next
        // messages gather a moment, so that they share a batch (each batch
        // takes a turn of SQLite's one writer, which the MLLP intake needs).
        if !full {
            tokio::select! {
                _ = tokio::time::sleep(GATHER) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        }
    }
}

/// How long the worker lets ADT messages gather after a batch that caught up
/// with the intake (see `run`). A message arriving on an idle worker is
/// taken at once.
const GATHER: Duration = Duration::from_millis(10);

async fn claim(n: &Notifier) -> Vec<AdtRow> {
    let hisp = &n.gw.hisp;
    let claimed = async {
        let claim = n.gw.claim(BATCH);
        // Nothing due (the usual answer to the look after a batch): no
        // write turn taken to learn it.
        if !notify::adt_due(&mut *hisp.conn().await?, claim.now).await? {
            return Ok(Vec::new());
        }
        // In a queued write transaction: an autocommit claim would poll
        // SQLite's lock while the MLLP intake keeps committing.
        let mut tx = hisp.store.begin().await?;
        let rows = notify::claim_adt(&mut tx, hisp.store.sealer(), claim).await?;
        tx.commit().await?;
        Ok::<_, OpsError>(rows)
    };
    claimed.await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot claim ADT messages");
        Vec::new()
    })
}

#[cfg(test)]
mod tests {
    use super::{
        Content, OPT_IN, Roster, Snapshot, covers, hospital_record, kept_merge, leave, mpi_patient,
        read_authorities, remember, retire, revive,
    };
    use crate::notify::adt::Ended;
    use crate::notify::mpi::Index;
    use crate::store::notify::{RosterEntry, StoredPatient};

    /// A judgment that two roster entries are different people covers the
    /// hospital's record it was about: one number in common (authority
    /// case-folded). One about a message that named no number covers none,
    /// and a message naming none is covered by none; one from before
    /// judgments named a record covers any.
    #[test]
    fn a_judgment_covers_the_record_it_was_about() {
        let id = |v: &str, a: &str| (v.to_string(), a.to_string());
        let judged = [id("X55", "SOUTH"), id("X55", "2.16.840.1.113883.19.5")];
        assert!(covers(Some(&judged), &[id("X55", "south")]));
        assert!(covers(
            Some(&judged),
            &[id("7", "EAST"), id("X55", "SOUTH")]
        ));
        assert!(!covers(Some(&judged), &[id("X99", "SOUTH")]));
        assert!(!covers(Some(&judged), &[id("X55", "EAST")]));
        assert!(!covers(Some(&judged), &[]));
        assert!(!covers(Some(&[]), &[]));
        assert!(!covers(Some(&[]), &[id("X55", "SOUTH")]));
        assert!(covers(None, &[id("X99", "SOUTH")]));
        assert!(covers(None, &[]));
    }

    /// The hospital's record is the numbers it files the patient under:
    /// those typed MR, else the first untyped (an untyped one without an
    /// authority under the sending facility), each also under its
    /// authority's OID; never a number a sibling may share (a social
    /// security number however typed or named, a member number, a later
    /// untyped payer's number) or a placeholder.
    #[test]
    fn the_hospital_record_is_its_own_numbers() {
        let id = |v: &str, a: &str| (v.to_string(), a.to_string());
        let record = |pid3: &str| {
            let raw = format!(
                "MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|20260101120000||ADT^A04|C1|P|2.5.1\r\
                 EVN|A04|20260101120000\r\
                 PID|1||{pid3}||Doe^Jane||19800102|F\r\
                 PV1|1|E|||||||||||||||||V1\r"
            );
            let msg = crate::hl7::parse(raw.as_bytes()).expect("parse");
            hospital_record(&crate::notify::adt::read(&msg).expect("event"))
        };
        assert_eq!(
            record(
                "L7~X55^^^SOUTH^MR~123456789^^^SOUTH^SS~M42^^^MEDICAID^MB\
                 ~219456781^^^USSSA~999999999^^^SOUTH^MR"
            ),
            [id("X55", "SOUTH")]
        );
        assert_eq!(
            record("X55^^^SOUTH~M42^^^MEDICAID~219456781^^^USSSA"),
            [id("X55", "SOUTH")]
        );
        assert_eq!(
            record("219456781^^^USSSA~L7~M42^^^MEDICAID"),
            [id("L7", "NORTHHOSP")]
        );
        assert_eq!(
            record("X55^^^SOUTH&2.16.840.1.113883.19.5&ISO^MR"),
            [id("X55", "SOUTH"), id("X55", "2.16.840.1.113883.19.5")]
        );
        assert!(record("E77^^^EPI^PI~M42^^^MEDICAID^MB").is_empty());
    }

    #[test]
    fn only_a_sure_merge_is_kept() {
        let id = |v: &str, a: &str| (v.to_string(), a.to_string());
        let (old, new) = (id("M1", "NORTH"), id("M2", "north "));
        for trigger in ["A40", "A39", "A34", "A36", "A18"] {
            assert!(kept_merge(trigger, &old, &new), "{trigger}");
        }
        // A corrected number may be someone else's.
        assert!(!kept_merge("A47", &old, &new));
        // The survivor from another authority is the message's fallback.
        assert!(!kept_merge("A40", &old, &id("S9", "SOUTH")));
        // A shared namespace, or a placeholder, links no one.
        let ssn = id("219456781", "SSA");
        assert!(!kept_merge("A40", &ssn, &id("219456782", "SSA")));
        assert!(!kept_merge("A40", &id("000000000", "NORTH"), &new));
    }

    /// Twins Nguyen, as a household registers them: one birth date, sex,
    /// ZIP and phone; no identifier a roster row carries.
    fn twin(given: &str) -> StoredPatient {
        StoredPatient {
            identifiers: Vec::new(),
            family: "Nguyen".into(),
            given: given.into(),
            birth_date: Some("20100704".into()),
            sex: Some('F'),
            postal_code: Some("06511".into()),
            phone: Some("2035550177".into()),
        }
    }

    fn entry(id: i64, patient: StoredPatient) -> RosterEntry {
        RosterEntry {
            id,
            owner: "carol@a.test".into(),
            patient,
            program: None,
            end_date: None,
            expires_at: i64::MAX,
            created_at: 0,
        }
    }

    #[test]
    fn a_roster_rows_whole_hd_is_read_under_each_name_no_other_row_holds() {
        let oid = "2.16.840.1.113883.19.5";
        let under = |value: &str, authority: &str| StoredPatient {
            identifiers: vec![(value.into(), authority.into())],
            ..StoredPatient::default()
        };
        let hd = format!("NORTH&{oid}&ISO");
        let dave = |id, p| RosterEntry {
            owner: "dave@a.test".into(),
            ..entry(id, p)
        };
        let mut entries = vec![
            entry(1, under("M1", &hd)),
            entry(2, under("M2", &format!("urn:oid:{oid}"))),
            dave(3, under("M3", &hd)),
            dave(4, under("M3", " north ")),
            // Another roster's typed name takes nothing from carol's.
            dave(5, under("M1", "NORTH")),
        ];
        read_authorities(&mut entries);
        let ids = |e: &RosterEntry| {
            e.patient
                .identifiers
                .iter()
                .map(|(v, a)| format!("{v}@{a}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(&entries[0]),
            [format!("M1@{hd}"), "M1@NORTH".into(), format!("M1@{oid}")]
        );
        assert_eq!(
            ids(&entries[1]),
            [format!("M2@urn:oid:{oid}"), format!("M2@{oid}")]
        );
        assert_eq!(
            ids(&entries[2]),
            [format!("M3@{hd}"), format!("M3@{oid}")],
            "dave's other row holds M3 under NORTH"
        );
        assert_eq!(ids(&entries[3]), ["M3@ north "]);
        assert_eq!(ids(&entries[4]), ["M1@NORTH"]);
    }

    /// A snapshot in which carol's current roster is `entries`.
    fn carol_lists(entries: Vec<RosterEntry>) -> Snapshot {
        let mut index = Index::new();
        for e in &entries {
            index.insert(mpi_patient(e.id, &e.patient));
        }
        Snapshot {
            rosters: vec![Roster {
                owner: "carol@a.test".into(),
                alerting: true,
                newest: entries
                    .iter()
                    .map(|e| e.created_at)
                    .max()
                    .unwrap_or(i64::MIN),
                entries: entries.into_iter().map(|e| (e.id, e)).collect(),
                index,
            }],
            ..Snapshot::default()
        }
    }

    /// A message is matched against the roster as it stood when it came: an
    /// entry added since (a re-import correcting an MRN) is set apart as a
    /// late enrolment's, and does not hide the entry the roster had. What
    /// the roster knows now still counts: a twin, or a duplicate the
    /// message cannot tell from the entry, enrolled since makes the sure
    /// match a near miss (helper review, session 39).
    #[test]
    fn an_entry_added_after_a_message_came_leaves_the_roster_it_matched() {
        let with_mrn = |given: &str, mrn: &str| {
            let mut p = twin(given);
            p.identifiers = vec![(mrn.into(), "NORTH".into())];
            p
        };
        let late = |id, p| RosterEntry {
            created_at: 100,
            ..entry(id, p)
        };
        let ids = |m: &[(String, super::Matched<'_>)]| -> Vec<(i64, bool)> {
            m.iter()
                .map(|(_, m)| (m.entry().id, matches!(m, super::Matched::Yes(_))))
                .collect()
        };
        // The MRN corrected by re-import: entry 2, the same record.
        let snap = carol_lists(vec![
            entry(1, twin("Emma")),
            late(2, with_mrn("Emma", "M77")),
        ]);
        let message = with_mrn("Emma", "M77");
        // Received before entry 2 was added: entry 1 matches for sure;
        // entry 2, which the MRN names, is a late enrolment's.
        let (on_time, late_ones) = snap.match_rosters_at(&message, 0, 50);
        assert_eq!(ids(&on_time), [(1, true)]);
        assert_eq!(ids(&late_ones), [(2, true)]);
        // Received after: the MRN's entry, and nothing late.
        let (on_time, late_ones) = snap.match_rosters_at(&message, 0, 100);
        assert_eq!(ids(&on_time), [(2, true)]);
        assert!(late_ones.is_empty());
        assert_eq!(ids(&snap.match_rosters(&message, 0)), [(2, true)]);
        // A message without the MRN ties the two: a near miss, the
        // duplicate kept as evidence (an opt-out under its MRN withholds).
        let (on_time, late_ones) = snap.match_rosters_at(&twin("Emma"), 0, 50);
        assert_eq!(ids(&on_time), [(1, false)]);
        assert_eq!(ids(&late_ones), [(2, true)]);

        // Emma's twin Emmy enrolled since. A message about Emmy is never a
        // sure match of Emma's entry, nor is one about Emma (the roster
        // now cannot tell the two apart). Emmy's entry is evidence only
        // where the whole roster names her: her opt-out does not withhold
        // a message about Emma outright (a review is queued).
        let snap = carol_lists(vec![entry(1, twin("Emma")), late(3, twin("Emmy"))]);
        for (about, evidence) in [("Emmy", vec![3]), ("Emma", vec![])] {
            let (on_time, late_ones) = snap.match_rosters_at(&twin(about), 0, 50);
            assert_eq!(ids(&on_time), [(1, false)], "{about}");
            let late_ids: Vec<i64> = ids(&late_ones).iter().map(|x| x.0).collect();
            assert_eq!(late_ids, evidence, "{about}");
            assert!(
                !matches!(
                    snap.match_rosters(&twin(about), 0).as_slice(),
                    [(_, super::Matched::Yes(_))]
                ),
                "{about}: a near miss now too"
            );
        }
        // Emmy's entry carries her MRN, which the message names: surely
        // hers, a late enrolment's. Emma's entry is not the same record:
        // no match of it, sure or near (no review against her entry).
        let snap = carol_lists(vec![
            entry(1, twin("Emma")),
            late(3, with_mrn("Emmy", "M88")),
        ]);
        let (on_time, late_ones) = snap.match_rosters_at(&with_mrn("Emmy", "M88"), 0, 50);
        assert!(on_time.is_empty(), "{:?}", ids(&on_time));
        assert_eq!(ids(&late_ones), [(3, true)]);
        // A near miss's score is the whole roster's, or at least the
        // review threshold.
        let snap = carol_lists(vec![entry(1, twin("Emma")), late(3, twin("Emmy"))]);
        let (on_time, _) = snap.match_rosters_at(&twin("Emma"), 0, 50);
        assert!(
            matches!(on_time.as_slice(), [(_, super::Matched::Review(_, s))] if *s >= super::mpi::REVIEW),
            "{:?}",
            ids(&on_time)
        );
    }

    /// The twin guard of a retraction to a practice no longer matched: the
    /// entry its alert matched is judged among the practice's current
    /// roster. Alone, Emma's dropped entry takes a message naming Emma;
    /// with her twin Emmy on the roster the index cannot tell the two apart,
    /// so it is not sure and nothing is sent. Emmy is never Emma.
    #[test]
    fn a_told_entry_is_the_same_person_only_where_no_twin_on_the_roster_could_be() {
        let told = entry(1, twin("Emma"));
        let alone = carol_lists(Vec::new());
        assert!(alone.same_person("carol@a.test", &told, &twin("Emma")));
        assert!(!alone.same_person("dave@a.test", &told, &twin("Liam")));
        let with_twin = carol_lists(vec![entry(2, twin("Emmy"))]);
        assert!(!with_twin.same_person("carol@a.test", &told, &twin("Emma")));
        assert!(!with_twin.same_person("carol@a.test", &told, &twin("Emmy")));
        // The told entry still on the roster is counted once, not as its
        // own twin.
        let listed = carol_lists(vec![entry(1, twin("Emma"))]);
        assert!(listed.same_person("carol@a.test", &told, &twin("Emma")));
    }

    /// The attachment is ER7 as written (CR after each segment) with and
    /// without opt-in, whatever line ends the feed used.
    #[test]
    fn an_attachment_ends_its_segments_with_cr_under_every_consent() {
        let raw =
            b"\xEF\xBB\xBFMSH|^~\\&|EPIC|NORTH|HISP|HISP|20261122060000||ADT^A04|C1|P|2.5.1\r\n\
EVN|A04|20261122055900\r\n\r\nPID|1||MRN1^^^NORTH^MR||Doe^Jane||19800102|F\r\n\
PV1|1|E|ED^12^A^NORTH||||||||||||||||V100\r\n";
        let msg = crate::hl7::parse(raw).expect("parse");
        let ev = crate::notify::adt::read(&msg).expect("event");
        for consent in [Some(OPT_IN), None] {
            let got = Content::new(ev.clone(), raw, consent).raw;
            assert!(got.starts_with(b"MSH|"), "{consent:?}");
            assert!(got.ends_with(b"V100\r"), "{consent:?}");
            assert!(!got.contains(&b'\n'), "{consent:?}");
            assert!(!got.windows(2).any(|w| w == b"\r\r"), "{consent:?}");
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn a_cancelled_change_may_alert_again_under_a_new_key() {
        let (keys, k) = remember(&[], "discharge", None);
        assert_eq!(
            (keys.clone(), k.as_str()),
            (strings(&["discharge"]), "discharge#1")
        );
        let (keys, k) = remember(&keys, "retract:discharge", None);
        assert_eq!(
            (keys.clone(), k.as_str()),
            (strings(&["discharge~"]), "retract:discharge#1")
        );
        let (keys, k) = remember(&keys, "discharge", None);
        assert_eq!(k, "discharge#2");
        let (keys, k) = remember(&keys, "retract:discharge", None);
        assert_eq!(k, "retract:discharge#2");
        // A new episode closes what is live; its changes alert again under
        // the next generation, and a retraction then finds the new one.
        let (keys, _) = remember(&keys, "discharge", None);
        let (keys, _) = remember(&keys, "transfer:south", None);
        let keys = retire(&keys);
        assert_eq!(
            keys,
            strings(&["discharge~", "discharge~", "discharge!", "transfer:south!"])
        );
        let (keys, k) = remember(&keys, "discharge", None);
        assert_eq!(k, "discharge#4");
        let (_, k) = remember(&keys, "retract:discharge", None);
        assert_eq!(k, "retract:discharge#4");
        let (_, k) = remember(&keys, "transfer:south", None);
        assert_eq!(k, "transfer:south#2");
    }

    #[test]
    fn a_transfer_leaves_the_one_before_and_a_return_is_its_next_generation() {
        let (keys, k) = remember(&strings(&["admit"]), "transfer:south", None);
        let keys = leave(keys, "transfer:south", 100, &k);
        assert_eq!(keys, strings(&["admit", "transfer:south"]));
        let (keys, k) = remember(&keys, "transfer:north", None);
        assert_eq!(k, "transfer:north#1");
        let keys = leave(keys, "transfer:north", 200, &k);
        assert_eq!(
            keys,
            strings(&[
                "admit",
                "transfer:south^200@transfer:north#1",
                "transfer:north"
            ])
        );
        // Back to SOUTH: its second generation; NORTH is left in turn, and
        // a retraction of the live one names that generation.
        let (keys, k) = remember(&keys, "transfer:south", None);
        assert_eq!(k, "transfer:south#2");
        let keys = leave(keys, "transfer:south", 300, &k);
        assert_eq!(
            keys,
            strings(&[
                "admit",
                "transfer:south^200@transfer:north#1",
                "transfer:north^300@transfer:south#2",
                "transfer:south"
            ])
        );
        let (keys, k) = remember(&keys, "retract:transfer:south", None);
        assert_eq!(k, "retract:transfer:south#2");
        // The last move (back to SOUTH) cancelled: NORTH, left by it, is
        // where the patient is again; an A12 of the move into NORTH then
        // finds its transfer live.
        let revived = revive(keys.clone(), "transfer:south#2", None);
        assert_eq!(
            revived,
            strings(&[
                "admit",
                "transfer:south^200@transfer:north#1",
                "transfer:north",
                "transfer:south~"
            ])
        );
        let (revived, k) = remember(&revived, "retract:transfer:north", None);
        assert_eq!(k, "retract:transfer:north#1");
        let revived = revive(revived, "transfer:north#1", None);
        assert_eq!(
            revived,
            strings(&[
                "admit",
                "transfer:south",
                "transfer:north~",
                "transfer:south~"
            ])
        );
        // And the first move cancelled too: its own generation, the first,
        // not the second's again.
        let (revived, k) = remember(&revived, "retract:transfer:south", None);
        assert_eq!(k, "retract:transfer:south#1");
        assert_eq!(
            revive(revived, "transfer:south#1", None),
            strings(&[
                "admit",
                "transfer:south~",
                "transfer:north~",
                "transfer:south~"
            ])
        );
        // A new episode closes only what is live.
        assert_eq!(
            retire(&keys),
            strings(&[
                "admit!",
                "transfer:south^200@transfer:north#1",
                "transfer:north^300@transfer:south#2",
                "transfer:south~"
            ])
        );
    }

    #[test]
    fn a_cancelled_move_revives_only_what_it_left() {
        // Episode 1: SOUTH, then NORTH (SOUTH left), then discharged; the
        // readmission closes what was live.
        let keys = retire(&strings(&[
            "admit",
            "transfer:south^200@transfer:north#1",
            "transfer:north",
            "discharge",
        ]));
        let (keys, _) = remember(&keys, "admit", None);
        // The new episode's move to SOUTH, cancelled: it left nothing, so
        // nothing is live again, least of all episode 1's SOUTH.
        let (keys, k) = remember(&keys, "transfer:south", None);
        assert_eq!(k, "transfer:south#2");
        let keys = leave(keys, "transfer:south", 500, &k);
        let (keys, k) = remember(&keys, "retract:transfer:south", None);
        assert_eq!(k, "retract:transfer:south#2");
        let keys = revive(keys, "transfer:south#2", None);
        assert!(
            keys.iter()
                .all(|k| Ended::of(k).1.is_some() || k == "admit"),
            "{keys:?}"
        );
        // So the real move to SOUTH is news, under a third generation.
        let (_, k) = remember(&keys, "transfer:south", None);
        assert_eq!(k, "transfer:south#3");
    }

    #[test]
    fn a_cancellation_keeps_its_time() {
        let keys = strings(&["admit", "transfer:south"]);
        let (keys, k) = remember(&keys, "retract:transfer:south", Some(1100));
        assert_eq!(k, "retract:transfer:south#1");
        assert_eq!(keys, strings(&["admit", "transfer:south~1100"]));
        assert_eq!(
            Ended::of(&keys[1]),
            ("transfer:south", Some(Ended::Cancelled(Some(1100))))
        );
        // Other changes' cancellations keep theirs too; a time that did not
        // read leaves the bare mark.
        let (keys, _) = remember(&keys, "retract:admit", Some(1200));
        assert_eq!(keys, strings(&["admit~1200", "transfer:south~1100"]));
        let (keys, _) = remember(&keys, "transfer:north", Some(1300));
        let (keys, _) = remember(&keys, "retract:transfer:north", None);
        assert_eq!(keys[2], "transfer:north~");
        // The move made again is the change's next generation.
        let (_, k) = remember(&keys, "transfer:south", Some(1400));
        assert_eq!(k, "transfer:south#2");
    }

    #[test]
    fn unnamed_marks_of_a_closed_episode_stay_left() {
        // Written before marks named their transfer: the first stay went
        // SOUTH, then NORTH (SOUTH left at 1200), and was discharged at
        // 1300; the readmission's move to SOUTH was cancelled.
        let keys = strings(&[
            "admit!",
            "transfer:south^1200",
            "transfer:north!",
            "discharge!",
            "admit",
            "transfer:south~",
        ]);
        assert_eq!(revive(keys.clone(), "transfer:south#2", Some(1300)), keys);
        // Within the live episode, the old rule still applies.
        let keys = strings(&["admit", "transfer:south^1200", "transfer:north~"]);
        assert_eq!(
            revive(keys, "transfer:north#1", Some(1000)),
            strings(&["admit", "transfer:south", "transfer:north~"])
        );
    }

    #[test]
    fn marks_that_name_no_transfer_follow_the_old_rule() {
        let keys = strings(&[
            "admit",
            "transfer:south^200",
            "transfer:north^300",
            "transfer:south~",
        ]);
        assert_eq!(
            revive(keys, "transfer:south#2", None),
            strings(&[
                "admit",
                "transfer:south^200",
                "transfer:north",
                "transfer:south~"
            ])
        );
    }
}
