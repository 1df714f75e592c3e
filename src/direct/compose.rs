//! Writing plain notice messages: the RFC 5322 date, CRLF line endings, folded
//! header fields (≤ 998 octets a line), RFC 2047 subjects, base64, `{placeholder}`
//! templates and the `multipart/report` envelope that MDNs and DSNs share.
//!
//! Everything here is infallible: text from other HISPs or from callers is
//! sanitized (control characters become spaces, over-long words are cut) rather
//! than refused, because a notice must always be sendable.

/// Line ending of every message we write.
pub(crate) const CRLF: &str = "\r\n";
/// RFC 5322 §2.1.1 hard limit on a line, without its CRLF.
const MAX_LINE: usize = 998;
/// RFC 5322 §2.1.1 recommended line length, where we fold.
const SOFT_LINE: usize = 78;
/// Longest word kept in a report field; longer ones are cut so the line fits.
const MAX_WORD: usize = 900;

/// Earliest and latest instants RFC 5322 can write (years 0001 to 9999).
const MIN_DATE: i64 = -62_135_596_800;
const MAX_DATE: i64 = 253_402_300_799;

/// Format Unix seconds as an RFC 5322 date in UTC: `Sun, 22 Nov 2026 03:35:55 +0000`.
///
/// Times outside years 0001–9999 are clamped to that range.
pub fn rfc5322_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = unix.clamp(MIN_DATE, MAX_DATE);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = crate::clock::civil_from_days(days);
    // 1970-01-01 was a Thursday (index 4).
    let weekday = usize::try_from((days + 4).rem_euclid(7)).unwrap_or(0);
    let month = usize::try_from(m - 1).unwrap_or(0);
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} +0000",
        DAYS.get(weekday).copied().unwrap_or("Sun"),
        MONTHS.get(month).copied().unwrap_or("Jan"),
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// One line of text safe for a header: control characters (CR, LF, TAB, …)
/// become spaces, runs of spaces collapse, and the ends are trimmed.
pub(crate) fn one_line(value: &str) -> String {
    let spaced: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Like [`one_line`], and non-ASCII characters become `?` (report fields are ASCII).
pub(crate) fn ascii_line(value: &str) -> String {
    one_line(value)
        .chars()
        .map(|c| if c.is_ascii() { c } else { '?' })
        .collect()
}

/// `Name: value` folded at spaces near 78 columns, CRLF-terminated; `None` when a
/// single word would push a line past 998 octets.
fn fold_words(name: &str, value: &str) -> Option<String> {
    let mut out = format!("{name}:");
    let mut line_len = out.len();
    let mut words_on_line = 0;
    for word in value.split_whitespace() {
        if words_on_line > 0 && line_len + 1 + word.len() > SOFT_LINE {
            out.push_str(CRLF);
            line_len = 0;
            words_on_line = 0;
        }
        out.push(' ');
        out.push_str(word);
        line_len += 1 + word.len();
        words_on_line += 1;
        if line_len > MAX_LINE {
            return None;
        }
    }
    out.push_str(CRLF);
    Some(out)
}

/// A header or report field: sanitized to one ASCII line and folded. Words too
/// long to fit a line are cut to 900 octets, so the result always obeys 998.
pub(crate) fn field(name: &str, value: &str) -> String {
    let value = ascii_line(value);
    fold_words(name, &value).unwrap_or_else(|| {
        let cut: Vec<&str> = value
            .split_whitespace()
            .map(|w| w.get(..MAX_WORD).unwrap_or(w))
            .collect();
        fold_words(name, &cut.join(" ")).unwrap_or_else(|| format!("{name}:{CRLF}"))
    })
}

/// The `Subject:` field: plain and folded when it is printable ASCII, otherwise
/// RFC 2047 `=?utf-8?b?…?=` encoded words, one per folded line.
pub(crate) fn subject(value: &str) -> String {
    let value = one_line(value);
    if value.is_ascii()
        && !value.contains("=?")
        && let Some(folded) = fold_words("Subject", &value)
    {
        return folded;
    }
    let mut out = String::from("Subject:");
    let mut chunk = String::new();
    for c in value.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            out.push_str(&format!(" =?utf-8?b?{}?={CRLF}", base64(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        out.push_str(&format!(" =?utf-8?b?{}?={CRLF}", base64(chunk.as_bytes())));
    }
    if !out.ends_with(CRLF) {
        out.push_str(CRLF);
    }
    out
}

/// Standard base64 with padding (RFC 4648 §4).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sym = |i: u32| char::from(ALPHABET[(i & 63) as usize]);
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        out.push(if chunk.len() > 1 { sym(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(n) } else { '=' });
    }
    out
}

/// Line endings (CRLF, bare LF, bare CR) rewritten to CRLF; a non-empty result
/// always ends with CRLF.
pub(crate) fn crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 32 + 2);
    let mut iter = text.iter().copied().peekable();
    while let Some(b) = iter.next() {
        match b {
            b'\r' => {
                if iter.peek() == Some(&b'\n') {
                    iter.next();
                }
                out.extend_from_slice(b"\r\n");
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            _ => out.push(b),
        }
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Fill `{name}` placeholders in one pass, so a value that itself contains
/// `{…}` is never expanded again. Unknown placeholders stay as written.
pub(crate) fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let (before, from_brace) = rest.split_at(open);
        out.push_str(before);
        let name_end = from_brace.find('}');
        let value = name_end.and_then(|end| {
            let name = from_brace.get(1..end)?;
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v, end))
        });
        match value {
            Some((v, end)) => {
                out.push_str(v);
                rest = from_brace.get(end + 1..).unwrap_or("");
            }
            None => {
                out.push('{');
                rest = from_brace.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

/// Fill a line-oriented template (the alert's, `templates/mail/alert.txt`)
/// line by line with [`fill`], with two rules for optional lines: a line
/// that starts with `{?name}` is kept, without that marker, only when
/// `name` has a value that is not blank; and a line whose placeholders all
/// fill blank is left out (a label with nothing after it). Values are
/// inserted as given: one meant for one line must be one line.
pub(crate) fn fill_lines(template: &str, vars: &[(&str, &str)]) -> String {
    let value = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let mut out = String::with_capacity(template.len() + 512);
    for line in template.split_inclusive('\n') {
        let mut line = line;
        if let Some(rest) = line.strip_prefix("{?") {
            let Some((name, after)) = rest.split_once('}') else {
                out.push_str(line);
                continue;
            };
            if value(name).is_none_or(|v| v.trim().is_empty()) {
                continue;
            }
            line = after;
        }
        let mut named = 0;
        let mut filled = 0;
        let mut rest = line;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else { break };
            if let Some(v) = value(&after[..close]) {
                named += 1;
                if !v.trim().is_empty() {
                    filled += 1;
                }
            }
            rest = &after[close + 1..];
        }
        if named > 0 && filled == 0 {
            continue;
        }
        out.push_str(&fill(line, vars));
    }
    out
}

/// One leaf body part: its MIME header lines and its CRLF body.
pub(crate) struct Part {
    /// `Content-Type:` and `Content-Transfer-Encoding:` lines, CRLF-terminated.
    headers: String,
    /// The encoded body, CRLF-terminated.
    body: Vec<u8>,
}

impl Part {
    /// A `text/<subtype>` part: 7bit when it is ASCII with short lines, otherwise
    /// base64 (declared utf-8; bytes that are not are passed through untouched).
    pub(crate) fn text(subtype: &str, text: &[u8]) -> Self {
        let body = crlf(text);
        let plain = body.is_ascii()
            && !body.contains(&0)
            && body.split(|&b| b == b'\n').all(|l| l.len() <= MAX_LINE);
        if plain {
            return Self {
                headers: format!(
                    "Content-Type: text/{subtype}; charset=us-ascii{CRLF}\
                     Content-Transfer-Encoding: 7bit{CRLF}"
                ),
                body,
            };
        }
        let encoded = base64(&body);
        let mut lines = Vec::with_capacity(encoded.len() + encoded.len() / 38 + 2);
        for chunk in encoded.as_bytes().chunks(76) {
            lines.extend_from_slice(chunk);
            lines.extend_from_slice(b"\r\n");
        }
        Self {
            headers: format!(
                "Content-Type: text/{subtype}; charset=utf-8{CRLF}\
                 Content-Transfer-Encoding: base64{CRLF}"
            ),
            body: lines,
        }
    }

    /// Append the part (its header lines, the blank line, its body) to `out`.
    pub(crate) fn write_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.headers.as_bytes());
        out.extend_from_slice(CRLF.as_bytes());
        out.extend_from_slice(&self.body);
    }

    /// A `message/<subtype>` report part made of fields built with [`field`].
    pub(crate) fn report(subtype: &str, fields: &str) -> Self {
        Self {
            headers: format!(
                "Content-Type: message/{subtype}{CRLF}Content-Transfer-Encoding: 7bit{CRLF}"
            ),
            body: crlf(fields.as_bytes()),
        }
    }
}

