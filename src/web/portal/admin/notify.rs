//! `/admin/feeds`: the registered ADT feeds (sending facilities whose ADT
//! messages are accepted), adding one with its sensitive flag
//! (`ops::feed_add`; the notification address is issued on first use, as
//! `hisp feed add` does); and `/admin/consent`: the consent registry, listed
//! (a view of PHI: audited, never cached) and added to by patient identifier
//! and assigning authority (`ops::consent_record`).

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::{Admin, Done, checked, fixable, respond};
use crate::notify::allow::Allowed;
use crate::store::notify::{self, StoredPatient};
use crate::web::session::Viewer;
use crate::web::templates::page;
use crate::web::{AppState, WebError};

/// The feed and consent routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/feeds", get(feeds).post(feed_add))
        .route("/admin/consent", get(consents).post(consent_add))
}

/// What the feed form had in it.
#[derive(Debug, Default, Serialize)]
struct FeedTyped {
    facility: String,
    name: String,
    sensitive: bool,
    allow_from: String,
}

async fn feeds_view(
    state: &AppState,
    v: &Viewer,
    ok: Option<&str>,
    error: Option<String>,
    typed: FeedTyped,
) -> Result<Response, WebError> {
    let rows = state.hisp.feed_list().await?;
    // The client certificates each feed pins, as OpenSSL prints their
    // fingerprints (`feed pin` sets them).
    let certs: std::collections::HashMap<&str, String> = rows
        .iter()
        .map(|f| {
            let shown = match crate::notify::pins::CertPins::from_stored(f.client_certs.as_deref())
            {
                Ok(p) if p.is_any() => "any client".to_string(),
                Ok(p) => format!("SHA-256 {p}"),
                Err(_) => "none: the stored list does not read".to_string(),
            };
            (f.facility.as_str(), shown)
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    respond(
        status,
        "admin_feeds.html",
        page! {
            nav => v.nav(),
            section => "feeds",
            rows => rows,
            certs => certs,
            ok => ok,
            error => error,
            typed => typed,
        },
    )
}

async fn feeds(
    State(state): State<AppState>,
    Admin(v): Admin,
    Query(done): Query<Done>,
) -> Result<Response, WebError> {
    feeds_view(&state, &v, done.message(), None, FeedTyped::default()).await
}

/// The feed form.
#[derive(Debug, Deserialize)]
pub struct NewFeed {
    #[serde(default)]
    facility: String,
    #[serde(default)]
    name: String,
    sensitive: Option<String>,
    #[serde(default)]
    allow_from: String,
    #[serde(default)]
    csrf: String,
}

/// The longest allow-list the feed form takes, in characters.
const ALLOW_FROM_MAX: usize = 2000;

async fn feed_add(
    State(state): State<AppState>,
    Admin(v): Admin,
    Form(f): Form<NewFeed>,
) -> Result<Response, WebError> {
    v.check_csrf(&f.csrf)?;
    let typed = FeedTyped {
        facility: f.facility.trim().to_string(),
        name: f.name.trim().to_string(),
        sensitive: checked(&f.sensitive),
        allow_from: f.allow_from.trim().chars().take(ALLOW_FROM_MAX).collect(),
    };
    if f.allow_from.trim().chars().count() > ALLOW_FROM_MAX {
        let msg = format!(
            "Allowed addresses: at most {ALLOW_FROM_MAX} characters; list the engines' networks \
             (192.0.2.0/24) rather than each address."
        );
        return feeds_view(&state, &v, None, Some(msg), typed).await;
    }
    if typed.facility.is_empty()
        || typed.facility.len() > 180
        || typed.facility.chars().any(|c| c.is_ascii_control())
    {
        let msg = "Enter the sending facility exactly as the hospital sends it in MSH-4 (its first component).";
        return feeds_view(&state, &v, None, Some(msg.into()), typed).await;
    }
    if typed.name.len() > 200 || typed.name.chars().any(char::is_control) {
        let msg = "The display name must be at most 200 printable characters.";
        return feeds_view(&state, &v, None, Some(msg.into()), typed).await;
    }
    let allow = match Allowed::parse(&[typed.allow_from.replace(char::is_whitespace, ",")]) {
        Ok(a) => a,
        Err(why) => {
            let msg = format!(
                "Allowed addresses: {why}. Give addresses or networks in CIDR form \
                 (192.0.2.0/24), separated by commas, or leave it empty for any address."
            );
            return feeds_view(&state, &v, None, Some(msg), typed).await;
        }
    };
    let name = if typed.name.is_empty() {
        typed.facility.clone()
    } else {
        typed.name.clone()
    };
    let added = state
        .hisp
        .feed_add(
            &typed.facility,
            &name,
            typed.sensitive,
            &allow,
            &v.user.username,
        )
        .await;
    if let Err(e) = added {
        let msg = fixable(e)?;
        return feeds_view(&state, &v, None, Some(msg), typed).await;
    }
    // Alerts need their sender address; issue it now, as `hisp feed add` does.
    state.hisp.notification_address().await?;
    Ok(Redirect::to("/admin/feeds?done=feed-added").into_response())
}

/// A consent decision as listed.
#[derive(Debug, Serialize)]
struct ConsentView {
    id: i64,
    decision: String,
    identifiers: Vec<String>,
    name: String,
    birth_date: Option<String>,
    created_at: i64,
}

/// What the consent form had in it.
#[derive(Debug, Default, Serialize)]
struct ConsentTyped {
    decision: String,
    patient_id: String,
    authority: String,
}

async fn consents_view(
    state: &AppState,
    v: &Viewer,
    ok: Option<&str>,
    error: Option<String>,
    typed: ConsentTyped,
) -> Result<Response, WebError> {
    let mut tx = state.hisp.store.begin().await?;
    let rows: Vec<ConsentView> = notify::consents(&mut tx, state.hisp.store.sealer())
        .await?
        .into_iter()
        .rev()
        .map(|c| ConsentView {
            id: c.id,
            decision: c.decision,
            identifiers: c
                .patient
                .identifiers
                .iter()
                .map(|(id, authority)| format!("{id} ({authority})"))
                .collect(),
            name: [c.patient.family.as_str(), c.patient.given.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(", "),
            birth_date: c.patient.birth_date,
            created_at: c.created_at,
        })
        .collect();
    // The registry names patients: every view of it is on the record.
    state
        .hisp
        .audit(
            &mut tx,
            &v.user.username,
            "consent.view",
            "consent registry",
            &format!("{} decision(s) shown", rows.len()),
        )
        .await?;
    tx.commit().await?;
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    respond(
        status,
        "admin_consent.html",
        page! {
            nav => v.nav(),
            section => "consent",
            rows => rows,
            ok => ok,
            error => error,
            typed => typed,
        },
    )
}

async fn consents(
    State(state): State<AppState>,
    Admin(v): Admin,
    Query(done): Query<Done>,
) -> Result<Response, WebError> {
    consents_view(&state, &v, done.message(), None, ConsentTyped::default()).await
}

/// The consent form.
#[derive(Debug, Deserialize)]
pub struct NewConsent {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    patient_id: String,
    #[serde(default)]
    authority: String,
    #[serde(default)]
    csrf: String,
}

/// The decision and patient, or what to tell the admin.
fn check_consent(t: &ConsentTyped) -> Result<(&'static str, StoredPatient), &'static str> {
    let decision = match t.decision.as_str() {
        "opt-out" => "opt-out",
        "opt-in" => "opt-in",
        _ => return Err("Choose the decision: opt out of notifications, or opt in."),
    };
    let printable = |s: &str| !s.is_empty() && s.len() <= 200 && !s.chars().any(char::is_control);
    if !printable(&t.patient_id) || !printable(&t.authority) {
        return Err(
            "Enter the patient identifier and its assigning authority as the hospitals send them (PID-3.1 and PID-3.4; PID-2 and PID-4 are read too).",
        );
    }
    let patient = StoredPatient {
        identifiers: vec![(t.patient_id.clone(), t.authority.clone())],
        ..StoredPatient::default()
    };
    Ok((decision, patient))
}

async fn consent_add(
    State(state): State<AppState>,
    Admin(v): Admin,
    Form(f): Form<NewConsent>,
) -> Result<Response, WebError> {
    v.check_csrf(&f.csrf)?;
    let typed = ConsentTyped {
        decision: f.decision.trim().to_string(),
        patient_id: f.patient_id.trim().to_string(),
        authority: f.authority.trim().to_string(),
    };
    let (decision, patient) = match check_consent(&typed) {
        Ok(ok) => ok,
        Err(msg) => return consents_view(&state, &v, None, Some(msg.into()), typed).await,
    };
    match state
        .hisp
        .consent_record(decision, &patient, &v.user.username)
        .await
    {
        Ok(_) => Ok(Redirect::to("/admin/consent?done=consent-recorded").into_response()),
        Err(e) => {
            let msg = fixable(e)?;
            consents_view(&state, &v, None, Some(msg), typed).await
        }
    }
}
