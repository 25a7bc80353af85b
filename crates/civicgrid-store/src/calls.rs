//! One-click calls: the responders who answer them (people of the four
//! teams, with their duty, skills, task and last position), the calls, and
//! the offers of a call to responders. A call is a case too: its steps are
//! case events, written in the same transaction as the call's rows.
//!
//! The SQL here is the same on both backends and written once, generic over
//! the backend; only the transactions around it (SQLite's write lock,
//! PostgreSQL's row locks) and the case events are the backends' own.

use crate::dump::{Catalog, Cell, Kind};
use crate::stored::{Columns, now_text, parse_ts, ts_text};
use crate::{Added, CaseEventRecord, CaseSummary, Result, StoreError};
use civicgrid_domain::{CallState, OfferState, UnitCode};
use jiff::Timestamp;
use serde::Serialize;
use sqlx::query::Query;
use sqlx::{Executor, IntoArguments};

/// A person of one of the answering teams, registered as a responder.
#[derive(Debug, Clone, PartialEq)]
pub struct NewResponder {
    /// The person's id (`people.id`): a responder is a person.
    pub id: i64,
    pub team: String,
    pub skills: Vec<String>,
    /// The grid the responder belongs to.
    pub grid: UnitCode,
    /// Registered on duty (a re-registration keeps the duty as it is).
    pub on_duty: bool,
}

/// A responder as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponderRecord {
    pub id: i64,
    pub name: String,
    pub team: String,
    pub skills: Vec<String>,
    pub grid: String,
    /// The account they sign in with, if any.
    pub user_id: Option<i64>,
    pub on_duty: bool,
    /// The call they own now.
    pub call_id: Option<i64>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// The device's time of the last position.
    pub located_at: Option<Timestamp>,
    /// When anything of the row last changed (server time): nodes catch up by it.
    pub changed_at: Timestamp,
}

/// A position report, checked by the server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PositionFix {
    pub responder_id: i64,
    pub lat: f64,
    pub lon: f64,
    /// The device's time.
    pub at: Timestamp,
}

/// A call to file with its case (the case's `NewCase` carries where and who).
#[derive(Debug, Clone, PartialEq)]
pub struct NewCall {
    pub kind: String,
    /// The registered device it came from, if it did.
    pub device: Option<String>,
    /// How its point was found: `position`, `device` or `home`.
    pub located_by: String,
    /// The registered address it was placed at (a device's or the caller's home).
    pub address: Option<String>,
    /// When, nobody having accepted, the call is alarmed.
    pub give_up_at: Timestamp,
    /// The first round's offers, made in the same transaction (round 1);
    /// none leaves the call at round 0 for the dispatcher.
    pub offers: Vec<NewOffer>,
}

/// One offer of a call to one responder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfferRecord {
    pub responder_id: i64,
    pub round: i64,
    pub state: String,
    pub distance_m: i64,
    pub walk_s: i64,
    pub offered_at: Timestamp,
    pub expires_at: Timestamp,
    pub answered_at: Option<Timestamp>,
}

/// An offer to make.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOffer {
    pub responder_id: i64,
    pub distance_m: i64,
    pub walk_s: i64,
    pub expires_at: Timestamp,
}

/// A call as stored, with its offers (oldest first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRecord {
    pub id: i64,
    pub case_id: i64,
    pub case_number: String,
    pub kind: String,
    pub device: Option<String>,
    /// `position` (a live fix), `device` or `home` (a registered address).
    pub located_by: String,
    pub address: Option<String>,
    pub lat: f64,
    pub lon: f64,
    pub grid: String,
    /// The user who placed it (the case's reporter).
    pub caller_id: Option<i64>,
    pub state: String,
    pub owner: Option<i64>,
    /// Rounds of offers made so far.
    pub round: i64,
    pub created_at: Timestamp,
    pub give_up_at: Timestamp,
    pub updated_at: Timestamp,
    pub offers: Vec<OfferRecord>,
}

/// Seconds a new call waits for its first round from the request that filed it.
pub const FIRST_ROUND_GRACE_S: i64 = 5;

/// Which calls.
#[derive(Debug, Clone, Default)]
pub struct CallQuery {
    pub within: Option<UnitCode>,
    pub open_only: bool,
    /// Calls with an offer still out to this responder.
    pub offered_to: Option<i64>,
    /// Unowned calls with no offer still running at this time: the next
    /// round is due (or the first, after a crash between filing and offers).
    pub due_at: Option<Timestamp>,
    pub limit: u32,
}

