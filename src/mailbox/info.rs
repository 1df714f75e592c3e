//! Reading what the mailbox, tracking and MDN logic need from a message's
//! header (sender, recipients, subject, Message-ID, date, notification
//! requests) and rendering a message for `mailbox show`. Built on mail-parser
//! behind `notice::parse`, so malformed input yields empty fields, not panics.

use mail_parser::{Address, Message, MimeHeaders};

use super::{Attachment, Shown};
use crate::direct::DirectAddress;
use crate::direct::notice::{self, normalize_message_id};
use crate::store::mailbox::MailSummary;

/// What the gateway reads from a header block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageInfo {
    /// The first From address, when it parses as a Direct address.
    pub from: Option<DirectAddress>,
    /// How many mailboxes the From fields name in all (1 for a well-formed message).
    pub from_count: usize,
    /// To and Cc addresses that parse.
    pub to: Vec<DirectAddress>,
    /// The decoded subject, or empty.
    pub subject: String,
    /// The Message-ID as `<…>`.
    pub message_id: Option<String>,
    /// The Date, Unix seconds.
    pub date: Option<i64>,
    /// Disposition-Notification-To is present: the sender wants to hear of success.
    pub notification_to: bool,
    /// Disposition-Notification-Options asks for X-DIRECT-FINAL-DESTINATION-DELIVERY.
    pub wants_dispatched: bool,
}

impl MessageInfo {
    /// Read the header of `raw`; fields that are absent or malformed stay empty.
    /// Only the header block is parsed: the body, up to the 50 MiB a message
    /// may have, is never decoded for these fields.
    pub fn read(raw: &[u8]) -> Self {
        let Some(msg) = notice::parse(header_block(raw)) else {
            return Self::default();
        };
        let raw_header = |name: &'static str| msg.header_raw(name).map(str::trim);
        Self {
            from: msg.from().and_then(first_address),
            from_count: from_count(&msg),
            to: [msg.to(), msg.cc()]
                .into_iter()
                .flatten()
                .flat_map(all_addresses)
                .collect(),
            subject: msg.subject().unwrap_or("").to_string(),
            message_id: msg.message_id().and_then(normalize_message_id),
            date: msg.date().map(mail_parser::DateTime::to_timestamp),
            notification_to: raw_header("Disposition-Notification-To").is_some(),
            wants_dispatched: raw_header("Disposition-Notification-Options")
                .is_some_and(asks_final_delivery),
        }
    }
}

/// `raw` up to and including the blank line that ends its header block (CRLF
/// or bare LF), or all of it when there is none.
fn header_block(raw: &[u8]) -> &[u8] {
    let mut start = 0;
    while let Some(i) = memchr::memchr(b'\n', raw.get(start..).unwrap_or_default()) {
        let end = start + i + 1;
        let line = raw.get(start..end).unwrap_or_default();
        if line == b"\n" || line == b"\r\n" {
            return raw.get(..end).unwrap_or(raw);
        }
        start = end;
    }
    raw
}

/// Does a Disposition-Notification-Options value ask for timely-and-reliable
/// delivery? `X-DIRECT-FINAL-DESTINATION-DELIVERY=optional,true` (Implementation
/// Guide for Delivery Notification in Direct §3.2); the importance may also be
/// `required`, and the value must be true.
pub fn asks_final_delivery(value: &str) -> bool {
    value.split(';').any(|param| {
        let Some((name, v)) = param.split_once('=') else {
            return false;
        };
        name.trim()
            .eq_ignore_ascii_case("X-DIRECT-FINAL-DESTINATION-DELIVERY")
            && v.split(',')
                .nth(1)
                .is_some_and(|b| b.trim().eq_ignore_ascii_case("true"))
    })
}

/// Mailboxes across every From field (mail-parser keeps only the last field).
fn from_count(msg: &Message) -> usize {
    let fields = msg
        .headers()
        .iter()
        .filter(|h| h.name.as_str().eq_ignore_ascii_case("From"))
        .count();
    let in_last = msg.from().map_or(0, |a| a.iter().count());
    fields.saturating_sub(1) + in_last.max(usize::from(fields > 0))
}

fn first_address(a: &Address) -> Option<DirectAddress> {
    a.first()
        .and_then(|x| x.address())
        .and_then(|s| DirectAddress::parse(s).ok())
}

fn all_addresses(a: &Address) -> Vec<DirectAddress> {
    a.iter()
        .filter_map(|x| x.address())
        .filter_map(|s| DirectAddress::parse(s).ok())
        .collect()
}

/// Render a stored message for reading.
pub fn show(summary: MailSummary, raw: &[u8]) -> Shown {
    let Some(msg) = notice::parse(raw) else {
        return Shown {
            summary,
            headers: Vec::new(),
            text: Some(String::from_utf8_lossy(raw).into_owned()),
            attachments: Vec::new(),
        };
    };
    Shown {
        summary,
        headers: headers(&msg),
        text: msg.body_text(0).map(|t| t.into_owned()),
        attachments: attachments(&msg),
    }
}

