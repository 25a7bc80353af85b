//! The case workflow of GB/T 30428 as an event-sourced state machine: collect →
//! file (or void) → dispatch → handle → report back → verify → close → evaluate,
//! with returns, extensions, deferrals and voids that need the level above.
//!
//! A case is its append-only list of [`CaseEvent`]s; [`CaseView::replay`] folds
//! them into the current state and [`CaseView::check`] decides whether a new
//! event may be appended. Deadlines are not stored: they follow from the step
//! records here, the catalogue's limits and the working calendar.

use crate::access::Role;
use crate::calendar::WorkCalendar;
use crate::catalogue::{Catalogue, CategoryCode, Step, StepLimits};
use crate::code::{Level, UnitCode};
use crate::dispatch::RespondStep;
use crate::facility::string_enum;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use std::sync::OnceLock;

/// A resident may reopen a closed case within this time after it was closed.
pub const REOPEN_WINDOW: SignedDuration = SignedDuration::from_hours(7 * 24);

/// The filing limit of a report that names no category yet (hotline, alarm).
pub const UNCATEGORISED_FILE_LIMIT: SignedDuration = SignedDuration::from_hours(1);

/// A case's number in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaseId(pub i64);

string_enum! {
    /// Where a case came from.
    Source {
        ResidentReport = "resident_report",
        /// A grid worker's patrol (巡查); may be self-handled on the spot.
        Patrol = "patrol",
        Hotline12345 = "hotline_12345",
        CameraAlarm = "camera_alarm",
        OneClickCall = "one_click_call",
    }
}

string_enum! {
    /// Where a case stands in the workflow.
    CaseState {
        /// Collected (采集上报), waiting to be filed.
        Reported = "reported",
        /// Filed (立案), waiting to be dispatched.
        Filed = "filed",
        /// Not a case after all (不予立案 or 作废). Final.
        Voided = "voided",
        /// A duplicate, merged into another case. Final.
        Merged = "merged",
        /// Sent to a handling unit, not yet accepted.
        Dispatched = "dispatched",
        /// Accepted (签收) and being handled.
        Handling = "handling",
        /// Handling suspended with approval (缓办); the clock stops.
        Deferred = "deferred",
        /// Handled, waiting for verification (处置反馈).
        ReportedBack = "reported_back",
        /// Verified on site (核查), waiting to be closed.
        Verified = "verified",
        /// Closed (结案).
        Closed = "closed",
        /// Closed and rated by the resident.
        Evaluated = "evaluated",
        /// Reopened after closing, waiting to be dispatched again.
        Reopened = "reopened",
    }
}

string_enum! {
    /// The special actions that need a decision from the level above.
    RequestKind {
        /// 退回: "not ours", back to the command centre for another dispatch.
        Return = "return",
        /// 延期: more working time to handle.
        Extension = "extension",
        /// 缓办: suspend handling, the clock stops until resumed.
        Deferral = "deferral",
        /// 作废: drop a filed case.
        Void = "void",
    }
}

string_enum! {
    /// The kind of an event without its data: what the state table speaks of.
    Action {
        Report = "report",
        File = "file",
        Void = "void",
        MergedInto = "merged_into",
        Dispatch = "dispatch",
        Accept = "accept",
        ReportBack = "report_back",
        SelfHandle = "self_handle",
        Verify = "verify",
        Close = "close",
        Evaluate = "evaluate",
        Reopen = "reopen",
        RequestReturn = "request_return",
        RequestExtension = "request_extension",
        RequestDeferral = "request_deferral",
        RequestVoid = "request_void",
        Approve = "approve",
        Reject = "reject",
        Resume = "resume",
        Escalated = "escalated",
        Comment = "comment",
        Respond = "respond",
    }
}

impl Action {
    /// How the action reads after "a case … cannot be".
    pub fn participle(self) -> &'static str {
        match self {
            Action::Report => "reported again",
            Action::File => "filed",
            Action::Void => "voided",
            Action::MergedInto => "merged into another case",
            Action::Dispatch => "dispatched",
            Action::Accept => "accepted",
            Action::ReportBack => "reported back",
            Action::SelfHandle => "self-handled",
            Action::Verify => "verified",
            Action::Close => "closed",
            Action::Evaluate => "evaluated",
            Action::Reopen => "reopened",
            Action::RequestReturn => "returned to the sender",
            Action::RequestExtension => "extended",
            Action::RequestDeferral => "deferred",
            Action::RequestVoid => "put up for voiding",
            Action::Approve => "approved",
            Action::Reject => "rejected",
            Action::Resume => "resumed",
            Action::Escalated => "escalated",
            Action::Comment => "commented on",
            Action::Respond => "answered by a responder",
        }
    }
}

impl CaseState {
    /// The actions the workflow allows in this state, when no request is
    /// waiting for a decision. Extra conditions (who, when) are checked apart.
    pub fn allowed(self) -> &'static [Action] {
        use Action::*;
        match self {
            CaseState::Reported => &[File, Void, MergedInto, SelfHandle, Escalated, Comment],
            CaseState::Filed => &[Dispatch, RequestVoid, MergedInto, Escalated, Comment, Respond],
            CaseState::Dispatched => {
                &[Accept, RequestReturn, RequestExtension, RequestVoid, Escalated, Comment, Respond]
            }
            CaseState::Handling => &[
                ReportBack,
                RequestReturn,
                RequestExtension,
                RequestDeferral,
                RequestVoid,
                Escalated,
                Comment,
                Respond,
            ],
            CaseState::Deferred => &[Resume, RequestVoid, Escalated, Comment],
            CaseState::ReportedBack => &[Verify, Escalated, Comment, Respond],
            CaseState::Verified => &[Close, Comment],
            CaseState::Closed => &[Evaluate, Reopen, Comment],
            CaseState::Evaluated => &[Reopen, Comment],
            CaseState::Reopened => &[Dispatch, RequestVoid, Escalated, Comment],
            CaseState::Voided | CaseState::Merged => &[Comment],
        }
    }

    /// Final states: nothing but comments follow.
    pub fn is_final(self) -> bool {
        matches!(self, CaseState::Voided | CaseState::Merged)
    }

    /// Open: someone still has to act before the case is closed.
    pub fn is_open(self) -> bool {
        !matches!(self, CaseState::Voided | CaseState::Merged | CaseState::Closed | CaseState::Evaluated)
    }
}

