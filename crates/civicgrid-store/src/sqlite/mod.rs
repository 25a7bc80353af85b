//! The SQLite backend: one file in WAL mode with full synchronous commits, so a
//! write that was acknowledged survives a killed process or a power cut.
//! Every write appends to the audit log in its own transaction.

mod access;
mod audit;
mod cases;
mod group;
mod history;
mod network;
mod residents;

use crate::cases::*;
use crate::dump;
use crate::schema::{
    COUNTERS, DistrictRows, SchemaStatus, StatsGroups, UNIT_COUNTS, bbox, check_grouping, district_entry,
    grid_placement, placement, push_page, push_within, unit_count_query, write_entry,
};
use crate::stored::{Columns, camera_from_row, facility_from_row, open_phone, parse_enum, unit_from_row};
use crate::view::*;
use crate::{
    Actor, AuditEntry, AuditQuery, ChainCheck, DumpSummary, KeyRing, NewAudit, NewUser, Progress, ResidentFull,
    ResidentSearch, ResidentView, Result, SessionRecord, Store, StoreError, TokenRecord, UserRecord,
};
use async_trait::async_trait;
use audit::append;
use civicgrid_domain::Grant;
use civicgrid_domain::{CameraStatus, DistrictBundle, FacilityCategory, Level, OrgUnit, Ring, RoleKind, UnitCode};
use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::json;
use sqlx::migrate::Migrator;
use sqlx::query_builder::Separated;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::str::FromStr;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncWrite};

pub(crate) use crate::schema::CHUNK;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    keys: KeyRing,
    feed: std::sync::Arc<LocalFeed>,
    /// The group-commit writer of positions and new calls.
    group: tokio::sync::mpsc::Sender<group::Queued>,
}

/// The live feed of a SQLite database: one process serves a file, so the
/// notices go from the writing transaction to this process's receivers.
#[derive(Debug)]
pub(crate) struct LocalFeed {
    sender: tokio::sync::broadcast::Sender<crate::CaseChange>,
    /// Held from before a case write commits until its notice is sent, so
    /// notices leave in the order of the commits (and of their ids).
    turn: tokio::sync::Mutex<()>,
}

impl LocalFeed {
    fn new() -> Self {
        LocalFeed { sender: crate::feed::channel(), turn: tokio::sync::Mutex::new(()) }
    }

    /// Commits `tx` and, once it has committed, tells `change`.
    pub(crate) async fn commit(&self, tx: Transaction<'_, Sqlite>, changes: Vec<crate::CaseChange>) -> Result<()> {
        let _turn = self.turn.lock().await;
        tx.commit().await?;
        for change in changes {
            // Nobody listening is fine.
            self.sender.send(change).ok();
        }
        Ok(())
    }
}

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How every connection to the database at `url` (a path or `sqlite:…`) is made.
fn connect_options(url: &str) -> Result<SqliteConnectOptions> {
    let opts = if url.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(url)?
    } else {
        SqliteConnectOptions::new().filename(url)
    };
    Ok(opts
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        // Savepoints and sorts keep their temporary pages in memory, not in files.
        .pragma("temp_store", "memory")
        // 64 MiB of pages per connection (the default is 2 MiB): the hot
        // indexes of cases, calls and responders stay in memory.
        .pragma("cache_size", "-65536")
        // The group writer checkpoints beside itself (see `group`); a commit
        // checkpoints only should the log pass 64 MiB all the same.
        .pragma("wal_autocheckpoint", "16384")
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10)))
}

/// See [`crate::migrate`].
pub(crate) async fn migrate(url: &str, apply: bool) -> Result<SchemaStatus> {
    let opts = connect_options(url)?;
    if !apply && !url.contains(":memory:") && !opts.get_filename().exists() {
        return Err(StoreError::NotFound(format!("database {}", opts.get_filename().display())));
    }
    let mut conn = SqliteConnection::connect_with(&opts).await?;
    let known: bool = sqlx::query_scalar("SELECT count(*) > 0 FROM sqlite_schema WHERE name = '_sqlx_migrations'")
        .fetch_one(&mut conn)
        .await?;
    SchemaStatus::of(&mut conn, &MIGRATOR, known, apply).await
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and runs the migrations;
    /// `keys` encrypt and decrypt personal data.
    pub async fn open(url: &str, keys: KeyRing) -> Result<Self> {
        let opts = connect_options(url)?;
        // An in-memory database lives as long as its one connection.
        let max = if url.contains(":memory:") { 1 } else { 8 };
        // A connection to a local file does not drop: no ping before each use.
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .min_connections(1)
            .test_before_acquire(false)
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        let feed = std::sync::Arc::new(LocalFeed::new());
        let group = group::start(feed.clone());
        Ok(SqliteStore { pool, keys, feed, group })
    }

    /// All counts, grouped by the units of level `by` (one group when `None`).
    async fn grouped_stats(&self, within: Option<&UnitCode>, by: Option<Level>) -> Result<StatsGroups> {
        let mut groups = StatsGroups::new(by);
        for (key, level) in UNIT_COUNTS {
            for r in unit_count_query::<Sqlite>(level, within, by).build().fetch_all(&self.pool).await? {
                groups.add(r.opt_text("k")?, key, r.int("n")?);
            }
        }
        for c in COUNTERS {
            for r in c.query::<Sqlite>(within, by).build().fetch_all(&self.pool).await? {
                groups.add(r.opt_text("k")?, c.key, r.int("n")?);
            }
        }
        Ok(groups)
    }

    /// Inserts `rows` with multi-row INSERTs of [`CHUNK`] rows, reporting progress.
    async fn bulk<'a, T>(
        tx: &mut Transaction<'_, Sqlite>,
        head: &str,
        rows: &'a [T],
        bind: impl Fn(&mut Separated<'_, 'a, Sqlite, &'static str>, &'a T),
        done: &mut u64,
        total: u64,
        progress: Progress<'_>,
    ) -> Result<()> {
        for chunk in rows.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(head);
            qb.push_values(chunk, |mut b, r| bind(&mut b, r));
            qb.build().execute(&mut **tx).await?;
            *done += chunk.len() as u64;
            progress(*done, total);
        }
        Ok(())
    }
}

