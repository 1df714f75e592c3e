//! TOTP second factor for portal logins (RFC 6238 over RFC 4226 HOTP), plus
//! what enrollment needs: the RFC 4648 base32 form of the secret, the
//! `otpauth://` URI that authenticator apps read, and that URI as a QR code
//! in SVG.
//!
//! Why here and in this shape: every function is pure (the time is passed
//! in, never read), so the login handler owns the clock and the storage of
//! the secret and the last used time step, and these functions can be table
//! tested against the RFC vectors. The only randomness is in
//! [`Secret::generate`].

use std::fmt;
use std::fmt::Write as _;

use openssl::error::ErrorStack;
use openssl::sha::Sha1;
use qrcodegen::{QrCode, QrCodeEcc};

/// Length in bytes of a generated secret. RFC 4226 §4 R6: "The length of
/// the shared secret MUST be at least 128 bits. This document RECOMMENDs a
/// shared secret length of 160 bits."
pub const SECRET_LEN: usize = 20;

/// Shortest secret [`Secret::from_base32`] accepts (128 bits, RFC 4226 R6).
pub const MIN_SECRET_LEN: usize = 16;

/// Digits in a code. We use the 6-digit form every authenticator app shows.
const DIGITS: u32 = 6;

/// RFC 6238 §4.1: "X represents the time step in seconds (default value
/// X = 30 seconds)"; T0 is the Unix epoch.
const STEP_SECONDS: i64 = 30;

/// RFC 4648 §6, the base32 alphabet.
const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A TOTP shared secret (the HMAC-SHA-1 key). Its `Debug` never shows the
/// bytes, so it cannot leak through a log line.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// A fresh random secret of [`SECRET_LEN`] bytes from OpenSSL's CSPRNG.
    pub fn generate() -> Result<Secret, ErrorStack> {
        let mut bytes = vec![0u8; SECRET_LEN];
        openssl::rand::rand_bytes(&mut bytes)?;
        Ok(Secret(bytes))
    }

    /// Wraps raw key bytes as they are stored. No length check: the RFC
    /// test vectors and stored secrets come through here.
    pub fn from_bytes(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    /// The raw key bytes, for storage.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The RFC 4648 base32 form: uppercase, no `=` padding (the form that
    /// goes into the `otpauth://` URI and that a person types in).
    pub fn to_base32(&self) -> String {
        base32_encode(&self.0)
    }

    /// Parses the base32 form, ignoring case, spaces and `=` padding.
    /// `None` for a character outside the alphabet, a length no encoder
    /// produces, non-zero trailing bits, or fewer than [`MIN_SECRET_LEN`]
    /// decoded bytes.
    pub fn from_base32(text: &str) -> Option<Secret> {
        let bytes = base32_decode(text)?;
        (bytes.len() >= MIN_SECRET_LEN).then_some(Secret(bytes))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

/// The 6-digit code for `unix_time` (seconds since the epoch).
pub fn code_at(secret: &Secret, unix_time: i64) -> u32 {
    hotp(secret, time_step(unix_time))
}

/// A code as the 6 characters a person types, zero-padded (`000042`).
pub fn format_code(code: u32) -> String {
    format!("{code:06}")
}

/// Checks a typed code against the steps just before, at and just after
/// `now` (RFC 6238 §5.2: "We RECOMMEND that at most one time step is
/// allowed as the network delay."), comparing in constant time.
///
/// Returns the matched time step, which the caller must store and pass back
/// as `last_used_step`: RFC 6238 §5.2, "the verifier MUST NOT accept the
/// second attempt of the OTP after the successful validation has been
/// issued for the first OTP". Steps at or before `last_used_step` are
/// refused. Spaces anywhere are ignored ("123 456"); anything but exactly
/// six ASCII digits is refused.
pub fn verify(secret: &Secret, code: &str, now: i64, last_used_step: Option<i64>) -> Option<i64> {
    let typed = parse_code(code)?;
    let current = time_step(now);
    let mut matched = None;
    // No early exit: every candidate is computed and compared. When two
    // steps share a code, the later one wins, so the same digits cannot be
    // replayed against the later step.
    for step in [current - 1, current, current + 1] {
        if last_used_step.is_some_and(|last| step <= last) {
            continue;
        }
        let expected = format_code(hotp(secret, step));
        if openssl::memcmp::eq(expected.as_bytes(), &typed) {
            matched = Some(step);
        }
    }
    matched
}

/// The Key URI that authenticator apps read from the QR code:
/// `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`,
/// with issuer and account percent-encoded.
pub fn otpauth_uri(secret: &Secret, issuer: &str, account: &str) -> String {
    let issuer = super::urlencode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        account = super::urlencode(account),
        secret = secret.to_base32(),
    )
}

/// `text` as a QR code (error correction level M) in a self-contained SVG:
/// a white background, a 4-module quiet zone, and one black `<path>` of the
/// dark modules. Black on white whatever the page theme, since scanners
/// need the contrast. `None` if the text is too long for a QR code.
pub fn qr_svg(text: &str) -> Option<String> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let side = qr.size() + 2 * QUIET_ZONE;
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {side}\" \
         role=\"img\" aria-label=\"QR code for two-factor enrollment\" \
         shape-rendering=\"crispEdges\">\
         <rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{}\"/></svg>",
        dark_modules_path(&qr)
    ))
}

