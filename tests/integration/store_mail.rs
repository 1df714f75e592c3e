//! The mail tables on every engine: queue leases (two claimers never share a
//! row; an expired lease is reclaimed; only the holder finishes), idempotent
//! mailbox filing, sealed bytes, and tracking's single final outcome.

use hisp::direct::DirectAddress;
use hisp::mailbox::{INBOX, Origin};
use hisp::ops::address::NewAddress;
use hisp::store::Engine;
use hisp::store::queue::{self, Claim, NewInbound, NewOutbound, OutboundKind};
use hisp::store::tracking::{self, NewTrack, Step};
use hisp::store::users::Role;

use crate::harness::envs;

/// A claim by `node` leased until `lease_until`, at `now`, of at most `limit` rows.
fn claim(engine: Engine, node: &str, lease_until: i64, now: i64, limit: i64) -> Claim<'_> {
    Claim {
        engine,
        node,
        lease_until,
        now,
        limit,
    }
}

#[tokio::test]
async fn queue_leases_are_exclusive_and_expire_on_every_engine() {
    for env in envs().await {
        let h = &env.hisp;
        let (engine, sealer) = (h.store.engine(), h.store.sealer());
        let mut conn = h.conn().await.expect("conn");
        let rcpts = vec!["jo@direct.example.org".to_string()];
        for n in 0..5 {
            let raw = format!("message {n}");
            let m = NewInbound {
                source: "mx",
                peer: "127.0.0.1",
                mail_from: "",
                rcpts: &rcpts,
                raw: raw.as_bytes(),
            };
            queue::insert_inbound(&mut conn, sealer, &m, 100)
                .await
                .expect("insert");
        }
        // The read a worker asks before it claims agrees with the claim.
        assert!(queue::inbound_due(&mut conn, 100).await.expect("due"));
        assert!(
            !queue::inbound_due(&mut conn, 99).await.expect("due"),
            "not due before next_attempt_at"
        );
        let first = queue::claim_inbound(&mut conn, sealer, claim(engine, "n1", 400, 100, 3))
            .await
            .expect("claim");
        let second = queue::claim_inbound(&mut conn, sealer, claim(engine, "n2", 400, 100, 10))
            .await
            .expect("claim");
        assert_eq!((first.len(), second.len()), (3, 2), "{}", env.engine);
        assert!(first.iter().all(|r| second.iter().all(|s| s.id != r.id)));
        assert_eq!(first[0].raw, b"message 0", "unsealed");
        assert_eq!(first[0].rcpts, rcpts);
        assert!(
            !queue::inbound_due(&mut conn, 399).await.expect("due"),
            "every row leased: nothing due"
        );
        let none = queue::claim_inbound(&mut conn, sealer, claim(engine, "n3", 500, 399, 10))
            .await
            .expect("claim");
        assert!(none.is_empty(), "leases hold until they end");
        assert!(
            !queue::finish_inbound(&mut conn, first[0].id, "n2", "done", "x", 150)
                .await
                .expect("finish"),
            "only the holder finishes"
        );
        assert!(
            queue::finish_inbound(&mut conn, first[0].id, "n1", "done", "x", 150)
                .await
                .expect("finish")
        );
        assert!(queue::inbound_due(&mut conn, 400).await.expect("due"));
        let again = queue::claim_inbound(&mut conn, sealer, claim(engine, "n3", 900, 400, 10))
            .await
            .expect("claim after expiry");
        assert_eq!(
            again.len(),
            4,
            "expired leases are reclaimed, finished rows are not"
        );
        assert!(again.iter().all(|r| r.attempts == 2));

        let out = NewOutbound {
            kind: OutboundKind::Message,
            message_id: "<m@x>",
            mail_from: "a@direct.example.org",
            rcpt: "b@peer.test",
            domain: "peer.test",
            raw: b"encrypted",
            expires_at: 1000,
        };
        let id = queue::insert_outbound(&mut conn, sealer, &out, 100)
            .await
            .expect("out");
        assert!(queue::outbound_due(&mut conn, 100).await.expect("due"));
        let c = queue::claim_outbound(&mut conn, sealer, claim(engine, "n1", 200, 100, 5))
            .await
            .expect("claim");
        assert_eq!(c.len(), 1);
        queue::release(
            &mut conn,
            queue::Table::Outbound,
            id,
            "n1",
            300,
            "4.0.0 later",
        )
        .await
        .expect("release");
        assert!(!queue::outbound_due(&mut conn, 250).await.expect("due"));
        assert!(queue::outbound_due(&mut conn, 300).await.expect("due"));
        assert!(
            queue::claim_outbound(&mut conn, sealer, claim(engine, "n1", 400, 250, 5))
                .await
                .expect("claim")
                .is_empty(),
            "not before next_attempt_at"
        );
        assert_eq!(
            queue::claim_outbound(&mut conn, sealer, claim(engine, "n2", 400, 300, 5))
                .await
                .expect("claim")[0]
                .attempts,
            2
        );
    }
}