/// Binds the four level codes of a row placed in `grid`.
fn bind_place<'a>(b: &mut Separated<'_, 'a, Sqlite, &'static str>, grid: &UnitCode) {
    for code in placement(grid) {
        b.push_bind(code);
    }
}

impl SqliteStore {
    /// A transaction that writes (SQLite's one write lock, taken at once).
    async fn write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    crate::calls::backend_calls!(Sqlite);
    crate::devices::backend_devices!(Sqlite);
}

#[async_trait]
impl Store for SqliteStore {
    fn shared(&self) -> bool {
        false
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn is_empty(&self) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM org_units").fetch_one(&self.pool).await?;
        Ok(n == 0)
    }

    async fn import_district(&self, bundle: &DistrictBundle, progress: Progress<'_>, by: &Actor) -> Result<()> {
        let rows = DistrictRows::prepare(bundle, &self.keys)?;
        let total = rows.total;
        let mut done = 0u64;
        // IMMEDIATE: the audit entry at the end reads the chain head, which
        // must not move before this commits.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Self::bulk(
            &mut tx,
            "INSERT INTO org_units (code, level, parent_code, name, valid_from, valid_to, boundary, min_lon, min_lat, max_lon, max_lat) ",
            &rows.units,
            |b, (u, json)| {
                let bb = u.boundary.as_ref().map(bbox);
                b.push_bind(u.code.as_str())
                    .push_bind(u.level().as_str())
                    .push_bind(u.parent().map(String::from))
                    .push_bind(u.name.as_str())
                    .push_bind(u.validity.from.to_string())
                    .push_bind(u.validity.to.map(|d| d.to_string()))
                    .push_bind(json.as_deref())
                    .push_bind(bb.map(|b| b[0]))
                    .push_bind(bb.map(|b| b[1]))
                    .push_bind(bb.map(|b| b[2]))
                    .push_bind(bb.map(|b| b[3]));
            },
            &mut done,
            total,
            progress,
        )
        .await?;
        Self::bulk(
            &mut tx,
            "INSERT INTO compounds (code, name, address, lat, lon, district_code, street_code, community_code, grid_code) ",
            &bundle.compounds,
            |b, c| {
                b.push_bind(c.code.as_str()).push_bind(c.name.as_str()).push_bind(c.address.as_str()).push_bind(c.lat).push_bind(c.lon);
                bind_place(b, &c.grid);
            },
            &mut done,
            total,
            progress,
        )
        .await?;
        Self::bulk(
            &mut tx,
            "INSERT INTO buildings (id, compound_code, number, floors, lat, lon, district_code, street_code, community_code, grid_code) ",
            &bundle.buildings,
            |b, x| {
                b.push_bind(x.id)
                    .push_bind(x.compound.as_str())
                    .push_bind(i64::from(x.number))
                    .push_bind(i64::from(x.floors))
                    .push_bind(x.lat)
                    .push_bind(x.lon);
                bind_place(b, &x.grid);
            },
            &mut done,
            total,
            progress,
        )
        .await?;
        Self::bulk(
            &mut tx,
            "INSERT INTO households (id, building_id, entrance, room, district_code, street_code, community_code, grid_code) ",
            &rows.households,
            |b, (h, grid)| {
                b.push_bind(h.id).push_bind(h.building_id).push_bind(i64::from(h.entrance)).push_bind(i64::from(h.room));
                bind_place(b, grid);
            },
            &mut done,
            total,
            progress,
        )
        .await?;
        Self::bulk(
            &mut tx,
            "INSERT INTO residents (id, household_id, name, gender, birth_date, id_number_enc, id_number_index, \
             phone_enc, phone_index, head_of_household, care_groups, district_code, street_code, community_code, grid_code) ",
            &rows.residents,
            |b, s| {
                let r = s.resident;
                let care: Vec<&str> = r.care.iter().map(|c| c.as_str()).collect();
                b.push_bind(r.id)
                    .push_bind(r.household_id)
                    .push_bind(r.name.as_str())
                    .push_bind(r.gender.as_str())
                    .push_bind(r.birth.to_string())
                    .push_bind(s.id_number.0.as_slice())
                    .push_bind(s.id_number.1.as_str())
                    .push_bind(s.phone.as_ref().map(|p| p.0.as_slice()))
                    .push_bind(s.phone.as_ref().map(|p| p.1.as_str()))
                    .push_bind(r.head_of_household)
                    .push_bind(care.join(","));
                bind_place(b, &s.grid);
            },
            &mut done,
            total,
            progress,
        )
        .await?;
        Self::bulk(
            &mut tx,
            "INSERT INTO facilities (code, category, name, address, lat, lon, district_code, street_code, community_code, grid_code) ",
            &bundle.facilities,
            |b, f| {
                b.push_bind(f.code.as_str())
                    .push_bind(f.category.as_str())
                    .push_bind(f.name.as_str())
                    .push_bind(f.address.as_str())
                    .push_bind(f.lat)
                    .push_bind(f.lon);
                bind_place(b, &f.grid);
            },
            &mut done,
            total,
            progress,
        )
        .await?;
        Self::bulk(
            &mut tx,
            "INSERT INTO cameras (code, name, status, installed_on, lat, lon, district_code, street_code, community_code, grid_code) ",
            &bundle.cameras,
            |b, c| {
                b.push_bind(c.code.as_str())
                    .push_bind(c.name.as_str())
                    .push_bind(c.status.as_str())
                    .push_bind(c.installed_on.to_string())
                    .push_bind(c.lat)
                    .push_bind(c.lon);
                bind_place(b, &c.grid);
            },
            &mut done,
            total,
            progress,
        )
        .await?;
        Self::bulk(
            &mut tx,
            "INSERT INTO party_branches (code, name, district_code, street_code, community_code) ",
            &bundle.party_branches,
            |b, x| {
                b.push_bind(x.code.as_str()).push_bind(x.name.as_str());
                for code in placement(&x.community).into_iter().take(3) {
                    b.push_bind(code);
                }
            },
            &mut done,
            total,
            progress,
        )
        .await?;
        Self::bulk(
            &mut tx,
            "INSERT INTO party_branch_grids (branch_code, district_code, street_code, community_code, grid_code) ",
            &rows.branch_grids,
            |b, (branch, grid)| {
                b.push_bind(*branch);
                bind_place(b, grid);
            },
            &mut done,
            total,
            progress,
        )
        .await?;
        Self::bulk(
            &mut tx,
            "INSERT INTO party_groups (code, name, branch_code, district_code, street_code, community_code, grid_code) ",
            &bundle.party_groups,
            |b, g| {
                b.push_bind(g.code.as_str()).push_bind(g.name.as_str()).push_bind(g.branch.as_str());
                bind_place(b, &g.grid);
            },
            &mut done,
            total,
            progress,
        )
        .await?;
        Self::bulk(
            &mut tx,
            "INSERT INTO people (id, name, gender, phone_enc, phone_index, home_community_code) ",
            &rows.people,
            |b, (p, phone)| {
                b.push_bind(p.id)
                    .push_bind(p.name.as_str())
                    .push_bind(p.gender.as_str())
                    .push_bind(phone.as_ref().map(|x| x.0.as_slice()))
                    .push_bind(phone.as_ref().map(|x| x.1.as_str()))
                    .push_bind(p.home_community.as_ref().map(|c| c.as_str()));
            },
            &mut done,
            total,
            progress,
        )
        .await?;
        Self::bulk(
            &mut tx,
            "INSERT INTO person_roles (person_id, kind, unit_code, since, district_code, street_code, community_code, grid_code) ",
            &rows.roles,
            |b, (id, r)| {
                b.push_bind(*id).push_bind(r.kind.as_str()).push_bind(r.unit.as_str()).push_bind(r.since.to_string());
                bind_place(b, &r.unit);
            },
            &mut done,
            total,
            progress,
        )
        .await?;
        Self::bulk(
            &mut tx,
            "INSERT INTO street_nodes (id, lon, lat) ",
            &rows.nodes,
            |b, (id, [lon, lat])| {
                b.push_bind(*id).push_bind(*lon).push_bind(*lat);
            },
            &mut done,
            total,
            progress,
        )
        .await?;
        Self::bulk(
            &mut tx,
            "INSERT INTO street_edges (from_id, to_id, length_m, name) ",
            &bundle.streets.edges,
            |b, e| {
                b.push_bind(i64::from(e.from))
                    .push_bind(i64::from(e.to))
                    .push_bind(e.length_m)
                    .push_bind(e.name.as_str());
            },
            &mut done,
            total,
            progress,
        )
        .await?;
        append(&mut tx, &district_entry(bundle, by)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn stats(&self, within: Option<&UnitCode>) -> Result<Stats> {
        Ok(self.grouped_stats(within, None).await?.total())
    }

    async fn stats_by(&self, within: Option<&UnitCode>, by: Level) -> Result<Vec<(UnitCode, Stats)>> {
        check_grouping(within, by)?;
        let groups = self.grouped_stats(within, Some(by)).await?;
        Ok(groups.per_unit(self.units(by, within).await?))
    }

    async fn unit(&self, code: &UnitCode) -> Result<Option<OrgUnit>> {
        let row = sqlx::query("SELECT * FROM org_units WHERE code = ? AND valid_to IS NULL")
            .bind(code.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(unit_from_row).transpose()
    }

    async fn unit_history(&self, code: &UnitCode) -> Result<Vec<OrgUnit>> {
        let rows = sqlx::query("SELECT * FROM org_units WHERE code = ? ORDER BY valid_from")
            .bind(code.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(unit_from_row).collect()
    }

    async fn units(&self, level: Level, within: Option<&UnitCode>) -> Result<Vec<OrgUnit>> {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT * FROM org_units WHERE valid_to IS NULL AND level = ");
        qb.push_bind(level.as_str());
        if let Some(w) = within {
            qb.push(format_args!(" AND substr(code, 1, {}) = ", w.as_str().len()));
            qb.push_bind(w.as_str().to_owned());
        }
        qb.push(" ORDER BY code");
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(unit_from_row).collect()
    }

    async fn redraw_unit(&self, code: &UnitCode, boundary: &Ring, from: Date, by: &Actor) -> Result<()> {
        if !matches!(code.level(), Level::Grid | Level::Community) {
            return Err(StoreError::Invalid("only grids and communities have boundaries to redraw".into()));
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query("SELECT * FROM org_units WHERE code = ? AND valid_to IS NULL")
            .bind(code.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("unit {code}")))?;
        let current = unit_from_row(&row)?;
        if from <= current.validity.from {
            return Err(StoreError::Conflict(format!(
                "a new version of {code} must start after the current one ({})",
                current.validity.from
            )));
        }
        sqlx::query("UPDATE org_units SET valid_to = ? WHERE code = ? AND valid_to IS NULL")
            .bind(from.to_string())
            .bind(code.as_str())
            .execute(&mut *tx)
            .await?;
        let bb = bbox(boundary);
        let json = serde_json::to_string(boundary).map_err(|e| StoreError::Invalid(e.to_string()))?;
        sqlx::query(
            "INSERT INTO org_units (code, level, parent_code, name, valid_from, boundary, min_lon, min_lat, max_lon, max_lat) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(code.as_str())
        .bind(code.level().as_str())
        .bind(code.parent().map(String::from))
        .bind(&current.name)
        .bind(from.to_string())
        .bind(json)
        .bind(bb[0])
        .bind(bb[1])
        .bind(bb[2])
        .bind(bb[3])
        .execute(&mut *tx)
        .await?;
        if code.level() == Level::Grid {
            let community = code.parent().ok_or_else(|| StoreError::Invalid("a grid has a community".into()))?;
            replace_points(&mut tx, &community).await?;
        }
        let detail =
            json!({"from": from.to_string(), "previous_from": current.validity.from.to_string(), "boundary": boundary});
        append(&mut tx, &write_entry(by, "redraw_unit", code.as_str(), detail)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn compounds(&self, q: &ListQuery) -> Result<Page<CompoundView>> {
        let total = self.count("compounds", q).await?;
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT c.*, (SELECT count(*) FROM buildings b WHERE b.compound_code = c.code) AS n_buildings, \
             (SELECT count(*) FROM households h JOIN buildings b ON h.building_id = b.id WHERE b.compound_code = c.code) AS n_households \
             FROM compounds c WHERE 1 = 1",
        );
        push_within(&mut qb, "c.", &q.within);
        qb.push(" ORDER BY c.code");
        push_page(&mut qb, q);
        let rows = qb.build().fetch_all(&self.pool).await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(CompoundView {
                    code: r.try_get("code")?,
                    name: r.try_get("name")?,
                    address: r.try_get("address")?,
                    grid: r.try_get("grid_code")?,
                    lat: r.try_get("lat")?,
                    lon: r.try_get("lon")?,
                    buildings: r.try_get("n_buildings")?,
                    households: r.try_get("n_households")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Page { items, total, limit: q.limit, offset: q.offset })
    }

    async fn facilities(&self, q: &ListQuery, category: Option<FacilityCategory>) -> Result<Page<FacilityView>> {
        let filter = category.map(|c| format!("category = '{}'", c.as_str()));
        let (total, rows) = self.list("facilities", q, filter.as_deref()).await?;
        let items = rows.iter().map(facility_from_row).collect::<Result<_>>()?;
        Ok(Page { items, total, limit: q.limit, offset: q.offset })
    }

    async fn cameras(&self, q: &ListQuery, status: Option<CameraStatus>) -> Result<Page<CameraView>> {
        let filter = status.map(|c| format!("status = '{}'", c.as_str()));
        let (total, rows) = self.list("cameras", q, filter.as_deref()).await?;
        let items = rows.iter().map(camera_from_row).collect::<Result<_>>()?;
        Ok(Page { items, total, limit: q.limit, offset: q.offset })
    }

    async fn party_branches(&self, q: &ListQuery) -> Result<Page<PartyBranchView>> {
        let mut count =
            QueryBuilder::<Sqlite>::new("SELECT count(DISTINCT branch_code) FROM party_branch_grids g WHERE 1 = 1");
        push_within(&mut count, "g.", &q.within);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT DISTINCT b.code, b.name, b.community_code FROM party_branches b \
             JOIN party_branch_grids g ON g.branch_code = b.code WHERE 1 = 1",
        );
        push_within(&mut qb, "g.", &q.within);
        qb.push(" ORDER BY b.code");
        push_page(&mut qb, q);
        let rows = qb.build().fetch_all(&self.pool).await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            let code: String = r.try_get("code")?;
            let grids: Vec<String> =
                sqlx::query_scalar("SELECT grid_code FROM party_branch_grids WHERE branch_code = ? ORDER BY grid_code")
                    .bind(&code)
                    .fetch_all(&self.pool)
                    .await?;
            let groups =
                sqlx::query("SELECT code, name, grid_code FROM party_groups WHERE branch_code = ? ORDER BY code")
                    .bind(&code)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(|g| {
                        Ok(PartyGroupView {
                            code: g.try_get("code")?,
                            name: g.try_get("name")?,
                            grid: g.try_get("grid_code")?,
                        })
                    })
                    .collect::<Result<_>>()?;
            items.push(PartyBranchView {
                name: r.try_get("name")?,
                community: r.try_get("community_code")?,
                code,
                grids,
                groups,
            });
        }
        Ok(Page { items, total, limit: q.limit, offset: q.offset })
    }

    async fn people(&self, q: &ListQuery, role: Option<RoleKind>) -> Result<Page<PersonView>> {
        let roles_match = |qb: &mut QueryBuilder<'_, Sqlite>| {
            qb.push(" WHERE EXISTS (SELECT 1 FROM person_roles r WHERE r.person_id = p.id");
            if let Some(kind) = role {
                qb.push(" AND r.kind = ");
                qb.push_bind(kind.as_str());
            }
            push_within(qb, "r.", &q.within);
            qb.push(")");
        };
        let mut count = QueryBuilder::<Sqlite>::new("SELECT count(*) FROM people p");
        roles_match(&mut count);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT p.* FROM people p");
        roles_match(&mut qb);
        qb.push(" ORDER BY p.id");
        push_page(&mut qb, q);
        let rows = qb.build().fetch_all(&self.pool).await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let roles = sqlx::query(
                "SELECT kind, unit_code, since FROM person_roles WHERE person_id = ? ORDER BY kind, unit_code",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|x| {
                Ok(RoleView {
                    kind: parse_enum(x.try_get("kind")?)?,
                    unit: x.try_get("unit_code")?,
                    since: x.try_get("since")?,
                })
            })
            .collect::<Result<_>>()?;
            let phone = open_phone(&self.keys, r.try_get("phone_enc")?)?;
            items.push(PersonView {
                id,
                name: r.try_get("name")?,
                gender: parse_enum(r.try_get("gender")?)?,
                phone: phone.map(|p| p.masked()),
                home_community: r.try_get("home_community_code")?,
                roles,
            });
        }
        Ok(Page { items, total, limit: q.limit, offset: q.offset })
    }

    async fn add_facility(&self, new: &NewFacility, key: Option<&str>, by: &Actor) -> Result<Added<FacilityView>> {
        let [d, s, c, g] = grid_placement(&new.grid)?;
        let fingerprint = new.fingerprint();
        // IMMEDIATE takes the write lock up front, so two retries of one key
        // cannot both miss it and both insert.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(key) = key {
            let seen = sqlx::query(
                "SELECT fingerprint, result_code FROM idempotency_keys WHERE key = ? AND kind = 'facility'",
            )
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(seen) = seen {
                let earlier: String = seen.try_get("fingerprint")?;
                if earlier != fingerprint {
                    return Err(crate::schema::key_reused(key));
                }
                let code: String = seen.try_get("result_code")?;
                let row =
                    sqlx::query("SELECT * FROM facilities WHERE code = ?").bind(&code).fetch_one(&mut *tx).await?;
                return Ok(Added { item: facility_from_row(&row)?, created: false });
            }
        }
        let row = sqlx::query(
            "INSERT INTO facilities (code, category, name, address, lat, lon, district_code, street_code, community_code, grid_code) \
             VALUES ('FAC' || printf('%08d', (SELECT coalesce(max(rowid), 0) + 1 FROM facilities)), ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             RETURNING *",
        )
        .bind(new.category.as_str())
        .bind(&new.name)
        .bind(&new.address)
        .bind(new.lat)
        .bind(new.lon)
        .bind(d)
        .bind(s)
        .bind(c)
        .bind(g)
        .fetch_one(&mut *tx)
        .await?;
        let item = facility_from_row(&row)?;
        if let Some(key) = key {
            sqlx::query(
                "INSERT INTO idempotency_keys (key, fingerprint, kind, result_code) VALUES (?, ?, 'facility', ?)",
            )
            .bind(key)
            .bind(&fingerprint)
            .bind(&item.code)
            .execute(&mut *tx)
            .await?;
        }
        let detail = json!({"category": item.category.as_str(), "name": item.name, "grid": item.grid});
        append(&mut tx, &write_entry(by, "add_facility", &item.code, detail)).await?;
        tx.commit().await?;
        Ok(Added { item, created: true })
    }

    async fn import_network(
        &self,
        import: &crate::NetworkImport,
        progress: Progress<'_>,
        by: &Actor,
    ) -> Result<crate::NetworkImported> {
        self.replace_network(import, progress, by).await
    }

    async fn street_network(&self) -> Result<civicgrid_domain::StreetNetwork> {
        self.stored_network().await
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = ?").bind(key).fetch_optional(&self.pool).await?)
    }

    async fn set_setting(&self, key: &str, value: &str, by: &Actor) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&mut *tx)
        .await?;
        append(&mut tx, &write_entry(by, "set_setting", key, json!({"value": value}))).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn residents(&self, q: &ListQuery, search: Option<&ResidentSearch>) -> Result<Page<ResidentView>> {
        self.resident_page(q, search).await
    }

