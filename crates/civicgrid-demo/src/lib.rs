//! The demo district: Chencang District (陈仓区, 610304) with the real names and
//! codes of 虢镇街道 and 千渭街道 and their 16 communities, and everything else
//! synthetic — geometry, compounds, people, cameras, facilities, streets —
//! generated deterministically from a seed at the article's scale.
//!
//! No real person is in it: names are drawn from pools of common name parts, ID
//! numbers use the unassigned area code 610399 (so no real number can match one,
//! though each carries a valid GB 11643 check character), and phone numbers use
//! the unallocated prefix 100.

pub mod history;
mod layout;
mod names;

use civicgrid_domain::{
    Building, Camera, CameraStatus, CareGroup, Compound, DistrictBundle, Facility, FacilityCategory, Gender, Household,
    IdNumber, OrgUnit, PartyBranch, PartyGroup, Person, PersonRole, PhoneNumber, Resident, RoleKind, StreetEdge,
    StreetNetwork, UnitCode, Validity,
};
use jiff::civil::{Date, date};
use layout::Rect;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The photo the synthetic grid workers take of what they fixed on the spot:
/// a drawn street scene (kerb, pavement, a bin), not a picture of anything
/// real, as a PNG. The demo history stores it once and every on-the-spot
/// case shows it.
pub fn synthetic_photo() -> Vec<u8> {
    let (w, h) = (480, 320);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let sky = [150 + (y * 60 / h) as u8, 190 + (y * 40 / h) as u8, 235];
        let pavement = if (x / 40 + y / 40) % 2 == 0 { [196, 190, 180] } else { [182, 176, 166] };
        let bin = (300..360).contains(&x) && (150..250).contains(&y);
        image::Rgb(match y {
            _ if bin && y < 162 => [20, 110, 60],
            _ if bin => [34, 139, 80],
            0..140 => sky,
            140..160 => [120, 120, 120],
            _ => pavement,
        })
    });
    let mut png = std::io::Cursor::new(Vec::new());
    // Writing an in-memory RGB image as PNG cannot fail.
    let _ = img.write_to(&mut png, image::ImageFormat::Png);
    png.into_inner()
}

/// The article's figures that the demo reproduces exactly.
pub mod scale {
    pub const COMMUNITIES: usize = 16;
    pub const GRIDS: usize = 1148;
    pub const COMPOUNDS: usize = 231;
    pub const PARTY_BRANCHES: usize = 62;
    pub const PARTY_GROUPS: usize = 206;
    pub const GRID_WORKERS: usize = 1000;
    pub const PARTY_MEMBERS: usize = 10_000;
    pub const STREET_RIDERS: usize = 320;
    pub const VOLUNTEERS: usize = 600;
    pub const SERVICE_STATIONS: usize = 25;
}

/// The seed `civicgrid demo` uses unless told otherwise.
pub const DEFAULT_SEED: u64 = 20_260_101;

/// Area code of the synthetic ID numbers: not assigned in GB/T 2260.
pub const FAKE_ID_AREA: &str = "610399";

/// Every unit of the demo is valid from this day.
pub const VALID_FROM: Date = date(2024, 1, 1);

const DIVISIONS: &str = include_str!("../data/divisions.csv");

struct Community {
    code: UnitCode,
    name: String,
    short: String,
    block: Rect,
    /// (grid code, column, rectangle), column by column.
    grids: Vec<(UnitCode, usize, Rect)>,
}

fn code(s: &str) -> UnitCode {
    // The embedded table is ours and fixed; a bad code in it is a build defect.
    UnitCode::parse(s).unwrap_or_else(|e| panic!("embedded division table: {e}"))
}

fn short_name(full: &str) -> String {
    let s = full.trim_end_matches("居民委员会").trim_end_matches("居委会");
    s.to_owned()
}

fn person_name(rng: &mut impl Rng, gender: Gender) -> String {
    let given = match gender {
        Gender::Male => names::GIVEN_MALE,
        Gender::Female => names::GIVEN_FEMALE,
    };
    format!("{}{}", pick(rng, names::SURNAMES), pick(rng, given))
}

