//! Golden fixtures: MDNs and DSNs as other HISPs send them (LF-only, folded,
//! upper-case, quoted, signed), parsed field by field, then rebuilt from the
//! parsed values and parsed again to the same struct.

use hisp::direct::DirectAddress;
use hisp::direct::dsn::{Dsn, DsnRecipient, DsnRequest, build_dsn, parse_dsn};
use hisp::direct::mdn::{Disposition, Mdn, MdnRequest, build_mdn, parse_mdn};
use hisp::direct::notice::{Kind, kind};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn addr(s: &str) -> DirectAddress {
    DirectAddress::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

/// Build an MDN carrying exactly what `mdn` says, and parse it back.
fn mdn_round_trip(mdn: &Mdn) -> Mdn {
    let from = addr(mdn.final_recipient.as_deref().expect("final recipient"));
    let original = mdn.original_recipient.as_deref().map(addr);
    let to = addr("alice@direct.a.example.org");
    let raw = build_mdn(&MdnRequest {
        reporting_host: mdn.reporting_ua.as_deref().expect("reporting ua"),
        from: &from,
        to: &to,
        original_recipient: original.as_ref(),
        original_message_id: mdn.original_message_id.as_deref().expect("original id"),
        original_subject: Some("Round trip"),
        disposition: mdn.disposition,
        disposition_modifiers: &mdn.disposition_modifiers,
        final_destination_delivery: mdn.final_destination_delivery,
        failure: mdn.failure.as_deref(),
        message_id: "<round-trip@hisp.example.org>".into(),
        date: 1_474_309_012,
    });
    assert_eq!(kind(&raw), Kind::Mdn);
    parse_mdn(&raw).expect("rebuilt MDN parses")
}

fn check_mdn(name: &str, expected: Mdn) {
    let raw = fixture(name);
    assert_eq!(kind(&raw), Kind::Mdn, "{name}");
    let parsed = parse_mdn(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(parsed, expected, "{name}");
    assert_eq!(mdn_round_trip(&parsed), parsed, "{name} round trip");
    assert!(parse_dsn(&raw).is_err(), "{name} is not a DSN");
}

#[test]
fn java_ri_processed_mdn() {
    check_mdn(
        "mdn-processed-javari.eml",
        Mdn {
            reporting_ua: s("hisp.b.example.org"),
            final_recipient: s("bob@direct.b.example.org"),
            original_recipient: None,
            original_message_id: s("<20160919181650.12345@hisp.a.example.org>"),
            disposition: Disposition::Processed,
            disposition_modifiers: vec![],
            final_destination_delivery: false,
            failure: None,
        },
    );
}

#[test]
fn dispatched_mdn_with_final_destination_delivery() {
    check_mdn(
        "mdn-dispatched-final-delivery.eml",
        Mdn {
            reporting_ua: s("hisp.b.example.org"),
            final_recipient: s("bob@direct.b.example.org"),
            original_recipient: s("bob.smith@direct.b.example.org"),
            original_message_id: s("<lab-results-2016-09-20@hisp.a.example.org>"),
            disposition: Disposition::Dispatched,
            disposition_modifiers: vec![],
            final_destination_delivery: true,
            failure: None,
        },
    );
}

#[test]
fn failed_mdn() {
    check_mdn(
        "mdn-failed.eml",
        Mdn {
            reporting_ua: s("hisp.c.example.net"),
            final_recipient: s("carol@direct.c.example.net"),
            original_recipient: None,
            original_message_id: s("<discharge-9@hisp.a.example.org>"),
            disposition: Disposition::Failed,
            disposition_modifiers: vec![],
            final_destination_delivery: false,
            failure: s(
                "the mailbox carol@direct.c.example.net is full and cannot accept the message",
            ),
        },
    );
}

#[test]
fn processed_error_mdn_under_a_signature() {
    let expected = Mdn {
        reporting_ua: s("direct.d.example.com"),
        final_recipient: s("dave@direct.d.example.com"),
        original_recipient: None,
        original_message_id: s("<ccda-42@hisp.a.example.org>"),
        disposition: Disposition::Processed,
        disposition_modifiers: vec!["error".into()],
        final_destination_delivery: false,
        failure: s("unable to decrypt: no private key for recipient"),
    };
    assert!(expected.is_failure());
    check_mdn("mdn-processed-error-signed.eml", expected);
}

/// Build a DSN carrying exactly what `dsn` says, and parse it back.
fn dsn_round_trip(dsn: &Dsn) -> Dsn {
    let to = addr("alice@direct.a.example.org");
    let raw = build_dsn(&DsnRequest {
        reporting_host: dsn.reporting_mta.as_deref().expect("reporting mta"),
        from: "mailer-daemon@hisp.a.example.org",
        to: &to,
        original_message_id: dsn.original_message_id.as_deref(),
        original_headers: None,
        original_subject: Some("Round trip"),
        recipients: dsn.recipients.clone(),
        message_id: "<dsn-round-trip@hisp.a.example.org>".into(),
        date: 1_474_543_353,
    });
    assert_eq!(kind(&raw), Kind::Dsn);
    parse_dsn(&raw).expect("rebuilt DSN parses")
}

fn check_dsn(name: &str, expected: Dsn) {
    let raw = fixture(name);
    assert_eq!(kind(&raw), Kind::Dsn, "{name}");
    let parsed = parse_dsn(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(parsed, expected, "{name}");
    assert_eq!(dsn_round_trip(&parsed), parsed, "{name} round trip");
    assert!(parse_mdn(&raw).is_err(), "{name} is not an MDN");
}

fn rcpt(address: &str, status: &str, diagnostic: Option<&str>) -> DsnRecipient {
    DsnRecipient {
        address: address.into(),
        status: status.into(),
        action: "failed".into(),
        diagnostic: diagnostic.map(str::to_string),
    }
}

#[test]
fn mta_dsn_with_two_recipients_and_headers() {
    check_dsn(
        "dsn-two-recipients.eml",
        Dsn {
            reporting_mta: s("hisp.a.example.org"),
            // The returned headers win over Original-Envelope-Id.
            original_message_id: s("<careplan-3@hisp.a.example.org>"),
            recipients: vec![
                rcpt(
                    "erin@direct.e.example.com",
                    "5.7.31",
                    Some("no certificate was found for erin@direct.e.example.com in DNS or LDAP"),
                ),
                rcpt(
                    "frank@direct.f.example.com",
                    "5.1.1",
                    Some(
                        "550 5.1.1 <frank@direct.f.example.com>: Recipient address rejected: \
                         User unknown in virtual mailbox table",
                    ),
                ),
            ],
        },
    );
}

#[test]
fn reference_implementation_dsn() {
    check_dsn(
        "dsn-javari.eml",
        Dsn {
            reporting_mta: s("hisp.a.example.org"),
            original_message_id: s("<referral-77@hisp.a.example.org>"),
            recipients: vec![rcpt(
                "gina@direct.g.example.org",
                "5.4.72",
                Some("Failed Delivery: no dispatched MDN was received in time"),
            )],
        },
    );
}

#[test]
fn built_dsn_returns_the_original_headers() {
    let to = addr("alice@direct.a.example.org");
    let original = fixture("mdn-failed.eml");
    let raw = build_dsn(&DsnRequest {
        reporting_host: "hisp.a.example.org",
        from: "mailer-daemon@hisp.a.example.org",
        to: &to,
        original_message_id: None,
        original_headers: Some(&original),
        original_subject: Some("Discharge summary"),
        recipients: vec![rcpt("carol@direct.c.example.net", "5.7.11", None)],
        message_id: "<dsn-h@hisp.a.example.org>".into(),
        date: 0,
    });
    let text = String::from_utf8(raw.clone()).expect("ascii");
    assert!(text.contains("Content-Type: text/rfc822-headers"));
    assert!(
        !text.contains("VGhlIG1lc3NhZ2Ug"),
        "the original body stays out"
    );
    let dsn = parse_dsn(&raw).expect("parses");
    assert_eq!(dsn.original_message_id, s("<failed-1@hisp.c.example.net>"));
    assert_eq!(
        dsn.recipients,
        vec![rcpt("carol@direct.c.example.net", "5.7.11", None)]
    );
}
