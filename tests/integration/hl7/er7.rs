//! Hand-made ER7 cases: separators, terminators, BOM, nulls, MSH
//! numbering, segment order quirks, MSH-9 shapes, paths and Latin-1.

use std::borrow::Cow;

use hisp::hl7::{Charset, ParseError, Path, Separators, parse};

const ADT: &str = "MSH|^~\\&|SEND|SFAC|RECV|RFAC|20240102030405||ADT^A01^ADT_A01|CTRL1|P|2.5.1\r\
EVN|A01|20240102030400\r\
PID|1||111^^^HOSP&1.2.3&ISO^MR~222^^^SSA^SS||DOE^JANE^Q||19800101|F\r\
PV1|1|I|WARD^101^A\r";

#[test]
fn msh_numbering_is_off_by_one_from_splitting() {
    let msg = parse(ADT.as_bytes()).expect("parse");
    let msh = msg.msh();
    assert_eq!(msh.field(1).map(|f| f.raw()), Some("|"));
    assert_eq!(msh.field(2).map(|f| f.raw()), Some("^~\\&"));
    // MSH-2 is literal: no escape decoding, no splitting on ~ or ^.
    assert_eq!(msh.field(2).map(|f| f.text()), Some(Cow::Borrowed("^~\\&")));
    assert_eq!(msh.field(2).map(|f| f.repetitions().count()), Some(1));
    assert_eq!(msh.field(3).map(|f| f.raw()), Some("SEND"));
    assert_eq!(msh.field(12).map(|f| f.raw()), Some("2.5.1"));
    assert!(msh.field(0).is_none() && msh.field(13).is_none());
    assert_eq!(msh.field_count(), 12);
    assert_eq!(msg.get("MSH-1").as_deref(), Some("|"));
    assert_eq!(msg.get("MSH-2").as_deref(), Some("^~\\&"));
    assert_eq!(msg.get("MSH-3").as_deref(), Some("SEND"));
    let pid = msg.segment("PID").expect("PID");
    assert_eq!(pid.field(1).map(|f| f.raw()), Some("1"));
    assert!(pid.field(0).is_none());
    assert_eq!(pid.field_count(), 8);
}

#[test]
fn navigation_and_paths() {
    let msg = parse(ADT.as_bytes()).expect("parse");
    let pid3 = msg.segment("PID").and_then(|s| s.field(3)).expect("PID-3");
    assert_eq!(pid3.repetitions().count(), 2);
    let second = pid3.repetition(2).expect("rep 2");
    assert_eq!(second.component(1).map(|c| c.raw()), Some("222"));
    let auth = pid3.component(4).expect("CX.4");
    assert_eq!(auth.subcomponents().count(), 3);
    assert_eq!(auth.subcomponent(2).map(|s| s.raw()), Some("1.2.3"));
    assert_eq!(msg.get("PID-3[2].4").as_deref(), Some("SSA"));
    assert_eq!(msg.get("PID-3.4.3").as_deref(), Some("ISO"));
    assert_eq!(msg.get("PID-3[1].4.1").as_deref(), Some("HOSP"));
    assert_eq!(msg.get("PID-5").as_deref(), Some("DOE^JANE^Q"));
    assert_eq!(msg.get("PV1-3.2").as_deref(), Some("101"));
    // Absent at each level is None; present-but-empty is Some("").
    assert_eq!(msg.get("PID-2").as_deref(), Some(""));
    assert_eq!(msg.get("PID-3[3]"), None);
    assert_eq!(msg.get("PID-5.9"), None);
    assert_eq!(msg.get("PID-99"), None);
    assert_eq!(msg.get("PID[2]-1"), None);
    assert_eq!(msg.get("ZZZ-1"), None);
    // Malformed paths are None from get() and an error from Path::parse.
    for bad in [
        "PID",
        "PID-0",
        "PID-3[0]",
        "pid-3",
        "PID-3.",
        "PID-3[2",
        "PIDX-1",
        "PID-3.1.1.1",
        "-3",
    ] {
        assert_eq!(msg.get(bad), None, "{bad}");
        assert!(Path::parse(bad).is_err(), "{bad}");
    }
    let p = Path::parse("PID-3[2].1").expect("path");
    assert_eq!(msg.get_path(&p).as_deref(), Some("222"));
    assert_eq!(msg.get_raw_path(&p), Some("222"));
}

