//! `/admin/users`: every login with its role, state, second factor and the
//! addresses it owns; adding a login without an address (an admin or a care
//! manager; `ops::user_add`), which shows the generated one-time password
//! once; and, for any user but oneself, resetting the password
//! (`ops::user_passwd`, a new one-time password shown once) or the second
//! factor. Both resets end the user's sessions, so whoever holds an old
//! session or an old authenticator is signed out.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::{Admin, Done, Once, fixable, once, respond};
use crate::store::users::{self, Role, UserRow};
use crate::store::{addresses, stats, web as st};
use crate::web::session::Viewer;
use crate::web::templates::page;
use crate::web::{AppState, WebError};

/// The user routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(list).post(add))
        .route("/admin/users/{id}/password", post(reset_password))
        .route("/admin/users/{id}/two-factor", post(reset_two_factor))
}

/// A user as listed.
#[derive(Debug, Serialize)]
struct UserView {
    #[serde(flatten)]
    user: UserRow,
    has_totp: bool,
    addresses: Vec<String>,
    is_me: bool,
}

async fn view(
    state: &AppState,
    v: &Viewer,
    ok: Option<&str>,
    error: Option<String>,
    typed: (&str, &str),
) -> Result<Response, WebError> {
    let mut conn = state.hisp.conn().await?;
    let totp = stats::users_with_totp(&mut conn).await?;
    let mut owned: HashMap<i64, Vec<String>> = HashMap::new();
    for a in addresses::list(&mut conn, None).await? {
        if let Some(uid) = a.owner_user_id {
            owned.entry(uid).or_default().push(a.address.to_string());
        }
    }
    let rows: Vec<UserView> = users::list(&mut conn)
        .await?
        .into_iter()
        .map(|u| UserView {
            has_totp: totp.contains(&u.id),
            addresses: owned.remove(&u.id).unwrap_or_default(),
            is_me: u.id == v.user.id,
            user: u,
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    respond(
        status,
        "admin_users.html",
        page! {
            nav => v.nav(),
            section => "users",
            rows => rows,
            ok => ok,
            error => error,
            username => typed.0,
            role => typed.1,
        },
    )
}

async fn list(
    State(state): State<AppState>,
    Admin(v): Admin,
    Query(done): Query<Done>,
) -> Result<Response, WebError> {
    view(&state, &v, done.message(), None, ("", "")).await
}

/// The add form.
#[derive(Debug, Deserialize)]
pub struct NewUser {
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    csrf: String,
}

async fn add(
    State(state): State<AppState>,
    Admin(v): Admin,
    Form(f): Form<NewUser>,
) -> Result<Response, WebError> {
    v.check_csrf(&f.csrf)?;
    let typed = (f.username.trim(), f.role.as_str());
    let role = match f.role.parse::<Role>() {
        Ok(r @ (Role::Admin | Role::CareManager)) => r,
        _ => {
            let msg = "Choose admin or care manager. A provider gets an address: issue one on the Addresses page.";
            return view(&state, &v, None, Some(msg.into()), typed).await;
        }
    };
    let (user, password) = match state
        .hisp
        .user_add(typed.0, role, None, &v.user.username)
        .await
    {
        Ok(done) => done,
        Err(e) => {
            let msg = fixable(e)?;
            return view(&state, &v, None, Some(msg), typed).await;
        }
    };
    once(
        &v,
        "users",
        &Once {
            title: "Login added",
            what: format!("{} was added as {}.", user.username, user.role),
            label: "One-time password",
            secret: password.as_deref().unwrap_or_default(),
            next: "Give it to the person over a channel you trust. At their first sign-in they choose their own password and set up two-factor sign-in if their role needs it. It is not shown again.",
            back: "/admin/users",
        },
    )
}

/// The user `id`, unless it is the admin acting (who has their own pages
/// for this, and would sign themselves out).
async fn other_user(state: &AppState, v: &Viewer, id: i64) -> Result<UserRow, String> {
    if id == v.user.id {
        return Err("This is your own account: change your password on the Password page and your authenticator on the Two-factor page.".into());
    }
    let mut conn = state
        .hisp
        .conn()
        .await
        .map_err(|_| "The user could not be read. Try again.".to_string())?;
    users::by_id(&mut conn, id)
        .await
        .map_err(|_| "That user does not exist any more. Reload the page.".to_string())
}

/// Where a reset form goes back to: the page it was on.
#[derive(Debug, Deserialize)]
pub struct Reset {
    #[serde(default)]
    back: String,
    #[serde(default)]
    csrf: String,
}

impl Reset {
    /// `/admin/addresses` or `/admin/users`; nothing else.
    fn back(&self) -> &'static str {
        if self.back == "addresses" {
            "/admin/addresses"
        } else {
            "/admin/users"
        }
    }
}

async fn reset_password(
    State(state): State<AppState>,
    Admin(v): Admin,
    Path(id): Path<i64>,
    Form(f): Form<Reset>,
) -> Result<Response, WebError> {
    v.check_csrf(&f.csrf)?;
    let user = match other_user(&state, &v, id).await {
        Ok(u) => u,
        Err(msg) => return view(&state, &v, None, Some(msg), ("", "")).await,
    };
    let password = state
        .hisp
        .user_passwd(&user.username, None, &v.user.username)
        .await?
        .unwrap_or_default();
    end_sessions(&state, &v, &user, "user.sessions.end", "password reset").await?;
    once(
        &v,
        "users",
        &Once {
            title: "Password reset",
            what: format!(
                "{} has a new one-time password and was signed out everywhere.",
                user.username
            ),
            label: "One-time password",
            secret: &password,
            next: "Give it to the person over a channel you trust. At their next sign-in they choose their own password. It is not shown again.",
            back: f.back(),
        },
    )
}

/// End every session of `user`, with an audit entry saying why.
async fn end_sessions(
    state: &AppState,
    v: &Viewer,
    user: &UserRow,
    action: &str,
    why: &str,
) -> Result<(), WebError> {
    let mut tx = state.hisp.store.begin().await?;
    let ended = st::delete_user_sessions(&mut tx, user.id).await?;
    state
        .hisp
        .audit(
            &mut tx,
            &v.user.username,
            action,
            &user.username,
            &format!("{why}; {ended} session(s) ended"),
        )
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn reset_two_factor(
    State(state): State<AppState>,
    Admin(v): Admin,
    Path(id): Path<i64>,
    Form(f): Form<Reset>,
) -> Result<Response, WebError> {
    v.check_csrf(&f.csrf)?;
    let user = match other_user(&state, &v, id).await {
        Ok(u) => u,
        Err(msg) => return view(&state, &v, None, Some(msg), ("", "")).await,
    };
    let mut tx = state.hisp.store.begin().await?;
    st::set_totp(&mut tx, state.hisp.store.sealer(), user.id, None).await?;
    let ended = st::delete_user_sessions(&mut tx, user.id).await?;
    state
        .hisp
        .audit(
            &mut tx,
            &v.user.username,
            "user.mfa.reset",
            &user.username,
            &format!("{ended} session(s) ended"),
        )
        .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("{}?done=mfa-reset", f.back())).into_response())
}
