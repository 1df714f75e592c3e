//! The `domains` table: the Direct domains this HISP serves.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{StoreError, unique_as_duplicate};
use crate::direct::Domain;

/// A stored domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRow {
    /// Row id, referenced by addresses, certificates and anchors.
    pub id: i64,
    /// The domain name.
    pub name: Domain,
    /// When it was added (Unix seconds).
    pub created_at: i64,
}

fn from_row(row: &AnyRow) -> Result<DomainRow, StoreError> {
    let name: String = row.try_get("name")?;
    Ok(DomainRow {
        id: row.try_get("id")?,
        name: Domain::parse(&name).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: row.try_get("created_at")?,
    })
}

/// Add a domain; `Duplicate` when it exists.
pub async fn insert(
    conn: &mut AnyConnection,
    name: &Domain,
    now: i64,
) -> Result<DomainRow, StoreError> {
    let row = sqlx::query(
        "INSERT INTO domains (name, created_at) VALUES ($1, $2) RETURNING id, name, created_at",
    )
    .bind(name.as_str())
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| unique_as_duplicate(e, format!("domain {name}")))?;
    from_row(&row)
}

/// The directory's change counter: every write to domains, addresses,
/// certificates, anchors or the CA certificate bumps it (by trigger, in the
/// writer's transaction; migration 0009). See `ops::directory`.
pub async fn directory_generation(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(
        sqlx::query("SELECT generation FROM directory_generation WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?,
    )
}

/// The domain with this name, if any.
pub async fn find(
    conn: &mut AnyConnection,
    name: &Domain,
) -> Result<Option<DomainRow>, StoreError> {
    sqlx::query("SELECT id, name, created_at FROM domains WHERE name = $1")
        .bind(name.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// The domain with this name, or `NotFound`.
pub async fn get(conn: &mut AnyConnection, name: &Domain) -> Result<DomainRow, StoreError> {
    find(conn, name)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("domain {name}")))
}

/// The domain with this id.
pub async fn by_id(conn: &mut AnyConnection, id: i64) -> Result<DomainRow, StoreError> {
    let row = sqlx::query("SELECT id, name, created_at FROM domains WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("domain #{id}")))?;
    from_row(&row)
}

/// Every domain, by name.
pub async fn list(conn: &mut AnyConnection) -> Result<Vec<DomainRow>, StoreError> {
    sqlx::query("SELECT id, name, created_at FROM domains ORDER BY name")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Delete a domain row with its anchors and bundles. The caller has removed its addresses and
/// certificates first; `Conflict` when addresses remain.
pub async fn delete(conn: &mut AnyConnection, domain: &DomainRow) -> Result<(), StoreError> {
    let left: i64 = sqlx::query("SELECT COUNT(*) FROM addresses WHERE domain_id = $1")
        .bind(domain.id)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    if left > 0 {
        return Err(StoreError::Conflict(format!(
            "domain {} still has {left} address(es): remove them first",
            domain.name
        )));
    }
    for sql in [
        "DELETE FROM anchors WHERE domain_id = $1",
        "DELETE FROM bundles WHERE domain_id = $1",
    ] {
        sqlx::query(sql).bind(domain.id).execute(&mut *conn).await?;
    }
    sqlx::query("DELETE FROM domains WHERE id = $1")
        .bind(domain.id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
