//! The care manager's API: the alert worklist (list, read — audited —, move
//! along), roster upload with its row-level report and roster listing
//! (audited), and the consent registry (list — audited — and record: a care
//! manager records only opt-outs, for patients on the rosters of their own
//! enabled addresses). A
//! caller sees the subscribers it acts for; only an admin key sees all.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Admin, Caller, Care};
use super::extract::{self, ApiJson, ApiPath, ApiQuery};
use super::paging;
use super::problem::{Kind, Problem};
use crate::direct::DirectAddress;
use crate::notify::roster::{Imported, MAX_ROSTER_BYTES};
use crate::store::api as st;
use crate::store::notify::{self, AlertRow, StoredPatient};
use crate::store::users::Role;
use crate::web::{AppState, urlencode};

/// A worklist state.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum AlertStatus {
    /// Not looked at.
    New,
    /// Someone is on it.
    InProgress,
    /// Done.
    Completed,
}

impl AlertStatus {
    fn as_str(self) -> &'static str {
        match self {
            AlertStatus::New => "new",
            AlertStatus::InProgress => "in-progress",
            AlertStatus::Completed => "completed",
        }
    }
}

/// Which alerts by where their Direct message stands.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryFilter {
    /// Not delivered: `delivery` is `failed` or `expired`.
    Undelivered,
}

/// Worklist filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// Only this state.
    #[param(inline)]
    pub status: Option<AlertStatus>,
    /// Only this event (admit, ed, discharge, transfer, retraction).
    pub event: Option<String>,
    /// Only this subscriber.
    pub subscriber: Option<String>,
    /// `undelivered`: only alerts whose Direct message was not delivered
    /// (refused, failed or not confirmed in time).
    #[param(inline)]
    pub delivery: Option<DeliveryFilter>,
    /// At most this many alerts, 1 to 1000 (100 when left out).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<i64>,
    /// Only alerts older than this one (an alert id). The `Link` header of a
    /// full page gives the next page's URL.
    #[param(minimum = 1, example = 1234)]
    pub before: Option<i64>,
}

/// An alert in the worklist.
#[derive(Debug, Serialize, ToSchema)]
pub struct Alert {
    /// Its id.
    pub id: i64,
    /// The subscriber's address.
    pub subscriber: String,
    /// admit, ed, discharge, transfer, retraction.
    pub event: String,
    /// new, in-progress or completed.
    pub status: String,
    /// The subscriber's program.
    pub program: Option<String>,
    /// The sending facility.
    pub facility: String,
    /// The Direct message it went out as.
    pub message_id: Option<String>,
    /// Where that message stands: queued, sent, processed, dispatched,
    /// delivered, failed, or expired (no confirmation by the deadline, or the
    /// queue gave up: `delivery_detail` says which); null while unsent.
    pub delivery: Option<String>,
    /// Why it was not delivered (status and cause, e.g. `5.4.71 no processed
    /// MDN arrived in time`), when it was not; else null.
    pub delivery_detail: Option<String>,
    /// When it was filed (Unix seconds).
    pub created_at: i64,
}

impl From<AlertRow> for Alert {
    fn from(a: AlertRow) -> Self {
        Self {
            id: a.id,
            subscriber: a.subscriber,
            event: a.event,
            status: a.status,
            program: a.program,
            facility: a.facility,
            message_id: a.message_id,
            delivery: a.delivery,
            delivery_detail: a.delivery_detail,
            created_at: a.created_at,
        }
    }
}

