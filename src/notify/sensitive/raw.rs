//! The attachment: the raw ER7 cut to the segments and fields an alert
//! reads, with those judged as the alert text is.
//!
//! **The attachment** (`redact_raw`): without opt-in it keeps MSH (MSH-3, the
//! sending application, emptied when its name is sensitive), SFT (SFT-1 and
//! -3, the vendor and product, emptied when sensitive), PID whole but for an
//! identifier (PID-2, -3, -4 repetition) whose assigning authority is
//! sensitive, the authority (CX.4 on) of PID-18 and PID-21 when
//! sensitive (or an OID PID-3 gives beside a sensitive namespace), and
//! PID-34 (the last update facility) unless sensitive; EVN-1 to -3, -5 as a
//! practitioner, -6 and -7, EVN-7 (the event
//! facility, with its NPI) emptied when its name is sensitive; PD1-4; PV1-1, -2.1, -3.1–4,
//! -4.1, -6.4, -7, -8, -17, -19 (its authority, CX.4 on, emptied when
//! sensitive), -36.1, -37.1, -44, -45; PV2-3; DG1-1 to -6;
//! CWE fields without versions and OIDs (CWE.7, .8, .13 on). Everything else
//! goes: OBX, NTE, AL1, PR1, IN1, NK1, MRG (prior identifiers, which an A06 may
//! carry under any authority; no alert reads them), Z-segments, ARV (its restriction codes
//! name the category), PD1-3 (a primary facility can be a clinic for it),
//! PV1-10 (hospital service), PV1-18 (patient type: short local codes such
//! as MH or IOP, which no word list judges), PV2-12 (visit description).
//! PV1-2, -3.1–3,
//! -4, -36 (also NUBC 65 and 93: to a psychiatric hospital) and -37 (also
//! after such a disposition) are emptied when their text is sensitive, PV2-3
//! likewise, and a sensitive DG1 goes whole. `unjudged` tells whether a
//! message carries more than that. The worker cuts the attachment whenever
//! the patient has no recorded opt-in (`process::Content`).

use super::{sensitive_coded, sensitive_destination, sensitive_disposition, sensitive_text};
use crate::hl7::{Message, Repetition, Segment, Separators};
use crate::notify::adt::{Coded, VisitText};

/// The ER7 message as an alert without opt-in may carry it: the segments
/// and fields listed in the `raw` module docs, sensitive ones emptied or
/// dropped. Split into segments exactly as the parser splits it
/// (`hl7::raw_segments`: BOM, blank lines, CR-only mode), judged through
/// the parser's own views (its separators, escapes decoded), the kept bytes
/// as received (a Latin-1 message stays Latin-1); segments end in CR.
/// `hl7::parse` reads the result and `adt::read` makes of it the event
/// `redact_event` gives. Unparseable input (never an alert) gives nothing.
pub fn redact_raw(raw: &[u8]) -> Vec<u8> {
    let Ok(msg) = crate::hl7::parse(raw) else {
        return Vec::new();
    };
    let seps = msg.separators();
    let (body, ranges) = crate::hl7::raw_segments(raw);
    if ranges.len() != msg.segments().len() {
        return Vec::new(); // They split alike; if ever not, give nothing away.
    }
    let mut out = Vec::with_capacity(body.len());
    let oids = sensitive_oids(&msg);
    for (seg, range) in msg.segments().zip(ranges) {
        let Some(bytes) = body.get(range) else {
            return Vec::new();
        };
        if let Some(kept) = cut(&seg, bytes, seps, true, &oids) {
            out.extend_from_slice(&kept.bytes);
            out.push(b'\r');
        }
    }
    out
}

/// Does the message carry anything the attachment would lose, judged or not?
pub fn unjudged(msg: &Message<'_>) -> bool {
    let seps = msg.separators();
    let oids = sensitive_oids(msg);
    msg.segments()
        .any(|seg| cut(&seg, seg.raw().as_bytes(), seps, false, &oids).is_none_or(|k| k.lost))
}

