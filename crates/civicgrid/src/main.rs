//! The `civicgrid` binary: glue over the library crates. `serve` runs the
//! server, `demo` writes the synthetic demo district, `user` manages
//! accounts, `audit verify` checks the audit chain, `keys rotate` rotates the
//! personal-data key, `import osm` reads an OpenStreetMap extract, `bench`
//! measures.

mod access_cmd;
mod accounts;
mod bench;
mod demo;
mod import_cmd;

use anyhow::Context;
use civicgrid_store::{Actor, ChainCheck, KeyRing, Store};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(name = "civicgrid", version, about = "CivicGrid: grid-based governance of a city district")]
struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true, env = "CIVICGRID_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

/// Where the data is and the key that protects its personal part.
#[derive(Debug, Args)]
pub(crate) struct Db {
    /// Database: a file path, sqlite://PATH, or postgres://… (a server that
    /// several nodes share; then --key-file is required).
    #[arg(long, env = "CIVICGRID_DATABASE", default_value = "civicgrid.db")]
    database: String,
    /// File of the keys that encrypt ID and phone numbers; created (mode 0600)
    /// when absent. Defaults to the database path with `.keys` appended. Keep
    /// it out of backups of the database and out of version control.
    #[arg(long, env = "CIVICGRID_KEY_FILE")]
    key_file: Option<PathBuf>,
}

impl Db {
    fn is_postgres(&self) -> bool {
        self.database.starts_with("postgres://") || self.database.starts_with("postgresql://")
    }

    fn key_path(&self) -> Option<PathBuf> {
        if let Some(k) = &self.key_file {
            return Some(k.clone());
        }
        if self.is_postgres() {
            return None;
        }
        let path = self.database.strip_prefix("sqlite://").unwrap_or(&self.database);
        let path = path.split('?').next().unwrap_or(path);
        (!path.contains(":memory:")).then(|| PathBuf::from(format!("{path}.keys")))
    }

    fn keys(&self) -> anyhow::Result<KeyRing> {
        if self.is_postgres() && self.key_file.is_none() {
            // A key made up here would differ from the other nodes' and die with the process.
            anyhow::bail!("a PostgreSQL database needs --key-file: the same key file on every node");
        }
        match self.key_path() {
            Some(p) => {
                KeyRing::load_or_create(&p).with_context(|| format!("could not load the key file {}", p.display()))
            }
            None => Ok(KeyRing::ephemeral()),
        }
    }

