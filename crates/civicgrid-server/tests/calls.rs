//! One-click calls through the API: placed once however often the button is
//! pressed, offered to the nearest free and fresh responders, taken by
//! exactly one, carried to done on the case; offers that lapse go to the
//! next ones and the call is alarmed in the end; bad positions and bad
//! calls get clear 4xx answers.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod support;

use axum::http::StatusCode;
use civicgrid_domain::{DispatchPolicy, Grant, Role, UnitCode};
use civicgrid_server::dispatch;
use civicgrid_store::{Actor, NewUser, ResponderRecord};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use support::{App, PASSWORD};

/// Grid 1 of 铁道南社区; the call is placed at its centre.
const GRID: &str = "610304003002001";
const COMMUNITY: &str = "610304003002";

async fn centre(app: &App, grid: &str) -> (f64, f64) {
    let unit = app.store.unit(&UnitCode::parse(grid).unwrap()).await.unwrap().unwrap();
    let ring = unit.boundary.unwrap();
    let (lon, lat) = ring.iter().take(4).fold((0.0, 0.0), |(x, y), [a, b]| (x + a / 4.0, y + b / 4.0));
    (lat, lon)
}

/// `metres` north of a point.
fn north(p: (f64, f64), metres: f64) -> (f64, f64) {
    (p.0 + metres / 111_195.0, p.1)
}

/// Responders of the community no account answers as, not grid workers
/// (whose preference is tested apart), `n` of them.
async fn free_responders(app: &App, n: usize) -> Vec<ResponderRecord> {
    let all = app.store.responders(None).await.unwrap();
    let picked: Vec<ResponderRecord> = all
        .into_iter()
        .filter(|r| r.user_id.is_none() && r.grid.starts_with(COMMUNITY) && r.team != "grid_worker")
        .take(n)
        .collect();
    assert_eq!(picked.len(), n, "the demo community has enough responders");
    picked
}

/// An account answering as responder `id`; its username.
async fn account_for(app: &App, id: i64, name: &str) -> String {
    let system = Actor::system("test");
    let new = NewUser {
        username: name.into(),
        display_name: format!("测试 {name}"),
        password_hash: civicgrid_server::auth::password::hash(PASSWORD),
        grants: vec![Grant { role: Role::Responder, scope: UnitCode::parse(COMMUNITY).unwrap() }],
    };
    let user = app.store.create_user(&new, &system).await.unwrap();
    app.store.link_responder(id, Some(user.id), &system).await.unwrap();
    app.state.fleet.sync(app.store.as_ref()).await.unwrap();
    name.into()
}

/// Puts responders on duty at points (a position `age` old), through the
/// store as another node would, then lets the node catch up.
async fn on_duty_at(app: &App, at: &[(i64, (f64, f64))], age: SignedDuration) {
    let system = Actor::system("test");
    let when = Timestamp::now() - age;
    let fixes: Vec<_> = at
        .iter()
        .map(|(id, (lat, lon))| civicgrid_store::PositionFix { responder_id: *id, lat: *lat, lon: *lon, at: when })
        .collect();
    for (id, _) in at {
        app.store.set_duty(*id, true, &system).await.unwrap();
    }
    app.store.record_positions(&fixes).await.unwrap();
    app.state.fleet.sync(app.store.as_ref()).await.unwrap();
}

