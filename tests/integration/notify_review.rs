//! The review queue of near-miss matches, over real sockets on every engine:
//! an ADT patient who only nearly matches a roster entry (full name, birth
//! date and sex, under another hospital's identifier: 29.4 bits, below the
//! 30 an automatic match needs) alerts nobody and is queued; `hisp alert
//! reviews` shows both sides; confirming sends the held-back alert once, as
//! the change the worker held back; rejecting sends nothing; a retraction of
//! an alert never sent is not queued; a change a later message cancelled and a
//! review from before reviews kept their change cannot be confirmed; an
//! opt-out (under the roster's identity) closes the patient's open reviews;
//! every decision is audited, and a message is kept only while a review of
//! it is open.

use hisp::mailbox::INBOX;

use crate::harness;
use crate::notify::{ack_code, adt, alerts};
use crate::notify_features::{count, drained};
use crate::smtp::{Node, wait_for};

/// Jane Doe as a southern hospital knows her: no identifier in common with
/// the roster, nor a ZIP or phone to corroborate the name and birth date.
const NEAR_JANE: &str = "PID|1||X55^^^SOUTH^MR||Doe^Jane||19800102|F";

/// Opt-outs whose sweep forgot one judgment that two entries are
/// different people.
const SWEPT_ONE_JUDGMENT: &str = "SELECT COUNT(*) FROM audit_log WHERE action = 'consent.sweep' \
     AND detail LIKE '%; 1 judgment(s) of entries set apart%'";

/// The review ids of `alert reviews --json` (open ones, or all).
fn reviews(n: &Node, all: bool) -> Vec<serde_json::Value> {
    let mut args = vec!["alert", "reviews", "--json"];
    if all {
        args.push("--all");
    }
    let out = harness::ok(&n.cli(&args));
    serde_json::from_str::<Vec<serde_json::Value>>(&out).expect("json")
}

/// Send `msg` to `a`'s MLLP listener, expect AA, and wait for the worker
/// to finish it.
async fn accepted(a: &Node, e: &impl std::fmt::Display, msg: &[u8]) {
    assert_eq!(ack_code(a, msg).await.0, "AA", "{e}");
    drained(a).await;
}

/// Record `decision` (`opt-out` or `opt-in`) for the patient under
/// `id` of `authority`, through the CLI.
pub(crate) fn consent(n: &Node, decision: &str, id: &str, authority: &str) {
    harness::ok(&n.cli(&[
        "consent",
        decision,
        "--patient-id",
        id,
        "--authority",
        authority,
    ]));
}

/// The one open review, held because only `near`'s opt-out withheld it.
fn held_for(a: &Node, e: &impl std::fmt::Display, near: i64) -> serde_json::Value {
    let mut open = reviews(a, false);
    assert_eq!(open.len(), 1, "{e}: {open:?}");
    assert_eq!(open[0]["withheld_by"], serde_json::json!([near]), "{e}");
    open.remove(0)
}

async fn audited(n: &Node, action: &str, subject: &str) -> bool {
    audited_by(n, "cli", action, subject).await
}

async fn audited_by(n: &Node, actor: &str, action: &str, subject: &str) -> bool {
    let mut conn = n.hisp.conn().await.expect("conn");
    hisp::audit::page(&mut conn, 0, 100_000)
        .await
        .expect("audit")
        .iter()
        .any(|r| r.actor == actor && r.action == action && r.subject == subject)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn near_misses_wait_for_a_person_who_confirms_or_rejects_them_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        let carol = a.address("carol").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        let csv = a.dir.path().join("roster.csv");
        std::fs::write(
            &csv,
            "patient_id,assigning_authority,family_name,given_name,birth_date,sex,postal_code,phone,program,end_date\n\
             MRN1,NORTH,Doe,Jane,1980-01-02,F,,,Transitions,\n",
        )
        .expect("csv");
        let path = csv.to_str().expect("path");
        harness::ok(&a.cli(&["roster", "import", path, "--owner", "carol@a.test"]));

        // Three ED visits of the near match: AA each, no alert, three reviews.
        for (control, visit) in [("R1", "VR1"), ("R2", "VR2"), ("R3", "VR3")] {
            let msg = adt(control, "A04", "NORTHHOSP", "E", visit, NEAR_JANE);
            assert_eq!(ack_code(&a, &msg).await.0, "AA", "{e}");
        }
        drained(&a).await;
        assert!(
            alerts(&a).await.is_empty(),
            "{e}: a near miss alerts nobody"
        );
        let open = reviews(&a, false);
        assert_eq!(open.len(), 3, "{e}: {open:?}");
        assert_eq!(
            count(
                &a,
                "SELECT COUNT(*) FROM adt_messages WHERE raw_sealed IS NOT NULL"
            )
            .await,
            3,
            "{e}: a processed message is kept only while a review needs it"
        );
        for r in &open {
            assert_eq!(r["status"], "open", "{e}");
            assert_eq!(r["event"], "ed", "{e}");
            assert_eq!(r["adt_patient"]["family"], "Doe", "{e}");
            assert_eq!(r["adt_patient"]["identifiers"][0][0], "X55", "{e}");
            assert_eq!(r["entry"]["owner"], "carol@a.test", "{e}");
            let score: f64 = r["score"].as_str().expect("score").parse().expect("f64");
            assert!((18.0..30.0).contains(&score), "{e}: {score}");
        }
        let table = harness::ok(&a.cli(&["alert", "reviews"]));
        assert!(
            table.contains("Doe, Jane 19800102 F X55@SOUTH"),
            "{e}: {table}"
        );
        assert!(audited(&a, "review.view", "undecided").await, "{e}");
        let id = |r: &serde_json::Value| r["id"].as_i64().expect("id").to_string();
        let (r3, r2, r1) = (id(&open[0]), id(&open[1]), id(&open[2]));

        // Confirmed: the alert the worker held back goes to carol, once.
        let out = harness::ok(&a.cli(&["alert", "review", &r1, "--confirm"]));
        assert!(out.contains("alert filed for carol@a.test"), "{e}: {out}");
        let inbox = wait_for(60, "the confirmed alert in carol's inbox", || async {
            let l = a.hisp.mailbox_list(&carol, INBOX).await.expect("list");
            (!l.is_empty()).then_some(l)
        })
        .await;
        assert_eq!(inbox.len(), 1, "{e}");
        assert_eq!(inbox[0].subject, "Encounter notification: ED visit", "{e}");
        let filed = alerts(&a).await;
        assert_eq!(filed.len(), 1, "{e}");
        assert_eq!(
            (filed[0].subscriber.as_str(), filed[0].event.as_str()),
            ("carol@a.test", "ed")
        );
        // The very change the worker held back.
        let mut conn = a.hisp.conn().await.expect("conn");
        let (encounter, key): (i64, String) =
            sqlx::query_as("SELECT encounter_id, change_key FROM alerts")
                .fetch_one(&mut *conn)
                .await
                .expect("alert");
        drop(conn);
        assert_eq!(Some(encounter), open[2]["encounter_id"].as_i64(), "{e}");
        assert_eq!(Some(key.as_str()), open[2]["change_key"].as_str(), "{e}");
        harness::fails(
            &a.cli(&["alert", "review", &r1, "--confirm"]),
            1,
            "already confirmed",
        );
        // A near miss's review set nothing apart: nothing to undo.
        harness::fails(
            &a.cli(&["alert", "review", &r1, "--undo-distinct"]),
            1,
            "set no entries apart",
        );
        assert!(
            audited(&a, "match.confirm", &format!("review {r1}")).await,
            "{e}"
        );

        // Rejected: nothing sent.
        let out = harness::ok(&a.cli(&["alert", "review", &r2, "--reject"]));
        assert!(out.contains("rejected"), "{e}: {out}");
        assert!(
            audited(&a, "match.reject", &format!("review {r2}")).await,
            "{e}"
        );

        // An admission, then its cancellation (A11): the admission is queued
        // and cannot be confirmed (it was cancelled); the retraction is not
        // even queued, since carol never got the alert it would retract.
        let admit = adt("R4", "A01", "NORTHHOSP", "I", "VR4", NEAR_JANE);
        assert_eq!(ack_code(&a, &admit).await.0, "AA", "{e}");
        drained(&a).await;
        let cancel = adt("R5", "A11", "NORTHHOSP", "I", "VR4", NEAR_JANE);
        assert_eq!(ack_code(&a, &cancel).await.0, "AA", "{e}");
        drained(&a).await;
        let open = reviews(&a, false);
        let events: Vec<&str> = open
            .iter()
            .map(|r| r["event"].as_str().expect("event"))
            .collect();
        assert_eq!(events, ["admit", "ed"], "{e}");
        let r4 = id(&open[0]);
        harness::fails(
            &a.cli(&["alert", "review", &r4, "--confirm"]),
            1,
            "cancelled",
        );
        assert!(
            audited(&a, "match.confirm_refused", &format!("review {r4}")).await,
            "{e}: a refused confirmation is audited"
        );
        harness::ok(&a.cli(&["alert", "review", &r4, "--reject"]));

        // A review from before reviews kept their change: reject only.
        let mut conn = a.hisp.conn().await.expect("conn");
        let old: i64 = sqlx::query_scalar(
            "INSERT INTO match_reviews (adt_id, roster_entry_id, score, created_at)
             SELECT adt_id, roster_entry_id, score, created_at FROM match_reviews WHERE id = $1
             RETURNING id",
        )
        .bind(r3.parse::<i64>().expect("id"))
        .fetch_one(&mut *conn)
        .await
        .expect("old review");
        drop(conn);
        let old = old.to_string();
        harness::fails(
            &a.cli(&["alert", "review", &old, "--confirm"]),
            1,
            "queued before",
        );
        harness::ok(&a.cli(&["alert", "review", &old, "--reject"]));

        // Only the undecided review's message is still kept.
        let kept = "SELECT COUNT(*) FROM adt_messages WHERE raw_sealed IS NOT NULL";
        assert_eq!(
            count(&a, kept).await,
            1,
            "{e}: decided reviews forget theirs"
        );

        // The patient opts out under the roster's identity (not the ADT's)
        // before the third is decided: the opt-out closes it, by whoever
        // recorded it, and forgets its message.
        consent(&a, "opt-out", "MRN1", "NORTH");
        assert!(reviews(&a, false).is_empty(), "{e}: closed by the opt-out");
        harness::fails(
            &a.cli(&["alert", "review", &r3, "--confirm"]),
            1,
            "already rejected",
        );
        assert_eq!(count(&a, kept).await, 0, "{e}: nothing of the patient kept");
        assert!(audited(&a, "consent.sweep", "consent 1").await, "{e}");

        assert_eq!(alerts(&a).await.len(), 1, "{e}: one alert in all");
        assert!(reviews(&a, false).is_empty(), "{e}");
        let all = reviews(&a, true);
        let statuses: Vec<(&str, &str)> = all
            .iter()
            .map(|r| {
                (
                    r["status"].as_str().expect("status"),
                    r["decided_by"].as_str().expect("decided_by"),
                )
            })
            .collect();
        let mut want = vec![("rejected", "cli"); 4];
        want.push(("confirmed", "cli"));
        assert_eq!(statuses, want, "{e}");
        harness::fails(
            &a.cli(&["alert", "review", "999999", "--reject"]),
            1,
            "no review 999999",
        );
        harness::fails(&a.cli(&["alert", "review", &r1]), 2, "--confirm");
        a.stop().await;
    }
}

