//! The web pages: district overview, community and grid pages, in Simplified
//! Chinese by default and English on request.

use crate::AppState;
use axum::Router;

pub fn routes() -> Router<AppState> {
    Router::new()
}
