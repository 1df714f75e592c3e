//! The smallest DER toolkit the CA needs: a writer for the structures OpenSSL's
//! crate cannot build for us (certificatePolicies, CRL distribution points, AIA,
//! the CRL's TBSCertList), and a reader that finds the keyUsage bits in a
//! certificate. The reader takes bytes from anywhere, so it never panics: every
//! malformed input is a [`DerError`].

/// Why bytes could not be read or written as DER.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DerError {
    /// The input ended inside a tag, length or value.
    #[error("the DER ends too early")]
    Truncated,
    /// A length form DER forbids (indefinite) or one too large to be real.
    #[error("the DER has a bad length")]
    BadLength,
    /// An element was not of the type the structure requires.
    #[error("the DER has an unexpected element (tag 0x{0:02x})")]
    Unexpected(u8),
    /// Not a dotted object identifier such as 1.3.6.1.4.1.41179.0.1.2.
    #[error("'{0}' is not a dotted OID")]
    BadOid(String),
    /// A time outside the years 1950–9999 that certificates can carry.
    #[error("time {0} cannot be encoded (years 1950 to 9999 only)")]
    BadTime(i64),
    /// An IA5String (URI) with a character outside ASCII.
    #[error("'{0}' is not ASCII")]
    NotAscii(String),
}

/// Tag of a SEQUENCE.
pub const SEQUENCE: u8 = 0x30;
/// Tag of an OCTET STRING.
pub const OCTET_STRING: u8 = 0x04;
/// Tag of a BIT STRING.
pub const BIT_STRING: u8 = 0x03;
/// Tag of an OBJECT IDENTIFIER.
pub const OID: u8 = 0x06;
/// Tag of an INTEGER.
pub const INTEGER: u8 = 0x02;

/// One element: tag, length, value.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// The tag and length of an element whose `len` content bytes are written
/// separately (for content too large to copy into [`tlv`]).
pub fn header(tag: u8, len: usize) -> Vec<u8> {
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out
}

/// A SEQUENCE of already-encoded elements.
pub fn sequence(items: &[&[u8]]) -> Vec<u8> {
    tlv(SEQUENCE, &items.concat())
}

/// A context-specific tag `[n]`, constructed (EXPLICIT or a SEQUENCE) or primitive.
pub fn context(n: u8, constructed: bool, content: &[u8]) -> Vec<u8> {
    let tag = 0x80 | if constructed { 0x20 } else { 0 } | (n & 0x1f);
    tlv(tag, content)
}

/// A non-negative INTEGER from big-endian magnitude bytes (empty means zero).
/// A leading 0x00 is added when the top bit is set, so a serial stays positive.
pub fn integer_unsigned(magnitude: &[u8]) -> Vec<u8> {
    let skip = magnitude.iter().take_while(|b| **b == 0).count();
    let digits = &magnitude[skip..];
    let mut content = Vec::with_capacity(digits.len() + 1);
    if digits.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(digits);
    tlv(INTEGER, &content)
}

/// An INTEGER from a u64.
pub fn integer_u64(n: u64) -> Vec<u8> {
    integer_unsigned(&n.to_be_bytes())
}

/// NULL, as in AlgorithmIdentifier parameters.
pub fn null() -> Vec<u8> {
    vec![0x05, 0x00]
}

/// A BIT STRING with no unused bits.
pub fn bit_string(bytes: &[u8]) -> Vec<u8> {
    tlv(BIT_STRING, &[&[0u8][..], bytes].concat())
}

/// An IA5String under an implicit tag, as GeneralName's `[6] uniformResourceIdentifier`.
pub fn uri(uri: &str) -> Result<Vec<u8>, DerError> {
    if !uri.is_ascii() {
        return Err(DerError::NotAscii(uri.to_string()));
    }
    Ok(context(6, false, uri.as_bytes()))
}

/// An OBJECT IDENTIFIER from its dotted form.
pub fn oid(dotted: &str) -> Result<Vec<u8>, DerError> {
    let bad = || DerError::BadOid(dotted.to_string());
    let arcs = dotted
        .split('.')
        .map(|arc| parse_arc(arc).ok_or_else(bad))
        .collect::<Result<Vec<u64>, _>>()?;
    let [first, second, rest @ ..] = arcs.as_slice() else {
        return Err(bad());
    };
    if *first > 2 || (*first < 2 && *second > 39) {
        return Err(bad());
    }
    let lead = (first * 40).checked_add(*second).ok_or_else(bad)?;
    let mut content = Vec::new();
    for arc in std::iter::once(lead).chain(rest.iter().copied()) {
        base128(arc, &mut content);
    }
    Ok(tlv(OID, &content))
}

/// One arc: decimal digits, no sign, no leading zero.
fn parse_arc(arc: &str) -> Option<u64> {
    let canonical = !arc.is_empty() && (arc == "0" || !arc.starts_with('0'));
    if !canonical || !arc.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    arc.parse().ok()
}

