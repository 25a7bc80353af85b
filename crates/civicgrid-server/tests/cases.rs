//! Cases told as the people involved live them: a resident reports a broken
//! manhole cover, the command centre files and dispatches it, the community
//! handles it, someone else verifies, it is closed and rated; an overdue case
//! climbs the levels on its own; duplicates are flagged; nobody sees another
//! community's cases.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::{Client, tuned_app, writable_app};

/// A point inside grid 610304003002006 of 铁道南社区.
async fn in_grid_006(c: &Client<'_>) -> (f64, f64) {
    let (_, fc) = c.get("/api/v1/grids?within=610304003002006").await;
    let ring = fc["features"][0]["geometry"]["coordinates"][0].as_array().unwrap().clone();
    let xs: Vec<f64> = ring.iter().take(4).map(|p| p[0].as_f64().unwrap()).collect();
    let ys: Vec<f64> = ring.iter().take(4).map(|p| p[1].as_f64().unwrap()).collect();
    (ys.iter().sum::<f64>() / 4.0, xs.iter().sum::<f64>() / 4.0)
}

async fn step(c: &Client<'_>, id: i64, body: Value) -> Value {
    let (status, v) = c.call("POST", &format!("/api/v1/cases/{id}/events"), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body} → {v}");
    v
}

