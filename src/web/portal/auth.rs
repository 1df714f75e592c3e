//! Sign-in (password, then a TOTP code when the user has one; admins, and
//! everyone when `[http] require_mfa` is set, must enroll one first), the
//! password change a one-time password forces, and sign-out.
//!
//! Failed passwords and codes are throttled per user name and per client IP
//! (5 per user, 20 per IP, in 15 minutes). The answer to a wrong user name and
//! to a wrong password is the same.

use crate::web::templates::page;
use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::ClientIp;
use crate::ops::user::{check_strength, hash_password, verify_password};
use crate::store::users;
use crate::store::web as st;
use crate::web::session::{
    self, PRE_COOKIE, Pending, SESSION_COOKIE, cookie, needs_mfa, same, set_cookie, with_cookie,
};
use crate::web::templates::render;
use crate::web::totp::{self, Secret};
use crate::web::{AppState, WebError};

/// Failures per user name within [`WINDOW`].
const MAX_PER_USER: u32 = 5;
/// Failures per client IP within [`WINDOW`].
const MAX_PER_IP: u32 = 20;
/// The throttle window, seconds.
const WINDOW: i64 = 15 * 60;

/// The sign-in, second-factor, password and sign-out routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", axum::routing::post(signout))
        .route("/mfa", get(mfa_page).post(mfa))
        .route("/mfa/enroll", get(enroll_page).post(enroll))
        .route("/password", get(password_page).post(password))
}

fn throttled(state: &AppState, keys: &[String]) -> bool {
    let now = state.hisp.now();
    state.throttle.lock().is_ok_and(|t| {
        keys.iter().any(|k| {
            let max = if k.starts_with("ip:") {
                MAX_PER_IP
            } else {
                MAX_PER_USER
            };
            t.blocked(k, now, max, WINDOW)
        })
    })
}

fn fail(state: &AppState, keys: &[String]) {
    let now = state.hisp.now();
    if let Ok(mut t) = state.throttle.lock() {
        for k in keys {
            t.fail(k, now, WINDOW);
        }
    }
}

fn succeed(state: &AppState, keys: &[String]) {
    if let Ok(mut t) = state.throttle.lock() {
        for k in keys {
            t.clear(k);
        }
    }
}

async fn signin_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let pre = match cookie(&headers, PRE_COOKIE) {
        Some(p) if p.len() == 64 && p.bytes().all(|b| b.is_ascii_hexdigit()) => p,
        _ => session::random_token()?,
    };
    let page = render(
        "signin.html",
        page! { csrf => &pre, error => None::<String> },
    )?;
    Ok(with_cookie(
        page,
        set_cookie(&state, PRE_COOKIE, Some(&pre)),
    ))
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignIn {
    username: String,
    password: String,
    #[serde(default)]
    csrf: String,
}

async fn signin(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(f): Form<SignIn>,
) -> Result<Response, WebError> {
    let pre = cookie(&headers, PRE_COOKIE).unwrap_or_default();
    if pre.is_empty() || !same(&pre, &f.csrf) {
        return Err(WebError::Csrf);
    }
    let name = f.username.trim().to_string();
    let keys = [format!("ip:{ip}"), format!("user:{}", name.to_lowercase())];
    if throttled(&state, &keys) {
        return Err(WebError::Throttled);
    }
    let user = state.hisp.authenticate(&name, &f.password).await?;
    let Some(user) = user else {
        fail(&state, &keys);
        tracing::info!(ip = %ip, "portal sign-in failed");
        let page = render(
            "signin.html",
            page! { csrf => &pre, username => &name,
            error => "The user name or password is wrong. Check both and try again; after 5 failures, wait 15 minutes." },
        )?;
        return Ok((StatusCode::UNAUTHORIZED, page).into_response());
    };
    succeed(&state, &keys[1..]);
    let token = session::random_token()?;
    let csrf = session::random_token()?;
    let mut tx = state.hisp.store.begin().await?;
    let (secret, _) = st::totp(&mut tx, state.hisp.store.sealer(), user.id).await?;
    let mfa = needs_mfa(&state, &user, secret.is_some());
    st::insert_session(
        &mut tx,
        &session::token_hash(&token),
        user.id,
        &csrf,
        !mfa,
        state.hisp.now(),
    )
    .await?;
    st::delete_idle_sessions(
        &mut tx,
        state.hisp.now() - state.hisp.config.http.idle_timeout_secs,
    )
    .await?;
    state
        .hisp
        .audit(
            &mut tx,
            &user.username,
            "portal.signin",
            &user.username,
            &ip,
        )
        .await?;
    tx.commit().await?;
    let next = if mfa { "/mfa" } else { "/" };
    let mut resp = with_cookie(
        Redirect::to(next),
        set_cookie(&state, SESSION_COOKIE, Some(&token)),
    );
    resp.headers_mut().append(
        axum::http::header::SET_COOKIE,
        set_cookie(&state, PRE_COOKIE, None),
    );
    Ok(resp)
}

