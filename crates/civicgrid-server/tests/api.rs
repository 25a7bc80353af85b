//! The JSON API told as a user of it would: a district's numbers, finding the
//! grid of a point in any of China's coordinate systems, boundaries as GeoJSON,
//! lists that page, and clear 4xx answers to every kind of bad input.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use civicgrid_geo::{Crs, LatLng};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

mod support;

use support::{Client, app, writable_app};

async fn get(c: &Client<'_>, uri: &str) -> (StatusCode, Value) {
    c.get(uri).await
}

async fn post_json(c: &Client<'_>, uri: &str, body: impl Into<Body>) -> (StatusCode, Value) {
    c.raw("POST", uri, body, "application/json").await
}

/// Sends a hand-built request as the client.
async fn send(c: &Client<'_>, mut req: Request<Body>) -> (StatusCode, Value) {
    if let Some(t) = &c.token {
        req.headers_mut().insert(header::AUTHORIZATION, format!("Bearer {t}").parse().unwrap());
    }
    c.app.send(req).await
}

#[tokio::test]
async fn the_district_in_numbers() {
    let shared = app().await;
    let app = shared.as_user("t-admin").await;
    assert_eq!(get(&app, "/healthz").await, (StatusCode::OK, json!({ "status": "ok" })));
    let (status, s) = get(&app, "/api/v1/stats").await;
    assert_eq!(status, StatusCode::OK);
    for (key, want) in [
        ("streets", 2),
        ("communities", 16),
        ("grids", 1148),
        ("compounds", 231),
        ("grid_party_branches", 62),
        ("party_groups", 206),
        ("grid_workers", 1000),
        ("party_members", 10_000),
        ("service_stations", 25),
    ] {
        assert_eq!(s[key], want, "{key}");
    }
    for key in ["buildings", "households", "residents", "street_riders", "cameras", "facilities"] {
        assert!(s[key].as_i64().unwrap() > 0, "{key}");
    }
    assert!(s["cameras"].as_i64().unwrap() > 6000);
    let (_, tdn) = get(&app, "/api/v1/stats?unit=610304003002").await;
    assert_eq!(tdn["communities"], 1);
    assert_eq!(tdn["unit"], "610304003002");
    assert!(tdn["grids"].as_i64().unwrap() > 30);
}

#[tokio::test]
async fn the_org_tree_and_a_unit_with_its_children() {
    let shared = app().await;
    let app = shared.as_user("t-admin").await;
    let (_, tree) = get(&app, "/api/v1/units").await;
    let district = &tree["units"][0];
    assert_eq!(district["name"], "陈仓区");
    let streets = district["children"].as_array().unwrap();
    assert_eq!(streets.len(), 2);
    let communities: usize = streets.iter().map(|s| s["children"].as_array().unwrap().len()).sum();
    assert_eq!(communities, 16);

    let (status, u) = get(&app, "/api/v1/units/610304003002").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(u["unit"]["name"], "铁道南社区");
    assert_eq!(u["unit"]["level"], "community");
    assert_eq!(
        u["path"].as_array().unwrap().iter().map(|p| p["code"].as_str().unwrap()).collect::<Vec<_>>(),
        ["610304", "610304003"]
    );
    let children = u["children"].as_array().unwrap();
    assert_eq!(children.len() as i64, u["stats"]["grids"].as_i64().unwrap());
    let cameras: i64 = children.iter().map(|c| c["stats"]["cameras"].as_i64().unwrap()).sum();
    assert_eq!(cameras, u["stats"]["cameras"].as_i64().unwrap(), "children's counts add up to the parent's");

    let (_, h) = get(&app, "/api/v1/units/610304003002001/history").await;
    assert_eq!(h["versions"].as_array().unwrap().len(), 1);
    assert_eq!(h["versions"][0]["valid_to"], Value::Null);
}