/// A query filter's value, trimmed; a blank one is no filter.
fn given(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

fn may_see(caller: &Caller, subscriber: &str) -> bool {
    DirectAddress::parse(subscriber).is_ok_and(|s| caller.may_care(&s))
}

/// The alert worklist, newest first, a page at a time.
#[utoipa::path(
    get, path = "/api/v1/alerts", tag = "care", operation_id = "list_alerts", params(AlertQuery),
    responses((status = 200, description = "A page of alerts, newest first", body = [Alert],
        headers(("Link" = String, description = "When the page is full: `<URL>; rel=\"next\"`, the next (older) page (RFC 8288)"))))
)]
pub async fn alerts(
    State(state): State<AppState>,
    Care(caller): Care,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> Result<Response, Problem> {
    let limit = paging::limit(q.limit, q.before, "an alert id")?;
    // A filter left blank (`?subscriber=`, as a form sends an empty field)
    // is no filter, as for rosters; it is not "the subscriber named ''".
    let wanted_subscriber = given(q.subscriber.as_deref());
    let wanted_event = given(q.event.as_deref());
    let wanted = |a: &AlertRow| {
        may_see(&caller, &a.subscriber)
            && q.status.is_none_or(|s| a.status == s.as_str())
            && wanted_event.is_none_or(|e| a.event.eq_ignore_ascii_case(e))
            && wanted_subscriber.is_none_or(|s| a.subscriber.eq_ignore_ascii_case(s))
            && q.delivery
                .is_none_or(|DeliveryFilter::Undelivered| a.undelivered())
    };
    // Only the caller's subscribers' rows are read (the one asked for, when
    // it is theirs), by the database; an admin key reads every one's.
    let scope: Option<Vec<String>> = match wanted_subscriber {
        Some(s) => Some(
            DirectAddress::parse(s)
                .ok()
                .filter(|a| caller.may_care(a))
                .map(|a| vec![a.to_string()])
                .unwrap_or_default(),
        ),
        None if caller.every_subscriber => None,
        None => Some(caller.addresses.iter().map(ToString::to_string).collect()),
    };
    // Read newest first in chunks until the page is full or the worklist
    // ends: the status and event filters are applied per row, so one chunk
    // may hold fewer matches than the page needs.
    let mut conn = state.hisp.conn().await?;
    let mut out: Vec<Alert> = Vec::new();
    let mut cursor = q.before.unwrap_or(i64::MAX);
    'read: loop {
        let rows = notify::alerts_page_of(&mut conn, scope.as_deref(), cursor, paging::MAX).await?;
        let Some(last) = rows.last() else {
            break;
        };
        cursor = last.id;
        for a in rows {
            if wanted(&a) {
                out.push(a.into());
                if out.len() == usize::try_from(limit).unwrap_or(usize::MAX) {
                    break 'read;
                }
            }
        }
    }
    let mut query = Vec::new();
    if let Some(s) = q.status {
        query.push(format!("status={}", s.as_str()));
    }
    if let Some(e) = wanted_event {
        query.push(format!("event={}", urlencode(e)));
    }
    if let Some(s) = wanted_subscriber {
        query.push(format!("subscriber={}", urlencode(s)));
    }
    if q.delivery.is_some() {
        query.push("delivery=undelivered".to_string());
    }
    Ok(paging::respond(
        out,
        limit,
        |a| a.id,
        "/api/v1/alerts",
        query,
    ))
}

/// An alert with its text.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertDetail {
    /// The worklist row.
    #[serde(flatten)]
    pub alert: Alert,
    /// When the event happened (EVN-2, as sent).
    pub event_time: Option<String>,
    /// The encounter it belongs to.
    pub encounter_id: i64,
    /// The alert text.
    pub summary: String,
}

async fn load_alert(
    state: &AppState,
    caller: &Caller,
    conn: &mut sqlx::AnyConnection,
    id: i64,
) -> Result<st::AlertDetail, Problem> {
    match st::alert(conn, state.hisp.store.sealer(), id).await? {
        Some(a) if may_see(caller, &a.subscriber) => Ok(a),
        _ => Err(Problem::not_found("alert")),
    }
}

fn detail(a: st::AlertDetail) -> AlertDetail {
    AlertDetail {
        alert: Alert {
            id: a.id,
            subscriber: a.subscriber,
            event: a.event,
            status: a.status,
            program: a.program,
            facility: a.facility,
            message_id: a.message_id,
            delivery: a.delivery,
            delivery_detail: a.delivery_detail,
            created_at: a.created_at,
        },
        event_time: a.event_time,
        encounter_id: a.encounter_id,
        summary: a.summary,
    }
}

