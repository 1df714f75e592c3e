//! The JSON API under `/api/v1`, with its OpenAPI document at `/api/openapi.json`.

use axum::Router;

use super::AppState;

/// The API's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
