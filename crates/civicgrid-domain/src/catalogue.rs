//! The case category catalogue: what a problem is, who handles it, and how many
//! working hours each step of the workflow may take.
//!
//! Shaped like GB/T 30428.2 and CJ/T 214 — components (部件) and events (事件),
//! major classes and their sub-classes — with the grid-governance classes
//! (disputes, hazards, people needing care …) added. The standard catalogue is
//! embedded data (`data/case-categories.csv`); a district with its own parses
//! one with the same columns.

use crate::code::{Level, UnitCode};
use crate::facility::string_enum;
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

const STANDARD_CSV: &str = include_str!("../data/case-categories.csv");

string_enum! {
    /// The two kinds of GB/T 30428 case: a thing that is broken (部件) or a
    /// thing that happened (事件).
    CaseClass {
        Component = "component",
        Event = "event",
    }
}

string_enum! {
    /// The role or department a category is dispatched to.
    Handler {
        GridWorker = "grid_worker",
        Community = "community",
        StreetUrbanManagement = "street_urban_management",
        StreetComprehensiveGovernance = "street_comprehensive_governance",
        StreetSafetyOffice = "street_safety_office",
        DistrictUrbanManagement = "district_urban_management",
        DistrictHousingConstruction = "district_housing_construction",
        DistrictTransport = "district_transport",
        DistrictMarketRegulation = "district_market_regulation",
        DistrictCivilAffairs = "district_civil_affairs",
        DistrictHumanResources = "district_human_resources",
        DistrictNaturalResources = "district_natural_resources",
        DistrictEcologyEnvironment = "district_ecology_environment",
        PublicSecurity = "public_security",
        UtilityCompany = "utility_company",
    }
}

impl Handler {
    /// The level of the organisation tree the handler sits at; bureaus, the
    /// police and utility companies answer to the district.
    pub fn level(self) -> Level {
        match self {
            Handler::GridWorker => Level::Grid,
            Handler::Community => Level::Community,
            Handler::StreetUrbanManagement | Handler::StreetComprehensiveGovernance | Handler::StreetSafetyOffice => {
                Level::Street
            }
            _ => Level::District,
        }
    }
}

string_enum! {
    /// The timed steps of the workflow. Each runs from the event that starts it
    /// to the one that ends it: file (report → filed), dispatch (filed →
    /// dispatched), handle (dispatched → reported back), verify (reported back
    /// → closed).
    Step {
        File = "file",
        Dispatch = "dispatch",
        Handle = "handle",
        Verify = "verify",
    }
}

/// Why a category code or a catalogue is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("category code {0:?} must be 2 digits (major class) or 4 digits (sub-class), not 00")]
    BadCode(String),
    #[error("catalogue line {line}: {reason}")]
    BadLine { line: usize, reason: String },
}

/// A category code: `06` (a major class) or `0601` (one of its sub-classes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CategoryCode(String);

impl CategoryCode {
    pub fn parse(s: &str) -> Result<Self, CatalogueError> {
        let s = s.trim();
        let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits || !(s.len() == 2 || s.len() == 4) || s.as_bytes().chunks(2).any(|c| c == b"00") {
            return Err(CatalogueError::BadCode(s.to_owned()));
        }
        Ok(CategoryCode(s.to_owned()))
    }

    pub fn is_major(&self) -> bool {
        self.0.len() == 2
    }

    /// The major class: itself for a major class, the first two digits otherwise.
    pub fn major(&self) -> CategoryCode {
        CategoryCode(self.0[..2].to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CategoryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for CategoryCode {
    type Err = CatalogueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CategoryCode::parse(s)
    }
}

impl TryFrom<String> for CategoryCode {
    type Error = CatalogueError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        CategoryCode::parse(&s)
    }
}

impl From<CategoryCode> for String {
    fn from(c: CategoryCode) -> String {
        c.0
    }
}

/// Working time allowed for each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepLimits {
    pub file: SignedDuration,
    pub dispatch: SignedDuration,
    pub handle: SignedDuration,
    pub verify: SignedDuration,
}

impl StepLimits {
    pub fn get(&self, step: Step) -> SignedDuration {
        match step {
            Step::File => self.file,
            Step::Dispatch => self.dispatch,
            Step::Handle => self.handle,
            Step::Verify => self.verify,
        }
    }
}

/// A major class (大类).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MajorClass {
    pub code: CategoryCode,
    pub class: CaseClass,
    pub name_zh: String,
    pub name_en: String,
}

/// A sub-class (小类): what a case is filed as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub code: CategoryCode,
    pub class: CaseClass,
    pub name_zh: String,
    pub name_en: String,
    pub handler: Handler,
    pub limits: StepLimits,
    /// A grid worker may close it on the spot (with a photo) without dispatch.
    pub self_handle: bool,
}

