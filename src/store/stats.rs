//! Read-only queries for the admin's pages: counts per day and right now for
//! the dashboard (never PHI: only numbers), the audit log searched by actor,
//! action, subject and date, and which users have a second factor.
//!
//! Days are UTC days since the epoch (`at / 86400`), computed by the database
//! so that a count never moves rows to the client.

use std::collections::HashSet;

use sqlx::{AnyConnection, Row};

use super::StoreError;
use crate::audit::AuditRow;

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// A count kept per day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daily {
    /// Messages filed in an inbox here (one per recipient), notices excluded.
    MessagesIn,
    /// Messages sent from a mailbox here (one per message), alerts included.
    MessagesOut,
    /// Encounter alerts created (one per subscriber and change).
    Alerts,
    /// Tracked recipients whose final outcome was failed or expired, by when
    /// the outcome was decided.
    Failures,
}

impl Daily {
    /// The statement: `day` and `n` per day from `$1` (Unix seconds) on.
    /// Every one is a constant: nothing of the caller's reaches the SQL.
    fn sql(self) -> &'static str {
        match self {
            Daily::MessagesIn => {
                "SELECT received_at / 86400 AS day, COUNT(*) AS n FROM mailbox
                 WHERE folder = 'inbox' AND origin = 'inbound' AND received_at >= $1
                 GROUP BY received_at / 86400"
            }
            Daily::MessagesOut => {
                "SELECT received_at / 86400 AS day, COUNT(*) AS n FROM mailbox
                 WHERE folder = 'sent' AND origin = 'submission' AND received_at >= $1
                 GROUP BY received_at / 86400"
            }
            Daily::Alerts => {
                "SELECT created_at / 86400 AS day, COUNT(*) AS n FROM alerts
                 WHERE created_at >= $1 GROUP BY created_at / 86400"
            }
            Daily::Failures => {
                "SELECT final_at / 86400 AS day, COUNT(*) AS n FROM tracking
                 WHERE final IN ('failed', 'expired') AND final_at >= $1
                 GROUP BY final_at / 86400"
            }
        }
    }
}

/// Counts per day for the `days` days ending with the day of `now` (oldest
/// first, days with nothing as 0): `(day number, count)`.
pub async fn per_day(
    conn: &mut AnyConnection,
    series: Daily,
    now: i64,
    days: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let today = now.div_euclid(DAY);
    let first = today - days + 1;
    let rows = sqlx::query(series.sql())
        .bind(first * DAY)
        .fetch_all(&mut *conn)
        .await?;
    let mut out: Vec<(i64, i64)> = (first..=today).map(|d| (d, 0)).collect();
    for r in rows {
        let day: i64 = r.try_get("day")?;
        let n: i64 = r.try_get("n")?;
        if let Some(slot) = out.iter_mut().find(|(d, _)| *d == day) {
            slot.1 += n;
        }
    }
    Ok(out)
}

/// What the dashboard shows as of now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Now {
    /// Inbound messages waiting for the agent.
    pub inbound: i64,
    /// Outbound copies waiting for delivery (including retries).
    pub outbound: i64,
    /// ADT messages waiting for the notify worker.
    pub adt: i64,
    /// Queue rows set aside as unreadable, all queues.
    pub corrupt: i64,
    /// Messages held because they failed their checks.
    pub quarantined: i64,
    /// Recipients that failed (final outcome `failed`) since the cut-off.
    pub failed: i64,
    /// Recipients whose notices never came (`expired`) since the cut-off.
    pub expired: i64,
    /// Unrevoked certificates that expire within the warning window.
    pub certs_expiring: i64,
    /// Domains served.
    pub domains: i64,
    /// Enabled Direct addresses.
    pub addresses: i64,
}

/// One `COUNT(*)` statement with `binds` as `$1`, `$2`, ….
async fn count(
    conn: &mut AnyConnection,
    sql: &'static str,
    binds: &[i64],
) -> Result<i64, StoreError> {
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    Ok(q.fetch_one(&mut *conn).await?.try_get(0)?)
}