/// Light modules around the symbol. ISO/IEC 18004 §6.3.8: "The quiet zone
/// shall be 4X wide."
const QUIET_ZONE: i32 = 4;

/// One SVG path covering every dark module, a rectangle per horizontal run.
fn dark_modules_path(qr: &QrCode) -> String {
    let mut d = String::new();
    for y in 0..qr.size() {
        let mut x = 0;
        while x < qr.size() {
            if !qr.get_module(x, y) {
                x += 1;
                continue;
            }
            let start = x;
            while x < qr.size() && qr.get_module(x, y) {
                x += 1;
            }
            let run = x - start;
            let _ = write!(
                d,
                "M{},{}h{run}v1h-{run}z",
                start + QUIET_ZONE,
                y + QUIET_ZONE
            );
        }
    }
    d
}

/// RFC 6238 §4.2: "T = (Current Unix time - T0) / X", rounded down (so
/// times before the epoch also fall in 30-second steps).
fn time_step(unix_time: i64) -> i64 {
    unix_time.div_euclid(STEP_SECONDS)
}

/// RFC 4226 §5.3 HOTP: HMAC-SHA-1 over the 8-byte big-endian counter, then
/// dynamic truncation, reduced to [`DIGITS`] digits.
fn hotp(secret: &Secret, counter: i64) -> u32 {
    let mac = hmac_sha1(&secret.0, &counter.to_be_bytes());
    // "Let OffsetBits be the low-order 4 bits of String[19]"
    let offset = usize::from(mac[19] & 0x0f);
    // "Return the Last 31 bits of P"
    let p = u32::from_be_bytes([
        mac[offset],
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    (p & 0x7fff_ffff) % 10u32.pow(DIGITS)
}

/// SHA-1's block size in bytes (RFC 2104's B).
const SHA1_BLOCK: usize = 64;

/// HMAC-SHA-1 (RFC 2104): H(K XOR opad, H(K XOR ipad, text)), built on
/// OpenSSL's SHA-1 so that it cannot fail (a `Signer` returns a `Result`
/// that [`code_at`] has no way to report). Checked against OpenSSL's own
/// HMAC in the tests.
fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    // "Applications that use keys longer than B bytes will first hash the
    // key using H"
    let hashed;
    let key = if key.len() > SHA1_BLOCK {
        hashed = openssl::sha::sha1(key);
        &hashed[..]
    } else {
        key
    };
    let mut block = [0u8; SHA1_BLOCK];
    block[..key.len()].copy_from_slice(key);

    let mut inner = Sha1::new();
    inner.update(&block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha1::new();
    outer.update(&block.map(|b| b ^ 0x5c));
    outer.update(&inner.finish());
    outer.finish()
}

/// Up to six typed digits with spaces removed; `None` for anything else.
fn parse_code(code: &str) -> Option<[u8; 6]> {
    let mut digits = [0u8; 6];
    let mut len = 0;
    for b in code.bytes().filter(|b| !b.is_ascii_whitespace()) {
        if !b.is_ascii_digit() || len == digits.len() {
            return None;
        }
        digits[len] = b;
        len += 1;
    }
    (len == digits.len()).then_some(digits)
}

/// RFC 4648 §6 base32, uppercase, without padding.
fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(
                BASE32_ALPHABET[((buffer >> bits) & 31) as usize],
            ));
        }
    }
    if bits > 0 {
        // "the final quantum ... padded with zero bits"
        out.push(char::from(
            BASE32_ALPHABET[((buffer << (5 - bits)) & 31) as usize],
        ));
    }
    out
}