/// The OIDs the message's PID-3, PID-2 and PID-4 give beside a sensitive
/// namespace (as `adt` reads them: repetitions with a value, the first
/// `MAX_IDENTIFIERS` of each field): an identifier under one of them is
/// judged as its namespace is, however its HD is written.
fn sensitive_oids(msg: &Message<'_>) -> Vec<String> {
    let pid = msg.segments_named("PID").next();
    PID_IDENTIFIERS
        .iter()
        .filter_map(|&n| pid.as_ref().and_then(|pid| pid.field(n)))
        .flat_map(|f| f.repetitions().take(crate::notify::adt::MAX_IDENTIFIERS))
        .filter(|r| r.component(1).is_some_and(|c| present(c.text()).is_some()))
        .filter_map(|r| match &authority_names(&r)[..] {
            [namespace, oid] if sensitive_text(namespace) => Some(oid.clone()),
            _ => None,
        })
        .collect()
}

/// What the attachment keeps of a field.
#[derive(Clone, Copy)]
enum Keep {
    /// All of it.
    Whole,
    /// These components of the first repetition.
    First(&'static [usize]),
    /// A CWE's codes and texts (CWE.1–6 and .9–12) in every repetition.
    Coded,
}

const CODED: &[usize] = &[1, 2, 3, 4, 5, 6, 9, 10, 11, 12];
/// A practitioner (XCN): the ID and name an alert reads, of the first one.
/// Its other components can name a facility or unit (XCN.9, .14) or a
/// credential (XCN.21) that says what is treated.
const PRACTITIONER: Keep = Keep::First(&[1, 2, 3]);
/// EVN-4, the event reason, is local text more often than table 0062's
/// codes ("DETOX ADMIT"), and no alert reads it: it goes. EVN-5, the
/// operator, is a practitioner.
const EVN: &[(usize, Keep)] = &[
    (1, Keep::Whole),
    (2, Keep::Whole),
    (3, Keep::Whole),
    (5, PRACTITIONER),
    (6, Keep::Whole),
    (7, Keep::Whole),
];
/// SFT, the sending software: SFT-1 (its vendor) and SFT-3 (the product)
/// are judged as MSH-3 is.
const SFT: &[(usize, Keep)] = &[
    (1, Keep::Whole),
    (2, Keep::Whole),
    (3, Keep::Whole),
    (4, Keep::Whole),
    (5, Keep::Whole),
    (6, Keep::Whole),
];
/// The PID fields of patient identifiers (CX): PID-2, PID-3, PID-4. A
/// repetition whose assigning authority (CX.4) names what it treats
/// ("RIVERSIDE BEHAVIORAL HEALTH", a health system's behavioural health
/// affiliate, listed by its master index) goes.
const PID_IDENTIFIERS: [usize; 3] = [2, 3, 4];
/// The PID fields of other identifiers (CX) an alert reads only the value
/// of, if any: PID-18 (the patient account, the visit number when PV1-19
/// gives none) and PID-21 (the mother's identifier). Their assigning
/// authority can name what it treats as PID-3's can; the value stays (an
/// account number says nothing), CX.4 on goes when sensitive.
const PID_VALUES: [usize; 2] = [18, 21];
/// PID-34, the last update facility (an HD): emptied when it names what is
/// treated.
const PID_UPDATED_BY: usize = 34;
const PD1: &[(usize, Keep)] = &[(4, PRACTITIONER)];
const PV1: &[(usize, Keep)] = &[
    (1, Keep::Whole),
    (2, Keep::First(&[1])),
    (3, Keep::First(&[1, 2, 3, 4])),
    (4, Keep::First(&[1])),
    (6, Keep::First(&[4])),
    (7, PRACTITIONER),
    (8, PRACTITIONER),
    (17, PRACTITIONER),
    (19, Keep::Whole),
    (36, Keep::First(&[1])),
    (37, Keep::First(&[1])),
    (44, Keep::Whole),
    (45, Keep::Whole),
];
const PV2: &[(usize, Keep)] = &[(3, Keep::Coded)];
const DG1: &[(usize, Keep)] = &[
    (1, Keep::Whole),
    (2, Keep::Whole),
    (3, Keep::Coded),
    (4, Keep::Whole),
    (5, Keep::Whole),
    (6, Keep::Whole),
];

/// What is left of a segment.
struct Kept {
    bytes: Vec<u8>,
    /// Something not empty was cut.
    lost: bool,
}

/// A segment (`bytes`, as `seg` views it) as the attachment keeps it; None
/// when it goes whole. With `judge`, sensitive fields are emptied and a
/// sensitive DG1 goes.
fn cut(
    seg: &Segment<'_>,
    bytes: &[u8],
    seps: Separators,
    judge: bool,
    oids: &[String],
) -> Option<Kept> {
    let rules = match seg.name() {
        "MSH" if sensitive_application(seg) => {
            // MSH-3, the sending application, can name what the facility
            // treats ("DETOX_ADT"): emptied, the rest of the header kept.
            let mut fields: Vec<&[u8]> = bytes.split(|b| *b == seps.field).collect();
            if judge && let Some(app) = fields.get_mut(2) {
                *app = b"";
            }
            let bytes = fields.join(&seps.field);
            return Some(Kept { bytes, lost: true });
        }
        "PID" => return Some(identifiers_judged(seg, bytes, seps, judge, oids)),
        "MSH" => {
            let bytes = bytes.to_vec();
            return Some(Kept { bytes, lost: false });
        }
        "EVN" => EVN,
        "SFT" => SFT,
        "PD1" => PD1,
        "PV1" => PV1,
        "PV2" => PV2,
        "DG1" => DG1,
        _ => return None,
    };
    if judge && seg.is("DG1") && sensitive_coded(&Coded::diagnosis(seg)) {
        return None;
    }
    let mut fields = bytes.split(|b| *b == seps.field);
    let mut out = fields.next().unwrap_or_default().to_vec();
    let mut lost = false;
    let mut kept: Vec<Vec<u8>> = Vec::new();
    for (i, field) in fields.enumerate() {
        let n = i + 1;
        let (value, cut_off) = match keep_rule(seg, rules, n, judge) {
            // PV1-19, the visit number: kept, but for an authority that
            // names what is treated.
            Some(Keep::Whole) if seg.is("PV1") && n == 19 => {
                let (value, cut_off) = authorities_judged(seg, n, field, seps, oids);
                (if judge { value } else { field.to_vec() }, cut_off)
            }
            Some(keep) => keep_field(field, keep, seps),
            None => (Vec::new(), filled(field)),
        };
        lost |= cut_off;
        kept.push(value);
    }
    while kept.last().is_some_and(Vec::is_empty) {
        kept.pop();
    }
    for value in kept {
        out.push(seps.field);
        out.extend_from_slice(&value);
    }
    Some(Kept { bytes: out, lost })
}

/// What the attachment keeps of field `n` of `seg` under `rules`; None when
/// it goes. With `judge`, a sensitive field is emptied (PV1-3 all but the
/// facility).
fn keep_rule(seg: &Segment<'_>, rules: &[(usize, Keep)], n: usize, judge: bool) -> Option<Keep> {
    let emptied = |n: usize| judge && judged(seg, n);
    let keep = rules.iter().find(|(f, _)| *f == n).map(|(_, k)| *k);
    let facility = |n: usize| judge && seg.is("PV1") && sensitive_facility(seg, n);
    match keep {
        // PV1-3: the location (components 1–3) and the facility (4) apart.
        Some(Keep::First(_)) if n == 3 && seg.is("PV1") => match (emptied(3), facility(3)) {
            (false, false) => keep,
            (true, false) => Some(Keep::First(&[4])),
            (false, true) => Some(Keep::First(&[1, 2, 3])),
            (true, true) => None,
        },
        Some(_) if n == 6 && facility(6) => None,
        Some(_) if emptied(n) => None,
        other => other,
    }
}

/// PID as the attachment keeps it: whole, but for the identifier
/// repetitions ([`PID_IDENTIFIERS`]) whose assigning authority is sensitive,
/// which go when judging (and count as lost either way, as MSH-3 does).
fn identifiers_judged(
    seg: &Segment<'_>,
    bytes: &[u8],
    seps: Separators,
    judge: bool,
    sensitive_oids: &[String],
) -> Kept {
    let mut lost = false;
    let mut out: Vec<Vec<u8>> = Vec::new();
    for (n, field) in bytes.split(|b| *b == seps.field).enumerate() {
        if PID_VALUES.contains(&n) {
            let (value, cut_off) = authorities_judged(seg, n, field, seps, sensitive_oids);
            lost |= cut_off;
            out.push(if judge { value } else { field.to_vec() });
            continue;
        }
        if n == PID_UPDATED_BY {
            // An HD no alert reads: kept unless it names what is treated.
            let sensitive = seg.field(n).is_some_and(|f| {
                f.repetitions().any(|r| {
                    let parts = [1, 2, 3].map(|k| r.component(k).and_then(|c| present(c.text())));
                    parts
                        .iter()
                        .flatten()
                        .any(|t| sensitive_text(t) || sensitive_oids.contains(t))
                })
            });
            lost |= sensitive;
            out.push(if judge && sensitive {
                Vec::new()
            } else {
                field.to_vec()
            });
            continue;
        }
        if !PID_IDENTIFIERS.contains(&n) {
            out.push(field.to_vec());
            continue;
        }
        let mut kept = Vec::new();
        for (i, rep) in pieces(field, seps.repetition).enumerate() {
            // Repetitions past what `adt` reads: never shown, and a
            // repetition dropped before them would bring one into what is
            // read.
            if i >= crate::notify::adt::MAX_IDENTIFIERS {
                lost |= filled(rep);
                if !judge {
                    kept.push(rep.to_vec());
                }
                continue;
            }
            let Some(named) = seg.field(n).and_then(|f| f.repetition(i + 1)) else {
                kept.push(rep.to_vec());
                continue;
            };
            let (value, cut_off) = identifier_judged(&named, rep, seps, sensitive_oids);
            lost |= cut_off;
            match value {
                Some(value) if judge => kept.push(value),
                None if judge => {}
                _ => kept.push(rep.to_vec()),
            }
        }
        out.push(join(kept, seps.repetition));
    }
    Kept {
        bytes: join(out, Some(seps.field)),
        lost,
    }
}

/// One identifier (a CX repetition, `raw` as `named` views it) as the
/// attachment keeps it, and whether anything was cut: None when its
/// assigning authority, as `adt` reads it (`adt::authorities`), is
/// sensitive. Otherwise a part no one reads that is sensitive is emptied:
/// the HD parts of CX.4 beside the authority's name (a namespace with a
/// local universal id, `NORTH&DETOX UNIT&L`), and CX.6 on (the assigning
/// facility, jurisdiction, agency). The event read from what is kept is
/// the event `redact_event` leaves.
fn identifier_judged(
    named: &Repetition<'_>,
    raw: &[u8],
    seps: Separators,
    sensitive_oids: &[String],
) -> (Option<Vec<u8>>, bool) {
    let [hd1, hd2, hd3] = hd_parts(named);
    let read_as = authority_names(named);
    if read_as
        .iter()
        .any(|a| sensitive_text(a) || sensitive_oids.contains(a))
    {
        return (None, true);
    }
    let mut lost = false;
    let mut components: Vec<Vec<u8>> = pieces(raw, seps.component).map(<[u8]>::to_vec).collect();
    let unread_hd = [&hd1, &hd2, &hd3]
        .into_iter()
        .flatten()
        .any(|t| !read_as.contains(t) && sensitive_text(t));
    if unread_hd && let Some(cx4) = components.get_mut(3) {
        // Only the part the authority is read from stays (HD.1, else HD.2).
        let keep = if hd1.is_some() { 1 } else { 2 };
        (*cx4, _) = keep_pieces(cx4, seps.subcomponent, |k| k == keep);
        lost = true;
    }
    for (i, c) in components.iter_mut().enumerate().skip(5) {
        let sensitive = named
            .component(i + 1)
            .is_some_and(|c| c.subcomponents().any(|s| sensitive_text(&s.text())));
        if sensitive {
            c.clear();
            lost = true;
        }
    }
    (Some(join(components, seps.component)), lost)
}

/// Field `n` of `seg` (`field`, its bytes), a CX an alert reads only the
/// value of (PID-18, PID-21, PV1-19), with each repetition's CX.4 on
/// (authority, type, assigning facility…) emptied when any of it names
/// what is treated (`V1^^^DETOX UNIT^VN` keeps `V1`); and whether
/// anything was cut.
fn authorities_judged(
    seg: &Segment<'_>,
    n: usize,
    field: &[u8],
    seps: Separators,
    sensitive_oids: &[String],
) -> (Vec<u8>, bool) {
    let mut lost = false;
    let mut kept = Vec::new();
    for (i, rep) in pieces(field, seps.repetition).enumerate() {
        let named = seg.field(n).and_then(|f| f.repetition(i + 1));
        let count = pieces(rep, seps.component).count();
        let sensitive = named.is_some_and(|named| {
            authority_names(&named)
                .iter()
                .any(|a| sensitive_oids.contains(a))
                || (4..=count).any(|k| {
                    named
                        .component(k)
                        .is_some_and(|c| c.subcomponents().any(|s| sensitive_text(&s.text())))
                })
        });
        if sensitive {
            let (value, _) = keep_pieces(rep, seps.component, |k| k <= 3);
            kept.push(value);
            lost = true;
        } else {
            kept.push(rep.to_vec());
        }
    }
    (join(kept, seps.repetition), lost)
}

/// A value as `adt` reads one: trimmed, None when empty or `""`.
fn present(t: std::borrow::Cow<'_, str>) -> Option<String> {
    let t = t.trim();
    (!t.is_empty() && t != "\"\"").then(|| t.to_string())
}

/// The names `adt` reads a CX repetition's assigning authority by
/// (`adt::authorities` of CX.4's HD parts).
fn authority_names(named: &Repetition<'_>) -> Vec<String> {
    let [hd1, hd2, hd3] = hd_parts(named);
    crate::notify::adt::authorities(hd1, hd2, hd3.as_deref())
}

/// CX.4's three HD parts as `adt` reads them ([`present`]).
fn hd_parts(named: &Repetition<'_>) -> [Option<String>; 3] {
    let hd = named.component(4);
    [1, 2, 3].map(|k| {
        hd.as_ref()
            .and_then(|c| c.subcomponent(k))
            .and_then(|s| present(s.text()))
    })
}

/// Does the facility (component 4) of PV1-`n` name what it treats?
/// Does MSH-3, the sending application, name something sensitive (its
/// namespace id, HD.1)?
fn sensitive_application(seg: &Segment<'_>) -> bool {
    seg.field(3)
        .and_then(|f| f.component(1))
        .is_some_and(|c| sensitive_text(&c.text()))
}

fn sensitive_facility(seg: &Segment<'_>, n: usize) -> bool {
    seg.field(n)
        .and_then(|f| f.component(4))
        .is_some_and(|c| sensitive_text(&c.text()))
}

/// Is field `n` of `seg` one judged sensitive (emptied, for PV1-3 all but
/// the facility)?
fn judged(seg: &Segment<'_>, n: usize) -> bool {
    if seg.is("EVN") {
        // EVN-7, the event facility, by its name (and its NPI with it).
        let name = seg.field(7).and_then(|f| f.component(1));
        return n == 7 && name.is_some_and(|c| sensitive_text(&c.text()));
    }
    if seg.is("PV2") {
        return n == 3 && sensitive_coded(&Coded::read(seg.field(3)));
    }
    if seg.is("SFT") {
        // The vendor by its organisation name (XON.1), the product whole.
        let text = |f: Option<crate::hl7::Field<'_>>, c: usize| {
            f.and_then(|f| f.component(c))
                .is_some_and(|c| sensitive_text(&c.text()))
        };
        return match n {
            1 => text(seg.field(1), 1),
            3 => text(seg.field(3), 1),
            _ => false,
        };
    }
    if !seg.is("PV1") {
        return false;
    }
    let shown = VisitText::read(Some(seg));
    let first = || {
        seg.field(n)
            .and_then(|f| f.component(1))
            .map(|c| c.text().into_owned())
            .unwrap_or_default()
    };
    match n {
        2 => sensitive_text(&shown.class),
        3 => sensitive_text(&shown.location),
        4 => sensitive_text(&first()),
        36 => sensitive_disposition(&shown.disposition),
        37 => sensitive_destination(&shown.discharged_to, &shown.disposition),
        _ => false,
    }
}

