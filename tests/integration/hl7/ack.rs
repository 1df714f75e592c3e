//! Acknowledgments: round trips over the corpus, enhanced mode, ERR layout
//! per version, escaping of caller text, and timestamp formatting.

use super::support::corpus;
use hisp::hl7::ack::format_ts;
use hisp::hl7::{
    AckCode, AckError, ErrorCode, ErrorLocation, Header, ParseError, build_ack, parse, parse_ack,
};

const NOW: i64 = 1_718_454_896; // 2024-06-15T12:34:56Z

fn internal(text: &str) -> AckError {
    AckError {
        code: ErrorCode::ApplicationInternalError,
        message: text.into(),
        location: None,
    }
}

#[test]
fn corpus_round_trip() {
    for (name, bytes) in corpus() {
        let orig = parse(&bytes).expect("parse").header();
        for code in [AckCode::AA, AckCode::AE, AckCode::AR] {
            let err = (code != AckCode::AA).then(|| internal("could not file"));
            let ack = build_ack(&orig, code, err.as_ref(), "ACK-1", NOW);
            assert!(ack.ends_with('\r') && !ack.contains('\n'), "{name}");
            let (msa1, msa2) = parse_ack(ack.as_bytes()).expect("parse ack");
            assert_eq!(
                msa1,
                code.msa1(orig.reply_kind(code.is_success())),
                "{name}"
            );
            assert_eq!(msa2, orig.control_id, "{name}");
            let back = parse(ack.as_bytes()).expect("ack parses").header();
            assert_eq!(back.sending_app, orig.receiving_app, "{name}");
            assert_eq!(back.sending_facility, orig.receiving_facility, "{name}");
            assert_eq!(back.receiving_app, orig.sending_app, "{name}");
            assert_eq!(back.receiving_facility, orig.sending_facility, "{name}");
            assert_eq!(back.version, orig.version, "{name}");
            assert_eq!(back.processing_id, orig.processing_id, "{name}");
            assert_eq!(back.message_type, "ACK", "{name}");
            assert_eq!(back.trigger_event, orig.trigger_event, "{name}");
            assert_eq!(back.control_id, "ACK-1", "{name}");
            assert_eq!(back.timestamp, "20240615123456+0000", "{name}");
            let segs: Vec<_> = ack.split_terminator('\r').map(|s| &s[..3]).collect();
            let want: &[&str] = if err.is_some() {
                &["MSH", "MSA", "ERR"]
            } else {
                &["MSH", "MSA"]
            };
            assert_eq!(segs, want, "{name}");
        }
    }
}

fn header(version: &str, event: &str) -> Header {
    let text =
        format!("MSH|^~\\&|SEND^1.2.3^ISO|SFAC|RECV|RFAC|2024||ADT^{event}|ORIG-9|T|{version}\r");
    parse(text.as_bytes()).expect("parse").header()
}

#[test]
fn msh9_shape_follows_version() {
    let line = |v: &str| {
        let ack = build_ack(&header(v, "A04"), AckCode::AA, None, "K", NOW);
        ack.split('|').nth(8).map(str::to_owned)
    };
    assert_eq!(line("2.3").as_deref(), Some("ACK^A04"));
    assert_eq!(line("2.3.1").as_deref(), Some("ACK^A04^ACK"));
    assert_eq!(line("2.5.1").as_deref(), Some("ACK^A04^ACK"));
    assert_eq!(line("2.8").as_deref(), Some("ACK^A04^ACK"));
}

