//! ER7 ("pipe and hat") parsing: owns turning the raw bytes an interface
//! engine hands us into a [`Message`] — character decoding (UTF-8, with a
//! Latin-1 fallback), segment splitting, and reading the separators out of
//! MSH-1/MSH-2. Field-level splitting is lazy and lives in `view.rs` (on
//! top of `scan.rs`); segment terminators are found here with `memchr`.
//!
//! Design choices:
//! - **Zero-copy.** When the input is valid UTF-8 the message borrows it;
//!   values are `&str` slices of it and decoding returns `Cow::Borrowed`
//!   unless an escape sequence has to be expanded.
//! - **Latin-1 fallback, never an error.** Interface engines frequently send
//!   ISO-8859-1 without saying so (MSH-18 is often empty). Input that is not
//!   valid UTF-8 is decoded byte-for-byte as Latin-1 (every byte maps to
//!   U+0000..U+00FF, so this cannot fail) and [`Message::is_latin1`] reports
//!   it. Windows-1252 bytes 0x80–0x9F come out as C1 controls; callers that
//!   care read them as Windows-1252. There is deliberately no `NotUtf8` error.
//!   A message that declares `UNICODE UTF-8` in MSH-18 and writes UTF-8
//!   letters is read as UTF-8 despite a stray byte, see `decode`.
//! - **Terminators.** "The segment terminator is always a carriage return (in
//!   ASCII, a hex 0D)." We also accept LF and CRLF: if the first terminator
//!   after MSH is a CR the message is split on CR only (so a stray LF inside
//!   an OBX text stays data, and the LF of a CRLF pair is dropped); otherwise
//!   both CR and LF end a segment. Blank (or all-space) lines are skipped.
//! - **One message per call.** A second MSH is just another segment; batch
//!   envelopes (FHS/BHS) are not unwrapped and fail with [`ParseError::NoMsh`].

use std::borrow::Cow;
use std::fmt;
use std::iter;
use std::ops::Range;

use thiserror::Error;

use super::view::Segment;

/// Why a byte string could not be read as an HL7 v2 message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// Nothing but a BOM, blank lines or whitespace.
    #[error("empty HL7 message")]
    Empty,
    /// The first segment (after a BOM and blank lines) is not MSH.
    #[error("first segment is {found:?}, not MSH")]
    NoMsh {
        /// At most the first three characters of the offending segment,
        /// when they can be a segment's name (capitals and digits); empty
        /// otherwise, so that free text (a message cut in two) is neither
        /// logged nor echoed in the ACK.
        found: String,
    },
    /// MSH-1 / MSH-2 are missing, repeated, alphanumeric or otherwise unusable.
    #[error("bad MSH-1/MSH-2 encoding characters: {reason}")]
    BadEncodingChars {
        /// Which rule the encoding characters broke.
        reason: &'static str,
    },
    /// A segment the caller needs (e.g. MSA in an acknowledgment) is absent.
    #[error("required segment {0} is missing")]
    MissingSegment(&'static str),
}

/// The delimiters of one message, read from MSH-1 and MSH-2.
///
/// "The delimiter values used in the MSH segment are the delimiter values
/// used throughout the entire message." All are ASCII, so splitting a `&str`
/// on them never cuts a multi-byte character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Separators {
    /// MSH-1, normally `|`.
    pub field: u8,
    /// MSH-2 position 1, normally `^`. `None` only for MSH-1/MSH-2 themselves.
    pub component: Option<u8>,
    /// MSH-2 position 2, normally `~`.
    pub repetition: Option<u8>,
    /// MSH-2 position 3, normally `\`.
    pub escape: Option<u8>,
    /// MSH-2 position 4, normally `&`.
    pub subcomponent: Option<u8>,
    /// MSH-2 position 5 (v2.7+), normally `#`.
    pub truncation: Option<u8>,
}

