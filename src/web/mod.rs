//! HTTP: `fn app() -> Router` so tests can call handlers without a socket.
//!
//! - `/healthz`, `/metrics` (Prometheus), `/pki/ca.cer` + `/pki/ca.crl` (the
//!   AIA and CRL distribution point URLs in every certificate we issue);
//! - the portal (`portal/`): server-rendered HTML from `templates/portal/`,
//!   signed-in sessions with CSRF tokens and a second factor (`session.rs`);
//! - the JSON API under `/api/v1` (`api/`), with its OpenAPI document.
//!
//! One error type becomes the portal's response; internal detail never reaches
//! the client.

pub mod api;
pub mod chart;
pub mod portal;
pub mod render;
pub mod session;
pub mod templates;
pub mod totp;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::ops::{Hisp, OpsError};
use crate::smtp::Gateway;
use crate::smtp::submission::Throttle;
use crate::telemetry::{Gauge, Metrics};

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Config, store and clock.
    pub hisp: Hisp,
    /// The outbound path (compose and the API send through it).
    pub gw: Gateway,
    /// Request counters.
    pub metrics: Arc<Metrics>,
    /// Sign-in failures by `ip:<addr>` and `user:<name>`.
    pub throttle: Arc<Mutex<Throttle>>,
    /// How far the audit page has verified the audit chain, and when it last
    /// did so from the first entry (see `portal::admin::audit`).
    pub audit_seen: Arc<Mutex<Option<AuditSeen>>>,
}

/// The audit chain as the audit page last verified it.
#[derive(Debug, Clone)]
pub struct AuditSeen {
    /// The last entry verified, and its hash.
    pub checkpoint: crate::audit::Checkpoint,
    /// When every entry was last recomputed (Unix seconds).
    pub full_at: i64,
}

impl AppState {
    /// State around a gateway.
    pub fn new(gw: Gateway, metrics: Arc<Metrics>) -> Self {
        Self {
            hisp: gw.hisp.clone(),
            gw,
            metrics,
            throttle: Arc::new(Mutex::new(Throttle::default())),
            audit_seen: Arc::default(),
        }
    }
}

/// A portal failure; the variant decides the status and the page.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The store cannot be reached.
    #[error("The service is unavailable. Try again in a minute.")]
    Unavailable,
    /// Not signed in (or the session expired): go to the sign-in page.
    #[error("Please sign in.")]
    SignIn,
    /// Signed in, but this page is not for this user.
    #[error("You do not have access to this page. Ask an administrator if you need it.")]
    Forbidden,
    /// No such thing (or not visible to this user).
    #[error("Not found. It may have been removed, or the link is wrong.")]
    NotFound,
    /// A form was missing its CSRF token or carried a stale one.
    #[error("This form has expired. Go back, reload the page and submit it again.")]
    Csrf,
    /// Too many failed attempts.
    #[error("Too many failed attempts. Wait a few minutes and try again.")]
    Throttled,
    /// The request was wrong; the message says what to do.
    #[error("{0}")]
    BadRequest(String),
    /// Anything else: logged, answered 500 with no detail.
    #[error(
        "Something went wrong on our side. Try again; if it persists, tell your administrator."
    )]
    Internal(OpsError),
}

impl From<OpsError> for WebError {
    /// A request that makes no sense is the user's to fix (400, with the
    /// message); a missing thing is 404; the rest is ours (500, no detail).
    fn from(e: OpsError) -> Self {
        match e {
            OpsError::Invalid(msg) => WebError::BadRequest(msg),
            OpsError::Address(a) => WebError::BadRequest(a.to_string()),
            OpsError::Store(crate::store::StoreError::NotFound(_)) => WebError::NotFound,
            OpsError::Store(crate::store::StoreError::Duplicate(what)) => {
                WebError::BadRequest(format!("{what} already exists."))
            }
            OpsError::Store(crate::store::StoreError::Conflict(msg)) => WebError::BadRequest(msg),
            other => WebError::Internal(other),
        }
    }
}

impl From<crate::store::StoreError> for WebError {
    fn from(e: crate::store::StoreError) -> Self {
        WebError::from(OpsError::from(e))
    }
}

impl From<sqlx::Error> for WebError {
    fn from(e: sqlx::Error) -> Self {
        WebError::Internal(OpsError::from(crate::store::StoreError::from(e)))
    }
}

impl WebError {
    /// The status code of this failure.
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            WebError::SignIn => StatusCode::SEE_OTHER,
            WebError::Forbidden | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Throttled => StatusCode::TOO_MANY_REQUESTS,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match &self {
            WebError::SignIn => return Redirect::to("/signin").into_response(),
            WebError::Internal(e) => tracing::error!(error = %e, "request failed"),
            _ => {}
        }
        let status = self.status();
        let page = templates::render(
            "error.html",
            crate::web::templates::page! { status => status.as_u16(), message => self.to_string() },
        )
        .unwrap_or_else(|_| Html(format!("{self}\n")));
        (status, page).into_response()
    }
}

/// Percent-encode all but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`),
/// byte by byte of the UTF-8: query values in links and the TOTP URI.
pub fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/pki/ca.cer", get(ca_cer))
        .route("/pki/ca.crl", get(ca_crl))
        .merge(portal::routes())
        .merge(api::routes())
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn_with_state(state.clone(), count))
        .with_state(state)
}

/// Count each request by its route pattern (unmatched paths together) and status.
async fn count(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_string(), |m| m.as_str().to_string());
    let resp = next.run(req).await;
    state.metrics.http_request(&route, resp.status().as_u16());
    resp
}

/// Headers every response carries: no framing, no sniffing, no referrer, and a
/// content security policy that allows only our own scripts and styles and no
/// remote content at all (received mail cannot load a tracking pixel).
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: &'static str, v: &'static str| {
        h.entry(k)
            .or_insert(axum::http::HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "no-referrer");
    resp
}

/// 200 when the store answers, 503 otherwise: plain text for load balancers
/// and monitors, with no internal detail.
async fn healthz(State(state): State<AppState>) -> Response {
    match state.hisp.store.ping().await {
        Ok(()) => "ok\n".into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "service unavailable\n").into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Result<Response, WebError> {
    let counts = state
        .hisp
        .store
        .counts(state.hisp.now())
        .await
        .map_err(OpsError::from)?;
    let gauges: Vec<Gauge> = counts
        .into_iter()
        .map(|c| Gauge {
            name: c.name,
            help: c.help,
            labels: c.labels,
            value: c.value,
        })
        .collect();
    let body = state.metrics.render(&gauges);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response())
}

/// The CA certificate, DER (RFC 5280 §4.2.2.1: caIssuers serves a DER certificate).
async fn ca_cer(State(state): State<AppState>) -> Result<Response, WebError> {
    let cert = state.hisp.ca_cert().await?;
    let der = cert
        .to_der()
        .map_err(|e| OpsError::Invalid(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/pkix-cert")], der).into_response())
}

/// The current CRL, DER, re-signed when near its nextUpdate.
async fn ca_crl(State(state): State<AppState>) -> Result<Response, WebError> {
    let crl = state.hisp.current_crl().await?;
    Ok(([(header::CONTENT_TYPE, "application/pkix-crl")], crl.der).into_response())
}
