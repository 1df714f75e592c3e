//! The MSH summary: owns pulling the routing and control fields out of the
//! message header into an owned [`Header`] (what the ACK builder, logging
//! and routing need), and the acknowledgment-mode rules that hang off it.
//!
//! Values are decoded text. Absent or empty fields become `""` (or `None`
//! for the optional ones); nothing here fails — validation is the caller's
//! job (e.g. answer AR with error 200 when `message_type` is empty).

use super::er7::{Message, Separators};
use super::escape::encode;
use super::view::{Field, Segment};

/// A hierarchic designator (HD): MSH-3..6 are of this type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hd {
    /// HD.1, e.g. `ADTApp`.
    pub namespace_id: String,
    /// HD.2, e.g. an OID.
    pub universal_id: String,
    /// HD.3, e.g. `ISO`.
    pub universal_id_type: String,
}

impl Hd {
    /// What names this application or facility: HD.1, else (HD.1 empty or
    /// `""`) HD.2, so `^2.16.840.1^ISO` is known by its OID. Empty when
    /// neither is valued.
    pub fn id(&self) -> &str {
        [&self.namespace_id, &self.universal_id]
            .into_iter()
            .map(|s| s.trim())
            .find(|s| !s.is_empty() && *s != "\"\"")
            .unwrap_or("")
    }
}

/// The fields of MSH that matter for routing and acknowledging.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// MSH-3.
    pub sending_app: Hd,
    /// MSH-4.
    pub sending_facility: Hd,
    /// MSH-5.
    pub receiving_app: Hd,
    /// MSH-6.
    pub receiving_facility: Hd,
    /// MSH-7.1, as sent (`YYYYMMDDHHMM[SS[.S]][+/-ZZZZ]`).
    pub timestamp: String,
    /// MSH-9.1, e.g. `ADT`.
    pub message_type: String,
    /// MSH-9.2, e.g. `A01`.
    pub trigger_event: String,
    /// MSH-9.3, e.g. `ADT_A01`; absent in v2.3, which has two components.
    pub structure: Option<String>,
    /// MSH-10, the whole field decoded: "up to 20" characters before v2.7,
    /// 199 after. Every repetition counts (`123~A` is not `123~B`), written
    /// with the message's own repetition separator between them.
    pub control_id: String,
    /// MSH-10 as our ACKs (`|^~\&`) write it: as sent when the message
    /// uses the same separators and sent no control character, else each
    /// repetition decoded and escaped again. MSA-2 echoes it, so the sender
    /// gets back the text it sent (`\X41\`, repetitions).
    pub control_id_wire: String,
    /// MSH-11.1: `P`, `T` or `D`.
    pub processing_id: String,
    /// MSH-12.1, e.g. `2.5.1`.
    pub version: String,
    /// MSH-15 (`AL`, `NE`, `ER`, `SU`); `None` when empty, blank or `""`.
    pub accept_ack_type: Option<String>,
    /// MSH-16, same table as MSH-15.
    pub app_ack_type: Option<String>,
    /// MSH-18's first repetition (the message's character set, e.g.
    /// `8859/1`, `UNICODE UTF-8`); empty when not declared.
    pub character_set: String,
    /// The message was not UTF-8 and was read as Latin-1
    /// ([`Message::charset`]).
    pub latin1: bool,
}

impl<'a> Message<'a> {
    /// Summarises MSH. Never fails: missing fields come back empty.
    pub fn header(&self) -> Header {
        let msh = self.msh();
        let text = |n: usize, c: usize| component_text(&msh, n, c);
        Header {
            sending_app: hd(msh.field(3)),
            sending_facility: hd(msh.field(4)),
            receiving_app: hd(msh.field(5)),
            receiving_facility: hd(msh.field(6)),
            timestamp: text(7, 1),
            message_type: text(9, 1),
            trigger_event: text(9, 2),
            structure: non_empty(text(9, 3)),
            control_id: field_text(&msh, 10),
            control_id_wire: field_wire(&msh, 10, self.separators()),
            processing_id: text(11, 1),
            version: text(12, 1),
            accept_ack_type: non_empty(text(15, 1)),
            app_ack_type: non_empty(text(16, 1)),
            character_set: text(18, 1).trim().to_string(),
            latin1: self.is_latin1(),
        }
    }
}

