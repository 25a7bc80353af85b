//! Dumps, as `civicgrid backup`, `restore` and `export` use them: a database
//! written out in one snapshot and loaded into another, empty one, where it
//! reads as it did, its audit chain goes on, and new rows get new ids. A
//! damaged dump or a database with rows loads nothing.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod common;

use civicgrid_domain::{FacilityCategory, Grant, Role};
use civicgrid_store::{
    AuditQuery, CallUpdate, CaseEventRecord, CaseSummary, ChainCheck, DumpSummary, KeyRing, NewCall, NewCase,
    NewFacility, NewOffer, NewResponder, NewUser, PositionFix, Store, StoreError,
};
use common::{TestDb, code, tester};
use jiff::Timestamp;
use serde_json::{Value, json};
use std::sync::Arc;

fn event(seq: i64, kind: &str) -> CaseEventRecord {
    CaseEventRecord {
        seq,
        at: "2026-03-02T01:00:00Z".parse::<Timestamp>().unwrap(),
        actor_id: None,
        actor: "李网格".into(),
        role: "grid_worker".into(),
        unit: "610304003001001".into(),
        kind: kind.into(),
        data: json!({ "kind": kind, "at": 34.123_456_789_012_34 }),
        note: "“引号” and \\ and \n".into(),
        photos: vec![],
        lat: Some(34.005),
        lon: None,
    }
}

fn summary(state: &str, merged_into: Option<i64>) -> CaseSummary {
    CaseSummary {
        state: state.into(),
        category: None,
        handler_unit: None,
        step_deadline: None,
        escalate_at: None,
        escalation: None,
        supervision: merged_into.is_some(),
        duplicate_of: None,
        merged_into,
        closed_at: None,
    }
}

fn new_case(title: &str) -> NewCase {
    NewCase {
        source: "resident_report".into(),
        category: "0101".into(),
        title: title.into(),
        description: "井盖缺失".into(),
        lat: 34.005,
        lon: 107.005,
        grid: code("610304003001001"),
        reporter_id: Some(1),
    }
}

fn facility(name: &str) -> NewFacility {
    NewFacility {
        category: FacilityCategory::Pharmacy,
        name: name.into(),
        address: String::new(),
        grid: code("610304003001001"),
        lat: 34.001,
        lon: 107.001,
    }
}

fn user(name: &str) -> NewUser {
    NewUser {
        username: name.into(),
        display_name: name.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        grants: vec![Grant { role: Role::Admin, scope: code("610304") }],
    }
}

async fn file(store: &dyn Store, title: &str, key: Option<&str>) -> i64 {
    let (case, first, state) = (new_case(title), event(1, "report"), summary("reported", None));
    store.file_case(&case, &first, &state, key, &tester()).await.unwrap().item.id
}

/// The small district and a little of every other kind of row: a user and
/// a token, a facility registered here, a setting, and a case merged into a
/// later one (a reference to a row that comes after it).
async fn busy(db: &TestDb) -> Arc<dyn Store> {
    let store = db.loaded().await;
    let u = store.create_user(&user("chief"), &tester()).await.unwrap();
    store.create_token(u.id, "cli", "ab12", None, &tester()).await.unwrap();
    store.add_facility(&facility("药房"), Some("key-1"), &tester()).await.unwrap();
    store.set_setting("demo_seed", "7", &tester()).await.unwrap();
    let first = file(store.as_ref(), "甲", None).await;
    let second = file(store.as_ref(), "乙", Some("c-1")).await;
    let merged = summary("merged", Some(second));
    store.append_case_event(first, &event(2, "merge"), &merged, None, &tester()).await.unwrap();
    // A responder with a position, and a call offered to them.
    let r = NewResponder {
        id: 2,
        team: "street_rider".into(),
        skills: vec!["first_aid".into()],
        grid: code("610304003002001"),
        on_duty: false,
    };
    store.add_responders(&[r], &tester()).await.unwrap();
    let at = event(1, "report").at;
    store.record_positions(&[PositionFix { responder_id: 2, lat: 34.015, lon: 107.005, at }]).await.unwrap();
    let call = NewCall {
        kind: "fall".into(),
        device: Some("btn-1".into()),
        located_by: "device".into(),
        address: Some("甲小区 1号楼 1单元 101".into()),
        give_up_at: at,
        offers: vec![],
    };
    let events = [(event(1, "report"), "reported".to_owned())];
    let (case, state, by) = (new_case("呼叫"), summary("reported", None), tester());
    let call = store.open_call(&call, &case, &events, &state, Some("call-1"), &by).await.unwrap().item;
    let offer = NewOffer { responder_id: 2, distance_m: 100, walk_s: 80, expires_at: at };
    let round = CallUpdate { call_id: call.id, round: Some((0, 1)), offers: vec![offer], ..CallUpdate::default() };
    store.update_call(&round, &tester()).await.unwrap();
    // A wall button in a household.
    let button = civicgrid_store::NewCallDevice {
        code: "btn-1".into(),
        kind: "wall_button".into(),
        user_id: Some(u.id),
        household_id: Some(1),
        address: "甲小区 1号楼 1单元 101".into(),
        lat: 34.005,
        lon: 107.008,
        grid: code("610304003001001"),
    };
    store.register_call_device(&button, false, &tester()).await.unwrap();
    store
}

