//! Certificates: issuing from the built-in CA, renewing, revoking (which
//! regenerates the CRL in the same transaction), importing externally issued
//! certificates, and serving the current CRL.

use openssl::x509::X509;
use sqlx::AnyConnection;

use super::{Hisp, OpsError, Owner};
use crate::pki::{self, CaKeys, Issued, Profile, Subject, Usage};
use crate::store::ca::{self, StoredCrl};
use crate::store::certs::{self, CertRow, NewCert};
use crate::store::{StoreError, addresses, domains};

/// Seconds before a CRL's nextUpdate at which it is re-signed.
const CRL_REFRESH_MARGIN: i64 = 86_400;

/// The usages to issue: one dual-use certificate, or a single-use pair.
pub fn usages(single_use: bool) -> &'static [Usage] {
    if single_use {
        &[Usage::SigningOnly, Usage::EnciphermentOnly]
    } else {
        &[Usage::Dual]
    }
}

impl Hisp {
    /// The end-entity profile from `[pki]`.
    pub fn profile(&self) -> Profile {
        Profile {
            key_bits: self.config.pki.key_bits,
            validity_days: self.config.pki.validity_days,
            policies: self.config.pki.policies.clone(),
            public_url: self.config.public_url(),
        }
    }

    /// The CA with its key.
    pub async fn ca(&self) -> Result<CaKeys, OpsError> {
        let mut conn = self.conn().await?;
        Ok(ca::load(&self.store, &mut conn).await?)
    }

    /// Generate keys and certificates for `subject` (no store writes).
    pub async fn issue(
        &self,
        subject: Subject,
        usages: &'static [Usage],
    ) -> Result<Vec<Issued>, OpsError> {
        let ca = self.ca().await?;
        let profile = self.profile();
        let now = self.now();
        super::blocking(move || {
            usages
                .iter()
                .map(|u| pki::issue(&ca, &subject, *u, &profile, now).map_err(OpsError::from))
                .collect()
        })
        .await
    }

    /// Store issued certificates for an owner inside the caller's transaction.
    pub async fn store_issued(
        &self,
        conn: &mut AnyConnection,
        domain_id: i64,
        address_id: Option<i64>,
        issued: &[Issued],
    ) -> Result<Vec<CertRow>, OpsError> {
        let mut rows = Vec::with_capacity(issued.len());
        for cert in issued {
            let usage = pki::info(&cert.cert)?.key_usage.usage().ok_or_else(|| {
                OpsError::Invalid(
                    "an issued certificate allows neither signing nor encipherment".into(),
                )
            })?;
            let new = NewCert {
                domain_id,
                address_id,
                usage: usage.as_str(),
                source: "builtin",
                cert: &cert.cert,
                key: &cert.key,
                chain_pem: None,
            };
            rows.push(certs::insert(&self.store, conn, &new, self.now()).await?);
        }
        Ok(rows)
    }

    /// Resolve an owner to (domain id, address id, subject for issuing).
    async fn owner_ids(
        &self,
        conn: &mut AnyConnection,
        owner: &Owner,
    ) -> Result<(i64, Option<i64>, Subject), OpsError> {
        match owner {
            Owner::Address(a) => {
                let row = addresses::get(conn, a).await?;
                let subject = Subject::Address {
                    address: a.clone(),
                    name: row.display_name.clone(),
                };
                Ok((row.domain_id, Some(row.id), subject))
            }
            Owner::Domain(d) => {
                let row = domains::get(conn, d).await?;
                Ok((row.id, None, Subject::Domain(d.clone())))
            }
        }
    }

    /// Certificates of an address or domain (org-bound ones for a domain).
    pub async fn certs_of(&self, owner: &Owner) -> Result<Vec<CertRow>, OpsError> {
        let mut conn = self.conn().await?;
        let (domain_id, address_id, _) = self.owner_ids(&mut conn, owner).await?;
        Ok(certs::for_owner(&mut conn, domain_id, address_id).await?)
    }

    /// Every certificate.
    pub async fn cert_list(&self) -> Result<Vec<CertRow>, OpsError> {
        let mut conn = self.conn().await?;
        Ok(certs::list(&mut conn).await?)
    }

    /// The one certificate a serial or fingerprint prefix names.
    pub async fn cert_find(&self, key: &str) -> Result<CertRow, OpsError> {
        let mut conn = self.conn().await?;
        one_cert(certs::find(&mut conn, key).await?, key)
    }

