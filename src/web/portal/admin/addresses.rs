//! `/admin/addresses`: every Direct address with its owner, state and
//! certificates (expiry dates; those expiring within 30 days flagged);
//! issuing one (`ops::address_add`: the login, the address and its
//! certificates in one transaction) shows the generated one-time password
//! once; disabling one (`ops::address_disable`). Password and second-factor
//! resets of an owner are the user routes (`users.rs`), linked from here.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::dashboard::EXPIRY_WARNING_DAYS;
use super::{Admin, CsrfOnly, Done, Once, fixable, once, respond};
use crate::direct::DirectAddress;
use crate::ops::address::NewAddress;
use crate::store::addresses;
use crate::store::certs::CertRow;
use crate::store::stats::{self, DAY};
use crate::store::users::{self, Role};
use crate::web::session::Viewer;
use crate::web::templates::page;
use crate::web::{AppState, WebError};

/// The address routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/addresses", get(list).post(issue))
        .route("/admin/addresses/{id}/disable", post(disable))
        .route("/admin/addresses/{id}/enable", post(enable))
}

/// A certificate as listed.
#[derive(Debug, Serialize)]
pub struct CertView {
    usage: String,
    source: String,
    serial: String,
    not_after: i64,
    /// valid, expired, revoked, not yet valid.
    status: &'static str,
    /// Valid now but expires within [`EXPIRY_WARNING_DAYS`].
    expiring: bool,
    /// Days left, rounded up ("in 1 day" for the last hours), for valid
    /// certificates.
    days_left: i64,
}

/// `certs` as listed at `now`, newest last.
pub fn cert_views<'a>(certs: impl Iterator<Item = &'a CertRow>, now: i64) -> Vec<CertView> {
    certs
        .map(|c| {
            let status = c.status(now);
            let days_left = (c.not_after - now + DAY - 1).div_euclid(DAY);
            CertView {
                usage: c.usage.clone(),
                source: c.source.clone(),
                serial: c.serial.clone(),
                not_after: c.not_after,
                status,
                expiring: status == "valid" && c.not_after - now < EXPIRY_WARNING_DAYS * DAY,
                days_left,
            }
        })
        .collect()
}

/// An address as listed.
#[derive(Debug, Serialize)]
struct AddressView {
    id: i64,
    address: String,
    name: Option<String>,
    enabled: bool,
    owner: Option<Owner>,
    certs: Vec<CertView>,
}

/// An address's owner as listed.
#[derive(Debug, Serialize)]
struct Owner {
    id: i64,
    username: String,
    role: Role,
    has_totp: bool,
    is_me: bool,
}

/// What the issue form had in it, to show again after a mistake.
#[derive(Debug, Default, Serialize)]
struct Typed {
    address: String,
    name: String,
    role: String,
}

async fn view(
    state: &AppState,
    v: &Viewer,
    ok: Option<&str>,
    error: Option<String>,
    typed: Typed,
) -> Result<Response, WebError> {
    let now = state.hisp.now();
    let mut conn = state.hisp.conn().await?;
    let users: HashMap<i64, users::UserRow> = users::list(&mut conn)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let totp = stats::users_with_totp(&mut conn).await?;
    drop(conn);
    let certs = state.hisp.cert_list().await?;
    let rows: Vec<AddressView> = state
        .hisp
        .address_list(None)
        .await?
        .into_iter()
        .map(|a| AddressView {
            id: a.id,
            address: a.address.to_string(),
            name: a.display_name.clone(),
            enabled: a.enabled,
            owner: a
                .owner_user_id
                .and_then(|id| users.get(&id))
                .map(|u| Owner {
                    id: u.id,
                    username: u.username.clone(),
                    role: u.role,
                    has_totp: totp.contains(&u.id),
                    is_me: u.id == v.user.id,
                }),
            certs: cert_views(certs.iter().filter(|c| c.address_id == Some(a.id)), now),
        })
        .collect();
    let domains: Vec<String> = state
        .hisp
        .domain_list()
        .await?
        .into_iter()
        .map(|d| d.name.to_string())
        .collect();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    respond(
        status,
        "admin_addresses.html",
        page! {
            nav => v.nav(),
            section => "addresses",
            rows => rows,
            domains => domains,
            ok => ok,
            error => error,
            typed => typed,
            warn_days => EXPIRY_WARNING_DAYS,
        },
    )
}

