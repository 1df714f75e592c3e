//! The administrator's API, mirroring the CLI: domains, addresses (issue,
//! disable), certificates, trust anchors, bundles (list, refresh) and API
//! keys (create, list, revoke). Each change goes through the ops layer (or,
//! for keys, one transaction here) with its audit entry.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Admin;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::problem::{Kind, Problem};
use crate::direct::{DirectAddress, Domain};
use crate::ops::address::NewAddress;
use crate::ops::trust::Refreshed;
use crate::store::addresses::AddressRow;
use crate::store::anchors::{self, AnchorRow, BundleRow};
use crate::store::certs::CertRow;
use crate::store::users::Role;
use crate::store::web as st;
use crate::web::AppState;
use crate::web::session;

/// A served domain.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainInfo {
    /// The domain name.
    pub name: String,
    /// When added (Unix seconds).
    pub created_at: i64,
}

/// Every served domain.
#[utoipa::path(
    get, path = "/api/v1/domains", tag = "admin", operation_id = "list_domains",
    responses((status = 200, description = "Served domains", body = [DomainInfo]))
)]
pub async fn domains(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<DomainInfo>>, Problem> {
    let rows = state.hisp.domain_list().await?;
    Ok(Json(
        rows.into_iter()
            .map(|d| DomainInfo {
                name: d.name.to_string(),
                created_at: d.created_at,
            })
            .collect(),
    ))
}

/// A domain to serve.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewDomain {
    /// The domain name.
    #[schema(example = "second.example.org", format = Hostname)]
    pub name: String,
}

/// A new domain with its organization-bound certificates.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainAdded {
    /// The domain.
    pub domain: DomainInfo,
    /// Its certificates.
    pub certificates: Vec<Certificate>,
}

fn domain_of(field: &str, s: &str) -> Result<Domain, Problem> {
    Domain::parse(s.trim()).map_err(|e| Problem::field(field, e))
}

/// Serve a new domain (issues its organization-bound certificates).
#[utoipa::path(
    post, path = "/api/v1/domains", tag = "admin", operation_id = "add_domain",
    request_body(content = NewDomain, content_type = "application/json"),
    responses((status = 201, description = "Added", body = DomainAdded))
)]
pub async fn domain_add(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiJson(d): ApiJson<NewDomain>,
) -> Result<(StatusCode, Json<DomainAdded>), Problem> {
    let name = domain_of("name", &d.name)?;
    {
        let mut conn = state.hisp.conn().await?;
        if crate::store::domains::find(&mut conn, &name)
            .await?
            .is_some()
        {
            return Err(Problem::new(
                Kind::Conflict,
                format!("{name} is served already."),
            ));
        }
    }
    let (row, certs) = state.hisp.domain_add(&name, &caller.actor).await?;
    let now = state.hisp.now();
    Ok((
        StatusCode::CREATED,
        Json(DomainAdded {
            domain: DomainInfo {
                name: row.name.to_string(),
                created_at: row.created_at,
            },
            certificates: certs.iter().map(|c| Certificate::of(c, now)).collect(),
        }),
    ))
}

/// Which domain.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DomainFilter {
    /// Only this domain.
    #[param(format = Hostname, example = "direct.example.org")]
    pub domain: Option<String>,
}

fn filter(d: Option<&str>) -> Result<Option<Domain>, Problem> {
    match d.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Domain::parse(s)
            .map(Some)
            .map_err(|e| Problem::bad(format!("domain: {e}"))),
        None => Ok(None),
    }
}

/// A Direct address.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddressInfo {
    /// The address.
    pub address: String,
    /// Its domain.
    pub domain: String,
    /// The person's or service's name.
    pub display_name: Option<String>,
    /// False once disabled.
    pub enabled: bool,
    /// When issued (Unix seconds).
    pub created_at: i64,
}

