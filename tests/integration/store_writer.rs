//! Write transactions under concurrency (`store::Tx`): on SQLite, writers
//! queued together share one commit (group commit), and still each one's work
//! is all or nothing and visible to every connection once `commit` returns.
//! The same checks run on PostgreSQL, where each transaction is its own.

use std::sync::Arc;

use hisp::direct::Domain;
use hisp::store::{Store, domains};

use crate::harness::envs;

/// How writer `i` ends: commit, explicit rollback, or an error and a drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Commit,
    Rollback,
    FailAndDrop,
}

fn end_of(i: usize) -> End {
    match i % 3 {
        0 => End::Commit,
        1 => End::Rollback,
        _ => End::FailAndDrop,
    }
}

fn name(i: usize) -> Domain {
    Domain::parse(&format!("w{i}.example.net")).expect("domain")
}

async fn exists(store: &Store, d: &Domain) -> bool {
    let mut conn = store.pool().acquire().await.expect("conn");
    domains::find(&mut conn, d).await.expect("find").is_some()
}

async fn writer(store: Arc<Store>, i: usize) -> Result<(), String> {
    let mut tx = store.begin().await.map_err(|e| e.to_string())?;
    // Two rows per writer, so a half-kept transaction would show.
    domains::insert(&mut tx, &name(i), 1)
        .await
        .map_err(|e| e.to_string())?;
    let twin = Domain::parse(&format!("w{i}.twin.example.net")).expect("domain");
    domains::insert(&mut tx, &twin, 1)
        .await
        .map_err(|e| e.to_string())?;
    match end_of(i) {
        End::Commit => {
            tx.commit().await.map_err(|e| e.to_string())?;
            // Durable and visible to any other connection once commit returns.
            if !exists(&store, &name(i)).await || !exists(&store, &twin).await {
                return Err(format!("writer {i}: committed rows not visible"));
            }
        }
        End::Rollback => tx.rollback().await.map_err(|e| e.to_string())?,
        End::FailAndDrop => {
            let dup = domains::insert(&mut tx, &name(i), 1).await;
            if dup.is_ok() {
                return Err(format!("writer {i}: duplicate accepted"));
            }
            drop(tx);
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_are_each_all_or_nothing() {
    const WRITERS: usize = 60;
    for env in envs().await {
        let store = Arc::new(env.hisp.store.clone());
        let (members0, batches0) = store.group_commits();
        let tasks: Vec<_> = (0..WRITERS)
            .map(|i| tokio::spawn(writer(store.clone(), i)))
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            let r = t.await.expect("join");
            assert!(r.is_ok(), "{}: writer {i}: {r:?}", env.engine);
        }
        for i in 0..WRITERS {
            let twin = Domain::parse(&format!("w{i}.twin.example.net")).expect("domain");
            let want = end_of(i) == End::Commit;
            assert_eq!(
                exists(&store, &name(i)).await,
                want,
                "{}: writer {i} ({:?})",
                env.engine,
                end_of(i)
            );
            assert_eq!(
                exists(&store, &twin).await,
                want,
                "{}: twin {i}",
                env.engine
            );
        }
        // And the store still takes an ordinary write afterwards.
        let mut tx = store.begin().await.expect("begin");
        domains::insert(&mut tx, &name(1000), 1)
            .await
            .expect("insert");
        tx.commit().await.expect("commit");
        assert!(exists(&store, &name(1000)).await);

        let (members, batches) = store.group_commits();
        let (members, batches) = (members - members0, batches - batches0);
        if env.engine == "sqlite" {
            // 20 committing writers plus the last one, started together:
            // several of them shared a commit.
            assert_eq!(members, 21, "sqlite: members committed");
            assert!(
                batches < members,
                "sqlite: {members} writers took {batches} commits"
            );
        } else {
            assert_eq!((members, batches), (0, 0), "{}", env.engine);
        }
    }
}

#[tokio::test]
async fn a_writer_dropped_alone_leaves_the_store_writable() {
    for env in envs().await {
        let store = &env.hisp.store;
        {
            let mut tx = store.begin().await.expect("begin");
            domains::insert(&mut tx, &name(1), 1).await.expect("insert");
            // Dropped with nobody queued behind it.
        }
        // An autocommit write on another connection must not find the
        // database locked by a batch left open.
        let mut conn = store.pool().acquire().await.expect("conn");
        tokio::time::timeout(
            std::time::Duration::from_secs(3),
            domains::insert(&mut conn, &name(2), 1),
        )
        .await
        .expect("not locked out")
        .expect("insert");
        drop(conn);
        assert!(!exists(store, &name(1)).await, "{}", env.engine);
        assert!(exists(store, &name(2)).await, "{}", env.engine);
    }
}

/// The queue workers look for due rows with a read: an idle node's polls
/// (the inbound and delivery pumps and the notify worker, each about once a
/// second) take no turn of SQLite's one write lock, which the MLLP intake's
/// group commits need. Checked through the writer's own count of write
/// transactions, which only SQLite keeps.
#[tokio::test]
async fn idle_queue_workers_take_no_write_turn() {
    let env = crate::harness::sqlite_env().await;
    let gw = hisp::smtp::Gateway::new(env.hisp.clone());
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let outbound =
        hisp::smtp::outbound::Outbound::new(hisp::smtp::outbound_config(&env.hisp.config))
            .expect("outbound");
    let mut tasks = hisp::smtp::worker::spawn(&gw, outbound, &stop);
    let notifier = hisp::notify::Notifier::new(gw.clone());
    tasks.push(tokio::spawn(hisp::notify::process::run(
        notifier,
        stop.clone(),
    )));
    // The first look of each, and the tracking check that runs at start.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (members0, _) = env.hisp.store.group_commits();
    // Two and a half poll intervals.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (members, _) = env.hisp.store.group_commits();
    stop_tx.send(true).expect("stop");
    for t in tasks {
        t.await.expect("worker");
    }
    assert_eq!(
        members - members0,
        0,
        "write transactions taken by idle workers"
    );
}

/// A local alert costs the one SQLite writer only turns that write: the
/// alert is filed and its message queued in the ADT worker's batch
/// transaction, and the local copies
/// it makes (the alert for the care manager, then the processed MDN back to
/// the notification address) reach the inbound worker claimed as they are
/// committed, with no claim turn of their own. Counted by the writer's own
/// tally of turns by `Store::begin` call site, which only SQLite keeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_alert_takes_no_claim_turn_and_no_filing_turn_of_its_own() {
    use crate::notify::{JANE, ack_code, adt};
    let mut a = crate::smtp::Node::new("a.test", false, None).await;
    let carol = a.address("carol").await;
    a.start().await;
    a.hisp
        .feed_add(
            "NORTHHOSP",
            "North",
            false,
            &hisp::notify::allow::Allowed::any(),
            "test",
        )
        .await
        .expect("feed");
    let csv = "patient_id,assigning_authority,family_name,given_name,birth_date,sex,postal_code,phone,program,end_date\n\
               MRN1,NORTH,Doe,Jane,1980-01-02,F,06101,,,\n";
    a.hisp
        .roster_import(&carol, csv.as_bytes(), false, false, "test")
        .await
        .expect("roster");
    crate::smtp::wait_for(30, "the inbound worker", || async {
        a.hisp.wakes.handoff.taker()
    })
    .await;
    let before = a.hisp.store.writer_sites();
    let (code, _) = ack_code(&a, &adt("C1", "A04", "NORTHHOSP", "E", "V1", JANE)).await;
    assert_eq!(code, "AA");
    // The alert filed in carol's inbox, and its MDN applied to tracking.
    crate::smtp::wait_for(60, "the alert and its MDN processed", || async {
        let mut conn = a.hisp.conn().await.expect("conn");
        let done: Option<String> = sqlx::query_scalar("SELECT final FROM tracking")
            .fetch_optional(&mut *conn)
            .await
            .expect("tracking")
            .flatten();
        done.is_some().then_some(())
    })
    .await;
    let after = a.hisp.store.writer_sites();
    let turns = |file: &str| -> u64 {
        let count = |sites: &[hisp::store::Site]| -> u64 {
            sites
                .iter()
                .filter(|s| s.site.starts_with(file))
                .map(|s| s.turns)
                .sum()
        };
        count(&after) - count(&before)
    };
    assert_eq!(turns("src/smtp/worker.rs"), 0, "inbound claims: {after:?}");
    assert_eq!(
        turns("src/smtp/submit.rs"),
        0,
        "separate submits: {after:?}"
    );
    // The processed MDN back to the notification address, an address here,
    // is applied to tracking in the turn that files the alert: no turn, no
    // queue row and no S/MIME of its own (before: signed, encrypted, queued,
    // then decrypted and verified in a second turn).
    assert_eq!(
        turns("src/smtp/inbound.rs"),
        1,
        "the alert filed and its MDN applied in one turn: {after:?}"
    );
    let mut conn = a.hisp.conn().await.expect("conn");
    let outcome: Option<String> = sqlx::query_scalar("SELECT final FROM tracking")
        .fetch_one(&mut *conn)
        .await
        .expect("tracking");
    assert_eq!(outcome.as_deref(), Some("delivered"));
    let events: Vec<String> = sqlx::query_scalar("SELECT event FROM tracking_events ORDER BY id")
        .fetch_all(&mut *conn)
        .await
        .expect("events");
    assert!(events.iter().any(|e| e == "processed"), "{events:?}");
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT state, rcpts FROM inbound_queue ORDER BY id")
            .fetch_all(&mut *conn)
            .await
            .expect("inbound rows");
    assert_eq!(rows.len(), 1, "only the alert was queued: {rows:?}");
    assert_eq!(rows[0].0, "done");
    assert_eq!(rows[0].1, carol.to_string());
    drop(conn);
    assert_eq!(
        turns("src/notify/mllp.rs"),
        1,
        "the ADT committed: {after:?}"
    );
    // The alert is made ready before the ADT worker's batch transaction
    // opens, and filed in it with the encounter's state and the row's
    // completion: the claim, then that one turn.
    assert_eq!(
        turns("src/notify/process.rs"),
        2,
        "the ADT claimed, then run and its alert filed: {after:?}"
    );
    a.stop().await;
}

/// The MLLP intake takes the messages pending for a commit only once its
/// write transaction has begun, so those that arrive while it waits for the
/// one SQLite writer share its turn. With the writer held by another
/// transaction while ten feeds' messages arrive, all ten are committed in
/// one turn (before: the first message's turn took it alone, then waited).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_arriving_while_the_intake_waits_share_its_turn() {
    use crate::notify::{JANE, adt};
    let mut a = crate::smtp::Node::new("a.test", false, None).await;
    a.start().await;
    a.hisp
        .feed_add(
            "NORTHHOSP",
            "North",
            false,
            &hisp::notify::allow::Allowed::any(),
            "test",
        )
        .await
        .expect("feed");
    let before = a.hisp.store.writer_sites();
    let holder = a.hisp.store.begin().await.expect("hold the writer");
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..10 {
        let to = a.mllp;
        let msg = adt(&format!("T{i}"), "A08", "NORTHHOSP", "I", "V9", JANE);
        sends.spawn(async move { hisp::cli::notify_send_mllp(to, &msg).await });
    }
    // Every message reaches the intake while the writer is held: the
    // server's gauge counts them (ten pending, one sender waiting for the
    // writer on their behalf). Released at once, well inside the writer
    // queue's two-second wait, after which the waiting sender would give up
    // the group turn for a plain transaction.
    crate::smtp::wait_for(30, "ten messages pending at the intake", || async {
        let (status, body) = crate::harness::http_get(a.http, "/metrics").await;
        let text = String::from_utf8_lossy(&body).into_owned();
        let gauge = |name: &str| -> i64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or(-1)
        };
        (status == 200
            && gauge("hisp_mllp_intake_pending") == 10
            && gauge("hisp_store_writers_queued") >= 1)
            .then_some(())
    })
    .await;
    holder.commit().await.expect("release");
    while let Some(sent) = sends.join_next().await {
        let ack = sent.expect("task").expect("ack");
        let (code, _) = hisp::hl7::parse_ack(&ack).expect("parse");
        assert_eq!(code, "AA");
    }
    let after = a.hisp.store.writer_sites();
    let turns = |sites: &[hisp::store::Site]| -> u64 {
        sites
            .iter()
            .filter(|s| s.site.starts_with("src/notify/mllp.rs"))
            .map(|s| s.turns)
            .sum()
    };
    assert_eq!(
        turns(&after) - turns(&before),
        1,
        "intake turns for ten messages: {after:?}"
    );
    a.stop().await;
}

