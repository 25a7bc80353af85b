//! Checks the live index against brute force over a model of its contents kept by the test: random moves, removals, bit changes and stale reports; points on cell edges, on the area's edges, outside it and on top of each other; every kind of radius and k.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a clear test failure")]

use std::collections::BTreeMap;

use civicgrid_geo::{EARTH_RADIUS_M, GeoError, LatLng, LiveIndex};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn ll(lat: f64, lon: f64) -> LatLng {
    LatLng::new(lat, lon).unwrap()
}

const M_PER_DEG_LAT: f64 = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;

/// What the index should hold: id → (position, bits, report time).
type Model = BTreeMap<u64, (LatLng, u32, i64)>;

/// Brute force over the model: filter, measure, sort by (metres, id), cut.
fn brute_force(model: &Model, at: LatLng, k: usize, radius_m: f64, required: u32, fresh_since: i64) -> Vec<(u64, f64)> {
    let mut found: Vec<(u64, f64)> = model
        .iter()
        .filter(|(_, (_, bits, t))| bits & required == required && *t >= fresh_since)
        .map(|(&id, (p, _, _))| (id, at.haversine_m(*p)))
        .filter(|&(_, d)| d <= radius_m)
        .collect();
    found.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    found.truncate(k);
    found
}

/// An area, its cell size, and ways to draw positions in and around it.
struct Area {
    south: f64,
    west: f64,
    north: f64,
    east: f64,
    cell_m: f64,
}

impl Area {
    fn index(&self) -> LiveIndex {
        LiveIndex::with_cell_m(ll(self.south, self.west), ll(self.north, self.east), self.cell_m).unwrap()
    }

    /// A position: mostly inside, some in a dense cluster, some on cell
    /// edges or the area's edges, a few just or far outside.
    fn draw(&self, rng: &mut ChaCha8Rng) -> LatLng {
        let (s, w, n, e) = (self.south, self.west, self.north, self.east);
        let m_per_deg_lon = M_PER_DEG_LAT * ((s + n) / 2.0).to_radians().cos();
        match rng.random_range(0..100) {
            0..50 => ll(rng.random_range(s..=n), rng.random_range(w..=e)),
            50..70 => {
                let (clat, clon) = (s + (n - s) * 0.4, w + (e - w) * 0.6);
                ll(clat + rng.random_range(-0.05..0.05) * (n - s), clon + rng.random_range(-0.05..0.05) * (e - w))
            }
            70..85 => {
                // On the edge of a cell or of a crowded cell's sub-cells (as
                // nearly as the arithmetic allows) or a hair to either side
                // of it, in one or both axes.
                let line = self.cell_m / 4.0;
                let rows = ((n - s) * M_PER_DEG_LAT / line).floor() as i64;
                let cols = ((e - w) * m_per_deg_lon / line).floor() as i64;
                let mut hair = || [0.0, 1e-6, -1e-6, 1e-3, -1e-3, 0.3, -0.3, 2.0, -2.0][rng.random_range(0..9)];
                let (hair_lat, hair_lon) = (hair(), hair());
                let lat = s + (rng.random_range(0..=rows) as f64 * line + hair_lat) / M_PER_DEG_LAT;
                let lon = w + (rng.random_range(0..=cols) as f64 * line + hair_lon) / m_per_deg_lon;
                let (lat, lon) = (lat.max(s), lon.max(w));
                match rng.random_range(0..3) {
                    0 => ll(lat.min(n), lon.min(e)),
                    1 => ll(lat.min(n), rng.random_range(w..=e)),
                    _ => ll(rng.random_range(s..=n), lon.min(e)),
                }
            }
            85..93 => {
                // On the area's edges and corners.
                let lat = [s, n, rng.random_range(s..=n)][rng.random_range(0..3)];
                let lon = if lat == s || lat == n { rng.random_range(w..=e) } else { [w, e][rng.random_range(0..2)] };
                ll(lat, lon)
            }
            93..98 => {
                // Just outside.
                let dlat = (n - s) * rng.random_range(0.0..0.02);
                let dlon = (e - w) * rng.random_range(0.0..0.02);
                ll((n + dlat).min(90.0), (w - dlon).max(-180.0))
            }
            _ => ll(rng.random_range(-90.0..=90.0), rng.random_range(-180.0..=180.0)),
        }
    }
}

