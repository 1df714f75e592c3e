//! The MLLP intake on every engine, over real sockets: a message whose key
//! the store cannot hold (a control character, an over-long MSH-10 or HD)
//! is refused with AR, and a group commit that fails anyway is retried one
//! message at a time, so one bad message cannot fail the others; MSH-10 is
//! keyed whole (its repetitions too); a facility known only by its OID;
//! our own MSH-10 fits 20 characters; an ACK goes back in its message's
//! charset (Latin-1 or UTF-8); a store out of reach answers AR at once;
//! a `<VT>` inside an oversized frame
//! earns no second reply. Then the connection limits: a frame that never
//! ends, an ACK nobody reads, the cap on open connections, junk that does
//! not hold a connection open, and the first-frame and idle limits; a TLS
//! connection ends with a close_notify.

use std::time::Duration;

use hisp::cli::notify_send_mllp as send_mllp;
use hisp::hl7::{Framer, frame, parse, parse_ack};
use hisp::notify::Notifier;
use hisp::notify::mllp::{self, Limits};
use hisp::store::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness;
use crate::notify::ack_code;
use crate::notify_features::{count, drained};
use crate::smtp::Node;

/// An A08 (an update: never an alert) with MSH-3, MSH-4 and MSH-10 as given.
fn a08(msh3: &str, msh4: &str, msh10: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|{msh3}|{msh4}|HISP|HISP|20261122060000||ADT^A08^ADT_A01|{msh10}|P|2.5.1\r\
         EVN|A08|20261122055900\rPID|1||MRN1^^^NORTH^MR||Doe^Jane\rPV1|1|I\r"
    )
    .into_bytes()
}

/// MSA-1 and the ACK as text.
async fn answer(n: &Node, msg: &[u8]) -> (String, String) {
    let (code, ack) = ack_code(n, msg).await;
    (code, String::from_utf8_lossy(&ack).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_the_store_cannot_hold_are_refused_and_one_bad_message_fails_only_itself() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        harness::ok(&a.cli(&["feed", "add", "--facility", "2.16.840.1.113883.3.7"]));
        // A feed no message could name (its MSH-4 would be refused) is refused.
        let long = "F".repeat(228);
        harness::fails(
            &a.cli(&["feed", "add", "--facility", &long]),
            1,
            "at most 227",
        );

        // Refused up front: NUL raw or escaped (PostgreSQL refuses it in
        // text), other control characters, over-long values.
        let long_app = "E".repeat(228);
        for (msh3, msh4, msh10, why) in [
            ("EPIC", "NORTHHOSP", "A\\X00\\B", "control character"),
            ("EPIC", "NORTHHOSP", "A\0B", "control character"),
            ("EPIC", "NORTHHOSP", "A\\X1C\\B", "control character"),
            ("EPIC", "NORTH\\X09\\HOSP", "K1", "control character"),
            // HL7's explicit null is no id: every later one would be a "retry".
            ("EPIC", "NORTHHOSP", "\"\"", "are required"),
            ("EPIC", "NORTHHOSP", &"X".repeat(3000), "longer than 199"),
            ("EPIC", "NORTHHOSP", &"X".repeat(200), "longer than 199"),
            (&long_app, "NORTHHOSP", "K2", "longer than 227"),
        ] {
            let (code, ack) = answer(&a, &a08(msh3, msh4, msh10)).await;
            assert_eq!(code, "AR", "{e}: {why}: {ack}");
            assert!(ack.contains(why), "{e}: {ack}");
            assert!(ack.len() < 1_000, "{e}: the refusal echoes a cut MSA-2");
            assert!(!ack.bytes().any(|b| b < 0x20 && b != b'\r'), "{e}: {ack:?}");
        }
        // At the limits: taken.
        assert_eq!(
            answer(&a, &a08("EPIC", "NORTHHOSP", &"X".repeat(199)))
                .await
                .0,
            "AA",
            "{e}"
        );
        let app = "E".repeat(227);
        assert_eq!(
            answer(&a, &a08(&app, "NORTHHOSP", "K3")).await.0,
            "AA",
            "{e}"
        );

        // MSH-10 is keyed whole: `123~A` and `123~B` are two messages, and
        // each ACK's MSA-2 is the MSH-10 as sent.
        let (code, first) = answer(&a, &a08("EPIC", "NORTHHOSP", "123~A")).await;
        assert_eq!(code, "AA", "{e}");
        assert!(first.contains("MSA|AA|123~A\r"), "{e}: {first}");
        let (code, second) = answer(&a, &a08("EPIC", "NORTHHOSP", "123~B")).await;
        assert_eq!(code, "AA", "{e}");
        assert!(second.contains("MSA|AA|123~B\r"), "{e}: {second}");
        assert_ne!(first, second, "{e}: the second is not a retry of the first");
        // Keyed as written: an escaped `~` is another id than a repetition.
        let (code, third) = answer(&a, &a08("EPIC", "NORTHHOSP", "123\\R\\A")).await;
        assert_eq!(code, "AA", "{e}");
        assert!(third.contains("MSA|AA|123\\R\\A\r"), "{e}: {third}");
        assert_eq!(
            count(
                &a,
                "SELECT COUNT(*) FROM adt_messages WHERE control_id LIKE '123%'"
            )
            .await,
            3,
            "{e}"
        );

        // A facility known only by its OID (MSH-4.1 empty) is that feed.
        let (code, ack) = answer(&a, &a08("EPIC", "^2.16.840.1.113883.3.7^ISO", "O1")).await;
        assert_eq!(code, "AA", "{e}: {ack}");
        assert_eq!(
            answer(&a, &a08("EPIC", "^2.16.840.1.9^ISO", "O2")).await.0,
            "AR",
            "{e}"
        );

        // A Latin-1 message's 0x80-0x9F bytes are Windows-1252's dashes and
        // quotes, not control characters: taken, and echoed as sent.
        let mut dash = a08("EPIC", "NORTHHOSP", "W2#X");
        let at = dash.iter().position(|&b| b == b'#').expect("#");
        dash[at] = 0x96;
        let (code, ack) = ack_code(&a, &dash).await;
        assert_eq!(code, "AA", "{e}: {}", String::from_utf8_lossy(&ack));
        assert!(
            ack.windows(12).any(|w| w == b"MSA|AA|W2\x96X\r"),
            "{e}: {ack:?}"
        );

        // A facility named with one (Windows-1252's ’ as 0x92) can be
        // registered, and its messages are taken.
        harness::ok(&a.cli(&["feed", "add", "--facility", "ST MARY\u{92}S"]));
        let mut marys = a08("EPIC", "ST MARY#S", "W3");
        let at = marys.iter().position(|&b| b == b'#').expect("#");
        marys[at] = 0x92;
        let (code, ack) = ack_code(&a, &marys).await;
        assert_eq!(code, "AA", "{e}: {}", String::from_utf8_lossy(&ack));

        // Applications known only by their OIDs (MSH-3.1 empty) are two
        // senders: one's control id is not a retry of the other's.
        let (code, one) = answer(&a, &a08("^1.2.3.1^ISO", "NORTHHOSP", "D1")).await;
        assert_eq!(code, "AA", "{e}: {one}");
        let (code, two) = answer(&a, &a08("^1.2.3.2^ISO", "NORTHHOSP", "D1")).await;
        assert_eq!(code, "AA", "{e}: {two}");
        assert!(
            two.contains("|^1.2.3.2^ISO|"),
            "{e}: answered for the other: {two}"
        );
        assert_eq!(
            count(
                &a,
                "SELECT COUNT(*) FROM adt_messages WHERE control_id = 'D1'"
            )
            .await,
            2,
            "{e}"
        );
        // The same one again is a retry: its stored ACK.
        let (_, again) = answer(&a, &a08("^1.2.3.2^ISO", "NORTHHOSP", "D1")).await;
        assert_eq!(again, two, "{e}");

        // Our own MSH-10 is at most 20 characters.
        let long = "L".repeat(40);
        let (_, ack) = answer(&a, &a08("EPIC", "NORTHHOSP", &long)).await;
        let ours = parse(ack.as_bytes()).expect("ack").header().control_id;
        assert!(ours.len() <= 20 && !ours.is_empty(), "{e}: {ours}");

        // One message the store refuses (here a trigger refuses it) shares
        // a group commit with others: only it fails.
        refuse_in_store(&a, "BOOM").await;
        let hold = hold_adt_writes(&a).await;
        let lead = tokio::spawn(send(&a, "LEAD"));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let ids = ["B1", "B2", "BOOM", "B3", "B4", "B5"];
        let batch: Vec<_> = ids.iter().map(|id| tokio::spawn(send(&a, id))).collect();
        tokio::time::sleep(Duration::from_millis(400)).await;
        drop(hold);
        assert_eq!(lead.await.expect("join"), "AA", "{e}");
        for (id, sent) in ids.iter().zip(batch) {
            let want = if *id == "BOOM" { "AE" } else { "AA" };
            assert_eq!(sent.await.expect("join"), want, "{e}: {id}");
        }
        // The others were committed: a retry gets the stored ACK.
        assert_eq!(send(&a, "B3").await, "AA", "{e}");
        assert_eq!(
            count(&a, "SELECT COUNT(*) FROM adt_messages WHERE control_id IN ('LEAD', 'B1', 'B2', 'B3', 'B4', 'B5', 'BOOM')").await,
            6,
            "{e}"
        );
        drained(&a).await;
        a.stop().await;
    }
}