/// Jane as the southern hospital knows her, with her postal code: carol's
/// practice, which knows her by its own number with the same postal code,
/// matches her for sure; dave's roster, under the northern MRN without a
/// postal code, only nearly (a review).
const SOUTH_JANE: &str =
    "PID|1||X55^^^SOUTH^MR||Doe^Jane||19800102|F|||1 Main St^^Hartford^CT^06101";

/// An opt-out recorded under one practice's own number holds for a review of
/// another subscriber's near miss too, as the worker would have judged the
/// message (every roster entry that matches the patient for sure is a record
/// of theirs). The opt-out's own sweep has no rosters, so the digest task,
/// which sweeps the open reviews with them whenever the change counter
/// moves, closes it as rejected and forgets its message. Before, the review
/// stayed open, keeping the patient's ADT, until someone tried to confirm it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_opt_out_under_another_practices_number_stops_a_review_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        let dave = a.address("dave").await;
        a.start().await;
        carol_and_dave_know_jane(&a, false);

        let msg = adt("S1", "A04", "NORTHHOSP", "E", "VS1", SOUTH_JANE);
        accepted(&a, &e, &msg).await;
        let filed = alerts(&a).await;
        assert_eq!(filed.len(), 1, "{e}: carol's sure match alerts");
        assert_eq!(filed[0].subscriber, "carol@a.test", "{e}");
        let open = reviews(&a, false);
        assert_eq!(open.len(), 1, "{e}: dave's near miss waits: {open:?}");
        assert_eq!(open[0]["entry"]["owner"], "dave@a.test", "{e}");
        assert_eq!(open[0]["opted_out"], false, "{e}");
        let id = open[0]["id"].as_i64().expect("id").to_string();

        // The patient opts out at carol's practice, under its number, while
        // the server is down (so its digest task cannot close the review
        // before the listing below sees it).
        a.stop().await;
        consent(&a, "opt-out", "P77", "CAROLPRAC");
        // The opt-out's own sweep has no rosters, so the review is still
        // open; the listing judges it with them and hides the patient.
        let listed = reviews(&a, false);
        assert_eq!(listed.len(), 1, "{e}: {listed:?}");
        assert_eq!(listed[0]["opted_out"], true, "{e}: {}", listed[0]);
        assert!(
            listed[0]["adt_patient"].is_null(),
            "{e}: hidden once opted out"
        );
        // Served again, the digest task closes it.
        a.restart().await;
        wait_for(90, "the opted-out patient's review closed", || async {
            reviews(&a, false).is_empty().then_some(())
        })
        .await;
        let all = reviews(&a, true);
        assert_eq!(all[0]["status"], "rejected", "{e}: {all:?}");
        assert_eq!(all[0]["decided_by"], "notify", "{e}: {all:?}");
        assert!(all[0]["adt_patient"].is_null(), "{e}: its ADT forgotten");
        assert_eq!(
            count(
                &a,
                "SELECT COUNT(*) FROM adt_messages WHERE raw_sealed IS NOT NULL"
            )
            .await,
            0,
            "{e}: no ADT kept"
        );
        assert_eq!(
            count(
                &a,
                "SELECT COUNT(*) FROM audit_log WHERE action = 'match.reject' \
                 AND actor = 'notify' AND detail = 'the patient opted out'"
            )
            .await,
            1,
            "{e}: audited"
        );
        harness::fails(
            &a.cli(&["alert", "review", &id, "--confirm"]),
            1,
            "already rejected",
        );
        assert_eq!(alerts(&a).await.len(), 1, "{e}: nothing filed for dave");
        let dave_inbox = a.hisp.mailbox_list(&dave, INBOX).await.expect("list");
        assert!(dave_inbox.is_empty(), "{e}");
        a.stop().await;
    }
}

/// An opt-out recorded under the alternate number a v2.3 feed sends in
/// PID-4 (which only withholds) closes a near miss's review of that
/// message: its sweep reads the message's PID-4 too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_opt_out_under_a_pid_4_number_closes_a_review_of_its_message_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        let dave = a.address("dave").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        crate::notify_features::roster(&a, "dave@a.test", "MRN1,NORTH,Doe,Jane,1980-01-02,F,,,,\n");
        let pid = "PID|1||X55^^^SOUTH^MR|ALT3^^^SOUTH|Doe^Jane||19800102|F|||1 Main St^^Hartford^CT^06101";
        let msg = adt("S4", "A04", "NORTHHOSP", "E", "VS4", pid);
        accepted(&a, &e, &msg).await;
        let open = reviews(&a, false);
        assert_eq!(open.len(), 1, "{e}: dave's near miss waits: {open:?}");
        let id = open[0]["id"].as_i64().expect("id").to_string();
        consent(&a, "opt-out", "ALT3", "SOUTH");
        assert!(
            reviews(&a, false).is_empty(),
            "{e}: the opt-out's sweep closed it"
        );
        let out = a.cli(&["alert", "review", &id, "--confirm"]);
        assert!(!out.status.success(), "{e}: {out:?}");
        assert!(alerts(&a).await.is_empty(), "{e}: nothing filed for dave");
        let dave_inbox = a.hisp.mailbox_list(&dave, INBOX).await.expect("list");
        assert!(dave_inbox.is_empty(), "{e}");
        a.stop().await;
    }
}