impl Category {
    /// Where a case of this category in `grid` is routed: the unit at the
    /// handler's level that holds the grid (its community, its street, or the
    /// district for bureaus, the police and utilities).
    pub fn route(&self, grid: &UnitCode) -> Option<UnitCode> {
        grid.at_level(self.handler.level())
    }
}

/// Every major class and sub-class, in code order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    majors: BTreeMap<CategoryCode, MajorClass>,
    categories: BTreeMap<CategoryCode, Category>,
}

impl Catalogue {
    /// CivicGrid's catalogue: 16 major classes, 70 sub-classes.
    pub fn standard() -> Self {
        // A test parses the embedded file, so the fallback (an empty
        // catalogue) is never taken in a release; it keeps the domain panic-free.
        Self::parse(STANDARD_CSV).unwrap_or_else(|_| Catalogue { majors: BTreeMap::new(), categories: BTreeMap::new() })
    }

    /// Parses `code,class,name_zh,name_en,handler,file_h,dispatch_h,handle_h,verify_h,self_handle`
    /// lines. A major class comes before its sub-classes and leaves handler and
    /// limits empty; limits are working hours (fractions allowed) above zero.
    pub fn parse(csv: &str) -> Result<Self, CatalogueError> {
        let mut majors = BTreeMap::new();
        let mut categories = BTreeMap::new();
        for (i, raw) in csv.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("code,") {
                continue;
            }
            let bad = |reason: String| CatalogueError::BadLine { line: i + 1, reason };
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            if f.len() != 10 {
                return Err(bad(format!("{} fields; expected 10", f.len())));
            }
            let code = CategoryCode::parse(f[0]).map_err(|e| bad(e.to_string()))?;
            let class: CaseClass = f[1].parse().map_err(bad)?;
            let (name_zh, name_en) = (f[2].to_owned(), f[3].to_owned());
            if name_zh.is_empty() || name_en.is_empty() {
                return Err(bad(format!("{code} needs a Chinese and an English name")));
            }
            if code.is_major() {
                if f[4..].iter().any(|v| !v.is_empty()) {
                    return Err(bad(format!("major class {code} takes no handler or limits")));
                }
                if majors.insert(code.clone(), MajorClass { code: code.clone(), class, name_zh, name_en }).is_some() {
                    return Err(bad(format!("{code} is listed twice")));
                }
                continue;
            }
            match majors.get(&code.major()) {
                None => return Err(bad(format!("{code} comes before its major class {}", code.major()))),
                Some(m) if m.class != class => {
                    return Err(bad(format!("{code} is a {class} but its major class {} is a {}", m.code, m.class)));
                }
                Some(_) => {}
            }
            let handler: Handler = f[4].parse().map_err(bad)?;
            let hours = |s: &str| -> Result<SignedDuration, CatalogueError> {
                match s.parse::<f64>() {
                    Ok(h) if h.is_finite() && h > 0.0 && h <= 10_000.0 => Ok(SignedDuration::from_secs_f64(h * 3600.0)),
                    _ => Err(bad(format!("{code}: time limit {s:?} must be a number of working hours above zero"))),
                }
            };
            let limits =
                StepLimits { file: hours(f[5])?, dispatch: hours(f[6])?, handle: hours(f[7])?, verify: hours(f[8])? };
            let self_handle = match f[9] {
                "yes" => true,
                "no" => false,
                other => return Err(bad(format!("{code}: self_handle {other:?} must be yes or no"))),
            };
            let category = Category { code: code.clone(), class, name_zh, name_en, handler, limits, self_handle };
            if categories.insert(code.clone(), category).is_some() {
                return Err(bad(format!("{code} is listed twice")));
            }
        }
        Ok(Catalogue { majors, categories })
    }

    /// The sub-class with this code.
    pub fn get(&self, code: &CategoryCode) -> Option<&Category> {
        self.categories.get(code)
    }

    pub fn major(&self, code: &CategoryCode) -> Option<&MajorClass> {
        self.majors.get(&code.major())
    }

    pub fn majors(&self) -> impl Iterator<Item = &MajorClass> {
        self.majors.values()
    }

    pub fn categories(&self) -> impl Iterator<Item = &Category> {
        self.categories.values()
    }

    /// The sub-classes of a major class.
    pub fn children<'a>(&'a self, major: &'a CategoryCode) -> impl Iterator<Item = &'a Category> + 'a {
        self.categories.values().filter(move |c| &c.code.major() == major)
    }
}