/// Applies `ops` random operations to an index and its model, comparing
/// queries against brute force along the way; returns how many queries
/// found something.
fn exercise(area: &Area, seed: u64, ops: usize, max_points: u64) -> usize {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut index = area.index();
    let mut model = Model::new();
    let mut nonempty = 0;
    for op in 0..ops {
        let id = rng.random_range(0..max_points);
        let bits = rng.random_range(0..16u32);
        let t = rng.random_range(0..1_000i64);
        match rng.random_range(0..100) {
            0..45 => {
                let p = area.draw(&mut rng);
                index.upsert(id, p, bits, t);
                model.insert(id, (p, bits, t));
            }
            45..70 => {
                // A small move from where it is, often across a cell edge.
                if let Some(&(p, _, _)) = model.get(&id) {
                    let step = rng.random_range(0.0..2.0) * area.cell_m;
                    let angle = rng.random_range(0.0..std::f64::consts::TAU);
                    let dlat = step * angle.sin() / M_PER_DEG_LAT;
                    let dlon = step * angle.cos() / (M_PER_DEG_LAT * p.lat().to_radians().cos().max(0.01));
                    let q = ll((p.lat() + dlat).clamp(-90.0, 90.0), (p.lon() + dlon).clamp(-180.0, 180.0));
                    index.upsert(id, q, bits, t);
                    model.insert(id, (q, bits, t));
                }
            }
            70..80 => {
                // A second point exactly on top of an existing one.
                if let Some((_, &(p, _, _))) = model.range(id..).next() {
                    let twin = rng.random_range(0..max_points);
                    index.upsert(twin, p, bits, t);
                    model.insert(twin, (p, bits, t));
                }
            }
            80..90 => assert_eq!(index.remove(id), model.remove(&id).is_some()),
            _ => {
                let known = model.get_mut(&id).map(|entry| entry.1 = bits).is_some();
                assert_eq!(index.set_bits(id, bits), known);
            }
        }
        assert_eq!(index.len(), model.len());
        if op % 25 == 0 {
            for (&id, &entry) in &model {
                assert_eq!(index.get(id), Some(entry));
            }
            for _ in 0..8 {
                let some_point = model.values().nth(rng.random_range(0..model.len().max(1))).map(|e| e.0);
                let at = match (rng.random_range(0..4), some_point) {
                    // On a point, so that the nearest are at 0 m.
                    (0, Some(p)) => p,
                    // A few metres from a point, so that the bound is tight
                    // where cells and sub-cells meet.
                    (1, Some(p)) => {
                        let metres = rng.random_range(-3.0..3.0) / M_PER_DEG_LAT;
                        let lat = (p.lat() + metres).clamp(-90.0, 90.0);
                        let lon =
                            p.lon() + rng.random_range(-3.0..3.0) / M_PER_DEG_LAT / lat.to_radians().cos().max(0.01);
                        ll(lat, lon.clamp(-180.0, 180.0))
                    }
                    _ => area.draw(&mut rng),
                };
                let k = [0, 1, 2, 3, 5, 10, 40, 10_000][rng.random_range(0..8)];
                let radius_m = match rng.random_range(0..8) {
                    0 => 0.0,
                    1 => f64::INFINITY,
                    2 => area.cell_m * rng.random_range(0.0..1.0),
                    3 => area.cell_m * 3.0,
                    _ => area.cell_m * rng.random_range(0.0..20.0),
                };
                let required = [0, 1, 3, 8, rng.random_range(0..16)][rng.random_range(0..5)];
                let fresh_since = [i64::MIN, 0, rng.random_range(0..1_000), 1_000][rng.random_range(0..4)];
                let got = index.nearest(at, k, radius_m, required, fresh_since);
                let want = brute_force(&model, at, k, radius_m, required, fresh_since);
                assert_eq!(
                    got, want,
                    "query at {at:?}, k {k}, radius {radius_m}, required {required:b}, fresh since {fresh_since}"
                );
                assert_eq!(index.nearest_naive(at, k, radius_m, required, fresh_since), want);
                nonempty += usize::from(!got.is_empty());
            }
        }
    }
    nonempty
}

#[test]
fn equals_brute_force_in_a_district() {
    let area = Area { south: 34.33, west: 107.20, north: 34.39, east: 107.28, cell_m: 250.0 };
    assert!(exercise(&area, 1, 12_000, 1_500) > 1_000);
}

