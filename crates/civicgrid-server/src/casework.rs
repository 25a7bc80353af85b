//! The case workflow on the server: stored events turned back into domain
//! events, new events checked by the domain and appended with the summary
//! the domain derives, likely duplicates flagged at filing, and the
//! escalation clock that moves overdue cases up the four levels.

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use axum::http::StatusCode;
use civicgrid_domain::case::{Action, ActorRef, CaseEvent, CaseView, EventKind, Rules};
use civicgrid_domain::{
    CategoryCode, Handler, Level, Period, Permission, Role, RoleKind, UnitCode, UnitKpi, WorkCalendar, kpi,
};
use civicgrid_store::{Actor, CaseEventRecord, CaseQuery, CaseRecord, CaseSummary, ListQuery, StoreError};
use jiff::{SignedDuration, Timestamp};
use std::time::Duration;

/// The settings of the case workflow.
#[derive(Debug, Clone)]
pub struct CaseSettings {
    pub calendar: WorkCalendar,
    /// A new case this close to an open one of the same category…
    pub duplicate_radius_m: f64,
    /// …reported within this time before it is flagged as a likely duplicate.
    pub duplicate_window: SignedDuration,
    /// How often the escalation clock looks for overdue cases.
    pub clock_every: Duration,
    /// The clock judges deadlines as if this much more working time had
    /// passed: for drills and tests, zero in service.
    pub clock_ahead: SignedDuration,
    /// Dispatch a case to the unit its category routes to as soon as it is filed.
    pub auto_dispatch: bool,
}

impl Default for CaseSettings {
    fn default() -> Self {
        CaseSettings {
            calendar: WorkCalendar::china(),
            duplicate_radius_m: 50.0,
            duplicate_window: SignedDuration::from_hours(72),
            clock_every: Duration::from_secs(30),
            clock_ahead: SignedDuration::ZERO,
            auto_dispatch: false,
        }
    }
}

pub fn rules() -> &'static Rules {
    Rules::standard()
}

/// A domain event as the store keeps it: the whole event as JSON, with the
/// columns lists and audits read.
pub fn to_record(seq: i64, e: &CaseEvent) -> Result<CaseEventRecord, ApiError> {
    let data =
        serde_json::to_value(e).map_err(|x| ApiError::internal_with(format!("event does not serialise: {x}")))?;
    Ok(CaseEventRecord {
        seq,
        at: e.at,
        actor_id: (e.actor.user_id > 0).then_some(e.actor.user_id),
        actor: e.actor.username.clone(),
        role: e.actor.role.as_str().to_owned(),
        unit: e.actor.unit.to_string(),
        kind: e.kind.action().as_str().to_owned(),
        data,
        note: e.note.clone(),
        photos: e.photos.clone(),
        lat: e.location.map(|l| l.1),
        lon: e.location.map(|l| l.0),
    })
}

pub fn from_record(r: &CaseEventRecord) -> Result<CaseEvent, StoreError> {
    into_event(r.clone())
}

/// [`from_record`] for a record no longer needed.
pub fn into_event(r: CaseEventRecord) -> Result<CaseEvent, StoreError> {
    serde_json::from_value(r.data).map_err(|e| StoreError::Corrupt(format!("case event {}: {e}", r.seq)))
}

pub async fn history(state: &AppState, id: i64) -> Result<Vec<CaseEvent>, ApiError> {
    let records = state.store.case_events(id).await?;
    records.iter().map(from_record).collect::<Result<_, _>>().map_err(ApiError::from)
}

/// The replayed case, or 500: a stored history that does not replay is corrupt.
pub fn replay(events: &[CaseEvent]) -> Result<CaseView, ApiError> {
    CaseView::replay_with(rules(), events).map_err(|e| {
        tracing::error!(error = %e, "a stored case history does not replay");
        ApiError::internal_with("the case's history is inconsistent; it has been logged")
    })
}

