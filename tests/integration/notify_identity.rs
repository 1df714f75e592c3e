//! One person under several records, over real MLLP on every engine: an
//! opt-out counts whichever record it was recorded under (the message's, the
//! patient index's person, or the roster entry the message matched, or
//! demographics alone, which can only ever nearly match), and
//! identifier merges and corrections (A40, A34, A47) carry rosters and
//! consent decisions to the surviving identifier. A retraction goes only to
//! the subscribers told of what it cancels. An identifier two people share
//! (a placeholder SSN, a reused number) links neither to the other.

use crate::harness;
use crate::notify::{JANE, ack_code, adt, alerts};
use crate::notify_features::{count, drained, roster};
use crate::smtp::Node;

fn hl7(control: &str, trigger: &str, body: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|20261122070000||ADT^{trigger}^ADT_A39|{control}|P|2.5.1\r\
         EVN|{trigger}|20261122070000\r{body}\r"
    )
    .into_bytes()
}

fn opt_out(n: &Node, id: &str, authority: &str) {
    harness::ok(&n.cli(&[
        "consent",
        "opt-out",
        "--patient-id",
        id,
        "--authority",
        authority,
    ]));
}

/// The alerts filed, as (subscriber, event), sorted.
async fn sent(n: &Node) -> Vec<(String, String)> {
    let mut sent: Vec<(String, String)> = alerts(n)
        .await
        .into_iter()
        .map(|x| (x.subscriber, x.event))
        .collect();
    sent.sort();
    sent
}

