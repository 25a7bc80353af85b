//! Cases over the API: the category catalogue, filing a report (located into
//! its grid, flagged when it looks like a duplicate, idempotent), inboxes,
//! one case with its timeline and the actions the caller may take, and the
//! workflow's events.

use super::extract::{J, Q};
use super::{idempotency_key, parse_crs, point_in_grid, scope};
use crate::AppState;
use crate::auth::Caller;
use crate::casework::{self, actions_for, actor_as_reporter, actor_at, may_see};
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use civicgrid_domain::case::{CaseEvent, CaseState, EventKind, Source};
use civicgrid_domain::{CategoryCode, Permission, Role};
use civicgrid_store::{CaseQuery, CaseRecord, NewCase};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

/// The catalogue: major classes and their sub-classes with handlers and step
/// limits in working hours.
pub async fn categories() -> Json<Value> {
    let cat = &casework::rules().catalogue;
    let hours = |d: jiff::SignedDuration| d.as_secs_f64() / 3600.0;
    let majors: Vec<Value> = cat
        .majors()
        .map(|m| {
            let children: Vec<Value> = cat
                .children(&m.code)
                .map(|c| {
                    json!({
                        "code": c.code, "name_zh": c.name_zh, "name_en": c.name_en, "handler": c.handler,
                        "self_handle": c.self_handle,
                        "limits_hours": { "file": hours(c.limits.file), "dispatch": hours(c.limits.dispatch),
                                          "handle": hours(c.limits.handle), "verify": hours(c.limits.verify) },
                    })
                })
                .collect();
            json!({ "code": m.code, "class": m.class, "name_zh": m.name_zh, "name_en": m.name_en, "categories": children })
        })
        .collect();
    Json(json!({ "majors": majors }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    title: String,
    #[serde(default)]
    description: String,
    /// A sub-class code; the command centre categorises when absent.
    category: Option<String>,
    lat: f64,
    lon: f64,
    crs: Option<String>,
    /// resident_report (default), patrol (grid staff), hotline_12345 or camera_alarm (command centre).
    source: Option<String>,
    /// Ids from `POST /api/v1/attachments`, uploaded by the caller.
    #[serde(default)]
    photos: Vec<String>,
}

/// Which sources a caller may report under: anyone as a resident; grid staff
/// on patrol; the command centre and streets for hotline transfers and camera alarms.
fn may_use(caller: &Caller, source: Source) -> bool {
    let has = |roles: &[Role]| caller.principal.grants.iter().any(|g| roles.contains(&g.role));
    match source {
        Source::ResidentReport => true,
        Source::Patrol => has(&[Role::GridWorker, Role::CommunityStaff, Role::StreetStaff]),
        Source::Hotline12345 | Source::CameraAlarm => has(&[Role::Operator, Role::StreetStaff, Role::CommunityStaff]),
        // One-click calls arrive through their own endpoint.
        Source::OneClickCall => false,
    }
}

/// `POST /api/v1/cases`: a problem reported at a point becomes a case of the
/// grid holding it. With `Idempotency-Key`, a retry returns the first case.
pub async fn file(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    J(body): J<Report>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let key = idempotency_key(&headers)?;
    let title = body.title.trim();
    if title.is_empty() || title.chars().count() > 100 {
        return Err(ApiError::unprocessable("a title has 1 to 100 characters"));
    }
    if body.description.chars().count() > 2000 {
        return Err(ApiError::unprocessable("a description has at most 2,000 characters"));
    }
    let is_grid_worker = caller.principal.grants.iter().any(|g| g.role == Role::GridWorker);
    let source = match body.source.as_deref() {
        Some(s) => s.parse::<Source>().map_err(ApiError::unprocessable)?,
        None if is_grid_worker => Source::Patrol,
        None => Source::ResidentReport,
    };
    if !may_use(&caller, source) {
        return Err(ApiError::forbidden(format!("your role cannot report cases from the source {source}")));
    }
    let category = body
        .category
        .as_deref()
        .map(|c| CategoryCode::parse(c).map_err(|e| ApiError::unprocessable(e.to_string())))
        .transpose()?;
    if let Some(c) = &category
        && casework::rules().catalogue.get(c).is_none_or(|_| c.is_major())
    {
        return Err(ApiError::unprocessable(format!("{c} is not a sub-class of the case catalogue")));
    }
    let (point, grid) = point_in_grid(&state, body.lat, body.lon, body.crs.as_deref())?;
    // Staff report within their scope; residents anywhere in the district.
    let actor = match actor_at(&caller, Permission::ReportCases, &grid) {
        Some(a) => a,
        None if source == Source::ResidentReport => {
            actor_as_reporter(&caller).ok_or_else(|| ApiError::forbidden("you hold no role"))?
        }
        None => return Err(ApiError::forbidden(format!("grid {grid} is outside the area you report for"))),
    };
    let photos = super::attachments::own_photos(&state, &caller, &body.photos).await?;
    let now = Timestamp::now();
    let event = CaseEvent {
        at: now,
        actor,
        kind: EventKind::Report { source, grid: grid.clone(), category: category.clone() },
        note: body.description.trim().to_owned(),
        photos,
        location: Some((point.lon(), point.lat())),
    };
    let view = civicgrid_domain::case::CaseView::open(&event).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let duplicate =
        casework::likely_duplicate(&state, category.as_ref().map(|c| c.as_str()), point.lat(), point.lon(), now)
            .await?;
    let events = vec![event];
    let summary = casework::summary(&state.cases, &view, &events, duplicate);
    let new = NewCase {
        source: source.as_str().to_owned(),
        category: category.map(String::from).unwrap_or_default(),
        title: title.to_owned(),
        description: body.description.trim().to_owned(),
        lat: point.lat(),
        lon: point.lon(),
        grid,
        reporter_id: Some(caller.principal.user_id),
    };
    let record = casework::to_record(1, &events[0])?;
    let added = state.store.file_case(&new, &record, &summary, key.as_deref(), &caller.actor()).await?;
    let status = if added.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(case_json(&added.item))))
}

