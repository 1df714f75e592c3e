//! End-to-end matching quality: a synthetic roster of 10,000 patients and 10,000 ADT-side
//! patients, half of them rostered, run through `Index::lookup`.
//!
//! The generator is deterministic (xorshift64*, fixed seed) and written from what ADT
//! feeds look like, not from the matcher's rules; its nickname table is its own and
//! includes variants the matcher does not know (Sally, Jake, Kit, Teddy, Steph).
//!
//! Roster: names drawn with a popularity skew from embedded lists (about 250 surnames,
//! 150 male and 150 female given names, a few with diacritics); DOB uniform 1930–2020;
//! 60 ZIPs of one region with a skew; 10-digit phones; a practice MRN. About 2% of the
//! roster are twins (same surname, DOB, ZIP and phone; different given name; same sex half
//! the time) and about 8% share a household with another entry (surname, ZIP, phone).
//!
//! Rostered ADT patients (50%), each corruption drawn independently:
//! - 15% carry the roster's MRN and authority; all carry a hospital MRN (other authority);
//! - 8% of given names with a known nickname use it; 4% given and 4% family names have a
//!   one-character typo; 2% have given and family swapped; 1% have a new surname;
//! - DOB: 1.5% one wrong digit, 0.5% adjacent digits transposed, 0.5% day/month swapped;
//! - sex: 3% missing, 0.5% different;
//! - ZIP: 5% missing, 7% moved; phone: 15% missing, 12% a different number;
//! - formatting: upper case half the time, accents stripped 30% of the time, phones and
//!   ZIPs in mixed formats.
//!
//! Non-rostered ADT patients (50%): 60% new people from the same region; 12% with a
//! rostered patient's full name but another DOB (half the same birth year); 12% with a
//! rostered patient's DOB and a similar name (same surname and given initial, a one-typo
//! surname with the same given name, or the same surname with a one-typo given name);
//! 10% the unrostered twin of a rostered patient; 6% another member of a rostered
//! patient's household. They get the same missing-field and formatting rates.
//!
//! Review counts as not matched: it raises no alert.

use std::time::Instant;

use hisp::notify::mpi::{Demographics, Identifier, Index, Outcome, Patient};

const ROSTER: usize = 10_000;
const QUERIES: usize = 10_000;
const PRACTICE: &str = "Valley Primary Care&2.16.840.1.113883.19.5&ISO";
const HOSPITAL: &str = "GENHOSP&2.16.840.1.113883.19.7&ISO";

#[test]
fn precision_and_recall_on_a_synthetic_roster() {
    let started = Instant::now();
    let mut rng = Rng(0x5eed_2024_cafe_f00d);
    let region = Region::new(&mut rng);
    let roster = roster(&mut rng, &region);
    let mut index = Index::new();
    for (id, person) in roster.iter().enumerate() {
        index.insert(person.patient(id as i64));
    }
    assert_eq!(index.len(), ROSTER);
    let built = started.elapsed();
    let mut tally = Tally::default();
    for _ in 0..QUERIES {
        let (truth, person) = query(&mut rng, &region, &roster);
        let identifiers = adt_identifiers(&mut rng, truth, &roster);
        let demographics = adt_demographics(&mut rng, &person);
        let outcome = index.lookup(&identifiers, &demographics);
        tally.count(truth, outcome);
    }
    tally.report(built, started.elapsed());
    assert!(
        tally.precision() >= 0.999,
        "precision {:.4}",
        tally.precision()
    );
    assert!(tally.recall() >= 0.95, "recall {:.4}", tally.recall());
}

// ---------------------------------------------------------------------------------------
// Scoring the outcomes.

#[derive(Default)]
struct Tally {
    rostered: usize,
    true_positive: usize,
    false_positive: usize,
    wrong_patient: usize,
    reviews: usize,
    by_identifier: usize,
}

