//! SignedData written and checked by hand for the one shape Direct uses, so that
//! OpenSSL's CMS code is not asked to decode the embedded certificates of every
//! message (OpenSSL 3.0 spends about 150 µs on each RSA certificate inside
//! `d2i_CMS_ContentInfo`), and the signer's certificate and chain are not
//! re-encoded per message.
//!
//! - [`build`] writes detached SHA-256 RSA PKCS#1 v1.5 SignedData with signed
//!   attributes (contentType, signingTime, messageDigest, smimeCapabilities), as
//!   `CmsContentInfo::sign` does.
//! - [`check`] verifies exactly one RSA PKCS#1 v1.5 signer with signed
//!   attributes (RFC 5652 §5.4, §11), definite lengths only. It only ever
//!   *accepts*: for anything else (BER indefinite lengths, no signed
//!   attributes, several signers, PSS or EC keys, an unknown or MD5 digest, an
//!   ambiguous signer certificate, or any failed check) it answers `None` and
//!   the caller runs OpenSSL's `CMS_verify`, which then decides and words the
//!   refusal. A bad signature therefore costs one extra verify, and every error
//!   text stays OpenSSL's.

use super::ber::{self, Elem, OCTET_STRING, OID, SEQUENCE, SET};
use super::{SmimeError, cms, names, report};
use crate::pki::der;
use openssl::md::{Md, MdRef};
use openssl::pkey::{HasPublic, Id, PKeyRef, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::sha;
use openssl::x509::{X509, X509Ref};
use std::sync::{Arc, Mutex, OnceLock};

/// OBJECT IDENTIFIER contents (tag and length left out).
const SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
const ID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
const CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
const MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
const SIGNING_TIME: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05];
const SMIME_CAPABILITIES: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0f];
pub(super) const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
/// aes-256-cbc, aes-192-cbc, aes-128-cbc: what we can decrypt, best first.
const CAPABILITIES: [&[u8]; 3] = [
    &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a],
    &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x16],
    &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02],
];

/// A signer whose certificate DER, IssuerAndSerialNumber and de-duplicated
/// chain DER are encoded once, to sign many messages.
#[derive(Debug, Clone)]
pub struct SignerDer {
    /// The `certificates` field's content: the signer's DER, then each chain
    /// certificate not already present.
    certs: Vec<u8>,
    /// IssuerAndSerialNumber of the signer, exact bytes from its certificate.
    issuer_serial: Vec<u8>,
}

impl SignerDer {
    /// Encode `signer` and `chain` (duplicates of the signer or of each other
    /// are left out).
    pub fn new(signer: &X509Ref, chain: &[X509]) -> Result<Self, SmimeError> {
        let signer_der = signer.to_der()?;
        let issuer_serial = issuer_and_serial(&signer_der)?;
        let mut seen = vec![signer_der];
        for cert in chain {
            let der = cert.to_der()?;
            if !seen.contains(&der) {
                seen.push(der);
            }
        }
        Ok(Self {
            certs: seen.concat(),
            issuer_serial,
        })
    }
}

/// How many signers' encodings [`SignerDer::cached`] keeps.
const KEPT_SIGNERS: usize = 8;

impl SignerDer {
    /// [`SignerDer::new`], remembered for the last few signers: re-encoding a
    /// certificate costs about 9 µs in OpenSSL 3.0, and a gateway signs with
    /// the same few. An entry is used only for certificates equal to the ones
    /// it was made from (`X509_cmp`: fingerprint, then the encoded TBS).
    pub fn cached(signer: &X509Ref, chain: &[X509]) -> Result<Arc<Self>, SmimeError> {
        type Kept = Mutex<Vec<(Vec<X509>, Arc<SignerDer>)>>;
        static KEPT: OnceLock<Kept> = OnceLock::new();
        let kept = KEPT.get_or_init(|| Mutex::new(Vec::new()));
        let same = |certs: &[X509]| {
            certs.len() == 1 + chain.len()
                && certs.first().is_some_and(|c| c.as_ref() == signer)
                && certs.iter().skip(1).zip(chain).all(|(a, b)| a == b)
        };
        if let Some(hit) = kept.lock().ok().and_then(|k| {
            k.iter()
                .find(|(certs, _)| same(certs))
                .map(|(_, d)| d.clone())
        }) {
            return Ok(hit);
        }
        let made = Arc::new(Self::new(signer, chain)?);
        if let Ok(mut k) = kept.lock() {
            if k.len() >= KEPT_SIGNERS {
                k.remove(0);
            }
            let certs = std::iter::once(signer.to_owned()).chain(chain.iter().cloned());
            k.push((certs.collect(), made.clone()));
        }
        Ok(made)
    }
}

