//! Two `civicgrid serve` nodes on one PostgreSQL database, as a city runs
//! them behind a load balancer: a case filed through one is seen through the
//! other, both nodes' event streams tell every step of it once, both nodes'
//! escalation clocks race for the same overdue case and it is escalated once
//! for its deadline, and both stop promptly with streams open.
//!
//! Built only when `CIVICGRID_TEST_POSTGRES` names a PostgreSQL server (see
//! `build.rs`, and `scripts/postgres-up`); then it must reach the server.
#![cfg(civicgrid_test_postgres)]
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod common;
#[path = "../../civicgrid-store/tests/common/server.rs"]
mod server;

use common::{EventStream, Server, http_as, token};
use serde_json::{Value, json};
use std::ffi::OsString;
use std::time::{Duration, Instant};

/// A fresh database on the server named by `CIVICGRID_TEST_POSTGRES`,
/// dropped afterwards.
struct Database {
    server: String,
    name: String,
    url: String,
}

impl Database {
    fn create() -> Database {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (server, name, url) = rt.block_on(server::create_database("civicgrid_two_nodes"));
        Database { server, name, url }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        server::drop_database(self.server.clone(), self.name.clone());
    }
}

fn call(addr: &str, token: &str, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let body = if body.is_null() { String::new() } else { body.to_string() };
    let (status, text) = http_as(addr, Some(token), method, path, &body).unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text })))
}

fn step(addr: &str, token: &str, id: i64, body: Value) -> Value {
    let (status, v) = call(addr, token, "POST", &format!("/api/v1/cases/{id}/events"), &body);
    assert_eq!(status, 200, "{body} → {v}");
    v
}

/// The next case event on both streams: the same on both, and of `case`.
fn both_see(a: &EventStream, b: &EventStream, case: i64, seq: i64, kind: &str) -> Value {
    let on_a = a.next_case(Duration::from_secs(30)).unwrap_or_else(|| panic!("node A's stream: no {kind} event"));
    let on_b = b.next_case(Duration::from_secs(30)).unwrap_or_else(|| panic!("node B's stream: no {kind} event"));
    assert_eq!(on_a, on_b, "both nodes tell the same event");
    assert_eq!(
        (on_a["case_id"].as_i64(), on_a["seq"].as_i64(), on_a["kind"].as_str()),
        (Some(case), Some(seq), Some(kind)),
        "{on_a}"
    );
    on_a
}

/// No case event arrives on either stream for `long`.
fn both_quiet(a: &EventStream, b: &EventStream, long: Duration) {
    let until = Instant::now() + long;
    for s in [a, b] {
        let left = until.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        if let Some(v) = s.next_case(left) {
            panic!("an event too many: {v}");
        }
    }
}

