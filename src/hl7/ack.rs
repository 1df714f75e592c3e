//! General acknowledgments: owns building the ACK we return for an inbound
//! message and reading MSA out of an ACK we receive.
//!
//! The ACK is written with the standard delimiters `|^~\&` (receivers must
//! read MSH-1/MSH-2 anyway), CR after every segment, and every value we copy
//! or are given is escaped. The clock is the caller's: `now_unix` is
//! formatted here as `YYYYMMDDHHMMSS+0000`, with no clock reads.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::er7::{Charset, ParseError, Separators, parse};
use super::escape::encode;
use super::header::{AckKind, Hd, Header};

/// MSA-1 as the caller means it: the outcome. Whether it is sent as an
/// application code (AA/AE/AR) or as the matching accept code (CA/CE/CR) is
/// the original's MSH-15/MSH-16 to decide ([`Header::reply_kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    /// Application accept.
    AA,
    /// Application error: the sender may correct and resend.
    AE,
    /// Application reject: don't resend as is (bad type, version, ...).
    AR,
    /// The receiver cannot take the message now, for reasons unrelated to
    /// its content or format (its store is down): AR as an application ACK,
    /// which HL7 v2 ch. 2 gives to "system down, internal error" in original
    /// mode (the sender decides whether to send again; AE would say the
    /// message itself is wrong), and CE as an accept ACK ("cannot be accepted
    /// for any other reason", such as lack of storage).
    Unavailable,
}

impl AckCode {
    /// The MSA-1 value for this outcome in an acknowledgment of `kind`.
    pub fn msa1(self, kind: AckKind) -> &'static str {
        match (self, kind) {
            (Self::AA, AckKind::Application) => "AA",
            (Self::AE, AckKind::Application) => "AE",
            (Self::AR | Self::Unavailable, AckKind::Application) => "AR",
            (Self::AA, AckKind::Accept) => "CA",
            (Self::AE | Self::Unavailable, AckKind::Accept) => "CE",
            (Self::AR, AckKind::Accept) => "CR",
        }
    }

    /// Whether this outcome is a success (for table 0155's `ER`/`SU`).
    pub fn is_success(self) -> bool {
        self == Self::AA
    }
}

/// HL7 table 0357, message error condition codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 100 Segment sequence error.
    SegmentSequence,
    /// 101 Required field missing.
    RequiredFieldMissing,
    /// 102 Data type error.
    DataType,
    /// 103 Table value not found.
    TableValueNotFound,
    /// 104 Value too long (v2.7+).
    ValueTooLong,
    /// 200 Unsupported message type.
    UnsupportedMessageType,
    /// 201 Unsupported event code.
    UnsupportedEventCode,
    /// 202 Unsupported processing id.
    UnsupportedProcessingId,
    /// 203 Unsupported version id.
    UnsupportedVersionId,
    /// 204 Unknown key identifier.
    UnknownKeyIdentifier,
    /// 205 Duplicate key identifier.
    DuplicateKeyIdentifier,
    /// 206 Application record locked.
    ApplicationRecordLocked,
    /// 207 Application internal error.
    ApplicationInternalError,
}

impl ErrorCode {
    /// The code as `h`'s version of table 0357 has it: 104 (Value too
    /// long) came with v2.7, so an older (or unreadable) version gets 102
    /// (Data type error), the nearest its table has; ERR's text still says
    /// what was too long.
    pub fn for_version(self, h: &super::Header) -> Self {
        match self {
            Self::ValueTooLong if !h.version_at_least((2, 7, 0)) => Self::DataType,
            code => code,
        }
    }

    /// The numeric code and its table text.
    pub fn code_and_text(self) -> (u16, &'static str) {
        match self {
            Self::SegmentSequence => (100, "Segment sequence error"),
            Self::RequiredFieldMissing => (101, "Required field missing"),
            Self::DataType => (102, "Data type error"),
            Self::TableValueNotFound => (103, "Table value not found"),
            Self::ValueTooLong => (104, "Value too long"),
            Self::UnsupportedMessageType => (200, "Unsupported message type"),
            Self::UnsupportedEventCode => (201, "Unsupported event code"),
            Self::UnsupportedProcessingId => (202, "Unsupported processing id"),
            Self::UnsupportedVersionId => (203, "Unsupported version id"),
            Self::UnknownKeyIdentifier => (204, "Unknown key identifier"),
            Self::DuplicateKeyIdentifier => (205, "Duplicate key identifier"),
            Self::ApplicationRecordLocked => (206, "Application record locked"),
            Self::ApplicationInternalError => (207, "Application internal error"),
        }
    }
}

