//! Checking a signature's cryptography: multipart/signed (RFC 1847, the signed
//! bytes kept exact, with a CRLF retry for LF-stored mail) and opaque signed-data.
//! Trust in the signer is not decided here.

use super::{
    PKCS7_MIME, PKCS7_SIGNATURE, SignerSummary, SmimeError, cms, load_pkcs7, mime, report, signed,
};
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::stack::Stack;
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// How many parsed certificates [`parse_cert`] keeps; cleared when full.
const MAX_PARSED_CERTS: usize = 1024;

/// A certificate from its DER, parsed once per process: OpenSSL 3.0 spends about
/// 150 µs decoding each RSA public key, and correspondents' signing
/// certificates repeat from message to message. Keyed by the SHA-256 of the
/// exact DER, so a hit is the certificate those very bytes parse to.
pub(super) fn parse_cert(der: &[u8]) -> Option<X509> {
    static PARSED: OnceLock<Mutex<HashMap<[u8; 32], X509>>> = OnceLock::new();
    let cache = PARSED.get_or_init(|| Mutex::new(HashMap::new()));
    let mut hasher = openssl::sha::Sha256::new();
    hasher.update(der);
    let key = hasher.finish();
    if let Some(hit) = cache.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Some(hit);
    }
    let cert = X509::from_der(der).ok()?;
    if let Ok(mut m) = cache.lock() {
        if m.len() >= MAX_PARSED_CERTS {
            m.clear();
        }
        m.insert(key, cert.clone());
    }
    Some(cert)
}

/// A signature whose cryptography holds (trust not yet decided).
#[derive(Debug, Clone)]
pub struct Verified {
    /// The signed entity, exactly the bytes the signature covers.
    pub content: Vec<u8>,
    /// Every signer, with algorithms and certificate.
    pub signers: Vec<SignerSummary>,
    /// Every certificate in the SignedData, for path building.
    pub certs: Vec<X509>,
    /// The `micalg` parameter of a multipart/signed entity.
    pub micalg: Option<String>,
    /// Whether the signature was detached (multipart/signed) rather than opaque.
    pub detached: bool,
}

/// Check a signed entity's signature cryptographically (not trust), with the
/// certificates the SignedData carries.
pub fn verify(signed_entity: &[u8]) -> Result<Verified, SmimeError> {
    verify_with_certs(signed_entity, &[])
}

/// [`verify`], also looking for the signer's certificate among `extra` (for
/// senders that leave it out and publish it in DNS or LDAP).
pub fn verify_with_certs(signed_entity: &[u8], extra: &[X509]) -> Result<Verified, SmimeError> {
    let (mut verified, content) = verify_parts(signed_entity, extra)?;
    verified.content = content.into_owned();
    Ok(verified)
}

/// [`verify`] of an entity the caller gives up: the signed content of a
/// multipart/signed entity is cut out of it in place rather than copied (a
/// 20 MiB message is not held twice).
pub fn verify_owned(mut signed_entity: Vec<u8>) -> Result<Verified, SmimeError> {
    let (mut verified, content) = verify_parts(&signed_entity, &[])?;
    match content {
        Cow::Borrowed(part) => {
            let range = mime::range_within(&signed_entity, part);
            match range {
                Some(range) => {
                    signed_entity.truncate(range.end);
                    signed_entity.drain(..range.start);
                    verified.content = signed_entity;
                }
                None => verified.content = part.to_vec(),
            }
        }
        Cow::Owned(content) => verified.content = content,
    }
    Ok(verified)
}

/// [`verify_with_certs`], with `content` left empty and the signed content
/// returned beside it: borrowed from `signed_entity` when it is the detached
/// part as it stands.
fn verify_parts<'a>(
    signed_entity: &'a [u8],
    extra: &[X509],
) -> Result<(Verified, Cow<'a, [u8]>), SmimeError> {
    let entity = mime::parse_entity(signed_entity)
        .ok_or_else(|| SmimeError::NotSmime("no MIME header block".into()))?;
    let ct = entity.content_type();
    if ct.is(PKCS7_MIME) {
        let (der, parsed) = load_pkcs7(signed_entity)?;
        let cms::Parsed::Signed(signed) = parsed else {
            return Err(SmimeError::NotSmime(
                "the pkcs7-mime entity is not signed-data (decrypt it first)".into(),
            ));
        };
        let (verified, content) = check(&der, &signed, None, extra)?;
        return Ok((verified, Cow::Owned(content.unwrap_or_default())));
    }
    if ct.mime != "multipart/signed" {
        return Err(SmimeError::NotSmime(format!(
            "Content-Type is {}, not multipart/signed or application/pkcs7-mime",
            ct.mime
        )));
    }
    if let Some(protocol) = ct.param("protocol")
        && !PKCS7_SIGNATURE.contains(&protocol.to_ascii_lowercase().as_str())
    {
        return Err(SmimeError::NotSmime(format!(
            "multipart/signed protocol is {protocol}, not application/pkcs7-signature"
        )));
    }
    let boundary = ct
        .param("boundary")
        .filter(|b| !b.is_empty())
        .ok_or_else(|| SmimeError::Malformed("multipart/signed has no boundary".into()))?;
    let parts = mime::split_multipart(entity.body, boundary).ok_or_else(|| {
        SmimeError::Malformed(format!("no part delimited by boundary \"{boundary}\""))
    })?;
    let [content, signature, ..] = parts.as_slice() else {
        return Err(SmimeError::Malformed(format!(
            "multipart/signed has {} part(s), not 2",
            parts.len()
        )));
    };
    let sig = mime::parse_entity(signature)
        .ok_or_else(|| SmimeError::Malformed("the signature part has no header block".into()))?;
    let sig_type = sig.content_type();
    if !sig_type.is(PKCS7_SIGNATURE) {
        return Err(SmimeError::Malformed(format!(
            "the second part is {}, not application/pkcs7-signature",
            sig_type.mime
        )));
    }
    let der = mime::decode_body(&sig)
        .ok_or_else(|| SmimeError::Malformed("the signature part is not base64".into()))?;
    let micalg = ct.param("micalg").map(str::to_string);
    if let Some((mut verified, _)) = own_check(&der, Some(content), extra) {
        verified.micalg = micalg;
        return Ok((verified, Cow::Borrowed(*content)));
    }
    let signed = match cms::parse(&der) {
        Ok(cms::Parsed::Signed(signed)) => signed,
        Ok(_) => {
            return Err(SmimeError::Malformed(
                "the signature is not SignedData".into(),
            ));
        }
        Err(e) => return Err(SmimeError::Malformed(format!("the signature's CMS: {e}"))),
    };
    let (mut verified, content) = match check(&der, &signed, Some(content), extra) {
        Ok((verified, _)) => (verified, Cow::Borrowed(*content)),
        // Stored with LF line ends? RFC 1847 signs the canonical CRLF form.
        Err(SmimeError::BadSignature(why)) if mime::has_bare_lf(content) => {
            let crlf = mime::to_crlf(content);
            let (verified, _) = check(&der, &signed, Some(&crlf), extra)
                .map_err(|_| SmimeError::BadSignature(why))?;
            (verified, Cow::Owned(crlf))
        }
        Err(e) => return Err(e),
    };
    verified.micalg = micalg;
    Ok((verified, content))
}