/// One step of a call, all or nothing: each condition holds or the store
/// answers Conflict and writes nothing.
#[derive(Debug, Clone, Default)]
pub struct CallUpdate {
    pub call_id: i64,
    /// The call must be in one of these states (empty: any).
    pub from: Vec<String>,
    /// The call must be at the first round number; it moves to the second.
    pub round: Option<(i64, i64)>,
    pub state: Option<String>,
    /// This responder takes the call: it must have no owner and the
    /// responder no other call.
    pub claim: Option<i64>,
    /// The owner lets the call go (done).
    pub release: bool,
    /// Offers answered: each (responder, new state) must be `offered` now.
    pub answers: Vec<(i64, String)>,
    /// Every other offer still `offered` takes this state (`withdrawn`).
    pub close_others: Option<String>,
    /// New offers, of the round the call moves to.
    pub offers: Vec<NewOffer>,
    pub at: Option<Timestamp>,
    /// Case events to append with the state after each, and the case's summary after them.
    pub events: Vec<(CaseEventRecord, String)>,
    pub summary: Option<CaseSummary>,
}

/// `text` with each `?` made the backend's placeholder.
pub(crate) fn sql<DB: Catalog>(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut n = 0;
    for c in text.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&DB::placeholder(n));
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) fn bound<'q, DB: Catalog>(text: &'q str, cells: Vec<Cell>) -> Query<'q, DB, DB::Arguments<'q>> {
    cells.into_iter().fold(sqlx::query::<DB>(text), DB::bind)
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn opt_text(s: Option<impl Into<String>>) -> Cell {
    s.map_or(Cell::Null(Kind::Text), text)
}

fn ts(t: Timestamp) -> Cell {
    Cell::Text(ts_text(t))
}

const RESPONDER_COLUMNS: &str = "r.id, p.name, r.team, r.skills, r.grid_code, r.user_id, r.on_duty, r.call_id, \
     r.lat, r.lon, r.located_at, r.changed_at FROM responders r JOIN people p ON p.id = r.id";

fn responder_from_row(r: &impl Columns) -> Result<ResponderRecord> {
    let skills = r.text("skills")?;
    Ok(ResponderRecord {
        id: r.int("id")?,
        name: r.text("name")?,
        team: r.text("team")?,
        skills: skills.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        grid: r.text("grid_code")?,
        user_id: r.opt_int("user_id")?,
        on_duty: r.flag("on_duty")?,
        call_id: r.opt_int("call_id")?,
        lat: r.opt_real("lat")?,
        lon: r.opt_real("lon")?,
        located_at: r.opt_ts("located_at")?,
        changed_at: r.ts("changed_at")?,
    })
}

const CALL_COLUMNS: &str = "k.id, k.case_id, c.number, k.kind, k.device, k.located_by, k.address, c.lat, c.lon, c.grid_code, c.reporter_id, \
     k.state, k.owner, k.round, k.created_at, k.give_up_at, k.updated_at FROM calls k JOIN cases c ON c.id = k.case_id";

fn call_from_row(r: &impl Columns) -> Result<CallRecord> {
    Ok(CallRecord {
        id: r.int("id")?,
        case_id: r.int("case_id")?,
        case_number: r.text("number")?,
        kind: r.text("kind")?,
        device: r.opt_text("device")?,
        located_by: r.text("located_by")?,
        address: r.opt_text("address")?,
        lat: r.real("lat")?,
        lon: r.real("lon")?,
        grid: r.text("grid_code")?,
        caller_id: r.opt_int("reporter_id")?,
        state: r.text("state")?,
        owner: r.opt_int("owner")?,
        round: r.int("round")?,
        created_at: r.ts("created_at")?,
        give_up_at: r.ts("give_up_at")?,
        updated_at: r.ts("updated_at")?,
        offers: Vec::new(),
    })
}

fn offer_from_row(r: &impl Columns) -> Result<(i64, OfferRecord)> {
    Ok((
        r.int("call_id")?,
        OfferRecord {
            responder_id: r.int("responder_id")?,
            round: r.int("round")?,
            state: r.text("state")?,
            distance_m: r.int("distance_m")?,
            walk_s: r.int("walk_s")?,
            offered_at: r.ts("offered_at")?,
            expires_at: r.ts("expires_at")?,
            answered_at: r.opt_ts("answered_at")?,
        },
    ))
}

/// Registers responders, or updates the team, skills and grid of those registered.
pub(crate) async fn upsert_responders<DB>(conn: &mut DB::Connection, rs: &[NewResponder]) -> Result<u64>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    let q = sql::<DB>(
        "INSERT INTO responders (id, team, skills, grid_code, community_code, street_code, district_code, on_duty, changed_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET team = excluded.team, skills = excluded.skills, \
         grid_code = excluded.grid_code, community_code = excluded.community_code, street_code = excluded.street_code, \
         district_code = excluded.district_code, changed_at = excluded.changed_at",
    );
    let now = now_text();
    let mut n = 0;
    for r in rs {
        let place = crate::schema::grid_placement(&r.grid)?;
        let [district, street, community, grid] = place;
        let cells = vec![
            Cell::Int(r.id),
            text(&r.team),
            text(r.skills.join(",")),
            text(grid),
            text(community),
            text(street),
            text(district),
            Cell::Bool(r.on_duty),
            text(&now),
        ];
        n += DB::rows_affected(&bound::<DB>(&q, cells).execute(&mut *conn).await?);
    }
    Ok(n)
}