/// Read an alert (audited as a view of PHI).
#[utoipa::path(
    get, path = "/api/v1/alerts/{id}", tag = "care", operation_id = "get_alert",
    params(("id" = i64, Path, description = "The alert's id", example = 1)),
    responses((status = 200, description = "The alert", body = AlertDetail))
)]
pub async fn alert(
    State(state): State<AppState>,
    Care(caller): Care,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AlertDetail>, Problem> {
    // Read on a pooled connection: on SQLite `begin` takes the single
    // writer, which MLLP intake's commits wait for. The audit row is a
    // short transaction after.
    let a = {
        let mut conn = state.hisp.conn().await?;
        load_alert(&state, &caller, &mut conn, id).await?
    };
    let mut tx = state.hisp.store.begin().await?;
    state
        .hisp
        .audit(
            &mut tx,
            &caller.actor,
            "alert.view",
            &format!("alert {id}"),
            &a.subscriber,
        )
        .await?;
    tx.commit().await?;
    Ok(Json(detail(a)))
}

/// The worklist change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AlertUpdate {
    /// The new state.
    pub status: AlertStatus,
    /// The state the caller last saw. When given and the alert is now in
    /// another one (someone changed it meanwhile), nothing changes and the
    /// answer is 409 naming the state it is in; a change to the state it
    /// already has succeeds. Left out, the change is applied whatever the
    /// state.
    #[serde(default)]
    pub expected_status: Option<AlertStatus>,
}

/// Move an alert along the worklist.
#[utoipa::path(
    patch, path = "/api/v1/alerts/{id}", tag = "care", operation_id = "update_alert",
    params(("id" = i64, Path, description = "The alert's id", example = 1)),
    request_body(content = AlertUpdate, content_type = "application/json"),
    responses((status = 200, description = "The alert as it is now", body = Alert))
)]
pub async fn alert_update(
    State(state): State<AppState>,
    Care(caller): Care,
    ApiPath(id): ApiPath<i64>,
    ApiJson(u): ApiJson<AlertUpdate>,
) -> Result<Json<Alert>, Problem> {
    let mut tx = state.hisp.store.begin().await?;
    let mut a = load_alert(&state, &caller, &mut tx, id).await?;
    state
        .hisp
        .alert_status(
            &mut tx,
            id,
            u.status.as_str(),
            u.expected_status.map(AlertStatus::as_str),
            &caller.actor,
        )
        .await?;
    tx.commit().await?;
    a.status = u.status.as_str().to_string();
    Ok(Json(detail(a).alert))
}

/// Whose roster, and how to apply it.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RosterUpload {
    /// The subscriber; may be left out by a caller acting for one address.
    #[param(example = "jo@direct.example.org", format = Email)]
    pub owner: Option<String>,
    /// Replace the owner's whole roster.
    #[serde(default)]
    pub replace: bool,
    /// All or nothing: any problem applies no row.
    #[serde(default)]
    pub strict: bool,
}

/// What a roster upload did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RosterReport {
    /// Data rows read.
    pub rows: u64,
    /// Rows taken: entries stored or renewed, and rows whose `end_date` has
    /// passed.
    pub applied: u64,
    /// Entries ended because their row's `end_date` has passed.
    pub ended: u64,
    /// Entries `replace` ended: those of patients the upload no longer lists.
    pub replaced: u64,
    /// `replace` ended nothing because rows had problems (their patients
    /// would otherwise drop off the roster): fix them and upload again.
    pub replace_skipped: bool,
    /// Problems, one per row and column.
    pub problems: Vec<RosterProblem>,
}

/// One row-level problem.
#[derive(Debug, Serialize, ToSchema)]
pub struct RosterProblem {
    /// The row as a spreadsheet numbers it (the header is row 1).
    pub row: u64,
    /// The column; empty for the whole row.
    pub column: String,
    /// What is wrong and what to do.
    pub problem: String,
}

impl From<Imported> for RosterReport {
    fn from(i: Imported) -> Self {
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        Self {
            rows: n(i.rows),
            applied: n(i.applied),
            ended: i.ended,
            replaced: i.replaced,
            replace_skipped: i.replace_skipped,
            problems: i
                .problems
                .into_iter()
                .map(|p| RosterProblem {
                    row: n(p.row),
                    column: p.column,
                    problem: p.problem,
                })
                .collect(),
        }
    }
}

