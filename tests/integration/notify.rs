//! Encounter notification end to end over real sockets: feeds registered,
//! a roster imported with the CLI, ADT messages sent over MLLP, and the alert
//! arriving decrypted and verified in the care manager's mailbox with its
//! three parts; plus the cases that must not alert.

use std::time::Duration;

use hisp::cli::notify_send_mllp as send_mllp;
use hisp::direct::DirectAddress;
use hisp::mailbox::INBOX;
use hisp::store::notify;

use crate::harness;
use crate::smtp::{Node, wait_for};

pub fn adt(
    control: &str,
    trigger: &str,
    facility: &str,
    class: &str,
    visit: &str,
    pid: &str,
) -> Vec<u8> {
    format!(
        "MSH|^~\\&|EPIC|{facility}|HISP|HISP|20261122060000||ADT^{trigger}^ADT_A01|{control}|P|2.5.1\r\
         EVN|{trigger}|20261122055900\r\
         {pid}\r\
         PV1|1|{class}|ED^12^A^{facility}||||1234^Smith^Anna||||||||||||{visit}\r\
         PV2|||^Chest pain\r"
    )
    .into_bytes()
}

pub const JANE: &str =
    "PID|1||MRN1^^^NORTH^MR||Doe^Jane||19800102|F|||1 Main St^^Hartford^CT^06101||(860)555-1234";
const JOHN: &str = "PID|1||MRN2^^^NORTH^MR||Roe^John||19700304|M|||2 Elm St^^Hartford^CT^06102";
const NOBODY: &str = "PID|1||MRN9^^^NORTH^MR||Unknown^Person||19900101|M";
const SAM: &str = "PID|1||BH7^^^BHC^MR||Poe^Sam||19650505|M";

pub async fn ack_code(n: &Node, msg: &[u8]) -> (String, Vec<u8>) {
    let ack = send_mllp(n.mllp, msg).await.expect("mllp");
    let (code, _) = hisp::hl7::parse_ack(&ack).expect("ack");
    (code, ack)
}

/// An alert as it reached a mailbox: its text part and attachments by name.
pub struct Delivered {
    pub text: String,
    pub attachments: Vec<(Option<String>, Vec<u8>)>,
}

impl Delivered {
    /// The text and every attachment, as one lossy string to search.
    pub fn everything(&self) -> String {
        let mut all = self.text.clone();
        for (_, bytes) in &self.attachments {
            all.push_str(&String::from_utf8_lossy(bytes));
        }
        all
    }
}

/// Wait until `who`'s inbox holds `count` messages, then read each.
pub async fn delivered(n: &Node, who: &DirectAddress, count: usize) -> Vec<Delivered> {
    use mail_parser::MimeHeaders;
    let mail = wait_for(60, "alerts in the inbox", || async {
        let l = n.hisp.mailbox_list(who, INBOX).await.expect("list");
        (l.len() >= count).then_some(l)
    })
    .await;
    let mut out = Vec::new();
    for m in &mail {
        let (shown, raw) = n.hisp.mailbox_show(who, m.id, "test").await.expect("show");
        let parsed = mail_parser::MessageParser::new()
            .parse(&raw)
            .expect("parse");
        out.push(Delivered {
            text: shown.text.clone().unwrap_or_default(),
            attachments: parsed
                .attachments()
                .map(|p| {
                    (
                        p.attachment_name().map(str::to_owned),
                        p.contents().to_vec(),
                    )
                })
                .collect(),
        });
    }
    out
}

