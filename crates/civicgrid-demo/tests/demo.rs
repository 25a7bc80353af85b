//! The demo district carries the article's numbers, tiles its communities with
//! grids, places everything where it says, and contains no real person.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use civicgrid_demo::{DEFAULT_SEED, FAKE_ID_AREA, generate, scale};
use civicgrid_domain::{DistrictBundle, IdNumber, Level, RoleKind, UnitCode};
use civicgrid_geo::{GridIndex, LatLng, Polygon, area_m2, polygon_from_ring};
use std::collections::BTreeMap;
use std::sync::OnceLock;

fn demo() -> &'static DistrictBundle {
    static DEMO: OnceLock<DistrictBundle> = OnceLock::new();
    DEMO.get_or_init(|| generate(DEFAULT_SEED))
}

fn polygons(level: Level) -> Vec<(UnitCode, Polygon<f64>)> {
    demo()
        .units
        .iter()
        .filter(|u| u.level() == level)
        .map(|u| (u.code.clone(), polygon_from_ring(u.boundary.as_ref().unwrap()).unwrap()))
        .collect()
}

#[test]
fn the_article_numbers_hold() {
    let d = demo();
    let count = |l: Level| d.units.iter().filter(|u| u.level() == l).count();
    assert_eq!(count(Level::District), 1);
    assert_eq!(count(Level::Street), 2);
    assert_eq!(count(Level::Community), scale::COMMUNITIES);
    assert_eq!(count(Level::Grid), scale::GRIDS);
    assert_eq!(d.compounds.len(), scale::COMPOUNDS);
    assert_eq!(d.party_branches.len(), scale::PARTY_BRANCHES);
    assert_eq!(d.party_groups.len(), scale::PARTY_GROUPS);
    assert!(d.cameras.len() > 6000, "6,000+ cameras, got {}", d.cameras.len());
    let stations = d.facilities.iter().filter(|f| f.category.as_str() == "party_service_station").count();
    assert_eq!(stations, scale::SERVICE_STATIONS);
    let with_role = |k: RoleKind| d.people.iter().filter(|p| p.roles.iter().any(|r| r.kind == k)).count();
    assert_eq!(with_role(RoleKind::GridWorker), scale::GRID_WORKERS);
    assert_eq!(with_role(RoleKind::PartyMember), scale::PARTY_MEMBERS);
    assert!((200..=500).contains(&with_role(RoleKind::StreetRider)), "a few hundred street riders");
    assert!(
        d.residents.len() > 80_000 && d.residents.len() < 150_000,
        "about 100,000 residents: {}",
        d.residents.len()
    );
    assert!(d.streets.nodes.len() > 2000 && d.streets.edges.len() > 4000);
}

#[test]
fn real_names_and_codes_of_the_sixteen_communities() {
    let names: BTreeMap<&str, &str> = demo()
        .units
        .iter()
        .filter(|u| u.level() <= Level::Community)
        .map(|u| (u.code.as_str(), u.name.as_str()))
        .collect();
    assert_eq!(names["610304"], "陈仓区");
    assert_eq!(names["610304001"], "虢镇街道");
    assert_eq!(names["610304003"], "千渭街道");
    assert_eq!(names["610304003002"], "铁道南社区");
    assert_eq!(names["610304003009"], "茗苑社区");
    assert_eq!(names["610304001001"], "东街社区");
    assert_eq!(names.keys().filter(|c| c.starts_with("610304001") && c.len() == 12).count(), 6);
    assert_eq!(names.keys().filter(|c| c.starts_with("610304003") && c.len() == 12).count(), 10);
}

#[test]
fn grids_tile_each_community_without_gaps_or_overlaps() {
    let grids = polygons(Level::Grid);
    let index = GridIndex::build(grids.clone()).unwrap();
    for (community, poly) in polygons(Level::Community) {
        let mine: Vec<&(UnitCode, Polygon<f64>)> = grids.iter().filter(|(g, _)| community.contains(g)).collect();
        // Equal total area and full coverage of sample points together rule out
        // both gaps and overlaps.
        let sum: f64 = mine.iter().map(|(_, p)| area_m2(p)).sum();
        let whole = area_m2(&poly);
        assert!((sum - whole).abs() / whole < 1e-6, "{community}: grids {sum} m² vs community {whole} m²");
        let b = geo::BoundingRect::bounding_rect(&poly).unwrap();
        for i in 1..40 {
            for j in 1..40 {
                let lon = b.min().x + (b.max().x - b.min().x) * f64::from(i) / 40.0;
                let lat = b.min().y + (b.max().y - b.min().y) * f64::from(j) / 40.0;
                let p = LatLng::new(lat, lon).unwrap();
                let g = index.locate(p).unwrap_or_else(|| panic!("{community}: no grid at {lat},{lon}"));
                assert!(community.contains(g), "{lat},{lon} of {community} located into {g}");
                assert_eq!(index.locate_naive(p), Some(g));
            }
        }
    }
}