impl Tally {
    fn count(&mut self, truth: Option<usize>, outcome: Outcome) {
        self.rostered += usize::from(truth.is_some());
        let matched = match outcome {
            Outcome::Identifier { id } => {
                self.by_identifier += 1;
                id
            }
            Outcome::Demographic { id, .. } => id,
            Outcome::Review { .. } => {
                self.reviews += 1;
                return;
            }
            Outcome::NoMatch => return,
        };
        match truth {
            Some(t) if t as i64 == matched => self.true_positive += 1,
            Some(_) => {
                self.false_positive += 1;
                self.wrong_patient += 1;
            }
            None => self.false_positive += 1,
        }
    }

    fn precision(&self) -> f64 {
        self.true_positive as f64 / (self.true_positive + self.false_positive).max(1) as f64
    }

    fn recall(&self) -> f64 {
        self.true_positive as f64 / self.rostered.max(1) as f64
    }

    fn report(&self, built: std::time::Duration, total: std::time::Duration) {
        eprintln!(
            "matching: {} queries, {} rostered; TP {} (identifier {}), FP {} ({} wrong patient), \
             FN {}, review {}; precision {:.4}, recall {:.4}; index built in {:?}, total {:?}",
            QUERIES,
            self.rostered,
            self.true_positive,
            self.by_identifier,
            self.false_positive,
            self.wrong_patient,
            self.rostered - self.true_positive - self.wrong_patient,
            self.reviews,
            self.precision(),
            self.recall(),
            built,
            total,
        );
    }
}

// ---------------------------------------------------------------------------------------
// People and the roster.

#[derive(Clone, Debug)]
struct Person {
    family: String,
    given: String,
    male: bool,
    dob: (u32, u32, u32),
    zip: String,
    phone: String,
    mrn: String,
}

impl Person {
    fn patient(&self, id: i64) -> Patient {
        Patient {
            id,
            identifiers: vec![Identifier {
                value: self.mrn.clone(),
                authority: PRACTICE.into(),
            }],
            demographics: Demographics {
                family: self.family.clone(),
                given: self.given.clone(),
                birth_date: Some(dob_string(self.dob)),
                sex: Some(if self.male { 'M' } else { 'F' }),
                postal_code: Some(self.zip.clone()),
                phone: Some(self.phone.clone()),
            },
        }
    }
}

/// The ZIPs and area codes of the practice's region.
struct Region {
    zips: Vec<String>,
}

impl Region {
    fn new(rng: &mut Rng) -> Self {
        let zips = (0..60)
            .map(|_| format!("06{:03}", rng.below(1000)))
            .collect();
        Self { zips }
    }

    fn zip(&self, rng: &mut Rng) -> String {
        rng.skewed(&self.zips).clone()
    }
}

fn roster(rng: &mut Rng, region: &Region) -> Vec<Person> {
    let mut roster: Vec<Person> = Vec::with_capacity(ROSTER);
    while roster.len() < ROSTER {
        let roll = rng.unit();
        let person = match roster.last() {
            Some(last) if roll < 0.01 => twin_of(rng, last),
            Some(last) if roll < 0.09 => household_member_of(rng, last),
            _ => new_person(rng, region),
        };
        roster.push(person);
    }
    for (i, person) in roster.iter_mut().enumerate() {
        person.mrn = format!("P{:07}", 1_000_003 + i * 7);
    }
    roster
}

fn new_person(rng: &mut Rng, region: &Region) -> Person {
    let male = rng.chance(0.49);
    Person {
        family: rng.skewed(SURNAMES).to_string(),
        given: given_name(rng, male),
        male,
        dob: random_dob(rng),
        zip: region.zip(rng),
        phone: random_phone(rng),
        mrn: String::new(),
    }
}

fn given_name(rng: &mut Rng, male: bool) -> String {
    rng.skewed(if male { MALE } else { FEMALE }).to_string()
}

/// A different given name of the given sex.
fn other_given(rng: &mut Rng, male: bool, not: &str) -> String {
    loop {
        let given = given_name(rng, male);
        if given != not {
            return given;
        }
    }
}

