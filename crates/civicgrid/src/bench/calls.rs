//! The one-click call benchmarks over HTTP, against a `civicgrid serve`
//! holding the demo district with its responders topped up to a number
//! (synthetic volunteers): positions per second through the batch endpoint,
//! then calls per second (HTTP POST → the call and its case durable → the
//! first offers made) with their latencies.

use super::{percentile, start_server, tempdir};
use crate::Db;
use crate::http::Conn;
use anyhow::Context;
use civicgrid_domain::{Gender, Level, Person, PersonRole, RoleKind};
use civicgrid_store::Actor;
use jiff::Timestamp;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Metres per degree of latitude.
const M_PER_DEG: f64 = 111_195.0;

/// Latencies in microseconds: "p50 …, p99 …, max …".
fn spread(lat: &mut [u64]) -> String {
    lat.sort_unstable();
    let ms = |p: f64| percentile(lat, p) as f64 / 1e3;
    format!("p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", ms(0.50), ms(0.99), ms(1.0))
}

/// The demo district with synthetic volunteers added until `responders`
/// people answer calls.
fn district(responders: usize) -> civicgrid_domain::DistrictBundle {
    let mut bundle = civicgrid_demo::generate(civicgrid_demo::DEFAULT_SEED);
    let have = civicgrid_demo::responders(&bundle).len();
    let communities: Vec<_> =
        bundle.units.iter().filter(|u| u.level() == Level::Community).map(|u| u.code.clone()).collect();
    let first = bundle.people.iter().map(|p| p.id).max().unwrap_or(0) + 1;
    let since = jiff::civil::date(2026, 1, 1);
    for (id, n) in (first..).zip(have..responders) {
        let home = communities[n % communities.len()].clone();
        bundle.people.push(Person {
            id,
            name: format!("志愿者{n}"),
            gender: if n % 2 == 0 { Gender::Female } else { Gender::Male },
            phone: None,
            home_community: Some(home.clone()),
            roles: vec![PersonRole { kind: RoleKind::Volunteer, unit: home, since }],
        });
    }
    bundle
}

