//! Trust anchors and bundles per domain: add, list, remove, refresh.
//!
//! Every domain trusts our own CA in both directions from the moment it is added
//! (a HISP trusts the certificates it issues), plus whatever anchors and bundles
//! an admin adds. A bundle refresh replaces that bundle's anchors atomically; a
//! failed refresh records its status and keeps the previous anchors.

use openssl::x509::X509;

use super::{Hisp, OpsError};
use crate::direct::Domain;
use crate::direct::trust::FetchError;
use crate::direct::trust::bundle::{self, BundleError, BundleStatus};
use crate::store::anchors::{self, AnchorRow, BundleRow, Direction, NewBundle};
use crate::store::domains;

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// New anchors loaded (how many).
    Loaded(usize),
    /// Same thumbprint as last time: nothing changed.
    Unchanged,
    /// Failed; previous anchors kept.
    Failed(BundleError),
}

/// What `bundle add` is given.
#[derive(Debug, Clone, Copy)]
pub struct BundleSpec<'a> {
    /// http(s) URL or absolute file path.
    pub url: &'a str,
    /// Its anchors join the incoming set.
    pub incoming: bool,
    /// Its anchors join the outgoing set.
    pub outgoing: bool,
    /// Refresh interval, seconds (0 = manual only).
    pub refresh_secs: i64,
    /// The certificate the bundle must be signed by.
    pub signer: Option<&'a X509>,
}

/// Parse a certificate file (PEM or DER).
pub fn read_cert(path: &std::path::Path) -> Result<X509, OpsError> {
    let bytes = std::fs::read(path).map_err(|e| OpsError::io(path, e))?;
    X509::from_pem(&bytes)
        .or_else(|_| X509::from_der(&bytes))
        .map_err(|_| {
            OpsError::Invalid(format!(
                "{} is not a PEM or DER certificate",
                path.display()
            ))
        })
}

