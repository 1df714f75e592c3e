//! The hand-written SignedData and EnvelopedData paths (`signed`, `enveloped`)
//! against OpenSSL's CMS code on the same inputs: what the CLI writes in every
//! variant is judged alike by both, the own paths step aside for shapes they do
//! not handle, and tampering, a wrong or ambiguous signer certificate and a
//! forged signature never pass.

use super::fixtures::{MESSAGE, NOW, ca, eve, jo, openssl, sam, write, write_pki};
use super::verify::{OPENSSL_ONLY, parse_cert};
use super::*;
use openssl::asn1::Asn1Time;
use openssl::x509::X509Builder;
use std::path::Path;

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).expect("read CLI output")
}

/// The DER SignedData of a signed entity, and its detached content if any.
fn signed_parts(entity: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    let e = mime::parse_entity(entity).expect("entity");
    let ct = e.content_type();
    if ct.mime != "multipart/signed" {
        return (mime::decode_body(&e).expect("base64"), None);
    }
    let boundary = ct.param("boundary").expect("boundary");
    let parts = mime::split_multipart(e.body, boundary).expect("parts");
    let sig = mime::parse_entity(parts[1]).expect("signature part");
    (
        mime::decode_body(&sig).expect("base64"),
        Some(parts[0].to_vec()),
    )
}

/// Whether the own path accepts the signed entity on its own.
fn own_accepts(entity: &[u8], extra: &[X509]) -> bool {
    let (der, detached) = signed_parts(entity);
    signed::check(&der, detached.as_deref(), extra, parse_cert).is_some()
}

/// A comparable summary of a verify result.
fn outcome(entity: &[u8], extra: &[X509]) -> Result<String, String> {
    verify_with_certs(entity, extra)
        .map(|v| {
            let certs: Vec<Vec<u8>> = v.certs.iter().map(|c| c.to_der().expect("der")).collect();
            let signers: Vec<String> = v
                .signers
                .iter()
                .map(|s| {
                    let cert = s.cert.as_ref().map(|c| c.to_der().expect("der"));
                    format!(
                        "{} {} {} {} {:?} {cert:?}",
                        s.digest, s.signature, s.issuer, s.serial_hex, s.rsa_bits
                    )
                })
                .collect();
            format!(
                "{:?} {:?} {} {certs:?} {signers:?}",
                v.content, v.micalg, v.detached
            )
        })
        .map_err(|e| e.to_string())
}

/// The verify result through OpenSSL alone.
fn openssl_outcome(entity: &[u8], extra: &[X509]) -> Result<String, String> {
    OPENSSL_ONLY.with(|f| f.set(true));
    let out = outcome(entity, extra);
    OPENSSL_ONLY.with(|f| f.set(false));
    out
}

/// A multipart/signed entity around `content` and a DER signature.
fn multipart(content: &[u8], der: &[u8]) -> Vec<u8> {
    let mut out = b"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; \
micalg=sha-256; boundary=\"b\"\r\n\r\n--b\r\n"
        .to_vec();
    out.extend_from_slice(content);
    out.extend_from_slice(
        b"\r\n--b\r\nContent-Type: application/pkcs7-signature\r\n\
Content-Transfer-Encoding: base64\r\n\r\n",
    );
    out.extend_from_slice(&mime::base64_lines(der));
    out.extend_from_slice(b"\r\n--b--\r\n");
    out
}

#[test]
fn own_verify_agrees_with_openssl_on_every_cli_variant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    write_pki(dir);
    write(dir, "inner.eml", &wrap_rfc822(MESSAGE));
    // (CLI arguments, whether the own path should take it)
    let cases: &[(&[&str], bool)] = &[
        (&["-md", "sha256"], true),
        (&["-md", "sha256", "-nodetach"], true),
        (&["-md", "sha1"], true),
        (&["-md", "sha384"], true),
        (&["-md", "sha512", "-nodetach"], true),
        (&["-md", "sha256", "-keyid"], true),
        (&["-md", "sha256", "-nosmimecap"], true),
        (&["-md", "md5"], false),
        (&["-md", "sha256", "-noattr"], false),
        (&["-md", "sha256", "-nodetach", "-stream"], false),
        (&["-md", "sha256", "-keyopt", "rsa_padding_mode:pss"], false),
    ];
    for (extra_args, fast) in cases {
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
        args.extend_from_slice(extra_args);
        openssl(dir, &args);
        let signed = read(dir, "signed.eml");
        assert_eq!(own_accepts(&signed, &[]), *fast, "{extra_args:?}");
        let own = outcome(&signed, &[]);
        assert_eq!(own, openssl_outcome(&signed, &[]), "{extra_args:?}");
        if *fast {
            assert!(own.is_ok(), "{extra_args:?}: {own:?}");
        }
    }
}

