//! Message disposition notifications (RFC 8098 as profiled by the Direct
//! Implementation Guide for Delivery Notification v1.0): building the plain
//! `multipart/report; report-type=disposition-notification` a HISP sends for
//! `processed`, `dispatched` and `failed`, and reading the ones other HISPs send.
//!
//! Message-IDs are handled in the canonical `<left@right>` form of
//! [`normalize_message_id`]; addresses are lower-cased. Signing and encryption
//! happen afterwards, elsewhere.

use super::DirectAddress;
use super::compose::{self, CRLF, Part};
use super::notice::{self, Kind, MDN_PARTS, NoticeError, normalize_message_id};

const PROCESSED: &str = include_str!("../../templates/mail/mdn-processed.txt");
const DISPATCHED: &str = include_str!("../../templates/mail/mdn-dispatched.txt");
const FAILED: &str = include_str!("../../templates/mail/mdn-failed.txt");

/// The name of the Direct extension field for timely-and-reliable delivery.
const FINAL_DELIVERY: &str = "X-DIRECT-FINAL-DESTINATION-DELIVERY";

/// What happened to the original message at the recipient's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// Received, decrypted and trusted by the recipient's HISP.
    Processed,
    /// Handed to the recipient (final destination delivery).
    Dispatched,
    /// Could not be processed or delivered.
    Failed,
}

impl Disposition {
    /// The disposition-type token, as written in the `Disposition:` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processed => "processed",
            Self::Dispatched => "dispatched",
            Self::Failed => "failed",
        }
    }

    /// Read a disposition-type token, case-insensitively; `None` for other
    /// types (`displayed`, `deleted`) that Direct does not use.
    pub fn parse(token: &str) -> Option<Self> {
        let t = token.trim();
        [Self::Processed, Self::Dispatched, Self::Failed]
            .into_iter()
            .find(|d| t.eq_ignore_ascii_case(d.as_str()))
    }

    /// The word that starts the MDN's Subject.
    fn subject_word(self) -> &'static str {
        match self {
            Self::Processed => "Processed",
            Self::Dispatched => "Dispatched",
            Self::Failed => "Failed",
        }
    }

    /// The human-readable template for this disposition.
    fn template(self) -> &'static str {
        match self {
            Self::Processed => PROCESSED,
            Self::Dispatched => DISPATCHED,
            Self::Failed => FAILED,
        }
    }
}

/// Everything needed to write one MDN.
#[derive(Debug, Clone)]
pub struct MdnRequest<'a> {
    /// Our host name, for `Reporting-UA: <host>; hisp`.
    pub reporting_host: &'a str,
    /// The final recipient of the original message: the MDN's `From`.
    pub from: &'a DirectAddress,
    /// The original sender: the MDN's `To`.
    pub to: &'a DirectAddress,
    /// The original recipient as first addressed, when it differs (optional field).
    pub original_recipient: Option<&'a DirectAddress>,
    /// The original message's Message-ID, with or without angle brackets.
    pub original_message_id: &'a str,
    /// The original Subject, echoed as `Processed: <subject>`.
    pub original_subject: Option<&'a str>,
    /// What happened.
    pub disposition: Disposition,
    /// Disposition modifiers (`error`, …), usually empty.
    pub disposition_modifiers: &'a [String],
    /// Add `X-DIRECT-FINAL-DESTINATION-DELIVERY:` (the original asked for
    /// timely-and-reliable delivery; meaningful on `dispatched`).
    pub final_destination_delivery: bool,
    /// Why it failed, for the `Failure:` field.
    pub failure: Option<&'a str>,
    /// This MDN's own Message-ID (see [`notice::new_message_id`]).
    pub message_id: String,
    /// When, in Unix seconds, for the `Date:` field.
    pub date: i64,
}

/// `text`, or `fallback` when it is empty.
fn or<'s>(text: &'s str, fallback: &'s str) -> &'s str {
    if text.is_empty() { fallback } else { text }
}

