//! Field comparators: each takes two normalized values and returns an agreement [`Level`].
//! They know nothing about weights; `weights` turns levels into log-likelihoods.
//! Every comparator is symmetric: `cmp(a, b) == cmp(b, a)`.

use std::collections::HashMap;
use std::sync::LazyLock;

/// How well one field of two records agrees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Level {
    Exact,
    /// Names: both in one nickname group (Bob/Robert).
    Nickname,
    /// Names: Jaro–Winkler ≥ [`JW_PARTIAL`], one edit apart, or a compound-surname part.
    /// DOB: one digit wrong, two adjacent digits transposed, or day and month swapped.
    Partial,
    Disagree,
    /// Either side lacks the field: "missing fields contribute 0".
    Missing,
}

/// Jaro–Winkler similarity at or above which two different names partially agree.
pub(super) const JW_PARTIAL: f64 = 0.92;

/// Names longer than this are compared on their first `MAX_NAME` characters, which bounds
/// the comparators' work and lets them keep their scratch space on the stack.
pub(super) const MAX_NAME: usize = 48;

/// Nickname groups; two given names agree at the nickname level when they share a group.
/// A name may sit in several groups ("chris", "alex").
const NICKNAMES: &[&[&str]] = &[
    &["robert", "bob", "bobby", "rob", "robbie", "bert"],
    &["william", "bill", "billy", "will", "willie", "liam"],
    &[
        "elizabeth",
        "liz",
        "lizzie",
        "beth",
        "betty",
        "betsy",
        "eliza",
        "libby",
    ],
    &[
        "margaret", "peggy", "maggie", "meg", "marge", "margie", "greta",
    ],
    &["james", "jim", "jimmy", "jamie"],
    &["john", "jack", "johnny"],
    &["jonathan", "jon", "johnny"],
    &["richard", "rick", "ricky", "dick", "rich"],
    &["michael", "mike", "mikey", "mick"],
    &["thomas", "tom", "tommy"],
    &["charles", "charlie", "chuck", "chas"],
    &["joseph", "joe", "joey"],
    &["edward", "ed", "eddie", "ted", "ned"],
    &[
        "katherine",
        "catherine",
        "kathryn",
        "kate",
        "katie",
        "kathy",
        "cathy",
        "kat",
    ],
    &["patricia", "pat", "patty", "trish", "tricia"],
    &["patrick", "pat", "paddy"],
    &["jennifer", "jen", "jenny"],
    &["christopher", "chris", "topher"],
    &["christina", "christine", "chris", "tina", "chrissy"],
    &["daniel", "dan", "danny"],
    &["david", "dave", "davey"],
    &["anthony", "tony"],
    &["andrew", "andy", "drew"],
    &["matthew", "matt"],
    &["steven", "stephen", "steve"],
    &["joshua", "josh"],
    &["nicholas", "nick", "nicky"],
    &["alexander", "alex", "xander", "sasha"],
    &["alexandra", "alex", "lexi", "sasha"],
    &["benjamin", "ben", "benny"],
    &["samuel", "sam", "sammy"],
    &["samantha", "sam", "sammy"],
    &["timothy", "tim", "timmy"],
    &["gregory", "greg"],
    &["kenneth", "ken", "kenny"],
    &["donald", "don", "donnie"],
    &["ronald", "ron", "ronnie"],
    &["gerald", "jerry"],
    &["lawrence", "larry"],
    &["raymond", "ray"],
    &["susan", "sue", "susie"],
    &["deborah", "debra", "deb", "debbie"],
    &["rebecca", "becky", "becca"],
    &["jessica", "jess", "jessie"],
    &["victoria", "vicky", "tori"],
    &["barbara", "barb", "barbie"],
    &["dorothy", "dot", "dottie"],
    &["frances", "fran", "frannie"],
    &["francis", "frank"],
    &["franklin", "frank"],
    &["abigail", "abby"],
    &["kimberly", "kim"],
    &["pamela", "pam"],
    &["cynthia", "cindy"],
    &["sandra", "sandy"],
    &["theresa", "teresa", "terri", "tess"],
    &["virginia", "ginny"],
    &["judith", "judy"],
    &["jacqueline", "jackie"],
    &["zachary", "zach", "zack"],
    &["nathaniel", "nathan", "nate"],
    &["jeffrey", "jeff"],
    &["douglas", "doug"],
    &["leonard", "leo", "len", "lenny"],
    &["eugene", "gene"],
    &["albert", "al", "bert"],
    &["alfred", "al", "alfie"],
    &["walter", "walt", "wally"],
    &["harold", "hal", "harry"],
    &["henry", "hank", "harry"],
    &["peter", "pete"],
    &["philip", "phillip", "phil"],
    &["vincent", "vince", "vinny"],
    &["frederick", "fred", "freddie"],
    &["eleanor", "ellie", "nell", "nora"],
    &["helen", "nell", "nellie"],
    &["dolores", "lola"],
    &["mary", "molly", "polly", "mamie"],
    &["ann", "anne", "anna", "annie", "nancy"],
    &["carol", "caroline", "carolyn", "carrie"],
    &["valerie", "val"],
    &["madeline", "madeleine", "maddie"],
    // Madison is a name of its own, not a form of Madeline; Maddie is short for both.
    &["madison", "maddie"],
    &["allison", "alison", "ali", "allie"],
    &["gabriel", "gabe"],
    &["gabriella", "gabrielle", "gabby"],
    &["isabella", "isabel", "izzy", "bella"],
    &["olivia", "liv", "livvy"],
    &["sophia", "sofia", "sophie"],
    &["emily", "em", "emmy"],
    &["evelyn", "evie"],
];

