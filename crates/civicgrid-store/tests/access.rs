//! Users, their grants, sign-in counters, sessions and API tokens, told as an
//! administrator setting up a street's staff would meet them.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod common;

use civicgrid_domain::{Grant, Role};
use civicgrid_store::{Actor, AuditQuery, NewUser, SessionRecord, Store, StoreError};
use common::{TestDb, code, tester};
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;

fn grant(role: Role, scope: &str) -> Grant {
    Grant { role, scope: code(scope) }
}

fn new_user(name: &str, grants: Vec<Grant>) -> NewUser {
    NewUser {
        username: name.into(),
        display_name: format!("{name} 显示名"),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt${name}"),
        grants,
    }
}

async fn staffed(db: &TestDb) -> Arc<dyn Store> {
    let store = db.loaded().await;
    let admin = tester();
    store.create_user(&new_user("street.wang", vec![grant(Role::StreetStaff, "610304003")]), &admin).await.unwrap();
    store.create_user(&new_user("grid.li", vec![grant(Role::GridWorker, "610304003001001")]), &admin).await.unwrap();
    store.create_user(&new_user("yi.zhao", vec![grant(Role::CommunityStaff, "610304003002")]), &admin).await.unwrap();
    store.create_user(&new_user("audit.chen", vec![grant(Role::Auditor, "610304")]), &admin).await.unwrap();
    store
}

fn names(users: &[civicgrid_store::UserRecord]) -> Vec<&str> {
    users.iter().map(|u| u.username.as_str()).collect()
}

async fn users_are_created_once_and_listed_by_scope(db: TestDb) {
    let store = staffed(&db).await;
    let li = store.user_by_name("grid.li").await.unwrap().unwrap();
    assert_eq!(li.grants, vec![grant(Role::GridWorker, "610304003001001")]);
    assert_eq!((li.failed_logins, li.locked_until, li.disabled), (0, None, false));
    assert!(li.password_hash.starts_with("$argon2id$"));
    assert!(li.created_at <= Timestamp::now());
    assert_eq!(store.user(li.id).await.unwrap().unwrap().username, "grid.li");
    assert!(store.user_by_name("GRID.LI").await.unwrap().is_none(), "names are matched as stored");
    assert!(store.user(999).await.unwrap().is_none());

    let again = store.create_user(&new_user("grid.li", vec![]), &tester()).await.unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "{again:?}");

    let all = store.users(None, 10, 0).await.unwrap();
    assert_eq!(all.total, 4);
    assert_eq!(names(&all.items), ["audit.chen", "grid.li", "street.wang", "yi.zhao"]);
    let jia = store.users(Some(&code("610304003001")), 10, 0).await.unwrap();
    assert_eq!(names(&jia.items), ["grid.li"], "only grants inside 甲社区");
    let street = store.users(Some(&code("610304003")), 2, 0).await.unwrap();
    assert_eq!((street.total, names(&street.items)), (3, vec!["grid.li", "street.wang"]));
    let page2 = store.users(Some(&code("610304003")), 2, 2).await.unwrap();
    assert_eq!(names(&page2.items), ["yi.zhao"]);
    assert_eq!(store.users(Some(&code("610304001")), 10, 0).await.unwrap().total, 0);
}

async fn grants_are_replaced_and_the_change_is_recorded(db: TestDb) {
    let store = staffed(&db).await;
    let li = store.user_by_name("grid.li").await.unwrap().unwrap();
    let wang = Actor { user_id: Some(1), username: "street.wang".into(), ip: Some("10.0.0.1".into()) };
    let new = vec![grant(Role::GridWorker, "610304003001002"), grant(Role::GridWorker, "610304003001001")];
    store.set_grants(li.id, &new, &wang).await.unwrap();
    let li = store.user(li.id).await.unwrap().unwrap();
    assert_eq!(li.grants, vec![grant(Role::GridWorker, "610304003001001"), grant(Role::GridWorker, "610304003001002")]);
    let q = AuditQuery { action: Some("change_grants".into()), limit: 10, ..Default::default() };
    let e = store.audit_log(&q).await.unwrap().items.remove(0);
    assert_eq!((e.actor.as_str(), e.target.as_str()), ("street.wang", "grid.li"));
    assert_eq!(e.detail["old"][0]["scope"], "610304003001001");
    assert_eq!(e.detail["new"].as_array().unwrap().len(), 2);
    store.set_grants(li.id, &[], &wang).await.unwrap();
    assert!(store.user(li.id).await.unwrap().unwrap().grants.is_empty());
    assert_eq!(store.users(Some(&code("610304003001")), 10, 0).await.unwrap().total, 0);
    assert!(matches!(store.set_grants(999, &[], &wang).await, Err(StoreError::NotFound(_))));
}

