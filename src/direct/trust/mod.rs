//! Trust: anchors per domain (incoming and outgoing), trust bundles, path
//! validation with CRL and AIA. No sockets of its own: fetching goes through an
//! injected [`fetch::Fetcher`].

pub mod bundle;
pub mod fetch;
pub mod path;

pub use fetch::{FetchError, Fetcher, HttpFetcher};
pub use path::{TrustFailure, Validator};
