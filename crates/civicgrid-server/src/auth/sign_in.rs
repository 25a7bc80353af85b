//! Checking a username and password: the same rules for the API and the
//! sign-in page — look-alike usernames refused, constant work for unknown
//! users, lockout with back-off, every attempt audited.

use super::password;
use crate::AppState;
use civicgrid_domain::access::{lockout_seconds, normalise_username};
use civicgrid_store::{Actor, NewAudit, StoreError, UserRecord};
use jiff::{SignedDuration, Timestamp};

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown user, wrong password or disabled account: one answer for all,
    /// so the answer does not tell which usernames exist.
    #[error("wrong username or password")]
    Wrong,
    #[error("too many wrong passwords; this account is locked until {0}")]
    Locked(Timestamp),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Verifies `username` and `password` for a client at `ip`.
pub async fn sign_in(
    state: &AppState,
    username: &str,
    password: &str,
    ip: Option<String>,
) -> Result<UserRecord, SignInError> {
    let actor = |name: &str, id: Option<i64>| Actor { user_id: id, username: name.to_owned(), ip: ip.clone() };
    let user = match normalise_username(username) {
        Ok(name) => state.store.user_by_name(&name).await?,
        Err(_) => None,
    };
    let Some(user) = user else {
        tokio::task::spawn_blocking(password::burn).await.ok();
        let shown: String = username.chars().take(64).collect();
        state
            .store
            .append_audit(&NewAudit {
                actor: actor(&shown, None),
                action: "sign_in_failed".into(),
                target: shown.clone(),
                detail: serde_json::json!({ "why": "unknown user" }),
                reason: None,
            })
            .await?;
        return Err(SignInError::Wrong);
    };
    let now = Timestamp::now();
    if let Some(until) = user.locked_until.filter(|t| *t > now) {
        return Err(SignInError::Locked(until));
    }
    let (pw, hash) = (password.to_owned(), user.password_hash.clone());
    let ok = tokio::task::spawn_blocking(move || password::verify(&pw, &hash)).await.unwrap_or(false) && !user.disabled;
    let by = actor(&user.username, Some(user.id));
    if ok {
        state.store.record_sign_in(user.id, true, None, &by).await?;
        return Ok(user);
    }
    let failures = user.failed_logins + 1;
    let lock = lockout_seconds(failures);
    let until = (lock > 0).then(|| now.saturating_add(SignedDuration::from_secs(lock as i64)).unwrap_or(now));
    state.store.record_sign_in(user.id, false, until, &by).await?;
    Err(until.map_or(SignInError::Wrong, SignInError::Locked))
}
