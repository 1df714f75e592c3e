//! Importing a certificate and key made by another CA, from PKCS#12 or PEM: the
//! key must match the certificate, and the Direct usage comes from keyUsage.

use super::inspect::key_usage;
use super::{PkiError, Usage};
use openssl::error::ErrorStack;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

/// A certificate and key brought in from outside.
pub struct Imported {
    /// The end-entity certificate.
    pub cert: X509,
    /// Its private key.
    pub key: PKey<Private>,
    /// Any other certificates that came with it (intermediates, root).
    pub chain: Vec<X509>,
    /// What keyUsage allows: no keyUsage extension counts as dual-use.
    pub usage: Usage,
}

impl std::fmt::Debug for Imported {
    /// Shows the subject and usage only: the private key never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Imported")
            .field("subject", &self.cert.subject_name())
            .field("chain", &self.chain.len())
            .field("usage", &self.usage)
            .finish_non_exhaustive()
    }
}

/// Import a DER PKCS#12 file: decrypt with `password`, check the key matches the
/// certificate, and derive the usage from keyUsage (absent = [`Usage::Dual`]).
///
/// OpenSSL 3 does not load its legacy provider, so a file protected with RC2
/// (`-legacy`, old Windows exports) fails as [`PkiError::LegacyPkcs12`] once the
/// password is right.
pub fn import_p12(der: &[u8], password: &str) -> Result<Imported, PkiError> {
    let p12 = Pkcs12::from_der(der).map_err(|_| PkiError::NotPkcs12)?;
    let parsed = p12.parse2(password).map_err(parse_error)?;
    let key = parsed.pkey.ok_or(PkiError::NoPrivateKey)?;
    let cert = parsed.cert.ok_or(PkiError::NoCertificate)?;
    let chain = parsed
        .ca
        .map(|ca| ca.into_iter().collect())
        .unwrap_or_default();
    assemble(cert, key, chain)
}

/// A failed PKCS#12 parse: an algorithm OpenSSL would not fetch means a legacy
/// cipher (the MAC, checked first, passed); anything else a bad password or file.
fn parse_error(err: ErrorStack) -> PkiError {
    let unsupported = err
        .errors()
        .iter()
        .any(|e| e.reason() == Some("unsupported"));
    if unsupported {
        PkiError::LegacyPkcs12
    } else {
        PkiError::Pkcs12Password
    }
}

/// Import PEM: the first certificate in `cert_pem` is the end entity, any others
/// are its chain; `key_pem` is an unencrypted private key (PKCS#8 or
/// traditional). An encrypted key is refused at once, never prompted for.
pub fn import_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Imported, PkiError> {
    let mut certs = X509::stack_from_pem(cert_pem).map_err(|_| PkiError::NotPemCertificate)?;
    if certs.is_empty() {
        return Err(PkiError::NotPemCertificate);
    }
    let cert = certs.remove(0);
    assemble(cert, private_key_pem(key_pem)?, certs)
}

/// An unencrypted PEM private key. An encrypted one fails at once instead of
/// OpenSSL's default of prompting on the terminal.
pub(crate) fn private_key_pem(key_pem: &[u8]) -> Result<PKey<Private>, PkiError> {
    PKey::private_key_from_pem_callback(key_pem, refuse_passphrase).map_err(|_| PkiError::NotPemKey)
}

/// The passphrase callback for PEM keys: there is no passphrase.
fn refuse_passphrase(_buf: &mut [u8]) -> Result<usize, ErrorStack> {
    Err(ErrorStack::get())
}

/// Check the key pairs with the certificate and work out the usage.
fn assemble(cert: X509, key: PKey<Private>, chain: Vec<X509>) -> Result<Imported, PkiError> {
    if !cert.public_key()?.public_eq(&key) {
        return Err(PkiError::KeyMismatch);
    }
    let usage = key_usage(&cert)?
        .usage()
        .ok_or(PkiError::UnusableKeyUsage)?;
    Ok(Imported {
        cert,
        key,
        chain,
        usage,
    })
}

#[cfg(test)]
mod tests {
    //! Import tests on PKCS#12 files made by the real `openssl pkcs12 -export`.

    use super::*;
    use crate::pki::testutil::{jo, leaf, openssl, org, test_ca, text, write, write_ca};
    use crate::pki::{Issued, cert_pem, fingerprint, key_pem};
    use std::path::Path;

    /// Write `issued` as leaf.pem and key.pem into `dir`.
    fn write_leaf(dir: &Path, issued: &Issued) {
        write(
            dir,
            "leaf.pem",
            cert_pem(&issued.cert).expect("pem").as_bytes(),
        );
        write(
            dir,
            "key.pem",
            key_pem(&issued.key).expect("pem").as_bytes(),
        );
    }

    /// `openssl pkcs12 -export` with extra args; returns the file's bytes.
    fn export(dir: &Path, extra: &[&str]) -> Vec<u8> {
        let mut args = vec!["pkcs12", "-export", "-in", "leaf.pem", "-out", "out.p12"];
        args.extend_from_slice(extra);
        let out = openssl(dir, &args);
        assert!(out.status.success(), "{}", text(&out));
        std::fs::read(dir.join("out.p12")).expect("read p12")
    }

