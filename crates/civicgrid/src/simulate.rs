//! `civicgrid simulate`: the demo district at work, driven through a running
//! server's API as its devices would drive it. Responders of the demo go on
//! duty and walk (riders ride) along the district's streets, reporting their
//! positions in batches; calls arrive at random homes at a chosen rate; the
//! responders offered a call accept it after a moment (some decline), walk
//! there, and report on scene and done. The command centre can be watched
//! working, and load can be generated.
//!
//! It acts with one command-centre account's token, as a rider platform's
//! feed does: positions, duty and answers for the responders of its scope.

use crate::http::Conn;
use anyhow::Context;
use civicgrid_domain::Level;
use jiff::Timestamp;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The server, as host:port (e.g. 127.0.0.1:8080).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// A token of a command-centre account (dispatch_calls and report_cases
    /// over the district), e.g. made on the account page of demo-operator.
    #[arg(long, env = "CIVICGRID_TOKEN")]
    token: String,
    /// Responders put on duty and moved.
    #[arg(long, default_value_t = 1000)]
    responders: usize,
    /// Calls a minute.
    #[arg(long, default_value_t = 6.0)]
    calls_per_minute: f64,
    /// Stop after this many seconds (0: run until stopped).
    #[arg(long, default_value_t = 0)]
    seconds: u64,
    /// Seconds between position reports.
    #[arg(long, default_value_t = 2.0)]
    every: f64,
    /// The demo district's seed (its streets and homes).
    #[arg(long, default_value_t = civicgrid_demo::DEFAULT_SEED)]
    seed: u64,
}

/// A responder walking the streets: from node to node, at a speed.
struct Walker {
    id: i64,
    at: (f64, f64),
    to: usize,
    speed_mps: f64,
    /// The call they are heading to, and when they answer an offer.
    task: Option<(i64, (f64, f64))>,
}

const M_PER_DEG: f64 = 111_195.0;

fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
    let dy = (a.0 - b.0) * M_PER_DEG;
    let dx = (a.1 - b.1) * M_PER_DEG * a.0.to_radians().cos();
    (dx * dx + dy * dy).sqrt()
}

