//! The caller of a request — from a bearer token or a session cookie — and
//! the middleware that checks every matched route against its declaration,
//! the caller's permissions, CSRF and the per-client rate limit.

use super::routes::{Access, Kind, spec_for};
use super::secret::{same, sha256_hex};
use super::{CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE};
use crate::AppState;
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use civicgrid_domain::Principal;
use civicgrid_store::{Actor, StoreError};

use std::net::SocketAddr;

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A page session; `csrf` must accompany every unsafe request.
    Session { id_hash: String, csrf: String },
    /// An API token (from `POST /api/v1/session` or created by the user).
    Token { id: i64 },
}

/// A signed-in caller, placed in the request extensions by the middleware.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub display_name: String,
    pub via: Via,
    pub ip: Option<String>,
}

impl Caller {
    /// The actor that writes made for this caller are audited under.
    pub fn actor(&self) -> Actor {
        Actor { user_id: Some(self.principal.user_id), username: self.principal.username.clone(), ip: self.ip.clone() }
    }
}

/// A cookie's value from the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Why a presented credential is not accepted.
#[derive(Debug)]
enum Refused {
    Token(&'static str),
    Store(StoreError),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Store(e)
    }
}

/// The principal of an enabled user.
fn principal_of(user: civicgrid_store::UserRecord) -> Option<(Principal, String)> {
    if user.disabled {
        return None;
    }
    Some((Principal { user_id: user.id, username: user.username, grants: user.grants }, user.display_name))
}

/// The caller a request's credentials name, if any. A bearer token that is
/// unknown, revoked or expired is refused outright; a stale session cookie
/// just means "not signed in".
async fn resolve(state: &AppState, headers: &HeaderMap, ip: Option<String>) -> Result<Option<Caller>, Refused> {
    let now = jiff::Timestamp::now();
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let secret = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(Refused::Token("the Authorization header must be `Bearer TOKEN`"))?;
        let (token, user) =
            state.store.token_holder(&sha256_hex(secret)).await?.ok_or(Refused::Token("unknown token"))?;
        if token.revoked_at.is_some() {
            return Err(Refused::Token("this token has been revoked"));
        }
        if token.expires_at.is_some_and(|t| t <= now) {
            return Err(Refused::Token("this token has expired"));
        }
        // Recording every use would make each read a write; once a minute is enough.
        if token.last_used_at.is_none_or(|t| now.duration_since(t).as_secs() >= 60) {
            state.store.touch_token(token.id).await?;
        }
        let (principal, display_name) = principal_of(user).ok_or(Refused::Token("the token's account is disabled"))?;
        return Ok(Some(Caller { principal, display_name, via: Via::Token { id: token.id }, ip }));
    }
    if let Some(secret) = cookie(headers, SESSION_COOKIE) {
        let id_hash = sha256_hex(secret);
        if let Some((session, user)) = state.store.session_holder(&id_hash).await?
            && let Some((principal, display_name)) = principal_of(user)
        {
            return Ok(Some(Caller {
                principal,
                display_name,
                via: Via::Session { id_hash, csrf: session.csrf_token },
                ip,
            }));
        }
    }
    Ok(None)
}

/// The caller that credentials (the `Authorization` and `Cookie` headers of
/// a request still running) name now: `None` once they name nobody (signed
/// out, token revoked or expired, account disabled); an error when the
/// store cannot tell.
pub(crate) async fn recheck(
    state: &AppState,
    credentials: &HeaderMap,
    ip: Option<String>,
) -> Result<Option<Caller>, StoreError> {
    match resolve(state, credentials, ip).await {
        Ok(caller) => Ok(caller),
        Err(Refused::Token(_)) => Ok(None),
        Err(Refused::Store(e)) => Err(e),
    }
}

