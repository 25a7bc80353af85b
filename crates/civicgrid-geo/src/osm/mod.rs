//! OpenStreetMap import: the walking network and the facilities of an `.osm.pbf` extract, read in one pass from any `std::io::Read`.
//!
//! **Which ways are walked** ([`is_walkable`]) — a way is part of the walking
//! network when
//!
//! | rule | tags |
//! |---|---|
//! | its `highway` is one people walk along | [`WALKABLE_HIGHWAYS`]: footway, path, pedestrian, steps, living_street, residential, service, unclassified, road, tertiary, secondary, primary (and their `_link`), track, cycleway, bridleway, corridor, platform |
//! | or a motor road whose `foot` allows walking | motorway, trunk (and their `_link`) with `foot` in [`FOOT_ALLOWED`] |
//! | and it is not an area | `area=yes` is a plaza's outline, not a route across it (routes across are mapped as footways); osmnx's walk filter does the same |
//! | and walking is not refused | `foot` in no, use_sidepath (the separately mapped sidewalk is walked instead), private |
//! | and the way is not closed to the public | `access` in no, private, or `service=private`, unless `foot` allows walking |
//!
//! Every walkable way is walked in both directions (one-way streets bind
//! vehicles, not people).
//!
//! **The graph** — every node of a walkable way is kept while reading; a
//! graph node is then made of each way end and each node used more than
//! once (a junction of two ways, or a way crossing itself), and every
//! stretch of way between two graph nodes becomes one edge whose length is
//! the haversine sum along all its nodes, so the bends stay in the length
//! while nodes that only shape the line do not become graph nodes. A closed
//! way, or a loop at a way's end, that comes back to its start with no
//! graph node between is cut at its middle node too, so its ground stays
//! (as two edges) instead of becoming a self-loop. A way naming nodes
//! that the extract does not hold (clipped at its border) is cut there:
//! the stretches on either side are kept. Graph nodes are numbered in
//! order of their OpenStreetMap id, edges in order of way and position, so
//! the same file gives the same graph.
//!
//! **Facilities** — the caller's classifier sees every tagged node and way
//! and names a category or none (this crate knows no catalogue; CivicGrid's
//! mapping onto its facility categories is in the domain crate). A node
//! sits where it is; a way at its centroid (area-weighted for a closed
//! way, length-weighted for an open one). Relations (multipolygon parks and
//! the like) are not read.

mod pbf;

use std::collections::HashMap;
use std::io::Read;

use geo::{Centroid, LineString, Polygon};

pub use pbf::{PbfCounts, Tags};

use crate::{GeoError, LatLng, NodeId, WalkEdge, WalkGraph};

/// `highway` values of ways people walk along.
pub const WALKABLE_HIGHWAYS: &[&str] = &[
    "footway",
    "path",
    "pedestrian",
    "steps",
    "living_street",
    "residential",
    "service",
    "unclassified",
    "road",
    "tertiary",
    "tertiary_link",
    "secondary",
    "secondary_link",
    "primary",
    "primary_link",
    "track",
    "cycleway",
    "bridleway",
    "corridor",
    "platform",
];

/// `highway` values walked only where `foot` explicitly allows it.
pub const MOTOR_ROADS: &[&str] = &["motorway", "motorway_link", "trunk", "trunk_link"];

/// `foot` values that allow walking whatever `access` says.
pub const FOOT_ALLOWED: &[&str] = &["yes", "designated", "permissive"];

/// `foot` values that refuse walking.
pub const FOOT_REFUSED: &[&str] = &["no", "use_sidepath", "private"];

/// `access` values that close a way unless `foot` allows walking.
pub const ACCESS_REFUSED: &[&str] = &["no", "private"];

