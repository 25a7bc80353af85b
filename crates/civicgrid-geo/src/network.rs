//! The street graph people walk on: a compact undirected adjacency with edge lengths in metres, and the node nearest to a point.

use rstar::RTree;
use rstar::primitives::GeomWithData;

use crate::{EARTH_RADIUS_M, GeoError, LatLng};

/// A node of a [`WalkGraph`]: its position in the node list given to [`WalkGraph::new`].
pub type NodeId = u32;

/// One walkable segment between two nodes, usable in both directions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WalkEdge {
    /// One end.
    pub from: NodeId,
    /// The other end.
    pub to: NodeId,
    /// Length along the way in metres: finite and not negative.
    pub length_m: f64,
}

/// A point of the R-tree: a node's position in local metres (see [`WalkGraph::project`]).
type Located = GeomWithData<[f64; 2], NodeId>;

/// An undirected walking network stored as compressed sparse rows (CSR).
///
/// Node `v`'s arcs are `targets[offsets[v]..offsets[v + 1]]` with the same
/// range of `lengths_m`; each undirected edge appears once from each end.
/// Flat arrays rather than `Vec<Vec<_>>` because shortest-path searches
/// walk them millions of times and one allocation per node scatters them
/// across memory.
#[derive(Debug, Clone)]
pub struct WalkGraph {
    positions: Vec<LatLng>,
    offsets: Vec<u32>,
    targets: Vec<NodeId>,
    lengths_m: Vec<f64>,
    tree: RTree<Located>,
    /// Metres per degree of longitude at the nodes' mean latitude.
    m_per_deg_lon: f64,
}

/// Metres per degree of latitude on the sphere of [`EARTH_RADIUS_M`].
const M_PER_DEG_LAT: f64 = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;

impl WalkGraph {
    /// Builds the graph. Node `i` of `nodes` gets id `i`; every edge must
    /// name existing nodes and have a finite, non-negative length. Self-loops
    /// are dropped (they never shorten a walk); parallel edges are kept (the
    /// search takes the shorter one by itself).
    pub fn new(nodes: &[LatLng], edges: &[WalkEdge]) -> Result<Self, GeoError> {
        let n = nodes.len();
        if u32::try_from(n).is_err() {
            return Err(GeoError::NetworkTooLarge(format!("{n} nodes; at most {} fit a u32 id", u32::MAX)));
        }
        if edges.len().checked_mul(2).is_none_or(|arcs| u32::try_from(arcs).is_err()) {
            return Err(GeoError::NetworkTooLarge(format!("{} edges; at most {} fit", edges.len(), u32::MAX / 2)));
        }
        let mut degree = vec![0u32; n + 1];
        for (i, e) in edges.iter().enumerate() {
            for node in [e.from, e.to] {
                if node as usize >= n {
                    return Err(GeoError::UnknownEdgeNode { edge: i, node, nodes: n });
                }
            }
            if !e.length_m.is_finite() || e.length_m < 0.0 {
                return Err(GeoError::BadEdgeLength { edge: i, length_m: e.length_m });
            }
            if e.from != e.to {
                degree[e.from as usize + 1] += 1;
                degree[e.to as usize + 1] += 1;
            }
        }
        // Prefix sums turn degrees into row starts; `next` then fills each row.
        for v in 0..n {
            degree[v + 1] += degree[v];
        }
        let offsets = degree;
        let arcs = offsets[n] as usize;
        let mut next: Vec<u32> = offsets[..n].to_vec();
        let mut targets = vec![0; arcs];
        let mut lengths_m = vec![0.0; arcs];
        for e in edges.iter().filter(|e| e.from != e.to) {
            for (a, b) in [(e.from, e.to), (e.to, e.from)] {
                let slot = &mut next[a as usize];
                targets[*slot as usize] = b;
                lengths_m[*slot as usize] = e.length_m;
                *slot += 1;
            }
        }

        let mean_lat = if n == 0 { 0.0 } else { nodes.iter().map(|p| p.lat()).sum::<f64>() / n as f64 };
        let m_per_deg_lon = M_PER_DEG_LAT * mean_lat.to_radians().cos();
        let located = (0..).zip(nodes).map(|(id, p)| Located::new(project(*p, m_per_deg_lon), id)).collect();
        Ok(Self {
            positions: nodes.to_vec(),
            offsets,
            targets,
            lengths_m,
            tree: RTree::bulk_load(located),
            m_per_deg_lon,
        })
    }