    async fn resident(&self, id: i64) -> Result<Option<ResidentView>> {
        self.one_resident(id).await
    }

    async fn resident_in_full(&self, id: i64, reason: &str, by: &Actor) -> Result<Option<ResidentFull>> {
        self.unmask_resident(id, reason, by).await
    }

    async fn reencrypt_personal_data(&self, by: &Actor) -> Result<u64> {
        self.reencrypt(by).await
    }

    async fn create_user(&self, new: &NewUser, by: &Actor) -> Result<UserRecord> {
        self.create_user_row(new, by).await
    }

    async fn user(&self, id: i64) -> Result<Option<UserRecord>> {
        self.user_by_id(id).await
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>> {
        self.user_named(username).await
    }

    async fn users(&self, within: Option<&UnitCode>, limit: u32, offset: u32) -> Result<Page<UserRecord>> {
        self.users_within(within, limit, offset).await
    }

    async fn set_grants(&self, user_id: i64, grants: &[Grant], by: &Actor) -> Result<()> {
        self.replace_grants(user_id, grants, by).await
    }

    async fn set_password(&self, user_id: i64, password_hash: &str, by: &Actor) -> Result<()> {
        self.change_password(user_id, password_hash, by).await
    }

    async fn set_disabled(&self, user_id: i64, disabled: bool, by: &Actor) -> Result<()> {
        self.change_disabled(user_id, disabled, by).await
    }

    async fn record_sign_in(&self, user_id: i64, ok: bool, locked_until: Option<Timestamp>, by: &Actor) -> Result<()> {
        self.sign_in_attempt(user_id, ok, locked_until, by).await
    }

    async fn create_session(&self, session: &SessionRecord) -> Result<()> {
        self.insert_session(session).await
    }

    async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>> {
        self.live_session(id_hash).await
    }

    async fn delete_session(&self, id_hash: &str) -> Result<()> {
        self.remove_session(id_hash).await
    }

    async fn session_holder(&self, id_hash: &str) -> Result<Option<(SessionRecord, UserRecord)>> {
        self.session_and_holder(id_hash).await
    }

    async fn create_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        expires_at: Option<Timestamp>,
        by: &Actor,
    ) -> Result<TokenRecord> {
        self.insert_token(user_id, name, token_hash, expires_at, by).await
    }

    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRecord>> {
        self.token_hashed(token_hash).await
    }

