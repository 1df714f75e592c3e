//! Field normalization: turns the raw strings of a roster row or a PID segment into the
//! folded forms the comparators and blocking keys work on. Nothing here compares two
//! records; it only decides what one record's fields *are*.
//!
//! STANDARDS §8: "Score with Fellegi-Sunter log-likelihood weights over normalized fields:
//! names with case, diacritics, hyphens and spaces folded; DOB; sex; ZIP5; phone digits."

/// Diacritic folding for Latin-1 Supplement and Latin Extended-A, applied after lowercasing.
/// Each row lists the accented forms and the ASCII they fold to.
const FOLDS: &[(&str, &str)] = &[
    ("àáâãäåāăąª", "a"),
    ("æ", "ae"),
    ("çćĉċč", "c"),
    ("ďđð", "d"),
    ("èéêëēĕėęě", "e"),
    ("ĝğġģ", "g"),
    ("ĥħ", "h"),
    ("ìíîïĩīĭįı", "i"),
    ("ĳ", "ij"),
    ("ĵ", "j"),
    ("ķĸ", "k"),
    ("ĺļľŀł", "l"),
    ("ñńņňŉŋ", "n"),
    ("òóôõöøōŏőº", "o"),
    ("œ", "oe"),
    ("ŕŗř", "r"),
    ("śŝşšſ", "s"),
    ("ß", "ss"),
    ("ţťŧ", "t"),
    ("þ", "th"),
    ("ùúûüũūŭůűų", "u"),
    ("ŵ", "w"),
    ("ýÿŷ", "y"),
    ("źżž", "z"),
];

/// Combining diacritical marks, dropped so decomposed (NFD) input folds like composed input.
const COMBINING: std::ops::RangeInclusive<char> = '\u{0300}'..='\u{036F}';

/// Registration placeholders that name nobody; they are treated as a missing name.
const PLACEHOLDERS: &[&str] = &[
    "unknown", "unk", "none", "notgiven", "babyboy", "babygirl", "baby", "trauma", "patient",
];

/// Folds a personal name for comparison: lowercase, diacritics folded through [`FOLDS`],
/// and every hyphen, space, apostrophe or other non-alphanumeric character removed.
/// Letters of other scripts are kept (lowercased) so they still compare exactly.
pub fn normalize_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        fold_char(c, &mut out);
    }
    out
}

fn fold_char(c: char, out: &mut String) {
    if c.is_ascii_alphanumeric() {
        out.push(c);
    } else if c.is_ascii() || COMBINING.contains(&c) {
        // ASCII punctuation and spaces, and combining accents: folded away.
    } else if let Some((_, ascii)) = FOLDS.iter().find(|(from, _)| from.contains(c)) {
        out.push_str(ascii);
    } else if c.is_alphanumeric() {
        out.push(c);
    }
}

/// True for a folded name that is a registration placeholder rather than a name.
pub(super) fn is_placeholder(folded: &str) -> bool {
    PLACEHOLDERS.contains(&folded)
}

/// Identifier values registration staff type when the real one is unknown.
const PLACEHOLDER_IDS: &[&str] = &[
    "UNKNOWN",
    "UNK",
    "NONE",
    "NULL",
    "NA",
    "NOTAVAILABLE",
    "NOTGIVEN",
    "TEMP",
    "TBD",
    "PENDING",
    "REFUSED",
    "DECLINED",
    "NOID",
    "NOMRN",
    "NOSSN",
    "UNAVAILABLE",
    "NOTAPPLICABLE",
    "TEST",
];

/// Assigning authorities that mean the US Social Security Administration (HL7 table 0363
/// "SSA", common local spellings, and its OID).
const SSA: &[&str] = &["ssa", "ss", "ssn", "usssa", "2.16.840.1.113883.4.1"];

