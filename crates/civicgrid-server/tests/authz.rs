//! The authorisation matrix: every API route, every role, an object inside
//! and an object outside the role's scope, and the answer each must get.
//! The expectation is derived from the route table and the roles'
//! permissions, so a route or a role added later is covered too.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod support;

use axum::http::StatusCode;
use civicgrid_domain::{Permission, Role, UnitCode};
use civicgrid_server::auth::{Access, Kind, ROUTES};
use serde_json::{Value, json};
use support::{ACCOUNTS, PASSWORD, writable_app};

/// Inside every test account's scope: grid 6 of 铁道南社区 (千渭街道), which has residents.
const IN_GRID: &str = "610304003002006";
/// Outside every scope below the district: a grid of 东街社区 (虢镇街道).
const OUT_GRID: &str = "610304001001001";

/// Where each side of the matrix points.
struct Side {
    grid: &'static str,
    point: (f64, f64),
    resident: i64,
    target_user: i64,
    case: i64,
    compound: String,
    /// A one-click call placed in the grid.
    call: i64,
    /// A responder of the grid no test account answers as.
    responder: i64,
}

/// A request for one route against one side, and whether it acts (403 when
/// outside the scope) or reads an object (404 when outside the scope).
struct Sample {
    method: &'static str,
    uri: String,
    body: Value,
    acts: bool,
}

