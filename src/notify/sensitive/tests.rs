//! Unit tests of sensitivity filtering: codes by revision, text by words,
//! coded items, visit texts and the attachment.

use super::*;

fn event(raw: &[u8]) -> AdtEvent {
    let msg = crate::hl7::parse(raw).expect("parse");
    crate::notify::adt::read(&msg).expect("event")
}

/// The attachment reads back as the redacted event, and leaves nothing
/// to withhold.
fn round_trip(raw: &[u8]) -> (AdtEvent, bool, String) {
    let (redacted, withheld) = redact_event(&event(raw));
    let out = redact_raw(raw);
    let again = event(&out);
    assert_eq!(again, redacted, "{}", String::from_utf8_lossy(&out));
    assert!(!redact_event(&again).1);
    (
        redacted,
        withheld,
        String::from_utf8_lossy(&out).into_owned(),
    )
}

/// A segment with these fields at these positions.
fn seg(name: &str, fields: &[(usize, &str)]) -> String {
    let last = fields.iter().map(|(n, _)| *n).max().unwrap_or(0);
    let mut out = name.to_string();
    for n in 1..=last {
        out.push('|');
        out.push_str(fields.iter().find(|(f, _)| *f == n).map_or("", |(_, v)| *v));
    }
    out + "\r"
}

const HEAD: &str =
    "MSH|^~\\&|A|NORTH|C|D|2026||ADT^A01|1|P|2.5.1\rEVN|A01|2026\rPID|1||X^^^NORTH||Doe^Jane\r";

#[test]
fn codes_by_revision() {
    let sensitive = [
        // ICD-10, each group (system unspecified unless named).
        (
            "",
            "F10.20 T40.1X1A T43.212A T51.0X1A R78.1 Z79.891 K70.30 P96.1 O99.320 Z71.41",
        ),
        (
            "",
            "R45.851 X78.0XXA T14.91XA Z91.51 T39.1X2A T36.92XA T71.162A Z86.59 Z13.31",
        ),
        ("", "Z20.6 Z11.4 O98.711 R75 Z71.7 B97.35 B20 Z21"),
        ("I10", "T42.4X1A X65"),
        ("ICD-10-CM", "Z83.0"),
        // ICD-9-CM.
        ("", "042 965.01 571.2"),
        ("I9", "296.30 V08 E950.0"),
        ("I9C", "303.90"),
        ("ICD9CM", "V62.84"),
        ("2.16.840.1.113883.6.103", "V08"),
        // A code that cannot be of its declared revision, or of a system
        // we do not judge, still counts when it would be sensitive as ICD.
        ("I10", "296.30"),
        ("I9", "F10.20"),
        ("L", "F32.9"),
    ];
    let clear = [
        ("", "R07.9 T42.0X1A T71.111A O99.2 Z11.3"),
        ("I10", "T39.1X1A"),
        ("2.16.840.1.113883.6.90", "R07.9"),
        ("I9", "786.50 V70.0"),
        // A declared revision is read as that revision only.
        ("I10", "V62.84 E950"),
        ("I9", "E11.9"),
    ];
    let unknown = [
        ("I9", "R07.9"),
        ("L", "LOC1"),
        ("SCT", "191816009"),
        ("", "42 LOC"),
    ];
    for (want, table) in [
        (Some(true), &sensitive[..]),
        (Some(false), &clear),
        (None, &unknown),
    ] {
        for (system, codes) in table {
            for code in codes.split_whitespace() {
                assert_eq!(sensitive_code(code, system), want, "{code} {system}");
            }
        }
    }
    assert_eq!(sensitive_code("", ""), None);
}

#[test]
fn text_words() {
    let sensitive = "Suicidal ideation; ETOH withdrawal; Opioid overdose; Schizophrenia; HIV+; \
        SI/HI; s/p OD; self-harm; Self harm; PrEP refill; psychology consult; CD4 count; \
        hiv1 viral load; in DTs; Heroin; 5150; HIV\u{c2}; Psych ED; MDD; Major depr. d/o; \
        GAD; SMI program; SPMI";
    for t in sensitive.split(';') {
        assert!(sensitive_text(t), "{t}");
    }
    let clear = "this; hives; shiv; Chest pain; altered mental status; Dehydration; ; cd; \
        self; ST elevation";
    for t in clear.split(';') {
        assert!(!sensitive_text(t), "{t}");
    }
}

