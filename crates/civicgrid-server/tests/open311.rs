//! Open311 GeoReport v2 as an outside system (the city's 12345 hotline, say)
//! uses it: services and their definitions, a request posted form-encoded
//! with an api_key and attributes, then read back in JSON and XML; and the
//! errors it gets for everything it could do wrong.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use civicgrid_server::auth;
use civicgrid_store::Actor;
use http_body_util::BodyExt;
use serde_json::Value;
use support::writable_app;
use tower::ServiceExt;

const KEY: &str = "test-open311-key";

async fn raw(app: &support::App, req: Request<Body>) -> (StatusCode, String, String) {
    let res = app.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let ct = res.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, ct, body)
}

async fn get(app: &support::App, uri: &str) -> (StatusCode, String, String) {
    raw(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(app: &support::App, uri: &str, form: &str) -> (StatusCode, String, String) {
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()));
    raw(app, req.unwrap()).await
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

/// An outside client holding the api_key, as `serve --demo` makes one.
async fn with_client() -> support::App {
    let app = writable_app().await;
    let user = app.store.user_by_name("t-resident").await.unwrap().unwrap();
    app.store.create_token(user.id, "open311", &auth::sha256_hex(KEY), None, &Actor::system("test")).await.unwrap();
    app
}

#[tokio::test]
async fn a_hotline_system_posts_a_request_and_reads_it_back() {
    let app = with_client().await;
    let (status, ct, body) = get(&app, "/open311/v2/services.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("application/json"));
    let services = json(&body);
    let codes: Vec<&str> = services.as_array().unwrap().iter().map(|s| s["service_code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"0101"), "{codes:?}");
    assert!(!codes.iter().any(|c| c.starts_with("10") || c.starts_with("13")), "disputes and care stay private");
    let (_, ct, xml) = get(&app, "/open311/v2/services.xml").await;
    assert!(ct.starts_with("application/xml"));
    assert!(
        xml.starts_with("<?xml") && xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?><services><service>"),
        "{xml}"
    );
    assert!(xml.contains("<service_code>0101</service_code>"));
    let (_, _, def) = get(&app, "/open311/v2/services/0101.json").await;
    let def = json(&def);
    assert_eq!(def["attributes"][0]["code"], "severity");
    let (_, _, def_xml) = get(&app, "/open311/v2/services/0101.xml").await;
    assert!(def_xml.contains("<service_definition>") && def_xml.contains("<attributes><attribute>"), "{def_xml}");
    let (_, _, discovery) = get(&app, "/open311/v2/discovery.json").await;
    assert!(json(&discovery)["endpoints"][0]["formats"].as_array().unwrap().len() == 2);

    let (lat, lon) = {
        let unit =
            app.store.unit(&civicgrid_domain::UnitCode::parse("610304003002006").unwrap()).await.unwrap().unwrap();
        let r = unit.boundary.unwrap();
        ((r[0][1] + r[2][1]) / 2.0, (r[0][0] + r[2][0]) / 2.0)
    };
    let form = format!(
        "api_key={KEY}&service_code=0101&lat={lat}&long={lon}&description=%E4%BA%95%E7%9B%96%E7%BC%BA%E5%A4%B1\
         &attribute%5Bseverity%5D=urgent&attribute%5Blocation_detail%5D=%E8%B7%AF%E5%8F%A3\
         &first_name=Wei&last_name=Li&email=li%40example.org&phone=10012345678"
    );
    let (status, _, created) = post(&app, "/open311/v2/requests.json", &form).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = json(&created)[0]["service_request_id"].as_str().unwrap().to_owned();

    let (_, _, one) = get(&app, &format!("/open311/v2/requests/{id}.json")).await;
    let one = json(&one);
    assert_eq!(one[0]["status"], "open");
    assert_eq!(one[0]["service_code"], "0101");
    assert_eq!(one[0]["description"], "井盖缺失");
    assert!(one[0]["status_notes"].as_str().unwrap().contains("reported"));
    assert!(!one.to_string().contains("example.org"), "contact details stay inside");
    let (_, _, one_xml) = get(&app, &format!("/open311/v2/requests/{id}.xml")).await;
    assert!(one_xml.contains(&format!("<service_request_id>{id}</service_request_id>")), "{one_xml}");
    let (_, _, listed) = get(&app, "/open311/v2/requests.json?service_code=0101&status=open").await;
    assert!(json(&listed).as_array().unwrap().iter().any(|r| r["service_request_id"] == id.as_str()));
    let (_, _, none) = get(&app, "/open311/v2/requests.json?status=closed").await;
    assert!(json(&none).as_array().unwrap().iter().all(|r| r["service_request_id"] != id.as_str()));
    let (_, _, paged) = get(&app, "/open311/v2/requests.json?page=2&page_size=1").await;
    assert!(json(&paged).as_array().unwrap().is_empty(), "one request, so page 2 is empty");
    let (_, _, token) = get(&app, &format!("/open311/v2/tokens/{id}.json")).await;
    assert_eq!(json(&token)[0]["service_request_id"], id.as_str());

    // Inside the platform it is a case like any other, with the contact for the handlers.
    let operator = app.as_user("t-operator").await;
    let (_, case) = operator.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["grid"], "610304003002006");
    let note = case["events"][0]["note"].as_str().unwrap();
    assert!(note.contains("severity=urgent") && note.contains("email=li@example.org"), "{note}");
}

#[tokio::test]
async fn mistakes_get_open311_errors() {
    let app = with_client().await;
    for (uri, form, want) in [
        ("/open311/v2/requests.json", "service_code=0101&lat=34.36&long=107.37", StatusCode::FORBIDDEN),
        ("/open311/v2/requests.json", "api_key=wrong&service_code=0101&lat=34.36&long=107.37", StatusCode::FORBIDDEN),
        (
            "/open311/v2/requests.json",
            &format!("api_key={KEY}&service_code=1001&lat=34.36&long=107.37"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/open311/v2/requests.json",
            &format!("api_key={KEY}&service_code=0101&address_string=somewhere"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/open311/v2/requests.json",
            &format!("api_key={KEY}&service_code=0101&lat=95&long=107.37"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/open311/v2/requests.json",
            &format!("api_key={KEY}&service_code=0101&lat=34.36&long=107.9"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/open311/v2/requests.json",
            &format!("api_key={KEY}&service_code=0101&lat=34.36&long=107.37&attribute%5Bcolour%5D=red"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/open311/v2/requests.xml",
            &format!("api_key={KEY}&service_code=0101&lat=34.36&long=107.37&attribute%5Bseverity%5D=apocalyptic"),
            StatusCode::BAD_REQUEST,
        ),
        ("/open311/v2/services.json", "x=1", StatusCode::NOT_FOUND),
    ] {
        let (status, ct, body) = post(&app, uri, form).await;
        assert_eq!(status, want, "{uri} {form}: {body}");
        if uri.ends_with(".xml") {
            assert!(ct.starts_with("application/xml") && body.contains("<errors><error><code>400</code>"), "{body}");
        } else {
            let e = json(&body);
            assert_eq!(e[0]["code"], want.as_u16(), "{body}");
            assert!(!e[0]["description"].as_str().unwrap().is_empty());
        }
    }
    for (uri, want) in [
        ("/open311/v2/services/1001.json", StatusCode::NOT_FOUND),
        ("/open311/v2/services/0101.yaml", StatusCode::NOT_FOUND),
        ("/open311/v2/requests/abc.json", StatusCode::BAD_REQUEST),
        ("/open311/v2/requests/999999.json", StatusCode::NOT_FOUND),
        ("/open311/v2/requests.json?start_date=yesterday", StatusCode::BAD_REQUEST),
        (
            "/open311/v2/requests.json?start_date=2025-01-01T00:00:00Z&end_date=2026-01-01T00:00:00Z",
            StatusCode::BAD_REQUEST,
        ),
        ("/open311/v2/requests.json?status=pending", StatusCode::BAD_REQUEST),
        ("/open311/v2/requests.json?page=0", StatusCode::BAD_REQUEST),
        ("/open311/v2/nothing.json", StatusCode::NOT_FOUND),
    ] {
        let (status, _, body) = get(&app, uri).await;
        assert_eq!(status, want, "{uri}: {body}");
    }
}
