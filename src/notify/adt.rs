//! Reading an ADT message into an encounter event (no I/O): who (identifiers
//! with assigning authorities, demographics), where (facility, class,
//! location), what (trigger, times, practitioners, reason, diagnoses,
//! disposition), and the encounter state machine that decides which events
//! become alerts (STANDARDS.md §6–§7): A01/A04/A06 admit or ED presentation
//! (ED when PV1-2 = E), A03 discharge, A02 transfer only when the facility
//! changes, A11/A12/A13 retraction only when the cancelled event was alerted,
//! A08 updates without alerting, A40/A39/A34/A36/A18 merge and A47
//! corrects identifiers, A28/A31 update the patient index.

use super::mpi::{placeholder_identifier, ssa_authority};
use crate::hl7::Message;
use crate::store::notify::StoredPatient;

/// What an ADT message says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdtEvent {
    /// MSH-9.2, else EVN-1, e.g. `A04`.
    pub trigger: String,
    /// MSH-4.1, else MSH-4.2: the sending facility (the feed).
    pub sending_facility: String,
    /// PV1-3.4.1, else PV1-3.4.2 (where the patient is: the HD's namespace
    /// id, else its universal id), else the sending facility.
    pub location_facility: String,
    /// Whether PV1-3.4 named the facility (`location_facility` is not the
    /// sending facility put in its place): a transfer needs both ends named.
    pub location_facility_given: bool,
    /// The NPIs the message's HDs give, where the patient is first (see
    /// [`facility_npis`]); the alert names the first.
    pub facility_npis: Vec<FacilityNpi>,
    /// PV1-6.4, read as PV1-3.4 is: the prior location's facility (transfers).
    pub prior_facility: Option<String>,
    /// Every name of PV1-3.4's facility: HD.1, and HD.2 when it is an ISO
    /// OID ([`authorities`]); empty when PV1-3.4 names none.
    pub location_facility_names: Vec<String>,
    /// Every name of PV1-6.4's facility, as for PV1-3.4.
    pub prior_facility_names: Vec<String>,
    /// PV1-18.1, the patient type as sent: `OBS` beside a PV1-2 of `O`
    /// is how many feeds send an observation stay.
    pub patient_type: String,
    /// PV1-19.1, else PID-18.1, as sent (empty when neither is given); shown.
    pub visit: String,
    /// The encounter's key within the facility (see [`encounter_key`]).
    pub encounter_key: String,
    /// The patient.
    pub patient: StoredPatient,
    /// The PID-3 repetitions an alert may call the MRN, as (value,
    /// assigning authority), best first: those typed `MR` (CX.5), then the
    /// untyped ones ([`AdtEvent::medical_record`]). Kept whole so that
    /// redaction, which can drop one, leaves the next as a re-read would.
    pub medical_records: Vec<(String, String)>,
    /// The numbers the hospital files its record of the patient under
    /// ([`own_numbers`]): a judgment that two roster entries are different
    /// people is about them (`process::hospital_record`).
    pub own_numbers: Vec<(String, String)>,
    /// This message's PID-3 identifiers an alert may show: not an SSN or
    /// another government identity number, and not one the patient index
    /// added from another feed (which can name a program).
    pub shown_identifiers: Vec<(String, String)>,
    /// The assigning authorities PID-3 named by namespace and ISO OID both
    /// (`NORTH&2.16.840.1.113883.19.5&ISO`), as (namespace, OID), each pair
    /// once: the Direct Context names an identifier's authority by its
    /// namespace's first OID, which means the same to every receiver, where
    /// the namespace is the sender's own; redaction withholds an identifier
    /// under an OID given beside a sensitive namespace.
    pub authority_oids: Vec<(String, String)>,
    /// PID-4's identifiers ([`ALTERNATE_ID_FIELD`]), as (value, each name of
    /// its authority): an opt-out recorded under one holds (they withhold),
    /// but they match no roster entry, release no opt-in, and are not
    /// filed in the patient index.
    pub alternate_identifiers: Vec<(String, String)>,
    /// PV1-2: E emergency, I inpatient, O outpatient…
    pub patient_class: String,
    /// PV1-3 point of care, room, bed.
    pub location: String,
    /// PV1-7 attending practitioner.
    pub attending: String,
    /// PD1-4 primary care provider.
    pub pcp: String,
    /// PV2-3 admit reason.
    pub admit_reason: Coded,
    /// DG1-3 diagnoses (DG1-4 the description where DG1-3 has no text).
    pub diagnoses: Vec<Coded>,
    /// PV1-36 discharge disposition.
    pub discharge_disposition: String,
    /// PV1-37 discharged-to location.
    pub discharged_to: String,
    /// EVN-2, else MSH-7.
    pub event_time: String,
    /// MSH-10.
    pub control_id: String,
    /// A40, A39, A34, A36, A18, A47: each identifier the message retires
    /// (every repetition of MRG-1 and MRG-4, in every PID/MRG group) and
    /// the one of its group's PID-3 or PID-2 that takes its place
    /// ([`RETIRING`]). Placeholders are left out.
    pub merged: Vec<Merge>,
    /// MRG-5 (A45, A50): the visit number this message moves to PV1-19.
    pub prior_visit: Option<String>,
    /// MRG-3 (A35, A49): the account number this message moves to PID-18.
    pub prior_account: Option<String>,
    /// `visit` is PID-18's account number: PV1-19 gave no real one.
    pub visit_is_account: bool,
}

impl AdtEvent {
    /// The PID-3 repetition an alert calls the MRN: the first typed `MR`,
    /// else the first untyped ([`AdtEvent::medical_records`]).
    pub fn medical_record(&self) -> Option<&(String, String)> {
        self.medical_records.first()
    }
}

/// A coded value (CWE) as an alert shows it and sensitivity filtering
/// judges it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coded {
    /// Every code it carries: the identifier, alternate identifier and
    /// second alternate identifier (CWE.1, CWE.4, CWE.10) of each repetition.
    pub codes: Vec<Code>,
    /// The first text (CWE.2) among its repetitions, else a diagnosis'
    /// description (DG1-4), else its first code.
    pub text: String,
    /// Every text it carries, for sensitivity filtering: each repetition's
    /// text, alternate text, original text and second alternate text
    /// (CWE.2, CWE.5, CWE.9, CWE.11), and a diagnosis' DG1-4.
    pub texts: Vec<String>,
}

/// One code of a coded value, with the coding system that says how to read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Code {
    /// The code as sent (CWE.1, CWE.4 or CWE.10).
    pub value: String,
    /// Its coding system (CWE.3, CWE.6 or CWE.12), for a diagnosis with none
    /// the coding method of DG1-2; empty when unspecified.
    pub system: String,
}

impl Coded {
    /// A coded field, e.g. PV2-3 (the admit reason).
    pub fn read(field: Option<crate::hl7::Field<'_>>) -> Self {
        Self::with(field, None, "")
    }

    /// A DG1 segment's diagnosis: DG1-3, described by DG1-4, coded by DG1-2
    /// where DG1-3 names no coding system (v2.3 feeds).
    pub fn diagnosis(seg: &crate::hl7::Segment<'_>) -> Self {
        let method = seg
            .field(2)
            .map(|f| f.text().trim().to_string())
            .unwrap_or_default();
        Self::with(seg.field(3), seg.field(4), &method)
    }

    fn with(
        field: Option<crate::hl7::Field<'_>>,
        description: Option<crate::hl7::Field<'_>>,
        method: &str,
    ) -> Self {
        let described = description
            .map(|d| d.text().trim().to_string())
            .filter(|s| !s.is_empty() && s != "\"\"");
        let mut out = Self::default();
        let mut first = None;
        for rep in field.iter().flat_map(|f| f.repetitions()) {
            let part = |n: usize| {
                rep.component(n)
                    .map(|c| c.text().trim().to_string())
                    .filter(|s| !s.is_empty() && s != "\"\"")
            };
            first = first.or_else(|| part(2));
            for (code, system) in [(1, 3), (4, 6), (10, 12)] {
                if let Some(value) = part(code) {
                    let system = part(system).unwrap_or_else(|| method.to_string());
                    out.codes.push(Code { value, system });
                }
            }
            out.texts.extend([2, 5, 9, 11].into_iter().filter_map(part));
        }
        out.texts.extend(described.clone());
        out.text = first
            .or(described)
            .or_else(|| out.codes.first().map(|c| c.value.clone()))
            .unwrap_or_default();
        out
    }
}

/// Why an ADT message cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdtError {
    /// No PID segment, or no identifier and no name in it.
    #[error("the message identifies no patient (PID-3, PID-2 and PID-5 are empty)")]
    NoPatient,
}

