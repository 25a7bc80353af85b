//! What both backends' schemas have in common and the work done before any
//! SQL runs: which column holds the code of each level, the counters behind
//! [`Stats`], query fragments whose text is the same on SQLite and PostgreSQL
//! (the builder writes each backend's placeholders), the checks that refuse a
//! bad import, and a district's rows made ready to insert.

use crate::cases::ImportedCase;
use crate::stored::{SealedNumber, seal};
use crate::view::{ListQuery, Stats};
use crate::{Actor, KeyRing, NetworkImport, NewAudit, Result, StoreError};
use civicgrid_domain::{DistrictBundle, Level, OrgUnit, PersonRole, Resident, Ring, UnitCode};
use serde_json::json;
use sqlx::{Database, Encode, QueryBuilder, Type};
use std::collections::{HashMap, HashSet};

/// Rows per multi-row INSERT; keeps every statement under SQLite's bind limit
/// (and PostgreSQL's).
pub(crate) const CHUNK: usize = 1000;

/// The column that holds the code of `level` on every placed row.
pub(crate) fn level_col(level: Level) -> &'static str {
    match level {
        Level::District => "district_code",
        Level::Street => "street_code",
        Level::Community => "community_code",
        Level::Grid => "grid_code",
    }
}

/// The codes of every level from the district down to `unit`, `None` below it.
pub(crate) fn placement(unit: &UnitCode) -> [Option<String>; 4] {
    Level::ALL.map(|l| unit.at_level(l).map(String::from))
}

pub(crate) fn grid_placement(grid: &UnitCode) -> Result<[String; 4]> {
    match placement(grid) {
        [Some(d), Some(s), Some(c), Some(g)] => Ok([d, s, c, g]),
        _ => Err(StoreError::Invalid(format!("{grid} is not a grid code"))),
    }
}

pub(crate) fn bbox(ring: &Ring) -> [f64; 4] {
    ring.iter().fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |b, [x, y]| {
        [b[0].min(*x), b[1].min(*y), b[2].max(*x), b[3].max(*y)]
    })
}

/// The audit entry of a write to the organisation data.
pub(crate) fn write_entry(by: &Actor, action: &str, target: &str, detail: serde_json::Value) -> NewAudit {
    NewAudit { actor: by.clone(), action: action.into(), target: target.into(), detail, reason: None }
}

/// `AND <col> = …` for the unit a list is restricted to, or nothing.
pub(crate) fn push_within<'a, DB: Database>(qb: &mut QueryBuilder<'a, DB>, alias: &str, within: &Option<UnitCode>)
where
    String: Encode<'a, DB> + Type<DB>,
{
    if let Some(unit) = within {
        qb.push(format_args!(" AND {alias}{} = ", level_col(unit.level())));
        qb.push_bind(unit.as_str().to_owned());
    }
}

pub(crate) fn push_page<'a, DB: Database>(qb: &mut QueryBuilder<'a, DB>, q: &ListQuery)
where
    i64: Encode<'a, DB> + Type<DB>,
{
    qb.push(" LIMIT ");
    qb.push_bind(i64::from(q.limit.min(ListQuery::MAX_LIMIT)));
    qb.push(" OFFSET ");
    qb.push_bind(i64::from(q.offset));
}

/// One count in [`Stats`]: `expr` over the rows of `table` matching `filter`.
#[derive(Debug)]
pub(crate) struct Counter {
    pub(crate) key: &'static str,
    table: &'static str,
    expr: &'static str,
    filter: &'static str,
}

