//! The web pages: district overview, street, community and grid pages, in
//! Simplified Chinese by default and English on request.
//!
//! Pages are rendered on the server from the store (counts and tables work
//! without JavaScript); `assets/app.js` adds the map, sorting, paging, charts
//! and the locate form on top, reading the JSON API.

mod assets;
mod i18n;
mod nav;
mod pages;
mod render;

use crate::AppState;
use axum::Router;
use axum::routing::get;

/// The page for paths nothing else serves.
pub use pages::not_found;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::overview))
        .route("/units/{code}", get(pages::unit))
        .route("/locate", get(pages::locate))
        .route("/assets/{*path}", get(assets::serve))
}

#[cfg(test)]
mod tests;
