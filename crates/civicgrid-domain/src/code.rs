//! Unit codes: the GB/T 2260 division code of a district extended by street,
//! community and grid numbers, one code per unit of the four-level tree.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The four levels of the organisation tree (四级联动).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    District,
    Street,
    Community,
    Grid,
}

impl Level {
    /// Number of digits of a code at this level: 6 (GB/T 2260) + 3 + 3 + 3.
    pub const fn code_len(self) -> usize {
        match self {
            Level::District => 6,
            Level::Street => 9,
            Level::Community => 12,
            Level::Grid => 15,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Level::District => "district",
            Level::Street => "street",
            Level::Community => "community",
            Level::Grid => "grid",
        }
    }

    /// The level's name in the notes the system writes (supervision notes).
    pub const fn name_zh(self) -> &'static str {
        match self {
            Level::District => "区级",
            Level::Street => "街道",
            Level::Community => "社区",
            Level::Grid => "网格",
        }
    }

    pub const fn child(self) -> Option<Level> {
        match self {
            Level::District => Some(Level::Street),
            Level::Street => Some(Level::Community),
            Level::Community => Some(Level::Grid),
            Level::Grid => None,
        }
    }

    pub const ALL: [Level; 4] = [Level::District, Level::Street, Level::Community, Level::Grid];
}

impl FromStr for Level {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL.into_iter().find(|l| l.as_str() == s).ok_or_else(|| CodeError::UnknownLevel(s.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("unit code {0:?} must contain only the digits 0-9")]
    NotDigits(String),
    #[error("unit code {0:?} has {1} digits; expected 6 (district), 9 (street), 12 (community) or 15 (grid)")]
    BadLength(String, usize),
    #[error("unit code {0:?} is not a county-level GB/T 2260 code (province 11-82, and the district part is not 00)")]
    NotCountyLevel(String),
    #[error("unit code {0:?} has a zero number at one of its levels")]
    ZeroPart(String),
    #[error("unknown level {0:?}; expected district, street, community or grid")]
    UnknownLevel(String),
}

/// A validated unit code, for example `610304` (陈仓区), `610304003` (千渭街道),
/// `610304003002` (铁道南社区), `610304003002007` (its grid 7).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UnitCode(String);

impl UnitCode {
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CodeError::NotDigits(s.to_owned()));
        }
        if !Level::ALL.iter().any(|l| l.code_len() == s.len()) {
            return Err(CodeError::BadLength(s.to_owned(), s.len()));
        }
        let province: u32 = s[0..2].parse().map_err(|_| CodeError::NotDigits(s.to_owned()))?;
        // GB/T 2260 provinces run from 11 (Beijing) to 82 (Macao); a county code
        // never ends in 00, which would denote a whole prefecture.
        if !(11..=82).contains(&province) || &s[2..4] == "00" || &s[4..6] == "00" {
            return Err(CodeError::NotCountyLevel(s.to_owned()));
        }
        if (6..s.len()).step_by(3).any(|i| &s[i..i + 3] == "000") {
            return Err(CodeError::ZeroPart(s.to_owned()));
        }
        Ok(UnitCode(s.to_owned()))
    }

    /// Builds the code of a child of `self` with the given 1..=999 number.
    pub fn child(&self, number: u16) -> Option<UnitCode> {
        self.level().child()?;
        if number == 0 || number > 999 {
            return None;
        }
        Some(UnitCode(format!("{}{number:03}", self.0)))
    }

    pub fn level(&self) -> Level {
        match self.0.len() {
            6 => Level::District,
            9 => Level::Street,
            12 => Level::Community,
            _ => Level::Grid,
        }
    }

    pub fn parent(&self) -> Option<UnitCode> {
        match self.level() {
            Level::District => None,
            _ => Some(UnitCode(self.0[..self.0.len() - 3].to_owned())),
        }
    }

    /// The code of the ancestor (or self) at `level`, if `level` is not below self.
    pub fn at_level(&self, level: Level) -> Option<UnitCode> {
        (level <= self.level()).then(|| UnitCode(self.0[..level.code_len()].to_owned()))
    }

    /// True when `other` is self or lies below it in the tree.
    pub fn contains(&self, other: &UnitCode) -> bool {
        other.0.starts_with(&self.0)
    }

    /// The number of this unit within its parent (the last three digits), or the
    /// whole division code for a district.
    pub fn number(&self) -> u32 {
        let tail = if self.level() == Level::District { &self.0[..] } else { &self.0[self.0.len() - 3..] };
        tail.parse().unwrap_or(0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for UnitCode {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UnitCode::parse(s)
    }
}

impl TryFrom<String> for UnitCode {
    type Error = CodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        UnitCode::parse(&s)
    }
}

impl From<UnitCode> for String {
    fn from(c: UnitCode) -> String {
        c.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_at_every_level_and_know_their_family() {
        for (s, level) in [
            ("610304", Level::District),
            ("610304003", Level::Street),
            ("610304003002", Level::Community),
            ("610304003002007", Level::Grid),
        ] {
            let c = UnitCode::parse(s).expect("valid code");
            assert_eq!(c.level(), level, "{s}");
            assert_eq!(c.to_string(), s);
        }
        let grid = UnitCode::parse("610304003002007").expect("valid");
        assert_eq!(grid.parent().expect("has parent").as_str(), "610304003002");
        assert_eq!(grid.at_level(Level::Street).expect("street").as_str(), "610304003");
        assert_eq!(grid.number(), 7);
        let street = UnitCode::parse("610304003").expect("valid");
        assert!(street.contains(&grid));
        assert!(!grid.contains(&street));
        assert_eq!(street.child(2).expect("child").as_str(), "610304003002");
        assert!(grid.child(1).is_none());
        assert!(street.child(0).is_none());
    }

    #[test]
    fn bad_codes_are_refused_with_a_reason() {
        type Expect = fn(&CodeError) -> bool;
        let cases: [(&str, Expect); 7] = [
            ("", |e| matches!(e, CodeError::NotDigits(_))),
            ("61030a", |e| matches!(e, CodeError::NotDigits(_))),
            ("6103040", |e| matches!(e, CodeError::BadLength(_, 7))),
            ("610300", |e| matches!(e, CodeError::NotCountyLevel(_))),
            ("990304", |e| matches!(e, CodeError::NotCountyLevel(_))),
            ("610304000", |e| matches!(e, CodeError::ZeroPart(_))),
            ("610304003000001", |e| matches!(e, CodeError::ZeroPart(_))),
        ];
        for (s, ok) in cases {
            let e = UnitCode::parse(s).expect_err(s);
            assert!(ok(&e), "{s}: {e}");
        }
    }
}
