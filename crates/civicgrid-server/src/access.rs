//! The 15-minute service circles on the server: the walking accessibility of
//! the district (every facility category, 5/10/15 minutes) computed once from
//! the stored street network, facilities and compounds, kept in memory, and
//! updated in place when a facility is added. Compounds take the values of
//! the network node their entrance is nearest to; units aggregate their
//! compounds weighted by households.

use crate::error::ApiError;
use civicgrid_domain::lifecircle::LEVELS;
use civicgrid_domain::{FacilityCategory, LifeCircles, Outcome, StreetNetwork, UnitCode};
use civicgrid_geo::{
    Accessibility, Demand, Facilities, GeoError, LatLng, NodeId, Pick, SERVICE_CIRCLE_MINUTES, WalkEdge, WalkGraph,
    WalkSpeed, greedy_max_coverage,
};
use civicgrid_store::{ListQuery, Store};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::RwLock;

/// The walking graph of a street network, and its nodes' positions.
pub fn walk_graph(net: &StreetNetwork) -> Result<(Vec<LatLng>, WalkGraph), GeoError> {
    let positions = net.nodes.iter().map(|&[lon, lat]| LatLng::new(lat, lon)).collect::<Result<Vec<_>, _>>()?;
    let edges: Vec<WalkEdge> =
        net.edges.iter().map(|e| WalkEdge { from: e.from, to: e.to, length_m: e.length_m }).collect();
    let graph = WalkGraph::new(&positions, &edges)?;
    Ok((positions, graph))
}

/// A compound as the accessibility model sees it.
#[derive(Debug, Clone, Serialize)]
pub struct CompoundAt {
    pub code: String,
    pub name: String,
    pub grid: UnitCode,
    pub households: u64,
    pub lat: f64,
    pub lon: f64,
    /// The network node its entrance is nearest to, and how far that is.
    #[serde(skip)]
    pub node: NodeId,
    pub snap_m: f64,
}

/// The accessibility of the district at one moment.
#[derive(Debug, Clone)]
pub struct AccessModel {
    pub graph: Arc<WalkGraph>,
    pub speed: WalkSpeed,
    pub circles: LifeCircles,
    acc: Accessibility,
    pub compounds: Vec<CompoundAt>,
    pub facilities: usize,
}

/// One category at one place or unit: minutes to the nearest facility and
/// the households within each life circle.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CategoryAccess {
    /// Household-weighted mean minutes to the nearest facility, over the
    /// households that have one within 15 minutes.
    pub mean_minutes: Option<f64>,
    /// Households with a facility within 5, 10 and 15 minutes.
    pub covered: [u64; 3],
}

/// A unit's accessibility: per category, and how many households live where
/// every life-circle requirement is met.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UnitAccess {
    pub households: u64,
    pub compounds: u32,
    pub categories: BTreeMap<FacilityCategory, CategoryAccess>,
    /// Households in compounds meeting every requirement of the table.
    pub all_met: u64,
}

/// Every item of a list the store hands out a page at a time.
async fn all<T, Fut>(page: impl Fn(ListQuery) -> Fut) -> Result<Vec<T>, ApiError>
where
    Fut: Future<Output = Result<civicgrid_store::Page<T>, civicgrid_store::StoreError>>,
{
    let mut q = ListQuery { within: None, limit: ListQuery::MAX_LIMIT, offset: 0 };
    let mut out = Vec::new();
    loop {
        let items = page(q.clone()).await?.items;
        let full = items.len() == q.limit as usize;
        out.extend(items);
        if !full {
            return Ok(out);
        }
        q.offset += q.limit;
    }
}