fn hd(field: Option<Field<'_>>) -> Hd {
    let part = |n: usize| {
        field
            .and_then(|f| f.component(n))
            .map(|c| c.text().into_owned())
            .unwrap_or_default()
    };
    Hd {
        namespace_id: part(1),
        universal_id: part(2),
        universal_id_type: part(3),
    }
}

fn component_text(seg: &Segment<'_>, field: usize, comp: usize) -> String {
    seg.field(field)
        .and_then(|f| f.component(comp))
        .map(|c| c.text().into_owned())
        .unwrap_or_default()
}

fn field_text(seg: &Segment<'_>, field: usize) -> String {
    seg.field(field)
        .map(|f| f.text().into_owned())
        .unwrap_or_default()
}

/// A field as it would be written under the standard separators: as sent
/// when the message's are the standard ones, a v2.7+ truncation character
/// (`^~\&#`) or not (under `^~\&` a `#` is only a `#`, and `\P\` an
/// unknown escape kept as sent).
pub(super) fn field_wire(seg: &Segment<'_>, field: usize, seps: Separators) -> String {
    let Some(f) = seg.field(field) else {
        return String::new();
    };
    let raw = f.raw();
    let standard = Separators {
        truncation: None,
        ..seps
    } == Separators::STANDARD;
    if standard && !raw.chars().any(|c| c.is_ascii_control()) {
        return raw.to_owned();
    }
    f.repetitions()
        .map(|r| encode(&r.text(), &Separators::STANDARD).into_owned())
        .collect::<Vec<_>>()
        .join("~")
}

/// Blank and `""` count as not valued (the corpus has `MSH-15 = " "`).
fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty() && t != "\"\"").then(|| t.to_owned())
}

/// Which acknowledgment our one reply to a message is, i.e. which codes go
/// in MSA-1 (HL7 table 0008).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckKind {
    /// An application acknowledgment: AA, AE or AR.
    Application,
    /// An accept (commit) acknowledgment, enhanced mode only: CA, CE or CR.
    Accept,
}

impl Header {
    /// What an ACK can still echo of a message [`super::parse`] refused for
    /// its encoding characters (MSH-2), or of a too-large frame's head that
    /// does not parse: MSH-10, as MSA-2, and MSH-12.1, the ACK's version,
    /// cut at MSH-1 alone; MSH-3..6's leading names (letters, digits,
    /// ` ._-`), so the ACK is addressed back; MSH-9's leading type and
    /// trigger (letters and digits, the trigger after the first other
    /// character), MSH-11's and MSH-15/16's leading letters, so the ACK is
    /// `ACK^A01^ACK` and in the mode the sender asked for (CE, not AE, to
    /// a sender of accept acknowledgments). Nothing is split further or
    /// unescaped, MSH-2 being unusable. The first line that starts with
    /// `MSH` is read, so a message behind batch headers (`FHS`, `BHS`) is
    /// named too. Empty when there is no MSH with a usable MSH-1. An engine
    /// matches an ACK to its message by MSA-2: with it empty, the AE
    /// answers nothing it sent, and it may send the message again and
    /// again.
    pub fn of_unparsed(bytes: &[u8]) -> Header {
        let (text, latin1) = super::er7::decode(bytes);
        let first = text
            .split(['\r', '\n'])
            .map(|l| l.trim_start_matches('\u{feff}'))
            .find(|l| l.starts_with("MSH"))
            .unwrap_or("");
        let Some(rest) = first.strip_prefix("MSH") else {
            return Header::default();
        };
        let Some(sep) = rest
            .chars()
            .next()
            .filter(|c| c.is_ascii_graphic() && !c.is_ascii_alphanumeric())
        else {
            return Header::default();
        };
        // MSH-n is the (n-1)th piece: MSH-1 is the separator itself.
        let fields: Vec<&str> = rest[1..].split(sep).take(16).collect();
        let field = |n: usize| fields.get(n - 2).copied().unwrap_or("");
        let lead = |s: &str, ok: fn(char) -> bool| -> String {
            s.chars().take_while(|&c| ok(c)).collect()
        };
        let name = |n: usize| Hd {
            namespace_id: lead(field(n).trim(), |c| {
                c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-')
            }),
            ..Hd::default()
        };
        // Control characters would not survive the ACK's own framing; the
        // spaces they leave at either end are not the id's (`parse_ack`).
        let control_id: String = field(10).chars().filter(|c| !c.is_control()).collect();
        let control_id = control_id.trim().to_string();
        // Never unescaped, so echoed as written (escaped again, `A\S\B`
        // for `A^B`, the engine would not know its own id), unless it holds
        // our field separator, which would split MSA: then escaped.
        let control_id_wire = match control_id.contains('|') {
            true => encode(&control_id, &Separators::STANDARD).into_owned(),
            false => control_id.clone(),
        };
        let alphanumeric = |c: char| c.is_ascii_alphanumeric();
        let msh9 = field(9).trim();
        let message_type = lead(msh9, alphanumeric);
        let trigger_event = msh9
            .get(message_type.len()..)
            .and_then(|r| r.strip_prefix(|c: char| !c.is_ascii_alphanumeric()))
            .map(|r| lead(r, alphanumeric))
            .unwrap_or_default();
        let letters = |n: usize| lead(field(n).trim(), |c| c.is_ascii_alphabetic());
        Header {
            message_type,
            trigger_event,
            processing_id: letters(11).chars().take(1).collect(),
            accept_ack_type: non_empty(letters(15)),
            app_ack_type: non_empty(letters(16)),
            sending_app: name(3),
            sending_facility: name(4),
            receiving_app: name(5),
            receiving_facility: name(6),
            control_id,
            control_id_wire,
            version: lead(field(12).trim(), |c| c.is_ascii_digit() || c == '.'),
            latin1,
            ..Header::default()
        }
    }

