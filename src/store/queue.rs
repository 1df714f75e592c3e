//! The work queues: `inbound_queue` (raw messages the MX or a local sender
//! committed, waiting for the agent's `incoming`), `outbound_queue` (one row per
//! message and recipient, waiting for SMTP delivery) and `quarantine` (what
//! failed its checks). Workers claim rows with a lease: one statement that marks
//! `claimed_by` and `lease_until`, on PostgreSQL with `FOR UPDATE SKIP LOCKED`,
//! so several nodes never hold the same row at once; a node that dies only
//! delays its rows until the lease runs out. Message bytes are sealed.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Engine, Sealer, StoreError};

/// Seal context of raw inbound messages.
const INBOUND_RAW: &str = "inbound-raw";
/// Seal context of outbound messages.
const OUTBOUND_RAW: &str = "outbound-raw";
/// Seal context of quarantined messages.
const QUARANTINE_RAW: &str = "quarantine-raw";

/// A message to enqueue for the inbound worker.
#[derive(Debug, Clone)]
pub struct NewInbound<'a> {
    /// `mx` (received over SMTP) or `local` (from a sender on this HISP).
    pub source: &'a str,
    /// The peer's address, or `local`.
    pub peer: &'a str,
    /// The envelope sender (empty for the null sender).
    pub mail_from: &'a str,
    /// The envelope recipients (all local addresses).
    pub rcpts: &'a [String],
    /// The bytes as received.
    pub raw: &'a [u8],
}

/// A claimed inbound row, unsealed.
#[derive(Debug, Clone)]
pub struct InboundRow {
    /// Row id.
    pub id: i64,
    /// When it was committed.
    pub received_at: i64,
    /// `mx` or `local`.
    pub source: String,
    /// The envelope sender.
    pub mail_from: String,
    /// The envelope recipients.
    pub rcpts: Vec<String>,
    /// The message.
    pub raw: Vec<u8>,
    /// How many times it has been claimed (this claim included).
    pub attempts: i64,
}

/// Commit a received message to the inbound queue; returns its id.
pub async fn insert_inbound(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    m: &NewInbound<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    insert_inbound_row(conn, sealer, m, now, None).await
}

/// Commit a message to the inbound queue already claimed (attempt 1) by
/// `claim`'s node until its lease ends, as if claimed the moment it was
/// committed: for a worker in this process that is handed the row in
/// memory. Returns the row as such a claim would.
pub async fn insert_inbound_claimed(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    m: &NewInbound<'_>,
    claim: Claim<'_>,
) -> Result<InboundRow, StoreError> {
    let id = insert_inbound_row(conn, sealer, m, claim.now, Some(claim)).await?;
    Ok(InboundRow {
        id,
        received_at: claim.now,
        source: m.source.to_string(),
        mail_from: m.mail_from.to_string(),
        rcpts: m.rcpts.to_vec(),
        raw: m.raw.to_vec(),
        attempts: 1,
    })
}

async fn insert_inbound_row(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    m: &NewInbound<'_>,
    now: i64,
    claim: Option<Claim<'_>>,
) -> Result<i64, StoreError> {
    let sealed = sealer.seal(INBOUND_RAW, m.raw)?;
    Ok(sqlx::query(
        "INSERT INTO inbound_queue (received_at, source, peer, mail_from, rcpts, raw_sealed, size, next_attempt_at,
                                    claimed_by, lease_until, attempts)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $1, $8, $9, $10) RETURNING id",
    )
    .bind(now)
    .bind(m.source)
    .bind(m.peer)
    .bind(m.mail_from)
    .bind(m.rcpts.join("\n"))
    .bind(sealed)
    .bind(i64::try_from(m.raw.len()).unwrap_or(i64::MAX))
    .bind(claim.map(|c| c.node))
    .bind(claim.map_or(0, |c| c.lease_until))
    .bind(i64::from(claim.is_some()))
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// The claim statement for `table`: rows in `state` that are due and not leased.
/// Candidates are taken in the order of the queue's index (state, due time,
/// lease; migration 0010), so the pick reads index entries up to `limit` and
/// no row it does not take.
///
/// On PostgreSQL the candidates are picked once in a MATERIALIZED CTE with
/// `FOR UPDATE SKIP LOCKED`: as a plain `IN (subquery)` the planner may run the
/// LIMITed subquery again per row and claim more than `limit`; the outer
/// statement checks again that each row is still due and free.
///
/// On SQLite one statement is one serialized write, so the pick cannot go
/// stale before the update: the update selects by id alone. (With the due
/// condition repeated there, SQLite walked the index over every due row and
/// read each one's lease, past its message's overflow pages.) Its limit is
/// `$4 + 0`, not `$4`: SQLite plans around a bare bound LIMIT's value, which
/// marks the statement to be compiled again each time the limit is bound,
/// that is at every claim (seen as `sqlite3Reprepare` in profiles).
fn claim_sql(engine: Engine, table: &str, state: &str, columns: &str) -> String {
    let due = due_condition(state, "$3");
    let set = "claimed_by = $1, lease_until = $2, attempts = attempts + 1";
    let order = "ORDER BY next_attempt_at, lease_until, id";
    match engine {
        Engine::Postgres => format!(
            "WITH picked AS MATERIALIZED (
               SELECT id AS picked_id FROM {table} WHERE {due}
               {order} LIMIT $4 FOR UPDATE SKIP LOCKED)
             UPDATE {table} SET {set}
             WHERE {due} AND id IN (SELECT picked_id FROM picked)
             RETURNING {columns}"
        ),
        Engine::Sqlite => format!(
            "UPDATE {table} SET {set}
             WHERE id IN (SELECT id FROM {table} WHERE {due} {order} LIMIT $4 + 0)
             RETURNING {columns}"
        ),
    }
}

