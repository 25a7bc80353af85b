//! Residents' personal data: encrypted at rest, found by exact number through
//! the blind index, masked in lists, shown in full only with an audited reason,
//! and moved to a new key after rotation.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod common;

use civicgrid_domain::*;
use civicgrid_store::{Actor, AuditQuery, KeyRing, ListQuery, ResidentSearch, Store, StoreError};
use common::{TestDb, code, small_district, tester};
use jiff::civil::date;
use std::sync::Arc;

fn zhang_id() -> IdNumber {
    IdNumber::compose("610399", date(1940, 5, 1), 11).unwrap()
}

/// The small district with three more residents in household 2.
fn busier_district() -> DistrictBundle {
    let mut b = small_district();
    for i in 0..3i64 {
        b.residents.push(Resident {
            id: 10 + i,
            household_id: 2,
            name: format!("李{i}"),
            gender: Gender::Female,
            birth: date(1980 + i as i16, 1, 2),
            id_number: IdNumber::compose("610399", date(1980 + i as i16, 1, 2), 20 + i as u16).unwrap(),
            phone: (i != 1).then(|| PhoneNumber::parse(&format!("1009999000{i}")).unwrap()),
            head_of_household: i == 0,
            care: vec![],
        });
    }
    b
}

async fn no_identity_or_phone_number_is_written_in_plain_text(db: TestDb) {
    let store = db.open().await;
    store.import_district(&busier_district(), &|_, _| {}, &tester()).await.unwrap();
    let bundle = busier_district();
    let mut secrets: Vec<String> = bundle.residents.iter().map(|r| r.id_number.as_str().to_owned()).collect();
    secrets.extend(bundle.residents.iter().filter_map(|r| r.phone.as_ref()).map(|p| p.as_str().to_owned()));
    secrets.extend(bundle.people.iter().filter_map(|p| p.phone.as_ref()).map(|p| p.as_str().to_owned()));
    assert_eq!(secrets.len(), 4 + 3 + 1);
    // The store is still open (on SQLite, recent pages are in the write-ahead
    // log). The scan does see the data: a resident's name is stored as it is.
    assert!(db.holds_in_plain("张三").await);
    for s in &secrets {
        assert!(!db.holds_in_plain(s).await, "{s} is in the database in plain text");
    }
    // After closing (on SQLite, the checkpointed file), too.
    drop(store);
    for s in &secrets {
        assert!(!db.holds_in_plain(s).await, "{s} is in the database in plain text after closing");
    }
    // …and yet the store reads them.
    let store = db.open().await;
    let r = store.resident(1).await.unwrap().unwrap();
    assert_eq!(r.id_number, zhang_id().masked());
}

async fn residents_are_listed_masked_and_paged_within_a_unit(db: TestDb) {
    let store = db.open().await;
    store.import_district(&busier_district(), &|_, _| {}, &tester()).await.unwrap();
    let grid = code("610304003001001");
    let first = store.residents(&ListQuery { within: Some(grid.clone()), limit: 3, offset: 0 }, None).await.unwrap();
    assert_eq!((first.total, first.items.len()), (4, 3));
    let zhang = &first.items[0];
    assert_eq!((zhang.id, zhang.name.as_str(), zhang.birth_year), (1, "张三", 1940));
    assert_eq!(zhang.id_number, zhang_id().masked());
    assert_eq!(zhang.id_number, format!("610399********{}", &zhang_id().as_str()[14..]));
    assert_eq!(zhang.phone.as_deref(), Some("100****5678"));
    assert_eq!((zhang.compound.as_str(), zhang.building, zhang.entrance, zhang.room), ("渭河花园", 1, 1, 101));
    assert_eq!(zhang.care, vec![CareGroup::ElderlyAlone]);
    assert_eq!(zhang.grid, grid.as_str());
    assert!(zhang.head_of_household);
    let rest = store.residents(&ListQuery { within: Some(grid), limit: 3, offset: 3 }, None).await.unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!((rest.items[0].id, rest.items[0].room, rest.items[0].phone.as_deref()), (12, 102, Some("100****0002")));
    let li1 = store.resident(11).await.unwrap().unwrap();
    assert_eq!(li1.phone, None);
    assert!(li1.care.is_empty());
    assert!(store.resident(99).await.unwrap().is_none());
    let elsewhere = store.residents(&ListQuery::within(&code("610304003002")), None).await.unwrap();
    assert_eq!(elsewhere.total, 0);
    assert_eq!(store.residents(&ListQuery::within(&code("610304")), None).await.unwrap().total, 4);
}

async fn a_resident_is_found_by_exact_phone_or_id_number_only(db: TestDb) {
    let store = db.loaded().await;
    let all = ListQuery { within: None, limit: 10, offset: 0 };
    let by_phone = ResidentSearch::Phone(PhoneNumber::parse("100 1234 5678").unwrap());
    let found = store.residents(&all, Some(&by_phone)).await.unwrap();
    assert_eq!((found.total, found.items[0].name.as_str()), (1, "张三"));
    let by_id = ResidentSearch::IdNumber(zhang_id());
    assert_eq!(store.residents(&all, Some(&by_id)).await.unwrap().items[0].id, 1);

    let other_id = ResidentSearch::IdNumber(IdNumber::compose("610399", date(1940, 5, 1), 13).unwrap());
    assert_eq!(store.residents(&all, Some(&other_id)).await.unwrap().total, 0);
    let other_phone = ResidentSearch::Phone(PhoneNumber::parse("10012345679").unwrap());
    assert_eq!(store.residents(&all, Some(&other_phone)).await.unwrap().total, 0);
    // A person's phone is not a resident's.
    let worker_phone = ResidentSearch::Phone(PhoneNumber::parse("10000000001").unwrap());
    assert_eq!(store.residents(&all, Some(&worker_phone)).await.unwrap().total, 0);
    // The search stays within the unit asked for.
    let in_yi = ListQuery::within(&code("610304003002"));
    assert_eq!(store.residents(&in_yi, Some(&by_phone)).await.unwrap().total, 0);
}

