//! The live event stream (`GET /api/v1/events`, Server-Sent Events) on
//! SQLite: every event of a case reaches exactly those who may see the case
//! (its grid within their scope, or their own report), in order, each once;
//! the stream needs a signed-in caller (a token or the session cookie);
//! a client that reconnects with `Last-Event-ID` gets what it missed; and
//! streams end when the server stops.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use civicgrid_domain::UnitCode;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::time::Duration;
use support::{App, Client, PASSWORD, session_cookie, tuned_app, writable_app};
use tower::ServiceExt;

const GRID_6: &str = "610304003002006";
const GRID_1: &str = "610304003002001";
/// Outside 铁道南社区 altogether.
const FAR_GRID: &str = "610304001001001";

/// One SSE message: a comment, or an event with its name, id and data.
#[derive(Debug)]
struct Message {
    comment: Option<String>,
    event: Option<String>,
    id: Option<String>,
    data: String,
}

/// An open event stream, read message by message.
struct Stream {
    body: Body,
    buf: String,
}

enum Next {
    Message(Message),
    Ended,
    Quiet,
}

impl Stream {
    async fn open(client: &Client<'_>, uri: &str) -> Stream {
        let res = client.open(uri).await;
        Stream::of(res).await
    }

    async fn of(res: axum::response::Response) -> Stream {
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "text/event-stream");
        let mut s = Stream { body: res.into_body(), buf: String::new() };
        match s.next(Duration::from_secs(10)).await {
            Next::Message(m) if m.comment.as_deref() == Some("ready") => s,
            Next::Message(m) => panic!("the stream opens with a ready comment, not {m:?}"),
            _ => panic!("the stream opens with a ready comment"),
        }
    }

    async fn next(&mut self, within: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut m = Message { comment: None, event: None, id: None, data: String::new() };
                for line in block.lines() {
                    if let Some(c) = line.strip_prefix(':') {
                        m.comment = Some(c.trim().to_owned());
                    } else if let Some((field, value)) = line.split_once(':') {
                        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
                        match field {
                            "event" => m.event = Some(value),
                            "id" => m.id = Some(value),
                            "data" => m.data.push_str(&value),
                            _ => {}
                        }
                    }
                }
                return Next::Message(m);
            }
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => return Next::Quiet,
                Ok(None) => return Next::Ended,
                Ok(Some(frame)) => {
                    if let Ok(data) = frame.unwrap().into_data() {
                        self.buf.push_str(std::str::from_utf8(&data).unwrap());
                    }
                }
            }
        }
    }

    /// The next `case` event's data (keep-alive comments skipped), checking
    /// that its SSE id is the event's id.
    async fn case(&mut self) -> Value {
        loop {
            match self.next(Duration::from_secs(10)).await {
                Next::Message(m) if m.event.as_deref() == Some("case") => {
                    let v: Value = serde_json::from_str(&m.data).unwrap();
                    assert_eq!(m.id.as_deref(), Some(v["id"].to_string().as_str()), "{v}");
                    return v;
                }
                Next::Message(m) if m.comment.is_some() => {}
                Next::Message(m) => panic!("expected a case event, got {m:?}"),
                Next::Ended => panic!("the stream ended"),
                Next::Quiet => panic!("no case event came"),
            }
        }
    }

    /// No case event comes for a while.
    async fn quiet(&mut self) {
        loop {
            match self.next(Duration::from_millis(300)).await {
                Next::Quiet => return,
                Next::Message(m) if m.comment.is_some() => {}
                Next::Message(m) => panic!("an event too many: {m:?}"),
                Next::Ended => panic!("the stream ended"),
            }
        }
    }
}

/// A point inside `grid`.
async fn point_in(app: &App, grid: &str) -> (f64, f64) {
    let unit = app.store.unit(&UnitCode::parse(grid).unwrap()).await.unwrap().unwrap();
    let ring = unit.boundary.unwrap();
    let (lon, lat) = ring.iter().take(4).fold((0.0, 0.0), |(x, y), [a, b]| (x + a / 4.0, y + b / 4.0));
    (lat, lon)
}

