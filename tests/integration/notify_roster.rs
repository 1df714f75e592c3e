//! Re-submitting a roster, on every engine: `--replace` keeps the patients
//! the file lists (renewed in place or new) and ends the others, archived
//! like expired entries; it ends nothing when rows were refused (a typo would
//! otherwise take its patient off the roster); and a re-submission renews an
//! entry only for the same patient, never for a namesake born the same day
//! under another number (from any authority), nor one of the other sex;
//! a row by name alone that fits two such namesakes is refused; a row whose
//! end_date has passed ends its patient's entry.

use crate::harness;
use crate::notify_features::count;
use crate::smtp::Node;

const HEADER: &str = "patient_id,assigning_authority,family_name,given_name,birth_date,sex,postal_code,phone,program,end_date\n";

/// Import `rows` for carol with `flags`; the CLI's output (it may fail).
fn import(n: &Node, rows: &str, flags: &[&str]) -> std::process::Output {
    let csv = n.dir.path().join("roster.csv");
    std::fs::write(&csv, format!("{HEADER}{rows}")).expect("csv");
    let path = csv.to_str().expect("path");
    let mut args = vec!["roster", "import", path, "--owner", "carol@a.test"];
    args.extend_from_slice(flags);
    n.cli(&args)
}

/// carol's live entries as (id, family, given, first identifier's value).
fn listed(n: &Node) -> Vec<(i64, String, String, String)> {
    // The owner as a person types it, not as it is stored.
    let out = harness::ok(&n.cli(&["roster", "list", "--owner", "Carol@A.test", "--json"]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).expect("json");
    let mut listed: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().expect("id"),
                r["family_name"].as_str().expect("family").to_owned(),
                r["given_name"].as_str().expect("given").to_owned(),
                r["identifiers"][0][0].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    listed.sort();
    listed
}

fn names(l: &[(i64, String, String, String)]) -> Vec<String> {
    let mut n: Vec<String> = l.iter().map(|(_, f, g, _)| format!("{g} {f}")).collect();
    n.sort();
    n
}

fn id_of(l: &[(i64, String, String, String)], given: &str, value: &str) -> i64 {
    l.iter()
        .find(|(_, _, g, v)| g == given && v == value)
        .map(|e| e.0)
        .expect("listed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replaced_roster_keeps_what_it_lists_and_renews_only_the_same_patient_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        a.start().await;
        let first = "A1,NORTH,Avery,Ann,1980-01-01,F,06101,,,\n\
                     B1,NORTH,Burns,Bob,1970-02-02,M,06102,,,\n\
                     ,,Cole,Cat,1960-03-03,F,06103,,,\n\
                     111,NORTH,Smith,John,1975-05-05,M,06104,,,\n\
                     222,NORTH,Smith,John,1975-05-05,M,06105,,,\n\
                     ,,Lee,Sam,1990-06-06,M,06106,,,\n";
        harness::ok(&import(&a, first, &[]));
        let before = listed(&a);
        assert_eq!(before.len(), 6, "{e}: {before:?}");

        // Re-submitted as is: every entry renewed in place, each John Smith
        // by his own number (same name and birth date, another MRN: another
        // person).
        harness::ok(&import(&a, first, &[]));
        assert_eq!(listed(&a), before, "{e}: renewed in place");
        // A row by name alone that fits both John Smiths is neither: refused,
        // nothing renewed or ended. One that fits Ann renews her entry and
        // keeps her MRN.
        let out = import(
            &a,
            ",,Smith,John,1975-05-05,M,06104,,,\n,,Avery,Ann,1980-01-01,F,06101,,,\n",
            &[],
        );
        let text = harness::stdout(&out);
        assert!(
            text.contains("row 2: : fits 2 roster entries of different patients"),
            "{e}: {text}"
        );
        assert_eq!(listed(&a), before, "{e}: both Johns and Ann's MRN kept");
        // The same name and birth date of the other sex is another person.
        harness::ok(&import(&a, ",,Lee,Sam,1990-06-06,F,06106,,,\n", &[]));
        let now = listed(&a);
        assert_eq!(now.len(), 7, "{e}: {now:?}");
        assert!(now.contains(&before[5]), "{e}: Sam (M) kept his entry");

        // A replacement with a refused row ends nothing, and says so; its
        // valid rows still apply (Dan is new).
        let with_typo = "A1,NORTH,Avery,Ann,1980-01-01,F,06101,,,\n\
                         B1,NORTH,Burns,Bob,1970-02-31,M,06102,,,\n\
                         D1,NORTH,Dunn,Dan,1985-04-04,M,06107,,,\n";
        // Under --strict nothing applies, and the summary counts the one
        // row with a problem (before: every row, as "with problems").
        let out = import(&a, with_typo, &["--strict"]);
        let text = harness::stdout(&out);
        assert!(
            text.contains("3 rows, 0 applied, 1 with problems"),
            "{e}: {text}"
        );
        // Nor does it report Ann's entry ended by a past end date when a
        // row is refused only as it is applied: that was rolled back too.
        let ann_ended = "A1,NORTH,Avery,Ann,1980-01-01,F,06101,,,2020-01-01\n";
        let both_johns = ",,Smith,John,1975-05-05,M,06104,,,\n";
        let out = import(&a, &format!("{ann_ended}{both_johns}"), &["--strict"]);
        let text = harness::stdout(&out);
        assert!(
            text.contains("2 rows, 0 applied, 1 with problems"),
            "{e}: {text}"
        );
        assert!(!text.contains("ended"), "{e}: {text}");
        assert_eq!(listed(&a).len(), 7, "{e}: nothing applied");
        let out = import(&a, with_typo, &["--replace"]);
        let text = harness::stdout(&out);
        assert!(out.status.success(), "{e}: {text}");
        assert!(text.contains("row 3: birth_date"), "{e}: {text}");
        assert!(text.contains("no entry ended"), "{e}: {text}");
        let now = listed(&a);
        assert_eq!(now.len(), 8, "{e}: nothing ended, Dan added: {now:?}");

        // Corrected, it replaces: Ann and Dan renewed, Eve new; the others
        // ended (archived: still stored, matching nothing).
        let fixed = "A1,NORTH,Avery,Ann,1980-01-01,F,06101,,,\n\
                     D1,NORTH,Dunn,Dan,1985-04-04,M,06107,,,\n\
                     E1,NORTH,Eyre,Eve,1995-07-07,F,06108,,,\n";
        let out = harness::ok(&import(&a, fixed, &["--replace"]));
        assert!(
            out.contains("6 entries of patients the file no longer lists ended"),
            "{e}: {out}"
        );
        let after = listed(&a);
        assert_eq!(
            names(&after),
            ["Ann Avery", "Dan Dunn", "Eve Eyre"],
            "{e}: {after:?}"
        );
        assert_eq!(
            id_of(&after, "Ann", "A1"),
            id_of(&before, "Ann", "A1"),
            "{e}: Ann renewed in place"
        );
        assert_eq!(
            id_of(&after, "Dan", "D1"),
            id_of(&now, "Dan", "D1"),
            "{e}: Dan renewed in place"
        );
        assert_eq!(
            count(&a, "SELECT COUNT(*) FROM roster_entries").await,
            9,
            "{e}: the ended entries are archived, not deleted"
        );

        // A replacement that lists only new patients keeps them all.
        let out = harness::ok(&import(
            &a,
            "F1,NORTH,Fox,Fay,1991-08-08,F,06109,,,\n",
            &["--replace"],
        ));
        assert!(out.contains("3 entries of patients"), "{e}: {out}");
        assert_eq!(names(&listed(&a)), ["Fay Fox"], "{e}");

        // An end_date already past ends the patient's entry (she left the
        // programme): not a problem, so a replacement still goes ahead. A
        // past end_date for someone not on the roster enrols nobody.
        let out = harness::ok(&import(
            &a,
            "F1,NORTH,Fox,Fay,1991-08-08,F,06109,,,2020-01-31
             G1,NORTH,Gale,Gus,1992-09-09,M,06110,,,
             H1,NORTH,Hart,Hal,1993-10-10,M,06111,,,1/31/2020
",
            &["--replace"],
        ));
        assert!(out.contains("3 rows, 3 applied"), "{e}: {out}");
        assert!(
            out.contains("1 entries ended: their rows' end_date has passed"),
            "{e}: {out}"
        );
        assert!(!out.contains("no entry ended"), "{e}: {out}");
        assert_eq!(names(&listed(&a)), ["Gus Gale"], "{e}");
    }
}

/// A row under one authority's identifier never renews an entry holding
/// another's (a practice's number and a hospital's MRN for one name and
/// birth date may be one person or two namesakes): each stays its own entry
/// under its own number, re-submitting the file changes nothing, and a
/// replacement that lists only one ends the other. Before, the SOUTH row
/// renewed the NORTH entry and took it over, the NORTH row made a second
/// entry holding 111, and every ADT under 111 then went to review.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_row_under_another_authority_renews_no_entry_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        a.start().await;
        let north = "111,NORTH,Smith,John,1975-05-05,M,06104,,,\n";
        let south = "222,SOUTH,Smith,John,1975-05-05,M,06104,,,\n";
        harness::ok(&import(&a, north, &[]));
        let first = id_of(&listed(&a), "John", "111");
        let both = format!("{south}{north}");
        harness::ok(&import(&a, &both, &[]));
        let now = listed(&a);
        assert_eq!(now.len(), 2, "{e}: {now:?}");
        assert_eq!(id_of(&now, "John", "111"), first, "{e}: renewed in place");
        let out = harness::ok(&a.cli(&["roster", "list", "--json"]));
        let rows: Vec<serde_json::Value> = serde_json::from_str(&out).expect("json");
        for r in &rows {
            assert_eq!(
                r["identifiers"].as_array().map(Vec::len),
                Some(1),
                "{e}: each entry holds its own number only: {out}"
            );
        }
        harness::ok(&import(&a, &both, &[]));
        assert_eq!(listed(&a), now, "{e}: re-submitted, nothing changes");
        // A row by name alone fits both: refused.
        let out = import(&a, ",,Smith,John,1975-05-05,M,06104,,,\n", &[]);
        assert!(
            harness::stdout(&out).contains("fits 2 roster entries of different patients"),
            "{e}: {}",
            harness::stdout(&out)
        );
        // An end_date past for SOUTH's row ends SOUTH's entry only.
        harness::ok(&import(
            &a,
            "222,SOUTH,Smith,John,1975-05-05,M,06104,,,2020-01-31\n",
            &[],
        ));
        let left = listed(&a);
        assert_eq!(left.len(), 1, "{e}: {left:?}");
        assert_eq!(id_of(&left, "John", "111"), first, "{e}");
        // A replacement listing only SOUTH's number ends NORTH's entry.
        let out = harness::ok(&import(&a, south, &["--replace"]));
        assert!(out.contains("1 entries of patients"), "{e}: {out}");
        let left = listed(&a);
        assert_eq!(left.len(), 1, "{e}: {left:?}");
        assert_eq!(left[0].3, "222", "{e}: {left:?}");
    }
}

