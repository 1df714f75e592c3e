//! Greeting, EHLO, sequencing (RFC 5321 §4.1.4), the one-line commands,
//! error limits and timeouts.

use std::time::Duration;

use super::super::config::Mode;
use super::super::error::SessionError;
use super::super::testing::test_config;
use super::Harness;

#[tokio::test]
async fn greeting_and_ehlo_lines() {
    let mut h = Harness::start(test_config(Mode::Mx)).await;
    let ehlo = h.client.command("EHLO client.test", "250-").await;
    let want = [
        "250-mx.test",
        "250-PIPELINING",
        "250-SIZE 4096",
        "250-8BITMIME",
        "250-ENHANCEDSTATUSCODES",
        "250 DSN",
    ];
    assert_eq!(ehlo, want.join("\n"));
    h.client.command("QUIT", "221 2.0.0").await;
    h.client.expect_closed().await;
    assert!(h.finish().await.is_ok());
}

#[tokio::test]
async fn helo_has_no_extensions_and_allows_mail() {
    let mut h = Harness::start(test_config(Mode::Mx)).await;
    let helo = h.client.command("HELO client.test", "250 ").await;
    assert_eq!(helo, "250 mx.test");
    h.client
        .command("MAIL FROM:<a@remote.example>", "250 2.1.0")
        .await;
}

#[tokio::test]
async fn bad_sequences_get_503() {
    let mut h = Harness::start(test_config(Mode::Mx)).await;
    let c = &mut h.client;
    c.command("MAIL FROM:<a@remote.example>", "503 5.5.1").await;
    c.command("RCPT TO:<b@direct.example>", "503 5.5.1").await;
    c.command("DATA", "503 5.5.1").await;
    c.command("EHLO client.test", "250-").await;
    c.command("RCPT TO:<b@direct.example>", "503 5.5.1").await;
    c.command("DATA", "503 5.5.1").await;
    c.command("MAIL FROM:<a@remote.example>", "250 2.1.0").await;
    c.command("MAIL FROM:<a@remote.example>", "503 5.5.1").await;
    c.command("DATA", "503 5.5.1 No valid recipients").await;
    c.command("RCPT TO:<b@elsewhere.example>", "550 5.7.1")
        .await;
    c.command("DATA", "503 5.5.1 No valid recipients").await;
}

#[tokio::test]
async fn rset_and_ehlo_reset_the_transaction() {
    let mut h = Harness::mx().await;
    let c = &mut h.client;
    c.command("MAIL FROM:<a@remote.example>", "250 2.1.0").await;
    c.command("RSET", "250 2.0.0").await;
    c.command("RCPT TO:<b@direct.example>", "503 5.5.1").await;
    c.command("MAIL FROM:<a@remote.example>", "250 2.1.0").await;
    c.command("EHLO again.test", "250-").await;
    c.command("RCPT TO:<b@direct.example>", "503 5.5.1").await;
}

#[tokio::test]
async fn one_line_commands() {
    let mut h = Harness::mx().await;
    let c = &mut h.client;
    c.command("NOOP", "250 2.0.0").await;
    c.command("NOOP hello", "250 2.0.0").await;
    c.command("VRFY alice", "252 2.5.0").await;
    c.command("EXPN staff", "502 5.5.1").await;
    c.command("HELP", "214 2.0.0").await;
    c.command("BDAT 10 LAST", "502 5.5.1").await;
    c.command("ETRN direct.example", "502 5.5.1").await;
    c.command("XYZZY", "500 5.5.2").await;
    c.command("LHLO client.test", "500 5.5.2").await;
    c.command("MAIL FROM:nobracket", "501 5.5.4").await;
    c.command("EHLO", "501 5.5.4").await;
    c.command("STARTTLS", "502 5.5.1").await;
    c.command("AUTH PLAIN", "502 5.5.1").await;
    c.command("QUIT", "221 2.0.0").await;
    c.expect_closed().await;
}

