//! Rendering an encounter alert as a Direct message, per DirectTrust's Event
//! Notifications via the Direct Standard (STANDARDS.md §7): a human-readable
//! text part, a Direct Context `metadata.txt` named by `X-Direct-Context`, and
//! the original ADT as `application/x-direct-encapsulated+hl7v2` (base64), in
//! that order.
//! The Subject travels in clear, so it names only the kind of event.

use super::adt::AdtEvent;
use crate::direct::DirectAddress;
use crate::direct::compose::{self, CRLF};

/// What an alert needs besides the event.
#[derive(Debug, Clone)]
pub struct AlertContext<'a> {
    /// The HISP's notification address.
    pub from: &'a DirectAddress,
    /// The subscriber.
    pub to: &'a DirectAddress,
    /// admit, ed, discharge, transfer, retraction.
    pub event: &'a str,
    /// The feed's display name.
    pub facility_name: &'a str,
    /// The subscriber's program for this patient.
    pub program: Option<&'a str>,
    /// The original ADT message.
    pub adt: &'a [u8],
    /// Unix seconds.
    pub now: i64,
    /// A unique id for the Direct Context and the boundary.
    pub id: &'a str,
    /// The patient has no recorded opt-in: sensitive content, if any, was
    /// withheld (said on every such alert, so it tells nothing of the patient).
    pub withheld: bool,
    /// For a retraction: which alert it takes back ([`retracted_alert`]).
    pub retracts: Option<&'a str>,
}

/// How a retraction names the alert it takes back: the kind of event, when
/// it happened and the Message-ID it went out with, so the reader can tell
/// which of an encounter's alerts no longer holds (an A11 cancels an
/// admission or an ED visit; an A12 one of several transfers).
pub fn retracted_alert(event: &str, event_time: Option<&str>, message_id: Option<&str>) -> String {
    let kind = match event {
        "ed" => "ED visit",
        "admit" => "admission",
        "discharge" => "discharge",
        "transfer" => "transfer",
        other => other,
    };
    let mut out = format!("the {kind} notification");
    let mut about = Vec::new();
    if let Some(t) = event_time.map(str::trim).filter(|t| !t.is_empty()) {
        about.push(format!("event at {t}"));
    }
    if let Some(id) = message_id.map(str::trim).filter(|id| !id.is_empty()) {
        about.push(format!("Message-ID {id}"));
    }
    if !about.is_empty() {
        out.push_str(&format!(" ({})", about.join(", ")));
    }
    out
}

/// The clear-text Subject for an event.
pub fn subject(event: &str) -> &'static str {
    match event {
        "ed" => "Encounter notification: ED visit",
        "admit" => "Encounter notification: admission",
        "discharge" => "Encounter notification: discharge",
        "transfer" => "Encounter notification: transfer",
        "retraction" => "Encounter notification: retraction",
        _ => "Encounter notification",
    }
}

/// The alert's text, `templates/mail/alert.txt` (see `templates/README.md`).
const TEMPLATE: &str = include_str!("../../templates/mail/alert.txt");

