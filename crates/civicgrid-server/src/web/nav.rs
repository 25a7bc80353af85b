//! The navigation, declared as data: each entry names its text, its target and
//! the roles that see it. Who the visitor is is decided in one place,
//! [`visitor_roles`], so sessions can take over later.

use axum::http::request::Parts;
use serde::Serialize;

/// What a visitor may do; accounts arrive in a later release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Operator,
    GridWorker,
    Resident,
}

#[derive(Debug)]
pub struct NavEntry {
    /// Message key of the label.
    pub key: &'static str,
    pub href: &'static str,
    pub roles: &'static [Role],
}

pub const NAV: &[NavEntry] = &[
    NavEntry { key: "nav.overview", href: "/", roles: &[Role::Operator, Role::GridWorker, Role::Resident] },
    NavEntry { key: "nav.map", href: "/#map", roles: &[Role::Operator, Role::GridWorker] },
    NavEntry { key: "nav.communities", href: "/#communities", roles: &[Role::Operator] },
    NavEntry { key: "nav.locate", href: "/#locate", roles: &[Role::Operator, Role::GridWorker, Role::Resident] },
    NavEntry { key: "nav.api", href: "/api/v1/openapi.json", roles: &[Role::Operator] },
];

/// The roles of whoever sent the request. Until there are accounts every
/// visitor is a command-centre operator.
pub fn visitor_roles(_request: &Parts) -> Vec<Role> {
    vec![Role::Operator]
}

/// The one rule deciding whether a visitor sees an entry.
pub fn may_see(entry: &NavEntry, roles: &[Role]) -> bool {
    entry.roles.iter().any(|r| roles.contains(r))
}

#[derive(Debug, Serialize)]
pub struct NavItem {
    pub key: &'static str,
    pub href: &'static str,
    pub current: bool,
}

/// The entries `roles` see, marking the one for `path`.
pub fn menu(roles: &[Role], path: &str) -> Vec<NavItem> {
    NAV.iter()
        .filter(|e| may_see(e, roles))
        .map(|e| NavItem { key: e.key, href: e.href, current: e.href == path })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residents_do_not_see_the_operator_entries() {
        let keys: Vec<&str> = menu(&[Role::Resident], "/").iter().map(|i| i.key).collect();
        assert_eq!(keys, ["nav.overview", "nav.locate"]);
        assert!(menu(&[Role::Operator], "/").iter().any(|i| i.key == "nav.api" && !i.current));
    }
}
