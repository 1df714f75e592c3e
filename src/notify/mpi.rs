//! Master patient index: decides which roster patient, if any, an ADT event is about.
//!
//! This module owns patient matching (STANDARDS §8): the in-memory [`Index`] of roster
//! entries, identifier matching, Fellegi–Sunter demographic scoring, and the decision
//! between an automatic match, a review-queue item and no match. It does no I/O and keeps
//! no history; the roster loader feeds it [`Patient`]s and the notifier asks [`Index::lookup`].
//!
//! # Layout
//! - `normalize`: folds names, DOB, sex, ZIP5 and phone into comparable forms.
//! - `compare`: per-field agreement levels (Jaro–Winkler, one-edit, nicknames, DOB typos).
//! - `weights`: the m/u table, with its reasoning, and the pair score.
//! - `blocking`: the keys that keep a lookup from scoring the whole roster.
//!
//! # Decision
//! Scores are log2 likelihood ratios (bits). [`MATCH`] = 30 bits sits just above "full
//! name + DOB + sex" (29.4): like the HL7 Identity Matching IG's L0 (name 3 + DOB 2 +
//! address or phone 4 = 9), a name and DOB alone never alert; a ZIP or phone must
//! corroborate them ("full name + DOB + sex + ZIP" is 33.9, "one name off by a typo + DOB +
//! sex + ZIP" 30.5–31.2). [`REVIEW`] = 18 bits catches a full name with a DOB typo and
//! nothing else (19.5). Over that, `decide` adds the household and twin guards.

mod blocking;
mod compare;
mod normalize;
mod weights;

pub(crate) use self::normalize::ascii_transliteration;

use std::collections::HashMap;

use self::blocking::Key;
use self::weights::{Comparison, Prepared};

pub use self::normalize::normalize_name;
pub use self::weights::SWAP_PENALTY;

/// Score, in bits, at or above which a corroborated candidate is an automatic match.
pub const MATCH: f64 = 30.0;
/// Score, in bits, at or above which the best candidate goes to the review queue.
pub const REVIEW: f64 = 18.0;
/// When the two best candidates are both at or above [`MATCH`] and closer than this many
/// bits (a likelihood ratio of 256), the index cannot tell them apart: twins.
pub const TWIN_MARGIN: f64 = 8.0;

/// A patient identifier: CX.1 (value) and CX.4 (assigning authority).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identifier {
    pub value: String,
    pub authority: String,
}

/// The demographic fields matching uses, as they arrive (PID or roster row), unnormalized.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Demographics {
    pub family: String,
    pub given: String,
    /// `YYYYMMDD`; longer HL7 TS values are cut to the date.
    pub birth_date: Option<String>,
    /// HL7 table 0001: 'M', 'F', 'O'; 'U' and anything else count as missing.
    pub sex: Option<char>,
    pub postal_code: Option<String>,
    pub phone: Option<String>,
}

/// A roster entry: the subscriber's patient id, identifiers and demographics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Patient {
    pub id: i64,
    pub identifiers: Vec<Identifier>,
    pub demographics: Demographics,
}

/// What a lookup found. Only `Identifier` and `Demographic` may raise an alert.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    /// CX.1 + CX.4 matched exactly one roster entry.
    Identifier {
        id: i64,
    },
    /// The best candidate scored at or above [`MATCH`] and stood clear of the next.
    Demographic {
        id: i64,
        score: f64,
    },
    /// A near miss, an ambiguous pair or conflicting identifiers: a person checks it.
    Review {
        id: i64,
        score: f64,
    },
    NoMatch,
}

/// The roster, normalized once and filed under identifier and blocking keys.
#[derive(Debug, Default)]
pub struct Index {
    /// Every entry by patient id, with what it was filed under so `remove` can unfile it.
    entries: HashMap<i64, Entry>,
    /// Blocking key → ids of the entries filed under it.
    blocks: HashMap<Key, Vec<i64>>,
    /// (authority, value) → ids holding that identifier (normally one).
    identifiers: HashMap<IdKey, Vec<i64>>,
}

#[derive(Debug)]
struct Entry {
    prepared: Prepared,
    keys: Vec<Key>,
    identifiers: Vec<IdKey>,
}

/// An identifier as compared: authority case-folded, value trimmed.
type IdKey = (String, String);

/// STANDARDS §8: "An identifier match is exact on value plus assigning authority (CX.1 +
/// CX.4)." An identifier without both parts, or a placeholder value, cannot match anything.
fn id_key(id: &Identifier) -> Option<IdKey> {
    let value = id.value.trim();
    let authority = id.authority.trim().to_lowercase();
    (!value.is_empty() && !authority.is_empty() && !placeholder_identifier(value, &authority))
        .then(|| (authority, value.to_owned()))
}