#[test]
fn own_verify_matches_a_signer_named_by_key_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    write_pki(dir);
    write(dir, "inner.eml", &wrap_rfc822(MESSAGE));
    openssl(
        dir,
        &[
            "cms",
            "-sign",
            "-keyid",
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
        ],
    );
    let signed = read(dir, "signed.eml");
    let (der, detached) = signed_parts(&signed);
    let checked = signed::check(&der, detached.as_deref(), &[], parse_cert).expect("own path");
    assert_eq!(
        checked.signer.to_der().expect("der"),
        jo().cert.to_der().expect("der")
    );
    assert_eq!(checked.certs.len(), 2);
    let verified = verify(&signed).expect("verify");
    let cert = verified.signers[0].cert.as_ref().expect("signer");
    assert_eq!(
        cert.to_der().expect("der"),
        jo().cert.to_der().expect("der")
    );
}

#[test]
fn own_sign_output_verifies_both_ways() {
    let content = mime::to_crlf(&wrap_rfc822(MESSAGE));
    let signer = SignerDer::new(&jo().cert, &[ca().cert.clone(), jo().cert.clone()]).expect("der");
    let der = signed::build(&content, &signer, &jo().key, NOW)
        .expect("build")
        .expect("RSA key");
    let checked = signed::check(&der, Some(&content), &[], parse_cert).expect("own check");
    assert_eq!(checked.certs.len(), 2, "the signer is not repeated");
    let entity = multipart(&content, &der);
    assert_eq!(outcome(&entity, &[]), openssl_outcome(&entity, &[]));
    assert!(outcome(&entity, &[]).is_ok());
}

#[test]
fn tampered_content_and_forged_signatures_fail_both_ways() {
    let content = mime::to_crlf(&wrap_rfc822(MESSAGE));
    let signer = SignerDer::new(&jo().cert, &[ca().cert.clone()]).expect("der");
    let der = signed::build(&content, &signer, &jo().key, NOW)
        .expect("build")
        .expect("RSA key");

    let mut altered = content.clone();
    let pos = altered
        .windows(5)
        .position(|w| w == b"Hello")
        .expect("text");
    altered[pos] = b'J';
    assert!(signed::check(&der, Some(&altered), &[], parse_cert).is_none());
    let err = verify(&multipart(&altered, &der)).expect_err("altered");
    assert!(matches!(err, SmimeError::BadSignature(_)), "{err}");

    // The last byte of the DER is the signature's.
    let mut forged = der.clone();
    *forged.last_mut().expect("byte") ^= 1;
    assert!(signed::check(&forged, Some(&content), &[], parse_cert).is_none());
    let err = verify(&multipart(&content, &forged)).expect_err("forged");
    assert!(matches!(err, SmimeError::BadSignature(_)), "{err}");

    // Signed with jo's key, but naming and carrying eve's certificate.
    let wrong = SignerDer::new(&eve().cert, &[ca().cert.clone()]).expect("der");
    let der = signed::build(&content, &wrong, &jo().key, NOW)
        .expect("build")
        .expect("RSA key");
    assert!(signed::check(&der, Some(&content), &[], parse_cert).is_none());
    let entity = multipart(&content, &der);
    assert!(verify(&entity).is_err());
    assert_eq!(outcome(&entity, &[]), openssl_outcome(&entity, &[]));
}

/// A certificate with jo's issuer and serial but eve's key.
fn impostor() -> X509 {
    let mut b = X509Builder::new().expect("builder");
    b.set_version(2).expect("version");
    b.set_serial_number(jo().cert.serial_number())
        .expect("serial");
    b.set_issuer_name(jo().cert.issuer_name()).expect("issuer");
    b.set_subject_name(jo().cert.subject_name())
        .expect("subject");
    b.set_pubkey(&eve().key).expect("key");
    let start = Asn1Time::from_unix(NOW - 60).expect("time");
    let end = Asn1Time::from_unix(NOW + 86_400).expect("time");
    b.set_not_before(&start).expect("not before");
    b.set_not_after(&end).expect("not after");
    b.sign(&eve().key, openssl::hash::MessageDigest::sha256())
        .expect("sign");
    b.build()
}

