//! The page handlers of the org tree and the data each page shows, read from
//! the store on the server so counts and tables need no JavaScript. The map
//! layers are named here as API URLs that `app.js` fetches. What a page shows
//! follows the caller's permissions at its unit: a unit outside the caller's
//! scope is "not found", a list they may not see is left off.

use super::render::{PageError, Shell, Visitor};
use crate::AppState;
use crate::auth::Caller;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use civicgrid_domain::{FacilityCategory, Level, OrgUnit, Permission, Principal, RoleKind, UnitCode};
use civicgrid_geo::Crs;
use civicgrid_store::ListQuery;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The headline counts, grouped as the article tells them; keys are `Stats` fields.
const STAT_GROUPS: &[(&str, &[&str])] = &[
    ("section.organisation", &["streets", "communities", "grids", "grid_party_branches", "party_groups"]),
    ("section.teams", &["grid_workers", "party_members", "street_riders", "volunteers"]),
    ("section.place", &["compounds", "buildings", "households", "residents"]),
    ("section.care", &["elderly_alone", "disabled", "low_income"]),
    ("section.safety", &["cameras", "cameras_online", "service_stations", "facilities"]),
];

/// Rows a list section loads at most; the page says when there are more.
const LIST_LIMIT: u32 = 1000;

/// Residents a page loads at once; the table pages through them, links page further.
pub(super) const RESIDENTS_PER_PAGE: u32 = 200;

pub(super) async fn shell(state: &AppState) -> Shell {
    // The banner is a courtesy: a failing settings read must not break the page.
    let demo = matches!(state.store.setting("demo_seed").await, Ok(Some(_)));
    Shell { demo, tiles: state.tiles.clone() }
}

fn respond(visitor: &Visitor, shell: &Shell, page: Result<Value, PageError>) -> Response {
    respond_with(visitor, shell, StatusCode::OK, "unit.html", page)
}

/// Renders `template` with `page`, or the error page for what went wrong.
pub(super) fn respond_with(
    visitor: &Visitor,
    shell: &Shell,
    status: StatusCode,
    template: &str,
    page: Result<Value, PageError>,
) -> Response {
    match page {
        Ok(page) => visitor.render(status, template, page, shell),
        Err(e) => visitor.error(e, shell),
    }
}

/// `?rpage=`: which hundreds of residents a community or grid page shows.
#[derive(Debug, Deserialize)]
pub struct UnitQuery {
    rpage: Option<String>,
}

impl UnitQuery {
    fn residents_page(&self) -> u32 {
        self.rpage.as_deref().and_then(|p| p.parse().ok()).unwrap_or(0)
    }
}

/// `GET /`: the unit of the caller's widest scope (the district for the
/// administrator, a community for its staff); the auditor's desk is the log.
pub async fn overview(State(state): State<AppState>, visitor: Visitor, Query(q): Query<UnitQuery>) -> Response {
    let Some(caller) = visitor.caller.clone() else { return Redirect::to("/login").into_response() };
    let Some(scope) = caller.principal.scopes(Permission::ViewOrg).into_iter().next() else {
        if caller.principal.may(Permission::ReadAudit) {
            return Redirect::to("/audit").into_response();
        }
        return visitor.error(PageError::forbidden(), &shell(&state).await);
    };
    let shell = shell(&state).await;
    let page = async {
        let unit = state.store.unit(&scope).await?.ok_or_else(PageError::no_unit)?;
        unit_page(&state, &caller, &unit, q.residents_page()).await
    }
    .await;
    respond(&visitor, &shell, page)
}

