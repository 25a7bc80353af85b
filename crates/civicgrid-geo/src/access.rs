//! Walking accessibility for the "15-minute service circles": for every node of a [`WalkGraph`], how far the nearest facility of each category is, and how many facilities lie within given walking radii.
//!
//! Facilities sit on nodes (snap them first with [`WalkGraph::nearest_node`]).
//! Distances are network distances in metres, summed in `f64`.
//!
//! **Nearest** — one multi-source Dijkstra per category, seeded with every
//! facility of that category at distance 0 and cut off at the largest
//! radius: a node is settled once, by the facility nearest to it, so a
//! category costs one search over the graph, O(V + E) with the bucket
//! queue of `Search`, however many facilities it has.
//!
//! **Counts** — the count at a node is the number of facilities whose own
//! ball of the radius contains it, and network distance is symmetric
//! (edges are undirected), so one bounded Dijkstra per *facility node*
//! adds each facility to every node it reaches. Facilities sharing a node
//! (in Helsinki 89 nodes hold more than one) and categories sharing a node
//! share one search, which adds the node's per-category multiplicity; several
//! radii come from the same search, cut at the largest. The cost is
//! S · B for S distinct facility nodes and balls of B nodes — for
//! Helsinki about 440 searches over at most 3,365 nodes. The alternative,
//! one search per *residential* node counting the facilities it meets,
//! costs V · B and V is usually far larger than S; a multi-source
//! search cannot count (it keeps only the nearest source per node).
//! Searches are independent, so they are dealt round-robin to threads
//! (`std::thread::scope`), each with its own buffers and count arrays,
//! summed at the end; integer sums make the result independent of the
//! thread count.
//!
//! **The bound** — "within r" is inclusive: a facility at exactly r counts
//! and its distance is reported. pandana does the same (its range query
//! keeps `distance <= max`, in integer millimetres; it cuts each edge down
//! to whole millimetres, so a path a millimetre beyond the radius can count
//! for it — 3 of 538,400 answers on a 4 × 4 tiling of the Helsinki graph,
//! see BENCHMARKS.md). To keep "exactly r" true when a path's `f64` sum
//! lands a rounding error past r, the bound is r + [`BOUND_SLACK_M`]: a
//! micrometre, far below the millimetre precision of any surveyed length.

use crate::{GeoError, NodeId, WalkGraph};

/// Slack added to every radius so that a path of exactly the radius, whose
/// `f64` sum may land a few ulps beyond it, still counts as within.
pub const BOUND_SLACK_M: f64 = 1e-6;

/// The service circles CivicGrid draws by default: 5, 10 and 15 minutes on foot.
pub const SERVICE_CIRCLE_MINUTES: [f64; 3] = [5.0, 10.0, 15.0];

/// A walking speed, converting between metres and minutes on foot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WalkSpeed {
    m_per_min: f64,
}

impl WalkSpeed {
    /// 4.8 km/h, i.e. 80 m a minute: the planning speed behind "15 minutes = 1,200 m".
    pub const DEFAULT: Self = Self { m_per_min: 80.0 };

    /// A speed in metres per minute; must be positive and finite.
    pub fn metres_per_minute(m_per_min: f64) -> Result<Self, GeoError> {
        if m_per_min.is_finite() && m_per_min > 0.0 {
            Ok(Self { m_per_min })
        } else {
            Err(GeoError::NotPositive { what: "walking speed", value: m_per_min })
        }
    }

    /// A speed in kilometres per hour; must be positive and finite.
    pub fn km_per_hour(km_h: f64) -> Result<Self, GeoError> {
        Self::metres_per_minute(km_h * 1000.0 / 60.0)
            .map_err(|_| GeoError::NotPositive { what: "walking speed", value: km_h })
    }

    /// Metres per minute.
    pub fn m_per_min(self) -> f64 {
        self.m_per_min
    }

    /// How far one walks in `minutes`.
    pub fn metres(self, minutes: f64) -> f64 {
        minutes * self.m_per_min
    }

    /// How long `metres` take on foot, in minutes.
    pub fn minutes(self, metres: f64) -> f64 {
        metres / self.m_per_min
    }

    /// The radii in metres of circles of the given minutes, e.g.
    /// [`SERVICE_CIRCLE_MINUTES`] → 400, 800, 1,200 m at the default speed.
    pub fn radii_m(self, minutes: &[f64]) -> Vec<f64> {
        minutes.iter().map(|&m| self.metres(m)).collect()
    }
}

impl Default for WalkSpeed {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Facilities by category, each on a node of the graph it will be measured on.
/// Categories keep the order in which they were first named.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facilities {
    names: Vec<String>,
    nodes: Vec<Vec<NodeId>>,
}

