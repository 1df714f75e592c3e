//! S/MIME for Direct (Applicability Statement 1.2 §§3–5): it owns wrapping a
//! message as `message/rfc822`, signing it as `multipart/signed` (SHA-256, signer
//! certificate and chain included), encrypting that as `application/pkcs7-mime`
//! enveloped-data, and the reverse: decrypting, checking a signature's
//! cryptography (not trust: the trust code decides that from [`Verified::certs`]),
//! and reporting every algorithm used so policy can refuse weak ones.
//!
//! Everything written is CRLF throughout. Everything read may come from an
//! attacker: no input panics.
//!
//! # Layout
//! - `mime`: header blocks, multipart splitting, base64, CRLF.
//! - `ber`: a panic-free BER reader; `cms`: the CMS fields policy needs.
//! - `names`: algorithm OIDs and their names.
//! - `algs`: [`ContentCipher`], [`KeyTransport`].
//! - `verify`: [`verify`] and [`Verified`].
//! - `signed`: SignedData written and checked by hand for the shape Direct uses
//!   (OpenSSL's CMS code for every other shape and every refusal).
//! - `enveloped`: AES-CBC + PKCS#1 v1.5 EnvelopedData, written streaming into
//!   base64 and opened from the DER (OpenSSL's CMS code for the rest).
//! - `rsa`: RSA operations through contexts kept per thread.
//! - `report`: the summaries ([`EnvelopeInfo`], [`SignerSummary`]).

mod algs;
mod ber;
mod cms;
mod enveloped;
pub mod mime;
mod names;
mod report;
mod rsa;
mod signed;
mod verify;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod interop_tests;
#[cfg(test)]
mod own_path_tests;
#[cfg(test)]
mod tests;

pub use algs::{ContentCipher, KeyTransport};
pub use report::{EnvelopeInfo, RecipientInfoSummary, SignerSummary};
pub use signed::SignerDer;
pub use verify::{Verified, verify, verify_owned, verify_with_certs};

use crate::clock::Clock;
use crate::direct::ffi;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKeyRef, Private};
use openssl::stack::Stack;
use openssl::x509::{X509, X509Ref};

