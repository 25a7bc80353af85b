//! Checks which-grid-holds-this-point lookups: interiors, shared edges and corners, holes, and agreement between the R-tree and the full scan.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a clear test failure")]

use civicgrid_geo::{GeoError, GridIndex, LatLng, Polygon, rect};

fn ll(lat: f64, lon: f64) -> LatLng {
    LatLng::new(lat, lon).unwrap()
}

/// Both lookups must agree; returns their common answer.
#[track_caller]
fn locate<K: Clone + Ord + std::fmt::Debug>(index: &GridIndex<K>, lat: f64, lon: f64) -> Option<K> {
    let p = ll(lat, lon);
    let fast = index.locate(p).cloned();
    assert_eq!(fast, index.locate_naive(p).cloned(), "lookups disagree at ({lat}, {lon})");
    fast
}

/// A 3×3 tiling of 1°×1° squares with corners at whole degrees (exact in
/// binary, so the boundary cases really are on the boundary). Key
/// `row * 3 + col`, row 0 in the south, col 0 in the west:
///
/// ```text
///  lat 33 +---+---+---+
///         | 6 | 7 | 8 |
///  lat 32 +---+---+---+
///         | 3 | 4 | 5 |
///  lat 31 +---+---+---+
///         | 0 | 1 | 2 |
///  lat 30 +---+---+---+
///       lon 107 108 109 110
/// ```
fn three_by_three() -> GridIndex<u32> {
    let mut items = Vec::new();
    for row in 0..3u32 {
        for col in 0..3u32 {
            let lon = 107.0 + f64::from(col);
            let lat = 30.0 + f64::from(row);
            items.push((row * 3 + col, rect(lon, lat, lon + 1.0, lat + 1.0)));
        }
    }
    // Build from a shuffled order so the answers cannot depend on insertion order.
    items.reverse();
    items.swap(2, 6);
    GridIndex::build(items).unwrap()
}

#[test]
fn size_and_bounds() {
    let index = three_by_three();
    assert_eq!(index.len(), 9);
    assert!(!index.is_empty());
    let b = index.bounds().unwrap();
    assert_eq!((b.min().x, b.min().y, b.max().x, b.max().y), (107.0, 30.0, 110.0, 33.0));
}

#[test]
fn interior_points() {
    let index = three_by_three();
    for row in 0..3u32 {
        for col in 0..3u32 {
            let lat = 30.5 + f64::from(row);
            let lon = 107.5 + f64::from(col);
            assert_eq!(locate(&index, lat, lon), Some(row * 3 + col));
            // Near, but not on, a corner of the cell.
            assert_eq!(locate(&index, lat - 0.499_999, lon + 0.499_999), Some(row * 3 + col));
        }
    }
}

#[test]
fn shared_edges_go_to_the_smaller_key() {
    let index = three_by_three();
    // Vertical edge between 0 and 1, and between 7 and 8.
    assert_eq!(locate(&index, 30.5, 108.0), Some(0));
    assert_eq!(locate(&index, 32.25, 109.0), Some(7));
    // Horizontal edge between 1 and 4, and between 5 and 8.
    assert_eq!(locate(&index, 31.0, 108.5), Some(1));
    assert_eq!(locate(&index, 32.0, 109.9), Some(5));
}

#[test]
fn shared_corners_go_to_the_smallest_key() {
    let index = three_by_three();
    assert_eq!(locate(&index, 31.0, 108.0), Some(0)); // 0, 1, 3, 4
    assert_eq!(locate(&index, 31.0, 109.0), Some(1)); // 1, 2, 4, 5
    assert_eq!(locate(&index, 32.0, 108.0), Some(3)); // 3, 4, 6, 7
    assert_eq!(locate(&index, 32.0, 109.0), Some(4)); // 4, 5, 7, 8
}

#[test]
fn outer_boundary_belongs_to_its_only_polygon() {
    let index = three_by_three();
    assert_eq!(locate(&index, 30.0, 107.0), Some(0)); // south-west corner
    assert_eq!(locate(&index, 33.0, 110.0), Some(8)); // north-east corner
    assert_eq!(locate(&index, 30.5, 107.0), Some(0)); // west edge
    assert_eq!(locate(&index, 33.0, 108.5), Some(7)); // north edge
}

#[test]
fn outside_points() {
    let index = three_by_three();
    assert_eq!(locate(&index, 29.999_999, 107.5), None);
    assert_eq!(locate(&index, 31.5, 110.000_001), None);
    // On the extension of an edge line, but beyond the tiling.
    assert_eq!(locate(&index, 34.0, 108.0), None);
    assert_eq!(locate(&index, 0.0, 0.0), None);
}