impl Facilities {
    /// No categories yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of `category`, adding it (with no facilities) if new; an
    /// empty category still gets its columns (counts 0, nothing nearest).
    pub fn category(&mut self, category: &str) -> usize {
        match self.names.iter().position(|n| n == category) {
            Some(i) => i,
            None => {
                self.names.push(category.to_owned());
                self.nodes.push(Vec::new());
                self.names.len() - 1
            }
        }
    }

    /// Adds one facility of `category` on `node`; several may share a node.
    pub fn add(&mut self, category: &str, node: NodeId) {
        let c = self.category(category);
        self.nodes[c].push(node);
    }

    /// The category names, in index order.
    pub fn categories(&self) -> &[String] {
        &self.names
    }

    /// The nodes of category `c`'s facilities (empty for an unknown index).
    pub fn nodes(&self, c: usize) -> &[NodeId] {
        self.nodes.get(c).map_or(&[], Vec::as_slice)
    }

    /// Facilities over all categories.
    pub fn len(&self) -> usize {
        self.nodes.iter().map(Vec::len).sum()
    }

    /// Whether there are no facilities at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Accessibility of every node: counts per (radius, category) and the
/// distance to the nearest facility per category, as flat arrays indexed
/// by node id (struct of arrays, so a column is one slice).
#[derive(Debug, Clone, PartialEq)]
pub struct Accessibility {
    node_count: usize,
    categories: Vec<String>,
    radii_m: Vec<f64>,
    /// `counts[(r * categories + c) * node_count + v]`.
    counts: Vec<u32>,
    /// `nearest_m[c * node_count + v]`; infinite where none is within the largest radius.
    nearest_m: Vec<f64>,
}

impl Accessibility {
    /// Measures `facilities` on `graph` for every radius in `radii_m`, using
    /// as many threads as the machine offers.
    pub fn compute(graph: &WalkGraph, facilities: &Facilities, radii_m: &[f64]) -> Result<Self, GeoError> {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        Self::compute_with_threads(graph, facilities, radii_m, threads)
    }

