//! The MLLP listener: frames (0x0B … 0x1C 0x0D) in, one ACK out per frame.
//! Per message: a registered sending facility (else AR), an ADT message type
//! (else AR), parseable (else AE); a message already received (same MSH-3,
//! MSH-4, MSH-10) gets the ACK it got the first time and is not processed
//! again; otherwise it is committed to the store and only then acknowledged.
//! Every message gets exactly one reply, whatever MSH-15/MSH-16 say: an
//! accept acknowledgment (CA/CE/CR) when MSH-15 asks for one, else AA/AE/AR
//! ([`Header::reply_kind`] has the rules, and why "never" is still a reply).

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use openssl::ssl::{
    Ssl, SslAcceptor, SslAcceptorBuilder, SslOptions, SslSessionCacheMode, SslVerifyMode,
};
use tokio_openssl::SslStream;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, oneshot, watch};

use super::Notifier;
use super::adt;
use super::allow::Allowed;
use super::pins::{self, CertPins, Fingerprint};
use crate::hl7::{self, AckCode, AckError, ErrorCode, ErrorLocation, Framer, Header};
use crate::ops::OpsError;
use crate::smtp::session::listener::ConnectionCounts;
use crate::store::notify::{self, AdtKey};

/// Accept connections until `stop` flips; each connection runs to its end.
/// With `tls`, each connection is TLS from its first byte.
pub async fn serve(
    n: Notifier,
    listener: TcpListener,
    tls: Option<Acceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let counts = ConnectionCounts::default();
    let max_per_ip = n.gw.hisp.config.mllp.max_connections_per_ip.max(1);
    let open = Arc::new(Semaphore::new(n.mllp_limits.max_connections.max(1)));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
                    // MLLP has no greeting to refuse with: the connection is closed.
                    let max = n.mllp_limits.max_connections;
                    tracing::warn!(%peer, max, "MLLP connection refused: too many open");
                    drop(stream);
                    continue;
                };
                let Some(slot) = counts.acquire(peer.ip(), max_per_ip) else {
                    tracing::warn!(%peer, max_per_ip, "MLLP connection refused: too many from this address");
                    drop(stream);
                    continue;
                };
                let n = n.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let _slot = (slot, permit);
                    let _ = stream.set_nodelay(true);
                    let ended = match tls {
                        None => connection(&n, stream, peer, None).await,
                        Some(acceptor) => match handshake(&acceptor, stream).await {
                            Ok(stream) => {
                                let cert = client_certificate(&stream);
                                connection(&n, stream, peer, cert).await
                            }
                            Err(e) => Err(e),
                        },
                    };
                    if let Err(e) = ended {
                        tracing::info!(%peer, error = %e, "MLLP connection ended");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "MLLP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// The MLLP listener's TLS settings: a server certificate and key, and
/// what [`Acceptor::new`] adds. Only it makes one, so no listener asks for
/// client certificates without a session id context.
#[derive(Clone)]
pub struct Acceptor(Arc<SslAcceptor>);

impl Acceptor {
    /// The listener's acceptor from `b` (a certificate and key set). Each
    /// client is asked for a certificate, and any it presents is taken (the
    /// handshake proves it holds the key): a feed pins the ones it takes
    /// (`notify::pins`), and a client without one still connects, for
    /// feeds that pin none. Sessions are never resumed (no session cache,
    /// no tickets, in TLS 1.2 and 1.3): a resumed session carries the
    /// certificate of the one it resumes, so an engine that replaced its
    /// certificate, and whose old one was unpinned, was refused for as
    /// long as it kept resuming (tickets lived 2 hours, and each resumption
    /// can bring a new one). Engines hold their connections open, so a full
    /// handshake per connection costs little. The session id context stays,
    /// so a client offering a session is never refused for want of one
    /// ("session id context uninitialized"). Renegotiation is
    /// refused: the certificate is read once, after the handshake.
    pub fn new(mut b: SslAcceptorBuilder) -> Result<Self, openssl::error::ErrorStack> {
        b.set_session_id_context(b"hisp-mllp")?;
        b.set_session_cache_mode(SslSessionCacheMode::OFF);
        b.set_num_tickets(0)?;
        b.set_options(SslOptions::NO_RENEGOTIATION | SslOptions::NO_TICKET);
        b.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
        Ok(Self(Arc::new(b.build())))
    }

    /// The acceptor of `[mllp] tls`: the server certificate and key of
    /// `[smtp] tls_cert` and `tls_key`.
    pub fn from_config(config: &crate::config::Config) -> Result<Self, OpsError> {
        let b = crate::smtp::tls_acceptor_builder(config)?;
        Self::new(b).map_err(|e| OpsError::Invalid(format!("[mllp] tls: {e}")))
    }
}

/// The server side of a TLS handshake, bounded in time.
async fn handshake(
    acceptor: &Acceptor,
    stream: TcpStream,
) -> std::io::Result<SslStream<TcpStream>> {
    let ssl = Ssl::new(acceptor.0.context()).map_err(std::io::Error::other)?;
    let mut tls = SslStream::new(ssl, stream).map_err(std::io::Error::other)?;
    match tokio::time::timeout(HANDSHAKE, Pin::new(&mut tls).accept()).await {
        Ok(Ok(())) => Ok(tls),
        Ok(Err(e)) => Err(std::io::Error::other(format!("TLS handshake failed: {e}"))),
        Err(_) => Err(std::io::Error::other("TLS handshake timed out")),
    }
}

/// The SHA-256 fingerprint of the certificate the client presented in
/// the handshake, if any.
fn client_certificate(stream: &SslStream<TcpStream>) -> Option<Fingerprint> {
    let der = stream.ssl().peer_certificate()?.to_der().ok()?;
    Some(pins::fingerprint(&der))
}

/// How long a TLS handshake may take.
const HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(10);

/// What one MLLP connection may hold, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A connection is closed this long after its last answered frame
    /// (once the reply is written). Bytes outside any frame (junk, stray
    /// `<CR>`s) do not count: before, any byte restarted it, so one byte
    /// every `idle` held a connection forever.
    pub idle: Duration,
    /// A connection that has had no frame answered this long after it
    /// opened is closed (or after `idle`, should that be shorter): an
    /// interface engine connects to send, so a connection that sends no
    /// message does not hold a slot for all of `idle`.
    pub first_frame: Duration,
    /// A frame must end (`<EB>`) this long after it began (its first `<SB>`
    /// since the last answered frame), or the connection is closed: a
    /// sender dripping a frame, or `<SB>`s that cut each other short,
    /// cannot hold its buffer forever.
    pub frame: Duration,
    /// Writing an ACK (to a peer that does not read) may take this long.
    pub ack_write: Duration,
    /// A message's ACK is ready this long after its frame at the latest:
    /// should the store not commit it by then (PostgreSQL waiting on a lock
    /// a migration or `VACUUM FULL` holds, a database cut off without a
    /// reset, SQLite's writer held by a long import), the sender is told
    /// "temporary failure; send again" rather than left waiting, holding
    /// its connection's slot, for as long as the store hangs. Safe: a
    /// commit that lands after all makes the resend a duplicate, answered
    /// with the stored AA.
    pub reply: Duration,
    /// Open MLLP connections in all, beside `[mllp] max_connections_per_ip`.
    pub max_connections: usize,
}

