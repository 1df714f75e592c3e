//! A panic-free BER reader for CMS: definite and indefinite lengths (other agents
//! stream their output), single-byte tags, a depth limit, and OBJECT IDENTIFIER
//! decoding. It reads attacker-controlled bytes: every malformed input is an
//! error, never a panic.

/// Tag of an INTEGER.
pub const INTEGER: u8 = 0x02;
/// Tag of an OCTET STRING (primitive).
pub const OCTET_STRING: u8 = 0x04;
/// Tag of an OBJECT IDENTIFIER.
pub const OID: u8 = 0x06;
/// Tag of a SEQUENCE.
pub const SEQUENCE: u8 = 0x30;
/// Tag of a SET.
pub const SET: u8 = 0x31;

/// Nesting beyond this is refused (indefinite lengths are read recursively).
const MAX_DEPTH: usize = 48;

/// Why bytes could not be read as BER; the string says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BerError(pub String);

fn err(what: &str) -> BerError {
    BerError(what.to_string())
}

/// One element: its tag, its content, and its whole encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elem<'a> {
    /// The identifier octet.
    pub tag: u8,
    /// The value, without tag, length or end-of-contents.
    pub content: &'a [u8],
    /// Tag, length, value (and end-of-contents) as they appear in the input.
    pub raw: &'a [u8],
}

impl<'a> Elem<'a> {
    /// The element's children, for a constructed element.
    pub fn children(&self) -> Result<Vec<Elem<'a>>, BerError> {
        children(self.content)
    }

    /// Fail unless the element carries `tag`.
    pub fn expect(self, tag: u8, what: &str) -> Result<Self, BerError> {
        if self.tag == tag {
            Ok(self)
        } else {
            Err(BerError(format!(
                "{what}: expected tag 0x{tag:02x}, found 0x{:02x}",
                self.tag
            )))
        }
    }
}

/// Read one element from the front of `input`; return it and what follows.
pub fn read(input: &[u8]) -> Result<(Elem<'_>, &[u8]), BerError> {
    read_at(input, 0)
}

fn read_at(input: &[u8], depth: usize) -> Result<(Elem<'_>, &[u8]), BerError> {
    if depth > MAX_DEPTH {
        return Err(err("BER nested too deeply"));
    }
    let (&tag, rest) = input.split_first().ok_or_else(|| err("BER ends early"))?;
    if tag & 0x1f == 0x1f {
        return Err(BerError(format!("multi-byte BER tag 0x{tag:02x}")));
    }
    let (&first, rest) = rest.split_first().ok_or_else(|| err("BER ends early"))?;
    let header = input.len() - rest.len();
    if first == 0x80 {
        if tag & 0x20 == 0 {
            return Err(err("indefinite length on a primitive BER element"));
        }
        let mut cursor = rest;
        loop {
            if cursor.starts_with(&[0, 0]) {
                let content_len = rest.len() - cursor.len();
                let content = rest.get(..content_len).ok_or_else(|| err("BER"))?;
                let total = header + content_len + 2;
                let raw = input.get(..total).ok_or_else(|| err("BER ends early"))?;
                let after = input.get(total..).ok_or_else(|| err("BER ends early"))?;
                return Ok((Elem { tag, content, raw }, after));
            }
            if cursor.is_empty() {
                return Err(err("BER indefinite length without end-of-contents"));
            }
            cursor = read_at(cursor, depth + 1)?.1;
        }
    }
    let (len, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        0x81..=0x84 => {
            let n = usize::from(first & 0x7f);
            let bytes = rest.get(..n).ok_or_else(|| err("BER ends early"))?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, rest.get(n..).ok_or_else(|| err("BER ends early"))?)
        }
        _ => return Err(BerError(format!("bad BER length byte 0x{first:02x}"))),
    };
    if len > rest.len() {
        return Err(err("BER element longer than its input"));
    }
    let (content, after) = rest.split_at(len);
    let total = input.len() - after.len();
    let raw = input.get(..total).ok_or_else(|| err("BER ends early"))?;
    Ok((Elem { tag, content, raw }, after))
}

/// Every element of `content`, in order.
pub fn children(mut content: &[u8]) -> Result<Vec<Elem<'_>>, BerError> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (elem, rest) = read(content)?;
        out.push(elem);
        content = rest;
    }
    Ok(out)
}

/// The dotted form of an OBJECT IDENTIFIER's content bytes.
pub fn oid_string(content: &[u8]) -> Result<String, BerError> {
    if content.is_empty() || content.last().is_some_and(|b| b & 0x80 != 0) {
        return Err(err("bad OBJECT IDENTIFIER"));
    }
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &b in content {
        value = value
            .checked_mul(128)
            .and_then(|v| v.checked_add(u64::from(b & 0x7f)))
            .ok_or_else(|| err("OBJECT IDENTIFIER arc too large"))?;
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    Ok(arcs
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("."))
}

/// An AlgorithmIdentifier: the dotted OID and the parameters, if any.
pub fn algorithm<'a>(elem: Elem<'a>, what: &str) -> Result<(String, Option<Elem<'a>>), BerError> {
    let elem = elem.expect(SEQUENCE, what)?;
    let (oid, rest) = read(elem.content)?;
    let oid = oid.expect(OID, what)?;
    let params = if rest.is_empty() {
        None
    } else {
        Some(read(rest)?.0)
    };
    Ok((oid_string(oid.content)?, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_definite_and_indefinite() {
        let der = [0x30, 0x03, 0x02, 0x01, 0x05, 0xff];
        let (e, rest) = read(&der).expect("definite");
        assert_eq!((e.tag, e.content, rest), (0x30, &der[2..5], &der[5..]));
        let ber = [0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00, 0x01];
        let (e, rest) = read(&ber).expect("indefinite");
        assert_eq!(e.content, &[0x02, 0x01, 0x05]);
        assert_eq!(e.raw, &ber[..7]);
        assert_eq!(rest, &[0x01]);
        assert_eq!(e.children().expect("kids").len(), 1);
    }

    #[test]
    fn refuses_bad_input() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x05, 0x00],
            &[0x30, 0x80, 0x02, 0x01, 0x05],
            &[0x04, 0x80, 0x00, 0x00],
            &[0x1f, 0x01, 0x00],
            &[0x30, 0x85, 0, 0, 0, 0, 1],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(read(bad).is_err(), "{bad:02x?}");
        }
        let deep: Vec<u8> = std::iter::repeat_n([0x30u8, 0x80], 200).flatten().collect();
        assert!(read(&deep).is_err());
    }

    #[test]
    fn decodes_oids() {
        let sha256 = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
        assert_eq!(oid_string(&sha256).expect("oid"), "2.16.840.1.101.3.4.2.1");
        assert_eq!(
            oid_string(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]).expect("oid"),
            "1.2.840.113549"
        );
        assert!(oid_string(&[]).is_err());
        assert!(oid_string(&[0x86]).is_err());
        assert!(oid_string(&[0xff; 12]).is_err());
    }
}
