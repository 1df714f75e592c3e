//! HL7 v2 escape sequences: owns decoding them out of received values and
//! encoding delimiters and control characters back into escapes for values
//! we write (ACK text).
//!
//! An escape sequence is the escape character (MSH-2 position 3, usually
//! `\`), a code, and the escape character again. Decoding never fails:
//! unknown, malformed or unterminated sequences are kept verbatim, as is
//! everything when the message declares no escape character.
//!
//! | sequence | decoded to |
//! |---|---|
//! | `\F\ \S\ \T\ \R\ \E\` | field, component, subcomponent, repetition, escape char |
//! | `\P\` | truncation char (v2.7+, when MSH-2 declares one) |
//! | `\Xhh..\` | the bytes, as UTF-8 if valid, else Latin-1 (adjacent ones as one run) |
//! | `\H\ \N\` | dropped (highlighting on/off) |
//! | `\Cxxyy\ \Mxxyy[zz]\` | dropped (character-set switches) |
//! | `\.br\`, `\.ce\` | `\n` |
//! | `\.sp\`, `\.sp n\` | `n` newlines (default 1) |
//! | `\.sk n\`, `\.in n\`, `\.ti n\` | `n` spaces when `n > 0`, else nothing |
//! | `\.fi\`, `\.nf\` | dropped (wrap mode) |
//! | `\Z..\` and anything else | kept verbatim |
//!
//! Repeat counts are capped at [`MAX_REPEAT`] so `\.sp 999999999\` cannot
//! be used to make us allocate gigabytes.

use std::borrow::Cow;

use super::er7::Separators;

/// Upper bound for the `n` of `.sp`/`.sk`/`.in`/`.ti`.
pub const MAX_REPEAT: usize = 100;

/// Decodes the escape sequences in `raw`. Borrows when there are none.
pub fn decode<'a>(raw: &'a str, seps: &Separators) -> Cow<'a, str> {
    let Some(esc) = seps.escape.map(char::from) else {
        return Cow::Borrowed(raw);
    };
    if !raw.contains(esc) {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    // Bytes of `\X..\` sequences that follow one another with nothing
    // between: one character's UTF-8 bytes may be split across them.
    let mut hex = Vec::new();
    let mut rest = raw;
    while let Some(open) = rest.find(esc) {
        if open > 0 {
            flush_hex(&mut hex, &mut out);
            out.push_str(&rest[..open]);
        }
        let after = &rest[open + 1..];
        let Some(close) = after.find(esc) else {
            // Unterminated: keep the rest verbatim.
            flush_hex(&mut hex, &mut out);
            out.push_str(&rest[open..]);
            return Cow::Owned(out);
        };
        let body = &after[..close];
        if let Some(digits) = body.strip_prefix('X').filter(|d| is_hex_bytes(d)) {
            hex.extend(
                digits
                    .as_bytes()
                    .chunks_exact(2)
                    .map(|p| hex_val(p[0]) << 4 | hex_val(p[1])),
            );
        } else {
            flush_hex(&mut hex, &mut out);
            if !expand(body, seps, &mut out) {
                out.push(esc);
                out.push_str(body);
                out.push(esc);
            }
        }
        rest = &after[close + 1..];
    }
    flush_hex(&mut hex, &mut out);
    out.push_str(rest);
    Cow::Owned(out)
}

/// Appends the bytes of a run of `\X..\` sequences and empties `hex`: as
/// UTF-8 when the run is valid UTF-8, else each byte as Latin-1.
fn flush_hex(hex: &mut Vec<u8>, out: &mut String) {
    match std::str::from_utf8(hex) {
        Ok(s) => out.push_str(s),
        Err(_) => out.extend(hex.iter().map(|&b| char::from(b))),
    }
    hex.clear();
}