/// Write the plain MDN: CRLF line endings, no `Disposition-Notification-To`.
pub fn build_mdn(req: &MdnRequest) -> Vec<u8> {
    let message_id = normalize_message_id(&req.message_id).unwrap_or_default();
    let original_id = normalize_message_id(req.original_message_id).unwrap_or_default();
    let subject_text = compose::one_line(req.original_subject.unwrap_or(""));
    let word = req.disposition.subject_word();
    let subject = if subject_text.is_empty() {
        word.to_string()
    } else {
        format!("{word}: {subject_text}")
    };
    let failure = req.failure.map(compose::one_line).unwrap_or_default();

    let headers = vec![
        compose::field("From", &req.from.to_string()),
        compose::field("To", &req.to.to_string()),
        compose::subject(&subject),
        compose::field("Date", &compose::rfc5322_date(req.date)),
        compose::field("Message-ID", &message_id),
    ];

    let final_recipient = req.from.to_string();
    let original_sender = req.to.to_string();
    let human = compose::fill(
        req.disposition.template(),
        &[
            ("original_message_id", or(&original_id, "(unknown)")),
            ("original_subject", or(&subject_text, "(no subject)")),
            ("final_recipient", final_recipient.as_str()),
            ("original_sender", original_sender.as_str()),
            ("reporting_host", req.reporting_host),
            ("failure", failure.as_str()),
        ],
    );

    let mut report = compose::field("Reporting-UA", &format!("{}; hisp", req.reporting_host));
    if let Some(orig) = req.original_recipient {
        report.push_str(&compose::field(
            "Original-Recipient",
            &format!("rfc822;{orig}"),
        ));
    }
    report.push_str(&compose::field(
        "Final-Recipient",
        &format!("rfc822;{final_recipient}"),
    ));
    if !original_id.is_empty() {
        report.push_str(&compose::field("Original-Message-ID", &original_id));
    }
    let mut disposition = req.disposition.as_str().to_string();
    let modifiers: Vec<String> = req
        .disposition_modifiers
        .iter()
        .map(|m| {
            m.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect()
        })
        .filter(|m: &String| !m.is_empty())
        .collect();
    if !modifiers.is_empty() {
        disposition = format!("{disposition}/{}", modifiers.join(","));
    }
    report.push_str(&compose::field(
        "Disposition",
        &format!("automatic-action/MDN-sent-automatically; {disposition}"),
    ));
    if req.final_destination_delivery {
        report.push_str(&format!("{FINAL_DELIVERY}:{CRLF}"));
    }
    if !failure.is_empty() {
        report.push_str(&compose::field("Failure", &failure));
    }

    let parts = [
        Part::text("plain", human.as_bytes()),
        Part::report("disposition-notification", &report),
    ];
    compose::multipart_report(&headers, "disposition-notification", &parts, &message_id)
}

/// What an MDN says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mdn {
    /// The ua-name of `Reporting-UA` (the part before `;`).
    pub reporting_ua: Option<String>,
    /// `Final-Recipient` address, type dropped, lower-cased.
    pub final_recipient: Option<String>,
    /// `Original-Recipient` address, type dropped, lower-cased.
    pub original_recipient: Option<String>,
    /// `Original-Message-ID` as `<left@right>`.
    pub original_message_id: Option<String>,
    /// The disposition type.
    pub disposition: Disposition,
    /// Modifiers after `/` in the disposition (`error`, …), lower-cased.
    pub disposition_modifiers: Vec<String>,
    /// The report carried `X-DIRECT-FINAL-DESTINATION-DELIVERY`.
    pub final_destination_delivery: bool,
    /// The `Failure:` (or else `Error:`) field's text.
    pub failure: Option<String>,
}

impl Mdn {
    /// True when the MDN reports a failure: `failed`, or an `error`/`failed`
    /// modifier on another disposition.
    pub fn is_failure(&self) -> bool {
        self.disposition == Disposition::Failed
            || self
                .disposition_modifiers
                .iter()
                .any(|m| m == "error" || m == "failed" || m == "failure")
    }
}