#[test]
fn exact_ack_v251_with_error_and_escaped_text() {
    let err = AckError {
        code: ErrorCode::DataType,
        message: "PID-7 bad | date ^ here\r".into(),
        location: Some(ErrorLocation {
            segment: "PID".into(),
            sequence: 1,
            field: 7,
        }),
    };
    let ack = build_ack(&header("2.5.1", "A01"), AckCode::AE, Some(&err), "K1", NOW);
    assert_eq!(
        ack,
        "MSH|^~\\&|RECV|RFAC|SEND^1.2.3^ISO|SFAC|20240615123456+0000||ACK^A01^ACK|K1|T|2.5.1\r\
         MSA|AE|ORIG-9\r\
         ERR||PID^1^7|102^Data type error^HL70357|E||||PID-7 bad \\F\\ date \\S\\ here\\X0D\\\r"
    );
    let msg = parse(ack.as_bytes()).expect("parse");
    assert_eq!(
        msg.get("ERR-8").as_deref(),
        Some("PID-7 bad | date ^ here\r")
    );
    assert_eq!(msg.get("ERR-3.1").as_deref(), Some("102"));
    assert_eq!(msg.get("ERR-4").as_deref(), Some("E"));
}

#[test]
fn legacy_err_layout_for_v23() {
    let ack = build_ack(
        &header("2.3", "A01"),
        AckCode::AR,
        Some(&internal("a|b")),
        "K",
        NOW,
    );
    let msg = parse(ack.as_bytes()).expect("parse");
    assert_eq!(msg.get("MSA-1").as_deref(), Some("AR"));
    assert_eq!(msg.get("MSA-3").as_deref(), Some("a|b"));
    assert!(ack.contains("MSA|AR|ORIG-9|a\\F\\b\r"));
    assert_eq!(msg.get("ERR-1.4.1").as_deref(), Some("207"));
    assert_eq!(
        msg.get("ERR-1.4.2").as_deref(),
        Some("Application internal error")
    );
    assert_eq!(msg.get("ERR-3"), None);
}

#[test]
fn enhanced_mode_and_the_reply_codes() {
    let base = "MSH|^~\\&|S|SF|R|RF|2024||ADT^A01^ADT_A01|X1|P|2.5.1";
    // (tail, enhanced, accept codes): MSH-15 decides CA/CE/CR; NE/AL and an
    // empty MSH-15 answer as original mode does.
    for (tail, enhanced, accept) in [
        ("", false, false),
        ("|||AL", true, true),
        ("||||AL", true, false),
        ("|||NE|AL", true, false),
        ("|||NE|NE", true, false),
        ("||| ", false, false),
        ("|||\"\"", false, false),
    ] {
        let h = parse(format!("{base}{tail}\r").as_bytes())
            .expect("parse")
            .header();
        assert_eq!(h.enhanced_mode(), enhanced, "{tail:?}");
        for (code, orig, commit) in [
            (AckCode::AA, "AA", "CA"),
            (AckCode::AE, "AE", "CE"),
            (AckCode::AR, "AR", "CR"),
        ] {
            let ack = build_ack(&h, code, None, "K", NOW);
            let (msa1, _) = parse_ack(ack.as_bytes()).expect("ack");
            assert_eq!(msa1, if accept { commit } else { orig }, "{tail:?}");
        }
    }
}

#[test]
fn accept_ack_wanted_follows_msh15() {
    let with = |t: &str| {
        parse(format!("MSH|^~\\&|S|SF|R|RF|2024||ADT^A01|1|P|2.5|||{t}\r").as_bytes())
            .expect("parse")
            .header()
    };
    // Original mode has no accept acknowledgments.
    assert!(!with("").accept_ack_wanted(true) && !with("").accept_ack_wanted(false));
    assert!(with("AL").accept_ack_wanted(true) && with("AL").accept_ack_wanted(false));
    assert!(!with("NE").accept_ack_wanted(true) && !with("NE").accept_ack_wanted(false));
    assert!(with("ER").accept_ack_wanted(false) && !with("ER").accept_ack_wanted(true));
    assert!(with("SU").accept_ack_wanted(true) && !with("SU").accept_ack_wanted(false));
}