    async fn token_holder(&self, token_hash: &str) -> Result<Option<(TokenRecord, UserRecord)>> {
        self.token_and_holder(token_hash).await
    }

    async fn tokens(&self, user_id: i64) -> Result<Vec<TokenRecord>> {
        self.tokens_of(user_id).await
    }

    async fn revoke_token(&self, user_id: i64, token_id: i64, by: &Actor) -> Result<bool> {
        self.revoke(user_id, token_id, by).await
    }

    async fn touch_token(&self, token_id: i64) -> Result<()> {
        self.touch(token_id).await
    }

    async fn file_case(
        &self,
        new: &NewCase,
        first: &CaseEventRecord,
        summary: &CaseSummary,
        idempotency_key: Option<&str>,
        by: &Actor,
    ) -> Result<Added<CaseRecord>> {
        self.insert_case(new, first, summary, idempotency_key, by).await
    }

    async fn append_case_event(
        &self,
        case_id: i64,
        event: &CaseEventRecord,
        summary: &CaseSummary,
        escalation: Option<(Timestamp, &str)>,
        by: &Actor,
    ) -> Result<CaseRecord> {
        self.add_case_event(case_id, event, summary, escalation, by).await
    }

    // --- one-click calls ---

    async fn add_responders(&self, rs: &[crate::NewResponder], by: &Actor) -> Result<u64> {
        self.put_responders(rs, by).await
    }

