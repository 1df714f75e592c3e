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
//! **Codes** (`sensitive_code`), read by their coding system (CWE.3, else
//! DG1-2): ICD-10 (`I10`, `I10C`, `ICD10…`, OIDs 2.16.840.1.113883.6.3/.90),
//! ICD-9 (`I9`, `I9C`, `ICD9…`, OIDs .6.2/.6.103) or unspecified (read as
//! both). A code shaped for neither its declared revision (an `F10.20`
//! labelled I9: a label that cannot be right) nor judged by us (local,
//! SNOMED CT) only ever counts against disclosure. ICD-10, CM and WHO:
//! - Mental health: the F chapter; R44–R46 (hallucinations, emotional state
//!   incl. R45.851 suicidal ideation, behaviour); O99.34 (in pregnancy);
//!   Z04.6, Z13.3 (psychiatric examination, screening); Z50.4 (WHO
//!   psychotherapy); Z81, Z86.5 (family, personal history); T43 and P04.15
//!   (psychotropic drugs: poisoning or adverse effect reveals the treatment).
//! - Self-harm (NCHS report 108's case definition): X60–X84 (CM X71–X83, WHO
//!   self-poisoning X60–X69), T14.91, Y87.0, Z91.5, and T36–T65 or T71 with
//!   intent character 2 (the 6th; the 5th where the 6th is a placeholder).
//! - Substance use (SAMHSA/CIHI substance-related groups; tobacco is left
//!   out as Part 2 leaves it out, though F17 stays within the F chapter):
//!   T40 (narcotics, psychodysleptics), T42.3/.4/.6/.7 (barbiturates,
//!   benzodiazepines, other sedative-hypnotics), T51 (alcohol), T52 and WHO
//!   X46 (solvents: inhalants), WHO X41/X42/X45 (accidental poisoning by
//!   psychotropics, narcotics, alcohol), R78.0–.5 (drugs or alcohol in
//!   blood), Y90/Y91 (alcohol level), Z50.2/.3 (WHO rehabilitation), Z63.72
//!   (in family), Z71.4/.5 (counselling), Z79.891 (long-term opiates: how
//!   maintenance treatment is often coded), O99.31/.32, O35.4/.5 (in
//!   pregnancy), P04.14/.16/.17, P04.3/.4, P04.81, P96.1, Q86.0 (newborn
//!   affected, fetal alcohol syndrome), and the wholly alcohol-caused E24.4,
//!   G31.2, G62.1, G72.1, I42.6, K29.2, K70, K85.2, K86.0.
//! - HIV (Conn. Gen. Stat. §19a-581(8): having been counselled or tested is
//!   itself confidential HIV-related information): B20–B24, B97.35, O98.7,
//!   R75, Z11.4, Z20.6, Z21, Z71.7, Z83.0.
//!
//! ICD-9-CM: 290–319 (mental disorders, 303–305 substance among them); 042,
//! 079.53, 795.71, V08, V65.44 (HIV); E950–E959 (self-inflicted); 965.0,
//! 967, 969, 970.81, 980 and E850.0–.2, E851–E854, E860 (poisoning by
//! opiates, sedatives, psychotropics, cocaine, alcohol); 790.3, 357.5, 357.6,
//! 425.5, 535.3, 571.0–.3 (alcohol or drug caused, ASPE/NIDA lists); 648.3,
//! 648.4, 655.4, 655.5, 760.71–.73, 760.75, 779.5 (pregnancy, newborn);
//! V11, V17.0, V61.41, V62.84, V62.85, V65.42, V66.3, V67.3, V70.1, V70.2,
//! V71.0, V79 (history, ideation, counselling, psychiatric care, screening).
//!
//! **Text** (`sensitive_text`): words are runs of ASCII letters or of digits
//! (anything else, non-ASCII letters too, ends a word, so `HIV+` and `HIV1`
//! are `hiv` and the judgement is the same whether a message was read as
//! UTF-8 or Latin-1), compared case-blind: [`STEMS`] by their start,
//! [`WORDS`] whole (`this` and `hives` are not `hiv`), [`PHRASES`] as two
//! words. Every text of a coded item is judged (CWE.2, .5, .9, .11, DG1-4),
//! and so is each code as a word (a local code `ETOH`). A coded item with
//! neither a code we can judge nor a description (an ASCII letter or digit)
//! is withheld: nothing says it is harmless.
//!
//! **The attachment** (`redact_raw`): without opt-in it keeps MSH, SFT, EVN,
//! PID and MRG whole (header and identity); PD1-4; PV1-1, -2.1, -3.1–4,
//! -4.1, -6.4, -7, -8, -17, -19, -36.1, -37.1, -44, -45; PV2-3; DG1-1 to -6;
//! CWE fields without versions and OIDs (CWE.7, .8, .13 on). Everything else
//! goes: OBX, NTE, AL1, PR1, IN1, NK1, Z-segments, ARV (its restriction codes
//! name the category), PD1-3 (a primary facility can be a clinic for it),
//! PV1-10 (hospital service), PV2-12 (visit description). PV1-2, -3.1–3,
//! -4, -36 (also NUBC 65 and 93: to a psychiatric hospital) and -37 (also
//! after such a disposition) are emptied when their text is sensitive, PV2-3
//! likewise, and a sensitive DG1 goes whole. An event that carries more than
//! that is marked `unjudged`. The worker cuts the attachment whenever the
//! patient has no recorded opt-in (`process::Content`).

