//! An opt-out recorded while an alert is being filed, over real MLLP on
//! PostgreSQL: the filing transaction locks the change counter (`FOR
//! UPDATE`), so the opt-out's transaction, which bumps it, is recorded either
//! before the alert (and stops it) or after. The test holds the counter's
//! lock itself, waits until the worker (or a review's confirmation) is seen
//! waiting for it, records the opt-out and lets go: the worker must then find
//! its decision stale, decide again, and send nothing.
//!
//! Two imports of one roster at once are kept apart the same way.
//!
//! SQLite needs no such test: its filing transaction is a write transaction
//! (`BEGIN IMMEDIATE`), which no other writer can interleave with.

use crate::harness;
use crate::notify::{ack_code, adt, alerts};
use crate::notify_features::{drained, roster};
use crate::smtp::{Node, wait_for};
use hisp::direct::DirectAddress;
use hisp::mailbox::INBOX;

/// Wait until `n` PostgreSQL backends of this database wait for a lock
/// while reading the change counter (`generation_held`'s `FOR UPDATE`).
async fn waiting_on_counter(node: &Node, n: i64, what: &str) {
    waiting_on(node, n, "%FROM notify_generation%FOR UPDATE%", what).await;
}

/// Wait until `n` PostgreSQL backends of this database wait for a lock in
/// a statement `LIKE` `pattern`.
async fn waiting_on(node: &Node, n: i64, pattern: &str, what: &str) {
    wait_for(60, what, || async {
        let mut conn = node.hisp.conn().await.expect("conn");
        let waiting: i64 = sqlx::Row::get(
            &sqlx::query(
                "SELECT COUNT(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock' \
                 AND query LIKE $1",
            )
            .bind(pattern)
            .fetch_one(&mut *conn)
            .await
            .expect("pg_stat_activity"),
            0,
        );
        (waiting == n).then_some(())
    })
    .await;
}

/// Record an opt-out for `id`@NORTH inside a transaction that has held the
/// change counter since `hold` began it.
async fn opt_out_held(n: &Node, mut tx: hisp::store::Tx, id: &str) {
    let patient = hisp::store::notify::StoredPatient {
        identifiers: vec![(id.into(), "NORTH".into())],
        ..Default::default()
    };
    let now = n.hisp.now();
    hisp::store::notify::insert_consent(&mut tx, n.hisp.store.sealer(), "opt-out", &patient, now)
        .await
        .expect("opt-out");
    tx.commit().await.expect("commit the opt-out");
}

/// [`carols_node`] with the NORTHHOSP feed registered and `rows` (CSV
/// lines, no header) applied to carol's roster.
async fn carols_feed(rows: &str) -> Option<Node> {
    let a = carols_node().await?;
    harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
    let report = roster(&a, "carol@a.test", rows);
    let applied = format!("{} applied", rows.lines().count());
    assert!(report.contains(&applied), "{report}");
    Some(a)
}

/// Run `hisp ARGS` against node `n` on a thread of its own (it may wait on
/// a lock the test holds); [`joined`] waits for its output.
fn cli_thread(n: &Node, args: &[&str]) -> std::thread::JoinHandle<std::process::Output> {
    let (dir, config, vars) = (
        n.dir.path().to_owned(),
        n.config_path.clone(),
        n.vars.clone(),
    );
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        harness::run_hisp(&dir, &config, &vars, &args, None)
    })
}

/// The output of a [`cli_thread`], waited for off the runtime's threads.
async fn joined(h: std::thread::JoinHandle<std::process::Output>) -> std::process::Output {
    tokio::task::spawn_blocking(move || h.join().expect("join"))
        .await
        .expect("cli")
}

/// A transaction holding the change counter, as an opt-out's does.
async fn hold(n: &Node) -> hisp::store::Tx {
    let mut tx = n.hisp.store.begin().await.expect("begin");
    hisp::store::notify::generation_held(&mut tx, n.hisp.store.engine())
        .await
        .expect("hold the counter");
    tx
}

