//! The admin's pages, one file per area:
//!
//! - `dashboard.rs`: `/admin`, counts per day as SVG charts and the numbers
//!   of right now (queues, failures, quarantine): counts only, no PHI;
//! - `domains.rs`, `addresses.rs`, `users.rs`: domains, Direct addresses
//!   (issue, disable, certificates with expiry) and logins (add, reset a
//!   password or a second factor);
//! - `trust.rs`: anchors (upload, remove) and trust bundles (add, refresh,
//!   remove) with their refresh status;
//! - `notify.rs`: ADT feeds and the consent registry;
//! - `keys.rs`: API keys, shown once and stored hashed;
//! - `audit.rs`: the audit log with filters and the chain's verification.
//!
//! Every handler takes [`Admin`], which refuses anyone but an admin before
//! the request body is read, so a provider's or care manager's request gets
//! 403 whatever it carries. Every form carries the session's CSRF token.
//! Every change goes through the ops functions (which audit it) with the
//! admin's user name as the actor; what has no ops function (API keys, a
//! second-factor reset, ending sessions) is audited here, in the same
//! transaction as the change. One-time secrets (passwords, API keys) are
//! shown in the response to the POST that made them and nowhere else.

mod addresses;
mod audit;
mod dashboard;
mod domains;
mod keys;
mod notify;
mod trust;
mod users;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::NO_STORE;
use crate::store::users::Role;
use crate::web::session::Viewer;
use crate::web::templates::render;
use crate::web::{AppState, WebError};

macro_rules! admin_templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../../templates/portal/", $name)))),*]
    };
}

/// This area's templates (name, source).
pub const TEMPLATES: &[(&str, &str)] = admin_templates![
    "admin_nav.html",
    "admin_once.html",
    "admin_cert.html",
    "admin_dashboard.html",
    "admin_domains.html",
    "admin_addresses.html",
    "admin_users.html",
    "admin_trust.html",
    "admin_feeds.html",
    "admin_consent.html",
    "admin_keys.html",
    "admin_audit.html",
];

/// This area's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(dashboard::routes())
        .merge(domains::routes())
        .merge(addresses::routes())
        .merge(users::routes())
        .merge(trust::routes())
        .merge(notify::routes())
        .merge(keys::routes())
        .merge(audit::routes())
}

/// A signed-in admin: the extractor every admin handler takes. It runs
/// before the body is read, so a non-admin is refused (403) whatever the
/// request carries.
#[derive(Debug, Clone)]
pub struct Admin(pub Viewer);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let v = Viewer::from_request_parts(parts, state).await?;
        v.require(Role::Admin)
            .map_err(IntoResponse::into_response)?;
        Ok(Admin(v))
    }
}

/// A form that only carries its CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// The `?done=` query a change redirects to: which confirmation to show.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    done: Option<String>,
}

impl Done {
    /// The confirmation for a known code. Only fixed text is shown, so a
    /// crafted link cannot put words on the page.
    pub fn message(&self) -> Option<&'static str> {
        Some(match self.done.as_deref()? {
            "domain-added" => {
                "The domain was added with its certificate. It trusts this HISP's CA."
            }
            "address-enabled" => {
                "The address was enabled again, with its login: it sends and receives mail, its certificates are published, and its roster alerts from the next event."
            }
            "address-disabled" => {
                "The address was disabled: it no longer receives or sends mail, and its certificates are no longer published."
            }
            "mfa-reset" => {
                "The two-factor setup was removed and the user was signed out. Where their role requires two-factor sign-in, they set up a new one at their next sign-in."
            }
            "anchor-added" => "The anchor was added.",
            "anchor-removed" => "The anchor was removed.",
            "bundle-removed" => "The bundle and its anchors were removed.",
            "feed-added" => "The feed was added. Its ADT messages are accepted from now on.",
            "consent-recorded" => "The decision was recorded. It applies to the next ADT message.",
            "key-revoked" => "The API key was revoked. Requests with it are refused from now on.",
            _ => return None,
        })
    }
}

/// A page of this area: never cached (admin pages list accounts, keys and
/// one-time secrets).
pub fn respond(
    status: StatusCode,
    name: &str,
    ctx: impl Into<minijinja::Value>,
) -> Result<Response, WebError> {
    Ok((status, NO_STORE, render(name, ctx)?).into_response())
}

/// The message of a failure the admin can fix (to show on the form's page),
/// or the failure itself.
pub fn fixable(e: impl Into<WebError>) -> Result<String, WebError> {
    match e.into() {
        WebError::BadRequest(msg) => Ok(msg),
        other => Err(other),
    }
}

/// The page a one-time secret is shown on, once.
pub struct Once<'a> {
    /// The page's heading.
    pub title: &'a str,
    /// What happened, one sentence.
    pub what: String,
    /// The secret's label.
    pub label: &'a str,
    /// The secret.
    pub secret: &'a str,
    /// What to do with it.
    pub next: &'a str,
    /// Where to go back to.
    pub back: &'a str,
}

/// Show a one-time secret (200, never cached).
pub fn once(v: &Viewer, section: &str, o: &Once<'_>) -> Result<Response, WebError> {
    respond(
        StatusCode::OK,
        "admin_once.html",
        crate::web::templates::page! {
            nav => v.nav(),
            section => section,
            title => o.title,
            what => &o.what,
            label => o.label,
            secret => o.secret,
            next => o.next,
            back => o.back,
        },
    )
}

/// Days since the epoch of a `YYYY-MM-DD` date.
pub fn day_of(s: &str) -> Option<i64> {
    let mut it = s.trim().splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    crate::clock::days_from_civil(y, m, d)
}

/// A checkbox's value: present (any value but empty) is checked.
pub fn checked(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_confirmations_are_shown() {
        let known = Done {
            done: Some("domain-added".into()),
        };
        assert!(known.message().is_some());
        let crafted = Done {
            done: Some("Call 555-0100 now".into()),
        };
        assert_eq!(crafted.message(), None);
        assert_eq!(Done::default().message(), None);
    }

    #[test]
    fn dates_parse() {
        assert_eq!(day_of("1970-01-02"), Some(1));
        assert_eq!(day_of("2026-13-01"), None);
        assert_eq!(day_of("yesterday"), None);
    }
}
