//! Queries only the JSON API needs: marking a message read and deleting it
//! (both scoped to one mailbox), and one alert with its sealed summary opened.

use sqlx::{AnyConnection, Row};

use super::notify::ALERT;
use super::{Sealer, StoreError};

/// Mark a message of this mailbox read; false when there is no such message.
pub async fn mark_seen(
    conn: &mut AnyConnection,
    address_id: i64,
    id: i64,
) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("UPDATE mailbox SET seen = 1 WHERE address_id = $1 AND id = $2")
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

/// One alert with what the worklist row leaves out.
#[derive(Debug, Clone)]
pub struct AlertDetail {
    /// Row id.
    pub id: i64,
    /// The subscriber's address.
    pub subscriber: String,
    /// admit, ed, discharge, transfer, retraction.
    pub event: String,
    /// new, in-progress, completed.
    pub status: String,
    /// The subscriber's program.
    pub program: Option<String>,
    /// The sending facility.
    pub facility: String,
    /// The Direct message it went out as.
    pub message_id: Option<String>,
    /// When it was filed (Unix seconds).
    pub created_at: i64,
    /// When the event happened (EVN-2, as sent).
    pub event_time: Option<String>,
    /// The encounter it belongs to.
    pub encounter_id: i64,
    /// The alert text (PHI).
    pub summary: String,
}

/// One alert by id, its summary opened.
pub async fn alert(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    id: i64,
) -> Result<Option<AlertDetail>, StoreError> {
    let row = sqlx::query(
        "SELECT id, subscriber, event, status, program, facility, message_id, created_at,
                event_time, encounter_id, summary_sealed
         FROM alerts WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let sealed: Vec<u8> = r.try_get("summary_sealed")?;
    Ok(Some(AlertDetail {
        id: r.try_get("id")?,
        subscriber: r.try_get("subscriber")?,
        event: r.try_get("event")?,
        status: r.try_get("status")?,
        program: r.try_get("program")?,
        facility: r.try_get("facility")?,
        message_id: r.try_get("message_id")?,
        created_at: r.try_get("created_at")?,
        event_time: r.try_get("event_time")?,
        encounter_id: r.try_get("encounter_id")?,
        summary: String::from_utf8_lossy(&sealer.open(ALERT, &sealed)?).into_owned(),
    }))
}
