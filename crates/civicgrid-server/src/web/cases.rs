//! The case pages of the GB/T 30428 workflow: the report form, the caller's
//! own reports, the inbox of the caller's scope, and one case with its
//! timeline and the actions the caller may take now.
//!
//! Lists and the case page are rendered on the server from the store with the
//! same rules the JSON API applies (`casework::may_see`, `actions_for`); the
//! report form and the action forms send JSON to the API through `app.js`
//! (`POST /api/v1/cases`, `POST /api/v1/cases/{id}/events`), so the workflow
//! is decided in one place and its refusals are shown as the API words them.

use super::i18n::Lang;
use super::pages::{respond_with, shell};
use super::render::{PageError, Visitor};
use crate::AppState;
use crate::auth::Caller;
use crate::casework::{self, actions_for, may_see};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use civicgrid_domain::case::{CaseState, EventKind, Source};
use civicgrid_domain::{CategoryCode, Level, Period, Permission, UnitCode};
use civicgrid_store::{CaseQuery, CaseRecord};
use jiff::Timestamp;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Rows of the inbox and of "my reports" per page.
const PER_PAGE: u32 = 50;

/// The states the inbox filter offers, in workflow order.
const STATES: &[CaseState] = CaseState::ALL;

/// The name of a catalogue category in the page's language.
fn category_name(lang: Lang, code: &str) -> Option<String> {
    let code = CategoryCode::parse(code).ok()?;
    let cat = &casework::rules().catalogue;
    let (zh, en) = match cat.get(&code) {
        Some(c) => (c.name_zh.clone(), c.name_en.clone()),
        None => {
            let m = cat.major(&code)?;
            (m.name_zh.clone(), m.name_en.clone())
        }
    };
    Some(if lang == Lang::En { en } else { zh })
}

/// The catalogue as the category selects show it: sub-classes grouped by major class.
fn category_groups(lang: Lang) -> Value {
    let cat = &casework::rules().catalogue;
    let pick = |zh: &str, en: &str| if lang == Lang::En { en.to_owned() } else { zh.to_owned() };
    let groups: Vec<Value> = cat
        .majors()
        .map(|m| {
            let items: Vec<Value> = cat
                .children(&m.code)
                .map(|c| json!({ "code": c.code, "name": pick(&c.name_zh, &c.name_en) }))
                .collect();
            json!({ "code": m.code, "name": pick(&m.name_zh, &m.name_en), "categories": items })
        })
        .collect();
    json!(groups)
}

/// Unit names by code, looked up once per page.
#[derive(Default)]
pub(super) struct Names(BTreeMap<String, Option<String>>);

impl Names {
    pub(super) async fn of(&mut self, state: &AppState, code: &str) -> Option<String> {
        if let Some(n) = self.0.get(code) {
            return n.clone();
        }
        let name = match UnitCode::parse(code) {
            Ok(c) => state.store.unit(&c).await.ok().flatten().map(|u| u.name),
            Err(_) => None,
        };
        self.0.insert(code.to_owned(), name.clone());
        name
    }
}

/// A case as the tables show it.
async fn row(state: &AppState, lang: Lang, names: &mut Names, c: &CaseRecord) -> Value {
    let now = Timestamp::now();
    json!({
        "id": c.id,
        "number": c.number,
        "title": c.title,
        "source": c.source,
        "category": c.category,
        "category_name": category_name(lang, &c.category),
        "grid": c.grid,
        "grid_name": names.of(state, &c.grid).await,
        "state": c.summary.state,
        "step_deadline": c.summary.step_deadline.map(|d| d.to_string()),
        "deadline_sort": c.summary.step_deadline.map_or(i64::MAX, |d| d.as_second()),
        "overdue": c.summary.step_deadline.is_some_and(|d| d < now) && c.summary.closed_at.is_none(),
        "supervision": c.summary.supervision,
        "escalation": c.summary.escalation,
        "created_at": c.created_at.to_string(),
    })
}

/// `?a=1&b=2&b=3` as pairs; repeated names (the state checkboxes) stay apart.
pub(super) fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace('+', " ").replace("%2C", ",").trim().to_owned()))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

