//! `civicgrid import osm` as an operator runs it: an OpenStreetMap extract turned into a graph folder that `civicgrid access` measures, imported into a district's database twice with the same result, and damaged files refused with a message.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use civicgrid_domain::{DistrictBundle, Facility, FacilityCategory, OrgUnit, UnitCode, Validity};
use civicgrid_store::{AuditQuery, KeyRing, ListQuery, Store};

fn osm(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../civicgrid-geo/tests/data/osm").join(name)
}

fn civicgrid(args: &[&str], paths: &[&Path]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_civicgrid"));
    cmd.args(args).args(paths).env_remove("CIVICGRID_DATABASE").env_remove("CIVICGRID_KEY_FILE");
    cmd.output().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn central_helsinki_becomes_a_graph_folder_that_access_measures() {
    let dir = tempfile::tempdir().unwrap();
    let graph = dir.path().join("graph");
    let run = civicgrid(&["import", "osm"], &[&osm("helsinki-center.osm.pbf"), Path::new("--out"), &graph]);
    let (stdout, stderr) = text(&run);
    assert!(run.status.success(), "{stderr}");
    assert!(stdout.contains("walking network: 3138 nodes, 4268 edges, 89.87 km of walkways"), "{stdout}");
    assert!(stdout.contains("facilities: 158 (bus_stop 94, clinic 7,"), "{stdout}");

    let nodes = std::fs::read_to_string(graph.join("nodes.csv")).unwrap();
    assert!(nodes.starts_with("id,lon,lat,osm_id\n0,24.9370245,60.1643249,25291537\n"), "{}", &nodes[..80]);
    let pois = std::fs::read_to_string(graph.join("pois.csv")).unwrap();
    assert_eq!(pois.lines().count(), 1 + 158);

    let out = dir.path().join("access.csv");
    let access = civicgrid(&["access", "--radius", "1200", "--graph"], &[&graph, Path::new("--out"), &out]);
    assert!(access.status.success(), "{}", text(&access).1);
    let csv = std::fs::read_to_string(&out).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let nearest = header.iter().filter(|h| h.starts_with("nearest_")).count();
    assert_eq!(nearest, 10, "the nearest of each of the 10 categories found: {header:?}");
    assert!(header.contains(&"nearest_bus_stop") && header.iter().any(|h| h.starts_with("count_supermarket")));
    assert_eq!(lines.count(), 3138);
}

#[test]
fn damaged_or_foreign_files_are_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(osm("kotka-karhula.osm.pbf")).unwrap();
    let truncated = dir.path().join("truncated.osm.pbf");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let xml = dir.path().join("extract.osm");
    std::fs::write(&xml, "<?xml version='1.0'?>\n<osm version='0.6'></osm>\n").unwrap();
    let out = dir.path().join("graph");
    let cases: [(&Path, &str); 3] = [
        (&truncated, "truncated"),
        (&xml, "cannot be read at byte 0: a block header of"),
        (Path::new("/nonexistent/x.osm.pbf"), "could not open"),
    ];
    for (file, says) in cases {
        let run = civicgrid(&["import", "osm"], &[file, Path::new("--out"), &out]);
        let (_, stderr) = text(&run);
        assert_eq!(run.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(says) && !stderr.contains("panicked"), "{}: {stderr}", file.display());
    }
    let run = civicgrid(&["import", "osm"], &[&osm("kotka-karhula.osm.pbf")]);
    assert!(text(&run).1.contains("nothing to write"));
    let empty = dir.path().join("empty.db");
    let run = civicgrid(&["import", "osm"], &[&osm("kotka-karhula.osm.pbf"), Path::new("--database"), &empty]);
    assert!(text(&run).1.contains("holds no district"), "{}", text(&run).1);
}

fn unit(code: &str, name: &str, boundary: Option<Vec<[f64; 2]>>) -> OrgUnit {
    OrgUnit {
        code: UnitCode::parse(code).unwrap(),
        name: name.into(),
        validity: Validity::starting("2024-01-01".parse().unwrap()),
        boundary,
    }
}

/// A district with one grid over the western half of Karhula and a
/// registered clinic in it.
fn karhula_district() -> DistrictBundle {
    let west = vec![[26.93, 60.52], [26.95, 60.52], [26.95, 60.54], [26.93, 60.54], [26.93, 60.52]];
    DistrictBundle {
        units: vec![
            unit("610304", "District", None),
            unit("610304003", "Street", None),
            unit("610304003001", "Community", Some(west.clone())),
            unit("610304003001001", "Grid", Some(west)),
        ],
        facilities: vec![Facility {
            code: "FAC00000001".into(),
            category: FacilityCategory::Clinic,
            name: "Registered clinic".into(),
            grid: UnitCode::parse("610304003001001").unwrap(),
            address: String::new(),
            lat: 60.53,
            lon: 26.94,
        }],
        ..Default::default()
    }
}

async fn open(db: &Path) -> std::sync::Arc<dyn Store> {
    let keys = KeyRing::load_or_create(&db.with_extension("db.keys")).unwrap();
    civicgrid_store::open(db.to_str().unwrap(), keys).await.unwrap()
}

#[tokio::test]
async fn importing_karhula_twice_into_its_district_gives_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let store = open(&db).await;
    store.import_district(&karhula_district(), &|_, _| {}, &civicgrid_store::Actor::system("test")).await.unwrap();
    drop(store);

    let import = || civicgrid(&["import", "osm"], &[&osm("kotka-karhula.osm.pbf"), Path::new("--database"), &db]);
    let first = import();
    let (stdout, stderr) = text(&first);
    assert!(first.status.success(), "{stderr}");
    assert!(stdout.contains("street network replaced (526 nodes, 663 edges)"), "{stdout}");
    let added: usize = stdout.split("grids: ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(added > 0 && added < 42, "some of Karhula's 42 facilities are in the western grid: {stdout}");
    assert!(stdout.contains(&format!("{} outside every grid skipped", 42 - added)), "{stdout}");

    let store = open(&db).await;
    let all = ListQuery { within: None, limit: 1000, offset: 0 };
    let listed = |page: civicgrid_store::Page<civicgrid_store::FacilityView>| {
        page.items.into_iter().map(|f| (f.code, f.category, f.name, f.grid, f.lat, f.lon)).collect::<Vec<_>>()
    };
    let before = listed(store.facilities(&all, None).await.unwrap());
    assert_eq!(before.len(), 1 + added);
    assert_eq!(before[0].2, "Registered clinic", "the registered facility is kept");
    assert!(before[1..].iter().all(|f| f.0.starts_with("OSMN") || f.0.starts_with("OSMW")));
    let network = store.street_network().await.unwrap();
    assert_eq!((network.nodes.len(), network.edges.len()), (526, 663));
    drop(store);

    let second = import();
    let (stdout, stderr) = text(&second);
    assert!(second.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("0 added, 0 updated, {added} unchanged, 0 no longer in the file removed")),
        "{stdout}"
    );
    let store = open(&db).await;
    assert_eq!(listed(store.facilities(&all, None).await.unwrap()), before);
    assert_eq!(store.street_network().await.unwrap(), network);
    let audited = AuditQuery { action: Some("import_network".into()), limit: 10, ..Default::default() };
    let log = store.audit_log(&audited).await.unwrap();
    assert_eq!(log.total, 2);
    assert_eq!(
        (log.items[0].actor.as_str(), log.items[0].target.as_str()),
        ("system:import osm", "kotka-karhula.osm.pbf")
    );
}
