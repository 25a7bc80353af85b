//! Checks the WGS-84 / GCJ-02 / BD-09 conversions against coordinate pairs published by other open implementations, and for round-trip exactness.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a clear test failure")]

use civicgrid_geo::{Crs, GeoError, LatLng};

fn ll(lat: f64, lon: f64) -> LatLng {
    LatLng::new(lat, lon).unwrap()
}

/// Asserts `got` is within `tol` degrees of `want` in both coordinates.
#[track_caller]
fn assert_close(got: (f64, f64), want: (f64, f64), tol: f64) {
    assert!((got.0 - want.0).abs() < tol && (got.1 - want.1).abs() < tol, "got {got:?}, want {want:?} within {tol}");
}

/// (WGS-84 lat, lon, GCJ-02 lat, lon).
///
/// The first three come from googollee/eviltransform, python/test.py
/// (`TESTS`, labelled shanghai, shenzhen, beijing; the same table is in
/// go/transform_test.go), checked there with assertAlmostEqual to 6 decimal
/// places. The fourth is the usage example in wandergis/coordtransform,
/// README.md: wgs84togcj02(116.404, 39.915) = [116.41024449916938,
/// 39.91640428150164] (lon, lat), printed to full double precision.
const WGS_GCJ: [(f64, f64, f64, f64); 4] = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),
    (39.915, 116.404, 39.91640428150164, 116.41024449916938),
];

#[test]
fn wgs84_to_gcj02_matches_published_pairs() {
    for (wlat, wlon, glat, glon) in WGS_GCJ {
        // 5e-7 is what assertAlmostEqual(places=6) accepts.
        assert_close(Crs::Gcj02.from_wgs84(ll(wlat, wlon)), (glat, glon), 5e-7);
    }
}

#[test]
fn gcj02_to_wgs84_inverts_published_pairs() {
    // The same pairs read backwards. eviltransform only asks its exact
    // inverse for 0.5 m; this crate's iteration is held to 1e-6 degrees
    // (about 0.1 m).
    for (wlat, wlon, glat, glon) in WGS_GCJ {
        let got = Crs::Gcj02.to_wgs84(glat, glon).unwrap();
        assert_close((got.lat(), got.lon()), (wlat, wlon), 1e-6);
    }
    // hujiulong/gcoord, test/unit/crs/GCJ02.spec.ts, "GCJ02 to WGS84":
    // [123, 45] -> [122.99395597, 44.99804071] (lon, lat), toBeCloseTo(_, 5).
    let got = Crs::Gcj02.to_wgs84(45.0, 123.0).unwrap();
    assert_close((got.lat(), got.lon()), (44.99804071, 122.99395597), 5e-6);
}

#[test]
fn gcj02_to_bd09_matches_published_pairs() {
    // from_wgs84 is the only public way into BD-09, so start from the exact
    // WGS-84 preimage of each published GCJ-02 point.
    let gcj_to_bd = |glat: f64, glon: f64| Crs::Bd09.from_wgs84(Crs::Gcj02.to_wgs84(glat, glon).unwrap());
    // hujiulong/gcoord, test/unit/crs/GCJ02.spec.ts, "GCJ02 to BD09":
    // [123, 45] -> [123.00636499, 45.00636899] (lon, lat), toBeCloseTo(_, 5).
    assert_close(gcj_to_bd(45.0, 123.0), (45.00636899, 123.00636499), 5e-6);
    // wandergis/coordtransform, README.md usage example:
    // gcj02tobd09(116.404, 39.915) = [116.41036949371029, 39.92133699351021] (lon, lat).
    assert_close(gcj_to_bd(39.915, 116.404), (39.92133699351021, 116.41036949371029), 1e-6);
}

#[test]
fn bd09_to_wgs84_matches_published_pair() {
    // hujiulong/gcoord, test/unit/crs/BD09.spec.ts, "BD09 to WGS84":
    // [123, 45] -> [122.98762210, 44.99171540] (lon, lat), toBeCloseTo(_, 5).
    let got = Crs::Bd09.to_wgs84(45.0, 123.0).unwrap();
    assert_close((got.lat(), got.lon()), (44.99171540, 122.98762210), 5e-6);
}

/// Points spread over China, Baoji first.
const CHINA: [(f64, f64); 9] = [
    (34.36, 107.37),     // Baoji
    (39.9042, 116.4074), // Beijing
    (31.2304, 121.4737), // Shanghai
    (22.5431, 114.0579), // Shenzhen
    (43.8256, 87.6168),  // Urumqi
    (45.8038, 126.5350), // Harbin
    (29.6520, 91.1721),  // Lhasa
    (18.2528, 109.5119), // Sanya
    (34.3416, 108.9398), // Xi'an
];

#[test]
fn round_trips_are_exact_to_1e_minus_6() {
    for (lat, lon) in CHINA {
        let p = ll(lat, lon);
        for crs in [Crs::Wgs84, Crs::Gcj02, Crs::Bd09] {
            let (clat, clon) = crs.from_wgs84(p);
            let back = crs.to_wgs84(clat, clon).unwrap();
            assert_close((back.lat(), back.lon()), (lat, lon), 1e-6);
        }
    }
}

#[test]
fn offsets_inside_china_are_a_few_hundred_metres() {
    // Guards against a conversion silently degenerating to the identity.
    let p = ll(34.36, 107.37);
    for crs in [Crs::Gcj02, Crs::Bd09] {
        let (lat, lon) = crs.from_wgs84(p);
        let d = p.haversine_m(ll(lat, lon));
        assert!((50.0..2_000.0).contains(&d), "{crs}: {d} m");
    }
}

#[test]
fn points_outside_china_are_unchanged() {
    for (lat, lon) in [(51.5074, -0.1278), (35.6762, 139.6503), (-33.8688, 151.2093), (0.0, 0.0)] {
        let p = ll(lat, lon);
        for crs in [Crs::Gcj02, Crs::Bd09] {
            assert_eq!(crs.from_wgs84(p), (lat, lon), "{crs}");
            assert_eq!(crs.to_wgs84(lat, lon).unwrap(), p, "{crs}");
        }
    }
}

#[test]
fn to_wgs84_validates_before_converting() {
    for crs in [Crs::Wgs84, Crs::Gcj02, Crs::Bd09] {
        assert_eq!(crs.to_wgs84(95.0, 107.0), Err(GeoError::LatitudeOutOfRange(95.0)));
        assert_eq!(crs.to_wgs84(34.0, 200.0), Err(GeoError::LongitudeOutOfRange(200.0)));
        assert_eq!(crs.to_wgs84(f64::NAN, 107.0), Err(GeoError::NotFinite));
    }
}
