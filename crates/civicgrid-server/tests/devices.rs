//! Registered call devices through the API: the command centre relays a
//! wall button's press and the call lands at the button's home; a resident
//! whose phone gives no position is found at their registered address; a
//! caller with neither is told what is missing; retired, unknown and other
//! people's devices are refused; the community registers, lists and retires
//! devices within its scope only, and a resident registers their own home.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod support;

use axum::http::StatusCode;
use civicgrid_domain::UnitCode;
use serde_json::{Value, json};
use support::App;

const COMMUNITY: &str = "610304003002";
/// A grid of 东街社区 (虢镇街道): outside the community's scope.
const OUT_GRID: &str = "610304001001001";

async fn centre(app: &App, grid: &str) -> (f64, f64) {
    let unit = app.store.unit(&UnitCode::parse(grid).unwrap()).await.unwrap().unwrap();
    let ring = unit.boundary.unwrap();
    let (lon, lat) = ring.iter().take(4).fold((0.0, 0.0), |(x, y), [a, b]| (x + a / 4.0, y + b / 4.0));
    (lat, lon)
}

fn error_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// The community's first wall buttons, as its staff list them.
async fn buttons(app: &App, n: usize) -> Vec<Value> {
    let community = app.as_user("t-community").await;
    let (status, page) = community.get(&format!("/api/v1/call-devices?within={COMMUNITY}&limit={n}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), n, "the demo community has wall buttons: {page}");
    items
}

#[tokio::test]
async fn a_button_press_without_a_position_lands_at_the_buttons_home() {
    let app = support::writable_app().await;
    let button = buttons(&app, 1).await.remove(0);
    let code = button["code"].as_str().unwrap();
    assert!(code.starts_with("BTN-610304003002-"), "{button}");
    assert_eq!(button["kind"], "wall_button");

    // The button has no account of its own: the command centre relays it.
    let operator = app.as_user("t-operator").await;
    let body = json!({ "device": code, "kind": "fall" });
    let (status, call) = operator.call_keyed("POST", "/api/v1/calls", body, "press-1").await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    assert_eq!((call["located_by"].as_str(), call["device"].as_str()), (Some("device"), Some(code)));
    assert_eq!(call["grid"], button["grid"]);
    assert_eq!(call["address"], button["address"]);
    assert_eq!((call["lat"].as_f64(), call["lon"].as_f64()), (button["lat"].as_f64(), button["lon"].as_f64()));
    // The case says where it was placed, so nobody takes it for a live fix.
    let events = app.store.case_events(call["case_id"].as_i64().unwrap()).await.unwrap();
    let address = button["address"].as_str().unwrap();
    assert!(events[0].note.contains(code) && events[0].note.contains(address), "{}", events[0].note);

    // With a position the call goes there; the device is still named.
    let (lat, lon) = centre(&app, "610304003002003").await;
    let body = json!({ "device": code, "kind": "fall", "lat": lat, "lon": lon });
    let (status, call) = operator.call_keyed("POST", "/api/v1/calls", body, "press-2").await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    assert_eq!((call["located_by"].as_str(), call["grid"].as_str()), (Some("position"), Some("610304003002003")));
    assert_eq!(call["address"], Value::Null);
}

#[tokio::test]
async fn a_resident_without_a_position_is_found_at_their_registered_address() {
    let app = support::writable_app().await;
    let resident = app.as_user("t-resident").await;
    let (status, mine) = resident.get("/api/v1/call-devices/mine").await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    let home = mine["home"].clone();
    assert_eq!(home["kind"], "home", "{mine}");
    assert!(home["grid"].as_str().unwrap().starts_with(COMMUNITY));

    let (status, call) = resident.call_keyed("POST", "/api/v1/calls", json!({ "kind": "medical" }), "home-1").await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    assert_eq!(call["located_by"], "home");
    assert_eq!((&call["address"], &call["grid"]), (&home["address"], &home["grid"]));
    assert_eq!(call["device"], Value::Null);

    // Someone with no registered address is told what is missing.
    let responder = app.as_user("t-responder").await;
    let (status, v) = responder.call_keyed("POST", "/api/v1/calls", json!({ "kind": "fall" }), "nowhere").await;
    assert_eq!((status, error_code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "no_position"), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("registered address"), "{v}");
    // Half a position is no position.
    let (status, v) = responder.call_keyed("POST", "/api/v1/calls", json!({ "lat": 34.36 }), "half").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}

#[tokio::test]
async fn unknown_retired_and_other_peoples_devices_are_refused() {
    let app = support::writable_app().await;
    let operator = app.as_user("t-operator").await;
    let press = |device: &str| json!({ "device": device, "kind": "other" });

    let (status, v) = operator.call_keyed("POST", "/api/v1/calls", press("BTN-NOT-THERE"), "k1").await;
    assert_eq!((status, error_code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_device"), "{v}");
    let (status, v) = operator.call_keyed("POST", "/api/v1/calls", press("BTN 1"), "k2").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    let [a, b]: [Value; 2] = buttons(&app, 2).await.try_into().unwrap();
    let (a, b) = (a["code"].as_str().unwrap(), b["code"].as_str().unwrap());
    // A resident may not call with a button of someone else's home.
    let resident = app.as_user("t-resident").await;
    let (status, v) = resident.call_keyed("POST", "/api/v1/calls", press(a), "k3").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");

    // Retired, a button calls no more.
    let community = app.as_user("t-community").await;
    let (status, v) = community.call("DELETE", &format!("/api/v1/call-devices/{b}"), Value::Null).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    let (status, v) = operator.call_keyed("POST", "/api/v1/calls", press(b), "k4").await;
    assert_eq!((status, error_code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_device"), "{v}");
    let (status, _) = community.call("DELETE", &format!("/api/v1/call-devices/{b}"), Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "retired once");
    // The resident may not retire it either.
    let (status, _) = resident.call("DELETE", &format!("/api/v1/call-devices/{a}"), Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn devices_are_registered_within_scope_and_listed_a_page_at_a_time() {
    let app = support::writable_app().await;
    let community = app.as_user("t-community").await;
    let (lat, lon) = centre(&app, "610304003002004").await;
    let speaker = |code: &str, lat: f64, lon: f64| json!({ "code": code, "kind": "speaker", "lat": lat, "lon": lon, "address": "铁道南社区 活动室" });
    let (status, d) = community.call("POST", "/api/v1/call-devices", speaker("SPK-0001", lat, lon)).await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    assert_eq!((d["grid"].as_str(), d["kind"].as_str()), (Some("610304003002004"), Some("speaker")));
    let (status, again) = community.call("POST", "/api/v1/call-devices", speaker("SPK-0001", lat, lon)).await;
    assert_eq!(status, StatusCode::OK, "the same registration again: {again}");

    // By household: its building's point and its address.
    let household = app.store.call_device(buttons(&app, 1).await[0]["code"].as_str().unwrap()).await.unwrap();
    let household = household.unwrap().household_id.unwrap();
    let body = json!({ "code": "SPK-0002", "kind": "speaker", "household_id": household });
    let (status, d) = community.call("POST", "/api/v1/call-devices", body).await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    assert!(d["address"].as_str().unwrap().contains("号楼"), "{d}");
    // Moving it to another place needs a deliberate replace.
    let (status, v) = community.call("POST", "/api/v1/call-devices", speaker("SPK-0002", lat, lon)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    let mut replace = speaker("SPK-0002", lat, lon);
    replace["replace"] = json!(true);
    let (status, v) = community.call("POST", "/api/v1/call-devices", replace).await;
    assert_eq!(status, StatusCode::OK, "{v}");

    // Clear refusals.
    let (olat, olon) = centre(&app, OUT_GRID).await;
    for (body, want) in [
        (speaker("SPK 3", lat, lon), StatusCode::UNPROCESSABLE_ENTITY),
        (speaker("SPK-0003", 1.0, 1.0), StatusCode::UNPROCESSABLE_ENTITY),
        (speaker("SPK-0003", olat, olon), StatusCode::FORBIDDEN),
        (
            json!({ "code": "SPK-0003", "kind": "speaker", "household_id": 999_999_999 }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({ "code": "SPK-0003", "kind": "lamp", "household_id": household }), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({ "code": "SPK-0003", "kind": "speaker" }), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({ "code": "SPK-0003", "kind": "speaker", "lat": lat, "lon": lon }), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({ "kind": "home", "username": "nobody-here", "household_id": household }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (status, v) = community.call("POST", "/api/v1/call-devices", body.clone()).await;
        assert_eq!(status, want, "{body} → {v}");
    }
    // Someone else's device outside the scope is not the community's to take.
    let street = app.as_user("t-operator").await;
    let (status, v) = street.call("POST", "/api/v1/call-devices", speaker("SPK-OUT", olat, olon)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (status, v) = community.call("POST", "/api/v1/call-devices", speaker("SPK-OUT", lat, lon)).await;
    assert_eq!((status, error_code(&v)), (StatusCode::CONFLICT, "device_taken"), "{v}");

    // Listed by unit, a page at a time; outside the scope is not found.
    let (status, first) = community.get(&format!("/api/v1/call-devices?within={COMMUNITY}&limit=2")).await;
    assert_eq!(status, StatusCode::OK);
    let total = first["total"].as_i64().unwrap();
    assert!(total > 2, "{first}");
    let (_, last) =
        community.get(&format!("/api/v1/call-devices?within={COMMUNITY}&limit=2&offset={}", total - 1)).await;
    assert_eq!(last["items"].as_array().unwrap().len(), 1);
    let (_, grid) = community.get("/api/v1/call-devices?within=610304003002004").await;
    let codes: Vec<&str> = grid["items"].as_array().unwrap().iter().filter_map(|d| d["code"].as_str()).collect();
    assert!(codes.contains(&"SPK-0001") && codes.contains(&"SPK-0002"), "{codes:?}");
    let (status, _) = community.get(&format!("/api/v1/call-devices?within={OUT_GRID}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_resident_registers_and_retires_only_their_own_home() {
    let app = support::writable_app().await;
    let resident = app.as_user("t-resident").await;
    let (lat, lon) = centre(&app, "610304003002002").await;
    // Not a wall button, and not someone else's home.
    let body = json!({ "code": "BTN-MINE", "kind": "wall_button", "lat": lat, "lon": lon, "address": "家" });
    let (status, v) = resident.call("POST", "/api/v1/call-devices", body).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let body = json!({ "kind": "home", "username": "t-community", "lat": lat, "lon": lon, "address": "家" });
    let (status, v) = resident.call("POST", "/api/v1/call-devices", body).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    // Not outside the community they are registered in.
    let (olat, olon) = centre(&app, OUT_GRID).await;
    let body = json!({ "kind": "home", "lat": olat, "lon": olon, "address": "东街 1号" });
    let (status, v) = resident.call("POST", "/api/v1/call-devices", body).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");

    // Their own home, by a point: it takes the old one's place.
    let body = json!({ "kind": "home", "lat": lat, "lon": lon, "address": "铁道南 新家 1单元 201" });
    let (status, home) = resident.call("POST", "/api/v1/call-devices", body).await;
    assert_eq!(status, StatusCode::CREATED, "{home}");
    let me = app.store.user_by_name("t-resident").await.unwrap().unwrap().id;
    assert_eq!((home["code"].as_str(), home["user_id"].as_i64()), (Some(format!("HOME-{me}").as_str()), Some(me)));
    let (_, mine) = resident.get("/api/v1/call-devices/mine").await;
    assert_eq!(mine["home"]["address"], "铁道南 新家 1单元 201");
    assert_eq!(mine["items"].as_array().unwrap().len(), 1, "the old home was retired: {mine}");

    let code = home["code"].as_str().unwrap();
    let (status, _) = resident.call("DELETE", &format!("/api/v1/call-devices/{code}"), Value::Null).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, mine) = resident.get("/api/v1/call-devices/mine").await;
    assert_eq!(mine["home"], Value::Null);
    let (status, v) = resident.call_keyed("POST", "/api/v1/calls", json!({ "kind": "fall" }), "gone").await;
    assert_eq!((status, error_code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "no_position"), "{v}");
}
