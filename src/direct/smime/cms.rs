//! Reads the parts of a CMS ContentInfo (RFC 5652, RFC 5083) that policy needs and
//! the `openssl` crate does not expose: the content-encryption algorithm, each
//! recipient's identifier and key-transport algorithm, each signer's identifier,
//! digest and signature algorithms, and the certificates a SignedData carries.

use super::ber::{self, BerError, Elem, INTEGER, OCTET_STRING, OID, SEQUENCE, SET};

/// id-signedData.
pub const SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
/// id-envelopedData.
pub const ENVELOPED_DATA: &str = "1.2.840.113549.1.7.3";
/// id-ct-authEnvelopedData.
pub const AUTH_ENVELOPED_DATA: &str = "1.2.840.113549.1.9.16.1.23";

/// How a recipient or signer names its certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertId {
    /// DER of the issuer Name, for IssuerAndSerialNumber.
    pub issuer_der: Vec<u8>,
    /// The serial's INTEGER content bytes, for IssuerAndSerialNumber.
    pub serial: Vec<u8>,
    /// The subjectKeyIdentifier, for the `[0]` choice.
    pub key_id: Vec<u8>,
}

/// One RecipientInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// Which certificate the encrypted key is for (key transport only).
    pub id: CertId,
    /// The keyEncryptionAlgorithm OID, or a word for non-KTRI kinds.
    pub alg_oid: String,
    /// OAEP: (hash OID, MGF1 hash OID), defaults filled in (SHA-1).
    pub oaep: Option<(String, String)>,
}

/// The outer layer of an EnvelopedData or AuthEnvelopedData.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Whether it is AuthEnvelopedData.
    pub authenticated: bool,
    /// contentEncryptionAlgorithm.
    pub cipher_oid: String,
    /// Every RecipientInfo in order.
    pub recipients: Vec<Recipient>,
}

/// One SignerInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// Which certificate signed.
    pub id: CertId,
    /// digestAlgorithm.
    pub digest_oid: String,
    /// signatureAlgorithm.
    pub signature_oid: String,
}

/// The outer layer of a SignedData.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// Whether eContent is present (opaque signing).
    pub has_content: bool,
    /// DER of every certificate in `certificates`, other choices skipped.
    pub certs: Vec<Vec<u8>>,
    /// Every SignerInfo in order.
    pub signers: Vec<Signer>,
}

/// A ContentInfo of a kind S/MIME uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// EnvelopedData or AuthEnvelopedData.
    Envelope(Envelope),
    /// SignedData.
    Signed(Signed),
    /// Anything else, by content-type OID.
    Other(String),
}

/// Read a ContentInfo.
pub fn parse(input: &[u8]) -> Result<Parsed, BerError> {
    let (info, _) = ber::read(input)?;
    let info = info.expect(SEQUENCE, "ContentInfo")?;
    let kids = info.children()?;
    let [oid, content, ..] = kids.as_slice() else {
        return Err(BerError("ContentInfo lacks its content".into()));
    };
    let oid = ber::oid_string(oid.expect(OID, "ContentInfo type")?.content)?;
    let content = content.expect(0xa0, "ContentInfo content")?;
    let (body, _) = ber::read(content.content)?;
    let body = body.expect(SEQUENCE, "ContentInfo content")?;
    match oid.as_str() {
        ENVELOPED_DATA => envelope(body, false).map(Parsed::Envelope),
        AUTH_ENVELOPED_DATA => envelope(body, true).map(Parsed::Envelope),
        SIGNED_DATA => signed(body).map(Parsed::Signed),
        _ => Ok(Parsed::Other(oid)),
    }
}

/// EnvelopedData ::= SEQUENCE { version, originatorInfo [0] OPTIONAL,
/// recipientInfos SET, encryptedContentInfo, ... } (AuthEnvelopedData alike).
fn envelope(body: Elem<'_>, authenticated: bool) -> Result<Envelope, BerError> {
    let kids = body.children()?;
    let mut rest = kids.iter().skip(1).skip_while(|e| e.tag == 0xa0);
    let infos = rest
        .next()
        .ok_or_else(|| BerError("EnvelopedData lacks recipientInfos".into()))?
        .expect(SET, "recipientInfos")?;
    let eci = rest
        .next()
        .ok_or_else(|| BerError("EnvelopedData lacks encryptedContentInfo".into()))?
        .expect(SEQUENCE, "encryptedContentInfo")?;
    let eci_kids = eci.children()?;
    let alg = eci_kids
        .get(1)
        .ok_or_else(|| BerError("encryptedContentInfo lacks its algorithm".into()))?;
    let (cipher_oid, _) = ber::algorithm(*alg, "contentEncryptionAlgorithm")?;
    let recipients = infos
        .children()?
        .into_iter()
        .map(recipient)
        .collect::<Result<_, _>>()?;
    Ok(Envelope {
        authenticated,
        cipher_oid,
        recipients,
    })
}