/// Who did something, as they were at the time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ActorRef {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    /// The unit the actor acted for (the scope of the grant they used).
    pub unit: UnitCode,
}

/// What happened, with the data each kind needs. Serialised with a `type`
/// tag: `{"type":"dispatch","unit":"610304003002"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The first event of every case (采集).
    Report {
        source: Source,
        grid: UnitCode,
        category: Option<CategoryCode>,
    },
    File {
        category: CategoryCode,
    },
    /// Not filed (不予立案), from `Reported` only; later voids need approval.
    Void,
    MergedInto {
        case: CaseId,
    },
    Dispatch {
        unit: UnitCode,
    },
    Accept,
    ReportBack,
    /// A patrolling grid worker fixed it on the spot, with a photo.
    SelfHandle {
        category: CategoryCode,
    },
    Verify {
        passed: bool,
    },
    Close,
    /// Resident satisfaction, 1 (very dissatisfied) to 5 (very satisfied).
    Evaluate {
        satisfaction: u8,
    },
    Reopen,
    RequestReturn,
    /// `extra` is working time, serialised as an ISO 8601 duration (`PT8H`).
    RequestExtension {
        extra: SignedDuration,
    },
    RequestDeferral,
    RequestVoid,
    Approve {
        request: RequestKind,
    },
    Reject {
        request: RequestKind,
    },
    Resume,
    /// Escalated to `level` (overdue, or by hand); `supervision` marks 督办.
    Escalated {
        level: Level,
        supervision: bool,
    },
    Comment,
    /// A responder's step on a one-click call: offered, accepted, on scene …
    /// The case's state moves by the ordinary events beside it.
    Respond {
        responder: i64,
        step: RespondStep,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        distance_m: Option<u32>,
    },
}

impl EventKind {
    pub fn action(&self) -> Action {
        match self {
            EventKind::Report { .. } => Action::Report,
            EventKind::File { .. } => Action::File,
            EventKind::Void => Action::Void,
            EventKind::MergedInto { .. } => Action::MergedInto,
            EventKind::Dispatch { .. } => Action::Dispatch,
            EventKind::Accept => Action::Accept,
            EventKind::ReportBack => Action::ReportBack,
            EventKind::SelfHandle { .. } => Action::SelfHandle,
            EventKind::Verify { .. } => Action::Verify,
            EventKind::Close => Action::Close,
            EventKind::Evaluate { .. } => Action::Evaluate,
            EventKind::Reopen => Action::Reopen,
            EventKind::RequestReturn => Action::RequestReturn,
            EventKind::RequestExtension { .. } => Action::RequestExtension,
            EventKind::RequestDeferral => Action::RequestDeferral,
            EventKind::RequestVoid => Action::RequestVoid,
            EventKind::Approve { .. } => Action::Approve,
            EventKind::Reject { .. } => Action::Reject,
            EventKind::Resume => Action::Resume,
            EventKind::Escalated { .. } => Action::Escalated,
            EventKind::Comment => Action::Comment,
            EventKind::Respond { .. } => Action::Respond,
        }
    }
}

/// One change to a case: who, when, what, from where. Never edited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseEvent {
    pub at: Timestamp,
    pub actor: ActorRef,
    #[serde(flatten)]
    pub kind: EventKind,
    /// Free text; the reason for voids and requests (required there).
    #[serde(default)]
    pub note: String,
    /// Attachment ids.
    #[serde(default)]
    pub photos: Vec<String>,
    /// `(longitude, latitude)` in WGS-84, where the actor was.
    #[serde(default)]
    pub location: Option<(f64, f64)>,
}

/// Why an event may not be appended, or a history does not replay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    #[error("a case history must start with a report; this one is empty")]
    Empty,
    #[error("a case history must start with a report, not {0}")]
    NotAReport(Action),
    #[error("a case that is {state:?} cannot be {}; {}", action.participle(), allowed_phrase(*state))]
    NotAllowed { state: CaseState, action: Action },
    #[error("the case waits for a decision on its {request} request; it cannot be {} until that is approved or rejected", action.participle())]
    AwaitingDecision { request: RequestKind, action: Action },
    #[error("there is no {request} request waiting for a decision")]
    NoPendingRequest { request: RequestKind },
    #[error("a request made at unit {requester} must be decided by a unit above it; {approver} is not")]
    ApproverNotAbove { approver: UnitCode, requester: UnitCode },
    #[error("a request cannot be decided by the person who made it")]
    OwnRequest,
    #[error("the verifier must be someone other than the handler ({0})")]
    VerifierIsHandler(String),
    #[error("only the unit the case is dispatched to ({handler}) or a unit inside it can do this; {actor} is not")]
    NotHandlerUnit { handler: UnitCode, actor: UnitCode },
    #[error("category {0} is not a sub-class of the catalogue")]
    UnknownCategory(CategoryCode),
    #[error("a case cannot be self-handled: {0}")]
    SelfHandleRefused(&'static str),
    #[error("the reopen window of {window_days} days after closing at {closed_at} has passed")]
    ReopenWindowPassed { closed_at: Timestamp, window_days: i64 },
    #[error("satisfaction is rated 1 to 5, not {0}")]
    BadSatisfaction(u8),
    #[error("a case cannot be {} without a reason in the note", .0.participle())]
    ReasonRequired(Action),
    #[error("an extension must add working time above zero")]
    BadExtension,
    #[error("a case escalated to {current:?} level cannot be escalated to {requested:?} level, which is not above it")]
    EscalationNotHigher { current: Level, requested: Level },
    #[error("an event at {at} is earlier than the case's last event at {last}")]
    OutOfOrder { at: Timestamp, last: Timestamp },
}

fn allowed_phrase(state: CaseState) -> String {
    let verbs: Vec<&str> = state
        .allowed()
        .iter()
        .filter(|a| !matches!(a, Action::Comment | Action::Respond))
        .map(|a| a.participle())
        .collect();
    match verbs.as_slice() {
        [] => "it is finished".to_owned(),
        [one] => format!("it can be {one}"),
        [init @ .., last] => format!("it can be {} or {last}", init.join(", ")),
    }
}

/// What the workflow checks against: the catalogue and the reopen window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub catalogue: Catalogue,
    pub reopen_window: SignedDuration,
}

