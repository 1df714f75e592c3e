//! The append-only, hash-chained audit log.
//!
//! Every admin action (and later every message event and view of PHI) appends a
//! row whose `hash` is SHA-256 over the previous row's hash and this row's fields,
//! each length-prefixed. `audit_head` holds the chain's tip; an appender updates it
//! first, which takes the write lock on SQLite and the row lock on PostgreSQL, so
//! appends from several nodes serialize. Triggers refuse UPDATE and DELETE on
//! `audit_log`; `verify` catches what a trigger cannot (an edited database file).

use openssl::sha::Sha256;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::store::StoreError;
use crate::store::seal::hex_encode;

/// The hash before the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const PAGE: i64 = 1000;

/// What to record. Never PHI: subjects are addresses, domains, serials, ids.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// Who did it: a user name, `cli` (an operator at the console) or `system`.
    pub actor: &'a str,
    /// What was done, dotted: `address.add`, `cert.revoke`.
    pub action: &'a str,
    /// What it was done to.
    pub subject: &'a str,
    /// Further facts, short.
    pub detail: &'a str,
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRow {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When (Unix seconds).
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// To what.
    pub subject: String,
    /// Further facts.
    pub detail: String,
    /// The previous row's hash.
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
}

/// The outcome of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every row checks out.
    Intact {
        /// How many rows were checked.
        rows: i64,
    },
    /// The first row that does not.
    Broken {
        /// The row's position.
        seq: i64,
        /// What is wrong with it.
        why: String,
    },
}

/// The hash of a row given the previous hash.
pub fn row_hash(prev: &str, seq: i64, at: i64, e: &Entry<'_>) -> String {
    let mut h = Sha256::new();
    for field in [
        prev.as_bytes(),
        &seq.to_be_bytes(),
        &at.to_be_bytes(),
        e.actor.as_bytes(),
        e.action.as_bytes(),
        e.subject.as_bytes(),
        e.detail.as_bytes(),
    ] {
        h.update(&(field.len() as u64).to_be_bytes());
        h.update(field);
    }
    hex_encode(&h.finish())
}

/// Append an entry inside the caller's transaction; returns its seq.
pub async fn append(conn: &mut AnyConnection, e: &Entry<'_>, now: i64) -> Result<i64, StoreError> {
    let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_one(&mut *conn)
        .await?;
    let seq: i64 = head.try_get(0)?;
    let prev: String = head.try_get(1)?;
    let hash = row_hash(&prev, seq, now, e);
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(seq)
    .bind(now)
    .bind(e.actor)
    .bind(e.action)
    .bind(e.subject)
    .bind(e.detail)
    .bind(&prev)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    Ok(seq)
}

fn from_row(r: &AnyRow) -> Result<AuditRow, StoreError> {
    Ok(AuditRow {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        subject: r.try_get("subject")?,
        detail: r.try_get("detail")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

/// Up to `limit` rows after `after_seq`, oldest first.
pub async fn page(
    conn: &mut AnyConnection,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    sqlx::query(
        "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_log
         WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after_seq)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Recompute the whole chain and name the first row that does not check out.
pub async fn verify(conn: &mut AnyConnection) -> Result<Verdict, StoreError> {
    Ok(verify_since(conn, None).await?.0)
}

/// Where a chain was last verified: its last row and that row's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The last row verified.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
}

/// [`verify`] from a checkpoint: first that row `from.seq` still carries
/// `from.hash` (a rewritten or truncated and re-grown chain fails here), then
/// every row after it, chained from that hash, then the head. With `None`,
/// the whole chain. Also returns the new checkpoint when the chain is intact.
///
/// Rows up to the checkpoint are not recomputed, so a change to their text
/// alone is caught only by a verification from the start (`hisp audit
/// verify`, and the portal's periodic full check).
pub async fn verify_since(
    conn: &mut AnyConnection,
    from: Option<&Checkpoint>,
) -> Result<(Verdict, Option<Checkpoint>), StoreError> {
    let (mut prev, mut expected_seq) = match from {
        Some(cp) if cp.seq > 0 => {
            let found = sqlx::query("SELECT hash FROM audit_log WHERE seq = $1")
                .bind(cp.seq)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| r.try_get::<String, _>(0))
                .transpose()?;
            if found.as_deref() != Some(cp.hash.as_str()) {
                let why = format!(
                    "row {} is not the row verified before: the chain was changed",
                    cp.seq
                );
                return Ok((Verdict::Broken { seq: cp.seq, why }, None));
            }
            (cp.hash.clone(), cp.seq + 1)
        }
        _ => (GENESIS.to_string(), 1),
    };
    loop {
        let rows = page(conn, expected_seq - 1, PAGE).await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            if let Some(why) = check_row(row, expected_seq, &prev) {
                return Ok((Verdict::Broken { seq: row.seq, why }, None));
            }
            prev.clone_from(&row.hash);
            expected_seq += 1;
        }
    }
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    let (head_seq, head_hash): (i64, String) = (head.try_get(0)?, head.try_get(1)?);
    let last = expected_seq - 1;
    if head_seq != last || head_hash != prev {
        let broken = Verdict::Broken {
            seq: last + 1,
            why: format!(
                "the chain ends at row {last} but its head records row {head_seq}: rows were removed"
            ),
        };
        return Ok((broken, None));
    }
    let cp = Checkpoint {
        seq: last,
        hash: prev,
    };
    Ok((Verdict::Intact { rows: last }, Some(cp)))
}

fn check_row(row: &AuditRow, expected_seq: i64, prev: &str) -> Option<String> {
    if row.seq != expected_seq {
        return Some(format!(
            "row {expected_seq} is missing (next is {})",
            row.seq
        ));
    }
    if row.prev_hash != prev {
        return Some("its previous-hash does not match the row before it".into());
    }
    let entry = Entry {
        actor: &row.actor,
        action: &row.action,
        subject: &row.subject,
        detail: &row.detail,
    };
    (row_hash(prev, row.seq, row.at, &entry) != row.hash)
        .then(|| "its contents do not match its hash (the row was altered)".into())
}
