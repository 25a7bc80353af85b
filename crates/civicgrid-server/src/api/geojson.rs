//! Boundaries as GeoJSON (RFC 7946): a FeatureCollection of units, each
//! feature's properties carrying its code, name and counts.

use civicgrid_domain::{OrgUnit, UnitCode};
use civicgrid_geo::{Crs, LatLng};
use civicgrid_store::Stats;
use serde_json::{Value, json};

fn ring_in(ring: &[[f64; 2]], crs: Crs) -> Vec<[f64; 2]> {
    ring.iter()
        .map(|&[lon, lat]| match LatLng::new(lat, lon) {
            Ok(p) if crs != Crs::Wgs84 => {
                let (lat, lon) = crs.from_wgs84(p);
                [lon, lat]
            }
            _ => [lon, lat],
        })
        .collect()
}

pub fn collection(units: &[OrgUnit], stats: &[(UnitCode, Stats)], crs: Crs) -> Value {
    let features: Vec<Value> = units
        .iter()
        .filter_map(|u| {
            let ring = u.boundary.as_ref()?;
            let s = stats.iter().find(|(c, _)| *c == u.code).map(|(_, s)| s.clone()).unwrap_or_default();
            Some(json!({
                "type": "Feature",
                "id": u.code,
                "geometry": { "type": "Polygon", "coordinates": [ring_in(ring, crs)] },
                "properties": {
                    "code": u.code,
                    "name": u.name,
                    "level": u.level(),
                    "parent": u.parent(),
                    "valid_from": u.validity.from.to_string(),
                    "stats": s,
                },
            }))
        })
        .collect();
    json!({ "type": "FeatureCollection", "crs_name": crs.as_str(), "features": features })
}