impl Rules {
    /// The standard catalogue and [`REOPEN_WINDOW`], built once.
    pub fn standard() -> &'static Rules {
        static RULES: OnceLock<Rules> = OnceLock::new();
        RULES.get_or_init(|| Rules { catalogue: Catalogue::standard(), reopen_window: REOPEN_WINDOW })
    }
}

/// A special request waiting for its decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequest {
    pub kind: RequestKind,
    pub requester: ActorRef,
    pub at: Timestamp,
    /// Working time asked for by an extension; zero otherwise.
    pub extra: SignedDuration,
}

/// How often the special actions happened over the case's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub returns: u32,
    pub extensions: u32,
    pub deferrals: u32,
    pub reopenings: u32,
    /// Verifications that failed and sent the case back to handling (返工).
    pub verify_failures: u32,
    pub rejected_requests: u32,
    pub escalations: u32,
}

/// One run of a timed step. A step runs again after a return, a failed
/// verification or a reopening, so a case may hold several of each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: Step,
    pub started: Timestamp,
    pub ended: Option<Timestamp>,
    /// What ended it; for an approved request, the request's action.
    pub ended_by: Option<Action>,
    /// Approved extensions, added to the limit.
    pub extension: SignedDuration,
    /// Deferrals: the clock stops from the first to the second instant.
    pub paused: Vec<(Timestamp, Option<Timestamp>)>,
}

impl StepRecord {
    fn start(step: Step, at: Timestamp) -> Self {
        StepRecord { step, started: at, ended: None, ended_by: None, extension: SignedDuration::ZERO, paused: vec![] }
    }

    fn paused_working_time(&self, cal: &WorkCalendar) -> Option<SignedDuration> {
        self.paused.iter().map(|&(from, to)| to.map(|to| cal.working_time_between(from, to))).sum()
    }

    /// The deadline: `limit` plus extensions in working time from the start,
    /// moved on by the working time spent deferred. None while deferred.
    pub fn deadline(&self, cal: &WorkCalendar, limit: SignedDuration) -> Option<Timestamp> {
        let paused = self.paused_working_time(cal)?;
        Some(cal.add_working_time(self.started, limit + self.extension + paused))
    }

    /// Working time the step took, deferrals left out; None while it runs.
    pub fn working_time(&self, cal: &WorkCalendar) -> Option<SignedDuration> {
        let ended = self.ended?;
        Some(cal.working_time_between(self.started, ended) - self.paused_working_time(cal)?)
    }

    /// Whether the step ended by its deadline; None while it runs.
    pub fn on_time(&self, cal: &WorkCalendar, limit: SignedDuration) -> Option<bool> {
        Some(self.ended? <= self.deadline(cal, limit)?)
    }
}

/// A case's history: its id and its events in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub id: CaseId,
    pub events: Vec<CaseEvent>,
}

impl Case {
    pub fn replay(&self) -> Result<CaseView, WorkflowError> {
        CaseView::replay(&self.events)
    }
}

/// The current state of a case, folded from its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseView {
    pub state: CaseState,
    pub source: Source,
    pub grid: UnitCode,
    pub category: Option<CategoryCode>,
    pub reporter: ActorRef,
    pub reported_at: Timestamp,
    pub last_at: Timestamp,
    /// The unit the case is dispatched to (or self-handled by).
    pub handler_unit: Option<UnitCode>,
    /// Who reported it handled; the verifier must be someone else.
    pub handled_by: Option<ActorRef>,
    pub pending: Option<PendingRequest>,
    pub counts: Counts,
    /// The highest level the case has been escalated to.
    pub escalation: Option<Level>,
    /// Under supervision (督办).
    pub supervised: bool,
    pub self_handled: bool,
    pub satisfaction: Option<u8>,
    /// When the current closure happened; cleared by a reopening.
    pub closed_at: Option<Timestamp>,
    pub merged_into: Option<CaseId>,
    pub steps: Vec<StepRecord>,
}

impl CaseView {
    /// Folds a history with the standard rules.
    pub fn replay(events: &[CaseEvent]) -> Result<CaseView, WorkflowError> {
        Self::replay_with(Rules::standard(), events)
    }

    pub fn replay_with(rules: &Rules, events: &[CaseEvent]) -> Result<CaseView, WorkflowError> {
        let (first, rest) = events.split_first().ok_or(WorkflowError::Empty)?;
        let mut view = CaseView::open(first)?;
        for event in rest {
            view.apply_with(rules, event)?;
        }
        Ok(view)
    }

    /// The view of a case that `event`, its report, starts.
    pub fn open(event: &CaseEvent) -> Result<CaseView, WorkflowError> {
        let EventKind::Report { source, grid, category } = &event.kind else {
            return Err(WorkflowError::NotAReport(event.kind.action()));
        };
        Ok(CaseView {
            state: CaseState::Reported,
            source: *source,
            grid: grid.clone(),
            category: category.clone(),
            reporter: event.actor.clone(),
            reported_at: event.at,
            last_at: event.at,
            handler_unit: None,
            handled_by: None,
            pending: None,
            counts: Counts::default(),
            escalation: None,
            supervised: false,
            self_handled: false,
            satisfaction: None,
            closed_at: None,
            merged_into: None,
            steps: vec![StepRecord::start(Step::File, event.at)],
        })
    }

    /// May `event` be appended? Uses the standard rules.
    pub fn check(&self, event: &CaseEvent) -> Result<(), WorkflowError> {
        self.check_with(Rules::standard(), event)
    }

