//! The notify worker's step for one committed ADT message: read the event;
//! honour consent (an opted-out patient gets no alert and nothing stored
//! beyond the dedup key; a sensitive feed needs recorded opt-in consent, and
//! every suppression is audited with its reason); run the encounter state
//! machine; match the patient against each subscriber's roster (identifier,
//! else demographics; near misses go to review, never out); file one alert
//! per state change per subscriber and send it through the outbound Direct
//! path from the notification address.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::Notifier;
use super::adt::{self, AdtEvent, Change};
use super::alert::{self, AlertContext};
use super::mpi::{Demographics, Identifier, Index, Outcome, Patient};
use super::sensitive;
use crate::direct::DirectAddress;
use crate::hl7;
use crate::ops::OpsError;
use crate::smtp::submit::Submission;
use crate::store::notify::{
    self, AdtRow, EncounterRow, FeedRow, NewAlert, RosterEntry, StoredPatient,
};

/// What became of one ADT message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// Alerts sent to these subscribers.
    Alerted(Vec<String>),
    /// No alert, and why.
    Quiet(&'static str),
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

impl Notifier {
    /// Process one claimed ADT row to its end.
    pub async fn process(&self, row: &AdtRow) -> Result<Done, OpsError> {
        let hisp = &self.gw.hisp;
        let Ok(msg) = hl7::parse(&row.raw) else {
            return self
                .finish(row, "unparseable", false, Done::Quiet("unparseable"))
                .await;
        };
        let ev = match adt::read(&msg) {
            Ok(ev) => ev,
            Err(_) => {
                return self
                    .finish(row, "no patient", false, Done::Quiet("no patient"))
                    .await;
            }
        };
        let (feed, consent) = {
            let mut conn = hisp.conn().await?;
            let feed = notify::find_feed(&mut conn, &ev.sending_facility).await?;
            let consents = notify::consents(&mut conn, hisp.store.sealer()).await?;
            (feed, consent_of(&ev.patient, &consents))
        };
        let Some(feed) = feed else {
            return self
                .finish(row, "feed removed", false, Done::Quiet("unregistered feed"))
                .await;
        };
        if consent.as_deref() == Some("opt-out") {
            self.suppressed(row, "the patient opted out").await?;
            return self
                .finish(row, "opted out", true, Done::Quiet("opted out"))
                .await;
        }
        if ev.trigger == "A40" {
            return self.merge(row, &ev).await;
        }
        let (change, enc) = self.advance(&ev).await?;
        let enc_id = enc.id;
        let Change::Alert { event, key } = change else {
            self.save(&enc).await?;
            return self
                .finish(
                    row,
                    "no alert",
                    false,
                    Done::Quiet("no state change to alert"),
                )
                .await;
        };
        if feed.sensitive && consent.as_deref() != Some("opt-in") {
            self.save(&enc).await?;
            self.suppressed(row, "sensitive source and no recorded consent")
                .await?;
            return self
                .finish(
                    row,
                    "suppressed",
                    false,
                    Done::Quiet("sensitive without consent"),
                )
                .await;
        }
        // Without opt-in consent, sensitive diagnoses stay out of the alert.
        let content = if consent.as_deref() == Some("opt-in") {
            Content {
                ev: ev.clone(),
                raw: row.raw.clone(),
                withheld: false,
            }
        } else {
            let (ev, withheld) = sensitive::redact_event(&ev);
            let raw = if withheld {
                sensitive::redact_raw(&row.raw)
            } else {
                row.raw.clone()
            };
            Content { ev, raw, withheld }
        };
        let sent = self
            .alert_subscribers(row, &content, &feed, enc_id, event, &key)
            .await?;
        self.save(&enc).await?;
        let done = if sent.is_empty() {
            Done::Quiet("no subscriber's roster matched")
        } else {
            Done::Alerted(sent)
        };
        self.finish(row, event, false, done).await
    }

    /// Run the state machine for the event's encounter; returns the change and
    /// the encounter's new state, which the caller saves once the alerts are
    /// out (so a failure before that re-decides the same change on retry). A
    /// change already alerted becomes quiet.
    async fn advance(&self, ev: &AdtEvent) -> Result<(Change, EncounterRow), OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let mut conn = hisp.conn().await?;
        let mut enc = notify::encounter(
            &mut conn,
            &ev.sending_facility.to_lowercase(),
            &ev.visit,
            now,
        )
        .await?;
        let alerted: Vec<String> = enc
            .alerted
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let refs: Vec<&str> = alerted.iter().map(String::as_str).collect();
        let (change, state) = adt::decide(ev, &enc.state, &refs);
        enc.state = state;
        let change = match change {
            Change::Alert { key, .. } if refs.contains(&key.as_str()) => Change::Quiet,
            Change::Alert { event, key } => {
                let (keys, unique) = remember(&alerted, &key);
                enc.alerted = keys.join(",");
                Change::Alert { event, key: unique }
            }
            Change::Quiet => Change::Quiet,
        };
        Ok((change, enc))
    }

    /// Save the encounter's new state.
    async fn save(&self, enc: &EncounterRow) -> Result<(), OpsError> {
        let mut conn = self.gw.hisp.conn().await?;
        notify::save_encounter(&mut conn, enc, self.gw.hisp.now()).await?;
        Ok(())
    }

    /// Match each subscriber's roster and alert the matches.
    async fn alert_subscribers(
        &self,
        row: &AdtRow,
        content: &Content,
        feed: &FeedRow,
        encounter_id: i64,
        event: &'static str,
        key: &str,
    ) -> Result<Vec<String>, OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let entries = {
            let mut conn = hisp.conn().await?;
            notify::entries(&mut conn, hisp.store.sealer(), None, now).await?
        };
        let mut sent = Vec::new();
        for (owner, matched) in match_rosters(&entries, &content.ev.patient) {
            let entry = match matched {
                Matched::Yes(e) => e,
                Matched::Review(e, score) => {
                    let mut conn = hisp.conn().await?;
                    notify::insert_review(&mut conn, row.id, e.id, score, now).await?;
                    continue;
                }
            };
            if self
                .send_alert(content, feed, entry, encounter_id, event, key)
                .await?
            {
                sent.push(owner);
            }
        }
        Ok(sent)
    }

    /// File the alert (once per change) and send it; false when it existed.
    async fn send_alert(
        &self,
        content: &Content,
        feed: &FeedRow,
        entry: &RosterEntry,
        encounter_id: i64,
        event: &'static str,
        key: &str,
    ) -> Result<bool, OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let from = self.sender().await?;
        let to = DirectAddress::parse(&entry.owner)?;
        let id = random_id()?;
        let (ev, raw) = (&content.ev, content.raw.as_slice());
        let ctx = AlertContext {
            from: &from,
            to: &to,
            event,
            facility_name: &feed.name,
            program: entry.program.as_deref(),
            adt: raw,
            now,
            id: &id,
            withheld: content.withheld,
        };
        let summary = alert::summary(ev, &ctx);
        let new = NewAlert {
            subscriber: &entry.owner,
            encounter_id,
            change_key: key,
            event,
            program: entry.program.as_deref(),
            facility: &feed.facility,
            summary: &summary,
        };
        let alert_id = {
            let mut conn = hisp.conn().await?;
            notify::insert_alert(&mut conn, hisp.store.sealer(), &new, now).await?
        };
        // Filed but never sent (a failure or crash before the submit): send it now.
        let alert_id = match alert_id {
            Some(id) => id,
            None => {
                let mut conn = hisp.conn().await?;
                match notify::unsent_alert(&mut conn, &entry.owner, encounter_id, key).await? {
                    Some(id) => id,
                    None => return Ok(false),
                }
            }
        };
        let message = alert::render(ev, &ctx);
        let sub = Submission {
            mail_from: &from,
            rcpts: std::slice::from_ref(&to),
            message: &message,
            actor: "notify",
        };
        let done = self.gw.submit(&sub).await?;
        let mut conn = hisp.conn().await?;
        notify::set_alert_message(&mut conn, alert_id, &done.message_id).await?;
        Ok(true)
    }

    /// A40: the MRG-1 identifier is retired in favour of PID-3's first one
    /// (STANDARDS.md §8: "An A40 merge retires the MRG-1 identifier").
    async fn merge(&self, row: &AdtRow, ev: &AdtEvent) -> Result<Done, OpsError> {
        let (Some(retired), Some(survivor)) = (&ev.merged, ev.patient.identifiers.first()) else {
            let done = Done::Quiet("nothing to merge");
            return self
                .finish(row, "merge without MRG-1 or PID-3", false, done)
                .await;
        };
        let hisp = &self.gw.hisp;
        let mut tx = hisp.store.begin().await?;
        let sealer = hisp.store.sealer();
        let n = notify::merge_identifier(&mut tx, sealer, retired, survivor, hisp.now()).await?;
        let subject = format!("adt {}", row.id);
        let detail = format!("{n} roster entries updated");
        hisp.audit(&mut tx, "notify", "patient.merge", &subject, &detail)
            .await?;
        tx.commit().await?;
        self.finish(row, "merged", false, Done::Quiet("identifiers merged"))
            .await
    }

    /// Audit a suppressed alert with its reason (no PHI: the row id only).
    async fn suppressed(&self, row: &AdtRow, reason: &str) -> Result<(), OpsError> {
        let hisp = &self.gw.hisp;
        let mut tx = hisp.store.begin().await?;
        hisp.audit(
            &mut tx,
            "notify",
            "alert.suppressed",
            &format!("adt {}", row.id),
            reason,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn finish(
        &self,
        row: &AdtRow,
        result: &str,
        forget: bool,
        done: Done,
    ) -> Result<Done, OpsError> {
        let mut conn = self.gw.hisp.conn().await?;
        notify::finish_adt(&mut conn, row.id, &self.gw.node, result, forget).await?;
        Ok(done)
    }

    /// The notification address, issued on first use.
    pub async fn sender(&self) -> Result<DirectAddress, OpsError> {
        self.gw.hisp.notification_address().await
    }
}

/// The encounter's alerted changes after alerting `key`, and the alert's
/// unique key. A retraction tombstones the change it cancels (`admit~`), so
/// the same change may alert again later (a real discharge after an A13);
/// each generation of a change gets its own alert key (`discharge#2`).
fn remember(alerted: &[String], key: &str) -> (Vec<String>, String) {
    let mut keys = alerted.to_vec();
    let base = match key.strip_prefix("retract:") {
        Some(cancelled) => {
            keys.retain(|k| k != cancelled);
            keys.push(format!("{cancelled}~"));
            cancelled
        }
        None => {
            keys.push(key.to_string());
            key
        }
    };
    let tombstone = format!("{base}~");
    let generation = keys.iter().filter(|k| **k == tombstone).count();
    let generation = if key.starts_with("retract:") {
        generation
    } else {
        generation + 1
    };
    (keys, format!("{key}#{generation}"))
}

fn random_id() -> Result<String, OpsError> {
    let mut b = [0u8; 16];
    openssl::rand::rand_bytes(&mut b).map_err(|e| OpsError::Invalid(e.to_string()))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// What an alert carries: the event and the ADT, redacted when consent is missing.
struct Content {
    ev: AdtEvent,
    raw: Vec<u8>,
    withheld: bool,
}

/// A roster match.
enum Matched<'a> {
    Yes(&'a RosterEntry),
    Review(&'a RosterEntry, f64),
}

/// Per subscriber (owner), the best match in their roster.
fn match_rosters<'a>(entries: &'a [RosterEntry], p: &StoredPatient) -> Vec<(String, Matched<'a>)> {
    let mut owners: Vec<&str> = entries.iter().map(|e| e.owner.as_str()).collect();
    owners.sort_unstable();
    owners.dedup();
    let ids = identifiers(p);
    let demo = demographics(p);
    let mut out = Vec::new();
    for owner in owners {
        let mut index = Index::new();
        for e in entries.iter().filter(|e| e.owner == owner) {
            index.insert(mpi_patient(e.id, &e.patient));
        }
        let find = |id: i64| entries.iter().find(|e| e.id == id);
        let m = match index.lookup(&ids, &demo) {
            Outcome::Identifier { id } | Outcome::Demographic { id, .. } => {
                find(id).map(Matched::Yes)
            }
            Outcome::Review { id, score } => find(id).map(|e| Matched::Review(e, score)),
            Outcome::NoMatch => None,
        };
        if let Some(m) = m {
            out.push((owner.to_string(), m));
        }
    }
    out
}

/// The latest consent decision that matches the patient.
fn consent_of(p: &StoredPatient, consents: &[notify::ConsentRow]) -> Option<String> {
    let ids = identifiers(p);
    let demo = demographics(p);
    consents
        .iter()
        .rev()
        .find(|c| {
            let mut index = Index::new();
            index.insert(mpi_patient(c.id, &c.patient));
            matches!(
                index.lookup(&ids, &demo),
                Outcome::Identifier { .. } | Outcome::Demographic { .. }
            )
        })
        .map(|c| c.decision.clone())
}

/// Give up on an ADT message after this many failed attempts.
const ADT_ATTEMPTS: i64 = 5;

impl Notifier {
    /// Finish a message that keeps failing, audited (its ACK stands; a person looks).
    async fn give_up(&self, row: &AdtRow, why: &str) -> Result<(), OpsError> {
        let hisp = &self.gw.hisp;
        let mut tx = hisp.store.begin().await?;
        let subject = format!("adt {}", row.id);
        hisp.audit(&mut tx, "notify", "adt.failed", &subject, why)
            .await?;
        notify::finish_adt(
            &mut tx,
            row.id,
            &self.gw.node,
            &format!("failed: {why}"),
            false,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Run the notify worker until `stop` flips.
pub async fn run(n: Notifier, mut stop: watch::Receiver<bool>) {
    let n = Arc::new(n);
    loop {
        if *stop.borrow() {
            return;
        }
        let rows = claim(&n).await;
        let idle = rows.is_empty();
        for row in rows {
            match n.process(&row).await {
                Ok(done) => tracing::info!(adt = row.id, ?done, "ADT processed"),
                Err(e) if row.attempts >= ADT_ATTEMPTS => {
                    tracing::error!(adt = row.id, error = %e, "ADT processing failed for good");
                    if let Err(e) = n.give_up(&row, &e.to_string()).await {
                        tracing::error!(adt = row.id, error = %e, "cannot record the failure");
                    }
                }
                Err(e) => {
                    tracing::warn!(adt = row.id, error = %e, "ADT processing failed; will retry");
                    if let Ok(mut conn) = n.gw.hisp.conn().await {
                        let next = n.gw.hisp.now() + 30 * row.attempts;
                        let _ = notify::release_adt(
                            &mut conn,
                            row.id,
                            &n.gw.node,
                            next,
                            &e.to_string(),
                        )
                        .await;
                    }
                }
            }
        }
        if idle {
            tokio::select! {
                _ = n.ready.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

async fn claim(n: &Notifier) -> Vec<AdtRow> {
    let hisp = &n.gw.hisp;
    let claimed = async {
        let mut conn = hisp.conn().await?;
        Ok::<_, OpsError>(notify::claim_adt(&mut conn, hisp.store.sealer(), n.gw.claim(16)).await?)
    };
    claimed.await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot claim ADT messages");
        Vec::new()
    })
}

#[cfg(test)]
mod tests {
    use super::remember;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn a_cancelled_change_may_alert_again_under_a_new_key() {
        let (keys, k) = remember(&[], "discharge");
        assert_eq!(
            (keys.clone(), k.as_str()),
            (strings(&["discharge"]), "discharge#1")
        );
        let (keys, k) = remember(&keys, "retract:discharge");
        assert_eq!(
            (keys.clone(), k.as_str()),
            (strings(&["discharge~"]), "retract:discharge#1")
        );
        let (keys, k) = remember(&keys, "discharge");
        assert_eq!(k, "discharge#2");
        let (_, k) = remember(&keys, "retract:discharge");
        assert_eq!(k, "retract:discharge#2");
    }
}
