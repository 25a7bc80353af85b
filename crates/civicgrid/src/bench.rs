//! Benchmarks as a subcommand, so they run on the release binary and print
//! figures for BENCHMARKS.md: locate throughput against a naive scan, demo
//! generation, server start-up time and idle memory, access checks, case
//! filing over HTTP and case indicators over a year.

mod calls;
mod cases;

use anyhow::Context;
use civicgrid_domain::Level;
use civicgrid_geo::{GridIndex, LatLng, polygon_from_ring};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// Points per second through `locate` (R-tree) and through a scan of every grid.
    Locate {
        #[arg(long, default_value_t = 200_000)]
        points: usize,
    },
    /// Time to generate and write the demo district, and the database's size.
    Demo,
    /// Time from process start to the first 200 on /healthz, and idle RSS.
    Startup,
    /// Sign-in (argon2id), the cost of the access checks per request, and
    /// the cost of encrypting personal data per record.
    Access {
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
    },
    /// Durable case filings per second through the HTTP API with many
    /// clients, and a case timeline read meanwhile.
    Cases {
        #[arg(long, default_value_t = 64)]
        clients: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Synthetic cases in the database before the clients start.
        #[arg(long, default_value_t = 20_000)]
        history: usize,
        /// An empty database to fill and serve (e.g. postgres://…/bench, made
        /// with createdb); a temporary SQLite file by default.
        #[arg(long)]
        database: Option<String>,
        /// `civicgrid serve` processes on the one database; the clients are
        /// shared out among them.
        #[arg(long, default_value_t = 1)]
        nodes: usize,
    },
    /// Case indicators of a district over the synthetic year of a database
    /// made by `civicgrid demo --history N`, against plain SQL in the sqlite3 shell.
    Kpi {
        #[command(flatten)]
        db: crate::Db,
        /// The sqlite3 shell to run the SQL baseline with.
        #[arg(long, default_value = "sqlite3")]
        sqlite3: String,
    },
    /// One-click calls over HTTP: responders' positions per second through
    /// the batch endpoint, then calls per second (filed with their case and
    /// first offers) with latencies.
    Calls {
        /// Responders on duty (the demo's, topped up with synthetic volunteers).
        #[arg(long, default_value_t = 100_000)]
        responders: usize,
        /// Clients sending positions.
        #[arg(long, default_value_t = 4)]
        senders: usize,
        /// Positions per request.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Clients placing calls.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Seconds of each phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// All of the above but `kpi`, which needs a database made beforehand.
    All,
}

pub async fn run(what: What) -> anyhow::Result<()> {
    println!("machine: {} cores, {}", std::thread::available_parallelism().map_or(0, |n| n.get()), cpu_model());
    match what {
        What::Locate { points } => locate(points),
        What::Demo => demo().await,
        What::Startup => startup().await,
        What::Access { requests } => access(requests).await,
        What::Cases { clients, seconds, history, database, nodes } => {
            cases::filing(clients, seconds, history, database, nodes).await
        }
        What::Kpi { db, sqlite3 } => cases::indicators(&db, &sqlite3).await,
        What::Calls { responders, senders, batch, clients, seconds } => {
            calls::run(responders, senders, batch, clients, seconds).await
        }
        What::All => {
            access(20_000).await?;
            locate(200_000)?;
            demo().await?;
            startup().await?;
            cases::filing(64, 20, 20_000, None, 1).await
        }
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn locate(n: usize) -> anyhow::Result<()> {
    let bundle = civicgrid_demo::generate(civicgrid_demo::DEFAULT_SEED);
    let grids = bundle
        .units
        .iter()
        .filter(|u| u.level() == Level::Grid)
        .filter_map(|u| Some((u.code.clone(), polygon_from_ring(u.boundary.as_ref()?).ok()?)))
        .collect::<Vec<_>>();
    let index = GridIndex::build(grids)?;
    let b = index.bounds().context("no grids")?;
    // Points over the district's bounding box widened by 10 %, so some fall outside.
    let (w, h) = (b.width() * 0.1, b.height() * 0.1);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let points: Vec<LatLng> = (0..n)
        .filter_map(|_| {
            LatLng::new(rng.random_range(b.min().y - h..b.max().y + h), rng.random_range(b.min().x - w..b.max().x + w))
                .ok()
        })
        .collect();
    let time = |f: &dyn Fn(LatLng) -> bool, pts: &[LatLng]| {
        let t = Instant::now();
        let found = pts.iter().filter(|p| f(**p)).count();
        (pts.len() as f64 / t.elapsed().as_secs_f64(), found)
    };
    let (indexed, found) = time(&|p| index.locate(p).is_some(), &points);
    // The scan is slow; a tenth of the points give a steady rate.
    let few = &points[..points.len() / 10];
    let (naive, _) = time(&|p| index.locate_naive(p).is_some(), few);
    let agree = few.iter().all(|p| index.locate(*p) == index.locate_naive(*p));
    println!("locate: {} grids, {} points ({} inside), one thread", index.len(), points.len(), found);
    println!("  R-tree index : {indexed:>12.0} points/s");
    println!("  naive scan   : {naive:>12.0} points/s ({} points)", few.len());
    println!("  ratio        : {:>12.1}x  (answers agree: {agree})", indexed / naive);
    Ok(())
}

/// The bounding box `[west, south, east, north]` of every grid of a district.
fn grid_boxes(bundle: &civicgrid_domain::DistrictBundle) -> Vec<[f64; 4]> {
    bundle
        .units
        .iter()
        .filter(|u| u.level() == Level::Grid)
        .filter_map(|u| u.boundary.as_ref())
        .map(|ring| {
            ring.iter().fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |b, [x, y]| {
                [b[0].min(*x), b[1].min(*y), b[2].max(*x), b[3].max(*y)]
            })
        })
        .collect()
}

/// The nearest-rank percentile `p` (0 to 1) of sorted values.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().unwrap_or(0)
}