fn headers(msg: &Message) -> Vec<(String, String)> {
    msg.headers()
        .iter()
        .map(|h| {
            let value = msg
                .raw_message()
                .get(h.offset_start as usize..h.offset_end as usize)
                .map(|b| unfold(&String::from_utf8_lossy(b)))
                .unwrap_or_default();
            (h.name.as_str().to_string(), value)
        })
        .collect()
}

fn unfold(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn attachments(msg: &Message) -> Vec<Attachment> {
    msg.attachments()
        .enumerate()
        .map(|(i, part)| Attachment {
            name: part
                .attachment_name()
                .map_or_else(|| format!("part-{}", i + 1), str::to_string),
            content_type: part.content_type().map_or_else(
                || "application/octet-stream".to_string(),
                |ct| match ct.subtype() {
                    Some(sub) => format!("{}/{sub}", ct.ctype()),
                    None => ct.ctype().to_string(),
                },
            ),
            size: part.contents().len(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_header_fields() {
        let raw = b"From: Dr A <a@a.test>\r\nTo: b@b.test, c@b.test\r\nSubject: =?utf-8?q?Caf=C3=A9?=\r\nMessage-ID: <1@a.test>\r\nDate: Sun, 22 Nov 2026 03:35:55 +0000\r\nDisposition-Notification-To: a@a.test\r\nDisposition-Notification-Options: X-DIRECT-FINAL-DESTINATION-DELIVERY=optional,true\r\n\r\nhi\r\n";
        let i = MessageInfo::read(raw);
        assert_eq!(i.from.map(|a| a.to_string()).as_deref(), Some("a@a.test"));
        assert_eq!(i.to.len(), 2);
        assert_eq!(i.subject, "Café");
        assert_eq!(i.message_id.as_deref(), Some("<1@a.test>"));
        assert_eq!(i.date, Some(1_795_318_555));
        assert!(i.notification_to && i.wants_dispatched);
        assert_eq!(i.from_count, 1);
        let two = MessageInfo::read(b"From: ceo@x.test\r\nFrom: me@a.test\r\n\r\nhi\r\n");
        assert_eq!(two.from_count, 2);
        let list = MessageInfo::read(b"From: me@a.test, ceo@x.test\r\n\r\nhi\r\n");
        assert_eq!(list.from_count, 2);
    }

    #[test]
    fn only_the_header_block_is_read() {
        assert_eq!(
            header_block(b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\n"),
            b"A: 1\r\nB: 2\r\n\r\n"
        );
        assert_eq!(header_block(b"A: 1\nB: 2\n\nbody\n"), b"A: 1\nB: 2\n\n");
        assert_eq!(header_block(b"\r\nbody"), b"\r\n");
        assert_eq!(header_block(b"A: 1\r\nB: 2"), b"A: 1\r\nB: 2");
        assert_eq!(header_block(b""), b"");
        // A body that is itself a header block (a forwarded message's) is not
        // read: the outer Subject and From stand.
        let raw = b"From: a@a.test\r\nSubject: outer\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@x.test\r\nSubject: inner\r\n\r\nhi\r\n";
        let i = MessageInfo::read(raw);
        assert_eq!(i.subject, "outer");
        assert_eq!(i.from.map(|a| a.to_string()).as_deref(), Some("a@a.test"));
        // The same fields as a parse of the whole message, body and all.
        let whole = b"From: Dr A <a@a.test>\r\nTo: b@b.test\r\nSubject: =?utf-8?q?Caf=C3=A9?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n";
        let full = notice::parse(whole).expect("parses");
        let i = MessageInfo::read(whole);
        assert_eq!(i.subject, full.subject().unwrap_or_default());
        assert_eq!(i.from_count, from_count(&full));
        assert_eq!(i.to.len(), 1);
    }

    #[test]
    fn final_delivery_option_forms() {
        assert!(asks_final_delivery(
            "X-DIRECT-FINAL-DESTINATION-DELIVERY=optional,true"
        ));
        assert!(asks_final_delivery(
            "foo=optional,x; x-direct-final-destination-delivery = required , TRUE"
        ));
        assert!(!asks_final_delivery(
            "X-DIRECT-FINAL-DESTINATION-DELIVERY=optional,false"
        ));
        assert!(!asks_final_delivery("garbage"));
    }

    #[test]
    fn garbage_reads_as_empty() {
        assert_eq!(MessageInfo::read(b"\x00\xff"), MessageInfo::default());
        let s = show(
            MailSummary {
                id: 1,
                message_id: None,
                date: 0,
                from: String::new(),
                subject: String::new(),
                seen: false,
                size: 2,
                folder: "inbox".into(),
            },
            b"\x00\xff",
        );
        assert!(s.attachments.is_empty());
    }
}
