//! What a message is (MDN, DSN or anything else) and the reading helpers that
//! MDN and DSN parsing share: the MIME walk to the report part, RFC 822-style
//! field groups, typed values (`rfc822;addr`) and Message-ID normalization.
//!
//! Detection exists so we never answer a notice with a notice (RFC 8098 §2.1,
//! RFC 3464 §2): it looks at the top Content-Type (also under one
//! `multipart/signed` layer) case-insensitively, with folding, quoting and
//! RFC 2231 parameters handled by mail-parser. Nothing here panics on bad input.

use mail_parser::{GetHeader, HeaderName, Message, MessageParser, MessagePart, MimeHeaders};

use super::Domain;
pub use super::compose::rfc5322_date;

/// What a message is, as far as notifications go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A message disposition notification (RFC 8098).
    Mdn,
    /// A delivery status notification (RFC 3464).
    Dsn,
    /// Anything else, including input we cannot parse at all.
    Message,
}

/// Why bytes could not be read as the notice asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoticeError {
    /// The message is not a report of the kind asked for (or no message at all).
    #[error("not a notification of that kind: {0}")]
    NotAReport(String),
    /// It says it is a report but a required part or field is missing or bad.
    #[error("malformed notification: {0}")]
    Malformed(String),
    /// The system random source failed while making a Message-ID.
    #[error("cannot make a random Message-ID: {0}")]
    Random(String),
}

/// Content subtypes (under `message/`) of an MDN report part (RFC 8098, RFC 6533).
pub(crate) const MDN_PARTS: &[&str] = &[
    "disposition-notification",
    "global-disposition-notification",
];
/// Content subtypes (under `message/`) of a DSN report part (RFC 3464, RFC 6533).
pub(crate) const DSN_PARTS: &[&str] = &["delivery-status", "global-delivery-status"];

/// Tell an MDN or a DSN from any other message. Unparseable input is `Message`.
pub fn kind(message: &[u8]) -> Kind {
    parse(message)
        .as_ref()
        .and_then(report_root)
        .map_or(Kind::Message, |(k, _)| k)
}

/// Parse bytes with mail-parser; `None` when there is no header at all, or when
/// mail-parser itself panics. It carries `debug_assert!`s that some malformed
/// nested message/rfc822 parts reach (found by fuzzing; upstream
/// stalwartlabs/mail-parser#120); bytes from another HISP must never take the
/// process down, so a panic there is treated as unparseable input.
pub(crate) fn parse(message: &[u8]) -> Option<Message<'_>> {
    std::panic::catch_unwind(|| MessageParser::new().parse(message))
        .ok()
        .flatten()
}

/// Parse and find the report entity of the wanted kind, or say why not.
pub(crate) fn parse_report(message: &[u8], want: Kind) -> Result<Message<'_>, NoticeError> {
    let msg = parse(message).ok_or_else(|| NoticeError::NotAReport("no message header".into()))?;
    match report_root(&msg) {
        Some((k, _)) if k == want => Ok(msg),
        Some((k, _)) => Err(NoticeError::NotAReport(format!(
            "it is a {k:?}, not a {want:?}"
        ))),
        None => Err(NoticeError::NotAReport(format!(
            "its Content-Type is not a {want:?} report"
        ))),
    }
}

/// Does `part` have Content-Type `ctype/<one of subtypes>` (case-insensitively)?
pub(crate) fn part_is(part: &MessagePart, ctype: &str, subtypes: &[&str]) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case(ctype)
            && ct
                .subtype()
                .is_some_and(|s| subtypes.iter().any(|w| s.eq_ignore_ascii_case(w)))
    })
}