fn session(id: &str, user_id: i64, expires_in: SignedDuration) -> SessionRecord {
    SessionRecord {
        id_hash: id.into(),
        user_id,
        csrf_token: format!("csrf-{id}"),
        expires_at: Timestamp::now().checked_add(expires_in).unwrap(),
    }
}

async fn sessions_expire_and_a_new_password_ends_them(db: TestDb) {
    let store = staffed(&db).await;
    let li = store.user_by_name("grid.li").await.unwrap().unwrap();
    let wang = store.user_by_name("street.wang").await.unwrap().unwrap();
    store.create_session(&session("live", li.id, SignedDuration::from_hours(8))).await.unwrap();
    store.create_session(&session("old", li.id, SignedDuration::from_secs(-1))).await.unwrap();
    store.create_session(&session("wang", wang.id, SignedDuration::from_hours(8))).await.unwrap();
    let live = store.session("live").await.unwrap().unwrap();
    assert_eq!((live.user_id, live.csrf_token.as_str()), (li.id, "csrf-live"));
    assert!(store.session("old").await.unwrap().is_none(), "an expired session is no session");
    assert!(store.session("nobody").await.unwrap().is_none());
    store.delete_session("wang").await.unwrap();
    assert!(store.session("wang").await.unwrap().is_none());

    store.create_session(&session("again", li.id, SignedDuration::from_hours(8))).await.unwrap();
    store.set_password(li.id, "$argon2id$new", &tester()).await.unwrap();
    assert!(store.session("live").await.unwrap().is_none());
    assert!(store.session("again").await.unwrap().is_none());
    assert_eq!(store.user(li.id).await.unwrap().unwrap().password_hash, "$argon2id$new");
    let q = AuditQuery { action: Some("change_password".into()), limit: 10, ..Default::default() };
    let e = store.audit_log(&q).await.unwrap().items.remove(0);
    assert_eq!((e.target.as_str(), e.detail["sessions_ended"].as_i64()), ("grid.li", Some(2)));
    assert!(!e.detail.to_string().contains("argon2"), "no hash in the log");

    store.create_session(&session("s3", li.id, SignedDuration::from_hours(8))).await.unwrap();
    store.set_disabled(li.id, true, &tester()).await.unwrap();
    assert!(store.user(li.id).await.unwrap().unwrap().disabled);
    assert!(store.session("s3").await.unwrap().is_none(), "a disabled user is signed out");
    store.set_disabled(li.id, false, &tester()).await.unwrap();
    assert!(!store.user(li.id).await.unwrap().unwrap().disabled);
    let q = AuditQuery { target: Some("grid.li".into()), limit: 10, ..Default::default() };
    let actions: Vec<String> = store.audit_log(&q).await.unwrap().items.into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["enable_user", "disable_user", "change_password", "create_user"]);
}

