//! One-click calls on the server: the responders this node keeps in memory
//! (the [`Fleet`]: who is on duty, free, where, and how fresh), the checks on
//! their positions, and the dispatch — a call filed as a case, offered to the
//! best responders in rounds, taken by the first to accept, alarmed when
//! nobody does — with every step an event on the call's case.
//!
//! The database holds the truth; the fleet is a cache of it, rebuilt at
//! start-up and kept current from this node's writes and, every turn of the
//! dispatcher, from the rows other nodes changed. Who owns a call is decided
//! by the store alone (a conditional write), so two nodes can never both
//! hand a call to two responders.

use crate::AppState;
use crate::casework::{self, from_record, rules, to_record};
use crate::error::ApiError;
use crate::locator::Locator;
use axum::http::StatusCode;
use civicgrid_domain::case::{ActorRef, CaseEvent, CaseView, EventKind};
use civicgrid_domain::dispatch::{self, Candidate};
use civicgrid_domain::{
    CallKind, CallState, DispatchPolicy, Level, OfferState, RespondStep, Role, Skill, Team, UnitCode,
};
use civicgrid_geo::{LatLng, LiveIndex};
use civicgrid_store::{
    Actor, CallQuery, CallRecord, CallUpdate, NewOffer, PositionFix, ResponderRecord, Store, StoreError,
};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The index bit of a responder who may get an offer: on duty, on no call.
const FREE: u32 = 1;

/// How far beyond the district's grids a position is still taken, degrees.
const MARGIN_DEG: f64 = 0.1;

/// One responder as this node knows them.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub id: i64,
    pub name: String,
    pub team: Team,
    pub skills: Vec<Skill>,
    pub grid: String,
    pub user_id: Option<i64>,
    pub on_duty: bool,
    pub call: Option<i64>,
    /// The step of the call they own, as far as this node saw it.
    pub task: Option<CallState>,
    /// Holding an offer until then: no second offer meanwhile.
    pub offered_until: Option<Timestamp>,
    pub pos: Option<(LatLng, Timestamp)>,
}

impl Member {
    fn from_record(r: &ResponderRecord) -> Option<Member> {
        let team = r.team.parse().ok()?;
        let pos = match (r.lat, r.lon, r.located_at) {
            (Some(lat), Some(lon), Some(at)) => LatLng::new(lat, lon).ok().map(|p| (p, at)),
            _ => None,
        };
        Some(Member {
            id: r.id,
            name: r.name.clone(),
            team,
            skills: r.skills.iter().filter_map(|s| s.parse().ok()).collect(),
            grid: r.grid.clone(),
            user_id: r.user_id,
            on_duty: r.on_duty,
            call: r.call_id,
            task: r.call_id.map(|_| CallState::Accepted),
            offered_until: None,
            pos,
        })
    }

    fn bits(&self) -> u32 {
        if self.on_duty && self.call.is_none() { FREE } else { 0 }
    }

    pub fn first_name(&self) -> &str {
        dispatch::first_name(&self.name)
    }

    /// What the responder is doing now, for the map.
    pub fn state(&self, now: Timestamp) -> &'static str {
        match (self.task, self.offered_until) {
            (Some(task), _) => task.as_str(),
            (None, Some(until)) if until > now => "offered",
            _ => "idle",
        }
    }

    pub fn is_stale(&self, now: Timestamp, policy: &DispatchPolicy) -> bool {
        self.pos.is_none_or(|(_, at)| at < now - policy.stale_after)
    }

    fn actor(&self, unit: UnitCode) -> ActorRef {
        let role = if self.team == Team::GridWorker { Role::GridWorker } else { Role::Responder };
        ActorRef { user_id: self.user_id.unwrap_or(0), username: format!("responder:{}", self.id), role, unit }
    }
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

/// Why a position was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixError {
    UnknownResponder,
    OutOfRange,
    FromTheFuture,
    TooFast(u32),
    /// Older than the one already held: ignored, not an error of the device.
    Older,
    /// Someone else's position, from outside the scope they work in.
    Forbidden(i64),
}

