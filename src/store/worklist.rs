//! The care manager's reads of the notify tables, always scoped to a set of
//! subscriber addresses (the viewer's own): the alert worklist with its
//! filters and counts per status, one alert with its sealed summary, a
//! patient's alerts for the encounter timeline, and the delivery mode of
//! each subscription. Writes stay in `notify.rs`.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::notify::{ALERT, DELIVERY_COLUMNS};
use super::{Sealer, StoreError};

/// Which alerts a worklist shows. `subscribers` is never empty in a query
/// (an empty set matches nothing and is answered without one).
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    /// The viewer's addresses: only their alerts.
    pub subscribers: &'a [String],
    /// `new`, `in-progress` or `completed`; `None` for every status.
    pub status: Option<&'a str>,
    /// `admit`, `ed`, `discharge`, `transfer`, `retraction`.
    pub event: Option<&'a str>,
    /// A feed's facility (as stored: lower case).
    pub facility: Option<&'a str>,
    /// The roster entry's program, as the alert recorded it.
    pub program: Option<&'a str>,
    /// Filed at or after (Unix seconds).
    pub since: Option<i64>,
    /// Filed before (Unix seconds).
    pub until: Option<i64>,
    /// Only alerts with a smaller id: the next page of a listing, whose last
    /// row had this id (a keyset cursor). The counts ignore it.
    pub before: Option<i64>,
    /// Only alerts whose Direct message was not delivered: its tracking row
    /// ended `failed` or `expired` (`undelivered` counts them).
    pub undelivered: bool,
}

/// An alert as the worklist and the timeline list it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Item {
    /// Row id.
    pub id: i64,
    /// The subscriber (one of the viewer's addresses).
    pub subscriber: String,
    /// admit, ed, discharge, transfer, retraction.
    pub event: String,
    /// new, in-progress, completed.
    pub status: String,
    /// The roster entry's program.
    pub program: Option<String>,
    /// The feed's facility.
    pub facility: String,
    /// EVN-2 as sent (HL7 TS), when recorded.
    pub event_time: Option<String>,
    /// The roster entry that matched (it may since have been renewed or expired).
    pub roster_entry_id: Option<i64>,
    /// The Direct message it went out as; `None` while it waits for the digest.
    pub message_id: Option<String>,
    /// Where that message stands (`notify::DELIVERY_COLUMNS`): `queued`,
    /// `sent`, `processed`, `dispatched`, `delivered`, `failed` or
    /// `expired`; `None` while unsent.
    pub delivery: Option<String>,
    /// Why it was not delivered (status and cause), when it was not.
    pub delivery_detail: Option<String>,
    /// When it was filed (Unix seconds).
    pub created_at: i64,
}

const ITEM_COLUMNS: &str = "id, subscriber, event, status, program, facility, event_time, roster_entry_id, message_id, created_at";

fn item(r: &AnyRow) -> Result<Item, StoreError> {
    Ok(Item {
        id: r.try_get("id")?,
        subscriber: r.try_get("subscriber")?,
        event: r.try_get("event")?,
        status: r.try_get("status")?,
        program: r.try_get("program")?,
        facility: r.try_get("facility")?,
        event_time: r.try_get("event_time")?,
        roster_entry_id: r.try_get("roster_entry_id")?,
        message_id: r.try_get("message_id")?,
        delivery: r.try_get("delivery")?,
        delivery_detail: r.try_get("delivery_detail")?,
        created_at: r.try_get("created_at")?,
    })
}

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The WHERE clause of a filter (placeholders only) and its values in order.
/// `with_status` is false for the counts, which cover every status and
/// every page.
fn clause<'a>(f: &Filter<'a>, with_status: bool) -> (String, Vec<Value<'a>>) {
    let mut values: Vec<Value<'a>> = f.subscribers.iter().map(|s| Value::Text(s)).collect();
    let mut sql = format!("subscriber IN ({})", placeholders(1, values.len()));
    let mut add = |column: &str, op: &str, v: Value<'a>| {
        values.push(v);
        sql.push_str(&format!(" AND {column} {op} ${}", values.len()));
    };
    if let Some(s) = f.status.filter(|_| with_status) {
        add("status", "=", Value::Text(s));
    }
    if let Some(e) = f.event {
        add("event", "=", Value::Text(e));
    }
    if let Some(fa) = f.facility {
        add("facility", "=", Value::Text(fa));
    }
    if let Some(p) = f.program {
        add("program", "=", Value::Text(p));
    }
    if let Some(t) = f.since {
        add("created_at", ">=", Value::Int(t));
    }
    if let Some(t) = f.until {
        add("created_at", "<", Value::Int(t));
    }
    if let Some(id) = f.before.filter(|_| with_status) {
        add("id", "<", Value::Int(id));
    }
    if f.undelivered {
        // The tracking rows that ended undelivered for these recipients,
        // read once by migration 0025's partial index on LOWER(recipient)
        // (a short list: most messages are delivered), each matched to its
        // alert by Message-ID and subscriber, as `DELIVERY_COLUMNS` reads
        // them; the viewer's alerts are checked against that list rather
        // than each probing tracking.
        let first = values.len() + 1;
        values.extend(f.subscribers.iter().map(|s| Value::Text(s)));
        let lowered = (first..first + f.subscribers.len())
            .map(|i| format!("LOWER(${i})"))
            .collect::<Vec<_>>()
            .join(", ");
        sql.push_str(&format!(
            " AND (message_id, LOWER(subscriber)) IN (SELECT t.message_id, LOWER(t.recipient) \
             FROM tracking t WHERE LOWER(t.recipient) IN ({lowered}) AND {UNDELIVERED})"
        ));
    }
    (sql, values)
}

