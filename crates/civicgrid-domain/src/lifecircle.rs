//! The 15-minute life circle check (GB 50180-2018): which facility
//! categories a home must reach within 5, 10 and 15 minutes on foot, and
//! whether a place meets each requirement given its walking times.
//!
//! The table is data (`data/life-circles.csv`, replaceable with
//! [`LifeCircles::parse`]), so a district can adopt its own list.

use crate::facility::FacilityCategory;
use serde::Serialize;

/// The life-circle levels: 5, 10 and 15 minutes on foot.
pub const LEVELS: [u32; 3] = [5, 10, 15];

const STANDARD_CSV: &str = include_str!("../data/life-circles.csv");

/// One requirement: a facility of `category` within `minutes` on foot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Requirement {
    pub minutes: u32,
    pub category: FacilityCategory,
}

/// How a place stands against one requirement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Outcome {
    pub minutes: u32,
    pub category: FacilityCategory,
    /// Minutes to the nearest facility of the category; `None` when none is
    /// within the walking distance the engine searched.
    pub nearest_minutes: Option<f64>,
    pub met: bool,
}

/// Why a life-circle table is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("life-circle table, line {line}: {reason}")]
pub struct LifeCircleError {
    pub line: usize,
    pub reason: String,
}

/// The requirements, in level order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifeCircles {
    requirements: Vec<Requirement>,
}

impl LifeCircles {
    /// CivicGrid's reading of GB 50180-2018 (see the data file).
    pub fn standard() -> Self {
        // A test parses the embedded file, so this fallback is never taken in a release.
        Self::parse(STANDARD_CSV).unwrap_or(LifeCircles { requirements: Vec::new() })
    }

    /// Parses `minutes,category` lines; `#` starts a comment. Minutes are 5,
    /// 10 or 15; a category appears once.
    pub fn parse(csv: &str) -> Result<Self, LifeCircleError> {
        let mut requirements: Vec<Requirement> = Vec::new();
        for (i, raw) in csv.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let bad = |reason: String| LifeCircleError { line: i + 1, reason };
            let (m, c) = line.split_once(',').ok_or_else(|| bad("expected minutes,category".into()))?;
            let minutes: u32 = m.trim().parse().map_err(|_| bad(format!("{m:?} is not a number of minutes")))?;
            if !LEVELS.contains(&minutes) {
                return Err(bad(format!("{minutes} is not a life-circle level (5, 10 or 15 minutes)")));
            }
            let category: FacilityCategory = c.trim().parse().map_err(bad)?;
            if requirements.iter().any(|r| r.category == category) {
                return Err(bad(format!("{category} is required twice")));
            }
            requirements.push(Requirement { minutes, category });
        }
        if requirements.is_empty() {
            return Err(LifeCircleError { line: 0, reason: "no requirements".into() });
        }
        requirements.sort_by_key(|r| r.minutes);
        Ok(LifeCircles { requirements })
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Every requirement checked against `nearest_minutes(category)`.
    pub fn check(&self, nearest_minutes: impl Fn(FacilityCategory) -> Option<f64>) -> Vec<Outcome> {
        self.requirements
            .iter()
            .map(|r| {
                let nearest = nearest_minutes(r.category).filter(|m| m.is_finite());
                Outcome {
                    minutes: r.minutes,
                    category: r.category,
                    nearest_minutes: nearest,
                    met: nearest.is_some_and(|m| m <= f64::from(r.minutes)),
                }
            })
            .collect()
    }
}

impl Default for LifeCircles {
    fn default() -> Self {
        Self::standard()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_table_parses_and_covers_every_level() {
        let t = LifeCircles::standard();
        assert_eq!(t, LifeCircles::parse(STANDARD_CSV).expect("the embedded table parses"));
        for level in LEVELS {
            assert!(t.requirements().iter().any(|r| r.minutes == level), "level {level}");
        }
        assert!(t.requirements().windows(2).all(|w| w[0].minutes <= w[1].minutes));
    }

    #[test]
    fn a_place_meets_what_it_reaches_in_time() {
        let t = LifeCircles::parse("5,kindergarten\n15,clinic\n10,park").expect("parses");
        let outcomes = t.check(|c| match c {
            FacilityCategory::Kindergarten => Some(4.9),
            FacilityCategory::Clinic => Some(15.0),
            FacilityCategory::Park => Some(f64::INFINITY),
            _ => None,
        });
        let got: Vec<(u32, &str, bool)> = outcomes.iter().map(|o| (o.minutes, o.category.as_str(), o.met)).collect();
        assert_eq!(got, [(5, "kindergarten", true), (10, "park", false), (15, "clinic", true)]);
        assert_eq!(outcomes[1].nearest_minutes, None, "beyond the search is not a number of minutes");
    }

    #[test]
    fn bad_tables_are_refused_with_the_line() {
        for (csv, needle) in [
            ("7,park", "not a life-circle level"),
            ("5,spa", "unknown"),
            ("5,park\n10,park", "twice"),
            ("five,park", "not a number"),
            ("# nothing", "no requirements"),
            ("5 park", "minutes,category"),
        ] {
            let e = LifeCircles::parse(csv).expect_err(csv);
            assert!(e.to_string().contains(needle), "{csv}: {e}");
        }
    }
}
