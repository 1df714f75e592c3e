//! EnvelopedData written and opened by hand for the shape Direct sends by
//! default: AES-CBC content, RSA PKCS#1 v1.5 key transport, recipients named by
//! IssuerAndSerialNumber (RFC 5652 §6). Writing streams: the content is
//! encrypted a block at a time and base64-encoded straight into the caller's
//! output, so no message-sized DER or ciphertext buffer exists. Opening
//! decrypts straight from the DER into one plaintext buffer.
//!
//! OAEP, AES-GCM (AuthEnvelopedData), BER indefinite lengths and constructed
//! encryptedContent stay with OpenSSL's CMS code: [`open`] answers `None` for
//! them, and for any failure (wrong key, damaged data), and the caller then
//! asks OpenSSL, which decides and words the error. Both a key-transport
//! failure and a content failure take that same second path, so the two cost
//! the same and tell an attacker nothing (as OpenSSL itself substitutes a
//! random key rather than report a PKCS#1 padding error).

use super::ber::{self, Elem, OCTET_STRING, OID, SEQUENCE, SET};
use super::signed::{RSA_ENCRYPTION, issuer_and_serial_of};
use super::{ContentCipher, SmimeError, cms, mime, report};
use crate::pki::der;
use openssl::cipher::{Cipher, CipherRef};
use openssl::cipher_ctx::CipherCtx;
use openssl::pkey::{Id, PKeyRef, Private};
use openssl::x509::{X509, X509Ref};
use std::sync::OnceLock;

const ENVELOPED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03];
const ID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
/// `[0] IMPLICIT OCTET STRING`, primitive: encryptedContent.
const ENCRYPTED_CONTENT: u8 = 0x80;
/// Plaintext encrypted per step when streaming (a multiple of the AES block).
const CHUNK: usize = 64 * 1024;
/// Base64 is written a whole number of 57-byte lines at a time.
const LINE: usize = 57;

/// The AES-CBC ciphers this path handles, with their OID contents.
fn cbc(cipher: ContentCipher) -> Option<(&'static CipherRef, &'static [u8])> {
    match cipher {
        ContentCipher::Aes128Cbc => Some((
            fetched(0, "AES-128-CBC")?,
            &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02],
        )),
        ContentCipher::Aes192Cbc => Some((
            fetched(1, "AES-192-CBC")?,
            &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x16],
        )),
        ContentCipher::Aes256Cbc => Some((
            fetched(2, "AES-256-CBC")?,
            &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a],
        )),
        ContentCipher::Aes128Gcm | ContentCipher::Aes256Gcm => None,
    }
}

/// A cipher fetched from the provider once per process: initialising with the
/// crate's static ciphers fetches again on every message in OpenSSL 3.0.
fn fetched(slot: usize, name: &str) -> Option<&'static CipherRef> {
    static AES_CBC: [OnceLock<Option<Cipher>>; 3] = [const { OnceLock::new() }; 3];
    AES_CBC
        .get(slot)?
        .get_or_init(|| Cipher::fetch(None, name, None).ok())
        .as_deref()
}

/// Append base64 lines of EnvelopedData of `entity` to every recipient (AES-CBC,
/// RSA PKCS#1 v1.5) to `out`; `Ok(false)`, with nothing written, when the
/// cipher is not CBC or a recipient's key is not RSA.
pub(super) fn seal_base64(
    out: &mut Vec<u8>,
    entity: &[u8],
    recipients: &[X509],
    cipher: ContentCipher,
) -> Result<bool, SmimeError> {
    let Some((cipher, cipher_oid)) = cbc(cipher) else {
        return Ok(false);
    };
    let mut key = vec![0u8; cipher.key_length()];
    let mut iv = [0u8; 16];
    openssl::rand::rand_bytes(&mut key)?;
    openssl::rand::rand_bytes(&mut iv)?;
    let mut infos = Vec::with_capacity(recipients.len());
    for cert in recipients {
        match key_trans(cert, &key)? {
            Some(info) => infos.push(info),
            None => return Ok(false),
        }
    }
    // DER: a SET OF is ordered by the encodings of its elements.
    infos.sort();
    let recipient_infos = der::tlv(SET, &infos.concat());
    // PKCS#7 padding always adds 1 to 16 bytes.
    let ct_len = (entity.len() / 16 + 1) * 16;
    let content_alg = der::sequence(&[&der::tlv(OID, cipher_oid), &der::tlv(OCTET_STRING, &iv)]);
    let id_data = der::tlv(OID, ID_DATA);
    let ct_header = der::header(ENCRYPTED_CONTENT, ct_len);
    let eci_len = id_data.len() + content_alg.len() + ct_header.len() + ct_len;
    let eci_header = der::header(SEQUENCE, eci_len);
    let version = der::integer_u64(0);
    let env_len = version.len() + recipient_infos.len() + eci_header.len() + eci_len;
    let env_header = der::header(SEQUENCE, env_len);
    let explicit = der::header(0xa0, env_header.len() + env_len);
    let oid = der::tlv(OID, ENVELOPED_DATA);
    let total = oid.len() + explicit.len() + env_header.len() + env_len;
    let mut stage = [
        der::header(SEQUENCE, total),
        oid,
        explicit,
        env_header,
        version,
        recipient_infos,
        eci_header,
        id_data,
        content_alg,
        ct_header,
    ]
    .concat();
    out.reserve(mime::base64_lines_len(
        der::header(SEQUENCE, total).len() + total,
    ));
    stage.reserve(CHUNK + 2 * LINE + 16);
    let mut crypter = CipherCtx::new()?;
    crypter.encrypt_init(Some(cipher), Some(&key), Some(&iv))?;
    for chunk in entity.chunks(CHUNK) {
        let at = stage.len();
        stage.resize(at + chunk.len() + 16, 0);
        let n = crypter.cipher_update(chunk, stage.get_mut(at..))?;
        stage.truncate(at + n);
        let whole = stage.len() / LINE * LINE;
        mime::base64_lines_into(out, stage.get(..whole).unwrap_or_default());
        stage.drain(..whole);
    }
    let at = stage.len();
    stage.resize(at + 16, 0);
    let n = crypter.cipher_final(stage.get_mut(at..).unwrap_or_default())?;
    stage.truncate(at + n);
    mime::base64_lines_into(out, &stage);
    Ok(true)
}