/// Links a responder to the account they sign in with (or unlinks).
pub(crate) async fn link_user<DB>(conn: &mut DB::Connection, id: i64, user_id: Option<i64>) -> Result<bool>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    let q = sql::<DB>("UPDATE responders SET user_id = ?, changed_at = ? WHERE id = ?");
    let user = user_id.map_or(Cell::Null(Kind::Int), Cell::Int);
    let done = bound::<DB>(&q, vec![user, text(now_text()), Cell::Int(id)]).execute(&mut *conn).await?;
    Ok(DB::rows_affected(&done) == 1)
}

/// Every responder, or those changed since a time (by `changed_at`).
pub(crate) async fn list_responders<DB>(
    conn: &mut DB::Connection,
    changed_since: Option<Timestamp>,
) -> Result<Vec<ResponderRecord>>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::Row: Columns,
{
    let rows = match changed_since {
        None => sqlx::query::<DB>(&format!("SELECT {RESPONDER_COLUMNS} ORDER BY r.id")).fetch_all(&mut *conn).await?,
        Some(t) => {
            let q = sql::<DB>(&format!("SELECT {RESPONDER_COLUMNS} WHERE r.changed_at >= ? ORDER BY r.id"));
            bound::<DB>(&q, vec![ts(t)]).fetch_all(&mut *conn).await?
        }
    };
    rows.iter().map(responder_from_row).collect()
}

pub(crate) async fn responder_of_user<DB>(conn: &mut DB::Connection, user_id: i64) -> Result<Option<ResponderRecord>>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::Row: Columns,
{
    let q = sql::<DB>(&format!("SELECT {RESPONDER_COLUMNS} WHERE r.user_id = ?"));
    let row = bound::<DB>(&q, vec![Cell::Int(user_id)]).fetch_optional(&mut *conn).await?;
    row.as_ref().map(responder_from_row).transpose()
}

pub(crate) async fn set_duty<DB>(conn: &mut DB::Connection, id: i64, on: bool) -> Result<bool>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    let q = sql::<DB>("UPDATE responders SET on_duty = ?, changed_at = ? WHERE id = ?");
    let done = bound::<DB>(&q, vec![Cell::Bool(on), text(now_text()), Cell::Int(id)]).execute(&mut *conn).await?;
    Ok(DB::rows_affected(&done) == 1)
}

/// Rows per statement of a position batch: four parameters each, well
/// under both backends' limits.
const FIXES_PER_STATEMENT: usize = 500;

