//! The 15-minute service circle pages: the map of a unit coloured by minutes
//! to the nearest facility of a category, coverage per unit, the gap table
//! with its exports and the proposals for new sites; and one compound's
//! sheet. Rendered from the same model as `GET /api/v1/access/*`.

use super::cases::pairs;
use super::pages::{respond_with, shell};
use super::render::{PageError, Visitor};
use crate::AppState;
use crate::api::access::{compound_in_scope, compound_sheet, gap_rows, unit_json};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use civicgrid_domain::{FacilityCategory, Level, Permission, UnitCode};
use serde_json::{Value, json};

/// Rows of the gap table on the page; the exports hold them all.
const GAP_ROWS: usize = 300;

/// The value of one query parameter.
fn param(q: Option<&str>, name: &str) -> Option<String> {
    pairs(q).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// `GET /access?unit=&category=`: a unit's 15-minute service circles.
pub async fn show(State(state): State<AppState>, visitor: Visitor, RawQuery(q): RawQuery) -> Response {
    let shell = shell(&state).await;
    let page = async {
        let me = visitor.caller.as_ref().ok_or_else(PageError::forbidden)?;
        let unit_param = param(q.as_deref(), "unit");
        let within = crate::api::scope(&state, me, Permission::ViewOrg, unit_param.as_deref()).await?;
        let category = param(q.as_deref(), "category")
            .and_then(|c| c.parse::<FacilityCategory>().ok())
            .unwrap_or(FacilityCategory::Clinic);
        let model = state.access.get(state.store.as_ref()).await?;
        let by = within.level().child().unwrap_or(Level::Grid);
        let (units, whole) = model.units(&within, by);
        let names: std::collections::HashMap<_, _> =
            state.store.units(by, Some(&within)).await?.into_iter().map(|u| (u.code, u.name)).collect();
        let rows: Vec<Value> = units
            .iter()
            .map(|(code, a)| {
                let mut v = unit_json(a);
                v["code"] = json!(code);
                v["name"] = json!(names.get(code));
                v
            })
            .collect();
        let gaps = gap_rows(&model, &within, true);
        let gap_total = gaps.len();
        let name = state.store.unit(&within).await?.map(|u| u.name);
        let q = format!("unit={within}&category={category}");
        Ok(json!({
            "scope": { "code": within, "name": name },
            "category": category,
            "categories": FacilityCategory::ALL,
            "whole": unit_json(&whole),
            "by": by.as_str(),
            "units": rows,
            "gaps": gaps.into_iter().take(GAP_ROWS).collect::<Vec<Value>>(),
            "gap_total": gap_total,
            "requirements": model.circles.requirements(),
            "speed": model.speed.m_per_min(),
            "export": { "csv": format!("/api/v1/access/compounds?unit={within}&format=csv"),
                        "xlsx": format!("/api/v1/access/compounds?unit={within}&format=xlsx") },
            "map": { "pick": "#whatif-form", "layers": [
                { "url": format!("/api/v1/access/map?{q}&by=grid"), "kind": "access-grid", "interactive": false },
                { "url": format!("/api/v1/access/map?{q}&by=compound"), "kind": "access-compound", "interactive": true },
            ] },
        }))
    }
    .await;
    respond_with(&visitor, &shell, StatusCode::OK, "access.html", page)
}

/// `GET /access/compounds/{code}`: one compound's sheet.
pub async fn compound(State(state): State<AppState>, visitor: Visitor, Path(code): Path<String>) -> Response {
    let shell = shell(&state).await;
    let page = async {
        let me = visitor.caller.as_ref().ok_or_else(PageError::forbidden)?;
        let model = state.access.get(state.store.as_ref()).await?;
        let x = compound_in_scope(&model, me, &code).map_err(|_| PageError::no_page())?;
        let mut sheet = compound_sheet(&model, x);
        let grid: &UnitCode = &x.grid;
        sheet["grid_name"] = json!(state.store.unit(grid).await?.map(|u| u.name));
        sheet["map"] = json!({
            "layers": [{ "url": format!("/api/v1/grids?within={grid}"), "kind": "outline", "interactive": false }],
            "markers": [{ "kind": "compound", "lat": x.lat, "lon": x.lon, "name": x.name }],
        });
        Ok(sheet)
    }
    .await;
    respond_with(&visitor, &shell, StatusCode::OK, "access_compound.html", page)
}
