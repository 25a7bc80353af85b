//! Importing a street network from OpenStreetMap into a district: the network is replaced, the facilities merged with the registered ones, a second import of the same file changes nothing, and every import is audited.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

mod common;

use civicgrid_domain::{FacilityCategory, StreetEdge};
use civicgrid_store::{
    AuditQuery, ExternalFacility, ListQuery, NetworkImport, NetworkImported, NetworkNode, StoreError,
};
use common::{TestDb, code, tester};

fn osm_facility(id: &str, category: FacilityCategory, name: &str, grid: &str, lon: f64) -> ExternalFacility {
    ExternalFacility {
        external_id: format!("osm:{id}"),
        code: format!("OSM{}", id.replace("node/", "N").replace("way/", "W")),
        category,
        name: name.into(),
        address: String::new(),
        grid: code(grid),
        lat: 34.005,
        lon,
    }
}

fn import(facilities: Vec<ExternalFacility>) -> NetworkImport {
    let node = |lon, osm_id| NetworkNode { lon, lat: 34.005, osm_id: Some(osm_id) };
    let edge = |from, to, length_m| StreetEdge { from, to, length_m, name: "渭河路".into() };
    NetworkImport {
        source: "district.osm.pbf".into(),
        id_prefix: "osm:".into(),
        nodes: vec![node(107.001, 11), node(107.005, 12), node(107.015, 13)],
        edges: vec![edge(0, 1, 370.0), edge(1, 2, 925.5)],
        facilities,
    }
}

fn first_file() -> Vec<ExternalFacility> {
    vec![
        osm_facility("node/1", FacilityCategory::BusStop, "渭河路站", "610304003001001", 107.002),
        osm_facility("way/2", FacilityCategory::Supermarket, "超市", "610304003001002", 107.012),
    ]
}

/// Every facility as (code, category, name, grid), by code.
async fn facilities(store: &dyn civicgrid_store::Store) -> Vec<(String, String, String, String)> {
    let page = store.facilities(&ListQuery { within: None, limit: 100, offset: 0 }, None).await.unwrap();
    page.items.into_iter().map(|f| (f.code, f.category.to_string(), f.name, f.grid)).collect()
}

async fn an_import_replaces_the_network_and_adds_facilities_beside_the_registered_ones(db: TestDb) {
    let store = db.loaded().await;
    let before = facilities(store.as_ref()).await;
    assert_eq!(before.len(), 2, "the district registered a clinic and a service station");

    let report = store.import_network(&import(first_file()), &|_, _| {}, &tester()).await.unwrap();
    assert_eq!(report, NetworkImported { nodes: 3, edges: 2, added: 2, ..Default::default() });
    let net = store.street_network().await.unwrap();
    assert_eq!(net.nodes, [[107.001, 34.005], [107.005, 34.005], [107.015, 34.005]]);
    assert_eq!(
        net.edges.iter().map(|e| (e.from, e.to, e.length_m)).collect::<Vec<_>>(),
        [(0, 1, 370.0), (1, 2, 925.5)]
    );

    let after = facilities(store.as_ref()).await;
    assert_eq!(&after[..2], &before[..], "registered facilities kept as they were");
    assert_eq!(after[2].0, "OSMN1");
    assert_eq!((after[2].1.as_str(), after[2].3.as_str()), ("bus_stop", "610304003001001"));
    assert_eq!((after[3].0.as_str(), after[3].1.as_str()), ("OSMW2", "supermarket"));

    // The same file again: the same rows, nothing written but the audit entry.
    let again = store.import_network(&import(first_file()), &|_, _| {}, &tester()).await.unwrap();
    assert_eq!(again, NetworkImported { nodes: 3, edges: 2, unchanged: 2, ..Default::default() });
    assert_eq!(facilities(store.as_ref()).await, after);
    assert_eq!(store.street_network().await.unwrap(), net);

    // A newer extract: the stop renamed, the supermarket gone, a park new.
    let mut newer = first_file();
    newer[0].name = "渭河路公交站".into();
    newer[1] = osm_facility("way/3", FacilityCategory::Park, "公园", "610304003002001", 107.003);
    let report = store.import_network(&import(newer), &|_, _| {}, &tester()).await.unwrap();
    assert_eq!((report.added, report.updated, report.unchanged, report.removed), (1, 1, 0, 1));
    let latest = facilities(store.as_ref()).await;
    let codes: Vec<&str> = latest.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(codes, ["FAC00000001", "FAC00000002", "OSMN1", "OSMW3"], "the stop keeps its code");
    assert_eq!(latest[2].2, "渭河路公交站");

    let log = store
        .audit_log(&AuditQuery { action: Some("import_network".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(log.total, 3);
    assert_eq!(log.items[0].target, "district.osm.pbf");
    assert_eq!(log.items[0].detail["facilities_removed"], 1);
    assert_eq!(log.items[0].detail["street_edges"], 2);
}

async fn a_broken_import_is_refused_and_changes_nothing(db: TestDb) {
    let store = db.loaded().await;
    let net = store.street_network().await.unwrap();
    let cases: Vec<(NetworkImport, &str)> = vec![
        {
            let mut i = import(first_file());
            i.edges[1].to = 3;
            (i, "outside 0..3")
        },
        {
            let mut i = import(first_file());
            i.edges[0].length_m = f64::NAN;
            (i, "length")
        },
        {
            let mut i = import(first_file());
            i.facilities[1].external_id = "osm:node/1".into();
            (i, "twice")
        },
        {
            let mut i = import(first_file());
            i.facilities[0].external_id = "node/1".into();
            (i, "prefix")
        },
        {
            let mut i = import(first_file());
            i.facilities[0].grid = code("610304003001");
            (i, "not a grid")
        },
        {
            let mut i = import(first_file());
            i.facilities[1].code = "OSMN1".into();
            (i, "twice")
        },
    ];
    for (bad, says) in cases {
        let err = store.import_network(&bad, &|_, _| {}, &tester()).await.unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(m) if m.contains(says)), "{says}: {err}");
    }
    // A code that a registered facility holds is not taken over.
    let mut taken = import(first_file());
    taken.facilities[0].code = "FAC00000001".into();
    let err = store.import_network(&taken, &|_, _| {}, &tester()).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(m) if m.contains("belong to other facilities")), "{err}");

    assert_eq!(store.street_network().await.unwrap(), net);
    let left = facilities(store.as_ref()).await;
    assert_eq!(left.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), ["FAC00000001", "FAC00000002"]);
    assert_eq!(left[0].2, "设施0", "the registered clinic is untouched");
}

on_each_backend!(
    an_import_replaces_the_network_and_adds_facilities_beside_the_registered_ones,
    a_broken_import_is_refused_and_changes_nothing,
);
