//! Round trips through hisp alone, tampering, wrong keys, and a table of broken
//! inputs every parsing function must refuse without panicking.

use super::fixtures::{MESSAGE, all_crlf, ca, eve, jo, sam};
use super::*;

fn signed_entity() -> Vec<u8> {
    let signer = jo();
    sign(
        &wrap_rfc822(MESSAGE),
        &signer.cert,
        &signer.key,
        std::slice::from_ref(&ca().cert),
    )
    .expect("sign")
}

fn encrypted(cipher: ContentCipher, transport: KeyTransport) -> Vec<u8> {
    encrypt(
        &signed_entity(),
        std::slice::from_ref(&sam().cert),
        cipher,
        transport,
    )
    .expect("encrypt")
}

#[test]
fn round_trip_every_cipher_and_transport() {
    for cipher in ContentCipher::ALL {
        for transport in [KeyTransport::Pkcs1v15, KeyTransport::RsaOaepSha256] {
            let what = format!("{cipher} {transport}");
            let signed = signed_entity();
            assert!(all_crlf(&signed), "{what}: signed entity has a bare LF");
            assert!(is_signed(&signed) && !is_encrypted(&signed), "{what}");
            let sealed =
                encrypt(&signed, &[sam().cert.clone()], cipher, transport).expect("encrypt");
            assert!(all_crlf(&sealed), "{what}: encrypted entity has a bare LF");
            assert!(is_encrypted(&sealed) && !is_signed(&sealed), "{what}");

            let info = envelope_info(&sealed).expect("envelope");
            assert_eq!(info.cipher, cipher.as_str(), "{what}");
            let kind = if cipher.is_aead() {
                "auth-enveloped-data"
            } else {
                "enveloped-data"
            };
            assert_eq!(info.content_type, kind);
            assert_eq!(info.recipients.len(), 1);
            let r = &info.recipients[0];
            assert_eq!(r.key_transport, transport.as_str(), "{what}");
            assert_eq!(r.serial_hex, crate::pki::serial_hex(&sam().cert));
            assert_eq!(r.issuer, "CN=Test Direct CA");

            let opened = decrypt(&sealed, &sam().cert, &sam().key).expect("decrypt");
            assert_eq!(opened.entity, signed, "{what}");
            assert_eq!(opened.envelope, info);

            let verified = verify(&opened.entity).expect("verify");
            assert!(verified.detached);
            assert_eq!(verified.micalg.as_deref(), Some("sha-256"));
            assert_eq!(verified.content, wrap_rfc822(MESSAGE));
            assert_eq!(verified.certs.len(), 2, "signer and root included");
            let [signer] = verified.signers.as_slice() else {
                panic!("one signer expected");
            };
            assert_eq!(signer.digest, "sha256");
            assert!(
                ["rsaEncryption", "sha256WithRSAEncryption"].contains(&signer.signature.as_str()),
                "{}",
                signer.signature
            );
            assert_eq!(signer.rsa_bits, Some(2048));
            assert_eq!(signer.serial_hex, crate::pki::serial_hex(&jo().cert));
            let cert = signer.cert.as_ref().expect("signer cert found");
            assert_eq!(
                cert.to_der().expect("der"),
                jo().cert.to_der().expect("der")
            );

            let inner = unwrap_rfc822(&verified.content).expect("message/rfc822");
            assert_eq!(inner, mime::to_crlf(MESSAGE));
        }
    }
}