async fn audit_details(n: &Node, action: &str) -> Vec<String> {
    let mut conn = n.hisp.conn().await.expect("conn");
    hisp::audit::page(&mut conn, 0, 100_000)
        .await
        .expect("audit")
        .into_iter()
        .filter(|r| r.action == action)
        .map(|r| r.detail)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_opt_out_holds_under_every_record_of_the_patient_and_across_merges_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        let csv = a.dir.path().join("roster.csv");
        // Eve is enrolled until tomorrow: her entry ends then, not in 90 days.
        let day = a.hisp.now().div_euclid(86_400) + 1;
        let (y, m, d) = hisp::clock::civil_from_days(day);
        let tomorrow = format!("{y:04}-{m:02}-{d:02}");
        std::fs::write(
            &csv,
            format!("patient_id,assigning_authority,family_name,given_name,birth_date,sex,postal_code,phone,program,end_date\n\
             K77,NORTH,Kent,Clara,1975-06-07,F,06103,,,\n\
             219456781,SSA,Roe,John,1970-03-04,M,06102,8605550101,,\n\
             OLD1,NORTH,Doe,Jane,1980-01-02,F,06101,,,\n\
             M47,NORTH,Poe,Ann,1990-05-06,F,06104,,,\n\
             B1,NORTH,Lee,Bob,1960-07-08,M,06105,,,\n\
             MM1,NORTH,Moe,Mary,1985-09-10,F,06106,,,\n\
             EE1,NORTH,Eng,Eve,1981-02-03,F,06107,,,{tomorrow}\n\
             H1,NORTH,Hay,Hal,1955-01-01,M,06108,,,\n\
             G1,NORTH,Gray,Gus,1956-02-02,M,06109,,,\n\
             SF1,NORTH,Fox,Sky,1992-04-05,X,06111,,,\n"),
        )
        .expect("csv");
        let owner = ["--owner", "carol@a.test"];
        let path = csv.to_str().expect("p");
        harness::ok(&a.cli(&["roster", "import", path, owner[0], owner[1]]));
        // The patient index learns that Clara's MRN and SSN are one person.
        let clara_a31 = "PID|1||K77^^^NORTH^MR~321549876^^^SSA^SS||Kent^Clara||19750607|F";
        assert_eq!(ack_code(&a, &hl7("I1", "A31", clara_a31)).await.0, "AA");
        drained(&a).await;
        // Clara opts out under her social security number, which only the
        // patient index links to the hospital's MRN; John under the number
        // the roster knows him by; Jane under the MRN the hospital retires.
        opt_out(&a, "321549876", "SSA");
        // The opt-out takes Clara out of the patient index, her MRN copied
        // into the consent record first, so that it still holds for it.
        assert_eq!(
            count(&a, "SELECT COUNT(*) FROM patient_index").await,
            0,
            "{e}"
        );
        let consents = harness::ok(&a.cli(&["consent", "list", "--json"]));
        assert!(consents.contains("\"K77\""), "{e}: {consents}");
        let swept = audit_details(&a, "consent.sweep").await;
        assert_eq!(
            swept,
            [
                "0 open review(s) closed; 2 identifier(s) unfiled from the patient index; 0 unsent alert(s) withdrawn"
            ],
            "{e}"
        );
        opt_out(&a, "219456781", "SSA");
        opt_out(&a, "OLD1", "NORTH");
        // Eve opted out, before placeholders were refused, under a
        // placeholder SSN: it matches nobody now, and must still hold.
        let mut conn = a.hisp.conn().await.expect("conn");
        let eve = hisp::store::notify::StoredPatient {
            identifiers: vec![("000-00-0000".into(), "SSA".into())],
            ..Default::default()
        };
        let now = a.hisp.now();
        hisp::store::notify::insert_consent(&mut conn, a.hisp.store.sealer(), "opt-out", &eve, now)
            .await
            .expect("old consent");
        drop(conn);
        // Mary by name, birth date and sex alone, which by itself could
        // never reach an automatic match.
        harness::ok(&a.cli(&[
            "consent",
            "opt-out",
            "--family",
            "Moe",
            "--given",
            "Mary",
            "--birth-date",
            "1985-09-10",
            "--sex",
            "F",
        ]));
        // Sky likewise, non-binary (table 0001's X) as the roster has it.
        harness::ok(&a.cli(&[
            "consent",
            "opt-out",
            "--family",
            "Fox",
            "--given",
            "Sky",
            "--birth-date",
            "1992-04-05",
            "--sex",
            "X",
        ]));

        let messages: Vec<Vec<u8>> = vec![
            // Clara, by MRN only: her roster entry matches by identifier.
            adt(
                "C1",
                "A04",
                "NORTHHOSP",
                "E",
                "V1",
                "PID|1||K77^^^NORTH^MR||Kent^Clara",
            ),
            // John, under the hospital's MRN: his entry matches by demographics.
            adt(
                "J1",
                "A04",
                "NORTHHOSP",
                "E",
                "V2",
                "PID|1||MRN2^^^NORTH^MR||Roe^John||19700304|M|||2 Elm St^^Hartford^CT^06102||(860)555-0101",
            ),
            // The hospital's patient update for John, under its own MRN: the
            // opt-out recorded under his roster number keeps him out of the
            // patient index (before, only the message's own identifiers were
            // judged, and his name, birth date and phone were filed again).
            hl7(
                "J2",
                "A31",
                "PID|1||MRN2^^^NORTH^MR||Roe^John||19700304|M|||2 Elm St^^Hartford^CT^06102||(860)555-0101",
            ),
            // Jane's MRN is retired for NEW1, then she comes to the ED as NEW1.
            hl7(
                "D1",
                "A40",
                "PID|1||NEW1^^^NORTH^MR||Doe^Jane\rMRG|OLD1^^^NORTH",
            ),
            adt(
                "D2",
                "A04",
                "NORTHHOSP",
                "E",
                "V3",
                "PID|1||NEW1^^^NORTH^MR||Doe^Jane",
            ),
            // Ann's MRN is corrected (A47); PID-3 lists her SSN first, and
            // the survivor is the repetition from MRG-1's authority.
            hl7(
                "P1",
                "A47",
                "PID|1||412345678^^^SSA^SS~M48^^^NORTH^MR||Poe^Ann\rMRG|M47^^^NORTH",
            ),
            adt(
                "P2",
                "A04",
                "NORTHHOSP",
                "E",
                "V4",
                "PID|1||M48^^^NORTH^MR||Poe^Ann",
            ),
            // Bob's records are merged the v2.3 way (A34).
            hl7("L1", "A34", "PID|1||B2^^^NORTH^MR||Lee^Bob\rMRG|B1^^^NORTH"),
            adt(
                "L2",
                "A04",
                "NORTHHOSP",
                "E",
                "V5",
                "PID|1||B2^^^NORTH^MR||Lee^Bob",
            ),
            adt(
                "M1",
                "A04",
                "NORTHHOSP",
                "E",
                "V6",
                "PID|1||MM1^^^NORTH^MR||Moe^Mary||19850910|F|||^^^^06106",
            ),
            adt(
                "S1",
                "A04",
                "NORTHHOSP",
                "E",
                "V10",
                "PID|1||SF1^^^NORTH^MR||Fox^Sky||19920405|X|||^^^^06111",
            ),
            adt(
                "E1",
                "A04",
                "NORTHHOSP",
                "E",
                "V7",
                "PID|1||EE1^^^NORTH^MR~000000000^^^SSA^SS||Eng^Eve",
            ),
            // One A40 merges two patients' records (two PID/MRG groups), the
            // second retiring two of Gus's numbers (MRG-1 repeats).
            hl7(
                "G1",
                "A40",
                "PID|1||H2^^^NORTH^MR||Hay^Hal\rMRG|H1^^^NORTH\r\
                 PID|2||G2^^^NORTH^MR||Gray^Gus\rMRG|G0^^^NORTH~G1^^^NORTH",
            ),
            adt(
                "G2",
                "A04",
                "NORTHHOSP",
                "E",
                "V8",
                "PID|1||H2^^^NORTH^MR||Hay^Hal",
            ),
            adt(
                "G3",
                "A04",
                "NORTHHOSP",
                "E",
                "V9",
                "PID|1||G2^^^NORTH^MR||Gray^Gus",
            ),
        ];
        for m in &messages {
            assert_eq!(ack_code(&a, m).await.0, "AA", "{e}");
        }
        drained(&a).await;

        let sent = alerts(&a).await;
        let visits = harness::ok(&a.cli(&["alert", "list", "--json"]));
        assert_eq!(
            sent.len(),
            4,
            "{e}: only Ann, Bob, Hal and Gus are alerted: {visits}"
        );
        assert!(sent.iter().all(|x| x.subscriber == "carol@a.test"), "{e}");
        let suppressed = audit_details(&a, "alert.suppressed").await;
        assert_eq!(
            suppressed
                .iter()
                .filter(|d| d.as_str() == "the patient opted out")
                .count(),
            7,
            "{e}: Clara, John (twice), Jane, Mary, Sky and Eve: {suppressed:?}"
        );
        assert_eq!(
            count(&a, "SELECT COUNT(*) FROM patient_index").await,
            0,
            "{e}: no opted-out patient is indexed again"
        );
        let mut conn = a.hisp.conn().await.expect("conn");
        let kept: i64 = sqlx::Row::get(
            &sqlx::query(
                "SELECT COUNT(*) FROM adt_messages WHERE result = 'opted out' AND raw_sealed IS NULL",
            )
            .fetch_one(&mut *conn)
            .await
            .expect("count"),
            0,
        );
        drop(conn);
        assert_eq!(kept, 7, "{e}: nothing of theirs is kept but the key");

        let merges = audit_details(&a, "patient.merge").await;
        assert!(
            merges.contains(
                &"A40: 1 identifiers retired, 1 roster entries and 1 consent decisions updated; \
                  the patient opted out: nothing of theirs stays in the patient index"
                    .into()
            ),
            "{e}: {merges:?}"
        );
        assert!(
            merges.contains(
                &"A47: 1 identifiers retired, 1 roster entries and 0 consent decisions updated"
                    .into()
            ),
            "{e}: {merges:?}"
        );
        assert!(
            merges.contains(
                &"A40: 3 identifiers retired, 2 roster entries and 0 consent decisions updated"
                    .into()
            ),
            "{e}: {merges:?}"
        );
        let listed = harness::ok(&a.cli(&["roster", "list", owner[0], owner[1], "--json"]));
        for (gone, now) in [
            ("OLD1", "NEW1"),
            ("M47", "M48"),
            ("B1", "B2"),
            ("H1", "H2"),
            ("G1", "G2"),
        ] {
            assert!(
                !listed.contains(&format!("\"{gone}\"")) && listed.contains(&format!("\"{now}\"")),
                "{e}: {gone} became {now}: {listed}"
            );
        }
        let entries: Vec<serde_json::Value> = serde_json::from_str(&listed).expect("json");
        let eve = entries
            .iter()
            .find(|x| x["family_name"] == "Eng")
            .expect("Eve's entry");
        assert_eq!(
            eve["expires"],
            hisp::clock::rfc3339((day + 1) * 86_400),
            "{e}"
        );
        assert!(
            !listed.contains("\"412345678\""),
            "{e}: the SSN is not taken for the corrected MRN: {listed}"
        );
        a.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retraction_goes_only_to_subscribers_told_of_what_it_cancels() {
    let mut a = Node::new("a.test", false, None).await;
    a.address("carol").await;
    a.address("dave").await;
    a.start().await;
    harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
    let roster = |owner: &str| {
        let csv = a.dir.path().join(format!("{owner}.csv"));
        std::fs::write(
            &csv,
            "patient_id,assigning_authority,family_name,given_name,birth_date,sex,postal_code,phone,program,end_date\n\
             MRN1,NORTH,Doe,Jane,1980-01-02,F,06101,,,\n",
        )
        .expect("csv");
        let path = csv.to_str().expect("p").to_string();
        harness::ok(&a.cli(&["roster", "import", &path, "--owner", owner]));
    };
    roster("carol@a.test");
    assert_eq!(
        ack_code(&a, &adt("R1", "A01", "NORTHHOSP", "I", "V1", JANE))
            .await
            .0,
        "AA"
    );
    drained(&a).await;
    // Dave enrols Jane after the admission, then the admission is cancelled.
    roster("dave@a.test");
    assert_eq!(
        ack_code(&a, &adt("R2", "A11", "NORTHHOSP", "I", "V1", JANE))
            .await
            .0,
        "AA"
    );
    drained(&a).await;
    assert_eq!(
        sent(&a).await,
        [
            ("carol@a.test".to_string(), "admit".to_string()),
            ("carol@a.test".to_string(), "retraction".to_string()),
        ],
        "dave never heard of the admission, so he is not told it was cancelled"
    );
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shared_or_placeholder_identifier_links_no_one_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        a.address("dave").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        // Carol knows Robert by the hospital's MRN, Dave by his own number
        // and demographics.
        roster(
            &a,
            "carol@a.test",
            "H1,NORTH,Roe,Robert,1965-03-12,M,06510,,,\n",
        );
        roster(
            &a,
            "dave@a.test",
            "P1,PRACTICE,Roe,Robert,1965-03-12,M,06510,,,\n",
        );
        // A placeholder SSN is refused where it would name a patient.
        harness::fails(
            &a.cli(&[
                "consent",
                "opt-out",
                "--patient-id",
                "999-99-9999",
                "--authority",
                "SSA",
            ]),
            1,
            "placeholder",
        );
        // A decision must name its patient in a form matching reads, or it
        // would be recorded and never hold.
        let robert = |birth: &'static str, sex: &'static str| {
            vec![
                "--family",
                "Roe",
                "--given",
                "Robert",
                "--birth-date",
                birth,
                "--sex",
                sex,
            ]
        };
        for (args, why) in [
            (vec!["--patient-id", "P1"], "together"),
            (robert("03/12/1965", "M"), "YYYY-MM-DD"),
            (robert("1965-02-30", "M"), "YYYY-MM-DD"),
            (robert("1965-03-12", "Q"), "M, F, O, U, A, N or X"),
            // The usual "unknown" birth date is no evidence to matching: an
            // opt-out under it would be recorded and never hold.
            (robert("1900-01-01", "M"), "could never find"),
            (
                vec![
                    "--family",
                    "Unknown",
                    "--given",
                    "Patient",
                    "--birth-date",
                    "1965-03-12",
                    "--sex",
                    "M",
                ],
                "could never find",
            ),
            // Family name and birth date alone would hold for a sibling too.
            (
                vec!["--family", "Roe", "--birth-date", "1965-03-12"],
                "--given",
            ),
        ] {
            let mut cmd = vec!["consent", "opt-out"];
            cmd.extend(args);
            harness::fails(&a.cli(&cmd), 1, why);
        }
        let before = audit_details(&a, "consent.view").await.len();
        harness::ok(&a.cli(&["consent", "list"]));
        assert_eq!(
            audit_details(&a, "consent.view").await.len(),
            before + 1,
            "{e}: the registry's view audited"
        );
        // Robert and Ann are registered with the same placeholder SSN and the
        // same insurance member number.
        let robert = "PID|1||H1^^^NORTH^MR~999999999^^^SSA^SS~M555^^^PAYER^MB~E77^^^EPI^PI||Roe^Robert||19650312|M|||^^^^06510";
        let ann = "PID|1||H2^^^NORTH^MR~999999999^^^SSA^SS~M555^^^PAYER^MB||Lee^Ann||19900101|F|||^^^^06511";
        // Then Robert's record is updated with the member number again, and
        // a message without a birth date says Ann's MRN and Robert's EPI
        // number are one person.
        let sparse = "PID|1||H2^^^NORTH^MR~E77^^^EPI^PI||Lee^Ann";
        for (control, trigger, pid) in [
            ("I1", "A28", robert),
            ("I2", "A28", ann),
            ("I3", "A31", robert),
            ("I4", "A31", sparse),
        ] {
            let msg = hl7(control, trigger, pid);
            assert_eq!(ack_code(&a, &msg).await.0, "AA", "{e}");
            drained(&a).await;
        }
        let conflicts = audit_details(&a, "patient.index_conflict").await;
        assert_eq!(
            conflicts,
            [
                "A28: 1 identifier(s) named two different people and are disputed",
                "A31: its identifiers name different people in the patient index; not applied",
            ],
            "{e}: the member number, not the placeholder; it stays disputed"
        );
        let messages = [
            // Ann by her own MRN, by the placeholder, by the shared number:
            // none of them may borrow Robert's MRN from the index.
            adt("A1", "A04", "NORTHHOSP", "E", "VA1", "PID|1||H2^^^NORTH^MR"),
            adt(
                "A2",
                "A04",
                "NORTHHOSP",
                "E",
                "VA2",
                "PID|1||999999999^^^SSA^SS",
            ),
            adt(
                "A3",
                "A04",
                "NORTHHOSP",
                "E",
                "VA3",
                "PID|1||M555^^^PAYER^MB",
            ),
            // Ann registered under Robert's MRN: the number says Robert, the
            // birth date and name say someone else. A person decides.
            adt(
                "A4",
                "A04",
                "NORTHHOSP",
                "E",
                "VA4",
                "PID|1||H1^^^NORTH^MR||Lee^Ann||19900101|F",
            ),
            // Robert by an identifier only the index knows: still him.
            adt("R1", "A04", "NORTHHOSP", "E", "VR1", "PID|1||E77^^^EPI^PI"),
        ];
        for m in &messages {
            assert_eq!(ack_code(&a, m).await.0, "AA", "{e}");
        }
        drained(&a).await;
        assert_eq!(
            sent(&a).await,
            [
                ("carol@a.test".to_string(), "ed".to_string()),
                ("dave@a.test".to_string(), "ed".to_string()),
            ],
            "{e}: only Robert's visit alerts, once to each"
        );
        // The fixed event time would make a wrong alert for one of Ann's
        // visits hide Robert's as a duplicate: check which visit alerted.
        let mut conn = a.hisp.conn().await.expect("conn");
        let visits: Vec<String> = sqlx::query_scalar(
            "SELECT e.visit FROM alerts a JOIN encounters e ON e.id = a.encounter_id ORDER BY a.id",
        )
        .fetch_all(&mut *conn)
        .await
        .expect("visits");
        drop(conn);
        assert_eq!(visits, ["VR1", "VR1"], "{e}");
        let reviews = count(&a, "SELECT COUNT(*) FROM match_reviews").await;
        assert_eq!(reviews, 1, "{e}: Ann under Robert's MRN waits for a person");

        // A merge naming the disputed member number (two people's) as
        // retired, or as survivor, is not kept for later opt-outs: it would
        // carry one person's opt-out to the other. One naming neither is.
        for (control, pid) in [
            ("M1", "PID|1||M556^^^PAYER^MB||Lee^Ann\rMRG|M555^^^PAYER"),
            ("M2", "PID|1||M555^^^PAYER^MB||Lee^Ann\rMRG|M557^^^PAYER"),
            ("M3", "PID|1||M601^^^PAYER^MB||Lee^Ann\rMRG|M600^^^PAYER"),
        ] {
            let msg = hl7(control, "A40", pid);
            assert_eq!(ack_code(&a, &msg).await.0, "AA", "{e}");
            drained(&a).await;
        }
        let kept = count(&a, "SELECT COUNT(*) FROM identifier_merges").await;
        assert_eq!(kept, 1, "{e}: only the undisputed merge is kept");
        a.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renumbered_visit_keeps_what_was_alerted_about_it() {
    let mut a = Node::new("a.test", false, None).await;
    a.address("carol").await;
    a.start().await;
    harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
    roster(
        &a,
        "carol@a.test",
        "MRN1,NORTH,Doe,Jane,1980-01-02,F,06101,,,\n",
    );
    let pv1 =
        |visit: &str| format!("PV1|1|I|W^1^A^NORTHHOSP||||1234^Smith^Anna||||||||||||{visit}");
    let jane = "PID|1||MRN1^^^NORTH^MR||Doe^Jane||19800102|F";
    // Admitted as V1; the hospital changes the visit number to V9 (A50);
    // the admission is sent again under V9 at another time, then the
    // discharge comes.
    let messages = [
        adt("N1", "A01", "NORTHHOSP", "I", "V1", JANE),
        hl7(
            "N2",
            "A50",
            &format!("{jane}\rMRG|MRN1^^^NORTH||||V1\r{}", pv1("V9")),
        ),
        hl7("N3", "A01", &format!("{jane}\r{}", pv1("V9"))),
        hl7("N4", "A03", &format!("{jane}\r{}", pv1("V9"))),
    ];
    for m in &messages {
        assert_eq!(ack_code(&a, m).await.0, "AA");
        drained(&a).await;
    }
    assert_eq!(
        sent(&a).await,
        [
            ("carol@a.test".to_string(), "admit".to_string()),
            ("carol@a.test".to_string(), "discharge".to_string()),
        ],
        "the admission under its new number is not news"
    );
    a.stop().await;
}

/// A visit the hospital keys by its account number (PID-18, no PV1-19)
/// keeps what was alerted about it when the account number changes (A49,
/// A35: MRG-3 to PID-18, in the standard's structure, with no PV1), as a
/// renumbered visit does. Before, A35 and A49 were quiet, and the admission
/// sent again under the new account number was alerted a second time. An
/// account change never moves a visit keyed by its PV1-19, even one whose
/// visit number is the same text as the account number changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_number_change_keeps_what_was_alerted_about_a_visit_keyed_by_it() {
    let mut a = Node::new("a.test", false, None).await;
    a.address("carol").await;
    a.start().await;
    harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
    roster(
        &a,
        "carol@a.test",
        "MRN1,NORTH,Doe,Jane,1980-01-02,F,06101,,,\n\
         MRN2,NORTH,Roe,John,1970-03-04,M,06102,,,\n",
    );
    // PID-18 is the eighteenth field.
    let pid = |mrn: &str, name: &str, account: &str| {
        let born = if mrn == "MRN1" {
            "19800102|F"
        } else {
            "19700304|M"
        };
        format!("PID|1||{mrn}^^^NORTH^MR||{name}||{born}||||||||||{account}")
    };
    let jane = |account: &str| pid("MRN1", "Doe^Jane", account);
    let john = |account: &str| pid("MRN2", "Roe^John", account);
    let ward = "PV1|1|I|W^1^A^NORTHHOSP";
    let visit_555 = "PV1|1|I|W^1^A^NORTHHOSP||||||||||||||||555";
    let messages = [
        // Jane's stay is keyed by account ACC1; A49 moves it to ACC9; the
        // admission comes again under ACC9, then the discharge.
        hl7("K1", "A01", &format!("{}\r{ward}", jane("ACC1"))),
        hl7(
            "K2",
            "A49",
            &format!("{}\rMRG|MRN1^^^NORTH||ACC1", jane("ACC9")),
        ),
        hl7("K3", "A01", &format!("{}\r{ward}", jane("ACC9"))),
        hl7("K4", "A03", &format!("{}\r{ward}", jane("ACC9"))),
        // John's stay is keyed by visit 555, and the hospital sends the same
        // number as his account. A35 changes his account to 556: the visit
        // stays 555, so the admission sent again is not news either.
        hl7("L1", "A01", &format!("{}\r{visit_555}", john("555"))),
        hl7(
            "L2",
            "A35",
            &format!("{}\rMRG|MRN2^^^NORTH||555", john("556")),
        ),
        hl7("L3", "A01", &format!("{}\r{visit_555}", john("556"))),
        hl7("L4", "A03", &format!("{}\r{visit_555}", john("556"))),
    ];
    for m in &messages {
        assert_eq!(ack_code(&a, m).await.0, "AA");
        drained(&a).await;
    }
    let c = |event: &str| ("carol@a.test".to_string(), event.to_string());
    assert_eq!(
        sent(&a).await,
        [c("admit"), c("admit"), c("discharge"), c("discharge")],
        "an admission sent again under its visit's number is not news"
    );
    let renumbered = count(
        &a,
        "SELECT COUNT(*) FROM adt_messages WHERE result = 'renumbered'",
    )
    .await;
    assert_eq!(
        renumbered, 1,
        "A49 renumbered Jane's stay; A35 moved nothing"
    );
    a.stop().await;
}

/// An assigning authority sent as both its namespace and its OID
/// (`R1^^^NORTH&2.16.840.1.113883.19.5&ISO`) is known by either: a roster
/// entry given by the OID matches it by identifier (Ana, whose birth date
/// the hospital has wrong, so demographics alone would not), and an
/// opt-out recorded by the OID holds for it (Sam, rostered by the
/// namespace). Read by HD.1 alone, Ana got no alert and Sam got one
/// despite his opt-out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_authority_sent_by_namespace_and_oid_is_known_by_either() {
    let mut a = Node::new("a.test", false, None).await;
    a.address("carol").await;
    a.start().await;
    harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
    let oid = "2.16.840.1.113883.19.5";
    roster(
        &a,
        "carol@a.test",
        &format!(
            "R1,{oid},Rivera,Ana,1970-01-01,F,06110,,,\nR2,NORTH,Stone,Sam,1971-02-02,M,06111,,,\n"
        ),
    );
    opt_out(&a, "R2", oid);
    let ana = format!(
        "PID|1||R1^^^NORTH&{oid}&ISO^MR||Rivera^Ana||19710312|F|||1 Main St^^Hartford^CT^06120\r\
         PV1|1|E|ED^1^1^NORTHHOSP||||||||||||||||VR1"
    );
    let sam = format!(
        "PID|1||R2^^^NORTH&{oid}&ISO^MR||Stone^Sam||19710202|M|||2 Main St^^Hartford^CT^06111\r\
         PV1|1|E|ED^1^1^NORTHHOSP||||||||||||||||VS1"
    );
    let carol = [("carol@a.test".to_string(), "ed".to_string())];
    assert_eq!(ack_code(&a, &hl7("H1", "A04", &ana)).await.0, "AA");
    drained(&a).await;
    assert_eq!(sent(&a).await, carol, "Ana, matched by her identifier");
    assert_eq!(ack_code(&a, &hl7("H2", "A04", &sam)).await.0, "AA");
    drained(&a).await;
    assert_eq!(sent(&a).await, carol, "Sam opted out");

    // An opt-out typed with the authority as a whole HD, as interface
    // specifications print it, or as a `urn:oid:`, holds for a feed that
    // sends one name of it: recorded under each (before, as typed, it
    // matched nothing and the alerts went out).
    roster(
        &a,
        "carol@a.test",
        &format!(
            "R3,NORTH,Tate,Tia,1972-03-03,F,06112,,,\nR4,{oid},Ueda,Uma,1973-04-04,F,06113,,,\n\
             R6,NORTH,Wade,Wes,1975-06-06,M,06115,,,\n"
        ),
    );
    opt_out(&a, "R3", &format!("NORTH&{oid}&ISO"));
    opt_out(&a, "R4", &format!("urn:oid:{oid}"));
    // Wes opted out before this was read so: stored as typed, it holds now.
    let wes = hisp::store::notify::StoredPatient {
        identifiers: vec![("R6".into(), format!("NORTH&{oid}&ISO"))],
        ..Default::default()
    };
    let mut conn = a.hisp.conn().await.expect("conn");
    let now = a.hisp.now();
    hisp::store::notify::insert_consent(&mut conn, a.hisp.store.sealer(), "opt-out", &wes, now)
        .await
        .expect("old consent");
    drop(conn);
    // Each sent with other demographics, so only the identifier matches.
    let tia = "PID|1||R3^^^NORTH^MR||Tate^Tia||19820303|F|||3 Main St^^Hartford^CT^06130\r\
               PV1|1|E|ED^1^1^NORTHHOSP||||||||||||||||VT1"
        .to_string();
    let uma = format!(
        "PID|1||R4^^^&{oid}&ISO^MR||Ueda^Uma||19830404|F|||4 Main St^^Hartford^CT^06140\r\
         PV1|1|E|ED^1^1^NORTHHOSP||||||||||||||||VU1"
    );
    let wes = "PID|1||R6^^^NORTH^MR||Wade^Wes||19850606|M|||6 Main St^^Hartford^CT^06160\r\
               PV1|1|E|ED^1^1^NORTHHOSP||||||||||||||||VW1"
        .to_string();
    for (control, pid) in [("H3", &tia), ("H4", &uma), ("H6", &wes)] {
        assert_eq!(ack_code(&a, &hl7(control, "A04", pid)).await.0, "AA");
    }
    drained(&a).await;
    assert_eq!(sent(&a).await, carol, "Tia, Uma and Wes opted out");

    // A roster row typed with the whole HD is found by the namespace a feed
    // sends (before, by demographics only: these would match nothing).
    roster(
        &a,
        "carol@a.test",
        &format!("R9,NORTH&{oid}&ISO,Vale,Vic,1976-07-07,M,06116,,,\n"),
    );
    let vic = "PID|1||R9^^^NORTH^MR||Vale^Vic||19860707|M|||9 Main St^^Hartford^CT^06190\r\
               PV1|1|E|ED^1^1^NORTHHOSP||||||||||||||||VV1";
    assert_eq!(ack_code(&a, &hl7("H9", "A04", vic)).await.0, "AA");
    drained(&a).await;
    assert_eq!(sent(&a).await.len(), 2, "Vic, matched by his identifier");
    a.stop().await;
}

