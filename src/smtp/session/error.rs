//! How a session can end other than by QUIT or the peer closing.

/// Why [`super::run`] gave up on a connection. The peer has already been
/// told whatever it could be told (e.g. `421`) before this is returned.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Reading from or writing to the peer failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS handshake after STARTTLS failed, or TLS could not be set up.
    #[error("tls error: {0}")]
    Tls(String),
    /// The peer was idle longer than the command or data timeout.
    #[error("peer timed out")]
    Timeout,
    /// The peer sent more bad commands than `Limits::max_errors`.
    #[error("too many protocol errors")]
    TooManyErrors,
}
