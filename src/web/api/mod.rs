//! The JSON API under `/api/v1`, with its OpenAPI document at `/api/openapi.json`.
//!
//! # Layout
//! - `auth.rs`: who is calling (API key or portal session + CSRF header) and
//!   what they may reach;
//! - `problem.rs`: every error as RFC 9457 `application/problem+json`;
//! - `extract.rs`: query, path and JSON extractors whose rejections are problems;
//! - `messages.rs`, `care.rs`, `admin.rs`: the handlers, over the ops layer;
//! - `doc.rs`: the OpenAPI document, derived from the handlers' annotations.
//!
//! Routes are registered through `Table`, which also keeps the list of what
//! is served ([`served`]), so a test can check that the document lists every
//! route and nothing else. Unknown paths and methods under `/api` answer with
//! problems too, and no API response is cached.

mod admin;
mod auth;
mod care;
mod doc;
mod extract;
mod messages;
mod paging;
pub mod problem;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::handler::Handler;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodFilter, on};

pub use auth::CSRF_HEADER;
pub use doc::ApiDoc;

use super::AppState;
use problem::{Kind, Problem};

/// The largest request body read (a JSON message with base64 attachments up
/// to `[http] max_upload_bytes`, whose own limit is checked after decoding).
const BODY_LIMIT: usize = 96 * 1024 * 1024;

/// The API's routes.
pub fn routes() -> Router<AppState> {
    build().0
}

/// Every (method, path) the API serves, as the OpenAPI document writes them.
pub fn served() -> Vec<(String, String)> {
    build().1
}

/// The OpenAPI document as JSON.
pub fn openapi_json() -> String {
    use utoipa::OpenApi;
    ApiDoc::openapi().to_json().unwrap_or_default()
}

fn build() -> (Router<AppState>, Vec<(String, String)>) {
    let v1 = Table::new("/api")
        .at(Method::GET, "/openapi.json", doc::openapi_json)
        .at(Method::POST, "/v1/messages", messages::send)
        .at(Method::GET, "/v1/messages", messages::list)
        .at(Method::GET, "/v1/messages/{id}", messages::show)
        .at(Method::DELETE, "/v1/messages/{id}", messages::delete)
        .at(
            Method::GET,
            "/v1/messages/{message_id}/status",
            messages::status,
        )
        .at(Method::POST, "/v1/messages/{id}/ack", messages::ack)
        .at(Method::GET, "/v1/alerts", care::alerts)
        .at(Method::GET, "/v1/alerts/{id}", care::alert)
        .at(Method::PATCH, "/v1/alerts/{id}", care::alert_update)
        .at(Method::POST, "/v1/rosters", care::roster_upload)
        .at(Method::GET, "/v1/rosters", care::rosters)
        .at(Method::GET, "/v1/consents", care::consents)
        .at(Method::POST, "/v1/consents", care::consent_add)
        .at(Method::GET, "/v1/domains", admin::domains)
        .at(Method::POST, "/v1/domains", admin::domain_add)
        .at(Method::GET, "/v1/addresses", admin::addresses)
        .at(Method::POST, "/v1/addresses", admin::address_add)
        .at(
            Method::POST,
            "/v1/addresses/{address}/disable",
            admin::address_disable,
        )
        .at(
            Method::POST,
            "/v1/addresses/{address}/enable",
            admin::address_enable,
        )
        .at(Method::GET, "/v1/certificates", admin::certificates)
        .at(Method::GET, "/v1/anchors", admin::anchors)
        .at(Method::POST, "/v1/anchors", admin::anchor_add)
        .at(Method::GET, "/v1/bundles", admin::bundles)
        .at(
            Method::POST,
            "/v1/bundles/{id}/refresh",
            admin::bundle_refresh,
        )
        .at(Method::GET, "/v1/api-keys", admin::api_keys)
        .at(Method::POST, "/v1/api-keys", admin::api_key_add)
        .at(Method::DELETE, "/v1/api-keys/{id}", admin::api_key_revoke);
    let inner = v1
        .router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(no_store));
    (Router::new().nest("/api", inner), v1.served)
}

/// Routes and the list of what they serve, built together.
struct Table {
    router: Router<AppState>,
    served: Vec<(String, String)>,
    prefix: &'static str,
}

impl Table {
    fn new(prefix: &'static str) -> Self {
        Self {
            router: Router::new(),
            served: Vec::new(),
            prefix,
        }
    }

    /// Serve `method path` (relative to the prefix) with `handler`.
    fn at<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
        self.router = self.router.route(path, on(filter, handler));
        self.served
            .push((method.to_string(), format!("{}{path}", self.prefix)));
        self
    }
}

async fn not_found() -> Problem {
    Problem::new(
        Kind::NotFound,
        "No such API path. The operations are listed in /api/openapi.json.",
    )
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        Kind::MethodNotAllowed,
        "This path does not take that method. See /api/openapi.json.",
    )
}

/// API answers carry PHI: never cached by the client or a proxy.
async fn no_store(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    resp.headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_names_what_the_router_serves() {
        let doc: serde_json::Value = serde_json::from_str(&openapi_json()).expect("JSON");
        let mut documented: Vec<(String, String)> = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .into_iter()
                    .flat_map(|ops| ops.keys())
                    .map(move |m| (m.to_ascii_uppercase(), path.clone()))
            })
            .collect();
        let mut routes = served();
        documented.sort();
        routes.sort();
        assert_eq!(documented, routes);
    }
}
