//! STARTTLS (RFC 3207): the go-ahead and the decision to upgrade. The
//! handshake itself is done by the I/O loop (`run`), which also discards
//! anything pipelined after this command and resets the session.

use super::backend::Backend;
use super::reply::{Reply, canned};
use super::state::{Next, Session, State};

impl<B: Backend> Session<'_, B> {
    /// STARTTLS: `220 2.0.0` then `Next::UpgradeTls`.
    pub(super) fn starttls(&mut self, raw: &[u8]) -> Next {
        if self.config.tls.is_none() {
            return self.error(canned::not_implemented());
        }
        if self.info.tls {
            return self.error(canned::bad_sequence("TLS already active"));
        }
        if matches!(self.state, State::Connected) {
            return self.error(canned::bad_sequence("Send EHLO first"));
        }
        // RFC 3207 §4: "501 Syntax error (no parameters allowed)".
        if has_parameters(raw) {
            return self.error(canned::syntax("Syntax: STARTTLS (no parameters allowed)"));
        }
        self.reply(Reply::new(220, "2.0.0", "Ready to start TLS"));
        Next::UpgradeTls
    }
}

/// Whether anything but spaces follows the verb (8 octets, after any
/// leading spaces the parser tolerates).
fn has_parameters(raw: &[u8]) -> bool {
    let verb = raw.iter().position(|&b| b != b' ').unwrap_or(0);
    raw.get(verb + 8..)
        .unwrap_or_default()
        .iter()
        .any(|&b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

#[cfg(test)]
mod tests {
    use super::has_parameters;

    #[test]
    fn parameters() {
        assert!(!has_parameters(b"STARTTLS\r\n"));
        assert!(!has_parameters(b"starttls  \r\n"));
        assert!(has_parameters(b"STARTTLS now\r\n"));
    }
}