fn paging(page_no: u32, total: i64) -> Value {
    let total = u64::try_from(total).unwrap_or(0);
    let pages = total.div_ceil(u64::from(PER_PAGE)).max(1);
    json!({
        "page": page_no,
        "pages": pages,
        "prev": page_no.checked_sub(1),
        "next": (u64::from(page_no) + 1 < pages).then_some(page_no + 1),
    })
}

/// `GET /report`: the report form, its map centred on the caller's scope.
pub async fn report(State(state): State<AppState>, visitor: Visitor) -> Response {
    let shell = shell(&state).await;
    let Some(me) = visitor.caller.clone() else { return Redirect::to("/login").into_response() };
    let scope = me.principal.scopes(Permission::ViewOrg).into_iter().next();
    let layers = match &scope {
        Some(code) if code.level() == Level::Community => vec![
            json!({ "url": format!("/api/v1/communities?within={code}"), "kind": "outline", "interactive": false }),
            json!({ "url": format!("/api/v1/grids?community={code}"), "kind": "grid", "interactive": false }),
        ],
        Some(code) if code.level() == Level::Grid => {
            vec![json!({ "url": format!("/api/v1/grids?within={code}"), "kind": "outline", "interactive": false })]
        }
        Some(code) => vec![
            json!({ "url": format!("/api/v1/communities?within={code}"), "kind": "community", "interactive": false }),
        ],
        None => Vec::new(),
    };
    let sources: Vec<&str> = [Source::ResidentReport, Source::Patrol, Source::Hotline12345, Source::CameraAlarm]
        .iter()
        .filter(|s| may_report_as(&me, **s))
        .map(|s| s.as_str())
        .collect();
    let page = json!({
        "categories": category_groups(visitor.lang),
        "map": { "layers": layers, "pick": "#report-form" },
        "sources": if sources.len() > 1 { json!(sources) } else { json!([]) },
        // Photos only where the server keeps attachments.
        "photos": state.attachments.is_some(),
    });
    respond_with(&visitor, &shell, StatusCode::OK, "report.html", Ok(page))
}

/// The sources the API lets the caller report under (mirrors its rule).
fn may_report_as(caller: &Caller, source: Source) -> bool {
    use civicgrid_domain::Role;
    let has = |roles: &[Role]| caller.principal.grants.iter().any(|g| roles.contains(&g.role));
    match source {
        Source::ResidentReport => true,
        Source::Patrol => has(&[Role::GridWorker, Role::CommunityStaff, Role::StreetStaff]),
        Source::Hotline12345 | Source::CameraAlarm => has(&[Role::Operator, Role::StreetStaff, Role::CommunityStaff]),
        Source::OneClickCall => false,
    }
}

/// `GET /cases/mine?page=`: the caller's own reports, newest first.
pub async fn mine(State(state): State<AppState>, visitor: Visitor, RawQuery(q): RawQuery) -> Response {
    let shell = shell(&state).await;
    let page = async {
        let me = visitor.caller.as_ref().ok_or_else(PageError::forbidden)?;
        let page_no = pairs(q.as_deref()).iter().find(|(k, _)| k == "page").and_then(|(_, v)| v.parse().ok());
        let page_no: u32 = page_no.unwrap_or(0);
        let query = CaseQuery {
            reporter_id: Some(me.principal.user_id),
            limit: PER_PAGE,
            offset: page_no.saturating_mul(PER_PAGE),
            ..Default::default()
        };
        let found = state.store.cases(&query).await?;
        let mut names = Names::default();
        let mut rows = Vec::new();
        for c in &found.items {
            rows.push(row(&state, visitor.lang, &mut names, c).await);
        }
        let mut page = json!({ "cases": rows, "total": found.total });
        if let (Some(p), Value::Object(more)) = (page.as_object_mut(), paging(page_no, found.total)) {
            p.extend(more);
        }
        Ok(page)
    }
    .await;
    respond_with(&visitor, &shell, StatusCode::OK, "cases_mine.html", page)
}

/// The unit a case page is about: a named one within the caller's
/// `view_cases` scope, or their widest.
async fn case_scope(state: &AppState, me: &Caller, named: Option<&str>) -> Result<UnitCode, PageError> {
    Ok(crate::api::scope(state, me, Permission::ViewCases, named).await?)
}

