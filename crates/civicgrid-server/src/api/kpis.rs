//! Case indicators per unit over a period, computed by the domain's one
//! definition of each (`civicgrid_domain::kpi`).

use super::extract::Q;
use crate::AppState;
use crate::auth::Caller;
use crate::casework;
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Extension, State};
use civicgrid_domain::{Level, Period, Permission, UnitKpi};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiParams {
    unit: Option<String>,
    /// RFC 3339; the period is [from, to).
    from: String,
    to: String,
    /// The level to group by: grid, community, street or district (default: one below the unit).
    by: Option<String>,
}

pub async fn compute(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<KpiParams>,
) -> Result<Json<Value>, ApiError> {
    let within = super::scope(&state, &caller, Permission::ViewCases, p.unit.as_deref()).await?;
    let time = |name: &str, v: &str| {
        v.parse::<Timestamp>().map_err(|e| ApiError::bad_request(format!("{name}={v:?} is not an RFC 3339 time: {e}")))
    };
    let period = Period { from: time("from", &p.from)?, to: time("to", &p.to)? };
    if period.to <= period.from {
        return Err(ApiError::bad_request("`to` must be after `from`"));
    }
    let by = match p.by.as_deref() {
        Some(b) => b.parse::<Level>().map_err(|e| ApiError::bad_request(e.to_string()))?,
        None => within.level().child().unwrap_or(Level::Grid),
    };
    if by < within.level() {
        return Err(ApiError::bad_request(format!("cannot group a {} by {}", within.level().as_str(), by.as_str())));
    }
    let table = casework::kpi_table(&state, &within, period, by, Timestamp::now()).await?;
    let json_of = |k: &UnitKpi| {
        let mut v = json!(k);
        v["on_time_closure_rate"] = json!(k.on_time_closure.value());
        v["rework_rate"] = json!(k.rework.value());
        v
    };
    let units: Vec<Value> = table
        .units
        .iter()
        .map(|(code, k)| {
            let mut v = json_of(k);
            v["unit"] = json!(code);
            v
        })
        .collect();
    Ok(Json(json!({ "unit": within, "by": by, "from": period.from, "to": period.to, "units": units,
                    "total": json_of(&table.total), "invalid_histories": table.invalid_histories })))
}