fn sample(method: &str, path: &str, side: &Side, role: &str, n: usize) -> Option<Sample> {
    let (lat, lon) = side.point;
    let g = side.grid;
    let read = |uri: String| Sample { method: "GET", uri, body: Value::Null, acts: false };
    let act = |m: &'static str, uri: &str, body: Value| Sample { method: m, uri: uri.to_owned(), body, acts: true };
    Some(match (method, path) {
        ("GET", "/healthz") => read("/healthz".into()),
        ("GET", "/api/v1/openapi.json") => read("/api/v1/openapi.json".into()),
        ("POST", "/api/v1/session") => act("POST", path, json!({ "username": role, "password": PASSWORD })),
        // Ending the session is tried last, with a token of its own (see below).
        ("DELETE", "/api/v1/session") => act("DELETE", path, Value::Null),
        ("GET", "/api/v1/me") => read(path.into()),
        ("PUT", "/api/v1/me/password") => {
            act("PUT", path, json!({ "current_password": PASSWORD, "new_password": PASSWORD }))
        }
        ("GET", "/api/v1/tokens") => read(path.into()),
        ("POST", "/api/v1/tokens") => act("POST", path, json!({ "name": "matrix", "expires_in_days": 1 })),
        ("DELETE", "/api/v1/tokens/{id}") => return None, // needs the caller's own token id
        ("GET", "/api/v1/users") => read(format!("/api/v1/users?unit={g}")),
        ("POST", "/api/v1/users") => act(
            "POST",
            path,
            json!({
                "username": format!("m-{role}-{n}-{}", &g[9..12]),
                "display_name": "矩阵测试",
                "password": "Matrix-password-2026",
                "grants": [{ "role": "grid_worker", "scope": g }],
            }),
        ),
        ("PUT", "/api/v1/users/{id}/grants") => Sample {
            method: "PUT",
            uri: format!("/api/v1/users/{}/grants", side.target_user),
            body: json!({ "grants": [{ "role": "grid_worker", "scope": g }] }),
            // The user is an object: outside the scope it is not found.
            acts: false,
        },
        ("GET", "/api/v1/audit") => read(path.into()),
        ("GET", "/api/v1/stats") => read(format!("/api/v1/stats?unit={g}")),
        ("GET", "/api/v1/units") => read(path.into()),
        ("GET", "/api/v1/units/{code}") => read(format!("/api/v1/units/{g}")),
        ("GET", "/api/v1/units/{code}/history") => read(format!("/api/v1/units/{g}/history")),
        ("GET", "/api/v1/communities") => read(format!("/api/v1/communities?within={g}")),
        ("GET", "/api/v1/grids") => read(format!("/api/v1/grids?within={g}")),
        ("GET", "/api/v1/locate") => read(format!("/api/v1/locate?lat={lat}&lon={lon}")),
        ("GET", "/api/v1/compounds") => read(format!("/api/v1/compounds?unit={g}")),
        ("GET", "/api/v1/facilities") => read(format!("/api/v1/facilities?unit={g}")),
        ("POST", "/api/v1/facilities") => {
            act("POST", path, json!({ "category": "clinic", "name": format!("矩阵{role}{n}"), "lat": lat, "lon": lon }))
        }
        ("GET", "/api/v1/cameras") => read(format!("/api/v1/cameras?unit={g}")),
        ("GET", "/api/v1/party-branches") => read(format!("/api/v1/party-branches?unit={g}")),
        ("GET", "/api/v1/people") => read(format!("/api/v1/people?unit={g}")),
        ("GET", "/api/v1/residents") => read(format!("/api/v1/residents?unit={g}")),
        ("GET", "/api/v1/residents/{id}") => read(format!("/api/v1/residents/{}", side.resident)),
        ("POST", "/api/v1/residents/{id}/unmask") => Sample {
            method: "POST",
            uri: format!("/api/v1/residents/{}/unmask", side.resident),
            body: json!({ "reason": "授权矩阵测试" }),
            acts: false,
        },
        ("GET", "/api/v1/case-categories") => read(path.into()),
        ("GET", "/api/v1/access/units") => read(format!("/api/v1/access/units?unit={g}")),
        ("GET", "/api/v1/access/map") => read(format!("/api/v1/access/map?unit={g}&category=clinic")),
        ("GET", "/api/v1/access/compounds") => read(format!("/api/v1/access/compounds?unit={g}")),
        ("GET", "/api/v1/access/compounds/{code}") => read(format!("/api/v1/access/compounds/{}", side.compound)),
        // Computations over a unit: outside the scope the unit is not found.
        ("POST", "/api/v1/access/proposals") => Sample {
            method: "POST",
            uri: path.into(),
            body: json!({ "unit": g, "category": "clinic", "k": 1, "candidates": "compounds" }),
            acts: false,
        },
        ("POST", "/api/v1/access/what-if") => Sample {
            method: "POST",
            uri: path.into(),
            body: json!({ "unit": g, "category": "clinic", "lat": lat, "lon": lon }),
            acts: false,
        },
        ("POST", "/api/v1/access/refresh") => act("POST", path, Value::Null),
        ("GET", "/api/v1/kpis") => {
            read(format!("/api/v1/kpis?unit={g}&from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z"))
        }
        // Photos are bytes, not JSON: tried for every role below the loop.
        ("POST", "/api/v1/attachments") | ("GET", "/api/v1/attachments/{id}/{variant}") => return None,
        // A stream does not end: opened for every role below the loop (what
        // each receives is in tests/events.rs).
        ("GET", "/api/v1/events") => return None,
        ("GET", "/api/v1/cases") => read(format!("/api/v1/cases?unit={g}")),
        // Anyone who may report may report anywhere as a resident would.
        ("POST", "/api/v1/cases") => {
            act("POST", path, json!({ "title": "矩阵测试", "lat": lat, "lon": lon, "source": "resident_report" }))
        }
        ("GET", "/api/v1/cases/mine") => read(path.into()),
        ("GET", "/api/v1/cases/open") => read(format!("/api/v1/cases/open?unit={g}")),
        ("GET", "/api/v1/cases/{id}") => read(format!("/api/v1/cases/{}", side.case)),
        ("POST", "/api/v1/cases/{id}/events") => Sample {
            method: "POST",
            uri: format!("/api/v1/cases/{}/events", side.case),
            body: json!({ "type": "comment", "note": "矩阵测试" }),
            acts: false,
        },
        ("GET", "/api/v1/responders") => read(format!("/api/v1/responders?within={g}")),
        ("GET", "/api/v1/responders/me") => read(path.into()),
        ("PUT", "/api/v1/responders/me/duty") => act("PUT", path, json!({ "on_duty": false })),
        ("PUT", "/api/v1/responders/{id}/duty") => Sample {
            method: "PUT",
            uri: format!("/api/v1/responders/{}/duty", side.responder),
            body: json!({ "on_duty": false }),
            // A responder is an object: outside the scope it is not found.
            acts: false,
        },
        ("POST", "/api/v1/responders/locations") => act(
            "POST",
            path,
            json!({ "responder_id": side.responder, "lat": lat, "lon": lon, "at": jiff::Timestamp::now().to_string() }),
        ),
        ("GET", "/api/v1/calls") => read(format!("/api/v1/calls?within={g}")),
        // Anyone who may report may call anywhere, as a resident would.
        ("POST", "/api/v1/calls") => act("POST", path, json!({ "lat": lat, "lon": lon, "kind": "fall" })),
        ("GET", "/api/v1/calls/{id}") => read(format!("/api/v1/calls/{}", side.call)),
        ("POST", "/api/v1/calls/{id}/answer") => {
            act("POST", &format!("/api/v1/calls/{}/answer", side.call), json!({ "accept": false }))
        }
        ("POST", "/api/v1/calls/{id}/progress") => {
            act("POST", &format!("/api/v1/calls/{}/progress", side.call), json!({ "step": "en_route" }))
        }
        ("POST", "/api/v1/calls/{id}/assign") => {
            act("POST", &format!("/api/v1/calls/{}/assign", side.call), json!({ "responder_id": 0 }))
        }
        ("POST", "/api/v1/calls/{id}/callback") => {
            act("POST", &format!("/api/v1/calls/{}/callback", side.call), json!({ "note": "矩阵测试" }))
        }
        ("POST", "/api/v1/calls/{id}/escalate") => {
            act("POST", &format!("/api/v1/calls/{}/escalate", side.call), json!({ "note": "矩阵测试" }))
        }
        ("GET", "/api/v1/call-devices") => read(format!("/api/v1/call-devices?within={g}")),
        // A wall button at the side's point: staff within their scope only.
        ("POST", "/api/v1/call-devices") => act(
            "POST",
            path,
            json!({ "code": format!("MX-{role}-{g}"), "kind": "wall_button", "lat": lat, "lon": lon, "address": "矩阵测试" }),
        ),
        ("GET", "/api/v1/call-devices/mine") => read(path.into()),
        // A device of the side's grid registered for each role (see `devices_in`).
        ("DELETE", "/api/v1/call-devices/{code}") => Sample {
            method: "DELETE",
            uri: format!("/api/v1/call-devices/{}", retired_device(role, g)),
            body: Value::Null,
            acts: false,
        },
        _ => panic!("no sample request for {method} {path}: add one to the matrix"),
    })
}

