//! A year of synthetic cases for the demo district, deterministic from a seed:
//! residents' reports, grid workers' patrols (some fixed on the spot), 12345
//! hotline transfers and camera alarms, each a history of workflow events that
//! the domain accepted one by one as it was made.
//!
//! Most cases are filed, dispatched to the unit the catalogue routes them to,
//! handled, reported back, verified, closed and often rated; some are not
//! filed, sent to the wrong unit and returned, extended, deferred, failed at
//! verification, reopened, or left lying until the escalation clock has moved
//! them up to the district. Cases reported in the last days are still under
//! way when the year ends. Steps take working time against the catalogue's
//! limits on China's holiday calendar, mostly on time.
//!
//! Case `i` has its own random stream, so any range of cases can be made on
//! its own and in any order, and the report times rise with `i`.

use crate::names;
use civicgrid_domain::case::{
    ActorRef, CaseEvent, CaseState, CaseView, EventKind, RequestKind, Rules, Source, WorkflowError,
};
use civicgrid_domain::{Category, DistrictBundle, Level, Role, RoleKind, UnitCode, WorkCalendar};
use jiff::civil::{Date, Time};
use jiff::{SignedDuration, Span, Timestamp};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Days of history.
pub const DAYS: i64 = 365;

/// Synthetic actors are not accounts: their user ids are negative, so none
/// is taken for a real user, and each kind of actor has its own range.
const RESIDENT_IDS: i64 = 10_000_000;
const OPERATOR_IDS: i64 = 20_000_000;
const BUREAU_IDS: i64 = 30_000_000;

/// Relative number of reports in each hour of the day (China Standard Time).
const HOURS: [f64; 24] = [
    0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 0.9, 1.6, 2.0, 2.0, 1.8, 1.2, 1.1, 1.7, 1.9, 1.8, 1.6, 1.2, 1.0, 0.9, 0.7, 0.5,
    0.3,
];

/// How often each major class is reported, shared among its sub-classes.
const MAJOR_WEIGHTS: &[(&str, f64)] = &[
    ("01", 4.0),
    ("02", 3.0),
    ("03", 4.0),
    ("04", 3.0),
    ("05", 3.0),
    ("06", 12.0),
    ("07", 12.0),
    ("08", 3.0),
    ("09", 1.0),
    ("10", 5.0),
    ("11", 3.0),
    ("12", 5.0),
    ("13", 4.0),
    ("14", 5.0),
    ("15", 2.0),
    ("16", 6.0),
];

const PHRASES: &[&str] =
    &["请尽快处理。", "已持续多日。", "影响居民出行。", "存在安全隐患。", "多次反映未解决。", "周边居民意见较大。"];
const VOID_REASONS: &[&str] = &["重复上报，不予立案", "非本辖区事项，不予立案", "信息不全，无法核实，不予立案"];

/// One synthetic case: where it was reported and its history.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticCase {
    pub title: String,
    pub description: String,
    pub lat: f64,
    pub lon: f64,
    pub grid: UnitCode,
    pub events: Vec<CaseEvent>,
    /// The case as its events leave it.
    pub view: CaseView,
}

#[derive(Debug, Clone)]
struct Grid {
    code: UnitCode,
    rect: [f64; 4],
    worker: Option<ActorRef>,
    /// `(lat, lon)` of its cameras.
    cameras: Vec<(f64, f64)>,
}

/// The plan of a synthetic year: who works where, and when each case is reported.
#[derive(Debug, Clone)]
pub struct History {
    seed: u64,
    cases: usize,
    from: Timestamp,
    to: Timestamp,
    /// Local midnight of each day, and the first case of each day (one more
    /// entry than days: the case count).
    midnights: Vec<Timestamp>,
    first_of_day: Vec<usize>,
    grids: Vec<Grid>,
    community_staff: BTreeMap<UnitCode, Vec<ActorRef>>,
    street_staff: BTreeMap<UnitCode, Vec<ActorRef>>,
    operators: Vec<ActorRef>,
    bureau_staff: Vec<ActorRef>,
    residents: Vec<(i64, String)>,
    district: UnitCode,
    categories: Vec<Category>,
    /// Cumulative weights over `categories`, for every report and for patrols.
    any_weights: Vec<f64>,
    patrol_weights: Vec<f64>,
    calendar: WorkCalendar,
    rules: &'static Rules,
    /// The attachment id of the photo grid workers take when they fix
    /// something on the spot (see [`crate::synthetic_photo`]).
    photo: String,
}