#[test]
fn headers_are_exactly_as_specified() {
    let signed = signed_entity();
    let head = "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; \
                micalg=sha-256; boundary=\"";
    assert!(signed.starts_with(head.as_bytes()));
    let text = String::from_utf8(signed.clone()).expect("ascii");
    assert!(text.contains(
        "\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=smime.p7s\r\n\r\n"
    ));
    assert!(text.ends_with("--\r\n"));
    assert!(text.lines().all(|l| l.len() <= 998));

    let sealed = encrypted(ContentCipher::Aes256Cbc, KeyTransport::Pkcs1v15);
    let head = "Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n\
                Content-Transfer-Encoding: base64\r\n\
                Content-Disposition: attachment; filename=smime.p7m\r\n\r\n";
    assert!(sealed.starts_with(head.as_bytes()));
    let body = &sealed[head.len()..];
    for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        assert!(line.len() <= 77 && line.ends_with(b"\r"));
    }
    let gcm = encrypted(ContentCipher::Aes128Gcm, KeyTransport::Pkcs1v15);
    assert!(
        gcm.starts_with(b"Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data;")
    );
}

#[test]
fn accepts_a_whole_message_and_lf_storage() {
    let sealed = encrypted(ContentCipher::Aes256Cbc, KeyTransport::Pkcs1v15);
    let mut message = b"From: jo@direct.example.org\r\nTo: sam@direct.example.net\r\n\
Subject: lab\r\nMIME-Version: 1.0\r\n"
        .to_vec();
    message.extend_from_slice(&sealed);
    assert!(is_encrypted(&message));
    assert_eq!(envelope_info(&message).expect("info").cipher, "aes-256-cbc");
    let opened = decrypt(&message, &sam().cert, &sam().key).expect("decrypt");

    // A mail store that rewrote CRLF to LF: the canonical form still verifies.
    let lf: Vec<u8> = opened
        .entity
        .iter()
        .copied()
        .filter(|b| *b != b'\r')
        .collect();
    let verified = verify(&lf).expect("LF-stored signature verifies");
    assert_eq!(verified.content, wrap_rfc822(MESSAGE));
}

#[test]
fn sign_canonicalizes_bare_lf() {
    let signer = jo();
    let signed = sign(
        b"Content-Type: text/plain\n\nhi\n",
        &signer.cert,
        &signer.key,
        &[],
    )
    .expect("sign");
    assert!(all_crlf(&signed));
    let verified = verify(&signed).expect("verify");
    assert_eq!(verified.content, b"Content-Type: text/plain\r\n\r\nhi\r\n");
    assert_eq!(verified.certs.len(), 1);
}

#[test]
fn altered_content_is_a_bad_signature() {
    let signed = signed_entity();
    let pos = signed
        .windows(5)
        .position(|w| w == b"Hello")
        .expect("greeting");
    let mut altered = signed.clone();
    altered[pos] = b'J';
    let err = verify(&altered).expect_err("altered");
    assert!(matches!(err, SmimeError::BadSignature(_)), "{err}");
    assert!(!err.to_string().contains('\n'));

    // The same after a trip through encryption.
    let sealed = encrypt(
        &altered,
        &[sam().cert.clone()],
        ContentCipher::Aes128Gcm,
        KeyTransport::RsaOaepSha256,
    )
    .expect("encrypt");
    let opened = decrypt(&sealed, &sam().cert, &sam().key).expect("decrypt");
    assert!(matches!(
        verify(&opened.entity),
        Err(SmimeError::BadSignature(_))
    ));
}