/// An ADT that names no patient (no PID, or a PID with neither an
/// identifier nor a family name) can never alert: AE, error 101 at PID-3,
/// and nothing stored. Acknowledged AA, the engine logged it delivered
/// while the worker dropped it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adt_that_names_no_patient_is_answered_ae_and_not_stored() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        let msh = |id: &str| {
            format!(
                "MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|20261122060000||ADT^A04|{id}|P|2.5.1\rEVN|A04|20261122055900\r"
            )
        };
        let before = count(&a, "SELECT COUNT(*) FROM adt_messages").await;
        for (id, rest) in [
            ("N1", "PV1|1|E\r"),
            ("N2", "PID|1||^^^NORTH^MR||^Jane\rPV1|1|E\r"),
            ("N3", "PID|1||\"\"||\"\"\rPV1|1|E\r"),
        ] {
            let (code, ack) = answer(&a, format!("{}{rest}", msh(id)).as_bytes()).await;
            assert_eq!(code, "AE", "{e}: {id}: {ack}");
            assert!(ack.contains(&format!("MSA|AE|{id}")), "{e}: {ack}");
            assert!(ack.contains("ERR||PID^1^3|101^"), "{e}: {ack}");
            assert!(ack.contains("identifies no patient"), "{e}: {ack}");
        }
        assert_eq!(
            count(&a, "SELECT COUNT(*) FROM adt_messages").await,
            before,
            "{e}: nothing stored"
        );
        // A bed status update (A20) has no patient in its structure: taken.
        let a20 = "MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|20261122060000||ADT^A20|B1|P|2.5.1\rEVN|A20|20261122055900\rNPU|W^1^A^NORTHHOSP|C\r";
        assert_eq!(answer(&a, a20.as_bytes()).await.0, "AA", "{e}");
        // A family name alone, or an identifier alone, names one.
        for (id, pid) in [("Y1", "PID|1||||Doe"), ("Y2", "PID|1||M1^^^NORTH^MR")] {
            let (code, ack) = answer(&a, format!("{}{pid}\rPV1|1|O\r", msh(id)).as_bytes()).await;
            assert_eq!(code, "AA", "{e}: {id}: {ack}");
        }
        drained(&a).await;
        a.stop().await;
    }
}