/// A merge for a patient who has opted out carries the opt-out to the
/// retired number, as any merge does, but files nothing in the patient
/// index: the person a hospital filed under the retired number (the
/// opt-out's sweep finds people by identifier only, so it stayed) is
/// unfiled, not folded under the survivor, and its numbers are copied into
/// the opt-out first. Before, the merge filed Dora's name, birth date and
/// address under the very number she had opted out under.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_merge_of_an_opted_out_patient_files_nothing_in_the_index_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        let dora = "PID|1||M1^^^NORTH^MR~S9^^^SOUTH^MR||Dee^Dora||19750505|F|||1 Main St^^Hartford^CT^06101";
        assert_eq!(ack_code(&a, &hl7("X1", "A31", dora)).await.0, "AA");
        drained(&a).await;
        let filed = count(&a, "SELECT COUNT(*) FROM patient_index").await;
        assert!(filed > 0, "{e}: Dora is in the index");
        // She opts out under the number the hospital's merge keeps.
        opt_out(&a, "M2", "NORTH");
        assert_eq!(
            count(&a, "SELECT COUNT(*) FROM patient_index").await,
            filed,
            "{e}: the sweep finds no one under M2"
        );
        let merge = "PID|1||M2^^^NORTH^MR||Dee^Dora\rMRG|M1^^^NORTH";
        assert_eq!(ack_code(&a, &hl7("X2", "A40", merge)).await.0, "AA");
        drained(&a).await;
        assert_eq!(
            count(&a, "SELECT COUNT(*) FROM patient_index").await,
            0,
            "{e}: nothing of hers is filed"
        );
        let consents = harness::ok(&a.cli(&["consent", "list", "--json"]));
        let consents: serde_json::Value = serde_json::from_str(&consents).expect("json");
        let ids: Vec<String> = consents[0]["patient"]["identifiers"]
            .as_array()
            .expect("identifiers")
            .iter()
            .map(|i| {
                format!(
                    "{}@{}",
                    i[0].as_str().unwrap_or(""),
                    i[1].as_str().unwrap_or("")
                )
            })
            .collect();
        for id in ["M2@NORTH", "M1@NORTH", "S9@SOUTH"] {
            assert!(ids.iter().any(|x| x == id), "{e}: {id} in {ids:?}");
        }

        // Eve opts out under the number the merge retires; the index knows
        // her under the survivor. The merge message's patient (the
        // survivor) has no opt-out of its own, but the merge is hers: the
        // survivor's person is unfiled too.
        let eve = "PID|1||Q2^^^NORTH^MR||Eng^Eve||19810203|F|||2 Elm St^^Hartford^CT^06107";
        assert_eq!(ack_code(&a, &hl7("Y1", "A31", eve)).await.0, "AA");
        drained(&a).await;
        assert!(
            count(&a, "SELECT COUNT(*) FROM patient_index").await > 0,
            "{e}"
        );
        opt_out(&a, "Q1", "NORTH");
        let merge = "PID|1||Q2^^^NORTH^MR||Eng^Eve\rMRG|Q1^^^NORTH";
        assert_eq!(ack_code(&a, &hl7("Y2", "A40", merge)).await.0, "AA");
        drained(&a).await;
        assert_eq!(
            count(&a, "SELECT COUNT(*) FROM patient_index").await,
            0,
            "{e}: opted out under the retired number"
        );
        a.stop().await;
    }
}

