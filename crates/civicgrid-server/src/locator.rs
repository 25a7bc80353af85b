//! The in-memory answer to "which grid holds this point": an R-tree over the
//! current grids, with the names of every unit up the tree.

use civicgrid_domain::{Level, UnitCode};
use civicgrid_geo::{GridIndex, LatLng, polygon_from_ring};
use civicgrid_store::{Store, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug)]
pub struct Locator {
    index: GridIndex<UnitCode>,
    names: BTreeMap<UnitCode, String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UnitRef {
    pub code: String,
    pub name: String,
}

/// The grid holding a point and its community, street and district.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Located {
    pub grid: UnitRef,
    pub community: UnitRef,
    pub street: UnitRef,
    pub district: UnitRef,
}

impl Locator {
    pub async fn load(store: &dyn Store) -> Result<Self, StoreError> {
        let mut names = BTreeMap::new();
        let mut grids = Vec::new();
        for level in Level::ALL {
            for unit in store.units(level, None).await? {
                if level == Level::Grid
                    && let Some(ring) = &unit.boundary
                {
                    let poly =
                        polygon_from_ring(ring).map_err(|e| StoreError::Corrupt(format!("grid {}: {e}", unit.code)))?;
                    grids.push((unit.code.clone(), poly));
                }
                names.insert(unit.code, unit.name);
            }
        }
        let index = GridIndex::build(grids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Locator { index, names })
    }

    fn unit_ref(&self, grid: &UnitCode, level: Level) -> Option<UnitRef> {
        let code = grid.at_level(level)?;
        let name = self.names.get(&code)?.clone();
        Some(UnitRef { code: code.to_string(), name })
    }

    /// The grid holding `p`, or `None` outside every grid of the district.
    pub fn locate(&self, p: LatLng) -> Option<Located> {
        let grid = self.index.locate(p)?;
        Some(Located {
            grid: self.unit_ref(grid, Level::Grid)?,
            community: self.unit_ref(grid, Level::Community)?,
            street: self.unit_ref(grid, Level::Street)?,
            district: self.unit_ref(grid, Level::District)?,
        })
    }

    /// The code of the grid holding `p`.
    pub fn grid_of(&self, p: LatLng) -> Option<&UnitCode> {
        self.index.locate(p)
    }

    pub fn index(&self) -> &GridIndex<UnitCode> {
        &self.index
    }

    pub fn name(&self, code: &UnitCode) -> Option<&str> {
        self.names.get(code).map(String::as_str)
    }
}