/// Rows of a queue in `state` that are due at `now` (a bind placeholder) and
/// not leased: what a claim takes.
pub(super) fn due_condition(state: &str, now: &str) -> String {
    format!("state = '{state}' AND next_attempt_at <= {now} AND lease_until <= {now}")
}

/// Whether `table` holds a row in `state` that a claim at `now` would take.
/// A read, on any connection: the queue workers ask it before a claim, so
/// finding nothing costs no turn of SQLite's one write lock (after every
/// batch of work a worker looks again, and usually finds nothing). A row
/// committed just after the answer is no loss: its writer wakes the worker.
/// `table` and `state` are constants of this crate, never input.
pub(super) async fn any_due(
    conn: &mut AnyConnection,
    table: &'static str,
    state: &'static str,
    now: i64,
) -> Result<bool, StoreError> {
    let sql = format!(
        "SELECT 1 FROM {table} WHERE {} LIMIT 1",
        due_condition(state, "$1")
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?
        .is_some())
}

/// Whether [`claim_inbound`] at `now` would find a row (see [`any_due`]).
pub async fn inbound_due(conn: &mut AnyConnection, now: i64) -> Result<bool, StoreError> {
    any_due(conn, "inbound_queue", "new", now).await
}

/// Whether [`claim_outbound`] at `now` would find a row (see [`any_due`]).
pub async fn outbound_due(conn: &mut AnyConnection, now: i64) -> Result<bool, StoreError> {
    any_due(conn, "outbound_queue", "queued", now).await
}

/// Who claims, until when, at what time, and how many rows at most.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// The engine (the statement differs).
    pub engine: Engine,
    /// The claiming node.
    pub node: &'a str,
    /// The lease's end.
    pub lease_until: i64,
    /// Now.
    pub now: i64,
    /// At most this many rows.
    pub limit: i64,
}

/// Claim due rows of `table` in `state`, returning `columns`.
pub(super) async fn claim_rows(
    conn: &mut AnyConnection,
    c: Claim<'_>,
    table: &str,
    state: &str,
    columns: &str,
) -> Result<Vec<AnyRow>, StoreError> {
    let sql = claim_sql(c.engine, table, state, columns);
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(c.node)
        .bind(c.lease_until)
        .bind(c.now)
        .bind(c.limit)
        .fetch_all(&mut *conn)
        .await?)
}

/// Claim due inbound rows.
pub async fn claim_inbound(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    claim: Claim<'_>,
) -> Result<Vec<InboundRow>, StoreError> {
    let columns = "id, received_at, source, mail_from, rcpts, raw_sealed, attempts";
    let rows = claim_rows(conn, claim, "inbound_queue", "new", columns).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        match inbound_from_row(r, sealer) {
            Ok(row) => out.push(row),
            Err(e) => park(conn, "inbound_queue", "result", r, &e).await?,
        }
    }
    Ok(out)
}