/// A worker's lookahead gives back rows it claimed but never started: only its
/// own, and as if they had not been claimed (no attempt counted); rows leased
/// ahead of free ones in the queue's order do not hide them from a claim.
#[tokio::test]
async fn unclaimed_rows_return_without_an_attempt_on_every_engine() {
    for env in envs().await {
        let h = &env.hisp;
        let (engine, sealer) = (h.store.engine(), h.store.sealer());
        let mut conn = h.conn().await.expect("conn");
        let mut ids = Vec::new();
        for n in 0..4 {
            let raw = format!("copy {n}");
            let out = NewOutbound {
                kind: OutboundKind::Message,
                message_id: "<u@x>",
                mail_from: "a@direct.example.org",
                rcpt: "b@peer.test",
                domain: "peer.test",
                raw: raw.as_bytes(),
                expires_at: 1000,
            };
            ids.push(
                queue::insert_outbound(&mut conn, sealer, &out, 100)
                    .await
                    .expect("out"),
            );
        }
        let taken = queue::claim_outbound(&mut conn, sealer, claim(engine, "n1", 400, 100, 3))
            .await
            .expect("claim");
        let taken: Vec<i64> = taken.iter().map(|r| r.id).collect();
        assert_eq!(taken, ids[..3], "{}: oldest first", env.engine);
        // Another node cannot give back n1's rows.
        queue::unclaim(&mut conn, queue::Table::Outbound, &ids[1..3], "n2")
            .await
            .expect("unclaim");
        let free = queue::claim_outbound(&mut conn, sealer, claim(engine, "n2", 400, 100, 10))
            .await
            .expect("claim");
        assert_eq!(
            free.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![ids[3]],
            "{}: behind three leased rows, the free one is found",
            env.engine
        );
        queue::unclaim(&mut conn, queue::Table::Outbound, &ids[1..3], "n1")
            .await
            .expect("unclaim");
        let back = queue::claim_outbound(&mut conn, sealer, claim(engine, "n3", 400, 100, 10))
            .await
            .expect("claim");
        assert_eq!(
            back.iter().map(|r| (r.id, r.attempts)).collect::<Vec<_>>(),
            vec![(ids[1], 1), (ids[2], 1)],
            "{}: given back, and the give-back is not an attempt",
            env.engine
        );
        assert!(
            queue::finish_outbound(&mut conn, ids[0], "n1", "sent", "250", 150)
                .await
                .expect("finish"),
            "{}: the row n1 kept is still n1's",
            env.engine
        );
    }
}

/// Listing a folder reads only the listing index on SQLite, never the rows,
/// whose columns after a large message sit behind its overflow pages.
#[tokio::test]
async fn a_folder_listing_never_reads_the_messages() {
    let env = crate::harness::sqlite_env().await;
    let mut conn = env.hisp.conn().await.expect("conn");
    let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
        "EXPLAIN QUERY PLAN {}",
        hisp::store::mailbox::list_sql()
    )))
    .bind(1_i64)
    .bind(INBOX)
    .bind(i64::MAX)
    .bind(100_i64)
    .fetch_all(&mut *conn)
    .await
    .expect("plan")
    .iter()
    .map(|r| sqlx::Row::try_get::<String, _>(r, "detail").expect("detail"))
    .collect();
    // (SQLite names the id bound `id<?` or `rowid<?` depending on how the
    // schema was loaded; the property is the covering index.)
    assert!(
        plan.len() == 1
            && plan[0].starts_with(
                "SEARCH mailbox USING COVERING INDEX mailbox_listing (address_id=? AND folder=? AND "
            ),
        "a listing must not read mailbox rows: {plan:?}"
    );
}

