//! The live feed of case changes: one notice per case event, as it is
//! committed. Each backend delivers them its own way (SQLite within the
//! process, PostgreSQL to every node through `LISTEN`/`NOTIFY`); what is
//! above the store sees only [`crate::Store::watch_cases`] and, for what a
//! receiver missed, [`crate::Store::case_changes`].

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The PostgreSQL channel the notices travel on.
pub(crate) const CHANNEL: &str = "civicgrid_case_events";

/// How many notices a receiver may fall behind before it is told it lagged
/// (and reads what it missed from [`crate::Store::case_changes`]).
pub(crate) const CAPACITY: usize = 1024;

/// One event of one case, as the feed tells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseChange {
    /// The event's global id: it increases in the order events are
    /// committed, across cases and nodes (it may skip numbers).
    pub id: i64,
    pub case_id: i64,
    pub number: String,
    /// The event's place in its case's history (1 for the report).
    pub seq: i64,
    /// The event's kind as the domain names it (`report`, `file`, `escalated` …).
    pub kind: String,
    /// The case's state after the event; unknown for events stored before
    /// the feed existed (but the last of each case) and for imported
    /// histories (but their last event).
    pub state: Option<String>,
    /// The grid the case lies in: who may see the notice is decided by it.
    pub grid: String,
    /// Who reported the case; reporters see their own cases.
    pub reporter_id: Option<i64>,
    pub at: Timestamp,
}

/// Receives every case change committed after it was made. A receiver that
/// falls more than a thousand notices behind gets `Lagged` and should read
/// what it missed with [`crate::Store::case_changes`].
pub type CaseFeed = tokio::sync::broadcast::Receiver<CaseChange>;

/// The sending side every backend keeps.
pub(crate) fn channel() -> tokio::sync::broadcast::Sender<CaseChange> {
    tokio::sync::broadcast::channel(CAPACITY).0
}

/// The columns of a [`CaseChange`], from `case_events e JOIN cases c`; the
/// same text on both backends.
pub(crate) const CHANGE_COLUMNS: &str =
    "e.id, e.case_id, c.number, e.seq, e.kind, e.state, c.grid_code, c.reporter_id, e.at";

/// Changes after an id, oldest first; the placeholder is appended by the caller.
pub(crate) const CHANGES_AFTER: &str = "FROM case_events e JOIN cases c ON c.id = e.case_id WHERE e.id > ";

pub(crate) fn change_from_row(r: &impl crate::stored::Columns) -> crate::Result<CaseChange> {
    Ok(CaseChange {
        id: r.int("id")?,
        case_id: r.int("case_id")?,
        number: r.text("number")?,
        seq: r.int("seq")?,
        kind: r.text("kind")?,
        state: r.opt_text("state")?,
        grid: r.text("grid_code")?,
        reporter_id: r.opt_int("reporter_id")?,
        at: r.ts("at")?,
    })
}

/// The notice of an event just written to `case`.
pub(crate) fn change_of(id: i64, case: &crate::CaseRecord, e: &crate::CaseEventRecord) -> CaseChange {
    CaseChange {
        id,
        case_id: case.id,
        number: case.number.clone(),
        seq: e.seq,
        kind: e.kind.clone(),
        state: Some(case.summary.state.clone()),
        grid: case.grid.clone(),
        reporter_id: case.reporter_id,
        at: e.at,
    }
}