/// Upload a roster (CSV); the answer is the row-level validation report.
#[utoipa::path(
    post, path = "/api/v1/rosters", tag = "care", operation_id = "upload_roster", params(RosterUpload),
    request_body(content = String, content_type = "text/csv",
        description = "The panel: a header row naming the columns, then one patient per row",
        example = json!("patient_id,assigning_authority,family_name,given_name,birth_date,sex\nMRN-1,GENERAL,Doe,Jane,19500101,F\n")),
    responses((status = 200, description = "The row-level report", body = RosterReport))
)]
pub async fn roster_upload(
    State(state): State<AppState>,
    Care(caller): Care,
    ApiQuery(q): ApiQuery<RosterUpload>,
    req: Request,
) -> Result<Json<RosterReport>, Problem> {
    if !matches!(
        extract::media_type(&req).as_str(),
        "text/csv" | "application/csv"
    ) {
        return Err(extract::unsupported("text/csv"));
    }
    let owner = caller.subscriber(&state, q.owner.as_deref()).await?;
    // Read no more than a roster may be: the API's own limit is sized for
    // mail, and a care manager's key could have made the server hold five
    // times a roster's size before this was checked.
    let too_large = || {
        Problem::new(
            Kind::PayloadTooLarge,
            format!("A roster may be at most {MAX_ROSTER_BYTES} bytes. Split it."),
        )
    };
    let csv = extract::body_at_most(req, MAX_ROSTER_BYTES, too_large).await?;
    let done = state
        .hisp
        .roster_import(&owner, &csv, q.replace, q.strict, &caller.actor)
        .await?;
    Ok(Json(done.into()))
}

/// Whose roster.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RosterQuery {
    /// One subscriber; by default every one this caller acts for.
    #[param(example = "jo@direct.example.org", format = Email)]
    pub owner: Option<String>,
}

/// A roster entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct RosterEntry {
    /// Its id.
    pub id: i64,
    /// The subscriber.
    pub owner: String,
    /// The patient.
    pub patient: Patient,
    /// The care program.
    pub program: Option<String>,
    /// When the enrolment ends (YYYY-MM-DD).
    pub end_date: Option<String>,
    /// When it ages out unless re-submitted (Unix seconds).
    pub expires_at: i64,
}

/// A patient as rosters and consents know them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Patient {
    /// Identifiers with their assigning authorities.
    pub identifiers: Vec<Identifier>,
    /// Family name.
    pub family: String,
    /// Given name.
    pub given: String,
    /// YYYYMMDD.
    pub birth_date: Option<String>,
    /// HL7 table 0001: M, F, O or U, or A, N or X as the roster wrote it.
    pub sex: Option<String>,
    /// ZIP code.
    pub postal_code: Option<String>,
    /// Ten digits.
    pub phone: Option<String>,
}

/// An identifier.
#[derive(Debug, Serialize, ToSchema)]
pub struct Identifier {
    /// The value (CX.1).
    pub id: String,
    /// Its assigning authority (CX.4).
    pub authority: String,
}

impl From<StoredPatient> for Patient {
    fn from(p: StoredPatient) -> Self {
        Self {
            identifiers: p
                .identifiers
                .into_iter()
                .map(|(id, authority)| Identifier { id, authority })
                .collect(),
            family: p.family,
            given: p.given,
            birth_date: p.birth_date,
            sex: p.sex.map(String::from),
            postal_code: p.postal_code,
            phone: p.phone,
        }
    }
}