fn file_size(path: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|ext| std::fs::metadata(format!("{}{ext}", path.display())).ok())
        .map(|m| m.len())
        .sum()
}

async fn demo() -> anyhow::Result<()> {
    let dir = tempdir()?;
    let db = dir.path().join("bench-demo.db");
    let t = Instant::now();
    let bundle = civicgrid_demo::generate(civicgrid_demo::DEFAULT_SEED);
    let generated = t.elapsed();
    let store = civicgrid_store::open(db.to_str().context("path")?, civicgrid_store::KeyRing::ephemeral()).await?;
    let t = Instant::now();
    store.import_district(&bundle, &|_, _| {}, &civicgrid_store::Actor::system("bench")).await?;
    let written = t.elapsed();
    // Closing folds SQLite's write-ahead log into the main file.
    store.close().await;
    let rows = bundle.units.len()
        + bundle.compounds.len()
        + bundle.buildings.len()
        + bundle.households.len()
        + bundle.residents.len()
        + bundle.facilities.len()
        + bundle.cameras.len()
        + bundle.party_branches.iter().map(|b| 1 + b.grids.len()).sum::<usize>()
        + bundle.party_groups.len()
        + bundle.people.iter().map(|p| 1 + p.roles.len()).sum::<usize>()
        + bundle.streets.nodes.len()
        + bundle.streets.edges.len();
    println!(
        "demo: generate {:.2} s, write {:.2} s, total {:.2} s; {} residents, {rows} rows in all",
        generated.as_secs_f64(),
        written.as_secs_f64(),
        (generated + written).as_secs_f64(),
        bundle.residents.len(),
    );
    println!("  database size: {:.1} MiB (file + WAL)", file_size(&db) as f64 / 1048576.0);
    Ok(())
}

/// A directory for a benchmark's database, removed with everything in it
/// when dropped: a run leaves nothing behind, however it ends.
fn tempdir() -> anyhow::Result<tempfile::TempDir> {
    Ok(tempfile::Builder::new().prefix("civicgrid-bench-").tempdir()?)
}

/// Starts `civicgrid serve`, returning the child, its address and the time to first 200.
async fn start_server(db: &crate::Db, demo: bool) -> anyhow::Result<(tokio::process::Child, String, Duration)> {
    let exe = std::env::current_exe()?;
    let t = Instant::now();
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--database"]).arg(&db.database);
    if let Some(k) = &db.key_file {
        cmd.arg("--key-file").arg(k);
    }
    if demo {
        cmd.arg("--demo");
    }
    let mut child = cmd
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines.next_line().await?.context("server exited before listening")?;
        if let Some(a) = line.strip_prefix("listening on http://") {
            break a.to_owned();
        }
    };
    while !healthz(&addr).await {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok((child, addr, t.elapsed()))
}