#[test]
fn coded_items_are_judged_by_every_code_and_text() {
    let item = |field: &str| {
        let raw = format!("{HEAD}DG1|1||{field}\r");
        sensitive_coded(&Coded::diagnosis(
            &crate::hl7::parse(raw.as_bytes())
                .expect("parse")
                .segment("DG1")
                .expect("dg1"),
        ))
    };
    assert!(item("^Suicidal ideation"), "text only");
    assert!(
        item("R07.9^Chest pain^I10^^Opioid withdrawal^L"),
        "alternate text"
    );
    assert!(item("^^^^^^^^took too many pills, OD"), "original text");
    assert!(item("ETOH^Screening^L"), "a local code is a word too");
    assert!(item("LOC1^^L"), "nothing says it is harmless");
    assert!(!item("LOC1^Chest pain^L") && !item("R07.9") && !item(""));
    // DG1-4 describes, and DG1-2 names the revision.
    let dg1 = |seg: &str| event(format!("{HEAD}{seg}\r").as_bytes());
    let ev = dg1("DG1|1|||Alcohol withdrawal");
    assert_eq!(ev.diagnoses[0].text, "Alcohol withdrawal");
    assert!(redact_event(&ev).0.diagnoses.is_empty());
    assert!(redact_event(&dg1("DG1|1||V62.84")).1);
    assert!(!redact_event(&dg1("DG1|1|I10|V62.84")).1);
}

#[test]
fn visit_texts_are_judged() {
    let pv1 = [
        (1, "1"),
        (2, "E"),
        (3, "PSYCH^1^A^NORTH"),
        (6, "^^^SOUTH"),
        (7, "7^Smith"),
    ];
    let visit = [(19, "V1"), (36, "65"), (37, "Silver Hill")];
    let raw = format!(
        "{HEAD}{}PV2|||^Suicidal ideation\rDG1|1||R07.9^Chest pain^I10\r",
        seg("PV1", &[&pv1[..], &visit[..]].concat())
    );
    let (ev, withheld, out) = round_trip(raw.as_bytes());
    assert!(withheld);
    assert_eq!(
        (
            ev.location.as_str(),
            ev.location_facility.as_str(),
            ev.patient_class.as_str()
        ),
        ("", "NORTH", "E")
    );
    assert!(ev.discharge_disposition.is_empty() && ev.discharged_to.is_empty());
    assert!(ev.admit_reason.text.is_empty() && ev.diagnoses.len() == 1);
    let kept = [
        (1, "1"),
        (2, "E"),
        (3, "^^^NORTH"),
        (6, "^^^SOUTH"),
        (7, "7^Smith"),
        (19, "V1"),
    ];
    assert!(out.contains(&seg("PV1", &kept)), "{out}");
}

