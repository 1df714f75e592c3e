//! Who is calling the API: an API key (`Authorization: Bearer hisp_…`) or a
//! portal session (its cookie, with `X-CSRF-Token` on unsafe methods).
//!
//! A key carries a role and the addresses it acts for; an admin key acts for
//! every address (an HIE's own system). A session acts for the addresses its
//! user owns, like the portal: an admin session reaches the admin
//! operations, but only its own mailboxes, alerts and rosters (the portal
//! keeps admins away from practices' PHI, and so does the API).
//!
//! [`Caller`] authenticates; [`Care`] and [`Admin`] also require a role, so a
//! caller without it is refused (403) before its body is read. A mailbox or a
//! subscriber the caller may not act for is answered 404, never 403, so its
//! existence is not confirmed.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};

use super::problem::{Kind, Problem};
use crate::direct::DirectAddress;
use crate::store::addresses;
use crate::store::users::Role;
use crate::store::web as st;
use crate::web::AppState;
use crate::web::session::{self, Pending};

/// The header a session's unsafe request carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The audit log's actor: `api-key:<id>` or the session's username.
    pub actor: String,
    /// What it may do.
    pub role: Role,
    /// The addresses it acts for.
    pub addresses: Vec<DirectAddress>,
    /// An admin key: every mailbox, not only `addresses`.
    pub every_mailbox: bool,
    /// An admin key: every subscriber's alerts and rosters. A session,
    /// an admin's too, sees only its user's own, as the portal shows them.
    pub every_subscriber: bool,
    /// The key used, when it is a key.
    pub key_id: Option<i64>,
}

impl Caller {
    /// At least `role`'s powers (admin ⊇ care manager ⊇ provider)?
    pub fn is_at_least(&self, role: Role) -> bool {
        rank(self.role) >= rank(role)
    }

    /// May this caller read and send as `addr`?
    pub fn may_mail(&self, addr: &DirectAddress) -> bool {
        self.every_mailbox || self.addresses.contains(addr)
    }

    /// May this caller see `subscriber`'s alerts and roster?
    pub fn may_care(&self, subscriber: &DirectAddress) -> bool {
        self.every_subscriber || self.addresses.contains(subscriber)
    }

    /// The mailbox named by `?address=`, or the caller's only one when absent.
    /// 404 for one the caller may not use or that does not exist.
    pub async fn mailbox(
        &self,
        state: &AppState,
        address: Option<&str>,
    ) -> Result<DirectAddress, Problem> {
        self.pick(state, address, "address", Self::may_mail).await
    }

    /// The subscriber named by `?owner=` (alerts, rosters), or the caller's
    /// only address when absent.
    pub async fn subscriber(
        &self,
        state: &AppState,
        owner: Option<&str>,
    ) -> Result<DirectAddress, Problem> {
        self.pick(state, owner, "owner", Self::may_care).await
    }

    async fn pick(
        &self,
        state: &AppState,
        given: Option<&str>,
        param: &str,
        allowed: fn(&Caller, &DirectAddress) -> bool,
    ) -> Result<DirectAddress, Problem> {
        let addr = match given.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => DirectAddress::parse(s).map_err(|e| {
                Problem::bad(format!(
                    "{param}: {e}. Give a Direct address like jo@direct.example.org."
                ))
            })?,
            None => match self.addresses.as_slice() {
                [only] => only.clone(),
                _ => {
                    return Err(Problem::bad(format!(
                        "Say which address with ?{param}=; this caller acts for more than one."
                    )));
                }
            },
        };
        if !allowed(self, &addr) {
            return Err(Problem::not_found("such address"));
        }
        let mut conn = state.hisp.conn().await?;
        if addresses::find(&mut conn, &addr).await?.is_none() {
            return Err(Problem::not_found("such address"));
        }
        Ok(addr)
    }
}