impl FixError {
    pub fn code(&self) -> &'static str {
        match self {
            FixError::UnknownResponder => "unknown_responder",
            FixError::OutOfRange => "out_of_range",
            FixError::FromTheFuture => "from_the_future",
            FixError::TooFast(_) => "impossible_jump",
            FixError::Older => "older_than_last",
            FixError::Forbidden(_) => "forbidden",
        }
    }

    pub fn message(&self) -> String {
        match self {
            FixError::UnknownResponder => "no such responder".into(),
            FixError::OutOfRange => "the position lies far outside the district".into(),
            FixError::FromTheFuture => "the position's time is ahead of the server's clock".into(),
            FixError::TooFast(v) => format!("the move from the last position would take {v} km/h"),
            FixError::Older => "a newer position is already held".into(),
            FixError::Forbidden(id) => format!("you may not report positions for responder {id}"),
        }
    }
}

#[derive(Debug)]
struct Inner {
    index: Option<LiveIndex>,
    members: HashMap<i64, Member>,
    by_user: HashMap<i64, i64>,
    /// Rows changed at or after this time are read again on the next sync.
    synced_to: Option<Timestamp>,
}

/// The responders this node keeps in memory, with their live positions in
/// a [`LiveIndex`] over the district's extent.
#[derive(Debug)]
pub struct Fleet {
    inner: Mutex<Inner>,
}