/// The `report-type` of a `multipart/report` entity, trimmed. mail-parser's
/// reading first; when it dropped the parameter (it does for a fold right after
/// `=`), a plain scan of the raw field, unfolded, unquoted, RFC 2231 prefix cut.
fn report_type(msg: &Message, part: &MessagePart) -> String {
    let parsed = part
        .content_type()
        .and_then(|ct| ct.attribute("report-type"))
        .map(str::trim)
        .unwrap_or("");
    if !parsed.is_empty() {
        return parsed.to_string();
    }
    let raw = part
        .headers
        .iter()
        .find(|h| h.name == HeaderName::ContentType)
        .and_then(|h| {
            let (start, end) = (
                usize::try_from(h.offset_start).ok()?,
                usize::try_from(h.offset_end).ok()?,
            );
            msg.raw_message.get(start..end)
        })
        .unwrap_or_default();
    let text = String::from_utf8_lossy(raw);
    for param in text.split(';').skip(1) {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        let name = name.trim();
        let name = name.strip_suffix('*').unwrap_or(name);
        if name.eq_ignore_ascii_case("report-type") {
            let value: String = value
                .split('(')
                .next()
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '"')
                .collect();
            return value.rsplit('\'').next().unwrap_or("").to_string();
        }
    }
    String::new()
}

/// The notice kind a single entity declares by its own Content-Type.
fn entity_kind(msg: &Message, part: &MessagePart) -> Kind {
    if part_is(part, "multipart", &["report"]) {
        let report_type = report_type(msg, part);
        if report_type.eq_ignore_ascii_case("disposition-notification") {
            return Kind::Mdn;
        }
        if report_type.eq_ignore_ascii_case("delivery-status") {
            return Kind::Dsn;
        }
        return Kind::Message;
    }
    if part_is(part, "message", MDN_PARTS) {
        Kind::Mdn
    } else if part_is(part, "message", DSN_PARTS) {
        Kind::Dsn
    } else {
        Kind::Message
    }
}

/// The entity that makes `msg` a notice and its kind: the root itself, or the
/// first part of a `multipart/signed` root. `None` for an ordinary message.
pub(crate) fn report_root<'m, 'x>(msg: &'m Message<'x>) -> Option<(Kind, &'m MessagePart<'x>)> {
    let root = msg.parts.first()?;
    let k = entity_kind(msg, root);
    if k != Kind::Message {
        return Some((k, root));
    }
    if part_is(root, "multipart", &["signed"]) {
        let first = root.sub_parts()?.first()?;
        let inner = msg.parts.get(usize::try_from(*first).ok()?)?;
        let k = entity_kind(msg, inner);
        if k != Kind::Message {
            return Some((k, inner));
        }
    }
    None
}

/// The direct children of a multipart entity (none for a leaf).
pub(crate) fn children<'m, 'x>(
    msg: &'m Message<'x>,
    parent: &'m MessagePart<'x>,
) -> Vec<&'m MessagePart<'x>> {
    parent
        .sub_parts()
        .unwrap_or_default()
        .iter()
        .filter_map(|&id| msg.parts.get(usize::try_from(id).ok()?))
        .collect()
}

/// The report part: the root itself when it is a bare `message/<subtype>`,
/// else the first child of that type.
pub(crate) fn report_part<'m, 'x>(
    msg: &'m Message<'x>,
    subtypes: &[&str],
) -> Result<&'m MessagePart<'x>, NoticeError> {
    let (_, root) =
        report_root(msg).ok_or_else(|| NoticeError::NotAReport("not a notification".into()))?;
    if part_is(root, "message", subtypes) {
        return Ok(root);
    }
    children(msg, root)
        .into_iter()
        .find(|p| part_is(p, "message", subtypes))
        .ok_or_else(|| {
            NoticeError::Malformed(format!(
                "the report has no message/{} part",
                subtypes.first().copied().unwrap_or("report")
            ))
        })
}

/// A part's decoded body as text (invalid UTF-8 replaced).
pub(crate) fn part_text(part: &MessagePart) -> String {
    String::from_utf8_lossy(part.contents()).into_owned()
}

/// The Message-ID of a nested `message/rfc822` part, with angle brackets.
pub(crate) fn nested_message_id(part: &MessagePart) -> Option<String> {
    let nested = part.message()?;
    let header = nested
        .parts
        .first()?
        .headers
        .header_value(&HeaderName::MessageId)?;
    normalize_message_id(header.as_text()?)
}

/// One field: lower-cased name and unfolded, trimmed value.
pub(crate) type Field = (String, String);

