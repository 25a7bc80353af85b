//! Who may do what, where: roles, the permissions each role carries, grants of
//! a role over an org-unit scope, and the principal a request acts as.
//!
//! A scope is a unit code; a grant reaches that unit and everything below it,
//! nothing else. Rules only: no sessions, no passwords, no I/O.

use crate::code::UnitCode;
use crate::facility::string_enum;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

string_enum! {
    /// The roles of CivicGrid's users.
    Role {
        Admin = "admin",
        Operator = "operator",
        StreetStaff = "street_staff",
        CommunityStaff = "community_staff",
        GridWorker = "grid_worker",
        Responder = "responder",
        Leader = "leader",
        Inspector = "inspector",
        Auditor = "auditor",
        Resident = "resident",
    }
}

string_enum! {
    /// What a route needs. Each route of the server declares one.
    Permission {
        /// The org tree, units, boundaries, locate, compounds, facilities, statistics.
        ViewOrg = "view_org",
        /// Camera positions and status.
        ViewCameras = "view_cameras",
        /// People in their roles (grid workers, riders, Party members).
        ViewPeople = "view_people",
        /// Residents, masked.
        ViewResidents = "view_residents",
        /// Residents' ID and phone numbers in full, with a reason, audited.
        UnmaskPersonalData = "unmask_personal_data",
        /// Add and change facilities.
        ManageFacilities = "manage_facilities",
        /// Create users and change their grants, within scope.
        ManageUsers = "manage_users",
        /// Read the audit log.
        ReadAudit = "read_audit",
        /// Report a problem: it becomes a case (residents, responders, staff).
        ReportCases = "report_cases",
        /// See the cases within one's scope and their history.
        ViewCases = "view_cases",
        /// Act on cases within one's scope: file, dispatch, handle, verify,
        /// close, request and approve (the workflow checks who may do which).
        HandleCases = "handle_cases",
        /// The command centre: responders live, one-click calls in scope, and
        /// taking a call over (assign by hand, call back, escalate).
        DispatchCalls = "dispatch_calls",
        /// Answer one-click calls: go on duty, report one's position, accept
        /// or decline offers, report progress.
        RespondToCalls = "respond_to_calls",
        /// Register and retire call devices (wall buttons, speakers,
        /// residents' registered addresses) within one's scope.
        ManageCallDevices = "manage_call_devices",
    }
}

impl Role {
    /// The permissions of a role. Administration and audit are kept apart
    /// (三员分立): an administrator neither reads the audit log nor unmasks
    /// personal data; the auditor does nothing but read the log.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Admin => &[ViewOrg, ViewCameras, ViewPeople, ViewResidents, ManageFacilities, ManageUsers, ViewCases],
            Role::Operator => &[
                ViewOrg,
                ViewCameras,
                ViewPeople,
                ViewResidents,
                UnmaskPersonalData,
                ReportCases,
                ViewCases,
                HandleCases,
                DispatchCalls,
                ManageCallDevices,
            ],
            Role::StreetStaff => &[
                ViewOrg,
                ViewCameras,
                ViewPeople,
                ViewResidents,
                UnmaskPersonalData,
                ManageFacilities,
                ManageUsers,
                ReportCases,
                ViewCases,
                HandleCases,
                DispatchCalls,
                RespondToCalls,
                ManageCallDevices,
            ],
            Role::CommunityStaff => &[
                ViewOrg,
                ViewCameras,
                ViewPeople,
                ViewResidents,
                UnmaskPersonalData,
                ManageFacilities,
                ReportCases,
                ViewCases,
                HandleCases,
                DispatchCalls,
                RespondToCalls,
                ManageCallDevices,
            ],
            Role::GridWorker => &[
                ViewOrg,
                ViewCameras,
                ViewPeople,
                ViewResidents,
                UnmaskPersonalData,
                ReportCases,
                ViewCases,
                HandleCases,
                RespondToCalls,
                ManageCallDevices,
            ],
            Role::Responder => &[ViewOrg, ReportCases, RespondToCalls],
            Role::Leader => {
                &[ViewOrg, ViewCameras, ViewPeople, ViewResidents, ReportCases, ViewCases, HandleCases, DispatchCalls]
            }
            Role::Inspector => &[ViewOrg, ViewCases],
            Role::Auditor => &[ReadAudit],
            Role::Resident => &[ViewOrg, ReportCases],
        }
    }

    pub fn has(self, p: Permission) -> bool {
        self.permissions().contains(&p)
    }
}

