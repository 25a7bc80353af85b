//! A node killed in the middle of dispatching one-click calls: after a
//! restart no acknowledged call is lost, no call has two owners, and the
//! offers that were out either go to the next responders or end in the
//! alarm — the dispatcher picks them up from the database.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod common;

use common::{Server, http_as, token};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// In grid 1 of 铁道南社区 (610304003002001).
const POINT: (f64, f64) = (34.3405, 107.3857);

fn call(addr: &str, token: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    let (status, b) = http_as(addr, Some(token), method, path, &body.to_string()).unwrap();
    (status, serde_json::from_str(&b).unwrap_or(Value::Null))
}

fn start(db: &std::path::Path, demo: bool) -> Server {
    let mut args =
        vec!["--database", db.to_str().unwrap(), "--call-ack", "5", "--call-offers", "2", "--call-give-up", "15"];
    if demo {
        args.push("--demo");
    }
    Server::start(args)
}

#[test]
fn a_node_killed_mid_dispatch_loses_no_call_and_resumes_its_offers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let server = start(&db, true);
    let op = token(&server.addr, "demo-operator");
    // Six responders of the community on duty, 50 to 300 m from the point.
    let (_, listed) = call(&server.addr, &op, "GET", "/api/v1/responders?within=610304003002", Value::Null);
    let ids: Vec<i64> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["team"] != "grid_worker")
        .take(6)
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    let at = jiff::Timestamp::now().to_string();
    let fixes: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| json!({ "responder_id": id, "lat": POINT.0 + 0.00045 * (i + 1) as f64, "lon": POINT.1, "at": at }))
        .collect();
    for id in &ids {
        let (status, v) =
            call(&server.addr, &op, "PUT", &format!("/api/v1/responders/{id}/duty"), json!({ "on_duty": true }));
        assert_eq!(status, 200, "{v}");
    }
    let (status, v) = call(&server.addr, &op, "POST", "/api/v1/responders/locations", json!({ "positions": fixes }));
    assert_eq!((status, v["accepted"].as_u64()), (200, Some(6)), "{v}");

    // Callers press buttons as fast as they can; two relays race to accept
    // each call for two responders; the node is killed in the middle.
    let acked = Arc::new(Mutex::new(Vec::<i64>::new()));
    let callers: Vec<_> = (0..3)
        .map(|c| {
            let (addr, op, acked) = (server.addr.clone(), op.clone(), acked.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    let body = json!({ "lat": POINT.0, "lon": POINT.1, "kind": "fall" }).to_string();
                    let path = "/api/v1/calls";
                    let key = format!("Idempotency-Key: fault-{c}-{i}");
                    match common::http_with(&addr, &op, "POST", path, &key, &body) {
                        Ok((201, b)) => {
                            let v: Value = serde_json::from_str(&b).unwrap();
                            let id = v["id"].as_i64().unwrap();
                            acked.lock().unwrap().push(id);
                            // Two answers at once for the first two offered.
                            let offered: Vec<i64> = v["offers"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|o| o["responder_id"].as_i64().unwrap())
                                .collect();
                            let racers: Vec<_> = offered
                                .into_iter()
                                .take(2)
                                .map(|r| {
                                    let (addr, op) = (addr.clone(), op.clone());
                                    std::thread::spawn(move || {
                                        let body = json!({ "accept": true, "responder_id": r }).to_string();
                                        http_as(&addr, Some(&op), "POST", &format!("/api/v1/calls/{id}/answer"), &body)
                                            .ok()
                                    })
                                })
                                .collect();
                            for r in racers {
                                r.join().unwrap();
                            }
                        }
                        Ok((status, b)) if status != 0 => panic!("unexpected {status}: {b}"),
                        _ => break, // the server is gone
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 12 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut server = server;
    server.child.kill().unwrap(); // SIGKILL mid-dispatch
    server.child.wait().unwrap();
    for c in callers {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 12, "only {} calls acknowledged", acked.len());

    let again = start(&db, false);
    let restarted = jiff::Timestamp::now();
    let get = |id: i64| call(&again.addr, &op, "GET", &format!("/api/v1/calls/{id}"), Value::Null);
    let mut owners: HashMap<i64, i64> = HashMap::new();
    for id in &acked {
        let (status, v) = get(*id);
        assert_eq!(status, 200, "acknowledged call {id} lost: {v}");
        let accepted = v["offers"].as_array().unwrap().iter().filter(|o| o["state"] == "accepted").count();
        assert!(accepted <= 1, "call {id} has {accepted} accepted offers: {v}");
        if let Some(owner) = v["owner"]["responder_id"].as_i64() {
            assert_eq!(accepted, 1, "{v}");
            assert!(owners.insert(owner, *id).is_none(), "responder {owner} owns two calls");
        }
    }
    // A responder's task agrees with the calls: one call each at most.
    let (_, listed) = call(&again.addr, &op, "GET", "/api/v1/responders?within=610304003002&on_duty=true", Value::Null);
    for r in listed["items"].as_array().unwrap() {
        if let Some(c) = r["call_id"].as_i64() {
            assert_eq!(owners.get(&r["id"].as_i64().unwrap()), Some(&c), "{r}");
        }
    }
    // Offers that were out resume: within the acknowledgement time and a
    // few dispatcher turns, every unowned call has had a round since the
    // restart, or is alarmed.
    let waiting: Vec<i64> = acked.iter().copied().filter(|id| get(*id).1["owner"].is_null()).collect();
    assert!(!waiting.is_empty(), "some calls are still waiting after the kill");
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let stuck: Vec<i64> = waiting
            .iter()
            .copied()
            .filter(|id| {
                let v = get(*id).1;
                let moved = v["state"] == "alarmed"
                    || v["state"] != "dispatching"
                    || v["updated_at"]
                        .as_str()
                        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                        .is_some_and(|t| t > restarted);
                !moved
            })
            .collect();
        if stuck.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "calls {stuck:?} never resumed after the restart");
        std::thread::sleep(Duration::from_millis(500));
    }
}