/// A started node on a fresh PostgreSQL database, with carol@a.test; None
/// (and a note that the test was skipped) without PostgreSQL.
async fn carols_node() -> Option<Node> {
    let Some(url) = harness::node_engines()
        .await
        .into_iter()
        .find_map(|(_, url)| url)
    else {
        eprintln!("HISP_TEST_POSTGRES_URL is not set: skipped (the test is PostgreSQL's)");
        return None;
    };
    let mut a = Node::new("a.test", false, Some(url)).await;
    a.address("carol").await;
    a.start().await;
    Some(a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_opt_out_recorded_while_the_alert_is_filed_stops_it_on_postgres() {
    let Some(a) = carols_feed(
        "R1,NORTH,Ray,Rita,1971-01-01,F,06101,,,\n\
         R2,NORTH,Ray,Rose,1972-02-02,F,06101,,,\n\
         R3,NORTH,Ray,Ruth,1973-03-03,F,06101,,,\n",
    )
    .await
    else {
        return;
    };

    // The worker decides to alert Rita's ED visit, and waits at the filing
    // transaction while the test holds the counter; Rita opts out meanwhile.
    let tx = hold(&a).await;
    let rita = "PID|1||R1^^^NORTH^MR||Ray^Rita||19710101|F";
    let msg = adt("RACE1", "A04", "NORTHHOSP", "E", "VR1", rita);
    assert_eq!(ack_code(&a, &msg).await.0, "AA");
    waiting_on_counter(&a, 1, "the worker waiting to file Rita's alert").await;
    opt_out_held(&a, tx, "R1").await;
    drained(&a).await;
    assert!(
        alerts(&a).await.is_empty(),
        "the alert decided before the opt-out was filed"
    );
    // Decided again, the message is forgotten as an opted-out patient's.
    let mut conn = a.hisp.conn().await.expect("conn");
    let kept: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) FROM adt_messages WHERE raw_sealed IS NOT NULL")
            .fetch_one(&mut *conn)
            .await
            .expect("count"),
        0,
    );
    assert_eq!(kept, 0, "an opted-out patient's message kept");

    // Rose's visit, with nothing in the way, alerts: the path can alert.
    let rose = "PID|1||R2^^^NORTH^MR||Ray^Rose||19720202|F";
    let msg = adt("RACE2", "A04", "NORTHHOSP", "E", "VR2", rose);
    assert_eq!(ack_code(&a, &msg).await.0, "AA");
    drained(&a).await;
    let sent: Vec<_> = alerts(&a).await.into_iter().map(|x| x.event).collect();
    assert_eq!(sent, ["ed"]);

    // A near match of Ruth (no identifier in common) waits for review; its
    // confirmation meets Ruth's opt-out at the filing transaction and is
    // refused, the review given back to be decided again.
    let near_ruth = "PID|1||X3^^^SOUTH^MR||Ray^Ruth||19730303|F";
    let msg = adt("RACE3", "A04", "NORTHHOSP", "E", "VR3", near_ruth);
    assert_eq!(ack_code(&a, &msg).await.0, "AA");
    drained(&a).await;
    let out = harness::ok(&a.cli(&["alert", "reviews", "--json"]));
    let open: Vec<serde_json::Value> = serde_json::from_str(&out).expect("json");
    assert_eq!(open.len(), 1, "{out}");
    let id = open[0]["id"].to_string();
    let tx = hold(&a).await;
    let confirm = cli_thread(&a, &["alert", "review", &id, "--confirm"]);
    waiting_on_counter(&a, 1, "the confirmation waiting to file Ruth's alert").await;
    opt_out_held(&a, tx, "R3").await;
    let out = joined(confirm).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "confirmed over an opt-out: {stderr}");
    assert!(stderr.contains("decide it again"), "{stderr}");
    let sent: Vec<_> = alerts(&a).await.into_iter().map(|x| x.event).collect();
    assert_eq!(sent, ["ed"], "Ruth's alert filed over her opt-out");
    // The opt-out's sweep found the review confirming and left it; given
    // back, it is closed as rejected and its message forgotten, rather than
    // keeping Ruth's ADT until someone rejects it by hand.
    let mut conn = a.hisp.conn().await.expect("conn");
    let (status, adt_id): (String, i64) =
        sqlx::query_as("SELECT status, adt_id FROM match_reviews WHERE id = $1")
            .bind(id.parse::<i64>().expect("id"))
            .fetch_one(&mut *conn)
            .await
            .expect("review");
    drop(conn);
    assert_eq!(status, "rejected");
    let kept = hisp::store::notify::adt_message(
        &mut a.hisp.conn().await.expect("conn"),
        a.hisp.store.sealer(),
        adt_id,
    )
    .await
    .expect("adt");
    assert!(kept.is_none(), "Ruth's ADT forgotten");
    let again = a.cli(&["alert", "review", &id, "--confirm"]);
    assert!(!again.status.success(), "confirmed over an opt-out");
}

