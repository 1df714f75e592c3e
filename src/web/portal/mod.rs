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

use super::session::Viewer;
use super::{AppState, WebError};
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

/// The client's IP address, for throttling and the audit log: the
/// connection's address, or, when that is one of `[http] trusted_proxies`, the
/// nearest address in `X-Forwarded-For` that is not a trusted proxy (behind a
/// TLS terminator every connection comes from the proxy, and throttling its
/// address would lock everyone out). `unknown` in tests that call the router
/// without a socket.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, std::convert::Infallible> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let ip = client_ip(peer, &forwarded, &state.hisp.config.http.trusted_proxies);
        Ok(ClientIp(
            ip.map_or_else(|| "unknown".to_string(), |i| i.to_string()),
        ))
    }
}

/// The client behind `peer`: walk `X-Forwarded-For` from the right (the
/// entry our proxy added) past trusted proxies; the first other address is
/// the client. Untrusted peers' headers are ignored.
pub fn client_ip(
    peer: Option<std::net::IpAddr>,
    forwarded: &[&str],
    trusted: &[std::net::IpAddr],
) -> Option<std::net::IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = forwarded.iter().flat_map(|v| v.split(',')).collect();
    for hop in hops.iter().rev() {
        match hop.trim().parse::<std::net::IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return Some(ip),
            // Garbage in the chain: stop trusting it there.
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

/// The cursor of a listing's next page (`before`, a positive row id), if
/// one is asked for; anything else is a 400 naming `what` is listed.
pub fn page_cursor(before: Option<&str>, what: &str) -> Result<Option<i64>, WebError> {
    before
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(|b| {
            b.parse::<i64>().ok().filter(|&id| id > 0).ok_or_else(|| {
                WebError::BadRequest(format!(
                    "That page of {what} does not exist. Open it again to start from the newest."
                ))
            })
        })
        .transpose()
}

/// Headers for pages that show PHI: never cached by the browser or a proxy.
pub const NO_STORE: [(header::HeaderName, &str); 1] = [(header::CACHE_CONTROL, "no-store")];

#[cfg(test)]
mod tests {
    use super::client_ip;

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        let proxy = [ip("10.0.0.1")];
        // Direct connection: the header is anyone's to forge.
        assert_eq!(
            client_ip(Some(ip("203.0.113.9")), &["1.2.3.4"], &proxy),
            Some(ip("203.0.113.9"))
        );
        // Through the proxy: the entry it appended, not what the client claimed.
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), &["1.2.3.4, 198.51.100.7"], &proxy),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), &["198.51.100.7", "10.0.0.1"], &proxy),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), &[], &proxy),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), &["not-an-ip"], &proxy),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(client_ip(None, &["1.2.3.4"], &proxy), None);
    }
}
