//! Coordinate reference systems met in Chinese map data (WGS-84, GCJ-02, BD-09) and conversions between them.
//!
//! GCJ-02 ("Mars coordinates") is WGS-84 plus a deliberate, smooth,
//! non-linear offset of a few hundred metres, applied only inside China.
//! BD-09 is Baidu's further offset on top of GCJ-02. Positions reported by
//! Chinese phones and map SDKs arrive in one of these, so the server turns
//! them into WGS-84 before deciding which grid they fall in.
//!
//! Both offsets are public knowledge; the constants below are the ones every
//! open implementation uses, so results agree with AMap and Baidu to well
//! under a metre.

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use crate::{GeoError, LatLng};

/// Which coordinate reference system a raw `(lat, lon)` pair is expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Crs {
    /// GPS / international maps; the system everything is stored in.
    #[default]
    Wgs84,
    /// Chinese national offset system used by AMap, Tencent and Apple Maps in China.
    Gcj02,
    /// Baidu's system, GCJ-02 with a second offset.
    Bd09,
}

impl Crs {
    /// The lower-case name accepted by [`FromStr`].
    pub fn as_str(self) -> &'static str {
        match self {
            Crs::Wgs84 => "wgs84",
            Crs::Gcj02 => "gcj02",
            Crs::Bd09 => "bd09",
        }
    }

    /// Converts a position given in this system into a validated WGS-84
    /// [`LatLng`].
    ///
    /// The input is range-checked first so that garbage is reported as
    /// garbage instead of being pushed through the trigonometry.
    pub fn to_wgs84(self, lat: f64, lon: f64) -> Result<LatLng, GeoError> {
        let input = LatLng::new(lat, lon)?;
        let (lat, lon) = match self {
            Crs::Wgs84 => return Ok(input),
            Crs::Gcj02 => gcj02_to_wgs84(lat, lon),
            Crs::Bd09 => {
                let (glat, glon) = bd09_to_gcj02(lat, lon);
                gcj02_to_wgs84(glat, glon)
            }
        };
        // The offsets are smaller than a hundredth of a degree and vanish
        // outside China, so this can only fail for inputs already on the
        // edge of the valid range.
        LatLng::new(lat, lon)
    }

    /// Expresses a WGS-84 position in this system, returning `(lat, lon)`.
    pub fn from_wgs84(self, p: LatLng) -> (f64, f64) {
        let (lat, lon) = (p.lat(), p.lon());
        match self {
            Crs::Wgs84 => (lat, lon),
            Crs::Gcj02 => wgs84_to_gcj02(lat, lon),
            Crs::Bd09 => {
                let (glat, glon) = wgs84_to_gcj02(lat, lon);
                gcj02_to_bd09(glat, glon)
            }
        }
    }
}

impl FromStr for Crs {
    type Err = GeoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "wgs84" => Ok(Crs::Wgs84),
            "gcj02" => Ok(Crs::Gcj02),
            "bd09" => Ok(Crs::Bd09),
            _ => Err(GeoError::UnknownCrs(s.to_owned())),
        }
    }
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Semi-major axis of the Krasovsky 1940 ellipsoid, which GCJ-02 is defined on.
const KRASOVSKY_A: f64 = 6_378_245.0;
/// First eccentricity squared of the Krasovsky 1940 ellipsoid. Usually
/// published as 0.00669342162296594323; the last digits are beyond f64
/// precision, so they are dropped without changing the value.
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943;
/// Baidu's scale factor for its angular perturbation.
const X_PI: f64 = PI * 3000.0 / 180.0;
/// Stop the GCJ-02 inversion once a step moves less than this many degrees
/// (about a centimetre).
const INVERSE_TOLERANCE_DEG: f64 = 1e-7;
/// The inversion converges in 2–4 steps; the cap only protects against
/// oscillation right on the China boundary where the offset switches off.
const INVERSE_MAX_STEPS: usize = 30;
/// Stop refining BD-09 → GCJ-02 below this step (about 0.1 mm); tighter than
/// the GCJ-02 tolerance so the two steps together stay within it.
const BD_INVERSE_TOLERANCE_DEG: f64 = 1e-9;