const _: () = assert!(
    NICKNAMES.len() <= 128,
    "nickname groups must fit a u128 mask"
);

/// Name → bit set of the nickname groups it belongs to.
static NICKNAME_MASKS: LazyLock<HashMap<&'static str, u128>> = LazyLock::new(|| {
    let mut masks = HashMap::new();
    for (bit, group) in NICKNAMES.iter().enumerate() {
        for name in *group {
            *masks.entry(*name).or_insert(0) |= 1u128 << bit;
        }
    }
    masks
});

/// The nickname groups of a folded given name (0 when it is in none).
pub(super) fn nickname_mask(folded: &str) -> u128 {
    NICKNAME_MASKS.get(folded).copied().unwrap_or(0)
}

/// A folded name ready to compare: its characters (capped at [`MAX_NAME`]) and groups.
#[derive(Clone, Debug, Default)]
pub(super) struct Name {
    pub chars: Vec<char>,
    pub nicknames: u128,
}

impl Name {
    pub fn new(folded: &str) -> Self {
        Self {
            chars: folded.chars().take(MAX_NAME).collect(),
            nicknames: nickname_mask(folded),
        }
    }
}

/// Compares two names: exact, nickname, partial (typo or compound surname), or disagree.
pub(super) fn names(a: &Name, b: &Name) -> Level {
    let (x, y) = (a.chars.as_slice(), b.chars.as_slice());
    if x.is_empty() || y.is_empty() {
        Level::Missing
    } else if x == y {
        Level::Exact
    } else if a.nicknames & b.nicknames != 0 {
        Level::Nickname
    } else if one_edit(x, y) || compound(x, y) || jaro_winkler(x, y) >= JW_PARTIAL {
        Level::Partial
    } else {
        Level::Disagree
    }
}

/// One name is the leading or trailing part of the other ("garcia" / "garcialopez"),
/// as when one side drops half of a hyphenated or compound surname.
fn compound(a: &[char], b: &[char]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.len() >= 4
        && long.len() >= short.len() + 3
        && (long.starts_with(short) || long.ends_with(short))
}