/// A feed registered with `--allow-from` takes messages naming its
/// facility only from the addresses it allows: from anywhere else they get
/// the AR an unregistered facility gets, word for word, and are not stored
/// (a retry of a stored message included). `feed allow` changes the list
/// at once, and `--any` lifts it. A prefix with address bits past its
/// length is refused, naming the network it may have meant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_takes_messages_only_from_the_addresses_it_allows_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.start().await;
        let out = harness::ok(&a.cli(&[
            "feed",
            "add",
            "--facility",
            "NORTHHOSP",
            "--allow-from",
            "192.0.2.0/24",
        ]));
        assert!(
            out.contains("messages are taken from 192.0.2.0/24"),
            "{e}: {out}"
        );
        harness::ok(&a.cli(&["feed", "add", "--facility", "OPENHOSP"]));
        harness::fails(
            &a.cli(&[
                "feed",
                "add",
                "--facility",
                "X",
                "--allow-from",
                "192.0.2.7/24",
            ]),
            1,
            "the network is 192.0.2.0/24",
        );
        harness::fails(
            &a.cli(&[
                "feed",
                "add",
                "--facility",
                "X",
                "--allow-from",
                "10.0.0.0/33",
            ]),
            1,
            "prefix length",
        );
        // An empty list (a script's unset variable) is no open feed.
        harness::fails(
            &a.cli(&["feed", "add", "--facility", "X", "--allow-from", ""]),
            1,
            "needs an address",
        );
        let stored = || count(&a, "SELECT COUNT(*) FROM adt_messages");
        // The test's client is on 127.0.0.1, outside 192.0.2.0/24.
        let (code, refused) = answer(&a, &a08("EPIC", "NORTHHOSP", "F1")).await;
        assert_eq!(code, "AR", "{e}: {refused}");
        let (code, unknown) = answer(&a, &a08("EPIC", "SOUTHHOSP", "F1")).await;
        assert_eq!(code, "AR", "{e}: {unknown}");
        let err = |ack: &str| {
            ack.split('\r')
                .find(|s| s.starts_with("ERR|"))
                .map(|s| s.replace("NORTHHOSP", "F").replace("SOUTHHOSP", "F"))
                .unwrap_or_default()
        };
        assert!(!err(&refused).is_empty(), "{e}: {refused}");
        assert_eq!(err(&refused), err(&unknown), "{e}: the same words");
        assert!(
            refused.contains("'NORTHHOSP' is not a registered feed"),
            "{e}: {refused}"
        );
        assert_eq!(stored().await, 0, "{e}: nothing stored");
        // A feed without a list takes messages from anywhere.
        assert_eq!(
            answer(&a, &a08("EPIC", "OPENHOSP", "O1")).await.0,
            "AA",
            "{e}"
        );
        assert_eq!(stored().await, 1, "{e}");

        // Loopback allowed (one address, beside a network): taken.
        let out = harness::ok(&a.cli(&[
            "feed",
            "allow",
            "--facility",
            "northhosp",
            "--from",
            "10.0.0.0/8",
            "--from",
            "127.0.0.1",
        ]));
        assert!(out.contains("10.0.0.0/8, 127.0.0.1/32"), "{e}: {out}");
        assert_eq!(
            answer(&a, &a08("EPIC", "NORTHHOSP", "F2")).await.0,
            "AA",
            "{e}"
        );
        assert_eq!(stored().await, 2, "{e}");
        let list = harness::ok(&a.cli(&["feed", "list", "--json"]));
        assert!(
            list.contains(r#""allow_from": "10.0.0.0/8,127.0.0.1/32""#),
            "{e}: {list}"
        );

        // Allowed elsewhere only: even the retry of the stored message is
        // refused, not answered with its stored ACK.
        harness::ok(&a.cli(&[
            "feed",
            "allow",
            "--facility",
            "NORTHHOSP",
            "--from",
            "10.0.0.0/8",
        ]));
        assert_eq!(
            answer(&a, &a08("EPIC", "NORTHHOSP", "F2")).await.0,
            "AR",
            "{e}"
        );
        // Lifted: from anywhere again.
        harness::ok(&a.cli(&["feed", "allow", "--facility", "NORTHHOSP", "--any"]));
        assert_eq!(
            answer(&a, &a08("EPIC", "NORTHHOSP", "F3")).await.0,
            "AA",
            "{e}"
        );
        assert_eq!(stored().await, 3, "{e}");
        let list = harness::ok(&a.cli(&["feed", "list"]));
        assert!(list.contains("ALLOW FROM"), "{e}: {list}");
        assert!(!list.contains("10.0.0.0/8"), "{e}: {list}");
        harness::fails(
            &a.cli(&["feed", "allow", "--facility", "NOSUCH", "--any"]),
            1,
            "NOSUCH",
        );
        let audited = count(
            &a,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'feed.allow' AND lower(subject) = 'northhosp'",
        )
        .await;
        assert_eq!(audited, 3, "{e}");
        drained(&a).await;
        a.stop().await;
    }
}

