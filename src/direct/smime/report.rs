//! The summaries S/MIME hands to policy and logs: [`EnvelopeInfo`] and
//! [`SignerSummary`] built from the parsed CMS, certificate matching by
//! IssuerAndSerialNumber or subjectKeyIdentifier, and OpenSSL errors as one line.

use super::{SmimeError, cms, names};
use openssl::error::ErrorStack;
use openssl::pkey::Id;
use openssl::x509::{X509, X509Name, X509NameRef, X509Ref};
use std::cmp::Ordering;

/// The envelope of an encrypted message, read without decrypting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeInfo {
    /// `"enveloped-data"` or `"auth-enveloped-data"`.
    pub content_type: String,
    /// The content cipher: "aes-256-cbc", "aes-128-gcm", "des-ede3-cbc", "rc2-cbc",
    /// ... or the dotted OID when unknown.
    pub cipher: String,
    /// The content cipher's dotted OID.
    pub cipher_oid: String,
    /// Every RecipientInfo, in order.
    pub recipients: Vec<RecipientInfoSummary>,
}

impl EnvelopeInfo {
    /// The recipients as `issuer serial X` labels joined by `; ` (for errors).
    pub fn recipient_labels(&self) -> String {
        if self.recipients.is_empty() {
            return "no recipient".into();
        }
        self.recipients
            .iter()
            .map(RecipientInfoSummary::label)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// One recipient of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientInfoSummary {
    /// The certificate issuer as `CN=..., O=...`; empty when named by key id.
    pub issuer: String,
    /// The certificate serial in uppercase hex; empty when named by key id.
    pub serial_hex: String,
    /// The subjectKeyIdentifier in lowercase hex, when named that way.
    pub key_id_hex: Option<String>,
    /// "rsa-pkcs1v15", "rsa-oaep-sha256", "rsa-oaep-sha1", "key-agreement", ...
    pub key_transport: String,
    /// The keyEncryptionAlgorithm's dotted OID (a word for non-key-transport kinds).
    pub key_transport_oid: String,
}

impl RecipientInfoSummary {
    fn label(&self) -> String {
        match &self.key_id_hex {
            Some(id) => format!("key id {id}"),
            None if self.issuer.is_empty() => self.key_transport.clone(),
            None => format!("{} serial {}", self.issuer, self.serial_hex),
        }
    }
}

/// One signer of a verified message.
#[derive(Debug, Clone)]
pub struct SignerSummary {
    /// The signer's certificate, found among the SignedData's (or given) ones.
    pub cert: Option<X509>,
    /// The digest: "sha256", "sha1", "md5", ... or the dotted OID.
    pub digest: String,
    /// The digest's dotted OID.
    pub digest_oid: String,
    /// The signature algorithm: "rsaEncryption", "sha256WithRSAEncryption", ...
    pub signature: String,
    /// The signature algorithm's dotted OID.
    pub signature_oid: String,
    /// The signer certificate's issuer as `CN=..., O=...`.
    pub issuer: String,
    /// The signer certificate's serial in uppercase hex.
    pub serial_hex: String,
    /// The signer certificate's RSA modulus size, when it has an RSA key.
    pub rsa_bits: Option<u32>,
}

/// Summarize a parsed envelope.
pub(super) fn envelope(env: &cms::Envelope) -> EnvelopeInfo {
    EnvelopeInfo {
        content_type: if env.authenticated {
            "auth-enveloped-data"
        } else {
            "enveloped-data"
        }
        .into(),
        cipher: names::cipher(&env.cipher_oid),
        cipher_oid: env.cipher_oid.clone(),
        recipients: env
            .recipients
            .iter()
            .map(|r| RecipientInfoSummary {
                issuer: name_string(&r.id.issuer_der),
                serial_hex: serial_hex(&r.id.serial),
                key_id_hex: (!r.id.key_id.is_empty()).then(|| hex(&r.id.key_id)),
                key_transport: names::key_transport(&r.alg_oid, r.oaep.as_ref()),
                key_transport_oid: r.alg_oid.clone(),
            })
            .collect(),
    }
}

/// Summarize a signer, finding its certificate among `certs`.
pub(super) fn signer<'a>(
    s: &cms::Signer,
    mut certs: impl Iterator<Item = &'a X509>,
) -> SignerSummary {
    let cert = certs.find(|c| id_matches(&s.id, c)).cloned();
    let (issuer, serial) = match &cert {
        Some(c) if s.id.issuer_der.is_empty() => (
            name_of(c.issuer_name()),
            c.serial_number()
                .to_bn()
                .map(|bn| bn.to_vec())
                .unwrap_or_default(),
        ),
        // The certificate's own issuer name, already decoded: the one the
        // identifier matched.
        Some(c) => (name_of(c.issuer_name()), s.id.serial.clone()),
        None => (name_string(&s.id.issuer_der), s.id.serial.clone()),
    };
    let rsa_bits = cert
        .as_ref()
        .and_then(|c| c.public_key().ok())
        .filter(|k| k.id() == Id::RSA)
        .map(|k| k.bits());
    SignerSummary {
        cert,
        digest: names::digest(&s.digest_oid),
        digest_oid: s.digest_oid.clone(),
        signature: names::signature(&s.signature_oid),
        signature_oid: s.signature_oid.clone(),
        issuer,
        serial_hex: serial_hex(&serial),
        rsa_bits,
    }
}

