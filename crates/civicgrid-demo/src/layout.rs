//! The synthetic geometry of the demo: community blocks that tile the urban area
//! around 虢镇 (34.36 N, 107.37 E), each cut into columns and rows of grids that
//! tile it without gaps or overlaps.

use civicgrid_domain::Ring;
use rand::Rng;

/// A rectangle in degrees: `[min_lon, min_lat, max_lon, max_lat]`.
pub type Rect = [f64; 4];

/// The demo urban area: about 7.3 km east-west by 4.4 km north-south.
pub const AREA: Rect = [107.345, 34.340, 107.425, 34.380];

pub fn ring(r: Rect) -> Ring {
    vec![[r[0], r[1]], [r[2], r[1]], [r[2], r[3]], [r[0], r[3]], [r[0], r[1]]]
}

/// Cuts `[lo, hi]` into `n` parts whose sizes vary by up to ±`jitter` of the mean.
pub fn cuts(rng: &mut impl Rng, lo: f64, hi: f64, n: usize, jitter: f64) -> Vec<f64> {
    let weights: Vec<f64> = (0..n).map(|_| 1.0 + rng.random_range(-jitter..=jitter)).collect();
    let sum: f64 = weights.iter().sum();
    let mut out = Vec::with_capacity(n + 1);
    let mut at = lo;
    out.push(lo);
    for w in &weights[..n - 1] {
        at += (hi - lo) * w / sum;
        out.push(at);
    }
    // The last edge is exactly `hi`, so neighbours share it to the bit.
    out.push(hi);
    out
}

/// Lays `counts.len()` blocks over `area` in `rows` rows, each row cut at its own places.
pub fn blocks(rng: &mut impl Rng, area: Rect, per_row: &[usize]) -> Vec<Rect> {
    let ys = cuts(rng, area[1], area[3], per_row.len(), 0.15);
    let mut out = Vec::new();
    for (row, &n) in per_row.iter().enumerate() {
        let xs = cuts(rng, area[0], area[2], n, 0.3);
        for c in 0..n {
            out.push([xs[c], ys[row], xs[c + 1], ys[row + 1]]);
        }
    }
    out
}

/// Cuts a community block into exactly `n` grids: columns of nearly equal counts,
/// each column cut into its own rows. Returns the grids column by column, south to
/// north, so consecutive grids in a column are neighbours.
pub fn grids(rng: &mut impl Rng, block: Rect, n: usize) -> Vec<(usize, Rect)> {
    let (w, h) = ((block[2] - block[0]) * 0.825, block[3] - block[1]);
    let cols = ((n as f64 * w / h).sqrt().round() as usize).clamp(1, n);
    let xs = cuts(rng, block[0], block[2], cols, 0.25);
    let mut out = Vec::with_capacity(n);
    for c in 0..cols {
        let in_col = n / cols + usize::from(c < n % cols);
        let ys = cuts(rng, block[1], block[3], in_col, 0.3);
        for r in 0..in_col {
            out.push((c, [xs[c], ys[r], xs[c + 1], ys[r + 1]]));
        }
    }
    out
}

/// A random point in the middle part of `r` (never on an edge).
pub fn point_in(rng: &mut impl Rng, r: Rect, margin: f64) -> (f64, f64) {
    let (dx, dy) = ((r[2] - r[0]) * margin, (r[3] - r[1]) * margin);
    (rng.random_range(r[1] + dy..r[3] - dy), rng.random_range(r[0] + dx..r[2] - dx))
}

/// Splits `total` over `weights` in proportion, rounding so the parts sum to `total`
/// and no part is below `min`.
pub fn apportion(total: usize, weights: &[f64], min: usize) -> Vec<usize> {
    let sum: f64 = weights.iter().sum();
    let spare = total - min * weights.len();
    let exact: Vec<f64> = weights.iter().map(|w| spare as f64 * w / sum).collect();
    let mut parts: Vec<usize> = exact.iter().map(|e| min + e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    // Largest remainders first; ties broken by position so the result is stable.
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())).then(a.cmp(&b)));
    let short = total - parts.iter().sum::<usize>();
    for &i in order.iter().take(short) {
        parts[i] += 1;
    }
    parts
}
