//! Turning a template and its data into a response: the embedded templates,
//! the `t()` function and `num` filter they use, the visitor (language and
//! who is signed in) and the localised error pages.

use super::i18n::{self, Lang};
use super::nav;
use crate::auth::{Caller, Via};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use civicgrid_store::StoreError;
use minijinja::value::Kwargs;
use minijinja::{Environment, State};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::LazyLock;

/// Every template, by name; embedded so the binary needs no files beside it.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("macros.html", include_str!("../../templates/macros.html")),
    ("unit.html", include_str!("../../templates/unit.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("account.html", include_str!("../../templates/account.html")),
    ("users.html", include_str!("../../templates/users.html")),
    ("audit.html", include_str!("../../templates/audit.html")),
    ("report.html", include_str!("../../templates/report.html")),
    ("cases.html", include_str!("../../templates/cases.html")),
    ("cases_mine.html", include_str!("../../templates/cases_mine.html")),
    ("case.html", include_str!("../../templates/case.html")),
    ("cases_map.html", include_str!("../../templates/cases_map.html")),
    ("cases_kpis.html", include_str!("../../templates/cases_kpis.html")),
    ("access.html", include_str!("../../templates/access.html")),
    ("access_compound.html", include_str!("../../templates/access_compound.html")),
    ("command.html", include_str!("../../templates/command.html")),
    ("responder.html", include_str!("../../templates/responder.html")),
    ("call.html", include_str!("../../templates/call.html")),
];

static ENV: LazyLock<Environment<'static>> = LazyLock::new(environment);

pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        // A broken template is caught by the unit tests; at run time the page
        // that needs it answers 500 and the log says why.
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "template does not parse");
        }
    }
    env.add_function("t", translate);
    env.add_filter("num", thousands);
    env.add_filter("cst", |v: String| v.parse::<jiff::Timestamp>().map_or(v, china_time));
    env
}

/// A moment as people in China read it: China Standard Time (UTC+8, no
/// daylight saving), to the second. Pages say "UTC+8" where they show these.
pub fn china_time(t: jiff::Timestamp) -> String {
    jiff::tz::offset(8).to_datetime(t).strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// `t("key", name=value…)`: the text of `key` in the page's language.
fn translate(state: &State, key: &str, args: Kwargs) -> Result<String, minijinja::Error> {
    let lang = state.lookup("lang").and_then(|v| v.as_str().and_then(Lang::from_tag)).unwrap_or(Lang::ZhCn);
    let mut filled = Vec::new();
    for name in args.args() {
        let v: minijinja::Value = args.get(name)?;
        filled.push((name, v.to_string()));
    }
    Ok(i18n::text(lang, key, &filled))
}

/// `1148 | num` → `1,148`; both languages group digits by three.
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Who is asking, as far as pages care: their language and, once signed in,
/// the caller the access middleware found.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub lang: Lang,
    /// The language came from `?lang=` and should be remembered.
    remember: bool,
    pub caller: Option<Caller>,
    path: String,
    /// A message key from `?flash=`, shown once after a form was sent.
    flash: Option<String>,
}

fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
}

pub(super) fn query_param<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.uri.query()?.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Visitor::of(parts))
    }
}

impl Visitor {
    pub fn of(parts: &Parts) -> Self {
        let accept = parts.headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        let (lang, remember) = i18n::negotiate(query_param(parts, "lang"), cookie(parts, "lang"), accept);
        let caller = parts.extensions.get::<Caller>().cloned();
        // Only keys of the catalogue under `flash.`: never text from the URL.
        let flash = query_param(parts, "flash")
            .filter(|k| k.starts_with("flash.") && i18n::catalogue(lang).contains_key(*k))
            .map(str::to_owned);
        Visitor { lang, remember, caller, path: parts.uri.path().to_owned(), flash }
    }

    /// The CSRF token forms and scripts of a signed-in page send back.
    pub fn csrf(&self) -> Option<&str> {
        match &self.caller {
            Some(Caller { via: Via::Session { csrf, .. }, .. }) => Some(csrf),
            _ => None,
        }
    }

    pub fn text(&self, key: &str) -> String {
        i18n::text(self.lang, key, &[])
    }

