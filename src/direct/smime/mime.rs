//! The MIME S/MIME needs, read and written by hand: header blocks, Content-Type
//! parameters, RFC 1847 multipart splitting that keeps a part's bytes exact,
//! base64 with 76-character CRLF lines, and CRLF canonicalization. Reading never
//! panics; LF-only input is accepted, output is CRLF throughout.

/// An entity split into its header fields and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity<'a> {
    /// (name, unfolded value), in order, names as written.
    pub headers: Vec<(String, String)>,
    /// Everything after the blank line that ends the headers.
    pub body: &'a [u8],
}

impl Entity<'_> {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The parsed Content-Type; `text/plain` when absent (RFC 2045 §5.2).
    pub fn content_type(&self) -> ContentType {
        self.header("Content-Type")
            .map_or_else(ContentType::default, ContentType::parse)
    }

    /// The Content-Transfer-Encoding, lowercase, if present.
    pub fn transfer_encoding(&self) -> Option<String> {
        self.header("Content-Transfer-Encoding")
            .map(|v| v.trim().to_ascii_lowercase())
    }
}

/// Split headers from body. `None` when a line in the header block is neither a
/// field, a continuation nor the blank line (the bytes are not a MIME entity).
pub fn parse_entity(bytes: &[u8]) -> Option<Entity<'_>> {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let rest = bytes.get(pos..)?;
        let (line, next) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => (rest.get(..i)?, pos + i + 1),
            None => (rest, bytes.len()),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Some(Entity {
                headers,
                body: bytes.get(next..)?,
            });
        }
        let text = String::from_utf8_lossy(line);
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            let (_, value) = headers.last_mut()?;
            value.push(' ');
            value.push_str(text.trim());
        } else {
            let (name, value) = text.split_once(':')?;
            let name = name.trim_end();
            if name.is_empty() || name.bytes().any(|b| !(33..=126).contains(&b)) {
                return None;
            }
            headers.push((name.to_string(), value.trim().to_string()));
        }
        pos = next;
    }
    Some(Entity { headers, body: &[] })
}

/// A Content-Type: `type/subtype` in lowercase, and its parameters (names lowercase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// `type/subtype`, lowercase.
    pub mime: String,
    /// (name, value) pairs; quoted values unquoted.
    pub params: Vec<(String, String)>,
}

impl Default for ContentType {
    fn default() -> Self {
        Self {
            mime: "text/plain".into(),
            params: Vec::new(),
        }
    }
}

impl ContentType {
    /// Parse a header value such as `multipart/signed; boundary="x"; micalg=sha-256`.
    pub fn parse(value: &str) -> Self {
        let mut pieces = split_params(value).into_iter();
        let mime = pieces
            .next()
            .map(|m| m.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let params = pieces
            .filter_map(|p| {
                let (name, value) = p.split_once('=')?;
                Some((name.trim().to_ascii_lowercase(), unquote(value.trim())))
            })
            .collect();
        Self { mime, params }
    }

    /// A parameter's value by case-insensitive name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the type is one of `names`.
    pub fn is(&self, names: &[&str]) -> bool {
        names.contains(&self.mime.as_str())
    }
}

/// Split on `;` outside quoted strings.
fn split_params(value: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == ';' && !quoted {
            out.push(String::new());
            continue;
        }
        if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out
}

/// A parameter value without its quotes and backslash escapes.
fn unquote(value: &str) -> String {
    let Some(inner) = value
        .strip_prefix('"')
        .map(|v| v.strip_suffix('"').unwrap_or(v))
    else {
        return value.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        if !escaped && c == '\\' {
            escaped = true;
            continue;
        }
        escaped = false;
        out.push(c);
    }
    out
}

/// The body parts of a multipart body, each exactly the bytes between the end of
/// its delimiter line and the line break before the next delimiter (RFC 2046
/// §5.1.1, RFC 1847 §2.1). A missing close delimiter ends the last part at the
/// end of the body. `None` when no delimiter line is found.
pub fn split_multipart<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<&'a [u8]>> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    // A delimiter starts with '-': only such lines are looked at.
    for line in dash_lines(body) {
        let Some(after) = body.get(line..)?.strip_prefix(delimiter.as_bytes()) else {
            continue;
        };
        let eol = after.iter().position(|b| *b == b'\n');
        let next = eol.map_or(body.len() + 1, |i| line + delimiter.len() + i + 1);
        let tail = after.get(..eol.unwrap_or(after.len())).unwrap_or_default();
        let (close, tail) = match tail.strip_prefix(b"--") {
            Some(t) => (true, t),
            None => (false, tail),
        };
        if tail.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            if let Some(s) = start {
                let mut end = line.saturating_sub(1);
                if end > s && body.get(end - 1) == Some(&b'\r') {
                    end -= 1;
                }
                parts.push(body.get(s..end.max(s))?);
            }
            if close {
                return Some(parts);
            }
            start = Some(next.min(body.len()));
        }
    }
    let s = start?;
    parts.push(body.get(s..)?);
    Some(parts)
}

