//! `/admin/trust`: each domain's trust anchors, per direction (incoming: the
//! senders we accept; outgoing: the recipients we encrypt to), added by
//! uploading a PEM or DER certificate (`ops::anchor_add`) and removed
//! (`ops::anchor_remove`); and the trust bundles with their last refresh
//! status and times, added by URL (`ops::bundle_add`, which loads it once),
//! refreshed now (`ops::bundle_refresh_one`) and removed
//! (`ops::bundle_remove`).
//!
//! Two limits the command line does not have: a bundle is fetched only from
//! an http(s) URL (the portal never makes the server read one of its own
//! files), and this HISP's own CA is not removed from here (that would stop
//! local mail for the domain).

use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Form, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use openssl::x509::X509;
use serde::{Deserialize, Serialize};

use super::{Admin, CsrfOnly, Done, checked, fixable, respond};
use crate::direct::Domain;
use crate::ops::trust::{BundleSpec, Refreshed};
use crate::store::anchors::{self, BundleRow};
use crate::web::session::Viewer;
use crate::web::templates::page;
use crate::web::{AppState, WebError};

/// The largest certificate file accepted.
const MAX_CERT_BYTES: usize = 256 * 1024;

/// The trust routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/trust", get(list))
        .route("/admin/trust/anchors", post(anchor_add))
        .route("/admin/trust/anchors/{id}/remove", post(anchor_remove))
        .route("/admin/trust/bundles", post(bundle_add))
        .route("/admin/trust/bundles/{id}/refresh", post(bundle_refresh))
        .route("/admin/trust/bundles/{id}/remove", post(bundle_remove))
}

/// An anchor as listed.
#[derive(Debug, Serialize)]
struct AnchorView {
    id: i64,
    domain: String,
    subject: String,
    fingerprint: String,
    incoming: bool,
    outgoing: bool,
    /// The bundle's URL when a bundle supplied it.
    bundle: Option<String>,
    /// This HISP's own CA.
    ours: bool,
    created_at: i64,
}

/// A bundle as listed.
#[derive(Debug, Serialize)]
struct BundleView {
    id: i64,
    domain: String,
    url: String,
    incoming: bool,
    outgoing: bool,
    refresh_hours: i64,
    status: String,
    last_attempt: Option<i64>,
    last_success: Option<i64>,
    anchors: usize,
    signed: bool,
}

impl BundleView {
    fn new(b: BundleRow, anchors: usize) -> Self {
        BundleView {
            id: b.id,
            domain: b.domain,
            url: b.url,
            incoming: b.incoming,
            outgoing: b.outgoing,
            refresh_hours: b.refresh_secs / 3600,
            status: b.status,
            last_attempt: b.last_attempt,
            last_success: b.last_success,
            anchors,
            signed: b.signer_der.is_some(),
        }
    }
}

/// What a page shows besides the lists.
#[derive(Debug, Default)]
struct Notice {
    ok: Option<String>,
    error: Option<String>,
}

async fn view(state: &AppState, v: &Viewer, n: Notice) -> Result<Response, WebError> {
    let ca = ca_fingerprint(state).await?;
    let bundles = state.hisp.bundle_list().await?;
    let anchors: Vec<AnchorView> = state
        .hisp
        .anchor_list(None)
        .await?
        .into_iter()
        .map(|a| AnchorView {
            ours: a.bundle_id.is_none() && a.fingerprint == ca,
            bundle: a
                .bundle_id
                .and_then(|id| bundles.iter().find(|b| b.id == id))
                .map(|b| b.url.clone()),
            id: a.id,
            domain: a.domain,
            subject: a.subject,
            fingerprint: a.fingerprint,
            incoming: a.incoming,
            outgoing: a.outgoing,
            created_at: a.created_at,
        })
        .collect();
    let bundles: Vec<BundleView> = bundles
        .into_iter()
        .map(|b| {
            let n = anchors
                .iter()
                .filter(|a| a.bundle.as_deref() == Some(b.url.as_str()) && a.domain == b.domain)
                .count();
            BundleView::new(b, n)
        })
        .collect();
    let domains: Vec<String> = state
        .hisp
        .domain_list()
        .await?
        .into_iter()
        .map(|d| d.name.to_string())
        .collect();
    let status = if n.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    respond(
        status,
        "admin_trust.html",
        page! {
            nav => v.nav(),
            section => "trust",
            anchors => anchors,
            bundles => bundles,
            domains => domains,
            ok => n.ok,
            error => n.error,
        },
    )
}

async fn list(
    State(state): State<AppState>,
    Admin(v): Admin,
    Query(done): Query<Done>,
) -> Result<Response, WebError> {
    let ok = done.message().map(str::to_string);
    view(&state, &v, Notice { ok, error: None }).await
}

