//! A disabled subscriber, over real sockets on every engine: disabled by the
//! CLI (another process) while the server's notify worker holds its roster
//! snapshot, it gets no alert and no review of a near miss, while another
//! subscriber with the same patient still does (ACK AA either way); a
//! review queued for it before cannot be confirmed; its roster is kept but
//! takes no import; enabled again, the next event alerts it and nothing
//! decided meanwhile is sent later. A digest subscriber disabled after
//! alerts were filed gets no digest; the alerts stay filed and go in its
//! first digest once it is enabled again.

use hisp::mailbox::INBOX;
use hisp::store::users::Role;

use crate::harness;
use crate::notify::{JANE, ack_code, adt, alerts};
use crate::notify_features::{count, drained, roster};
use crate::notify_review::consent;
use crate::smtp::{Node, wait_for};

/// Jane as a southern hospital knows her: a near miss of the roster's Jane
/// (queued for review, never alerted).
const NEAR_JANE: &str = "PID|1||X55^^^SOUTH^MR||Doe^Jane||19800102|F";

const JANE_ROW: &str = "MRN1,NORTH,Doe,Jane,1980-01-02,F,06101,,Transitions,\n";

/// The ED registration of `visit` for `pid`, at `time` (EVN-2).
fn a04(control: &str, visit: &str, pid: &str, time: &str) -> Vec<u8> {
    String::from_utf8(adt(control, "A04", "NORTHHOSP", "E", visit, pid))
        .expect("utf8")
        .replace("EVN|A04|20261122055900", &format!("EVN|A04|{time}"))
        .into_bytes()
}

/// `owner`'s alerts, as the visit numbers of their encounters.
async fn alerted_visits(n: &Node, owner: &str) -> Vec<String> {
    let mut conn = n.hisp.conn().await.expect("conn");
    sqlx::query_scalar(
        "SELECT e.visit FROM alerts a JOIN encounters e ON e.id = a.encounter_id \
         WHERE a.subscriber = $1 ORDER BY a.id",
    )
    .bind(owner)
    .fetch_all(&mut *conn)
    .await
    .expect("alerts")
}

const CAROLS_REVIEWS: &str = "SELECT COUNT(*) FROM match_reviews r \
     JOIN roster_entries e ON e.id = r.roster_entry_id WHERE e.owner = 'carol@a.test'";