fn person_name(rng: &mut impl Rng) -> String {
    let given = if rng.random_bool(0.5) { names::GIVEN_MALE } else { names::GIVEN_FEMALE };
    format!("{}{}", names::SURNAMES.choose(rng).unwrap_or(&"王"), given.choose(rng).unwrap_or(&"伟"))
}

fn rect_of(ring: &[[f64; 2]]) -> [f64; 4] {
    ring.iter().fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |b, [x, y]| {
        [b[0].min(*x), b[1].min(*y), b[2].max(*x), b[3].max(*y)]
    })
}

fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    weights
        .scan(0.0, |sum, w| {
            *sum += w;
            Some(*sum)
        })
        .collect()
}

fn pick_weighted(rng: &mut impl Rng, cumulative: &[f64]) -> usize {
    let total = cumulative.last().copied().unwrap_or(0.0);
    let x = rng.random_range(0.0..total.max(f64::MIN_POSITIVE));
    cumulative.partition_point(|c| *c <= x).min(cumulative.len().saturating_sub(1))
}

impl History {
    /// Plans `cases` cases over the [`DAYS`] days before `until` (China
    /// Standard Time) in the district of `bundle`; `None` when the bundle
    /// has no district or no grid with a boundary.
    pub fn new(bundle: &DistrictBundle, seed: u64, cases: usize, until: Date, photo: &str) -> Option<History> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0068_6973_746f_7279);
        let calendar = WorkCalendar::china();
        let offset = calendar.offset();
        let midnight = |d: Date| offset.to_timestamp(d.to_datetime(Time::midnight())).unwrap_or(Timestamp::UNIX_EPOCH);
        let first = until.checked_sub(Span::new().days(DAYS)).unwrap_or(until);
        let mut dates = Vec::new();
        let mut d = first;
        while d < until {
            dates.push(d);
            d = d.tomorrow().unwrap_or(until);
        }
        // Fewer reports at weekends and on holidays, a few more in summer.
        let weights: Vec<f64> = dates
            .iter()
            .map(|d| {
                let base = if calendar.is_working_day(*d) {
                    1.0
                } else if calendar.special_day(*d).is_some() {
                    0.6
                } else {
                    0.75
                };
                base * if (6..=9).contains(&d.month()) { 1.1 } else { 1.0 }
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let mut first_of_day = Vec::with_capacity(dates.len() + 1);
        let mut acc = 0.0;
        for w in &weights {
            first_of_day.push(((acc / total) * cases as f64).round() as usize);
            acc += w;
        }
        first_of_day.push(cases);

        // Everyone serving in a role, as the actor they are in a case.
        let staff_of = |kind: RoleKind| {
            bundle.people.iter().flat_map(move |p| {
                p.roles.iter().filter(move |r| r.kind == kind).map(move |r| {
                    (
                        r.unit.clone(),
                        ActorRef {
                            user_id: -p.id,
                            username: p.name.clone(),
                            role: kind_role(kind),
                            unit: r.unit.clone(),
                        },
                    )
                })
            })
        };
        let workers: BTreeMap<UnitCode, ActorRef> = staff_of(RoleKind::GridWorker).collect();
        let mut community_staff: BTreeMap<UnitCode, Vec<ActorRef>> = BTreeMap::new();
        for (unit, a) in staff_of(RoleKind::CommunityStaff) {
            community_staff.entry(unit).or_default().push(a);
        }
        let mut street_staff: BTreeMap<UnitCode, Vec<ActorRef>> = BTreeMap::new();
        for (unit, a) in staff_of(RoleKind::StreetStaff) {
            street_staff.entry(unit).or_default().push(a);
        }
        let mut cameras: BTreeMap<&UnitCode, Vec<(f64, f64)>> = BTreeMap::new();
        for c in &bundle.cameras {
            cameras.entry(&c.grid).or_default().push((c.lat, c.lon));
        }
        let grids: Vec<Grid> = bundle
            .units
            .iter()
            .filter(|u| u.level() == Level::Grid)
            .filter_map(|u| {
                Some(Grid {
                    code: u.code.clone(),
                    rect: rect_of(u.boundary.as_ref()?),
                    worker: workers.get(&u.code).cloned(),
                    cameras: cameras.get(&u.code).cloned().unwrap_or_default(),
                })
            })
            .collect();
        let district = bundle.units.iter().find(|u| u.level() == Level::District)?.code.clone();
        if grids.is_empty() || dates.is_empty() {
            return None;
        }
        let desk = |base: i64, n: usize, rng: &mut ChaCha8Rng| -> Vec<ActorRef> {
            (1..=n as i64)
                .map(|k| ActorRef {
                    user_id: -(base + k),
                    username: person_name(rng),
                    role: Role::Operator,
                    unit: district.clone(),
                })
                .collect()
        };
        let operators = desk(OPERATOR_IDS, 12, &mut rng);
        // Bureaus, the police and utilities answer to the district; their
        // case officers act at the district.
        let bureau_staff = desk(BUREAU_IDS, 30, &mut rng);
        let residents = bundle.residents.iter().map(|r| (-(RESIDENT_IDS + r.id), r.name.clone())).collect();

        let rules = Rules::standard();
        // Calls for help come from the one-click call, not from this year of reports.
        let categories: Vec<Category> = rules
            .catalogue
            .categories()
            .filter(|c| c.code.major().as_str() != civicgrid_domain::dispatch::CALL_MAJOR)
            .cloned()
            .collect();
        let weight = |c: &Category| {
            let major = MAJOR_WEIGHTS.iter().find(|(m, _)| *m == c.code.major().as_str()).map_or(1.0, |(_, w)| *w);
            major / rules.catalogue.children(&c.code.major()).count().max(1) as f64
        };
        let any_weights = cumulative(categories.iter().map(weight));
        let patrol_weights = cumulative(categories.iter().map(|c| weight(c) * if c.self_handle { 3.0 } else { 1.0 }));
        Some(History {
            seed,
            cases,
            from: midnight(first),
            to: midnight(until),
            midnights: dates.iter().map(|d| midnight(*d)).collect(),
            first_of_day,
            grids,
            community_staff,
            street_staff,
            operators,
            bureau_staff,
            residents,
            district,
            categories,
            any_weights,
            patrol_weights,
            calendar,
            rules,
            photo: photo.to_owned(),
        })
    }

    pub fn len(&self) -> usize {
        self.cases
    }

    pub fn is_empty(&self) -> bool {
        self.cases == 0
    }

    /// The history covers `[from, to)`.
    pub fn period(&self) -> (Timestamp, Timestamp) {
        (self.from, self.to)
    }

    /// Case `i` (0-based). An error is a defect of this generator: the domain
    /// refused a step it planned.
    pub fn case(&self, i: usize) -> Result<SyntheticCase, WorkflowError> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(i as u64);
        let reported_at = self.report_time(i, &mut rng);
        Story::tell(self, rng, reported_at)
    }

    /// Report times rise with `i`: day by day as the day weights share the
    /// cases out, and within a day along the hourly profile.
    fn report_time(&self, i: usize, rng: &mut ChaCha8Rng) -> Timestamp {
        let day = self.first_of_day.partition_point(|f| *f <= i).saturating_sub(1).min(self.midnights.len() - 1);
        let (first, next) = (self.first_of_day[day], self.first_of_day[day + 1]);
        let m = next.saturating_sub(first).max(1);
        let u = ((i - first) as f64 + rng.random::<f64>()) / m as f64;
        let total: f64 = HOURS.iter().sum();
        let mut target = u * total;
        let mut secs = 0.0;
        for w in HOURS {
            if target <= w {
                secs += 3600.0 * target / w;
                break;
            }
            target -= w;
            secs += 3600.0;
        }
        whole_second(self.midnights[day] + SignedDuration::from_secs_f64(secs.min(86_399.0)))
    }

    fn handler_at(&self, unit: &UnitCode, grid: &Grid, rng: &mut ChaCha8Rng) -> ActorRef {
        let pick = |pool: Option<&Vec<ActorRef>>, rng: &mut ChaCha8Rng| pool.and_then(|p| p.choose(rng)).cloned();
        let found = match unit.level() {
            Level::Grid => grid.worker.clone(),
            Level::Community => pick(self.community_staff.get(unit), rng),
            Level::Street => pick(self.street_staff.get(unit), rng),
            Level::District => self.bureau_staff.choose(rng).cloned(),
        };
        found.unwrap_or_else(|| ActorRef {
            user_id: -BUREAU_IDS,
            username: "值班员".to_owned(),
            role: Role::Operator,
            unit: unit.clone(),
        })
    }

    fn operator(&self, rng: &mut ChaCha8Rng) -> ActorRef {
        self.operators.choose(rng).cloned().unwrap_or_else(|| ActorRef {
            user_id: -OPERATOR_IDS,
            username: "值班员".to_owned(),
            role: Role::Operator,
            unit: self.district.clone(),
        })
    }
}