/// A form that only carries its CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn signout(
    State(state): State<AppState>,
    p: Pending,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    p.check_csrf(&f.csrf)?;
    let mut tx = state.hisp.store.begin().await?;
    st::delete_session(&mut tx, &p.token_hash).await?;
    state
        .hisp
        .audit(
            &mut tx,
            &p.user.username,
            "portal.signout",
            &p.user.username,
            "",
        )
        .await?;
    tx.commit().await?;
    Ok(with_cookie(
        Redirect::to("/signin"),
        set_cookie(&state, SESSION_COOKIE, None),
    ))
}

async fn has_totp(
    state: &AppState,
    user_id: i64,
) -> Result<(Option<Secret>, Option<i64>), WebError> {
    let mut conn = state.hisp.conn().await?;
    let (secret, last) = st::totp(&mut conn, state.hisp.store.sealer(), user_id).await?;
    Ok((secret.map(Secret::from_bytes), last))
}

async fn mfa_page(State(state): State<AppState>, p: Pending) -> Result<Response, WebError> {
    if p.session.mfa_done {
        return Ok(Redirect::to("/").into_response());
    }
    if has_totp(&state, p.user.id).await?.0.is_none() {
        return Ok(Redirect::to("/mfa/enroll").into_response());
    }
    Ok(render(
        "mfa.html",
        page! { csrf => &p.session.csrf, error => None::<String> },
    )?
    .into_response())
}

/// A second-factor form.
#[derive(Debug, Deserialize)]
pub struct Code {
    code: String,
    #[serde(default)]
    csrf: String,
}

async fn mfa(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    p: Pending,
    Form(f): Form<Code>,
) -> Result<Response, WebError> {
    p.check_csrf(&f.csrf)?;
    if p.session.mfa_done {
        return Ok(Redirect::to("/").into_response());
    }
    let keys = [
        format!("ip:{ip}"),
        format!("user:{}", p.user.username.to_lowercase()),
    ];
    if throttled(&state, &keys) {
        return Err(WebError::Throttled);
    }
    let (Some(secret), last) = has_totp(&state, p.user.id).await? else {
        return Ok(Redirect::to("/mfa/enroll").into_response());
    };
    let step = totp::verify(&secret, &f.code, state.hisp.now(), last);
    let mut tx = state.hisp.store.begin().await?;
    let spent = match step {
        Some(step) => st::spend_totp_step(&mut tx, p.user.id, step).await?,
        None => false,
    };
    if !spent {
        tx.rollback().await?;
        fail(&state, &keys);
        let page = render(
            "mfa.html",
            page! { csrf => &p.session.csrf,
            error => "That code is not right. Enter the 6-digit code your authenticator app shows now (each code works once)." },
        )?;
        return Ok((StatusCode::UNAUTHORIZED, page).into_response());
    }
    st::session_mfa_done(&mut tx, &p.token_hash).await?;
    state
        .hisp
        .audit(
            &mut tx,
            &p.user.username,
            "portal.mfa",
            &p.user.username,
            &ip,
        )
        .await?;
    tx.commit().await?;
    succeed(&state, &keys[1..]);
    Ok(Redirect::to("/").into_response())
}

/// Enrollment is open to a session that has no factor yet, or that has
/// already given it (to replace it). A session that owes an existing factor
/// cannot replace it.
async fn may_enroll(state: &AppState, p: &Pending) -> Result<bool, WebError> {
    Ok(p.session.mfa_done || has_totp(state, p.user.id).await?.0.is_none())
}

fn enroll_view(
    state: &AppState,
    p: &Pending,
    secret: &Secret,
    error: Option<&str>,
) -> Result<Response, WebError> {
    let issuer = format!("hisp {}", state.hisp.config.server.hostname);
    let uri = totp::otpauth_uri(secret, &issuer, &p.user.username);
    let page = render(
        "mfa_enroll.html",
        page! {
            csrf => &p.session.csrf,
            secret => secret.to_base32(),
            qr => minijinja::Value::from_safe_string(totp::qr_svg(&uri).unwrap_or_default()),
            error => error,
            required => !p.session.mfa_done,
        },
    )?;
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, super::NO_STORE, page).into_response())
}