    async fn link_responder(&self, id: i64, user_id: Option<i64>, by: &Actor) -> Result<bool> {
        self.put_responder_user(id, user_id, by).await
    }

    async fn responders(&self, changed_since: Option<Timestamp>) -> Result<Vec<crate::ResponderRecord>> {
        self.read_responders(changed_since).await
    }

    async fn responder_of_user(&self, user_id: i64) -> Result<Option<crate::ResponderRecord>> {
        self.read_responder_of_user(user_id).await
    }

    async fn set_duty(&self, id: i64, on: bool, by: &Actor) -> Result<bool> {
        self.put_duty(id, on, by).await
    }

    async fn record_positions(&self, fixes: &[crate::PositionFix]) -> Result<()> {
        group::run(&self.group, &self.pool, |reply| group::Job::Positions(fixes.to_vec(), reply)).await
    }

    async fn open_call(
        &self,
        call: &crate::NewCall,
        case: &NewCase,
        events: &[(CaseEventRecord, String)],
        summary: &CaseSummary,
        idempotency_key: Option<&str>,
        by: &Actor,
    ) -> Result<Added<crate::CallRecord>> {
        let job = group::CallJob {
            call: call.clone(),
            case: case.clone(),
            events: events.to_vec(),
            summary: summary.clone(),
            key: idempotency_key.map(str::to_owned),
            by: by.clone(),
        };
        group::run(&self.group, &self.pool, |reply| group::Job::Call(Box::new(job), reply)).await
    }

