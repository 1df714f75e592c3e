//! Interoperability with the `openssl` command line, both ways: what hisp writes
//! the CLI decrypts and verifies, and what the CLI writes hisp decrypts, verifies
//! and reports the algorithms of.

use super::fixtures::{MESSAGE, NOW, ca, jo, openssl, sam, write, write_pki};
use super::*;
use std::path::Path;

/// Top-level RFC 5322 headers around an S/MIME entity.
fn as_message(entity: &[u8]) -> Vec<u8> {
    let mut msg = b"From: jo@direct.example.org\r\nTo: sam@direct.example.net\r\n\
Subject: lab results\r\nMIME-Version: 1.0\r\n"
        .to_vec();
    msg.extend_from_slice(entity);
    msg
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).expect("read CLI output")
}

#[test]
fn cli_decrypts_and_verifies_what_hisp_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    write_pki(dir);
    let now = NOW.to_string();
    let cases = [
        (ContentCipher::Aes128Cbc, KeyTransport::Pkcs1v15),
        (ContentCipher::Aes256Cbc, KeyTransport::Pkcs1v15),
        (ContentCipher::Aes256Gcm, KeyTransport::Pkcs1v15),
        (ContentCipher::Aes128Gcm, KeyTransport::RsaOaepSha256),
        (ContentCipher::Aes256Cbc, KeyTransport::RsaOaepSha256),
    ];
    for (cipher, transport) in cases {
        let signer = jo();
        let signed = sign(
            &wrap_rfc822(MESSAGE),
            &signer.cert,
            &signer.key,
            std::slice::from_ref(&ca().cert),
        )
        .expect("sign");
        let sealed = encrypt(&signed, &[sam().cert.clone()], cipher, transport).expect("encrypt");
        write(dir, "msg.eml", &as_message(&sealed));
        openssl(
            dir,
            &[
                "cms",
                "-decrypt",
                "-recip",
                "sam-cert.pem",
                "-inkey",
                "sam-key.pem",
                "-in",
                "msg.eml",
                "-out",
                "signed.eml",
            ],
        );
        assert_eq!(read(dir, "signed.eml"), signed, "{cipher} {transport}");
        for tool in ["cms", "smime"] {
            openssl(
                dir,
                &[
                    tool,
                    "-verify",
                    "-attime",
                    &now,
                    "-CAfile",
                    "ca.pem",
                    "-in",
                    "signed.eml",
                    "-out",
                    "content.eml",
                ],
            );
            let content = read(dir, "content.eml");
            let inner = unwrap_rfc822(&content).expect("message/rfc822");
            assert_eq!(inner, mime::to_crlf(MESSAGE), "{tool} {cipher} {transport}");
        }
    }
}

/// How the CLI signs.
struct SignCase {
    args: &'static [&'static str],
    detached: bool,
    digest: &'static str,
    micalg: Option<&'static str>,
}

/// How the CLI encrypts, and the names hisp must report.
struct EncryptCase {
    args: &'static [&'static str],
    cipher: &'static str,
    content_type: &'static str,
    transport: &'static str,
}

