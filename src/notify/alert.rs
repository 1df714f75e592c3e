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
    let text = summary(ev, ctx);
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

/// The Direct Context metadata (Direct Context IG 1.0 fields).
fn metadata(ev: &AdtEvent, ctx: &AlertContext<'_>) -> String {
    let p = &ev.patient;
    let id = p
        .identifiers
        .first()
        .map(|(v, a)| format!("{}^^^&{}", one(v), one(a)))
        .unwrap_or_default();
    let fields = [
        ("version", "1.0".to_string()),
        ("id", ctx.id.to_string()),
        ("patient-id", id),
        ("type", format!("notification/{}", ctx.event)),
        ("purpose", "care-coordination".to_string()),
        (
            "patient",
            format!(
                "givenName={}; surname={}; dateOfBirth={}",
                one(&p.given),
                one(&p.family),
                p.birth_date.as_deref().unwrap_or("")
            ),
        ),
        ("encapsulation", "hl7v2".to_string()),
        ("creation-time", compose::rfc5322_date(ctx.now)),
        ("format-code", "dt-org:dsm:adt-en:1.0".to_string()),
    ];
    fields
        .iter()
        .map(|(k, v)| format!("{k}: {v}{CRLF}"))
        .collect()
}

fn one(s: &str) -> String {
    compose::ascii_line(s).replace([';', '^', '&'], " ")
}

fn lines76(encoded: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded.len() + encoded.len() / 38 + 2);
    for chunk in encoded.as_bytes().chunks(76) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out
}
