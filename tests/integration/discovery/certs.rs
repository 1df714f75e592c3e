//! Leaves the shared test PKI has no kind for: a large RSA-4096 certificate
//! (DCDT D14, over 512 bytes in DNS) and an expired organization-bound one
//! (D6, D8). Issued by the test PKI's intermediate, with its AIA and CRL URLs.

use hisp::pki::der;
use openssl::asn1::{Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Extension, X509NameBuilder};

use crate::testpki::{DAY, TestPki};

/// Whom a leaf binds.
pub enum Binds<'a> {
    /// rfc822Name.
    Address(&'a str),
    /// dNSName.
    Domain(&'a str),
}

/// An RSA-`bits` dual-use leaf under the intermediate, valid `from..until`.
pub fn leaf(pki: &TestPki, bits: u32, binds: Binds<'_>, from: i64, until: i64) -> X509 {
    let key = PKey::from_rsa(Rsa::generate(bits).expect("RSA")).expect("key");
    let ca = &pki.intermediate;
    let cn = match binds {
        Binds::Address(a) | Binds::Domain(a) => a,
    };
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_nid(Nid::COMMONNAME, cn).expect("CN");
    let name = name.build();
    let mut b = X509::builder().expect("builder");
    b.set_version(2).expect("v3");
    let mut serial = BigNum::new().expect("bn");
    serial.rand(128, MsbOption::ONE, false).expect("rand");
    b.set_serial_number(&serial.to_asn1_integer().expect("int"))
        .expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(ca.cert.subject_name()).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::from_unix(from).expect("time"))
        .expect("notBefore");
    b.set_not_after(&Asn1Time::from_unix(until).expect("time"))
        .expect("notAfter");
    let mut exts = vec![
        BasicConstraints::new().critical().build().expect("bc"),
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_encipherment()
            .build()
            .expect("ku"),
        ExtendedKeyUsage::new()
            .email_protection()
            .build()
            .expect("eku"),
    ];
    {
        let ctx = b.x509v3_context(Some(&ca.cert), None);
        exts.push(SubjectKeyIdentifier::new().build(&ctx).expect("ski"));
        exts.push(
            AuthorityKeyIdentifier::new()
                .keyid(true)
                .build(&ctx)
                .expect("aki"),
        );
        let mut san = SubjectAlternativeName::new();
        match binds {
            Binds::Address(a) => san.email(a),
            Binds::Domain(d) => san.dns(d),
        };
        exts.push(san.build(&ctx).expect("san"));
    }
    let crl = der::uri(&pki.url("intermediate.crl")).expect("URL");
    let point = der::sequence(&[&der::context(0, true, &der::context(0, true, &crl))]);
    exts.push(raw_ext("2.5.29.31", &der::sequence(&[&point])));
    let access = der::sequence(&[
        &der::oid("1.3.6.1.5.5.7.48.2").expect("OID"),
        &der::uri(&pki.url("intermediate.cer")).expect("URL"),
    ]);
    exts.push(raw_ext("1.3.6.1.5.5.7.1.1", &der::sequence(&[&access])));
    for e in exts {
        b.append_extension(e).expect("extension");
    }
    b.sign(&ca.key, MessageDigest::sha256()).expect("sign");
    b.build()
}

/// A current RSA-4096 address-bound leaf (DCDT D14).
pub fn large(pki: &TestPki, address: &str) -> X509 {
    leaf(
        pki,
        4096,
        Binds::Address(address),
        pki.now - DAY,
        pki.now + 365 * DAY,
    )
}

/// An expired organization-bound leaf (DCDT D6, D8).
pub fn expired_org(pki: &TestPki, domain: &str) -> X509 {
    leaf(
        pki,
        2048,
        Binds::Domain(domain),
        pki.now - 400 * DAY,
        pki.now - 30 * DAY,
    )
}

fn raw_ext(oid: &str, value: &[u8]) -> X509Extension {
    let oid = Asn1Object::from_str(oid).expect("OID");
    let value = Asn1OctetString::new_from_bytes(value).expect("octets");
    X509Extension::new_from_der(&oid, false, &value).expect("extension")
}
