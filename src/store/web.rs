//! The portal's and the API's tables: signed-in sessions (only the SHA-256 of
//! the cookie's token is stored), each user's sealed TOTP secret and the last
//! step they spent, API keys (hashed, with a role and the addresses they may
//! act for), and personal address books.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::users::Role;
use super::{Sealer, StoreError, flag, unique_as_duplicate};

/// Seal context for TOTP secrets.
const TOTP_CONTEXT: &str = "users.totp";

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// Whose.
    pub user_id: i64,
    /// The form token every POST must carry.
    pub csrf: String,
    /// True once the second factor was given (or none is needed).
    pub mfa_done: bool,
    /// When signed in (Unix seconds).
    pub created_at: i64,
    /// The last request (Unix seconds): the idle timeout counts from here.
    pub last_seen: i64,
}

/// Start a session.
pub async fn insert_session(
    conn: &mut AnyConnection,
    token_hash: &str,
    user_id: i64,
    csrf: &str,
    mfa_done: bool,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO web_sessions (token_hash, user_id, csrf, mfa_done, created_at, last_seen)
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(csrf)
    .bind(i64::from(mfa_done))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The session with this token hash, if any.
pub async fn session(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<SessionRow>, StoreError> {
    let row = sqlx::query(
        "SELECT user_id, csrf, mfa_done, created_at, last_seen FROM web_sessions WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(SessionRow {
            user_id: r.try_get("user_id")?,
            csrf: r.try_get("csrf")?,
            mfa_done: flag(r.try_get("mfa_done")?),
            created_at: r.try_get("created_at")?,
            last_seen: r.try_get("last_seen")?,
        })
    })
    .transpose()
}