/// Files a case at a point of `grid`; its id.
async fn file_in(app: &App, by: &Client<'_>, grid: &str, source: &str) -> i64 {
    let (lat, lon) = point_in(app, grid).await;
    let body = json!({ "title": "实时事件", "lat": lat, "lon": lon, "source": source });
    let (status, v) = by.call("POST", "/api/v1/cases", body).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["id"].as_i64().unwrap()
}

async fn step(by: &Client<'_>, id: i64, body: Value) {
    let (status, v) = by.call("POST", &format!("/api/v1/cases/{id}/events"), body).await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

/// A grid worker of grid 1 of the same community, besides the test accounts.
async fn worker_of_grid_1(app: &App) -> Client<'_> {
    let admin = app.as_user("t-admin").await;
    let body = json!({
        "username": "t-gridworker-1", "display_name": "一网格员", "password": PASSWORD,
        "grants": [{ "role": "grid_worker", "scope": GRID_1 }],
    });
    let (status, v) = admin.call("POST", "/api/v1/users", body).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    app.as_user("t-gridworker-1").await
}

#[tokio::test]
async fn each_event_reaches_exactly_those_who_may_see_its_case() {
    let app = writable_app().await;
    let operator = app.as_user("t-operator").await;
    let worker_6 = app.as_user("t-gridworker").await;
    let worker_1 = worker_of_grid_1(&app).await;
    let resident = app.as_user("t-resident").await;
    let mut on_operator = Stream::open(&operator, "/api/v1/events").await;
    let mut on_worker_6 = Stream::open(&worker_6, "/api/v1/events").await;
    let mut on_worker_1 = Stream::open(&worker_1, "/api/v1/events").await;
    let mut on_resident = Stream::open(&resident, "/api/v1/events").await;

    let a = file_in(&app, &operator, GRID_6, "hotline_12345").await;
    let b = file_in(&app, &operator, GRID_1, "hotline_12345").await;
    // A resident reports anywhere; they see their own case, nobody's else.
    let c = file_in(&app, &resident, FAR_GRID, "resident_report").await;
    step(&operator, a, json!({ "type": "file", "category": "0101" })).await;

    // The command centre sees the whole district, in the order things happened.
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(on_operator.case().await);
    }
    let got: Vec<(i64, i64, &str)> = seen
        .iter()
        .map(|v| (v["case_id"].as_i64().unwrap(), v["seq"].as_i64().unwrap(), v["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(got, [(a, 1, "report"), (b, 1, "report"), (c, 1, "report"), (a, 2, "file")]);
    assert!(seen.windows(2).all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64()), "ids increase");
    let first = &seen[0];
    let mut keys: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["at", "case_id", "grid", "id", "kind", "number", "seq", "state"]);
    assert_eq!((first["grid"].as_str(), first["state"].as_str()), (Some(GRID_6), Some("reported")));
    assert!(first["number"].as_str().unwrap().starts_with("610304-"));
    assert!(first["at"].as_str().unwrap().parse::<jiff::Timestamp>().is_ok());
    assert_eq!(seen[3]["state"], "filed");

    // The grid worker of grid 6 sees grid 6's case and nothing else; the
    // worker of grid 1 grid 1's; the resident their own report.
    assert_eq!(on_worker_6.case().await, seen[0]);
    assert_eq!(on_worker_6.case().await, seen[3]);
    assert_eq!(on_worker_1.case().await, seen[1]);
    assert_eq!(on_resident.case().await, seen[2]);
    // Everything was sent before the operator's last event arrived.
    for s in [&mut on_operator, &mut on_worker_6, &mut on_worker_1, &mut on_resident] {
        s.quiet().await;
    }
}

