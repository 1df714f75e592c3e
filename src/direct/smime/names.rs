//! Algorithm OIDs and the names policy and logs use for them ("aes-256-cbc",
//! "sha256", "rsa-oaep-sha256"). An OID this table does not know is shown dotted.

/// id-sha1.
pub const SHA1: &str = "1.3.14.3.2.26";
/// id-sha256.
pub const SHA256: &str = "2.16.840.1.101.3.4.2.1";
/// rsaEncryption: PKCS#1 v1.5 key transport, or an RSA signature in CMS.
pub const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
/// id-RSAES-OAEP.
pub const RSAES_OAEP: &str = "1.2.840.113549.1.1.7";

/// Content-encryption algorithms.
const CIPHERS: &[(&str, &str)] = &[
    ("2.16.840.1.101.3.4.1.2", "aes-128-cbc"),
    ("2.16.840.1.101.3.4.1.22", "aes-192-cbc"),
    ("2.16.840.1.101.3.4.1.42", "aes-256-cbc"),
    ("2.16.840.1.101.3.4.1.6", "aes-128-gcm"),
    ("2.16.840.1.101.3.4.1.26", "aes-192-gcm"),
    ("2.16.840.1.101.3.4.1.46", "aes-256-gcm"),
    ("2.16.840.1.101.3.4.1.7", "aes-128-ccm"),
    ("2.16.840.1.101.3.4.1.27", "aes-192-ccm"),
    ("2.16.840.1.101.3.4.1.47", "aes-256-ccm"),
    ("1.2.840.113549.3.7", "des-ede3-cbc"),
    ("1.2.840.113549.3.2", "rc2-cbc"),
    ("1.3.14.3.2.7", "des-cbc"),
];

/// Digest algorithms.
const DIGESTS: &[(&str, &str)] = &[
    ("1.2.840.113549.2.2", "md2"),
    ("1.2.840.113549.2.5", "md5"),
    (SHA1, "sha1"),
    ("2.16.840.1.101.3.4.2.4", "sha224"),
    (SHA256, "sha256"),
    ("2.16.840.1.101.3.4.2.2", "sha384"),
    ("2.16.840.1.101.3.4.2.3", "sha512"),
    ("2.16.840.1.101.3.4.2.8", "sha3-256"),
    ("2.16.840.1.101.3.4.2.9", "sha3-384"),
    ("2.16.840.1.101.3.4.2.10", "sha3-512"),
];

/// Signature algorithms, with OpenSSL's names.
const SIGNATURES: &[(&str, &str)] = &[
    (RSA_ENCRYPTION, "rsaEncryption"),
    ("1.2.840.113549.1.1.4", "md5WithRSAEncryption"),
    ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption"),
    ("1.2.840.113549.1.1.10", "RSASSA-PSS"),
    ("1.2.840.113549.1.1.11", "sha256WithRSAEncryption"),
    ("1.2.840.113549.1.1.12", "sha384WithRSAEncryption"),
    ("1.2.840.113549.1.1.13", "sha512WithRSAEncryption"),
    ("1.2.840.113549.1.1.14", "sha224WithRSAEncryption"),
    ("1.2.840.10045.2.1", "id-ecPublicKey"),
    ("1.2.840.10045.4.1", "ecdsa-with-SHA1"),
    ("1.2.840.10045.4.3.2", "ecdsa-with-SHA256"),
    ("1.2.840.10045.4.3.3", "ecdsa-with-SHA384"),
    ("1.2.840.10045.4.3.4", "ecdsa-with-SHA512"),
];

fn lookup(table: &[(&str, &'static str)], oid: &str) -> String {
    table
        .iter()
        .find(|(o, _)| *o == oid)
        .map_or_else(|| oid.to_string(), |(_, name)| (*name).to_string())
}

/// "aes-256-cbc", "des-ede3-cbc", ... or the dotted OID.
pub fn cipher(oid: &str) -> String {
    lookup(CIPHERS, oid)
}

/// "sha256", "sha1", "md5", ... or the dotted OID.
pub fn digest(oid: &str) -> String {
    lookup(DIGESTS, oid)
}

/// "sha256WithRSAEncryption", "rsaEncryption", ... or the dotted OID.
pub fn signature(oid: &str) -> String {
    lookup(SIGNATURES, oid)
}

/// The MIME `micalg` value (RFC 5751 §3.4.3.2) for a digest OID.
pub fn micalg(oid: &str) -> String {
    match digest(oid).as_str() {
        "sha224" => "sha-224".into(),
        "sha256" => "sha-256".into(),
        "sha384" => "sha-384".into(),
        "sha512" => "sha-512".into(),
        "sha1" => "sha1".into(),
        "md5" => "md5".into(),
        _ => "unknown".into(),
    }
}

/// "rsa-pkcs1v15", "rsa-oaep-sha256" (hash, and the MGF1 hash when it differs),
/// a RecipientInfo kind ("key-agreement"), or the dotted OID.
pub fn key_transport(oid: &str, oaep: Option<&(String, String)>) -> String {
    match (oid, oaep) {
        (RSA_ENCRYPTION, _) => "rsa-pkcs1v15".into(),
        (RSAES_OAEP, Some((hash, mgf))) if hash == mgf => format!("rsa-oaep-{}", digest(hash)),
        (RSAES_OAEP, Some((hash, mgf))) => {
            format!("rsa-oaep-{}-mgf1-{}", digest(hash), digest(mgf))
        }
        _ => oid.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_and_unknown() {
        assert_eq!(cipher("1.2.840.113549.3.7"), "des-ede3-cbc");
        assert_eq!(cipher("1.2.3"), "1.2.3");
        assert_eq!(digest(SHA256), "sha256");
        assert_eq!(micalg(SHA256), "sha-256");
        assert_eq!(micalg(SHA1), "sha1");
        assert_eq!(
            signature("1.2.840.113549.1.1.11"),
            "sha256WithRSAEncryption"
        );
        assert_eq!(key_transport(RSA_ENCRYPTION, None), "rsa-pkcs1v15");
        let sha = (SHA256.to_string(), SHA256.to_string());
        assert_eq!(key_transport(RSAES_OAEP, Some(&sha)), "rsa-oaep-sha256");
        let mixed = (SHA256.to_string(), SHA1.to_string());
        assert_eq!(
            key_transport(RSAES_OAEP, Some(&mixed)),
            "rsa-oaep-sha256-mgf1-sha1"
        );
        assert_eq!(key_transport("key-agreement", None), "key-agreement");
    }
}
