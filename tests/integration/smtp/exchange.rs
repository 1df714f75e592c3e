//! Two HISPs exchanging Direct mail both ways: submission over STARTTLS and
//! AUTH at A, MX lookup and certificate discovery in B's DNS, decryption and
//! trust at B, processed and dispatched MDNs back to A; then B to A through
//! `hisp send` and a static route.

use super::{final_outcome, message, pair, submit, wait_for};
use crate::harness;
use hisp::mailbox::INBOX;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hisps_exchange_direct_mail_both_ways() {
    let (mut a, mut b) = pair().await;
    let alice = a.address("alice").await;
    let bob = b.address("bob").await;
    a.start().await;
    b.start().await;

    // A → B through submission.
    let id = "<exchange-1@a.test>";
    submit(
        &a,
        &alice,
        &[&bob],
        &message(&alice, &[&bob], "Referral", id),
    )
    .await;
    let inbox = wait_for(60, "the message in bob's inbox", || async {
        let l = b.hisp.mailbox_list(&bob, INBOX).await.expect("list");
        (!l.is_empty()).then_some(l)
    })
    .await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].subject, "Referral");
    assert_eq!(inbox[0].from, alice.to_string());
    let (shown, raw) = b
        .hisp
        .mailbox_show(&bob, inbox[0].id, "test")
        .await
        .expect("show");
    let text = shown.text.expect("text body");
    assert!(text.contains("Hello from alice@a.test."), "{text}");
    assert!(
        text.contains(".leading dot line"),
        "dot-stuffing undone: {text}"
    );
    assert!(
        !String::from_utf8_lossy(&raw).contains("pkcs7-mime"),
        "stored decrypted"
    );

    let rows = final_outcome(&a, id, 60).await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.final_outcome.as_deref(), Some("delivered"), "{r:?}");
    assert!(
        r.wants_dispatched,
        "hisp asked for timely-and-reliable delivery"
    );
    assert!(
        r.sent_at.is_some() && r.processed_at.is_some() && r.dispatched_at.is_some(),
        "{r:?}"
    );
    let sent = a
        .hisp
        .mailbox_list(&alice, hisp::mailbox::SENT)
        .await
        .expect("sent");
    assert_eq!(sent.len(), 1, "a copy in alice's sent folder");
    assert!(
        a.hisp
            .mailbox_list(&alice, INBOX)
            .await
            .expect("inbox")
            .is_empty(),
        "processed and dispatched MDNs are recorded, not forwarded (no Disposition-Notification-To)"
    );
    let tracked = harness::ok(&a.cli(&["track", id, "--json"]));
    let json: serde_json::Value = serde_json::from_str(&tracked).expect("json");
    assert_eq!(json[0]["final"], "delivered");
    assert!(json[0]["processed_at"].is_string() && json[0]["dispatched_at"].is_string());

    // B → A through `hisp send` (queued by the CLI, delivered by B's server over the route).
    let body = b.dir.path().join("body.txt");
    std::fs::write(&body, "Thanks, seen today.\n").expect("body");
    let out = harness::ok(&b.cli(&[
        "send",
        "--from",
        "bob@b.test",
        "--to",
        "alice@a.test",
        "--subject",
        "Re: Referral",
        "--body-file",
        body.to_str().expect("path"),
    ]));
    let back_id = out.lines().next().expect("message id").trim().to_string();
    assert!(
        back_id.starts_with('<') && back_id.ends_with("@b.test>"),
        "{back_id}"
    );
    let rows = final_outcome(&b, &back_id, 60).await;
    assert_eq!(
        rows[0].final_outcome.as_deref(),
        Some("delivered"),
        "{:?}",
        rows[0]
    );
    let listed = harness::ok(&a.cli(&["mailbox", "list", "alice@a.test", "--json"]));
    let list: serde_json::Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(list[0]["subject"], "Re: Referral");
    assert_eq!(list[0]["read"], false);
    let shown = harness::ok(&a.cli(&[
        "mailbox",
        "show",
        "alice@a.test",
        &list[0]["id"].to_string(),
    ]));
    assert!(shown.contains("Thanks, seen today."), "{shown}");

    // A → A: a local recipient goes through the same agent checks, no network.
    let carol = a.address("carol").await;
    let local_id = "<local-1@a.test>";
    submit(
        &a,
        &alice,
        &[&carol],
        &message(&alice, &[&carol], "Local", local_id),
    )
    .await;
    let rows = final_outcome(&a, local_id, 60).await;
    assert_eq!(
        rows[0].final_outcome.as_deref(),
        Some("delivered"),
        "{:?}",
        rows[0]
    );
    let inbox = a.hisp.mailbox_list(&carol, INBOX).await.expect("carol");
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].message_id.as_deref(), Some(local_id));

    // A submission that asks for final delivery only when a recipient is
    // remote (an encounter alert's) asks for it of B, and its tracking
    // waits for B's dispatched MDN; to carol here it asks for nothing.
    let gw = hisp::smtp::Gateway::new(a.hisp.clone());
    for (to, id, remote) in [
        (&bob, "<when-remote-1@a.test>", true),
        (&carol, "<when-remote-2@a.test>", false),
    ] {
        let sub = hisp::smtp::submit::Submission {
            mail_from: &alice,
            rcpts: std::slice::from_ref(to),
            message: &message(&alice, &[to], "Alert-like", id),
            actor: "test",
            sent_copy: false,
            final_delivery: hisp::smtp::submit::FinalDelivery::WhenRemote,
        };
        gw.submit(&sub).await.expect("submit");
        let rows = final_outcome(&a, id, 60).await;
        let r = &rows[0];
        assert_eq!(r.final_outcome.as_deref(), Some("delivered"), "{r:?}");
        assert_eq!(r.wants_dispatched, remote, "{r:?}");
        assert_eq!(r.dispatched_at.is_some(), remote, "{r:?}");
        assert!(r.processed_at.is_some(), "{r:?}");
    }

    let (status, metrics) = harness::http_get(a.http, "/metrics").await;
    assert_eq!(status, 200);
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains("hisp_queue_rows{queue=\"outbound_queue\",state=\"sent\"}"),
        "{metrics}"
    );
    a.stop().await;
    b.stop().await;
}
