//! Issued certificates checked by the real `openssl` command line.

use super::*;
use crate::pki::testutil::{
    NOW, jo, leaf, openssl, org, profile, test_ca, text, verify, write, write_ca,
};
use crate::pki::{cert_pem, info};

/// Write the root and `cert` into a temp dir; return the dir and `x509 -text` output.
fn examine(cert: &X509, purpose: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    write_ca(dir.path());
    write(
        dir.path(),
        "leaf.pem",
        cert_pem(cert).expect("pem").as_bytes(),
    );
    let ok = verify(dir.path(), "leaf.pem", &["-purpose", purpose]);
    assert!(ok.status.success(), "verify failed: {}", text(&ok));
    let out = openssl(dir.path(), &["x509", "-in", "leaf.pem", "-noout", "-text"]);
    assert!(out.status.success(), "{}", text(&out));
    (dir, text(&out))
}

/// The parts every Direct certificate shares.
fn assert_direct_profile(text: &str) {
    for want in [
        "Signature Algorithm: sha256WithRSAEncryption",
        "Public-Key: (2048 bit)",
        "X509v3 Basic Constraints: critical",
        "CA:FALSE",
        "X509v3 Key Usage: critical",
        "E-mail Protection",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
        "X509v3 CRL Distribution Points",
        "URI:https://hisp.example.org/pki/ca.crl",
        "CA Issuers - URI:https://hisp.example.org/pki/ca.cer",
        "X509v3 Certificate Policies",
        "Policy: 1.3.6.1.4.1.41179.0.1.2",
        "Policy: 1.3.6.1.4.1.41179.1.3",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.contains("emailAddress"), "{text}");
}

#[test]
fn address_bound_dual_use() {
    let issued = leaf(&jo(), Usage::Dual);
    let (_dir, text) = examine(&issued.cert, "smimesign");
    assert_direct_profile(&text);
    assert!(text.contains("email:jo@direct.example.org"), "{text}");
    assert!(text.contains("Subject: CN = Jo Smith\n"), "{text}");
    assert!(
        text.contains("Digital Signature, Key Encipherment\n"),
        "{text}"
    );
    assert!(
        issued
            .cert
            .public_key()
            .expect("pub")
            .public_eq(&issued.key)
    );
}

#[test]
fn organization_bound() {
    let (_dir, text) = examine(&leaf(&org(), Usage::Dual).cert, "smimeencrypt");
    assert_direct_profile(&text);
    assert!(text.contains("DNS:direct.example.org"), "{text}");
    assert!(
        text.contains("Subject: CN = direct.example.org\n"),
        "{text}"
    );
}

#[test]
fn single_use_pair() {
    let (_dir, text) = examine(&leaf(&jo(), Usage::SigningOnly).cert, "smimesign");
    assert_direct_profile(&text);
    assert!(
        text.contains("critical\n                Digital Signature\n"),
        "{text}"
    );
    assert!(!text.contains("Key Encipherment"), "{text}");
    let (_dir, text) = examine(&leaf(&org(), Usage::EnciphermentOnly).cert, "smimeencrypt");
    assert_direct_profile(&text);
    assert!(
        text.contains("critical\n                Key Encipherment\n"),
        "{text}"
    );
    assert!(!text.contains("Digital Signature"), "{text}");
}

#[test]
fn tls_server() {
    let subject = Subject::TlsServer {
        hostname: "mail.example.org".into(),
    };
    let (_dir, text) = examine(&leaf(&subject, Usage::SigningOnly).cert, "sslserver");
    for want in [
        "Subject: CN = mail.example.org\n",
        "DNS:mail.example.org, DNS:localhost, IP Address:127.0.0.1",
        "TLS Web Server Authentication",
        "Digital Signature, Key Encipherment",
        "X509v3 CRL Distribution Points",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.contains("Certificate Policies"), "{text}");
    let local = Subject::TlsServer {
        hostname: "localhost".into(),
    };
    let names = info(&leaf(&local, Usage::Dual).cert)
        .expect("info")
        .dns_names;
    assert_eq!(names, ["localhost"]);
}

#[test]
fn unnamed_address_uses_the_address_as_cn() {
    let Subject::Address { address, .. } = jo() else {
        unreachable!()
    };
    let subject = Subject::Address {
        address,
        name: Some("  ".into()),
    };
    let got = info(&leaf(&subject, Usage::Dual).cert).expect("info");
    assert_eq!(got.subject, "CN=jo@direct.example.org");
    assert_eq!(got.not_before, NOW - 300);
    assert_eq!(got.not_after, NOW + 365 * 86_400);
}

#[test]
fn serials_are_random_positive_128_bit() {
    let a = info(&leaf(&jo(), Usage::Dual).cert)
        .expect("info")
        .serial_hex;
    let b = info(&leaf(&jo(), Usage::Dual).cert)
        .expect("info")
        .serial_hex;
    assert_ne!(a, b);
    assert_eq!((a.len(), b.len()), (32, 32));
}

#[test]
fn signs_a_given_key() {
    let key = PKey::from_rsa(Rsa::generate(3072).expect("rsa")).expect("pkey");
    let cert = issue_for_key(test_ca(), &org(), Usage::Dual, &profile(), &key, NOW).expect("cert");
    assert!(cert.public_key().expect("pub").public_eq(&key));
    assert!(cert.verify(&test_ca().key).expect("verify"));
}

#[test]
fn refuses_bad_inputs() {
    let ca = test_ca();
    for bits in [512, 1024, 2047, 2049, 8192] {
        let p = Profile {
            key_bits: bits,
            ..profile()
        };
        let err = issue(ca, &jo(), Usage::Dual, &p, NOW).expect_err("refused");
        assert_eq!(
            err.to_string(),
            format!("RSA key size {bits} is not allowed (2048, 3072 or 4096)")
        );
    }
    let weak = PKey::from_rsa(Rsa::generate(1024).expect("rsa")).expect("pkey");
    let err = issue_for_key(ca, &jo(), Usage::Dual, &profile(), &weak, NOW).expect_err("weak");
    assert!(matches!(err, PkiError::KeySize(1024)));
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1);
    let ec = openssl::ec::EcKey::generate(&group.expect("curve")).expect("ec");
    let ec = PKey::from_ec_key(ec).expect("pkey");
    let err = issue_for_key(ca, &jo(), Usage::Dual, &profile(), &ec, NOW).expect_err("ec");
    assert!(matches!(err, PkiError::NotRsa));

    let p = Profile {
        policies: vec!["1.3.x".into()],
        ..profile()
    };
    let err = issue(ca, &jo(), Usage::Dual, &p, NOW).expect_err("bad oid");
    assert_eq!(err.to_string(), "'1.3.x' is not a dotted OID");
    for url in ["ftp://x", "", "https://hïsp.org", "https://a b"] {
        let p = Profile {
            public_url: url.into(),
            ..profile()
        };
        let err = issue(ca, &jo(), Usage::Dual, &p, NOW).expect_err("bad url");
        assert!(matches!(err, PkiError::BadPublicUrl(_)), "{url}: {err}");
    }
    for host in ["", "a..b", "mail example", "x,y"] {
        let subject = Subject::TlsServer {
            hostname: host.into(),
        };
        let err = issue(ca, &subject, Usage::Dual, &profile(), NOW).expect_err("bad host");
        assert!(matches!(err, PkiError::BadHostname(_)), "{host}: {err}");
    }
}