#[test]
fn equals_brute_force_in_crowded_cells_that_split_and_merge() {
    // About a hundred points to a cell, more in the cluster: cells split into
    // sub-cells and merge back as points come, move and go.
    let area = Area { south: 34.350, west: 107.230, north: 34.359, east: 107.241, cell_m: 250.0 };
    assert!(exercise(&area, 6, 6_000, 4_000) > 500);
}

#[test]
fn equals_brute_force_with_tiny_cells_and_many_rings() {
    let area = Area { south: 34.355, west: 107.235, north: 34.365, east: 107.245, cell_m: 7.0 };
    assert!(exercise(&area, 2, 6_000, 300) > 500);
}

#[test]
fn equals_brute_force_over_wide_areas_far_north_and_across_the_equator() {
    let far_north = Area { south: 60.0, west: 10.0, north: 75.0, east: 40.0, cell_m: 40_000.0 };
    assert!(exercise(&far_north, 3, 5_000, 400) > 500);
    let equator = Area { south: -10.0, west: 100.0, north: 12.0, east: 140.0, cell_m: 100_000.0 };
    assert!(exercise(&equator, 4, 5_000, 400) > 500);
    let near_pole = Area { south: 80.0, west: -170.0, north: 90.0, east: -130.0, cell_m: 20_000.0 };
    assert!(exercise(&near_pole, 5, 5_000, 400) > 500);
}

/// A point a hair or a few metres to either side of a cell's or a
/// sub-cell's edge, the query across it or on the same side, and a rival
/// behind the query found first, so that the bound is as tight as can be
/// when the edge is reached; in a crowded (split) cell and in a sparse one,
/// along both axes.
#[test]
fn finds_points_across_cell_and_sub_cell_edges() {
    let (south, west, cell_m) = (34.3, 107.2, 250.0);
    let m_per_deg_lon = M_PER_DEG_LAT * ((south + 34.4) / 2.0_f64).to_radians().cos();
    let hairs = [-1.0, -0.01, -1e-6, 0.0, 1e-6, 0.01, 1.0];
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    for crowded in [false, true] {
        for axis in [0, 1] {
            // Cell (4, 4); its sub-cell edge at 4.5 cells, its own edge at 5.
            for edge in [4.5, 5.0] {
                let mut index = LiveIndex::with_cell_m(ll(south, west), ll(34.4, 107.3), cell_m).unwrap();
                // `across` metres from the cell's west (south) edge, `along` from its south (west) one.
                let place = |across: f64, along: f64| {
                    let (x, y) = if axis == 0 { (across, along) } else { (along, across) };
                    ll(south + (4.0 * cell_m + y) / M_PER_DEG_LAT, west + (4.0 * cell_m + x) / m_per_deg_lon)
                };
                let line = (edge - 4.0) * cell_m;
                if crowded {
                    // Enough ineligible points in the cell's far corner to split it.
                    for i in 0..40u64 {
                        index.upsert(1_000 + i, place(5.0 + (i % 8) as f64, 5.0 + (i / 8) as f64), 0, 0);
                    }
                }
                for trial in 0..2_000 {
                    let (p, q) = if trial < hairs.len() * hairs.len() {
                        (hairs[trial % hairs.len()], 3.0 * hairs[trial / hairs.len()])
                    } else {
                        (rng.random_range(-2.0..2.0), rng.random_range(-4.0..4.0))
                    };
                    let rival = rng.random_range(0.3..3.0) * if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                    index.upsert(1, place(line + p, 60.0), 1, 0);
                    index.upsert(2, place(line + q + rival, 60.0 + rng.random_range(-0.5..0.5)), 1, 0);
                    let at = place(line + q, 60.0);
                    let got = index.nearest(at, 1, 100.0, 1, 0);
                    assert_eq!(got, index.nearest_naive(at, 1, 100.0, 1, 0), "point {p}, query {q}, rival {rival}");
                }
            }
        }
    }
}

