//! The `mailbox` table: messages delivered to local addresses (`inbox`) and
//! copies of what they sent (`sent`). Subjects and bytes are sealed; the sender
//! address and dates are kept plain for listing. A row's `(origin, origin_id)`
//! (the inbound row or submission it came from) makes delivery idempotent.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Sealer, StoreError, flag};

/// Seal context of mailbox bytes.
const RAW: &str = "mailbox-raw";
/// Seal context of mailbox subjects.
const SUBJECT: &str = "mailbox-subject";

/// A message to file.
#[derive(Debug, Clone)]
pub struct NewMail<'a> {
    /// The mailbox's address row.
    pub address_id: i64,
    /// `inbox` or `sent`.
    pub folder: &'a str,
    /// Its Message-ID.
    pub message_id: Option<&'a str>,
    /// Who it is from.
    pub from_addr: &'a str,
    /// Its subject.
    pub subject: &'a str,
    /// The whole message.
    pub raw: &'a [u8],
    /// Its Date header (Unix seconds), else the time received.
    pub date: i64,
    /// Where it came from: `inbound`, `submission`, `notice`.
    pub origin: &'a str,
    /// The id within that origin, for idempotent delivery.
    pub origin_id: Option<i64>,
}

/// A message as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MailSummary {
    /// Row id: the message's id in this mailbox.
    pub id: i64,
    /// Its Message-ID.
    pub message_id: Option<String>,
    /// Date (Unix seconds).
    pub date: i64,
    /// Sender.
    pub from: String,
    /// Subject.
    pub subject: String,
    /// Read already.
    pub seen: bool,
    /// Bytes.
    pub size: i64,
    /// `inbox` or `sent`.
    pub folder: String,
}

/// File a message; `None` when this origin was filed already.
pub async fn insert(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    m: &NewMail<'_>,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let raw = sealer.seal(RAW, m.raw)?;
    let subject = sealer.seal(SUBJECT, m.subject.as_bytes())?;
    let row = sqlx::query(
        "INSERT INTO mailbox (address_id, folder, message_id, from_addr, subject_sealed, raw_sealed, size, date, received_at, origin, origin_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(m.address_id)
    .bind(m.folder)
    .bind(m.message_id)
    .bind(m.from_addr)
    .bind(subject)
    .bind(raw)
    .bind(i64::try_from(m.raw.len()).unwrap_or(i64::MAX))
    .bind(m.date)
    .bind(now)
    .bind(m.origin)
    .bind(m.origin_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some(r) => Some(r.try_get(0)?),
        None => None,
    })
}

const COLUMNS: &str = "id, message_id, date, from_addr, subject_sealed, seen, size, folder";

fn summary(r: &AnyRow, sealer: &Sealer) -> Result<MailSummary, StoreError> {
    let subject: Vec<u8> = r.try_get("subject_sealed")?;
    Ok(MailSummary {
        id: r.try_get("id")?,
        message_id: r.try_get("message_id")?,
        date: r.try_get("date")?,
        from: r.try_get("from_addr")?,
        subject: String::from_utf8_lossy(&sealer.open(SUBJECT, &subject)?).into_owned(),
        seen: flag(r.try_get("seen")?),
        size: r.try_get("size")?,
        folder: r.try_get("folder")?,
    })
}

/// The listing statement: every column it reads is in the `mailbox_listing`
/// index (migration 0011), so a listing never touches a message's bytes.
/// Parameters: address id, folder, the id to list below, the most rows (its
/// `+ 0` keeps SQLite from compiling it again for each value; see
/// `queue::claim_sql`).
pub fn list_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM mailbox WHERE address_id = $1 AND folder = $2 AND id < $3
         ORDER BY id DESC LIMIT ($4 + 0)"
    )
}

/// Which part of a folder to list: the messages older than `before` (a
/// message id), at most `limit` of them; the default is the whole folder.
#[derive(Debug, Clone, Copy, Default)]
pub struct Page {
    /// Only messages with a smaller id.
    pub before: Option<i64>,
    /// At most this many.
    pub limit: Option<i64>,
}

/// A mailbox folder (or a page of it), newest first.
pub async fn list(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    address_id: i64,
    folder: &str,
    page: Page,
) -> Result<Vec<MailSummary>, StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(list_sql()))
        .bind(address_id)
        .bind(folder)
        .bind(page.before.unwrap_or(i64::MAX))
        .bind(page.limit.unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| summary(r, sealer))
        .collect()
}

/// One message and its bytes; `NotFound` when it is not in this mailbox.
pub async fn get(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    address_id: i64,
    id: i64,
) -> Result<(MailSummary, Vec<u8>), StoreError> {
    let sql =
        format!("SELECT {COLUMNS}, raw_sealed FROM mailbox WHERE address_id = $1 AND id = $2");
    let r = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(address_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("message {id}")))?;
    let raw: Vec<u8> = r.try_get("raw_sealed")?;
    Ok((summary(&r, sealer)?, sealer.open(RAW, &raw)?))
}

/// Mark a message read.
pub async fn set_seen(
    conn: &mut AnyConnection,
    address_id: i64,
    id: i64,
    seen: bool,
) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("UPDATE mailbox SET seen = $1 WHERE address_id = $2 AND id = $3")
            .bind(i64::from(seen))
            .bind(address_id)
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// Delete a message of this mailbox; false when there is no such message.
pub async fn delete(
    conn: &mut AnyConnection,
    address_id: i64,
    id: i64,
) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("DELETE FROM mailbox WHERE address_id = $1 AND id = $2")
            .bind(address_id)
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// How many messages a mailbox folder holds.
pub async fn count(
    conn: &mut AnyConnection,
    address_id: i64,
    folder: &str,
) -> Result<i64, StoreError> {
    Ok(
        sqlx::query("SELECT COUNT(*) FROM mailbox WHERE address_id = $1 AND folder = $2")
            .bind(address_id)
            .bind(folder)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?,
    )
}

/// How many messages of a mailbox folder are unread (from the listing
/// index alone).
pub async fn unseen(
    conn: &mut AnyConnection,
    address_id: i64,
    folder: &str,
) -> Result<i64, StoreError> {
    Ok(sqlx::query(
        "SELECT COUNT(*) FROM mailbox WHERE address_id = $1 AND folder = $2 AND seen = 0",
    )
    .bind(address_id)
    .bind(folder)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// How many messages an address holds in all folders.
pub async fn count_all(conn: &mut AnyConnection, address_id: i64) -> Result<i64, StoreError> {
    Ok(
        sqlx::query("SELECT COUNT(*) FROM mailbox WHERE address_id = $1")
            .bind(address_id)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?,
    )
}