/// The human-readable summary (PHI: only ever inside the encrypted
/// message), filled from [`TEMPLATE`]. The portal reads the patient back
/// from its `Patient:` and `Born:` lines (`web::portal::care`). Every value
/// is put on one line, so no value can add a line of its own.
pub fn summary(ev: &AdtEvent, ctx: &AlertContext<'_>) -> String {
    let p = &ev.patient;
    let id = |(v, a): &(String, String)| {
        if a.trim().is_empty() {
            v.clone()
        } else {
            format!("{v}@{a}")
        }
    };
    // The MRN is named only when PID-3 typed it MR and it is still one of
    // the patient's identifiers (not a placeholder, not retired).
    let mrn = ev
        .medical_record()
        .filter(|m| p.identifiers.contains(m))
        .map(id)
        .unwrap_or_default();
    let ids: Vec<String> = shown(ev).map(id).collect();
    let diagnoses: Vec<&str> = ev.diagnoses.iter().map(|d| d.text.as_str()).collect();
    let sex = p
        .sex
        .map_or_else(|| "unknown".to_string(), |c| c.to_string());
    let vars = [
        ("subject", subject(ctx.event).to_string()),
        ("event", ctx.event.to_string()),
        ("trigger", ev.trigger.clone()),
        ("event_time", ev.event_time.clone()),
        ("facility_name", ctx.facility_name.to_string()),
        ("facility_id", ev.location_facility.clone()),
        ("npi", ev.facility_npi().unwrap_or_default().to_string()),
        ("family", p.family.clone()),
        ("given", p.given.clone()),
        (
            "birth_date",
            p.birth_date.clone().unwrap_or_else(|| "unknown".into()),
        ),
        ("sex", sex),
        ("visit", ev.visit.clone()),
        ("mrn", mrn),
        ("ids", ids.join("; ")),
        ("patient_class", ev.patient_class.clone()),
        ("location", ev.location.clone()),
        ("attending", ev.attending.clone()),
        ("admit_reason", ev.admit_reason.text.clone()),
        ("diagnoses", diagnoses.join("; ")),
        ("discharge_disposition", ev.discharge_disposition.clone()),
        ("discharged_to", ev.discharged_to.clone()),
        ("pcp", ev.pcp.clone()),
        ("program", ctx.program.unwrap_or_default().to_string()),
        ("control_id", ev.control_id.clone()),
        (
            "withheld",
            if ctx.withheld { "yes" } else { "" }.to_string(),
        ),
        ("retracts", ctx.retracts.unwrap_or_default().to_string()),
    ]
    .map(|(k, v)| (k, one_line(&v)));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    compose::fill_lines(TEMPLATE, &vars)
}

/// The patient's identifiers an alert shows: this message's own, not an
/// SSN or the like (`AdtEvent::shown_identifiers`), while still the
/// patient's (not a placeholder, not retired by a merge).
fn shown(ev: &AdtEvent) -> impl Iterator<Item = &(String, String)> {
    ev.patient
        .identifiers
        .iter()
        .filter(|i| ev.shown_identifiers.contains(i))
}

/// `s` with every control character (line ends included) and every other
/// line or paragraph separator (U+2028, U+2029, which some mail clients
/// break lines at) made a space, after C1 characters are read as Windows-1252
/// ([`windows_1252`]).
fn one_line(s: &str) -> String {
    s.chars()
        .map(windows_1252)
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// A C1 control character (U+0080 to U+009F) as the Windows-1252 character
/// its byte is; any other character as it is. A message that is not UTF-8
/// is read as Latin-1 (`hl7::parse`), but feeds from Windows systems write
/// Windows-1252, whose 0x80 to 0x9F are punctuation and letters, not
/// controls: `O\x92BRIEN` is O’BRIEN, `\x8Ei\x9Eek` Žižek. Read as controls
/// they came out as spaces in the alert ("O BRIEN", " i ek"). The five
/// bytes Windows-1252 leaves undefined stay controls (as WHATWG's decoder
/// has them), and so does 0x85: U+0085 is NEL, a line break, in the UTF-8
/// messages this also reads (where a C1 character is otherwise a
/// Windows-1252 byte some engine carried over as Latin-1). Stored keys and matching are unchanged: this is only how a
/// name is shown.
fn windows_1252(c: char) -> char {
    const C1: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '\u{85}', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž',
        '\u{8F}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}',
        'ž', 'Ÿ',
    ];
    match u32::from(c) {
        n @ 0x80..=0x9F => C1.get((n - 0x80) as usize).copied().unwrap_or(c),
        _ => c,
    }
}

