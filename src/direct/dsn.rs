//! Delivery status notifications (RFC 3464 inside RFC 6522 `multipart/report`)
//! as a Direct HISP uses them: building the failure DSN we send when a message
//! cannot be secured, is not trusted, times out or is refused by the next hop,
//! reading the DSNs other HISPs send, and wording the status codes for people.
//!
//! Message-IDs use the `<left@right>` form of [`normalize_message_id`].
//! Besides the RFC 3464 fields we write `X-Original-Message-ID` in the
//! per-message group (as the Direct reference implementation does) so the
//! original can be found even without the `text/rfc822-headers` part.

use super::DirectAddress;
use super::compose::{self, Part};
use super::notice::{self, DSN_PARTS, Kind, NoticeError, normalize_message_id};

const FAILURE: &str = include_str!("../../templates/mail/dsn-failure.txt");

/// One recipient's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    /// The recipient address (lower-cased when parsed).
    pub address: String,
    /// RFC 3463 enhanced status code, e.g. `5.7.31`.
    pub status: String,
    /// RFC 3464 action, lower-case: `failed`, `delayed`, …
    pub action: String,
    /// The remote server's reply or our own explanation, without the `smtp;` type.
    pub diagnostic: Option<String>,
}

/// Everything needed to write one DSN.
#[derive(Debug, Clone)]
pub struct DsnRequest<'a> {
    /// Our host name, for `Reporting-MTA: dns;<host>`.
    pub reporting_host: &'a str,
    /// The DSN's `From`, e.g. `mailer-daemon@<domain>` or a postmaster address.
    pub from: &'a str,
    /// The original sender.
    pub to: &'a DirectAddress,
    /// The original Message-ID, with or without angle brackets.
    pub original_message_id: Option<&'a str>,
    /// The original message's header section (a whole message is cut at its
    /// first blank line), returned as a `text/rfc822-headers` part.
    pub original_headers: Option<&'a [u8]>,
    /// The original Subject, for the human-readable part.
    pub original_subject: Option<&'a str>,
    /// One entry per recipient reported on.
    pub recipients: Vec<DsnRecipient>,
    /// This DSN's own Message-ID (see [`notice::new_message_id`]).
    pub message_id: String,
    /// When, in Unix seconds, for the `Date:` field.
    pub date: i64,
}

/// Is `code` an RFC 3463 status (`class.subject.detail`, class 2, 4 or 5)?
fn valid_status(code: &str) -> bool {
    let parts: Vec<&str> = code.split('.').collect();
    matches!(parts.first(), Some(&("2" | "4" | "5")))
        && parts.len() == 3
        && parts
            .iter()
            .skip(1)
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Words for a person: the Direct codes, then RFC 3463 class and subject.
pub fn status_text(code: &str) -> &'static str {
    match code.trim() {
        "5.7.31" => "the recipient has no certificate, so the message cannot be secured",
        "5.7.11" => "the recipient's certificate is not trusted",
        "5.4.7" => "the delivery time expired before the message could be delivered",
        "5.4.71" => "the recipient's system did not confirm processing (MDN) in time",
        "5.4.72" => "the recipient's system did not confirm delivery (MDN) in time",
        c => {
            let mut it = c.split('.');
            match (it.next(), it.next()) {
                (Some("2"), _) => "the message was delivered",
                (Some("4"), Some("1")) => "temporary failure: an addressing problem",
                (Some("4"), Some("2")) => "temporary failure: a problem with the mailbox",
                (Some("4"), Some("3")) => "temporary failure: a problem with the mail system",
                (Some("4"), Some("4")) => "temporary failure: a network or routing problem",
                (Some("4"), Some("5")) => "temporary failure: a mail protocol problem",
                (Some("4"), Some("6")) => "temporary failure: a problem with the content",
                (Some("4"), Some("7")) => "temporary failure: a security or policy problem",
                (Some("4"), _) => "temporary failure",
                (Some("5"), Some("1")) => "the recipient address was rejected",
                (Some("5"), Some("2")) => "the recipient's mailbox cannot take the message",
                (Some("5"), Some("3")) => "the recipient's mail system cannot take the message",
                (Some("5"), Some("4")) => "the message could not be routed to the recipient",
                (Some("5"), Some("5")) => "the mail protocol exchange failed",
                (Some("5"), Some("6")) => "the message content was not accepted",
                (Some("5"), Some("7")) => "the message was refused for security or policy reasons",
                (Some("5"), _) => "the message could not be delivered",
                _ => "delivery failed for an unknown reason",
            }
        }
    }
}

