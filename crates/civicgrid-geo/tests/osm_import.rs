//! Reading real OpenStreetMap extracts (central Helsinki and Karhula in Kotka): a walking graph whose edge lengths follow the ways, facilities from tags, and damaged files refused with an error instead of a panic.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::path::PathBuf;

use civicgrid_geo::GeoError;
use civicgrid_geo::osm::{self, OsmElement, OsmExtract, Tags};

fn data(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/osm").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A classifier of our own (this crate knows no catalogue): the first of a
/// few common keys, as `key=value`.
fn classify(tags: &Tags<'_>) -> Option<String> {
    ["amenity", "shop", "leisure", "healthcare"]
        .iter()
        .find_map(|k| tags.get(k).map(|v| format!("{k}={v}")))
        .or_else(|| (tags.get("highway") == Some("bus_stop")).then(|| "highway=bus_stop".to_owned()))
}

fn read(bytes: &[u8]) -> Result<OsmExtract<String>, GeoError> {
    osm::read(bytes, &classify, &mut |_| {})
}

/// What every extract must satisfy, whatever its place.
fn check_graph(x: &OsmExtract<String>) {
    let n = x.nodes.len();
    assert!(x.nodes.windows(2).all(|w| w[0].osm_id < w[1].osm_id), "nodes in OSM id order, each once");
    for e in &x.edges {
        assert!(e.from != e.to, "no self-loops: {e:?}");
        assert!((e.from as usize) < n && (e.to as usize) < n);
        let straight = x.nodes[e.from as usize].position.haversine_m(x.nodes[e.to as usize].position);
        assert!(
            e.length_m >= straight - 1e-6,
            "way {}: {} m along the way is shorter than {straight} m in a straight line",
            e.way,
            e.length_m
        );
    }
    let sizes = x.component_sizes();
    assert!(sizes[0] * 100 >= n * 95, "the largest component holds {} of {n} nodes", sizes[0]);
    let graph = x.walk_graph().unwrap();
    assert_eq!((graph.node_count(), graph.edge_count()), (n, x.edges.len()));
}

#[test]
fn central_helsinki_gives_a_connected_walking_graph_and_its_facilities() {
    let bytes = data("helsinki-center.osm.pbf");
    let mut seen = Vec::new();
    let x = osm::read(&bytes[..], &classify, &mut |b| seen.push(b)).unwrap();
    // The file as the shared data's README describes it.
    assert_eq!((x.counts.nodes, x.counts.ways, x.counts.relations), (24_260, 5_130, 620));
    assert_eq!(x.counts.bytes, bytes.len() as u64);
    assert!(seen.is_sorted() && seen.last() == Some(&(bytes.len() as u64)), "progress after every block: {seen:?}");
    assert_eq!(seen.len() as u64, x.counts.blocks);

    assert_eq!((x.walkable_ways, x.nodes.len(), x.edges.len()), (2_368, 3_279, 4_368));
    // Every metre of every walkable way is in the graph: pyosmium, summing
    // the same ways node to node, gets 91.350 km. (Its graph in the shared
    // helsinki-walk data has 88.4 km after dropping small components.)
    let km = x.length_km();
    assert!((km - 91.350).abs() < 0.001, "{km} km");
    check_graph(&x);
    for n in &x.nodes {
        let p = n.position;
        assert!(
            (60.15..60.19).contains(&p.lat()) && (24.92..24.97).contains(&p.lon()),
            "{p:?} is not central Helsinki"
        );
    }

    // pyosmium finds the same with the same classifier.
    assert_eq!(x.facilities.len(), 1_736);
    let count = |c: &str| x.facilities.iter().filter(|f| f.category == c).count();
    assert_eq!(count("highway=bus_stop"), 92);
    assert_eq!(count("shop=supermarket"), 6);
    assert_eq!(count("amenity=school"), 3);
    assert!(x.facilities.iter().any(|f| matches!(f.element, OsmElement::Way(_))), "facilities mapped as areas too");
    let named = x.facilities.iter().filter(|f| !f.name.is_empty()).count();
    assert!(named * 2 > x.facilities.len(), "most facilities have a name: {named}");

    // The same file gives the same graph.
    let again = read(&bytes).unwrap();
    assert_eq!((again.nodes, again.edges, again.facilities), (x.nodes, x.edges, x.facilities));
}

#[test]
fn karhula_in_kotka_gives_a_sparse_graph() {
    let x = read(&data("kotka-karhula.osm.pbf")).unwrap();
    assert_eq!((x.counts.nodes, x.counts.ways), (14_222, 2_653));
    assert_eq!((x.walkable_ways, x.nodes.len(), x.edges.len()), (326, 530, 665));
    let km = x.length_km();
    assert!((km - 58.795).abs() < 0.001, "{km} km, pyosmium sums 58.795");
    check_graph(&x);
    assert_eq!(x.facilities.len(), 65);
}

#[test]
fn keeping_the_largest_component_renumbers_nodes_and_edges() {
    let mut x = read(&data("helsinki-center.osm.pbf")).unwrap();
    let (n, largest) = (x.nodes.len(), x.component_sizes()[0]);
    let dropped = x.keep_largest_component();
    assert_eq!((dropped, x.nodes.len()), (n - largest, largest));
    assert_eq!(x.component_sizes(), [largest]);
    check_graph(&x);
    assert_eq!(x.keep_largest_component(), 0);
}

#[test]
fn a_truncated_file_is_an_error_naming_the_damaged_block() {
    let bytes = data("helsinki-center.osm.pbf");
    let len = bytes.len();
    for cut in [0, 2, 4, 10, 97, 200, 100_000, len / 3, len / 2, len - 1] {
        match read(&bytes[..cut]) {
            Err(GeoError::Osm { offset, reason }) => {
                assert!(offset <= cut as u64, "cut at {cut}: offset {offset}");
                assert!(reason.contains("truncated") || reason.contains("empty"), "cut at {cut}: {reason}");
            }
            other => panic!("cut at {cut}: {:?}", other.map(|x| x.counts)),
        }
    }
    // The format has no end marker: a file cut exactly between two blocks
    // reads as a smaller extract.
    let mut boundaries = Vec::new();
    read_with_progress(&bytes, &mut boundaries);
    let fewer = read(&bytes[..boundaries[1] as usize]).unwrap();
    assert!(fewer.counts.nodes < 24_260);
}

fn read_with_progress(bytes: &[u8], seen: &mut Vec<u64>) {
    osm::read(bytes, &classify, &mut |b| seen.push(b)).unwrap();
}

#[test]
fn garbage_and_other_formats_are_refused_with_a_message() {
    let mut noise = Vec::with_capacity(1 << 16);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..1 << 16 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        noise.push(state as u8);
    }
    let xml = b"<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\"></osm>\n".to_vec();
    let zeros = vec![0u8; 4096];
    // A valid length and header whose blob is not the OSMHeader.
    let mut wrong_first = vec![0, 0, 0, 13, 0x0a, 7];
    wrong_first.extend_from_slice(b"OSMData");
    wrong_first.extend_from_slice(&[0x18, 2, 0x0a, 0]);
    for (what, bytes) in [("noise", noise), ("xml", xml), ("zeros", zeros), ("wrong first block", wrong_first)] {
        let err = read(&bytes).map(|x| x.counts).unwrap_err();
        assert!(matches!(err, GeoError::Osm { offset: 0, .. }), "{what}: {err}");
        assert!(err.to_string().starts_with("the OpenStreetMap file cannot be read at byte 0"), "{what}: {err}");
    }
}

#[test]
fn damaged_bytes_anywhere_give_an_error_or_an_extract_never_a_panic() {
    let bytes = data("kotka-karhula.osm.pbf");
    for at in (0..bytes.len()).step_by(1_009).chain(0..64) {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x5a;
        let _ = read(&damaged);
    }
}
