//! The few OpenSSL calls the `openssl` crate does not wrap, behind safe functions.
//!
//! It owns CMS encryption with RSA-OAEP key transport, and reading the keyUsage
//! OpenSSL cached in a parsed certificate. For OAEP: the crate's
//! `CmsContentInfo::encrypt` always uses PKCS#1 v1.5, and setting OAEP needs each
//! recipient's `EVP_PKEY_CTX`, which only the raw API reaches. Since the crate does
//! not export the `ForeignType` traits, the raw objects are made here from DER and
//! freed here by small guards: no raw pointer leaves this module.
#![allow(unsafe_code)]

use openssl::cms::CMSOptions;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::symm::Cipher;
use openssl::x509::X509Ref;
use openssl_sys as sys;
use std::os::raw::{c_int, c_long, c_uint};
use std::ptr;

/// OpenSSL's opaque `CMS_RecipientInfo`.
#[repr(C)]
struct CmsRecipientInfo {
    _private: [u8; 0],
}

// Declared in <openssl/cms.h> (OpenSSL 1.0.0 and later) but not in openssl-sys.
unsafe extern "C" {
    fn CMS_add1_recipient_cert(
        cms: *mut sys::CMS_ContentInfo,
        recip: *mut sys::X509,
        flags: c_uint,
    ) -> *mut CmsRecipientInfo;
    fn CMS_RecipientInfo_get0_pkey_ctx(ri: *mut CmsRecipientInfo) -> *mut sys::EVP_PKEY_CTX;
    fn CMS_final(
        cms: *mut sys::CMS_ContentInfo,
        data: *mut sys::BIO,
        dcont: *mut sys::BIO,
        flags: c_uint,
    ) -> c_int;
}

/// Owns a `CMS_ContentInfo*` and frees it on drop.
struct Cms(*mut sys::CMS_ContentInfo);

impl Drop for Cms {
    fn drop(&mut self) {
        // SAFETY: self.0 is non-null (checked at construction) and owned only here.
        unsafe { sys::CMS_ContentInfo_free(self.0) }
    }
}

/// Owns an `X509*` and frees it on drop.
struct Cert(*mut sys::X509);

impl Drop for Cert {
    fn drop(&mut self) {
        // SAFETY: self.0 is non-null (checked at construction) and owned only here.
        unsafe { sys::X509_free(self.0) }
    }
}

/// Owns a read-only memory `BIO*` over a borrowed slice; the lifetime keeps the
/// slice alive for as long as the BIO.
struct ReadBio<'a>(*mut sys::BIO, std::marker::PhantomData<&'a [u8]>);

impl Drop for ReadBio<'_> {
    fn drop(&mut self) {
        // SAFETY: self.0 is non-null (checked at construction) and owned only here.
        unsafe { sys::BIO_free_all(self.0) };
    }
}

/// A non-null pointer, or the OpenSSL error queue as an error.
fn non_null<T>(p: *mut T) -> Result<*mut T, ErrorStack> {
    if p.is_null() {
        Err(ErrorStack::get())
    } else {
        Ok(p)
    }
}

/// A positive return code, or the OpenSSL error queue as an error.
fn positive(rc: c_int) -> Result<(), ErrorStack> {
    if rc > 0 {
        Ok(())
    } else {
        Err(ErrorStack::get())
    }
}

impl<'a> ReadBio<'a> {
    fn new(data: &'a [u8]) -> Result<Self, ErrorStack> {
        let len = c_int::try_from(data.len()).map_err(|_| ErrorStack::get())?;
        // SAFETY: the BIO reads `len` bytes from `data`, which outlives it ('a).
        let bio = unsafe { sys::BIO_new_mem_buf(data.as_ptr().cast(), len) };
        Ok(Self(non_null(bio)?, std::marker::PhantomData))
    }
}

impl Cert {
    fn from_der(der: &[u8]) -> Result<Self, ErrorStack> {
        let len = c_long::try_from(der.len()).map_err(|_| ErrorStack::get())?;
        let mut p = der.as_ptr();
        // SAFETY: d2i reads at most `len` bytes from `der` and returns a new X509.
        let x = unsafe { sys::d2i_X509(ptr::null_mut(), &mut p, len) };
        Ok(Self(non_null(x)?))
    }
}