async fn dump_of(store: &dyn Store) -> (DumpSummary, String) {
    let mut out = Vec::new();
    let summary = store.dump(&mut out).await.unwrap();
    (summary, String::from_utf8(out).unwrap())
}

fn rows_of(s: &DumpSummary, table: &str) -> u64 {
    s.tables.iter().find(|(t, _)| t == table).map(|(_, n)| *n).unwrap()
}

/// A dump's lines without its header, its counts and the entry of a restore.
fn body(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with("{\"format\"") && !l.starts_with("{\"end\"") && !l.contains("\"system:restore\""))
        .collect()
}

async fn a_dump_loads_into_an_empty_database_as_it_was(db: TestDb) {
    let source = busy(&db).await;
    let (made, text) = dump_of(source.as_ref()).await;
    assert_eq!(made.tables.len(), 31);
    assert_eq!((rows_of(&made, "responders"), rows_of(&made, "calls"), rows_of(&made, "call_offers")), (1, 1, 1));
    assert_eq!(rows_of(&made, "call_devices"), 1);
    assert_eq!((rows_of(&made, "facilities"), rows_of(&made, "cases"), rows_of(&made, "users")), (3, 3, 1));
    assert!(text.starts_with("{\"format\":\"civicgrid-dump-1\""), "{}", &text[..80]);

    let copy = db.sibling().await;
    let target = copy.open_with(KeyRing::load(&db.key_file()).unwrap()).await;
    let loaded = target.load_dump(&mut text.as_bytes(), &civicgrid_store::Actor::system("restore")).await.unwrap();
    assert_eq!(loaded, made);
    let entries = rows_of(&made, "audit_log") as i64;
    assert_eq!(target.verify_audit().await.unwrap(), ChainCheck::Intact { entries: entries + 1 });
    let last = target.audit_log(&AuditQuery { limit: 1, ..Default::default() }).await.unwrap().items.remove(0);
    assert_eq!((last.action.as_str(), last.detail["rows"].as_u64()), ("restore", Some(made.rows())));

    // Dumped again, it is the same row for row but for the restore's entry.
    let (again, text_again) = dump_of(target.as_ref()).await;
    assert_eq!(rows_of(&again, "audit_log"), rows_of(&made, "audit_log") + 1);
    assert_eq!(body(&text_again), body(&text));

    // The key file of the source opens the personal data of the copy.
    let a = source.resident_in_full(1, "核对备份", &tester()).await.unwrap().unwrap();
    let b = target.resident_in_full(1, "核对备份", &tester()).await.unwrap().unwrap();
    assert_eq!((a.id_number, a.phone), (b.id_number, b.phone));
    let case = target.case(1).await.unwrap().unwrap();
    assert_eq!(case.summary.merged_into, Some(2));
    assert_eq!(target.case_events(1).await.unwrap()[1].note, "“引号” and \\ and \n");

    // New rows get new ids and codes; idempotency keys still hold.
    let added = target.add_facility(&facility("新药房"), None, &tester()).await.unwrap();
    assert_eq!(added.item.code, "FAC00000004");
    let retried = target.add_facility(&facility("药房"), Some("key-1"), &tester()).await.unwrap();
    assert_eq!((retried.created, retried.item.code.as_str()), (false, "FAC00000003"));
    assert_eq!(target.create_user(&user("deputy"), &tester()).await.unwrap().id, 2);
    assert_eq!(file(target.as_ref(), "丙", None).await, 4);
    let token = target.create_token(1, "second", "cd34", None, &tester()).await.unwrap();
    assert_eq!(token.id, 2);
    assert!(matches!(target.verify_audit().await.unwrap(), ChainCheck::Intact { .. }));
}