use super::adt::{AdtEvent, Coded, VisitText};
use crate::hl7::{Message, Segment, Separators};

/// The event as an alert without opt-in may show it; true when anything
/// was withheld (a sensitive item, or content the attachment must lose).
pub fn redact_event(ev: &AdtEvent) -> (AdtEvent, bool) {
    let mut out = ev.clone();
    out.diagnoses.retain(|d| !sensitive_coded(d));
    let mut withheld = out.diagnoses.len() != ev.diagnoses.len() || ev.unjudged;
    out.unjudged = false;
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
    (out, withheld)
}

/// The ER7 message as an alert without opt-in may carry it: the segments
/// and fields listed in the module docs, sensitive ones emptied or dropped.
/// Split into segments exactly as the parser splits it (`hl7::raw_segments`:
/// BOM, blank lines, CR-only mode), judged through the parser's own views
/// (its separators, escapes decoded), the kept bytes as received (a Latin-1
/// message stays Latin-1); segments end in CR. `hl7::parse` reads the result
/// and `adt::read` makes of it the event `redact_event` gives. Unparseable
/// input (never an alert) gives nothing.
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
    for (seg, range) in msg.segments().zip(ranges) {
        let Some(bytes) = body.get(range) else {
            return Vec::new();
        };
        if let Some(kept) = cut(&seg, bytes, seps, true) {
            out.extend_from_slice(&kept.bytes);
            out.push(b'\r');
        }
    }
    out
}