/// A refresh that leaves optional columns out (the six required ones
/// alone) renews each entry without clearing what it stored for them: the
/// ZIP and phone that corroborate a match, the program, the end date. A
/// column the file names, left blank, still clears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_without_the_optional_columns_keeps_what_the_entries_stored_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        a.start().await;
        harness::ok(&import(
            &a,
            "A1,NORTH,Avery,Ann,1980-01-01,F,06101,2035550101,BH-1,2099-06-30\n",
            &[],
        ));
        // As stored: the listing does not show the ZIP and phone.
        let entry = || async {
            let mut conn = a.hisp.conn().await.expect("conn");
            let now = a.hisp.now();
            let rows = hisp::store::notify::entries(&mut conn, a.hisp.store.sealer(), None, now)
                .await
                .expect("entries");
            assert_eq!(rows.len(), 1, "{e}");
            let r = &rows[0];
            serde_json::json!({
                "id": r.id,
                "postal_code": r.patient.postal_code,
                "phone": r.patient.phone,
                "program": r.program,
                "end_date": r.end_date,
            })
        };
        let before = entry().await;
        assert_eq!(
            (
                &before["postal_code"],
                &before["phone"],
                &before["end_date"]
            ),
            (
                &serde_json::json!("06101"),
                &serde_json::json!("2035550101"),
                &serde_json::json!("2099-06-30")
            ),
            "{e}: {before}"
        );
        let csv = a.dir.path().join("refresh.csv");
        std::fs::write(
            &csv,
            "patient_id,assigning_authority,family_name,given_name,birth_date,sex\n\
             A1,NORTH,Avery,Ann,1980-01-01,F\n",
        )
        .expect("csv");
        let path = csv.to_str().expect("path");
        harness::ok(&a.cli(&["roster", "import", path, "--owner", "carol@a.test"]));
        let after = entry().await;
        assert_eq!(after["id"], before["id"], "{e}: renewed in place");
        for field in ["postal_code", "phone", "program", "end_date"] {
            assert_eq!(after[field], before[field], "{e}: {field}: {after}");
        }
        assert_eq!(after["program"], "BH-1", "{e}: {after}");
        // Named and left blank: cleared.
        harness::ok(&import(&a, "A1,NORTH,Avery,Ann,1980-01-01,F,,,,\n", &[]));
        let cleared = entry().await;
        for field in ["postal_code", "phone", "program", "end_date"] {
            assert!(cleared[field].is_null(), "{e}: {field}: {cleared}");
        }
        a.stop().await;
    }
}