impl Limits {
    /// The limits `hisp serve` uses. An interface engine on a LAN or VPN
    /// sends a whole frame in milliseconds; 60 s still lets a 1 MiB frame
    /// (`[notify] max_frame`) through at 140 kbit/s. An engine sends as soon
    /// as it connects, so 60 s for the first frame gives it the same time as
    /// a frame under way; one that connects ahead of its first message just
    /// connects again when it has one. Between messages an engine keeps its
    /// connection open, for up to 10 minutes here. 512 connections is
    /// several per feed for hundreds of feeds, while the buffers they may
    /// hold (up to `max_frame` each) stay within half a GiB.
    pub const DEFAULT: Self = Self {
        idle: Duration::from_secs(600),
        first_frame: Duration::from_secs(60),
        frame: Duration::from_secs(60),
        ack_write: Duration::from_secs(30),
        reply: Duration::from_secs(20),
        max_connections: 512,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Read frames and answer each with its ACK, in order. `cert`: the
/// fingerprint of the client certificate presented over TLS.
pub async fn connection<S>(
    n: &Notifier,
    mut stream: S,
    peer: SocketAddr,
    cert: Option<Fingerprint>,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limits = n.mllp_limits;
    let mut framer = Framer::new(n.gw.hisp.config.notify.max_frame.max(1024));
    let mut buf = vec![0u8; 64 * 1024];
    let mut timer = Timer::new(limits, Instant::now());
    let mut problems = FramingProblems::new(peer);
    loop {
        let (wait, limit) = timer.wait(Instant::now());
        // Checked before reading, so a peer whose bytes are always ready
        // (a flood of junk) is closed too.
        let read = if wait.is_zero() {
            None
        } else {
            tokio::time::timeout(wait, stream.read(&mut buf)).await.ok()
        };
        let Some(got) = read else {
            limit.log(peer, limits);
            close(&mut stream, limits).await;
            return Ok(());
        };
        let got = got?;
        if got == 0 {
            close(&mut stream, limits).await;
            return Ok(());
        }
        framer.push(buf.get(..got).unwrap_or(&[]));
        let mut answered = false;
        while let Some(frame) = framer.next_frame() {
            let reply = match frame {
                Ok(bytes) => {
                    let from = Peer {
                        ip: peer.ip(),
                        cert,
                    };
                    match tokio::time::timeout(limits.reply, n.reply(&bytes, from)).await {
                        Ok(reply) => Some(reply),
                        Err(_) => {
                            tracing::error!(
                                %peer,
                                secs = limits.reply.as_secs(),
                                "ADT message not committed in time: answered as a \
                                 temporary failure"
                            );
                            Some(n.unavailable(&bytes))
                        }
                    }
                }
                Err(e) => {
                    problems.note(&e);
                    n.frame_error(&e)
                }
            };
            if let Some(reply) = reply {
                answered = true;
                write_bounded(&mut stream, &hl7::frame(&reply), limits).await?;
            }
        }
        timer.read(Instant::now(), answered, framer.mid_frame());
    }
}

/// End the connection's sending side, at a time limit or after the peer
/// ended theirs: over TLS with a close_notify (RFC 8446 §6.1: each side
/// sends one before closing its write side), so the engine can tell the
/// end of the stream from a connection cut (OpenSSL 3 reports one without
/// it as "unexpected eof"); over TCP a FIN, as dropping it would. Bounded
/// by `ack_write`: a peer that reads nothing does not hold the connection.
async fn close<S: AsyncWrite + Unpin>(stream: &mut S, limits: Limits) {
    let _ = tokio::time::timeout(limits.ack_write, stream.shutdown()).await;
}

/// The framing problems of one connection: junk between frames is logged
/// at WARN up to [`FramingProblems::WARNED`] times, oversized frames (each
/// a message refused with AR, so an admin needs to see them even on an
/// engine's connection open for weeks) up to [`FramingProblems::REFUSED`]
/// times; past that they are only counted, and the counts are logged once,
/// when the connection ends. A peer sending frame starts (`<VT>MSH`) over
/// and over makes one problem of each (a frame cut short), so without the
/// cap one 64 KiB read could write 16,384 WARN lines.
struct FramingProblems {
    peer: SocketAddr,
    /// Junk seen.
    junk: u64,
    /// Oversized frames seen.
    refused: u64,
}

impl FramingProblems {
    /// Junk logged one by one per connection.
    const WARNED: u64 = 10;
    /// Oversized frames logged one by one per connection.
    const REFUSED: u64 = 100;

    fn new(peer: SocketAddr) -> Self {
        Self {
            peer,
            junk: 0,
            refused: 0,
        }
    }

    /// Count `e`, and log it unless the connection has had its share of
    /// its kind.
    fn note(&mut self, e: &hl7::FrameError) {
        let (seen, cap) = match e {
            hl7::FrameError::TooLarge { .. } => (&mut self.refused, Self::REFUSED),
            _ => (&mut self.junk, Self::WARNED),
        };
        *seen += 1;
        if *seen <= cap {
            tracing::warn!(peer = %self.peer, error = %e, "MLLP framing problem");
            if *seen == cap {
                tracing::warn!(
                    peer = %self.peer,
                    "further MLLP framing problems of this kind on this connection are counted, \
                     not logged"
                );
            }
        }
    }

    /// How many problems went unlogged.
    fn unlogged(&self) -> u64 {
        self.junk.saturating_sub(Self::WARNED) + self.refused.saturating_sub(Self::REFUSED)
    }
}

impl Drop for FramingProblems {
    fn drop(&mut self) {
        let unlogged = self.unlogged();
        if unlogged > 0 {
            tracing::warn!(
                peer = %self.peer,
                unlogged,
                junk = self.junk,
                oversized = self.refused,
                "MLLP connection ended after framing problems not logged one by one"
            );
        }
    }
}

/// The time limits of one connection ([`Limits`]), sans I/O: told when
/// frames were answered and whether one is under way, it says how long the
/// next read may wait and which limit that is.
#[derive(Debug, Clone, Copy)]
struct Timer {
    limits: Limits,
    /// When the connection opened.
    opened: Instant,
    /// When the last frame was answered (its reply written); `None` before
    /// the first. Junk between frames gets no answer and moves nothing.
    answered: Option<Instant>,
    /// When the frame under way began: its first `<SB>` since the last
    /// answered frame (a frame cut short by another `<SB>` is junk, and
    /// does not begin the time again).
    frame_began: Option<Instant>,
}

/// Which time limit closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// No frame answered within `first_frame` (or `idle`) of opening.
    FirstFrame,
    /// No frame answered within `idle` of the last.
    Idle,
    /// A frame not ended within `frame` of its `<SB>`.
    Frame,
}

impl Timer {
    fn new(limits: Limits, now: Instant) -> Self {
        Self {
            limits,
            opened: now,
            answered: None,
            frame_began: None,
        }
    }