impl Default for Catalogue {
    fn default() -> Self {
        Self::standard()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> CategoryCode {
        CategoryCode::parse(s).expect("test code")
    }

    #[test]
    fn the_standard_catalogue_is_complete_and_consistent() {
        let cat = Catalogue::parse(STANDARD_CSV).expect("embedded catalogue parses");
        assert_eq!(cat, Catalogue::standard());
        assert_eq!(cat.majors().count(), 17);
        assert_eq!(cat.categories().count(), 75);
        for c in cat.categories() {
            let major = cat.major(&c.code).expect("every sub-class has its major class");
            assert_eq!(major.class, c.class, "{}", c.code);
            for step in Step::ALL {
                assert!(c.limits.get(*step) > SignedDuration::ZERO, "{} {step}", c.code);
            }
            assert!(c.limits.file <= c.limits.handle, "{}: filing takes no longer than handling", c.code);
        }
        for m in cat.majors() {
            assert!(cat.children(&m.code).count() >= 3, "{} has at least 3 sub-classes", m.code);
        }
        let classes: Vec<CaseClass> = cat.majors().map(|m| m.class).collect();
        assert!(classes.contains(&CaseClass::Component) && classes.contains(&CaseClass::Event));
    }

    #[test]
    fn lookups_find_names_handlers_and_limits() {
        let cat = Catalogue::standard();
        let cover = cat.get(&code("0101")).expect("manhole cover");
        assert_eq!((cover.name_zh.as_str(), cover.class), ("上水井盖", CaseClass::Component));
        assert_eq!(cat.major(&cover.code).map(|m| m.name_en.as_str()), Some("Public utilities"));
        let gas = cat.get(&code("0903")).expect("gas leak");
        assert_eq!(gas.limits.handle, SignedDuration::from_hours(1));
        assert_eq!(gas.limits.file, SignedDuration::from_mins(15));
        let rubbish = cat.get(&code("0601")).expect("exposed rubbish");
        assert!(rubbish.self_handle);
        assert_eq!(rubbish.handler.level(), Level::Community);
        assert!(!cat.get(&code("1501")).expect("illegal extension").self_handle);
        assert!(cat.get(&code("06")).is_none(), "a major class is not a filing category");
        assert!(cat.get(&code("0699")).is_none());
    }

    #[test]
    fn a_case_is_routed_to_the_handlers_unit_over_its_grid() {
        let cat = Catalogue::standard();
        let grid = UnitCode::parse("610304003002006").expect("grid");
        let route = |c: &str| cat.get(&code(c)).and_then(|c| c.route(&grid)).map(|u| u.to_string());
        assert_eq!(route("0601").as_deref(), Some("610304003002"), "rubbish: the community");
        assert_eq!(route("0903").as_deref(), Some("610304"), "gas leak: the district's utility");
        let street = cat.categories().find(|c| c.handler.level() == Level::Street).expect("a street handler");
        assert_eq!(street.route(&grid).map(|u| u.to_string()).as_deref(), Some("610304003"));
        let worker = cat.categories().find(|c| c.handler == Handler::GridWorker).expect("a grid-worker handler");
        assert_eq!(worker.route(&grid), Some(grid.clone()));
    }

    #[test]
    fn category_codes_parse_or_say_why_not() {
        for ok in ["01", "0101", "16", "1604"] {
            assert_eq!(CategoryCode::parse(ok).map(|c| c.to_string()), Ok(ok.to_owned()));
        }
        for bad in ["", "1", "010", "00", "0100", "ab", "01011"] {
            assert!(matches!(CategoryCode::parse(bad), Err(CatalogueError::BadCode(_))), "{bad}");
        }
        assert_eq!(code("0604").major(), code("06"));
        assert_eq!(String::from(code("0604")), "0604", "serialised as the bare code");
    }

    #[test]
    fn bad_catalogues_are_refused_with_their_line() {
        let head = "01,component,公用设施,Public utilities,,,,,,\n";
        let table: &[(&str, &str)] = &[
            ("0201,component,井盖,Cover,community,1,1,1,1,no", "before its major class"),
            ("01,component,a,b,,,,,,", "listed twice"),
            ("0101,event,井盖,Cover,community,1,1,1,1,no", "its major class 01 is a component"),
            ("0101,component,井盖,Cover,mayor,1,1,1,1,no", "unknown Handler"),
            ("0101,component,井盖,Cover,community,1,0,1,1,no", "above zero"),
            ("0101,component,井盖,Cover,community,1,1,1,1,maybe", "yes or no"),
            ("0101,component,井盖,Cover,community,1,1,1,no", "expected 10"),
        ];
        for &(body, want) in table {
            let e = Catalogue::parse(&format!("{head}{body}")).expect_err(body).to_string();
            assert!(e.contains(want) && e.contains("line"), "{body}: {e}");
        }
    }
}
