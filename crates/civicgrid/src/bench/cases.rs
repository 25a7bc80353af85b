//! The case benchmarks: durable filings per second through the HTTP API with
//! many clients and a timeline read under that load; and the indicators of a
//! year of cases computed by the domain against plain SQL in the sqlite3 shell.

use super::{percentile, start_server, tempdir};
use crate::Db;
use crate::demo::{HISTORY_SETTING, write_history};
use crate::http::Conn;
use anyhow::Context;
use civicgrid_domain::kpi::{KpiReport, Period};
use civicgrid_domain::{Level, UnitCode, WorkCalendar};
use civicgrid_server::casework;
use civicgrid_store::{Actor, CaseQuery};
use jiff::Timestamp;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// The baseline query; see its header for what it computes and what not.
const KPI_SQL: &str = include_str!("../../bench/kpi.sql");

/// Timeline reads on an idle server, before the filing starts.
const IDLE_READS: usize = 200;

/// Latencies in microseconds.
fn summary(lat: &mut [u64]) -> String {
    lat.sort_unstable();
    let ms = |p: f64| percentile(lat, p) as f64 / 1e3;
    format!("p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", ms(0.50), ms(0.99), ms(1.0))
}

#[derive(Debug, Default)]
struct Tally {
    latencies: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn record(&mut self, started: Instant, answer: anyhow::Result<(u16, Vec<u8>)>, want: u16) {
        self.latencies.push(started.elapsed().as_micros() as u64);
        let problem = match answer {
            Ok((status, _)) if status == want => return,
            Ok((status, body)) => format!("{status}: {}", String::from_utf8_lossy(&body)),
            Err(e) => e.to_string(),
        };
        self.errors += 1;
        self.first_error.get_or_insert(problem);
    }
}