fn twin_of(rng: &mut Rng, sibling: &Person) -> Person {
    let male = if rng.chance(0.5) {
        sibling.male
    } else {
        rng.chance(0.5)
    };
    let given = other_given(rng, male, &sibling.given);
    Person {
        given,
        male,
        mrn: String::new(),
        ..sibling.clone()
    }
}

fn household_member_of(rng: &mut Rng, member: &Person) -> Person {
    let male = rng.chance(0.5);
    let given = other_given(rng, male, &member.given);
    let dob = random_dob(rng);
    Person {
        given,
        male,
        dob,
        mrn: String::new(),
        ..member.clone()
    }
}

fn random_dob(rng: &mut Rng) -> (u32, u32, u32) {
    let year = 1930 + rng.below(91) as u32;
    let month = 1 + rng.below(12) as u32;
    let days = match month {
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    (year, month, 1 + rng.below(days) as u32)
}

fn dob_string((y, m, d): (u32, u32, u32)) -> String {
    format!("{y:04}{m:02}{d:02}")
}

fn random_phone(rng: &mut Rng) -> String {
    let area = ["203", "860", "475", "959"][rng.below(4)];
    format!("{area}{}{:06}", 2 + rng.below(8), rng.below(1_000_000))
}

// ---------------------------------------------------------------------------------------
// The ADT side.

/// The next ADT patient: a corrupted copy of a roster entry, or someone not on it.
fn query(rng: &mut Rng, region: &Region, roster: &[Person]) -> (Option<usize>, Person) {
    let i = rng.below(roster.len());
    if rng.chance(0.5) {
        return (Some(i), corrupted(rng, region, &roster[i]));
    }
    let target = &roster[i];
    let roll = rng.unit();
    let person = if roll < 0.60 {
        new_person(rng, region)
    } else if roll < 0.72 {
        same_name_other_dob(rng, region, target)
    } else if roll < 0.84 {
        same_dob_similar_name(rng, region, target)
    } else if roll < 0.94 {
        twin_of(rng, target)
    } else {
        household_member_of(rng, target)
    };
    (None, person)
}

fn same_name_other_dob(rng: &mut Rng, region: &Region, target: &Person) -> Person {
    let mut person = new_person(rng, region);
    person.family = target.family.clone();
    person.given = target.given.clone();
    person.male = target.male;
    while person.dob == target.dob {
        person.dob = random_dob(rng);
    }
    if rng.chance(0.5) {
        person.dob.0 = target.dob.0;
    }
    if person.dob == target.dob {
        person.dob.2 = 1 + person.dob.2 % 28;
    }
    person
}

fn same_dob_similar_name(rng: &mut Rng, region: &Region, target: &Person) -> Person {
    let mut person = new_person(rng, region);
    person.dob = target.dob;
    person.family = target.family.clone();
    match rng.below(3) {
        0 => person.given = same_initial(rng, person.male, &target.given),
        1 => {
            person.given = target.given.clone();
            person.male = target.male;
            person.family = typo(rng, &target.family);
        }
        _ => {
            person.male = target.male;
            person.given = typo(rng, &target.given);
        }
    }
    person
}

fn same_initial(rng: &mut Rng, male: bool, name: &str) -> String {
    let initial = name.chars().next();
    for _ in 0..200 {
        let given = other_given(rng, male, name);
        if given.chars().next() == initial {
            return given;
        }
    }
    other_given(rng, male, name)
}

/// A roster entry as another organization registered it.
fn corrupted(rng: &mut Rng, region: &Region, p: &Person) -> Person {
    let mut q = p.clone();
    if rng.chance(0.08)
        && let Some(nick) = nickname(rng, &q.given)
    {
        q.given = nick;
    }
    if rng.chance(0.04) {
        q.given = typo(rng, &q.given);
    }
    if rng.chance(0.04) {
        q.family = typo(rng, &q.family);
    }
    if rng.chance(0.01) {
        q.family = rng.skewed(SURNAMES).to_string();
    }
    if rng.chance(0.02) {
        std::mem::swap(&mut q.family, &mut q.given);
    }
    q.dob = dob_error(rng, q.dob);
    q.male ^= rng.chance(0.005);
    if rng.chance(0.07) {
        q.zip = region.zip(rng);
    }
    if rng.chance(0.12) {
        q.phone = random_phone(rng);
    }
    q
}

/// Keeps the DOB, or (1.5%) changes one digit, (0.5%) transposes two adjacent digits, or
/// (0.5%) swaps day and month; represented as a shifted date so formatting stays uniform.
fn dob_error(rng: &mut Rng, dob: (u32, u32, u32)) -> (u32, u32, u32) {
    let roll = rng.unit();
    let mut digits: Vec<u8> = dob_string(dob).into_bytes();
    if roll < 0.015 {
        let at = rng.below(8);
        let old = digits[at];
        while digits[at] == old {
            digits[at] = b'0' + rng.below(10) as u8;
        }
    } else if roll < 0.020 {
        let at = 2 + rng.below(5);
        digits.swap(at, at + 1);
    } else if roll < 0.025 && dob.2 <= 12 {
        return (dob.0, dob.2, dob.1);
    } else {
        return dob;
    }
    let s = String::from_utf8(digits).expect("ascii digits");
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().expect("digits");
    (num(0..4), num(4..6), num(6..8))
}

fn adt_identifiers(rng: &mut Rng, truth: Option<usize>, roster: &[Person]) -> Vec<Identifier> {
    let hospital = format!("H{:08}", rng.below(100_000_000));
    let mut ids = vec![Identifier {
        value: hospital,
        authority: HOSPITAL.into(),
    }];
    if let Some(t) = truth
        && rng.chance(0.15)
    {
        let authority = if rng.chance(0.5) {
            PRACTICE.to_uppercase()
        } else {
            PRACTICE.into()
        };
        ids.push(Identifier {
            value: roster[t].mrn.clone(),
            authority,
        });
    }
    ids
}

fn adt_demographics(rng: &mut Rng, p: &Person) -> Demographics {
    let upper = rng.chance(0.5);
    let strip = rng.chance(0.3);
    let name = |s: &str| {
        let s = if strip {
            strip_accents(s)
        } else {
            s.to_string()
        };
        if upper { s.to_uppercase() } else { s }
    };
    Demographics {
        family: name(&p.family),
        given: name(&p.given),
        birth_date: Some(dob_string(p.dob)),
        sex: (!rng.chance(0.03)).then_some(if p.male { 'M' } else { 'F' }),
        postal_code: (!rng.chance(0.05)).then(|| zip_format(rng, &p.zip)),
        phone: (!rng.chance(0.15)).then(|| phone_format(rng, &p.phone)),
    }
}

fn zip_format(rng: &mut Rng, zip: &str) -> String {
    if rng.chance(0.3) {
        format!("{zip}-{:04}", rng.below(10_000))
    } else {
        zip.to_string()
    }
}

fn phone_format(rng: &mut Rng, phone: &str) -> String {
    let (area, rest) = phone.split_at(3);
    let (exchange, line) = rest.split_at(3);
    match rng.below(4) {
        0 => phone.to_string(),
        1 => format!("({area}){exchange}-{line}"),
        2 => format!("+1 {area} {exchange} {line}"),
        _ => format!("{area}-{exchange}-{line}"),
    }
}

fn strip_accents(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'á' | 'à' => 'a',
            'é' | 'è' | 'ë' => 'e',
            'í' => 'i',
            'ó' | 'ö' => 'o',
            'ú' | 'ü' => 'u',
            'ñ' => 'n',
            'Á' => 'A',
            'É' => 'E',
            'Ñ' => 'N',
            other => other,
        })
        .collect()
}

