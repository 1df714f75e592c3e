//! The notify tables: `feeds` (registered sending facilities), `adt_messages`
//! (dedup key, the ACK given, the sealed message until processed; claimed with
//! leases like the mail queues), `roster_entries` and `consents` (patient data
//! sealed as JSON and matched in memory), `encounters` (state per facility and
//! visit), `alerts` (the worklist; unique per subscriber, encounter and state
//! change) and `match_reviews` (near-miss matches a person checks).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Engine, Sealer, StoreError, flag, unique_as_duplicate};

const ADT_RAW: &str = "adt-raw";
const PATIENT: &str = "roster-patient";
const CONSENT: &str = "consent-patient";
pub(crate) const ALERT: &str = "alert-summary";
const ALERT_PATIENT: &str = "alert-patient";

/// A patient as rosters and consents store it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredPatient {
    /// (value, assigning authority) pairs.
    pub identifiers: Vec<(String, String)>,
    /// Family name.
    pub family: String,
    /// Given name.
    pub given: String,
    /// YYYYMMDD.
    pub birth_date: Option<String>,
    /// M, F, O, U.
    pub sex: Option<char>,
    /// ZIP.
    pub postal_code: Option<String>,
    /// Digits.
    pub phone: Option<String>,
}

/// A registered feed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FeedRow {
    /// Row id.
    pub id: i64,
    /// MSH-4.1 as registered (compared case-insensitively).
    pub facility: String,
    /// A display name.
    pub name: String,
    /// 42 CFR Part 2 program or behavioral health facility.
    pub sensitive: bool,
    /// The network prefixes its messages may come from, comma-separated
    /// (`notify::allow::Allowed`); `None`: any address.
    pub allow_from: Option<String>,
    /// The SHA-256 fingerprints of the client certificates its messages may
    /// come over, comma-separated lowercase hex (`notify::pins::CertPins`);
    /// `None`: any client.
    pub client_certs: Option<String>,
}

const FEED_COLUMNS: &str = "id, facility, name, sensitive, allow_from, client_certs";

fn feed(r: &AnyRow) -> Result<FeedRow, StoreError> {
    Ok(FeedRow {
        id: r.try_get("id")?,
        facility: r.try_get("facility")?,
        name: r.try_get("name")?,
        sensitive: flag(r.try_get("sensitive")?),
        allow_from: r.try_get("allow_from")?,
        client_certs: r.try_get("client_certs")?,
    })
}

/// Register a feed; `allow_from` as [`FeedRow::allow_from`],
/// `client_certs` as [`FeedRow::client_certs`].
pub async fn insert_feed(
    conn: &mut AnyConnection,
    facility: &str,
    name: &str,
    sensitive: bool,
    allow_from: Option<&str>,
    client_certs: Option<&str>,
    now: i64,
) -> Result<FeedRow, StoreError> {
    let sql = format!(
        "INSERT INTO feeds (facility, name, sensitive, allow_from, client_certs, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {FEED_COLUMNS}"
    );
    let r = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(facility.to_ascii_lowercase())
        .bind(name)
        .bind(i64::from(sensitive))
        .bind(allow_from)
        .bind(client_certs)
        .bind(now)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| unique_as_duplicate(e, format!("feed {facility}")))?;
    bump_generation(conn).await?;
    feed(&r)
}

/// A feed's list of who may send its messages, each a nullable text
/// column (`None`: anyone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedList {
    /// [`FeedRow::allow_from`] (`feed allow`).
    AllowFrom,
    /// [`FeedRow::client_certs`] (`feed pin`).
    ClientCerts,
}

/// Set one of a feed's lists; the feed as it now is, or `None` when no
/// feed has that facility.
pub async fn set_feed_list(
    conn: &mut AnyConnection,
    facility: &str,
    list: FeedList,
    value: Option<&str>,
) -> Result<Option<FeedRow>, StoreError> {
    let column = match list {
        FeedList::AllowFrom => "allow_from",
        FeedList::ClientCerts => "client_certs",
    };
    let sql =
        format!("UPDATE feeds SET {column} = $1 WHERE facility = $2 RETURNING {FEED_COLUMNS}");
    let Some(r) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .bind(facility.to_ascii_lowercase())
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    bump_generation(conn).await?;
    Ok(Some(feed(&r)?))
}

/// The feed for a sending facility.
pub async fn find_feed(
    conn: &mut AnyConnection,
    facility: &str,
) -> Result<Option<FeedRow>, StoreError> {
    let sql = format!("SELECT {FEED_COLUMNS} FROM feeds WHERE facility = $1");
    match sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(facility.to_ascii_lowercase())
        .fetch_optional(&mut *conn)
        .await?
    {
        Some(r) => Ok(Some(feed(&r)?)),
        None => Ok(None),
    }
}

/// Every feed.
pub async fn feeds(conn: &mut AnyConnection) -> Result<Vec<FeedRow>, StoreError> {
    let sql = format!("SELECT {FEED_COLUMNS} FROM feeds ORDER BY facility");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(feed)
        .collect()
}

/// The dedup key of an ADT message: MSH-3, MSH-4, MSH-10.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdtKey<'a> {
    /// MSH-3's identity: HD.1, else HD.2.
    pub app: &'a str,
    /// MSH-4.1.
    pub facility: &'a str,
    /// MSH-10.
    pub control_id: &'a str,
}

/// The ACK stored for a message already received.
pub async fn stored_ack(
    conn: &mut AnyConnection,
    key: &AdtKey<'_>,
) -> Result<Option<String>, StoreError> {
    Ok(stored_answer(conn, key).await?.map(|(ack, _)| ack))
}

/// The ACK stored for `key` and the digest of the message that took it
/// (None for one received before digests were kept).
pub async fn stored_answer(
    conn: &mut AnyConnection,
    key: &AdtKey<'_>,
) -> Result<Option<(String, Option<String>)>, StoreError> {
    match sqlx::query(
        "SELECT ack, content_digest FROM adt_messages WHERE sending_app = $1 AND sending_facility = $2 AND control_id = $3",
    )
    .bind(key.app)
    .bind(key.facility)
    .bind(key.control_id)
    .fetch_optional(&mut *conn)
    .await?
    {
        Some(r) => Ok(Some((r.try_get("ack")?, r.try_get("content_digest")?))),
        None => Ok(None),
    }
}

/// Commit a received message with the ACK about to be sent; `Duplicate` when
/// the key exists (a retry racing the first copy).
pub async fn insert_adt(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    key: &AdtKey<'_>,
    ack: &str,
    raw: Option<&[u8]>,
    now: i64,
) -> Result<i64, StoreError> {
    let sealed = raw.map(|r| sealer.seal(ADT_RAW, r)).transpose()?;
    let state = if raw.is_some() { "new" } else { "done" };
    Ok(sqlx::query(
        "INSERT INTO adt_messages (sending_app, sending_facility, control_id, received_at, ack, raw_sealed, state, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $4) RETURNING id",
    )
    .bind(key.app)
    .bind(key.facility)
    .bind(key.control_id)
    .bind(now)
    .bind(ack)
    .bind(sealed)
    .bind(state)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| unique_as_duplicate(e, format!("message {}", key.control_id)))?
    .try_get(0)?)
}

/// A received message to store (see [`insert_adts_if_new`]).
#[derive(Debug, Clone)]
pub struct NewAdt<'a> {
    /// MSH-3, MSH-4, MSH-10.
    pub key: AdtKey<'a>,
    /// The ACK about to be sent.
    pub ack: &'a str,
    /// The message.
    pub raw: &'a [u8],
    /// Its digest, which tells a retry from another message under the
    /// same key.
    pub digest: &'a str,
    /// When it arrived.
    pub now: i64,
}

/// Rows the dedup-key retention sweep reads per transaction.
pub const PURGE_BATCH: usize = 500;

/// One step of the dedup-key retention sweep (`Hisp::purge_adt_keys`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeStep {
    /// Rows deleted.
    pub deleted: u64,
    /// The last id read; the next step starts after it.
    pub last_id: i64,
    /// Whether rows received before the cut-off may remain after `last_id`:
    /// false once the step read a row received at or after it (ids grow
    /// with arrival) or read fewer than [`PURGE_BATCH`] rows.
    pub more: bool,
}

/// Of the next [`PURGE_BATCH`] received messages after id `after` (id
/// order, the primary key: no index on the time is needed, and none is
/// kept up by the intake), delete those processed (`done`) and received
/// before `before` that no open review names (confirming one reads the
/// message). Messages not yet processed, parked as corrupt, or under an
/// open review stay.
pub async fn purge_adt_keys_step(
    conn: &mut AnyConnection,
    before: i64,
    after: i64,
) -> Result<PurgeStep, StoreError> {
    const READ: &str =
        "SELECT id, received_at FROM adt_messages WHERE id > $1 ORDER BY id LIMIT 500";
    debug_assert!(READ.ends_with(&PURGE_BATCH.to_string()));
    let rows = sqlx::query(READ).bind(after).fetch_all(&mut *conn).await?;
    let Some(last) = rows.last() else {
        return Ok(PurgeStep {
            deleted: 0,
            last_id: after,
            more: false,
        });
    };
    let last_id: i64 = last.try_get(0)?;
    let mut reached = false;
    for r in &rows {
        let at: i64 = r.try_get(1)?;
        reached |= at >= before;
    }
    let deleted = sqlx::query(
        "DELETE FROM adt_messages WHERE id > $1 AND id <= $2 AND state = 'done' AND received_at < $3
           AND NOT EXISTS (SELECT 1 FROM match_reviews r WHERE r.adt_id = adt_messages.id AND r.status IN ('open', 'confirming'))",
    )
    .bind(after)
    .bind(last_id)
    .bind(before)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(PurgeStep {
        deleted,
        last_id,
        more: !reached && rows.len() == PURGE_BATCH,
    })
}

/// Rows per multi-row insert (7 parameters each, far under SQLite's limit).
const INSERT_CHUNK: usize = 200;

/// Store received messages in as few statements as possible, skipping keys
/// already taken (also a key repeated within `items`: its first copy wins).
/// Returns the keys (app, facility, control id) this call took.
pub async fn insert_adts_if_new(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    items: &[NewAdt<'_>],
) -> Result<std::collections::HashSet<(String, String, String)>, StoreError> {
    let mut taken = std::collections::HashSet::new();
    for chunk in items.chunks(INSERT_CHUNK) {
        let mut sql = String::from(
            "INSERT INTO adt_messages (sending_app, sending_facility, control_id, received_at, ack, raw_sealed, content_digest, state, next_attempt_at) VALUES ",
        );
        for n in 0..chunk.len() {
            let b = n * 7;
            if n > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, 'new', ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 4
            ));
        }
        sql.push_str(
            " ON CONFLICT (sending_app, sending_facility, control_id) DO NOTHING RETURNING sending_app, sending_facility, control_id",
        );
        // Only placeholders are formatted into the text; every value is bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for item in chunk {
            q = q
                .bind(item.key.app)
                .bind(item.key.facility)
                .bind(item.key.control_id)
                .bind(item.now)
                .bind(item.ack)
                .bind(sealer.seal(ADT_RAW, item.raw)?)
                .bind(item.digest);
        }
        for r in q.fetch_all(&mut *conn).await? {
            taken.insert((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
        }
    }
    Ok(taken)
}