#[test]
fn custom_separators() {
    let text = "MSH#@!$%#SEND@X#SFAC#RECV#RFAC#2024##ADT@A01@ADT_A01#C9#P#2.5.1\r\
PID#1##111@@@HOSP%1.2%ISO!222@@@SSA##DOE@JO$F$HN\r";
    let msg = parse(text.as_bytes()).expect("parse");
    let s = msg.separators();
    assert_eq!(
        s,
        Separators {
            field: b'#',
            component: Some(b'@'),
            repetition: Some(b'!'),
            escape: Some(b'$'),
            subcomponent: Some(b'%'),
            truncation: None,
        }
    );
    assert_eq!(s.encoding_chars(), "@!$%");
    assert_eq!(msg.get("MSH-2").as_deref(), Some("@!$%"));
    assert_eq!(msg.get("MSH-3.2").as_deref(), Some("X"));
    assert_eq!(msg.get("MSH-9.2").as_deref(), Some("A01"));
    assert_eq!(msg.get("PID-3.4.2").as_deref(), Some("1.2"));
    assert_eq!(msg.get("PID-3[2].4").as_deref(), Some("SSA"));
    // $F$ is the escape for the field separator '#'.
    assert_eq!(msg.get("PID-5.2").as_deref(), Some("JO#HN"));
    let h = msg.header();
    assert_eq!((h.control_id.as_str(), h.version.as_str()), ("C9", "2.5.1"));
}

#[test]
fn short_and_v27_encoding_characters() {
    // Only component and repetition: no escapes, no subcomponents.
    let msg = parse(b"MSH|^~|A|B|C|D|2024||ADT^A01|1|P|2.3\rPID|1||X&Y\\F\\\r").expect("parse");
    assert_eq!(msg.separators().escape, None);
    assert_eq!(msg.get("PID-3.1.1").as_deref(), Some("X&Y\\F\\"));
    // v2.7 truncation character as the fifth.
    let msg = parse(b"MSH|^~\\&#|A|B|C|D|2024||ADT^A01^ADT_A01|1|P|2.7\rPID|1||X\\P\\Y\r")
        .expect("parse");
    assert_eq!(msg.separators().truncation, Some(b'#'));
    assert_eq!(msg.get("MSH-2").as_deref(), Some("^~\\&#"));
    assert_eq!(msg.get("PID-3").as_deref(), Some("X#Y"));
}

fn seg_names(bytes: &[u8]) -> Vec<String> {
    let msg = parse(bytes).expect("parse");
    msg.segments().map(|s| s.name().to_owned()).collect()
}

#[test]
fn terminators_bom_and_blank_lines() {
    let want = ["MSH", "EVN", "PID", "PV1"];
    let cr = ADT.to_owned();
    let lf = ADT.replace('\r', "\n");
    let crlf = ADT.replace('\r', "\r\n");
    let bom = format!("\u{FEFF}{cr}");
    let blanks = format!("\n\r\n  \n{}\n\n\r\n", ADT.replace('\r', "\r\n\r\n"));
    let no_final = ADT.trim_end_matches('\r').to_owned();
    for (label, text) in [
        ("cr", cr),
        ("lf", lf),
        ("crlf", crlf),
        ("bom", bom),
        ("blanks", blanks),
        ("no-final", no_final),
    ] {
        assert_eq!(seg_names(text.as_bytes()), want, "{label}");
        let msg = parse(text.as_bytes()).expect("parse");
        assert_eq!(msg.get("PV1-3.3").as_deref(), Some("A"), "{label}");
        assert!(
            msg.segments().all(|s| !s.raw().contains(['\r', '\n'])),
            "{label}"
        );
    }
}

#[test]
fn cr_mode_keeps_embedded_lf_as_data() {
    let text = "MSH|^~\\&|A|B|C|D|2024||ORU^R01^ORU_R01|1|P|2.5\rOBX|1|TX|||line one\nline two\r";
    let msg = parse(text.as_bytes()).expect("parse");
    assert_eq!(msg.segments().len(), 2);
    assert_eq!(msg.get("OBX-5").as_deref(), Some("line one\nline two"));
}