    /// How long the next read may wait at `now` (zero: the time is up),
    /// and the limit that is. A frame under way has `frame` from its `<SB>`
    /// (not cut short by the idle limit); before the first answered frame,
    /// `first_frame` from the opening bounds it too.
    fn wait(&self, now: Instant) -> (Duration, Expiry) {
        let left = |since: Instant, limit: Duration| {
            limit.saturating_sub(now.saturating_duration_since(since))
        };
        let quiet = match self.answered {
            None => {
                let limit = self.limits.first_frame.min(self.limits.idle);
                (left(self.opened, limit), Expiry::FirstFrame)
            }
            Some(at) => (left(at, self.limits.idle), Expiry::Idle),
        };
        let Some(began) = self.frame_began else {
            return quiet;
        };
        let frame = (left(began, self.limits.frame), Expiry::Frame);
        match self.answered {
            None if quiet.0 < frame.0 => quiet,
            _ => frame,
        }
    }

    /// After a read: whether any frame was answered (at `now`, its reply
    /// written), and whether a frame is under way.
    fn read(&mut self, now: Instant, answered: bool, mid_frame: bool) {
        if answered {
            self.answered = Some(now);
        }
        self.frame_began = match (mid_frame, self.frame_began) {
            (false, _) => None,
            (true, Some(began)) if !answered => Some(began),
            (true, _) => Some(now),
        };
    }
}

impl Expiry {
    fn log(self, peer: SocketAddr, limits: Limits) {
        match self {
            Self::FirstFrame => {
                let secs = limits.first_frame.min(limits.idle).as_secs();
                tracing::info!(%peer, secs, "MLLP connection sent no message in time: closed");
            }
            Self::Idle => {
                let secs = limits.idle.as_secs();
                tracing::info!(%peer, secs, "MLLP connection idle too long: closed");
            }
            Self::Frame => {
                let secs = limits.frame.as_secs();
                tracing::info!(%peer, secs, "MLLP frame not ended in time: closed");
            }
        }
    }
}

/// Write `bytes` (and flush) within `limits.ack_write`.
async fn write_bounded<S>(stream: &mut S, bytes: &[u8], limits: Limits) -> std::io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    let write = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    match tokio::time::timeout(limits.ack_write, write).await {
        Ok(done) => done,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the peer did not take its ACK in time",
        )),
    }
}

fn ack(header: &Header, code: AckCode, error: Option<AckError>, now: i64) -> String {
    hl7::build_ack(
        header,
        code,
        error.as_ref(),
        &hl7::ack_control_id(header),
        now,
    )
}

/// What tells a retry from another message under the same key: SHA-256
/// (hex) of the message as text (a Latin-1 copy and a UTF-8 one of the same
/// message are one), in ER7's own form (`hl7::canonical`: line ends and a
/// BOM do not count), each segment without trailing field separators (an
/// engine that serialises again may drop them), and MSH-7 blanked, since
/// engines stamp a resend with the time it is sent.
fn content_digest(raw: &[u8]) -> String {
    let canonical = hl7::canonical(raw);
    let (text, _) = hl7::er7::decode(&canonical);
    let sep = text
        .strip_prefix("MSH")
        .and_then(|rest| rest.chars().next())
        .unwrap_or('|');
    let mut buf = [0u8; 4];
    let sep_bytes = sep.encode_utf8(&mut buf).as_bytes();
    let mut hasher = openssl::sha::Sha256::new();
    for (i, segment) in text.split('\r').enumerate() {
        let segment = segment.trim_end_matches(sep);
        if i == 0 && segment.starts_with("MSH") {
            for (n, field) in segment.split(sep).enumerate() {
                // Field 6 of the split is MSH-7 (MSH-1 is the separator).
                if n != 6 {
                    hasher.update(field.as_bytes());
                }
                hasher.update(sep_bytes);
            }
        } else {
            hasher.update(segment.as_bytes());
        }
        hasher.update(b"\r");
    }
    crate::store::seal::hex_encode(&hasher.finish())
}

fn err(code: ErrorCode, message: &str) -> Option<AckError> {
    Some(AckError {
        code,
        message: message.to_string(),
        location: None,
    })
}

impl Notifier {
    /// The answer to a frame that could not be taken whole (too large): an AR,
    /// so a sender waiting for every ACK does not wait forever, addressed
    /// from its first segment when that is a readable MSH (MSA-2 its MSH-10,
    /// sender and receiver swapped, its version), so an engine that matches
    /// ACKs by control id knows which message was refused. Written in the
    /// segment's own charset, as [`Self::reply`] writes every other ACK, so
    /// a Latin-1 MSH-10 comes back as the bytes sent. Skipped garbage
    /// between frames gets no answer.
    fn frame_error(&self, e: &hl7::FrameError) -> Option<Vec<u8>> {
        let hl7::FrameError::TooLarge { head, .. } = e else {
            return None;
        };
        let header = hl7::parse(head).map_or_else(|_| Header::of_unparsed(head), |m| m.header());
        let why = format!(
            "the message is larger than {} bytes",
            self.gw.hisp.config.notify.max_frame
        );
        let ack = ack(
            &header,
            AckCode::AR,
            err(ErrorCode::ApplicationInternalError, &why),
            self.gw.hisp.now(),
        );
        Some(hl7::ack_bytes(&ack, hl7::Charset::of(head)).into_owned())
    }

    /// Why a message's MSH-11 keeps it out, if it does: its processing id
    /// (MSH-11.1) is not `[mllp] processing_id`. A hospital's test engine
    /// pointed at production sends training or debugging messages (`T`, `D`)
    /// about patients and events that are not real, often copies of real
    /// PHI; taken, they would alert care managers about visits that never
    /// happened. HL7 v2 ch. 2: the receiver checks MSH-11 and answers AR
    /// (table 0357 code 202) when it cannot take it. An empty MSH-11 (not
    /// conformant, but sent by some engines) is taken as production.
    fn unaccepted_processing(&self, header: &Header) -> Option<String> {
        let wanted = self.gw.hisp.config.mllp.processing_id.trim();
        let given = header.processing_id.trim();
        let given = if given.is_empty() || given == "\"\"" {
            "P"
        } else {
            given
        };
        (!given.eq_ignore_ascii_case(wanted)).then(|| {
            format!(
                "processing id {} is not taken here (this listener takes {wanted}); send \
                 training and debugging messages to a test system",
                given.chars().take(16).collect::<String>()
            )
        })
    }

    /// The ACK for one received frame as sent: [`Self::receive`]'s, in the
    /// frame's own charset ([`hl7::ack_bytes`]), so MSA-2 is the bytes the
    /// sender sent, Latin-1 or UTF-8. A retry's stored ACK too: the store
    /// keeps text, written here for the copy being answered.
    pub async fn reply(&self, bytes: &[u8], peer: impl Into<Peer>) -> Vec<u8> {
        let ack = self.receive(bytes, peer).await;
        hl7::ack_bytes(&ack, hl7::Charset::of(bytes)).into_owned()
    }

    /// The reply to a frame the store could not commit in time: "temporary
    /// failure; send again" (AR, or CE in enhanced mode), naming it.
    pub fn unavailable(&self, bytes: &[u8]) -> Vec<u8> {
        let header = match hl7::parse(bytes) {
            Ok(msg) => msg.header(),
            Err(_) => Header::of_unparsed(bytes),
        };
        let ack = unavailable(&header, self.gw.hisp.now());
        hl7::ack_bytes(&ack, hl7::Charset::of(bytes)).into_owned()
    }