impl Separators {
    /// `|^~\&`, the recommended values; used for everything we generate.
    pub const STANDARD: Self = Self {
        field: b'|',
        component: Some(b'^'),
        repetition: Some(b'~'),
        escape: Some(b'\\'),
        subcomponent: Some(b'&'),
        truncation: None,
    };

    /// No splitting and no escapes: how MSH-1 and MSH-2 are read back.
    pub(crate) const LITERAL: Self = Self {
        field: b'|',
        component: None,
        repetition: None,
        escape: None,
        subcomponent: None,
        truncation: None,
    };

    /// The MSH-2 text these separators would be written as.
    pub fn encoding_chars(&self) -> String {
        [
            self.component,
            self.repetition,
            self.escape,
            self.subcomponent,
            self.truncation,
        ]
        .iter()
        .map_while(|c| c.map(char::from))
        .collect()
    }

    /// Reads MSH-1 and MSH-2 from the first segment's text (`MSH|^~\&|...`).
    fn from_msh(seg: &str) -> Result<Self, ParseError> {
        let bytes = seg.as_bytes();
        let field = *bytes.get(3).ok_or(bad("MSH-1 field separator missing"))?;
        check_delimiter(field)?;
        let rest = &bytes[4..];
        let end = rest.iter().position(|&b| b == field).unwrap_or(rest.len());
        let enc = &rest[..end];
        // Subcomponent separator: "If there are no subcomponents, this
        // character may be omitted." Escape character: "If no escape
        // characters are used in a message, this character may be omitted."
        // So MSH-2 may be shorter than four characters; missing ones are None.
        if enc.is_empty() {
            return Err(bad("MSH-2 encoding characters missing"));
        }
        if enc.len() > 5 {
            return Err(bad("MSH-2 has more than five encoding characters"));
        }
        for (i, &c) in enc.iter().enumerate() {
            check_delimiter(c)?;
            if c == field || enc[..i].contains(&c) {
                return Err(bad("encoding character repeated"));
            }
        }
        let at = |i: usize| enc.get(i).copied();
        Ok(Self {
            field,
            component: at(0),
            repetition: at(1),
            escape: at(2),
            subcomponent: at(3),
            truncation: at(4),
        })
    }
}

fn bad(reason: &'static str) -> ParseError {
    ParseError::BadEncodingChars { reason }
}

/// "The field separator is required to be chosen from the ASCII displayable
/// character set." We also refuse alphanumerics and space, which would make
/// segment IDs and ordinary text ambiguous.
fn check_delimiter(c: u8) -> Result<(), ParseError> {
    if !c.is_ascii_graphic() {
        return Err(bad("delimiter is not a displayable ASCII character"));
    }
    if c.is_ascii_alphanumeric() {
        return Err(bad("delimiter is alphanumeric"));
    }
    Ok(())
}

/// A parsed HL7 v2 message. Borrows the input when it was valid UTF-8.
#[derive(Clone)]
pub struct Message<'a> {
    text: Cow<'a, str>,
    seps: Separators,
    segments: Vec<Range<usize>>,
    latin1: bool,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How a message's bytes are read as text: UTF-8 when they are valid
/// UTF-8 (after any BOM) or declare it with UTF-8 letters and a stray byte
/// (`decode`), else Latin-1, byte for byte. Replies go back the
/// same way ([`super::ack_bytes`]), so a sender gets its own bytes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// Valid UTF-8.
    Utf8,
    /// Not UTF-8: ISO 8859-1, each byte one character (U+0000..U+00FF).
    Latin1,
}

impl Charset {
    /// How [`parse`] reads `bytes` ([`Message::charset`]), without parsing
    /// (a message declaring UTF-8 with a stray byte is UTF-8, see `decode`).
    pub fn of(bytes: &[u8]) -> Self {
        let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
        match std::str::from_utf8(bytes) {
            Ok(_) => Self::Utf8,
            Err(_) if lossy_utf8(bytes) => Self::Utf8,
            Err(_) => Self::Latin1,
        }
    }
}