/// The header section of `raw`: everything before the first empty line.
fn header_section(raw: &[u8]) -> &[u8] {
    let mut start = 0;
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if line == b"\n" || line == b"\r\n" {
            return raw.get(..start).unwrap_or(raw);
        }
        start += line.len();
    }
    raw
}

/// Write the plain DSN: CRLF line endings, no `Disposition-Notification-To`.
/// A status that is not `class.subject.detail` is written as `5.0.0`; an
/// empty action as `failed`.
pub fn build_dsn(req: &DsnRequest) -> Vec<u8> {
    let message_id = normalize_message_id(&req.message_id).unwrap_or_default();
    let original_id = req.original_message_id.and_then(normalize_message_id);
    let subject = compose::one_line(req.original_subject.unwrap_or(""));
    let headers = vec![
        compose::field("From", req.from),
        compose::field("To", &req.to.to_string()),
        compose::subject("Delivery Status Notification (Failure)"),
        compose::field("Date", &compose::rfc5322_date(req.date)),
        compose::field("Message-ID", &message_id),
    ];

    let mut report = compose::field("Reporting-MTA", &format!("dns;{}", req.reporting_host));
    if let Some(id) = &original_id {
        report.push_str(&compose::field("X-Original-Message-ID", id));
    }
    let mut listing = String::new();
    for r in &req.recipients {
        let status = compose::ascii_line(&r.status);
        let status = if valid_status(&status) {
            status
        } else {
            "5.0.0".into()
        };
        let action: String = r
            .action
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
            .to_ascii_lowercase();
        let action = if action.is_empty() {
            "failed".into()
        } else {
            action
        };
        let diagnostic = r.diagnostic.as_deref().map(compose::one_line);
        report.push_str("\r\n");
        report.push_str(&compose::field(
            "Final-Recipient",
            &format!("rfc822;{}", r.address),
        ));
        report.push_str(&compose::field("Action", &action));
        report.push_str(&compose::field("Status", &status));
        listing.push_str(&format!(
            "  {}\n    {status}: {}\n",
            compose::one_line(&r.address),
            status_text(&status)
        ));
        if let Some(d) = diagnostic.filter(|d| !d.is_empty()) {
            report.push_str(&compose::field("Diagnostic-Code", &format!("smtp; {d}")));
            listing.push_str(&format!("    Reply: {d}\n"));
        }
    }

    let human = compose::fill(
        FAILURE,
        &[
            (
                "original_message_id",
                original_id.as_deref().unwrap_or("(unknown)"),
            ),
            (
                "original_subject",
                if subject.is_empty() {
                    "(no subject)"
                } else {
                    &subject
                },
            ),
            ("recipients", &listing),
            ("reporting_host", req.reporting_host),
        ],
    );
    let mut parts = vec![
        Part::text("plain", human.as_bytes()),
        Part::report("delivery-status", &report),
    ];
    if let Some(raw) = req.original_headers {
        let section = header_section(raw);
        if !section.is_empty() {
            parts.push(Part::text("rfc822-headers", section));
        }
    }
    compose::multipart_report(&headers, "delivery-status", &parts, &message_id)
}

/// What a DSN says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    /// `Reporting-MTA` without its `dns;` type.
    pub reporting_mta: Option<String>,
    /// The original Message-ID: from the returned headers, else
    /// `X-Original-Message-ID`, else `Original-Envelope-Id`.
    pub original_message_id: Option<String>,
    /// Every per-recipient group, in order.
    pub recipients: Vec<DsnRecipient>,
}

