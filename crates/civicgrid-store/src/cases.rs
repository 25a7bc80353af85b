//! Read and write models of cases: the summary row a list shows, the events
//! that are a case's history, and the queries over them. The rules that
//! decide which event may follow which live in the domain crate; the store
//! keeps what it is given, in order, durably.

use civicgrid_domain::UnitCode;
use jiff::Timestamp;
use serde::Serialize;

/// One event of a case's history, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseEventRecord {
    /// 1 for the first event, then 2, 3 … without gaps.
    pub seq: i64,
    pub at: Timestamp,
    pub actor_id: Option<i64>,
    pub actor: String,
    pub role: String,
    pub unit: String,
    /// The event's kind as the domain names it (`file`, `dispatch` …).
    pub kind: String,
    /// The rest of the event, as the domain serialises it.
    pub data: serde_json::Value,
    pub note: String,
    /// Attachment ids.
    pub photos: Vec<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

/// What a case's history says now, computed by the domain after each event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseSummary {
    pub state: String,
    /// The sub-class the case is filed as, once known (it may change at filing).
    pub category: Option<String>,
    pub handler_unit: Option<String>,
    pub step_deadline: Option<Timestamp>,
    /// When the escalation clock next acts on this case: the step deadline,
    /// then one step limit later for each level it has gone up.
    pub escalate_at: Option<Timestamp>,
    /// The level the case has been escalated to, if any.
    pub escalation: Option<String>,
    /// Marked for supervision (督办).
    pub supervision: bool,
    pub duplicate_of: Option<i64>,
    pub merged_into: Option<i64>,
    pub closed_at: Option<Timestamp>,
}

/// A new case; the server has located it into `grid`.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub source: String,
    pub category: String,
    pub title: String,
    pub description: String,
    pub lat: f64,
    pub lon: f64,
    pub grid: UnitCode,
    pub reporter_id: Option<i64>,
}

impl NewCase {
    pub(crate) fn fingerprint(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}|{:?}",
            self.source, self.category, self.title, self.description, self.lat, self.lon, self.reporter_id
        )
    }
}

/// A case as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseRecord {
    pub id: i64,
    /// Human-readable: `610304-20261126-000123`.
    pub number: String,
    pub source: String,
    pub category: String,
    pub title: String,
    pub description: String,
    pub lat: f64,
    pub lon: f64,
    pub grid: String,
    pub reporter_id: Option<i64>,
    #[serde(flatten)]
    pub summary: CaseSummary,
    pub events: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Which cases: within a unit, optionally by state, category, source, reporter,
/// overdue at a time, or created in a period.
#[derive(Debug, Clone, Default)]
pub struct CaseQuery {
    pub within: Option<UnitCode>,
    pub states: Vec<String>,
    pub category: Option<String>,
    pub source: Option<String>,
    pub reporter_id: Option<i64>,
    /// Only cases whose step deadline is before this time.
    pub overdue_at: Option<Timestamp>,
    pub created_since: Option<Timestamp>,
    pub created_until: Option<Timestamp>,
    /// Only cases not yet closed, voided or merged.
    pub open_only: bool,
    /// Only cases within this many metres of a point: (lat, lon, metres).
    pub near: Option<(f64, f64, f64)>,
    /// At most 10,000 (the open-case map asks for thousands at once).
    pub limit: u32,
    pub offset: u32,
}

/// A case with its whole history, for [`crate::Store::import_cases`]: its
/// events numbered from 1 and the summary the domain derived from all of them.
#[derive(Debug, Clone)]
pub struct ImportedCase {
    pub case: NewCase,
    pub events: Vec<CaseEventRecord>,
    pub summary: CaseSummary,
}

/// The audit entry of a filing.
pub(crate) fn file_audit(by: &crate::Actor, id: i64, number: &str, new: &NewCase) -> crate::NewAudit {
    crate::NewAudit {
        actor: by.clone(),
        action: "file_case".into(),
        target: format!("case:{id}"),
        detail: serde_json::json!({ "number": number, "source": new.source, "category": new.category }),
        reason: None,
    }
}

/// The audit entry of [`crate::Store::drop_escalation`].
pub(crate) fn drop_escalation_audit(by: &crate::Actor, case_id: i64, deadline: Timestamp) -> crate::NewAudit {
    crate::NewAudit {
        actor: by.clone(),
        action: "drop_escalation".into(),
        target: format!("case:{case_id}"),
        detail: serde_json::json!({ "deadline": crate::stored::ts_text(deadline) }),
        reason: None,
    }
}