#[test]
fn raw_keeps_only_what_an_alert_reads() {
    let pv1 = [
        (1, "1"),
        (2, "I"),
        (3, "4W^1^A^NORTH^^^B2^3^Detox wing"),
        // Practitioners: the ID and name stay, a facility (XCN.14) or a
        // credential (XCN.21) that says what is treated goes.
        (7, "7^Smith^Anna^^^^^^^^^^^SUNRISE BEHAVIORAL^^^^^^^LADC"),
        (8, "8^Lee^Sam^^^^^^^^^^^SUNRISE BEHAVIORAL HEALTH"),
        (10, "PSY"),
        (19, "V1"),
    ];
    let raw = format!(
        "{HEAD}PD1|||Community Mental Health^^1|9^Jones^Pat\rNK1|1|Doe^Joe|SPO\r{}{}OBX|1|ST|TOX^Tox screen||Cocaine positive\rNTE|1||Pt reports heroin use\rAL1|1||^Naltrexone\rIN1|1|BH|9|Beacon Behavioral\rARV|1|A|PSY\rZPV|1|SUD program\r{}",
        seg("PV1", &pv1),
        seg(
            "PV2",
            &[(3, "^Chest pain^^^^^2019"), (12, "Visit for detox")]
        ),
        seg(
            "DG1",
            &[
                (1, "1"),
                (3, "R07.9^Chest pain^I10^^^^2019"),
                (4, "Chest pain"),
                (5, "2026"),
                (6, "A"),
                (16, "Dr Who")
            ]
        ),
    );
    let msg = crate::hl7::parse(raw.as_bytes()).expect("parse");
    assert!(unjudged(&msg), "the attachment loses what is not judged");
    let (_, _, out) = round_trip(raw.as_bytes());
    for gone in [
        "Mental",
        "NK1",
        "Detox",
        "detox",
        "PSY",
        "Tox",
        "heroin",
        "Naltrexone",
        "IN1",
        "ARV",
        "ZPV",
        "2019",
        "Dr Who",
        "SUNRISE",
        "LADC",
    ] {
        assert!(!out.contains(gone), "{gone}: {out}");
    }
    assert!(out.contains("PD1||||9^Jones^Pat\r"), "{out}");
    let kept = [
        (1, "1"),
        (2, "I"),
        (3, "4W^1^A^NORTH"),
        (7, "7^Smith^Anna"),
        (8, "8^Lee^Sam"),
        (19, "V1"),
    ];
    assert!(out.contains(&seg("PV1", &kept)), "{out}");
    assert!(
        out.contains("PV2|||^Chest pain\rDG1|1||R07.9^Chest pain^I10|Chest pain|2026|A\r"),
        "{out}"
    );
    // A message with nothing beyond that withholds nothing and loses nothing.
    let clean = format!("{HEAD}PV1|1|E|ED^1^A^NORTH||||7^Smith^Anna\rPV2|||^Chest pain\r");
    let (_, withheld, out) = round_trip(clean.as_bytes());
    let msg = crate::hl7::parse(clean.as_bytes()).expect("parse");
    assert!(!withheld && !unjudged(&msg), "{out}");
}

#[test]
fn a_sending_application_that_names_what_is_treated_is_emptied() {
    let raw = b"MSH|^~\\&|DETOX ADT^1.2.3^ISO|NORTH|C|D|2026||ADT^A01|1|P|2.5.1\rEVN|A01|2026\rPID|1||X^^^NORTH||Doe^Jane\r";
    let msg = crate::hl7::parse(raw).expect("parse");
    assert!(unjudged(&msg), "the attachment loses MSH-3");
    let (_, _, out) = round_trip(raw);
    assert!(
        out.starts_with("MSH|^~\\&||NORTH|C|D|2026||ADT^A01|1|P|2.5.1\r"),
        "{out}"
    );
    // A plain one is kept, as is the rest of the header.
    let raw = b"MSH|^~\\&|EPIC|NORTH|C|D|2026||ADT^A01|1|P|2.5.1\rEVN|A01|2026\rPID|1||X^^^NORTH||Doe^Jane\r";
    let msg = crate::hl7::parse(raw).expect("parse");
    assert!(!unjudged(&msg));
    let (_, _, out) = round_trip(raw);
    assert!(out.starts_with("MSH|^~\\&|EPIC|NORTH|"), "{out}");
}

#[test]
fn raw_is_read_as_the_parser_reads_it() {
    // A BOM and blank lines before MSH, custom separators, LF endings,
    // Latin-1 text, and the sensitive code only as a second repetition's
    // alternate identifier.
    let raw = b"\xEF\xBB\xBF\r\n\nMSH#*!\\%#A#B#C#D#2026##ADT*A01#1#P#2.5.1\nPID#1##X##M\xFCller*J\nDG1#1##LOC1*Chest pain*L!LOC2*Alcohol dependence*L*F10.20*Alcohol dependence*I10\nDG1#2##R07.9*Chest pain, unspecified*I10\nPV2###*Alcohol withdrawal*L*F10.239\n".to_vec();
    let (redacted, withheld, text) = round_trip(&raw);
    assert!(withheld && !text.contains("Alcohol"), "{text}");
    assert!(text.starts_with("MSH#*!\\%#A"), "{text}");
    assert!(
        text.contains("DG1#2##R07.9*Chest pain, unspecified*I10\rPV2\r"),
        "{text}"
    );
    assert!(
        redact_raw(&raw).windows(7).any(|w| w == b"M\xFCller*"),
        "Latin-1 kept"
    );
    assert_eq!(redacted.diagnoses.len(), 1);

    // A line of spaces before MSH, and CR-only mode, where an LF inside
    // a segment is data: the DG1 is still one segment, and still goes.
    let raw = b" \t\r\nMSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5.1\rPID|1||X||line one\nline two\rDG1|1|\n|F10.20^Alcohol dependence^I10\r";
    let (_, withheld, text) = round_trip(raw);
    assert!(withheld && !text.contains("Alcohol"), "{text}");
    assert!(text.starts_with("MSH|") && text.contains("PID|1||X||line one\nline two\r"));

    // A code written with an escape is the code the parser reads.
    let raw = b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|1|P|2.5.1\rPID|1||X\rDG1|1||\\X46\\10.20^Alcohol dependence^I10\r";
    assert!(!round_trip(raw).2.contains("Alcohol"));
    assert!(redact_raw(b"not hl7").is_empty());
}