/// The same for a digest: an alert filed for dave's digest is withdrawn
/// before the digest goes, once Jane opts out under the number carol's
/// practice knows her by (carol's entry matches her for sure).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_opt_out_under_another_practices_number_withdraws_a_digest_alert_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        let dave = a.address("dave").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        crate::notify_features::roster(
            &a,
            "carol@a.test",
            "P77,CAROLPRAC,Doe,Jane,1980-01-02,F,06101,,,\n",
        );
        crate::notify_features::roster(
            &a,
            "dave@a.test",
            "MRN1,NORTH,Doe,Jane,1980-01-02,F,06101,,,\n",
        );
        crate::notify_features::delivery(&a, "dave@a.test", "digest");
        let msg = adt("D1", "A04", "NORTHHOSP", "E", "VD1", crate::notify::JANE);
        accepted(&a, &e, &msg).await;
        let filed = alerts(&a).await;
        let daves: Vec<_> = filed
            .iter()
            .filter(|x| x.subscriber == "dave@a.test")
            .collect();
        assert_eq!(daves.len(), 1, "{e}: filed for dave's digest");
        assert!(daves[0].message_id.is_none(), "{e}");
        let dave_alert = format!("alert {}", daves[0].id);

        consent(&a, "opt-out", "P77", "CAROLPRAC");
        let out = harness::ok(&a.cli(&["alert", "digest"]));
        assert!(out.contains("0 digest"), "{e}: {out}");
        assert!(
            alerts(&a)
                .await
                .iter()
                .all(|x| x.subscriber != "dave@a.test"),
            "{e}: withdrawn"
        );
        let mut conn = a.hisp.conn().await.expect("conn");
        let withdrawn = hisp::audit::page(&mut conn, 0, 100_000)
            .await
            .expect("audit")
            .iter()
            .any(|r| r.action == "alert.withdrawn" && r.subject == dave_alert);
        drop(conn);
        assert!(withdrawn, "{e}: audited");
        assert!(
            a.hisp
                .mailbox_list(&dave, INBOX)
                .await
                .expect("list")
                .is_empty(),
            "{e}"
        );
        a.stop().await;
    }
}

/// A confirmation cut short after its alert was filed (the process died
/// before recording the decision) leaves the review `confirming`; five
/// minutes on it may be decided again. Rejected then, it is recorded
/// confirmed: the alert went out, and "rejected, no alert" in the audit
/// would deny a disclosure made.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_review_whose_cut_short_confirmation_filed_its_alert_is_not_rejected_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        crate::notify_features::roster(
            &a,
            "carol@a.test",
            "MRN1,NORTH,Doe,Jane,1980-01-02,F,,,,\n",
        );
        let msg = adt("K1", "A04", "NORTHHOSP", "E", "VK1", NEAR_JANE);
        accepted(&a, &e, &msg).await;
        let open = reviews(&a, false);
        assert_eq!(open.len(), 1, "{e}: {open:?}");
        let r = &open[0];
        let id = r["id"].as_i64().expect("id");
        let (encounter, key, entry) = (
            r["encounter_id"].as_i64().expect("encounter"),
            r["change_key"].as_str().expect("key"),
            r["roster_entry_id"].as_i64().expect("entry"),
        );

        // What the cut-short confirmation left: the review claimed long
        // ago, and its alert filed.
        let mut conn = a.hisp.conn().await.expect("conn");
        sqlx::query(
            "UPDATE match_reviews SET status = 'confirming', decided_by = 'cli', decided_at = 1 WHERE id = $1",
        )
        .bind(id)
        .execute(&mut *conn)
        .await
        .expect("confirming");
        let alert = hisp::store::notify::NewAlert {
            subscriber: "carol@a.test",
            encounter_id: encounter,
            change_key: key,
            event: "ed",
            program: None,
            facility: "northhosp",
            summary: "Doe, Jane",
            roster_entry_id: Some(entry),
            event_time: "20261122055900",
            patient: None,
            withholding: None,
            record: None,
        };
        hisp::store::notify::insert_alert(&mut conn, a.hisp.store.sealer(), &alert, 2)
            .await
            .expect("insert")
            .expect("filed");
        drop(conn);

        let out = harness::ok(&a.cli(&["alert", "review", &id.to_string(), "--reject"]));
        assert!(
            out.contains("confirmed: carol@a.test already had this alert"),
            "{e}: {out}"
        );
        let all = reviews(&a, true);
        assert_eq!(all[0]["status"], "confirmed", "{e}: {all:?}");
        let subject = format!("review {id}");
        assert!(audited(&a, "match.confirm", &subject).await, "{e}");
        assert!(!audited(&a, "match.reject", &subject).await, "{e}");
        a.stop().await;
    }
}

/// A retraction that waits for review, of an alert still waiting in a
/// digest: the admission went to carol's digest on her confirmation; she is
/// back on real time when its cancellation comes, again as a near miss.
/// Confirmed, the retraction waits in that same digest, so that it cannot
/// arrive before the alert it takes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_confirmed_retraction_of_an_alert_still_in_a_digest_waits_with_it_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        crate::notify_features::roster(
            &a,
            "carol@a.test",
            "MRN1,NORTH,Doe,Jane,1980-01-02,F,,,,\n",
        );
        let mode = |m: &str| crate::notify_features::delivery(&a, "carol@a.test", m);
        let confirm_only_review = |what: &'static str| {
            let a = &a;
            async move {
                drained(a).await;
                let open = reviews(a, false);
                assert_eq!(open.len(), 1, "{e}: {what}: {open:?}");
                assert_eq!(open[0]["event"], what, "{e}");
                let id = open[0]["id"].as_i64().expect("id").to_string();
                let out = harness::ok(&a.cli(&["alert", "review", &id, "--confirm"]));
                assert!(out.contains("alert filed for carol@a.test"), "{e}: {out}");
            }
        };
        mode("digest");
        let admit = adt("D1", "A01", "NORTHHOSP", "I", "VD1", NEAR_JANE);
        assert_eq!(ack_code(&a, &admit).await.0, "AA", "{e}");
        confirm_only_review("admit").await;
        mode("realtime");
        let cancel = adt("D2", "A11", "NORTHHOSP", "I", "VD1", NEAR_JANE);
        assert_eq!(ack_code(&a, &cancel).await.0, "AA", "{e}");
        confirm_only_review("retraction").await;
        let sent = || async {
            let mut conn = a.hisp.conn().await.expect("conn");
            sqlx::query_as::<_, (String, Option<String>)>(
                "SELECT event, message_id FROM alerts ORDER BY id",
            )
            .fetch_all(&mut *conn)
            .await
            .expect("alerts")
        };
        assert_eq!(
            sent().await,
            [
                ("admit".to_string(), None),
                ("retraction".to_string(), None)
            ],
            "{e}: both wait for the last digest"
        );
        let out = harness::ok(&a.cli(&["alert", "digest"]));
        assert!(out.contains("1 digest"), "{e}: {out}");
        let filed = sent().await;
        assert!(
            filed[0].1.is_some() && filed[0].1 == filed[1].1,
            "{e}: one digest carries both: {filed:?}"
        );
        a.stop().await;
    }
}

/// The feed (`sensitive` when asked) and carol's and dave's rosters, each
/// with Jane: carol's under her own number with Jane's postal code, which
/// `SOUTH_JANE` matches for sure; dave's under the northern MRN without
/// one, which it matches only nearly.
fn carol_and_dave_know_jane(a: &Node, sensitive: bool) {
    let mut feed = vec!["feed", "add", "--facility", "NORTHHOSP"];
    if sensitive {
        feed.push("--sensitive");
    }
    harness::ok(&a.cli(&feed));
    crate::notify_features::roster(
        a,
        "carol@a.test",
        "P77,CAROLPRAC,Doe,Jane,1980-01-02,F,06101,,,\n",
    );
    crate::notify_features::roster(a, "dave@a.test", "MRN1,NORTH,Doe,Jane,1980-01-02,F,,,,\n");
}