    /// Issue fresh certificates for an owner, keeping the old ones until they
    /// expire (renewals overlap). A single-use pair is renewed as a pair.
    pub async fn cert_renew(&self, owner: &Owner, actor: &str) -> Result<Vec<CertRow>, OpsError> {
        let mut conn = self.conn().await?;
        let (domain_id, address_id, subject) = self.owner_ids(&mut conn, owner).await?;
        let existing = certs::for_owner(&mut conn, domain_id, address_id).await?;
        drop(conn);
        let now = self.now();
        let single_use = match existing.iter().rfind(|c| c.is_current(now)) {
            Some(c) => c.usage != "dual",
            None => self.config.pki.single_use_certs,
        };
        let issued = self.issue(subject, usages(single_use)).await?;
        let mut tx = self.store.begin().await?;
        let rows = self
            .store_issued(&mut tx, domain_id, address_id, &issued)
            .await?;
        let serials: Vec<&str> = rows.iter().map(|r| r.serial.as_str()).collect();
        crate::store::dns::bump(&mut tx).await?;
        self.audit(
            &mut tx,
            actor,
            "cert.renew",
            &owner.to_string(),
            &serials.join(","),
        )
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Revoke the certificate a serial or fingerprint names; our CA's CRL is
    /// re-signed in the same transaction.
    pub async fn cert_revoke(
        &self,
        key: &str,
        reason: &str,
        actor: &str,
    ) -> Result<CertRow, OpsError> {
        let mut tx = self.store.begin().await?;
        let row = one_cert(certs::find(&mut tx, key).await?, key)?;
        if row.revoked_at.is_some() {
            return Err(OpsError::Invalid(format!(
                "certificate {} is already revoked",
                row.serial
            )));
        }
        self.revoke_all_in(&mut tx, std::slice::from_ref(&row), reason)
            .await?;
        crate::store::dns::bump(&mut tx).await?;
        self.audit(
            &mut tx,
            actor,
            "cert.revoke",
            &row.owner,
            &format!("serial={} reason={reason}", row.serial),
        )
        .await?;
        tx.commit().await?;
        self.cert_find(&row.fingerprint).await
    }

    /// Revoke several certificates of one owner being removed, re-signing the
    /// CRL once when any was ours.
    pub(crate) async fn revoke_all_in(
        &self,
        conn: &mut AnyConnection,
        rows: &[CertRow],
        reason: &str,
    ) -> Result<(), OpsError> {
        let mut resign = false;
        for row in rows.iter().filter(|r| r.revoked_at.is_none()) {
            resign |= self.mark_revoked_in(conn, row, reason).await?;
        }
        if resign {
            self.sign_crl(conn).await?;
        }
        Ok(())
    }

    /// Mark revoked and, for our own certificates, add the serial to the CRL
    /// entries. Returns true when the CRL must be re-signed.
    async fn mark_revoked_in(
        &self,
        conn: &mut AnyConnection,
        row: &CertRow,
        reason: &str,
    ) -> Result<bool, OpsError> {
        let now = self.now();
        certs::mark_revoked(conn, row.id, reason, now).await?;
        if row.source == "builtin" {
            ca::add_crl_entry(conn, &row.serial, reason, now).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Sign a new CRL from every revoked serial and store it as current.
    pub async fn sign_crl(&self, conn: &mut AnyConnection) -> Result<StoredCrl, OpsError> {
        let ca = ca::load(&self.store, conn).await?;
        let entries = ca::crl_entries(conn).await?;
        let number = ca::next_crl_number(conn).await?;
        let now = self.now();
        let next_update = now + i64::from(self.config.pki.crl_validity_days) * 86_400;
        let crl_number =
            u64::try_from(number).map_err(|_| StoreError::Corrupt("negative cRLNumber".into()))?;
        let der =
            super::blocking(move || Ok(pki::crl(&ca, &entries, crl_number, now, next_update)?))
                .await?;
        let crl = StoredCrl {
            der,
            number,
            next_update,
        };
        ca::save_crl(conn, &crl).await?;
        Ok(crl)
    }

    /// The current CRL, re-signed first when it is missing or near its nextUpdate.
    pub async fn current_crl(&self) -> Result<StoredCrl, OpsError> {
        let mut conn = self.conn().await?;
        if let Some(crl) = ca::current_crl(&mut conn).await?
            && crl.next_update - self.now() > CRL_REFRESH_MARGIN
        {
            return Ok(crl);
        }
        drop(conn);
        let mut tx = self.store.begin().await?;
        let crl = self.sign_crl(&mut tx).await?;
        tx.commit().await?;
        Ok(crl)
    }

    /// The CA certificate.
    pub async fn ca_cert(&self) -> Result<X509, OpsError> {
        self.lookup().await?.ca_cert().await
    }

    /// Store an externally issued certificate and key for an address or domain.
    pub async fn cert_import(
        &self,
        owner: &Owner,
        imported: pki::Imported,
        actor: &str,
    ) -> Result<CertRow, OpsError> {
        let mut tx = self.store.begin().await?;
        let (domain_id, address_id, subject) = self.owner_ids(&mut tx, owner).await?;
        if !pki::binds(&imported.cert, &subject) {
            return Err(OpsError::Invalid(format!(
                "the certificate does not name {owner} in subjectAltName ({})",
                match owner {
                    Owner::Address(_) => "rfc822Name",
                    Owner::Domain(_) => "dNSName",
                }
            )));
        }
        let chain_pem = imported
            .chain
            .iter()
            .map(|c| pki::cert_pem(c))
            .collect::<Result<Vec<_>, _>>()?;
        let new = NewCert {
            domain_id,
            address_id,
            usage: imported.usage.as_str(),
            source: "imported",
            cert: &imported.cert,
            key: &imported.key,
            chain_pem: (!chain_pem.is_empty()).then(|| chain_pem.concat()),
        };
        let row = certs::insert(&self.store, &mut tx, &new, self.now()).await?;
        crate::store::dns::bump(&mut tx).await?;
        self.audit(
            &mut tx,
            actor,
            "cert.import",
            &owner.to_string(),
            &format!("serial={}", row.serial),
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }
}

fn one_cert(mut rows: Vec<CertRow>, key: &str) -> Result<CertRow, OpsError> {
    match rows.len() {
        0 => Err(OpsError::Store(StoreError::NotFound(format!(
            "certificate {key}"
        )))),
        1 => Ok(rows.remove(0)),
        n => Err(OpsError::Invalid(format!(
            "{n} certificates match {key}: give more of the fingerprint"
        ))),
    }
}
