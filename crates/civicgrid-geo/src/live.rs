//! The live index of moving points (responders): "the k nearest points
//! within r metres that hold the required bits and reported recently",
//! exact, with positions updated in place as they move.
//!
//! **Layout** — a uniform grid over a stated area (a latitude–longitude
//! box, the district with a margin) on its local equirectangular plane:
//! metres east and north of the south-west corner, true to scale at the
//! box's middle latitude. Cells are square, [`DEFAULT_CELL_M`] unless
//! chosen, in one dense row-major `Vec`, with a bitmap of the cells that
//! hold points so that an empty one costs a bit, not a memory load. A cell
//! holds 24-byte records — position within the cell (`f32`), bits, report
//! time, slot — contiguous, so a query reads a cell as one run of memory;
//! a crowded cell (32 points) splits into 2 × 2 sub-cells, each its own
//! run, and merges back under 8, so that a dense core is read in quarter
//! cells while the outskirts keep whole ones. Per slot, struct-of-arrays
//! columns keep where the record sits and, in one 32-byte entry, what
//! measuring needs (id, position, cosine of the latitude). An update finds
//! its record in O(1) (the id → slot map is a hash map); a move to another
//! cell is a swap-remove and a push (a split or merge, amortised over the
//! moves that fill or empty the cell). Points outside the area go to one
//! extra list that every query scans; queries from outside the area scan
//! everything ([`LiveIndex::nearest_naive`]).
//!
//! **Exact answers** — a query visits the cell holding it, then rings of
//! cells outward, skipping any cell or sub-cell whose rectangle lies
//! farther than the current bound and stopping when the next ring does. Distances on the
//! plane only prune; every point kept is measured with the formula of
//! [`LatLng::haversine_m`] and the answer sorted by (metres, id), so it is
//! the brute-force answer, which the tests check on random data. Pruning is
//! safe because for two points of the area the plane distance `D` brackets
//! the great-circle distance `d` (on the same sphere as `haversine_m`):
//!
//! - `d ≥ α·D`: `asin y ≥ y`, `sin² x ≥ x²(1 − x²/3)` and `cos φ ≥ c_min`
//!   give `α² = min(1 − Δφ²/12, (c_min/c₀)²(1 − Δλ²/12))`, with `Δφ`, `Δλ`
//!   the box's spans in radians, `c_min` the least cosine of its latitudes
//!   and `c₀` the cosine at its middle latitude;
//! - `d ≤ β·D(1 + y²)` with `y = β·D/2R < ½`: `sin x ≤ x`,
//!   `asin y ≤ y/√(1 − y²) ≤ y(1 + y²)` and `β = max(1, c_max/c₀)`.
//!
//! For a 40 km × 30 km district at 34° N `α` is 0.998 and `β` 1.002. The
//! k smallest upper bounds bound the k-th distance; a point is skipped only
//! when its lower bound exceeds that bound (or the radius) by more than any
//! rounding: `D` is computed in `f32` from positions within a cell of side
//! `s`, off by less than `3·10⁻⁷ (s + D)`, and the squared bound `b²`
//! becomes `b²(1 + 10⁻⁴) + (s/1000 + 10⁻⁵ m)²`, several times that.

use std::collections::{BinaryHeap, HashMap};
use std::f64::consts::PI;

use crate::latlng::haversine_with_cos;
use crate::{EARTH_RADIUS_M, GeoError, LatLng};

/// The default cell side in metres: a few hundred metres holds tens of
/// points in a dense urban core and keeps the rings few at the outskirts.
pub const DEFAULT_CELL_M: f64 = 250.0;

/// The most cells an index may have (2²¹: 48 MiB of empty cells), so that a
/// mistaken cell size fails at construction rather than exhausting memory.
pub const MAX_CELLS: usize = 1 << 21;

/// The widest area an index may cover, in degrees of latitude and of longitude.
pub const MAX_SPAN_DEG: f64 = 45.0;

/// Slack on every squared pruning bound `b²`: `b²(1 + SLACK_REL2) +
/// (SLACK_PER_CELL·s + SLACK_M)²` for cells of side `s`; far above the
/// rounding of the `f32` plane distances (module documentation).
const SLACK_REL2: f64 = 1e-4;
const SLACK_PER_CELL: f64 = 1e-3;
const SLACK_M: f64 = 1e-5;

