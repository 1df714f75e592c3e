//! Table tests over the shared HL7 corpus: every file parses and walks, and
//! a dozen hand-read files yield the values a person reads off them.

use super::support::{corpus, corpus_file, walk};
use hisp::hl7::parse;

#[test]
fn every_corpus_file_parses_and_walks() {
    for (name, bytes) in corpus() {
        let msg = parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(walk(&msg) > 10, "{name}: suspiciously few values");
        let h = msg.header();
        assert_eq!(h.message_type, "ADT", "{name}");
        assert!(!h.control_id.is_empty(), "{name}: no MSH-10");
        assert!(
            ["2.3", "2.4", "2.5.1", "2.8"].contains(&h.version.as_str()),
            "{name}: unexpected version {}",
            h.version
        );
        assert!(
            msg.segment("PID").is_some() || name.contains("encoded"),
            "{name}"
        );
        assert!(!msg.is_latin1(), "{name}: corpus is UTF-8");
    }
}

/// What a person reads off a file. `None` = absent in the file.
struct Expect {
    file: &'static str,
    msh9: (&'static str, &'static str, Option<&'static str>),
    control_id: &'static str,
    version: &'static str,
    pid3_id: Option<&'static str>,
    pid3_authority: Option<&'static str>,
    family_given: Option<(&'static str, &'static str)>,
    pid7: Option<&'static str>,
    pv1_2: Option<&'static str>,
    pv1_3_1: Option<&'static str>,
    /// EVN-2 when there is an EVN, else MSH-7.
    event_time: &'static str,
}

const TABLE: &[Expect] = &[
    Expect {
        file: "fhir-converter/ADT-A01-01.hl7",
        msh9: ("ADT", "A01", Some("ADT_A01")),
        control_id: "MSG00001",
        version: "2.8",
        pid3_id: Some("PATID1234"),
        // CX.4 is an HD with subcomponents: test1&2.16.1&HCD.
        pid3_authority: Some("test1"),
        // XPN.1 is an FN: EVERYMAN&&&&Aniston.
        family_given: Some(("EVERYMAN", "ADAM")),
        pid7: Some("198808181126+0215"),
        pv1_2: Some("P"),
        pv1_3_1: Some("HUH AE OMU"),
        event_time: "20290801070624+0115",
    },
    Expect {
        file: "fhir-converter/ADT-A06-01.hl7",
        msh9: ("ADT", "A06", Some("ADT_A06")),
        control_id: "MSG00006",
        version: "2.8",
        pid3_id: Some("PATID1234"),
        pid3_authority: Some("ADT1"),
        family_given: Some(("EVERYMAN", "ADAM")),
        pid7: Some("19610615"),
        pv1_2: Some("I"),
        pv1_3_1: Some("SPROOM"),
        event_time: "20210115160010+0215",
    },
    Expect {
        file: "fhir-converter/ADT-A40-01.hl7",
        msh9: ("ADT", "A40", Some("ADT_A40")),
        control_id: "8919-40",
        version: "2.8",
        pid3_id: Some("12345"),
        pid3_authority: Some("BCBS"),
        family_given: Some(("Test", "Test")),
        pid7: Some("20180205"),
        pv1_2: None,
        pv1_3_1: None,
        event_time: "20190423150137+0215",
    },
    Expect {
        file: "fhir-converter/ADT-A47-02.hl7",
        msh9: ("ADT", "A47", Some("ADT_A47")),
        control_id: "MSG000047",
        version: "2.8",
        pid3_id: Some("MR101"),
        pid3_authority: Some("GOOD HEALTH HOSPITAL"),
        family_given: Some(("EVERYMAN", "ADAM")),
        pid7: Some("19610615"),
        pv1_2: None,
        pv1_3_1: None,
        event_time: "20210115160010+0000",
    },
    Expect {
        file: "fhir-converter/ADT01-23.hl7",
        msh9: ("ADT", "A01", None),
        control_id: "599102",
        version: "2.3",
        pid3_id: Some("10006579"),
        pid3_authority: Some("1"),
        family_given: Some(("DUCK", "DONALD")),
        pid7: Some("19241010"),
        pv1_2: Some("I"),
        pv1_3_1: Some("PREOP"),
        event_time: "20050110045502+0700",
    },
    Expect {
        file: "fhir-converter/ADT01-28.hl7",
        msh9: ("ADT", "A01", Some("ADT_A01")),
        control_id: "MSG00001",
        version: "2.5.1",
        pid3_id: Some("PATID1234"),
        pid3_authority: Some("ADT1"),
        family_given: Some(("EVERYMAN", "ADAM")),
        pid7: Some("19610615"),
        pv1_2: Some("I"),
        pv1_3_1: Some("2000"),
        event_time: "20070818112300+0700",
    },
    Expect {
        file: "fhir-converter/ADT04-23.hl7",
        msh9: ("ADT", "A04", None),
        // 27 characters in a v2.3 message (limit 20): accepted as sent.
        control_id: "Q123456789T123456789X123456",
        version: "2.3",
        pid3_id: Some("123456789"),
        pid3_authority: Some(""),
        family_given: Some(("BROS", "MARIO")),
        pid7: Some("19850101000000+0700"),
        pv1_2: Some("O"),
        pv1_3_1: Some("ABCD"),
        event_time: "20010101000000+0700",
    },
    Expect {
        file: "fhir-converter/ADT04-251.hl7",
        msh9: ("ADT", "A04", None),
        control_id: "1270326314",
        version: "2.3",
        pid3_id: Some("MRN12345"),
        pid3_authority: Some(""),
        family_given: Some(("Doe", "Jane")),
        pid7: Some("19780101"),
        pv1_2: Some("E"),
        pv1_3_1: Some(""),
        // No EVN segment in this file: MSH-7.
        event_time: "20190504181205+0700",
    },
    Expect {
        file: "fhir-converter/ADT04-28.hl7",
        msh9: ("ADT", "A04", None),
        control_id: "1270326314",
        version: "2.3",
        pid3_id: Some("0000000001"),
        pid3_authority: Some("MR"),
        family_given: Some(("Bixby", "Timothy")),
        pid7: Some("20080106"),
        pv1_2: Some("I"),
        pv1_3_1: Some("3N"),
        event_time: "20181017025543+0700",
    },
    Expect {
        file: "hl7-parser/sample_adt_a01.hl7",
        msh9: ("ADT", "A01", None),
        control_id: "599102",
        version: "2.3",
        pid3_id: Some("10006579"),
        pid3_authority: Some("1"),
        family_given: Some(("DUCK", "DONALD")),
        pid7: Some("19241010"),
        pv1_2: Some("I"),
        pv1_3_1: Some("PREOP"),
        event_time: "20050110045502",
    },
    Expect {
        file: "hl7-parser/sample_adt_a03.hl7",
        msh9: ("ADT", "A03", None),
        control_id: "59912415",
        version: "2.3",
        pid3_id: Some("10006579"),
        pid3_authority: Some("1"),
        family_given: Some(("DUCK", "DONALD")),
        pid7: Some("19241010"),
        pv1_2: Some("I"),
        pv1_3_1: Some("IN1"),
        event_time: "20050112154642",
    },
    Expect {
        file: "hl7-parser/sample_adt_a04.hl7",
        msh9: ("ADT", "A04", None),
        control_id: "MSG00001",
        version: "2.4",
        pid3_id: Some("PATID1234"),
        // PATID1234^5^M11 has no fourth component at all.
        pid3_authority: None,
        family_given: Some(("JONES", "WILLIAM")),
        pid7: Some("19610615"),
        pv1_2: Some("I"),
        pv1_3_1: Some("2000"),
        event_time: "198808181123",
    },
];

#[test]
fn hand_checked_values() {
    for e in TABLE {
        let bytes = corpus_file(e.file);
        let msg = parse(&bytes).unwrap_or_else(|err| panic!("{}: {err}", e.file));
        let get = |p: &str| msg.get(p).map(|v| v.into_owned());
        let f = e.file;
        let h = msg.header();
        assert_eq!(h.message_type, e.msh9.0, "{f}");
        assert_eq!(h.trigger_event, e.msh9.1, "{f}");
        assert_eq!(h.structure.as_deref(), e.msh9.2, "{f}");
        assert_eq!(get("MSH-9.1").as_deref(), Some(e.msh9.0), "{f}");
        assert_eq!(h.control_id, e.control_id, "{f}");
        assert_eq!(get("MSH-10").as_deref(), Some(e.control_id), "{f}");
        assert_eq!(h.version, e.version, "{f}");
        assert_eq!(get("PID-3.1").as_deref(), e.pid3_id, "{f}");
        assert_eq!(get("PID-3.4.1").as_deref(), e.pid3_authority, "{f}");
        let name = e
            .family_given
            .map(|(fam, giv)| (fam.to_owned(), giv.to_owned()));
        let got = get("PID-5.1.1").zip(get("PID-5.2"));
        assert_eq!(got, name, "{f}");
        assert_eq!(get("PID-7").as_deref(), e.pid7, "{f}");
        assert_eq!(get("PV1-2").as_deref(), e.pv1_2, "{f}");
        assert_eq!(get("PV1-3.1.1").as_deref(), e.pv1_3_1, "{f}");
        let when = get("EVN-2").unwrap_or_else(|| h.timestamp.clone());
        assert_eq!(when, e.event_time, "{f}");
    }
}

#[test]
fn corpus_quirks() {
    // A01-01: SFT before EVN, ARV after PID; PV1-14 carries an A\T\E escape.
    let bytes = corpus_file("fhir-converter/ADT-A01-01.hl7");
    let msg = parse(&bytes).expect("parse");
    let names: Vec<_> = msg.segments().map(|s| s.name()).take(4).collect();
    assert_eq!(names, ["MSH", "SFT", "EVN", "PID"]);
    let hosp = msg
        .segment("PV1")
        .and_then(|s| s.field(14))
        .expect("PV1-14");
    assert_eq!(hosp.raw(), "NHS Provider-General (inc.A\\T\\E-this Hosp)");
    assert_eq!(hosp.text(), "NHS Provider-General (inc.A&E-this Hosp)");
    assert_eq!(
        msg.get("MSH-4.2").as_deref(),
        Some("2.16.840.1.122848.1.30")
    );
    assert_eq!(msg.get("PID-3[2].1").as_deref(), Some("123456789"));
    assert_eq!(msg.get("PID-3[2].4").as_deref(), Some("USSSA"));

    // sample_adt_a01: the NK1 segment lost its terminator and is glued onto PID.
    let bytes = corpus_file("hl7-parser/sample_adt_a01.hl7");
    let msg = parse(&bytes).expect("parse");
    assert!(msg.segment("NK1").is_none());
    assert_eq!(msg.get("PID-30").as_deref(), Some("NO NK1"));

    // The encoded sample escapes a component separator in MSH-5.
    let bytes = corpus_file("hl7-parser/sample_adt_a01_encoded.hl7");
    let msg = parse(&bytes).expect("parse");
    assert_eq!(msg.header().receiving_app.namespace_id, "Isaac^2");

    // ADT01-23: BOM, trailing blanks, and MSH-15 = " " (not a real value).
    let bytes = corpus_file("fhir-converter/ADT01-23.hl7");
    let msg = parse(&bytes).expect("parse");
    assert_eq!(msg.get("MSH-15").as_deref(), Some(" "));
    assert!(!msg.header().enhanced_mode());

    // ADT04-23: "MSH" appears as a field value, not as a second header.
    let bytes = corpus_file("fhir-converter/ADT04-23.hl7");
    let msg = parse(&bytes).expect("parse");
    assert_eq!(msg.segments_named("MSH").count(), 1);
    assert_eq!(msg.segments_named("NK1").count(), 2);
    assert_eq!(msg.get("NK1[2]-2.1").as_deref(), Some("TOADSTOOL"));

    // A47-02 carries two PID/MRG pairs; A40-01 asks for enhanced mode NE/NE.
    let bytes = corpus_file("fhir-converter/ADT-A47-02.hl7");
    let msg = parse(&bytes).expect("parse");
    assert_eq!(msg.get("PID[2]-3.1").as_deref(), Some("145"));
    assert_eq!(msg.get("MRG-1.4").as_deref(), Some("BCBS"));
    let bytes = corpus_file("fhir-converter/ADT-A40-01.hl7");
    let h = parse(&bytes).expect("parse").header();
    assert_eq!(h.accept_ack_type.as_deref(), Some("NE"));
    assert!(h.enhanced_mode() && !h.accept_ack_wanted(true));
}

#[test]
fn corpus_files_are_lf_terminated_and_still_split() {
    for (name, bytes) in corpus() {
        assert!(!bytes.contains(&b'\r'), "{name} has a CR after all");
        let lines = bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.iter().all(|b| b.is_ascii_whitespace()))
            .count();
        let msg = parse(&bytes).expect("parse");
        assert_eq!(msg.segments().len(), lines, "{name}");
        // The same bytes with CR terminators parse to the same segments.
        let cr: Vec<u8> = bytes
            .iter()
            .map(|&b| if b == b'\n' { b'\r' } else { b })
            .collect();
        let msg_cr = parse(&cr).expect("parse CR");
        let a: Vec<_> = msg.segments().map(|s| s.raw()).collect();
        let b: Vec<_> = msg_cr.segments().map(|s| s.raw()).collect();
        assert_eq!(a, b, "{name}");
    }
}