/// Read a DSN (plain, already decrypted; one `multipart/signed` layer is looked
/// through). `NotAReport` when it is not a DSN; `Malformed` when the status
/// part is missing, names no recipient, or a recipient lacks Action or Status.
pub fn parse_dsn(message: &[u8]) -> Result<Dsn, NoticeError> {
    let msg = notice::parse_report(message, Kind::Dsn)?;
    let part = notice::report_part(&msg, DSN_PARTS)?;
    let groups = notice::field_groups(&notice::part_text(part));
    let first = |name: &str| {
        groups
            .iter()
            .find_map(|g| notice::value(g, name).filter(|v| !v.is_empty()))
    };
    let reporting_mta = first("reporting-mta")
        .map(|v| compose::one_line(notice::untyped(v)))
        .filter(|v| !v.is_empty());

    let mut recipients = Vec::new();
    for g in &groups {
        let get = |name: &str| notice::value(g, name).filter(|v| !v.is_empty());
        let Some(who) = get("final-recipient").or_else(|| get("original-recipient")) else {
            continue;
        };
        let malformed = |what: &str| NoticeError::Malformed(format!("a recipient has no {what}"));
        let address = notice::address(who).ok_or_else(|| malformed("address"))?;
        let action = get("action").ok_or_else(|| malformed("Action"))?;
        let status = get("status").ok_or_else(|| malformed("Status"))?;
        recipients.push(DsnRecipient {
            address,
            status: status.split_whitespace().next().unwrap_or("").to_string(),
            action: compose::ascii_line(action).to_ascii_lowercase(),
            diagnostic: get("diagnostic-code")
                .map(|d| compose::one_line(notice::untyped(d)))
                .filter(|d| !d.is_empty()),
        });
    }
    if recipients.is_empty() {
        return Err(NoticeError::Malformed(
            "the report names no recipient".into(),
        ));
    }

    let returned_id = notice::report_root(&msg).and_then(|(_, root)| {
        notice::children(&msg, root).into_iter().find_map(|p| {
            if notice::part_is(p, "message", &["rfc822", "global"]) {
                return notice::nested_message_id(p);
            }
            let headers = notice::part_is(p, "text", &["rfc822-headers"])
                || notice::part_is(p, "message", &["rfc822-headers", "global-headers"]);
            headers
                .then(|| notice::field_groups(&notice::part_text(p)))
                .and_then(|g| g.into_iter().next())
                .and_then(|g| notice::value(&g, "message-id").and_then(normalize_message_id))
        })
    });
    let original_message_id = returned_id
        .or_else(|| first("x-original-message-id").and_then(normalize_message_id))
        .or_else(|| first("original-envelope-id").and_then(normalize_message_id));

    Ok(Dsn {
        reporting_mta,
        original_message_id,
        recipients,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert!(valid_status("5.7.31") && valid_status("4.4.1") && valid_status("2.0.0"));
        assert!(!valid_status("5.7") && !valid_status("6.1.1") && !valid_status("5.x.1"));
        assert!(status_text("5.7.31").contains("no certificate"));
        assert!(status_text("5.7.11").contains("not trusted"));
        assert_ne!(status_text("5.4.71"), status_text("5.4.72"));
        assert!(status_text("4.2.2").starts_with("temporary"));
        assert_eq!(status_text("junk"), "delivery failed for an unknown reason");
    }

    #[test]
    fn header_section_stops_at_blank_line() {
        assert_eq!(header_section(b"A: 1\nB: 2\n\nbody"), b"A: 1\nB: 2\n");
        assert_eq!(header_section(b"A: 1\r\n\r\nbody"), b"A: 1\r\n");
        assert_eq!(header_section(b"A: 1"), b"A: 1");
        assert_eq!(header_section(b"\r\nbody"), b"");
    }
}
