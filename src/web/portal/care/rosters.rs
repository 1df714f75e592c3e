//! The rosters page: each owned address's roster (entries close to ageing
//! out marked), the CSV upload through `Hisp::roster_import` (the code path
//! of `hisp roster import`) with its row-level report, and each address's
//! alert delivery (`hisp roster delivery`).

use axum::extract::{Form, Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::{Saved, audit, subscribers};
use crate::notify::roster::{Imported, MAX_ROSTER_BYTES};
use crate::ops::OpsError;
use crate::store::users::Role;
use crate::store::worklist;
use crate::store::{StoreError, notify};
use crate::web::portal::NO_STORE;
use crate::web::session::Viewer;
use crate::web::templates::{page, render};
use crate::web::{AppState, WebError};

/// Roster entries this close to ageing out are marked (seconds).
const EXPIRING: i64 = 14 * 86_400;

/// A roster entry as the page shows it.
#[derive(Debug, Serialize)]
struct Entry {
    patient: String,
    identifiers: String,
    born: Option<String>,
    sex: Option<String>,
    program: Option<String>,
    end_date: Option<String>,
    expires_at: i64,
    /// Whole days until it ages out.
    days_left: i64,
    expiring: bool,
}

/// One owned address's roster and alert delivery.
#[derive(Debug, Serialize)]
struct Roster {
    owner: String,
    entries: Vec<Entry>,
    expiring: usize,
    digest: bool,
}

/// The upload's outcome as the page reports it.
#[derive(Debug, Serialize)]
struct Report {
    owner: String,
    #[serde(flatten)]
    done: Imported,
    /// `strict` and problems: nothing applied.
    refused: bool,
}

pub(super) async fn rosters(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<Saved>,
) -> Result<Response, WebError> {
    v.require(Role::CareManager)?;
    roster_page(&state, &v, None, None, q.saved, StatusCode::OK).await
}

/// The rosters page (audited as a view of each roster shown).
async fn roster_page(
    state: &AppState,
    v: &Viewer,
    report: Option<Report>,
    error: Option<String>,
    saved: Option<String>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let now = state.hisp.now();
    let subs = subscribers(v);
    let mut conn = state.hisp.conn().await?;
    let digest: Vec<String> = worklist::modes(&mut conn, &subs)
        .await?
        .into_iter()
        .filter(|(_, m)| m == "digest")
        .map(|(s, _)| s)
        .collect();
    let mut shown = Vec::with_capacity(subs.len());
    for owner in &subs {
        let rows = notify::entries(&mut conn, state.hisp.store.sealer(), Some(owner), now).await?;
        let entries: Vec<Entry> = rows.iter().map(|e| entry(e, now)).collect();
        shown.push(Roster {
            owner: owner.clone(),
            expiring: entries.iter().filter(|e| e.expiring).count(),
            entries,
            digest: digest.contains(owner),
        });
    }
    drop(conn);
    for r in &shown {
        let detail = format!("{} entries", r.entries.len());
        audit(state, v, "roster.view", &r.owner, &detail).await?;
    }
    let page = render(
        "care_rosters.html",
        page! {
            nav => v.nav(),
            rosters => shown,
            report => report,
            error => error,
            saved => saved,
            digest_time => state.hisp.config.notify.digest_time,
            expiry_days => state.hisp.config.notify.roster_expiry_days,
            max_bytes => MAX_ROSTER_BYTES,
        },
    )?;
    Ok((status, NO_STORE, page).into_response())
}

fn entry(e: &notify::RosterEntry, now: i64) -> Entry {
    let p = &e.patient;
    let left = e.expires_at - now;
    Entry {
        patient: match (p.family.trim(), p.given.trim()) {
            ("", "") => "(no name)".to_string(),
            (f, "") => f.to_string(),
            (f, g) => format!("{f}, {g}"),
        },
        identifiers: p
            .identifiers
            .iter()
            .map(|(v, a)| format!("{v} ({a})"))
            .collect::<Vec<_>>()
            .join(", "),
        born: p
            .birth_date
            .as_deref()
            .map(|b| match (b.get(..4), b.get(4..6), b.get(6..8)) {
                (Some(y), Some(m), Some(d)) => format!("{y}-{m}-{d}"),
                _ => b.to_string(),
            }),
        sex: p.sex.map(String::from),
        program: e.program.clone(),
        end_date: e.end_date.clone(),
        expires_at: e.expires_at,
        days_left: left.div_euclid(86_400),
        expiring: left <= EXPIRING,
    }
}

/// The upload form's fields.
#[derive(Debug, Default)]
struct Upload {
    csrf: String,
    owner: String,
    replace: bool,
    strict: bool,
    /// (file name, bytes), when a file was chosen.
    file: Option<(String, Vec<u8>)>,
}

async fn read_upload(mut form: Multipart) -> Result<Upload, WebError> {
    let too_big = || {
        WebError::BadRequest(format!(
            "The file is larger than {} MB. Split the roster into smaller files.",
            MAX_ROSTER_BYTES / (1024 * 1024)
        ))
    };
    let unreadable =
        |e: String| WebError::BadRequest(format!("The form could not be read ({e}). Try again."));
    let mut u = Upload::default();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| unreadable(e.to_string()))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let data = field.bytes().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_big()
            } else {
                unreadable(e.to_string())
            }
        })?;
        let text = || String::from_utf8_lossy(&data).trim().to_string();
        match name.as_str() {
            "csrf" => u.csrf = text(),
            "owner" => u.owner = text(),
            "replace" => u.replace = !data.is_empty(),
            "strict" => u.strict = !data.is_empty(),
            "file" => {
                if let Some(f) = file_name.filter(|f| !f.is_empty()) {
                    u.file = Some((f, data.to_vec()));
                }
            }
            _ => {}
        }
    }
    Ok(u)
}

