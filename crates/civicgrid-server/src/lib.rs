//! HTTP for CivicGrid: the versioned JSON API, its OpenAPI document and the web
//! pages, all built by [`router`] over an [`AppState`].
//!
//! Only this crate knows about HTTP; it talks to storage through the `Store`
//! trait and never sees SQL.

pub mod access;
mod api;
pub mod auth;
pub mod casework;
pub mod dispatch;
mod error;
mod locator;
mod web;

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
    /// Per-client limits on public routes.
    pub limits: auth::RateLimits,
    /// The case workflow's calendar, duplicate rule and clock.
    /// Shared, not copied with the state into every request (the calendar is large).
    pub cases: Arc<casework::CaseSettings>,
    /// Where photos are kept; uploads are refused without one.
    pub attachments: Option<Arc<civicgrid_store::attachments::AttachmentStore>>,
    /// Walking accessibility, computed on first use and kept up to date.
    pub access: Arc<access::AccessCache>,
    /// The responders this node keeps in memory, with their live positions.
    pub fleet: Arc<dispatch::Fleet>,
    /// How one-click calls are dispatched.
    pub dispatch: civicgrid_domain::DispatchPolicy,
    /// Set when the server stops: open event streams end, so the requests
    /// the server waits for finish.
    closing: Arc<tokio::sync::watch::Sender<bool>>,
}

impl AppState {
    /// Loads what the server keeps in memory (the grid index) from `store`.
    pub async fn load(store: Arc<dyn Store>) -> Result<Self, civicgrid_store::StoreError> {
        let locator = Locator::load(store.as_ref()).await?;
        let fleet = dispatch::Fleet::load(store.as_ref(), &locator).await?;
        Ok(AppState {
            store,
            locator: Arc::new(RwLock::new(Arc::new(locator))),
            tiles: None,
            limits: auth::RateLimits::default(),
            cases: Arc::new(casework::CaseSettings::default()),
            attachments: None,
            access: Arc::new(access::AccessCache::new(
                civicgrid_geo::WalkSpeed::DEFAULT,
                civicgrid_domain::LifeCircles::standard(),
            )),
            fleet: Arc::new(fleet),
            dispatch: civicgrid_domain::DispatchPolicy::default(),
            closing: Arc::new(tokio::sync::watch::channel(false).0),
        })
    }

    pub fn with_tiles(mut self, tiles: Option<String>) -> Self {
        self.tiles = tiles;
        self
    }

    pub fn with_attachments(mut self, store: civicgrid_store::attachments::AttachmentStore) -> Self {
        self.attachments = Some(Arc::new(store));
        self
    }

    pub fn with_calendar(mut self, calendar: civicgrid_domain::WorkCalendar) -> Self {
        Arc::make_mut(&mut self.cases).calendar = calendar;
        self
    }

    pub fn with_auto_dispatch(mut self, on: bool) -> Self {
        Arc::make_mut(&mut self.cases).auto_dispatch = on;
        self
    }

    /// How often the escalation clock runs, and how much working time ahead
    /// of the real time it judges deadlines (zero in service; drills and tests).
    pub fn with_clock(mut self, every: Duration, ahead: jiff::SignedDuration) -> Self {
        let cases = Arc::make_mut(&mut self.cases);
        cases.clock_every = every;
        cases.clock_ahead = ahead;
        self
    }

    /// Tells open event streams to end: the server is stopping.
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    /// Changes to true when the server stops.
    pub(crate) fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Walking speed and life-circle table of the accessibility checks.
    pub fn with_access(mut self, speed: civicgrid_geo::WalkSpeed, circles: civicgrid_domain::LifeCircles) -> Self {
        self.access = Arc::new(access::AccessCache::new(speed, circles));
        self
    }

    pub fn with_dispatch(mut self, policy: civicgrid_domain::DispatchPolicy) -> Self {
        self.dispatch = policy;
        self
    }

