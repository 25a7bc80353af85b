//! One-click calls (一键呼叫) and the responders who answer them: the kinds of
//! call, the teams and skills of responders, the states of a call and of an
//! offer, the policy of a dispatch, and the ranking of candidates. Rules
//! only: where responders are and how far they walk is measured elsewhere.

use crate::catalogue::CategoryCode;
use crate::facility::string_enum;
use crate::people::RoleKind;
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The major class of the catalogue that calls are filed under.
pub const CALL_MAJOR: &str = "17";

string_enum! {
    /// What the caller needs help with.
    CallKind {
        Medical = "medical",
        Fall = "fall",
        Fire = "fire",
        Security = "security",
        Other = "other",
    }
}

impl CallKind {
    /// The case category a call of this kind is filed as.
    pub fn category(self) -> CategoryCode {
        let code = match self {
            CallKind::Medical => "1701",
            CallKind::Fall => "1702",
            CallKind::Fire => "1703",
            CallKind::Security => "1704",
            CallKind::Other => "1705",
        };
        CategoryCode::parse(code).unwrap_or_else(|_| unreachable!("call categories are four digits"))
    }

    /// The skill a responder should have for this kind, if any.
    pub fn skill(self) -> Option<Skill> {
        match self {
            CallKind::Medical | CallKind::Fall => Some(Skill::FirstAid),
            CallKind::Fire => Some(Skill::FireSafety),
            CallKind::Security => Some(Skill::Security),
            CallKind::Other => None,
        }
    }
}

string_enum! {
    /// The teams that answer calls (the article's three teams, and volunteers).
    Team {
        GridWorker = "grid_worker",
        StreetRider = "street_rider",
        PartyMember = "party_member",
        Volunteer = "volunteer",
    }
}

impl Team {
    /// The team of a person's role, for the roles that answer calls.
    pub fn of_role(kind: RoleKind) -> Option<Team> {
        match kind {
            RoleKind::GridWorker => Some(Team::GridWorker),
            RoleKind::StreetRider => Some(Team::StreetRider),
            RoleKind::PartyMember => Some(Team::PartyMember),
            RoleKind::Volunteer => Some(Team::Volunteer),
            _ => None,
        }
    }
}

string_enum! {
    /// What a responder is trained for.
    Skill {
        FirstAid = "first_aid",
        ElderlyCare = "elderly_care",
        Electrician = "electrician",
        FireSafety = "fire_safety",
        Security = "security",
    }
}

impl Skill {
    /// The skill's bit in a responder's skill set (bit 0 is the first skill).
    pub fn bit(self) -> u32 {
        let i = Skill::ALL.iter().position(|s| *s == self).unwrap_or(0);
        1 << i
    }

    /// The bits of a set of skills.
    pub fn bits(skills: &[Skill]) -> u32 {
        skills.iter().fold(0, |acc, s| acc | s.bit())
    }
}

string_enum! {
    /// Where a call stands.
    CallState {
        /// Offers are out, nobody has accepted yet.
        Dispatching = "dispatching",
        /// Nobody accepted in time: the command centre and the community are alarmed.
        /// Offers keep going out until someone accepts or the centre assigns by hand.
        Alarmed = "alarmed",
        Accepted = "accepted",
        EnRoute = "en_route",
        OnScene = "on_scene",
        Done = "done",
    }
}

impl CallState {
    /// Waiting for a responder to take it.
    pub fn is_unowned(self) -> bool {
        matches!(self, CallState::Dispatching | CallState::Alarmed)
    }

    pub fn is_open(self) -> bool {
        self != CallState::Done
    }
}

string_enum! {
    /// Where one offer of a call to one responder stands.
    OfferState {
        Offered = "offered",
        Accepted = "accepted",
        Declined = "declined",
        /// Not answered within its acknowledgement time.
        Expired = "expired",
        /// Someone else accepted first, or the command centre took over.
        Withdrawn = "withdrawn",
    }
}

string_enum! {
    /// A step of a call's story, told on its case (`respond` events).
    RespondStep {
        Offered = "offered",
        Declined = "declined",
        Expired = "expired",
        Withdrawn = "withdrawn",
        Accepted = "accepted",
        /// The command centre assigned the call by hand.
        Assigned = "assigned",
        EnRoute = "en_route",
        OnScene = "on_scene",
        Done = "done",
    }
}

string_enum! {
    /// A registered call device: what a call may name as `device`.
    DeviceKind {
        /// A button on the wall of a home (an elderly resident living alone).
        WallButton = "wall_button",
        /// A smart speaker that calls on a spoken word.
        Speaker = "speaker",
        /// A resident's own registered address, used by their phone when
        /// it gives no position.
        Home = "home",
    }
}

string_enum! {
    /// How a call's point was found. Only `position` is a live fix; the
    /// others are a registered address, shown as such.
    LocatedBy {
        /// The position the caller's device sent.
        Position = "position",
        /// The registered point of the device the call came from.
        Device = "device",
        /// The caller's registered address (their `home`).
        Home = "home",
    }
}

/// A device code as printed on the device: 1 to 64 ASCII letters, digits, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceCode(String);

impl DeviceCode {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok { Ok(DeviceCode(s.to_owned())) } else { Err("a device code has 1 to 64 letters, digits, - or _".into()) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DeviceCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        DeviceCode::parse(&s)
    }
}

impl From<DeviceCode> for String {
    fn from(c: DeviceCode) -> String {
        c.0
    }
}