/// The boundaries a map of `within` draws beneath its cases: the grids of a
/// community or a grid, the communities of a street or the district.
fn boundaries(within: &UnitCode) -> Value {
    match within.level() {
        Level::Grid => {
            json!({ "url": format!("/api/v1/grids?within={within}"), "kind": "outline", "interactive": false })
        }
        Level::Community => {
            json!({ "url": format!("/api/v1/grids?community={within}"), "kind": "grid", "interactive": false })
        }
        _ => {
            json!({ "url": format!("/api/v1/communities?within={within}"), "kind": "community", "interactive": false })
        }
    }
}

/// How cases stand against their deadlines, in the order the legend shows.
const TIMELINESS: &[&str] = &["overdue", "due_soon", "on_time", "no_deadline"];

/// `GET /cases/map?unit=`: the open cases of the caller's scope on a map,
/// coloured by how they stand against their deadlines, with the counts per
/// unit one level down.
pub async fn map(State(state): State<AppState>, visitor: Visitor, RawQuery(q): RawQuery) -> Response {
    let shell = shell(&state).await;
    let page = async {
        let me = visitor.caller.as_ref().ok_or_else(PageError::forbidden)?;
        let params = pairs(q.as_deref());
        let unit_param = params.iter().find(|(k, _)| k == "unit").map(|(_, v)| v.clone());
        let within = case_scope(&state, me, unit_param.as_deref()).await?;
        let query = CaseQuery {
            within: Some(within.clone()),
            open_only: true,
            limit: casework::MAP_LIMIT,
            ..Default::default()
        };
        let found = state.store.cases(&query).await?;
        let now = Timestamp::now();
        let child = within.level().child().unwrap_or(Level::Grid);
        // unit → [overdue, due_soon, on_time, no_deadline, supervised]
        let mut by_unit: BTreeMap<String, [u32; 5]> = BTreeMap::new();
        let mut totals = [0u32; 5];
        for c in &found.items {
            let t = casework::timeliness(&state.cases, c, now);
            let i = TIMELINESS.iter().position(|x| *x == t).unwrap_or(3);
            let unit = UnitCode::parse(&c.grid).ok().and_then(|g| g.at_level(child)).map(|u| u.to_string());
            let row = by_unit.entry(unit.unwrap_or_else(|| c.grid.clone())).or_default();
            row[i] += 1;
            totals[i] += 1;
            if c.summary.supervision {
                row[4] += 1;
                totals[4] += 1;
            }
        }
        let mut names = Names::default();
        let mut units = Vec::new();
        for (code, n) in &by_unit {
            units.push(json!({
                "code": code, "name": names.of(&state, code).await,
                "open": n[..4].iter().sum::<u32>(), "overdue": n[0], "due_soon": n[1], "on_time": n[2],
                "no_deadline": n[3], "supervised": n[4],
            }));
        }
        let counts: Vec<Value> = TIMELINESS.iter().zip(totals).map(|(k, n)| json!({ "key": k, "count": n })).collect();
        Ok(json!({
            "scope": { "code": within, "name": names.of(&state, within.as_str()).await },
            "total": found.total,
            "shown": found.items.len(),
            "truncated": found.total > i64::try_from(found.items.len()).unwrap_or(i64::MAX),
            "counts": counts,
            "supervised": totals[4],
            "child_level": child.as_str(),
            "units": units,
            "map": { "layers": [
                boundaries(&within),
                { "url": format!("/api/v1/cases/open?unit={within}"), "kind": "cases", "interactive": true },
            ] },
        }))
    }
    .await;
    respond_with(&visitor, &shell, StatusCode::OK, "cases_map.html", page)
}

/// China's civil time (UTC+8), in which periods are given as dates.
const CHINA: jiff::tz::Offset = jiff::tz::offset(8);