/// RFC 822-style field groups separated by blank lines (RFC 3464 §2.1,
/// RFC 8098 §3.1). Continuation lines (leading whitespace) are unfolded with a
/// single space; lines without a colon are skipped; LF or CRLF both end lines.
pub(crate) fn field_groups(text: &str) -> Vec<Vec<Field>> {
    let mut groups: Vec<Vec<Field>> = Vec::new();
    let mut current: Vec<Field> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            if !current.is_empty() {
                groups.push(std::mem::take(&mut current));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.last_mut() {
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if !name.is_empty() && !name.contains(' ') {
                current.push((name.to_ascii_lowercase(), value.trim().to_string()));
            }
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// The value of the first field called `name` (lower-case), if any.
pub(crate) fn value<'a>(fields: &'a [Field], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The part of a typed value after `type;` (`rfc822; a@b` → `a@b`,
/// `smtp; 550 no` → `550 no`), when the part before `;` is a single token.
pub(crate) fn untyped(value: &str) -> &str {
    match value.split_once(';') {
        Some((ty, rest))
            if !ty.trim().is_empty()
                && ty
                    .trim()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') =>
        {
            rest.trim()
        }
        _ => value.trim(),
    }
}

/// An address from a `Final-Recipient`/`Original-Recipient` value: the type
/// dropped, comments and angle brackets removed, lower-cased like
/// [`super::DirectAddress`]. `None` when nothing is left.
pub(crate) fn address(value: &str) -> Option<String> {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in untyped(value).chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '<' | '>' => {}
            _ if depth == 0 && !c.is_whitespace() && !c.is_control() => out.push(c),
            _ => {}
        }
    }
    (!out.is_empty()).then(|| out.to_lowercase())
}

/// A Message-ID in one canonical form, `<left@right>`: surrounding space and
/// comments dropped, the first `<…>` kept, or the bare id wrapped in brackets.
/// `None` when empty. Parsed notices and built ones both use this form.
pub fn normalize_message_id(value: &str) -> Option<String> {
    let v = value.trim();
    let inner = match (v.find('<'), v.find('>')) {
        (Some(open), Some(close)) if open < close => v.get(open + 1..close).unwrap_or(""),
        _ => v.trim_matches(|c| c == '<' || c == '>'),
    };
    let inner: String = inner
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect();
    (!inner.is_empty()).then(|| format!("<{inner}>"))
}

/// A fresh unique Message-ID, `<unix.random@domain>`, with 128 random bits.
pub fn new_message_id(domain: &Domain, now: i64) -> Result<String, NoticeError> {
    let mut bytes = [0u8; 16];
    openssl::rand::rand_bytes(&mut bytes).map_err(|e| NoticeError::Random(e.to_string()))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("<{now}.{hex}@{domain}>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_unfold_and_split() {
        let g = field_groups(
            "Reporting-MTA: dns;\r\n mx.example.org\r\n\r\nFINAL-RECIPIENT: rfc822;a@b.org\nbogus line\nStatus: 5.0.0\n",
        );
        assert_eq!(g.len(), 2);
        assert_eq!(value(&g[0], "reporting-mta"), Some("dns; mx.example.org"));
        assert_eq!(value(&g[1], "final-recipient"), Some("rfc822;a@b.org"));
        assert_eq!(value(&g[1], "status"), Some("5.0.0"));
    }

    #[test]
    fn typed_values_and_addresses() {
        assert_eq!(
            untyped("smtp; 550 5.1.1 <x@y>: no; really"),
            "550 5.1.1 <x@y>: no; really"
        );
        assert_eq!(untyped("550 no; really"), "550 no; really");
        assert_eq!(
            address("RFC822; <Bob@Example.ORG> (Bob)").as_deref(),
            Some("bob@example.org")
        );
        assert_eq!(address("rfc822;"), None);
    }

    #[test]
    fn message_ids() {
        assert_eq!(normalize_message_id(" <a@b> (c)").as_deref(), Some("<a@b>"));
        assert_eq!(normalize_message_id("a@b").as_deref(), Some("<a@b>"));
        assert_eq!(normalize_message_id("<>"), None);
        let d = Domain::parse("hisp.example.org").expect("domain");
        let id = new_message_id(&d, 5).expect("random");
        assert!(id.starts_with("<5.") && id.ends_with("@hisp.example.org>"));
        assert_ne!(id, new_message_id(&d, 5).expect("random"));
    }
}