/// Does the message carry anything the attachment would lose, judged or not?
pub fn unjudged(msg: &Message<'_>) -> bool {
    let seps = msg.separators();
    msg.segments()
        .any(|seg| cut(&seg, seg.raw().as_bytes(), seps, false).is_none_or(|k| k.lost))
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

/// Is this code, in this coding system, one that needs consent? `None` when
/// it cannot be judged (not shaped like a code of a revision we judge).
pub fn sensitive_code(code: &str, system: &str) -> Option<bool> {
    let code = alphanumeric(code);
    let ten = icd10_shaped(&code).then(|| icd10_sensitive(&code));
    let nine = icd9_shaped(&code).then(|| icd9_sensitive(&code));
    let any = ten == Some(true) || nine == Some(true);
    match (revision(system), ten, nine) {
        (Revision::Icd10, Some(hit), _) | (Revision::Icd9, _, Some(hit)) => Some(hit),
        (Revision::Unspecified, Some(_), _) | (Revision::Unspecified, _, Some(_)) => Some(any),
        // A label that cannot be right, or a system we do not judge: a code
        // that would be sensitive as ICD still counts; anything else is unknown.
        _ => any.then_some(true),
    }
}

/// Does this free text reveal substance use, mental health or HIV?
pub fn sensitive_text(text: &str) -> bool {
    let words = words(text);
    let phrases = || PHRASES.split(',').filter_map(|p| p.trim().split_once(' '));
    words.iter().enumerate().any(|(i, w)| {
        WORDS.split_whitespace().any(|x| x == w)
            || STEMS.split_whitespace().any(|s| w.starts_with(s))
            || phrases().any(|(a, b)| w == a && words.get(i + 1).is_some_and(|n| n.starts_with(b)))
    })
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

/// Words judged by their start. Mental health (`psych` takes psychology in
/// on purpose: a psychology consult is mental health care; `depress` takes
/// "ST depression" too, `deliri` and `dement` follow the F chapter's F05 and
/// F01–F03), self-harm, substance use (`abuse` takes child and elder abuse
/// too), HIV.
pub const STEMS: &str = "\
    psych antipsych antidepress neurolept schizo bipolar hypomani depress anxi panic suicid \
    homicid hallucin delusion paranoi catatoni dissociative posttraumatic autis asperger dement \
    deliri anorexi bulimi behavio electroconvuls lithium selfharm selfinjur overdos intentional \
    alcohol ethanol intox inebriat withdraw detox hangover opioid opiate heroin fentanyl \
    methadone suboxone subutex buprenorph narcan naloxone naltrexone vivitrol cocaine methamphet \
    amphetamine cannabi marijuana marihuana phencyclidine ketamine benzodiaz barbiturat inhalant \
    kratom xylazine polysubst substance addict abuse misuse sober sobriet toxicol retrovir \
    antiretrovir";

/// Words judged whole: abbreviations an ED writes (SI/HI suicidal or
/// homicidal ideation, OD, ETOH, DTs, CIWA/COWS withdrawal scales, IVDU,
/// SUD/AUD/OUD/MOUD, MAT, UDS and tox screens, DUI), CT's PEC and
/// California's 5150 holds, BH units, and HIV's words (PrEP and PEP too:
/// "bowel prep" is withheld, at little cost).
pub const WORDS: &str = "\
    si hi od ocd adhd ptsd mania manic ect bh bhu pec 5150 etoh drunk dts ciwa cows meth mdma \
    ecstasy thc lsd benzo benzos xanax huffing ivdu ivda pwid pwud sud aud oud moud mat dui dwi \
    uds tox hiv aids haart prep pep";

/// Two words, comma-separated: the first whole, the second by its start ("altered mental
/// status" is not judged, "mental health" is).
pub const PHRASES: &str = "\
    self harm, self injur, self inflict, self mutilat, mental health, mental ill, mental \
    disorder, mentally ill, eating disorder, personality disorder, post traumatic, emergency \
    certificate, involuntary commit, involuntary hold, baker act, drug use, drug seek, drug \
    depend, drug screen, iv drug, chemical depend, human immunodeficien, viral load, cd 4";

/// ICD-10 (CM and WHO) code starts that need consent, dots left out; see
/// the module docs for the groups. X60–X84 and self-harm intent are rules.
const ICD10: &str = "\
    F O9934 R44 R45 R46 Z046 Z133 Z504 Z81 Z865 T43 P0415 T1491 Y870 Z915 T40 T423 T424 T426 \
    T427 T51 T52 X41 X42 X45 X46 R780 R781 R782 R783 R784 R785 Y90 Y91 Z502 Z503 Z6372 Z714 Z715 \
    Z79891 O9931 O9932 O354 O355 P0414 P0416 P0417 P043 P044 P0481 P961 Q860 E244 G312 G621 G721 \
    I426 K292 K70 K852 K860 B20 B21 B22 B23 B24 B9735 O987 R75 Z114 Z206 Z21 Z717 Z830";

/// ICD-9-CM code starts that need consent, dots left out; 290–319 is a rule.
const ICD9: &str = "\
    042 07953 79571 V08 V6544 E95 9650 967 969 97081 980 E8500 E8501 E8502 E851 E852 E853 E854 \
    E860 7903 3575 3576 4255 5353 5710 5711 5712 5713 6483 6484 6554 6555 76071 76072 76073 \
    76075 7795 V11 V170 V6141 V6284 V6285 V6542 V663 V673 V701 V702 V710 V79";

fn icd10_sensitive(code: &str) -> bool {
    let b = code.as_bytes();
    let category = code.get(1..3).and_then(|n| n.parse::<u8>().ok());
    // The intent character: the 6th, or the 5th where the 6th is not a digit.
    let intent = match b.get(5) {
        Some(c) if c.is_ascii_digit() => Some(*c),
        _ => b.get(4).copied(),
    };
    ICD10.split_whitespace().any(|p| code.starts_with(p))
        || (b.first() == Some(&b'X') && category.is_some_and(|n| (60..=84).contains(&n)))
        || (b.first() == Some(&b'T')
            && category.is_some_and(|n| (36..=65).contains(&n) || n == 71)
            && intent == Some(b'2'))
}

fn icd9_sensitive(code: &str) -> bool {
    let category = code.get(..3).and_then(|n| n.parse::<u16>().ok());
    ICD9.split_whitespace().any(|p| code.starts_with(p))
        || category.is_some_and(|n| (290..=319).contains(&n))
}

/// A letter, a digit, then 1 to 5 letters or digits (dots left out).
fn icd10_shaped(code: &str) -> bool {
    let b = code.as_bytes();
    (3..=7).contains(&b.len())
        && b.first().is_some_and(u8::is_ascii_uppercase)
        && b.get(1).is_some_and(u8::is_ascii_digit)
}

/// 3–5 digits, V and 2–4 digits, or E and 3–4 digits (dots left out).
fn icd9_shaped(code: &str) -> bool {
    let digits = |s: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    match code.strip_prefix('V').or_else(|| code.strip_prefix('E')) {
        Some(rest) if code.starts_with('V') => digits(rest, 2..=4),
        Some(rest) => digits(rest, 3..=4),
        None => digits(code, 3..=5),
    }
}

enum Revision {
    Icd10,
    Icd9,
    Unspecified,
    Other,
}

/// Which revision a coding system (HL7 table 0396 name, or OID) declares.
fn revision(system: &str) -> Revision {
    let s = alphanumeric(system);
    match s.as_str() {
        "" | "ICD" => Revision::Unspecified,
        "I10P" | "ICD10PCS" => Revision::Other,
        "216840111388363" | "2168401113883690" => Revision::Icd10,
        "216840111388362" | "21684011138836103" => Revision::Icd9,
        _ if s.starts_with("I10") || s.starts_with("ICD10") => Revision::Icd10,
        _ if s.starts_with("I9CP") || s.starts_with("ICD9PCS") => Revision::Other,
        _ if s.starts_with("I9") || s.starts_with("ICD9") => Revision::Icd9,
        _ => Revision::Other,
    }
}

/// Only the ASCII letters and digits, upper-cased.
fn alphanumeric(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Lower-cased runs of ASCII letters, or of ASCII digits.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        let boundary = !c.is_ascii_alphanumeric()
            || word
                .chars()
                .last()
                .is_some_and(|l| l.is_ascii_digit() != c.is_ascii_digit());
        if boundary && !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if c.is_ascii_alphanumeric() {
            word.push(c.to_ascii_lowercase());
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
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
const PD1: &[(usize, Keep)] = &[(4, Keep::Whole)];
const PV1: &[(usize, Keep)] = &[
    (1, Keep::Whole),
    (2, Keep::First(&[1])),
    (3, Keep::First(&[1, 2, 3, 4])),
    (4, Keep::First(&[1])),
    (6, Keep::First(&[4])),
    (7, Keep::Whole),
    (8, Keep::Whole),
    (17, Keep::Whole),
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
fn cut(seg: &Segment<'_>, bytes: &[u8], seps: Separators, judge: bool) -> Option<Kept> {
    let rules = match seg.name() {
        "MSH" | "SFT" | "EVN" | "PID" | "MRG" => {
            let bytes = bytes.to_vec();
            return Some(Kept { bytes, lost: false });
        }
        "PD1" => PD1,
        "PV1" => PV1,
        "PV2" => PV2,
        "DG1" => DG1,
        _ => return None,
    };
    if judge && seg.is("DG1") && sensitive_coded(&Coded::diagnosis(seg)) {
        return None;
    }
    let emptied = |n: usize| judge && judged(seg, n);
    let mut fields = bytes.split(|b| *b == seps.field);
    let mut out = fields.next().unwrap_or_default().to_vec();
    let mut lost = false;
    let mut kept: Vec<Vec<u8>> = Vec::new();
    for (i, field) in fields.enumerate() {
        let n = i + 1;
        let keep = rules.iter().find(|(f, _)| *f == n).map(|(_, k)| *k);
        let keep = match keep {
            Some(Keep::First(_)) if n == 3 && seg.is("PV1") && emptied(3) => {
                Some(Keep::First(&[4]))
            }
            Some(_) if emptied(n) => None,
            other => other,
        };
        let (value, cut_off) = match keep {
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

/// Is field `n` of `seg` one judged sensitive (emptied, for PV1-3 all but
/// the facility)?
fn judged(seg: &Segment<'_>, n: usize) -> bool {
    if seg.is("PV2") {
        return n == 3 && sensitive_coded(&Coded::read(seg.field(3)));
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

#[cfg(test)]
mod tests {
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
            hiv1 viral load; in DTs; Heroin; 5150; HIV\u{c2}; Psych ED";
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
        let ev = event(raw.as_bytes());
        assert!(ev.unjudged && redact_event(&ev).1, "what goes is withheld");
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
        ] {
            assert!(!out.contains(gone), "{gone}: {out}");
        }
        assert!(out.contains("PD1||||9^Jones^Pat\r"), "{out}");
        let kept = [(1, "1"), (2, "I"), (3, "4W^1^A^NORTH"), (19, "V1")];
        assert!(out.contains(&seg("PV1", &kept)), "{out}");
        assert!(
            out.contains("PV2|||^Chest pain\rDG1|1||R07.9^Chest pain^I10|Chest pain|2026|A\r"),
            "{out}"
        );
        // A message with nothing beyond that withholds nothing and loses nothing.
        let clean = format!("{HEAD}PV1|1|E|ED^1^A^NORTH||||7^Smith^Anna\rPV2|||^Chest pain\r");
        let (ev, withheld, out) = round_trip(clean.as_bytes());
        assert!(!withheld && !ev.unjudged, "{out}");
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
}
