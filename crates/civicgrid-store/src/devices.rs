//! Registered call devices: wall buttons, speakers and residents' registered
//! addresses (`home`), each placed once at registration in the grid that
//! holds it. A call naming a device (or a resident's call without a
//! position) is placed at the device's point.
//!
//! The rule for a code already registered: re-registering it for the same
//! account and household (for a device without a household, in the same
//! grid) updates it in place — its point and label may be corrected; moving
//! it to another account, household or grid is refused (Conflict) unless the
//! request says it replaces the device deliberately. A retired code is free
//! to register again. A user has one live `home`: registering a new one
//! retires the others in the same transaction.
//!
//! The SQL is the same on both backends and written once, like `calls`.

use crate::calls::{bound, sql};
use crate::dump::{Catalog, Cell, Kind};
use crate::stored::{Columns, now_text};
use crate::{Added, ListQuery, Page, Result, StoreError};
use civicgrid_domain::UnitCode;
use jiff::Timestamp;
use serde::Serialize;
use sqlx::{Executor, IntoArguments};

/// A device to register, placed by the caller (the server locates its point).
#[derive(Debug, Clone, PartialEq)]
pub struct NewCallDevice {
    pub code: String,
    /// `wall_button`, `speaker` or `home`.
    pub kind: String,
    /// The account that calls with it.
    pub user_id: Option<i64>,
    /// The registered household it is in.
    pub household_id: Option<i64>,
    /// What the command centre and the responders read: "渭滨小区 3号楼 2单元 501".
    pub address: String,
    /// WGS-84.
    pub lat: f64,
    pub lon: f64,
    pub grid: UnitCode,
}

/// A registered device as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallDeviceRecord {
    pub code: String,
    pub kind: String,
    pub user_id: Option<i64>,
    pub household_id: Option<i64>,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub grid: String,
    pub community: String,
    pub street: String,
    pub district: String,
    pub registered_at: Timestamp,
    pub retired_at: Option<Timestamp>,
}

/// Where a registered household is: its building's point and grid, and the
/// parts of its address.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HouseholdPlace {
    pub id: i64,
    pub compound: String,
    pub building: i64,
    pub entrance: i64,
    pub room: i64,
    pub lat: f64,
    pub lon: f64,
    pub grid: String,
}

impl HouseholdPlace {
    /// The household's address as a label: "渭滨小区 3号楼 2单元 501".
    pub fn label(&self) -> String {
        format!("{} {}号楼 {}单元 {}", self.compound, self.building, self.entrance, self.room)
    }
}

const COLUMNS: &str = "code, kind, user_id, household_id, address, lat, lon, grid_code, community_code, street_code, \
     district_code, registered_at, retired_at";

fn device_from_row(r: &impl Columns) -> Result<CallDeviceRecord> {
    Ok(CallDeviceRecord {
        code: r.text("code")?,
        kind: r.text("kind")?,
        user_id: r.opt_int("user_id")?,
        household_id: r.opt_int("household_id")?,
        address: r.text("address")?,
        lat: r.real("lat")?,
        lon: r.real("lon")?,
        grid: r.text("grid_code")?,
        community: r.text("community_code")?,
        street: r.text("street_code")?,
        district: r.text("district_code")?,
        registered_at: r.ts("registered_at")?,
        retired_at: r.opt_ts("retired_at")?,
    })
}

fn opt_int(v: Option<i64>) -> Cell {
    v.map_or(Cell::Null(Kind::Int), Cell::Int)
}

fn row_cells(d: &NewCallDevice, now: &str) -> Result<Vec<Cell>> {
    let [district, street, community, grid] = crate::schema::grid_placement(&d.grid)?;
    Ok(vec![
        Cell::Text(d.code.clone()),
        Cell::Text(d.kind.clone()),
        opt_int(d.user_id),
        opt_int(d.household_id),
        Cell::Text(d.address.clone()),
        Cell::Real(d.lat),
        Cell::Real(d.lon),
        Cell::Text(grid),
        Cell::Text(community),
        Cell::Text(street),
        Cell::Text(district),
        Cell::Text(now.to_owned()),
    ])
}

const ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)";

pub(crate) async fn device<DB>(conn: &mut DB::Connection, code: &str) -> Result<Option<CallDeviceRecord>>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::Row: Columns,
{
    let q = sql::<DB>(&format!("SELECT {COLUMNS} FROM call_devices WHERE code = ?"));
    let row = bound::<DB>(&q, vec![Cell::Text(code.to_owned())]).fetch_optional(&mut *conn).await?;
    row.as_ref().map(device_from_row).transpose()
}

