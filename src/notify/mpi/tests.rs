//! Unit tests of the index's decisions.

use super::*;

fn demo(family: &str, given: &str, dob: &str, sex: char, zip: &str, phone: &str) -> Demographics {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Demographics {
        family: family.into(),
        given: given.into(),
        birth_date: opt(dob),
        sex: Some(sex),
        postal_code: opt(zip),
        phone: opt(phone),
    }
}

fn robert() -> Demographics {
    demo(
        "O'Brien-Smith",
        "Robert",
        "19650312",
        'M',
        "06510",
        "203-555-0142",
    )
}

fn patient(id: i64, d: Demographics, mrn: &str) -> Patient {
    let identifiers = vec![Identifier {
        value: mrn.into(),
        authority: "Practice&1.2.3&ISO".into(),
    }];
    Patient {
        id,
        identifiers,
        demographics: d,
    }
}

fn index(patients: impl IntoIterator<Item = Patient>) -> Index {
    let mut index = Index::new();
    patients.into_iter().for_each(|p| index.insert(p));
    index
}

#[test]
fn score_is_symmetric() {
    let pairs = [
        (
            robert(),
            demo("Smith", "Bob", "19650321", 'M', "", "2035550142"),
        ),
        (
            robert(),
            demo("Robert", "OBrien Smith", "19650312", 'U', "06511", ""),
        ),
        (
            robert(),
            demo("Jones", "Alice", "20010101", 'F', "90210", "3105550199"),
        ),
        (robert(), Demographics::default()),
    ];
    for (a, b) in pairs {
        assert_eq!(score(&a, &b), score(&b, &a), "{a:?} / {b:?}");
    }
}

#[test]
fn identical_records_score_above_match() {
    assert!(score(&robert(), &robert()) >= MATCH);
    assert_eq!(
        score(&Demographics::default(), &Demographics::default()),
        0.0
    );
}

#[test]
fn nickname_agreement_earns_most_of_the_given_name_weight() {
    let bob = Demographics {
        given: "Bob".into(),
        ..robert()
    };
    let bill = Demographics {
        given: "Bill".into(),
        ..robert()
    };
    let exact = score(&robert(), &robert());
    assert!(score(&robert(), &bob) > exact - 2.0);
    assert!(score(&robert(), &bill) < exact - 10.0);
}

#[test]
fn dob_typo_earns_partial_credit() {
    let exact = score(&robert(), &robert());
    let typo = score(
        &robert(),
        &Demographics {
            birth_date: Some("19650313".into()),
            ..robert()
        },
    );
    let swapped = score(
        &robert(),
        &Demographics {
            birth_date: Some("19651203".into()),
            ..robert()
        },
    );
    let wrong = score(
        &robert(),
        &Demographics {
            birth_date: Some("19720830".into()),
            ..robert()
        },
    );
    assert!(typo < exact && typo > wrong, "{typo}");
    assert_eq!(typo, swapped);
    assert!(wrong < typo - 10.0);
}

#[test]
fn swapped_names_still_match() {
    let idx = index([patient(1, robert(), "A1")]);
    let swapped = Demographics {
        family: "Robert".into(),
        given: "O'Brien-Smith".into(),
        ..robert()
    };
    assert!(matches!(
        idx.lookup(&[], &swapped),
        Outcome::Demographic { id: 1, .. }
    ));
}

#[test]
fn a_roster_in_composed_letters_matches_a_feed_in_ascii() {
    // Excel writes the roster in NFC; the feed drops the accents.
    let idx = index([
        patient(
            1,
            demo("Nguyễn", "Thảo", "19800214", 'F', "06510", ""),
            "V1",
        ),
        patient(
            2,
            demo("Ștefănescu", "Ioana", "19750630", 'F', "06511", ""),
            "R1",
        ),
        patient(
            3,
            demo("Zhāng", "Xiǎomíng", "19920101", 'M', "06512", ""),
            "P1",
        ),
    ]);
    for (id, adt) in [
        (1, demo("NGUYEN", "THAO", "19800214", 'F', "06510", "")),
        (2, demo("STEFANESCU", "IOANA", "19750630", 'F', "06511", "")),
        (3, demo("ZHANG", "XIAOMING", "19920101", 'M', "06512", "")),
    ] {
        let outcome = idx.lookup(&[], &adt);
        assert!(
            matches!(outcome, Outcome::Demographic { id: got, .. } if got == id),
            "{adt:?}: {outcome:?}"
        );
    }
}

