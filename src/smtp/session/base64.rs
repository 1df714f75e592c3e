//! A strict base64 decoder (RFC 4648 §4 alphabet) for SASL responses.
//! Padding may be present or absent; anything else malformed is refused.

/// Decode `input`, or `None` if it is not base64.
pub(super) fn decode(input: &[u8]) -> Option<Vec<u8>> {
    let body_len = input.iter().rposition(|&b| b != b'=').map_or(0, |p| p + 1);
    let padding = input.len() - body_len;
    if padding > 2 || (padding > 0 && !input.len().is_multiple_of(4)) {
        return None;
    }
    let body = input.get(..body_len)?;
    if body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &c in body {
        acc = (acc << 6) | u32::from(value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero, so every input has one decoding.
    (acc == 0).then_some(out)
}

fn value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn table() {
        let cases: &[(&str, Option<&[u8]>)] = &[
            ("", Some(b"")),
            ("Zg==", Some(b"f")),
            ("Zg", Some(b"f")),
            ("Zm8=", Some(b"fo")),
            ("Zm9v", Some(b"foo")),
            ("VXNlcm5hbWU6", Some(b"Username:")),
            ("AGFsaWNlAHNlY3JldA==", Some(b"\0alice\0secret")),
            ("Zg=", None),
            ("Z===", None),
            ("Z", None),
            ("Zh==", None),
            ("Zm9v!", None),
            ("Zm 9v", None),
            ("=", None),
        ];
        for (input, want) in cases {
            assert_eq!(decode(input.as_bytes()).as_deref(), *want, "{input}");
        }
    }
}