    /// The ACK for one received frame from a peer at `peer` (committing it
    /// first when it is new).
    pub async fn receive(&self, bytes: &[u8], peer: impl Into<Peer>) -> String {
        let peer = peer.into();
        let now = self.gw.hisp.now();
        let msg = match hl7::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "unparseable HL7 message");
                // MSA-2 still names the message when MSH-1 can be read.
                // Table 0357: unusable encoding characters (MSH-2) are a
                // data type error; no MSH first, a segment sequence error.
                let code = match e {
                    hl7::ParseError::BadEncodingChars { .. } => ErrorCode::DataType,
                    _ => ErrorCode::SegmentSequence,
                };
                return ack(
                    &Header::of_unparsed(bytes),
                    AckCode::AE,
                    err(code, &e.to_string()),
                    now,
                );
            }
        };
        let header = msg.header();
        // One message per frame (MLLP): a second MSH is another message
        // (a file sent whole, a batch not split). Taken as one, the first
        // was acknowledged and the rest stored inside it, never processed,
        // its PID travelling in the first's alert attachment.
        // A message glued to the end of another's last segment (files
        // joined by `cat` without a final line ending) hides its MSH inside
        // that segment: it is found by its header's opening, `MSH|^~\&|`
        // with this message's own separators, which escaped content cannot
        // hold.
        let messages = msg.segments().filter(|s| s.name() == "MSH").count() + glued_headers(&msg);
        if messages > 1 {
            let why = format!(
                "the frame holds {messages} messages (MSH segments); send one message per frame"
            );
            return ack(
                &header,
                AckCode::AE,
                err(ErrorCode::SegmentSequence, &why),
                now,
            );
        }
        if !adt::supported(&header.message_type) {
            let why = format!(
                "message type {} is not accepted here (ADT only)",
                header.message_type
            );
            return ack(
                &header,
                AckCode::AR,
                err(ErrorCode::UnsupportedMessageType, &why),
                now,
            );
        }
        if let Some(why) = self.unaccepted_processing(&header) {
            return ack(
                &header,
                AckCode::AR,
                err(ErrorCode::UnsupportedProcessingId, &why),
                now,
            );
        }
        if let Some((code, why)) = unusable_key(&header) {
            return ack(&header, AckCode::AR, err(code, &why), now);
        }
        // An ADT that names no patient can never alert, nor be merged:
        // acknowledged AA, the engine's log would call it delivered while
        // the worker dropped it. AE says what is missing, and where.
        if !adt::has_no_patient(&header.trigger_event) && !adt::names_patient(&msg) {
            let missing = AckError {
                code: ErrorCode::RequiredFieldMissing,
                message: adt::AdtError::NoPatient.to_string(),
                location: Some(ErrorLocation {
                    segment: "PID".into(),
                    sequence: 1,
                    field: 3,
                }),
            };
            return ack(&header, AckCode::AE, Some(missing), now);
        }
        match self.commit(&header, bytes, now, peer).await {
            Ok(a) => a,
            // The database refused this message's statement (the data's
            // doing, whatever the checks above missed): an error in it.
            Err(Failed { refused: true }) => ack(
                &header,
                AckCode::AE,
                err(
                    ErrorCode::ApplicationInternalError,
                    "the message could not be stored",
                ),
                now,
            ),
            // The store is out of reach: nothing wrong with the message.
            Err(Failed { refused: false }) => unavailable(&header, now),
        }
    }

    /// Commit one message (group commit): the message joins the pending
    /// batch; whichever caller holds the commit turn stores everything
    /// pending in one transaction (one fsync for many messages) and answers
    /// each waiter. Returns the ACK once the message is durable.
    async fn commit(
        &self,
        header: &Header,
        bytes: &[u8],
        now: i64,
        peer: Peer,
    ) -> Result<String, Failed> {
        let (reply, answer) = oneshot::channel();
        // Built here, on the connection's task, so the commit turn only
        // writes (and a message from an unregistered feed wastes it).
        let accepted = ack(header, AckCode::AA, None, now);
        self.intake.push(Pending {
            header: header.clone(),
            raw: bytes.to_vec(),
            digest: content_digest(bytes),
            now,
            peer,
            accepted,
            reply,
        });
        let mut answer = answer;
        // Either a batch in progress answers us, or we take the turn and
        // commit everything pending ourselves (our message included).
        let answered = tokio::select! {
            biased;
            a = &mut answer => a,
            turn = self.intake.turn.clone().lock_owned() => {
                if self.intake.waiting() {
                    // Spawned, the turn moved into it: should this sender
                    // stop waiting (its reply limit), the group commit still
                    // runs to its end, answering the others, and the turn
                    // is held until then. Dropped half way, it could leave a
                    // write transaction open on a pooled connection, or
                    // answer the others "temporary failure" for messages it
                    // then committed.
                    let me = self.clone();
                    let run = tokio::spawn(async move {
                        me.commit_pending().await;
                        drop(turn);
                    });
                    let _ = run.await;
                } else {
                    drop(turn);
                }
                answer.await
            }
        };
        match answered {
            Ok(reply) => reply,
            Err(_) => Err(Failed { refused: false }),
        }
    }

    /// Commit what is pending, holding the commit turn. The registered
    /// feeds are read first, on a pooled connection; the messages are taken
    /// only once the write transaction has begun, so those that arrived
    /// while it waited for SQLite's one writer share its turn (a turn costs
    /// about the same for one message as for twenty).
    async fn commit_pending(&self) {
        let feeds = match self.feeds().await {
            Ok(f) => f,
            Err(e) => return self.fail_pending(&e),
        };
        let tx = match self.begin_intake().await {
            Ok(tx) => tx,
            Err(e) => return self.fail_pending(&e),
        };
        let batch = self.intake.take();
        if batch.is_empty() {
            // Every sender stopped waiting (each told "temporary failure").
            return;
        }
        self.commit_batch(tx, &feeds, batch).await;
    }

    /// A transaction for the intake's commit. On PostgreSQL it waits for a
    /// lock no longer than the reply limit (`lock_timeout`): a table lock a
    /// migration or `VACUUM FULL` holds fails the commit with 55P03 (out of
    /// reach: "temporary failure"), so the commit turn and its connection
    /// are given back, and a batch whose senders were told to send again
    /// is not committed long after (at most about one reply limit; a
    /// resend is then a duplicate, answered with the stored ACK). Before,
    /// it waited as long as the lock was held, the turn with it, so every
    /// message meanwhile waited the whole reply limit.
    async fn begin_intake(&self) -> Result<crate::store::Tx, OpsError> {
        let store = &self.gw.hisp.store;
        let mut tx = store.begin().await?;
        if store.engine() == crate::store::Engine::Postgres {
            // PostgreSQL takes at most i32::MAX ms (about 24 days).
            let ms = self
                .mllp_limits
                .reply
                .as_millis()
                .clamp(1, i32::MAX as u128)
                .to_string();
            sqlx::query("SELECT set_config('lock_timeout', $1, true)")
                .bind(ms)
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    /// Answer everything pending with the store's failure `e`.
    fn fail_pending(&self, e: &OpsError) {
        tracing::error!(error = %e, "cannot commit ADT messages");
        let failed = Failed::of(e);
        for p in self.intake.take() {
            let _ = p.reply.send(Err(failed));
        }
    }

    /// The registered feeds' facilities, lowercase, each with the
    /// addresses its messages may come from and the client certificates
    /// they may come over (`None`: a list that does not read, which allows
    /// none).
    async fn feeds(&self) -> Result<Feeds, OpsError> {
        let mut conn = self.gw.hisp.conn().await?;
        Ok(notify::feeds(&mut conn)
            .await?
            .into_iter()
            .map(|f| {
                let unread = |what: &str, e: &str, fix: &str| {
                    tracing::error!(
                        facility = %f.facility,
                        error = %e,
                        "feed's {what} does not read: its messages are refused \
                         (set it again with `hisp feed {fix}`)"
                    );
                };
                let allow = Allowed::from_stored(f.allow_from.as_deref())
                    .inspect_err(|e| unread("allow-list", e, "allow"))
                    .ok();
                let pins = CertPins::from_stored(f.client_certs.as_deref())
                    .inspect_err(|e| unread("client certificate list", e, "pin"))
                    .ok();
                let gate = allow.zip(pins);
                (f.facility, gate)
            })
            .collect())
    }

    /// Commit a batch in `tx`; should that fail, commit its messages one by
    /// one, so one message the store refuses (whatever the up-front checks
    /// missed) fails only itself, not every message that happened to share
    /// its commit (each of which would get AE, be sent again, and meet the
    /// bad one again).
    async fn commit_batch(&self, tx: crate::store::Tx, feeds: &Feeds, batch: Vec<Pending>) {
        let mut inserted = false;
        let replies: Vec<Result<String, Failed>> = match self.store_batch(tx, feeds, &batch).await {
            Ok((acks, new)) => {
                inserted = new;
                acks.into_iter().map(Ok).collect()
            }
            // Only when the database refused a statement (the data's
            // doing): a store that is down or timing out would fail each
            // message again, holding every sender for as many timeouts.
            Err(e) if batch.len() > 1 && refused(&e) => {
                tracing::warn!(error = %e, messages = batch.len(), "group commit failed: committing its ADT messages one by one");
                let mut each = Vec::with_capacity(batch.len());
                let mut down: Option<Failed> = None;
                for p in &batch {
                    if let Some(failed) = &down {
                        each.push(Err(*failed));
                        continue;
                    }
                    let one = match self.begin_intake().await {
                        Ok(tx) => self.store_batch(tx, feeds, std::slice::from_ref(p)).await,
                        Err(e) => Err(e),
                    };
                    each.push(match one {
                        Ok((acks, new)) => {
                            inserted |= new;
                            acks.into_iter().next().ok_or(Failed { refused: false })
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "cannot commit an ADT message");
                            let failed = Failed::of(&e);
                            // A deadlock is this message's moment, not the
                            // store down: the rest are still tried.
                            if !failed.refused && !conflicted(&e) {
                                down = Some(failed);
                            }
                            Err(failed)
                        }
                    });
                }
                each
            }
            Err(e) if batch.len() > 1 => {
                tracing::error!(error = %e, messages = batch.len(), "cannot commit ADT messages");
                let failed = Failed::of(&e);
                batch.iter().map(|_| Err(failed)).collect()
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot commit an ADT message");
                vec![Err(Failed::of(&e))]
            }
        };
        for (p, reply) in batch.into_iter().zip(replies) {
            let _ = p.reply.send(reply);
        }
        if inserted {
            self.ready.notify_one();
        }
    }

    /// Store a batch in one transaction; the ACK for each, and whether any
    /// message was new.
    async fn store_batch(
        &self,
        mut tx: crate::store::Tx,
        feeds: &Feeds,
        batch: &[Pending],
    ) -> Result<(Vec<String>, bool), OpsError> {
        let hisp = &self.gw.hisp;
        // Every message from a registered feed goes into one multi-row insert
        // that skips keys already taken; the rest are answered from the store.
        let mut acks: Vec<Option<String>> = vec![None; batch.len()];
        let mut new_rows = Vec::new();
        // Messages naming a registered facility from an address its feed
        // does not allow, or over a client certificate it does not pin:
        // refused below as an unregistered facility's are, after the same
        // look-up of their key (the same words and the same work, so a
        // prober learns nothing of which are registered), and logged for
        // the admin with the address and the certificate.
        let mut not_allowed = vec![false; batch.len()];
        for (i, p) in batch.iter().enumerate() {
            let facility = p.header.sending_facility.id().to_ascii_lowercase();
            match feeds.get(&facility) {
                Some(Some((allow, pins)))
                    if allow.permits(p.peer.ip) && pins.permits(p.peer.cert.as_ref()) =>
                {
                    new_rows.push((i, p.accepted.clone()));
                }
                Some(_) => {
                    let cert = p.peer.cert.as_ref().map_or("none".into(), pins::shown);
                    tracing::warn!(
                        facility = %facility,
                        peer = %p.peer.ip,
                        client_cert = %cert,
                        "ADT from an address or client certificate its facility's feed \
                         does not allow refused"
                    );
                    if let Some(slot) = not_allowed.get_mut(i) {
                        *slot = true;
                    }
                }
                None => {}
            }
        }
        let items: Vec<notify::NewAdt<'_>> = new_rows
            .iter()
            .filter_map(|(i, reply)| {
                let p = batch.get(*i)?;
                Some(notify::NewAdt {
                    key: key(p),
                    ack: reply,
                    raw: &p.raw,
                    digest: &p.digest,
                    now: p.now,
                })
            })
            .collect();
        // In arrival order: the rows' ids are the order a feed's messages
        // take effect in (`claim_adt`), so no sort by key here, whatever
        // locking order that would give two nodes inserting overlapping
        // keys (a deadlock is answered "temporary failure", `Failed::of`).
        let taken = notify::insert_adts_if_new(&mut tx, hisp.store.sealer(), &items).await?;
        let inserted = !taken.is_empty();
        // The first message of each key taken now gets its own ACK; any other
        // copy (a retry in the same batch) gets that same ACK.
        let mut first: std::collections::HashMap<(String, String, String), (String, &str)> =
            std::collections::HashMap::new();
        for (i, reply) in new_rows {
            let Some(p) = batch.get(i) else { continue };
            let k = key(p);
            let id = (
                k.app.to_string(),
                k.facility.to_string(),
                k.control_id.to_string(),
            );
            if taken.contains(&id) && !first.contains_key(&id) {
                first.insert(id, (reply.clone(), p.digest.as_str()));
                if let Some(slot) = acks.get_mut(i) {
                    *slot = Some(reply);
                }
            }
        }
        for (i, p) in batch.iter().enumerate() {
            if acks.get(i).is_some_and(Option::is_some) {
                continue;
            }
            let k = key(p);
            let id = (
                k.app.to_string(),
                k.facility.to_string(),
                k.control_id.to_string(),
            );
            let taken_by = match first.get(&id) {
                Some((reply, digest)) => Some((reply.clone(), Some(digest.to_string()))),
                None => notify::stored_answer(&mut tx, &k).await?,
            };
            let answer = if not_allowed.get(i).copied().unwrap_or(true) {
                unregistered(p, k.facility)
            } else if let Some((stored, digest)) = taken_by {
                if digest.is_none_or(|d| d == p.digest) {
                    // A retry: the ACK it got the first time (also when its
                    // feed has been removed since).
                    tracing::info!(control_id = %k.control_id, "duplicate ADT message: stored ACK returned");
                    stored
                } else {
                    // Another message under a key already taken (a sender's
                    // counter reset, an edited resend): acknowledged as a
                    // retry, it would never be processed.
                    tracing::warn!(
                        facility = %k.facility,
                        control_id = %k.control_id,
                        "ADT message reuses a control id taken by another message: refused"
                    );
                    let why = format!(
                        "control id {} was already used by another message from this \
                         application and facility; give each message its own MSH-10",
                        k.control_id
                    );
                    ack(
                        &p.header,
                        AckCode::AE,
                        err(ErrorCode::DuplicateKeyIdentifier, &why),
                        p.now,
                    )
                }
            } else {
                tracing::warn!(facility = %k.facility, "ADT from an unregistered facility refused");
                unregistered(p, k.facility)
            };
            if let Some(slot) = acks.get_mut(i) {
                *slot = Some(answer);
            }
        }
        tx.commit().await?;
        Ok((
            acks.into_iter().map(Option::unwrap_or_default).collect(),
            inserted,
        ))
    }
}

