//! The single error type of this crate, shared by coordinates, reference systems and polygons.

/// Everything that can go wrong when turning outside input into geometry.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum GeoError {
    /// A latitude outside -90..=90 degrees.
    #[error("latitude {0} is out of range -90..=90")]
    LatitudeOutOfRange(f64),
    /// A longitude outside -180..=180 degrees.
    #[error("longitude {0} is out of range -180..=180")]
    LongitudeOutOfRange(f64),
    /// A coordinate that is NaN or infinite.
    #[error("coordinate is not a finite number")]
    NotFinite,
    /// A coordinate reference system name this crate does not know.
    #[error("unknown coordinate reference system {0:?} (expected wgs84, gcj02 or bd09)")]
    UnknownCrs(String),
    /// A polygon that cannot be used as a grid boundary; the text says why.
    #[error("invalid polygon: {0}")]
    InvalidPolygon(String),
}