#[test]
fn an_ambiguous_or_wrong_signer_certificate_is_never_accepted_by_the_own_path() {
    let content = mime::to_crlf(&wrap_rfc822(MESSAGE));
    let signer = SignerDer::new(&jo().cert, &[ca().cert.clone()]).expect("der");
    let der = signed::build(&content, &signer, &jo().key, NOW)
        .expect("build")
        .expect("RSA key");
    let entity = multipart(&content, &der);
    let impostor = impostor();
    let extra = std::slice::from_ref(&impostor);
    // Two certificates answer to jo's issuer and serial: the own path steps
    // aside rather than pick one, and OpenSSL decides.
    assert!(signed::check(&der, Some(&content), extra, parse_cert).is_none());
    assert_eq!(outcome(&entity, extra), openssl_outcome(&entity, extra));

    // Only the impostor is carried (same issuer and serial as jo), and jo's
    // key signed: the certificate named is not the one whose key signed.
    let carried = SignerDer::new(&impostor, &[]).expect("der");
    let der = signed::build(&content, &carried, &jo().key, NOW)
        .expect("build")
        .expect("RSA key");
    assert!(signed::check(&der, Some(&content), &[], parse_cert).is_none());
    let entity = multipart(&content, &der);
    assert!(verify(&entity).is_err());
    assert_eq!(outcome(&entity, &[]), openssl_outcome(&entity, &[]));
}

#[test]
fn own_envelope_decrypts_with_the_cli_and_streams_large_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    write_pki(dir);
    // Across several 64 KiB chunks, not a multiple of 57 or 16.
    let entity: Vec<u8> = (0..200_003u32).map(|i| (i % 251) as u8).collect();
    for cipher in [
        ContentCipher::Aes128Cbc,
        ContentCipher::Aes192Cbc,
        ContentCipher::Aes256Cbc,
    ] {
        let both = [sam().cert.clone(), eve().cert.clone()];
        let sealed = encrypt(&entity, &both, cipher, KeyTransport::Pkcs1v15).expect("encrypt");
        let body_start = sealed
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("headers")
            + 4;
        let body = &sealed[body_start..];
        assert!(body.ends_with(b"\r\n"));
        let lines: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
        let full = lines.len() - 2;
        assert!(lines[..full].iter().all(|l| l.len() == 77), "{cipher}");
        // One base64 encoding of the whole DER, as one-shot encoding writes it.
        let loaded = Enveloped::load(&sealed).expect("load");
        assert_eq!(body, mime::base64_lines(&loaded.der).as_slice());
        assert_eq!(loaded.info().cipher, cipher.as_str());
        for who in [sam(), eve()] {
            let own = enveloped::open(&loaded.der, &who.cert, &who.key).expect("own open");
            assert_eq!(own, entity, "{cipher}");
            let cms =
                openssl::cms::CmsContentInfo::from_der(&loaded.der).expect("OpenSSL reads it");
            let theirs = cms
                .decrypt(&who.key, &who.cert)
                .expect("OpenSSL decrypts it");
            assert_eq!(theirs, entity, "{cipher}");
        }
        assert!(enveloped::open(&loaded.der, &jo().cert, &jo().key).is_none());
        let mut wrapped = b"From: a@b.c\r\n".to_vec();
        wrapped.extend_from_slice(&sealed);
        write(dir, "big.eml", &wrapped);
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
                "big.eml",
                "-out",
                "big.out",
            ],
        );
        assert_eq!(read(dir, "big.out"), entity, "{cipher}");
    }
}

#[test]
fn own_decrypt_takes_cli_cbc_and_steps_aside_for_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    write_pki(dir);
    write(dir, "inner.eml", &wrap_rfc822(MESSAGE));
    let cases: &[(&[&str], bool)] = &[
        (&["-aes128"], true),
        (&["-aes256"], true),
        (&["-aes256", "-keyid"], true),
        (&["-aes256", "-stream"], false),
        (&["-aes-256-gcm"], false),
        (&["-aes256", "-keyopt", "rsa_padding_mode:oaep"], false),
    ];
    for (extra_args, fast) in cases {
        let mut args = vec![
            "cms",
            "-encrypt",
            "-recip",
            "sam-cert.pem",
            "-in",
            "inner.eml",
            "-out",
            "enc.eml",
        ];
        args.extend_from_slice(extra_args);
        openssl(dir, &args);
        let sealed = read(dir, "enc.eml");
        let loaded = Enveloped::load(&sealed).expect("load");
        let own = enveloped::open(&loaded.der, &sam().cert, &sam().key);
        assert_eq!(own.is_some(), *fast, "{extra_args:?}");
        let opened = loaded.decrypt(&sam().cert, &sam().key).expect("decrypt");
        assert_eq!(opened.entity, wrap_rfc822(MESSAGE), "{extra_args:?}");
        if let Some(own) = own {
            assert_eq!(own, opened.entity);
        }
        // A wrong key: the own path steps aside, and OpenSSL (which then
        // decrypts with a random key, so as not to reveal a padding error)
        // refuses, or by chance of a valid CBC pad returns noise.
        assert!(enveloped::open(&loaded.der, &sam().cert, &eve().key).is_none());
        match loaded.decrypt(&sam().cert, &eve().key) {
            Err(err) => assert!(matches!(err, SmimeError::Decrypt(_)), "{err}"),
            Ok(noise) => assert_ne!(noise.entity, wrap_rfc822(MESSAGE)),
        }
    }
}