/// The ADT worker claims its next rows in the transaction that commits the
/// batch before them: a backlog of 100 quiet messages (two batches of at
/// most 64) costs one claim turn and one turn per batch, not a claim turn
/// per batch besides. Counted by the writer's tally by call site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adt_worker_claims_its_next_batch_as_it_commits_the_last() {
    use crate::notify::adt;
    let env = crate::harness::sqlite_env().await;
    env.hisp
        .feed_add(
            "NORTHHOSP",
            "North",
            false,
            &hisp::notify::allow::Allowed::any(),
            "test",
        )
        .await
        .expect("feed");
    let nobody = "PID|1||MRN9^^^NORTH^MR||Unknown^Person||19900101|M";
    let mut tx = env.hisp.store.begin().await.expect("begin");
    for i in 0..100 {
        let control = format!("B{i}");
        let raw = adt(&control, "A04", "NORTHHOSP", "E", &format!("V{i}"), nobody);
        let key = hisp::store::notify::AdtKey {
            app: "EPIC",
            facility: "NORTHHOSP",
            control_id: &control,
        };
        let sealer = env.hisp.store.sealer();
        hisp::store::notify::insert_adt(&mut tx, sealer, &key, "ack", Some(&raw), 0)
            .await
            .expect("insert");
    }
    tx.commit().await.expect("commit");
    let before = env.hisp.store.writer_sites();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let gw = hisp::smtp::Gateway::new(env.hisp.clone());
    let worker = tokio::spawn(hisp::notify::process::run(
        hisp::notify::Notifier::new(gw),
        stop,
    ));
    crate::smtp::wait_for(60, "the backlog processed", || async {
        let mut conn = env.hisp.conn().await.expect("conn");
        let done: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM adt_messages WHERE state = 'done' AND result = 'no subscriber'",
        )
        .fetch_one(&mut *conn)
        .await
        .expect("count");
        (done == 100).then_some(())
    })
    .await;
    stop_tx.send(true).expect("stop");
    worker.await.expect("worker");
    let after = env.hisp.store.writer_sites();
    let turns = |sites: &[hisp::store::Site]| -> u64 {
        sites
            .iter()
            .filter(|s| s.site.starts_with("src/notify/process.rs"))
            .map(|s| s.turns)
            .sum()
    };
    assert_eq!(
        turns(&after) - turns(&before),
        3,
        "the first claim, then one turn per batch: {after:?}"
    );
}
