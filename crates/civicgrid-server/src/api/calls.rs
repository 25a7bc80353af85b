//! One-click calls over the API: responders (the live list, one's own duty,
//! offer and task, positions one at a time or in batches), placing a call
//! (idempotent, in any coordinate system, filed as a case and offered at
//! once), a call with its offers, the responder's answers and progress, and
//! the command centre's take-over.

use super::extract::{J, Q};
use super::{idempotency_key, parse_crs, point_in_grid, scope};
use crate::AppState;
use crate::auth::Caller;
use crate::casework::{self, actor_as_reporter, actor_at};
use crate::dispatch::{self, FixError, Member, responder_view};
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use civicgrid_domain::case::{ActorRef, CaseEvent, CaseView, EventKind, Source};
use civicgrid_domain::{
    CallKind, CallState, DeviceCode, DeviceKind, Level, LocatedBy, OfferState, Permission, Role, UnitCode,
};
use civicgrid_geo::{Crs, LatLng};
use civicgrid_store::{Actor, CallDeviceRecord, CallQuery, CallRecord, NewCall, NewCase, PositionFix};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

/// Positions in one request, at most.
pub const MAX_FIXES: usize = 10_000;

/// Responders in one page of the live list, at most.
pub const MAX_RESPONDER_PAGE: usize = 5_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Within {
    within: Option<String>,
    /// Open calls only (the default).
    open: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponderPage {
    within: Option<String>,
    /// Only those on (or off) duty.
    on_duty: Option<bool>,
    /// Responders per page (1,000 unless given).
    limit: Option<usize>,
    /// The `next_after` of the page before.
    after: Option<i64>,
}

/// `GET /api/v1/responders`: the responders in the caller's scope, live, by
/// id, a page at a time; `next_after` is set while more follow.
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<ResponderPage>,
) -> Result<Json<Value>, ApiError> {
    let limit = p.limit.unwrap_or(1000);
    if limit == 0 || limit > MAX_RESPONDER_PAGE {
        return Err(ApiError::bad_request(format!("limit must be 1..={MAX_RESPONDER_PAGE}")));
    }
    let within = scope(&state, &caller, Permission::DispatchCalls, p.within.as_deref()).await?;
    let now = Timestamp::now();
    let mut page: Vec<Member> = state
        .fleet
        .members(Some(&within))
        .into_iter()
        .filter(|m| p.on_duty.is_none_or(|on| m.on_duty == on) && p.after.is_none_or(|a| m.id > a))
        .take(limit + 1)
        .collect();
    let more = page.len() > limit;
    page.truncate(limit);
    let next_after = if more { page.last().map(|m| m.id) } else { None };
    let items: Vec<_> = page.iter().map(|m| responder_view(m, now, &state.dispatch)).collect();
    Ok(Json(json!({
        "stale_after_s": state.dispatch.stale_after.as_secs(), "items": items, "next_after": next_after,
    })))
}

/// The responder a request acts as: the caller's own, or with
/// `responder_id` one the caller relays for (a rider platform's feed under
/// a command-centre account, within its dispatch scope).
fn acting_as(state: &AppState, caller: &Caller, responder_id: Option<i64>) -> Result<Member, ApiError> {
    let own = state.fleet.member_of_user(caller.principal.user_id);
    let Some(id) = responder_id.filter(|id| own.as_ref().is_none_or(|m| m.id != *id)) else {
        if !caller.principal.may(Permission::RespondToCalls) {
            return Err(ApiError::forbidden("your role does not answer calls"));
        }
        return me(state, caller);
    };
    let m = state.fleet.member(id).ok_or_else(|| ApiError::unprocessable(format!("no responder {id}")))?;
    let grid = UnitCode::parse(&m.grid).map_err(|e| ApiError::internal_with(e.to_string()))?;
    if !caller.principal.may_at(Permission::DispatchCalls, &grid) {
        return Err(ApiError::forbidden(format!("you may not answer for responder {id}")));
    }
    Ok(m)
}

/// The caller's own responder, or 404.
fn me(state: &AppState, caller: &Caller) -> Result<Member, ApiError> {
    state.fleet.member_of_user(caller.principal.user_id).ok_or_else(|| ApiError {
        status: StatusCode::NOT_FOUND,
        code: "no_responder",
        message: "your account is not linked to a responder".into(),
    })
}