#[test]
fn dotted_e_codes_units_facilities_and_spanish() {
    // ICD-10's E86.0 (dehydration) is not ICD-9's E860.0 (alcohol poisoning).
    assert_eq!(sensitive_code("E86.0", ""), Some(false));
    assert_eq!(sensitive_code("E860.0", ""), Some(true));
    assert_eq!(sensitive_code("Z29.81", "I10"), Some(true));
    for t in [
        "4W PSY",
        "GEROPSYCH",
        "BEH HLTH",
        "DT's",
        "sobredosis",
        "VIH+",
    ] {
        assert!(sensitive_text(t), "{t}");
    }
    assert!(!sensitive_text("Hip fracture"));
    // A transfer to, or a stay at, a facility whose name says what it treats.
    let pv1 = [
        (1, "1"),
        (2, "I"),
        (3, "W^1^A^RIVER BEHAVIORAL HEALTH"),
        (6, "ED^2^B^PSYCH ANNEX"),
        (19, "V1"),
    ];
    let raw = format!("{HEAD}{}", seg("PV1", &pv1));
    let (ev, withheld, out) = round_trip(raw.as_bytes());
    assert!(withheld);
    assert_eq!(
        ev.location_facility, "NORTH",
        "the sending facility instead"
    );
    assert_eq!(ev.location, "W / 1 / A", "{out}");
    assert_eq!(ev.prior_facility, None);
    assert!(
        !out.contains("BEHAVIORAL") && !out.contains("PSYCH"),
        "{out}"
    );
    assert!(out.contains("|W^1^A|"), "{out}");
    // Nor its NPI, from PV1-3.4 or EVN-7 (the event facility): NPIs are
    // public, one lookup from the name. The sending facility's stays.
    let pv1 = [
        (1, "1"),
        (2, "I"),
        (3, "W^1^A^RIVER BEHAVIORAL HEALTH&2222222223&NPI"),
        (19, "V1"),
    ];
    let evn = "EVN|A01|2026|||||RIVER BEHAVIORAL HEALTH^2222222223^NPI\r";
    let head = HEAD
        .replacen("|NORTH|", "|NORTH^1234567893^NPI|", 1)
        .replacen("EVN|A01|2026\r", evn, 1);
    assert!(head.contains("RIVER"), "{head}");
    let raw = format!("{head}{}", seg("PV1", &pv1));
    assert_eq!(
        event(raw.as_bytes()).facility_npi(),
        Some("2222222223"),
        "with consent, where the patient is"
    );
    let (ev, withheld, out) = round_trip(raw.as_bytes());
    assert!(withheld);
    assert_eq!(ev.facility_npi(), Some("1234567893"));
    assert!(
        !out.contains("2222222223") && !out.contains("RIVER"),
        "{out}"
    );
    // An event facility named for what it treats, the patient elsewhere.
    let pv1 = [(1, "1"), (2, "I"), (3, "W^1^A^WEST"), (19, "V1")];
    let raw = format!("{head}{}", seg("PV1", &pv1));
    let (ev, withheld, out) = round_trip(raw.as_bytes());
    assert!(withheld);
    assert_eq!(ev.facility_npi(), Some("1234567893"));
    assert!(!out.contains("RIVER"), "{out}");
}

