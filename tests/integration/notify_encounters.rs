//! Encounters over real MLLP on every engine: which messages are one visit
//! and when a visit's episode is over. A placeholder visit number ("0",
//! "UNKNOWN") keys no encounter, so two patients' ED visits under it both
//! alert; a visit number reused after a discharge (a readmission to the same
//! account) alerts again, a replay of the first admission does not; an ED
//! visit with no discharge closes after 48 hours (STANDARDS §7); a visit
//! cancelled and registered again under another number alerts again. Only visits
//! that matter to a care manager alert (not an outpatient lab draw), and a
//! local patient class ("ER") is mapped.

use crate::harness;
use crate::notify::ack_code;
use crate::notify_features::{drained, roster};
use crate::smtp::{Node, wait_for};
use hisp::mailbox::INBOX;

/// An ADT from NORTHHOSP: `pv1` is the PV1 segment's fields after PV1-1.
fn adt(control: &str, trigger: &str, at: &str, pid: &str, pv1: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|{at}||ADT^{trigger}^ADT_A01|{control}|P|2.5.1\r\
         EVN|{trigger}|{at}\r{pid}\rPV1|1|{pv1}\r"
    )
    .into_bytes()
}

/// PV1-2 `class`, PV1-3 an ED bay, PV1-19 `visit`, PV1-44 `admitted`.
fn pv1(class: &str, visit: &str, admitted: &str) -> String {
    let mut fields = vec![""; 43];
    fields[0] = class;
    fields[1] = "ED^1^A^NORTHHOSP";
    fields[17] = visit;
    fields[42] = admitted;
    fields.join("|")
}

/// An inpatient PV1 for `visit`: PV1-3 `to`, PV1-6 `from` (where the
/// patient was, or for an A12 where the cancelled move went).
fn inpatient(visit: &str, from: &str, to: &str) -> String {
    let mut fields = vec![""; 43];
    fields[0] = "I";
    fields[1] = to;
    fields[4] = from;
    fields[17] = visit;
    fields.join("|")
}

const JANE: &str = "PID|1||MRN1^^^NORTH^MR||Doe^Jane||19800102|F";
const JOHN: &str = "PID|1||MRN2^^^NORTH^MR||Roe^John||19700304|M";

/// The alerts filed, as (subscriber, event, the message's EVN-2, change key),
/// oldest first.
async fn filed(n: &Node) -> Vec<(String, String, String)> {
    keyed(n)
        .await
        .into_iter()
        .map(|(s, e, t, _)| (s, e, t))
        .collect()
}

async fn keyed(n: &Node) -> Vec<(String, String, String, String)> {
    let mut conn = n.hisp.conn().await.expect("conn");
    sqlx::query_as(
        "SELECT subscriber, event, COALESCE(event_time, ''), change_key FROM alerts ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("alerts")
}

/// The alerts filed for events at or after `since` (an EVN-2 prefix), as
/// (change key, EVN-2), oldest first.
async fn keys_since(n: &Node, since: &str) -> Vec<(String, String)> {
    keyed(n)
        .await
        .into_iter()
        .filter(|r| r.2.as_str() >= since)
        .map(|r| (r.3, r.2))
        .collect()
}

/// Owned pairs, to compare with [`keys_since`].
fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, t)| ((*k).to_string(), (*t).to_string()))
        .collect()
}

/// Send `m` over MLLP: it must be acknowledged AA, and is processed
/// before this returns.
async fn taken(n: &Node, e: &str, m: Vec<u8>) {
    assert_eq!(ack_code(n, &m).await.0, "AA", "{e}");
    drained(n).await;
}

/// A started node with feed NORTHHOSP and Jane (MRN1 at NORTH) on dave's
/// roster.
async fn jane_on_daves_roster(url: Option<String>) -> Node {
    let mut a = Node::new("a.test", false, url).await;
    a.address("dave").await;
    a.start().await;
    harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
    roster(&a, "dave@a.test", "MRN1,NORTH,Doe,Jane,1980-01-02,F,,,,\n");
    a
}