/// Whether a recipient or signer identifier names `cert`.
pub(super) fn id_matches(id: &cms::CertId, cert: &X509Ref) -> bool {
    if !id.key_id.is_empty() {
        return cert
            .subject_key_id()
            .is_some_and(|ski| ski.as_slice() == id.key_id.as_slice());
    }
    let Ok(bn) = cert.serial_number().to_bn() else {
        return false;
    };
    if strip_zeros(&bn.to_vec()) != strip_zeros(&id.serial) {
        return false;
    }
    if cert
        .issuer_name()
        .to_der()
        .is_ok_and(|der| der == id.issuer_der)
    {
        return true;
    }
    X509Name::from_der(&id.issuer_der)
        .ok()
        .and_then(|name| name.try_cmp(cert.issuer_name()).ok())
        == Some(Ordering::Equal)
}

/// `SUBJECT (issuer ISSUER serial X)` for a certificate (for errors).
pub(super) fn cert_label(cert: &X509Ref) -> String {
    let serial = cert
        .serial_number()
        .to_bn()
        .map(|bn| bn.to_vec())
        .unwrap_or_default();
    format!(
        "{} (issuer {} serial {})",
        name_of(cert.subject_name()),
        name_of(cert.issuer_name()),
        serial_hex(&serial)
    )
}

/// OpenSSL's reasons, one line.
pub(super) fn reasons(e: &ErrorStack) -> String {
    let list: Vec<String> = e
        .errors()
        .iter()
        .map(|err| {
            err.reason()
                .map_or_else(|| format!("error {:x}", err.code()), str::to_string)
        })
        .collect();
    if list.is_empty() {
        "unknown OpenSSL error".into()
    } else {
        list.join(", ")
    }
}

/// Classify a failed CMS_verify.
pub(super) fn verify_error(e: &ErrorStack) -> SmimeError {
    let why = reasons(e);
    if why.contains("signer certificate not found") {
        SmimeError::UnknownSigner(why)
    } else if why.contains("verification failure") || why.contains("digest") {
        SmimeError::BadSignature(format!(
            "the content was altered or the signature is forged: its digest does not \
             match the signed one (OpenSSL: {why})"
        ))
    } else {
        SmimeError::BadSignature(why)
    }
}

/// A DER Name as `CN=Jo Smith, O=Example`; empty for no bytes.
fn name_string(der: &[u8]) -> String {
    if der.is_empty() {
        return String::new();
    }
    X509Name::from_der(der).map_or_else(
        |_| format!("(unreadable name {})", hex(der)),
        |n| name_of(&n),
    )
}

/// A name as `CN=Jo Smith, O=Example`, RFC 4514 specials escaped.
fn name_of(name: &X509NameRef) -> String {
    let mut parts = Vec::new();
    for entry in name.entries() {
        let key = entry
            .object()
            .nid()
            .short_name()
            .map_or_else(|_| entry.object().to_string(), str::to_string);
        let value = entry
            .data()
            .to_string()
            .unwrap_or_else(|_| hex(entry.data().as_slice()));
        let mut escaped = String::with_capacity(value.len());
        for c in value.chars() {
            if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        parts.push(format!("{key}={escaped}"));
    }
    parts.join(", ")
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes.get(skip..).unwrap_or_default()
}

/// INTEGER content as OpenSSL prints a serial: uppercase hex, no leading zero
/// bytes, "0" for zero.
fn serial_hex(bytes: &[u8]) -> String {
    let digits = strip_zeros(bytes);
    if digits.is_empty() {
        return if bytes.is_empty() {
            String::new()
        } else {
            "0".into()
        };
    }
    digits.iter().map(|b| format!("{b:02X}")).collect()
}

use crate::store::seal::hex_encode as hex;
