//! DATA: pipelining, dot-unstuffing, the end marker, the size cap, and a
//! peer that disappears mid-message.

use super::super::backend::Ret;
use super::Harness;

const ENVELOPE: &str = "MAIL FROM:<a@remote.example>\r\nRCPT TO:<b@direct.example>\r\n";

#[tokio::test]
async fn pipelined_transaction_answers_in_order() {
    let mut h = Harness::mx().await;
    let c = &mut h.client;
    c.send(concat!(
        "MAIL FROM:<a@remote.example> RET=HDRS ENVID=e1\r\n",
        "RCPT TO:<b@direct.example> NOTIFY=FAILURE\r\n",
        "RCPT TO:<c@elsewhere.example>\r\n",
        "RCPT TO:<d@direct.example>\r\n",
        "DATA\r\n",
    ))
    .await;
    for prefix in ["250 2.1.0", "250 2.1.5", "550 5.7.1", "250 2.1.5", "354 "] {
        c.expect(prefix).await;
    }
    // Content and the next commands pipelined in one write after 354.
    c.send("Subject: hi\r\n\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n")
        .await;
    c.expect("250 2.0.0 Ok: queued as Q1").await;
    c.expect("250 2.0.0").await;
    c.expect("221 2.0.0").await;
    c.expect_closed().await;
    let messages = h.backend.messages();
    let (envelope, message) = messages.first().expect("one message");
    assert_eq!(message, b"Subject: hi\r\n\r\nbody\r\n");
    assert_eq!(envelope.mail_from, "a@remote.example");
    assert_eq!(envelope.rcpts, ["b@direct.example", "d@direct.example"]);
    assert_eq!(envelope.notify, [Some("FAILURE".to_string()), None]);
    assert_eq!(envelope.ret, Some(Ret::Hdrs));
    assert_eq!(envelope.envid.as_deref(), Some("e1"));
}

#[tokio::test]
async fn exact_354_text() {
    let mut h = Harness::mx().await;
    h.client.send(ENVELOPE).await;
    h.client.reply().await;
    h.client.reply().await;
    let reply = h.client.command("DATA", "354").await;
    assert_eq!(reply, "354 Start mail input; end with <CRLF>.<CRLF>");
}

#[tokio::test]
async fn dot_unstuffing_and_empty_lines() {
    let mut h = Harness::mx().await;
    let c = &mut h.client;
    c.send(format!("{ENVELOPE}DATA\r\n")).await;
    for prefix in ["250", "250", "354"] {
        c.expect(prefix).await;
    }
    c.send("..\r\n...x\r\n.y\r\n\r\n.\r\n").await;
    c.expect("250 2.0.0").await;
    let messages = h.backend.messages();
    assert_eq!(
        messages.first().map(|m| m.1.as_slice()),
        Some(&b".\r\n..x\r\ny\r\n\r\n"[..])
    );
}

#[tokio::test]
async fn lf_dot_lf_does_not_end_data() {
    let mut h = Harness::mx().await;
    let c = &mut h.client;
    c.send(format!("{ENVELOPE}DATA\r\n")).await;
    for prefix in ["250", "250", "354"] {
        c.expect(prefix).await;
    }
    let smuggle = "a\n.\nMAIL FROM:<evil@x.example>\r\nb\r.\rRSET\r\nc\n.\r\nNOOP\r\n.\r\n";
    c.send(smuggle).await;
    c.expect("250 2.0.0 Ok: queued as Q1").await;
    c.command("NOOP", "250 2.0.0").await;
    let messages = h.backend.messages();
    let want = "a\n.\nMAIL FROM:<evil@x.example>\r\nb\r.\rRSET\r\nc\n.\r\nNOOP\r\n";
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages.first().map(|m| m.1.as_slice()),
        Some(want.as_bytes())
    );
}

#[tokio::test]
async fn oversize_message_gets_one_552_and_session_survives() {
    let mut h = Harness::mx().await;
    let c = &mut h.client;
    c.send(format!("{ENVELOPE}DATA\r\n")).await;
    for prefix in ["250", "250", "354"] {
        c.expect(prefix).await;
    }
    let line = format!("{}\r\n", "z".repeat(98));
    for _ in 0..100 {
        c.send(&line).await;
    }
    c.send(".\r\nNOOP\r\n").await;
    c.expect("552 5.3.4").await;
    c.expect("250 2.0.0").await;
    assert!(h.backend.messages().is_empty());
    // The transaction was reset; a new one works.
    c.send(format!("{ENVELOPE}DATA\r\nsmall\r\n.\r\n")).await;
    for prefix in ["250", "250", "354", "250 2.0.0 Ok: queued as Q1"] {
        c.expect(prefix).await;
    }
}

#[tokio::test]
async fn peer_closing_mid_data_commits_nothing() {
    let mut h = Harness::mx().await;
    h.client
        .send(format!("{ENVELOPE}DATA\r\npartial message\r\n"))
        .await;
    for prefix in ["250", "250", "354"] {
        h.client.expect(prefix).await;
    }
    let backend = h.backend.clone();
    drop(h.client);
    assert!(h.task.await.expect("join").is_ok());
    assert!(backend.messages().is_empty());
}