fn row(who: &str, event: &str, at: &str) -> (String, String, String) {
    (who.to_string(), event.to_string(), at.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn visits_are_told_apart_and_their_episodes_end_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        a.address("dave").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        roster(&a, "carol@a.test", "MRN1,NORTH,Doe,Jane,1980-01-02,F,,,,\n");
        roster(&a, "dave@a.test", "MRN2,NORTH,Roe,John,1970-03-04,M,,,,\n");
        let send = |m: Vec<u8>| taken(&a, e, m);

        // 1. Both patients come to the ED the same morning, and the hospital
        // sends "UNKNOWN" as both visit numbers. Jane's discharge (same
        // admit time) belongs to her visit, and her visit's retraction
        // cancels her visit only.
        let t1 = "202611220800";
        let t2 = "202611220815";
        send(adt("P1", "A04", t1, JANE, &pv1("E", "UNKNOWN", t1))).await;
        send(adt("P2", "A04", t2, JOHN, &pv1("E", "UNKNOWN", t2))).await;
        send(adt(
            "P3",
            "A03",
            "202611221100",
            JANE,
            &pv1("E", "UNKNOWN", t1),
        ))
        .await;
        let mut want = vec![
            row("carol@a.test", "ed", t1),
            row("dave@a.test", "ed", t2),
            row("carol@a.test", "discharge", "202611221100"),
        ];
        assert_eq!(filed(&a).await, want, "{e}: placeholder visit numbers");

        // 2. Jane's visit V1: ED, discharged, then readmitted to the same
        // account the next day (within 48 hours of the ED visit, so the
        // discharge is what ends the episode; the replay, timed before the
        // discharge, must not undo it). A replay of the first registration or
        // discharge under a new control id is not news; the readmission is,
        // and so is its discharge.
        let v1 = |class: &str| pv1(class, "V1", "");
        send(adt("R1", "A04", "202611230900", JANE, &v1("E"))).await;
        send(adt("R2", "A03", "202611231200", JANE, &v1("E"))).await;
        send(adt("R3", "A04", "202611230900", JANE, &v1("E"))).await;
        send(adt("R4", "A01", "202611241000", JANE, &v1("I"))).await;
        send(adt("R5", "A01", "202611241000", JANE, &v1("I"))).await;
        // The first visit's discharge replayed during the readmission: its
        // episode is over, and she is still in hospital.
        send(adt("R7", "A03", "202611231200", JANE, &v1("E"))).await;
        // Her ED registration of that morning, which led to the readmission,
        // arrives after it: late, but after the first visit closed, so it
        // is the new episode's ED visit, not a replay.
        send(adt("R8", "A04", "202611240900", JANE, &v1("E"))).await;
        send(adt("R6", "A03", "202611261000", JANE, &v1("I"))).await;
        want.extend([
            row("carol@a.test", "ed", "202611230900"),
            row("carol@a.test", "discharge", "202611231200"),
            row("carol@a.test", "admit", "202611241000"),
            row("carol@a.test", "ed", "202611240900"),
            row("carol@a.test", "discharge", "202611261000"),
        ]);
        assert_eq!(filed(&a).await, want, "{e}: a readmission to the account");

        // 3. John's ED visit V2 never sees a discharge. The registration
        // sent again the same day is not news; 49 hours on, the visit is
        // closed and a registration under its number is a new ED visit.
        let v2 = pv1("E", "V2", "");
        send(adt("E1", "A04", "202611300800", JOHN, &v2)).await;
        send(adt("E2", "A04", "202611301900", JOHN, &v2)).await;
        send(adt("E3", "A04", "202612020900", JOHN, &v2)).await;
        want.extend([
            row("dave@a.test", "ed", "202611300800"),
            row("dave@a.test", "ed", "202612020900"),
        ]);
        assert_eq!(filed(&a).await, want, "{e}: an ED visit open 48 hours");

        // 4. A cancellation of the new visit retracts that one alone.
        send(adt("E4", "A11", "202612021000", JOHN, &v2)).await;
        want.push(row("dave@a.test", "retraction", "202612021000"));
        assert_eq!(filed(&a).await, want, "{e}: the retraction");
        let keys: Vec<String> = keyed(&a)
            .await
            .into_iter()
            .filter(|x| x.0 == "dave@a.test")
            .map(|x| x.3)
            .collect();
        assert_eq!(keys, ["ed#1", "ed#1", "ed#2", "retract:ed#2"], "{e}");

        // 5. An outpatient visit (a lab draw) is not news, registered or
        // ended; an ED visit under a local class ("ER") is.
        let lab = pv1("OUTPATIENT", "V3", "");
        send(adt("O1", "A04", "202612031000", JANE, &lab)).await;
        send(adt("O2", "A03", "202612031030", JANE, &lab)).await;
        send(adt("O3", "A04", "202612041000", JANE, &pv1("ER", "V4", ""))).await;
        want.push(row("carol@a.test", "ed", "202612041000"));
        assert_eq!(filed(&a).await, want, "{e}: patient classes");

        // 6. A registration cancelled under one number and made again under
        // another with the same event time: the first was retracted, so the
        // second is news, not a duplicate of it.
        let t = "202612051000";
        send(adt("N1", "A04", t, JOHN, &pv1("E", "V5", ""))).await;
        send(adt("N2", "A11", "202612051005", JOHN, &pv1("E", "V5", ""))).await;
        send(adt("N3", "A04", t, JOHN, &pv1("E", "V6", ""))).await;
        // The same registration sent again under a third number is one.
        send(adt("N4", "A04", t, JOHN, &pv1("E", "V7", ""))).await;
        want.extend([
            row("dave@a.test", "ed", t),
            row("dave@a.test", "retraction", "202612051005"),
            row("dave@a.test", "ed", t),
        ]);
        assert_eq!(filed(&a).await, want, "{e}: registered again");

        // 7. An inpatient stay moved between the system's hospitals and
        // back (one feed, one visit number): each move into another
        // hospital is news, a return to one already left included; the
        // moves replayed are not; an A12 cancels the latest.
        let moved = |from: &str, to: &str| inpatient("V8", from, to);
        let (north, south) = ("W^1^A^NORTHHOSP", "W^2^B^SOUTHHOSP");
        send(adt("T1", "A01", "202612060800", JANE, &moved("", north))).await;
        send(adt("T2", "A02", "202612061000", JANE, &moved(north, south))).await;
        send(adt("T3", "A02", "202612071000", JANE, &moved(south, north))).await;
        send(adt("T4", "A02", "202612081000", JANE, &moved(north, south))).await;
        // The first two moves sent again, and the last one.
        send(adt("T5", "A02", "202612061000", JANE, &moved(north, south))).await;
        send(adt("T6", "A02", "202612071000", JANE, &moved(south, north))).await;
        send(adt("T7", "A02", "202612081000", JANE, &moved(north, south))).await;
        send(adt("T8", "A12", "202612081100", JANE, &moved("", north))).await;
        // Then the move before it is cancelled too (PV1-3 where she was
        // before it, PV1-6.4 where it went): she is back at SOUTH.
        send(adt("T9", "A12", "202612081200", JANE, &moved(north, south))).await;
        // The first A12 replayed under a new control id: not news, though
        // SOUTH's first move is live again (it would retract that one).
        send(adt("T8b", "A12", "202612081100", JANE, &moved("", north))).await;
        // And the first move (into SOUTH) as well, in the same minute: a
        // retraction of its own generation, not the last move's again.
        send(adt(
            "T10",
            "A12",
            "202612081200",
            JANE,
            &moved(south, north),
        ))
        .await;
        want.extend([
            row("carol@a.test", "admit", "202612060800"),
            row("carol@a.test", "transfer", "202612061000"),
            row("carol@a.test", "transfer", "202612071000"),
            row("carol@a.test", "transfer", "202612081000"),
            row("carol@a.test", "retraction", "202612081100"),
            row("carol@a.test", "retraction", "202612081200"),
            row("carol@a.test", "retraction", "202612081200"),
        ]);
        assert_eq!(filed(&a).await, want, "{e}: transfers and a return");
        let keys: Vec<String> = keyed(&a)
            .await
            .into_iter()
            .filter(|x| x.2.starts_with("20261208"))
            .map(|x| x.3)
            .collect();
        assert_eq!(
            keys,
            [
                "transfer:southhosp#2",
                "retract:transfer:southhosp#2",
                "retract:transfer:northhosp#1",
                "retract:transfer:southhosp#1"
            ],
            "{e}"
        );

        // 8. A stay moved SOUTH and back to NORTH, discharged, readmitted
        // under the same number, moved to SOUTH again and that move
        // cancelled: the first stay's SOUTH is not where she is, so the
        // move to SOUTH made again (in the cancellation's minute) is news.
        let moved = |from: &str, to: &str| inpatient("V9", from, to);
        send(adt("U1", "A01", "202612100800", JANE, &moved("", north))).await;
        send(adt("U2", "A02", "202612101000", JANE, &moved(north, south))).await;
        send(adt("U3", "A02", "202612101100", JANE, &moved(south, north))).await;
        send(adt("U4", "A03", "202612101200", JANE, &moved("", north))).await;
        send(adt("U5", "A01", "202612110800", JANE, &moved("", north))).await;
        send(adt("U6", "A02", "202612111000", JANE, &moved(north, south))).await;
        send(adt("U7", "A12", "202612111010", JANE, &moved("", north))).await;
        // The cancelled move replayed under a new control id is not news.
        send(adt(
            "U6b",
            "A02",
            "202612111000",
            JANE,
            &moved(north, south),
        ))
        .await;
        send(adt("U8", "A02", "202612111010", JANE, &moved(north, south))).await;
        let keys: Vec<(String, String)> = keyed(&a)
            .await
            .into_iter()
            .filter(|x| x.2.starts_with("2026121"))
            .map(|x| (x.3, x.2))
            .collect();
        let want: Vec<(String, String)> = [
            ("admit#1", "202612100800"),
            ("transfer:southhosp#1", "202612101000"),
            ("transfer:northhosp#1", "202612101100"),
            ("discharge#1", "202612101200"),
            ("admit#2", "202612110800"),
            ("transfer:southhosp#2", "202612111000"),
            ("retract:transfer:southhosp#2", "202612111010"),
            ("transfer:southhosp#3", "202612111010"),
        ]
        .iter()
        .map(|(k, t)| ((*k).to_string(), (*t).to_string()))
        .collect();
        assert_eq!(keys, want, "{e}: a move made again after its cancellation");
        a.stop().await;
    }
}