/// True when the way with these tags belongs to the walking network (the
/// rule is in this module's documentation).
pub fn is_walkable(tags: &Tags<'_>) -> bool {
    let Some(highway) = tags.get("highway") else { return false };
    let foot = tags.get("foot");
    let foot_allowed = foot.is_some_and(|f| FOOT_ALLOWED.contains(&f));
    let kind_ok = WALKABLE_HIGHWAYS.contains(&highway) || (MOTOR_ROADS.contains(&highway) && foot_allowed);
    let closed =
        tags.get("access").is_some_and(|a| ACCESS_REFUSED.contains(&a)) || tags.get("service") == Some("private");
    kind_ok
        && tags.get("area") != Some("yes")
        && !foot.is_some_and(|f| FOOT_REFUSED.contains(&f))
        && (foot_allowed || !closed)
}

/// An OpenStreetMap element, by type and id: `node/123`, `way/456`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OsmElement {
    Node(i64),
    Way(i64),
}

impl std::fmt::Display for OsmElement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OsmElement::Node(id) => write!(f, "node/{id}"),
            OsmElement::Way(id) => write!(f, "way/{id}"),
        }
    }
}

/// A node of the walking graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OsmNode {
    /// The OpenStreetMap node id.
    pub osm_id: i64,
    pub position: LatLng,
}

/// A stretch of one way between two graph nodes, walkable both ways.
#[derive(Debug, Clone, PartialEq)]
pub struct OsmEdge {
    /// Graph node ids: positions in [`OsmExtract::nodes`].
    pub from: NodeId,
    pub to: NodeId,
    /// Haversine length along every node of the stretch, in metres.
    pub length_m: f64,
    /// The way it is a stretch of.
    pub way: i64,
    /// The way's `name`, empty when it has none.
    pub name: String,
}

/// A facility found by the classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct OsmFacility<C> {
    pub element: OsmElement,
    pub category: C,
    /// `name`, else `brand`, else empty.
    pub name: String,
    /// `addr:street` (or `addr:place`) and `addr:housenumber`, empty when untagged.
    pub address: String,
    /// The node's position, or the way's centroid.
    pub position: LatLng,
}

/// What [`read`] found in a file.
#[derive(Debug, Clone)]
pub struct OsmExtract<C> {
    /// Graph nodes, in order of OpenStreetMap id.
    pub nodes: Vec<OsmNode>,
    pub edges: Vec<OsmEdge>,
    /// In file order of their elements: nodes first, then ways.
    pub facilities: Vec<OsmFacility<C>>,
    pub counts: PbfCounts,
    /// Ways that passed [`is_walkable`].
    pub walkable_ways: u64,
    /// References from walkable ways or facility ways to nodes the file does not hold.
    pub missing_nodes: u64,
}

impl<C> OsmExtract<C> {
    /// The walking graph, ready for [`crate::Accessibility`]; node ids are
    /// positions in [`OsmExtract::nodes`].
    pub fn walk_graph(&self) -> Result<WalkGraph, GeoError> {
        let positions: Vec<LatLng> = self.nodes.iter().map(|n| n.position).collect();
        let edges: Vec<WalkEdge> =
            self.edges.iter().map(|e| WalkEdge { from: e.from, to: e.to, length_m: e.length_m }).collect();
        WalkGraph::new(&positions, &edges)
    }

    /// Total length of the edges in kilometres.
    pub fn length_km(&self) -> f64 {
        self.edges.iter().map(|e| e.length_m).sum::<f64>() / 1000.0
    }

    /// The sizes of the graph's connected components, largest first.
    pub fn component_sizes(&self) -> Vec<usize> {
        let labels = self.components();
        let mut sizes: HashMap<usize, usize> = HashMap::new();
        for l in labels {
            *sizes.entry(l).or_default() += 1;
        }
        let mut sizes: Vec<usize> = sizes.into_values().collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        sizes
    }