/// IssuerAndSerialNumber of a certificate without re-encoding it: the issuer
/// Name's kept encoding and the serial (minimal, as OpenSSL requires of
/// what it parses); from the DER when the serial is negative.
pub(super) fn issuer_and_serial_of(cert: &X509Ref) -> Result<Vec<u8>, SmimeError> {
    let serial = cert.serial_number().to_bn()?;
    if serial.is_negative() {
        return issuer_and_serial(&cert.to_der()?);
    }
    let issuer = cert.issuer_name().to_der()?;
    Ok(der::sequence(&[
        &issuer,
        &der::integer_unsigned(&serial.to_vec()),
    ]))
}

/// IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber INTEGER },
/// copied from a certificate's DER.
pub(super) fn issuer_and_serial(cert_der: &[u8]) -> Result<Vec<u8>, SmimeError> {
    let bad = |e: ber::BerError| SmimeError::Malformed(format!("certificate: {e}"));
    let (cert, _) = ber::read(cert_der).map_err(bad)?;
    let (tbs, _) = ber::read(cert.content).map_err(bad)?;
    let kids = tbs.children().map_err(bad)?;
    let fields: Vec<&Elem<'_>> = kids.iter().skip_while(|e| e.tag == 0xa0).collect();
    let [serial, _sig_alg, issuer, ..] = fields.as_slice() else {
        return Err(SmimeError::Malformed(
            "certificate: short TBSCertificate".into(),
        ));
    };
    Ok(der::sequence(&[issuer.raw, serial.raw]))
}

/// Detached SignedData over `content` (SHA-256, RSA PKCS#1 v1.5), signed at
/// `now` (Unix seconds); `None` when `key` is not RSA (the caller then uses
/// OpenSSL's CMS code).
pub fn build(
    content: &[u8],
    signer: &SignerDer,
    key: &PKeyRef<Private>,
    now: i64,
) -> Result<Option<Vec<u8>>, SmimeError> {
    if key.id() != Id::RSA {
        return Ok(None);
    }
    let digest = Digest::Sha256.of(&[content]);
    let caps: Vec<Vec<u8>> = CAPABILITIES
        .iter()
        .map(|oid| der::sequence(&[&der::tlv(OID, oid)]))
        .collect();
    let caps: Vec<&[u8]> = caps.iter().map(Vec::as_slice).collect();
    let time = der::time(now).map_err(|e| SmimeError::Malformed(e.to_string()))?;
    let mut attrs = [
        attribute(CONTENT_TYPE, &der::tlv(OID, ID_DATA)),
        attribute(SIGNING_TIME, &time),
        attribute(MESSAGE_DIGEST, &der::tlv(OCTET_STRING, &digest)),
        attribute(SMIME_CAPABILITIES, &der::sequence(&caps)),
    ];
    // DER: a SET OF is ordered by the encodings of its elements.
    attrs.sort();
    let attrs = attrs.concat();
    // The signature covers the attributes' DER with an explicit SET tag (§5.4).
    let mut hasher = sha::Sha256::new();
    hasher.update(&der::header(SET, attrs.len()));
    hasher.update(&attrs);
    let signature = super::rsa::sign_sha256(key, &hasher.finish())?;
    let sha256 = der::sequence(&[&der::tlv(OID, SHA256)]);
    let signer_info = der::sequence(&[
        &der::integer_u64(1),
        &signer.issuer_serial,
        &sha256,
        &der::context(0, true, &attrs),
        &der::sequence(&[&der::tlv(OID, RSA_ENCRYPTION), &der::null()]),
        &der::tlv(OCTET_STRING, &signature),
    ]);
    let signed_data = der::sequence(&[
        &der::integer_u64(1),
        &der::tlv(SET, &sha256),
        &der::sequence(&[&der::tlv(OID, ID_DATA)]),
        &der::context(0, true, &signer.certs),
        &der::tlv(SET, &signer_info),
    ]);
    Ok(Some(der::sequence(&[
        &der::tlv(OID, SIGNED_DATA),
        &der::context(0, true, &signed_data),
    ])))
}

