//! Session tests over in-memory streams: a scripted client talks to `run`
//! through `tokio::io::duplex`, against the recording `MemoryBackend`.

mod auth;
mod commands;
mod data;
mod fuzz;
mod listener;
mod pki;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream};
use tokio::task::JoinHandle;

use super::config::{Mode, SessionConfig};
use super::error::SessionError;
use super::run::run;
use super::testing::{MemoryBackend, test_config};

/// How long a test waits for any single reply before failing.
const PATIENCE: Duration = Duration::from_secs(10);

/// A scripted SMTP client over some stream.
pub(super) struct Client<S> {
    stream: BufReader<S>,
}

/// A running session and the client connected to it.
pub(super) struct Harness {
    pub client: Client<DuplexStream>,
    pub backend: Arc<MemoryBackend>,
    pub task: JoinHandle<Result<(), SessionError>>,
}

impl Harness {
    /// Start a session; the greeting is consumed.
    pub async fn start(config: SessionConfig) -> Self {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let backend = Arc::new(MemoryBackend::default());
        let task_backend = Arc::clone(&backend);
        let peer = SocketAddr::from(([192, 0, 2, 7], 2525));
        let task = tokio::spawn(async move { run(server, peer, &config, &*task_backend).await });
        let mut client = Client::new(client);
        client.expect("220 mx.test ESMTP hisp").await;
        Self {
            client,
            backend,
            task,
        }
    }

    /// MX mode, no TLS, greeted with EHLO.
    pub async fn mx() -> Self {
        let mut h = Self::start(test_config(Mode::Mx)).await;
        h.client.send("EHLO client.test\r\n").await;
        h.client.reply().await;
        h
    }

    /// Wait for the session to end and return its result.
    pub async fn finish(self) -> Result<(), SessionError> {
        match tokio::time::timeout(PATIENCE, self.task).await {
            Ok(Ok(result)) => result,
            other => panic!("session did not end: {other:?}"),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub fn new(stream: S) -> Self {
        Self {
            stream: BufReader::new(stream),
        }
    }

    /// The raw stream (for STARTTLS), with nothing left unread.
    pub fn into_inner(self) -> S {
        assert!(self.stream.buffer().is_empty(), "unread server bytes");
        self.stream.into_inner()
    }

    pub async fn send(&mut self, text: impl AsRef<[u8]>) {
        let stream = self.stream.get_mut();
        stream.write_all(text.as_ref()).await.expect("write");
        stream.flush().await.expect("flush");
    }

    /// One complete (possibly multi-line) reply, lines joined with "\n".
    pub async fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let read = tokio::time::timeout(PATIENCE, self.stream.read_line(&mut line)).await;
            let n = read.expect("reply in time").expect("read");
            assert!(n > 0, "connection closed; got so far: {lines:?}");
            let line = line.strip_suffix("\r\n").expect("CRLF").to_string();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    /// Read one reply and check it starts with `prefix`.
    pub async fn expect(&mut self, prefix: &str) -> String {
        let reply = self.reply().await;
        assert!(
            reply.starts_with(prefix),
            "expected {prefix:?}, got {reply:?}"
        );
        reply
    }

    /// Send a line and check the reply.
    pub async fn command(&mut self, line: &str, prefix: &str) -> String {
        self.send(format!("{line}\r\n")).await;
        self.expect(prefix).await
    }

    /// The server closed the connection with nothing more to say.
    pub async fn expect_closed(&mut self) {
        let mut rest = String::new();
        let read = tokio::time::timeout(PATIENCE, self.stream.read_line(&mut rest)).await;
        let n = read.expect("close in time").unwrap_or(0);
        assert_eq!(n, 0, "expected close, got {rest:?}");
    }
}
