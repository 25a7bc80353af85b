//! The single error type of this crate, shared by coordinates, reference systems, polygons and the walking network.

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
    /// An edge names a node the graph does not have.
    #[error("edge {edge} names node {node}, but the graph has {nodes} nodes")]
    UnknownEdgeNode {
        /// Position of the edge in the input, from 0.
        edge: usize,
        /// The node id it names.
        node: u32,
        /// How many nodes the graph has (valid ids are below this).
        nodes: usize,
    },
    /// An edge whose length is negative, NaN or infinite.
    #[error("edge {edge} has length {length_m} m; a length must be finite and not negative")]
    BadEdgeLength {
        /// Position of the edge in the input, from 0.
        edge: usize,
        /// The offending length.
        length_m: f64,
    },
    /// More nodes or edges than the compact `u32` adjacency can address.
    #[error("the network is too large: {0}")]
    NetworkTooLarge(String),
    /// A facility placed on a node the graph does not have.
    #[error("facility of category {category:?} sits on node {node}, but the graph has {nodes} nodes")]
    UnknownFacilityNode {
        /// The facility's category.
        category: String,
        /// The node id it names.
        node: u32,
        /// How many nodes the graph has.
        nodes: usize,
    },
    /// Results computed on one graph used with another.
    #[error("the results are for a graph of {expected} nodes, not {got}")]
    GraphMismatch {
        /// Nodes of the graph the results were computed on.
        expected: usize,
        /// Nodes of the graph given.
        got: usize,
    },
    /// A category the results do not have.
    #[error("unknown facility category {0:?}")]
    UnknownCategory(String),
    /// A search radius or walking speed that is not a positive finite number.
    #[error("{what} must be a positive finite number, not {value}")]
    NotPositive {
        /// What the number is ("radius", "walking speed").
        what: &'static str,
        /// The offending value.
        value: f64,
    },
    /// An area a live index cannot cover; the text says why.
    #[error("invalid area for a live index: {0}")]
    InvalidArea(String),
    /// An OpenStreetMap file that cannot be read: damaged, truncated, not
    /// PBF at all, or using a feature this reader lacks.
    #[error("the OpenStreetMap file cannot be read at byte {offset}: {reason}")]
    Osm {
        /// Where the block that failed starts, in bytes from the file's start.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}