/// True for an identifier value that names no one in particular ("999-99-9999",
/// "123456789", "UNKNOWN", an SSN the SSA never issues): it matches nobody.
pub fn placeholder_identifier(value: &str, authority: &str) -> bool {
    normalize::is_placeholder_identifier(value, authority)
}

/// True for an assigning authority that means the US Social Security
/// Administration (table 0363 `SSA`, common local spellings, its OID): its
/// identifiers are SSNs whatever CX.5 says.
pub fn ssa_authority(authority: &str) -> bool {
    normalize::is_ssa(authority)
}

/// True when two records of one identifier cannot be one person: the birth dates
/// disagree outright (not one typo apart), and the given name does not agree (it
/// disagrees, or one side has none, as a newborn's "Baby Girl" has none) or the sex
/// disagrees; or the birth years are a generation apart (12 years or more: a
/// same-named parent and child, Robert Sr. and Jr., under one member number, whose
/// dates may differ in one digit, 1965 and 1995). A wrong registration, a reused or
/// shared number, or a newborn under a parent's: typos leave the DOB partial, and a
/// changed name or sex marker comes with the same DOB. A typo that moves the year by
/// a decade or more goes to review as well.
pub fn contradicts(a: &Demographics, b: &Demographics) -> bool {
    weights::compare(&Prepared::new(a), &Prepared::new(b)).contradicted
}

impl Index {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a roster entry, replacing any entry with the same id.
    pub fn insert(&mut self, p: Patient) {
        self.remove(p.id);
        let prepared = Prepared::new(&p.demographics);
        let keys = blocking::entry_keys(&prepared);
        let identifiers: Vec<IdKey> = p.identifiers.iter().filter_map(id_key).collect();
        for key in &keys {
            self.blocks.entry(key.clone()).or_default().push(p.id);
        }
        for key in &identifiers {
            self.identifiers.entry(key.clone()).or_default().push(p.id);
        }
        let entry = Entry {
            prepared,
            keys,
            identifiers,
        };
        self.entries.insert(p.id, entry);
    }