impl Fleet {
    /// Loads every responder and the offers still out.
    pub async fn load(store: &dyn Store, locator: &Locator) -> Result<Fleet, StoreError> {
        let index = locator.index().bounds().and_then(|b| {
            let sw = LatLng::new(b.min().y - MARGIN_DEG, b.min().x - MARGIN_DEG).ok()?;
            let ne = LatLng::new(b.max().y + MARGIN_DEG, b.max().x + MARGIN_DEG).ok()?;
            LiveIndex::new(sw, ne).ok()
        });
        let fleet = Fleet {
            inner: Mutex::new(Inner { index, members: HashMap::new(), by_user: HashMap::new(), synced_to: None }),
        };
        let started = Timestamp::now();
        let records = store.responders(None).await?;
        fleet.apply(&records);
        let open = store.calls(&CallQuery { open_only: true, limit: 10_000, ..CallQuery::default() }).await?;
        for call in &open {
            fleet.saw_call(call);
        }
        fleet.lock().synced_to = Some(started);
        Ok(fleet)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock means a panic mid-update of a cache the next sync rewrites.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes in rows read from the store, keeping a newer position held here.
    pub fn apply(&self, records: &[ResponderRecord]) {
        let mut g = self.lock();
        for r in records {
            let Some(mut m) = Member::from_record(r) else { continue };
            if let Some(old) = g.members.get(&r.id) {
                if old.pos.is_some_and(|(_, a)| m.pos.is_none_or(|(_, b)| b < a)) {
                    m.pos = old.pos;
                }
                m.offered_until = old.offered_until;
                if m.call == old.call {
                    m.task = old.task;
                }
            }
            if let Some(u) = m.user_id {
                g.by_user.insert(u, m.id);
            }
            let id = m.id as u64;
            if let (Some(index), Some((p, at))) = (g.index.as_mut(), m.pos)
                && index.contains(p)
            {
                index.upsert(id, p, m.bits(), ms(at));
            }
            g.members.insert(m.id, m);
        }
    }

    /// Reads the rows other nodes changed since the last sync.
    pub async fn sync(&self, store: &dyn Store) -> Result<usize, StoreError> {
        let since = self.lock().synced_to;
        let started = Timestamp::now();
        // Rows committed a little after their changed_at time would be
        // missed by a sharp cut: read a few seconds back.
        let records = store.responders(since.map(|t| t - SignedDuration::from_secs(5))).await?;
        self.apply(&records);
        self.lock().synced_to = Some(started);
        Ok(records.len())
    }

    /// Records what a call's row says about its responders.
    pub fn saw_call(&self, call: &CallRecord) {
        let mut g = self.lock();
        let state: Option<CallState> = call.state.parse().ok();
        for o in &call.offers {
            if let Some(m) = g.members.get_mut(&o.responder_id) {
                if o.state == OfferState::Offered.as_str() {
                    m.offered_until = Some(m.offered_until.map_or(o.expires_at, |u| u.max(o.expires_at)));
                } else if m.offered_until.is_some_and(|u| u <= o.expires_at) {
                    m.offered_until = None;
                }
            }
        }
        if let Some(owner) = call.owner {
            let done = state == Some(CallState::Done);
            if let Some(m) = g.members.get_mut(&owner) {
                m.call = (!done).then_some(call.id);
                m.task = if done { None } else { state };
                m.offered_until = None;
            }
            let bits = g.members.get(&owner).map(Member::bits);
            if let (Some(index), Some(bits)) = (g.index.as_mut(), bits) {
                index.set_bits(owner as u64, bits);
            }
        }
    }

    pub fn member(&self, id: i64) -> Option<Member> {
        self.lock().members.get(&id).cloned()
    }

    pub fn member_of_user(&self, user_id: i64) -> Option<Member> {
        let g = self.lock();
        g.by_user.get(&user_id).and_then(|id| g.members.get(id)).cloned()
    }

    /// Every responder, or those of one unit.
    pub fn members(&self, within: Option<&UnitCode>) -> Vec<Member> {
        let g = self.lock();
        let mut out: Vec<Member> = g
            .members
            .values()
            .filter(|m| within.is_none_or(|u| UnitCode::parse(&m.grid).is_ok_and(|g| u.contains(&g))))
            .cloned()
            .collect();
        out.sort_by_key(|m| m.id);
        out
    }

    pub fn set_duty(&self, id: i64, on: bool) {
        let mut g = self.lock();
        let Some(m) = g.members.get_mut(&id) else { return };
        m.on_duty = on;
        let bits = m.bits();
        if let Some(index) = g.index.as_mut() {
            index.set_bits(id as u64, bits);
        }
    }

    /// Checks one fix against what is known of its responder; does not keep it.
    /// Checks a fix before it is written: a known responder whom `allowed`
    /// admits by their grid, a point in the district, a time neither ahead
    /// of the clock nor older than the last, a move no car could outrun.
    pub fn check(
        &self,
        fix: &PositionFix,
        now: Timestamp,
        policy: &DispatchPolicy,
        allowed: impl Fn(&str) -> bool,
    ) -> Result<(), FixError> {
        let g = self.lock();
        let m = g.members.get(&fix.responder_id).ok_or(FixError::UnknownResponder)?;
        if !allowed(&m.grid) {
            return Err(FixError::Forbidden(fix.responder_id));
        }
        let p = LatLng::new(fix.lat, fix.lon).map_err(|_| FixError::OutOfRange)?;
        if !g.index.as_ref().is_some_and(|i| i.contains(p)) {
            return Err(FixError::OutOfRange);
        }
        if fix.at > now + policy.clock_skew {
            return Err(FixError::FromTheFuture);
        }
        if let Some((last, at)) = m.pos {
            if fix.at < at {
                return Err(FixError::Older);
            }
            let secs = fix.at.duration_since(at).as_secs_f64().max(1.0);
            let speed = last.haversine_m(p) / secs;
            if speed > policy.max_speed_mps {
                return Err(FixError::TooFast((speed * 3.6).round() as u32));
            }
        }
        Ok(())
    }

    /// Keeps fixes the store has written.
    pub fn moved(&self, fixes: &[PositionFix]) {
        let mut g = self.lock();
        let Inner { index, members, .. } = &mut *g;
        for f in fixes {
            let (Some(m), Ok(p)) = (members.get_mut(&f.responder_id), LatLng::new(f.lat, f.lon)) else { continue };
            if m.pos.is_some_and(|(_, at)| f.at < at) {
                continue;
            }
            m.pos = Some((p, f.at));
            if let Some(index) = index.as_mut() {
                index.upsert(f.responder_id as u64, p, m.bits(), ms(f.at));
            }
        }
    }

    /// Free, fresh responders within the policy's radius of `at`, nearest
    /// first in a straight line (at most `k`), skipping those holding an
    /// offer and those in `skip`.
    pub fn nearby(
        &self,
        at: LatLng,
        k: usize,
        now: Timestamp,
        policy: &DispatchPolicy,
        skip: &[i64],
    ) -> Vec<(Member, f64)> {
        let g = self.lock();
        let Some(index) = g.index.as_ref() else { return Vec::new() };
        let fresh = ms(now - policy.stale_after);
        // Ask for more than needed: some hold offers, some were offered this call before.
        let want = k + skip.len() + 8;
        index
            .nearest(at, want * 2, policy.radius_m, FREE, fresh)
            .into_iter()
            .filter_map(|(id, d)| g.members.get(&(id as i64)).map(|m| (m, d)))
            .filter(|(m, _)| !skip.contains(&m.id) && m.offered_until.is_none_or(|u| u <= now))
            .take(k)
            .map(|(m, d)| (m.clone(), d))
            .collect()
    }

    fn offered(&self, ids: &[i64], until: Option<Timestamp>) {
        let mut g = self.lock();
        for id in ids {
            if let Some(m) = g.members.get_mut(id) {
                m.offered_until = until;
            }
        }
    }
}

/// A responder as the API shows them.
#[derive(Debug, Clone, Serialize)]
pub struct ResponderView {
    pub id: i64,
    pub name: String,
    pub first_name: String,
    pub team: Team,
    pub skills: Vec<Skill>,
    pub grid: String,
    pub on_duty: bool,
    pub state: &'static str,
    pub call_id: Option<i64>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub located_at: Option<Timestamp>,
    pub stale: bool,
}

pub fn responder_view(m: &Member, now: Timestamp, policy: &DispatchPolicy) -> ResponderView {
    ResponderView {
        id: m.id,
        name: m.name.clone(),
        first_name: m.first_name().to_owned(),
        team: m.team,
        skills: m.skills.clone(),
        grid: m.grid.clone(),
        on_duty: m.on_duty,
        state: m.state(now),
        call_id: m.call,
        lat: m.pos.map(|(p, _)| p.lat()),
        lon: m.pos.map(|(p, _)| p.lon()),
        located_at: m.pos.map(|(_, at)| at),
        stale: m.is_stale(now, policy),
    }
}

/// What one step of a call does: the update of its rows and the case
/// events beside it (checked by the workflow, numbered by the step).
struct Plan {
    update: CallUpdate,
    events: Vec<CaseEvent>,
}

fn conflict(message: impl Into<String>) -> ApiError {
    ApiError { status: StatusCode::CONFLICT, code: "conflict", message: message.into() }
}

/// Runs one step of a call: reads the call and its case, lets `plan` decide
/// against them, checks the events with the workflow and writes it all in
/// one transaction. A concurrent step (another node, another responder)
/// makes the store refuse; the step is then planned again on what is there
/// now, up to three times.
async fn step<F>(state: &AppState, call_id: i64, by: &Actor, plan: F) -> Result<CallRecord, ApiError>
where
    F: Fn(&CallRecord, &CaseView, Timestamp) -> Result<Plan, ApiError>,
{
    let mut last = None;
    for _ in 0..3 {
        let call = state.store.call(call_id).await?.ok_or_else(|| ApiError::not_found(format!("call {call_id}")))?;
        let records = state.store.case_events(call.case_id).await?;
        let mut events = records.iter().map(from_record).collect::<Result<Vec<_>, _>>()?;
        let mut view = casework::replay(&events)?;
        let now = Timestamp::now().max(view.last_at);
        let Plan { mut update, events: new } = plan(&call, &view, now)?;
        let mut numbered = Vec::with_capacity(new.len());
        for e in new {
            view.apply_with(rules(), &e).map_err(|x| conflict(x.to_string()))?;
            events.push(e);
            let seq = i64::try_from(events.len()).unwrap_or(i64::MAX);
            numbered.push((to_record(seq, &events[events.len() - 1])?, view.state.as_str().to_owned()));
        }
        if !numbered.is_empty() {
            update.summary = Some(casework::summary(&state.cases, &view, &events, None));
        }
        update.events = numbered;
        update.call_id = call_id;
        update.at = Some(now);
        match state.store.update_call(&update, by).await {
            Ok(after) => {
                state.fleet.saw_call(&after);
                return Ok(after);
            }
            Err(StoreError::Conflict(m)) => last = Some(m),
            Err(e) => return Err(e.into()),
        }
    }
    Err(conflict(last.unwrap_or_else(|| "the call changed meanwhile".into())))
}

fn system(district: UnitCode) -> ActorRef {
    ActorRef { user_id: 0, username: "system:dispatcher".into(), role: Role::Operator, unit: district }
}

fn event(at: Timestamp, actor: ActorRef, kind: EventKind, note: impl Into<String>) -> CaseEvent {
    CaseEvent { at, actor, kind, note: note.into(), photos: Vec::new(), location: None }
}

fn respond(at: Timestamp, actor: ActorRef, responder: i64, step: RespondStep, distance_m: Option<u32>) -> CaseEvent {
    event(at, actor, EventKind::Respond { responder, step, distance_m }, "")
}

fn grid_of(call: &CallRecord) -> Result<UnitCode, ApiError> {
    UnitCode::parse(&call.grid).map_err(|e| ApiError::internal_with(format!("call {}: {e}", call.id)))
}

fn district_of(call: &CallRecord) -> Result<UnitCode, ApiError> {
    grid_of(call)?.at_level(Level::District).ok_or_else(|| ApiError::internal_with("a grid without a district"))
}

/// The candidates for a call at `at` in `grid`, measured: walking over the
/// streets where the network is loaded, in a straight line otherwise;
/// ranked by the domain. Those in `skip` (asked before) are left out.
pub async fn candidates(
    state: &AppState,
    at: LatLng,
    grid: &str,
    kind: &str,
    skip: &[i64],
    now: Timestamp,
) -> Vec<Candidate> {
    let policy = &state.dispatch;
    let near = state.fleet.nearby(at, policy.offers * 4, now, policy, skip);
    if near.is_empty() {
        return Vec::new();
    }
    let skill = kind.parse::<CallKind>().ok().and_then(CallKind::skill);
    // The walking network of the 15-minute circles, built on first use.
    let graph = state.access.get(state.store.as_ref()).await.ok().map(|m| m.graph.clone());
    let walked = match &graph {
        Some(g) if g.node_count() > 0 => {
            let ends: Vec<LatLng> = near.iter().filter_map(|(m, _)| m.pos.map(|(p, _)| p)).collect();
            g.walk_m_to(at, &ends, policy.radius_m * 2.0)
        }
        _ => vec![None; near.len()],
    };
    let list = near
        .iter()
        .zip(walked)
        .map(|((m, d), w)| Candidate {
            responder: m.id,
            team: m.team,
            grid: m.grid.clone(),
            distance_m: *d,
            walk_s: w.unwrap_or(*d) / policy.walk_mps,
            skilled: skill.is_none_or(|s| m.skills.contains(&s)),
        })
        .collect();
    dispatch::rank(list, grid, policy)
}

/// The offers of a round to the first of `ranked`, expiring `ack` from
/// `now`, with their case events; marks the responders as holding them.
pub fn offers_to(
    state: &AppState,
    ranked: &[Candidate],
    now: Timestamp,
    actor: &ActorRef,
) -> (Vec<NewOffer>, Vec<CaseEvent>) {
    let expires_at = now + state.dispatch.ack;
    let chosen: Vec<&Candidate> = ranked.iter().take(state.dispatch.offers).collect();
    let offers = chosen
        .iter()
        .map(|c| NewOffer {
            responder_id: c.responder,
            distance_m: c.distance_m.round() as i64,
            walk_s: c.walk_s.round() as i64,
            expires_at,
        })
        .collect();
    let events = chosen
        .iter()
        .map(|c| {
            let d = u32::try_from(c.distance_m.round() as i64).ok();
            respond(now, actor.clone(), c.responder, RespondStep::Offered, d)
        })
        .collect();
    let ids: Vec<i64> = chosen.iter().map(|c| c.responder).collect();
    state.fleet.offered(&ids, Some(expires_at));
    (offers, events)
}

/// Forgets offers that were never made (the filing failed).
pub fn unoffer(state: &AppState, offers: &[NewOffer]) {
    let ids: Vec<i64> = offers.iter().map(|o| o.responder_id).collect();
    state.fleet.offered(&ids, None);
}

/// The next round of a call whose offers all lapsed (or that has none yet):
/// lapsed offers expire, the call is alarmed once its time is up, and the
/// best free responders not yet asked get offers. Nothing when another
/// node made the round first.
pub async fn next_round(state: &AppState, call_id: i64) -> Result<CallRecord, ApiError> {
    let by = Actor::system("dispatcher");
    let call = state.store.call(call_id).await?.ok_or_else(|| ApiError::not_found(format!("call {call_id}")))?;
    let now = Timestamp::now();
    let at = LatLng::new(call.lat, call.lon).map_err(|e| ApiError::internal_with(e.to_string()))?;
    let skip: Vec<i64> = call.offers.iter().map(|o| o.responder_id).collect();
    let ranked = candidates(state, at, &call.grid, &call.kind, &skip, now).await;
    let policy = state.dispatch.clone();
    // Named in the alarm: looked up only when the call is about to be alarmed.
    let leaders = if call.state == CallState::Dispatching.as_str() && now >= call.give_up_at {
        casework::leaders(state, &grid_of(&call)?).await?
    } else {
        Vec::new()
    };
    // `step` tells the fleet who now holds an offer, until when.
    step(state, call_id, &by, |call, view, now| {
        let state_now: CallState =
            call.state.parse().map_err(|_| ApiError::internal_with(format!("call {} has a bad state", call.id)))?;
        if !state_now.is_unowned() {
            return Err(conflict("the call has a responder"));
        }
        let lapsed: Vec<i64> = call
            .offers
            .iter()
            .filter(|o| o.state == OfferState::Offered.as_str() && o.expires_at <= now)
            .map(|o| o.responder_id)
            .collect();
        if call.offers.iter().any(|o| o.state == OfferState::Offered.as_str() && o.expires_at > now) {
            return Err(conflict("offers are still running"));
        }
        let district = district_of(call)?;
        let sys = system(district);
        let mut events: Vec<CaseEvent> =
            lapsed.iter().map(|r| respond(now, sys.clone(), *r, RespondStep::Expired, None)).collect();
        let mut update = CallUpdate {
            from: vec![state_now.as_str().to_owned()],
            round: Some((call.round, call.round + 1)),
            answers: lapsed.iter().map(|r| (*r, OfferState::Expired.as_str().to_owned())).collect(),
            ..CallUpdate::default()
        };
        if state_now == CallState::Dispatching
            && now >= call.give_up_at
            && let Some(level) = casework::escalation_target(view)
        {
            update.state = Some(CallState::Alarmed.as_str().to_owned());
            let who =
                if leaders.is_empty() { String::new() } else { format!("；包联领导：{}", leaders.join("、")) };
            let note = format!("一键呼叫无人接单，已告警指挥中心并通知{}{who}", level.name_zh());
            events.push(event(now, sys.clone(), EventKind::Escalated { level, supervision: true }, note));
        }
        let expires_at = now + policy.ack;
        for c in
            ranked.iter().filter(|c| !call.offers.iter().any(|o| o.responder_id == c.responder)).take(policy.offers)
        {
            let distance = c.distance_m.round() as i64;
            update.offers.push(NewOffer {
                responder_id: c.responder,
                distance_m: distance,
                walk_s: c.walk_s.round() as i64,
                expires_at,
            });
            events.push(respond(now, sys.clone(), c.responder, RespondStep::Offered, u32::try_from(distance).ok()));
        }
        if events.is_empty() && update.state.is_none() {
            // Nobody to ask and nothing lapsed: leave the round as it is.
            return Err(conflict("nobody free nearby yet"));
        }
        Ok(Plan { update, events })
    })
    .await
}

/// A responder accepts or declines their offer.
pub async fn answer(
    state: &AppState,
    call_id: i64,
    me: &Member,
    by: &Actor,
    accept: bool,
) -> Result<CallRecord, ApiError> {
    let me2 = me.clone();
    let after = step(state, call_id, by, move |call, _view, now| {
        let offer = call
            .offers
            .iter()
            .find(|o| o.responder_id == me2.id && o.state == OfferState::Offered.as_str())
            .ok_or_else(|| conflict("you hold no offer of this call"))?;
        if offer.expires_at <= now {
            return Err(conflict("the offer has expired"));
        }
        let grid = grid_of(call)?;
        let actor = me2.actor(grid.clone());
        let distance = u32::try_from(offer.distance_m).ok();
        if !accept {
            return Ok(Plan {
                update: CallUpdate {
                    answers: vec![(me2.id, OfferState::Declined.as_str().to_owned())],
                    ..CallUpdate::default()
                },
                events: vec![respond(now, actor, me2.id, RespondStep::Declined, distance)],
            });
        }
        let others: Vec<i64> = call
            .offers
            .iter()
            .filter(|o| o.responder_id != me2.id && o.state == OfferState::Offered.as_str())
            .map(|o| o.responder_id)
            .collect();
        let sys = system(district_of(call)?);
        let mut events = vec![
            respond(now, actor.clone(), me2.id, RespondStep::Accepted, distance),
            event(now, actor, EventKind::Accept, "一键呼叫已接单"),
        ];
        events.extend(others.iter().map(|r| respond(now, sys.clone(), *r, RespondStep::Withdrawn, None)));
        Ok(Plan {
            update: CallUpdate {
                from: vec![CallState::Dispatching.as_str().into(), CallState::Alarmed.as_str().into()],
                state: Some(CallState::Accepted.as_str().into()),
                claim: Some(me2.id),
                answers: vec![(me2.id, OfferState::Accepted.as_str().to_owned())],
                close_others: Some(OfferState::Withdrawn.as_str().into()),
                ..CallUpdate::default()
            },
            events,
        })
    })
    .await
    .map_err(|e| if e.code == "conflict" && accept { ApiError { code: "taken", ..e } } else { e })?;
    // `step` told the fleet: the released responders' offer marks are gone.
    if !accept && !after.offers.iter().any(|o| o.state == OfferState::Offered.as_str()) {
        // The last one out said no: ask the next ones now, not at the next turn.
        if let Ok(next) = next_round(state, call_id).await {
            return Ok(next);
        }
    }
    Ok(after)
}

/// The owner reports progress: on the way, on the scene, done (with a note
/// and photos; the case is then reported back for verification).
pub async fn progress(
    state: &AppState,
    call_id: i64,
    me: &Member,
    by: &Actor,
    to: CallState,
    note: &str,
    photos: Vec<String>,
) -> Result<CallRecord, ApiError> {
    let from: &[CallState] = match to {
        CallState::EnRoute => &[CallState::Accepted],
        CallState::OnScene => &[CallState::Accepted, CallState::EnRoute],
        CallState::Done => &[CallState::Accepted, CallState::EnRoute, CallState::OnScene],
        _ => return Err(ApiError::unprocessable("a step is en_route, on_scene or done")),
    };
    if to == CallState::Done && note.trim().is_empty() {
        return Err(ApiError::unprocessable("say in a note what was done"));
    }
    let me2 = me.clone();
    let step_of = match to {
        CallState::EnRoute => RespondStep::EnRoute,
        CallState::OnScene => RespondStep::OnScene,
        _ => RespondStep::Done,
    };
    let after = step(state, call_id, by, move |call, _view, now| {
        if call.owner != Some(me2.id) {
            return Err(ApiError::forbidden("the call is not yours"));
        }
        let actor = me2.actor(grid_of(call)?);
        let mut events = vec![respond(now, actor.clone(), me2.id, step_of, None)];
        if to == CallState::Done {
            let mut back = event(now, actor, EventKind::ReportBack, note.trim());
            back.photos = photos.clone();
            events.push(back);
        }
        Ok(Plan {
            update: CallUpdate {
                from: from.iter().map(|s| s.as_str().to_owned()).collect(),
                state: Some(to.as_str().to_owned()),
                release: to == CallState::Done,
                ..CallUpdate::default()
            },
            events,
        })
    })
    .await?;
    // `step` told the fleet: a responder whose call is done is free again.
    Ok(after)
}

/// The command centre gives the call to a responder by hand.
pub async fn assign(
    state: &AppState,
    call_id: i64,
    responder: &Member,
    by: &Actor,
    operator: ActorRef,
) -> Result<CallRecord, ApiError> {
    let r = responder.clone();
    step(state, call_id, by, move |call, _view, now| {
        let grid = grid_of(call)?;
        let others: Vec<i64> = call
            .offers
            .iter()
            .filter(|o| o.responder_id != r.id && o.state == OfferState::Offered.as_str())
            .map(|o| o.responder_id)
            .collect();
        let mut events = vec![
            respond(now, operator.clone(), r.id, RespondStep::Assigned, None),
            event(now, r.actor(grid), EventKind::Accept, "由指挥中心指派"),
        ];
        let sys = system(district_of(call)?);
        events.extend(others.iter().map(|o| respond(now, sys.clone(), *o, RespondStep::Withdrawn, None)));
        let answers = if call.offers.iter().any(|o| o.responder_id == r.id && o.state == OfferState::Offered.as_str()) {
            vec![(r.id, OfferState::Accepted.as_str().to_owned())]
        } else {
            Vec::new()
        };
        Ok(Plan {
            update: CallUpdate {
                from: vec![CallState::Dispatching.as_str().into(), CallState::Alarmed.as_str().into()],
                state: Some(CallState::Accepted.as_str().into()),
                claim: Some(r.id),
                answers,
                close_others: Some(OfferState::Withdrawn.as_str().into()),
                ..CallUpdate::default()
            },
            events,
        })
    })
    .await
}

/// The command centre escalates by hand (alarm now), or notes a call back.
pub async fn operator_note(
    state: &AppState,
    call_id: i64,
    by: &Actor,
    operator: ActorRef,
    escalate: bool,
    note: &str,
) -> Result<CallRecord, ApiError> {
    let note = note.trim().to_owned();
    step(state, call_id, by, move |call, view, now| {
        let state_now: CallState = call.state.parse().map_err(|_| ApiError::internal_with("bad call state"))?;
        if !escalate {
            let text =
                if note.is_empty() { "已回拨呼叫人".to_owned() } else { format!("已回拨呼叫人：{note}") };
            return Ok(Plan {
                update: CallUpdate::default(),
                events: vec![event(now, operator.clone(), EventKind::Comment, text)],
            });
        }
        let level =
            casework::escalation_target(view).ok_or_else(|| conflict("the case stands at the top level already"))?;
        let mut update = CallUpdate::default();
        if state_now == CallState::Dispatching {
            update.from = vec![state_now.as_str().to_owned()];
            update.state = Some(CallState::Alarmed.as_str().to_owned());
        }
        let text = if note.is_empty() { "指挥中心升级告警".to_owned() } else { note.clone() };
        Ok(Plan {
            update,
            events: vec![event(now, operator.clone(), EventKind::Escalated { level, supervision: true }, text)],
        })
    })
    .await
}

/// One turn of the dispatcher: catch up with other nodes' responder rows
/// (on a shared database), then give every call whose offers lapsed its next round.
pub async fn turn(state: &AppState) -> Result<usize, ApiError> {
    if state.store.shared() {
        state.fleet.sync(state.store.as_ref()).await?;
    }
    let due =
        state.store.calls(&CallQuery { due_at: Some(Timestamp::now()), limit: 500, ..CallQuery::default() }).await?;
    let mut n = 0;
    for call in due {
        match next_round(state, call.id).await {
            Ok(_) => n += 1,
            Err(e) if e.code == "conflict" => {}
            Err(e) => tracing::warn!(call = call.id, error = %e.message, "dispatch round failed"),
        }
    }
    Ok(n)
}

/// Runs the dispatcher until the process ends.
pub async fn run(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = turn(&state).await {
            tracing::warn!(error = %e.message, "dispatcher turn failed; retrying next turn");
        }
    }
}