    pub fn check_with(&self, rules: &Rules, event: &CaseEvent) -> Result<(), WorkflowError> {
        use WorkflowError as E;
        let action = event.kind.action();
        let actor = &event.actor;
        if event.at < self.last_at {
            return Err(E::OutOfOrder { at: event.at, last: self.last_at });
        }
        if let Some(p) = &self.pending
            && !matches!(action, Action::Approve | Action::Reject | Action::Escalated | Action::Comment)
        {
            return Err(E::AwaitingDecision { request: p.kind, action });
        }
        let decision = matches!(action, Action::Approve | Action::Reject);
        if !decision && !self.state.allowed().contains(&action) {
            return Err(E::NotAllowed { state: self.state, action });
        }
        let needs_reason = matches!(
            action,
            Action::Void
                | Action::RequestReturn
                | Action::RequestExtension
                | Action::RequestDeferral
                | Action::RequestVoid
        );
        if needs_reason && event.note.trim().is_empty() {
            return Err(E::ReasonRequired(action));
        }
        let in_handler_unit = || match &self.handler_unit {
            Some(h) if h.contains(&actor.unit) => Ok(()),
            Some(h) => Err(E::NotHandlerUnit { handler: h.clone(), actor: actor.unit.clone() }),
            None => Err(E::NotAllowed { state: self.state, action }),
        };
        match &event.kind {
            EventKind::Report { .. } => return Err(E::NotAllowed { state: self.state, action }),
            EventKind::File { category } => {
                rules.catalogue.get(category).ok_or_else(|| E::UnknownCategory(category.clone()))?;
            }
            EventKind::SelfHandle { category } => {
                let c = rules.catalogue.get(category).ok_or_else(|| E::UnknownCategory(category.clone()))?;
                if self.source != Source::Patrol {
                    return Err(E::SelfHandleRefused("only a grid worker's patrol report can be self-handled"));
                }
                if actor.role != Role::GridWorker || actor.user_id != self.reporter.user_id {
                    return Err(E::SelfHandleRefused("only the grid worker who reported it can self-handle it"));
                }
                if !c.self_handle {
                    return Err(E::SelfHandleRefused("its category must be dispatched to its handler"));
                }
                if event.photos.is_empty() {
                    return Err(E::SelfHandleRefused("a photo of the result is required"));
                }
            }
            EventKind::Accept
            | EventKind::ReportBack
            | EventKind::RequestReturn
            | EventKind::RequestExtension { .. }
            | EventKind::RequestDeferral => {
                in_handler_unit()?;
                if let EventKind::RequestExtension { extra } = &event.kind
                    && *extra <= SignedDuration::ZERO
                {
                    return Err(E::BadExtension);
                }
            }
            EventKind::Resume => {
                // The handler resumes, or a unit above it decides to.
                if !self.handler_unit.as_ref().is_some_and(|h| actor.unit.contains(h)) {
                    in_handler_unit()?;
                }
            }
            EventKind::Verify { .. } => {
                if let Some(h) = &self.handled_by
                    && h.user_id == actor.user_id
                {
                    return Err(E::VerifierIsHandler(h.username.clone()));
                }
            }
            EventKind::Evaluate { satisfaction } => {
                if !(1..=5).contains(satisfaction) {
                    return Err(E::BadSatisfaction(*satisfaction));
                }
            }
            EventKind::Reopen => {
                if let Some(closed_at) = self.closed_at
                    && event.at.duration_since(closed_at) > rules.reopen_window
                {
                    let window_days = rules.reopen_window.as_hours() / 24;
                    return Err(E::ReopenWindowPassed { closed_at, window_days });
                }
            }
            EventKind::Approve { request } | EventKind::Reject { request } => {
                let p = self.pending.as_ref().filter(|p| p.kind == *request);
                let p = p.ok_or(E::NoPendingRequest { request: *request })?;
                if p.requester.user_id == actor.user_id {
                    return Err(E::OwnRequest);
                }
                if actor.unit == p.requester.unit || !actor.unit.contains(&p.requester.unit) {
                    return Err(E::ApproverNotAbove {
                        approver: actor.unit.clone(),
                        requester: p.requester.unit.clone(),
                    });
                }
            }
            EventKind::Escalated { level, .. } => {
                let current = self.escalation.unwrap_or(Level::Grid);
                // Level orders District < Street < …: "above" is smaller.
                if *level >= current {
                    return Err(E::EscalationNotHigher { current, requested: *level });
                }
            }
            EventKind::Void
            | EventKind::MergedInto { .. }
            | EventKind::Dispatch { .. }
            | EventKind::Close
            | EventKind::RequestVoid
            | EventKind::Comment
            | EventKind::Respond { .. } => {}
        }
        Ok(())
    }

    /// Checks `event` with the standard rules and folds it in.
    pub fn apply(&mut self, event: &CaseEvent) -> Result<(), WorkflowError> {
        self.apply_with(Rules::standard(), event)
    }