    #[test]
    fn p12_imports_with_usage_and_chain() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_ca(dir.path());
        let cases = [
            (leaf(&jo(), Usage::Dual), Usage::Dual),
            (leaf(&jo(), Usage::SigningOnly), Usage::SigningOnly),
            (
                leaf(&org(), Usage::EnciphermentOnly),
                Usage::EnciphermentOnly,
            ),
        ];
        for (issued, usage) in cases {
            write_leaf(dir.path(), &issued);
            let extra = [
                "-inkey",
                "key.pem",
                "-certfile",
                "ca.pem",
                "-passout",
                "pass:s3cret",
            ];
            let p12 = export(dir.path(), &extra);
            let got = import_p12(&p12, "s3cret").expect("imports");
            assert_eq!(got.usage, usage);
            assert_eq!(fingerprint(&got.cert), fingerprint(&issued.cert));
            assert!(got.key.public_eq(&issued.key));
            assert_eq!(got.chain.len(), 1);
            assert_eq!(fingerprint(&got.chain[0]), fingerprint(&test_ca().cert));
        }
    }

    #[test]
    fn p12_failures_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_leaf(dir.path(), &leaf(&jo(), Usage::Dual));
        let p12 = export(dir.path(), &["-inkey", "key.pem", "-passout", "pass:right"]);
        let err = |bytes: &[u8], pw: &str| import_p12(bytes, pw).expect_err("refused").to_string();
        assert_eq!(err(&p12, "wrong"), "wrong password or corrupt PKCS#12 file");
        assert_eq!(err(b"hello, world", "right"), "not a PKCS#12 file");
        assert_eq!(err(&p12[..p12.len() / 2], "right"), "not a PKCS#12 file");
        let mut bent = p12.clone();
        if let Some(last) = bent.last_mut() {
            *last ^= 0x01; // the MAC iteration count
        }
        assert_eq!(
            err(&bent, "right"),
            "wrong password or corrupt PKCS#12 file"
        );
        let no_key = export(dir.path(), &["-nokeys", "-passout", "pass:right"]);
        assert_eq!(
            err(&no_key, "right"),
            "the PKCS#12 file holds no private key"
        );
    }

    #[test]
    fn legacy_p12_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_leaf(dir.path(), &leaf(&jo(), Usage::Dual));
        let args = [
            "pkcs12", "-export", "-legacy", "-in", "leaf.pem", "-inkey", "key.pem",
        ];
        let out = openssl(
            dir.path(),
            &[&args[..], &["-passout", "pass:pw", "-out", "l.p12"]].concat(),
        );
        assert!(out.status.success(), "{}", text(&out));
        let p12 = std::fs::read(dir.path().join("l.p12")).expect("read");
        assert!(matches!(
            import_p12(&p12, "bad"),
            Err(PkiError::Pkcs12Password)
        ));
        let got = import_p12(&p12, "pw");
        assert!(matches!(got, Err(PkiError::LegacyPkcs12)), "{got:?}");
    }

    #[test]
    fn pem_imports_and_refuses() {
        let jo_leaf = leaf(&jo(), Usage::SigningOnly);
        let other = leaf(&org(), Usage::Dual);
        let ca_pem = cert_pem(&test_ca().cert).expect("pem");
        let bundle = format!("{}{ca_pem}", cert_pem(&jo_leaf.cert).expect("pem"));
        let key = key_pem(&jo_leaf.key).expect("pem");
        let got = import_pem(bundle.as_bytes(), key.as_bytes()).expect("imports");
        assert_eq!((got.usage, got.chain.len()), (Usage::SigningOnly, 1));
        assert!(format!("{got:?}").contains("SigningOnly"));

        let err = |c: &[u8], k: &[u8]| import_pem(c, k).expect_err("refused").to_string();
        let other_key = key_pem(&other.key).expect("pem");
        assert_eq!(
            err(bundle.as_bytes(), other_key.as_bytes()),
            "the private key does not match the certificate"
        );
        assert_eq!(err(b"nope", key.as_bytes()), "not a PEM certificate");
        assert_eq!(
            err(bundle.as_bytes(), b"nope"),
            "not an unencrypted PEM private key"
        );
        let ca_key = key_pem(&test_ca().key).expect("pem");
        assert_eq!(
            err(ca_pem.as_bytes(), ca_key.as_bytes()),
            "the certificate's keyUsage allows neither digitalSignature nor keyEncipherment"
        );
    }

    #[test]
    fn encrypted_pem_key_is_refused_without_a_prompt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let issued = leaf(&jo(), Usage::Dual);
        write_leaf(dir.path(), &issued);
        let args = [
            "pkey", "-in", "key.pem", "-aes256", "-passout", "pass:x", "-out", "enc.pem",
        ];
        let out = openssl(dir.path(), &args);
        assert!(out.status.success(), "{}", text(&out));
        let enc = std::fs::read(dir.path().join("enc.pem")).expect("read");
        let cert = cert_pem(&issued.cert).expect("pem");
        let got = import_pem(cert.as_bytes(), &enc);
        assert!(matches!(got, Err(PkiError::NotPemKey)), "{got:?}");
    }
}