/// Whether `signature` is `key`'s RSA PKCS#1 v1.5 signature of `digest`.
fn rsa_verifies<T: HasPublic>(
    key: &PKeyRef<T>,
    md: &MdRef,
    digest: &[u8],
    signature: &[u8],
) -> bool {
    let verify = || -> Result<bool, openssl::error::ErrorStack> {
        let mut ctx = PkeyCtx::new(key)?;
        ctx.verify_init()?;
        ctx.set_rsa_padding(Padding::PKCS1)?;
        ctx.set_signature_md(md)?;
        ctx.verify(digest, signature)
    };
    verify().unwrap_or(false)
}

/// Attribute ::= SEQUENCE { attrType OID, attrValues SET OF value } with one value.
fn attribute(oid: &[u8], value: &[u8]) -> Vec<u8> {
    der::sequence(&[&der::tlv(OID, oid), &der::tlv(SET, value)])
}

/// What [`check`] found when the signature holds.
#[derive(Debug)]
pub(super) struct Checked<'a> {
    /// The one SignerInfo: identifier and algorithms.
    pub info: cms::Signer,
    /// The one certificate the signer identifier names, whose key verified.
    pub signer: X509,
    /// Every certificate the SignedData carries, parsed (through the cache).
    pub certs: Vec<X509>,
    /// The signed content: the detached content, or the eContent.
    pub content: &'a [u8],
}

/// Verify DER SignedData with one RSA PKCS#1 v1.5 signer over `detached`
/// content (or its own eContent); `None` when it does not hold or is of any
/// other shape, so that OpenSSL decides. `parse` turns certificate DER into a
/// certificate (the process-wide cache).
pub(super) fn check<'a>(
    der: &'a [u8],
    detached: Option<&'a [u8]>,
    extra: &[X509],
    parse: impl Fn(&[u8]) -> Option<X509>,
) -> Option<Checked<'a>> {
    let body = signed_data(der)?;
    let kids = children(body)?;
    let [_version, _digests, encap, rest @ ..] = kids.as_slice() else {
        return None;
    };
    let (content_type, content) = encapsulated(*encap, detached)?;
    let mut cert_ders: Vec<&[u8]> = Vec::new();
    let mut infos = None;
    for field in rest {
        match field.tag {
            0xa0 => cert_ders = certificates(*field)?,
            0xa1 => {}
            SET if infos.is_none() => infos = Some(*field),
            _ => return None,
        }
    }
    let [info] = children(infos?)?.try_into().ok()?;
    let signer = signer_info(info)?;
    let digest = digest_for(&signer.digest_oid, &signer.signature_oid)?;
    attributes_hold(signer.attrs, content_type, &digest.of(&[content]))?;
    let certs = cert_ders
        .iter()
        .map(|d| parse(d))
        .collect::<Option<Vec<X509>>>()?;
    let cert = the_signer_cert(&signer.id, &certs, extra)?;
    signature_holds(&cert, digest, signer.attrs, signer.signature)?;
    Some(Checked {
        info: cms::Signer {
            id: signer.id,
            digest_oid: signer.digest_oid,
            signature_oid: signer.signature_oid,
        },
        signer: cert,
        certs,
        content,
    })
}