/// Import `rows` as `owner`'s whole roster (`--replace`): entries of
/// patients it no longer lists end.
fn replace_roster(n: &Node, owner: &str, rows: &str, ended: u32) {
    let csv = n.dir.path().join(format!("replace-{owner}.csv"));
    std::fs::write(
        &csv,
        format!(
            "patient_id,assigning_authority,family_name,given_name,birth_date,sex,postal_code,phone,program,end_date\n{rows}"
        ),
    )
    .expect("csv");
    let path = csv.to_str().expect("path");
    let out = harness::ok(&n.cli(&["roster", "import", path, "--owner", owner, "--replace"]));
    let said = format!(", {ended} entries of patients the file no longer lists ended");
    assert!(out.contains(&said), "{out}");
}

/// `rows` with each message's alerts (a run of one event time) in
/// subscriber order: one message's alerts are filed in either order.
fn by_message(mut rows: Vec<(String, String, String)>) -> Vec<(String, String, String)> {
    let mut start = 0;
    while start < rows.len() {
        let at = rows[start].2.clone();
        let end = start + rows[start..].iter().take_while(|r| r.2 == at).count();
        rows[start..end].sort();
        start = end;
    }
    rows
}

/// Each retraction's (subscriber, program, sent), oldest first.
async fn retractions(n: &Node) -> Vec<(String, Option<String>, bool)> {
    let mut conn = n.hisp.conn().await.expect("conn");
    let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT subscriber, program, message_id FROM alerts WHERE event = 'retraction' ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("alerts");
    rows.into_iter()
        .map(|(s, p, m)| (s, p, m.is_some()))
        .collect()
}