fn pick<'a>(rng: &mut impl Rng, pool: &[&'a str]) -> &'a str {
    pool.choose(rng).copied().unwrap_or_default()
}

fn fake_phone(rng: &mut impl Rng) -> Option<PhoneNumber> {
    PhoneNumber::parse(&format!("100{:08}", rng.random_range(0..100_000_000u32))).ok()
}

fn gender(rng: &mut impl Rng) -> Gender {
    if rng.random_bool(0.5) { Gender::Male } else { Gender::Female }
}

fn birth(rng: &mut impl Rng, min_age: i16, max_age: i16) -> Date {
    let year = 2026 - rng.random_range(min_age..=max_age);
    let month = rng.random_range(1..=12i8);
    let day = rng.random_range(1..=28i8);
    date(year, month, day)
}

fn days_after(rng: &mut impl Rng, from: Date, max_days: i32) -> Date {
    from.checked_add(jiff::Span::new().days(rng.random_range(0..max_days))).unwrap_or(from)
}

/// Generates the whole demo district. The same seed gives the same district.
pub fn generate(seed: u64) -> DistrictBundle {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut b = DistrictBundle::default();
    let rows: Vec<Vec<&str>> =
        DIVISIONS.lines().filter(|l| !l.starts_with('#')).skip(1).map(|l| l.split(',').collect()).collect();

    let district = rows.iter().find(|r| r[0] == "county").map(|r| (code(r[1]), r[2].to_owned()));
    let Some((district_code, district_name)) = district else { return b };
    b.units.push(OrgUnit {
        code: district_code.clone(),
        name: district_name,
        validity: Validity::starting(VALID_FROM),
        boundary: Some(layout::ring(layout::AREA)),
    });

    // 虢镇 lies west and 千渭 east; each street is a band of community blocks.
    let streets: Vec<(UnitCode, String)> =
        rows.iter().filter(|r| r[0] == "town").map(|r| (code(r[1]), r[2].to_owned())).collect();
    let split = layout::AREA[0] + (layout::AREA[2] - layout::AREA[0]) * 0.4;
    let mut communities: Vec<Community> = Vec::new();
    for (i, (street_code, street_name)) in streets.iter().enumerate() {
        let area: Rect = if i == 0 {
            [layout::AREA[0], layout::AREA[1], split, layout::AREA[3]]
        } else {
            [split, layout::AREA[1], layout::AREA[2], layout::AREA[3]]
        };
        b.units.push(OrgUnit {
            code: street_code.clone(),
            name: street_name.clone(),
            validity: Validity::starting(VALID_FROM),
            boundary: Some(layout::ring(area)),
        });
        let members: Vec<&Vec<&str>> =
            rows.iter().filter(|r| r[0] == "village" && r[3] == street_code.as_str()).collect();
        let per_row = [members.len() / 2, members.len() - members.len() / 2];
        let blocks = layout::blocks(&mut rng, area, &per_row);
        for (r, block) in members.iter().zip(blocks) {
            let name = short_name(r[2]);
            communities.push(Community {
                code: code(r[1]),
                short: name.trim_end_matches("社区").to_owned(),
                name,
                block,
                grids: Vec::new(),
            });
        }
    }

    // Grids: 1,148 in all, in proportion to each community's area.
    let areas: Vec<f64> = communities.iter().map(|c| (c.block[2] - c.block[0]) * (c.block[3] - c.block[1])).collect();
    let counts = layout::apportion(scale::GRIDS, &areas, 30);
    for (c, n) in communities.iter_mut().zip(counts) {
        c.grids = layout::grids(&mut rng, c.block, n)
            .into_iter()
            .enumerate()
            .filter_map(|(i, (col, rect))| Some((c.code.child(u16::try_from(i + 1).ok()?)?, col, rect)))
            .collect();
        b.units.push(OrgUnit {
            code: c.code.clone(),
            name: c.name.clone(),
            validity: Validity::starting(VALID_FROM),
            boundary: Some(layout::ring(c.block)),
        });
        for (g, _, rect) in &c.grids {
            b.units.push(OrgUnit {
                code: g.clone(),
                name: format!("{}第{}网格", c.short, g.number()),
                validity: Validity::starting(VALID_FROM),
                boundary: Some(layout::ring(*rect)),
            });
        }
    }

    let all_grids: Vec<(&Community, &UnitCode, Rect)> =
        communities.iter().flat_map(|c| c.grids.iter().map(move |(g, _, r)| (c, g, *r))).collect();
    compounds_and_residents(&mut rng, &mut b, &all_grids);
    facilities(&mut rng, &mut b, &communities, &all_grids);
    cameras(&mut rng, &mut b, &all_grids);
    party(&mut rng, &mut b, &communities);
    people(&mut rng, &mut b, &communities, &streets);
    b.streets = street_network(&mut rng);
    b
}