#[tokio::test]
async fn parameters_offered_and_not() {
    let mut h = Harness::mx().await;
    let c = &mut h.client;
    c.command("MAIL FROM:<a@remote.example> XFOO=1", "555 5.5.4")
        .await;
    c.command("MAIL FROM:<a@remote.example> SMTPUTF8", "555 5.5.4")
        .await;
    c.command("MAIL FROM:<a@remote.example> SIZE=5000", "552 5.3.4")
        .await;
    let mail = "MAIL FROM:<a@remote.example> SIZE=100 BODY=8BITMIME RET=FULL ENVID=abc";
    c.command(mail, "250 2.1.0").await;
    c.command("RCPT TO:<b@direct.example> NOTIFY=NEVER XBAR", "555 5.5.4")
        .await;
    let rcpt = "RCPT TO:<b@direct.example> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b@direct.example";
    c.command(rcpt, "250 2.1.5").await;
}

#[tokio::test]
async fn null_sender_and_postmaster_in_mx_mode() {
    let mut h = Harness::mx().await;
    let c = &mut h.client;
    c.command("MAIL FROM:<>", "250 2.1.0").await;
    c.command("RCPT TO:<Postmaster>", "550 5.7.1").await;
    c.command("RSET", "250").await;
    c.command("MAIL FROM:<postmaster>", "501 5.1.7").await;
}

#[tokio::test]
async fn recipient_cap() {
    let mut h = Harness::mx().await;
    let c = &mut h.client;
    c.command("MAIL FROM:<a@remote.example>", "250").await;
    for n in 0..5 {
        c.command(&format!("RCPT TO:<r{n}@direct.example>"), "250 2.1.5")
            .await;
    }
    c.command("RCPT TO:<r5@direct.example>", "452 4.5.3").await;
}

#[tokio::test]
async fn long_line_is_refused_and_swallowed() {
    let mut h = Harness::mx().await;
    let c = &mut h.client;
    let long = format!("NOOP {}\r\nNOOP\r\n", "x".repeat(2000));
    c.send(long).await;
    c.expect("500 5.5.6").await;
    c.expect("250 2.0.0").await;
    // A line split across writes, longer than the limit before its LF.
    c.send("VRFY ".to_string() + &"y".repeat(600)).await;
    c.expect("500 5.5.6").await;
    c.send("yyyy\r\nNOOP\r\n").await;
    c.expect("250 2.0.0").await;
}

#[tokio::test]
async fn too_many_errors_closes_with_421() {
    let mut config = test_config(Mode::Mx);
    config.limits.max_errors = 3;
    let mut h = Harness::start(config).await;
    h.client.send("BAD1\r\nBAD2\r\nBAD3\r\nNOOP\r\n").await;
    h.client.expect("500 5.5.2").await;
    h.client.expect("500 5.5.2").await;
    h.client.expect("500 5.5.2").await;
    h.client.expect("421 4.7.0").await;
    h.client.expect_closed().await;
    assert!(matches!(h.finish().await, Err(SessionError::TooManyErrors)));
}

/// Real time, kept short: hisp's tokio has no `test-util` (no paused clock).
#[tokio::test]
async fn command_timeout_closes_with_421() {
    let mut config = test_config(Mode::Mx);
    config.limits.command_timeout = Duration::from_millis(100);
    let mut h = Harness::start(config).await;
    h.client.expect("421 4.4.2").await;
    h.client.expect_closed().await;
    assert!(matches!(h.finish().await, Err(SessionError::Timeout)));
}

#[tokio::test]
async fn data_timeout_closes_with_421_and_commits_nothing() {
    let mut config = test_config(Mode::Mx);
    config.limits.data_timeout = Duration::from_millis(100);
    let mut h = Harness::start(config).await;
    let c = &mut h.client;
    c.send("EHLO c\r\nMAIL FROM:<a@r.example>\r\nRCPT TO:<b@direct.example>\r\nDATA\r\n")
        .await;
    for code in ["250-", "250 2.1.0", "250 2.1.5", "354 "] {
        c.expect(code).await;
    }
    c.send("Subject: half a message\r\n").await;
    c.expect("421 4.4.2").await;
    let backend = h.backend.clone();
    assert!(matches!(h.finish().await, Err(SessionError::Timeout)));
    assert!(backend.messages().is_empty());
}
