//! Incoming: turn a received Direct message back into the plain message, only if
//! it is genuine and trusted. Decrypt with any private key of any local recipient
//! (CBC or GCM content, PKCS#1 v1.5 or OAEP key transport), refuse weak
//! algorithms, verify the signature, check that the signer's certificate binds
//! the From address (rfc822Name = the address, or dNSName = its domain) and allows
//! digital signatures, then build the path to an incoming anchor of each
//! recipient's domain (validity, revocation, AIA). The verdict is per recipient.

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use super::DirectAddress;
use super::policy::AlgorithmPolicy;
use super::smime::{self, EnvelopeInfo, SmimeError, mime};
use super::trust::{TrustFailure, Validator};
use crate::pki;

/// A private key a local recipient holds.
#[derive(Debug, Clone)]
pub struct LocalKey {
    /// Its certificate.
    pub cert: X509,
    /// The key.
    pub key: PKey<Private>,
}

/// A local recipient and its domain's incoming anchors.
#[derive(Debug, Clone)]
pub struct LocalRecipient {
    /// The address.
    pub address: DirectAddress,
    /// The incoming anchor set of its domain.
    pub anchors: Vec<X509>,
    /// The set's name for messages (`incoming anchors of d.org`).
    pub anchor_set: String,
}

/// A message that decrypted and whose signature verified.
#[derive(Debug)]
pub struct Opened {
    /// The inner RFC 5322 message (the message/rfc822 wrapper removed), CRLF.
    pub message: Vec<u8>,
    /// The sender's address from the inner From.
    pub from: Option<DirectAddress>,
    /// The signer's certificate.
    pub signer: X509,
    /// The envelope's algorithms and recipients.
    pub envelope: EnvelopeInfo,
    /// The signer's digest algorithm.
    pub digest: String,
    /// Per recipient: trusted, or the precise reason not.
    pub verdicts: Vec<(DirectAddress, Result<(), TrustFailure>)>,
}

impl Opened {
    /// True when every recipient trusts it.
    pub fn trusted_by_all(&self) -> bool {
        self.verdicts.iter().all(|(_, v)| v.is_ok())
    }
}

/// Why a message was refused for every recipient.
#[derive(Debug, thiserror::Error)]
pub enum IncomingError {
    /// Not a Direct message (not encrypted, or malformed).
    #[error("not a Direct message: {0}")]
    NotDirect(String),
    /// An algorithm the policy refuses.
    #[error("refused algorithm: {0}")]
    Algorithm(String),
    /// No local key opens it.
    #[error("cannot decrypt: {0}")]
    Decrypt(String),
    /// The decrypted content is not signed.
    #[error("the decrypted content is not signed: unsigned Direct messages are refused")]
    Unsigned,
    /// The signature does not verify (altered content, unknown signer).
    #[error("signature check failed: {0}")]
    Signature(String),
    /// The signer's certificate does not bind the sender or may not sign.
    #[error("{0}")]
    Signer(String),
}

/// Open a received message for `recipients`, trying each of `keys`.
pub async fn open(
    raw: &[u8],
    keys: &[LocalKey],
    recipients: &[LocalRecipient],
    validator: &Validator,
) -> Result<Opened, IncomingError> {
    let policy = validator.policy();
    // For a large message, decoding, decryption and the signature check run
    // with the worker's task queue handed off (`cpu::run_for`), as signing
    // does in `outgoing::prepare`.
    let (envelope, verified) = crate::cpu::run_for(raw.len(), || {
        // Decoded once: the envelope is read from the same DER that is decrypted.
        let enveloped =
            smime::Enveloped::load(raw).map_err(|e| IncomingError::NotDirect(e.to_string()))?;
        check_envelope(policy, enveloped.info())?;
        let decrypted = decrypt_any(&enveloped, keys)?;
        let envelope = enveloped.info().clone();
        drop(enveloped);
        if !smime::is_signed(&decrypted) {
            return Err(IncomingError::Unsigned);
        }
        // Cut out in place: a large message is not copied on its way out.
        let mut verified =
            smime::verify_owned(decrypted).map_err(|e| IncomingError::Signature(e.to_string()))?;
        // From here `content` is the message inside, in CRLF form.
        let message = smime::unwrap_rfc822_owned(std::mem::take(&mut verified.content));
        verified.content = if mime::needs_crlf(&message) {
            mime::to_crlf(&message)
        } else {
            message
        };
        Ok((envelope, verified))
    })?;
    let signer_summary = verified
        .signers
        .first()
        .ok_or_else(|| IncomingError::Signature("the SignedData has no signer".into()))?;
    policy
        .check_digest(&signer_summary.digest)
        .map_err(|why| IncomingError::Algorithm(format!("signer's {why}")))?;
    let signer = signer_summary.cert.clone().ok_or_else(|| {
        IncomingError::Signature("the signer's certificate is not in the message".into())
    })?;
    policy
        .check_certificate(&signer, false)
        .map_err(|why| IncomingError::Algorithm(format!("signer's certificate: {why}")))?;
    let digest = signer_summary.digest.clone();
    let certs = verified.certs;
    let message = verified.content;
    let from = sender(&message).or_else(|| sender(raw));
    check_signer(&signer, from.as_ref())?;
    let mut verdicts = Vec::with_capacity(recipients.len());
    for r in recipients {
        let verdict = validator
            .validate(&signer, &certs, &r.anchors, &r.anchor_set)
            .await
            .map(|_| ());
        verdicts.push((r.address.clone(), verdict));
    }
    Ok(Opened {
        message,
        from,
        signer,
        envelope,
        digest,
        verdicts,
    })
}