fn deny(kind: Kind, status: StatusCode, message: &str, parts: &axum::http::request::Parts) -> Response {
    match (kind, status) {
        (Kind::Page, StatusCode::UNAUTHORIZED) => {
            let next: String = form_urlencoded_path(parts.uri.path());
            Redirect::to(&format!("/login?next={next}")).into_response()
        }
        (Kind::Page, _) => crate::web::refused(parts, status),
        (Kind::Api | Kind::Open311, StatusCode::UNAUTHORIZED) => {
            let mut r = ApiError { status, code: "unauthorized", message: message.into() }.into_response();
            r.headers_mut().insert(header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
            r
        }
        (Kind::Api | Kind::Open311, _) => {
            ApiError { status, code: "forbidden", message: message.into() }.into_response()
        }
    }
}

fn form_urlencoded_path(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The CSRF token the request carries: the header, or the `csrf` field of a
/// urlencoded form (the body is read and put back).
async fn presented_csrf(req: Request) -> Result<(Option<String>, Request), Response> {
    if let Some(h) = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        let h = h.to_owned();
        return Ok((Some(h), req));
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok((None, req));
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, crate::MAX_BODY).await.map_err(|_| {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "payload_too_large",
            message: "the form is too large".into(),
        }
        .into_response()
    })?;
    let token = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|fields| fields.into_iter().find(|(k, _)| k == "csrf").map(|(_, v)| v));
    Ok((token, Request::from_parts(parts, Body::from(bytes))))
}

/// Checks every matched route: declared, rate-limited if public, signed in
/// and permitted if not, CSRF on unsafe requests that ride on cookies.
pub async fn authorize(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let Some(spec) = matched.as_deref().and_then(|m| spec_for(req.method().as_str(), m)) else {
        // Fail closed: a route nobody declared is a bug, not an open door.
        tracing::error!(method = %req.method(), path = %req.uri().path(), "route declares no access; refusing");
        return ApiError::internal_with("this route declares no access rule").into_response();
    };
    let ip = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
    // Static assets are cheap and many per page; every other public route is limited.
    if spec.access == Access::Public && spec.path != "/assets/{*path}" && !state.limits.allow(ip.as_deref(), spec.path)
    {
        return ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "rate_limited",
            message: "too many requests from this client; slow down".into(),
        }
        .into_response();
    }
    let caller = match resolve(&state, req.headers(), ip).await {
        Ok(c) => c,
        Err(Refused::Token(why)) if spec.access != Access::Public || spec.kind == Kind::Api => {
            return deny(spec.kind, StatusCode::UNAUTHORIZED, why, &req.into_parts().0);
        }
        Err(Refused::Token(_)) => None,
        Err(Refused::Store(e)) => return ApiError::from(e).into_response(),
    };
    match (&spec.access, &caller) {
        (Access::Public, _) => {}
        (_, None) => return deny(spec.kind, StatusCode::UNAUTHORIZED, "sign in first", &req.into_parts().0),
        (Access::Need(p), Some(c)) if !c.principal.may(*p) => {
            return deny(spec.kind, StatusCode::FORBIDDEN, "your role does not allow this", &req.into_parts().0);
        }
        _ => {}
    }
    let mut req = req;
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let bearer = req.headers().contains_key(header::AUTHORIZATION);
    // Open311 posts authenticate by api_key, never by cookie: nothing ambient to forge.
    if unsafe_method && !bearer && spec.kind != Kind::Open311 {
        // Cookies ride along with cross-site requests; a token read from the
        // page must come with them. With a session it is the session's token,
        // before sign-in the double-submitted `cg_csrf` cookie.
        let expected = match &caller {
            Some(Caller { via: Via::Session { csrf, .. }, .. }) => Some(csrf.clone()),
            _ => cookie(req.headers(), CSRF_COOKIE).map(str::to_owned),
        };
        let (presented, rebuilt) = match presented_csrf(req).await {
            Ok(x) => x,
            Err(r) => return r,
        };
        req = rebuilt;
        let matches = matches!((&expected, &presented), (Some(e), Some(p)) if same(e, p));
        // A JSON client with no cookies at all is not a CSRF risk (nothing ambient to abuse).
        let cookieless_api =
            expected.is_none() && !req.headers().contains_key(header::COOKIE) && spec.kind == Kind::Api;
        if !(matches || cookieless_api) {
            let why = "the CSRF token is missing or wrong; reload the page";
            return deny(spec.kind, StatusCode::FORBIDDEN, why, &req.into_parts().0);
        }
    }
    if let Some(c) = caller {
        req.extensions_mut().insert(c);
    }
    next.run(req).await
}