/// Carol's and dave's rosters (the feed registered) for the held-alert
/// tests: carol knows Jane by her own number with Jane's postal code, so
/// `SOUTH_JANE` matches her entry for sure; dave's entry, under the northern
/// MRN without one, only nearly, and its patient opts out at dave's
/// practice under its number only. The feed is `sensitive` when asked.
/// Dave's entry id.
async fn twin_opted_out_at_dave(a: &Node, sensitive: bool) -> i64 {
    carol_and_dave_know_jane(a, sensitive);
    let dave_entry = count(
        a,
        "SELECT MAX(id) FROM roster_entries WHERE owner = 'dave@a.test'",
    )
    .await;
    consent(a, "opt-out", "MRN1", "NORTH");
    dave_entry
}

/// An opt-out recorded under the number of a roster entry the patient only
/// nearly matches holds back the alert another practice's sure match would
/// get, for an admin: the near miss may be this patient (precision first),
/// or another (a twin). The review shows the near miss beside the message;
/// the digest task's sweep leaves it open; confirming sends the alert and
/// sets the two entries apart, so the patient's next visit alerts at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_opt_out_under_a_near_miss_entrys_number_holds_a_sure_matchs_alert_for_review_on_every_engine()
 {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        let carol = a.address("carol").await;
        a.address("dave").await;
        a.start().await;
        let dave_entry = twin_opted_out_at_dave(&a, false).await;

        // Carol's roster matches the southern hospital's Jane for sure,
        // dave's (the opted-out entry) only nearly.
        let msg = adt("S2", "A04", "NORTHHOSP", "E", "VS2", SOUTH_JANE);
        accepted(&a, &e, &msg).await;
        assert!(alerts(&a).await.is_empty(), "{e}: nothing filed for carol");
        let carol_inbox = a.hisp.mailbox_list(&carol, INBOX).await.expect("list");
        assert!(carol_inbox.is_empty(), "{e}");
        let suppressed = "SELECT COUNT(*) FROM audit_log WHERE action = 'alert.suppressed'";
        assert_eq!(count(&a, suppressed).await, 0, "{e}: held, not dropped");
        let open = reviews(&a, false);
        assert_eq!(open.len(), 1, "{e}: carol's match is held: {open:?}");
        assert_eq!(open[0]["entry"]["owner"], "carol@a.test", "{e}");
        assert_eq!(
            open[0]["withheld_by"],
            serde_json::json!([dave_entry]),
            "{e}"
        );
        assert_eq!(open[0]["opted_out"], false, "{e}");
        assert_eq!(open[0]["adt_patient"]["family"], "Doe", "{e}");
        let near = &open[0]["opted_out_near_misses"];
        assert_eq!(near[0]["owner"], "dave@a.test", "{e}: {near}");
        let id = open[0]["id"].as_i64().expect("id").to_string();
        let table = harness::ok(&a.cli(&["alert", "reviews"]));
        assert!(table.contains("OPTED OUT, NEARLY MATCHED"), "{e}: {table}");
        assert!(
            table.contains(&format!("{dave_entry} dave@a.test: Doe, Jane")),
            "{e}: {table}"
        );

        // The digest task's sweep of opted-out patients' reviews judges it
        // as confirming would, without its near misses: it stays open.
        let n = hisp::notify::Notifier::new(hisp::smtp::Gateway::new(a.hisp.clone()));
        let mut snap = hisp::notify::process::Snapshot::default();
        let closed = n.close_opted_out_reviews(&mut snap).await.expect("sweep");
        assert_eq!(closed, 0, "{e}");
        assert_eq!(reviews(&a, false).len(), 1, "{e}");

        // A confirmation cut short after its claim (the process died before
        // filing the alert) left it `confirming`, with the pair recorded.
        let carol_entry = count(
            &a,
            "SELECT MAX(id) FROM roster_entries WHERE owner = 'carol@a.test'",
        )
        .await;
        let review_id: i64 = id.parse().expect("id");
        let mut conn = a.hisp.conn().await.expect("conn");
        let now = a.hisp.now();
        let judged = hisp::store::notify::Judgment {
            review_id,
            actor: "cli",
            at: now,
            record: &[("X55".into(), "SOUTH".into())],
        };
        let sealer = a.hisp.store.sealer();
        hisp::store::notify::set_apart(&mut conn, sealer, carol_entry, &[dave_entry], &judged)
            .await
            .expect("pair");
        sqlx::query(
            "UPDATE match_reviews SET status = 'confirming', decided_by = 'cli', decided_at = $1",
        )
        .bind(now - 301)
        .execute(&mut *conn)
        .await
        .expect("cut short");
        drop(conn);
        assert_eq!(
            count(&a, "SELECT COUNT(*) FROM distinct_entries").await,
            1,
            "{e}"
        );
        // Left undecided for 5 days, it is closed and its message forgotten
        // (the patient may be the one who opted out); the pair goes with
        // it, and it can no longer be confirmed.
        assert_eq!(
            n.close_stale_holds().await.expect("holds"),
            0,
            "{e}: not yet"
        );
        let mut conn = a.hisp.conn().await.expect("conn");
        sqlx::query("UPDATE match_reviews SET created_at = created_at - 432001")
            .execute(&mut *conn)
            .await
            .expect("age");
        drop(conn);
        assert_eq!(n.close_stale_holds().await.expect("holds"), 1, "{e}");
        assert!(reviews(&a, false).is_empty(), "{e}");
        assert!(
            audited_by(&a, "notify", "match.reject", &format!("review {id}")).await,
            "{e}"
        );
        let kept = "SELECT COUNT(*) FROM adt_messages WHERE raw_sealed IS NOT NULL";
        assert_eq!(count(&a, kept).await, 0, "{e}: its message forgotten");
        harness::fails(
            &a.cli(&["alert", "review", &id, "--confirm"]),
            1,
            "already rejected",
        );
        let pairs = "SELECT COUNT(*) FROM distinct_entries";
        assert_eq!(count(&a, pairs).await, 0, "{e}");

        // Her next visit is held again, and this time confirmed.
        // Her Medicaid number, which a twin may share, comes too.
        let jane = "PID|1||X55^^^SOUTH^MR~M42^^^MEDICAID^MB||Doe^Jane||19800102|F|||\
                    1 Main St^^Hartford^CT^06101";
        let msg = adt("S6", "A04", "NORTHHOSP", "E", "VS6", jane);
        accepted(&a, &e, &msg).await;
        let open = reviews(&a, false);
        assert_eq!(open.len(), 1, "{e}: {open:?}");
        let id = open[0]["id"].as_i64().expect("id").to_string();
        let out = harness::ok(&a.cli(&["alert", "review", &id, "--confirm"]));
        assert!(out.contains("alert filed for carol@a.test"), "{e}: {out}");
        wait_for(60, "the confirmed alert in carol's inbox", || async {
            let inbox = a.hisp.mailbox_list(&carol, INBOX).await.expect("list");
            (inbox.len() == 1).then_some(())
        })
        .await;
        assert!(
            audited(&a, "match.distinct", &format!("review {id}")).await,
            "{e}"
        );
        assert!(
            audited(&a, "match.confirm", &format!("review {id}")).await,
            "{e}"
        );
        assert_eq!(count(&a, pairs).await, 1, "{e}");

        // Set apart: her discharge alerts carol at once, with no review.
        let msg = adt("S4", "A03", "NORTHHOSP", "E", "VS6", jane);
        accepted(&a, &e, &msg).await;
        assert_eq!(alerts(&a).await.len(), 2, "{e}");
        assert!(reviews(&a, false).is_empty(), "{e}");

        // The judgment is about the hospital's record the admin looked at
        // (X55): the twin registered under her sister's name and birth
        // date, under a number of her own (and the Medicaid number they
        // share), is held for review again, not released, and the review
        // shows no pair standing for it.
        let twin = "PID|1||X99^^^SOUTH^MR~M42^^^MEDICAID^MB||Doe^Jane||19800102|F|||\
                    1 Main St^^Hartford^CT^06101";
        let msg = adt("S7", "A04", "NORTHHOSP", "E", "VS7", twin);
        accepted(&a, &e, &msg).await;
        assert_eq!(alerts(&a).await.len(), 2, "{e}: held, not sent");
        let held = held_for(&a, &e, dave_entry);
        assert_eq!(held["set_apart"], serde_json::json!([]), "{e}");
        let twin_review = held["id"].as_i64().expect("id").to_string();
        harness::ok(&a.cli(&["alert", "review", &twin_review, "--reject"]));
        assert_eq!(count(&a, pairs).await, 1, "{e}: the judgment stands");

        // An opt-out under the patient's own number still withholds all,
        // and the judgment made for her record goes with her number.
        consent(&a, "opt-out", "X55", "SOUTH");
        assert_eq!(count(&a, pairs).await, 0, "{e}: forgotten");
        assert_eq!(count(&a, SWEPT_ONE_JUDGMENT).await, 1, "{e}");
        let msg = adt("S5", "A04", "NORTHHOSP", "E", "VS5", SOUTH_JANE);
        accepted(&a, &e, &msg).await;
        assert_eq!(alerts(&a).await.len(), 2, "{e}");
        assert!(reviews(&a, false).is_empty(), "{e}");
        assert_eq!(count(&a, suppressed).await, 1, "{e}: audited as an opt-out");

        // A patient the near miss does not reach alerts as before.
        let other = "PID|1||X56^^^SOUTH^MR||Roe^Ann||19700304|F|||2 Main St^^Hartford^CT^06101";
        crate::notify_features::roster(
            &a,
            "carol@a.test",
            "P78,CAROLPRAC,Roe,Ann,1970-03-04,F,06101,,,\n",
        );
        let msg = adt("S3", "A04", "NORTHHOSP", "E", "VS3", other);
        accepted(&a, &e, &msg).await;
        assert_eq!(alerts(&a).await.len(), 3, "{e}");
        a.stop().await;
    }
}