/// Event times to the second, as people read them.
fn whole_second(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

fn kind_role(kind: RoleKind) -> Role {
    match kind {
        RoleKind::GridWorker => Role::GridWorker,
        RoleKind::CommunityStaff => Role::CommunityStaff,
        RoleKind::StreetStaff => Role::StreetStaff,
        _ => Role::Responder,
    }
}

/// One case being told: each event goes through the domain as it is made,
/// after the escalation clock has acted on what was overdue before it.
struct Story<'h> {
    h: &'h History,
    rng: ChaCha8Rng,
    grid: &'h Grid,
    events: Vec<CaseEvent>,
    view: CaseView,
    /// The year ended before the story did: nothing more happens.
    ended: bool,
}

impl<'h> Story<'h> {
    fn tell(h: &'h History, mut rng: ChaCha8Rng, at: Timestamp) -> Result<SyntheticCase, WorkflowError> {
        let grid = &h.grids[rng.random_range(0..h.grids.len())];
        let hour = h.calendar.offset().to_datetime(at).hour();
        let night = !(7..21).contains(&hour);
        let roll = rng.random::<f64>();
        let mut source = match (night, roll) {
            (true, r) if r < 0.40 => Source::ResidentReport,
            (true, r) if r < 0.75 => Source::Hotline12345,
            (true, _) => Source::CameraAlarm,
            (false, r) if r < 0.36 => Source::ResidentReport,
            (false, r) if r < 0.72 => Source::Patrol,
            (false, r) if r < 0.89 => Source::Hotline12345,
            (false, _) => Source::CameraAlarm,
        };
        if source == Source::Patrol && grid.worker.is_none() {
            source = Source::ResidentReport;
        }
        let weights = if source == Source::Patrol { &h.patrol_weights } else { &h.any_weights };
        let category = h.categories[pick_weighted(&mut rng, weights)].clone();
        let (lat, lon) = match grid.cameras.choose(&mut rng) {
            Some(p) if source == Source::CameraAlarm => *p,
            _ => {
                let r = grid.rect;
                let (dx, dy) = ((r[2] - r[0]) * 0.05, (r[3] - r[1]) * 0.05);
                (rng.random_range(r[1] + dy..r[3] - dy), rng.random_range(r[0] + dx..r[2] - dx))
            }
        };
        let reporter = match source {
            Source::Patrol => grid.worker.clone().unwrap_or_else(|| h.operator(&mut rng)),
            Source::ResidentReport => {
                let (user_id, username) =
                    h.residents.choose(&mut rng).cloned().unwrap_or((-RESIDENT_IDS, "居民".into()));
                let unit = grid.code.parent().unwrap_or_else(|| grid.code.clone());
                ActorRef { user_id, username, role: Role::Resident, unit }
            }
            _ => h.operator(&mut rng),
        };
        // Residents name a category half the time; the hotline and alarms leave it to filing.
        let reported_category = match source {
            Source::Patrol => Some(category.code.clone()),
            Source::ResidentReport if rng.random_bool(0.5) => Some(category.code.clone()),
            _ => None,
        };
        let prefix = match source {
            Source::ResidentReport => "居民反映",
            Source::Patrol => "网格巡查",
            Source::Hotline12345 => "12345转办",
            Source::CameraAlarm | Source::OneClickCall => "视频告警",
        };
        let title = format!("{prefix}：{}", category.name_zh);
        let description = format!(
            "{}{}号附近{}，{}",
            names::ROADS.choose(&mut rng).unwrap_or(&""),
            rng.random_range(1..400),
            category.name_zh,
            PHRASES.choose(&mut rng).unwrap_or(&"")
        );
        let report = CaseEvent {
            at,
            actor: reporter.clone(),
            kind: EventKind::Report { source, grid: grid.code.clone(), category: reported_category },
            note: description.clone(),
            photos: Vec::new(),
            location: Some((lon, lat)),
        };
        let view = CaseView::open(&report)?;
        let mut story = Story { h, rng, grid, events: vec![report], view, ended: false };
        story.unfold(&category, source, &reporter)?;
        story.clock(h.to);
        Ok(SyntheticCase {
            title,
            description,
            lat,
            lon,
            grid: grid.code.clone(),
            events: story.events,
            view: story.view,
        })
    }

