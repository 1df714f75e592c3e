//! Table tests for the DER writer and reader, plus a no-panic sweep of the reader.

use super::*;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::extension::KeyUsage;
use openssl::x509::{X509, X509NameBuilder};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn integers() {
    let table: &[(&[u8], &str)] = &[
        (&[], "020100"),
        (&[0], "020100"),
        (&[0, 0, 0], "020100"),
        (&[127], "02017f"),
        (&[128], "02020080"),
        (&[1, 0], "02020100"),
        (&[0, 0, 1, 0], "02020100"),
        (&[0xff, 0x01], "020300ff01"),
        (&[0x80; 16], &format!("021100{}", "80".repeat(16))),
    ];
    for (magnitude, want) in table {
        assert_eq!(hex(&integer_unsigned(magnitude)), *want, "{magnitude:?}");
    }
    assert_eq!(hex(&integer_u64(0)), "020100");
    assert_eq!(hex(&integer_u64(256)), "02020100");
    assert_eq!(hex(&integer_u64(u64::MAX)), "020900ffffffffffffffff");
}

#[test]
fn lengths() {
    let table = [
        (0usize, "0400"),
        (127, "047f"),
        (128, "048180"),
        (255, "0481ff"),
        (256, "04820100"),
        (65_536, "0483010000"),
    ];
    for (len, want) in table {
        let out = tlv(OCTET_STRING, &vec![0xaa; len]);
        assert!(
            hex(&out).starts_with(want),
            "{len}: {}",
            hex(&out[..6.min(out.len())])
        );
        assert_eq!(out.len(), want.len() / 2 + len);
        let (back, rest) = read(&out).expect("reads back");
        assert_eq!(
            (back.tag, back.content.len(), rest.len()),
            (OCTET_STRING, len, 0)
        );
    }
}

#[test]
fn oids() {
    let table = [
        ("1.3.6.1.4.1.41179.0.1.2", "060b2b0601040182c15b000102"),
        ("2.5.29.15", "0603551d0f"),
        ("2.5.29.32.0", "0604551d2000"),
        ("1.2.840.113549.1.1.11", "06092a864886f70d01010b"),
        ("2.999.3", "0603883703"),
        ("0.0", "060100"),
    ];
    for (dotted, want) in table {
        assert_eq!(hex(&oid(dotted).expect(dotted)), want, "{dotted}");
    }
    for bad in [
        "",
        "1",
        "1.",
        ".1.2",
        "1..2",
        "3.1",
        "1.40",
        "1.2.x",
        "1.-2",
        "1.02",
        "1.2.99999999999999999999",
    ] {
        assert_eq!(oid(bad), Err(DerError::BadOid(bad.to_string())), "{bad}");
    }
}

#[test]
fn times() {
    let table = [
        (0i64, "170d3730303130313030303030305a"),
        (1_795_000_000, "170d3236313131383131303634305a"),
        (2_524_607_999, "170d3439313233313233353935395a"),
        (2_524_608_000, "180f32303530303130313030303030305a"),
        (-631_152_000, "170d3530303130313030303030305a"),
    ];
    for (unix, want) in table {
        assert_eq!(hex(&time(unix).expect("in range")), want, "{unix}");
    }
    assert_eq!(time(-631_152_001), Err(DerError::BadTime(-631_152_001)));
    assert_eq!(
        time(253_402_300_800),
        Err(DerError::BadTime(253_402_300_800))
    );
    assert!(time(i64::MIN).is_err() && time(i64::MAX).is_err());
}

#[test]
fn small_pieces() {
    assert_eq!(hex(&null()), "0500");
    assert_eq!(hex(&bit_string(&[0xff])), "030200ff");
    assert_eq!(hex(&context(0, true, &[5, 0])), "a0020500");
    assert_eq!(hex(&context(6, false, b"a")), "860161");
    assert_eq!(hex(&sequence(&[&null(), &null()])), "300405000500");
    assert_eq!(
        hex(&uri("http://x").expect("ascii")),
        "8608687474703a2f2f78"
    );
    assert!(uri("http://é").is_err());
}

#[test]
fn reader_refuses_bogus_input() {
    let table: &[(&[u8], DerError)] = &[
        (&[], DerError::Truncated),
        (&[0x30], DerError::Truncated),
        (&[0x30, 0x05, 0x01], DerError::Truncated),
        (&[0x30, 0x80, 0x00, 0x00], DerError::BadLength),
        (&[0x30, 0x85, 1, 1, 1, 1, 1], DerError::BadLength),
        (&[0x30, 0x82, 0x01], DerError::Truncated),
        (&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff], DerError::Truncated),
        (&[0x1f, 0x01, 0x00], DerError::Unexpected(0x1f)),
        (&[0x02, 0x01, 0x00], DerError::Unexpected(0x02)),
        (&[0x30, 0x03, 0x02, 0x01, 0x00], DerError::Unexpected(0x02)),
    ];
    for (input, want) in table {
        assert_eq!(key_usage(input), Err(want.clone()), "{input:02x?}");
    }
}

#[test]
fn key_usage_bits_decode() {
    let ext = |bits: &[u8]| {
        let value = tlv(OCTET_STRING, &tlv(BIT_STRING, bits));
        let ext = sequence(&[&oid("2.5.29.15").expect("oid"), &[0x01, 0x01, 0xff], &value]);
        let tbs = sequence(&[&integer_u64(1), &context(3, true, &sequence(&[&ext]))]);
        key_usage(&sequence(&[&tbs]))
    };
    assert_eq!(ext(&[0x05, 0xa0]), Ok(Some(0b101)));
    assert_eq!(ext(&[0x07, 0x80]), Ok(Some(0b1)));
    assert_eq!(ext(&[0x05, 0x20]), Ok(Some(0b100)));
    assert_eq!(ext(&[0x07, 0x80, 0x80]), Ok(Some(0x0101)));
    assert_eq!(ext(&[0x00]), Ok(Some(0)));
    assert_eq!(ext(&[]), Err(DerError::Truncated));
    assert_eq!(ext(&[0x09, 0x80]), Err(DerError::BadLength));
    let no_exts = sequence(&[&sequence(&[&integer_u64(1)])]);
    assert_eq!(key_usage(&no_exts), Ok(None));
}

/// A small real certificate (EC keys are instant) with keyUsage set.
fn real_cert() -> Vec<u8> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("curve");
    let key = PKey::from_ec_key(EcKey::generate(&group).expect("ec")).expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_nid(Nid::COMMONNAME, "der test")
        .expect("cn");
    let name = name.build();
    let mut b = X509::builder().expect("builder");
    b.set_version(2).expect("v3");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    let ku = KeyUsage::new()
        .critical()
        .digital_signature()
        .key_agreement()
        .build();
    b.append_extension(ku.expect("ku")).expect("append");
    b.sign(&key, MessageDigest::sha256()).expect("sign");
    b.build().to_der().expect("der")
}

#[test]
fn reads_a_real_certificate_and_never_panics() {
    let der = real_cert();
    assert_eq!(key_usage(&der), Ok(Some(0b1_0001)));
    for cut in 0..der.len() {
        let _ = key_usage(&der[..cut]);
    }
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in 0..der.len() * 8 {
        let mut bent = der.clone();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bent[i % der.len()] ^= (state as u8) | 1;
        let _ = key_usage(&bent);
    }
}
