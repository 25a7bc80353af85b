//! What the HTTP tests share: a demo district written once per test binary,
//! with one account per role, and a client that signs in and sends requests
//! through the real router.
#![allow(dead_code, reason = "each test binary uses a different part")]
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use civicgrid_domain::{Grant, Role, UnitCode};
use civicgrid_server::{AppState, router};
use civicgrid_store::{Actor, KeyRing, NewResponder, NewUser};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::OnceLock;
use tower::ServiceExt;

pub const PASSWORD: &str = "test-password-2026";

/// One account per role, scoped like the demo's.
pub const ACCOUNTS: &[(&str, Role, &str)] = &[
    ("t-admin", Role::Admin, "610304"),
    ("t-operator", Role::Operator, "610304"),
    ("t-street", Role::StreetStaff, "610304003"),
    ("t-community", Role::CommunityStaff, "610304003002"),
    ("t-gridworker", Role::GridWorker, "610304003002006"),
    ("t-responder", Role::Responder, "610304003002"),
    ("t-leader", Role::Leader, "610304003002"),
    ("t-inspector", Role::Inspector, "610304"),
    ("t-auditor", Role::Auditor, "610304"),
    ("t-resident", Role::Resident, "610304003002"),
];

#[path = "../../../civicgrid-store/tests/common/server.rs"]
mod server;

/// Which database the API tests run on: SQLite files, or with
/// `CIVICGRID_TEST_API_BACKEND=postgres` databases made on the server named
/// by `CIVICGRID_TEST_POSTGRES`. The test script runs them both ways.
fn on_postgres() -> bool {
    match std::env::var("CIVICGRID_TEST_API_BACKEND").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Ok("") | Err(_) => false,
        Ok(other) => panic!("CIVICGRID_TEST_API_BACKEND is sqlite or postgres, not {other}"),
    }
}

/// One test's database holding the demo district and the test accounts, with
/// its key file and photo directory in a folder of its own; a PostgreSQL
/// database is dropped with it.
pub struct TestDb {
    pub url: String,
    dir: tempfile::TempDir,
    server: Option<(String, String)>,
}

impl TestDb {
    pub fn keys(&self) -> PathBuf {
        self.dir.path().join("demo.keys")
    }

    pub fn files(&self) -> PathBuf {
        self.dir.path().join("files")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((server, name)) = self.server.take() {
            server::drop_database(server, name);
        }
    }
}

/// The demo district and the test accounts, written into `store`.
async fn write_demo(store: &dyn civicgrid_store::Store) {
    let system = Actor::system("test");
    let bundle = civicgrid_demo::generate(civicgrid_demo::DEFAULT_SEED);
    store.import_district(&bundle, &|_, _| {}, &system).await.unwrap();
    store.set_setting("demo_seed", "1", &system).await.unwrap();
    let hash = civicgrid_server::auth::password::hash(PASSWORD);
    for (name, role, scope) in ACCOUNTS {
        let new = NewUser {
            username: (*name).into(),
            display_name: format!("测试 {name}"),
            password_hash: hash.clone(),
            grants: vec![Grant { role: *role, scope: UnitCode::parse(scope).unwrap() }],
        };
        store.create_user(&new, &system).await.unwrap();
    }
    // The demo's responders; the grid worker and responder accounts answer calls as two of them.
    let responders: Vec<NewResponder> = civicgrid_demo::responders(&bundle)
        .into_iter()
        .map(|r| NewResponder {
            id: r.person,
            team: r.team.as_str().into(),
            skills: r.skills.iter().map(|s| s.as_str().to_owned()).collect(),
            grid: r.grid,
            on_duty: false,
        })
        .collect();
    store.add_responders(&responders, &system).await.unwrap();
    for (account, team) in [("t-gridworker", "grid_worker"), ("t-responder", "street_rider")] {
        let user = store.user_by_name(account).await.unwrap().unwrap();
        let scope = ACCOUNTS.iter().find(|a| a.0 == account).unwrap().2;
        let of_team = |r: &&NewResponder| r.team == team && r.grid.as_str().starts_with(&scope[..12]);
        let r = responders.iter().filter(of_team).min_by_key(|r| r.grid.as_str() != scope).unwrap();
        store.link_responder(r.id, Some(user.id), &system).await.unwrap();
    }
    // The demo's wall buttons, and t-resident's registered address (a household of its community).
    let device = |d: civicgrid_demo::DemoDevice, user_id: Option<i64>| civicgrid_store::NewCallDevice {
        code: d.code,
        kind: d.kind.as_str().to_owned(),
        user_id,
        household_id: Some(d.household_id),
        address: d.address,
        lat: d.lat,
        lon: d.lon,
        grid: d.grid,
    };
    let buttons: Vec<_> = civicgrid_demo::call_devices(&bundle).into_iter().map(|d| device(d, None)).collect();
    store.register_call_devices(&buttons, &system).await.unwrap();
    let resident = store.user_by_name("t-resident").await.unwrap().unwrap();
    let home = civicgrid_demo::home_in(&bundle, &UnitCode::parse("610304003002").unwrap(), "HOME-T-RESIDENT").unwrap();
    store.register_call_device(&device(home, Some(resident.id)), false, &system).await.unwrap();
}