fn offered(call: &Value) -> Vec<i64> {
    let offers = call["offers"].as_array().unwrap();
    offers.iter().filter(|o| o["state"] == "offered").map(|o| o["responder_id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn a_call_goes_to_the_nearest_fresh_responders_and_exactly_one_takes_it_to_done() {
    let app = support::writable_app().await;
    let p = centre(&app, GRID).await;
    let rs = free_responders(&app, 6).await;
    // Four fresh and on duty at 100 to 400 m; a stale one and one off duty nearer.
    let fresh: Vec<(i64, (f64, f64))> = (0..4).map(|i| (rs[i].id, north(p, 100.0 * (i as f64 + 1.0)))).collect();
    on_duty_at(&app, &fresh, SignedDuration::from_secs(5)).await;
    on_duty_at(&app, &[(rs[4].id, north(p, 20.0))], SignedDuration::from_secs(600)).await;
    let resident = app.as_user("t-resident").await;

    // A button pressed five times is one call.
    let body = json!({ "lat": p.0, "lon": p.1, "kind": "other", "note": "测试呼叫" });
    let (status, first) = resident.call_keyed("POST", "/api/v1/calls", body.clone(), "press-1").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    for _ in 0..4 {
        let (status, again) = resident.call_keyed("POST", "/api/v1/calls", body.clone(), "press-1").await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["id"], first["id"]);
    }
    let id = first["id"].as_i64().unwrap();
    assert_eq!(first["state"], "dispatching");
    assert_eq!(first["grid"], GRID);
    // The three nearest fresh ones, nearest first; never the stale one.
    let want: Vec<i64> = fresh[..3].iter().map(|(id, _)| *id).collect();
    assert_eq!(offered(&first), want, "{first}");
    let d: Vec<i64> = first["offers"].as_array().unwrap().iter().map(|o| o["distance_m"].as_i64().unwrap()).collect();
    assert!((95..=105).contains(&d[0]) && d[0] < d[1] && d[1] < d[2], "{d:?}");
    let case = first["case_id"].as_i64().unwrap();
    let (_, c) = app.as_user("t-operator").await.get(&format!("/api/v1/cases/{case}")).await;
    assert_eq!(c["source"], "one_click_call");
    assert_eq!(c["state"], "dispatched");

    // The first two accept at the same moment: exactly one owns the call.
    let a = account_for(&app, want[0], "t-r-a").await;
    let b = account_for(&app, want[1], "t-r-b").await;
    let (ca, cb) = (app.as_user(&a).await, app.as_user(&b).await);
    let uri = format!("/api/v1/calls/{id}/answer");
    let ((sa, va), (sb, vb)) = tokio::join!(
        ca.call("POST", &uri, json!({ "accept": true })),
        cb.call("POST", &uri, json!({ "accept": true }))
    );
    let mut codes = [sa, sb];
    codes.sort();
    assert_eq!(codes, [StatusCode::OK, StatusCode::CONFLICT], "{va} {vb}");
    let loser = if sa == StatusCode::OK { &vb } else { &va };
    assert_eq!(loser["error"]["code"], "taken", "{loser}");
    let (winner, winner_id) = if sa == StatusCode::OK { (&ca, want[0]) } else { (&cb, want[1]) };
    let (_, call) = app.as_user("t-operator").await.get(&format!("/api/v1/calls/{id}")).await;
    assert_eq!(call["state"], "accepted");
    assert_eq!(call["owner"]["responder_id"], winner_id);
    assert!(offered(&call).is_empty(), "the other offers are withdrawn: {call}");
    let owners = app.store.responders(None).await.unwrap().iter().filter(|r| r.call_id == Some(id)).count();
    assert_eq!(owners, 1);

    // The caller sees who is coming, not where they are.
    let (_, mine) = resident.get(&format!("/api/v1/calls/{id}")).await;
    assert_eq!(mine["owner"]["responder_id"], winner_id);
    assert!(mine["owner"]["eta_s"].as_f64().unwrap() > 0.0);
    assert!(mine["owner"].get("lat").is_none());

    // On the way, on the scene, done with a note: the case is reported back.
    let step = |s: &'static str, note: &'static str| json!({ "step": s, "note": note });
    let uri = format!("/api/v1/calls/{id}/progress");
    let (status, v) = winner.call("POST", &uri, step("done", "")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "done needs a note: {v}");
    let (status, v) = winner.call("POST", &uri, step("on_scene", "")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = winner.call("POST", &uri, step("en_route", "")).await;
    assert_eq!(status, StatusCode::CONFLICT, "no going back: {v}");
    let (status, v) = winner.call("POST", &uri, step("done", "扶老人回家，已无大碍")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "done");
    let (_, c) = app.as_user("t-operator").await.get(&format!("/api/v1/cases/{case}")).await;
    assert_eq!(c["state"], "reported_back");
    let steps: Vec<String> = c["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}{}",
                e["type"].as_str().unwrap(),
                e["step"].as_str().map(|s| format!(":{s}")).unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            "report",
            "file",
            "dispatch",
            "respond:offered",
            "respond:offered",
            "respond:offered",
            "respond:accepted",
            "accept",
            "respond:withdrawn",
            "respond:withdrawn",
            "respond:on_scene",
            "respond:done",
            "report_back"
        ]
    );
    let me = app.as_user(if winner_id == want[0] { &a } else { &b }).await;
    let (_, r) = me.get("/api/v1/responders/me").await;
    assert_eq!(r["state"], "idle", "free again: {r}");
    assert!(r["task"].is_null());
}

#[tokio::test]
async fn the_grid_worker_goes_first_within_the_margin_and_skills_count() {
    let app = support::writable_app().await;
    let all = app.store.responders(None).await.unwrap();
    let worker =
        all.iter().find(|r| r.team == "grid_worker" && r.grid.starts_with(COMMUNITY) && r.user_id.is_none()).unwrap();
    let p = centre(&app, &worker.grid).await;
    let riders = free_responders(&app, 2).await;
    on_duty_at(
        &app,
        &[(worker.id, north(p, 250.0)), (riders[0].id, north(p, 60.0)), (riders[1].id, north(p, 90.0))],
        SignedDuration::ZERO,
    )
    .await;
    let resident = app.as_user("t-resident").await;
    let (status, call) = resident
        .call_keyed("POST", "/api/v1/calls", json!({ "lat": p.0, "lon": p.1, "kind": "other" }), "worker")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    assert_eq!(offered(&call)[0], worker.id, "the grid's own worker first: {call}");
}

#[tokio::test]
async fn lapsed_offers_cascade_to_the_next_ring_and_nobody_answering_alarms_the_centre() {
    let policy = DispatchPolicy {
        offers: 1,
        ack: SignedDuration::from_secs(2),
        give_up: SignedDuration::from_secs(6),
        ..DispatchPolicy::default()
    };
    let app = support::tuned_app(|s| s.with_dispatch(policy)).await;
    let p = centre(&app, GRID).await;
    let rs = free_responders(&app, 2).await;
    on_duty_at(&app, &[(rs[0].id, north(p, 100.0)), (rs[1].id, north(p, 200.0))], SignedDuration::ZERO).await;
    let resident = app.as_user("t-resident").await;
    let (_, call) =
        resident.call_keyed("POST", "/api/v1/calls", json!({ "lat": p.0, "lon": p.1, "kind": "fall" }), "lapse").await;
    let id = call["id"].as_i64().unwrap();
    assert_eq!(offered(&call), [rs[0].id]);
    // Before the offer lapses, the dispatcher leaves the call alone (asked
    // only while it surely has not lapsed: a slow machine may be past it).
    let expires: Timestamp = call["offers"][0]["expires_at"].as_str().unwrap().parse().unwrap();
    let made = dispatch::turn(&app.state).await.unwrap();
    if Timestamp::now() < expires {
        assert_eq!(made, 0, "a round before the offer lapsed");
    }
    let wait = expires.duration_since(Timestamp::now()).as_secs_f64().max(0.0) + 0.1;
    tokio::time::sleep(std::time::Duration::from_secs_f64(wait)).await;
    dispatch::turn(&app.state).await.unwrap();
    let (_, call) = app.as_user("t-operator").await.get(&format!("/api/v1/calls/{id}")).await;
    assert_eq!(offered(&call), [rs[1].id], "the next ring: {call}");
    assert_eq!(call["state"], "dispatching");
    let give_up: Timestamp = call["give_up_at"].as_str().unwrap().parse().unwrap();
    let wait = give_up.duration_since(Timestamp::now()).as_secs_f64().max(0.0) + 0.1;
    tokio::time::sleep(std::time::Duration::from_secs_f64(wait)).await;
    dispatch::turn(&app.state).await.unwrap();
    let (_, call) = app.as_user("t-operator").await.get(&format!("/api/v1/calls/{id}")).await;
    assert_eq!(call["state"], "alarmed", "{call}");
    let (_, c) = app.as_user("t-operator").await.get(&format!("/api/v1/cases/{}", call["case_id"])).await;
    let alarm = c["events"].as_array().unwrap().iter().find(|e| e["type"] == "escalated").unwrap();
    assert_eq!(alarm["level"], "community");
    assert!(alarm["note"].as_str().unwrap().contains("包联领导"), "{alarm}");
    // The command centre gives it to someone by hand.
    let (status, v) = app
        .as_user("t-operator")
        .await
        .call("POST", &format!("/api/v1/calls/{id}/assign"), json!({ "responder_id": rs[0].id }))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "accepted");
    assert_eq!(v["owner"]["responder_id"], rs[0].id);
}