/// `clients` clients file cases for `seconds` seconds over HTTP while one
/// more reads a case's timeline, against `nodes` `civicgrid serve` processes
/// on one database (`database`, or a temporary SQLite file) holding the demo
/// district and `history` synthetic cases.
pub async fn filing(
    clients: usize,
    seconds: u64,
    history: usize,
    database: Option<String>,
    nodes: usize,
) -> anyhow::Result<()> {
    let dir = tempdir()?;
    let database = match database {
        Some(url) => url,
        None => dir.path().join("bench-cases.db").to_str().context("temporary path")?.to_owned(),
    };
    let backend = if database.starts_with("postgres") { "PostgreSQL" } else { "SQLite (WAL, synchronous=FULL)" };
    let db = Db { database, key_file: Some(dir.path().join("bench-cases.keys")) };
    let store = db.open().await?;
    anyhow::ensure!(store.is_empty().await?, "the benchmark needs an empty database, not {}", db.database);
    let seed = civicgrid_demo::DEFAULT_SEED;
    let system = Actor::system("bench");
    let bundle = civicgrid_demo::generate(seed);
    store.import_district(&bundle, &|_, _| {}, &system).await?;
    store.set_setting("demo_seed", &seed.to_string(), &system).await?;
    let t = Instant::now();
    let until = jiff::tz::offset(8).to_datetime(Timestamp::now()).date();
    let files = db.attachments(Some(dir.path().join("bench-cases.files")))?.context("photo directory")?;
    let written = write_history(store.as_ref(), &files, seed, history, until, &|_, _| {}).await?;
    let history_secs = t.elapsed().as_secs_f64();
    crate::accounts::ensure_demo_accounts_quietly(store.as_ref(), crate::accounts::DEMO_PASSWORD).await?;
    let operator = store.user_by_name("demo-operator").await?.context("demo-operator")?;
    let secret = civicgrid_server::auth::new_secret();
    store.create_token(operator.id, "bench", &civicgrid_server::auth::sha256_hex(&secret), None, &system).await?;
    let district = UnitCode::parse("610304")?;
    // The timeline read is the longest history among the newest cases.
    let recent = store.cases(&CaseQuery { within: Some(district.clone()), limit: 1000, ..Default::default() }).await?;
    let timeline = recent.items.iter().max_by_key(|c| c.events).map(|c| (c.id, c.events));
    let before = recent.total;
    drop(store);

    let mut servers = Vec::new();
    for _ in 0..nodes.max(1) {
        servers.push(start_server(&db, false).await?);
    }
    let addrs: Vec<String> = servers.iter().map(|(_, a, _)| a.clone()).collect();
    let addr = addrs[0].clone();
    let grids = super::grid_boxes(&bundle);
    let grids = Arc::new(grids);
    let categories: Arc<Vec<String>> =
        Arc::new(casework::rules().catalogue.categories().map(|c| c.code.to_string()).collect());
    let auth = format!("Authorization: Bearer {secret}\r\n");
    // The timeline alone first, to compare with the same read under load.
    let mut idle = Tally::default();
    if let Some((id, _)) = timeline {
        let mut conn = Conn::open(&addr).await?;
        for _ in 0..IDLE_READS {
            let t = Instant::now();
            let answer = conn.send("GET", &format!("/api/v1/cases/{id}"), &auth, "").await;
            idle.record(t, answer, 200);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut filers = Vec::new();
    for client in 0..clients {
        let addr = addrs[client % addrs.len()].clone();
        let (auth, grids, categories) = (auth.clone(), grids.clone(), categories.clone());
        filers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(client as u64);
            let mut conn = Conn::open(&addr).await?;
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let r = grids[rng.random_range(0..grids.len())];
                let (lat, lon) = (rng.random_range(r[1]..r[3]), rng.random_range(r[0]..r[2]));
                let category = &categories[rng.random_range(0..categories.len())];
                let body = serde_json::json!({
                    "title": "12345转办：市民来电反映",
                    "description": "来电人称附近存在问题，请核实处置。",
                    "category": category, "lat": lat, "lon": lon, "source": "hotline_12345",
                })
                .to_string();
                let headers = format!("{auth}Idempotency-Key: bench-{client}-{n}\r\n");
                let t = Instant::now();
                let answer = conn.send("POST", "/api/v1/cases", &headers, &body).await;
                tally.record(t, answer, 201);
            }
            anyhow::Ok(tally)
        }));
    }
    let reader = timeline.map(|(id, _)| {
        let (addr, auth) = (addr.clone(), auth.clone());
        tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut conn = Conn::open(&addr).await?;
            let path = format!("/api/v1/cases/{id}");
            while Instant::now() < deadline {
                let t = Instant::now();
                let answer = conn.send("GET", &path, &auth, "").await;
                tally.record(t, answer, 200);
            }
            anyhow::Ok(tally)
        })
    });
    let mut filed = Tally::default();
    for f in filers {
        let t = f.await??;
        filed.latencies.extend(t.latencies);
        filed.errors += t.errors;
        if filed.first_error.is_none() {
            filed.first_error = t.first_error;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let read = match reader {
        Some(r) => Some(r.await??),
        None => None,
    };
    // Killed, not stopped: what was acknowledged must be in the database anyway.
    for (server, _, _) in &mut servers {
        server.kill().await.ok();
        server.wait().await.ok();
    }
    let store = db.open().await?;
    let after = store.cases(&CaseQuery { within: Some(district), limit: 1, ..Default::default() }).await?.total;
    drop(store);

    let ok = filed.latencies.len() as u64 - filed.errors;
    println!(
        "cases: demo district + {} synthetic cases ({} events, written in {history_secs:.1} s); {} `civicgrid serve` child process(es) on one {backend} database",
        written.cases,
        written.events,
        servers.len()
    );
    println!(
        "  filing   : {clients} clients, POST /api/v1/cases with Idempotency-Key, {elapsed:.1} s: {ok} filed, {} errors",
        filed.errors
    );
    println!("             {:>8.1} filings/s, {}", ok as f64 / elapsed, summary(&mut filed.latencies));
    if let Some(e) = &filed.first_error {
        println!("             first error: {e}");
    }
    if let (Some(mut read), Some((id, events))) = (read, timeline) {
        println!("  timeline : GET /api/v1/cases/{id} ({events} events)");
        println!(
            "             alone, before the filing: {} reads, {} errors, {}",
            idle.latencies.len(),
            idle.errors,
            summary(&mut idle.latencies)
        );
        println!(
            "             by one more client during it: {} reads, {} errors, {:.1} reads/s, {}",
            read.latencies.len(),
            read.errors,
            read.latencies.len() as f64 / elapsed,
            summary(&mut read.latencies)
        );
    }
    println!("  durable  : after SIGKILL, {} of {ok} acknowledged filings are in the database", after - before);
    Ok(())
}

/// Peak resident memory of this process so far.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// The answers of the SQL baseline, by (section, community, key).
type SqlAnswers = BTreeMap<(String, String, String), String>;

fn parse_sql(out: &str) -> SqlAnswers {
    let mut answers = SqlAnswers::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('|').collect();
        match f.as_slice() {
            ["closed", unit, closed, rework, self_handled, rated, mean] => {
                for (key, v) in [
                    ("closed", closed),
                    ("rework", rework),
                    ("self_handled", self_handled),
                    ("rated", rated),
                    ("mean", mean),
                ] {
                    answers.insert(("closed".into(), (*unit).into(), key.into()), (*v).into());
                }
            }
            [section, unit, key, value] => {
                answers.insert(((*section).into(), (*unit).into(), (*key).into()), (*value).into());
            }
            [section, unit, value] => {
                answers.insert(((*section).into(), (*unit).into(), String::new()), (*value).into());
            }
            _ => {}
        }
    }
    answers
}