    /// Keeps only the largest connected component of the graph (the first in
    /// id order when two are equal), renumbering nodes in the same order, and
    /// returns how many nodes were dropped. Facilities are kept: they snap to
    /// what remains. Islands of a few nodes are mostly clipping artefacts at
    /// the extract's border and paths inside closed compounds, and a facility
    /// snapped to one would be out of everyone's reach.
    pub fn keep_largest_component(&mut self) -> usize {
        let labels = self.components();
        let mut sizes: HashMap<usize, usize> = HashMap::new();
        for &l in &labels {
            *sizes.entry(l).or_default() += 1;
        }
        let Some(largest) = sizes.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(l, _)| *l) else {
            return 0;
        };
        let mut renumber = vec![None; self.nodes.len()];
        let mut kept = Vec::with_capacity(sizes[&largest]);
        for (i, node) in self.nodes.iter().enumerate() {
            if labels[i] == largest {
                renumber[i] = Some(kept.len() as NodeId);
                kept.push(*node);
            }
        }
        let dropped = self.nodes.len() - kept.len();
        self.nodes = kept;
        self.edges.retain_mut(|e| match (renumber[e.from as usize], renumber[e.to as usize]) {
            (Some(from), Some(to)) => {
                (e.from, e.to) = (from, to);
                true
            }
            _ => false,
        });
        dropped
    }

    /// A component label per node: the smallest node id of its component.
    fn components(&self) -> Vec<usize> {
        let mut parent: Vec<usize> = (0..self.nodes.len()).collect();
        fn root(parent: &mut [usize], mut v: usize) -> usize {
            while parent[v] != v {
                parent[v] = parent[parent[v]];
                v = parent[v];
            }
            v
        }
        for e in &self.edges {
            let (a, b) = (root(&mut parent, e.from as usize), root(&mut parent, e.to as usize));
            if a != b {
                parent[a.max(b)] = a.min(b);
            }
        }
        (0..parent.len()).map(|v| root(&mut parent, v)).collect()
    }
}

/// Reads an `.osm.pbf` file: its walking graph and the facilities
/// `classify` recognises. `progress` is called after each block with the
/// bytes read so far. A damaged, truncated or foreign file is a
/// [`GeoError::Osm`] naming the byte where the bad block starts.
pub fn read<C>(
    input: impl Read,
    classify: &dyn Fn(&Tags<'_>) -> Option<C>,
    progress: &mut dyn FnMut(u64),
) -> Result<OsmExtract<C>, GeoError> {
    let mut collect = Collect { classify, positions: Vec::new(), walk_ways: Vec::new(), facilities: Vec::new() };
    let counts = pbf::decode(input, &mut collect, progress)?;
    Ok(collect.finish(counts))
}

/// A way kept for later, once every node position is known.
#[derive(Debug)]
struct KeptWay {
    id: i64,
    refs: Vec<i64>,
    name: String,
}

/// A facility found on a way, waiting for its nodes' positions.
struct PendingFacility<C> {
    element: OsmElement,
    category: C,
    name: String,
    address: String,
    /// The node's position, or the way's node ids.
    place: Place,
}

enum Place {
    At(LatLng),
    Way(Vec<i64>),
}

struct Collect<'c, C> {
    classify: &'c dyn Fn(&Tags<'_>) -> Option<C>,
    /// Every node's position: a way may use any of them.
    positions: Vec<(i64, LatLng)>,
    walk_ways: Vec<KeptWay>,
    facilities: Vec<PendingFacility<C>>,
}

impl<C> pbf::Visitor for Collect<'_, C> {
    fn node(&mut self, id: i64, at: LatLng, tags: &Tags<'_>) {
        self.positions.push((id, at));
        if !tags.is_empty() {
            self.facility(OsmElement::Node(id), tags, || Place::At(at));
        }
    }

    fn way(&mut self, id: i64, refs: &[i64], tags: &Tags<'_>) {
        if is_walkable(tags) {
            let name = tags.get("name").unwrap_or_default().to_owned();
            self.walk_ways.push(KeptWay { id, refs: refs.to_vec(), name });
        }
        if !refs.is_empty() {
            self.facility(OsmElement::Way(id), tags, || Place::Way(refs.to_vec()));
        }
    }
}