    /// Number of nodes; ids run from 0 to this minus one.
    pub fn node_count(&self) -> usize {
        self.positions.len()
    }

    /// Number of undirected edges kept (self-loops are not).
    pub fn edge_count(&self) -> usize {
        self.targets.len() / 2
    }

    /// Where node `v` is, or `None` for an id outside the graph.
    pub fn position(&self, v: NodeId) -> Option<LatLng> {
        self.positions.get(v as usize).copied()
    }

    /// The neighbours of `v` with the length of the edge to each, in metres;
    /// empty for an id outside the graph.
    pub fn neighbours(&self, v: NodeId) -> impl Iterator<Item = (NodeId, f64)> + '_ {
        let (targets, lengths) = self.arcs(v);
        targets.iter().copied().zip(lengths.iter().copied())
    }

    /// The raw CSR row of `v`: neighbour ids and edge lengths, side by side.
    pub(crate) fn arcs(&self, v: NodeId) -> (&[NodeId], &[f64]) {
        let v = v as usize;
        match (self.offsets.get(v), self.offsets.get(v + 1)) {
            (Some(&start), Some(&end)) => {
                let range = start as usize..end as usize;
                (&self.targets[range.clone()], &self.lengths_m[range])
            }
            _ => (&[], &[]),
        }
    }

    /// The node nearest to `p` in a straight line, with its great-circle
    /// distance in metres; `None` when the graph has no nodes.
    ///
    /// The search runs on a local equirectangular projection centred on the
    /// graph's mean latitude, exact enough to rank nodes within a district
    /// (the scale error across 10 km of latitude is under 0.2 %).
    pub fn nearest_node(&self, p: LatLng) -> Option<(NodeId, f64)> {
        let found = self.tree.nearest_neighbor(&project(p, self.m_per_deg_lon))?;
        let id = found.data;
        Some((id, p.haversine_m(self.positions[id as usize])))
    }

    /// Walking metres from `from` to each of `to`: to the nearest node of
    /// each end in a straight line, and along the streets between, by one
    /// Dijkstra search from `from`'s node that stops once every target is
    /// settled or beyond `bound_m`. `None` for a target not reached within
    /// the bound, and for all of them when the graph has no nodes.
    pub fn walk_m_to(&self, from: LatLng, to: &[LatLng], bound_m: f64) -> Vec<Option<f64>> {
        use std::cmp::Reverse;
        use std::collections::{BinaryHeap, HashMap};
        let Some((source, source_snap)) = self.nearest_node(from) else { return vec![None; to.len()] };
        let ends: Vec<(NodeId, f64)> = to.iter().filter_map(|p| self.nearest_node(*p)).collect();
        let mut wanted: HashMap<NodeId, Option<f64>> = ends.iter().map(|(n, _)| (*n, None)).collect();
        let mut left = wanted.len();
        let mut dist: HashMap<NodeId, f64> = HashMap::new();
        // Metres as integer millimetres keep the heap's order total.
        let mut heap = BinaryHeap::new();
        dist.insert(source, 0.0);
        heap.push(Reverse((0u64, source)));
        while let Some(Reverse((d_mm, v))) = heap.pop() {
            let d = d_mm as f64 / 1000.0;
            if dist.get(&v).is_some_and(|best| d > *best) {
                continue;
            }
            if d > bound_m {
                break;
            }
            if let Some(slot) = wanted.get_mut(&v)
                && slot.is_none()
            {
                *slot = Some(d);
                left -= 1;
                if left == 0 {
                    break;
                }
            }
            let (targets, lengths) = self.arcs(v);
            for (&w, &len) in targets.iter().zip(lengths) {
                let nd = d + len;
                if nd <= bound_m && dist.get(&w).is_none_or(|best| nd < *best) {
                    dist.insert(w, nd);
                    heap.push(Reverse(((nd * 1000.0) as u64, w)));
                }
            }
        }
        ends.iter().map(|(node, snap)| wanted.get(node).copied().flatten().map(|d| source_snap + d + snap)).collect()
    }
}