/// The segments of raw ER7 bytes as [`parse`] finds them (BOM skipped,
/// blank lines dropped, CR-only or CR/LF mode): the bytes after the BOM,
/// and each non-blank segment's range in them, terminators excluded. The
/// split looks only at ASCII bytes, so it holds for Latin-1 input too.
pub fn raw_segments(bytes: &[u8]) -> (&[u8], Vec<Range<usize>>) {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    (bytes, split_segments(bytes))
}

/// The message as ER7 is written: its segments as [`raw_segments`] splits
/// them (BOM and blank lines gone), each ended by CR, the bytes otherwise
/// as received. What a receiver of the message whole is given: segments
/// that ended in LF or CRLF, a BOM or blank lines trip strict parsers.
pub fn canonical(bytes: &[u8]) -> Vec<u8> {
    let (body, ranges) = raw_segments(bytes);
    let mut out = Vec::with_capacity(body.len() + 1);
    for range in ranges {
        out.extend_from_slice(body.get(range).unwrap_or_default());
        out.push(b'\r');
    }
    out
}

/// The message's text, BOM removed, as [`parse`] reads it: UTF-8 when the
/// bytes are UTF-8, else Latin-1 (true), byte for byte. One exception
/// ([`lossy_utf8`]): a message that declares `UNICODE UTF-8` (MSH-18) and
/// writes UTF-8 letters elsewhere, whose stray byte that is not UTF-8 (a
/// Windows-1252 quote in a note) would make it all Latin-1 and mangle
/// every other non-ASCII letter, the patient's name's among them (`MÜLLER`
/// read as `MÃ\u{9c}LLER`), is read as UTF-8, the stray byte as U+FFFD.
pub(crate) fn decode(bytes: &[u8]) -> (Cow<'_, str>, bool) {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => (Cow::Borrowed(s), false),
        Err(_) if lossy_utf8(bytes) => (String::from_utf8_lossy(bytes), false),
        Err(_) => (
            Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
            true,
        ),
    }
}

/// Whether `bytes`, not valid UTF-8, are read as UTF-8 all the same: MSH-18
/// says `UNICODE UTF-8` ([`declares_utf8`]) and the bytes hold at least one
/// UTF-8 letter beyond ASCII, so the sender does write UTF-8. **Decision:**
/// the declaration alone does not decide, in either direction. Engines
/// with `8859/1` in their template that send UTF-8 are common, and valid
/// UTF-8 beyond ASCII is almost never Latin-1 text, so a message that is
/// valid UTF-8 stays UTF-8 whatever it declares; and a message declaring
/// UTF-8 whose only non-ASCII bytes are Latin-1 (`M\xDCLLER`) is the
/// Latin-1 it looks like.
fn lossy_utf8(bytes: &[u8]) -> bool {
    declares_utf8(bytes) && bytes.utf8_chunks().any(|c| !c.valid().is_ascii())
}

/// Whether MSH-18's first repetition (the message's default character set,
/// HL7 table 0211) is `UNICODE UTF-8`, read from the first line before
/// anything is parsed.
fn declares_utf8(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let Some(rest) = bytes.get(start..).and_then(|b| b.strip_prefix(b"MSH")) else {
        return false;
    };
    let Some(&field) = rest.first() else {
        return false;
    };
    let line = &rest[..memchr::memchr2(b'\r', b'\n', rest).unwrap_or(rest.len())];
    // `|^~\&|MSH-3|…`: MSH-n is the n-1th piece (MSH-1 is the separator).
    let mut fields = line.split(|&b| b == field);
    let repetition = fields.nth(1).and_then(|msh2| msh2.get(1).copied());
    let Some(msh18) = fields.nth(15) else {
        return false;
    };
    let first = match repetition {
        Some(r) => msh18.split(|&b| b == r).next().unwrap_or_default(),
        None => msh18,
    };
    first.trim_ascii().eq_ignore_ascii_case(b"UNICODE UTF-8")
}