    pub fn apply_with(&mut self, rules: &Rules, event: &CaseEvent) -> Result<(), WorkflowError> {
        self.check_with(rules, event)?;
        let at = event.at;
        let action = event.kind.action();
        self.last_at = at;
        match &event.kind {
            EventKind::Report { .. } | EventKind::Comment | EventKind::Respond { .. } => {}
            EventKind::File { category } => {
                self.category = Some(category.clone());
                self.end_step(at, action);
                self.steps.push(StepRecord::start(Step::Dispatch, at));
                self.state = CaseState::Filed;
            }
            EventKind::Void => {
                self.end_step(at, action);
                self.state = CaseState::Voided;
            }
            EventKind::MergedInto { case } => {
                self.end_step(at, action);
                self.merged_into = Some(*case);
                self.state = CaseState::Merged;
            }
            EventKind::Dispatch { unit } => {
                self.handler_unit = Some(unit.clone());
                self.handled_by = None;
                self.end_step(at, action);
                self.steps.push(StepRecord::start(Step::Handle, at));
                self.state = CaseState::Dispatched;
            }
            EventKind::Accept => self.state = CaseState::Handling,
            EventKind::ReportBack => {
                self.handled_by = Some(event.actor.clone());
                self.end_step(at, action);
                self.steps.push(StepRecord::start(Step::Verify, at));
                self.state = CaseState::ReportedBack;
            }
            EventKind::SelfHandle { category } => {
                self.category = Some(category.clone());
                self.handler_unit = Some(event.actor.unit.clone());
                self.handled_by = Some(event.actor.clone());
                self.end_step(at, action);
                self.self_handled = true;
                self.closed_at = Some(at);
                self.state = CaseState::Closed;
            }
            EventKind::Verify { passed: true } => self.state = CaseState::Verified,
            EventKind::Verify { passed: false } => {
                // Rework (返工): the handler gets a fresh handling step.
                self.counts.verify_failures += 1;
                self.end_step(at, action);
                self.steps.push(StepRecord::start(Step::Handle, at));
                self.state = CaseState::Handling;
            }
            EventKind::Close => {
                self.end_step(at, action);
                self.closed_at = Some(at);
                self.state = CaseState::Closed;
            }
            EventKind::Evaluate { satisfaction } => {
                self.satisfaction = Some(*satisfaction);
                self.state = CaseState::Evaluated;
            }
            EventKind::Reopen => {
                self.counts.reopenings += 1;
                self.closed_at = None;
                self.satisfaction = None;
                self.self_handled = false;
                self.steps.push(StepRecord::start(Step::Dispatch, at));
                self.state = CaseState::Reopened;
            }
            EventKind::RequestReturn
            | EventKind::RequestExtension { .. }
            | EventKind::RequestDeferral
            | EventKind::RequestVoid => {
                let (kind, extra) = match &event.kind {
                    EventKind::RequestReturn => (RequestKind::Return, SignedDuration::ZERO),
                    EventKind::RequestExtension { extra } => (RequestKind::Extension, *extra),
                    EventKind::RequestDeferral => (RequestKind::Deferral, SignedDuration::ZERO),
                    _ => (RequestKind::Void, SignedDuration::ZERO),
                };
                self.pending = Some(PendingRequest { kind, requester: event.actor.clone(), at, extra });
            }
            EventKind::Approve { request } => {
                let extra = self.pending.take().map_or(SignedDuration::ZERO, |p| p.extra);
                match request {
                    RequestKind::Return => {
                        self.counts.returns += 1;
                        self.end_step(at, Action::RequestReturn);
                        self.handler_unit = None;
                        self.steps.push(StepRecord::start(Step::Dispatch, at));
                        self.state = CaseState::Filed;
                    }
                    RequestKind::Extension => {
                        self.counts.extensions += 1;
                        if let Some(step) = self.running_step_mut() {
                            step.extension += extra;
                        }
                    }
                    RequestKind::Deferral => {
                        self.counts.deferrals += 1;
                        if let Some(step) = self.running_step_mut() {
                            step.paused.push((at, None));
                        }
                        self.state = CaseState::Deferred;
                    }
                    RequestKind::Void => {
                        self.end_step(at, Action::RequestVoid);
                        self.state = CaseState::Voided;
                    }
                }
            }
            EventKind::Reject { .. } => {
                self.pending = None;
                self.counts.rejected_requests += 1;
            }
            EventKind::Resume => {
                if let Some(pause) = self.running_step_mut().and_then(|s| s.paused.last_mut()) {
                    pause.1 = Some(at);
                }
                self.state = CaseState::Handling;
            }
            EventKind::Escalated { level, supervision } => {
                self.counts.escalations += 1;
                self.escalation = Some(*level);
                self.supervised |= supervision;
            }
        }
        Ok(())
    }

    fn running_step_mut(&mut self) -> Option<&mut StepRecord> {
        self.steps.last_mut().filter(|s| s.ended.is_none())
    }

    fn end_step(&mut self, at: Timestamp, by: Action) {
        if let Some(step) = self.running_step_mut() {
            // A deferral still open when the step ends stops there.
            if let Some(pause) = step.paused.last_mut().filter(|p| p.1.is_none()) {
                pause.1 = Some(at);
            }
            step.ended = Some(at);
            step.ended_by = Some(by);
        }
    }

    /// The step running now, if the case is waiting on someone.
    pub fn current_step(&self) -> Option<&StepRecord> {
        self.steps.last().filter(|s| s.ended.is_none())
    }

    /// The limits that apply: the category's, or for a report not yet
    /// categorised, [`UNCATEGORISED_FILE_LIMIT`] for filing.
    pub fn limit(&self, catalogue: &Catalogue, step: Step) -> Option<SignedDuration> {
        match self.category.as_ref().and_then(|c| catalogue.get(c)) {
            Some(c) => Some(c.limits.get(step)),
            None => (step == Step::File).then_some(UNCATEGORISED_FILE_LIMIT),
        }
    }

    pub fn limits(&self, catalogue: &Catalogue) -> Option<StepLimits> {
        self.category.as_ref().and_then(|c| catalogue.get(c)).map(|c| c.limits)
    }

    /// The deadline of the running step; None when nothing runs or the case is
    /// deferred (the clock stands still).
    pub fn deadline(&self, cal: &WorkCalendar, catalogue: &Catalogue) -> Option<Timestamp> {
        let step = self.current_step()?;
        step.deadline(cal, self.limit(catalogue, step.step)?)
    }

