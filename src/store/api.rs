//! Queries only the JSON API needs: one alert by id with its sealed summary
//! opened (any subscriber's; the API checks the caller's scope).

use sqlx::{AnyConnection, Row};

use super::notify::ALERT;
use super::{Sealer, StoreError};

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
    /// Where that message stands (`notify::DELIVERY_COLUMNS`); `None` while unsent.
    pub delivery: Option<String>,
    /// Why it was not delivered, when it was not.
    pub delivery_detail: Option<String>,
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
    let sql = format!(
        "SELECT id, subscriber, event, status, program, facility, message_id, created_at,
                event_time, encounter_id, summary_sealed, {}
         FROM alerts WHERE id = $1",
        super::notify::DELIVERY_COLUMNS
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
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
        delivery: r.try_get("delivery")?,
        delivery_detail: r.try_get("delivery_detail")?,
        created_at: r.try_get("created_at")?,
        event_time: r.try_get("event_time")?,
        encounter_id: r.try_get("encounter_id")?,
        summary: String::from_utf8_lossy(&sealer.open(ALERT, &sealed)?).into_owned(),
    }))
}