/// One keyboard-style edit: substitution, deletion, insertion or adjacent transposition.
fn typo(rng: &mut Rng, name: &str) -> String {
    let mut chars: Vec<char> = name.chars().collect();
    if chars.len() < 3 {
        return name.to_string();
    }
    let at = 1 + rng.below(chars.len() - 1);
    let letter = (b'a' + rng.below(26) as u8) as char;
    match rng.below(20) {
        0..10 => chars[at] = letter,
        10..14 => drop(chars.remove(at)),
        14..17 => chars.insert(at, letter),
        _ => chars.swap(at - 1, at),
    }
    let out: String = chars.into_iter().collect();
    if out == name { typo(rng, name) } else { out }
}

fn nickname(rng: &mut Rng, given: &str) -> Option<String> {
    let (_, nicks) = NICKNAMES.iter().find(|(formal, _)| *formal == given)?;
    Some(rng.pick(nicks).to_string())
}

// ---------------------------------------------------------------------------------------
// The PRNG.

/// xorshift64* (Vigna); deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Earlier items are more common (density ∝ 1/√rank), like name frequencies.
    fn skewed<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let u = self.unit();
        &items[((u * u) * items.len() as f64) as usize % items.len()]
    }
}

// ---------------------------------------------------------------------------------------
// Name lists, most common first.