async fn list(
    State(state): State<AppState>,
    Admin(v): Admin,
    Query(done): Query<Done>,
) -> Result<Response, WebError> {
    view(&state, &v, done.message(), None, Typed::default()).await
}

/// The issue form.
#[derive(Debug, Deserialize)]
pub struct Issue {
    #[serde(default)]
    address: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    csrf: String,
}

/// The request, or what to tell the admin.
async fn parse_issue(state: &AppState, f: &Issue) -> Result<NewAddress, String> {
    let address = DirectAddress::parse(f.address.trim()).map_err(|e| {
        format!("{e}. Write the full address, such as jo.smith@direct.example.org.")
    })?;
    let served = state
        .hisp
        .domain_list()
        .await
        .map_err(|_| "The list of domains could not be read. Try again.".to_string())?;
    if !served.iter().any(|d| &d.name == address.domain()) {
        return Err(format!(
            "The domain {} is not served here. Add it on the Domains page first, or pick a served domain.",
            address.domain()
        ));
    }
    let name = f.name.trim();
    if name.len() > 128 || name.chars().any(char::is_control) {
        return Err("The display name must be at most 128 printable characters.".into());
    }
    let role: Role = f
        .role
        .parse()
        .map_err(|_| "Choose a role: provider, care manager or admin.".to_string())?;
    Ok(NewAddress {
        address,
        name: (!name.is_empty()).then(|| name.to_string()),
        role,
        password: None,
        single_use: None,
    })
}

async fn issue(
    State(state): State<AppState>,
    Admin(v): Admin,
    Form(f): Form<Issue>,
) -> Result<Response, WebError> {
    v.check_csrf(&f.csrf)?;
    let typed = || Typed {
        address: f.address.trim().to_string(),
        name: f.name.trim().to_string(),
        role: f.role.clone(),
    };
    let req = match parse_issue(&state, &f).await {
        Ok(r) => r,
        Err(msg) => return view(&state, &v, None, Some(msg), typed()).await,
    };
    let issued = match state.hisp.address_add(req, &v.user.username).await {
        Ok(i) => i,
        Err(e) => {
            let msg = fixable(e)?;
            return view(&state, &v, None, Some(msg), typed()).await;
        }
    };
    let password = issued.generated_password.unwrap_or_default();
    once(
        &v,
        "addresses",
        &Once {
            title: "Address issued",
            what: format!(
                "{} was issued with {} certificate(s). Its login is {} ({}).",
                issued.address.address,
                issued.certs.len(),
                issued.user.username,
                issued.user.role
            ),
            label: "One-time password",
            secret: &password,
            next: "Give it to the person over a channel you trust. It works once: at their first sign-in they choose their own password. It is not shown again and not stored; if it is lost, reset the password.",
            back: "/admin/addresses",
        },
    )
}

/// Enable a disabled address again, with its login (an admin's own
/// address included: it cannot lock anyone out).
async fn enable(
    State(state): State<AppState>,
    Admin(v): Admin,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    switch(&state, &v, id, &f, true).await
}

async fn disable(
    State(state): State<AppState>,
    Admin(v): Admin,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    switch(&state, &v, id, &f, false).await
}

/// Enable or disable the address `id`; an admin may not disable their own.
async fn switch(
    state: &AppState,
    v: &Viewer,
    id: i64,
    f: &CsrfOnly,
    enable: bool,
) -> Result<Response, WebError> {
    v.check_csrf(&f.csrf)?;
    let mut conn = state.hisp.conn().await?;
    let row = addresses::by_id(&mut conn, id).await?;
    drop(conn);
    if !enable && row.owner_user_id == Some(v.user.id) {
        let msg = "You cannot disable your own address here: it could lock you out. Ask another admin, or use the command line.".to_string();
        return view(state, v, None, Some(msg), Typed::default()).await;
    }
    let actor = &v.user.username;
    let (done, switched) = if enable {
        (
            state.hisp.address_enable(&row.address, actor).await,
            "address-enabled",
        )
    } else {
        (
            state.hisp.address_disable(&row.address, actor).await,
            "address-disabled",
        )
    };
    match done {
        Ok(()) => Ok(Redirect::to(&format!("/admin/addresses?done={switched}")).into_response()),
        Err(e) => {
            let msg = fixable(e)?;
            view(state, v, None, Some(msg), Typed::default()).await
        }
    }
}