/// Where in the original message the problem is, e.g. PID (1st) field 7.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorLocation {
    /// Segment ID, e.g. `PID`.
    pub segment: String,
    /// Which occurrence of that segment, 1-based.
    pub sequence: u32,
    /// Field position, 1-based.
    pub field: u32,
}

/// The error reported in the ACK's ERR segment (severity is always `E`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    /// ERR-3 (v2.5+) or ERR-1.4 (v2.3/2.4).
    pub code: ErrorCode,
    /// Free text for people: ERR-8 (v2.5+) or MSA-3 (v2.3/2.4). Escaped.
    pub message: String,
    /// ERR-2 (v2.5+) or ERR-1.1–3 (v2.3/2.4).
    pub location: Option<ErrorLocation>,
}

/// Builds the ACK for `original`: CR-terminated segments MSH, MSA and, when
/// `error` is given, ERR.
///
/// This is our one synchronous reply, so MSA-1 is `code` as the kind of
/// acknowledgment the original asked for ([`Header::reply_kind`]): an
/// accept acknowledgment (CA/CE/CR) when MSH-15 wants one with this
/// outcome, else an application acknowledgment (AA/AE/AR) — original mode,
/// and enhanced mode with MSH-15 = `NE` and MSH-16 = `AL`, which HL7 v2.8.2
/// ch. 2 calls equivalent: "The original acknowledgment protocol is
/// equivalent to the enhanced acknowledgment protocol with MSH-15-accept
/// acknowledgment type = NE and MSH-16-application acknowledgment type =
/// AL". Never none: see [`Header::reply_kind`].
pub fn build_ack(
    original: &Header,
    code: AckCode,
    error: Option<&AckError>,
    control_id: &str,
    now_unix: i64,
) -> String {
    let mut out = String::with_capacity(256);
    // MSA-2: "the message control ID of the message sent by the sending
    // system. It allows the sending system to associate this response with
    // the message for which it is intended."
    let msa1 = code.msa1(original.reply_kind(code.is_success()));
    // Echoed as sent where our separators allow (`Header::control_id_wire`).
    let msa2 = if original.control_id_wire.is_empty() {
        esc(&original.control_id)
    } else {
        original.control_id_wire.clone()
    };
    let msa2 = capped(msa2);
    let _ = write!(out, "MSA|{msa1}|{msa2}");
    let legacy = is_legacy_err(original);
    if let (Some(e), true) = (error, legacy) {
        // v2.3/2.4: MSA-3 "text message" carries the human-readable text.
        let _ = write!(out, "|{}", esc(&e.message));
    }
    out.push('\r');
    if let Some(e) = error {
        let code = e.code.for_version(original);
        if legacy {
            write_err_legacy(&mut out, e, code);
        } else {
            write_err(&mut out, e, code);
        }
    }
    // MSH-18: the original's, echoed, when it declared one (our ACK's
    // bytes are the sender's own where they echo its text, see
    // `ack_bytes`); an undeclared one is named by `ack_bytes`, which knows
    // the charset it writes.
    let mut msh = String::with_capacity(128 + out.len());
    let declared = esc(&original.character_set);
    write_msh(&mut msh, original, control_id, now_unix, &declared);
    msh.push_str(&out);
    msh
}