#[rustfmt::skip]
const NICKNAMES: &[(&str, &[&str])] = &[
    ("Robert", &["Bob", "Rob", "Bobby"]),
    ("William", &["Bill", "Will", "Billy"]),
    ("Elizabeth", &["Liz", "Beth", "Betsy"]),
    ("Margaret", &["Peggy", "Maggie", "Meg"]),
    ("James", &["Jim", "Jimmy", "Jamie"]),
    ("John", &["Jack", "Johnny"]),
    ("Richard", &["Rick", "Rich", "Dick"]),
    ("Michael", &["Mike"]),
    ("Thomas", &["Tom", "Tommy"]),
    ("Charles", &["Charlie", "Chuck"]),
    ("Joseph", &["Joe", "Joey"]),
    ("Edward", &["Ed", "Eddie", "Ted"]),
    ("Katherine", &["Kate", "Katie", "Kathy"]),
    ("Patricia", &["Pat", "Patty", "Trish"]),
    ("Jennifer", &["Jen", "Jenny"]),
    ("Christopher", &["Chris", "Kit"]),
    ("Daniel", &["Dan", "Danny"]),
    ("David", &["Dave"]),
    ("Anthony", &["Tony"]),
    ("Andrew", &["Andy", "Drew"]),
    ("Matthew", &["Matt"]),
    ("Steven", &["Steve"]),
    ("Joshua", &["Josh"]),
    ("Nicholas", &["Nick"]),
    ("Alexander", &["Alex"]),
    ("Benjamin", &["Ben"]),
    ("Samuel", &["Sam"]),
    ("Timothy", &["Tim"]),
    ("Gregory", &["Greg"]),
    ("Kenneth", &["Ken", "Kenny"]),
    ("Donald", &["Don"]),
    ("Ronald", &["Ron"]),
    ("Susan", &["Sue", "Susie"]),
    ("Deborah", &["Debbie", "Deb"]),
    ("Rebecca", &["Becky"]),
    ("Jessica", &["Jess"]),
    ("Victoria", &["Vicky", "Tori"]),
    ("Barbara", &["Barb"]),
    ("Dorothy", &["Dot"]),
    ("Kimberly", &["Kim"]),
    ("Pamela", &["Pam"]),
    ("Cynthia", &["Cindy"]),
    ("Sandra", &["Sandy"]),
    ("Sarah", &["Sally"]),
    ("Jacob", &["Jake"]),
    ("Zachary", &["Zach"]),
    ("Jeffrey", &["Jeff"]),
    ("Douglas", &["Doug"]),
    ("Raymond", &["Ray"]),
    ("Lawrence", &["Larry"]),
    ("Gerald", &["Jerry"]),
    ("Henry", &["Hank"]),
    ("Harold", &["Harry"]),
    ("Peter", &["Pete"]),
    ("Philip", &["Phil"]),
    ("Eleanor", &["Ellie"]),
    ("Abigail", &["Abby"]),
    ("Alexandra", &["Alex"]),
    ("Theresa", &["Terry"]),
    ("Jacqueline", &["Jackie"]),
    ("Christina", &["Tina"]),
    ("Stephanie", &["Steph"]),
    ("Nathaniel", &["Nate"]),
    ("Theodore", &["Teddy", "Ted"]),
    ("Judith", &["Judy"]),
    ("Virginia", &["Ginny"]),
    ("Valerie", &["Val"]),
    ("Frederick", &["Fred"]),
    ("Walter", &["Walt"]),
    ("Vincent", &["Vince"]),
    ("Isabella", &["Bella"]),
    ("Sophia", &["Sophie"]),
    ("Madison", &["Maddie"]),
];

