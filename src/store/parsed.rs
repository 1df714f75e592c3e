//! Process-wide caches of parsed certificates and private keys, keyed by the
//! SHA-256 of the exact stored bytes. OpenSSL 3.0 decodes a certificate or key
//! through its provider decoder framework (about 150 µs for an RSA-2048
//! certificate here, more for a key), and the same identities, anchors and
//! correspondents come back on every message. The store stays the source of
//! truth: callers still read the row each time, and only the decode (and, for
//! keys, the unsealing) is skipped when the bytes are identical. A changed,
//! revoked or removed certificate is a different row or no row, so nothing
//! stale can be served. Each cache is bounded and cleared when full.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use openssl::pkey::{PKey, Private};
use openssl::sha::Sha256;
use openssl::x509::X509;

/// Entries per cache before it is cleared.
const LIMIT: usize = 4096;

type Cache<T> = OnceLock<Mutex<HashMap<[u8; 32], T>>>;

static CERTS: Cache<X509> = OnceLock::new();
static STACKS: Cache<Vec<X509>> = OnceLock::new();
static KEYS: Cache<PKey<Private>> = OnceLock::new();

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(&(p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finish()
}

fn get_or<T: Clone, E>(
    cache: &'static Cache<T>,
    key: [u8; 32],
    make: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let map = cache.get_or_init(Mutex::default);
    let hit = match map.lock() {
        Ok(m) => m.get(&key).cloned(),
        Err(poisoned) => poisoned.into_inner().get(&key).cloned(),
    };
    if let Some(v) = hit {
        return Ok(v);
    }
    let v = make()?;
    let mut m = match map.lock() {
        Ok(m) => m,
        Err(poisoned) => poisoned.into_inner(),
    };
    if m.len() >= LIMIT {
        m.clear();
    }
    m.insert(key, v.clone());
    Ok(v)
}

/// A DER certificate, parsed once per distinct encoding.
pub fn x509(der: &[u8]) -> Result<X509, openssl::error::ErrorStack> {
    get_or(&CERTS, digest(&[b"der", der]), || X509::from_der(der))
}

/// A PEM chain, parsed once per distinct text.
pub fn x509_stack(pem: &[u8]) -> Result<Vec<X509>, openssl::error::ErrorStack> {
    get_or(&STACKS, digest(&[b"pem", pem]), || {
        X509::stack_from_pem(pem)
    })
}

/// A private key stored sealed under `context`: `open` unseals and decodes it
/// the first time these exact sealed bytes are seen.
pub fn private_key<E>(
    context: &str,
    sealed: &[u8],
    open: impl FnOnce() -> Result<PKey<Private>, E>,
) -> Result<PKey<Private>, E> {
    get_or(&KEYS, digest(&[context.as_bytes(), sealed]), open)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_bytes_give_the_same_object_and_bad_bytes_an_error() {
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).expect("rsa")).expect("pkey");
        let calls = std::cell::Cell::new(0);
        let open = || {
            calls.set(calls.get() + 1);
            Ok::<_, ()>(key.clone())
        };
        let a = private_key("k:1", b"sealed-1", open).expect("a");
        let b = private_key("k:1", b"sealed-1", open).expect("b");
        assert_eq!(calls.get(), 1, "decoded once");
        assert!(a.public_eq(&b));
        private_key("k:2", b"sealed-1", open).expect("other context");
        assert_eq!(calls.get(), 2, "the context is part of the key");
        assert!(x509(b"not a certificate").is_err());
        assert!(x509(b"not a certificate").is_err(), "errors are not cached");
    }
}