/// `responders` responders on duty, positions sent in batches of `batch` by
/// `senders` clients for `seconds`; then `clients` clients placing calls for
/// `seconds`.
pub async fn run(responders: usize, senders: usize, batch: usize, clients: usize, seconds: u64) -> anyhow::Result<()> {
    let dir = tempdir()?;
    let db = Db {
        database: dir.path().join("bench-calls.db").to_str().context("temporary path")?.to_owned(),
        key_file: Some(dir.path().join("bench-calls.keys")),
    };
    let store = db.open().await?;
    let system = Actor::system("bench");
    let t = Instant::now();
    let bundle = district(responders);
    store.import_district(&bundle, &|_, _| {}, &system).await?;
    let all = crate::demo::responder_records(&bundle, true);
    store.add_responders(&all, &system).await?;
    crate::accounts::ensure_demo_accounts_quietly(store.as_ref(), crate::accounts::DEMO_PASSWORD).await?;
    let operator = store.user_by_name("demo-operator").await?.context("demo-operator")?;
    let secret = civicgrid_server::auth::new_secret();
    store.create_token(operator.id, "bench", &civicgrid_server::auth::sha256_hex(&secret), None, &system).await?;
    drop(store);
    println!(
        "calls: demo district with {} responders on duty, SQLite (WAL, synchronous=FULL), written in {:.1} s",
        all.len(),
        t.elapsed().as_secs_f64()
    );
    let (mut server, addr, _) = start_server(&db, false).await?;
    let auth = format!("Authorization: Bearer {secret}\r\n");

    // Each responder somewhere in a random grid of the district.
    let grids = super::grid_boxes(&bundle);
    let grids = Arc::new(grids);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let ids: Vec<i64> = all.iter().map(|r| r.id).collect();
    let homes: Vec<(f64, f64)> = ids
        .iter()
        .map(|_| {
            let r = grids[rng.random_range(0..grids.len())];
            (rng.random_range(r[1]..r[3]), rng.random_range(r[0]..r[2]))
        })
        .collect();

    // Positions: every sender walks its share of the responders, a few metres at a time.
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let share = ids.len().div_ceil(senders.max(1));
    let mut tasks = Vec::new();
    for s in 0..senders.max(1) {
        let mine: Vec<(i64, (f64, f64))> =
            ids.iter().copied().zip(homes.iter().copied()).skip(s * share).take(share).collect();
        let (addr, auth) = (addr.clone(), auth.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await?;
            let mut lat = Vec::new();
            let (mut sent, mut refused, mut step) = (0u64, 0u64, 0u64);
            let mut first_error = None;
            while Instant::now() < deadline {
                for chunk in mine.chunks(batch) {
                    step += 1;
                    let at = Timestamp::now();
                    let fixes: Vec<serde_json::Value> = chunk
                        .iter()
                        .map(|(id, (la, lo))| {
                            // Round and round a 20 m circle: a walk, never a jump.
                            let a = (step as f64 + *id as f64) * 0.3;
                            serde_json::json!({
                                "responder_id": id, "lat": la + 20.0 * a.sin() / M_PER_DEG,
                                "lon": lo + 20.0 * a.cos() / M_PER_DEG, "at": at.to_string(),
                            })
                        })
                        .collect();
                    let body = serde_json::json!({ "positions": fixes }).to_string();
                    let t = Instant::now();
                    let (status, answer) = conn.send("POST", "/api/v1/responders/locations", &auth, &body).await?;
                    lat.push(t.elapsed().as_micros() as u64);
                    let v: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
                    if status != 200 {
                        first_error.get_or_insert_with(|| format!("{status}: {}", String::from_utf8_lossy(&answer)));
                        refused += chunk.len() as u64;
                        continue;
                    }
                    sent += v["accepted"].as_u64().unwrap_or(0);
                    let r = v["rejected"].as_array().map_or(0, Vec::len) as u64;
                    if r > 0 {
                        first_error.get_or_insert_with(|| v["rejected"][0].to_string());
                    }
                    refused += r;
                    if Instant::now() >= deadline {
                        break;
                    }
                }
            }
            anyhow::Ok((lat, sent, refused, first_error))
        }));
    }
    let (mut lat, mut sent, mut refused, mut error) = (Vec::new(), 0u64, 0u64, None);
    for task in tasks {
        let (l, s, r, e) = task.await??;
        lat.extend(l);
        sent += s;
        refused += r;
        error = error.or(e);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  positions: {senders} clients, batches of {batch}, {secs:.1} s: {:.0} positions/s accepted ({sent} in all, {refused} refused), per batch {}",
        sent as f64 / secs,
        spread(&mut lat)
    );
    if let Some(e) = error {
        println!("    first refusal: {e}");
    }

    // Calls: each client presses the button at random points of the district.
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (addr, auth, grids) = (addr.clone(), auth.clone(), grids.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(100 + c as u64);
            let mut conn = Conn::open(&addr).await?;
            let (mut lat, mut made, mut offers, mut failed) = (Vec::new(), 0u64, 0u64, 0u64);
            let mut first_error = None;
            let mut n = 0;
            while Instant::now() < deadline {
                n += 1;
                let r = grids[rng.random_range(0..grids.len())];
                let kind = ["medical", "fall", "fire", "security", "other"][n % 5];
                let body = serde_json::json!({
                    "lat": rng.random_range(r[1]..r[3]), "lon": rng.random_range(r[0]..r[2]),
                    "kind": kind,
                })
                .to_string();
                let headers = format!("{auth}Idempotency-Key: bench-call-{c}-{n}\r\n");
                let t = Instant::now();
                let (status, answer) = conn.send("POST", "/api/v1/calls", &headers, &body).await?;
                lat.push(t.elapsed().as_micros() as u64);
                if status == 201 {
                    made += 1;
                    let v: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
                    offers += v["offers"].as_array().map_or(0, Vec::len) as u64;
                } else {
                    failed += 1;
                    first_error.get_or_insert_with(|| format!("{status}: {}", String::from_utf8_lossy(&answer)));
                }
            }
            anyhow::Ok((lat, made, offers, failed, first_error))
        }));
    }
    let (mut lat, mut made, mut offers, mut failed, mut error) = (Vec::new(), 0u64, 0u64, 0u64, None);
    for task in tasks {
        let (l, m, o, f, e) = task.await??;
        lat.extend(l);
        made += m;
        offers += o;
        failed += f;
        error = error.or(e);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  calls: {clients} clients, {secs:.1} s: {:.0} calls/s ({made} filed with their case and offers, {:.2} offers each, {failed} failed), {}",
        made as f64 / secs,
        offers as f64 / made.max(1) as f64,
        spread(&mut lat)
    );
    if let Some(e) = error {
        println!("    first failure: {e}");
    }
    server.kill().await.ok();
    Ok(())
}