/// A message under a key already taken is a retry when it is that message
/// again (line ends and MSH-7, the time it was sent, aside): the stored ACK.
/// Another message reusing the key (a sender whose counter was reset, an
/// analyst's edited resend) is refused, AE 205, rather than acknowledged
/// as a retry and never processed. A key taken before digests were kept
/// answers as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_id_reused_by_another_message_is_refused_not_taken_for_a_retry() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        let msg = |id: &str, sent: &str, trigger: &str, end: &str| {
            format!(
                "MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|{sent}||ADT^{trigger}|{id}|P|2.5.1{end}\
                 EVN|{trigger}|20261122055900{end}PID|1||MRN1^^^NORTH^MR||Doe^Jane{end}PV1|1|O{end}"
            )
            .into_bytes()
        };
        let (code, first) = answer(&a, &msg("D1", "20261122060000", "A08", "\r")).await;
        assert_eq!(code, "AA", "{e}: {first}");
        // Resent later, with CRLF line ends: the same message. So is one
        // serialised again without trailing empty fields.
        let (code, again) = answer(&a, &msg("D1", "20261122061500", "A08", "\r\n")).await;
        assert_eq!(
            (code.as_str(), again.as_str()),
            ("AA", first.as_str()),
            "{e}"
        );
        let trailing = String::from_utf8(msg("D1", "20261122060000", "A08", "\r"))
            .expect("utf8")
            .replace("PV1|1|O\r", "PV1|1|O|||\r");
        let (code, again) = answer(&a, trailing.as_bytes()).await;
        assert_eq!(
            (code.as_str(), again.as_str()),
            ("AA", first.as_str()),
            "{e}"
        );
        // Another message under D1.
        let (code, other) = answer(&a, &msg("D1", "20261123090000", "A03", "\r")).await;
        assert_eq!(code, "AE", "{e}: {other}");
        assert!(other.contains("MSA|AE|D1"), "{e}: {other}");
        assert!(other.contains("|205^"), "{e}: {other}");
        assert!(
            other.contains("already used by another message"),
            "{e}: {other}"
        );
        assert_eq!(
            count(
                &a,
                "SELECT COUNT(*) FROM adt_messages WHERE control_id = 'D1'"
            )
            .await,
            1,
            "{e}"
        );
        // Taken before digests were kept: a retry, as it always was.
        let mut conn = a.hisp.conn().await.expect("conn");
        sqlx::query("UPDATE adt_messages SET content_digest = NULL")
            .execute(&mut *conn)
            .await
            .expect("before digests");
        drop(conn);
        let (code, old) = answer(&a, &msg("D1", "20261123090000", "A03", "\r")).await;
        assert_eq!((code.as_str(), old.as_str()), ("AA", first.as_str()), "{e}");
        drained(&a).await;
        a.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_goes_back_in_the_charset_of_its_message_also_when_stored() {
    let mut a = Node::new("a.test", false, None).await;
    a.start().await;
    harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
    let latin1 = |text: Vec<u8>| -> Vec<u8> {
        let text = String::from_utf8(text).expect("utf8");
        text.chars()
            .map(|c| u8::try_from(c).expect("latin-1"))
            .collect()
    };
    // Latin-1 without MSH-18, and with MSH-18 = 8859/1: é is 0xE9.
    let plain = latin1(a08("\u{c9}PIC", "NORTHHOSP", "L\u{e9}1"));
    let declared = latin1(
        String::from_utf8(a08("EPIC", "NORTHHOSP", "L\u{e9}2"))
            .expect("utf8")
            .replace("|P|2.5.1\r", "|P|2.5.1||||||8859/1\r")
            .into_bytes(),
    );
    for (sent, msh10) in [(&plain, b"L\xE91".as_slice()), (&declared, b"L\xE92")] {
        let ack = send_mllp(a.mllp, sent).await.expect("mllp");
        assert_eq!(parse_ack(&ack).expect("ack").0, "AA");
        assert_eq!(msa2(&ack), msh10, "{}", String::from_utf8_lossy(&ack));
        assert!(!ack.contains(&0xC3), "no UTF-8 in the ACK: {ack:?}");
        // A retry gets the stored ACK, in Latin-1 too.
        let again = send_mllp(a.mllp, sent).await.expect("mllp");
        assert_eq!(again, ack, "the stored ACK, byte for byte");
    }
    // MSH-3 comes back as MSH-5 in Latin-1.
    let ack = send_mllp(a.mllp, &plain).await.expect("mllp");
    assert!(ack.windows(6).any(|w| w == b"|\xC9PIC|"), "{ack:?}");
    // The same message re-sent as UTF-8 is the same message (a retry), and
    // its stored ACK goes back in UTF-8.
    let ack = send_mllp(a.mllp, &a08("\u{c9}PIC", "NORTHHOSP", "L\u{e9}1"))
        .await
        .expect("mllp");
    assert_eq!(parse_ack(&ack).expect("ack").0, "AA", "a retry, not AE 205");
    assert_eq!(msa2(&ack), "L\u{e9}1".as_bytes());
    // A UTF-8 message: a UTF-8 ACK, stored or not.
    let utf8 = a08("EPIC", "NORTHHOSP", "U\u{e9}3");
    for _ in 0..2 {
        let ack = send_mllp(a.mllp, &utf8).await.expect("mllp");
        assert_eq!(parse_ack(&ack).expect("ack").0, "AA");
        assert_eq!(msa2(&ack), "U\u{e9}3".as_bytes());
    }
    assert_eq!(
        count(&a, "SELECT COUNT(*) FROM adt_messages").await,
        3,
        "each message stored once"
    );
    drained(&a).await;
    a.stop().await;
}

/// MSA-2 of an ACK, as its bytes.
fn msa2(ack: &[u8]) -> Vec<u8> {
    ack.split(|b| *b == b'\r')
        .find(|seg| seg.starts_with(b"MSA|"))
        .and_then(|seg| seg.split(|b| *b == b'|').nth(2))
        .expect("MSA-2")
        .to_vec()
}

/// Send an A08 from NORTHHOSP with MSH-10 `id` on a connection of its own.
fn send(n: &Node, id: &str) -> impl std::future::Future<Output = String> + Send + 'static {
    let addr = n.mllp;
    let msg = a08("EPIC", "NORTHHOSP", id);
    async move {
        let ack = send_mllp(addr, &msg).await.expect("mllp");
        parse_ack(&ack).expect("ack").0
    }
}

/// The store out of reach (SQLite locked by another process past the busy
/// timeout, as a CLI roster import can hold it): each waiting message gets AR
/// "temporary failure" (HL7's answer for "system down", so an engine sends
/// it again), not AE (an error in the message itself), and is not retried
/// one by one behind the lock; once the lock frees the same messages are
/// taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_out_of_reach_is_answered_ar_and_the_messages_are_taken_after() {
    use sqlx::Connection as _;
    let mut a = Node::new("a.test", false, None).await;
    a.start().await;
    harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
    let db = a.dir.path().join("hisp-data").join("hisp.db");
    let mut other = sqlx::AnyConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("connect");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .expect("lock");
    let ids = ["U1", "U2", "U3"];
    let waiting: Vec<_> = ids
        .iter()
        .map(|id| {
            let msg = a08("EPIC", "NORTHHOSP", id);
            let addr = a.mllp;
            tokio::spawn(async move {
                let ack = send_mllp(addr, &msg).await.expect("mllp");
                let code = parse_ack(&ack).expect("ack").0;
                (code, String::from_utf8_lossy(&ack).into_owned())
            })
        })
        .collect();
    for (id, w) in ids.iter().zip(waiting) {
        let (code, ack) = w.await.expect("join");
        assert_eq!(code, "AR", "{id}: {ack}");
        assert!(ack.contains("temporary failure; send again"), "{id}: {ack}");
    }
    sqlx::query("ROLLBACK")
        .execute(&mut other)
        .await
        .expect("unlock");
    drop(other);
    for id in ids {
        assert_eq!(
            send(&a, id).await,
            "AA",
            "{id} taken once the store is back"
        );
    }
    drained(&a).await;
    a.stop().await;
}

