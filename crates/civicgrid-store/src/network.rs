//! What an import of a street network from outside (OpenStreetMap) hands the store, and what the store reports back.

use civicgrid_domain::{FacilityCategory, StreetEdge, UnitCode};

/// A street network and its facilities from an outside source. Importing
/// it replaces the stored network whole and merges the facilities by their
/// external id.
#[derive(Debug, Clone, Default)]
pub struct NetworkImport {
    /// Where it came from (a file name), for the audit log.
    pub source: String,
    /// The prefix of the external ids this source owns (`osm:`): stored
    /// facilities with it that the import no longer holds are removed;
    /// facilities without an external id (registered in CivicGrid) are kept.
    pub id_prefix: String,
    /// A node's id is its position.
    pub nodes: Vec<NetworkNode>,
    pub edges: Vec<StreetEdge>,
    /// Facilities already located into a grid; external ids are unique.
    pub facilities: Vec<ExternalFacility>,
}

/// A node of an imported network, in WGS-84.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetworkNode {
    pub lon: f64,
    pub lat: f64,
    /// The OpenStreetMap node id.
    pub osm_id: Option<i64>,
}

/// A facility from an outside source, keyed by its id there.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalFacility {
    /// Unique, and starting with [`NetworkImport::id_prefix`] (`osm:node/123`).
    pub external_id: String,
    /// Its code in CivicGrid, made from the external id (`OSMN123`) so that
    /// every import gives the same one and none is ever reused for another
    /// facility; registered facilities' codes (`FAC…`) are numbered instead.
    pub code: String,
    pub category: FacilityCategory,
    pub name: String,
    pub address: String,
    pub grid: UnitCode,
    pub lat: f64,
    pub lon: f64,
}

/// What an import changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkImported {
    pub nodes: u64,
    pub edges: u64,
    /// Facilities new to the store.
    pub added: u64,
    /// Facilities stored before whose category, name, address, place or grid changed.
    pub updated: u64,
    /// Facilities stored before exactly as imported.
    pub unchanged: u64,
    /// Facilities of the same source that the import no longer holds.
    pub removed: u64,
}