/// Set aside a claimed row that cannot be read (its sealed message does not
/// open, a column is corrupt): state `corrupt` with the reason, kept for a
/// person to look at, so it does not fail every later claim of its batch.
pub(super) async fn park(
    conn: &mut AnyConnection,
    table: &'static str,
    reason_column: &'static str,
    r: &AnyRow,
    e: &StoreError,
) -> Result<(), StoreError> {
    let id: i64 = r.try_get("id")?;
    tracing::error!(table, row = id, error = %e, "unreadable queue row set aside as corrupt");
    // `table` and `reason_column` are constants from this module, never input.
    let sql = format!(
        "UPDATE {table} SET state = 'corrupt', {reason_column} = $1, claimed_by = NULL, lease_until = 0 WHERE id = $2"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(format!("unreadable: {e}"))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn inbound_from_row(r: &AnyRow, sealer: &Sealer) -> Result<InboundRow, StoreError> {
    let rcpts: String = r.try_get("rcpts")?;
    let sealed: Vec<u8> = r.try_get("raw_sealed")?;
    Ok(InboundRow {
        id: r.try_get("id")?,
        received_at: r.try_get("received_at")?,
        source: r.try_get("source")?,
        mail_from: r.try_get("mail_from")?,
        rcpts: rcpts
            .split('\n')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        raw: sealer.open(INBOUND_RAW, &sealed)?,
        attempts: r.try_get("attempts")?,
    })
}

/// Finish an inbound row (`done` or `quarantined`), only while `node` holds it.
/// False when the lease was lost (another node took over).
pub async fn finish_inbound(
    conn: &mut AnyConnection,
    id: i64,
    node: &str,
    state: &str,
    result: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE inbound_queue SET state = $1, result = $2, done_at = $3, claimed_by = NULL, lease_until = 0
         WHERE id = $4 AND claimed_by = $5 AND state = 'new'",
    )
    .bind(state)
    .bind(result)
    .bind(now)
    .bind(id)
    .bind(node)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Give a claimed row back to be tried again at `next_attempt_at`.
pub async fn release(
    conn: &mut AnyConnection,
    table: Table,
    id: i64,
    node: &str,
    next_attempt_at: i64,
    error: &str,
) -> Result<(), StoreError> {
    let column = match table {
        Table::Inbound => "result",
        Table::Outbound => "last_error",
    };
    let sql = format!(
        "UPDATE {} SET claimed_by = NULL, lease_until = 0, next_attempt_at = $1, {column} = $2
         WHERE id = $3 AND claimed_by = $4",
        table.name()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(next_attempt_at)
        .bind(error)
        .bind(id)
        .bind(node)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Give back rows this node claimed but never started (a worker's lookahead at
/// shutdown, or rows that waited too long for a free slot): as if never claimed,
/// so the claim does not count as an attempt.
pub async fn unclaim(
    conn: &mut AnyConnection,
    table: Table,
    ids: &[i64],
    node: &str,
) -> Result<(), StoreError> {
    let sql = format!(
        "UPDATE {} SET claimed_by = NULL, lease_until = 0, attempts = attempts - 1
         WHERE id = $1 AND claimed_by = $2",
        table.name()
    );
    for id in ids {
        sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id)
            .bind(node)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Drop every lease (one-node SQLite start-up: whoever held them is gone),
/// ADT messages' included: a leased ADT row holds its feed's later messages
/// back (`notify::claim_adt`), so before, a restart delayed the whole feed
/// by the lease's 5 minutes.
pub async fn release_all(conn: &mut AnyConnection) -> Result<(), StoreError> {
    for table in [
        Table::Inbound.name(),
        Table::Outbound.name(),
        "adt_messages",
    ] {
        let sql = format!(
            "UPDATE {table} SET claimed_by = NULL, lease_until = 0 WHERE claimed_by IS NOT NULL"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Which queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `inbound_queue`.
    Inbound,
    /// `outbound_queue`.
    Outbound,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Inbound => "inbound_queue",
            Table::Outbound => "outbound_queue",
        }
    }
}

/// What kind of message an outbound row carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundKind {
    /// A user's message: tracked, bounced on failure.
    Message,
    /// An MDN we send: never bounced (no notice answers a notice).
    Mdn,
}

impl OutboundKind {
    fn as_str(self) -> &'static str {
        match self {
            OutboundKind::Message => "message",
            OutboundKind::Mdn => "mdn",
        }
    }
}

/// A message to enqueue for SMTP delivery.
#[derive(Debug, Clone)]
pub struct NewOutbound<'a> {
    /// What it is.
    pub kind: OutboundKind,
    /// The Message-ID of what the sender sent (tracking key).
    pub message_id: &'a str,
    /// The envelope sender.
    pub mail_from: &'a str,
    /// The one recipient.
    pub rcpt: &'a str,
    /// The recipient's domain.
    pub domain: &'a str,
    /// The encrypted message.
    pub raw: &'a [u8],
    /// When delivery gives up.
    pub expires_at: i64,
}

/// A claimed outbound row, unsealed.
#[derive(Debug, Clone)]
pub struct OutboundRow {
    /// Row id.
    pub id: i64,
    /// `message` or `mdn`.
    pub kind: OutboundKind,
    /// Tracking key.
    pub message_id: String,
    /// Envelope sender.
    pub mail_from: String,
    /// The recipient.
    pub rcpt: String,
    /// Its domain.
    pub domain: String,
    /// The bytes to send.
    pub raw: Vec<u8>,
    /// Claims so far, this one included.
    pub attempts: i64,
    /// When delivery gives up.
    pub expires_at: i64,
    /// When it was queued.
    pub created_at: i64,
}

/// Queue a message for one recipient; returns the row id.
pub async fn insert_outbound(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    m: &NewOutbound<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    let sealed = sealer.seal(OUTBOUND_RAW, m.raw)?;
    Ok(sqlx::query(
        "INSERT INTO outbound_queue (kind, message_id, mail_from, rcpt, domain, raw_sealed, size, next_attempt_at, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8) RETURNING id",
    )
    .bind(m.kind.as_str())
    .bind(m.message_id)
    .bind(m.mail_from)
    .bind(m.rcpt)
    .bind(m.domain)
    .bind(sealed)
    .bind(i64::try_from(m.raw.len()).unwrap_or(i64::MAX))
    .bind(now)
    .bind(m.expires_at)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// Claim up to `limit` due outbound rows.
pub async fn claim_outbound(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    claim: Claim<'_>,
) -> Result<Vec<OutboundRow>, StoreError> {
    let columns = "id, kind, message_id, mail_from, rcpt, domain, raw_sealed, attempts, expires_at, created_at";
    let rows = claim_rows(conn, claim, "outbound_queue", "queued", columns).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        match outbound_from_row(r, sealer) {
            Ok(row) => out.push(row),
            Err(e) => park(conn, "outbound_queue", "last_error", r, &e).await?,
        }
    }
    Ok(out)
}

fn outbound_from_row(r: &AnyRow, sealer: &Sealer) -> Result<OutboundRow, StoreError> {
    let kind: String = r.try_get("kind")?;
    let sealed: Vec<u8> = r.try_get("raw_sealed")?;
    Ok(OutboundRow {
        id: r.try_get("id")?,
        kind: match kind.as_str() {
            "mdn" => OutboundKind::Mdn,
            _ => OutboundKind::Message,
        },
        message_id: r.try_get("message_id")?,
        mail_from: r.try_get("mail_from")?,
        rcpt: r.try_get("rcpt")?,
        domain: r.try_get("domain")?,
        raw: sealer.open(OUTBOUND_RAW, &sealed)?,
        attempts: r.try_get("attempts")?,
        expires_at: r.try_get("expires_at")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Finish an outbound row (`sent`, `failed` or `expired`) while `node` holds it.
pub async fn finish_outbound(
    conn: &mut AnyConnection,
    id: i64,
    node: &str,
    state: &str,
    detail: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE outbound_queue SET state = $1, last_error = $2, done_at = $3, claimed_by = NULL, lease_until = 0
         WHERE id = $4 AND claimed_by = $5 AND state = 'queued'",
    )
    .bind(state)
    .bind(detail)
    .bind(now)
    .bind(id)
    .bind(node)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Rows per queue and state, for `/metrics` and the dashboard.
pub async fn depth(conn: &mut AnyConnection) -> Result<Vec<(String, String, i64)>, StoreError> {
    let mut out = Vec::new();
    for t in [Table::Inbound, Table::Outbound] {
        let sql = format!(
            "SELECT state, COUNT(*) AS n FROM {} GROUP BY state ORDER BY state",
            t.name()
        );
        for r in sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await?
        {
            out.push((t.name().to_string(), r.try_get("state")?, r.try_get("n")?));
        }
    }
    Ok(out)
}

/// A quarantined message, as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuarantineRow {
    /// Row id.
    pub id: i64,
    /// The inbound row it came from.
    pub inbound_id: i64,
    /// When it was received.
    pub received_at: i64,
    /// Envelope sender.
    pub mail_from: String,
    /// Envelope recipients, newline-separated.
    pub rcpts: String,
    /// Why it was held.
    pub reason: String,
}

/// Hold a message that failed its checks.
pub async fn quarantine(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    row: &InboundRow,
    reason: &str,
    now: i64,
) -> Result<i64, StoreError> {
    let sealed = sealer.seal(QUARANTINE_RAW, &row.raw)?;
    Ok(sqlx::query(
        "INSERT INTO quarantine (inbound_id, received_at, mail_from, rcpts, reason, raw_sealed, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(row.id)
    .bind(row.received_at)
    .bind(&row.mail_from)
    .bind(row.rcpts.join("\n"))
    .bind(reason)
    .bind(sealed)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// Every quarantined message, newest first.
pub async fn quarantined(conn: &mut AnyConnection) -> Result<Vec<QuarantineRow>, StoreError> {
    sqlx::query(
        "SELECT id, inbound_id, received_at, mail_from, rcpts, reason FROM quarantine ORDER BY id DESC",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(QuarantineRow {
            id: r.try_get("id")?,
            inbound_id: r.try_get("inbound_id")?,
            received_at: r.try_get("received_at")?,
            mail_from: r.try_get("mail_from")?,
            rcpts: r.try_get("rcpts")?,
            reason: r.try_get("reason")?,
        })
    })
    .collect()
}
