//! Outgoing: turn a plain RFC 5322 message into one Direct message per trusted
//! recipient. AS 1.2: wrap the whole message as message/rfc822 (From, To,
//! Subject, Message-ID, Date and MIME-Version copied to the outer message), sign
//! with the sender's digitalSignature certificate (detached, SHA-256), then
//! encrypt, per recipient, to every valid keyEncipherment certificate that chains
//! to an outgoing anchor. Trust is per recipient: an untrusted recipient is
//! dropped with the DSN status and the exact cause (5.7.31 when no usable
//! certificate exists, 5.7.11 when one exists but no path leads to our anchors);
//! the others still get the message.

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use super::smime::{self, ContentCipher, KeyTransport, SmimeError, mime};
use super::trust::Validator;
use super::{DirectAddress, Domain};
use crate::pki::{self, Subject};

/// The headers copied from the original to the outer message (AS 1.2 §3).
/// MIME-Version is always written as 1.0 (the only version there is).
const COPIED: &[&str] = &["From", "To", "Cc", "Subject", "Message-ID", "Date"];

/// DSN status: the recipient has no certificate, so the message cannot be secured.
pub const NO_CERTIFICATE: &str = "5.7.31";
/// DSN status: the recipient has certificates, but none is trusted.
pub const NOT_TRUSTED: &str = "5.7.11";

/// Who signs.
#[derive(Debug)]
pub struct Signer<'a> {
    /// A digitalSignature certificate binding the sender (address-bound first, else org-bound).
    pub cert: &'a X509,
    /// Its key.
    pub key: &'a PKey<Private>,
    /// Intermediates (and our CA) to include in the SignedData.
    pub chain: &'a [X509],
}

/// One recipient and the certificates found for it.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// The address.
    pub address: DirectAddress,
    /// Every certificate discovery found (valid or not).
    pub certs: Vec<X509>,
    /// Content encryption for this recipient's domain.
    pub cipher: ContentCipher,
    /// Key transport for this recipient's domain.
    pub transport: KeyTransport,
}

/// What happened for one recipient.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The Direct message to send to this recipient.
    Encrypted {
        /// The recipient.
        address: DirectAddress,
        /// The whole outer RFC 5322 message, CRLF.
        message: Vec<u8>,
        /// How many certificates it was encrypted to.
        cert_count: usize,
    },
    /// Not sent: why, and the DSN status to report.
    Rejected {
        /// The recipient.
        address: DirectAddress,
        /// 5.7.31 or 5.7.11.
        status: &'static str,
        /// The exact cause, naming certificates and checks.
        cause: String,
    },
}