/// Roster entries (audited as a view of PHI).
#[utoipa::path(
    get, path = "/api/v1/rosters", tag = "care", operation_id = "list_roster_entries", params(RosterQuery),
    responses((status = 200, description = "Current entries", body = [RosterEntry]))
)]
pub async fn rosters(
    State(state): State<AppState>,
    Care(caller): Care,
    ApiQuery(q): ApiQuery<RosterQuery>,
) -> Result<Json<Vec<RosterEntry>>, Problem> {
    let owner = match q.owner.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(o) => Some(caller.subscriber(&state, Some(o)).await?),
        None => None,
    };
    // Only the rosters the caller may see are read (and unsealed): the one
    // asked for, every one for an admin key, else each of the caller's own.
    let owners: Vec<Option<String>> = match &owner {
        Some(o) => vec![Some(o.to_string())],
        None if caller.every_subscriber => vec![None],
        None => caller
            .addresses
            .iter()
            .map(|a| Some(a.to_string()))
            .collect(),
    };
    let subject = match &owner {
        Some(o) => o.to_string(),
        None if caller.every_subscriber => "*".to_string(),
        None => caller
            .addresses
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" "),
    };
    let now = state.hisp.now();
    // Read on a pooled connection, not in the audit's write transaction
    // (which on SQLite holds the single writer while every entry is unsealed).
    let mut rows = Vec::new();
    {
        let mut conn = state.hisp.conn().await?;
        for o in &owners {
            let sealer = state.hisp.store.sealer();
            rows.extend(notify::entries(&mut conn, sealer, o.as_deref(), now).await?);
        }
    }
    let out: Vec<RosterEntry> = rows
        .into_iter()
        .filter(|e| may_see(&caller, &e.owner))
        .map(|e| RosterEntry {
            id: e.id,
            owner: e.owner,
            patient: e.patient.into(),
            program: e.program,
            end_date: e.end_date,
            expires_at: e.expires_at,
        })
        .collect();
    let mut tx = state.hisp.store.begin().await?;
    state
        .hisp
        .audit(
            &mut tx,
            &caller.actor,
            "roster.view",
            &subject,
            &format!("{} entries", out.len()),
        )
        .await?;
    tx.commit().await?;
    Ok(Json(out))
}

/// A recorded consent decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct Consent {
    /// Its id (later decisions win).
    pub id: i64,
    /// `opt-out` or `opt-in`.
    pub decision: String,
    /// Who.
    pub patient: Patient,
    /// When (Unix seconds).
    pub created_at: i64,
}

/// The consent registry (audited as a view of PHI). Admins only: it spans
/// every practice's patients, while a care manager may record an opt-out
/// for a patient on their own roster.
#[utoipa::path(
    get, path = "/api/v1/consents", tag = "care", operation_id = "list_consents",
    responses((status = 200, description = "Every decision, oldest first", body = [Consent]))
)]
pub async fn consents(
    State(state): State<AppState>,
    Admin(caller): Admin,
) -> Result<Json<Vec<Consent>>, Problem> {
    let mut tx = state.hisp.store.begin().await?;
    let rows = notify::consents(&mut tx, state.hisp.store.sealer()).await?;
    state
        .hisp
        .audit(
            &mut tx,
            &caller.actor,
            "consent.view",
            "consents",
            &format!("{} decisions", rows.len()),
        )
        .await?;
    tx.commit().await?;
    Ok(Json(
        rows.into_iter()
            .map(|c| Consent {
                id: c.id,
                decision: c.decision,
                patient: c.patient.into(),
                created_at: c.created_at,
            })
            .collect(),
    ))
}

/// A consent decision.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// The patient wants no notifications.
    OptOut,
    /// The patient consents (also to sensitive sources); clears an opt-out.
    OptIn,
}

/// Record a decision about a patient, named by identifier or by
/// demographics (family, given, birth date and sex).
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewConsent {
    /// What the patient decided.
    pub decision: Decision,
    /// The patient identifier (CX.1), with `authority`.
    #[schema(example = "MRN-1")]
    pub patient_id: Option<String>,
    /// Its assigning authority (CX.4).
    #[schema(example = "GENERAL")]
    pub authority: Option<String>,
    /// Family name.
    pub family: Option<String>,
    /// Given name.
    pub given: Option<String>,
    /// YYYYMMDD or YYYY-MM-DD.
    pub birth_date: Option<String>,
    /// HL7 table 0001: M, F, O or U, or A, N or X as the roster has it.
    pub sex: Option<String>,
}

/// The recorded decision's id.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentRecorded {
    /// The new decision's id.
    pub id: i64,
    /// What was recorded.
    pub decision: String,
}