/// Parses one ER7-encoded message. Never panics, whatever the bytes.
pub fn parse(bytes: &[u8]) -> Result<Message<'_>, ParseError> {
    let (text, latin1) = decode(bytes);
    let segments = split_segments(text.as_bytes());
    let first = segments.first().cloned().ok_or(ParseError::Empty)?;
    let head = text.get(first).unwrap_or("");
    if !head.starts_with("MSH") {
        let found: String = head.chars().take(3).collect();
        let named = found
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        let found = if named { found } else { String::new() };
        return Err(ParseError::NoMsh { found });
    }
    let seps = Separators::from_msh(head)?;
    Ok(Message {
        text,
        seps,
        segments,
        latin1,
    })
}

impl<'a> Message<'a> {
    /// The separators declared in MSH-1/MSH-2.
    pub fn separators(&self) -> Separators {
        self.seps
    }

    /// True when the input was not UTF-8 and was decoded as Latin-1.
    pub fn is_latin1(&self) -> bool {
        self.latin1
    }

    /// How the input was read: [`Charset::Latin1`] when [`Self::is_latin1`].
    pub fn charset(&self) -> Charset {
        if self.latin1 {
            Charset::Latin1
        } else {
            Charset::Utf8
        }
    }

    /// The whole (decoded) message text, BOM removed.
    pub fn raw(&self) -> &str {
        &self.text
    }

    /// All segments in order, MSH first; blank lines are not segments.
    pub fn segments(&self) -> impl ExactSizeIterator<Item = Segment<'_>> + '_ {
        self.segments.iter().map(|r| self.make(r))
    }

    /// The first segment with this ID (`"PID"`, `"ZPI"`, ...).
    pub fn segment(&self, name: &str) -> Option<Segment<'_>> {
        self.segments_named(name).next()
    }

    /// Every segment with this ID, in message order.
    pub fn segments_named<'m, 'n>(
        &'m self,
        name: &'n str,
    ) -> impl Iterator<Item = Segment<'m>> + use<'m, 'n, 'a> {
        self.segments().filter(move |s| s.is(name))
    }

    /// The MSH segment (always present in a parsed message).
    pub fn msh(&self) -> Segment<'_> {
        let first = self.segments.first().cloned().unwrap_or(0..0);
        self.make(&first)
    }

    /// Detaches the message from the input buffer.
    pub fn into_owned(self) -> Message<'static> {
        Message {
            text: Cow::Owned(self.text.into_owned()),
            seps: self.seps,
            segments: self.segments,
            latin1: self.latin1,
        }
    }

    fn make(&self, r: &Range<usize>) -> Segment<'_> {
        let raw = self.text.get(r.clone()).unwrap_or("");
        Segment::new(raw, self.seps)
    }
}

/// Deliberately prints no content: messages carry PHI and end up in logs.
impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("segments", &self.segments.len())
            .field("bytes", &self.text.len())
            .field("latin1", &self.latin1)
            .finish_non_exhaustive()
    }
}

/// Byte ranges of the non-blank segments, terminators excluded.
///
/// Until the first segment both CR and LF end a line; that segment's own
/// terminator then picks the mode for the rest (see the module docs).
fn split_segments(text: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::with_capacity(text.len() / 64 + 1);
    let mut start = 0;
    for end in memchr::memchr2_iter(b'\r', b'\n', text).chain(iter::once(text.len())) {
        let line = start..end;
        start = end + 1;
        if text.get(line.clone()).is_none_or(is_blank) {
            continue;
        }
        out.push(line);
        let rest = text.get(start..).unwrap_or_default();
        if text.get(end) == Some(&b'\r') {
            push_lines(text, start, memchr::memchr_iter(b'\r', rest), &mut out);
        } else {
            push_lines(
                text,
                start,
                memchr::memchr2_iter(b'\r', b'\n', rest),
                &mut out,
            );
        }
        break;
    }
    out
}

