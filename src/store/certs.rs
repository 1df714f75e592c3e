//! The `certificates` table: our users' and domains' certificates with their
//! private keys, sealed. Address-bound rows carry `address_id`; organization-bound
//! rows have none. Revoked rows stay (with `revoked_at`) until their owner goes.

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Store, StoreError, unique_as_duplicate};

/// A stored certificate (the key stays sealed until asked for).
#[derive(Debug, Clone)]
pub struct CertRow {
    /// Row id.
    pub id: i64,
    /// The domain it belongs to.
    pub domain_id: i64,
    /// The address it is bound to; None for an organization-bound certificate.
    pub address_id: Option<i64>,
    /// The address or domain it binds, as text (joined in, for listings).
    pub owner: String,
    /// `dual`, `signing` or `encipherment`.
    pub usage: String,
    /// `builtin` (our CA issued it) or `imported`.
    pub source: String,
    /// Serial number, upper-case hex.
    pub serial: String,
    /// SHA-256 of the DER, lower-case hex.
    pub fingerprint: String,
    /// One-line subject.
    pub subject: String,
    /// Validity start (Unix seconds).
    pub not_before: i64,
    /// Validity end (Unix seconds).
    pub not_after: i64,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// Intermediates that came with an imported certificate, PEM.
    pub chain_pem: Option<String>,
    /// When revoked, if it was.
    pub revoked_at: Option<i64>,
    /// Why it was revoked.
    pub revocation_reason: Option<String>,
    /// When stored.
    pub created_at: i64,
    /// The sealed private key (PKCS#8 DER under AES-256-GCM).
    key_sealed: Vec<u8>,
}

impl CertRow {
    /// The certificate, parsed.
    pub fn cert(&self) -> Result<X509, StoreError> {
        super::parsed::x509(&self.cert_der).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// True when usable at `now`: not revoked and within its validity period.
    pub fn is_current(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.not_before <= now && now <= self.not_after
    }

    /// `valid`, `revoked`, `expired` or `not yet valid` at `now`.
    pub fn status(&self, now: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if now > self.not_after {
            "expired"
        } else if now < self.not_before {
            "not yet valid"
        } else {
            "valid"
        }
    }
}

/// A certificate to store.
#[derive(Debug)]
pub struct NewCert<'a> {
    /// The domain it belongs to.
    pub domain_id: i64,
    /// The address, for an address-bound certificate.
    pub address_id: Option<i64>,
    /// `dual`, `signing` or `encipherment`.
    pub usage: &'a str,
    /// `builtin` or `imported`.
    pub source: &'a str,
    /// The certificate.
    pub cert: &'a X509,
    /// Its private key, sealed before it is written.
    pub key: &'a PKey<Private>,
    /// Intermediates, PEM, for imported certificates.
    pub chain_pem: Option<String>,
}

const SELECT: &str = "SELECT c.id, c.domain_id, c.address_id, COALESCE(a.address, d.name) AS owner,
    c.usage, c.source, c.serial, c.fingerprint, c.subject, c.not_before, c.not_after, c.cert_der,
    c.chain_pem, c.key_sealed, c.revoked_at, c.revocation_reason, c.created_at
    FROM certificates c JOIN domains d ON d.id = c.domain_id LEFT JOIN addresses a ON a.id = c.address_id";

fn from_row(row: &AnyRow) -> Result<CertRow, StoreError> {
    Ok(CertRow {
        id: row.try_get("id")?,
        domain_id: row.try_get("domain_id")?,
        address_id: row.try_get("address_id")?,
        owner: row.try_get("owner")?,
        usage: row.try_get("usage")?,
        source: row.try_get("source")?,
        serial: row.try_get("serial")?,
        fingerprint: row.try_get("fingerprint")?,
        subject: row.try_get("subject")?,
        not_before: row.try_get("not_before")?,
        not_after: row.try_get("not_after")?,
        cert_der: row.try_get("cert_der")?,
        chain_pem: row.try_get("chain_pem")?,
        key_sealed: row.try_get("key_sealed")?,
        revoked_at: row.try_get("revoked_at")?,
        revocation_reason: row.try_get("revocation_reason")?,
        created_at: row.try_get("created_at")?,
    })
}