/// Why an S/MIME operation failed. Each message is one line naming what was found.
#[derive(Debug, thiserror::Error)]
pub enum SmimeError {
    /// The entity is not of the S/MIME kind the operation needs.
    #[error("not S/MIME: {0}")]
    NotSmime(String),
    /// The entity claims S/MIME but its MIME or CMS structure is broken.
    #[error("malformed S/MIME: {0}")]
    Malformed(String),
    /// No recipient fits the certificate, the key is wrong, or the data is damaged.
    #[error("cannot decrypt: {0}")]
    Decrypt(String),
    /// The signature or the content digest does not verify.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// The SignedData has no SignerInfo.
    #[error("the signed data carries no signature")]
    NoSignature,
    /// The signer's certificate is neither in the message nor given.
    #[error("the signer's certificate is not in the message ({0})")]
    UnknownSigner(String),
    /// Encryption asked for with no recipient.
    #[error("no recipient certificate to encrypt to")]
    NoRecipients,
    /// A cipher or key-transport name that is not known.
    #[error("unknown algorithm '{0}'")]
    UnknownAlgorithm(String),
    /// OpenSSL failed while building a message.
    #[error("OpenSSL: {0}")]
    OpenSsl(#[from] ErrorStack),
}

/// A decrypted message: the inner entity and how it was protected.
#[derive(Debug, Clone)]
pub struct Decrypted {
    /// The entity that was encrypted (for Direct, the multipart/signed entity).
    pub entity: Vec<u8>,
    /// The algorithms and recipients of the envelope.
    pub envelope: EnvelopeInfo,
}

/// The MIME types of an S/MIME body and signature.
const PKCS7_MIME: &[&str] = &["application/pkcs7-mime", "application/x-pkcs7-mime"];
const PKCS7_SIGNATURE: &[&str] = &[
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
];

/// Wrap an RFC 5322 message as the Direct inner entity: `Content-Type:
/// message/rfc822`, a blank line, and the message with CRLF line ends.
pub fn wrap_rfc822(message: &[u8]) -> Vec<u8> {
    let mut out = b"Content-Type: message/rfc822\r\n\r\n".to_vec();
    let body = mime::crlf(message);
    out.reserve_exact(body.len());
    out.extend_from_slice(&body);
    out
}

/// The inner RFC 5322 message of a `message/rfc822` entity.
pub fn unwrap_rfc822(entity: &[u8]) -> Option<Vec<u8>> {
    let parsed = mime::parse_entity(entity)?;
    (parsed.content_type().mime == "message/rfc822").then(|| parsed.body.to_vec())
}

/// [`unwrap_rfc822`] of an entity the caller gives up, cut out in place; the
/// entity itself when it is not `message/rfc822`.
pub fn unwrap_rfc822_owned(mut entity: Vec<u8>) -> Vec<u8> {
    let body = mime::parse_entity(&entity)
        .filter(|parsed| parsed.content_type().mime == "message/rfc822")
        .and_then(|parsed| mime::range_within(&entity, parsed.body));
    if let Some(range) = body {
        entity.truncate(range.end);
        entity.drain(..range.start);
    }
    entity
}

/// Sign `entity` (line ends made CRLF first) as a `multipart/signed` entity:
/// detached SignedData, SHA-256, with the signer's certificate and `chain`.
pub fn sign(
    entity: &[u8],
    signer: &X509Ref,
    key: &PKeyRef<Private>,
    chain: &[X509],
) -> Result<Vec<u8>, SmimeError> {
    let content = mime::crlf(entity);
    let now = crate::clock::SystemClock.now();
    let (der, micalg) = match signed::build(
        &content,
        SignerDer::cached(signer, chain)?.as_ref(),
        key,
        now,
    )? {
        Some(der) => (der, "sha-256".to_string()),
        None => openssl_sign(&content, signer, key, chain)?,
    };
    let boundary = boundary_for(&content)?;
    let header = format!(
        "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; \
         micalg={micalg}; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n"
    );
    // One allocation: header, content, the signature part (base64 grows 4/3,
    // plus CRLFs) and the delimiters.
    let mut out = Vec::with_capacity(header.len() + content.len() + der.len() / 57 * 78 + 78 + 512);
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&content);
    out.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n\
             Content-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment; filename=smime.p7s\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(&mime::base64_lines(&der));
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Ok(out)
}

/// Detached SignedData made by OpenSSL's CMS code (keys other than RSA), and
/// the `micalg` of the digest it chose.
fn openssl_sign(
    content: &[u8],
    signer: &X509Ref,
    key: &PKeyRef<Private>,
    chain: &[X509],
) -> Result<(Vec<u8>, String), SmimeError> {
    let mut seen = vec![signer.to_der()?];
    let mut certs = Stack::new()?;
    for cert in chain {
        let der = cert.to_der()?;
        if !seen.contains(&der) {
            seen.push(der);
            certs.push(cert.clone())?;
        }
    }
    let flags = CMSOptions::DETACHED | CMSOptions::BINARY;
    let cms = CmsContentInfo::sign(Some(signer), Some(key), Some(&certs), Some(content), flags)?;
    let der = cms.to_der()?;
    let micalg = match cms::parse(&der) {
        Ok(cms::Parsed::Signed(s)) => s.signers.first().map(|s| names::micalg(&s.digest_oid)),
        _ => None,
    }
    .unwrap_or_else(|| "sha-256".into());
    Ok((der, micalg))
}

/// A random boundary that does not occur in `content`.
fn boundary_for(content: &[u8]) -> Result<String, SmimeError> {
    for _ in 0..8 {
        let mut random = [0u8; 16];
        openssl::rand::rand_bytes(&mut random)?;
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let boundary = format!("----=_hisp_{hex}");
        if !at_line_start(content, &boundary) {
            return Ok(boundary);
        }
    }
    Err(SmimeError::Malformed(
        "no boundary could be found that the content does not contain".into(),
    ))
}

