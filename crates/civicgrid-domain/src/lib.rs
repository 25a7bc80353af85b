//! The pure rules of CivicGrid: unit codes, the organisation tree, places, people
//! and their roles, the identity numbers we must validate, and the case workflow
//! (its category catalogue, working-hours calendar and indicators).
//!
//! Nothing here does I/O, spawns tasks or knows about SQL or HTTP: every type is a
//! value that parses at the edge and is trusted inside.

pub mod access;
pub mod calendar;
pub mod case;
pub mod catalogue;
pub mod code;
pub mod dispatch;
pub mod facility;
pub mod identity;
pub mod kpi;
pub mod lifecircle;
pub mod org;
pub mod osm_facilities;
pub mod people;
pub mod place;

pub use access::{Grant, Permission, Principal, Role};
pub use calendar::{CalendarError, DayKind, SpecialDay, WorkCalendar, WorkDay};
pub use case::{
    Action, ActorRef, Case, CaseEvent, CaseId, CaseState, CaseView, Counts, EventKind, PendingRequest, RequestKind,
    Rules, Source, StepRecord, WorkflowError,
};
pub use catalogue::{
    CaseClass, Catalogue, CatalogueError, Category, CategoryCode, Handler, MajorClass, Step, StepLimits,
};
pub use code::{CodeError, Level, UnitCode};
pub use dispatch::{
    CallKind, CallState, Candidate, DeviceCode, DeviceKind, DispatchPolicy, LocatedBy, OfferState, RespondStep, Skill,
    Team,
};
pub use facility::{CameraStatus, FacilityCategory};
pub use identity::{IdNumber, IdentityError, PhoneNumber};
pub use kpi::{KpiReport, Period, Ratio, StepTimes, UnitKpi};
pub use lifecircle::{LifeCircles, Outcome, Requirement};
pub use org::{OrgUnit, Ring, Validity};
pub use people::{CareGroup, Gender, PersonRole, RoleKind};
pub use place::{Building, Camera, Compound, Facility, Household, PartyBranch, PartyGroup, Person, Resident};

/// One whole district as plain records, in the order they must be stored.
///
/// The demo generator produces one; an importer of real data would too.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DistrictBundle {
    pub units: Vec<OrgUnit>,
    pub compounds: Vec<Compound>,
    pub buildings: Vec<Building>,
    pub households: Vec<Household>,
    pub residents: Vec<Resident>,
    pub facilities: Vec<Facility>,
    pub cameras: Vec<Camera>,
    pub party_branches: Vec<PartyBranch>,
    pub party_groups: Vec<PartyGroup>,
    pub people: Vec<Person>,
    pub streets: StreetNetwork,
}

/// A walkable street network: nodes in WGS-84 and undirected edges between them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreetNetwork {
    /// `[longitude, latitude]` of each node; a node's id is its position.
    pub nodes: Vec<[f64; 2]>,
    pub edges: Vec<StreetEdge>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreetEdge {
    pub from: u32,
    pub to: u32,
    pub length_m: f64,
    /// The road's name; empty for a path or lane with none.
    pub name: String,
}
