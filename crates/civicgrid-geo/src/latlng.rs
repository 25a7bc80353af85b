//! A validated WGS-84 position, the only kind of point the rest of CivicGrid passes around.

use geo::Coord;
use serde::Serialize;

use crate::GeoError;

/// Mean earth radius in metres (IUGG), used by [`LatLng::haversine_m`].
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A position in WGS-84 degrees.
///
/// The fields are private so that every value in circulation has passed
/// [`LatLng::new`]: finite, latitude in -90..=90, longitude in -180..=180.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatLng {
    lat: f64,
    lon: f64,
}

impl LatLng {
    /// Validates and builds a position; NaN, infinities and out-of-range
    /// values are rejected rather than clamped, because a silently moved
    /// point would land in the wrong grid.
    pub fn new(lat: f64, lon: f64) -> Result<Self, GeoError> {
        if !lat.is_finite() || !lon.is_finite() {
            return Err(GeoError::NotFinite);
        }
        if !(-90.0..=90.0).contains(&lat) {
            return Err(GeoError::LatitudeOutOfRange(lat));
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(GeoError::LongitudeOutOfRange(lon));
        }
        Ok(Self { lat, lon })
    }

    /// Latitude in degrees, positive north.
    pub fn lat(self) -> f64 {
        self.lat
    }

    /// Longitude in degrees, positive east.
    pub fn lon(self) -> f64 {
        self.lon
    }

    /// Great-circle distance to `other` in metres on a sphere of radius
    /// [`EARTH_RADIUS_M`]; good to about 0.5 %, plenty for "how far is the
    /// reporter from the grid".
    pub fn haversine_m(self, other: LatLng) -> f64 {
        haversine_with_cos(self, self.cos_lat(), other, other.cos_lat())
    }

    /// The cosine of the latitude, as [`LatLng::haversine_m`] computes it.
    pub(crate) fn cos_lat(self) -> f64 {
        self.lat.to_radians().cos()
    }
}

/// [`LatLng::haversine_m`] given the cosines of both latitudes
/// ([`LatLng::cos_lat`]), for callers that keep them: the same formula, so
/// the same bits.
pub(crate) fn haversine_with_cos(a: LatLng, cos_a: f64, b: LatLng, cos_b: f64) -> f64 {
    let dphi = (b.lat - a.lat).to_radians();
    let dlambda = (b.lon - a.lon).to_radians();
    let h = (dphi / 2.0).sin().powi(2) + cos_a * cos_b * (dlambda / 2.0).sin().powi(2);
    // min() guards asin against h creeping past 1 through rounding for antipodal points.
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

impl From<LatLng> for Coord<f64> {
    fn from(p: LatLng) -> Self {
        // geo's convention: x is longitude, y is latitude.
        Coord { x: p.lon, y: p.lat }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

    use super::*;

    #[test]
    fn rejects_bad_input() {
        assert_eq!(LatLng::new(95.0, 0.0), Err(GeoError::LatitudeOutOfRange(95.0)));
        assert_eq!(LatLng::new(0.0, -181.0), Err(GeoError::LongitudeOutOfRange(-181.0)));
        assert_eq!(LatLng::new(f64::NAN, 0.0), Err(GeoError::NotFinite));
        assert_eq!(LatLng::new(0.0, f64::INFINITY), Err(GeoError::NotFinite));
        assert!(LatLng::new(90.0, 180.0).is_ok());
        assert!(LatLng::new(-90.0, -180.0).is_ok());
    }

    #[test]
    fn error_message_reads_well() {
        assert_eq!(GeoError::LatitudeOutOfRange(95.0).to_string(), "latitude 95 is out of range -90..=90");
    }

    #[test]
    fn haversine_known_distances() {
        let a = LatLng::new(0.0, 0.0).unwrap();
        let b = LatLng::new(0.0, 1.0).unwrap();
        // One degree of arc on the mean sphere: 2*pi*R/360.
        let expected = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        assert!((a.haversine_m(b) - expected).abs() < 1e-6);
        assert_eq!(a.haversine_m(a), 0.0);
        let n = LatLng::new(90.0, 0.0).unwrap();
        let s = LatLng::new(-90.0, 0.0).unwrap();
        assert!((n.haversine_m(s) - EARTH_RADIUS_M * std::f64::consts::PI).abs() < 1e-6);
    }

    #[test]
    fn converts_to_coord_with_x_as_longitude() {
        let c: Coord<f64> = LatLng::new(34.36, 107.37).unwrap().into();
        assert_eq!(c, Coord { x: 107.37, y: 34.36 });
    }
}
