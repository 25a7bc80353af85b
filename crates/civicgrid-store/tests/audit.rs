//! The audit log: every write leaves an entry, the chain of hashes holds, the
//! database refuses to change or delete an entry, and whoever goes around that
//! is found at the exact entry they touched.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod common;

use civicgrid_domain::{FacilityCategory, Grant, Role};
use civicgrid_store::{Actor, AuditQuery, ChainCheck, NewAudit, NewFacility, NewUser, Store};
use common::{TestDb, code, rect, tester};
use jiff::Timestamp;
use jiff::civil::date;
use std::sync::Arc;

fn all() -> AuditQuery {
    AuditQuery { limit: 1000, ..Default::default() }
}

/// A store on which every kind of audited write has been done once; returns
/// the actions in the order they were done.
async fn busy(db: &TestDb) -> (Arc<dyn Store>, Vec<&'static str>) {
    let store = db.loaded().await;
    let by = tester();
    let new = NewFacility {
        category: FacilityCategory::Pharmacy,
        name: "便民药房".into(),
        address: "渭河路2号".into(),
        grid: code("610304003002001"),
        lat: 34.015,
        lon: 107.005,
    };
    store.add_facility(&new, Some("k"), &by).await.unwrap();
    store.add_facility(&new, Some("k"), &by).await.unwrap(); // a retry writes nothing
    let g2 = code("610304003001002");
    store.redraw_unit(&g2, &rect(107.012, 34.0, 107.02, 34.01), date(2026, 3, 1), &by).await.unwrap();
    store.set_setting("demo_seed", "7", &by).await.unwrap();
    let user = NewUser {
        username: "grid.li".into(),
        display_name: "李网格".into(),
        password_hash: "$argon2id$x".into(),
        grants: vec![Grant { role: Role::GridWorker, scope: g2.clone() }],
    };
    let li = store.create_user(&user, &by).await.unwrap();
    store.set_grants(li.id, &[Grant { role: Role::Leader, scope: g2 }], &by).await.unwrap();
    store.set_password(li.id, "$argon2id$y", &by).await.unwrap();
    store.set_disabled(li.id, true, &by).await.unwrap();
    store.record_sign_in(li.id, false, None, &by).await.unwrap();
    store.record_sign_in(li.id, true, None, &by).await.unwrap();
    let t = store.create_token(li.id, "app", "h", None, &by).await.unwrap();
    store.revoke_token(li.id, t.id, &by).await.unwrap();
    store.reencrypt_personal_data(&by).await.unwrap();
    store.resident_in_full(1, "核实", &by).await.unwrap();
    let note = NewAudit {
        actor: Actor { user_id: Some(li.id), username: "grid.li".into(), ip: Some("10.1.1.1".into()) },
        action: "sign_out".into(),
        target: "grid.li".into(),
        detail: serde_json::json!({"z": 1, "a": [true, null, "引号\"和\\斜杠"], "m": {"y": 2.5, "b": -3}}),
        reason: None,
    };
    let e = store.append_audit(&note).await.unwrap();
    assert_eq!(e.detail, note.detail);
    let actions = vec![
        "import_district",
        "add_facility",
        "redraw_unit",
        "set_setting",
        "create_user",
        "change_grants",
        "change_password",
        "disable_user",
        "sign_in_failed",
        "sign_in",
        "create_token",
        "revoke_token",
        "reencrypt_personal_data",
        "view_personal_data",
        "sign_out",
    ];
    (store, actions)
}

async fn every_write_leaves_one_entry_and_the_chain_holds(db: TestDb) {
    let (store, actions) = busy(&db).await;
    let log = store.audit_log(&all()).await.unwrap();
    let mut seen: Vec<&str> = log.items.iter().map(|e| e.action.as_str()).collect();
    seen.reverse();
    assert_eq!(seen, actions);
    assert_eq!(log.total, actions.len() as i64);
    let oldest = log.items.last().unwrap();
    assert_eq!((oldest.seq, oldest.prev_hash.as_str()), (1, "0".repeat(64).as_str()));
    assert_eq!(oldest.target, "610304");
    assert_eq!(oldest.detail["residents"], 1);
    for pair in log.items.windows(2) {
        assert_eq!(pair[0].prev_hash, pair[1].hash, "entry {} links to {}", pair[0].seq, pair[1].seq);
        assert_eq!(pair[0].seq, pair[1].seq + 1);
    }
    assert_eq!(store.verify_audit().await.unwrap(), ChainCheck::Intact { entries: actions.len() as i64 });
    // The chain survives reopening: nothing in it depends on the process.
    drop(store);
    let store = db.open().await;
    assert_eq!(store.verify_audit().await.unwrap(), ChainCheck::Intact { entries: actions.len() as i64 });
}

async fn an_empty_log_is_intact(db: TestDb) {
    let store = db.open().await;
    assert_eq!(store.verify_audit().await.unwrap(), ChainCheck::Intact { entries: 0 });
}

async fn a_failed_write_leaves_no_entry(db: TestDb) {
    let store = db.loaded().await;
    let stale =
        store.redraw_unit(&code("610304003001001"), &rect(0.0, 0.0, 1.0, 1.0), date(2020, 1, 1), &tester()).await;
    assert!(stale.is_err());
    assert_eq!(store.audit_log(&all()).await.unwrap().total, 1, "the import only");
}

