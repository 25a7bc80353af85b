//! Read and write models of the access layer: users with their grants,
//! sessions, API tokens, the audit log, and residents' personal data.

use civicgrid_domain::{CareGroup, Gender, Grant};
use jiff::Timestamp;
use serde::Serialize;

/// Who does a write; every write the store makes is audited under an actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub username: String,
    /// The client's address, where there is a client.
    pub ip: Option<String>,
}

impl Actor {
    /// The system itself: start-up, the demo, command-line tools.
    pub fn system(what: &str) -> Self {
        Actor { user_id: None, username: format!("system:{what}"), ip: None }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    #[serde(skip)]
    pub password_hash: String,
    pub grants: Vec<Grant>,
    /// Wrong passwords in a row since the last good one.
    pub failed_logins: u32,
    pub locked_until: Option<Timestamp>,
    pub disabled: bool,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    /// Already normalised (`normalise_username`).
    pub username: String,
    pub display_name: String,
    /// An argon2id PHC string.
    pub password_hash: String,
    pub grants: Vec<Grant>,
}

/// A sign-in session; the cookie holds a random id, the store its SHA-256.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id_hash: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenRecord {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// An entry to append to the audit log.
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub actor: Actor,
    /// What happened, as a stable key: `sign_in`, `sign_in_failed`,
    /// `view_personal_data`, `create_user`, `add_facility` …
    pub action: String,
    /// What it happened to: a username, a unit code, `resident:123` …
    pub target: String,
    pub detail: serde_json::Value,
    /// Why, where the actor had to say (unmasking personal data).
    pub reason: Option<String>,
}

/// One entry of the append-only, hash-chained audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: Timestamp,
    pub actor: String,
    pub actor_id: Option<i64>,
    pub ip: Option<String>,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
    pub reason: Option<String>,
    /// Hex SHA-256 of the previous entry (64 zeros for the first).
    pub prev_hash: String,
    /// Hex SHA-256 over `prev_hash` and this entry's fields.
    pub hash: String,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub limit: u32,
    pub offset: u32,
}

/// The result of checking the audit chain from the first entry to the last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ChainCheck {
    Intact {
        entries: i64,
    },
    /// The first entry whose stored hash or link does not match.
    Broken {
        seq: i64,
        reason: String,
    },
}

/// A resident as lists show them: identity and phone numbers masked.
#[derive(Debug, Clone, Serialize)]
pub struct ResidentView {
    pub id: i64,
    pub name: String,
    pub gender: Gender,
    pub birth_year: i16,
    pub grid: String,
    pub compound: String,
    pub building: u16,
    pub entrance: u8,
    pub room: u16,
    pub head_of_household: bool,
    pub care: Vec<CareGroup>,
    /// `610399********123X`
    pub id_number: String,
    /// `100****5678`
    pub phone: Option<String>,
}

/// A resident's identity and phone numbers in full.
#[derive(Debug, Clone, Serialize)]
pub struct ResidentFull {
    pub id: i64,
    pub name: String,
    pub id_number: String,
    pub phone: Option<String>,
}

/// Find residents by an exact identity or phone number, through the keyed hash.
#[derive(Debug, Clone)]
pub enum ResidentSearch {
    IdNumber(civicgrid_domain::IdNumber),
    Phone(civicgrid_domain::PhoneNumber),
}