/// Registers a device or updates it in place by the rule of this module's
/// header; Conflict when it is held elsewhere and `replace` is false.
pub(crate) async fn register<DB>(
    conn: &mut DB::Connection,
    d: &NewCallDevice,
    replace: bool,
) -> Result<Added<CallDeviceRecord>>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::Row: Columns,
{
    let before = device::<DB>(conn, &d.code).await?;
    let now = now_text();
    // The condition is in the statement itself, so a registration that
    // raced this one elsewhere cannot slip past it.
    let q = sql::<DB>(&format!(
        "INSERT INTO call_devices ({COLUMNS}) VALUES {ROW} ON CONFLICT (code) DO UPDATE SET \
         kind = excluded.kind, user_id = excluded.user_id, household_id = excluded.household_id, \
         address = excluded.address, lat = excluded.lat, lon = excluded.lon, grid_code = excluded.grid_code, \
         community_code = excluded.community_code, street_code = excluded.street_code, \
         district_code = excluded.district_code, registered_at = excluded.registered_at, retired_at = NULL \
         WHERE call_devices.retired_at IS NOT NULL OR ? OR (\
         COALESCE(call_devices.user_id, -1) = COALESCE(excluded.user_id, -1) \
         AND COALESCE(call_devices.household_id, -1) = COALESCE(excluded.household_id, -1) \
         AND (call_devices.household_id IS NOT NULL OR call_devices.grid_code = excluded.grid_code)) \
         RETURNING code"
    ));
    let mut cells = row_cells(d, &now)?;
    cells.push(Cell::Bool(replace));
    if bound::<DB>(&q, cells).fetch_optional(&mut *conn).await?.is_none() {
        return Err(StoreError::Conflict(format!(
            "device {} is registered to another account or place; retire it first, or replace it deliberately",
            d.code
        )));
    }
    if let (Some(user), true) = (d.user_id, d.kind == civicgrid_domain::DeviceKind::Home.as_str()) {
        let q = sql::<DB>(
            "UPDATE call_devices SET retired_at = ? WHERE user_id = ? AND kind = 'home' AND retired_at IS NULL AND code <> ?",
        );
        let cells = vec![Cell::Text(now.clone()), Cell::Int(user), Cell::Text(d.code.clone())];
        bound::<DB>(&q, cells).execute(&mut *conn).await?;
    }
    let item = device::<DB>(conn, &d.code).await?.ok_or_else(|| StoreError::NotFound(format!("device {}", d.code)))?;
    let created = before.is_none_or(|b| b.retired_at.is_some());
    Ok(Added { item, created })
}

/// Rows per statement of a batch: 12 parameters each.
const DEVICES_PER_STATEMENT: usize = 500;

/// Registers many devices at once, replacing those with the same codes (an
/// import, the demo: no rule is checked). The number written.
pub(crate) async fn register_many<DB>(conn: &mut DB::Connection, ds: &[NewCallDevice]) -> Result<u64>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    let now = now_text();
    let mut n = 0;
    for chunk in ds.chunks(DEVICES_PER_STATEMENT) {
        let rows = vec![ROW; chunk.len()].join(", ");
        let q = sql::<DB>(&format!(
            "INSERT INTO call_devices ({COLUMNS}) VALUES {rows} ON CONFLICT (code) DO UPDATE SET \
             kind = excluded.kind, user_id = excluded.user_id, household_id = excluded.household_id, \
             address = excluded.address, lat = excluded.lat, lon = excluded.lon, grid_code = excluded.grid_code, \
             community_code = excluded.community_code, street_code = excluded.street_code, \
             district_code = excluded.district_code, registered_at = excluded.registered_at, retired_at = NULL"
        ));
        let mut cells = Vec::with_capacity(chunk.len() * 12);
        for d in chunk {
            cells.extend(row_cells(d, &now)?);
        }
        n += DB::rows_affected(&bound::<DB>(&q, cells).execute(&mut *conn).await?);
    }
    Ok(n)
}

/// The live devices within a unit (all when none), by code.
pub(crate) async fn list<DB>(conn: &mut DB::Connection, lq: &ListQuery) -> Result<Page<CallDeviceRecord>>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::Row: Columns,
{
    let mut where_ = "retired_at IS NULL".to_owned();
    let mut cells = Vec::new();
    if let Some(unit) = &lq.within {
        where_.push_str(&format!(" AND {}_code = ?", unit.level().as_str()));
        cells.push(Cell::Text(unit.as_str().to_owned()));
    }
    let q = sql::<DB>(&format!("SELECT count(*) AS n FROM call_devices WHERE {where_}"));
    let total = bound::<DB>(&q, cells.clone()).fetch_one(&mut *conn).await?.int("n")?;
    let limit = lq.limit.min(ListQuery::MAX_LIMIT);
    let q = sql::<DB>(&format!(
        "SELECT {COLUMNS} FROM call_devices WHERE {where_} ORDER BY code LIMIT {limit} OFFSET {}",
        lq.offset
    ));
    let rows = bound::<DB>(&q, cells).fetch_all(&mut *conn).await?;
    let items = rows.iter().map(device_from_row).collect::<Result<_>>()?;
    Ok(Page { items, total, limit, offset: lq.offset })
}