fn check_envelope(policy: &AlgorithmPolicy, env: &EnvelopeInfo) -> Result<(), IncomingError> {
    policy
        .check_content_cipher(&env.cipher)
        .map_err(IncomingError::Algorithm)?;
    for r in &env.recipients {
        policy
            .check_key_transport(&r.key_transport)
            .map_err(IncomingError::Algorithm)?;
    }
    Ok(())
}

/// Decrypt with the first key that works, preferring keys the envelope names.
fn decrypt_any(enveloped: &smime::Enveloped, keys: &[LocalKey]) -> Result<Vec<u8>, IncomingError> {
    let env = enveloped.info();
    if keys.is_empty() {
        return Err(IncomingError::Decrypt(
            "no local recipient holds a key".into(),
        ));
    }
    let named = |k: &LocalKey| {
        env.recipients
            .iter()
            .any(|r| r.serial_hex.eq_ignore_ascii_case(&pki::serial_hex(&k.cert)))
    };
    let mut ordered: Vec<&LocalKey> = keys.iter().filter(|k| named(k)).collect();
    ordered.extend(keys.iter().filter(|k| !named(k)));
    let mut last = String::new();
    for k in ordered {
        match enveloped.decrypt(&k.cert, &k.key) {
            Ok(d) => return Ok(d.entity),
            Err(SmimeError::Decrypt(why)) => last = why,
            Err(e) => last = e.to_string(),
        }
    }
    Err(IncomingError::Decrypt(format!(
        "none of our keys opens it (it is for {}): {last}",
        env.recipient_labels()
    )))
}

/// The From address of a message, if it parses.
pub fn sender(message: &[u8]) -> Option<DirectAddress> {
    let entity = mime::parse_entity(message)?;
    let from = entity.header("From")?;
    let addr = match (from.rfind('<'), from.rfind('>')) {
        (Some(l), Some(r)) if l < r => &from[l + 1..r],
        _ => from,
    };
    DirectAddress::parse(addr.trim()).ok()
}

fn check_signer(signer: &X509, from: Option<&DirectAddress>) -> Result<(), IncomingError> {
    // Named only when refused: formatting the subject costs more than the checks.
    let named = || {
        format!(
            "certificate '{}' (serial {})",
            super::trust::path::subject_line(signer),
            pki::serial_hex(signer)
        )
    };
    let from = from
        .ok_or_else(|| IncomingError::Signer("the message has no parsable From address".into()))?;
    if !super::outgoing::binds(signer, from) {
        return Err(IncomingError::Signer(format!(
            "{} failed the binding check: it names neither {from} (rfc822Name) nor {} (dNSName)",
            named(),
            from.domain()
        )));
    }
    let usage = super::outgoing::key_usage(signer).map_err(IncomingError::Signer)?;
    if usage.present && !usage.digital_signature {
        return Err(IncomingError::Signer(format!(
            "{} failed the key usage check: no digitalSignature",
            named()
        )));
    }
    Ok(())
}