fn address(rng: &mut impl Rng) -> String {
    format!("{}{}号", pick(rng, names::ROADS), rng.random_range(1..400))
}

fn compounds_and_residents(rng: &mut impl Rng, b: &mut DistrictBundle, grids: &[(&Community, &UnitCode, Rect)]) {
    let mut chosen: Vec<usize> = (0..grids.len()).collect();
    chosen.shuffle(rng);
    chosen.truncate(scale::COMPOUNDS);
    chosen.sort_unstable();
    let mut used_names = std::collections::BTreeSet::new();
    let (mut building_id, mut household_id, mut resident_id) = (0i64, 0i64, 0i64);
    let mut per_community = std::collections::BTreeMap::<&UnitCode, u32>::new();
    for &gi in &chosen {
        let (community, grid, rect) = grids[gi];
        let seq = per_community.entry(&community.code).or_default();
        *seq += 1;
        let name = loop {
            let n = format!("{}{}", pick(rng, names::COMPOUND_HEADS), pick(rng, names::COMPOUND_TAILS));
            if used_names.insert(n.clone()) {
                break n;
            }
        };
        let (lat, lon) = layout::point_in(rng, rect, 0.3);
        let compound_code = format!("{}X{:02}", community.code, seq);
        b.compounds.push(Compound {
            code: compound_code.clone(),
            name,
            grid: grid.clone(),
            address: address(rng),
            lat,
            lon,
        });
        for number in 1..=rng.random_range(3..=12u16) {
            building_id += 1;
            let (blat, blon) = layout::point_in(rng, rect, 0.1);
            let floors = rng.random_range(5..=11u8);
            b.buildings.push(Building {
                id: building_id,
                compound: compound_code.clone(),
                number,
                floors,
                grid: grid.clone(),
                lat: blat,
                lon: blon,
            });
            for entrance in 1..=rng.random_range(1..=3u8) {
                for floor in 1..=u16::from(floors) {
                    for door in 1..=2u16 {
                        // A quarter of the flats stand empty or are let to people registered elsewhere.
                        if rng.random_bool(0.25) {
                            continue;
                        }
                        household_id += 1;
                        b.households.push(Household {
                            id: household_id,
                            building_id,
                            entrance,
                            room: floor * 100 + door,
                        });
                        residents(rng, b, household_id, &mut resident_id);
                    }
                }
            }
        }
    }
}

fn residents(rng: &mut impl Rng, b: &mut DistrictBundle, household_id: i64, next_id: &mut i64) {
    let size = *[1usize, 1, 2, 2, 2, 3, 3, 3, 4, 5].choose(rng).unwrap_or(&2);
    let low_income = rng.random_bool(0.03);
    for member in 0..size {
        *next_id += 1;
        let g = gender(rng);
        let born = if member == 0 {
            birth(rng, 25, 92)
        } else if member == 1 {
            birth(rng, 22, 85)
        } else {
            birth(rng, 0, 20)
        };
        let mut care = Vec::new();
        if size == 1 && born.year() <= 1956 {
            care.push(CareGroup::ElderlyAlone);
        }
        if rng.random_bool(0.02) {
            care.push(CareGroup::Disabled);
        }
        if low_income {
            care.push(CareGroup::LowIncome);
        }
        let sequence = rng.random_range(0..500u16) * 2 + u16::from(g == Gender::Male);
        let Ok(id_number) = IdNumber::compose(FAKE_ID_AREA, born, sequence) else { continue };
        b.residents.push(Resident {
            id: *next_id,
            household_id,
            name: person_name(rng, g),
            gender: g,
            birth: born,
            id_number,
            phone: if born.year() <= 2010 { fake_phone(rng) } else { None },
            head_of_household: member == 0,
            care,
        });
    }
}