/// A sending facility whose name reads as sensitive ("G0OD" splits into
/// "G0" and "OD", an overdose) and no PV1-3.4: the location facility is
/// the sending facility, whose name stays, so nothing is withheld, and the
/// attachment redacted again withholds nothing either. Before, the event
/// said "withheld" at every pass (found by the `hl7_er7` fuzz target).
#[test]
fn a_sensitive_sending_facility_without_pv1_3_4_withholds_nothing() {
    assert!(sensitive_text("G0OD HEALTH HOSPITAL"));
    let head = "MSH|^~\\&|A|G0OD HEALTH HOSPITAL|C|D|2026||ADT^A01|1|P|2.5.1\r\
                EVN|A01|2026\rPID|1||X^^^NORTH||Doe^Jane\r";
    let raw = format!(
        "{head}{}",
        seg("PV1", &[(1, "1"), (2, "I"), (3, "W^1^A"), (19, "V1")])
    );
    let (ev, withheld, out) = round_trip(raw.as_bytes());
    assert!(!withheld, "{out}");
    assert_eq!(ev.location_facility, "G0OD HEALTH HOSPITAL");
    // Given in PV1-3.4, the same name is withheld there (the attachment
    // loses PV1-3.4) and the event names the sending facility.
    let raw = raw.replace("W^1^A|", "W^1^A^G0OD HEALTH HOSPITAL|");
    let (ev, withheld, out) = round_trip(raw.as_bytes());
    assert!(withheld);
    assert!(!ev.location_facility_given);
    assert!(out.contains("|W^1^A|"), "{out}");
}

#[test]
fn an_identifier_whose_authority_names_what_it_treats_is_withheld() {
    // A health system's master index lists the patient's number at its
    // behavioural health affiliate, by name and by name and OID.
    let raw = b"MSH|^~\\&|A|NORTH|C|D|2026||ADT^A01|1|P|2.5.1\rEVN|A01|2026\r\
PID|1|P2^^^RIVERSIDE BEHAVIORAL HEALTH|BH77^^^RIVERSIDE BEHAVIORAL HEALTH^MR~M1^^^NORTH^MR~BH78^^^Sunrise Addiction Services&2.16.840.1.113883.3.99&ISO^PI~N2^^^NORTH&2.16.840.1.113883.19.5&ISO^PI~C9^^^&2.16.840.1.113883.3.99&ISO^MR~B9^^^Sunrise Addiction Services&2.16.840.1.113883.3.100&ISO||Doe^Jane\r\
PV1|1|I|W^1^A^NORTH||||||||||||||||V1\r";
    let msg = crate::hl7::parse(raw).expect("parse");
    assert!(unjudged(&msg), "the attachment loses them");
    let full = event(raw);
    assert!(full.shown_identifiers.len() >= 4, "{full:?}");
    let (redacted, withheld, out) = round_trip(raw);
    assert!(withheld, "{out}");
    for gone in [
        "BEHAVIORAL",
        "BH77",
        "BH78",
        "Addiction",
        "113883.3.99",
        "113883.3.100",
        "P2",
        // By the sensitive namespace's OID alone, and under its second OID.
        "C9",
        "B9",
    ] {
        assert!(!out.contains(gone), "{gone}: {out}");
        let shown = format!("{:?}", redacted.shown_identifiers);
        assert!(!shown.contains(gone), "{gone}: {shown}");
        let ids = format!("{:?}", redacted.patient.identifiers);
        assert!(!ids.contains(gone), "{gone}: {ids}");
    }
    assert!(
        out.contains("PID|1||M1^^^NORTH^MR~N2^^^NORTH&2.16.840.1.113883.19.5&ISO^PI||Doe^Jane\r"),
        "{out}"
    );
    assert_eq!(
        redacted.medical_record(),
        Some(&("M1".to_string(), "NORTH".to_string()))
    );
    assert_eq!(
        redacted.authority_oids,
        [("NORTH".to_string(), "2.16.840.1.113883.19.5".to_string())]
    );
    // Under plain authorities nothing goes.
    let plain = b"MSH|^~\\&|A|NORTH|C|D|2026||ADT^A01|1|P|2.5.1\rEVN|A01|2026\r\
PID|1||M1^^^NORTH^MR~S1^^^SOUTH^MR||Doe^Jane\rPV1|1|I|W^1^A^NORTH||||||||||||||||V1\r";
    let msg = crate::hl7::parse(plain).expect("parse");
    assert!(!unjudged(&msg));
    let (_, withheld, out) = round_trip(plain);
    assert!(
        !withheld && out.contains("M1^^^NORTH^MR~S1^^^SOUTH^MR"),
        "{out}"
    );
}

