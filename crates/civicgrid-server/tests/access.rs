//! The 15-minute life circles as a planner uses them: coverage per unit,
//! the map by minutes, the gap table and its exports, a compound's sheet,
//! where to build next, what one more facility changes, and the model
//! following a facility added through the API without recomputing.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::{app, writable_app};
use tower::ServiceExt;

/// The raw answer to a GET with a bearer token: status, content type, bytes.
async fn download(app: &support::App, token: &str, uri: &str) -> (StatusCode, String, Vec<u8>) {
    let req = Request::get(uri).header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let mime = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, mime, res.into_body().collect().await.unwrap().to_bytes().to_vec())
}

#[tokio::test]
async fn coverage_per_unit_adds_up_and_shares_grow_with_the_circle() {
    let app = app().await;
    let admin = app.as_user("t-admin").await;
    let (status, v) = admin.get("/api/v1/access/units").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["by"], "street");
    assert_eq!(v["settings"]["levels_minutes"], json!([5, 10, 15]));
    assert_eq!(v["settings"]["speed_m_per_min"], 80.0);
    let total = &v["total"];
    assert_eq!(total["households"], 43_708, "every household of the demo district lives in a compound");
    let streets: u64 = v["units"].as_array().unwrap().iter().map(|u| u["households"].as_u64().unwrap()).sum();
    assert_eq!(streets, 43_708);
    for (category, c) in total["categories"].as_object().unwrap() {
        let covered: Vec<u64> = c["covered"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
        assert!(covered[0] <= covered[1] && covered[1] <= covered[2], "{category}: circles nest {covered:?}");
        assert!(covered[2] <= 43_708);
    }
    // A community, by grid: the same households, split finer.
    let (_, by_grid) = admin.get("/api/v1/access/units?unit=610304003002&by=grid").await;
    let grids: u64 = by_grid["units"].as_array().unwrap().iter().map(|u| u["households"].as_u64().unwrap()).sum();
    assert_eq!(grids, by_grid["total"]["households"].as_u64().unwrap());
    assert!(by_grid["units"].as_array().unwrap().iter().all(|u| u["unit"].as_str().unwrap().len() == 15));
}

#[tokio::test]
async fn the_map_the_gap_table_its_exports_and_a_compound_sheet_agree() {
    let app = app().await;
    let community = app.as_user("t-community").await;
    let (_, grids) = community.get("/api/v1/access/map?category=clinic").await;
    assert_eq!(grids["type"], "FeatureCollection");
    let features = grids["features"].as_array().unwrap();
    assert!(features.len() > 10, "the grids of 铁道南社区");
    assert!(features.iter().all(|f| f["geometry"]["type"] == "Polygon"));
    let (_, dots) = community.get("/api/v1/access/map?category=clinic&by=compound").await;
    let dots = dots["features"].as_array().unwrap().clone();
    assert!(dots.iter().all(|f| f["properties"]["grid"].as_str().unwrap().starts_with("610304003002")));

    let (_, table) = community.get("/api/v1/access/compounds").await;
    let rows = table["compounds"].as_array().unwrap();
    assert_eq!(rows.len(), dots.len(), "one row per compound of the community");
    let missed = |r: &Value| r["missed"].as_array().unwrap().len();
    assert!(rows.windows(2).all(|w| missed(&w[0]) >= missed(&w[1])), "the worst first");
    let first = &rows[0];
    assert_eq!(first["met"].as_u64().unwrap() + missed(first) as u64, first["required"].as_u64().unwrap());

    // The sheet of that compound says the same, with counts per circle.
    let code = first["code"].as_str().unwrap();
    let (status, sheet) = community.get(&format!("/api/v1/access/compounds/{code}")).await;
    assert_eq!(status, StatusCode::OK, "{sheet}");
    let not_met = sheet["outcomes"].as_array().unwrap().iter().filter(|o| o["met"] == false).count();
    assert_eq!(not_met, missed(first));
    for c in sheet["categories"].as_array().unwrap() {
        let w: Vec<u64> = c["within"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
        assert!(w[0] <= w[1] && w[1] <= w[2]);
        assert_eq!(c["minutes"].is_null(), w[2] == 0, "a facility within 15 minutes has a time: {c}");
        assert_eq!(c["minutes"], first["minutes"][c["category"].as_str().unwrap()]);
    }

    // Exports: the same rows as CSV and as a real XLSX workbook.
    let token = community.token.clone().unwrap();
    let (status, mime, csv) = download(&app, &token, "/api/v1/access/compounds?format=csv").await;
    assert_eq!((status, mime.as_str()), (StatusCode::OK, "text/csv; charset=utf-8"));
    let csv = String::from_utf8(csv).unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("code,name,grid,households,met,required,missed,minutes_clinic"));
    assert_eq!(lines.count(), rows.len());
    assert!(csv.contains(code));
    let (status, mime, xlsx) = download(&app, &token, "/api/v1/access/compounds?format=xlsx").await;
    assert_eq!(status, StatusCode::OK);
    assert!(mime.contains("spreadsheetml"), "{mime}");
    assert_eq!(&xlsx[..4], b"PK\x03\x04", "an XLSX file is a zip archive");
    assert!(xlsx.len() > 2000);
}