fn facilities(
    rng: &mut impl Rng,
    b: &mut DistrictBundle,
    communities: &[Community],
    grids: &[(&Community, &UnitCode, Rect)],
) {
    use FacilityCategory as F;
    // Counts for an urban area of about 32 km² and 100,000 people.
    let plan: &[(F, usize)] = &[
        (F::PartyServiceStation, scale::SERVICE_STATIONS),
        (F::Clinic, 38),
        (F::Pharmacy, 64),
        (F::School, 18),
        (F::Kindergarten, 31),
        (F::ElderlyCare, 14),
        (F::Market, 11),
        (F::Supermarket, 46),
        (F::BusStop, 126),
        (F::GovServiceStation, communities.len() + 2),
        (F::CommunityCentre, communities.len()),
        (F::PolicePost, 9),
        (F::Park, 10),
        (F::SportsGround, 12),
    ];
    let mut n = 0u32;
    for &(category, count) in plan {
        for i in 0..count {
            // Per-community facilities go one to each community; the rest anywhere.
            let (community, grid, rect) = match category {
                F::CommunityCentre | F::GovServiceStation if i < communities.len() => {
                    let c = &communities[i];
                    let (g, _, r) = &c.grids[c.grids.len() / 2];
                    (c, g, *r)
                }
                _ => {
                    let &(c, g, r) = grids.choose(rng).unwrap_or(&grids[0]);
                    (c, g, r)
                }
            };
            let name = match category {
                F::PartyServiceStation => format!("虢先锋·{}党群服务驿站{}号", community.short, i + 1),
                F::Clinic => format!("{}社区卫生服务站{}", community.short, i + 1),
                F::Pharmacy => format!("{}大药房{}店", pick(rng, names::SHOP_BRANDS), community.short),
                F::School => format!("陈仓区{}小学", pick(rng, names::COMPOUND_HEADS)),
                F::Kindergarten => format!("{}幼儿园", pick(rng, names::COMPOUND_HEADS)),
                F::ElderlyCare => format!("{}社区日间照料中心", community.short),
                F::Market => format!("{}农贸市场", pick(rng, names::ROADS)),
                F::Supermarket => format!("{}超市{}店", pick(rng, names::SHOP_BRANDS), community.short),
                F::BusStop => format!("{}站", pick(rng, names::ROADS)),
                F::GovServiceStation => format!("{}便民服务站", community.name),
                F::CommunityCentre => format!("{}党群服务中心", community.name),
                F::PolicePost => format!("{}警务室", community.name),
                F::Park => format!("{}公园", pick(rng, names::COMPOUND_HEADS)),
                F::SportsGround => format!("{}全民健身广场", community.short),
            };
            n += 1;
            let (lat, lon) = layout::point_in(rng, rect, 0.05);
            b.facilities.push(Facility {
                code: format!("FAC{n:08}"),
                category,
                name,
                grid: grid.clone(),
                address: address(rng),
                lat,
                lon,
            });
        }
    }
}

fn cameras(rng: &mut impl Rng, b: &mut DistrictBundle, grids: &[(&Community, &UnitCode, Rect)]) {
    for &(_, grid, rect) in grids {
        for i in 1..=rng.random_range(3..=8u32) {
            let roll: f64 = rng.random();
            let status = if roll < 0.95 {
                CameraStatus::Online
            } else if roll < 0.98 {
                CameraStatus::Offline
            } else {
                CameraStatus::Fault
            };
            let (lat, lon) = layout::point_in(rng, rect, 0.02);
            b.cameras.push(Camera {
                code: format!("{grid}C{i:02}"),
                name: format!("{}路口探头{i}", pick(rng, names::ROADS)),
                grid: grid.clone(),
                status,
                installed_on: days_after(rng, date(2019, 1, 1), 6 * 365),
                lat,
                lon,
            });
        }
    }
}