#[test]
fn hostile_header_values_are_escaped() {
    // Values decoded from the original (here MSH-10 and MSH-3 carry escapes)
    // must be re-escaped, or they would break the ACK's structure.
    let text = "MSH|^~\\&|A\\F\\B|F|R|RF|2024||ADT^A01|ID\\S\\7|P|2.5\r";
    let h = parse(text.as_bytes()).expect("parse").header();
    assert_eq!(h.control_id, "ID^7");
    let ack = build_ack(&h, AckCode::AA, None, "my|id", NOW);
    let (_, msa2) = parse_ack(ack.as_bytes()).expect("ack");
    assert_eq!(msa2, "ID^7");
    let back = parse(ack.as_bytes()).expect("parse").header();
    assert_eq!(back.receiving_app.namespace_id, "A|B");
    assert_eq!(back.control_id, "my|id");
}

#[test]
fn empty_header_still_gives_a_well_formed_ack() {
    let h = parse(b"MSH|^~\\&").expect("parse").header();
    let ack = build_ack(&h, AckCode::AR, Some(&internal("no header")), "K", 0);
    assert!(ack.starts_with("MSH|^~\\&|||||19700101000000+0000||ACK^^ACK|K|P|2.5\r"));
    assert_eq!(
        parse_ack(ack.as_bytes()).expect("ack"),
        ("AR".into(), String::new())
    );
}

#[test]
fn parse_ack_errors() {
    assert_eq!(parse_ack(b""), Err(ParseError::Empty));
    assert_eq!(
        parse_ack(b"MSH|^~\\&|A|B|C|D|2024||ACK|1|P|2.5\r"),
        Err(ParseError::MissingSegment("MSA"))
    );
    let ok = parse_ack(b"MSH|^~\\&|A|B|C|D|2024||ACK^A01^ACK|1|P|2.5\nMSA|AA|MSG1\n");
    assert_eq!(ok, Ok(("AA".into(), "MSG1".into())));
}

#[test]
fn timestamps() {
    assert_eq!(format_ts(0), "19700101000000+0000");
    assert_eq!(format_ts(NOW), "20240615123456+0000");
    assert_eq!(format_ts(951_782_400), "20000229000000+0000"); // leap day
    assert_eq!(format_ts(-1), "19691231235959+0000");
    assert_eq!(format_ts(i64::MIN), "00000101000000+0000");
    assert_eq!(format_ts(i64::MAX), "99991231235959+0000");
}

/// The ACK for a message whose MSH-10 (raw) is `msh10`, under MSH-2 `enc`.
fn ack_for(enc: &str, msh10: &str) -> (Header, String) {
    let text = format!("MSH|{enc}|S|SF|R|RF|2024||ADT^A01|{msh10}|P|2.5.1\r");
    let h = parse(text.as_bytes()).expect("parse").header();
    let ack = build_ack(&h, AckCode::AA, None, "K", NOW);
    (h, ack)
}

fn msa2_raw(ack: &str) -> &str {
    let msa = ack
        .split('\r')
        .find(|s| s.starts_with("MSA|"))
        .expect("MSA");
    msa.split('|').nth(2).expect("MSA-2")
}

#[test]
fn msa2_echoes_msh10_as_sent_and_never_carries_a_control_character() {
    // As sent, under the same separators: escapes and repetitions intact.
    for sent in ["A\\X41\\B", "123~A", "X\\F\\Y", "plain-1"] {
        let (_, ack) = ack_for("^~\\&", sent);
        assert_eq!(msa2_raw(&ack), sent);
        // v2.7's truncation character beside them changes nothing.
        let (_, ack) = ack_for("^~\\&#", sent);
        assert_eq!(msa2_raw(&ack), sent);
    }
    // Decoded to a control character: escaped, so the frame stays whole.
    let (h, ack) = ack_for("^~\\&", "A\\X1C\\B\\X0B\\");
    assert_eq!(h.control_id, "A\u{1c}B\u{0b}");
    assert_eq!(msa2_raw(&ack), "A\\X1C\\B\\X0B\\");
    assert!(
        !ack.bytes().any(|b| b == 0x1C || b == 0x0B || b == 0),
        "{ack:?}"
    );
    let (h, ack) = ack_for("^~\\&", "A\u{0}B");
    assert_eq!(h.control_id, "A\u{0}B");
    assert_eq!(msa2_raw(&ack), "A\\X00\\B");
    // Other separators: each repetition decoded and written our way.
    let (_, ack) = ack_for("^*!&", "A!X41!B*C");
    assert_eq!(msa2_raw(&ack), "AAB~C");
    let (_, ack) = ack_for("^*!&", "a~b");
    assert_eq!(msa2_raw(&ack), "a\\R\\b");
}