    async fn update_call(&self, update: &crate::CallUpdate, by: &Actor) -> Result<crate::CallRecord> {
        self.change_call(update, by).await
    }

    async fn call(&self, id: i64) -> Result<Option<crate::CallRecord>> {
        self.read_call(id).await
    }

    async fn call_of_case(&self, case_id: i64) -> Result<Option<crate::CallRecord>> {
        self.read_call_of_case(case_id).await
    }

    async fn calls(&self, q: &crate::CallQuery) -> Result<Vec<crate::CallRecord>> {
        self.read_calls(q).await
    }

    async fn register_call_device(
        &self,
        device: &crate::NewCallDevice,
        replace: bool,
        by: &Actor,
    ) -> Result<Added<crate::CallDeviceRecord>> {
        self.put_call_device(device, replace, by).await
    }

    async fn register_call_devices(&self, devices: &[crate::NewCallDevice], by: &Actor) -> Result<u64> {
        self.put_call_devices(devices, by).await
    }

    async fn call_device(&self, code: &str) -> Result<Option<crate::CallDeviceRecord>> {
        self.read_call_device(code).await
    }

    async fn call_devices(&self, q: &ListQuery) -> Result<Page<crate::CallDeviceRecord>> {
        self.read_call_devices(q).await
    }

    async fn call_devices_of_user(&self, user_id: i64) -> Result<Vec<crate::CallDeviceRecord>> {
        self.read_call_devices_of_user(user_id).await
    }

