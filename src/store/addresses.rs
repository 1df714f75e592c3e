//! The `addresses` table: Direct addresses (mailboxes) and who owns them.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{StoreError, flag, unique_as_duplicate};
use crate::direct::DirectAddress;

/// A stored Direct address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressRow {
    /// Row id, referenced by certificates (and later mailboxes).
    pub id: i64,
    /// The address.
    pub address: DirectAddress,
    /// Its domain's row id.
    pub domain_id: i64,
    /// The person's or service's name, used as the certificate's CN.
    pub display_name: Option<String>,
    /// The user who may read and send as this address.
    pub owner_user_id: Option<i64>,
    /// False when disabled: no mail accepted or sent, no CERT published.
    pub enabled: bool,
    /// When created (Unix seconds).
    pub created_at: i64,
}

fn from_row(row: &AnyRow) -> Result<AddressRow, StoreError> {
    let address: String = row.try_get("address")?;
    Ok(AddressRow {
        id: row.try_get("id")?,
        address: DirectAddress::parse(&address).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        domain_id: row.try_get("domain_id")?,
        display_name: row.try_get("display_name")?,
        owner_user_id: row.try_get("owner_user_id")?,
        enabled: flag(row.try_get("enabled")?),
        created_at: row.try_get("created_at")?,
    })
}

/// Add an address; `Duplicate` when it exists.
pub async fn insert(
    conn: &mut AnyConnection,
    address: &DirectAddress,
    domain_id: i64,
    display_name: Option<&str>,
    owner_user_id: Option<i64>,
    now: i64,
) -> Result<AddressRow, StoreError> {
    let id: i64 = sqlx::query(
        "INSERT INTO addresses (address, domain_id, display_name, owner_user_id, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(address.to_string())
    .bind(domain_id)
    .bind(display_name)
    .bind(owner_user_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| unique_as_duplicate(e, format!("address {address}")))?
    .try_get(0)?;
    by_id(conn, id).await
}

/// The address with this id.
pub async fn by_id(conn: &mut AnyConnection, id: i64) -> Result<AddressRow, StoreError> {
    let row = sqlx::query(
        "SELECT id, address, domain_id, display_name, owner_user_id, enabled, created_at
         FROM addresses WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("address #{id}")))?;
    from_row(&row)
}

/// The stored row for an address, if any.
pub async fn find(
    conn: &mut AnyConnection,
    address: &DirectAddress,
) -> Result<Option<AddressRow>, StoreError> {
    sqlx::query(
        "SELECT id, address, domain_id, display_name, owner_user_id, enabled, created_at
         FROM addresses WHERE address = $1",
    )
    .bind(address.to_string())
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// The stored row for an address, or `NotFound`.
pub async fn get(
    conn: &mut AnyConnection,
    address: &DirectAddress,
) -> Result<AddressRow, StoreError> {
    find(conn, address)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("address {address}")))
}

/// Every address, or those of one domain, by address.
pub async fn list(
    conn: &mut AnyConnection,
    domain_id: Option<i64>,
) -> Result<Vec<AddressRow>, StoreError> {
    sqlx::query(
        "SELECT id, address, domain_id, display_name, owner_user_id, enabled, created_at
         FROM addresses WHERE ($1 = 0 OR domain_id = $1) ORDER BY address",
    )
    .bind(domain_id.unwrap_or(0))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// The addresses a user owns, enabled first, then by address.
pub async fn owned_by(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<Vec<AddressRow>, StoreError> {
    sqlx::query(
        "SELECT id, address, domain_id, display_name, owner_user_id, enabled, created_at
         FROM addresses WHERE owner_user_id = $1 ORDER BY enabled DESC, address",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// How many addresses a user owns.
pub async fn count_owned(conn: &mut AnyConnection, user_id: i64) -> Result<i64, StoreError> {
    Ok(
        sqlx::query("SELECT COUNT(*) FROM addresses WHERE owner_user_id = $1")
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?,
    )
}

/// Enable or disable an address. Bumps notify's change counter in the same
/// transaction: a disabled address's roster matches nothing, so the notify
/// worker must reload its snapshot, and an alert it decided before the
/// change is not filed after it (`store::notify::generation_held`).
pub async fn set_enabled(
    conn: &mut AnyConnection,
    id: i64,
    enabled: bool,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE addresses SET enabled = $1 WHERE id = $2")
        .bind(i64::from(enabled))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    super::notify::bump_generation(conn).await
}

/// Every enabled address here (as stored): the subscribers that may be
/// alerted. An address disabled, or removed (its roster may outlive it), is
/// not one.
pub async fn enabled(conn: &mut AnyConnection) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query("SELECT address FROM addresses WHERE enabled = 1")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| r.try_get(0).map_err(StoreError::from))
        .collect()
}

/// Whether `address` (as stored) is an enabled address here; false for one
/// disabled or not an address at all (removed).
pub async fn is_enabled(conn: &mut AnyConnection, address: &str) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM addresses WHERE address = $1 AND enabled = 1")
        .bind(address)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    Ok(n > 0)
}

/// Those of `addrs` (as stored) that are enabled addresses here, in one
/// query.
pub async fn enabled_among(
    conn: &mut AnyConnection,
    addrs: &[String],
) -> Result<Vec<String>, StoreError> {
    if addrs.is_empty() {
        return Ok(Vec::new());
    }
    let list = (1..=addrs.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("SELECT address FROM addresses WHERE enabled = 1 AND address IN ({list})");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for a in addrs {
        q = q.bind(a.as_str());
    }
    let found: Vec<String> = q
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    Ok(addrs
        .iter()
        .filter(|a| found.contains(a))
        .cloned()
        .collect())
}

/// How many enabled addresses a user owns.
pub async fn count_enabled_owned(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<i64, StoreError> {
    Ok(
        sqlx::query("SELECT COUNT(*) FROM addresses WHERE owner_user_id = $1 AND enabled = 1")
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?,
    )
}

/// Delete an address row (its certificates are deleted first by the caller).
pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM addresses WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