#[tokio::test]
async fn a_decline_sends_the_call_to_the_next_responder_at_once() {
    let policy = DispatchPolicy { offers: 1, ..DispatchPolicy::default() };
    let app = support::tuned_app(|s| s.with_dispatch(policy)).await;
    let p = centre(&app, GRID).await;
    let rs = free_responders(&app, 2).await;
    on_duty_at(&app, &[(rs[0].id, north(p, 100.0)), (rs[1].id, north(p, 200.0))], SignedDuration::ZERO).await;
    let name = account_for(&app, rs[0].id, "t-r-decline").await;
    let (_, call) = app
        .as_user("t-resident")
        .await
        .call_keyed("POST", "/api/v1/calls", json!({ "lat": p.0, "lon": p.1 }), "decline")
        .await;
    let id = call["id"].as_i64().unwrap();
    let first = app.as_user(&name).await;
    let (_, me) = first.get("/api/v1/responders/me").await;
    assert_eq!(me["offer"]["call_id"], id, "{me}");
    assert!(me["offer"]["gcj02"]["lat"].as_f64().is_some(), "a position for Chinese map apps: {me}");
    let (status, v) = first.call("POST", &format!("/api/v1/calls/{id}/answer"), json!({ "accept": false })).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(offered(&v), [rs[1].id], "{v}");
    let (status, v) = first.call("POST", &format!("/api/v1/calls/{id}/answer"), json!({ "accept": true })).await;
    assert_eq!(status, StatusCode::CONFLICT, "a declined offer is gone: {v}");
}