/// Did the database refuse a statement (a constraint, a value it cannot
/// hold, a trigger), as opposed to being out of reach?
fn refused(e: &OpsError) -> bool {
    match e {
        OpsError::Store(crate::store::StoreError::Db(sqlx::Error::Database(db))) => {
            let sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
            !db.code().is_some_and(|c| out_of_reach(sqlite, &c))
        }
        _ => false,
    }
}

/// Whether a database error code says the store is out of reach for now,
/// whatever the data: SQLite's BUSY and LOCKED (a writer held the database
/// past the busy timeout, such as a large roster import from the CLI),
/// READONLY, IOERR, FULL and CANTOPEN (their primary codes, under any
/// extended code); PostgreSQL's connection (08), resource (53), operator
/// (57: shutdown, query cancelled), system (58) classes and 55P03 (lock not
/// available). Such an error fails the whole batch at once: committing its
/// messages one by one would meet it again for each, holding every sender
/// (and the intake's turn) for as many timeouts. A deadlock or
/// serialization failure (40P01, 40001) stays retryable one by one.
fn out_of_reach(sqlite: bool, code: &str) -> bool {
    if sqlite {
        code.parse::<i64>()
            .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 8 | 10 | 13 | 14))
    } else {
        ["08", "53", "57", "58"].iter().any(|c| code.starts_with(c)) || code == "55P03"
    }
}

