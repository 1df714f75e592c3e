//! The CA root: its key pair and self-signed certificate, and the pieces every
//! certificate the CA signs shares (random serials, validity windows, names).

use super::PkiError;
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectKeyIdentifier};
use openssl::x509::{X509, X509Builder, X509Name, X509NameBuilder};

/// RSA size of the root key.
const ROOT_KEY_BITS: u32 = 4096;

/// How far notBefore is set back, so a peer whose clock runs a little slow
/// still accepts a certificate issued this minute.
pub(crate) const BACKDATE_SECS: i64 = 300;

/// X.520's upper bound on a common name (ub-common-name).
const CN_MAX_CHARS: usize = 64;

/// The CA's certificate and private key.
pub struct CaKeys {
    /// The self-signed root certificate, published at `{public_url}/pki/ca.cer`.
    pub cert: X509,
    /// The root's private key, which signs certificates and CRLs.
    pub key: PKey<Private>,
}

impl CaKeys {
    /// RSA-4096 self-signed root, SHA-256, basicConstraints CA:TRUE critical,
    /// keyUsage keyCertSign+cRLSign critical, SKI; valid from `now` − 300 s for
    /// `validity_days`. Key generation takes seconds.
    pub fn generate(common_name: &str, now: i64, validity_days: u32) -> Result<Self, PkiError> {
        let key = PKey::from_rsa(Rsa::generate(ROOT_KEY_BITS)?)?;
        let name = common_name_only(common_name)?;
        let mut builder = new_builder(&name, now, validity_days)?;
        builder.set_issuer_name(&name)?;
        builder.set_pubkey(&key)?;
        builder.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        let usage = KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()?;
        builder.append_extension(usage)?;
        let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None))?;
        builder.append_extension(ski)?;
        builder.sign(&key, MessageDigest::sha256())?;
        Ok(Self {
            cert: builder.build(),
            key,
        })
    }

    /// Load a stored root from PEM (as [`crate::pki::cert_pem`] and
    /// [`crate::pki::key_pem`] wrote it), checking the key is the certificate's.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, PkiError> {
        let cert = X509::from_pem(cert_pem).map_err(|_| PkiError::NotPemCertificate)?;
        let key = super::import::private_key_pem(key_pem)?;
        if !cert.public_key()?.public_eq(&key) {
            return Err(PkiError::KeyMismatch);
        }
        Ok(Self { cert, key })
    }
}

impl std::fmt::Debug for CaKeys {
    /// Shows the subject only: the private key never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaKeys")
            .field("subject", &self.cert.subject_name())
            .finish_non_exhaustive()
    }
}

/// A v3 certificate builder with subject, a fresh serial and the validity window set.
pub(crate) fn new_builder(
    subject: &X509Name,
    now: i64,
    validity_days: u32,
) -> Result<X509Builder, PkiError> {
    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    let serial = random_serial()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(subject)?;
    let not_after = now.saturating_add(i64::from(validity_days) * 86_400);
    let not_before = Asn1Time::from_unix(now - BACKDATE_SECS)?;
    builder.set_not_before(&not_before)?;
    let not_after = Asn1Time::from_unix(not_after)?;
    builder.set_not_after(&not_after)?;
    Ok(builder)
}

/// A random positive 128-bit serial. The top bit is forced on, so every serial
/// has 32 hex digits and encodes in 17 octets, within RFC 5280's 20.
fn random_serial() -> Result<Asn1Integer, PkiError> {
    let mut serial = BigNum::new()?;
    serial.rand(128, MsbOption::ONE, false)?;
    Ok(serial.to_asn1_integer()?)
}

/// A distinguished name holding one CN, refused above 64 characters.
pub(crate) fn common_name_only(cn: &str) -> Result<X509Name, PkiError> {
    if cn.chars().count() > CN_MAX_CHARS {
        return Err(PkiError::CommonNameTooLong(cn.to_string()));
    }
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, cn)?;
    Ok(name.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::testutil::{NOW, test_ca};

    #[test]
    fn root_is_a_self_signed_ca() {
        let ca = test_ca();
        let cert = &ca.cert;
        assert_eq!(ca.key.bits(), 4096);
        assert!(cert.verify(&ca.key).expect("verifies"));
        assert_eq!(cert.issued(cert), openssl::x509::X509VerifyResult::OK);
        assert_eq!(cert.subject_key_id().map(|s| s.as_slice().len()), Some(20));
        let ku = cert.key_usage().expect("keyUsage present");
        assert!(ku.contains(openssl::x509::X509KeyUsage::KEY_CERT_SIGN));
        assert!(ku.contains(openssl::x509::X509KeyUsage::CRL_SIGN));
        let info = crate::pki::info(cert).expect("info");
        assert_eq!(info.subject, "CN=Test Direct CA");
        assert_eq!(info.not_before, NOW - BACKDATE_SECS);
        assert_eq!(info.not_after, NOW + 3650 * 86_400);
        assert_eq!(info.serial_hex.len(), 32);
    }

    #[test]
    fn round_trips_through_pem() {
        let ca = test_ca();
        let cert = crate::pki::cert_pem(&ca.cert).expect("pem");
        let key = crate::pki::key_pem(&ca.key).expect("pem");
        let back = CaKeys::from_pem(cert.as_bytes(), key.as_bytes()).expect("loads");
        assert_eq!(
            back.cert.to_der().expect("der"),
            ca.cert.to_der().expect("der")
        );
        let other = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey");
        let other = crate::pki::key_pem(&other).expect("pem");
        let err = CaKeys::from_pem(cert.as_bytes(), other.as_bytes()).expect_err("mismatch");
        assert!(matches!(err, PkiError::KeyMismatch));
    }

    #[test]
    fn refuses_a_long_common_name() {
        let got = common_name_only(&"a".repeat(65));
        assert!(matches!(got, Err(PkiError::CommonNameTooLong(_))));
        assert!(common_name_only(&"é".repeat(64)).is_ok());
    }
}