impl From<AddressRow> for AddressInfo {
    fn from(a: AddressRow) -> Self {
        Self {
            domain: a.address.domain().to_string(),
            address: a.address.to_string(),
            display_name: a.display_name,
            enabled: a.enabled,
            created_at: a.created_at,
        }
    }
}

/// Every address (of one domain).
#[utoipa::path(
    get, path = "/api/v1/addresses", tag = "admin", operation_id = "list_addresses", params(DomainFilter),
    responses((status = 200, description = "Addresses", body = [AddressInfo]))
)]
pub async fn addresses(
    State(state): State<AppState>,
    _: Admin,
    ApiQuery(q): ApiQuery<DomainFilter>,
) -> Result<Json<Vec<AddressInfo>>, Problem> {
    let domain = filter(q.domain.as_deref())?;
    let rows = state.hisp.address_list(domain.as_ref()).await?;
    Ok(Json(rows.into_iter().map(AddressInfo::from).collect()))
}

/// A role.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ApiRole {
    /// Reads and sends mail for its addresses.
    Provider,
    /// A provider who also has alerts, rosters and consent.
    CareManager,
    /// Everything.
    Admin,
}

impl From<ApiRole> for Role {
    fn from(r: ApiRole) -> Self {
        match r {
            ApiRole::Provider => Role::Provider,
            ApiRole::CareManager => Role::CareManager,
            ApiRole::Admin => Role::Admin,
        }
    }
}

impl From<Role> for ApiRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Provider => ApiRole::Provider,
            Role::CareManager => ApiRole::CareManager,
            Role::Admin => ApiRole::Admin,
        }
    }
}

/// An address to issue, with the login that owns it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewAddressRequest {
    /// The address, at a served domain.
    #[schema(example = "new@direct.example.org", format = Email)]
    pub address: String,
    /// The person's or service's name (the certificate's CN).
    #[schema(min_length = 1, max_length = 128)]
    pub name: Option<String>,
    /// The login's role (default provider).
    pub role: Option<ApiRole>,
    /// A chosen password; by default a one-time password is generated.
    pub password: Option<String>,
    /// Issue separate signing and encryption certificates.
    pub single_use: Option<bool>,
}

/// An issued address.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddressIssued {
    /// The address.
    pub address: AddressInfo,
    /// The login that owns it.
    pub username: String,
    /// Its role.
    pub role: ApiRole,
    /// Its certificates.
    pub certificates: Vec<Certificate>,
    /// The generated one-time password (shown once; the user must change it).
    pub generated_password: Option<String>,
}

/// Issue a Direct address (its login and certificates).
#[utoipa::path(
    post, path = "/api/v1/addresses", tag = "admin", operation_id = "add_address",
    request_body(content = NewAddressRequest, content_type = "application/json"),
    responses((status = 201, description = "Issued", body = AddressIssued))
)]
pub async fn address_add(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiJson(a): ApiJson<NewAddressRequest>,
) -> Result<(StatusCode, Json<AddressIssued>), Problem> {
    let address =
        DirectAddress::parse(a.address.trim()).map_err(|e| Problem::field("address", e))?;
    let name = a.name.map(|n| n.trim().to_string());
    if name
        .as_ref()
        .is_some_and(|n| n.is_empty() || n.chars().count() > 128 || n.chars().any(char::is_control))
    {
        return Err(Problem::field(
            "name",
            "give 1 to 128 printable characters, or leave it out",
        ));
    }
    let req = NewAddress {
        address,
        name,
        role: a.role.map_or(Role::Provider, Role::from),
        password: a.password,
        single_use: a.single_use,
    };
    let done = state.hisp.address_add(req, &caller.actor).await?;
    let now = state.hisp.now();
    Ok((
        StatusCode::CREATED,
        Json(AddressIssued {
            username: done.user.username.clone(),
            role: done.user.role.into(),
            certificates: done.certs.iter().map(|c| Certificate::of(c, now)).collect(),
            address: done.address.into(),
            generated_password: done.generated_password,
        }),
    ))
}