/// The dedup key of a pending message: MSH-3's identity ([`app_key`]),
/// MSH-4's (HD.1, else HD.2: [`Hd::id`](crate::hl7::Hd::id)) and the whole
/// of MSH-10 as written (`Header::control_id_wire`: escapes kept, so `123~A`
/// and `123\R\A` are two messages; a plain id is its own text, as before).
fn key(p: &Pending) -> AdtKey<'_> {
    AdtKey {
        app: app_key(&p.header),
        facility: p.header.sending_facility.id(),
        control_id: &p.header.control_id_wire,
    }
}

/// MSH-3 as keyed: HD.1 as written when it is valued, else HD.2
/// ([`Hd::id`](crate::hl7::Hd::id)), so two applications known only by
/// their OIDs (`^1.2.3.1^ISO`, `^1.2.3.2^ISO`) are two senders. Before,
/// only HD.1 was keyed: the second's message was taken for a retry of the
/// first's with the same MSH-10, answered with its stored ACK and never
/// processed. A valued HD.1 keys as it always did.
fn app_key(h: &Header) -> &str {
    let hd1 = h.sending_app.namespace_id.trim();
    if hd1.is_empty() || hd1 == "\"\"" {
        h.sending_app.id()
    } else {
        &h.sending_app.namespace_id
    }
}

/// The longest MSH-10 taken: HL7 v2.7's 199 characters.
pub const MAX_CONTROL_ID: usize = 199;
/// The longest MSH-3 and MSH-4 identity taken: 227 characters (a whole
/// HD's length in v2.5). With MSH-10 that keeps the dedup key under
/// PostgreSQL's btree entry limit (about 2.7 KB) even in 4-byte UTF-8.
pub const MAX_HD_ID: usize = 227;

/// Why a message's dedup key cannot be stored (answered AR, never stored):
/// MSH-4 or MSH-10 missing (every later message would look like a retry of
/// this one), an ASCII control character in MSH-3, MSH-4 or MSH-10 (raw or
/// escaped as `\X00\`: PostgreSQL refuses NUL in text, and no identifier
/// holds one), or one of them too long for the key's index.
fn unusable_key(h: &Header) -> Option<(ErrorCode, String)> {
    let parts = [
        ("MSH-3 (sending application)", app_key(h), MAX_HD_ID),
        (
            "MSH-4 (sending facility)",
            h.sending_facility.id(),
            MAX_HD_ID,
        ),
        (
            "MSH-10 (message control id)",
            h.control_id.as_str(),
            MAX_CONTROL_ID,
        ),
        // As keyed: escapes written out may make it longer.
        (
            "MSH-10 (message control id)",
            h.control_id_wire.as_str(),
            MAX_CONTROL_ID,
        ),
    ];
    // `""` is HL7's explicit null: no id either.
    let control_id = h.control_id.trim();
    if control_id.is_empty() || control_id == "\"\"" || h.sending_facility.id().is_empty() {
        let why = "MSH-4 (sending facility) and MSH-10 (message control id) are required";
        return Some((ErrorCode::RequiredFieldMissing, why.to_string()));
    }
    for (name, value, max) in parts {
        // ASCII's (C0 and DEL) only: a Latin-1 message's 0x80-0x9F bytes
        // read as C1 controls, but are Windows-1252's quotes and dashes as
        // sent (`ST MARY\x92S`), which PostgreSQL stores as any other
        // character. Before, they were refused with AR, which engines read
        // as "never send this again".
        if value.chars().any(|c| c.is_ascii_control()) {
            return Some((
                ErrorCode::DataType,
                format!("{name} holds a control character"),
            ));
        }
        if value.chars().count() > max {
            return Some((
                ErrorCode::ValueTooLong,
                format!("{name} is longer than {max} characters"),
            ));
        }
    }
    None
}

/// A received message waiting for its batch to commit.
struct Pending {
    header: Header,
    raw: Vec<u8>,
    /// [`content_digest`] of `raw`.
    digest: String,
    now: i64,
    /// Where it came from.
    peer: Peer,
    /// Its ACK should it be committed as new (AA).
    accepted: String,
    reply: oneshot::Sender<Result<String, Failed>>,
}

