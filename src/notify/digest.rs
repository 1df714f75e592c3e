//! The daily digest: subscribers who chose it (`hisp roster delivery --mode
//! digest`) get their alerts filed in the worklist as they happen and, once
//! a day at `[notify] digest_time` (UTC), a Direct message carrying every
//! alert not yet sent to them (several, of at most `[notify]
//! digest_max_alerts` alerts each, when there are more). Exactly one node sends each digest (the turn
//! is taken with a compare-and-set on the subscriber's last digest time). A
//! crash between taking the turn and sending leaves the alerts unsent, and a
//! later pass on any node sends them once the turn is [`DIGEST_TURN_SECS`]
//! old (`notify::digests_due`), rather than the next day's digest. A
//! subscriber who goes back to real time gets the alerts already filed for
//! their digest in one last digest, within a pass of the loop (30 s), rather
//! than never. A disabled address gets no digest, even one whose turn was
//! taken before the disable (its copy could only be refused for want of a
//! certificate, and its alerts marked sent): its alerts stay filed, and go
//! in its first digest once it is enabled again.

use std::time::Duration;

use tokio::sync::watch;

use super::Notifier;
use super::process::{OPT_OUT, Snapshot};
use super::retention::PURGE_STEPS;
use crate::direct::DirectAddress;
use crate::direct::compose::{self, CRLF};
use crate::ops::OpsError;
use crate::store::addresses;
use crate::store::notify::{self, Unsent, UnsentAlert};

/// How long the loop leaves a digest turn taken for a subscriber gone back
/// to real time before it takes one again: the node that took it may still
/// be sending (certificate discovery can take seconds), and its alerts are
/// unsent until then.
pub const REALTIME_TURN_SECS: i64 = 120;

/// How long the loop leaves a digest subscriber's turn alone before taking
/// up what it left unsent (the node that took it died part-way): longer than
/// [`REALTIME_TURN_SECS`], since a long digest of several messages may
/// still be going out, and a second node sending its rest at the same time
/// would number its parts anew.
pub const DIGEST_TURN_SECS: i64 = 900;

/// The clear-text Subject of a digest (no PHI).
pub const SUBJECT: &str = "Encounter notifications: daily digest";

/// The latest digest instant at or before `now`: today's `HH:MM` UTC, or
/// yesterday's when that is still ahead. `None` when `time` is not `HH:MM`.
pub fn last_due(now: i64, time: &str) -> Option<i64> {
    let (h, m) = time.trim().split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    if !(0..24).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    let today = now.div_euclid(86_400) * 86_400 + h * 3600 + m * 60;
    Some(if today <= now { today } else { today - 86_400 })
}

impl Notifier {
    /// Send the digest to every digest subscriber whose last one went out
    /// before `due`, and to every subscriber gone back to real time who has
    /// alerts filed for a digest not yet sent and whose last digest turn was
    /// taken before `realtime_before` (they go now, not at the next digest
    /// time; the loop leaves a turn taken by another node, which may still
    /// be sending, [`REALTIME_TURN_SECS`]), and to every digest subscriber
    /// whose turn, taken before `digest_before`, left alerts unsent (see
    /// [`DIGEST_TURN_SECS`]). A subscriber whose digest fails
    /// is logged and retried on a later pass; the others still get theirs.
    /// Returns the number of subscribers sent a digest (a long digest goes
    /// as several messages, `[notify] digest_max_alerts` alerts each).
    pub async fn send_digests(
        &self,
        due: i64,
        realtime_before: i64,
        digest_before: i64,
    ) -> Result<usize, OpsError> {
        let hisp = &self.gw.hisp;
        let subscribers = {
            let mut conn = hisp.conn().await?;
            notify::digests_due(&mut conn, due, realtime_before, digest_before).await?
        };
        let mut sent = 0;
        let mut snap = Snapshot::default();
        if !subscribers.is_empty() {
            snap.refresh(self).await?;
        }
        for due in subscribers {
            match self.send_digest(&mut snap, due).await {
                Ok(true) => sent += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot send a digest; retrying later"),
            }
        }
        Ok(sent)
    }