#[test]
fn explicit_null_versus_empty_versus_absent() {
    let msg =
        parse(b"MSH|^~\\&|A|B|C|D|2024||ADT^A08|1|P|2.5\rPID|1|\"\"|||DOE^\"\"\r").expect("parse");
    let pid = msg.segment("PID").expect("PID");
    let f2 = pid.field(2).expect("PID-2");
    assert!(f2.is_null() && !f2.is_empty());
    assert_eq!(f2.text(), "\"\"");
    let f3 = pid.field(3).expect("PID-3");
    assert!(f3.is_empty() && !f3.is_null());
    assert!(pid.field(6).is_none());
    let given = pid.field(5).and_then(|f| f.component(2)).expect("PID-5.2");
    assert!(given.is_null());
    assert_eq!(msg.get("PID-2").as_deref(), Some("\"\""));
}

#[test]
fn sft_uac_arv_before_evn_and_z_segments_anywhere() {
    let text = "MSH|^~\\&|A|B|C|D|2024||ADT^A01^ADT_A01|1|P|2.8\r\
SFT|Vendor|1.0|Engine|42\rUAC|KERB|^Application^Octet-stream^Base64^abc\rARV|1|A|DEM\r\
ZXY|top\rEVN|A01|2024\rPID|1||9^^^H^MR\rZPI|1|custom^value\rPV1|1|O\rZZ1|end\r";
    let msg = parse(text.as_bytes()).expect("parse");
    let names: Vec<_> = msg.segments().map(|s| s.name()).collect();
    assert_eq!(
        names,
        [
            "MSH", "SFT", "UAC", "ARV", "ZXY", "EVN", "PID", "ZPI", "PV1", "ZZ1"
        ]
    );
    assert_eq!(msg.get("EVN-1").as_deref(), Some("A01"));
    assert_eq!(msg.get("ZPI-2.2").as_deref(), Some("value"));
    assert_eq!(msg.get("SFT-4").as_deref(), Some("42"));
    assert_eq!(msg.header().trigger_event, "A01");
}

#[test]
fn msh9_with_two_and_three_components() {
    let two = parse(b"MSH|^~\\&|A|B|C|D|2024||ADT^A04|1|P|2.3\r")
        .expect("parse")
        .header();
    assert_eq!(
        (two.message_type.as_str(), two.trigger_event.as_str()),
        ("ADT", "A04")
    );
    assert_eq!(two.structure, None);
    let three = parse(b"MSH|^~\\&|A|B|C|D|2024||ADT^A04^ADT_A01|1|P|2.3.1\r")
        .expect("parse")
        .header();
    assert_eq!(three.structure.as_deref(), Some("ADT_A01"));
    assert_eq!(three.version_tuple(), Some((2, 3, 1)));
    assert!(three.version_at_least((2, 3, 1)) && !three.version_at_least((2, 4, 0)));
}

#[test]
fn long_control_id_is_accepted() {
    let id = "X".repeat(250);
    let text = format!("MSH|^~\\&|A|B|C|D|2024||ADT^A01|{id}|P|2.3\r");
    assert_eq!(
        parse(text.as_bytes()).expect("parse").header().control_id,
        id
    );
}

#[test]
fn latin1_fallback() {
    let mut bytes = b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5|||||DEU|8859/1\rPID|1||1||M".to_vec();
    bytes.extend_from_slice(&[
        0xFC, b'L', b'L', b'E', b'R', b'^', 0xC4, b'N', b'N', b'E', b'\r',
    ]);
    let msg = parse(&bytes).expect("parse");
    assert!(msg.is_latin1());
    assert_eq!(msg.get("PID-5.1").as_deref(), Some("MüLLER"));
    assert_eq!(msg.get("PID-5.2").as_deref(), Some("ÄNNE"));
    // Valid UTF-8 stays UTF-8 and borrowed.
    let msg = parse("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rPID|1||1||MÜLLER\r".as_bytes())
        .expect("parse");
    assert!(!msg.is_latin1());
    assert!(matches!(msg.get("PID-5"), Some(Cow::Borrowed("MÜLLER"))));
}