#[test]
fn the_control_id_is_the_whole_field() {
    let (a, _) = ack_for("^~\\&", "123~A");
    let (b, _) = ack_for("^~\\&", "123~B");
    assert_eq!(a.control_id, "123~A");
    assert_ne!(a.control_id, b.control_id, "two messages, two keys");
    let (one, _) = ack_for("^~\\&", "123");
    assert_eq!(one.control_id, "123");
}

#[test]
fn our_own_control_id_fits_msh10s_20_characters() {
    use hisp::hl7::ack_control_id;
    let (short, _) = ack_for("^~\\&", "MSG00001");
    assert_eq!(ack_control_id(&short), "ACKMSG00001");
    for long in [
        "12345678901234567890",
        "X".repeat(199).as_str(),
        "A\\X00\\B",
        "1~2",
    ] {
        let (h, _) = ack_for("^~\\&", long);
        let id = ack_control_id(&h);
        assert!(id.len() <= 20 && id.starts_with("ACK"), "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        assert_eq!(id, ack_control_id(&h), "the same message, the same id");
    }
    let (a, _) = ack_for("^~\\&", &"A".repeat(30));
    let (b, _) = ack_for("^~\\&", &"B".repeat(30));
    assert_ne!(ack_control_id(&a), ack_control_id(&b));
}

#[test]
fn a_facility_known_only_by_its_oid_is_named_by_it() {
    let text = "MSH|^~\\&|APP|^2.16.840.1.113883.3.1^ISO|R|RF|2024||ADT^A01|1|P|2.5.1\r";
    let h = parse(text.as_bytes()).expect("parse").header();
    assert_eq!(h.sending_facility.namespace_id, "");
    assert_eq!(h.sending_facility.id(), "2.16.840.1.113883.3.1");
    let text = "MSH|^~\\&|APP|NORTH^2.16.840.1^ISO|R|RF|2024||ADT^A01|1|P|2.5.1\r";
    let h = parse(text.as_bytes()).expect("parse").header();
    assert_eq!(h.sending_facility.id(), "NORTH", "HD.1 first");
    let text = "MSH|^~\\&|APP|\"\"|R|RF|2024||ADT^A01|1|P|2.5.1\r";
    let h = parse(text.as_bytes()).expect("parse").header();
    assert_eq!(h.sending_facility.id(), "");
}

/// Table 0357's 104 (Value too long) came with v2.7: an older message's
/// ACK says 102 (Data type error), the nearest code its table has, in
/// either shape of ERR; ERR's text still says what was too long.
#[test]
fn value_too_long_is_104_only_from_v2_7() {
    let err = AckError {
        code: ErrorCode::ValueTooLong,
        message: "MSH-10 is longer than 199 characters".into(),
        location: None,
    };
    for (version, want) in [
        ("2.7", "|104^Value too long^HL70357|"),
        ("2.8", "|104^Value too long^HL70357|"),
        ("2.5.1", "|102^Data type error^HL70357|"),
        ("2.3", "^102&Data type error&HL70357"),
        ("", "|102^Data type error^HL70357|"),
    ] {
        let text = format!("MSH|^~\\&|S|SF|R|RF|2024||ADT^A01|K1|P|{version}\r");
        let h = parse(text.as_bytes()).expect("parse").header();
        let ack = build_ack(&h, AckCode::AR, Some(&err), "K", NOW);
        assert!(ack.contains(want), "{version}: {ack}");
        assert!(ack.contains("longer than 199"), "{version}: {ack}");
    }
}