#[test]
fn a_generational_suffix_is_not_part_of_the_name() {
    let junior = demo("Lee Jr", "John", "19950312", 'M', "06510", "2035550142");
    let idx = index([patient(1, junior, "J1")]);
    // LEE^JOHN^^JR: the suffix in XPN.4, which matching does not read.
    let adt = demo("LEE", "JOHN", "19950312", 'M', "06510", "");
    let outcome = idx.lookup(&[], &adt);
    assert!(
        matches!(outcome, Outcome::Demographic { id: 1, .. }),
        "{outcome:?}"
    );
    // His father, John Lee Sr., at the same address: the birth date tells them apart.
    let senior = demo("LEE", "JOHN", "19680920", 'M', "06510", "2035550142");
    let outcome = idx.lookup(&[], &senior);
    assert!(
        matches!(outcome, Outcome::Review { id: 1, .. }),
        "{outcome:?}"
    );
    // One patient listed as "Smith Jr" and as "Smith" is listed twice.
    let key = |family: &str| roster_key(None, &demo(family, "John", "19950312", 'M', "", ""));
    assert_eq!(key("Smith Jr."), key("Smith"));
    assert_ne!(key("Smith Jr."), None);
}

#[test]
fn identifier_match_wins_over_demographics() {
    let idx = index([
        patient(1, robert(), "A1"),
        patient(2, demo("Lee", "Ann", "", 'F', "", ""), "B2"),
    ]);
    let id = Identifier {
        value: " B2 ".into(),
        authority: "practice&1.2.3&iso".into(),
    };
    assert_eq!(idx.lookup(&[id], &robert()), Outcome::Identifier { id: 2 });
    let other_authority = Identifier {
        value: "B2".into(),
        authority: "Hospital".into(),
    };
    assert!(matches!(
        idx.lookup(&[other_authority], &robert()),
        Outcome::Demographic { id: 1, .. }
    ));
}