impl<C> Collect<'_, C> {
    fn facility(&mut self, element: OsmElement, tags: &Tags<'_>, place: impl FnOnce() -> Place) {
        if let Some(category) = (self.classify)(tags) {
            let name = tags.get("name").or_else(|| tags.get("brand")).unwrap_or_default().to_owned();
            let street = tags.get("addr:street").or_else(|| tags.get("addr:place"));
            let address = [street, tags.get("addr:housenumber")].into_iter().flatten().collect::<Vec<_>>().join(" ");
            self.facilities.push(PendingFacility { element, category, name, address, place: place() });
        }
    }

    fn finish(mut self, counts: PbfCounts) -> OsmExtract<C> {
        // Files are sorted by id as a rule; a stable sort keeps the first of
        // a duplicated id first, and costs nothing on sorted input.
        if !self.positions.is_sorted_by_key(|p| p.0) {
            self.positions.sort_by_key(|p| p.0);
        }
        self.positions.dedup_by_key(|p| p.0);
        let positions = self.positions;
        let find = |id: i64| positions.binary_search_by_key(&id, |p| p.0).ok().map(|i| positions[i].1);
        let mut missing_nodes = 0u64;

        // The stretches of each way whose nodes the file holds.
        let mut runs: Vec<(usize, Vec<(i64, LatLng)>)> = Vec::new();
        self.walk_ways.sort_by_key(|w| w.id);
        for (w, way) in self.walk_ways.iter().enumerate() {
            let mut run = Vec::new();
            for &id in &way.refs {
                match find(id) {
                    Some(at) => run.push((id, at)),
                    None => {
                        missing_nodes += 1;
                        if run.len() >= 2 {
                            runs.push((w, std::mem::take(&mut run)));
                        }
                        run.clear();
                    }
                }
            }
            if run.len() >= 2 {
                runs.push((w, run));
            }
        }

        // Graph nodes: run ends and nodes used more than once.
        let mut uses: HashMap<i64, u32> = HashMap::new();
        for (_, run) in &runs {
            for (id, _) in run {
                *uses.entry(*id).or_default() += 1;
            }
        }
        let mut graph_nodes: HashMap<i64, LatLng> = HashMap::new();
        for (_, run) in &runs {
            for (i, &(id, at)) in run.iter().enumerate() {
                if i == 0 || i == run.len() - 1 || uses[&id] > 1 {
                    graph_nodes.insert(id, at);
                }
            }
        }
        // Stretches between graph nodes, as (run, first, last) positions; a
        // stretch that comes back to where it started (a ring, or a loop
        // at a way's end) is cut at its middle node, else it would be a
        // self-loop and its ground would vanish from the graph.
        let mut stretches: Vec<(usize, usize, usize)> = Vec::new();
        for (r, (_, run)) in runs.iter().enumerate() {
            let mut start = 0;
            for i in 1..run.len() {
                if !graph_nodes.contains_key(&run[i].0) {
                    continue;
                }
                if run[start].0 == run[i].0 && i - start >= 2 {
                    let mid = (start + i) / 2;
                    graph_nodes.insert(run[mid].0, run[mid].1);
                    stretches.extend([(r, start, mid), (r, mid, i)]);
                } else {
                    stretches.push((r, start, i));
                }
                start = i;
            }
        }
        let mut nodes: Vec<OsmNode> =
            graph_nodes.into_iter().map(|(osm_id, position)| OsmNode { osm_id, position }).collect();
        nodes.sort_by_key(|n| n.osm_id);
        let index: HashMap<i64, NodeId> = nodes.iter().zip(0..).map(|(n, i)| (n.osm_id, i)).collect();

        let mut edges = Vec::with_capacity(stretches.len());
        for (r, first, last) in stretches {
            let (w, run) = &runs[r];
            let (from, to) = (index[&run[first].0], index[&run[last].0]);
            if from == to {
                continue;
            }
            let length_m = run[first..=last].windows(2).map(|p| p[0].1.haversine_m(p[1].1)).sum();
            let way = &self.walk_ways[*w];
            edges.push(OsmEdge { from, to, length_m, way: way.id, name: way.name.clone() });
        }

        let mut facilities = Vec::with_capacity(self.facilities.len());
        for f in self.facilities {
            let position = match f.place {
                Place::At(at) => Some(at),
                Place::Way(refs) => {
                    let coords: Vec<geo::Coord<f64>> = refs
                        .iter()
                        .filter_map(|&id| {
                            let at = find(id);
                            missing_nodes += u64::from(at.is_none());
                            at
                        })
                        .map(geo::Coord::from)
                        .collect();
                    centroid(coords)
                }
            };
            if let Some(position) = position {
                facilities.push(OsmFacility {
                    element: f.element,
                    category: f.category,
                    name: f.name,
                    address: f.address,
                    position,
                });
            }
        }
        facilities.sort_by_key(|f| f.element);

        OsmExtract { nodes, edges, facilities, counts, walkable_ways: self.walk_ways.len() as u64, missing_nodes }
    }
}

