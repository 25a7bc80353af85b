//! Bad input and attack: guessing passwords until the lock, stale tokens,
//! forged cross-site requests, changing an id in the URL, SQL-shaped and
//! oversized input, look-alike usernames. None may answer 500 or leak data.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use civicgrid_server::auth;
use civicgrid_store::{Actor, AuditQuery};
use serde_json::{Value, json};
use support::{PASSWORD, json_request, session_cookie, writable_app};

fn sign_in_body(user: &str, password: &str) -> String {
    json!({ "username": user, "password": password }).to_string()
}

#[tokio::test]
async fn guessing_passwords_locks_the_account_with_back_off() {
    let app = writable_app().await;
    for i in 0..4 {
        let (status, v) =
            app.send(json_request("POST", "/api/v1/session", None, sign_in_body("t-operator", "wrong-Guess-1"))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "guess {i}: {v}");
        assert_eq!(v["error"]["message"], "wrong username or password");
    }
    let (status, v) =
        app.send(json_request("POST", "/api/v1/session", None, sign_in_body("t-operator", "wrong-Guess-1"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the fifth wrong password locks: {v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("locked"));
    // Locked means locked: the right password does not get in either.
    let (status, _) =
        app.send(json_request("POST", "/api/v1/session", None, sign_in_body("t-operator", PASSWORD))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let user = app.store.user_by_name("t-operator").await.unwrap().unwrap();
    assert_eq!(user.failed_logins, 5);
    let until = user.locked_until.unwrap();
    let secs = until.duration_since(jiff::Timestamp::now()).as_secs();
    assert!((50..=60).contains(&secs), "locked for a minute, {secs} s left");
    // Each attempt is in the audit log; an unknown user's too.
    app.send(json_request("POST", "/api/v1/session", None, sign_in_body("nobody-here", "x"))).await;
    let q = |action: &str| AuditQuery { action: Some(action.into()), limit: 100, ..Default::default() };
    let failed = app.store.audit_log(&q("sign_in_failed")).await.unwrap();
    assert!(failed.items.iter().filter(|e| e.target == "t-operator" || e.actor == "t-operator").count() >= 5);
    assert!(failed.items.iter().any(|e| e.target == "nobody-here"));
}

#[tokio::test]
async fn revoked_and_expired_tokens_are_refused() {
    let app = writable_app().await;
    let client = app.as_user("t-community").await;
    assert_eq!(client.get("/api/v1/me").await.0, StatusCode::OK);
    let (_, made) = client.call("POST", "/api/v1/tokens", json!({ "name": "device" })).await;
    let device = made["token"].as_str().unwrap().to_owned();
    assert!(device.starts_with("cg_") && device.len() == 46, "marked as ours: {device}");
    let id = made["id"].as_i64().unwrap();
    let as_device = support::Client { app: &app, token: Some(device.clone()) };
    assert_eq!(as_device.get("/api/v1/me").await.0, StatusCode::OK);
    let (_, list) = client.get("/api/v1/tokens").await;
    assert!(list.to_string().find(&device).is_none(), "secrets are never listed");
    client.call("DELETE", &format!("/api/v1/tokens/{id}"), Value::Null).await;
    let (status, v) = as_device.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(v["error"]["message"].as_str().unwrap().contains("revoked"), "{v}");

    let user = app.store.user_by_name("t-community").await.unwrap().unwrap();
    let secret = auth::new_secret();
    let past = jiff::Timestamp::now().saturating_sub(jiff::SignedDuration::from_hours(1)).unwrap();
    app.store
        .create_token(user.id, "old", &auth::sha256_hex(&secret), Some(past), &Actor::system("test"))
        .await
        .unwrap();
    let expired = support::Client { app: &app, token: Some(secret) };
    let (status, v) = expired.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(v["error"]["message"].as_str().unwrap().contains("expired"), "{v}");
    let forged = support::Client { app: &app, token: Some("x".repeat(43)) };
    assert_eq!(forged.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_cross_site_request_without_the_csrf_token_is_refused() {
    let app = writable_app().await;
    let (cookie, csrf) = session_cookie(&app, "t-community").await;
    let post = |token: Option<&str>| {
        let mut r = Request::post("/api/v1/tokens")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, &cookie);
        if let Some(t) = token {
            r = r.header(auth::CSRF_HEADER, t);
        }
        r.body(Body::from(json!({ "name": "csrf" }).to_string())).unwrap()
    };
    let read = Request::get("/api/v1/me").header(header::COOKIE, &cookie).body(Body::empty()).unwrap();
    assert_eq!(app.send(read).await.0, StatusCode::OK, "the session works for reading");
    let (status, v) = app.send(post(None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("CSRF"));
    assert_eq!(app.send(post(Some("wrong"))).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.send(post(Some(&csrf))).await.0, StatusCode::CREATED);
    // A form post carries the token as a field.
    let form = |field: &str| {
        Request::post("/api/v1/tokens")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, &cookie)
            .body(Body::from(format!("name=form&csrf={field}")))
            .unwrap()
    };
    assert_eq!(app.send(form("nope")).await.0, StatusCode::FORBIDDEN);
    // With the right token the form reaches the handler, which wants JSON.
    assert_eq!(app.send(form(&csrf)).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn changing_an_id_in_the_url_does_not_escape_the_scope() {
    let app = writable_app().await;
    let community = app.as_user("t-community").await;
    let other = app
        .store
        .residents(
            &civicgrid_store::ListQuery::within(&civicgrid_domain::UnitCode::parse("610304003003").unwrap()),
            None,
        )
        .await
        .unwrap()
        .items[0]
        .id;
    for uri in [
        format!("/api/v1/residents/{other}"),
        "/api/v1/residents?unit=610304003003".into(),
        "/api/v1/units/610304003003".into(),
        "/api/v1/units/610304003".into(),
        "/api/v1/stats?unit=610304".into(),
        "/api/v1/cameras?unit=610304003003001".into(),
    ] {
        let (status, v) = community.get(&uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {v}");
        assert!(!v.to_string().contains("610304003003") || v["error"].is_object(), "{uri} leaks: {v}");
    }
    let (status, v) =
        community.call("POST", &format!("/api/v1/residents/{other}/unmask"), json!({ "reason": "越权尝试" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let q = AuditQuery { action: Some("view_personal_data".into()), limit: 10, ..Default::default() };
    assert_eq!(app.store.audit_log(&q).await.unwrap().total, 0, "nothing was unmasked");
    // Without a unit, lists stay inside the caller's scope.
    let (_, mine) = community.get("/api/v1/residents?limit=1000").await;
    assert!(mine["items"].as_array().unwrap().iter().all(|r| r["grid"].as_str().unwrap().starts_with("610304003002")));
    let (_, stats) = community.get("/api/v1/stats").await;
    assert_eq!(stats["unit"], "610304003002");
    assert_eq!(stats["communities"], 1);
}

#[tokio::test]
async fn sql_shaped_oversized_and_look_alike_input_is_answered_with_a_4xx() {
    let app = writable_app().await;
    let admin = app.as_user("t-admin").await;
    let anon = app.anonymous();
    for (user, pw) in [
        ("' OR 1=1 --", "x"),
        ("t-admin' --", PASSWORD),
        ("t-аdmin", PASSWORD),  // Cyrillic а
        ("ｔ-admin", PASSWORD), // full-width t
        ("T-ADMIN ", "wrong"),
    ] {
        let (status, v) = anon.call("POST", "/api/v1/session", json!({ "username": user, "password": pw })).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{user:?}: {v}");
    }
    let long = "a".repeat(100_000);
    let (status, _) = anon.call("POST", "/api/v1/session", json!({ "username": long, "password": long })).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let huge = "a".repeat(civicgrid_server::MAX_BODY + 1);
    let (status, _) = anon.call("POST", "/api/v1/session", json!({ "username": "t-admin", "password": huge })).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    for uri in [
        "/api/v1/residents?unit=610304%27%20OR%20%271%27=%271",
        "/api/v1/residents?phone=1%27%20OR%201=1",
        "/api/v1/residents?id_number=%27;DROP%20TABLE%20residents;--",
        "/api/v1/audit?actor=%27%20OR%201=1%20--",
        "/api/v1/audit?since=yesterday",
        "/api/v1/users?unit=610304;DELETE",
    ] {
        let (status, v) = admin.get(uri).await;
        assert!(status.is_client_error() || status == StatusCode::OK, "{uri} → {status}: {v}");
        assert!(status.as_u16() < 500);
    }
    // Look-alike and malformed usernames cannot be created.
    for name in ["t-аdmin", "ｔ-admin2", "admin; --", "a", "Ünïcode"] {
        let body = json!({
            "username": name,
            "display_name": "x",
            "password": "Matrix-password-2026",
            "grants": [{ "role": "grid_worker", "scope": "610304003002006" }],
        });
        let (status, v) = admin.call("POST", "/api/v1/users", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}: {v}");
    }
    let (status, _) = admin
        .call(
            "POST",
            "/api/v1/users",
            json!({ "username": "T-Admin", "display_name": "x", "password": "Matrix-password-2026",
                    "grants": [{ "role": "grid_worker", "scope": "610304003002006" }] }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "case-folded to an existing name");
    let weak = json!({ "username": "weakling", "display_name": "x", "password": "password",
                       "grants": [{ "role": "grid_worker", "scope": "610304003002006" }] });
    assert_eq!(admin.call("POST", "/api/v1/users", weak).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    // The tables are still there after all that.
    let (status, v) = admin.get("/api/v1/residents?unit=610304003002&limit=1").await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn unmasking_needs_a_reason_and_is_audited() {
    let app = writable_app().await;
    let worker = app.as_user("t-gridworker").await;
    let (_, list) = worker.get("/api/v1/residents?limit=5").await;
    let first = &list["items"][0];
    let masked = first["id_number"].as_str().unwrap();
    assert!(masked.contains("********") && masked.len() == 18, "{masked}");
    let id = first["id"].as_i64().unwrap();
    let (status, _) = worker.call("POST", &format!("/api/v1/residents/{id}/unmask"), json!({ "reason": " " })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, full) =
        worker.call("POST", &format!("/api/v1/residents/{id}/unmask"), json!({ "reason": "上门走访核对身份" })).await;
    assert_eq!(status, StatusCode::OK, "{full}");
    let number = full["id_number"].as_str().unwrap();
    assert_eq!(number.len(), 18);
    assert!(!number.contains('*'));
    assert_eq!(&number[..6], &masked[..6]);
    assert_eq!(&number[14..], &masked[14..]);
    // Found again by the full number, through the keyed hash.
    let (_, found) = worker.get(&format!("/api/v1/residents?id_number={number}")).await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["items"][0]["id"], id);
    // The auditor sees who looked, at whom, and why.
    let auditor = app.as_user("t-auditor").await;
    let (status, log) = auditor.get("/api/v1/audit?action=view_personal_data").await;
    assert_eq!(status, StatusCode::OK);
    let entry = &log["items"][0];
    assert_eq!(entry["actor"], "t-gridworker");
    assert_eq!(entry["target"], format!("resident:{id}"));
    assert_eq!(entry["reason"], "上门走访核对身份");
    assert!(!log.to_string().contains(number), "the audit log does not repeat the number");
    // A leader may see residents but not unmask them.
    let leader = app.as_user("t-leader").await;
    let (status, _) = leader.call("POST", &format!("/api/v1/residents/{id}/unmask"), json!({ "reason": "看看" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn responses_carry_security_headers() {
    let app = writable_app().await;
    let res = tower::ServiceExt::oneshot(app.router.clone(), Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let h = res.headers();
    let csp = h.get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'self'"), "{csp}");
    assert_eq!(h.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
    assert_eq!(h.get(header::REFERRER_POLICY).unwrap(), "same-origin");
    assert_eq!(h.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_client() {
    let app = writable_app().await;
    let state =
        civicgrid_server::AppState::load(app.store.clone()).await.unwrap().with_limits(auth::RateLimits::new(3, 100));
    let router = civicgrid_server::router(state);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let res = tower::ServiceExt::oneshot(
            router.clone(),
            json_request("POST", "/api/v1/session", None, sign_in_body("t-admin", "wrong")),
        )
        .await
        .unwrap();
        statuses.push(res.status());
    }
    assert_eq!(statuses[..3], [StatusCode::UNAUTHORIZED; 3]);
    assert_eq!(statuses[3..], [StatusCode::TOO_MANY_REQUESTS; 2]);
}