#[rustfmt::skip]
const SURNAMES: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
    "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
    "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson",
    "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson",
    "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes",
    "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster",
    "Jimenez", "Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler",
    "Henderson", "Barnes", "Gonzales", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan",
    "Patterson", "Alexander", "Hamilton", "Graham", "Reynolds", "Griffin", "Wallace", "Moreno",
    "West", "Cole", "Hayes", "Bryant", "Herrera", "Gibson", "Ellis", "Tran", "Medina",
    "Aguilar", "Stevens", "Murray", "Ford", "Castro", "Marshall", "Owens", "Harrison",
    "Fernandez", "McDonald", "Woods", "Washington", "Kennedy", "Wells", "Vargas", "Henry",
    "Chen", "Freeman", "Webb", "Tucker", "Guzman", "Burns", "Crawford", "Olson", "Simpson",
    "Porter", "Hunter", "Gordon", "Mendez", "Silva", "Shaw", "Snyder", "Mason", "Dixon",
    "Muñoz", "Hunt", "Hicks", "Holmes", "Palmer", "Wagner", "Black", "Robertson", "Boyd",
    "Rose", "Stone", "Salazar", "Fox", "Warren", "Mills", "Meyer", "Rice", "Schmidt", "García",
    "Ferguson", "Nichols", "Dunn", "Weaver", "Peña", "O'Brien", "O'Connor", "Kowalski", "Novak",
    "Nuñez", "Sullivan-Walsh", "Ryan", "Daniels", "Stephens", "Gardner", "Payne", "Grant",
    "Lane", "Armstrong", "Berry", "Carroll", "Duncan", "Lawrence", "Hansen", "Hudson",
    "Spencer", "Elliott", "Pierce", "Wheeler", "Watkins", "Larson", "Carpenter", "Santos",
    "Knight", "Ramírez", "Lynch", "Fuller", "Obrien", "Welch", "Schultz", "Newman", "Fields",
    "Harper", "Dean", "Banks", "Wolfe", "Hoffman", "Caldwell", "Pham", "Le", "Wong", "Lin",
    "Singh", "Shah", "Cohen", "Friedman", "Rossi", "Russo", "Esposito", "Bianchi", "DeLuca",
    "Costa", "Lima", "Andersen", "Larsen", "Johansson", "Müller", "Schneider", "Becker",
    "Weber", "Fischer", "Nowak", "Dubois", "Lefèvre", "Moreau", "Kaur", "Ali", "Hassan",
    "Ahmed", "Ibrahim", "Okafor",
];

