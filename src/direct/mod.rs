//! The Direct security and trust agent: addresses, S/MIME (sign, encrypt,
//! decrypt, verify), algorithm policy, trust (anchors, bundles, paths, CRL, AIA),
//! and MDNs and DSNs.

pub mod address;
pub(crate) mod compose;
pub mod discovery;
pub mod dsn;
pub mod ffi;
pub mod incoming;
pub mod mdn;
pub mod notice;
pub mod outgoing;
pub mod policy;
pub mod smime;
pub mod trust;

pub use address::{AddressError, DirectAddress, Domain};
