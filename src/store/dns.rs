//! The `dns_records` table (records an admin adds beside the generated ones) and
//! `dns_state.serial`, which every change to what the responder serves bumps.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::StoreError;

/// An extra record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecordRow {
    /// Row id.
    pub id: i64,
    /// The zone (one of our domains).
    pub domain: String,
    /// Owner name, fully qualified, lower-case, no trailing dot.
    pub name: String,
    /// `SRV`, `TXT`, `A`, `AAAA`, `MX`, `CERT`, `NS`.
    pub rtype: String,
    /// Seconds.
    pub ttl: i64,
    /// Presentation form of the data (`10 5 389 ldap.example.org`, `"v=1"`, …).
    pub data: String,
}

fn from_row(r: &AnyRow) -> Result<DnsRecordRow, StoreError> {
    Ok(DnsRecordRow {
        id: r.try_get("id")?,
        domain: r.try_get("domain")?,
        name: r.try_get("name")?,
        rtype: r.try_get("rtype")?,
        ttl: r.try_get("ttl")?,
        data: r.try_get("data")?,
    })
}

/// The current serial.
pub async fn serial(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query("SELECT serial FROM dns_state WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?)
}

/// Bump the serial (inside the transaction that changed what DNS serves).
pub async fn bump(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(
        sqlx::query("UPDATE dns_state SET serial = serial + 1 WHERE id = 1 RETURNING serial")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?,
    )
}

/// Every extra record.
pub async fn list(conn: &mut AnyConnection) -> Result<Vec<DnsRecordRow>, StoreError> {
    sqlx::query(
        "SELECT r.id, d.name AS domain, r.name, r.rtype, r.ttl, r.data FROM dns_records r
         JOIN domains d ON d.id = r.domain_id ORDER BY d.name, r.name, r.rtype, r.id",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Add an extra record.
pub async fn insert(
    conn: &mut AnyConnection,
    domain_id: i64,
    name: &str,
    rtype: &str,
    ttl: i64,
    data: &str,
    now: i64,
) -> Result<i64, StoreError> {
    let id: i64 = sqlx::query(
        "INSERT INTO dns_records (domain_id, name, rtype, ttl, data, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(domain_id)
    .bind(name)
    .bind(rtype)
    .bind(ttl)
    .bind(data)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    bump(conn).await?;
    Ok(id)
}

/// Remove extra records by owner name and type (and data, when given); returns how many.
pub async fn delete(
    conn: &mut AnyConnection,
    name: &str,
    rtype: &str,
    data: Option<&str>,
) -> Result<u64, StoreError> {
    let n = sqlx::query(
        "DELETE FROM dns_records WHERE name = $1 AND rtype = $2 AND ($3 = '' OR data = $3)",
    )
    .bind(name)
    .bind(rtype)
    .bind(data.unwrap_or(""))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n > 0 {
        bump(conn).await?;
    }
    Ok(n)
}