/// Two imports of the same roster at once (a retried upload, a form sent
/// twice) on PostgreSQL: each holds the change counter before it reads the
/// roster, so the second reads what the first stored and renews it, rather
/// than adding a twin of every new patient (whose ADT would then go to
/// review instead of alerting).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_imports_of_one_roster_at_once_add_no_twins_on_postgres() {
    let Some(a) = carols_node().await else {
        return;
    };
    let csv = a.dir.path().join("roster.csv");
    std::fs::write(
        &csv,
        "patient_id,assigning_authority,family_name,given_name,birth_date,sex,postal_code,phone,program,end_date\n\
         T1,NORTH,Twin,Tia,1971-01-01,F,06101,,,\n\
         T2,NORTH,Twin,Tom,1972-02-02,M,06101,,,\n",
    )
    .expect("csv");
    let tx = hold(&a).await;
    let path = csv.to_str().expect("path");
    let args = ["roster", "import", path, "--owner", "carol@a.test"];
    let imports = [cli_thread(&a, &args), cli_thread(&a, &args)];
    waiting_on_counter(&a, 2, "both imports waiting on the counter").await;
    tx.rollback().await.expect("let go");
    for i in imports {
        harness::ok(&joined(i).await);
    }
    let out = harness::ok(&a.cli(&["roster", "list", "--json"]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).expect("json");
    assert_eq!(rows.len(), 2, "twins added: {out}");
}

/// A merge and an encounter in one batch on PostgreSQL: the merge bumps the
/// change counter, which another node's batch may hold while it waits for
/// that encounter. The batch must commit its encounter before it waits for
/// the counter, or the two deadlock and one is rolled back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_merge_waits_for_the_counter_holding_no_encounter_on_postgres() {
    let Some(a) = carols_feed(
        "M1,NORTH,Moe,Mia,1971-01-01,F,06101,,,\n\
         M2,NORTH,Moe,Max,1972-02-02,M,06101,,,\n",
    )
    .await
    else {
        return;
    };
    let max = "PID|1||M2^^^NORTH^MR||Moe^Max||19720202|M";
    let msg = adt("MRG0", "A01", "NORTHHOSP", "I", "VM2", max);
    assert_eq!(ack_code(&a, &msg).await.0, "AA");
    drained(&a).await;
    assert_eq!(alerts(&a).await.len(), 1, "Max's admission");

    // Another node's batch holds the counter. An update of Max's stay and
    // Mia's merge reach the worker in one claim (committed together).
    let held = hold(&a).await;
    let update = adt("MRG1", "A08", "NORTHHOSP", "I", "VM2", max);
    let merge = "MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|20261122070000||ADT^A40^ADT_A39|MRG2|P|2.5.1\r\
                 EVN|A40|20261122070000\rPID|1||M9^^^NORTH^MR||Moe^Mia\rMRG|M1^^^NORTH\r";
    let mut tx = a.hisp.store.begin().await.expect("begin");
    for (control, raw) in [("MRG1", update), ("MRG2", merge.as_bytes().to_vec())] {
        let key = hisp::store::notify::AdtKey {
            app: "EPIC",
            facility: "NORTHHOSP",
            control_id: control,
        };
        let now = a.hisp.now();
        hisp::store::notify::insert_adt(
            &mut tx,
            a.hisp.store.sealer(),
            &key,
            "ack",
            Some(&raw),
            now,
        )
        .await
        .expect("insert");
    }
    tx.commit().await.expect("commit both");
    // Before, the bump was an UPDATE of the counter; now the read that
    // takes it: either statement names the table.
    let what = "the worker waiting for the counter at the merge";
    waiting_on(&a, 1, "%notify_generation%", what).await;
    // The other node's batch now wants Max's encounter: it is free (the
    // A08 was committed before the wait), where before the worker held it
    // while waiting for the counter, a deadlock.
    let mut other = a.hisp.store.begin().await.expect("begin");
    let locked = sqlx::query("SELECT id FROM encounters WHERE visit = 'VM2' FOR UPDATE NOWAIT")
        .fetch_all(&mut *other)
        .await;
    let rows = locked.expect("Max's encounter held by a batch waiting for the counter");
    assert_eq!(rows.len(), 1, "Max's encounter");
    other.rollback().await.expect("let go of the encounter");
    held.rollback().await.expect("let go of the counter");
    drained(&a).await;

    // Each row went through on its first attempt (a claim counts one), and
    // Mia is M9 now.
    let mut conn = a.hisp.conn().await.expect("conn");
    let attempts: i64 = sqlx::Row::get(
        &sqlx::query("SELECT MAX(attempts) FROM adt_messages")
            .fetch_one(&mut *conn)
            .await
            .expect("attempts"),
        0,
    );
    assert_eq!(attempts, 1, "a row failed and was retried");
    let out = harness::ok(&a.cli(&["roster", "list", "--json"]));
    assert!(out.contains("M9") && !out.contains("\"M1\""), "{out}");
    assert_eq!(
        alerts(&a).await.len(),
        1,
        "the A08 and the merge alert no one"
    );
}

