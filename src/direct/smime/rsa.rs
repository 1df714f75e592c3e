//! RSA operations through initialised contexts kept per thread, as
//! `openssl speed` keeps one: OpenSSL 3.0 spends several microseconds creating
//! and initialising an `EVP_PKEY_CTX` (provider fetches, parameter setting)
//! around every operation, and a gateway signs with the same few keys all day.
//!
//! A context is found by the key's public half (`EVP_PKEY_eq`): for RSA the
//! modulus and exponent fix the private operation. At most [`KEPT`] keys are
//! remembered per thread and per kind; a context whose operation failed is
//! dropped rather than reused.

use openssl::error::ErrorStack;
use openssl::md::Md;
use openssl::pkey::{HasPublic, PKey, PKeyRef, Private, Public};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use std::cell::RefCell;

/// How many keys' contexts a thread keeps per kind of operation.
const KEPT: usize = 4;

type Contexts<K> = RefCell<Vec<(PKey<K>, PkeyCtx<K>)>>;

thread_local! {
    static SIGN_SHA256: Contexts<Private> = const { RefCell::new(Vec::new()) };
    static DECRYPT_PKCS1: Contexts<Private> = const { RefCell::new(Vec::new()) };
    static VERIFY_SHA256: Contexts<Public> = const { RefCell::new(Vec::new()) };
    static ENCRYPT_PKCS1: Contexts<Public> = const { RefCell::new(Vec::new()) };
}

/// The RSA PKCS#1 v1.5 signature of a SHA-256 `digest` (DigestInfo added).
pub fn sign_sha256(key: &PKeyRef<Private>, digest: &[u8]) -> Result<Vec<u8>, ErrorStack> {
    let init = |ctx: &mut PkeyCtx<Private>| {
        ctx.sign_init()?;
        ctx.set_rsa_padding(Padding::PKCS1)?;
        ctx.set_signature_md(Md::sha256())
    };
    with_context(&SIGN_SHA256, key, init, |ctx| {
        let mut out = Vec::new();
        ctx.sign_to_vec(digest, &mut out)?;
        Ok(out)
    })
}

/// RSA PKCS#1 v1.5 decryption (the content key of a key-transport recipient).
pub fn decrypt_pkcs1(key: &PKeyRef<Private>, input: &[u8]) -> Result<Vec<u8>, ErrorStack> {
    let init = |ctx: &mut PkeyCtx<Private>| {
        ctx.decrypt_init()?;
        ctx.set_rsa_padding(Padding::PKCS1)
    };
    with_context(&DECRYPT_PKCS1, key, init, |ctx| {
        let mut out = Vec::new();
        ctx.decrypt_to_vec(input, &mut out)?;
        Ok(out)
    })
}

/// Whether `signature` is `key`'s RSA PKCS#1 v1.5 signature of a SHA-256 `digest`.
pub fn verify_sha256(key: &PKeyRef<Public>, digest: &[u8], signature: &[u8]) -> bool {
    let init = |ctx: &mut PkeyCtx<Public>| {
        ctx.verify_init()?;
        ctx.set_rsa_padding(Padding::PKCS1)?;
        ctx.set_signature_md(Md::sha256())
    };
    with_context(&VERIFY_SHA256, key, init, |ctx| {
        ctx.verify(digest, signature)
    })
    .unwrap_or(false)
}

/// RSA PKCS#1 v1.5 encryption (a content key to a key-transport recipient).
pub fn encrypt_pkcs1(key: &PKeyRef<Public>, input: &[u8]) -> Result<Vec<u8>, ErrorStack> {
    let init = |ctx: &mut PkeyCtx<Public>| {
        ctx.encrypt_init()?;
        ctx.set_rsa_padding(Padding::PKCS1)
    };
    with_context(&ENCRYPT_PKCS1, key, init, |ctx| {
        let mut out = Vec::new();
        ctx.encrypt_to_vec(input, &mut out)?;
        Ok(out)
    })
}

/// Run `op` with this thread's context for `key`, made by `init` when there is
/// none yet; a failed operation's context is not kept.
fn with_context<K: HasPublic, T>(
    cache: &'static std::thread::LocalKey<Contexts<K>>,
    key: &PKeyRef<K>,
    init: impl Fn(&mut PkeyCtx<K>) -> Result<(), ErrorStack>,
    op: impl FnOnce(&mut PkeyCtx<K>) -> Result<T, ErrorStack>,
) -> Result<T, ErrorStack> {
    cache.with(|cell| {
        let mut kept = cell.borrow_mut();
        let found = kept.iter().position(|(k, _)| k.public_eq(key));
        let (owner, mut ctx) = match found {
            Some(i) => kept.swap_remove(i),
            None => {
                let mut ctx = PkeyCtx::new(key)?;
                init(&mut ctx)?;
                (key.to_owned(), ctx)
            }
        };
        let result = op(&mut ctx);
        if result.is_ok() {
            if kept.len() >= KEPT {
                kept.remove(0);
            }
            kept.push((owner, ctx));
        }
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::rsa::Rsa;

    #[test]
    fn cached_contexts_match_fresh_ones_per_key() {
        let keys: Vec<PKey<Private>> = (0..KEPT + 2)
            .map(|_| PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey"))
            .collect();
        let digest = openssl::sha::sha256(b"content");
        for _round in 0..2 {
            for key in &keys {
                let sig = sign_sha256(key, &digest).expect("sign");
                let mut v = PkeyCtx::new(key).expect("ctx");
                v.verify_init().expect("init");
                v.set_rsa_padding(Padding::PKCS1).expect("padding");
                v.set_signature_md(Md::sha256()).expect("md");
                assert!(v.verify(&digest, &sig).expect("verify"));

                let mut e = PkeyCtx::new(key).expect("ctx");
                e.encrypt_init().expect("init");
                e.set_rsa_padding(Padding::PKCS1).expect("padding");
                let mut sealed = Vec::new();
                e.encrypt_to_vec(b"0123456789abcdef", &mut sealed)
                    .expect("encrypt");
                assert_eq!(
                    decrypt_pkcs1(key, &sealed).expect("decrypt"),
                    b"0123456789abcdef"
                );
                // Another key's context is never used for this one.
                let other = keys.iter().find(|k| !k.public_eq(key)).expect("other");
                let wrong = decrypt_pkcs1(other, &sealed).ok();
                assert_ne!(wrong.as_deref(), Some(&b"0123456789abcdef"[..]));
            }
        }
        assert!(SIGN_SHA256.with(|c| c.borrow().len()) <= KEPT);
    }
}