const CAROLS_ENTRIES: &str = "SELECT COUNT(*) FROM roster_entries WHERE owner = 'carol@a.test'";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disabled_subscriber_gets_no_alert_until_enabled_again_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        let carol = a.address("carol").await;
        let dave = a.address("dave").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        roster(&a, "carol@a.test", JANE_ROW);
        roster(&a, "dave@a.test", JANE_ROW);
        // A first message loads the worker's snapshot, both rosters in it:
        // a near miss, queued for review for each.
        let warm = a04("W1", "VW1", NEAR_JANE, "20261122050000");
        assert_eq!(ack_code(&a, &warm).await.0, "AA", "{e}");
        drained(&a).await;
        assert_eq!(count(&a, CAROLS_REVIEWS).await, 1, "{e}");

        // Carol's practice leaves the HIE: disabled by the CLI, another process.
        harness::ok(&a.cli(&["address", "disable", "carol@a.test"]));
        // The near miss first: only a reloaded snapshot keeps it from
        // queueing a review for carol.
        for (control, visit, pid) in [("D1", "VD1", NEAR_JANE), ("D2", "VD2", JANE)] {
            let msg = a04(control, visit, pid, "20261122055900");
            assert_eq!(ack_code(&a, &msg).await.0, "AA", "{e}");
        }
        drained(&a).await;
        let daves = wait_for(60, "dave's alert", || async {
            let l = a.hisp.mailbox_list(&dave, INBOX).await.expect("list");
            (!l.is_empty()).then_some(l)
        })
        .await;
        assert_eq!(daves.len(), 1, "{e}");
        assert_eq!(alerted_visits(&a, "dave@a.test").await, ["VD2"], "{e}");
        assert!(
            alerted_visits(&a, "carol@a.test").await.is_empty(),
            "{e}: nothing filed for a disabled subscriber"
        );
        assert!(
            a.hisp
                .mailbox_list(&carol, INBOX)
                .await
                .expect("list")
                .is_empty(),
            "{e}: nothing in the disabled mailbox"
        );
        assert_eq!(
            count(&a, CAROLS_REVIEWS).await,
            1,
            "{e}: no new review for the disabled subscriber"
        );
        assert_eq!(
            count(&a, "SELECT COUNT(*) FROM match_reviews").await,
            3,
            "{e}: dave's near misses are queued"
        );
        // The review queued before the disable cannot be confirmed now.
        let open = harness::ok(&a.cli(&["alert", "reviews", "--json"]));
        let open: Vec<serde_json::Value> = serde_json::from_str(&open).expect("json");
        let carols = open
            .iter()
            .find(|r| r["entry"]["owner"] == "carol@a.test")
            .expect("carol's review");
        let id = carols["id"].as_i64().expect("id").to_string();
        let refused = a.cli(&["alert", "review", &id, "--confirm"]);
        harness::fails(&refused, 1, "carol@a.test is disabled");
        assert_eq!(
            count(
                &a,
                "SELECT COUNT(*) FROM match_reviews WHERE status = 'open'"
            )
            .await,
            3,
            "{e}: still open, to reject or confirm once enabled"
        );

        // Its roster is kept, and takes no import while disabled.
        assert_eq!(count(&a, CAROLS_ENTRIES).await, 1, "{e}");
        let csv = a.dir.path().join("more.csv");
        std::fs::write(
            &csv,
            "patient_id,assigning_authority,family_name,given_name,birth_date,sex\n\
             MRN2,NORTH,Roe,John,1970-03-04,M\n",
        )
        .expect("csv");
        let path = csv.to_str().expect("path");
        let refused = a.cli(&["roster", "import", path, "--owner", "carol@a.test"]);
        harness::fails(&refused, 1, "carol@a.test is disabled");
        assert_eq!(count(&a, CAROLS_ENTRIES).await, 1, "{e}: nothing imported");

        // Enabled again: the next event alerts her; the visit she missed
        // while disabled is not sent later.
        harness::ok(&a.cli(&["address", "enable", "carol@a.test"]));
        let msg = a04("D3", "VD3", JANE, "20261123080000");
        assert_eq!(ack_code(&a, &msg).await.0, "AA", "{e}");
        drained(&a).await;
        let carols = wait_for(60, "carol's alert", || async {
            let l = a.hisp.mailbox_list(&carol, INBOX).await.expect("list");
            (!l.is_empty()).then_some(l)
        })
        .await;
        assert_eq!(carols.len(), 1, "{e}");
        assert_eq!(carols[0].subject, "Encounter notification: ED visit", "{e}");
        assert_eq!(alerted_visits(&a, "carol@a.test").await, ["VD3"], "{e}");
        assert_eq!(
            alerted_visits(&a, "dave@a.test").await,
            ["VD2", "VD3"],
            "{e}"
        );
        a.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disabled_digest_subscriber_gets_no_digest_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        let dave = a.address("dave").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        roster(&a, "dave@a.test", JANE_ROW);
        crate::notify_features::delivery(&a, "dave@a.test", "digest");
        let msg = a04("G1", "VG1", JANE, "20261122055900");
        assert_eq!(ack_code(&a, &msg).await.0, "AA", "{e}");
        drained(&a).await;
        let filed = alerts(&a).await;
        assert_eq!(filed.len(), 1, "{e}: filed for the digest");

        // Disabled after the alert was filed: no digest goes to it.
        harness::ok(&a.cli(&["address", "disable", "dave@a.test"]));
        let out = harness::ok(&a.cli(&["alert", "digest"]));
        assert!(out.contains("0 digest"), "{e}: {out}");
        let kept = alerts(&a).await;
        assert_eq!(kept.len(), 1, "{e}: the alert stays filed");
        assert!(kept[0].message_id.is_none(), "{e}: and unsent");
        assert!(
            a.hisp
                .mailbox_list(&dave, INBOX)
                .await
                .expect("list")
                .is_empty(),
            "{e}"
        );

        // Enabled again, its first digest carries it.
        harness::ok(&a.cli(&["address", "enable", "dave@a.test"]));
        let out = harness::ok(&a.cli(&["alert", "digest"]));
        assert!(out.contains("1 digest"), "{e}: {out}");
        let digest = wait_for(60, "dave's digest", || async {
            let l = a.hisp.mailbox_list(&dave, INBOX).await.expect("list");
            (!l.is_empty()).then_some(l)
        })
        .await;
        assert_eq!(digest[0].subject, hisp::notify::digest::SUBJECT, "{e}");
        assert!(alerts(&a).await[0].message_id.is_some(), "{e}");
        a.stop().await;
    }
}