/// Disable an address (and the login that owns only it).
#[utoipa::path(
    post, path = "/api/v1/addresses/{address}/disable", tag = "admin", operation_id = "disable_address",
    params(("address" = String, Path, description = "The address", example = "new@direct.example.org")),
    responses((status = 200, description = "Disabled", body = AddressInfo))
)]
pub async fn address_disable(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(address): ApiPath<String>,
) -> Result<Json<AddressInfo>, Problem> {
    switch_address(&state, &caller.actor, &address, false).await
}

/// Enable a disabled address again, with its login. Alerts resume with the
/// next event; its roster was kept.
#[utoipa::path(
    post, path = "/api/v1/addresses/{address}/enable", tag = "admin", operation_id = "enable_address",
    params(("address" = String, Path, description = "The address", example = "new@direct.example.org")),
    responses((status = 200, description = "Enabled", body = AddressInfo))
)]
pub async fn address_enable(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(address): ApiPath<String>,
) -> Result<Json<AddressInfo>, Problem> {
    switch_address(&state, &caller.actor, &address, true).await
}

/// Disable or enable `address`; 409 when it already is.
async fn switch_address(
    state: &AppState,
    actor: &str,
    address: &str,
    enable: bool,
) -> Result<Json<AddressInfo>, Problem> {
    let addr =
        DirectAddress::parse(address.trim()).map_err(|_| Problem::not_found("such address"))?;
    let done = if enable {
        state.hisp.address_enable(&addr, actor).await
    } else {
        state.hisp.address_disable(&addr, actor).await
    };
    match done {
        Ok(()) => {}
        Err(crate::ops::OpsError::Invalid(msg)) => return Err(Problem::new(Kind::Conflict, msg)),
        Err(e) => return Err(e.into()),
    }
    let shown = state.hisp.address_show(&addr).await?;
    Ok(Json(shown.address.into()))
}

/// A certificate.
#[derive(Debug, Serialize, ToSchema)]
pub struct Certificate {
    /// Its id.
    pub id: i64,
    /// The address or domain it binds.
    pub owner: String,
    /// dual, signing or encryption.
    pub usage: String,
    /// builtin or imported.
    pub source: String,
    /// Serial, hex.
    pub serial: String,
    /// SHA-256 fingerprint, hex.
    pub fingerprint: String,
    /// Subject.
    pub subject: String,
    /// Valid from (Unix seconds).
    pub not_before: i64,
    /// Valid until (Unix seconds).
    pub not_after: i64,
    /// valid, revoked, expired or not yet valid.
    pub status: String,
    /// When revoked.
    pub revoked_at: Option<i64>,
    /// Why revoked.
    pub revocation_reason: Option<String>,
}

impl Certificate {
    fn of(c: &CertRow, now: i64) -> Self {
        Self {
            id: c.id,
            owner: c.owner.clone(),
            usage: c.usage.clone(),
            source: c.source.clone(),
            serial: c.serial.clone(),
            fingerprint: c.fingerprint.clone(),
            subject: c.subject.clone(),
            not_before: c.not_before,
            not_after: c.not_after,
            status: c.status(now).to_string(),
            revoked_at: c.revoked_at,
            revocation_reason: c.revocation_reason.clone(),
        }
    }
}

