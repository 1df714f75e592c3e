//! What goes wrong between HISPs, and what each sender learns: an untrusted
//! sender is quarantined with no MDN; a recipient with no certificate or an
//! unknown mailbox yields a DSN at once; a peer whose MX is down gets the
//! message after retries; a peer that never answers with MDNs makes the
//! sender's HISP send exactly one 5.4.71 DSN.

use std::time::Duration;

use hisp::direct::DirectAddress;
use hisp::direct::Domain;
use hisp::direct::dsn::{DsnRecipient, DsnRequest, build_dsn, parse_dsn};
use hisp::mailbox::INBOX;
use hisp::store::queue;

use super::listeners::Client;
use super::{Node, final_outcome, message, pair, submit, wait_for};

/// Point `node`'s delivery for `domain` at a port where nothing listens.
fn route_nowhere(node: &mut Node, domain: &str) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = closed.local_addr().expect("addr");
    drop(closed);
    node.set(
        "HISP_DELIVERY_ROUTES",
        format!("{{ \"{domain}\" = \"{dead}\" }}"),
    );
}

/// The DSNs in `addr`'s inbox, parsed.
async fn dsns(node: &Node, addr: &DirectAddress) -> Vec<hisp::direct::dsn::Dsn> {
    let mut out = Vec::new();
    for m in node.hisp.mailbox_list(addr, INBOX).await.expect("list") {
        let (_, raw) = node
            .hisp
            .mailbox_show(addr, m.id, "test")
            .await
            .expect("show");
        if let Ok(d) = parse_dsn(&raw) {
            out.push(d);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn untrusted_sender_is_quarantined_without_mdn_and_the_sender_gets_one_timeout_dsn() {
    let mut a = Node::new("a.test", false, None).await;
    let mut b = Node::new("b.test", true, None).await;
    a.trust(&b).await;
    // B trusts A's CA only for what B sends: A's signatures are not trusted at B.
    let a_ca = a.hisp.ca_cert().await.expect("ca");
    b.hisp
        .anchor_add(
            &Domain::parse("b.test").expect("d"),
            &a_ca,
            false,
            true,
            "test",
        )
        .await
        .expect("anchor");
    a.peer_with(&b, false);
    b.peer_with(&a, true);
    a.set("HISP_DELIVERY_MDN_TIMEOUT_SECS", "3");
    let alice = a.address("alice").await;
    let bob = b.address("bob").await;
    a.start().await;
    b.start().await;

    let id = "<untrusted-1@a.test>";
    submit(&a, &alice, &[&bob], &message(&alice, &[&bob], "Labs", id)).await;
    let held = wait_for(60, "the quarantine at B", || async {
        let mut conn = b.hisp.conn().await.expect("conn");
        let q = queue::quarantined(&mut conn).await.expect("quarantine");
        (!q.is_empty()).then_some(q)
    })
    .await;
    assert_eq!(held.len(), 1);
    assert!(held[0].reason.contains("bob@b.test"), "{}", held[0].reason);
    assert!(
        held[0].reason.contains("anchor"),
        "names the trust failure: {}",
        held[0].reason
    );
    assert!(
        b.hisp
            .mailbox_list(&bob, INBOX)
            .await
            .expect("inbox")
            .is_empty(),
        "never delivered"
    );

    let rows = final_outcome(&a, id, 60).await;
    assert_eq!(
        rows[0].final_outcome.as_deref(),
        Some("expired"),
        "{:?}",
        rows[0]
    );
    assert!(
        rows[0].processed_at.is_none(),
        "no processed MDN for a quarantined message"
    );
    assert!(
        rows[0]
            .detail
            .as_deref()
            .is_some_and(|d| d.starts_with("5.4.71")),
        "{:?}",
        rows[0]
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let got = dsns(&a, &alice).await;
    assert_eq!(got.len(), 1, "exactly one failure DSN");
    assert_eq!(got[0].recipients[0].status, "5.4.71");
    assert_eq!(got[0].original_message_id.as_deref(), Some(id));
    let shown = super::harness_ok(&a.cli(&["quarantine", "list"]));
    assert!(
        shown.contains("No quarantined") || shown.trim().lines().count() == 1,
        "A holds nothing: {shown}"
    );
    let shown_b = super::harness_ok(&b.cli(&["quarantine", "list"]));
    assert!(shown_b.contains("alice@a.test"), "{shown_b}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_recipients_get_the_sender_a_dsn_at_once() {
    let (mut a, mut b) = pair().await;
    let alice = a.address("alice").await;
    b.address("bob").await;
    a.start().await;
    b.start().await;
    let nocert = DirectAddress::parse("jo@nowhere.test").expect("addr");
    let unknown = DirectAddress::parse("nobody@b.test").expect("addr");
    let id = "<refused-1@a.test>";
    submit(
        &a,
        &alice,
        &[&nocert, &unknown],
        &message(&alice, &[&nocert, &unknown], "Hello", id),
    )
    .await;
    let rows = final_outcome(&a, id, 60).await;
    let by = |addr: &DirectAddress| {
        rows.iter()
            .find(|r| r.recipient == addr.to_string())
            .cloned()
            .expect("tracked")
    };
    let r = by(&nocert);
    assert_eq!(r.final_outcome.as_deref(), Some("failed"));
    assert!(
        r.detail.as_deref().is_some_and(|d| d.starts_with("5.7.31")),
        "{r:?}"
    );
    // b.test publishes its organization-bound certificate, so the copy goes out
    // and B's MX refuses the unknown mailbox.
    let r = by(&unknown);
    assert_eq!(r.final_outcome.as_deref(), Some("failed"), "{r:?}");
    let got = wait_for(30, "two DSNs", || async {
        let d = dsns(&a, &alice).await;
        (d.len() == 2).then_some(d)
    })
    .await;
    let mut statuses: Vec<String> = got.iter().map(|d| d.recipients[0].status.clone()).collect();
    statuses.sort();
    assert_eq!(statuses, ["5.1.1", "5.7.31"]);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_whose_mx_is_down_gets_the_message_after_retries() {
    let (mut a, mut b) = pair().await;
    let alice = a.address("alice").await;
    let bob = b.address("bob").await;
    a.start().await;
    b.start_without_mx().await;
    let id = "<retry-1@a.test>";
    submit(&a, &alice, &[&bob], &message(&alice, &[&bob], "Retry", id)).await;
    wait_for(30, "a retry event", || async {
        let rows = a.track(id).await;
        (rows.first().map(|r| r.state.as_str()) == Some("queued")).then_some(())?;
        let mut conn = a.hisp.conn().await.expect("conn");
        let ev = hisp::store::tracking::events(&mut conn, rows[0].id)
            .await
            .expect("events");
        ev.iter().any(|e| e.event == "retry").then_some(())
    })
    .await;
    b.stop().await;
    b.restart().await;
    let rows = final_outcome(&a, id, 90).await;
    assert_eq!(
        rows[0].final_outcome.as_deref(),
        Some("delivered"),
        "{:?}",
        rows[0]
    );
    assert_eq!(
        b.hisp.mailbox_list(&bob, INBOX).await.expect("inbox").len(),
        1
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_that_never_answers_with_mdns_yields_exactly_one_dsn() {
    let (mut a, mut b) = pair().await;
    // B's MDNs go to a port where nothing listens: they never arrive.
    route_nowhere(&mut b, "a.test");
    a.set("HISP_DELIVERY_MDN_TIMEOUT_SECS", "3");
    let alice = a.address("alice").await;
    let bob = b.address("bob").await;
    a.start().await;
    b.start().await;
    let id = "<silent-1@a.test>";
    submit(&a, &alice, &[&bob], &message(&alice, &[&bob], "Silent", id)).await;
    let rows = final_outcome(&a, id, 60).await;
    assert_eq!(
        rows[0].final_outcome.as_deref(),
        Some("expired"),
        "{:?}",
        rows[0]
    );
    assert_eq!(
        b.hisp.mailbox_list(&bob, INBOX).await.expect("inbox").len(),
        1,
        "B delivered"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let got = dsns(&a, &alice).await;
    assert_eq!(got.len(), 1, "exactly one DSN");
    assert_eq!(got[0].recipients[0].status, "5.4.71");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delivery_that_never_succeeds_expires_with_a_5_4_7_dsn() {
    let (mut a, mut b) = pair().await;
    route_nowhere(&mut a, "b.test");
    a.set("HISP_DELIVERY_GIVE_UP_AFTER_SECS", "3");
    let alice = a.address("alice").await;
    let bob = b.address("bob").await;
    a.start().await;
    b.start().await;
    let id = "<expire-1@a.test>";
    submit(&a, &alice, &[&bob], &message(&alice, &[&bob], "Expire", id)).await;
    let rows = final_outcome(&a, id, 60).await;
    assert_eq!(
        rows[0].final_outcome.as_deref(),
        Some("expired"),
        "{:?}",
        rows[0]
    );
    assert!(rows[0].sent_at.is_none());
    let got = wait_for(30, "the DSN", || async {
        let d = dsns(&a, &alice).await;
        (!d.is_empty()).then_some(d)
    })
    .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].recipients[0].status, "5.4.7");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plain_dsn_fails_only_recipients_handed_to_smtp() {
    let (mut a, mut b) = pair().await;
    // B's MDNs never arrive, so only the DSN decides the outcome.
    route_nowhere(&mut b, "a.test");
    let alice = a.address("alice").await;
    let carol = a.address("carol").await;
    let bob = b.address("bob").await;
    a.start().await;
    b.start().await;
    let id = "<plain-dsn-1@a.test>";
    let m = message(&alice, &[&bob, &carol], "Bounce", id);
    submit(&a, &alice, &[&bob, &carol], &m).await;
    wait_for(60, "both recipients sent", || async {
        let rows = a.track(id).await;
        (rows.len() == 2 && rows.iter().all(|r| r.sent_at.is_some())).then_some(())
    })
    .await;
    // A mail server's DSN (null sender, not S/MIME) naming both recipients.
    let failed = |r: &DirectAddress| DsnRecipient {
        address: r.to_string(),
        status: "5.2.2".into(),
        action: "failed".into(),
        diagnostic: Some("mailbox full".into()),
    };
    let dsn = build_dsn(&DsnRequest {
        reporting_host: "relay.example.net",
        from: "mailer-daemon@relay.example.net",
        to: &alice,
        original_message_id: Some(id),
        original_headers: None,
        original_subject: Some("Bounce"),
        recipients: vec![failed(&bob), failed(&carol)],
        message_id: "<dsn-1@relay.example.net>".into(),
        date: 0,
    });
    let mut c = Client::connect(a.mx).await;
    c.expect(220).await;
    c.cmd("EHLO relay.example.net", 250).await;
    c.cmd("MAIL FROM:<>", 250).await;
    c.cmd("RCPT TO:<alice@a.test>", 250).await;
    c.cmd("DATA", 354).await;
    c.send_data(&dsn).await;
    c.expect(250).await;
    let rows = wait_for(60, "bob failed by the DSN", || async {
        let rows = a.track(id).await;
        rows.iter()
            .any(|r| r.recipient == "bob@b.test" && r.final_outcome.is_some())
            .then_some(rows)
    })
    .await;
    let by = |who: &str| {
        rows.iter()
            .find(|r| r.recipient == who)
            .cloned()
            .expect("row")
    };
    let bob_row = by("bob@b.test");
    assert_eq!(bob_row.final_outcome.as_deref(), Some("failed"));
    assert!(
        bob_row
            .detail
            .as_deref()
            .is_some_and(|d| d.starts_with("5.2.2")),
        "{bob_row:?}"
    );
    // carol is local: no mail server between us speaks for her.
    assert_ne!(by("carol@a.test").final_outcome.as_deref(), Some("failed"));
    let got = wait_for(30, "our DSN for bob", || async {
        let d = dsns(&a, &alice).await;
        (!d.is_empty()).then_some(d)
    })
    .await;
    assert_eq!(got.len(), 1, "one DSN, for bob only");
    assert_eq!(got[0].recipients[0].status, "5.2.2");
    let mta = got[0].reporting_mta.clone().unwrap_or_default();
    assert!(
        !mta.contains("relay.example.net"),
        "the sender gets a DSN we wrote: {mta}"
    );
    a.stop().await;
    b.stop().await;
}
