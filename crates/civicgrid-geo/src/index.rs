//! Spatial index answering "which grid holds this point".
//!
//! Grids are polygons that tile a district. Lookups first ask an R-tree of
//! bounding boxes for candidates and then run an exact point-in-polygon test
//! on each, so a lookup costs roughly `log n` plus a handful of exact tests.

use geo::coordinate_position::CoordPos;
use geo::{BoundingRect, Coord, CoordinatePosition, LineString, Polygon, Rect};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use crate::{GeoError, LatLng};

/// An R-tree entry: a polygon's bounding box and the polygon's position in `items`.
type Entry = GeomWithData<Rectangle<[f64; 2]>, usize>;

/// Polygons keyed by `K`, indexed for point location.
#[derive(Debug, Clone)]
pub struct GridIndex<K> {
    items: Vec<(K, Polygon<f64>)>,
    tree: RTree<Entry>,
    bounds: Option<Rect<f64>>,
}

impl<K: Clone + Ord> GridIndex<K> {
    /// Validates every polygon and builds the index.
    ///
    /// Each ring (exterior and holes) must have at least 4 coordinates, be
    /// closed and contain only finite numbers. Errors name the offending
    /// polygon by its position in `items`, since `K` need not be printable.
    pub fn build(items: Vec<(K, Polygon<f64>)>) -> Result<Self, GeoError> {
        let mut entries = Vec::with_capacity(items.len());
        let mut bounds: Option<Rect<f64>> = None;
        for (i, (_, polygon)) in items.iter().enumerate() {
            validate_ring(i, "exterior ring", polygon.exterior())?;
            for (h, hole) in polygon.interiors().iter().enumerate() {
                validate_ring(i, &format!("hole {h}"), hole)?;
            }
            // A validated exterior has coordinates, so a bounding box exists;
            // the error arm only keeps this free of unwrap.
            let rect = polygon
                .bounding_rect()
                .ok_or_else(|| GeoError::InvalidPolygon(format!("polygon at index {i} is empty")))?;
            bounds = Some(match bounds {
                None => rect,
                Some(b) => Rect::new(
                    Coord { x: b.min().x.min(rect.min().x), y: b.min().y.min(rect.min().y) },
                    Coord { x: b.max().x.max(rect.max().x), y: b.max().y.max(rect.max().y) },
                ),
            });
            let envelope = Rectangle::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]);
            entries.push(GeomWithData::new(envelope, i));
        }
        Ok(Self { items, tree: RTree::bulk_load(entries), bounds })
    }

    /// The key of the polygon holding `p`, using the R-tree.
    ///
    /// A point strictly inside a polygon gets that polygon. A point only on
    /// boundaries (a shared edge or corner) gets the smallest key among the
    /// polygons it touches, so every point of the covered area has exactly
    /// one, reproducible answer. Points in holes or outside everything get
    /// `None`.
    pub fn locate(&self, p: LatLng) -> Option<&K> {
        let c = Coord::from(p);
        // The query box is degenerate (a point); rstar treats touching as
        // intersecting, so polygons whose box edge passes through `p` are
        // still candidates, which the boundary rule needs.
        let query = AABB::from_point([c.x, c.y]);
        let candidates = self.tree.locate_in_envelope_intersecting(&query).map(|entry| entry.data);
        self.choose(c, candidates)
    }

    /// Same answer as [`GridIndex::locate`] by testing every polygon; the
    /// baseline for benchmarks and the oracle for tests.
    pub fn locate_naive(&self, p: LatLng) -> Option<&K> {
        self.choose(Coord::from(p), 0..self.items.len())
    }

    /// Number of polygons in the index.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the index holds no polygons.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bounding box of all polygons, `None` when empty.
    pub fn bounds(&self) -> Option<Rect<f64>> {
        self.bounds
    }

    /// The tie-breaking rule shared by both lookups, so they cannot drift
    /// apart: interior hits beat boundary hits (this only matters if polygons
    /// overlap), and within each class the smallest key wins. Candidate order
    /// therefore does not matter, which is what lets the R-tree return them
    /// in any order.
    fn choose(&self, c: Coord<f64>, candidates: impl Iterator<Item = usize>) -> Option<&K> {
        let mut inside: Option<&K> = None;
        let mut boundary: Option<&K> = None;
        for i in candidates {
            let (key, polygon) = &self.items[i];
            let slot = match polygon.coordinate_position(&c) {
                CoordPos::Inside => &mut inside,
                CoordPos::OnBoundary => &mut boundary,
                CoordPos::Outside => continue,
            };
            if slot.is_none_or(|best| key < best) {
                *slot = Some(key);
            }
        }
        inside.or(boundary)
    }
}

/// Checks one ring of polygon `index` and explains the first problem found.
fn validate_ring(index: usize, what: &str, ring: &LineString<f64>) -> Result<(), GeoError> {
    let invalid = |why: String| GeoError::InvalidPolygon(format!("polygon at index {index}: {why}"));
    if ring.0.len() < 4 {
        return Err(invalid(format!("{what} has {} coordinates, needs at least 4 (a closed triangle)", ring.0.len())));
    }
    if let Some(bad) = ring.0.iter().find(|c| !c.x.is_finite() || !c.y.is_finite()) {
        return Err(invalid(format!("{what} has a non-finite coordinate ({}, {})", bad.x, bad.y)));
    }
    // geo-types closes rings on construction today; the check stays so the
    // index does not silently depend on that.
    if !ring.is_closed() {
        return Err(invalid(format!("{what} is not closed")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x0: f64, y0: f64) -> Polygon<f64> {
        crate::rect(x0, y0, x0 + 1.0, y0 + 1.0)
    }

    #[test]
    fn build_rejects_short_and_non_finite_rings() {
        // geo-types closes rings in Polygon::new and exterior_mut, so an
        // unclosed ring cannot be built to exercise that check; a ring that
        // closes into fewer than 4 coordinates can.
        let short = Polygon::new(LineString::from(vec![(0.0, 0.0), (1.0, 0.0), (0.0, 0.0)]), vec![]);
        let err = GridIndex::build(vec![(1, square(0.0, 0.0)), (2, short)]).err();
        assert!(matches!(&err, Some(GeoError::InvalidPolygon(m)) if m.contains("index 1")), "{err:?}");

        let nan = crate::rect(0.0, 0.0, f64::NAN, 1.0);
        let err = GridIndex::build(vec![(1, nan)]).err();
        assert!(matches!(&err, Some(GeoError::InvalidPolygon(m)) if m.contains("non-finite")), "{err:?}");

        let bad_hole = Polygon::new(
            crate::rect(0.0, 0.0, 4.0, 4.0).exterior().clone(),
            vec![LineString::from(vec![(1.0, 1.0), (2.0, 1.0)])],
        );
        let err = GridIndex::build(vec![(1, bad_hole)]).err();
        assert!(matches!(&err, Some(GeoError::InvalidPolygon(m)) if m.contains("hole 0")), "{err:?}");
    }

    #[test]
    fn empty_index() {
        let index = GridIndex::<u32>::build(Vec::new());
        assert!(index.is_ok());
        if let Ok(index) = index {
            assert!(index.is_empty());
            assert_eq!(index.len(), 0);
            assert_eq!(index.bounds(), None);
            assert_eq!(index.locate(LatLng::new(0.0, 0.0).unwrap_or_else(|e| panic!("{e}"))), None);
        }
    }
}