impl std::fmt::Display for DeviceCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How calls are dispatched. Every field has a command-line flag on `serve`.
#[derive(Debug, Clone, PartialEq)]
pub struct DispatchPolicy {
    /// Offers sent at once, per round.
    pub offers: usize,
    /// Time a responder has to accept an offer.
    pub ack: SignedDuration,
    /// Time after which, nobody having accepted, the call is alarmed.
    pub give_up: SignedDuration,
    /// How far candidates are sought, straight-line metres.
    pub radius_m: f64,
    /// The call's own grid worker goes first when at most this much slower than the best.
    pub grid_margin: SignedDuration,
    /// A position older than this is stale: its responder gets no offers.
    pub stale_after: SignedDuration,
    /// Walking speed where the street network is not loaded, metres per second.
    pub walk_mps: f64,
    /// A fix implying a faster move than this (metres per second) is refused.
    pub max_speed_mps: f64,
    /// A fix timed further ahead of the server's clock than this is refused.
    pub clock_skew: SignedDuration,
}

impl Default for DispatchPolicy {
    fn default() -> Self {
        DispatchPolicy {
            offers: 3,
            ack: SignedDuration::from_secs(45),
            give_up: SignedDuration::from_secs(180),
            radius_m: 3_000.0,
            grid_margin: SignedDuration::from_secs(120),
            stale_after: SignedDuration::from_secs(120),
            walk_mps: 1.25,
            max_speed_mps: 45.0,
            clock_skew: SignedDuration::from_secs(30),
        }
    }
}

/// A responder who could take a call, measured from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub responder: i64,
    pub team: Team,
    /// The grid the responder belongs to.
    pub grid: String,
    /// Straight-line metres.
    pub distance_m: f64,
    /// Walking seconds, over the streets where they are loaded.
    pub walk_s: f64,
    /// Holds the skill the call's kind asks for.
    pub skilled: bool,
}

/// The order in which candidates get offers: skilled before unskilled, then
/// by walking time, except that the call grid's own grid worker goes first
/// when they are at most `policy.grid_margin` slower than the best.
pub fn rank(mut candidates: Vec<Candidate>, call_grid: &str, policy: &DispatchPolicy) -> Vec<Candidate> {
    candidates.sort_by(|a, b| {
        b.skilled.cmp(&a.skilled).then(a.walk_s.total_cmp(&b.walk_s)).then(a.responder.cmp(&b.responder))
    });
    let own = candidates.iter().position(|c| c.team == Team::GridWorker && c.grid == call_grid);
    if let (Some(i), Some(best)) = (own, candidates.first()) {
        let margin = policy.grid_margin.as_secs_f64();
        if candidates[i].walk_s <= best.walk_s + margin && candidates[i].skilled >= best.skilled {
            let worker = candidates.remove(i);
            candidates.insert(0, worker);
        }
    }
    candidates
}

/// A responder's display name for callers: the given name only (the name
/// without its surname), or the whole name when it has one character.
pub fn first_name(name: &str) -> &str {
    const DOUBLE: &[&str] = &["欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐"];
    let surname = DOUBLE
        .iter()
        .find(|d| name.starts_with(**d))
        .map_or_else(|| name.chars().next().map_or(0, char::len_utf8), |d| d.len());
    match &name[surname..] {
        "" => name,
        given => given,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: i64, team: Team, grid: &str, walk_s: f64, skilled: bool) -> Candidate {
        Candidate { responder: id, team, grid: grid.into(), distance_m: walk_s, walk_s, skilled }
    }

    fn ids(ranked: &[Candidate]) -> Vec<i64> {
        ranked.iter().map(|c| c.responder).collect()
    }

    #[test]
    fn nearest_first_and_the_own_grid_worker_within_the_margin() {
        let p = DispatchPolicy::default();
        let g = "610304003002006";
        let rider = c(1, Team::StreetRider, g, 300.0, true);
        let member = c(3, Team::PartyMember, "610304003002001", 100.0, true);
        // 400 s is more than 120 s slower than the best (100 s): by time.
        let far = c(2, Team::GridWorker, g, 400.0, true);
        assert_eq!(ids(&rank(vec![rider.clone(), far, member.clone()], g, &p)), [3, 1, 2]);
        // 200 s is within the margin: the grid's own worker goes first.
        let near = c(2, Team::GridWorker, g, 200.0, true);
        assert_eq!(ids(&rank(vec![rider.clone(), near.clone(), member.clone()], g, &p)), [2, 3, 1]);
        // Another grid's worker gets no preference.
        assert_eq!(ids(&rank(vec![rider.clone(), near, member.clone()], "610304003002001", &p)), [3, 2, 1]);
        // The skilled go before the unskilled, even when further.
        let unskilled = c(4, Team::Volunteer, g, 10.0, false);
        assert_eq!(ids(&rank(vec![unskilled, rider, member], g, &p)), [3, 1, 4]);
    }

    #[test]
    fn first_names() {
        assert_eq!(first_name("李明辉"), "明辉");
        assert_eq!(first_name("欧阳晓"), "晓");
        assert_eq!(first_name("王"), "王");
        assert_eq!(first_name(""), "");
    }

    #[test]
    fn every_kind_has_a_category_under_the_call_class() {
        for k in CallKind::ALL {
            assert_eq!(k.category().major().as_str(), CALL_MAJOR);
        }
        assert_eq!(Skill::bits(&[Skill::FirstAid, Skill::Security]), 0b10001);
    }

    #[test]
    fn device_codes_are_letters_digits_dashes_and_underscores() {
        for good in ["BTN-610304003002-0001", "a", "speaker_7", &"x".repeat(64)] {
            assert_eq!(DeviceCode::parse(good).map(|c| c.as_str().to_owned()), Ok(good.to_owned()));
        }
        for bad in ["", "按钮1", "BTN 1", "BTN/1", &"x".repeat(65)] {
            assert!(DeviceCode::parse(bad).is_err(), "{bad:?}");
        }
    }
}