/// `from` moved `d` metres toward `to` (or to it).
fn toward(from: (f64, f64), to: (f64, f64), d: f64) -> (f64, f64) {
    let all = metres(from, to);
    if all <= d || all == 0.0 {
        return to;
    }
    let f = d / all;
    (from.0 + (to.0 - from.0) * f, from.1 + (to.1 - from.1) * f)
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let bundle = civicgrid_demo::generate(args.seed);
    let nodes: Vec<(f64, f64)> = bundle.streets.nodes.iter().map(|[lon, lat]| (*lat, *lon)).collect();
    anyhow::ensure!(!nodes.is_empty(), "the demo district has no streets");
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for e in &bundle.streets.edges {
        next[e.from as usize].push(e.to as usize);
        next[e.to as usize].push(e.from as usize);
    }
    let homes: Vec<(f64, f64)> = bundle.buildings.iter().map(|b| (b.lat, b.lon)).collect();
    let auth = format!("Authorization: Bearer {}\r\n", args.token);
    let mut conn = Conn::open(&args.addr).await?;
    let (status, body) = conn.send("GET", "/api/v1/responders", &auth, "").await?;
    anyhow::ensure!(status == 200, "listing responders: {status} {}", String::from_utf8_lossy(&body));
    let listed: Value = serde_json::from_slice(&body)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed);
    let mut walkers: Vec<Walker> = Vec::new();
    for r in listed["items"].as_array().context("no responders")?.iter().take(args.responders) {
        let id = r["id"].as_i64().context("responder id")?;
        let start = rng.random_range(0..nodes.len());
        let speed_mps = if r["team"] == "street_rider" { 5.0 } else { 1.3 };
        walkers.push(Walker { id, at: nodes[start], to: start, speed_mps, task: None });
        let (status, body) = conn
            .send("PUT", &format!("/api/v1/responders/{id}/duty"), &auth, &json!({ "on_duty": true }).to_string())
            .await?;
        anyhow::ensure!(status == 200, "duty of {id}: {status} {}", String::from_utf8_lossy(&body));
    }
    let by_id: HashMap<i64, usize> = walkers.iter().enumerate().map(|(i, w)| (w.id, i)).collect();
    println!(
        "simulating {} responders on duty over {} street nodes, {} calls a minute (synthetic demo district; stop with Ctrl-C)",
        walkers.len(),
        nodes.len(),
        args.calls_per_minute
    );
    let started = Instant::now();
    let mut last = Instant::now();
    let mut call_debt = 0.0;
    let (mut calls, mut accepted, mut done, mut n) = (0u64, 0u64, 0u64, 0u64);
    let mut answer_at: HashMap<(i64, i64), Instant> = HashMap::new();
    let grids = bundle.units.iter().filter(|u| u.level() == Level::Grid).count();
    while args.seconds == 0 || started.elapsed() < Duration::from_secs(args.seconds) {
        tokio::time::sleep(Duration::from_secs_f64(args.every)).await;
        let dt = last.elapsed().as_secs_f64();
        last = Instant::now();
        // Everyone moves: along the streets, or straight to their call.
        let now = Timestamp::now();
        let mut fixes = Vec::with_capacity(walkers.len());
        for w in &mut walkers {
            let step = w.speed_mps * dt;
            match w.task {
                Some((_, goal)) => w.at = toward(w.at, goal, step),
                None => {
                    let goal = nodes[w.to];
                    w.at = toward(w.at, goal, step);
                    if w.at == goal && !next[w.to].is_empty() {
                        w.to = next[w.to][rng.random_range(0..next[w.to].len())];
                    }
                }
            }
            fixes.push(json!({ "responder_id": w.id, "lat": w.at.0, "lon": w.at.1, "at": now.to_string() }));
        }
        for chunk in fixes.chunks(1000) {
            let body = json!({ "positions": chunk }).to_string();
            let (status, answer) = conn.send("POST", "/api/v1/responders/locations", &auth, &body).await?;
            if status != 200 {
                eprintln!("positions refused: {status} {}", String::from_utf8_lossy(&answer));
            }
        }
        // Calls arrive at the chosen rate, at homes of the district.
        call_debt += args.calls_per_minute * dt / 60.0;
        while call_debt >= 1.0 && !homes.is_empty() {
            call_debt -= 1.0;
            n += 1;
            let home = homes[rng.random_range(0..homes.len())];
            let kind = ["medical", "fall", "fire", "security", "other"][rng.random_range(0..5)];
            let body =
                json!({ "lat": home.0, "lon": home.1, "kind": kind, "note": "模拟呼叫（合成数据）" }).to_string();
            let headers = format!("{auth}Idempotency-Key: simulate-{}-{n}\r\n", args.seed);
            let (status, answer) = conn.send("POST", "/api/v1/calls", &headers, &body).await?;
            if status == 201 {
                calls += 1;
            } else {
                eprintln!("call refused: {status} {}", String::from_utf8_lossy(&answer));
            }
        }
        // Offers: answered after 3 to 20 s, one in five declined; owners report on the way.
        let (status, body) = conn.send("GET", "/api/v1/calls?open=true", &auth, "").await?;
        if status != 200 {
            continue;
        }
        let open: Value = serde_json::from_slice(&body)?;
        for call in open["items"].as_array().into_iter().flatten() {
            let Some(id) = call["id"].as_i64() else { continue };
            let goal = (call["lat"].as_f64().unwrap_or(0.0), call["lon"].as_f64().unwrap_or(0.0));
            for o in call["offers"].as_array().into_iter().flatten().filter(|o| o["state"] == "offered") {
                let Some(r) = o["responder_id"].as_i64() else { continue };
                if !by_id.contains_key(&r) {
                    continue;
                }
                let due = *answer_at
                    .entry((id, r))
                    .or_insert_with(|| Instant::now() + Duration::from_secs(rng.random_range(3..20)));
                if Instant::now() < due {
                    continue;
                }
                let accept = rng.random_bool(0.8);
                let body = json!({ "accept": accept, "responder_id": r }).to_string();
                let (status, _) = conn.send("POST", &format!("/api/v1/calls/{id}/answer"), &auth, &body).await?;
                if status == 200 && accept {
                    accepted += 1;
                    walkers[by_id[&r]].task = Some((id, goal));
                    let body = json!({ "step": "en_route", "responder_id": r }).to_string();
                    conn.send("POST", &format!("/api/v1/calls/{id}/progress"), &auth, &body).await?;
                }
            }
        }
        // Owners who arrived: on scene, then done.
        for w in &mut walkers {
            let Some((id, goal)) = w.task else { continue };
            if metres(w.at, goal) > 5.0 {
                continue;
            }
            for (step, note) in [("on_scene", ""), ("done", "已到场处置，情况平稳（模拟）")] {
                let body = json!({ "step": step, "note": note, "responder_id": w.id }).to_string();
                conn.send("POST", &format!("/api/v1/calls/{id}/progress"), &auth, &body).await?;
            }
            w.task = None;
            done += 1;
        }
        println!(
            "{:>6.0} s: {calls} calls placed, {accepted} accepted, {done} done, {} open ({grids} grids)",
            started.elapsed().as_secs_f64(),
            open["items"].as_array().map_or(0, Vec::len)
        );
    }
    Ok(())
}