/// The rough rectangle inside which GCJ-02 and BD-09 apply. It is the
/// bounding box every open implementation uses; being a box it also covers
/// some neighbouring countries, which is what the Chinese map providers do
/// too.
fn out_of_china(lat: f64, lon: f64) -> bool {
    !((72.004..=137.8347).contains(&lon) && (0.8293..=55.8271).contains(&lat))
}

/// The published GCJ-02 offset polynomial for latitude, in metres on the
/// Krasovsky ellipsoid, taking coordinates relative to (105 E, 35 N).
fn offset_lat(x: f64, y: f64) -> f64 {
    let mut d = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    d += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    d += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    d += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    d
}

/// The published GCJ-02 offset polynomial for longitude, see [`offset_lat`].
fn offset_lon(x: f64, y: f64) -> f64 {
    let mut d = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    d += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    d += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    d += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    d
}

/// WGS-84 → GCJ-02, `(lat, lon)` in and out.
pub(crate) fn wgs84_to_gcj02(lat: f64, lon: f64) -> (f64, f64) {
    if out_of_china(lat, lon) {
        return (lat, lon);
    }
    let dlat_m = offset_lat(lon - 105.0, lat - 35.0);
    let dlon_m = offset_lon(lon - 105.0, lat - 35.0);
    // Turn the metre offsets into degrees using the ellipsoid's meridional
    // and prime-vertical radii of curvature at this latitude.
    let rad_lat = lat.to_radians();
    let magic = 1.0 - KRASOVSKY_EE * rad_lat.sin().powi(2);
    let sqrt_magic = magic.sqrt();
    let meridian_radius = KRASOVSKY_A * (1.0 - KRASOVSKY_EE) / (magic * sqrt_magic);
    let parallel_radius = KRASOVSKY_A / sqrt_magic * rad_lat.cos();
    let dlat = dlat_m * 180.0 / (meridian_radius * PI);
    let dlon = dlon_m * 180.0 / (parallel_radius * PI);
    (lat + dlat, lon + dlon)
}

/// GCJ-02 → WGS-84 by fixed-point iteration.
///
/// The widespread one-step shortcut (subtract the offset evaluated at the
/// GCJ-02 point) is off by up to a couple of metres, enough to put a point
/// on a grid boundary into the wrong grid. The offset changes slowly with
/// position, so `w ← w − (gcj(w) − g)` contracts quickly to the exact inverse.
pub(crate) fn gcj02_to_wgs84(lat: f64, lon: f64) -> (f64, f64) {
    if out_of_china(lat, lon) {
        return (lat, lon);
    }
    let (mut wlat, mut wlon) = (lat, lon);
    for _ in 0..INVERSE_MAX_STEPS {
        let (glat, glon) = wgs84_to_gcj02(wlat, wlon);
        let (elat, elon) = (glat - lat, glon - lon);
        wlat -= elat;
        wlon -= elon;
        if elat.abs() < INVERSE_TOLERANCE_DEG && elon.abs() < INVERSE_TOLERANCE_DEG {
            break;
        }
    }
    (wlat, wlon)
}

/// GCJ-02 → BD-09 with Baidu's formula: a small radial and angular
/// perturbation in (lon, lat) polar form, then a fixed shift.
pub(crate) fn gcj02_to_bd09(lat: f64, lon: f64) -> (f64, f64) {
    // Like GCJ-02, Baidu's offset is only meaningful for Chinese data; keeping
    // the same gate means all three systems coincide abroad.
    if out_of_china(lat, lon) {
        return (lat, lon);
    }
    let (x, y) = (lon, lat);
    let z = x.hypot(y) + 0.000_02 * (y * X_PI).sin();
    let theta = y.atan2(x) + 0.000_003 * (x * X_PI).cos();
    (z * theta.sin() + 0.006, z * theta.cos() + 0.0065)
}