/// Whether a line of `content` starts with `boundary` or `--boundary`. A
/// delimiter counts only at the start of a line (RFC 2046 §5.1.1), so only line
/// starts are searched; both strings start with `-`, so only lines that do are
/// compared, found a block at a time by a scan that vectorizes.
fn at_line_start(content: &[u8], boundary: &str) -> bool {
    const BLOCK: usize = 4096;
    let delimiter = format!("--{boundary}");
    let hit = |at: usize| {
        content.get(at..).is_some_and(|line| {
            line.starts_with(boundary.as_bytes()) || line.starts_with(delimiter.as_bytes())
        })
    };
    if !boundary.starts_with('-') {
        return hit(0)
            || content
                .iter()
                .enumerate()
                .any(|(i, b)| *b == b'\n' && hit(i + 1));
    }
    if hit(0) {
        return true;
    }
    let next = content.get(1..).unwrap_or_default();
    content
        .chunks(BLOCK)
        .zip(next.chunks(BLOCK))
        .enumerate()
        .any(|(block, (p, c))| {
            let dash_line = |(&p, &c): (&u8, &u8)| (p == b'\n') & (c == b'-');
            p.iter().zip(c).fold(false, |f, pair| f | dash_line(pair))
                && p.iter()
                    .zip(c)
                    .enumerate()
                    .any(|(i, pair)| dash_line(pair) && hit(block * BLOCK + i + 1))
        })
}

/// Encrypt `entity` to every recipient as an `application/pkcs7-mime` entity
/// (enveloped-data; authEnveloped-data for GCM), base64 in CRLF lines.
pub fn encrypt(
    entity: &[u8],
    recipients: &[X509],
    cipher: ContentCipher,
    transport: KeyTransport,
) -> Result<Vec<u8>, SmimeError> {
    let mut out = Vec::new();
    encrypt_into(&mut out, entity, recipients, cipher, transport)?;
    Ok(out)
}