fn key_context(fingerprint: &str) -> String {
    format!("cert-key:{fingerprint}")
}

/// Store a certificate and its sealed key.
pub async fn insert(
    store: &Store,
    conn: &mut AnyConnection,
    new: &NewCert<'_>,
    now: i64,
) -> Result<CertRow, StoreError> {
    let info = crate::pki::info(new.cert).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let fingerprint = crate::pki::fingerprint(new.cert);
    let key_der = new
        .key
        .private_key_to_pkcs8()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let sealed = store.sealer().seal(&key_context(&fingerprint), &key_der)?;
    let der = new
        .cert
        .to_der()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let id: i64 = sqlx::query(
        "INSERT INTO certificates (domain_id, address_id, usage, source, serial, fingerprint, subject,
            not_before, not_after, cert_der, chain_pem, key_sealed, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
    )
    .bind(new.domain_id)
    .bind(new.address_id)
    .bind(new.usage)
    .bind(new.source)
    .bind(&info.serial_hex)
    .bind(&fingerprint)
    .bind(&info.subject)
    .bind(info.not_before)
    .bind(info.not_after)
    .bind(der)
    .bind(new.chain_pem.clone())
    .bind(sealed)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| unique_as_duplicate(e, format!("certificate {fingerprint}")))?
    .try_get(0)?;
    by_id(conn, id).await
}

/// The certificate with this row id.
pub async fn by_id(conn: &mut AnyConnection, id: i64) -> Result<CertRow, StoreError> {
    let sql = select_where("WHERE c.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("certificate #{id}")))?;
    from_row(&row)
}

/// Certificates whose serial (hex, any case) or fingerprint prefix matches `key`.
pub async fn find(conn: &mut AnyConnection, key: &str) -> Result<Vec<CertRow>, StoreError> {
    let key = key.trim().trim_start_matches("0x").replace(':', "");
    let sql = select_where("WHERE c.serial = $1 OR c.fingerprint LIKE $2 ORDER BY c.id");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(key.to_ascii_uppercase())
        .bind(format!("{}%", key.to_ascii_lowercase()))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Certificates of an address (Some) or the organization-bound ones of a domain.
pub async fn for_owner(
    conn: &mut AnyConnection,
    domain_id: i64,
    address_id: Option<i64>,
) -> Result<Vec<CertRow>, StoreError> {
    let rows = match address_id {
        Some(a) => {
            sqlx::query(sqlx::AssertSqlSafe(select_where(
                "WHERE c.address_id = $1 ORDER BY c.id",
            )))
            .bind(a)
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(sqlx::AssertSqlSafe(select_where(
                "WHERE c.domain_id = $1 AND c.address_id IS NULL ORDER BY c.id",
            )))
            .bind(domain_id)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    rows.iter().map(from_row).collect()
}

/// Every certificate, by owner then id.
pub async fn list(conn: &mut AnyConnection) -> Result<Vec<CertRow>, StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(select_where("ORDER BY owner, c.id")))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Mark a certificate revoked (idempotent: the first revocation time stays).
pub async fn mark_revoked(
    conn: &mut AnyConnection,
    id: i64,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE certificates SET revoked_at = $1, revocation_reason = $2
         WHERE id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Delete a certificate row (its owner is being removed).
pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM certificates WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Open a certificate's sealed private key.
pub fn private_key(store: &Store, row: &CertRow) -> Result<PKey<Private>, StoreError> {
    let context = key_context(&row.fingerprint);
    super::parsed::private_key(&context, &row.key_sealed, || {
        let der = store.sealer().open(&context, &row.key_sealed)?;
        PKey::private_key_from_pkcs8(&der).map_err(|e| StoreError::Corrupt(e.to_string()))
    })
}

fn select_where(tail: &str) -> String {
    format!("{SELECT} {tail}")
}