#[test]
fn an_identifier_on_someone_who_cannot_be_the_patient_goes_to_review() {
    let idx = index([patient(1, robert(), "A1")]);
    let a1 = || {
        vec![Identifier {
            value: "A1".into(),
            authority: "Practice&1.2.3&ISO".into(),
        }]
    };
    // Another birth date and another given name: a reused or mistyped number.
    let stranger = demo("Lee", "Ann", "19900101", 'F', "06510", "");
    assert!(matches!(
        idx.lookup(&a1(), &stranger),
        Outcome::Review { id: 1, .. }
    ));
    // Another birth date, the given name missing: a newborn under a parent's number,
    // of either sex.
    for sex in ['F', 'M'] {
        let newborn = demo("O'Brien-Smith", "Baby Boy", "20260101", sex, "06510", "");
        assert!(
            matches!(idx.lookup(&a1(), &newborn), Outcome::Review { id: 1, .. }),
            "{sex}"
        );
    }
    // One field off is an entry error, not another person: the identifier decides.
    let mut wrong_dob = robert();
    wrong_dob.birth_date = Some("19601111".into());
    assert_eq!(idx.lookup(&a1(), &wrong_dob), Outcome::Identifier { id: 1 });
    // Unless the birth years are a generation apart: Robert Jr. under his
    // father's member number, same name and sex (or a DOB that wrong).
    for born in ["19950312", "19370101"] {
        let mut junior = robert();
        junior.birth_date = Some(born.into());
        assert!(
            matches!(idx.lookup(&a1(), &junior), Outcome::Review { id: 1, .. }),
            "{born}"
        );
        assert!(contradicts(&robert(), &junior), "{born}");
    }
    let mut renamed = robert();
    renamed.given = "Theo".into();
    renamed.birth_date = Some("19650321".into());
    assert_eq!(idx.lookup(&a1(), &renamed), Outcome::Identifier { id: 1 });
    assert!(contradicts(&robert(), &stranger));
    assert!(!contradicts(&robert(), &renamed));

    // The same birth date and another given name: a twin registered under
    // the other's number (a common registration error), not an entry error.
    let emma = demo("Nguyen", "Emma", "20100704", 'F', "06511", "2035550177");
    let olivia = demo("Nguyen", "Olivia", "20100704", 'F', "06511", "2035550177");
    let e1 = || {
        vec![Identifier {
            value: "E1".into(),
            authority: "Practice&1.2.3&ISO".into(),
        }]
    };
    let idx = index([patient(1, emma.clone(), "E1")]);
    assert!(matches!(
        idx.lookup(&e1(), &olivia),
        Outcome::Review { id: 1, .. }
    ));
    assert_eq!(idx.lookup(&e1(), &emma), Outcome::Identifier { id: 1 });
    // An initial is no other name.
    let initial = demo("Nguyen", "E", "20100704", 'F', "", "");
    assert_eq!(idx.lookup(&e1(), &initial), Outcome::Identifier { id: 1 });
    // Olivia on the roster too: the review is about her.
    let idx = index([patient(1, emma, "E1"), patient(2, olivia.clone(), "O2")]);
    assert!(matches!(
        idx.lookup(&e1(), &olivia),
        Outcome::Review { id: 2, .. }
    ));

    // When the demographics are another entry's, the review is about that one.
    let ann = demo("Lee", "Ann", "19900101", 'F', "06511", "860-555-0199");
    let idx = index([patient(1, robert(), "A1"), patient(2, ann.clone(), "B2")]);
    assert!(matches!(
        idx.lookup(&a1(), &ann),
        Outcome::Review { id: 2, .. }
    ));
}

#[test]
fn placeholder_identifiers_match_nobody() {
    for (value, authority) in [
        ("999-99-9999", "SSA"),
        ("000000000", "Hospital"),
        ("0", "Hospital"),
        ("123456789", "Hospital"),
        ("987654", "Hospital"),
        ("1234567890", "Hospital"),
        ("0987654321", "Hospital"),
        ("XXXXXX", "Hospital"),
        ("Test", "Hospital"),
        ("Unknown", "Hospital"),
        ("N/A", "Hospital"),
        ("--", "Hospital"),
        ("666-12-3456", "SSA"),
        ("912-34-5670", "ssn"),
        ("123-00-4567", "SSA&2.16.840.1.113883.4.1&ISO"),
        ("078-05-1120", "2.16.840.1.113883.4.1"),
        ("12345679", "SS"),
        ("219-45-0000", "SSA"),
    ] {
        assert!(
            placeholder_identifier(value, authority),
            "{value} {authority}"
        );
    }
    for (value, authority) in [
        ("219-45-6781", "SSA"),
        ("P0001234", "Hospital"),
        ("1234", "Practice"),
        ("1", "Practice"),
        ("11", "Practice"),
        ("12346", "Practice"),
        ("12345", "Practice"),
        ("11111", "Practice"),
        ("12345679", "Hospital"),
        ("MRN-1", "Hospital"),
        ("666123456", "Hospital"),
    ] {
        assert!(
            !placeholder_identifier(value, authority),
            "{value} {authority}"
        );
    }
    let shared = |p: Patient| Patient {
        identifiers: vec![Identifier {
            value: "999999999".into(),
            authority: "SSA".into(),
        }],
        ..p
    };
    let idx = index([shared(patient(1, robert(), "A1"))]);
    // The very value the entry holds, on a stranger the demographics cannot match.
    let query = [Identifier {
        value: "999999999".into(),
        authority: "SSA".into(),
    }];
    let stranger = demo("Lee", "Ann", "", 'F', "", "");
    assert_eq!(idx.lookup(&query, &stranger), Outcome::NoMatch);
}