#[test]
fn wrong_key_cannot_decrypt() {
    for transport in [KeyTransport::Pkcs1v15, KeyTransport::RsaOaepSha256] {
        let signed = signed_entity();
        let to = std::slice::from_ref(&sam().cert);
        let sealed = encrypt(&signed, to, ContentCipher::Aes256Cbc, transport).expect("encrypt");
        let err = decrypt(&sealed, &eve().cert, &eve().key).expect_err("not for eve");
        assert!(matches!(err, SmimeError::Decrypt(_)), "{err}");
        assert!(err.to_string().contains("no recipient matches"), "{err}");
        match decrypt(&sealed, &sam().cert, &eve().key) {
            Err(err) => assert!(matches!(err, SmimeError::Decrypt(_)), "{err}"),
            // When the content key does not decrypt, with PKCS#1 v1.5 or OAEP,
            // OpenSSL's CMS goes on with a random content key rather than say
            // so (its countermeasure to the million-message attack), and about
            // 1 in 256 random keys ends in valid CBC padding. What comes out is
            // then noise, never the content, and it fails the signature check
            // that follows in `incoming`.
            Ok(opened) => {
                assert_ne!(opened.entity, signed, "the wrong key opened it");
                assert!(verify(&opened.entity).is_err(), "noise verified");
            }
        }
    }
    // With AES-GCM the random key fails the tag, so the wrong key always fails.
    for transport in [KeyTransport::Pkcs1v15, KeyTransport::RsaOaepSha256] {
        let sealed = encrypted(ContentCipher::Aes256Gcm, transport);
        for _ in 0..8 {
            let err = decrypt(&sealed, &sam().cert, &eve().key).expect_err("wrong key, GCM");
            assert!(matches!(err, SmimeError::Decrypt(_)), "{err}");
        }
    }
}

#[test]
fn two_recipients_each_decrypt() {
    for transport in [KeyTransport::Pkcs1v15, KeyTransport::RsaOaepSha256] {
        let signed = signed_entity();
        let both = [sam().cert.clone(), eve().cert.clone()];
        let sealed = encrypt(&signed, &both, ContentCipher::Aes256Gcm, transport).expect("encrypt");
        assert_eq!(envelope_info(&sealed).expect("info").recipients.len(), 2);
        for who in [sam(), eve()] {
            let opened = decrypt(&sealed, &who.cert, &who.key).expect("decrypt");
            assert_eq!(opened.entity, signed);
        }
        assert!(matches!(
            decrypt(&sealed, &jo().cert, &jo().key),
            Err(SmimeError::Decrypt(_))
        ));
    }
}

#[test]
fn no_recipients_and_names() {
    let err = encrypt(b"x", &[], ContentCipher::Aes256Cbc, KeyTransport::Pkcs1v15);
    assert!(matches!(err, Err(SmimeError::NoRecipients)));
    for c in ContentCipher::ALL {
        assert_eq!(c.as_str().parse::<ContentCipher>().expect("cipher"), c);
    }
    assert_eq!(
        " AES-128-GCM ".parse::<ContentCipher>().expect("trim"),
        ContentCipher::Aes128Gcm
    );
    for t in [KeyTransport::Pkcs1v15, KeyTransport::RsaOaepSha256] {
        assert_eq!(t.to_string().parse::<KeyTransport>().expect("transport"), t);
    }
    let err = "des3".parse::<ContentCipher>().expect_err("unknown");
    assert_eq!(err.to_string(), "unknown algorithm 'des3'");
    assert_eq!(ContentCipher::default(), ContentCipher::Aes256Cbc);
    assert_eq!(KeyTransport::default(), KeyTransport::Pkcs1v15);
}

#[test]
fn wrap_and_unwrap() {
    let wrapped = wrap_rfc822(b"Subject: x\n\nbody\r\nline\r");
    assert_eq!(
        wrapped,
        b"Content-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\nbody\r\nline\r\n"
    );
    assert_eq!(
        unwrap_rfc822(&wrapped).expect("inner"),
        b"Subject: x\r\n\r\nbody\r\nline\r\n"
    );
    assert!(unwrap_rfc822(b"Content-Type: text/plain\r\n\r\nx").is_none());
    assert!(unwrap_rfc822(b"CONTENT-TYPE: Message/RFC822; x=y\r\n\r\nx").is_some());
}

/// Every pub parsing function on one input: must not panic; returns whether
/// any of the fallible ones succeeded.
fn parse_all(input: &[u8]) -> bool {
    let _ = is_encrypted(input);
    let _ = is_signed(input);
    let _ = unwrap_rfc822(input);
    let a = envelope_info(input).is_ok();
    let b = decrypt(input, &sam().cert, &sam().key).is_ok();
    let c = verify(input).is_ok();
    a || b || c
}