#[test]
fn ties_go_to_the_smaller_id_and_radius_zero_finds_the_very_spot() {
    let mut index = LiveIndex::new(ll(34.3, 107.2), ll(34.4, 107.3)).unwrap();
    let spot = ll(34.35, 107.25);
    for id in [9, 3, 7, 5] {
        index.upsert(id, spot, 1, 100);
    }
    index.upsert(1, ll(34.3501, 107.25), 1, 100);
    assert_eq!(index.nearest(spot, 3, 0.0, 1, 0), [(3, 0.0), (5, 0.0), (7, 0.0)]);
    assert_eq!(index.nearest(spot, 10, 0.0, 1, 0).len(), 4);
    let all = index.nearest(spot, 10, 100.0, 1, 0);
    assert_eq!(all.iter().map(|e| e.0).collect::<Vec<_>>(), [3, 5, 7, 9, 1]);
    assert!((all[4].1 - 11.1).abs() < 0.1, "{all:?}");
    assert!(index.nearest(spot, 10, -1.0, 0, 0).is_empty());
    assert!(index.nearest(spot, 10, f64::NAN, 0, 0).is_empty());
    assert!(index.nearest(spot, 0, 100.0, 0, 0).is_empty());
}

#[test]
fn bits_and_report_times_filter() {
    let mut index = LiveIndex::new(ll(34.3, 107.2), ll(34.4, 107.3)).unwrap();
    let spot = ll(34.35, 107.25);
    index.upsert(1, ll(34.3501, 107.25), 0b01, 1_000);
    index.upsert(2, ll(34.3502, 107.25), 0b11, 1_000);
    index.upsert(3, ll(34.3503, 107.25), 0b11, 500);
    let ids = |found: Vec<(u64, f64)>| found.into_iter().map(|e| e.0).collect::<Vec<_>>();
    assert_eq!(ids(index.nearest(spot, 5, 1_000.0, 0, i64::MIN)), [1, 2, 3]);
    assert_eq!(ids(index.nearest(spot, 5, 1_000.0, 0b10, i64::MIN)), [2, 3]);
    assert_eq!(ids(index.nearest(spot, 5, 1_000.0, 0b10, 600)), [2]);
    assert!(index.set_bits(2, 0b01));
    assert!(ids(index.nearest(spot, 5, 1_000.0, 0b10, 600)).is_empty());
    assert!(!index.set_bits(4, 0b01));
    assert_eq!(index.get(3), Some((ll(34.3503, 107.25), 0b11, 500)));
    assert!(index.remove(1));
    assert!(!index.remove(1));
    assert_eq!(ids(index.nearest(spot, 5, 1_000.0, 0, i64::MIN)), [2, 3]);
    assert_eq!(index.len(), 2);
}

#[test]
fn an_empty_index_finds_nothing_and_queries_outside_the_area_are_answered() {
    let mut index = LiveIndex::new(ll(34.3, 107.2), ll(34.4, 107.3)).unwrap();
    assert!(index.is_empty());
    assert!(index.nearest(ll(34.35, 107.25), 5, f64::INFINITY, 0, i64::MIN).is_empty());
    index.upsert(1, ll(34.35, 107.25), 0, 0);
    index.upsert(2, ll(10.0, 10.0), 0, 0);
    let from_outside = index.nearest(ll(34.5, 107.25), 5, f64::INFINITY, 0, i64::MIN);
    assert_eq!(from_outside.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(index.nearest(ll(10.0, 10.0), 1, 1.0, 0, i64::MIN), [(2, 0.0)]);
    assert_eq!(index.nearest(ll(34.36, 107.25), 2, f64::INFINITY, 0, i64::MIN)[1].0, 2);
}

#[test]
fn refuses_areas_it_cannot_cover() {
    let sw = ll(34.3, 107.2);
    let ne = ll(34.4, 107.3);
    assert!(matches!(LiveIndex::new(ne, sw), Err(GeoError::InvalidArea(_))));
    assert!(matches!(LiveIndex::new(sw, ll(34.3, 107.3)), Err(GeoError::InvalidArea(_))));
    assert!(matches!(LiveIndex::new(ll(-30.0, 0.0), ll(30.0, 10.0)), Err(GeoError::InvalidArea(_))));
    assert!(matches!(LiveIndex::with_cell_m(sw, ne, 1.0), Err(GeoError::InvalidArea(_))));
    assert!(matches!(LiveIndex::with_cell_m(sw, ne, 0.0), Err(GeoError::NotPositive { .. })));
    assert!(matches!(LiveIndex::with_cell_m(sw, ne, f64::NAN), Err(GeoError::NotPositive { .. })));
    assert_eq!(LiveIndex::new(sw, ne).unwrap().cell_m(), 250.0);
}