fn case_json(c: &CaseRecord) -> Value {
    let mut v = json!(c);
    v["overdue"] = json!(c.summary.step_deadline.is_some_and(|d| d < Timestamp::now()));
    v["route"] = json!(casework::route_of(c).map(|(handler, unit)| json!({ "handler": handler, "unit": unit })));
    v
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseParams {
    unit: Option<String>,
    /// Comma-separated states.
    state: Option<String>,
    category: Option<String>,
    source: Option<String>,
    overdue: Option<bool>,
    limit: Option<u32>,
    offset: Option<u32>,
}

fn page(p: &CaseParams) -> Result<(u32, u32), ApiError> {
    let limit = p.limit.unwrap_or(50);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request("limit must be 1..=1000"));
    }
    Ok((limit, p.offset.unwrap_or(0)))
}

/// An inbox: cases within a unit of the caller's scope, filtered.
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<CaseParams>,
) -> Result<Json<Value>, ApiError> {
    let within = scope(&state, &caller, Permission::ViewCases, p.unit.as_deref()).await?;
    let (limit, offset) = page(&p)?;
    let states = match &p.state {
        Some(s) => s
            .split(',')
            .map(|x| x.trim().parse::<CaseState>().map(|st| st.as_str().to_owned()).map_err(ApiError::bad_request))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    if let Some(s) = &p.source {
        s.parse::<Source>().map_err(ApiError::bad_request)?;
    }
    if let Some(c) = &p.category {
        CategoryCode::parse(c).map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let q = CaseQuery {
        within: Some(within.clone()),
        states,
        category: p.category.clone(),
        source: p.source.clone(),
        overdue_at: p.overdue.unwrap_or(false).then(Timestamp::now),
        limit,
        offset,
        ..Default::default()
    };
    let found = state.store.cases(&q).await?;
    let items: Vec<Value> = found.items.iter().map(case_json).collect();
    Ok(Json(json!({ "items": items, "total": found.total, "limit": limit, "offset": offset, "unit": within })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenParams {
    unit: Option<String>,
    /// wgs84 (default), gcj02 or bd09 for the points.
    crs: Option<String>,
}

/// `GET /api/v1/cases/open?unit=`: the open cases of a unit as GeoJSON
/// points, newest first, each with how it stands against its deadline
/// (`on_time`, `due_soon`, `overdue`, `no_deadline`).
pub async fn open(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<OpenParams>,
) -> Result<Json<Value>, ApiError> {
    let within = scope(&state, &caller, Permission::ViewCases, p.unit.as_deref()).await?;
    let crs = parse_crs(p.crs.as_deref())?;
    let q =
        CaseQuery { within: Some(within.clone()), open_only: true, limit: casework::MAP_LIMIT, ..Default::default() };
    let found = state.store.cases(&q).await?;
    let now = Timestamp::now();
    let features: Vec<Value> = found
        .items
        .iter()
        .map(|c| {
            let (lat, lon) =
                civicgrid_geo::LatLng::new(c.lat, c.lon).map(|p| crs.from_wgs84(p)).unwrap_or((c.lat, c.lon));
            json!({
                "type": "Feature",
                "id": c.id,
                "geometry": { "type": "Point", "coordinates": [lon, lat] },
                "properties": {
                    "id": c.id, "number": c.number, "title": c.title, "category": c.category,
                    "state": c.summary.state, "grid": c.grid, "step_deadline": c.summary.step_deadline,
                    "timeliness": casework::timeliness(&state.cases, c, now),
                    "supervision": c.summary.supervision, "escalation": c.summary.escalation,
                },
            })
        })
        .collect();
    Ok(Json(json!({
        "type": "FeatureCollection", "features": features, "unit": within, "total": found.total,
        "truncated": found.total > i64::from(casework::MAP_LIMIT),
    })))
}

/// The caller's own reports, newest first.
pub async fn mine(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<CaseParams>,
) -> Result<Json<Value>, ApiError> {
    let (limit, offset) = page(&p)?;
    let q = CaseQuery { reporter_id: Some(caller.principal.user_id), limit, offset, ..Default::default() };
    let found = state.store.cases(&q).await?;
    let items: Vec<Value> = found.items.iter().map(case_json).collect();
    Ok(Json(json!({ "items": items, "total": found.total, "limit": limit, "offset": offset })))
}

async fn visible(state: &AppState, caller: &Caller, id: i64) -> Result<CaseRecord, ApiError> {
    let missing = || ApiError::not_found(format!("case {id} not found"));
    let case = state.store.case(id).await?.ok_or_else(missing)?;
    if may_see(caller, &case) { Ok(case) } else { Err(missing()) }
}

/// One case: its summary, its timeline, and what the caller may do now.
pub async fn one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let case = visible(&state, &caller, id).await?;
    let records = state.store.case_events(id).await?;
    let events = records.iter().map(casework::from_record).collect::<Result<Vec<_>, _>>()?;
    let view = casework::replay(&events)?;
    let timeline: Vec<Value> = records
        .iter()
        .zip(&events)
        .map(|(r, e)| {
            let mut v = json!(e);
            v["seq"] = json!(r.seq);
            v
        })
        .collect();
    let mut v = case_json(&case);
    v["events"] = json!(timeline);
    v["actions"] = json!(actions_for(&caller, &case, &view));
    v["counts"] = json!({
        "returns": view.counts.returns, "extensions": view.counts.extensions, "deferrals": view.counts.deferrals,
        "reopenings": view.counts.reopenings, "escalations": view.counts.escalations,
    });
    v["pending_request"] = json!(view.pending.as_ref().map(|p| p.kind));
    Ok(Json(v))
}

#[derive(Debug, Deserialize)]
pub struct Step {
    #[serde(flatten)]
    kind: EventKind,
    #[serde(default)]
    note: String,
    /// `[longitude, latitude]` where the actor is, WGS-84.
    location: Option<(f64, f64)>,
    /// Ids from `POST /api/v1/attachments`, uploaded by the caller.
    #[serde(default)]
    photos: Vec<String>,
}

/// `POST /api/v1/cases/{id}/events`: the next step of the workflow. The
/// reporter may evaluate, reopen and comment; everything else takes
/// `handle_cases` over the case's grid. The domain refuses what the workflow
/// does not allow, with its reason. A dispatch without `unit` goes where the
/// case's category routes it; with auto-dispatch on, filing dispatches there.
pub async fn act(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    J(mut body): J<Value>,
) -> Result<Json<Value>, ApiError> {
    let case = visible(&state, &caller, id).await?;
    let grid = civicgrid_domain::UnitCode::parse(&case.grid).map_err(|e| ApiError::internal_with(e.to_string()))?;
    let mut events = casework::history(&state, id).await?;
    let mut view = casework::replay(&events)?;
    if let Some(step) = body.as_object_mut()
        && step.get("type").and_then(Value::as_str) == Some("dispatch")
        && step.get("unit").is_none_or(Value::is_null)
    {
        let unit = casework::route(&view)
            .ok_or_else(|| ApiError::unprocessable("the case has no category to route by; name the unit"))?;
        step.insert("unit".into(), json!(unit));
    }
    let step: Step = serde_json::from_value(body).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    if matches!(step.kind, EventKind::Report { .. }) {
        return Err(ApiError::unprocessable("a case is reported once, when it is filed"));
    }
    if step.note.chars().count() > 2000 {
        return Err(ApiError::unprocessable("a note has at most 2,000 characters"));
    }
    if let Some((lon, lat)) = step.location {
        civicgrid_geo::LatLng::new(lat, lon).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    }
    let reporter_action = matches!(step.kind, EventKind::Evaluate { .. } | EventKind::Reopen | EventKind::Comment);
    let actor = match actor_at(&caller, Permission::HandleCases, &grid) {
        Some(a) => a,
        None if reporter_action && case.reporter_id == Some(caller.principal.user_id) => {
            actor_as_reporter(&caller).ok_or_else(|| ApiError::forbidden("you hold no role"))?
        }
        None => return Err(ApiError::forbidden("you may not act on this case")),
    };
    if let EventKind::MergedInto { case: target } = &step.kind {
        let other = visible(&state, &caller, target.0).await?;
        if other.id == case.id || other.summary.closed_at.is_some() || other.summary.merged_into.is_some() {
            return Err(ApiError::unprocessable("a case is merged into another open case"));
        }
    }
    let photos = super::attachments::own_photos(&state, &caller, &step.photos).await?;
    let filing = matches!(step.kind, EventKind::File { .. });
    let event = CaseEvent {
        at: Timestamp::now().max(view.last_at),
        actor,
        kind: step.kind,
        note: step.note.trim().to_owned(),
        photos,
        location: step.location,
    };
    let mut updated = casework::append(&state, &case, &mut events, &mut view, event, None, &caller.actor()).await?;
    if filing && state.cases.auto_dispatch {
        updated = casework::auto_dispatch(&state, &updated, &mut events, &mut view).await?;
    }
    let mut v = case_json(&updated);
    v["actions"] = json!(actions_for(&caller, &updated, &view));
    Ok(Json(v))
}