impl Cms {
    /// DER of the whole ContentInfo.
    fn to_der(&self) -> Result<Vec<u8>, ErrorStack> {
        // SAFETY: a null output pointer asks only for the length.
        let len = unsafe { sys::i2d_CMS_ContentInfo(self.0, ptr::null_mut()) };
        let size = usize::try_from(len).map_err(|_| ErrorStack::get())?;
        if size == 0 {
            return Err(ErrorStack::get());
        }
        let mut out = vec![0u8; size];
        let mut p = out.as_mut_ptr();
        // SAFETY: `out` holds exactly the `len` bytes i2d just reported it writes.
        let written = unsafe { sys::i2d_CMS_ContentInfo(self.0, &mut p) };
        if written != len {
            return Err(ErrorStack::get());
        }
        Ok(out)
    }
}

/// Encrypt `data` to every recipient with RSAES-OAEP key transport, `md` as both
/// the OAEP hash and the MGF1 hash; returns the DER ContentInfo (EnvelopedData, or
/// AuthEnvelopedData for an AEAD `cipher`). `flags` should hold `BINARY`.
pub fn cms_encrypt_oaep(
    recipients: &[&X509Ref],
    data: &[u8],
    cipher: Cipher,
    md: MessageDigest,
    flags: CMSOptions,
) -> Result<Vec<u8>, ErrorStack> {
    openssl_sys::init();
    let flags = flags.bits();
    let certs = recipients
        .iter()
        .map(|c| c.to_der().and_then(|der| Cert::from_der(&der)))
        .collect::<Result<Vec<_>, _>>()?;
    // SAFETY: no certificates and no data with CMS_PARTIAL: only allocates the
    // structure; `cipher` is a static EVP_CIPHER.
    let raw = unsafe {
        sys::CMS_encrypt(
            ptr::null_mut(),
            ptr::null_mut(),
            cipher.as_ptr(),
            flags | sys::CMS_PARTIAL,
        )
    };
    let cms = Cms(non_null(raw)?);
    for cert in &certs {
        // SAFETY: both pointers are live; the call takes its own reference to the cert.
        let ri = unsafe { CMS_add1_recipient_cert(cms.0, cert.0, flags | sys::CMS_KEY_PARAM) };
        let ri = non_null(ri)?;
        // SAFETY: `ri` belongs to `cms`, which is alive; the context is borrowed.
        let pctx = non_null(unsafe { CMS_RecipientInfo_get0_pkey_ctx(ri) })?;
        // SAFETY: `pctx` is the live encrypt context CMS_KEY_PARAM set up.
        positive(unsafe { sys::EVP_PKEY_CTX_set_rsa_padding(pctx, sys::RSA_PKCS1_OAEP_PADDING) })?;
        // SAFETY: as above; `md` is a static EVP_MD the context only references.
        positive(unsafe { sys::EVP_PKEY_CTX_set_rsa_oaep_md(pctx, md.as_ptr().cast_mut()) })?;
        // SAFETY: as above.
        positive(unsafe { sys::EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md.as_ptr().cast_mut()) })?;
    }
    let bio = ReadBio::new(data)?;
    // SAFETY: `cms` and `bio` are live; no detached-content BIO.
    positive(unsafe { CMS_final(cms.0, bio.0, ptr::null_mut(), flags) })?;
    cms.to_der()
}

/// The keyUsage bits OpenSSL cached when it parsed `cert` (`X509v3_KU_*`), or
/// `Some(None)` when the certificate has no keyUsage extension; `None` when
/// OpenSSL found its extensions invalid (the caller then reads the DER itself).
/// Re-encoding a certificate to DER costs about 9 µs in OpenSSL 3.0; this
/// costs nothing after the first call.
pub fn cached_key_usage(cert: &X509Ref) -> Option<Option<u32>> {
    // An `&X509Ref` is the `X509*` itself: foreign-types' `ForeignTypeRef::as_ptr`
    // is exactly this cast (the crate does not re-export the trait).
    let raw = cert as *const X509Ref as *mut sys::X509;
    // SAFETY: `raw` is a live X509 borrowed for this call; the function only
    // reads (computing once, under the certificate's own lock) the cached
    // extension data.
    let flags = unsafe { sys::X509_get_extension_flags(raw) };
    if flags & sys::EXFLAG_INVALID != 0 {
        return None;
    }
    if flags & sys::EXFLAG_KUSAGE == 0 {
        return Some(None);
    }
    // SAFETY: as above.
    Some(Some(unsafe { sys::X509_get_key_usage(raw) }))
}