/// [`encrypt`], appending the entity to `out` (for a caller that writes outer
/// headers first, so the base64 is not copied again).
pub fn encrypt_into(
    out: &mut Vec<u8>,
    entity: &[u8],
    recipients: &[X509],
    cipher: ContentCipher,
    transport: KeyTransport,
) -> Result<(), SmimeError> {
    if recipients.is_empty() {
        return Err(SmimeError::NoRecipients);
    }
    let smime_type = if cipher.is_aead() {
        "authEnveloped-data"
    } else {
        "enveloped-data"
    };
    let start = out.len();
    out.extend_from_slice(
        format!(
            "Content-Type: application/pkcs7-mime; smime-type={smime_type}; name=smime.p7m\r\n\
             Content-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment; filename=smime.p7m\r\n\r\n"
        )
        .as_bytes(),
    );
    let sealed = match transport {
        KeyTransport::Pkcs1v15 => enveloped::seal_base64(out, entity, recipients, cipher),
        KeyTransport::RsaOaepSha256 => Ok(false),
    };
    let der = match sealed {
        Ok(true) => return Ok(()),
        Ok(false) => openssl_encrypt(entity, recipients, cipher, transport),
        Err(e) => Err(e),
    };
    match der {
        Ok(der) => {
            mime::base64_lines_into(out, &der);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// EnvelopedData (or AuthEnvelopedData) DER made by OpenSSL's CMS code: OAEP,
/// GCM, and keys other than RSA.
fn openssl_encrypt(
    entity: &[u8],
    recipients: &[X509],
    cipher: ContentCipher,
    transport: KeyTransport,
) -> Result<Vec<u8>, SmimeError> {
    Ok(match transport {
        KeyTransport::Pkcs1v15 => {
            let mut certs = Stack::new()?;
            for cert in recipients {
                certs.push(cert.clone())?;
            }
            CmsContentInfo::encrypt(&certs, entity, cipher.openssl(), CMSOptions::BINARY)?
                .to_der()?
        }
        KeyTransport::RsaOaepSha256 => {
            let refs: Vec<&X509Ref> = recipients.iter().map(|c| c.as_ref()).collect();
            ffi::cms_encrypt_oaep(
                &refs,
                entity,
                cipher.openssl(),
                MessageDigest::sha256(),
                CMSOptions::BINARY,
            )?
        }
    })
}

/// An `application/pkcs7-mime` entity (or whole message) decoded and parsed.
fn load_pkcs7(input: &[u8]) -> Result<(Vec<u8>, cms::Parsed), SmimeError> {
    let entity = mime::parse_entity(input)
        .ok_or_else(|| SmimeError::NotSmime("no MIME header block".into()))?;
    let ct = entity.content_type();
    if !ct.is(PKCS7_MIME) {
        return Err(SmimeError::NotSmime(format!(
            "Content-Type is {}, not application/pkcs7-mime",
            ct.mime
        )));
    }
    let der = mime::decode_body(&entity)
        .ok_or_else(|| SmimeError::Malformed("the pkcs7-mime body is not base64".into()))?;
    let parsed =
        cms::parse(&der).map_err(|e| SmimeError::Malformed(format!("CMS ContentInfo: {e}")))?;
    Ok((der, parsed))
}

/// An enveloped-data entity decoded once: its DER, its parsed envelope and the
/// summary, so reading the envelope and decrypting share one base64 decode.
#[derive(Debug, Clone)]
pub struct Enveloped {
    der: Vec<u8>,
    env: cms::Envelope,
    info: EnvelopeInfo,
}

impl Enveloped {
    /// Decode and parse a message or entity; the errors of [`envelope_info`].
    pub fn load(message_or_entity: &[u8]) -> Result<Self, SmimeError> {
        let (der, parsed) = load_pkcs7(message_or_entity)?;
        match parsed {
            cms::Parsed::Envelope(env) => Ok(Self {
                info: report::envelope(&env),
                der,
                env,
            }),
            cms::Parsed::Signed(_) => Err(SmimeError::NotSmime(
                "the pkcs7-mime entity is signed-data, not enveloped-data".into(),
            )),
            cms::Parsed::Other(oid) => Err(SmimeError::NotSmime(format!(
                "the pkcs7-mime entity holds CMS content type {oid}, not enveloped-data"
            ))),
        }
    }

    /// The envelope's algorithms and recipients.
    pub fn info(&self) -> &EnvelopeInfo {
        &self.info
    }

    /// [`decrypt`] of the loaded envelope.
    pub fn decrypt(&self, cert: &X509Ref, key: &PKeyRef<Private>) -> Result<Decrypted, SmimeError> {
        decrypt_envelope(&self.der, &self.env, &self.info, cert, key)
    }
}

/// The envelope of a message or entity, read without decrypting.
pub fn envelope_info(message_or_entity: &[u8]) -> Result<EnvelopeInfo, SmimeError> {
    let (_, parsed) = load_pkcs7(message_or_entity)?;
    match parsed {
        cms::Parsed::Envelope(env) => Ok(report::envelope(&env)),
        cms::Parsed::Signed(_) => Err(SmimeError::NotSmime(
            "the pkcs7-mime entity is signed-data, not enveloped-data".into(),
        )),
        cms::Parsed::Other(oid) => Err(SmimeError::NotSmime(format!(
            "the pkcs7-mime entity holds CMS content type {oid}, not enveloped-data"
        ))),
    }
}

/// Decrypt a message or entity with one recipient's certificate and key.
pub fn decrypt(
    message_or_entity: &[u8],
    cert: &X509Ref,
    key: &PKeyRef<Private>,
) -> Result<Decrypted, SmimeError> {
    let (der, parsed) = load_pkcs7(message_or_entity)?;
    let cms::Parsed::Envelope(env) = parsed else {
        return Err(SmimeError::NotSmime(
            "the pkcs7-mime entity is not enveloped-data".into(),
        ));
    };
    decrypt_envelope(&der, &env, &report::envelope(&env), cert, key)
}

/// Decrypt parsed enveloped-data `der` (`env` is its parse, `envelope` its
/// summary).
fn decrypt_envelope(
    der: &[u8],
    env: &cms::Envelope,
    envelope: &EnvelopeInfo,
    cert: &X509Ref,
    key: &PKeyRef<Private>,
) -> Result<Decrypted, SmimeError> {
    if !env
        .recipients
        .iter()
        .any(|r| report::id_matches(&r.id, cert))
    {
        let mine = report::cert_label(cert);
        return Err(SmimeError::Decrypt(format!(
            "no recipient matches certificate {mine}; the message is for {}",
            envelope.recipient_labels()
        )));
    }
    if !env.authenticated
        && let Some(entity) = enveloped::open(der, cert, key)
    {
        return Ok(Decrypted {
            entity,
            envelope: envelope.clone(),
        });
    }
    let cms = CmsContentInfo::from_der(der)
        .map_err(|e| SmimeError::Malformed(format!("OpenSSL cannot read the CMS: {e}")))?;
    let entity = cms.decrypt(key, &cert.to_owned()).map_err(|e| {
        SmimeError::Decrypt(format!(
            "{} with {} failed (wrong key or damaged data): {}",
            envelope.cipher,
            envelope
                .recipients
                .first()
                .map_or("", |r| r.key_transport.as_str()),
            report::reasons(&e)
        ))
    })?;
    Ok(Decrypted {
        entity,
        envelope: envelope.clone(),
    })
}

/// Whether an entity (or message) is S/MIME enveloped-data or authEnveloped-data.
pub fn is_encrypted(entity: &[u8]) -> bool {
    smime_kind(entity).is_some_and(|k| k == Kind::Encrypted)
}

/// Whether an entity (or message) is multipart/signed S/MIME or opaque signed-data.
pub fn is_signed(entity: &[u8]) -> bool {
    smime_kind(entity).is_some_and(|k| k == Kind::Signed)
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Encrypted,
    Signed,
}

fn smime_kind(input: &[u8]) -> Option<Kind> {
    let entity = mime::parse_entity(input)?;
    let ct = entity.content_type();
    if ct.mime == "multipart/signed" {
        let protocol = ct.param("protocol")?.to_ascii_lowercase();
        return PKCS7_SIGNATURE
            .contains(&protocol.as_str())
            .then_some(Kind::Signed);
    }
    if !ct.is(PKCS7_MIME) {
        return None;
    }
    match ct
        .param("smime-type")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("enveloped-data" | "authenveloped-data") => Some(Kind::Encrypted),
        Some("signed-data") => Some(Kind::Signed),
        Some(_) => None,
        None => match load_pkcs7(input).ok()?.1 {
            cms::Parsed::Envelope(_) => Some(Kind::Encrypted),
            cms::Parsed::Signed(_) => Some(Kind::Signed),
            cms::Parsed::Other(_) => None,
        },
    }
}

#[cfg(test)]
mod boundary_tests {
    use super::at_line_start;

    #[test]
    fn finds_the_boundary_only_at_line_starts() {
        let b = "----=_hisp_ab";
        assert!(at_line_start(b"----=_hisp_ab", b));
        assert!(at_line_start(b"------=_hisp_ab\r\n", b));
        assert!(!at_line_start(b"x----=_hisp_ab", b));
        assert!(!at_line_start(b"", b));
        for pad in [0, 1, 4094, 4095, 4096, 4097, 9000] {
            let mut text = vec![b'x'; pad];
            text.extend_from_slice(b"\n------=_hisp_ab--\r\n");
            assert!(at_line_start(&text, b), "{pad}");
            let mut text = vec![b'x'; pad];
            text.extend_from_slice(b"\n-----=_hisp_a\r\n -\n");
            assert!(!at_line_start(&text, b), "{pad}");
        }
        assert!(at_line_start(b"a\n=_x", "=_x"));
        assert!(!at_line_start(b"a=_x", "=_x"));
    }
}