async fn healthz(addr: &str) -> bool {
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else { return false };
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.is_ok() && buf.starts_with(b"HTTP/1.1 200")
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

async fn startup() -> anyhow::Result<()> {
    let dir = tempdir()?;
    let path = dir.path().join("bench-startup.db");
    let db = crate::Db { database: path.to_str().context("temporary path")?.to_owned(), key_file: None };
    let (mut first, _, cold) = start_server(&db, true).await?;
    first.kill().await.ok();
    first.wait().await.ok();
    let (mut warm, _, warm_time) = start_server(&db, false).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = warm.id().and_then(rss_kib).unwrap_or(0);
    warm.kill().await.ok();
    warm.wait().await.ok();
    println!("startup to first 200 on /healthz:");
    println!("  empty database, --demo (generates and writes the district): {:>7.0} ms", cold.as_secs_f64() * 1e3);
    println!("  demo already in the database                             : {:>7.0} ms", warm_time.as_secs_f64() * 1e3);
    println!("  idle RSS with the demo loaded                            : {:>7.1} MiB", rss as f64 / 1024.0);
    Ok(())
}

/// Sign-in latency, access-check overhead and encryption cost.
async fn access(requests: usize) -> anyhow::Result<()> {
    use civicgrid_server::auth::{self, Caller, Via};

    // Sign-in: one argon2id verification is what a sign-in spends.
    let hash = auth::password::hash("demo-password-2026");
    let n = 20;
    let t = Instant::now();
    for _ in 0..n {
        anyhow::ensure!(auth::password::verify("demo-password-2026", &hash), "verify failed");
    }
    let verify_ms = t.elapsed().as_secs_f64() * 1e3 / f64::from(n);
    println!(
        "sign-in: argon2id m={} KiB, t={}, p={}: {verify_ms:.1} ms per verification (one core)",
        auth::password::MEMORY_KIB,
        auth::password::PASSES,
        auth::password::LANES
    );

    // Access checks: the same request through the real router (token lookup,
    // user and grants, permission and scope) and through one handed the caller.
    let store = civicgrid_store::open("sqlite::memory:", civicgrid_store::KeyRing::ephemeral()).await?;
    let system = civicgrid_store::Actor::system("bench");
    store.import_district(&civicgrid_demo::generate(civicgrid_demo::DEFAULT_SEED), &|_, _| {}, &system).await?;
    crate::accounts::ensure_demo_accounts_quietly(store.as_ref(), "demo-password-2026").await?;
    let user = store.user_by_name("demo-community").await?.context("demo-community")?;
    let secret = auth::new_secret();
    let token = store.create_token(user.id, "bench", &auth::sha256_hex(&secret), None, &system).await?;
    let state = civicgrid_server::AppState::load(store.clone()).await?;
    let caller = Caller {
        principal: civicgrid_domain::Principal {
            user_id: user.id,
            username: user.username.clone(),
            grants: user.grants.clone(),
        },
        display_name: user.display_name.clone(),
        via: Via::Token { id: token.id },
        ip: None,
    };
    let sign_in = civicgrid_server::sign_in_cost(state.clone(), "demo-community", "demo-password-2026", 20)
        .await
        .map_err(anyhow::Error::msg)?;
    println!("sign-in through POST /api/v1/session (verify, audit, new token): {sign_in:.1} ms");
    let uri = "/api/v1/units/610304003002001/history";
    let (with, without) =
        civicgrid_server::access_check_cost(state, caller, &secret, uri, requests).await.map_err(anyhow::Error::msg)?;
    println!("access checks: GET {uri}, {requests} requests in process, one task");
    println!("  without checks: {without:>8.1} us per request");
    println!("  with checks   : {with:>8.1} us per request (+{:.1} us, {:.2}x)", with - without, with / without);

    // Personal data: encrypt and decrypt one ID number, and its blind index.
    let keys = civicgrid_store::KeyRing::ephemeral();
    let id = "61039919500228001X";
    let m = 200_000;
    let t = Instant::now();
    let mut blob = Vec::new();
    for _ in 0..m {
        blob = keys.encrypt(id);
    }
    let enc = t.elapsed().as_secs_f64() * 1e9 / m as f64;
    let t = Instant::now();
    for _ in 0..m {
        anyhow::ensure!(keys.decrypt(&blob)? == id, "round trip");
    }
    let dec = t.elapsed().as_secs_f64() * 1e9 / m as f64;
    let t = Instant::now();
    let mut index = String::new();
    for _ in 0..m {
        index = keys.blind_index(id);
    }
    let idx = t.elapsed().as_secs_f64() * 1e9 / m as f64;
    println!(
        "personal data, per value ({m} values, one core): AES-256-GCM encrypt {enc:.0} ns, decrypt {dec:.0} ns, HMAC-SHA256 index {idx:.0} ns ({} hex chars)",
        index.len()
    );
    Ok(())
}