/// A cancellation reaches whoever was told of what it cancels though their
/// roster no longer lists the patient: the entry ended by `--replace`, or
/// since purged. A practice never told of the cancelled change hears
/// nothing, and an opt-out recorded under the number only a dropped entry
/// links to the patient still holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retraction_reaches_whoever_was_told_though_their_roster_dropped_the_patient_on_every_engine()
 {
    const ANN: &str = "PID|1||MRN3^^^NORTH^MR||Poe^Ann||19900506|F|||1 Main St^^Hartford^CT^06101";
    const JANE_ROW: &str = "MRN1,NORTH,Doe,Jane,1980-01-02,F,,,BH-1,\n";
    const JOHN_ROW: &str = "MRN2,NORTH,Roe,John,1970-03-04,M,,,BH-2,\n";
    const ANN_ROW: &str = "P33,CAROLPRAC,Poe,Ann,1990-05-06,F,06101,,,\n";
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.address("carol").await;
        a.address("dave").await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        roster(&a, "carol@a.test", &format!("{JANE_ROW}{JOHN_ROW}"));
        roster(
            &a,
            "dave@a.test",
            "MRN1,NORTH,Doe,Jane,1980-01-02,F,,,,\nMRN2,NORTH,Roe,John,1970-03-04,M,,,,\n",
        );
        let send = |m: Vec<u8>| taken(&a, e, m);

        // 1. Jane is admitted; both practices are told. Carol's practice
        // then drops her; the discharge goes to dave alone, and so does its
        // cancellation. The admission's cancellation goes to both: carol
        // holds that notice, though her roster no longer lists Jane.
        let v1 = inpatient("V1", "", "W^1^A^NORTHHOSP");
        send(adt("A1", "A01", "202612010800", JANE, &v1)).await;
        replace_roster(&a, "carol@a.test", JOHN_ROW, 1);
        send(adt("A2", "A03", "202612021000", JANE, &v1)).await;
        send(adt("A3", "A13", "202612021100", JANE, &v1)).await;
        send(adt("A4", "A11", "202612021200", JANE, &v1)).await;
        let mut want = vec![
            row("carol@a.test", "admit", "202612010800"),
            row("dave@a.test", "admit", "202612010800"),
            row("dave@a.test", "discharge", "202612021000"),
            row("dave@a.test", "retraction", "202612021100"),
            row("carol@a.test", "retraction", "202612021200"),
            row("dave@a.test", "retraction", "202612021200"),
        ];
        assert_eq!(
            by_message(filed(&a).await),
            want,
            "{e}: a dropped patient's admission cancelled"
        );
        let program = |p: &str| Some(p.to_string());
        let mut told = retractions(&a).await;
        told[1..3].sort();
        assert_eq!(
            told,
            [
                ("dave@a.test".to_string(), None, true),
                ("carol@a.test".to_string(), program("BH-1"), true),
                ("dave@a.test".to_string(), None, true),
            ],
            "{e}: under the entry the admission matched, and sent"
        );

        // 2. John comes to the ED; then both practices drop him, and carol's
        // ended entry is purged. No roster lists him when his visit is
        // cancelled: dave hears of it under his ended entry, which is John
        // for sure. Carol's purged entry can no longer say the cancellation
        // names the patient she was told of, so she is sent nothing.
        let v2 = pv1("E", "V2", "");
        send(adt("B1", "A04", "202612030800", JOHN, &v2)).await;
        replace_roster(&a, "carol@a.test", ANN_ROW, 1);
        replace_roster(
            &a,
            "dave@a.test",
            "MRN3,NORTH,Poe,Ann,1990-05-06,F,,,,\n",
            2,
        );
        let mut conn = a.hisp.conn().await.expect("conn");
        let carol_john: i64 = sqlx::query_scalar(
            "SELECT roster_entry_id FROM alerts WHERE subscriber = 'carol@a.test' ORDER BY id DESC LIMIT 1",
        )
        .fetch_one(&mut *conn)
        .await
        .expect("carol's alert");
        let deleted = sqlx::query("DELETE FROM roster_entries WHERE id = $1")
            .bind(carol_john)
            .execute(&mut *conn)
            .await
            .expect("purge")
            .rows_affected();
        assert_eq!(deleted, 1, "{e}");
        drop(conn);
        send(adt("B2", "A11", "202612030900", JOHN, &v2)).await;
        want.extend([
            row("carol@a.test", "ed", "202612030800"),
            row("dave@a.test", "ed", "202612030800"),
            row("dave@a.test", "retraction", "202612030900"),
        ]);
        assert_eq!(
            by_message(filed(&a).await),
            want,
            "{e}: on nobody's roster any more"
        );

        // 3. Ann, whom carol's practice knows by its own number, comes to
        // the ED and then opts out under that number; carol drops her. The
        // cancellation's message names only the hospital's MRN, but carol's
        // dropped entry links it to the opt-out: no one hears of it.
        let v3 = pv1("E", "V3", "");
        send(adt("C1", "A04", "202612040800", ANN, &v3)).await;
        want.extend([
            row("carol@a.test", "ed", "202612040800"),
            row("dave@a.test", "ed", "202612040800"),
        ]);
        assert_eq!(by_message(filed(&a).await), want, "{e}: Ann's ED visit");
        harness::ok(&a.cli(&[
            "consent",
            "opt-out",
            "--patient-id",
            "P33",
            "--authority",
            "CAROLPRAC",
        ]));
        replace_roster(&a, "carol@a.test", JOHN_ROW, 1);
        send(adt("C2", "A11", "202612040900", ANN, &v3)).await;
        assert_eq!(
            by_message(filed(&a).await),
            want,
            "{e}: opted out under a dropped entry's number"
        );

        // 4. John comes to the ED again (carol lists him again); carol then
        // drops him, and the hospital moves the visit to Jane (A45: it was
        // hers, registered on the wrong record) and cancels it. Carol was
        // told of the visit, but of John: a retraction would carry Jane's
        // name to her. No one is sent one.
        let v4 = pv1("E", "V4", "");
        send(adt("D1", "A04", "202612050800", JOHN, &v4)).await;
        want.push(row("carol@a.test", "ed", "202612050800"));
        assert_eq!(by_message(filed(&a).await), want, "{e}: John's ED visit");
        let zoe = "Z1,CAROLPRAC,Zed,Zoe,1999-09-09,F,,,,\n";
        replace_roster(&a, "carol@a.test", zoe, 1);
        let moved = format!("{JANE}\rMRG|MRN2^^^NORTH^MR||||V4");
        send(adt("D2", "A45", "202612050900", &moved, &v4)).await;
        send(adt("D3", "A11", "202612050930", JANE, &v4)).await;
        assert_eq!(
            by_message(filed(&a).await),
            want,
            "{e}: a visit moved to another patient"
        );
        a.stop().await;
    }
}