    fn last(&self) -> Timestamp {
        self.view.last_at
    }

    /// Appends an event at `at` unless the year is over by then.
    fn push(&mut self, at: Timestamp, actor: ActorRef, kind: EventKind, note: &str) -> Result<bool, WorkflowError> {
        self.push_with(at, actor, kind, note, Vec::new())
    }

    fn push_with(
        &mut self,
        at: Timestamp,
        actor: ActorRef,
        kind: EventKind,
        note: &str,
        photos: Vec<String>,
    ) -> Result<bool, WorkflowError> {
        if self.ended {
            return Ok(false);
        }
        let at = whole_second(at).max(self.last());
        self.clock(at);
        if at >= self.h.to {
            self.ended = true;
            return Ok(false);
        }
        let event = CaseEvent { at, actor, kind, note: note.to_owned(), photos, location: None };
        self.view.apply_with(self.h.rules, &event)?;
        self.events.push(event);
        Ok(true)
    }

    /// The escalation clock, as the server runs it, up to `until`: an overdue
    /// case goes one level up, then again one step limit later.
    fn clock(&mut self, until: Timestamp) {
        let (cal, cat) = (&self.h.calendar, &self.h.rules.catalogue);
        loop {
            if self.view.closed_at.is_some() || self.view.escalation == Some(Level::District) {
                return;
            }
            let Some(step) = self.view.current_step() else { return };
            let (Some(limit), Some(deadline)) = (self.view.limit(cat, step.step), self.view.deadline(cal, cat)) else {
                return;
            };
            let started = step.started;
            let done = self.events.iter().filter(|e| matches!(e.kind, EventKind::Escalated { .. }) && e.at >= started);
            let n = done.count() as i64;
            let due = if n == 0 { deadline } else { cal.add_working_time(deadline, limit * (n as i32)) };
            let at = whole_second(due) + SignedDuration::from_secs(self.rng.random_range(1..30));
            let from = self.view.escalation.or_else(|| self.view.handler_unit.as_ref().map(|u| u.level()));
            let level = match from.unwrap_or(Level::Grid) {
                Level::Grid => Level::Community,
                Level::Community => Level::Street,
                Level::Street => Level::District,
                Level::District => return,
            };
            if at >= until || at >= self.h.to || at < self.last() {
                return;
            }
            let event = CaseEvent {
                at,
                actor: ActorRef {
                    user_id: 0,
                    username: "system:clock".into(),
                    role: Role::Operator,
                    unit: self.h.district.clone(),
                },
                kind: EventKind::Escalated { level, supervision: true },
                note: format!("逾期未办，升级至{}督办", level.name_zh()),
                photos: Vec::new(),
                location: None,
            };
            // The clock's event is refused in a state that takes none (verified); it waits.
            if self.view.apply_with(self.h.rules, &event).is_err() {
                return;
            }
            self.events.push(event);
        }
    }