/// A trigger that makes the store refuse a message with MSH-10 `id`.
async fn refuse_in_store(n: &Node, id: &str) {
    let mut conn = n.hisp.conn().await.expect("conn");
    let statements = match n.hisp.store.engine() {
        Engine::Sqlite => vec![format!(
            "CREATE TRIGGER refuse_one BEFORE INSERT ON adt_messages WHEN NEW.control_id = '{id}' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )],
        Engine::Postgres => vec![
            format!(
                "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.control_id = '{id}' THEN RAISE EXCEPTION 'refused by the test'; END IF; \
                 RETURN NEW; END $$"
            ),
            "CREATE TRIGGER refuse_one BEFORE INSERT ON adt_messages FOR EACH ROW \
             EXECUTE FUNCTION refuse_one()"
                .to_string(),
        ],
    };
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .expect("trigger");
    }
}

/// Hold off every write to `adt_messages` until dropped, so messages sent
/// meanwhile pile up into one group commit.
async fn hold_adt_writes(n: &Node) -> hisp::store::Tx {
    let mut tx = n.hisp.store.begin().await.expect("begin");
    if n.hisp.store.engine() == Engine::Postgres {
        sqlx::query("LOCK TABLE adt_messages IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .expect("lock");
    }
    tx
}

/// A store that does not commit in time (PostgreSQL waiting on a table lock
/// a migration or `VACUUM FULL` holds, which it would wait on for as long;
/// SQLite's writer held): the sender is answered "temporary failure" at the
/// reply limit, naming its message, rather than left waiting with its
/// connection's slot held; its resend once the store is back is taken, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_store_does_not_commit_in_time_is_a_temporary_failure_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        let n = notifier(
            &a,
            Limits {
                reply: Duration::from_secs(1),
                ..Limits::DEFAULT
            },
        );
        let held = hold_adt_writes(&a).await;
        let peer = "127.0.0.1:1".parse().expect("addr");
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let served = tokio::spawn({
            let n = n.clone();
            async move { mllp::connection(&n, server, peer, None).await }
        });
        let msg = a08("EPIC", "NORTHHOSP", "H1");
        client.write_all(&frame(&msg)).await.expect("send");
        let mut framer = Framer::default();
        let ack = tokio::time::timeout(Duration::from_secs(60), read_ack(&mut client, &mut framer))
            .await
            .expect("answered while the store hangs");
        let text = String::from_utf8_lossy(&ack).into_owned();
        assert_eq!(parse_ack(&ack).expect("ack").0, "AR", "{e}: {text}");
        assert!(
            text.contains("temporary failure; send again"),
            "{e}: {text}"
        );
        assert_eq!(msa2(&ack), b"H1", "{e}");
        // On PostgreSQL the commit stops waiting for the lock at the reply
        // limit too (`lock_timeout`), giving back its connection and the
        // commit turn: no backend is left waiting on a lock.
        if a.hisp.store.engine() == Engine::Postgres {
            let mut conn = a.hisp.conn().await.expect("conn");
            let mut waiting = i64::MAX;
            for _ in 0..100 {
                waiting = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM pg_stat_activity
                     WHERE wait_event_type = 'Lock' AND datname = current_database()",
                )
                .fetch_one(&mut *conn)
                .await
                .expect("activity");
                if waiting == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(waiting, 0, "{e}: the intake still waits on the lock");
        }
        held.rollback().await.expect("release");
        client.write_all(&frame(&msg)).await.expect("resend");
        let ack = read_ack(&mut client, &mut framer).await;
        assert_eq!(parse_ack(&ack).expect("ack").0, "AA", "{e}");
        drop(client);
        let _ = served.await;
        assert_eq!(
            count(
                &a,
                "SELECT COUNT(*) FROM adt_messages WHERE control_id = 'H1'"
            )
            .await,
            1,
            "{e}"
        );
        a.stop().await;
    }
}

/// A deadlock or serialization failure (PostgreSQL gave up the insert for
/// another transaction's sake, 40P01 or 40001) is the moment's, not the
/// message's: a message alone in its commit is answered "temporary
/// failure; send again", not AE "could not be stored", and its resend is
/// taken. Raised here by a trigger, as a real conflict between two nodes
/// would raise it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serialization_failure_is_a_temporary_failure_on_postgres() {
    let Ok(admin) = std::env::var("HISP_TEST_POSTGRES_URL") else {
        eprintln!("HISP_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    let url = harness::fresh_pg_database(&admin).await;
    let mut a = Node::new("a.test", false, Some(url)).await;
    a.start().await;
    harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
    let mut conn = a.hisp.conn().await.expect("conn");
    for (code, id) in [("40001", "S1"), ("40P01", "S2")] {
        for sql in [
            format!(
                "CREATE FUNCTION conflict_{id}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.control_id = '{id}' THEN RAISE EXCEPTION 'conflict' USING ERRCODE = '{code}'; \
                 END IF; RETURN NEW; END $$"
            ),
            format!(
                "CREATE TRIGGER conflict_{id} BEFORE INSERT ON adt_messages FOR EACH ROW \
                 EXECUTE FUNCTION conflict_{id}()"
            ),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *conn)
                .await
                .expect("trigger");
        }
        let msg = a08("EPIC", "NORTHHOSP", id);
        let ack = send_mllp(a.mllp, &msg).await.expect("mllp");
        let text = String::from_utf8_lossy(&ack).into_owned();
        assert_eq!(parse_ack(&ack).expect("ack").0, "AR", "{code}: {text}");
        assert!(
            text.contains("temporary failure; send again"),
            "{code}: {text}"
        );
        let drop_it = format!("DROP TRIGGER conflict_{id} ON adt_messages");
        sqlx::query(sqlx::AssertSqlSafe(drop_it))
            .execute(&mut *conn)
            .await
            .expect("drop");
        assert_eq!(send(&a, id).await, "AA", "{code}: the resend is taken");
    }
    drop(conn);
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_block_inside_an_oversized_frame_gets_no_second_reply() {
    let mut a = Node::new("a.test", false, None).await;
    a.set("HISP_NOTIFY_MAX_FRAME", "2048");
    a.start().await;
    harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
    let mut s = tokio::net::TcpStream::connect(a.mllp)
        .await
        .expect("connect");
    // 3 KB of message with a <VT> in the middle, then a good message.
    let mut big = a08("EPIC", "NORTHHOSP", "BIG");
    big.extend(std::iter::repeat_n(b'X', 2500));
    big.push(0x0B);
    big.extend(std::iter::repeat_n(b'Y', 500));
    s.write_all(&frame(&big)).await.expect("send");
    let mut framer = Framer::default();
    let first = read_ack(&mut s, &mut framer).await;
    assert_eq!(parse_ack(&first).expect("ack").0, "AR");
    s.write_all(&frame(&a08("EPIC", "NORTHHOSP", "AFTER")))
        .await
        .expect("send");
    let next = read_ack(&mut s, &mut framer).await;
    assert_eq!(
        parse_ack(&next).expect("ack"),
        ("AA".into(), "AFTER".into())
    );
    a.stop().await;
}

/// Read one framed reply (`framer` keeps what came after it).
async fn read_ack<S: tokio::io::AsyncRead + Unpin>(s: &mut S, framer: &mut Framer) -> Vec<u8> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(f) = framer.next_frame() {
            return f.expect("frame");
        }
        let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf))
            .await
            .expect("a reply in time")
            .expect("read");
        assert!(n > 0, "closed before the reply");
        framer.push(&buf[..n]);
    }
}

