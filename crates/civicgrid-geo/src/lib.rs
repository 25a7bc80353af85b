//! Geometry for CivicGrid: validated WGS-84 positions, the Chinese coordinate reference systems, polygon helpers, the index that finds which grid holds a point, the walking network with its accessibility measures, the live index of moving responders, and the OpenStreetMap import that builds it.
//!
//! Conventions used throughout: positions are WGS-84 degrees; in `geo`
//! types `x` is longitude and `y` is latitude; raw pairs from the outside
//! world are `[lon, lat]` (GeoJSON order) unless a name says otherwise.

mod access;
mod coverage;
mod crs;
mod error;
mod index;
mod latlng;
mod live;
mod network;
pub mod osm;
mod polygon;

pub use access::{Accessibility, BOUND_SLACK_M, Facilities, SERVICE_CIRCLE_MINUTES, WalkSpeed, nearest_within};
pub use coverage::{Demand, Pick, greedy_max_coverage};
pub use crs::Crs;
pub use error::GeoError;
pub use geo::{Coord, LineString, Polygon};
pub use index::GridIndex;
pub use latlng::{EARTH_RADIUS_M, LatLng};
pub use live::{DEFAULT_CELL_M, LiveIndex, MAX_CELLS, MAX_SPAN_DEG};
pub use network::{NodeId, WalkEdge, WalkGraph};
pub use polygon::{area_m2, centroid, polygon_from_ring, rect, ring_lonlat};
