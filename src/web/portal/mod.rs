//! The portal: server-rendered pages, one route file per area.
//!
//! - `auth.rs`: sign-in, the second factor (and its enrollment), password
//!   change, sign-out;
//! - `mail.rs`: mailbox, message, attachments, compose, sent with delivery
//!   states, address book;
//! - `care.rs`: the care manager's alert worklist, rosters and subscription;
//! - `admin.rs`: the admin's dashboard and management pages.
//!
//! Every page checks access on the server through [`super::session::Viewer`].
//! The only script is `/static/portal.js` (live delivery states); every page
//! works without it.

pub mod admin;
pub mod auth;
pub mod care;
pub mod mail;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::AppState;
use super::session::Viewer;
use crate::store::users::Role;

/// Every portal route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/static/portal.css", get(css))
        .route("/static/portal.js", get(js))
        .merge(auth::routes())
        .merge(mail::routes())
        .merge(care::routes())
        .merge(admin::routes())
}

/// Where a signed-in user starts.
async fn home(v: Viewer) -> Redirect {
    match v.user.role {
        Role::Admin if v.addresses.is_empty() => Redirect::to("/admin"),
        _ => Redirect::to("/mail"),
    }
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../../../templates/portal/static/portal.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../../../templates/portal/static/portal.js"),
    )
        .into_response()
}

/// The client's IP address (from the connection), or `unknown` in tests that
/// call the router without a socket.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &AppState,
    ) -> Result<Self, std::convert::Infallible> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string()),
        ))
    }
}

/// Headers for pages that show PHI: never cached by the browser or a proxy.
pub const NO_STORE: [(header::HeaderName, &str); 1] = [(header::CACHE_CONTROL, "no-store")];