/// How many times the running step has been escalated.
fn escalations_in_step(view: &CaseView, events: &[CaseEvent]) -> i32 {
    let started = view.current_step().map(|s| s.started);
    let n = events.iter().filter(|e| matches!(e.kind, EventKind::Escalated { .. }) && Some(e.at) >= started).count();
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The summary row the store keeps beside the events.
pub fn summary(
    settings: &CaseSettings,
    view: &CaseView,
    events: &[CaseEvent],
    duplicate_of: Option<i64>,
) -> CaseSummary {
    let cat = &rules().catalogue;
    let deadline = view.deadline(&settings.calendar, cat);
    // After each escalation the clock waits one more step limit before going up again.
    let escalate_at = match (deadline, view.current_step().and_then(|s| view.limit(cat, s.step))) {
        (Some(d), Some(limit)) => {
            let n = escalations_in_step(view, events);
            if n == 0 {
                Some(d)
            } else {
                let more = SignedDuration::from_secs(limit.as_secs().saturating_mul(i64::from(n)));
                Some(settings.calendar.add_working_time(d, more))
            }
        }
        _ => None,
    };
    CaseSummary {
        state: view.state.as_str().to_owned(),
        category: view.category.as_ref().map(|c| c.to_string()),
        handler_unit: view.handler_unit.as_ref().map(|u| u.to_string()),
        step_deadline: deadline,
        // The clock waits only where it may act: not at the top level, and
        // not in a state the workflow escalates from (verified, awaiting closure).
        escalate_at: escalate_at.filter(|_| escalation_target(view).is_some()),
        escalation: view.escalation.map(|l| l.as_str().to_owned()),
        supervision: view.supervised,
        duplicate_of,
        merged_into: view.merged_into.map(|c| c.0),
        closed_at: view.closed_at,
    }
}

/// How an open case stands against the deadline of its running step.
pub fn timeliness(settings: &CaseSettings, case: &CaseRecord, now: Timestamp) -> &'static str {
    match case.summary.step_deadline {
        _ if case.summary.closed_at.is_some() => "closed",
        None => "no_deadline",
        Some(d) if d < now => "overdue",
        Some(d) if d <= settings.calendar.add_working_time(now, DUE_SOON) => "due_soon",
        Some(_) => "on_time",
    }
}

/// The most open cases one map shows; the map says when there were more.
pub const MAP_LIMIT: u32 = 5000;

/// A running step with less working time than this left is due soon (临期).
pub const DUE_SOON: SignedDuration = SignedDuration::from_hours(2);

/// The indicators of every unit at `by` within `within` over `period` (units
/// without cases too), and the scope's own total.
#[derive(Debug)]
pub struct KpiTable {
    pub units: Vec<(UnitCode, UnitKpi)>,
    pub total: UnitKpi,
    pub invalid_histories: u32,
}

/// Cases read per page when the indicators go through a unit's history.
pub const HISTORY_PAGE: u32 = 2_000;