/// Writes the last position of each responder, many to a statement; a fix
/// older than the one stored (another writer's, committed first) is not.
pub(crate) async fn write_positions<DB>(conn: &mut DB::Connection, fixes: &[PositionFix]) -> Result<()>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    let now = now_text();
    for chunk in fixes.chunks(FIXES_PER_STATEMENT) {
        let mut text_sql = String::from("WITH v (id, lat, lon, at) AS (VALUES ");
        for i in 0..chunk.len() {
            text_sql.push_str(if i == 0 { "(?, ?, ?, ?)" } else { ", (?, ?, ?, ?)" });
        }
        text_sql.push_str(
            ") UPDATE responders SET lat = v.lat, lon = v.lon, located_at = v.at, changed_at = ? \
             FROM v WHERE responders.id = v.id AND (responders.located_at IS NULL OR responders.located_at <= v.at)",
        );
        let q = sql::<DB>(&text_sql);
        let mut cells = Vec::with_capacity(chunk.len() * 4 + 1);
        for f in chunk {
            cells.extend([Cell::Int(f.responder_id), Cell::Real(f.lat), Cell::Real(f.lon), ts(f.at)]);
        }
        cells.push(text(&now));
        bound::<DB>(&q, cells).execute(&mut *conn).await?;
    }
    Ok(())
}

/// A call to file with its case, just filed (or found again by its
/// idempotency key) in the same transaction.
pub(crate) type CallFiling<'a> = (&'a Added<crate::CaseRecord>, &'a NewCall, Option<&'a str>);

/// The calls of cases just filed, inside the filing's transaction: new
/// cases get their call rows and first offers, a few statements for all
/// of them, and the records are built from what was written, not read
/// back; a case found again by its key answers with its call. One answer
/// each: a key first used for a plain case refuses only its own.
pub(crate) async fn file_calls<DB>(
    conn: &mut DB::Connection,
    filings: &[CallFiling<'_>],
) -> Result<Vec<Result<Added<CallRecord>>>>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::Row: Columns,
{
    let fresh: Vec<&CallFiling<'_>> = filings.iter().filter(|(case, _, _)| case.created).collect();
    let mut ids = std::collections::HashMap::new();
    for chunk in fresh.chunks(1000) {
        let rows = vec!["(?, ?, ?, ?, ?, 'dispatching', ?, ?, ?, ?)"; chunk.len()].join(", ");
        let q = sql::<DB>(&format!(
            "INSERT INTO calls (case_id, kind, device, located_by, address, state, round, created_at, give_up_at, \
             updated_at) VALUES {rows} RETURNING id, case_id"
        ));
        let mut cells = Vec::with_capacity(chunk.len() * 9);
        for (case, new, _) in chunk {
            let at = case.item.created_at;
            cells.extend([
                Cell::Int(case.item.id),
                text(&new.kind),
                opt_text(new.device.as_deref()),
                text(&new.located_by),
                opt_text(new.address.as_deref()),
                Cell::Int(i64::from(!new.offers.is_empty())),
                ts(at),
                ts(new.give_up_at),
                ts(at),
            ]);
        }
        for row in bound::<DB>(&q, cells).fetch_all(&mut *conn).await? {
            ids.insert(row.int("case_id")?, row.int("id")?);
        }
    }
    let id_of =
        |case: i64| ids.get(&case).copied().ok_or_else(|| StoreError::Write(format!("case {case} has no call")));
    let mut offers = Vec::new();
    for (case, new, _) in &fresh {
        let id = id_of(case.item.id)?;
        offers.extend(new.offers.iter().map(|o| (id, 1, o, case.item.created_at)));
    }
    insert_offers::<DB>(conn, &offers).await?;
    let mut out = Vec::with_capacity(filings.len());
    for (case, new, key) in filings {
        let c = &case.item;
        if !case.created {
            let Some(id) = call_of_case::<DB>(conn, c.id).await? else {
                out.push(Err(StoreError::Conflict(format!("Idempotency-Key {key:?} was used for a case, not a call"))));
                continue;
            };
            let item = load_call::<DB>(conn, id).await?.ok_or_else(|| StoreError::NotFound(format!("call {id}")))?;
            out.push(Ok(Added { item, created: false }));
            continue;
        }
        // As stored: to the microsecond.
        let at = parse_ts(&ts_text(c.created_at))?;
        let round = i64::from(!new.offers.is_empty());
        let mut offers: Vec<OfferRecord> = new
            .offers
            .iter()
            .map(|o| {
                Ok(OfferRecord {
                    responder_id: o.responder_id,
                    round,
                    state: OfferState::Offered.as_str().to_owned(),
                    distance_m: o.distance_m,
                    walk_s: o.walk_s,
                    offered_at: at,
                    expires_at: parse_ts(&ts_text(o.expires_at))?,
                    answered_at: None,
                })
            })
            .collect::<Result<_>>()?;
        offers.sort_by_key(|o| o.responder_id);
        let item = CallRecord {
            id: id_of(c.id)?,
            case_id: c.id,
            case_number: c.number.clone(),
            kind: new.kind.clone(),
            device: new.device.clone(),
            located_by: new.located_by.clone(),
            address: new.address.clone(),
            lat: c.lat,
            lon: c.lon,
            grid: c.grid.clone(),
            caller_id: c.reporter_id,
            state: CallState::Dispatching.as_str().to_owned(),
            owner: None,
            round,
            created_at: at,
            give_up_at: parse_ts(&ts_text(new.give_up_at))?,
            updated_at: at,
            offers,
        };
        out.push(Ok(Added { item, created: true }));
    }
    Ok(out)
}

/// Offers, each `(call, round, offer, offered at)`, a statement per
/// thousand; a responder offered the call before gets it again.
async fn insert_offers<DB>(conn: &mut DB::Connection, offers: &[(i64, i64, &NewOffer, Timestamp)]) -> Result<()>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    for chunk in offers.chunks(1000) {
        let rows = vec!["(?, ?, ?, 'offered', ?, ?, ?, ?)"; chunk.len()].join(", ");
        let q = sql::<DB>(&format!(
            "INSERT INTO call_offers (call_id, responder_id, round, state, distance_m, walk_s, offered_at, expires_at) \
             VALUES {rows} ON CONFLICT (call_id, responder_id) DO UPDATE SET \
             round = excluded.round, state = 'offered', distance_m = excluded.distance_m, walk_s = excluded.walk_s, \
             offered_at = excluded.offered_at, expires_at = excluded.expires_at, answered_at = NULL"
        ));
        let mut cells = Vec::with_capacity(chunk.len() * 7);
        for (call, round, o, at) in chunk {
            cells.extend([
                Cell::Int(*call),
                Cell::Int(o.responder_id),
                Cell::Int(*round),
                Cell::Int(o.distance_m),
                Cell::Int(o.walk_s),
                ts(*at),
                ts(o.expires_at),
            ]);
        }
        bound::<DB>(&q, cells).execute(&mut *conn).await?;
    }
    Ok(())
}