    /// A time before the running step's deadline (`on_time`), or after it.
    fn step_end(&mut self, on_time: bool) -> Timestamp {
        let (cal, cat) = (&self.h.calendar, &self.h.rules.catalogue);
        let last = self.last();
        let limit = self
            .view
            .current_step()
            .and_then(|s| self.view.limit(cat, s.step))
            .unwrap_or(SignedDuration::from_hours(1));
        match self.view.deadline(cal, cat) {
            Some(deadline) if on_time && deadline > last => {
                let left = cal.working_time_between(last, deadline);
                let f = self.rng.random_range(0.05..0.95);
                cal.add_working_time(last, left.mul_f64(f)).min(deadline)
            }
            Some(deadline) => {
                // Mostly a little late, now and then very late.
                let f = 0.02 + 1.5 * self.rng.random::<f64>().powi(2);
                cal.add_working_time(deadline.max(last), limit.mul_f64(f)) + SignedDuration::from_secs(60)
            }
            None => last + SignedDuration::from_mins(self.rng.random_range(5..120)),
        }
    }

    /// A little working time later: the next thing the same desk does.
    fn soon(&mut self, max_mins: i64) -> Timestamp {
        let mins = self.rng.random_range(1..=max_mins.max(1));
        self.h.calendar.add_working_time(self.last(), SignedDuration::from_mins(mins))
    }

