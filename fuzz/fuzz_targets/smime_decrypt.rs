//! Decrypting with a fixed RSA-2048 key and self-signed certificate (made once
//! per process): any bytes give Ok or an error, never a panic.
//!
//! Random bytes almost never name our certificate as a recipient, so inputs
//! whose first byte is odd are instead encrypted to our certificate (the rest of
//! the input as the entity), damaged at the positions and with the values the
//! input gives, and then decrypted: that reaches the CMS and cipher code.
#![no_main]

use hisp::direct::smime::{self, ContentCipher, KeyTransport};
use libfuzzer_sys::fuzz_target;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509NameBuilder};
use std::sync::OnceLock;

fn identity() -> &'static (X509, PKey<Private>) {
    static ID: OnceLock<(X509, PKey<Private>)> = OnceLock::new();
    ID.get_or_init(|| {
        let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey");
        let mut name = X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", "fuzz.example.org").expect("cn");
        let name = name.build();
        let mut b = X509::builder().expect("builder");
        b.set_version(2).expect("version");
        let serial = BigNum::from_u32(4242).and_then(|n| n.to_asn1_integer());
        b.set_serial_number(&serial.expect("serial")).expect("serial");
        b.set_subject_name(&name).expect("subject");
        b.set_issuer_name(&name).expect("issuer");
        b.set_pubkey(&key).expect("pubkey");
        b.set_not_before(&Asn1Time::days_from_now(0).expect("time")).expect("nb");
        b.set_not_after(&Asn1Time::days_from_now(3650).expect("time")).expect("na");
        b.sign(&key, MessageDigest::sha256()).expect("sign");
        (b.build(), key)
    })
}

fuzz_target!(|data: &[u8]| {
    let (cert, key) = identity();
    let _ = smime::decrypt(data, cert, key);

    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        return;
    }
    // rest = [n, (pos_hi, pos_lo, value) * n, entity...]
    let Some((&n, rest)) = rest.split_first() else { return };
    let n = usize::from(n % 8);
    let Some(edits) = rest.get(..n * 3) else { return };
    let entity = &rest[n * 3..];
    let cipher = ContentCipher::ALL[usize::from(mode >> 1) % ContentCipher::ALL.len()];
    let transport = if mode & 0x80 == 0 { KeyTransport::Pkcs1v15 } else { KeyTransport::RsaOaepSha256 };
    let Ok(mut msg) = smime::encrypt(entity, std::slice::from_ref(cert), cipher, transport) else {
        return;
    };
    if n == 0 {
        let d = smime::decrypt(&msg, cert, key).expect("our own message decrypts");
        assert_eq!(d.entity, entity);
        return;
    }
    for e in edits.chunks_exact(3) {
        let pos = (usize::from(e[0]) << 8 | usize::from(e[1])) % msg.len();
        msg[pos] = e[2];
    }
    let _ = smime::decrypt(&msg, cert, key);
});
