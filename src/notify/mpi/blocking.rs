//! Blocking keys: the index files each roster entry under a handful of keys, and a lookup
//! scores only the entries that share at least one key with the query. A true match that
//! could reach an automatic match has an at least partially agreeing DOB, so the keys are
//! chosen to find every such entry even with one other field wrong:
//!
//! - the DOB itself (finds name typos, nicknames, swapped names, moves);
//! - family-name Soundex + birth year (finds a day or month typo);
//! - family-name Soundex + birth month and day (finds a year typo);
//! - phone (finds anything with a stable phone);
//! - ZIP5 + family and given initials (finds a DOB typo with a changed phone).
//!
//! Queries also try the keys of the swapped alignment, for swapped given/family names.

use super::compare::{self, Name};
use super::weights::Prepared;

/// One blocking key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Key {
    Dob([u8; 8]),
    SoundexYear([u8; 4], [u8; 4]),
    SoundexMonthDay([u8; 4], [u8; 4]),
    Phone(String),
    ZipInitials(String, char, char),
}

/// The keys a roster entry is filed under.
pub(super) fn entry_keys(p: &Prepared) -> Vec<Key> {
    let mut keys = Vec::with_capacity(5);
    push_name_keys(&mut keys, p, &p.family_folded, &p.family, &p.given);
    keys.extend(p.phone.clone().map(Key::Phone));
    keys
}

/// The keys a query probes: the entry keys of both name alignments.
pub(super) fn query_keys(p: &Prepared) -> Vec<Key> {
    let mut swapped = Vec::with_capacity(4);
    push_name_keys(&mut swapped, p, &p.given_folded, &p.given, &p.family);
    let mut keys = entry_keys(p);
    for key in swapped {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

fn push_name_keys(keys: &mut Vec<Key>, p: &Prepared, folded: &str, family: &Name, given: &Name) {
    let soundex = compare::soundex(folded);
    if let Some(dob) = p.dob {
        keys.push(Key::Dob(dob));
        if let Some(code) = soundex {
            keys.push(Key::SoundexYear(code, [dob[0], dob[1], dob[2], dob[3]]));
            keys.push(Key::SoundexMonthDay(code, [dob[4], dob[5], dob[6], dob[7]]));
        }
    }
    if let (Some(zip), Some(f), Some(g)) = (&p.zip5, family.chars.first(), given.chars.first()) {
        keys.push(Key::ZipInitials(zip.clone(), *f, *g));
    }
}