/// An arc in base 128, high bit set on all but the last byte.
fn base128(mut arc: u64, out: &mut Vec<u8>) {
    let mut digits = vec![(arc & 0x7f) as u8];
    arc >>= 7;
    while arc > 0 {
        digits.push(0x80 | (arc & 0x7f) as u8);
        arc >>= 7;
    }
    out.extend(digits.iter().rev());
}

/// A Time as RFC 5280 §4.1.2.5 says: "CAs conforming to this profile MUST always
/// encode certificate validity dates through the year 2049 as UTCTime; certificate
/// validity dates in 2050 or later MUST be encoded as GeneralizedTime."
pub fn time(unix: i64) -> Result<Vec<u8>, DerError> {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = crate::clock::civil_from_days(days);
    let hms = format!(
        "{:02}{:02}{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    );
    match y {
        1950..=2049 => Ok(tlv(
            0x17,
            format!("{:02}{m:02}{d:02}{hms}", y % 100).as_bytes(),
        )),
        2050..=9999 => Ok(tlv(0x18, format!("{y:04}{m:02}{d:02}{hms}").as_bytes())),
        _ => Err(DerError::BadTime(unix)),
    }
}

/// One element read from DER: its tag and the bytes of its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The identifier octet (only single-byte tags are read).
    pub tag: u8,
    /// The value, without tag and length.
    pub content: &'a [u8],
}

/// Read one element from the front of `input`; return it and what follows.
pub fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let (&tag, rest) = input.split_first().ok_or(DerError::Truncated)?;
    if tag & 0x1f == 0x1f {
        return Err(DerError::Unexpected(tag));
    }
    let (&first, rest) = rest.split_first().ok_or(DerError::Truncated)?;
    let (len, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        0x81..=0x84 => long_length(usize::from(first & 0x7f), rest)?,
        _ => return Err(DerError::BadLength),
    };
    if len > rest.len() {
        return Err(DerError::Truncated);
    }
    let (content, rest) = rest.split_at(len);
    Ok((Tlv { tag, content }, rest))
}

/// The long form of a length: `n` big-endian bytes.
fn long_length(n: usize, input: &[u8]) -> Result<(usize, &[u8]), DerError> {
    if input.len() < n {
        return Err(DerError::Truncated);
    }
    let (bytes, rest) = input.split_at(n);
    let len = bytes
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Ok((len, rest))
}

/// Read one element that must carry `tag`.
pub fn read_tagged(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), DerError> {
    let (tlv, rest) = read(input)?;
    if tlv.tag != tag {
        return Err(DerError::Unexpected(tlv.tag));
    }
    Ok((tlv.content, rest))
}

/// The DER of 2.5.29.15 (id-ce-keyUsage), without tag and length.
const KEY_USAGE_OID: &[u8] = &[0x55, 0x1d, 0x0f];

/// The keyUsage bits of a certificate (bit n of RFC 5280's KeyUsage is `1 << n`),
/// or `None` when the certificate carries no keyUsage extension.
pub fn key_usage(cert_der: &[u8]) -> Result<Option<u16>, DerError> {
    let (cert, _) = read_tagged(cert_der, SEQUENCE)?;
    let (mut tbs, _) = read_tagged(cert, SEQUENCE)?;
    while !tbs.is_empty() {
        let (field, rest) = read(tbs)?;
        tbs = rest;
        if field.tag == 0xa3 {
            let (exts, _) = read_tagged(field.content, SEQUENCE)?;
            return find_key_usage(exts);
        }
    }
    Ok(None)
}

/// Walk the Extensions SEQUENCE for keyUsage and decode it.
fn find_key_usage(mut exts: &[u8]) -> Result<Option<u16>, DerError> {
    while !exts.is_empty() {
        let (ext, rest) = read_tagged(exts, SEQUENCE)?;
        exts = rest;
        let (oid, mut body) = read_tagged(ext, OID)?;
        if oid != KEY_USAGE_OID {
            continue;
        }
        let (first, _) = read(body)?;
        if first.tag == 0x01 {
            body = read(body)?.1;
        }
        let (value, _) = read_tagged(body, OCTET_STRING)?;
        return decode_bits(value).map(Some);
    }
    Ok(None)
}

/// A BIT STRING of up to 16 named bits to `1 << n` flags.
fn decode_bits(value: &[u8]) -> Result<u16, DerError> {
    let (content, _) = read_tagged(value, BIT_STRING)?;
    let (&unused, bytes) = content.split_first().ok_or(DerError::Truncated)?;
    if unused > 7 {
        return Err(DerError::BadLength);
    }
    let mut flags = 0u16;
    for (i, byte) in bytes.iter().take(2).enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                flags |= 1 << (i * 8 + bit);
            }
        }
    }
    Ok(flags)
}

#[cfg(test)]
#[path = "der_tests.rs"]
mod tests;
