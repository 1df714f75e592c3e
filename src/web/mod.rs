//! HTTP: `fn app() -> Router` so tests can call handlers without a socket.
//! So far: `/healthz`, `/metrics` (Prometheus), and `/pki/ca.cer` + `/pki/ca.crl`
//! (the AIA and CRL distribution point URLs in every certificate we issue).
//! One error type becomes the response; internal detail never reaches the client.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::ops::{Hisp, OpsError};
use crate::telemetry::{Gauge, Metrics};

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Config, store and clock.
    pub hisp: Hisp,
    /// Request counters.
    pub metrics: Arc<Metrics>,
}

/// An HTTP failure; the variant decides the status.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The store cannot be reached.
    #[error("service unavailable")]
    Unavailable,
    /// Anything else: logged, answered 500 with no detail.
    #[error("internal error")]
    Internal(#[from] OpsError),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = match &self {
            WebError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal(e) => {
                tracing::error!(error = %e, "request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, format!("{self}\n")).into_response()
    }
}

/// The router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/pki/ca.cer", get(ca_cer))
        .route("/pki/ca.crl", get(ca_crl))
        .layer(middleware::from_fn_with_state(state.clone(), count))
        .with_state(state)
}

/// Count each request by route (unknown paths together) and status.
async fn count(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = match req.uri().path() {
        "/healthz" => "/healthz",
        "/metrics" => "/metrics",
        "/pki/ca.cer" => "/pki/ca.cer",
        "/pki/ca.crl" => "/pki/ca.crl",
        _ => "other",
    };
    let resp = next.run(req).await;
    state.metrics.http_request(route, resp.status().as_u16());
    resp
}

/// 200 when the store answers, 503 otherwise.
async fn healthz(State(state): State<AppState>) -> Result<&'static str, WebError> {
    state
        .hisp
        .store
        .ping()
        .await
        .map_err(|_| WebError::Unavailable)?;
    Ok("ok\n")
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
