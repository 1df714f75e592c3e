//! Trust bundles: a PKCS#7 `.p7b` of anchors (DER or PEM), optionally wrapped in
//! a CMS SignedData signed by the bundle's operator. Refresh follows the Java RI:
//! 10 s timeouts, skip when the thumbprint is unchanged, verify the signature
//! against the configured signer, replace the anchor set atomically, and keep the
//! previous anchors when anything fails.

use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::pkcs7::Pkcs7;
use openssl::sha::sha256;
use openssl::stack::Stack;
use openssl::x509::X509;

use crate::store::seal::hex_encode;

/// A refresh's outcome, as the Java RI names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleStatus {
    /// Loaded (or unchanged).
    Success,
    /// The URL answered with no bundle.
    NotFound,
    /// No answer within the timeout.
    DownloadTimeout,
    /// Not a p7b (or a signed bundle whose content is not one).
    InvalidBundleFormat,
    /// Signed, but not by the configured signer (or a signer is required and it is unsigned).
    InvalidSigningCert,
    /// The signature does not match the content.
    UnmatchedSignature,
}

impl BundleStatus {
    /// The stored and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            BundleStatus::Success => "SUCCESS",
            BundleStatus::NotFound => "NOT_FOUND",
            BundleStatus::DownloadTimeout => "DOWNLOAD_TIMEOUT",
            BundleStatus::InvalidBundleFormat => "INVALID_BUNDLE_FORMAT",
            BundleStatus::InvalidSigningCert => "INVALID_SIGNING_CERT",
            BundleStatus::UnmatchedSignature => "UNMATCHED_SIGNATURE",
        }
    }
}

/// A bundle that failed to load: the status and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {why}", status.as_str())]
pub struct BundleError {
    /// The status recorded.
    pub status: BundleStatus,
    /// What was wrong.
    pub why: String,
}

fn err(status: BundleStatus, why: impl Into<String>) -> BundleError {
    BundleError {
        status,
        why: why.into(),
    }
}

/// SHA-256 of a bundle's bytes, hex.
pub fn thumbprint(bytes: &[u8]) -> String {
    hex_encode(&sha256(bytes))
}

/// The anchors in a bundle, checking the signature when `signer` is given.
pub fn parse(bytes: &[u8], signer: Option<&X509>) -> Result<Vec<X509>, BundleError> {
    let der = pem_or_der(bytes);
    if let Some(content) = signed_content(&der, signer)? {
        return certs_of_p7b(&pem_or_der(&content));
    }
    if signer.is_some() {
        return Err(err(
            BundleStatus::InvalidSigningCert,
            "a signer is configured but the bundle is not signed",
        ));
    }
    certs_of_p7b(&der)
}

/// PEM (`-----BEGIN PKCS7-----` or CMS) to DER; DER passes through.
fn pem_or_der(bytes: &[u8]) -> Vec<u8> {
    Pkcs7::from_pem(bytes)
        .and_then(|p| p.to_der())
        .or_else(|_| CmsContentInfo::from_pem(bytes).and_then(|c| c.to_der()))
        .unwrap_or_else(|_| bytes.to_vec())
}

fn certs_of_p7b(der: &[u8]) -> Result<Vec<X509>, BundleError> {
    let p7 = Pkcs7::from_der(der).map_err(|_| {
        err(
            BundleStatus::InvalidBundleFormat,
            "not a PKCS#7 certificate bundle",
        )
    })?;
    let certs: Vec<X509> = p7
        .signed()
        .and_then(|s| s.certificates())
        .map(|s| s.iter().map(ToOwned::to_owned).collect())
        .unwrap_or_default();
    if certs.is_empty() {
        return Err(err(
            BundleStatus::InvalidBundleFormat,
            "the bundle holds no certificates",
        ));
    }
    Ok(certs)
}

/// When `der` is a CMS SignedData carrying content (a signed bundle), verify it
/// and return the content; None for a plain certs-only p7b.
fn signed_content(der: &[u8], signer: Option<&X509>) -> Result<Option<Vec<u8>>, BundleError> {
    let Ok(mut cms) = CmsContentInfo::from_der(der) else {
        return Err(err(
            BundleStatus::InvalidBundleFormat,
            "not DER PKCS#7 or CMS",
        ));
    };
    // A certs-only p7b has no encapsulated content: verification with NO_CONTENT_VERIFY
    // would still fail, so probe by trying to read the content as a signed bundle.
    let Some(signer) = signer else {
        let mut out = Vec::new();
        let flags = CMSOptions::NO_SIGNER_CERT_VERIFY | CMSOptions::BINARY;
        return Ok(cms
            .verify(None, None, None, Some(&mut out), flags)
            .ok()
            .filter(|_| !out.is_empty())
            .map(|_| out));
    };
    let mut certs =
        Stack::new().map_err(|e| err(BundleStatus::InvalidBundleFormat, e.to_string()))?;
    certs
        .push(signer.clone())
        .map_err(|e| err(BundleStatus::InvalidBundleFormat, e.to_string()))?;
    let mut out = Vec::new();
    // The configured signer is pinned: it must be the one that signed (NOINTERN),
    // and no chain is built for it; then the signature and digest must match.
    match cms.verify(
        Some(&certs),
        None,
        None,
        Some(&mut out),
        CMSOptions::NOINTERN | CMSOptions::NO_SIGNER_CERT_VERIFY | CMSOptions::BINARY,
    ) {
        Ok(()) if !out.is_empty() => Ok(Some(out)),
        Ok(()) => Err(err(
            BundleStatus::InvalidBundleFormat,
            "the signed bundle has no content",
        )),
        Err(e) => {
            let text = e.to_string();
            if text.contains("signer certificate not found")
                || text.contains("certificate verify error")
            {
                Err(err(
                    BundleStatus::InvalidSigningCert,
                    format!("the bundle is not signed by the configured signer ({text})"),
                ))
            } else if text.contains("content verify error")
                || text.contains("digest")
                || text.contains("signature failure")
            {
                Err(err(
                    BundleStatus::UnmatchedSignature,
                    "the signature does not match the bundle's content",
                ))
            } else if text.contains("no content") || text.contains("type not signed data") {
                Err(err(
                    BundleStatus::InvalidSigningCert,
                    "a signer is configured but the bundle is not signed",
                ))
            } else {
                Err(err(
                    BundleStatus::UnmatchedSignature,
                    format!("signature check failed: {text}"),
                ))
            }
        }
    }
}