pub(crate) const COUNTERS: &[Counter] = &[
    Counter { key: "compounds", table: "compounds", expr: "count(*)", filter: "" },
    Counter { key: "buildings", table: "buildings", expr: "count(*)", filter: "" },
    Counter { key: "households", table: "households", expr: "count(*)", filter: "" },
    Counter { key: "residents", table: "residents", expr: "count(*)", filter: "" },
    Counter {
        key: "elderly_alone",
        table: "residents",
        expr: "count(*)",
        filter: "care_groups LIKE '%elderly_alone%'",
    },
    Counter { key: "disabled", table: "residents", expr: "count(*)", filter: "care_groups LIKE '%disabled%'" },
    Counter { key: "low_income", table: "residents", expr: "count(*)", filter: "care_groups LIKE '%low_income%'" },
    Counter { key: "facilities", table: "facilities", expr: "count(*)", filter: "" },
    Counter {
        key: "service_stations",
        table: "facilities",
        expr: "count(*)",
        filter: "category = 'party_service_station'",
    },
    Counter { key: "cameras", table: "cameras", expr: "count(*)", filter: "" },
    Counter { key: "cameras_online", table: "cameras", expr: "count(*)", filter: "status = 'online'" },
    Counter { key: "party_groups", table: "party_groups", expr: "count(*)", filter: "" },
    Counter {
        key: "grid_party_branches",
        table: "party_branch_grids",
        expr: "count(DISTINCT branch_code)",
        filter: "",
    },
    Counter {
        key: "grid_workers",
        table: "person_roles",
        expr: "count(DISTINCT person_id)",
        filter: "kind = 'grid_worker'",
    },
    Counter {
        key: "party_members",
        table: "person_roles",
        expr: "count(DISTINCT person_id)",
        filter: "kind = 'party_member'",
    },
    Counter {
        key: "street_riders",
        table: "person_roles",
        expr: "count(DISTINCT person_id)",
        filter: "kind = 'street_rider'",
    },
    Counter {
        key: "volunteers",
        table: "person_roles",
        expr: "count(DISTINCT person_id)",
        filter: "kind = 'volunteer'",
    },
];

impl Counter {
    /// `SELECT k, n`: the count within `within`, per unit of level `by` (one
    /// row with an empty key when `None`).
    pub(crate) fn query<'a, DB: Database>(&self, within: Option<&UnitCode>, by: Option<Level>) -> QueryBuilder<'a, DB>
    where
        DB::Arguments<'a>: Default,
        String: Encode<'a, DB> + Type<DB>,
    {
        let key = by.map_or("''", level_col);
        let mut qb =
            QueryBuilder::<DB>::new(format!("SELECT {key} AS k, {} AS n FROM {} WHERE 1 = 1", self.expr, self.table));
        if !self.filter.is_empty() {
            qb.push(format_args!(" AND {}", self.filter));
        }
        push_within(&mut qb, "", &within.cloned());
        if by.is_some() {
            qb.push(" GROUP BY k");
        }
        qb
    }
}

/// `SELECT k, n`: the current units of `level` within `within`, per unit of
/// level `by` (one row with an empty key when `None`).
pub(crate) fn unit_count_query<'a, DB: Database>(
    level: Level,
    within: Option<&UnitCode>,
    by: Option<Level>,
) -> QueryBuilder<'a, DB>
where
    DB::Arguments<'a>: Default,
    String: Encode<'a, DB> + Type<DB>,
{
    let key = by.map_or_else(|| "''".to_owned(), |b| format!("substr(code, 1, {})", b.code_len()));
    let mut qb = QueryBuilder::<DB>::new(format!(
        "SELECT {key} AS k, count(*) AS n FROM org_units WHERE valid_to IS NULL AND level = '{}'",
        level.as_str()
    ));
    if let Some(w) = within {
        qb.push(format_args!(" AND substr(code, 1, {}) = ", w.as_str().len()));
        qb.push_bind(w.as_str().to_owned());
    }
    if by.is_some() {
        qb.push(" GROUP BY k");
    }
    qb
}

/// The unit levels [`Stats`] counts, by their key.
pub(crate) const UNIT_COUNTS: [(&str, Level); 3] =
    [("streets", Level::Street), ("communities", Level::Community), ("grids", Level::Grid)];

/// Counts gathered query by query into one [`Stats`] per group.
#[derive(Debug)]
pub(crate) struct StatsGroups {
    grouped: bool,
    groups: Vec<(Option<String>, Stats)>,
}

impl StatsGroups {
    pub(crate) fn new(by: Option<Level>) -> Self {
        StatsGroups { grouped: by.is_some(), groups: Vec::new() }
    }

    pub(crate) fn add(&mut self, k: Option<String>, key: &str, n: i64) {
        let k = if self.grouped { k } else { None };
        match self.groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, s)) => s.set(key, n),
            None => {
                let mut s = Stats::default();
                s.set(key, n);
                self.groups.push((k, s));
            }
        }
    }

    /// The one group of an ungrouped count.
    pub(crate) fn total(self) -> Stats {
        self.groups.into_iter().next().map(|(_, s)| s).unwrap_or_default()
    }

    /// One entry per unit, in the units' order; a unit with nothing counts zeros.
    pub(crate) fn per_unit(mut self, units: Vec<OrgUnit>) -> Vec<(UnitCode, Stats)> {
        units
            .into_iter()
            .map(|u| {
                let stats = self
                    .groups
                    .iter_mut()
                    .find(|(k, _)| k.as_deref() == Some(u.code.as_str()))
                    .map(|(_, s)| std::mem::take(s))
                    .unwrap_or_default();
                (u.code, stats)
            })
            .collect()
    }
}

