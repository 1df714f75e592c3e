//! Sealing: AES-256-GCM encryption at rest for private keys and PHI bodies.
//!
//! The sealing key is derived from the master key file with HKDF-SHA256, so the
//! file's raw bytes never key a cipher directly. A sealed value is
//! `"HS1" || nonce(12) || ciphertext || tag(16)`. The caller passes a context
//! label that is bound in as associated data, so a sealed value moved to another
//! row or purpose fails to open.

use std::fs;
use std::io::Write;
use std::path::Path;

use openssl::md::Md;
use openssl::pkey::Id;
use openssl::pkey_ctx::{HkdfMode, PkeyCtx};
use openssl::rand::rand_bytes;
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};

/// Magic prefix and version of the sealed format.
const MAGIC: &[u8; 3] = b"HS1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Length of a master key file's key material.
const MASTER_LEN: usize = 32;

/// Why sealing or unsealing failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The master key file is missing or unreadable.
    #[error("cannot read the master key file {path}: {why}")]
    Unreadable { path: String, why: String },
    /// The master key file does not hold a key.
    #[error("the master key file {0} is not a hisp master key (expected 64 hex characters)")]
    Malformed(String),
    /// A sealed value did not open: wrong master key, or altered data.
    #[error("a sealed value ({0}) did not open: wrong master key or altered data")]
    Open(String),
    /// OpenSSL failed.
    #[error("crypto failure: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
    /// Writing the key file failed.
    #[error("cannot write the master key file {path}: {why}")]
    Write { path: String, why: String },
}

/// Seals and opens values under the key derived from the master key.
pub struct Sealer {
    /// The derived AES-256 key; never the master key itself.
    key: [u8; 32],
    /// The derived HMAC-SHA256 key for blind indexes (lookups by a value
    /// that must not be stored in clear, such as a patient identifier).
    blind_key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// Derive the sealing key from master key material.
    pub fn from_master(master: &[u8]) -> Result<Self, SealError> {
        Ok(Self {
            key: derive(master, b"hisp seal v1 aes-256-gcm")?,
            blind_key: derive(master, b"hisp blind index v1 hmac-sha256")?,
        })
    }

    /// A keyed hash of `value` under `context` (hex): equal inputs give equal
    /// outputs, and without the master key the value cannot be recovered or
    /// guessed by hashing candidates.
    pub fn blind(&self, context: &str, value: &[u8]) -> Result<String, SealError> {
        let key = openssl::pkey::PKey::hmac(&self.blind_key)?;
        let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)?;
        signer.update(context.as_bytes())?;
        signer.update(&[0])?;
        signer.update(value)?;
        Ok(hex_encode(&signer.sign_to_vec()?))
    }

    /// Read the master key file (64 hex characters) and derive the sealing key.
    pub fn from_key_file(path: &Path) -> Result<Self, SealError> {
        let text = fs::read_to_string(path).map_err(|e| SealError::Unreadable {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        let master = hex_decode(text.trim())
            .filter(|m| m.len() == MASTER_LEN)
            .ok_or_else(|| SealError::Malformed(path.display().to_string()))?;
        Self::from_master(&master)
    }

    /// Seal `plain`, binding `context` as associated data.
    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand_bytes(&mut nonce)?;
        let mut tag = [0u8; TAG_LEN];
        let ct = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.key,
            Some(&nonce),
            context.as_bytes(),
            plain,
            &mut tag,
        )?;
        let mut out = Vec::with_capacity(MAGIC.len() + NONCE_LEN + ct.len() + TAG_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Open a value sealed with the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let fail = || SealError::Open(context.to_string());
        let body = sealed.strip_prefix(MAGIC.as_slice()).ok_or_else(fail)?;
        if body.len() < NONCE_LEN + TAG_LEN {
            return Err(fail());
        }
        let (nonce, rest) = body.split_at(NONCE_LEN);
        let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
        decrypt_aead(
            Cipher::aes_256_gcm(),
            &self.key,
            Some(nonce),
            context.as_bytes(),
            ct,
            tag,
        )
        .map_err(|_| fail())
    }
}

