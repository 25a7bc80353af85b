//! The 15-minute service circles over the API: accessibility per unit, the
//! map coloured by minutes, the gap table (JSON, CSV, XLSX), one compound's
//! sheet, where to build next, and what one more facility would change.

use super::extract::{J, Q};
use super::{parse_crs, scope};
use crate::AppState;
use crate::access::{AccessModel, CompoundAt, UnitAccess};
use crate::auth::Caller;
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use civicgrid_domain::lifecircle::LEVELS;
use civicgrid_domain::{FacilityCategory, Level, Permission, UnitCode};
use civicgrid_geo::{Crs, LatLng, NodeId};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// The most sites one proposal may ask for.
pub const MAX_PICKS: usize = 50;

fn category(s: &str) -> Result<FacilityCategory, ApiError> {
    s.parse().map_err(ApiError::bad_request)
}

/// The level a table groups by: `by`, or one below the unit (grids under a community).
fn level_by(within: &UnitCode, by: Option<&str>) -> Result<Level, ApiError> {
    let by = match by {
        Some(b) => b.parse::<Level>().map_err(|e| ApiError::bad_request(e.to_string()))?,
        None => within.level().child().unwrap_or(Level::Grid),
    };
    if by < within.level() {
        return Err(ApiError::bad_request(format!("cannot group a {} by {}", within.level().as_str(), by.as_str())));
    }
    Ok(by)
}

/// A unit's accessibility as JSON: shares next to the household counts.
pub fn unit_json(a: &UnitAccess) -> Value {
    let share = |n: u64| if a.households == 0 { Value::Null } else { json!(n as f64 / a.households as f64) };
    let categories: serde_json::Map<String, Value> = a
        .categories
        .iter()
        .map(|(c, x)| {
            (
                c.as_str().to_owned(),
                json!({
                    "mean_minutes": x.mean_minutes,
                    "covered": x.covered,
                    "share": x.covered.iter().map(|n| share(*n)).collect::<Vec<_>>(),
                }),
            )
        })
        .collect();
    json!({
        "households": a.households, "compounds": a.compounds, "all_met": a.all_met, "all_met_share": share(a.all_met),
        "categories": categories,
    })
}

