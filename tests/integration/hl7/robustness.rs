//! Hostile input: truncations, garbage, random bytes and mutations of real
//! messages must give a typed error or a usable message — never a panic.

use super::support::{corpus, corpus_file, walk};
use hisp::hl7::{AckCode, AckError, ErrorCode, ParseError, build_ack, parse, parse_ack};

/// Parses and, if that worked, exercises everything downstream.
fn exercise(bytes: &[u8]) -> Result<(), ParseError> {
    let msg = parse(bytes)?;
    walk(&msg);
    for path in [
        "MSH-9.2",
        "PID-3[2].4.1",
        "PID-5.1.1",
        "PV1-2",
        "EVN-2",
        "ZZZ[3]-1",
    ] {
        let _ = msg.get(path);
    }
    let err = AckError {
        code: ErrorCode::ApplicationInternalError,
        message: "boom | ^ & ~ \\ \r\n".into(),
        location: None,
    };
    let ack = build_ack(
        &msg.header(),
        AckCode::AE,
        Some(&err),
        "ACK1",
        1_700_000_000,
    );
    let (code, id) = parse_ack(ack.as_bytes()).expect("our own ACK parses");
    assert!(code == "AE" || code == "CE");
    assert_eq!(id, msg.header().control_id.trim());
    Ok(())
}

#[test]
fn tiny_inputs() {
    let cases: &[(&[u8], Option<ParseError>)] = &[
        (b"", Some(ParseError::Empty)),
        (b"\r\n\r\n", Some(ParseError::Empty)),
        (b"\xEF\xBB\xBF", Some(ParseError::Empty)),
        (b"M", Some(ParseError::NoMsh { found: "M".into() })),
        (
            b"EVN|A01\rMSH|^~\\&\r",
            Some(ParseError::NoMsh {
                found: "EVN".into(),
            }),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(parse(input).err(), *want, "{input:?}");
    }
    for input in [&b"MSH"[..], b"MSH|", b"MSH|\r", b"MSH\r|^~\\&"] {
        assert!(
            matches!(parse(input), Err(ParseError::BadEncodingChars { .. })),
            "{input:?}"
        );
    }
}

#[test]
fn every_prefix_of_some_real_messages() {
    for name in [
        "fhir-converter/ADT01-23.hl7",
        "fhir-converter/ADT-A40-02.hl7",
        "fhir-converter/ADT-A09-01.hl7",
        "hl7-parser/sample_adt_a04.hl7",
        "hl7-parser/sample_adt_a01_encoded.hl7",
    ] {
        let bytes = corpus_file(name);
        for end in 0..=bytes.len() {
            let _ = exercise(&bytes[..end]);
        }
        // Cuts in the middle of the BOM or of MSH-2 give typed errors.
        assert!(parse(&bytes[..0]).is_err());
    }
}

#[test]
fn strided_prefixes_of_every_corpus_file() {
    for (name, bytes) in corpus() {
        for end in (0..=bytes.len()).step_by(13) {
            if let Ok(msg) = parse(&bytes[..end]) {
                let _ = msg.header();
                let _ = msg.get("PID-3.1");
            }
        }
        assert!(exercise(&bytes).is_ok(), "{name}");
    }
}

#[test]
fn single_byte_mutations() {
    // Small, but with a BOM, a 2.3 header and PID/PV1/NK1.
    let bytes = corpus_file("fhir-converter/ADT04-251.hl7");
    let evil = [
        b'|', b'^', b'~', b'\\', b'&', b'\r', b'\n', 0x0B, 0x1C, 0x00, 0xFF, 0xC3, b'"', b'A',
    ];
    for i in 0..bytes.len() {
        for &b in &evil {
            let mut m = bytes.clone();
            m[i] = b;
            let _ = exercise(&m);
        }
        let mut cut = bytes.clone();
        cut.remove(i);
        let _ = exercise(&cut);
    }
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_bytes() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3000 {
        let len = rng.below(300);
        let junk: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = exercise(&junk);
    }
}

#[test]
fn random_structured_messages() {
    // Random text over a delimiter-heavy alphabet after a valid-looking MSH,
    // so parsing gets past the header and into the escapes and splitting.
    let alphabet = b"|^~\\&#!$%@\"\r\nXFSTREHNCMZ.brsp0123456789ABCDEF \xC3\xA9\xFF";
    let heads: [&[u8]; 4] = [
        b"MSH|^~\\&|",
        b"MSH#@!$%#",
        b"MSH|^~\\&#|",
        b"\xEF\xBB\xBFMSH|^~|",
    ];
    let mut rng = Rng(42);
    for _ in 0..4000 {
        let mut m = heads[rng.below(heads.len())].to_vec();
        let len = rng.below(400);
        m.extend((0..len).map(|_| alphabet[rng.below(alphabet.len())]));
        assert!(exercise(&m).is_ok(), "{:?}", String::from_utf8_lossy(&m));
    }
}