/// An ACK's bytes in the charset the original was read in: UTF-8, or
/// Latin-1 for an original that was not UTF-8 ([`Charset::of`]). MSA-2 (and
/// MSH-3..6) echo the original's text, so the sender gets back the bytes it
/// sent, which it can match; written as UTF-8, an MSH-10 with byte 0xE9
/// came back as 0xC3 0xA9. What else an ACK holds is ASCII, or text from the
/// original (an ERR text naming MSH-4). A character
/// Latin-1 has no byte for (only from an escape decoded and written again,
/// such as `\XE298BA\` under other separators) goes as `\Xhh…\`, its UTF-8
/// bytes, which reads back as that character.
///
/// An ACK that is not all ASCII and declares no MSH-18 gets one naming
/// the charset it is written in: `8859/1`, or `UNICODE UTF-8`. One that
/// declares it (echoing the original's) keeps it; an all-ASCII one that
/// declares none stays so (HL7's default is ASCII). Decided here, where
/// the charset is known, so a stored ACK sent back to a retry in another
/// charset says what it is written in.
pub fn ack_bytes(ack: &str, charset: Charset) -> Cow<'_, [u8]> {
    if ack.is_ascii() {
        return Cow::Borrowed(ack.as_bytes());
    }
    let declared = with_character_set(ack, charset);
    if charset == Charset::Utf8 {
        return match declared {
            Some(d) => Cow::Owned(d.into_bytes()),
            None => Cow::Borrowed(ack.as_bytes()),
        };
    }
    let ack = declared.as_deref().unwrap_or(ack);
    let mut out = Vec::with_capacity(ack.len());
    for c in ack.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(byte) => out.push(byte),
            Err(_) => {
                out.extend_from_slice(b"\\X");
                let mut utf8 = [0u8; 4];
                for b in c.encode_utf8(&mut utf8).bytes() {
                    out.extend_from_slice(format!("{b:02X}").as_bytes());
                }
                out.push(b'\\');
            }
        }
    }
    Cow::Owned(out)
}

/// `ack` with MSH-18 naming `charset`, when its MSH (ours: `|^~\&`, so
/// `|` splits its fields) declares none; `None` when it does.
fn with_character_set(ack: &str, charset: Charset) -> Option<String> {
    let (msh, rest) = ack.split_once('\r').unwrap_or((ack, ""));
    if !msh.starts_with("MSH|") {
        return None;
    }
    let mut fields: Vec<&str> = msh.split('|').collect();
    if fields.get(17).is_some_and(|f| !f.is_empty()) {
        return None;
    }
    fields.resize(fields.len().max(18), "");
    fields[17] = match charset {
        Charset::Latin1 => "8859/1",
        Charset::Utf8 => "UNICODE UTF-8",
    };
    Some(format!("{}\r{rest}", fields.join("|")))
}

/// MSH-10 for our ACK to `original`, at most [`MAX_CONTROL_ID`] characters
/// (MSH-10 is "up to 20" characters through v2.6): `ACK` and the original's
/// control id when that fits and is plain ASCII text (no delimiter, no
/// control character), else `ACK` and 16 hex digits of a hash (FNV-1a) of
/// it, so one message's ACKs always carry the same id.
pub fn ack_control_id(original: &Header) -> String {
    const PREFIX: &str = "ACK";
    let id = original.control_id.as_str();
    let plain = id
        .bytes()
        .all(|b| b.is_ascii_graphic() && !b"|^~\\&#".contains(&b));
    if plain && PREFIX.len() + id.len() <= MAX_CONTROL_ID {
        return format!("{PREFIX}{id}");
    }
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{PREFIX}{hash:016X}")
}

/// The longest MSH-10 through v2.6 (v2.7 allows 199).
pub const MAX_CONTROL_ID: usize = 20;

/// The longest MSA-2 echoed: an MSH-10 refused for its length (over 199
/// characters) comes back cut, not whole, so a refusal is never larger than
/// what it refuses; the cut never splits an escape sequence.
const MAX_ECHO: usize = 199;

fn capped(msa2: String) -> String {
    if msa2.chars().count() <= MAX_ECHO {
        return msa2;
    }
    let mut cut: String = msa2.chars().take(MAX_ECHO).collect();
    if cut.matches('\\').count() % 2 == 1
        && let Some(at) = cut.rfind('\\')
    {
        cut.truncate(at);
    }
    // A space the cut leaves at the end is no part of an id (`parse_ack`
    // and `ReadAck::answers` trim it): without this, an id cut before a
    // `\` that followed a space was not recognised as the one echoed.
    let kept = cut.trim_end_matches(' ').len();
    cut.truncate(kept);
    cut
}

/// ERR changed shape in v2.5: before it, ERR-1 (ELD) held location + code.
fn is_legacy_err(h: &Header) -> bool {
    h.version_tuple().is_some_and(|v| v < (2, 5, 0))
}

