//! The `civicgrid` binary: glue over the library crates. `serve` runs the
//! server, `demo` writes the synthetic demo district, `user` manages
//! accounts, `audit verify` checks the audit chain, `keys rotate` rotates the
//! personal-data key, `import osm` reads an OpenStreetMap extract,
//! `migrate`, `backup`, `restore` and `export` keep the database, `bench`
//! measures.

/// The server makes many small allocations per request (JSON, rows,
/// events); mimalloc serves them in about half the time glibc's malloc did.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod access_cmd;
mod accounts;
mod bench;
mod demo;
mod dump_cmd;
mod http;
mod import_cmd;
mod simulate;

use anyhow::Context;
use civicgrid_store::attachments::AttachmentStore;
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
    /// Database: a file path, sqlite://PATH, or postgres://USER:PASSWORD@HOST/NAME
    /// (a server that several nodes share; then --key-file is required).
    #[arg(long, env = "CIVICGRID_DATABASE", default_value = "civicgrid.db")]
    database: String,
    /// File of the keys that encrypt ID and phone numbers; created (mode 0600)
    /// when absent. Defaults to the database path with `.keys` appended; a
    /// PostgreSQL database needs it named. Keep it out of version control and
    /// apart from the database's backups, but keep it as safely: without it a
    /// backup shows no ID or phone number.
    #[arg(long, env = "CIVICGRID_KEY_FILE")]
    key_file: Option<PathBuf>,
}

impl Db {
    /// The key file named or beside a SQLite file; none for an in-memory
    /// database or an unnamed one of PostgreSQL.
    fn key_path(&self) -> Option<PathBuf> {
        if let Some(k) = &self.key_file {
            return Some(k.clone());
        }
        sqlite_file(&self.database).map(|path| PathBuf::from(format!("{path}.keys")))
    }

    fn keys(&self) -> anyhow::Result<KeyRing> {
        match self.key_path() {
            Some(p) => {
                KeyRing::load_or_create(&p).with_context(|| format!("could not load the key file {}", p.display()))
            }
            // A key made up here would differ from the other nodes' and die with the process.
            None if civicgrid_store::is_postgres(&self.database) => anyhow::bail!(
                "a PostgreSQL database needs --key-file (or CIVICGRID_KEY_FILE): the file of the keys that encrypt \
                 its ID and phone numbers, the same on every node"
            ),
            None => Ok(KeyRing::ephemeral()),
        }
    }

    /// The photo directory: `explicit`, or the database path with `.files`
    /// appended; none for a database in memory.
    pub(crate) fn attachments(&self, explicit: Option<PathBuf>) -> anyhow::Result<Option<AttachmentStore>> {
        let Some(dir) = explicit.or_else(|| self.key_path().map(|k| k.with_extension("files"))) else {
            return Ok(None);
        };
        let files = AttachmentStore::open(&dir)
            .with_context(|| format!("could not use the attachment directory {}", dir.display()))?;
        Ok(Some(files))
    }

    pub(crate) async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        civicgrid_store::open(&self.database, self.keys()?)
            .await
            .with_context(|| format!("could not open database {}", shown(&self.database)))
    }
}

/// The file of a SQLite database; `None` for PostgreSQL and in memory.
fn sqlite_file(database: &str) -> Option<&str> {
    if civicgrid_store::is_postgres(database) {
        return None;
    }
    let path = database.strip_prefix("sqlite://").unwrap_or(database);
    let path = path.split('?').next().unwrap_or(path);
    (!path.contains(":memory:")).then_some(path)
}

/// Refuses a SQLite file that is not there, where opening would make an
/// empty database: the source of a backup or an export.
pub(crate) fn must_exist(database: &str) -> anyhow::Result<()> {
    match sqlite_file(database) {
        Some(path) if !std::path::Path::new(path).exists() => anyhow::bail!("there is no database at {path}"),
        _ => Ok(()),
    }
}

/// Where the data is, for commands that read no personal data and need no keys.
#[derive(Debug, Args)]
struct DbUrl {
    /// Database: a file path, sqlite://PATH or postgres://USER:PASSWORD@HOST/NAME.
    #[arg(long, env = "CIVICGRID_DATABASE", default_value = "civicgrid.db")]
    database: String,
}

impl DbUrl {
    /// The store with throwaway keys: no key file is read or made.
    async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        civicgrid_store::open(&self.database, KeyRing::ephemeral())
            .await
            .with_context(|| format!("could not open database {}", shown(&self.database)))
    }
}

