//! Signing in and out of the pages. A session is a random secret in the
//! `cg_session` cookie; the store keeps only its SHA-256 and the session's
//! CSRF token. Before sign-in the form's CSRF token is double-submitted: the
//! same random value in the `cg_csrf` cookie and in the form.

use super::render::{PageError, Visitor};
use crate::AppState;
use crate::auth::{self, Caller, SignInError, Via};
use axum::extract::{ConnectInfo, Extension, Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use civicgrid_store::SessionRecord;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;

/// Where to go after signing in: a path on this site, never another host
/// (`//evil.example` and `/\evil.example` are other hosts to a browser).
fn local(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

/// The request came over TLS through a proxy, so cookies may demand it.
fn over_tls(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn cookie_header(value: String) -> Option<HeaderValue> {
    HeaderValue::from_str(&value).ok()
}

fn session_cookie(secret: &str, tls: bool) -> Option<HeaderValue> {
    let max_age = auth::SESSION_HOURS * 3600;
    let secure = if tls { "; Secure" } else { "" };
    cookie_header(format!(
        "{}={secret}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}",
        auth::SESSION_COOKIE
    ))
}

fn expired(name: &str, tls: bool) -> Option<HeaderValue> {
    let secure = if tls { "; Secure" } else { "" };
    cookie_header(format!("{name}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0{secure}"))
}

/// Starts a session for `user_id` and returns the cookie that carries it.
pub(super) async fn start_session(
    state: &AppState,
    user_id: i64,
    headers: &HeaderMap,
) -> Result<Option<HeaderValue>, civicgrid_store::StoreError> {
    let secret = auth::new_secret();
    let expires_at =
        Timestamp::now().saturating_add(SignedDuration::from_hours(auth::SESSION_HOURS)).unwrap_or(Timestamp::MAX);
    let record =
        SessionRecord { id_hash: auth::sha256_hex(&secret), user_id, csrf_token: auth::new_secret(), expires_at };
    state.store.create_session(&record).await?;
    Ok(session_cookie(&secret, over_tls(headers)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginQuery {
    next: Option<String>,
}

/// The CSRF token of a visitor without a session: the one their `cg_csrf`
/// cookie already holds (so two open tabs both work), or a new one.
fn pre_session_csrf(headers: &HeaderMap) -> (String, bool) {
    match auth::caller::cookie(headers, auth::CSRF_COOKIE) {
        Some(v) if v.len() == 43 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
            (v.to_owned(), false)
        }
        _ => (auth::new_secret(), true),
    }
}

/// Renders the sign-in form, setting the `cg_csrf` cookie the form's token matches.
fn login_page(
    visitor: &Visitor,
    headers: &HeaderMap,
    status: StatusCode,
    next: &str,
    username: &str,
    error: Option<serde_json::Value>,
) -> Response {
    let (csrf, fresh) = pre_session_csrf(headers);
    let page = json!({ "next": next, "username": username, "error": error, "csrf": csrf });
    let mut response = visitor.render(status, "login.html", page, &super::render::Shell::default());
    if fresh {
        let secure = if over_tls(headers) { "; Secure" } else { "" };
        if let Some(v) =
            cookie_header(format!("{}={csrf}; HttpOnly; SameSite=Strict; Path=/{secure}", auth::CSRF_COOKIE))
        {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /login`: the form; a signed-in visitor goes straight on.
pub async fn login_form(visitor: Visitor, headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    let next = local(q.next.as_deref()).to_owned();
    if visitor.caller.is_some() {
        return Redirect::to(&next).into_response();
    }
    login_page(&visitor, &headers, StatusCode::OK, &next, "", None)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginForm {
    username: String,
    password: String,
    next: String,
}

/// `POST /login`: checks the password with the same rules as the API
/// (lockout, auditing), then starts a session.
pub async fn login(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<LoginForm>,
) -> Response {
    let ip = client.map(|c| c.0.0.ip().to_string());
    let next = local(Some(&form.next)).to_owned();
    let user = match auth::sign_in(&state, &form.username, &form.password, ip).await {
        Ok(user) => user,
        Err(SignInError::Wrong) => {
            let error = json!({ "key": "login.wrong" });
            return login_page(&visitor, &headers, StatusCode::UNAUTHORIZED, &next, &form.username, Some(error));
        }
        Err(SignInError::Locked(until)) => {
            let error = json!({ "key": "login.locked", "until": super::render::china_time(until) });
            return login_page(&visitor, &headers, StatusCode::FORBIDDEN, &next, &form.username, Some(error));
        }
        Err(SignInError::Store(e)) => {
            tracing::error!(error = %e, "storage failed while signing in");
            return visitor.error(PageError::internal(), &super::render::Shell::default());
        }
    };
    // A session that was open in this browser ends: one browser, one signed-in user.
    if let Some(Caller { via: Via::Session { id_hash, .. }, .. }) = &visitor.caller
        && let Err(e) = state.store.delete_session(id_hash).await
    {
        tracing::warn!(error = %e, "could not end the previous session");
    }
    let cookie = match start_session(&state, user.id, &headers).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "could not start a session");
            return visitor.error(PageError::internal(), &super::render::Shell::default());
        }
    };
    let mut response = Redirect::to(&next).into_response();
    let tls = over_tls(&headers);
    for c in [cookie, expired(auth::CSRF_COOKIE, tls)].into_iter().flatten() {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// `POST /logout`: ends the session and forgets its cookie.
pub async fn logout(State(state): State<AppState>, visitor: Visitor, headers: HeaderMap) -> Response {
    if let Some(Caller { via: Via::Session { id_hash, .. }, .. }) = &visitor.caller
        && let Err(e) = state.store.delete_session(id_hash).await
    {
        tracing::error!(error = %e, "could not end a session");
        return visitor.error(PageError::internal(), &super::render::Shell::default());
    }
    let mut response = Redirect::to("/login?flash=flash.signed_out").into_response();
    if let Some(c) = expired(auth::SESSION_COOKIE, over_tls(&headers)) {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::local;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local(Some("/units/610304003002")), "/units/610304003002");
        assert_eq!(local(Some("//evil.example/x")), "/");
        assert_eq!(local(Some("/\\evil.example")), "/");
        assert_eq!(local(Some("https://evil.example")), "/");
        assert_eq!(local(Some("")), "/");
        assert_eq!(local(None), "/");
    }
}
