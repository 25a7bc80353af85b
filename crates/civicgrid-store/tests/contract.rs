//! The storage contract: one story of a small district told against the store.
//! Every backend must pass it: each test runs once per backend (`common`).
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod common;

use civicgrid_domain::*;
use civicgrid_store::{KeyRing, ListQuery, NewFacility, StoreError};
use common::{TestDb, code, rect, small_district, tester};
use jiff::civil::date;

async fn a_district_is_counted_at_every_level(db: TestDb) {
    let store = db.loaded().await;
    assert!(!store.is_empty().await.unwrap());
    let all = store.stats(None).await.unwrap();
    assert_eq!((all.streets, all.communities, all.grids), (1, 2, 4));
    assert_eq!((all.compounds, all.buildings, all.households, all.residents), (1, 1, 2, 1));
    assert_eq!((all.elderly_alone, all.facilities, all.service_stations), (1, 2, 1));
    assert_eq!((all.cameras, all.cameras_online), (3, 2));
    assert_eq!((all.grid_party_branches, all.party_groups), (1, 1));
    assert_eq!((all.grid_workers, all.street_riders, all.party_members), (1, 1, 0));

    let jia = store.stats(Some(&code("610304003001"))).await.unwrap();
    assert_eq!((jia.grids, jia.cameras, jia.facilities, jia.grid_workers, jia.street_riders), (2, 3, 1, 1, 0));
    let by_grid = store.stats_by(Some(&code("610304003001")), Level::Grid).await.unwrap();
    let codes: Vec<&str> = by_grid.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(codes, ["610304003001001", "610304003001002"]);
    assert_eq!(by_grid[0].1.households, 2);
    assert_eq!(by_grid[1].1.cameras, 3);
    // The worker of two grids counts once in the community and once in each grid.
    assert_eq!((by_grid[0].1.grid_workers, by_grid[1].1.grid_workers), (1, 1));
    let by_community = store.stats_by(None, Level::Community).await.unwrap();
    assert_eq!(by_community.len(), 2);
    assert_eq!(by_community[1].1.service_stations, 1);
    assert!(matches!(store.stats_by(Some(&code("610304003001001")), Level::Grid).await, Err(StoreError::Invalid(_))));
}

async fn units_are_found_by_code_and_level(db: TestDb) {
    let store = db.loaded().await;
    let jia = store.unit(&code("610304003001")).await.unwrap().unwrap();
    assert_eq!(jia.name, "甲社区");
    assert_eq!(jia.boundary.as_ref().unwrap().len(), 5);
    assert!(store.unit(&code("610304003009")).await.unwrap().is_none());
    let grids = store.units(Level::Grid, Some(&code("610304003002"))).await.unwrap();
    assert_eq!(grids.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["乙1", "乙2"]);
    assert_eq!(store.units(Level::Grid, None).await.unwrap().len(), 4);
}

async fn a_redrawn_grid_keeps_its_history_and_its_places_follow(db: TestDb) {
    let store = db.loaded().await;
    let g1 = code("610304003001001");
    let g2 = code("610304003001002");
    // Grid 1 grows east to 107.012 and grid 2 shrinks: the building at 107.008 stays,
    // the cameras at 107.015 stay in grid 2; then grid 1 takes all of grid 2's land.
    store.redraw_unit(&g2, &rect(107.012, 34.0, 107.02, 34.01), date(2026, 3, 1), &tester()).await.unwrap();
    store.redraw_unit(&g1, &rect(107.0, 34.0, 107.012, 34.01), date(2026, 3, 1), &tester()).await.unwrap();
    let history = store.unit_history(&g1).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].validity.to, Some(date(2026, 3, 1)));
    assert!(history[1].validity.is_current());
    assert_eq!(store.unit(&g1).await.unwrap().unwrap().boundary.unwrap()[1], [107.012, 34.0]);
    assert_eq!(store.stats(Some(&g2)).await.unwrap().cameras, 3);

    store.redraw_unit(&g2, &rect(107.018, 34.0, 107.02, 34.01), date(2026, 4, 1), &tester()).await.unwrap();
    store.redraw_unit(&g1, &rect(107.0, 34.0, 107.018, 34.01), date(2026, 4, 1), &tester()).await.unwrap();
    assert_eq!(store.stats(Some(&g1)).await.unwrap().cameras, 3, "cameras are placed again into grid 1");
    assert_eq!(store.stats(Some(&g2)).await.unwrap().cameras, 0);
    assert_eq!(store.unit_history(&g2).await.unwrap().len(), 3);

    let stale = store.redraw_unit(&g1, &rect(107.0, 34.0, 107.01, 34.01), date(2026, 4, 1), &tester()).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    let street = store.redraw_unit(&code("610304003"), &rect(0.0, 0.0, 1.0, 1.0), date(2027, 1, 1), &tester()).await;
    assert!(matches!(street, Err(StoreError::Invalid(_))));
    let missing =
        store.redraw_unit(&code("610304003001009"), &rect(0.0, 0.0, 1.0, 1.0), date(2027, 1, 1), &tester()).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))));
}