    /// One subscriber's digest: whether one was sent. A failure gives the
    /// turn back (`last_digest_at` as it was), so the next pass retries it
    /// rather than the next day's digest time.
    async fn send_digest(
        &self,
        snap: &mut Snapshot,
        due: notify::DigestDue,
    ) -> Result<bool, OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let subscriber = due.subscriber.as_str();
        {
            let mut tx = hisp.store.begin().await?;
            if !notify::claim_digest(&mut tx, subscriber, due.last_digest_at, now).await? {
                return Ok(false); // another node has it, or the address is disabled
            }
            tx.commit().await?;
        }
        let sent = self.send_claimed(snap, &due, now).await;
        // Disabled meanwhile (`None`) or failed: the turn goes back, so what
        // is left goes on a later pass (once enabled again).
        if !matches!(sent, Ok(Some(_))) {
            let mut tx = hisp.store.begin().await?;
            notify::give_back_digest(&mut tx, subscriber, now, due.last_digest_at).await?;
            tx.commit().await?;
        }
        Ok(sent?.unwrap_or(false))
    }

    /// Send the digest whose turn was taken at `now`. An alert the worker
    /// sent meanwhile (a subscriber switching modes) makes the submit fail
    /// with nothing queued (`Gateway::submit_carrying`): the unsent alerts
    /// are read again and the rest sent, so none goes twice. So does a
    /// change counter moved since `snap` was loaded: the submit holds the
    /// counter, so an opt-out (under any practice's number) recorded while
    /// the digest was rendered is seen on the reload and its alerts
    /// withdrawn; one recorded later waits for the commit. Before, the
    /// snapshot was loaded once per pass and an opt-out recorded meanwhile
    /// did not stop the digest.
    ///
    /// `None` when the address was disabled after the turn was taken: it is
    /// checked on every read, and a disable after the check moves the
    /// counter, so the submit fails and the next read sees it. Its parts
    /// not yet sent wait (a copy to a disabled address could only be
    /// refused, and its alerts would be marked sent).
    async fn send_claimed(
        &self,
        snap: &mut Snapshot,
        due: &notify::DigestDue,
        now: i64,
    ) -> Result<Option<bool>, OpsError> {
        let hisp = &self.gw.hisp;
        let subscriber = due.subscriber.as_str();
        let which = if due.digest_mode {
            Unsent::Of(subscriber)
        } else {
            Unsent::FiledForDigest(subscriber)
        };
        let max = hisp.config.notify.digest_max_alerts.max(1);
        let mut tries = 0;
        let mut sent = false;
        // What this turn sent before a read again: the parts after it go on
        // numbering from there.
        let mut before = Sent::default();
        'read: loop {
            snap.refresh(self).await?;
            let alerts = {
                let mut conn = hisp.conn().await?;
                if !addresses::is_enabled(&mut conn, subscriber).await? {
                    tracing::info!(subscriber, "address disabled: its digest waits");
                    return Ok(None);
                }
                notify::unsent_alerts(&mut conn, hisp.store.sealer(), which).await?
            };
            let alerts = self.withdraw_opted_out(snap, alerts).await?;
            if alerts.is_empty() {
                return Ok(Some(sent));
            }
            let from = self.sender().await?;
            let to = DirectAddress::parse(subscriber)?;
            let parts = before.parts_of(alerts.len(), max);
            let mut sent_now = before;
            for (chunk, part) in alerts.chunks(max).zip(parts) {
                let message = render(&from, &to, chunk, part, now);
                let ids: Vec<i64> = chunk.iter().map(|a| a.id).collect();
                let judged = snap.generation();
                match self.send_filed(&from, &to, &message, &ids, judged).await {
                    Err(e) if super::process::sent_already(&e) && tries < 3 => {
                        tries += 1;
                        before = sent_now;
                        continue 'read;
                    }
                    Err(e) => return Err(e),
                    Ok(()) => {
                        sent = true;
                        sent_now.parts += 1;
                        sent_now.alerts += chunk.len();
                    }
                }
            }
            let messages = sent_now.parts;
            tracing::info!(alerts = sent_now.alerts, messages, "digest sent");
            return Ok(Some(true));
        }
    }
}