/// `GET /units/{code}`: the page of any unit within the caller's scope, laid
/// out by its level. A unit outside it is "not found", like one that does not exist.
pub async fn unit(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(code): Path<String>,
    Query(q): Query<UnitQuery>,
) -> Response {
    let shell = shell(&state).await;
    let page = async {
        let caller = visitor.caller.as_ref().ok_or_else(PageError::forbidden)?;
        let code = UnitCode::parse(&code).map_err(|e| PageError::bad_code(e.to_string()))?;
        if !caller.principal.may_at(Permission::ViewOrg, &code) {
            return Err(PageError::no_unit());
        }
        let unit = state.store.unit(&code).await?.ok_or_else(PageError::no_unit)?;
        unit_page(&state, caller, &unit, q.residents_page()).await
    }
    .await;
    respond(&visitor, &shell, page)
}

#[derive(Debug, Deserialize)]
pub struct LocateForm {
    lat: Option<String>,
    lon: Option<String>,
    crs: Option<String>,
}

/// `GET /locate?lat=&lon=&crs=`: the locate form without JavaScript; sends the
/// visitor on to the grid page.
pub async fn locate(State(state): State<AppState>, visitor: Visitor, Query(form): Query<LocateForm>) -> Response {
    let number = |v: Option<&str>| v.and_then(|s| s.trim().parse::<f64>().ok());
    let point = match (number(form.lat.as_deref()), number(form.lon.as_deref())) {
        (Some(lat), Some(lon)) => {
            let crs = form.crs.as_deref().filter(|c| !c.is_empty()).unwrap_or("wgs84");
            crs.parse::<Crs>()
                .map_err(|e| e.to_string())
                .and_then(|crs| crs.to_wgs84(lat, lon).map_err(|e| e.to_string()))
        }
        _ => Err(format!("lat={:?} lon={:?}", form.lat.unwrap_or_default(), form.lon.unwrap_or_default())),
    };
    // A point outside the visitor's scope is answered like one outside the district.
    let in_scope =
        |grid: &UnitCode| visitor.caller.as_ref().is_some_and(|c| c.principal.may_at(Permission::ViewOrg, grid));
    let locator = state.locator();
    let located = point.map_err(PageError::bad_point).and_then(|p| {
        locator.grid_of(p).filter(|g| in_scope(g)).and_then(|_| locator.locate(p)).ok_or_else(PageError::outside)
    });
    match located {
        Ok(l) => (StatusCode::SEE_OTHER, [(header::LOCATION, format!("/units/{}", l.grid.code))]).into_response(),
        Err(e) => visitor.error(e, &shell(&state).await),
    }
}

fn unit_json(u: &OrgUnit) -> Value {
    json!({ "code": u.code, "name": u.name, "level": u.level(), "valid_from": u.validity.from.to_string() })
}

fn list(unit: &UnitCode) -> ListQuery {
    ListQuery { within: Some(unit.clone()), limit: LIST_LIMIT, offset: 0 }
}