async fn enroll_page(State(state): State<AppState>, p: Pending) -> Result<Response, WebError> {
    if !may_enroll(&state, &p).await? {
        return Ok(Redirect::to("/mfa").into_response());
    }
    let secret = Secret::generate().map_err(|e| crate::ops::OpsError::Invalid(e.to_string()))?;
    enroll_view(&state, &p, &secret, None)
}

/// The enrollment form: the secret shown, and a code from the app.
#[derive(Debug, Deserialize)]
pub struct Enroll {
    secret: String,
    code: String,
    #[serde(default)]
    csrf: String,
}

async fn enroll(
    State(state): State<AppState>,
    p: Pending,
    Form(f): Form<Enroll>,
) -> Result<Response, WebError> {
    p.check_csrf(&f.csrf)?;
    if !may_enroll(&state, &p).await? {
        return Ok(Redirect::to("/mfa").into_response());
    }
    let secret = Secret::from_base32(&f.secret)
        .filter(|s| s.as_bytes().len() >= 16)
        .ok_or_else(|| {
            WebError::BadRequest(
                "The enrollment form was damaged. Reload the page and scan the new code.".into(),
            )
        })?;
    let Some(step) = totp::verify(&secret, &f.code, state.hisp.now(), None) else {
        return enroll_view(
            &state,
            &p,
            &secret,
            Some(
                "That code does not match. Check the app shows an entry for this account and enter its current 6-digit code.",
            ),
        );
    };
    let mut tx = state.hisp.store.begin().await?;
    st::set_totp(
        &mut tx,
        state.hisp.store.sealer(),
        p.user.id,
        Some(secret.as_bytes()),
    )
    .await?;
    st::spend_totp_step(&mut tx, p.user.id, step).await?;
    st::session_mfa_done(&mut tx, &p.token_hash).await?;
    state
        .hisp
        .audit(
            &mut tx,
            &p.user.username,
            "user.mfa.enroll",
            &p.user.username,
            "",
        )
        .await?;
    tx.commit().await?;
    Ok(Redirect::to("/").into_response())
}

async fn password_page(p: Pending) -> Result<Response, WebError> {
    if !p.session.mfa_done {
        return Ok(Redirect::to("/mfa").into_response());
    }
    Ok(render(
        "password.html",
        page! { csrf => &p.session.csrf, forced => p.user.must_change_password, error => None::<String> },
    )?
    .into_response())
}

/// The password form.
#[derive(Debug, Deserialize)]
pub struct Password {
    current: String,
    new: String,
    confirm: String,
    #[serde(default)]
    csrf: String,
}

async fn password(
    State(state): State<AppState>,
    p: Pending,
    Form(f): Form<Password>,
) -> Result<Response, WebError> {
    p.check_csrf(&f.csrf)?;
    if !p.session.mfa_done {
        return Ok(Redirect::to("/mfa").into_response());
    }
    let again = |msg: &str| -> Result<Response, WebError> {
        let page = render(
            "password.html",
            page! { csrf => &p.session.csrf, forced => p.user.must_change_password, error => msg },
        )?;
        Ok((StatusCode::BAD_REQUEST, page).into_response())
    };
    let mut conn = state.hisp.conn().await?;
    let hash = users::password_hash(&mut conn, &p.user.username)
        .await?
        .unwrap_or_default();
    drop(conn);
    let current = f.current.clone();
    let ok = crate::ops::blocking(move || Ok(verify_password(&current, &hash))).await?;
    if !ok {
        return again("The current password is wrong. Enter the password you signed in with.");
    }
    if f.new != f.confirm {
        return again("The two new passwords differ. Type the same new password twice.");
    }
    if let Err(e) = check_strength(&f.new) {
        return again(&e.to_string());
    }
    let new = f.new.clone();
    let hash = crate::ops::blocking(move || hash_password(&new)).await?;
    let mut tx = state.hisp.store.begin().await?;
    users::set_password(&mut tx, p.user.id, &hash, false).await?;
    state
        .hisp
        .audit(
            &mut tx,
            &p.user.username,
            "user.passwd",
            &p.user.username,
            "portal",
        )
        .await?;
    tx.commit().await?;
    Ok(Redirect::to("/").into_response())
}
