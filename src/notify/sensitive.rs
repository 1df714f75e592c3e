//! Sensitivity filtering of alert content (STANDARDS.md §7: "Diagnoses, after
//! sensitivity filtering", "a flag when content was withheld for consent",
//! and Connie's "Substance use, mental health and HIV information needs
//! affirmative consent"). Without the patient's recorded opt-in, anything
//! that reveals substance use, mental health (self-harm among it) or HIV is
//! left out of the alert text, and the attached ADT is cut down to the
//! segments and fields an alert reads, with those judged the same way.
//! When in doubt, withhold: a withheld diagnosis costs the reader little, a
//! disclosed one is a 42 CFR Part 2 or state-law breach.
//!
//! # Layout
//! - `codes`: diagnosis codes (`sensitive_code`), judged by their coding
//!   system against the ICD-10 and ICD-9 lists.
//! - `text`: free text (`sensitive_text`), judged by its words.
//! - `raw`: the attachment (`redact_raw`, `unjudged`), cut to what an alert
//!   reads.
//!
//! **Coded items** (`sensitive_coded`): every text of a coded item is judged
//! (CWE.2, .5, .9, .11, DG1-4), and so is each code as a word (a local code
//! `ETOH`). A coded item with neither a code we can judge nor a description
//! (an ASCII letter or digit) is withheld: nothing says it is harmless.

mod codes;
mod raw;
mod text;

use self::codes::alphanumeric;
use super::adt::{AdtEvent, Coded};

pub use self::codes::sensitive_code;
pub use self::raw::{redact_raw, unjudged};
pub use self::text::sensitive_text;

/// The event as an alert without opt-in may show it; true when a sensitive
/// item was withheld (what the attachment loses besides is `unjudged`).
pub fn redact_event(ev: &AdtEvent) -> (AdtEvent, bool) {
    let mut out = ev.clone();
    // PV1-18, the patient type, is never in the attachment (short local
    // codes, MH or IOP, that no word list judges); the decision read it
    // from the message itself.
    out.patient_type.clear();
    // MRG is not in the attachment either (an A06 may carry one, its
    // prior identifiers under any authority); merges and moves never alert.
    out.merged.clear();
    out.prior_visit = None;
    out.prior_account = None;
    out.diagnoses.retain(|d| !sensitive_coded(d));
    let mut withheld = out.diagnoses.len() != ev.diagnoses.len();
    if sensitive_coded(&ev.admit_reason) {
        out.admit_reason = Coded::default();
        withheld = true;
    }
    let texts = [
        (&mut out.patient_class, sensitive_text(&ev.patient_class)),
        (&mut out.location, sensitive_text(&ev.location)),
        (
            &mut out.discharge_disposition,
            sensitive_disposition(&ev.discharge_disposition),
        ),
        (
            &mut out.discharged_to,
            sensitive_destination(&ev.discharged_to, &ev.discharge_disposition),
        ),
    ];
    for (field, sensitive) in texts {
        if sensitive {
            field.clear();
            withheld = true;
        }
    }
    // A facility's name can say what it treats ("… Behavioral Health"): the
    // event then names the sending facility, as it does when PV1-3.4 is empty.
    // Without PV1-3.4 the location facility already is the sending facility,
    // whose name stays: nothing is withheld then.
    if ev.location_facility_given && sensitive_text(&ev.location_facility) {
        out.location_facility = ev.sending_facility.clone();
        out.location_facility_given = false;
        out.location_facility_names.clear();
        withheld = true;
    }
    // Nor its NPI, one public lookup from the name (the sending facility's
    // stays, as its name does: a feed that is such a facility is flagged
    // sensitive and alerts only with consent).
    let named = out.facility_npis.len();
    out.facility_npis
        .retain(|n| n.field == "MSH-4" || !sensitive_text(&n.facility));
    withheld |= out.facility_npis.len() != named;
    // An identifier's assigning authority can name what it treats: a health
    // system's master index lists the patient's number at its behavioural
    // health affiliate beside the hospital's MRN. That identifier goes (by
    // namespace, and by the OID the same repetition gave), as it goes from
    // the attachment.
    let sensitive_oids: Vec<&str> = ev
        .authority_oids
        .iter()
        .filter(|(namespace, _)| sensitive_text(namespace))
        .map(|(_, oid)| oid.as_str())
        .collect();
    let sensitive_authority = |a: &str| sensitive_text(a) || sensitive_oids.contains(&a);
    let ids = ev.patient.identifiers.len() + ev.alternate_identifiers.len();
    out.patient
        .identifiers
        .retain(|(_, a)| !sensitive_authority(a));
    out.alternate_identifiers
        .retain(|(_, a)| !sensitive_authority(a));
    if out.patient.identifiers.len() + out.alternate_identifiers.len() != ids {
        withheld = true;
        out.shown_identifiers
            .retain(|(_, a)| !sensitive_authority(a));
        out.authority_oids
            .retain(|(ns, oid)| !sensitive_text(ns) && !sensitive_oids.contains(&oid.as_str()));
        out.medical_records.retain(|(_, a)| !sensitive_authority(a));
        out.own_numbers.retain(|(_, a)| !sensitive_authority(a));
    }
    if ev.prior_facility.as_deref().is_some_and(sensitive_text) {
        out.prior_facility = None;
        out.prior_facility_names.clear();
        withheld = true;
    }
    (out, withheld)
}

/// Does a coded item (a diagnosis, the admit reason) need consent?
pub fn sensitive_coded(c: &Coded) -> bool {
    let mut judged = false;
    for code in &c.codes {
        match sensitive_code(&code.value, &code.system) {
            Some(true) => return true,
            Some(false) => judged = true,
            None => {}
        }
        if sensitive_text(&code.value) {
            return true;
        }
    }
    let described = c
        .texts
        .iter()
        .any(|t| t.bytes().any(|b| b.is_ascii_alphanumeric()));
    c.texts.iter().any(|t| sensitive_text(t)) || (!c.codes.is_empty() && !judged && !described)
}

/// PV1-36: sensitive text, or NUBC 65/93 (to a psychiatric hospital or unit).
fn sensitive_disposition(text: &str) -> bool {
    matches!(alphanumeric(text).as_str(), "65" | "93") || sensitive_text(text)
}

/// PV1-37: sensitive text, or the destination of a sensitive disposition
/// (the name of a psychiatric hospital need not say so).
fn sensitive_destination(text: &str, disposition: &str) -> bool {
    sensitive_text(text) || sensitive_disposition(disposition)
}

#[cfg(test)]
mod tests;
