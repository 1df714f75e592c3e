//! The `anchors` and `bundles` tables: each domain's trust anchors, separately
//! for incoming (senders we accept) and outgoing (recipients we encrypt to), added
//! by hand or kept in step with a trust bundle.

use openssl::x509::X509;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{StoreError, flag, unique_as_duplicate};

/// Which anchor set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Anchors for certificates of senders whose mail we receive.
    Incoming,
    /// Anchors for certificates of recipients we send to.
    Outgoing,
}

impl Direction {
    /// `incoming` or `outgoing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Incoming => "incoming",
            Direction::Outgoing => "outgoing",
        }
    }
}

/// A stored anchor.
#[derive(Debug, Clone)]
pub struct AnchorRow {
    /// Row id.
    pub id: i64,
    /// The domain whose trust it is.
    pub domain: String,
    /// In the incoming set.
    pub incoming: bool,
    /// In the outgoing set.
    pub outgoing: bool,
    /// SHA-256 of the DER, lower-case hex.
    pub fingerprint: String,
    /// One-line subject.
    pub subject: String,
    /// The certificate.
    pub cert_der: Vec<u8>,
    /// The bundle that supplied it; None when added by hand.
    pub bundle_id: Option<i64>,
    /// When stored.
    pub created_at: i64,
}

const SELECT: &str =
    "SELECT a.id, d.name AS domain, a.incoming, a.outgoing, a.fingerprint, a.subject, a.cert_der,
    a.bundle_id, a.created_at FROM anchors a JOIN domains d ON d.id = a.domain_id";

fn from_row(r: &AnyRow) -> Result<AnchorRow, StoreError> {
    Ok(AnchorRow {
        id: r.try_get("id")?,
        domain: r.try_get("domain")?,
        incoming: flag(r.try_get("incoming")?),
        outgoing: flag(r.try_get("outgoing")?),
        fingerprint: r.try_get("fingerprint")?,
        subject: r.try_get("subject")?,
        cert_der: r.try_get("cert_der")?,
        bundle_id: r.try_get("bundle_id")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Add an anchor, or widen the directions of the same hand-added anchor.
pub async fn upsert_manual(
    conn: &mut AnyConnection,
    domain_id: i64,
    cert: &X509,
    incoming: bool,
    outgoing: bool,
    now: i64,
) -> Result<AnchorRow, StoreError> {
    let fp = crate::pki::fingerprint(cert);
    let existing = sqlx::query(
        "SELECT id FROM anchors WHERE domain_id = $1 AND fingerprint = $2 AND bundle_id IS NULL",
    )
    .bind(domain_id)
    .bind(&fp)
    .fetch_optional(&mut *conn)
    .await?;
    let id: i64 = match existing {
        Some(row) => {
            let id: i64 = row.try_get(0)?;
            sqlx::query(
                "UPDATE anchors SET incoming = CASE WHEN $1 = 1 THEN 1 ELSE incoming END,
                                    outgoing = CASE WHEN $2 = 1 THEN 1 ELSE outgoing END WHERE id = $3",
            )
            .bind(i64::from(incoming))
            .bind(i64::from(outgoing))
            .bind(id)
            .execute(&mut *conn)
            .await?;
            id
        }
        None => insert(conn, domain_id, cert, incoming, outgoing, None, now).await?,
    };
    by_id(conn, id).await
}

/// Insert an anchor row; returns its id.
pub async fn insert(
    conn: &mut AnyConnection,
    domain_id: i64,
    cert: &X509,
    incoming: bool,
    outgoing: bool,
    bundle_id: Option<i64>,
    now: i64,
) -> Result<i64, StoreError> {
    let info = crate::pki::info(cert).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let der = cert
        .to_der()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(sqlx::query(
        "INSERT INTO anchors (domain_id, incoming, outgoing, fingerprint, subject, cert_der, bundle_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(domain_id)
    .bind(i64::from(incoming))
    .bind(i64::from(outgoing))
    .bind(crate::pki::fingerprint(cert))
    .bind(info.subject)
    .bind(der)
    .bind(bundle_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// The anchor with this id.
pub async fn by_id(conn: &mut AnyConnection, id: i64) -> Result<AnchorRow, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE a.id = $1")))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("anchor #{id}")))?;
    from_row(&row)
}

/// Every anchor, or one domain's, by domain then subject.
pub async fn list(
    conn: &mut AnyConnection,
    domain_id: Option<i64>,
) -> Result<Vec<AnchorRow>, StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE ($1 = 0 OR a.domain_id = $1) ORDER BY d.name, a.subject, a.id"
    )))
    .bind(domain_id.unwrap_or(0))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// A domain's anchor set for one direction, parsed.
pub async fn set(
    conn: &mut AnyConnection,
    domain_id: i64,
    dir: Direction,
) -> Result<Vec<X509>, StoreError> {
    let sql = match dir {
        Direction::Incoming => {
            "SELECT cert_der FROM anchors WHERE domain_id = $1 AND incoming = 1 ORDER BY id"
        }
        Direction::Outgoing => {
            "SELECT cert_der FROM anchors WHERE domain_id = $1 AND outgoing = 1 ORDER BY id"
        }
    };
    sqlx::query(sql)
        .bind(domain_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            let der: Vec<u8> = r.try_get(0)?;
            super::parsed::x509(&der).map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .collect()
}

/// Anchors whose fingerprint starts with `prefix` (hand-added or bundled).
pub async fn find(
    conn: &mut AnyConnection,
    domain_id: i64,
    prefix: &str,
) -> Result<Vec<AnchorRow>, StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE a.domain_id = $1 AND a.fingerprint LIKE $2 ORDER BY a.id"
    )))
    .bind(domain_id)
    .bind(format!("{}%", prefix.to_ascii_lowercase().replace(':', "")))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Delete one anchor.
pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM anchors WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A stored trust bundle.
#[derive(Debug, Clone)]
pub struct BundleRow {
    /// Row id, referenced by the anchors it supplied.
    pub id: i64,
    /// The domain whose trust it feeds.
    pub domain: String,
    /// Its domain's row id.
    pub domain_id: i64,
    /// Where it is fetched from (an http(s) URL or a file path).
    pub url: String,
    /// Its anchors join the incoming set.
    pub incoming: bool,
    /// Its anchors join the outgoing set.
    pub outgoing: bool,
    /// Seconds between refreshes; 0 = manual only.
    pub refresh_secs: i64,
    /// The certificate the bundle must be signed by, if any.
    pub signer_der: Option<Vec<u8>>,
    /// SHA-256 of the last bundle loaded.
    pub thumbprint: Option<String>,
    /// SUCCESS, NOT_FOUND, DOWNLOAD_TIMEOUT, INVALID_BUNDLE_FORMAT, INVALID_SIGNING_CERT, UNMATCHED_SIGNATURE, or NEW.
    pub status: String,
    /// When a refresh was last tried.
    pub last_attempt: Option<i64>,
    /// When a refresh last succeeded.
    pub last_success: Option<i64>,
    /// When added.
    pub created_at: i64,
}

const BUNDLE_SELECT: &str =
    "SELECT b.id, d.name AS domain, b.domain_id, b.url, b.incoming, b.outgoing, b.refresh_secs,
    b.signer_der, b.thumbprint, b.status, b.last_attempt, b.last_success, b.created_at
    FROM bundles b JOIN domains d ON d.id = b.domain_id";

fn bundle_from_row(r: &AnyRow) -> Result<BundleRow, StoreError> {
    Ok(BundleRow {
        id: r.try_get("id")?,
        domain: r.try_get("domain")?,
        domain_id: r.try_get("domain_id")?,
        url: r.try_get("url")?,
        incoming: flag(r.try_get("incoming")?),
        outgoing: flag(r.try_get("outgoing")?),
        refresh_secs: r.try_get("refresh_secs")?,
        signer_der: r.try_get("signer_der")?,
        thumbprint: r.try_get("thumbprint")?,
        status: r.try_get("status")?,
        last_attempt: r.try_get("last_attempt")?,
        last_success: r.try_get("last_success")?,
        created_at: r.try_get("created_at")?,
    })
}

/// What a new bundle row holds.
#[derive(Debug, Clone)]
pub struct NewBundle<'a> {
    /// Its domain's row id.
    pub domain_id: i64,
    /// URL or file path.
    pub url: &'a str,
    /// Feeds the incoming set.
    pub incoming: bool,
    /// Feeds the outgoing set.
    pub outgoing: bool,
    /// Refresh interval, seconds (0 = manual).
    pub refresh_secs: i64,
    /// Required signer, DER.
    pub signer_der: Option<Vec<u8>>,
}