async fn lists_page_and_filter_within_a_unit(db: TestDb) {
    let store = db.loaded().await;
    let district = ListQuery { within: None, limit: 2, offset: 0 };
    let cams = store.cameras(&district, None).await.unwrap();
    assert_eq!((cams.total, cams.items.len()), (3, 2));
    let rest = store.cameras(&ListQuery { offset: 2, ..district.clone() }, None).await.unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].code, "CAM2");
    let faulty = store.cameras(&district, Some(CameraStatus::Fault)).await.unwrap();
    assert_eq!(faulty.total, 1);

    let in_yi = ListQuery::within(&code("610304003002"));
    assert_eq!(store.cameras(&in_yi, None).await.unwrap().total, 0);
    let stations = store.facilities(&in_yi, Some(FacilityCategory::PartyServiceStation)).await.unwrap();
    assert_eq!(stations.items.len(), 1);

    let compounds = store.compounds(&ListQuery::within(&code("610304003001"))).await.unwrap();
    assert_eq!(compounds.items[0].households, 2);
    assert_eq!(compounds.items[0].buildings, 1);

    let branches = store.party_branches(&ListQuery::within(&code("610304003001002"))).await.unwrap();
    assert_eq!(branches.total, 1);
    assert_eq!(branches.items[0].grids.len(), 2);
    assert_eq!(branches.items[0].groups[0].code, "B1G1");

    let workers = store.people(&ListQuery::within(&code("610304003001002")), Some(RoleKind::GridWorker)).await.unwrap();
    assert_eq!(workers.total, 1);
    assert_eq!(workers.items[0].phone.as_deref(), Some("100****0001"), "phones leave the store masked");
    assert_eq!(workers.items[0].roles.len(), 2);
    let riders = store.people(&ListQuery::within(&code("610304003")), Some(RoleKind::StreetRider)).await.unwrap();
    assert_eq!(riders.items[0].name, "王骑手");
}

async fn added_facilities_get_fresh_codes_and_survive_reopening(db: TestDb) {
    let store = db.loaded().await;
    let new = NewFacility {
        category: FacilityCategory::Pharmacy,
        name: "便民药房".into(),
        address: "渭河路2号".into(),
        grid: code("610304003002001"),
        lat: 34.015,
        lon: 107.005,
    };
    let a = store.add_facility(&new, None, &tester()).await.unwrap().item;
    let b = store.add_facility(&new, None, &tester()).await.unwrap().item;
    assert_eq!((a.code.as_str(), b.code.as_str()), ("FAC00000003", "FAC00000004"));
    assert_eq!(a.grid, "610304003002001");
    let not_grid =
        store.add_facility(&NewFacility { grid: code("610304003002"), ..new.clone() }, None, &tester()).await;
    assert!(matches!(not_grid, Err(StoreError::Invalid(_))));
    store.set_setting("demo_seed", "7", &tester()).await.unwrap();
    drop(store);
    let again = db.open().await;
    let pharmacies =
        again.facilities(&ListQuery::within(&code("610304")), Some(FacilityCategory::Pharmacy)).await.unwrap();
    assert_eq!(pharmacies.total, 2);
    assert_eq!(again.setting("demo_seed").await.unwrap().as_deref(), Some("7"));
    assert_eq!(again.setting("absent").await.unwrap(), None);
}

async fn a_retried_write_with_the_same_key_writes_once(db: TestDb) {
    let store = db.loaded().await;
    let new = NewFacility {
        category: FacilityCategory::Clinic,
        name: "卫生室".into(),
        address: String::new(),
        grid: code("610304003001001"),
        lat: 34.005,
        lon: 107.005,
    };
    let first = store.add_facility(&new, Some("k-1"), &tester()).await.unwrap();
    let retry = store.add_facility(&new, Some("k-1"), &tester()).await.unwrap();
    assert!(first.created && !retry.created);
    assert_eq!(first.item.code, retry.item.code);
    let other = store.add_facility(&NewFacility { name: "别的".into(), ..new.clone() }, Some("k-1"), &tester()).await;
    assert!(matches!(other, Err(StoreError::Conflict(_))), "{other:?}");
    let fresh = store.add_facility(&new, Some("k-2"), &tester()).await.unwrap();
    assert!(fresh.created && fresh.item.code != first.item.code);
    let clinics = store.facilities(&ListQuery::within(&code("610304")), Some(FacilityCategory::Clinic)).await.unwrap();
    assert_eq!(clinics.total, 3, "the demo's clinic and two new ones");
}

async fn an_import_is_all_or_nothing(db: TestDb) {
    let store = db.open().await;
    let mut bad = small_district();
    // A duplicate household breaks a UNIQUE constraint late in the import.
    bad.households.push(Household { id: 3, building_id: 1, entrance: 1, room: 101 });
    assert!(store.import_district(&bad, &|_, _| {}, &tester()).await.is_err());
    assert!(store.is_empty().await.unwrap(), "nothing of a failed import is left behind");
    let mut stray = small_district();
    stray.cameras[0].grid = code("610304003001009");
    let e = store.import_district(&stray, &|_, _| {}, &tester()).await.unwrap_err();
    assert!(e.to_string().contains("610304003001009"), "{e}");
    let seen = std::sync::Mutex::new(Vec::new());
    store
        .import_district(&small_district(), &|done, total| seen.lock().unwrap().push((done, total)), &tester())
        .await
        .unwrap();
    let seen = seen.into_inner().unwrap();
    let &(done, total) = seen.last().unwrap();
    assert_eq!(done, total, "progress reaches the end");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "progress never goes back");
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    let e = civicgrid_store::open("mysql://localhost/x", KeyRing::ephemeral()).await.unwrap_err();
    assert!(matches!(e, StoreError::UnsupportedUrl(_)));
}

on_each_backend!(
    a_district_is_counted_at_every_level,
    units_are_found_by_code_and_level,
    a_redrawn_grid_keeps_its_history_and_its_places_follow,
    lists_page_and_filter_within_a_unit,
    added_facilities_get_fresh_codes_and_survive_reopening,
    a_retried_write_with_the_same_key_writes_once,
    an_import_is_all_or_nothing,
);