/// A field cut to `keep`; true when something not empty was cut off.
fn keep_field(field: &[u8], keep: Keep, seps: Separators) -> (Vec<u8>, bool) {
    let component = seps.component;
    match keep {
        Keep::Whole => (field.to_vec(), false),
        Keep::First(components) => {
            let mut reps = pieces(field, seps.repetition);
            let first = reps.next().unwrap_or_default();
            let (value, lost) = keep_pieces(first, component, |n| components.contains(&n));
            (value, lost || reps.any(filled))
        }
        Keep::Coded => {
            let mut lost = false;
            let reps: Vec<Vec<u8>> = pieces(field, seps.repetition)
                .map(|rep| {
                    let (value, cut_off) = keep_pieces(rep, component, |n| CODED.contains(&n));
                    lost |= cut_off;
                    value
                })
                .collect();
            (join(reps, seps.repetition), lost)
        }
    }
}

/// The pieces of `text` split on `sep` (numbered from 1) that `keep`
/// allows, trailing empty ones left off; true when a filled one was cut.
fn keep_pieces(text: &[u8], sep: Option<u8>, keep: impl Fn(usize) -> bool) -> (Vec<u8>, bool) {
    let mut lost = false;
    let mut kept: Vec<Vec<u8>> = Vec::new();
    for (i, piece) in pieces(text, sep).enumerate() {
        if keep(i + 1) {
            kept.push(piece.to_vec());
        } else {
            lost |= filled(piece);
            kept.push(Vec::new());
        }
    }
    while kept.last().is_some_and(Vec::is_empty) {
        kept.pop();
    }
    (join(kept, sep), lost)
}

fn pieces(text: &[u8], sep: Option<u8>) -> impl Iterator<Item = &[u8]> {
    let mut split = sep.map(|s| text.split(move |b| *b == s));
    let mut whole = Some(text).filter(|_| split.is_none());
    std::iter::from_fn(move || match &mut split {
        Some(split) => split.next(),
        None => whole.take(),
    })
}

fn join(parts: Vec<Vec<u8>>, sep: Option<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        if i > 0 {
            out.extend(sep);
        }
        out.extend_from_slice(&part);
    }
    out
}

/// Anything in it but nothing or the explicit null `""`.
fn filled(value: &[u8]) -> bool {
    !value.is_empty() && value != b"\"\""
}