#[test]
fn conflicting_identifiers_go_to_review() {
    let idx = index([
        patient(1, robert(), "A1"),
        patient(2, demo("Lee", "Ann", "", 'F', "", ""), "B2"),
    ]);
    let ids = ["A1", "B2"].map(|v| Identifier {
        value: v.into(),
        authority: "PRACTICE&1.2.3&ISO".into(),
    });
    assert!(matches!(
        idx.lookup(&ids, &robert()),
        Outcome::Review { id: 1, .. }
    ));
}

#[test]
fn twins_on_the_roster_go_to_review() {
    let twin = |given: &str| demo("Nguyen", given, "20100704", 'F', "06511", "2035550177");
    let idx = index([
        patient(1, twin("Emma"), "A1"),
        patient(2, twin("Emmy"), "A2"),
    ]);
    let query = twin("Emma");
    assert!(
        matches!(idx.lookup(&[], &query), Outcome::Review { .. }),
        "{:?}",
        idx.lookup(&[], &query)
    );
}

#[test]
fn twin_missing_from_the_roster_is_not_matched_to_the_sibling() {
    let twin = |given: &str, sex| demo("Nguyen", given, "20100704", sex, "06511", "2035550177");
    let idx = index([patient(1, twin("Emma", 'F'), "A1")]);
    for query in [twin("Olivia", 'F'), twin("Liam", 'M'), twin("", 'M')] {
        let outcome = idx.lookup(&[], &query);
        assert!(
            matches!(outcome, Outcome::Review { id: 1, .. }),
            "{outcome:?}"
        );
    }
    assert!(matches!(
        idx.lookup(&[], &twin("Emma", 'F')),
        Outcome::Demographic { id: 1, .. }
    ));
}

#[test]
fn name_and_dob_alone_do_not_alert() {
    let idx = index([patient(1, robert(), "A1")]);
    let bare = Demographics {
        postal_code: None,
        phone: None,
        ..robert()
    };
    assert!(matches!(
        idx.lookup(&[], &bare),
        Outcome::Review { id: 1, .. }
    ));
    let other_dob = Demographics {
        birth_date: Some("19720830".into()),
        ..bare
    };
    assert_eq!(idx.lookup(&[], &other_dob), Outcome::NoMatch);
}

#[test]
fn remove_and_replace() {
    let mut idx = index([patient(1, robert(), "A1")]);
    idx.insert(patient(1, robert(), "A9"));
    assert_eq!(idx.len(), 1);
    let mrn = |v: &str| {
        [Identifier {
            value: v.into(),
            authority: "Practice&1.2.3&ISO".into(),
        }]
    };
    assert!(matches!(
        idx.lookup(&mrn("A1"), &robert()),
        Outcome::Demographic { .. }
    ));
    assert_eq!(
        idx.lookup(&mrn("A9"), &robert()),
        Outcome::Identifier { id: 1 }
    );
    idx.remove(1);
    idx.remove(1);
    assert!(idx.is_empty());
    assert_eq!(idx.lookup(&mrn("A9"), &robert()), Outcome::NoMatch);
}

#[test]
fn hostile_input_does_not_panic() {
    let long = "é".repeat(10_000);
    let junk = Demographics {
        family: long.clone(),
        given: "\u{0}\u{301}\u{FFFF}".into(),
        birth_date: Some("9".repeat(100)),
        sex: Some('\u{1F600}'),
        postal_code: Some(long.clone()),
        phone: Some(long),
    };
    let idx = index([patient(1, junk.clone(), "")]);
    let _ = idx.lookup(&[Identifier::default()], &junk);
    let _ = score(&junk, &robert());
}