    async fn retire_call_device(&self, code: &str, by: &Actor) -> Result<bool> {
        self.end_call_device(code, by).await
    }

    async fn household_place(&self, id: i64) -> Result<Option<crate::HouseholdPlace>> {
        self.read_household_place(id).await
    }

    async fn case(&self, id: i64) -> Result<Option<CaseRecord>> {
        self.case_by_id(id).await
    }

    async fn case_events(&self, id: i64) -> Result<Vec<CaseEventRecord>> {
        self.events_of(id).await
    }

    async fn cases(&self, q: &CaseQuery) -> Result<Page<CaseRecord>> {
        self.list_cases(q).await
    }

    async fn due_escalations(&self, now: Timestamp, limit: u32) -> Result<Vec<CaseRecord>> {
        self.escalations_due(now, limit).await
    }

    async fn drop_escalation(&self, case_id: i64, events: i64, deadline: Timestamp, by: &Actor) -> Result<bool> {
        self.clear_escalation(case_id, events, deadline, by).await
    }

    async fn watch_cases(&self) -> Result<crate::CaseFeed> {
        Ok(self.feed.sender.subscribe())
    }

    async fn case_changes(&self, after: i64, limit: u32) -> Result<Vec<crate::CaseChange>> {
        self.changes_after(after, limit).await
    }

    async fn case_histories(
        &self,
        within: &UnitCode,
        created_before: Timestamp,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, Vec<CaseEventRecord>)>> {
        self.histories(within, created_before, after, limit).await
    }

    async fn import_cases(&self, cases: &[ImportedCase], progress: Progress<'_>, by: &Actor) -> Result<()> {
        self.insert_imported_cases(cases, progress, by).await
    }