fn write_msh(out: &mut String, h: &Header, control_id: &str, now_unix: i64, msh18: &str) {
    let processing = if h.processing_id.trim().is_empty() {
        "P"
    } else {
        h.processing_id.as_str()
    };
    let version = if h.version.trim().is_empty() {
        "2.5"
    } else {
        h.version.as_str()
    };
    // Sender and receiver swap: our MSH-3/4 are the original MSH-5/6.
    let _ = write!(
        out,
        "MSH|^~\\&|{}|{}|{}|{}|{}||{}|{}|{}|{}\r",
        hd(&h.receiving_app),
        hd(&h.receiving_facility),
        hd(&h.sending_app),
        hd(&h.sending_facility),
        format_ts(now_unix),
        msh9(h),
        esc(control_id),
        esc(processing),
        esc(version),
    );
    if !msh18.is_empty() {
        // MSH-13 to MSH-17 empty.
        out.pop();
        let _ = write!(out, "||||||{msh18}\r");
    }
}

/// `ACK^A01` in v2.3 (MSG had two components), `ACK^A01^ACK` from v2.3.1.
fn msh9(h: &Header) -> String {
    let event = esc(&h.trigger_event);
    let two_parts = h.version_tuple().is_some_and(|v| v < (2, 3, 1));
    match (two_parts, event.is_empty()) {
        (true, true) => "ACK".to_owned(),
        (true, false) => format!("ACK^{event}"),
        (false, _) => format!("ACK^{event}^ACK"),
    }
}

fn write_err(out: &mut String, e: &AckError, code: ErrorCode) {
    let (code, text) = code.code_and_text();
    let location = e
        .location
        .as_ref()
        .map(|l| format!("{}^{}^{}", esc(&l.segment), l.sequence, l.field))
        .unwrap_or_default();
    // ERR-1 (withdrawn) | ERR-2 location | ERR-3 code | ERR-4 severity |
    // ERR-5..7 empty | ERR-8 user message.
    let _ = write!(
        out,
        "ERR||{location}|{code}^{text}^HL70357|E||||{}\r",
        esc(&e.message)
    );
}

fn write_err_legacy(out: &mut String, e: &AckError, code: ErrorCode) {
    let (code, text) = code.code_and_text();
    let (seg, seq, field) = match &e.location {
        Some(l) => (esc(&l.segment), l.sequence.to_string(), l.field.to_string()),
        None => (String::new(), String::new(), String::new()),
    };
    // ERR-1 "Error code and location": segment ID ^ sequence ^ field
    // position ^ code identifying error (CE, hence subcomponents).
    let _ = write!(out, "ERR|{seg}^{seq}^{field}^{code}&{text}&HL70357\r");
}

fn esc(s: &str) -> String {
    encode(s, &Separators::STANDARD).into_owned()
}

fn hd(h: &Hd) -> String {
    let parts = [&h.namespace_id, &h.universal_id, &h.universal_id_type];
    let mut joined = parts.map(|p| esc(p)).join("^");
    while joined.ends_with('^') {
        joined.pop();
    }
    joined
}

/// Unix seconds → `YYYYMMDDHHMMSS+0000` (UTC), clamped to years 0000–9999.
pub fn format_ts(now_unix: i64) -> String {
    const MIN: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
    const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let t = now_unix.clamp(MIN, MAX);
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = crate::clock::civil_from_days(days);
    let (hh, mm, ss) = (secs / 3600, secs % 3600 / 60, secs % 60);
    format!("{y:04}{m:02}{d:02}{hh:02}{mm:02}{ss:02}+0000")
}

/// Reads an acknowledgment (unframed) and returns (MSA-1, MSA-2), decoded:
/// the ack code and the control id of the message it answers.
pub fn parse_ack(bytes: &[u8]) -> Result<(String, String), ParseError> {
    let msg = parse(bytes)?;
    let msa = msg
        .segment("MSA")
        .ok_or(ParseError::MissingSegment("MSA"))?;
    let text = |n: usize| {
        msa.field(n)
            .map(|f| f.text().trim().to_owned())
            .unwrap_or_default()
    };
    Ok((text(1), text(2)))
}

/// An acknowledgment we received, as the sender of the original reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// MSH-9.1: `ACK` when it is an acknowledgment.
    pub message_type: String,
    /// MSA-1 (`AA`, `CA`, `AE`...), trimmed; empty without MSA.
    pub code: String,
    /// MSA-2 as `|^~\&` write it, escapes kept (the form of
    /// [`Header::control_id_wire`]); `None` without MSA.
    pub control_id_wire: Option<String>,
}

