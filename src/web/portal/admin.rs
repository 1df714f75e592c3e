//! The admin's pages: dashboard, domains, addresses, users, certificates,
//! anchors and bundles, ADT feeds, consent registry, API keys and the audit log.

use axum::Router;

use crate::web::AppState;

/// This area's templates (name, source).
pub const TEMPLATES: &[(&str, &str)] = &[];

/// This area's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