/// Who was told of a change, as a cancellation finds them, may since have
/// gone: a removed practice (its alerts kept under a tombstone owner, no
/// address) is passed over, not a failure that holds the feed; a disabled
/// one is not sent to. One whose roster now only nearly matches the patient
/// (another patient of theirs) is sent the retraction directly, not a
/// review that would rightly be rejected and leave them the wrong notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retraction_passes_over_a_removed_practice_and_tells_a_near_miss_directly_on_every_engine()
 {
    const JANE_ROW: &str = "MRN1,NORTH,Doe,Jane,1980-01-02,F,,,,\n";
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        for who in ["carol", "dave", "erin", "fay"] {
            a.address(who).await;
        }
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        for who in ["carol", "dave", "erin", "fay"] {
            roster(&a, &format!("{who}@a.test"), JANE_ROW);
        }
        let v1 = inpatient("V1", "", "W^1^A^NORTHHOSP");
        assert_eq!(
            ack_code(&a, &adt("A1", "A01", "202612010800", JANE, &v1))
                .await
                .0,
            "AA"
        );
        drained(&a).await;
        let admitted: Vec<_> = ["carol", "dave", "erin", "fay"]
            .iter()
            .map(|w| row(&format!("{w}@a.test"), "admit", "202612010800"))
            .collect();
        assert_eq!(by_message(filed(&a).await), admitted, "{e}");

        // Erin's practice deletes its mail, then its address is removed:
        // her alerts stay, under a tombstone owner.
        let erin = hisp::direct::DirectAddress::parse("erin@a.test").expect("addr");
        wait_for(60, "erin's admission alert", || async {
            let l = a.hisp.mailbox_list(&erin, INBOX).await.expect("list");
            (!l.is_empty()).then_some(())
        })
        .await;
        let mut conn = a.hisp.conn().await.expect("conn");
        sqlx::query(
            "DELETE FROM mailbox WHERE address_id = (SELECT id FROM addresses WHERE address = 'erin@a.test')",
        )
        .execute(&mut *conn)
        .await
        .expect("mail deleted");
        drop(conn);
        harness::ok(&a.cli(&["address", "remove", "erin@a.test"]));
        harness::ok(&a.cli(&["address", "disable", "fay@a.test"]));
        // Carol's practice now lists another Jane Doe born the same day,
        // by its own number: a near miss of the hospital's Jane.
        replace_roster(
            &a,
            "carol@a.test",
            "Q9,CAROLPRAC,Doe,Jane,1980-01-02,F,,,,\n",
            1,
        );
        assert_eq!(
            ack_code(&a, &adt("A2", "A11", "202612011000", JANE, &v1))
                .await
                .0,
            "AA"
        );
        drained(&a).await;
        let mut conn = a.hisp.conn().await.expect("conn");
        let (result, attempts): (Option<String>, i64) =
            sqlx::query_as("SELECT result, attempts FROM adt_messages WHERE control_id = 'A2'")
                .fetch_one(&mut *conn)
                .await
                .expect("row");
        let reviews: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM match_reviews")
            .fetch_one(&mut *conn)
            .await
            .expect("reviews");
        drop(conn);
        assert_eq!((attempts, reviews), (1, 0), "{e}: {result:?}");
        let filed = by_message(filed(&a).await);
        // The removed practice's admission is kept under its tombstone.
        let kept: Vec<_> = admitted
            .iter()
            .filter(|r| !r.0.starts_with("erin"))
            .collect();
        assert_eq!(
            filed[..3].iter().collect::<Vec<_>>(),
            kept,
            "{e}: {filed:?}"
        );
        let (tomb, event, _) = &filed[3];
        assert!(
            tomb.starts_with("removed:") && tomb.ends_with(":erin@a.test") && event == "admit",
            "{e}: {filed:?}"
        );
        let mut rest = filed[4..].to_vec();
        rest.sort();
        assert_eq!(
            rest,
            [
                row("carol@a.test", "retraction", "202612011000"),
                row("dave@a.test", "retraction", "202612011000"),
            ],
            "{e}: {filed:?}"
        );
        a.stop().await;
    }
}