fn text(msg: &Message, path: &str) -> String {
    msg.get(path)
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

fn opt(msg: &Message, path: &str) -> Option<String> {
    Some(text(msg, path)).filter(|s| !s.is_empty() && s != "\"\"")
}

/// The value at `path`, empty when absent, empty or `""` (explicit null).
fn valued(msg: &Message, path: &str) -> String {
    opt(msg, path).unwrap_or_default()
}

/// Whether the message names its patient as [`read`] needs: an identifier
/// (CX.1 of one of the first [`MAX_IDENTIFIERS`] repetitions of PID-3 or
/// PID-2) or a family name (PID-5.1.1); PID-4 alone names no one it can
/// match. Cheap: the intake refuses
/// a message without one (AE), rather than acknowledge what can never
/// alert.
pub fn names_patient(msg: &Message) -> bool {
    opt(msg, "PID-5.1.1").is_some()
        || PATIENT_ID_FIELDS.iter().any(|field| {
            (1..=MAX_IDENTIFIERS).any(|n| opt(msg, &format!("{field}[{n}].1")).is_some())
        })
}

/// Whether an ADT trigger's message structure has no patient at all: A20,
/// a bed status update (MSH, EVN, NPU). Such a message is taken (AA) and
/// alerts no one, as before; every other trigger must name its patient.
pub fn has_no_patient(trigger: &str) -> bool {
    trigger.trim().eq_ignore_ascii_case("A20")
}

/// Read the event out of a parsed ADT message.
pub fn read(msg: &Message) -> Result<AdtEvent, AdtError> {
    let header = msg.header();
    let sending = header.sending_facility.id().to_string();
    if !names_patient(msg) {
        return Err(AdtError::NoPatient);
    }
    let (patient, authority_oids, alternate_identifiers) = patient(msg);
    let typed = typed_identifiers(msg);
    // A placeholder PV1-19 ("0") does not hide a real PID-18.
    let pv1_19 = opt(msg, "PV1-19.1").filter(|v| !placeholder_identifier(v, ""));
    let by_visit_number = pv1_19.is_some();
    let visit = pv1_19.or_else(|| opt(msg, "PID-18.1"));
    let visit_is_account = !by_visit_number && visit.is_some();
    let encounter_key = encounter_key(
        visit.as_deref(),
        &patient,
        opt(msg, "PV1-44.1").as_deref(),
        &header.control_id,
    );
    let shown = VisitText::read(msg.segment("PV1").as_ref());
    let assigned = facility(msg, "PV1-3.4");
    Ok(AdtEvent {
        trigger: trigger(msg, &header.trigger_event),
        location_facility: assigned.clone().unwrap_or_else(|| sending.clone()),
        location_facility_given: assigned.is_some(),
        prior_facility: facility(msg, "PV1-6.4"),
        location_facility_names: facility_names(msg, "PV1-3.4"),
        prior_facility_names: facility_names(msg, "PV1-6.4"),
        patient_type: text(msg, "PV1-18.1").to_ascii_uppercase(),
        facility_npis: facility_npis(msg),
        sending_facility: sending,
        visit: visit.unwrap_or_default(),
        encounter_key,
        medical_records: medical_records(&typed),
        own_numbers: own_numbers(&typed),
        shown_identifiers: shown_identifiers(&typed),
        authority_oids,
        alternate_identifiers,
        patient,
        patient_class: shown.class.to_ascii_uppercase(),
        location: shown.location,
        attending: person(msg, "PV1-7"),
        pcp: person(msg, "PD1-4"),
        admit_reason: Coded::read(msg.segments_named("PV2").next().and_then(|s| s.field(3))),
        diagnoses: msg
            .segments_named("DG1")
            .map(|seg| Coded::diagnosis(&seg))
            .filter(|d| !d.text.is_empty())
            .collect(),
        discharge_disposition: shown.disposition,
        discharged_to: shown.discharged_to,
        event_time: event_time(opt(msg, "EVN-2.1"), &header.timestamp),
        control_id: header.control_id.clone(),
        merged: merges(msg),
        prior_visit: opt(msg, "MRG-5.1").filter(|v| !placeholder_identifier(v, "")),
        prior_account: opt(msg, "MRG-3.1").filter(|v| !placeholder_identifier(v, "")),
        visit_is_account,
    })
}

/// A time's UTC offset (`±HHMM` after its date), when it has one.
fn utc_offset(ts: &str) -> Option<&str> {
    let ts = ts.trim();
    let i = 8 + ts.get(8..)?.find(['+', '-'])?;
    let o = &ts[i..];
    (o.len() == 5 && o[1..].bytes().all(|b| b.is_ascii_digit())).then_some(o)
}

/// The event's time: EVN-2, else MSH-7 when EVN-2 is absent or does not
/// read as a time and MSH-7 does. An unreadable time orders nothing, and
/// the state machine must take such a message for a replay of whatever it
/// repeats (a readmission after a cancelled admission would be quiet), so
/// the time the message was sent stands in for it.
fn event_time(evn2: Option<String>, msh7: &str) -> String {
    match evn2 {
        Some(t) if crate::hl7::timestamp(&t).is_some() => with_offset_of(t, msh7),
        Some(t) if crate::hl7::timestamp(msh7).is_none() => t,
        _ => msh7.to_string(),
    }
}

/// EVN-2 read in MSH-7's time zone when it gives none and MSH-7 does: HL7
/// reads a time without an offset as the sender's local time, and a message
/// without EVN-2 is timed by MSH-7, so a feed that offsets MSH-7 alone would
/// otherwise have that message's time, read as UTC, hours off its
/// neighbours' (an A03 timed after the readmission that follows it).
/// `evn2` is a time that reads ([`event_time`] checked it).
fn with_offset_of(evn2: String, msh7: &str) -> String {
    match (utc_offset(&evn2), utc_offset(msh7)) {
        (None, Some(o)) => format!("{}{o}", evn2.trim()),
        _ => evn2,
    }
}

/// The trigger event: MSH-9.2, else EVN-1 (v2.3 feeds that send MSH-9 =
/// `ADT` alone name the event only there), upper-cased.
fn trigger(msg: &Message, msh9_2: &str) -> String {
    Some(msh9_2.trim())
        .filter(|t| !t.is_empty() && *t != "\"\"")
        .map(str::to_string)
        .or_else(|| opt(msg, "EVN-1.1"))
        .unwrap_or_default()
        .trim()
        .to_ascii_uppercase()
}

/// The facility an HD component names (PV1-3.4, PV1-6.4: the HD's parts are
/// subcomponents there, `WEST&2222222223&NPI`): its namespace id, else its
/// universal id.
fn facility(msg: &Message, hd: &str) -> Option<String> {
    opt(msg, &format!("{hd}.1")).or_else(|| opt(msg, &format!("{hd}.2")))
}

/// Every name of the facility an HD gives: HD.1, and HD.2 when it is an
/// ISO OID, or HD.2 alone ([`authorities`]); empty when it names none.
fn facility_names(msg: &Message, hd: &str) -> Vec<String> {
    let part = |k: usize| opt(msg, &format!("{hd}.{k}"));
    authorities(part(1), part(2), part(3).as_deref())
        .into_iter()
        .filter(|n| !n.is_empty())
        .collect()
}

/// An NPI an HD of the message gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacilityNpi {
    /// The field: `PV1-3.4`, `EVN-7` or `MSH-4`.
    pub field: &'static str,
    /// The HD's name (HD.1), by which `sensitive::redact_event` judges it.
    pub facility: String,
    /// HD.2: ten digits.
    pub npi: String,
}

impl AdtEvent {
    /// Whether `prior` (PV1-6.4's facility) is PV1-3.4's: a name in common,
    /// so `NORTH&2.16.840.1.1&ISO` and `&2.16.840.1.1&ISO` are one facility
    /// (HD.1 and HD.2 name one entity), as for assigning authorities.
    fn same_facility(&self, prior: &str) -> bool {
        let names = |given: &[String], name: &str| -> Vec<String> {
            if given.is_empty() {
                vec![name.to_string()]
            } else {
                given.to_vec()
            }
        };
        let here = names(&self.location_facility_names, &self.location_facility);
        let before = names(&self.prior_facility_names, prior);
        here.iter()
            .any(|h| before.iter().any(|b| h.eq_ignore_ascii_case(b)))
    }

    /// The facility's NPI the alert names: the first of [`facility_npis`].
    pub fn facility_npi(&self) -> Option<&str> {
        self.facility_npis.first().map(|n| n.npi.as_str())
    }
}

/// The facility's NPIs (STANDARDS §7: an alert names the facility and its
/// NPI): the universal id of each HD that says it is one (HD.3 = NPI, HD.2
/// ten digits), in order: PV1-3.4 (where the patient is), EVN-7 (the event
/// facility) and MSH-4 (the sending facility). Without consent for
/// sensitive data, `sensitive::redact_event` drops a PV1-3.4 or EVN-7 whose
/// name says what its facility treats: an NPI is one public lookup from it.
pub fn facility_npis(msg: &Message) -> Vec<FacilityNpi> {
    ["PV1-3.4", "EVN-7", "MSH-4"]
        .into_iter()
        .filter_map(|hd| {
            let kind = text(msg, &format!("{hd}.3"));
            let npi = text(msg, &format!("{hd}.2"));
            let is_npi = kind.eq_ignore_ascii_case("NPI")
                && npi.len() == 10
                && npi.bytes().all(|b| b.is_ascii_digit());
            is_npi.then(|| FacilityNpi {
                field: hd,
                facility: text(msg, &format!("{hd}.1")),
                npi,
            })
        })
        .collect()
}

/// One identifier a merge retires, and the one that takes its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    /// From MRG-1 or MRG-4: value and assigning authority.
    pub retired: (String, String),
    /// From the group's PID-3 or PID-2: the repetition of the same
    /// assigning authority (in the field that succeeds the retiring one
    /// first), else the first of that field, else PID-3's first.
    pub survivor: (String, String),
}

/// How many repetitions of an identifier field (PID-3, MRG-1) are read:
/// an HIE's PID-3 lists a few, and a bound keeps a hostile or broken feed's
/// thousands of repetitions from costing a merge per pair.
pub const MAX_IDENTIFIERS: usize = 20;

/// Each CX of `field` that names someone, as the names it goes by for
/// matching: (CX.1, each of its assigning authority's names
/// ([`authorities`])), one group per repetition, placeholders left out
/// (`mpi::placeholder_identifier`), each identifier once, the first
/// [`MAX_IDENTIFIERS`] repetitions.
fn identifiers(field: Option<crate::hl7::Field<'_>>) -> Vec<Vec<(String, String)>> {
    let Some(field) = field else {
        return Vec::new();
    };
    let mut out: Vec<Vec<(String, String)>> = Vec::new();
    for r in field.repetitions().take(MAX_IDENTIFIERS) {
        let Some(value) = r.component(1).map(|c| c.text().trim().to_string()) else {
            continue;
        };
        if value.is_empty() || value == "\"\"" {
            continue;
        }
        let hd = |n: usize| {
            r.component(4)
                .and_then(|c| c.subcomponent(n))
                .map(|s| s.text().trim().to_string())
                .filter(|s| !s.is_empty() && s != "\"\"")
        };
        let mut forms = Vec::new();
        for authority in authorities(hd(1), hd(2), hd(3).as_deref()) {
            let id = (value.clone(), authority);
            let seen = out.iter().flatten().any(|o| *o == id);
            if !placeholder_identifier(&id.0, &id.1) && !seen && !forms.contains(&id) {
                forms.push(id);
            }
        }
        if !forms.is_empty() {
            out.push(forms);
        }
    }
    out
}

/// The names an identifier's assigning authority goes by, for matching: its
/// HD.1 (namespace id), else its HD.2 (universal id); and, when both are
/// given and HD.2 is an ISO OID (HD.3 `ISO`, digits and dots), the OID as
/// well, after the namespace. Both then name the same authority (HL7 v2
/// §2.A.33), and a roster or an opt-out may give either: an opt-out
/// recorded by OID must hold for a feed that sends `M1^^^NORTH&2.16.1&ISO`,
/// which read by HD.1 alone it did not (the patient was then only found by
/// demographics, if at all). A local HD.2 (`NORTH&1&L`) is not added: `1`
/// could as well be another feed's namespace. One empty name when both are
/// empty.
pub(crate) fn authorities(
    hd1: Option<String>,
    hd2: Option<String>,
    hd3: Option<&str>,
) -> Vec<String> {
    let iso_oid = |b: &str| {
        hd3.is_some_and(|t| t.eq_ignore_ascii_case("ISO"))
            && b.contains('.')
            && b.bytes().all(|c| c.is_ascii_digit() || c == b'.')
    };
    match (hd1, hd2) {
        (Some(a), Some(b)) if iso_oid(&b) && !a.eq_ignore_ascii_case(&b) => vec![a, b],
        (Some(a), _) | (None, Some(a)) => vec![a],
        (None, None) => vec![String::new()],
    }
}

/// The names an assigning authority typed by a person (a consent decision,
/// a roster row) goes by, read as [`authorities`] reads PID-3.4: an HD
/// written whole, as interface specifications print it
/// (`NORTH&2.16.840.1.113883.19.5&ISO`), is its namespace id and its ISO
/// OID, each of which a feed may send alone; a `urn:oid:` prefix (FHIR's
/// form of an OID) is dropped. Anything else is one name, trimmed. Before,
/// such an opt-out was recorded as typed and matched no message, whose
/// authority is read a component at a time. Empty when it names nothing.
pub fn authority_names(given: &str) -> Vec<String> {
    let bare = |s: &str| -> Option<String> {
        let s = s.trim();
        let s = match s.get(..8) {
            Some(p) if p.eq_ignore_ascii_case("urn:oid:") => &s[8..],
            _ => s,
        };
        (!s.is_empty()).then(|| s.to_string())
    };
    if !given.contains('&') {
        return bare(given).into_iter().collect();
    }
    let mut parts = given.split('&');
    let mut next = || parts.next().and_then(bare);
    let (hd1, hd2, hd3) = (next(), next(), next());
    authorities(hd1, hd2, hd3.as_deref())
        .into_iter()
        .filter(|a| !a.is_empty())
        .collect()
}

/// CX.4 of PID-3's `n`th repetition: the HD's namespace id, else its
/// universal id. Feeds that name the authority only by OID
/// (`M1^^^&2.16.840.1.113883.19.5&ISO^MR`) are common; read as HD.1 alone
/// they had no authority, so the identifier matched no roster entry or
/// consent. As for MSH-4 and PV1-3.4 ([`facility`]).
fn cx_authority(msg: &Message, n: usize) -> String {
    opt(msg, &format!("PID-3[{n}].4.1"))
        .or_else(|| opt(msg, &format!("PID-3[{n}].4.2")))
        .unwrap_or_default()
}

/// The digits of a TN (XTN.1: `[(999)]999-9999[X99999][B99999][C any
/// text]`) before its extension, beeper or comment: `(203)555-0142X12` is
/// 2035550142, not 203555014212 (whose last ten digits are another number).
fn phone_digits(tn: &str) -> String {
    let mut out = String::new();
    for c in tn.chars() {
        if c.is_ascii_digit() {
            out.push(c);
        } else if c.is_alphabetic() && !out.is_empty() {
            break;
        }
    }
    out
}