/// Carol on a digest, dave's twin opted out (`twin_opted_out_at_dave`),
/// and Jane's ED visit (`control`) held for review and confirmed: its
/// alert waits for carol's digest. The review's id.
async fn confirmed_for_carols_digest(a: &Node, e: &str, control: &str, pid: &str) -> String {
    twin_opted_out_at_dave(a, false).await;
    crate::notify_features::delivery(a, "carol@a.test", "digest");
    let visit = format!("V{control}");
    let msg = adt(control, "A04", "NORTHHOSP", "E", &visit, pid);
    assert_eq!(ack_code(a, &msg).await.0, "AA", "{e}");
    drained(a).await;
    let open = reviews(a, false);
    assert_eq!(open.len(), 1, "{e}: held: {open:?}");
    let id = open[0]["id"].as_i64().expect("id").to_string();
    let out = harness::ok(&a.cli(&["alert", "review", &id, "--confirm"]));
    assert!(out.contains("alert filed for carol@a.test"), "{e}: {out}");
    let filed = alerts(a).await;
    assert_eq!(filed.len(), 1, "{e}");
    assert!(filed[0].message_id.is_none(), "{e}: waits for the digest");
    id
}

/// A held alert confirmed for a digest subscriber waits in the digest, and
/// goes out with it even when the subscriber's entry ends first (a
/// replacing roster): the near miss set apart from that entry still says
/// nothing. Judged by matching alone, the ended entry no longer matched and
/// the near miss's opt-out withdrew the alert the admin had released.
/// Carol's digest sends her confirmed alert: nothing withdrawn, one
/// message in her inbox.
async fn carols_digest_goes_out(a: &Node, e: &str, carol: &hisp::direct::DirectAddress) {
    let out = harness::ok(&a.cli(&["alert", "digest"]));
    assert!(out.contains("1 digest"), "{e}: {out}");
    let withdrawn = "SELECT COUNT(*) FROM audit_log WHERE action = 'alert.withdrawn'";
    assert_eq!(count(a, withdrawn).await, 0, "{e}");
    wait_for(60, "carol's digest", || async {
        let inbox = a.hisp.mailbox_list(carol, INBOX).await.expect("list");
        (inbox.len() == 1).then_some(())
    })
    .await;
}

/// A held message that names no medical record number (PID-3 has only a
/// `PI` number) is confirmed for carol's digest, and the digest sends it.
/// Before, the pair recorded for it covered no record, so the digest
/// judged the near miss's opt-out to withhold it and withdrew the alert
/// the admin released, audited as opted out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_held_alert_of_a_message_without_a_medical_record_number_goes_out_in_the_digest_on_every_engine()
 {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        let carol = a.address("carol").await;
        a.address("dave").await;
        a.start().await;
        let pid = "PID|1||E77^^^EPI^PI||Doe^Jane||19800102|F|||1 Main St^^Hartford^CT^06101";
        confirmed_for_carols_digest(&a, e, "G3", pid).await;
        carols_digest_goes_out(&a, e, &carol).await;
        a.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_held_alert_confirmed_for_a_digest_goes_out_after_its_entry_ends_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        let carol = a.address("carol").await;
        a.address("dave").await;
        a.start().await;
        confirmed_for_carols_digest(&a, e, "G1", SOUTH_JANE).await;

        // Carol's practice sends a roster that no longer lists Jane.
        let csv = a.dir.path().join("carol-replace.csv");
        std::fs::write(
            &csv,
            "patient_id,assigning_authority,family_name,given_name,birth_date,sex,postal_code,phone,program,end_date\n\
             P78,CAROLPRAC,Roe,Ann,1970-03-04,F,06101,,,\n",
        )
        .expect("csv");
        harness::ok(&a.cli(&[
            "roster",
            "import",
            csv.to_str().expect("p"),
            "--owner",
            "carol@a.test",
            "--replace",
        ]));
        carols_digest_goes_out(&a, e, &carol).await;
        a.stop().await;
    }
}

/// An opt-out recorded under a practice's number withdraws the practice's
/// unsent digest alert at once even when its roster row typed the
/// authority as a whole HD: the opt-out's sweep reads the entry under each
/// name its authority goes by, as the worker's snapshot does. Before, it
/// compared the row as typed and left the alert for the digest's own check.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_opt_out_withdraws_a_digest_alert_of_a_row_typed_with_a_whole_hd_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        crate::notify_features::roster(
            &a,
            "carol@a.test",
            "P77,CAROLPRAC&1.2.840.99&ISO,Doe,Jane,1980-01-02,F,06101,,,\n",
        );
        crate::notify_features::delivery(&a, "carol@a.test", "digest");
        let msg = adt("W1", "A04", "NORTHHOSP", "E", "VW1", crate::notify::JANE);
        accepted(&a, &e, &msg).await;
        assert_eq!(alerts(&a).await.len(), 1, "{e}: filed for the digest");
        consent(&a, "opt-out", "P77", "CAROLPRAC");
        assert!(alerts(&a).await.is_empty(), "{e}: withdrawn by the opt-out");
        a.stop().await;
    }
}

