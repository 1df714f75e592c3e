//! Rendering an encounter alert as a Direct message, per DirectTrust's Event
//! Notifications via the Direct Standard (STANDARDS.md §7): a human-readable
//! text part, the original ADT as `application/x-direct-encapsulated+hl7v2`
//! (base64), and a Direct Context `metadata.txt` named by `X-Direct-Context`.
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

/// The human-readable summary (PHI: only ever inside the encrypted message).
pub fn summary(ev: &AdtEvent, ctx: &AlertContext<'_>) -> String {
    let p = &ev.patient;
    let mrn = p
        .identifiers
        .first()
        .map(|(v, a)| format!("{v}@{a}"))
        .unwrap_or_default();
    let mut lines = vec![
        format!("{}", subject(ctx.event)),
        String::new(),
        format!("Event: {} ({}) at {}", ctx.event, ev.trigger, ev.event_time),
        match ev.facility_npi() {
            Some(npi) => format!(
                "Facility: {} ({}), NPI {npi}",
                ctx.facility_name, ev.location_facility
            ),
            None => format!("Facility: {} ({})", ctx.facility_name, ev.location_facility),
        },
        format!("Patient: {}, {}", p.family, p.given),
        format!(
            "Born: {}  Sex: {}  MRN: {mrn}  Visit: {}",
            p.birth_date.as_deref().unwrap_or("unknown"),
            p.sex
                .map_or_else(|| "unknown".to_string(), |c| c.to_string()),
            ev.visit
        ),
        format!("Class: {}  Location: {}", ev.patient_class, ev.location),
    ];
    let mut push = |label: &str, value: &str| {
        if !value.is_empty() {
            lines.push(format!("{label}: {value}"));
        }
    };
    push("Attending", &ev.attending);
    push("Admit reason", &ev.admit_reason.text);
    let diagnoses: Vec<&str> = ev.diagnoses.iter().map(|d| d.text.as_str()).collect();
    push("Diagnoses", &diagnoses.join("; "));
    push("Discharge disposition", &ev.discharge_disposition);
    push("Discharged to", &ev.discharged_to);
    push("PCP", &ev.pcp);
    push("Program", ctx.program.unwrap_or(""));
    push("Source control id", &ev.control_id);
    if ctx.withheld {
        lines.push("Sensitive information (mental health, substance use, HIV), if any, is withheld from this notification and its attachment: the patient's consent to share it is not on record.".into());
    }
    lines.join("\n") + "\n"
}

/// The whole RFC 5322 message.
pub fn render(ev: &AdtEvent, ctx: &AlertContext<'_>) -> Vec<u8> {
    let boundary = format!("=_hisp_alert_{}", ctx.id);
    let context_cid = format!("<metadata-{}@hisp>", ctx.id);
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
    part(
        format!(
            "Content-Type: application/x-direct-encapsulated+hl7v2; name=\"adt.hl7\"{CRLF}Content-Disposition: attachment; filename=\"adt.hl7\"{CRLF}Content-Transfer-Encoding: base64{CRLF}"
        ),
        &lines76(&compose::base64(ctx.adt)),
    );
    part(
        format!(
            "Content-Type: text/plain; charset=us-ascii; name=\"metadata.txt\"{CRLF}Content-Disposition: attachment; filename=\"metadata.txt\"{CRLF}Content-ID: {context_cid}{CRLF}Content-Transfer-Encoding: 7bit{CRLF}"
        ),
        metadata(ev, ctx).as_bytes(),
    );
    out.extend_from_slice(format!("--{boundary}--{CRLF}").as_bytes());
    out
}

/// The Direct Context metadata (Direct Context IG 1.0 fields). Its
/// patient lines are the IG's, not HL7's: `patient-id` lists
/// `authority:id` pairs separated by `; ` (left out when the ADT gives no
/// identifier with an authority), and `patient` gives `givenName`,
/// `surname`, `dateOfBirth` as `YYYY-MM-DD` and `gender`, each only when
/// known.
fn metadata(ev: &AdtEvent, ctx: &AlertContext<'_>) -> String {
    let p = &ev.patient;
    let ids: Vec<String> = p
        .identifiers
        .iter()
        .filter(|(v, a)| !v.trim().is_empty() && !a.trim().is_empty())
        .map(|(v, a)| {
            let authority = a.trim();
            let authority = authority.strip_prefix("urn:oid:").unwrap_or(authority);
            format!("{}:{}", one(authority).replace(':', " "), one(v))
        })
        .collect();
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
    let mut fields = vec![("version", "1.0".to_string()), ("id", ctx.id.to_string())];
    if !ids.is_empty() {
        fields.push(("patient-id", ids.join("; ")));
    }
    fields.extend([
        ("type", format!("notification/{}", ctx.event)),
        ("purpose", "care-coordination".to_string()),
    ]);
    if !patient.is_empty() {
        fields.push(("patient", patient.join("; ")));
    }
    fields.extend([
        ("encapsulation", "hl7v2".to_string()),
        ("creation-time", compose::rfc5322_date(ctx.now)),
        ("format-code", "dt-org:dsm:adt-en:1.0".to_string()),
    ]);
    fields
        .iter()
        .map(|(k, v)| format!("{k}: {v}{CRLF}"))
        .collect()
}

/// An HL7 date (`YYYY`, `YYYYMM` or `YYYYMMDD`, perhaps with a time after)
/// as ISO 8601 (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`); `None` when it is not one.
fn iso_date(hl7: &str) -> Option<String> {
    let digits: String = hl7
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let part = |r: std::ops::Range<usize>| digits.get(r).map(|p| p.parse::<u32>().unwrap_or(0));
    let (month, day) = (part(4..6), part(6..8));
    if month.is_some_and(|m| !(1..=12).contains(&m)) || day.is_some_and(|d| !(1..=31).contains(&d))
    {
        return None;
    }
    match digits.len() {
        4 => Some(digits),
        6 => Some(format!("{}-{}", &digits[..4], &digits[4..])),
        n if n >= 8 => Some(format!(
            "{}-{}-{}",
            &digits[..4],
            &digits[4..6],
            &digits[6..8]
        )),
        _ => None,
    }
}

/// `s` as one ASCII line with no character the metadata's syntax uses.
fn one(s: &str) -> String {
    compose::ascii_line(s).replace([';', '^', '&', '='], " ")
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
    use super::{AlertContext, iso_date, metadata};
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
        }
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
            ..AdtEvent::default()
        };
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
        assert!(lines.contains(&"type: notification/ed"), "{text}");
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
    fn hl7_dates_become_iso_dates() {
        assert_eq!(iso_date("19800102").as_deref(), Some("1980-01-02"));
        assert_eq!(iso_date("198001021230").as_deref(), Some("1980-01-02"));
        assert_eq!(iso_date("198001").as_deref(), Some("1980-01"));
        assert_eq!(iso_date("1980").as_deref(), Some("1980"));
        assert_eq!(iso_date("80"), None);
        assert_eq!(iso_date("19801399"), None, "no month 13");
        assert_eq!(iso_date("19800100"), None, "no day 0");
        assert_eq!(iso_date("01/02/1980"), None);
    }
}
