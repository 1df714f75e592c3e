//! API errors as RFC 9457 problem details (`application/problem+json`).
//!
//! Every failure has a stable `type`: `https://hisp.example/problems/<slug>`,
//! one slug per [`Kind`]. The host is under the reserved `.example` name, so
//! the URI identifies the problem without ever resolving to someone's site
//! (RFC 9457 §3.1.1 allows a type URI that does not resolve); the slugs are
//! listed in the OpenAPI document's `Problem` schema. `title` is the kind's
//! fixed summary, `detail` says what happened and what to do next, and a 500
//! never carries internal detail (it is logged instead).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::ops::OpsError;
use crate::store::StoreError;
use crate::web::WebError;

/// Where problem type URIs live; the slug follows.
pub const TYPE_BASE: &str = "https://hisp.example/problems/";

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// What went wrong; decides the status, the `type` and the `title`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No credentials, or a key or session that is not (or no longer) valid.
    Unauthorized,
    /// Authenticated, but this role may not use this operation.
    Forbidden,
    /// A session's unsafe request without the right `X-CSRF-Token`.
    Csrf,
    /// No such thing, or not visible to this caller.
    NotFound,
    /// The path exists, the method does not.
    MethodNotAllowed,
    /// The request contradicts what exists (a duplicate, a state clash).
    Conflict,
    /// The body is larger than the limit.
    PayloadTooLarge,
    /// The body's media type is not one this operation reads.
    UnsupportedMediaType,
    /// The query, path or an operation's input is not acceptable.
    BadRequest,
    /// The body could not be parsed (JSON syntax, multipart framing).
    MalformedBody,
    /// The body parsed but a field's value is not acceptable.
    InvalidField,
    /// Too many attempts.
    Throttled,
    /// The store cannot be reached.
    Unavailable,
    /// Our fault; logged, never described.
    Internal,
}

impl Kind {
    /// Every kind, for the document.
    pub const ALL: [Kind; 14] = [
        Kind::Unauthorized,
        Kind::Forbidden,
        Kind::Csrf,
        Kind::NotFound,
        Kind::MethodNotAllowed,
        Kind::Conflict,
        Kind::PayloadTooLarge,
        Kind::UnsupportedMediaType,
        Kind::BadRequest,
        Kind::MalformedBody,
        Kind::InvalidField,
        Kind::Throttled,
        Kind::Unavailable,
        Kind::Internal,
    ];

    /// The last segment of the type URI.
    pub fn slug(self) -> &'static str {
        match self {
            Kind::Unauthorized => "unauthorized",
            Kind::Forbidden => "forbidden",
            Kind::Csrf => "csrf",
            Kind::NotFound => "not-found",
            Kind::MethodNotAllowed => "method-not-allowed",
            Kind::Conflict => "conflict",
            Kind::PayloadTooLarge => "payload-too-large",
            Kind::UnsupportedMediaType => "unsupported-media-type",
            Kind::BadRequest => "bad-request",
            Kind::MalformedBody => "malformed-body",
            Kind::InvalidField => "invalid-field",
            Kind::Throttled => "throttled",
            Kind::Unavailable => "unavailable",
            Kind::Internal => "internal",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::Forbidden | Kind::Csrf => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::BadRequest | Kind::MalformedBody => StatusCode::BAD_REQUEST,
            Kind::InvalidField => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::Throttled => StatusCode::TOO_MANY_REQUESTS,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The fixed, short summary.
    pub fn title(self) -> &'static str {
        match self {
            Kind::Unauthorized => "Authentication required",
            Kind::Forbidden => "Not allowed for this role",
            Kind::Csrf => "Missing or wrong CSRF token",
            Kind::NotFound => "Not found",
            Kind::MethodNotAllowed => "Method not allowed",
            Kind::Conflict => "Conflict",
            Kind::PayloadTooLarge => "Request body too large",
            Kind::UnsupportedMediaType => "Unsupported media type",
            Kind::BadRequest => "Bad request",
            Kind::MalformedBody => "Malformed request body",
            Kind::InvalidField => "Invalid field",
            Kind::Throttled => "Too many requests",
            Kind::Unavailable => "Service unavailable",
            Kind::Internal => "Internal error",
        }
    }

    /// The `type` URI.
    pub fn uri(self) -> String {
        format!("{TYPE_BASE}{}", self.slug())
    }

    /// The kind that answers with this status (for framework rejections).
    fn of_status(status: StatusCode) -> Kind {
        match status {
            StatusCode::UNAUTHORIZED => Kind::Unauthorized,
            StatusCode::FORBIDDEN => Kind::Forbidden,
            StatusCode::NOT_FOUND => Kind::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => Kind::MethodNotAllowed,
            StatusCode::CONFLICT => Kind::Conflict,
            StatusCode::PAYLOAD_TOO_LARGE => Kind::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Kind::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => Kind::InvalidField,
            StatusCode::TOO_MANY_REQUESTS => Kind::Throttled,
            StatusCode::SERVICE_UNAVAILABLE => Kind::Unavailable,
            s if s.is_server_error() => Kind::Internal,
            _ => Kind::BadRequest,
        }
    }
}

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(description = "RFC 9457 problem details. `type` is \
    `https://hisp.example/problems/<slug>` with one slug per error: unauthorized (401), \
    forbidden (403), csrf (403), not-found (404), method-not-allowed (405), conflict (409), \
    payload-too-large (413), unsupported-media-type (415), bad-request (400), \
    malformed-body (400), invalid-field (422), throttled (429), internal (500), \
    unavailable (503). The URI identifies the problem; it is not meant to be fetched.")]
