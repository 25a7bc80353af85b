//! Databases made for tests on the PostgreSQL server named by
//! `CIVICGRID_TEST_POSTGRES`, and dropped after. Shared by every crate whose
//! tests run on PostgreSQL (the others include this file by path).
#![allow(dead_code, reason = "each test binary uses some of these helpers")]
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::sync::atomic::{AtomicU32, Ordering};

/// The PostgreSQL server named by the environment, for databases made per test.
pub const SERVER_VAR: &str = "CIVICGRID_TEST_POSTGRES";

/// The server's URL; a test that asks for PostgreSQL fails without it.
pub fn server_url() -> String {
    std::env::var(SERVER_VAR).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
        panic!("{SERVER_VAR} must name a PostgreSQL server for these tests (scripts/postgres-up prints one)")
    })
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{name}", &base[..path]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A connection of the tests' own to the server; failing the test when the
/// server cannot be reached.
pub async fn connect_server(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url).await.unwrap_or_else(|e| panic!("could not reach PostgreSQL at {url}: {e}"))
}

/// A fresh database named `{prefix}_{pid}_…`: the server's URL, the name and
/// the database's URL. Databases of the same prefix left behind by test
/// processes that no longer run (a static never dropped, a killed run) are
/// dropped first, when the server is on this machine.
pub async fn create_database(prefix: &str) -> (String, String, String) {
    static SERIAL: AtomicU32 = AtomicU32::new(0);
    let server = server_url();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let name = format!("{prefix}_{}_{nanos}_{}", std::process::id(), SERIAL.fetch_add(1, Ordering::Relaxed));
    let mut admin = connect_server(&server).await;
    if server.contains("@127.0.0.1") || server.contains("@localhost") || server.contains("@[::1]") {
        let names: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
            .bind(format!("{prefix}\\_%"))
            .fetch_all(&mut admin)
            .await
            .unwrap_or_default();
        for old in names {
            let pid = old[prefix.len() + 1..].split('_').next().unwrap_or("");
            if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {old} WITH (FORCE)")).execute(&mut admin).await;
            }
        }
    }
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap_or_else(|e| {
        panic!("could not create a test database on {server}: {e}");
    });
    let url = with_database(&server, &name);
    (server, name, url)
}

/// Drops a test database, from a runtime of its own: the test's runtime may
/// be gone or busy unwinding. FORCE ends the store's connections.
pub fn drop_database(server: String, name: String) {
    let dropped = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut admin = connect_server(&server).await;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await
        })
    })
    .join();
    if !std::thread::panicking() {
        dropped.expect("dropping the test database panicked").expect("could not drop the test database");
    }
}
