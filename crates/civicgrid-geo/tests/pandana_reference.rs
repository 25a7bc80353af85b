//! Checks the walking-accessibility engine against pandana 0.8 on a real walking graph of central Helsinki: every count equal, every nearest distance within 0.01 m.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a clear test failure")]

use std::collections::HashMap;
use std::path::PathBuf;

use civicgrid_geo::{Accessibility, Facilities, LatLng, SERVICE_CIRCLE_MINUTES, WalkEdge, WalkGraph, WalkSpeed};

const RADIUS_M: f64 = 1200.0;
const TOLERANCE_M: f64 = 0.01;

/// The rows of a small CSV file with a header and no quoted fields, as
/// header → value maps.
fn read_csv(name: &str) -> Vec<HashMap<String, String>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/helsinki-walk").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_owned).collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| header.iter().cloned().zip(l.split(',').map(str::to_owned)).collect())
        .collect()
}

fn num(row: &HashMap<String, String>, key: &str) -> f64 {
    row[key].parse().unwrap_or_else(|e| panic!("{key}={:?}: {e}", row[key]))
}

struct Helsinki {
    graph: WalkGraph,
    facilities: Facilities,
    reference: Vec<HashMap<String, String>>,
    /// (facility position, node pandana's data snapped it to)
    snaps: Vec<(LatLng, u32)>,
}

fn helsinki() -> Helsinki {
    let nodes: Vec<LatLng> = read_csv("nodes.csv")
        .iter()
        .enumerate()
        .map(|(i, r)| {
            assert_eq!(num(r, "id") as usize, i, "node ids run 0..N-1 in order");
            LatLng::new(num(r, "lat"), num(r, "lon")).unwrap()
        })
        .collect();
    let edges: Vec<WalkEdge> = read_csv("edges.csv")
        .iter()
        .map(|r| WalkEdge { from: num(r, "from") as u32, to: num(r, "to") as u32, length_m: num(r, "length_m") })
        .collect();
    let graph = WalkGraph::new(&nodes, &edges).unwrap();

    let pois: HashMap<String, (String, LatLng)> = read_csv("pois.csv")
        .into_iter()
        .map(|r| {
            let at = LatLng::new(num(&r, "lat"), num(&r, "lon")).unwrap();
            (r["id"].clone(), (r["category"].clone(), at))
        })
        .collect();
    let mut facilities = Facilities::new();
    let mut snaps = Vec::new();
    for r in read_csv("poi_snap.csv") {
        let (category, at) = &pois[&r["poi_id"]];
        let node = num(&r, "node_id") as u32;
        facilities.add(category, node);
        snaps.push((*at, node));
    }
    Helsinki { graph, facilities, reference: read_csv("reference_pandana_r1200.csv"), snaps }
}