/// Record a consent decision.
#[utoipa::path(
    post, path = "/api/v1/consents", tag = "care", operation_id = "record_consent",
    request_body(content = NewConsent, content_type = "application/json"),
    responses((status = 201, description = "Recorded", body = ConsentRecorded))
)]
pub async fn consent_add(
    State(state): State<AppState>,
    Care(caller): Care,
    ApiJson(c): ApiJson<NewConsent>,
) -> Result<(StatusCode, Json<ConsentRecorded>), Problem> {
    let decision = match c.decision {
        Decision::OptOut => "opt-out",
        Decision::OptIn => "opt-in",
    };
    // An authority written as a whole HD counts under each of its names,
    // for the roster check as for the record.
    let patient = crate::notify::roster::consent_patient(&patient(c)?);
    // A decision holds for every practice (STANDARDS §7: consent is the
    // HIE's, and PRODUCT.md gives it to the HIE admin). A care manager may
    // relay their own patient's opt-out; an opt-in releases sensitive data
    // to every subscriber, so only an admin records one.
    crate::notify::roster::consent_checked(decision, &patient)?;
    if caller.role != Role::Admin {
        if decision == "opt-in" {
            return Err(Problem::new(
                Kind::Forbidden,
                "An opt-in releases the patient's sensitive information to every subscriber, so the HIE's administrator records it. A care manager may record an opt-out for a patient on their roster.",
            ));
        }
        // A disabled address speaks for no patient: its practice has left
        // the HIE, and its roster matches nothing.
        let live = state.hisp.enabled_of(&caller.addresses).await?;
        if live.is_empty() && !caller.addresses.is_empty() {
            return Err(Problem::new(
                Kind::Forbidden,
                "The addresses this caller acts for are disabled, so it records no consent decision. The HIE's administrator records them.",
            ));
        }
        if !state.hisp.on_rosters_of(&patient, &live).await? {
            return Err(Problem::new(
                Kind::NotFound,
                "No patient on your rosters is this one. A care manager records opt-outs for their own patients; the HIE's administrator records the others. With an identifier, give it alone, or with the names, birth date and sex your roster holds for it.",
            ));
        }
    }
    let id = state
        .hisp
        .consent_record(decision, &patient, &caller.actor)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ConsentRecorded {
            id,
            decision: decision.into(),
        }),
    ))
}

/// The stored patient a consent names; 422 for a value that cannot be one.
fn patient(c: NewConsent) -> Result<StoredPatient, Problem> {
    let text = |name: &str, v: Option<String>| -> Result<Option<String>, Problem> {
        match v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
            Some(s) if s.chars().count() > 200 || s.chars().any(char::is_control) => Err(
                Problem::field(name, "at most 200 characters, no control characters"),
            ),
            other => Ok(other),
        }
    };
    let id = text("patient_id", c.patient_id)?;
    let authority = text("authority", c.authority)?;
    if id.is_some() != authority.is_some() {
        return Err(Problem::field(
            "patient_id",
            "give patient_id and authority together",
        ));
    }
    let birth_date = match text("birth_date", c.birth_date)? {
        Some(b) => {
            let digits = b.replace('-', "");
            if digits.len() != 8 || !digits.bytes().all(|d| d.is_ascii_digit()) {
                return Err(Problem::field(
                    "birth_date",
                    "write it as YYYYMMDD or YYYY-MM-DD",
                ));
            }
            Some(digits)
        }
        None => None,
    };
    let sex = match text("sex", c.sex)?.as_deref() {
        None => None,
        Some(s) => match s.to_ascii_uppercase().as_str() {
            one @ ("M" | "F" | "O" | "U" | "A" | "N" | "X") => one.chars().next(),
            _ => return Err(Problem::field("sex", "one of M, F, O, U, A, N or X")),
        },
    };
    let p = StoredPatient {
        identifiers: match (id, authority) {
            (Some(v), Some(a)) => vec![(v, a)],
            _ => Vec::new(),
        },
        family: text("family", c.family)?.unwrap_or_default(),
        given: text("given", c.given)?.unwrap_or_default(),
        birth_date,
        sex,
        postal_code: None,
        phone: None,
    };
    let named =
        !p.family.is_empty() && !p.given.is_empty() && p.birth_date.is_some() && p.sex.is_some();
    if p.identifiers.is_empty() && !named {
        return Err(Problem::new(
            Kind::InvalidField,
            "Name the patient by patient_id and authority, or by family, given, birth_date and sex.",
        ));
    }
    Ok(p)
}