/// The signed content of an opaque SignedData (`None` for a detached one, whose
/// content the caller holds).
type Encapsulated = Option<Vec<u8>>;

/// Verify DER SignedData over `detached` content (or its own), then summarize;
/// `content` is left empty and an opaque signature's content returned beside.
fn check(
    der: &[u8],
    signed: &cms::Signed,
    detached: Option<&[u8]>,
    extra: &[X509],
) -> Result<(Verified, Encapsulated), SmimeError> {
    if signed.signers.is_empty() {
        return Err(SmimeError::NoSignature);
    }
    match (detached.is_some(), signed.has_content) {
        (true, true) => {
            return Err(SmimeError::Malformed(
                "the detached signature also carries content".into(),
            ));
        }
        (false, false) => {
            return Err(SmimeError::Malformed(
                "the signed-data carries no content (a detached signature alone)".into(),
            ));
        }
        _ => {}
    }
    if let Some(checked) = own_check(der, detached, extra) {
        return Ok(checked);
    }
    openssl_check(der, signed, detached, extra)
}

/// [`check`] by the own path (`signed::check`), which only ever accepts; its
/// shape checks imply [`check`]'s (one signer; content either detached or
/// encapsulated, not both).
fn own_check(
    der: &[u8],
    detached: Option<&[u8]>,
    extra: &[X509],
) -> Option<(Verified, Encapsulated)> {
    if openssl_only() {
        return None;
    }
    let fast = signed::check(der, detached, extra, parse_cert)?;
    // `fast.signer` is the one certificate the identifier names: report it.
    let signer = report::signer(&fast.info, std::iter::once(&fast.signer));
    let verified = Verified {
        content: Vec::new(),
        signers: vec![signer],
        certs: fast.certs,
        micalg: None,
        detached: detached.is_some(),
    };
    Some((verified, detached.is_none().then(|| fast.content.to_vec())))
}

#[cfg(test)]
thread_local! {
    /// Tests set it to run [`check`] through OpenSSL alone, to compare the paths.
    pub(super) static OPENSSL_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether [`check`] must skip its own path (only ever in tests).
fn openssl_only() -> bool {
    #[cfg(test)]
    if OPENSSL_ONLY.with(std::cell::Cell::get) {
        return true;
    }
    false
}

/// [`check`] by OpenSSL's `CMS_verify`: every shape the own path leaves alone,
/// and every refusal.
pub(super) fn openssl_check(
    der: &[u8],
    signed: &cms::Signed,
    detached: Option<&[u8]>,
    extra: &[X509],
) -> Result<(Verified, Encapsulated), SmimeError> {
    let mut cms = CmsContentInfo::from_der(der)
        .map_err(|e| SmimeError::Malformed(format!("OpenSSL cannot read the CMS: {e}")))?;
    let store = X509StoreBuilder::new()?.build();
    let mut extra_stack = Stack::new()?;
    for cert in extra {
        extra_stack.push(cert.clone())?;
    }
    let mut out = Vec::new();
    let flags = CMSOptions::NO_SIGNER_CERT_VERIFY | CMSOptions::BINARY;
    cms.verify(
        Some(&extra_stack),
        Some(&store),
        detached,
        Some(&mut out),
        flags,
    )
    .map_err(|e| report::verify_error(&e))?;
    let certs: Vec<X509> = signed
        .certs
        .iter()
        .filter_map(|der| parse_cert(der))
        .collect();
    let signers = signed
        .signers
        .iter()
        .map(|s| report::signer(s, certs.iter().chain(extra)))
        .collect();
    let verified = Verified {
        content: Vec::new(),
        signers,
        certs,
        micalg: None,
        detached: detached.is_some(),
    };
    Ok((verified, detached.is_none().then_some(out)))
}
