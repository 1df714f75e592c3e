//! The `users` table: logins for the portal, SMTP submission and IMAP.
//! Passwords are argon2id PHC strings (hashed in `ops::user`), never plaintext.

use std::fmt;
use std::str::FromStr;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{StoreError, flag, unique_as_duplicate};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Reads and sends messages for their own addresses.
    Provider,
    /// A provider who also receives alerts and manages rosters.
    CareManager,
    /// Runs the service.
    Admin,
}

impl Role {
    /// The stored and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Provider => "provider",
            Role::CareManager => "care-manager",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "provider" => Ok(Role::Provider),
            "care-manager" => Ok(Role::CareManager),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role '{other}' (provider, care-manager or admin)"
            )),
        }
    }
}

/// A stored user, without the password hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserRow {
    /// Row id, referenced by addresses they own.
    pub id: i64,
    /// The login name: an address, or a name for admins without one.
    pub username: String,
    /// What they may do.
    pub role: Role,
    /// Set for a one-time password: the next sign-in must choose a new one.
    pub must_change_password: bool,
    /// False when disabled: no sign-in.
    pub enabled: bool,
    /// When created (Unix seconds).
    pub created_at: i64,
}

fn from_row(row: &AnyRow) -> Result<UserRow, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(UserRow {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        role: role.parse().map_err(StoreError::Corrupt)?,
        must_change_password: flag(row.try_get("must_change_password")?),
        enabled: flag(row.try_get("enabled")?),
        created_at: row.try_get("created_at")?,
    })
}

/// Add a user; `Duplicate` when the name is taken.
pub async fn insert(
    conn: &mut AnyConnection,
    username: &str,
    password_hash: &str,
    role: Role,
    must_change_password: bool,
    now: i64,
) -> Result<UserRow, StoreError> {
    let id: i64 = sqlx::query(
        "INSERT INTO users (username, password_hash, role, must_change_password, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(username)
    .bind(password_hash)
    .bind(role.as_str())
    .bind(i64::from(must_change_password))
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| unique_as_duplicate(e, format!("user {username}")))?
    .try_get(0)?;
    by_id(conn, id).await
}

/// The user with this id.
pub async fn by_id(conn: &mut AnyConnection, id: i64) -> Result<UserRow, StoreError> {
    let row = sqlx::query(
        "SELECT id, username, role, must_change_password, enabled, created_at FROM users WHERE id = $1",
    )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("user #{id}")))?;
    from_row(&row)
}

/// The user with this login name, if any.
pub async fn find(conn: &mut AnyConnection, username: &str) -> Result<Option<UserRow>, StoreError> {
    sqlx::query(
        "SELECT id, username, role, must_change_password, enabled, created_at FROM users WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// The stored password hash for a login name, if the user exists.
pub async fn password_hash(
    conn: &mut AnyConnection,
    username: &str,
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query("SELECT password_hash FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?,
    )
}

/// Replace a user's password hash.
pub async fn set_password(
    conn: &mut AnyConnection,
    id: i64,
    password_hash: &str,
    must_change_password: bool,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET password_hash = $1, must_change_password = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(i64::from(must_change_password))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Enable or disable sign-in.
pub async fn set_enabled(
    conn: &mut AnyConnection,
    id: i64,
    enabled: bool,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET enabled = $1 WHERE id = $2")
        .bind(i64::from(enabled))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Delete a user that owns no address any more.
pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<(), StoreError> {
    // Its sessions and address book go with it: both reference the user
    // (without a cascade), so a login that had signed in or saved a contact
    // could not be deleted, and the address removal that deletes it failed.
    for sql in [
        "DELETE FROM web_sessions WHERE user_id = $1",
        "DELETE FROM contacts WHERE user_id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *conn).await?;
    }
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Every user, by name.
pub async fn list(conn: &mut AnyConnection) -> Result<Vec<UserRow>, StoreError> {
    sqlx::query(
        "SELECT id, username, role, must_change_password, enabled, created_at FROM users ORDER BY username",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}
