//! User administration for callers who manage users: the users within their
//! scope with the grants they hold there, and a form to add one. Who may grant
//! what is decided by `Principal::may_grant` through `api::account::add_user`.

use super::account::{Rejected, password_key};
use super::pages::shell;
use super::render::{PageError, Visitor};
use crate::AppState;
use crate::api::account::{GrantJson, NewUserJson, add_user};
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use civicgrid_domain::access::{check_password, normalise_username};
use civicgrid_domain::{Grant, Permission, Role};
use serde::Deserialize;
use serde_json::{Value, json};

const PER_PAGE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UsersQuery {
    page: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewUserForm {
    username: String,
    display_name: String,
    password: String,
    role: String,
    scope: String,
}

async fn page(state: &AppState, visitor: &Visitor, status: StatusCode, page_no: u32, extra: Value) -> Response {
    let shell = shell(state).await;
    let page = async {
        let me = visitor.caller.as_ref().ok_or_else(PageError::forbidden)?;
        let scope = me.principal.scopes(Permission::ManageUsers).into_iter().next().ok_or_else(PageError::forbidden)?;
        let scope_name = state.store.unit(&scope).await?.map(|u| u.name);
        let found = state.store.users(Some(&scope), PER_PAGE, page_no.saturating_mul(PER_PAGE)).await?;
        let users: Vec<Value> = found
            .items
            .iter()
            .map(|u| {
                // Grants outside the caller's scope are not theirs to see.
                let grants: Vec<&Grant> = u.grants.iter().filter(|g| scope.contains(&g.scope)).collect();
                json!({
                    "id": u.id,
                    "username": u.username,
                    "display_name": u.display_name,
                    "grants": grants,
                    "disabled": u.disabled,
                    "locked_until": u.locked_until,
                    "created_at": u.created_at,
                })
            })
            .collect();
        let roles: Vec<Role> = Role::ALL
            .iter()
            .copied()
            .filter(|r| me.principal.may_grant(&Grant { role: *r, scope: scope.clone() }))
            .collect();
        let total = u64::try_from(found.total).unwrap_or(0);
        let pages = total.div_ceil(u64::from(PER_PAGE)).max(1);
        let mut page = json!({
            "scope": { "code": scope, "name": scope_name },
            "users": users,
            "total": found.total,
            "page": page_no,
            "pages": pages,
            "prev": page_no.checked_sub(1),
            "next": (u64::from(page_no) + 1 < pages).then_some(page_no + 1),
            "roles": roles,
            "form": { "scope": scope },
        });
        if let (Some(p), Value::Object(extra)) = (page.as_object_mut(), extra) {
            p.extend(extra);
        }
        Ok(page)
    }
    .await;
    super::pages::respond_with(visitor, &shell, status, "users.html", page)
}

/// `GET /users?page=`.
pub async fn list(State(state): State<AppState>, visitor: Visitor, Query(q): Query<UsersQuery>) -> Response {
    let page_no = q.page.as_deref().and_then(|p| p.parse().ok()).unwrap_or(0);
    page(&state, &visitor, StatusCode::OK, page_no, json!({})).await
}

/// `POST /users`: adds a user with one grant.
pub async fn create(State(state): State<AppState>, visitor: Visitor, Form(form): Form<NewUserForm>) -> Response {
    let Some(me) = visitor.caller.clone() else { return Redirect::to("/login").into_response() };
    let added = async {
        let unprocessable = |key| Rejected::new(StatusCode::UNPROCESSABLE_ENTITY, key);
        // The helper checks these too; checked first for messages in the visitor's language.
        let username = normalise_username(&form.username).map_err(|_| unprocessable("users.error.username"))?;
        check_password(&username, &form.password).map_err(|e| unprocessable(password_key(&e)))?;
        let body = NewUserJson {
            username,
            display_name: form.display_name.clone(),
            password: form.password.clone(),
            grants: vec![GrantJson { role: form.role.trim().to_owned(), scope: form.scope.trim().to_owned() }],
        };
        add_user(&state, &me, body).await.map_err(|e| {
            Rejected::from_api(
                e,
                &[
                    (StatusCode::CONFLICT, "users.error.taken"),
                    (StatusCode::FORBIDDEN, "users.error.not_allowed"),
                    (StatusCode::BAD_REQUEST, "users.error.scope"),
                ],
            )
        })
    }
    .await;
    match added {
        Ok(_) => Redirect::to("/users?flash=flash.user_created").into_response(),
        Err(rejected) => {
            // The form comes back filled in, except for the password.
            let kept = json!({
                "username": form.username,
                "display_name": form.display_name,
                "role": form.role,
                "scope": form.scope,
            });
            page(&state, &visitor, rejected.status, 0, json!({ "error": rejected.json(), "form": kept })).await
        }
    }
}