/// Routes whose object is not placed in the org tree: no outside variant.
fn unscoped(path: &str) -> bool {
    matches!(
        path,
        "/healthz"
            | "/api/v1/openapi.json"
            | "/api/v1/session"
            | "/api/v1/me"
            | "/api/v1/me/password"
            | "/api/v1/tokens"
            | "/api/v1/units"
            | "/api/v1/audit"
            | "/api/v1/case-categories"
            | "/api/v1/access/refresh"
            | "/api/v1/cases/mine"
            | "/api/v1/responders/me"
            | "/api/v1/responders/me/duty"
            | "/api/v1/call-devices/mine"
    )
}

/// A case is shown to whoever may view cases over its grid (else it is not
/// found), and acted on by whoever may handle them there (else 403).
fn case_answer(role: Role, scope: &UnitCode, path: &str, inside: bool) -> Vec<StatusCode> {
    let grid = UnitCode::parse(if inside { IN_GRID } else { OUT_GRID }).unwrap();
    let sees = role.has(Permission::ViewCases) && scope.contains(&grid);
    let acts = role.has(Permission::HandleCases) && scope.contains(&grid);
    match (path.ends_with("/events"), sees, acts) {
        (_, false, _) => vec![StatusCode::NOT_FOUND],
        (false, true, _) | (true, true, true) => vec![StatusCode::OK],
        (true, true, false) => vec![StatusCode::FORBIDDEN],
    }
}