#[tokio::test]
async fn proposals_pick_the_biggest_gains_first_and_what_if_shows_the_change() {
    let app = app().await;
    let street = app.as_user("t-street").await;
    let (status, p) = street
        .call("POST", "/api/v1/access/proposals", json!({ "category": "market", "k": 4, "candidates": "nodes" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["unit"], "610304003");
    let picks = p["picks"].as_array().unwrap();
    assert_eq!(picks.len(), 4);
    let gains: Vec<u64> = picks.iter().map(|x| x["gain_households"].as_u64().unwrap()).collect();
    assert!(gains.windows(2).all(|w| w[0] >= w[1]), "greedy gains never grow: {gains:?}");
    assert!(gains[0] > 0);
    let mut covered = p["covered_before"].as_u64().unwrap();
    for x in picks {
        covered += x["gain_households"].as_u64().unwrap();
        assert_eq!(x["covered_after"].as_u64().unwrap(), covered);
        assert!(x["grid"].as_str().unwrap().starts_with("610304003"), "sites lie within the street");
    }
    assert!(covered <= p["households"].as_u64().unwrap());

    // Building the first proposal raises the street's coverage by exactly its gain.
    let (lat, lon) = (picks[0]["lat"].as_f64().unwrap(), picks[0]["lon"].as_f64().unwrap());
    let (status, w) =
        street.call("POST", "/api/v1/access/what-if", json!({ "category": "market", "lat": lat, "lon": lon })).await;
    assert_eq!(status, StatusCode::OK, "{w}");
    let before = w["before"]["categories"]["market"]["covered"][2].as_u64().unwrap();
    let after = w["after"]["categories"]["market"]["covered"][2].as_u64().unwrap();
    assert_eq!(before, p["covered_before"].as_u64().unwrap());
    assert_eq!(after - before, gains[0]);
    assert!(!w["compounds_nearer"].as_array().unwrap().is_empty());

    // Named sites (idle rooms offered): the best of them is picked, by name.
    let sites = json!([
        { "name": "旧仓库一层", "lat": lat, "lon": lon },
        { "name": "远处空房", "lat": 34.30, "lon": 107.30 },
    ]);
    let (_, named) = street
        .call("POST", "/api/v1/access/proposals", json!({ "category": "market", "k": 1, "candidates": sites }))
        .await;
    assert_eq!(named["picks"][0]["name"], "旧仓库一层");
}

#[tokio::test]
async fn a_facility_added_through_the_api_updates_the_model_in_place() {
    let app = writable_app().await;
    let admin = app.as_user("t-admin").await;
    let (_, before) = admin.get("/api/v1/access/units").await;
    let (_, p) = admin
        .call("POST", "/api/v1/access/proposals", json!({ "category": "park", "k": 1, "candidates": "nodes" }))
        .await;
    let pick = &p["picks"][0];
    let (status, added) = admin
        .call(
            "POST",
            "/api/v1/facilities",
            json!({ "category": "park", "name": "新建口袋公园", "lat": pick["lat"], "lon": pick["lon"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let (_, after) = admin.get("/api/v1/access/units").await;
    let covered = |v: &Value| v["total"]["categories"]["park"]["covered"][2].as_u64().unwrap();
    assert_eq!(covered(&after) - covered(&before), pick["gain_households"].as_u64().unwrap());
    assert_eq!(after["settings"]["facilities"], before["settings"]["facilities"].as_u64().unwrap() + 1);
    // Recomputing everything from the store gives the same answer.
    let (status, _) = admin.call("POST", "/api/v1/access/refresh", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    let (_, fresh) = admin.get("/api/v1/access/units").await;
    assert_eq!(fresh["total"], after["total"]);
}

#[tokio::test]
async fn scope_and_bad_input() {
    let app = app().await;
    let community = app.as_user("t-community").await;
    let (_, elsewhere) = app.as_user("t-admin").await.get("/api/v1/access/compounds?unit=610304001").await;
    let other = elsewhere["compounds"][0]["code"].as_str().unwrap().to_owned();
    assert_eq!(community.get(&format!("/api/v1/access/compounds/{other}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(community.get("/api/v1/access/units?unit=610304001").await.0, StatusCode::NOT_FOUND);
    let auditor = app.as_user("t-auditor").await;
    assert_eq!(auditor.get("/api/v1/access/units").await.0, StatusCode::FORBIDDEN, "auditors read the audit log only");
    for uri in [
        "/api/v1/access/map?category=spa",
        "/api/v1/access/map?category=clinic&by=street",
        "/api/v1/access/compounds?format=pdf",
        "/api/v1/access/units?by=district",
        "/api/v1/access/units?unit=12",
    ] {
        let (status, v) = community.get(uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri} → {v}");
        assert!(v["error"]["message"].is_string());
    }
    for body in [
        json!({ "category": "clinic", "k": 0 }),
        json!({ "category": "clinic", "k": 51 }),
        json!({ "category": "clinic", "k": 1, "minutes": 20 }),
        json!({ "category": "clinic", "k": 1, "candidates": "everywhere" }),
        json!({ "category": "clinic", "k": 1, "candidates": [] }),
        json!({ "category": "clinic", "k": 1, "candidates": [{ "name": "x", "lat": 91.0, "lon": 0.0 }] }),
        json!({ "category": "spa", "k": 1 }),
    ] {
        let (status, v) = community.call("POST", "/api/v1/access/proposals", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {v}");
    }
    let (status, _) =
        community.call("POST", "/api/v1/access/what-if", json!({ "category": "clinic", "lat": "x", "lon": 1 })).await;
    assert!(status.is_client_error());
    // Only those who manage facilities may make the server recompute.
    let inspector = app.as_user("t-inspector").await;
    assert_eq!(inspector.call("POST", "/api/v1/access/refresh", Value::Null).await.0, StatusCode::FORBIDDEN);
}
