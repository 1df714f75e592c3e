//! Fellegi–Sunter weights: the m/u probabilities of each field's agreement levels, and the
//! comparison of two prepared records into a log-likelihood score (bits, log base 2).
//!
//! STANDARDS §8: "Score with Fellegi-Sunter log-likelihood weights over normalized fields."
//!
//! For each field and level, `m` is P(level | same person) and `u` is P(level | two
//! different people drawn from a practice's roster). Agreement at a level adds
//! `log2(m/u)`; disagreement adds `log2((1 − Σm)/(1 − Σu))`; a missing field adds 0.
//!
//! | field  | level    | m     | u       | weight  | why                                         |
//! |--------|----------|-------|---------|---------|---------------------------------------------|
//! | family | exact    | 0.90  | 0.004   | +7.81   | surname frequencies: Smith ≈ 1%             |
//! | family | partial  | 0.06  | 0.003   | +4.32   | typos, dropped half of a compound surname   |
//! | family | disagree | 0.04  | 0.993   | −4.63   | marriage, adoption                          |
//! | given  | exact    | 0.85  | 0.01    | +6.41   | given names cluster more than surnames      |
//! | given  | nickname | 0.07  | 0.002   | +5.13   | Bob / Robert                                |
//! | given  | partial  | 0.05  | 0.004   | +3.64   | typos                                       |
//! | given  | disagree | 0.03  | 0.984   | −5.04   | preferred or middle name registered         |
//! | DOB    | exact    | 0.96  | 0.00005 | +14.23  | ≈ 1 in 20,000 birthdays across ages         |
//! | DOB    | partial  | 0.03  | 0.0015  | +4.32   | ≈ 30 dates sit one typo from any date       |
//! | DOB    | disagree | 0.01  | 0.99845 | −6.64   |                                             |
//! | sex    | exact    | 0.98  | 0.5     | +0.97   |                                             |
//! | sex    | disagree | 0.02  | 0.5     | −4.64   | entry errors, changed sex marker            |
//! | ZIP5   | exact    | 0.92  | 0.04    | +4.52   | a practice draws from a few dozen ZIPs      |
//! | ZIP5   | disagree | 0.08  | 0.96    | −3.58   | moves                                       |
//! | phone  | exact    | 0.80  | 0.0001  | +12.97  | shared only within a household              |
//! | phone  | disagree | 0.20  | 0.9999  | −2.32   | new numbers, home vs. mobile                |
//!
//! Swapped given and family names ("Theodore Taylor" registered as "Taylor Theodore") are
//! scored as a second alignment, and the better alignment is kept. Each cross pair is
//! weighed by the mean of the family and given tables, which keeps the score symmetric,
//! less [`SWAP_PENALTY`]. Fellegi–Sunter on the swap pattern itself gives about the same
//! number: m ≈ 0.02 (a swap) × 0.8, u ≈ 0.001² (a surname equal to a given name, twice),
//! log2(0.016 / 1e-6) ≈ 14 bits, against 14.2 for two straight exact names.

use super::Demographics;
use super::compare::{self, Level, Name};
use super::normalize;

/// Cost, in bits, of explaining a pair by swapped given and family names: kept small, as the
/// swap pattern is almost as unlikely between strangers as straight agreement.
pub const SWAP_PENALTY: f64 = 1.0;

/// m and u of one agreement level.
#[derive(Clone, Copy)]
struct Mu {
    m: f64,
    u: f64,
}

/// The agreement levels of one field; the disagreement level takes the remaining mass.
struct Field {
    exact: Mu,
    nickname: Mu,
    partial: Mu,
}

const NONE: Mu = Mu { m: 0.0, u: 0.0 };

const FAMILY: Field = Field {
    exact: Mu { m: 0.90, u: 0.004 },
    nickname: NONE,
    partial: Mu { m: 0.06, u: 0.003 },
};
const GIVEN: Field = Field {
    exact: Mu { m: 0.85, u: 0.01 },
    nickname: Mu { m: 0.07, u: 0.002 },
    partial: Mu { m: 0.05, u: 0.004 },
};
const DOB: Field = Field {
    exact: Mu {
        m: 0.96,
        u: 0.00005,
    },
    nickname: NONE,
    partial: Mu { m: 0.03, u: 0.0015 },
};
const SEX: Field = Field {
    exact: Mu { m: 0.98, u: 0.5 },
    nickname: NONE,
    partial: NONE,
};
const ZIP5: Field = Field {
    exact: Mu { m: 0.92, u: 0.04 },
    nickname: NONE,
    partial: NONE,
};
const PHONE: Field = Field {
    exact: Mu { m: 0.80, u: 0.0001 },
    nickname: NONE,
    partial: NONE,
};

impl Field {
    /// The log-likelihood weight, in bits, of agreeing at `level`.
    fn weight(&self, level: Level) -> f64 {
        let ratio = |mu: Mu| (mu.m / mu.u).log2();
        match level {
            Level::Exact => ratio(self.exact),
            Level::Nickname if self.nickname.m > 0.0 => ratio(self.nickname),
            Level::Partial | Level::Nickname if self.partial.m > 0.0 => ratio(self.partial),
            Level::Missing => 0.0,
            _ => {
                let m = 1.0 - self.exact.m - self.nickname.m - self.partial.m;
                let u = 1.0 - self.exact.u - self.nickname.u - self.partial.u;
                (m / u).log2()
            }
        }
    }
}

/// One side of a comparison, normalized once: a roster entry in the index, or a query.
#[derive(Clone, Debug, Default)]
pub(super) struct Prepared {
    pub family: Name,
    pub given: Name,
    pub family_folded: String,
    pub given_folded: String,
    pub dob: Option<[u8; 8]>,
    pub sex: Option<char>,
    pub zip5: Option<String>,
    pub phone: Option<String>,
}