/// The offsets of the lines of `body` that start with '-', in order: found a
/// block at a time by a scan for "\n-" that vectorizes, then exactly within the
/// blocks that have one.
fn dash_lines(body: &[u8]) -> impl Iterator<Item = usize> + '_ {
    const BLOCK: usize = 4096;
    let first = body.first().is_some_and(|b| *b == b'-').then_some(0);
    let next = body.get(1..).unwrap_or_default();
    let dash_line = |(&p, &c): (&u8, &u8)| (p == b'\n') & (c == b'-');
    let blocks = body
        .chunks(BLOCK)
        .zip(next.chunks(BLOCK))
        .enumerate()
        .filter(move |(_, (p, c))| p.iter().zip(*c).fold(false, |f, pair| f | dash_line(pair)))
        .flat_map(move |(block, (p, c))| {
            p.iter()
                .zip(c)
                .enumerate()
                .filter(move |(_, pair)| dash_line(*pair))
                .map(move |(i, _)| block * BLOCK + i + 1)
        });
    first.into_iter().chain(blocks)
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Where `part` lies within `whole`, when it is a sub-slice of it (to cut a
/// part out of an owned buffer in place).
pub fn range_within(whole: &[u8], part: &[u8]) -> Option<std::ops::Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= whole.len()).then_some(start..end)
}

/// The two base64 characters of each 12-bit value: half the lookups of
/// [`ALPHABET`] per 3 input bytes.
const PAIRS: [[u8; 2]; 4096] = {
    let mut t = [[0u8; 2]; 4096];
    let mut i = 0;
    while i < 4096 {
        t[i] = [ALPHABET[i >> 6], ALPHABET[i & 0x3f]];
        i += 1;
    }
    t
};

/// Base64 of `data` in lines of 76 characters, each ending CRLF.
pub fn base64_lines(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; base64_lines_len(data.len())];
    base64_lines_fill(data, &mut out);
    out
}

/// [`base64_lines`] appended to `out`.
pub fn base64_lines_into(out: &mut Vec<u8>, data: &[u8]) {
    let start = out.len();
    out.resize(start + base64_lines_len(data.len()), 0);
    base64_lines_fill(data, out.get_mut(start..).unwrap_or_default());
}

/// The length of [`base64_lines`] of `n` bytes.
pub fn base64_lines_len(n: usize) -> usize {
    // 57 input bytes make exactly one 76-character line.
    let rest = n % 57;
    n / 57 * 78
        + if rest > 0 {
            rest.div_ceil(3) * 4 + 2
        } else {
            0
        }
}