/// A subscriber gone back from the daily digest to real time still has the
/// admission filed for their last digest, unsent, when its cancellation
/// comes: the retraction waits in that digest too, so that it cannot arrive
/// before the alert it takes back. Before, it went out at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retraction_of_an_alert_still_in_a_digest_waits_with_it_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = jane_on_daves_roster(url).await;
        let mode = |m: &str| crate::notify_features::delivery(&a, "dave@a.test", m);
        mode("digest");
        let v1 = inpatient("V1", "", "W^1^A^NORTHHOSP");
        let send = |m: Vec<u8>| taken(&a, e, m);
        send(adt("A1", "A01", "202612010800", JANE, &v1)).await;
        mode("realtime");
        send(adt("A2", "A11", "202612010900", JANE, &v1)).await;
        let sent = |n: &Node| {
            let n = n.hisp.clone();
            async move {
                let mut conn = n.conn().await.expect("conn");
                sqlx::query_as::<_, (String, Option<String>)>(
                    "SELECT event, message_id FROM alerts ORDER BY id",
                )
                .fetch_all(&mut *conn)
                .await
                .expect("alerts")
            }
        };
        let filed = sent(&a).await;
        assert_eq!(
            filed,
            [
                ("admit".to_string(), None),
                ("retraction".to_string(), None)
            ],
            "{e}: both wait for the last digest"
        );
        let out = harness::ok(&a.cli(&["alert", "digest"]));
        assert!(out.contains("1 digest"), "{e}: {out}");
        let filed = sent(&a).await;
        assert!(
            filed[0].1.is_some() && filed[0].1 == filed[1].1,
            "{e}: one digest carries both: {filed:?}"
        );
        a.stop().await;
    }
}

