//! Escape sequences: every one in the standard's list, verbatim fallbacks,
//! custom escape characters, and encode/decode round trips.

use std::borrow::Cow;

use hisp::hl7::escape::{MAX_REPEAT, decode, encode};
use hisp::hl7::{Separators, parse};

fn d(raw: &str) -> String {
    decode(raw, &Separators::STANDARD).into_owned()
}

#[test]
fn delimiter_escapes() {
    assert_eq!(d("a\\F\\b"), "a|b");
    assert_eq!(d("a\\S\\b"), "a^b");
    assert_eq!(d("a\\T\\b"), "a&b");
    assert_eq!(d("a\\R\\b"), "a~b");
    assert_eq!(d("a\\E\\b"), "a\\b");
    assert_eq!(d("\\F\\\\S\\\\T\\\\R\\\\E\\"), "|^&~\\");
    // \P\ only means something when MSH-2 declares a truncation char.
    assert_eq!(d("a\\P\\b"), "a\\P\\b");
    let v27 = Separators {
        truncation: Some(b'#'),
        ..Separators::STANDARD
    };
    assert_eq!(decode("a\\P\\b", &v27), "a#b");
}

#[test]
fn hex_escapes() {
    assert_eq!(d("\\X0D0A\\"), "\r\n");
    assert_eq!(d("A\\X41\\B"), "AAB");
    assert_eq!(d("\\Xc3a9\\"), "é"); // UTF-8 bytes, lower-case hex
    assert_eq!(d("\\XE9\\"), "é"); // not UTF-8 → Latin-1
    // One character's UTF-8 bytes split across adjacent sequences (how an
    // encoder writing a byte per sequence sends "é" and "日").
    assert_eq!(d("Ren\\XC3\\\\XA9\\e"), "Renée");
    assert_eq!(d("\\XE6\\\\X97\\\\XA5\\"), "日");
    // Text or another sequence between them ends the run.
    assert_eq!(d("\\XC3\\x\\XA9\\"), "Ãx©");
    assert_eq!(d("\\XC3\\\\H\\\\XA9\\"), "Ã©");
    // A run that is not UTF-8 is Latin-1 throughout, as one sequence is.
    assert_eq!(d("\\XE9\\\\XE8\\"), "éè");
    assert_eq!(d("\\X41\\\\XE9\\\\F\\"), "Aé|");
    // Odd length, non-hex or empty: verbatim.
    for raw in ["\\X0\\", "\\XZZ\\", "\\X\\", "\\X0D0\\"] {
        assert_eq!(d(raw), raw);
    }
}

#[test]
fn highlighting_and_charset_switches_are_dropped() {
    assert_eq!(d("\\H\\bold\\N\\ text"), "bold text");
    assert_eq!(d("a\\C2842\\b"), "ab");
    assert_eq!(d("a\\M2442\\b"), "ab");
    assert_eq!(d("a\\M244244\\b"), "ab");
    // Malformed switches are unknown escapes: verbatim.
    assert_eq!(d("a\\C28\\b"), "a\\C28\\b");
    assert_eq!(d("a\\MXYZW\\b"), "a\\MXYZW\\b");
}

#[test]
fn formatting_commands() {
    assert_eq!(d("one\\.br\\two"), "one\ntwo");
    assert_eq!(d("one\\.sp\\two"), "one\ntwo");
    assert_eq!(d("one\\.sp 3\\two"), "one\n\n\ntwo");
    assert_eq!(d("one\\.sp3\\two"), "one\n\n\ntwo");
    assert_eq!(d("\\.in 4\\x"), "    x");
    assert_eq!(d("\\.in+4\\\\.ti-4\\x"), "    x");
    assert_eq!(d("\\.ti 2\\x"), "  x");
    assert_eq!(d("a\\.sk 3\\b"), "a   b");
    assert_eq!(d("a\\.ce\\b"), "a\nb");
    assert_eq!(d("\\.nf\\a\\.fi\\b"), "ab");
    // Unknown or malformed commands are kept.
    assert_eq!(d("\\.xx\\"), "\\.xx\\");
    assert_eq!(d("\\.sp x\\"), "\\.sp x\\");
    assert_eq!(d("\\.sk\\"), "\\.sk\\");
    // Repeat counts are capped.
    assert_eq!(d("\\.sp 999999999999999999999999\\").len(), MAX_REPEAT);
    assert_eq!(d("\\.sk 5000\\").len(), MAX_REPEAT);
}