/// A database URL fit to print: its password replaced by `***`.
pub(crate) fn shown(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else { return url.to_owned() };
    let authority = &url[start..url[start..].find('/').map_or(url.len(), |i| start + i)];
    match authority.rfind('@').and_then(|at| authority[..at].find(':').map(|colon| (colon, at))) {
        Some((colon, at)) => format!("{}***{}", &url[..start + colon + 1], &url[start + at..]),
        None => url.to_owned(),
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
        /// A CSV of public holidays and adjusted working days (date,kind,name)
        /// for years beyond the built-in 2025–2026, or the State Council's 2027
        /// notice, which replaces the built-in provisional 2027.
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
        #[command(flatten)]
        calls: CallArgs,
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
        /// Directory for photos (the history's on-the-spot photo goes there);
        /// the database path with `.files` appended by default, as for `serve`.
        #[arg(long, env = "CIVICGRID_ATTACHMENTS")]
        attachments: Option<PathBuf>,
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
    /// Apply the schema's numbered migrations and say which.
    ///
    /// The server and the other commands apply them too when they open a
    /// database; this is the step on its own. A second run has nothing to do.
    Migrate {
        #[command(flatten)]
        db: DbUrl,
        /// List the migrations applied and pending; change nothing.
        #[arg(long)]
        status: bool,
    },
    /// Write every record to a new file, consistently while the server runs.
    ///
    /// The backup holds every table, accounts, cases and the audit log
    /// included, as JSON lines (mode 0600), read in one snapshot. ID and phone
    /// numbers are in it encrypted and their keys are not: a backup is of use
    /// only with the database's key file, so keep that too, as safely and
    /// apart from the backup. Photos stay in the attachment directory; copy
    /// it as files.
    Backup {
        #[command(flatten)]
        db: DbUrl,
        /// The backup file to create; an existing file is not overwritten.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Load a backup into a new, empty database.
    ///
    /// Either backend restores a backup of either (a database holding any
    /// row is refused; a damaged backup loads nothing), then its audit chain
    /// is checked. ID and phone numbers open only with the key file of the
    /// database that was backed up: put it at the new database's key path
    /// (the database path plus `.keys`) or name it with --key-file; no key
    /// file is made here.
    #[command(mut_arg("key_file", |a| a.help(
        "The key file of the database that was backed up, to check that it opens the restored personal data; \
         never created. Defaults to the database path with `.keys` appended"
    )))]
    Restore {
        #[command(flatten)]
        db: Db,
        /// The backup file.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Copy a whole district into a new, empty database, e.g. onto PostgreSQL.
    ///
    /// Every record and audit entry goes as it is, in one transaction; the
    /// copy's id counters continue after the copied ids and its audit chain
    /// is checked. Create the PostgreSQL database first, and stop the server:
    /// writes made after the copy began stay behind. The copy's ID and phone
    /// numbers open with the source's key file: serve it with --key-file
    /// naming that file.
    #[command(mut_arg("key_file", |a| a.help(
        "The source's key file, to check that it opens the copy's personal data; never created. Defaults to the \
         database path with `.keys` appended"
    )))]
    Export {
        /// The database to copy, and its key file.
        #[command(flatten)]
        db: Db,
        /// The database to copy into: postgres://USER:PASSWORD@HOST/NAME, or a SQLite path.
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Measure: locate, demo generation, start-up, access checks, case filing and indicators.
    Bench {
        #[command(subcommand)]
        what: bench::What,
    },
    /// Drive a running server's demo district: responders walk its streets
    /// and report positions, calls arrive at a chosen rate and are answered,
    /// walked to and done. For watching the command centre and making load.
    Simulate(simulate::SimulateArgs),
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
    /// Check the hash chain from the first entry to the last; exit 1 at a
    /// break. Needs no key file.
    Verify {
        #[command(flatten)]
        db: DbUrl,
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

/// How one-click calls are dispatched.
#[derive(Debug, Clone, clap::Args)]
struct CallArgs {
    /// Responders a call is offered to at once, per round.
    #[arg(long, env = "CIVICGRID_CALL_OFFERS", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=20))]
    call_offers: u16,
    /// Seconds a responder has to accept an offer before it goes to the next ones.
    #[arg(long, env = "CIVICGRID_CALL_ACK", default_value_t = 45, value_parser = clap::value_parser!(u32).range(5..=600))]
    call_ack: u32,
    /// Seconds after which a call nobody accepted alarms the command centre
    /// and notifies the community (offers go on).
    #[arg(long, env = "CIVICGRID_CALL_GIVE_UP", default_value_t = 180, value_parser = clap::value_parser!(u32).range(10..=3600))]
    call_give_up: u32,
    /// How far responders are sought, in metres.
    #[arg(long, env = "CIVICGRID_CALL_RADIUS", default_value_t = 3000, value_parser = clap::value_parser!(u32).range(100..=50_000))]
    call_radius: u32,
    /// The grid's own worker gets the first offer when at most this many
    /// seconds' walk slower than the nearest responder.
    #[arg(long, env = "CIVICGRID_GRID_WORKER_MARGIN", default_value_t = 120, value_parser = clap::value_parser!(u32).range(0..=3600))]
    grid_worker_margin: u32,
    /// Seconds after which a responder's last position is stale: no offers.
    #[arg(long, env = "CIVICGRID_POSITION_STALE", default_value_t = 120, value_parser = clap::value_parser!(u32).range(10..=86_400))]
    position_stale: u32,
}

impl CallArgs {
    fn policy(&self) -> civicgrid_domain::DispatchPolicy {
        let secs = |s: u32| jiff::SignedDuration::from_secs(i64::from(s));
        civicgrid_domain::DispatchPolicy {
            offers: usize::from(self.call_offers),
            ack: secs(self.call_ack),
            give_up: secs(self.call_give_up),
            radius_m: f64::from(self.call_radius),
            grid_margin: secs(self.grid_worker_margin),
            stale_after: secs(self.position_stale),
            ..civicgrid_domain::DispatchPolicy::default()
        }
    }
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
            calls,
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
                .with_clock(clock_every, clock_ahead_hours)
                .with_dispatch(calls.policy());
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
            if let Some(files) = db.attachments(attachments)? {
                state = state.with_attachments(files);
            }
            let listener =
                tokio::net::TcpListener::bind(addr).await.with_context(|| format!("could not listen on {addr}"))?;
            let local = listener.local_addr()?;
            // Scripts wait for this line to learn the port.
            println!("listening on http://{local}");
            tracing::info!(%local, database = %shown(&db.database), "serving");
            let store = state.store.clone();
            civicgrid_server::serve(listener, state, shutdown_signal()).await.context("server failed")?;
            store.close().await;
        }
        Command::Demo { db, seed, history, history_until, attachments } => {
            let store = db.open().await?;
            if store.is_empty().await? {
                demo::load(store.as_ref(), seed, true).await?;
            } else if history.is_none() {
                anyhow::bail!("database {} already holds a district; use a new file", shown(&db.database));
            } else if store.setting("demo_seed").await?.as_deref() != Some(seed.to_string().as_str()) {
                anyhow::bail!("database {} holds a district other than the demo of seed {seed}", shown(&db.database));
            }
            if let Some(cases) = history {
                let until =
                    history_until.unwrap_or_else(|| jiff::tz::offset(8).to_datetime(jiff::Timestamp::now()).date());
                let files = db
                    .attachments(attachments)?
                    .context("a synthetic year needs a photo directory: --attachments DIR")?;
                demo::history(store.as_ref(), &files, seed, cases, until).await?;
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
            let path = db.key_path().context("no key file to rotate: name it with --key-file")?;
            let id = KeyRing::rotate_file(&path).with_context(|| format!("could not rotate {}", path.display()))?;
            let store = db.open().await?;
            let n = store.reencrypt_personal_data(&Actor::system("keys rotate")).await?;
            println!("key {id} is now current; {n} records re-encrypted");
        }
        Command::Access(args) => access_cmd::run(&args)?,
        Command::Import { what: ImportCommand::Osm(args) } => import_cmd::run(args).await?,
        Command::Migrate { db, status } => dump_cmd::migrate(&db.database, status).await?,
        Command::Backup { db, out } => {
            must_exist(&db.database)?;
            dump_cmd::backup(db.open().await?.as_ref(), &out).await?;
        }
        Command::Restore { db, from } => dump_cmd::restore(&db, &from).await?,
        Command::Export { db, to } => dump_cmd::export(&db, &to).await?,
        Command::Bench { what } => bench::run(what).await?,
        Command::Simulate(args) => simulate::run(args).await?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            shown("postgres://cg:s3cr@t@db.example:5432/cg?sslmode=require"),
            "postgres://cg:***@db.example:5432/cg?sslmode=require"
        );
        assert_eq!(shown("postgres://cg@db.example/cg"), "postgres://cg@db.example/cg");
        assert_eq!(shown("postgresql://db.example/cg"), "postgresql://db.example/cg");
        assert_eq!(shown("sqlite://data/c.db"), "sqlite://data/c.db");
        assert_eq!(shown("civicgrid.db"), "civicgrid.db");
    }
}