impl AccessModel {
    /// Reads the network, facilities and compounds from the store and computes everything.
    pub async fn load(store: &dyn Store, speed: WalkSpeed, circles: LifeCircles) -> Result<Self, ApiError> {
        let network = store.street_network().await?;
        let (_, graph) = walk_graph(&network)
            .map_err(|e| ApiError::internal_with(format!("the stored street network is not a graph: {e}")))?;
        let snap = |lat: f64, lon: f64| LatLng::new(lat, lon).ok().and_then(|p| graph.nearest_node(p));

        let mut facilities = Facilities::new();
        for c in FacilityCategory::ALL {
            facilities.category(c.as_str());
        }
        let mut count = 0;
        for f in all(|q| async move { store.facilities(&q, None).await }).await? {
            if let Some((node, _)) = snap(f.lat, f.lon) {
                facilities.add(f.category.as_str(), node);
                count += 1;
            }
        }
        let mut compounds = Vec::new();
        for c in all(|q| async move { store.compounds(&q).await }).await? {
            if let (Some((node, snap_m)), Ok(grid)) = (snap(c.lat, c.lon), UnitCode::parse(&c.grid)) {
                compounds.push(CompoundAt {
                    code: c.code,
                    name: c.name,
                    grid,
                    households: u64::try_from(c.households).unwrap_or(0),
                    lat: c.lat,
                    lon: c.lon,
                    node,
                    snap_m,
                });
            }
        }
        let radii = speed.radii_m(&SERVICE_CIRCLE_MINUTES);
        // Milliseconds for a district, seconds for a city: off the async threads.
        let (graph, acc) = tokio::task::spawn_blocking(move || {
            let acc = Accessibility::compute(&graph, &facilities, &radii);
            (graph, acc)
        })
        .await
        .map_err(|e| ApiError::internal_with(format!("accessibility failed: {e}")))?;
        let acc = acc.map_err(|e| ApiError::internal_with(format!("accessibility failed: {e}")))?;
        Ok(AccessModel { graph: Arc::new(graph), speed, circles, acc, compounds, facilities: count })
    }

    fn index(&self, c: FacilityCategory) -> usize {
        self.acc.category_index(c.as_str()).unwrap_or(0)
    }

    /// Minutes on foot from a node to the nearest facility of `c`; `None`
    /// beyond 15 minutes (the search stops there).
    pub fn minutes(&self, c: FacilityCategory, node: NodeId) -> Option<f64> {
        let m = *self.acc.nearest_m(self.index(c))?.get(node as usize)?;
        m.is_finite().then(|| self.speed.minutes(m))
    }

    /// How many facilities of `c` lie within 5, 10 and 15 minutes of a node.
    pub fn counts(&self, c: FacilityCategory, node: NodeId) -> [u32; 3] {
        let at = |r: usize| self.acc.counts(self.index(c), r).and_then(|col| col.get(node as usize)).copied();
        [at(0).unwrap_or(0), at(1).unwrap_or(0), at(2).unwrap_or(0)]
    }

    /// A compound's life-circle check.
    pub fn outcomes(&self, compound: &CompoundAt) -> Vec<Outcome> {
        self.circles.check(|c| self.minutes(c, compound.node))
    }

    /// Accessibility per unit at the level of `by` within `within` (every
    /// unit that has compounds), and the whole of `within`.
    pub fn units(
        &self,
        within: &UnitCode,
        by: civicgrid_domain::Level,
    ) -> (BTreeMap<UnitCode, UnitAccess>, UnitAccess) {
        let mut units: BTreeMap<UnitCode, UnitAccess> = BTreeMap::new();
        let mut whole = UnitAccess::default();
        // (sum of household-minutes, households with a facility) per unit and category
        let mut sums: BTreeMap<(Option<UnitCode>, FacilityCategory), (f64, u64)> = BTreeMap::new();
        for compound in self.compounds.iter().filter(|c| within.contains(&c.grid)) {
            let Some(unit) = compound.grid.at_level(by) else { continue };
            let all_met = self.outcomes(compound).iter().all(|o| o.met);
            for (key, agg) in [(Some(unit.clone()), units.entry(unit).or_default()), (None, &mut whole)] {
                agg.households += compound.households;
                agg.compounds += 1;
                if all_met {
                    agg.all_met += compound.households;
                }
                for c in FacilityCategory::ALL.iter().copied() {
                    let entry = agg.categories.entry(c).or_default();
                    if let Some(m) = self.minutes(c, compound.node) {
                        for (i, level) in LEVELS.iter().enumerate() {
                            if m <= f64::from(*level) {
                                entry.covered[i] += compound.households;
                            }
                        }
                        let s = sums.entry((key.clone(), c)).or_default();
                        s.0 += m * compound.households as f64;
                        s.1 += compound.households;
                    }
                }
            }
        }
        for ((key, c), (sum, n)) in sums {
            let agg = match key {
                Some(u) => units.get_mut(&u),
                None => Some(&mut whole),
            };
            if let Some(entry) = agg.and_then(|a| a.categories.get_mut(&c))
                && n > 0
            {
                entry.mean_minutes = Some(sum / n as f64);
            }
        }
        (units, whole)
    }

