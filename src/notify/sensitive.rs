//! Sensitivity filtering of alert content (STANDARDS.md §7: "Diagnoses, after
//! sensitivity filtering", and "a flag when content was withheld for
//! consent"). Without the patient's recorded opt-in consent, diagnoses that
//! reveal substance use, mental health or HIV status are left out of the alert
//! text, and the DG1 segments carrying them are removed from the attached ADT.
//! Codes are ICD-10-CM: the whole F chapter (mental, behavioural and
//! neurodevelopmental disorders, F10–F19 substance use among them), B20–B24 and
//! Z21 (HIV), O99.31–O99.32 and O99.34 (substance use and mental disorders in
//! pregnancy), Z71.4 and Z71.5 (alcohol and drug counselling).

use super::adt::AdtEvent;

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

/// The event with sensitive diagnoses (and a sensitive admit reason) removed;
/// true when anything was withheld.
pub fn redact_event(ev: &AdtEvent) -> (AdtEvent, bool) {
    let mut out = ev.clone();
    out.diagnoses.retain(|(code, _)| !sensitive_code(code));
    let mut withheld = out.diagnoses.len() != ev.diagnoses.len();
    if sensitive_code(&ev.admit_reason_code) {
        out.admit_reason = String::new();
        out.admit_reason_code = String::new();
        withheld = true;
    }
    (out, withheld)
}

/// The ER7 message without DG1 segments whose DG1-3.1 is sensitive (and with
/// PV2-3 emptied when its code is); segments are CR-separated as received.
pub fn redact_raw(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let Some(field_sep) = text.get(3..4).and_then(|s| s.chars().next()) else {
        return raw.to_vec();
    };
    let comp_sep = text.get(4..5).and_then(|s| s.chars().next()).unwrap_or('^');
    let code_of = |seg: &str, n: usize| -> String {
        seg.split(field_sep)
            .nth(n)
            .and_then(|f| f.split(comp_sep).next())
            .unwrap_or("")
            .to_string()
    };
    let mut out = Vec::with_capacity(raw.len());
    for seg in text.split(['\r', '\n']).filter(|s| !s.is_empty()) {
        if seg.starts_with("DG1") && sensitive_code(&code_of(seg, 3)) {
            continue;
        }
        if seg.starts_with("PV2") && sensitive_code(&code_of(seg, 3)) {
            let mut fields: Vec<&str> = seg.split(field_sep).collect();
            if let Some(f) = fields.get_mut(3) {
                *f = "";
            }
            out.extend_from_slice(fields.join(&field_sep.to_string()).as_bytes());
        } else {
            out.extend_from_slice(seg.as_bytes());
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
}