#[tokio::test]
async fn mailbox_filing_is_idempotent_and_tracking_final_once_on_every_engine() {
    for env in envs().await {
        let h = &env.hisp;
        let jo = DirectAddress::parse("jo@direct.example.org").expect("addr");
        h.address_add(
            NewAddress {
                address: jo.clone(),
                name: None,
                role: Role::Provider,
                password: Some("a long enough password".into()),
                single_use: None,
            },
            "test",
        )
        .await
        .expect("address");
        let raw = b"From: a@peer.test\r\nSubject: Lab results\r\nMessage-ID: <1@peer.test>\r\n\r\nbody\r\n";
        let mut tx = h.store.begin().await.expect("tx");
        let origin = Origin {
            kind: "inbound",
            id: Some(7),
        };
        assert!(
            h.file(&mut tx, &jo, INBOX, raw, origin)
                .await
                .expect("file")
                .is_some()
        );
        assert!(
            h.file(&mut tx, &jo, INBOX, raw, origin)
                .await
                .expect("file")
                .is_none(),
            "{}",
            env.engine
        );
        tx.commit().await.expect("commit");
        let list = h.mailbox_list(&jo, INBOX).await.expect("list");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].subject, "Lab results");
        assert!(!list[0].seen);
        let (shown, _) = h.mailbox_show(&jo, list[0].id, "test").await.expect("show");
        assert_eq!(shown.text.as_deref(), Some("body\r\n"));
        assert!(h.mailbox_list(&jo, INBOX).await.expect("list")[0].seen);
        let refused = h.address_remove(&jo, "test").await.expect_err("holds mail");
        assert!(refused.to_string().contains("holds 1 message"), "{refused}");

        let mut conn = h.conn().await.expect("conn");
        let sealer = h.store.sealer();
        let t = NewTrack {
            message_id: "<1@direct.example.org>",
            sender: "jo@direct.example.org",
            recipient: "b@peer.test",
            subject: "Referral",
            wants_dispatched: true,
            wants_notice: false,
            state: "queued",
        };
        let id = tracking::insert(&mut conn, sealer, &t, 10)
            .await
            .expect("track");
        assert!(
            tracking::step(&mut conn, id, Step::Sent { deadline: 70 }, 10)
                .await
                .expect("step")
        );
        assert!(
            tracking::overdue(&mut conn, sealer, 69, 10)
                .await
                .expect("overdue")
                .is_empty()
        );
        assert_eq!(
            tracking::overdue(&mut conn, sealer, 70, 10)
                .await
                .expect("overdue")
                .len(),
            1
        );
        assert!(
            tracking::finish(&mut conn, id, "delivered", None, 20)
                .await
                .expect("finish")
        );
        assert!(
            !tracking::finish(&mut conn, id, "failed", Some("5.4.72"), 21)
                .await
                .expect("finish"),
            "one final outcome"
        );
        let row = tracking::find(&mut conn, sealer, "<1@direct.example.org>", "B@peer.test")
            .await
            .expect("find")
            .expect("row");
        assert_eq!(
            (row.final_outcome.as_deref(), row.subject.as_str()),
            (Some("delivered"), "Referral")
        );
        assert!(
            tracking::overdue(&mut conn, sealer, 1000, 10)
                .await
                .expect("overdue")
                .is_empty()
        );
    }
}