#[test]
fn garbage_never_parses_or_panics() {
    let deep: Vec<u8> = std::iter::repeat_n([0x30u8, 0x80], 5000)
        .flatten()
        .collect();
    let deep_mime = [
        b"Content-Type: application/pkcs7-mime\r\n\r\n".to_vec(),
        mime::base64_lines(&deep),
    ]
    .concat();
    let ber_len = [
        b"Content-Type: application/pkcs7-mime\r\n\r\n".to_vec(),
        mime::base64_lines(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x06]),
    ]
    .concat();
    let table: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("crlf", b"\r\n".to_vec()),
        ("text", b"garbage".to_vec()),
        ("binary", (0..=255u8).collect()),
        ("header only", b"Content-Type: application/pkcs7-mime".to_vec()),
        ("empty pkcs7", b"Content-Type: application/pkcs7-mime\r\n\r\n".to_vec()),
        (
            "not base64",
            b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\r\n$$$".to_vec(),
        ),
        (
            "base64 not DER",
            b"Content-Type: application/pkcs7-mime\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=".to_vec(),
        ),
        ("deep BER", deep_mime),
        ("huge length", ber_len),
        ("signed no boundary", b"Content-Type: multipart/signed\r\n\r\n--x\r\n".to_vec()),
        (
            "signed no parts",
            b"Content-Type: multipart/signed; boundary=x; protocol=\"application/pkcs7-signature\"\r\n\r\nnothing".to_vec(),
        ),
        (
            "signed one part",
            b"Content-Type: multipart/signed; boundary=x\r\n\r\n--x\r\nhi\r\n--x--\r\n".to_vec(),
        ),
        (
            "signed bad sig",
            b"Content-Type: multipart/signed; boundary=x\r\n\r\n--x\r\nhi\r\n--x\r\n\
Content-Type: application/pkcs7-signature\r\n\r\nMIIB\r\n--x--\r\n"
                .to_vec(),
        ),
        (
            "wrong protocol",
            b"Content-Type: multipart/signed; boundary=x; protocol=\"application/pgp-signature\"\r\n\r\n--x\r\na\r\n--x\r\nb\r\n--x--".to_vec(),
        ),
        ("folded nothing", b"Content-Type:\r\n \r\n\r\n".to_vec()),
    ];
    for (name, input) in &table {
        assert!(!parse_all(input), "{name} parsed");
        let err = verify(input).expect_err(name);
        assert!(!err.to_string().contains('\n'), "{name}: {err}");
    }
}

#[test]
fn truncated_and_flipped_messages_never_panic() {
    let sealed = encrypted(ContentCipher::Aes128Gcm, KeyTransport::RsaOaepSha256);
    let signed = signed_entity();
    for whole in [&sealed, &signed] {
        for len in (0..whole.len()).step_by(7) {
            let ok = parse_all(&whole[..len]);
            assert!(!ok || len > whole.len() / 2, "prefix {len} parsed");
        }
    }
    // Flip bytes inside the DER of the envelope and of the signature.
    let entity = mime::parse_entity(&sealed).expect("entity");
    let der = mime::decode_body(&entity).expect("der");
    let head_len = sealed.len() - entity.body.len();
    for i in (0..der.len()).step_by(3) {
        let mut bad = der.clone();
        bad[i] ^= 0x5a;
        let mut msg = sealed[..head_len].to_vec();
        msg.extend_from_slice(&mime::base64_lines(&bad));
        let _ = parse_all(&msg);
    }
    let sig_start = signed
        .windows(4)
        .rposition(|w| w == b"\r\n\r\n")
        .expect("signature body")
        + 4;
    let sig_end = signed.len() - b"\r\n--".len() - 40;
    for i in (sig_start..sig_end).step_by(5) {
        let mut bad = signed.clone();
        if bad[i].is_ascii_alphanumeric() {
            bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
        }
        let _ = parse_all(&bad);
    }
}