    pub(crate) async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        civicgrid_store::open(&self.database, self.keys()?)
            .await
            .with_context(|| format!("could not open database {}", self.database))
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, env = "CIVICGRID_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        #[command(flatten)]
        db: Db,
        /// Load the synthetic demo district if the database is empty, and
        /// make sure the demo accounts exist.
        #[arg(long)]
        demo: bool,
        /// Seed of the demo district.
        #[arg(long, default_value_t = civicgrid_demo::DEFAULT_SEED)]
        demo_seed: u64,
        /// Password of the demo accounts.
        #[arg(long, env = "CIVICGRID_DEMO_PASSWORD", default_value = accounts::DEMO_PASSWORD)]
        demo_password: String,
        /// URL template of a map tile layer ({z}/{x}/{y}); none by default.
        #[arg(long, env = "CIVICGRID_TILES")]
        tiles: Option<String>,
        /// Directory for photos; the database path with `.files` appended by default.
        #[arg(long, env = "CIVICGRID_ATTACHMENTS")]
        attachments: Option<PathBuf>,
        /// A CSV of public holidays and adjusted working days (date,kind,name) to
        /// add to the built-in 2025–2026 calendar, e.g. the 2027 arrangement.
        #[arg(long, env = "CIVICGRID_HOLIDAYS")]
        holidays: Option<PathBuf>,
        /// Dispatch every case, as soon as it is filed, to the unit its
        /// category routes to (otherwise the command centre dispatches).
        #[arg(long, env = "CIVICGRID_AUTO_DISPATCH")]
        auto_dispatch: bool,
        /// Walking speed of the 15-minute circles, in metres a minute.
        #[arg(long, env = "CIVICGRID_WALK_SPEED", default_value_t = 80.0)]
        walk_speed: f64,
        /// A life-circle table (minutes,category lines) replacing the built-in
        /// reading of GB 50180-2018.
        #[arg(long, env = "CIVICGRID_LIFE_CIRCLES")]
        life_circles: Option<PathBuf>,
        /// How often the escalation clock looks for overdue cases, in seconds.
        #[arg(long, env = "CIVICGRID_CLOCK_EVERY", default_value = "30", value_parser = clock_every)]
        clock_every: std::time::Duration,
        /// The escalation clock judges deadlines as if this many more working
        /// hours had passed: for drills and tests, never in service.
        #[arg(long, hide = true, default_value = "0", value_parser = clock_ahead)]
        clock_ahead_hours: jiff::SignedDuration,
    },
    /// Write the synthetic demo district into an empty database, and with
    /// `--history N` a synthetic year of N cases in it.
    Demo {
        #[command(flatten)]
        db: Db,
        #[arg(long, default_value_t = civicgrid_demo::DEFAULT_SEED)]
        seed: u64,
        /// Also write this many synthetic cases reported over one year (into
        /// the demo district of the same seed if the database holds it already).
        #[arg(long, value_name = "N")]
        history: Option<usize>,
        /// The day after the synthetic year (China Standard Time); today by default.
        #[arg(long, value_name = "YYYY-MM-DD", requires = "history")]
        history_until: Option<jiff::civil::Date>,
    },
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        what: accounts::UserCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        what: AuditCommand,
    },
    /// The keys of personal data.
    Keys {
        #[command(subcommand)]
        what: KeysCommand,
    },
    /// Walking accessibility: for every node of a street graph, facilities
    /// within a radius and the nearest of each category, as CSV.
    Access(access_cmd::AccessArgs),
    /// Import data from outside.
    Import {
        #[command(subcommand)]
        what: ImportCommand,
    },
    /// Measure: locate, demo generation, start-up, access checks, case filing and indicators.
    Bench {
        #[command(subcommand)]
        what: bench::What,
    },
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// The walking network and facilities of an OpenStreetMap extract
    /// (.osm.pbf): written as a graph folder for `access` (--out), and/or
    /// replacing the database's street network and merging its facilities.
    Osm(import_cmd::OsmArgs),
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the hash chain from the first entry to the last; exit 1 at a break.
    Verify {
        #[command(flatten)]
        db: Db,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add a new data key, make it current, and re-encrypt every record with it.
    Rotate {
        #[command(flatten)]
        db: Db,
    },
}

/// `--clock-every`: seconds, from a tenth of a second to a day.
fn clock_every(s: &str) -> Result<std::time::Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(secs) if (0.1..=86_400.0).contains(&secs) => Ok(std::time::Duration::from_secs_f64(secs)),
        _ => Err(format!("{s:?} is not a number of seconds from 0.1 to 86400")),
    }
}