pub(crate) async fn call_of_case<DB>(conn: &mut DB::Connection, case_id: i64) -> Result<Option<i64>>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::Row: Columns,
{
    let q = sql::<DB>("SELECT id FROM calls WHERE case_id = ?");
    let row = bound::<DB>(&q, vec![Cell::Int(case_id)]).fetch_optional(&mut *conn).await?;
    row.map(|r| r.int("id")).transpose()
}

/// The calls a query names, with their offers.
pub(crate) async fn list_calls<DB>(conn: &mut DB::Connection, q: &CallQuery) -> Result<Vec<CallRecord>>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::Row: Columns,
{
    let mut where_ = vec!["1 = 1".to_owned()];
    let mut cells = Vec::new();
    if let Some(unit) = &q.within {
        where_.push(format!("c.{}_code = ?", unit.level().as_str()));
        cells.push(text(unit.as_str()));
    }
    if q.open_only {
        where_.push("k.state <> 'done'".into());
    }
    if let Some(r) = q.offered_to {
        where_.push("EXISTS (SELECT 1 FROM call_offers o WHERE o.call_id = k.id AND o.responder_id = ? AND o.state = 'offered')".into());
        cells.push(Cell::Int(r));
    }
    if let Some(t) = q.due_at {
        // A call's first round is made by the request that filed it; the
        // dispatcher takes over only if that did not happen within seconds
        // (the node stopped in between).
        where_.push(
            "k.state IN ('dispatching', 'alarmed') AND (k.round > 0 OR k.created_at < ?) AND NOT EXISTS \
             (SELECT 1 FROM call_offers o WHERE o.call_id = k.id AND o.state = 'offered' AND o.expires_at > ?)"
                .into(),
        );
        cells.push(ts(t - jiff::SignedDuration::from_secs(FIRST_ROUND_GRACE_S)));
        cells.push(ts(t));
    }
    let limit = if q.limit == 0 { 1000 } else { q.limit.min(10_000) };
    let text_sql =
        sql::<DB>(&format!("SELECT {CALL_COLUMNS} WHERE {} ORDER BY k.id LIMIT {limit}", where_.join(" AND ")));
    let rows = bound::<DB>(&text_sql, cells).fetch_all(&mut *conn).await?;
    let mut calls: Vec<CallRecord> = rows.iter().map(call_from_row).collect::<Result<_>>()?;
    if calls.is_empty() {
        return Ok(calls);
    }
    let ids: Vec<String> = calls.iter().map(|c| c.id.to_string()).collect();
    let offers = sqlx::query::<DB>(&format!(
        "SELECT * FROM call_offers WHERE call_id IN ({}) ORDER BY call_id, offered_at, responder_id",
        ids.join(", ")
    ))
    .fetch_all(&mut *conn)
    .await?;
    for row in &offers {
        let (call_id, offer) = offer_from_row(row)?;
        if let Some(c) = calls.iter_mut().find(|c| c.id == call_id) {
            c.offers.push(offer);
        }
    }
    Ok(calls)
}