/// The pristine demo as the bytes of a SQLite file and of its key file,
/// written once per test process; copies of it are far quicker than writing
/// the demo again. Held in memory, not in a folder: a static is never
/// dropped, and a folder of its own would outlive every test process.
fn sqlite_demo() -> &'static (Vec<u8>, Vec<u8>) {
    static DB: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    DB.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo.db");
        let (p, keys) = (path.clone(), dir.path().join("demo.keys"));
        let k = keys.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let store = civicgrid_store::open(p.to_str().unwrap(), KeyRing::load_or_create(&k).unwrap());
                let store = store.await.unwrap();
                write_demo(store.as_ref()).await;
                // The last connection closed folds the WAL into the file.
                store.close().await;
            });
        })
        .join()
        .unwrap();
        // The closed store has folded its WAL into the file, which is whole.
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        assert!(!wal.exists(), "the demo database did not close");
        (std::fs::read(&path).unwrap(), std::fs::read(&keys).unwrap())
    })
}

/// A database of its own holding the pristine demo.
async fn fresh_demo() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    if on_postgres() {
        let (server, name, url) = server::create_database("civicgrid_api").await;
        let db = TestDb { url, dir, server: Some((server, name)) };
        let store = civicgrid_store::open(&db.url, KeyRing::load_or_create(&db.keys()).unwrap()).await.unwrap();
        write_demo(store.as_ref()).await;
        return db;
    }
    let (demo, keys) = sqlite_demo();
    let db = TestDb { url: dir.path().join("copy.db").to_str().unwrap().to_owned(), dir, server: None };
    std::fs::write(&db.url, demo).unwrap();
    std::fs::write(db.keys(), keys).unwrap();
    // A key file must be its owner's alone.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(db.keys(), std::fs::Permissions::from_mode(0o600)).unwrap();
    db
}

/// The application over a database, with its keys.
pub struct App {
    pub router: axum::Router,
    pub store: std::sync::Arc<dyn civicgrid_store::Store>,
    /// The state the router serves: for running the dispatcher's turns by hand.
    pub state: AppState,
    _db: std::sync::Arc<TestDb>,
}

/// The application over a database, with settings changed by `tune`.
async fn app_with(
    db: &TestDb,
    tune: impl FnOnce(AppState) -> AppState,
) -> (axum::Router, std::sync::Arc<dyn civicgrid_store::Store>, AppState) {
    let keys = KeyRing::load_or_create(&db.keys()).unwrap();
    let store = civicgrid_store::open(&db.url, keys).await.unwrap();
    let files = civicgrid_store::attachments::AttachmentStore::open(db.files()).unwrap();
    // Tests sign in far more often than a person could; the limiter has its own test.
    let state = AppState::load(store.clone())
        .await
        .unwrap()
        .with_limits(civicgrid_server::auth::RateLimits::new(10_000, 10_000))
        .with_attachments(files);
    let state = tune(state);
    (router(state.clone()), store, state)
}

