//! The `tracking` table (per message and recipient: queued, sent, processed,
//! dispatched, then exactly one final outcome) and `tracking_events` (every
//! notice received, with late and duplicate ones marked suppressed). The final
//! outcome is written with `WHERE final IS NULL`, so two notices racing on two
//! nodes still give the sender exactly one.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Sealer, StoreError, flag};

/// Seal context of tracked subjects.
const SUBJECT: &str = "tracking-subject";

/// A new tracked recipient.
#[derive(Debug, Clone)]
pub struct NewTrack<'a> {
    /// The sent message's Message-ID (`<…>`).
    pub message_id: &'a str,
    /// The sender (a local address).
    pub sender: &'a str,
    /// The recipient.
    pub recipient: &'a str,
    /// The subject, for the sender's notices.
    pub subject: &'a str,
    /// The message asked for timely-and-reliable delivery (dispatched MDN).
    pub wants_dispatched: bool,
    /// The message carried Disposition-Notification-To: the sender wants success notices.
    pub wants_notice: bool,
    /// First state: `queued`, or `failed` for a recipient refused at submission.
    pub state: &'a str,
}

/// One tracked recipient.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrackRow {
    /// Row id.
    pub id: i64,
    /// The message's Message-ID.
    pub message_id: String,
    /// Sender.
    pub sender: String,
    /// Recipient.
    pub recipient: String,
    /// Subject.
    #[serde(skip)]
    pub subject: String,
    /// Timely-and-reliable requested.
    pub wants_dispatched: bool,
    /// Success notices requested.
    pub wants_notice: bool,
    /// Latest state: queued, sent, processed, dispatched, delivered, failed, expired.
    pub state: String,
    /// The final outcome once known: delivered, failed or expired.
    pub final_outcome: Option<String>,
    /// Why, for failures (status code and cause).
    pub detail: Option<String>,
    /// Queued at.
    pub created_at: i64,
    /// Handed to the next hop.
    pub sent_at: Option<i64>,
    /// Processed MDN received.
    pub processed_at: Option<i64>,
    /// Dispatched MDN received.
    pub dispatched_at: Option<i64>,
    /// Final outcome decided.
    pub final_at: Option<i64>,
    /// No final outcome by then is a failure.
    pub deadline: Option<i64>,
}

/// A notice or step recorded against a tracked recipient.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EventRow {
    /// When.
    pub at: i64,
    /// What: sent, processed, dispatched, failed, dsn, expired, retry…
    pub event: String,
    /// Detail (status, server reply).
    pub detail: Option<String>,
    /// Recorded but not acted on (late or duplicate).
    pub suppressed: bool,
}

/// Start tracking a recipient; returns the row id.
pub async fn insert(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    t: &NewTrack<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    let subject = sealer.seal(SUBJECT, t.subject.as_bytes())?;
    Ok(sqlx::query(
        "INSERT INTO tracking (message_id, sender, recipient, subject_sealed, wants_dispatched, wants_notice, state, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(t.message_id)
    .bind(t.sender)
    .bind(t.recipient)
    .bind(subject)
    .bind(i64::from(t.wants_dispatched))
    .bind(i64::from(t.wants_notice))
    .bind(t.state)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

const COLUMNS: &str = "id, message_id, sender, recipient, subject_sealed, wants_dispatched, wants_notice, state, final, detail, created_at, sent_at, processed_at, dispatched_at, final_at, deadline";

fn from_row(r: &AnyRow, sealer: &Sealer) -> Result<TrackRow, StoreError> {
    let subject: Vec<u8> = r.try_get("subject_sealed")?;
    Ok(TrackRow {
        id: r.try_get("id")?,
        message_id: r.try_get("message_id")?,
        sender: r.try_get("sender")?,
        recipient: r.try_get("recipient")?,
        subject: String::from_utf8_lossy(&sealer.open(SUBJECT, &subject)?).into_owned(),
        wants_dispatched: flag(r.try_get("wants_dispatched")?),
        wants_notice: flag(r.try_get("wants_notice")?),
        state: r.try_get("state")?,
        final_outcome: r.try_get("final")?,
        detail: r.try_get("detail")?,
        created_at: r.try_get("created_at")?,
        sent_at: r.try_get("sent_at")?,
        processed_at: r.try_get("processed_at")?,
        dispatched_at: r.try_get("dispatched_at")?,
        final_at: r.try_get("final_at")?,
        deadline: r.try_get("deadline")?,
    })
}

/// The row for one message and recipient (recipient compared case-insensitively).
pub async fn find(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    message_id: &str,
    recipient: &str,
) -> Result<Option<TrackRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM tracking WHERE message_id = $1 AND LOWER(recipient) = LOWER($2)"
    );
    match sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(message_id)
        .bind(recipient)
        .fetch_optional(&mut *conn)
        .await?
    {
        Some(r) => Ok(Some(from_row(&r, sealer)?)),
        None => Ok(None),
    }
}

/// Every recipient of a message.
pub async fn by_message(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    message_id: &str,
) -> Result<Vec<TrackRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM tracking WHERE message_id = $1 ORDER BY id");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(message_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| from_row(r, sealer))
        .collect()
}

