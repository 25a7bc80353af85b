//! Storage for CivicGrid: the [`Store`] trait every backend implements, the read
//! models it returns, and its two backends, SQLite and PostgreSQL, each with
//! its own numbered migrations.
//!
//! Nothing above this crate writes SQL or knows which database it talks to:
//! the server holds an `Arc<dyn Store>` opened by [`open`] from a URL or path.

mod access;
pub mod attachments;
mod audit_chain;
mod calls;
mod cases;
mod crypto;
mod devices;
mod dump;
mod feed;
mod network;
mod postgres;
mod schema;
mod sqlite;
mod stored;
mod view;

pub use access::*;
pub use calls::{
    CallQuery, CallRecord, CallUpdate, NewCall, NewOffer, NewResponder, OfferRecord, PositionFix, ResponderRecord,
};
pub use cases::*;
pub use crypto::KeyRing;
pub use devices::{CallDeviceRecord, HouseholdPlace, NewCallDevice};
pub use dump::{DUMP_FORMAT, DumpSummary};
pub use feed::{CaseChange, CaseFeed};
pub use network::*;
pub use postgres::PgStore;
pub use schema::{Migration, SchemaStatus};
pub use sqlite::SqliteStore;
pub use view::*;

use async_trait::async_trait;
use civicgrid_domain::{DistrictBundle, FacilityCategory, Grant, Level, OrgUnit, Ring, StreetNetwork, UnitCode};
use jiff::Timestamp;
use jiff::civil::Date;
use std::sync::Arc;
use tokio::io::{AsyncBufRead, AsyncWrite};

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
    #[error("unsupported database {0:?}: use a file path, sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("encryption: {0}")]
    Crypto(String),
    /// A write that failed with others committed in the same transaction.
    #[error("the write failed: {0}")]
    Write(String),
}

/// Lower-case hex of `bytes`: hashes, blind indexes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Called during long imports with (rows written so far, rows in all).
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Send + Sync);