/// True when `a` and `b` differ by exactly one substitution, insertion, deletion or
/// transposition of adjacent characters, and both are at least four characters long
/// (shorter names one edit apart are usually different names: Jon / Jan).
pub(super) fn one_edit(a: &[char], b: &[char]) -> bool {
    if a.len().min(b.len()) < 4 || a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    match (ra, rb) {
        ([], []) => false,
        ([_, ta @ ..], [_, tb @ ..]) if ta == tb => true,
        ([_, ta @ ..], tb) if ta == tb => true,
        (ta, [_, tb @ ..]) if ta == tb => true,
        ([p, q, ta @ ..], [r, s, tb @ ..]) => p == s && q == r && ta == tb,
        _ => false,
    }
}

/// Jaro–Winkler similarity (prefix scale 0.1, prefix up to 4). Symmetric: the pair is put
/// in a canonical order first, because Jaro's greedy matching depends on argument order.
pub(super) fn jaro_winkler(a: &[char], b: &[char]) -> f64 {
    let (a, b) = (&a[..a.len().min(MAX_NAME)], &b[..b.len().min(MAX_NAME)]);
    let (a, b) = if (a.len(), a) <= (b.len(), b) {
        (a, b)
    } else {
        (b, a)
    };
    let jaro = jaro(a, b);
    let prefix = a.iter().zip(b).take(4).take_while(|(x, y)| x == y).count();
    jaro + prefix as f64 * 0.1 * (1.0 - jaro)
}

fn jaro(a: &[char], b: &[char]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let window = (a.len().max(b.len()) / 2).saturating_sub(1);
    let mut b_used = [false; MAX_NAME];
    let mut a_matched = [None::<char>; MAX_NAME];
    let mut matches = 0usize;
    for (i, &c) in a.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(b.len());
        let found = (lo..hi).find(|&j| b.get(j) == Some(&c) && b_used.get(j) == Some(&false));
        if let (Some(j), Some(slot)) = (found, a_matched.get_mut(i)) {
            *slot = Some(c);
            b_used[j] = true;
            matches += 1;
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let in_a = a_matched.iter().flatten();
    let in_b = b
        .iter()
        .zip(b_used)
        .filter(|(_, used)| *used)
        .map(|(c, _)| c);
    let half_transpositions = in_a.zip(in_b).filter(|(x, y)| x != y).count();
    let m = matches as f64;
    (m / a.len() as f64 + m / b.len() as f64 + (m - half_transpositions as f64 / 2.0) / m) / 3.0
}

/// Compares two dates of birth digit by digit.
pub(super) fn dob(a: Option<&[u8; 8]>, b: Option<&[u8; 8]>) -> Level {
    let (Some(a), Some(b)) = (a, b) else {
        return Level::Missing;
    };
    let differing: Vec<usize> = (0..8).filter(|&i| a[i] != b[i]).collect();
    let swapped_day_month = a[..4] == b[..4] && a[4..6] == b[6..8] && a[6..8] == b[4..6];
    match differing.as_slice() {
        [] => Level::Exact,
        [_] => Level::Partial,
        [i, j] if *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i] => Level::Partial,
        _ if swapped_day_month => Level::Partial,
        _ => Level::Disagree,
    }
}

/// Compares two optional exact-valued fields (sex, ZIP5, phone).
pub(super) fn exact<T: PartialEq>(a: Option<&T>, b: Option<&T>) -> Level {
    match (a, b) {
        (Some(a), Some(b)) if a == b => Level::Exact,
        (Some(_), Some(_)) => Level::Disagree,
        _ => Level::Missing,
    }
}

/// American Soundex of a folded name's ASCII letters ("robert" → "R163"); `None` when the
/// name has no ASCII letter.
pub(super) fn soundex(folded: &str) -> Option<[u8; 4]> {
    let mut letters = folded.bytes().filter(u8::is_ascii_alphabetic);
    let first = letters.next()?;
    let mut code = [first.to_ascii_uppercase(), b'0', b'0', b'0'];
    let mut last = soundex_digit(first);
    let mut len = 1;
    for b in letters {
        let digit = soundex_digit(b);
        if digit != 0 && digit != last && len < 4 {
            code[len] = digit;
            len += 1;
        }
        if b != b'h' && b != b'w' {
            last = digit;
        }
    }
    Some(code)
}