const M_PER_DEG_LAT: f64 = EARTH_RADIUS_M * PI / 180.0;

/// A crowded cell splits into `SUB × SUB` sub-cells when a point arrives
/// and it holds `SPLIT_AT` already, and merges back under `MERGE_BELOW`
/// (2 × 2 at 32 did best on `benches/live.rs` among 2 × 2 to 4 × 4 and
/// thresholds from 16 to 128).
const SUB: usize = 2;
const SPLIT_AT: usize = 32;
const MERGE_BELOW: usize = 8;

/// The records of one cell: one list, or one per sub-cell (row-major from
/// the south-west) once crowded.
#[derive(Debug, Clone)]
enum Cell {
    Flat(Vec<Record>),
    Split { len: usize, subs: Box<[Vec<Record>; SUB * SUB]> },
}

impl Cell {
    fn len(&self) -> usize {
        match self {
            Cell::Flat(records) => records.len(),
            Cell::Split { len, .. } => *len,
        }
    }

    fn records(&self, sub: usize) -> &Vec<Record> {
        match self {
            Cell::Flat(records) => records,
            Cell::Split { subs, .. } => &subs[sub],
        }
    }

    fn records_mut(&mut self, sub: usize) -> &mut Vec<Record> {
        match self {
            Cell::Flat(records) => records,
            Cell::Split { subs, .. } => &mut subs[sub],
        }
    }
}

/// One point as a cell stores it: what a query reads, in 24 bytes.
#[derive(Debug, Clone, Copy)]
struct Record {
    /// Metres east of the cell's west edge on the plane.
    x: f32,
    /// Metres north of the cell's south edge on the plane.
    y: f32,
    bits: u32,
    slot: u32,
    at: i64,
}

/// A point's id and position, with [`LatLng::cos_lat`] kept so that
/// measuring it costs two sines and no cosine.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Point {
    pos: LatLng,
    cos_lat: f64,
    id: u64,
}

impl Point {
    fn new(id: u64, pos: LatLng) -> Self {
        Self { pos, cos_lat: pos.cos_lat(), id }
    }
}

/// Moving points keyed by a `u64` id, each with a WGS-84 position, a `u32`
/// of caller-defined bits (on duty, available, skills…) and the time of its
/// last report (caller's clock, e.g. unix milliseconds).
#[derive(Debug, Clone)]
pub struct LiveIndex {
    south: f64,
    west: f64,
    north: f64,
    east: f64,
    m_per_deg_lon: f64,
    cell_m: f64,
    cols: usize,
    rows: usize,
    /// `α` of the module documentation.
    lower: f64,
    /// `β` of the module documentation.
    upper: f64,
    /// `cols * rows` grid cells, row-major from the south-west, then the
    /// points outside the area (never split).
    cells: Vec<Cell>,
    /// Which grid cells hold points: bit `x % 64` of word `y * words_per_row + x / 64`.
    occupied: Vec<u64>,
    words_per_row: usize,
    /// Per slot, what measuring a point needs.
    points: Vec<Point>,
    /// Per slot, where its record is: cell, sub-cell (0 in a flat cell), index.
    cell_of: Vec<u32>,
    sub_of: Vec<u8>,
    index_in_cell: Vec<u32>,
    slots: HashMap<u64, u32>,
}

impl LiveIndex {
    /// An empty index over the box from `south_west` to `north_east` with
    /// cells of [`DEFAULT_CELL_M`].
    pub fn new(south_west: LatLng, north_east: LatLng) -> Result<Self, GeoError> {
        Self::with_cell_m(south_west, north_east, DEFAULT_CELL_M)
    }

