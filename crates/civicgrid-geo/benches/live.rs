//! Throughput of the live nearest-responder index on one thread: responders
//! over a 40 km × 30 km district around 34.36° N 107.24° E, 70 % of them in
//! an 8 km × 6 km urban core and 70 % of them eligible; queries drawn the
//! same way ask for the 5 nearest eligible within 2 km. Then moves of 3 to
//! 200 m, and random queries checked against brute force.
//!
//! `cargo bench -p civicgrid-geo --bench live [-- --cell-m 250 --points 10000,100000 --seconds 2 --checks 10000 --summary]`
//!
//! `--summary` adds one line per size for scripts to read:
//! `summary points=N queries_per_s=Q moves_per_s=M` (wall-clock rates).

#![allow(clippy::unwrap_used, reason = "a benchmark may stop on bad input")]

use std::hint::black_box;
use std::time::Instant;

use civicgrid_geo::{DEFAULT_CELL_M, EARTH_RADIUS_M, LatLng, LiveIndex};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CENTRE: (f64, f64) = (34.36, 107.24);
const M_PER_DEG_LAT: f64 = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
const AVAILABLE: u32 = 1;
const NOW_MS: i64 = 1_767_225_600_000;
const QUERIES: usize = 1 << 16;
const MOVES: usize = 1 << 20;

/// Half-extents in degrees (latitude, longitude) of a rectangle `w_km` wide and `h_km` high at the centre.
fn half_deg(w_km: f64, h_km: f64) -> (f64, f64) {
    let m_per_deg_lon = M_PER_DEG_LAT * CENTRE.0.to_radians().cos();
    (h_km * 500.0 / M_PER_DEG_LAT, w_km * 500.0 / m_per_deg_lon)
}

/// 70 % uniform in the core, 30 % uniform over the rest of the district.
fn draw(rng: &mut ChaCha8Rng) -> LatLng {
    let (core_lat, core_lon) = half_deg(8.0, 6.0);
    let (lat, lon) = half_deg(40.0, 30.0);
    if rng.random_bool(0.7) {
        return LatLng::new(
            CENTRE.0 + rng.random_range(-core_lat..core_lat),
            CENTRE.1 + rng.random_range(-core_lon..core_lon),
        )
        .unwrap();
    }
    loop {
        let (dlat, dlon) = (rng.random_range(-lat..lat), rng.random_range(-lon..lon));
        if dlat.abs() > core_lat || dlon.abs() > core_lon {
            return LatLng::new(CENTRE.0 + dlat, CENTRE.1 + dlon).unwrap();
        }
    }
}

/// `p` moved `metres` on `bearing` (radians from east), kept inside the district.
fn moved(p: LatLng, metres: f64, bearing: f64) -> LatLng {
    let (lat, lon) = half_deg(40.0, 30.0);
    let dlat = metres * bearing.sin() / M_PER_DEG_LAT;
    let dlon = metres * bearing.cos() / (M_PER_DEG_LAT * p.lat().to_radians().cos());
    let lat = (p.lat() + dlat).clamp(CENTRE.0 - lat, CENTRE.0 + lat);
    let lon = (p.lon() + dlon).clamp(CENTRE.1 - lon, CENTRE.1 + lon);
    LatLng::new(lat, lon).unwrap()
}

/// Nanoseconds this thread has run on a CPU (Linux), to tell the work from
/// the waiting on a shared machine; None elsewhere.
fn cpu_ns() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// "a/s wall, b/s on the CPU (c % of the wall time)" for `n` operations.
fn rates(n: usize, wall_s: f64, cpu: Option<f64>) -> String {
    let wall = format!("{:.0}/s, mean {:.0} ns", n as f64 / wall_s, wall_s * 1e9 / n as f64);
    match cpu {
        Some(cpu_s) => format!(
            "{wall}; on the CPU {:.0}/s, mean {:.0} ns ({:.0} % of the wall time on the CPU)",
            n as f64 / cpu_s,
            cpu_s * 1e9 / n as f64,
            100.0 * cpu_s / wall_s
        ),
        None => wall,
    }
}

fn bits(rng: &mut ChaCha8Rng) -> u32 {
    let skills = rng.random_range(0..16u32) << 1;
    if rng.random_bool(0.7) { skills | AVAILABLE } else { skills }
}