/// A registration (A04) without a class, or an obstetric one, is told as
/// an admission; an A01 of the same class after it is that visit again,
/// and the inpatient admission that follows (A06) is told too, not taken
/// for it. Its cancellation (A11) takes back the admission.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_registration_leaves_the_inpatient_admission_news_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = jane_on_daves_roster(url).await;
        let send = |m: Vec<u8>| taken(&a, e, m);
        send(adt("R1", "A04", "202612010800", JANE, &pv1("", "V1", ""))).await;
        send(adt("R2", "A01", "202612010830", JANE, &pv1("", "V1", ""))).await;
        let admitted = inpatient("V1", "", "W^1^A^NORTHHOSP");
        send(adt("R3", "A06", "202612010900", JANE, &admitted)).await;
        send(adt("R4", "A11", "202612010930", JANE, &admitted)).await;
        assert_eq!(
            filed(&a).await,
            [
                row("dave@a.test", "admit", "202612010800"),
                row("dave@a.test", "admit", "202612010900"),
                row("dave@a.test", "retraction", "202612010930"),
            ],
            "{e}: registered, then admitted, and that cancelled"
        );
        let keys: Vec<String> = keyed(&a).await.into_iter().map(|r| r.3).collect();
        assert_eq!(
            keys,
            ["registration#1", "admit#1", "retract:admit#1"],
            "{e}"
        );
        a.stop().await;
    }
}

