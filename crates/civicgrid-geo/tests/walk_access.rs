//! Checks walking accessibility on small graphs drawn by hand, where every answer can be worked out on paper: a street, a block with a diagonal, two islands, facilities on one corner, a facility at exactly the radius.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a clear test failure")]

use civicgrid_geo::{Accessibility, Facilities, GeoError, LatLng, WalkEdge, WalkGraph, WalkSpeed, nearest_within};

const NONE: f64 = f64::INFINITY;

/// A graph of `n` nodes (positions do not matter to distances) and edges
/// given as (from, to, metres). Lengths are whole or binary fractions, so
/// sums are exact and "exactly at the radius" really is.
fn graph(n: usize, edges: &[(u32, u32, f64)]) -> WalkGraph {
    let nodes: Vec<LatLng> = (0..n).map(|i| LatLng::new(30.0, 107.0 + i as f64 * 1e-3).unwrap()).collect();
    let edges: Vec<WalkEdge> = edges.iter().map(|&(from, to, length_m)| WalkEdge { from, to, length_m }).collect();
    WalkGraph::new(&nodes, &edges).unwrap()
}

fn facilities(list: &[(&str, u32)]) -> Facilities {
    let mut f = Facilities::new();
    for &(category, node) in list {
        f.add(category, node);
    }
    f
}

#[test]
fn along_a_street_the_clinic_counts_up_to_the_radius_and_no_further() {
    // 0 —400— 1 —400— 2 —400— 3 —400— 4, a clinic at 0.
    let g = graph(5, &[(0, 1, 400.0), (1, 2, 400.0), (2, 3, 400.0), (3, 4, 400.0)]);
    let a = Accessibility::compute(&g, &facilities(&[("health", 0)]), &[1000.0]).unwrap();
    assert_eq!(a.counts(0, 0).unwrap(), [1, 1, 1, 0, 0]);
    assert_eq!(a.nearest_m(0).unwrap(), [0.0, 400.0, 800.0, NONE, NONE]);
    assert_eq!(a.nearest_minutes(0, WalkSpeed::DEFAULT).unwrap(), [0.0, 5.0, 10.0, NONE, NONE]);
}

#[test]
fn a_facility_at_exactly_the_radius_counts_and_its_distance_is_reported() {
    // pandana's range query keeps `distance <= radius`, and so do we.
    let g = graph(3, &[(0, 1, 800.0), (1, 2, 400.0)]);
    let a = Accessibility::compute(&g, &facilities(&[("school", 2)]), &[400.0, 1200.0]).unwrap();
    assert_eq!(a.counts(0, 0).unwrap(), [0, 1, 1]);
    assert_eq!(a.counts(0, 1).unwrap(), [1, 1, 1]);
    assert_eq!(a.nearest_m(0).unwrap(), [1200.0, 400.0, 0.0]);
}

#[test]
fn a_radius_reached_through_rounded_sums_still_counts() {
    // These millimetre lengths add up to exactly 1,200 m, but their f64 sum
    // from node 0 is 1200.0000000000002: the slack keeps node 11 within.
    let lengths = [100.226, 147.93, 116.078, 53.587, 177.319, 80.854, 130.621, 170.149, 34.966, 126.822, 61.448];
    let edges: Vec<(u32, u32, f64)> = (0..).zip(lengths).map(|(i, m)| (i, i + 1, m)).collect();
    assert!(lengths.iter().fold(0.0, |s, m| s + m) > 1200.0, "the case still exercises rounding");
    let g = graph(12, &edges);
    let a = Accessibility::compute(&g, &facilities(&[("food", 0)]), &[1200.0]).unwrap();
    assert_eq!(a.counts(0, 0).unwrap()[11], 1);
    assert!((a.nearest_m(0).unwrap()[11] - 1200.0).abs() < 1e-9);
}

#[test]
fn a_block_with_a_diagonal_takes_the_short_cut() {
    // A 300 m square 0-1-2-3 with a footpath 0—2 of 424.26 m (√2 · 300).
    let diagonal = 424.264_068_711_928_5;
    let g = graph(4, &[(0, 1, 300.0), (1, 2, 300.0), (2, 3, 300.0), (3, 0, 300.0), (0, 2, diagonal)]);
    let a = Accessibility::compute(&g, &facilities(&[("bus_stop", 0)]), &[450.0]).unwrap();
    assert_eq!(a.nearest_m(0).unwrap(), [0.0, 300.0, diagonal, 300.0]);
    assert_eq!(a.counts(0, 0).unwrap(), [1, 1, 1, 1]);
    // Without the diagonal the far corner is 600 m away, outside 450 m.
    let g = graph(4, &[(0, 1, 300.0), (1, 2, 300.0), (2, 3, 300.0), (3, 0, 300.0)]);
    let a = Accessibility::compute(&g, &facilities(&[("bus_stop", 0)]), &[450.0]).unwrap();
    assert_eq!(a.counts(0, 0).unwrap(), [1, 1, 0, 1]);
    assert_eq!(a.nearest_m(0).unwrap()[2], NONE);
}