    /// The households of `within` and, per life circle, the demand of
    /// category `c` not yet covered within `minutes`.
    fn demand(&self, within: &UnitCode, c: FacilityCategory, minutes: f64) -> Demand {
        let mut demand = Demand::new(self.graph.node_count());
        for compound in self.compounds.iter().filter(|x| within.contains(&x.grid)) {
            // Nodes come from the graph itself, so adding cannot fail.
            let _ = demand.add(compound.node, compound.households);
        }
        if let Some(nearest) = self.acc.nearest_m(self.index(c)) {
            demand.cover_within(nearest, self.speed.metres(minutes));
        }
        demand
    }

    /// Up to `k` sites among `candidates` that bring the most households of
    /// `within` not yet within `minutes` of a facility of `c` within reach.
    /// Returns the households in all, those covered now, and the picks.
    pub fn proposals(
        &self,
        within: &UnitCode,
        c: FacilityCategory,
        minutes: f64,
        candidates: &[NodeId],
        k: usize,
    ) -> Result<(u64, u64, Vec<Pick>), ApiError> {
        let demand = self.demand(within, c, minutes);
        let (total, covered) = demand.totals();
        let picks = greedy_max_coverage(&self.graph, &demand, candidates, self.speed.metres(minutes), k)
            .map_err(|e| ApiError::unprocessable(e.to_string()))?;
        Ok((total, covered, picks))
    }

    /// The model with one more facility of `c` at `node` (incremental: one
    /// bounded search, not a recomputation).
    pub fn with_facility(&self, c: FacilityCategory, node: NodeId) -> Result<Self, ApiError> {
        let mut next = self.clone();
        next.add_facility(c, node)?;
        Ok(next)
    }

    fn add_facility(&mut self, c: FacilityCategory, node: NodeId) -> Result<(), ApiError> {
        let index = self.index(c);
        self.acc
            .add_facility(&self.graph, index, node)
            .map_err(|e| ApiError::internal_with(format!("could not add the facility: {e}")))?;
        self.facilities += 1;
        Ok(())
    }

    /// The network node nearest a point, and how far it is.
    pub fn snap(&self, p: LatLng) -> Option<(NodeId, f64)> {
        self.graph.nearest_node(p)
    }

    /// A node's position.
    pub fn position(&self, node: NodeId) -> Option<LatLng> {
        self.graph.position(node)
    }
}

/// The model, built on first use and kept until the data under it changes.
#[derive(Debug)]
pub struct AccessCache {
    pub speed: WalkSpeed,
    pub circles: LifeCircles,
    model: RwLock<Option<Arc<AccessModel>>>,
}

impl AccessCache {
    pub fn new(speed: WalkSpeed, circles: LifeCircles) -> Self {
        AccessCache { speed, circles, model: RwLock::new(None) }
    }

    /// The current model, computing it if there is none.
    pub async fn get(&self, store: &dyn Store) -> Result<Arc<AccessModel>, ApiError> {
        if let Some(m) = self.model.read().await.as_ref() {
            return Ok(m.clone());
        }
        let mut slot = self.model.write().await;
        if let Some(m) = slot.as_ref() {
            return Ok(m.clone());
        }
        let model = Arc::new(AccessModel::load(store, self.speed, self.circles.clone()).await?);
        *slot = Some(model.clone());
        Ok(model)
    }

    /// A facility was added: the model (if built) takes it in place.
    pub async fn facility_added(&self, c: FacilityCategory, at: LatLng) {
        let mut slot = self.model.write().await;
        let Some(current) = slot.as_ref() else { return };
        let Some((node, _)) = current.snap(at) else { return };
        match current.with_facility(c, node) {
            Ok(next) => *slot = Some(Arc::new(next)),
            Err(e) => {
                tracing::warn!(error = %e.message, "accessibility recomputed from scratch on next use");
                *slot = None;
            }
        }
    }

    /// The network or the facilities changed wholesale (an import): compute
    /// again now.
    pub async fn refresh(&self, store: &dyn Store) -> Result<Arc<AccessModel>, ApiError> {
        let model = Arc::new(AccessModel::load(store, self.speed, self.circles.clone()).await?);
        *self.model.write().await = Some(model.clone());
        Ok(model)
    }
}
