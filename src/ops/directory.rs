//! The directory memo: what every message looks up, several times over, and
//! what changes only when an admin acts (domains, addresses, certificate rows,
//! anchor sets, the CA certificate).
//!
//! Every write to those tables bumps `directory_generation` in the same
//! transaction, by trigger (migration 0009), so no write path can forget it,
//! whether the CLI, the portal, a bundle refresh or another node did it. A
//! [`Lookup`] reads the counter once, on a pooled connection, and then
//! answers from the memo while the counter stands; when it has moved, the memo
//! is dropped and refilled from the tables on demand. So a message costs one
//! small read instead of a dozen, and still sees an address disabled, a
//! certificate revoked or an anchor removed by the time the change committed.
//!
//! Rows are memoized as stored; what depends on the time (a certificate's
//! validity) is judged by the caller at use. Each map is bounded (RCPT TO
//! can name any domain) and cleared when full.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use openssl::x509::X509;
use sqlx::pool::PoolConnection;

use super::{Hisp, OpsError};
use crate::direct::{DirectAddress, Domain};
use crate::store::addresses::{self, AddressRow};
use crate::store::anchors::{self, Direction};
use crate::store::certs::{self, CertRow};
use crate::store::domains::{self, DomainRow};
use crate::store::{StoreError, ca};

/// Entries per map before it is cleared.
const LIMIT: usize = 8192;

/// One node's memo, shared by every clone of its [`Hisp`].
#[derive(Debug, Default)]
pub struct Directory {
    memo: Mutex<Memo>,
}

#[derive(Debug, Default)]
struct Memo {
    /// The counter the entries were read under; None before the first read.
    generation: Option<i64>,
    domains: HashMap<String, Option<DomainRow>>,
    all_domains: Option<Arc<Vec<DomainRow>>>,
    addresses: HashMap<String, Option<AddressRow>>,
    certs: HashMap<(i64, Option<i64>), Arc<Vec<CertRow>>>,
    anchors: HashMap<(i64, bool), Arc<Vec<X509>>>,
    ca: Option<X509>,
}

impl Directory {
    fn memo(&self) -> MutexGuard<'_, Memo> {
        match self.memo.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Move to `generation` if it is newer than what the memo holds.
    fn sync(&self, generation: i64) {
        let mut memo = self.memo();
        if memo.generation.is_none_or(|g| g < generation) {
            *memo = Memo {
                generation: Some(generation),
                ..Memo::default()
            };
        }
    }

    /// Keep `value` unless the memo has moved past the caller's generation
    /// (the caller may have read before a change another lookup has seen).
    fn keep(&self, generation: i64, put: impl FnOnce(&mut Memo)) {
        let mut memo = self.memo();
        if memo.generation == Some(generation) {
            put(&mut memo);
        }
    }
}

fn bounded_insert<K: Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() >= LIMIT {
        map.clear();
    }
    map.insert(key, value);
}

/// A series of directory lookups at one generation. It holds no connection
/// between lookups (a caller may go to DNS in between); a miss borrows one
/// from the pool.
pub struct Lookup<'h> {
    hisp: &'h Hisp,
    dir: &'h Directory,
    generation: i64,
}

impl Hisp {
    /// Start looking things up: one read of the change counter.
    pub async fn lookup(&self) -> Result<Lookup<'_>, OpsError> {
        let mut conn = self.conn().await?;
        let generation = crate::store::domains::directory_generation(&mut conn).await?;
        self.directory.sync(generation);
        Ok(Lookup {
            hisp: self,
            dir: &self.directory,
            generation,
        })
    }
}

impl Lookup<'_> {
    async fn conn(&self) -> Result<PoolConnection<sqlx::Any>, OpsError> {
        self.hisp.conn().await
    }

    /// The domain with this name, if we serve it.
    pub async fn domain(&mut self, name: &Domain) -> Result<Option<DomainRow>, OpsError> {
        if let Some(hit) = self.dir.memo().domains.get(name.as_str()) {
            return Ok(hit.clone());
        }
        let row = domains::find(&mut *self.conn().await?, name).await?;
        let kept = row.clone();
        self.dir.keep(self.generation, |m| {
            bounded_insert(&mut m.domains, name.as_str().to_owned(), kept);
        });
        Ok(row)
    }

    /// Every domain we serve, by name.
    pub async fn domains(&mut self) -> Result<Arc<Vec<DomainRow>>, OpsError> {
        if let Some(hit) = &self.dir.memo().all_domains {
            return Ok(hit.clone());
        }
        let all = Arc::new(domains::list(&mut *self.conn().await?).await?);
        self.dir
            .keep(self.generation, |m| m.all_domains = Some(all.clone()));
        Ok(all)
    }

    /// The domain with this name, or `NotFound`.
    pub async fn domain_row(&mut self, name: &Domain) -> Result<DomainRow, OpsError> {
        self.domain(name)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("domain {name}")).into())
    }

    /// The stored row for an address, if any (enabled or not).
    pub async fn address(&mut self, a: &DirectAddress) -> Result<Option<AddressRow>, OpsError> {
        let key = a.to_string();
        if let Some(hit) = self.dir.memo().addresses.get(&key) {
            return Ok(hit.clone());
        }
        let row = addresses::find(&mut *self.conn().await?, a).await?;
        let kept = row.clone();
        self.dir.keep(self.generation, |m| {
            bounded_insert(&mut m.addresses, key, kept);
        });
        Ok(row)
    }

    /// An address's certificates (Some) or a domain's organization-bound ones.
    pub async fn certs(
        &mut self,
        domain_id: i64,
        address_id: Option<i64>,
    ) -> Result<Arc<Vec<CertRow>>, OpsError> {
        let key = (domain_id, address_id);
        if let Some(hit) = self.dir.memo().certs.get(&key) {
            return Ok(hit.clone());
        }
        let rows =
            Arc::new(certs::for_owner(&mut *self.conn().await?, domain_id, address_id).await?);
        self.dir.keep(self.generation, |m| {
            bounded_insert(&mut m.certs, key, rows.clone());
        });
        Ok(rows)
    }

    /// A domain's anchor set for one direction.
    pub async fn anchors(
        &mut self,
        domain_id: i64,
        dir: Direction,
    ) -> Result<Arc<Vec<X509>>, OpsError> {
        let key = (domain_id, dir == Direction::Incoming);
        if let Some(hit) = self.dir.memo().anchors.get(&key) {
            return Ok(hit.clone());
        }
        let set = Arc::new(anchors::set(&mut *self.conn().await?, domain_id, dir).await?);
        self.dir.keep(self.generation, |m| {
            bounded_insert(&mut m.anchors, key, set.clone());
        });
        Ok(set)
    }

    /// Our CA's certificate; `NotFound` before setup.
    pub async fn ca_cert(&mut self) -> Result<X509, OpsError> {
        if let Some(hit) = &self.dir.memo().ca {
            return Ok(hit.clone());
        }
        let cert = ca::cert(&mut *self.conn().await?)
            .await?
            .ok_or_else(|| StoreError::NotFound("the CA (run `hisp init`)".into()))?;
        self.dir
            .keep(self.generation, |m| m.ca = Some(cert.clone()));
        Ok(cert)
    }
}