/// True for an identifier value that cannot tell one patient from another: a stand-in
/// typed when the real one is unknown, shared by every patient it was typed for. Such a
/// value matches nobody (STANDARDS §8 makes an identifier match outright, so a shared one
/// would match strangers):
/// - nothing but punctuation, zeros alone ("0", "000-00"), or one character repeated six
///   or more times ("999-99-9999", "XXXXXX"): short numbers like "7", "11" or "11111"
///   are real patient numbers somewhere;
/// - a run of six or more consecutive digits, up or down, wrapping between 9 and 0
///   ("123456789", "1234567890", "987654");
/// - a word for "unknown" ([`PLACEHOLDER_IDS`]);
/// - under the SSA, any value the SSA never issues: not nine digits, area 000, 666 or
///   900–999, group 00 or serial 0000, and the famous wallet sample 078-05-1120.
pub(super) fn is_placeholder_identifier(value: &str, authority: &str) -> bool {
    let folded: Vec<u8> = value
        .bytes()
        .filter(u8::is_ascii_alphanumeric)
        .map(|b| b.to_ascii_uppercase())
        .collect();
    let Some(&first) = folded.first() else {
        return true;
    };
    let repeated = folded.iter().all(|&b| b == first) && (first == b'0' || folded.len() >= 6);
    let digits = folded.iter().all(u8::is_ascii_digit);
    // Consecutive digits, wrapping from 9 to 0 ("1234567890") and back.
    let run = |step: i16| {
        folded
            .windows(2)
            .all(|w| (i16::from(w[1]) - i16::from(w[0])).rem_euclid(10) == step)
    };
    let sequential = digits && folded.len() >= 6 && (run(1) || run(9));
    let word = PLACEHOLDER_IDS.iter().any(|w| w.as_bytes() == folded);
    repeated || sequential || word || (is_ssa(authority) && !issued_ssn(&folded))
}

/// Whether an assigning authority (its first subcomponent, when given whole)
/// is the SSA ([`SSA`]).
pub(super) fn is_ssa(authority: &str) -> bool {
    let authority = authority.split('&').next().unwrap_or_default().trim();
    let authority = authority.strip_prefix("urn:oid:").unwrap_or(authority);
    SSA.iter().any(|a| a.eq_ignore_ascii_case(authority))
}

/// Whether nine folded characters could be an SSN the SSA issues.
fn issued_ssn(v: &[u8]) -> bool {
    if v.len() != 9 || !v.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let (area, group, serial) = (&v[..3], &v[3..5], &v[5..]);
    area != b"000"
        && area != b"666"
        && area[0] != b'9'
        && group != b"00"
        && serial != b"0000"
        && v != b"078051120"
}

/// A date of birth as its eight digits `YYYYMMDD`. HL7 TS values with a time part are cut
/// to the date; anything that does not start with eight digits is treated as missing.
pub(super) fn dob(raw: &str) -> Option<[u8; 8]> {
    let bytes = raw.trim().as_bytes();
    let head = bytes.get(..8)?;
    let mut digits = [0u8; 8];
    for (slot, &b) in digits.iter_mut().zip(head) {
        *slot = b.checked_sub(b'0').filter(|d| *d <= 9)?;
    }
    // Before 1901 is a placeholder ("19000101", "00000000"), not a living
    // patient's birth: missing, never evidence.
    let year = digits[..4].iter().fold(0u32, |y, &d| y * 10 + u32::from(d));
    (year > 1900).then_some(digits)
}

/// HL7 table 0001: M, F and O are values; U (unknown), A, N and anything else are missing.
pub(super) fn sex(raw: char) -> Option<char> {
    match raw.to_ascii_uppercase() {
        c @ ('M' | 'F' | 'O') => Some(c),
        _ => None,
    }
}

/// The first five alphanumerics of a postal code, uppercased: ZIP5 for US codes
/// ("06510-1234" → "06510"). Shorter codes are missing.
/// Letters are kept for Canadian postal codes, which have digits too; five
/// characters with no digit ("UNKNOWN") or one digit repeated ("00000",
/// "99999") are placeholders, missing rather than a disagreement.
pub(super) fn zip5(raw: &str) -> Option<String> {
    let zip: String = raw
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(5)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let has_digit = zip.chars().any(|c| c.is_ascii_digit());
    let repeated = zip.as_bytes().windows(2).all(|w| w[0] == w[1]);
    (zip.len() == 5 && has_digit && !repeated).then_some(zip)
}