/// A call is shown to the command centre and those who may view cases over
/// its grid (else not found); its take-over is the command centre's; its
/// answers are those of the responders it was offered to (none here: a
/// responder the call was not offered to gets 409 or 403 where they may see it).
fn call_answer(role: Role, scope: &UnitCode, path: &str, inside: bool) -> Vec<StatusCode> {
    let grid = UnitCode::parse(if inside { IN_GRID } else { OUT_GRID }).unwrap();
    let at_grid = |p| role.has(p) && scope.contains(&grid);
    let sees = at_grid(Permission::DispatchCalls) || at_grid(Permission::ViewCases);
    let responder = matches!(role, Role::GridWorker | Role::Responder);
    let need = |p| role.has(p);
    let code = |c: StatusCode| vec![c];
    match path.rsplit('/').next().unwrap_or("") {
        "{id}" if sees => code(StatusCode::OK),
        "{id}" => code(StatusCode::NOT_FOUND),
        "answer" | "progress" if !need(Permission::RespondToCalls) => code(StatusCode::FORBIDDEN),
        // Not a responder, or one who may not see the call.
        "answer" | "progress" if !responder || !sees => code(StatusCode::NOT_FOUND),
        "answer" => code(StatusCode::CONFLICT),
        "progress" => code(StatusCode::FORBIDDEN),
        _ if !need(Permission::DispatchCalls) => code(StatusCode::FORBIDDEN),
        _ if !sees => code(StatusCode::NOT_FOUND),
        // No such responder to assign.
        "assign" => code(StatusCode::UNPROCESSABLE_ENTITY),
        // Each role escalates the same call once more, until the top level.
        "escalate" => vec![StatusCode::OK, StatusCode::CONFLICT],
        _ => code(StatusCode::OK),
    }
}

fn expected(access: Access, role: Role, scope: &UnitCode, path: &str, inside: bool, acts: bool) -> Vec<StatusCode> {
    let ok = vec![StatusCode::OK, StatusCode::CREATED, StatusCode::NO_CONTENT];
    if path.starts_with("/api/v1/cases/{id}") {
        return case_answer(role, scope, path, inside);
    }
    if path.starts_with("/api/v1/calls/{id}") {
        return call_answer(role, scope, path, inside);
    }
    if path.starts_with("/api/v1/responders/me") {
        return match (role.has(Permission::RespondToCalls), matches!(role, Role::GridWorker | Role::Responder)) {
            (false, _) => vec![StatusCode::FORBIDDEN],
            (true, true) => ok,
            (true, false) => vec![StatusCode::NOT_FOUND],
        };
    }
    if path == "/api/v1/responders/locations" {
        // Another responder's position: the command centre over their grid only.
        let grid = UnitCode::parse(if inside { IN_GRID } else { OUT_GRID }).unwrap();
        let may = role.has(Permission::DispatchCalls) && scope.contains(&grid);
        return if may { ok } else { vec![StatusCode::FORBIDDEN] };
    }
    if path.starts_with("/api/v1/call-devices") && (acts || path.ends_with("{code}")) {
        // Staff register and retire devices within their scope; anyone else
        // who may report, only their own home (not found: someone else's).
        let grid = UnitCode::parse(if inside { IN_GRID } else { OUT_GRID }).unwrap();
        let manages = role.has(Permission::ManageCallDevices) && scope.contains(&grid);
        return match (role.has(Permission::ReportCases), manages, acts) {
            (false, _, _) => vec![StatusCode::FORBIDDEN],
            (true, true, _) => ok,
            (true, false, true) => vec![StatusCode::FORBIDDEN],
            (true, false, false) => vec![StatusCode::NOT_FOUND],
        };
    }
    if (path == "/api/v1/cases" || path == "/api/v1/calls") && acts {
        return if role.has(Permission::ReportCases) { ok } else { vec![StatusCode::FORBIDDEN] };
    }
    match access {
        Access::Public | Access::Signed => ok,
        Access::Need(p) if !role.has(p) => vec![StatusCode::FORBIDDEN],
        // The audit log needs the auditor role over a whole district.
        Access::Need(Permission::ReadAudit) => ok,
        Access::Need(_) if unscoped(path) => ok,
        Access::Need(_) => {
            let grid = UnitCode::parse(if inside { IN_GRID } else { OUT_GRID }).unwrap();
            if scope.contains(&grid) {
                ok
            } else if acts {
                vec![StatusCode::FORBIDDEN]
            } else {
                vec![StatusCode::NOT_FOUND]
            }
        }
    }
}

/// The device each account tries to retire on one side.
fn retired_device(username: &str, grid: &str) -> String {
    format!("MXD-{username}-{grid}")
}

/// A wall button in the grid for each account to retire.
async fn devices_in(app: &support::App, grid: &str) {
    let (lat, lon) = grid_point(app, grid).await;
    let devices: Vec<_> = ACCOUNTS
        .iter()
        .map(|(username, _, _)| civicgrid_store::NewCallDevice {
            code: retired_device(username, grid),
            kind: "wall_button".into(),
            user_id: None,
            household_id: None,
            address: "矩阵对象".into(),
            lat,
            lon,
            grid: UnitCode::parse(grid).unwrap(),
        })
        .collect();
    app.store.register_call_devices(&devices, &civicgrid_store::Actor::system("test")).await.unwrap();
}

