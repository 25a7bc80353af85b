//! The caller's own account: their grants, changing their password, and
//! their API tokens. The rules live in the shared helpers of `api::account`;
//! this module turns forms into calls and answers into pages.

use super::pages::shell;
use super::render::{PageError, Visitor};
use crate::AppState;
use crate::api::account::{change_own_password, new_token};
use crate::auth::Caller;
use crate::error::ApiError;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use civicgrid_domain::access::{MIN_PASSWORD_LEN, PasswordError, check_password};
use serde::Deserialize;
use serde_json::{Value, json};

/// A form the server turned down: the message key saying why, in the
/// visitor's language, and the API's own words where they add something.
#[derive(Debug)]
pub(super) struct Rejected {
    pub status: StatusCode,
    pub key: &'static str,
    pub detail: Option<String>,
}

impl Rejected {
    pub fn new(status: StatusCode, key: &'static str) -> Self {
        Rejected { status, key, detail: None }
    }

    pub fn json(&self) -> Value {
        json!({ "key": self.key, "detail": self.detail })
    }

    /// An error of a shared helper: `key` names the usual cause of its status.
    pub fn from_api(e: ApiError, keys: &[(StatusCode, &'static str)]) -> Self {
        if e.status.is_server_error() {
            return Rejected { status: e.status, key: "form.error.server", detail: None };
        }
        let key = keys.iter().find(|(s, _)| *s == e.status).map_or("form.error.rejected", |(_, k)| k);
        Rejected { status: e.status, key, detail: Some(e.message) }
    }
}

/// The message key for a password the rules refuse.
pub(super) fn password_key(e: &PasswordError) -> &'static str {
    match e {
        PasswordError::TooShort(_) => "password.too_short",
        PasswordError::TooLong => "password.too_long",
        PasswordError::TooSimple => "password.too_simple",
        PasswordError::ContainsUsername => "password.contains_username",
    }
}

fn caller(visitor: &Visitor) -> Result<&Caller, PageError> {
    visitor.caller.as_ref().ok_or_else(PageError::forbidden)
}

/// Renders the account page, with what the last form produced.
async fn page(state: &AppState, visitor: &Visitor, status: StatusCode, extra: Value) -> Response {
    let shell = shell(state).await;
    let page = async {
        let me = caller(visitor)?;
        let mut grants = Vec::new();
        for g in &me.principal.grants {
            let name = state.store.unit(&g.scope).await?.map(|u| u.name);
            grants.push(json!({ "role": g.role, "scope": g.scope, "name": name, "permissions": g.role.permissions() }));
        }
        let tokens = state.store.tokens(me.principal.user_id).await?;
        let mut page = json!({
            "username": me.principal.username,
            "display_name": me.display_name,
            "grants": grants,
            "tokens": tokens,
            "password_min": MIN_PASSWORD_LEN,
        });
        if let (Some(p), Value::Object(extra)) = (page.as_object_mut(), extra) {
            p.extend(extra);
        }
        Ok(page)
    }
    .await;
    match page {
        Ok(page) => {
            let mut r = visitor.render(status, "account.html", page, &shell);
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => visitor.error(e, &shell),
    }
}

/// `GET /account`.
pub async fn show(State(state): State<AppState>, visitor: Visitor) -> Response {
    page(&state, &visitor, StatusCode::OK, json!({})).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    current: String,
    new: String,
    repeat: String,
}

/// `POST /account/password`. Changing the password ends every session of
/// the user, so this browser gets a new one at once.
pub async fn change_password(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    let Some(me) = visitor.caller.clone() else { return Redirect::to("/login").into_response() };
    let changed = async {
        if form.new != form.repeat {
            return Err(Rejected::new(StatusCode::UNPROCESSABLE_ENTITY, "account.error.mismatch"));
        }
        // The same rules the helper applies, checked first for a message in the visitor's language.
        check_password(&me.principal.username, &form.new)
            .map_err(|e| Rejected::new(StatusCode::UNPROCESSABLE_ENTITY, password_key(&e)))?;
        change_own_password(&state, &me, &form.current, &form.new).await.map_err(|e| {
            Rejected::from_api(
                e,
                &[
                    (StatusCode::FORBIDDEN, "account.error.current_wrong"),
                    (StatusCode::UNPROCESSABLE_ENTITY, "password.rules"),
                ],
            )
        })
    }
    .await;
    match changed {
        Ok(()) => {
            let mut r = Redirect::to("/account?flash=flash.password_changed").into_response();
            match super::session::start_session(&state, me.principal.user_id, &headers).await {
                Ok(Some(cookie)) => {
                    r.headers_mut().append(header::SET_COOKIE, cookie);
                }
                Ok(None) => {}
                Err(e) => {
                    // The password is changed; signing in again is all this costs.
                    tracing::warn!(error = %e, "could not start a new session after a password change");
                    return Redirect::to("/login?flash=flash.password_changed").into_response();
                }
            }
            r
        }
        Err(rejected) => page(&state, &visitor, rejected.status, json!({ "password_error": rejected.json() })).await,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenForm {
    name: String,
    days: String,
}

/// `POST /account/tokens`: the new token's secret is shown on this answer
/// only; the store keeps its hash.
pub async fn create_token(State(state): State<AppState>, visitor: Visitor, Form(form): Form<TokenForm>) -> Response {
    let Some(me) = visitor.caller.clone() else { return Redirect::to("/login").into_response() };
    let created = async {
        let days = match form.days.trim() {
            "" => None,
            d => Some(
                d.parse::<i64>().map_err(|_| Rejected::new(StatusCode::UNPROCESSABLE_ENTITY, "account.error.days"))?,
            ),
        };
        new_token(&state, &me, &form.name, days)
            .await
            .map_err(|e| Rejected::from_api(e, &[(StatusCode::UNPROCESSABLE_ENTITY, "account.error.token")]))
    }
    .await;
    match created {
        Ok((secret, token)) => {
            let shown = json!({ "secret": secret, "name": token.name, "expires_at": token.expires_at });
            page(&state, &visitor, StatusCode::CREATED, json!({ "new_token": shown })).await
        }
        Err(rejected) => page(&state, &visitor, rejected.status, json!({ "token_error": rejected.json() })).await,
    }
}

/// `POST /account/tokens/{id}/revoke`.
pub async fn revoke_token(State(state): State<AppState>, visitor: Visitor, Path(id): Path<String>) -> Response {
    let Some(me) = visitor.caller.clone() else { return Redirect::to("/login").into_response() };
    let Ok(id) = id.parse::<i64>() else { return Redirect::to("/account?flash=flash.token_not_found").into_response() };
    match state.store.revoke_token(me.principal.user_id, id, &me.actor()).await {
        Ok(true) => Redirect::to("/account?flash=flash.token_revoked").into_response(),
        Ok(false) => Redirect::to("/account?flash=flash.token_not_found").into_response(),
        Err(e) => visitor.error(e.into(), &shell(&state).await),
    }
}