/// Everything the page of `unit` shows to `caller`, as the template's context.
async fn unit_page(state: &AppState, caller: &Caller, unit: &OrgUnit, residents_page: u32) -> Result<Value, PageError> {
    let store = state.store.as_ref();
    let code = &unit.code;
    let level = unit.level();
    let who: &Principal = &caller.principal;
    let may = |p: Permission| who.may_at(p, code);

    let mut path = Vec::new();
    let mut up = unit.parent();
    while let Some(c) = up {
        if let Some(u) = store.unit(&c).await? {
            let mut crumb = unit_json(&u);
            // Units above the caller's scope are named, not linked: their pages would be "not found".
            crumb["link"] = json!(who.may_at(Permission::ViewOrg, &c));
            path.insert(0, crumb);
        }
        up = c.parent();
    }
    let stats = store.stats(Some(code)).await?;
    let groups: Vec<Value> = STAT_GROUPS
        .iter()
        .map(|(key, fields)| {
            let fields: Vec<&str> = fields.iter().copied().filter(|f| wanted_at(level, f)).collect();
            json!({ "key": key, "fields": fields })
        })
        .filter(|g| g["fields"].as_array().is_some_and(|f| !f.is_empty()))
        .collect();

    let mut by_category = Vec::new();
    for category in FacilityCategory::ALL {
        let q = ListQuery { within: Some(code.clone()), limit: 1, offset: 0 };
        let total = store.facilities(&q, Some(*category)).await?.total;
        by_category.push(json!({ "category": category, "count": total }));
    }
    let category_chart = json!({
        "series": ["col.count"],
        "rows": by_category.iter().map(|c| json!({
            "label_key": format!("category.{}", c["category"].as_str().unwrap_or_default()),
            "values": [c["count"]],
        })).collect::<Vec<_>>(),
    });

    let mut page = json!({
        "unit": unit_json(unit),
        "path": path,
        "stats": stats,
        "stat_groups": groups,
        "facilities_by_category": by_category,
        "category_chart": category_chart,
        "may": {
            "cameras": may(Permission::ViewCameras),
            "people": may(Permission::ViewPeople),
            "residents": may(Permission::ViewResidents),
            "unmask": may(Permission::UnmaskPersonalData),
        },
    });

    match level {
        Level::District | Level::Street => {
            let streets = store.units(Level::Street, Some(code)).await?;
            let names: BTreeMap<String, String> = store
                .units(Level::Community, Some(code))
                .await?
                .into_iter()
                .map(|u| (u.code.to_string(), u.name))
                .collect();
            let rows: Vec<Value> = store
                .stats_by(Some(code), Level::Community)
                .await?
                .into_iter()
                .map(|(c, s)| {
                    let street = c.parent().and_then(|p| streets.iter().find(|s| s.code == p)).map(|s| s.name.clone());
                    json!({ "code": c, "name": names.get(c.as_str()), "street": street, "stats": s })
                })
                .collect();
            if level == Level::District {
                let street_rows: Vec<Value> = store
                    .stats_by(Some(code), Level::Street)
                    .await?
                    .into_iter()
                    .map(|(c, s)| json!({ "code": c, "name": streets.iter().find(|u| u.code == c).map(|u| &u.name), "stats": s }))
                    .collect();
                page["streets"] = json!(street_rows);
            }
            let chart_rows: Vec<Value> = rows
                .iter()
                .map(|r| {
                    json!({
                        "label": r["name"],
                        "href": format!("/units/{}", r["code"].as_str().unwrap_or_default()),
                        "values": [r["stats"]["grids"], r["stats"]["cameras"]],
                    })
                })
                .collect();
            page["chart"] = json!({ "series": ["stat.grids", "stat.cameras"], "rows": chart_rows });
            page["communities"] = json!(rows);
            page["map"] = json!({
                "layers": [
                    { "url": format!("/api/v1/grids?within={code}"), "kind": "grid", "interactive": false },
                    { "url": format!("/api/v1/communities?within={code}"), "kind": "community", "interactive": true, "labels": true },
                ],
            });
        }
        Level::Community => {
            let names: BTreeMap<String, String> =
                store.units(Level::Grid, Some(code)).await?.into_iter().map(|u| (u.code.to_string(), u.name)).collect();
            let grids: Vec<Value> = store
                .stats_by(Some(code), Level::Grid)
                .await?
                .into_iter()
                .map(|(c, s)| json!({ "code": c, "name": names.get(c.as_str()), "stats": s }))
                .collect();
            page["grids"] = json!(grids);
            page["compounds"] = json!(store.compounds(&list(code)).await?);
            if may(Permission::ViewResidents) {
                page["residents"] = residents(state, code, residents_page).await?;
            }
            page["party_branches"] = json!(store.party_branches(&list(code)).await?);
            page["map"] = json!({
                "layers": [
                    { "url": format!("/api/v1/communities?within={code}"), "kind": "outline", "interactive": false },
                    { "url": format!("/api/v1/grids?community={code}"), "kind": "grid", "interactive": true, "labels": false },
                ],
            });
        }
        Level::Grid => {
            let compounds = store.compounds(&list(code)).await?;
            let facilities = store.facilities(&list(code), None).await?;
            let cameras =
                if may(Permission::ViewCameras) { Some(store.cameras(&list(code), None).await?) } else { None };
            let workers = if may(Permission::ViewPeople) {
                store.people(&list(code), Some(RoleKind::GridWorker)).await?.items
            } else {
                Vec::new()
            };
            let mut markers = Vec::new();
            for c in &compounds.items {
                markers.push(json!({ "kind": "compound", "lat": c.lat, "lon": c.lon, "name": c.name }));
            }
            for f in &facilities.items {
                markers.push(
                    json!({ "kind": "facility", "lat": f.lat, "lon": f.lon, "name": f.name, "category": f.category }),
                );
            }
            for c in cameras.iter().flat_map(|c| &c.items) {
                markers
                    .push(json!({ "kind": "camera", "lat": c.lat, "lon": c.lon, "name": c.name, "status": c.status }));
            }
            let workers: Vec<Value> = workers
                .iter()
                .map(|p| {
                    let since = p
                        .roles
                        .iter()
                        .find(|r| r.kind == RoleKind::GridWorker && r.unit == code.as_str())
                        .map(|r| &r.since);
                    json!({ "id": p.id, "name": p.name, "gender": p.gender, "phone": p.phone, "since": since })
                })
                .collect();
            page["compounds"] = json!(compounds);
            page["facilities"] = json!(facilities);
            if let Some(cameras) = cameras {
                page["cameras"] = json!(cameras);
            }
            if may(Permission::ViewPeople) {
                page["grid_workers"] = json!(workers);
            }
            if may(Permission::ViewResidents) {
                page["residents"] = residents(state, code, residents_page).await?;
            }
            page["party_branches"] = json!(store.party_branches(&list(code)).await?);
            page["map"] = json!({
                "layers": [{ "url": format!("/api/v1/grids?within={code}"), "kind": "outline", "interactive": false }],
                "markers": markers,
            });
        }
    }
    Ok(page)
}

