//! Case indicators, defined once: counts, on-time rates, rework, step times,
//! self-handling and satisfaction per unit and period, computed from the case
//! histories themselves so every screen and report agrees.
//!
//! Definitions (a period is `[from, to)`):
//! - counts by source, category and current state: cases *reported* in the period;
//! - on-time filing / dispatch: file (dispatch) steps ended by filing (dispatch)
//!   in the period, and how many by their deadline;
//! - closed, on-time closure (按期结案率), rework (返工率), self-handled share,
//!   satisfaction: cases whose current closure falls in the period. A closure is
//!   on time when every handling and verification step of the case ended by its
//!   deadline; rework counts closed cases ever returned or reopened;
//! - step times: working time (deferrals left out) of steps ended in the period;
//! - overdue now: open cases whose running step is past its deadline at `now`,
//!   whatever the period.

use crate::calendar::WorkCalendar;
use crate::case::{Action, CaseEvent, CaseState, CaseView, Source};
use crate::catalogue::{Catalogue, CategoryCode, Step};
use crate::code::{Level, UnitCode};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A half-open period `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub from: Timestamp,
    pub to: Timestamp,
}

impl Period {
    pub fn contains(&self, t: Timestamp) -> bool {
        self.from <= t && t < self.to
    }
}

/// `num` of `den`; kept as counts so units can be summed and the fairness
/// guards (minimum sample) see the sample size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ratio {
    pub num: u32,
    pub den: u32,
}

impl Ratio {
    /// None when there is nothing to divide by.
    pub fn value(&self) -> Option<f64> {
        (self.den > 0).then(|| f64::from(self.num) / f64::from(self.den))
    }

    fn count(&mut self, yes: bool) {
        self.den += 1;
        self.num += u32::from(yes);
    }
}

/// Working seconds a step took, over the steps ended in the period.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StepTimes {
    pub count: u32,
    pub mean_secs: Option<f64>,
    /// 90th percentile, nearest-rank.
    pub p90_secs: Option<i64>,
}

impl StepTimes {
    fn from_samples(mut secs: Vec<i64>) -> Self {
        if secs.is_empty() {
            return StepTimes::default();
        }
        secs.sort_unstable();
        let n = secs.len();
        let mean = secs.iter().map(|s| *s as f64).sum::<f64>() / n as f64;
        // Nearest rank: the smallest value with at least 90 % of samples at or below it.
        let rank = (n * 9).div_ceil(10).max(1);
        StepTimes {
            count: u32::try_from(n).unwrap_or(u32::MAX),
            mean_secs: Some(mean),
            p90_secs: secs.get(rank - 1).copied(),
        }
    }
}

/// The indicators of one unit over one period.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UnitKpi {
    pub reported: u32,
    pub by_source: BTreeMap<Source, u32>,
    /// By sub-class; reports not yet categorised are left out.
    pub by_category: BTreeMap<CategoryCode, u32>,
    pub by_state: BTreeMap<CaseState, u32>,
    pub on_time_filing: Ratio,
    pub on_time_dispatch: Ratio,
    pub closed: u32,
    pub on_time_closure: Ratio,
    pub rework: Ratio,
    pub self_handled: Ratio,
    pub step_times: BTreeMap<Step, StepTimes>,
    pub evaluated: u32,
    pub satisfaction_mean: Option<f64>,
    pub overdue_now: u32,
}

/// Indicators per unit, and how many histories did not replay.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct KpiReport {
    pub units: BTreeMap<UnitCode, UnitKpi>,
    /// Histories refused by the workflow: a storage bug, surfaced not hidden.
    pub invalid_histories: u32,
}

/// Computes the indicators of every unit at `level` (each case counts for the
/// ancestor at `level` of the grid it was reported in) over `period`.
pub fn compute<'a>(
    histories: impl IntoIterator<Item = &'a [CaseEvent]>,
    period: Period,
    level: Level,
    now: Timestamp,
    cal: &WorkCalendar,
    catalogue: &Catalogue,
) -> KpiReport {
    let mut tally = Tally::new(period, &[level], now, cal, catalogue);
    for events in histories {
        tally.add(events);
    }
    tally.finish()
}

/// The indicators gathered one history at a time, so a year of a district
/// never has to be in memory at once: each history is replayed, counted and
/// dropped, leaving only counts and step-time samples behind. A case counts
/// for its grid's ancestor at each of `levels`.
#[derive(Debug)]
pub struct Tally<'c> {
    period: Period,
    levels: Vec<Level>,
    now: Timestamp,
    cal: &'c WorkCalendar,
    catalogue: &'c Catalogue,
    report: KpiReport,
    samples: BTreeMap<UnitCode, BTreeMap<Step, Vec<i64>>>,
    ratings: BTreeMap<UnitCode, Vec<u8>>,
}

impl<'c> Tally<'c> {
    pub fn new(
        period: Period,
        levels: &[Level],
        now: Timestamp,
        cal: &'c WorkCalendar,
        catalogue: &'c Catalogue,
    ) -> Self {
        let mut levels = levels.to_vec();
        levels.sort_unstable();
        levels.dedup();
        Tally {
            period,
            levels,
            now,
            cal,
            catalogue,
            report: KpiReport::default(),
            samples: BTreeMap::new(),
            ratings: BTreeMap::new(),
        }
    }

    /// Counts one case's history; a history the workflow refuses is counted
    /// as invalid.
    pub fn add(&mut self, events: &[CaseEvent]) {
        let Ok(view) = CaseView::replay(events) else {
            self.report.invalid_histories += 1;
            return;
        };
        for i in 0..self.levels.len() {
            let unit = view.grid.at_level(self.levels[i]).unwrap_or_else(|| view.grid.clone());
            self.count(&view, unit);
        }
    }

    fn count(&mut self, view: &CaseView, unit: UnitCode) {
        let (period, cal, catalogue) = (self.period, self.cal, self.catalogue);
        let kpi = self.report.units.entry(unit.clone()).or_default();
        if period.contains(view.reported_at) {
            kpi.reported += 1;
            *kpi.by_source.entry(view.source).or_default() += 1;
            if let Some(c) = &view.category {
                *kpi.by_category.entry(c.clone()).or_default() += 1;
            }
            *kpi.by_state.entry(view.state).or_default() += 1;
        }
        for step in &view.steps {
            let (Some(ended), Some(limit)) = (step.ended, view.limit(catalogue, step.step)) else { continue };
            if !period.contains(ended) {
                continue;
            }
            let on_time = step.on_time(cal, limit).unwrap_or(false);
            match (step.step, step.ended_by) {
                (Step::File, Some(Action::File)) => kpi.on_time_filing.count(on_time),
                (Step::Dispatch, Some(Action::Dispatch)) => kpi.on_time_dispatch.count(on_time),
                _ => {}
            }
            if let Some(t) = step.working_time(cal) {
                self.samples.entry(unit.clone()).or_default().entry(step.step).or_default().push(t.as_secs());
            }
        }
        if view.closed_at.is_some_and(|t| period.contains(t)) {
            kpi.closed += 1;
            let on_time = view
                .steps
                .iter()
                .filter(|s| matches!(s.step, Step::Handle | Step::Verify))
                .all(|s| view.limit(catalogue, s.step).and_then(|limit| s.on_time(cal, limit)).unwrap_or(false));
            kpi.on_time_closure.count(on_time);
            kpi.rework.count(view.counts.returns + view.counts.reopenings > 0);
            kpi.self_handled.count(view.self_handled);
            if let Some(s) = view.satisfaction {
                self.ratings.entry(unit).or_default().push(s);
            }
        }
        if view.state.is_open() && view.is_overdue(self.now, cal, catalogue) {
            kpi.overdue_now += 1;
        }
    }

    /// The indicators of every unit met, with step times and satisfaction
    /// worked out from the samples.
    pub fn finish(mut self) -> KpiReport {
        for (unit, kpi) in &mut self.report.units {
            if let Some(by_step) = self.samples.remove(unit) {
                kpi.step_times =
                    by_step.into_iter().map(|(step, secs)| (step, StepTimes::from_samples(secs))).collect();
            }
            if let Some(r) = self.ratings.remove(unit) {
                kpi.evaluated = u32::try_from(r.len()).unwrap_or(u32::MAX);
                kpi.satisfaction_mean = Some(r.iter().map(|s| f64::from(*s)).sum::<f64>() / r.len() as f64);
            }
        }
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Role;
    use crate::case::{ActorRef, EventKind, RequestKind};

    const GRID: &str = "610304003002007";
    const OTHER_GRID: &str = "610304003001002";
    const COMMUNITY: &str = "610304003002";

    fn unit(s: &str) -> UnitCode {
        UnitCode::parse(s).expect("test unit")
    }

    fn cst(s: &str) -> Timestamp {
        format!("2025-{s}:00+08:00").parse().expect("test timestamp")
    }

    fn actor(user_id: i64, role: Role, at: &str) -> ActorRef {
        ActorRef { user_id, username: format!("user{user_id}"), role, unit: unit(at) }
    }

    /// A history from `(time "MM-DDTHH:MM", who, what)` rows.
    fn history(rows: &[(&str, ActorRef, EventKind)]) -> Vec<CaseEvent> {
        rows.iter()
            .map(|(at, who, kind)| CaseEvent {
                at: cst(at),
                actor: who.clone(),
                kind: kind.clone(),
                note: "reason".to_owned(),
                photos: vec!["p.jpg".to_owned()],
                location: None,
            })
            .collect()
    }

    #[test]
    fn a_week_of_cases_gives_hand_checked_indicators() {
        let resident = actor(1, Role::Resident, GRID);
        let worker = actor(2, Role::GridWorker, GRID);
        let op = actor(3, Role::Operator, "610304003");
        let handler = actor(4, Role::CommunityStaff, COMMUNITY);
        let rubbish = || CategoryCode::parse("0601").expect("code");
        use EventKind::*;
        let report = |source, grid: &str| Report { source, grid: unit(grid), category: None };
        // A: on time throughout, rated 4.
        let a = history(&[
            ("09-29T09:00", resident.clone(), report(Source::ResidentReport, GRID)),
            ("09-29T09:30", op.clone(), File { category: rubbish() }),
            ("09-29T09:40", op.clone(), Dispatch { unit: unit(COMMUNITY) }),
            ("09-29T10:00", handler.clone(), Accept),
            ("09-29T11:40", handler.clone(), ReportBack),
            ("09-29T14:00", op.clone(), Verify { passed: true }),
            ("09-29T14:10", op.clone(), Close),
            ("09-29T15:00", resident.clone(), Evaluate { satisfaction: 4 }),
        ]);
        // B: filed late, returned once, handled late, rated 2.
        let b = history(&[
            ("09-29T09:00", resident.clone(), report(Source::ResidentReport, GRID)),
            ("09-29T11:00", op.clone(), File { category: rubbish() }),
            ("09-29T11:10", op.clone(), Dispatch { unit: unit(COMMUNITY) }),
            ("09-29T11:20", handler.clone(), Accept),
            ("09-29T11:30", handler.clone(), RequestReturn),
            ("09-29T11:40", op.clone(), Approve { request: RequestKind::Return }),
            ("09-29T11:50", op.clone(), Dispatch { unit: unit(COMMUNITY) }),
            ("09-29T12:00", handler.clone(), Accept),
            ("09-30T16:10", handler.clone(), ReportBack),
            ("09-30T16:20", op.clone(), Verify { passed: true }),
            ("09-30T16:30", op.clone(), Close),
            ("09-30T17:00", resident.clone(), Evaluate { satisfaction: 2 }),
        ]);
        // C: self-handled on patrol in five minutes.
        let c = history(&[
            ("09-29T10:00", worker.clone(), report(Source::Patrol, GRID)),
            ("09-29T10:05", worker.clone(), SelfHandle { category: rubbish() }),
        ]);
        // D: another community, dispatched and left lying: overdue by 9 October.
        let d = history(&[
            ("09-29T09:00", resident.clone(), report(Source::Hotline12345, OTHER_GRID)),
            ("09-29T09:10", op.clone(), File { category: rubbish() }),
            ("09-29T09:20", op.clone(), Dispatch { unit: unit("610304003001") }),
        ]);
        // E: reported after the period: not counted but still replayed.
        let e = history(&[("10-20T09:00", resident.clone(), report(Source::ResidentReport, GRID))]);
        let broken: Vec<CaseEvent> = vec![];
        let histories = [a.as_slice(), b.as_slice(), c.as_slice(), d.as_slice(), e.as_slice(), broken.as_slice()];
        let week = Period { from: cst("09-29T00:00"), to: cst("10-06T00:00") };
        let (cal, catalogue) = (WorkCalendar::china(), Catalogue::standard());
        let now = cst("10-09T12:00");

        let r = compute(histories, week, Level::Community, now, &cal, &catalogue);
        assert_eq!(r.invalid_histories, 1);
        let k = &r.units[&unit(COMMUNITY)];
        assert_eq!(k.reported, 3);
        assert_eq!(k.by_source, BTreeMap::from([(Source::ResidentReport, 2), (Source::Patrol, 1)]));
        assert_eq!(k.by_category, BTreeMap::from([(rubbish(), 3)]));
        assert_eq!(k.by_state, BTreeMap::from([(CaseState::Evaluated, 2), (CaseState::Closed, 1)]));
        assert_eq!(k.on_time_filing, Ratio { num: 1, den: 2 }, "B took 2 h of its 1 h; C was never filed");
        assert_eq!(k.on_time_dispatch, Ratio { num: 3, den: 3 });
        assert_eq!(k.closed, 3);
        assert_eq!(k.on_time_closure, Ratio { num: 2, den: 3 }, "B's second handling took 9 h 20 min of 4 h");
        assert_eq!(k.rework, Ratio { num: 1, den: 3 });
        assert_eq!(k.self_handled, Ratio { num: 1, den: 3 });
        assert_eq!(k.rework.value(), Some(1.0 / 3.0));
        let times = |s: Step| k.step_times.get(&s).cloned().unwrap_or_default();
        // File: 30 min, 2 h, 5 min.
        assert_eq!(times(Step::File), StepTimes { count: 3, mean_secs: Some(3100.0), p90_secs: Some(7200) });
        assert_eq!(times(Step::Dispatch), StepTimes { count: 3, mean_secs: Some(600.0), p90_secs: Some(600) });
        // Handle: A 2 h, B 30 min before the return, then 3 h 40 min Monday + 5 h 40 min Tuesday.
        assert_eq!(times(Step::Handle), StepTimes { count: 3, mean_secs: Some(14200.0), p90_secs: Some(33600) });
        // Verify: A 20 min before lunch and 10 after, B 20 min.
        assert_eq!(times(Step::Verify), StepTimes { count: 2, mean_secs: Some(1500.0), p90_secs: Some(1800) });
        assert_eq!((k.evaluated, k.satisfaction_mean), (2, Some(3.0)));
        assert_eq!(k.overdue_now, 0);

        let other = &r.units[&unit("610304003001")];
        assert_eq!((other.reported, other.overdue_now, other.closed), (1, 1, 0));
        assert_eq!(other.on_time_closure.value(), None);

        let street = compute(histories, week, Level::Street, now, &cal, &catalogue);
        let s = &street.units[&unit("610304003")];
        assert_eq!((s.reported, s.closed, s.overdue_now), (4, 3, 1));
        // D's 4 working hours from 09:20: 2 h 40 min to noon, 1 h 20 min from 14:00, so 15:20.
        let at = |t: &str| {
            compute(histories, week, Level::Street, cst(t), &cal, &catalogue).units[&unit("610304003")].overdue_now
        };
        assert_eq!((at("09-29T15:20"), at("09-29T15:21")), (0, 1));

        // One pass over the histories for two levels gives both reports.
        let mut both = Tally::new(week, &[Level::Street, Level::Community], now, &cal, &catalogue);
        histories.iter().for_each(|h| both.add(h));
        let both = both.finish();
        assert_eq!(both.invalid_histories, 1);
        for (code, k) in r.units.iter().chain(&street.units) {
            assert_eq!(&both.units[code], k, "{code}");
        }
        assert_eq!(both.units.len(), r.units.len() + street.units.len());
    }

    #[test]
    fn the_90th_percentile_is_the_nearest_rank() {
        let p90 = |v: Vec<i64>| StepTimes::from_samples(v).p90_secs;
        assert_eq!(p90(vec![]), None);
        assert_eq!(p90(vec![5]), Some(5));
        assert_eq!(p90((1..=10).collect()), Some(9));
        assert_eq!(p90((1..=11).rev().collect()), Some(10));
        assert_eq!(p90((1..=20).collect()), Some(18));
    }
}