#[test]
fn holes_are_respected() {
    // A "doughnut" grid 10 with a hole, an island grid 20 filling part of the
    // hole, and a second grid 5 sharing the doughnut's east edge.
    let outer = rect(107.0, 30.0, 111.0, 34.0);
    let hole = rect(108.0, 31.0, 110.0, 33.0);
    let doughnut = Polygon::new(outer.exterior().clone(), vec![hole.exterior().clone()]);
    let island = rect(108.0, 31.0, 109.0, 32.0);
    let east = rect(111.0, 30.0, 112.0, 34.0);
    let index = GridIndex::build(vec![(20, island), (10, doughnut), (5, east)]).unwrap();

    assert_eq!(locate(&index, 30.5, 107.5), Some(10)); // solid part of the doughnut
    assert_eq!(locate(&index, 32.5, 109.5), None); // in the hole, not on the island
    assert_eq!(locate(&index, 31.5, 108.5), Some(20)); // on the island
    assert_eq!(locate(&index, 32.5, 110.0), Some(10)); // hole boundary only
    assert_eq!(locate(&index, 31.5, 108.0), Some(10)); // hole boundary shared with the island
    assert_eq!(locate(&index, 32.0, 108.5), Some(20)); // island edge facing the open hole
    assert_eq!(locate(&index, 32.0, 111.0), Some(5)); // edge shared with grid 5
}

#[test]
fn string_keys_tie_break_by_ord() {
    let index = GridIndex::build(vec![
        ("north".to_owned(), rect(107.0, 31.0, 108.0, 32.0)),
        ("south".to_owned(), rect(107.0, 30.0, 108.0, 31.0)),
    ])
    .unwrap();
    assert_eq!(locate(&index, 31.0, 107.5).as_deref(), Some("north"));
    assert_eq!(locate(&index, 30.5, 107.5).as_deref(), Some("south"));
}

#[test]
fn build_reports_the_bad_polygon_by_position() {
    let degenerate = Polygon::new(vec![(107.0, 30.0), (108.0, 30.0)].into(), vec![]);
    let err = GridIndex::build(vec![(1, rect(107.0, 30.0, 108.0, 31.0)), (2, degenerate)]).err();
    match err {
        Some(GeoError::InvalidPolygon(msg)) => assert!(msg.contains("index 1"), "{msg}"),
        other => panic!("expected InvalidPolygon, got {other:?}"),
    }
}

/// xorshift64* (Vigna): tiny, deterministic and good enough to scatter
/// test points; avoids a dependency on `rand`.
struct XorShift(u64);

impl XorShift {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1) from the top 53 bits.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn pick<'a>(&mut self, xs: &'a [f64]) -> &'a f64 {
        &xs[(self.next_u64() % xs.len() as u64) as usize]
    }
}

/// `n + 1` strictly increasing cut positions from `lo` to `hi` with uneven gaps.
fn cuts(rng: &mut XorShift, lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let mut weights: Vec<f64> = (0..n).map(|_| rng.range(0.3, 1.7)).collect();
    let total: f64 = weights.iter().sum();
    let mut out = vec![lo];
    let mut acc = lo;
    for w in weights.drain(..n - 1) {
        acc += (hi - lo) * w / total;
        out.push(acc);
    }
    out.push(hi);
    out
}

#[test]
fn rtree_agrees_with_full_scan_on_random_points() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    // 20 columns of uneven width, each cut into 10 rows at its own
    // heights, around Baoji: 200 rectangles with T-junctions along every
    // column edge, tiling the bounding box exactly.
    let (lon0, lon1, lat0, lat1) = (107.30, 107.45, 34.30, 34.42);
    let columns = cuts(&mut rng, lon0, lon1, 20);
    let mut items = Vec::new();
    let mut row_cuts = Vec::new();
    for (c, w) in columns.windows(2).enumerate() {
        let rows = cuts(&mut rng, lat0, lat1, 10);
        for (r, h) in rows.windows(2).enumerate() {
            // Keys deliberately not in spatial order.
            let key = ((c * 10 + r) as u32).wrapping_mul(2_654_435_761) % 10_007;
            items.push((key, rect(w[0], h[0], w[1], h[1])));
        }
        row_cuts.extend(rows);
    }
    let index = GridIndex::build(items).unwrap();
    assert_eq!(index.len(), 200);

    let mut found = 0;
    for i in 0..10_000 {
        // A quarter of the points sit exactly on a column edge, a row edge,
        // or both, where the tie-breaking rule is exercised; a few fall
        // outside the tiling.
        let lon = if i % 4 == 1 || i % 8 == 3 { *rng.pick(&columns) } else { rng.range(lon0 - 0.01, lon1 + 0.01) };
        let lat = if i % 4 == 2 || i % 8 == 3 { *rng.pick(&row_cuts) } else { rng.range(lat0 - 0.01, lat1 + 0.01) };
        let p = ll(lat, lon);
        let fast = index.locate(p);
        assert_eq!(fast, index.locate_naive(p), "disagreement at ({lat}, {lon})");
        let inside_tiling = (lon0..=lon1).contains(&lon) && (lat0..=lat1).contains(&lat);
        assert_eq!(fast.is_some(), inside_tiling, "coverage wrong at ({lat}, {lon})");
        found += usize::from(fast.is_some());
    }
    // The sampler must actually hit the tiling most of the time.
    assert!(found > 8_000, "{found}");
}
