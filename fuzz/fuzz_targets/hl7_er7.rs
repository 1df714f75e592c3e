//! Reading HL7 v2 ER7: any bytes give a message or an error, never a panic.
//! A parsed message is walked to every subcomponent through the public
//! views (each one a slice of its segment), every value's escapes are
//! decoded, and the ACK built from its header reads back with the right
//! MSA-1; what does not parse gets an AE naming its MSH-10 as far as MSH-1
//! cuts it out. Sensitive-content redaction of the raw bytes gives an ADT that
//! parses, reads as the redacted event and leaves nothing to withhold, and
//! the canonical form (`hl7::canonical`) is the same message.
#![no_main]

use hisp::hl7::{self, AckCode, AckError, ErrorCode, ErrorLocation, Message, Segment};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = hl7::parse(data) else {
        unparsed_ack(data);
        return;
    };
    let _ = (msg.separators().encoding_chars(), msg.is_latin1());
    for seg in msg.segments() {
        walk(&msg, seg);
    }
    let _ = msg.get("PID-3[2].4.1");
    let _ = msg.get("MSH-9.2");
    ack_round_trip(&msg);
    redaction_is_complete(data, &msg);
    canonical_is_the_same_message(&msg, data);
});

/// The message in ER7's own form (what an opted-in alert carries) parses
/// to the same segments, and is its own canonical form.
fn canonical_is_the_same_message(msg: &Message<'_>, data: &[u8]) {
    let out = hl7::canonical(data);
    let again = hl7::parse(&out).expect("the canonical form must parse");
    let segs = |m: &Message<'_>| m.segments().map(|s| s.raw().to_owned()).collect::<Vec<_>>();
    assert_eq!(segs(&again), segs(msg), "the canonical form is another message");
    assert_eq!(hl7::canonical(&out), out, "canonical is not stable");
}

fn redaction_is_complete(data: &[u8], msg: &Message<'_>) {
    use hisp::notify::{adt, sensitive};
    let Ok(ev) = adt::read(msg) else {
        return;
    };
    let (redacted, _) = sensitive::redact_event(&ev);
    let out = sensitive::redact_raw(data);
    let again = hl7::parse(&out).expect("the redacted ADT must parse");
    // It names the patient, unless the patient was named by nothing but
    // identifiers whose authority is sensitive (no name).
    let Ok(ev_again) = adt::read(&again) else {
        let p = &redacted.patient;
        assert!(
            p.identifiers.is_empty() && p.family.is_empty(),
            "the redacted ADT lost the patient"
        );
        return;
    };
    assert!(
        !sensitive::redact_event(&ev_again).1,
        "the redacted ADT still carries something to withhold"
    );
    // Unless dropping the only non-UTF-8 bytes made it read as UTF-8, it is
    // the redacted event, and redacting it again changes nothing.
    // The encounter key and a merge's identifiers are the worker's
    // bookkeeping, never in an alert: without a visit number the key is
    // the first identifier, and a merge's survivor its group's first PID-3,
    // either of which the attachment drops when its authority is sensitive.
    if again.is_latin1() == msg.is_latin1() {
        let ev_again = adt::AdtEvent {
            encounter_key: redacted.encounter_key.clone(),
            merged: redacted.merged.clone(),
            ..ev_again
        };
        assert_eq!(ev_again, redacted, "the redacted ADT reads as another event");
        assert_eq!(sensitive::redact_raw(&out), out, "redaction is not stable");
    }
}

fn walk(msg: &Message<'_>, seg: Segment<'_>) {
    assert!(within(seg.raw(), msg.raw()), "segment outside the message");
    let _ = (seg.name(), seg.is("PID"), seg.field_count());
    for field in seg.fields() {
        assert!(within(field.raw(), seg.raw()), "field outside its segment");
        let _ = (field.text(), field.is_null(), field.is_empty());
        for rep in field.repetitions() {
            let _ = (rep.text(), rep.is_null());
            for comp in rep.components() {
                let _ = comp.text();
                for sub in comp.subcomponents() {
                    assert!(
                        within(sub.raw(), field.raw()),
                        "subcomponent outside its field"
                    );
                    let _ = (sub.text(), sub.is_null(), sub.is_empty());
                }
            }
        }
    }
    // Positional access past the end is absent, never a panic.
    let _ = seg.field(0);
    let _ = seg.field(usize::MAX);
    if let Some(f) = seg.field(3) {
        let _ = f
            .repetition(2)
            .and_then(|r| r.component(2))
            .and_then(|c| c.subcomponent(2));
    }
}

/// The AE (CE in enhanced mode) for what does not parse reads back, naming
/// the message by the MSH-10 that MSH-1 alone cuts out.
fn unparsed_ack(data: &[u8]) {
    let header = hl7::Header::of_unparsed(data);
    let ack = hl7::build_ack(&header, AckCode::AE, None, "A1", 0);
    let (msa1, _) = hl7::parse_ack(ack.as_bytes()).expect("our own AE must parse");
    // In the mode MSH-15/16 ask for, as far as they read without MSH-2.
    let want = match header.reply_kind(false) {
        hl7::AckKind::Accept => "CE",
        hl7::AckKind::Application => "AE",
    };
    assert_eq!(msa1, want);
    // MSA-2 echoes the MSH-10 cut out as written (as `adt send` and an
    // engine compare it), not decoded.
    if !header.control_id.is_empty() {
        let read = hl7::read_ack(ack.as_bytes()).expect("our own AE must read");
        assert!(read.answers(&header), "MSA-2 is not the MSH-10 cut out");
    }
}

fn ack_round_trip(msg: &Message<'_>) {
    let header = msg.header();
    let _ = (
        header.accept_ack_wanted(true),
        header.app_ack_wanted(false),
        header.version_at_least((2, 5, 0)),
    );
    let error = AckError {
        code: ErrorCode::RequiredFieldMissing,
        message: header.control_id.clone(),
        location: Some(ErrorLocation {
            segment: "PID".to_owned(),
            sequence: 1,
            field: 3,
        }),
    };
    for (code, err) in [(AckCode::AA, None), (AckCode::AE, Some(&error))] {
        let ack = hl7::build_ack(&header, code, err, &header.control_id, 0);
        let (msa1, _) = hl7::parse_ack(ack.as_bytes()).expect("our own ACK must parse");
        assert_eq!(msa1, code.msa1(header.reply_kind(code.is_success())));
    }
}

/// Whether `inner` is a sub-slice of `outer` (by address, not content).
fn within(inner: &str, outer: &str) -> bool {
    let (i, o) = (inner.as_ptr() as usize, outer.as_ptr() as usize);
    i >= o && i + inner.len() <= o + outer.len()
}
