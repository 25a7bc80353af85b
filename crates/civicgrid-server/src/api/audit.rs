//! The audit log for auditors: filtered, paged, newest first.

use super::extract::Q;
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Extension, State};
use civicgrid_domain::{Level, Permission};
use civicgrid_store::AuditQuery;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    /// RFC 3339, e.g. 2026-11-26T00:00:00Z.
    since: Option<String>,
    until: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

fn timestamp(name: &str, v: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    v.map(|s| {
        s.parse::<Timestamp>().map_err(|e| ApiError::bad_request(format!("{name}={s:?} is not an RFC 3339 time: {e}")))
    })
    .transpose()
}

/// The log spans the whole installation, so reading it takes the auditor
/// role over a whole district.
pub async fn read(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<AuditParams>,
) -> Result<Json<Value>, ApiError> {
    if !caller.principal.scopes(Permission::ReadAudit).iter().any(|s| s.level() == Level::District) {
        return Err(ApiError::forbidden("reading the audit log takes the auditor role over a whole district"));
    }
    let limit = p.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request("limit must be 1..=1000"));
    }
    let q = AuditQuery {
        actor: p.actor,
        action: p.action,
        target: p.target,
        since: timestamp("since", p.since.as_deref())?,
        until: timestamp("until", p.until.as_deref())?,
        limit,
        offset: p.offset.unwrap_or(0),
    };
    let page = state.store.audit_log(&q).await?;
    Ok(Json(json!({ "items": page.items, "total": page.total, "limit": page.limit, "offset": page.offset })))
}
