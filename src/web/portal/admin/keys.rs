//! `/admin/api-keys`: API keys for integrators. Creating one (a name, a
//! role, and for a provider or care-manager key the addresses it may act
//! for) shows the key once; the store keeps only its SHA-256. Keys are
//! listed with their scope and last use, and revoked. Creating and revoking
//! are audited in the same transaction as the change.

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::{Admin, CsrfOnly, Done, Once, once, respond};
use crate::direct::DirectAddress;
use crate::store::users::Role;
use crate::store::{addresses, web as st};
use crate::web::session::{Viewer, new_api_key};
use crate::web::templates::page;
use crate::web::{AppState, WebError};

/// The API key routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/api-keys", get(list).post(create))
        .route("/admin/api-keys/{id}/revoke", post(revoke))
}

/// What the create form had in it.
#[derive(Debug, Default, Serialize)]
struct Typed {
    name: String,
    role: String,
    addresses: String,
}

async fn view(
    state: &AppState,
    v: &Viewer,
    ok: Option<&str>,
    error: Option<String>,
    typed: Typed,
) -> Result<Response, WebError> {
    let mut conn = state.hisp.conn().await?;
    let keys = st::api_keys(&mut conn).await?;
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    respond(
        status,
        "admin_keys.html",
        page! {
            nav => v.nav(),
            section => "keys",
            keys => keys,
            ok => ok,
            error => error,
            typed => typed,
        },
    )
}

async fn list(
    State(state): State<AppState>,
    Admin(v): Admin,
    Query(done): Query<Done>,
) -> Result<Response, WebError> {
    view(&state, &v, done.message(), None, Typed::default()).await
}

/// The create form.
#[derive(Debug, Deserialize)]
pub struct NewKey {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    /// Direct addresses separated by spaces, commas or new lines.
    #[serde(default)]
    addresses: String,
    #[serde(default)]
    csrf: String,
}

/// The key's name, role and addresses, or what to tell the admin.
async fn check(state: &AppState, t: &Typed) -> Result<(Role, Vec<String>), WebError> {
    let bad = |m: String| Err(WebError::BadRequest(m));
    if t.name.is_empty() || t.name.len() > 100 || t.name.chars().any(char::is_control) {
        return bad("Name the key after what will use it (at most 100 characters), such as 'EHR interface'.".into());
    }
    let Ok(role) = t.role.parse::<Role>() else {
        return bad("Choose the key's role: provider, care manager or admin.".into());
    };
    let mut scope: Vec<String> = Vec::new();
    let mut conn = state.hisp.conn().await?;
    for word in t
        .addresses
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        let Ok(addr) = DirectAddress::parse(word) else {
            return bad(format!(
                "'{word}' is not a Direct address. List the addresses the key acts for, one per line."
            ));
        };
        if addresses::find(&mut conn, &addr).await?.is_none() {
            return bad(format!(
                "{addr} is not an address on this HISP. A key can only act for addresses issued here."
            ));
        }
        if !scope.contains(&addr.to_string()) {
            scope.push(addr.to_string());
        }
    }
    match (role, scope.is_empty()) {
        (Role::Admin, false) => bad(
            "An admin key acts for every address: leave the addresses empty, or choose another role."
                .into(),
        ),
        (Role::Provider | Role::CareManager, true) => {
            bad("List the addresses this key may act for (at least one).".into())
        }
        _ => Ok((role, scope)),
    }
}

async fn create(
    State(state): State<AppState>,
    Admin(v): Admin,
    Form(f): Form<NewKey>,
) -> Result<Response, WebError> {
    v.check_csrf(&f.csrf)?;
    let typed = Typed {
        name: f.name.trim().to_string(),
        role: f.role.trim().to_string(),
        addresses: f.addresses.trim().to_string(),
    };
    let (role, scope) = match check(&state, &typed).await {
        Ok(ok) => ok,
        Err(WebError::BadRequest(msg)) => return view(&state, &v, None, Some(msg), typed).await,
        Err(e) => return Err(e),
    };
    let (key, hash) = new_api_key()?;
    let now = state.hisp.now();
    let mut tx = state.hisp.store.begin().await?;
    let row = st::insert_api_key(
        &mut tx,
        &hash,
        &typed.name,
        role,
        &scope,
        &v.user.username,
        now,
    )
    .await?;
    let detail = format!("{} role={} addresses={}", row.name, role, scope.join(" "));
    state
        .hisp
        .audit(
            &mut tx,
            &v.user.username,
            "apikey.create",
            &format!("api key #{}", row.id),
            &detail,
        )
        .await?;
    tx.commit().await?;
    once(
        &v,
        "keys",
        &Once {
            title: "API key created",
            what: format!("Key #{} '{}' ({role}) was created.", row.id, row.name),
            label: "API key",
            secret: &key,
            next: "Copy it now into the system that will use it. Only its hash is stored: it cannot be shown again. If it is lost, revoke it and create another.",
            back: "/admin/api-keys",
        },
    )
}

async fn revoke(
    State(state): State<AppState>,
    Admin(v): Admin,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    v.check_csrf(&f.csrf)?;
    let mut tx = state.hisp.store.begin().await?;
    let key = st::api_key(&mut tx, id).await?;
    if !st::revoke_api_key(&mut tx, id, state.hisp.now()).await? {
        tx.rollback().await?;
        let msg = format!("Key #{id} was revoked already.");
        return view(&state, &v, None, Some(msg), Typed::default()).await;
    }
    state
        .hisp
        .audit(
            &mut tx,
            &v.user.username,
            "apikey.revoke",
            &format!("api key #{id}"),
            &key.name,
        )
        .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/api-keys?done=key-revoked").into_response())
}