#[test]
fn the_district_sits_at_guozhen_and_guozhen_holds_it() {
    let index = GridIndex::build(polygons(Level::Grid)).unwrap();
    let g = index.locate(LatLng::new(34.36, 107.37).unwrap()).unwrap();
    assert!(g.as_str().starts_with("610304001"), "34.36 N 107.37 E lies in 虢镇街道, got {g}");
    assert!(index.locate(LatLng::new(34.36, 107.6).unwrap()).is_none());
}

#[test]
fn everything_lies_in_the_grid_it_is_placed_in() {
    let index = GridIndex::build(polygons(Level::Grid)).unwrap();
    let d = demo();
    let points = d
        .compounds
        .iter()
        .map(|c| (&c.grid, c.lat, c.lon))
        .chain(d.buildings.iter().map(|b| (&b.grid, b.lat, b.lon)))
        .chain(d.facilities.iter().map(|f| (&f.grid, f.lat, f.lon)))
        .chain(d.cameras.iter().map(|c| (&c.grid, c.lat, c.lon)));
    for (grid, lat, lon) in points {
        assert_eq!(index.locate(LatLng::new(lat, lon).unwrap()), Some(grid), "{lat},{lon}");
    }
}

#[test]
fn every_grid_has_exactly_one_grid_worker_and_doubles_are_neighbours() {
    let d = demo();
    let polys: BTreeMap<UnitCode, Polygon<f64>> = polygons(Level::Grid).into_iter().collect();
    let mut workers_of: BTreeMap<&UnitCode, usize> = BTreeMap::new();
    for p in &d.people {
        let grids: Vec<&UnitCode> =
            p.roles.iter().filter(|r| r.kind == RoleKind::GridWorker).map(|r| &r.unit).collect();
        for g in &grids {
            *workers_of.entry(g).or_default() += 1;
        }
        if let [a, b] = grids[..] {
            assert!(geo::Intersects::intersects(&polys[a], &polys[b]), "{a} and {b} are not neighbours");
        }
        assert!(grids.len() <= 2);
    }
    assert_eq!(workers_of.len(), scale::GRIDS);
    assert!(workers_of.values().all(|&n| n == 1));
    // Every grid also belongs to exactly one Party branch.
    let mut branch_of = BTreeMap::new();
    for b in &d.party_branches {
        for g in &b.grids {
            assert!(branch_of.insert(g, &b.code).is_none(), "{g} in two branches");
        }
    }
    assert_eq!(branch_of.len(), scale::GRIDS);
}

#[test]
fn no_real_person_is_in_it() {
    let d = demo();
    for r in &d.residents {
        let id = IdNumber::parse(r.id_number.as_str()).unwrap();
        assert!(id.as_str().starts_with(FAKE_ID_AREA));
        assert_eq!(id.birth_date(), Some(r.birth));
        assert_eq!(id.is_male(), r.gender.as_str() == "male");
        if let Some(p) = &r.phone {
            assert!(p.as_str().starts_with("100"), "unallocated prefix");
        }
    }
    assert!(d.people.iter().filter_map(|p| p.phone.as_ref()).all(|p| p.as_str().starts_with("100")));
    let care = |g: &str| d.residents.iter().filter(|r| r.care.iter().any(|c| c.as_str() == g)).count() as f64;
    let n = d.residents.len() as f64;
    assert!(care("elderly_alone") / n > 0.01 && care("disabled") / n > 0.01 && care("low_income") / n > 0.01);
}

#[test]
fn the_same_seed_gives_the_same_district() {
    let again = generate(DEFAULT_SEED);
    assert!(again == *demo());
    let other = generate(DEFAULT_SEED + 1);
    assert_eq!(other.units.len(), demo().units.len());
    assert!(other.units != demo().units, "another seed draws other grids");
}
