//! Several nodes on one PostgreSQL: two `hisp serve` processes share b.test's
//! queues and deliver 500 messages to a.test with none lost and none twice
//! (leases claimed with FOR UPDATE SKIP LOCKED).

use std::collections::HashSet;
use std::time::Duration;

use hisp::clock;
use hisp::mailbox::INBOX;
use hisp::ops::Hisp;
use hisp::smtp::Gateway;
use hisp::smtp::submit::Submission;

use super::{Node, message, wait_for};
use crate::harness;

const MESSAGES: usize = 500;

fn free_port() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_postgres_deliver_500_messages_exactly_once() {
    let Ok(admin) = std::env::var("HISP_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set HISP_TEST_POSTGRES_URL"
        );
        eprintln!("HISP_TEST_POSTGRES_URL is not set: skipped the two-node PostgreSQL test");
        return;
    };
    let url = harness::fresh_pg_database(&admin).await;
    let mut a = Node::new("a.test", false, None).await;
    let mut b = Node::new("b.test", true, Some(url)).await;
    a.trust(&b).await;
    b.trust(&a).await;
    a.peer_with(&b, true);
    b.peer_with(&a, true);
    let alice = a.address("alice").await;
    let bob = b.address("bob").await;
    a.start().await;

    let mut node1 = b.spawn_process();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hisp"));
    cmd.current_dir(b.dir.path())
        .arg("--config")
        .arg(&b.config_path)
        .arg("serve")
        .env_remove("HISP_LOG")
        .env("HISP_HTTP_LISTEN", free_port().to_string())
        .env("HISP_DNS_LISTEN", "127.0.0.1:0")
        .env("HISP_SMTP_MX_LISTEN", free_port().to_string())
        .env("HISP_SMTP_SUBMISSION_LISTEN", free_port().to_string())
        .env("HISP_MLLP_LISTEN", "127.0.0.1:0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in &b.vars {
        cmd.env(k, v);
    }
    let mut node2 = cmd.spawn().expect("second node");

    let hisp = Hisp::open(b.config(), clock::system())
        .await
        .expect("open b");
    let gw = Gateway::new(hisp);
    let mut ids = HashSet::new();
    let t0 = std::time::Instant::now();
    for n in 0..MESSAGES {
        let id = format!("<cluster-{n}@b.test>");
        let m = message(&bob, &[&alice], &format!("Cluster {n}"), &id);
        let sub = Submission {
            mail_from: &bob,
            rcpts: std::slice::from_ref(&alice),
            message: &m,
            actor: "test",
            sent_copy: true,
            final_delivery: hisp::smtp::submit::FinalDelivery::Always,
        };
        let done = gw.submit(&sub).await.expect("submit");
        assert_eq!(done.queued.len(), 1, "{done:?}");
        ids.insert(id);
    }

    eprintln!("submitted {MESSAGES} in {:?}", t0.elapsed());
    let inbox = wait_for(600, "500 messages at a.test", || async {
        let l = a.hisp.mailbox_list(&alice, INBOX).await.expect("list");
        (l.len() >= MESSAGES).then_some(l)
    })
    .await;
    eprintln!("delivered {MESSAGES} in {:?}", t0.elapsed());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let inbox_now = a.hisp.mailbox_list(&alice, INBOX).await.expect("list");
    assert_eq!(inbox_now.len(), inbox.len(), "nothing more arrived");
    let got: Vec<String> = inbox_now
        .iter()
        .filter_map(|m| m.message_id.clone())
        .collect();
    let unique: HashSet<String> = got.iter().cloned().collect();
    assert_eq!(got.len(), MESSAGES, "none delivered twice");
    assert_eq!(unique, ids, "none lost");

    node1.kill().expect("kill");
    node2.kill().expect("kill");
    let _ = node1.wait();
    let _ = node2.wait();
    a.stop().await;
}