/// The facilities of the feeds that take messages from any address and
/// any client, when the listener at `listen` is reachable from beyond this
/// host (not loopback): `serve` warns of each as it starts.
pub fn open_feeds(listen: SocketAddr, feeds: &[notify::FeedRow]) -> Vec<&str> {
    if listen.ip().is_loopback() {
        return Vec::new();
    }
    feeds
        .iter()
        .filter(|f| f.allow_from.is_none() && f.client_certs.is_none())
        .map(|f| f.facility.as_str())
        .collect()
}

/// The facilities of the feeds that pin client certificates when the
/// listener does not speak TLS (`[mllp] tls` off): no message of theirs
/// can be taken, and `serve` says so as it starts.
pub fn pinned_without_tls(tls: bool, feeds: &[notify::FeedRow]) -> Vec<&str> {
    feeds
        .iter()
        .filter(|f| !tls && f.client_certs.is_some())
        .map(|f| f.facility.as_str())
        .collect()
}

/// The registered feeds by facility (lowercase), each with the addresses
/// its messages may come from and the client certificates they may come
/// over (`None`: none, one of its lists did not read).
type Feeds = std::collections::HashMap<String, Option<(Allowed, CertPins)>>;

/// Who sent a message: the TCP peer's address and, over TLS, the
/// fingerprint of the client certificate it presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The peer's address.
    pub ip: IpAddr,
    /// The SHA-256 fingerprint of its client certificate.
    pub cert: Option<Fingerprint>,
}

impl From<IpAddr> for Peer {
    /// A peer without a client certificate (plain MLLP).
    fn from(ip: IpAddr) -> Self {
        Self { ip, cert: None }
    }
}

/// The AR to a message whose facility (`facility`, as keyed) is not a
/// registered feed, or not one sent from the message's address.
fn unregistered(p: &Pending, facility: &str) -> String {
    let why = format!("sending facility '{facility}' is not a registered feed");
    ack(
        &p.header,
        AckCode::AR,
        err(ErrorCode::UnknownKeyIdentifier, &why),
        p.now,
    )
}

/// Why a message was not committed: the database refused its statement
/// (`refused`, the data's doing: AE), or the store is out of reach (AR in
/// original mode, CE in enhanced: [`AckCode::Unavailable`]).
/// (What failed is logged where it failed.)
#[derive(Debug, Clone, Copy)]
struct Failed {
    refused: bool,
}

impl Failed {
    /// A deadlock or serialization failure (PostgreSQL's 40P01, 40001: two
    /// nodes inserting overlapping keys) is the moment's, not the message's:
    /// "temporary failure; send again", not AE "could not be stored", which
    /// tells the engine the message itself is wrong. (A batch of several
    /// meeting one still commits its messages one by one first.)
    fn of(e: &OpsError) -> Self {
        Self {
            refused: refused(e) && !conflicted(e),
        }
    }
}

/// The ACK for a message the store could not take now: "temporary failure;
/// send again" (AR, or CE in enhanced mode; nothing wrong with the message).
fn unavailable(header: &Header, now: i64) -> String {
    ack(
        header,
        AckCode::Unavailable,
        err(
            ErrorCode::ApplicationInternalError,
            "temporary failure; send again",
        ),
        now,
    )
}

/// Whether the store gave up on a transaction for another's sake: a
/// deadlock or serialization failure (40P01, 40001).
fn conflicted(e: &OpsError) -> bool {
    match e {
        OpsError::Store(crate::store::StoreError::Db(sqlx::Error::Database(db))) => db
            .code()
            .is_some_and(|c| c.as_ref() == "40P01" || c.as_ref() == "40001"),
        _ => false,
    }
}

/// The messages waiting to be committed, and the commit turn (group commit).
#[derive(Default)]
pub struct Intake {
    pending: std::sync::Mutex<Vec<Pending>>,
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Intake")
    }
}

impl Intake {
    /// Adds `p`, and drops the messages whose senders stopped waiting (told
    /// "temporary failure" at the reply limit, so they send again): the
    /// list holds only messages someone waits for, however long the store
    /// is out of reach.
    fn push(&self, p: Pending) {
        let mut v = match self.pending.lock() {
            Ok(v) => v,
            Err(poisoned) => poisoned.into_inner(),
        };
        v.retain(|p| !p.reply.is_closed());
        v.push(p);
    }

    /// How many messages wait for their group commit.
    pub(crate) fn len(&self) -> usize {
        match self.pending.lock() {
            Ok(v) => v.len(),
            Err(poisoned) => poisoned.into_inner().len(),
        }
    }

    /// Whether any message waits for a commit turn.
    fn waiting(&self) -> bool {
        match self.pending.lock() {
            Ok(v) => !v.is_empty(),
            Err(poisoned) => !poisoned.into_inner().is_empty(),
        }
    }

    /// The messages pending whose senders still wait: one told "temporary
    /// failure" is not committed behind its back (an engine that takes AR
    /// as final would have it processed anyway).
    fn take(&self) -> Vec<Pending> {
        let mut taken = match self.pending.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        taken.retain(|p| !p.reply.is_closed());
        taken
    }
}