fn run(points: usize, cell_m: f64, seconds: f64, checks: usize, summary: bool) {
    let mut rng = ChaCha8Rng::seed_from_u64(points as u64);
    // The district with a 1 km margin.
    let (lat, lon) = half_deg(42.0, 32.0);
    let sw = LatLng::new(CENTRE.0 - lat, CENTRE.1 - lon).unwrap();
    let ne = LatLng::new(CENTRE.0 + lat, CENTRE.1 + lon).unwrap();
    let mut index = LiveIndex::with_cell_m(sw, ne, cell_m).unwrap();
    let mut positions = Vec::with_capacity(points);
    for id in 0..points as u64 {
        let p = draw(&mut rng);
        index.upsert(id, p, bits(&mut rng), NOW_MS - rng.random_range(0..60_000));
        positions.push(p);
    }
    let fresh_since = NOW_MS - 120_000;
    let queries: Vec<LatLng> = (0..QUERIES).map(|_| draw(&mut rng)).collect();

    // Queries: k = 5 within 2 km, in batches until the time is up.
    let (mut done, mut found) = (0usize, 0usize);
    let (start, cpu_start) = (Instant::now(), cpu_ns());
    while start.elapsed().as_secs_f64() < seconds {
        for &q in &queries {
            let near = index.nearest(black_box(q), 5, 2_000.0, AVAILABLE, fresh_since);
            found += near.len();
            black_box(near);
        }
        done += QUERIES;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_ns().zip(cpu_start).map(|(end, start)| (end - start) / 1e9);

    // Brute force on a few queries, for scale.
    let naive_n = (20_000_000 / points).clamp(50, QUERIES);
    let naive_start = Instant::now();
    for &q in &queries[..naive_n] {
        black_box(index.nearest_naive(black_box(q), 5, 2_000.0, AVAILABLE, fresh_since));
    }
    let naive_qps = naive_n as f64 / naive_start.elapsed().as_secs_f64();

    // Moves of 3 to 200 m of random responders, each a new report.
    let moves: Vec<(u64, LatLng, u32)> = (0..MOVES)
        .map(|_| {
            let id = rng.random_range(0..points);
            let step = rng.random_range(3.0..200.0);
            positions[id] = moved(positions[id], step, rng.random_range(0.0..std::f64::consts::TAU));
            (id as u64, positions[id], bits(&mut rng))
        })
        .collect();
    let (move_start, move_cpu_start) = (Instant::now(), cpu_ns());
    for (i, &(id, p, b)) in moves.iter().enumerate() {
        index.upsert(black_box(id), black_box(p), b, NOW_MS + i as i64);
    }
    let move_elapsed = move_start.elapsed().as_secs_f64();
    let move_cpu = cpu_ns().zip(move_cpu_start).map(|(end, start)| (end - start) / 1e9);

    // Random queries, every parameter varied, against brute force.
    let mut agree = 0;
    for _ in 0..checks {
        let q = if rng.random_bool(0.5) { draw(&mut rng) } else { positions[rng.random_range(0..points)] };
        let k = rng.random_range(1..=20);
        let radius_m = [0.0, 50.0, 300.0, 2_000.0, 10_000.0, f64::INFINITY][rng.random_range(0..6)];
        let required = rng.random_range(0..8u32);
        let fresh_since = NOW_MS + rng.random_range(-120_000..MOVES as i64);
        let got = index.nearest(q, k, radius_m, required, fresh_since);
        let want = index.nearest_naive(q, k, radius_m, required, fresh_since);
        assert_eq!(
            got, want,
            "query at {q:?}, k {k}, radius {radius_m}, required {required:b}, fresh since {fresh_since}"
        );
        agree += 1;
    }

    println!("points: {points} (cell {cell_m} m)");
    println!("  queries (k 5, r 2 km, 1 thread): {} per query over {done}", rates(done, elapsed, cpu));
    println!("  found {:.2} per query; brute force for scale: {naive_qps:.0} queries/s", found as f64 / done as f64);
    println!("  upserts (moves of 3-200 m): {} per upsert over {MOVES}", rates(MOVES, move_elapsed, move_cpu));
    println!("  verified: {agree}/{} random queries equal brute force exactly", checks);
    if summary {
        println!(
            "summary points={points} queries_per_s={:.0} moves_per_s={:.0}",
            done as f64 / elapsed,
            MOVES as f64 / move_elapsed
        );
    }
}

fn main() {
    let (mut cell_m, mut counts, mut seconds, mut checks) = (DEFAULT_CELL_M, vec![10_000, 100_000], 2.0, 10_000);
    // cargo bench passes --bench; other flags are ours.
    let args: Vec<String> = std::env::args().collect();
    let summary = args.iter().any(|a| a == "--summary");
    for pair in args.windows(2) {
        match pair[0].as_str() {
            "--cell-m" => cell_m = pair[1].parse().unwrap(),
            "--points" => counts = pair[1].split(',').map(|n| n.parse().unwrap()).collect(),
            "--seconds" => seconds = pair[1].parse().unwrap(),
            "--checks" => checks = pair[1].parse().unwrap(),
            _ => {}
        }
    }
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average at start: {}", load.trim());
    }
    for points in counts {
        run(points, cell_m, seconds, checks, summary);
    }
}