/// The requirements table and walking speed every answer is computed with.
fn settings(model: &AccessModel) -> Value {
    json!({
        "levels_minutes": LEVELS,
        "speed_m_per_min": model.speed.m_per_min(),
        "requirements": model.circles.requirements(),
        "facilities": model.facilities,
        "network_nodes": model.graph.node_count(),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitsParams {
    unit: Option<String>,
    by: Option<String>,
}

/// `GET /api/v1/access/units?unit=&by=`: per unit one level down (or `by`)
/// and for the unit itself: households, the share within 5/10/15 minutes of
/// each category, the mean walk, and the share meeting every requirement.
pub async fn units(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<UnitsParams>,
) -> Result<Json<Value>, ApiError> {
    let within = scope(&state, &caller, Permission::ViewOrg, p.unit.as_deref()).await?;
    let by = level_by(&within, p.by.as_deref())?;
    let model = state.access.get(state.store.as_ref()).await?;
    let (units, whole) = model.units(&within, by);
    let rows: Vec<Value> = units
        .iter()
        .map(|(code, a)| {
            let mut v = unit_json(a);
            v["unit"] = json!(code);
            v
        })
        .collect();
    Ok(Json(
        json!({ "unit": within, "by": by, "settings": settings(&model), "units": rows, "total": unit_json(&whole) }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapParams {
    unit: Option<String>,
    category: String,
    /// `grid` (polygons, default) or `compound` (points).
    by: Option<String>,
    crs: Option<String>,
}

/// `GET /api/v1/access/map?category=&by=grid|compound&unit=`: GeoJSON
/// coloured by minutes to the nearest facility of the category: grids with
/// their household-weighted mean and share within 15 minutes, or compounds.
pub async fn map(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<MapParams>,
) -> Result<Json<Value>, ApiError> {
    let within = scope(&state, &caller, Permission::ViewOrg, p.unit.as_deref()).await?;
    let c = category(&p.category)?;
    let crs = parse_crs(p.crs.as_deref())?;
    let model = state.access.get(state.store.as_ref()).await?;
    let point = |lat: f64, lon: f64| LatLng::new(lat, lon).map(|x| crs.from_wgs84(x)).unwrap_or((lat, lon));
    let features: Vec<Value> = match p.by.as_deref().unwrap_or("grid") {
        "compound" => model
            .compounds
            .iter()
            .filter(|x| within.contains(&x.grid))
            .map(|x| {
                let (lat, lon) = point(x.lat, x.lon);
                let missed: Vec<_> = model.outcomes(x).into_iter().filter(|o| !o.met).map(|o| o.category).collect();
                json!({
                    "type": "Feature", "id": x.code,
                    "geometry": { "type": "Point", "coordinates": [lon, lat] },
                    "properties": { "code": x.code, "name": x.name, "grid": x.grid, "households": x.households,
                                    "minutes": model.minutes(c, x.node), "missed": missed },
                })
            })
            .collect(),
        "grid" => {
            let (units, _) = model.units(&within, Level::Grid);
            let grids = state.store.units(Level::Grid, Some(&within)).await?;
            grids
                .iter()
                .filter_map(|g| {
                    let ring = g.boundary.as_ref()?;
                    let a = units.get(&g.code);
                    let x = a.and_then(|a| a.categories.get(&c));
                    let households = a.map_or(0, |a| a.households);
                    let coords: Vec<[f64; 2]> = ring
                        .iter()
                        .map(|[lon, lat]| {
                            let (y, x) = point(*lat, *lon);
                            [x, y]
                        })
                        .collect();
                    Some(json!({
                        "type": "Feature", "id": g.code,
                        "geometry": { "type": "Polygon", "coordinates": [coords] },
                        "properties": {
                            "code": g.code, "name": g.name, "households": households,
                            "minutes": x.and_then(|x| x.mean_minutes),
                            "share_15": x.filter(|_| households > 0).map(|x| x.covered[2] as f64 / households as f64),
                        },
                    }))
                })
                .collect()
        }
        other => return Err(ApiError::bad_request(format!("by={other:?}: expected grid or compound"))),
    };
    Ok(Json(json!({ "type": "FeatureCollection", "category": c, "unit": within, "features": features })))
}

/// One compound of the gap table: minutes to every category and the
/// requirements it misses.
fn compound_row(model: &AccessModel, x: &CompoundAt) -> Value {
    let outcomes = model.outcomes(x);
    let minutes: serde_json::Map<String, Value> =
        FacilityCategory::ALL.iter().map(|c| (c.as_str().to_owned(), json!(model.minutes(*c, x.node)))).collect();
    json!({
        "code": x.code, "name": x.name, "grid": x.grid, "households": x.households, "lat": x.lat, "lon": x.lon,
        "met": outcomes.iter().filter(|o| o.met).count(),
        "required": outcomes.len(),
        "missed": outcomes.iter().filter(|o| !o.met).map(|o| json!({ "category": o.category, "minutes": o.minutes })).collect::<Vec<_>>(),
        "minutes": minutes,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapParams {
    unit: Option<String>,
    /// json (default), csv or xlsx.
    format: Option<String>,
    /// Only compounds missing at least one requirement.
    missing_only: Option<bool>,
}

/// `GET /api/v1/access/compounds?unit=&format=json|csv|xlsx&missing_only=`:
/// the gap table, compounds with the most unmet requirements first.
pub async fn compounds(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<GapParams>,
) -> Result<Response, ApiError> {
    let within = scope(&state, &caller, Permission::ViewOrg, p.unit.as_deref()).await?;
    let model = state.access.get(state.store.as_ref()).await?;
    let rows = gap_rows(&model, &within, p.missing_only.unwrap_or(false));
    match p.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(json!({ "unit": within, "settings": settings(&model), "compounds": rows })).into_response()),
        "csv" => {
            let body = gap_csv(&rows).map_err(|e| ApiError::internal_with(format!("CSV: {e}")))?;
            Ok(download("text/csv; charset=utf-8", &format!("gaps-{within}.csv"), body))
        }
        "xlsx" => {
            let body = gap_xlsx(&rows).map_err(|e| ApiError::internal_with(format!("XLSX: {e}")))?;
            let mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
            Ok(download(mime, &format!("gaps-{within}.xlsx"), body))
        }
        other => Err(ApiError::bad_request(format!("format={other:?}: expected json, csv or xlsx"))),
    }
}

/// The gap table's rows, the worst first (most requirements missed, then most households).
pub fn gap_rows(model: &AccessModel, within: &UnitCode, missing_only: bool) -> Vec<Value> {
    let mut rows: Vec<Value> = model
        .compounds
        .iter()
        .filter(|x| within.contains(&x.grid))
        .map(|x| compound_row(model, x))
        .filter(|r| !missing_only || r["missed"].as_array().is_some_and(|m| !m.is_empty()))
        .collect();
    let key = |r: &Value| {
        (
            std::cmp::Reverse(r["missed"].as_array().map_or(0, Vec::len)),
            std::cmp::Reverse(r["households"].as_u64().unwrap_or(0)),
        )
    };
    rows.sort_by_key(key);
    rows
}

fn download(mime: &str, name: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response()
}

/// The columns of the exported gap table: code, name, grid, households,
/// requirements met, missed, then minutes to each category.
fn gap_header() -> Vec<String> {
    let mut h: Vec<String> =
        ["code", "name", "grid", "households", "met", "required", "missed"].iter().map(|s| (*s).to_owned()).collect();
    h.extend(FacilityCategory::ALL.iter().map(|c| format!("minutes_{c}")));
    h
}

fn missed_text(r: &Value) -> String {
    r["missed"]
        .as_array()
        .map(|m| {
            m.iter().map(|x| format!("{}<={}", x["category"].as_str().unwrap_or(""), x["minutes"])).collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .join(" ")
}

fn gap_csv(rows: &[Value]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(gap_header())?;
    for r in rows {
        let mut rec: Vec<String> =
            ["code", "name", "grid"].iter().map(|k| r[*k].as_str().unwrap_or("").to_owned()).collect();
        rec.push(r["households"].to_string());
        rec.push(r["met"].to_string());
        rec.push(r["required"].to_string());
        rec.push(missed_text(r));
        for c in FacilityCategory::ALL {
            rec.push(r["minutes"][c.as_str()].as_f64().map_or_else(String::new, |m| format!("{m:.1}")));
        }
        w.write_record(&rec)?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

fn gap_xlsx(rows: &[Value]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("gaps")?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (col, h) in (0u16..).zip(gap_header()) {
        sheet.write_string_with_format(0, col, h, &bold)?;
    }
    for (row, r) in (1u32..).zip(rows) {
        for (col, k) in (0u16..).zip(["code", "name", "grid"]) {
            sheet.write_string(row, col, r[k].as_str().unwrap_or(""))?;
        }
        for (col, k) in (3u16..).zip(["households", "met", "required"]) {
            sheet.write_number(row, col, r[k].as_f64().unwrap_or(0.0))?;
        }
        sheet.write_string(row, 6, missed_text(r))?;
        for (col, c) in (7u16..).zip(FacilityCategory::ALL) {
            if let Some(m) = r["minutes"][c.as_str()].as_f64() {
                sheet.write_number(row, col, (m * 10.0).round() / 10.0)?;
            }
        }
    }
    sheet.set_freeze_panes(1, 2)?;
    book.save_to_buffer()
}

/// The compound `code` if it lies within the caller's `view_org` scope.
pub fn compound_in_scope<'a>(model: &'a AccessModel, caller: &Caller, code: &str) -> Result<&'a CompoundAt, ApiError> {
    model
        .compounds
        .iter()
        .find(|x| x.code == code && caller.principal.may_at(Permission::ViewOrg, &x.grid))
        .ok_or_else(|| ApiError::not_found(format!("compound {code} not found")))
}

/// `GET /api/v1/access/compounds/{code}`: one compound's sheet: every
/// requirement met or missed, and per category the minutes to the nearest
/// facility and how many lie within 5, 10 and 15 minutes.
pub async fn compound(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let model = state.access.get(state.store.as_ref()).await?;
    let x = compound_in_scope(&model, &caller, &code)?;
    Ok(Json(compound_sheet(&model, x)))
}

pub fn compound_sheet(model: &AccessModel, x: &CompoundAt) -> Value {
    let categories: Vec<Value> = FacilityCategory::ALL
        .iter()
        .map(|c| json!({ "category": c, "minutes": model.minutes(*c, x.node), "within": model.counts(*c, x.node) }))
        .collect();
    json!({
        "compound": x, "outcomes": model.outcomes(x), "categories": categories, "settings": settings(model),
    })
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Candidates {
    /// `nodes` (every street node of the unit) or `compounds` (a room in each compound).
    Kind(String),
    /// Named sites, e.g. idle rooms offered for a station.
    Sites(Vec<Site>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    name: String,
    lat: f64,
    lon: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalBody {
    unit: Option<String>,
    category: String,
    k: usize,
    /// The life circle to fill: 5, 10 or 15 (default) minutes.
    minutes: Option<u32>,
    candidates: Option<Candidates>,
    crs: Option<String>,
}

fn life_circle(m: Option<u32>) -> Result<u32, ApiError> {
    let m = m.unwrap_or(15);
    if LEVELS.contains(&m) { Ok(m) } else { Err(ApiError::unprocessable("minutes must be 5, 10 or 15")) }
}

fn site_point(crs: Crs, lat: f64, lon: f64) -> Result<LatLng, ApiError> {
    crs.to_wgs84(lat, lon).map_err(|e| ApiError::unprocessable(e.to_string()))
}

/// `POST /api/v1/access/proposals`: `k` sites among the candidates that
/// bring the most uncovered households of the unit within the life circle
/// of a category, each with its gain (greedy maximum coverage).
pub async fn proposals(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    J(body): J<ProposalBody>,
) -> Result<Json<Value>, ApiError> {
    let within = scope(&state, &caller, Permission::ViewOrg, body.unit.as_deref()).await?;
    let c = category(&body.category).map_err(|e| ApiError::unprocessable(e.message))?;
    if body.k == 0 || body.k > MAX_PICKS {
        return Err(ApiError::unprocessable(format!("k must be 1 to {MAX_PICKS}")));
    }
    let minutes = life_circle(body.minutes)?;
    let crs = parse_crs(body.crs.as_deref())?;
    let model = state.access.get(state.store.as_ref()).await?;
    let locator = state.locator();
    // (node, where, name) of each candidate inside the unit.
    let mut candidates: Vec<(NodeId, LatLng, Option<String>)> = Vec::new();
    match body.candidates.unwrap_or(Candidates::Kind("nodes".into())) {
        Candidates::Kind(k) if k == "nodes" => {
            for v in 0..model.graph.node_count() {
                let node = NodeId::try_from(v).unwrap_or(NodeId::MAX);
                if let Some(p) = model.position(node)
                    && locator.grid_of(p).is_some_and(|g| within.contains(g))
                {
                    candidates.push((node, p, None));
                }
            }
        }
        Candidates::Kind(k) if k == "compounds" => {
            for x in model.compounds.iter().filter(|x| within.contains(&x.grid)) {
                if let Ok(p) = LatLng::new(x.lat, x.lon) {
                    candidates.push((x.node, p, Some(x.name.clone())));
                }
            }
        }
        Candidates::Kind(k) => {
            return Err(ApiError::unprocessable(format!(
                "candidates={k:?}: expected nodes, compounds or a list of sites"
            )));
        }
        Candidates::Sites(sites) => {
            if sites.is_empty() || sites.len() > 10_000 {
                return Err(ApiError::unprocessable("give 1 to 10,000 candidate sites"));
            }
            for s in sites {
                let p = site_point(crs, s.lat, s.lon)?;
                let (node, _) = model.snap(p).ok_or_else(|| ApiError::unprocessable("the street network is empty"))?;
                candidates.push((node, p, Some(s.name)));
            }
        }
    }
    let nodes: Vec<NodeId> = candidates.iter().map(|c| c.0).collect();
    let k = body.k;
    let model2 = Arc::clone(&model);
    let within2 = within.clone();
    let (total, covered, picks) =
        tokio::task::spawn_blocking(move || model2.proposals(&within2, c, f64::from(minutes), &nodes, k))
            .await
            .map_err(|e| ApiError::internal_with(format!("proposals failed: {e}")))??;
    let share = |n: u64| if total == 0 { Value::Null } else { json!(n as f64 / total as f64) };
    // Every pick is one of the candidates, so it has a place (and maybe a name).
    let picks: Vec<Value> = picks
        .iter()
        .zip(1..)
        .filter_map(|(p, rank)| {
            let (_, at, name) = candidates.iter().find(|c| c.0 == p.node)?;
            let (lat, lon) = crs.from_wgs84(*at);
            Some(json!({ "rank": rank, "node": p.node, "name": name, "lat": lat, "lon": lon, "grid": locator.grid_of(*at),
                         "gain_households": p.gain, "covered_after": p.covered_after, "share_after": share(p.covered_after) }))
        })
        .collect();
    Ok(Json(json!({
        "unit": within, "category": c, "minutes": minutes, "candidates": candidates.len(),
        "households": total, "covered_before": covered, "share_before": share(covered), "picks": picks,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatIfBody {
    unit: Option<String>,
    category: String,
    lat: f64,
    lon: f64,
    crs: Option<String>,
}

/// `POST /api/v1/access/what-if`: the unit's accessibility now and with one
/// more facility of a category at a point (computed incrementally), and the
/// compounds whose requirements it would complete.
pub async fn what_if(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    J(body): J<WhatIfBody>,
) -> Result<Json<Value>, ApiError> {
    let within = scope(&state, &caller, Permission::ViewOrg, body.unit.as_deref()).await?;
    let c = category(&body.category).map_err(|e| ApiError::unprocessable(e.message))?;
    let crs = parse_crs(body.crs.as_deref())?;
    let p = site_point(crs, body.lat, body.lon)?;
    let model = state.access.get(state.store.as_ref()).await?;
    let (node, snap_m) = model.snap(p).ok_or_else(|| ApiError::unprocessable("the street network is empty"))?;
    let after = model.with_facility(c, node)?;
    let by = within.level().child().unwrap_or(Level::Grid);
    let (_, before_whole) = model.units(&within, by);
    let (_, after_whole) = after.units(&within, by);
    let changed: Vec<Value> = model
        .compounds
        .iter()
        .zip(&after.compounds)
        .filter(|(x, _)| within.contains(&x.grid))
        .filter_map(|(x, y)| {
            let (b, a) = (model.minutes(c, x.node), after.minutes(c, y.node));
            (a != b).then(|| {
                json!({ "code": x.code, "name": x.name, "households": x.households,
                                     "minutes_before": b, "minutes_after": a,
                                     "all_met_before": model.outcomes(x).iter().all(|o| o.met),
                                     "all_met_after": after.outcomes(y).iter().all(|o| o.met) })
            })
        })
        .collect();
    Ok(Json(json!({
        "unit": within, "category": c, "node": node, "snap_m": snap_m,
        "before": unit_json(&before_whole), "after": unit_json(&after_whole), "compounds_nearer": changed,
    })))
}

/// `POST /api/v1/access/refresh`: compute again from the stored network and
/// facilities (after an OpenStreetMap import, say).
pub async fn refresh(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let model = state.access.refresh(state.store.as_ref()).await?;
    Ok(Json(settings(&model)))
}
