//! Portal sessions. The cookie `hisp_session` carries 32 random bytes (hex);
//! the store keeps only their SHA-256, so a copy of the database signs no one
//! in. The cookie is HttpOnly, SameSite=Strict and Secure unless the portal
//! listens on loopback. A session ends after `[http] idle_timeout_secs`
//! without a request (15 minutes by default) or at sign-out.
//!
//! Every session has a CSRF token that every form carries (`csrf`) and every
//! state-changing API call through the session carries (`X-CSRF-Token`). The
//! sign-in form, which has no session yet, uses a double-submit cookie.
//!
//! [`Viewer`] is the extractor for pages: it answers "sign in" for no session,
//! and sends a session that still owes a second factor or a new password to
//! the page that collects it. [`Pending`] is the extractor for those pages.

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Serialize;

use super::{AppState, WebError};
use crate::ops::OpsError;
use crate::store::addresses::{self, AddressRow};
use crate::store::users::{self, Role, UserRow};
use crate::store::web as st;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "hisp_session";
/// The sign-in form's double-submit cookie.
pub const PRE_COOKIE: &str = "hisp_pre";
/// Only refresh `last_seen` when it is older than this (seconds), so reading
/// pages does not write on every request.
const TOUCH_AFTER: i64 = 30;

/// 32 random bytes as hex.
pub fn random_token() -> Result<String, WebError> {
    let mut b = [0u8; 32];
    openssl::rand::rand_bytes(&mut b).map_err(|e| OpsError::Invalid(e.to_string()))?;
    Ok(crate::store::seal::hex_encode(&b))
}

/// SHA-256 of a token, hex: what the store keeps.
pub fn token_hash(token: &str) -> String {
    crate::store::seal::hex_encode(&openssl::sha::sha256(token.as_bytes()))
}

/// Equal strings, compared in constant time for equal lengths.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a.as_bytes(), b.as_bytes())
}

/// The value of cookie `name` in the request headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value with our attributes; `None` clears the cookie.
pub fn set_cookie(state: &AppState, name: &str, value: Option<&str>) -> HeaderValue {
    let secure = if state.hisp.config.http.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let v = match value {
        Some(v) => format!("{name}={v}; Path=/; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A response that also sets a cookie.
pub fn with_cookie(resp: impl IntoResponse, cookie: HeaderValue) -> Response {
    let mut r = resp.into_response();
    r.headers_mut().append(SET_COOKIE, cookie);
    r
}

/// Does this user need a second factor at sign-in?
pub fn needs_mfa(state: &AppState, user: &UserRow, has_totp: bool) -> bool {
    has_totp || user.role == Role::Admin || state.hisp.config.http.require_mfa
}

/// A signed-in session, whatever it still owes.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Who.
    pub user: UserRow,
    /// The stored session.
    pub session: st::SessionRow,
    /// The hash that names the session.
    pub token_hash: String,
}

impl Pending {
    /// Refuse a form whose token does not match.
    pub fn check_csrf(&self, token: &str) -> Result<(), WebError> {
        if same(token, &self.session.csrf) {
            Ok(())
        } else {
            Err(WebError::Csrf)
        }
    }
}

impl FromRequestParts<AppState> for Pending {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(WebError::SignIn)?;
        let hash = token_hash(&token);
        let now = state.hisp.now();
        let mut conn = state.hisp.conn().await.map_err(|_| WebError::Unavailable)?;
        let session = st::session(&mut conn, &hash)
            .await?
            .ok_or(WebError::SignIn)?;
        if now - session.last_seen > state.hisp.config.http.idle_timeout_secs {
            st::delete_session(&mut conn, &hash).await?;
            return Err(WebError::SignIn);
        }
        let user = users::by_id(&mut conn, session.user_id).await?;
        if !user.enabled {
            st::delete_session(&mut conn, &hash).await?;
            return Err(WebError::SignIn);
        }
        if now - session.last_seen >= TOUCH_AFTER {
            st::touch_session(&mut conn, &hash, now).await?;
        }
        Ok(Pending {
            user,
            session,
            token_hash: hash,
        })
    }
}

/// A signed-in user who has given every factor: what pages extract.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Who.
    pub user: UserRow,
    /// This session's CSRF token.
    pub csrf: String,
    /// The hash that names the session.
    pub token_hash: String,
    /// The addresses this user owns (enabled ones first, then by name).
    pub addresses: Vec<AddressRow>,
}

impl Viewer {
    /// Refuse a form whose token does not match.
    pub fn check_csrf(&self, token: &str) -> Result<(), WebError> {
        if same(token, &self.csrf) {
            Ok(())
        } else {
            Err(WebError::Csrf)
        }
    }

    /// Refuse unless the user has at least `role`'s powers (admin ⊇ care
    /// manager ⊇ provider).
    pub fn require(&self, role: Role) -> Result<(), WebError> {
        if rank(self.user.role) >= rank(role) {
            Ok(())
        } else {
            Err(WebError::Forbidden)
        }
    }

    /// The owned address named `addr` (any letter case), or the first owned
    /// one when `addr` is `None`. `NotFound` for an address the user does not
    /// own, so another practice's addresses are not even confirmed to exist.
    pub fn address(&self, addr: Option<&str>) -> Result<&AddressRow, WebError> {
        match addr {
            Some(a) => self
                .addresses
                .iter()
                .find(|r| r.address.to_string().eq_ignore_ascii_case(a.trim()))
                .ok_or(WebError::NotFound),
            None => self.addresses.first().ok_or(WebError::NotFound),
        }
    }

    /// What every page's layout needs.
    pub fn nav(&self) -> Nav {
        Nav {
            username: self.user.username.clone(),
            role: self.user.role.as_str(),
            care: rank(self.user.role) >= rank(Role::CareManager),
            admin: self.user.role == Role::Admin,
            csrf: self.csrf.clone(),
            addresses: self
                .addresses
                .iter()
                .map(|a| a.address.to_string())
                .collect(),
        }
    }
}

/// The layout's view of the user.
#[derive(Debug, Clone, Serialize)]
pub struct Nav {
    /// Shown in the header.
    pub username: String,
    /// Their role's name.
    pub role: &'static str,
    /// Show the care manager's menu.
    pub care: bool,
    /// Show the admin menu.
    pub admin: bool,
    /// For the sign-out form.
    pub csrf: String,
    /// Their addresses.
    pub addresses: Vec<String>,
}

fn rank(r: Role) -> u8 {
    match r {
        Role::Provider => 0,
        Role::CareManager => 1,
        Role::Admin => 2,
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let p = Pending::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if !p.session.mfa_done {
            return Err(Redirect::to("/mfa").into_response());
        }
        if p.user.must_change_password {
            return Err(Redirect::to("/password").into_response());
        }
        let mut conn = state
            .hisp
            .conn()
            .await
            .map_err(|_| WebError::Unavailable.into_response())?;
        let owned = addresses::owned_by(&mut conn, p.user.id)
            .await
            .map_err(|e| WebError::from(e).into_response())?;
        Ok(Viewer {
            user: p.user,
            csrf: p.session.csrf,
            token_hash: p.token_hash,
            addresses: owned,
        })
    }
}

/// A new API key: what to show the admin once (`hisp_` and 64 hex digits),
/// and what to store (its SHA-256, hex).
pub fn new_api_key() -> Result<(String, String), WebError> {
    let key = format!("hisp_{}", random_token()?);
    let hash = token_hash(&key);
    Ok((key, hash))
}
