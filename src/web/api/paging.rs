//! Newest-first lists a page at a time: `limit` rows with an id below
//! `before` (a keyset cursor, which stays right while rows arrive), and on a
//! full page a `Link: <next URL>; rel="next"` header (RFC 8288). Used by the
//! message and alert lists.

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::problem::Problem;

/// Rows per page when the caller does not say.
pub const DEFAULT: i64 = 100;
/// The most rows one page may hold.
pub const MAX: i64 = 1000;

/// The page size asked for, checked with `before`; `what` names the rows'
/// ids in the error ("a message id").
pub fn limit(limit: Option<i64>, before: Option<i64>, what: &str) -> Result<i64, Problem> {
    let limit = limit.unwrap_or(DEFAULT);
    if !(1..=MAX).contains(&limit) {
        return Err(Problem::bad(format!("limit must be from 1 to {MAX}")));
    }
    if before.is_some_and(|b| b < 1) {
        return Err(Problem::bad(format!("before must be {what} (1 or more)")));
    }
    Ok(limit)
}

/// The page as a JSON array, with a link to the next page when it is full:
/// `path?` + `query` (already encoded) + `limit` and `before` = the last id.
pub fn respond<T: Serialize>(
    rows: Vec<T>,
    limit: i64,
    last_id: impl Fn(&T) -> i64,
    path: &str,
    mut query: Vec<String>,
) -> Response {
    let full = usize::try_from(limit).is_ok_and(|l| rows.len() == l);
    let next = rows.last().filter(|_| full).map(|last| {
        query.push(format!("limit={limit}"));
        query.push(format!("before={}", last_id(last)));
        format!("<{path}?{}>; rel=\"next\"", query.join("&"))
    });
    match next {
        Some(link) => ([(header::LINK, link)], Json(rows)).into_response(),
        None => Json(rows).into_response(),
    }
}
