//! Algorithm policy: what we send with and what we accept (AS 1.2 and the
//! STANDARDS digest's table). Sending: SHA-256; AES-256-CBC by default, AES-128-CBC
//! or AES-GCM per destination domain; RSA PKCS#1 v1.5 by default, RSA-OAEP-SHA256
//! per domain. Receiving: AES-128/192/256-CBC and AES-GCM, PKCS#1 v1.5 and OAEP;
//! refuse 3DES, RC2, DES, MD5, RSA keys under 2048 bits, and SHA-1 signatures
//! unless `[agent] allow_sha1`. Every refusal names the algorithm found.

use openssl::pkey::Id;
use openssl::x509::X509Ref;

/// Smallest RSA key accepted anywhere in a path or message.
pub const MIN_RSA_BITS: u32 = 2048;

/// What we accept from others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlgorithmPolicy {
    /// Accept SHA-1 digests in signatures and certificates (AS 1.2 dropped SHA-1 for sending).
    pub allow_sha1: bool,
}

impl AlgorithmPolicy {
    /// Check a certificate's key and (unless it is the anchor itself) its signature algorithm.
    pub fn check_certificate(&self, cert: &X509Ref, is_anchor: bool) -> Result<(), String> {
        let key = cert
            .public_key()
            .map_err(|e| format!("unreadable public key: {e}"))?;
        match key.id() {
            Id::RSA if key.bits() < MIN_RSA_BITS => {
                return Err(format!(
                    "RSA key of {} bits is refused (minimum {MIN_RSA_BITS})",
                    key.bits()
                ));
            }
            Id::RSA | Id::RSA_PSS => {}
            Id::EC if key.bits() >= 256 => {}
            other => {
                return Err(format!(
                    "public key type {other:?} of {} bits is refused",
                    key.bits()
                ));
            }
        }
        if is_anchor {
            return Ok(());
        }
        let nid = cert.signature_algorithm().object().nid();
        let name = nid.long_name().unwrap_or("unknown").to_string();
        self.check_digest(&digest_of_signature(&name))
            .map_err(|why| format!("signature algorithm {name}: {why}"))
    }

    /// Check a message digest algorithm name (`sha256`, `sha1`, `md5`, …).
    pub fn check_digest(&self, digest: &str) -> Result<(), String> {
        match digest.to_ascii_lowercase().replace('-', "").as_str() {
            "sha256" | "sha384" | "sha512" | "sha224" => Ok(()),
            "sha1" if self.allow_sha1 => Ok(()),
            "sha1" => Err("digest sha1 is refused (set [agent] allow_sha1 to accept it)".into()),
            other => Err(format!("digest {other} is refused")),
        }
    }

    /// Check a content-encryption algorithm name (`aes-256-cbc`, `des-ede3-cbc`, …).
    pub fn check_content_cipher(&self, cipher: &str) -> Result<(), String> {
        match cipher.to_ascii_lowercase().as_str() {
            "aes-128-cbc" | "aes-192-cbc" | "aes-256-cbc" | "aes-128-gcm" | "aes-192-gcm"
            | "aes-256-gcm" => Ok(()),
            other => Err(format!(
                "content encryption {other} is refused (AES-CBC or AES-GCM only)"
            )),
        }
    }

    /// Check a key-transport algorithm name (`rsaEncryption`, `rsaes-oaep…`).
    pub fn check_key_transport(&self, transport: &str) -> Result<(), String> {
        let t = transport.to_ascii_lowercase();
        if t.contains("rsaencryption") || t.contains("pkcs1") || t.contains("oaep") {
            Ok(())
        } else {
            Err(format!(
                "key transport {transport} is refused (RSA PKCS#1 v1.5 or RSA-OAEP only)"
            ))
        }
    }
}

/// The digest in a signature algorithm's name (`sha1WithRSAEncryption` → `sha1`).
fn digest_of_signature(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    for d in [
        "md2", "md4", "md5", "sha1", "sha224", "sha256", "sha384", "sha512",
    ] {
        if n.contains(d) {
            return d.to_string();
        }
    }
    if n.contains("pss") {
        return "sha256".into();
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_it_refuses() {
        let strict = AlgorithmPolicy::default();
        assert!(strict.check_digest("sha256").is_ok());
        assert!(strict.check_digest("SHA-256").is_ok());
        assert!(
            strict
                .check_digest("sha1")
                .expect_err("sha1")
                .contains("sha1")
        );
        assert!(
            AlgorithmPolicy { allow_sha1: true }
                .check_digest("sha1")
                .is_ok()
        );
        assert!(strict.check_digest("md5").expect_err("md5").contains("md5"));
        assert!(strict.check_content_cipher("aes-256-gcm").is_ok());
        for bad in ["des-ede3-cbc", "rc2-cbc", "des-cbc"] {
            assert!(
                strict
                    .check_content_cipher(bad)
                    .expect_err(bad)
                    .contains(bad)
            );
        }
        assert!(strict.check_key_transport("rsaEncryption").is_ok());
        assert!(strict.check_key_transport("rsaes-oaep (sha256)").is_ok());
        assert!(strict.check_key_transport("ecdh").is_err());
        assert_eq!(digest_of_signature("sha1WithRSAEncryption"), "sha1");
        assert_eq!(digest_of_signature("sha256WithRSAEncryption"), "sha256");
        assert_eq!(digest_of_signature("md5WithRSAEncryption"), "md5");
    }
}