fn rank(r: Role) -> u8 {
    match r {
        Role::Provider => 0,
        Role::CareManager => 1,
        Role::Admin => 2,
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            return by_key(value.to_str().unwrap_or(""), state).await;
        }
        if session::cookie(&parts.headers, session::SESSION_COOKIE).is_some() {
            return by_session(parts, state).await;
        }
        Err(Problem::new(
            Kind::Unauthorized,
            "Send an API key as `Authorization: Bearer hisp_…` (an administrator creates keys), \
             or call from a signed-in portal session.",
        ))
    }
}

async fn by_key(value: &str, state: &AppState) -> Result<Caller, Problem> {
    let token = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| t.starts_with("hisp_"))
        .ok_or_else(|| {
            Problem::invalid_credentials(
                "The Authorization header must be `Bearer hisp_…` with an API key.",
            )
        })?;
    let mut conn = state.hisp.conn().await.map_err(|_| {
        Problem::new(
            Kind::Unavailable,
            "The service is unavailable. Try again in a minute.",
        )
    })?;
    let key = st::use_api_key(&mut conn, &session::token_hash(token), state.hisp.now())
        .await?
        .ok_or_else(|| {
            Problem::invalid_credentials(
                "This API key is not valid: it was revoked or never existed. Ask an administrator for a new one.",
            )
        })?;
    let scoped: Vec<DirectAddress> = key
        .addresses
        .iter()
        .filter_map(|a| DirectAddress::parse(a).ok())
        .collect();
    // A key acts only for its enabled addresses: one whose addresses were
    // all disabled or removed (the practice left) is refused, as a
    // disabled login is. An admin key acts for every address anyway.
    let addresses = if key.role == Role::Admin {
        scoped
    } else {
        let enabled = crate::ops::address::enabled_in(&mut conn, &scoped).await?;
        if !scoped.is_empty() && enabled.is_empty() {
            return Err(Problem::invalid_credentials(
                "This API key acts only for disabled or removed addresses. Ask an administrator.",
            ));
        }
        enabled
    };
    Ok(Caller {
        actor: format!("api-key:{}", key.id),
        role: key.role,
        addresses,
        every_mailbox: key.role == Role::Admin,
        every_subscriber: key.role == Role::Admin,
        key_id: Some(key.id),
    })
}

async fn by_session(parts: &mut Parts, state: &AppState) -> Result<Caller, Problem> {
    let p = Pending::from_request_parts(parts, state).await?;
    if !p.session.mfa_done || p.user.must_change_password {
        return Err(Problem::invalid_credentials(
            "This session has not finished signing in. Complete sign-in in the portal first.",
        ));
    }
    let unsafe_method = !matches!(
        parts.method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    if unsafe_method {
        let token = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !session::same(token, &p.session.csrf) {
            return Err(Problem::new(
                Kind::Csrf,
                "A request through a portal session that changes something must carry the \
                 session's token in the X-CSRF-Token header. Reload the page and try again.",
            ));
        }
    }
    let mut conn = state.hisp.conn().await?;
    let owned = addresses::owned_by(&mut conn, p.user.id).await?;
    Ok(Caller {
        actor: p.user.username.clone(),
        role: p.user.role,
        addresses: owned.into_iter().map(|a| a.address).collect(),
        every_mailbox: false,
        every_subscriber: false,
        key_id: None,
    })
}

/// A caller with at least the care manager's role.
#[derive(Debug, Clone)]
pub struct Care(pub Caller);

impl FromRequestParts<AppState> for Care {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let c = Caller::from_request_parts(parts, state).await?;
        if !c.is_at_least(Role::CareManager) {
            return Err(Problem::new(
                Kind::Forbidden,
                "Alerts, rosters and consent are for care managers and administrators.",
            ));
        }
        Ok(Care(c))
    }
}

/// An administrator.
#[derive(Debug, Clone)]
pub struct Admin(pub Caller);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let c = Caller::from_request_parts(parts, state).await?;
        if c.role != Role::Admin {
            return Err(Problem::new(
                Kind::Forbidden,
                "This operation is for administrators.",
            ));
        }
        Ok(Admin(c))
    }
}