/// How many message headers (`MSH` and the message's own MSH-1, MSH-2,
/// MSH-1) sit inside a segment rather than opening one. Only for an MSH-2
/// with its escape character, whose content cannot hold the opening.
fn glued_headers(msg: &hl7::Message<'_>) -> usize {
    let sep = msg.separators();
    // With no escape character (MSH-2 of one or two characters), content
    // cannot escape the opening, so finding it proves nothing.
    if sep.escape.is_none() {
        return 0;
    }
    let field = char::from(sep.field);
    let opening = format!("MSH{field}{}{field}", sep.encoding_chars());
    msg.segments()
        .map(|s| {
            let raw = s.raw();
            raw.match_indices(opening.as_str())
                .filter(|(at, _)| *at > 0)
                .count()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `MakeWriter` that keeps what is logged.
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(b);
            }
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// What `run` logs, as text.
    fn logged(run: impl FnOnce()) -> String {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, run);
        let bytes = captured.0.lock().map(|v| v.clone()).unwrap_or_default();
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn feeds_open_to_any_address_are_named_only_when_the_port_is_reachable() {
        let feed =
            |facility: &str, allow_from: Option<&str>, certs: Option<&str>| notify::FeedRow {
                id: 1,
                facility: facility.into(),
                name: facility.into(),
                sensitive: false,
                allow_from: allow_from.map(str::to_string),
                client_certs: certs.map(str::to_string),
            };
        let feeds = [
            feed("northhosp", None, None),
            feed("southhosp", Some("192.0.2.0/24"), None),
            feed("easthosp", None, Some(&"ab".repeat(32))),
        ];
        let at = |s: &str| s.parse::<SocketAddr>().expect("addr");
        assert_eq!(open_feeds(at("0.0.0.0:2575"), &feeds), ["northhosp"]);
        assert_eq!(open_feeds(at("[::]:2575"), &feeds), ["northhosp"]);
        assert_eq!(open_feeds(at("10.0.0.5:2575"), &feeds), ["northhosp"]);
        assert!(open_feeds(at("127.0.0.1:2575"), &feeds).is_empty());
        assert!(open_feeds(at("[::1]:2575"), &feeds).is_empty());
        assert_eq!(pinned_without_tls(false, &feeds), ["easthosp"]);
        assert!(pinned_without_tls(true, &feeds).is_empty());
    }

    #[test]
    fn oversized_frames_are_logged_a_hundred_times_then_counted() {
        let mut framer = Framer::new(1024);
        for _ in 0..150 {
            framer.push(&[0x0B]);
            framer.push(&[b'x'; 1100]);
            framer.push(&[0x1C, 0x0D]);
        }
        let peer: SocketAddr = "192.0.2.8:40000".parse().expect("peer");
        let text = logged(|| {
            let mut problems = FramingProblems::new(peer);
            while let Some(frame) = framer.next_frame() {
                if let Err(e) = frame {
                    problems.note(&e);
                }
            }
        });
        let lines: Vec<&str> = text.lines().collect();
        let logged = lines
            .iter()
            .filter(|l| l.contains("exceeds the size limit"))
            .count();
        assert_eq!(logged, 100, "{text}");
        assert_eq!(lines.len(), 102, "{text}");
        let last = lines.last().copied().unwrap_or_default();
        assert!(last.contains("unlogged=50"), "{last}");
        assert!(last.contains("oversized=150"), "{last}");
    }

    #[test]
    fn a_flood_of_stray_start_bytes_logs_ten_lines_and_a_count() {
        // Stray frame starts: each cuts a frame short, one framing problem
        // apiece.
        let mut framer = Framer::new(1024);
        framer.push(&b"\x0BMSH".repeat(1250));
        // Then an oversized frame: a message refused, logged however many
        // problems came before it.
        framer.push(&[0x1C, 0x0D, 0x0B]);
        framer.push(&[b'x'; 2000]);
        framer.push(&[0x1C, 0x0D]);
        let peer: SocketAddr = "192.0.2.7:40000".parse().expect("peer");
        let mut errors = 0;
        let mut junk = 0;
        let text = logged(|| {
            let mut problems = FramingProblems::new(peer);
            while let Some(frame) = framer.next_frame() {
                if let Err(e) = frame {
                    errors += 1;
                    junk += u64::from(matches!(e, hl7::FrameError::Garbage { .. }));
                    problems.note(&e);
                }
            }
        });
        assert!(errors > 1000, "{errors} framing problems");
        let lines: Vec<&str> = text.lines().collect();
        let one_by_one = lines
            .iter()
            .filter(|l| l.contains("MLLP framing problem peer="))
            .count();
        let too_large = lines
            .iter()
            .filter(|l| l.contains("exceeds the size limit"))
            .count();
        assert_eq!(too_large, 1, "{text}");
        assert_eq!(one_by_one, 11, "ten, and the oversized frame: {text}");
        assert_eq!(lines.len(), 13, "{text}");
        let last = lines.last().copied().unwrap_or_default();
        assert!(last.contains(&format!("unlogged={}", junk - 10)), "{last}");
        assert!(last.contains(&format!("junk={junk}")), "{last}");
        assert!(last.contains("oversized=1"), "{last}");
        assert_eq!(errors, junk + 1);
        assert!(last.contains("192.0.2.7:40000"), "{last}");
    }

    #[test]
    fn a_store_out_of_reach_is_told_from_a_statement_refused() {
        for code in ["5", "6", "517", "262", "8", "10", "13", "14"] {
            assert!(out_of_reach(true, code), "SQLite {code}");
        }
        for code in ["19", "2067", "1555", "1", "20"] {
            assert!(!out_of_reach(true, code), "SQLite {code}");
        }
        for code in [
            "08006", "08001", "53100", "57014", "57P01", "58030", "55P03",
        ] {
            assert!(out_of_reach(false, code), "PostgreSQL {code}");
        }
        for code in ["23505", "22001", "40001", "40P01", "42P01"] {
            assert!(!out_of_reach(false, code), "PostgreSQL {code}");
        }
    }

    /// A real SQLite lock held past the busy timeout, as a CLI roster import
    /// holds it: the error is the store's state, not the data's, so a batch
    /// is not committed again message by message.
    #[tokio::test]
    async fn a_locked_sqlite_database_is_out_of_reach() {
        use sqlx::Connection as _;
        // Through the Any driver, as the store connects.
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let mut holder = sqlx::AnyConnection::connect(&url).await.expect("connect");
        let mut other = sqlx::AnyConnection::connect(&url).await.expect("connect");
        sqlx::query("PRAGMA busy_timeout = 0")
            .execute(&mut other)
            .await
            .expect("no busy wait");
        sqlx::query("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .execute(&mut holder)
            .await
            .expect("create");
        sqlx::query("INSERT INTO t VALUES ('a')")
            .execute(&mut holder)
            .await
            .expect("insert");
        let as_ops = |e: sqlx::Error| OpsError::Store(crate::store::StoreError::Db(e));
        // A statement the data makes fail: refused.
        let dup = sqlx::query("INSERT INTO t VALUES ('a')")
            .execute(&mut other)
            .await
            .expect_err("a duplicate key");
        assert!(refused(&as_ops(dup)));
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut holder)
            .await
            .expect("begin");
        let busy = sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut other)
            .await
            .expect_err("the database is locked");
        assert!(!refused(&as_ops(busy)), "BUSY is the store's state");
    }

    const LIMITS: Limits = Limits {
        idle: Duration::from_secs(600),
        first_frame: Duration::from_secs(60),
        frame: Duration::from_secs(60),
        ack_write: Duration::from_secs(30),
        reply: Duration::from_secs(20),
        max_connections: 1,
    };

    #[test]
    fn only_answered_frames_restart_the_idle_time() {
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        let mut timer = Timer::new(LIMITS, t0);
        // Junk before any frame: the first-frame limit, from the opening.
        timer.read(at(30), false, false);
        assert_eq!(
            timer.wait(at(30)),
            (Duration::from_secs(30), Expiry::FirstFrame)
        );
        assert_eq!(timer.wait(at(61)).0, Duration::ZERO);
        // A frame begun at 50 s still ends by 60 s from the opening.
        timer.read(at(50), false, true);
        assert_eq!(
            timer.wait(at(50)),
            (Duration::from_secs(10), Expiry::FirstFrame)
        );
        // Answered at 55 s: the idle limit from then on.
        timer.read(at(55), true, false);
        assert_eq!(timer.wait(at(55)), (Duration::from_secs(600), Expiry::Idle));
        // Junk at 600 s moves nothing.
        timer.read(at(600), false, false);
        assert_eq!(timer.wait(at(600)), (Duration::from_secs(55), Expiry::Idle));
        // A frame begun at 650 s has its own 60 s, past the idle limit; an
        // <SB> cutting it short at 700 s does not begin them again.
        timer.read(at(650), false, true);
        assert_eq!(
            timer.wait(at(650)),
            (Duration::from_secs(60), Expiry::Frame)
        );
        timer.read(at(700), false, true);
        assert_eq!(
            timer.wait(at(700)),
            (Duration::from_secs(10), Expiry::Frame)
        );
        // Answered, and the next frame already under way.
        timer.read(at(705), true, true);
        assert_eq!(
            timer.wait(at(705)),
            (Duration::from_secs(60), Expiry::Frame)
        );
        timer.read(at(706), true, false);
        assert_eq!(timer.wait(at(1306)), (Duration::ZERO, Expiry::Idle));
    }
}