#[tokio::test]
async fn locate_answers_in_every_coordinate_system() {
    let shared = app().await;
    let app = shared.as_user("t-admin").await;
    let (status, wgs) = get(&app, "/api/v1/locate?lat=34.36&lon=107.37").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(wgs["district"], json!({ "code": "610304", "name": "陈仓区" }));
    assert_eq!(wgs["street"]["name"], "虢镇街道");
    let grid = wgs["grid"]["code"].as_str().unwrap();
    assert!(grid.starts_with(wgs["community"]["code"].as_str().unwrap()));
    assert!(wgs["grid"]["name"].as_str().unwrap().contains("网格"));
    // The same place as AMap (GCJ-02) and Baidu (BD-09) would give it.
    let here = LatLng::new(34.36, 107.37).unwrap();
    for crs in [Crs::Gcj02, Crs::Bd09] {
        let (lat, lon) = crs.from_wgs84(here);
        assert!((lat - 34.36).abs() + (lon - 107.37).abs() > 1e-3, "{crs:?} really moves the point");
        let (status, v) = get(&app, &format!("/api/v1/locate?lat={lat}&lon={lon}&crs={}", crs.as_str())).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v["grid"]["code"], grid, "{crs:?}");
    }
    let (status, out) = get(&app, "/api/v1/locate?lat=34.36&lon=107.60").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(out["error"]["message"].as_str().unwrap().contains("outside"));
}

#[tokio::test]
async fn grids_of_a_community_as_geojson() {
    let shared = app().await;
    let app = shared.as_user("t-admin").await;
    let (status, fc) = get(&app, "/api/v1/grids?community=610304003002").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fc["type"], "FeatureCollection");
    let features = fc["features"].as_array().unwrap();
    let (_, s) = get(&app, "/api/v1/stats?unit=610304003002").await;
    assert_eq!(features.len() as i64, s["grids"].as_i64().unwrap());
    for f in features {
        assert_eq!(f["geometry"]["type"], "Polygon");
        let ring = f["geometry"]["coordinates"][0].as_array().unwrap();
        assert_eq!(ring.first(), ring.last(), "rings are closed");
        assert!(f["properties"]["code"].as_str().unwrap().starts_with("610304003002"));
        assert!(!f["properties"]["name"].as_str().unwrap().is_empty());
    }
    let (_, all) = get(&app, "/api/v1/grids").await;
    assert_eq!(all["features"].as_array().unwrap().len(), 1148);
    let (_, cs) = get(&app, "/api/v1/communities").await;
    assert_eq!(cs["features"].as_array().unwrap().len(), 16);
    let (_, gcj) = get(&app, "/api/v1/grids?community=610304003002&crs=gcj02").await;
    let (a, b) = (&features[0]["geometry"]["coordinates"][0][0], &gcj["features"][0]["geometry"]["coordinates"][0][0]);
    assert!((a[0].as_f64().unwrap() - b[0].as_f64().unwrap()).abs() > 1e-4, "GCJ-02 output is shifted");
}

#[tokio::test]
async fn lists_page_filter_and_stay_within_their_unit() {
    let shared = app().await;
    let app = shared.as_user("t-admin").await;
    let (_, page) = get(&app, "/api/v1/cameras?unit=610304001&limit=7&offset=7").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 7);
    assert_eq!(page["offset"], 7);
    assert!(page["items"].as_array().unwrap().iter().all(|c| c["grid"].as_str().unwrap().starts_with("610304001")));
    let (_, faults) = get(&app, "/api/v1/cameras?status=fault&limit=1000").await;
    assert!(faults["items"].as_array().unwrap().iter().all(|c| c["status"] == "fault"));
    let (_, stations) = get(&app, "/api/v1/facilities?category=party_service_station&limit=100").await;
    assert_eq!(stations["total"], 25);
    let (_, compounds) = get(&app, "/api/v1/compounds?limit=1000").await;
    assert_eq!(compounds["total"], 231);
    assert!(compounds["items"][0]["households"].as_i64().unwrap() > 0);
    let (_, branches) = get(&app, "/api/v1/party-branches?unit=610304003002").await;
    assert!(branches["total"].as_i64().unwrap() >= 3);
    let grid = branches["items"][0]["grids"][0].as_str().unwrap().to_owned();
    let (_, workers) = get(&app, &format!("/api/v1/people?unit={grid}&role=grid_worker")).await;
    assert_eq!(workers["total"], 1, "one responsible grid worker per grid");
    let phone = workers["items"][0]["phone"].as_str().unwrap();
    assert!(phone.contains("****"), "phones are masked: {phone}");
}