#[test]
fn hisp_decrypts_and_verifies_what_the_cli_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    write_pki(dir);
    write(dir, "inner.eml", &wrap_rfc822(MESSAGE));
    let signs = [
        SignCase {
            args: &["-md", "sha256"],
            detached: true,
            digest: "sha256",
            micalg: Some("sha-256"),
        },
        SignCase {
            args: &["-md", "sha256", "-nodetach"],
            detached: false,
            digest: "sha256",
            micalg: None,
        },
        SignCase {
            args: &["-md", "sha1"],
            detached: true,
            digest: "sha1",
            micalg: Some("sha1"),
        },
    ];
    let encrypts = [
        EncryptCase {
            args: &["-aes128"],
            cipher: "aes-128-cbc",
            content_type: "enveloped-data",
            transport: "rsa-pkcs1v15",
        },
        EncryptCase {
            args: &["-aes256"],
            cipher: "aes-256-cbc",
            content_type: "enveloped-data",
            transport: "rsa-pkcs1v15",
        },
        EncryptCase {
            args: &["-aes-256-gcm"],
            cipher: "aes-256-gcm",
            content_type: "auth-enveloped-data",
            transport: "rsa-pkcs1v15",
        },
        EncryptCase {
            args: &["-des3"],
            cipher: "des-ede3-cbc",
            content_type: "enveloped-data",
            transport: "rsa-pkcs1v15",
        },
        EncryptCase {
            args: &[
                "-aes256",
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
            ],
            cipher: "aes-256-cbc",
            content_type: "enveloped-data",
            transport: "rsa-oaep-sha256",
        },
        EncryptCase {
            args: &["-aes128", "-keyopt", "rsa_padding_mode:oaep"],
            cipher: "aes-128-cbc",
            content_type: "enveloped-data",
            transport: "rsa-oaep-sha1",
        },
    ];
    for s in &signs {
        let mut args = vec![
            "cms",
            "-sign",
            "-signer",
            "jo-cert.pem",
            "-inkey",
            "jo-key.pem",
            "-certfile",
            "ca.pem",
            "-in",
            "inner.eml",
            "-out",
            "signed.eml",
        ];
        args.extend_from_slice(s.args);
        openssl(dir, &args);
        let signed_file = read(dir, "signed.eml");
        check_signed(&signed_file, s, "CLI-signed");

        for e in &encrypts {
            let what = format!("{:?} then {:?}", s.args, e.args);
            let mut args = vec!["cms", "-encrypt", "-in", "signed.eml", "-out", "enc.eml"];
            args.extend_from_slice(&["-recip", "sam-cert.pem"]);
            args.extend_from_slice(e.args);
            openssl(dir, &args);
            let sealed = read(dir, "enc.eml");
            assert!(is_encrypted(&sealed), "{what}");
            let info = envelope_info(&sealed).expect("envelope");
            assert_eq!(info.cipher, e.cipher, "{what}");
            assert_eq!(info.content_type, e.content_type, "{what}");
            assert_eq!(info.recipients.len(), 1, "{what}");
            assert_eq!(info.recipients[0].key_transport, e.transport, "{what}");
            let opened = decrypt(&sealed, &sam().cert, &sam().key).expect("decrypt");
            assert_eq!(opened.envelope, info);
            check_signed(&opened.entity, s, &what);
        }
    }
}

fn check_signed(entity: &[u8], case: &SignCase, what: &str) {
    assert!(is_signed(entity), "{what}");
    let verified = verify(entity).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(verified.detached, case.detached, "{what}");
    assert_eq!(verified.micalg.as_deref(), case.micalg, "{what}");
    assert_eq!(verified.content, wrap_rfc822(MESSAGE), "{what}");
    assert_eq!(verified.certs.len(), 2, "{what}");
    let [signer] = verified.signers.as_slice() else {
        panic!("{what}: one signer expected");
    };
    assert_eq!(signer.digest, case.digest, "{what}");
    assert_eq!(signer.rsa_bits, Some(2048), "{what}");
    assert!(signer.cert.is_some(), "{what}");
    assert_eq!(signer.issuer, "CN=Test Direct CA", "{what}");
}

#[test]
fn cli_tampering_is_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    write_pki(dir);
    write(dir, "inner.eml", &wrap_rfc822(MESSAGE));
    openssl(
        dir,
        &[
            "cms",
            "-sign",
            "-md",
            "sha256",
            "-signer",
            "jo-cert.pem",
            "-inkey",
            "jo-key.pem",
            "-in",
            "inner.eml",
            "-out",
            "signed.eml",
        ],
    );
    let signed = read(dir, "signed.eml");
    let pos = signed
        .windows(7)
        .position(|w| w == b"results")
        .expect("text");
    let mut altered = signed.clone();
    altered[pos] = b'R';
    let err = verify(&altered).expect_err("altered");
    assert!(matches!(err, SmimeError::BadSignature(_)), "{err}");
}

#[test]
fn signer_left_out_needs_its_certificate_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    write_pki(dir);
    write(dir, "inner.eml", &wrap_rfc822(MESSAGE));
    openssl(
        dir,
        &[
            "cms",
            "-sign",
            "-nocerts",
            "-md",
            "sha256",
            "-signer",
            "jo-cert.pem",
            "-inkey",
            "jo-key.pem",
            "-in",
            "inner.eml",
            "-out",
            "signed.eml",
        ],
    );
    let signed = read(dir, "signed.eml");
    let err = verify(&signed).expect_err("no certificate");
    assert!(matches!(err, SmimeError::UnknownSigner(_)), "{err}");
    let verified = verify_with_certs(&signed, &[jo().cert.clone()]).expect("given");
    assert!(verified.certs.is_empty());
    let cert = verified.signers[0]
        .cert
        .as_ref()
        .expect("matched from extra");
    assert_eq!(
        cert.to_der().expect("der"),
        jo().cert.to_der().expect("der")
    );

    // The whole file with LF line ends (as a Unix mail store keeps it).
    let lf: Vec<u8> = signed.iter().copied().filter(|b| *b != b'\r').collect();
    let verified = verify_with_certs(&lf, &[jo().cert.clone()]).expect("LF");
    assert_eq!(verified.content, wrap_rfc822(MESSAGE));
}