/// A v2.3 message, as legacy feeds send it: identifiers in PID-2 and PID-4
/// as well as PID-3.
fn v23(control: &str, trigger: &str, body: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|SMS|NORTHHOSP|HISP|HISP|20261122070000||ADT^{trigger}|{control}|P|2.3\r\
         EVN|{trigger}|20261122070000\r{body}\r"
    )
    .into_bytes()
}

/// An ED registration (A04) of `pid` at visit `visit`, in v2.3.
fn v23_ed(control: &str, visit: &str, pid: &str) -> Vec<u8> {
    v23(
        control,
        "A04",
        &format!("{pid}\rPV1|1|E|ED^1^A^NORTHHOSP||||||||||||||||{visit}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pid_2_identifies_the_patient_pid_4_withholds_and_a39_and_a18_merge_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        roster(
            &a,
            "carol@a.test",
            "E100,EMPI,Kent,Clara,1975-06-07,F,06103,,,\n\
             ,,Roe,John,1970-03-04,M,06102,8605550101,,\n\
             R1,EMPI,Doe,Jane,1980-01-02,F,06101,,,\n\
             P1,NORTH,Poe,Ann,1990-05-06,F,06104,,,\n\
             B1,NORTH,Lee,Bob,1960-07-08,M,06105,,,\n\
             ALT9,NORTH,Zed,Zoe,1991-01-01,F,06110,,,\n",
        );
        // John opted out under the alternate number the hospital sends in PID-4.
        opt_out(&a, "ALT5", "NORTH");
        let step = async |msgs: &[Vec<u8>], alerted: usize, what: &str| {
            for m in msgs {
                assert_eq!(ack_code(&a, m).await.0, "AA", "{e}: {what}");
            }
            drained(&a).await;
            assert_eq!(alerts(&a).await.len(), alerted, "{e}: {what}");
        };
        // Clara's roster entry has the master index's number, which the
        // hospital sends only in PID-2 (and no birth date to match by).
        step(
            &[v23_ed(
                "C1",
                "V1",
                "PID|1|E100^^^EMPI|C9^^^NORTH^MR||Kent^Clara",
            )],
            1,
            "Clara by PID-2",
        )
        .await;
        // John, matched by his demographics, opted out under PID-4's number.
        step(
            &[v23_ed(
                "J1",
                "V2",
                "PID|1||MRN2^^^NORTH^MR|ALT5^^^NORTH|Roe^John||19700304|M|||2 Elm St^^Hartford^CT^06102||(860)555-0101",
            )],
            1,
            "John opted out under PID-4",
        )
        .await;
        // PID-4 matches no roster entry: an alternate (temporary, account)
        // number under the hospital's authority can be another's MRN.
        step(
            &[v23_ed(
                "Z1",
                "V6",
                "PID|1||Z1^^^NORTH^MR|ALT9^^^NORTH|Zed^Zoe",
            )],
            1,
            "Zoe listed only by a PID-4 number",
        )
        .await;
        // Jane's master index number is retired the v2.3 way: an A39, MRG-4
        // into PID-2. Then she comes to the ED known by the survivor alone.
        step(
            &[
                v23(
                    "D1",
                    "A39",
                    "PID|1|R2^^^EMPI|J2^^^NORTH||Doe^Jane\rMRG|J1^^^NORTH|||R1^^^EMPI",
                ),
                v23_ed("D2", "V3", "PID|1|R2^^^EMPI|||Doe^Jane"),
            ],
            2,
            "Jane after an A39 by PID-2",
        )
        .await;
        // Ann's MRN is retired by an A39 sent as many feeds send it (MRG-1
        // into PID-3); Bob's by an A18.
        step(
            &[
                v23("P1", "A39", "PID|1||P2^^^NORTH||Poe^Ann\rMRG|P1^^^NORTH"),
                v23_ed("P2", "V4", "PID|1||P2^^^NORTH^MR||Poe^Ann"),
                v23("L1", "A18", "PID|1||B2^^^NORTH||Lee^Bob\rMRG|B1^^^NORTH"),
                v23_ed("L2", "V5", "PID|1||B2^^^NORTH^MR||Lee^Bob"),
            ],
            4,
            "Ann after an A39 by PID-3, Bob after an A18",
        )
        .await;
        let listed = harness::ok(&a.cli(&["roster", "list", "--json"]));
        for id in ["\"R2\"", "\"P2\"", "\"B2\""] {
            assert!(listed.contains(id), "{e}: {id} in {listed}");
        }
        a.stop().await;
    }
}