async fn again(state: &AppState, v: &Viewer, msg: String) -> Result<Response, WebError> {
    view(
        state,
        v,
        Notice {
            ok: None,
            error: Some(msg),
        },
    )
    .await
}

/// The SHA-256 fingerprint of this HISP's CA (as anchors are named).
async fn ca_fingerprint(state: &AppState) -> Result<String, WebError> {
    let ca = state.hisp.ca_cert().await?;
    Ok(crate::pki::fingerprint(&ca))
}

/// A served domain named in a form.
fn domain_of(text: &str) -> Result<Domain, String> {
    Domain::parse(text.trim()).map_err(|_| "Choose the domain this trust is for.".to_string())
}

/// The upload form's fields.
#[derive(Debug, Default)]
struct AnchorUpload {
    csrf: String,
    domain: String,
    incoming: bool,
    outgoing: bool,
    file: Vec<u8>,
}

async fn read_upload(mut form: Multipart) -> Result<AnchorUpload, WebError> {
    let mut up = AnchorUpload::default();
    let unreadable =
        |e: String| WebError::BadRequest(format!("The form could not be read ({e}). Try again."));
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| unreadable(e.to_string()))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let data = field.bytes().await.map_err(|e| unreadable(e.to_string()))?;
        let text = || String::from_utf8_lossy(&data).trim().to_string();
        match name.as_str() {
            "csrf" => up.csrf = text(),
            "domain" => up.domain = text(),
            "incoming" => up.incoming = !data.is_empty(),
            "outgoing" => up.outgoing = !data.is_empty(),
            "certificate" if data.len() > MAX_CERT_BYTES => {
                return Err(WebError::BadRequest(
                    "That file is too large for a certificate. Upload the anchor's certificate alone (PEM or DER).".into(),
                ));
            }
            "certificate" => up.file = data.to_vec(),
            _ => {}
        }
    }
    Ok(up)
}

