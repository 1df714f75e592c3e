//! STARTTLS (RFC 3207): upgrade, reset, no injection from the clear.

use std::sync::Arc;

use tokio::io::DuplexStream;
use tokio::task::JoinHandle;
use tokio_openssl::SslStream;

use super::super::config::Mode;
use super::super::error::SessionError;
use super::super::testing::{MemoryBackend, test_config};
use super::{Client, Harness, pki};

/// A session after STARTTLS, with its TLS client (not yet re-greeted).
pub(super) struct TlsHarness {
    pub client: Client<SslStream<DuplexStream>>,
    pub backend: Arc<MemoryBackend>,
    pub task: JoinHandle<Result<(), SessionError>>,
}

/// Start a session with TLS configured; send `before` in clear, then
/// STARTTLS (with `pipelined` in the same write), then handshake.
pub(super) async fn upgraded(mode: Mode, pipelined: &str) -> TlsHarness {
    let (acceptor, connector) = pki::tls_pair();
    let mut config = test_config(mode);
    config.tls = Some(acceptor);
    let mut h = Harness::start(config).await;
    let ehlo = h.client.command("EHLO client.test", "250-").await;
    assert!(ehlo.contains("250-STARTTLS"), "{ehlo}");
    assert!(!ehlo.contains("AUTH"), "AUTH offered in clear: {ehlo}");
    h.client.send(format!("STARTTLS\r\n{pipelined}")).await;
    h.client.expect("220 2.0.0").await;
    let tls = pki::connect(&connector, h.client.into_inner()).await;
    TlsHarness {
        client: Client::new(tls),
        backend: h.backend,
        task: h.task,
    }
}

#[tokio::test]
async fn starttls_upgrades_and_resets() {
    let mut h = upgraded(Mode::Mx, "").await;
    let c = &mut h.client;
    // State was reset: EHLO is needed again.
    c.command("MAIL FROM:<a@remote.example>", "503 5.5.1").await;
    let ehlo = c.command("EHLO client.test", "250-").await;
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(!ehlo.contains("AUTH"), "MX must not offer AUTH: {ehlo}");
    c.command("STARTTLS", "503 5.5.1").await;
    c.command("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "502 5.5.1")
        .await;
    c.send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<b@direct.example>\r\nDATA\r\n")
        .await;
    for prefix in ["250 2.1.0", "250 2.1.5", "354"] {
        c.expect(prefix).await;
    }
    c.send("secret over tls\r\n.\r\nQUIT\r\n").await;
    c.expect("250 2.0.0 Ok: queued as Q1").await;
    c.expect("221").await;
    c.expect_closed().await;
    assert_eq!(h.backend.messages().len(), 1);
    assert!(h.task.await.expect("join").is_ok());
}

#[tokio::test]
async fn input_pipelined_after_starttls_is_discarded() {
    let injected = "EHLO evil.test\r\nMAIL FROM:<evil@remote.example>\r\n";
    let mut h = upgraded(Mode::Mx, injected).await;
    let c = &mut h.client;
    // The first reply inside TLS answers our EHLO, not the injected one.
    let ehlo = c.command("EHLO client.test", "250-mx.test").await;
    assert!(ehlo.ends_with("250 DSN"), "{ehlo}");
    // The injected MAIL never happened.
    c.command("RCPT TO:<b@direct.example>", "503 5.5.1").await;
}

#[tokio::test]
async fn starttls_before_ehlo_and_with_parameters() {
    let (acceptor, _) = pki::tls_pair();
    let mut config = test_config(Mode::Mx);
    config.tls = Some(acceptor);
    let mut h = Harness::start(config).await;
    h.client.command("STARTTLS", "503 5.5.1").await;
    h.client.command("EHLO c", "250-").await;
    h.client.command("STARTTLS now", "501 5.5.4").await;
}

#[tokio::test]
async fn failed_handshake_closes() {
    let (acceptor, _) = pki::tls_pair();
    let mut config = test_config(Mode::Mx);
    config.tls = Some(acceptor);
    let mut h = Harness::start(config).await;
    h.client.command("EHLO c", "250-").await;
    h.client.command("STARTTLS", "220 2.0.0").await;
    h.client.send("this is not a TLS ClientHello\r\n").await;
    h.client.expect_closed().await;
    assert!(matches!(h.finish().await, Err(SessionError::Tls(_))));
}
