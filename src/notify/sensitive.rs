//! Sensitivity filtering of alert content (STANDARDS.md §7: "Diagnoses, after
//! sensitivity filtering", and "a flag when content was withheld for
//! consent"). Without the patient's recorded opt-in consent, diagnoses that
//! reveal substance use, mental health or HIV status are left out of the alert
//! text, and the DG1 segments carrying them are removed from the attached ADT.
//! Codes are ICD-10-CM: the whole F chapter (mental, behavioural and
//! neurodevelopmental disorders, F10–F19 substance use among them), B20–B24 and
//! Z21 (HIV), O99.31–O99.32 and O99.34 (substance use and mental disorders in
//! pregnancy), Z71.4 and Z71.5 (alcohol and drug counselling).

use super::adt::{AdtEvent, Coded};

/// Is this diagnosis code one that needs the patient's consent to disclose?
pub fn sensitive_code(code: &str) -> bool {
    let c = code.trim().to_ascii_uppercase().replace('.', "");
    let starts = |p: &str| c.starts_with(p);
    starts("F")
        || ["B20", "B21", "B22", "B23", "B24", "Z21", "Z714", "Z715"]
            .iter()
            .any(|p| starts(p))
        || ["O9931", "O9932", "O9934"].iter().any(|p| starts(p))
}

/// Does any of a coded value's codes need consent?
fn sensitive(c: &Coded) -> bool {
    c.codes.iter().any(|code| sensitive_code(code))
}

/// The event with sensitive diagnoses (and a sensitive admit reason) removed;
/// true when anything was withheld.
pub fn redact_event(ev: &AdtEvent) -> (AdtEvent, bool) {
    let mut out = ev.clone();
    out.diagnoses.retain(|d| !sensitive(d));
    let mut withheld = out.diagnoses.len() != ev.diagnoses.len();
    if sensitive(&ev.admit_reason) {
        out.admit_reason = Coded::default();
        withheld = true;
    }
    (out, withheld)
}