/// Queue depths, quarantine, failures since `since`, and certificates
/// expiring between `now` and `now + warn_secs`.
pub async fn now(
    conn: &mut AnyConnection,
    now: i64,
    since: i64,
    warn_secs: i64,
) -> Result<Now, StoreError> {
    Ok(Now {
        inbound: count(
            conn,
            "SELECT COUNT(*) FROM inbound_queue WHERE state = 'new'",
            &[],
        )
        .await?,
        outbound: count(
            conn,
            "SELECT COUNT(*) FROM outbound_queue WHERE state = 'queued'",
            &[],
        )
        .await?,
        adt: count(
            conn,
            "SELECT COUNT(*) FROM adt_messages WHERE state = 'new'",
            &[],
        )
        .await?,
        corrupt: count(
            conn,
            "SELECT (SELECT COUNT(*) FROM inbound_queue WHERE state = 'corrupt')
                  + (SELECT COUNT(*) FROM outbound_queue WHERE state = 'corrupt')
                  + (SELECT COUNT(*) FROM adt_messages WHERE state = 'corrupt')",
            &[],
        )
        .await?,
        quarantined: count(conn, "SELECT COUNT(*) FROM quarantine", &[]).await?,
        failed: count(
            conn,
            "SELECT COUNT(*) FROM tracking WHERE final = 'failed' AND final_at >= $1",
            &[since],
        )
        .await?,
        expired: count(
            conn,
            "SELECT COUNT(*) FROM tracking WHERE final = 'expired' AND final_at >= $1",
            &[since],
        )
        .await?,
        certs_expiring: count(
            conn,
            "SELECT COUNT(*) FROM certificates
             WHERE revoked_at IS NULL AND not_after >= $1 AND not_after < $2",
            &[now, now + warn_secs],
        )
        .await?,
        domains: count(conn, "SELECT COUNT(*) FROM domains", &[]).await?,
        addresses: count(
            conn,
            "SELECT COUNT(*) FROM addresses WHERE enabled = 1",
            &[],
        )
        .await?,
    })
}

/// What the audit log viewer asks for. Empty strings match everything.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery<'a> {
    /// Part of the actor (any letter case).
    pub actor: &'a str,
    /// The start of the action (`address` finds `address.add`, `address.disable`…).
    pub action: &'a str,
    /// Part of the subject (any letter case).
    pub subject: &'a str,
    /// Rows at or after this time (Unix seconds).
    pub since: Option<i64>,
    /// Rows before this time (Unix seconds).
    pub until: Option<i64>,
    /// Rows before this position (the next page of a newest-first listing).
    pub before_seq: Option<i64>,
}

/// `text` for `LIKE … ESCAPE '\'`, lower-cased, its wildcards taken literally.
fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Up to `limit` audit rows matching `q`, newest first.
pub async fn audit_search(
    conn: &mut AnyConnection,
    q: &AuditQuery<'_>,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_log
         WHERE LOWER(actor) LIKE $1 ESCAPE '\\'
           AND LOWER(action) LIKE $2 ESCAPE '\\'
           AND LOWER(subject) LIKE $3 ESCAPE '\\'
           AND at >= $4 AND at < $5 AND seq < $6
         ORDER BY seq DESC LIMIT $7",
    )
    .bind(format!("%{}%", like_literal(q.actor)))
    .bind(format!("{}%", like_literal(q.action)))
    .bind(format!("%{}%", like_literal(q.subject)))
    .bind(q.since.unwrap_or(i64::MIN))
    .bind(q.until.unwrap_or(i64::MAX))
    .bind(q.before_seq.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
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
        })
        .collect()
}

/// The ids of users with a second factor enrolled.
pub async fn users_with_totp(conn: &mut AnyConnection) -> Result<HashSet<i64>, StoreError> {
    sqlx::query("SELECT id FROM users WHERE totp_sealed IS NOT NULL")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_take_wildcards_literally() {
        assert_eq!(like_literal(" Address.ADD "), "address.add");
        assert_eq!(like_literal("50%_x\\"), "50\\%\\_x\\\\");
    }
}