async fn case_in(app: &support::App, grid: &str) -> i64 {
    let operator = app.as_user("t-operator").await;
    let (lat, lon) = grid_point(app, grid).await;
    let body = json!({ "title": "矩阵对象", "lat": lat, "lon": lon, "source": "hotline_12345" });
    let (status, v) = operator.call("POST", "/api/v1/cases", body).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["id"].as_i64().unwrap()
}

async fn call_in(app: &support::App, grid: &str) -> i64 {
    let operator = app.as_user("t-operator").await;
    let (lat, lon) = grid_point(app, grid).await;
    let body = json!({ "lat": lat, "lon": lon, "kind": "medical" });
    let (status, v) = operator.call_keyed("POST", "/api/v1/calls", body, &format!("matrix-object-{grid}")).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["id"].as_i64().unwrap()
}

/// A responder of the grid (or its community) that no test account answers as.
async fn responder_in(app: &support::App, grid: &str) -> i64 {
    let all = app.store.responders(None).await.unwrap();
    let community = &grid[..12];
    let free = |r: &&civicgrid_store::ResponderRecord| r.user_id.is_none();
    let pick = all
        .iter()
        .filter(free)
        .find(|r| r.grid == grid)
        .or_else(|| all.iter().filter(free).find(|r| r.grid.starts_with(community)));
    pick.unwrap().id
}

/// A compound of the grid, or else of its community (outside the same scopes).
async fn compound_in(app: &support::App, grid: &str) -> String {
    let grid = UnitCode::parse(grid).unwrap();
    for unit in [grid.clone(), grid.parent().unwrap()] {
        let q = civicgrid_store::ListQuery::within(&unit);
        if let Some(c) = app.store.compounds(&q).await.unwrap().items.first() {
            return c.code.clone();
        }
    }
    panic!("no compound in {grid} or its community")
}

async fn user_in(app: &support::App, grid: &str, name: &str) -> i64 {
    let admin = app.as_user("t-admin").await;
    let body = json!({
        "username": name,
        "display_name": "矩阵对象",
        "password": "Matrix-password-2026",
        "grants": [{ "role": "grid_worker", "scope": grid }],
    });
    let (status, v) = admin.call("POST", "/api/v1/users", body).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["id"].as_i64().unwrap()
}

