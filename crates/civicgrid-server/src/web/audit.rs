//! The audit log for auditors: a filter form and a paged table, newest
//! first, times in China Standard Time.

use super::pages::shell;
use super::render::{PageError, Visitor};
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use civicgrid_domain::{Level, Permission};
use civicgrid_store::AuditQuery;
use jiff::Timestamp;
use jiff::civil::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::json;

const PER_PAGE: u32 = 50;

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct AuditFilter {
    #[serde(skip_serializing_if = "String::is_empty")]
    actor: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    action: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    target: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    since: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    until: String,
    #[serde(skip_serializing)]
    page: String,
}

/// A time typed into the form: `2026-11-26T09:30` or `2026-11-26` in China
/// Standard Time (what `datetime-local` and `date` inputs send), or RFC 3339.
fn parse_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    let civil = s
        .parse::<DateTime>()
        .ok()
        .or_else(|| s.parse::<jiff::civil::Date>().ok().map(|d| d.to_datetime(jiff::civil::time(0, 0, 0, 0))))?;
    jiff::tz::offset(8).to_timestamp(civil).ok()
}

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn href(filter: &AuditFilter, page: u32) -> String {
    let query = serde_urlencoded::to_string(filter).unwrap_or_default();
    let sep = if query.is_empty() { "" } else { "&" };
    format!("/audit?{query}{sep}page={page}")
}

/// `GET /audit?actor=&action=&target=&since=&until=&page=`. The log spans the
/// whole installation, so it takes the auditor role over a whole district.
pub async fn show(State(state): State<AppState>, visitor: Visitor, Query(filter): Query<AuditFilter>) -> Response {
    let shell = shell(&state).await;
    let page = async {
        let me = visitor.caller.as_ref().ok_or_else(PageError::forbidden)?;
        if !me.principal.scopes(Permission::ReadAudit).iter().any(|s| s.level() == Level::District) {
            return Err(PageError::forbidden());
        }
        let page_no: u32 = filter.page.parse().unwrap_or(0);
        let mut bad_times = Vec::new();
        let mut time = |name: &'static str, v: &str| {
            let v = v.trim();
            if v.is_empty() {
                return None;
            }
            let t = parse_time(v);
            if t.is_none() {
                bad_times.push(name);
            }
            t
        };
        let q = AuditQuery {
            actor: some(&filter.actor),
            action: some(&filter.action),
            target: some(&filter.target),
            since: time("since", &filter.since),
            until: time("until", &filter.until),
            limit: PER_PAGE,
            offset: page_no.saturating_mul(PER_PAGE),
        };
        let found = state.store.audit_log(&q).await?;
        let entries: Vec<_> = found
            .items
            .iter()
            .map(|e| {
                let detail =
                    if e.detail.is_null() || e.detail == json!({}) { String::new() } else { e.detail.to_string() };
                json!({
                    "seq": e.seq,
                    "at": super::render::china_time(e.at),
                    "actor": e.actor,
                    "ip": e.ip,
                    "action": e.action,
                    "target": e.target,
                    "reason": e.reason,
                    "detail": detail,
                    "hash": e.hash.get(..12).unwrap_or(&e.hash),
                })
            })
            .collect();
        let total = u64::try_from(found.total).unwrap_or(0);
        let pages = total.div_ceil(u64::from(PER_PAGE)).max(1);
        Ok(json!({
            "filter": filter,
            "bad_times": bad_times,
            "entries": entries,
            "total": found.total,
            "page": page_no,
            "pages": pages,
            "prev_href": page_no.checked_sub(1).map(|p| href(&filter, p)),
            "next_href": (u64::from(page_no) + 1 < pages).then(|| href(&filter, page_no + 1)),
        }))
    }
    .await;
    super::pages::respond_with(&visitor, &shell, StatusCode::OK, "audit.html", page)
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_typed_in_the_form_are_china_standard_time() {
        let t = |s: &str| parse_time(s).map(|t| t.to_string());
        assert_eq!(t("2026-11-26T09:30").as_deref(), Some("2026-11-26T01:30:00Z"));
        assert_eq!(t("2026-11-26").as_deref(), Some("2026-11-25T16:00:00Z"));
        assert_eq!(t("2026-11-26T09:30:00Z").as_deref(), Some("2026-11-26T09:30:00Z"));
        assert_eq!(t("yesterday"), None);
    }
}
