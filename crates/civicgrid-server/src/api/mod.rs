//! The versioned JSON API under `/api/v1`: the organisation tree, units with
//! their counts, grid and community boundaries as GeoJSON, `locate`, and the
//! lists of compounds, facilities, cameras, Party branches and people.

pub(crate) mod access;
pub(crate) mod account;
mod attachments;
mod audit;
mod calls;
mod cases;
mod devices;
mod events;
mod extract;
mod geojson;
mod kpis;
mod open311;
mod residents;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::{AppState, Located};
use axum::Json;
use axum::Router;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post, put};
use civicgrid_domain::{CameraStatus, FacilityCategory, Level, OrgUnit, Permission, RoleKind, UnitCode};
use civicgrid_geo::{Crs, LatLng};
use civicgrid_store::{ListQuery, NewFacility, Page};
use extract::{J, Q};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/session", post(account::create_session).delete(account::end_session))
        .route("/api/v1/me", get(account::me))
        .route("/api/v1/me/password", put(account::change_password))
        .route("/api/v1/tokens", get(account::list_tokens).post(account::create_token))
        .route("/api/v1/tokens/{id}", delete(account::revoke_token))
        .route("/api/v1/users", get(account::list_users).post(account::create_user))
        .route("/api/v1/users/{id}/grants", put(account::set_grants))
        .route("/api/v1/audit", get(audit::read))
        .route("/api/v1/stats", get(stats))
        .route("/api/v1/units", get(org_tree))
        .route("/api/v1/units/{code}", get(unit))
        .route("/api/v1/units/{code}/history", get(unit_history))
        .route("/api/v1/communities", get(communities))
        .route("/api/v1/grids", get(grids))
        .route("/api/v1/locate", get(locate))
        .route("/api/v1/compounds", get(compounds))
        .route("/api/v1/facilities", get(facilities).post(add_facility))
        .route("/api/v1/cameras", get(cameras))
        .route("/api/v1/party-branches", get(party_branches))
        .route("/api/v1/people", get(people))
        .route("/api/v1/residents", get(residents::list))
        .route("/api/v1/residents/{id}", get(residents::one))
        .route("/api/v1/residents/{id}/unmask", post(residents::unmask))
        .route("/api/v1/case-categories", get(cases::categories))
        .route("/api/v1/cases", get(cases::list).post(cases::file))
        .route("/api/v1/cases/mine", get(cases::mine))
        .route("/api/v1/cases/open", get(cases::open))
        .route("/api/v1/cases/{id}", get(cases::one))
        .route("/api/v1/cases/{id}/events", post(cases::act))
        .route("/api/v1/events", get(events::stream))
        .route("/api/v1/responders", get(calls::list))
        .route("/api/v1/responders/me", get(calls::mine))
        .route("/api/v1/responders/me/duty", put(calls::duty))
        .route("/api/v1/responders/{id}/duty", put(calls::duty_of))
        .route("/api/v1/responders/locations", post(calls::locations))
        .route("/api/v1/calls", get(calls::calls).post(calls::place))
        .route("/api/v1/calls/{id}", get(calls::one))
        .route("/api/v1/calls/{id}/answer", post(calls::answer))
        .route("/api/v1/calls/{id}/progress", post(calls::progress))
        .route("/api/v1/calls/{id}/assign", post(calls::assign))
        .route("/api/v1/calls/{id}/callback", post(calls::callback))
        .route("/api/v1/calls/{id}/escalate", post(calls::escalate))
        .route("/api/v1/call-devices", get(devices::list).post(devices::register))
        .route("/api/v1/call-devices/mine", get(devices::mine))
        .route("/api/v1/call-devices/{code}", delete(devices::retire))
        .route("/api/v1/kpis", get(kpis::compute))
        .route("/api/v1/access/units", get(access::units))
        .route("/api/v1/access/map", get(access::map))
        .route("/api/v1/access/compounds", get(access::compounds))
        .route("/api/v1/access/compounds/{code}", get(access::compound))
        .route("/api/v1/access/proposals", post(access::proposals))
        .route("/api/v1/access/what-if", post(access::what_if))
        .route("/api/v1/access/refresh", post(access::refresh))
        .route(
            "/api/v1/attachments",
            post(attachments::upload).layer(axum::extract::DefaultBodyLimit::max(attachments::MAX_UPLOAD)),
        )
        .route("/api/v1/attachments/{id}/{variant}", get(attachments::fetch))
        .route("/open311/v2/{file}", get(open311::get_root).post(open311::post_request))
        .route("/open311/v2/services/{file}", get(open311::service_definition))
        .route("/open311/v2/requests/{file}", get(open311::get_request))
        .route("/open311/v2/tokens/{file}", get(open311::get_token))
}

