//! The built-in certificate authority: it owns the CA root, the certificates it
//! issues to Direct addresses, organizations and the HISP's own TLS listener, the
//! CRL it publishes, the import of certificates made elsewhere, and reading them
//! back.
//!
//! # Layout
//! - [`der`]: a minimal DER writer and a panic-free reader.
//! - `ca`: the self-signed root ([`CaKeys::generate`]).
//! - `issue`: end-entity profiles and extensions ([`issue`], [`issue_for_key`]).
//! - `crl`: the signed CRL v2 ([`crl()`]).
//! - `import`: PKCS#12 and PEM import ([`import_p12`], [`import_pem`]).
//! - `inspect`: [`info`], [`binds`], [`serial_hex`], [`fingerprint`] and PEM output.
//!
//! Every function takes the time as Unix seconds from the caller's clock.

mod ca;
mod crl;
pub mod der;
mod import;
mod inspect;
mod issue;

#[cfg(test)]
mod testutil;

pub use ca::CaKeys;
pub use crl::{Revoked, crl, crl_pem};
pub use import::{Imported, import_p12, import_pem};
pub use inspect::{
    CertInfo, KeyUsage, binds, cert_pem, fingerprint, info, key_pem, require_binds, serial_hex,
    unix,
};
pub use issue::{Issued, Profile, issue, issue_for_key};

use crate::direct::{DirectAddress, Domain};
use std::fmt;
use std::str::FromStr;

/// Why a CA operation failed. Each message is one line, fit to show a person.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The bytes do not parse as PKCS#12 at all.
    #[error("not a PKCS#12 file")]
    NotPkcs12,
    /// The MAC or decryption failed: wrong password, or damaged contents.
    #[error("wrong password or corrupt PKCS#12 file")]
    Pkcs12Password,
    /// The password was right but the contents use a cipher OpenSSL 3 leaves out.
    #[error("the PKCS#12 file uses a legacy cipher (RC2); re-export it with AES")]
    LegacyPkcs12,
    /// The PKCS#12 file parsed but carries no private key.
    #[error("the PKCS#12 file holds no private key")]
    NoPrivateKey,
    /// The PKCS#12 file parsed but no certificate in it matches its key.
    #[error("the PKCS#12 file holds no certificate for its private key")]
    NoCertificate,
    /// The bytes hold no PEM certificate.
    #[error("not a PEM certificate")]
    NotPemCertificate,
    /// The bytes hold no unencrypted PEM private key.
    #[error("not an unencrypted PEM private key")]
    NotPemKey,
    /// The private key's public half is not the certificate's.
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    /// The certificate's subjectAltName does not carry the expected name.
    #[error("the certificate does not name {0} in subjectAltName")]
    NotBound(String),
    /// keyUsage allows neither signing nor key encipherment: useless for Direct.
    #[error("the certificate's keyUsage allows neither digitalSignature nor keyEncipherment")]
    UnusableKeyUsage,
    /// A key size the CA refuses to issue for.
    #[error("RSA key size {0} is not allowed (2048, 3072 or 4096)")]
    KeySize(u32),
    /// A key that is not RSA.
    #[error("only RSA keys are supported")]
    NotRsa,
    /// A usage name that is not `dual`, `signing` or `encipherment`.
    #[error("unknown usage '{0}' (dual, signing or encipherment)")]
    UnknownUsage(String),
    /// The Subject CN would exceed X.520's 64-character upper bound.
    #[error("the common name '{0}' is longer than 64 characters")]
    CommonNameTooLong(String),
    /// A TLS hostname that is empty or holds characters a DNS name cannot.
    #[error("'{0}' is not a hostname")]
    BadHostname(String),
    /// A public URL that is not plain-ASCII http(s), so cannot go in CRL DP or AIA.
    #[error("public URL '{0}' must be an ASCII http:// or https:// URL")]
    BadPublicUrl(String),
    /// A revoked serial that is not non-negative hex.
    #[error("'{0}' is not a hexadecimal serial number")]
    BadSerial(String),
    /// The CA certificate lacks the subjectKeyIdentifier the CRL's AKI needs.
    #[error("the CA certificate has no subjectKeyIdentifier")]
    CaWithoutSki,
    /// A policy OID, URL or time the DER writer cannot encode, or DER it cannot read.
    #[error("{0}")]
    Der(#[from] der::DerError),
    /// OpenSSL itself failed.
    #[error("OpenSSL: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
}

/// Whom a certificate is issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// Address-bound: SAN rfc822Name = the address; CN = the name, or the address.
    Address {
        /// The Direct address the certificate binds.
        address: DirectAddress,
        /// The person's name for the Subject CN, when known.
        name: Option<String>,
    },
    /// Organization-bound: SAN dNSName = the domain; CN = the domain.
    Domain(Domain),
    /// The HISP's own TLS server certificate (SMTP STARTTLS, HTTPS).
    TlsServer {
        /// The public hostname, put in SAN beside `localhost` and 127.0.0.1.
        hostname: String,
    },
}

impl fmt::Display for Subject {
    /// The name the certificate binds: address, domain or hostname.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address { address, .. } => address.fmt(f),
            Self::Domain(domain) => domain.fmt(f),
            Self::TlsServer { hostname } => f.write_str(hostname),
        }
    }
}

/// Which operations a Direct certificate's key may perform (Applicability Statement §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Usage {
    /// One certificate for both: digitalSignature + keyEncipherment.
    Dual,
    /// The signing half of a pair: digitalSignature only.
    SigningOnly,
    /// The encryption half of a pair: keyEncipherment only.
    EnciphermentOnly,
}

impl Usage {
    /// The name used in configuration and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dual => "dual",
            Self::SigningOnly => "signing",
            Self::EnciphermentOnly => "encipherment",
        }
    }

    /// Whether the key may sign (S/MIME signatures).
    pub fn signs(self) -> bool {
        self != Self::EnciphermentOnly
    }

    /// Whether the key may receive encrypted content-encryption keys.
    pub fn enciphers(self) -> bool {
        self != Self::SigningOnly
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Usage {
    type Err = PkiError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dual" => Ok(Self::Dual),
            "signing" => Ok(Self::SigningOnly),
            "encipherment" => Ok(Self::EnciphermentOnly),
            _ => Err(PkiError::UnknownUsage(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_names_round_trip() {
        for usage in [Usage::Dual, Usage::SigningOnly, Usage::EnciphermentOnly] {
            assert_eq!(usage.as_str().parse::<Usage>().expect("parses"), usage);
            assert_eq!(usage.to_string(), usage.as_str());
        }
        assert_eq!(
            " Signing ".parse::<Usage>().expect("trimmed"),
            Usage::SigningOnly
        );
        let err = "both".parse::<Usage>().expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "unknown usage 'both' (dual, signing or encipherment)"
        );
        assert!(Usage::Dual.signs() && Usage::Dual.enciphers());
        assert!(!Usage::SigningOnly.enciphers() && !Usage::EnciphermentOnly.signs());
    }

    #[test]
    fn error_messages_are_one_line() {
        assert_eq!(
            PkiError::NotBound("jo@x.org".into()).to_string(),
            "the certificate does not name jo@x.org in subjectAltName"
        );
        assert_eq!(
            PkiError::KeySize(1024).to_string(),
            "RSA key size 1024 is not allowed (2048, 3072 or 4096)"
        );
        let bad = der::oid("1.x").map(|_| ()).map_err(PkiError::from);
        assert_eq!(
            bad.expect_err("bad").to_string(),
            "'1.x' is not a dotted OID"
        );
    }
}
