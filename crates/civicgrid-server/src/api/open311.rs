//! Open311 GeoReport v2 at `/open311/v2/`: discovery, services and their
//! definitions, requests (POST with an `api_key`, GET with filters and the
//! common page extension) and tokens, in JSON and XML, for outside clients
//! such as the city's 12345 system. Only the categories a city publishes are
//! services (public facilities, roads, sanitation, green space, street order,
//! construction, safety hazards, illegal construction); disputes, security and
//! people needing care never leave the platform this way. Our finer states
//! map onto `open`/`closed`, with the detail in `status_notes`.

use crate::AppState;
use crate::auth::{self, Caller, Via};
use crate::casework;
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use civicgrid_domain::case::{CaseEvent, CaseView, EventKind, Source};
use civicgrid_domain::{Category, CategoryCode, Permission, Principal};
use civicgrid_store::{CaseQuery, CaseRecord, NewCase};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Major classes published as Open311 services.
const PUBLIC_MAJORS: &[&str] = &["01", "02", "03", "04", "05", "06", "07", "08", "12", "15", "16"];

/// The attributes every service definition asks for.
const SEVERITIES: &[(&str, &str)] = &[("minor", "一般"), ("serious", "较重"), ("urgent", "紧急")];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

/// Splits `requests.json` into its name and format.
fn split(file: &str) -> Result<(&str, Format), Box<Response>> {
    match file.rsplit_once('.') {
        Some((name, "json")) => Ok((name, Format::Json)),
        Some((name, "xml")) => Ok((name, Format::Xml)),
        _ => Err(Box::new(error(Format::Json, StatusCode::NOT_FOUND, "ask for a .json or .xml resource"))),
    }
}

fn xml_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            '\'' => "&apos;".into(),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => String::new(),
            c => c.to_string(),
        })
        .collect()
}