/// Two practices that both match the message for sure are each held by the
/// one opted-out near miss, each for its own review. Confirming the first
/// sets its entry apart and sends its alert; the second stays open (judged
/// without its own near misses), and its confirmation sends the second
/// practice's alert. Afterwards the near miss, set apart from the sure
/// matches, holds nothing back: the discharge reaches both at once. Undone
/// (`--undo-distinct`), the near miss holds the next admission again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sure_matches_held_by_one_near_miss_are_each_confirmed_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        let carol = a.address("carol").await;
        let erin = a.address("erin").await;
        a.address("dave").await;
        a.start().await;
        let dave_entry = twin_opted_out_at_dave(&a, false).await;
        crate::notify_features::roster(
            &a,
            "erin@a.test",
            "E12,ERINPRAC,Doe,Jane,1980-01-02,F,06101,,,\n",
        );
        let msg = adt("W1", "A04", "NORTHHOSP", "E", "VW1", SOUTH_JANE);
        accepted(&a, &e, &msg).await;
        assert!(alerts(&a).await.is_empty(), "{e}");
        let open = reviews(&a, false);
        let mut owners: Vec<&str> = open
            .iter()
            .map(|r| r["entry"]["owner"].as_str().expect("owner"))
            .collect();
        owners.sort_unstable();
        assert_eq!(owners, ["carol@a.test", "erin@a.test"], "{e}: {open:?}");
        for r in &open {
            assert_eq!(r["withheld_by"], serde_json::json!([dave_entry]), "{e}");
        }
        let id_of = |owner: &str| {
            open.iter()
                .find(|r| r["entry"]["owner"] == owner)
                .and_then(|r| r["id"].as_i64())
                .expect("id")
                .to_string()
        };
        let (carols, erins) = (id_of("carol@a.test"), id_of("erin@a.test"));

        let out = harness::ok(&a.cli(&["alert", "review", &carols, "--confirm"]));
        assert!(out.contains("alert filed for carol@a.test"), "{e}: {out}");
        let pairs = "SELECT COUNT(*) FROM distinct_entries";
        assert_eq!(count(&a, pairs).await, 1, "{e}");
        // The digest task's sweep, under the moved counter, leaves erin's.
        let n = hisp::notify::Notifier::new(hisp::smtp::Gateway::new(a.hisp.clone()));
        let mut snap = hisp::notify::process::Snapshot::default();
        assert_eq!(
            n.close_opted_out_reviews(&mut snap).await.expect("sweep"),
            0,
            "{e}"
        );
        let open = reviews(&a, false);
        assert_eq!(open.len(), 1, "{e}: {open:?}");
        assert_eq!(
            open[0]["id"].as_i64().map(|i| i.to_string()),
            Some(erins.clone())
        );
        let out = harness::ok(&a.cli(&["alert", "review", &erins, "--confirm"]));
        assert!(out.contains("alert filed for erin@a.test"), "{e}: {out}");
        assert_eq!(count(&a, pairs).await, 2, "{e}");
        for who in [&carol, &erin] {
            wait_for(60, "the confirmed alert", || async {
                let inbox = a.hisp.mailbox_list(who, INBOX).await.expect("list");
                (inbox.len() == 1).then_some(())
            })
            .await;
        }

        let msg = adt("W2", "A03", "NORTHHOSP", "E", "VW1", SOUTH_JANE);
        accepted(&a, &e, &msg).await;
        assert_eq!(alerts(&a).await.len(), 4, "{e}: both discharges at once");
        assert!(reviews(&a, false).is_empty(), "{e}");
        // The decided reviews show what stands set apart.
        for r in reviews(&a, true) {
            assert_eq!(r["set_apart"], serde_json::json!([dave_entry]), "{e}: {r}");
        }
        let table = harness::ok(&a.cli(&["alert", "reviews", "--all"]));
        assert!(
            table.contains(&format!("{dave_entry} dave@a.test: Doe, Jane"))
                && table.contains("(set apart)"),
            "{e}: {table}"
        );

        // The admin finds they may be one person after all: undoing both
        // confirmations' pairs, the near miss's opt-out holds again.
        harness::fails(
            &a.cli(&["alert", "review", &carols, "--undo-distinct", "--reject"]),
            2,
            "cannot be used with",
        );
        harness::fails(&a.cli(&["alert", "review", &carols]), 2, "--undo-distinct");
        let out = harness::ok(&a.cli(&["alert", "review", &carols, "--undo-distinct"]));
        assert!(
            out.contains(&format!(
                "from roster entries {dave_entry} (set apart by review {carols})"
            )),
            "{e}: {out}"
        );
        // Erin's pair with the near miss still stands, and says so.
        let erin_entry = count(
            &a,
            "SELECT MAX(id) FROM roster_entries WHERE owner = 'erin@a.test'",
        )
        .await;
        let standing = format!(
            "roster entry {dave_entry} is still set apart from roster entry {erin_entry} \
             (review {erins})"
        );
        assert!(out.contains(&standing), "{e}: {out}");
        // The listing scopes what is set apart to each review's own entry.
        for r in reviews(&a, true) {
            let want = match r["id"].as_i64().map(|i| i.to_string()) == Some(erins.clone()) {
                true => serde_json::json!([dave_entry]),
                false => serde_json::json!([]),
            };
            assert_eq!(r["set_apart"], want, "{e}: {r}");
        }
        // A confirmation under way, or cut short, is decided first.
        let mut conn = a.hisp.conn().await.expect("conn");
        let stuck = "UPDATE match_reviews SET status = 'confirming', decided_at = $1 WHERE id = $2";
        let erin_id: i64 = erins.parse().expect("id");
        sqlx::query(stuck)
            .bind(a.hisp.now())
            .bind(erin_id)
            .execute(&mut *conn)
            .await
            .expect("under way");
        drop(conn);
        harness::fails(
            &a.cli(&["alert", "review", &erins, "--undo-distinct"]),
            1,
            "is being confirmed",
        );
        let mut conn = a.hisp.conn().await.expect("conn");
        sqlx::query(stuck)
            .bind(a.hisp.now() - 301)
            .bind(erin_id)
            .execute(&mut *conn)
            .await
            .expect("cut short");
        drop(conn);
        harness::fails(
            &a.cli(&["alert", "review", &erins, "--undo-distinct"]),
            1,
            "was cut short",
        );
        let mut conn = a.hisp.conn().await.expect("conn");
        sqlx::query("UPDATE match_reviews SET status = 'confirmed' WHERE id = $1")
            .bind(erin_id)
            .execute(&mut *conn)
            .await
            .expect("back");
        drop(conn);
        assert!(
            audited(&a, "match.distinct_undone", &format!("review {carols}")).await,
            "{e}"
        );
        harness::fails(
            &a.cli(&["alert", "review", &carols, "--undo-distinct"]),
            1,
            "no longer set apart",
        );
        // Erin's pair alone still says the near miss is not this patient.
        assert_eq!(count(&a, pairs).await, 1, "{e}");
        let out = harness::ok(&a.cli(&["alert", "review", &erins, "--undo-distinct"]));
        assert!(!out.contains("still set apart"), "{e}: {out}");
        assert_eq!(count(&a, pairs).await, 0, "{e}");
        for r in reviews(&a, true) {
            assert_eq!(r["set_apart"], serde_json::json!([]), "{e}: {r}");
        }
        let table = harness::ok(&a.cli(&["alert", "reviews", "--all"]));
        assert!(!table.contains("(set apart)"), "{e}: {table}");
        let msg = adt("W3", "A01", "NORTHHOSP", "I", "VW3", SOUTH_JANE);
        accepted(&a, &e, &msg).await;
        assert_eq!(alerts(&a).await.len(), 4, "{e}: held again");
        let open = reviews(&a, false);
        assert_eq!(open.len(), 2, "{e}: {open:?}");
        // Only a confirmed held review set anything apart.
        let id = open[0]["id"].as_i64().expect("id").to_string();
        harness::fails(
            &a.cli(&["alert", "review", &id, "--undo-distinct"]),
            1,
            "only a confirmed one",
        );
        a.stop().await;
    }
}

