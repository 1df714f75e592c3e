//! A fetcher that answers our own CA's URLs (`<public_url>/pki/ca.crl` and
//! `/pki/ca.cer`) from the store and passes every other URL on. Our certificates
//! carry those URLs, and a node must be able to check its own users' certificates
//! even when its HTTP listener is elsewhere, behind a balancer, or not running
//! (the CLI).

use crate::direct::trust::fetch::{FetchFuture, Fetcher};
use crate::store::{Store, ca};
use std::sync::Arc;

/// Our PKI from the store first, then `inner`.
#[derive(Debug)]
pub struct LocalPki {
    /// Everything else.
    pub inner: Arc<dyn Fetcher>,
    /// Where the CA and its current CRL live.
    pub store: Store,
    /// Our CRL's URL.
    pub crl_url: String,
    /// Our CA certificate's URL.
    pub cer_url: String,
}

impl LocalPki {
    /// Wrap `inner` for a HISP publishing under `public_url`.
    pub fn new(inner: Arc<dyn Fetcher>, store: Store, public_url: &str) -> Self {
        Self {
            inner,
            store,
            crl_url: format!("{public_url}/pki/ca.crl"),
            cer_url: format!("{public_url}/pki/ca.cer"),
        }
    }

    async fn local(&self, url: &str) -> Option<Vec<u8>> {
        let mut conn = self.store.pool().acquire().await.ok()?;
        if url == self.crl_url {
            return ca::current_crl(&mut conn).await.ok()?.map(|c| c.der);
        }
        if url == self.cer_url {
            return ca::cert(&mut conn).await.ok()??.to_der().ok();
        }
        None
    }
}

impl Fetcher for LocalPki {
    fn get<'a>(&'a self, url: &'a str) -> FetchFuture<'a> {
        Box::pin(async move {
            match self.local(url).await {
                Some(body) => Ok(body),
                None => self.inner.get(url).await,
            }
        })
    }
}