/// Everything the rest of CivicGrid may ask of a database.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// True when no organisation unit has been stored yet.
    async fn is_empty(&self) -> Result<bool>;
    /// Whether other servers may write to this database (PostgreSQL): what a
    /// node keeps in memory must then catch up from it. A SQLite file has one
    /// server, whose own writes are all there is.
    fn shared(&self) -> bool;
    /// Closes every connection once the requests in flight are done; SQLite
    /// then folds its write-ahead log into the database file. Later calls fail.
    async fn close(&self);

    /// Writes a whole district in one transaction: all of it or nothing.
    async fn import_district(&self, bundle: &DistrictBundle, progress: Progress<'_>, by: &Actor) -> Result<()>;

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
    async fn redraw_unit(&self, code: &UnitCode, boundary: &Ring, from: Date, by: &Actor) -> Result<()>;

    async fn compounds(&self, q: &ListQuery) -> Result<Page<CompoundView>>;
    async fn facilities(&self, q: &ListQuery, category: Option<FacilityCategory>) -> Result<Page<FacilityView>>;
    async fn cameras(&self, q: &ListQuery, status: Option<civicgrid_domain::CameraStatus>) -> Result<Page<CameraView>>;
    async fn party_branches(&self, q: &ListQuery) -> Result<Page<PartyBranchView>>;
    async fn people(&self, q: &ListQuery, role: Option<civicgrid_domain::RoleKind>) -> Result<Page<PersonView>>;

    /// Adds a facility placed in `grid`; its code is assigned here. With a key,
    /// a retry of the same request returns the first result instead of adding
    /// again, and the key reused for another request is a conflict.
    async fn add_facility(
        &self,
        new: &NewFacility,
        idempotency_key: Option<&str>,
        by: &Actor,
    ) -> Result<Added<FacilityView>>;

    /// A key-value setting (demo seed, generation time …).
    async fn setting(&self, key: &str) -> Result<Option<String>>;
    async fn set_setting(&self, key: &str, value: &str, by: &Actor) -> Result<()>;

    // --- the street network ---

    /// Replaces the stored street network with `import`'s and merges its
    /// facilities by external id (added, updated in place keeping their
    /// code, or removed when the source no longer has them; registered
    /// facilities are untouched), in one transaction, audited once.
    async fn import_network(
        &self,
        import: &NetworkImport,
        progress: Progress<'_>,
        by: &Actor,
    ) -> Result<NetworkImported>;
    /// The stored street network; a node's id is its position.
    async fn street_network(&self) -> Result<StreetNetwork>;

    // --- residents' personal data ---

    /// Residents within a unit, masked, optionally found by an exact number.
    async fn residents(&self, q: &ListQuery, search: Option<&ResidentSearch>) -> Result<Page<ResidentView>>;
    /// One resident, masked.
    async fn resident(&self, id: i64) -> Result<Option<ResidentView>>;
    /// One resident's numbers in full; the view is audited with its reason in
    /// the same transaction, so no unmasked view goes unrecorded.
    async fn resident_in_full(&self, id: i64, reason: &str, by: &Actor) -> Result<Option<ResidentFull>>;
    /// Re-encrypts every personal-data field under the key ring's current key;
    /// returns how many rows changed.
    async fn reencrypt_personal_data(&self, by: &Actor) -> Result<u64>;

    // --- users, sessions, tokens ---

    /// Conflict when the username is taken.
    async fn create_user(&self, new: &NewUser, by: &Actor) -> Result<UserRecord>;
    async fn user(&self, id: i64) -> Result<Option<UserRecord>>;
    async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>>;
    /// Users holding at least one grant within `within` (all when `None`).
    async fn users(&self, within: Option<&UnitCode>, limit: u32, offset: u32) -> Result<Page<UserRecord>>;
    async fn set_grants(&self, user_id: i64, grants: &[Grant], by: &Actor) -> Result<()>;
    /// Also ends the user's sessions.
    async fn set_password(&self, user_id: i64, password_hash: &str, by: &Actor) -> Result<()>;
    async fn set_disabled(&self, user_id: i64, disabled: bool, by: &Actor) -> Result<()>;
    /// Records a sign-in attempt of an existing user: resets or counts failures,
    /// sets the lock, and audits it (`sign_in` or `sign_in_failed`).
    async fn record_sign_in(&self, user_id: i64, ok: bool, locked_until: Option<Timestamp>, by: &Actor) -> Result<()>;

    async fn create_session(&self, session: &SessionRecord) -> Result<()>;
    /// A session that exists and has not expired.
    async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>>;
    async fn delete_session(&self, id_hash: &str) -> Result<()>;
    /// A live session and the user holding it, in one round trip (every page
    /// request asks this).
    async fn session_holder(&self, id_hash: &str) -> Result<Option<(SessionRecord, UserRecord)>>;

    /// Stores a token by the SHA-256 of its secret; audited.
    async fn create_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        expires_at: Option<Timestamp>,
        by: &Actor,
    ) -> Result<TokenRecord>;
    /// The token with this hash, revoked or not; the caller decides.
    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRecord>>;
    /// The token with this hash and the user holding it, in one round trip
    /// (every API request asks this).
    async fn token_holder(&self, token_hash: &str) -> Result<Option<(TokenRecord, UserRecord)>>;
    async fn tokens(&self, user_id: i64) -> Result<Vec<TokenRecord>>;
    /// False when the user has no such live token.
    async fn revoke_token(&self, user_id: i64, token_id: i64, by: &Actor) -> Result<bool>;
    async fn touch_token(&self, token_id: i64) -> Result<()>;

    // --- one-click calls ---

    /// Registers responders (people of the answering teams), or updates the
    /// team, skills and grid of those registered. Audited once.
    async fn add_responders(&self, rs: &[NewResponder], by: &Actor) -> Result<u64>;
    /// Links a responder to the account they sign in with. Audited.
    async fn link_responder(&self, id: i64, user_id: Option<i64>, by: &Actor) -> Result<bool>;
    /// Every responder, or those changed since a time (other nodes' writes).
    async fn responders(&self, changed_since: Option<Timestamp>) -> Result<Vec<ResponderRecord>>;
    async fn responder_of_user(&self, user_id: i64) -> Result<Option<ResponderRecord>>;
    /// On or off duty; false for an unknown responder. Audited.
    async fn set_duty(&self, id: i64, on: bool, by: &Actor) -> Result<bool>;
    /// The last position of each responder named (the caller checked them).
    /// Positions are telemetry: durable like every write, not audited.
    async fn record_positions(&self, fixes: &[PositionFix]) -> Result<()>;
    /// Files a call and its case in one transaction: the case with its first
    /// events (each with the state after it) and summary, then the call.
    /// With a key, a retry returns the first call.
    async fn open_call(
        &self,
        call: &NewCall,
        case: &NewCase,
        events: &[(CaseEventRecord, String)],
        summary: &CaseSummary,
        idempotency_key: Option<&str>,
        by: &Actor,
    ) -> Result<Added<CallRecord>>;
    /// One step of a call with its case events, all or nothing (Conflict
    /// when a condition fails: someone else acted first).
    async fn update_call(&self, update: &CallUpdate, by: &Actor) -> Result<CallRecord>;
    async fn call(&self, id: i64) -> Result<Option<CallRecord>>;
    async fn call_of_case(&self, case_id: i64) -> Result<Option<CallRecord>>;
    async fn calls(&self, q: &CallQuery) -> Result<Vec<CallRecord>>;

    // --- registered call devices (rules in `devices.rs`) ---

    /// Registers a device, or updates it in place for the same account and
    /// household (or grid); Conflict when the code is held by another
    /// account, household or grid, unless `replace`. A new `home` retires
    /// the user's other homes. Audited.
    async fn register_call_device(
        &self,
        device: &NewCallDevice,
        replace: bool,
        by: &Actor,
    ) -> Result<Added<CallDeviceRecord>>;
    /// Registers many devices in one transaction (the demo, an import),
    /// replacing those of the same codes without the rule. Audited once.
    async fn register_call_devices(&self, devices: &[NewCallDevice], by: &Actor) -> Result<u64>;
    /// A device by its code, retired or not.
    async fn call_device(&self, code: &str) -> Result<Option<CallDeviceRecord>>;
    /// The live devices within a unit, by code, paged.
    async fn call_devices(&self, q: &ListQuery) -> Result<Page<CallDeviceRecord>>;
    /// A user's live devices, their `home` first.
    async fn call_devices_of_user(&self, user_id: i64) -> Result<Vec<CallDeviceRecord>>;
    /// Retires a live device; false when there is none. Audited.
    async fn retire_call_device(&self, code: &str, by: &Actor) -> Result<bool>;
    /// Where a registered household is (its building) and its address.
    async fn household_place(&self, id: i64) -> Result<Option<HouseholdPlace>>;

    // --- cases ---

    /// Files a case with its first event (seq 1) and the summary the domain
    /// derived from it. With a key, a retry returns the first case.
    async fn file_case(
        &self,
        new: &NewCase,
        first: &CaseEventRecord,
        summary: &CaseSummary,
        idempotency_key: Option<&str>,
        by: &Actor,
    ) -> Result<Added<CaseRecord>>;
    /// Appends the next event (its seq must follow the last, else Conflict:
    /// someone acted first) and the new summary. With `escalation`, the
    /// (escalate_at, level) is recorded once, in the same transaction as the
    /// event: a second escalation for the same time, or one for a time that
    /// is no longer the case's `escalate_at`, is a Conflict.
    async fn append_case_event(
        &self,
        case_id: i64,
        event: &CaseEventRecord,
        summary: &CaseSummary,
        escalation: Option<(Timestamp, &str)>,
        by: &Actor,
    ) -> Result<CaseRecord>;
    async fn case(&self, id: i64) -> Result<Option<CaseRecord>>;
    async fn case_events(&self, id: i64) -> Result<Vec<CaseEventRecord>>;
    async fn cases(&self, q: &CaseQuery) -> Result<Page<CaseRecord>>;
    /// Open cases whose `escalate_at` passed before `now` and that have not
    /// been escalated for that time, oldest first.
    async fn due_escalations(&self, now: Timestamp, limit: u32) -> Result<Vec<CaseRecord>>;
    /// Clears a case's escalation time when it is still `deadline` and the
    /// case still has `events` events: the clock found nothing it may do at
    /// that time (the workflow refuses, or the case stands at the top level).
    /// The next event sets it again. Audited; false when the case moved on
    /// meanwhile.
    async fn drop_escalation(&self, case_id: i64, events: i64, deadline: Timestamp, by: &Actor) -> Result<bool>;
    /// Every case event committed from now on, by whichever node wrote it
    /// (every node of a PostgreSQL database; this process for SQLite), in
    /// the order of their ids. Filings and appended events are told; imported
    /// histories are not.
    async fn watch_cases(&self) -> Result<CaseFeed>;
    /// The case events after the one with id `after`, by id, at most `limit`:
    /// what a feed's receiver missed.
    async fn case_changes(&self, after: i64, limit: u32) -> Result<Vec<CaseChange>>;
    /// The event histories of the next `limit` cases within a unit created
    /// before a time, in id order after the case `after` (0 to start), each
    /// with its case id: the indicators page through a year with these.
    async fn case_histories(
        &self,
        within: &UnitCode,
        created_before: Timestamp,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, Vec<CaseEventRecord>)>>;
    /// Writes cases with their whole histories (a synthetic year, a migration
    /// from another system) in one transaction with one audit entry: all of
    /// them or none. Each is numbered by the day of its first event, after the
    /// cases already filed that day; its photos are linked to the attachments
    /// that exist here. Invalid when a history is empty or its seqs are not
    /// 1, 2, 3 …, or a case is not placed in a grid.
    async fn import_cases(&self, cases: &[ImportedCase], progress: Progress<'_>, by: &Actor) -> Result<()>;

    // --- attachments (the files are in an `attachments::AttachmentStore`) ---

    /// Records an upload and who made it; audited the first time.
    async fn record_attachment(&self, a: &attachments::StoredAttachment, by: &Actor) -> Result<()>;
    /// `None` when no such attachment; `Some(uploader)` otherwise.
    async fn attachment_uploader(&self, id: &str) -> Result<Option<Option<i64>>>;
    /// The cases whose events show the attachment.
    async fn cases_showing(&self, attachment_id: &str) -> Result<Vec<CaseRecord>>;

    // --- the audit log ---

    async fn append_audit(&self, entry: &NewAudit) -> Result<AuditEntry>;
    async fn audit_log(&self, q: &AuditQuery) -> Result<Page<AuditEntry>>;
    /// Walks the chain from the first entry; reports the first break.
    async fn verify_audit(&self) -> Result<ChainCheck>;

    // --- backup, restore, export ---

    /// Writes every row of every table to `out` as a dump (the format is in
    /// `dump.rs`), read in one snapshot while others go on writing. Personal
    /// data goes as it is stored, encrypted: a dump is of use only with the
    /// key file of its database.
    async fn dump(&self, out: &mut (dyn AsyncWrite + Send + Unpin)) -> Result<DumpSummary>;
    /// Loads a dump of either backend into this database, which must be empty
    /// (Conflict otherwise) and of the dump's schema version, in one
    /// transaction, audited on the restored chain; ids assigned afterwards
    /// follow the loaded ones.
    async fn load_dump(&self, input: &mut (dyn AsyncBufRead + Send + Unpin), by: &Actor) -> Result<DumpSummary>;
}