/// The demo that the tests of a process reading it share while any of them
/// runs (sign-ins write a little). Held weakly: once the last is done, its
/// folder (or PostgreSQL database) goes with it.
pub async fn app() -> App {
    static SHARED: tokio::sync::Mutex<std::sync::Weak<TestDb>> = tokio::sync::Mutex::const_new(std::sync::Weak::new());
    let mut shared = SHARED.lock().await;
    let db = match shared.upgrade() {
        Some(db) => db,
        None => {
            let db = std::sync::Arc::new(fresh_demo().await);
            *shared = std::sync::Arc::downgrade(&db);
            db
        }
    };
    drop(shared);
    let (router, store, state) = app_with(&db, |s| s).await;
    App { router, store, state, _db: db }
}

/// A private copy of the demo, for a test that writes.
pub async fn writable_app() -> App {
    tuned_app(|s| s).await
}

/// A private copy of the demo served with settings changed by `tune`.
pub async fn tuned_app(tune: impl FnOnce(AppState) -> AppState) -> App {
    let db = std::sync::Arc::new(fresh_demo().await);
    let (router, store, state) = app_with(&db, tune).await;
    App { router, store, state, _db: db }
}

impl App {
    pub async fn send(&self, req: Request<Body>) -> (StatusCode, Value) {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let v = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&bytes) }));
        (status, v)
    }

    /// Signs in through the API; the token for `as_user`.
    pub async fn token(&self, username: &str) -> String {
        let body = json!({ "username": username, "password": PASSWORD }).to_string();
        let (status, v) = self.send(json_request("POST", "/api/v1/session", None, body)).await;
        assert_eq!(status, StatusCode::OK, "sign-in of {username}: {v}");
        v["token"].as_str().unwrap().to_owned()
    }

    /// A client signed in as `username`.
    pub async fn as_user(&self, username: &str) -> Client<'_> {
        Client { app: self, token: Some(self.token(username).await) }
    }

    pub fn anonymous(&self) -> Client<'_> {
        Client { app: self, token: None }
    }
}

/// A session cookie (`name=secret`) as the sign-in page would set it, and
/// the session's CSRF token.
pub async fn session_cookie(app: &App, username: &str) -> (String, String) {
    use civicgrid_server::auth;
    let user = app.store.user_by_name(username).await.unwrap().unwrap();
    let (secret, csrf) = (auth::new_secret(), auth::new_secret());
    let expires_at = jiff::Timestamp::now().saturating_add(jiff::SignedDuration::from_hours(1)).unwrap();
    let record = civicgrid_store::SessionRecord {
        id_hash: auth::sha256_hex(&secret),
        user_id: user.id,
        csrf_token: csrf.clone(),
        expires_at,
    };
    app.store.create_session(&record).await.unwrap();
    (format!("{}={secret}", auth::SESSION_COOKIE), csrf)
}

pub fn json_request(method: &str, uri: &str, token: Option<&str>, body: String) -> Request<Body> {
    let mut r = Request::builder().method(method).uri(uri).header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    r.body(Body::from(body)).unwrap()
}

pub struct Client<'a> {
    pub app: &'a App,
    pub token: Option<String>,
}

impl Client<'_> {
    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        let mut r = Request::get(uri);
        if let Some(t) = &self.token {
            r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.app.send(r.body(Body::empty()).unwrap()).await
    }

    pub async fn call(&self, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
        self.app.send(json_request(method, uri, self.token.as_deref(), body.to_string())).await
    }

    /// A write with an `Idempotency-Key`.
    pub async fn call_keyed(&self, method: &str, uri: &str, body: Value, key: &str) -> (StatusCode, Value) {
        let mut r = json_request(method, uri, self.token.as_deref(), body.to_string());
        r.headers_mut().insert("idempotency-key", key.parse().unwrap());
        self.app.send(r).await
    }

    /// `GET uri`, answered as soon as the response's head is there: for
    /// streams, whose body does not end.
    pub async fn open(&self, uri: &str) -> axum::response::Response {
        let mut r = Request::get(uri);
        if let Some(t) = &self.token {
            r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.app.router.clone().oneshot(r.body(Body::empty()).unwrap()).await.unwrap()
    }

    pub async fn raw(&self, method: &str, uri: &str, body: impl Into<Body>, content_type: &str) -> (StatusCode, Value) {
        let mut r = Request::builder().method(method).uri(uri).header(header::CONTENT_TYPE, content_type);
        if let Some(t) = &self.token {
            r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.app.send(r.body(body.into()).unwrap()).await
    }
}