fn party(rng: &mut impl Rng, b: &mut DistrictBundle, communities: &[Community]) {
    let weights: Vec<f64> = communities.iter().map(|c| c.grids.len() as f64).collect();
    let branches = layout::apportion(scale::PARTY_BRANCHES, &weights, 3);
    let mut first = Vec::new();
    for (c, n) in communities.iter().zip(branches) {
        // Each branch covers a run of consecutive (so neighbouring) grids.
        let cuts = layout::apportion(c.grids.len(), &vec![1.0; n], 1);
        let mut at = 0;
        for (i, len) in cuts.into_iter().enumerate() {
            let grids: Vec<UnitCode> = c.grids[at..at + len].iter().map(|(g, _, _)| g.clone()).collect();
            at += len;
            first.push(b.party_branches.len());
            b.party_branches.push(PartyBranch {
                code: format!("{}D{:02}", c.code, i + 1),
                name: format!("{}第{}网格党支部", c.name, i + 1),
                community: c.code.clone(),
                grids,
            });
        }
    }
    let per_branch = layout::apportion(scale::PARTY_GROUPS, &vec![1.0; b.party_branches.len()], 3);
    for (branch, n) in b.party_branches.iter().zip(per_branch) {
        for i in 0..n {
            let grid = branch.grids.choose(rng).unwrap_or(&branch.grids[0]).clone();
            b.party_groups.push(PartyGroup {
                code: format!("{}G{}", branch.code, i + 1),
                name: format!("{}第{}党小组", branch.name.trim_end_matches("党支部"), i + 1),
                branch: branch.code.clone(),
                grid,
            });
        }
    }
}

fn people(rng: &mut impl Rng, b: &mut DistrictBundle, communities: &[Community], streets: &[(UnitCode, String)]) {
    let mut id = 0i64;
    let mut add = |rng: &mut dyn rand::RngCore,
                   b: &mut DistrictBundle,
                   home: Option<UnitCode>,
                   roles: Vec<(RoleKind, UnitCode)>| {
        id += 1;
        let mut rng = rng;
        let g = gender(&mut rng);
        let since = days_after(&mut rng, VALID_FROM, 700);
        b.people.push(Person {
            id,
            name: person_name(&mut rng, g),
            gender: g,
            phone: fake_phone(&mut rng),
            home_community: home,
            roles: roles.into_iter().map(|(kind, unit)| PersonRole { kind, unit, since }).collect(),
        });
    };
    // Grid workers: one per grid, except that 148 look after two neighbouring grids
    // of the same column, so about 1,000 people cover all 1,148.
    let doubles = scale::GRIDS - scale::GRID_WORKERS;
    let weights: Vec<f64> = communities.iter().map(|c| c.grids.len() as f64).collect();
    let per_community = layout::apportion(doubles, &weights, 0);
    for (c, mut pairs) in communities.iter().zip(per_community) {
        let mut i = 0;
        while i < c.grids.len() {
            let (g, col, _) = &c.grids[i];
            let mut roles = vec![(RoleKind::GridWorker, g.clone())];
            if pairs > 0 && i + 1 < c.grids.len() && c.grids[i + 1].1 == *col {
                roles.push((RoleKind::GridWorker, c.grids[i + 1].0.clone()));
                pairs -= 1;
                i += 1;
            }
            i += 1;
            add(rng, b, Some(c.code.clone()), roles);
        }
        for _ in 0..8 {
            add(rng, b, Some(c.code.clone()), vec![(RoleKind::CommunityStaff, c.code.clone())]);
        }
    }
    // District leaders, each assigned (包联) to communities; street leaders to grids.
    for c in communities {
        add(rng, b, None, vec![(RoleKind::Leader, c.code.clone())]);
        let (g, _, _) = &c.grids[0];
        add(rng, b, None, vec![(RoleKind::Leader, g.clone())]);
    }
    for (s, _) in streets {
        for _ in 0..10 {
            add(rng, b, None, vec![(RoleKind::StreetStaff, s.clone())]);
        }
        for _ in 0..scale::STREET_RIDERS / streets.len() {
            add(rng, b, None, vec![(RoleKind::StreetRider, s.clone())]);
        }
    }
    let homes: Vec<&UnitCode> = communities.iter().map(|c| &c.code).collect();
    for i in 0..scale::PARTY_MEMBERS {
        let home = (*homes.choose(rng).unwrap_or(&homes[0])).clone();
        let mut roles = vec![(RoleKind::PartyMember, home.clone())];
        if i % 20 == 0 {
            roles.push((RoleKind::Volunteer, home.clone()));
        }
        add(rng, b, Some(home), roles);
    }
    for _ in 0..scale::VOLUNTEERS - scale::PARTY_MEMBERS / 20 {
        let home = (*homes.choose(rng).unwrap_or(&homes[0])).clone();
        add(rng, b, Some(home.clone()), vec![(RoleKind::Volunteer, home)]);
    }
}