/// "User U holds role R over unit S and everything below it."
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Grant {
    pub role: Role,
    pub scope: UnitCode,
}

/// The user a request acts as, with all their grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub grants: Vec<Grant>,
}

impl Principal {
    /// True when some grant carries `p` at all (the route may be used).
    pub fn may(&self, p: Permission) -> bool {
        self.grants.iter().any(|g| g.role.has(p))
    }

    /// True when some grant carries `p` over a scope holding `unit`.
    pub fn may_at(&self, p: Permission, unit: &UnitCode) -> bool {
        self.grants.iter().any(|g| g.role.has(p) && g.scope.contains(unit))
    }

    /// The scopes over which the principal holds `p`, widest first, with
    /// scopes already inside another left out.
    pub fn scopes(&self, p: Permission) -> Vec<UnitCode> {
        let mut all: Vec<&UnitCode> = self.grants.iter().filter(|g| g.role.has(p)).map(|g| &g.scope).collect();
        all.sort_by_key(|s| (s.level(), s.as_str().to_owned()));
        let mut out: Vec<UnitCode> = Vec::new();
        for s in all {
            if !out.iter().any(|o| o.contains(s)) {
                out.push(s.clone());
            }
        }
        out
    }

    /// May the principal grant `grant` to someone? Only a user who manages
    /// users over the grant's scope; only an administrator makes
    /// administrators and auditors; anyone else grants only roles whose
    /// permissions they hold themselves.
    pub fn may_grant(&self, grant: &Grant) -> bool {
        self.grants.iter().any(|g| {
            let reach = g.role.has(Permission::ManageUsers) && g.scope.contains(&grant.scope);
            let power = match grant.role {
                Role::Admin | Role::Auditor => g.role == Role::Admin,
                r => g.role == Role::Admin || r.permissions().iter().all(|p| g.role.has(*p)),
            };
            reach && power
        })
    }
}

/// Why a password is not good enough.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("a password has at least {0} characters")]
    TooShort(usize),
    #[error("a password has at most 128 characters")]
    TooLong,
    #[error("a password mixes at least three of: lower-case, upper-case, Chinese characters, digits, other characters")]
    TooSimple,
    #[error("a password must not contain the username")]
    ContainsUsername,
}

/// Minimum length of a password (MLPS level 3 asks for complexity and length).
pub const MIN_PASSWORD_LEN: usize = 12;

/// The strength rules for a new password.
pub fn check_password(username: &str, password: &str) -> Result<(), PasswordError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort(MIN_PASSWORD_LEN));
    }
    if n > 128 {
        return Err(PasswordError::TooLong);
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
        // Chinese characters are letters without case; a Chinese passphrase
        // counts them as a class of their own.
        password.chars().any(|c| c.is_alphabetic() && !c.is_lowercase() && !c.is_uppercase()),
    ];
    if classes.iter().filter(|c| **c).count() < 3 {
        return Err(PasswordError::TooSimple);
    }
    if !username.is_empty() && password.to_lowercase().contains(&username.to_lowercase()) {
        return Err(PasswordError::ContainsUsername);
    }
    Ok(())
}

/// Why a username is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("a username has 3 to 32 characters: a-z, 0-9, '-', '_' or '.', starting with a letter")]
    Shape,
}

/// Usernames are plain ASCII (lower-case letters, digits, `-`, `_`, `.`), so
/// look-alikes from other scripts (Cyrillic `а` for Latin `a`, full-width
/// letters) cannot impersonate another account. Upper case is folded.
pub fn normalise_username(s: &str) -> Result<String, UsernameError> {
    let s = s.trim().to_ascii_lowercase();
    let ok = (3..=32).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if ok { Ok(s) } else { Err(UsernameError::Shape) }
}

