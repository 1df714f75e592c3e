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
use crate::smtp::Node;

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
        let send = |m: Vec<u8>| {
            let a = &a;
            async move {
                assert_eq!(ack_code(a, &m).await.0, "AA", "{e}");
                drained(a).await;
            }
        };

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