/// A disabled practice's roster still says who the patient is: an opt-out
/// recorded under the practice's own number, which only its roster entry
/// links to the hospital's patient, still holds for the other subscriber.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disabled_rosters_identifiers_still_carry_an_opt_out_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        a.address("dave").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        // Carol's practice knows Jane by its own number; dave by the MRN.
        roster(
            &a,
            "carol@a.test",
            "P77,CAROLPRAC,Doe,Jane,1980-01-02,F,06101,,,\n",
        );
        roster(&a, "dave@a.test", JANE_ROW);
        harness::ok(&a.cli(&[
            "consent",
            "opt-out",
            "--patient-id",
            "P77",
            "--authority",
            "CAROLPRAC",
        ]));
        let first = a04("O1", "VO1", JANE, "20261122055900");
        assert_eq!(ack_code(&a, &first).await.0, "AA", "{e}");
        drained(&a).await;
        assert!(alerts(&a).await.is_empty(), "{e}: opted out");

        harness::ok(&a.cli(&["address", "disable", "carol@a.test"]));
        let second = a04("O2", "VO2", JANE, "20261123080000");
        assert_eq!(ack_code(&a, &second).await.0, "AA", "{e}");
        drained(&a).await;
        assert!(
            alerts(&a).await.is_empty(),
            "{e}: still opted out with carol disabled"
        );
        // Removed, her practice's entries still say who Jane is.
        harness::ok(&a.cli(&["address", "remove", "carol@a.test"]));
        let third = a04("O3", "VO3", JANE, "20261124080000");
        assert_eq!(ack_code(&a, &third).await.0, "AA", "{e}");
        drained(&a).await;
        assert!(
            alerts(&a).await.is_empty(),
            "{e}: still opted out with carol removed"
        );
        a.stop().await;
    }
}