impl Hisp {
    /// Add (or widen) a hand-added anchor of `domain`.
    pub async fn anchor_add(
        &self,
        domain: &Domain,
        cert: &X509,
        incoming: bool,
        outgoing: bool,
        actor: &str,
    ) -> Result<AnchorRow, OpsError> {
        let mut tx = self.store.begin().await?;
        let d = domains::get(&mut tx, domain).await?;
        let row =
            anchors::upsert_manual(&mut tx, d.id, cert, incoming, outgoing, self.now()).await?;
        let detail = format!("{} incoming={incoming} outgoing={outgoing}", row.subject);
        self.audit(&mut tx, actor, "anchor.add", domain.as_str(), &detail)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Anchors of one domain, or all.
    pub async fn anchor_list(&self, domain: Option<&Domain>) -> Result<Vec<AnchorRow>, OpsError> {
        let mut conn = self.conn().await?;
        let id = match domain {
            Some(d) => Some(domains::get(&mut conn, d).await?.id),
            None => None,
        };
        Ok(anchors::list(&mut conn, id).await?)
    }

    /// Remove a hand-added anchor by fingerprint prefix (bundle anchors go with their bundle).
    pub async fn anchor_remove(
        &self,
        domain: &Domain,
        fingerprint: &str,
        actor: &str,
    ) -> Result<AnchorRow, OpsError> {
        let mut tx = self.store.begin().await?;
        let d = domains::get(&mut tx, domain).await?;
        let mut found = anchors::find(&mut tx, d.id, fingerprint).await?;
        found.retain(|a| a.bundle_id.is_none());
        let row = match found.len() {
            0 => {
                return Err(OpsError::Invalid(format!(
                    "no hand-added anchor of {domain} has fingerprint {fingerprint}"
                )));
            }
            1 => found.remove(0),
            n => {
                return Err(OpsError::Invalid(format!(
                    "{n} anchors match {fingerprint}: give more of the fingerprint"
                )));
            }
        };
        anchors::delete(&mut tx, row.id).await?;
        self.audit(
            &mut tx,
            actor,
            "anchor.remove",
            domain.as_str(),
            &row.subject,
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// A domain's anchor set for one direction, by domain name.
    pub async fn anchor_set(&self, domain: &Domain, dir: Direction) -> Result<Vec<X509>, OpsError> {
        let mut look = self.lookup().await?;
        let d = look.domain_row(domain).await?;
        Ok(look.anchors(d.id, dir).await?.to_vec())
    }

    /// Add a bundle and load it once.
    pub async fn bundle_add(
        &self,
        domain: &Domain,
        spec: &BundleSpec<'_>,
        actor: &str,
    ) -> Result<(BundleRow, Refreshed), OpsError> {
        let BundleSpec {
            url,
            incoming,
            outgoing,
            refresh_secs,
            signer,
        } = *spec;
        let signer_der = signer
            .map(|s| s.to_der().map_err(|e| OpsError::Invalid(e.to_string())))
            .transpose()?;
        let mut tx = self.store.begin().await?;
        let d = domains::get(&mut tx, domain).await?;
        let new = NewBundle {
            domain_id: d.id,
            url,
            incoming,
            outgoing,
            refresh_secs,
            signer_der,
        };
        let row = anchors::insert_bundle(&mut tx, &new, self.now()).await?;
        self.audit(&mut tx, actor, "bundle.add", domain.as_str(), url)
            .await?;
        tx.commit().await?;
        let outcome = self.bundle_refresh_one(&row, false, actor).await?;
        let mut conn = self.conn().await?;
        Ok((anchors::bundle_by_id(&mut conn, row.id).await?, outcome))
    }

    /// Every bundle.
    pub async fn bundle_list(&self) -> Result<Vec<BundleRow>, OpsError> {
        let mut conn = self.conn().await?;
        Ok(anchors::bundles(&mut conn).await?)
    }

    /// Remove a bundle and its anchors.
    pub async fn bundle_remove(&self, id: i64, actor: &str) -> Result<BundleRow, OpsError> {
        let mut tx = self.store.begin().await?;
        let row = anchors::bundle_by_id(&mut tx, id).await?;
        anchors::delete_bundle(&mut tx, id).await?;
        self.audit(&mut tx, actor, "bundle.remove", &row.domain, &row.url)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Refresh bundles: all, or only those due (`due_only`, for the background
    /// task); a bundle that loads is audited under `actor`.
    pub async fn bundle_refresh(
        &self,
        due_only: bool,
        actor: &str,
    ) -> Result<Vec<(BundleRow, Refreshed)>, OpsError> {
        let now = self.now();
        let mut out = Vec::new();
        for b in self.bundle_list().await? {
            let due =
                b.refresh_secs > 0 && b.last_attempt.is_none_or(|t| now - t >= b.refresh_secs);
            if due_only && !due {
                continue;
            }
            let outcome = self.bundle_refresh_one(&b, false, actor).await?;
            out.push((b, outcome));
        }
        Ok(out)
    }

    /// Fetch, check and (when changed) load one bundle.
    pub async fn bundle_refresh_one(
        &self,
        b: &BundleRow,
        force: bool,
        actor: &str,
    ) -> Result<Refreshed, OpsError> {
        let now = self.now();
        let bytes = match self.fetch_bundle(&b.url).await {
            Ok(bytes) => bytes,
            Err(e) => return self.record_failure(b, e).await,
        };
        let thumb = bundle::thumbprint(&bytes);
        if !force && b.status == "SUCCESS" && b.thumbprint.as_deref() == Some(thumb.as_str()) {
            let mut conn = self.conn().await?;
            anchors::record_refresh(&mut conn, b.id, "SUCCESS", Some(&thumb), now).await?;
            return Ok(Refreshed::Unchanged);
        }
        let signer = b
            .signer_der
            .as_deref()
            .map(|d| X509::from_der(d).map_err(|e| OpsError::Invalid(e.to_string())))
            .transpose()?;
        let certs = match bundle::parse(&bytes, signer.as_ref()) {
            Ok(c) => c,
            Err(e) => return self.record_failure(b, e).await,
        };
        let mut tx = self.store.begin().await?;
        anchors::replace_bundle_anchors(&mut tx, b, &certs, now).await?;
        anchors::record_refresh(&mut tx, b.id, "SUCCESS", Some(&thumb), now).await?;
        self.audit(
            &mut tx,
            actor,
            "bundle.refresh",
            &b.domain,
            &format!("{} anchors={}", b.url, certs.len()),
        )
        .await?;
        tx.commit().await?;
        Ok(Refreshed::Loaded(certs.len()))
    }

    async fn record_failure(&self, b: &BundleRow, e: BundleError) -> Result<Refreshed, OpsError> {
        tracing::warn!(bundle = %b.url, status = e.status.as_str(), why = %e.why, "bundle refresh failed; previous anchors kept");
        let mut conn = self.conn().await?;
        anchors::record_refresh(&mut conn, b.id, e.status.as_str(), None, self.now()).await?;
        Ok(Refreshed::Failed(e))
    }

    async fn fetch_bundle(&self, url: &str) -> Result<Vec<u8>, BundleError> {
        if url.starts_with("http://") || url.starts_with("https://") {
            return self.fetcher.get(url).await.map_err(|e| BundleError {
                status: match e {
                    FetchError::Timeout(_) => BundleStatus::DownloadTimeout,
                    _ => BundleStatus::NotFound,
                },
                why: e.to_string(),
            });
        }
        let path = url.strip_prefix("file://").unwrap_or(url);
        tokio::fs::read(path).await.map_err(|e| BundleError {
            status: BundleStatus::NotFound,
            why: format!("{path}: {e}"),
        })
    }
}