async fn wrong_passwords_are_counted_and_a_good_one_resets_the_count(db: TestDb) {
    let store = staffed(&db).await;
    let li = store.user_by_name("grid.li").await.unwrap().unwrap();
    let from = Actor { user_id: None, username: "grid.li".into(), ip: Some("192.0.2.9".into()) };
    store.record_sign_in(li.id, false, None, &from).await.unwrap();
    let until = Timestamp::now().checked_add(SignedDuration::from_mins(1)).unwrap();
    store.record_sign_in(li.id, false, Some(until), &from).await.unwrap();
    let locked = store.user(li.id).await.unwrap().unwrap();
    assert_eq!(locked.failed_logins, 2);
    let stored = locked.locked_until.unwrap();
    assert!((stored - until).abs() < SignedDuration::from_millis(1), "{stored} vs {until}");
    store.record_sign_in(li.id, true, None, &from).await.unwrap();
    let ok = store.user(li.id).await.unwrap().unwrap();
    assert_eq!((ok.failed_logins, ok.locked_until), (0, None));

    let q = AuditQuery { actor: Some("grid.li".into()), limit: 10, ..Default::default() };
    let log = store.audit_log(&q).await.unwrap();
    let actions: Vec<&str> = log.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["sign_in", "sign_in_failed", "sign_in_failed"]);
    assert_eq!(log.items[1].detail["failed_logins"], 2);
    assert!(log.items[1].detail["locked_until"].is_string());
    assert_eq!(log.items[2].ip.as_deref(), Some("192.0.2.9"));
    assert!(matches!(store.record_sign_in(999, true, None, &from).await, Err(StoreError::NotFound(_))));
}

async fn tokens_are_created_listed_and_revoked_once(db: TestDb) {
    let store = staffed(&db).await;
    let li = store.user_by_name("grid.li").await.unwrap().unwrap();
    let wang = store.user_by_name("street.wang").await.unwrap().unwrap();
    let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let t = store.create_token(li.id, "巡查App", hash, None, &tester()).await.unwrap();
    let in_a_day = Timestamp::now().checked_add(SignedDuration::from_hours(24)).unwrap();
    let t2 = store.create_token(li.id, "大屏", "other-hash", Some(in_a_day), &tester()).await.unwrap();
    assert_eq!((t.user_id, t.name.as_str(), t.revoked_at, t.last_used_at), (li.id, "巡查App", None, None));
    assert!(t2.expires_at.is_some());
    let dup = store.create_token(wang.id, "x", hash, None, &tester()).await;
    assert!(dup.is_err(), "a token hash is unique");
    assert!(matches!(store.create_token(999, "x", "h3", None, &tester()).await, Err(StoreError::NotFound(_))));

    assert_eq!(store.token_by_hash(hash).await.unwrap().unwrap().id, t.id);
    assert!(store.token_by_hash("unknown").await.unwrap().is_none());
    store.touch_token(t.id).await.unwrap();
    assert!(store.token_by_hash(hash).await.unwrap().unwrap().last_used_at.is_some());
    let listed: Vec<i64> = store.tokens(li.id).await.unwrap().iter().map(|t| t.id).collect();
    assert_eq!(listed, [t.id, t2.id]);
    assert!(store.tokens(wang.id).await.unwrap().is_empty());

    assert!(!store.revoke_token(wang.id, t.id, &tester()).await.unwrap(), "not wang's token");
    assert!(store.revoke_token(li.id, t.id, &tester()).await.unwrap());
    assert!(!store.revoke_token(li.id, t.id, &tester()).await.unwrap(), "already revoked");
    assert!(!store.revoke_token(li.id, 999, &tester()).await.unwrap());
    let revoked = store.token_by_hash(hash).await.unwrap().unwrap();
    assert!(revoked.revoked_at.is_some(), "a revoked token is still found; the caller refuses it");

    let q = AuditQuery { target: Some("grid.li".into()), limit: 10, ..Default::default() };
    let log = store.audit_log(&q).await.unwrap();
    let actions: Vec<&str> = log.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["revoke_token", "create_token", "create_token", "create_user"]);
    for e in &log.items {
        assert!(!e.detail.to_string().contains(hash), "no token hash in the log");
    }
}

on_each_backend!(
    users_are_created_once_and_listed_by_scope,
    grants_are_replaced_and_the_change_is_recorded,
    sessions_expire_and_a_new_password_ends_them,
    wrong_passwords_are_counted_and_a_good_one_resets_the_count,
    tokens_are_created_listed_and_revoked_once,
);