/// The whole RFC 5322 message.
pub fn render(ev: &AdtEvent, ctx: &AlertContext<'_>) -> Vec<u8> {
    let boundary = format!("=_hisp_alert_{}", ctx.id);
    let context_cid = format!("<metadata-{}@{}>", ctx.id, ctx.from.domain());
    let mut h = String::new();
    h.push_str(&compose::field("From", &ctx.from.to_string()));
    h.push_str(&compose::field("To", &ctx.to.to_string()));
    h.push_str(&compose::subject(subject(ctx.event)));
    h.push_str(&compose::field("Date", &compose::rfc5322_date(ctx.now)));
    h.push_str(&compose::field("X-Direct-Context", &context_cid));
    h.push_str(&format!(
        "MIME-Version: 1.0{CRLF}Content-Type: multipart/mixed; boundary=\"{boundary}\"{CRLF}{CRLF}"
    ));
    let mut out = h.into_bytes();
    let mut part = |headers: String, body: &[u8]| {
        out.extend_from_slice(format!("--{boundary}{CRLF}{headers}{CRLF}").as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(CRLF.as_bytes());
    };
    // MIME text is in canonical form: CRLF line ends (RFC 2049), which the
    // signature covers. The stored summary keeps LF.
    let text = summary(ev, ctx).replace('\n', CRLF);
    part(
        format!(
            "Content-Type: text/plain; charset=utf-8{CRLF}Content-Transfer-Encoding: base64{CRLF}"
        ),
        &lines76(&compose::base64(text.as_bytes())),
    );
    // The Context is the first attachment, then what it describes: the
    // order of the Direct Context IG's examples, and the one the Direct
    // Project's .NET Context library reads (it takes the first attachment
    // as the Context and the rest as the encapsulated content).
    part(
        format!(
            "Content-Type: text/plain; charset=us-ascii; name=\"metadata.txt\"{CRLF}Content-Disposition: attachment; filename=\"metadata.txt\"{CRLF}Content-ID: {context_cid}{CRLF}Content-Transfer-Encoding: 7bit{CRLF}"
        ),
        metadata(ev, ctx).as_bytes(),
    );
    part(
        format!(
            "Content-Type: application/x-direct-encapsulated+hl7v2; name=\"adt.hl7\"{CRLF}Content-Disposition: attachment; filename=\"adt.hl7\"{CRLF}Content-Transfer-Encoding: base64{CRLF}"
        ),
        &lines76(&compose::base64(ctx.adt)),
    );
    out.extend_from_slice(format!("--{boundary}--{CRLF}").as_bytes());
    out
}

/// The Direct Context metadata: the fields of the Direct Context IG 1.1
/// (so `version: 1.1`) with the extensions of DirectTrust's Event
/// Notifications via the Direct Standard (`encapsulation`, `creation-time`,
/// `format-code`). `type` is one of the IG's normative category/action
/// pairs, `general/notification` (the kind of event is in the text, the ADT
/// and the Subject); `purpose` is `treatment` (care coordination is treatment
/// under HIPAA; the IG allows treatment, payment, operations, emergency and
/// research); `creation-time` is an HL7 DTM in UTC, as the reference
/// implementation writes it. Its patient lines are the IG's, not HL7's:
/// `patient-id` lists `authority:id` pairs separated by `; ` (left out when
/// the ADT gives no identifier with an authority), the authority by its ISO
/// OID where CX.4 gives one beside its namespace (as the IG's examples), one
/// per authority (the MRN's first), none with whitespace; `patient` gives
/// `givenName`, `surname`, `dateOfBirth` as `YYYY-MM-DD` and `gender`, each
/// only when known.
fn metadata(ev: &AdtEvent, ctx: &AlertContext<'_>) -> String {
    let p = &ev.patient;
    // The MRN first (the IG: each participant SHOULD include its preferred
    // identifier), then the others in PID-3's order, one per pid-context
    // (the IG: a pid-context MUST NOT appear more than once).
    // Among [`shown`]'s, as the text's MRN line takes it: the message's own
    // (`medical_records` holds only identifiers an alert may show).
    let preferred = (ev.medical_records.iter()).filter(|i| ev.patient.identifiers.contains(i));
    let mut ids: Vec<String> = Vec::new();
    let mut contexts: Vec<String> = Vec::new();
    for (v, a) in preferred.chain(shown(ev)) {
        if ids.len() == METADATA_IDS_MAX {
            break;
        }
        if v.trim().is_empty() || a.trim().is_empty() {
            continue;
        }
        // By its OID where the message gave one beside the namespace.
        let a = ev
            .authority_oids
            .iter()
            .find(|(namespace, _)| namespace == a)
            .map_or(a, |(_, oid)| oid);
        let authority = a.trim();
        let authority = authority.strip_prefix("urn:oid:").unwrap_or(authority);
        let authority = clean(authority);
        // A cut or altered identifier would name someone else (`12=34`
        // made `12 34`, `Ø123` made `O123`), a colon would be cut at by the
        // receiver, and the IG's grammar has no whitespace in either part
        // (`RIVER BEHAVIORAL`, `AB 12`): left out.
        let v = v.trim();
        let fits = authority.len().max(v.len()) <= METADATA_VALUE_MAX
            && clean(v) == v
            && !format!("{authority}{v}").contains(|c: char| c == ':' || c.is_whitespace());
        if fits && !contexts.contains(&authority) {
            ids.push(format!("{authority}:{v}"));
            contexts.push(authority);
        }
    }
    let mut patient = Vec::new();
    for (name, value) in [("givenName", &p.given), ("surname", &p.family)] {
        let value = one(value);
        if !value.trim().is_empty() {
            patient.push(format!("{name}={}", value.trim()));
        }
    }
    if let Some(dob) = p.birth_date.as_deref().and_then(iso_date) {
        patient.push(format!("dateOfBirth={dob}"));
    }
    if let Some(sex) = p.sex.filter(char::is_ascii_alphabetic) {
        patient.push(format!("gender={}", sex.to_ascii_uppercase()));
    }
    let mut fields = vec![("version", "1.1".to_string()), ("id", ctx.id.to_string())];
    if !ids.is_empty() {
        fields.push(("patient-id", ids.join("; ")));
    }
    fields.extend([
        ("type", "general/notification".to_string()),
        ("purpose", "treatment".to_string()),
    ]);
    if !patient.is_empty() {
        fields.push(("patient", patient.join("; ")));
    }
    fields.extend([
        ("encapsulation", "hl7v2".to_string()),
        ("creation-time", crate::hl7::ack::format_ts(ctx.now)),
        ("format-code", "dt-org:dsm:adt-en:1.0".to_string()),
    ]);
    fields
        .iter()
        .map(|(k, v)| format!("{k}: {v}{CRLF}"))
        .collect()
}

/// An HL7 date (`YYYYMMDD`, perhaps with a time after) as the context's
/// `YYYY-MM-DD`; `None` when it is not a whole date of the calendar (a
/// year or month alone, February 31st): a strict reader of the context
/// could refuse it all for one malformed value.
fn iso_date(hl7: &str) -> Option<String> {
    let digits: String = hl7
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let iso = format!(
        "{}-{}-{}",
        digits.get(..4)?,
        digits.get(4..6)?,
        digits.get(6..8)?
    );
    crate::clock::days_from_iso_date(&iso).map(|_| iso)
}

/// The longest value (name, identifier or authority) the metadata carries, in
/// characters: every line then stays far below SMTP's 998 octets.
const METADATA_VALUE_MAX: usize = 64;

/// The most identifiers `patient-id` lists ([`METADATA_VALUE_MAX`] each).
const METADATA_IDS_MAX: usize = 6;

/// `s` as one ASCII line with no character the metadata's syntax uses: Latin
/// letters without their marks ("Renée" → "Renee"), other scripts' letters as
/// `?`.
fn clean(s: &str) -> String {
    // Typographic quotes and dashes (Windows-1252's among them) as their
    // ASCII forms, which transliteration would make `?` ("O?BRIEN").
    let plain: String = s
        .chars()
        .map(windows_1252)
        .map(|c| match c {
            '‘' | '’' | '‚' | '‛' | '′' => '\'',
            '“' | '”' | '„' | '″' => '"',
            '‐' | '‑' | '‒' | '–' | '—' | '―' => '-',
            _ => c,
        })
        .collect();
    crate::notify::mpi::ascii_transliteration(&compose::one_line(&plain))
        .replace([';', '^', '&', '='], " ")
}

/// [`clean`], cut at [`METADATA_VALUE_MAX`] characters (for a name).
fn one(s: &str) -> String {
    clean(s).chars().take(METADATA_VALUE_MAX).collect()
}

fn lines76(encoded: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded.len() + encoded.len() / 38 + 2);
    for chunk in encoded.as_bytes().chunks(76) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{AlertContext, iso_date, metadata, summary};
    use crate::direct::DirectAddress;
    use crate::notify::adt::AdtEvent;
    use crate::store::notify::StoredPatient;

    fn context<'a>(from: &'a DirectAddress, adt: &'a [u8]) -> AlertContext<'a> {
        AlertContext {
            from,
            to: from,
            event: "ed",
            facility_name: "North Hospital",
            program: None,
            adt,
            now: 1_795_000_000,
            id: "ctx-1",
            withheld: false,
            retracts: None,
        }
    }

    #[test]
    fn the_metadata_names_an_authority_by_its_oid_when_the_message_gives_one() {
        let from = DirectAddress::parse("notifications@a.test").expect("addr");
        let raw = "MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|20261122060000||ADT^A04|C1|P|2.5.1\r\
                   PID|1||M1^^^NORTH&2.16.840.1.113883.19.5&ISO^MR~L1^^^LOCAL&7&L^PI~\
                   A:B^^^SOUTH^MR||Doe^Jane\r";
        let msg = crate::hl7::parse(raw.as_bytes()).expect("parse");
        let ev = crate::notify::adt::read(&msg).expect("read");
        let text = metadata(&ev, &context(&from, b""));
        // The OID beside NORTH; a local HD.2 is no OID; a colon in the value
        // would be cut at by the receiver.
        assert!(
            text.contains("\r\npatient-id: 2.16.840.1.113883.19.5:M1; LOCAL:L1\r\n"),
            "{text}"
        );
    }

    /// One identifier per pid-context, the MRN's first (the IG: a
    /// pid-context MUST NOT appear more than once, and each participant
    /// SHOULD include its preferred identifier), and none with whitespace,
    /// which the IG's grammar has no room for. Before, the patient number
    /// listed first took the hospital's OID and the MRN was listed beside
    /// it under the same one.
    #[test]
    fn the_metadata_lists_one_identifier_per_authority_the_mrn_first() {
        let from = DirectAddress::parse("notifications@a.test").expect("addr");
        let raw = "MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|20261122060000||ADT^A04|C1|P|2.5.1\r\
                   PID|1||V100^^^NORTH&2.16.840.1.113883.19.5&ISO^PI~\
                   MRN1^^^NORTH&2.16.840.1.113883.19.5&ISO^MR~BH7^^^RIVER BEHAVIORAL^MR~\
                   AB 12^^^SOUTH^PI~S9^^^SOUTH^PI||Doe^Jane\r";
        let msg = crate::hl7::parse(raw.as_bytes()).expect("parse");
        let ev = crate::notify::adt::read(&msg).expect("read");
        let text = metadata(&ev, &context(&from, b""));
        assert!(
            text.contains("\r\npatient-id: 2.16.840.1.113883.19.5:MRN1; SOUTH:S9\r\n"),
            "{text}"
        );
    }

    #[test]
    fn the_metadata_names_the_patient_as_the_context_ig_does() {
        let from = DirectAddress::parse("notifications@a.test").expect("addr");
        let mut ev = AdtEvent {
            patient: StoredPatient {
                identifiers: vec![
                    ("MRN1".into(), "NORTH".into()),
                    ("42".into(), "urn:oid:2.16.840.1.113883.19.5".into()),
                    ("NOAUTH".into(), String::new()),
                ],
                family: "Doe".into(),
                given: "Jane;X=Y".into(),
                birth_date: Some("19800102".into()),
                sex: Some('F'),
                ..StoredPatient::default()
            },
            // The patient index's identifiers (another feed's) and an SSN
            // are not the message's to show.
            shown_identifiers: vec![
                ("MRN1".into(), "NORTH".into()),
                ("42".into(), "urn:oid:2.16.840.1.113883.19.5".into()),
                ("NOAUTH".into(), String::new()),
            ],
            ..AdtEvent::default()
        };
        ev.patient.identifiers.extend([
            ("123456789".into(), "SSA".into()),
            ("BH7".into(), "RIVER BEHAVIORAL".into()),
        ]);
        let text = metadata(&ev, &context(&from, b""));
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert!(
            lines.contains(&"patient-id: NORTH:MRN1; 2.16.840.1.113883.19.5:42"),
            "{text}"
        );
        assert!(
            lines.contains(
                &"patient: givenName=Jane X Y; surname=Doe; dateOfBirth=1980-01-02; gender=F"
            ),
            "{text}"
        );
        for line in [
            "version: 1.1",
            "type: general/notification",
            "purpose: treatment",
            "encapsulation: hl7v2",
            // 1_795_000_000 = 2026-11-18T11:06:40Z, as an HL7 DTM.
            "creation-time: 20261118110640+0000",
        ] {
            assert!(lines.contains(&line), "{line}: {text}");
        }
        assert!(
            lines.contains(&"format-code: dt-org:dsm:adt-en:1.0"),
            "{text}"
        );
        assert!(text.is_ascii() && text.ends_with("\r\n"));
        // Nothing known: no empty lines.
        ev.patient = StoredPatient {
            identifiers: vec![("NOAUTH".into(), String::new())],
            birth_date: Some("unknown".into()),
            ..StoredPatient::default()
        };
        let text = metadata(&ev, &context(&from, b""));
        assert!(
            !text.contains("patient-id") && !text.contains("patient:"),
            "{text}"
        );
    }

    #[test]
    fn the_metadata_is_ascii_in_short_lines_whatever_the_adt_holds() {
        let from = DirectAddress::parse("notifications@a.test").expect("addr");
        let mut ids: Vec<(String, String)> = (0..20)
            .map(|i| (format!("{i:0>40}"), format!("AUTHORITY-{i:0>50}")))
            .collect();
        ids.insert(0, ("X".repeat(100), "NORTH".into()));
        // Values the metadata's syntax or ASCII would alter: another
        // identifier, so left out too.
        ids.insert(1, ("12=34".into(), "NORTH".into()));
        ids.insert(2, ("Ø123".into(), "NORTH".into()));
        ids.insert(3, ("MRN1".into(), "NORTH".into()));
        let ev = AdtEvent {
            patient: StoredPatient {
                identifiers: ids.clone(),
                family: "Müller-Straße".into(),
                given: format!("Renée Łukasz Αλέξης {}", "Z".repeat(500)),
                ..StoredPatient::default()
            },
            shown_identifiers: ids,
            ..AdtEvent::default()
        };
        let text = metadata(&ev, &context(&from, b""));
        assert!(text.is_ascii(), "{text}");
        assert!(text.split("\r\n").all(|l| l.len() <= 998), "{text}");
        let ids_line = text
            .split("\r\n")
            .find_map(|l| l.strip_prefix("patient-id: "))
            .expect("patient-id");
        let listed: Vec<&str> = ids_line.split("; ").collect();
        assert_eq!(listed.len(), super::METADATA_IDS_MAX, "{ids_line}");
        // The 100-character identifier is left out, not cut, and the two
        // the metadata would alter are left out, not changed.
        assert_eq!(listed[0], "NORTH:MRN1", "{ids_line}");
        let want = format!(
            "patient: givenName=Renee Lukasz ?????? {}; surname=Muller-Strasse",
            "Z".repeat(super::METADATA_VALUE_MAX - 20)
        );
        assert!(text.contains(&format!("{want}\r\n")), "{text}");
    }

    /// A feed writing Windows-1252 (not UTF-8, so read as Latin-1): its
    /// 0x80 to 0x9F are the letters and punctuation it meant, not spaces.
    #[test]
    fn a_windows_1252_name_is_shown_as_written() {
        let from = DirectAddress::parse("notifications@a.test").expect("addr");
        let adt = b"MSH|^~\\&|EPIC|NORTH|HISP|HISP|20261122060000||ADT^A04|C1|P|2.5.1\r\
EVN|A04|20261122055900\r\
PID|1||MRN1^^^NORTH^MR||O\x92BRIEN^\x8Ei\x9Ea||19800102|F\r\
PV1|1|E|ED^12^A^NORTH||||||||||||||||V100\r";
        let msg = crate::hl7::parse(adt).expect("parse");
        let ev = crate::notify::adt::read(&msg).expect("event");
        let ctx = context(&from, adt);
        let text = summary(&ev, &ctx);
        assert!(text.contains("Patient: O’BRIEN, Žiža\n"), "{text}");
        let meta = metadata(&ev, &ctx);
        assert!(
            meta.contains("patient: givenName=Ziza; surname=O'BRIEN;"),
            "{meta}"
        );
    }

    #[test]
    fn the_text_part_ends_its_lines_with_crlf() {
        let from = DirectAddress::parse("notifications@a.test").expect("addr");
        let ev = AdtEvent::default();
        let ctx = context(&from, b"MSH|^~\\&|\r");
        let message = super::render(&ev, &ctx);
        let text = String::from_utf8(message).expect("utf8");
        let (_, after) = text
            .split_once("Content-Transfer-Encoding: base64\r\n\r\n")
            .expect("the text part");
        let encoded: String = after.lines().take_while(|l| !l.starts_with("--")).collect();
        let decoded =
            crate::direct::smime::mime::base64_decode(encoded.trim().as_bytes()).expect("base64");
        let decoded = String::from_utf8(decoded).expect("utf8");
        assert!(decoded.contains("\r\n") && !decoded.replace("\r\n", "").contains('\n'));
        assert_eq!(decoded, super::summary(&ev, &ctx).replace('\n', "\r\n"));
    }

    #[test]
    fn the_summary_fills_the_template_and_leaves_out_what_is_unknown() {
        let from = DirectAddress::parse("notifications@a.test").expect("addr");
        let mut ev = AdtEvent {
            trigger: "A04".into(),
            patient: StoredPatient {
                identifiers: vec![
                    ("ENC9".into(), "NORTH".into()),
                    ("MRN1".into(), "NORTH".into()),
                    ("123456789".into(), "SSA".into()),
                ],
                family: "Doe".into(),
                given: "Jane\nPatient: Roe, Richard".into(),
                birth_date: Some("19800102".into()),
                sex: Some('F'),
                ..StoredPatient::default()
            },
            medical_records: vec![("MRN1".into(), "NORTH".into())],
            shown_identifiers: vec![
                ("ENC9".into(), "NORTH".into()),
                ("MRN1".into(), "NORTH".into()),
            ],
            attending: "Smith^John".into(),
            ..AdtEvent::default()
        };
        let text = summary(&ev, &context(&from, b""));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Encounter notification: ED visit", "{text}");
        // The typed MR repetition is the MRN, not the first one.
        assert!(lines.contains(&"MRN: MRN1@NORTH"), "{text}");
        assert!(
            lines.contains(&"Patient IDs: ENC9@NORTH; MRN1@NORTH"),
            "{text}"
        );
        assert!(lines.contains(&"Attending: Smith^John"), "{text}");
        // A value's line break does not make a line of its own.
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("Patient:")).count(),
            1,
            "{text}"
        );
        // Unknown values leave out their labels; no withheld notice.
        for absent in [
            "Admit reason:",
            "Diagnoses:",
            "Facility NPI:",
            "PCP:",
            "Sensitive",
        ] {
            assert!(!text.contains(absent), "{absent}: {text}");
        }
        // No MR-typed repetition (or a retired one): no line says MRN.
        ev.medical_records = vec![("OLD".into(), "NORTH".into())];
        let ctx = AlertContext {
            withheld: true,
            ..context(&from, b"")
        };
        let text = summary(&ev, &ctx);
        assert!(!text.contains("MRN:"), "{text}");
        assert!(text.lines().any(|l| l.starts_with("Sensitive information")));
        assert!(!text.contains('{'), "every placeholder filled: {text}");
    }

    #[test]
    fn a_retraction_names_the_alert_it_takes_back() {
        assert_eq!(
            super::retracted_alert("ed", Some("20261122055900"), Some("<a1@hisp.test>")),
            "the ED visit notification (event at 20261122055900, Message-ID <a1@hisp.test>)"
        );
        assert_eq!(
            super::retracted_alert("transfer", None, Some(" ")),
            "the transfer notification"
        );
        let from = DirectAddress::parse("notifications@a.test").expect("addr");
        let ev = AdtEvent {
            trigger: "A11".into(),
            ..AdtEvent::default()
        };
        let what = super::retracted_alert("admit", Some("20261122"), None);
        let ctx = AlertContext {
            event: "retraction",
            retracts: Some(&what),
            ..context(&from, b"")
        };
        let text = summary(&ev, &ctx);
        assert!(
            text.lines()
                .any(|l| l == "Retracts: the admission notification (event at 20261122)"),
            "{text}"
        );
        assert!(!summary(&ev, &context(&from, b"")).contains("Retracts"));
    }

    #[test]
    fn unicode_line_separators_do_not_break_a_line() {
        assert_eq!(
            super::one_line("Jane\u{2028}Patient: Roe\u{2029}x\u{85}y"),
            "Jane Patient: Roe x y"
        );
    }

    #[test]
    fn hl7_dates_become_iso_dates() {
        assert_eq!(iso_date("19800102").as_deref(), Some("1980-01-02"));
        assert_eq!(iso_date("198001021230").as_deref(), Some("1980-01-02"));
        assert_eq!(iso_date("20000229").as_deref(), Some("2000-02-29"));
        assert_eq!(iso_date("198001"), None, "a month alone");
        assert_eq!(iso_date("1980"), None, "a year alone");
        assert_eq!(iso_date("19800231"), None, "no February 31st");
        assert_eq!(iso_date("19000229"), None, "1900 was no leap year");
        assert_eq!(iso_date("80"), None);
        assert_eq!(iso_date("19801399"), None, "no month 13");
        assert_eq!(iso_date("19800100"), None, "no day 0");
        assert_eq!(iso_date("01/02/1980"), None);
    }
}