impl Prepared {
    pub fn new(d: &Demographics) -> Self {
        let fold =
            |s: &str| Some(normalize::normalize_name(s)).filter(|f| !normalize::is_placeholder(f));
        let family_folded = fold(&d.family).unwrap_or_default();
        let given_folded = fold(&d.given).unwrap_or_default();
        Self {
            family: Name::new(&family_folded),
            given: Name::new(&given_folded),
            family_folded,
            given_folded,
            dob: d.birth_date.as_deref().and_then(normalize::dob),
            sex: d.sex.and_then(normalize::sex),
            zip5: d.postal_code.as_deref().and_then(normalize::zip5),
            phone: d.phone.as_deref().and_then(normalize::phone),
        }
    }
}

/// The score of a pair and whether its personal fields back an automatic match.
#[derive(Clone, Copy, Debug)]
pub(super) struct Comparison {
    pub score: f64,
    /// Given name and DOB agree at least partially, and sex does not disagree unless the given
    /// name agrees exactly. See `super::decide` for why these gate an automatic match.
    pub corroborated: bool,
    /// The DOBs disagree outright and the given name does not agree (or the sex
    /// disagrees), the DOBs agree exactly and the given names not at all,
    /// neither an initial (a twin registered under the other's number; "J"
    /// for Jane is a feed's habit), or the birth years are a
    /// generation apart: not one person, whatever identifier they share. See
    /// `super::contradicts`.
    pub contradicted: bool,
}

/// Scores two prepared records. Symmetric in its arguments.
pub(super) fn compare(a: &Prepared, b: &Prepared) -> Comparison {
    let (names, given) = names(a, b);
    let dob = compare::dob(a.dob.as_ref(), b.dob.as_ref());
    let sex = compare::exact(a.sex.as_ref(), b.sex.as_ref());
    let zip = compare::exact(a.zip5.as_ref(), b.zip5.as_ref());
    let phone = compare::exact(a.phone.as_ref(), b.phone.as_ref());
    let score = names + DOB.weight(dob) + SEX.weight(sex) + ZIP5.weight(zip) + PHONE.weight(phone);
    let agrees = |l: Level| matches!(l, Level::Exact | Level::Nickname | Level::Partial);
    Comparison {
        score,
        corroborated: agrees(given)
            && agrees(dob)
            && (sex != Level::Disagree || given == Level::Exact),
        contradicted: (dob == Level::Disagree && (!agrees(given) || sex == Level::Disagree))
            || (dob == Level::Exact
                && given == Level::Disagree
                && a.given_folded.len() > 1
                && b.given_folded.len() > 1)
            || generation_apart(a.dob.as_ref(), b.dob.as_ref()),
    }
}

/// Birth years this far apart are a parent's and a child's.
const GENERATION_YEARS: u32 = 12;

/// Whether two birth dates (normalized: the digits of `YYYYMMDD`) are a
/// generation apart.
fn generation_apart(a: Option<&[u8; 8]>, b: Option<&[u8; 8]>) -> bool {
    let year = |d: &[u8; 8]| {
        d[..4]
            .iter()
            .fold(0u32, |y, &digit| y * 10 + u32::from(digit))
    };
    match (a, b) {
        (Some(a), Some(b)) => year(a).abs_diff(year(b)) >= GENERATION_YEARS,
        _ => false,
    }
}

/// The name weight of the better alignment, straight or swapped, and the given-name level
/// of that alignment.
fn names(a: &Prepared, b: &Prepared) -> (f64, Level) {
    let family = compare::names(&a.family, &b.family);
    let given = compare::names(&a.given, &b.given);
    let straight = FAMILY.weight(family) + GIVEN.weight(given);
    let cross_1 = compare::names(&a.family, &b.given);
    let cross_2 = compare::names(&a.given, &b.family);
    let either = |l: Level| (FAMILY.weight(l) + GIVEN.weight(l)) / 2.0;
    let swapped = either(cross_1) + either(cross_2) - SWAP_PENALTY;
    if swapped > straight {
        (swapped, weaker(cross_1, cross_2))
    } else {
        (straight, given)
    }
}

/// The weaker of two levels, so a swapped alignment is only as good as its worse half.
fn weaker(x: Level, y: Level) -> Level {
    let rank = |l: Level| match l {
        Level::Exact => 4,
        Level::Nickname => 3,
        Level::Partial => 2,
        Level::Disagree => 1,
        Level::Missing => 0,
    };
    if rank(x) <= rank(y) { x } else { y }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_weights() {
        let close = |got: f64, want: f64| assert!((got - want).abs() < 0.01, "{got} vs {want}");
        close(FAMILY.weight(Level::Exact), 7.81);
        close(FAMILY.weight(Level::Partial), 4.32);
        close(FAMILY.weight(Level::Nickname), 4.32);
        close(FAMILY.weight(Level::Disagree), -4.63);
        close(GIVEN.weight(Level::Nickname), 5.13);
        close(GIVEN.weight(Level::Disagree), -5.04);
        close(DOB.weight(Level::Exact), 14.23);
        close(DOB.weight(Level::Disagree), -6.64);
        close(SEX.weight(Level::Disagree), -4.64);
        close(ZIP5.weight(Level::Disagree), -3.58);
        close(PHONE.weight(Level::Exact), 12.97);
        close(PHONE.weight(Level::Disagree), -2.32);
        close(PHONE.weight(Level::Missing), 0.0);
    }
}