    pub fn with_limits(mut self, limits: auth::RateLimits) -> Self {
        self.limits = limits;
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

/// The Content-Security-Policy: our own scripts and styles only (Leaflet sets
/// inline styles, hence `'unsafe-inline'` for styles alone), images from us,
/// data URLs and the tile server if one is configured, and no framing.
fn content_security_policy(tiles: Option<&str>) -> String {
    let tile_origin = tiles
        .and_then(|t| {
            let rest = t.split_once("://")?;
            let host = rest.1.split('/').next()?;
            // A template placeholder in the host ({s}.tile…) becomes a wildcard.
            let host = host.split('.').map(|p| if p.contains('{') { "*" } else { p }).collect::<Vec<_>>().join(".");
            Some(format!(" {}://{host}", rest.0))
        })
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:{tile_origin}; \
         connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The whole application: API, pages and assets, each route behind its
/// declared access, with security headers, limits and tracing.
pub fn router(state: AppState) -> Router {
    use axum::http::{HeaderName, HeaderValue, header};
    use tower_http::set_header::SetResponseHeaderLayer;
    let csp = HeaderValue::from_str(&content_security_policy(state.tiles.as_deref()))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"));
    let headers: [(HeaderName, HeaderValue); 5] = [
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
        (
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(), microphone=(), geolocation=(self)"),
        ),
    ];
    let mut app = Router::new()
        .merge(api::routes())
        .merge(web::routes())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::caller::authorize))
        .fallback(web::not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(CatchPanicLayer::custom(error::panic_response));
    for (name, value) in headers {
        app = app.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    app.layer(TraceLayer::new_for_http())
}

/// The application with the access middleware replaced by one that hands
/// every request the same caller; never served.
fn router_without_access_checks(state: AppState, caller: auth::Caller) -> Router {
    let fixed = move |mut req: axum::extract::Request, next: axum::middleware::Next| {
        let caller = caller.clone();
        async move {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
    };
    Router::new()
        .merge(api::routes())
        .merge(web::routes())
        .route_layer(axum::middleware::from_fn(fixed))
        .fallback(web::not_found)
        .with_state(state)
}

/// What the access checks cost: microseconds per `GET uri` through the real
/// router with `Authorization: Bearer secret`, and through one that hands
/// every request `caller` without checking anything. For `civicgrid bench`.
#[doc(hidden)]
pub async fn access_check_cost(
    state: AppState,
    caller: auth::Caller,
    secret: &str,
    uri: &str,
    requests: usize,
) -> Result<(f64, f64), String> {
    use tower::ServiceExt;
    let run = |app: Router, bearer: Option<String>| async move {
        let t = std::time::Instant::now();
        for _ in 0..requests {
            let mut req = axum::http::Request::get(uri);
            if let Some(b) = &bearer {
                req = req.header(axum::http::header::AUTHORIZATION, format!("Bearer {b}"));
            }
            let req = req.body(axum::body::Body::empty()).map_err(|e| e.to_string())?;
            let res = app.clone().oneshot(req).await.map_err(|e| e.to_string())?;
            if !res.status().is_success() {
                return Err(format!("GET {uri} answered {}", res.status()));
            }
        }
        Ok(t.elapsed().as_secs_f64() * 1e6 / requests.max(1) as f64)
    };
    let without = run(router_without_access_checks(state.clone(), caller), None).await?;
    let with = run(router(state), Some(secret.to_owned())).await?;
    Ok((with, without))
}

/// Milliseconds per `POST /api/v1/session` through the real router: argon2id,
/// the lockout bookkeeping, the audit entry and the new token. For `civicgrid bench`.
#[doc(hidden)]
pub async fn sign_in_cost(state: AppState, username: &str, password: &str, times: u32) -> Result<f64, String> {
    use tower::ServiceExt;
    let app = router(state.with_limits(auth::RateLimits::new(u32::MAX, u32::MAX)));
    let body = serde_json::json!({ "username": username, "password": password }).to_string();
    let t = std::time::Instant::now();
    for _ in 0..times {
        let req = axum::http::Request::post("/api/v1/session")
            .header(axum::http::header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(body.clone()))
            .map_err(|e| e.to_string())?;
        let res = app.clone().oneshot(req).await.map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("sign-in answered {}", res.status()));
        }
    }
    Ok(t.elapsed().as_secs_f64() * 1e3 / f64::from(times.max(1)))
}

/// Serves `router` on `listener` until `shutdown` completes, then lets open
/// requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The escalation clock runs beside the server and stops with it.
    let clock = tokio::spawn(casework::run_clock(state.clone()));
    // So does the dispatcher: lapsed offers go to the next responders.
    let dispatcher = tokio::spawn(dispatch::run(state.clone(), Duration::from_secs(1)));
    // Event streams never end on their own: told to, they let the server stop.
    let streams = state.clone();
    let shutdown = async move {
        shutdown.await;
        streams.close_streams();
    };
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    clock.abort();
    dispatcher.abort();
    served
}