/// The tracking rows of messages that were not delivered: the condition of
/// migration 0025's partial index `tracking_undelivered`, written as it is
/// there so that SQLite uses the index.
const UNDELIVERED: &str = "t.final IN ('failed', 'expired')";

/// A bound value of a built query.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Text(&'a str),
    Int(i64),
}

fn query<'q>(
    sql: String,
    values: &[Value<'q>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    // Only column names and placeholders are formatted into the text; every
    // value is bound.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for v in values {
        q = match *v {
            Value::Text(s) => q.bind(s.to_string()),
            Value::Int(i) => q.bind(i),
        };
    }
    q
}

/// Whether a read of alerts looks up where each one's Direct message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Read it (`Item::delivery`), for alerts that are shown with it.
    Read,
    /// Leave it `None`: the patient's timeline scans thousands of alerts and
    /// shows none of it.
    Skip,
}

/// The delivery columns of a read, or NULLs in their place.
fn delivery_columns(d: Delivery) -> &'static str {
    match d {
        Delivery::Read => DELIVERY_COLUMNS,
        Delivery::Skip => "CAST(NULL AS TEXT) AS delivery, CAST(NULL AS TEXT) AS delivery_detail",
    }
}

/// The filtered alerts with their summaries unsealed, newest (highest id,
/// i.e. last filed) first, at most `limit` rows. Ordered by id rather than
/// `created_at` so that `Filter::before` pages through them exactly, even if
/// the clock was ever set back.
pub async fn alerts(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    f: &Filter<'_>,
    limit: i64,
    delivery: Delivery,
) -> Result<Vec<(Item, String)>, StoreError> {
    if f.subscribers.is_empty() {
        return Ok(Vec::new());
    }
    let (cond, values) = clause(f, true);
    let sql = format!(
        "SELECT {ITEM_COLUMNS}, {}, summary_sealed FROM alerts WHERE {cond} ORDER BY id DESC LIMIT {limit}",
        delivery_columns(delivery)
    );
    let rows = query(sql, &values).fetch_all(&mut *conn).await?;
    rows.iter().map(|r| with_summary(sealer, r)).collect()
}

fn with_summary(sealer: &Sealer, r: &AnyRow) -> Result<(Item, String), StoreError> {
    let sealed: Vec<u8> = r.try_get("summary_sealed")?;
    let text = String::from_utf8_lossy(&sealer.open(ALERT, &sealed)?).into_owned();
    Ok((item(r)?, text))
}

/// How many alerts of the filter (status aside) are in each status.
pub async fn counts(
    conn: &mut AnyConnection,
    f: &Filter<'_>,
) -> Result<Vec<(String, i64)>, StoreError> {
    if f.subscribers.is_empty() {
        return Ok(Vec::new());
    }
    let (cond, values) = clause(f, false);
    let sql = format!(
        "SELECT status, COUNT(*) AS n FROM alerts WHERE {cond} GROUP BY status ORDER BY status"
    );
    query(sql, &values)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
        .collect()
}

/// How many alerts of the filter (its status tab included, every page)
/// were not delivered: on the default tab of new alerts, one completed drops
/// out of the count.
pub async fn undelivered(conn: &mut AnyConnection, f: &Filter<'_>) -> Result<i64, StoreError> {
    if f.subscribers.is_empty() {
        return Ok(0);
    }
    let f = Filter {
        undelivered: true,
        before: None,
        ..f.clone()
    };
    let (cond, values) = clause(&f, true);
    let sql = format!("SELECT COUNT(*) AS n FROM alerts WHERE {cond}");
    Ok(query(sql, &values)
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?)
}

