//! Crash safety: a `hisp serve` process killed with SIGKILL right after its MX
//! said 250 loses nothing; restarted, it delivers the message exactly once.

use std::collections::HashMap;
use std::time::Duration;

use hisp::direct::outgoing::Outcome;
use hisp::ops::agent::StaticCerts;

use super::{Node, message, wait_for};
use crate::harness;
use crate::smtp::listeners::Client;

/// How many messages `addr`'s inbox holds, read by the real binary.
fn inbox_ids(node: &Node, addr: &str) -> Vec<String> {
    let out = harness::ok(&node.cli(&["mailbox", "list", addr, "--json"]));
    let list: serde_json::Value = serde_json::from_str(&out).expect("json");
    list.as_array()
        .expect("array")
        .iter()
        .map(|m| m["message_id"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_after_250_loses_nothing_and_delivers_once() {
    let mut a = Node::new("a.test", false, None).await;
    let mut b = Node::new("b.test", true, None).await;
    a.trust(&b).await;
    b.trust(&a).await;
    b.peer_with(&a, true);
    let alice = a.address("alice").await;
    let bob = b.address("bob").await;
    let bob_certs = b
        .hisp
        .local_certs(&bob)
        .await
        .expect("certs")
        .expect("local");
    a.start().await;

    let mut child = b.spawn_process();
    // A Direct message for bob, made by A's agent (B serves the CRL it checks).
    let id = "<crash-1@a.test>";
    let plain = message(&alice, &[&bob], "Crash", id);
    let certs = StaticCerts(HashMap::from([(bob.clone(), bob_certs)]));
    let outcomes = a
        .hisp
        .outgoing(&plain, &alice, std::slice::from_ref(&bob), &certs)
        .await
        .expect("outgoing");
    let Some(Outcome::Encrypted {
        message: direct, ..
    }) = outcomes.into_iter().next()
    else {
        panic!("not encrypted");
    };
    let mut c = Client::connect(b.mx).await;
    c.expect(220).await;
    c.cmd("EHLO a.test", 250).await;
    c.cmd("MAIL FROM:<alice@a.test>", 250).await;
    c.cmd("RCPT TO:<bob@b.test>", 250).await;
    c.cmd("DATA", 354).await;
    c.send_data(&direct).await;
    c.expect(250).await;
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    let mut child = b.spawn_process();
    let got = wait_for(60, "the message in bob's inbox", || async {
        let ids = inbox_ids(&b, "bob@b.test");
        (!ids.is_empty()).then_some(ids)
    })
    .await;
    assert_eq!(got, [id]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(inbox_ids(&b, "bob@b.test"), [id], "delivered exactly once");
    child.kill().expect("kill");
    child.wait().expect("reaped");
    a.stop().await;
}