    /// True when the running step is past its deadline at `now`.
    pub fn is_overdue(&self, now: Timestamp, cal: &WorkCalendar, catalogue: &Catalogue) -> bool {
        self.deadline(cal, catalogue).is_some_and(|d| now > d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRID: &str = "610304003002007";
    const COMMUNITY: &str = "610304003002";
    const STREET: &str = "610304003";
    const DISTRICT: &str = "610304";

    fn unit(s: &str) -> UnitCode {
        UnitCode::parse(s).expect("test unit")
    }

    fn actor(user_id: i64, role: Role, at: &str) -> ActorRef {
        ActorRef { user_id, username: format!("user{user_id}"), role, unit: unit(at) }
    }

    fn resident() -> ActorRef {
        actor(1, Role::Resident, GRID)
    }
    fn worker() -> ActorRef {
        actor(2, Role::GridWorker, GRID)
    }
    fn operator() -> ActorRef {
        actor(3, Role::Operator, STREET)
    }
    fn handler() -> ActorRef {
        actor(4, Role::CommunityStaff, COMMUNITY)
    }
    fn street_staff() -> ActorRef {
        actor(5, Role::StreetStaff, STREET)
    }
    fn district_leader() -> ActorRef {
        actor(6, Role::Leader, DISTRICT)
    }

    fn cst(s: &str) -> Timestamp {
        format!("{s}:00+08:00").parse().expect("test timestamp")
    }

    fn cat(s: &str) -> CategoryCode {
        CategoryCode::parse(s).expect("test category")
    }

    /// Events ten minutes apart from Monday 2025-09-29 09:00 CST.
    struct Story {
        events: Vec<CaseEvent>,
        next: Timestamp,
    }

    impl Story {
        fn new() -> Self {
            Story { events: vec![], next: cst("2025-09-29T09:00") }
        }
        fn at(mut self, at: &str) -> Self {
            self.next = cst(at);
            self
        }
        fn ev(&mut self, who: ActorRef, kind: EventKind) -> CaseEvent {
            let e = CaseEvent { at: self.next, actor: who, kind, note: String::new(), photos: vec![], location: None };
            self.next += SignedDuration::from_mins(10);
            e
        }
        fn push(mut self, who: ActorRef, kind: EventKind) -> Self {
            let e = self.ev(who, kind);
            self.events.push(e);
            self
        }
        fn push_noted(mut self, who: ActorRef, kind: EventKind, note: &str) -> Self {
            let mut e = self.ev(who, kind);
            e.note = note.to_owned();
            self.events.push(e);
            self
        }
        fn view(&self) -> CaseView {
            CaseView::replay(&self.events).expect("story replays")
        }
    }

    fn report(source: Source, who: ActorRef) -> Story {
        Story::new().push(who, EventKind::Report { source, grid: unit(GRID), category: None })
    }

    /// A history that leaves the case in `state`.
    fn story_to(state: CaseState) -> Story {
        let s = report(Source::ResidentReport, resident());
        let filed = |s: Story| s.push(operator(), EventKind::File { category: cat("0601") });
        let dispatched = |s: Story| filed(s).push(operator(), EventKind::Dispatch { unit: unit(COMMUNITY) });
        let handling = |s: Story| dispatched(s).push(handler(), EventKind::Accept);
        let back = |s: Story| handling(s).push(handler(), EventKind::ReportBack);
        let verified = |s: Story| back(s).push(operator(), EventKind::Verify { passed: true });
        let closed = |s: Story| verified(s).push(operator(), EventKind::Close);
        match state {
            CaseState::Reported => s,
            CaseState::Filed => filed(s),
            CaseState::Voided => s.push_noted(operator(), EventKind::Void, "duplicate call"),
            CaseState::Merged => s.push(operator(), EventKind::MergedInto { case: CaseId(7) }),
            CaseState::Dispatched => dispatched(s),
            CaseState::Handling => handling(s),
            CaseState::Deferred => handling(s)
                .push_noted(handler(), EventKind::RequestDeferral, "waiting for the owner")
                .push(street_staff(), EventKind::Approve { request: RequestKind::Deferral }),
            CaseState::ReportedBack => back(s),
            CaseState::Verified => verified(s),
            CaseState::Closed => closed(s),
            CaseState::Evaluated => closed(s).push(resident(), EventKind::Evaluate { satisfaction: 4 }),
            CaseState::Reopened => closed(s).push(resident(), EventKind::Reopen),
        }
    }

    /// A plausible event of each action: right actor, note and photo, so only
    /// the state decides.
    fn sample(action: Action, story: &mut Story) -> CaseEvent {
        let (who, kind) = match action {
            Action::Report => {
                (resident(), EventKind::Report { source: Source::ResidentReport, grid: unit(GRID), category: None })
            }
            Action::File => (operator(), EventKind::File { category: cat("0601") }),
            Action::Void => (operator(), EventKind::Void),
            Action::MergedInto => (operator(), EventKind::MergedInto { case: CaseId(7) }),
            Action::Dispatch => (operator(), EventKind::Dispatch { unit: unit(COMMUNITY) }),
            Action::Accept => (handler(), EventKind::Accept),
            Action::ReportBack => (handler(), EventKind::ReportBack),
            Action::SelfHandle => (worker(), EventKind::SelfHandle { category: cat("0601") }),
            Action::Verify => (operator(), EventKind::Verify { passed: true }),
            Action::Close => (operator(), EventKind::Close),
            Action::Evaluate => (resident(), EventKind::Evaluate { satisfaction: 5 }),
            Action::Reopen => (resident(), EventKind::Reopen),
            Action::RequestReturn => (handler(), EventKind::RequestReturn),
            Action::RequestExtension => {
                (handler(), EventKind::RequestExtension { extra: SignedDuration::from_hours(8) })
            }
            Action::RequestDeferral => (handler(), EventKind::RequestDeferral),
            Action::RequestVoid => (operator(), EventKind::RequestVoid),
            Action::Approve => (street_staff(), EventKind::Approve { request: RequestKind::Void }),
            Action::Reject => (street_staff(), EventKind::Reject { request: RequestKind::Void }),
            Action::Resume => (handler(), EventKind::Resume),
            Action::Escalated => {
                (district_leader(), EventKind::Escalated { level: Level::District, supervision: true })
            }
            Action::Comment => (resident(), EventKind::Comment),
            Action::Respond => {
                (handler(), EventKind::Respond { responder: 1, step: RespondStep::Offered, distance_m: Some(420) })
            }
        };
        let mut e = story.ev(who, kind);
        e.note = "reason".to_owned();
        e.photos = vec!["photo-1".to_owned()];
        e
    }

    #[test]
    fn every_state_allows_exactly_its_table_of_actions() {
        for &state in CaseState::ALL {
            let mut story = story_to(state);
            let view = story.view();
            assert_eq!(view.state, state);
            for &action in Action::ALL {
                if matches!(action, Action::Approve | Action::Reject) {
                    continue; // decided by the pending request, tested apart
                }
                let e = sample(action, &mut story);
                let got = view.check(&e);
                if state.allowed().contains(&action) {
                    // Self-handling needs a patrol report; that rule is tested apart.
                    if action != Action::SelfHandle {
                        assert_eq!(got, Ok(()), "{state:?} should allow {action}");
                    }
                } else {
                    assert!(
                        matches!(got, Err(WorkflowError::NotAllowed { .. })),
                        "{state:?} should refuse {action}: {got:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn allowed_transitions_land_in_the_right_state() {
        use CaseState::*;
        let table: &[(CaseState, Action, CaseState)] = &[
            (Reported, Action::File, Filed),
            (Reported, Action::Void, Voided),
            (Reported, Action::MergedInto, Merged),
            (Filed, Action::Dispatch, Dispatched),
            (Filed, Action::MergedInto, Merged),
            (Dispatched, Action::Accept, Handling),
            (Handling, Action::ReportBack, ReportedBack),
            (ReportedBack, Action::Verify, Verified),
            (Verified, Action::Close, Closed),
            (Closed, Action::Evaluate, Evaluated),
            (Closed, Action::Reopen, Reopened),
            (Evaluated, Action::Reopen, Reopened),
            (Reopened, Action::Dispatch, Dispatched),
            (Deferred, Action::Resume, Handling),
            (Handling, Action::Escalated, Handling),
            (Handling, Action::Comment, Handling),
        ];
        for &(from, action, to) in table {
            let mut story = story_to(from);
            let e = sample(action, &mut story);
            let mut view = story.view();
            view.apply(&e).unwrap_or_else(|err| panic!("{from:?} --{action}--> {to:?}: {err}"));
            assert_eq!(view.state, to, "{from:?} --{action}-->");
        }
    }

    #[test]
    fn refusals_say_what_is_possible_instead() {
        let table: &[(CaseState, Action, &str)] = &[
            (
                CaseState::Closed,
                Action::Dispatch,
                "a case that is Closed cannot be dispatched; it can be evaluated or reopened",
            ),
            (CaseState::Voided, Action::Dispatch, "a case that is Voided cannot be dispatched; it is finished"),
            (CaseState::Reported, Action::Close, "a case that is Reported cannot be closed; it can be filed, voided"),
            (CaseState::Filed, Action::Void, "cannot be voided; it can be dispatched, put up for voiding"),
            (CaseState::ReportedBack, Action::Close, "cannot be closed; it can be verified or escalated"),
            (CaseState::Evaluated, Action::Evaluate, "cannot be evaluated; it can be reopened"),
        ];
        for &(state, action, want) in table {
            let mut story = story_to(state);
            let e = sample(action, &mut story);
            let msg = story.view().check(&e).expect_err("refused").to_string();
            assert!(msg.contains(want), "{state:?} {action}: {msg}");
        }
    }

    #[test]
    fn a_rubbish_report_from_collection_to_rating_across_national_day() {
        // A resident reports rubbish on Tuesday 30 September at 15:40; the street
        // files it at 15:50 and dispatches it to the community at 16:00, right
        // before the National Day holiday. Its 4 working hours run to 9 October 11:00.
        let story = Story::new()
            .at("2025-09-30T15:40")
            .push(resident(), EventKind::Report { source: Source::ResidentReport, grid: unit(GRID), category: None })
            .push(operator(), EventKind::File { category: cat("0601") })
            .at("2025-09-30T16:00")
            .push(operator(), EventKind::Dispatch { unit: unit(COMMUNITY) });
        let view = story.view();
        let (cal, catalogue) = (WorkCalendar::china(), Catalogue::standard());
        assert_eq!(view.deadline(&cal, &catalogue), Some(cst("2025-10-09T11:00")));
        assert!(!view.is_overdue(cst("2025-10-08T20:00"), &cal, &catalogue), "holidays do not count");
        assert!(view.is_overdue(cst("2025-10-09T11:01"), &cal, &catalogue));
        // The community asks for a day more; the street (above it) approves.
        let story = story
            .at("2025-10-09T08:40")
            .push(handler(), EventKind::Accept)
            .push_noted(
                handler(),
                EventKind::RequestExtension { extra: SignedDuration::from_hours(7) },
                "needs a truck",
            )
            .push(street_staff(), EventKind::Approve { request: RequestKind::Extension });
        let view = story.view();
        assert_eq!(view.counts.extensions, 1);
        assert_eq!(view.deadline(&cal, &catalogue), Some(cst("2025-10-10T11:00")));
        let story = story
            .at("2025-10-10T10:00")
            .push(handler(), EventKind::ReportBack)
            .push(operator(), EventKind::Verify { passed: true })
            .push(operator(), EventKind::Close)
            .push(resident(), EventKind::Evaluate { satisfaction: 5 });
        let view = story.view();
        assert_eq!(view.state, CaseState::Evaluated);
        assert_eq!(view.satisfaction, Some(5));
        assert_eq!(view.handler_unit, Some(unit(COMMUNITY)));
        assert_eq!(view.handled_by.as_ref().map(|a| a.user_id), Some(4));
        let steps: Vec<(Step, Option<bool>)> = view
            .steps
            .iter()
            .map(|s| (s.step, s.on_time(&cal, view.limit(&catalogue, s.step).expect("limit"))))
            .collect();
        assert_eq!(
            steps,
            vec![
                (Step::File, Some(true)),
                (Step::Dispatch, Some(true)),
                (Step::Handle, Some(true)),
                (Step::Verify, Some(true))
            ]
        );
        // Handling took 1.5 h on 30 September, 7 h on the 9th and 1.5 h on the 10th.
        assert_eq!(view.steps[2].working_time(&cal), Some(SignedDuration::from_hours(10)));
    }

    #[test]
    fn a_patrolling_grid_worker_fixes_rubbish_on_the_spot() {
        let mut story = report(Source::Patrol, worker());
        let mut e = story.ev(worker(), EventKind::SelfHandle { category: cat("0601") });
        let view = story.view();
        assert_eq!(view.check(&e), Err(WorkflowError::SelfHandleRefused("a photo of the result is required")));
        e.photos.push("after.jpg".to_owned());
        story.events.push(e);
        let view = story.view();
        assert_eq!(view.state, CaseState::Closed);
        assert!(view.self_handled);
        assert_eq!(view.handler_unit, Some(unit(GRID)));

        // Not for every category, not for a resident's report, not for someone else.
        let refusals: &[(Source, ActorRef, &str)] = &[
            (Source::Patrol, worker(), "1501"),
            (Source::ResidentReport, worker(), "0601"),
            (Source::Patrol, actor(9, Role::GridWorker, GRID), "0601"),
        ];
        for (source, who, code) in refusals {
            let mut story = report(*source, worker());
            let mut e = story.ev(who.clone(), EventKind::SelfHandle { category: cat(code) });
            e.photos.push("after.jpg".to_owned());
            assert!(matches!(story.view().check(&e), Err(WorkflowError::SelfHandleRefused(_))), "{source} {code}");
        }
    }

    #[test]
    fn reopening_is_possible_within_seven_days_of_closing_only() {
        let closed = story_to(CaseState::Closed);
        let closed_at = closed.view().closed_at.expect("closed");
        for (days, ok) in [(1, true), (7, true), (8, false)] {
            let mut story = story_to(CaseState::Closed);
            story.next = closed_at + SignedDuration::from_hours(24 * days);
            let e = story.ev(resident(), EventKind::Reopen);
            let got = story.view().check(&e);
            assert_eq!(got.is_ok(), ok, "{days} days: {got:?}");
        }
        let view = story_to(CaseState::Reopened).push(operator(), EventKind::Dispatch { unit: unit(COMMUNITY) }).view();
        assert_eq!((view.state, view.counts.reopenings, view.closed_at), (CaseState::Dispatched, 1, None));
    }

    #[test]
    fn the_verifier_is_not_the_handler() {
        let mut story = story_to(CaseState::ReportedBack);
        let e = story.ev(handler(), EventKind::Verify { passed: true });
        assert_eq!(story.view().check(&e), Err(WorkflowError::VerifierIsHandler("user4".to_owned())));
        // A failed verification is rework: back to handling with a fresh step.
        let view = story_to(CaseState::ReportedBack).push(operator(), EventKind::Verify { passed: false }).view();
        assert_eq!((view.state, view.counts.verify_failures), (CaseState::Handling, 1));
        assert_eq!(view.current_step().map(|s| s.step), Some(Step::Handle));
    }

    #[test]
    fn requests_are_decided_by_a_unit_above_the_requester() {
        let requested =
            || story_to(CaseState::Handling).push_noted(handler(), EventKind::RequestReturn, "not a community matter");
        let deciders: &[(ActorRef, Option<&str>)] = &[
            (street_staff(), None),
            (district_leader(), None),
            (actor(8, Role::CommunityStaff, COMMUNITY), Some("must be decided by a unit above it")),
            (worker(), Some("must be decided by a unit above it")),
            (actor(8, Role::StreetStaff, "610304001"), Some("must be decided by a unit above it")),
            (handler(), Some("the person who made it")),
        ];
        for (who, refusal) in deciders {
            let mut story = requested();
            let e = story.ev(who.clone(), EventKind::Approve { request: RequestKind::Return });
            match (story.view().check(&e), refusal) {
                (Ok(()), None) => {}
                (Err(err), Some(want)) => assert!(err.to_string().contains(want), "{}: {err}", who.unit),
                (got, want) => panic!("{}: got {got:?}, wanted {want:?}", who.unit),
            }
        }
        // While the request waits nothing else moves; the wrong decision is refused.
        let mut story = requested();
        let e = story.ev(handler(), EventKind::ReportBack);
        assert!(matches!(story.view().check(&e), Err(WorkflowError::AwaitingDecision { .. })));
        let e = story.ev(street_staff(), EventKind::Approve { request: RequestKind::Extension });
        assert_eq!(story.view().check(&e), Err(WorkflowError::NoPendingRequest { request: RequestKind::Extension }));
        // Approved: back to filed for another dispatch, counted.
        let view = requested().push(street_staff(), EventKind::Approve { request: RequestKind::Return }).view();
        assert_eq!((view.state, view.counts.returns, view.handler_unit.clone()), (CaseState::Filed, 1, None));
        let view = requested().push(street_staff(), EventKind::Reject { request: RequestKind::Return }).view();
        assert_eq!((view.state, view.counts.rejected_requests, view.pending.clone()), (CaseState::Handling, 1, None));
    }

    #[test]
    fn requests_need_a_reason_and_the_handling_unit() {
        let mut story = story_to(CaseState::Handling);
        let e = story.ev(handler(), EventKind::RequestReturn);
        assert_eq!(story.view().check(&e), Err(WorkflowError::ReasonRequired(Action::RequestReturn)));
        let mut e = story.ev(
            actor(9, Role::CommunityStaff, "610304003003"),
            EventKind::RequestExtension { extra: SignedDuration::from_hours(4) },
        );
        e.note = "busy".to_owned();
        assert!(matches!(story.view().check(&e), Err(WorkflowError::NotHandlerUnit { .. })));
    }

    #[test]
    fn a_deferral_stops_the_clock_and_a_void_needs_approval_after_filing() {
        let (cal, catalogue) = (WorkCalendar::china(), Catalogue::standard());
        let story = story_to(CaseState::Deferred);
        let view = story.view();
        assert_eq!(view.deadline(&cal, &catalogue), None, "no deadline while deferred");
        let dispatched_at = view.current_step().expect("handling").started;
        let view = story.at("2025-09-30T09:00").push(handler(), EventKind::Resume).view();
        // Deferred from 09:50 Monday to 09:00 Tuesday: 6 h 10 min of working time added.
        let want = cal.add_working_time(dispatched_at, SignedDuration::from_hours(4) + SignedDuration::from_mins(370));
        assert_eq!(view.deadline(&cal, &catalogue), Some(want));
        assert_eq!(view.counts.deferrals, 1);

        let view = story_to(CaseState::Filed)
            .push_noted(operator(), EventKind::RequestVoid, "not our district")
            .push(district_leader(), EventKind::Approve { request: RequestKind::Void })
            .view();
        assert_eq!(view.state, CaseState::Voided);
    }

    #[test]
    fn escalation_only_goes_up_and_histories_must_be_well_formed() {
        let view = story_to(CaseState::Handling)
            .push(operator(), EventKind::Escalated { level: Level::Street, supervision: false })
            .push(district_leader(), EventKind::Escalated { level: Level::District, supervision: true })
            .view();
        assert_eq!((view.escalation, view.supervised, view.counts.escalations), (Some(Level::District), true, 2));
        let mut story = story_to(CaseState::Handling)
            .push(operator(), EventKind::Escalated { level: Level::Street, supervision: false });
        let e = story.ev(operator(), EventKind::Escalated { level: Level::Community, supervision: false });
        assert!(matches!(story.view().check(&e), Err(WorkflowError::EscalationNotHigher { .. })));

        assert_eq!(CaseView::replay(&[]), Err(WorkflowError::Empty));
        let story = story_to(CaseState::Filed);
        assert_eq!(CaseView::replay(&story.events[1..]), Err(WorkflowError::NotAReport(Action::File)));
        let mut events = story.events.clone();
        events.swap(0, 1);
        events[0].kind = events[1].kind.clone();
        assert!(matches!(CaseView::replay(&events), Err(WorkflowError::OutOfOrder { .. })));
        let mut story = story_to(CaseState::Closed);
        let e = story.ev(resident(), EventKind::Evaluate { satisfaction: 6 });
        assert_eq!(story.view().check(&e), Err(WorkflowError::BadSatisfaction(6)));
    }
}