/// An A11 or A13 sent again under a new control id (an engine replaying its
/// queue) carries its first time: it takes back nothing more, though what
/// it would cancel now is the ED visit the admission came from, or the
/// real discharge that followed. The admission and discharge it cancelled,
/// replayed, are not news either; the next real ones are.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replayed_cancellation_takes_back_nothing_more_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = jane_on_daves_roster(url).await;
        let send = |m: Vec<u8>| taken(&a, e, m);
        let ed = pv1("E", "V1", "");
        let ward = inpatient("V1", "ED^1^A^NORTHHOSP", "W^1^A^NORTHHOSP");
        // ED visit, admitted from it, the admission cancelled: the ED
        // visit stands.
        send(adt("C1", "A04", "202612010800", JANE, &ed)).await;
        send(adt("C2", "A06", "202612010900", JANE, &ward)).await;
        send(adt("C3", "A11", "202612010930", JANE, &ward)).await;
        // The cancellation and the admission replayed.
        send(adt("C3b", "A11", "202612010930", JANE, &ward)).await;
        send(adt("C2b", "A06", "202612010900", JANE, &ward)).await;
        // Admitted for real, discharged, that discharge cancelled, and
        // discharged for real.
        send(adt("C4", "A06", "202612011000", JANE, &ward)).await;
        send(adt("C5", "A03", "202612031000", JANE, &ward)).await;
        send(adt("C6", "A13", "202612031030", JANE, &ward)).await;
        send(adt("C7", "A03", "202612041000", JANE, &ward)).await;
        // The discharge's cancellation, and the first discharge, replayed.
        send(adt("C6b", "A13", "202612031030", JANE, &ward)).await;
        send(adt("C5b", "A03", "202612031000", JANE, &ward)).await;
        let want = [
            ("ed#1", "202612010800"),
            ("admit#1", "202612010900"),
            ("retract:admit#1", "202612010930"),
            ("admit#2", "202612011000"),
            ("discharge#1", "202612031000"),
            ("retract:discharge#1", "202612031030"),
            ("discharge#2", "202612041000"),
        ];
        assert_eq!(
            keys_since(&a, "").await,
            pairs(&want),
            "{e}: replayed cancellations"
        );

        // Discharged, that cancelled, discharged again in the same minute
        // (a corrected disposition), and the cancellation replayed: quiet,
        // and she stays discharged, so her readmission days later is a new
        // episode that alerts, and so is its discharge.
        let ward = inpatient("V2", "", "W^1^A^NORTHHOSP");
        send(adt("D1", "A01", "202612100800", JANE, &ward)).await;
        send(adt("D2", "A03", "202612101000", JANE, &ward)).await;
        send(adt("D3", "A13", "202612101005", JANE, &ward)).await;
        send(adt("D4", "A03", "202612101005", JANE, &ward)).await;
        send(adt("D3b", "A13", "202612101005", JANE, &ward)).await;
        send(adt("D5", "A01", "202612120800", JANE, &ward)).await;
        send(adt("D6", "A03", "202612130800", JANE, &ward)).await;
        let want = [
            ("admit#1", "202612100800"),
            ("discharge#1", "202612101000"),
            ("retract:discharge#1", "202612101005"),
            ("discharge#2", "202612101005"),
            ("admit#2", "202612120800"),
            ("discharge#3", "202612130800"),
        ];
        let keys = keys_since(&a, "20261210").await;
        assert_eq!(keys, pairs(&want), "{e}: a replay moves no state");

        // An ED visit discharged, then cancelled as registered in error
        // (A11 after the A03); the account is used again for an admission
        // days later, whose discharge is news. Before, the first visit's
        // discharge stood, and took the second's.
        let ed = pv1("E", "V3", "");
        let ward = inpatient("V3", "", "W^1^A^NORTHHOSP");
        send(adt("E1", "A04", "202612200800", JANE, &ed)).await;
        send(adt("E2", "A03", "202612201000", JANE, &ed)).await;
        send(adt("E3", "A11", "202612201100", JANE, &ed)).await;
        // The cancelled visit's messages replayed: nothing.
        send(adt("E1b", "A04", "202612200800", JANE, &ed)).await;
        send(adt("E3b", "A11", "202612201100", JANE, &ed)).await;
        send(adt("E4", "A01", "202612230800", JANE, &ward)).await;
        send(adt("E5", "A03", "202612240800", JANE, &ward)).await;
        let want = [
            ("ed#1", "202612200800"),
            ("discharge#1", "202612201000"),
            ("retract:ed#1", "202612201100"),
            ("admit#1", "202612230800"),
            ("discharge#2", "202612240800"),
        ];
        let keys = keys_since(&a, "20261220").await;
        assert_eq!(
            keys,
            pairs(&want),
            "{e}: a cancelled visit's account reused"
        );

        // An ED visit never discharged is closed 48 hours on, and its
        // number used again; then the first visit's discharge comes late. It
        // is news of that visit, and must not take the second's discharge.
        let ed = pv1("E", "V4", "");
        send(adt("F1", "A04", "202612250800", JANE, &ed)).await;
        send(adt("F2", "A04", "202612270900", JANE, &ed)).await;
        send(adt("F3", "A03", "202612251300", JANE, &ed)).await;
        // Replayed: nothing.
        send(adt("F3b", "A03", "202612251300", JANE, &ed)).await;
        send(adt("F4", "A03", "202612271500", JANE, &ed)).await;
        let want = [
            ("ed#1", "202612250800"),
            ("ed#2", "202612270900"),
            ("discharge#1", "202612251300"),
            ("discharge#2", "202612271500"),
        ];
        let keys: Vec<(String, String)> = keyed(&a)
            .await
            .into_iter()
            .skip_while(|r| r.2 != "202612250800")
            .map(|r| (r.3, r.2))
            .collect();
        assert_eq!(
            keys,
            pairs(&want),
            "{e}: a closed ED visit's late discharge"
        );
        a.stop().await;
    }
}
