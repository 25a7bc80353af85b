//! The web pages: district overview, street, community and grid pages, the
//! sign-in page, the caller's account, user administration, the audit log and
//! the case pages (report, inbox, my reports, one case, the open-case map,
//! the indicators), the 15-minute life circles and the one-click call pages
//! (the command centre, the responder's phone page, the caller's button),
//! in Simplified Chinese by default and English on request.
//!
//! Pages are rendered on the server from the store (counts and tables work
//! without JavaScript); `assets/app.js` adds the map, sorting, paging, charts
//! and the locate form on top, reading the JSON API. The call pages are live
//! by nature: the server frames them and `assets/calls.js` draws everything
//! from the calls API and the event stream, never reloading.

mod access;
mod account;
mod assets;
mod audit;
mod calls;
mod cases;
mod i18n;
mod nav;
mod pages;
mod render;
mod session;
mod users;

use crate::AppState;
use axum::Router;
use axum::routing::{get, post};

/// The page for paths nothing else serves.
pub use pages::{not_found, refused};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::overview))
        .route("/units/{code}", get(pages::unit))
        .route("/locate", get(pages::locate))
        .route("/assets/{*path}", get(assets::serve))
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", post(session::logout))
        .route("/account", get(account::show))
        .route("/account/password", post(account::change_password))
        .route("/account/tokens", post(account::create_token))
        .route("/account/tokens/{id}/revoke", post(account::revoke_token))
        .route("/users", get(users::list).post(users::create))
        .route("/audit", get(audit::show))
        .route("/report", get(cases::report))
        .route("/cases", get(cases::inbox))
        .route("/cases/mine", get(cases::mine))
        .route("/cases/map", get(cases::map))
        .route("/access", get(access::show))
        .route("/access/compounds/{code}", get(access::compound))
        .route("/cases/kpis", get(cases::kpis))
        .route("/cases/{id}", get(cases::show))
        .route("/command", get(calls::command))
        .route("/responder", get(calls::responder))
        .route("/call", get(calls::caller))
}

#[cfg(test)]
mod tests;