/// Why a message could not be prepared at all.
#[derive(Debug, thiserror::Error)]
pub enum OutgoingError {
    /// The message is not an RFC 5322 message.
    #[error("the message is not RFC 5322: {0}")]
    Malformed(String),
    /// Signing or encryption failed.
    #[error(transparent)]
    Smime(#[from] SmimeError),
}

/// Sign once, then encrypt per recipient.
pub async fn prepare(
    message: &[u8],
    signer: &Signer<'_>,
    recipients: &[Recipient],
    outgoing_anchors: &[X509],
    anchor_set: &str,
    validator: &Validator,
) -> Result<Vec<Outcome>, OutgoingError> {
    let copied = {
        // Borrowed unless the message has bare CR or LF; dropped once the
        // headers are copied (wrap_rfc822 makes its own CRLF form).
        let crlf = mime::crlf(message);
        let entity = mime::parse_entity(&crlf)
            .ok_or_else(|| OutgoingError::Malformed("no header block".into()))?;
        if entity.header("From").is_none() {
            return Err(OutgoingError::Malformed("it has no From header".into()));
        }
        entity
            .headers
            .iter()
            .filter(|(n, _)| COPIED.iter().any(|c| c.eq_ignore_ascii_case(n)))
            .cloned()
            .collect::<Vec<(String, String)>>()
    };
    // For a large message the signature and each encryption run with the
    // worker's task queue handed to another thread (`cpu::run_for`): they
    // would hold up the other connections' tasks for up to 100 ms otherwise.
    let signed = crate::cpu::run_for(message.len(), || {
        let wrapped = smime::wrap_rfc822(message);
        smime::sign(&wrapped, signer.cert, signer.key, signer.chain)
    })?;
    let mut out = Vec::with_capacity(recipients.len());
    for r in recipients {
        let (usable, rejected) = usable_certs(r, outgoing_anchors, anchor_set, validator).await;
        if usable.is_empty() {
            out.push(rejection(r, &rejected));
            continue;
        }
        let mut message = outer_headers(&copied);
        crate::cpu::run_for(signed.len(), || {
            smime::encrypt_into(&mut message, &signed, &usable, r.cipher, r.transport)
        })?;
        out.push(Outcome::Encrypted {
            address: r.address.clone(),
            message,
            cert_count: usable.len(),
        });
    }
    Ok(out)
}

/// Why a certificate cannot carry a message to a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    /// The certificate, the failed check and what was found.
    pub reason: String,
    /// True when the certificate is sound but no path leads to one of our
    /// anchors (a trust question: 5.7.11); false when it is unusable in itself
    /// (expired, revoked, wrong name, wrong key usage: 5.7.31).
    pub untrusted: bool,
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// The recipient's certificates that bind it, allow key encipherment and are
/// trusted; and the reasons the others were dropped.
async fn usable_certs(
    r: &Recipient,
    anchors: &[X509],
    anchor_set: &str,
    validator: &Validator,
) -> (Vec<X509>, Vec<Unusable>) {
    let mut usable = Vec::new();
    let mut reasons = Vec::new();
    for cert in &r.certs {
        match check_recipient_cert(cert, &r.address, anchors, anchor_set, validator).await {
            Ok(()) => usable.push(cert.clone()),
            Err(why) => reasons.push(why),
        }
    }
    (usable, reasons)
}

/// Why `cert` cannot be used to encrypt to `address`, if it cannot.
pub async fn check_recipient_cert(
    cert: &X509,
    address: &DirectAddress,
    anchors: &[X509],
    anchor_set: &str,
    validator: &Validator,
) -> Result<(), Unusable> {
    // Named only when refused: formatting the subject costs more than the checks.
    let named = || {
        format!(
            "certificate '{}' (serial {})",
            super::trust::path::subject_line(cert),
            pki::serial_hex(cert)
        )
    };
    let unusable = |reason: String| Unusable {
        reason,
        untrusted: false,
    };
    if !binds(cert, address) {
        return Err(unusable(format!(
            "{} failed the binding check: it names neither {address} (rfc822Name) nor {} (dNSName)",
            named(),
            address.domain()
        )));
    }
    let usage = key_usage(cert).map_err(|e| unusable(format!("{} is unreadable: {e}", named())))?;
    if usage.present && !usage.key_encipherment {
        return Err(unusable(format!(
            "{} failed the key usage check: no keyEncipherment",
            named()
        )));
    }
    validator
        .validate(cert, &[], anchors, anchor_set)
        .await
        .map(|_| ())
        .map_err(|f| Unusable {
            untrusted: matches!(f.check, "path" | "anchors"),
            reason: f.to_string(),
        })
}

/// The keyUsage extension alone (what [`pki::info`] reports as `key_usage`,
/// without decoding names and dates per message): as OpenSSL cached it when
/// parsing, or read from the DER when OpenSSL found the extensions invalid.
pub fn key_usage(cert: &X509) -> Result<pki::KeyUsage, String> {
    use openssl_sys::{X509v3_KU_DIGITAL_SIGNATURE, X509v3_KU_KEY_ENCIPHERMENT};
    match super::ffi::cached_key_usage(cert) {
        Some(cached) => Ok(
            cached.map_or_else(pki::KeyUsage::default, |bits| pki::KeyUsage {
                digital_signature: bits & X509v3_KU_DIGITAL_SIGNATURE != 0,
                key_encipherment: bits & X509v3_KU_KEY_ENCIPHERMENT != 0,
                present: true,
            }),
        ),
        None => der_key_usage(cert),
    }
}

/// [`key_usage`] read from the certificate's DER.
fn der_key_usage(cert: &X509) -> Result<pki::KeyUsage, String> {
    let der = cert.to_der().map_err(|e| e.to_string())?;
    let bits = pki::der::key_usage(&der).map_err(|e| e.to_string())?;
    Ok(
        bits.map_or_else(pki::KeyUsage::default, |bits| pki::KeyUsage {
            digital_signature: bits & 1 != 0,
            key_encipherment: bits & (1 << 2) != 0,
            present: true,
        }),
    )
}

/// ``key_usage`` both ways, for tests.
#[cfg(test)]
pub(crate) fn key_usage_both_ways(cert: &X509) -> (pki::KeyUsage, pki::KeyUsage) {
    (
        key_usage(cert).expect("cached"),
        der_key_usage(cert).expect("der"),
    )
}

/// True when the certificate names the address (rfc822Name) or its domain (dNSName).
pub fn binds(cert: &X509, address: &DirectAddress) -> bool {
    pki::binds(
        cert,
        &Subject::Address {
            address: address.clone(),
            name: None,
        },
    ) || pki::binds(cert, &Subject::Domain(Domain::clone(address.domain())))
}

/// 5.7.31 when nothing usable was found (no certificate, or only expired,
/// revoked, misnamed or wrong-usage ones: the message cannot be secured);
/// 5.7.11 when a certificate failed for want of a path to our anchors.
fn rejection(r: &Recipient, reasons: &[Unusable]) -> Outcome {
    if r.certs.is_empty() {
        return Outcome::Rejected {
            address: r.address.clone(),
            status: NO_CERTIFICATE,
            cause: format!(
                "no certificate was found for {}, so the message cannot be secured",
                r.address
            ),
        };
    }
    let text: Vec<&str> = reasons.iter().map(|u| u.reason.as_str()).collect();
    let (status, what) = if reasons.iter().any(|u| u.untrusted) {
        (NOT_TRUSTED, "no trusted certificate")
    } else {
        (NO_CERTIFICATE, "no usable certificate")
    };
    Outcome::Rejected {
        address: r.address.clone(),
        status,
        cause: format!("{what} for {}: {}", r.address, text.join("; ")),
    }
}

/// The outer message's headers: the copied ones, then MIME-Version; the
/// enveloped entity is appended by [`smime::encrypt_into`].
fn outer_headers(copied: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    for (name, value) in copied {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    out
}