/// A whole `multipart/report` message: `headers` (already folded fields, each
/// CRLF-terminated), MIME-Version, Content-Type with a boundary found in no
/// part, then the parts. `seed` (the Message-ID) makes the boundary repeatable.
pub(crate) fn multipart_report(
    headers: &[String],
    report_type: &str,
    parts: &[Part],
    seed: &str,
) -> Vec<u8> {
    let hash = seed.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let clash = |b: &str| {
        parts
            .iter()
            .any(|p| p.headers.contains(b) || p.body.windows(b.len()).any(|w| w == b.as_bytes()))
    };
    let mut boundary = String::new();
    for n in 0u64.. {
        boundary = format!("=_hisp_{hash:016x}_{n}");
        if !clash(&boundary) {
            break;
        }
    }
    let mut out = Vec::new();
    for h in headers {
        out.extend_from_slice(h.as_bytes());
    }
    out.extend_from_slice(
        format!(
            "MIME-Version: 1.0{CRLF}Content-Type: multipart/report; report-type={report_type};\
             {CRLF}\tboundary=\"{boundary}\"{CRLF}{CRLF}"
        )
        .as_bytes(),
    );
    for p in parts {
        out.extend_from_slice(format!("--{boundary}{CRLF}{}{CRLF}", p.headers).as_bytes());
        out.extend_from_slice(&p.body);
    }
    out.extend_from_slice(format!("--{boundary}--{CRLF}").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(
            rfc5322_date(1_795_318_555),
            "Sun, 22 Nov 2026 03:35:55 +0000"
        );
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(rfc5322_date(-1), "Wed, 31 Dec 1969 23:59:59 +0000");
        assert_eq!(rfc5322_date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 +0000");
        assert_eq!(rfc5322_date(i64::MIN), "Mon, 01 Jan 0001 00:00:00 +0000");
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v")] {
            assert_eq!(base64(i.as_bytes()), o);
        }
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn fill_lines_leaves_out_empty_labels_and_unset_conditions() {
        let t = "Title {t}\nA: {a}\nB: {b} and {c}\n{?flag}Flagged {t}\n{?none}Never\nPlain\n";
        let vars = [
            ("t", "x"),
            ("a", ""),
            ("b", " "),
            ("c", "{a}"),
            ("flag", "yes"),
        ];
        assert_eq!(
            fill_lines(t, &vars),
            "Title x\nB:   and {a}\nFlagged x\nPlain\n"
        );
        let vars = [("t", ""), ("a", "1"), ("b", ""), ("c", ""), ("flag", "")];
        assert_eq!(fill_lines(t, &vars), "A: 1\nPlain\n");
        // An unknown placeholder is text; a line with only unknown ones stays.
        assert_eq!(fill_lines("{unknown}\n{?x\n", &[]), "{unknown}\n{?x\n");
    }

    #[test]
    fn fill_is_single_pass() {
        let t = "a {x} b {y} {unknown} {";
        assert_eq!(
            fill(t, &[("x", "{y}"), ("y", "2")]),
            "a {y} b 2 {unknown} {"
        );
    }

    #[test]
    fn fields_fold_and_never_exceed_998() {
        let long = "word ".repeat(400);
        let f = field("Failure", &long);
        assert!(f.split("\r\n").all(|l| l.len() <= SOFT_LINE));
        let huge = "x".repeat(5000);
        let f = field("Original-Message-ID", &format!("<{huge}>"));
        assert!(f.split("\r\n").all(|l| l.len() <= MAX_LINE));
        assert_eq!(field("A", "b\r\nInjected: yes"), "A: b Injected: yes\r\n");
        assert_eq!(field("X-Empty", ""), "X-Empty:\r\n");
    }

    #[test]
    fn subjects() {
        assert_eq!(subject("Processed: hi"), "Subject: Processed: hi\r\n");
        let s = subject("Processed: Überweisung für Frau Müller");
        assert!(s.is_ascii() && s.contains("=?utf-8?b?"), "{s}");
        let long = subject(&"y".repeat(3000));
        assert!(long.split("\r\n").all(|l| l.len() <= 82), "{long}");
        assert!(subject("a\r\nBcc: x").starts_with("Subject: a Bcc: x\r\n"));
    }

    #[test]
    fn crlf_normalizes() {
        assert_eq!(crlf(b"a\nb\r\nc\rd"), b"a\r\nb\r\nc\r\nd\r\n");
        assert!(crlf(b"").is_empty());
    }
}