/// KeyTransRecipientInfo ::= SEQUENCE { version, rid, keyEncryptionAlgorithm,
/// encryptedKey }; the other RecipientInfo choices are only named.
fn recipient(info: Elem<'_>) -> Result<Recipient, BerError> {
    let other = |word: &str| Recipient {
        id: CertId::default(),
        alg_oid: word.to_string(),
        oaep: None,
    };
    match info.tag {
        SEQUENCE => {}
        0xa1 => return Ok(other("key-agreement")),
        0xa2 => return Ok(other("kek")),
        0xa3 => return Ok(other("password")),
        _ => return Ok(other("other")),
    }
    let kids = info.children()?;
    let [_version, rid, alg, ..] = kids.as_slice() else {
        return Err(BerError("KeyTransRecipientInfo is short".into()));
    };
    let id = cert_id(*rid)?;
    let (alg_oid, params) = ber::algorithm(*alg, "keyEncryptionAlgorithm")?;
    let oaep = if alg_oid == super::names::RSAES_OAEP {
        Some(oaep_params(params)?)
    } else {
        None
    };
    Ok(Recipient { id, alg_oid, oaep })
}

/// RSAES-OAEP-params (RFC 4055): hashFunc [0] and maskGenFunc [1], SHA-1 by default.
fn oaep_params(params: Option<Elem<'_>>) -> Result<(String, String), BerError> {
    let mut hash = super::names::SHA1.to_string();
    let mut mgf_hash = super::names::SHA1.to_string();
    let Some(params) = params.filter(|p| p.tag == SEQUENCE) else {
        return Ok((hash, mgf_hash));
    };
    for field in params.children()? {
        match field.tag {
            0xa0 => hash = ber::algorithm(ber::read(field.content)?.0, "OAEP hash")?.0,
            0xa1 => {
                let (_mgf, inner) = ber::algorithm(ber::read(field.content)?.0, "OAEP MGF")?;
                if let Some(inner) = inner {
                    mgf_hash = ber::algorithm(inner, "MGF1 hash")?.0;
                }
            }
            _ => {}
        }
    }
    Ok((hash, mgf_hash))
}

/// IssuerAndSerialNumber, or `[0] SubjectKeyIdentifier`.
pub(super) fn cert_id(rid: Elem<'_>) -> Result<CertId, BerError> {
    match rid.tag {
        SEQUENCE => {
            let (issuer, rest) = ber::read(rid.content)?;
            let issuer = issuer.expect(SEQUENCE, "issuer")?;
            let (serial, _) = ber::read(rest)?;
            let serial = serial.expect(INTEGER, "serialNumber")?;
            Ok(CertId {
                issuer_der: issuer.raw.to_vec(),
                serial: serial.content.to_vec(),
                key_id: Vec::new(),
            })
        }
        0x80 => Ok(CertId {
            key_id: rid.content.to_vec(),
            ..CertId::default()
        }),
        tag => Err(BerError(format!("unknown identifier choice 0x{tag:02x}"))),
    }
}

/// SignedData ::= SEQUENCE { version, digestAlgorithms SET, encapContentInfo,
/// certificates [0] IMPLICIT OPTIONAL, crls [1] IMPLICIT OPTIONAL, signerInfos SET }
fn signed(body: Elem<'_>) -> Result<Signed, BerError> {
    let kids = body.children()?;
    let encap = kids
        .get(2)
        .ok_or_else(|| BerError("SignedData lacks encapContentInfo".into()))?
        .expect(SEQUENCE, "encapContentInfo")?;
    let has_content = encap.children()?.len() > 1;
    let mut certs = Vec::new();
    let mut infos = None;
    for field in kids.iter().skip(3) {
        match field.tag {
            0xa0 => {
                certs = field
                    .children()?
                    .into_iter()
                    .filter(|c| c.tag == SEQUENCE)
                    .map(|c| c.raw.to_vec())
                    .collect()
            }
            SET => infos = Some(*field),
            _ => {}
        }
    }
    let infos = infos.ok_or_else(|| BerError("SignedData lacks signerInfos".into()))?;
    let signers = infos
        .children()?
        .into_iter()
        .map(signer)
        .collect::<Result<_, _>>()?;
    Ok(Signed {
        has_content,
        certs,
        signers,
    })
}

/// SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm, signedAttrs [0]
/// OPTIONAL, signatureAlgorithm, signature, ... }
fn signer(info: Elem<'_>) -> Result<Signer, BerError> {
    let info = info.expect(SEQUENCE, "SignerInfo")?;
    let kids = info.children()?;
    let [_version, sid, digest, rest @ ..] = kids.as_slice() else {
        return Err(BerError("SignerInfo is short".into()));
    };
    let id = cert_id(*sid)?;
    let (digest_oid, _) = ber::algorithm(*digest, "digestAlgorithm")?;
    let sig = rest
        .iter()
        .find(|e| e.tag == SEQUENCE)
        .ok_or_else(|| BerError("SignerInfo lacks signatureAlgorithm".into()))?;
    let (signature_oid, _) = ber::algorithm(*sig, "signatureAlgorithm")?;
    if !rest.iter().any(|e| e.tag == OCTET_STRING || e.tag == 0x24) {
        return Err(BerError("SignerInfo lacks its signature".into()));
    }
    Ok(Signer {
        id,
        digest_oid,
        signature_oid,
    })
}