/// A disabled roster's match does not spare the patient-index lookup that
/// completes an enabled one's: a message without a postal code matches
/// carol's (disabled) entry by the MRN, and dave's only once the index adds
/// the southern hospital's number he knows her by. A removed address's
/// roster ends with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disabled_match_still_lets_the_index_complete_another_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        a.address("dave").await;
        a.address("erin").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        roster(&a, "carol@a.test", JANE_ROW);
        roster(
            &a,
            "dave@a.test",
            "S9,SOUTH,Doe,Jane,1980-01-02,F,06101,,,\n",
        );
        roster(&a, "erin@a.test", JANE_ROW);
        harness::ok(&a.cli(&["address", "disable", "carol@a.test"]));
        // Erin's address goes (it holds no mail): its roster leaves the name.
        harness::ok(&a.cli(&["address", "remove", "erin@a.test"]));
        let mut conn = a.hisp.conn().await.expect("conn");
        let current = hisp::store::notify::entries(
            &mut conn,
            a.hisp.store.sealer(),
            Some("erin@a.test"),
            a.hisp.now(),
        )
        .await
        .expect("entries");
        drop(conn);
        assert!(
            current.is_empty(),
            "{e}: the removed address's roster left the name"
        );
        // The hospital's registration indexes Jane under both numbers.
        let both = "PID|1||MRN1^^^NORTH^MR~S9^^^SOUTH^MR||Doe^Jane||19800102|F|||1 Main St^^Hartford^CT^06101";
        let a28 = String::from_utf8(adt("X1", "A28", "NORTHHOSP", "O", "", both))
            .expect("utf8")
            .into_bytes();
        assert_eq!(ack_code(&a, &a28).await.0, "AA", "{e}");
        drained(&a).await;
        // The ED visit names her by the MRN alone, with no postal code.
        let bare = "PID|1||MRN1^^^NORTH^MR||Doe^Jane||19800102|F";
        let msg = a04("F1", "VF1", bare, "20261122055900");
        assert_eq!(ack_code(&a, &msg).await.0, "AA", "{e}");
        drained(&a).await;
        assert_eq!(alerted_visits(&a, "dave@a.test").await, ["VF1"], "{e}");
        assert!(alerted_visits(&a, "carol@a.test").await.is_empty(), "{e}");
        assert!(alerted_visits(&a, "erin@a.test").await.is_empty(), "{e}");
        a.stop().await;
    }
}

/// A removed address leaves nothing to a name issued again: its roster, its
/// alerts (sent, in the worklist; unsent, for the digest), its delivery mode
/// and its API keys' scope leave with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_name_issued_again_inherits_nothing_of_the_removed_address_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        let dave = a.address("dave").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        roster(&a, "dave@a.test", JANE_ROW);
        let first = a04("N1", "VN1", JANE, "20261122055900");
        assert_eq!(ack_code(&a, &first).await.0, "AA", "{e}");
        drained(&a).await;
        let inbox = wait_for(60, "dave's alert", || async {
            let l = a.hisp.mailbox_list(&dave, INBOX).await.expect("list");
            (!l.is_empty()).then_some(l)
        })
        .await;
        crate::notify_features::delivery(&a, "dave@a.test", "digest");
        let second = a04("N2", "VN2", JANE, "20261123055900");
        assert_eq!(ack_code(&a, &second).await.0, "AA", "{e}");
        drained(&a).await;
        let filed = alerts(&a).await;
        assert_eq!(filed.len(), 2, "{e}");
        assert_eq!(
            filed.iter().filter(|x| x.message_id.is_none()).count(),
            1,
            "{e}: one for the digest"
        );
        // An API key for dave alone, and one for dave and another address.
        let mut conn = a.hisp.conn().await.expect("conn");
        let only = hisp::store::web::insert_api_key(
            &mut conn,
            "hash-only",
            "dave's",
            Role::CareManager,
            &["dave@a.test".to_string()],
            "test",
            a.hisp.now(),
        )
        .await
        .expect("key");
        let shared = hisp::store::web::insert_api_key(
            &mut conn,
            "hash-shared",
            "shared",
            Role::CareManager,
            &["dave@a.test".to_string(), "erin@a.test".to_string()],
            "test",
            a.hisp.now(),
        )
        .await
        .expect("key");
        // Dave's practice downloaded and deleted its mail.
        let row = hisp::store::addresses::get(&mut conn, &dave)
            .await
            .expect("row");
        for m in &inbox {
            let id = m.id;
            hisp::store::mailbox::delete(&mut conn, row.id, id)
                .await
                .expect("delete");
        }
        drop(conn);
        harness::ok(&a.cli(&["address", "remove", "dave@a.test"]));

        // The name is issued again, to another practice.
        a.address("dave").await;
        let mut conn = a.hisp.conn().await.expect("conn");
        let entries = hisp::store::notify::entries(
            &mut conn,
            a.hisp.store.sealer(),
            Some("dave@a.test"),
            a.hisp.now(),
        )
        .await
        .expect("entries");
        assert!(entries.is_empty(), "{e}: no roster");
        let page = hisp::store::notify::alerts_page_of(
            &mut conn,
            Some(&["dave@a.test".to_string()]),
            i64::MAX,
            100,
        )
        .await
        .expect("alerts");
        assert!(page.is_empty(), "{e}: no alert in the worklist");
        let kept = alerts(&a).await;
        assert_eq!(
            kept.len(),
            1,
            "{e}: the sent alert kept, the unsent withdrawn"
        );
        assert!(kept[0].subscriber.starts_with("removed:"), "{e}");
        assert!(
            hisp::store::notify::digest_subscribers(&mut conn)
                .await
                .expect("subs")
                .is_empty(),
            "{e}: no delivery mode"
        );
        let only = hisp::store::web::api_key(&mut conn, only.id)
            .await
            .expect("key");
        assert!(only.revoked_at.is_some(), "{e}: dave's own key revoked");
        let shared = hisp::store::web::api_key(&mut conn, shared.id)
            .await
            .expect("key");
        assert_eq!(shared.addresses, ["erin@a.test"], "{e}: narrowed");
        assert!(shared.revoked_at.is_none(), "{e}");
        drop(conn);
        // The next message about Jane alerts no one.
        let third = a04("N3", "VN3", JANE, "20261124055900");
        assert_eq!(ack_code(&a, &third).await.0, "AA", "{e}");
        drained(&a).await;
        assert_eq!(alerts(&a).await.len(), 1, "{e}");
        a.stop().await;
    }
}

