//! Where to build next: among candidate sites, pick `k` that bring the most
//! uncovered demand (households) within a walking radius — greedy maximum
//! coverage over the street network, with the gain of every pick.
//!
//! Greedy is the classic answer to maximum coverage: each pick takes the
//! candidate covering the most demand not yet covered, which is within
//! 1 − 1/e of the best possible set and, unlike an exact solver, explains
//! itself one pick at a time. The gains only shrink as picks are made
//! (coverage is submodular), so the search is lazy (CELF): every candidate's
//! gain is measured once, kept in a max-heap, and only the candidate on top
//! is measured again — if it is still the best, it is picked. A
//! measurement is one search bounded by the radius from the candidate, so
//! memory stays one array of the graph's size whatever the candidate count.

use std::collections::BinaryHeap;

use crate::access::Search;
use crate::{BOUND_SLACK_M, GeoError, NodeId, WalkGraph};

/// One pick: the site, the demand it newly covers, and the covered total after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    pub node: NodeId,
    pub gain: u64,
    pub covered_after: u64,
}

/// Demand at network nodes (households at the node their compound's
/// entrance snaps to), and which of it is already covered.
#[derive(Debug, Clone)]
pub struct Demand {
    weight: Vec<u64>,
    covered: Vec<bool>,
}

impl Demand {
    /// No demand on a graph of `nodes` nodes.
    pub fn new(nodes: usize) -> Self {
        Self { weight: vec![0; nodes], covered: vec![false; nodes] }
    }

    /// Adds `weight` at `node`.
    pub fn add(&mut self, node: NodeId, weight: u64) -> Result<(), GeoError> {
        let nodes = self.weight.len();
        let slot = self.weight.get_mut(node as usize).ok_or(GeoError::UnknownFacilityNode {
            category: "demand".into(),
            node,
            nodes,
        })?;
        *slot += weight;
        Ok(())
    }

    /// Marks the demand at every node whose distance in `nearest_m` is
    /// within `radius_m` as already covered (by existing facilities).
    pub fn cover_within(&mut self, nearest_m: &[f64], radius_m: f64) {
        for (c, &d) in self.covered.iter_mut().zip(nearest_m) {
            *c |= d <= radius_m + BOUND_SLACK_M;
        }
    }

    /// All demand, and the part already covered.
    pub fn totals(&self) -> (u64, u64) {
        let total = self.weight.iter().sum();
        let covered = self.weight.iter().zip(&self.covered).filter(|(_, c)| **c).map(|(w, _)| *w).sum();
        (total, covered)
    }
}

/// A heap entry: a candidate with the gain last measured for it, and after
/// which pick it was measured.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    gain: u64,
    /// Ties go to the lower node id: reversed so the max-heap prefers it.
    node: std::cmp::Reverse<NodeId>,
    round: usize,
}

/// Picks up to `k` of `candidates` greedily, each covering the demand
/// within `radius_m` of it on `graph`; stops early when no candidate adds
/// anything. Deterministic: ties go to the lower node id.
pub fn greedy_max_coverage(
    graph: &WalkGraph,
    demand: &Demand,
    candidates: &[NodeId],
    radius_m: f64,
    k: usize,
) -> Result<Vec<Pick>, GeoError> {
    let n = graph.node_count();
    if demand.weight.len() != n {
        return Err(GeoError::GraphMismatch { expected: demand.weight.len(), got: n });
    }
    if !(radius_m.is_finite() && radius_m > 0.0) {
        return Err(GeoError::NotPositive { what: "radius", value: radius_m });
    }
    if let Some(&node) = candidates.iter().find(|&&v| v as usize >= n) {
        return Err(GeoError::UnknownFacilityNode { category: "candidate".into(), node, nodes: n });
    }
    let bound = radius_m + BOUND_SLACK_M;
    let mut covered = demand.covered.clone();
    let mut search = Search::new(n);
    let gain_of = |search: &mut Search, covered: &[bool], c: NodeId| {
        let mut gain = 0;
        search.run(graph, &[c], bound, |v, _| {
            if !covered[v as usize] {
                gain += demand.weight[v as usize];
            }
        });
        gain
    };
    let mut heap: BinaryHeap<Entry> = BinaryHeap::with_capacity(candidates.len());
    let mut seen = vec![false; n];
    for &c in candidates {
        if !std::mem::replace(&mut seen[c as usize], true) {
            heap.push(Entry { gain: gain_of(&mut search, &covered, c), node: std::cmp::Reverse(c), round: 0 });
        }
    }
    let (_, mut total) = demand.totals();
    let mut picks = Vec::with_capacity(k);
    while picks.len() < k {
        let Some(top) = heap.pop() else { break };
        if top.gain == 0 {
            break;
        }
        let c = top.node.0;
        if top.round < picks.len() {
            // Measured before the last pick: measure again and put it back.
            let gain = gain_of(&mut search, &covered, c);
            heap.push(Entry { gain, node: top.node, round: picks.len() });
            continue;
        }
        search.run(graph, &[c], bound, |v, _| covered[v as usize] = true);
        total += top.gain;
        picks.push(Pick { node: c, gain: top.gain, covered_after: total });
    }
    Ok(picks)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]