/// An MLLP-over-TLS connection is ended with a close_notify, at the idle
/// limit and after the engine ends its side, so the engine's TLS stack
/// reads the end of the stream, not a connection cut (OpenSSL 3's
/// "unexpected eof while reading").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_connection_is_ended_with_a_close_notify() {
    use openssl::ssl::{ShutdownState, SslConnector, SslMethod, SslVerifyMode};
    let a = Node::new("a.test", false, None).await;
    harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
    let acceptor = mllp::Acceptor::from_config(&a.hisp.config).expect("tls");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let idle = Duration::from_millis(500);
    let limits = Limits {
        idle,
        first_frame: idle,
        ..SHORT
    };
    let server = tokio::spawn(mllp::serve(
        notifier(&a, limits),
        listener,
        Some(acceptor),
        stop,
    ));
    // A blocking client: OpenSSL's own stream says whether a close_notify
    // came (tokio-openssl's does not).
    let msg = frame(&a08("EPIC", "NORTHHOSP", "C1"));
    let client = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let connect = || {
            let mut c = SslConnector::builder(SslMethod::tls_client()).expect("connector");
            c.set_verify(SslVerifyMode::NONE);
            let tcp = std::net::TcpStream::connect(addr).expect("connect");
            tcp.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            c.build().connect("a.test", tcp).expect("handshake")
        };
        // Idle after its ACK: closed at the limit, cleanly.
        let mut s = connect();
        s.write_all(&msg).expect("send");
        let mut got = Vec::new();
        let mut framer = Framer::new(1 << 20);
        let mut buf = [0u8; 4096];
        let ack = loop {
            if let Some(f) = framer.next_frame() {
                break f.expect("frame");
            }
            let n = s.read(&mut buf).expect("read");
            assert!(n > 0, "closed before the reply");
            framer.push(&buf[..n]);
        };
        assert_eq!(parse_ack(&ack).expect("ack").0, "AA");
        assert_eq!(
            s.read_to_end(&mut got).expect("closed at the idle limit"),
            0
        );
        let idle = s.get_shutdown();
        // The engine ends its side first: answered in kind.
        let mut s = connect();
        s.shutdown().expect("close_notify sent");
        assert_eq!(s.read_to_end(&mut got).expect("closed"), 0);
        (idle, s.get_shutdown())
    });
    let (idle, answered) = client.await.expect("client");
    assert!(
        idle.contains(ShutdownState::RECEIVED),
        "a close_notify at the idle limit, not a cut"
    );
    assert!(
        answered.contains(ShutdownState::RECEIVED),
        "a close_notify in answer to the engine's, not a cut"
    );
    let _ = stop_tx.send(true);
    let _ = server.await;
}

/// A notifier on `n`'s store with these limits.
fn notifier(n: &Node, limits: Limits) -> Notifier {
    let mut notifier = Notifier::new(hisp::smtp::Gateway::new(n.hisp.clone()));
    notifier.mllp_limits = limits;
    notifier
}

