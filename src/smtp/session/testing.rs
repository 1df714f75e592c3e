//! Test support shared by the unit tests and the `smtp_session` fuzz
//! target: an in-memory [`MemoryBackend`] and [`fuzz_one`], which runs a
//! whole session over an in-memory pipe. Not part of the supported API.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::backend::{AuthOutcome, Backend, Envelope, SessionInfo};
use super::config::{Limits, Mode, SessionConfig};
use super::reply::Reply;
use super::run::run;

/// The only domain [`MemoryBackend`] accepts recipients in.
pub const LOCAL_DOMAIN: &str = "direct.example";

/// A backend that accepts recipients `@direct.example`, refuses others with
/// `550 5.7.1`, knows the user "alice" with password "secret" (user
/// "throttled" is always throttled), and keeps messages in memory.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    /// Every committed message with its envelope, in order.
    pub messages: Mutex<Vec<(Envelope, Vec<u8>)>>,
    /// How many `authenticate` calls were made.
    pub auth_attempts: AtomicUsize,
}

impl MemoryBackend {
    /// A copy of the committed messages.
    pub fn messages(&self) -> Vec<(Envelope, Vec<u8>)> {
        self.messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Backend for MemoryBackend {
    async fn mail_from(&self, _s: &SessionInfo, _from: &str) -> Result<(), Reply> {
        Ok(())
    }

    async fn rcpt_to(&self, _s: &SessionInfo, _from: &str, to: &str) -> Result<(), Reply> {
        let domain = to.rsplit_once('@').map(|(_, d)| d);
        if domain.is_some_and(|d| d.eq_ignore_ascii_case(LOCAL_DOMAIN)) {
            Ok(())
        } else {
            Err(Reply::new(550, "5.7.1", "Relay access denied"))
        }
    }

    async fn authenticate(&self, _s: &SessionInfo, user: &str, password: &str) -> AuthOutcome {
        self.auth_attempts.fetch_add(1, Ordering::Relaxed);
        match (user, password) {
            ("alice", "secret") => AuthOutcome::Ok("alice".to_string()),
            ("throttled", _) => AuthOutcome::Throttled,
            _ => AuthOutcome::Failed,
        }
    }

    async fn data(
        &self,
        _s: &SessionInfo,
        envelope: &Envelope,
        message: Vec<u8>,
    ) -> Result<String, Reply> {
        let mut messages = self.messages.lock().unwrap_or_else(PoisonError::into_inner);
        messages.push((envelope.clone(), message));
        Ok(format!("Q{}", messages.len()))
    }
}

/// A small configuration for tests and fuzzing (no TLS).
pub fn test_config(mode: Mode) -> SessionConfig {
    SessionConfig {
        hostname: "mx.test".to_string(),
        mode,
        limits: Limits {
            max_line: 512,
            max_message_size: 4096,
            max_recipients: 5,
            command_timeout: Duration::from_secs(5),
            data_timeout: Duration::from_secs(5),
            max_errors: 20,
        },
        tls: None,
    }
}

/// Run one whole session fed with `data` (then end of input) and return
/// what the server wrote. The first byte picks MX (even) or Submission
/// (odd) mode; the rest is what the client sends.
pub async fn session_transcript(data: &[u8]) -> Vec<u8> {
    let (mode, data) = match data.split_first() {
        Some((b, rest)) if b & 1 == 1 => (Mode::Submission, rest),
        Some((_, rest)) => (Mode::Mx, rest),
        None => (Mode::Mx, data),
    };
    let config = test_config(mode);
    let backend = MemoryBackend::default();
    let (client, server) = tokio::io::duplex(16 * 1024);
    let (mut from_server, mut to_server) = tokio::io::split(client);
    let peer = SocketAddr::from(([192, 0, 2, 1], 40000));
    let writer = async {
        let _ = to_server.write_all(data).await;
        let _ = to_server.shutdown().await;
    };
    let reader = async {
        let mut out = Vec::new();
        let _ = from_server.read_to_end(&mut out).await;
        out
    };
    let (_, _, out) = tokio::join!(run(server, peer, &config, &backend), writer, reader);
    out
}

/// The fuzz target's body: a session must never panic on any input.
pub fn fuzz_one(data: &[u8]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build();
    if let Ok(runtime) = runtime {
        runtime.block_on(session_transcript(data));
    }
}