/// Write [`base64_lines`] of `data` into `out`, which has exactly its length.
fn base64_lines_fill(data: &[u8], out: &mut [u8]) {
    let full = data.len() / 57;
    let lines = data.chunks_exact(57);
    let tail = lines.remainder();
    let (body, last) = out.split_at_mut((full * 78).min(out.len()));
    for (src, dst) in lines.zip(body.chunks_exact_mut(78)) {
        for (s3, d4) in src.chunks_exact(3).zip(dst.chunks_exact_mut(4)) {
            if let ([a, b, c], [w, x, y, z]) = (s3, d4) {
                let n = (u32::from(*a) << 16) | (u32::from(*b) << 8) | u32::from(*c);
                [*w, *x] = PAIRS[(n >> 12) as usize & 0xfff];
                [*y, *z] = PAIRS[n as usize & 0xfff];
            }
        }
        if let [.., cr, lf] = dst {
            *cr = b'\r';
            *lf = b'\n';
        }
    }
    if !tail.is_empty() {
        for (s3, d4) in tail.chunks(3).zip(last.chunks_exact_mut(4)) {
            encode3(s3, d4);
            if s3.len() < 3 {
                d4[3] = b'=';
                if s3.len() < 2 {
                    d4[2] = b'=';
                }
            }
        }
        if let [.., cr, lf] = last {
            *cr = b'\r';
            *lf = b'\n';
        }
    }
}

/// Up to 3 bytes into 4 base64 characters (padding written by the caller).
fn encode3(src: &[u8], dst: &mut [u8]) {
    let b = |i: usize| u32::from(src.get(i).copied().unwrap_or(0));
    let n = (b(0) << 16) | (b(1) << 8) | b(2);
    for (i, d) in dst.iter_mut().enumerate().take(4) {
        *d = ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize];
    }
}

/// Decoding table flags: whitespace is skipped, `=` stops, anything else is invalid.
const SKIP: u8 = 0x40;
const PAD: u8 = 0x80;
const BAD: u8 = 0xc0;
const DECODE: [u8; 256] = {
    let mut t = [BAD; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t[b' ' as usize] = SKIP;
    t[b'\t' as usize] = SKIP;
    t[b'\r' as usize] = SKIP;
    t[b'\n' as usize] = SKIP;
    t[b'=' as usize] = PAD;
    t
};

/// Decode base64, skipping whitespace and stopping at padding. `None` on any
/// other character outside the alphabet.
pub fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    // At most 3 bytes per 4 characters: written by index, then cut to length.
    let mut out = vec![0u8; text.len() / 4 * 3 + 3];
    let mut len = 0;
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut i = 0;
    while i < text.len() {
        // Four alphabet characters on a byte boundary: three bytes at once.
        if bits == 0
            && let Some(&[a, b, c, d]) = text.get(i..i + 4)
        {
            let v = [
                DECODE[usize::from(a)],
                DECODE[usize::from(b)],
                DECODE[usize::from(c)],
                DECODE[usize::from(d)],
            ];
            if (v[0] | v[1] | v[2] | v[3]) & 0xc0 == 0 {
                let n = (u32::from(v[0]) << 18)
                    | (u32::from(v[1]) << 12)
                    | (u32::from(v[2]) << 6)
                    | u32::from(v[3]);
                out.get_mut(len..len + 3)?.copy_from_slice(&[
                    (n >> 16) as u8,
                    (n >> 8) as u8,
                    n as u8,
                ]);
                len += 3;
                i += 4;
                continue;
            }
        }
        let v = DECODE[usize::from(text[i])];
        i += 1;
        match v {
            SKIP => continue,
            PAD => break,
            BAD => return None,
            _ => {}
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            *out.get_mut(len)? = (acc >> bits) as u8;
            len += 1;
            acc &= (1 << bits) - 1;
        }
    }
    out.truncate(len);
    Some(out)
}

/// The body of a pkcs7 entity as DER: base64 unless the transfer encoding says
/// the bytes are raw.
pub fn decode_body(entity: &Entity<'_>) -> Option<Vec<u8>> {
    match entity.transfer_encoding().as_deref() {
        Some("binary" | "8bit") => Some(entity.body.to_vec()),
        Some("base64") => base64_decode(entity.body),
        _ => base64_decode(entity.body).or_else(|| Some(entity.body.to_vec())),
    }
}