/// An opt-out recorded under the survivor while a merge waits for the
/// change counter, on PostgreSQL: the merge was planned (its patient not
/// opted out) before the opt-out committed, so it must judge consent again
/// once it holds the counter. Before, it acted on the old judgment and
/// folded the retired number's person, name and birth date, into the index
/// under the very number the patient had just opted out under.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_merge_planned_before_an_opt_out_judges_it_again_on_postgres() {
    let Some(a) = carols_feed("D1,NORTH,Dee,Dora,1975-05-05,F,06101,,,\n").await else {
        return;
    };
    let a31 = "MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|20261122070000||ADT^A31^ADT_A05|DORA1|P|2.5.1\r\
               EVN|A31|20261122070000\rPID|1||D1^^^NORTH^MR||Dee^Dora||19750505|F\r";
    assert_eq!(ack_code(&a, a31.as_bytes()).await.0, "AA");
    drained(&a).await;
    let index = "SELECT COUNT(*) FROM patient_index";
    assert_eq!(
        crate::notify_features::count(&a, index).await,
        1,
        "Dora filed"
    );

    let tx = hold(&a).await;
    let merge = "MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|20261122070000||ADT^A40^ADT_A39|DORA2|P|2.5.1\r\
                 EVN|A40|20261122070000\rPID|1||D2^^^NORTH^MR||Dee^Dora\rMRG|D1^^^NORTH\r";
    assert_eq!(ack_code(&a, merge.as_bytes()).await.0, "AA");
    waiting_on_counter(&a, 1, "the merge waiting for the counter").await;
    opt_out_held(&a, tx, "D2").await;
    drained(&a).await;
    assert_eq!(
        crate::notify_features::count(&a, index).await,
        0,
        "the merge filed Dora under the number she opted out under"
    );
}

/// An opt-out recorded while a near miss of the patient is being queued for
/// review, on PostgreSQL: the opt-out's sweep reads the review queue before
/// its transaction, and the worker queues the review in between. The
/// worker's queueing holds the change counter and the opt-out reads the
/// queue again once it holds it, so either the review is queued first and
/// swept, or the worker finds its snapshot stale, decides again and queues
/// nothing (a near miss of an opted-out patient is not queued). Both orders
/// are run. Before, the review was queued after an unlocked check and the
/// sweep never saw it: the review stayed open and the patient's ADT was
/// kept until someone rejected it by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_opt_out_meets_a_review_being_queued_on_postgres() {
    let Some(a) = carols_feed(
        "R3,NORTH,Ray,Ruth,1973-03-03,F,06101,,,\n\
         R4,NORTH,Ray,Rhea,1974-04-04,F,06101,,,\n",
    )
    .await
    else {
        return;
    };
    let cases = [
        // The opt-out waits first: it records first.
        (true, "R3", "PID|1||X3^^^SOUTH^MR||Ray^Ruth||19730303|F"),
        // The worker waits first: the review is queued, then swept.
        (false, "R4", "PID|1||X4^^^SOUTH^MR||Ray^Rhea||19740404|F"),
    ];
    for (n, (opt_out_first, id, near)) in cases.into_iter().enumerate() {
        let tx = hold(&a).await;
        let args = [
            "consent",
            "opt-out",
            "--patient-id",
            id,
            "--authority",
            "NORTH",
        ];
        let start_opt_out = || cli_thread(&a, &args);
        let mut opt_out = None;
        if opt_out_first {
            opt_out = Some(start_opt_out());
            waiting_on(&a, 1, "%notify_generation%", "the opt-out waiting").await;
        }
        // A near match (no identifier in common) arrives: the worker waits
        // to queue its review.
        let (control, visit) = (format!("RACE4{n}"), format!("VR4{n}"));
        let msg = adt(&control, "A04", "NORTHHOSP", "E", &visit, near);
        assert_eq!(ack_code(&a, &msg).await.0, "AA");
        let waiting = if opt_out_first { 2 } else { 1 };
        waiting_on(&a, waiting, "%notify_generation%", "the worker waiting").await;
        let opt_out = match opt_out {
            Some(o) => o,
            None => {
                let o = start_opt_out();
                waiting_on(&a, 2, "%notify_generation%", "the opt-out waiting").await;
                o
            }
        };
        tx.rollback().await.expect("let go");
        harness::ok(&joined(opt_out).await);
        drained(&a).await;
        let mut conn = a.hisp.conn().await.expect("conn");
        let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
        let open = count("SELECT COUNT(*) FROM match_reviews WHERE status = 'open'")
            .fetch_one(&mut *conn)
            .await
            .expect("count");
        assert_eq!(
            open, 0,
            "case {n}: a review of an opted-out patient left open"
        );
        let kept = count("SELECT COUNT(*) FROM adt_messages WHERE raw_sealed IS NOT NULL")
            .fetch_one(&mut *conn)
            .await
            .expect("count");
        assert_eq!(kept, 0, "case {n}: an opted-out patient's message kept");
    }
    assert!(alerts(&a).await.is_empty());
}