/// Whether [`claim_adt`] at `now` would find a row: a read, as
/// `queue::any_due` is for the mail queues.
pub async fn adt_due(conn: &mut AnyConnection, now: i64) -> Result<bool, StoreError> {
    // The claim's own tests: a row held behind its feed's failing one is not
    // due, or every wake while a feed waits would take a write turn to
    // claim nothing.
    let sql = format!(
        "SELECT 1 FROM adt_messages a WHERE {} AND {} LIMIT 1",
        super::queue::due_condition("new", "$1"),
        adt_in_order("$1")
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?
        .is_some())
}

/// No earlier row of `a`'s feed is unprocessed and either leased or waiting
/// for a retry at `now` (see [`claim_adt_sql`]).
fn adt_in_order(now: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM adt_messages b
           WHERE b.state = 'new' AND b.sending_facility = a.sending_facility AND b.id < a.id
             AND (b.next_attempt_at > {now} OR b.lease_until > {now}))"
    )
}

/// A claimed ADT message.
#[derive(Debug, Clone)]
pub struct AdtRow {
    /// Row id.
    pub id: i64,
    /// The message.
    pub raw: Vec<u8>,
    /// Claims so far.
    pub attempts: i64,
    /// When the intake committed it (its ACK's time).
    pub received_at: i64,
}

/// The advisory lock key ADT claims take on PostgreSQL ("ADTC").
const ADT_CLAIM_LOCK: i64 = 0x4144_5443;

/// The ADT claim: rows due and not leased, in id order (the order the
/// intake committed them), each only when no earlier row of its feed
/// (MSH-4, `sending_facility`) is still unprocessed and either leased (in
/// another batch, on this node or another) or waiting for a retry. So a
/// feed's messages take effect in the order received: after a failure the
/// rows behind it wait for it (or for it to be given up) rather than run
/// ahead, an A11 before the A01 it cancels. Other feeds go on. Ordered by id
/// rather than due time: a row due again after a retry comes before the
/// rows of its feed that waited for it (by due time, a LIMIT could take
/// them without it). Both tests read only the indexes of migration 0019.
fn claim_adt_sql(engine: Engine) -> String {
    // Unqualified, its columns are the outer row's (`a`, or the UPDATE's).
    let free = super::queue::due_condition("new", "$3");
    let in_order = adt_in_order("$3");
    let set = "claimed_by = $1, lease_until = $2, attempts = attempts + 1";
    let columns = "id, raw_sealed, attempts, received_at";
    match engine {
        Engine::Postgres => format!(
            "WITH picked AS MATERIALIZED (
               SELECT a.id AS picked_id FROM adt_messages a WHERE {free} AND {in_order}
               ORDER BY a.id LIMIT $4 FOR UPDATE SKIP LOCKED)
             UPDATE adt_messages SET {set}
             WHERE {free} AND id IN (SELECT picked_id FROM picked)
             RETURNING {columns}"
        ),
        // One statement is one serialized write (see `queue::claim_sql`).
        Engine::Sqlite => format!(
            "UPDATE adt_messages SET {set}
             WHERE id IN (SELECT a.id FROM adt_messages a WHERE {free} AND {in_order}
                          ORDER BY a.id LIMIT $4 + 0)
             RETURNING {columns}"
        ),
    }
}

/// Claim due ADT messages, oldest first (in the order the intake committed
/// them: a merge before the admission that relies on it, an A01 before its
/// A03). `RETURNING` promises no order, and on PostgreSQL it does come back
/// shuffled, so the rows are sorted here.
pub async fn claim_adt(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    claim: super::queue::Claim<'_>,
) -> Result<Vec<AdtRow>, StoreError> {
    if claim.engine == Engine::Postgres {
        // One claimer at a time across nodes: a claim must see the leases
        // of the one before it (with SKIP LOCKED alone, a node would pass
        // over another's uncommitted pick and take the rows behind it).
        // Held until the caller's transaction ends.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(ADT_CLAIM_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(claim_adt_sql(claim.engine)))
        .bind(claim.node)
        .bind(claim.lease_until)
        .bind(claim.now)
        .bind(claim.limit)
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let read = || -> Result<AdtRow, StoreError> {
            let sealed: Option<Vec<u8>> = r.try_get("raw_sealed")?;
            Ok(AdtRow {
                id: r.try_get("id")?,
                raw: match sealed {
                    Some(s) => sealer.open(ADT_RAW, &s)?,
                    None => Vec::new(),
                },
                attempts: r.try_get("attempts")?,
                received_at: r.try_get("received_at")?,
            })
        };
        match read() {
            Ok(row) => out.push(row),
            Err(e) => super::queue::park(conn, "adt_messages", "result", r, &e).await?,
        }
    }
    out.sort_unstable_by_key(|r| r.id);
    Ok(out)
}

/// What a finished row keeps of its message: nothing, unless a review of
/// it is open (confirming sends from it). Alerts carry their own sealed
/// copy, and nothing else reads a processed message, so the row keeps only
/// the dedup key, the ACK and the result. Decided in the same statement that
/// finishes the row, so a review closed meanwhile is seen.
const KEEP_ONLY_FOR_OPEN_REVIEW: &str = "raw_sealed = CASE WHEN EXISTS (SELECT 1 FROM match_reviews r WHERE r.adt_id = adt_messages.id AND r.status IN ('open', 'confirming')) THEN raw_sealed ELSE NULL END";

