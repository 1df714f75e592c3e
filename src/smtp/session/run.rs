//! The I/O loop of one session: read with timeouts, let the session
//! consume what is buffered, flush replies, upgrade to TLS on request.
//!
//! RFC 2920 §3.2: the server "MUST NOT flush or otherwise lose the contents
//! of the TCP input buffer" between pipelined commands, and replies go out
//! in order. We answer every command already buffered, and flush whenever
//! no complete command is left, before blocking on a read.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{Instrument, debug, info_span};

use super::backend::{Backend, SessionInfo};
use super::config::SessionConfig;
use super::error::SessionError;
use super::input::Input;
use super::state::{Next, Session};
use super::stream::Stream;

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 8192;
/// Flush early if this much reply text is waiting (a peer pipelining
/// thousands of commands must not grow our output without bound).
const FLUSH_AT: usize = 64 * 1024;

/// Drive one connection to the end (QUIT, close, timeout, error). Generic
/// over the stream so tests use `tokio::io::duplex`.
pub async fn run<S, B>(
    stream: S,
    peer: SocketAddr,
    config: &SessionConfig,
    backend: &B,
) -> Result<(), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    B: Backend,
{
    let span = info_span!("smtp", %peer, mode = ?config.mode);
    let info = SessionInfo {
        peer,
        helo: String::new(),
        tls: false,
        user: None,
    };
    let driver = Driver {
        stream: Stream::Plain(stream),
        input: Input::default(),
        session: Session::new(config, backend, info),
        read_buf: vec![0; READ_CHUNK],
    };
    driver.drive().instrument(span).await
}

/// What a read brought.
enum Filled {
    /// More bytes are buffered.
    Bytes,
    /// The peer closed its side.
    Eof,
}

/// The session plus the stream it talks over.
struct Driver<'a, S, B> {
    stream: Stream<S>,
    input: Input,
    session: Session<'a, B>,
    read_buf: Vec<u8>,
}

impl<S, B> Driver<'_, S, B>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    B: Backend,
{
    async fn drive(mut self) -> Result<(), SessionError> {
        debug!("connected");
        self.session.greet();
        let result = self.conversation().await;
        debug!(?result, "session ended");
        result
    }

    /// Consume buffered input until the session ends.
    async fn conversation(&mut self) -> Result<(), SessionError> {
        loop {
            let Some(next) = self.session.ingest(&mut self.input).await else {
                match self.fill().await? {
                    Filled::Bytes => continue,
                    Filled::Eof => return self.peer_closed().await,
                }
            };
            match next {
                Next::Continue if self.session.out.len() >= FLUSH_AT => self.flush().await?,
                Next::Continue => {}
                Next::Close => return self.close().await,
                Next::UpgradeTls => self.upgrade().await?,
                Next::Abort(e) => {
                    let _ = self.close().await;
                    return Err(e);
                }
            }
        }
    }

    /// Flush, then wait (bounded) for more bytes.
    async fn fill(&mut self) -> Result<Filled, SessionError> {
        self.flush().await?;
        let limits = &self.session.config.limits;
        let wait = if self.session.in_data() {
            limits.data_timeout
        } else {
            limits.command_timeout
        };
        let read = tokio::time::timeout(wait, self.stream.read(&mut self.read_buf)).await;
        match read {
            Err(_elapsed) => Err(self.timed_out().await),
            Ok(Err(e)) => Err(SessionError::Io(e)),
            Ok(Ok(0)) => Ok(Filled::Eof),
            Ok(Ok(n)) => {
                self.input
                    .extend(self.read_buf.get(..n).unwrap_or_default());
                Ok(Filled::Bytes)
            }
        }
    }

    /// Write pending replies, bounded by the command timeout so a peer that
    /// never reads cannot hold the session forever.
    async fn flush(&mut self) -> Result<(), SessionError> {
        if self.session.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.session.out);
        let wait = self.session.config.limits.command_timeout;
        match tokio::time::timeout(wait, self.stream.write_all(&out)).await {
            Err(_elapsed) => Err(SessionError::Timeout),
            Ok(result) => Ok(result?),
        }
    }

    /// RFC 3207 §4.2: after `220`, discard what the peer pipelined in clear,
    /// handshake, and start over as if newly connected.
    async fn upgrade(&mut self) -> Result<(), SessionError> {
        self.flush().await?;
        self.input.discard();
        let Some(acceptor) = self.session.config.tls.clone() else {
            return Err(SessionError::Tls("no TLS configured".to_string()));
        };
        let wait = self.session.config.limits.command_timeout;
        match tokio::time::timeout(wait, self.stream.accept_tls(&acceptor)).await {
            Err(_elapsed) => return Err(SessionError::Timeout),
            Ok(result) => result?,
        }
        debug!("tls established");
        self.session.tls_started();
        Ok(())
    }

    /// `421 4.4.2`, best effort, then give up.
    async fn timed_out(&mut self) -> SessionError {
        self.session.timed_out();
        let _ = self.close().await;
        SessionError::Timeout
    }

    /// The peer closed: flush what we can; an unfinished DATA is dropped.
    async fn peer_closed(&mut self) -> Result<(), SessionError> {
        self.session.peer_closed();
        let _ = self.close().await;
        Ok(())
    }

    /// Flush and close our side, each step bounded in time.
    async fn close(&mut self) -> Result<(), SessionError> {
        self.flush().await?;
        let wait = Duration::from_secs(5).min(self.session.config.limits.command_timeout);
        let _ = tokio::time::timeout(wait, self.stream.shutdown()).await;
        Ok(())
    }
}