pub(crate) async fn load_call<DB>(conn: &mut DB::Connection, id: i64) -> Result<Option<CallRecord>>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::Row: Columns,
{
    let q = sql::<DB>(&format!("SELECT {CALL_COLUMNS} WHERE k.id = ?"));
    let Some(row) = bound::<DB>(&q, vec![Cell::Int(id)]).fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let mut call = call_from_row(&row)?;
    let q = sql::<DB>("SELECT * FROM call_offers WHERE call_id = ? ORDER BY offered_at, responder_id");
    for row in &bound::<DB>(&q, vec![Cell::Int(id)]).fetch_all(&mut *conn).await? {
        call.offers.push(offer_from_row(row)?.1);
    }
    Ok(Some(call))
}

fn conflict(call: i64, what: &str) -> StoreError {
    StoreError::Conflict(format!("call {call} {what}; reload it"))
}

/// The call's rows of an update, each condition checked as it is written;
/// the case id. The caller appends the case events and commits.
pub(crate) async fn apply_update<DB>(conn: &mut DB::Connection, u: &CallUpdate) -> Result<i64>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::Row: Columns,
{
    let id = u.call_id;
    let at = u.at.unwrap_or_else(Timestamp::now);
    // One conditional UPDATE of the call row: state, round and owner.
    let mut set = vec!["updated_at = ?".to_owned()];
    let mut cells = vec![ts(at)];
    if let Some(s) = &u.state {
        set.push("state = ?".into());
        cells.push(text(s));
    }
    if let Some((_, next)) = u.round {
        set.push("round = ?".into());
        cells.push(Cell::Int(next));
    }
    if let Some(r) = u.claim {
        set.push("owner = ?".into());
        cells.push(Cell::Int(r));
    }
    let mut cond = vec!["id = ?".to_owned()];
    cells.push(Cell::Int(id));
    if !u.from.is_empty() {
        cond.push(format!("state IN ({})", vec!["?"; u.from.len()].join(", ")));
        cells.extend(u.from.iter().map(text));
    }
    if let Some((expected, _)) = u.round {
        cond.push("round = ?".into());
        cells.push(Cell::Int(expected));
    }
    if u.claim.is_some() {
        cond.push("owner IS NULL".into());
    }
    let q = sql::<DB>(&format!("UPDATE calls SET {} WHERE {} RETURNING case_id", set.join(", "), cond.join(" AND ")));
    let Some(row) = bound::<DB>(&q, cells).fetch_optional(&mut *conn).await? else {
        return Err(match u.claim {
            Some(_) => conflict(id, "was taken by someone else, or is no longer waiting"),
            None => conflict(id, "moved on meanwhile"),
        });
    };
    let case_id = row.int("case_id")?;
    let now = ts_text(at);
    if let Some(r) = u.claim {
        let q = sql::<DB>("UPDATE responders SET call_id = ?, changed_at = ? WHERE id = ? AND call_id IS NULL");
        let done = bound::<DB>(&q, vec![Cell::Int(id), text(&now), Cell::Int(r)]).execute(&mut *conn).await?;
        if DB::rows_affected(&done) != 1 {
            return Err(StoreError::Conflict(format!("responder {r} is on another call")));
        }
    }
    if u.release {
        let q = sql::<DB>("UPDATE responders SET call_id = NULL, changed_at = ? WHERE call_id = ?");
        bound::<DB>(&q, vec![text(&now), Cell::Int(id)]).execute(&mut *conn).await?;
    }
    for (responder, state) in &u.answers {
        let q = sql::<DB>(
            "UPDATE call_offers SET state = ?, answered_at = ? WHERE call_id = ? AND responder_id = ? AND state = 'offered'",
        );
        let cells = vec![text(state), text(&now), Cell::Int(id), Cell::Int(*responder)];
        if DB::rows_affected(&bound::<DB>(&q, cells).execute(&mut *conn).await?) != 1 {
            return Err(conflict(id, &format!("has no offer out to responder {responder}")));
        }
    }
    if let Some(state) = &u.close_others {
        let q = sql::<DB>("UPDATE call_offers SET state = ?, answered_at = ? WHERE call_id = ? AND state = 'offered'");
        bound::<DB>(&q, vec![text(state), text(&now), Cell::Int(id)]).execute(&mut *conn).await?;
    }
    let round = u.round.map_or(0, |(_, next)| next);
    let offers: Vec<_> = u.offers.iter().map(|o| (id, round, o, at)).collect();
    insert_offers::<DB>(conn, &offers).await?;
    Ok(case_id)
}