/// An alert filed for a digest keeps the ADT's PID-4 numbers beside its
/// patient (sealed), so an opt-out recorded under one after the alert was
/// filed withdraws it: by the opt-out's sweep, and by the digest's own
/// check for an opt-out recorded without one. Before, neither saw them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pid_4_opt_out_withdraws_an_alert_filed_for_the_digest_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        let dave = a.address("dave").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        crate::notify_features::delivery(&a, "dave@a.test", "digest");
        // Listed by demographics alone: the practice has no hospital number.
        roster(
            &a,
            "dave@a.test",
            ",,Roe,John,1970-03-04,M,06102,8605550101,,\n\
             ,,Poe,Ann,1990-05-06,F,06104,8605550104,,\n\
             ,,Lee,Bob,1960-07-08,M,06105,8605550105,,\n",
        );
        let visit = |control: &str, visit: &str, pid: &str| v23_ed(control, visit, pid);
        for m in [
            visit(
                "J1",
                "V1",
                "PID|1||MRN2^^^NORTH^MR|ALT5^^^NORTH|Roe^John||19700304|M|||2 Elm St^^Hartford^CT^06102||(860)555-0101",
            ),
            visit(
                "A1",
                "V2",
                "PID|1||MRN3^^^NORTH^MR|ALT6^^^NORTH|Poe^Ann||19900506|F|||4 Elm St^^Hartford^CT^06104||(860)555-0104",
            ),
            visit(
                "B1",
                "V3",
                "PID|1||MRN4^^^NORTH^MR|ALT7^^^NORTH|Lee^Bob||19600708|M|||5 Elm St^^Hartford^CT^06105||(860)555-0105",
            ),
        ] {
            assert_eq!(ack_code(&a, &m).await.0, "AA", "{e}");
        }
        drained(&a).await;
        let unsent = "SELECT COUNT(*) FROM alerts WHERE message_id IS NULL";
        assert_eq!(count(&a, unsent).await, 3, "{e}: filed for the digest");
        // John opts out under the number the hospital sends in PID-4: the
        // opt-out's sweep withdraws his alert.
        opt_out(&a, "ALT5", "NORTH");
        assert_eq!(count(&a, unsent).await, 2, "{e}: John's alert withdrawn");
        let swept = audit_details(&a, "consent.sweep").await;
        assert!(
            swept
                .last()
                .is_some_and(|d| d.ends_with("1 unsent alert(s) withdrawn")),
            "{e}: {swept:?}"
        );
        // Ann's opt-out under hers is recorded without a sweep (as opt-outs
        // from before sweeps were): the digest's own check withdraws it.
        let alt6 = hisp::store::notify::StoredPatient {
            identifiers: vec![("ALT6".into(), "NORTH".into())],
            ..Default::default()
        };
        let mut conn = a.hisp.conn().await.expect("conn");
        let now = a.hisp.now();
        hisp::store::notify::insert_consent(
            &mut conn,
            a.hisp.store.sealer(),
            "opt-out",
            &alt6,
            now,
        )
        .await
        .expect("opt-out");
        drop(conn);
        let out = harness::ok(&a.cli(&["alert", "digest"]));
        assert!(out.contains("1 digest"), "{e}: {out}");
        assert_eq!(
            audit_details(&a, "alert.withdrawn").await.len(),
            1,
            "{e}: Ann's alert withdrawn by the digest"
        );
        // Bob's alone goes out.
        let inbox = crate::smtp::wait_for(60, "dave's digest", || async {
            let l = a
                .hisp
                .mailbox_list(&dave, hisp::mailbox::INBOX)
                .await
                .expect("list");
            (!l.is_empty()).then_some(l)
        })
        .await;
        assert_eq!(inbox.len(), 1, "{e}");
        let (shown, _) = a
            .hisp
            .mailbox_show(&dave, inbox[0].id, "test")
            .await
            .expect("show");
        let text = shown.text.expect("text");
        assert!(
            text.starts_with("1 encounter notification")
                && text.contains("Lee, Bob")
                && !text.contains("Roe")
                && !text.contains("Poe"),
            "{e}: {text}"
        );
        assert_eq!(count(&a, unsent).await, 0, "{e}");
        a.stop().await;
    }
}

