//! Session configuration: which port personality, which limits, which TLS.

use std::sync::Arc;
use std::time::Duration;

use openssl::ssl::SslAcceptor;

/// Which personality the listener has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Port 25: other HISPs deliver to us. No AUTH; the backend decides relay.
    Mx,
    /// Port 587: our own users submit. AUTH (only over TLS) before MAIL.
    Submission,
}

/// Resource limits. Every one of them is a defence against a hostile peer.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest command line, CRLF included. RFC 5321 §4.5.3.1.4 requires at
    /// least 512; AUTH lines may use up to [`Limits::AUTH_LINE`] regardless.
    pub max_line: usize,
    /// Advertised in `SIZE`; a larger message is swallowed, then refused once.
    pub max_message_size: u64,
    /// Recipients per transaction; more get `452 4.5.3`.
    pub max_recipients: usize,
    /// How long we wait for a command line before `421 4.4.2`.
    pub command_timeout: Duration,
    /// How long we wait for more message bytes during DATA before `421 4.4.2`.
    pub data_timeout: Duration,
    /// Protocol errors tolerated before `421 4.7.0` and close.
    pub max_errors: usize,
}

impl Limits {
    /// RFC 4954 §4: "the 12288 octet limit on the length of AUTH command
    /// lines" — AUTH commands and SASL responses may be this long.
    pub const AUTH_LINE: usize = 12288;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_line: 4096,
            max_message_size: 25 * 1024 * 1024,
            max_recipients: 100,
            // RFC 5321 §4.5.3.2.7: server timeout "SHOULD be at least 5 minutes".
            command_timeout: Duration::from_secs(300),
            // RFC 5321 §4.5.3.2.5: data block timeout of 3 minutes (client side);
            // the server waits at least as long.
            data_timeout: Duration::from_secs(300),
            max_errors: 10,
        }
    }
}

/// Everything a session needs besides its stream and backend.
#[derive(Clone)]
pub struct SessionConfig {
    /// Our name, in the greeting and the EHLO reply.
    pub hostname: String,
    /// MX or Submission behaviour.
    pub mode: Mode,
    /// Resource limits.
    pub limits: Limits,
    /// Server TLS context; `None` means STARTTLS is not offered.
    pub tls: Option<Arc<SslAcceptor>>,
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("hostname", &self.hostname)
            .field("mode", &self.mode)
            .field("limits", &self.limits)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}