const SHORT: Limits = Limits {
    idle: Duration::from_secs(20),
    first_frame: Duration::from_secs(20),
    frame: Duration::from_millis(300),
    ack_write: Duration::from_millis(300),
    reply: Duration::from_secs(20),
    max_connections: 2,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_that_never_ends_and_an_ack_nobody_reads_end_the_connection() {
    let a = Node::new("a.test", false, None).await;
    let n = notifier(&a, SHORT);
    let peer = "127.0.0.1:1".parse().expect("addr");
    // A frame begun and dripped, never ended: closed at the frame deadline,
    // long before the idle limit.
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let served = tokio::spawn({
        let n = n.clone();
        async move { mllp::connection(&n, server, peer, None).await }
    });
    client.write_all(&[0x0B]).await.expect("start");
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if client.write_all(b"MSH").await.is_err() {
            break;
        }
    }
    let ended = tokio::time::timeout(Duration::from_secs(5), served).await;
    assert!(ended.is_ok(), "the connection outlived its frame deadline");
    // A peer that sends but never reads its ACKs: the write gives up.
    let (mut client, server) = tokio::io::duplex(256);
    let served = tokio::spawn({
        let n = n.clone();
        async move { mllp::connection(&n, server, peer, None).await }
    });
    // Messages of no type (AR each, no database needed) until the ACKs
    // back up.
    let junk = frame(b"MSH|^~\\&|X");
    let writer = tokio::spawn(async move {
        for _ in 0..200 {
            if client.write_all(&junk).await.is_err() {
                break;
            }
        }
        client
    });
    let ended = tokio::time::timeout(Duration::from_secs(5), served)
        .await
        .expect("the connection outlived its ACK write timeout")
        .expect("join");
    assert!(ended.is_err(), "ended by the write timeout");
    drop(writer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_are_capped_in_all() {
    let a = Node::new("a.test", false, None).await;
    let n = notifier(&a, SHORT);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let served = tokio::spawn(mllp::serve(n, listener, None, stopped));
    let one = tokio::net::TcpStream::connect(addr).await.expect("one");
    let two = tokio::net::TcpStream::connect(addr).await.expect("two");
    let mut three = tokio::net::TcpStream::connect(addr).await.expect("three");
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(5), three.read(&mut buf))
        .await
        .expect("the third is closed at once");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    // The first two are served; once one closes, a new one is.
    let mut two = two;
    two.write_all(&frame(b"MSH|^~\\&|X")).await.expect("send");
    let ack = read_ack(&mut two, &mut Framer::default()).await;
    assert!(parse_ack(&ack).is_ok());
    drop(one);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut four = tokio::net::TcpStream::connect(addr).await.expect("four");
    four.write_all(&frame(b"MSH|^~\\&|X")).await.expect("send");
    let ack = read_ack(&mut four, &mut Framer::default()).await;
    assert!(parse_ack(&ack).is_ok());
    stop.send(true).expect("stop");
    served.await.expect("join");
}

/// Serve `n` on a port of its own: the address and the switch that stops it.
async fn listen(n: Notifier) -> (std::net::SocketAddr, tokio::sync::watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(mllp::serve(n, listener, None, stopped));
    (addr, stop)
}

/// How long until the server closes `s` (at most `within`), or `None`.
async fn closed_after(
    s: &mut tokio::net::tcp::OwnedReadHalf,
    within: Duration,
) -> Option<Duration> {
    let began = std::time::Instant::now();
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(within.saturating_sub(began.elapsed()), s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(began.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// A message of no type: AR, with no database needed.
const NO_TYPE: &[u8] = b"MSH|^~\\&|X";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_between_frames_does_not_hold_a_connection_past_its_idle_limit() {
    let a = Node::new("a.test", false, None).await;
    let limits = Limits {
        idle: Duration::from_secs(1),
        ..SHORT
    };
    let (addr, stop) = listen(notifier(&a, limits)).await;
    let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut r, mut w) = s.into_split();
    w.write_all(&frame(NO_TYPE)).await.expect("send");
    let mut framer = Framer::default();
    let ack = read_ack(&mut r, &mut framer).await;
    assert_eq!(parse_ack(&ack).expect("ack").0, "AR");
    // One junk byte every 200 ms, five times as often as the idle limit.
    let drip = tokio::spawn(async move {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if w.write_all(b"x").await.is_err() {
                break;
            }
        }
    });
    let closed = closed_after(&mut r, Duration::from_secs(10)).await;
    let closed = closed.expect("closed at the idle limit, junk or not");
    assert!(closed >= Duration::from_millis(900), "{closed:?}");
    drip.abort();
    stop.send(true).expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_no_message_is_closed_after_the_first_frame_limit() {
    let a = Node::new("a.test", false, None).await;
    let limits = Limits {
        idle: Duration::from_secs(60),
        first_frame: Duration::from_millis(500),
        frame: Duration::from_secs(60),
        ..SHORT
    };
    let (addr, stop) = listen(notifier(&a, limits)).await;
    // Silent.
    let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut r, _w) = s.into_split();
    let closed = closed_after(&mut r, Duration::from_secs(10)).await;
    let closed = closed.expect("closed at the first-frame limit, long before idle");
    assert!(closed >= Duration::from_millis(400), "{closed:?}");
    // Junk, and a frame begun and never ended: closed all the same.
    let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut r, mut w) = s.into_split();
    w.write_all(b"\r\njunk\x0bMSH|").await.expect("send");
    let drip = tokio::spawn(async move {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if w.write_all(b"x").await.is_err() {
                break;
            }
        }
    });
    let closed = closed_after(&mut r, Duration::from_secs(10)).await;
    assert!(
        closed.is_some(),
        "junk kept a connection with no message open"
    );
    drip.abort();
    stop.send(true).expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_quiet_between_messages_for_less_than_idle_stays_open() {
    let a = Node::new("a.test", false, None).await;
    harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
    let limits = Limits {
        idle: Duration::from_secs(5),
        first_frame: Duration::from_millis(300),
        frame: Duration::from_secs(5),
        ..SHORT
    };
    let (addr, stop) = listen(notifier(&a, limits)).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut framer = Framer::default();
    s.write_all(&frame(&a08("EPIC", "NORTHHOSP", "Q1")))
        .await
        .expect("send");
    let ack = read_ack(&mut s, &mut framer).await;
    assert_eq!(parse_ack(&ack).expect("ack"), ("AA".into(), "Q1".into()));
    // Past the first-frame limit, well within idle.
    tokio::time::sleep(Duration::from_secs(1)).await;
    s.write_all(&frame(&a08("EPIC", "NORTHHOSP", "Q2")))
        .await
        .expect("the connection is still open");
    let ack = read_ack(&mut s, &mut framer).await;
    assert_eq!(parse_ack(&ack).expect("ack"), ("AA".into(), "Q2".into()));
    stop.send(true).expect("stop");
}

/// `adt send` prints the receiver's reply, whose bytes are the receiver's:
/// a control character (a terminal escape sequence) is shown as `?`, not
/// passed to the terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adt_send_prints_no_control_character_a_receiver_sends() {
    let a = Node::new("a.test", false, None).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let to = format!("127.0.0.1:{}", listener.local_addr().expect("addr").port());
    let receiver = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut framer = Framer::default();
        let _ = read_ack(&mut s, &mut framer).await;
        // OSC and CSI escape sequences, then U+202E (right-to-left override).
        let ack = b"MSH|^~\\&|R|R|EPIC|NORTHHOSP|2026||ACK^A08|A1|P|2.5.1\rMSA|AA|E1|\x1b]0;owned\x07\x1b[2J ok \xe2\x80\xaekcatta\r";
        s.write_all(&frame(ack)).await.expect("reply");
        s
    });
    let file = a.dir.path().join("one.hl7");
    std::fs::write(&file, a08("EPIC", "NORTHHOSP", "E1")).expect("file");
    let printed = harness::ok(&a.cli(&["adt", "send", file.to_str().expect("p"), "--to", &to]));
    assert!(
        !printed.contains('\x1b') && !printed.contains('\x07'),
        "{printed:?}"
    );
    assert!(
        printed.contains("MSA|AA|E1|?]0;owned??[2J ok ?kcatta"),
        "{printed:?}"
    );
    drop(receiver.await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adt_send_sends_every_message_of_a_file_to_host_port() {
    let mut a = Node::new("a.test", false, None).await;
    a.start().await;
    harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
    let to = format!("localhost:{}", a.mllp.port());
    // Saved as people save them: CRLF, some still in MLLP framing.
    let text = |m: Vec<u8>| String::from_utf8(m).expect("utf8").replace('\r', "\r\n");
    let file = a.dir.path().join("three.hl7");
    std::fs::write(
        &file,
        format!(
            "{}\x0b{}\x1c\r{}",
            text(a08("EPIC", "NORTHHOSP", "M1")),
            text(a08("EPIC", "ELSEWHERE", "M2")),
            text(a08("EPIC", "NORTHHOSP", "M3")),
        ),
    )
    .expect("file");
    let out = a.cli(&["adt", "send", file.to_str().expect("p"), "--to", &to]);
    harness::fails(&out, 1, "1 of 3 messages not accepted: message 2 AR");
    let printed = harness::stdout(&out);
    let at = |needle: &str| {
        printed
            .find(needle)
            .unwrap_or_else(|| panic!("{needle}: {printed}"))
    };
    assert!(at("MSA|AA|M1") < at("MSA|AR|M2") && at("MSA|AR|M2") < at("MSA|AA|M3"));
    assert!(printed.contains("-- message 3 of 3: AA"), "{printed}");
    // Every message sent was committed, each once.
    assert_eq!(
        count(
            &a,
            "SELECT COUNT(*) FROM adt_messages WHERE control_id IN ('M1', 'M3')"
        )
        .await,
        2
    );
    // All accepted: success.
    let file = a.dir.path().join("two.hl7");
    let two = [
        a08("EPIC", "NORTHHOSP", "M4"),
        a08("EPIC", "NORTHHOSP", "M5"),
    ]
    .concat();
    std::fs::write(&file, two).expect("file");
    let printed = harness::ok(&a.cli(&["adt", "send", file.to_str().expect("p"), "--to", &to]));
    assert!(
        printed.contains("MSA|AA|M4") && printed.contains("MSA|AA|M5"),
        "{printed}"
    );
    // A Latin-1 message: acknowledged (its ACK comes back in Latin-1).
    let file = a.dir.path().join("latin1.hl7");
    let latin1: Vec<u8> = String::from_utf8(a08("EPIC", "NORTHHOSP", "M\u{e9}6"))
        .expect("utf8")
        .chars()
        .map(|c| u8::try_from(c).expect("latin-1"))
        .collect();
    std::fs::write(&file, latin1).expect("file");
    harness::ok(&a.cli(&["adt", "send", file.to_str().expect("p"), "--to", &to]));
    // An MSH-10 over 199 characters is refused with its cut echo, which
    // still names it: AR, not "not acknowledged".
    let file = a.dir.path().join("long.hl7");
    std::fs::write(&file, a08("EPIC", "NORTHHOSP", &"L".repeat(250))).expect("file");
    let out = a.cli(&["adt", "send", file.to_str().expect("p"), "--to", &to]);
    harness::fails(&out, 1, "the receiver answered AR");
    // A name that does not resolve fails with one line.
    let out = a.cli(&[
        "adt",
        "send",
        file.to_str().expect("p"),
        "--to",
        "no-such-host.invalid:2575",
    ]);
    harness::fails(&out, 1, "no-such-host.invalid:2575");
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adt_send_counts_a_reply_for_another_message_as_not_acknowledged() {
    let a = Node::new("a.test", false, None).await;
    let reply = |msh9: &str, msa: &str| {
        format!("MSH|^~\\&|HISP|HISP|EPIC|NORTHHOSP|20261122060000||{msh9}|K1|P|2.5.1\r{msa}\r")
            .into_bytes()
    };
    // Five messages; the receiver answers the second with the first's ACK,
    // the third with no HL7, the fourth with no ACK, the rest rightly.
    let replies = vec![
        reply("ACK^A08^ACK", "MSA|AA|N1"),
        reply("ACK^A08^ACK", "MSA|AA|N1"),
        b"hello".to_vec(),
        reply("ADT^A08^ADT_A01", "MSA|AA|N4"),
        reply("ACK^A08^ACK", "MSA|CA|N5"),
    ];
    let (to, served) = fake_receiver(replies).await;
    let file = a.dir.path().join("five.hl7");
    let five: Vec<u8> = (1..=5)
        .flat_map(|i| a08("EPIC", "NORTHHOSP", &format!("N{i}")))
        .collect();
    std::fs::write(&file, five).expect("file");
    let out = adt_send(&a, &file, to).await;
    harness::fails(
        &out,
        1,
        "3 of 5 messages not accepted: message 2 (MSH-10 N2) not acknowledged, \
         message 3 (MSH-10 N3) not acknowledged, message 4 (MSH-10 N4) not acknowledged",
    );
    let printed = harness::stdout(&out);
    for line in [
        "-- message 1 of 5: AA",
        "-- message 2 of 5 (MSH-10 N2): not acknowledged: the reply's MSA-2 is N1",
        "-- message 3 of 5 (MSH-10 N3): not acknowledged: the reply is no HL7 message",
        "-- message 4 of 5 (MSH-10 N4): not acknowledged: the reply is ADT, not an ACK",
        "-- message 5 of 5: CA",
    ] {
        assert!(printed.contains(line), "{line}: {printed}");
    }
    assert_eq!(served.await.expect("join"), 5, "every message was sent");
    // One message, a wrong MSA-2: fails, naming it.
    let (to, _) = fake_receiver(vec![reply("ACK^A08^ACK", "MSA|AA|N0")]).await;
    let file = a.dir.path().join("one.hl7");
    std::fs::write(&file, a08("EPIC", "NORTHHOSP", "S1")).expect("file");
    let out = adt_send(&a, &file, to).await;
    harness::fails(
        &out,
        1,
        "message 1 (MSH-10 S1) not acknowledged: the reply's MSA-2 is N0",
    );
    // The right MSA-2: success.
    let (to, _) = fake_receiver(vec![reply("ACK^A08^ACK", "MSA|AA|S1")]).await;
    harness::ok(&adt_send(&a, &file, to).await);
}

/// `hisp adt send FILE --to TO`, off the runtime's threads.
async fn adt_send(n: &Node, file: &std::path::Path, to: String) -> std::process::Output {
    let (dir, config, vars) = (
        n.dir.path().to_owned(),
        n.config_path.clone(),
        n.vars.clone(),
    );
    let file = file.to_str().expect("path").to_owned();
    tokio::task::spawn_blocking(move || {
        harness::run_hisp(
            &dir,
            &config,
            &vars,
            &["adt", "send", &file, "--to", &to],
            None,
        )
    })
    .await
    .expect("join")
}

/// An MLLP receiver on a port of its own that answers one connection's
/// frames with `replies` in turn; `HOST:PORT`, and how many frames it got.
async fn fake_receiver(replies: Vec<Vec<u8>>) -> (String, tokio::task::JoinHandle<usize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let to = listener.local_addr().expect("addr").to_string();
    let served = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut framer = Framer::default();
        let mut got = 0;
        for reply in replies {
            read_ack(&mut s, &mut framer).await;
            got += 1;
            s.write_all(&frame(&reply)).await.expect("reply");
        }
        got
    });
    (to, served)
}