#[tokio::test]
async fn an_unreadable_queue_row_is_set_aside_and_the_rest_still_flow_on_every_engine() {
    for env in envs().await {
        let h = &env.hisp;
        let (engine, sealer) = (h.store.engine(), h.store.sealer());
        let mut conn = h.conn().await.expect("conn");
        let rcpts = vec!["jo@direct.example.org".to_string()];
        let mut ids = Vec::new();
        for n in 0..3 {
            let raw = format!("message {n}");
            let m = NewInbound {
                source: "mx",
                peer: "127.0.0.1",
                mail_from: "",
                rcpts: &rcpts,
                raw: raw.as_bytes(),
            };
            ids.push(
                queue::insert_inbound(&mut conn, sealer, &m, 100)
                    .await
                    .expect("insert"),
            );
        }
        // The middle row's sealed message is damaged on disk.
        sqlx::query("UPDATE inbound_queue SET raw_sealed = $1 WHERE id = $2")
            .bind(b"HS1 damaged".to_vec())
            .bind(ids[1])
            .execute(&mut *conn)
            .await
            .expect("damage");
        let got = queue::claim_inbound(&mut conn, sealer, claim(engine, "n1", 400, 100, 10))
            .await
            .expect("the claim does not fail as a whole");
        let got_ids: Vec<i64> = got.iter().map(|r| r.id).collect();
        assert_eq!(got_ids, [ids[0], ids[2]], "{}", env.engine);
        let row = sqlx::query("SELECT state, result FROM inbound_queue WHERE id = $1")
            .bind(ids[1])
            .fetch_one(&mut *conn)
            .await
            .expect("row");
        let state: String = sqlx::Row::get(&row, 0);
        let result: Option<String> = sqlx::Row::get(&row, 1);
        assert_eq!(state, "corrupt");
        assert!(result.is_some_and(|r| r.contains("unreadable")));
        let again = queue::claim_inbound(&mut conn, sealer, claim(engine, "n2", 900, 500, 10))
            .await
            .expect("claim");
        assert!(
            again.iter().all(|r| r.id != ids[1]),
            "a corrupt row is not claimed again"
        );
    }
}

#[tokio::test]
async fn adt_intake_inserts_many_at_once_and_skips_taken_keys_on_every_engine() {
    use hisp::store::notify::{self, AdtKey, NewAdt};
    for env in envs().await {
        let h = &env.hisp;
        let sealer = h.store.sealer();
        let mut tx = h.store.begin().await.expect("begin");
        let k = |c: &'static str| AdtKey {
            app: "EPIC",
            facility: "NORTH",
            control_id: c,
        };
        let item = |c: &'static str, ack: &'static str| NewAdt {
            key: k(c),
            ack,
            raw: b"MSH|^~\\&|EPIC|NORTH",
            digest: c,
            now: 100,
        };
        let first = notify::insert_adts_if_new(&mut tx, sealer, &[item("A", "ack A")])
            .await
            .expect("insert");
        assert_eq!(first.len(), 1);
        // "A" is taken already, "B" comes twice in one batch, "C" once.
        let items = [
            item("A", "ack A2"),
            item("B", "ack B"),
            item("B", "ack B2"),
            item("C", "ack C"),
        ];
        let taken = notify::insert_adts_if_new(&mut tx, sealer, &items)
            .await
            .expect("insert");
        let mut ids: Vec<String> = taken.into_iter().map(|(_, _, c)| c).collect();
        ids.sort();
        assert_eq!(ids, ["B", "C"], "{}", env.engine);
        assert_eq!(
            notify::stored_ack(&mut tx, &k("A"))
                .await
                .expect("ack")
                .as_deref(),
            Some("ack A"),
            "the first copy's ACK stands"
        );
        assert_eq!(
            notify::stored_ack(&mut tx, &k("B"))
                .await
                .expect("ack")
                .as_deref(),
            Some("ack B")
        );
        tx.commit().await.expect("commit");
        // The worker's look before its claim: due now, and nothing once
        // every row is claimed (leased).
        let mut conn = h.conn().await.expect("conn");
        assert!(!notify::adt_due(&mut conn, 99).await.expect("due"));
        assert!(notify::adt_due(&mut conn, 100).await.expect("due"));
        let claim = hisp::store::queue::Claim {
            engine: h.store.engine(),
            node: "n1",
            lease_until: 400,
            now: 100,
            limit: 10,
        };
        let rows = notify::claim_adt(&mut conn, sealer, claim)
            .await
            .expect("claim");
        assert_eq!(rows.len(), 3, "{}", env.engine);
        assert!(!notify::adt_due(&mut conn, 100).await.expect("due"));
        assert!(
            notify::adt_due(&mut conn, 400).await.expect("due"),
            "lease ended"
        );
    }
}