/// `GET /cases/kpis?unit=&from=YYYY-MM-DD&to=YYYY-MM-DD&by=`: the case
/// indicators of every unit one level down (or `by`) over a period of whole
/// days (both ends included), with the scope's total; this month by default.
pub async fn kpis(State(state): State<AppState>, visitor: Visitor, RawQuery(q): RawQuery) -> Response {
    let shell = shell(&state).await;
    let page = async {
        let me = visitor.caller.as_ref().ok_or_else(PageError::forbidden)?;
        let params = pairs(q.as_deref());
        let one = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let unit_param = one("unit");
        let within = case_scope(&state, me, unit_param.as_deref()).await?;
        let now = Timestamp::now();
        let today = CHINA.to_datetime(now).date();
        let date = |name: &str, default: jiff::civil::Date| match one(name) {
            None => Ok(default),
            Some(v) => v.parse::<jiff::civil::Date>().map_err(|_| PageError::bad_period(format!("{name}={v}"))),
        };
        let from = date("from", today.first_of_month())?;
        let to = date("to", today)?;
        if to < from {
            return Err(PageError::bad_period(format!("to={to} < from={from}")));
        }
        let start = |d: jiff::civil::Date| {
            CHINA
                .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
                .map_err(|e| PageError::bad_period(e.to_string()))
        };
        let period = Period { from: start(from)?, to: start(to.tomorrow().unwrap_or(to))? };
        let finest = within.level().child().unwrap_or(Level::Grid);
        let by = match one("by") {
            Some(b) => b.parse::<Level>().ok().filter(|l| *l >= within.level()).unwrap_or(finest),
            None => finest,
        };
        let table = casework::kpi_table(&state, &within, period, by, now).await?;
        let mut names = Names::default();
        let mut rows = Vec::new();
        for (code, k) in &table.units {
            rows.push(kpi_row(json!({ "code": code, "name": names.of(&state, code.as_str()).await }), k));
        }
        let scope = json!({ "code": within, "name": names.of(&state, within.as_str()).await });
        let levels: Vec<&str> = [Level::Community, Level::Grid, Level::Street]
            .into_iter()
            .filter(|l| *l >= within.level() && *l != within.level())
            .map(Level::as_str)
            .collect();
        Ok(json!({
            "scope": scope.clone(),
            "rows": rows,
            "total": kpi_row(scope, &table.total),
            "from": from.to_string(), "to": to.to_string(), "by": by.as_str(), "levels": levels,
            "unit_param": unit_param,
            "invalid_histories": table.invalid_histories,
        }))
    }
    .await;
    respond_with(&visitor, &shell, StatusCode::OK, "cases_kpis.html", page)
}

/// One row of the indicator table: rates as percentages with their counts,
/// step times in working hours.
fn kpi_row(unit: Value, k: &civicgrid_domain::UnitKpi) -> Value {
    use civicgrid_domain::{Ratio, Step};
    let rate = |r: &Ratio| json!({ "pct": r.value().map(|v| (v * 1000.0).round() / 10.0), "num": r.num, "den": r.den });
    let hours = |s: Step| {
        let t = k.step_times.get(&s);
        json!({
            "mean": t.and_then(|t| t.mean_secs).map(|x| (x / 360.0).round() / 10.0),
            "p90": t.and_then(|t| t.p90_secs).map(|x| (x as f64 / 360.0).round() / 10.0),
        })
    };
    json!({
        "unit": unit,
        "reported": k.reported,
        "closed": k.closed,
        "on_time_filing": rate(&k.on_time_filing),
        "on_time_dispatch": rate(&k.on_time_dispatch),
        "on_time_closure": rate(&k.on_time_closure),
        "rework": rate(&k.rework),
        "self_handled": rate(&k.self_handled),
        "satisfaction": k.satisfaction_mean.map(|x| (x * 100.0).round() / 100.0),
        "evaluated": k.evaluated,
        "handle": hours(Step::Handle),
        "verify": hours(Step::Verify),
        "overdue_now": k.overdue_now,
        "by_source": k.by_source,
    })
}