/// At most this many merges are read from one message (each rewrites
/// roster entries and consents): an ADT_A39 merges a few patients, not
/// thousands.
pub const MAX_MERGES: usize = 100;

/// The MRG fields that retire a patient identifier, each with the PID
/// field that holds its successor (an index into [`PATIENT_ID_FIELDS`]):
/// MRG-1, the prior identifier list (PID-3); MRG-4, the prior patient ID
/// (PID-2: an A39 merges "person" records by it). MRG-2, the prior
/// alternate ID, is not read: PID-4 only withholds
/// ([`AdtEvent::alternate_identifiers`]), and a temporary or account
/// number retired in a roster could be another patient's MRN.
const RETIRING: [(usize, usize); 2] = [(1, 0), (4, 1)];

/// The merges of a message: an MRG segment belongs to the PID before it
/// (ADT_A39 repeats the PID/MRG group, one per patient merged). Each merge
/// once, the first [`MAX_MERGES`].
fn merges(msg: &Message) -> Vec<Merge> {
    let mut out: Vec<Merge> = Vec::new();
    // The group's PID-3 and PID-2 identifiers.
    let mut group: [Vec<Vec<(String, String)>>; 2] = Default::default();
    // Authorities folded as the matching index folds them (Unicode).
    let same = |a: &str, b: &str| !a.is_empty() && a.to_lowercase() == b.to_lowercase();
    for seg in msg.segments() {
        if seg.is("PID") {
            group = [3, 2].map(|n| identifiers(seg.field(n)));
        } else if seg.is("MRG") {
            for (retiring, successor) in RETIRING {
                for retired in identifiers(seg.field(retiring)) {
                    // The surviving identifier is the one whose authority
                    // goes by any name the retired one's does, sought in the
                    // field that succeeds the retiring one first, then in
                    // the other; else that field's first, else PID-3's
                    // first. Each name of the retired one then maps to the
                    // survivor's form under the same name, else its first.
                    let (own, other) = (&group[successor], &group[1 - successor]);
                    let survivor = own
                        .iter()
                        .chain(other)
                        .find(|forms| {
                            forms
                                .iter()
                                .any(|(_, a)| retired.iter().any(|(_, r)| same(a, r)))
                        })
                        .or(group[successor].first())
                        .or(group[0].first());
                    let Some(survivor) = survivor else { continue };
                    for form in retired {
                        let Some(to) = survivor
                            .iter()
                            .find(|(_, a)| same(a, &form.1))
                            .or(survivor.first())
                        else {
                            continue;
                        };
                        let merge = Merge {
                            retired: form,
                            survivor: to.clone(),
                        };
                        if !out.contains(&merge) {
                            out.push(merge);
                        }
                        if out.len() >= MAX_MERGES {
                            return out;
                        }
                    }
                }
            }
        }
    }
    out
}

/// The key of a message's encounter within its facility: the visit number
/// (PV1-19, else PID-18), unless it is a placeholder ("0", "UNKNOWN",
/// "999999": `mpi::placeholder_identifier`), which would file every such
/// visit of every patient as one encounter and silence all but the first
/// alert. Without a real number: the patient's first real identifier and
/// PV1-44 (admit time), which the messages of one visit share, marked by a
/// leading `~`; the worker stores only a keyed hash of it
/// (`process::stored_key`), so no MRN can be recovered from the key. Failing that, the
/// message's control id, marked by a leading `~` too, so the message is an
/// encounter of its own (it alerts, but a later cancellation cannot find
/// it). Unmarked, a control id `59910287` was the visit numbered
/// `59910287` at the same facility, another patient's, whose admission
/// then found its alert taken. A visit number starts with `~`, the
/// repetition separator, only escaped or under other separators (a feed's
/// own keys only). Migration 0029 marks the rows stored before.
pub fn encounter_key(
    visit: Option<&str>,
    patient: &StoredPatient,
    admitted: Option<&str>,
    control_id: &str,
) -> String {
    if let Some(v) = visit.filter(|v| !placeholder_identifier(v, "")) {
        return v.to_string();
    }
    let id = patient
        .identifiers
        .iter()
        .find(|(v, a)| !placeholder_identifier(v, a));
    match (id, admitted.map(str::trim).filter(|t| !t.is_empty())) {
        (Some((value, authority)), Some(admitted)) => {
            format!("~{value}\u{1f}{authority}\u{1f}{admitted}")
        }
        _ => format!("~{control_id}"),
    }
}

/// The texts of a PV1 segment an alert shows, read alike for the event and
/// for judging the attachment's PV1 segments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VisitText {
    /// PV1-2.1, the patient class as sent.
    pub class: String,
    /// PV1-3.1 to PV1-3.3 (point of care, room, bed), " / " between them.
    pub location: String,
    /// PV1-36.1, the discharge disposition.
    pub disposition: String,
    /// PV1-37.1, the discharged-to location.
    pub discharged_to: String,
}

impl VisitText {
    /// The texts of `pv1` (all empty without one).
    pub fn read(pv1: Option<&crate::hl7::Segment<'_>>) -> Self {
        let at = |field: usize, component: usize| {
            pv1.and_then(|s| s.field(field))
                .and_then(|f| f.component(component))
                .map(|c| c.text().trim().to_string())
                .filter(|s| s != "\"\"")
                .unwrap_or_default()
        };
        Self {
            class: at(2, 1),
            location: [at(3, 1), at(3, 2), at(3, 3)]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" / "),
            disposition: at(36, 1),
            discharged_to: at(37, 1),
        }
    }
}

/// Identifier types (CX.5, HL7 table 0203) an alert never shows: a
/// government identity number says nothing a care manager needs and much
/// to anyone else (Social Security, national id, driver's licence,
/// passport).
const NEVER_SHOWN: [&str; 5] = ["SS", "SSN", "NI", "DL", "PPN"];

/// PID-3's repetitions that name someone, as (value, assigning authority,
/// identifier type code).
fn typed_identifiers(msg: &Message) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for n in 1..=MAX_IDENTIFIERS {
        let Some(value) = opt(msg, &format!("PID-3[{n}].1")) else {
            if msg.get(&format!("PID-3[{n}]")).is_none() {
                break;
            }
            continue;
        };
        let authority = cx_authority(msg, n);
        if placeholder_identifier(&value, &authority) {
            continue;
        }
        let kind = valued(msg, &format!("PID-3[{n}].5.1"))
            .trim()
            .to_ascii_uppercase();
        out.push((value, authority, kind));
    }
    out
}

/// The candidates for the alert's MRN among `ids` ([`typed_identifiers`]),
/// best first: those typed `MR` (or `MRN`, a common local code: table 0203
/// is user-defined before v2.5), then those with no type (v2.3 feeds send
/// the MRN untyped), never one an alert may not show (an untyped SSN is no
/// MRN).
fn medical_records(ids: &[(String, String, String)]) -> Vec<(String, String)> {
    let ids: Vec<_> = ids.iter().filter(|i| shown(i)).collect();
    let typed = ids
        .iter()
        .filter(|(_, _, kind)| kind == "MR" || kind == "MRN");
    let untyped = ids.iter().filter(|(_, _, kind)| kind.is_empty());
    typed
        .chain(untyped)
        .map(|(v, a, _)| (v.clone(), a.clone()))
        .collect()
}

/// The numbers of the hospital's own record of the patient among `ids`
/// ([`typed_identifiers`]): those typed `MR` or `MRN`, or, when none is
/// typed, the first untyped one ([`medical_records`]' order: v2.3 feeds
/// send the MRN untyped and first, and a later untyped repetition may be a
/// payer's number, such as the Medicaid number newborn twins share).
fn own_numbers(ids: &[(String, String, String)]) -> Vec<(String, String)> {
    let ids: Vec<_> = ids.iter().filter(|i| shown(i)).collect();
    let typed: Vec<(String, String)> = ids
        .iter()
        .filter(|(_, _, kind)| kind == "MR" || kind == "MRN")
        .map(|(v, a, _)| (v.clone(), a.clone()))
        .collect();
    if !typed.is_empty() {
        return typed;
    }
    ids.iter()
        .find(|(_, _, kind)| kind.is_empty())
        .map(|(v, a, _)| vec![(v.clone(), a.clone())])
        .unwrap_or_default()
}

/// Whether an alert may show an identifier: not of a type in [`NEVER_SHOWN`],
/// nor from the SSA, which v2.3 feeds name by authority and leave untyped
/// (`219456781^^^USSSA`).
fn shown((_, authority, kind): &(String, String, String)) -> bool {
    !NEVER_SHOWN.contains(&kind.as_str()) && !ssa_authority(authority)
}

/// The identifiers among `ids` an alert may show ([`shown`]).
fn shown_identifiers(ids: &[(String, String, String)]) -> Vec<(String, String)> {
    ids.iter()
        .filter(|i| shown(i))
        .map(|(v, a, _)| (v.clone(), a.clone()))
        .collect()
}

/// The PID fields that identify the patient (CX), in the order their
/// identifiers are listed: PID-3, the identifier list, then PID-2 (the
/// "external" patient ID). PID-2 is kept only for backward compatibility
/// since v2.3.1, and v2.3 feeds still fill it, often with the enterprise
/// (master index) number: a roster entry or an opt-out recorded under it
/// must hold for them. Matched on and judged for consent, never shown as
/// the MRN.
pub const PATIENT_ID_FIELDS: [&str; 2] = ["PID-3", "PID-2"];

/// PID-4, the alternate patient ID: "alternate, temporary, or pending"
/// numbers, "a visit number, an account number" (HL7 v2.3 §3.3.2.4), which
/// under the hospital's own authority can equal another patient's MRN
/// (identifiers are compared without their type). Read only to withhold
/// ([`AdtEvent::alternate_identifiers`]).
pub const ALTERNATE_ID_FIELD: &str = "PID-4";

/// An identifier (value, assigning authority), or an authority's
/// (namespace, OID).
type Pair = (String, String);

/// PID-3, then PID-2 ([`PATIENT_ID_FIELDS`], the first [`MAX_IDENTIFIERS`]
/// repetitions of each), PID-5, PID-7, PID-8, PID-11.5, PID-13; PID-4's
/// identifiers ([`ALTERNATE_ID_FIELD`]), apart; and the authorities all
/// three named by namespace and ISO OID both, as (namespace, OID)
/// ([`AdtEvent::authority_oids`]).
fn patient(msg: &Message) -> (StoredPatient, Vec<Pair>, Vec<Pair>) {
    let mut identifiers = Vec::new();
    let mut alternates = Vec::new();
    let mut oids = Vec::new();
    for field in PATIENT_ID_FIELDS.into_iter().chain([ALTERNATE_ID_FIELD]) {
        let into = match field == ALTERNATE_ID_FIELD {
            true => &mut alternates,
            false => &mut identifiers,
        };
        for n in 1..=MAX_IDENTIFIERS {
            let Some(value) = opt(msg, &format!("{field}[{n}].1")) else {
                if msg.get(&format!("{field}[{n}]")).is_none() {
                    break;
                }
                continue;
            };
            let hd = |k: usize| opt(msg, &format!("{field}[{n}].4.{k}"));
            let names = authorities(hd(1), hd(2), hd(3).as_deref());
            if let [namespace, oid] = &names[..]
                && !oids.contains(&(namespace.clone(), oid.clone()))
            {
                oids.push((namespace.clone(), oid.clone()));
            }
            for authority in names {
                let id = (value.clone(), authority);
                if !into.contains(&id) {
                    into.push(id);
                }
            }
        }
    }
    let phone = phone_digits(&valued(msg, "PID-13.1"));
    let phone = if phone.is_empty() {
        valued(msg, "PID-13.6") + &valued(msg, "PID-13.7")
    } else {
        phone
    };
    let patient = StoredPatient {
        identifiers,
        family: valued(msg, "PID-5.1.1"),
        given: valued(msg, "PID-5.2"),
        birth_date: opt(msg, "PID-7.1").map(|d| d.chars().take(8).collect()),
        sex: opt(msg, "PID-8.1")
            .and_then(|s| s.chars().next())
            .map(|c| c.to_ascii_uppercase()),
        postal_code: opt(msg, "PID-11.5").map(|z| z.chars().take(5).collect()),
        phone: Some(phone).filter(|p| p.len() >= 7),
    };
    (patient, oids, alternates)
}