/// Every line break as CRLF: a bare LF or a bare CR becomes CRLF.
pub fn to_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 16);
    let mut pos = 0;
    while let Some(off) = data
        .get(pos..)
        .and_then(|rest| rest.iter().position(|b| *b == b'\r' || *b == b'\n'))
    {
        let at = pos + off;
        out.extend_from_slice(data.get(pos..at).unwrap_or_default());
        out.extend_from_slice(b"\r\n");
        pos = if data.get(at) == Some(&b'\r') && data.get(at + 1) == Some(&b'\n') {
            at + 2
        } else {
            at + 1
        };
    }
    out.extend_from_slice(data.get(pos..).unwrap_or_default());
    out
}

/// Whether [`to_crlf`] would change `data`: a bare LF or a bare CR occurs.
pub fn needs_crlf(data: &[u8]) -> bool {
    if data.first() == Some(&b'\n') || data.last() == Some(&b'\r') {
        return true;
    }
    // Pairs (previous, current), in blocks so the comparison vectorizes.
    let prev = data.get(..data.len().saturating_sub(1)).unwrap_or_default();
    let cur = data.get(1..).unwrap_or_default();
    prev.chunks(4096).zip(cur.chunks(4096)).any(|(p, c)| {
        p.iter().zip(c).fold(false, |bad, (&p, &c)| {
            bad | ((c == b'\n') & (p != b'\r')) | ((p == b'\r') & (c != b'\n'))
        })
    })
}

/// `data` with every line break CRLF, borrowed when it already is.
pub fn crlf(data: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if needs_crlf(data) {
        std::borrow::Cow::Owned(to_crlf(data))
    } else {
        std::borrow::Cow::Borrowed(data)
    }
}