/// The indicators of the cases within `within` over `period`, for each unit
/// at each of `levels`. The histories are read a page of cases at a time
/// while the page before is replayed and counted on a blocking thread, so a
/// district's year is never in memory at once and the runtime's workers stay
/// free.
pub async fn indicators(
    store: std::sync::Arc<dyn civicgrid_store::Store>,
    calendar: &WorkCalendar,
    within: &UnitCode,
    period: Period,
    levels: &[Level],
    now: Timestamp,
) -> Result<kpi::KpiReport, StoreError> {
    let (pages, mut receive) = tokio::sync::mpsc::channel::<Vec<(i64, Vec<CaseEventRecord>)>>(2);
    let (calendar, levels) = (calendar.clone(), levels.to_vec());
    let tally = tokio::task::spawn_blocking(move || -> Result<kpi::KpiReport, StoreError> {
        let mut tally = kpi::Tally::new(period, &levels, now, &calendar, &rules().catalogue);
        while let Some(page) = receive.blocking_recv() {
            for (_, records) in page {
                let events = records.into_iter().map(into_event).collect::<Result<Vec<_>, _>>()?;
                tally.add(&events);
            }
        }
        Ok(tally.finish())
    });
    let mut after = 0;
    loop {
        let page = store.case_histories(within, period.to, after, HISTORY_PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = *last;
        let full = page.len() == HISTORY_PAGE as usize;
        if pages.send(page).await.is_err() || !full {
            break; // the tally stopped on a corrupt event; its error follows
        }
    }
    drop(pages);
    tally.await.map_err(|e| StoreError::Corrupt(format!("indicators: {e}")))?
}

/// The indicator table of `within` by the units at level `by`, with a total
/// row for `within` itself: every unit of the scope has a row, those without
/// cases too.
pub async fn kpi_table(
    state: &AppState,
    within: &UnitCode,
    period: Period,
    by: Level,
    now: Timestamp,
) -> Result<KpiTable, ApiError> {
    let levels = [by, within.level()];
    let report = indicators(state.store.clone(), &state.cases.calendar, within, period, &levels, now).await?;
    let total = report.units.get(within).cloned().unwrap_or_default();
    let mut units: std::collections::BTreeMap<UnitCode, UnitKpi> =
        state.store.units(by, Some(within)).await?.into_iter().map(|u| (u.code, UnitKpi::default())).collect();
    units.extend(report.units.into_iter().filter(|(code, _)| within.contains(code) && code.level() == by));
    Ok(KpiTable { units: units.into_iter().collect(), total, invalid_histories: report.invalid_histories })
}

/// Where the case's category routes it: the handler's unit over its grid.
pub fn route(view: &CaseView) -> Option<UnitCode> {
    rules().catalogue.get(view.category.as_ref()?)?.route(&view.grid)
}

/// The handler and unit a stored case routes to, from its category and grid.
pub fn route_of(case: &CaseRecord) -> Option<(Handler, UnitCode)> {
    let category = rules().catalogue.get(&CategoryCode::parse(&case.category).ok()?)?;
    Some((category.handler, category.route(&UnitCode::parse(&case.grid).ok()?)?))
}

/// Checks `event` against the workflow and appends it with the summary it
/// leads to. The domain's refusal and a concurrent writer are both 409s.
pub async fn append(
    state: &AppState,
    case: &CaseRecord,
    events: &mut Vec<CaseEvent>,
    view: &mut CaseView,
    event: CaseEvent,
    escalation: Option<(Timestamp, Level)>,
    by: &Actor,
) -> Result<CaseRecord, ApiError> {
    view.apply_with(rules(), &event).map_err(|e| ApiError {
        status: StatusCode::CONFLICT,
        code: "workflow",
        message: e.to_string(),
    })?;
    events.push(event);
    let seq = i64::try_from(events.len()).unwrap_or(i64::MAX);
    let record = to_record(seq, &events[events.len() - 1])?;
    let summary = summary(&state.cases, view, events, case.summary.duplicate_of);
    let escalation = escalation.map(|(at, level)| (at, level.as_str()));
    state.store.append_case_event(case.id, &record, &summary, escalation, by).await.map_err(|e| match e {
        StoreError::Conflict(m) => ApiError { status: StatusCode::CONFLICT, code: "conflict", message: m },
        other => other.into(),
    })
}

/// Right after filing: the system dispatches the case where its category
/// routes it. A case with no route stays filed for the command centre.
pub async fn auto_dispatch(
    state: &AppState,
    case: &CaseRecord,
    events: &mut Vec<CaseEvent>,
    view: &mut CaseView,
) -> Result<CaseRecord, ApiError> {
    let (Some(unit), Ok(grid)) = (route(view), UnitCode::parse(&case.grid)) else { return Ok(case.clone()) };
    let Some(district) = grid.at_level(Level::District) else { return Ok(case.clone()) };
    let event = CaseEvent {
        at: view.last_at,
        actor: ActorRef { user_id: 0, username: "system:router".into(), role: Role::Operator, unit: district },
        kind: EventKind::Dispatch { unit },
        note: "按类别自动派遣".into(),
        photos: Vec::new(),
        location: None,
    };
    append(state, case, events, view, event, None, &Actor::system("router")).await
}

/// The caller as a workflow actor at `grid`: the grant carrying `p` whose
/// scope holds the grid (the narrowest, so a grid worker acts as one).
pub fn actor_at(caller: &Caller, p: Permission, grid: &UnitCode) -> Option<ActorRef> {
    caller
        .principal
        .grants
        .iter()
        .filter(|g| g.role.has(p) && g.scope.contains(grid))
        .max_by_key(|g| g.scope.level())
        .map(|g| ActorRef {
            user_id: caller.principal.user_id,
            username: caller.principal.username.clone(),
            role: g.role,
            unit: g.scope.clone(),
        })
}

/// The caller as the reporter of their own case: their first grant.
pub fn actor_as_reporter(caller: &Caller) -> Option<ActorRef> {
    caller.principal.grants.first().map(|g| ActorRef {
        user_id: caller.principal.user_id,
        username: caller.principal.username.clone(),
        role: g.role,
        unit: g.scope.clone(),
    })
}

/// May the caller see this case: through `view_cases` over its grid, or as its reporter.
pub fn may_see(caller: &Caller, case: &CaseRecord) -> bool {
    may_see_in(caller, &case.grid, case.reporter_id)
}

/// May the caller see a case in `grid` reported by `reporter_id`: the rule
/// of [`may_see`], for what names a case without being its record.
pub fn may_see_in(caller: &Caller, grid: &str, reporter_id: Option<i64>) -> bool {
    let own = reporter_id == Some(caller.principal.user_id);
    own || UnitCode::parse(grid).is_ok_and(|g| caller.principal.may_at(Permission::ViewCases, &g))
}

/// The actions the caller could take on the case now (the workflow may still
/// refuse one for a reason only the event shows, such as a missing note).
pub fn actions_for(caller: &Caller, case: &CaseRecord, view: &CaseView) -> Vec<Action> {
    let Ok(grid) = UnitCode::parse(&case.grid) else { return Vec::new() };
    let handler = caller.principal.may_at(Permission::HandleCases, &grid);
    let own = case.reporter_id == Some(caller.principal.user_id);
    view.state
        .allowed()
        .iter()
        .copied()
        .filter(|a| match a {
            Action::Evaluate | Action::Reopen => own,
            Action::Comment => handler || own,
            Action::Report | Action::MergedInto | Action::Escalated => handler && *a != Action::Report,
            _ => handler,
        })
        .collect()
}

/// The next level up from where the case stands: grid → community → street → district.
fn next_level(view: &CaseView) -> Option<Level> {
    let from = view.escalation.or_else(|| view.handler_unit.as_ref().map(|u| u.level())).unwrap_or(Level::Grid);
    match from {
        Level::Grid => Some(Level::Community),
        Level::Community => Some(Level::Street),
        Level::Street => Some(Level::District),
        Level::District => None,
    }
}

/// Where the clock would escalate the case to if it were overdue now: one
/// level up, when the workflow allows an escalation in its state and there
/// is a level above. `None`: the clock has nothing to do with it.
pub fn escalation_target(view: &CaseView) -> Option<Level> {
    if !view.state.allowed().contains(&Action::Escalated) {
        return None;
    }
    next_level(view)
}

/// The names of the leaders assigned (包联) to the case's grid or community.
pub(crate) async fn leaders(state: &AppState, grid: &UnitCode) -> Result<Vec<String>, ApiError> {
    let community = grid.parent().unwrap_or_else(|| grid.clone());
    let q = ListQuery { within: Some(community.clone()), limit: 20, offset: 0 };
    let people = state.store.people(&q, Some(RoleKind::Leader)).await?;
    Ok(people
        .items
        .into_iter()
        .filter(|p| {
            p.roles
                .iter()
                .any(|r| r.kind == RoleKind::Leader && (r.unit == grid.as_str() || r.unit == community.as_str()))
        })
        .map(|p| p.name)
        .collect())
}

/// The clock can do nothing with the case at `at` as it stands with `events`
/// events (the workflow would refuse, the case stands at the top level, or
/// its history does not replay): its escalation time is cleared, so later
/// turns do not pick it again, unless the case moved on meanwhile. The
/// case's next event sets one again.
async fn give_up(state: &AppState, case: &CaseRecord, events: usize, at: Timestamp, why: &str) -> Result<(), ApiError> {
    let events = i64::try_from(events).unwrap_or(i64::MAX);
    let dropped = state.store.drop_escalation(case.id, events, at, &Actor::system("clock")).await?;
    if dropped {
        tracing::info!(case = case.id, number = %case.number, why, "escalation clock: nothing to do; escalation time cleared");
    }
    Ok(())
}

/// One turn of the escalation clock at `now`: every overdue case goes one
/// level up, marked for supervision, with its assigned leaders named. Safe
/// to run on several nodes at once: each (case, time) escalates once, the
/// claim committed with the event and only while the case is still due at
/// that time. A case the clock can do nothing with has its escalation time
/// cleared instead of being tried again every turn.
pub async fn escalate_due(state: &AppState, now: Timestamp) -> Result<usize, ApiError> {
    let mut done = 0;
    for case in state.store.due_escalations(now, 200).await? {
        let Some(at) = case.summary.escalate_at else { continue };
        let grid = UnitCode::parse(&case.grid).ok();
        let Some((grid, district)) = grid.and_then(|g| g.at_level(Level::District).map(|d| (g, d))) else {
            give_up(state, &case, usize::try_from(case.events).unwrap_or(0), at, "the case's grid is not a unit code")
                .await?;
            continue;
        };
        let records = state.store.case_events(case.id).await?;
        // The history read now may be newer than the summary row read above;
        // the store refuses the escalation then (the case moved on).
        let Ok(events) = records.iter().map(from_record).collect::<Result<Vec<_>, _>>() else {
            tracing::error!(case = case.id, "a stored case event does not parse");
            give_up(state, &case, records.len(), at, "its history does not parse").await?;
            continue;
        };
        let Ok(mut view) = CaseView::replay_with(rules(), &events) else {
            tracing::error!(case = case.id, "a stored case history does not replay");
            give_up(state, &case, events.len(), at, "its history does not replay").await?;
            continue;
        };
        let Some(level) = escalation_target(&view) else {
            give_up(state, &case, events.len(), at, "the workflow does not escalate it from here").await?;
            continue;
        };
        let names = leaders(state, &grid).await?;
        let note = if names.is_empty() {
            format!("逾期未办，升级至{}督办", level.name_zh())
        } else {
            format!("逾期未办，升级至{}督办；包联领导：{}", level.name_zh(), names.join("、"))
        };
        let event = CaseEvent {
            at: now.max(view.last_at),
            actor: ActorRef { user_id: 0, username: "system:clock".into(), role: Role::Operator, unit: district },
            kind: EventKind::Escalated { level, supervision: true },
            note,
            photos: Vec::new(),
            location: None,
        };
        let judged = events.len();
        let mut events = events;
        match append(state, &case, &mut events, &mut view, event, Some((at, level)), &Actor::system("clock")).await {
            Ok(_) => done += 1,
            // Another node's clock, or a person, acted first: nothing to do.
            Err(e) if e.code == "conflict" => {}
            Err(e) if e.code == "workflow" => {
                tracing::warn!(case = case.id, error = %e.message, "escalation refused by the workflow");
                give_up(state, &case, judged, at, "the workflow refused the escalation").await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Runs the clock until the process ends; a failed turn is logged and retried.
pub async fn run_clock(state: AppState) {
    let mut tick = tokio::time::interval(state.cases.clock_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = state.cases.calendar.add_working_time(Timestamp::now(), state.cases.clock_ahead);
        match escalate_due(&state, now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(escalated = n, "escalation clock"),
            Err(e) => tracing::warn!(error = %e.message, "escalation clock failed; retrying next turn"),
        }
    }
}

/// Open cases of the same category near a point, reported within the window.
pub async fn likely_duplicate(
    state: &AppState,
    category: Option<&str>,
    lat: f64,
    lon: f64,
    now: Timestamp,
) -> Result<Option<i64>, ApiError> {
    let Some(category) = category else { return Ok(None) };
    let q = CaseQuery {
        category: Some(category.to_owned()),
        open_only: true,
        near: Some((lat, lon, state.cases.duplicate_radius_m)),
        created_since: now.checked_sub(state.cases.duplicate_window).ok(),
        limit: 1,
        ..Default::default()
    };
    Ok(state.store.cases(&q).await?.items.first().map(|c| c.id))
}