    /// Renders `template` with `page` (a JSON object) plus what every page shows.
    pub fn render(&self, status: StatusCode, template: &str, page: Value, shell: &Shell) -> Response {
        let mut ctx = match page {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        ctx.insert("lang".into(), json!(self.lang.tag()));
        ctx.insert("langs".into(), json!(Lang::ALL.map(|l| json!({ "tag": l.tag(), "current": l == self.lang }))));
        ctx.insert("messages".into(), json!(i18n::catalogue(self.lang)));
        let principal = self.caller.as_ref().map(|c| &c.principal);
        ctx.insert("nav".into(), json!(nav::menu(principal, &self.path)));
        if let Some(c) = &self.caller {
            ctx.insert("user".into(), json!({ "display_name": c.display_name, "username": c.principal.username }));
        }
        if let Some(csrf) = self.csrf() {
            ctx.entry("csrf").or_insert_with(|| json!(csrf));
        }
        if let Some(flash) = &self.flash {
            ctx.entry("flash").or_insert_with(|| json!(flash));
        }
        ctx.insert("here".into(), json!(self.path));
        ctx.insert("demo".into(), json!(shell.demo));
        ctx.insert("tiles".into(), json!(shell.tiles));
        ctx.insert("asset_version".into(), json!(super::assets::VERSION));
        let html = ENV.get_template(template).and_then(|t| t.render(Value::Object(ctx)));
        let mut response = match html {
            Ok(html) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
            Err(e) => {
                tracing::error!(template, error = %e, "page did not render");
                let text = format!("{}: {}", self.text("error.500.title"), self.text("error.500.text"));
                (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text)
                    .into_response()
            }
        };
        let headers = response.headers_mut();
        // The same URL answers in either language.
        headers.insert(header::VARY, HeaderValue::from_static("Cookie, Accept-Language"));
        if self.caller.is_some() {
            // Signed-in pages may hold personal data: never into a shared or disk cache.
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        if self.remember {
            let c = format!("lang={}; Path=/; Max-Age=31536000; SameSite=Lax", self.lang.tag());
            if let Ok(v) = HeaderValue::from_str(&c) {
                headers.append(header::SET_COOKIE, v);
            }
        }
        response
    }

    pub fn error(&self, e: PageError, shell: &Shell) -> Response {
        let page = json!({ "status": e.status.as_u16(), "text_key": e.key, "detail": e.detail });
        self.render(e.status, "error.html", page, shell)
    }
}

/// What the page frame shows besides the page itself.
#[derive(Debug, Default)]
pub struct Shell {
    /// The store holds the synthetic demo district.
    pub demo: bool,
    pub tiles: Option<String>,
}

/// Why a page could not be shown: a status, the message key explaining it to
/// the visitor, and a technical detail where one helps.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub key: &'static str,
    pub detail: Option<String>,
}

impl PageError {
    pub fn bad_code(detail: String) -> Self {
        PageError { status: StatusCode::BAD_REQUEST, key: "error.400.text", detail: Some(detail) }
    }

    pub fn bad_period(detail: String) -> Self {
        PageError { status: StatusCode::BAD_REQUEST, key: "error.400.period", detail: Some(detail) }
    }

    pub fn no_unit() -> Self {
        PageError { status: StatusCode::NOT_FOUND, key: "error.404.text", detail: None }
    }

    pub fn no_page() -> Self {
        PageError { status: StatusCode::NOT_FOUND, key: "error.404.page", detail: None }
    }

    pub fn refused(status: StatusCode) -> Self {
        let key = if status == StatusCode::TOO_MANY_REQUESTS { "error.429.text" } else { "error.403.text" };
        PageError { status, key, detail: None }
    }

    pub fn bad_point(detail: String) -> Self {
        PageError { status: StatusCode::BAD_REQUEST, key: "error.locate.text", detail: Some(detail) }
    }

    pub fn outside() -> Self {
        PageError { status: StatusCode::NOT_FOUND, key: "error.locate.outside", detail: None }
    }

    pub fn forbidden() -> Self {
        PageError::refused(StatusCode::FORBIDDEN)
    }

    pub fn internal() -> Self {
        PageError { status: StatusCode::INTERNAL_SERVER_ERROR, key: "error.500.text", detail: None }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => PageError::no_unit(),
            other => {
                tracing::error!(error = %other, "storage failed while rendering a page");
                PageError::internal()
            }
        }
    }
}

/// An API answer turned into a page: the unit a page is about resolved by
/// `api::scope` (bad code 400, not allowed 403, outside the scope 404), or a
/// failure below, logged.
impl From<crate::error::ApiError> for PageError {
    fn from(e: crate::error::ApiError) -> Self {
        match e.status {
            StatusCode::BAD_REQUEST => PageError::bad_code(e.message),
            StatusCode::FORBIDDEN => PageError::forbidden(),
            StatusCode::NOT_FOUND => PageError::no_unit(),
            _ => {
                tracing::error!(error = %e.message, "a page failed");
                PageError::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_shown_in_china_standard_time() {
        let t: jiff::Timestamp = "2026-11-26T17:30:05Z".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(super::china_time(t), "2026-11-27 01:30:05");
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(1148), "1,148");
        assert_eq!(super::thousands(-1234567), "-1,234,567");
        assert_eq!(super::thousands(999), "999");
    }
}