    /// As [`Accessibility::compute`] on at most `threads` threads (0 counts
    /// as 1). The result does not depend on the thread count.
    pub fn compute_with_threads(
        graph: &WalkGraph,
        facilities: &Facilities,
        radii_m: &[f64],
        threads: usize,
    ) -> Result<Self, GeoError> {
        let n = graph.node_count();
        for &r in radii_m {
            if !(r.is_finite() && r > 0.0) {
                return Err(GeoError::NotPositive { what: "radius", value: r });
            }
        }
        for (name, nodes) in facilities.names.iter().zip(&facilities.nodes) {
            if let Some(&node) = nodes.iter().find(|&&v| v as usize >= n) {
                return Err(GeoError::UnknownFacilityNode { category: name.clone(), node, nodes: n });
            }
        }
        let cats = facilities.names.len();
        let max_r = radii_m.iter().copied().fold(0.0, f64::max);
        let bounds: Vec<f64> = radii_m.iter().map(|r| r + BOUND_SLACK_M).collect();
        let sources = SourceNodes::new(facilities);

        let threads = threads.clamp(1, sources.len().max(cats).max(1));
        let count_len = radii_m.len() * cats * n;
        let work = |t: usize| {
            let mut search = Search::new(n);
            let mut local = vec![0u32; count_len];
            for s in (t..sources.len()).step_by(threads) {
                let mult = sources.multiplicities(s);
                search.run(graph, &[sources.node(s)], max_r + BOUND_SLACK_M, |v, d| {
                    for (ri, &bound) in bounds.iter().enumerate() {
                        if d <= bound {
                            let row = ri * cats;
                            for &(c, m) in mult {
                                local[(row + c as usize) * n + v as usize] += m;
                            }
                        }
                    }
                });
            }
            let mut near = Vec::new();
            for c in (t..cats).step_by(threads) {
                let mut column = vec![f64::INFINITY; n];
                search.run(graph, &facilities.nodes[c], max_r + BOUND_SLACK_M, |v, d| column[v as usize] = d);
                near.push((c, column));
            }
            (local, near)
        };
        let parts: Vec<_> = if threads == 1 {
            vec![work(0)]
        } else {
            let work = &work;
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..threads).map(|t| scope.spawn(move || work(t))).collect();
                // A panic in a worker is a bug in this module; carry it to the caller unchanged.
                handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
            })
        };
        let mut counts = vec![0u32; count_len];
        let mut nearest_m = vec![f64::INFINITY; cats * n];
        for (local, near) in parts {
            for (total, part) in counts.iter_mut().zip(local) {
                *total += part;
            }
            for (c, column) in near {
                nearest_m[c * n..(c + 1) * n].copy_from_slice(&column);
            }
        }
        Ok(Self { node_count: n, categories: facilities.names.clone(), radii_m: radii_m.to_vec(), counts, nearest_m })
    }

    /// Number of nodes, the length of every column.
    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// The category names, in the order of [`Facilities::categories`].
    pub fn categories(&self) -> &[String] {
        &self.categories
    }

    /// The index of a category by name.
    pub fn category_index(&self, name: &str) -> Option<usize> {
        self.categories.iter().position(|c| c == name)
    }

    /// The radii, in the order given.
    pub fn radii_m(&self) -> &[f64] {
        &self.radii_m
    }

    /// How many facilities of category `c` each node has within radius
    /// number `r` (inclusive), by node id; `None` for an unknown index.
    pub fn counts(&self, c: usize, r: usize) -> Option<&[u32]> {
        if c >= self.categories.len() || r >= self.radii_m.len() {
            return None;
        }
        let start = (r * self.categories.len() + c) * self.node_count;
        self.counts.get(start..start + self.node_count)
    }

    /// Metres from each node to the nearest facility of category `c`, by
    /// node id; `f64::INFINITY` where none is within the largest radius.
    pub fn nearest_m(&self, c: usize) -> Option<&[f64]> {
        let start = c.checked_mul(self.node_count)?;
        if c >= self.categories.len() {
            return None;
        }
        self.nearest_m.get(start..start + self.node_count)
    }

    /// Minutes on foot from each node to the nearest facility of category
    /// `c`; infinite where none is within the largest radius.
    pub fn nearest_minutes(&self, c: usize, speed: WalkSpeed) -> Option<Vec<f64>> {
        Some(self.nearest_m(c)?.iter().map(|&m| speed.minutes(m)).collect())
    }

    /// Adds one facility of category `c` at `node` without recomputing the
    /// rest: one search bounded by the largest radius raises the counts and
    /// lowers the nearest distances of the nodes it reaches — exactly what a
    /// full [`Accessibility::compute`] with the facility added gives.
    /// Returns how many nodes got nearer to a facility of `c`.
    pub fn add_facility(&mut self, graph: &WalkGraph, c: usize, node: NodeId) -> Result<usize, GeoError> {
        let n = self.node_count;
        if graph.node_count() != n {
            return Err(GeoError::GraphMismatch { expected: n, got: graph.node_count() });
        }
        let Some(category) = self.categories.get(c).cloned() else {
            return Err(GeoError::UnknownCategory(format!("#{c}")));
        };
        if node as usize >= n {
            return Err(GeoError::UnknownFacilityNode { category, node, nodes: n });
        }
        let cats = self.categories.len();
        let max_r = self.radii_m.iter().copied().fold(0.0, f64::max);
        let bounds: Vec<f64> = self.radii_m.iter().map(|r| r + BOUND_SLACK_M).collect();
        let mut nearer = 0;
        let (counts, nearest) = (&mut self.counts, &mut self.nearest_m[c * n..(c + 1) * n]);
        Search::new(n).run(graph, &[node], max_r + BOUND_SLACK_M, |v, d| {
            for (ri, &bound) in bounds.iter().enumerate() {
                if d <= bound {
                    counts[(ri * cats + c) * n + v as usize] += 1;
                }
            }
            if d < nearest[v as usize] {
                nearest[v as usize] = d;
                nearer += 1;
            }
        });
        Ok(nearer)
    }
}

/// Metres from every node to the nearest of `sources` by a multi-source
/// Dijkstra cut at `radius_m` (inclusive); `f64::INFINITY` where none is
/// within it, including nodes in other components.
pub fn nearest_within(graph: &WalkGraph, sources: &[NodeId], radius_m: f64) -> Result<Vec<f64>, GeoError> {
    if !(radius_m.is_finite() && radius_m > 0.0) {
        return Err(GeoError::NotPositive { what: "radius", value: radius_m });
    }
    let n = graph.node_count();
    if let Some(&node) = sources.iter().find(|&&v| v as usize >= n) {
        return Err(GeoError::UnknownFacilityNode { category: String::new(), node, nodes: n });
    }
    let mut out = vec![f64::INFINITY; n];
    Search::new(n).run(graph, sources, radius_m + BOUND_SLACK_M, |v, d| out[v as usize] = d);
    Ok(out)
}

/// The distinct nodes that hold facilities, each with how many facilities
/// of each category it holds, in flat arrays (no map in the hot loop).
struct SourceNodes {
    nodes: Vec<NodeId>,
    /// `mult[starts[s]..starts[s + 1]]`: (category, how many) for node `s`.
    starts: Vec<usize>,
    mult: Vec<(u32, u32)>,
}