/// A lattice of streets about 110 m apart over the urban area, nodes nudged a
/// little and a few links missing, with main roads every fifth line named.
fn street_network(rng: &mut impl Rng) -> StreetNetwork {
    let [w, s, e, n] = layout::AREA;
    let (cols, rows) = (67usize, 41usize);
    let (dx, dy) = ((e - w) / (cols - 1) as f64, (n - s) / (rows - 1) as f64);
    let mut net = StreetNetwork::default();
    for r in 0..rows {
        for c in 0..cols {
            let jitter = |rng: &mut dyn rand::RngCore, d: f64, edge: bool| {
                if edge { 0.0 } else { rng.random_range(-0.15..0.15) * d }
            };
            let lon = w + dx * c as f64 + jitter(rng, dx, c == 0 || c == cols - 1);
            let lat = s + dy * r as f64 + jitter(rng, dy, r == 0 || r == rows - 1);
            net.nodes.push([lon, lat]);
        }
    }
    let id = |r: usize, c: usize| (r * cols + c) as u32;
    let link = |net: &mut StreetNetwork, a: u32, bb: u32, main: Option<&str>, rng: &mut dyn rand::RngCore| {
        if main.is_none() && rng.random_bool(0.06) {
            return;
        }
        let (pa, pb) = (net.nodes[a as usize], net.nodes[bb as usize]);
        let length_m = haversine(pa, pb);
        net.edges.push(StreetEdge { from: a, to: bb, length_m, name: main.unwrap_or_default().to_owned() });
    };
    for r in 0..rows {
        for c in 0..cols {
            if c + 1 < cols {
                let main = (r % 5 == 0).then(|| names::ROADS[(r / 5) % names::ROADS.len()]);
                link(&mut net, id(r, c), id(r, c + 1), main, rng);
            }
            if r + 1 < rows {
                let main = (c % 5 == 0).then(|| names::ROADS[(c / 5 + 9) % names::ROADS.len()]);
                link(&mut net, id(r, c), id(r + 1, c), main, rng);
            }
        }
    }
    net
}

fn haversine(a: [f64; 2], b: [f64; 2]) -> f64 {
    match (civicgrid_geo::LatLng::new(a[1], a[0]), civicgrid_geo::LatLng::new(b[1], b[0])) {
        (Ok(p), Ok(q)) => p.haversine_m(q),
        _ => 0.0,
    }
}

/// A person of the demo district who answers one-click calls.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoResponder {
    pub person: i64,
    pub team: civicgrid_domain::Team,
    pub skills: Vec<civicgrid_domain::Skill>,
    /// Their grid: their own for grid workers; for riders, Party members and
    /// volunteers, whose roles name a street or community, one of its grids.
    pub grid: UnitCode,
}

