//! HTTP for CivicGrid: the versioned JSON API, its OpenAPI document and the web
//! pages, all built by [`router`] over an [`AppState`].
//!
//! Only this crate knows about HTTP; it talks to storage through the `Store`
//! trait and never sees SQL.

mod api;
mod error;
mod locator;
mod web;

pub use api::PATHS as API_PATHS;
pub use error::ApiError;
pub use locator::{Located, Locator};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use civicgrid_store::Store;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Largest request body accepted, in bytes.
pub const MAX_BODY: usize = 1 << 20;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    locator: Arc<RwLock<Arc<Locator>>>,
    /// URL template of a map tile layer; pages draw only our own GeoJSON without one.
    pub tiles: Option<String>,
}

impl AppState {
    /// Loads what the server keeps in memory (the grid index) from `store`.
    pub async fn load(store: Arc<dyn Store>) -> Result<Self, civicgrid_store::StoreError> {
        let locator = Locator::load(store.as_ref()).await?;
        Ok(AppState { store, locator: Arc::new(RwLock::new(Arc::new(locator))), tiles: None })
    }

    pub fn with_tiles(mut self, tiles: Option<String>) -> Self {
        self.tiles = tiles;
        self
    }

    /// The current grid index; cheap to call on every request.
    pub fn locator(&self) -> Arc<Locator> {
        // A poisoned lock only means a writer panicked after swapping; the value is whole.
        match self.locator.read() {
            Ok(l) => l.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Rebuilds the grid index after boundaries changed.
    pub async fn reload_locator(&self) -> Result<(), civicgrid_store::StoreError> {
        let fresh = Arc::new(Locator::load(self.store.as_ref()).await?);
        match self.locator.write() {
            Ok(mut l) => *l = fresh,
            Err(p) => *p.into_inner() = fresh,
        }
        Ok(())
    }
}

/// The whole application: API, pages and assets, with limits and tracing.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(web::routes())
        .fallback(web::not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(TraceLayer::new_for_http())
}

/// Serves `router` on `listener` until `shutdown` completes, then lets open
/// requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}