#[tokio::test]
async fn bad_positions_and_bad_calls_get_clear_4xx_answers() {
    let app = support::writable_app().await;
    let p = centre(&app, GRID).await;
    let responder = app.as_user("t-responder").await;
    let now = Timestamp::now();
    let fix = |lat: f64, lon: f64, at: Timestamp| json!({ "lat": lat, "lon": lon, "at": at.to_string() });
    let post = |body: Value| {
        let responder = &responder;
        async move { responder.call("POST", "/api/v1/responders/locations", body).await }
    };
    let (status, v) = post(fix(p.0, p.1, now - SignedDuration::from_secs(60))).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let cases: &[(Value, &str)] = &[
        (fix(91.0, p.1, now), "out_of_range"),
        (fix(39.9, 116.4, now), "out_of_range"),
        (fix(p.0, p.1, now + SignedDuration::from_secs(600)), "from_the_future"),
        (fix(p.0 + 0.1, p.1, now), "impossible_jump"),
        (fix(p.0, p.1, now - SignedDuration::from_secs(600)), "older_than_last"),
        (json!({ "responder_id": 999_999_999, "lat": p.0, "lon": p.1, "at": now.to_string() }), "unknown_responder"),
        (json!({ "lat": p.0, "lon": p.1, "crs": "mercator", "at": now.to_string() }), "bad_crs"),
    ];
    for (body, code) in cases {
        let (status, v) = post(body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert_eq!(v["error"]["code"], *code, "{body}: {v}");
    }
    let (status, v) = post(json!({ "lat": "north", "lon": 1 })).await;
    assert!(status.is_client_error(), "{v}");
    // A batch says which failed; the rest are taken, in GCJ-02 too.
    let (gcj_lat, gcj_lon) = civicgrid_geo::Crs::Gcj02.from_wgs84(civicgrid_geo::LatLng::new(p.0, p.1).unwrap());
    let batch = json!({ "positions": [
        { "lat": gcj_lat, "lon": gcj_lon, "crs": "gcj02", "at": now.to_string() },
        fix(91.0, p.1, now),
    ] });
    let (status, v) = post(batch).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], 1);
    assert_eq!(v["rejected"][0]["index"], 1);
    let (_, me) = responder.get("/api/v1/responders/me").await;
    assert!((me["lat"].as_f64().unwrap() - p.0).abs() < 1e-5, "GCJ-02 is converted back: {me}");

    let resident = app.as_user("t-resident").await;
    let call = |lat: f64, lon: f64, kind: &str| json!({ "lat": lat, "lon": lon, "kind": kind });
    let (status, v) = resident.call("POST", "/api/v1/calls", call(p.0, p.1, "fall")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an Idempotency-Key is required: {v}");
    for (body, want) in [
        (call(p.0, p.1, "alien"), StatusCode::UNPROCESSABLE_ENTITY),
        (call(39.9, 116.4, "fall"), StatusCode::UNPROCESSABLE_ENTITY),
        (call(95.0, 116.4, "fall"), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({ "lat": p.0 }), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({ "lat": p.0, "lon": p.1, "device": "bad device!" }), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, v) = resident.call_keyed("POST", "/api/v1/calls", body.clone(), "bad").await;
        assert_eq!(status, want, "{body}: {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    // The same key for a different call is refused.
    let (status, _) = resident.call_keyed("POST", "/api/v1/calls", call(p.0, p.1, "fall"), "reuse").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, v) = resident.call_keyed("POST", "/api/v1/calls", call(p.0, p.1, "fire"), "reuse").await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    // Answers to calls one was never offered are refused.
    let (status, _) = responder.call("POST", "/api/v1/calls/999999/answer", json!({ "accept": true })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_live_list_of_responders_comes_a_page_at_a_time_by_id() {
    let app = support::app().await;
    let community = app.as_user("t-community").await;
    let all: Vec<i64> = {
        let mut ids: Vec<i64> = app
            .store
            .responders(None)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.grid.starts_with(COMMUNITY))
            .map(|r| r.id)
            .collect();
        ids.sort_unstable();
        ids
    };
    assert!(all.len() > 7, "the demo community has responders");
    let mut seen = Vec::new();
    let mut after: Option<i64> = None;
    loop {
        let uri = match after {
            Some(a) => format!("/api/v1/responders?within={COMMUNITY}&limit=7&after={a}"),
            None => format!("/api/v1/responders?within={COMMUNITY}&limit=7"),
        };
        let (status, page) = community.get(&uri).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 7);
        seen.extend(items.iter().map(|r| r["id"].as_i64().unwrap()));
        match page["next_after"].as_i64() {
            Some(next) => {
                assert_eq!(Some(next), seen.last().copied());
                after = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(seen, all, "every responder of the community once, by id");
    for bad in ["limit=0", "limit=5001", "limit=x", "after=x", "page=2"] {
        let (status, body) = community.get(&format!("/api/v1/responders?within={COMMUNITY}&{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}
