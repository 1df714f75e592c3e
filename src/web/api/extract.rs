//! axum's extractors with their rejections turned into problems, so a bad
//! query, path or JSON body is answered in `application/problem+json` like
//! every other API error (never axum's plain-text rejection).

use axum::extract::{FromRequest, FromRequestParts, Json, Path, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::problem::{Kind, Problem};

/// A JSON body (`application/json`): 415 without that type, 400 for bad
/// syntax, 422 for the wrong shape, 413 over the body limit.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(e) => Err(e.into()),
        }
    }
}

/// Query parameters; 400 when they do not fit.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(e) => Err(e.into()),
        }
    }
}

/// Path parameters; 400 when they do not fit (`/messages/abc`).
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(e) => Err(e.into()),
        }
    }
}

/// The request's media type (before any `;` parameters), lower-cased.
pub fn media_type(req: &Request) -> String {
    req.headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// 415 naming what the operation reads.
pub fn unsupported(expected: &str) -> Problem {
    Problem::new(
        Kind::UnsupportedMediaType,
        format!("Send the body as {expected}."),
    )
}

/// The body, read to at most `max` bytes: `too_large` beyond that (before
/// more is held in memory), a 400 when it cannot be read. For a route whose
/// bodies are smaller than the API's own limit (a roster).
pub async fn body_at_most(
    req: Request,
    max: usize,
    too_large: impl FnOnce() -> Problem,
) -> Result<Vec<u8>, Problem> {
    match axum::body::to_bytes(req.into_body(), max).await {
        Ok(b) => Ok(b.to_vec()),
        Err(e) => {
            let e = e.into_inner();
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(too_large())
            } else {
                Err(Problem::new(
                    Kind::BadRequest,
                    format!("The body could not be read: {e}"),
                ))
            }
        }
    }
}
