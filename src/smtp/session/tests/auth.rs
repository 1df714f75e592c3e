//! Submission mode and AUTH (RFC 4954): only inside TLS, PLAIN and LOGIN,
//! success, failure, throttling, cancel, and MAIL before AUTH.

use super::super::config::Mode;
use super::super::testing::test_config;
use super::Harness;
use super::tls::upgraded;

/// base64("\0alice\0secret")
const ALICE_PLAIN: &str = "AGFsaWNlAHNlY3JldA==";

#[tokio::test]
async fn no_auth_in_clear() {
    let mut h = Harness::start(test_config(Mode::Submission)).await;
    let ehlo = h.client.command("EHLO client.test", "250-").await;
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    h.client
        .command(&format!("AUTH PLAIN {ALICE_PLAIN}"), "538 5.7.11")
        .await;
    h.client
        .command("MAIL FROM:<alice@direct.example>", "530 5.7.0")
        .await;
    assert_eq!(
        h.backend
            .auth_attempts
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[tokio::test]
async fn plain_with_initial_response() {
    let mut h = upgraded(Mode::Submission, "").await;
    let c = &mut h.client;
    let ehlo = c.command("EHLO client.test", "250-").await;
    assert!(ehlo.ends_with("250 AUTH PLAIN LOGIN"), "{ehlo}");
    c.command("MAIL FROM:<alice@direct.example>", "530 5.7.0")
        .await;
    c.command(&format!("AUTH PLAIN {ALICE_PLAIN}"), "235 2.7.0")
        .await;
    c.command(&format!("AUTH PLAIN {ALICE_PLAIN}"), "503 5.5.1")
        .await;
    c.command("MAIL FROM:<alice@direct.example>", "250 2.1.0")
        .await;
    c.command("RCPT TO:<bob@direct.example>", "250 2.1.5").await;
    c.command("AUTH LOGIN", "503 5.5.1").await;
}

#[tokio::test]
async fn plain_with_challenge_and_authzid() {
    let mut h = upgraded(Mode::Submission, "").await;
    let c = &mut h.client;
    c.command("EHLO client.test", "250-").await;
    let challenge = c.command("AUTH PLAIN", "334").await;
    assert_eq!(challenge, "334 ");
    // base64("alice\0alice\0secret")
    c.command("YWxpY2UAYWxpY2UAc2VjcmV0", "235 2.7.0").await;
}

#[tokio::test]
async fn login_success() {
    let mut h = upgraded(Mode::Submission, "").await;
    let c = &mut h.client;
    c.command("EHLO client.test", "250-").await;
    c.command("AUTH LOGIN", "334 VXNlcm5hbWU6").await;
    c.command("YWxpY2U=", "334 UGFzc3dvcmQ6").await;
    c.command("c2VjcmV0", "235 2.7.0").await;
}

#[tokio::test]
async fn login_with_initial_user() {
    let mut h = upgraded(Mode::Submission, "").await;
    let c = &mut h.client;
    c.command("EHLO client.test", "250-").await;
    c.command("AUTH LOGIN YWxpY2U=", "334 UGFzc3dvcmQ6").await;
    c.command("c2VjcmV0", "235 2.7.0").await;
}

#[tokio::test]
async fn failures_throttling_and_cancel() {
    let mut h = upgraded(Mode::Submission, "").await;
    let c = &mut h.client;
    c.command("EHLO client.test", "250-").await;
    // base64("\0alice\0wrong")
    c.command("AUTH PLAIN AGFsaWNlAHdyb25n", "535 5.7.8").await;
    c.command("AUTH LOGIN", "334").await;
    c.command("YWxpY2U=", "334").await;
    c.command("d3Jvbmc=", "535 5.7.8").await;
    // base64("\0throttled\0x")
    c.command("AUTH PLAIN AHRocm90dGxlZAB4", "454 4.7.0").await;
    c.command("AUTH PLAIN", "334").await;
    c.command("*", "501 5.0.0").await;
    c.command("AUTH PLAIN", "334").await;
    c.command("not base64!", "501 5.5.2").await;
    // base64("bob\0alice\0secret"): authzid must be empty or the authcid.
    c.command("AUTH PLAIN Ym9iAGFsaWNlAHNlY3JldA==", "501 5.5.2")
        .await;
    c.command("AUTH CRAM-MD5", "504 5.5.4").await;
    c.command("MAIL FROM:<alice@direct.example>", "530 5.7.0")
        .await;
    c.command(&format!("AUTH PLAIN {ALICE_PLAIN}"), "235 2.7.0")
        .await;
}

#[tokio::test]
async fn auth_needs_ehlo_after_tls() {
    let mut h = upgraded(Mode::Submission, "").await;
    h.client
        .command(&format!("AUTH PLAIN {ALICE_PLAIN}"), "503 5.5.1")
        .await;
}