/// Writes a JSON value as Open311 XML: objects become elements in key order,
/// arrays repeat the `item` element name given for them.
fn xml_value(out: &mut String, name: &str, v: &Value, items: &BTreeMap<&str, &str>) {
    match v {
        Value::Null => out.push_str(&format!("<{name}/>")),
        Value::Array(a) => {
            out.push_str(&format!("<{name}>"));
            let item = items.get(name).copied().unwrap_or("item");
            for x in a {
                xml_value(out, item, x, items);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Object(m) => {
            out.push_str(&format!("<{name}>"));
            for (k, x) in m {
                xml_value(out, k, x, items);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::String(s) => out.push_str(&format!("<{name}>{}</{name}>", xml_escape(s))),
        other => out.push_str(&format!("<{name}>{other}</{name}>")),
    }
}

fn respond(format: Format, root: &str, item: &str, v: Value) -> Response {
    match format {
        Format::Json => axum::Json(v).into_response(),
        Format::Xml => {
            let items: BTreeMap<&str, &str> = [
                (root, item),
                ("attributes", "attribute"),
                ("values", "value"),
                ("endpoints", "endpoint"),
                ("formats", "format"),
                ("keywords", "keyword"),
            ]
            .into_iter()
            .collect();
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            xml_value(&mut out, root, &v, &items);
            ([(header::CONTENT_TYPE, "application/xml; charset=utf-8")], out).into_response()
        }
    }
}

/// Open311's error shape: `[{"code", "description"}]` or `<errors><error>…`.
fn error(format: Format, status: StatusCode, description: &str) -> Response {
    let v = json!([{ "code": status.as_u16(), "description": description }]);
    let mut r = respond(format, "errors", "error", v);
    *r.status_mut() = status;
    r
}

fn public_categories() -> impl Iterator<Item = &'static Category> {
    casework::rules().catalogue.categories().filter(|c| PUBLIC_MAJORS.contains(&c.code.major().as_str()))
}

fn public_category(code: &str) -> Option<&'static Category> {
    let code = CategoryCode::parse(code).ok()?;
    public_categories().find(|c| c.code == code)
}

fn service_json(c: &Category) -> Value {
    let group = casework::rules().catalogue.major(&c.code.major()).map(|m| m.name_zh.clone()).unwrap_or_default();
    json!({
        "service_code": c.code,
        "service_name": c.name_zh,
        "description": format!("{} ({})", c.name_zh, c.name_en),
        "metadata": true,
        "type": "realtime",
        "keywords": [c.name_en.to_lowercase()],
        "group": group,
    })
}

/// `GET /open311/v2/{discovery|services|requests}.{json|xml}`.
pub async fn get_root(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let (name, format) = match split(&file) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    match name {
        "discovery" => respond(
            format,
            "discovery",
            "endpoint",
            json!({
                "changeset": "2026-11-26T00:00:00Z",
                "contact": "CivicGrid command centre",
                "key_service": "Ask the district's command centre for an api_key.",
                "endpoints": [{
                    "specification": "http://wiki.open311.org/GeoReport_v2",
                    "url": "/open311/v2",
                    "changeset": "2026-11-26T00:00:00Z",
                    "type": "production",
                    "formats": ["application/json", "text/xml"],
                }],
            }),
        ),
        "services" => {
            respond(format, "services", "service", Value::Array(public_categories().map(service_json).collect()))
        }
        "requests" => list_requests(&state, format, &q).await,
        _ => error(format, StatusCode::NOT_FOUND, "no such Open311 resource"),
    }
}

/// `GET /open311/v2/services/{code}.{fmt}`: the definition of one service.
pub async fn service_definition(Path(file): Path<String>) -> Response {
    let (code, format) = match split(&file) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let Some(c) = public_category(code) else { return error(format, StatusCode::NOT_FOUND, "no such service_code") };
    let values: Vec<Value> = SEVERITIES.iter().map(|(k, n)| json!({ "key": k, "name": n })).collect();
    respond(
        format,
        "service_definition",
        "attribute",
        json!({
            "service_code": c.code,
            "attributes": [
                { "variable": true, "code": "severity", "datatype": "singlevaluelist", "required": false,
                  "datatype_description": "How serious it looks", "order": 1, "description": "严重程度 Severity",
                  "values": values },
                { "variable": true, "code": "location_detail", "datatype": "string", "required": false,
                  "datatype_description": "Where exactly, in words", "order": 2, "description": "具体位置 Location detail",
                  "values": [] },
            ],
        }),
    )
}

/// Open311 states: ours map onto open/closed, the detail goes into `status_notes`.
fn request_json(c: &CaseRecord) -> Value {
    let closed = c.summary.closed_at.is_some() || c.summary.merged_into.is_some();
    let name = public_category(&c.category).map(|x| x.name_zh.clone()).unwrap_or_default();
    let notes = match (&c.summary.handler_unit, c.summary.merged_into) {
        (_, Some(m)) => format!("{}; merged into {m}", c.summary.state),
        (Some(u), None) => format!("{}; handled by {u}", c.summary.state),
        (None, None) => c.summary.state.clone(),
    };
    json!({
        "service_request_id": c.id.to_string(),
        "status": if closed { "closed" } else { "open" },
        "status_notes": notes,
        "service_name": name,
        "service_code": c.category,
        "description": c.title,
        "agency_responsible": c.summary.handler_unit,
        "service_notice": null,
        "requested_datetime": c.created_at.to_string(),
        "updated_datetime": c.updated_at.to_string(),
        "expected_datetime": c.summary.step_deadline.map(|t| t.to_string()),
        "address": c.grid,
        "address_id": null,
        "zipcode": null,
        "lat": c.lat,
        "long": c.lon,
        "media_url": null,
    })
}

fn public(c: &CaseRecord) -> bool {
    c.source != Source::OneClickCall.as_str() && public_category(&c.category).is_some()
}

async fn list_requests(state: &AppState, format: Format, q: &BTreeMap<String, String>) -> Response {
    let bad = |m: String| error(format, StatusCode::BAD_REQUEST, &m);
    let time = |k: &str| {
        q.get(k).map(|v| v.parse::<Timestamp>().map_err(|e| format!("{k}={v:?} is not a W3C time: {e}"))).transpose()
    };
    let (start, end) = match (time("start_date"), time("end_date")) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(m), _) | (_, Err(m)) => return bad(m),
    };
    // GeoReport: without dates, the last 90 days; a range may not span more.
    let end = end.unwrap_or_else(Timestamp::now);
    let start = start.unwrap_or_else(|| end.checked_sub(SignedDuration::from_hours(90 * 24)).unwrap_or(end));
    if end.duration_since(start) > SignedDuration::from_hours(90 * 24) || end < start {
        return bad("start_date and end_date must be in order and at most 90 days apart".into());
    }
    let page: u32 = match q.get("page").map(|p| p.parse::<u32>()) {
        None => 1,
        Some(Ok(p)) if p >= 1 => p,
        _ => return bad("page is a whole number from 1".into()),
    };
    let size: u32 = match q.get("page_size").map(|p| p.parse::<u32>()) {
        None => 50,
        Some(Ok(s)) if (1..=200).contains(&s) => s,
        _ => return bad("page_size is 1 to 200".into()),
    };
    let codes: Vec<&str> = q.get("service_code").map(|s| s.split(',').map(str::trim).collect()).unwrap_or_default();
    let statuses: Vec<&str> = q.get("status").map(|s| s.split(',').map(str::trim).collect()).unwrap_or_default();
    if statuses.iter().any(|s| !matches!(*s, "open" | "closed")) {
        return bad("status is open or closed".into());
    }
    // Explicit ids override every other filter.
    let found: Result<Vec<CaseRecord>, ApiError> = async {
        if let Some(ids) = q.get("service_request_id") {
            let mut out = Vec::new();
            for id in ids.split(',') {
                let id: i64 = id
                    .trim()
                    .parse()
                    .map_err(|_| ApiError::bad_request(format!("{id:?} is not a service_request_id")))?;
                if let Some(c) = state.store.case(id).await? {
                    out.push(c);
                }
            }
            return Ok(out);
        }
        let query =
            CaseQuery { created_since: Some(start), created_until: Some(end), limit: 1000, ..Default::default() };
        Ok(state.store.cases(&query).await?.items)
    }
    .await;
    let found = match found {
        Ok(f) => f,
        Err(e) => return error(format, e.status, &e.message),
    };
    let filtered: Vec<Value> = found
        .iter()
        .filter(|c| public(c))
        .filter(|c| codes.is_empty() || codes.contains(&c.category.as_str()))
        .map(request_json)
        .filter(|r| statuses.is_empty() || statuses.contains(&r["status"].as_str().unwrap_or("")))
        .skip(((page - 1) * size) as usize)
        .take(size as usize)
        .collect();
    respond(format, "service_requests", "request", Value::Array(filtered))
}

