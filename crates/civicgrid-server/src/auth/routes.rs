//! Every route the server answers, with the access it needs. The authorising
//! middleware refuses a matched route that is missing here, and a test fails
//! on any `.route(` in the source whose path and method are not declared.

use civicgrid_domain::Permission;

/// What a route needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (rate-limited per client).
    Public,
    /// Any signed-in user (their own account and tokens).
    Signed,
    /// A signed-in user holding this permission over some scope; the handler
    /// checks the scope of the object it touches.
    Need(Permission),
}

/// How to answer a caller who may not: JSON for the API, pages redirect to
/// the sign-in page or show a localised error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Api,
    Page,
    /// Open311 GeoReport v2, with its own error format.
    Open311,
}

#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub kind: Kind,
}

const fn api(method: &'static str, path: &'static str, access: Access) -> RouteSpec {
    RouteSpec { method, path, access, kind: Kind::Api }
}

/// Open311 GeoReport v2: public and rate-limited; posting takes an `api_key`,
/// checked by the handler as the specification asks.
const fn open311(method: &'static str, path: &'static str) -> RouteSpec {
    RouteSpec { method, path, access: Public, kind: Kind::Open311 }
}

const fn page(method: &'static str, path: &'static str, access: Access) -> RouteSpec {
    RouteSpec { method, path, access, kind: Kind::Page }
}

use Access::{Need, Public, Signed};
use Permission::*;

pub const ROUTES: &[RouteSpec] = &[
    api("GET", "/healthz", Public),
    api("GET", "/api/v1/openapi.json", Public),
    api("POST", "/api/v1/session", Public),
    api("DELETE", "/api/v1/session", Signed),
    api("GET", "/api/v1/me", Signed),
    api("PUT", "/api/v1/me/password", Signed),
    api("GET", "/api/v1/tokens", Signed),
    api("POST", "/api/v1/tokens", Signed),
    api("DELETE", "/api/v1/tokens/{id}", Signed),
    api("GET", "/api/v1/users", Need(ManageUsers)),
    api("POST", "/api/v1/users", Need(ManageUsers)),
    api("PUT", "/api/v1/users/{id}/grants", Need(ManageUsers)),
    api("GET", "/api/v1/audit", Need(ReadAudit)),
    api("GET", "/api/v1/stats", Need(ViewOrg)),
    api("GET", "/api/v1/units", Need(ViewOrg)),
    api("GET", "/api/v1/units/{code}", Need(ViewOrg)),
    api("GET", "/api/v1/units/{code}/history", Need(ViewOrg)),
    api("GET", "/api/v1/communities", Need(ViewOrg)),
    api("GET", "/api/v1/grids", Need(ViewOrg)),
    api("GET", "/api/v1/locate", Need(ViewOrg)),
    api("GET", "/api/v1/compounds", Need(ViewOrg)),
    api("GET", "/api/v1/facilities", Need(ViewOrg)),
    api("POST", "/api/v1/facilities", Need(ManageFacilities)),
    api("GET", "/api/v1/cameras", Need(ViewCameras)),
    api("GET", "/api/v1/party-branches", Need(ViewOrg)),
    api("GET", "/api/v1/people", Need(ViewPeople)),
    api("GET", "/api/v1/residents", Need(ViewResidents)),
    api("GET", "/api/v1/residents/{id}", Need(ViewResidents)),
    api("POST", "/api/v1/residents/{id}/unmask", Need(UnmaskPersonalData)),
    api("GET", "/api/v1/case-categories", Signed),
    api("GET", "/api/v1/cases", Need(ViewCases)),
    api("POST", "/api/v1/cases", Need(ReportCases)),
    api("GET", "/api/v1/cases/mine", Signed),
    api("GET", "/api/v1/cases/open", Need(ViewCases)),
    api("GET", "/api/v1/cases/{id}", Signed),
    api("POST", "/api/v1/cases/{id}/events", Signed),
    // Each event only to those who may see its case; the handler decides.
    api("GET", "/api/v1/events", Signed),
    api("GET", "/api/v1/responders", Need(DispatchCalls)),
    api("GET", "/api/v1/responders/me", Need(RespondToCalls)),
    api("PUT", "/api/v1/responders/me/duty", Need(RespondToCalls)),
    // One's own position, or a feed's for responders in its dispatch scope; the handler decides.
    api("POST", "/api/v1/responders/locations", Signed),
    api("GET", "/api/v1/calls", Need(DispatchCalls)),
    api("POST", "/api/v1/calls", Need(ReportCases)),
    // The caller, the responders offered it, or the command centre over its grid.
    api("GET", "/api/v1/calls/{id}", Signed),
    // A responder for themselves, or a feed for its responders; the handler decides.
    api("POST", "/api/v1/calls/{id}/answer", Signed),
    api("POST", "/api/v1/calls/{id}/progress", Signed),
    api("PUT", "/api/v1/responders/{id}/duty", Need(DispatchCalls)),
    api("POST", "/api/v1/calls/{id}/assign", Need(DispatchCalls)),
    api("POST", "/api/v1/calls/{id}/callback", Need(DispatchCalls)),
    api("POST", "/api/v1/calls/{id}/escalate", Need(DispatchCalls)),
    api("GET", "/api/v1/call-devices", Need(ManageCallDevices)),
    // Staff within their scope, or a resident their own home; the handler decides.
    api("POST", "/api/v1/call-devices", Need(ReportCases)),
    api("GET", "/api/v1/call-devices/mine", Need(ReportCases)),
    api("DELETE", "/api/v1/call-devices/{code}", Need(ReportCases)),
    api("GET", "/api/v1/access/units", Need(ViewOrg)),
    api("GET", "/api/v1/access/map", Need(ViewOrg)),
    api("GET", "/api/v1/access/compounds", Need(ViewOrg)),
    api("GET", "/api/v1/access/compounds/{code}", Need(ViewOrg)),
    api("POST", "/api/v1/access/proposals", Need(ViewOrg)),
    api("POST", "/api/v1/access/what-if", Need(ViewOrg)),
    api("POST", "/api/v1/access/refresh", Need(ManageFacilities)),
    api("GET", "/api/v1/kpis", Need(ViewCases)),
    api("POST", "/api/v1/attachments", Need(ReportCases)),
    api("GET", "/api/v1/attachments/{id}/{variant}", Signed),
    open311("GET", "/open311/v2/{file}"),
    open311("POST", "/open311/v2/{file}"),
    open311("GET", "/open311/v2/services/{file}"),
    open311("GET", "/open311/v2/requests/{file}"),
    open311("GET", "/open311/v2/tokens/{file}"),
    page("GET", "/", Signed),
    page("GET", "/units/{code}", Need(ViewOrg)),
    page("GET", "/locate", Need(ViewOrg)),
    page("GET", "/assets/{*path}", Public),
    page("GET", "/login", Public),
    page("POST", "/login", Public),
    page("POST", "/logout", Signed),
    page("GET", "/account", Signed),
    page("POST", "/account/password", Signed),
    page("POST", "/account/tokens", Signed),
    page("POST", "/account/tokens/{id}/revoke", Signed),
    page("GET", "/users", Need(ManageUsers)),
    page("POST", "/users", Need(ManageUsers)),
    page("GET", "/audit", Need(ReadAudit)),
    page("GET", "/report", Need(ReportCases)),
    page("GET", "/cases", Need(ViewCases)),
    page("GET", "/cases/mine", Signed),
    page("GET", "/cases/map", Need(ViewCases)),
    page("GET", "/access", Need(ViewOrg)),
    page("GET", "/access/compounds/{code}", Need(ViewOrg)),
    page("GET", "/cases/kpis", Need(ViewCases)),
    page("GET", "/cases/{id}", Signed),
    page("GET", "/command", Need(DispatchCalls)),
    page("GET", "/responder", Need(RespondToCalls)),
    page("GET", "/call", Need(ReportCases)),
];

