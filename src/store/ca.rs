//! The `ca` row (our built-in CA's certificate and sealed key, and the current
//! CRL) and the `crl_entries` table (every serial our CA has revoked).

use openssl::pkey::PKey;
use openssl::x509::X509;
use sqlx::{AnyConnection, Row};

use super::{Store, StoreError};
use crate::pki::{CaKeys, Revoked};

const KEY_CONTEXT: &str = "ca-key";

/// The current CRL as stored.
#[derive(Debug, Clone)]
pub struct StoredCrl {
    /// DER.
    pub der: Vec<u8>,
    /// Its cRLNumber.
    pub number: i64,
    /// When it must be replaced (Unix seconds).
    pub next_update: i64,
}

/// Store the CA; `Duplicate` when one exists (there is exactly one per store).
pub async fn insert(
    store: &Store,
    conn: &mut AnyConnection,
    ca: &CaKeys,
    now: i64,
) -> Result<(), StoreError> {
    if sqlx::query("SELECT id FROM ca WHERE id = 1")
        .fetch_optional(&mut *conn)
        .await?
        .is_some()
    {
        return Err(StoreError::Duplicate("the CA".into()));
    }
    let corrupt = |e: openssl::error::ErrorStack| StoreError::Corrupt(e.to_string());
    let key = ca.key.private_key_to_pkcs8().map_err(corrupt)?;
    let sealed = store.sealer().seal(KEY_CONTEXT, &key)?;
    sqlx::query("INSERT INTO ca (id, cert_der, key_sealed, created_at) VALUES (1, $1, $2, $3)")
        .bind(ca.cert.to_der().map_err(corrupt)?)
        .bind(sealed)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The CA's certificate, if set up.
pub async fn cert(conn: &mut AnyConnection) -> Result<Option<X509>, StoreError> {
    let Some(row) = sqlx::query("SELECT cert_der FROM ca WHERE id = 1")
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let der: Vec<u8> = row.try_get(0)?;
    super::parsed::x509(&der)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The CA's certificate and unsealed key; `NotFound` before setup.
pub async fn load(store: &Store, conn: &mut AnyConnection) -> Result<CaKeys, StoreError> {
    let row = sqlx::query("SELECT cert_der, key_sealed FROM ca WHERE id = 1")
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound("the CA (run `hisp init`)".into()))?;
    let cert_der: Vec<u8> = row.try_get(0)?;
    let sealed: Vec<u8> = row.try_get(1)?;
    let key_der = store.sealer().open(KEY_CONTEXT, &sealed)?;
    let corrupt = |e: openssl::error::ErrorStack| StoreError::Corrupt(e.to_string());
    Ok(CaKeys {
        cert: X509::from_der(&cert_der).map_err(corrupt)?,
        key: PKey::private_key_from_pkcs8(&key_der).map_err(corrupt)?,
    })
}

/// Record that our CA revoked `serial` (idempotent).
pub async fn add_crl_entry(
    conn: &mut AnyConnection,
    serial: &str,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO crl_entries (serial, revoked_at, reason) VALUES ($1, $2, $3)
         ON CONFLICT (serial) DO NOTHING",
    )
    .bind(serial)
    .bind(now)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Every serial our CA revoked.
pub async fn crl_entries(conn: &mut AnyConnection) -> Result<Vec<Revoked>, StoreError> {
    sqlx::query("SELECT serial, revoked_at FROM crl_entries ORDER BY revoked_at, serial")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(Revoked {
                serial_hex: r.try_get(0)?,
                revoked_at: r.try_get(1)?,
            })
        })
        .collect()
}

/// Take the next cRLNumber (monotonic across nodes).
pub async fn next_crl_number(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(
        sqlx::query("UPDATE ca SET crl_number = crl_number + 1 WHERE id = 1 RETURNING crl_number")
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::NotFound("the CA (run `hisp init`)".into()))?
            .try_get(0)?,
    )
}

/// Save a freshly signed CRL as the current one.
pub async fn save_crl(conn: &mut AnyConnection, crl: &StoredCrl) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE ca SET crl_der = $1, crl_next_update = $2 WHERE id = 1 AND crl_number = $3",
    )
    .bind(&crl.der)
    .bind(crl.next_update)
    .bind(crl.number)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The current CRL, if one was made.
pub async fn current_crl(conn: &mut AnyConnection) -> Result<Option<StoredCrl>, StoreError> {
    let Some(row) = sqlx::query("SELECT crl_der, crl_number, crl_next_update FROM ca WHERE id = 1")
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let der: Option<Vec<u8>> = row.try_get(0)?;
    let next: Option<i64> = row.try_get(2)?;
    Ok(match (der, next) {
        (Some(der), Some(next_update)) => Some(StoredCrl {
            der,
            number: row.try_get(1)?,
            next_update,
        }),
        _ => None,
    })
}