/// Recipients still waiting whose deadline has passed.
pub async fn overdue(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    now: i64,
    limit: i64,
) -> Result<Vec<TrackRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM tracking WHERE final IS NULL AND deadline IS NOT NULL AND deadline <= $1 ORDER BY deadline LIMIT $2"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| from_row(r, sealer))
        .collect()
}

/// A step short of the final outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Accepted by the next hop (or filed locally); waiting for MDNs until the deadline.
    Sent {
        /// When no final outcome means failure.
        deadline: i64,
    },
    /// A processed MDN arrived (also recorded after a dispatched MDN that
    /// overtook it made the outcome `delivered`).
    Processed,
    /// A dispatched MDN arrived.
    Dispatched,
}

/// Record a step; false when the outcome is final already (nothing changes).
pub async fn step(
    conn: &mut AnyConnection,
    id: i64,
    step: Step,
    now: i64,
) -> Result<bool, StoreError> {
    let q = match step {
        Step::Sent { deadline } => sqlx::query(
            "UPDATE tracking SET state = 'sent', sent_at = $1, deadline = $2 WHERE id = $3 AND final IS NULL",
        )
        .bind(now)
        .bind(deadline),
        Step::Processed => sqlx::query(
            "UPDATE tracking SET state = CASE WHEN final IS NULL THEN 'processed' ELSE state END,
             processed_at = COALESCE(processed_at, $1) WHERE id = $2 AND (final IS NULL OR final = 'delivered')",
        )
        .bind(now),
        Step::Dispatched => sqlx::query(
            "UPDATE tracking SET state = 'dispatched', dispatched_at = COALESCE(dispatched_at, $1) WHERE id = $2 AND final IS NULL",
        )
        .bind(now),
    };
    Ok(q.bind(id).execute(&mut *conn).await?.rows_affected() == 1)
}

/// Decide the final outcome (`delivered`, `failed`, `expired`); false when one
/// was decided already, so the caller sends nothing more.
pub async fn finish(
    conn: &mut AnyConnection,
    id: i64,
    outcome: &str,
    detail: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE tracking SET state = $1, final = $1, detail = $2, final_at = $3 WHERE id = $4 AND final IS NULL",
    )
    .bind(outcome)
    .bind(detail)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Record an event.
pub async fn event(
    conn: &mut AnyConnection,
    id: i64,
    event: &str,
    detail: Option<&str>,
    suppressed: bool,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tracking_events (tracking_id, at, event, detail, suppressed) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(now)
    .bind(event)
    .bind(detail)
    .bind(i64::from(suppressed))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The events of one tracked recipient, oldest first.
pub async fn events(conn: &mut AnyConnection, id: i64) -> Result<Vec<EventRow>, StoreError> {
    sqlx::query(
        "SELECT at, event, detail, suppressed FROM tracking_events WHERE tracking_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(EventRow {
            at: r.try_get("at")?,
            event: r.try_get("event")?,
            detail: r.try_get("detail")?,
            suppressed: flag(r.try_get("suppressed")?),
        })
    })
    .collect()
}