    fn unfold(&mut self, category: &Category, source: Source, reporter: &ActorRef) -> Result<(), WorkflowError> {
        let h = self.h;
        let code = category.code.clone();
        // A grid worker fixes what the catalogue allows on the spot, with a photo.
        if source == Source::Patrol && category.self_handle && self.rng.random_bool(0.75) {
            let at = self.last() + SignedDuration::from_mins(self.rng.random_range(5..90));
            let photo = vec![h.photo.clone()];
            self.push_with(at, reporter.clone(), EventKind::SelfHandle { category: code }, "已现场处置", photo)?;
            return Ok(());
        }
        let operator = h.operator(&mut self.rng);
        if self.rng.random_bool(0.05) {
            let at = self.step_end(true);
            let reason = VOID_REASONS.choose(&mut self.rng).unwrap_or(&"不予立案");
            self.push(at, operator, EventKind::Void, reason)?;
            return Ok(());
        }
        let on_time = self.rng.random_bool(0.93);
        let at = self.step_end(on_time);
        if !self.push(at, operator.clone(), EventKind::File { category: code }, "")? {
            return Ok(());
        }
        let route = category.route(&self.grid.code).unwrap_or_else(|| self.grid.code.clone());
        // Requests need a unit above the requester; a district bureau has none.
        let may_request = route.level() != Level::District;
        let mut wrong = may_request && self.rng.random_bool(0.04);
        let mut reopened = false;
        loop {
            let unit = if wrong { self.wrong_unit(&route) } else { route.clone() };
            let on_time = self.rng.random_bool(0.95);
            let at = self.step_end(on_time);
            let dispatcher = h.operator(&mut self.rng);
            if !self.push(at, dispatcher, EventKind::Dispatch { unit: unit.clone() }, "")? {
                return Ok(());
            }
            let handler = h.handler_at(&unit, self.grid, &mut self.rng);
            let at = self.soon(60);
            if !self.push(at, handler.clone(), EventKind::Accept, "")? {
                return Ok(());
            }
            if wrong {
                wrong = false;
                let at = self.soon(90);
                if !self.push(at, handler.clone(), EventKind::RequestReturn, "不属于本单位职责，申请退回")?
                {
                    return Ok(());
                }
                let at = self.soon(120);
                let approver = h.operator(&mut self.rng);
                if !self.push(at, approver, EventKind::Approve { request: RequestKind::Return }, "")? {
                    return Ok(());
                }
                continue;
            }
            // Some cases are left lying: the clock moves them up to the district.
            if self.rng.random_bool(0.015) {
                return Ok(());
            }
            if !self.handle(&handler, may_request, &operator)? {
                return Ok(());
            }
            let closed = self.view.state == CaseState::Closed;
            if !closed {
                return Ok(());
            }
            let late = self.view.steps.iter().any(|s| {
                self.view.limit(&h.rules.catalogue, s.step).and_then(|limit| s.on_time(&h.calendar, limit))
                    == Some(false)
            });
            let rater = match source {
                Source::ResidentReport => Some(reporter.clone()),
                Source::Hotline12345 => Some(h.operator(&mut self.rng)),
                _ => None,
            };
            let mut satisfaction = None;
            if let Some(rater) = rater.clone()
                && self.rng.random_bool(if source == Source::ResidentReport { 0.7 } else { 0.5 })
            {
                let s = self.satisfaction(late);
                let at = self.last() + SignedDuration::from_mins(self.rng.random_range(30..72 * 60));
                if !self.push(at, rater, EventKind::Evaluate { satisfaction: s }, "")? {
                    return Ok(());
                }
                satisfaction = Some(s);
            }
            let p = if satisfaction.is_some_and(|s| s <= 2) { 0.3 } else { 0.015 };
            match rater {
                Some(rater) if !reopened && self.rng.random_bool(p) => {
                    reopened = true;
                    // Within the reopen window after closing.
                    let closed_at = self.view.closed_at.unwrap_or(self.last());
                    let at = closed_at + SignedDuration::from_mins(self.rng.random_range(60..6 * 24 * 60));
                    if !self.push(at, rater, EventKind::Reopen, "问题仍未解决")? {
                        return Ok(());
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// From accepted to closed, or as far as the case gets. False when the year ended.
    fn handle(&mut self, handler: &ActorRef, may_request: bool, operator: &ActorRef) -> Result<bool, WorkflowError> {
        let h = self.h;
        if may_request && self.rng.random_bool(0.05) {
            let cat = &h.rules.catalogue;
            let limit = self.view.limit(cat, civicgrid_domain::Step::Handle).unwrap_or(SignedDuration::from_hours(8));
            let extra = SignedDuration::from_mins((limit.as_secs() / 60).max(30));
            let at = self.soon(240);
            if !self.push(at, handler.clone(), EventKind::RequestExtension { extra }, "需协调多个部门，申请延期")?
            {
                return Ok(false);
            }
            let decision = if self.rng.random_bool(0.85) {
                EventKind::Approve { request: RequestKind::Extension }
            } else {
                EventKind::Reject { request: RequestKind::Extension }
            };
            let at = self.soon(120);
            let approver = h.operator(&mut self.rng);
            if !self.push(at, approver, decision, "")? {
                return Ok(false);
            }
        }
        if may_request && self.rng.random_bool(0.01) {
            let at = self.soon(240);
            if !self.push(at, handler.clone(), EventKind::RequestDeferral, "需等待业主返回，申请缓办")? {
                return Ok(false);
            }
            let at = self.soon(120);
            let approver = h.operator(&mut self.rng);
            if !self.push(at, approver, EventKind::Approve { request: RequestKind::Deferral }, "")? {
                return Ok(false);
            }
            let at = self.last() + SignedDuration::from_hours(self.rng.random_range(24..10 * 24));
            if !self.push(at, handler.clone(), EventKind::Resume, "")? {
                return Ok(false);
            }
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            let on_time = self.rng.random_bool(0.88);
            let at = self.step_end(on_time);
            if !self.push(at, handler.clone(), EventKind::ReportBack, "已处理完毕")? {
                return Ok(false);
            }
            // The grid's worker checks on site, unless they handled it themselves.
            let verifier = match &self.grid.worker {
                Some(w) if w.user_id != handler.user_id => w.clone(),
                _ => operator.clone(),
            };
            let on_time = self.rng.random_bool(0.93);
            let verify_at = self.step_end(on_time);
            let passed = attempts > 1 || !self.rng.random_bool(0.03);
            if !self.push(
                verify_at,
                verifier,
                EventKind::Verify { passed },
                if passed { "" } else { "现场核查未整改到位" },
            )? {
                return Ok(false);
            }
            if passed {
                break;
            }
        }
        let at = self.soon(30);
        let closer = h.operator(&mut self.rng);
        self.push(at, closer, EventKind::Close, "")
    }

    /// A unit near the right one that is not it: a neighbouring community, or
    /// the community for a street's or grid's matter.
    fn wrong_unit(&mut self, route: &UnitCode) -> UnitCode {
        let community = self.grid.code.parent().unwrap_or_else(|| self.grid.code.clone());
        if route.level() != Level::Community {
            return community;
        }
        let street = community.parent();
        let others: Vec<&UnitCode> = self
            .h
            .community_staff
            .keys()
            .filter(|c| *c != &community && street.as_ref().is_some_and(|s| s.contains(c)))
            .collect();
        others.choose(&mut self.rng).map_or(community.clone(), |c| (*c).clone())
    }

    fn satisfaction(&mut self, late: bool) -> u8 {
        let x = self.rng.random::<f64>();
        let shift = if late { 0.25 } else { 0.0 };
        match x + shift {
            x if x < 0.60 => 5,
            x if x < 0.85 => 4,
            x if x < 0.93 => 3,
            x if x < 0.97 => 2,
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use civicgrid_domain::kpi::{self, Period};
    use jiff::civil::date;
    use std::collections::BTreeSet;

    fn history(n: usize) -> History {
        History::new(&crate::generate(crate::DEFAULT_SEED), 7, n, date(2026, 11, 1), "photo")
            .expect("the demo has grids")
    }

    #[test]
    fn every_case_replays_and_the_year_holds_every_kind_of_story() {
        let h = history(3000);
        let (from, to) = h.period();
        let cases: Vec<SyntheticCase> =
            (0..h.len()).map(|i| h.case(i).expect("the domain accepts each step")).collect();
        let mut states = BTreeSet::new();
        let mut sources = BTreeSet::new();
        let mut last = from;
        for c in &cases {
            let view = CaseView::replay(&c.events).expect("replays");
            assert_eq!(view, c.view);
            assert!(c.events.iter().all(|e| from <= e.at && e.at < to), "inside the year");
            assert!(c.events[0].at >= last, "report times rise with the index");
            last = c.events[0].at;
            let grid = h.grids.iter().find(|g| g.code == c.grid).expect("a grid of the district");
            let r = grid.rect;
            assert!(r[0] < c.lon && c.lon < r[2] && r[1] < c.lat && c.lat < r[3], "the point lies in its grid");
            states.insert(view.state);
            sources.insert(view.source);
        }
        for s in [CaseState::Closed, CaseState::Evaluated, CaseState::Voided, CaseState::Handling] {
            assert!(states.contains(&s), "some case ends {s:?}: {states:?}");
        }
        assert_eq!(sources.len(), 4, "{sources:?}");
        let count = |f: &dyn Fn(&CaseView) -> bool| cases.iter().filter(|c| f(&c.view)).count();
        assert!(count(&|v| v.self_handled) > 100);
        assert!(count(&|v| v.counts.returns > 0) > 10);
        assert!(count(&|v| v.counts.extensions > 0) > 10);
        assert!(count(&|v| v.counts.reopenings > 0) > 5);
        assert!(count(&|v| v.counts.verify_failures > 0) > 10);
        assert!(count(&|v| v.counts.escalations > 0) > 30);
        assert!(count(&|v| v.counts.deferrals > 0) > 0);

        let histories = cases.iter().map(|c| c.events.as_slice());
        let (cal, cat) = (WorkCalendar::china(), &Rules::standard().catalogue);
        let r = kpi::compute(histories, Period { from, to }, Level::District, to, &cal, cat);
        assert_eq!(r.invalid_histories, 0);
        let k = &r.units[&UnitCode::parse("610304").expect("district")];
        assert_eq!(k.reported, 3000);
        let closure = k.on_time_closure.value().expect("closures");
        assert!((0.6..0.95).contains(&closure), "on-time closure {closure}");
        assert!(k.overdue_now > 0 && k.overdue_now < 300, "overdue {}", k.overdue_now);
    }

    #[test]
    fn the_same_seed_gives_the_same_cases_in_any_order() {
        let h = history(500);
        let forwards: Vec<_> = (0..50).map(|i| h.case(i).expect("case")).collect();
        let backwards: Vec<_> = (0..50).rev().map(|i| h.case(i).expect("case")).collect();
        assert!(forwards.iter().eq(backwards.iter().rev()));
        let other =
            History::new(&crate::generate(crate::DEFAULT_SEED), 8, 500, date(2026, 11, 1), "photo").expect("grids");
        assert_ne!(other.case(0).expect("case").events, forwards[0].events);
    }
}