/// The centroid of a way's nodes: of the area for a closed way, of the
/// line for an open one, the point itself for one node; `None` for none.
fn centroid(coords: Vec<geo::Coord<f64>>) -> Option<LatLng> {
    let closed = coords.len() >= 4 && coords.first() == coords.last();
    let line = LineString::new(coords);
    let point = if closed {
        Polygon::new(line.clone(), Vec::new()).centroid().or_else(|| line.centroid())
    } else {
        line.centroid()
    }?;
    LatLng::new(point.y(), point.x()).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a clear test failure")]

    use super::*;

    fn tags<'a>(pairs: &[(&'a str, &'a str)]) -> Tags<'a> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn the_walking_rule_as_a_table() {
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[("highway", "footway")], true),
            (&[("highway", "steps")], true),
            (&[("highway", "residential"), ("oneway", "yes")], true),
            (&[("highway", "primary")], true),
            (&[("highway", "cycleway")], true),
            (&[("highway", "cycleway"), ("foot", "no")], false),
            (&[("highway", "motorway")], false),
            (&[("highway", "trunk")], false),
            (&[("highway", "trunk"), ("foot", "yes")], true),
            (&[("highway", "service"), ("access", "private")], false),
            (&[("highway", "service"), ("access", "private"), ("foot", "yes")], true),
            (&[("highway", "service"), ("service", "private")], false),
            (&[("highway", "primary"), ("foot", "use_sidepath")], false),
            (&[("highway", "pedestrian"), ("area", "yes")], false),
            (&[("highway", "construction")], false),
            (&[("highway", "bus_stop")], false),
            (&[("building", "yes")], false),
        ];
        for (t, want) in cases {
            assert_eq!(is_walkable(&tags(t)), *want, "{t:?}");
        }
    }

    #[test]
    fn centroids_of_areas_lines_and_points() {
        let c = |x, y| geo::Coord { x, y };
        let square = vec![c(24.0, 60.0), c(24.002, 60.0), c(24.002, 60.002), c(24.0, 60.002), c(24.0, 60.0)];
        let at = centroid(square).unwrap();
        assert!((at.lon() - 24.001).abs() < 1e-9 && (at.lat() - 60.001).abs() < 1e-9);
        let line = centroid(vec![c(24.0, 60.0), c(24.002, 60.0)]).unwrap();
        assert!((line.lon() - 24.001).abs() < 1e-9);
        assert_eq!(centroid(vec![c(24.0, 60.0)]).unwrap(), LatLng::new(60.0, 24.0).unwrap());
        assert_eq!(centroid(Vec::new()), None);
    }
}