/// On a sensitive feed a held alert needs the patient's opt-in once the
/// opted-out near miss is set aside. With none there is nothing a review
/// could send: the message is withheld as an opt-out, audited, and no
/// review is queued. Once she opts in under her own number, later than the
/// near miss's opt-out, her next visit alerts; once the near miss's patient
/// opts out again, her discharge is held for review, and confirming sends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sensitive_feeds_hold_needs_the_patients_opt_in_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        let carol = a.address("carol").await;
        a.address("dave").await;
        a.start().await;
        let dave_entry = twin_opted_out_at_dave(&a, true).await;
        let msg = adt("T1", "A04", "NORTHHOSP", "E", "VT1", SOUTH_JANE);
        accepted(&a, &e, &msg).await;
        assert!(alerts(&a).await.is_empty(), "{e}");
        assert!(reviews(&a, true).is_empty(), "{e}: nothing to review");
        let suppressed = "SELECT COUNT(*) FROM audit_log WHERE action = 'alert.suppressed'";
        assert_eq!(count(&a, suppressed).await, 1, "{e}: audited");
        let kept = "SELECT COUNT(*) FROM adt_messages WHERE raw_sealed IS NOT NULL";
        assert_eq!(count(&a, kept).await, 0, "{e}: nothing of it kept");

        consent(&a, "opt-in", "X55", "SOUTH");
        // Her own opt-in, recorded after the near miss's opt-out, governs
        // either way (the near miss is her, or another person): alerted.
        let msg = adt("T2", "A04", "NORTHHOSP", "E", "VT2", SOUTH_JANE);
        accepted(&a, &e, &msg).await;
        assert_eq!(alerts(&a).await.len(), 1, "{e}");
        assert!(reviews(&a, true).is_empty(), "{e}");

        // The near miss's patient opts out again, after her opt-in.
        consent(&a, "opt-out", "MRN1", "NORTH");
        let msg = adt("T3", "A03", "NORTHHOSP", "E", "VT2", SOUTH_JANE);
        accepted(&a, &e, &msg).await;
        assert_eq!(alerts(&a).await.len(), 1, "{e}: held");
        let id = held_for(&a, &e, dave_entry)["id"]
            .as_i64()
            .expect("id")
            .to_string();
        let out = harness::ok(&a.cli(&["alert", "review", &id, "--confirm"]));
        assert!(out.contains("alert filed for carol@a.test"), "{e}: {out}");
        wait_for(60, "both alerts in carol's inbox", || async {
            let inbox = a.hisp.mailbox_list(&carol, INBOX).await.expect("list");
            (inbox.len() == 2).then_some(())
        })
        .await;
        assert_eq!(count(&a, suppressed).await, 1, "{e}");
        a.stop().await;
    }
}

/// A held alert confirmed for a digest subscriber, whose confirmation is
/// then undone before the digest goes, is withdrawn by the digest's own
/// check: the near miss's opt-out withholds it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_undone_confirmation_withdraws_its_alert_still_in_a_digest_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        let carol = a.address("carol").await;
        a.address("dave").await;
        a.start().await;
        let id = confirmed_for_carols_digest(&a, e, "U1", SOUTH_JANE).await;
        harness::ok(&a.cli(&["alert", "review", &id, "--undo-distinct"]));
        let out = harness::ok(&a.cli(&["alert", "digest"]));
        assert!(out.contains("0 digest"), "{e}: {out}");
        let withdrawn = "SELECT COUNT(*) FROM audit_log WHERE action = 'alert.withdrawn'";
        assert_eq!(count(&a, withdrawn).await, 1, "{e}");
        assert!(alerts(&a).await.is_empty(), "{e}");
        let inbox = a.hisp.mailbox_list(&carol, INBOX).await.expect("list");
        assert!(inbox.is_empty(), "{e}");
        a.stop().await;
    }
}

/// A cancellation withheld only by an opted-out near miss is held for
/// review like any other alert: carol, told of Jane's ED visit, gets its
/// retraction once an admin confirms. A cancellation due also to a practice
/// told of the visit whose entry no longer matches for sure (erin's roster
/// was replaced since) cannot be held for that practice (a review is of a
/// match): it is withheld as an opt-out, audited, for every practice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancellation_is_held_for_its_told_sure_matches_only_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        let carol = a.address("carol").await;
        a.address("dave").await;
        a.address("erin").await;
        a.start().await;
        carol_and_dave_know_jane(&a, false);
        crate::notify_features::roster(
            &a,
            "erin@a.test",
            "E12,ERINPRAC,Doe,Jane,1980-01-02,F,06101,,,\n",
        );
        // Admitted: carol and erin are told (dave's near miss is a review).
        let msg = adt("K1", "A01", "NORTHHOSP", "I", "VKA", SOUTH_JANE);
        accepted(&a, &e, &msg).await;
        assert_eq!(alerts(&a).await.len(), 2, "{e}");
        // Erin's practice sends a roster without Jane.
        let csv = a.dir.path().join("erin-replace.csv");
        std::fs::write(
            &csv,
            "patient_id,assigning_authority,family_name,given_name,birth_date,sex,postal_code,phone,program,end_date\n\
             E13,ERINPRAC,Roe,Ann,1970-03-04,F,06101,,,\n",
        )
        .expect("csv");
        let path = csv.to_str().expect("p");
        harness::ok(&a.cli(&[
            "roster",
            "import",
            path,
            "--owner",
            "erin@a.test",
            "--replace",
        ]));
        // An ED visit of hers: only carol is told now.
        let msg = adt("K2", "A04", "NORTHHOSP", "E", "VKB", SOUTH_JANE);
        accepted(&a, &e, &msg).await;
        assert_eq!(alerts(&a).await.len(), 3, "{e}");
        // Dave's patient opts out (her open reviews close with it).
        consent(&a, "opt-out", "MRN1", "NORTH");
        assert!(reviews(&a, false).is_empty(), "{e}");
        let suppressed = "SELECT COUNT(*) FROM audit_log WHERE action = 'alert.suppressed'";

        // The admission is cancelled: erin, told of it, no longer matches
        // for sure, so nothing is held, and nothing goes to carol either.
        let msg = adt("K4", "A11", "NORTHHOSP", "I", "VKA", SOUTH_JANE);
        accepted(&a, &e, &msg).await;
        assert_eq!(alerts(&a).await.len(), 3, "{e}");
        assert!(reviews(&a, false).is_empty(), "{e}");
        assert_eq!(count(&a, suppressed).await, 1, "{e}: audited as an opt-out");

        // The ED visit is cancelled: carol's retraction is held, then sent.
        let msg = adt("K3", "A11", "NORTHHOSP", "E", "VKB", SOUTH_JANE);
        accepted(&a, &e, &msg).await;
        assert_eq!(alerts(&a).await.len(), 3, "{e}: held");
        assert_eq!(count(&a, suppressed).await, 1, "{e}");
        let open = reviews(&a, false);
        assert_eq!(open.len(), 1, "{e}: {open:?}");
        assert_eq!(open[0]["event"], "retraction", "{e}");
        assert_eq!(open[0]["entry"]["owner"], "carol@a.test", "{e}");
        let id = open[0]["id"].as_i64().expect("id").to_string();
        let out = harness::ok(&a.cli(&["alert", "review", &id, "--confirm"]));
        assert!(out.contains("alert filed for carol@a.test"), "{e}: {out}");
        assert_eq!(alerts(&a).await.len(), 4, "{e}");
        wait_for(60, "carol's three alerts", || async {
            let inbox = a.hisp.mailbox_list(&carol, INBOX).await.expect("list");
            (inbox.len() == 3).then_some(())
        })
        .await;

        // Set apart from carol's entry, a sure match of the message, dave's
        // opt-out says nothing of this patient any more: a second
        // cancellation of the admission goes to both practices told of it.
        let msg = adt("K5", "A11", "NORTHHOSP", "I", "VKA", SOUTH_JANE);
        accepted(&a, &e, &msg).await;
        assert_eq!(alerts(&a).await.len(), 6, "{e}");
        a.stop().await;
    }
}

/// `adt`, with its EVN-2 at `evn` (a feed's later report of another visit
/// of the same patient; the same second would be the same event reported
/// twice, which the dedup window sends once).
fn adt_at(control: &str, visit: &str, pid: &str, evn: &str) -> Vec<u8> {
    let msg = adt(control, "A04", "NORTHHOSP", "E", visit, pid);
    let msg = String::from_utf8(msg).expect("utf-8");
    assert!(msg.contains("EVN|A04|20261122055900"));
    msg.replace("EVN|A04|20261122055900", &format!("EVN|A04|{evn}"))
        .into_bytes()
}

