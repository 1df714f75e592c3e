//! Diagnosis codes: the ICD-10 and ICD-9 lists of codes that need consent,
//! and the coding system that says which list a code is read against.
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
//!   G31.2, G62.1, G72.1, I42.6, K29.2, K70, K85.2, K86.0; WHO Z72.1/Z72.2
//!   (alcohol, drug use) and Z86.4 (history of substance abuse).
//! - HIV (Conn. Gen. Stat. §19a-581(8): having been counselled or tested is
//!   itself confidential HIV-related information): B20–B24, B97.35, O98.7,
//!   R75, Z11.4, Z20.6, Z21, Z29.81 (PrEP), Z71.7, Z83.0.
//!
//! ICD-9-CM: 290–319 (mental disorders, 303–305 substance among them); 042,
//! 079.53, 795.71, V08, V65.44 (HIV); E950–E959 (self-inflicted); 965.0,
//! 967, 969, 970.81, 980 and E850.0–.2, E851–E854, E860 (poisoning by
//! opiates, sedatives, psychotropics, cocaine, alcohol); 790.3, 357.5, 357.6,
//! 425.5, 535.3, 571.0–.3 (alcohol or drug caused, ASPE/NIDA lists); 648.3,
//! 648.4, 655.4, 655.5, 760.71–.73, 760.75, 779.5 (pregnancy, newborn);
//! V11, V17.0, V61.41, V62.84, V62.85, V65.42, V66.3, V67.3, V70.1, V70.2,
//! V71.0, V79 (history, ideation, counselling, psychiatric care, screening).

/// Is this code, in this coding system, one that needs consent? `None` when
/// it cannot be judged (not shaped like a code of a revision we judge).
pub fn sensitive_code(code: &str, system: &str) -> Option<bool> {
    // With no system named, an E code written with its dot shows its
    // revision: ICD-10's E86.0 (dehydration) has three characters before
    // it, ICD-9's E860.0 (alcohol poisoning) four.
    let unnamed = matches!(revision(system), Revision::Unspecified);
    let dotted_icd10_e = unnamed
        && code.trim().split_once('.').is_some_and(|(head, _)| {
            let head = alphanumeric(head);
            head.starts_with('E') && head.len() == 3
        });
    let code = alphanumeric(code);
    let ten = icd10_shaped(&code).then(|| icd10_sensitive(&code));
    let nine = (icd9_shaped(&code) && !dotted_icd10_e).then(|| icd9_sensitive(&code));
    let any = ten == Some(true) || nine == Some(true);
    match (revision(system), ten, nine) {
        (Revision::Icd10, Some(hit), _) | (Revision::Icd9, _, Some(hit)) => Some(hit),
        (Revision::Unspecified, Some(_), _) | (Revision::Unspecified, _, Some(_)) => Some(any),
        // A label that cannot be right, or a system we do not judge: a code
        // that would be sensitive as ICD still counts; anything else is unknown.
        _ => any.then_some(true),
    }
}

/// ICD-10 (CM and WHO) code starts that need consent, dots left out; see
/// the module docs for the groups. X60–X84 and self-harm intent are rules.
const ICD10: &str = "\
    F O9934 R44 R45 R46 Z046 Z133 Z504 Z81 Z865 T43 P0415 T1491 Y870 Z915 T40 T423 T424 T426 \
    T427 T51 T52 X41 X42 X45 X46 R780 R781 R782 R783 R784 R785 Y90 Y91 Z502 Z503 Z6372 Z714 Z715 \
    Z79891 O9931 O9932 O354 O355 P0414 P0416 P0417 P043 P044 P0481 P961 Q860 E244 G312 G621 G721 \
    I426 K292 K70 K852 K860 B20 B21 B22 B23 B24 B9735 O987 R75 Z114 Z206 Z21 Z717 Z830 Z721 \
    Z722 Z864 Z2981";

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
pub(super) fn alphanumeric(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}
