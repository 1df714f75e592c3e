//! The algorithms an outgoing message may use, by the names configuration and
//! [`super::envelope_info`] share: [`ContentCipher`] and [`KeyTransport`].

use super::SmimeError;
use openssl::symm::Cipher;
use std::fmt;
use std::str::FromStr;

/// The content-encryption algorithm of an outgoing message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ContentCipher {
    /// AES-128-CBC.
    Aes128Cbc,
    /// AES-192-CBC.
    Aes192Cbc,
    /// AES-256-CBC, the default.
    #[default]
    Aes256Cbc,
    /// AES-128-GCM (AuthEnvelopedData, RFC 5083/5084).
    Aes128Gcm,
    /// AES-256-GCM (AuthEnvelopedData).
    Aes256Gcm,
}

impl ContentCipher {
    /// Every cipher, for help text and tests.
    pub const ALL: [Self; 5] = [
        Self::Aes128Cbc,
        Self::Aes192Cbc,
        Self::Aes256Cbc,
        Self::Aes128Gcm,
        Self::Aes256Gcm,
    ];

    /// The name used in configuration and reported by [`envelope_info`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aes128Cbc => "aes-128-cbc",
            Self::Aes192Cbc => "aes-192-cbc",
            Self::Aes256Cbc => "aes-256-cbc",
            Self::Aes128Gcm => "aes-128-gcm",
            Self::Aes256Gcm => "aes-256-gcm",
        }
    }

    /// Whether it makes AuthEnvelopedData.
    pub fn is_aead(self) -> bool {
        matches!(self, Self::Aes128Gcm | Self::Aes256Gcm)
    }

    pub(super) fn openssl(self) -> Cipher {
        match self {
            Self::Aes128Cbc => Cipher::aes_128_cbc(),
            Self::Aes192Cbc => Cipher::aes_192_cbc(),
            Self::Aes256Cbc => Cipher::aes_256_cbc(),
            Self::Aes128Gcm => Cipher::aes_128_gcm(),
            Self::Aes256Gcm => Cipher::aes_256_gcm(),
        }
    }
}

impl fmt::Display for ContentCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ContentCipher {
    type Err = SmimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let want = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == want)
            .ok_or_else(|| SmimeError::UnknownAlgorithm(s.to_string()))
    }
}

/// How the content-encryption key reaches each recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyTransport {
    /// RSA PKCS#1 v1.5 (rsaEncryption), the default every agent reads.
    #[default]
    Pkcs1v15,
    /// RSAES-OAEP with SHA-256 and MGF1-SHA-256 (RFC 4055).
    RsaOaepSha256,
}

impl KeyTransport {
    /// The name used in configuration and reported by [`envelope_info`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pkcs1v15 => "rsa-pkcs1v15",
            Self::RsaOaepSha256 => "rsa-oaep-sha256",
        }
    }
}

impl fmt::Display for KeyTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyTransport {
    type Err = SmimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rsa-pkcs1v15" => Ok(Self::Pkcs1v15),
            "rsa-oaep-sha256" => Ok(Self::RsaOaepSha256),
            _ => Err(SmimeError::UnknownAlgorithm(s.to_string())),
        }
    }
}