/// Finish a claimed ADT row (see [`KEEP_ONLY_FOR_OPEN_REVIEW`]).
pub async fn finish_adt(
    conn: &mut AnyConnection,
    id: i64,
    node: &str,
    result: &str,
) -> Result<bool, StoreError> {
    let sql = format!(
        "UPDATE adt_messages SET state = 'done', result = $1, {KEEP_ONLY_FOR_OPEN_REVIEW}, claimed_by = NULL, lease_until = 0 WHERE id = $2 AND claimed_by = $3"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(result)
        .bind(id)
        .bind(node)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Finish claimed ADT rows with one result (see [`KEEP_ONLY_FOR_OPEN_REVIEW`]).
pub async fn finish_adts(
    conn: &mut AnyConnection,
    ids: &[i64],
    node: &str,
    result: &str,
) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    // The ids are integers formatted here, never text from outside.
    let sql = format!(
        "UPDATE adt_messages SET state = 'done', result = $1, {KEEP_ONLY_FOR_OPEN_REVIEW}, claimed_by = NULL, lease_until = 0 WHERE claimed_by = $2 AND id IN ({})",
        list.join(",")
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(result)
        .bind(node)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

/// Give claimed ADT rows back unrun, due at `now`, in one statement: rows
/// of a batch that ended early, rolled back with another row's failure, or
/// claimed by a worker that is stopping. The claim's attempt is taken back
/// (as `queue::unclaim` does): none of them failed, and counted, a batch
/// of rows failing one after another for one cause gave up the last ones
/// after a single try each.
pub async fn unclaim_adts(
    conn: &mut AnyConnection,
    ids: &[i64],
    node: &str,
    now: i64,
) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    // The ids are integers formatted here, never text from outside.
    let sql = format!(
        "UPDATE adt_messages SET claimed_by = NULL, lease_until = 0, next_attempt_at = $1,
                attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END
         WHERE claimed_by = $2 AND id IN ({})",
        list.join(",")
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(node)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

/// Give a claimed ADT row back to be tried again at `next`.
pub async fn release_adt(
    conn: &mut AnyConnection,
    id: i64,
    node: &str,
    next: i64,
    error: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE adt_messages SET claimed_by = NULL, lease_until = 0, next_attempt_at = $1, result = $2 WHERE id = $3 AND claimed_by = $4",
    )
    .bind(next)
    .bind(error)
    .bind(id)
    .bind(node)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A roster entry, unsealed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RosterEntry {
    /// Row id.
    pub id: i64,
    /// The subscriber's Direct address.
    pub owner: String,
    /// The patient.
    pub patient: StoredPatient,
    /// Care program.
    pub program: Option<String>,
    /// Enrolment end (YYYY-MM-DD).
    pub end_date: Option<String>,
    /// When it ages out unless re-submitted.
    pub expires_at: i64,
    /// When the patient was enrolled (the entry added; a renewal keeps it).
    /// A message received before it alerts no one through this entry: a
    /// late enrolment gets no retroactive alerts (STANDARDS.md §7).
    #[serde(skip)]
    pub created_at: i64,
}

/// What a roster row says about an entry.
#[derive(Debug, Clone, Copy)]
pub struct NewEntry<'a> {
    /// The patient.
    pub patient: &'a StoredPatient,
    /// The subscriber's program.
    pub program: Option<&'a str>,
    /// When the enrolment ends (`YYYY-MM-DD`).
    pub end_date: Option<&'a str>,
    /// When the entry stops matching.
    pub expires_at: i64,
}

/// Add a roster entry.
pub async fn insert_entry(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    owner: &str,
    e: &NewEntry<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    let json = serde_json::to_vec(e.patient).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let sealed = sealer.seal(PATIENT, &json)?;
    bump_generation(conn).await?;
    Ok(sqlx::query(
        "INSERT INTO roster_entries (owner, patient_sealed, program, end_date, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(owner)
    .bind(sealed)
    .bind(e.program)
    .bind(e.end_date)
    .bind(e.expires_at)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// Renew a roster entry in place with a re-submitted row (its id stays).
pub async fn renew_entry(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    id: i64,
    e: &NewEntry<'_>,
) -> Result<(), StoreError> {
    let json = serde_json::to_vec(e.patient).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let sealed = sealer.seal(PATIENT, &json)?;
    bump_generation(conn).await?;
    sqlx::query(
        "UPDATE roster_entries SET patient_sealed = $1, program = $2, end_date = $3, expires_at = $4
         WHERE id = $5",
    )
    .bind(sealed)
    .bind(e.program)
    .bind(e.end_date)
    .bind(e.expires_at)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// End `owner`'s live entries among `ids` now (a re-submission's older
/// duplicates, or what `--replace` leaves out): they match nothing from now
/// on and are archived like expired ones, so an open review or an unsent
/// digest alert that names one can still read it until the purge. The
/// number ended.
pub async fn end_entries(
    conn: &mut AnyConnection,
    owner: &str,
    ids: &[i64],
    now: i64,
) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    bump_generation(conn).await?;
    let mut ended = 0;
    for chunk in ids.chunks(500) {
        // Integer ids, written into the statement: no placeholder list to bind.
        let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
        let sql = format!(
            "UPDATE roster_entries SET expires_at = $1
             WHERE owner = $2 AND expires_at > $1 AND id IN ({})",
            list.join(",")
        );
        ended += sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(owner)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(ended)
}

/// What [`retire_subscriber`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retired {
    /// Roster entries moved to the tombstone (live ones still count as
    /// evidence of identity for consent until they age out).
    pub entries: u64,
    /// Sent alerts moved to the tombstone (the worklist's record).
    pub alerts: u64,
    /// Alerts filed and never sent, deleted: there is no one to send them to.
    pub unsent: u64,
}

/// Detach what a removed address held as a subscriber from its name, so a
/// name issued again starts with nothing of the old practice's: its roster
/// entries and sent alerts move to `tomb` (an owner no address can have, so
/// they alert, list and digest for no one), its unsent alerts are deleted
/// and its delivery mode is forgotten. Bumps the change counter.
pub async fn retire_subscriber(
    conn: &mut AnyConnection,
    owner: &str,
    tomb: &str,
) -> Result<Retired, StoreError> {
    bump_generation(conn).await?;
    let entries = sqlx::query("UPDATE roster_entries SET owner = $1 WHERE owner = $2")
        .bind(tomb)
        .bind(owner)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let unsent = sqlx::query("DELETE FROM alerts WHERE subscriber = $1 AND message_id IS NULL")
        .bind(owner)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let alerts = sqlx::query("UPDATE alerts SET subscriber = $1 WHERE subscriber = $2")
        .bind(tomb)
        .bind(owner)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM subscriptions WHERE subscriber = $1")
        .bind(owner)
        .execute(&mut *conn)
        .await?;
    Ok(Retired {
        entries,
        alerts,
        unsent,
    })
}

/// Replace a retired identifier (A40 merge) in every roster entry that has it.
pub async fn merge_identifier(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    retired: &(String, String),
    survivor: &(String, String),
    now: i64,
) -> Result<usize, StoreError> {
    let is_retired = |id: &(String, String)| same_id(id, retired);
    let mut changed = 0;
    for e in entries(conn, sealer, None, now).await? {
        if !e.patient.identifiers.iter().any(is_retired) {
            continue;
        }
        let mut p = e.patient.clone();
        p.identifiers.retain(|i| !is_retired(i));
        if !p.identifiers.contains(survivor) {
            p.identifiers.push(survivor.clone());
        }
        let update = "UPDATE roster_entries SET patient_sealed = $1 WHERE id = $2";
        reseal(conn, sealer, update, PATIENT, e.id, &p).await?;
        changed += 1;
    }
    if changed > 0 {
        bump_generation(conn).await?;
    }
    Ok(changed)
}

/// An A40 merge in the consent decisions: a decision recorded under the
/// retired identifier covers the survivor too (one person). The retired
/// identifier stays, so a late message still carrying it is covered as well.
/// An opt-in is carried only when `sure` (`process::kept_merge`): it
/// releases sensitive information, and a corrected number (A47) or a
/// survivor from another authority may be someone else's.
pub async fn merge_consent_identifier(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    retired: &(String, String),
    survivor: &(String, String),
    sure: bool,
) -> Result<usize, StoreError> {
    let mut changed = 0;
    for c in consents(conn, sealer).await? {
        if !sure && c.decision != "opt-out" {
            continue;
        }
        let ids = &c.patient.identifiers;
        if !ids.iter().any(|i| same_id(i, retired)) || ids.iter().any(|i| same_id(i, survivor)) {
            continue;
        }
        let mut p = c.patient.clone();
        p.identifiers.push(survivor.clone());
        let update =
            "UPDATE consents SET patient_sealed = $1, revision = revision + 1 WHERE id = $2";
        reseal(conn, sealer, update, CONSENT, c.id, &p).await?;
        changed += 1;
    }
    if changed > 0 {
        bump_generation(conn).await?;
    }
    Ok(changed)
}

/// Where the consent decisions stand: the latest one's id and the number
/// of rewrites (`revision`). Decisions are added or rewritten, never
/// deleted, so any change moves it.
pub async fn consent_stamp(conn: &mut AnyConnection) -> Result<(Option<i64>, i64), StoreError> {
    let row =
        sqlx::query("SELECT MAX(id), CAST(COALESCE(SUM(revision), 0) AS BIGINT) FROM consents")
            .fetch_one(&mut *conn)
            .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

const MERGE_PAIR: &str = "identifier-merge";

/// Identifiers [`merged_identifiers`] gathers at most: a person's numbers
/// over the years, not a chain through everyone.
pub const MERGED_MAX: usize = 64;

/// Keep an identifier merge (A40 and the like): `retired` and `survivor`
/// are one patient's, for a consent decision recorded later under either
/// ([`merged_identifiers`]). Nothing is kept when either has an empty part
/// or they are the same identifier; a pair kept already stays as it was.
pub async fn record_merge(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    retired: &(String, String),
    survivor: &(String, String),
    now: i64,
) -> Result<bool, StoreError> {
    if same_id(retired, survivor) {
        return Ok(false);
    }
    let (Some(r), Some(s)) = (index_key(sealer, retired)?, index_key(sealer, survivor)?) else {
        return Ok(false);
    };
    let json =
        serde_json::to_vec(&(retired, survivor)).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let added = sqlx::query(
        "INSERT INTO identifier_merges (retired_hash, survivor_hash, pair_sealed, merged_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT (retired_hash, survivor_hash) DO NOTHING",
    )
    .bind(r)
    .bind(s)
    .bind(sealer.seal(MERGE_PAIR, &json)?)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(added > 0)
}

/// `identifiers` and every identifier merged with one of them, in either
/// direction and through later merges (A40 L1 into L2, then L2 into L3:
/// L1, L2 and L3 are one patient's), the given ones first; at most
/// [`MERGED_MAX`].
pub async fn merged_identifiers(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    identifiers: &[(String, String)],
) -> Result<Vec<(String, String)>, StoreError> {
    let mut out: Vec<(String, String)> = identifiers.to_vec();
    let mut next = 0;
    while next < out.len() && out.len() < MERGED_MAX {
        let id = out[next].clone();
        next += 1;
        let Some(key) = index_key(sealer, &id)? else {
            continue;
        };
        let rows = sqlx::query(
            "SELECT pair_sealed FROM identifier_merges WHERE retired_hash = $1
             UNION ALL SELECT pair_sealed FROM identifier_merges WHERE survivor_hash = $1",
        )
        .bind(key)
        .fetch_all(&mut *conn)
        .await?;
        for row in rows {
            let sealed: Vec<u8> = row.try_get(0)?;
            let json = sealer.open(MERGE_PAIR, &sealed)?;
            let (a, b): ((String, String), (String, String)) =
                serde_json::from_slice(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            for x in [a, b] {
                if out.len() < MERGED_MAX && !out.iter().any(|o| same_id(o, &x)) {
                    out.push(x);
                }
            }
        }
    }
    Ok(out)
}

/// Seal `p` into row `id` with `update` (`… SET patient_sealed = $1 WHERE id = $2`).
async fn reseal(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    update: &'static str,
    purpose: &str,
    id: i64,
    p: &StoredPatient,
) -> Result<(), StoreError> {
    let json = serde_json::to_vec(p).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(update)
        .bind(sealer.seal(purpose, &json)?)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Delete roster entries (every owner's) that expired before `before`; the
/// number deleted. Expired entries match nothing, so the worker's snapshot
/// does not change. An entry an open review or an unsent (digest) alert
/// still names is kept until they are done: confirming the one and the
/// digest's opt-out check on the other read it.
pub async fn purge_expired_entries(
    conn: &mut AnyConnection,
    before: i64,
) -> Result<u64, StoreError> {
    let deleted = sqlx::query(
        "DELETE FROM roster_entries WHERE expires_at < $1
           AND id NOT IN (SELECT roster_entry_id FROM match_reviews WHERE status IN ('open', 'confirming'))
           AND id NOT IN (SELECT roster_entry_id FROM alerts WHERE message_id IS NULL AND roster_entry_id IS NOT NULL)",
    )
    .bind(before)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    // A judgment that two entries are different people goes with either.
    if deleted > 0 {
        sqlx::query(
            "DELETE FROM distinct_entries
              WHERE entry_id NOT IN (SELECT id FROM roster_entries)
                 OR other_id NOT IN (SELECT id FROM roster_entries)",
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(deleted)
}

/// The ids of `owners`' entries not yet expired (no patient is unsealed).
pub async fn current_entry_ids(
    conn: &mut AnyConnection,
    owners: &[String],
    now: i64,
) -> Result<std::collections::HashSet<i64>, StoreError> {
    let mut ids = std::collections::HashSet::new();
    for owner in owners {
        let rows =
            sqlx::query("SELECT id FROM roster_entries WHERE owner = $1 AND expires_at > $2")
                .bind(owner)
                .bind(now)
                .fetch_all(&mut *conn)
                .await?;
        for r in &rows {
            ids.insert(r.try_get::<i64, _>(0)?);
        }
    }
    Ok(ids)
}

/// Entries not yet expired (all owners, or one).
pub async fn entries(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    owner: Option<&str>,
    now: i64,
) -> Result<Vec<RosterEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, owner, patient_sealed, program, end_date, expires_at, created_at FROM roster_entries
         WHERE expires_at > $1 AND ($2 = '' OR owner = $2) ORDER BY id",
    )
    .bind(now)
    .bind(owner.unwrap_or(""))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| roster_entry(sealer, r)).collect()
}

/// A recorded consent decision.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConsentRow {
    /// Row id (later rows win).
    pub id: i64,
    /// `opt-out` or `opt-in`.
    pub decision: String,
    /// Who.
    pub patient: StoredPatient,
    /// When.
    pub created_at: i64,
}

/// Record a decision.
pub async fn insert_consent(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    decision: &str,
    patient: &StoredPatient,
    now: i64,
) -> Result<i64, StoreError> {
    let json = serde_json::to_vec(patient).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let sealed = sealer.seal(CONSENT, &json)?;
    bump_generation(conn).await?;
    Ok(sqlx::query(
        "INSERT INTO consents (decision, patient_sealed, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(decision)
    .bind(sealed)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

/// Every decision, oldest first.
pub async fn consents(
    conn: &mut AnyConnection,
    sealer: &Sealer,
) -> Result<Vec<ConsentRow>, StoreError> {
    let rows =
        sqlx::query("SELECT id, decision, patient_sealed, created_at FROM consents ORDER BY id")
            .fetch_all(&mut *conn)
            .await?;
    rows.iter()
        .map(|r| {
            let sealed: Vec<u8> = r.try_get("patient_sealed")?;
            let json = sealer.open(CONSENT, &sealed)?;
            Ok(ConsentRow {
                id: r.try_get("id")?,
                decision: r.try_get("decision")?,
                patient: serde_json::from_slice(&json)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// An encounter's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncounterRow {
    /// Row id.
    pub id: i64,
    /// `new`, `admitted`, `ed`, `discharged`, `cancelled`.
    pub state: String,
    /// Events already alerted, comma-separated.
    pub alerted: String,
    /// When (the event time, Unix seconds) it entered `state`; `None` when
    /// that event's time did not read.
    pub state_at: Option<i64>,
    /// When its last episode was closed: the time its state was last set
    /// before the next episode began (migration 0018; `None` before).
    pub closed_at: Option<i64>,
}

/// The encounter for (facility, visit), created as `new`.
pub async fn encounter(
    conn: &mut AnyConnection,
    facility: &str,
    visit: &str,
    keyed_by: Option<KeyedBy>,
    now: i64,
) -> Result<EncounterRow, StoreError> {
    // One statement for both cases: a conflict updates at most the kind of
    // number but still returns the row (and on PostgreSQL locks it for the
    // transaction). The kind is the first message's; an encounter from
    // before migration 0024 takes its next message's.
    let r = sqlx::query(
        "INSERT INTO encounters (facility, visit, state, updated_at, keyed_by) VALUES ($1, $2, 'new', $3, $4)
         ON CONFLICT (facility, visit) DO UPDATE SET keyed_by = COALESCE(encounters.keyed_by, excluded.keyed_by)
         RETURNING id, state, alerted, state_at, closed_at",
    )
    .bind(facility)
    .bind(visit)
    .bind(now)
    .bind(keyed_by.map(KeyedBy::as_str))
    .fetch_one(&mut *conn)
    .await?;
    encounter_row(&r)
}

/// Which number keys an encounter (`encounters.keyed_by`, migration 0024).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyedBy {
    /// PV1-19, the visit number.
    Visit,
    /// PID-18, the account number (the message gave no real PV1-19).
    Account,
    /// Neither: derived from the patient and admit time, or the control id.
    Derived,
}

impl KeyedBy {
    fn as_str(self) -> &'static str {
        match self {
            KeyedBy::Visit => "visit",
            KeyedBy::Account => "account",
            KeyedBy::Derived => "derived",
        }
    }
}

/// The encounter `from` of a facility is known as `to` from now on (what
/// was alerted about it goes with it), when `from` is that kind of number:
/// A45/A50 move a visit number (MRG-5 to PV1-19), A35/A49 an account number
/// (MRG-3 to PID-18). An encounter whose kind is not recorded (from before
/// migration 0024, and no message since) counts as keyed by its visit
/// number, as every renumber then took it. False when there is no such encounter, or `to` already has
/// one (two visits are not merged).
pub async fn renumber_encounter(
    conn: &mut AnyConnection,
    facility: &str,
    from: &str,
    to: &str,
    kind: KeyedBy,
    now: i64,
) -> Result<bool, StoreError> {
    let sql = match kind {
        KeyedBy::Visit => {
            "UPDATE encounters SET visit = $3, updated_at = $4
             WHERE facility = $1 AND visit = $2 AND (keyed_by IS NULL OR keyed_by = 'visit')
               AND NOT EXISTS (SELECT 1 FROM encounters e WHERE e.facility = $1 AND e.visit = $3)"
        }
        KeyedBy::Account => {
            "UPDATE encounters SET visit = $3, updated_at = $4
             WHERE facility = $1 AND visit = $2 AND keyed_by = 'account'
               AND NOT EXISTS (SELECT 1 FROM encounters e WHERE e.facility = $1 AND e.visit = $3)"
        }
        KeyedBy::Derived => return Ok(false),
    };
    Ok(sqlx::query(sql)
        .bind(facility)
        .bind(from)
        .bind(to)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        == 1)
}

fn encounter_row(r: &AnyRow) -> Result<EncounterRow, StoreError> {
    Ok(EncounterRow {
        id: r.try_get("id")?,
        state: r.try_get("state")?,
        alerted: r.try_get("alerted")?,
        state_at: r.try_get("state_at")?,
        closed_at: r.try_get("closed_at")?,
    })
}

/// The encounter for (facility, visit) as committed, without creating it
/// (a read ahead of the write transaction that runs it: see
/// [`encounter`]); `None` when there is none yet.
pub async fn find_encounter(
    conn: &mut AnyConnection,
    facility: &str,
    visit: &str,
) -> Result<Option<EncounterRow>, StoreError> {
    sqlx::query(
        "SELECT id, state, alerted, state_at, closed_at FROM encounters WHERE facility = $1 AND visit = $2",
    )
    .bind(facility)
    .bind(visit)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(encounter_row)
    .transpose()
}

/// An encounter by id.
pub async fn encounter_by_id(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<EncounterRow>, StoreError> {
    sqlx::query("SELECT id, state, alerted, state_at, closed_at FROM encounters WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(encounter_row)
        .transpose()
}

/// Save an encounter's new state `e`, provided it is still as `before` was
/// read; false when another worker changed it since (on PostgreSQL the
/// worker commits before sending alerts, which releases the row's lock, and
/// another node may process the same visit's next message meanwhile). The
/// caller then runs its message again on what is there now: alerts already
/// filed are found again by their change key, not doubled.
pub async fn save_encounter(
    conn: &mut AnyConnection,
    e: &EncounterRow,
    before: &EncounterRow,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "UPDATE encounters SET state = $1, alerted = $2, state_at = $3, updated_at = $4, closed_at = $9
         WHERE id = $5 AND state = $6 AND alerted = $7 AND COALESCE(state_at, -1) = $8",
    )
    .bind(&e.state)
    .bind(&e.alerted)
    .bind(e.state_at)
    .bind(now)
    .bind(e.id)
    .bind(&before.state)
    .bind(&before.alerted)
    .bind(before.state_at.unwrap_or(-1))
    .bind(e.closed_at)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// A new alert for the worklist.
#[derive(Debug, Clone)]
pub struct NewAlert<'a> {
    /// The subscriber's address.
    pub subscriber: &'a str,
    /// The encounter.
    pub encounter_id: i64,
    /// One alert per state change per subscriber: the change's key.
    pub change_key: &'a str,
    /// admit, ed, discharge, transfer, retraction.
    pub event: &'a str,
    /// The subscriber's program.
    pub program: Option<&'a str>,
    /// The facility.
    pub facility: &'a str,
    /// The alert text (PHI: sealed).
    pub summary: &'a str,
    /// The roster entry that matched (an `Option` as the column is: alerts
    /// from before migration 0006 have none).
    pub roster_entry_id: Option<i64>,
    /// When the event happened (EVN-2, as sent).
    pub event_time: &'a str,
    /// The patient as the ADT named them (sealed; kept until sent, for the
    /// digest's consent check).
    pub patient: Option<&'a StoredPatient>,
    /// PID-4's numbers (`notify::process::alternate_record`), kept beside
    /// `patient` and only for the digest's checks: an opt-out recorded under
    /// one withholds the alert, nothing is matched or released by them.
    pub withholding: Option<&'a StoredPatient>,
    /// The hospital's record of the patient (`notify::process::hospital_record`),
    /// kept beside `patient` for the digest's checks of the roster entries a
    /// person set apart for that record.
    pub record: Option<&'a [(String, String)]>,
}

/// An alert's patient as sealed in `alerts.patient_sealed`: the patient the
/// ADT named, with PID-4's numbers beside it. Alerts filed before the
/// numbers were kept have none (the field is left out when empty, so the
/// sealed text is then exactly a [`StoredPatient`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct SealedAlertPatient {
    #[serde(flatten)]
    patient: StoredPatient,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    withholding: Vec<(String, String)>,
    /// Left out for alerts filed before it was kept (session 36).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record: Option<Vec<(String, String)>>,
}

fn seal_alert_patient(
    sealer: &Sealer,
    patient: &StoredPatient,
    withholding: Option<&StoredPatient>,
    record: Option<&[(String, String)]>,
) -> Result<Vec<u8>, StoreError> {
    let sealed = SealedAlertPatient {
        patient: patient.clone(),
        withholding: withholding
            .map(|w| w.identifiers.clone())
            .unwrap_or_default(),
        record: record.map(<[_]>::to_vec),
    };
    let json = serde_json::to_vec(&sealed).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(sealer.seal(ALERT_PATIENT, &json)?)
}

/// The patient, the withholding record (`None` without PID-4 numbers) and
/// the hospital's record (`None` for an alert filed before it was kept) of
/// a sealed alert patient.
type OpenedAlertPatient = (
    StoredPatient,
    Option<StoredPatient>,
    Option<Vec<(String, String)>>,
);

fn open_alert_patient(sealer: &Sealer, sealed: &[u8]) -> Result<OpenedAlertPatient, StoreError> {
    // The parser's message could quote a number: not kept.
    let opened: SealedAlertPatient =
        serde_json::from_slice(&sealer.open(ALERT_PATIENT, sealed)?)
            .map_err(|_| StoreError::Corrupt("an alert's patient does not read".into()))?;
    let withholding = (!opened.withholding.is_empty()).then(|| StoredPatient {
        identifiers: opened.withholding,
        ..StoredPatient::default()
    });
    Ok((opened.patient, withholding, opened.record))
}

/// Add an alert; `None` when this change was alerted to this subscriber already.
pub async fn insert_alert(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    a: &NewAlert<'_>,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let sealed = sealer.seal(ALERT, a.summary.as_bytes())?;
    let patient = match a.patient {
        Some(p) => Some(seal_alert_patient(sealer, p, a.withholding, a.record)?),
        None => None,
    };
    let r = sqlx::query(
        "INSERT INTO alerts (subscriber, encounter_id, change_key, event, program, facility, summary_sealed, created_at, roster_entry_id, event_time, patient_sealed)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(a.subscriber)
    .bind(a.encounter_id)
    .bind(a.change_key)
    .bind(a.event)
    .bind(a.program)
    .bind(a.facility)
    .bind(sealed)
    .bind(now)
    .bind(a.roster_entry_id)
    .bind(a.event_time)
    .bind(patient)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match r {
        Some(r) => Some(r.try_get(0)?),
        None => None,
    })
}

/// An alert filed for this change but never sent (no Message-ID yet), and
/// not filed for a digest: one filed for a digest before its subscriber went
/// back to real time is the digest's to send (`digests_due`), so a retried
/// ADT and the digest never both send it.
pub async fn unsent_alert(
    conn: &mut AnyConnection,
    subscriber: &str,
    encounter_id: i64,
    change_key: &str,
) -> Result<Option<i64>, StoreError> {
    match sqlx::query(
        "SELECT id FROM alerts WHERE subscriber = $1 AND encounter_id = $2 AND change_key = $3
           AND message_id IS NULL AND patient_sealed IS NULL",
    )
    .bind(subscriber)
    .bind(encounter_id)
    .bind(change_key)
    .fetch_optional(&mut *conn)
    .await?
    {
        Some(r) => Ok(Some(r.try_get(0)?)),
        None => Ok(None),
    }
}

/// Whether this change of the encounter was filed as an alert for `subscriber`.
pub async fn alert_filed(
    conn: &mut AnyConnection,
    subscriber: &str,
    encounter_id: i64,
    change_key: &str,
) -> Result<bool, StoreError> {
    Ok(filed_alert(conn, subscriber, encounter_id, change_key)
        .await?
        .is_some())
}

/// Who was alerted about a visit: a subscriber, and the roster entry their
/// latest alert about it matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitRecipient {
    pub subscriber: String,
    pub roster_entry_id: Option<i64>,
}

/// Every subscriber alerted about `encounter_id` (any change, sent or
/// filed for a digest), each once, with their latest alert's entry; in the
/// order first alerted.
pub async fn visit_recipients(
    conn: &mut AnyConnection,
    encounter_id: i64,
) -> Result<Vec<VisitRecipient>, StoreError> {
    let rows = sqlx::query(
        "SELECT subscriber, roster_entry_id FROM alerts WHERE encounter_id = $1 ORDER BY id",
    )
    .bind(encounter_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut out: Vec<VisitRecipient> = Vec::new();
    for r in &rows {
        let got = VisitRecipient {
            subscriber: r.try_get(0)?,
            roster_entry_id: r.try_get(1)?,
        };
        match out.iter_mut().find(|v| v.subscriber == got.subscriber) {
            Some(slot) => *slot = got,
            None => out.push(got),
        }
    }
    Ok(out)
}

/// What a retraction names of the alert it takes back: the alert's event,
/// its event time and the Message-ID it went out with (`None` until sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiledAlert {
    pub event: String,
    pub event_time: Option<String>,
    pub message_id: Option<String>,
    /// Filed for a digest (it keeps its patient until sent).
    pub for_digest: bool,
}

/// The alert filed for `subscriber` about `encounter_id` under `change_key`.
pub async fn filed_alert(
    conn: &mut AnyConnection,
    subscriber: &str,
    encounter_id: i64,
    change_key: &str,
) -> Result<Option<FiledAlert>, StoreError> {
    let row = sqlx::query(
        "SELECT event, event_time, message_id, \
         CAST(CASE WHEN patient_sealed IS NULL THEN 0 ELSE 1 END AS BIGINT) FROM alerts \
         WHERE subscriber = $1 AND encounter_id = $2 AND change_key = $3",
    )
    .bind(subscriber)
    .bind(encounter_id)
    .bind(change_key)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some(r) => Some(FiledAlert {
            event: r.try_get(0)?,
            event_time: r.try_get(1)?,
            message_id: r.try_get(2)?,
            for_digest: r.try_get::<i64, _>(3)? == 1,
        }),
        None => None,
    })
}

/// Note the Message-ID an alert went out with; false when it had one
/// already (it was sent, by another node or an earlier try) or is gone.
pub async fn set_alert_message(
    conn: &mut AnyConnection,
    id: i64,
    message_id: &str,
) -> Result<bool, StoreError> {
    // Once sent, the patient it was about is no longer needed (the digest's
    // consent check reads only unsent alerts).
    Ok(sqlx::query(
        "UPDATE alerts SET message_id = $1, patient_sealed = NULL WHERE id = $2 AND message_id IS NULL",
    )
    .bind(message_id)
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0)
}

/// Two columns of a query over `alerts` (unaliased): `delivery`, where the
/// alert's Direct message to its subscriber stands (the tracking row's final
/// outcome, else its latest state: `queued`, `sent`, `processed`,
/// `dispatched`, `delivered`, `failed` or `expired`; NULL while unsent), and
/// `delivery_detail`, why it failed (status and cause) when it did. Each
/// reads tracking's unique (message_id, recipient) index by its message_id
/// prefix (the recipient is compared case-insensitively, so after it).
pub(crate) const DELIVERY_COLUMNS: &str = "\
    (SELECT COALESCE(t.final, t.state) FROM tracking t WHERE t.message_id = alerts.message_id \
       AND LOWER(t.recipient) = LOWER(alerts.subscriber) ORDER BY t.id DESC LIMIT 1) AS delivery, \
    (SELECT t.detail FROM tracking t WHERE t.message_id = alerts.message_id \
       AND LOWER(t.recipient) = LOWER(alerts.subscriber) AND t.final IN ('failed', 'expired') \
       ORDER BY t.id DESC LIMIT 1) AS delivery_detail";

/// An alert in the worklist.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AlertRow {
    /// Row id.
    pub id: i64,
    /// Subscriber.
    pub subscriber: String,
    /// Event.
    pub event: String,
    /// new, in-progress, completed.
    pub status: String,
    /// Program.
    pub program: Option<String>,
    /// Facility.
    pub facility: String,
    /// The Direct message it went out as.
    pub message_id: Option<String>,
    /// Where that message stands ([`DELIVERY_COLUMNS`]); `None` while unsent.
    pub delivery: Option<String>,
    /// Why it was not delivered, when it was not.
    pub delivery_detail: Option<String>,
    /// When.
    pub created_at: i64,
}

impl AlertRow {
    /// Its Direct message was not delivered: [`DELIVERY_COLUMNS`] reads
    /// `failed` or `expired` (the worklist's filter, `worklist::Filter::undelivered`,
    /// in SQL).
    pub fn undelivered(&self) -> bool {
        matches!(self.delivery.as_deref(), Some("failed" | "expired"))
    }
}

/// Every alert (only `subscriber`'s when given), newest first.
pub async fn alerts(
    conn: &mut AnyConnection,
    subscriber: Option<&str>,
) -> Result<Vec<AlertRow>, StoreError> {
    alerts_page(conn, subscriber, i64::MAX, i64::MAX).await
}

/// [`alerts`] with an id below `before`, at most `limit` of them (a page;
/// the limit is `$3 + 0` so SQLite does not compile the statement again for
/// each value, see `queue::claim_sql`).
pub async fn alerts_page(
    conn: &mut AnyConnection,
    subscriber: Option<&str>,
    before: i64,
    limit: i64,
) -> Result<Vec<AlertRow>, StoreError> {
    match subscriber {
        Some(s) => alerts_page_of(conn, Some(&[s.to_string()]), before, limit).await,
        None => alerts_page_of(conn, None, before, limit).await,
    }
}

/// [`alerts_page`] for the alerts of any of `subscribers` (every alert when
/// `None`; none for an empty list), read by the database's index rather
/// than filtered after reading everyone's.
pub async fn alerts_page_of(
    conn: &mut AnyConnection,
    subscribers: Option<&[String]>,
    before: i64,
    limit: i64,
) -> Result<Vec<AlertRow>, StoreError> {
    let within = match subscribers {
        Some([]) => return Ok(Vec::new()),
        Some(list) => format!(
            "subscriber IN ({}) AND ",
            (3..3 + list.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => String::new(),
    };
    let sql = format!(
        "SELECT id, subscriber, event, status, program, facility, message_id, created_at, {DELIVERY_COLUMNS}
         FROM alerts WHERE {within}id < $1 ORDER BY id DESC LIMIT ($2 + 0)"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(before)
        .bind(limit);
    for s in subscribers.unwrap_or_default() {
        q = q.bind(s.as_str());
    }
    q.fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(AlertRow {
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
            })
        })
        .collect()
}

/// Move an alert along the worklist (`new`, `in-progress`, `completed`).
///
/// With `expected`, the change holds only if the alert still has that
/// status (the one the caller's page showed): two care managers working one
/// worklist must not silently undo each other's change. It is a
/// [`StoreError::Conflict`] naming the status it has now, unless that is
/// already `status` (then nothing is lost, nothing is written, and it
/// returns false).
pub async fn set_alert_status(
    conn: &mut AnyConnection,
    id: i64,
    status: &str,
    expected: Option<&str>,
) -> Result<bool, StoreError> {
    let done = match expected {
        // The condition is in the UPDATE itself, so on PostgreSQL a change
        // committed meanwhile is seen (the row is re-read after its lock).
        Some(was) => {
            sqlx::query("UPDATE alerts SET status = $1 WHERE id = $2 AND status = $3")
                .bind(status)
                .bind(id)
                .bind(was)
                .execute(&mut *conn)
                .await?
        }
        None => {
            sqlx::query("UPDATE alerts SET status = $1 WHERE id = $2")
                .bind(status)
                .bind(id)
                .execute(&mut *conn)
                .await?
        }
    };
    if done.rows_affected() > 0 {
        return Ok(true);
    }
    let now: Option<String> = sqlx::query_scalar("SELECT status FROM alerts WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    match now {
        None => Err(StoreError::NotFound(format!("alert {id}"))),
        Some(now) if now == status => Ok(false),
        Some(now) => Err(StoreError::Conflict(format!(
            "alert {id} was changed to {now} after you loaded it; your change was not saved"
        ))),
    }
}

/// A near-miss match (STANDARDS §8: "a near-miss goes to a review queue
/// rather than out as an alert"), and what a person decided about it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Review {
    /// Row id.
    pub id: i64,
    /// The ADT message the patient came in.
    pub adt_id: i64,
    /// The roster entry it nearly matched.
    pub roster_entry_id: i64,
    /// The demographic score, in bits (two decimals).
    pub score: String,
    /// When it was queued.
    pub created_at: i64,
    /// The encounter, change key and event the alert would have been for;
    /// `None` on reviews queued before they were kept (those can only be
    /// rejected).
    pub encounter_id: Option<i64>,
    /// See `encounter_id`.
    pub change_key: Option<String>,
    /// See `encounter_id`.
    pub event: Option<String>,
    /// `open`, `confirmed` or `rejected`.
    pub status: String,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<i64>,
    /// A sure match held back because only near misses' opt-outs withheld
    /// it: those near misses' roster entries (see [`NewReview`]).
    pub withheld_by: Vec<i64>,
}

const REVIEW_COLUMNS: &str = "id, adt_id, roster_entry_id, score, created_at, encounter_id, change_key, event, status, decided_by, decided_at, withheld_by";

fn review_row(r: &AnyRow) -> Result<Review, StoreError> {
    Ok(Review {
        id: r.try_get("id")?,
        adt_id: r.try_get("adt_id")?,
        roster_entry_id: r.try_get("roster_entry_id")?,
        score: r.try_get("score")?,
        created_at: r.try_get("created_at")?,
        encounter_id: r.try_get("encounter_id")?,
        change_key: r.try_get("change_key")?,
        event: r.try_get("event")?,
        status: r.try_get("status")?,
        decided_by: r.try_get("decided_by")?,
        decided_at: r.try_get("decided_at")?,
        withheld_by: entry_ids(r.try_get::<Option<String>, _>("withheld_by")?.as_deref())?,
    })
}

/// Roster entry ids as `NewReview::withheld_by` keeps them.
fn entry_ids(list: Option<&str>) -> Result<Vec<i64>, StoreError> {
    list.unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| StoreError::Corrupt(format!("a review's withheld_by reads {s:?}")))
        })
        .collect()
}

/// A person's judgment that two roster entries are different people
/// (`set_apart`, migrations 0027 and 0028).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistinctPair {
    /// The lower entry id.
    pub entry: i64,
    /// The higher entry id.
    pub other: i64,
    /// The review whose confirmation recorded it.
    pub review_id: i64,
    /// The hospital's record it is about: the identifiers of the reviewed
    /// message's patient. `None` for a judgment recorded before 0028, about
    /// any record.
    pub record: Option<Vec<(String, String)>>,
}

const APART_RECORD: &str = "distinct-record";

/// Every judgment that two roster entries are different people, one per
/// review that recorded it.
pub async fn distinct_entries(
    conn: &mut AnyConnection,
    sealer: &Sealer,
) -> Result<Vec<DistinctPair>, StoreError> {
    let rows = sqlx::query(
        "SELECT entry_id, other_id, review_id, record_sealed FROM distinct_entries \
         ORDER BY entry_id, other_id, review_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let record =
                match r.try_get::<Option<Vec<u8>>, _>(3)? {
                    Some(sealed) => {
                        let json = sealer.open(APART_RECORD, &sealed)?;
                        // The parser's message could quote a number: not logged.
                        Some(serde_json::from_slice(&json).map_err(|_| {
                            StoreError::Corrupt("a pair's record does not read".into())
                        })?)
                    }
                    None => None,
                };
            Ok(DistinctPair {
                entry: r.try_get(0)?,
                other: r.try_get(1)?,
                review_id: r.try_get(2)?,
                record,
            })
        })
        .collect()
}

/// Delete one review's judgment that two roster entries are different
/// people (`DistinctPair`); how many rows went (0 or 1).
pub async fn unset_pair(conn: &mut AnyConnection, p: &DistinctPair) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "DELETE FROM distinct_entries WHERE entry_id = $1 AND other_id = $2 AND review_id = $3",
    )
    .bind(p.entry)
    .bind(p.other)
    .bind(p.review_id)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// Delete the pairs recorded deciding review `review_id` (its confirmation
/// given back, or the review rejected after one was cut short); how many.
pub async fn unset_apart(conn: &mut AnyConnection, review_id: i64) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("DELETE FROM distinct_entries WHERE review_id = $1")
            .bind(review_id)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    )
}

/// Delete the pairs of roster entry `entry` with each of `others`,
/// whichever review recorded them (`set_apart`): each deleted pair's other
/// entry and the review that recorded it (one row per review).
pub async fn unset_pairs(
    conn: &mut AnyConnection,
    entry: i64,
    others: &[i64],
) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut gone = Vec::new();
    for &other in others.iter().filter(|o| **o != entry) {
        let rows = sqlx::query(
            "DELETE FROM distinct_entries WHERE entry_id = $1 AND other_id = $2 RETURNING review_id",
        )
        .bind(entry.min(other))
        .bind(entry.max(other))
        .fetch_all(&mut *conn)
        .await?;
        let mut by: Vec<i64> = rows
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        by.sort_unstable();
        gone.extend(by.into_iter().map(|review| (other, review)));
    }
    Ok(gone)
}

