//! The OpenAPI 3.1 document, derived from the handlers' `#[utoipa::path]`
//! annotations. Two modifiers add what every operation shares: the security
//! schemes (an API key as a bearer token, or the portal session cookie with
//! its `X-CSRF-Token` header), and the problem responses (400, 401, 403, 404,
//! 500 and 503 everywhere; 409, 413, 415 and 422 where there is a body).

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::problem::{Kind, PROBLEM_JSON};
use super::{admin, care, messages};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "hisp API",
        description = "The JSON API of hisp, a Direct secure-messaging and encounter-notification \
            gateway. Authenticate with an API key (`Authorization: Bearer hisp_…`, created by an \
            administrator) or a signed-in portal session (its cookie; requests that change \
            something also carry the session's token in `X-CSRF-Token`). Errors are RFC 9457 \
            problem details. Times are Unix seconds (UTC).",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        openapi_json,
        messages::send, messages::list, messages::show, messages::status, messages::ack,
        messages::delete,
        care::alerts, care::alert, care::alert_update, care::roster_upload, care::rosters,
        care::consents, care::consent_add,
        admin::domains, admin::domain_add, admin::addresses, admin::address_add,
        admin::address_disable, admin::address_enable, admin::certificates, admin::anchors,
        admin::anchor_add, admin::bundles, admin::bundle_refresh, admin::api_keys,
        admin::api_key_add, admin::api_key_revoke,
    ),
    components(schemas(super::problem::Problem)),
    modifiers(&Security, &Problems),
    security(("bearer" = []), ("session" = [])),
    tags(
        (name = "messages", description = "Send, read and track Direct mail"),
        (name = "care", description = "Alerts, rosters and consent (care managers and administrators)"),
        (name = "admin", description = "Domains, addresses, certificates, trust and API keys (administrators)"),
    )
)]
pub struct ApiDoc;

/// This document (no authentication needed).
#[utoipa::path(
    get, path = "/api/openapi.json", tag = "meta", operation_id = "openapi", security(()),
    responses((status = 200, description = "The OpenAPI document", body = Object))
)]
pub async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("hisp_ followed by 64 hex digits".into());
        bearer.description = Some("An API key created by an administrator.".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::web::session::SESSION_COOKIE,
                "A signed-in portal session. POST, PATCH and DELETE also need the session's \
                 CSRF token in the X-CSRF-Token header.",
            ))),
        );
    }
}

struct Problems;

impl Modify for Problems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                add_problems(op);
            }
        }
    }
}

/// Document the problems `op` can answer with.
fn add_problems(op: &mut Operation) {
    let public = op.security.as_ref().is_some_and(|s| {
        s.iter().all(|r| {
            serde_json::to_value(r).is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
        })
    });
    if public {
        return;
    }
    let mut kinds = vec![
        Kind::BadRequest,
        Kind::Unauthorized,
        Kind::Forbidden,
        Kind::NotFound,
        Kind::Conflict,
        Kind::Internal,
        Kind::Unavailable,
    ];
    if op.request_body.is_some() {
        kinds.extend([
            Kind::PayloadTooLarge,
            Kind::UnsupportedMediaType,
            Kind::InvalidField,
        ]);
    }
    for kind in kinds {
        let code = kind.status().as_u16().to_string();
        if op.responses.responses.contains_key(&code) {
            continue;
        }
        let mut resp = ResponseBuilder::new()
            .description(kind.status().canonical_reason().unwrap_or("Error"))
            .content(
                PROBLEM_JSON,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            );
        if kind == Kind::Unauthorized {
            resp = resp.header(
                "WWW-Authenticate",
                HeaderBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .description(Some("Bearer realm=\"hisp\""))
                    .build(),
            );
        }
        op.responses.responses.insert(code, resp.build().into());
    }
}
