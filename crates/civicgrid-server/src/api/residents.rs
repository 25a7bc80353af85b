//! Residents' personal data: masked lists within the caller's scope, and the
//! full numbers only on an explicit, reasoned and audited request.

use super::extract::{J, Q};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Extension, Path, State};
use civicgrid_domain::{IdNumber, Permission, PhoneNumber, UnitCode};
use civicgrid_store::{ListQuery, ResidentSearch, ResidentView};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidentParams {
    unit: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
    /// Find by an exact phone number.
    phone: Option<String>,
    /// Find by an exact ID number.
    id_number: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<ResidentParams>,
) -> Result<Json<Value>, ApiError> {
    let within = super::scope(&state, &caller, Permission::ViewResidents, p.unit.as_deref()).await?;
    let limit = p.limit.unwrap_or(50);
    if limit == 0 || limit > ListQuery::MAX_LIMIT {
        return Err(ApiError::bad_request(format!("limit must be 1..={}", ListQuery::MAX_LIMIT)));
    }
    let search = match (&p.phone, &p.id_number) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request("search by phone or by id_number, not both")),
        (Some(ph), None) => {
            Some(ResidentSearch::Phone(PhoneNumber::parse(ph).map_err(|e| ApiError::bad_request(e.to_string()))?))
        }
        (None, Some(id)) => {
            Some(ResidentSearch::IdNumber(IdNumber::parse(id).map_err(|e| ApiError::bad_request(e.to_string()))?))
        }
        (None, None) => None,
    };
    let q = ListQuery { within: Some(within.clone()), limit, offset: p.offset.unwrap_or(0) };
    let page = state.store.residents(&q, search.as_ref()).await?;
    Ok(Json(
        json!({ "items": page.items, "total": page.total, "limit": page.limit, "offset": page.offset, "unit": within }),
    ))
}

/// The resident, if it lies within the caller's scope for `p`; otherwise 404,
/// the same answer as for a resident who does not exist.
async fn visible(state: &AppState, caller: &Caller, p: Permission, id: i64) -> Result<ResidentView, ApiError> {
    let missing = || ApiError::not_found(format!("resident {id} not found"));
    let r = state.store.resident(id).await?.ok_or_else(missing)?;
    let grid = UnitCode::parse(&r.grid).map_err(|_| missing())?;
    if caller.principal.may_at(p, &grid) { Ok(r) } else { Err(missing()) }
}

pub async fn one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<ResidentView>, ApiError> {
    Ok(Json(visible(&state, &caller, Permission::ViewResidents, id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unmask {
    /// Why the full numbers are needed; kept in the audit log.
    reason: String,
}

/// The full ID and phone numbers; the view and its reason go to the audit log.
pub async fn unmask(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    J(body): J<Unmask>,
) -> Result<Json<Value>, ApiError> {
    let reason = body.reason.trim();
    if reason.chars().count() < 4 || reason.chars().count() > 200 {
        return Err(ApiError::unprocessable("give a reason of 4 to 200 characters"));
    }
    visible(&state, &caller, Permission::UnmaskPersonalData, id).await?;
    let full = state
        .store
        .resident_in_full(id, reason, &caller.actor())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("resident {id} not found")))?;
    Ok(Json(json!(full)))
}
