//! The `civicgrid` binary: glue over the library crates. `serve` runs the
//! server, `demo` writes the synthetic demo district, `bench` measures.

mod bench;
mod demo;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;

#[derive(Debug, Parser)]
#[command(name = "civicgrid", version, about = "CivicGrid: grid-based governance of a city district")]
struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true, env = "CIVICGRID_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, env = "CIVICGRID_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Database: a file path or sqlite://PATH.
        #[arg(long, env = "CIVICGRID_DATABASE", default_value = "civicgrid.db")]
        database: String,
        /// Load the synthetic demo district if the database is empty.
        #[arg(long)]
        demo: bool,
        /// Seed of the demo district.
        #[arg(long, default_value_t = civicgrid_demo::DEFAULT_SEED)]
        demo_seed: u64,
        /// URL template of a map tile layer ({z}/{x}/{y}); none by default.
        #[arg(long, env = "CIVICGRID_TILES")]
        tiles: Option<String>,
    },
    /// Write the synthetic demo district into an empty database.
    Demo {
        #[arg(long, env = "CIVICGRID_DATABASE", default_value = "civicgrid.db")]
        database: String,
        #[arg(long, default_value_t = civicgrid_demo::DEFAULT_SEED)]
        seed: u64,
    },
    /// Measure: locate throughput, demo generation, start-up time and memory.
    Bench {
        #[command(subcommand)]
        what: bench::What,
    },
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down; finishing open requests");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_json);
    match cli.command {
        Command::Serve { addr, database, demo, demo_seed, tiles } => {
            let store = civicgrid_store::open(&database)
                .await
                .with_context(|| format!("could not open database {database}"))?;
            if demo && store.is_empty().await? {
                demo::load(store.as_ref(), demo_seed, false).await?;
            }
            let state = civicgrid_server::AppState::load(store)
                .await
                .context("could not load the grid index")?
                .with_tiles(tiles);
            let listener =
                tokio::net::TcpListener::bind(addr).await.with_context(|| format!("could not listen on {addr}"))?;
            let local = listener.local_addr()?;
            // Scripts wait for this line to learn the port.
            println!("listening on http://{local}");
            tracing::info!(%local, %database, "serving");
            civicgrid_server::serve(listener, state, shutdown_signal()).await.context("server failed")?;
        }
        Command::Demo { database, seed } => {
            let store = civicgrid_store::open(&database)
                .await
                .with_context(|| format!("could not open database {database}"))?;
            if !store.is_empty().await? {
                anyhow::bail!("database {database} already holds a district; use a new file");
            }
            demo::load(store.as_ref(), seed, true).await?;
        }
        Command::Bench { what } => bench::run(what).await?,
    }
    Ok(())
}