async fn seeing_numbers_in_full_needs_a_reason_and_is_audited(db: TestDb) {
    let store = db.loaded().await;
    let worker = Actor { user_id: Some(7), username: "li.wangge".into(), ip: Some("10.0.0.7".into()) };
    for reason in ["", "   "] {
        let e = store.resident_in_full(1, reason, &worker).await.unwrap_err();
        assert!(matches!(e, StoreError::Invalid(_)), "{e:?}");
    }
    let q = AuditQuery { action: Some("view_personal_data".into()), limit: 10, ..Default::default() };
    assert_eq!(store.audit_log(&q).await.unwrap().total, 0, "a refused view leaves nothing to record");

    let full = store.resident_in_full(1, "上门核实独居老人情况", &worker).await.unwrap().unwrap();
    assert_eq!((full.id, full.name.as_str()), (1, "张三"));
    assert_eq!(full.id_number, zhang_id().as_str());
    assert_eq!(full.phone.as_deref(), Some("10012345678"));
    let log = store.audit_log(&q).await.unwrap();
    assert_eq!(log.total, 1);
    let e = &log.items[0];
    assert_eq!((e.actor.as_str(), e.actor_id, e.ip.as_deref()), ("li.wangge", Some(7), Some("10.0.0.7")));
    assert_eq!((e.target.as_str(), e.reason.as_deref()), ("resident:1", Some("上门核实独居老人情况")));
    assert!(!e.detail.to_string().contains("10012345678"), "the log holds no numbers");
    assert!(store.resident_in_full(99, "核实", &worker).await.unwrap().is_none());
}

async fn key_ids(db: &TestDb) -> Vec<u32> {
    let blobs = db
        .blobs(
            "SELECT id_number_enc AS b FROM residents UNION ALL SELECT phone_enc FROM residents WHERE phone_enc IS NOT NULL \
             UNION ALL SELECT phone_enc FROM people WHERE phone_enc IS NOT NULL",
        )
        .await;
    let mut ids: Vec<u32> = blobs.iter().map(|b| KeyRing::key_id_of(b).unwrap()).collect();
    ids.sort();
    ids.dedup();
    ids
}

async fn after_a_key_rotation_old_rows_read_and_reencryption_moves_them(db: TestDb) {
    let keys = db.key_file();
    let store = db.loaded().await;
    let before = store.resident(1).await.unwrap().unwrap();
    drop(store);
    assert_eq!(key_ids(&db).await, [1]);

    assert_eq!(KeyRing::rotate_file(&keys).unwrap(), 2);
    let ring = KeyRing::load_or_create(&keys).unwrap();
    assert_eq!((ring.current_key_id(), ring.key_ids()), (2, vec![1, 2]));
    let store: Arc<dyn Store> = db.open_with(ring).await;
    assert_eq!(store.resident(1).await.unwrap().unwrap().id_number, before.id_number, "key 1 rows still read");

    let moved = store.reencrypt_personal_data(&tester()).await.unwrap();
    assert_eq!(moved, 2, "one resident (ID and phone) and one person's phone");
    assert_eq!(key_ids(&db).await, [2]);
    assert_eq!(store.reencrypt_personal_data(&tester()).await.unwrap(), 0, "nothing left under key 1");
    let full = store.resident_in_full(1, "核实", &tester()).await.unwrap().unwrap();
    assert_eq!(full.id_number, zhang_id().as_str());
    let by_phone = ResidentSearch::Phone(PhoneNumber::parse("10012345678").unwrap());
    let all = ListQuery { within: None, limit: 10, offset: 0 };
    assert_eq!(store.residents(&all, Some(&by_phone)).await.unwrap().total, 1, "the blind index survives");
    let people = store.people(&ListQuery::within(&code("610304003001001")), None).await.unwrap();
    assert_eq!(people.items[0].phone.as_deref(), Some("100****0001"));
    let q = AuditQuery { action: Some("reencrypt_personal_data".into()), limit: 10, ..Default::default() };
    let log = store.audit_log(&q).await.unwrap();
    assert_eq!(log.total, 2);
    assert_eq!(log.items[1].detail["residents"], 1);
    assert_eq!(log.items[1].detail["key_id"], 2);

    // A ring without key 2 cannot read what was moved, and says why.
    drop(store);
    let stale: Arc<dyn Store> = db.open_with(KeyRing::ephemeral()).await;
    let e = stale.resident(1).await.unwrap_err();
    assert!(matches!(e, StoreError::Crypto(_)), "{e:?}");
}

on_each_backend!(
    no_identity_or_phone_number_is_written_in_plain_text,
    residents_are_listed_masked_and_paged_within_a_unit,
    a_resident_is_found_by_exact_phone_or_id_number_only,
    seeing_numbers_in_full_needs_a_reason_and_is_audited,
    after_a_key_rotation_old_rows_read_and_reencryption_moves_them,
);
