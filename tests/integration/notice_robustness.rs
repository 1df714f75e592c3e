//! Built notices obey the wire rules (CRLF only, lines ≤ 998, no
//! Disposition-Notification-To) and are recognized; ordinary messages are not;
//! garbage, truncated and mutated input never panics.

use hisp::direct::DirectAddress;
use hisp::direct::dsn::{DsnRecipient, DsnRequest, build_dsn, parse_dsn};
use hisp::direct::mdn::{Disposition, MdnRequest, build_mdn, parse_mdn};
use hisp::direct::notice::{Kind, kind};

fn addr(s: &str) -> DirectAddress {
    DirectAddress::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn mdn(disposition: Disposition, subject: &str, failure: Option<&str>) -> Vec<u8> {
    let (from, to) = (addr("bob@b.example.org"), addr("alice@a.example.org"));
    build_mdn(&MdnRequest {
        reporting_host: "hisp.b.example.org",
        from: &from,
        to: &to,
        original_recipient: Some(&from),
        original_message_id: "<orig@a.example.org>",
        original_subject: Some(subject),
        disposition,
        disposition_modifiers: &[],
        final_destination_delivery: disposition == Disposition::Dispatched,
        failure,
        message_id: "<mdn@b.example.org>".into(),
        date: 1_795_318_555,
    })
}

fn dsn(headers: Option<&[u8]>, diagnostic: &str) -> Vec<u8> {
    let to = addr("alice@a.example.org");
    build_dsn(&DsnRequest {
        reporting_host: "hisp.a.example.org",
        from: "mailer-daemon@a.example.org",
        to: &to,
        original_message_id: Some("orig@a.example.org"),
        original_headers: headers,
        original_subject: Some("Überweisung"),
        recipients: vec![DsnRecipient {
            address: "bob@b.example.org".into(),
            status: "5.7.31".into(),
            action: "failed".into(),
            diagnostic: Some(diagnostic.into()),
        }],
        message_id: "<dsn@a.example.org>".into(),
        date: 1_795_318_555,
    })
}

/// CRLF only, every line ≤ 998 octets, no Disposition-Notification-To.
fn assert_wire_clean(raw: &[u8]) {
    for (i, &b) in raw.iter().enumerate() {
        match b {
            b'\n' => assert!(i > 0 && raw[i - 1] == b'\r', "bare LF at {i}"),
            b'\r' => assert_eq!(raw.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            _ => {}
        }
    }
    assert!(raw.ends_with(b"\r\n"));
    for line in raw.split(|&b| b == b'\n') {
        assert!(line.len() <= 999, "line of {} octets", line.len());
    }
    let lower = String::from_utf8_lossy(raw).to_ascii_lowercase();
    assert!(
        !lower
            .split("\r\n")
            .any(|l| l.starts_with("disposition-notification-to")),
        "a Disposition-Notification-To field"
    );
}

#[test]
fn built_notices_are_clean_and_recognized() {
    let long = "Referral ".repeat(300);
    let evil = "x\r\nDisposition-Notification-To: a@b.org\r\n";
    let mut built = Vec::new();
    for d in [
        Disposition::Processed,
        Disposition::Dispatched,
        Disposition::Failed,
    ] {
        for subject in ["Lab results", "Überweisung für Frau Müller", &long, evil] {
            let raw = mdn(d, subject, Some("over\nthe limit ".repeat(200).as_str()));
            assert_eq!(kind(&raw), Kind::Mdn);
            let parsed = parse_mdn(&raw).expect("parses");
            assert_eq!(parsed.disposition, d);
            assert_eq!(
                parsed.original_recipient.as_deref(),
                Some("bob@b.example.org")
            );
            built.push(raw);
        }
    }
    let headers = "Message-ID: <orig@a.example.org>\nSubject: =?utf-8?q?x?= Grüße\n\nbody";
    for h in [None, Some(headers.as_bytes()), Some(&b"X: \xff\xfe\n"[..])] {
        let raw = dsn(h, &"550 refused ".repeat(200));
        assert_eq!(kind(&raw), Kind::Dsn);
        let parsed = parse_dsn(&raw).expect("parses");
        assert_eq!(
            parsed.original_message_id.as_deref(),
            Some("<orig@a.example.org>")
        );
        assert_eq!(parsed.recipients.len(), 1);
        built.push(raw);
    }
    for raw in &built {
        assert_wire_clean(raw);
    }
}

#[test]
fn boundary_never_appears_in_a_part() {
    let first = String::from_utf8(dsn(None, "x")).expect("ascii");
    let boundary = first
        .split("boundary=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("boundary");
    let clash = format!("X-Trap: --{boundary}--\n");
    let raw = dsn(Some(clash.as_bytes()), "x");
    let text = String::from_utf8(raw.clone()).expect("ascii");
    assert!(!text.contains(&format!("boundary=\"{boundary}\"")));
    assert_eq!(parse_dsn(&raw).expect("parses").recipients.len(), 1);
}

#[test]
fn detection_is_robust_and_ordinary_mail_is_message() {
    let cases: &[(&str, Kind)] = &[
        (
            "Content-Type: MULTIPART/REPORT; REPORT-TYPE=\"Disposition-Notification\"; boundary=x\r\n\r\n",
            Kind::Mdn,
        ),
        (
            "Content-Type: multipart/report;\r\n\treport-type=\r\n disposition-notification (c);\r\n boundary=\"a b\"\r\n\r\n",
            Kind::Mdn,
        ),
        (
            "content-type: multipart/report; report-type*=us-ascii''delivery-status; boundary=x\n\n",
            Kind::Dsn,
        ),
        (
            "Content-Type: multipart/report; boundary=\"x\"; report-type=delivery-status (comment)\n\n",
            Kind::Dsn,
        ),
        (
            "Content-Type: message/disposition-notification\r\n\r\nDisposition: a/b; processed\r\n",
            Kind::Mdn,
        ),
        (
            "Content-Type: message/delivery-status\n\nReporting-MTA: dns;x\n",
            Kind::Dsn,
        ),
        (
            "From: a@b.org\r\nDisposition-Notification-To: a@b.org\r\nContent-Type: text/plain\r\n\r\nhi\r\n",
            Kind::Message,
        ),
        (
            "From: a@b.org\nSubject: no content type\n\nbody\n",
            Kind::Message,
        ),
        (
            "Content-Type: multipart/report; report-type=feedback-report; boundary=x\n\n",
            Kind::Message,
        ),
        (
            "Content-Type: multipart/report; boundary=x\n\n",
            Kind::Message,
        ),
        (
            "Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: multipart/report; report-type=delivery-status; boundary=r\n\n--r--\n--m--\n",
            Kind::Message,
        ),
        (
            "Content-Type: text/plain\n\nContent-Type: multipart/report; report-type=delivery-status\n",
            Kind::Message,
        ),
    ];
    for (raw, want) in cases {
        assert_eq!(kind(raw.as_bytes()), *want, "{raw:?}");
    }
}

#[test]
fn garbage_is_refused_without_panic() {
    let deep = "Content-Type: multipart/mixed; boundary=z\n\n--z\n".repeat(3000);
    let long_header = format!("Subject: {}\n\n", "a".repeat(200_000));
    let folds = format!(
        "Content-Type: message/delivery-status\n\nReporting-MTA: dns;x\n{}",
        " y\n".repeat(200_000)
    );
    let table: Vec<&[u8]> = vec![
        b"",
        b"\r\n",
        b"\n\n\n",
        b"\x00\xff\xfe\x80garbage",
        b"Content-Type: multipart/report; report-type=disposition-notification",
        b"Content-Type: multipart/report; report-type=disposition-notification; boundary=b\n\n--b\n",
        b"Content-Type: multipart/report; report-type=disposition-notification; boundary=b\n\n--b\nContent-Type: message/disposition-notification\n\nDisposition: ;\n--b--\n",
        b"Content-Type: message/disposition-notification\n\nDisposition: automatic-action/MDN-sent-automatically; displayed\n",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns;x\n\nFinal-Recipient: rfc822;a@b.org\n--b--\n",
        b"Content-Type: message/delivery-status\n\nReporting-MTA: dns;x\n",
        b"Content-Type: multipart/signed; boundary=s\n\n--s--\n",
        b"Content-Type: \"\"\";;;===\n\n",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"\"\n\n----\n",
        deep.as_bytes(),
        long_header.as_bytes(),
        folds.as_bytes(),
    ];
    for raw in table {
        let _ = kind(raw);
        assert!(
            parse_mdn(raw).is_err(),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
        assert!(
            parse_dsn(raw).is_err(),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

/// Every prefix and many random mutations of every fixture and built notice.
#[test]
fn truncated_and_mutated_input_never_panics() {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut samples: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .map(|e| std::fs::read(e.expect("entry").path()).expect("read"))
        .collect();
    samples.push(mdn(Disposition::Failed, "Überweisung", Some("nope")));
    samples.push(dsn(Some(b"Message-ID: <a@b>\n"), "550 no"));
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    const NOISE: &[u8] = b"\r\n;:=\"<>/-\t( )\\\x00\xff";
    for sample in &samples {
        for end in 0..=sample.len() {
            let cut = &sample[..end];
            let _ = (kind(cut), parse_mdn(cut), parse_dsn(cut));
        }
        for _ in 0..1500 {
            let mut m = sample.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % m.len().max(1);
                let byte = NOISE[(next() as usize) % NOISE.len()];
                match next() % 3 {
                    0 if at < m.len() => m[at] = byte,
                    1 => m.insert(at.min(m.len()), byte),
                    _ if at < m.len() => {
                        m.remove(at);
                    }
                    _ => {}
                }
            }
            let _ = (kind(&m), parse_mdn(&m), parse_dsn(&m));
        }
    }
}

/// Found by fuzzing: mail-parser 0.11 hits a debug assertion on this nested
/// message/rfc822 shape. It must be "not a report", never a panic.
#[test]
fn nested_rfc822_that_trips_mail_parser_is_just_a_message() {
    let input = b"Content-Type:multipart;boundary=b\n\n--bContent-Type:message/rfc822\n\nContent-Type:message/rfc822\n\n\n--b--";
    assert_eq!(kind(input), Kind::Message);
    assert!(parse_mdn(input).is_err());
    assert!(parse_dsn(input).is_err());
}