impl SourceNodes {
    fn new(facilities: &Facilities) -> Self {
        let mut all: Vec<(NodeId, u32)> = Vec::with_capacity(facilities.len());
        for (c, nodes) in (0u32..).zip(&facilities.nodes) {
            all.extend(nodes.iter().map(|&v| (v, c)));
        }
        all.sort_unstable();
        let (mut nodes, mut starts, mut mult) = (Vec::new(), Vec::new(), Vec::<(u32, u32)>::new());
        for (i, &(v, c)) in all.iter().enumerate() {
            if i == 0 || all[i - 1].0 != v {
                nodes.push(v);
                starts.push(mult.len());
            }
            match mult.last_mut() {
                Some(last) if i > 0 && all[i - 1] == (v, c) => last.1 += 1,
                _ => mult.push((c, 1)),
            }
        }
        starts.push(mult.len());
        Self { nodes, starts, mult }
    }

    fn len(&self) -> usize {
        self.nodes.len()
    }

    fn node(&self, s: usize) -> NodeId {
        self.nodes[s]
    }

    fn multiplicities(&self, s: usize) -> &[(u32, u32)] {
        &self.mult[self.starts[s]..self.starts[s + 1]]
    }
}

/// The buckets [`Search`] divides `[0, bound]` into.
const BUCKETS: usize = 1024;

/// A reusable bounded shortest-path search: the distance array is
/// allocated once and only the entries a search touched are reset before
/// the next, so a search that stays inside a 1,200 m ball costs the ball,
/// not the graph.
///
/// The queue is a bucket queue (Dial's): `[0, bound]` is cut into
/// [`BUCKETS`] equal buckets (1.2 m at 1,200 m), emptied in order, nodes
/// within a bucket in any order. A node is expanded when taken with its
/// current distance; if a shorter path to it turns up later in the same
/// bucket (only over edges shorter than a bucket) it is queued and expanded
/// again, so every distance ends as the shortest sum along any path — the
/// same `f64` a Dijkstra with a binary heap finds, as adding a length never
/// makes a larger sum smaller — at a push and a pop per node instead of a
/// heap's logarithmic sifts: less than half the time of a binary heap on
/// a 4 × 4 tiling of the Helsinki graph.
/// Stale entries (a node queued again with a shorter distance) are skipped
/// when taken.
pub(crate) struct Search {
    dist: Vec<f64>,
    touched: Vec<NodeId>,
    buckets: Vec<Vec<(f64, NodeId)>>,
}

impl Search {
    pub(crate) fn new(n: usize) -> Self {
        Self { dist: vec![f64::INFINITY; n], touched: Vec::new(), buckets: vec![Vec::new(); BUCKETS] }
    }

    /// Calls `reached(v, d)` once for every node `v` whose distance `d` to
    /// the nearest source is within `bound` (a positive number of metres),
    /// after the search, in no particular order. Sources must be valid ids
    /// (checked by the callers).
    pub(crate) fn run(
        &mut self,
        graph: &WalkGraph,
        sources: &[NodeId],
        bound: f64,
        mut reached: impl FnMut(NodeId, f64),
    ) {
        // Slices rather than the vectors: a push onto a bucket then cannot
        // move `dist`, and the hot loop keeps its pointer in a register.
        let Self { dist, touched, buckets } = self;
        let (dist, buckets) = (dist.as_mut_slice(), buckets.as_mut_slice());
        for v in touched.drain(..) {
            dist[v as usize] = f64::INFINITY;
        }
        // Monotone in d, so a node is never queued before the bucket being emptied.
        let per_metre = BUCKETS as f64 / bound;
        let bucket = |d: f64| ((d * per_metre) as usize).min(BUCKETS - 1);
        for &s in sources {
            if dist[s as usize] > 0.0 {
                dist[s as usize] = 0.0;
                touched.push(s);
                buckets[0].push((0.0, s));
            }
        }
        for b in 0..BUCKETS {
            while let Some((d, v)) = buckets[b].pop() {
                if d > dist[v as usize] {
                    continue;
                }
                let (targets, lengths) = graph.arcs(v);
                for (&t, &w) in targets.iter().zip(lengths) {
                    let nd = d + w;
                    let slot = &mut dist[t as usize];
                    if nd <= bound && nd < *slot {
                        if slot.is_infinite() {
                            touched.push(t);
                        }
                        *slot = nd;
                        buckets[bucket(nd)].push((nd, t));
                    }
                }
            }
        }
        for &v in touched.iter() {
            reached(v, dist[v as usize]);
        }
    }
}