/// A user's live devices, their `home` first.
pub(crate) async fn of_user<DB>(conn: &mut DB::Connection, user_id: i64) -> Result<Vec<CallDeviceRecord>>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::Row: Columns,
{
    let q = sql::<DB>(&format!(
        "SELECT {COLUMNS} FROM call_devices WHERE user_id = ? AND retired_at IS NULL \
         ORDER BY CASE WHEN kind = 'home' THEN 0 ELSE 1 END, registered_at DESC, code"
    ));
    let rows = bound::<DB>(&q, vec![Cell::Int(user_id)]).fetch_all(&mut *conn).await?;
    rows.iter().map(device_from_row).collect()
}

/// Retires a live device; false when there is none by that code.
pub(crate) async fn retire<DB>(conn: &mut DB::Connection, code: &str) -> Result<bool>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    let q = sql::<DB>("UPDATE call_devices SET retired_at = ? WHERE code = ? AND retired_at IS NULL");
    let done = bound::<DB>(&q, vec![Cell::Text(now_text()), Cell::Text(code.to_owned())]).execute(&mut *conn).await?;
    Ok(DB::rows_affected(&done) == 1)
}

pub(crate) async fn household<DB>(conn: &mut DB::Connection, id: i64) -> Result<Option<HouseholdPlace>>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::Row: Columns,
{
    let q = sql::<DB>(
        "SELECT h.id, c.name, b.number, h.entrance, h.room, b.lat, b.lon, b.grid_code FROM households h \
         JOIN buildings b ON b.id = h.building_id JOIN compounds c ON c.code = b.compound_code WHERE h.id = ?",
    );
    let Some(r) = bound::<DB>(&q, vec![Cell::Int(id)]).fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    Ok(Some(HouseholdPlace {
        id: r.int("id")?,
        compound: r.text("name")?,
        building: r.int("number")?,
        entrance: r.int("entrance")?,
        room: r.int("room")?,
        lat: r.real("lat")?,
        lon: r.real("lon")?,
        grid: r.text("grid_code")?,
    }))
}

/// The device methods both backends share (see `backend_calls!`).
macro_rules! backend_devices {
    ($db:ty) => {
        pub(super) async fn put_call_device(
            &self,
            d: &crate::NewCallDevice,
            replace: bool,
            by: &crate::Actor,
        ) -> crate::Result<crate::Added<crate::CallDeviceRecord>> {
            let mut tx = self.write().await?;
            let added = crate::devices::register::<$db>(&mut tx, d, replace).await?;
            let detail = serde_json::json!({
                "kind": d.kind, "user_id": d.user_id, "household_id": d.household_id,
                "grid": d.grid.as_str(), "replace": replace,
            });
            let entry = crate::calls::audit(by, "register_call_device", format!("call_device:{}", d.code), detail);
            append(&mut tx, &entry).await?;
            tx.commit().await?;
            Ok(added)
        }

        pub(super) async fn put_call_devices(
            &self,
            ds: &[crate::NewCallDevice],
            by: &crate::Actor,
        ) -> crate::Result<u64> {
            let mut tx = self.write().await?;
            let n = crate::devices::register_many::<$db>(&mut tx, ds).await?;
            let detail = serde_json::json!({ "count": ds.len() });
            append(&mut tx, &crate::calls::audit(by, "register_call_devices", "call_devices".into(), detail)).await?;
            tx.commit().await?;
            Ok(n)
        }

        pub(super) async fn end_call_device(&self, code: &str, by: &crate::Actor) -> crate::Result<bool> {
            let mut tx = self.write().await?;
            let done = crate::devices::retire::<$db>(&mut tx, code).await?;
            if done {
                let entry = crate::calls::audit(
                    by,
                    "retire_call_device",
                    format!("call_device:{code}"),
                    serde_json::Value::Null,
                );
                append(&mut tx, &entry).await?;
                tx.commit().await?;
            }
            Ok(done)
        }

        pub(super) async fn read_call_device(&self, code: &str) -> crate::Result<Option<crate::CallDeviceRecord>> {
            let mut conn = self.pool.acquire().await?;
            crate::devices::device::<$db>(&mut conn, code).await
        }

        pub(super) async fn read_call_devices(
            &self,
            q: &crate::ListQuery,
        ) -> crate::Result<crate::Page<crate::CallDeviceRecord>> {
            let mut conn = self.pool.acquire().await?;
            crate::devices::list::<$db>(&mut conn, q).await
        }

        pub(super) async fn read_call_devices_of_user(
            &self,
            user_id: i64,
        ) -> crate::Result<Vec<crate::CallDeviceRecord>> {
            let mut conn = self.pool.acquire().await?;
            crate::devices::of_user::<$db>(&mut conn, user_id).await
        }

        pub(super) async fn read_household_place(&self, id: i64) -> crate::Result<Option<crate::HouseholdPlace>> {
            let mut conn = self.pool.acquire().await?;
            crate::devices::household::<$db>(&mut conn, id).await
        }
    };
}
pub(crate) use backend_devices;