/// The pairs roster entry `entry` is in: each other entry, and the review
/// that recorded the pair.
pub async fn pairs_of(conn: &mut AnyConnection, entry: i64) -> Result<Vec<(i64, i64)>, StoreError> {
    let rows = sqlx::query(
        "SELECT CASE WHEN entry_id = $1 THEN other_id ELSE entry_id END, review_id \
         FROM distinct_entries WHERE entry_id = $1 OR other_id = $1 ORDER BY 1, 2",
    )
    .bind(entry)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Who judged two roster entries to be different people, when, deciding
/// which review, about which of the hospital's records (`set_apart`).
pub struct Judgment<'a> {
    pub review_id: i64,
    pub actor: &'a str,
    pub at: i64,
    /// The identifiers of the reviewed message's patient (sealed when
    /// stored): the entries are apart for messages about this record only.
    pub record: &'a [(String, String)],
}

/// Record that roster entry `entry` and each of `others` are different
/// people, as `judged`; each review's judgment is its own row (one
/// recorded already stays as it was), and none is recorded with an entry
/// no longer kept.
pub async fn set_apart(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    entry: i64,
    others: &[i64],
    judged: &Judgment<'_>,
) -> Result<(), StoreError> {
    let json = serde_json::to_vec(judged.record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let sealed = sealer.seal(APART_RECORD, &json)?;
    for &other in others.iter().filter(|o| **o != entry) {
        // Only while both entries are kept (a purged one is gone for good).
        sqlx::query(
            "INSERT INTO distinct_entries
                    (entry_id, other_id, review_id, decided_by, decided_at, record_sealed)
             SELECT $1, $2, $3, $4, $5, $6
              WHERE (SELECT COUNT(*) FROM roster_entries WHERE id IN ($1, $2)) = 2
             ON CONFLICT (entry_id, other_id, review_id) DO NOTHING",
        )
        .bind(entry.min(other))
        .bind(entry.max(other))
        .bind(judged.review_id)
        .bind(judged.actor)
        .bind(judged.at)
        .bind(&sealed)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Reviews, newest first: the undecided ones (`open`, and `confirming` ones
/// whose confirmation is under way or was cut short), or every one.
pub async fn reviews(conn: &mut AnyConnection, all: bool) -> Result<Vec<Review>, StoreError> {
    let filter = if all {
        ""
    } else {
        "WHERE status IN ('open', 'confirming')"
    };
    let sql = format!("SELECT {REVIEW_COLUMNS} FROM match_reviews {filter} ORDER BY id DESC");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(review_row)
        .collect()
}

/// One review.
pub async fn review(conn: &mut AnyConnection, id: i64) -> Result<Option<Review>, StoreError> {
    let sql = format!("SELECT {REVIEW_COLUMNS} FROM match_reviews WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(review_row)
        .transpose()
}

/// A near miss to queue: the ADT row, the entry, the score, and the change
/// the alert would have been for.
#[derive(Debug, Clone, Copy)]
pub struct NewReview<'a> {
    /// The ADT row.
    pub adt_id: i64,
    /// The roster entry.
    pub entry_id: i64,
    /// The score, in bits.
    pub score: f64,
    /// The encounter.
    pub encounter_id: i64,
    /// The change key (`ed#1`, ...).
    pub change_key: &'a str,
    /// The event (`admit`, `ed`, ...).
    pub event: &'a str,
    /// For a sure match held back because only near misses' opt-outs
    /// withheld it, those near misses' entry ids, comma-separated.
    pub withheld_by: Option<&'a str>,
}

/// Queue a near-miss match for review.
pub async fn insert_review(
    conn: &mut AnyConnection,
    r: &NewReview<'_>,
    now: i64,
) -> Result<(), StoreError> {
    // Once per message, entry and change: a row run again (after a failure,
    // or on a fresh snapshot) finds its review already queued.
    sqlx::query(
        "INSERT INTO match_reviews (adt_id, roster_entry_id, score, created_at, encounter_id, change_key, event, withheld_by)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8
         WHERE NOT EXISTS (SELECT 1 FROM match_reviews WHERE adt_id = $1 AND roster_entry_id = $2 AND change_key = $6)",
    )
    .bind(r.adt_id)
    .bind(r.entry_id)
    .bind(format!("{:.2}", r.score))
    .bind(now)
    .bind(r.encounter_id)
    .bind(r.change_key)
    .bind(r.event)
    .bind(r.withheld_by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Move a review from `from` to `to`, recording who and when; false when it
/// was not in `from` (someone else moved it first), so exactly one caller
/// wins. A `confirming` review older than `stale_before` counts as `open`
/// again when `from` is `open` (its confirmation was cut short).
pub async fn move_review(
    conn: &mut AnyConnection,
    id: i64,
    from: &str,
    to: &str,
    actor: &str,
    now: i64,
    stale_before: i64,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "UPDATE match_reviews SET status = $1, decided_by = $2, decided_at = $3
         WHERE id = $4 AND (status = $5 OR ($5 = 'open' AND status = 'confirming' AND decided_at < $6))",
    )
    .bind(to)
    .bind(actor)
    .bind(now)
    .bind(id)
    .bind(from)
    .bind(stale_before)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// Forget a processed ADT message once no review of it is open (decided
/// reviews do not send from it); true when it was forgotten now.
pub async fn forget_adt_unless_reviewed(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "UPDATE adt_messages SET raw_sealed = NULL
         WHERE id = $1 AND state = 'done' AND raw_sealed IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM match_reviews WHERE adt_id = $1 AND status IN ('open', 'confirming'))",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// A stored ADT message by id; `None` when there is no such row or its
/// message was not kept (an opted-out patient's).
pub async fn adt_message(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    id: i64,
) -> Result<Option<Vec<u8>>, StoreError> {
    let row = sqlx::query("SELECT raw_sealed FROM adt_messages WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let sealed: Option<Vec<u8>> = match row {
        Some(r) => r.try_get("raw_sealed")?,
        None => None,
    };
    Ok(sealed.map(|s| sealer.open(ADT_RAW, &s)).transpose()?)
}

/// One roster entry by id, if it exists and has not expired.
pub async fn entry(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    id: i64,
    now: i64,
) -> Result<Option<RosterEntry>, StoreError> {
    let row = sqlx::query(
        "SELECT id, owner, patient_sealed, program, end_date, expires_at, created_at FROM roster_entries
         WHERE id = $1 AND expires_at > $2",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(|r| roster_entry(sealer, r)).transpose()
}

fn roster_entry(sealer: &Sealer, r: &AnyRow) -> Result<RosterEntry, StoreError> {
    let sealed: Vec<u8> = r.try_get("patient_sealed")?;
    let json = sealer.open(PATIENT, &sealed)?;
    Ok(RosterEntry {
        id: r.try_get("id")?,
        owner: r.try_get("owner")?,
        patient: serde_json::from_slice(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        program: r.try_get("program")?,
        end_date: r.try_get("end_date")?,
        expires_at: r.try_get("expires_at")?,
        created_at: r.try_get("created_at")?,
    })
}

/// The change counter of feeds, rosters and consents: whoever changes one of
/// them bumps it in the same transaction, and the notify worker reloads its
/// in-memory copy when it moves (across processes and nodes too).
pub async fn generation(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(
        sqlx::query("SELECT generation FROM notify_generation WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?,
    )
}

/// The change counter, read in a write transaction so that it cannot move
/// until that transaction ends: on PostgreSQL the row is locked (`FOR
/// UPDATE`: whoever bumps it next waits, and a bump committed first is
/// seen); on SQLite the write transaction (`BEGIN IMMEDIATE`) already shuts
/// out every other writer.
pub async fn generation_held(conn: &mut AnyConnection, engine: Engine) -> Result<i64, StoreError> {
    let sql = match engine {
        Engine::Postgres => "SELECT generation FROM notify_generation WHERE id = 1 FOR UPDATE",
        Engine::Sqlite => "SELECT generation FROM notify_generation WHERE id = 1",
    };
    Ok(sqlx::query(sql).fetch_one(&mut *conn).await?.try_get(0)?)
}

/// Bump the change counter (see [`generation`]).
pub async fn bump_generation(conn: &mut AnyConnection) -> Result<(), StoreError> {
    sqlx::query("UPDATE notify_generation SET generation = generation + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

const INDEX_ID: &str = "patient-index-id";
const INDEX_PATIENT: &str = "patient-index";

/// The blind-index key of an identifier (value + assigning authority, the
/// authority case-folded); `None` when either part is empty.
fn index_key(
    sealer: &Sealer,
    (value, authority): &(String, String),
) -> Result<Option<String>, StoreError> {
    let (value, authority) = (value.trim(), authority.trim().to_lowercase());
    if value.is_empty() || authority.is_empty() {
        return Ok(None);
    }
    let mut v = authority.into_bytes();
    v.push(0);
    v.extend_from_slice(value.as_bytes());
    Ok(Some(sealer.blind(INDEX_ID, &v)?))
}

/// The patient index's person for any of these identifiers (the first found).
pub async fn index_lookup(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    identifiers: &[(String, String)],
) -> Result<Option<StoredPatient>, StoreError> {
    for id in identifiers {
        let Some(key) = index_key(sealer, id)? else {
            continue;
        };
        let row = sqlx::query(
            "SELECT patient_sealed FROM patient_index WHERE id_hash = $1 AND disputed = 0",
        )
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(r) = row {
            let sealed: Vec<u8> = r.try_get(0)?;
            let json = sealer.open(INDEX_PATIENT, &sealed)?;
            return Ok(Some(
                serde_json::from_slice(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            ));
        }
    }
    Ok(None)
}

/// The patient index's persons filed under any of these identifiers, each
/// once, in the order their identifiers come.
pub async fn index_persons(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    identifiers: &[(String, String)],
) -> Result<Vec<StoredPatient>, StoreError> {
    let mut out: Vec<StoredPatient> = Vec::new();
    for id in identifiers {
        if let Some(p) = index_lookup(conn, sealer, std::slice::from_ref(id)).await?
            && !out.contains(&p)
        {
            out.push(p);
        }
    }
    Ok(out)
}

/// The patient index holds `id` as two people's (disputed).
pub async fn index_disputed(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    id: &(String, String),
) -> Result<bool, StoreError> {
    let Some(key) = index_key(sealer, id)? else {
        return Ok(false);
    };
    let row = sqlx::query("SELECT 1 FROM patient_index WHERE id_hash = $1 AND disputed <> 0")
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}

/// Unfile these identifiers: they find no one until filed again.
pub async fn index_forget(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    identifiers: &[(String, String)],
) -> Result<(), StoreError> {
    for id in identifiers {
        if let Some(key) = index_key(sealer, id)? {
            sqlx::query("DELETE FROM patient_index WHERE id_hash = $1")
                .bind(key)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// A40 in the patient index: the retired identifier's person is folded into
/// the survivor's and the retired identifier no longer finds anyone.
pub async fn index_merge(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    retired: &(String, String),
    survivor: &(String, String),
    now: i64,
) -> Result<bool, StoreError> {
    let Some(old) = index_lookup(conn, sealer, std::slice::from_ref(retired)).await? else {
        return Ok(false);
    };
    index_forget(conn, sealer, std::slice::from_ref(retired)).await?;
    let mut folded = old.clone();
    folded.identifiers.retain(|i| !same_id(i, retired));
    if !folded.identifiers.iter().any(|i| same_id(i, survivor)) {
        folded.identifiers.push(survivor.clone());
    }
    let person = match index_lookup(conn, sealer, std::slice::from_ref(survivor)).await? {
        Some(current) => merge_person(&folded, &current),
        None => folded,
    };
    index_write(conn, sealer, &person, now).await?;
    Ok(true)
}

/// An A40 (A34, A36, A47) for a patient who has opted out: the patient
/// index's people under the retired and the surviving identifier are
/// unfiled rather than folded into one (`index_merge` would file the
/// retired number's person, name and all, under a survivor the opt-out had
/// just unfiled: the opt-out's sweep finds people by identifier only). Their
/// identifiers are first added to the opt-outs that name either number, so
/// those keep holding for numbers only the index linked, as the sweep does.
pub async fn unfile_merged(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    retired: &(String, String),
    survivor: &(String, String),
) -> Result<(), StoreError> {
    let mut ids = vec![retired.clone(), survivor.clone()];
    for id in [retired, survivor] {
        if let Some(p) = index_lookup(conn, sealer, std::slice::from_ref(id)).await? {
            for i in p.identifiers {
                if !ids.iter().any(|x| same_id(x, &i)) {
                    ids.push(i);
                }
            }
        }
    }
    let mut changed = false;
    for c in consents(conn, sealer).await? {
        let have = &c.patient.identifiers;
        let names = |x: &(String, String)| have.iter().any(|h| same_id(h, x));
        if c.decision != "opt-out" || !(names(retired) || names(survivor)) {
            continue;
        }
        let missing: Vec<(String, String)> = ids.iter().filter(|i| !names(i)).cloned().collect();
        if missing.is_empty() {
            continue;
        }
        let mut p = c.patient.clone();
        p.identifiers.extend(missing);
        let update =
            "UPDATE consents SET patient_sealed = $1, revision = revision + 1 WHERE id = $2";
        reseal(conn, sealer, update, CONSENT, c.id, &p).await?;
        changed = true;
    }
    if changed {
        bump_generation(conn).await?;
    }
    index_forget(conn, sealer, &ids).await
}

/// The same identifier: value trimmed, authority trimmed and case-folded
/// (Unicode, as the matching index folds it: "KLINIKUM SÜD" is "Klinikum
/// Süd" here too).
pub fn same_id(a: &(String, String), b: &(String, String)) -> bool {
    a.0.trim() == b.0.trim() && a.1.trim().to_lowercase() == b.1.trim().to_lowercase()
}

/// `newer` over `older`: non-empty fields win, identifiers are the union.
pub fn merge_person(older: &StoredPatient, newer: &StoredPatient) -> StoredPatient {
    let pick = |n: &String, o: &String| {
        if n.trim().is_empty() {
            o.clone()
        } else {
            n.clone()
        }
    };
    let mut identifiers = newer.identifiers.clone();
    for id in &older.identifiers {
        if !identifiers.iter().any(|i| same_id(i, id)) {
            identifiers.push(id.clone());
        }
    }
    StoredPatient {
        identifiers,
        family: pick(&newer.family, &older.family),
        given: pick(&newer.given, &older.given),
        birth_date: newer
            .birth_date
            .clone()
            .or_else(|| older.birth_date.clone()),
        sex: newer.sex.or(older.sex),
        postal_code: newer
            .postal_code
            .clone()
            .or_else(|| older.postal_code.clone()),
        phone: newer.phone.clone().or_else(|| older.phone.clone()),
    }
}

/// Dispute identifiers: two people were registered under each, so it finds
/// no one and is not filed again (only an A40/A47 retiring it, or an
/// opt-out naming it, clears the mark). Nothing of either person is kept
/// under it.
pub async fn index_dispute(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    identifiers: &[(String, String)],
    now: i64,
) -> Result<(), StoreError> {
    for id in identifiers {
        let Some(key) = index_key(sealer, id)? else {
            continue;
        };
        sqlx::query(
            "INSERT INTO patient_index (id_hash, patient_sealed, updated_at, disputed) VALUES ($1, $2, $3, 1)
             ON CONFLICT (id_hash) DO UPDATE SET patient_sealed = excluded.patient_sealed, updated_at = excluded.updated_at, disputed = 1",
        )
        .bind(key)
        .bind(Vec::<u8>::new())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// File a person under each of its identifiers, replacing what they held
/// (a disputed identifier stays disputed).
pub async fn index_write(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    person: &StoredPatient,
    now: i64,
) -> Result<(), StoreError> {
    let json = serde_json::to_vec(person).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    for id in &person.identifiers {
        let Some(key) = index_key(sealer, id)? else {
            continue;
        };
        sqlx::query(
            "INSERT INTO patient_index (id_hash, patient_sealed, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (id_hash) DO UPDATE SET patient_sealed = excluded.patient_sealed, updated_at = excluded.updated_at
             WHERE patient_index.disputed = 0",
        )
        .bind(key)
        .bind(sealer.seal(INDEX_PATIENT, &json)?)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Set a subscriber's delivery mode.
pub async fn set_subscription_mode(
    conn: &mut AnyConnection,
    subscriber: &str,
    mode: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO subscriptions (subscriber, mode, last_digest_at, updated_at) VALUES ($1, $2, $3, $3)
         ON CONFLICT (subscriber) DO UPDATE SET mode = excluded.mode, updated_at = excluded.updated_at",
    )
    .bind(subscriber)
    .bind(mode)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    bump_generation(conn).await
}

/// A subscriber a digest is due to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestDue {
    /// The subscriber's Direct address.
    pub subscriber: String,
    /// When their last digest went out (the turn is taken against it).
    pub last_digest_at: i64,
    /// Still on the daily digest; `false` for one gone back to real time,
    /// whose digest carries only the alerts filed for it before.
    pub digest_mode: bool,
}

/// Subscribers on the daily digest whose last digest went out before `due`,
/// and subscribers gone back to real time who still have alerts filed for
/// their digest and never sent, whose last digest turn was taken before
/// `realtime_before` (those go at once, not at the next `digest_time`; a
/// turn taken since may still be sending). An alert filed for a digest is
/// one that keeps its patient until sent (`patient_sealed`, migration 0017).
/// A digest subscriber is also due when their last turn, taken before
/// `digest_before`, left alerts filed before it (or in its second) unsent:
/// the node that took it died (or gave up) before sending them all. The
/// loop passes a longer age than for real time: a long digest may still be
/// going out. (An alert filed as a turn was taken and committed after it
/// read the alerts goes this way too, some minutes later, not the next
/// day.)
/// A disabled address is due nothing: its alerts stay filed, unsent.
pub async fn digests_due(
    conn: &mut AnyConnection,
    due: i64,
    realtime_before: i64,
    digest_before: i64,
) -> Result<Vec<DigestDue>, StoreError> {
    sqlx::query(
        "SELECT subscriber, last_digest_at, mode FROM subscriptions s
          WHERE ((mode = 'digest' AND (last_digest_at < $1
                    OR (last_digest_at < $3 AND EXISTS
                         (SELECT 1 FROM alerts a WHERE a.subscriber = s.subscriber
                            AND a.message_id IS NULL AND a.patient_sealed IS NOT NULL
                            AND a.created_at <= s.last_digest_at))))
             OR (mode = 'realtime' AND last_digest_at < $2 AND subscriber IN
                   (SELECT subscriber FROM alerts WHERE message_id IS NULL AND patient_sealed IS NOT NULL)))
            AND subscriber IN (SELECT address FROM addresses WHERE enabled = 1)
          ORDER BY subscriber",
    )
    .bind(due)
    .bind(realtime_before)
    .bind(digest_before)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        let mode: String = r.try_get(2)?;
        Ok(DigestDue {
            subscriber: r.try_get(0)?,
            last_digest_at: r.try_get(1)?,
            digest_mode: mode == "digest",
        })
    })
    .collect()
}

/// Take the digest turn for a subscriber (exactly one node wins it), unless
/// their address is disabled: the turn is when a disable stops a digest (one
/// taken before it stops at its next read of the alerts, and gives the turn
/// back: `digest::send_claimed`).
pub async fn claim_digest(
    conn: &mut AnyConnection,
    subscriber: &str,
    seen: i64,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "UPDATE subscriptions SET last_digest_at = $1
          WHERE subscriber = $2 AND last_digest_at = $3
            AND subscriber IN (SELECT address FROM addresses WHERE enabled = 1)",
    )
    .bind(now)
    .bind(subscriber)
    .bind(seen)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// Give a digest turn taken at `taken` back (`last_digest_at` to `back`),
/// whether or not the address is still enabled: a digest cut short by a
/// disable or a failure goes on a later pass, or once enabled again.
pub async fn give_back_digest(
    conn: &mut AnyConnection,
    subscriber: &str,
    taken: i64,
    back: i64,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "UPDATE subscriptions SET last_digest_at = $1 WHERE subscriber = $2 AND last_digest_at = $3",
    )
    .bind(back)
    .bind(subscriber)
    .bind(taken)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// An alert filed for a digest and not yet sent.
#[derive(Debug, Clone)]
pub struct UnsentAlert {
    /// Row id.
    pub id: i64,
    /// The roster entry it matched (none before migration 0006).
    pub roster_entry_id: Option<i64>,
    /// Its text.
    pub summary: String,
    /// The patient as the ADT named them (none for alerts from before
    /// migration 0017).
    pub patient: Option<StoredPatient>,
    /// The ADT's PID-4 numbers, as a record that only withholds (none when
    /// it gave none, or for alerts filed before they were kept).
    pub withholding: Option<StoredPatient>,
    /// The hospital's record of the patient (none for alerts filed before
    /// it was kept: the pairs set apart for any record then count).
    pub record: Option<Vec<(String, String)>>,
}

/// Which unsent alerts `unsent_alerts` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsent<'a> {
    /// Every subscriber's (an opt-out's sweep).
    All,
    /// One subscriber's, however filed (a digest subscriber's digest).
    Of(&'a str),
    /// One subscriber's filed for a digest (`patient_sealed` kept): the
    /// digest of a subscriber gone back to real time. Their other unsent
    /// alerts are the real-time path's, sent again when their ADT is retried.
    FiledForDigest(&'a str),
}

/// The ids of the open reviews and of the alerts not yet sent: what an
/// opt-out's transaction compares with what its sweep judged, before it
/// opens any of them again.
pub async fn queued_ids(conn: &mut AnyConnection) -> Result<(Vec<i64>, Vec<i64>), StoreError> {
    let ids = |rows: Vec<sqlx::any::AnyRow>| -> Result<Vec<i64>, StoreError> {
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    };
    let reviews = sqlx::query("SELECT id FROM match_reviews WHERE status = 'open'")
        .fetch_all(&mut *conn)
        .await?;
    let alerts = sqlx::query("SELECT id FROM alerts WHERE message_id IS NULL")
        .fetch_all(&mut *conn)
        .await?;
    Ok((ids(reviews)?, ids(alerts)?))
}

/// Unsent alerts, oldest first.
pub async fn unsent_alerts(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    which: Unsent<'_>,
) -> Result<Vec<UnsentAlert>, StoreError> {
    let (subscriber, digest_only) = match which {
        Unsent::All => ("", false),
        Unsent::Of(s) => (s, false),
        Unsent::FiledForDigest(s) => (s, true),
    };
    let rows = sqlx::query(
        "SELECT id, roster_entry_id, summary_sealed, patient_sealed FROM alerts
         WHERE ($1 = '' OR subscriber = $1) AND message_id IS NULL
           AND ($2 = 0 OR patient_sealed IS NOT NULL) ORDER BY id",
    )
    .bind(subscriber)
    .bind(i64::from(digest_only))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let sealed: Vec<u8> = r.try_get(2)?;
            let text = sealer.open(ALERT, &sealed)?;
            let patient: Option<Vec<u8>> = r.try_get(3)?;
            let (patient, withholding, record) = match patient {
                Some(p) => {
                    let (patient, withholding, record) = open_alert_patient(sealer, &p)?;
                    (Some(patient), withholding, record)
                }
                None => (None, None, None),
            };
            Ok(UnsentAlert {
                id: r.try_get(0)?,
                roster_entry_id: r.try_get(1)?,
                summary: String::from_utf8_lossy(&text).into_owned(),
                patient,
                withholding,
                record,
            })
        })
        .collect()
}

/// Withdraw an alert never sent (its patient opted out since it was filed).
pub async fn delete_unsent_alert(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("DELETE FROM alerts WHERE id = $1 AND message_id IS NULL")
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            > 0,
    )
}

/// Whether the same event (kind, facility and event time) for the same roster
/// entry was alerted to this subscriber since `since` under another
/// encounter: the same event reported twice, e.g. re-registered under a new
/// visit number. A return visit has its own event time and is not identical.
/// An alert since retracted does not count: a visit cancelled under one
/// number and registered again under another is news under the new one.
pub async fn identical_alert_since(
    conn: &mut AnyConnection,
    a: &NewAlert<'_>,
    since: i64,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "SELECT 1 FROM alerts a WHERE a.subscriber = $1 AND a.roster_entry_id = $2 AND a.event = $3
         AND a.facility = $4 AND a.created_at >= $5 AND a.encounter_id <> $6 AND a.event_time = $7
         AND NOT EXISTS (SELECT 1 FROM alerts r WHERE r.subscriber = a.subscriber
                           AND r.encounter_id = a.encounter_id AND r.change_key = 'retract:' || a.change_key)
         LIMIT 1",
    )
    .bind(a.subscriber)
    .bind(a.roster_entry_id)
    .bind(a.event)
    .bind(a.facility)
    .bind(since)
    .bind(a.encounter_id)
    .bind(a.event_time)
    .fetch_optional(&mut *conn)
    .await?
    .is_some())
}

/// The subscribers on the daily digest.
pub async fn digest_subscribers(conn: &mut AnyConnection) -> Result<Vec<String>, StoreError> {
    sqlx::query("SELECT subscriber FROM subscriptions WHERE mode = 'digest' ORDER BY subscriber")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
}

/// Whether the patient index holds anyone.
pub async fn index_nonempty(conn: &mut AnyConnection) -> Result<bool, StoreError> {
    Ok(sqlx::query("SELECT 1 FROM patient_index LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::{
        ALERT_PATIENT, Sealer, StoredPatient, open_alert_patient, same_id, seal_alert_patient,
    };

    #[test]
    fn an_alert_patient_keeps_pid_4_beside_it_and_older_sealed_patients_still_open() {
        let sealer = Sealer::from_master(&[7u8; 32]).expect("derive");
        let patient = StoredPatient {
            identifiers: vec![("MRN2".into(), "NORTH".into())],
            family: "Roe".into(),
            given: "John".into(),
            birth_date: Some("19700304".into()),
            sex: Some('M'),
            postal_code: Some("06102".into()),
            phone: Some("8605550101".into()),
        };
        let alt = StoredPatient {
            identifiers: vec![("ALT5".into(), "NORTH".into())],
            ..StoredPatient::default()
        };
        let sealed = seal_alert_patient(&sealer, &patient, Some(&alt), None).expect("seal");
        let (p, w, r) = open_alert_patient(&sealer, &sealed).expect("open");
        assert_eq!((p, w, r), (patient.clone(), Some(alt.clone()), None));
        // The hospital's record beside it, kept as given.
        let record = vec![("MRN2".to_string(), "NORTH".to_string())];
        let sealed =
            seal_alert_patient(&sealer, &patient, Some(&alt), Some(&record)).expect("seal");
        let (p, w, r) = open_alert_patient(&sealer, &sealed).expect("open");
        assert_eq!((p, w, r), (patient.clone(), Some(alt), Some(record)));
        // Without PID-4 numbers or a record, the sealed text is a plain
        // StoredPatient.
        let sealed = seal_alert_patient(&sealer, &patient, None, None).expect("seal");
        let text = sealer.open(ALERT_PATIENT, &sealed).expect("open");
        let plain: StoredPatient = serde_json::from_slice(&text).expect("plain");
        assert_eq!(plain, patient);
        // As alerts filed before PID-4 was kept sealed their patient.
        let old = serde_json::to_vec(&patient).expect("json");
        let old = sealer.seal(ALERT_PATIENT, &old).expect("seal");
        assert_eq!(
            open_alert_patient(&sealer, &old).expect("open"),
            (patient, None, None)
        );
    }

    #[test]
    fn identifiers_are_the_same_as_the_matching_index_folds_them() {
        let id = |v: &str, a: &str| (v.to_string(), a.to_string());
        assert!(same_id(
            &id("M1", "KLINIKUM SÜD"),
            &id(" M1 ", "Klinikum Süd ")
        ));
        assert!(same_id(&id("M1", "NORTH"), &id("M1", "north")));
        assert!(!same_id(&id("M1", "NORTH"), &id("m1", "NORTH")));
        assert!(!same_id(&id("M1", "NORTH"), &id("M1", "SOUTH")));
    }
}