async fn a_dump_loads_into_an_empty_database_only(db: TestDb) {
    let store = db.loaded().await;
    let (made, text) = dump_of(store.as_ref()).await;
    let refused = store.load_dump(&mut text.as_bytes(), &tester()).await;
    assert!(matches!(&refused, Err(StoreError::Conflict(m)) if m.contains("not empty")), "{refused:?}");
    let entries = rows_of(&made, "audit_log") as i64;
    assert_eq!(store.verify_audit().await.unwrap(), ChainCheck::Intact { entries });
}

async fn a_damaged_dump_loads_nothing(db: TestDb) {
    let source = busy(&db).await;
    let (made, text) = dump_of(source.as_ref()).await;
    let lines: Vec<&str> = text.lines().collect();
    let edit = |at: usize, line: String| {
        let mut l: Vec<String> = lines.iter().map(|s| (*s).to_owned()).collect();
        l[at] = line;
        l.join("\n") + "\n"
    };
    let first_resident = lines.iter().position(|l| l.starts_with("{\"table\":\"residents\"")).unwrap() + 1;
    let mut row: Vec<Value> = serde_json::from_str(lines[first_resident]).unwrap();
    row[0] = json!("one");
    let bad_value = edit(first_resident, serde_json::to_string(&row).unwrap());
    let newer = text.replacen(
        &format!("\"schema_version\":{}", made.schema_version),
        &format!("\"schema_version\":{}", made.schema_version + 1),
        1,
    );
    let end = lines.len() - 1;
    let miscounted = edit(end, lines[end].replacen("\"users\":1", "\"users\":2", 1));
    let damaged = [
        (String::new(), "the dump is empty"),
        ("{\"hello\":1}\n".to_owned(), "not a CivicGrid dump"),
        ("not json\n".to_owned(), "not a CivicGrid dump: line 1 of the dump: not JSON"),
        (newer, "newer than this CivicGrid's"),
        (lines[..end].join("\n") + "\n", "incomplete"),
        (bad_value, &format!("line {} of the dump: residents.id expects an integer", first_resident + 1)),
        (miscounted, "table users: the dump's last line counts 2 rows, the dump holds 1"),
        (text.clone() + "[1]\n", "after the end of the dump"),
        (
            edit(first_resident, lines[first_resident].replacen("\"张三\"", "null", 1)),
            "the rows of residents up to here do not fit",
        ),
        (text.replacen("\"columns\":[\"id\",", "\"columns\":[\"ident\",", 1), "column org_units.ident is not in"),
    ];
    let copy = db.sibling().await;
    let target = copy.open().await;
    for (dump, why) in damaged {
        let e = target.load_dump(&mut dump.as_bytes(), &tester()).await.unwrap_err().to_string();
        assert!(e.contains(why), "{why:?} not in {e:?}");
    }
    assert!(target.is_empty().await.unwrap());
    assert_eq!(target.verify_audit().await.unwrap(), ChainCheck::Intact { entries: 0 });
    // The whole dump still loads after all that.
    target.load_dump(&mut text.as_bytes(), &tester()).await.unwrap();
}

async fn migrations_are_applied_once(db: TestDb) {
    if !db.is_postgres() {
        let missing = civicgrid_store::migrate(db.url(), false).await;
        assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
    }
    let first = civicgrid_store::migrate(db.url(), true).await.unwrap();
    assert!(first.applied.is_empty());
    assert_eq!(first.pending[0].description, "org model");
    let version = first.pending.last().unwrap().version;
    assert_eq!(first.version, version);
    let again = civicgrid_store::migrate(db.url(), true).await.unwrap();
    assert_eq!((again.applied, again.pending.len(), again.version), (first.pending.clone(), 0, version));
    let status = civicgrid_store::migrate(db.url(), false).await.unwrap();
    assert_eq!((status.applied.len(), status.pending.len(), status.version), (first.pending.len(), 0, version));
    assert!(db.open().await.is_empty().await.unwrap());
}

on_each_backend!(
    a_dump_loads_into_an_empty_database_as_it_was,
    a_dump_loads_into_an_empty_database_only,
    a_damaged_dump_loads_nothing,
    migrations_are_applied_once,
);