/// A row that gives its patient's identifier renews the entry under it,
/// even when an entry another patient's name and birth date fit (a name-only
/// entry of a Jane Smith born the same day) is on the roster too: that
/// entry is left as it is. Before, the row was refused, asking for the
/// identifier it gave, and neither entry was renewed. A header-only file
/// does not replace the roster: it would end every entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_with_an_identifier_renews_its_entry_beside_a_namesake_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        a.start().await;
        harness::ok(&import(
            &a,
            "111,NORTH,Doe,Jane,1980-01-02,F,06101,,,\n,,Smith,Jane,1980-01-02,F,06101,,,\n",
            &[],
        ));
        let before = listed(&a);
        assert_eq!(before.len(), 2, "{e}: {before:?}");
        let doe = id_of(&before, "Jane", "111");
        let namesake = id_of(&before, "Jane", "");
        // She married: the hospital's number, her new name; and the
        // namesake's row, now under a number of her own.
        let rows = "111,NORTH,Smith,Jane,1980-01-02,F,06101,,,\n\
                    222,NORTH,Smith,Jane,1980-01-02,F,06101,,,\n";
        let out = import(&a, rows, &[]);
        let stdout = harness::stdout(&out);
        assert!(out.status.success(), "{e}: {stdout}");
        assert!(
            stdout.contains("2 rows, 2 applied, 0 with problems"),
            "{e}: {stdout}"
        );
        let after = listed(&a);
        assert_eq!(after.len(), 2, "{e}: no twin: {after:?}");
        assert_eq!(id_of(&after, "Jane", "111"), doe, "{e}: renewed in place");
        assert_eq!(id_of(&after, "Jane", "222"), namesake, "{e}: {after:?}");
        assert!(
            after.iter().all(|(_, f, _, _)| f == "Smith"),
            "{e}: {after:?}"
        );

        // A header-only file with --replace: refused, nothing ended.
        let out = import(&a, "", &["--replace"]);
        harness::fails(&out, 1, "the file has no rows");
        assert_eq!(listed(&a), after, "{e}");
    }
}