#[tokio::test]
async fn a_broken_manhole_cover_from_report_to_rating() {
    let app = writable_app().await;
    let resident = app.as_user("t-resident").await;
    let operator = app.as_user("t-operator").await;
    let community = app.as_user("t-community").await;
    let worker = app.as_user("t-gridworker").await;
    let (lat, lon) = in_grid_006(&operator).await;

    let (_, cats) = resident.get("/api/v1/case-categories").await;
    let first = &cats["majors"][0]["categories"][0];
    let category = first["code"].as_str().unwrap().to_owned();
    assert!(first["limits_hours"]["handle"].as_f64().unwrap() > 0.0);

    let report = json!({ "title": "井盖缺失", "description": "路口井盖不见了，很危险", "category": category, "lat": lat, "lon": lon });
    let keyed = |key: &str| {
        axum::http::Request::post("/api/v1/cases")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", resident.token.as_deref().unwrap()))
            .header("idempotency-key", key)
            .body(axum::body::Body::from(report.to_string()))
            .unwrap()
    };
    let (status, case) = app.send(keyed("press-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let (again, same) = app.send(keyed("press-1")).await;
    assert_eq!(again, StatusCode::OK, "a retried report is the same case");
    assert_eq!(same["id"], case["id"]);
    let id = case["id"].as_i64().unwrap();
    assert_eq!(case["grid"], "610304003002006");
    assert_eq!(case["source"], "resident_report");
    assert_eq!(case["state"], "reported");
    assert!(case["step_deadline"].is_string(), "filing has a deadline");

    // The resident cannot file or dispatch their own report.
    let (status, _) = resident
        .call("POST", &format!("/api/v1/cases/{id}/events"), json!({ "type": "file", "category": category }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, mine) = resident.get("/api/v1/cases/mine").await;
    assert_eq!(mine["total"], 1);

    step(&operator, id, json!({ "type": "file", "category": category, "note": "立案" })).await;
    let dispatched = step(&operator, id, json!({ "type": "dispatch", "unit": "610304003002" })).await;
    assert_eq!(dispatched["state"], "dispatched");
    assert_eq!(dispatched["handler_unit"], "610304003002");
    // Dispatching again is not a step of a dispatched case.
    let (status, refused) = operator
        .call("POST", &format!("/api/v1/cases/{id}/events"), json!({ "type": "dispatch", "unit": "610304003002" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(refused["error"]["message"].as_str().unwrap().contains("cannot be dispatched"), "{refused}");

    step(&community, id, json!({ "type": "accept" })).await;
    step(&community, id, json!({ "type": "report_back", "note": "已更换新井盖" })).await;
    // The handler may not verify their own work.
    let (status, v) = community
        .call("POST", &format!("/api/v1/cases/{id}/events"), json!({ "type": "verify", "passed": true }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    step(&worker, id, json!({ "type": "verify", "passed": true, "note": "现场核查已修复", "location": [lon, lat] }))
        .await;
    let closed = step(&operator, id, json!({ "type": "close" })).await;
    assert_eq!(closed["state"], "closed");
    assert!(closed["closed_at"].is_string());
    let (_, seen) = resident.get(&format!("/api/v1/cases/{id}")).await;
    assert!(seen["actions"].as_array().unwrap().iter().any(|a| a == "evaluate"), "{}", seen["actions"]);
    let rated = step(&resident, id, json!({ "type": "evaluate", "satisfaction": 5 })).await;
    assert_eq!(rated["state"], "evaluated");

    let (_, full) = operator.get(&format!("/api/v1/cases/{id}")).await;
    let kinds: Vec<&str> = full["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["report", "file", "dispatch", "accept", "report_back", "verify", "close", "evaluate"]);
    assert_eq!(full["events"][5]["actor"]["username"], "t-gridworker");

    // Another community's staff do not even learn the case exists.
    let other = app.as_user("t-street").await;
    assert_eq!(other.get(&format!("/api/v1/cases/{id}")).await.0, StatusCode::OK, "the street above sees it");
    let (_, inbox) = community.get("/api/v1/cases?state=evaluated").await;
    assert_eq!(inbox["total"], 1);
    let (status, _) = community.get("/api/v1/cases?unit=610304003003").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_overdue_case_climbs_the_levels_once_per_deadline() {
    let app = writable_app().await;
    let operator = app.as_user("t-operator").await;
    let (lat, lon) = in_grid_006(&operator).await;
    let (_, cats) = operator.get("/api/v1/case-categories").await;
    let category = cats["majors"][0]["categories"][0]["code"].as_str().unwrap().to_owned();
    let (_, case) = operator
        .call(
            "POST",
            "/api/v1/cases",
            json!({ "title": "占道经营", "category": category, "lat": lat, "lon": lon, "source": "hotline_12345" }),
        )
        .await;
    let id = case["id"].as_i64().unwrap();
    step(&operator, id, json!({ "type": "file", "category": category })).await;
    step(&operator, id, json!({ "type": "dispatch", "unit": "610304003002006" })).await;
    let state = civicgrid_server::AppState::load(app.store.clone()).await.unwrap();
    let (_, now) = operator.get(&format!("/api/v1/cases/{id}")).await;
    let deadline: jiff::Timestamp = now["step_deadline"].as_str().unwrap().parse().unwrap();
    let before = deadline - jiff::SignedDuration::from_secs(1);
    assert_eq!(civicgrid_server::casework::escalate_due(&state, before).await.unwrap(), 0, "not overdue yet");
    let after = deadline + jiff::SignedDuration::from_secs(1);
    assert_eq!(civicgrid_server::casework::escalate_due(&state, after).await.unwrap(), 1);
    assert_eq!(
        civicgrid_server::casework::escalate_due(&state, after).await.unwrap(),
        0,
        "never twice for one deadline"
    );
    let (_, c) = operator.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(c["escalation"], "community");
    assert_eq!(c["supervision"], true);
    let last = c["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["type"], "escalated");
    assert!(last["note"].as_str().unwrap().contains("督办"));
    // A whole step limit later it goes up again, to the street.
    let later: jiff::Timestamp = c["escalate_at"].as_str().unwrap().parse().unwrap();
    assert!(later > deadline);
    assert_eq!(
        civicgrid_server::casework::escalate_due(&state, later + jiff::SignedDuration::from_secs(1)).await.unwrap(),
        1
    );
    let (_, c) = operator.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(c["escalation"], "street");
    // The clock above ran at made-up times; by the real clock the step is not late yet.
    let (_, overdue) = operator.get("/api/v1/cases?overdue=true").await;
    assert!(overdue["items"].as_array().unwrap().iter().all(|x| x["id"] != id));
}

/// A verified case waits for closure, which the workflow does not escalate:
/// its step deadline passes, but the clock neither escalates it nor keeps
/// picking it every turn. A row written before the clock knew this (its
/// escalation time still set) is cleared once, audited, and not tried again;
/// closing it works as ever.
#[tokio::test]
async fn the_clock_leaves_alone_what_the_workflow_will_not_escalate() {
    let app = writable_app().await;
    let operator = app.as_user("t-operator").await;
    let community = app.as_user("t-community").await;
    let (lat, lon) = in_grid_006(&operator).await;
    let (_, cats) = operator.get("/api/v1/case-categories").await;
    let category = cats["majors"][0]["categories"][0]["code"].as_str().unwrap().to_owned();
    let (_, case) = operator
        .call(
            "POST",
            "/api/v1/cases",
            json!({ "title": "井盖松动", "category": category, "lat": lat, "lon": lon, "source": "hotline_12345" }),
        )
        .await;
    let id = case["id"].as_i64().unwrap();
    step(&operator, id, json!({ "type": "file", "category": category })).await;
    step(&operator, id, json!({ "type": "dispatch", "unit": "610304003002" })).await;
    step(&community, id, json!({ "type": "accept" })).await;
    step(&community, id, json!({ "type": "report_back", "note": "已紧固" })).await;
    let verified = step(&operator, id, json!({ "type": "verify", "passed": true })).await;
    assert_eq!(verified["state"], "verified");
    assert!(verified["step_deadline"].is_string(), "the verification step still has its deadline");
    assert_eq!(verified["escalate_at"], Value::Null, "but the clock has nothing to wait for");

    // As a row written before this was known: the escalation time still set.
    let stored = app.store.case(id).await.unwrap().unwrap();
    let deadline = stored.summary.step_deadline.unwrap();
    let mut summary = stored.summary.clone();
    summary.escalate_at = Some(deadline);
    let events = app.store.case_events(id).await.unwrap();
    let last = civicgrid_server::casework::from_record(events.last().unwrap()).unwrap();
    let comment = civicgrid_domain::case::CaseEvent {
        kind: civicgrid_domain::case::EventKind::Comment,
        note: "仍待结案".into(),
        photos: Vec::new(),
        location: None,
        ..last
    };
    let record = civicgrid_server::casework::to_record(stored.events + 1, &comment).unwrap();
    let by = civicgrid_store::Actor::system("test");
    app.store.append_case_event(id, &record, &summary, None, &by).await.unwrap();

    let state = civicgrid_server::AppState::load(app.store.clone()).await.unwrap();
    let late = deadline + jiff::SignedDuration::from_hours(24 * 30);
    assert_eq!(app.store.due_escalations(late, 10).await.unwrap().len(), 1);
    assert_eq!(civicgrid_server::casework::escalate_due(&state, late).await.unwrap(), 0, "not escalated");
    assert!(app.store.due_escalations(late, 10).await.unwrap().is_empty(), "and not picked again");
    assert_eq!(civicgrid_server::casework::escalate_due(&state, late).await.unwrap(), 0);
    let (_, c) = operator.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(
        (c["state"].as_str(), c["escalate_at"].as_str(), c["escalation"].as_str()),
        (Some("verified"), None, None)
    );
    assert_eq!(c["events"].as_array().unwrap().len(), 7, "no escalation event");
    let q = civicgrid_store::AuditQuery { target: Some(format!("case:{id}")), limit: 50, ..Default::default() };
    let log = app.store.audit_log(&q).await.unwrap();
    assert_eq!(log.items.iter().filter(|e| e.action == "drop_escalation").count(), 1, "cleared once");

    let closed = step(&operator, id, json!({ "type": "close" })).await;
    assert_eq!(closed["state"], "closed");
}

/// The top of the ladder: a case escalated to the district has no level
/// left to go to, so it has no escalation time either.
#[tokio::test]
async fn a_case_at_the_district_level_has_no_escalation_time() {
    let app = writable_app().await;
    let operator = app.as_user("t-operator").await;
    let (lat, lon) = in_grid_006(&operator).await;
    let (_, case) = operator
        .call(
            "POST",
            "/api/v1/cases",
            json!({ "title": "无人处理", "lat": lat, "lon": lon, "source": "hotline_12345" }),
        )
        .await;
    let id = case["id"].as_i64().unwrap();
    assert!(case["escalate_at"].is_string());
    let state = civicgrid_server::AppState::load(app.store.clone()).await.unwrap();
    let mut at: jiff::Timestamp = case["escalate_at"].as_str().unwrap().parse().unwrap();
    for level in ["community", "street", "district"] {
        let now = at + jiff::SignedDuration::from_secs(1);
        assert_eq!(civicgrid_server::casework::escalate_due(&state, now).await.unwrap(), 1, "to the {level}");
        let (_, c) = operator.get(&format!("/api/v1/cases/{id}")).await;
        assert_eq!(c["escalation"], level);
        if level == "district" {
            assert_eq!(c["escalate_at"], Value::Null, "{c}");
        } else {
            at = c["escalate_at"].as_str().unwrap().parse().unwrap();
        }
    }
}

#[tokio::test]
async fn a_second_report_nearby_is_flagged_and_can_be_merged() {
    let app = writable_app().await;
    let resident = app.as_user("t-resident").await;
    let operator = app.as_user("t-operator").await;
    let (lat, lon) = in_grid_006(&operator).await;
    let (_, cats) = operator.get("/api/v1/case-categories").await;
    let category = cats["majors"][0]["categories"][0]["code"].as_str().unwrap().to_owned();
    let report = |dlat: f64| json!({ "title": "井盖缺失", "category": category, "lat": lat + dlat, "lon": lon });
    let (_, a) = resident.call("POST", "/api/v1/cases", report(0.0)).await;
    let (_, b) = resident.call("POST", "/api/v1/cases", report(0.0001)).await;
    let (_, far) = resident.call("POST", "/api/v1/cases", report(0.01)).await;
    assert_eq!(b["duplicate_of"], a["id"], "11 m away, same category");
    assert_eq!(far["duplicate_of"], Value::Null, "1 km away is another problem");
    let (bid, aid) = (b["id"].as_i64().unwrap(), a["id"].as_i64().unwrap());
    let merged = step(&operator, bid, json!({ "type": "merged_into", "case": aid, "note": "同一井盖" })).await;
    assert_eq!(merged["state"], "merged");
    assert_eq!(merged["merged_into"], aid);
}

#[tokio::test]
async fn bad_reports_get_a_clear_4xx() {
    let app = writable_app().await;
    let resident = app.as_user("t-resident").await;
    let auditor = app.as_user("t-auditor").await;
    for (body, want, words) in [
        (json!({ "title": "", "lat": 34.36, "lon": 107.37 }), StatusCode::UNPROCESSABLE_ENTITY, "title"),
        (json!({ "title": "x", "lat": 34.36, "lon": 107.9 }), StatusCode::UNPROCESSABLE_ENTITY, "outside"),
        (json!({ "title": "x", "lat": 134.36, "lon": 107.37 }), StatusCode::UNPROCESSABLE_ENTITY, "latitude"),
        (
            json!({ "title": "x", "category": "99", "lat": 34.36, "lon": 107.37 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "99",
        ),
        (
            json!({ "title": "x", "category": "01", "lat": 34.36, "lon": 107.37 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "sub-class",
        ),
        (
            json!({ "title": "x", "source": "camera_alarm", "lat": 34.36, "lon": 107.37 }),
            StatusCode::FORBIDDEN,
            "source",
        ),
        (json!({ "title": "x", "lat": 34.36 }), StatusCode::UNPROCESSABLE_ENTITY, "lon"),
        (json!({ "title": "x", "lat": 34.36, "lon": 107.37, "bogus": 1 }), StatusCode::UNPROCESSABLE_ENTITY, "bogus"),
    ] {
        let (status, v) = resident.call("POST", "/api/v1/cases", body.clone()).await;
        assert_eq!(status, want, "{body}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(words), "{body}: {v}");
    }
    assert_eq!(
        auditor.call("POST", "/api/v1/cases", json!({ "title": "x", "lat": 34.36, "lon": 107.37 })).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, _) = resident.get("/api/v1/cases/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = resident.call("POST", "/api/v1/cases/999999/events", json!({ "type": "comment" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let operator = app.as_user("t-operator").await;
    for q in ["state=sleeping", "source=pigeon", "category=x1", "limit=0"] {
        let (status, v) = operator.get(&format!("/api/v1/cases?{q}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}: {v}");
    }
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 3) as u8, (y * 3) as u8, 120]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn a_grid_worker_fixes_it_on_the_spot_with_a_photo() {
    let app = writable_app().await;
    let worker = app.as_user("t-gridworker").await;
    let (lat, lon) = in_grid_006(&worker).await;
    // Upload: only images, checked by content.
    let (status, v) = worker.raw("POST", "/api/v1/attachments", "not an image", "image/jpeg").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (status, _) = worker.raw("POST", "/api/v1/attachments", jpeg(20, 20), "text/plain").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, photo) = worker.raw("POST", "/api/v1/attachments", jpeg(64, 48), "image/jpeg").await;
    assert_eq!(status, StatusCode::CREATED, "{photo}");
    let pid = photo["id"].as_str().unwrap().to_owned();

    let (_, cats) = worker.get("/api/v1/case-categories").await;
    let quick = cats["majors"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["categories"].as_array().unwrap().clone())
        .find(|c| c["self_handle"] == true)
        .expect("a category a grid worker may self-handle");
    let category = quick["code"].as_str().unwrap();
    let (status, case) = worker
        .call(
            "POST",
            "/api/v1/cases",
            json!({ "title": "乱堆杂物", "category": category, "lat": lat, "lon": lon, "photos": [pid] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    assert_eq!(case["source"], "patrol");
    let id = case["id"].as_i64().unwrap();
    let done =
        step(&worker, id, json!({ "type": "self_handle", "category": category, "note": "当场清理", "photos": [pid] }))
            .await;
    assert_eq!(done["state"], "closed", "{done}");

    // Who may see the photo: those who see the case; the original only to handlers.
    let community = app.as_user("t-community").await;
    let thumb = format!("/api/v1/attachments/{pid}/thumb");
    let res = tower::ServiceExt::oneshot(
        app.router.clone(),
        axum::http::Request::get(&thumb)
            .header("authorization", format!("Bearer {}", community.token.as_deref().unwrap()))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    let outsider = app.as_user("t-resident").await;
    assert_eq!(outsider.get(&thumb).await.0, StatusCode::NOT_FOUND, "a resident who did not report it");
    assert_eq!(outsider.get(&format!("/api/v1/attachments/{pid}/original")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(community.get(&format!("/api/v1/attachments/{pid}/sideways")).await.0, StatusCode::BAD_REQUEST);
    // Nobody attaches a photo they did not upload.
    let (status, v) = outsider
        .call("POST", "/api/v1/cases", json!({ "title": "借图", "lat": lat, "lon": lon, "photos": [pid] }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // Too large for an upload.
    let huge = vec![0xFFu8; civicgrid_store::attachments::DEFAULT_MAX_BYTES + 1];
    assert_eq!(worker.raw("POST", "/api/v1/attachments", huge, "image/jpeg").await.0, StatusCode::PAYLOAD_TOO_LARGE);

    // The indicators count it: one case, self-handled, closed on time.
    let now = jiff::Timestamp::now();
    let from = now - jiff::SignedDuration::from_hours(1);
    let to = now + jiff::SignedDuration::from_hours(1);
    let (status, k) = community.get(&format!("/api/v1/kpis?unit=610304003002&from={from}&to={to}&by=grid")).await;
    assert_eq!(status, StatusCode::OK, "{k}");
    let grid = k["units"].as_array().unwrap().iter().find(|u| u["unit"] == "610304003002006").unwrap().clone();
    assert_eq!(grid["reported"], 1);
    assert_eq!(grid["closed"], 1);
    assert_eq!(grid["self_handled"]["num"], 1);
    let (status, _) = community.get(&format!("/api/v1/kpis?unit=610304003002&from={to}&to={from}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = community.get(&format!("/api/v1/kpis?unit=610304003003&from={from}&to={to}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_case_is_routed_by_its_category_and_filed_cases_can_be_dispatched_at_once() {
    let app = writable_app().await;
    let resident = app.as_user("t-resident").await;
    let operator = app.as_user("t-operator").await;
    let (lat, lon) = in_grid_006(&operator).await;
    // Reported without a category: no route yet, and a dispatch needs a unit.
    let (_, case) =
        resident.call("POST", "/api/v1/cases", json!({ "title": "有股怪味", "lat": lat, "lon": lon })).await;
    let id = case["id"].as_i64().unwrap();
    assert_eq!(case["route"], Value::Null);
    // Filed as a gas leak (handled by the utility companies under the district).
    let filed = step(&operator, id, json!({ "type": "file", "category": "0903" })).await;
    assert_eq!(filed["category"], "0903", "the category given at filing is the case's now");
    assert_eq!(filed["route"], json!({ "handler": "utility_company", "unit": "610304" }));
    let (_, found) = operator.get("/api/v1/cases?category=0903").await;
    assert!(
        found["items"].as_array().unwrap().iter().any(|c| c["id"] == id),
        "the inbox filters by the filed category"
    );
    let dispatched = step(&operator, id, json!({ "type": "dispatch" })).await;
    assert_eq!(dispatched["handler_unit"], "610304", "a dispatch without a unit follows the route");

    let (_, bare) =
        resident.call("POST", "/api/v1/cases", json!({ "title": "不知道算什么", "lat": lat, "lon": lon })).await;
    let (status, v) =
        operator.call("POST", &format!("/api/v1/cases/{}/events", bare["id"]), json!({ "type": "dispatch" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("route"), "{v}");

    // With auto-dispatch on, filing sends exposed rubbish straight to the community.
    let app = tuned_app(|s| s.with_auto_dispatch(true)).await;
    let resident = app.as_user("t-resident").await;
    let operator = app.as_user("t-operator").await;
    let (_, case) = resident
        .call("POST", "/api/v1/cases", json!({ "title": "垃圾堆在路边", "category": "0601", "lat": lat, "lon": lon }))
        .await;
    let id = case["id"].as_i64().unwrap();
    let after = step(&operator, id, json!({ "type": "file", "category": "0601" })).await;
    assert_eq!(after["state"], "dispatched");
    assert_eq!(after["handler_unit"], "610304003002");
    let (_, full) = operator.get(&format!("/api/v1/cases/{id}")).await;
    let last = full["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["type"].as_str(), last["actor"]["username"].as_str()), (Some("dispatch"), Some("system:router")));
    assert!(full["step_deadline"].is_string(), "the handling step runs from the dispatch");
}

#[tokio::test]
async fn the_open_case_map_shows_each_case_against_its_deadline_within_the_callers_scope() {
    let app = writable_app().await;
    let resident = app.as_user("t-resident").await;
    let operator = app.as_user("t-operator").await;
    let (lat, lon) = in_grid_006(&operator).await;
    let mut ids = Vec::new();
    for title in ["路灯不亮", "井盖松动", "乱堆杂物"] {
        let (_, c) = resident
            .call("POST", "/api/v1/cases", json!({ "title": title, "category": "0601", "lat": lat, "lon": lon }))
            .await;
        ids.push(c["id"].as_i64().unwrap());
    }
    step(&operator, ids[2], json!({ "type": "void", "note": "不属实" })).await;
    let (status, fc) = operator.get("/api/v1/cases/open").await;
    assert_eq!(status, StatusCode::OK, "{fc}");
    assert_eq!(fc["type"], "FeatureCollection");
    let features = fc["features"].as_array().unwrap();
    let shown: Vec<i64> = features.iter().map(|f| f["properties"]["id"].as_i64().unwrap()).collect();
    assert!(shown.contains(&ids[0]) && shown.contains(&ids[1]), "open cases are on the map");
    assert!(!shown.contains(&ids[2]), "a voided case is not open");
    let one = features.iter().find(|f| f["properties"]["id"] == ids[0]).unwrap();
    assert_eq!(one["geometry"]["type"], "Point");
    let [x, y] =
        [one["geometry"]["coordinates"][0].as_f64().unwrap(), one["geometry"]["coordinates"][1].as_f64().unwrap()];
    assert!((x - lon).abs() < 1e-9 && (y - lat).abs() < 1e-9, "WGS-84 by default, [lon, lat]");
    let t = one["properties"]["timeliness"].as_str().unwrap();
    assert!(["on_time", "due_soon", "overdue"].contains(&t), "a reported case has a running deadline: {t}");
    let (_, gcj) = operator.get("/api/v1/cases/open?crs=gcj02").await;
    let g = gcj["features"].as_array().unwrap().iter().find(|f| f["properties"]["id"] == ids[0]).unwrap().clone();
    assert!((g["geometry"]["coordinates"][0].as_f64().unwrap() - lon).abs() > 1e-4, "GCJ-02 is shifted");

    // Scope: the community sees its own; another community's map is not found; residents have none.
    let community = app.as_user("t-community").await;
    let (_, own) = community.get("/api/v1/cases/open").await;
    assert_eq!(own["unit"], "610304003002");
    assert!(own["features"].as_array().unwrap().len() >= 2);
    assert_eq!(community.get("/api/v1/cases/open?unit=610304003003").await.0, StatusCode::NOT_FOUND);
    assert_eq!(resident.get("/api/v1/cases/open").await.0, StatusCode::FORBIDDEN);
    assert_eq!(operator.get("/api/v1/cases/open?crs=mars").await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn indicators_have_a_row_per_unit_and_the_scopes_total() {
    let app = writable_app().await;
    let resident = app.as_user("t-resident").await;
    let operator = app.as_user("t-operator").await;
    let (lat, lon) = in_grid_006(&operator).await;
    for _ in 0..3 {
        resident
            .call("POST", "/api/v1/cases", json!({ "title": "路边垃圾", "category": "0601", "lat": lat, "lon": lon }))
            .await;
    }
    let now = jiff::Timestamp::now();
    let (from, to) = (now - jiff::SignedDuration::from_hours(1), now + jiff::SignedDuration::from_hours(1));
    let (status, v) = operator.get(&format!("/api/v1/kpis?unit=610304003&from={from}&to={to}")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let units = v["units"].as_array().unwrap();
    let row = units.iter().find(|u| u["unit"] == "610304003002").unwrap();
    assert_eq!(row["reported"], 3);
    assert_eq!(v["total"]["reported"], units.iter().map(|u| u["reported"].as_u64().unwrap()).sum::<u64>());
    assert_eq!(v["total"]["by_source"]["resident_report"], 3);
}