/// The last ten digits of a phone number, before any extension ("x12",
/// "ext. 12": the number ends at the first letter after a digit). Fewer
/// than seven digits, one digit repeated ("000-000-0000", "999 9999") or a
/// run ("1234567890", "987-6543") is a placeholder and treated as missing.
pub(super) fn phone(raw: &str) -> Option<String> {
    let mut digits: Vec<u8> = Vec::new();
    for c in raw.chars() {
        if c.is_ascii_digit() {
            digits.push(c as u8 - b'0');
        } else if c.is_alphabetic() && !digits.is_empty() {
            break;
        }
    }
    let tail = &digits[digits.len().saturating_sub(10)..];
    // Each digit `d` more than the one before (mod 10): 0 repeats, 1 and 9 runs.
    let step = |d: u8| tail.windows(2).all(|w| (w[0] + d) % 10 == w[1]);
    let placeholder = step(0) || step(1) || step(9);
    (tail.len() >= 7 && !placeholder).then(|| tail.iter().map(|d| char::from(b'0' + d)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold() {
        let table = [
            ("José", "jose"),
            ("O'Brien-Smith", "obriensmith"),
            ("  de la Cruz ", "delacruz"),
            ("MÜLLER", "muller"),
            ("Straße", "strasse"),
            ("Łukasz", "lukasz"),
            ("Ørsted", "orsted"),
            ("Œuvray", "oeuvray"),
            ("Dvořák", "dvorak"),
            ("Çelik", "celik"),
            ("Ñúñez", "nunez"),
            ("Þórr", "thorr"),
            ("Jose\u{301}", "jose"),
            ("D’Angelo", "dangelo"),
            ("St. John", "stjohn"),
            ("Ĳsselmeer", "ijsselmeer"),
            ("Αλέξης", "αλέξης"),
            ("", ""),
            ("-- ' --", ""),
        ];
        for (raw, want) in table {
            assert_eq!(normalize_name(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn every_fold_row_is_lowercase_and_ascii() {
        for (from, to) in FOLDS {
            assert!(to.is_ascii(), "{to}");
            for c in from.chars() {
                assert!(!c.is_ascii(), "{c}");
                assert_eq!(normalize_name(&c.to_string()), *to, "{c}");
            }
        }
    }

    #[test]
    fn dob_parses_eight_digits() {
        assert_eq!(dob("19650312"), Some([1, 9, 6, 5, 0, 3, 1, 2]));
        assert_eq!(dob("196503120830"), Some([1, 9, 6, 5, 0, 3, 1, 2]));
        assert_eq!(dob("1965-03-12"), None);
        assert_eq!(dob("1965"), None);
        assert_eq!(dob("é9650312"), None);
        assert_eq!(dob("19000101"), None, "a placeholder");
        assert_eq!(dob("00000000"), None);
    }

    #[test]
    fn contact_fields() {
        assert_eq!(zip5("06510-1234").as_deref(), Some("06510"));
        assert_eq!(zip5("0651"), None);
        assert_eq!(phone("+1 (203) 555-0142").as_deref(), Some("2035550142"));
        assert_eq!(phone("555-0142").as_deref(), Some("5550142"));
        assert_eq!(phone("000-000-0000"), None);
        assert_eq!(phone("1234567890"), None);
        assert_eq!(phone("(098) 765-4321"), None);
        assert_eq!(phone("203-555-0142 x12").as_deref(), Some("2035550142"));
        assert_eq!(phone("203-555-0142 ext. 12").as_deref(), Some("2035550142"));
        assert_eq!(phone("tel:+1-203-555-0142").as_deref(), Some("2035550142"));
        assert_eq!(zip5("UNKNOWN"), None);
        assert_eq!(zip5("00000"), None);
        assert_eq!(zip5("K1A 0B1").as_deref(), Some("K1A0B"));
        assert_eq!(phone("12345"), None);
        assert_eq!(sex('f'), Some('F'));
        assert_eq!(sex('U'), None);
    }
}