#[test]
fn verify_owned_cuts_the_content_out_in_place() {
    let signer = jo();
    let chain = std::slice::from_ref(&ca().cert);
    let signed = sign(&wrap_rfc822(MESSAGE), &signer.cert, &signer.key, chain).expect("sign");
    let owned = verify_owned(signed.clone()).expect("owned");
    let borrowed = verify(&signed).expect("borrowed");
    assert_eq!(owned.content, borrowed.content);
    assert_eq!(owned.content, wrap_rfc822(MESSAGE));
    assert_eq!(owned.micalg.as_deref(), Some("sha-256"));
    // Stored with LF line ends: the CRLF form is what was signed and returned.
    let lf: Vec<u8> = signed.iter().copied().filter(|b| *b != b'\r').collect();
    assert_eq!(verify_owned(lf).expect("LF").content, wrap_rfc822(MESSAGE));
    let mut altered = signed.clone();
    let pos = altered
        .windows(5)
        .position(|w| w == b"Hello")
        .expect("text");
    altered[pos] = b'J';
    assert!(matches!(
        verify_owned(altered),
        Err(SmimeError::BadSignature(_))
    ));

    let inner = unwrap_rfc822_owned(owned.content);
    assert_eq!(inner, mime::to_crlf(MESSAGE));
    let plain = b"Content-Type: text/plain\r\n\r\nhi\r\n".to_vec();
    assert_eq!(unwrap_rfc822_owned(plain.clone()), plain);
}

#[test]
fn range_within_finds_only_sub_slices() {
    let whole = b"0123456789".to_vec();
    assert_eq!(mime::range_within(&whole, &whole[3..7]), Some(3..7));
    assert_eq!(mime::range_within(&whole, &whole[10..]), Some(10..10));
    let other = whole.clone();
    assert_eq!(mime::range_within(&whole, &other[2..4]), None);
}

#[test]
fn cached_key_usage_matches_the_der() {
    use crate::pki::{Profile, Subject, Usage};
    let subject = Subject::Address {
        address: crate::direct::DirectAddress::parse("ku@direct.example.org").expect("address"),
        name: None,
    };
    let profile = Profile {
        key_bits: 2048,
        validity_days: 30,
        policies: vec![],
        public_url: "https://hisp.example.org/".into(),
    };
    let mut certs = vec![ca().cert.clone(), jo().cert.clone(), impostor()];
    for usage in [Usage::Dual, Usage::SigningOnly, Usage::EnciphermentOnly] {
        let issued = crate::pki::issue(ca(), &subject, usage, &profile, NOW).expect("issue");
        // Parsed again, as certificates from the network are.
        certs.push(X509::from_der(&issued.cert.to_der().expect("der")).expect("parse"));
        certs.push(issued.cert);
    }
    for cert in &certs {
        let (cached, der) = crate::direct::outgoing::key_usage_both_ways(cert);
        assert_eq!(cached, der);
    }
    let (none, _) = crate::direct::outgoing::key_usage_both_ways(&impostor());
    assert!(!none.present);
}

#[test]
fn cached_encodings_equal_fresh_ones() {
    for cert in [
        ca().cert.clone(),
        jo().cert.clone(),
        sam().cert.clone(),
        impostor(),
    ] {
        assert_eq!(
            signed::issuer_and_serial_of(&cert).expect("fields"),
            signed::issuer_and_serial(&cert.to_der().expect("der")).expect("from DER")
        );
    }
    let chains: [&[X509]; 3] = [
        &[],
        &[ca().cert.clone()],
        &[ca().cert.clone(), sam().cert.clone()],
    ];
    for _ in 0..2 {
        for chain in chains {
            for signer in [&jo().cert, &eve().cert, &impostor()] {
                let cached = SignerDer::cached(signer, chain).expect("cached");
                let fresh = SignerDer::new(signer, chain).expect("fresh");
                assert_eq!(format!("{cached:?}"), format!("{fresh:?}"));
            }
        }
    }
}
