//! Sans-I/O input buffer: frames command lines, enforces the line-length
//! cap, and swallows the rest of an over-long line.
//!
//! Lines end at LF (a preceding CR is kept and ignored by the parser). The
//! buffer never holds more than one line limit plus one read's worth.

use super::config::Limits;

/// What the buffer yields when asked for a command line.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line {
    /// A whole line, terminator included.
    Complete(Vec<u8>),
    /// A line longer than the limit. Reported once; the rest of it, up to
    /// and including its LF, is silently dropped.
    TooLong,
}

/// Bytes read from the peer and not yet consumed.
#[derive(Debug, Default)]
pub(super) struct Input {
    buf: Vec<u8>,
    /// We are inside an over-long line already reported; drop to its LF.
    swallowing: bool,
}

impl Input {
    /// Add freshly read bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Everything buffered (used by the DATA decoder).
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Drop the first `n` buffered bytes (clamped to what is buffered).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.drain(..n);
    }

    /// Forget everything buffered. RFC 3207 §4.2 defence: nothing the peer
    /// sent in clear after STARTTLS may be treated as a command.
    pub fn discard(&mut self) {
        self.buf.clear();
        self.swallowing = false;
    }

    /// The next command line, or `None` when no whole line is buffered.
    /// `limit` is the normal maximum; AUTH lines get [`Limits::AUTH_LINE`].
    pub fn next_line(&mut self, limit: usize) -> Option<Line> {
        loop {
            let limit = self.limit_for_current_line(limit);
            let Some(pos) = self.buf.iter().position(|&b| b == b'\n') else {
                return self.incomplete(limit);
            };
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            if self.swallowing {
                self.swallowing = false;
                continue;
            }
            if line.len() > limit {
                return Some(Line::TooLong);
            }
            return Some(Line::Complete(line));
        }
    }

    /// No LF buffered: either wait for more, or give up on a line that
    /// can no longer fit.
    fn incomplete(&mut self, limit: usize) -> Option<Line> {
        if self.swallowing {
            self.buf.clear();
            return None;
        }
        if self.buf.len() >= limit {
            self.buf.clear();
            self.swallowing = true;
            return Some(Line::TooLong);
        }
        None
    }

    /// RFC 4954 §4 allows AUTH command lines up to 12288 octets.
    fn limit_for_current_line(&self, limit: usize) -> usize {
        let is_auth = self
            .buf
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"AUTH "));
        if is_auth {
            limit.max(Limits::AUTH_LINE)
        } else {
            limit
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &mut Input, limit: usize) -> Vec<Line> {
        std::iter::from_fn(|| input.next_line(limit)).collect()
    }

    #[test]
    fn frames_pipelined_lines_and_keeps_partial() {
        let mut input = Input::default();
        input.extend(b"NOOP\r\nRSET\nQU");
        assert_eq!(
            lines(&mut input, 512),
            vec![
                Line::Complete(b"NOOP\r\n".to_vec()),
                Line::Complete(b"RSET\n".to_vec())
            ]
        );
        input.extend(b"IT\r\n");
        assert_eq!(
            lines(&mut input, 512),
            vec![Line::Complete(b"QUIT\r\n".to_vec())]
        );
    }

    #[test]
    fn long_line_reported_once_then_swallowed() {
        let mut input = Input::default();
        input.extend(&[b'x'; 20]);
        assert_eq!(lines(&mut input, 10), vec![Line::TooLong]);
        input.extend(&[b'y'; 20]);
        assert_eq!(lines(&mut input, 10), vec![]);
        input.extend(b"yyy\r\nNOOP\r\n");
        assert_eq!(
            lines(&mut input, 10),
            vec![Line::Complete(b"NOOP\r\n".to_vec())]
        );
    }

    #[test]
    fn complete_but_long_line_is_too_long() {
        let mut input = Input::default();
        input.extend(b"0123456789abc\r\nNOOP\r\n");
        assert_eq!(
            lines(&mut input, 10),
            vec![Line::TooLong, Line::Complete(b"NOOP\r\n".to_vec())]
        );
    }

    #[test]
    fn auth_lines_get_the_rfc4954_limit() {
        let mut input = Input::default();
        let mut line = b"auth PLAIN ".to_vec();
        line.extend(std::iter::repeat_n(b'A', 5000));
        line.extend(b"\r\n");
        input.extend(&line);
        assert_eq!(lines(&mut input, 4096), vec![Line::Complete(line)]);
    }

    #[test]
    fn discard_forgets_everything() {
        let mut input = Input::default();
        input.extend(b"MAIL FROM:<a@b>\r\n");
        input.discard();
        assert_eq!(input.next_line(512), None);
    }
}
