//! End-entity issuance: the Direct address-bound and organization-bound profiles
//! (Applicability Statement §4, DirectTrust CP) and the HISP's TLS server profile,
//! with every extension they carry.

use super::ca::{CaKeys, common_name_only, new_builder};
use super::{PkiError, Subject, Usage, der};
use openssl::asn1::{Asn1Object, Asn1OctetString};
use openssl::hash::MessageDigest;
use openssl::pkey::{HasPublic, Id, PKey, PKeyRef, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509Extension};
use std::net::IpAddr;

/// RSA sizes the CA issues for.
const ALLOWED_BITS: [u32; 3] = [2048, 3072, 4096];

/// id-ad-caIssuers (RFC 5280 §4.2.2.1).
const CA_ISSUERS: &str = "1.3.6.1.5.5.7.48.2";

/// How end-entity certificates are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// RSA key size: 2048 (default), 3072 or 4096.
    pub key_bits: u32,
    /// Lifetime from `now`, in days.
    pub validity_days: u32,
    /// certificatePolicies OIDs, dotted (DirectTrust arc 1.3.6.1.4.1.41179.*).
    pub policies: Vec<String>,
    /// Where the CA publishes `/pki/ca.crl` and `/pki/ca.cer`, e.g. `https://hisp.example.org`.
    pub public_url: String,
}

impl Profile {
    /// RSA-2048, one year, no policies, publishing under `public_url`.
    pub fn new(public_url: impl Into<String>) -> Self {
        Self {
            key_bits: 2048,
            validity_days: 365,
            policies: Vec::new(),
            public_url: public_url.into(),
        }
    }
}

/// A certificate the CA issued, with the key it generated for it.
pub struct Issued {
    /// The signed certificate.
    pub cert: X509,
    /// The fresh private key.
    pub key: PKey<Private>,
}

impl std::fmt::Debug for Issued {
    /// Shows the subject only: the private key never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("subject", &self.cert.subject_name())
            .finish_non_exhaustive()
    }
}

/// Generates a fresh RSA key and a cert signed by the CA. Random positive 128-bit
/// serial; notBefore = now − 300, notAfter = now + validity_days. For
/// [`Subject::TlsServer`] the usage is ignored (see [`issue_for_key`]).
pub fn issue(
    ca: &CaKeys,
    subject: &Subject,
    usage: Usage,
    profile: &Profile,
    now: i64,
) -> Result<Issued, PkiError> {
    check_key_bits(profile.key_bits)?;
    let key = PKey::from_rsa(Rsa::generate(profile.key_bits)?)?;
    let cert = issue_for_key(ca, subject, usage, profile, &key, now)?;
    Ok(Issued { cert, key })
}

/// Signs a caller-given RSA public key (renewals, CSRs, tests) under the same
/// profile; `profile.key_bits` is not used, but the key must be 2048, 3072 or 4096
/// bits. TLS servers get SAN dNSName hostname + `localhost` + IP 127.0.0.1, EKU
/// serverAuth, keyUsage digitalSignature + keyEncipherment and no policies.
pub fn issue_for_key<T: HasPublic>(
    ca: &CaKeys,
    subject: &Subject,
    usage: Usage,
    profile: &Profile,
    key: &PKeyRef<T>,
    now: i64,
) -> Result<X509, PkiError> {
    if key.id() != Id::RSA {
        return Err(PkiError::NotRsa);
    }
    check_key_bits(key.bits())?;
    let name = common_name_only(&common_name(subject)?)?;
    let mut builder = new_builder(&name, now, profile.validity_days)?;
    builder.set_issuer_name(ca.cert.subject_name())?;
    builder.set_pubkey(key)?;
    for ext in extensions(&builder, ca, subject, usage, profile)? {
        builder.append_extension(ext)?;
    }
    builder.sign(&ca.key, MessageDigest::sha256())?;
    Ok(builder.build())
}

/// Refuse key sizes other than 2048, 3072 and 4096.
fn check_key_bits(bits: u32) -> Result<(), PkiError> {
    if ALLOWED_BITS.contains(&bits) {
        Ok(())
    } else {
        Err(PkiError::KeySize(bits))
    }
}

/// The Subject CN. AS §4: the address or domain goes in subjectAltName; the CN is
/// the person's name, or else the address, and never an emailAddress attribute.
fn common_name(subject: &Subject) -> Result<String, PkiError> {
    Ok(match subject {
        Subject::Address { address, name } => match name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => address.to_string(),
        },
        Subject::Domain(domain) => domain.to_string(),
        Subject::TlsServer { hostname } => checked_hostname(hostname)?.to_string(),
    })
}

/// A TLS hostname: a DNS name (one label allowed) or an IP literal.
fn checked_hostname(hostname: &str) -> Result<&str, PkiError> {
    let dns_ok = !hostname.is_empty()
        && hostname.len() <= 253
        && hostname.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if dns_ok || hostname.parse::<IpAddr>().is_ok() {
        Ok(hostname)
    } else {
        Err(PkiError::BadHostname(hostname.to_string()))
    }
}

