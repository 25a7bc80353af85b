//! Units of the four-level organisation tree, with their boundaries and the
//! period for which each version of a unit is valid.

use crate::code::{Level, UnitCode};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// A closed exterior ring of `[longitude, latitude]` pairs in WGS-84 degrees.
pub type Ring = Vec<[f64; 2]>;

/// The days on which one version of a unit is in force: `from` inclusive, `to`
/// exclusive; an open `to` means "current". A re-drawn grid keeps its old
/// version with `to` set, and gains a new one from that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validity {
    pub from: Date,
    pub to: Option<Date>,
}

impl Validity {
    pub fn starting(from: Date) -> Self {
        Validity { from, to: None }
    }

    pub fn contains(&self, day: Date) -> bool {
        self.from <= day && self.to.is_none_or(|to| day < to)
    }

    pub fn is_current(&self) -> bool {
        self.to.is_none()
    }
}

/// One version of a district, street, community or grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgUnit {
    pub code: UnitCode,
    pub name: String,
    pub validity: Validity,
    /// Streets may have no drawn boundary; communities and grids always have one.
    pub boundary: Option<Ring>,
}

impl OrgUnit {
    pub fn level(&self) -> Level {
        self.code.level()
    }

    pub fn parent(&self) -> Option<UnitCode> {
        self.code.parent()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn a_redrawn_grid_has_two_versions_that_do_not_overlap() {
        let old = Validity { from: date(2020, 1, 1), to: Some(date(2026, 3, 1)) };
        let new = Validity::starting(date(2026, 3, 1));
        assert!(old.contains(date(2026, 2, 28)));
        assert!(!old.contains(date(2026, 3, 1)));
        assert!(new.contains(date(2026, 3, 1)));
        assert!(!old.is_current());
        assert!(new.is_current());
    }
}