/// Every certificate.
#[utoipa::path(
    get, path = "/api/v1/certificates", tag = "admin", operation_id = "list_certificates",
    responses((status = 200, description = "Certificates", body = [Certificate]))
)]
pub async fn certificates(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<Certificate>>, Problem> {
    let now = state.hisp.now();
    let rows = state.hisp.cert_list().await?;
    Ok(Json(rows.iter().map(|c| Certificate::of(c, now)).collect()))
}

/// A trust anchor.
#[derive(Debug, Serialize, ToSchema)]
pub struct Anchor {
    /// Its id.
    pub id: i64,
    /// The domain whose anchor it is.
    pub domain: String,
    /// Subject.
    pub subject: String,
    /// SHA-256 fingerprint, hex.
    pub fingerprint: String,
    /// Trusted for senders whose mail we receive.
    pub incoming: bool,
    /// Trusted for recipients we send to.
    pub outgoing: bool,
    /// The bundle it came from (none when added by hand).
    pub bundle_id: Option<i64>,
    /// When added (Unix seconds).
    pub created_at: i64,
}

impl From<AnchorRow> for Anchor {
    fn from(a: AnchorRow) -> Self {
        Self {
            id: a.id,
            domain: a.domain,
            subject: a.subject,
            fingerprint: a.fingerprint,
            incoming: a.incoming,
            outgoing: a.outgoing,
            bundle_id: a.bundle_id,
            created_at: a.created_at,
        }
    }
}

/// Trust anchors (of one domain).
#[utoipa::path(
    get, path = "/api/v1/anchors", tag = "admin", operation_id = "list_anchors", params(DomainFilter),
    responses((status = 200, description = "Anchors", body = [Anchor]))
)]
pub async fn anchors(
    State(state): State<AppState>,
    _: Admin,
    ApiQuery(q): ApiQuery<DomainFilter>,
) -> Result<Json<Vec<Anchor>>, Problem> {
    let domain = filter(q.domain.as_deref())?;
    let rows = state.hisp.anchor_list(domain.as_ref()).await?;
    Ok(Json(rows.into_iter().map(Anchor::from).collect()))
}

/// An anchor to add by hand.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewAnchor {
    /// The domain that trusts it.
    #[schema(example = "direct.example.org", format = Hostname)]
    pub domain: String,
    /// The CA certificate, PEM.
    pub certificate_pem: String,
    /// Trust it for incoming mail (with `outgoing`; both when neither is given).
    #[serde(default)]
    pub incoming: bool,
    /// Trust it for outgoing mail.
    #[serde(default)]
    pub outgoing: bool,
}