async fn anchor_add(
    State(state): State<AppState>,
    Admin(v): Admin,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, WebError> {
    let form = form.map_err(|_| {
        WebError::BadRequest("The upload could not be read. Choose the file again.".into())
    })?;
    let up = read_upload(form).await?;
    v.check_csrf(&up.csrf)?;
    let domain = match domain_of(&up.domain) {
        Ok(d) => d,
        Err(msg) => return again(&state, &v, msg).await,
    };
    if !up.incoming && !up.outgoing {
        let msg = "Tick incoming, outgoing or both: which mail this anchor is trusted for.";
        return again(&state, &v, msg.into()).await;
    }
    let Ok(cert) = X509::from_pem(&up.file).or_else(|_| X509::from_der(&up.file)) else {
        let msg = "That file is not a certificate. Upload the anchor as a PEM (.pem, .crt) or DER (.cer, .der) file.";
        return again(&state, &v, msg.into()).await;
    };
    match state
        .hisp
        .anchor_add(&domain, &cert, up.incoming, up.outgoing, &v.user.username)
        .await
    {
        Ok(_) => Ok(Redirect::to("/admin/trust?done=anchor-added").into_response()),
        Err(e) => again(&state, &v, fixable(e)?).await,
    }
}

async fn anchor_remove(
    State(state): State<AppState>,
    Admin(v): Admin,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    v.check_csrf(&f.csrf)?;
    let mut conn = state.hisp.conn().await?;
    let row = anchors::by_id(&mut conn, id).await?;
    drop(conn);
    let ca = ca_fingerprint(&state).await?;
    let refusal = if row.bundle_id.is_some() {
        Some("This anchor comes from a trust bundle. Remove the bundle to remove its anchors.")
    } else if row.fingerprint == ca {
        Some(
            "This is this HISP's own CA: without it the domain's own mail is not trusted. It can only be removed from the command line.",
        )
    } else {
        None
    };
    if let Some(msg) = refusal {
        return again(&state, &v, msg.into()).await;
    }
    let domain = Domain::parse(&row.domain).map_err(crate::ops::OpsError::from)?;
    match state
        .hisp
        .anchor_remove(&domain, &row.fingerprint, &v.user.username)
        .await
    {
        Ok(_) => Ok(Redirect::to("/admin/trust?done=anchor-removed").into_response()),
        Err(e) => again(&state, &v, fixable(e)?).await,
    }
}

/// The bundle form.
#[derive(Debug, Deserialize)]
pub struct NewBundle {
    #[serde(default)]
    domain: String,
    #[serde(default)]
    url: String,
    incoming: Option<String>,
    outgoing: Option<String>,
    #[serde(default)]
    refresh_hours: String,
    #[serde(default)]
    csrf: String,
}

/// The longest refresh interval accepted, hours (a year).
const MAX_REFRESH_HOURS: i64 = 24 * 366;

/// Check the bundle form: (domain, hours between refreshes).
fn check_bundle(f: &NewBundle) -> Result<(Domain, i64), String> {
    let domain = domain_of(&f.domain)?;
    let url = f.url.trim();
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if !scheme_ok || url.len() > 2048 || url.chars().any(char::is_whitespace) {
        return Err(
            "Enter the bundle's http:// or https:// URL, as its publisher gives it.".into(),
        );
    }
    if !checked(&f.incoming) && !checked(&f.outgoing) {
        return Err(
            "Tick incoming, outgoing or both: which mail the bundle's anchors are trusted for."
                .into(),
        );
    }
    let hours = match f.refresh_hours.trim() {
        "" => 24,
        h => h
            .parse::<i64>()
            .ok()
            .filter(|h| (0..=MAX_REFRESH_HOURS).contains(h))
            .ok_or_else(|| {
                "Enter the hours between refreshes as a whole number (24 is daily; 0 refreshes only when you ask).".to_string()
            })?,
    };
    Ok((domain, hours))
}

/// What a refresh did, in words.
fn outcome(url: &str, r: &Refreshed) -> Notice {
    match r {
        Refreshed::Loaded(n) => Notice {
            ok: Some(format!("{url}: loaded {n} anchor(s).")),
            error: None,
        },
        Refreshed::Unchanged => Notice {
            ok: Some(format!(
                "{url}: unchanged since the last refresh; its anchors stay."
            )),
            error: None,
        },
        Refreshed::Failed(e) => Notice {
            ok: None,
            error: Some(format!(
                "{url} could not be loaded ({e}). Any anchors it loaded before are kept; check the URL with its publisher."
            )),
        },
    }
}

async fn bundle_add(
    State(state): State<AppState>,
    Admin(v): Admin,
    Form(f): Form<NewBundle>,
) -> Result<Response, WebError> {
    v.check_csrf(&f.csrf)?;
    let (domain, hours) = match check_bundle(&f) {
        Ok(ok) => ok,
        Err(msg) => return again(&state, &v, msg).await,
    };
    let spec = BundleSpec {
        url: f.url.trim(),
        incoming: checked(&f.incoming),
        outgoing: checked(&f.outgoing),
        refresh_secs: hours * 3600,
        signer: None,
    };
    match state
        .hisp
        .bundle_add(&domain, &spec, &v.user.username)
        .await
    {
        Ok((row, r)) => {
            let mut n = outcome(&row.url, &r);
            if n.error.is_some() {
                // The bundle was added; only its first load failed.
                n.ok = Some(format!("{} was added for {}.", row.url, row.domain));
            }
            settled(view(&state, &v, n).await)
        }
        Err(e) => again(&state, &v, fixable(e)?).await,
    }
}

async fn bundle_refresh(
    State(state): State<AppState>,
    Admin(v): Admin,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    v.check_csrf(&f.csrf)?;
    let mut conn = state.hisp.conn().await?;
    let row = anchors::bundle_by_id(&mut conn, id).await?;
    drop(conn);
    let r = state
        .hisp
        .bundle_refresh_one(&row, false, &v.user.username)
        .await?;
    // The refresh audits only a load; record who asked, and the outcome.
    let said = match &r {
        Refreshed::Loaded(n) => format!("loaded {n}"),
        Refreshed::Unchanged => "unchanged".into(),
        Refreshed::Failed(e) => e.status.as_str().to_string(),
    };
    let mut tx = state.hisp.store.begin().await?;
    state
        .hisp
        .audit(
            &mut tx,
            &v.user.username,
            "bundle.refresh.request",
            &row.domain,
            &format!("{} {said}", row.url),
        )
        .await?;
    tx.commit().await?;
    settled(view(&state, &v, outcome(&row.url, &r)).await)
}

/// A page reporting a fetch that was done (200, even when the bundle did not
/// load: the request itself succeeded, and the page says what failed).
fn settled(page: Result<Response, WebError>) -> Result<Response, WebError> {
    let mut resp = page?;
    *resp.status_mut() = StatusCode::OK;
    Ok(resp)
}

async fn bundle_remove(
    State(state): State<AppState>,
    Admin(v): Admin,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    v.check_csrf(&f.csrf)?;
    state.hisp.bundle_remove(id, &v.user.username).await?;
    Ok(Redirect::to("/admin/trust?done=bundle-removed").into_response())
}