/// `--clock-ahead-hours`: working hours, from 0 to a year's worth.
fn clock_ahead(s: &str) -> Result<jiff::SignedDuration, String> {
    match s.trim().parse::<f64>() {
        Ok(hours) if (0.0..=10_000.0).contains(&hours) => {
            jiff::SignedDuration::try_from_secs_f64(hours * 3600.0).map_err(|e| e.to_string())
        }
        _ => Err(format!("{s:?} is not a number of working hours from 0 to 10000")),
    }
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
        Command::Serve {
            addr,
            db,
            demo,
            demo_seed,
            demo_password,
            tiles,
            attachments,
            holidays,
            auto_dispatch,
            walk_speed,
            life_circles,
            clock_every,
            clock_ahead_hours,
        } => {
            let store = db.open().await?;
            if demo {
                if store.is_empty().await? {
                    demo::load(store.as_ref(), demo_seed, false).await?;
                }
                accounts::ensure_demo_accounts(store.as_ref(), &demo_password).await?;
            }
            let mut calendar = civicgrid_domain::WorkCalendar::china();
            if let Some(path) = &holidays {
                let csv =
                    std::fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))?;
                calendar.load(&csv).with_context(|| format!("the holiday file {}", path.display()))?;
            }
            let mut state = civicgrid_server::AppState::load(store)
                .await
                .context("could not load the grid index")?
                .with_tiles(tiles)
                .with_calendar(calendar)
                .with_auto_dispatch(auto_dispatch)
                .with_clock(clock_every, clock_ahead_hours);
            if !clock_ahead_hours.is_zero() {
                tracing::warn!(
                    hours = clock_ahead_hours.as_secs_f64() / 3600.0,
                    "the escalation clock runs ahead of time"
                );
            }
            let speed = civicgrid_geo::WalkSpeed::metres_per_minute(walk_speed).context("--walk-speed")?;
            let circles = match &life_circles {
                Some(path) => {
                    let csv =
                        std::fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))?;
                    civicgrid_domain::LifeCircles::parse(&csv)
                        .with_context(|| format!("the life-circle table {}", path.display()))?
                }
                None => civicgrid_domain::LifeCircles::standard(),
            };
            state = state.with_access(speed, circles);
            let files = attachments.or_else(|| db.key_path().map(|k| k.with_extension("files")));
            if let Some(dir) = files {
                let files = civicgrid_store::attachments::AttachmentStore::open(&dir)
                    .with_context(|| format!("could not use the attachment directory {}", dir.display()))?;
                state = state.with_attachments(files);
            }
            let listener =
                tokio::net::TcpListener::bind(addr).await.with_context(|| format!("could not listen on {addr}"))?;
            let local = listener.local_addr()?;
            // Scripts wait for this line to learn the port.
            println!("listening on http://{local}");
            tracing::info!(%local, database = %db.database, "serving");
            civicgrid_server::serve(listener, state, shutdown_signal()).await.context("server failed")?;
        }
        Command::Demo { db, seed, history, history_until } => {
            let store = db.open().await?;
            if store.is_empty().await? {
                demo::load(store.as_ref(), seed, true).await?;
            } else if history.is_none() {
                anyhow::bail!("database {} already holds a district; use a new file", db.database);
            } else if store.setting("demo_seed").await?.as_deref() != Some(seed.to_string().as_str()) {
                anyhow::bail!("database {} holds a district other than the demo of seed {seed}", db.database);
            }
            if let Some(cases) = history {
                let until =
                    history_until.unwrap_or_else(|| jiff::tz::offset(8).to_datetime(jiff::Timestamp::now()).date());
                demo::history(store.as_ref(), seed, cases, until).await?;
            }
        }
        Command::User { what } => accounts::run(what).await?,
        Command::Audit { what: AuditCommand::Verify { db } } => {
            let store = db.open().await?;
            match store.verify_audit().await? {
                ChainCheck::Intact { entries } => println!("audit chain intact: {entries} entries"),
                ChainCheck::Broken { seq, reason } => {
                    println!("audit chain broken at entry {seq}: {reason}");
                    std::process::exit(1);
                }
            }
        }
        Command::Keys { what: KeysCommand::Rotate { db } } => {
            let path = db.key_path().context("an in-memory database has no key file to rotate")?;
            let id = KeyRing::rotate_file(&path).with_context(|| format!("could not rotate {}", path.display()))?;
            let store = db.open().await?;
            let n = store.reencrypt_personal_data(&Actor::system("keys rotate")).await?;
            println!("key {id} is now current; {n} records re-encrypted");
        }
        Command::Access(args) => access_cmd::run(&args)?,
        Command::Import { what: ImportCommand::Osm(args) } => import_cmd::run(args).await?,
        Command::Bench { what } => bench::run(what).await?,
    }
    Ok(())
}