/// An XCN as "Given Family (id)".
fn person(msg: &Message, field: &str) -> String {
    let family = valued(msg, &format!("{field}.2.1"));
    let given = valued(msg, &format!("{field}.3"));
    let id = valued(msg, &format!("{field}.1"));
    let name = [given, family]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match (name.is_empty(), id.is_empty()) {
        (true, _) => id,
        (false, true) => name,
        (false, false) => format!("{name} ({id})"),
    }
}

/// What an event does to its encounter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Alert subscribers: the event name and the change's dedup key.
    Alert {
        /// admit, ed, discharge, transfer, retraction.
        event: &'static str,
        /// One alert per key per subscriber.
        key: String,
    },
    /// Update state, no alert (A08, bed moves, index updates, repeats).
    Quiet,
}

/// How a change in an encounter's alerted list ended: `admit~` was cancelled
/// (a retraction; a transfer's, `transfer:south~1795000000`, keeps the
/// retraction's time in Unix seconds), `admit!` was closed (a new episode of
/// the encounter began), `transfer:south^1795000000@transfer:north#1` was left (a later
/// transfer, timed then in Unix seconds and alerted under the key after the
/// `@`, took the patient elsewhere). A change without a mark is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended<'a> {
    /// A retraction cancelled it; for a transfer, the retraction's time
    /// when it read. A transfer into the same facility timed before it, or
    /// a transfer's retraction timed before it, is a replay, not news.
    Cancelled(Option<i64>),
    /// Its episode is over.
    Closed,
    /// A transfer the patient has left: another transfer, timed at this
    /// Unix second, was alerted after it. A transfer into the same facility
    /// timed later is a return, news again; one timed no later is this one
    /// replayed. The second field is the alert key of the transfer that
    /// left it (`transfer:north#1`), so cancelling that transfer (A12) makes
    /// this one live again, and no other; marks written before it was
    /// recorded have none.
    Left(i64, Option<&'a str>),
}

impl Ended<'_> {
    /// The mark a key ends with.
    pub fn mark(self) -> String {
        match self {
            Ended::Cancelled(None) => "~".to_string(),
            Ended::Cancelled(Some(at)) => format!("~{at}"),
            Ended::Closed => "!".to_string(),
            Ended::Left(at, None) => format!("^{at}"),
            Ended::Left(at, Some(by)) => format!("^{at}@{by}"),
        }
    }

    /// The change an alerted-list key names, and how it ended (`None`: live).
    /// A facility's `^` is escaped in its key ([`transfer_key`]), so the
    /// first `^` begins the mark.
    pub fn of(key: &str) -> (&str, Option<Ended<'_>>) {
        if let Some(change) = key.strip_suffix('~') {
            return (change, Some(Ended::Cancelled(None)));
        }
        if let Some((change, at)) = key.rsplit_once('~')
            && !at.is_empty()
            && at.bytes().all(|b| b.is_ascii_digit())
            && let Ok(at) = at.parse()
        {
            return (change, Some(Ended::Cancelled(Some(at))));
        }
        if let Some(change) = key.strip_suffix('!') {
            return (change, Some(Ended::Closed));
        }
        if let Some((change, mark)) = key.split_once('^') {
            let (at, by) = match mark.split_once('@') {
                Some((at, by)) => (at, Some(by).filter(|b| !b.is_empty())),
                None => (mark, None),
            };
            let whole = by.is_some() || !mark.contains('@');
            if whole
                && !at.is_empty()
                && at.bytes().all(|b| b.is_ascii_digit())
                && let Ok(at) = at.parse()
            {
                return (change, Some(Ended::Left(at, by)));
            }
        }
        (key, None)
    }
}

/// An ED visit with no discharge is closed after this long (STANDARDS §7,
/// PatientPing's 48 hours).
pub const ED_CLOSES_AFTER_SECS: i64 = 48 * 3600;

/// Whether `ev`, at `at` (its event time, Unix seconds), begins a new episode
/// of an encounter that entered `state` at `state_at`: an admission or
/// registration (A01/A04/A06) after the discharge (a readmission under the
/// same account number, or a recurring visit's next one) or after the
/// visit's cancellation (A11), or more than 48 h after an ED presentation
/// that never saw a discharge, which closed it. A new episode alerts
/// afresh; an event from before then (a late or replayed message), or one
/// whose time does not read, begins nothing. After a cancellation (session
/// 38, review): an A11 sent after the visit's A03 (a visit registered in
/// error, found out after it ended) retracts the visit but leaves its
/// discharge standing, so the readmission's own discharge under the same
/// account found its change taken and was never told.
pub fn new_episode(ev: &AdtEvent, at: Option<i64>, state: &str, state_at: Option<i64>) -> bool {
    let (Some(at), Some(since)) = (at, state_at) else {
        return false;
    };
    matches!(ev.trigger.as_str(), "A01" | "A04" | "A06")
        && match state {
            "discharged" | "cancelled" => at > since,
            "ed" => at - since > ED_CLOSES_AFTER_SECS,
            _ => false,
        }
}

/// PV1-2 as HL7 table 0004 has it (E, I, O, P, R, B, C, N, U), local values
/// mapped (STANDARDS §6: "DAY CASE", "ER", "INPATIENT"; never rejected).
/// Anything unrecognised is U, unknown. Observation ("OBS") reads as I: a
/// patient kept in hospital under observation is, to a care manager, an
/// admission.
pub fn patient_class(sent: &str) -> char {
    let folded = fold_class(sent);
    const LOCAL: [(char, &[&str]); 8] = [
        (
            'E',
            &[
                "ER",
                "ED",
                "EM",
                "EMR",
                "EMER",
                "EMERG",
                "EMERGENCY",
                "EMERGENCYDEPT",
                "EMERGENCYROOM",
                "EMERGENCYDEPARTMENT",
            ],
        ),
        (
            'I',
            &["IP", "INP", "INPT", "INPATIENT", "OBS", "OBSERVATION"],
        ),
        (
            'O',
            &[
                "OP",
                "OPT",
                "OUTPT",
                "OUTPATIENT",
                "AMB",
                "AMBULATORY",
                "CLINIC",
                "DAYCASE",
                "DAYSURGERY",
                "SDS",
                "SDC",
                "SAMEDAY",
                "SAMEDAYSURGERY",
                "AMBSURG",
                "LAB",
                "LABORATORY",
                "LABONLY",
                "HOV",
                "CLINICVISIT",
                "OFFICE",
                "OFFICEVISIT",
                "TELEHEALTH",
                "TELEMED",
                "TELEMEDICINE",
                "VIRTUAL",
                "VIRTUALVISIT",
                "RADIOLOGY",
                "IMAGING",
            ],
        ),
        ('R', &["REC", "RECURRING", "SERIES"]),
        (
            'P',
            &[
                "PRE",
                "PREADMIT",
                "PREADMISSION",
                "PREREG",
                "PREREGISTRATION",
                "PREOP",
            ],
        ),
        ('B', &["OB", "OBSTETRIC", "OBSTETRICS"]),
        ('C', &["COMMERCIAL"]),
        ('N', &["NA"]),
    ];
    match folded.as_bytes() {
        [c] if b"EIOPRBCNU".contains(c) => char::from(*c),
        _ => LOCAL
            .iter()
            .find(|(_, names)| names.contains(&folded.as_str()))
            .map_or('U', |(class, _)| *class),
    }
}

/// Whether PV1-18 (patient type) says observation: `OBS` or `OBSERVATION`,
/// any case, spaces and punctuation aside.
fn observation(patient_type: &str) -> bool {
    matches!(fold_class(patient_type).as_str(), "OBS" | "OBSERVATION")
}