/// Add (or widen) a trust anchor.
#[utoipa::path(
    post, path = "/api/v1/anchors", tag = "admin", operation_id = "add_anchor",
    request_body(content = NewAnchor, content_type = "application/json"),
    responses((status = 201, description = "Added", body = Anchor))
)]
pub async fn anchor_add(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiJson(a): ApiJson<NewAnchor>,
) -> Result<(StatusCode, Json<Anchor>), Problem> {
    let domain = domain_of("domain", &a.domain)?;
    let cert = openssl::x509::X509::from_pem(a.certificate_pem.as_bytes())
        .map_err(|_| Problem::field("certificate_pem", "is not a PEM certificate"))?;
    let (incoming, outgoing) = if a.incoming || a.outgoing {
        (a.incoming, a.outgoing)
    } else {
        (true, true)
    };
    let row = state
        .hisp
        .anchor_add(&domain, &cert, incoming, outgoing, &caller.actor)
        .await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// A trust bundle.
#[derive(Debug, Serialize, ToSchema)]
pub struct Bundle {
    /// Its id.
    pub id: i64,
    /// The domain that trusts it.
    pub domain: String,
    /// Where it is fetched from.
    pub url: String,
    /// Its anchors join the incoming set.
    pub incoming: bool,
    /// Its anchors join the outgoing set.
    pub outgoing: bool,
    /// Refresh interval, seconds (0: by hand only).
    pub refresh_secs: i64,
    /// SUCCESS or the last failure's status.
    pub status: String,
    /// Thumbprint of the last loaded content.
    pub thumbprint: Option<String>,
    /// Last attempt (Unix seconds).
    pub last_attempt: Option<i64>,
    /// Last success (Unix seconds).
    pub last_success: Option<i64>,
    /// When added (Unix seconds).
    pub created_at: i64,
}

impl From<BundleRow> for Bundle {
    fn from(b: BundleRow) -> Self {
        Self {
            id: b.id,
            domain: b.domain,
            url: b.url,
            incoming: b.incoming,
            outgoing: b.outgoing,
            refresh_secs: b.refresh_secs,
            status: b.status,
            thumbprint: b.thumbprint,
            last_attempt: b.last_attempt,
            last_success: b.last_success,
            created_at: b.created_at,
        }
    }
}

/// Every trust bundle with its refresh status.
#[utoipa::path(
    get, path = "/api/v1/bundles", tag = "admin", operation_id = "list_bundles",
    responses((status = 200, description = "Bundles", body = [Bundle]))
)]
pub async fn bundles(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<Bundle>>, Problem> {
    let rows = state.hisp.bundle_list().await?;
    Ok(Json(rows.into_iter().map(Bundle::from).collect()))
}

/// What a refresh did.
#[derive(Debug, Serialize, ToSchema)]
pub struct BundleRefreshed {
    /// loaded, unchanged or failed.
    pub outcome: String,
    /// Anchors loaded (for `loaded`).
    pub anchors: Option<u64>,
    /// Why it failed (the previous anchors are kept).
    pub error: Option<String>,
    /// The bundle as it is now.
    pub bundle: Bundle,
}

/// Fetch a bundle now (an unchanged one is left as it is).
#[utoipa::path(
    post, path = "/api/v1/bundles/{id}/refresh", tag = "admin", operation_id = "refresh_bundle",
    params(("id" = i64, Path, description = "The bundle's id", example = 1)),
    responses((status = 200, description = "Refreshed (or failed, as `outcome` says)", body = BundleRefreshed))
)]
pub async fn bundle_refresh(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<BundleRefreshed>, Problem> {
    let row = {
        let mut conn = state.hisp.conn().await?;
        match anchors::bundle_by_id(&mut conn, id).await {
            Ok(r) => r,
            Err(crate::store::StoreError::NotFound(_)) => return Err(Problem::not_found("bundle")),
            Err(e) => return Err(e.into()),
        }
    };
    let outcome = state
        .hisp
        .bundle_refresh_one(&row, false, &caller.actor)
        .await?;
    let (outcome, n, error) = match outcome {
        Refreshed::Loaded(n) => ("loaded", u64::try_from(n).ok(), None),
        Refreshed::Unchanged => ("unchanged", None, None),
        Refreshed::Failed(e) => (
            "failed",
            None,
            Some(format!("{}: {}", e.status.as_str(), e.why)),
        ),
    };
    let mut conn = state.hisp.conn().await?;
    let now = anchors::bundle_by_id(&mut conn, id).await?;
    Ok(Json(BundleRefreshed {
        outcome: outcome.into(),
        anchors: n,
        error,
        bundle: now.into(),
    }))
}

/// An API key (never the key itself).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKey {
    /// Its id.
    pub id: i64,
    /// What it is for.
    pub name: String,
    /// What it may do.
    pub role: ApiRole,
    /// The addresses it acts for (empty for an admin key: every one).
    pub addresses: Vec<String>,
    /// Who created it.
    pub created_by: String,
    /// When created (Unix seconds).
    pub created_at: i64,
    /// When revoked.
    pub revoked_at: Option<i64>,
    /// When last used (to the minute).
    pub last_used_at: Option<i64>,
}

impl From<st::ApiKeyRow> for ApiKey {
    fn from(k: st::ApiKeyRow) -> Self {
        Self {
            id: k.id,
            name: k.name,
            role: k.role.into(),
            addresses: k.addresses,
            created_by: k.created_by,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
            last_used_at: k.last_used_at,
        }
    }
}