/// The digest judges each alert by the hospital record its message named,
/// sealed with it when the worker filed it: a judgment that carol's and
/// dave's entries are different people, made for Jane's record (X55),
/// keeps Jane's earlier alert in the digest and withdraws the twin's (X99,
/// registered under her sister's name), filed before dave's patient opted
/// out. Judged with no record, both would go out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_digest_judges_each_alert_by_the_record_its_message_named_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        let carol = a.address("carol").await;
        a.address("dave").await;
        a.start().await;
        carol_and_dave_know_jane(&a, false);
        crate::notify_features::delivery(&a, "carol@a.test", "digest");
        // Before anyone opted out: the twin's ED visit, then Jane's, each
        // filed for carol's digest (dave's near misses are reviews).
        let twin = "PID|1||X99^^^SOUTH^MR||Doe^Jane||19800102|F|||1 Main St^^Hartford^CT^06101";
        accepted(&a, &e, &adt_at("D1", "VD1", twin, "20261122055900")).await;
        accepted(&a, &e, &adt_at("D2", "VD2", SOUTH_JANE, "20261122065900")).await;
        let filed = alerts(&a).await;
        assert_eq!(filed.len(), 2, "{e}");
        assert!(filed.iter().all(|f| f.message_id.is_none()), "{e}");
        let twins_alert = count(
            &a,
            "SELECT MIN(id) FROM alerts WHERE subscriber = 'carol@a.test'",
        )
        .await;

        // Dave's patient opts out; Jane's next visit is held, and an admin
        // judges her and dave's patient different people, for X55.
        consent(&a, "opt-out", "MRN1", "NORTH");
        accepted(&a, &e, &adt_at("D3", "VD3", SOUTH_JANE, "20261122075900")).await;
        let dave_entry = count(
            &a,
            "SELECT MAX(id) FROM roster_entries WHERE owner = 'dave@a.test'",
        )
        .await;
        let id = held_for(&a, &e, dave_entry)["id"]
            .as_i64()
            .expect("id")
            .to_string();
        let out = harness::ok(&a.cli(&["alert", "review", &id, "--confirm"]));
        assert!(out.contains("alert filed for carol@a.test"), "{e}: {out}");
        assert_eq!(alerts(&a).await.len(), 3, "{e}");

        // The digest sends Jane's two alerts and withdraws the twin's.
        let out = harness::ok(&a.cli(&["alert", "digest"]));
        assert!(out.contains("1 digest"), "{e}: {out}");
        let withdrawn = "SELECT COUNT(*) FROM audit_log WHERE action = 'alert.withdrawn'";
        assert_eq!(count(&a, withdrawn).await, 1, "{e}");
        assert!(
            audited_by(
                &a,
                "notify",
                "alert.withdrawn",
                &format!("alert {twins_alert}")
            )
            .await,
            "{e}"
        );
        let left = alerts(&a).await;
        assert_eq!(left.len(), 2, "{e}: {left:?}");
        wait_for(60, "carol's digest", || async {
            let inbox = a.hisp.mailbox_list(&carol, INBOX).await.expect("list");
            (inbox.len() == 1).then_some(())
        })
        .await;
        a.stop().await;
    }
}

/// A judgment recorded before judgments named a record (migration 0028
/// left it NULL) still sets the two entries apart for any message, as it
/// did: the twin's visit alerts carol at once, with no review.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_judgment_from_before_records_sets_entries_apart_for_any_message_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        a.address("dave").await;
        a.start().await;
        let dave_entry = twin_opted_out_at_dave(&a, false).await;
        let carol_entry = count(
            &a,
            "SELECT MAX(id) FROM roster_entries WHERE owner = 'carol@a.test'",
        )
        .await;
        // Held while nothing sets them apart.
        accepted(&a, &e, &adt_at("L1", "VL1", SOUTH_JANE, "20261122055900")).await;
        assert!(alerts(&a).await.is_empty(), "{e}");
        let id = held_for(&a, &e, dave_entry)["id"]
            .as_i64()
            .expect("id")
            .to_string();
        harness::ok(&a.cli(&["alert", "review", &id, "--reject"]));
        let mut conn = a.hisp.conn().await.expect("conn");
        sqlx::query(
            "INSERT INTO distinct_entries (entry_id, other_id, review_id, decided_by, decided_at)
             VALUES ($1, $2, 1, 'cli', 10)",
        )
        .bind(carol_entry.min(dave_entry))
        .bind(carol_entry.max(dave_entry))
        .execute(&mut *conn)
        .await
        .expect("legacy judgment");
        drop(conn);
        // The worker's snapshot reloads on the change counter, which a
        // row written by hand does not move: a roster change does.
        crate::notify_features::roster(
            &a,
            "carol@a.test",
            "P78,CAROLPRAC,Roe,Ann,1970-03-04,F,06101,,,\n",
        );
        let twin = "PID|1||X99^^^SOUTH^MR||Doe^Jane||19800102|F|||1 Main St^^Hartford^CT^06101";
        accepted(&a, &e, &adt_at("L2", "VL2", twin, "20261122065900")).await;
        assert_eq!(alerts(&a).await.len(), 1, "{e}: released at once");
        assert!(reviews(&a, false).is_empty(), "{e}");
        a.stop().await;
    }
}

/// An opt-out forgets the judgments kept for the patient however it names
/// her: under her number as the message's OID names its authority, by her
/// demographics (the sure match's roster entry holds for them), or under
/// the number the sure match's practice knows her by. The near miss's own
/// patient re-recording her opt-out forgets none (the judgment is that she
/// is someone else). Three patients, each with a twin opted out at dave's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_opt_out_forgets_a_judgment_by_any_name_of_its_patient_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        a.address("dave").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        crate::notify_features::roster(
            &a,
            "carol@a.test",
            "P77,CAROLPRAC,Doe,Jane,1980-01-02,F,06101,,,\n\
             P78,CAROLPRAC,Roe,Ann,1970-03-04,F,06101,,,\n\
             P79,CAROLPRAC,Poe,Mary,1990-05-06,F,06101,,,\n",
        );
        crate::notify_features::roster(
            &a,
            "dave@a.test",
            "MRN1,NORTH,Doe,Jane,1980-01-02,F,,,,\n\
             MRN2,NORTH,Roe,Ann,1970-03-04,F,,,,\n\
             MRN3,NORTH,Poe,Mary,1990-05-06,F,,,,\n",
        );
        for mrn in ["MRN1", "MRN2", "MRN3"] {
            consent(&a, "opt-out", mrn, "NORTH");
        }
        let patients = [
            "PID|1||X55^^^SOUTH&2.16.840.1.113883.19.5&ISO^MR||Doe^Jane||19800102|F|||\
             1 Main St^^Hartford^CT^06101",
            "PID|1||X56^^^SOUTH^MR||Roe^Ann||19700304|F|||2 Main St^^Hartford^CT^06101",
            "PID|1||X57^^^SOUTH^MR||Poe^Mary||19900506|F|||3 Main St^^Hartford^CT^06101",
        ];
        for (n, pid) in patients.iter().enumerate() {
            let control = format!("F{n}");
            accepted(
                &a,
                &e,
                &adt_at(&control, &format!("V{control}"), pid, "20261122055900"),
            )
            .await;
            let open = reviews(&a, false);
            assert_eq!(open.len(), 1, "{e}: {pid} held: {open:?}");
            let id = open[0]["id"].as_i64().expect("id").to_string();
            let out = harness::ok(&a.cli(&["alert", "review", &id, "--confirm"]));
            assert!(out.contains("alert filed for carol@a.test"), "{e}: {out}");
        }
        let pairs = "SELECT COUNT(*) FROM distinct_entries";
        assert_eq!(count(&a, pairs).await, 3, "{e}");

        consent(&a, "opt-out", "MRN1", "NORTH");
        assert_eq!(count(&a, pairs).await, 3, "{e}: the near miss's own");
        consent(&a, "opt-out", "X55", "2.16.840.1.113883.19.5");
        assert_eq!(count(&a, pairs).await, 2, "{e}: Jane's, by the OID");
        harness::ok(&a.cli(&[
            "consent",
            "opt-out",
            "--family",
            "Roe",
            "--given",
            "Ann",
            "--birth-date",
            "1970-03-04",
            "--sex",
            "F",
        ]));
        assert_eq!(count(&a, pairs).await, 1, "{e}: Ann's, by demographics");
        consent(&a, "opt-out", "P79", "CAROLPRAC");
        assert_eq!(count(&a, pairs).await, 0, "{e}: Mary's, by carol's number");
        assert_eq!(count(&a, SWEPT_ONE_JUDGMENT).await, 3, "{e}");
        a.stop().await;
    }
}