    async fn record_attachment(&self, a: &crate::attachments::StoredAttachment, by: &Actor) -> Result<()> {
        self.insert_attachment(a, by).await
    }

    async fn attachment_uploader(&self, id: &str) -> Result<Option<Option<i64>>> {
        self.attachment_uploader(id).await
    }

    async fn cases_showing(&self, attachment_id: &str) -> Result<Vec<CaseRecord>> {
        self.cases_showing(attachment_id).await
    }

    async fn append_audit(&self, entry: &NewAudit) -> Result<AuditEntry> {
        self.append_audit_entry(entry).await
    }

    async fn audit_log(&self, q: &AuditQuery) -> Result<Page<AuditEntry>> {
        self.audit_page(q).await
    }

    async fn verify_audit(&self) -> Result<ChainCheck> {
        self.verify_chain().await
    }

    async fn dump(&self, out: &mut (dyn AsyncWrite + Send + Unpin)) -> Result<DumpSummary> {
        // A connection of its own that does not call its reads slow: they
        // last as long as writing the dump does. A deferred transaction reads
        // one snapshot from its first read on; writers go on meanwhile (WAL).
        let opts = (*self.pool.connect_options()).clone().disable_statement_logging();
        let mut conn = SqliteConnection::connect_with(&opts).await?;
        let mut tx = conn.begin().await?;
        let summary = dump::write::<Sqlite>(&mut tx, "sqlite", out).await?;
        tx.rollback().await?;
        Ok(summary)
    }

    async fn load_dump(&self, input: &mut (dyn AsyncBufRead + Send + Unpin), by: &Actor) -> Result<DumpSummary> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let summary = dump::read::<Sqlite>(&mut tx, input).await?;
        append(&mut tx, &dump::restore_entry(&summary, by)).await?;
        tx.commit().await?;
        Ok(summary)
    }
}

impl SqliteStore {
    async fn count(&self, table: &str, q: &ListQuery) -> Result<i64> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT count(*) FROM {table} WHERE 1 = 1"));
        push_within(&mut qb, "", &q.within);
        Ok(qb.build_query_scalar().fetch_one(&self.pool).await?)
    }

    /// A page of a placed table, in code order, with an optional trusted filter.
    async fn list(&self, table: &str, q: &ListQuery, filter: Option<&str>) -> Result<(i64, Vec<SqliteRow>)> {
        let head = |select: &str| {
            let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {select} FROM {table} WHERE 1 = 1"));
            if let Some(f) = filter {
                qb.push(format_args!(" AND {f}"));
            }
            push_within(&mut qb, "", &q.within);
            qb
        };
        let total: i64 = head("count(*)").build_query_scalar().fetch_one(&self.pool).await?;
        let mut qb = head("*");
        qb.push(" ORDER BY code");
        push_page(&mut qb, q);
        Ok((total, qb.build().fetch_all(&self.pool).await?))
    }
}

/// Places every point row of `community` again into the grid that now holds it.
async fn replace_points(tx: &mut Transaction<'_, Sqlite>, community: &UnitCode) -> Result<()> {
    let rows = sqlx::query("SELECT * FROM org_units WHERE valid_to IS NULL AND level = 'grid' AND parent_code = ?")
        .bind(community.as_str())
        .fetch_all(&mut **tx)
        .await?;
    let mut grids = Vec::with_capacity(rows.len());
    for r in &rows {
        let u = unit_from_row(r)?;
        if let Some(ring) = &u.boundary {
            let poly = civicgrid_geo::polygon_from_ring(ring).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            grids.push((u.code, poly));
        }
    }
    let index = civicgrid_geo::GridIndex::build(grids).map_err(|e| StoreError::Invalid(e.to_string()))?;
    for table in ["compounds", "buildings", "facilities", "cameras"] {
        let points =
            sqlx::query(&format!("SELECT rowid AS id, lat, lon, grid_code FROM {table} WHERE community_code = ?"))
                .bind(community.as_str())
                .fetch_all(&mut **tx)
                .await?;
        for p in &points {
            let ll = civicgrid_geo::LatLng::new(p.try_get("lat")?, p.try_get("lon")?)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let Some(grid) = index.locate(ll) else { continue };
            let old: String = p.try_get("grid_code")?;
            if old != grid.as_str() {
                let id: i64 = p.try_get("id")?;
                sqlx::query(&format!("UPDATE {table} SET grid_code = ? WHERE rowid = ?"))
                    .bind(grid.as_str())
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
            }
        }
    }
    // Households and residents follow their building.
    sqlx::query(
        "UPDATE households SET grid_code = (SELECT b.grid_code FROM buildings b WHERE b.id = households.building_id) \
         WHERE community_code = ?",
    )
    .bind(community.as_str())
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE residents SET grid_code = (SELECT h.grid_code FROM households h WHERE h.id = residents.household_id) \
         WHERE community_code = ?",
    )
    .bind(community.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
