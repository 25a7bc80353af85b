//! Rebuilds the crate when a migration changes (`sqlx::migrate!` embeds them),
//! and compiles the contract tests a second time against PostgreSQL when
//! `CIVICGRID_TEST_POSTGRES` names a server to run them on (see
//! `tests/common/mod.rs`): without it they exist for SQLite only, so no test
//! passes without having run.

fn main() {
    println!("cargo::rerun-if-changed=migrations");
    println!("cargo::rerun-if-env-changed=CIVICGRID_TEST_POSTGRES");
    println!("cargo::rustc-check-cfg=cfg(civicgrid_test_postgres)");
    if std::env::var_os("CIVICGRID_TEST_POSTGRES").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=civicgrid_test_postgres");
    }
}