/// A disabled practice's entry withholds, never releases, and does not
/// outlast a later decision: an opt-out recorded under the practice's own
/// number, then an opt-in recorded under the hospital's, is the opt-in, as
/// it is while the practice is enabled. Before, the disabled entry's
/// opt-out was forced over the newer opt-in, and dave heard nothing. So is
/// an opt-out and then an opt-in both under the practice's number: the
/// opt-in cannot release, but it ends the opt-out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_later_opt_in_outlasts_an_opt_out_under_a_disabled_practices_number_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        a.address("dave").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        roster(
            &a,
            "carol@a.test",
            "P77,CAROLPRAC,Doe,Jane,1980-01-02,F,06101,,,\nP88,CAROLPRAC,Poe,Ann,1990-05-06,F,06101,,,\n",
        );
        roster(
            &a,
            "dave@a.test",
            &format!("{JANE_ROW}MRN3,NORTH,Poe,Ann,1990-05-06,F,06101,,,\n"),
        );
        let decide = |decision, id, authority| consent(&a, decision, id, authority);
        decide("opt-out", "P77", "CAROLPRAC");
        decide("opt-in", "MRN1", "NORTH");
        decide("opt-out", "P88", "CAROLPRAC");
        decide("opt-in", "P88", "CAROLPRAC");
        harness::ok(&a.cli(&["address", "disable", "carol@a.test"]));
        let ann = "PID|1||MRN3^^^NORTH^MR||Poe^Ann||19900506|F|||1 Main St^^Hartford^CT^06101";
        for msg in [
            a04("L1", "VL1", JANE, "20261122055900"),
            a04("L2", "VL2", ann, "20261122065900"),
        ] {
            assert_eq!(ack_code(&a, &msg).await.0, "AA", "{e}");
        }
        drained(&a).await;
        let filed = alerts(&a).await;
        assert_eq!(filed.len(), 2, "{e}: {filed:?}");
        assert!(filed.iter().all(|f| f.subscriber == "dave@a.test"), "{e}");
        a.stop().await;
    }
}
