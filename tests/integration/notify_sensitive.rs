//! Sensitivity filtering over many messages made from one rich ADT: every
//! prefix of it, and every byte of it replaced by a separator, a line end or
//! a Latin-1 letter, gives an attachment that parses, reads as the redacted
//! event and leaves nothing to withhold (the `hl7_er7` fuzz target's
//! property, swept here without a fuzzer). And end to end: over MLLP, an
//! ADT's tox screen reaches the mailbox only for a patient who opted in.

use hisp::hl7;
use hisp::notify::{adt, sensitive};

use crate::harness;
use crate::notify::{JANE, ack_code, adt as adt_message, delivered};
use crate::smtp::Node;

/// Every kind of content the filter judges or drops, sensitive and not.
const RICH: &[u8] = b"MSH|^~\\&|EPIC|NORTH|HISP|HISP|20261122060000||ADT^A01^ADT_A01|C1|P|2.5.1\r\
EVN|A01|20261122055900\r\
PID|1||MRN1^^^NORTH^MR||Doe^Jane||19800102|F|||1 Main St^^Hartford^CT^06101\r\
PD1|||Behavioral Clinic^^1|9^Jones^Pat\r\
NK1|1|Doe^Joe|SPO\r\
PV1|1|I|DETOX^1^A^NORTH^^^B2||||7^Smith^Anna|||PSY|||||||||V1|||||||||||||||||65|Silver Hill\r\
PV2|||^Opioid withdrawal^^^^^^^ETOH||||||||Visit for detox\r\
OBX|1|ST|TOX^Tox screen||Cocaine positive\r\
NTE|1||Pt reports \\X48\\IV\r\
DG1|1||F10.20^Alcohol dependence^I10\r\
DG1|2|I9|296.30\r\
DG1|3||R07.9^Chest pain^I10|Chest pain|2026|A\r\
DG1|4||LOC9^^L\r\
DG1|5|||Suicidal ideation\r\
ZPV|1|SUD program\r";

/// The property for one message; true when it was an ADT event at all.
fn holds(data: &[u8]) -> bool {
    let Ok(msg) = hl7::parse(data) else {
        assert!(
            sensitive::redact_raw(data).is_empty(),
            "unparseable gives nothing"
        );
        return false;
    };
    let Ok(ev) = adt::read(&msg) else {
        return false;
    };
    let (redacted, _) = sensitive::redact_event(&ev);
    let out = sensitive::redact_raw(data);
    let again = hl7::parse(&out).expect("the redacted ADT parses");
    let ev_again = adt::read(&again).expect("the redacted ADT keeps the patient");
    assert!(
        !sensitive::redact_event(&ev_again).1,
        "something left to withhold in {:?}",
        String::from_utf8_lossy(&out)
    );
    if again.is_latin1() == msg.is_latin1() {
        assert_eq!(ev_again, redacted, "{:?}", String::from_utf8_lossy(data));
        assert_eq!(
            sensitive::redact_raw(&out),
            out,
            "redacting twice changes it"
        );
    }
    true
}

#[test]
fn redaction_holds_for_every_variant_of_a_rich_adt() {
    let (ev, withheld) =
        sensitive::redact_event(&adt::read(&hl7::parse(RICH).expect("parse")).expect("event"));
    assert!(withheld);
    assert_eq!(
        ev.diagnoses.len(),
        1,
        "only the chest pain stays: {:?}",
        ev.diagnoses
    );
    let out = String::from_utf8(sensitive::redact_raw(RICH)).expect("ascii");
    for gone in [
        "Behavioral",
        "NK1",
        "DETOX",
        "PSY",
        "Silver",
        "withdrawal",
        "detox",
        "OBX",
        "NTE",
        "Alcohol",
        "296",
        "LOC9",
        "Suicidal",
        "ZPV",
    ] {
        assert!(!out.contains(gone), "{gone}: {out}");
    }
    let mut events = 0;
    for end in 0..=RICH.len() {
        events += usize::from(holds(RICH.get(..end).unwrap_or_default()));
    }
    for i in 0..RICH.len() {
        for b in [
            b'|', b'^', b'~', b'\\', b'&', b'\r', b'\n', b' ', b'"', 0xFC,
        ] {
            let mut variant = RICH.to_vec();
            if let Some(byte) = variant.get_mut(i) {
                *byte = b;
            }
            events += usize::from(holds(&variant));
        }
    }
    assert!(
        events > RICH.len() * 5,
        "most variants are events: {events}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_opt_in_the_attachment_keeps_only_what_an_alert_reads() {
    let mut a = Node::new("a.test", false, None).await;
    a.address("carol").await;
    a.start().await;
    harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP", "--name", "North"]));
    let csv = a.dir.path().join("roster.csv");
    std::fs::write(
        &csv,
        "patient_id,assigning_authority,family_name,given_name,birth_date,sex\n\
         MRN1,NORTH,Doe,Jane,1980-01-02,F\n\
         MRN4,NORTH,Zed,Ann,1975-06-07,F\n",
    )
    .expect("csv");
    let path = csv.to_str().expect("path");
    harness::ok(&a.cli(&["roster", "import", path, "--owner", "carol@a.test"]));
    let ann = [
        "consent",
        "opt-in",
        "--patient-id",
        "MRN4",
        "--authority",
        "NORTH",
    ];
    harness::ok(&a.cli(&ann));
    let extra = b"OBX|1|ST|TOX^Tox screen||Cocaine positive\rNTE|1||Pt reports heroin use\rDG1|1||R07.9^Chest pain^I10\r";
    let ann_pid = "PID|1||MRN4^^^NORTH^MR||Zed^Ann||19750607|F";
    for (control, visit, pid) in [("S1", "V1", JANE), ("S2", "V2", ann_pid)] {
        let mut msg = adt_message(control, "A04", "NORTHHOSP", "E", visit, pid);
        msg.extend_from_slice(extra);
        assert_eq!(ack_code(&a, &msg).await.0, "AA");
    }
    let carol = hisp::direct::DirectAddress::parse("carol@a.test").expect("addr");
    let mail = delivered(&a, &carol, 2).await;
    let mut janes = 0;
    for m in &mail {
        let text = m.text.clone();
        let adt = m
            .attachments
            .iter()
            .find(|(name, _)| name.as_deref() == Some("adt.hl7"))
            .map(|(_, bytes)| bytes.clone())
            .expect("the ADT is attached");
        let msg = hl7::parse(&adt).expect("it parses");
        let event = adt::read(&msg).expect("an event");
        assert!(text.contains("Chest pain"), "{text}");
        if text.contains("Doe, Jane") {
            janes += 1;
            assert!(text.contains("withheld"), "{text}");
            let adt = String::from_utf8_lossy(&adt);
            assert!(!adt.contains("Cocaine") && !adt.contains("heroin"), "{adt}");
            assert!(!sensitive::unjudged(&msg) && event.diagnoses.len() == 1);
        } else {
            assert!(
                text.contains("Zed, Ann") && !text.contains("withheld"),
                "{text}"
            );
            assert!(String::from_utf8_lossy(&adt).contains("Cocaine positive"));
        }
    }
    assert_eq!((mail.len(), janes), (2, 1), "one alert each");
}