/// Whether an element has a definite length (DER); only those are read here.
fn definite(e: &Elem<'_>) -> bool {
    e.raw.get(1) != Some(&0x80)
}

/// The children of a definite-length constructed element.
fn children<'a>(e: Elem<'a>) -> Option<Vec<Elem<'a>>> {
    if !definite(&e) {
        return None;
    }
    let kids = e.children().ok()?;
    kids.iter().all(definite).then_some(kids)
}

/// ContentInfo { id-signedData, [0] EXPLICIT SignedData }: the SignedData.
fn signed_data(der: &[u8]) -> Option<Elem<'_>> {
    let (info, _) = ber::read(der).ok()?;
    let [oid, content] = children(info.expect(SEQUENCE, "").ok()?)?.try_into().ok()?;
    if oid.tag != OID || oid.content != SIGNED_DATA || content.tag != 0xa0 {
        return None;
    }
    let [body] = children(content)?.try_into().ok()?;
    (body.tag == SEQUENCE).then_some(body)
}

/// EncapsulatedContentInfo: the eContentType's OID content and the signed
/// content (the detached one, or a primitive eContent OCTET STRING).
fn encapsulated<'a>(encap: Elem<'a>, detached: Option<&'a [u8]>) -> Option<(&'a [u8], &'a [u8])> {
    if encap.tag != SEQUENCE {
        return None;
    }
    let kids = children(encap)?;
    match (kids.as_slice(), detached) {
        ([oid], Some(content)) if oid.tag == OID => Some((oid.content, content)),
        ([oid, explicit], None) if oid.tag == OID && explicit.tag == 0xa0 => {
            let [octets] = children(*explicit)?.try_into().ok()?;
            (octets.tag == OCTET_STRING).then_some((oid.content, octets.content))
        }
        _ => None,
    }
}

/// The certificates field: every choice must be a plain Certificate.
fn certificates(field: Elem<'_>) -> Option<Vec<&[u8]>> {
    let kids = children(field)?;
    kids.iter()
        .map(|c| (c.tag == SEQUENCE).then_some(c.raw))
        .collect()
}

/// The parts of a SignerInfo this path reads.
struct SignerParts<'a> {
    id: cms::CertId,
    digest_oid: String,
    signature_oid: String,
    /// The `[0] IMPLICIT` signedAttrs element, whole.
    attrs: Elem<'a>,
    signature: &'a [u8],
}

/// SignerInfo { version, sid, digestAlgorithm, [0] signedAttrs,
/// signatureAlgorithm, signature } with no unsignedAttrs.
fn signer_info(info: Elem<'_>) -> Option<SignerParts<'_>> {
    if info.tag != SEQUENCE {
        return None;
    }
    let [_version, sid, digest, attrs, sig_alg, signature] = children(info)?.try_into().ok()?;
    if attrs.tag != 0xa0 || signature.tag != OCTET_STRING {
        return None;
    }
    Some(SignerParts {
        id: cms::cert_id(sid).ok()?,
        digest_oid: plain_algorithm(digest)?,
        signature_oid: plain_algorithm(sig_alg)?,
        attrs,
        signature: signature.content,
    })
}

/// An AlgorithmIdentifier's OID when its parameters are absent or NULL.
fn plain_algorithm(alg: Elem<'_>) -> Option<String> {
    let (oid, params) = ber::algorithm(alg, "").ok()?;
    params.is_none_or(|p| p.raw == [0x05, 0x00]).then_some(oid)
}

/// A digest the own path computes, through OpenSSL's one-shot functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Digest {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Digest {
    /// The digest of the concatenated `parts`.
    fn of(self, parts: &[&[u8]]) -> Vec<u8> {
        macro_rules! run {
            ($hasher:expr) => {{
                let mut h = $hasher;
                for part in parts {
                    h.update(part);
                }
                h.finish().to_vec()
            }};
        }
        match self {
            Self::Sha1 => run!(sha::Sha1::new()),
            Self::Sha224 => run!(sha::Sha224::new()),
            Self::Sha256 => run!(sha::Sha256::new()),
            Self::Sha384 => run!(sha::Sha384::new()),
            Self::Sha512 => run!(sha::Sha512::new()),
        }
    }

    fn md(self) -> &'static MdRef {
        match self {
            Self::Sha1 => Md::sha1(),
            Self::Sha224 => Md::sha224(),
            Self::Sha256 => Md::sha256(),
            Self::Sha384 => Md::sha384(),
            Self::Sha512 => Md::sha512(),
        }
    }
}

