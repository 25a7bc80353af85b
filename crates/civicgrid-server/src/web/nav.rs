//! The navigation, declared as data: each entry names its text, its target and
//! what the caller needs to see it. Whether a caller may see an entry is
//! decided in one place, [`may_see`], from the permissions of their grants.

use civicgrid_domain::{Permission, Principal};
use serde::Serialize;

/// What an entry asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Any signed-in user.
    SignedIn,
    /// A signed-in user holding the permission over some scope.
    Permission(Permission),
}

#[derive(Debug)]
pub struct NavEntry {
    /// Message key of the label.
    pub key: &'static str,
    pub href: &'static str,
    pub needs: Needs,
}

use Needs::SignedIn;
use Permission::{DispatchCalls, ManageUsers, ReadAudit, ReportCases, RespondToCalls, ViewCases, ViewOrg};

const fn needs(p: Permission) -> Needs {
    Needs::Permission(p)
}

pub const NAV: &[NavEntry] = &[
    NavEntry { key: "nav.overview", href: "/", needs: needs(ViewOrg) },
    NavEntry { key: "nav.map", href: "/#map", needs: needs(ViewOrg) },
    NavEntry { key: "nav.communities", href: "/#communities", needs: needs(ViewOrg) },
    NavEntry { key: "nav.locate", href: "/#locate", needs: needs(ViewOrg) },
    NavEntry { key: "nav.access", href: "/access", needs: needs(ViewOrg) },
    NavEntry { key: "nav.cases", href: "/cases", needs: needs(ViewCases) },
    NavEntry { key: "nav.case_map", href: "/cases/map", needs: needs(ViewCases) },
    NavEntry { key: "nav.kpis", href: "/cases/kpis", needs: needs(ViewCases) },
    NavEntry { key: "nav.command", href: "/command", needs: needs(DispatchCalls) },
    NavEntry { key: "nav.report", href: "/report", needs: needs(ReportCases) },
    NavEntry { key: "nav.call", href: "/call", needs: needs(ReportCases) },
    NavEntry { key: "nav.responder", href: "/responder", needs: needs(RespondToCalls) },
    NavEntry { key: "nav.my_cases", href: "/cases/mine", needs: SignedIn },
    NavEntry { key: "nav.users", href: "/users", needs: needs(ManageUsers) },
    NavEntry { key: "nav.audit", href: "/audit", needs: needs(ReadAudit) },
    NavEntry { key: "nav.account", href: "/account", needs: SignedIn },
    NavEntry { key: "nav.api", href: "/api/v1/openapi.json", needs: needs(ViewOrg) },
];

/// The one rule deciding whether a caller sees an entry; anonymous visitors see none.
pub fn may_see(entry: &NavEntry, principal: Option<&Principal>) -> bool {
    match (entry.needs, principal) {
        (_, None) => false,
        (SignedIn, Some(_)) => true,
        (Needs::Permission(p), Some(who)) => who.may(p),
    }
}

#[derive(Debug, Serialize)]
pub struct NavItem {
    pub key: &'static str,
    pub href: &'static str,
    pub current: bool,
}

/// The entries `principal` sees, marking the one for `path`.
pub fn menu(principal: Option<&Principal>, path: &str) -> Vec<NavItem> {
    NAV.iter()
        .filter(|e| may_see(e, principal))
        .map(|e| NavItem { key: e.key, href: e.href, current: e.href == path })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use civicgrid_domain::{Grant, Role, UnitCode};

    fn principal(role: Role, scope: &str) -> Principal {
        let scope = UnitCode::parse(scope).unwrap_or_else(|e| panic!("{e}"));
        Principal { user_id: 1, username: "u".into(), grants: vec![Grant { role, scope }] }
    }

    fn keys(p: Option<&Principal>) -> Vec<&'static str> {
        menu(p, "/").iter().map(|i| i.key).collect()
    }

    #[test]
    fn each_role_sees_the_entries_its_permissions_allow() {
        let all_but =
            |skip: &[&str]| -> Vec<&'static str> { NAV.iter().map(|e| e.key).filter(|k| !skip.contains(k)).collect() };
        assert_eq!(keys(None), Vec::<&str>::new(), "anonymous visitors see nothing");
        assert_eq!(
            keys(Some(&principal(Role::Admin, "610304"))),
            all_but(&["nav.audit", "nav.report", "nav.call", "nav.command", "nav.responder"])
        );
        assert_eq!(
            keys(Some(&principal(Role::GridWorker, "610304003002001"))),
            all_but(&["nav.users", "nav.audit", "nav.command"])
        );
        assert_eq!(keys(Some(&principal(Role::Auditor, "610304"))), ["nav.my_cases", "nav.audit", "nav.account"]);
        assert_eq!(
            keys(Some(&principal(Role::Resident, "610304003002"))),
            [
                "nav.overview",
                "nav.map",
                "nav.communities",
                "nav.locate",
                "nav.access",
                "nav.report",
                "nav.call",
                "nav.my_cases",
                "nav.account",
                "nav.api"
            ]
        );
        assert_eq!(
            keys(Some(&principal(Role::Responder, "610304003002"))),
            ["nav.overview", "nav.map", "nav.communities", "nav.locate", "nav.access"]
                .into_iter()
                .chain(["nav.report", "nav.call", "nav.responder", "nav.my_cases", "nav.account", "nav.api"])
                .collect::<Vec<_>>()
        );
        assert!(
            menu(Some(&principal(Role::Operator, "610304")), "/account")
                .iter()
                .any(|i| i.key == "nav.account" && i.current)
        );
    }
}
