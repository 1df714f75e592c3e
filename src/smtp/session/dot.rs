//! Sans-I/O DATA decoder: finds the end of the message, removes dot
//! stuffing, and enforces the size cap by counting and discarding.
//!
//! RFC 5321 §4.1.1.4: "the mail data is terminated by a line containing
//! only a period, that is, the character sequence "<CRLF>.<CRLF>"". Only
//! that exact sequence ends the data: `<LF>.<LF>`, `<CR>.<CR>` and
//! `<LF>.<CRLF>` are content ("SMTP smuggling" defence), and a bare LF does
//! not start a new line for dot-unstuffing either. The CRLF that ends the
//! DATA command counts as the first CRLF, so an empty message is `".\r\n"`.
//!
//! RFC 5321 §4.5.2: "If the first character is a period and there are other
//! characters on the line, the first character is deleted."

/// Where in a line the decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Just after CRLF (or at the very start).
    LineStart,
    /// A '.' at line start, held back.
    Dot,
    /// ".\r" at line start, held back.
    DotCr,
    /// Inside a line.
    Middle,
    /// Inside a line, just after CR.
    Cr,
}

/// Decodes one message body.
#[derive(Debug)]
pub(super) struct DotDecoder {
    at: At,
    message: Vec<u8>,
    /// Bytes of decoded message seen so far, kept or not.
    size: u64,
    max_size: u64,
}

/// The decoded message once the end marker was seen.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Body {
    /// The message, within the size cap.
    Message(Vec<u8>),
    /// The message exceeded the cap; its bytes were discarded.
    TooBig {
        /// Octets the peer sent (after unstuffing).
        size: u64,
    },
}

impl DotDecoder {
    /// A decoder that keeps at most `max_size` octets.
    pub fn new(max_size: u64) -> Self {
        Self {
            at: At::LineStart,
            message: Vec::new(),
            size: 0,
            max_size,
        }
    }

    /// Decoded octets so far (for logs).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Feed bytes. Returns how many were consumed and whether the end
    /// marker was reached; bytes after the marker are not consumed.
    pub fn feed(&mut self, bytes: &[u8]) -> (usize, bool) {
        for (i, &b) in bytes.iter().enumerate() {
            if self.step(b) {
                return (i + 1, true);
            }
        }
        (bytes.len(), false)
    }

    /// The result, once `feed` reported the end.
    pub fn finish(self) -> Body {
        if self.size > self.max_size {
            Body::TooBig { size: self.size }
        } else {
            Body::Message(self.message)
        }
    }

    /// One byte; true at the end marker.
    fn step(&mut self, b: u8) -> bool {
        match self.at {
            At::LineStart if b == b'.' => self.at = At::Dot,
            At::Dot if b == b'\r' => self.at = At::DotCr,
            At::DotCr if b == b'\n' => return true,
            At::DotCr => {
                // ".\r" then something else: the dot was stuffing.
                self.push(b'\r');
                self.at = At::Cr;
                self.content(b);
            }
            _ => self.content(b),
        }
        false
    }

    /// An ordinary content byte (a held-back leading dot is dropped).
    fn content(&mut self, b: u8) {
        self.push(b);
        self.at = match (self.at, b) {
            (_, b'\r') => At::Cr,
            (At::Cr, b'\n') => At::LineStart,
            _ => At::Middle,
        };
    }

    fn push(&mut self, b: u8) {
        self.size = self.size.saturating_add(1);
        if self.size <= self.max_size {
            self.message.push(b);
        } else if !self.message.is_empty() {
            self.message = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]]) -> Option<(Body, Vec<u8>)> {
        let mut d = DotDecoder::new(1000);
        for (n, chunk) in chunks.iter().enumerate() {
            let (used, done) = d.feed(chunk);
            if done {
                let mut rest = chunk.get(used..).unwrap_or_default().to_vec();
                for later in chunks.iter().skip(n + 1) {
                    rest.extend_from_slice(later);
                }
                return Some((d.finish(), rest));
            }
        }
        None
    }

    fn message(chunks: &[&[u8]]) -> Vec<u8> {
        match decode(chunks) {
            Some((Body::Message(m), _)) => m,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn table() {
        let cases: &[(&[&[u8]], &[u8])] = &[
            (&[b".\r\n"], b""),
            (&[b"a\r\n.\r\n"], b"a\r\n"),
            (&[b"..\r\n.\r\n"], b".\r\n"),
            (&[b".a\r\n..b\r\n.\r\n"], b"a\r\n.b\r\n"),
            (&[b"a\r", b"\n", b".", b"\r", b"\n"], b"a\r\n"),
            (&[b"x\n.\nMAIL\r\n.\r\n"], b"x\n.\nMAIL\r\n"),
            (&[b"x\r.\rMAIL\r\n.\r\n"], b"x\r.\rMAIL\r\n"),
            (&[b"x\n.\r\nMAIL\r\n.\r\n"], b"x\n.\r\nMAIL\r\n"),
            (&[b".\rx\r\n.\r\n"], b"\rx\r\n"),
            (&[b".\r.\r\n.\r\n"], b"\r.\r\n"),
        ];
        for (chunks, want) in cases {
            assert_eq!(message(chunks), want.to_vec(), "{chunks:?}");
        }
    }

    #[test]
    fn leaves_bytes_after_the_marker() {
        let (_, rest) = decode(&[b"a\r\n.\r\nQUIT\r\n"]).expect("ends");
        assert_eq!(rest, b"QUIT\r\n");
    }

    #[test]
    fn unterminated_is_not_done() {
        assert!(decode(&[b"a\r\n.\n", b"\n.\r"]).is_none());
    }

    #[test]
    fn oversize_is_counted_and_dropped() {
        let mut d = DotDecoder::new(4);
        let (_, done) = d.feed(b"12345678\r\n.\r\n");
        assert!(done);
        assert_eq!(d.finish(), Body::TooBig { size: 10 });
    }

    #[test]
    fn exactly_at_the_cap_is_kept() {
        let mut d = DotDecoder::new(3);
        assert!(d.feed(b"a\r\n.\r\n").1);
        assert_eq!(d.finish(), Body::Message(b"a\r\n".to_vec()));
    }
}
