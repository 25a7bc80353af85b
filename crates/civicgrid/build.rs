//! Compiles the test of two nodes on one PostgreSQL database
//! (`tests/two_nodes.rs`) when `CIVICGRID_TEST_POSTGRES` names a server to
//! run it on: without it the test does not exist, so it never passes
//! without having run.

fn main() {
    println!("cargo::rerun-if-env-changed=CIVICGRID_TEST_POSTGRES");
    println!("cargo::rustc-check-cfg=cfg(civicgrid_test_postgres)");
    if std::env::var_os("CIVICGRID_TEST_POSTGRES").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=civicgrid_test_postgres");
    }
}
