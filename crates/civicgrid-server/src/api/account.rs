//! Accounts over the API: signing in for a token, the caller's own account,
//! password and tokens, and user administration within the caller's scope.

use super::extract::{J, Q};
use super::parse_unit;
use crate::AppState;
use crate::auth::{self, Caller, SignInError, Via, password};
use crate::error::ApiError;
use axum::Json;
use axum::extract::{ConnectInfo, Extension, Path, State};
use axum::http::StatusCode;
use civicgrid_domain::access::{check_password, normalise_username};
use civicgrid_domain::{Grant, Permission, Role};
use civicgrid_store::{NewUser, StoreError, UserRecord};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;

type Client = Option<Extension<ConnectInfo<SocketAddr>>>;

fn ip(client: &Client) -> Option<String> {
    client.as_ref().map(|c| c.0.0.ip().to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    username: String,
    password: String,
}

impl From<SignInError> for ApiError {
    fn from(e: SignInError) -> Self {
        match e {
            SignInError::Wrong => ApiError::unauthorized(e.to_string()),
            SignInError::Locked(_) => {
                ApiError { status: StatusCode::FORBIDDEN, code: "locked", message: e.to_string() }
            }
            SignInError::Store(s) => s.into(),
        }
    }
}

fn user_json(u: &UserRecord) -> Value {
    json!({
        "id": u.id,
        "username": u.username,
        "display_name": u.display_name,
        "grants": u.grants,
        "disabled": u.disabled,
        "locked_until": u.locked_until,
        "created_at": u.created_at,
    })
}

/// `POST /api/v1/session`: a bearer token for 12 hours.
pub async fn create_session(
    State(state): State<AppState>,
    client: Client,
    J(c): J<Credentials>,
) -> Result<Json<Value>, ApiError> {
    let ip = ip(&client);
    let user = auth::sign_in(&state, &c.username, &c.password, ip.clone()).await?;
    // Marked as ours (a leaked one is recognised), and never read as an
    // option on a command line, as a secret starting with `-` would be.
    let secret = format!("cg_{}", auth::new_secret());
    let expires = Timestamp::now().saturating_add(SignedDuration::from_hours(auth::SESSION_HOURS)).ok();
    let actor = civicgrid_store::Actor { user_id: Some(user.id), username: user.username.clone(), ip };
    state.store.create_token(user.id, "sign-in", &auth::sha256_hex(&secret), expires, &actor).await?;
    Ok(Json(json!({ "token": secret, "expires_at": expires, "user": user_json(&user) })))
}

/// `DELETE /api/v1/session`: ends the session or revokes the token used.
pub async fn end_session(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<StatusCode, ApiError> {
    match &caller.via {
        Via::Token { id } => {
            state.store.revoke_token(caller.principal.user_id, *id, &caller.actor()).await?;
        }
        Via::Session { id_hash, .. } => state.store.delete_session(id_hash).await?,
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(Extension(caller): Extension<Caller>) -> Json<Value> {
    let permissions: Vec<Value> = caller
        .principal
        .grants
        .iter()
        .map(|g| json!({ "role": g.role, "scope": g.scope, "permissions": g.role.permissions() }))
        .collect();
    Json(json!({
        "id": caller.principal.user_id,
        "username": caller.principal.username,
        "display_name": caller.display_name,
        "grants": permissions,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// Changes the caller's password after checking the current one; every
/// session of the user ends.
pub async fn change_password(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    J(body): J<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    change_own_password(&state, &caller, &body.current_password, &body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Shared with the account page.
pub async fn change_own_password(state: &AppState, caller: &Caller, current: &str, new: &str) -> Result<(), ApiError> {
    let user =
        state.store.user(caller.principal.user_id).await?.ok_or_else(|| ApiError::unauthorized("no such user"))?;
    let (pw, hash) = (current.to_owned(), user.password_hash.clone());
    if !tokio::task::spawn_blocking(move || password::verify(&pw, &hash)).await.unwrap_or(false) {
        return Err(ApiError::forbidden("the current password is wrong"));
    }
    check_password(&user.username, new).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let new = new.to_owned();
    let hashed = tokio::task::spawn_blocking(move || password::hash(&new))
        .await
        .map_err(|_| ApiError::internal_with("hashing failed"))?;
    state.store.set_password(user.id, &hashed, &caller.actor()).await?;
    Ok(())
}

pub async fn list_tokens(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let tokens = state.store.tokens(caller.principal.user_id).await?;
    Ok(Json(json!({ "items": tokens })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
    /// 1 to 365; 90 when absent.
    expires_in_days: Option<i64>,
}

/// Creates an API token; its secret is shown once, here, and stored hashed.
pub async fn create_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    J(body): J<NewToken>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (secret, token) = new_token(&state, &caller, &body.name, body.expires_in_days).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "token": secret, "id": token.id, "name": token.name, "expires_at": token.expires_at })),
    ))
}

/// Shared with the account page.
pub async fn new_token(
    state: &AppState,
    caller: &Caller,
    name: &str,
    days: Option<i64>,
) -> Result<(String, civicgrid_store::TokenRecord), ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(ApiError::unprocessable("a token's name has 1 to 60 characters"));
    }
    let days = days.unwrap_or(90);
    if !(1..=365).contains(&days) {
        return Err(ApiError::unprocessable("expires_in_days must be 1 to 365"));
    }
    // Marked as ours (a leaked one is recognised), and never read as an
    // option on a command line, as a secret starting with `-` would be.
    let secret = format!("cg_{}", auth::new_secret());
    let expires = Timestamp::now().saturating_add(SignedDuration::from_hours(24 * days)).ok();
    let token = state
        .store
        .create_token(caller.principal.user_id, name, &auth::sha256_hex(&secret), expires, &caller.actor())
        .await?;
    Ok((secret, token))
}

pub async fn revoke_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if state.store.revoke_token(caller.principal.user_id, id, &caller.actor()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("you have no live token {id}")))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserParams {
    unit: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

/// Users with a grant inside the caller's scope; grants outside it are not shown.
pub async fn list_users(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Q(p): Q<UserParams>,
) -> Result<Json<Value>, ApiError> {
    let within = super::scope(&state, &caller, Permission::ManageUsers, p.unit.as_deref()).await?;
    let limit = p.limit.unwrap_or(50);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request("limit must be 1..=1000"));
    }
    let page = state.store.users(Some(&within), limit, p.offset.unwrap_or(0)).await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|u| {
            let mut v = user_json(u);
            v["grants"] = json!(u.grants.iter().filter(|g| within.contains(&g.scope)).collect::<Vec<_>>());
            v
        })
        .collect();
    Ok(Json(json!({ "items": items, "total": page.total, "limit": page.limit, "offset": page.offset })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantJson {
    pub role: String,
    pub scope: String,
}

/// Parses grants and checks that the caller may give each of them.
pub async fn grants_from(state: &AppState, caller: &Caller, given: &[GrantJson]) -> Result<Vec<Grant>, ApiError> {
    if given.is_empty() || given.len() > 20 {
        return Err(ApiError::unprocessable("a user has 1 to 20 grants"));
    }
    let mut grants = Vec::with_capacity(given.len());
    for g in given {
        let role: Role = g.role.parse().map_err(ApiError::unprocessable)?;
        let scope = parse_unit(&g.scope).map_err(|e| ApiError::unprocessable(e.message))?;
        let grant = Grant { role, scope };
        if !caller.principal.may_grant(&grant) {
            return Err(ApiError::forbidden(format!("you may not grant {} over {}", role, grant.scope)));
        }
        if state.store.unit(&grant.scope).await?.is_none() {
            return Err(ApiError::unprocessable(format!("unit {} does not exist", grant.scope)));
        }
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    Ok(grants)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserJson {
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub grants: Vec<GrantJson>,
}

pub async fn create_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    J(body): J<NewUserJson>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let user = add_user(&state, &caller, body).await?;
    Ok((StatusCode::CREATED, Json(user_json(&user))))
}

/// Shared with the user administration page.
pub async fn add_user(state: &AppState, caller: &Caller, body: NewUserJson) -> Result<UserRecord, ApiError> {
    let username = normalise_username(&body.username).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let display_name = body.display_name.trim().to_owned();
    if display_name.is_empty() || display_name.chars().count() > 60 {
        return Err(ApiError::unprocessable("a display name has 1 to 60 characters"));
    }
    check_password(&username, &body.password).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let grants = grants_from(state, caller, &body.grants).await?;
    let pw = body.password;
    let password_hash = tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|_| ApiError::internal_with("hashing failed"))?;
    let new = NewUser { username, display_name, password_hash, grants };
    state.store.create_user(&new, &caller.actor()).await.map_err(|e| match e {
        StoreError::Conflict(_) => {
            ApiError { status: StatusCode::CONFLICT, code: "conflict", message: "that username is taken".into() }
        }
        other => other.into(),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantsJson {
    grants: Vec<GrantJson>,
}

/// Replaces a user's grants. The caller must be able to give every new grant
/// and to take away every old one.
pub async fn set_grants(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    J(body): J<GrantsJson>,
) -> Result<Json<Value>, ApiError> {
    let user = state
        .store
        .user(id)
        .await?
        .filter(|u| u.grants.iter().any(|g| caller.principal.may_at(Permission::ManageUsers, &g.scope)))
        .ok_or_else(|| ApiError::not_found(format!("user {id} not found")))?;
    if user.id == caller.principal.user_id {
        return Err(ApiError::forbidden("no one changes their own grants"));
    }
    if let Some(g) = user.grants.iter().find(|g| !caller.principal.may_grant(g)) {
        return Err(ApiError::forbidden(format!("you may not take away {} over {}", g.role, g.scope)));
    }
    let grants = grants_from(&state, &caller, &body.grants).await?;
    state.store.set_grants(user.id, &grants, &caller.actor()).await?;
    let user = state.store.user(id).await?.ok_or_else(|| ApiError::not_found(format!("user {id} not found")))?;
    Ok(Json(user_json(&user)))
}