/// `GET /cases?state=a&state=b&overdue=true&category=&unit=&page=`: the inbox
/// of the caller's `view_cases` scope; a unit outside it is a 404 page.
pub async fn inbox(State(state): State<AppState>, visitor: Visitor, RawQuery(q): RawQuery) -> Response {
    let shell = shell(&state).await;
    let page = async {
        let me = visitor.caller.as_ref().ok_or_else(PageError::forbidden)?;
        let params = pairs(q.as_deref());
        let one = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let states: Vec<String> = params
            .iter()
            .filter(|(k, _)| k == "state")
            .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
            .filter_map(|s| s.parse::<CaseState>().ok().map(|s| s.as_str().to_owned()))
            .collect();
        let overdue = one("overdue").is_some_and(|v| v == "true" || v == "on");
        let category = one("category").filter(|c| CategoryCode::parse(c).is_ok());
        let unit_param = one("unit");
        let within = case_scope(&state, me, unit_param.as_deref()).await?;
        let page_no: u32 = one("page").and_then(|p| p.parse().ok()).unwrap_or(0);
        let query = CaseQuery {
            within: Some(within.clone()),
            states: states.clone(),
            category: category.clone(),
            overdue_at: overdue.then(Timestamp::now),
            limit: PER_PAGE,
            offset: page_no.saturating_mul(PER_PAGE),
            ..Default::default()
        };
        let found = state.store.cases(&query).await?;
        let mut names = Names::default();
        let mut rows = Vec::new();
        for c in &found.items {
            rows.push(row(&state, visitor.lang, &mut names, c).await);
        }
        // The pager keeps the filters.
        let mut keep: Vec<String> = states.iter().map(|s| format!("state={s}")).collect();
        if overdue {
            keep.push("overdue=true".into());
        }
        if let Some(c) = &category {
            keep.push(format!("category={c}"));
        }
        if let Some(u) = &unit_param {
            keep.push(format!("unit={u}"));
        }
        let mut page = json!({
            "cases": rows,
            "total": found.total,
            "scope": { "code": within, "name": names.of(&state, within.as_str()).await },
            "states": STATES.iter().map(|s| json!({ "code": s.as_str(), "checked": states.iter().any(|x| x == s.as_str()) })).collect::<Vec<_>>(),
            "filter": { "overdue": overdue, "category": category, "unit": unit_param },
            "categories": category_groups(visitor.lang),
            "keep": keep.join("&"),
        });
        if let (Some(p), Value::Object(more)) = (page.as_object_mut(), paging(page_no, found.total)) {
            p.extend(more);
        }
        Ok(page)
    }
    .await;
    respond_with(&visitor, &shell, StatusCode::OK, "cases.html", page)
}

/// What an event's data says, as `{key, value}` pairs the timeline shows.
async fn event_details(state: &AppState, lang: Lang, names: &mut Names, kind: &EventKind) -> Vec<Value> {
    let unit = |code: &UnitCode, name: Option<String>| match name {
        Some(n) => format!("{n} ({code})"),
        None => code.to_string(),
    };
    match kind {
        EventKind::Report { source, grid, category } => {
            let mut v = vec![
                json!({ "key": "case.field.source", "value_key": format!("case.source.{source}") }),
                json!({ "key": "case.field.grid", "value": unit(grid, names.of(state, grid.as_str()).await) }),
            ];
            if let Some(c) = category {
                v.push(json!({ "key": "case.field.category", "value": category_name(lang, c.as_str()) }));
            }
            v
        }
        EventKind::File { category } | EventKind::SelfHandle { category } => {
            vec![json!({ "key": "case.field.category", "value": category_name(lang, category.as_str()) })]
        }
        EventKind::Dispatch { unit: u } => {
            vec![json!({ "key": "case.field.unit", "value": unit(u, names.of(state, u.as_str()).await) })]
        }
        EventKind::Verify { passed } => vec![json!({
            "key": "case.field.verify",
            "value_key": if *passed { "case.verify.passed" } else { "case.verify.failed" },
        })],
        EventKind::Evaluate { satisfaction } => {
            vec![
                json!({ "key": "case.field.satisfaction", "value": format!("{satisfaction} / 5"), "stars": satisfaction }),
            ]
        }
        EventKind::RequestExtension { extra } => {
            let hours = extra.as_secs() / 3600;
            vec![json!({ "key": "case.field.extra", "value_key": "case.hours", "hours": hours })]
        }
        EventKind::Approve { request } | EventKind::Reject { request } => {
            vec![json!({ "key": "case.field.request", "value_key": format!("case.request.{request}") })]
        }
        EventKind::Escalated { level, supervision } => {
            let mut v = vec![json!({ "key": "case.field.level", "value_key": format!("level.{}", level.as_str()) })];
            if *supervision {
                v.push(json!({ "key": "case.field.supervision", "value_key": "case.supervision" }));
            }
            v
        }
        EventKind::MergedInto { case } => {
            vec![
                json!({ "key": "case.field.merged_into", "value": format!("#{}", case.0), "href": format!("/cases/{}", case.0) }),
            ]
        }
        _ => Vec::new(),
    }
}