fn soundex_digit(b: u8) -> u8 {
    match b {
        b'b' | b'f' | b'p' | b'v' => b'1',
        b'c' | b'g' | b'j' | b'k' | b'q' | b's' | b'x' | b'z' => b'2',
        b'd' | b't' => b'3',
        b'l' => b'4',
        b'm' | b'n' => b'5',
        b'r' => b'6',
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::new(s)
    }

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn name_levels() {
        let table = [
            ("robert", "bob", Level::Nickname),
            ("william", "bill", Level::Nickname),
            ("elizabeth", "liz", Level::Nickname),
            ("margaret", "peggy", Level::Nickname),
            ("james", "jim", Level::Nickname),
            ("bob", "bill", Level::Disagree),
            ("katherine", "catherine", Level::Nickname),
            ("jonathon", "jonathan", Level::Partial),
            ("smith", "smyth", Level::Partial),
            ("garcia", "garcialopez", Level::Partial),
            ("thompson", "thomspon", Level::Partial),
            ("jon", "jan", Level::Disagree),
            ("mary", "maria", Level::Disagree),
            ("madeline", "madeleine", Level::Nickname),
            ("madison", "maddie", Level::Nickname),
            ("madeline", "maddie", Level::Nickname),
            ("madison", "madeline", Level::Disagree),
            ("smith", "", Level::Missing),
            ("smith", "smith", Level::Exact),
        ];
        for (a, b, want) in table {
            assert_eq!(names(&name(a), &name(b)), want, "{a} / {b}");
            assert_eq!(names(&name(b), &name(a)), want, "{b} / {a}");
        }
    }

    #[test]
    fn jaro_winkler_reference_values() {
        let close = |a: &str, b: &str, want: f64| {
            let got = jaro_winkler(&chars(a), &chars(b));
            assert!((got - want).abs() < 0.001, "{a}/{b}: {got}");
            assert_eq!(got, jaro_winkler(&chars(b), &chars(a)));
        };
        close("martha", "marhta", 0.961);
        close("dwayne", "duane", 0.840);
        close("dixon", "dicksonx", 0.813);
        close("abc", "xyz", 0.0);
        close("", "", 0.0);
    }

    #[test]
    fn one_edit_cases() {
        assert!(one_edit(&chars("smith"), &chars("smiht")));
        assert!(one_edit(&chars("smith"), &chars("smth")));
        assert!(one_edit(&chars("smith"), &chars("smitth")));
        assert!(!one_edit(&chars("smith"), &chars("smith")));
        assert!(!one_edit(&chars("smith"), &chars("snyth")));
    }

    #[test]
    fn dob_levels() {
        let d = |s: &str| super::super::normalize::dob(s);
        let cmp = |a: &str, b: &str| dob(d(a).as_ref(), d(b).as_ref());
        assert_eq!(cmp("19650312", "19650312"), Level::Exact);
        assert_eq!(cmp("19650312", "19650313"), Level::Partial);
        assert_eq!(cmp("19650312", "19560312"), Level::Partial);
        assert_eq!(cmp("19650312", "19651203"), Level::Partial);
        assert_eq!(cmp("19650312", "19660313"), Level::Disagree);
        assert_eq!(cmp("19650312", "x"), Level::Missing);
    }

    #[test]
    fn soundex_codes() {
        let s = |x: &str| soundex(x).map(|c| String::from_utf8_lossy(&c).into_owned());
        assert_eq!(s("robert").as_deref(), Some("R163"));
        assert_eq!(s("rupert").as_deref(), Some("R163"));
        assert_eq!(s("ashcraft").as_deref(), Some("A261"));
        assert_eq!(s("tymczak").as_deref(), Some("T522"));
        assert_eq!(s("pfister").as_deref(), Some("P236"));
        assert_eq!(s("lee").as_deref(), Some("L000"));
        assert_eq!(s("αβ"), None);
    }
}