/// Position in metres east and north of (0°, 0°) on a plane that is true to
/// scale at the graph's mean latitude; R-tree distances need a metric space,
/// and degrees of longitude are shorter than degrees of latitude away from
/// the equator.
fn project(p: LatLng, m_per_deg_lon: f64) -> [f64; 2] {
    [p.lon() * m_per_deg_lon, p.lat() * M_PER_DEG_LAT]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a clear test failure")]

    use super::*;

    fn ll(lat: f64, lon: f64) -> LatLng {
        LatLng::new(lat, lon).unwrap()
    }

    fn edge(from: NodeId, to: NodeId, length_m: f64) -> WalkEdge {
        WalkEdge { from, to, length_m }
    }

    #[test]
    fn walking_metres_follow_the_streets_and_stop_at_the_bound() {
        // A square with one side missing: from 0 to 3 the walk goes round.
        let nodes = [ll(34.0, 107.0), ll(34.0, 107.001), ll(34.001, 107.001), ll(34.001, 107.0)];
        let g = WalkGraph::new(&nodes, &[edge(0, 1, 92.0), edge(1, 2, 111.0), edge(2, 3, 92.0)]).unwrap();
        let got = g.walk_m_to(nodes[0], &[nodes[3], nodes[1], nodes[0]], 1000.0);
        assert_eq!(got, [Some(295.0), Some(92.0), Some(0.0)]);
        assert_eq!(g.walk_m_to(nodes[0], &[nodes[3], nodes[1]], 200.0), [None, Some(92.0)]);
        // Off-street ends add their straight line to the nearest node.
        let near = ll(34.0, 107.0001);
        let snap = near.haversine_m(nodes[0]);
        assert_eq!(g.walk_m_to(near, &[nodes[1]], 1000.0), [Some(snap + 92.0)]);
    }

    #[test]
    fn every_edge_is_walkable_both_ways_and_self_loops_are_dropped() {
        let nodes = [ll(60.0, 24.0), ll(60.001, 24.0), ll(60.002, 24.0)];
        let g = WalkGraph::new(&nodes, &[edge(0, 1, 5.0), edge(1, 2, 7.5), edge(2, 2, 1.0)]).unwrap();
        assert_eq!(g.edge_count(), 2);
        assert_eq!(g.neighbours(0).collect::<Vec<_>>(), [(1, 5.0)]);
        let mut mid: Vec<_> = g.neighbours(1).collect();
        mid.sort_by_key(|a| a.0);
        assert_eq!(mid, [(0, 5.0), (2, 7.5)]);
        assert_eq!(g.neighbours(2).collect::<Vec<_>>(), [(1, 7.5)]);
        assert_eq!(g.neighbours(99).count(), 0);
    }

    #[test]
    fn bad_edges_are_rejected_with_their_position() {
        let nodes = [ll(60.0, 24.0), ll(60.001, 24.0)];
        assert_eq!(
            WalkGraph::new(&nodes, &[edge(0, 1, 1.0), edge(1, 2, 1.0)]).unwrap_err(),
            GeoError::UnknownEdgeNode { edge: 1, node: 2, nodes: 2 }
        );
        assert_eq!(
            WalkGraph::new(&nodes, &[edge(0, 1, -0.5)]).unwrap_err(),
            GeoError::BadEdgeLength { edge: 0, length_m: -0.5 }
        );
        assert!(matches!(
            WalkGraph::new(&nodes, &[edge(0, 1, f64::NAN)]),
            Err(GeoError::BadEdgeLength { edge: 0, .. })
        ));
        assert!(WalkGraph::new(&nodes, &[edge(0, 1, 0.0)]).is_ok(), "a zero-length edge joins two points at one place");
    }

    #[test]
    fn nearest_node_weighs_longitude_by_latitude() {
        // At 60° N a degree of longitude is half a degree of latitude, so the
        // node 0.0015° east (≈ 83 m) is nearer than the one 0.001° north
        // (≈ 111 m), although it is further in raw degrees.
        let nodes = [ll(60.001, 24.0), ll(60.0, 24.0015)];
        let g = WalkGraph::new(&nodes, &[]).unwrap();
        let (id, m) = g.nearest_node(ll(60.0, 24.0)).unwrap();
        assert_eq!(id, 1);
        assert!((m - 83.4).abs() < 1.0, "{m}");
        assert!(WalkGraph::new(&[], &[]).unwrap().nearest_node(ll(0.0, 0.0)).is_none());
    }
}