/// RFC 4648 §6 base32, ignoring case, spaces and `=`. Refuses what no
/// encoder emits: 1, 3 or 6 characters in the final 8-character group, or
/// non-zero bits left over.
fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    let mut chars = 0usize;
    for c in text.bytes().filter(|&c| c != b' ' && c != b'=') {
        let value = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        chars += 1;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    let leftover_is_zero = buffer & ((1 << bits) - 1) == 0;
    let possible_length = !matches!(chars % 8, 1 | 3 | 6);
    (leftover_is_zero && possible_length).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, the SHA-1 seed.
    fn rfc_secret() -> Secret {
        Secret::from_bytes(b"12345678901234567890".to_vec())
    }

    #[test]
    fn rfc6238_sha1_vectors() {
        let table = [
            (59, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ];
        for (time, eight_digits) in table {
            assert_eq!(
                code_at(&rfc_secret(), time),
                eight_digits % 1_000_000,
                "T={time}"
            );
        }
    }

    #[test]
    fn rfc4226_appendix_d_hotp_vectors() {
        let table = [755_224, 287_082, 359_152, 969_429, 338_314, 254_676];
        for (counter, code) in (0..).zip(table) {
            assert_eq!(hotp(&rfc_secret(), counter), code, "counter {counter}");
        }
    }

    #[test]
    fn hmac_matches_openssl_signer() {
        use openssl::hash::MessageDigest;
        use openssl::pkey::PKey;
        use openssl::sign::Signer;
        // Not 0: OpenSSL 3 refuses an empty HMAC key, which is one reason
        // `hmac_sha1` does not go through `PKey::hmac`.
        for key_len in [1, 20, 63, 64, 65, 200] {
            let key: Vec<u8> = (0..key_len).map(|i| (i * 7 + 1) as u8).collect();
            let pkey = PKey::hmac(&key).expect("hmac key");
            let mut signer = Signer::new(MessageDigest::sha1(), &pkey).expect("signer");
            let want = signer.sign_oneshot_to_vec(b"message").expect("sign");
            assert_eq!(
                hmac_sha1(&key, b"message").to_vec(),
                want,
                "key length {key_len}"
            );
        }
    }

    #[test]
    fn format_code_pads_to_six() {
        assert_eq!(format_code(7_081_804 % 1_000_000), "081804");
        assert_eq!(format_code(0), "000000");
        assert_eq!(format_code(123_456), "123456");
    }

    #[test]
    fn base32_rfc4648_vectors() {
        let table = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (plain, encoded) in table {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).as_deref(), Some(plain.as_bytes()));
        }
        assert_eq!(
            Secret::from_bytes(b"foobar".to_vec()).to_base32(),
            "MZXW6YTBOI"
        );
    }

    #[test]
    fn base32_decode_is_lenient_about_case_spaces_padding() {
        assert_eq!(
            base32_decode("mzxw 6ytb oi======").as_deref(),
            Some(&b"foobar"[..])
        );
        assert_eq!(base32_decode("MY======").as_deref(), Some(&b"f"[..]));
    }

    #[test]
    fn base32_decode_refuses_what_no_encoder_emits() {
        assert_eq!(base32_decode("MZXW1"), None, "1 is not in the alphabet");
        assert_eq!(base32_decode("M"), None, "one char is never a final group");
        assert_eq!(
            base32_decode("MZX"),
            None,
            "three chars is never a final group"
        );
        assert_eq!(base32_decode("MZ"), None, "non-zero leftover bits");
    }

    #[test]
    fn secret_round_trips_through_base32() {
        let secret = Secret::generate().expect("rand");
        assert_eq!(secret.as_bytes().len(), SECRET_LEN);
        let text = secret.to_base32();
        assert_eq!(text.len(), 32);
        assert!(!text.contains('='));
        let back = Secret::from_base32(&text.to_lowercase()).expect("decodes");
        assert_eq!(back.as_bytes(), secret.as_bytes());
    }

    #[test]
    fn from_base32_refuses_short_secrets() {
        assert!(Secret::from_base32("MZXW6YTBOI").is_none(), "6 bytes");
        let sixteen = Secret::from_bytes(vec![0xa5; MIN_SECRET_LEN]).to_base32();
        assert!(Secret::from_base32(&sixteen).is_some());
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!("{:?}", rfc_secret());
        assert!(!shown.contains("12345"), "{shown}");
        assert!(!shown.contains("49, 50"), "{shown}");
    }

    /// T = 1111111111 is step 37037037; its code is "050471".
    const NOW: i64 = 1_111_111_111;
    const STEP: i64 = 37_037_037;

    fn code_for_step(step: i64) -> String {
        format_code(code_at(&rfc_secret(), step * STEP_SECONDS))
    }

    #[test]
    fn verify_accepts_current_previous_and_next_step() {
        assert_eq!(verify(&rfc_secret(), "050471", NOW, None), Some(STEP));
        for offset in [-1, 0, 1] {
            let code = code_for_step(STEP + offset);
            assert_eq!(verify(&rfc_secret(), &code, NOW, None), Some(STEP + offset));
        }
    }

    #[test]
    fn verify_refuses_two_steps_away() {
        for offset in [-2, 2] {
            let code = code_for_step(STEP + offset);
            assert_eq!(
                verify(&rfc_secret(), &code, NOW, None),
                None,
                "offset {offset}"
            );
        }
    }

    #[test]
    fn verify_refuses_replay() {
        let used = verify(&rfc_secret(), "050471", NOW, None).expect("first use");
        assert_eq!(verify(&rfc_secret(), "050471", NOW, Some(used)), None);
        assert_eq!(verify(&rfc_secret(), "050471", NOW + 20, Some(used)), None);
        let earlier = code_for_step(STEP - 1);
        assert_eq!(verify(&rfc_secret(), &earlier, NOW, Some(used)), None);
        let next = code_for_step(STEP + 1);
        assert_eq!(
            verify(&rfc_secret(), &next, NOW, Some(used)),
            Some(STEP + 1)
        );
    }

    #[test]
    fn verify_trims_spaces() {
        assert_eq!(verify(&rfc_secret(), " 050 471 ", NOW, None), Some(STEP));
    }

    #[test]
    fn verify_refuses_malformed_codes() {
        for code in [
            "",
            "05047",
            "0504711",
            "05047a",
            "+50471",
            "٠٥٠٤٧١",
            "050471\0",
            "50471",
        ] {
            assert_eq!(verify(&rfc_secret(), code, NOW, None), None, "{code:?}");
        }
    }

    #[test]
    fn otpauth_uri_percent_encodes_label_and_issuer() {
        let secret = Secret::from_bytes(b"12345678901234567890".to_vec());
        let uri = otpauth_uri(&secret, "Example HISP", "jane.doe@direct.example.org");
        assert_eq!(
            uri,
            "otpauth://totp/Example%20HISP:jane.doe%40direct.example.org\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example%20HISP\
             &algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(
            crate::web::urlencode("a:b/c?d&e=f é"),
            "a%3Ab%2Fc%3Fd%26e%3Df%20%C3%A9"
        );
    }

    #[test]
    fn qr_svg_draws_one_path_on_white() {
        let uri = otpauth_uri(&rfc_secret(), "HISP", "admin@example.org");
        let svg = qr_svg(&uri).expect("fits");
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("<path"));
        assert_eq!(svg.matches("<path").count(), 1);
        assert!(svg.contains("fill=\"#fff\""));
        assert!(svg.contains("role=\"img\""));
        let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
    }

    #[test]
    fn qr_svg_leaves_a_quiet_zone() {
        let svg = qr_svg("x").expect("fits");
        // Version 1 is 21 modules; 21 + 2 * 4 = 29.
        assert!(svg.contains("viewBox=\"0 0 29 29\""), "{svg}");
        assert!(
            svg.contains("d=\"M4,4h7v1h-7z"),
            "finder pattern starts at the quiet zone"
        );
    }

    #[test]
    fn qr_svg_refuses_text_too_long() {
        assert_eq!(qr_svg(&"x".repeat(5000)), None);
    }
}