#[test]
fn counts_and_nearest_distances_match_pandana() {
    let h = helsinki();
    assert_eq!(h.graph.node_count(), 3365);
    assert_eq!(h.graph.edge_count(), 4417);
    assert_eq!(h.facilities.len(), 530);
    assert_eq!(h.reference.len(), h.graph.node_count());
    let access = Accessibility::compute(&h.graph, &h.facilities, &[RADIUS_M]).unwrap();

    let columns: Vec<String> = {
        let text = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/helsinki-walk/reference_pandana_r1200.csv"),
        )
        .unwrap();
        text.lines().next().unwrap().split(',').skip(1).map(str::to_owned).collect()
    };
    let (mut checked_counts, mut checked_distances, mut mismatches) = (0, 0, Vec::new());
    for row in &h.reference {
        let v = num(row, "node_id") as usize;
        for column in &columns {
            let expected = num(row, column);
            if let Some(category) = column.strip_prefix("count_") {
                let c = access.category_index(category).unwrap_or_else(|| panic!("no category {category}"));
                let got = access.counts(c, 0).unwrap()[v];
                checked_counts += 1;
                if f64::from(got) != expected {
                    mismatches.push(format!("node {v} {column}: got {got}, pandana {expected}"));
                }
            } else if let Some(category) = column.strip_prefix("nearest_") {
                let c = access.category_index(category).unwrap_or_else(|| panic!("no category {category}"));
                let got = access.nearest_m(c).unwrap()[v];
                // pandana writes the radius where none is within it.
                let got = if got.is_finite() { got } else { RADIUS_M };
                checked_distances += 1;
                if (got - expected).abs() > TOLERANCE_M {
                    mismatches.push(format!("node {v} {column}: got {got:.4}, pandana {expected}"));
                }
            } else {
                panic!("unexpected reference column {column}");
            }
        }
    }
    assert_eq!((checked_counts, checked_distances), (3365 * 5, 3365 * 3));
    assert!(
        mismatches.is_empty(),
        "{} of {} values differ from pandana; first ones:\n{}",
        mismatches.len(),
        checked_counts + checked_distances,
        mismatches.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn one_pass_over_three_radii_agrees_with_separate_runs_and_any_thread_count() {
    let h = helsinki();
    let radii = WalkSpeed::DEFAULT.radii_m(&SERVICE_CIRCLE_MINUTES);
    assert_eq!(radii, [400.0, 800.0, 1200.0]);
    let all = Accessibility::compute_with_threads(&h.graph, &h.facilities, &radii, 2).unwrap();
    assert_eq!(all, Accessibility::compute_with_threads(&h.graph, &h.facilities, &radii, 1).unwrap());
    for (r, &radius) in radii.iter().enumerate() {
        let alone = Accessibility::compute_with_threads(&h.graph, &h.facilities, &[radius], 2).unwrap();
        for c in 0..all.categories().len() {
            assert_eq!(all.counts(c, r), alone.counts(c, 0), "radius {radius} category {c}");
            // Nearest is cut at the largest radius, so it agrees below the smaller one.
            for (a, b) in all.nearest_m(c).unwrap().iter().zip(alone.nearest_m(c).unwrap()) {
                assert!(b.is_infinite() || (a - b).abs() < 1e-9, "{a} vs {b}");
            }
        }
    }
    // Circles nest, so counts never fall as the radius grows.
    for c in 0..all.categories().len() {
        let (c5, c10, c15) = (all.counts(c, 0).unwrap(), all.counts(c, 1).unwrap(), all.counts(c, 2).unwrap());
        assert!((0..all.node_count()).all(|v| c5[v] <= c10[v] && c10[v] <= c15[v]));
    }
}

#[test]
fn multi_source_nearest_agrees_with_the_minimum_over_single_sources() {
    let h = helsinki();
    let access = Accessibility::compute(&h.graph, &h.facilities, &[RADIUS_M]).unwrap();
    for c in 0..h.facilities.categories().len() {
        let mut minimum = vec![f64::INFINITY; h.graph.node_count()];
        for &s in h.facilities.nodes(c) {
            let single = civicgrid_geo::nearest_within(&h.graph, &[s], RADIUS_M).unwrap();
            for (m, d) in minimum.iter_mut().zip(single) {
                *m = m.min(d);
            }
        }
        for (v, (a, b)) in access.nearest_m(c).unwrap().iter().zip(&minimum).enumerate() {
            assert!((a.is_infinite() && b.is_infinite()) || (a - b).abs() < 1e-9, "node {v}: {a} vs {b}");
        }
    }
}

#[test]
fn nearest_node_reproduces_the_published_snapping() {
    let h = helsinki();
    let mut differ = Vec::new();
    for &(at, node) in &h.snaps {
        let (found, m) = h.graph.nearest_node(at).unwrap();
        let published = at.haversine_m(h.graph.position(node).unwrap());
        // A different node is only acceptable as a tie in straight-line distance.
        if found != node && (m - published).abs() > 0.01 {
            differ.push(format!("{at:?}: found {found} at {m:.2} m, published {node} at {published:.2} m"));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

#[test]
fn adding_one_facility_incrementally_equals_recomputing_everything() {
    let h = helsinki();
    let radii = WalkSpeed::DEFAULT.radii_m(&SERVICE_CIRCLE_MINUTES);
    let mut incremental = Accessibility::compute(&h.graph, &h.facilities, &radii).unwrap();
    let category = incremental.categories()[0].clone();
    let c = incremental.category_index(&category).unwrap();
    let mut more = h.facilities.clone();
    for node in [17u32, 1500, 3000] {
        more.add(&category, node);
        let nearer = incremental.add_facility(&h.graph, c, node).unwrap();
        assert!(nearer > 0, "a new facility is at least nearest to its own node");
    }
    assert_eq!(incremental, Accessibility::compute(&h.graph, &more, &radii).unwrap());
    assert!(incremental.add_facility(&h.graph, 99, 0).is_err(), "unknown category");
    assert!(incremental.add_facility(&h.graph, c, 1_000_000).is_err(), "unknown node");
}