/// `GET /open311/v2/requests/{id}.{fmt}` and `/tokens/{token}.{fmt}`.
pub async fn get_request(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let (id, format) = match split(&file) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let Ok(id) = id.parse::<i64>() else {
        return error(format, StatusCode::BAD_REQUEST, "a service_request_id is a number");
    };
    match state.store.case(id).await {
        Ok(Some(c)) if public(&c) => respond(format, "service_requests", "request", json!([request_json(&c)])),
        Ok(_) => error(format, StatusCode::NOT_FOUND, "no such service request"),
        Err(e) => {
            let e = ApiError::from(e);
            error(format, e.status, &e.message)
        }
    }
}

/// Requests are filed at once, so a token is the request's own id.
pub async fn get_token(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let (token, format) = match split(&file) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    match token.parse::<i64>().ok().map(|id| async move { state.store.case(id).await }) {
        Some(f) => match f.await {
            Ok(Some(c)) if public(&c) => respond(
                format,
                "service_requests",
                "request",
                json!([{ "service_request_id": c.id.to_string(), "token": token }]),
            ),
            _ => error(format, StatusCode::NOT_FOUND, "no such token"),
        },
        None => error(format, StatusCode::NOT_FOUND, "no such token"),
    }
}

/// The client behind an `api_key`: an API token of a user who may report.
async fn client(state: &AppState, key: &str) -> Option<Caller> {
    let (token, user) = state.store.token_holder(&auth::sha256_hex(key)).await.ok()??;
    if token.revoked_at.is_some() || token.expires_at.is_some_and(|t| t <= Timestamp::now()) || user.disabled {
        return None;
    }
    let principal = Principal { user_id: user.id, username: user.username, grants: user.grants };
    if !principal.may(Permission::ReportCases) {
        return None;
    }
    Some(Caller { principal, display_name: user.display_name, via: Via::Token { id: token.id }, ip: None })
}

