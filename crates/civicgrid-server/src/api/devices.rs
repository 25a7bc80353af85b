//! Registered call devices over the API: staff register wall buttons,
//! speakers and residents' addresses within their scope, a resident
//! registers their own home, and either retires them. A call naming a
//! device, or a resident's call without a position, is placed at the
//! registered point (`api/calls.rs`).

use super::extract::{J, Q};
use super::{point_in_grid, scope};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use civicgrid_domain::{DeviceCode, DeviceKind, Permission, UnitCode};
use civicgrid_store::{CallDeviceRecord, ListQuery, NewCallDevice};
use serde::Deserialize;
use serde_json::{Value, json};

/// The device as the API shows it.
pub fn device_json(state: &AppState, d: &CallDeviceRecord) -> Value {
    let grid_name = UnitCode::parse(&d.grid).ok().and_then(|g| state.locator().name(&g).map(str::to_owned));
    json!({
        "code": d.code, "kind": d.kind, "user_id": d.user_id, "household_id": d.household_id,
        "address": d.address, "lat": d.lat, "lon": d.lon, "grid": d.grid, "grid_name": grid_name,
        "community": d.community, "registered_at": d.registered_at, "retired_at": d.retired_at,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    /// Printed on the device; a `home` without one is `HOME-<user id>`.
    code: Option<String>,
    kind: String,
    /// The account that calls with it (or `username`); a resident's home is theirs.
    user_id: Option<i64>,
    username: Option<String>,
    /// The registered household: its building's point and its address.
    household_id: Option<i64>,
    /// Or a point, in `crs` (WGS-84 by default), with an address label.
    lat: Option<f64>,
    lon: Option<f64>,
    crs: Option<String>,
    address: Option<String>,
    /// Take over a code registered to another account or place.
    #[serde(default)]
    replace: bool,
}

/// The account a registration names, or none.
async fn named_user(state: &AppState, body: &Register) -> Result<Option<i64>, ApiError> {
    let by_name = match &body.username {
        Some(name) => {
            let u = state.store.user_by_name(name).await?;
            Some(u.ok_or_else(|| ApiError::unprocessable(format!("no user {name}")))?.id)
        }
        None => None,
    };
    match (body.user_id, by_name) {
        (Some(a), Some(b)) if a != b => Err(ApiError::unprocessable("user_id and username name different users")),
        (Some(id), _) => {
            state.store.user(id).await?.ok_or_else(|| ApiError::unprocessable(format!("no user {id}")))?;
            Ok(Some(id))
        }
        (None, b) => Ok(b),
    }
}

/// `POST /api/v1/call-devices`: register a device, or update or replace it.
pub async fn register(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    J(body): J<Register>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let kind: DeviceKind = body.kind.parse().map_err(ApiError::unprocessable)?;
    let me = caller.principal.user_id;
    let manager = caller.principal.may(Permission::ManageCallDevices);
    let user = match named_user(&state, &body).await? {
        // A resident registers their own home: the account is theirs.
        None if kind == DeviceKind::Home && !manager => Some(me),
        u => u,
    };
    if kind == DeviceKind::Home && user.is_none() {
        return Err(ApiError::unprocessable(
            "a home is the registered address of an account: name user_id or username",
        ));
    }
    let code = match (&body.code, user) {
        (Some(c), _) => DeviceCode::parse(c.trim()).map_err(ApiError::unprocessable)?,
        (None, Some(u)) if kind == DeviceKind::Home => {
            DeviceCode::parse(&format!("HOME-{u}")).map_err(ApiError::internal_with)?
        }
        (None, _) => return Err(ApiError::unprocessable("a device needs its code, as printed on it")),
    };
    let label = body.address.as_deref().map(str::trim).filter(|a| !a.is_empty());
    if label.is_some_and(|a| a.chars().count() > 200) {
        return Err(ApiError::unprocessable("an address has at most 200 characters"));
    }
    let (lat, lon, grid, address) = match (body.household_id, body.lat, body.lon) {
        (Some(h), None, None) => {
            let place = state
                .store
                .household_place(h)
                .await?
                .ok_or_else(|| ApiError::unprocessable(format!("no registered household {h}")))?;
            let grid = UnitCode::parse(&place.grid).map_err(|e| ApiError::internal_with(e.to_string()))?;
            (place.lat, place.lon, grid, label.map_or_else(|| place.label(), str::to_owned))
        }
        (None, Some(lat), Some(lon)) => {
            let (p, grid) = point_in_grid(&state, lat, lon, body.crs.as_deref())?;
            let address =
                label.ok_or_else(|| ApiError::unprocessable("a device placed by a point needs its address"))?;
            (p.lat(), p.lon(), grid, address.to_owned())
        }
        _ => return Err(ApiError::unprocessable("place the device by household_id, or by lat and lon (not both)")),
    };
    let own_home = kind == DeviceKind::Home && user == Some(me);
    let may = |unit: &UnitCode| {
        caller.principal.may_at(Permission::ManageCallDevices, unit)
            || (own_home && caller.principal.may_at(Permission::ReportCases, unit))
    };
    if !may(&grid) {
        return Err(ApiError::forbidden(match (manager, kind == DeviceKind::Home && user == Some(me)) {
            (_, true) => "your registered address must lie within the unit you are registered in",
            (true, false) => "the device lies outside your scope",
            (false, false) => "you may register only your own home",
        }));
    }
    // A code live elsewhere is replaced only by someone who may manage it there.
    if let Some(held) = state.store.call_device(code.as_str()).await?.filter(|d| d.retired_at.is_none()) {
        let theirs = UnitCode::parse(&held.grid).is_ok_and(|g| {
            caller.principal.may_at(Permission::ManageCallDevices, &g)
                || (held.kind == DeviceKind::Home.as_str() && held.user_id == Some(me))
        });
        if !theirs {
            return Err(ApiError {
                status: StatusCode::CONFLICT,
                code: "device_taken",
                message: format!("device {code} is registered elsewhere"),
            });
        }
    }
    let new = NewCallDevice {
        code: code.to_string(),
        kind: kind.as_str().to_owned(),
        user_id: user,
        household_id: body.household_id,
        address,
        lat,
        lon,
        grid,
    };
    let added = state.store.register_call_device(&new, body.replace, &caller.actor()).await?;
    let status = if added.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(device_json(&state, &added.item))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    within: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

/// `GET /api/v1/call-devices?within=…`: the live devices of a unit, paged.
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = p.limit.unwrap_or(50);
    if limit == 0 || limit > ListQuery::MAX_LIMIT {
        return Err(ApiError::bad_request(format!("limit must be 1..={}", ListQuery::MAX_LIMIT)));
    }
    let within = scope(&state, &caller, Permission::ManageCallDevices, p.within.as_deref()).await?;
    let q = ListQuery { within: Some(within), limit, offset: p.offset.unwrap_or(0) };
    let page = state.store.call_devices(&q).await?;
    let items: Vec<Value> = page.items.iter().map(|d| device_json(&state, d)).collect();
    Ok(Json(json!({ "items": items, "total": page.total, "limit": page.limit, "offset": page.offset })))
}

/// `GET /api/v1/call-devices/mine`: the caller's devices, and their home.
pub async fn mine(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let own = state.store.call_devices_of_user(caller.principal.user_id).await?;
    let home = own.iter().find(|d| d.kind == DeviceKind::Home.as_str()).map(|d| device_json(&state, d));
    let items: Vec<Value> = own.iter().map(|d| device_json(&state, d)).collect();
    Ok(Json(json!({ "items": items, "home": home })))
}

/// `DELETE /api/v1/call-devices/{code}`: retire a device (staff in scope, or
/// a resident their own home). Its calls keep naming it.
pub async fn retire(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
) -> Result<StatusCode, ApiError> {
    let hidden = || ApiError::not_found(format!("device {code} not found"));
    let d = state.store.call_device(&code).await?.filter(|d| d.retired_at.is_none()).ok_or_else(hidden)?;
    let grid = UnitCode::parse(&d.grid).map_err(|_| hidden())?;
    let own_home = d.kind == DeviceKind::Home.as_str() && d.user_id == Some(caller.principal.user_id);
    if !own_home && !caller.principal.may_at(Permission::ManageCallDevices, &grid) {
        return Err(hidden());
    }
    if !state.store.retire_call_device(&code, &caller.actor()).await? {
        return Err(hidden());
    }
    Ok(StatusCode::NO_CONTENT)
}