async fn the_database_refuses_to_change_or_delete_an_entry(db: TestDb) {
    let (_store, _) = busy(&db).await;
    let e = db.execute("UPDATE audit_log SET target = 'x' WHERE seq = 2").await.unwrap_err();
    assert!(e.contains("the audit log is append-only"), "{e}");
    let e = db.execute("DELETE FROM audit_log WHERE seq = 2").await.unwrap_err();
    assert!(e.contains("the audit log is append-only"), "{e}");
    if db.is_postgres() {
        let e = db.execute("TRUNCATE audit_log").await.unwrap_err();
        assert!(e.contains("the audit log is append-only"), "{e}");
    }
    assert_ne!(db.text("SELECT target FROM audit_log WHERE seq = 2").await, "x");
}

async fn a_changed_entry_is_found_at_its_seq(db: TestDb) {
    let (store, _) = busy(&db).await;
    // Whoever has the database can drop the triggers; the hash chain still tells.
    db.allow_tampering().await;
    db.execute("UPDATE audit_log SET target = 'resident:2' WHERE seq = 14").await.unwrap();
    match store.verify_audit().await.unwrap() {
        ChainCheck::Broken { seq, reason } => {
            assert_eq!(seq, 14);
            assert!(reason.contains("stored hash differs"), "{reason}");
        }
        intact => panic!("tampering went unnoticed: {intact:?}"),
    }
}

async fn a_rehashed_entry_breaks_the_next_link(db: TestDb) {
    let (store, _) = busy(&db).await;
    db.allow_tampering().await;
    // A forger who also replaces the entry's hash leaves the next entry pointing at the old one.
    db.execute("UPDATE audit_log SET hash = (SELECT hash FROM audit_log WHERE seq = 3) WHERE seq = 5").await.unwrap();
    let check = store.verify_audit().await.unwrap();
    assert!(matches!(check, ChainCheck::Broken { seq: 5, .. }), "{check:?}");
    db.execute("UPDATE audit_log SET hash = (SELECT prev_hash FROM audit_log WHERE seq = 6) WHERE seq = 5")
        .await
        .unwrap();
    db.execute("UPDATE audit_log SET detail = '{}' WHERE seq = 5").await.unwrap();
    let check = store.verify_audit().await.unwrap();
    assert!(matches!(check, ChainCheck::Broken { seq: 5, .. }), "{check:?}");
}

async fn a_deleted_entry_is_found(db: TestDb) {
    let (store, _) = busy(&db).await;
    db.allow_tampering().await;
    db.execute("DELETE FROM audit_log WHERE seq = 7").await.unwrap();
    match store.verify_audit().await.unwrap() {
        ChainCheck::Broken { seq, reason } => {
            assert_eq!(seq, 8);
            assert!(reason.contains("entry 7 is missing"), "{reason}");
        }
        intact => panic!("a deletion went unnoticed: {intact:?}"),
    }
    db.execute("DELETE FROM audit_log WHERE seq = 1").await.unwrap();
    let check = store.verify_audit().await.unwrap();
    assert!(matches!(check, ChainCheck::Broken { seq: 2, .. }), "{check:?}");
}

async fn the_log_is_read_filtered_newest_first(db: TestDb) {
    let (store, actions) = busy(&db).await;
    let n = actions.len() as i64;
    let page = store.audit_log(&AuditQuery { limit: 3, offset: 2, ..Default::default() }).await.unwrap();
    assert_eq!(page.total, n);
    assert_eq!(page.items.iter().map(|e| e.seq).collect::<Vec<_>>(), [n - 2, n - 3, n - 4]);

    let q = |f: fn(&mut AuditQuery)| {
        let mut q = all();
        f(&mut q);
        q
    };
    let by_actor = store.audit_log(&q(|q| q.actor = Some("grid.li".into()))).await.unwrap();
    assert_eq!((by_actor.total, by_actor.items[0].action.as_str()), (1, "sign_out"));
    let by_action = store.audit_log(&q(|q| q.action = Some("add_facility".into()))).await.unwrap();
    assert_eq!(by_action.total, 1, "the retry wrote nothing");
    assert_eq!(by_action.items[0].target, "FAC00000003");
    let by_target = store.audit_log(&q(|q| q.target = Some("grid.li".into()))).await.unwrap();
    assert_eq!(by_target.total, 9);
    let both = store
        .audit_log(&AuditQuery { target: Some("grid.li".into()), action: Some("sign_in".into()), ..all() })
        .await
        .unwrap();
    assert_eq!(both.total, 1);

    let entries = store.audit_log(&all()).await.unwrap().items;
    let middle = entries[5].at;
    let since = store.audit_log(&AuditQuery { since: Some(middle), ..all() }).await.unwrap();
    assert!(since.items.iter().all(|e| e.at >= middle));
    assert!(since.total >= 6);
    let until = store.audit_log(&AuditQuery { until: Some(middle), ..all() }).await.unwrap();
    assert!(until.items.iter().all(|e| e.at < middle));
    assert_eq!(since.total + until.total, n);
    let future = Timestamp::now().checked_add(jiff::SignedDuration::from_hours(1)).unwrap();
    assert_eq!(store.audit_log(&AuditQuery { since: Some(future), ..all() }).await.unwrap().total, 0);
}

on_each_backend!(
    every_write_leaves_one_entry_and_the_chain_holds,
    an_empty_log_is_intact,
    a_failed_write_leaves_no_entry,
    the_database_refuses_to_change_or_delete_an_entry,
    a_changed_entry_is_found_at_its_seq,
    a_rehashed_entry_breaks_the_next_link,
    a_deleted_entry_is_found,
    the_log_is_read_filtered_newest_first,
);