/// BD-09 → GCJ-02: Baidu's published inverse formula as a first guess, then
/// refined until it really inverts [`gcj02_to_bd09`].
///
/// The published inverse alone is off by up to about 3e-7 degrees (a few
/// centimetres); refining costs a couple of extra evaluations and keeps the
/// whole BD-09 → WGS-84 chain as exact as the GCJ-02 step.
pub(crate) fn bd09_to_gcj02(lat: f64, lon: f64) -> (f64, f64) {
    if out_of_china(lat, lon) {
        return (lat, lon);
    }
    let (mut glat, mut glon) = bd09_to_gcj02_baidu(lat, lon);
    for _ in 0..INVERSE_MAX_STEPS {
        let (blat, blon) = gcj02_to_bd09(glat, glon);
        let (elat, elon) = (blat - lat, blon - lon);
        glat -= elat;
        glon -= elon;
        if elat.abs() < BD_INVERSE_TOLERANCE_DEG && elon.abs() < BD_INVERSE_TOLERANCE_DEG {
            break;
        }
    }
    (glat, glon)
}

/// Baidu's closed-form approximate inverse of [`gcj02_to_bd09`].
fn bd09_to_gcj02_baidu(lat: f64, lon: f64) -> (f64, f64) {
    let (x, y) = (lon - 0.0065, lat - 0.006);
    let z = x.hypot(y) - 0.000_02 * (y * X_PI).sin();
    let theta = y.atan2(x) - 0.000_003 * (x * X_PI).cos();
    (z * theta.sin(), z * theta.cos())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: (f64, f64), b: (f64, f64), tol: f64) -> bool {
        (a.0 - b.0).abs() < tol && (a.1 - b.1).abs() < tol
    }

    #[test]
    fn parses_names_case_insensitively() {
        assert_eq!("WGS84".parse::<Crs>(), Ok(Crs::Wgs84));
        assert_eq!("gcj02".parse::<Crs>(), Ok(Crs::Gcj02));
        assert_eq!("Bd09".parse::<Crs>(), Ok(Crs::Bd09));
        assert_eq!("epsg3857".parse::<Crs>(), Err(GeoError::UnknownCrs("epsg3857".to_owned())));
        for crs in [Crs::Wgs84, Crs::Gcj02, Crs::Bd09] {
            assert_eq!(crs.as_str().parse::<Crs>(), Ok(crs));
            assert_eq!(crs.to_string(), crs.as_str());
        }
        assert_eq!(Crs::default(), Crs::Wgs84);
    }

    // BD-09 → GCJ-02 is not reachable through the public API on its own, so
    // the published pairs for it are checked here.
    #[test]
    fn bd09_to_gcj02_matches_published_pairs() {
        // wandergis/coordtransform, README.md usage example:
        // bd09togcj02(116.404, 39.915) = [116.39762729119315, 39.90865673957631] (lon, lat).
        // That project uses Baidu's closed-form inverse, which this crate
        // reproduces exactly before refining it.
        let expected = (39.908_656_739_576_31, 116.397_627_291_193_15);
        let got = bd09_to_gcj02_baidu(39.915, 116.404);
        assert!(close(got, expected, 1e-12), "{got:?}");
        // The refined inverse moves it by less than the closed form's error.
        let got = bd09_to_gcj02(39.915, 116.404);
        assert!(close(got, expected, 1e-6), "{got:?}");
        // hujiulong/gcoord, test/unit/crs/BD09.spec.ts, "BD09 to GCJ02":
        // [123, 45] -> [122.99363304, 44.99365430] (lon, lat), checked with toBeCloseTo(_, 5).
        let got = bd09_to_gcj02(45.0, 123.0);
        assert!(close(got, (44.993_654_30, 122.993_633_04), 5e-6), "{got:?}");
    }

    #[test]
    fn bd09_inverse_is_exact() {
        for &(lat, lon) in &[(34.36, 107.37), (39.9, 116.4), (22.5, 114.0), (45.0, 123.0)] {
            let (blat, blon) = gcj02_to_bd09(lat, lon);
            let back = bd09_to_gcj02(blat, blon);
            assert!(close(back, (lat, lon), 1e-9), "{back:?}");
        }
    }
}