/// Pushes the non-blank lines of `text[start..]`, given where their
/// terminators are (relative to `start`).
fn push_lines(
    text: &[u8],
    mut start: usize,
    ends: impl Iterator<Item = usize>,
    out: &mut Vec<Range<usize>>,
) {
    let base = start;
    for end in ends.map(|i| base + i).chain(iter::once(text.len())) {
        let line = trim_leading_lf(text, start, end);
        if text.get(line.clone()).is_some_and(|l| !is_blank(l)) {
            out.push(line);
        }
        start = end + 1;
    }
}

/// In CR-only mode a CRLF leaves its LF at the start of the next line.
fn trim_leading_lf(text: &[u8], mut start: usize, end: usize) -> Range<usize> {
    while start < end && text.get(start) == Some(&b'\n') {
        start += 1;
    }
    start..end
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&b| b == b' ' || b == b'\t')
}

#[cfg(test)]
mod tests {
    use super::{canonical, split_segments};

    /// BOM, LF, CRLF and blank lines come out as ER7 is written; the
    /// bytes of each segment are kept (Latin-1 stays Latin-1).
    #[test]
    fn canonical_ends_every_segment_with_cr_alone() {
        let got = canonical(b"\xEF\xBB\xBFMSH|^~\\&|A\r\nEVN|A01\r\n\r\nPID|1||X||Mu\xF1oz\r\n");
        assert_eq!(got, b"MSH|^~\\&|A\rEVN|A01\rPID|1||X||Mu\xF1oz\r");
        let got = canonical(b"MSH|^~\\&|A\nEVN|A01\n\nPID|1");
        assert_eq!(got, b"MSH|^~\\&|A\rEVN|A01\rPID|1\r");
        let cr = b"MSH|^~\\&|A\rEVN|A01\r";
        assert_eq!(canonical(cr), cr);
    }

    fn lines(text: &str) -> Vec<&str> {
        split_segments(text.as_bytes())
            .into_iter()
            .map(|r| &text[r])
            .collect()
    }

    #[test]
    fn segments_split_on_the_first_terminators_kind() {
        assert_eq!(lines("MSH|a\rPID|b\nc\rPV1"), ["MSH|a", "PID|b\nc", "PV1"]);
        assert_eq!(lines("MSH|a\r\nPID|b\r\n"), ["MSH|a", "PID|b"]);
        assert_eq!(lines("MSH|a\nPID|b\rPV1\n"), ["MSH|a", "PID|b", "PV1"]);
        assert_eq!(lines("\n \r\t\nMSH|a\r\r  \rPID"), ["MSH|a", "PID"]);
        assert_eq!(lines("MSH|a"), ["MSH|a"]);
        assert!(lines("").is_empty());
        assert!(lines("\r\n \n\t").is_empty());
    }

    #[test]
    fn segments_agree_with_a_byte_loop_at_every_terminator_position() {
        // The reference: the pre-memchr splitter, one byte at a time.
        fn reference(text: &[u8]) -> Vec<std::ops::Range<usize>> {
            let (mut out, mut start, mut cr_only) = (Vec::new(), 0, None);
            while start < text.len() {
                let is_end = |b: &u8| *b == b'\r' || (cr_only != Some(true) && *b == b'\n');
                let end = text[start..]
                    .iter()
                    .position(is_end)
                    .map_or(text.len(), |i| start + i);
                let mut s = start;
                while s < end && text[s] == b'\n' {
                    s += 1;
                }
                if !text[s..end].iter().all(|&b| b == b' ' || b == b'\t') {
                    cr_only.get_or_insert(text.get(end) == Some(&b'\r'));
                    out.push(s..end);
                }
                start = end + 1;
            }
            out
        }
        let alphabet = [b'a', b'\r', b'\n', b' ', 0xC3];
        for len in 0..7u32 {
            for code in 0..5usize.pow(len) {
                let text: Vec<u8> = (0..len)
                    .map(|i| alphabet[code / 5usize.pow(i) % 5])
                    .collect();
                assert_eq!(split_segments(&text), reference(&text), "{text:?}");
            }
        }
    }
}
