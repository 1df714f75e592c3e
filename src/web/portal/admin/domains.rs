//! `/admin/domains`: the domains served, each with its address count and its
//! organization-bound certificates (expiry flagged within 30 days), and the
//! form that adds one (`ops::domain_add`: its certificate, and our CA as its
//! anchor both ways).

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::addresses::{CertView, cert_views};
use super::{Admin, Done, fixable, respond};
use crate::direct::Domain;
use crate::web::session::Viewer;
use crate::web::templates::page;
use crate::web::{AppState, WebError};

/// The domain routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/domains", get(list).post(add))
}

/// A domain as listed.
#[derive(Debug, Serialize)]
struct DomainView {
    name: String,
    created_at: i64,
    addresses: usize,
    certs: Vec<CertView>,
}

async fn view(
    state: &AppState,
    v: &Viewer,
    ok: Option<&str>,
    error: Option<String>,
    typed: &str,
) -> Result<Response, WebError> {
    let now = state.hisp.now();
    let all_addresses = state.hisp.address_list(None).await?;
    let certs = state.hisp.cert_list().await?;
    let domains: Vec<DomainView> = state
        .hisp
        .domain_list()
        .await?
        .into_iter()
        .map(|d| DomainView {
            name: d.name.to_string(),
            created_at: d.created_at,
            addresses: all_addresses.iter().filter(|a| a.domain_id == d.id).count(),
            certs: cert_views(
                certs
                    .iter()
                    .filter(|c| c.domain_id == d.id && c.address_id.is_none()),
                now,
            ),
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    respond(
        status,
        "admin_domains.html",
        page! {
            nav => v.nav(),
            section => "domains",
            domains => domains,
            ok => ok,
            error => error,
            typed => typed,
        },
    )
}

async fn list(
    State(state): State<AppState>,
    Admin(v): Admin,
    Query(done): Query<Done>,
) -> Result<Response, WebError> {
    view(&state, &v, done.message(), None, "").await
}

/// The add form.
#[derive(Debug, Deserialize)]
pub struct NewDomain {
    #[serde(default)]
    domain: String,
    #[serde(default)]
    csrf: String,
}

async fn add(
    State(state): State<AppState>,
    Admin(v): Admin,
    Form(f): Form<NewDomain>,
) -> Result<Response, WebError> {
    v.check_csrf(&f.csrf)?;
    let typed = f.domain.trim().to_ascii_lowercase();
    let name = match Domain::parse(&typed) {
        Ok(d) => d,
        Err(e) => {
            let msg = format!("{e}. Enter a domain name such as direct.example.org.");
            return view(&state, &v, None, Some(msg), &typed).await;
        }
    };
    match state.hisp.domain_add(&name, &v.user.username).await {
        Ok(_) => Ok(Redirect::to("/admin/domains?done=domain-added").into_response()),
        Err(e) => {
            let msg = fixable(e)?;
            view(&state, &v, None, Some(msg), &typed).await
        }
    }
}