#[test]
fn an_island_without_a_shop_has_none_within_however_large_the_radius() {
    // 0 —100— 1 and, unconnected, 2 —100— 3; the shop is at 0.
    let g = graph(4, &[(0, 1, 100.0), (2, 3, 100.0)]);
    let a = Accessibility::compute(&g, &facilities(&[("supermarket", 0)]), &[1.0e6]).unwrap();
    assert_eq!(a.counts(0, 0).unwrap(), [1, 1, 0, 0]);
    assert_eq!(a.nearest_m(0).unwrap(), [0.0, 100.0, NONE, NONE]);
}

#[test]
fn facilities_sharing_a_node_each_count_and_the_node_itself_is_at_zero() {
    // Three food stalls and a bus stop on node 1 of 0 —50— 1 —50— 2.
    let g = graph(3, &[(0, 1, 50.0), (1, 2, 50.0)]);
    let f = facilities(&[("food", 1), ("food", 1), ("bus_stop", 1), ("food", 1), ("food", 2)]);
    let a = Accessibility::compute_with_threads(&g, &f, &[50.0, 100.0], 2).unwrap();
    assert_eq!(a.categories(), ["food", "bus_stop"]);
    assert_eq!(a.counts(0, 0).unwrap(), [3, 4, 4]);
    assert_eq!(a.counts(0, 1).unwrap(), [4, 4, 4]);
    assert_eq!(a.counts(1, 0).unwrap(), [1, 1, 1]);
    assert_eq!(a.nearest_m(0).unwrap(), [50.0, 0.0, 0.0]);
    assert_eq!(a.nearest_m(1).unwrap(), [50.0, 0.0, 50.0]);
    assert_eq!(a, Accessibility::compute_with_threads(&g, &f, &[50.0, 100.0], 1).unwrap());
}

#[test]
fn a_category_with_no_facilities_has_zero_counts_and_nothing_nearest() {
    let g = graph(2, &[(0, 1, 10.0)]);
    let mut f = facilities(&[("food", 0)]);
    f.category("health");
    let a = Accessibility::compute(&g, &f, &[100.0]).unwrap();
    let health = a.category_index("health").unwrap();
    assert_eq!(a.counts(health, 0).unwrap(), [0, 0]);
    assert_eq!(a.nearest_m(health).unwrap(), [NONE, NONE]);
    assert_eq!(a.counts(7, 0), None);
    assert_eq!(a.nearest_m(7), None);
}

#[test]
fn bad_radii_speeds_and_facility_nodes_are_refused() {
    let g = graph(2, &[(0, 1, 10.0)]);
    let f = facilities(&[("food", 0)]);
    for r in [0.0, -5.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(Accessibility::compute(&g, &f, &[r]), Err(GeoError::NotPositive { what: "radius", .. })));
    }
    assert_eq!(
        Accessibility::compute(&g, &facilities(&[("food", 0), ("school", 9)]), &[10.0]).unwrap_err(),
        GeoError::UnknownFacilityNode { category: "school".into(), node: 9, nodes: 2 }
    );
    assert!(nearest_within(&g, &[2], 10.0).is_err());
    assert!(WalkSpeed::km_per_hour(0.0).is_err());
    assert_eq!(WalkSpeed::km_per_hour(4.8).unwrap().m_per_min(), 80.0);
    assert_eq!(WalkSpeed::default().metres(15.0), 1200.0);
}

#[test]
fn a_shorter_way_over_short_steps_wins_over_a_longer_edge_met_first() {
    // 0 —0.25— 1 —0.25— 2, and 0 —0.75— 2 directly; then 2 —1000— 3. All
    // of 0, 1 and 2 lie in the search's first bucket (1 m at 1,024 m), where
    // nodes come in any order: 2 may be reached over the direct edge first,
    // and must still end at 0.5 m, and 3 at 1,000.5 m.
    let g = graph(4, &[(0, 1, 0.25), (0, 2, 0.75), (1, 2, 0.25), (2, 3, 1000.0)]);
    assert_eq!(nearest_within(&g, &[0], 1024.0).unwrap(), [0.0, 0.25, 0.5, 1000.5]);
    let a = Accessibility::compute(&g, &facilities(&[("park", 0)]), &[1000.5]).unwrap();
    assert_eq!(a.counts(0, 0).unwrap(), [1, 1, 1, 1]);
}
