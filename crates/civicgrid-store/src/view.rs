//! Read models the store returns: counts, pages of compounds, facilities,
//! cameras, Party branches and people, ready to be shown.

use civicgrid_domain::{CameraStatus, FacilityCategory, Gender, RoleKind, UnitCode};
use serde::Serialize;

/// Counts of everything within a unit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub streets: i64,
    pub communities: i64,
    pub grids: i64,
    pub compounds: i64,
    pub buildings: i64,
    pub households: i64,
    pub residents: i64,
    pub elderly_alone: i64,
    pub disabled: i64,
    pub low_income: i64,
    pub grid_party_branches: i64,
    pub party_groups: i64,
    pub grid_workers: i64,
    pub party_members: i64,
    pub street_riders: i64,
    pub volunteers: i64,
    pub cameras: i64,
    pub cameras_online: i64,
    pub service_stations: i64,
    pub facilities: i64,
}

impl Stats {
    /// Sets a count by its key; the keys are the field names.
    pub(crate) fn set(&mut self, key: &str, v: i64) {
        let slot = match key {
            "streets" => &mut self.streets,
            "communities" => &mut self.communities,
            "grids" => &mut self.grids,
            "compounds" => &mut self.compounds,
            "buildings" => &mut self.buildings,
            "households" => &mut self.households,
            "residents" => &mut self.residents,
            "elderly_alone" => &mut self.elderly_alone,
            "disabled" => &mut self.disabled,
            "low_income" => &mut self.low_income,
            "grid_party_branches" => &mut self.grid_party_branches,
            "party_groups" => &mut self.party_groups,
            "grid_workers" => &mut self.grid_workers,
            "party_members" => &mut self.party_members,
            "street_riders" => &mut self.street_riders,
            "volunteers" => &mut self.volunteers,
            "cameras" => &mut self.cameras,
            "cameras_online" => &mut self.cameras_online,
            "service_stations" => &mut self.service_stations,
            "facilities" => &mut self.facilities,
            _ => return,
        };
        *slot = v;
    }
}

/// Which rows of a list: those within a unit, a page at a time.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub within: Option<UnitCode>,
    pub limit: u32,
    pub offset: u32,
}

impl ListQuery {
    pub const MAX_LIMIT: u32 = 1000;

    pub fn within(unit: &UnitCode) -> Self {
        ListQuery { within: Some(unit.clone()), limit: 100, offset: 0 }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: u32,
    pub offset: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompoundView {
    pub code: String,
    pub name: String,
    pub address: String,
    pub grid: String,
    pub lat: f64,
    pub lon: f64,
    pub buildings: i64,
    pub households: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FacilityView {
    pub code: String,
    pub category: FacilityCategory,
    pub name: String,
    pub address: String,
    pub grid: String,
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CameraView {
    pub code: String,
    pub name: String,
    pub status: CameraStatus,
    pub installed_on: String,
    pub grid: String,
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartyBranchView {
    pub code: String,
    pub name: String,
    pub community: String,
    pub grids: Vec<String>,
    pub groups: Vec<PartyGroupView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartyGroupView {
    pub code: String,
    pub name: String,
    pub grid: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PersonView {
    pub id: i64,
    pub name: String,
    pub gender: Gender,
    /// Always masked here (`138****5678`).
    pub phone: Option<String>,
    pub home_community: Option<String>,
    pub roles: Vec<RoleView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoleView {
    pub kind: RoleKind,
    pub unit: String,
    pub since: String,
}

/// A facility to add; the caller has already located it into `grid`.
#[derive(Debug, Clone)]
pub struct NewFacility {
    pub category: FacilityCategory,
    pub name: String,
    pub address: String,
    pub grid: UnitCode,
    pub lat: f64,
    pub lon: f64,
}

impl NewFacility {
    /// The request in one string, to tell a retry from a different request.
    pub(crate) fn fingerprint(&self) -> String {
        format!("{}|{}|{}|{}|{}|{}", self.category, self.name, self.address, self.grid, self.lat, self.lon)
    }
}

/// The result of a write that may have been a retry.
#[derive(Debug, Clone)]
pub struct Added<T> {
    pub item: T,
    /// False when an earlier request with the same idempotency key made `item`.
    pub created: bool,
}