/// Why an uploaded file is not a roster to import, in words for the uploader.
fn not_a_roster(name: &str, data: &[u8]) -> Option<String> {
    let csv = name
        .rsplit_once('.')
        .is_some_and(|(_, ext)| ext.eq_ignore_ascii_case("csv") || ext.eq_ignore_ascii_case("txt"));
    if !csv || data.contains(&0) {
        return Some(format!(
            "{name} is not a CSV file. In your spreadsheet, save the roster as \"CSV UTF-8\" and upload that file."
        ));
    }
    if data.iter().all(u8::is_ascii_whitespace) {
        return Some(format!(
            "{name} is empty. Upload a CSV file with a header row and one row per patient."
        ));
    }
    None
}

pub(super) async fn upload(
    State(state): State<AppState>,
    v: Viewer,
    form: Multipart,
) -> Result<Response, WebError> {
    v.require(Role::CareManager)?;
    let u = read_upload(form).await?;
    v.check_csrf(&u.csrf)?;
    let owner = v.address(Some(&u.owner))?.address.clone();
    let again =
        |msg: String| roster_page(&state, &v, None, Some(msg), None, StatusCode::BAD_REQUEST);
    let Some((name, data)) = u.file else {
        return again("Choose a CSV file to upload.".into()).await;
    };
    if let Some(msg) = not_a_roster(&name, &data) {
        return again(msg).await;
    }
    match state
        .hisp
        .roster_import(&owner, &data, u.replace, u.strict, &v.user.username)
        .await
    {
        Ok(done) => {
            let report = Report {
                owner: owner.to_string(),
                refused: u.strict && !done.problems.is_empty(),
                done,
            };
            roster_page(&state, &v, Some(report), None, None, StatusCode::OK).await
        }
        Err(OpsError::Invalid(msg)) => {
            let msg = msg.strip_prefix("roster: ").unwrap_or(&msg);
            again(format!("{name} could not be read: {msg}.")).await
        }
        // A disabled address takes no roster: said on the page.
        Err(OpsError::Store(StoreError::Conflict(msg))) => {
            let msg = format!("{name} was not imported: {msg}.");
            roster_page(&state, &v, None, Some(msg), None, StatusCode::CONFLICT).await
        }
        Err(e) => Err(e.into()),
    }
}

/// A delivery choice.
#[derive(Debug, Deserialize)]
pub struct DeliveryForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    mode: String,
}

/// The same change as `hisp roster delivery --owner A --mode M`.
pub(super) async fn subscription(
    State(state): State<AppState>,
    v: Viewer,
    Form(f): Form<DeliveryForm>,
) -> Result<Response, WebError> {
    v.require(Role::CareManager)?;
    v.check_csrf(&f.csrf)?;
    let owner = v.address(Some(&f.owner))?.address.to_string();
    if f.mode != "realtime" && f.mode != "digest" {
        return Err(WebError::BadRequest(
            "Choose real-time alerts or a daily digest, then save.".into(),
        ));
    }
    let mut tx = state.hisp.store.begin().await?;
    state
        .hisp
        .subscription_mode(&mut tx, &owner, &f.mode, &v.user.username)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to("/rosters?saved=delivery").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_that_are_not_csv_are_named() {
        assert!(not_a_roster("panel.csv", b"patient_id\n1\n").is_none());
        assert!(not_a_roster("PANEL.CSV", b"x").is_none());
        assert!(not_a_roster("panel.pdf", b"%PDF-1.7").is_some());
        assert!(not_a_roster("panel.csv", b"PK\x03\x04\0\0").is_some());
        assert!(
            not_a_roster("panel.csv", b" \r\n")
                .expect("empty")
                .contains("empty")
        );
    }
}