/// Read an MDN (plain, already decrypted; one `multipart/signed` layer is
/// looked through). `NotAReport` when it is not an MDN, `Malformed` when the
/// report part or its `Disposition` is missing or unknown.
pub fn parse_mdn(message: &[u8]) -> Result<Mdn, NoticeError> {
    let msg = notice::parse_report(message, Kind::Mdn)?;
    let part = notice::report_part(&msg, MDN_PARTS)?;
    let text = notice::part_text(part);
    let fields: Vec<notice::Field> = notice::field_groups(&text).into_iter().flatten().collect();
    let get = |name: &str| notice::value(&fields, name).filter(|v| !v.is_empty());

    let raw = get("disposition")
        .ok_or_else(|| NoticeError::Malformed("the report has no Disposition field".into()))?;
    // `action-mode/sending-mode; type[/modifier,…]`; be lenient about spaces
    // and about a missing mode part.
    let after_mode = raw.split_once(';').map_or(raw, |(_, t)| t);
    let (ty, mods) = after_mode.split_once('/').unwrap_or((after_mode, ""));
    let disposition = Disposition::parse(ty).ok_or_else(|| {
        NoticeError::Malformed(format!("unknown disposition '{}'", compose::ascii_line(ty)))
    })?;
    let disposition_modifiers = mods
        .split(',')
        .map(|m| m.trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty())
        .collect();

    Ok(Mdn {
        reporting_ua: get("reporting-ua")
            .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
            .filter(|v| !v.is_empty()),
        final_recipient: get("final-recipient").and_then(notice::address),
        original_recipient: get("original-recipient").and_then(notice::address),
        original_message_id: get("original-message-id").and_then(normalize_message_id),
        disposition,
        disposition_modifiers,
        final_destination_delivery: notice::value(&fields, "x-direct-final-destination-delivery")
            .is_some(),
        failure: get("failure")
            .or_else(|| get("error"))
            .map(compose::one_line)
            .filter(|v| !v.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> DirectAddress {
        DirectAddress::parse(s).expect("address")
    }

    #[test]
    fn disposition_tokens() {
        for d in [
            Disposition::Processed,
            Disposition::Dispatched,
            Disposition::Failed,
        ] {
            assert_eq!(Disposition::parse(&d.as_str().to_uppercase()), Some(d));
        }
        assert_eq!(Disposition::parse("displayed"), None);
    }

    #[test]
    fn builds_what_it_parses() {
        let (from, to) = (addr("bob@b.example.org"), addr("alice@a.example.org"));
        let req = MdnRequest {
            reporting_host: "hisp.b.example.org",
            from: &from,
            to: &to,
            original_recipient: None,
            original_message_id: "orig-1@a.example.org",
            original_subject: Some("Referral {failure}"),
            disposition: Disposition::Dispatched,
            disposition_modifiers: &[],
            final_destination_delivery: true,
            failure: None,
            message_id: "<mdn-1@b.example.org>".into(),
            date: 1_795_318_555,
        };
        let raw = build_mdn(&req);
        let text = String::from_utf8(raw.clone()).expect("ascii");
        assert!(text.contains("Subject: Dispatched: Referral {failure}\r\n"));
        assert!(text.contains("Date: Sun, 22 Nov 2026 03:35:55 +0000\r\n"));
        assert!(text.contains("\r\nX-DIRECT-FINAL-DESTINATION-DELIVERY:\r\n"));
        let mdn = parse_mdn(&raw).expect("parses");
        assert_eq!(mdn.disposition, Disposition::Dispatched);
        assert!(mdn.final_destination_delivery && !mdn.is_failure());
        assert_eq!(
            mdn.original_message_id.as_deref(),
            Some("<orig-1@a.example.org>")
        );
        assert_eq!(mdn.reporting_ua.as_deref(), Some("hisp.b.example.org"));
        assert_eq!(mdn.final_recipient.as_deref(), Some("bob@b.example.org"));
    }
}