#[rustfmt::skip]
const MALE: &[&str] = &[
    "James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas",
    "Christopher", "Charles", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven",
    "Paul", "Andrew", "Joshua", "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald",
    "Edward", "Jason", "Jeffrey", "Ryan", "Jacob", "Gary", "Nicholas", "Eric", "Jonathan",
    "Stephen", "Larry", "Justin", "Scott", "Brandon", "Benjamin", "Samuel", "Gregory",
    "Alexander", "Frank", "Patrick", "Raymond", "Jack", "Dennis", "Jerry", "Tyler", "Aaron",
    "José", "Adam", "Nathan", "Henry", "Douglas", "Zachary", "Peter", "Kyle", "Ethan", "Walter",
    "Noah", "Jeremy", "Christian", "Keith", "Roger", "Terry", "Gerald", "Harold", "Sean",
    "Austin", "Carl", "Arthur", "Lawrence", "Dylan", "Jesse", "Jordan", "Bryan", "Billy", "Joe",
    "Bruce", "Gabriel", "Logan", "Albert", "Willie", "Alan", "Juan", "Wayne", "Elijah", "Randy",
    "Roy", "Vincent", "Ralph", "Eugene", "Russell", "Bobby", "Mason", "Philip", "Louis",
    "Harry", "Howard", "Theodore", "Frederick", "Martin", "Craig", "Todd", "Luis", "Carlos",
    "Jesús", "Miguel", "Angel", "Victor", "Shawn", "Chad", "Curtis", "Liam", "Lucas", "Oliver",
    "Aiden", "Caleb", "Isaac", "Luke", "Owen", "Hunter", "Connor", "Evan", "Ian", "Adrian",
    "Cole", "Dominic", "Xavier", "Jaden", "Wyatt", "Levi", "Julian", "Hector", "Raúl", "Andrés",
    "Mohammed", "Ahmed", "Wei", "Hiroshi", "Dmitri", "Tomás", "Nathaniel", "Marcus", "Derek",
    "Troy", "Leon", "Glenn", "Dale", "Barry", "Stanley", "Leonard", "Francis", "Dean",
    "Clarence",
];

#[rustfmt::skip]
const FEMALE: &[&str] = &[
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica",
    "Sarah", "Karen", "Lisa", "Nancy", "Betty", "Margaret", "Sandra", "Ashley", "Kimberly",
    "Emily", "Donna", "Michelle", "Carol", "Amanda", "Dorothy", "Melissa", "Deborah",
    "Stephanie", "Rebecca", "Sharon", "Laura", "Cynthia", "Kathleen", "Amy", "Angela",
    "Shirley", "Anna", "Brenda", "Pamela", "Emma", "Nicole", "Helen", "Samantha", "Katherine",
    "Christine", "Debra", "Rachel", "Carolyn", "Janet", "Catherine", "Maria", "Heather",
    "Diane", "Ruth", "Julie", "Olivia", "Joyce", "Virginia", "Victoria", "Kelly", "Lauren",
    "Christina", "Joan", "Evelyn", "Judith", "Megan", "Andrea", "Cheryl", "Hannah",
    "Jacqueline", "Martha", "Gloria", "Teresa", "Ann", "Sara", "Madison", "Frances", "Kathryn",
    "Janice", "Jean", "Abigail", "Alice", "Judy", "Sophia", "Grace", "Denise", "Amber", "Doris",
    "Marilyn", "Danielle", "Beverly", "Isabella", "Theresa", "Diana", "Natalie", "Brittany",
    "Charlotte", "Marie", "Kayla", "Alexis", "Lori", "Ava", "Mia", "Chloe", "Zoe", "Lily",
    "Ella", "Avery", "Harper", "Aria", "Scarlett", "Layla", "Nora", "Riley", "Leah", "Hazel",
    "Violet", "Aurora", "Savannah", "Audrey", "Brooklyn", "Bella", "Claire", "Skylar", "Lucy",
    "Paisley", "Anya", "Naomi", "Elena", "Sofía", "María", "Lucía", "Valentina", "Camila",
    "Ximena", "Mei", "Yuki", "Priya", "Fatima", "Aisha", "Ingrid", "Astrid", "Zoë", "Renée",
    "Chloé", "Eleanor", "Stella", "Ruby", "Alexandra", "Valerie", "Tiffany", "Erin", "Kristen",
    "Courtney", "Vanessa", "Monica", "Erica", "Tracy",
];