/// The digest of an RSA PKCS#1 v1.5 signer: signatureAlgorithm is
/// rsaEncryption or the `shaNWithRSAEncryption` of the same digest.
fn digest_for(digest_oid: &str, signature_oid: &str) -> Option<Digest> {
    let (digest, with_rsa) = match names::digest(digest_oid).as_str() {
        "sha1" => (Digest::Sha1, "sha1WithRSAEncryption"),
        "sha224" => (Digest::Sha224, "sha224WithRSAEncryption"),
        "sha256" => (Digest::Sha256, "sha256WithRSAEncryption"),
        "sha384" => (Digest::Sha384, "sha384WithRSAEncryption"),
        "sha512" => (Digest::Sha512, "sha512WithRSAEncryption"),
        _ => return None,
    };
    let signature = names::signature(signature_oid);
    (signature == "rsaEncryption" || signature == with_rsa).then_some(digest)
}

/// The signed attributes (RFC 5652 §11.1, §11.2): each type at most once with
/// exactly one value; contentType equal to the eContentType; messageDigest
/// equal to `digest` of the content.
fn attributes_hold(attrs: Elem<'_>, content_type: &[u8], digest: &[u8]) -> Option<()> {
    let mut seen: Vec<&[u8]> = Vec::new();
    let (mut type_ok, mut digest_ok) = (false, false);
    for attr in children(attrs)? {
        let [oid, values] = children(attr.expect(SEQUENCE, "").ok()?)?.try_into().ok()?;
        let [value] = children(values.expect(SET, "").ok()?)?.try_into().ok()?;
        if oid.tag != OID || seen.contains(&oid.content) {
            return None;
        }
        seen.push(oid.content);
        match oid.content {
            CONTENT_TYPE => type_ok = value.tag == OID && value.content == content_type,
            MESSAGE_DIGEST => digest_ok = value.tag == OCTET_STRING && value.content == digest,
            _ => {}
        }
    }
    (type_ok && digest_ok).then_some(())
}

/// The one certificate, among the SignedData's and `extra`, that the signer
/// identifier names; `None` when none does or two different ones do.
fn the_signer_cert(id: &cms::CertId, certs: &[X509], extra: &[X509]) -> Option<X509> {
    let mut found: Option<&X509> = None;
    for cert in certs.iter().chain(extra) {
        if !report::id_matches(id, cert) {
            continue;
        }
        match found {
            None => found = Some(cert),
            Some(first) if first.to_der().ok()? == cert.to_der().ok()? => {}
            Some(_) => return None,
        }
    }
    found.cloned()
}

/// Whether `cert`'s RSA key signed the signed attributes: the signature is over
/// their DER with the `[0]` tag replaced by SET (RFC 5652 §5.4).
fn signature_holds(cert: &X509, digest: Digest, attrs: Elem<'_>, signature: &[u8]) -> Option<()> {
    let key = cert.public_key().ok()?;
    if key.id() != Id::RSA {
        return None;
    }
    let signed = digest.of(&[&[SET], attrs.raw.get(1..)?]);
    let holds = match digest {
        Digest::Sha256 => super::rsa::verify_sha256(&key, &signed, signature),
        _ => rsa_verifies(&key, digest.md(), &signed, signature),
    };
    holds.then_some(())
}