/// Ours in the shape of the SQL's answers, for the indicators both compute.
fn ours_as_sql(report: &KpiReport) -> SqlAnswers {
    let mut answers = SqlAnswers::new();
    for (unit, k) in &report.units {
        let u = unit.to_string();
        let mut put = |section: &str, key: &str, v: String| {
            answers.insert((section.into(), u.clone(), key.into()), v);
        };
        for (s, n) in &k.by_source {
            put("source", s.as_str(), n.to_string());
        }
        for (c, n) in &k.by_category {
            put("category", c.as_str(), n.to_string());
        }
        for (s, n) in &k.by_state {
            put("state", s.as_str(), n.to_string());
        }
        put("closed", "closed", k.closed.to_string());
        put("closed", "rework", k.rework.num.to_string());
        put("closed", "self_handled", k.self_handled.num.to_string());
        put("closed", "rated", k.evaluated.to_string());
        put("overdue", "", k.overdue_now.to_string());
    }
    answers
}

/// Computes the indicators of a year of cases by community, as
/// `GET /api/v1/kpis` does (pages of histories replayed and counted while the
/// next page loads), then runs the SQL baseline in the sqlite3 shell.
pub async fn indicators(db: &Db, sqlite3: &str) -> anyhow::Result<()> {
    let store = db.open().await?;
    let note = store
        .setting(HISTORY_SETTING)
        .await?
        .context("no synthetic year in this database: make one with `civicgrid demo --history 1000000`")?;
    let note: serde_json::Value = serde_json::from_str(&note)?;
    let time = |k: &str| -> anyhow::Result<Timestamp> {
        Ok(note[k].as_str().with_context(|| format!("{HISTORY_SETTING} has no {k}"))?.parse()?)
    };
    let period = Period { from: time("from")?, to: time("to")? };
    let district = store.units(Level::District, None).await?.into_iter().next().context("no district")?.code;
    let now = Timestamp::now();
    let cal = WorkCalendar::china();
    let t = Instant::now();
    let levels = [Level::Community, Level::District];
    let mut report = casework::indicators(store.clone(), &cal, &district, period, &levels, now).await?;
    let ours = t.elapsed().as_secs_f64();
    let peak = peak_rss_mib();
    let whole = report.units.remove(&district).unwrap_or_default();
    drop(store);

    let param = |name: &str, t: Timestamp| format!(".parameter set @{name} '{t:.6}'");
    let path = db.database.strip_prefix("sqlite://").unwrap_or(&db.database);
    let t = Instant::now();
    let mut child = tokio::process::Command::new(sqlite3)
        .args(["-readonly", "-bail", "-cmd"])
        .arg(param("from", period.from))
        .arg("-cmd")
        .arg(param("to", period.to))
        .arg("-cmd")
        .arg(param("now", now))
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("could not run {sqlite3} (Debian package sqlite3)"))?;
    child.stdin.take().context("stdin")?.write_all(KPI_SQL.as_bytes()).await?;
    let out = child.wait_with_output().await?;
    let sql = t.elapsed().as_secs_f64();
    anyhow::ensure!(out.status.success(), "sqlite3 failed: {}", out.status);
    let theirs = parse_sql(&String::from_utf8_lossy(&out.stdout));
    let mut mine = ours_as_sql(&report);
    // The mean rating is a float; compare it to the SQL's printed digits.
    let mut means_agree = true;
    for (unit, k) in &report.units {
        let key = ("closed".to_owned(), unit.to_string(), "mean".to_owned());
        let theirs_mean = theirs.get(&key).and_then(|v| v.parse::<f64>().ok());
        means_agree &= match (k.satisfaction_mean, theirs_mean) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            (None, None) => true,
            _ => false,
        };
    }
    // A zero is a missing group on the SQL's side.
    let theirs_counts: SqlAnswers = theirs.into_iter().filter(|(k, v)| k.2 != "mean" && v != "0").collect();
    mine.retain(|_, v| v != "0");
    let agree = means_agree && mine == theirs_counts;

    let pct = |r: civicgrid_domain::Ratio| 100.0 * r.value().unwrap_or(0.0);
    println!(
        "kpi: {} cases of district {district} reported {} to {}, by community ({} units)",
        whole.reported,
        period.from,
        period.to,
        report.units.len()
    );
    println!(
        "  district: {} closed ({:.1} % on time), rework {:.1} %, self-handled {:.1} %, {} overdue now, {} histories refused",
        whole.closed,
        pct(whole.on_time_closure),
        pct(whole.rework),
        pct(whole.self_handled),
        whole.overdue_now,
        report.invalid_histories
    );
    println!(
        "  ours (casework::indicators, pages of {} cases, by community and for the district): {ours:.1} s; peak RSS {peak:.0} MiB",
        casework::HISTORY_PAGE
    );
    println!("  SQL GROUP BY in the sqlite3 shell (crates/civicgrid/bench/kpi.sql): {sql:.1} s");
    println!("  ratio: {:.1}x (the SQL leaves out on-time rates and step times; counts agree: {agree})", ours / sql);
    Ok(())
}
