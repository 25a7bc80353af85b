//! The district every store test starts from, and how to open a store on it.
#![allow(dead_code, reason = "each test file uses some of these helpers")]
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use civicgrid_domain::*;
use civicgrid_store::{Actor, KeyRing, Store};
use jiff::civil::date;
use std::sync::Arc;

pub fn code(s: &str) -> UnitCode {
    UnitCode::parse(s).unwrap()
}

pub fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Ring {
    vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
}

fn unit(c: &str, name: &str, boundary: Option<Ring>) -> OrgUnit {
    OrgUnit { code: code(c), name: name.into(), validity: Validity::starting(date(2024, 1, 1)), boundary }
}

/// A district with one street, two communities of two grids each (unit squares
/// of 0.01°), one compound with a building of two households, and a little of
/// everything else.
pub fn small_district() -> DistrictBundle {
    let g = |n: &str| code(n);
    let mut b = DistrictBundle {
        units: vec![
            unit("610304", "陈仓区", None),
            unit("610304003", "千渭街道", None),
            unit("610304003001", "甲社区", Some(rect(107.0, 34.0, 107.02, 34.01))),
            unit("610304003002", "乙社区", Some(rect(107.0, 34.01, 107.02, 34.02))),
            unit("610304003001001", "甲1", Some(rect(107.0, 34.0, 107.01, 34.01))),
            unit("610304003001002", "甲2", Some(rect(107.01, 34.0, 107.02, 34.01))),
            unit("610304003002001", "乙1", Some(rect(107.0, 34.01, 107.01, 34.02))),
            unit("610304003002002", "乙2", Some(rect(107.01, 34.01, 107.02, 34.02))),
        ],
        ..Default::default()
    };
    b.compounds.push(Compound {
        code: "610304003001X01".into(),
        name: "渭河花园".into(),
        grid: g("610304003001001"),
        address: "渭河路1号".into(),
        lat: 34.005,
        lon: 107.005,
    });
    b.buildings.push(Building {
        id: 1,
        compound: "610304003001X01".into(),
        number: 1,
        floors: 6,
        grid: g("610304003001001"),
        lat: 34.005,
        lon: 107.008,
    });
    for (id, room) in [(1, 101), (2, 102)] {
        b.households.push(Household { id, building_id: 1, entrance: 1, room });
    }
    let id_number = IdNumber::compose("610399", date(1940, 5, 1), 11).unwrap();
    b.residents.push(Resident {
        id: 1,
        household_id: 1,
        name: "张三".into(),
        gender: Gender::Male,
        birth: date(1940, 5, 1),
        id_number,
        phone: Some(PhoneNumber::parse("10012345678").unwrap()),
        head_of_household: true,
        care: vec![CareGroup::ElderlyAlone],
    });
    for (i, (cat, grid)) in
        [(FacilityCategory::Clinic, "610304003001001"), (FacilityCategory::PartyServiceStation, "610304003002002")]
            .into_iter()
            .enumerate()
    {
        b.facilities.push(Facility {
            code: format!("FAC{:08}", i + 1),
            category: cat,
            name: format!("设施{i}"),
            grid: g(grid),
            address: String::new(),
            lat: 34.005,
            lon: 107.005,
        });
    }
    for (i, status) in [CameraStatus::Online, CameraStatus::Fault, CameraStatus::Online].into_iter().enumerate() {
        b.cameras.push(Camera {
            code: format!("CAM{i}"),
            name: format!("探头{i}"),
            grid: g("610304003001002"),
            status,
            installed_on: date(2020, 1, 1),
            lat: 34.005,
            lon: 107.015,
        });
    }
    b.party_branches.push(PartyBranch {
        code: "B1".into(),
        name: "甲社区第1网格党支部".into(),
        community: g("610304003001"),
        grids: vec![g("610304003001001"), g("610304003001002")],
    });
    b.party_groups.push(PartyGroup {
        code: "B1G1".into(),
        name: "第1党小组".into(),
        branch: "B1".into(),
        grid: g("610304003001002"),
    });
    let role = |kind, unit: &str| PersonRole { kind, unit: g(unit), since: date(2024, 2, 1) };
    b.people.push(Person {
        id: 1,
        name: "李网格".into(),
        gender: Gender::Female,
        phone: Some(PhoneNumber::parse("10000000001").unwrap()),
        home_community: Some(g("610304003001")),
        roles: vec![role(RoleKind::GridWorker, "610304003001001"), role(RoleKind::GridWorker, "610304003001002")],
    });
    b.people.push(Person {
        id: 2,
        name: "王骑手".into(),
        gender: Gender::Male,
        phone: None,
        home_community: None,
        roles: vec![role(RoleKind::StreetRider, "610304003")],
    });
    b.streets = StreetNetwork {
        nodes: vec![[107.0, 34.0], [107.01, 34.0]],
        edges: vec![StreetEdge { from: 0, to: 1, length_m: 920.0, name: "渭河路".into() }],
    };
    b
}

/// The actor of the tests' own writes.
pub fn tester() -> Actor {
    Actor::system("test")
}

/// The store in `dir`, with its key file beside the database, so reopening
/// reads what was written before.
pub async fn open_store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    let keys = KeyRing::load_or_create(&dir.path().join("keys.json")).unwrap();
    civicgrid_store::open(dir.path().join("c.db").to_str().unwrap(), keys).await.unwrap()
}

/// A fresh store in `dir` holding [`small_district`].
pub async fn loaded(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    let store = open_store(dir).await;
    assert!(store.is_empty().await.unwrap());
    store.import_district(&small_district(), &|_, _| {}, &tester()).await.unwrap();
    store
}