    /// Enhanced acknowledgment mode: MSH-15 or MSH-16 is valued. When both
    /// are null or absent, the original acknowledgment mode rules apply
    /// (HL7 v2.5.1 ch. 2, MSH-16's definition).
    pub fn enhanced_mode(&self) -> bool {
        self.accept_ack_type.is_some() || self.app_ack_type.is_some()
    }

    /// Whether MSH-15 asks for an accept (commit) acknowledgment with this
    /// outcome, table 0155: `AL` always, `NE` never, `ER` only on error or
    /// reject, `SU` only on success; an unrecognised value counts as `AL`.
    /// Original mode has no accept acknowledgments, and neither does an
    /// empty MSH-15 beside a valued MSH-16. Table 0155 holds the
    /// "conditions under which accept acknowledgments are required to be
    /// returned", and "required for enhanced acknowledgment mode" (also
    /// MSH-15's own definition, HL7 v2.5.1 ch. 2): such a sender is
    /// non-conformant, it stated no condition, and MSH-16 is the one wish it
    /// did state. So empty/AL gets AA like NE/AL, not the CA it never asked
    /// for and would stall on.
    pub fn accept_ack_wanted(&self, success: bool) -> bool {
        condition(self.accept_ack_type.as_deref(), success).unwrap_or(false)
    }

    /// Whether the sender asked for an application acknowledgment with this
    /// outcome: always in original mode, which HL7 v2.8.2 ch. 2 calls
    /// equivalent to enhanced mode with MSH-15 = NE and MSH-16 = AL (see
    /// [`super::build_ack`]); in enhanced mode MSH-16 decides, table 0155 as
    /// for [`Self::accept_ack_wanted`], and an empty MSH-16 asks for none.
    pub fn app_ack_wanted(&self, success: bool) -> bool {
        if !self.enhanced_mode() {
            return true;
        }
        condition(self.app_ack_type.as_deref(), success).unwrap_or(false)
    }

    /// The acknowledgment our one synchronous reply is, sent once the
    /// message is committed (or refused). An accept acknowledgment when
    /// MSH-15 asks for one; else an application acknowledgment when MSH-16
    /// (or original mode) asks for one. When HL7 would send nothing (`NE`
    /// with `NE`, `ER` on success or `SU` on error with MSH-16 not asking
    /// either) we still answer: an MLLP sender waits for one reply per
    /// message before the next, and one that gets none times out and
    /// resends, forever. That reply keeps to the level the sender deals in:
    /// accept codes when MSH-15 is `ER` or `SU` (it reads CA/CE/CR),
    /// application codes otherwise (AA/AE/AR, which every engine reads).
    pub fn reply_kind(&self, success: bool) -> AckKind {
        if self.accept_ack_wanted(success) {
            AckKind::Accept
        } else if self.app_ack_wanted(success) {
            AckKind::Application
        } else if condition(self.accept_ack_type.as_deref(), !success) == Some(true) {
            // ER on success or SU on error: MSH-15 asks for accept
            // acknowledgments with the other outcome.
            AckKind::Accept
        } else {
            AckKind::Application
        }
    }