/// A feed's messages are claimed in the order received: nothing behind a
/// row of the same feed (MSH-4) that is leased, on this node or another, or
/// waiting for a retry; other feeds go on. A row due again after its retry
/// comes before the rows that waited for it, whatever the claim's limit.
#[tokio::test]
async fn adt_claims_keep_each_feeds_order_on_every_engine() {
    use hisp::store::notify::{self, AdtKey};
    for env in envs().await {
        let h = &env.hisp;
        let (engine, sealer) = (h.store.engine(), h.store.sealer());
        let e = env.engine;
        let mut conn = h.conn().await.expect("conn");
        let mut ids = std::collections::HashMap::new();
        // North's N1, N2, N3 and South's S1, interleaved as received.
        for (facility, control, at) in [
            ("NORTH", "N1", 100),
            ("SOUTH", "S1", 101),
            ("NORTH", "N2", 102),
            ("NORTH", "N3", 103),
        ] {
            let key = AdtKey {
                app: "EPIC",
                facility,
                control_id: control,
            };
            let id = notify::insert_adt(&mut conn, sealer, &key, "ack", Some(b"MSH|"), at)
                .await
                .expect("insert");
            ids.insert(id, control);
        }
        let take = async |node: &str, now: i64, limit: i64| -> Vec<&str> {
            let mut conn = h.conn().await.expect("conn");
            notify::claim_adt(
                &mut conn,
                sealer,
                claim(engine, node, now + 300, now, limit),
            )
            .await
            .expect("claim")
            .iter()
            .map(|r| ids[&r.id])
            .collect()
        };
        // n1 takes N1. While n1 holds it, n2 takes South's S1 and nothing
        // of North (before, N2 and N3: a second node ran them first).
        assert_eq!(take("n1", 110, 1).await, ["N1"], "{e}");
        assert_eq!(take("n2", 110, 10).await, ["S1"], "{e}");
        assert!(take("n2", 111, 10).await.is_empty(), "{e}");
        let id_of = |c: &str| ids.iter().find(|(_, v)| **v == c).map(|(i, _)| *i);
        notify::finish_adt(&mut conn, id_of("S1").expect("S1"), "n2", "done")
            .await
            .expect("finish");
        // N1 fails: back to the queue, due in 30 s. North waits for it.
        notify::release_adt(&mut conn, id_of("N1").expect("N1"), "n1", 140, "failed")
            .await
            .expect("release");
        assert!(take("n2", 120, 10).await.is_empty(), "{e}: N2 waits for N1");
        // Nor does the worker's look before a claim find them due, so a
        // wake while North waits takes no write turn.
        assert!(!notify::adt_due(&mut conn, 120).await.expect("due"), "{e}");
        assert!(notify::adt_due(&mut conn, 140).await.expect("due"), "{e}");
        // Due again, N1 comes first, even by a claim of one row (by due
        // time, N2 and N3, received before N1's retry, came first).
        assert_eq!(take("n2", 140, 1).await, ["N1"], "{e}");
        assert!(take("n1", 141, 10).await.is_empty(), "{e}");
        // An expired lease is no hold: n1 takes over N1 and the rest in order.
        assert_eq!(take("n1", 460, 10).await, ["N1", "N2", "N3"], "{e}");
        // Given back unrun (a batch that ended early), none of them used an
        // attempt: N1 was claimed three times, N2 and N3 once, before this.
        let all: Vec<i64> = ["N1", "N2", "N3"].iter().filter_map(|c| id_of(c)).collect();
        let back = notify::unclaim_adts(&mut conn, &all, "n1", 461)
            .await
            .expect("unclaim");
        assert_eq!(back, 3, "{e}");
        let again = notify::claim_adt(&mut conn, sealer, claim(engine, "n2", 800, 461, 10))
            .await
            .expect("claim");
        let attempts: Vec<(&str, i64)> = again.iter().map(|r| (ids[&r.id], r.attempts)).collect();
        assert_eq!(attempts, [("N1", 3), ("N2", 1), ("N3", 1)], "{e}");
        // A one-node restart drops every lease, ADT's too: before, North
        // waited out the dead process's lease.
        queue::release_all(&mut conn).await.expect("release all");
        assert_eq!(take("n1", 462, 10).await, ["N1", "N2", "N3"], "{e}");
    }
}