/// A consent decision recorded after a hospital's merge, under either of
/// the merged numbers, holds for both: the hospital's feeds send the
/// survivor, and a late message may still carry the retired number. Lou
/// opts out under the MRN an A40 retired (the number on his older papers),
/// Pia under the first of two merges in a row, Quade under the survivor.
/// Before, the merge moved the roster entry and the patient index to the
/// survivor but kept no trace of the retired number, so Lou's and Pia's
/// opt-outs matched no message and the care manager kept getting their
/// ED alerts, and Lou's sweep found nobody to unfile from the index.
///
/// Only a merge that says for sure two numbers are one person's links
/// them: not an A47 (a wrong number corrected: it may be someone else's),
/// not a survivor from another assigning authority (the message's
/// fallback), and an opt-in is recorded as given (it releases sensitive
/// information, so a merge widens nothing it releases).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_decision_recorded_under_a_merged_number_holds_for_every_number_merged_with_it_on_every_engine()
 {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        roster(
            &a,
            "carol@a.test",
            "L1,NORTH,Lane,Lou,1970-01-01,M,06101,,,\n\
             P1,NORTH,Park,Pia,1971-02-02,F,06102,,,\n\
             Q1,NORTH,Quinn,Quade,1972-03-03,M,06103,,,\n\
             R1,NORTH,Ross,Rita,1973-04-04,F,06104,,,\n\
             W1,NORTH,Webb,Wes,1974-05-05,M,06105,,,\n",
        );
        let merges = [
            ("M1", "A40", "L2^^^NORTH", "L1"),
            ("M2", "A40", "P2^^^NORTH", "P1"),
            ("M3", "A40", "P3^^^NORTH", "P2"),
            ("M4", "A40", "Q2^^^NORTH", "Q1"),
            ("M5", "A40", "R2^^^NORTH", "R1"),
            ("M6", "A47", "W2^^^NORTH", "W1"),
            ("M7", "A40", "X2^^^SOUTH", "X1"),
            ("M8", "A40", "V2^^^NORTH", "V1"),
        ];
        for (control, trigger, survivor, retired) in merges {
            let body = format!("PID|1||{survivor}^MR||X^Y\rMRG|{retired}^^^NORTH");
            assert_eq!(ack_code(&a, &hl7(control, trigger, &body)).await.0, "AA");
            drained(&a).await;
        }
        // The hospital's update files Lou under his new MRN and his SSN.
        let lou = "PID|1||L2^^^NORTH^MR~219456782^^^SSA^SS||Lane^Lou||19700101|M";
        assert_eq!(ack_code(&a, &hl7("U1", "A31", lou)).await.0, "AA");
        drained(&a).await;

        opt_out(&a, "L1", "NORTH");
        opt_out(&a, "P1", "NORTH");
        opt_out(&a, "Q2", "NORTH");
        opt_out(&a, "W1", "NORTH");
        opt_out(&a, "X1", "NORTH");
        harness::ok(&a.cli(&[
            "consent",
            "opt-in",
            "--patient-id",
            "V1",
            "--authority",
            "NORTH",
        ]));
        // Lou's sweep found his person under the survivor and unfiled it.
        assert_eq!(
            audit_details(&a, "consent.sweep").await,
            [
                "0 open review(s) closed; 2 identifier(s) unfiled from the patient index; 0 unsent alert(s) withdrawn"
            ],
            "{e}"
        );
        assert_eq!(
            count(&a, "SELECT COUNT(*) FROM patient_index").await,
            0,
            "{e}"
        );
        let consents = harness::ok(&a.cli(&["consent", "list", "--json"]));
        let consents: serde_json::Value = serde_json::from_str(&consents).expect("json");
        let ids = |value: &str| -> Vec<String> {
            let c = consents
                .as_array()
                .expect("list")
                .iter()
                .find(|c| c["patient"]["identifiers"][0][0] == value)
                .unwrap_or_else(|| panic!("{e}: a decision under {value}: {consents}"));
            let mut ids: Vec<String> = c["patient"]["identifiers"]
                .as_array()
                .expect("identifiers")
                .iter()
                .map(|i| i[0].as_str().unwrap_or("").to_string())
                .collect();
            ids.sort();
            ids
        };
        assert_eq!(ids("L1"), ["219456782", "L1", "L2"], "{e}");
        assert_eq!(ids("P1"), ["P1", "P2", "P3"], "{e}");
        assert_eq!(ids("Q2"), ["Q1", "Q2"], "{e}");
        assert_eq!(ids("W1"), ["W1"], "{e}: an A47 links no one");
        assert_eq!(
            ids("X1"),
            ["X1"],
            "{e}: nor a survivor of another authority"
        );
        assert_eq!(ids("V1"), ["V1"], "{e}: an opt-in is recorded as given");

        for (control, visit, pid) in [
            ("E1", "V1", "PID|1||L2^^^NORTH^MR||Lane^Lou||19700101|M"),
            ("E2", "V2", "PID|1||P3^^^NORTH^MR||Park^Pia||19710202|F"),
            ("E3", "V3", "PID|1||R2^^^NORTH^MR||Ross^Rita||19730404|F"),
            ("E4", "V4", "PID|1||W2^^^NORTH^MR||Webb^Wes||19740505|M"),
        ] {
            let msg = adt(control, "A04", "NORTHHOSP", "E", visit, pid);
            assert_eq!(ack_code(&a, &msg).await.0, "AA", "{e}");
        }
        drained(&a).await;
        let ed = ("carol@a.test".to_string(), "ed".to_string());
        assert_eq!(
            sent(&a).await,
            [ed.clone(), ed],
            "{e}: only Rita, who did not opt out, and Wes, whose opt-out is under a number \
             corrected away, are alerted"
        );
        assert_eq!(
            count(
                &a,
                "SELECT COUNT(*) FROM adt_messages WHERE result = 'opted out'"
            )
            .await,
            2,
            "{e}: Lou's and Pia's visits are withheld as opted out"
        );
        a.stop().await;
    }
}