pub const OPENAPI: &str = include_str!("../../openapi.json");

async fn openapi() -> axum::response::Response {
    use axum::response::IntoResponse;
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    // Touch the database so a broken store shows as unhealthy, not as fine.
    state.store.setting("schema").await?;
    Ok(Json(json!({ "status": "ok" })))
}

pub(crate) fn parse_unit(s: &str) -> Result<UnitCode, ApiError> {
    UnitCode::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The current unit named by `code`, or 404.
pub(crate) async fn existing_unit(state: &AppState, code: &str) -> Result<OrgUnit, ApiError> {
    let code = parse_unit(code)?;
    state.store.unit(&code).await?.ok_or_else(|| ApiError::not_found(format!("unit {code} not found")))
}

/// The `Idempotency-Key` header of a write, if any: 1 to 200 visible ASCII characters.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let k = v.to_str().map_err(|_| ApiError::bad_request("Idempotency-Key must be visible ASCII"))?.trim();
            if k.is_empty() || k.len() > 200 {
                return Err(ApiError::bad_request("Idempotency-Key must be 1 to 200 characters"));
            }
            Ok(Some(k.to_owned()))
        }
    }
}

/// The unit a request is about. A named unit must exist and lie within the
/// caller's scope for `p` — otherwise 404, so units outside it are not even
/// confirmed to exist. Without a name, the caller's widest scope for `p`.
pub(crate) async fn scope(
    state: &AppState,
    caller: &Caller,
    p: Permission,
    named: Option<&str>,
) -> Result<UnitCode, ApiError> {
    match named {
        Some(c) => {
            let code = parse_unit(c)?;
            if !caller.principal.may_at(p, &code) {
                return Err(ApiError::not_found(format!("unit {code} not found")));
            }
            Ok(existing_unit(state, c).await?.code)
        }
        None => caller
            .principal
            .scopes(p)
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::forbidden("your role does not allow this")),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitParam {
    unit: Option<String>,
}

async fn stats(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<UnitParam>,
) -> Result<Json<Value>, ApiError> {
    let within = scope(&state, &caller, Permission::ViewOrg, p.unit.as_deref()).await?;
    let stats = state.store.stats(Some(&within)).await?;
    let mut v = serde_json::to_value(stats).map_err(|e| ApiError::bad_request(e.to_string()))?;
    v["unit"] = json!(within);
    Ok(Json(v))
}

#[derive(Debug, Serialize)]
struct UnitJson {
    code: String,
    name: String,
    level: Level,
    parent: Option<String>,
    valid_from: String,
    valid_to: Option<String>,
}

impl From<&OrgUnit> for UnitJson {
    fn from(u: &OrgUnit) -> Self {
        UnitJson {
            code: u.code.to_string(),
            name: u.name.clone(),
            level: u.level(),
            parent: u.parent().map(String::from),
            valid_from: u.validity.from.to_string(),
            valid_to: u.validity.to.map(|d| d.to_string()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TreeParams {
    /// Include grids under each community (1,148 in the demo).
    #[serde(default)]
    grids: bool,
}

/// The organisation tree from the district down to communities (or grids).
/// Each of the caller's scopes is a root.
async fn org_tree(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<TreeParams>,
) -> Result<Json<Value>, ApiError> {
    let deepest = if p.grids { Level::Grid } else { Level::Community };
    let mut roots = Vec::new();
    for scope in caller.principal.scopes(Permission::ViewOrg) {
        let mut by_level = Vec::new();
        for level in Level::ALL.into_iter().filter(|l| *l >= scope.level() && (*l <= deepest || *l == scope.level())) {
            by_level.push(state.store.units(level, Some(&scope)).await?);
        }
        roots.extend(tree(&by_level));
    }
    Ok(Json(json!({ "units": roots })))
}

/// Nests units given level by level, the first level being the roots.
fn tree(by_level: &[Vec<OrgUnit>]) -> Vec<Value> {
    fn node(u: &OrgUnit, rest: &[Vec<OrgUnit>]) -> Value {
        let children: Vec<Value> = match rest.split_first() {
            Some((next, deeper)) => {
                next.iter().filter(|c| c.parent().as_ref() == Some(&u.code)).map(|c| node(c, deeper)).collect()
            }
            None => Vec::new(),
        };
        json!({ "code": u.code, "name": u.name, "level": u.level(), "children": children })
    }
    match by_level.split_first() {
        Some((roots, rest)) => roots.iter().map(|d| node(d, rest)).collect(),
        None => Vec::new(),
    }
}

/// A unit with its ancestors, counts, and children with their counts.
async fn unit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let code = scope(&state, &caller, Permission::ViewOrg, Some(&code)).await?;
    let unit = existing_unit(&state, code.as_str()).await?;
    let mut path = Vec::new();
    let mut up = unit.parent();
    while let Some(c) = up {
        if let Some(u) = state.store.unit(&c).await? {
            path.insert(0, UnitJson::from(&u));
        }
        up = c.parent();
    }
    let stats = state.store.stats(Some(&unit.code)).await?;
    let children: Vec<Value> = match unit.level().child() {
        Some(level) => {
            let names = state.store.units(level, Some(&unit.code)).await?;
            state
                .store
                .stats_by(Some(&unit.code), level)
                .await?
                .into_iter()
                .map(|(code, s)| {
                    let name = names.iter().find(|u| u.code == code).map(|u| u.name.clone()).unwrap_or_default();
                    json!({ "code": code, "name": name, "level": level, "stats": s })
                })
                .collect()
        }
        None => Vec::new(),
    };
    Ok(Json(json!({ "unit": UnitJson::from(&unit), "path": path, "stats": stats, "children": children })))
}

async fn unit_history(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let code = parse_unit(&code)?;
    if !caller.principal.may_at(Permission::ViewOrg, &code) {
        return Err(ApiError::not_found(format!("unit {code} not found")));
    }
    let versions = state.store.unit_history(&code).await?;
    if versions.is_empty() {
        return Err(ApiError::not_found(format!("unit {code} not found")));
    }
    let items: Vec<Value> = versions
        .iter()
        .map(|u| {
            let mut v = serde_json::to_value(UnitJson::from(u)).unwrap_or_default();
            v["boundary"] = json!(u.boundary);
            v
        })
        .collect();
    Ok(Json(json!({ "code": code, "versions": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BoundaryParams {
    community: Option<String>,
    within: Option<String>,
    crs: Option<String>,
}

/// A point given in `crs` (WGS-84 by default), in WGS-84, with the grid
/// that holds it; 422 out of range or outside every grid.
pub(crate) fn point_in_grid(
    state: &AppState,
    lat: f64,
    lon: f64,
    crs: Option<&str>,
) -> Result<(LatLng, UnitCode), ApiError> {
    let point = parse_crs(crs)?.to_wgs84(lat, lon).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let grid = state
        .locator()
        .grid_of(point)
        .cloned()
        .ok_or_else(|| ApiError::unprocessable("the point lies outside the district's grids"))?;
    Ok((point, grid))
}

pub(crate) fn parse_crs(crs: Option<&str>) -> Result<Crs, ApiError> {
    crs.map_or(Ok(Crs::Wgs84), |c| c.parse().map_err(|e: civicgrid_geo::GeoError| ApiError::bad_request(e.to_string())))
}

async fn boundaries(
    state: &AppState,
    caller: &Caller,
    level: Level,
    within: Option<&str>,
    crs: Option<&str>,
) -> Result<Json<Value>, ApiError> {
    let crs = parse_crs(crs)?;
    let within = scope(state, caller, Permission::ViewOrg, within).await?;
    let units = state.store.units(level, Some(&within)).await?;
    let stats = if within.level() < level {
        state.store.stats_by(Some(&within), level).await?
    } else {
        vec![(within.clone(), state.store.stats(Some(&within)).await?)]
    };
    Ok(Json(geojson::collection(&units, &stats, crs)))
}

/// Communities as a GeoJSON FeatureCollection.
async fn communities(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<BoundaryParams>,
) -> Result<Json<Value>, ApiError> {
    if p.community.is_some() {
        return Err(ApiError::bad_request("use within=CODE to pick communities of a street"));
    }
    boundaries(&state, &caller, Level::Community, p.within.as_deref(), p.crs.as_deref()).await
}

/// Grids (of a community, or within any unit) as a GeoJSON FeatureCollection.
async fn grids(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<BoundaryParams>,
) -> Result<Json<Value>, ApiError> {
    let within = p.community.as_deref().or(p.within.as_deref());
    if let Some(c) = p.community.as_deref()
        && parse_unit(c)?.level() != Level::Community
    {
        return Err(ApiError::bad_request(format!("{c} is not a community code (12 digits)")));
    }
    boundaries(&state, &caller, Level::Grid, within, p.crs.as_deref()).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocateParams {
    lat: Option<String>,
    lon: Option<String>,
    crs: Option<String>,
}

fn parse_coord(name: &str, v: Option<&str>) -> Result<f64, ApiError> {
    let v = v.ok_or_else(|| ApiError::bad_request(format!("the query parameter {name} is required")))?;
    v.trim().parse::<f64>().map_err(|_| ApiError::bad_request(format!("{name}={v:?} is not a number")))
}

/// A point outside the caller's scope is answered like one outside the district.
async fn locate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<LocateParams>,
) -> Result<Json<Located>, ApiError> {
    let (lat, lon) = (parse_coord("lat", p.lat.as_deref())?, parse_coord("lon", p.lon.as_deref())?);
    let crs = parse_crs(p.crs.as_deref())?;
    let point = crs.to_wgs84(lat, lon).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let locator = state.locator();
    locator
        .grid_of(point)
        .filter(|g| caller.principal.may_at(Permission::ViewOrg, g))
        .and_then(|_| locator.locate(point))
        .map(Json)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "the point ({lat}, {lon}) in {} lies outside the district's grids",
                crs.as_str()
            ))
        })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    unit: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
    category: Option<String>,
    status: Option<String>,
    role: Option<String>,
    crs: Option<String>,
}

impl ListParams {
    async fn query(&self, state: &AppState, caller: &Caller, p: Permission) -> Result<ListQuery, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if limit == 0 || limit > ListQuery::MAX_LIMIT {
            return Err(ApiError::bad_request(format!("limit must be 1..={}", ListQuery::MAX_LIMIT)));
        }
        Ok(ListQuery {
            within: Some(scope(state, caller, p, self.unit.as_deref()).await?),
            limit,
            offset: self.offset.unwrap_or(0),
        })
    }

    fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        for (name, given) in [("category", &self.category), ("status", &self.status), ("role", &self.role)] {
            if given.is_some() && !allowed.contains(&name) {
                return Err(ApiError::bad_request(format!("this list has no filter {name:?}")));
            }
        }
        Ok(())
    }
}

fn parse_filter<T: std::str::FromStr<Err = String>>(v: Option<&str>) -> Result<Option<T>, ApiError> {
    v.map(|s| s.parse::<T>().map_err(ApiError::bad_request)).transpose()
}

/// Converts the `lat`/`lon` of every item to `crs` for clients drawing on Chinese maps.
fn page_json<T: Serialize>(page: Page<T>, crs: Crs) -> Result<Json<Value>, ApiError> {
    let mut v = serde_json::to_value(page).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if crs != Crs::Wgs84
        && let Some(items) = v["items"].as_array_mut()
    {
        for item in items {
            if let (Some(lat), Some(lon)) = (item["lat"].as_f64(), item["lon"].as_f64())
                && let Ok(p) = LatLng::new(lat, lon)
            {
                let (lat, lon) = crs.from_wgs84(p);
                item["lat"] = json!(lat);
                item["lon"] = json!(lon);
            }
        }
    }
    v["crs"] = json!(crs.as_str());
    Ok(Json(v))
}

async fn compounds(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<ListParams>,
) -> Result<Json<Value>, ApiError> {
    p.only(&[])?;
    let crs = parse_crs(p.crs.as_deref())?;
    page_json(state.store.compounds(&p.query(&state, &caller, Permission::ViewOrg).await?).await?, crs)
}

async fn facilities(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<ListParams>,
) -> Result<Json<Value>, ApiError> {
    p.only(&["category"])?;
    let crs = parse_crs(p.crs.as_deref())?;
    let category = parse_filter::<FacilityCategory>(p.category.as_deref())?;
    page_json(state.store.facilities(&p.query(&state, &caller, Permission::ViewOrg).await?, category).await?, crs)
}

async fn cameras(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<ListParams>,
) -> Result<Json<Value>, ApiError> {
    p.only(&["status"])?;
    let crs = parse_crs(p.crs.as_deref())?;
    let status = parse_filter::<CameraStatus>(p.status.as_deref())?;
    page_json(state.store.cameras(&p.query(&state, &caller, Permission::ViewCameras).await?, status).await?, crs)
}

async fn party_branches(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<ListParams>,
) -> Result<Json<Value>, ApiError> {
    p.only(&[])?;
    page_json(state.store.party_branches(&p.query(&state, &caller, Permission::ViewOrg).await?).await?, Crs::Wgs84)
}

async fn people(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<ListParams>,
) -> Result<Json<Value>, ApiError> {
    p.only(&["role"])?;
    let role = parse_filter::<RoleKind>(p.role.as_deref())?;
    page_json(state.store.people(&p.query(&state, &caller, Permission::ViewPeople).await?, role).await?, Crs::Wgs84)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewFacilityJson {
    category: String,
    name: String,
    #[serde(default)]
    address: String,
    lat: f64,
    lon: f64,
    #[serde(default)]
    crs: Option<String>,
}

/// Adds a facility at a point; the server places it in the grid that holds it.
/// A retry carrying the same `Idempotency-Key` header gets the first answer
/// (200 instead of 201) and writes nothing.
async fn add_facility(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    J(body): J<NewFacilityJson>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let key = idempotency_key(&headers)?;
    let category: FacilityCategory = body.category.parse().map_err(ApiError::unprocessable)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::unprocessable("name must be 1 to 100 characters"));
    }
    if body.address.chars().count() > 200 {
        return Err(ApiError::unprocessable("address must be at most 200 characters"));
    }
    let (point, grid) = point_in_grid(&state, body.lat, body.lon, body.crs.as_deref())?;
    if !caller.principal.may_at(Permission::ManageFacilities, &grid) {
        return Err(ApiError::forbidden(format!("grid {grid} is outside the area you manage")));
    }
    let added = state
        .store
        .add_facility(
            &NewFacility {
                category,
                name: name.to_owned(),
                address: body.address.trim().to_owned(),
                grid,
                lat: point.lat(),
                lon: point.lon(),
            },
            key.as_deref(),
            &caller.actor(),
        )
        .await?;
    if added.created {
        state.access.facility_added(category, point).await;
    }
    let status = if added.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(serde_json::to_value(added.item).unwrap_or_default())))
}