/// Whether a line feed appears without a carriage return before it.
pub fn has_bare_lf(data: &[u8]) -> bool {
    data.iter()
        .enumerate()
        .any(|(i, b)| *b == b'\n' && (i == 0 || data.get(i - 1) != Some(&b'\r')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers_with_folding_and_lf() {
        let e = parse_entity(b"Content-Type: multipart/signed;\n\tboundary=\"a;b\"\n\nbody")
            .expect("entity");
        let ct = e.content_type();
        assert_eq!(ct.mime, "multipart/signed");
        assert_eq!(ct.param("BOUNDARY"), Some("a;b"));
        assert_eq!(e.body, b"body");
        assert!(parse_entity(b"not a header\r\n\r\n").is_none());
        assert!(parse_entity(b" leading continuation\r\n").is_none());
        assert_eq!(
            parse_entity(b"").expect("empty").content_type().mime,
            "text/plain"
        );
    }

    #[test]
    fn splits_exact_parts() {
        let body = b"pre\r\n--b\r\nA\r\n\r\n--b \r\nB\r\n--b--\r\nepilogue";
        let parts = split_multipart(body, "b").expect("parts");
        assert_eq!(parts, vec![&b"A\r\n"[..], &b"B"[..]]);
        let lf = b"--b\nA\n--b\nB\n--b--\n";
        assert_eq!(
            split_multipart(lf, "b").expect("lf"),
            vec![&b"A"[..], &b"B"[..]]
        );
        let empty = b"--b\r\n--b\r\n--b--";
        assert_eq!(split_multipart(empty, "b").expect("e"), vec![&b""[..]; 2]);
        assert!(split_multipart(b"no delimiter", "b").is_none());
        assert_eq!(split_multipart(b"--b", "b").expect("end"), vec![&b""[..]]);
        assert!(split_multipart(b"--bx\r\n", "b").is_none());
    }

    /// The line-by-line splitter that `split_multipart` replaced, as reference.
    fn split_reference<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<&'a [u8]>> {
        let delimiter = format!("--{boundary}");
        let mut parts = Vec::new();
        let mut start: Option<usize> = None;
        let mut line = 0;
        while line <= body.len() {
            let rest = body.get(line..)?;
            let eol = rest.iter().position(|b| *b == b'\n');
            let next = eol.map_or(body.len() + 1, |i| line + i + 1);
            if let Some(after) = rest.strip_prefix(delimiter.as_bytes()) {
                let line_len = eol.map_or(Some(after.len()), |i| i.checked_sub(delimiter.len()));
                let tail = line_len.and_then(|n| after.get(..n)).unwrap_or_default();
                let (close, tail) = match tail.strip_prefix(b"--") {
                    Some(t) => (true, t),
                    None => (false, tail),
                };
                if tail.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
                    if let Some(s) = start {
                        let mut end = line.saturating_sub(1);
                        if end > s && body.get(end - 1) == Some(&b'\r') {
                            end -= 1;
                        }
                        parts.push(body.get(s..end.max(s))?);
                    }
                    if close {
                        return Some(parts);
                    }
                    start = Some(next.min(body.len()));
                }
            }
            line = next;
        }
        let s = start?;
        parts.push(body.get(s..)?);
        Some(parts)
    }

    #[test]
    fn split_finds_delimiters_across_scan_blocks() {
        let pieces: [&[u8]; 7] = [
            b"--b\r\n",
            b"--b--\r\n",
            b"-x\n",
            b"--b \t\r\n",
            b"--bb\r\n",
            b"\r\n",
            b"--b",
        ];
        for pad in [0, 1, 4093, 4094, 4095, 4096, 4097, 8190, 8191] {
            for a in pieces {
                for b in pieces {
                    let mut body = vec![b'x'; pad];
                    body.push(b'\n');
                    body.extend_from_slice(a);
                    body.extend_from_slice(b"mid\r\n");
                    body.extend_from_slice(b);
                    for start in [&b""[..], b"--b\r\n", b"-"] {
                        let mut whole = start.to_vec();
                        whole.extend_from_slice(&body);
                        assert_eq!(
                            split_multipart(&whole, "b"),
                            split_reference(&whole, "b"),
                            "{pad} {a:?} {b:?} {start:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn base64_round_trips() {
        for len in 0..200 {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let text = base64_lines(&data);
            assert!(text.split(|b| *b == b'\n').all(|l| l.len() <= 77));
            assert_eq!(base64_decode(&text).expect("decode"), data);
        }
        assert!(base64_decode(b"ab$c").is_none());
    }

    #[test]
    fn crlf_borrows_only_when_canonical() {
        for input in [
            &b""[..],
            b"a",
            b"\n",
            b"\r",
            b"a\r\nb",
            b"a\nb",
            b"a\rb",
            b"\r\r\n",
            b"a\r\n\n",
            b"x\r",
            b"\r\nx\r\n",
        ] {
            let want = to_crlf(input);
            assert_eq!(needs_crlf(input), want != input, "{input:?}");
            assert_eq!(&*crlf(input), &want[..], "{input:?}");
        }
    }

    #[test]
    fn base64_matches_the_bytewise_reference() {
        for len in 0..300usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let text = base64_lines(&data);
            assert!(text.chunks(78).all(|l| l.ends_with(b"\r\n")));
            let flat: Vec<u8> = text
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            assert_eq!(flat.len(), len.div_ceil(3) * 4);
            assert_eq!(base64_decode(&flat).expect("flat"), data);
        }
        assert_eq!(base64_decode(b"QQ").expect("short"), b"A");
        assert_eq!(base64_decode(b"QUJD=$$").expect("pad stops"), b"ABC");
        assert_eq!(base64_decode(b"Q U\tJ\r\nD").expect("ws"), b"ABC");
        assert!(base64_decode(b"QUJ$").is_none());
    }

    #[test]
    fn canonicalizes_line_ends() {
        assert_eq!(to_crlf(b"a\nb\r\nc\rd"), b"a\r\nb\r\nc\r\nd");
        assert!(has_bare_lf(b"\n") && has_bare_lf(b"a\r\n\n"));
        assert!(!has_bare_lf(b"a\r\nb"));
    }
}