/// Every extension of the profile, in the order they appear in the certificate.
fn extensions(
    builder: &X509Builder,
    ca: &CaKeys,
    subject: &Subject,
    usage: Usage,
    profile: &Profile,
) -> Result<Vec<X509Extension>, PkiError> {
    let ctx = builder.x509v3_context(Some(&ca.cert), None);
    let tls = matches!(subject, Subject::TlsServer { .. });
    let mut exts = vec![
        BasicConstraints::new().critical().build()?,
        key_usage(if tls { Usage::Dual } else { usage })?,
        extended_key_usage(tls)?,
        SubjectKeyIdentifier::new().build(&ctx)?,
        AuthorityKeyIdentifier::new().keyid(true).build(&ctx)?,
        subject_alt_name(subject)?.build(&ctx)?,
    ];
    exts.extend(publication(&profile.public_url)?);
    if !tls && !profile.policies.is_empty() {
        exts.push(policies(&profile.policies)?);
    }
    Ok(exts)
}

/// keyUsage, critical: AS §4 dual-use or one half of a single-use pair.
fn key_usage(usage: Usage) -> Result<X509Extension, PkiError> {
    let mut ku = KeyUsage::new();
    ku.critical();
    if usage.signs() {
        ku.digital_signature();
    }
    if usage.enciphers() {
        ku.key_encipherment();
    }
    Ok(ku.build()?)
}

/// extendedKeyUsage: emailProtection for Direct, serverAuth for TLS.
fn extended_key_usage(tls: bool) -> Result<X509Extension, PkiError> {
    let mut eku = ExtendedKeyUsage::new();
    if tls {
        eku.server_auth();
    } else {
        eku.email_protection();
    }
    Ok(eku.build()?)
}

/// subjectAltName: rfc822Name for an address, dNSName for a domain, and for TLS
/// the hostname plus `localhost` and 127.0.0.1 for local clients.
fn subject_alt_name(subject: &Subject) -> Result<SubjectAlternativeName, PkiError> {
    let mut san = SubjectAlternativeName::new();
    match subject {
        Subject::Address { address, .. } => san.email(&address.to_string()),
        Subject::Domain(domain) => san.dns(domain.as_str()),
        Subject::TlsServer { hostname } => tls_names(&mut san, checked_hostname(hostname)?),
    };
    Ok(san)
}

/// The TLS server's names, without repeating `localhost` or 127.0.0.1.
fn tls_names<'a>(
    san: &'a mut SubjectAlternativeName,
    hostname: &str,
) -> &'a mut SubjectAlternativeName {
    match hostname.parse::<IpAddr>() {
        Ok(_) => san.ip(hostname),
        Err(_) => san.dns(hostname),
    };
    if !hostname.eq_ignore_ascii_case("localhost") {
        san.dns("localhost");
    }
    if hostname != "127.0.0.1" {
        san.ip("127.0.0.1");
    }
    san
}

/// cRLDistributionPoints (`{url}/pki/ca.crl`) and AIA caIssuers (`{url}/pki/ca.cer`).
/// Their DER is written here rather than through `X509Extension::new_nid`, whose
/// value string is OpenSSL's config mini-language (a ',' in a URL would split it).
fn publication(public_url: &str) -> Result<[X509Extension; 2], PkiError> {
    let base = public_url.trim_end_matches('/');
    let http = base.starts_with("http://") || base.starts_with("https://");
    if !http || !base.is_ascii() || base.contains(char::is_whitespace) {
        return Err(PkiError::BadPublicUrl(public_url.to_string()));
    }
    let crl_uri = der::uri(&format!("{base}/pki/ca.crl"))?;
    let full_name = der::context(0, true, &crl_uri);
    let point = der::sequence(&[&der::context(0, true, &full_name)]);
    let crl_dp = der::sequence(&[&point]);
    let ca_uri = der::uri(&format!("{base}/pki/ca.cer"))?;
    let access = der::sequence(&[&der::oid(CA_ISSUERS)?, &ca_uri]);
    let aia = der::sequence(&[&access]);
    Ok([ext("2.5.29.31", &crl_dp)?, ext("1.3.6.1.5.5.7.1.1", &aia)?])
}

/// certificatePolicies: a SEQUENCE of PolicyInformation, each just its OID.
fn policies(oids: &[String]) -> Result<X509Extension, PkiError> {
    let infos = oids
        .iter()
        .map(|oid| Ok(der::sequence(&[&der::oid(oid.trim())?])))
        .collect::<Result<Vec<_>, der::DerError>>()?;
    let refs: Vec<&[u8]> = infos.iter().map(Vec::as_slice).collect();
    ext("2.5.29.32", &der::sequence(&refs))
}

/// A non-critical extension from its OID and DER value.
fn ext(oid: &str, value: &[u8]) -> Result<X509Extension, PkiError> {
    let oid = Asn1Object::from_str(oid)?;
    let value = Asn1OctetString::new_from_bytes(value)?;
    Ok(X509Extension::new_from_der(&oid, false, &value)?)
}

#[cfg(test)]
#[path = "issue_tests.rs"]
mod tests;