#[tokio::test]
async fn a_new_facility_is_placed_in_its_grid() {
    let private = writable_app().await;
    let app = private.as_user("t-admin").await;
    let (_, here) = get(&app, "/api/v1/locate?lat=34.365&lon=107.39").await;
    let grid = here["grid"]["code"].as_str().unwrap();
    let body =
        json!({ "category": "pharmacy", "name": "  新开药房 ", "address": "虢镇路8号", "lat": 34.365, "lon": 107.39 });
    let (status, added) = post_json(&app, "/api/v1/facilities", body.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["grid"], grid);
    assert_eq!(added["name"], "新开药房");
    let (_, listed) = get(&app, &format!("/api/v1/facilities?unit={grid}&category=pharmacy")).await;
    assert!(listed["items"].as_array().unwrap().iter().any(|f| f["code"] == added["code"]));

    // A client that lost the answer retries with the same key: one facility, not two.
    let keyed = |key: &str, body: &Value| {
        Request::post("/api/v1/facilities")
            .header(header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", key)
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let (first, a) = send(&app, keyed("retry-1", &body)).await;
    let (again, b) = send(&app, keyed("retry-1", &body)).await;
    assert_eq!((first, again), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(a["code"], b["code"]);
    let (_, after) = get(&app, &format!("/api/v1/facilities?unit={grid}&category=pharmacy")).await;
    assert_eq!(after["total"], listed["total"].as_i64().unwrap() + 1);
    let other = json!({ "category": "clinic", "name": "另一个", "lat": 34.365, "lon": 107.39 });
    let (conflict, v) = send(&app, keyed("retry-1", &other)).await;
    assert_eq!(conflict, StatusCode::CONFLICT, "{v}");
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_never_a_5xx() {
    let private = writable_app().await;
    let app = private.as_user("t-admin").await;
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(civicgrid_server::MAX_BODY + 10));
    let cases: Vec<(&str, &str, Option<String>, StatusCode, &str)> = vec![
        ("GET", "/api/v1/units/abc", None, StatusCode::BAD_REQUEST, "digits"),
        ("GET", "/api/v1/units/6103040", None, StatusCode::BAD_REQUEST, "7 digits"),
        ("GET", "/api/v1/units/610300", None, StatusCode::BAD_REQUEST, "county-level"),
        ("GET", "/api/v1/units/610304009", None, StatusCode::NOT_FOUND, "610304009"),
        ("GET", "/api/v1/units/610304003002999/history", None, StatusCode::NOT_FOUND, "not found"),
        ("GET", "/api/v1/stats?unit=610304003099", None, StatusCode::NOT_FOUND, "not found"),
        ("GET", "/api/v1/locate?lat=95&lon=107", None, StatusCode::BAD_REQUEST, "latitude"),
        ("GET", "/api/v1/locate?lat=34&lon=181", None, StatusCode::BAD_REQUEST, "longitude"),
        ("GET", "/api/v1/locate?lat=abc&lon=107", None, StatusCode::BAD_REQUEST, "not a number"),
        ("GET", "/api/v1/locate?lat=NaN&lon=107", None, StatusCode::BAD_REQUEST, ""),
        ("GET", "/api/v1/locate?lon=107", None, StatusCode::BAD_REQUEST, "lat"),
        ("GET", "/api/v1/locate?lat=34&lon=107&crs=mars", None, StatusCode::BAD_REQUEST, "mars"),
        ("GET", "/api/v1/grids?community=610304003", None, StatusCode::BAD_REQUEST, "community"),
        ("GET", "/api/v1/grids?community=610304003099", None, StatusCode::NOT_FOUND, "not found"),
        ("GET", "/api/v1/facilities?category=spa", None, StatusCode::BAD_REQUEST, "spa"),
        ("GET", "/api/v1/cameras?status=broken", None, StatusCode::BAD_REQUEST, "broken"),
        ("GET", "/api/v1/people?role=mayor", None, StatusCode::BAD_REQUEST, "mayor"),
        ("GET", "/api/v1/cameras?limit=0", None, StatusCode::BAD_REQUEST, "limit"),
        ("GET", "/api/v1/cameras?limit=5000", None, StatusCode::BAD_REQUEST, "limit"),
        ("GET", "/api/v1/cameras?limit=-1", None, StatusCode::BAD_REQUEST, "limit"),
        ("GET", "/api/v1/compounds?category=clinic", None, StatusCode::BAD_REQUEST, "category"),
        ("GET", "/api/v1/compounds?bogus=1", None, StatusCode::BAD_REQUEST, "bogus"),
        ("GET", "/api/v1/nothing-here", None, StatusCode::NOT_FOUND, "no such"),
        ("POST", "/api/v1/facilities", Some("{not json".into()), StatusCode::BAD_REQUEST, ""),
        ("POST", "/api/v1/facilities", Some("{}".into()), StatusCode::UNPROCESSABLE_ENTITY, "missing field"),
        ("POST", "/api/v1/facilities", Some(big), StatusCode::PAYLOAD_TOO_LARGE, ""),
        (
            "POST",
            "/api/v1/facilities",
            Some(json!({"category":"spa","name":"x","lat":34.36,"lon":107.37}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "spa",
        ),
        (
            "POST",
            "/api/v1/facilities",
            Some(json!({"category":"clinic","name":"x","lat":34.36,"lon":107.9}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "outside",
        ),
        (
            "POST",
            "/api/v1/facilities",
            Some(json!({"category":"clinic","name":" ","lat":34.36,"lon":107.37}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            "POST",
            "/api/v1/facilities",
            Some(json!({"category":"clinic","name":"x","lat":134.36,"lon":107.37}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "latitude",
        ),
    ];
    for (method, uri, body, want, words) in cases {
        let (status, v) = match (method, body) {
            ("POST", Some(b)) => post_json(&app, uri, b).await,
            _ => get(&app, uri).await,
        };
        assert_eq!(status, want, "{method} {uri}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_else(|| panic!("{method} {uri}: no message in {v}"));
        assert!(!message.is_empty() && message.contains(words), "{method} {uri}: {message:?} lacks {words:?}");
    }
    let (status, v) = send(
        &app,
        Request::post("/api/v1/facilities").header(header::CONTENT_TYPE, "text/plain").body(Body::from("x")).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{v}");
}

#[tokio::test]
async fn the_openapi_document_names_every_route() {
    let shared = app().await;
    let app = shared.as_user("t-admin").await;
    let (status, doc) = get(&app, "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    let mut served: Vec<(String, String)> = civicgrid_server::auth::ROUTES
        .iter()
        .filter(|r| r.kind == civicgrid_server::auth::Kind::Api)
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    documented.sort();
    served.sort();
    assert_eq!(documented, served, "openapi.json and the route table differ");
}

#[tokio::test]
async fn unknown_paths_answer_browsers_in_html_and_clients_in_json() {
    let shared = app().await;
    let app = shared.as_user("t-admin").await;
    let page =
        Request::get("/no-such-page").header(header::ACCEPT, "text/html,application/xhtml+xml").body(Body::empty());
    let res = app.app.router.clone().oneshot(page.unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let html = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(html.contains("<html") && html.contains("没有这个页面"), "{html}");
    let api = Request::get("/api/v1/no-such").header(header::ACCEPT, "text/html").body(Body::empty()).unwrap();
    let (status, v) = send(&app, api).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(v["error"]["message"].as_str().unwrap().contains("/api/v1/no-such"));
}