/// Refuses a grouping finer than the unit it is asked within.
pub(crate) fn check_grouping(within: Option<&UnitCode>, by: Level) -> Result<()> {
    if within.is_some_and(|w| w.level() >= by) {
        return Err(StoreError::Invalid(format!(
            "cannot group by {} within a {}",
            by.as_str(),
            within.map_or("", |w| w.level().as_str())
        )));
    }
    Ok(())
}

/// Refuses a bundle that places a record in a grid it does not define.
pub(crate) fn check_bundle(bundle: &DistrictBundle) -> Result<()> {
    let grids: HashSet<&UnitCode> = bundle.units.iter().filter(|u| u.level() == Level::Grid).map(|u| &u.code).collect();
    let placed = bundle
        .compounds
        .iter()
        .map(|c| &c.grid)
        .chain(bundle.buildings.iter().map(|b| &b.grid))
        .chain(bundle.facilities.iter().map(|f| &f.grid))
        .chain(bundle.cameras.iter().map(|c| &c.grid))
        .chain(bundle.party_groups.iter().map(|g| &g.grid))
        .chain(bundle.party_branches.iter().flat_map(|b| &b.grids));
    for g in placed {
        if !grids.contains(g) {
            return Err(StoreError::Invalid(format!(
                "a record is placed in grid {g}, which the bundle does not define"
            )));
        }
    }
    Ok(())
}

/// A resident with the numbers already sealed for storage.
#[derive(Debug)]
pub(crate) struct Sealed<'a> {
    pub(crate) resident: &'a Resident,
    pub(crate) grid: UnitCode,
    pub(crate) id_number: SealedNumber,
    pub(crate) phone: Option<SealedNumber>,
}