/// A message that declares UTF-8 (MSH-18) and writes UTF-8 letters is read
/// as UTF-8 despite a stray Windows-1252 byte in a note, which becomes
/// U+FFFD: read as Latin-1 whole, its patient's name `MÜLLER` would be
/// mangled; its ACK goes back in UTF-8, as it declared. The declaration
/// alone decides nothing: a message declaring UTF-8 whose only non-ASCII
/// bytes are Latin-1 is Latin-1, and one declaring 8859/1 that is valid
/// UTF-8 (a common template mistake) is UTF-8.
#[test]
fn a_message_declaring_utf8_keeps_its_letters_despite_a_stray_byte() {
    let mut bytes =
        "MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5.1|||||DEU|UNICODE UTF-8\rPID|1||1||MÜLLER^JOSÉ\rNTE|1||ST MARY"
            .as_bytes()
            .to_vec();
    bytes.extend_from_slice(b"\x92S\r");
    let msg = parse(&bytes).expect("parse");
    assert!(!msg.is_latin1());
    assert_eq!(msg.get("PID-5.1").as_deref(), Some("MÜLLER"));
    assert_eq!(msg.get("PID-5.2").as_deref(), Some("JOSÉ"));
    assert_eq!(msg.get("NTE-3").as_deref(), Some("ST MARY\u{FFFD}S"));
    assert_eq!(
        Charset::of(&bytes),
        Charset::Utf8,
        "the ACK's charset agrees"
    );
    // Its repetitions after the first, lower case and blank lines first
    // change nothing.
    let mut bytes = "\r\nMSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5.1|||||DEU|unicode utf-8~8859/1\rPID|1||1||MÜLLER\r"
        .as_bytes()
        .to_vec();
    bytes.extend_from_slice(b"NTE|1||\xE9\r");
    let msg = parse(&bytes).expect("parse");
    assert!(!msg.is_latin1());
    assert_eq!(msg.get("PID-5.1").as_deref(), Some("MÜLLER"));

    // Declared UTF-8, written in Latin-1 only: Latin-1.
    let mut bytes =
        b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5.1|||||DEU|UNICODE UTF-8\rPID|1||1||M".to_vec();
    bytes.extend_from_slice(b"\xDCLLER\r");
    let msg = parse(&bytes).expect("parse");
    assert!(msg.is_latin1());
    assert_eq!(msg.get("PID-5").as_deref(), Some("MÜLLER"));
    assert_eq!(Charset::of(&bytes), Charset::Latin1);
    // Declared 8859/1, valid UTF-8: UTF-8.
    let msg = parse(
        "MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5|||||DEU|8859/1\rPID|1||1||DOE^JOSÉ\r".as_bytes(),
    )
    .expect("parse");
    assert!(!msg.is_latin1());
    assert_eq!(msg.get("PID-5.2").as_deref(), Some("JOSÉ"));
    // Undeclared, the bytes decide, as before.
    let mut bytes = b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rPID|1||1||".to_vec();
    bytes.extend_from_slice(b"\xFCLLER\r");
    let msg = parse(&bytes).expect("parse");
    assert!(msg.is_latin1());
    assert_eq!(msg.get("PID-5").as_deref(), Some("üLLER"));
}

#[test]
fn typed_errors() {
    let bad = |reason_bytes: &[u8]| parse(reason_bytes).err();
    assert_eq!(bad(b""), Some(ParseError::Empty));
    assert_eq!(bad(b"\xEF\xBB\xBF\r\n \n\t\r"), Some(ParseError::Empty));
    assert_eq!(
        bad(b"PID|1\rMSH|^~\\&|\r"),
        Some(ParseError::NoMsh {
            found: "PID".into()
        })
    );
    assert_eq!(
        bad(b"FHS|^~\\&\r"),
        Some(ParseError::NoMsh {
            found: "FHS".into()
        })
    );
    assert_eq!(bad(b"MS"), Some(ParseError::NoMsh { found: "MS".into() }));
    // Free text (a message cut in two) is neither logged nor echoed.
    assert_eq!(
        bad(b"shortness of breath\r"),
        Some(ParseError::NoMsh {
            found: String::new()
        })
    );
    for input in [
        &b"MSH"[..],
        b"MSH|",
        b"MSH||A",
        b"MSHX^~\\&",
        b"MSH|^^\\&",
        b"MSH|^~\\&*!|",
        b"MSH|^~a&|",
        b"MSH ^~\\&|",
        b"MSH\t^~\\&|",
        b"MSH|^ \\&|",
    ] {
        assert!(
            matches!(parse(input), Err(ParseError::BadEncodingChars { .. })),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    // Bare "MSH|^~\&" with nothing else is a (useless) message, not an error.
    let msg = parse(b"MSH|^~\\&").expect("parse");
    assert_eq!(msg.header().control_id, "");
    assert!(format!("{msg:?}").starts_with("Message {"));
}