/// Record activity on a session.
pub async fn touch_session(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE web_sessions SET last_seen = $1 WHERE token_hash = $2")
        .bind(now)
        .bind(token_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Mark the second factor as given.
pub async fn session_mfa_done(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE web_sessions SET mfa_done = 1 WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// End a session.
pub async fn delete_session(conn: &mut AnyConnection, token_hash: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// End every session of a user (password reset, disabled account).
pub async fn delete_user_sessions(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM web_sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

/// Drop sessions idle since before `cutoff`.
pub async fn delete_idle_sessions(
    conn: &mut AnyConnection,
    cutoff: i64,
) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM web_sessions WHERE last_seen < $1")
        .bind(cutoff)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

/// A user's TOTP secret (opened) and the last step they used.
pub async fn totp(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    user_id: i64,
) -> Result<(Option<Vec<u8>>, Option<i64>), StoreError> {
    let row = sqlx::query("SELECT totp_sealed, totp_last_step FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("user #{user_id}")))?;
    let sealed: Option<Vec<u8>> = row.try_get("totp_sealed")?;
    let secret = match sealed {
        Some(s) => Some(sealer.open(TOTP_CONTEXT, &s)?),
        None => None,
    };
    Ok((secret, row.try_get("totp_last_step")?))
}

/// Set (or clear, with `None`) a user's TOTP secret.
pub async fn set_totp(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    user_id: i64,
    secret: Option<&[u8]>,
) -> Result<(), StoreError> {
    let sealed = secret.map(|s| sealer.seal(TOTP_CONTEXT, s)).transpose()?;
    sqlx::query("UPDATE users SET totp_sealed = $1, totp_last_step = NULL WHERE id = $2")
        .bind(sealed)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Spend a TOTP step: false when it (or a later one) was spent already, so a
/// code is accepted once even by two nodes racing.
pub async fn spend_totp_step(
    conn: &mut AnyConnection,
    user_id: i64,
    step: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE users SET totp_last_step = $1
         WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
    )
    .bind(step)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A stored API key (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiKeyRow {
    /// Row id; the key's visible prefix names it.
    pub id: i64,
    /// What it is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The addresses it may act for (empty for an admin key: all).
    pub addresses: Vec<String>,
    /// Who created it.
    pub created_by: String,
    /// When created.
    pub created_at: i64,
    /// When revoked, if it was.
    pub revoked_at: Option<i64>,
    /// When last used.
    pub last_used_at: Option<i64>,
}

fn key_from_row(row: &AnyRow) -> Result<ApiKeyRow, StoreError> {
    let role: String = row.try_get("role")?;
    let addresses: String = row.try_get("addresses")?;
    Ok(ApiKeyRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: role.parse().map_err(StoreError::Corrupt)?,
        addresses: addresses
            .split(' ')
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect(),
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

const KEY_COLUMNS: &str =
    "id, name, role, addresses, created_by, created_at, revoked_at, last_used_at";

/// Store a new key by its hash.
pub async fn insert_api_key(
    conn: &mut AnyConnection,
    key_hash: &str,
    name: &str,
    role: Role,
    addresses: &[String],
    created_by: &str,
    now: i64,
) -> Result<ApiKeyRow, StoreError> {
    let id: i64 = sqlx::query(
        "INSERT INTO api_keys (key_hash, name, role, addresses, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(key_hash)
    .bind(name)
    .bind(role.as_str())
    .bind(addresses.join(" "))
    .bind(created_by)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| unique_as_duplicate(e, "API key"))?
    .try_get(0)?;
    api_key(conn, id).await
}

/// One key by id.
pub async fn api_key(conn: &mut AnyConnection, id: i64) -> Result<ApiKeyRow, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("API key #{id}")))?;
    key_from_row(&row)
}

/// The unrevoked key with this hash, marking it used.
pub async fn use_api_key(
    conn: &mut AnyConnection,
    key_hash: &str,
    now: i64,
) -> Result<Option<ApiKeyRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
    )))
    .bind(key_hash)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let key = key_from_row(&row)?;
    if key.last_used_at.is_none_or(|t| now - t >= 60) {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(key.id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(Some(key))
}

/// Every key, newest first.
pub async fn api_keys(conn: &mut AnyConnection) -> Result<Vec<ApiKeyRow>, StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id DESC"
    )))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(key_from_row)
    .collect()
}

/// Take `address` out of every key's scope (it was removed, and its name
/// may be issued again to someone else). A key that acted for it alone is
/// revoked. Returns (keys narrowed, keys revoked).
pub async fn forget_key_address(
    conn: &mut AnyConnection,
    address: &str,
    now: i64,
) -> Result<(u64, u64), StoreError> {
    let (mut narrowed, mut revoked) = (0, 0);
    for key in api_keys(conn).await? {
        if !key
            .addresses
            .iter()
            .any(|a| a.eq_ignore_ascii_case(address))
        {
            continue;
        }
        let rest: Vec<&str> = key
            .addresses
            .iter()
            .filter(|a| !a.eq_ignore_ascii_case(address))
            .map(String::as_str)
            .collect();
        sqlx::query("UPDATE api_keys SET addresses = $1 WHERE id = $2")
            .bind(rest.join(" "))
            .bind(key.id)
            .execute(&mut *conn)
            .await?;
        if rest.is_empty() && key.role != Role::Admin {
            if revoke_api_key(conn, key.id, now).await? {
                revoked += 1;
            }
        } else {
            narrowed += 1;
        }
    }
    Ok((narrowed, revoked))
}

/// Revoke a key; false when it was revoked already or does not exist.
pub async fn revoke_api_key(
    conn: &mut AnyConnection,
    id: i64,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// A personal address book entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContactRow {
    /// Row id.
    pub id: i64,
    /// Shown name.
    pub name: String,
    /// Their Direct address.
    pub address: String,
}

/// Add a contact; `Duplicate` when the user has that address already.
pub async fn insert_contact(
    conn: &mut AnyConnection,
    user_id: i64,
    name: &str,
    address: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO contacts (user_id, name, address, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id)
    .bind(name)
    .bind(address)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(|e| unique_as_duplicate(e, format!("contact {address}")))?;
    Ok(())
}

/// Remove one of a user's contacts.
pub async fn delete_contact(
    conn: &mut AnyConnection,
    user_id: i64,
    id: i64,
) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("DELETE FROM contacts WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// A user's contacts, by name.
pub async fn contacts(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<Vec<ContactRow>, StoreError> {
    sqlx::query("SELECT id, name, address FROM contacts WHERE user_id = $1 ORDER BY name, address")
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(ContactRow {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                address: r.try_get("address")?,
            })
        })
        .collect()
}
