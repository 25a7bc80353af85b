//! `GET /api/v1/events`: changes to cases as they happen, as Server-Sent
//! Events. Each event of a case the caller may see (the rule of
//! `GET /api/v1/cases/{id}`) becomes one SSE event `case` whose `id:` is the
//! case event's global id; a client that reconnects with `Last-Event-ID`
//! (or `?after=`) first gets what it missed, read from the store. The
//! store's feed brings the events of every node (PostgreSQL) or of this
//! process (SQLite) without telling this layer which.

use super::extract::Q;
use crate::AppState;
use crate::auth::Caller;
use crate::casework::may_see_in;
use crate::error::ApiError;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use civicgrid_store::{CaseChange, CaseFeed};
use serde::Deserialize;
use serde_json::json;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// A comment this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often a stream checks that its credentials still hold (a revoked
/// token, an ended session or a disabled account ends it; changed grants
/// apply from then on).
const RECHECK: Duration = Duration::from_secs(60);
/// Changes read from the store at a time when catching up.
const PAGE: u32 = 500;
/// At most this many changes are read to catch one stream up; past that it
/// gets a `reset` event and goes on from there.
const MAX_CATCH_UP: usize = 5000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Resume after this event id, like `Last-Event-ID` (which wins when both are sent).
    after: Option<String>,
}

/// The id to resume after: `Last-Event-ID`, else `?after=`; a non-negative integer.
fn resume_point(headers: &HeaderMap, after: Option<&str>) -> Result<Option<i64>, ApiError> {
    let given = match headers.get("last-event-id") {
        Some(v) => Some(v.to_str().map_err(|_| ApiError::bad_request("Last-Event-ID must be an event id"))?),
        None => after,
    };
    let Some(given) = given.map(str::trim).filter(|g| !g.is_empty()) else { return Ok(None) };
    match given.parse::<i64>() {
        Ok(id) if id >= 0 => Ok(Some(id)),
        _ => Err(ApiError::bad_request(format!("{given:?} is not an event id (a non-negative integer)"))),
    }
}

/// The data of one `case` event.
fn case_event(c: &CaseChange) -> Event {
    let data = json!({
        "id": c.id, "case_id": c.case_id, "number": c.number, "seq": c.seq, "kind": c.kind,
        "state": c.state, "grid": c.grid, "at": c.at,
    });
    Event::default().event("case").id(c.id.to_string()).data(data.to_string())
}

/// One open stream: the caller as last checked, the feed, and what is
/// ready to send.
struct Stream {
    state: AppState,
    caller: Caller,
    /// The credentials the stream was opened with, to check them again.
    credentials: HeaderMap,
    feed: CaseFeed,
    closing: tokio::sync::watch::Receiver<bool>,
    recheck: tokio::time::Interval,
    /// The id of the last change considered (sent or not the caller's).
    last: i64,
    ready: VecDeque<Event>,
}

impl Stream {
    /// Queues `change` if it is new and the caller may see its case.
    fn offer(&mut self, change: &CaseChange) {
        if change.id <= self.last {
            return;
        }
        self.last = change.id;
        if may_see_in(&self.caller, &change.grid, change.reporter_id) {
            self.ready.push_back(case_event(change));
        }
    }

    /// Reads the changes after `last` from the store. Past
    /// [`MAX_CATCH_UP`], or when the store cannot say, the client is told to
    /// reload (`reset`, whose id is where the stream goes on from).
    async fn catch_up(&mut self) {
        let mut read = 0;
        let why = loop {
            match self.state.store.case_changes(self.last, PAGE).await {
                Ok(page) => {
                    read += page.len();
                    for change in &page {
                        self.offer(change);
                    }
                    if page.len() < PAGE as usize {
                        return;
                    }
                    if read >= MAX_CATCH_UP {
                        break "too many events were missed to send them all; reload what you show";
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "an event stream could not read the events it missed");
                    break "events may have been missed; reload what you show";
                }
            }
        };
        let data = json!({ "reason": why }).to_string();
        self.ready.push_back(Event::default().event("reset").id(self.last.to_string()).data(data));
    }

    /// False when the stream's credentials no longer name an enabled user.
    async fn still_signed_in(&mut self) -> bool {
        let ip = self.caller.ip.clone();
        match crate::auth::caller::recheck(&self.state, &self.credentials, ip).await {
            Ok(Some(caller)) => {
                self.caller = caller;
                true
            }
            Ok(None) => false,
            // The store could not tell: keep going, check again later.
            Err(e) => {
                tracing::warn!(error = %e, "an event stream could not check its credentials");
                true
            }
        }
    }
}

/// The next thing to send, or `None` when the stream ends (the server is
/// stopping, or the caller is no longer signed in).
async fn next(mut s: Stream) -> Option<(Result<Event, Infallible>, Stream)> {
    loop {
        if *s.closing.borrow() {
            return None;
        }
        if let Some(event) = s.ready.pop_front() {
            return Some((Ok(event), s));
        }
        tokio::select! {
            changed = s.closing.changed() => {
                if changed.is_err() {
                    return None;
                }
            }
            _ = s.recheck.tick() => {
                if !s.still_signed_in().await {
                    return None;
                }
            }
            got = s.feed.recv() => match got {
                Ok(change) => s.offer(&change),
                // Fell behind: what was dropped is in the store.
                Err(RecvError::Lagged(_)) => s.catch_up().await,
                Err(RecvError::Closed) => return None,
            },
        }
    }
}

/// `GET /api/v1/events`: the stream. It opens with a `ready` comment once
/// the caller receives every change from then on.
pub async fn stream(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Q(p): Q<Params>,
) -> Result<Response, ApiError> {
    let after = resume_point(&headers, p.after.as_deref())?;
    let feed = state.store.watch_cases().await?;
    let mut credentials = HeaderMap::new();
    for name in [header::AUTHORIZATION, header::COOKIE] {
        for value in headers.get_all(&name) {
            credentials.append(name.clone(), value.clone());
        }
    }
    let start = tokio::time::Instant::now() + RECHECK;
    let mut s = Stream {
        closing: state.closing(),
        state,
        caller,
        credentials,
        feed,
        recheck: tokio::time::interval_at(start, RECHECK),
        last: 0,
        ready: VecDeque::from([Event::default().comment("ready")]),
    };
    // Without a resume point, what comes from now on: the feed holds it already.
    if let Some(after) = after {
        s.last = after;
        s.catch_up().await;
    }
    let events = futures_util::stream::unfold(s, next);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")).into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]
    use super::*;

    #[test]
    fn the_resume_point_is_a_non_negative_id() {
        let mut h = HeaderMap::new();
        assert_eq!(resume_point(&h, None).unwrap(), None);
        assert_eq!(resume_point(&h, Some("12")).unwrap(), Some(12));
        assert_eq!(resume_point(&h, Some(" ")).unwrap(), None);
        h.insert("last-event-id", "40".parse().unwrap());
        assert_eq!(resume_point(&h, Some("12")).unwrap(), Some(40), "the header wins");
        for bad in ["-1", "x", "1.5", "99999999999999999999"] {
            h.insert("last-event-id", bad.parse().unwrap());
            assert_eq!(resume_point(&h, None).unwrap_err().status, axum::http::StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
