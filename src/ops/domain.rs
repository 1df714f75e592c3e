//! Domains: each gets an organization-bound certificate, which signs the HISP's
//! own mail for the domain (MDNs, DSNs, alerts) and answers domain-level lookups,
//! and trusts our own CA as an incoming and outgoing anchor.

use super::{Hisp, OpsError, Owner};
use crate::direct::Domain;
use crate::pki::Subject;
use crate::store::anchors;
use crate::store::certs::{self, CertRow};
use crate::store::domains::{self, DomainRow};

impl Hisp {
    /// Add a domain with its organization-bound certificate(s).
    pub async fn domain_add(
        &self,
        name: &Domain,
        actor: &str,
    ) -> Result<(DomainRow, Vec<CertRow>), OpsError> {
        let mut conn = self.conn().await?;
        if domains::find(&mut conn, name).await?.is_some() {
            return Err(OpsError::Invalid(format!("domain {name} already exists")));
        }
        drop(conn);
        let issued = self
            .issue(
                Subject::Domain(name.clone()),
                super::cert::usages(self.config.pki.single_use_certs),
            )
            .await?;
        let ca = self.ca_cert().await?;
        let mut tx = self.store.begin().await?;
        let domain = domains::insert(&mut tx, name, self.now()).await?;
        let certs = self.store_issued(&mut tx, domain.id, None, &issued).await?;
        // A HISP trusts what its own CA issues, both ways.
        anchors::insert(&mut tx, domain.id, &ca, true, true, None, self.now()).await?;
        crate::store::dns::bump(&mut tx).await?;
        self.audit(&mut tx, actor, "domain.add", name.as_str(), "")
            .await?;
        tx.commit().await?;
        Ok((domain, certs))
    }

    /// Every domain.
    pub async fn domain_list(&self) -> Result<Vec<DomainRow>, OpsError> {
        let mut conn = self.conn().await?;
        Ok(domains::list(&mut conn).await?)
    }

    /// Remove a domain that has no addresses: its certificates are revoked and
    /// deleted, its anchors dropped.
    pub async fn domain_remove(&self, name: &Domain, actor: &str) -> Result<(), OpsError> {
        let mut tx = self.store.begin().await?;
        let domain = domains::get(&mut tx, name).await?;
        let left = crate::store::addresses::list(&mut tx, Some(domain.id)).await?;
        if !left.is_empty() {
            return Err(OpsError::Invalid(format!(
                "domain {name} still has {} address(es): remove them first",
                left.len()
            )));
        }
        let owned = certs::for_owner(&mut tx, domain.id, None).await?;
        self.revoke_all_in(&mut tx, &owned, "cessationOfOperation")
            .await?;
        for cert in &owned {
            certs::delete(&mut tx, cert.id).await?;
        }
        domains::delete(&mut tx, &domain).await?;
        crate::store::dns::bump(&mut tx).await?;
        self.audit(&mut tx, actor, "domain.remove", name.as_str(), "")
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The organization-bound certificates of a domain.
    pub async fn domain_certs(&self, name: &Domain) -> Result<Vec<CertRow>, OpsError> {
        self.certs_of(&Owner::Domain(name.clone())).await
    }
}