/// One page of the residents within `code`, masked as the store returns them.
async fn residents(state: &AppState, code: &UnitCode, page: u32) -> Result<Value, PageError> {
    let offset = page.saturating_mul(RESIDENTS_PER_PAGE);
    let q = ListQuery { within: Some(code.clone()), limit: RESIDENTS_PER_PAGE, offset };
    let found = state.store.residents(&q, None).await?;
    let total = u64::try_from(found.total).unwrap_or(0);
    let pages = total.div_ceil(u64::from(RESIDENTS_PER_PAGE)).max(1);
    Ok(json!({
        "items": found.items,
        "total": found.total,
        "from": offset + 1,
        "to": u64::from(offset) + found.items.len() as u64,
        "page": page,
        "pages": pages,
        "prev": page.checked_sub(1),
        "next": (u64::from(page) + 1 < pages).then_some(page + 1),
    }))
}

/// Counts that say nothing at a level (a grid has one grid) are left off its page.
fn wanted_at(level: Level, field: &str) -> bool {
    match field {
        "streets" => level == Level::District,
        "communities" => level <= Level::Street,
        "grids" => level <= Level::Community,
        _ => true,
    }
}

#[cfg(test)]
pub(super) fn stat_groups() -> &'static [(&'static str, &'static [&'static str])] {
    STAT_GROUPS
}

/// Unknown paths: a localised HTML page for browsers, the JSON error for API
/// clients and anything under `/api/`.
pub async fn not_found(State(state): State<AppState>, visitor: Visitor, headers: HeaderMap, uri: Uri) -> Response {
    let wants_html = headers.get(header::ACCEPT).and_then(|a| a.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if !wants_html || uri.path().starts_with("/api/") {
        return crate::error::not_found(uri).await.into_response();
    }
    visitor.error(PageError::no_page(), &shell(&state).await)
}

/// The localised page for a request the access rules refuse (403, 429).
pub fn refused(parts: &axum::http::request::Parts, status: StatusCode) -> Response {
    Visitor::of(parts).error(PageError::refused(status), &Shell::default())
}
