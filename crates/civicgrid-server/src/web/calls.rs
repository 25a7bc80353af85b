//! The one-click call pages (一键呼叫): the command centre's live wall (calls,
//! responders and cameras on one map, the selected call's offers, timeline and
//! take-over), the responder's phone page (duty, position, offers, steps) and
//! the caller's one big button (with their registered address, where a call
//! without a position goes).
//!
//! The handlers only frame the pages: which unit the command centre watches,
//! which boundaries its map draws, and the API addresses `assets/calls.js`
//! reads. Everything live — calls, offers, positions — comes from the JSON
//! API and its event stream, so the pages never reload.

use super::cases::{Names, pairs};
use super::pages::{respond_with, shell};
use super::render::{PageError, Visitor};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use civicgrid_domain::{CallKind, CallState, DeviceKind, Level, Permission, Team, UnitCode};
use serde_json::{Value, json};

/// The kind a call has when the caller picks none.
const DEFAULT_KIND: CallKind = CallKind::Other;

/// The boundaries beneath the command centre's calls: every grid of the
/// unit, with the communities drawn over them and named where there are several.
fn boundaries(within: &UnitCode) -> Vec<Value> {
    match within.level() {
        Level::Grid => {
            vec![json!({ "url": format!("/api/v1/grids?within={within}"), "kind": "outline", "interactive": false })]
        }
        Level::Community => vec![
            json!({ "url": format!("/api/v1/communities?within={within}"), "kind": "outline", "interactive": false }),
            json!({ "url": format!("/api/v1/grids?community={within}"), "kind": "grid", "interactive": false }),
        ],
        _ => vec![
            json!({ "url": format!("/api/v1/grids?within={within}"), "kind": "grid", "interactive": false }),
            json!({ "url": format!("/api/v1/communities?within={within}"), "kind": "community", "interactive": false, "labels": true }),
        ],
    }
}

/// `GET /command?unit=`: the command centre (指挥中心大屏) over the caller's
/// widest dispatch scope, or a unit within it.
pub async fn command(State(state): State<AppState>, visitor: Visitor, RawQuery(q): RawQuery) -> Response {
    let shell = shell(&state).await;
    let page = async {
        let me = visitor.caller.as_ref().ok_or_else(PageError::forbidden)?;
        let params = pairs(q.as_deref());
        let named = params.iter().find(|(k, _)| k == "unit").map(|(_, v)| v.as_str());
        let within = crate::api::scope(&state, me, Permission::DispatchCalls, named).await?;
        let mut names = Names::default();
        let live = json!({
            "scope": within,
            "calls": format!("/api/v1/calls?open=true&within={within}"),
            "call": "/api/v1/calls/",
            "case": "/api/v1/cases/",
            "responders": format!("/api/v1/responders?within={within}&on_duty=true"),
            "events": "/api/v1/events",
            "cameras": me.principal.may(Permission::ViewCameras).then_some("/api/v1/cameras"),
            "poll_ms": 2000,
            "call_states": CallState::ALL,
        });
        Ok(json!({
            "wall": true,
            "scope": { "code": within, "name": names.of(&state, within.as_str()).await },
            "live": live,
            "teams": Team::ALL,
            "map": { "layers": boundaries(&within) },
        }))
    }
    .await;
    respond_with(&visitor, &shell, StatusCode::OK, "command.html", page)
}

/// `GET /responder`: the responder's phone page.
pub async fn responder(State(state): State<AppState>, visitor: Visitor) -> Response {
    let shell = shell(&state).await;
    let live = json!({
        "me": "/api/v1/responders/me",
        "duty": "/api/v1/responders/me/duty",
        "locations": "/api/v1/responders/locations",
        "call": "/api/v1/calls/",
        "attachments": state.attachments.is_some().then_some("/api/v1/attachments"),
        "poll_ms": 1000,
        "send_every_ms": 5000,
    });
    let page = json!({ "live": live, "photos": state.attachments.is_some() });
    respond_with(&visitor, &shell, StatusCode::OK, "responder.html", Ok(page))
}

/// `GET /call`: the caller's page, one button.
pub async fn caller(State(state): State<AppState>, visitor: Visitor) -> Response {
    let shell = shell(&state).await;
    let live = json!({
        "calls": "/api/v1/calls",
        "call": "/api/v1/calls/",
        "events": "/api/v1/events",
        "poll_ms": 2000,
    });
    let page = async {
        // The registered address a call without a position goes to.
        let home = match &visitor.caller {
            Some(me) => state.store.call_devices_of_user(me.principal.user_id).await?,
            None => Vec::new(),
        };
        let home = home.into_iter().find(|d| d.kind == DeviceKind::Home.as_str()).map(|d| d.address);
        let mut live = live;
        live["home"] = json!(home);
        Ok::<_, PageError>(json!({ "live": live, "kinds": CallKind::ALL, "default_kind": DEFAULT_KIND, "home": home }))
    }
    .await;
    respond_with(&visitor, &shell, StatusCode::OK, "call.html", page)
}