mod tests {
    use super::*;
    use crate::{LatLng, WalkEdge};

    /// A path 0 — 1 — 2 — … — 9 with 100 m edges.
    fn path() -> WalkGraph {
        let nodes: Vec<LatLng> = (0..10).map(|i| LatLng::new(34.0, 107.0 + f64::from(i) * 0.001).unwrap()).collect();
        let edges: Vec<WalkEdge> = (0..9).map(|i| WalkEdge { from: i, to: i + 1, length_m: 100.0 }).collect();
        WalkGraph::new(&nodes, &edges).unwrap()
    }

    #[test]
    fn greedy_takes_the_biggest_gain_first_and_counts_each_household_once() {
        let g = path();
        let mut demand = Demand::new(10);
        for (node, w) in [(0, 10), (1, 10), (2, 10), (7, 5), (8, 5), (9, 5)] {
            demand.add(node, w).unwrap();
        }
        let all: Vec<NodeId> = (0..10).collect();
        let picks = greedy_max_coverage(&g, &demand, &all, 100.0, 3).unwrap();
        // Node 1 covers 0–2 (30); then node 8 covers 7–9 (15); nothing is left.
        assert_eq!(
            picks,
            [Pick { node: 1, gain: 30, covered_after: 30 }, Pick { node: 8, gain: 15, covered_after: 45 }]
        );
        // Already covered demand is worth nothing.
        let mut near = vec![f64::INFINITY; 10];
        near[..3].fill(0.0);
        demand.cover_within(&near, 100.0);
        assert_eq!(demand.totals(), (45, 30));
        let picks = greedy_max_coverage(&g, &demand, &all, 100.0, 1).unwrap();
        assert_eq!(picks, [Pick { node: 8, gain: 15, covered_after: 45 }]);
    }

    #[test]
    fn greedy_equals_brute_force_on_small_cases() {
        let g = path();
        let mut demand = Demand::new(10);
        for (node, w) in [(0, 3), (2, 7), (3, 1), (5, 4), (6, 4), (9, 9)] {
            demand.add(node, w).unwrap();
        }
        let candidates: Vec<NodeId> = vec![0, 2, 4, 6, 8];
        let picks = greedy_max_coverage(&g, &demand, &candidates, 150.0, 5).unwrap();
        // Each gain is the best single addition given the picks before it.
        let mut covered = [false; 10];
        for p in &picks {
            let gain_of = |c: NodeId, covered: &[bool; 10]| -> u64 {
                (0..10u32)
                    .filter(|&v| (f64::from(v) - f64::from(c)).abs() * 100.0 <= 150.0 && !covered[v as usize])
                    .map(|v| demand.weight[v as usize])
                    .sum()
            };
            let best = candidates.iter().map(|&c| gain_of(c, &covered)).max().unwrap();
            assert_eq!(p.gain, best);
            assert_eq!(p.gain, gain_of(p.node, &covered));
            for v in 0..10u32 {
                if (f64::from(v) - f64::from(p.node)).abs() * 100.0 <= 150.0 {
                    covered[v as usize] = true;
                }
            }
        }
        assert_eq!(picks.last().unwrap().covered_after, 28, "everything is covered in the end");
    }

    #[test]
    fn bad_input_is_an_error() {
        let g = path();
        let demand = Demand::new(10);
        assert!(greedy_max_coverage(&g, &demand, &[42], 100.0, 1).is_err());
        assert!(greedy_max_coverage(&g, &demand, &[1], -1.0, 1).is_err());
        assert!(greedy_max_coverage(&g, &Demand::new(3), &[1], 100.0, 1).is_err());
        assert!(Demand::new(3).add(7, 1).is_err());
    }
}