    /// Removes a roster entry (roster replaced, consent withdrawn, A40 merge retired it).
    pub fn remove(&mut self, id: i64) {
        let Some(entry) = self.entries.remove(&id) else {
            return;
        };
        for key in entry.keys {
            unfile(&mut self.blocks, key, id);
        }
        for key in entry.identifiers {
            unfile(&mut self.identifiers, key, id);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Finds the roster entry an ADT patient is, if any.
    pub fn lookup(&self, identifiers: &[Identifier], demographics: &Demographics) -> Outcome {
        self.lookup_among(identifiers, demographics, &|_| true)
    }

    /// [`Self::lookup`] among the entries `keep` keeps only, as if the others
    /// were not filed: the roster as it stood before entries were added.
    pub fn lookup_among(
        &self,
        identifiers: &[Identifier],
        demographics: &Demographics,
        keep: &dyn Fn(i64) -> bool,
    ) -> Outcome {
        let query = Prepared::new(demographics);
        match self.identifier_holders(identifiers, keep).as_slice() {
            [] => decide(self.rank(&query, &self.candidates(&query, keep))),
            // Identifier agreement wins over demographic disagreement, unless the two
            // cannot be one person: then a person looks at it.
            [id] => match self.entries.get(id) {
                Some(entry) => {
                    let c = weights::compare(&query, &entry.prepared);
                    if c.contradicted {
                        self.contradicted(*id, c.score, &query, keep)
                    } else {
                        Outcome::Identifier { id: *id }
                    }
                }
                None => Outcome::NoMatch,
            },
            conflicting => match self.rank(&query, conflicting) {
                (Some((id, best)), _) => Outcome::Review {
                    id,
                    score: best.score,
                },
                (None, _) => Outcome::NoMatch,
            },
        }
    }

    /// The review for an identifier that names entry `id` on someone who cannot
    /// be them (`score` is the pair's): against the entry the demographics
    /// point to, when they point to another (the number was mistyped, the
    /// person at the desk is who the demographics say), else against `id`.
    fn contradicted(
        &self,
        id: i64,
        score: f64,
        query: &Prepared,
        keep: &dyn Fn(i64) -> bool,
    ) -> Outcome {
        match decide(self.rank(query, &self.candidates(query, keep))) {
            Outcome::Demographic { id: other, score } | Outcome::Review { id: other, score }
                if other != id =>
            {
                Outcome::Review { id: other, score }
            }
            _ => Outcome::Review { id, score },
        }
    }

    /// The distinct entries `keep` keeps holding any of the query's
    /// identifiers, in id order.
    fn identifier_holders(
        &self,
        identifiers: &[Identifier],
        keep: &dyn Fn(i64) -> bool,
    ) -> Vec<i64> {
        let mut ids: Vec<i64> = identifiers
            .iter()
            .filter_map(id_key)
            .filter_map(|key| self.identifiers.get(&key))
            .flatten()
            .copied()
            .filter(|id| keep(*id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The distinct entries `keep` keeps sharing at least one blocking key
    /// with the query.
    fn candidates(&self, query: &Prepared, keep: &dyn Fn(i64) -> bool) -> Vec<i64> {
        let mut ids: Vec<i64> = blocking::query_keys(query)
            .iter()
            .filter_map(|key| self.blocks.get(key))
            .flatten()
            .copied()
            .filter(|id| keep(*id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The best and second-best scoring of `ids` (ties go to the lower id).
    fn rank(&self, query: &Prepared, ids: &[i64]) -> (Option<Ranked>, Option<Ranked>) {
        let mut best: Option<Ranked> = None;
        let mut second: Option<Ranked> = None;
        for &id in ids {
            let Some(entry) = self.entries.get(&id) else {
                continue;
            };
            let scored = (id, weights::compare(query, &entry.prepared));
            if best.is_none_or(|b| scored.1.score > b.1.score) {
                second = best.replace(scored);
            } else if second.is_none_or(|s| scored.1.score > s.1.score) {
                second = Some(scored);
            }
        }
        (best, second)
    }
}

/// A candidate id with its comparison.
type Ranked = (i64, Comparison);

fn unfile<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Vec<i64>>, key: K, id: i64) {
    if let Some(ids) = map.get_mut(&key) {
        ids.retain(|&x| x != id);
        if ids.is_empty() {
            map.remove(&key);
        }
    }
}

/// STANDARDS §8: "Precision comes first, and a near-miss goes to a review queue rather than
/// out as an alert."
///
/// An automatic match needs, besides the score, a `corroborated` pair: given name and DOB
/// agreeing at least partially, and sex not disagreeing unless the given name agrees
/// exactly. Fellegi–Sunter assumes fields are independent, and inside a household they are
/// not: surname, ZIP and phone are shared, and twins share the DOB too. Those shared fields
/// must not outvote the personal ones, so a twin or sibling who is not on the roster lands
/// in review, never on their sibling. (Twins with near-identical given names, Daniel and
/// Danielle, differ in sex; no two household members share a given name and DOB, so a
/// sex disagreement under an exact given name is taken for the entry error it usually is.)
fn decide(ranked: (Option<Ranked>, Option<Ranked>)) -> Outcome {
    let (Some((id, best)), second) = ranked else {
        return Outcome::NoMatch;
    };
    let score = best.score;
    let twin = second.is_some_and(|(_, s)| s.score >= MATCH && score - s.score < TWIN_MARGIN);
    if score >= MATCH && best.corroborated && !twin {
        Outcome::Demographic { id, score }
    } else if score >= REVIEW {
        Outcome::Review { id, score }
    } else {
        Outcome::NoMatch
    }
}

/// The Fellegi–Sunter log-likelihood score (bits) of two demographic records; symmetric.
/// Missing fields contribute 0. See `weights` for the m/u table.
pub fn score(a: &Demographics, b: &Demographics) -> f64 {
    weights::compare(&Prepared::new(a), &Prepared::new(b)).score
}

/// Who a roster row is to the index, to tell the same patient listed twice
/// in one upload: two entries holding one identifier are a conflict
/// ([`Index::lookup`] reviews every ADT about them), and two with the same
/// demographics tie as twins (reviewed too), so either way the patient would
/// never alert.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RosterKey {
    /// The identifier as the index files it: (authority case-folded, value).
    Identifier(String, String),
    /// Folded family and given names, DOB and sex (U and none alike), as
    /// the index compares them.
    Demographics(String, String, [u8; 8], Option<char>),
}

/// The [`RosterKey`] of a row: its identifier when the index would file it,
/// else its demographics when they name someone (family and given names
/// that are not placeholders, and a DOB). `None` when neither: two newborns
/// listed as "Baby Girl" on one day may be twins.
pub fn roster_key(
    identifier: Option<&Identifier>,
    demographics: &Demographics,
) -> Option<RosterKey> {
    if let Some((authority, value)) = identifier.and_then(id_key) {
        return Some(RosterKey::Identifier(authority, value));
    }
    let p = Prepared::new(demographics);
    let named = !p.family_folded.is_empty() && !p.given_folded.is_empty();
    let dob = p.dob.filter(|_| named)?;
    Some(RosterKey::Demographics(
        p.family_folded,
        p.given_folded,
        dob,
        p.sex,
    ))
}

#[cfg(test)]
mod tests;