#[tokio::test]
async fn every_route_every_role_inside_and_outside_its_scope() {
    let app = writable_app().await;
    let out_resident = {
        let q = civicgrid_store::ListQuery::within(&UnitCode::parse("610304001001").unwrap());
        app.store.residents(&q, None).await.unwrap().items[0].clone()
    };
    let inside = Side {
        grid: IN_GRID,
        point: grid_point(&app, IN_GRID).await,
        resident: 0,
        target_user: user_in(&app, IN_GRID, "matrix-target-in").await,
        case: case_in(&app, IN_GRID).await,
        compound: compound_in(&app, IN_GRID).await,
        call: call_in(&app, IN_GRID).await,
        responder: responder_in(&app, IN_GRID).await,
    };
    let outside = Side {
        grid: OUT_GRID,
        point: grid_point(&app, OUT_GRID).await,
        resident: out_resident.id,
        target_user: user_in(&app, OUT_GRID, "matrix-target-out").await,
        case: case_in(&app, OUT_GRID).await,
        compound: compound_in(&app, OUT_GRID).await,
        call: call_in(&app, OUT_GRID).await,
        responder: responder_in(&app, OUT_GRID).await,
    };
    devices_in(&app, IN_GRID).await;
    devices_in(&app, OUT_GRID).await;
    // The inside resident must lie within every scope, the grid worker's too.
    let inside = Side { resident: resident_in_grid(&app, IN_GRID).await.expect("residents in IN_GRID"), ..inside };

    let mut failures = Vec::new();
    let mut checked = 0;
    for (n, (username, role, scope)) in ACCOUNTS.iter().enumerate() {
        let scope = UnitCode::parse(scope).unwrap();
        let client = app.as_user(username).await;
        for route in ROUTES.iter().filter(|r| r.kind == Kind::Api) {
            for (side, is_inside) in [(&inside, true), (&outside, false)] {
                if !is_inside && unscoped(route.path) {
                    continue;
                }
                let Some(s) = sample(route.method, route.path, side, username, n) else { continue };
                if route.method == "DELETE" && route.path == "/api/v1/session" {
                    continue;
                }
                let want = expected(route.access, *role, &scope, route.path, is_inside, s.acts);
                let (status, v) = if s.method == "POST" && s.uri == "/api/v1/calls" {
                    client.call_keyed(s.method, &s.uri, s.body.clone(), &format!("matrix-{username}-{is_inside}")).await
                } else {
                    client.call(s.method, &s.uri, s.body.clone()).await
                };
                checked += 1;
                if !want.contains(&status) {
                    failures.push(format!("{username} {} {} → {status}, want {want:?}: {v}", s.method, s.uri));
                }
                assert!(status.as_u16() < 500, "{username} {} {} → {status}: {v}", s.method, s.uri);
            }
        }
        // Tokens: revoke one's own, and not another's.
        let (_, t) = client.call("POST", "/api/v1/tokens", json!({ "name": "to revoke" })).await;
        let id = t["id"].as_i64().unwrap();
        let (status, _) = client.call("DELETE", &format!("/api/v1/tokens/{id}"), Value::Null).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{username} revokes own token");
        let (status, _) = client.call("DELETE", &format!("/api/v1/tokens/{id}"), Value::Null).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{username} revokes it twice");
        // Photos: whoever may report may upload, and sees their own upload.
        let (status, photo) = client.raw("POST", "/api/v1/attachments", tiny_png(n), "image/png").await;
        if role.has(Permission::ReportCases) {
            assert!(status.is_success(), "{username} uploads: {status} {photo}");
            let id = photo["id"].as_str().unwrap();
            let res = tower::ServiceExt::oneshot(
                app.router.clone(),
                axum::http::Request::get(format!("/api/v1/attachments/{id}/thumb"))
                    .header("authorization", format!("Bearer {}", client.token.as_deref().unwrap()))
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{username} sees their own photo");
        } else {
            assert_eq!(status, StatusCode::FORBIDDEN, "{username} uploads: {photo}");
        }
        // Everyone signed in may open the event stream (each receives only
        // the events of cases they may see).
        let stream = client.open("/api/v1/events").await;
        assert_eq!(stream.status(), StatusCode::OK, "{username} opens the event stream");
        assert_eq!(stream.headers()["content-type"], "text/event-stream", "{username}");
        // Ending the session revokes the token it was made with.
        let last = app.as_user(username).await;
        let (status, _) = last.call("DELETE", "/api/v1/session", Value::Null).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(last.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED, "{username}: the token is gone");
    }
    assert!(failures.is_empty(), "{} of {checked} answers were wrong:\n{}", failures.len(), failures.join("\n"));
    assert!(checked > 400, "the matrix ran {checked} requests");

    // Without signing in, only the public routes answer.
    let anon = app.anonymous();
    assert_eq!(anon.open("/api/v1/events").await.status(), StatusCode::UNAUTHORIZED, "anonymous event stream");
    for route in ROUTES.iter().filter(|r| r.kind == Kind::Api) {
        let Some(s) = sample(route.method, route.path, &inside, "t-admin", 99) else { continue };
        let (status, v) = anon.call(s.method, &s.uri, s.body.clone()).await;
        if route.access == Access::Public {
            assert!(status.is_success(), "anonymous {} {} → {status}: {v}", s.method, s.uri);
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "anonymous {} {}: {v}", s.method, s.uri);
        }
    }
}