/// The facilities and programs the subscribers' alerts name (for the filter
/// choices), each sorted and distinct.
pub async fn choices(
    conn: &mut AnyConnection,
    subscribers: &[String],
) -> Result<(Vec<String>, Vec<String>), StoreError> {
    if subscribers.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let values: Vec<Value<'_>> = subscribers.iter().map(|s| Value::Text(s)).collect();
    let within = format!("subscriber IN ({})", placeholders(1, values.len()));
    let distinct = |column: &str| {
        format!(
            "SELECT DISTINCT {column} AS v FROM alerts WHERE {within} AND {column} IS NOT NULL ORDER BY v"
        )
    };
    let mut out = Vec::with_capacity(2);
    for column in ["facility", "program"] {
        let rows = query(distinct(column), &values)
            .fetch_all(&mut *conn)
            .await?;
        out.push(
            rows.iter()
                .map(|r| Ok(r.try_get::<String, _>("v")?))
                .collect::<Result<Vec<_>, StoreError>>()?,
        );
    }
    let programs = out.pop().unwrap_or_default();
    let facilities = out.pop().unwrap_or_default();
    Ok((facilities, programs))
}

/// One alert of these subscribers with its summary unsealed; `None` when it
/// does not exist or belongs to someone else.
pub async fn alert(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    subscribers: &[String],
    id: i64,
) -> Result<Option<(Item, String)>, StoreError> {
    if subscribers.is_empty() {
        return Ok(None);
    }
    let mut values: Vec<Value<'_>> = vec![Value::Int(id)];
    values.extend(subscribers.iter().map(|s| Value::Text(s)));
    let sql = format!(
        "SELECT {ITEM_COLUMNS}, {DELIVERY_COLUMNS}, summary_sealed FROM alerts WHERE id = $1 AND subscriber IN ({})",
        placeholders(2, subscribers.len())
    );
    match query(sql, &values).fetch_optional(&mut *conn).await? {
        Some(r) => Ok(Some(with_summary(sealer, &r)?)),
        None => Ok(None),
    }
}

/// Each subscriber's delivery mode (`realtime` or `digest`); a subscriber
/// with no row is absent (and gets alerts in real time).
pub async fn modes(
    conn: &mut AnyConnection,
    subscribers: &[String],
) -> Result<Vec<(String, String)>, StoreError> {
    if subscribers.is_empty() {
        return Ok(Vec::new());
    }
    let values: Vec<Value<'_>> = subscribers.iter().map(|s| Value::Text(s)).collect();
    let sql = format!(
        "SELECT subscriber, mode FROM subscriptions WHERE subscriber IN ({}) ORDER BY subscriber",
        placeholders(1, subscribers.len())
    );
    query(sql, &values)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("subscriber")?, r.try_get("mode")?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clause_binds_every_value_and_formats_only_placeholders() {
        let subs = vec!["a@d.test".to_string(), "b@d.test".to_string()];
        let f = Filter {
            subscribers: &subs,
            status: Some("new"),
            event: Some("ed'; DROP TABLE alerts; --"),
            facility: None,
            program: Some("Transitions"),
            since: Some(10),
            until: Some(20),
            before: Some(99),
            undelivered: false,
        };
        let (sql, values) = clause(&f, true);
        assert_eq!(
            sql,
            "subscriber IN ($1, $2) AND status = $3 AND event = $4 AND program = $5 \
             AND created_at >= $6 AND created_at < $7 AND id < $8"
        );
        assert_eq!(values.len(), 8);
        assert!(!sql.contains("DROP"));
        let (sql, values) = clause(&f, false);
        assert!(!sql.contains("status") && !sql.contains("id <"), "{sql}");
        assert_eq!(values.len(), 6);
        let f = Filter {
            undelivered: true,
            ..f
        };
        let (sql, values) = clause(&f, false);
        assert!(
            sql.ends_with(
                "AND (message_id, LOWER(subscriber)) IN (SELECT t.message_id, LOWER(t.recipient) \
                 FROM tracking t WHERE LOWER(t.recipient) IN (LOWER($7), LOWER($8)) \
                 AND t.final IN ('failed', 'expired'))"
            ),
            "{sql}"
        );
        assert_eq!(values.len(), 8);
    }
}
