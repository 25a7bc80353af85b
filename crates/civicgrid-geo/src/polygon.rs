//! Polygon helpers for building and describing grids: rectangles, areas, centroids and [lon, lat] rings.

use geo::{Area, Centroid, Coord, LineString, MapCoords, Polygon};

use crate::latlng::EARTH_RADIUS_M;
use crate::{GeoError, LatLng};

/// An axis-aligned rectangle in degrees as a polygon whose exterior ring is
/// closed and runs counter-clockwise (the GeoJSON convention for exteriors).
pub fn rect(min_lon: f64, min_lat: f64, max_lon: f64, max_lat: f64) -> Polygon<f64> {
    Polygon::new(
        LineString::from(vec![
            (min_lon, min_lat),
            (max_lon, min_lat),
            (max_lon, max_lat),
            (min_lon, max_lat),
            (min_lon, min_lat),
        ]),
        vec![],
    )
}

/// Approximate area in square metres, holes subtracted.
///
/// The polygon is projected equirectangularly around the latitude of its
/// centroid (x = R·λ·cos φ₀, y = R·φ) and measured in the plane. For
/// district-sized grids (a few kilometres) the error is far below a percent,
/// which is all a grid's displayed area needs; it is not suitable for
/// country-sized shapes.
pub fn area_m2(polygon: &Polygon<f64>) -> f64 {
    let Some(center) = polygon.centroid() else {
        return 0.0;
    };
    let k = EARTH_RADIUS_M.to_radians();
    let cos_lat0 = center.y().to_radians().cos();
    let projected = polygon.map_coords(|c| Coord { x: c.x * k * cos_lat0, y: c.y * k });
    projected.unsigned_area()
}

/// The area-weighted centroid in degrees, or `None` for an empty polygon
/// (or one whose centroid would not be a valid position).
///
/// Computed in plain degrees, which is accurate enough for placing a grid's
/// label or map pin.
pub fn centroid(polygon: &Polygon<f64>) -> Option<LatLng> {
    let c = polygon.centroid()?;
    LatLng::new(c.y(), c.x()).ok()
}

/// The exterior ring as `[lon, lat]` pairs (GeoJSON order), closing
/// coordinate included.
pub fn ring_lonlat(polygon: &Polygon<f64>) -> Vec<[f64; 2]> {
    polygon.exterior().0.iter().map(|c| [c.x, c.y]).collect()
}

/// Builds a hole-free polygon from `[lon, lat]` pairs, closing the ring if
/// the last point does not repeat the first.
///
/// Rejects non-finite numbers, coordinates outside the valid latitude and
/// longitude ranges, and rings with fewer than 3 distinct points (which
/// enclose no area).
pub fn polygon_from_ring(ring: &[[f64; 2]]) -> Result<Polygon<f64>, GeoError> {
    for &[lon, lat] in ring {
        // LatLng::new already has the right checks and messages.
        LatLng::new(lat, lon)?;
    }
    // Count distinct points by exact bit pattern; adding 0.0 folds -0.0 into
    // 0.0 so the two zeros count as one point.
    let mut distinct: Vec<(u64, u64)> =
        ring.iter().map(|&[lon, lat]| ((lon + 0.0).to_bits(), (lat + 0.0).to_bits())).collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 3 {
        return Err(GeoError::InvalidPolygon(format!("ring has {} distinct points, needs at least 3", distinct.len())));
    }
    let mut coords: Vec<Coord<f64>> = ring.iter().map(|&[x, y]| Coord { x, y }).collect();
    if coords.first() != coords.last() {
        coords.push(coords[0]);
    }
    Ok(Polygon::new(LineString::new(coords), vec![]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

    use super::*;
    use geo::Winding;

    #[test]
    fn rect_is_closed_and_counter_clockwise() {
        let p = rect(107.0, 34.0, 107.1, 34.1);
        assert!(p.exterior().is_closed());
        assert_eq!(p.exterior().0.len(), 5);
        assert!(p.exterior().is_ccw());
    }

    #[test]
    fn area_of_a_one_km_square_near_baoji() {
        // Build a square of about 1 km × 1 km: 1 km is 1000 / (R·π/180)
        // degrees of latitude, and that divided by cos φ degrees of longitude.
        let lat0: f64 = 34.36;
        let dlat = 1000.0 / EARTH_RADIUS_M.to_radians();
        let dlon = dlat / lat0.to_radians().cos();
        let p = rect(107.37, lat0 - dlat / 2.0, 107.37 + dlon, lat0 + dlat / 2.0);
        let a = area_m2(&p);
        assert!((a - 1_000_000.0).abs() < 1_000.0, "{a}");
    }

    #[test]
    fn area_subtracts_holes() {
        let outer = rect(0.0, 0.0, 0.02, 0.02);
        let hole = rect(0.005, 0.005, 0.015, 0.015);
        let with_hole = Polygon::new(outer.exterior().clone(), vec![hole.exterior().clone()]);
        let expected = area_m2(&outer) - area_m2(&hole);
        assert!((area_m2(&with_hole) - expected).abs() / expected < 1e-3);
    }

    #[test]
    fn centroid_of_rect() {
        let c = centroid(&rect(107.0, 34.0, 108.0, 35.0)).unwrap();
        assert!((c.lat() - 34.5).abs() < 1e-12 && (c.lon() - 107.5).abs() < 1e-12);
        assert_eq!(centroid(&Polygon::new(LineString::new(vec![]), vec![])), None);
    }

    #[test]
    fn ring_round_trip() {
        let p = rect(1.0, 2.0, 3.0, 4.0);
        let ring = ring_lonlat(&p);
        assert_eq!(ring[0], [1.0, 2.0]);
        assert_eq!(ring.len(), 5);
        assert_eq!(polygon_from_ring(&ring).unwrap(), p);
        // An open ring is closed for the caller.
        assert_eq!(polygon_from_ring(&ring[..4]).unwrap(), p);
    }

    #[test]
    fn polygon_from_ring_rejects_bad_rings() {
        assert!(matches!(polygon_from_ring(&[[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]), Err(GeoError::InvalidPolygon(_))));
        assert!(matches!(
            polygon_from_ring(&[[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [-0.0, 0.0]]),
            Err(GeoError::InvalidPolygon(_))
        ));
        assert_eq!(polygon_from_ring(&[[0.0, 0.0], [1.0, f64::NAN], [1.0, 1.0]]), Err(GeoError::NotFinite));
        assert_eq!(polygon_from_ring(&[[0.0, 0.0], [1.0, 91.0], [1.0, 1.0]]), Err(GeoError::LatitudeOutOfRange(91.0)));
        assert_eq!(
            polygon_from_ring(&[[0.0, 0.0], [181.0, 1.0], [1.0, 1.0]]),
            Err(GeoError::LongitudeOutOfRange(181.0))
        );
    }
}