/// Appends the meaning of one sequence body; false if it is not one we
/// decode (the caller then keeps it verbatim).
fn expand(body: &str, seps: &Separators, out: &mut String) -> bool {
    let delimiter = match body {
        "F" => Some(seps.field),
        "S" => seps.component,
        "T" => seps.subcomponent,
        "R" => seps.repetition,
        "E" => seps.escape,
        "P" => seps.truncation,
        // "\H\ start highlighting", "\N\ normal text (end highlighting)".
        "H" | "N" => return true,
        _ => None,
    };
    if let Some(c) = delimiter {
        out.push(char::from(c));
        return true;
    }
    match body.as_bytes().first() {
        // "\Xdddd...\ hexadecimal data": decoded by the caller; one with
        // an odd count or a non-hex digit is kept verbatim.
        // "\Cxxyy\ single-byte character set escape sequence with two
        // hexadecimal values"; "\Mxxyyzz\ multi-byte character set escape
        // sequence with two or three hexadecimal values". Dropped: we have
        // already decoded the bytes as Unicode.
        Some(b'C') => body.len() == 5 && is_hex(&body[1..]),
        Some(b'M') => matches!(body.len(), 5 | 7) && is_hex(&body[1..]),
        Some(b'.') => format_command(&body[1..], out),
        // "\Zdddd...\ locally defined escape sequence": kept verbatim.
        _ => false,
    }
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// True for the digits of an `\Xdddd\` sequence: hex, an even count.
fn is_hex_bytes(digits: &str) -> bool {
    is_hex(digits) && digits.len().is_multiple_of(2)
}

fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// Formatted-text (FT) commands, after the leading `.`.
fn format_command(cmd: &str, out: &mut String) -> bool {
    let name_len = cmd.bytes().take_while(u8::is_ascii_alphabetic).count();
    let (name, arg) = cmd.split_at(name_len);
    let Some(n) = parse_count(arg) else {
        return false;
    };
    match (name, n) {
        // ".br Begin new output line." / ".ce End current output line and
        // center the next line."
        ("br" | "ce", None) => out.push('\n'),
        // ".sp <number> End current output line and skip <number> vertical
        // spaces. <number> is a positive integer or absent. If <number> is
        // absent, skip one space."
        ("sp", n) => push_n(out, '\n', n.unwrap_or(1)),
        // ".sk <number> Skip <number> spaces to the right." ".in"/".ti":
        // (temporarily) "Indent <number> of spaces, where <number> is a
        // positive or negative integer." Plain text has no margins, so a
        // positive indent becomes leading spaces and a negative one nothing.
        ("sk" | "in" | "ti", Some(n)) => push_n(out, ' ', n),
        // ".fi Begin word wrap or fill mode." / ".nf Begin no-wrap mode."
        ("fi" | "nf", None) => {}
        _ => return false,
    }
    true
}

/// `""` → `Some(None)`; `" 3"`, `"+3"`, `"-2"` → `Some(Some(n))` with
/// negatives clamped to 0; anything else → `None`.
fn parse_count(arg: &str) -> Option<Option<i64>> {
    let arg = arg.trim();
    if arg.is_empty() {
        return Some(None);
    }
    let digits = arg.strip_prefix('+').unwrap_or(arg);
    let (neg, digits) = match digits.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, digits),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Saturate instead of failing on absurdly long digit strings.
    let n = digits.parse::<i64>().unwrap_or(i64::MAX);
    Some(Some(if neg { 0 } else { n }))
}

fn push_n(out: &mut String, c: char, n: i64) {
    let n = usize::try_from(n).unwrap_or(0).min(MAX_REPEAT);
    out.extend(std::iter::repeat_n(c, n));
}

/// Escapes `text` so it can be written as one value under `seps`: every
/// delimiter becomes its escape sequence, and every C0 control character
/// and DEL become `\Xhh\` (a raw CR would end the segment, and a raw
/// `<VT>` or `<FS>` would cut the MLLP frame that carries the value).
/// Borrows when nothing needs escaping.
///
/// With no escape character declared nothing can be escaped; delimiters and
/// control characters are then replaced by a space so the structure stays
/// intact.
pub fn encode<'a>(text: &'a str, seps: &Separators) -> Cow<'a, str> {
    let delimiters = [
        (Some(seps.field), "F"),
        (seps.component, "S"),
        (seps.subcomponent, "T"),
        (seps.repetition, "R"),
        (seps.escape, "E"),
        (seps.truncation, "P"),
    ];
    let delimiter = |c: char| {
        delimiters
            .iter()
            .find(|(d, _)| d.map(char::from) == Some(c))
            .map(|(_, code)| *code)
    };
    let special = |c: char| delimiter(c).is_some() || is_c0_or_del(c);
    if !text.chars().any(special) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        let Some(esc) = seps.escape.map(char::from) else {
            out.push(if special(c) { ' ' } else { c });
            continue;
        };
        if let Some(code) = delimiter(c) {
            out.push(esc);
            out.push_str(code);
            out.push(esc);
        } else if is_c0_or_del(c) {
            out.push(esc);
            out.push_str(&format!("X{:02X}", u32::from(c)));
            out.push(esc);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A C0 control character (U+0000–U+001F) or DEL (U+007F).
fn is_c0_or_del(c: char) -> bool {
    c.is_ascii_control()
}