/// `GET /cases/{id}`: one case, its timeline and the caller's actions. A case
/// the caller may not see is "not found", as the API says.
pub async fn show(State(state): State<AppState>, visitor: Visitor, Path(id): Path<String>) -> Response {
    let shell = shell(&state).await;
    let page = async {
        let me = visitor.caller.as_ref().ok_or_else(PageError::forbidden)?;
        let id: i64 = id.parse().map_err(|_| PageError::no_page())?;
        let case = state.store.case(id).await?.ok_or_else(PageError::no_page)?;
        if !may_see(me, &case) {
            return Err(PageError::no_page());
        }
        let records = state.store.case_events(id).await?;
        let events = records.iter().map(casework::from_record).collect::<Result<Vec<_>, _>>()?;
        let view = casework::replay(&events).map_err(|e| {
            tracing::error!(case = id, error = %e.message, "a case history does not replay");
            PageError::internal()
        })?;
        let lang = visitor.lang;
        let mut names = Names::default();
        let mut timeline = Vec::new();
        for (r, e) in records.iter().zip(&events) {
            let details = event_details(&state, lang, &mut names, &e.kind).await;
            timeline.push(json!({
                "seq": r.seq,
                "at": e.at.to_string(),
                "type": e.kind.action().as_str(),
                "actor": { "username": e.actor.username, "role": e.actor.role, "unit": e.actor.unit,
                           "unit_name": names.of(&state, e.actor.unit.as_str()).await },
                "note": e.note,
                "photos": e.photos,
                "details": details,
            }));
        }
        let actions: Vec<&str> = actions_for(me, &case, &view).iter().map(|a| a.as_str()).collect();
        // Dispatch goes to the case's grid, its community or its street.
        let grid = UnitCode::parse(&case.grid).map_err(|e| PageError::bad_code(e.to_string()))?;
        let mut units = Vec::new();
        let mut at = Some(grid.clone());
        while let Some(code) = at {
            if code.level() == Level::District {
                break;
            }
            units.push(
                json!({ "code": code, "name": names.of(&state, code.as_str()).await, "level": code.level().as_str() }),
            );
            at = code.parent();
        }
        let route = casework::route_of(&case);
        if let Some((_, unit)) = &route
            && unit.level() == Level::District
        {
            units.push(json!({ "code": unit, "name": names.of(&state, unit.as_str()).await, "level": "district" }));
        }
        let route = match route {
            Some((handler, unit)) => {
                json!({ "handler": handler, "unit": unit, "name": names.of(&state, unit.as_str()).await })
            }
            None => Value::Null,
        };
        let layers = if me.principal.may_at(Permission::ViewOrg, &grid) {
            vec![json!({ "url": format!("/api/v1/grids?within={grid}"), "kind": "outline", "interactive": false })]
        } else {
            Vec::new()
        };
        let mut summary = row(&state, lang, &mut names, &case).await;
        summary["description"] = json!(case.description);
        summary["lat"] = json!(case.lat);
        summary["lon"] = json!(case.lon);
        summary["handler_unit"] = json!(case.summary.handler_unit);
        summary["handler_unit_name"] = match &case.summary.handler_unit {
            Some(u) => json!(names.of(&state, u).await),
            None => Value::Null,
        };
        summary["closed_at"] = json!(case.summary.closed_at.map(|t| t.to_string()));
        summary["duplicate_of"] = json!(case.summary.duplicate_of);
        summary["merged_into"] = json!(case.summary.merged_into);
        summary["satisfaction"] = json!(view.satisfaction);
        Ok(json!({
            "case": summary,
            "events": timeline,
            "actions": actions,
            "pending_request": view.pending.as_ref().map(|p| p.kind.as_str()),
            "units": units,
            "route": route,
            "photos": state.attachments.is_some(),
            "categories": category_groups(lang),
            "map": {
                "layers": layers,
                "markers": [{ "kind": "case", "lat": case.lat, "lon": case.lon, "name": case.title,
                              "overdue": summary["overdue"] }],
            },
        }))
    }
    .await;
    respond_with(&visitor, &shell, StatusCode::OK, "case.html", page)
}