    /// An empty index over the box from `south_west` to `north_east` with
    /// square cells of `cell_m` metres.
    ///
    /// The box must have positive extent, must not cross the antimeridian,
    /// must span at most [`MAX_SPAN_DEG`] each way and must make at most
    /// [`MAX_CELLS`] cells. Points and queries outside it are still
    /// answered exactly, only slower; give the district a margin.
    pub fn with_cell_m(south_west: LatLng, north_east: LatLng, cell_m: f64) -> Result<Self, GeoError> {
        if !(cell_m.is_finite() && cell_m > 0.0) {
            return Err(GeoError::NotPositive { what: "cell size", value: cell_m });
        }
        let (south, west, north, east) = (south_west.lat(), south_west.lon(), north_east.lat(), north_east.lon());
        if south >= north || west >= east {
            return Err(GeoError::InvalidArea(format!(
                "the south-west corner ({south}, {west}) must lie south and west of the north-east one ({north}, {east})"
            )));
        }
        if north - south > MAX_SPAN_DEG || east - west > MAX_SPAN_DEG {
            return Err(GeoError::InvalidArea(format!(
                "the box spans more than {MAX_SPAN_DEG}° of latitude or longitude"
            )));
        }
        let (phi_s, phi_n) = (south.to_radians(), north.to_radians());
        let c0 = ((phi_s + phi_n) / 2.0).cos();
        let c_min = phi_s.cos().min(phi_n.cos());
        let c_max = if phi_s <= 0.0 && phi_n >= 0.0 { 1.0 } else { phi_s.cos().max(phi_n.cos()) };
        let (span_lat, span_lon) = (phi_n - phi_s, (east - west).to_radians());
        let alpha2 = (1.0 - span_lat * span_lat / 12.0).min((c_min / c0).powi(2) * (1.0 - span_lon * span_lon / 12.0));
        let m_per_deg_lon = M_PER_DEG_LAT * c0;
        let cols = ((east - west) * m_per_deg_lon / cell_m).ceil().max(1.0);
        let rows = ((north - south) * M_PER_DEG_LAT / cell_m).ceil().max(1.0);
        if cols * rows > MAX_CELLS as f64 {
            return Err(GeoError::InvalidArea(format!(
                "cells of {cell_m} m make {cols} × {rows} cells, more than {MAX_CELLS}; choose larger cells"
            )));
        }
        let (cols, rows) = (cols as usize, rows as usize);
        let words_per_row = cols.div_ceil(64);
        Ok(Self {
            south,
            west,
            north,
            east,
            m_per_deg_lon,
            cell_m,
            cols,
            rows,
            lower: alpha2.sqrt(),
            upper: (c_max / c0).max(1.0),
            cells: vec![Cell::Flat(Vec::new()); cols * rows + 1],
            occupied: vec![0; words_per_row * rows],
            words_per_row,
            points: Vec::new(),
            cell_of: Vec::new(),
            sub_of: Vec::new(),
            index_in_cell: Vec::new(),
            slots: HashMap::new(),
        })
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The cell side in metres.
    pub fn cell_m(&self) -> f64 {
        self.cell_m
    }

    /// Position, bits and report time of `id`.
    pub fn get(&self, id: u64) -> Option<(LatLng, u32, i64)> {
        let slot = *self.slots.get(&id)? as usize;
        let r = self.record(slot);
        Some((self.points[slot].pos, r.bits, r.at))
    }

    /// Adds `id` or moves it to `pos` with `bits` and report time `at`; O(1)
    /// amortised. Reports are taken in the order given: an older `at` than
    /// the stored one still replaces it.
    ///
    /// # Panics
    ///
    /// When adding a point to an index already holding 2³² points.
    pub fn upsert(&mut self, id: u64, pos: LatLng, bits: u32, at: i64) {
        let (x, y, cell) = self.place(pos);
        match self.slots.get(&id) {
            Some(&slot) => {
                let s = slot as usize;
                self.points[s] = Point::new(id, pos);
                let record = Record { x, y, bits, slot, at };
                if self.cell_of[s] as usize == cell && usize::from(self.sub_of[s]) == self.sub_for(cell, &record) {
                    *self.record_mut(s) = record;
                } else {
                    self.take_out(s);
                    self.put_in(s, cell, record);
                }
            }
            None => {
                let slot = u32::try_from(self.points.len()).expect("slots are u32");
                self.slots.insert(id, slot);
                self.points.push(Point::new(id, pos));
                self.cell_of.push(0);
                self.sub_of.push(0);
                self.index_in_cell.push(0);
                self.put_in(slot as usize, cell, Record { x, y, bits, slot, at });
            }
        }
    }

    /// Replaces the bits of `id`, keeping its position and report time;
    /// false when there is no such point.
    pub fn set_bits(&mut self, id: u64, bits: u32) -> bool {
        let Some(&slot) = self.slots.get(&id) else { return false };
        self.record_mut(slot as usize).bits = bits;
        true
    }

    /// Removes `id`; false when there is no such point.
    pub fn remove(&mut self, id: u64) -> bool {
        let Some(slot) = self.slots.remove(&id) else { return false };
        let s = slot as usize;
        self.take_out(s);
        // The last slot moves into the hole; its record and map entry follow.
        self.points.swap_remove(s);
        self.cell_of.swap_remove(s);
        self.sub_of.swap_remove(s);
        self.index_in_cell.swap_remove(s);
        if s < self.points.len() {
            self.record_mut(s).slot = slot;
            self.slots.insert(self.points[s].id, slot);
        }
        true
    }

    /// The `k` nearest points to `at` within `radius_m` metres (inclusive)
    /// whose bits hold every bit of `required` and whose report time is at
    /// least `fresh_since`, as (id, metres) sorted by metres and then id.
    /// Distances are [`LatLng::haversine_m`]'s; the answer equals
    /// [`LiveIndex::nearest_naive`]'s. A negative or NaN radius finds nothing;
    /// an infinite one finds the `k` nearest anywhere.
    pub fn nearest(&self, at: LatLng, k: usize, radius_m: f64, required: u32, fresh_since: i64) -> Vec<(u64, f64)> {
        if k == 0 || radius_m.is_nan() || radius_m < 0.0 || self.is_empty() {
            return Vec::new();
        }
        if !self.contains(at) {
            return self.nearest_naive(at, k, radius_m, required, fresh_since);
        }
        let (qx, qy) = self.project(at);
        let mut search = Search::new(self, (qx, qy), k, radius_m, required, fresh_since);
        for r in self.cells[self.cols * self.rows].records(0) {
            if search.eligible(r) {
                search.offer_exact(r.slot, at.haversine_m(self.points[r.slot as usize].pos));
            }
        }
        let (cx, cy) = self.cell_xy(qx, qy);
        let s = self.cell_m;
        for j in 0usize.. {
            if j > 0 {
                // Cells not visited yet lie beyond one of the sides of the
                // square of rings 0..j that still has cells past it.
                let mut nearest_side = f64::INFINITY;
                if cx >= j {
                    nearest_side = nearest_side.min(qx - (cx + 1 - j) as f64 * s);
                }
                if cx + j < self.cols {
                    nearest_side = nearest_side.min((cx + j) as f64 * s - qx);
                }
                if cy >= j {
                    nearest_side = nearest_side.min(qy - (cy + 1 - j) as f64 * s);
                }
                if cy + j < self.rows {
                    nearest_side = nearest_side.min((cy + j) as f64 * s - qy);
                }
                if nearest_side == f64::INFINITY {
                    break;
                }
                let side = nearest_side.max(0.0);
                if side * side > search.prune_d2 {
                    break;
                }
            }
            for y in cy.saturating_sub(j)..=(cy + j).min(self.rows - 1) {
                let dy = self.gap(qy, y);
                let dy2 = dy * dy;
                if dy2 > search.prune_d2 {
                    continue;
                }
                if y + j == cy || y == cy + j {
                    // The ring's whole row: its occupied cells, each checked
                    // (cheaper than cutting the row to the bound first).
                    self.scan_row(y, cx.saturating_sub(j), (cx + j).min(self.cols - 1), dy2, &mut search);
                } else {
                    if cx >= j && self.is_occupied(cx - j, y) {
                        self.scan_cell(cx - j, y, dy2, &mut search);
                    }
                    if cx + j < self.cols && self.is_occupied(cx + j, y) {
                        self.scan_cell(cx + j, y, dy2, &mut search);
                    }
                }
            }
        }
        search.finish(at)
    }

    /// The same answer as [`LiveIndex::nearest`] by measuring every point;
    /// the oracle for tests and the baseline for benchmarks.
    pub fn nearest_naive(
        &self,
        at: LatLng,
        k: usize,
        radius_m: f64,
        required: u32,
        fresh_since: i64,
    ) -> Vec<(u64, f64)> {
        let mut found: Vec<(u64, f64)> = (0..self.points.len())
            .filter(|&slot| {
                let r = self.record(slot);
                r.bits & required == required && r.at >= fresh_since
            })
            .map(|slot| (self.points[slot].id, at.haversine_m(self.points[slot].pos)))
            .filter(|&(_, d)| d <= radius_m)
            .collect();
        found.sort_unstable_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        found.truncate(k);
        found
    }

    /// Whether `p` lies in the indexed area (edges included).
    pub fn contains(&self, p: LatLng) -> bool {
        (self.south..=self.north).contains(&p.lat()) && (self.west..=self.east).contains(&p.lon())
    }

    /// Scans the occupied cells of row `y` from column `from` to `to`.
    fn scan_row(&self, y: usize, from: usize, to: usize, dy2: f64, search: &mut Search<'_>) {
        let words = &self.occupied[y * self.words_per_row + from / 64..=y * self.words_per_row + to / 64];
        for (w, &word) in (from / 64..).zip(words) {
            let mut word = word;
            if w == from / 64 {
                word &= u64::MAX << (from % 64);
            }
            if w == to / 64 {
                word &= u64::MAX >> (63 - to % 64);
            }
            while word != 0 {
                self.scan_cell(w * 64 + word.trailing_zeros() as usize, y, dy2, search);
                word &= word - 1;
            }
        }
    }

    /// Offers the eligible points of cell (`x`, `y`) to `search`, unless the
    /// cell, `dy2` away north or south on the plane, is beyond the bound; the
    /// sub-cells of a split cell nearest the query first, each checked so.
    fn scan_cell(&self, x: usize, y: usize, dy2: f64, search: &mut Search<'_>) {
        let (qx, qy) = search.at;
        let dx = self.gap(qx, x);
        if dx * dx + dy2 > search.prune_d2 {
            return;
        }
        // The query relative to the cell, as the records are.
        let (qx, qy) = (qx - x as f64 * self.cell_m, qy - y as f64 * self.cell_m);
        match &self.cells[y * self.cols + x] {
            Cell::Flat(records) => scan_records(records, (qx as f32, qy as f32), search),
            Cell::Split { subs, .. } => {
                let side = self.cell_m / SUB as f64;
                let sub_gap = |q: f64, i: usize| (i as f64 * side - q).max(q - (i + 1) as f64 * side).max(0.0);
                let (hx, hy) =
                    (((qx / side).max(0.0) as usize).min(SUB - 1), ((qy / side).max(0.0) as usize).min(SUB - 1));
                for ring in 0..SUB {
                    for sy in hy.saturating_sub(ring)..=(hy + ring).min(SUB - 1) {
                        for sx in hx.saturating_sub(ring)..=(hx + ring).min(SUB - 1) {
                            if sx.abs_diff(hx).max(sy.abs_diff(hy)) != ring {
                                continue;
                            }
                            let records = &subs[sy * SUB + sx];
                            let (dx, dy) = (sub_gap(qx, sx), sub_gap(qy, sy));
                            if !records.is_empty() && dx * dx + dy * dy <= search.prune_d2 {
                                scan_records(records, (qx as f32, qy as f32), search);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The plane distance from `q` to cell `i` along one axis.
    fn gap(&self, q: f64, i: usize) -> f64 {
        let s = self.cell_m;
        (i as f64 * s - q).max(q - (i + 1) as f64 * s).max(0.0)
    }

    fn is_occupied(&self, x: usize, y: usize) -> bool {
        self.occupied[y * self.words_per_row + x / 64] & (1 << (x % 64)) != 0
    }

    fn project(&self, p: LatLng) -> (f64, f64) {
        ((p.lon() - self.west) * self.m_per_deg_lon, (p.lat() - self.south) * M_PER_DEG_LAT)
    }

    /// The column and row of a plane position inside the area; the east and
    /// north edges belong to the last column and row.
    fn cell_xy(&self, x: f64, y: f64) -> (usize, usize) {
        (((x / self.cell_m) as usize).min(self.cols - 1), ((y / self.cell_m) as usize).min(self.rows - 1))
    }

    /// Position within its cell, and cell, of `p`; for points outside the
    /// area, no position and the cell past the grid.
    fn place(&self, p: LatLng) -> (f32, f32, usize) {
        if !self.contains(p) {
            return (0.0, 0.0, self.cols * self.rows);
        }
        let (x, y) = self.project(p);
        let (cx, cy) = self.cell_xy(x, y);
        let (x, y) = (x - cx as f64 * self.cell_m, y - cy as f64 * self.cell_m);
        (x as f32, y as f32, cy * self.cols + cx)
    }

    /// The sub-cell a record belongs in, in `cell` as it is now.
    fn sub_for(&self, cell: usize, record: &Record) -> usize {
        match self.cells[cell] {
            Cell::Flat(_) => 0,
            Cell::Split { .. } => {
                let side = (self.cell_m / SUB as f64) as f32;
                let (sx, sy) = (((record.x / side) as usize).min(SUB - 1), ((record.y / side) as usize).min(SUB - 1));
                sy * SUB + sx
            }
        }
    }

    fn record(&self, slot: usize) -> &Record {
        let (cell, sub, i) = (self.cell_of[slot] as usize, usize::from(self.sub_of[slot]), self.index_in_cell[slot]);
        &self.cells[cell].records(sub)[i as usize]
    }

    fn record_mut(&mut self, slot: usize) -> &mut Record {
        let (cell, sub, i) = (self.cell_of[slot] as usize, usize::from(self.sub_of[slot]), self.index_in_cell[slot]);
        &mut self.cells[cell].records_mut(sub)[i as usize]
    }

    fn take_out(&mut self, slot: usize) {
        let (cell, sub, i) = (self.cell_of[slot] as usize, usize::from(self.sub_of[slot]), self.index_in_cell[slot]);
        let records = self.cells[cell].records_mut(sub);
        records.swap_remove(i as usize);
        if let Some(moved) = records.get(i as usize) {
            self.index_in_cell[moved.slot as usize] = i;
        }
        if let Cell::Split { len, .. } = &mut self.cells[cell] {
            *len -= 1;
            if *len < MERGE_BELOW {
                self.merge(cell);
            }
        }
        if self.cells[cell].len() == 0 && cell < self.cols * self.rows {
            self.occupied[cell / self.cols * self.words_per_row + cell % self.cols / 64] &=
                !(1 << (cell % self.cols % 64));
        }
    }

    fn put_in(&mut self, slot: usize, cell: usize, record: Record) {
        if cell < self.cols * self.rows {
            if matches!(&self.cells[cell], Cell::Flat(records) if records.len() >= SPLIT_AT) {
                self.split(cell);
            }
            self.occupied[cell / self.cols * self.words_per_row + cell % self.cols / 64] |=
                1 << (cell % self.cols % 64);
        }
        let sub = self.sub_for(cell, &record);
        if let Cell::Split { len, .. } = &mut self.cells[cell] {
            *len += 1;
        }
        let records = self.cells[cell].records_mut(sub);
        self.cell_of[slot] = cell as u32;
        self.sub_of[slot] = sub as u8;
        self.index_in_cell[slot] = records.len() as u32;
        records.push(record);
    }

    fn split(&mut self, cell: usize) {
        let Cell::Flat(records) = std::mem::replace(&mut self.cells[cell], Cell::Flat(Vec::new())) else { return };
        self.cells[cell] = Cell::Split { len: records.len(), subs: Box::default() };
        for record in records {
            let (slot, sub) = (record.slot as usize, self.sub_for(cell, &record));
            let to = self.cells[cell].records_mut(sub);
            self.sub_of[slot] = sub as u8;
            self.index_in_cell[slot] = to.len() as u32;
            to.push(record);
        }
    }

    fn merge(&mut self, cell: usize) {
        let Cell::Split { len, subs } = std::mem::replace(&mut self.cells[cell], Cell::Flat(Vec::new())) else {
            return;
        };
        let mut records = Vec::with_capacity(len);
        for record in subs.into_iter().flatten() {
            self.sub_of[record.slot as usize] = 0;
            self.index_in_cell[record.slot as usize] = records.len() as u32;
            records.push(record);
        }
        self.cells[cell] = Cell::Flat(records);
    }
}

/// Offers the eligible records of a cell or sub-cell to `search`, `q` being
/// the query relative to the cell.
#[inline]
fn scan_records(records: &[Record], (qx, qy): (f32, f32), search: &mut Search<'_>) {
    for r in records {
        let (dx, dy) = (r.x - qx, r.y - qy);
        let d2 = dx * dx + dy * dy;
        // Without a branch on eligibility, which is a coin toss per
        // point: NaN fails the comparison below even with no bound.
        let d2 = if search.eligible(r) { d2 } else { f32::NAN };
        if d2 <= search.prune_d2_f32 {
            search.offer(r.slot, f64::from(d2));
        }
    }
}

/// The state of one query, in squared plane metres: the k smallest seen,
/// the pruning bound they give, and every point not pruned when it was seen.
struct Search<'a> {
    points: &'a [Point],
    /// The query on the plane.
    at: (f64, f64),
    k: usize,
    radius_m: f64,
    radius2: f64,
    required: u32,
    fresh_since: i64,
    /// `1/α²` and `β²` of the module documentation.
    inv_lower2: f64,
    upper2: f64,
    /// The absolute slack on a squared bound, in m².
    slack2: f64,
    /// The k smallest plane distances² seen as `f64` bits (the order of
    /// non-negative floats), largest on top; a point measured already
    /// enters as `(metres / β)²`, whose upper bound is at least its metres.
    nearest_d2: BinaryHeap<u64>,
    /// A point at a plane distance² beyond this is farther than the k-th
    /// nearest or the radius and is pruned: the smaller of the radius² and
    /// the k-th upper bound², with slack, times `1/α²`. Kept without
    /// square roots or divisions, which would stall every point after it.
    prune_d2: f64,
    prune_d2_f32: f32,
    /// (plane distance², slot, id) of every point not pruned when seen; a
    /// point measured already enters as `(metres / α)²`. Reading the id as
    /// the point is seen starts the fetch of its entry in `points` while the
    /// scan goes on, instead of one cache miss after another at the end.
    candidates: Vec<(f64, u32, u64)>,
}

impl<'a> Search<'a> {
    fn new(index: &'a LiveIndex, at: (f64, f64), k: usize, radius_m: f64, required: u32, fresh_since: i64) -> Self {
        let slack = SLACK_PER_CELL * index.cell_m + SLACK_M;
        let mut search = Self {
            points: &index.points,
            at,
            k,
            radius_m,
            radius2: radius_m * radius_m,
            required,
            fresh_since,
            inv_lower2: 1.0 / (index.lower * index.lower),
            upper2: index.upper * index.upper,
            slack2: slack * slack,
            nearest_d2: BinaryHeap::with_capacity(k.min(1024) + 1),
            prune_d2: 0.0,
            prune_d2_f32: 0.0,
            candidates: Vec::with_capacity(64),
        };
        search.set_bound2(search.radius2);
        search
    }

    #[inline]
    fn eligible(&self, r: &Record) -> bool {
        (r.bits & self.required == self.required) & (r.at >= self.fresh_since)
    }

    /// Prunes beyond a great-circle distance² of `metres2`, with slack.
    fn set_bound2(&mut self, metres2: f64) {
        self.prune_d2 = (metres2 * (1.0 + SLACK_REL2) + self.slack2) * self.inv_lower2;
        self.prune_d2_f32 = self.prune_d2 as f32;
    }

    /// A point measured already.
    fn offer_exact(&mut self, slot: u32, metres: f64) {
        let m2 = metres * metres;
        let lower2 = m2 * self.inv_lower2;
        if lower2 <= self.prune_d2 {
            self.candidates.push((lower2, slot, self.points[slot as usize].id));
            self.enter(m2 / self.upper2);
        }
    }

    /// A point at plane distance² `d2`, already found within the bound.
    #[inline]
    fn offer(&mut self, slot: u32, d2: f64) {
        self.candidates.push((d2, slot, self.points[slot as usize].id));
        self.enter(d2);
    }

    /// Keeps `d2` if among the k smallest, and tightens the bound when the k-th changes.
    fn enter(&mut self, d2: f64) {
        let bits = d2.to_bits();
        if self.nearest_d2.len() < self.k {
            self.nearest_d2.push(bits);
            if self.nearest_d2.len() < self.k {
                return;
            }
        } else if let Some(mut top) = self.nearest_d2.peek_mut()
            && bits < *top
        {
            *top = bits;
        } else {
            return;
        }
        if let Some(&top) = self.nearest_d2.peek() {
            self.set_bound2(upper_bound2(self.upper2, f64::from_bits(top)).min(self.radius2));
        }
    }

    /// Measures the candidates still within the bound and keeps the k nearest within the radius.
    fn finish(self, at: LatLng) -> Vec<(u64, f64)> {
        let cos_at = at.cos_lat();
        let mut found = Vec::with_capacity(self.k.min(self.candidates.len()));
        for &(d2, slot, id) in &self.candidates {
            if d2 <= self.prune_d2 {
                let p = &self.points[slot as usize];
                let d = haversine_with_cos(at, cos_at, p.pos, p.cos_lat);
                if d <= self.radius_m {
                    found.push((id, d));
                }
            }
        }
        found.sort_unstable_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        found.truncate(self.k);
        found
    }
}

/// The most a great-circle distance² can be between two points of the
/// area at plane distance² `d2`, for the area's `β²`.
fn upper_bound2(beta2: f64, d2: f64) -> f64 {
    let b2 = beta2 * d2;
    let y2 = b2 * (0.25 / (EARTH_RADIUS_M * EARTH_RADIUS_M));
    if y2 < 0.25 { b2 * (1.0 + y2) * (1.0 + y2) } else { (PI * EARTH_RADIUS_M).powi(2) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a clear test failure")]

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn ll(lat: f64, lon: f64) -> LatLng {
        LatLng::new(lat, lon).unwrap()
    }

    /// The plane distance brackets the haversine distance for any two points
    /// of the area, corners included, however wide or far north it is.
    #[test]
    fn plane_distance_brackets_great_circle_distance() {
        let boxes = [
            (34.22, 107.02, 34.50, 107.46),
            (60.0, 10.0, 75.0, 40.0),
            (-45.0, -80.0, 0.0, -35.0),
            (-10.0, 100.0, 12.0, 140.0),
            (80.0, -170.0, 89.9, -130.0),
        ];
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for (s, w, n, e) in boxes {
            let index = LiveIndex::with_cell_m(ll(s, w), ll(n, e), 50_000.0).unwrap();
            assert!(index.lower > 0.0 && index.lower < 1.0 && index.upper >= 1.0, "{:?}", (index.lower, index.upper));
            let corners = [ll(s, w), ll(s, e), ll(n, w), ll(n, e), ll((s + n) / 2.0, w), ll((s + n) / 2.0, e)];
            for i in 0..20_000 {
                let (p, q) = if i < 36 {
                    (corners[i % 6], corners[i / 6])
                } else {
                    let near = rng.random_bool(0.5);
                    let p = ll(rng.random_range(s..=n), rng.random_range(w..=e));
                    let q = if near {
                        ll(
                            (p.lat() + rng.random_range(-0.01..0.01)).clamp(s, n),
                            (p.lon() + rng.random_range(-0.01..0.01)).clamp(w, e),
                        )
                    } else {
                        ll(rng.random_range(s..=n), rng.random_range(w..=e))
                    };
                    (p, q)
                };
                let ((px, py), (qx, qy)) = (index.project(p), index.project(q));
                let plane = (px - qx).hypot(py - qy);
                let d = p.haversine_m(q);
                assert!(index.lower * plane <= d + 1e-9, "lower bound fails: {p:?} {q:?} {plane} {d}");
                assert!(
                    d * d <= upper_bound2(index.upper.powi(2), plane * plane) + 1e-9,
                    "upper bound fails: {p:?} {q:?} {plane} {d}"
                );
            }
        }
    }

    #[test]
    fn crowded_cells_split_and_merge_back() {
        let mut index = LiveIndex::new(ll(34.3, 107.2), ll(34.4, 107.3)).unwrap();
        let centre = ll(34.35, 107.25);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let near =
            |rng: &mut ChaCha8Rng| ll(34.35 + rng.random_range(0.0..0.002), 107.25 + rng.random_range(0.0..0.002));
        for id in 0..200 {
            index.upsert(id, near(&mut rng), 1, 0);
        }
        let split = |index: &LiveIndex| index.cells.iter().filter(|c| matches!(c, Cell::Split { .. })).count();
        assert!(index.cells.iter().map(Cell::len).max() > Some(SPLIT_AT));
        assert!(split(&index) > 0);
        for _ in 0..2_000 {
            index.upsert(rng.random_range(0..200), near(&mut rng), rng.random_range(0..2), 0);
            let q = near(&mut rng);
            assert_eq!(index.nearest(q, 5, 500.0, 1, 0), index.nearest_naive(q, 5, 500.0, 1, 0));
        }
        for id in 0..190 {
            assert!(index.remove(id));
        }
        assert_eq!(split(&index), 0);
        assert_eq!(index.nearest(centre, 20, 500.0, 0, 0), index.nearest_naive(centre, 20, 500.0, 0, 0));
        assert_eq!(index.nearest(centre, 20, 500.0, 0, 0).len(), 10);
    }

    #[test]
    fn district_bounds_are_tight() {
        let index = LiveIndex::new(ll(34.225, 107.022), ll(34.495, 107.458)).unwrap();
        assert!(index.lower > 0.998 && index.upper < 1.002, "{:?}", (index.lower, index.upper));
        assert_eq!((index.cols, index.rows), (161, 121));
    }
}
