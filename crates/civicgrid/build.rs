//! Compiles the binary's PostgreSQL tests (backup, restore and export onto a
//! server; two nodes on one database in `tests/two_nodes.rs`) only when
//! `CIVICGRID_TEST_POSTGRES` names a server to run them on, as the store's
//! build script does: without it they do not exist, so no test passes
//! without having run.

fn main() {
    println!("cargo::rerun-if-env-changed=CIVICGRID_TEST_POSTGRES");
    println!("cargo::rustc-check-cfg=cfg(civicgrid_test_postgres)");
    if std::env::var_os("CIVICGRID_TEST_POSTGRES").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=civicgrid_test_postgres");
    }
}