/// A class or type as sent, compared: its ASCII letters and digits in
/// capitals ("Day case" is DAYCASE).
fn fold_class(sent: &str) -> String {
    sent.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Whether a visit of `class` is news to a care manager: an ED visit, an
/// inpatient or obstetric stay, or one whose class is not known (erring
/// towards telling). Outpatient, recurring, preadmit, commercial and
/// not-applicable visits are not (a lab draw, each session of a series):
/// CMS requires notices of ED visits, admissions and discharges, and
/// primary care already gets dozens of alerts a day (STANDARDS §7).
fn alerting(class: char) -> bool {
    matches!(class, 'E' | 'I' | 'B' | 'U')
}

/// The change key of a registration (A04) neither ED nor inpatient, told
/// as an admission ([`decide`]).
const REGISTRATION: &str = "registration";

/// The changes that open a visit: a discharge ends one of them.
const VISITS: [&str; 3] = ["admit", "ed", REGISTRATION];

/// What an A11 cancels, first the one that stands: the admission, else the
/// registration, else the ED visit.
const REGISTRATIONS: [&str; 3] = ["admit", REGISTRATION, "ed"];

/// Whether changes `a` and `b` are cancelled by the same trigger (A11 the
/// registrations, A12 the transfers, A13 the discharge), so that a
/// retraction of one is judged against the cancellations of the other.
pub fn cancelled_alike(a: &str, b: &str) -> bool {
    let transfer = |k: &str| k.starts_with("transfer:");
    (transfer(a) && transfer(b))
        || (a == "discharge" && b == "discharge")
        || (REGISTRATIONS.contains(&a) && REGISTRATIONS.contains(&b))
}

/// The triggers that cancel an earlier event (A11 a registration, A12 a
/// transfer, A13 a discharge): the only ones `decide` retracts on.
pub fn cancels(trigger: &str) -> bool {
    matches!(trigger, "A11" | "A12" | "A13")
}

/// The encounter state machine: from the stored state and alerted keys,
/// decide the change and the new state.
pub fn decide(ev: &AdtEvent, state: &str, alerted: &[&str]) -> (Change, String) {
    let class = match patient_class(&ev.patient_class) {
        // An observation stay sent as an outpatient (or unknown) class with
        // PV1-18 saying so (`O` and `OBS`), as many feeds send it: a
        // patient kept in hospital, as `OBS` in PV1-2 is.
        'O' | 'U' if observation(&ev.patient_type) => 'I',
        class => class,
    };
    let ed = class == 'E';
    let keep = state.to_string();
    match ev.trigger.as_str() {
        "A01" | "A04" | "A06" if !alerting(class) => (Change::Quiet, keep),
        // A registration (A04) of an obstetric or unknown class is told as
        // an admission but kept under its own change: the inpatient
        // admission that may follow (A01, A06 of class I) is news, and must
        // not find its key taken. An A01 or A06 of such a class after it is
        // the same visit told again.
        "A01" | "A04" | "A06"
            if !ed && class != 'I' && (ev.trigger == "A04" || alerted.contains(&REGISTRATION)) =>
        {
            (
                alert("admit", REGISTRATION.to_string()),
                "admitted".to_string(),
            )
        }
        "A01" | "A04" | "A06" => {
            let event = if ed { "ed" } else { "admit" };
            let new = if ed { "ed" } else { "admitted" };
            (alert(event, event.to_string()), new.to_string())
        }
        // The end of a visit alerted about, or of one that would have been
        // (a patient enrolled during it).
        "A03" if !alerting(class) && !VISITS.iter().any(|k| alerted.contains(k)) => {
            (Change::Quiet, "discharged".into())
        }
        // The end of a visit whose registration was cancelled (A11), and
        // not registered again since: there was no visit to discharge from.
        // An admission cancelled while the ED visit stands (its alert
        // live) still ends that ED visit.
        "A03" if state == "cancelled" && !VISITS.iter().any(|k| alerted.contains(k)) => {
            (Change::Quiet, keep)
        }
        "A03" => (alert("discharge", "discharge".into()), "discharged".into()),
        // A transfer: the facility in PV1-3.4 is not PV1-6.4's. Without both
        // named, a move is not known to leave the facility (precision first).
        "A02" => match &ev.prior_facility {
            Some(prior) if ev.location_facility_given && !ev.same_facility(prior) => {
                (alert("transfer", transfer_key(&ev.location_facility)), keep)
            }
            _ => (Change::Quiet, keep),
        },
        // An A11 cancels the admission if one stands, else the registration,
        // else the ED visit: feeds send an A11's PV1-2 either as the
        // cancelled visit's class or as what the visit is after it, so the
        // class cannot say which.
        "A11" => retract(alerted, &REGISTRATIONS, "cancelled".into()),
        // A12's PV1-3 is where the patient was before the cancelled move
        // (HL7 v2.5 §3.3.12). When PV1-6.4 names where the move went, as
        // senders fill it, that names the move: one within PV1-3.4's
        // facility (a bed move, never alerted) is quiet, and one into
        // another facility retracts the transfer into it, if alerted.
        "A12" if ev.location_facility_given && ev.prior_facility.is_some() => {
            let prior = ev.prior_facility.as_deref().unwrap_or_default();
            if ev.same_facility(prior) {
                return (Change::Quiet, keep);
            }
            let cancelled = transfer_key(prior);
            retract(alerted, &[cancelled.as_str()], keep)
        }
        // Otherwise the latest live transfer is the one an A12 cancels.
        "A12" => {
            let into_location = transfer_key(&ev.location_facility);
            let transfers: Vec<&str> = alerted
                .iter()
                .rev()
                .copied()
                .filter(|k| k.starts_with("transfer:") && Ended::of(k).1.is_none())
                // A12's PV1-3 is where the patient was before the cancelled
                // move: the transfer into that facility is not the one cancelled.
                .filter(|k| *k != into_location)
                .collect();
            retract(&transfers, &transfers, keep)
        }
        // The visit goes on as what it was: an ED visit stays one (and
        // closes after 48 hours without a discharge, `new_episode`).
        "A13" => {
            // By the A13's own class, else by what was alerted: an inpatient
            // class or an admission alerted is an admission.
            let ed_visit = class != 'I'
                && !alerted.contains(&"admit")
                && (class == 'E' || alerted.contains(&"ed"));
            let back = if ed_visit { "ed" } else { "admitted" };
            retract(alerted, &["discharge"], back.into())
        }
        _ => (Change::Quiet, keep),
    }
}

/// The alerted-list key of a transfer into `facility`: lowercase, with the
/// characters the list's syntax uses (`,` between keys, `~`/`!`/`^` ending
/// them, `#` before a generation) and `%` written as `%XX`, so a facility
/// named "St. Mary's, Hartford" is one key, not two.
pub fn transfer_key(facility: &str) -> String {
    let mut key = String::from("transfer:");
    for c in facility.to_lowercase().chars() {
        match c {
            ',' | '~' | '!' | '^' | '#' | '%' => {
                key.push_str(&format!("%{:02X}", u32::from(c)));
            }
            c => key.push(c),
        }
    }
    key
}

fn alert(event: &'static str, key: String) -> Change {
    Change::Alert { event, key }
}

/// A retraction alert only when one of `cancels` was alerted before.
fn retract(alerted: &[&str], cancels: &[&str], new_state: String) -> (Change, String) {
    match cancels.iter().find(|c| alerted.contains(c)) {
        Some(c) => (alert("retraction", format!("retract:{c}")), new_state),
        None => (Change::Quiet, new_state),
    }
}

/// Message types and events this service acts on (others get AR).
pub fn supported(message_type: &str) -> bool {
    message_type.eq_ignore_ascii_case("ADT")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(trigger: &str, class: &str) -> AdtEvent {
        AdtEvent {
            trigger: trigger.into(),
            patient_class: class.into(),
            location_facility: "NORTH".into(),
            location_facility_given: true,
            ..AdtEvent::default()
        }
    }

    #[test]
    fn state_machine() {
        assert_eq!(
            decide(&ev("A04", "E"), "new", &[]).0,
            alert("ed", "ed".into())
        );
        assert_eq!(
            decide(&ev("A01", "I"), "new", &[]).0,
            alert("admit", "admit".into())
        );
        assert_eq!(
            decide(&ev("A08", "I"), "admitted", &["admit"]).0,
            Change::Quiet
        );
        assert_eq!(
            decide(&ev("A11", "I"), "admitted", &[]).0,
            Change::Quiet,
            "nothing alerted, nothing retracted"
        );
        assert_eq!(
            decide(&ev("A11", "I"), "admitted", &["admit"]).0,
            alert("retraction", "retract:admit".into())
        );
        let mut bed = ev("A02", "I");
        bed.prior_facility = Some("north".into());
        assert_eq!(
            decide(&bed, "admitted", &["admit"]).0,
            Change::Quiet,
            "bed move"
        );
        bed.prior_facility = Some("SOUTH".into());
        assert_eq!(
            decide(&bed, "admitted", &["admit"]).0,
            alert("transfer", "transfer:north".into())
        );
    }

    #[test]
    fn reads_an_ed_registration() {
        let raw = b"MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|20261122060000||ADT^A04^ADT_A01|C1|P|2.5.1\rEVN|A04|20261122055900\rPID|1||MRN1^^^NORTH^MR~999^^^SSA^SS||Doe^Jane^Q||19800102|F|||1 Main St^^Hartford^CT^06101||(860)555-1234\rPV1|1|E|ED^12^A^NORTHHOSP||||1234^Smith^Anna||||||||||||V100\rPV2|||^Chest pain\rDG1|1||R07.9^Chest pain, unspecified^I10\r";
        let msg = crate::hl7::parse(raw).expect("parse");
        let e = read(&msg).expect("event");
        assert_eq!(e.trigger, "A04");
        assert_eq!(e.visit, "V100");
        assert_eq!(
            e.patient.identifiers,
            [
                ("MRN1".into(), "NORTH".into()),
                ("999".into(), "SSA".into())
            ]
        );
        assert_eq!(
            (e.patient.family.as_str(), e.patient.given.as_str()),
            ("Doe", "Jane")
        );
        assert_eq!(e.patient.birth_date.as_deref(), Some("19800102"));
        assert_eq!(e.patient.sex, Some('F'));
        assert_eq!(e.patient.postal_code.as_deref(), Some("06101"));
        assert_eq!(e.patient.phone.as_deref(), Some("8605551234"));
        assert_eq!(e.patient_class, "E");
        assert_eq!(e.attending, "Anna Smith (1234)");
        assert_eq!(e.admit_reason.text, "Chest pain");
        assert!(e.admit_reason.codes.is_empty());
        assert_eq!(
            e.diagnoses,
            [Coded {
                codes: vec![Code {
                    value: "R07.9".into(),
                    system: "I10".into()
                }],
                text: "Chest pain, unspecified".into(),
                texts: vec!["Chest pain, unspecified".into()],
            }]
        );
        assert_eq!(e.location_facility, "NORTHHOSP");
    }

    #[test]
    fn local_patient_classes_are_mapped_and_only_visits_that_matter_alert() {
        for (sent, class) in [
            ("E", 'E'),
            ("er", 'E'),
            ("Emergency Dept", 'E'),
            ("I", 'I'),
            ("INPATIENT", 'I'),
            ("Obs", 'I'),
            ("O", 'O'),
            ("DAY CASE", 'O'),
            ("Outpatient", 'O'),
            ("LAB", 'O'),
            ("Telehealth", 'O'),
            ("CLINIC VISIT", 'O'),
            ("SDC", 'O'),
            ("Pre-Op", 'P'),
            ("R", 'R'),
            ("Series", 'R'),
            ("PREADMIT", 'P'),
            ("OB", 'B'),
            ("N/A", 'N'),
            ("", 'U'),
            ("ZZ", 'U'),
        ] {
            assert_eq!(patient_class(sent), class, "{sent}");
        }
        let quiet = |state: &str| (Change::Quiet, state.to_string());
        // An outpatient registration, a recurring session, a preadmission: quiet.
        for class in ["O", "DAY CASE", "R", "P"] {
            for trigger in ["A01", "A04", "A06"] {
                assert_eq!(
                    decide(&ev(trigger, class), "new", &[]),
                    quiet("new"),
                    "{class}"
                );
            }
            // Their end is quiet too, unless the visit was alerted about.
            assert_eq!(decide(&ev("A03", class), "new", &[]), quiet("discharged"));
            assert_eq!(
                decide(&ev("A03", class), "ed", &["ed"]).0,
                alert("discharge", "discharge".into())
            );
        }
        // A local ED class is an ED visit; observation, an unknown or a
        // missing class alert as admissions. Registered (A04) under an
        // unknown, missing or obstetric class, the admission is kept under
        // its own change: the inpatient admission that follows is told too.
        for local in ["ER", "EM", "EMR"] {
            assert_eq!(
                decide(&ev("A04", local), "new", &[]),
                (alert("ed", "ed".into()), "ed".into()),
                "{local}"
            );
        }
        for (class, key) in [
            ("OBS", "admit"),
            ("", REGISTRATION),
            ("ZZ", REGISTRATION),
            ("B", REGISTRATION),
        ] {
            assert_eq!(
                decide(&ev("A04", class), "new", &[]),
                (alert("admit", key.into()), "admitted".into()),
                "{class}"
            );
            for trigger in ["A01", "A06"] {
                let admitted = decide(&ev(trigger, "I"), "admitted", &[key]).0;
                assert_eq!(admitted, alert("admit", "admit".into()), "{trigger}");
                // Of the registration's own class: the same visit again.
                let again = decide(&ev(trigger, class), "admitted", &[key]).0;
                assert_eq!(again, alert("admit", key.into()), "{class} {trigger}");
            }
            assert_eq!(
                decide(&ev("A11", class), "admitted", &[key]).0,
                alert("retraction", format!("retract:{key}")),
                "{class}"
            );
            assert_eq!(
                decide(&ev("A03", class), "admitted", &[]).0,
                alert("discharge", "discharge".into()),
                "{class}"
            );
        }
    }

    #[test]
    fn an_observation_stay_sent_as_outpatient_with_pv1_18_obs_is_an_admission() {
        let obs = |trigger: &str, class: &str, kind: &str| AdtEvent {
            patient_type: kind.into(),
            ..ev(trigger, class)
        };
        let admit = (alert("admit", "admit".into()), "admitted".to_string());
        for (class, kind) in [("O", "OBS"), ("O", "Observation"), ("", "OBS")] {
            assert_eq!(decide(&obs("A01", class, kind), "new", &[]), admit);
            assert_eq!(decide(&obs("A04", class, kind), "new", &[]), admit);
        }
        // PV1-18 does not turn an outpatient visit of another type, nor an
        // ED visit, into an admission.
        for (class, kind) in [
            ("O", ""),
            ("O", "CLINIC"),
            ("O", "IP"),
            ("O", "INPATIENT"),
            ("R", "OBS"),
            ("LAB", ""),
        ] {
            let q = decide(&obs("A01", class, kind), "new", &[]);
            assert_eq!(q.0, Change::Quiet, "{class}/{kind}");
        }
        assert_eq!(
            decide(&obs("A04", "E", "OBS"), "new", &[]).0,
            alert("ed", "ed".into())
        );
        // Read from the message.
        let read = read_text(
            "MSH|^~\\&|EPIC|NORTH|HISP|HISP|2026||ADT^A01|C1|P|2.5.1\r\
             PID|1||M1^^^N^MR||Doe^Jane\rPV1|1|O|3W^301^A^NORTH|||||||||||||||OBS|V1\r",
        )
        .expect("read");
        assert_eq!(read.patient_type, "OBS");
        assert_eq!(decide(&read, "new", &[]), admit);
    }

    #[test]
    fn a_cancelled_visit_is_not_discharged_and_a_cancelled_discharge_resumes_the_visit() {
        // A04 (ED), A11: the A03 that follows closes nothing.
        assert_eq!(
            decide(&ev("A03", "E"), "cancelled", &["ed!"]),
            (Change::Quiet, "cancelled".into())
        );
        // A04 (ED), A06 (admitted), A11 (the admission cancelled, the ED
        // visit stands): its A03 ends the ED visit.
        assert_eq!(
            decide(&ev("A03", "E"), "cancelled", &["ed", "admit!"]).0,
            alert("discharge", "discharge".into())
        );
        // Registered again after the cancellation: its end is news.
        assert_eq!(
            decide(&ev("A03", "E"), "ed", &["ed"]).0,
            alert("discharge", "discharge".into())
        );
        // A13 of an ED visit's discharge: an ED visit again, which closes
        // after 48 hours; of an admission, an admission.
        let back = |alerted: &[&str], class: &str| decide(&ev("A13", class), "discharged", alerted);
        assert_eq!(back(&["ed", "discharge"], "E").1, "ed");
        assert_eq!(back(&[], "E").1, "ed");
        assert_eq!(back(&["ed", "admit", "discharge"], "I").1, "admitted");
        assert_eq!(back(&["admit", "discharge"], "I").1, "admitted");
        // The A13's own inpatient class wins over an ED alert.
        assert_eq!(back(&["ed", "discharge"], "I").1, "admitted");
        assert_eq!(
            back(&["ed", "discharge"], "E").0,
            alert("retraction", "retract:discharge".into())
        );
    }

    #[test]
    fn every_mrg_of_every_group_is_merged_into_its_own_pid() {
        let msg = crate::hl7::parse(
            b"MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|2026||ADT^A40^ADT_A39|M1|P|2.5.1\r\
EVN|A40|2026\r\
PID|1||999999999^^^SSA^SS~H2^^^NORTH^MR||Hay^Hal\rMRG|H1^^^NORTH~000000^^^NORTH~219456781^^^SSA\r\
PID|2||G2^^^NORTH^MR||Gray^Gus\rMRG|G1^^^OTHER\r\
MRG|X1^^^NORTH\r",
        )
        .expect("parse");
        let ev = read(&msg).expect("event");
        let m = |retired: (&str, &str), survivor: (&str, &str)| Merge {
            retired: (retired.0.into(), retired.1.into()),
            survivor: (survivor.0.into(), survivor.1.into()),
        };
        assert_eq!(
            ev.merged,
            [
                // The placeholder SSN is no survivor, the placeholder MRN not retired.
                m(("H1", "NORTH"), ("H2", "NORTH")),
                m(("219456781", "SSA"), ("H2", "NORTH")),
                m(("G1", "OTHER"), ("G2", "NORTH")),
                m(("X1", "NORTH"), ("G2", "NORTH")),
            ]
        );
    }

    #[test]
    fn pid_2_identifies_the_patient_after_pid_3_and_pid_4_only_apart() {
        // A v2.3 feed: the master index's number in PID-2, an older chart
        // number in PID-4, the hospital's MRN in PID-3.
        let e = read_text(
            "MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|2026||ADT^A04|C|P|2.3\r\
             PID|1|E100^^^EMPI&2.16.840.1.113883.19.9&ISO|M1^^^NORTH^MR|A7^^^NORTH~M1^^^NORTH~999999999^^^SSA|Doe^Jane\r",
        )
        .expect("event");
        let pairs = |ids: &[(String, String)]| -> Vec<(String, String)> { ids.to_vec() };
        let owned = |ids: &[(&str, &str)]| -> Vec<(String, String)> {
            ids.iter()
                .map(|(v, a)| (v.to_string(), a.to_string()))
                .collect()
        };
        assert_eq!(
            pairs(&e.patient.identifiers),
            owned(&[
                ("M1", "NORTH"),
                ("E100", "EMPI"),
                ("E100", "2.16.840.1.113883.19.9"),
            ]),
            "PID-3 first, each identifier once"
        );
        // PID-4 apart, whole (placeholders are the worker's to strip).
        assert_eq!(
            pairs(&e.alternate_identifiers),
            owned(&[("A7", "NORTH"), ("M1", "NORTH"), ("999999999", "SSA")])
        );
        assert_eq!(
            e.authority_oids,
            [("EMPI".to_string(), "2.16.840.1.113883.19.9".to_string())]
        );
        let shown = [("M1".to_string(), "NORTH".to_string())];
        assert_eq!(e.shown_identifiers, shown);
        assert_eq!(e.medical_records, shown);
        // A message naming its patient by PID-2 alone names one; by
        // PID-4 alone, no one it could match.
        for (pid, named) in [
            ("PID|1|E100^^^EMPI", true),
            ("PID|1||||||", false),
            ("PID|1|||A7^^^NORTH", false),
        ] {
            let text = format!("MSH|^~\\&|A|N|H|H|2026||ADT^A04|C|P|2.3\r{pid}\r");
            assert_eq!(read_text(&text).is_ok(), named, "{pid}");
        }
    }

    #[test]
    fn an_a39_merges_by_mrg_4_into_pid_2_and_never_by_mrg_2() {
        let e = read_text(
            "MSH|^~\\&|MPI|NORTHHOSP|HISP|HISP|2026||ADT^A39^ADT_A39|C|P|2.3\r\
             EVN|A39|2026\r\
             PID|1|E200^^^EMPI|M2^^^NORTH|A9^^^OLDSYS|Doe^Jane\r\
             MRG|M1^^^NORTH|A8^^^OLDSYS||E100^^^EMPI\r\
             PID|2|F2^^^EMPI|||Roe^Ann\r\
             MRG||||F1^^^OTHER~F0^^^EMPI\r\
             PID|3||P2^^^NORTH||Poe^Pat\r\
             MRG||||Q1^^^EMPI\r",
        )
        .expect("event");
        let m = |retired: (&str, &str), survivor: (&str, &str)| Merge {
            retired: (retired.0.into(), retired.1.into()),
            survivor: (survivor.0.into(), survivor.1.into()),
        };
        assert_eq!(
            e.merged,
            [
                m(("M1", "NORTH"), ("M2", "NORTH")),
                m(("E100", "EMPI"), ("E200", "EMPI")),
                // MRG-2 (A8) retires nothing: PID-4 only withholds.
                // No survivor from OTHER: PID-2's first succeeds MRG-4's.
                m(("F1", "OTHER"), ("F2", "EMPI")),
                m(("F0", "EMPI"), ("F2", "EMPI")),
                // No PID-2 at all: PID-3's first.
                m(("Q1", "EMPI"), ("P2", "NORTH")),
            ]
        );
    }

    #[test]
    fn a_merge_survivor_is_found_by_its_authority_in_any_case() {
        let msg = crate::hl7::parse(
            "MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|2026||ADT^A40^ADT_A39|M1|P|2.5.1\r\
EVN|A40|2026\r\
PID|1||S2^^^SOUTH^MR~K2^^^Klinikum Süd^MR||Hay^Hal\rMRG|K1^^^KLINIKUM SÜD\r"
                .as_bytes(),
        )
        .expect("parse");
        let ev = read(&msg).expect("event");
        assert_eq!(ev.merged.len(), 1);
        assert_eq!(ev.merged[0].survivor.0, "K2", "{:?}", ev.merged);
    }

    #[test]
    fn the_facility_npi_is_read_where_an_hd_says_it_is_one() {
        let npi = |msh4: &str, evn7: &str, pv1_3: &str| {
            let text = format!(
                "MSH|^~\\&|EPIC|{msh4}|HISP|HISP|2026||ADT^A04|C1|P|2.5.1\r\
                 EVN|A04|2026|||||{evn7}\rPID|1||M1^^^N^MR||Doe^Jane\rPV1|1|E|{pv1_3}\r"
            );
            let msg = crate::hl7::parse(text.as_bytes()).expect("parse");
            read(&msg).expect("event").facility_npi().map(str::to_owned)
        };
        let some = |s: &str| Some(s.to_string());
        assert_eq!(npi("NORTH^1234567893^NPI", "", ""), some("1234567893"));
        assert_eq!(npi("NORTH", "EAST^1111111112^npi", ""), some("1111111112"));
        assert_eq!(
            npi("NORTH^1234567893^NPI", "", "ED^1^A^WEST&2222222223&NPI"),
            some("2222222223"),
            "where the patient is comes first"
        );
        assert_eq!(npi("NORTH^1234567893^OID", "", ""), None);
        assert_eq!(npi("NORTH^12345^NPI", "", ""), None);
        assert_eq!(npi("NORTH^2.16.840.1^ISO", "", "ED^1^A^WEST"), None);
    }

    #[test]
    fn a12_retracts_only_a_live_transfer() {
        let a12 = ev("A12", "I");
        let quiet = (Change::Quiet, "admitted".to_string());
        assert_eq!(
            decide(&a12, "admitted", &["admit", "transfer:south~"]),
            quiet
        );
        assert_eq!(decide(&a12, "admitted", &["transfer:south!"]), quiet);
        assert_eq!(
            decide(&a12, "admitted", &["transfer:south~", "transfer:east"]).0,
            alert("retraction", "retract:transfer:east".into())
        );
        // An A12 from SOUTH cancels a move that began there (a bed move):
        // not the transfer into SOUTH.
        let mut from_south = ev("A12", "I");
        from_south.location_facility = "SOUTH".into();
        assert_eq!(decide(&from_south, "admitted", &["transfer:south"]), quiet);
        // Two transfers under way: the latest is cancelled first.
        assert_eq!(
            decide(&a12, "admitted", &["transfer:south", "transfer:east"]).0,
            alert("retraction", "retract:transfer:east".into())
        );
        // PV1-6.4 names the cancelled move: a bed move inside EAST is not
        // the transfer into SOUTH (nor, back in NORTH, a transfer at all).
        let mut bed_move = ev("A12", "I");
        bed_move.location_facility = "EAST".into();
        bed_move.prior_facility = Some("east".into());
        let alerted = ["admit", "transfer:south", "transfer:east"];
        assert_eq!(decide(&bed_move, "admitted", &alerted), quiet);
        bed_move.location_facility = "NORTH".into();
        bed_move.prior_facility = Some("NORTH".into());
        assert_eq!(
            decide(&bed_move, "admitted", &["transfer:south", "transfer:north"]),
            quiet
        );
        // A move into SOUTH cancelled: that transfer, not the latest one.
        let mut back = ev("A12", "I");
        back.location_facility = "EAST".into();
        back.prior_facility = Some("South".into());
        assert_eq!(
            decide(&back, "admitted", &alerted).0,
            alert("retraction", "retract:transfer:south".into())
        );
        assert_eq!(decide(&back, "admitted", &["transfer:south~"]), quiet);
    }

    #[test]
    fn a_transfer_needs_both_facilities_named() {
        // PV1-3.4 empty: the sending facility stands in for it, and a
        // PV1-6.4 that names the hospital otherwise is no transfer.
        let mut a02 = ev("A02", "I");
        a02.location_facility = "NORTHHOSP".into();
        a02.location_facility_given = false;
        a02.prior_facility = Some("NORTH".into());
        assert_eq!(decide(&a02, "admitted", &["admit"]).0, Change::Quiet);
        a02.location_facility_given = true;
        assert_eq!(
            decide(&a02, "admitted", &["admit"]).0,
            alert("transfer", "transfer:northhosp".into())
        );
    }

    #[test]
    fn a_facility_name_is_one_key_whatever_it_holds() {
        assert_eq!(
            transfer_key("St. Mary's, Hartford"),
            "transfer:st. mary's%2C hartford"
        );
        assert_eq!(
            transfer_key("NORTH~!#%^1"),
            "transfer:north%7E%21%23%25%5E1"
        );
        assert_eq!(
            Ended::of("transfer:north^1795000000").1,
            Some(Ended::Left(1_795_000_000, None))
        );
        assert_eq!(
            Ended::of("transfer:north^1795000000@transfer:st. mary's%2C hartford#2"),
            (
                "transfer:north",
                Some(Ended::Left(
                    1_795_000_000,
                    Some("transfer:st. mary's%2C hartford#2")
                ))
            )
        );
        assert_eq!(Ended::of("transfer:north^1@"), ("transfer:north^1@", None));
        assert_eq!(
            Ended::of("transfer:north~1795000000"),
            (
                "transfer:north",
                Some(Ended::Cancelled(Some(1_795_000_000)))
            )
        );
        assert_eq!(Ended::of("admit~"), ("admit", Some(Ended::Cancelled(None))));
        assert_eq!(
            Ended::of("transfer:north%7E1"),
            ("transfer:north%7E1", None)
        );
        assert_eq!(
            Ended::of("transfer:north%5E1"),
            ("transfer:north%5E1", None)
        );
        assert_eq!(Ended::of("transfer:north^"), ("transfer:north^", None));
        let mut a02 = ev("A02", "I");
        a02.location_facility = "St. Mary's, Hartford".into();
        a02.prior_facility = Some("NORTH".into());
        let Change::Alert { key, .. } = decide(&a02, "admitted", &["admit"]).0 else {
            panic!("a transfer")
        };
        assert!(!key.contains(',') && Ended::of(&key).1.is_none(), "{key}");
        // Cancelled, the retraction names it whole.
        let mut a12 = ev("A12", "I");
        a12.prior_facility = Some("St. Mary's, Hartford".into());
        assert_eq!(
            decide(&a12, "admitted", &["admit", key.as_str()]).0,
            alert("retraction", format!("retract:{key}"))
        );
    }

    #[test]
    fn an_account_change_names_its_prior_account_and_whether_pid_18_keys_the_visit() {
        let ev = |pv1_19: &str, mrg3: &str| {
            let raw = format!(
                "MSH|^~\\&|A|NORTH|H|H|20261122070000||ADT^A49|C1|P|2.5.1\r\
                 PID|1||MRN1^^^NORTH^MR||Doe^Jane|||||||||||||ACC9\r\
                 MRG|MRN1^^^NORTH||{mrg3}\r\
                 PV1|1|I|W^1^A^NORTH||||||||||||||||{pv1_19}\r"
            );
            read(&crate::hl7::parse(raw.as_bytes()).expect("parse")).expect("read")
        };
        let by_account = ev("", "ACC1");
        assert_eq!(
            (by_account.visit.as_str(), by_account.visit_is_account),
            ("ACC9", true)
        );
        assert_eq!(by_account.prior_account.as_deref(), Some("ACC1"));
        // A placeholder PV1-19 leaves the visit keyed by its account.
        assert!(ev("0", "ACC1").visit_is_account);
        let by_visit = ev("V5", "ACC1");
        assert_eq!(
            (by_visit.visit.as_str(), by_visit.visit_is_account),
            ("V5", false)
        );
        // A placeholder prior account moves nothing.
        assert_eq!(ev("", "0").prior_account, None);
    }

    #[test]
    fn placeholder_visit_numbers_key_no_encounter() {
        let jane = StoredPatient {
            identifiers: vec![
                ("000000".into(), "NORTH".into()),
                ("MRN1".into(), "NORTH".into()),
            ],
            ..StoredPatient::default()
        };
        let key = |visit, admitted| encounter_key(visit, &jane, admitted, "C1");
        assert_eq!(key(Some("V100"), Some("202611220800")), "V100");
        assert_eq!(key(Some("1"), None), "1");
        // A placeholder: the patient's first real identifier and the admit
        // time, digested; without an admit time, the message itself.
        let derived = key(Some("UNKNOWN"), Some("202611220800"));
        assert_eq!(derived, "~MRN1\u{1f}NORTH\u{1f}202611220800");
        for placeholder in ["0", "0000", "999999", "N/A", "Unknown", ""] {
            assert_eq!(key(Some(placeholder), Some("202611220800")), derived);
        }
        assert_eq!(key(None, Some("202611220800")), derived);
        assert_ne!(
            key(None, Some("202611230800")),
            derived,
            "another admission"
        );
        let john = StoredPatient {
            identifiers: vec![("MRN2".into(), "NORTH".into())],
            ..StoredPatient::default()
        };
        assert_ne!(
            encounter_key(None, &john, Some("202611220800"), "C1"),
            derived
        );
        assert_eq!(key(Some("0"), None), "~C1");
        assert_eq!(key(Some("0"), Some(" ")), "~C1");
        assert_ne!(key(Some("0"), None), key(Some("C1"), None), "visit C1");
        let nobody = StoredPatient::default();
        assert_eq!(
            encounter_key(None, &nobody, Some("202611220800"), "C1"),
            "~C1"
        );
    }

    #[test]
    fn an_episode_ends_at_a_discharge_or_48_hours_into_an_ed_visit() {
        let h = 3600;
        let t = Some(1_000_000);
        let at = |secs: i64| Some(1_000_000 + secs);
        let new = |trigger, when, state| new_episode(&ev(trigger, "E"), when, state, t);
        // After a discharge or a cancellation: only a later admission or
        // registration.
        for state in ["discharged", "cancelled"] {
            for trigger in ["A01", "A04", "A06"] {
                assert!(new(trigger, at(1), state), "{trigger} {state}");
                assert!(!new(trigger, at(0), state), "{trigger} {state} replayed");
                assert!(!new(trigger, at(-h), state), "{trigger} {state} late");
            }
        }
        for trigger in ["A03", "A08", "A02", "A11", "A13"] {
            assert!(!new(trigger, at(100 * h), "discharged"), "{trigger}");
            assert!(!new(trigger, at(100 * h), "cancelled"), "{trigger}");
            assert!(!new(trigger, at(100 * h), "ed"), "{trigger}");
        }
        // An ED visit closes after 48 hours without a discharge.
        assert!(!new("A04", at(48 * h), "ed"));
        assert!(new("A04", at(48 * h + 1), "ed"));
        assert!(new("A01", at(49 * h), "ed"));
        // An inpatient stay does not close, nor does anything else.
        for state in ["admitted", "new"] {
            assert!(!new("A01", at(1000 * h), state), "{state}");
        }
        // A time that did not read begins nothing.
        assert!(!new_episode(&ev("A04", "E"), None, "discharged", t));
        assert!(!new_episode(&ev("A04", "E"), at(1), "discharged", None));
    }

    fn read_text(text: &str) -> Result<AdtEvent, AdtError> {
        read(&crate::hl7::parse(text.as_bytes()).expect("parse"))
    }

    #[test]
    fn a_facility_given_as_a_whole_hd_is_its_namespace_id() {
        // PV1-3.4 and PV1-6.4 are HDs: their parts are subcomponents.
        let a02 = |pv1_3_4: &str, pv1_6_4: &str| {
            read_text(&format!(
                "MSH|^~\\&|EPIC|NORTH|HISP|HISP|2026||ADT^A02|C1|P|2.5.1\r\
                 PID|1||M1^^^N^MR||Doe^Jane\rPV1|1|I|ICU^3^B^{pv1_3_4}|||ED^1^A^{pv1_6_4}\r"
            ))
            .expect("event")
        };
        let bed = a02("WEST&2222222223&NPI", "WEST");
        assert_eq!(bed.location_facility, "WEST");
        assert_eq!(bed.prior_facility.as_deref(), Some("WEST"));
        assert_eq!(
            decide(&bed, "admitted", &["admit"]).0,
            Change::Quiet,
            "a bed move"
        );
        let moved = a02("WEST&2222222223&NPI", "EAST&1111111112&NPI");
        assert_eq!(
            decide(&moved, "admitted", &["admit"]).0,
            alert("transfer", "transfer:west".into())
        );
        // No namespace id: the universal id names it.
        let oid = a02("&2.16.840.1.1&ISO", "&2.16.840.1.1&ISO");
        assert_eq!(oid.location_facility, "2.16.840.1.1");
        assert_eq!(decide(&oid, "admitted", &[]).0, Change::Quiet);
        // One facility named by namespace and OID at one end and by its OID
        // alone at the other: a bed move, not a transfer.
        for (here, before) in [
            ("&2.16.840.1.1&ISO", "NORTH&2.16.840.1.1&ISO"),
            ("NORTH&2.16.840.1.1&ISO", "&2.16.840.1.1&ISO"),
            ("NORTH&2.16.840.1.1&ISO", "NORTH"),
        ] {
            let bed = a02(here, before);
            assert_eq!(
                decide(&bed, "admitted", &["admit"]).0,
                Change::Quiet,
                "{here} {before}"
            );
        }
        // A local HD.2 is no second name: `NORTH&1&L` and `SOUTH&1&L` are two.
        let moved = a02("NORTH&1&L", "SOUTH&1&L");
        assert_eq!(
            decide(&moved, "admitted", &["admit"]).0,
            alert("transfer", "transfer:north".into())
        );
        let moved = a02("NORTH&2.16.840.1.1&ISO", "SOUTH&2.16.840.1.2&ISO");
        assert_eq!(
            decide(&moved, "admitted", &["admit"]).0,
            alert("transfer", "transfer:north".into())
        );
        // Neither: where the patient is falls back to the sending facility.
        let none = a02("", "\"\"");
        assert_eq!(none.location_facility, "NORTH");
        assert_eq!(none.prior_facility, None);
    }

    #[test]
    fn the_medical_record_number_is_the_repetition_typed_mr() {
        let with = |pid3: &str| {
            read_text(&format!(
                "MSH|^~\\&|A|N|H|H|2026||ADT^A04|C|P|2.5\rPID|1||{pid3}||Doe^Jane\rPV1|1|E\r"
            ))
            .expect("read")
            .medical_record()
            .cloned()
        };
        let mr = |v: &str, a: &str| Some((v.to_string(), a.to_string()));
        assert_eq!(with("999^^^SSA^SS~M1^^^N^MR"), mr("M1", "N"));
        assert_eq!(with("E1^^^N^PI~M1^^^N^mr~M2^^^N^MR"), mr("M1", "N"));
        assert_eq!(
            with("^^^N^MR~M3^^^N^MR"),
            mr("M3", "N"),
            "an empty one is skipped"
        );
        assert_eq!(with("E1^^^N^PI~999^^^SSA^SS"), None);
        assert_eq!(with("M1^^^N"), mr("M1", "N"), "untyped: a v2.3 feed's MRN");
        assert_eq!(with("999^^^SSA^SS~M1^^^N"), mr("M1", "N"));
        assert_eq!(
            with("UNKNOWN^^^N^MR~M4^^^N^MR"),
            mr("M4", "N"),
            "a placeholder is no MRN"
        );
        let shown = read_text(
            "MSH|^~\\&|A|N|H|H|2026||ADT^A04|C|P|2.5\rPID|1||M1^^^N^MR~999^^^SSA^SS~D9^^^CT^DL~E1^^^N^PI||Doe^Jane\rPV1|1|E\r",
        )
        .expect("read")
        .shown_identifiers;
        let id = |v: &str, a: &str| (v.to_string(), a.to_string());
        assert_eq!(shown, [id("M1", "N"), id("E1", "N")]);
    }

    #[test]
    fn an_explicit_null_is_no_value() {
        let msg = |pid: &str, pv1: &str| {
            read_text(&format!(
                "MSH|^~\\&|EPIC|NORTH|HISP|HISP|2026||ADT^A04|C1|P|2.5.1\r{pid}\r{pv1}\rPD1||||\"\"^\"\"^\"\"\r"
            ))
        };
        assert_eq!(
            msg("PID|1||||\"\"^\"\"", "PV1|1|E").map(|_| ()),
            Err(AdtError::NoPatient),
            "no identifier, and a null name"
        );
        let null = "\"\"";
        let mut pv1 = vec![""; 38];
        pv1[0] = "PV1|1";
        for at in [2, 36, 37] {
            pv1[at - 1] = null;
        }
        let xcn = format!("{null}^{null}^{null}");
        pv1[2] = &xcn;
        pv1[6] = &xcn;
        let e = msg(
            "PID|1||M1^^^\"\"^MR||\"\"^\"\"||||||||\"\"",
            pv1.join("|").as_str(),
        )
        .expect("event");
        assert_eq!(e.patient.identifiers, [("M1".into(), String::new())]);
        assert_eq!(
            (e.patient.family.as_str(), e.patient.given.as_str()),
            ("", "")
        );
        assert_eq!(e.attending, "");
        assert_eq!(e.pcp, "");
        assert_eq!(e.patient_class, "");
        assert_eq!(e.location, "");
        assert_eq!(e.discharge_disposition, "");
        assert_eq!(e.discharged_to, "");
        assert_eq!(e.patient.phone, None);
    }

    #[test]
    fn the_trigger_comes_from_evn_1_when_msh_9_has_none() {
        let event = |msh9: &str, evn1: &str| {
            read_text(&format!(
                "MSH|^~\\&|EPIC|NORTH|HISP|HISP|2026||{msh9}|C1|P|2.3\r\
                 EVN|{evn1}|2026\rPID|1||M1^^^N^MR||Doe^Jane\rPV1|1|E\r"
            ))
            .expect("event")
            .trigger
        };
        assert_eq!(event("ADT", "a04"), "A04");
        assert_eq!(event("ADT^\"\"", "A03"), "A03");
        assert_eq!(event("ADT^A01", "A04"), "A01", "MSH-9.2 first");
        assert_eq!(event("ADT", ""), "");
    }

    #[test]
    fn a_sending_facility_known_by_its_oid() {
        let e = read_text(
            "MSH|^~\\&|EPIC|^2.16.840.1.1^ISO|HISP|HISP|2026||ADT^A04|C1|P|2.5.1\r\
             PID|1||M1^^^N^MR||Doe^Jane\rPV1|1|E\r",
        )
        .expect("event");
        assert_eq!(e.sending_facility, "2.16.840.1.1");
        assert_eq!(e.location_facility, "2.16.840.1.1");
    }

    #[test]
    fn an_authority_named_only_by_its_oid_is_the_oid() {
        let e = read_text(
            "MSH|^~\\&|EPIC|NORTH|HISP|HISP|2026||ADT^A40|C1|P|2.5.1\r\
             PID|1||M1^^^&2.16.840.1.113883.19.5&ISO^MR~M2^^^NORTH&2.16.1&ISO^PI||Doe^Jane\r\
             MRG|OLD1^^^&2.16.840.1.113883.19.5&ISO\r",
        )
        .expect("event");
        let id = |v: &str, a: &str| (v.to_string(), a.to_string());
        let oid = "2.16.840.1.113883.19.5";
        assert_eq!(
            e.patient.identifiers,
            [id("M1", oid), id("M2", "NORTH"), id("M2", "2.16.1")],
            "HD.1 and HD.2, for matching"
        );
        assert_eq!(e.medical_record().cloned(), Some(id("M1", oid)));
        assert_eq!(e.shown_identifiers, [id("M1", oid), id("M2", "NORTH")]);
        // The retired identifier's survivor is the one of its authority.
        assert_eq!(
            e.merged,
            [Merge {
                retired: id("OLD1", oid),
                survivor: id("M1", oid),
            }]
        );
    }

    #[test]
    fn an_authority_typed_as_a_whole_hd_goes_by_each_of_its_names() {
        let oid = "2.16.840.1.113883.19.5";
        let names = |given: &str| authority_names(given);
        assert_eq!(names(&format!("NORTH&{oid}&ISO")), ["NORTH", oid]);
        assert_eq!(names(&format!(" NORTH & {oid} & iso ")), ["NORTH", oid]);
        assert_eq!(names(&format!("&{oid}&ISO")), [oid]);
        assert_eq!(names(&format!("urn:oid:{oid}")), [oid]);
        assert_eq!(names(&format!("NORTH&URN:OID:{oid}&ISO")), ["NORTH", oid]);
        // A local universal id is no second name; a plain one is as typed.
        assert_eq!(names("NORTH&1&L"), ["NORTH"]);
        assert_eq!(names(" NORTH "), ["NORTH"]);
        // Nothing named.
        for empty in ["", "  ", "&&", "urn:oid:", "&&ISO"] {
            assert!(names(empty).is_empty(), "{empty:?}");
        }
    }

    #[test]
    fn only_an_iso_oid_is_a_second_name_of_the_authority() {
        let ids = |pid3: &str| {
            read_text(&format!(
                "MSH|^~\\&|EPIC|NORTH|HISP|HISP|2026||ADT^A04|C1|P|2.5.1\r\
                 PID|1||{pid3}||Doe^Jane\rPV1|1|E\r"
            ))
            .expect("event")
            .patient
            .identifiers
        };
        let id = |v: &str, a: &str| (v.to_string(), a.to_string());
        assert_eq!(ids("M1^^^NORTH&1&L"), [id("M1", "NORTH")], "a local HD.2");
        assert_eq!(ids("M1^^^NORTH&2.16.1"), [id("M1", "NORTH")], "no HD.3");
        assert_eq!(ids("M1^^^NORTH&urn:x&URI"), [id("M1", "NORTH")]);
        assert_eq!(
            ids("M1^^^NORTH&2.16.1&iso"),
            [id("M1", "NORTH"), id("M1", "2.16.1")]
        );
        assert_eq!(ids("M1^^^&2.16.1&ISO"), [id("M1", "2.16.1")]);
        assert_eq!(
            ids("M1^^^&LOCAL&L"),
            [id("M1", "LOCAL")],
            "HD.2 alone, as before"
        );
    }

    #[test]
    fn a_retired_identifier_known_by_two_names_merges_into_the_survivor_of_either() {
        let e = read_text(
            "MSH|^~\\&|EPIC|NORTH|HISP|HISP|2026||ADT^A40|C1|P|2.5.1\r\
             PID|1||E7^^^EPI~M1^^^NORTH||Doe^Jane\r\
             MRG|X1^^^NORTH&2.16.1&ISO\r",
        )
        .expect("event");
        let id = |v: &str, a: &str| (v.to_string(), a.to_string());
        assert_eq!(
            e.merged,
            [
                Merge {
                    retired: id("X1", "NORTH"),
                    survivor: id("M1", "NORTH"),
                },
                Merge {
                    retired: id("X1", "2.16.1"),
                    survivor: id("M1", "NORTH"),
                },
            ],
            "not the other authority's E7"
        );
    }

    #[test]
    fn an_untyped_ssn_known_by_its_authority_is_never_shown() {
        let e = read_text(
            "MSH|^~\\&|A|N|H|H|2026||ADT^A04|C|P|2.3\r\
             PID|1||219456781^^^USSSA~312456789^^^&2.16.840.1.113883.4.1&ISO~M1^^^NORTH||Doe^Jane\r\
             PV1|1|E\r",
        )
        .expect("event");
        let id = |v: &str, a: &str| (v.to_string(), a.to_string());
        assert_eq!(
            e.medical_record().cloned(),
            Some(id("M1", "NORTH")),
            "not the SSN"
        );
        assert_eq!(e.shown_identifiers, [id("M1", "NORTH")]);
        // Still the patient's, for matching.
        assert_eq!(e.patient.identifiers.len(), 3);
    }

    #[test]
    fn a_local_mrn_type_is_the_medical_record_number() {
        // As the corpus's hl7-parser samples send it: `10006579^^^1^MRN^1`.
        let e = read_text(
            "MSH|^~\\&|A|N|H|H|2026||ADT^A01|C|P|2.3\r\
             PID|1||E7^^^1^PI~10006579^^^1^MRN^1||Doe^Jane\rPV1|1|I\r",
        )
        .expect("event");
        assert_eq!(
            e.medical_record().cloned(),
            Some(("10006579".into(), "1".into()))
        );
    }

    #[test]
    fn a_phone_number_stops_at_its_extension() {
        let phone = |tn: &str| {
            read_text(&format!(
                "MSH|^~\\&|A|N|H|H|2026||ADT^A04|C|P|2.5\r\
                 PID|1||M1^^^N^MR||Doe^Jane||||||||{tn}\rPV1|1|E\r"
            ))
            .expect("event")
            .patient
            .phone
        };
        assert_eq!(phone("(203)555-0142X12").as_deref(), Some("2035550142"));
        assert_eq!(
            phone("(203)555-0142B77C call after 5").as_deref(),
            Some("2035550142")
        );
        assert_eq!(phone("203-555-0142").as_deref(), Some("2035550142"));
        assert_eq!(
            phone("^PRN^PH^^^203^5550142").as_deref(),
            Some("2035550142")
        );
    }

    #[test]
    fn merges_are_read_once_each_and_bounded() {
        let pid3 = vec!["S1^^^A"; 5000].join("~");
        let mrg1: Vec<String> = (0..5000).map(|i| format!("R{}^^^A", i % 300)).collect();
        let mrg1 = mrg1.join("~");
        let e = read_text(&format!(
            "MSH|^~\\&|A|N|H|H|2026||ADT^A40|C|P|2.5\rPID|1||{pid3}||Doe^Jane\rMRG|{mrg1}\r\
             PID|1||S1^^^A||Doe^Jane\rMRG|R1^^^A\r"
        ))
        .expect("event");
        assert_eq!(e.patient.identifiers.len(), 1, "one identifier, repeated");
        assert_eq!(
            e.merged.len(),
            MAX_IDENTIFIERS,
            "the first repetitions only"
        );
        let distinct: std::collections::HashSet<_> =
            e.merged.iter().map(|m| m.retired.clone()).collect();
        assert_eq!(distinct.len(), e.merged.len(), "each once");
        let groups: String = (0..200)
            .map(|g| format!("PID|1||S{g}^^^A||Doe^Jane\rMRG|R{g}^^^A\r"))
            .collect();
        let e = read_text(&format!(
            "MSH|^~\\&|A|N|H|H|2026||ADT^A39|C|P|2.5\r{groups}"
        ))
        .expect("event");
        assert_eq!(e.merged.len(), MAX_MERGES);
    }

    #[test]
    fn evn_2_without_an_offset_is_read_in_msh_7s_time_zone() {
        let time = |msh7: &str, evn: &str| {
            read_text(&format!(
                "MSH|^~\\&|A|N|H|H|{msh7}||ADT^A03|C|P|2.5\rEVN||{evn}\r\
                 PID|1||M1^^^N^MR||Doe^Jane\rPV1|1|I\r"
            ))
            .expect("event")
            .event_time
        };
        assert_eq!(
            time("202611221000-0500", "202611221200"),
            "202611221200-0500"
        );
        assert_eq!(
            time("202611221000-0500", "202611221200+0000"),
            "202611221200+0000",
            "its own offset stands"
        );
        assert_eq!(time("202611221000", "202611221200"), "202611221200");
        assert_eq!(time("202611221000-0500", ""), "202611221000-0500", "MSH-7");
        // An EVN-2 that is not a time: MSH-7's, unless that is none either.
        assert_eq!(
            time("202611221000-0500", "22/11/2026 12:00"),
            "202611221000-0500"
        );
        assert_eq!(
            time("202611221000-0500", "20261122256000"),
            "202611221000-0500"
        );
        assert_eq!(time("2026-11-22", "garbage"), "garbage");
        // So the discharge timed by MSH-7 and the readmission timed by
        // EVN-2 read in one time zone.
        let at = |t: &str| crate::hl7::timestamp(t).expect("time").1;
        assert!(
            at(&time("202611221000-0500", "")) < at(&time("202611221300-0500", "202611221200"))
        );
    }
}
