//! Registered call devices in the store, on each backend: a community
//! registers wall buttons in its households, registers one again without
//! harm, cannot move one to another home by accident, lists them by unit a
//! page at a time, retires one; a resident's registered address is theirs
//! alone, and a new one takes the old one's place.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod common;

use civicgrid_domain::{Grant, Role};
use civicgrid_store::{ListQuery, NewCallDevice, NewUser, Store, StoreError};
use common::{TestDb, code, tester};

fn button(n: u32, household: i64) -> NewCallDevice {
    NewCallDevice {
        code: format!("BTN-610304003001-{n:04}"),
        kind: "wall_button".into(),
        user_id: None,
        household_id: Some(household),
        address: format!("渭河花园 1号楼 1单元 10{household}"),
        lat: 34.005,
        lon: 107.008,
        grid: code("610304003001001"),
    }
}

fn speaker(code_: &str, grid: &str, lat: f64, lon: f64) -> NewCallDevice {
    NewCallDevice {
        code: code_.into(),
        kind: "speaker".into(),
        user_id: None,
        household_id: None,
        address: "乙社区活动室".into(),
        lat,
        lon,
        grid: code(grid),
    }
}

async fn resident(store: &dyn Store, name: &str) -> i64 {
    let new = NewUser {
        username: name.into(),
        display_name: name.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        grants: vec![Grant { role: Role::Resident, scope: code("610304003001") }],
    };
    store.create_user(&new, &tester()).await.unwrap().id
}

async fn a_device_is_registered_once_and_moved_only_deliberately(db: TestDb) {
    let store = db.loaded().await;
    let first = store.register_call_device(&button(1, 1), false, &tester()).await.unwrap();
    assert!(first.created);
    let d = first.item;
    assert_eq!((d.kind.as_str(), d.household_id, d.grid.as_str()), ("wall_button", Some(1), "610304003001001"));
    assert_eq!((d.community.as_str(), d.street.as_str(), d.district.as_str()), ("610304003001", "610304003", "610304"));
    assert_eq!(d.retired_at, None);

    // The same registration again: nothing new, the label may be corrected.
    let mut again = button(1, 1);
    again.address = "渭河花园 1号楼 1单元 101（东户）".into();
    let second = store.register_call_device(&again, false, &tester()).await.unwrap();
    assert!(!second.created);
    assert_eq!(second.item.address, "渭河花园 1号楼 1单元 101（东户）");

    // The code in another household is refused, unless replaced deliberately.
    let refused = store.register_call_device(&button(1, 2), false, &tester()).await;
    assert!(matches!(&refused, Err(StoreError::Conflict(m)) if m.contains("BTN-610304003001-0001")), "{refused:?}");
    assert_eq!(store.call_device("BTN-610304003001-0001").await.unwrap().unwrap().household_id, Some(1));
    let moved = store.register_call_device(&button(1, 2), true, &tester()).await.unwrap();
    assert_eq!((moved.created, moved.item.household_id), (false, Some(2)));

    // A device without a household stays in its grid; another grid is a move.
    let s = speaker("SPK-1", "610304003002001", 34.015, 107.005);
    store.register_call_device(&s, false, &tester()).await.unwrap();
    let nudged = speaker("SPK-1", "610304003002001", 34.0151, 107.0051);
    assert!(!store.register_call_device(&nudged, false, &tester()).await.unwrap().created);
    let away = speaker("SPK-1", "610304003002002", 34.015, 107.015);
    assert!(matches!(store.register_call_device(&away, false, &tester()).await, Err(StoreError::Conflict(_))));

    // Retired, the code is free again.
    assert!(store.retire_call_device("BTN-610304003001-0001", &tester()).await.unwrap());
    assert!(!store.retire_call_device("BTN-610304003001-0001", &tester()).await.unwrap(), "retired once");
    assert!(store.call_device("BTN-610304003001-0001").await.unwrap().unwrap().retired_at.is_some());
    let back = store.register_call_device(&button(1, 1), false, &tester()).await.unwrap();
    assert!(back.created && back.item.retired_at.is_none());
    assert_eq!(store.call_device("NO-SUCH").await.unwrap(), None);
}