pub async fn alerts(n: &Node) -> Vec<notify::AlertRow> {
    let mut conn = n.hisp.conn().await.expect("conn");
    notify::alerts(&mut conn, None).await.expect("alerts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adt_over_mllp_becomes_a_direct_alert_only_when_it_should() {
    let mut a = Node::new("a.test", false, None).await;
    a.address("carol").await;
    a.start().await;
    harness::ok(&a.cli(&[
        "feed",
        "add",
        "--facility",
        "NORTHHOSP",
        "--name",
        "North Hospital",
    ]));
    harness::ok(&a.cli(&["feed", "add", "--facility", "BHC", "--sensitive"]));
    let csv = a.dir.path().join("roster.csv");
    std::fs::write(
        &csv,
        "patient_id,assigning_authority,family_name,given_name,birth_date,sex,postal_code,phone,program,end_date\n\
         MRN1,NORTH,Doe,Jane,1980-01-02,F,06101,860-555-1234,Care Transitions,\n\
         MRN2,NORTH,Roe,John,1970-03-04,M,06102,,Care Transitions,\n\
         BH7,BHC,Poe,Sam,1965-05-05,M,,,Behavioral,\n\
         ,,Bad,,,X,,,,\n",
    )
    .expect("csv");
    let report = harness::ok(&a.cli(&[
        "roster",
        "import",
        csv.to_str().expect("p"),
        "--owner",
        "carol@a.test",
    ]));
    assert!(
        report.contains("row 5"),
        "the bad row is reported by number: {report}"
    );
    assert!(report.contains("3 applied"), "{report}");
    harness::ok(&a.cli(&[
        "consent",
        "opt-out",
        "--patient-id",
        "MRN2",
        "--authority",
        "NORTH",
    ]));

    // ED registration for a rostered patient, through the real CLI.
    let file = a.dir.path().join("a04.hl7");
    // The sending facility's HD carries its NPI, which the alert shows.
    let a04 = String::from_utf8(adt("C1", "A04", "NORTHHOSP", "E", "V100", JANE)).expect("utf8");
    let a04 = a04.replacen("|NORTHHOSP|", "|NORTHHOSP^1234567893^NPI|", 1);
    std::fs::write(&file, &a04).expect("file");
    let out = harness::ok(&a.cli(&[
        "adt",
        "send",
        file.to_str().expect("p"),
        "--to",
        &a.mllp.to_string(),
    ]));
    assert!(out.contains("MSA|AA|C1"), "{out}");
    let carol = hisp::direct::DirectAddress::parse("carol@a.test").expect("addr");
    let inbox = wait_for(60, "the alert in carol's inbox", || async {
        let l = a.hisp.mailbox_list(&carol, INBOX).await.expect("list");
        (!l.is_empty()).then_some(l)
    })
    .await;
    assert_eq!(
        inbox[0].subject, "Encounter notification: ED visit",
        "no PHI in the subject"
    );
    // The worklist follows the alert's Direct message to its delivery:
    // carol's mailbox's receipt (the MDN) comes back to the notification
    // address, and the alert reads "delivered".
    wait_for(60, "the alert's receipt", || async {
        let listed = alerts(&a).await;
        (listed.len() == 1 && listed[0].delivery.as_deref() == Some("delivered")).then_some(())
    })
    .await;
    assert!(
        harness::ok(&a.cli(&["alert", "list"])).contains("delivered"),
        "the CLI shows it"
    );
    assert!(inbox[0].from.starts_with("notifications@a.test"));
    let (shown, raw) = a
        .hisp
        .mailbox_show(&carol, inbox[0].id, "test")
        .await
        .expect("show");
    let text = shown.text.clone().expect("text part");
    assert!(
        text.contains("Doe, Jane")
            && text.contains("North Hospital")
            && text.contains("Care Transitions")
            && text.contains("Facility NPI: 1234567893"),
        "{text}"
    );
    let names: Vec<&str> = shown
        .attachments
        .iter()
        .map(|x| x.content_type.as_str())
        .collect();
    // The Context first, then the ADT it describes (the IG's order, which
    // the Direct Project's Context library relies on).
    assert_eq!(
        names,
        ["text/plain", "application/x-direct-encapsulated+hl7v2"],
        "{names:?}"
    );
    assert_eq!(
        shown.attachments.first().map(|x| x.name.as_str()),
        Some("metadata.txt"),
        "{:?}",
        shown.attachments
    );
    {
        // X-Direct-Context names the metadata part by its Content-ID, and
        // the encapsulated ADT is the message as the hospital sent it.
        use mail_parser::MimeHeaders;
        let parsed = mail_parser::MessageParser::new()
            .parse(&raw)
            .expect("parse");
        let named = parsed
            .header_raw("X-Direct-Context")
            .expect("X-Direct-Context")
            .trim()
            .to_string();
        let parts: Vec<_> = parsed.attachments().collect();
        let metadata = parts
            .iter()
            .find(|p| p.attachment_name() == Some("metadata.txt"))
            .expect("metadata.txt");
        assert_eq!(
            metadata.content_id().map(|c| format!("<{c}>")),
            Some(named.clone()),
            "{named}"
        );
        let hl7 = parts
            .iter()
            .find(|p| {
                p.content_type()
                    .is_some_and(|t| t.subtype() == Some("x-direct-encapsulated+hl7v2"))
            })
            .expect("the ADT");
        assert_eq!(hl7.contents(), a04.as_bytes(), "the ADT as sent");
    }
    let raw = String::from_utf8_lossy(&raw);
    assert!(
        raw.contains("X-Direct-Context:"),
        "the context is named by its header"
    );
    assert!(
        raw.contains("patient-id: NORTH:MRN1\r\n")
            && raw.contains(
                "patient: givenName=Jane; surname=Doe; dateOfBirth=1980-01-02; gender=F\r\n"
            ),
        "the Direct Context IG's patient lines: {raw}"
    );
    // To an address here, the alert asks for no dispatched MDN: the
    // processed MDN, queued as it was filed, says it reached the mailbox,
    // and completes its tracking.
    assert!(
        !raw.contains("Disposition-Notification-Options"),
        "no final-delivery request to a local address: {raw}"
    );
    let alert_id = alerts(&a).await[0].message_id.clone().expect("sent");
    let track = wait_for(60, "the alert's tracking completed", || async {
        let mut conn = a.hisp.conn().await.expect("conn");
        let rows = hisp::store::tracking::by_message(&mut conn, a.hisp.store.sealer(), &alert_id)
            .await
            .expect("tracking");
        rows.into_iter().find(|r| r.final_outcome.is_some())
    })
    .await;
    assert!(
        !track.wants_dispatched
            && track.final_outcome.as_deref() == Some("delivered")
            && track.processed_at.is_some()
            && track.dispatched_at.is_none(),
        "{track:?}"
    );
    // The worklist is the alert's record: no copy of it sits in the
    // notification address's Sent folder, beyond an opt-out's reach.
    let sender = hisp::direct::DirectAddress::parse("notifications@a.test").expect("addr");
    let sent = a
        .hisp
        .mailbox_list(&sender, hisp::mailbox::SENT)
        .await
        .expect("list");
    assert!(sent.is_empty(), "{sent:?}");
    // An alert is marked sent in the transaction that queues its message:
    // another message carrying it (a second try, another node's) fails and
    // queues nothing, so carol never gets it twice.
    let filed = alerts(&a).await;
    assert!(
        filed.len() == 1 && filed[0].message_id.is_some(),
        "{filed:?}"
    );
    let gw = hisp::smtp::Gateway::new(a.hisp.clone());
    let twice = b"From: notifications@a.test\r\nTo: carol@a.test\r\nSubject: Encounter notification\r\nMessage-ID: <twice@a.test>\r\n\r\nagain\r\n";
    let carol_addr = DirectAddress::parse("carol@a.test").expect("addr");
    let sub = hisp::smtp::submit::Submission {
        mail_from: &sender,
        rcpts: std::slice::from_ref(&carol_addr),
        message: twice,
        actor: "test",
        sent_copy: false,
        final_delivery: hisp::smtp::submit::FinalDelivery::Always,
    };
    let refused = gw.submit_carrying(&sub, &[filed[0].id], None).await;
    assert!(refused.is_err(), "{refused:?}");
    let mut conn = a.hisp.conn().await.expect("conn");
    let tracked =
        hisp::store::tracking::by_message(&mut conn, a.hisp.store.sealer(), "<twice@a.test>")
            .await
            .expect("tracking");
    assert!(tracked.is_empty(), "nothing queued: {tracked:?}");
    drop(conn);

    // Not rostered: AA, no alert.
    assert_eq!(
        ack_code(&a, &adt("C2", "A04", "NORTHHOSP", "E", "V200", NOBODY))
            .await
            .0,
        "AA"
    );
    // Enhanced mode, still one reply per message: NE/AL (which HL7 calls
    // original mode) wants the application ACK, MSH-15 = AL the accept ACK.
    let enhanced = |control: &str, facility: &str, visit: &str, modes: &str| {
        String::from_utf8(adt(control, "A04", facility, "E", visit, NOBODY))
            .expect("utf8")
            .replacen("|P|2.5.1\r", &format!("|P|2.5.1|||{modes}\r"), 1)
    };
    let ne_al = enhanced("C2N", "NORTHHOSP", "V201", "NE|AL");
    assert_eq!(ack_code(&a, ne_al.as_bytes()).await.0, "AA");
    let al_ne = enhanced("C2A", "NORTHHOSP", "V202", "AL|NE");
    assert_eq!(ack_code(&a, al_ne.as_bytes()).await.0, "CA");
    let refused = enhanced("C2E", "ELSEWHERE", "V203", "AL|AL");
    assert_eq!(ack_code(&a, refused.as_bytes()).await.0, "CR");
    // Duplicate control id (the message sent again): the same ACK, no
    // second alert.
    let (code, first) = ack_code(&a, a04.as_bytes()).await;
    assert_eq!(code, "AA");
    let again = send_mllp(a.mllp, a04.as_bytes()).await.expect("mllp");
    assert_eq!(first, again, "a retry gets the stored ACK byte for byte");
    // Opted out: no alert, and nothing kept but the dedup key.
    assert_eq!(
        ack_code(&a, &adt("C3", "A04", "NORTHHOSP", "E", "V300", JOHN))
            .await
            .0,
        "AA"
    );
    // Sensitive feed, no consent: no alert, and an audit entry.
    assert_eq!(
        ack_code(&a, &adt("C4", "A04", "BHC", "E", "V400", SAM))
            .await
            .0,
        "AA"
    );
    // Admit then cancel admit: admission then retraction.
    // The admission carries a substance-use diagnosis Jane has not consented to share.
    let mut c5 = adt("C5", "A01", "NORTHHOSP", "I", "V500", JANE);
    c5.extend_from_slice(b"DG1|1||F10.20^Alcohol dependence^I10\rDG1|2||R07.9^Chest pain^I10\r");
    assert_eq!(ack_code(&a, &c5).await.0, "AA");
    assert_eq!(
        ack_code(&a, &adt("C6", "A11", "NORTHHOSP", "I", "V500", JANE))
            .await
            .0,
        "AA"
    );
    // A bed move within the facility: nothing.
    let mut bed =
        String::from_utf8(adt("C7", "A02", "NORTHHOSP", "I", "V100", JANE)).expect("utf8");
    bed = bed.replace(
        "PV1|1|I|ED^12^A^NORTHHOSP||||",
        "PV1|1|I|ICU^3^B^NORTHHOSP|||ED^12^A^NORTHHOSP|",
    );
    assert_eq!(ack_code(&a, bed.as_bytes()).await.0, "AA");
    // Unknown sender and wrong message type: AR.
    assert_eq!(
        ack_code(&a, &adt("C8", "A04", "ELSEWHERE", "E", "V800", JANE))
            .await
            .0,
        "AR"
    );
    let orm = b"MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|20261122060000||ORM^O01|C9|P|2.5.1\rPID|1||MRN1^^^NORTH\r";
    assert_eq!(ack_code(&a, orm).await.0, "AR");
    // A hospital's test engine pointed at production (MSH-11 = T, training):
    // AR with error 202, and no alert about a visit that never happened.
    let training = String::from_utf8(adt("C9T", "A04", "NORTHHOSP", "E", "V950", JANE))
        .expect("utf8")
        .replace("|C9T|P|2.5.1", "|C9T|T|2.5.1");
    let (code, ack) = ack_code(&a, training.as_bytes()).await;
    assert_eq!(code, "AR");
    let ack = String::from_utf8_lossy(&ack);
    assert!(ack.contains("ERR|") && ack.contains("202"), "{ack}");
    assert!(ack.contains("processing id T is not taken here"), "{ack}");

    wait_for(60, "every ADT processed", || async {
        let mut conn = a.hisp.conn().await.expect("conn");
        let rows: i64 = sqlx::Row::get(
            &sqlx::query("SELECT COUNT(*) FROM adt_messages WHERE state <> 'done'")
                .fetch_one(&mut *conn)
                .await
                .expect("count"),
            0,
        );
        (rows == 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut events: Vec<String> = alerts(&a).await.iter().map(|x| x.event.clone()).collect();
    events.sort();
    assert_eq!(
        events,
        ["admit", "ed", "retraction"],
        "one ED, one admission, one retraction"
    );
    let audit = harness::ok(&a.cli(&["audit", "list", "--limit", "200"]));
    assert!(
        audit.contains("alert.suppressed") && audit.contains("sensitive source"),
        "{audit}"
    );
    assert!(audit.contains("the patient opted out"), "{audit}");
    let mut conn = a.hisp.conn().await.expect("conn");
    let kept: Option<Vec<u8>> = sqlx::Row::get(
        &sqlx::query("SELECT raw_sealed FROM adt_messages WHERE control_id = 'C3'")
            .fetch_one(&mut *conn)
            .await
            .expect("row"),
        0,
    );
    assert!(kept.is_none(), "an opted-out patient's ADT is not kept");
    drop(conn);
    let mail = delivered(&a, &carol, 3).await;
    assert_eq!(mail.len(), 3);
    let (mut withheld, mut chest_pain) = (0, 0);
    for m in &mail {
        let everything = m.everything();
        assert!(
            !everything.contains("Alcohol"),
            "a sensitive diagnosis went out: {everything}"
        );
        if everything.contains("withheld") {
            withheld += 1;
        }
        if everything.contains("Chest pain") {
            chest_pain += 1;
        }
    }
    assert!(chest_pain >= 1, "the admission's other diagnosis stays");
    // The retraction names the alert it takes back.
    let retraction = mail
        .iter()
        .map(|m| m.everything())
        .find(|t| t.contains("Event: retraction"))
        .expect("the retraction");
    assert!(
        retraction.contains("Retracts: the admission notification (event at 20261122"),
        "{retraction}"
    );
    assert_eq!(
        withheld, 3,
        "no patient opted in, so every alert says sensitive content, if any, is withheld \
         (said only when there was some, it would itself disclose it)"
    );

    // Re-submitting the roster renews the entries instead of doubling them.
    let again = harness::ok(&a.cli(&[
        "roster",
        "import",
        csv.to_str().expect("p"),
        "--owner",
        "carol@a.test",
    ]));
    assert!(again.contains("3 applied"), "{again}");
    let listed = harness::ok(&a.cli(&["roster", "list", "--owner", "carol@a.test", "--json"]));
    let entries: serde_json::Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(entries.as_array().map(Vec::len), Some(3), "{listed}");
    // A40 retires MRN1 in favour of NEW1; an ED visit under NEW1 still alerts carol.
    let a40 = b"MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|20261122070000||ADT^A40^ADT_A39|C10|P|2.5.1\rEVN|A40|20261122070000\rPID|1||NEW1^^^NORTH^MR||Doe^Jane||19800102|F\rMRG|MRN1^^^NORTH\r";
    assert_eq!(ack_code(&a, a40).await.0, "AA");
    let listed = wait_for(30, "the merge", || async {
        let l = harness::ok(&a.cli(&["roster", "list", "--owner", "carol@a.test", "--json"]));
        (l.contains("NEW1") && !l.contains("MRN1")).then_some(l)
    })
    .await;
    assert!(listed.contains("NEW1"));
    // A later ED visit (its own event time: the same time under another
    // visit number would be the first visit reported again).
    let new_pid = "PID|1||NEW1^^^NORTH^MR||Doe^J||19800102|F";
    let later = String::from_utf8(adt("C11", "A04", "NORTHHOSP", "E", "V900", new_pid))
        .expect("utf8")
        .replace("EVN|A04|20261122055900", "EVN|A04|20261122075900");
    assert_eq!(ack_code(&a, later.as_bytes()).await.0, "AA");
    wait_for(60, "the alert after the merge", || async {
        (alerts(&a).await.len() == 4).then_some(())
    })
    .await;
    let first = alerts(&a).await.last().map(|x| x.id).expect("an alert");
    harness::ok(&a.cli(&["alert", "status", &first.to_string(), "in-progress"]));
    let listed = harness::ok(&a.cli(&["alert", "list", "--json"]));
    assert!(listed.contains("in-progress"), "{listed}");
    harness::fails(
        &a.cli(&["alert", "status", "99999", "completed"]),
        1,
        "alert 99999",
    );
    // A frame over `[notify] max_frame` gets AR rather than silence, naming
    // the message by its MSH-10 and addressed back to its sender.
    let mut huge = adt("C12", "A04", "NORTHHOSP", "E", "V990", JANE);
    huge.extend(std::iter::repeat_n(b'X', 1_100_000));
    let (code, ack) = ack_code(&a, &huge).await;
    assert_eq!(code, "AR");
    assert_eq!(hisp::hl7::parse_ack(&ack).expect("ACK").1, "C12");
    let header = hisp::hl7::parse(&ack).expect("ACK").header();
    assert_eq!(header.receiving_facility.id(), "NORTHHOSP");
    // One in Latin-1 gets its MSH-10 back as the bytes it sent, as every
    // other ACK does (before, the AR was written in UTF-8: 0xC3 0xA9).
    let mut latin = adt("C1L", "A04", "NORTHHOSP", "E", "V990", JANE);
    let at = latin.windows(4).position(|w| w == b"|C1L").expect("MSH-10");
    latin[at + 3] = 0xE9;
    latin.extend(std::iter::repeat_n(b'X', 1_100_000));
    let (code, ack) = ack_code(&a, &latin).await;
    assert_eq!(code, "AR");
    assert!(
        ack.windows(7).any(|w| w == b"|AR|C1\xE9"),
        "{}",
        String::from_utf8_lossy(&ack)
    );
    // A message whose encoding characters are unusable (MSH-2 repeats one)
    // gets AE, still naming it by its MSH-10 and addressed back to it.
    let bad = "MSH|^~\\&&|EPIC|NORTHHOSP|HISP|HISP|20261122060000||ADT^A04|C13|P|2.5.1\rPID|1\r";
    let (code, ack) = ack_code(&a, bad.as_bytes()).await;
    assert_eq!(code, "AE");
    assert_eq!(hisp::hl7::parse_ack(&ack).expect("ACK").1, "C13");
    let header = hisp::hl7::parse(&ack).expect("ACK").header();
    assert_eq!(header.receiving_facility.id(), "NORTHHOSP");
    assert_eq!(header.version, "2.5.1");
    // Table 0357: unusable encoding characters are a data type error.
    let text = String::from_utf8_lossy(&ack);
    assert!(text.contains("|102^Data type error^HL70357|"), "{text}");
    // What is not HL7 at all gets AE naming nothing: no MSH first is a
    // segment sequence error.
    let (code, ack) = ack_code(&a, b"HELLO|C14").await;
    assert_eq!(code, "AE");
    assert_eq!(hisp::hl7::parse_ack(&ack).expect("ACK").1, "");
    let text = String::from_utf8_lossy(&ack);
    assert!(text.contains("100^Segment sequence error"), "{text}");
    // Two messages in one frame get AE naming the first, and neither is
    // taken: each sent alone afterwards is new (AA), not a retry.
    let mut two = adt("C15", "A08", "NORTHHOSP", "E", "V991", JANE);
    two.extend(adt("C16", "A08", "NORTHHOSP", "E", "V991", JANE));
    let (code, ack) = ack_code(&a, &two).await;
    assert_eq!(code, "AE", "{}", String::from_utf8_lossy(&ack));
    assert_eq!(hisp::hl7::parse_ack(&ack).expect("ACK").1, "C15");
    assert!(String::from_utf8_lossy(&ack).contains("one message per frame"));
    let mut conn = a.hisp.conn().await.expect("conn");
    let stored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM adt_messages WHERE control_id IN ('C15', 'C16')")
            .fetch_one(&mut *conn)
            .await
            .expect("count");
    drop(conn);
    assert_eq!(stored, 0, "nothing of the frame is stored");
    // The same when the second is glued to the first's last segment, as
    // `cat` of files without a final line ending leaves them: its MSH sits
    // inside the first's PV1, and taken as one message the second's PID
    // would travel in the first's alert.
    let mut glued = adt("C17", "A08", "NORTHHOSP", "E", "V991", JANE);
    assert_eq!(glued.pop(), Some(b'\r'));
    glued.extend(adt("C18", "A08", "NORTHHOSP", "E", "V991", JANE));
    let (code, ack) = ack_code(&a, &glued).await;
    assert_eq!(code, "AE", "{}", String::from_utf8_lossy(&ack));
    assert_eq!(hisp::hl7::parse_ack(&ack).expect("ACK").1, "C17");
    assert!(String::from_utf8_lossy(&ack).contains("holds 2 messages"));
    for id in ["C16", "C15"] {
        let (code, ack) = ack_code(&a, &adt(id, "A08", "NORTHHOSP", "E", "V991", JANE)).await;
        assert_eq!(code, "AA", "{id}");
        assert_eq!(hisp::hl7::parse_ack(&ack).expect("ACK").1, id);
    }
    a.stop().await;
}

/// python-hl7's `mllp_send` (Debian python3-hl7), a real peer, gets our ACK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_hl7_mllp_send_gets_an_ack() {
    if std::process::Command::new("mllp_send")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(std::env::var_os("CI").is_none(), "CI installs python3-hl7");
        eprintln!("mllp_send (python3-hl7) is not installed: skipped");
        return;
    }
    let mut a = Node::new("a.test", false, None).await;
    a.start().await;
    harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
    let file = a.dir.path().join("a04.hl7");
    // `--loose` reads a file of messages with CRLF segment ends, as people save them.
    let text = String::from_utf8(adt("P1", "A04", "NORTHHOSP", "E", "V1", JANE)).expect("utf8");
    std::fs::write(&file, text.replace('\r', "\r\n")).expect("file");
    let port = a.mllp.port().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("mllp_send")
            .args(["--loose", "--port", &port, "--file"])
            .arg(&file)
            .arg("127.0.0.1")
            .output()
            .expect("mllp_send")
    })
    .await
    .expect("join");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{printed} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.contains("MSA|AA|P1"), "{printed}");
    a.stop().await;
}