    /// MSH-12 as `(major, minor, patch)`, e.g. `2.5.1` → `(2, 5, 1)`;
    /// `None` if it is not dotted numbers.
    pub fn version_tuple(&self) -> Option<(u32, u32, u32)> {
        let mut parts = self.version.trim().split('.');
        let mut next = |required: bool| match parts.next() {
            Some(p) => p.parse::<u32>().ok(),
            None => (!required).then_some(0),
        };
        let v = (next(true)?, next(true)?, next(false)?);
        parts.next().is_none().then_some(v)
    }

    /// True when MSH-12 is a parseable version at or above `min`.
    pub fn version_at_least(&self, min: (u32, u32, u32)) -> bool {
        self.version_tuple().is_some_and(|v| v >= min)
    }
}

/// HL7 table 0155 applied to one outcome: `None` when the field is not
/// valued, else whether an acknowledgment is wanted (`AL`, and any value
/// the table does not have, always).
fn condition(value: Option<&str>, success: bool) -> Option<bool> {
    let value = value?;
    Some(if value.eq_ignore_ascii_case("NE") {
        false
    } else if value.eq_ignore_ascii_case("ER") {
        !success
    } else if value.eq_ignore_ascii_case("SU") {
        success
    } else {
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hl7::parse;

    /// A header with MSH-15 and MSH-16 as given (`""` leaves one empty).
    fn with(msh15: &str, msh16: &str) -> Header {
        let text = format!("MSH|^~\\&|S|SF|R|RF|2024||ADT^A01|1|P|2.5|||{msh15}|{msh16}\r");
        parse(text.as_bytes()).expect("parse").header()
    }

    #[test]
    fn an_unparsed_message_is_named_by_what_msh_1_can_cut() {
        // MSH-2 repeats a character: the parser refuses it.
        let bad = b"\xEF\xBB\xBF\r\nMSH|^~\\&&|EPIC^x|NORTH HOSP&1.2|R|RF|2024||ADT^A01|C 1\x07|P|2.5.1^^x\rPID|1";
        assert!(parse(bad).is_err());
        let h = Header::of_unparsed(bad);
        assert_eq!(h.control_id, "C 1");
        assert_eq!(h.version, "2.5.1");
        assert_eq!(h.sending_app.namespace_id, "EPIC");
        assert_eq!(h.sending_facility.namespace_id, "NORTH HOSP");
        assert_eq!(h.receiving_facility.namespace_id, "RF");
        assert!(!h.latin1);
        // Controls go, and the spaces beside them with the id's own edges.
        let h = Header::of_unparsed(b"MSH|^^|A|B|C|D|E||F|\0\x05 C2 \x01|P|2.4");
        assert_eq!(h.control_id, "C2");
        // Latin-1, read as the parser reads it.
        let h = Header::of_unparsed(b"MSH#!!#A#B#C#D#E##F#\xE91#P#2.3");
        assert_eq!((h.control_id.as_str(), h.latin1), ("\u{e9}1", true));
        assert_eq!(h.version, "2.3");
        // Never unescaped, so the ACK's MSA-2 echoes it as written (not
        // escaped a second time); one holding our field separator, escaped.
        for (id, msa2) in [("A^B", "A^B"), ("A\\X41\\", "A\\X41\\"), ("A|B", "A\\F\\B")] {
            let raw = format!("MSH#^~\\&&#A#B#C#D#E##ADT^A01#{id}#P#2.5");
            let h = Header::of_unparsed(raw.as_bytes());
            let ack = crate::hl7::build_ack(&h, crate::hl7::AckCode::AE, None, "X", 0);
            assert!(ack.contains(&format!("MSA|AE|{msa2}\r")), "{id}: {ack}");
        }
        // MSH-9, MSH-11 and MSH-15/16 as far as they read without MSH-2:
        // the ACK is the accept acknowledgment the sender asked for.
        let raw = b"MSH|^~\\&&|S|SF|R|RF|2024||ADT^A01^ADT_A01|C1|P^T|2.5|||AL|NE\rPID|1";
        assert!(parse(raw).is_err());
        let h = Header::of_unparsed(raw);
        assert_eq!(
            (h.message_type.as_str(), h.trigger_event.as_str()),
            ("ADT", "A01")
        );
        assert_eq!(h.processing_id, "P");
        assert_eq!(h.accept_ack_type.as_deref(), Some("AL"));
        assert_eq!(h.app_ack_type.as_deref(), Some("NE"));
        let ack = crate::hl7::build_ack(&h, crate::hl7::AckCode::AE, None, "X", 0);
        assert!(ack.contains("|ACK^A01^ACK|"), "{ack}");
        assert!(ack.contains("MSA|CE|C1"), "{ack}");
        // Original mode stays so.
        let h = Header::of_unparsed(b"MSH|^~\\&&|S|SF|R|RF|2024||ADT|C2|P|2.3");
        assert_eq!((h.trigger_event.as_str(), h.enhanced_mode()), ("", false));
        let ack = crate::hl7::build_ack(&h, crate::hl7::AckCode::AE, None, "X", 0);
        assert!(ack.contains("MSA|AE|C2"), "{ack}");
        // Behind batch headers, the message is still named.
        let h = Header::of_unparsed(
            b"FHS|^~\\&|S\rBHS|^~\\&|S\rMSH|^~\\&&|S|SF|R|RF|2024||ADT^A01|C3|P|2.5",
        );
        assert_eq!(h.control_id, "C3");
        // Short, without MSH, or without a usable MSH-1: nothing.
        for none in [
            &b"MSH|^~\\&&|A"[..],
            b"MSH",
            b"MSHA^~",
            b"MSH ^~",
            b"PID|1",
            b"",
            b"\xFF",
        ] {
            let h = Header::of_unparsed(none);
            assert_eq!(h.control_id, "", "{none:?}");
            assert_eq!(h.version, "", "{none:?}");
        }
    }

    #[test]
    fn table_0155_per_field() {
        // (value, wanted on success, wanted on error), MSH-15 and MSH-16 alike.
        let table = [
            ("AL", true, true),
            ("NE", false, false),
            ("ER", false, true),
            ("SU", true, false),
            ("ne", false, false),
            ("XX", true, true),
        ];
        for (value, on_success, on_error) in table {
            let h = with(value, "");
            assert_eq!(h.accept_ack_wanted(true), on_success, "MSH-15 {value}");
            assert_eq!(h.accept_ack_wanted(false), on_error, "MSH-15 {value}");
            let h = with("", value);
            assert_eq!(h.app_ack_wanted(true), on_success, "MSH-16 {value}");
            assert_eq!(h.app_ack_wanted(false), on_error, "MSH-16 {value}");
        }
        // Original mode: no accept acknowledgment, always an application one.
        let original = with("", "");
        assert!(!original.enhanced_mode());
        assert!(!original.accept_ack_wanted(true) && !original.accept_ack_wanted(false));
        assert!(original.app_ack_wanted(true) && original.app_ack_wanted(false));
        // An empty field beside a valued one asks for nothing.
        assert!(!with("", "AL").accept_ack_wanted(true));
        assert!(!with("AL", "").app_ack_wanted(false));
    }

    #[test]
    fn reply_kind_for_every_msh15_msh16_combination() {
        use AckKind::{Accept as C, Application as A};
        // MSH-15 down, MSH-16 across: the kind on success, then on error.
        let values = ["", "AL", "NE", "ER", "SU"];
        let table = [
            ("", [(A, A), (A, A), (A, A), (A, A), (A, A)]),
            ("AL", [(C, C), (C, C), (C, C), (C, C), (C, C)]),
            ("NE", [(A, A), (A, A), (A, A), (A, A), (A, A)]),
            ("ER", [(C, C), (A, C), (C, C), (C, C), (A, C)]),
            ("SU", [(C, C), (C, A), (C, C), (C, A), (C, C)]),
        ];
        for (msh15, row) in table {
            for (msh16, (on_success, on_error)) in values.into_iter().zip(row) {
                let h = with(msh15, msh16);
                assert_eq!(h.reply_kind(true), on_success, "{msh15}/{msh16} success");
                assert_eq!(h.reply_kind(false), on_error, "{msh15}/{msh16} error");
            }
        }
    }
}