/// Reads a received acknowledgment (unframed) for [`Received::answers`].
pub fn read_ack(bytes: &[u8]) -> Result<Received, ParseError> {
    let msg = parse(bytes)?;
    let header = msg.header();
    let msa = msg.segment("MSA");
    let code = msa
        .and_then(|m| m.field(1))
        .map(|f| f.text().trim().to_owned())
        .unwrap_or_default();
    let control_id_wire = msa.map(|m| super::header::field_wire(&m, 2, msg.separators()));
    Ok(Received {
        message_type: header.message_type.trim().to_owned(),
        code,
        control_id_wire,
    })
}

impl Received {
    /// Whether this acknowledges `original`: an `ACK` with an MSA whose
    /// MSA-2 is the original's MSH-10 as written (escapes kept, spaces
    /// around it aside; our listener echoes it so). "MSA-2 … allows the
    /// sending system to associate this response with the message for
    /// which it is intended": a reply naming another message (one behind,
    /// or another sender's) acknowledges nothing we sent. An MSH-10 over
    /// [`MAX_ECHO`] characters also matches the cut echo our listener sends
    /// when it refuses it (exactly that cut, never any prefix).
    pub fn answers(&self, original: &Header) -> bool {
        let Some(got) = &self.control_id_wire else {
            return false;
        };
        if !self.message_type.eq_ignore_ascii_case("ACK") {
            return false;
        }
        let sent = original.control_id_wire.trim_matches(' ');
        let got = got.trim_matches(' ');
        got == sent || got == capped(sent.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hl7::parse;

    /// MSA-1 of the ACK answering a message with MSH-15/MSH-16 as given,
    /// for AA, AE, AR and Unavailable.
    fn msa1s(msh15: &str, msh16: &str) -> [String; 4] {
        let text = format!("MSH|^~\\&|S|SF|R|RF|2024||ADT^A01|X1|P|2.5.1|||{msh15}|{msh16}\r");
        let h = parse(text.as_bytes()).expect("parse").header();
        [AckCode::AA, AckCode::AE, AckCode::AR, AckCode::Unavailable].map(|code| {
            let ack = build_ack(&h, code, None, "K", 0);
            let (msa1, msa2) = parse_ack(ack.as_bytes()).expect("ack");
            assert_eq!(msa2, "X1");
            msa1
        })
    }

    #[test]
    fn msh_18_says_what_the_ack_is_written_in() {
        let msh18_in = |sent: &[u8], charset: Charset| {
            let h = parse(sent).expect("parse").header();
            let ack = build_ack(&h, AckCode::AA, None, "K", 0);
            let bytes = ack_bytes(&ack, charset);
            let msh = bytes.split(|&b| b == b'\r').next().expect("MSH");
            let fields: Vec<&[u8]> = msh.split(|&b| b == b'|').collect();
            let msh18 = fields
                .get(17)
                .map(|f| String::from_utf8_lossy(f).into_owned());
            (fields.len(), msh18)
        };
        let msh18 = |sent: &[u8]| msh18_in(sent, Charset::of(sent));
        // ASCII, nothing declared: nothing declared back (MSH-1 to MSH-12).
        assert_eq!(
            msh18(b"MSH|^~\\&|S|SF|R|RF|2024||ADT^A01|X1|P|2.5.1\r"),
            (12, None)
        );
        // Declared: echoed, whatever the ACK holds.
        let declared =
            b"MSH|^~\\&|S|SF|R|RF|2024||ADT^A01|X1|P|2.5.1|||AL|NE||8859/1~UNICODE UTF-8\r";
        assert_eq!(msh18(declared), (18, Some("8859/1".into())));
        // Undeclared but echoing text that is not ASCII: the charset it goes in.
        let latin1 = b"MSH|^~\\&|S|SF|R|RF|2024||ADT^A01|X\xE91|P|2.5.1\r";
        assert_eq!(msh18(latin1), (18, Some("8859/1".into())));
        let utf8 = "MSH|^~\\&|S|SF|R|RF|2024||ADT^A01|X\u{e9}1|P|2.5.1\r";
        assert_eq!(msh18(utf8.as_bytes()), (18, Some("UNICODE UTF-8".into())));
        // The stored ACK of a Latin-1 message, sent back to a retry that
        // came as UTF-8: it names what it is written in, each time.
        assert_eq!(
            msh18_in(latin1, Charset::Utf8),
            (18, Some("UNICODE UTF-8".into()))
        );
        assert_eq!(
            msh18_in(utf8.as_bytes(), Charset::Latin1),
            (18, Some("8859/1".into()))
        );
        // The MSA-2 bytes survive the added field.
        let h = parse(latin1).expect("parse").header();
        let bytes =
            ack_bytes(&build_ack(&h, AckCode::AA, None, "K", 0), Charset::Latin1).into_owned();
        assert!(bytes.windows(5).any(|w| w == b"|X\xE91\r"), "{bytes:?}");
    }

    #[test]
    fn an_ack_goes_back_in_the_originals_charset() {
        // MSH-3 and MSH-10 with é, sent as Latin-1 (0xE9).
        let sent = b"MSH|^~\\&|\xC9PIC|SF|R|RF|2024||ADT^A01|X\xE91|P|2.5.1\r";
        let original = parse(sent).expect("parse");
        assert_eq!(original.charset(), Charset::Latin1);
        assert_eq!(Charset::of(sent), Charset::Latin1);
        let ack = build_ack(&original.header(), AckCode::AA, None, "K", 0);
        let latin1 = ack_bytes(&ack, Charset::Latin1);
        assert!(latin1.windows(5).any(|w| w == b"|X\xE91\r"), "{latin1:?}");
        assert!(latin1.windows(5).any(|w| w == b"\xC9PIC|"), "{latin1:?}");
        assert!(!latin1.contains(&0xC3), "no UTF-8 in a Latin-1 ACK");
        // The same text from a UTF-8 original goes back as UTF-8.
        let utf8 = "MSH|^~\\&|S|SF|R|RF|2024||ADT^A01|X\u{e9}1|P|2.5.1\r";
        assert_eq!(Charset::of(utf8.as_bytes()), Charset::Utf8);
        let h = parse(utf8.as_bytes()).expect("parse").header();
        let ack = build_ack(&h, AckCode::AA, None, "K", 0);
        let utf8_ack = ack_bytes(&ack, Charset::Utf8).into_owned();
        let utf8_ack = String::from_utf8(utf8_ack).expect("UTF-8");
        assert!(
            utf8_ack.contains("|UNICODE UTF-8\rMSA|AA|X\u{e9}1\r"),
            "{utf8_ack}"
        );
        assert!(ack.contains("MSA|AA|X\u{e9}1\r"));
        // A character Latin-1 cannot hold goes as an escape that reads back.
        let out = ack_bytes("MSA|AA|\u{e9}\u{263a}\r", Charset::Latin1);
        assert_eq!(out.as_ref(), b"MSA|AA|\xE9\\XE298BA\\\r");
        let back = parse_ack(&[b"MSH|^~\\&|A\r".as_slice(), &out].concat()).expect("ack");
        assert_eq!(back.1, "\u{e9}\u{263a}");
    }

    #[test]
    fn a_received_ack_answers_the_message_its_msa2_names() {
        let sent = |msh10: &str| {
            let text = format!("MSH|^~\\&|S|SF|R|RF|2024||ADT^A01|{msh10}|P|2.5.1\r");
            parse(text.as_bytes()).expect("parse").header()
        };
        let reply = |msh9: &str, msa: &str| {
            let text = format!("MSH|^~\\&|R|RF|S|SF|2024||{msh9}|K|P|2.5.1\r{msa}\r");
            read_ack(text.as_bytes()).expect("reply")
        };
        let long = "X".repeat(250);
        let table = [
            ("M1", "ACK^A01^ACK", "MSA|AA|M1", true),
            ("M1", "ACK", "MSA|AE|M1", true),
            ("M1", "ack", "MSA|CA| M1 ", true),
            // Another message's ACK, or none.
            ("M2", "ACK^A01^ACK", "MSA|AA|M1", false),
            ("M2", "ACK^A01^ACK", "MSA|AA|M", false),
            ("M2", "ACK^A01^ACK", "MSA|AA|M22", false),
            ("M2", "ACK^A01^ACK", "MSA|AA", false),
            ("M2", "ACK^A01^ACK", "ZZZ|AA|M2", false),
            ("M2", "ADT^A01", "MSA|AA|M2", false),
            // As written: escapes kept, repetitions whole.
            ("123\\R\\A", "ACK", "MSA|AA|123\\R\\A", true),
            ("123~A", "ACK", "MSA|AA|123\\R\\A", false),
            ("123~A", "ACK", "MSA|AA|123~A", true),
            ("123~A", "ACK", "MSA|AA|123", false),
            // An over-long MSH-10: its cut echo, and only that.
            (&long, "ACK", &format!("MSA|AR|{long}"), true),
            (&long, "ACK", &format!("MSA|AR|{}", "X".repeat(199)), true),
            (&long, "ACK", &format!("MSA|AR|{}", "X".repeat(198)), false),
            (&long, "ACK", "MSA|AR|X", false),
        ];
        for (msh10, msh9, msa, answers) in table {
            let got = reply(msh9, msa).answers(&sent(msh10));
            assert_eq!(got, answers, "{msh10} answered by {msh9} {msa}");
        }
        // Our own ACKs answer their message, whatever its MSH-10: also one
        // whose cut ends in a space before a lone `\` (fuzz).
        let spaced = format!("{} \\X41\\", "A".repeat(197));
        for msh10 in ["A\\X41\\", "1~2~3", "\u{e9}", &long, &spaced] {
            let h = sent(msh10);
            let ack = build_ack(&h, AckCode::AR, None, "K", 0);
            assert!(
                read_ack(ack.as_bytes()).expect("ack").answers(&h),
                "{msh10}"
            );
        }
        // Under other separators, MSA-2 is read as `|^~\&` write it.
        let h = sent("A\\S\\B");
        let other = read_ack(b"MSH#$%@!#R#RF#S#SF#2024##ACK#K#P#2.5.1\rMSA#AA#A^B\r");
        assert!(other.expect("reply").answers(&h));
        assert!(read_ack(b"hello").is_err());
    }

    #[test]
    fn msa1_for_every_msh15_msh16_combination() {
        // (MSH-15, MSH-16, MSA-1 for AA, AE, AR, Unavailable). One reply every
        // time. Unavailable is AR as an application ACK, CE as an accept ACK.
        let table = [
            ("", "", ["AA", "AE", "AR", "AR"]),
            // Empty MSH-15 beside MSH-16: no accept acknowledgment asked for.
            ("", "AL", ["AA", "AE", "AR", "AR"]),
            ("", "NE", ["AA", "AE", "AR", "AR"]),
            ("", "ER", ["AA", "AE", "AR", "AR"]),
            ("", "SU", ["AA", "AE", "AR", "AR"]),
            ("AL", "", ["CA", "CE", "CR", "CE"]),
            ("AL", "AL", ["CA", "CE", "CR", "CE"]),
            ("AL", "NE", ["CA", "CE", "CR", "CE"]),
            ("AL", "ER", ["CA", "CE", "CR", "CE"]),
            ("AL", "SU", ["CA", "CE", "CR", "CE"]),
            // NE: never an accept acknowledgment; NE/AL is original mode.
            ("NE", "", ["AA", "AE", "AR", "AR"]),
            ("NE", "AL", ["AA", "AE", "AR", "AR"]),
            ("NE", "NE", ["AA", "AE", "AR", "AR"]),
            ("NE", "ER", ["AA", "AE", "AR", "AR"]),
            ("NE", "SU", ["AA", "AE", "AR", "AR"]),
            // ER: accept acknowledgments for errors; success as MSH-16 says.
            ("ER", "", ["CA", "CE", "CR", "CE"]),
            ("ER", "AL", ["AA", "CE", "CR", "CE"]),
            ("ER", "NE", ["CA", "CE", "CR", "CE"]),
            ("ER", "ER", ["CA", "CE", "CR", "CE"]),
            ("ER", "SU", ["AA", "CE", "CR", "CE"]),
            // SU: accept acknowledgments for success; errors as MSH-16 says.
            ("SU", "", ["CA", "CE", "CR", "CE"]),
            ("SU", "AL", ["CA", "AE", "AR", "AR"]),
            ("SU", "NE", ["CA", "CE", "CR", "CE"]),
            ("SU", "ER", ["CA", "AE", "AR", "AR"]),
            ("SU", "SU", ["CA", "CE", "CR", "CE"]),
        ];
        for (msh15, msh16, want) in table {
            assert_eq!(
                msa1s(msh15, msh16),
                want,
                "MSH-15 {msh15:?}, MSH-16 {msh16:?}"
            );
        }
    }
}
