//! The care manager's pages: alert worklist, alert detail with the patient's
//! encounter timeline, roster upload and view, subscription settings.

use axum::Router;

use crate::web::AppState;

/// This area's templates (name, source).
pub const TEMPLATES: &[(&str, &str)] = &[];

/// This area's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