/// `POST /open311/v2/requests.{fmt}`, form-encoded as the specification writes it.
pub async fn post_request(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (name, format) = match split(&file) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if name != "requests" {
        return error(format, StatusCode::NOT_FOUND, "POST goes to requests.json or requests.xml");
    }
    let bad = |status: StatusCode, m: &str| error(format, status, m);
    let Ok(fields) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return bad(StatusCode::BAD_REQUEST, "the body must be application/x-www-form-urlencoded");
    };
    let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim()).filter(|v| !v.is_empty());
    let Some(caller) = (match field("api_key") {
        Some(k) => client(&state, k).await,
        None => return bad(StatusCode::FORBIDDEN, "api_key is required to post a service request"),
    }) else {
        return bad(StatusCode::FORBIDDEN, "api_key is not valid");
    };
    let Some(category) = field("service_code").and_then(public_category) else {
        return bad(StatusCode::BAD_REQUEST, "service_code is missing or not one of the services");
    };
    let (Some(lat), Some(lon)) =
        (field("lat").and_then(|v| v.parse::<f64>().ok()), field("long").and_then(|v| v.parse::<f64>().ok()))
    else {
        return bad(StatusCode::BAD_REQUEST, "lat and long are required (this server does not geocode address_string)");
    };
    let Ok(point) = civicgrid_geo::LatLng::new(lat, lon) else {
        return bad(StatusCode::BAD_REQUEST, "lat or long is out of range");
    };
    let Some(grid) = state.locator().grid_of(point).cloned() else {
        return bad(StatusCode::BAD_REQUEST, "the point lies outside the district's grids");
    };
    let mut attributes = Vec::new();
    for (k, v) in &fields {
        if let Some(code) = k.strip_prefix("attribute[").and_then(|x| x.strip_suffix(']')) {
            match code {
                "severity" if !SEVERITIES.iter().any(|(s, _)| s == v) => {
                    return bad(StatusCode::BAD_REQUEST, "attribute[severity] is minor, serious or urgent");
                }
                "severity" | "location_detail" => {
                    attributes.push(format!("{code}={}", v.chars().take(200).collect::<String>()))
                }
                other => return bad(StatusCode::BAD_REQUEST, &format!("unknown attribute {other:?}")),
            }
        }
    }
    let description: String = field("description").unwrap_or(&category.name_zh).chars().take(2000).collect();
    let contact: Vec<String> =
        ["first_name", "last_name", "email", "phone", "device_id", "account_id", "address_string"]
            .iter()
            .filter_map(|k| field(k).map(|v| format!("{k}={}", v.chars().take(100).collect::<String>())))
            .collect();
    let Some(actor) = casework::actor_as_reporter(&caller) else {
        return bad(StatusCode::FORBIDDEN, "api_key holds no role");
    };
    let event = CaseEvent {
        at: Timestamp::now(),
        actor,
        kind: EventKind::Report {
            source: Source::ResidentReport,
            grid: grid.clone(),
            category: Some(category.code.clone()),
        },
        // Contact details stay with the handlers, never in the public request.
        note: [vec![description.clone()], attributes, contact].concat().join("\n"),
        photos: Vec::new(),
        location: Some((lon, lat)),
    };
    let view = match CaseView::open(&event) {
        Ok(v) => v,
        Err(e) => return bad(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let filed: Result<_, ApiError> = async {
        let duplicate = casework::likely_duplicate(&state, Some(category.code.as_str()), lat, lon, event.at).await?;
        let events = vec![event];
        let summary = casework::summary(&state.cases, &view, &events, duplicate);
        let new = NewCase {
            source: Source::ResidentReport.as_str().to_owned(),
            category: category.code.to_string(),
            title: description.chars().take(100).collect(),
            description: description.clone(),
            lat,
            lon,
            grid,
            reporter_id: Some(caller.principal.user_id),
        };
        let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let record = casework::to_record(1, &events[0])?;
        Ok(state.store.file_case(&new, &record, &summary, key.as_deref(), &caller.actor()).await?)
    }
    .await;
    match filed {
        Ok(added) => {
            let id = added.item.id.to_string();
            let v = json!([{ "service_request_id": id, "service_notice": "已受理，将按时限办理", "account_id": null }]);
            let mut r = respond(format, "service_requests", "request", v);
            *r.status_mut() = if added.created { StatusCode::CREATED } else { StatusCode::OK };
            r
        }
        Err(e) => error(format, e.status, &e.message),
    }
}