/// Every API key, newest first.
#[utoipa::path(
    get, path = "/api/v1/api-keys", tag = "admin", operation_id = "list_api_keys",
    responses((status = 200, description = "Keys, newest first", body = [ApiKey]))
)]
pub async fn api_keys(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<ApiKey>>, Problem> {
    let mut conn = state.hisp.conn().await?;
    let rows = st::api_keys(&mut conn).await?;
    Ok(Json(rows.into_iter().map(ApiKey::from).collect()))
}

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewApiKey {
    /// What it is for (shown in lists and the audit log).
    #[schema(example = "EHR integration", min_length = 1, max_length = 100)]
    pub name: String,
    /// What it may do.
    pub role: ApiRole,
    /// The addresses it acts for: one or more for a provider or care
    /// manager key; none for an admin key (it acts for every address).
    #[serde(default)]
    #[schema(example = json!(["jo@direct.example.org"]))]
    pub addresses: Vec<String>,
}

/// A created key: `key` is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyCreated {
    /// The key, to send as `Authorization: Bearer <key>`. Not stored: keep it.
    pub key: String,
    /// The stored key.
    #[serde(flatten)]
    pub info: ApiKey,
}

/// Create an API key.
#[utoipa::path(
    post, path = "/api/v1/api-keys", tag = "admin", operation_id = "create_api_key",
    request_body(content = NewApiKey, content_type = "application/json"),
    responses((status = 201, description = "Created; the key is in the body, once", body = ApiKeyCreated))
)]
pub async fn api_key_add(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiJson(k): ApiJson<NewApiKey>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), Problem> {
    let name = k.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Problem::field(
            "name",
            "give a name of 1 to 100 characters with no control characters",
        ));
    }
    let role = Role::from(k.role);
    let mut addrs: Vec<DirectAddress> = Vec::new();
    for a in &k.addresses {
        let a = DirectAddress::parse(a.trim()).map_err(|e| Problem::field("addresses", e))?;
        if !addrs.contains(&a) {
            addrs.push(a);
        }
    }
    match (role, addrs.is_empty()) {
        (Role::Admin, false) => {
            return Err(Problem::field(
                "addresses",
                "an admin key acts for every address: leave addresses empty",
            ));
        }
        (Role::Provider | Role::CareManager, true) => {
            return Err(Problem::field(
                "addresses",
                "name the address(es) this key acts for",
            ));
        }
        _ => {}
    }
    let (key, hash) = session::new_api_key()?;
    let mut tx = state.hisp.store.begin().await?;
    for a in &addrs {
        if crate::store::addresses::find(&mut tx, a).await?.is_none() {
            return Err(Problem::field(
                "addresses",
                format!("{a} is not an address on this HISP"),
            ));
        }
    }
    let listed: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    let now = state.hisp.now();
    let row = st::insert_api_key(&mut tx, &hash, name, role, &listed, &caller.actor, now).await?;
    state
        .hisp
        .audit(
            &mut tx,
            &caller.actor,
            "apikey.create",
            &format!("api-key:{}", row.id),
            &format!("{name} role={role} addresses={}", listed.join(",")),
        )
        .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyCreated {
            key,
            info: row.into(),
        }),
    ))
}

/// Revoke an API key (at once; it cannot be restored).
#[utoipa::path(
    delete, path = "/api/v1/api-keys/{id}", tag = "admin", operation_id = "revoke_api_key",
    params(("id" = i64, Path, description = "The key's id")),
    responses((status = 204, description = "Revoked (or revoked already)"))
)]
pub async fn api_key_revoke(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, Problem> {
    if caller.key_id == Some(id) {
        return Err(Problem::new(
            Kind::Conflict,
            "A key cannot revoke itself. Revoke it with another admin key or in the portal.",
        ));
    }
    let mut tx = state.hisp.store.begin().await?;
    match st::api_key(&mut tx, id).await {
        Ok(_) => {}
        Err(crate::store::StoreError::NotFound(_)) => return Err(Problem::not_found("API key")),
        Err(e) => return Err(e.into()),
    }
    if st::revoke_api_key(&mut tx, id, state.hisp.now()).await? {
        state
            .hisp
            .audit(
                &mut tx,
                &caller.actor,
                "apikey.revoke",
                &format!("api-key:{id}"),
                "",
            )
            .await?;
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