/// The responders of a district: every person of the four answering teams,
/// with synthetic skills (deterministic from the person's id).
pub fn responders(b: &DistrictBundle) -> Vec<DemoResponder> {
    use civicgrid_domain::{Skill, Team};
    let grids: Vec<&UnitCode> =
        b.units.iter().filter(|u| u.code.level() == civicgrid_domain::Level::Grid).map(|u| &u.code).collect();
    let mut out = Vec::new();
    for p in &b.people {
        let Some((team, unit)) = p.roles.iter().find_map(|r| Team::of_role(r.kind).map(|t| (t, &r.unit))) else {
            continue;
        };
        let inside: Vec<&&UnitCode> = grids.iter().filter(|g| unit.contains(g)).collect();
        let Some(grid) = inside.get(p.id.unsigned_abs() as usize % inside.len().max(1)) else { continue };
        let n = p.id.unsigned_abs();
        let mut skills = Vec::new();
        let mut add = |on: bool, s: Skill| {
            if on {
                skills.push(s);
            }
        };
        match team {
            Team::GridWorker => {
                add(true, Skill::ElderlyCare);
                add(n % 2 == 0, Skill::FirstAid);
                add(n % 5 == 0, Skill::FireSafety);
            }
            Team::StreetRider => {
                add(n % 3 == 0, Skill::FirstAid);
                add(n % 4 == 0, Skill::Security);
            }
            Team::PartyMember => {
                add(n % 4 == 0, Skill::FirstAid);
                add(n % 6 == 0, Skill::Electrician);
                add(n % 7 == 0, Skill::ElderlyCare);
            }
            Team::Volunteer => {
                add(true, Skill::ElderlyCare);
                add(n % 3 == 0, Skill::FirstAid);
            }
        }
        out.push(DemoResponder { person: p.id, team, skills, grid: (**grid).clone() });
    }
    out
}

/// A call device of the demo district, placed at its household's building.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoDevice {
    pub code: String,
    pub kind: civicgrid_domain::DeviceKind,
    pub household_id: i64,
    /// "渭滨小区 3号楼 2单元 501".
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub grid: UnitCode,
}

/// A household's device of `kind`, placed at its building.
fn device_at(
    b: &DistrictBundle,
    h: &Household,
    kind: civicgrid_domain::DeviceKind,
    code: String,
) -> Option<DemoDevice> {
    let building = b.buildings.iter().find(|x| x.id == h.building_id)?;
    let compound = b.compounds.iter().find(|c| c.code == building.compound)?;
    Some(DemoDevice {
        code,
        kind,
        household_id: h.id,
        address: format!("{} {}号楼 {}单元 {}", compound.name, building.number, h.entrance, h.room),
        lat: building.lat,
        lon: building.lon,
        grid: building.grid.clone(),
    })
}

/// A wall button in the home of every household with a resident who is
/// elderly and lives alone, numbered within each community:
/// `BTN-610304003002-0001`.
pub fn call_devices(b: &DistrictBundle) -> Vec<DemoDevice> {
    use civicgrid_domain::{CareGroup, DeviceKind, Level};
    use std::collections::{BTreeSet, HashMap};
    let alone: BTreeSet<i64> =
        b.residents.iter().filter(|r| r.care.contains(&CareGroup::ElderlyAlone)).map(|r| r.household_id).collect();
    let households: HashMap<i64, &Household> = b.households.iter().map(|h| (h.id, h)).collect();
    let mut numbers: HashMap<String, u32> = HashMap::new();
    let mut out = Vec::new();
    for id in alone {
        let Some(h) = households.get(&id) else { continue };
        let Some(mut d) = device_at(b, h, DeviceKind::WallButton, String::new()) else { continue };
        let Some(community) = d.grid.at_level(Level::Community) else { continue };
        let n = numbers.entry(community.to_string()).or_default();
        *n += 1;
        d.code = format!("BTN-{community}-{n:04}");
        out.push(d);
    }
    out
}

/// The registered address (`home`) of a demo account living in `unit`: its
/// first household, by id.
pub fn home_in(b: &DistrictBundle, unit: &UnitCode, code: &str) -> Option<DemoDevice> {
    let inside: std::collections::HashSet<i64> =
        b.buildings.iter().filter(|x| unit.contains(&x.grid)).map(|x| x.id).collect();
    let h = b.households.iter().filter(|h| inside.contains(&h.building_id)).min_by_key(|h| h.id)?;
    device_at(b, h, civicgrid_domain::DeviceKind::Home, code.to_owned())
}
