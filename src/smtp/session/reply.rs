//! SMTP replies: a code, an enhanced status code (RFC 2034), and text,
//! written as one or more lines.

use std::fmt;

/// One SMTP reply. `status` is the RFC 3463 enhanced code, "" when none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code (RFC 5321 §4.2).
    pub code: u16,
    /// The enhanced status code such as "5.1.1", or "" for none.
    pub status: &'static str,
    /// Human-readable text; may contain newlines (becomes a multi-line reply).
    pub text: String,
}

impl Reply {
    /// A reply; newlines in `text` turn into continuation lines.
    pub fn new(code: u16, status: &'static str, text: impl Into<String>) -> Self {
        Self {
            code,
            status,
            text: text.into(),
        }
    }

    /// Whether the peer may retry later (4xx).
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// Whether the reply refuses for good (5xx).
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// Append the wire form to `out`.
    ///
    /// RFC 5321 §4.2.1: "the format for multiline replies requires that every
    /// line, except the last, begin with the reply code, followed immediately
    /// by a hyphen ... The last line will begin with the reply code, followed
    /// immediately by <SP>". CR, LF and other controls in the text can never
    /// break the framing: lines are split on LF and controls are dropped.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let code = self.code.clamp(200, 599);
        let mut lines = self.text.split('\n').peekable();
        while let Some(line) = lines.next() {
            let sep = if lines.peek().is_some() { '-' } else { ' ' };
            let line: String = line.chars().filter(|c| !c.is_control()).collect();
            let text = if self.status.is_empty() {
                format!("{code}{sep}{line}\r\n")
            } else {
                format!("{code}{sep}{} {line}\r\n", self.status)
            };
            out.extend_from_slice(text.as_bytes());
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::new();
        self.write_to(&mut out);
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

/// The session's own canned replies, so texts stay consistent.
pub(super) mod canned {
    use super::Reply;

    pub fn ok() -> Reply {
        Reply::new(250, "2.0.0", "Ok")
    }

    pub fn bad_sequence(text: &str) -> Reply {
        Reply::new(503, "5.5.1", text)
    }

    pub fn syntax(text: &str) -> Reply {
        Reply::new(501, "5.5.4", text)
    }

    pub fn not_implemented() -> Reply {
        Reply::new(502, "5.5.1", "Command not implemented")
    }

    pub fn too_big() -> Reply {
        Reply::new(
            552,
            "5.3.4",
            "Message size exceeds fixed maximum message size",
        )
    }

    pub fn timeout(hostname: &str) -> Reply {
        Reply::new(
            421,
            "4.4.2",
            format!("{hostname} Timeout, closing connection"),
        )
    }

    pub fn too_many_errors(hostname: &str) -> Reply {
        Reply::new(
            421,
            "4.7.0",
            format!("{hostname} Too many errors, closing connection"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(reply: &Reply) -> String {
        reply.to_string()
    }

    #[test]
    fn single_line_with_and_without_status() {
        assert_eq!(wire(&Reply::new(250, "2.0.0", "Ok")), "250 2.0.0 Ok\r\n");
        assert_eq!(wire(&Reply::new(354, "", "Go")), "354 Go\r\n");
    }

    #[test]
    fn multi_line_and_injected_crlf() {
        let reply = Reply::new(550, "5.7.1", "first\r\nsecond\nthird");
        assert_eq!(
            wire(&reply),
            "550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 third\r\n"
        );
    }

    #[test]
    fn transient_and_permanent() {
        assert!(Reply::new(451, "4.3.0", "x").is_transient());
        assert!(Reply::new(550, "5.1.1", "x").is_permanent());
    }
}