pub struct Problem {
    /// The problem type URI.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary, the same for every problem of this type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened here, and what to do next.
    pub detail: String,
    /// Logged for a 500; never sent.
    #[serde(skip)]
    pub internal: Option<String>,
    /// A 401 for a presented-but-bad credential (RFC 6750 `invalid_token`).
    #[serde(skip)]
    pub invalid_token: bool,
}

impl Problem {
    /// A problem of `kind` with `detail`.
    pub fn new(kind: Kind, detail: impl Into<String>) -> Self {
        Self {
            kind: kind.uri(),
            title: kind.title().to_string(),
            status: kind.status().as_u16(),
            detail: detail.into(),
            internal: None,
            invalid_token: false,
        }
    }

    /// 404 with the usual words.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            Kind::NotFound,
            format!("No {what} here, or it is not visible to you. Check the id and the address."),
        )
    }

    /// 422 for one field.
    pub fn field(name: &str, why: impl std::fmt::Display) -> Self {
        Self::new(Kind::InvalidField, format!("{name}: {why}"))
    }

    /// 400 for a bad query or path value.
    pub fn bad(detail: impl Into<String>) -> Self {
        Self::new(Kind::BadRequest, detail)
    }

    /// 500: `why` is logged, the client hears nothing of it.
    pub fn internal(why: impl std::fmt::Display) -> Self {
        let mut p = Self::new(
            Kind::Internal,
            "Something went wrong on our side. Try again; if it persists, tell the administrator.",
        );
        p.internal = Some(why.to_string());
        p
    }

    /// 401 for a presented key or session that is not valid.
    pub fn invalid_credentials(detail: impl Into<String>) -> Self {
        let mut p = Self::new(Kind::Unauthorized, detail);
        p.invalid_token = true;
        p
    }

    /// A framework rejection (query, path, JSON, multipart, body limit) as a
    /// problem with the rejection's status and its (client-facing) text.
    pub fn rejection(status: StatusCode, text: String) -> Self {
        let kind = match Kind::of_status(status) {
            Kind::BadRequest => Kind::MalformedBody,
            k => k,
        };
        Self::new(kind, text)
    }

    /// The status as a `StatusCode`.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        if let Some(why) = &self.internal {
            tracing::error!(error = %why, "API request failed");
        }
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(if self.invalid_token {
                    "Bearer realm=\"hisp\", error=\"invalid_token\""
                } else {
                    "Bearer realm=\"hisp\""
                }),
            );
        }
        resp
    }
}

impl From<WebError> for Problem {
    fn from(e: WebError) -> Self {
        let detail = e.to_string();
        match e {
            WebError::Unavailable => Problem::new(Kind::Unavailable, detail),
            WebError::SignIn => Problem::new(
                Kind::Unauthorized,
                "Send an API key as `Authorization: Bearer hisp_…`, or sign in to the portal.",
            ),
            WebError::Forbidden => Problem::new(Kind::Forbidden, detail),
            WebError::NotFound => Problem::new(Kind::NotFound, detail),
            WebError::Csrf => Problem::new(Kind::Csrf, detail),
            WebError::Throttled => Problem::new(Kind::Throttled, detail),
            WebError::BadRequest(msg) => Problem::bad(msg),
            WebError::Internal(e) => Problem::internal(e),
        }
    }
}

impl From<OpsError> for Problem {
    fn from(e: OpsError) -> Self {
        match e {
            OpsError::Store(StoreError::Duplicate(what)) => {
                Problem::new(Kind::Conflict, format!("{what} already exists."))
            }
            OpsError::Store(StoreError::Conflict(msg)) => Problem::new(Kind::Conflict, msg),
            other => Problem::from(WebError::from(other)),
        }
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        Problem::from(OpsError::from(e))
    }
}

impl From<sqlx::Error> for Problem {
    fn from(e: sqlx::Error) -> Self {
        Problem::from(StoreError::from(e))
    }
}

impl From<JsonRejection> for Problem {
    fn from(e: JsonRejection) -> Self {
        let kind = match &e {
            JsonRejection::JsonSyntaxError(_) => Kind::MalformedBody,
            JsonRejection::JsonDataError(_) => Kind::InvalidField,
            JsonRejection::MissingJsonContentType(_) => {
                return Problem::new(
                    Kind::UnsupportedMediaType,
                    "Send the body as JSON with `Content-Type: application/json`.",
                );
            }
            other => Kind::of_status(other.status()),
        };
        Problem::new(kind, e.body_text())
    }
}

impl From<QueryRejection> for Problem {
    fn from(e: QueryRejection) -> Self {
        Problem::bad(e.body_text())
    }
}

impl From<PathRejection> for Problem {
    fn from(e: PathRejection) -> Self {
        let status = e.status();
        if status.is_server_error() {
            return Problem::internal(e.body_text());
        }
        Problem::bad(e.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_type() {
        let mut slugs: Vec<&str> = Kind::ALL.iter().map(|k| k.slug()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), Kind::ALL.len());
        for k in Kind::ALL {
            assert!(
                k.uri().starts_with("https://hisp.example/problems/"),
                "{k:?}"
            );
        }
    }

    #[test]
    fn a_500_says_nothing_of_the_cause() {
        let p = Problem::internal("password authentication failed for user postgres");
        let json = serde_json::to_string(&p).expect("json");
        assert!(!json.contains("postgres"), "{json}");
        assert!(json.contains("\"type\":\"https://hisp.example/problems/internal\""));
        assert_eq!(p.status, 500);
    }
}
