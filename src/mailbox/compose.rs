//! Composing a plain RFC 5322 message from a draft (sender, recipients,
//! subject, text, attachments) for `hisp send`, the portal and the API. The
//! result is CRLF throughout: text/plain alone, or multipart/mixed with base64
//! attachments. The gateway adds Message-ID and the notification options.

use crate::direct::DirectAddress;
use crate::direct::compose::{self, CRLF, Part};

/// What a user asked to send.
#[derive(Debug, Clone)]
pub struct Draft {
    /// Sender.
    pub from: DirectAddress,
    /// Recipients.
    pub to: Vec<DirectAddress>,
    /// Subject.
    pub subject: String,
    /// The text body.
    pub body: String,
    /// Attachments.
    pub attachments: Vec<FileAttachment>,
}

/// One attached file.
#[derive(Debug, Clone)]
pub struct FileAttachment {
    /// File name shown to the recipient.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// Bytes.
    pub data: Vec<u8>,
}

impl FileAttachment {
    /// An attachment typed by its file name's extension.
    pub fn from_file(name: &str, data: Vec<u8>) -> Self {
        Self {
            name: name.to_string(),
            content_type: content_type_of(name).to_string(),
            data,
        }
    }
}

/// The MIME type for a file name (the types Direct users send most).
pub fn content_type_of(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "xml" => "application/xml",
        "txt" => "text/plain",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "tif" | "tiff" => "image/tiff",
        "zip" => "application/zip",
        "html" | "htm" => "text/html",
        _ => "application/octet-stream",
    }
}

/// The message bytes, with `date` (Unix seconds) as its Date and no Message-ID.
pub fn compose(d: &Draft, date: i64, boundary_seed: &str) -> Vec<u8> {
    let mut out = String::new();
    out.push_str(&compose::field("From", &d.from.to_string()));
    let to: Vec<String> = d.to.iter().map(ToString::to_string).collect();
    out.push_str(&compose::field("To", &to.join(", ")));
    out.push_str(&compose::subject(&d.subject));
    out.push_str(&compose::field("Date", &compose::rfc5322_date(date)));
    out.push_str(&format!("MIME-Version: 1.0{CRLF}"));
    let text = Part::text("plain", d.body.as_bytes());
    if d.attachments.is_empty() {
        let mut bytes = out.into_bytes();
        text.write_into(&mut bytes);
        return bytes;
    }
    let seed: String = boundary_seed
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect();
    let boundary = format!("=_hisp_mixed_{seed}");
    out.push_str(&format!(
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"{CRLF}{CRLF}"
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(format!("--{boundary}{CRLF}").as_bytes());
    text.write_into(&mut bytes);
    for a in &d.attachments {
        bytes.extend_from_slice(format!("{CRLF}--{boundary}{CRLF}").as_bytes());
        attachment_into(&mut bytes, a);
    }
    bytes.extend_from_slice(format!("{CRLF}--{boundary}--{CRLF}").as_bytes());
    bytes
}

fn attachment_into(out: &mut Vec<u8>, a: &FileAttachment) {
    let name = compose::ascii_line(&a.name).replace(['"', '\\'], "_");
    out.extend_from_slice(
        format!(
            "Content-Type: {}; name=\"{name}\"{CRLF}Content-Disposition: attachment; filename=\"{name}\"{CRLF}Content-Transfer-Encoding: base64{CRLF}{CRLF}",
            a.content_type
        )
        .as_bytes(),
    );
    let encoded = compose::base64(&a.data);
    for (i, chunk) in encoded.as_bytes().chunks(76).enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::MessageInfo;

    fn addr(s: &str) -> DirectAddress {
        DirectAddress::parse(s).expect("address")
    }

    #[test]
    fn plain_and_mixed_messages_read_back() {
        let mut d = Draft {
            from: addr("a@a.test"),
            to: vec![addr("b@b.test"), addr("c@b.test")],
            subject: "Referral".into(),
            body: "Please see the attached.\n.\nThanks".into(),
            attachments: Vec::new(),
        };
        let plain = compose(&d, 0, "x");
        assert!(!plain.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
        let info = MessageInfo::read(&plain);
        assert_eq!(info.subject, "Referral");
        assert_eq!(info.to.len(), 2);
        d.attachments.push(FileAttachment::from_file(
            "ccd.xml",
            b"<ClinicalDocument/>".to_vec(),
        ));
        let mixed = compose(&d, 0, "seed");
        let msg = mail_parser::MessageParser::new()
            .parse(&mixed)
            .expect("parses");
        assert_eq!(msg.attachment_count(), 1);
        assert_eq!(
            msg.attachment(0).map(|a| a.contents().to_vec()),
            Some(b"<ClinicalDocument/>".to_vec())
        );
        assert!(msg.body_text(0).is_some_and(|t| t.contains("Please see")));
    }
}