/// Seconds an account stays locked after `failures` wrong passwords in a row:
/// none for the first four, then 1 minute doubling up to a day.
pub fn lockout_seconds(failures: u32) -> u64 {
    const FREE: u32 = 5;
    if failures < FREE {
        return 0;
    }
    (60u64 << (failures - FREE).min(20)).min(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> UnitCode {
        UnitCode::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn principal(grants: &[(Role, &str)]) -> Principal {
        Principal {
            user_id: 1,
            username: "u".into(),
            grants: grants.iter().map(|(role, s)| Grant { role: *role, scope: code(s) }).collect(),
        }
    }

    #[test]
    fn a_grant_reaches_its_unit_and_everything_below_only() {
        let p = principal(&[(Role::CommunityStaff, "610304003002")]);
        assert!(p.may_at(Permission::ViewResidents, &code("610304003002")));
        assert!(p.may_at(Permission::ViewResidents, &code("610304003002007")));
        assert!(!p.may_at(Permission::ViewResidents, &code("610304003003")));
        assert!(!p.may_at(Permission::ViewResidents, &code("610304003")));
        assert!(!p.may_at(Permission::ManageUsers, &code("610304003002")));
    }

    #[test]
    fn several_grants_combine_and_scopes_fold() {
        let p = principal(&[
            (Role::GridWorker, "610304003002007"),
            (Role::Leader, "610304003"),
            (Role::GridWorker, "610304001001001"),
        ]);
        assert!(p.may_at(Permission::UnmaskPersonalData, &code("610304003002007")));
        assert!(!p.may_at(Permission::UnmaskPersonalData, &code("610304003002008")));
        assert!(p.may_at(Permission::ViewResidents, &code("610304003002008")), "as leader of the street");
        assert_eq!(p.scopes(Permission::ViewResidents), vec![code("610304003"), code("610304001001001")]);
    }

    #[test]
    fn administration_and_audit_are_kept_apart() {
        assert!(!Role::Admin.has(Permission::ReadAudit));
        assert!(!Role::Admin.has(Permission::UnmaskPersonalData));
        assert_eq!(Role::Auditor.permissions(), &[Permission::ReadAudit]);
        assert!(Role::ALL.iter().filter(|r| **r != Role::Auditor).all(|r| r.has(Permission::ViewOrg)));
    }

    #[test]
    fn granting_needs_scope_and_no_escalation() {
        let street = principal(&[(Role::StreetStaff, "610304003")]);
        let grant = |role, s: &str| Grant { role, scope: code(s) };
        assert!(street.may_grant(&grant(Role::GridWorker, "610304003002007")));
        assert!(street.may_grant(&grant(Role::StreetStaff, "610304003002")));
        assert!(!street.may_grant(&grant(Role::GridWorker, "610304001001001")), "outside the street");
        assert!(!street.may_grant(&grant(Role::Auditor, "610304003")), "a power street staff lack");
        assert!(!street.may_grant(&grant(Role::Admin, "610304003")));
        let admin = principal(&[(Role::Admin, "610304")]);
        assert!(admin.may_grant(&grant(Role::Auditor, "610304")));
        assert!(!principal(&[(Role::Operator, "610304")]).may_grant(&grant(Role::Resident, "610304")));
    }

    #[test]
    fn password_rules() {
        assert_eq!(check_password("li", "short1A"), Err(PasswordError::TooShort(12)));
        assert_eq!(check_password("li", "alllowercaseletters"), Err(PasswordError::TooSimple));
        assert_eq!(check_password("wangfang", "Wangfang-2026!"), Err(PasswordError::ContainsUsername));
        assert_eq!(check_password("li", "demo-password-2026"), Ok(()));
        assert_eq!(check_password("li", "网格治理-安全口令-2026"), Ok(()));
    }

    #[test]
    fn look_alike_usernames_are_refused() {
        assert_eq!(normalise_username(" Demo-Admin "), Ok("demo-admin".into()));
        assert!(normalise_username("demo-аdmin").is_err(), "Cyrillic а");
        assert!(normalise_username("ｄemo").is_err(), "full-width d");
        assert!(normalise_username("ab").is_err());
        assert!(normalise_username("1abc").is_err());
        assert!(normalise_username("a'; DROP TABLE users;--").is_err());
    }

    #[test]
    fn lockout_backs_off() {
        assert_eq!((0..5).map(lockout_seconds).sum::<u64>(), 0);
        assert_eq!(lockout_seconds(5), 60);
        assert_eq!(lockout_seconds(6), 120);
        assert_eq!(lockout_seconds(40), 86_400);
    }

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::from_str(r.as_str()), Ok(*r));
        }
    }
}