#[test]
fn local_unknown_and_unterminated_are_verbatim() {
    assert_eq!(d("a\\Zfoo\\b"), "a\\Zfoo\\b");
    assert_eq!(d("a\\Q\\b"), "a\\Q\\b");
    assert_eq!(d("a\\\\b"), "a\\\\b");
    assert_eq!(d("C:\\temp"), "C:\\temp");
    assert_eq!(d("trailing\\"), "trailing\\");
    assert_eq!(d("\\F\\ then \\open"), "| then \\open");
    assert_eq!(d("\\"), "\\");
}

#[test]
fn no_escape_means_borrowed() {
    assert!(matches!(
        decode("plain text", &Separators::STANDARD),
        Cow::Borrowed(_)
    ));
    let no_esc = Separators {
        escape: None,
        ..Separators::STANDARD
    };
    assert!(matches!(
        decode("a\\F\\b", &no_esc),
        Cow::Borrowed("a\\F\\b")
    ));
}

#[test]
fn custom_escape_character() {
    let text = "MSH|^~!&|A|B|C|D|2024||ADT^A01|1|P|2.5\rNTE|1||a!F!b!.br!c!X41!\\d\r";
    let msg = parse(text.as_bytes()).expect("parse");
    assert_eq!(msg.get("NTE-3").as_deref(), Some("a|b\ncA\\d"));
}

#[test]
fn encode_round_trips() {
    let s = Separators::STANDARD;
    assert_eq!(
        encode("a|b^c&d~e\\f", &s),
        "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f"
    );
    assert_eq!(encode("line\r\nnext", &s), "line\\X0D\\\\X0A\\next");
    assert!(matches!(encode("plain", &s), Cow::Borrowed("plain")));
    for text in ["|^&~\\", "x\\F\\y", "é and ü", "\\X41\\", "a\r\nb", ""] {
        assert_eq!(decode(&encode(text, &s), &s), text, "{text:?}");
    }
    let no_esc = Separators { escape: None, ..s };
    assert_eq!(encode("a|b^c", &no_esc), "a b c");
}

#[test]
fn escapes_decoded_through_the_message() {
    let text = "MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rNTE|1||Smith \\T\\ Sons\\.br\\ward \\F\\ 3^second\r";
    let msg = parse(text.as_bytes()).expect("parse");
    assert_eq!(
        msg.get("NTE-3.1").as_deref(),
        Some("Smith & Sons\nward | 3")
    );
    assert_eq!(msg.get("NTE-3.2").as_deref(), Some("second"));
    let nte = msg.segment("NTE").and_then(|s| s.field(3)).expect("NTE-3");
    assert_eq!(nte.components().count(), 2);
    assert!(nte.raw().contains("\\T\\"));
}

#[test]
fn encode_escapes_every_control_character() {
    let s = Separators::STANDARD;
    // <VT> and <FS> would cut the MLLP frame carrying the value.
    assert_eq!(encode("A\u{1c}B\u{0b}C", &s), "A\\X1C\\B\\X0B\\C");
    assert_eq!(encode("nul\0del\u{7f}", &s), "nul\\X00\\del\\X7F\\");
    for c in (0u8..0x20).chain([0x7F]).map(char::from) {
        let text = format!("a{c}b");
        let out = encode(&text, &s);
        assert!(!out.chars().any(|c| c.is_ascii_control()), "{c:?}: {out}");
        assert_eq!(decode(&out, &s), text, "{c:?}");
    }
    // Beyond ASCII nothing changes (C1 and Latin-1 text are data).
    assert!(matches!(encode("é\u{85}", &s), Cow::Borrowed(_)));
    let no_esc = Separators { escape: None, ..s };
    assert_eq!(encode("a\u{1c}b", &no_esc), "a b");
}