/// Pages, as a browser signed in as each role would load them (the bearer
/// token stands in for the session cookie: the middleware treats both alike).
#[tokio::test]
async fn every_page_every_role_inside_and_outside_its_scope() {
    let app = writable_app().await;
    let inside = grid_point(&app, IN_GRID).await;
    let outside = grid_point(&app, OUT_GRID).await;
    let (in_case, out_case) = (case_in(&app, IN_GRID).await, case_in(&app, OUT_GRID).await);
    let ok = |s: StatusCode| s == StatusCode::OK || s == StatusCode::SEE_OTHER;
    let mut failures = Vec::new();
    for (username, role, scope) in ACCOUNTS {
        let scope = UnitCode::parse(scope).unwrap();
        let client = app.as_user(username).await;
        for route in ROUTES.iter().filter(|r| r.kind == Kind::Page) {
            let sides: Vec<(String, bool)> = match (route.method, route.path) {
                ("GET", "/") => vec![("/".into(), true)],
                ("GET", "/units/{code}") => {
                    vec![(format!("/units/{IN_GRID}"), true), (format!("/units/{OUT_GRID}"), false)]
                }
                ("GET", "/locate") => vec![
                    (format!("/locate?lat={}&lon={}", inside.0, inside.1), true),
                    (format!("/locate?lat={}&lon={}", outside.0, outside.1), false),
                ],
                ("GET", "/assets/{*path}") => vec![("/assets/app.css".into(), true)],
                ("GET", "/access/compounds/{code}") => {
                    let (a, b) = (compound_in(&app, IN_GRID).await, compound_in(&app, OUT_GRID).await);
                    vec![(format!("/access/compounds/{a}"), true), (format!("/access/compounds/{b}"), false)]
                }
                ("GET", p @ ("/cases/map" | "/cases/kpis" | "/access")) => {
                    vec![(format!("{p}?unit={IN_GRID}"), true), (format!("{p}?unit={OUT_GRID}"), false)]
                }
                ("GET", "/cases/{id}") => {
                    vec![(format!("/cases/{in_case}"), true), (format!("/cases/{out_case}"), false)]
                }
                ("GET", p) => vec![(p.to_owned(), true)],
                // Forms: only whether the role may post at all is checked here;
                // what they do is the browser tests' story.
                ("POST", p) => {
                    let p = p.replace("{id}", "999999");
                    let (status, _) = client.raw("POST", &p, "csrf=x", "application/x-www-form-urlencoded").await;
                    let denied = matches!(route.access, Access::Need(perm) if !role.has(perm));
                    if denied != (status == StatusCode::FORBIDDEN) || status.is_server_error() {
                        failures.push(format!("{username} POST {p} → {status}"));
                    }
                    continue;
                }
                _ => panic!("no page sample for {} {}", route.method, route.path),
            };
            for (uri, is_inside) in sides {
                let (status, _) = client.get(&uri).await;
                let grid = UnitCode::parse(if is_inside { IN_GRID } else { OUT_GRID }).unwrap();
                let want_ok = match route.access {
                    // A case page shows only cases the role may view there; others are not found.
                    _ if route.path == "/cases/{id}" => role.has(Permission::ViewCases) && scope.contains(&grid),
                    Access::Public | Access::Signed => true,
                    Access::Need(p) if !role.has(p) => false,
                    Access::Need(_) => is_inside || scope.contains(&grid),
                };
                let good = if want_ok {
                    ok(status)
                } else if matches!(route.access, Access::Need(p) if !role.has(p)) {
                    status == StatusCode::FORBIDDEN
                } else {
                    status == StatusCode::NOT_FOUND
                };
                if !good {
                    failures.push(format!("{username} GET {uri} → {status} (want ok: {want_ok})"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "wrong answers:\n{}", failures.join("\n"));
    // Without signing in, every page but the public ones sends the browser to sign in.
    let anon = app.anonymous();
    for path in ["/", "/units/610304", "/account", "/users", "/audit"] {
        let res = tower::ServiceExt::oneshot(
            app.router.clone(),
            axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        let to = res.headers()[axum::http::header::LOCATION].to_str().unwrap();
        assert!(to.starts_with("/login?next="), "{path} → {to}");
    }
    assert_eq!(anon.get("/login").await.0, StatusCode::OK);
}

/// A small PNG, different for each `n`.
fn tiny_png(n: usize) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(8, 8, image::Rgb([n as u8, 40, 200]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn grid_point(app: &support::App, grid: &str) -> (f64, f64) {
    let unit = app.store.unit(&UnitCode::parse(grid).unwrap()).await.unwrap().unwrap();
    let ring = unit.boundary.unwrap();
    let (lon, lat) = ring.iter().take(4).fold((0.0, 0.0), |(x, y), [a, b]| (x + a / 4.0, y + b / 4.0));
    (lat, lon)
}

async fn resident_in_grid(app: &support::App, grid: &str) -> Option<i64> {
    let q = civicgrid_store::ListQuery::within(&UnitCode::parse(grid).unwrap());
    app.store.residents(&q, None).await.unwrap().items.first().map(|r| r.id)
}