/// HKDF-SHA256 of the master key for one purpose.
fn derive(master: &[u8], info: &[u8]) -> Result<[u8; 32], SealError> {
    let mut ctx = PkeyCtx::new_id(Id::HKDF)?;
    ctx.derive_init()?;
    ctx.set_hkdf_mode(HkdfMode::EXTRACT_THEN_EXPAND)?;
    ctx.set_hkdf_md(Md::sha256())?;
    ctx.set_hkdf_key(master)?;
    ctx.set_hkdf_salt(b"hisp master key")?;
    ctx.add_hkdf_info(info)?;
    let mut key = [0u8; 32];
    ctx.derive(Some(&mut key))?;
    Ok(key)
}

/// Create a new master key file (mode 0600) unless one exists. Returns true when created.
pub fn create_key_file(path: &Path) -> Result<bool, SealError> {
    if path.exists() {
        return Ok(false);
    }
    let werr = |e: std::io::Error| SealError::Write {
        path: path.display().to_string(),
        why: e.to_string(),
    };
    let mut master = [0u8; MASTER_LEN];
    rand_bytes(&mut master)?;
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(werr)?;
    writeln!(f, "{}", hex_encode(&master)).map_err(werr)?;
    f.sync_all().map_err(werr)?;
    Ok(true)
}

/// Lower-case hex.
pub fn hex_encode(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Decode hex (either case); None when malformed.
pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::from_master(&[7u8; 32]).expect("derive")
    }

    #[test]
    fn round_trips_and_binds_context() {
        let s = sealer();
        let sealed = s.seal("cert-key:1", b"secret").expect("seal");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(s.open("cert-key:1", &sealed).expect("open"), b"secret");
        assert!(s.open("cert-key:2", &sealed).is_err());
        let other = Sealer::from_master(&[8u8; 32]).expect("derive");
        assert!(other.open("cert-key:1", &sealed).is_err());
    }

    #[test]
    fn blind_is_keyed_stable_and_context_bound() {
        let s = sealer();
        let a = s.blind("patient-id", b"north\0MRN1").expect("blind");
        assert_eq!(a, s.blind("patient-id", b"north\0MRN1").expect("blind"));
        assert_eq!(a.len(), 64);
        assert!(!a.contains("MRN1"));
        assert_ne!(a, s.blind("patient-id", b"north\0MRN2").expect("blind"));
        assert_ne!(a, s.blind("other", b"north\0MRN1").expect("blind"));
        let other = Sealer::from_master(&[8u8; 32]).expect("derive");
        assert_ne!(a, other.blind("patient-id", b"north\0MRN1").expect("blind"));
    }

    #[test]
    fn refuses_altered_or_short_values() {
        let s = sealer();
        let mut sealed = s.seal("x", b"hello world").expect("seal");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(s.open("x", &sealed).is_err());
        for bad in [
            &b""[..],
            b"HS1",
            b"HS1short",
            b"XYZ0123456789012345678901234567",
        ] {
            assert!(s.open("x", bad).is_err());
        }
    }

    #[test]
    fn key_file_is_private_and_reloads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("master.key");
        assert!(create_key_file(&path).expect("create"));
        assert!(!create_key_file(&path).expect("exists"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let a = Sealer::from_key_file(&path).expect("load");
        let b = Sealer::from_key_file(&path).expect("load");
        let sealed = a.seal("c", b"v").expect("seal");
        assert_eq!(b.open("c", &sealed).expect("open"), b"v");
        fs::write(&path, "not a key").expect("write");
        assert!(matches!(
            Sealer::from_key_file(&path),
            Err(SealError::Malformed(_))
        ));
        assert!(matches!(
            Sealer::from_key_file(&dir.path().join("missing")),
            Err(SealError::Unreadable { .. })
        ));
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(hex_encode(&[0, 15, 255]), "000fff");
        assert_eq!(hex_decode("000FfF"), Some(vec![0, 15, 255]));
        assert_eq!(hex_decode("abc"), None);
        assert_eq!(hex_decode("zz"), None);
    }
}