#[test]
fn an_oid_pid_2_gives_beside_a_sensitive_namespace_withholds_pid_4s_identifier_under_it() {
    // v2.3: the master index's number at the affiliate in PID-2, by name
    // and OID; an older chart number under the OID alone in PID-4 (read
    // apart, `adt::ALTERNATE_ID_FIELD`). Both go.
    let raw = b"MSH|^~\\&|A|NORTH|C|D|2026||ADT^A01|1|P|2.3\rEVN|A01|2026\r\
PID|1|E1^^^RIVERSIDE BEHAVIORAL HEALTH&2.16.840.1.999.7&ISO|M1^^^NORTH^MR|X5^^^&2.16.840.1.999.7&ISO~A2^^^NORTH|Doe^Jane\r\
PV1|1|I|W^1^A^NORTH||||||||||||||||V1\r";
    let full = event(raw);
    let ids = format!(
        "{:?} {:?}",
        full.patient.identifiers, full.alternate_identifiers
    );
    assert!(ids.contains("X5") && ids.contains("E1"), "{ids}");
    let (redacted, withheld, out) = round_trip(raw);
    assert!(withheld, "{out}");
    for gone in ["E1", "X5", "BEHAVIORAL", "999.7"] {
        assert!(!out.contains(gone), "{gone}: {out}");
        let ids = format!(
            "{:?} {:?}",
            redacted.patient.identifiers, redacted.alternate_identifiers
        );
        assert!(!ids.contains(gone), "{gone}: {ids}");
    }
    assert!(
        out.contains("PID|1||M1^^^NORTH^MR|A2^^^NORTH|Doe^Jane\r"),
        "{out}"
    );
    assert_eq!(
        redacted.alternate_identifiers,
        [("A2".to_string(), "NORTH".to_string())]
    );
}

#[test]
fn an_account_visit_or_mothers_number_keeps_its_value_not_an_authority_that_names_what_is_treated()
{
    let raw = b"MSH|^~\\&|A|NORTH|C|D|2026||ADT^A01|1|P|2.5.1\rEVN|A01|2026\r\
PID|1||M1^^^NORTH^MR||Doe^Jane|||||||||||||A77^^^RIVERSIDE BEHAVIORAL HEALTH^AN|||MOM1^^^NORTH^MR~MOM2^^^SUNRISE ADDICTION SERVICES^PI\r\
PV1|1|I|W^1^A^NORTH||||||||||||||||V1^^^NORTH&DETOX UNIT&L^VN\r";
    let msg = crate::hl7::parse(raw).expect("parse");
    assert!(unjudged(&msg), "the attachment loses them");
    let (redacted, _, out) = round_trip(raw);
    for gone in ["BEHAVIORAL", "ADDICTION", "DETOX"] {
        assert!(!out.contains(gone), "{gone}: {out}");
    }
    assert!(
        out.contains("|A77|||MOM1^^^NORTH^MR~MOM2\r"),
        "the values stay: {out}"
    );
    assert!(out.contains("|V1\r"), "{out}");
    assert_eq!(redacted.visit, "V1");
    // Plain authorities stay whole.
    let plain = b"MSH|^~\\&|A|NORTH|C|D|2026||ADT^A01|1|P|2.5.1\rEVN|A01|2026\r\
PID|1||M1^^^NORTH^MR||Doe^Jane|||||||||||||A77^^^NORTH^AN\r\
PV1|1|I|W^1^A^NORTH||||||||||||||||V1^^^NORTH^VN\r";
    let msg = crate::hl7::parse(plain).expect("parse");
    assert!(!unjudged(&msg));
    let (_, _, out) = round_trip(plain);
    assert!(out.contains("|A77^^^NORTH^AN\r"), "{out}");
    assert!(out.contains("|V1^^^NORTH^VN\r"), "{out}");
}

