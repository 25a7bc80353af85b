//! Records that hang off a grid: compounds with buildings and households,
//! residents, facilities, cameras, Party branches and groups, and people.

use crate::code::UnitCode;
use crate::facility::{CameraStatus, FacilityCategory};
use crate::identity::{IdNumber, PhoneNumber};
use crate::people::{CareGroup, Gender, PersonRole};
use jiff::civil::Date;

/// A residential compound (小区). Its `grid` is the grid holding its centre.
#[derive(Debug, Clone, PartialEq)]
pub struct Compound {
    pub code: String,
    pub name: String,
    pub grid: UnitCode,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Building {
    pub id: i64,
    pub compound: String,
    /// The building's number within its compound (1号楼 …).
    pub number: u16,
    pub floors: u8,
    pub grid: UnitCode,
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Household {
    pub id: i64,
    pub building_id: i64,
    /// Stairwell (单元) and room, as on the door: 2单元 301.
    pub entrance: u8,
    pub room: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resident {
    pub id: i64,
    pub household_id: i64,
    pub name: String,
    pub gender: Gender,
    pub birth: Date,
    pub id_number: IdNumber,
    pub phone: Option<PhoneNumber>,
    pub head_of_household: bool,
    pub care: Vec<CareGroup>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Facility {
    pub code: String,
    pub category: FacilityCategory,
    pub name: String,
    pub grid: UnitCode,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
}

/// A small public-security camera (综治小探头).
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    pub code: String,
    pub name: String,
    pub grid: UnitCode,
    pub status: CameraStatus,
    pub installed_on: Date,
    pub lat: f64,
    pub lon: f64,
}

/// A grid Party branch (网格党支部), covering one or more grids of a community.
#[derive(Debug, Clone, PartialEq)]
pub struct PartyBranch {
    pub code: String,
    pub name: String,
    pub community: UnitCode,
    pub grids: Vec<UnitCode>,
}

/// A Party group (党小组) of a branch, attached to one grid.
#[derive(Debug, Clone, PartialEq)]
pub struct PartyGroup {
    pub code: String,
    pub name: String,
    pub branch: String,
    pub grid: UnitCode,
}

/// Someone who works for the district in one or more roles.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub id: i64,
    pub name: String,
    pub gender: Gender,
    pub phone: Option<PhoneNumber>,
    /// The community where the person lives (Party members register there).
    pub home_community: Option<UnitCode>,
    pub roles: Vec<PersonRole>,
}