/// KeyTransRecipientInfo { version 0, IssuerAndSerialNumber, rsaEncryption,
/// encryptedKey } for `cert`; `None` when its key is not RSA.
fn key_trans(cert: &X509Ref, content_key: &[u8]) -> Result<Option<Vec<u8>>, SmimeError> {
    let public = cert.public_key()?;
    if public.id() != Id::RSA {
        return Ok(None);
    }
    let encrypted = super::rsa::encrypt_pkcs1(&public, content_key)?;
    Ok(Some(der::sequence(&[
        &der::integer_u64(0),
        &issuer_and_serial_of(cert)?,
        &der::sequence(&[&der::tlv(OID, RSA_ENCRYPTION), &der::null()]),
        &der::tlv(OCTET_STRING, &encrypted),
    ])))
}

/// The plaintext of DER EnvelopedData for `cert`'s key, or `None` when it is
/// of another shape or does not decrypt (the caller then asks OpenSSL).
pub(super) fn open(der: &[u8], cert: &X509Ref, key: &PKeyRef<Private>) -> Option<Vec<u8>> {
    let parts = parse(der)?;
    let encrypted_key = parts
        .recipients
        .iter()
        .find_map(|r| recipient_key(*r, cert))?;
    if key.id() != Id::RSA {
        return None;
    }
    let content_key = super::rsa::decrypt_pkcs1(key, encrypted_key).ok()?;
    if content_key.len() != parts.cipher.key_length() {
        return None;
    }
    let mut crypter = CipherCtx::new().ok()?;
    crypter
        .decrypt_init(Some(parts.cipher), Some(&content_key), Some(parts.iv))
        .ok()?;
    let mut plain = vec![0u8; parts.ciphertext.len() + 16];
    let n = crypter
        .cipher_update(parts.ciphertext, Some(&mut plain))
        .ok()?;
    let m = crypter.cipher_final(plain.get_mut(n..)?).ok()?;
    plain.truncate(n + m);
    Some(plain)
}

/// What [`open`] reads from EnvelopedData.
struct Parts<'a> {
    recipients: Vec<Elem<'a>>,
    cipher: &'static CipherRef,
    iv: &'a [u8],
    ciphertext: &'a [u8],
}

/// ContentInfo { id-envelopedData, [0] EnvelopedData { version, recipientInfos,
/// encryptedContentInfo { id-data, AES-CBC with IV, [0] ciphertext },
/// unprotectedAttrs [1] OPTIONAL } }, definite lengths, no originatorInfo.
fn parse(der: &[u8]) -> Option<Parts<'_>> {
    let (info, _) = ber::read(der).ok()?;
    let [oid, explicit] = children(info, SEQUENCE)?.try_into().ok()?;
    if oid.tag != OID || oid.content != ENVELOPED_DATA {
        return None;
    }
    let [env] = children(explicit, 0xa0)?.try_into().ok()?;
    let kids = children(env, SEQUENCE)?;
    let [_version, infos, eci, rest @ ..] = kids.as_slice() else {
        return None;
    };
    if rest.iter().any(|e| e.tag != 0xa1) {
        return None;
    }
    let [content_type, alg, ciphertext] = children(*eci, SEQUENCE)?.try_into().ok()?;
    if content_type.tag != OID || ciphertext.tag != ENCRYPTED_CONTENT {
        return None;
    }
    let [alg_oid, iv] = children(alg, SEQUENCE)?.try_into().ok()?;
    let cipher = [
        ContentCipher::Aes128Cbc,
        ContentCipher::Aes192Cbc,
        ContentCipher::Aes256Cbc,
    ]
    .into_iter()
    .filter_map(cbc)
    .find(|(_, oid)| alg_oid.tag == OID && alg_oid.content == *oid)?
    .0;
    if iv.tag != OCTET_STRING || iv.content.len() != 16 {
        return None;
    }
    Some(Parts {
        recipients: children(*infos, SET)?,
        cipher,
        iv: iv.content,
        ciphertext: ciphertext.content,
    })
}

/// The children of a definite-length element that carries `tag`.
fn children(e: Elem<'_>, tag: u8) -> Option<Vec<Elem<'_>>> {
    if e.tag != tag || e.raw.get(1) == Some(&0x80) {
        return None;
    }
    e.children().ok()
}

/// The encryptedKey of a KeyTransRecipientInfo that names `cert` and uses
/// rsaEncryption.
fn recipient_key<'a>(info: Elem<'a>, cert: &X509Ref) -> Option<&'a [u8]> {
    let [_version, rid, alg, encrypted_key] = children(info, SEQUENCE)?.try_into().ok()?;
    let (alg_oid, _) = ber::algorithm(alg, "").ok()?;
    let rsa = ber::oid_string(RSA_ENCRYPTION).ok()?;
    let id = cms::cert_id(rid).ok()?;
    (alg_oid == rsa && encrypted_key.tag == OCTET_STRING && report::id_matches(&id, cert))
        .then_some(encrypted_key.content)
}