#[test]
fn an_a06s_prior_identifiers_the_last_update_facility_and_an_oid_of_a_sensitive_namespace_stay_out()
{
    // An A06 (an admission: it alerts) may carry MRG, its prior
    // identifiers under any authority; PID-34 names who last updated the
    // record; PID-18's authority is an OID PID-3 gives beside a sensitive
    // namespace.
    let raw = b"MSH|^~\\&|EPIC|NORTH|C|D|2026||ADT^A06|1|P|2.5.1\rEVN|A06|202611220800\r\
PID|1||M1^^^NORTH^MR~B12^^^SUNRISE DETOX&2.16.840.1.113883.3.999&ISO^PI||Doe^Jane|||||||||||||A77^^^&2.16.840.1.113883.3.999&ISO^AN||||||||||||||||RIVERSIDE BEHAVIORAL HEALTH^2.16.840.1.999^ISO\r\
MRG|OP55^^^RIVERSIDE BEHAVIORAL HEALTH^MR||A9^^^RIVERSIDE BEHAVIORAL HEALTH^AN||V5^^^RIVERSIDE BEHAVIORAL HEALTH^VN\r\
PV1|1|I|W^1^A^NORTH||||||||||||||||V77\r";
    let full = event(raw);
    assert!(!full.merged.is_empty(), "{full:?}");
    let (redacted, _, out) = round_trip(raw);
    assert!(
        redacted.merged.is_empty()
            && redacted.prior_visit.is_none()
            && redacted.prior_account.is_none()
    );
    for gone in [
        "MRG",
        "BEHAVIORAL",
        "DETOX",
        "113883.3.999",
        "2.16.840.1.999",
        "OP55",
    ] {
        assert!(!out.contains(gone), "{gone}: {out}");
    }
    assert!(out.contains("|A77|"), "the account stays: {out}");
    // A plain last update facility stays.
    let plain = b"MSH|^~\\&|EPIC|NORTH|C|D|2026||ADT^A01|1|P|2.5.1\rEVN|A01|2026\r\
PID|1||M1^^^NORTH^MR||Doe^Jane|||||||||||||||||||||||||||||NORTH^2.16.840.1.5^ISO\r";
    let (_, _, out) = round_trip(plain);
    assert!(out.contains("|NORTH^2.16.840.1.5^ISO\r"), "{out}");
}

#[test]
fn the_event_reason_operator_and_software_say_nothing_sensitive() {
    let raw = b"MSH|^~\\&|A|NORTH|C|D|2026||ADT^A01|1|P|2.5.1\r\
SFT|Sunrise Behavioral Health Systems^L|1.0|DETOX SUITE|123\r\
EVN|A01|2026||DETOX ADMIT|1234^SMITH^JO^^^^^^PSYCH UNIT|2026|NORTH\r\
PID|1||M1^^^NORTH^MR||Doe^Jane\r";
    let (_, _, out) = round_trip(raw);
    assert!(out.contains("SFT||1.0||123\r"), "{out}");
    assert!(
        out.contains("EVN|A01|2026|||1234^SMITH^JO|2026|NORTH\r"),
        "{out}"
    );
    for gone in ["Behavioral", "DETOX", "PSYCH"] {
        assert!(!out.contains(gone), "{gone}: {out}");
    }
    // Plain software is kept whole.
    let raw = b"MSH|^~\\&|A|NORTH|C|D|2026||ADT^A01|1|P|2.5.1\rSFT|Epic^L|1.0|Bridges|123\rEVN|A01|2026\rPID|1||M1^^^NORTH^MR||Doe^Jane\r";
    let (_, _, out) = round_trip(raw);
    assert!(out.contains("SFT|Epic^L|1.0|Bridges|123\r"), "{out}");
}

#[test]
fn an_identifiers_unread_parts_that_name_what_is_treated_are_emptied() {
    // The authority is read as NORTH (HD.2 is no ISO OID): the identifier
    // stays, its local universal id and assigning facility (CX.6) go.
    let raw = b"MSH|^~\\&|A|NORTH|C|D|2026||ADT^A01|1|P|2.5.1\rEVN|A01|2026\r\
PID|1||M1^^^NORTH&DETOX UNIT&L^MR^RIVERSIDE BEHAVIORAL HEALTH||Doe^Jane\r\
PV1|1|I|W^1^A^NORTH||||||||||||||||V1\r";
    let (redacted, withheld, out) = round_trip(raw);
    assert!(!withheld, "nothing the alert shows was sensitive");
    assert!(out.contains("PID|1||M1^^^NORTH^MR^||Doe^Jane\r"), "{out}");
    assert_eq!(
        redacted.medical_record(),
        Some(&("M1".to_string(), "NORTH".to_string()))
    );
}