/// A district's rows as they are inserted: every row placed, numbers sealed,
/// boundaries as JSON. Made before the transaction starts, so no lock is held
/// while AES runs.
#[derive(Debug)]
pub(crate) struct DistrictRows<'a> {
    pub(crate) units: Vec<(&'a OrgUnit, Option<String>)>,
    pub(crate) households: Vec<(&'a civicgrid_domain::Household, UnitCode)>,
    pub(crate) residents: Vec<Sealed<'a>>,
    pub(crate) people: Vec<(&'a civicgrid_domain::Person, Option<SealedNumber>)>,
    pub(crate) branch_grids: Vec<(&'a str, &'a UnitCode)>,
    pub(crate) roles: Vec<(i64, &'a PersonRole)>,
    pub(crate) nodes: Vec<(i64, &'a [f64; 2])>,
    /// Rows in all, for progress.
    pub(crate) total: u64,
}

impl<'a> DistrictRows<'a> {
    pub(crate) fn prepare(bundle: &'a DistrictBundle, keys: &KeyRing) -> Result<Self> {
        check_bundle(bundle)?;
        let building_grid: HashMap<i64, &UnitCode> = bundle.buildings.iter().map(|b| (b.id, &b.grid)).collect();
        let household_grid: HashMap<i64, &UnitCode> =
            bundle.households.iter().filter_map(|h| Some((h.id, *building_grid.get(&h.building_id)?))).collect();
        let grid_of = |map: &HashMap<i64, &UnitCode>, id: i64, what: &str| {
            map.get(&id).map(|g| (*g).clone()).ok_or_else(|| StoreError::Invalid(format!("{what} {id} does not exist")))
        };
        let households = bundle
            .households
            .iter()
            .map(|h| Ok((h, grid_of(&building_grid, h.building_id, "building")?)))
            .collect::<Result<Vec<_>>>()?;
        let residents = bundle
            .residents
            .iter()
            .map(|r| {
                Ok(Sealed {
                    resident: r,
                    grid: grid_of(&household_grid, r.household_id, "household")?,
                    id_number: seal(keys, r.id_number.as_str()),
                    phone: r.phone.as_ref().map(|p| seal(keys, p.as_str())),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let people: Vec<_> =
            bundle.people.iter().map(|p| (p, p.phone.as_ref().map(|x| seal(keys, x.as_str())))).collect();
        let branch_grids: Vec<(&str, &UnitCode)> =
            bundle.party_branches.iter().flat_map(|b| b.grids.iter().map(move |g| (b.code.as_str(), g))).collect();
        let roles: Vec<(i64, &PersonRole)> =
            bundle.people.iter().flat_map(|p| p.roles.iter().map(move |r| (p.id, r))).collect();
        let units = bundle
            .units
            .iter()
            .map(|u| {
                Ok((
                    u,
                    u.boundary
                        .as_ref()
                        .map(serde_json::to_string)
                        .transpose()
                        .map_err(|e| StoreError::Invalid(e.to_string()))?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let nodes: Vec<(i64, &[f64; 2])> = (0..).zip(&bundle.streets.nodes).collect();
        let total = (bundle.units.len()
            + bundle.compounds.len()
            + bundle.buildings.len()
            + households.len()
            + residents.len()
            + bundle.facilities.len()
            + bundle.cameras.len()
            + bundle.party_branches.len()
            + branch_grids.len()
            + bundle.party_groups.len()
            + bundle.people.len()
            + roles.len()
            + bundle.streets.nodes.len()
            + bundle.streets.edges.len()) as u64;
        Ok(DistrictRows { units, households, residents, people, branch_grids, roles, nodes, total })
    }
}

/// The audit entry of a district import.
pub(crate) fn district_entry(bundle: &DistrictBundle, by: &Actor) -> NewAudit {
    let district = bundle.units.iter().find(|u| u.level() == Level::District);
    let detail = json!({
        "units": bundle.units.len(),
        "compounds": bundle.compounds.len(),
        "buildings": bundle.buildings.len(),
        "households": bundle.households.len(),
        "residents": bundle.residents.len(),
        "facilities": bundle.facilities.len(),
        "cameras": bundle.cameras.len(),
        "party_branches": bundle.party_branches.len(),
        "party_groups": bundle.party_groups.len(),
        "people": bundle.people.len(),
        "street_nodes": bundle.streets.nodes.len(),
        "street_edges": bundle.streets.edges.len(),
    });
    let target = district.map_or_else(|| "district".to_owned(), |d| d.code.as_str().to_owned());
    write_entry(by, "import_district", &target, detail)
}

/// Refuses a network import that would store a broken network or ambiguous keys.
pub(crate) fn check_network(import: &NetworkImport) -> Result<()> {
    if import.id_prefix.is_empty() {
        return Err(StoreError::Invalid("an import needs the prefix of its external ids".into()));
    }
    let n = import.nodes.len();
    if u32::try_from(n).is_err() {
        return Err(StoreError::Invalid(format!("{n} street nodes are more than a u32 id can name")));
    }
    for (i, e) in import.edges.iter().enumerate() {
        if e.from as usize >= n || e.to as usize >= n {
            return Err(StoreError::Invalid(format!("street edge {i} names a node outside 0..{n}")));
        }
        if !(e.length_m.is_finite() && e.length_m >= 0.0) {
            return Err(StoreError::Invalid(format!("street edge {i} has length {} m", e.length_m)));
        }
    }
    let (mut seen, mut codes) = (HashSet::new(), HashSet::new());
    for f in &import.facilities {
        if !f.external_id.starts_with(&import.id_prefix) {
            return Err(StoreError::Invalid(format!(
                "facility {:?} does not start with the import's prefix {:?}",
                f.external_id, import.id_prefix
            )));
        }
        if !seen.insert(f.external_id.as_str()) || !codes.insert(f.code.as_str()) {
            return Err(StoreError::Invalid(format!("facility {:?} ({}) appears twice", f.external_id, f.code)));
        }
        grid_placement(&f.grid)?;
    }
    Ok(())
}

/// The audit entry of a network import.
pub(crate) fn network_entry(import: &NetworkImport, report: &crate::NetworkImported, by: &Actor) -> NewAudit {
    let detail = json!({
        "source": import.source,
        "street_nodes": report.nodes,
        "street_edges": report.edges,
        "facilities_added": report.added,
        "facilities_updated": report.updated,
        "facilities_unchanged": report.unchanged,
        "facilities_removed": report.removed,
    });
    write_entry(by, "import_network", &import.source, detail)
}

/// Refuses an imported case without events, with events not numbered 1, 2,
/// 3 …, or not placed in a grid; returns its placement.
pub(crate) fn check_imported_case(c: &ImportedCase) -> Result<[String; 4]> {
    if c.events.is_empty() {
        return Err(StoreError::Invalid(format!("case {:?} has no events", c.case.title)));
    }
    if c.events.iter().zip(1..).any(|(e, seq)| e.seq != seq) {
        return Err(StoreError::Invalid(format!("the events of case {:?} are not numbered 1, 2, 3 …", c.case.title)));
    }
    grid_placement(&c.case.grid)
}

/// The prefix of the numbers of cases filed in a district on the day (China
/// Standard Time) of `at`: `610304-20261126-`.
pub(crate) fn case_number_prefix(district: &str, at: jiff::Timestamp) -> String {
    let day = jiff::tz::offset(8).to_datetime(at).strftime("%Y%m%d").to_string();
    format!("{district}-{day}-")
}

/// The case number `seq` of a district-day (`prefix`).
pub(crate) fn case_number(prefix: &str, seq: i64) -> String {
    format!("{prefix}{seq:06}")
}

/// The next sequence number of a district-day (`prefix`): one past the
/// highest, read from the index by `MAX(number)` over the prefix's range
/// (a count would grow with the day's cases). Six-digit sequence numbers
/// order as text; past 999,999 in a day they would not, and it counts.
pub(crate) async fn next_case_seq<DB>(conn: &mut DB::Connection, prefix: &str) -> Result<i64>
where
    DB: crate::dump::Catalog,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    DB::Row: crate::stored::Columns,
{
    use crate::calls::{bound, sql};
    use crate::dump::Cell;
    use crate::stored::Columns;
    let range = || vec![Cell::Text(prefix.to_owned()), Cell::Text(format!("{prefix}:"))];
    let q = sql::<DB>("SELECT MAX(number) AS n FROM cases WHERE number >= ? AND number < ?");
    let max = bound::<DB>(&q, range()).fetch_one(&mut *conn).await?.opt_text("n")?;
    Ok(match max.as_deref().map(|m| m.strip_prefix(prefix).and_then(|n| n.parse::<i64>().ok())) {
        None => 1,
        Some(Some(n)) if n < 999_999 => n + 1,
        Some(_) => {
            let q = sql::<DB>("SELECT count(*) AS n FROM cases WHERE number >= ? AND number < ?");
            bound::<DB>(&q, range()).fetch_one(&mut *conn).await?.int("n")? + 1
        }
    })
}

/// The answer to an idempotency key sent again with a different request.
pub(crate) fn key_reused(key: &str) -> StoreError {
    StoreError::Conflict(format!("Idempotency-Key {key:?} was already used for a different request"))
}

/// A new case's first events, each with the state after it: at least one,
/// numbered from 1.
pub(crate) fn check_first_events(events: &[(crate::CaseEventRecord, String)]) -> Result<()> {
    if events.is_empty() {
        return Err(StoreError::Invalid("a case starts with an event".into()));
    }
    if events.iter().enumerate().any(|(i, (e, _))| e.seq != i as i64 + 1) {
        return Err(StoreError::Invalid("a case's events are numbered from 1".into()));
    }
    Ok(())
}

/// Metres per degree of latitude, for the bounding box around a point.
const M_PER_DEG: f64 = 111_320.0;

/// `AND …` for each filter of a case query; the same text on both backends.
pub(crate) fn push_case_filters<'a, DB: Database>(qb: &mut QueryBuilder<'a, DB>, q: &crate::CaseQuery)
where
    String: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
    f64: Encode<'a, DB> + Type<DB>,
{
    use crate::stored::ts_text;
    if let Some(unit) = &q.within {
        qb.push(format_args!(" AND {} = ", level_col(unit.level())));
        qb.push_bind(unit.as_str().to_owned());
    }
    if !q.states.is_empty() {
        qb.push(" AND state IN (");
        let mut sep = qb.separated(", ");
        for s in &q.states {
            sep.push_bind(s.clone());
        }
        qb.push(")");
    }
    for (col, v) in [("category", &q.category), ("source", &q.source)] {
        if let Some(v) = v {
            qb.push(format_args!(" AND {col} = "));
            qb.push_bind(v.clone());
        }
    }
    if let Some(r) = q.reporter_id {
        qb.push(" AND reporter_id = ");
        qb.push_bind(r);
    }
    if let Some(t) = q.overdue_at {
        qb.push(" AND step_deadline < ");
        qb.push_bind(ts_text(t));
    }
    for (op, t) in [(">=", q.created_since), ("<", q.created_until)] {
        if let Some(t) = t {
            qb.push(format_args!(" AND created_at {op} "));
            qb.push_bind(ts_text(t));
        }
    }
    if q.open_only {
        qb.push(" AND closed_at IS NULL AND merged_into IS NULL AND state <> 'voided'");
    }
    if let Some((lat, lon, m)) = q.near {
        // A box around the point here; the exact distance after (`keep_near`).
        let dlat = m / M_PER_DEG;
        let dlon = m / (M_PER_DEG * lat.to_radians().cos().max(0.01));
        qb.push(" AND lat BETWEEN ");
        qb.push_bind(lat - dlat);
        qb.push(" AND ");
        qb.push_bind(lat + dlat);
        qb.push(" AND lon BETWEEN ");
        qb.push_bind(lon - dlon);
        qb.push(" AND ");
        qb.push_bind(lon + dlon);
    }
}

/// Drops the cases of a page that the box of [`push_case_filters`] let in but
/// that lie farther than the distance asked for.
pub(crate) fn keep_near(items: &mut Vec<crate::CaseRecord>, q: &crate::CaseQuery) {
    if let Some((lat, lon, m)) = q.near {
        items.retain(|c| match (civicgrid_geo::LatLng::new(lat, lon), civicgrid_geo::LatLng::new(c.lat, c.lon)) {
            (Ok(a), Ok(b)) => a.haversine_m(b) <= m,
            _ => false,
        });
    }
}

/// The order and page of a case list; the same text on both backends.
pub(crate) fn push_case_page<'a, DB: Database>(qb: &mut QueryBuilder<'a, DB>, q: &crate::CaseQuery)
where
    i64: Encode<'a, DB> + Type<DB>,
{
    qb.push(" ORDER BY created_at DESC, id DESC LIMIT ");
    qb.push_bind(i64::from(q.limit.clamp(1, 10_000)));
    qb.push(" OFFSET ");
    qb.push_bind(i64::from(q.offset));
}

/// The events of the next `limit` cases of `within` created before `before`
/// with ids above `after`, by case and seq; the same text on both backends.
pub(crate) fn histories_query<'a, DB: Database>(
    within: &UnitCode,
    before: jiff::Timestamp,
    after: i64,
    limit: u32,
) -> QueryBuilder<'a, DB>
where
    String: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new(format!(
        "SELECT * FROM case_events WHERE case_id IN (SELECT id FROM cases WHERE {} = ",
        level_col(within.level())
    ));
    qb.push_bind(within.as_str().to_owned());
    qb.push(" AND created_at < ");
    qb.push_bind(crate::stored::ts_text(before));
    qb.push(" AND id > ");
    qb.push_bind(after);
    qb.push(" ORDER BY id LIMIT ");
    qb.push_bind(i64::from(limit.clamp(1, 100_000)));
    qb.push(") ORDER BY case_id, seq");
    qb
}

/// A numbered migration of this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    pub description: String,
}

/// Where a database's schema stands against this build's migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Applied before the call, oldest first.
    pub applied: Vec<Migration>,
    /// Not applied before the call, oldest first; applied by it when asked.
    pub pending: Vec<Migration>,
    /// The last migration applied when the call returned (0: none).
    pub version: i64,
}

impl SchemaStatus {
    /// Reads which of `migrator`'s migrations the database behind `conn`
    /// has (none unless `known`: its table of migrations exists) and, with
    /// `apply`, applies the others.
    pub(crate) async fn of<C: sqlx::migrate::Migrate>(
        conn: &mut C,
        migrator: &sqlx::migrate::Migrator,
        known: bool,
        apply: bool,
    ) -> Result<SchemaStatus> {
        let done: Vec<i64> =
            if known { conn.list_applied_migrations().await?.iter().map(|m| m.version).collect() } else { Vec::new() };
        if apply {
            migrator.run_direct(conn).await?;
        }
        let (applied, pending): (Vec<_>, Vec<_>) = migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| Migration { version: m.version, description: m.description.to_string() })
            .partition(|m| done.contains(&m.version));
        let now: &[Migration] = if apply { &pending } else { &[] };
        let version = applied.iter().chain(now).map(|m| m.version).max().unwrap_or(0);
        Ok(SchemaStatus { applied, pending, version })
    }
}