/// The ER7 message without DG1 segments whose DG1-3 carries a sensitive
/// code (in any repetition, as identifier or alternate identifier), and with
/// PV2-3 emptied when it does. Split into segments exactly as the parser
/// splits it (`hl7::raw_segments`: BOM, blank lines, CR-only mode), with the
/// parser's separators and escapes, the bytes kept as received (a Latin-1
/// message stays Latin-1); segments end in CR. Unparseable input (never an
/// alert) gives nothing.
pub fn redact_raw(raw: &[u8]) -> Vec<u8> {
    // Only parsed messages become alerts; anything else gives nothing away.
    let Ok(msg) = crate::hl7::parse(raw) else {
        return Vec::new();
    };
    let seps = msg.separators();
    let (body, segments) = crate::hl7::raw_segments(raw);
    let fs = seps.field;
    let field = |seg: &[u8], n: usize| -> Vec<u8> {
        seg.split(|b| *b == fs).nth(n).unwrap_or_default().to_vec()
    };
    let split = |v: &[u8], sep: Option<u8>| -> Vec<Vec<u8>> {
        match sep {
            Some(sep) => v.split(|b| *b == sep).map(<[u8]>::to_vec).collect(),
            None => vec![v.to_vec()],
        }
    };
    // A code counts as the parser reads it, escapes decoded.
    let flagged = |seg: &[u8]| {
        split(&field(seg, 3), seps.repetition).iter().any(|rep| {
            let parts = split(rep, seps.component);
            [0, 3].iter().any(|&i| {
                parts.get(i).is_some_and(|c| {
                    let text = String::from_utf8_lossy(c);
                    sensitive_code(&crate::hl7::escape::decode(&text, &seps))
                })
            })
        })
    };
    let named = |seg: &[u8], name: &[u8]| seg.starts_with(name) && seg.get(3) == Some(&fs);
    let mut out = Vec::with_capacity(body.len());
    for seg in segments.iter().filter_map(|r| body.get(r.clone())) {
        if named(seg, b"DG1") && flagged(seg) {
            continue;
        }
        if named(seg, b"PV2") && flagged(seg) {
            let fields: Vec<&[u8]> = seg.split(|b| *b == fs).collect();
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(fs);
                }
                if i != 3 {
                    out.extend_from_slice(f);
                }
            }
        } else {
            out.extend_from_slice(seg);
        }
        out.push(b'\r');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        for c in ["F10.20", "f32.9", "B20", "Z21", "Z71.41", "O99.320"] {
            assert!(sensitive_code(c), "{c}");
        }
        for c in ["R07.9", "I21.4", "Z00.00", "O99.2", ""] {
            assert!(!sensitive_code(c), "{c}");
        }
    }

    #[test]
    fn raw_loses_only_sensitive_segments() {
        let raw = b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5.1\rPID|1||X\rPV2|||F10.20^Alcohol dependence\rDG1|1||F10.20^Alcohol dependence^I10\rDG1|2||R07.9^Chest pain^I10\r";
        let out = String::from_utf8(redact_raw(raw)).expect("utf8");
        assert!(!out.contains("Alcohol"), "{out}");
        assert!(out.contains("DG1|2||R07.9^Chest pain^I10\r"), "{out}");
        assert!(out.contains("PV2|||\r"), "{out}");
        assert!(out.starts_with("MSH|^~\\&|A|B"));
    }

    #[test]
    fn raw_is_read_as_the_parser_reads_it() {
        // A BOM and blank lines before MSH, custom separators, LF endings,
        // Latin-1 text, and the sensitive code only as a second repetition's
        // alternate identifier.
        let raw = b"\xEF\xBB\xBF\r\n\nMSH#*!\\%#A#B#C#D#2026##ADT*A01#1#P#2.5.1\nPID#1##X##M\xFCller*J\nDG1#1##LOC1*Chest pain*L!LOC2*Alcohol dependence*L*F10.20*Alcohol dependence*I10\nDG1#2##R07.9*Chest pain, unspecified*I10\nPV2###*Alcohol withdrawal*L*F10.239\n".to_vec();
        let out = redact_raw(&raw);
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("Alcohol"), "{text}");
        assert!(text.starts_with("MSH#*!\\%#A"), "{text}");
        assert!(
            text.contains("DG1#2##R07.9*Chest pain, unspecified*I10\r"),
            "{text}"
        );
        assert!(text.contains("PV2###\r"), "{text}");
        assert!(
            out.windows(7).any(|w| w == b"M\xFCller*"),
            "Latin-1 bytes kept as received"
        );
        // And the event read from it loses the same things.
        let msg = crate::hl7::parse(&raw).expect("parse");
        let ev = crate::notify::adt::read(&msg).expect("event");
        let (redacted, withheld) = redact_event(&ev);
        assert!(withheld);
        assert_eq!(redacted.diagnoses.len(), 1);
        assert_eq!(redacted.diagnoses[0].text, "Chest pain, unspecified");
        assert!(redacted.admit_reason.text.is_empty());

        // A line of spaces before MSH, and CR-only mode, where an LF inside
        // a segment is data: the DG1 is still one segment, and still goes.
        let raw = b" \t\r\nMSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5.1\rPID|1||X\rDG1|1|\n|F10.20^Alcohol dependence^I10\rNTE|1||line one\nline two\r";
        let msg = crate::hl7::parse(raw).expect("parse");
        let ev = crate::notify::adt::read(&msg).expect("event");
        assert!(redact_event(&ev).1, "the event withholds the diagnosis");
        let out = redact_raw(raw);
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("Alcohol"), "{text}");
        assert!(text.starts_with("MSH|"), "{text}");
        assert!(text.contains("NTE|1||line one\nline two\r"), "{text}");

        // A code written with an escape is the code the parser reads.
        let raw = b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5.1\rPID|1||X\rDG1|1||\\X46\\10.20^Alcohol dependence^I10\r";
        let out = String::from_utf8_lossy(&redact_raw(raw)).into_owned();
        assert!(!out.contains("Alcohol"), "{out}");
        assert!(redact_raw(b"not hl7").is_empty());
    }
}
