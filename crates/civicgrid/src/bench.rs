//! Benchmarks as a subcommand; their output goes into BENCHMARKS.md.

#[derive(Debug, clap::Subcommand)]
pub enum What {}

pub async fn run(what: What) -> anyhow::Result<()> {
    match what {}
}