/// The declaration of a matched route; HEAD is answered as GET.
pub fn spec_for(method: &str, path: &str) -> Option<&'static RouteSpec> {
    let method = if method == "HEAD" { "GET" } else { method };
    ROUTES.iter().find(|r| r.method == method && r.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.route("PATH", get(..).post(..))` written in the server's source
    /// must be declared above with its access, and every declaration routed.
    #[test]
    fn every_route_in_the_source_declares_its_access() {
        let sources = [include_str!("../api/mod.rs"), include_str!("../web/mod.rs")];
        let mut routed = Vec::new();
        for src in sources {
            for chunk in src.split(".route(").skip(1) {
                // rustfmt may break a long route over lines: the path is the
                // first string, the call runs until the function's closing brace.
                let Some(rest) = chunk.trim_start().strip_prefix('"') else { continue };
                let (path, rest) = rest.split_once('"').unwrap_or(("", ""));
                let call: String = rest.lines().take_while(|l| !l.trim_start().starts_with('}')).collect();
                for (word, method) in [("get(", "GET"), ("post(", "POST"), ("put(", "PUT"), ("delete(", "DELETE")] {
                    if call.contains(word) {
                        routed.push((method, path.to_owned()));
                    }
                }
            }
        }
        assert!(routed.len() > 20, "the scan found the routes: {routed:?}");
        for (method, path) in &routed {
            assert!(spec_for(method, path).is_some(), "{method} {path} is routed but declares no access in ROUTES");
        }
        for r in ROUTES {
            assert!(
                routed.iter().any(|(m, p)| *m == r.method && p == r.path),
                "{} {} is declared but not routed",
                r.method,
                r.path
            );
        }
    }
}