/// An audit entry of a responder change.
pub(crate) fn audit(by: &crate::Actor, action: &str, target: String, detail: serde_json::Value) -> crate::NewAudit {
    crate::NewAudit { actor: by.clone(), action: action.into(), target, detail, reason: None }
}

/// The responder and call methods both backends share, given their database
/// type, how they open a write transaction and their audit `append`.
macro_rules! backend_calls {
    ($db:ty) => {
        pub(super) async fn put_responders(&self, rs: &[crate::NewResponder], by: &crate::Actor) -> crate::Result<u64> {
            let mut tx = self.write().await?;
            let n = crate::calls::upsert_responders::<$db>(&mut tx, rs).await?;
            let detail = serde_json::json!({ "count": rs.len() });
            append(&mut tx, &crate::calls::audit(by, "add_responders", "responders".into(), detail)).await?;
            tx.commit().await?;
            Ok(n)
        }

        pub(super) async fn put_responder_user(
            &self,
            id: i64,
            user_id: Option<i64>,
            by: &crate::Actor,
        ) -> crate::Result<bool> {
            let mut tx = self.write().await?;
            let done = crate::calls::link_user::<$db>(&mut tx, id, user_id).await?;
            if done {
                let detail = serde_json::json!({ "user_id": user_id });
                append(&mut tx, &crate::calls::audit(by, "link_responder", format!("responder:{id}"), detail)).await?;
                tx.commit().await?;
            }
            Ok(done)
        }

        pub(super) async fn read_responders(
            &self,
            changed_since: Option<jiff::Timestamp>,
        ) -> crate::Result<Vec<crate::ResponderRecord>> {
            let mut conn = self.pool.acquire().await?;
            crate::calls::list_responders::<$db>(&mut conn, changed_since).await
        }

        pub(super) async fn read_responder_of_user(&self, user_id: i64) -> crate::Result<Option<crate::ResponderRecord>> {
            let mut conn = self.pool.acquire().await?;
            crate::calls::responder_of_user::<$db>(&mut conn, user_id).await
        }

        pub(super) async fn put_duty(&self, id: i64, on: bool, by: &crate::Actor) -> crate::Result<bool> {
            let mut tx = self.write().await?;
            let done = crate::calls::set_duty::<$db>(&mut tx, id, on).await?;
            if done {
                let detail = serde_json::json!({ "on_duty": on });
                append(&mut tx, &crate::calls::audit(by, "set_duty", format!("responder:{id}"), detail)).await?;
                tx.commit().await?;
            }
            Ok(done)
        }

        pub(super) async fn read_call(&self, id: i64) -> crate::Result<Option<crate::CallRecord>> {
            let mut conn = self.pool.acquire().await?;
            crate::calls::load_call::<$db>(&mut conn, id).await
        }

        pub(super) async fn read_call_of_case(&self, case_id: i64) -> crate::Result<Option<crate::CallRecord>> {
            let mut conn = self.pool.acquire().await?;
            match crate::calls::call_of_case::<$db>(&mut conn, case_id).await? {
                Some(id) => crate::calls::load_call::<$db>(&mut conn, id).await,
                None => Ok(None),
            }
        }

        pub(super) async fn read_calls(&self, q: &crate::CallQuery) -> crate::Result<Vec<crate::CallRecord>> {
            let mut conn = self.pool.acquire().await?;
            crate::calls::list_calls::<$db>(&mut conn, q).await
        }
    };
}
pub(crate) use backend_calls;
