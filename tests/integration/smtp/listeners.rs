//! The MX and submission listeners with the real backends over real sockets:
//! no open relay, unknown and disabled mailboxes refused, submission only over
//! TLS with AUTH, senders limited to their own addresses, sign-in throttled.

use std::net::SocketAddr;
use std::pin::Pin;

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

use super::{Node, PASSWORD, message};

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A line-at-a-time SMTP client for tests, with STARTTLS.
pub struct Client {
    io: Option<BufReader<Box<dyn Io>>>,
}

impl Client {
    /// Connect.
    pub async fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).await.expect("connect");
        Client {
            io: Some(BufReader::new(Box::new(s))),
        }
    }

    fn io(&mut self) -> &mut BufReader<Box<dyn Io>> {
        self.io.as_mut().expect("open")
    }

    /// Read one whole reply: (code, all lines).
    pub async fn reply(&mut self) -> (u16, String) {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = self.io().read_line(&mut line).await.expect("read");
            assert!(n > 0, "connection closed; so far: {all}");
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                let code = line.get(..3).and_then(|c| c.parse().ok()).expect("code");
                return (code, all);
            }
        }
    }

    /// Expect a reply with `code`; returns its text.
    pub async fn expect(&mut self, code: u16) -> String {
        let (got, text) = self.reply().await;
        assert_eq!(got, code, "{text}");
        text
    }

    /// Send a command line and expect `code`.
    pub async fn cmd(&mut self, line: &str, code: u16) -> String {
        self.io()
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write");
        self.io().flush().await.expect("flush");
        self.expect(code).await
    }

    /// Send message content, dot-stuffed, and the end-of-data line.
    pub async fn send_data(&mut self, message: &[u8]) {
        let mut out = Vec::with_capacity(message.len() + 64);
        for line in message.split_inclusive(|&b| b == b'\n') {
            if line.first() == Some(&b'.') {
                out.push(b'.');
            }
            out.extend_from_slice(line);
        }
        if !out.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        self.io().write_all(&out).await.expect("write data");
        self.io().flush().await.expect("flush");
    }

    /// STARTTLS and the TLS handshake (any certificate).
    pub async fn starttls(&mut self) {
        self.cmd("STARTTLS", 220).await;
        let plain = self.io.take().expect("open").into_inner();
        let mut b = SslConnector::builder(SslMethod::tls_client()).expect("ssl");
        b.set_verify(SslVerifyMode::NONE);
        let ssl = b
            .build()
            .configure()
            .expect("configure")
            .into_ssl("localhost")
            .expect("ssl");
        let mut tls = SslStream::new(ssl, plain).expect("stream");
        Pin::new(&mut tls).connect().await.expect("handshake");
        self.io = Some(BufReader::new(Box::new(tls)));
    }
}

fn b64(s: &str) -> String {
    openssl::base64::encode_block(s.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_refuses_relay_and_unknown_or_disabled_mailboxes() {
    let mut b = Node::new("b.test", true, None).await;
    b.address("bob").await;
    let gone = b.address("gone").await;
    b.hisp
        .address_disable(&gone, "test")
        .await
        .expect("disable");
    b.start().await;
    let mut c = Client::connect(b.mx).await;
    c.expect(220).await;
    let ehlo = c.cmd("EHLO peer.test", 250).await;
    for ext in [
        "PIPELINING",
        "SIZE",
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
        "STARTTLS",
        "DSN",
    ] {
        assert!(ehlo.contains(ext), "{ext} in {ehlo}");
    }
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    c.cmd("MAIL FROM:<someone@elsewhere.test>", 250).await;
    assert!(
        c.cmd("RCPT TO:<victim@example.com>", 550)
            .await
            .contains("5.7.1")
    );
    assert!(
        c.cmd("RCPT TO:<nobody@b.test>", 550)
            .await
            .contains("5.1.1")
    );
    assert!(c.cmd("RCPT TO:<gone@b.test>", 550).await.contains("5.1.1"));
    c.cmd("DATA", 503).await;
    c.cmd("RCPT TO:<Bob@B.test>", 250).await;
    c.cmd("DATA", 354).await;
    c.send_data(b"From: someone@elsewhere.test\r\nSubject: plain\r\n\r\nnot S/MIME\r\n")
        .await;
    assert!(c.expect(250).await.contains("queued as"));
    c.cmd("QUIT", 221).await;
    super::wait_for(30, "the plain message quarantined", || async {
        let mut conn = b.hisp.conn().await.expect("conn");
        let q = hisp::store::queue::quarantined(&mut conn).await.expect("q");
        q.first().map(|r| r.reason.clone())
    })
    .await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_requires_tls_and_auth_and_own_addresses() {
    let mut a = Node::new("a.test", false, None).await;
    let alice = a.address("alice").await;
    a.address("carol").await;
    a.set("HISP_SMTP_AUTH_MAX_FAILURES", "3");
    a.start().await;

    let mut c = Client::connect(a.submission).await;
    c.expect(220).await;
    let ehlo = c.cmd("EHLO client", 250).await;
    assert!(!ehlo.contains("AUTH"), "no AUTH in clear: {ehlo}");
    assert!(
        c.cmd("MAIL FROM:<alice@a.test>", 530)
            .await
            .contains("5.7.0")
    );
    c.starttls().await;
    let ehlo = c.cmd("EHLO client", 250).await;
    assert!(ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo}");
    let bad = format!("AUTH PLAIN {}", b64(&format!("\0{alice}\0wrong password")));
    assert!(c.cmd(&bad, 535).await.contains("5.7.8"));
    let good = format!("AUTH PLAIN {}", b64(&format!("\0{alice}\0{PASSWORD}")));
    c.cmd(&good, 235).await;
    assert!(
        c.cmd("MAIL FROM:<carol@a.test>", 550)
            .await
            .contains("5.7.1"),
        "not hers"
    );
    c.cmd("MAIL FROM:<alice@a.test>", 250).await;
    c.cmd("RCPT TO:<someone@b.test>", 250).await;
    c.cmd("DATA", 354).await;
    let carol = hisp::direct::DirectAddress::parse("carol@a.test").expect("addr");
    let to = hisp::direct::DirectAddress::parse("someone@b.test").expect("addr");
    c.send_data(&message(&carol, &[&to], "forged", "<forged@a.test>"))
        .await;
    assert!(
        c.expect(550).await.contains("5.7.1"),
        "header From must be hers too"
    );
    c.cmd("QUIT", 221).await;

    // AUTH LOGIN, then the throttle: three failures lock out this IP.
    let mut c = Client::connect(a.submission).await;
    c.expect(220).await;
    c.cmd("EHLO client", 250).await;
    c.starttls().await;
    c.cmd("EHLO client", 250).await;
    for _ in 0..3 {
        c.cmd("AUTH LOGIN", 334).await;
        c.cmd(&b64("alice@a.test"), 334).await;
        c.cmd(&b64("nope"), 535).await;
    }
    c.cmd("AUTH LOGIN", 334).await;
    c.cmd(&b64("alice@a.test"), 334).await;
    assert!(
        c.cmd(&b64(PASSWORD), 454).await.contains("4.7.0"),
        "throttled even with the right password"
    );
    a.stop().await;
}