/// Whether `url` names a PostgreSQL database (else SQLite).
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Refuses a URL naming neither backend.
fn check_url(url: &str) -> Result<()> {
    if !is_postgres(url) && url.contains("://") && !url.starts_with("sqlite:") {
        return Err(StoreError::UnsupportedUrl(url.to_owned()));
    }
    Ok(())
}

/// Opens the database named by `url`: `postgres://…` (or `postgresql://…`)
/// for a PostgreSQL server, `sqlite://PATH`, `sqlite::memory:` or a bare file
/// path for SQLite, with `keys` for personal data. Migrations run before this
/// returns.
pub async fn open(url: &str, keys: KeyRing) -> Result<Arc<dyn Store>> {
    check_url(url)?;
    if is_postgres(url) {
        return Ok(Arc::new(PgStore::open(url, keys).await?));
    }
    Ok(Arc::new(SqliteStore::open(url, keys).await?))
}

/// Which of this build's migrations the database named by `url` has; with
/// `apply`, the pending ones are applied first (a SQLite file is created if
/// need be; without `apply` a missing one is NotFound). [`open`] migrates
/// too; this is the step on its own, and needs no keys.
pub async fn migrate(url: &str, apply: bool) -> Result<SchemaStatus> {
    check_url(url)?;
    if is_postgres(url) { postgres::migrate(url, apply).await } else { sqlite::migrate(url, apply).await }
}