impl Notifier {
    /// The alerts whose patient has not opted out since they were filed;
    /// the others are withdrawn from the worklist (deleted, never sent) and
    /// audited. The patient is judged, as the worker judged them, under every
    /// record of theirs: the patient as the ADT named them (kept with the
    /// alert until it is sent), the patient index's person, and the roster
    /// entry the alert matched (renewed in place when the roster is
    /// re-submitted, so it stays; ended entries are kept while an unsent
    /// alert names them), and every other roster entry that matches the
    /// patient for sure. An opt-out recorded under the hospital's MRN thus
    /// withdraws an alert matched to a practice's entry under its own, and
    /// one recorded under another practice's number withdraws it too. So
    /// does one under a number the ADT sent in PID-4 (kept with the alert
    /// too), which may withhold but never release: a later opt-in under the
    /// patient's own numbers still overrides it.
    async fn withdraw_opted_out(
        &self,
        snap: &Snapshot,
        alerts: Vec<UnsentAlert>,
    ) -> Result<Vec<UnsentAlert>, OpsError> {
        let hisp = &self.gw.hisp;
        let now = hisp.now();
        let (mut keep, mut withdraw) = (Vec::with_capacity(alerts.len()), Vec::new());
        let mut conn = hisp.conn().await?;
        for a in alerts {
            // Expired entries too (`now` 0): the alert was filed while it was current.
            let entry = match a.roster_entry_id {
                Some(id) => notify::entry(&mut conn, hisp.store.sealer(), id, 0)
                    .await?
                    .map(super::roster::read_entry),
                None => None,
            };
            let indexed = match &a.patient {
                Some(p) => self.indexed(snap, p).await?,
                None => None,
            };
            let records = a
                .patient
                .iter()
                .chain(indexed.as_ref())
                .chain(entry.as_ref().map(|e| &e.patient));
            let consent = match &a.patient {
                Some(p) => snap.consent_of_person(
                    p,
                    indexed.as_ref(),
                    records,
                    a.withholding.as_ref(),
                    &a.roster_entry_id
                        .map(|id| snap.apart_from(id, a.record.as_deref()))
                        .unwrap_or_default(),
                    a.record.as_deref(),
                    now,
                ),
                None => snap.consent_of_all(records),
            };
            if consent == Some(OPT_OUT) {
                withdraw.push(a.id);
            } else {
                keep.push(a);
            }
        }
        drop(conn);
        if withdraw.is_empty() {
            return Ok(keep);
        }
        let mut tx = hisp.store.begin().await?;
        for id in withdraw {
            if notify::delete_unsent_alert(&mut tx, id).await? {
                let subject = format!("alert {id}");
                hisp.audit(
                    &mut tx,
                    "notify",
                    "alert.withdrawn",
                    &subject,
                    "the patient opted out",
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(keep)
    }
}

/// The digest's text, `templates/mail/digest.txt`: `{count}`,
/// `{notifications}` (the word, singular or plural), `{part}` (empty, or
/// which message of a digest sent as several this is) and `{alerts}` (each
/// alert's summary under a `---- alert N ----` line).
const TEMPLATE: &str = include_str!("../../templates/mail/digest.txt");

/// Which message of a digest one is: `number` of `of`, the digest holding
/// `total` alerts in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Part {
    total: usize,
    number: usize,
    of: usize,
}

/// The messages and alerts a digest turn has sent so far.
#[derive(Debug, Clone, Copy, Default)]
struct Sent {
    parts: usize,
    alerts: usize,
}

impl Sent {
    /// The parts `remaining` alerts go as, `max` each, after what was sent:
    /// a digest read again part way (an alert sent meanwhile, a change of
    /// consents) goes on from "message 2 of 3" rather than starting again
    /// at "1 of 2", which reads as if a message were lost.
    fn parts_of(self, remaining: usize, max: usize) -> Vec<Part> {
        let of = self.parts + remaining.div_ceil(max.max(1));
        (self.parts + 1..=of)
            .map(|number| Part {
                total: self.alerts + remaining,
                number,
                of,
            })
            .collect()
    }
}

/// One digest message: its alerts' summaries, oldest first, in one text
/// part.
fn render(
    from: &DirectAddress,
    to: &DirectAddress,
    alerts: &[UnsentAlert],
    part: Part,
    now: i64,
) -> Vec<u8> {
    let mut each = String::new();
    for a in alerts {
        each.push_str(&format!("\n---- alert {} ----\n", a.id));
        for line in a.summary.lines() {
            each.push_str(line);
            each.push('\n');
        }
    }
    let count = part.total.to_string();
    let which = if part.of > 1 {
        format!(
            ", sent as {} messages: this is message {} of {}, with {} of them",
            part.of,
            part.number,
            part.of,
            alerts.len()
        )
    } else {
        String::new()
    };
    let text = compose::fill(
        TEMPLATE,
        &[
            ("count", &count),
            (
                "notifications",
                if part.total == 1 {
                    "notification"
                } else {
                    "notifications"
                },
            ),
            ("part", &which),
            ("alerts", &each),
        ],
    );
    // MIME text is in canonical form: CRLF line ends.
    let text = text.replace("\r\n", "\n").replace('\n', CRLF);
    let mut h = String::new();
    h.push_str(&compose::field("From", &from.to_string()));
    h.push_str(&compose::field("To", &to.to_string()));
    h.push_str(&compose::subject(SUBJECT));
    h.push_str(&compose::field("Date", &compose::rfc5322_date(now)));
    h.push_str(&format!(
        "MIME-Version: 1.0{CRLF}Content-Type: text/plain; charset=utf-8{CRLF}Content-Transfer-Encoding: base64{CRLF}{CRLF}"
    ));
    let mut out = h.into_bytes();
    for chunk in compose::base64(text.as_bytes()).as_bytes().chunks(76) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(CRLF.as_bytes());
    }
    out
}

/// Send digests when due, and once a day delete archived roster entries
/// and old ADT dedup keys, until `stop` flips (checked every 30 seconds).
/// A backlog of keys is deleted a slice per turn of the loop
/// (`retention::PURGE_STEPS`), so digests and a shutdown never wait long.
pub async fn run(n: Notifier, mut stop: watch::Receiver<bool>) {
    let time = n.gw.hisp.config.notify.digest_time.clone();
    let (mut rosters_on, mut keys_on) = (None, None);
    // The change counter at the last sweep of opted-out reviews: a consent
    // decision moves it.
    let mut reviews_at = None;
    let mut snap = super::process::Snapshot::default();
    loop {
        let now = n.gw.hisp.now();
        if let Some(due) = last_due(now, &time)
            && let Err(e) = n
                .send_digests(due, now - REALTIME_TURN_SECS, now - DIGEST_TURN_SECS)
                .await
        {
            tracing::warn!(error = %e, "cannot send daily digests");
        }
        let today = now.div_euclid(86_400);
        if rosters_on != Some(today) {
            match purge_rosters(&n).await {
                Ok(()) => rosters_on = Some(today),
                Err(e) => tracing::warn!(error = %e, "cannot delete archived roster entries"),
            }
        }
        match sweep_reviews(&n, reviews_at, &mut snap).await {
            Ok(at) => reviews_at = at,
            Err(e) => tracing::warn!(error = %e, "cannot close opted-out patients' reviews"),
        }
        if keys_on != Some(today) {
            match n.gw.hisp.purge_adt_keys("notify", PURGE_STEPS).await {
                Ok(p) if p.done => keys_on = Some(today),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot delete old ADT dedup keys"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Close held reviews left undecided (`close_stale_holds`), and opted-out
/// patients' open reviews (`close_opted_out_reviews`) when the change
/// counter moved since `at`; the counter swept at.
async fn sweep_reviews(
    n: &Notifier,
    at: Option<i64>,
    snap: &mut super::process::Snapshot,
) -> Result<Option<i64>, OpsError> {
    match n.close_stale_holds().await {
        Ok(0) => {}
        Ok(closed) => tracing::info!(closed, "held reviews left undecided closed"),
        Err(e) => tracing::warn!(error = %e, "cannot close held reviews left undecided"),
    }
    let mut conn = n.gw.hisp.conn().await?;
    let now = crate::store::notify::generation(&mut conn).await?;
    drop(conn);
    if at == Some(now) {
        return Ok(at);
    }
    let closed = n.close_opted_out_reviews(snap).await?;
    if closed > 0 {
        tracing::info!(closed, "opted-out patients' reviews closed");
    }
    Ok(Some(now))
}

/// Delete archived roster entries (`Hisp::purge_archived_rosters`).
async fn purge_rosters(n: &Notifier) -> Result<(), OpsError> {
    let hisp = &n.gw.hisp;
    let mut tx = hisp.store.begin().await?;
    hisp.purge_archived_rosters(&mut tx, "notify").await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Part, Sent, last_due, render};
    use crate::direct::DirectAddress;
    use crate::store::notify::UnsentAlert;

    #[test]
    fn a_digest_read_again_part_way_goes_on_numbering() {
        let part = |total, number, of| Part { total, number, of };
        let fresh = Sent::default().parts_of(5, 2);
        assert_eq!(fresh, [part(5, 1, 3), part(5, 2, 3), part(5, 3, 3)]);
        // Message 1 of 3 went, with 2 alerts; read again, 3 are left.
        let after = Sent {
            parts: 1,
            alerts: 2,
        }
        .parts_of(3, 2);
        assert_eq!(after, [part(5, 2, 3), part(5, 3, 3)]);
        // One of them was withdrawn meanwhile: the last is message 2 of 2.
        let fewer = Sent {
            parts: 1,
            alerts: 2,
        }
        .parts_of(1, 2);
        assert_eq!(fewer, [part(3, 2, 2)]);
        assert_eq!(Sent::default().parts_of(1, 500), [part(1, 1, 1)]);
    }

    #[test]
    fn the_digest_text_holds_each_summary_under_its_alert_line() {
        let from = DirectAddress::parse("notifications@a.test").expect("addr");
        let to = DirectAddress::parse("carol@a.test").expect("addr");
        let alert = |id: i64, summary: &str| UnsentAlert {
            id,
            roster_entry_id: None,
            summary: summary.into(),
            patient: None,
            withholding: None,
            record: None,
        };
        let text = |alerts: &[UnsentAlert]| {
            let part = Part {
                total: alerts.len(),
                number: 1,
                of: 1,
            };
            let message = String::from_utf8(render(&from, &to, alerts, part, 0)).expect("utf8");
            let (head, body) = message.split_once("\r\n\r\n").expect("header");
            assert!(head.contains("Subject: Encounter notifications: daily digest"));
            let body: String = body.split("\r\n").collect();
            let bytes = crate::direct::smime::mime::base64_decode(body.as_bytes()).expect("b64");
            String::from_utf8(bytes).expect("utf8")
        };
        let one = text(&[alert(
            7,
            "Encounter notification: ED visit\nPatient: Doe, Jane\n",
        )]);
        assert_eq!(
            one,
            "1 encounter notification since your last digest.\r\n\r\n---- alert 7 ----\r\n\
             Encounter notification: ED visit\r\nPatient: Doe, Jane\r\n"
        );
        let two = text(&[alert(7, "A\n"), alert(9, "B\n")]);
        assert!(two.starts_with("2 encounter notifications since"), "{two}");
        assert!(two.ends_with("---- alert 9 ----\r\nB\r\n"), "{two}");
        // The second of three messages of a digest of 1,001 alerts.
        let part = Part {
            total: 1001,
            number: 2,
            of: 3,
        };
        let message = render(&from, &to, &[alert(9, "B\n")], part, 0);
        let message = String::from_utf8(message).expect("utf8");
        let body: String = message
            .split_once("\r\n\r\n")
            .expect("body")
            .1
            .split("\r\n")
            .collect();
        let bytes = crate::direct::smime::mime::base64_decode(body.as_bytes()).expect("b64");
        assert_eq!(
            String::from_utf8(bytes).expect("utf8"),
            "1001 encounter notifications since your last digest, sent as 3 messages: this is \
             message 2 of 3, with 1 of them.\r\n\r\n---- alert 9 ----\r\nB\r\n"
        );
    }

    #[test]
    fn the_digest_instant_is_today_or_yesterday() {
        let day = 20_000 * 86_400;
        assert_eq!(last_due(day + 8 * 3600, "07:00"), Some(day + 7 * 3600));
        assert_eq!(
            last_due(day + 6 * 3600, "07:00"),
            Some(day - 86_400 + 7 * 3600)
        );
        assert_eq!(last_due(day + 7 * 3600, "07:00"), Some(day + 7 * 3600));
        assert_eq!(last_due(day, "00:00"), Some(day));
        assert_eq!(last_due(day, "24:00"), None);
        assert_eq!(last_due(day, "7"), None);
        assert_eq!(last_due(day, "07:60"), None);
    }
}
