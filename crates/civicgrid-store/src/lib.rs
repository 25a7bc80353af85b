//! Storage for CivicGrid: the [`Store`] trait every backend implements, the read
//! models it returns, and the SQLite backend with its numbered migrations.
//!
//! Nothing above this crate writes SQL or knows which database it talks to:
//! the server holds an `Arc<dyn Store>` opened by [`open`] from a URL or path.

mod sqlite;
mod view;

pub use sqlite::SqliteStore;
pub use view::*;

use async_trait::async_trait;
use civicgrid_domain::{DistrictBundle, FacilityCategory, Level, OrgUnit, Ring, UnitCode};
use jiff::civil::Date;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("could not reach the database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("could not migrate the database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("unsupported database {0:?}: use a file path or sqlite://PATH")]
    UnsupportedUrl(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Called during long imports with (rows written so far, rows in all).
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Send + Sync);

/// Everything the rest of CivicGrid may ask of a database.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// True when no organisation unit has been stored yet.
    async fn is_empty(&self) -> Result<bool>;

    /// Writes a whole district in one transaction: all of it or nothing.
    async fn import_district(&self, bundle: &DistrictBundle, progress: Progress<'_>) -> Result<()>;

    /// Counts of everything within `within` (the whole database when `None`).
    async fn stats(&self, within: Option<&UnitCode>) -> Result<Stats>;

    /// Counts of everything within `within`, one entry per unit at `by` level.
    async fn stats_by(&self, within: Option<&UnitCode>, by: Level) -> Result<Vec<(UnitCode, Stats)>>;

    /// The current version of a unit.
    async fn unit(&self, code: &UnitCode) -> Result<Option<OrgUnit>>;

    /// Every version of a unit, oldest first.
    async fn unit_history(&self, code: &UnitCode) -> Result<Vec<OrgUnit>>;

    /// Current units of one level within `within` (all of them when `None`), by code.
    async fn units(&self, level: Level, within: Option<&UnitCode>) -> Result<Vec<OrgUnit>>;

    /// Ends the current version of a grid or community on `from` and starts a new
    /// one with `boundary`; rows placed in the community are placed again.
    async fn redraw_unit(&self, code: &UnitCode, boundary: &Ring, from: Date) -> Result<()>;

    async fn compounds(&self, q: &ListQuery) -> Result<Page<CompoundView>>;
    async fn facilities(&self, q: &ListQuery, category: Option<FacilityCategory>) -> Result<Page<FacilityView>>;
    async fn cameras(&self, q: &ListQuery, status: Option<civicgrid_domain::CameraStatus>) -> Result<Page<CameraView>>;
    async fn party_branches(&self, q: &ListQuery) -> Result<Page<PartyBranchView>>;
    async fn people(&self, q: &ListQuery, role: Option<civicgrid_domain::RoleKind>) -> Result<Page<PersonView>>;

    /// Adds a facility placed in `grid`; its code is assigned here. With a key,
    /// a retry of the same request returns the first result instead of adding
    /// again, and the key reused for another request is a conflict.
    async fn add_facility(&self, new: &NewFacility, idempotency_key: Option<&str>) -> Result<Added<FacilityView>>;

    /// A key-value setting (demo seed, generation time …).
    async fn setting(&self, key: &str) -> Result<Option<String>>;
    async fn set_setting(&self, key: &str, value: &str) -> Result<()>;
}

/// Opens the database named by `url`: `sqlite://PATH`, `sqlite::memory:` or a
/// bare file path. Migrations run before this returns.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://")
        || url.starts_with("postgresql://")
        || url.contains("://") && !url.starts_with("sqlite:")
    {
        return Err(StoreError::UnsupportedUrl(url.to_owned()));
    }
    Ok(Arc::new(SqliteStore::open(url).await?))
}