#[test]
fn two_nodes_share_cases_their_events_and_one_clock() {
    let db = Database::create();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let node = |name: &str, demo: bool| {
        let mut args: Vec<OsString> = vec!["--database".into(), db.url.clone().into(), "--key-file".into()];
        args.push(keys.clone().into());
        args.extend(["--attachments".into(), dir.path().join(name).into()]);
        // Both clocks turn five times a second and judge deadlines 45 working
        // minutes ahead: a step of half an hour is overdue as soon as it starts.
        args.extend(["--clock-every", "0.2", "--clock-ahead-hours", "0.75"].map(OsString::from));
        if demo {
            args.push("--demo".into());
        }
        Server::start(args)
    };
    // The first node writes the demo district; the second starts on it.
    let a = node("a-files", true);
    let b = node("b-files", false);
    let operator_a = token(&a.addr, "demo-operator");
    let operator_b = token(&b.addr, "demo-operator");
    let community_b = token(&b.addr, "demo-community");
    let on_a = EventStream::open(&a.addr, &operator_a);
    let on_b = EventStream::open(&b.addr, &operator_b);

    // A hotline call filed through node A: a litter bin in grid 6 of 铁道南社区
    // (filing within an hour, dispatch within half an hour, handling eight).
    let (_, grids) = call(&a.addr, &operator_a, "GET", "/api/v1/grids?within=610304003002006", &Value::Null);
    let ring = grids["features"][0]["geometry"]["coordinates"][0].as_array().unwrap().clone();
    let (lon, lat) = ring
        .iter()
        .take(4)
        .fold((0.0, 0.0), |(x, y), p| (x + p[0].as_f64().unwrap() / 4.0, y + p[1].as_f64().unwrap() / 4.0));
    let report =
        json!({ "title": "垃圾箱破损", "category": "0302", "lat": lat, "lon": lon, "source": "hotline_12345" });
    let (status, case) = call(&a.addr, &operator_a, "POST", "/api/v1/cases", &report);
    assert_eq!(status, 201, "{case}");
    let id = case["id"].as_i64().unwrap();
    let (status, through_b) = call(&b.addr, &operator_b, "GET", &format!("/api/v1/cases/{id}"), &Value::Null);
    assert_eq!(status, 200, "{through_b}");
    assert_eq!(
        (through_b["number"].as_str(), through_b["state"].as_str()),
        (case["number"].as_str(), Some("reported"))
    );
    let filed = both_see(&on_a, &on_b, id, 1, "report");
    assert_eq!((filed["state"].as_str(), filed["grid"].as_str()), (Some("reported"), Some("610304003002006")));
    assert_eq!(filed["number"], case["number"]);

    // Filed (立案) through node B: the dispatch step's half hour is over by
    // both clocks at once. Each races for it; the case goes up one level once.
    step(&b.addr, &operator_b, id, json!({ "type": "file", "category": "0302" }));
    both_see(&on_a, &on_b, id, 2, "file");
    let escalated = both_see(&on_a, &on_b, id, 3, "escalated");
    assert_eq!(escalated["state"], "filed");
    // Both clocks keep turning (some thirty turns between them): the next
    // escalation of this step is a whole step limit later, so nothing more.
    both_quiet(&on_a, &on_b, Duration::from_secs(3));
    let (_, now) = call(&a.addr, &operator_a, "GET", &format!("/api/v1/cases/{id}"), &Value::Null);
    let kinds: Vec<&str> = now["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["report", "file", "escalated"], "one escalation for the deadline");
    assert_eq!((now["escalation"].as_str(), now["supervision"].as_bool()), (Some("community"), Some(true)));

    // Handled and closed through node B; both streams tell every step.
    step(&b.addr, &operator_b, id, json!({ "type": "dispatch", "unit": "610304003002" }));
    step(&b.addr, &community_b, id, json!({ "type": "accept" }));
    step(&b.addr, &community_b, id, json!({ "type": "report_back", "note": "已更换垃圾箱" }));
    let verified = step(&b.addr, &operator_b, id, json!({ "type": "verify", "passed": true }));
    assert_eq!(verified["escalate_at"], Value::Null, "a verified case waits for closure, not for the clock");
    let closed = step(&b.addr, &operator_b, id, json!({ "type": "close" }));
    assert_eq!(closed["state"], "closed");
    let mut last = escalated["id"].as_i64().unwrap();
    for (seq, kind, state) in [
        (4, "dispatch", "dispatched"),
        (5, "accept", "handling"),
        (6, "report_back", "reported_back"),
        (7, "verify", "verified"),
        (8, "close", "closed"),
    ] {
        let v = both_see(&on_a, &on_b, id, seq, kind);
        assert_eq!(v["state"], state, "{v}");
        assert!(v["id"].as_i64().unwrap() > last, "ids increase: {v}");
        last = v["id"].as_i64().unwrap();
    }
    both_quiet(&on_a, &on_b, Duration::from_secs(1));
    let (_, end) = call(&a.addr, &operator_a, "GET", &format!("/api/v1/cases/{id}"), &Value::Null);
    let kinds: Vec<&str> = end["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["report", "file", "escalated", "dispatch", "accept", "report_back", "verify", "close"]);

    // Both stop on SIGTERM with their streams open, and the streams end.
    for server in [a, b] {
        let status = server.stop(Duration::from_secs(20));
        assert!(status.success(), "exit status {status}");
    }
    for s in [&on_a, &on_b] {
        while s.recv(Duration::from_secs(10)).is_ok() {}
    }
}