async fn devices_are_listed_by_unit_a_page_at_a_time(db: TestDb) {
    let store = db.loaded().await;
    let many: Vec<NewCallDevice> = (1..=5).map(|n| button(n, 1 + i64::from(n % 2))).collect();
    assert_eq!(store.register_call_devices(&many, &tester()).await.unwrap(), 5);
    store.register_call_device(&speaker("SPK-1", "610304003002001", 34.015, 107.005), false, &tester()).await.unwrap();
    store.retire_call_device("BTN-610304003001-0005", &tester()).await.unwrap();

    let page = |unit: &str, limit, offset| ListQuery { within: Some(code(unit)), limit, offset };
    let first = store.call_devices(&page("610304003001", 3, 0)).await.unwrap();
    assert_eq!(first.total, 4, "the retired button is not listed");
    let codes: Vec<&str> = first.items.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["BTN-610304003001-0001", "BTN-610304003001-0002", "BTN-610304003001-0003"]);
    let rest = store.call_devices(&page("610304003001", 3, 3)).await.unwrap();
    assert_eq!(rest.items.iter().map(|d| d.code.as_str()).collect::<Vec<_>>(), ["BTN-610304003001-0004"]);
    assert_eq!(store.call_devices(&page("610304003002001", 10, 0)).await.unwrap().total, 1);
    assert_eq!(store.call_devices(&page("610304003001002", 10, 0)).await.unwrap().total, 0);
    assert_eq!(store.call_devices(&page("610304", 10, 0)).await.unwrap().total, 5);
}

async fn a_resident_has_one_registered_home(db: TestDb) {
    let store = db.loaded().await;
    let (me, neighbour) = (resident(store.as_ref(), "r-me").await, resident(store.as_ref(), "r-next").await);
    assert!(store.call_devices_of_user(me).await.unwrap().is_empty());
    let home = |code_: &str, user, household| NewCallDevice {
        code: code_.into(),
        kind: "home".into(),
        user_id: Some(user),
        ..button(9, household)
    };
    store.register_call_device(&home("HOME-A", me, 1), false, &tester()).await.unwrap();
    store.register_call_device(&button(1, 1), false, &tester()).await.unwrap();
    let mut mine = button(2, 1);
    mine.user_id = Some(me);
    store.register_call_device(&mine, false, &tester()).await.unwrap();
    let own = store.call_devices_of_user(me).await.unwrap();
    assert_eq!(own.iter().map(|d| d.code.as_str()).collect::<Vec<_>>(), ["HOME-A", "BTN-610304003001-0002"]);

    // Someone else cannot take the code over by accident.
    let taken = store.register_call_device(&home("HOME-A", neighbour, 1), false, &tester()).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");

    // A new home retires the old one.
    store.register_call_device(&home("HOME-B", me, 2), false, &tester()).await.unwrap();
    let own = store.call_devices_of_user(me).await.unwrap();
    assert_eq!(own[0].code, "HOME-B");
    assert_eq!(own.iter().filter(|d| d.kind == "home").count(), 1);
    assert!(store.call_device("HOME-A").await.unwrap().unwrap().retired_at.is_some());
    assert!(store.call_devices_of_user(neighbour).await.unwrap().is_empty());

    // The household's place, for a registration by household.
    let place = store.household_place(2).await.unwrap().unwrap();
    assert_eq!((place.label().as_str(), place.grid.as_str()), ("渭河花园 1号楼 1单元 102", "610304003001001"));
    assert_eq!((place.lat, place.lon), (34.005, 107.008));
    assert_eq!(store.household_place(99).await.unwrap(), None);
}

on_each_backend!(
    a_device_is_registered_once_and_moved_only_deliberately,
    devices_are_listed_by_unit_a_page_at_a_time,
    a_resident_has_one_registered_home,
);