/// Add a bundle (status NEW until its first refresh).
pub async fn insert_bundle(
    conn: &mut AnyConnection,
    b: &NewBundle<'_>,
    now: i64,
) -> Result<BundleRow, StoreError> {
    let id: i64 = sqlx::query(
        "INSERT INTO bundles (domain_id, url, incoming, outgoing, refresh_secs, signer_der, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'NEW', $7) RETURNING id",
    )
    .bind(b.domain_id)
    .bind(b.url)
    .bind(i64::from(b.incoming))
    .bind(i64::from(b.outgoing))
    .bind(b.refresh_secs)
    .bind(b.signer_der.clone())
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| unique_as_duplicate(e, format!("bundle {}", b.url)))?
    .try_get(0)?;
    bundle_by_id(conn, id).await
}

/// The bundle with this id.
pub async fn bundle_by_id(conn: &mut AnyConnection, id: i64) -> Result<BundleRow, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{BUNDLE_SELECT} WHERE b.id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("bundle #{id}")))?;
    bundle_from_row(&row)
}

/// Every bundle.
pub async fn bundles(conn: &mut AnyConnection) -> Result<Vec<BundleRow>, StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{BUNDLE_SELECT} ORDER BY d.name, b.url"
    )))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(bundle_from_row)
    .collect()
}

/// Record a refresh attempt's outcome (and, on success, the new thumbprint).
pub async fn record_refresh(
    conn: &mut AnyConnection,
    id: i64,
    status: &str,
    thumbprint: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    let ok = status == "SUCCESS";
    sqlx::query(
        "UPDATE bundles SET status = $1, last_attempt = $2,
            last_success = CASE WHEN $3 = 1 THEN $2 ELSE last_success END,
            thumbprint = CASE WHEN $3 = 1 THEN $4 ELSE thumbprint END
         WHERE id = $5",
    )
    .bind(status)
    .bind(now)
    .bind(i64::from(ok))
    .bind(thumbprint)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Replace a bundle's anchors with `certs` (inside the caller's transaction).
pub async fn replace_bundle_anchors(
    conn: &mut AnyConnection,
    bundle: &BundleRow,
    certs: &[X509],
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM anchors WHERE bundle_id = $1")
        .bind(bundle.id)
        .execute(&mut *conn)
        .await?;
    for cert in certs {
        insert(
            conn,
            bundle.domain_id,
            cert,
            bundle.incoming,
            bundle.outgoing,
            Some(bundle.id),
            now,
        )
        .await?;
    }
    Ok(())
}

/// Delete a bundle and its anchors.
pub async fn delete_bundle(conn: &mut AnyConnection, id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM anchors WHERE bundle_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM bundles WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