#[tokio::test]
async fn a_stream_needs_a_signed_in_caller_and_well_formed_resumption() {
    let app = writable_app().await;
    let anonymous = app.anonymous().open("/api/v1/events").await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.headers()[header::WWW_AUTHENTICATE], "Bearer");
    let body: Value = serde_json::from_slice(&anonymous.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let forged = Client { app: &app, token: Some("x".repeat(43)) };
    assert_eq!(forged.open("/api/v1/events").await.status(), StatusCode::UNAUTHORIZED);

    let operator = app.as_user("t-operator").await;
    for uri in ["/api/v1/events?after=abc", "/api/v1/events?after=-3", "/api/v1/events?since=1"] {
        let (status, v) = operator.get(uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {v}");
        assert!(v["error"]["message"].is_string(), "{v}");
    }
    let req = Request::get("/api/v1/events")
        .header(header::AUTHORIZATION, format!("Bearer {}", operator.token.as_deref().unwrap()))
        .header("last-event-id", "not-an-id")
        .body(Body::empty())
        .unwrap();
    let (status, v) = app.send(req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("event id"), "{v}");

    // A page's session cookie opens it too, scoped to its user.
    let (cookie, _) = session_cookie(&app, "t-gridworker").await;
    let req = Request::get("/api/v1/events").header(header::COOKIE, cookie).body(Body::empty()).unwrap();
    let mut by_cookie = Stream::of(app.router.clone().oneshot(req).await.unwrap()).await;
    let elsewhere = file_in(&app, &operator, GRID_1, "hotline_12345").await;
    let here = file_in(&app, &operator, GRID_6, "hotline_12345").await;
    assert_ne!(elsewhere, here);
    assert_eq!(by_cookie.case().await["case_id"], here, "grid 1's case is not the grid worker's");
}

#[tokio::test]
async fn a_client_that_reconnects_gets_what_it_missed_once() {
    let app = writable_app().await;
    let operator = app.as_user("t-operator").await;
    let worker_1 = worker_of_grid_1(&app).await;
    let mut first = Stream::open(&operator, "/api/v1/events").await;
    let a = file_in(&app, &operator, GRID_6, "hotline_12345").await;
    let seen = first.case().await;
    drop(first);
    // Meanwhile, while nobody listens:
    step(&operator, a, json!({ "type": "file", "category": "0101" })).await;
    let b = file_in(&app, &operator, GRID_1, "hotline_12345").await;

    let last = seen["id"].as_i64().unwrap();
    let req = Request::get("/api/v1/events")
        .header(header::AUTHORIZATION, format!("Bearer {}", operator.token.as_deref().unwrap()))
        .header("last-event-id", last.to_string())
        .body(Body::empty())
        .unwrap();
    let mut again = Stream::of(app.router.clone().oneshot(req).await.unwrap()).await;
    let missed = [again.case().await, again.case().await];
    assert_eq!((missed[0]["case_id"].as_i64(), missed[0]["seq"].as_i64()), (Some(a), Some(2)));
    assert_eq!((missed[1]["case_id"].as_i64(), missed[1]["seq"].as_i64()), (Some(b), Some(1)));
    // Then live, without repeating anything.
    step(&operator, a, json!({ "type": "dispatch", "unit": "610304003002" })).await;
    let live = again.case().await;
    assert_eq!(
        (live["case_id"].as_i64(), live["seq"].as_i64(), live["kind"].as_str()),
        (Some(a), Some(3), Some("dispatch"))
    );
    again.quiet().await;

    // Resuming from the start replays only what the caller may see.
    let mut from_start = Stream::open(&worker_1, "/api/v1/events?after=0").await;
    assert_eq!(from_start.case().await["case_id"], b);
    from_start.quiet().await;
}

#[tokio::test]
async fn streams_end_when_the_server_stops() {
    let mut kept = None;
    let app = tuned_app(|s| {
        kept = Some(s.clone());
        s
    })
    .await;
    let state = kept.unwrap();
    let operator = app.as_user("t-operator").await;
    let mut stream = Stream::open(&operator, "/api/v1/events").await;
    state.close_streams();
    loop {
        match stream.next(Duration::from_secs(10)).await {
            Next::Ended => break,
            Next::Message(m) if m.comment.is_some() => {}
            Next::Message(m) => panic!("{m:?}"),
            Next::Quiet => panic!("the stream did not end"),
        }
    }
}