/// `GET /api/v1/responders/me`: the caller as a responder, with the offer
/// waiting for them and the call they own.
pub async fn mine(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let m = me(&state, &caller)?;
    let now = Timestamp::now();
    let mut v = json!(responder_view(&m, now, &state.dispatch));
    let offered = state.store.calls(&CallQuery { offered_to: Some(m.id), limit: 5, ..CallQuery::default() }).await?;
    let offer = offered.iter().find_map(|c| {
        let o = c.offers.iter().find(|o| o.responder_id == m.id && o.state == OfferState::Offered.as_str())?;
        (o.expires_at > now).then(|| {
            let mut call = call_json(&state, c, false);
            call["distance_m"] = json!(o.distance_m);
            call["walk_s"] = json!(o.walk_s);
            call["offered_at"] = json!(o.offered_at);
            call["expires_at"] = json!(o.expires_at);
            call["call_id"] = json!(c.id);
            call
        })
    });
    v["offer"] = json!(offer);
    v["task"] = match m.call {
        Some(id) => json!(state.store.call(id).await?.map(|c| call_json(&state, &c, false))),
        None => Value::Null,
    };
    Ok(Json(v))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Duty {
    on_duty: bool,
}

/// `PUT /api/v1/responders/me/duty`.
pub async fn duty(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    J(body): J<Duty>,
) -> Result<Json<Value>, ApiError> {
    let m = me(&state, &caller)?;
    if !state.store.set_duty(m.id, body.on_duty, &caller.actor()).await? {
        return Err(ApiError::not_found(format!("responder {}", m.id)));
    }
    state.fleet.set_duty(m.id, body.on_duty);
    let m = state.fleet.member(m.id).unwrap_or(m);
    Ok(Json(json!(responder_view(&m, Timestamp::now(), &state.dispatch))))
}

/// `PUT /api/v1/responders/{id}/duty`: the command centre (a roster, a
/// feed) puts a responder of its scope on or off duty.
pub async fn duty_of(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    J(body): J<Duty>,
) -> Result<Json<Value>, ApiError> {
    let hidden = || ApiError::not_found(format!("responder {id} not found"));
    let m = state.fleet.member(id).ok_or_else(hidden)?;
    let grid = UnitCode::parse(&m.grid).map_err(|_| hidden())?;
    if !caller.principal.may_at(Permission::DispatchCalls, &grid) {
        return Err(hidden());
    }
    if !state.store.set_duty(id, body.on_duty, &caller.actor()).await? {
        return Err(hidden());
    }
    state.fleet.set_duty(id, body.on_duty);
    let m = state.fleet.member(id).unwrap_or(m);
    Ok(Json(json!(responder_view(&m, Timestamp::now(), &state.dispatch))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fix {
    /// Omitted: the caller's own responder.
    responder_id: Option<i64>,
    lat: f64,
    lon: f64,
    crs: Option<String>,
    /// The device's time (RFC 3339).
    at: Timestamp,
    /// Metres, as the device reports it; kept out of the decisions.
    #[serde(default)]
    #[allow(dead_code, reason = "accepted for devices that send it")]
    accuracy_m: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Fixes {
    Batch { positions: Vec<Fix> },
    One(Fix),
}

/// `POST /api/v1/responders/locations`: one position or a batch. Each is
/// checked (the responder exists and the caller may report for them, the
/// point lies in the district, the time is not ahead of the clock, the move
/// from the last one is possible); those that pass are written in one
/// transaction before the answer and take effect in the live index. A
/// single position that fails is a 422; a batch answers which failed.
pub async fn locations(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    J(body): J<Fixes>,
) -> Result<Json<Value>, ApiError> {
    let (fixes, single) = match body {
        Fixes::Batch { positions } => (positions, false),
        Fixes::One(f) => (vec![f], true),
    };
    if fixes.len() > MAX_FIXES {
        return Err(ApiError::unprocessable(format!("at most {MAX_FIXES} positions to a request")));
    }
    let own = state.fleet.member_of_user(caller.principal.user_id).map(|m| m.id);
    let now = Timestamp::now();
    let mut ok: Vec<PositionFix> = Vec::with_capacity(fixes.len());
    let mut rejected = Vec::new();
    for (i, f) in fixes.into_iter().enumerate() {
        let checked = check_fix(&state, &caller, own, &f, now);
        match checked {
            Ok(fix) => ok.push(fix),
            Err((code, message)) => {
                if single {
                    let status =
                        if code == "forbidden" { StatusCode::FORBIDDEN } else { StatusCode::UNPROCESSABLE_ENTITY };
                    return Err(ApiError { status, code, message });
                }
                rejected.push(
                    json!({ "index": i, "responder_id": f.responder_id.or(own), "error": code, "message": message }),
                );
            }
        }
    }
    // A batch may hold several fixes of one responder: keep the latest.
    ok.sort_by_key(|f| (f.responder_id, f.at));
    ok.dedup_by(|later, earlier| {
        let same = later.responder_id == earlier.responder_id;
        if same {
            *earlier = *later;
        }
        same
    });
    if !ok.is_empty() {
        state.store.record_positions(&ok).await?;
        state.fleet.moved(&ok);
    }
    Ok(Json(json!({ "accepted": ok.len(), "rejected": rejected })))
}

fn check_fix(
    state: &AppState,
    caller: &Caller,
    own: Option<i64>,
    f: &Fix,
    now: Timestamp,
) -> Result<PositionFix, (&'static str, String)> {
    let id =
        f.responder_id.or(own).ok_or(("no_responder", "name a responder_id: your account is no responder".into()))?;
    let crs = parse_crs(f.crs.as_deref()).map_err(|e| ("bad_crs", e.message))?;
    let p = crs.to_wgs84(f.lat, f.lon).map_err(|e| ("out_of_range", e.to_string()))?;
    let fix = PositionFix { responder_id: id, lat: p.lat(), lon: p.lon(), at: f.at };
    // Someone else's position: a feed (a rider platform) under a
    // command-centre account, within its scope.
    let allowed = |grid: &str| {
        Some(id) == own || UnitCode::parse(grid).is_ok_and(|g| caller.principal.may_at(Permission::DispatchCalls, &g))
    };
    let unknown = |e: FixError| match e {
        FixError::UnknownResponder => ("unknown_responder", format!("no responder {id}")),
        e => (e.code(), e.message()),
    };
    state.fleet.check(&fix, now, &state.dispatch, allowed).map(|()| fix).map_err(unknown)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Place {
    /// Omitted: the device's registered point, or the caller's home.
    lat: Option<f64>,
    lon: Option<f64>,
    crs: Option<String>,
    kind: Option<String>,
    /// A registered button or speaker.
    device: Option<String>,
    #[serde(default)]
    note: String,
}

/// The call as the API shows it; `full` adds where the owner is (for the
/// command centre and the owner, not for the caller).
pub fn call_json(state: &AppState, c: &CallRecord, full: bool) -> Value {
    let names = |id: i64| state.fleet.member(id);
    let grid_name = UnitCode::parse(&c.grid).ok().and_then(|g| state.locator().name(&g).map(str::to_owned));
    let at = LatLng::new(c.lat, c.lon).ok();
    let owner = c.owner.and_then(names).map(|m| {
        let distance = match (at, m.pos) {
            (Some(a), Some((p, _))) => Some(a.haversine_m(p).round()),
            _ => None,
        };
        // The walk's detour over the streets, as measured when the offer was made.
        let detour = c
            .offers
            .iter()
            .find(|o| o.responder_id == m.id && o.distance_m > 0)
            .map_or(1.0, |o| (o.walk_s as f64 * state.dispatch.walk_mps / o.distance_m as f64).max(1.0));
        let mut o = json!({
            "responder_id": m.id, "first_name": m.first_name(), "team": m.team,
            "distance_m": distance,
            "eta_s": distance.map(|d| (d * detour / state.dispatch.walk_mps).round()),
        });
        if full {
            o["lat"] = json!(m.pos.map(|(p, _)| p.lat()));
            o["lon"] = json!(m.pos.map(|(p, _)| p.lon()));
        }
        o
    });
    let offers: Vec<Value> = c
        .offers
        .iter()
        .map(|o| {
            let m = names(o.responder_id);
            json!({
                "responder_id": o.responder_id,
                "first_name": m.as_ref().map(|m| m.first_name().to_owned()),
                "team": m.as_ref().map(|m| m.team),
                "state": o.state, "distance_m": o.distance_m, "walk_s": o.walk_s, "round": o.round,
                "offered_at": o.offered_at, "expires_at": o.expires_at, "answered_at": o.answered_at,
            })
        })
        .collect();
    let gcj = at.map(|p| Crs::Gcj02.from_wgs84(p));
    json!({
        "id": c.id, "case_id": c.case_id, "case_number": c.case_number, "kind": c.kind, "device": c.device,
        "located_by": c.located_by, "address": c.address,
        "state": c.state, "lat": c.lat, "lon": c.lon,
        "gcj02": gcj.map(|(lat, lon)| json!({ "lat": lat, "lon": lon })),
        "grid": c.grid, "grid_name": grid_name,
        "created_at": c.created_at, "give_up_at": c.give_up_at, "updated_at": c.updated_at, "round": c.round,
        "owner": owner, "offers": offers,
    })
}

/// `POST /api/v1/calls`: a resident (or their registered button) calls for
/// help. Needs an `Idempotency-Key`: a button pressed five times on a bad
/// network makes one call. The call is filed as a case of its grid,
/// dispatched to the grid, and offered to the best free responders before
/// the answer.
pub async fn place(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    J(body): J<Place>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let key = idempotency_key(&headers)?
        .ok_or_else(|| ApiError::bad_request("a call needs an Idempotency-Key header, the same on every retry"))?;
    let kind: CallKind = match body.kind.as_deref() {
        Some(k) => k.parse().map_err(ApiError::unprocessable)?,
        None => CallKind::Other,
    };
    if body.note.chars().count() > 500 {
        return Err(ApiError::unprocessable("a note has at most 500 characters"));
    }
    let device = match &body.device {
        Some(d) => Some(usable_device(&state, &caller, d).await?),
        None => None,
    };
    let (point, grid, located_by, address) = match (body.lat, body.lon) {
        (Some(lat), Some(lon)) => {
            let (point, grid) = point_in_grid(&state, lat, lon, body.crs.as_deref())?;
            (point, grid, LocatedBy::Position, None)
        }
        (None, None) => {
            let (registered, by) = match device {
                Some(d) => (d, LocatedBy::Device),
                None => (home_of(&state, &caller).await?, LocatedBy::Home),
            };
            let (point, grid) = registered_point(&state, &registered)?;
            (point, grid, by, Some(registered.address))
        }
        _ => return Err(ApiError::unprocessable("give both lat and lon, or neither")),
    };
    let district =
        grid.at_level(Level::District).ok_or_else(|| ApiError::internal_with("a grid without a district"))?;
    let reporter = actor_at(&caller, Permission::ReportCases, &grid)
        .or_else(|| actor_as_reporter(&caller))
        .ok_or_else(|| ApiError::forbidden("you hold no role"))?;
    let now = Timestamp::now();
    let category = kind.category();
    let system = ActorRef { user_id: 0, username: "system:dispatcher".into(), role: Role::Operator, unit: district };
    let send_as = system.clone();
    let mut first = CaseEvent {
        at: now,
        actor: reporter,
        kind: EventKind::Report { source: Source::OneClickCall, grid: grid.clone(), category: Some(category.clone()) },
        note: body.note.trim().to_owned(),
        photos: Vec::new(),
        location: Some((point.lon(), point.lat())),
    };
    if let Some(a) = &address {
        first.note = format!("登记地址 {a}；{}", first.note).trim_end_matches('；').to_owned();
    }
    if let Some(d) = &body.device {
        first.note = format!("设备 {d}；{}", first.note).trim_end_matches('；').to_owned();
    }
    let file = CaseEvent {
        at: now,
        actor: system.clone(),
        kind: EventKind::File { category: category.clone() },
        note: "一键呼叫自动立案".into(),
        photos: Vec::new(),
        location: None,
    };
    let send = CaseEvent {
        at: now,
        actor: send_as,
        kind: EventKind::Dispatch { unit: grid.clone() },
        note: "一键呼叫派往所在网格，就近派单".into(),
        photos: Vec::new(),
        location: None,
    };
    // The first round is chosen now and filed with the call, in one transaction.
    let ranked = dispatch::candidates(&state, point, grid.as_str(), kind.as_str(), &[], now).await;
    let (offers, offered) = dispatch::offers_to(&state, &ranked, now, &system);
    let mut view = CaseView::open(&first).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let mut events = vec![first];
    let mut records = vec![(casework::to_record(1, &events[0])?, view.state.as_str().to_owned())];
    for e in [file, send].into_iter().chain(offered) {
        view.apply_with(casework::rules(), &e).map_err(|x| ApiError::internal_with(x.to_string()))?;
        events.push(e);
        let seq = events.len() as i64;
        records.push((casework::to_record(seq, &events[events.len() - 1])?, view.state.as_str().to_owned()));
    }
    let summary = casework::summary(&state.cases, &view, &events, None);
    let name = casework::rules().catalogue.get(&category).map_or("一键呼叫", |c| c.name_zh.as_str());
    let new = NewCase {
        source: Source::OneClickCall.as_str().to_owned(),
        category: category.to_string(),
        title: format!("一键呼叫：{name}"),
        description: body.note.trim().to_owned(),
        lat: point.lat(),
        lon: point.lon(),
        grid,
        reporter_id: Some(caller.principal.user_id),
    };
    let call = NewCall {
        kind: kind.as_str().to_owned(),
        device: body.device.clone(),
        located_by: located_by.as_str().to_owned(),
        address,
        give_up_at: now + state.dispatch.give_up,
        offers,
    };
    let key = format!("call:{}:{key}", caller.principal.user_id);
    let added = match state.store.open_call(&call, &new, &records, &summary, Some(&key), &caller.actor()).await {
        Ok(added) => added,
        Err(e) => {
            dispatch::unoffer(&state, &call.offers);
            return Err(e.into());
        }
    };
    if !added.created {
        // A retry: the offers chosen for it were never made.
        dispatch::unoffer(&state, &call.offers);
    }
    let item = added.item;
    let status = if added.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(call_json(&state, &item, false))))
}

/// The registered device a call names, if the caller may call with it:
/// their own, or one the caller relays for (the command centre over its grid).
async fn usable_device(state: &AppState, caller: &Caller, code: &str) -> Result<CallDeviceRecord, ApiError> {
    let code = DeviceCode::parse(code).map_err(ApiError::unprocessable)?;
    let unknown = || ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "unknown_device",
        message: format!("device {code} is not registered, or was retired"),
    };
    let d = state.store.call_device(code.as_str()).await?.filter(|d| d.retired_at.is_none()).ok_or_else(unknown)?;
    let relays = UnitCode::parse(&d.grid).is_ok_and(|g| caller.principal.may_at(Permission::DispatchCalls, &g));
    if d.user_id != Some(caller.principal.user_id) && !relays {
        return Err(ApiError::forbidden(format!("device {code} is registered to someone else")));
    }
    Ok(d)
}

/// The caller's registered address, or 422: a call needs a place.
async fn home_of(state: &AppState, caller: &Caller) -> Result<CallDeviceRecord, ApiError> {
    let own = state.store.call_devices_of_user(caller.principal.user_id).await?;
    own.into_iter().find(|d| d.kind == DeviceKind::Home.as_str()).ok_or_else(|| ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "no_position",
        message: "a call needs a position (lat and lon) or a registered address; none is registered for your account"
            .into(),
    })
}

/// A registered point and the grid holding it now (the one it was
/// registered in, should the boundaries have moved off it since).
fn registered_point(state: &AppState, d: &CallDeviceRecord) -> Result<(LatLng, UnitCode), ApiError> {
    let point = LatLng::new(d.lat, d.lon).map_err(|e| ApiError::internal_with(e.to_string()))?;
    match state.locator().grid_of(point).cloned() {
        Some(grid) => Ok((point, grid)),
        None => Ok((point, UnitCode::parse(&d.grid).map_err(|e| ApiError::internal_with(e.to_string()))?)),
    }
}

/// `GET /api/v1/calls`: the calls of the caller's scope (open ones by default).
pub async fn calls(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<Within>,
) -> Result<Json<Value>, ApiError> {
    let within = scope(&state, &caller, Permission::DispatchCalls, p.within.as_deref()).await?;
    let q = CallQuery { within: Some(within), open_only: p.open.unwrap_or(true), limit: 1000, ..CallQuery::default() };
    let items: Vec<Value> = state.store.calls(&q).await?.iter().map(|c| call_json(&state, c, true)).collect();
    Ok(Json(json!({ "items": items })))
}

/// The call, if the caller may see it: who placed it, a responder it was
/// offered to, or the command centre over its grid (404 otherwise).
async fn visible(state: &AppState, caller: &Caller, id: i64) -> Result<(CallRecord, bool), ApiError> {
    let hidden = || ApiError::not_found(format!("call {id} not found"));
    let call = state.store.call(id).await?.ok_or_else(hidden)?;
    let grid = UnitCode::parse(&call.grid).map_err(|_| hidden())?;
    if caller.principal.may_at(Permission::DispatchCalls, &grid) {
        return Ok((call, true));
    }
    let me = state.fleet.member_of_user(caller.principal.user_id).map(|m| m.id);
    if me.is_some_and(|m| call.owner == Some(m) || call.offers.iter().any(|o| o.responder_id == m)) {
        let owner = call.owner == me;
        return Ok((call, owner));
    }
    if call.caller_id == Some(caller.principal.user_id) || caller.principal.may_at(Permission::ViewCases, &grid) {
        return Ok((call, false));
    }
    Err(hidden())
}

/// `GET /api/v1/calls/{id}`.
pub async fn one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let (call, full) = visible(&state, &caller, id).await?;
    Ok(Json(call_json(&state, &call, full)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    accept: bool,
    /// A responder the caller relays for (see `acting_as`); the caller's own by default.
    responder_id: Option<i64>,
}

/// `POST /api/v1/calls/{id}/answer`: the responder accepts or declines.
pub async fn answer(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    J(body): J<Answer>,
) -> Result<Json<Value>, ApiError> {
    let m = acting_as(&state, &caller, body.responder_id)?;
    visible(&state, &caller, id).await?;
    let call = dispatch::answer(&state, id, &m, &caller.actor(), body.accept).await?;
    Ok(Json(call_json(&state, &call, true)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    step: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    photos: Vec<String>,
    responder_id: Option<i64>,
}

/// `POST /api/v1/calls/{id}/progress`: the owner is on the way, on the
/// scene, or done (with a note and photos from `POST /api/v1/attachments`).
pub async fn progress(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    J(body): J<Progress>,
) -> Result<Json<Value>, ApiError> {
    let m = acting_as(&state, &caller, body.responder_id)?;
    visible(&state, &caller, id).await?;
    let to: CallState = body.step.parse().map_err(ApiError::unprocessable)?;
    if body.note.chars().count() > 2000 {
        return Err(ApiError::unprocessable("a note has at most 2,000 characters"));
    }
    let photos = super::attachments::own_photos(&state, &caller, &body.photos).await?;
    let call = dispatch::progress(&state, id, &m, &caller.actor(), to, &body.note, photos).await?;
    Ok(Json(call_json(&state, &call, true)))
}

/// The command centre's operator at the call's grid, or 404 (403 without the permission anywhere).
async fn operator(state: &AppState, caller: &Caller, id: i64) -> Result<(CallRecord, ActorRef), ApiError> {
    let (call, _) = visible(state, caller, id).await?;
    let grid = UnitCode::parse(&call.grid).map_err(|e| ApiError::internal_with(e.to_string()))?;
    let actor = actor_at(caller, Permission::DispatchCalls, &grid)
        .ok_or_else(|| ApiError::forbidden("only the command centre over the call's grid may take it over"))?;
    Ok((call, actor))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    responder_id: i64,
}

/// `POST /api/v1/calls/{id}/assign`: the command centre gives the call to
/// an on-duty responder by hand.
pub async fn assign(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    J(body): J<Assign>,
) -> Result<Json<Value>, ApiError> {
    let (_, actor) = operator(&state, &caller, id).await?;
    let r = state
        .fleet
        .member(body.responder_id)
        .ok_or_else(|| ApiError::unprocessable(format!("no responder {}", body.responder_id)))?;
    if !r.on_duty {
        return Err(ApiError::unprocessable(format!("{} is off duty", r.name)));
    }
    let call = dispatch::assign(&state, id, &r, &caller.actor(), actor).await?;
    Ok(Json(call_json(&state, &call, true)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    #[serde(default)]
    note: String,
}

/// `POST /api/v1/calls/{id}/callback`: the operator phoned the caller back.
pub async fn callback(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    J(body): J<Note>,
) -> Result<Json<Value>, ApiError> {
    take_over(state, caller, id, body, false).await
}

/// `POST /api/v1/calls/{id}/escalate`: the operator raises the alarm now.
pub async fn escalate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    J(body): J<Note>,
) -> Result<Json<Value>, ApiError> {
    take_over(state, caller, id, body, true).await
}

async fn take_over(
    state: AppState,
    caller: Caller,
    id: i64,
    body: Note,
    escalate: bool,
) -> Result<Json<Value>, ApiError> {
    if body.note.chars().count() > 500 {
        return Err(ApiError::unprocessable("a note has at most 500 characters"));
    }
    let (_, actor) = operator(&state, &caller, id).await?;
    let by: Actor = caller.actor();
    let call = dispatch::operator_note(&state, id, &by, actor, escalate, &body.note).await?;
    Ok(Json(call_json(&state, &call, true)))
}