/// An opt-out recorded while a digest is being sent, on PostgreSQL: the
/// digest judged its alerts on a snapshot loaded before; its submit holds
/// the change counter, finds it moved, reloads, and withdraws the opted-out
/// patient's alert instead of sending it. The opt-out here is recorded with
/// no sweep of its own (as under another practice's number, which the
/// sweep cannot see), so only the digest's own check can stop it. Before,
/// the snapshot was loaded once per pass and the digest went out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_opt_out_recorded_while_a_digest_is_sent_stops_it_on_postgres() {
    let Some(a) = carols_feed("D5,NORTH,Dee,Dora,1975-05-05,F,06101,,,\n").await else {
        return;
    };
    crate::notify_features::delivery(&a, "carol@a.test", "digest");
    let dora = "PID|1||D5^^^NORTH^MR||Dee^Dora||19750505|F";
    let msg = adt("DIG1", "A04", "NORTHHOSP", "E", "VD5", dora);
    assert_eq!(ack_code(&a, &msg).await.0, "AA");
    drained(&a).await;
    let filed = alerts(&a).await;
    assert_eq!(filed.len(), 1, "filed for the digest");
    assert!(filed[0].message_id.is_none());

    let tx = hold(&a).await;
    let digest = cli_thread(&a, &["alert", "digest"]);
    waiting_on_counter(&a, 1, "the digest waiting to be queued").await;
    opt_out_held(&a, tx, "D5").await;
    let text = harness::ok(&joined(digest).await);
    assert!(text.contains("0 digest"), "{text}");
    assert!(alerts(&a).await.is_empty(), "withdrawn, not sent");
}

/// An address disabled while its digest is being sent, on PostgreSQL: the
/// digest took its turn while the address was enabled; its submit holds the
/// change counter, finds it moved, and reads again: the address is disabled
/// now, so nothing is sent and the turn goes back. Before, it sent again,
/// the copy was refused (a disabled address has no certificate to encrypt
/// to) and the alert was marked sent: never delivered, and not in the
/// digest once the address was enabled again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_address_disabled_while_its_digest_is_sent_keeps_its_alerts_on_postgres() {
    let Some(a) = carols_feed("D6,NORTH,Dee,Dora,1975-05-05,F,06101,,,\n").await else {
        return;
    };
    crate::notify_features::delivery(&a, "carol@a.test", "digest");
    let dora = "PID|1||D6^^^NORTH^MR||Dee^Dora||19750505|F";
    let msg = adt("DIG2", "A04", "NORTHHOSP", "E", "VD6", dora);
    assert_eq!(ack_code(&a, &msg).await.0, "AA");
    drained(&a).await;
    assert_eq!(alerts(&a).await.len(), 1, "filed for the digest");

    let mut tx = hold(&a).await;
    let digest = cli_thread(&a, &["alert", "digest"]);
    waiting_on_counter(&a, 1, "the digest waiting to be queued").await;
    let carol = DirectAddress::parse("carol@a.test").expect("addr");
    let row = hisp::store::addresses::get(&mut tx, &carol)
        .await
        .expect("carol");
    hisp::store::addresses::set_enabled(&mut tx, row.id, false)
        .await
        .expect("disable");
    tx.commit().await.expect("commit the disable");
    let text = harness::ok(&joined(digest).await);
    assert!(text.contains("0 digest"), "{text}");
    let kept = alerts(&a).await;
    assert_eq!(kept.len(), 1);
    assert!(kept[0].message_id.is_none(), "not marked sent");

    // Enabled again, its next digest carries it.
    harness::ok(&a.cli(&["address", "enable", "carol@a.test"]));
    let text = harness::ok(&a.cli(&["alert", "digest"]));
    assert!(text.contains("1 digest"), "{text}");
    wait_for(60, "carol's digest", || async {
        let l = a.hisp.mailbox_list(&carol, INBOX).await.expect("list");
        (l.len() == 1 && l[0].subject == hisp::notify::digest::SUBJECT).then_some(())
    })
    .await;
    assert!(alerts(&a).await[0].message_id.is_some());
}
