//! Users with their grants, sign-in counters, sessions and API tokens in
//! SQLite. Every change to a user or a token is audited in its transaction.

use super::SqliteStore;
use super::audit::append;
use crate::stored::{Columns, grant_from_row, holder_from_row, now_text, token_from_row, ts_text, user_from_row};
use crate::{Actor, NewAudit, NewUser, Page, Result, SessionRecord, StoreError, TokenRecord, UserRecord};
use civicgrid_domain::{Grant, UnitCode};
use jiff::Timestamp;
use serde_json::json;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

fn audit(by: &Actor, action: &str, target: &str, detail: serde_json::Value) -> NewAudit {
    NewAudit { actor: by.clone(), action: action.into(), target: target.into(), detail, reason: None }
}

fn grants_json(grants: &[Grant]) -> serde_json::Value {
    json!(grants.iter().map(|g| json!({"role": g.role.as_str(), "scope": g.scope.as_str()})).collect::<Vec<_>>())
}

async fn grants_of(conn: &mut SqliteConnection, user_id: i64) -> Result<Vec<Grant>> {
    let rows = sqlx::query("SELECT role, scope_code FROM user_grants WHERE user_id = ? ORDER BY scope_code, role")
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(grant_from_row).collect()
}

async fn insert_grants(conn: &mut SqliteConnection, user_id: i64, grants: &[Grant]) -> Result<()> {
    for g in grants {
        sqlx::query("INSERT OR IGNORE INTO user_grants (user_id, role, scope_code) VALUES (?, ?, ?)")
            .bind(user_id)
            .bind(g.role.as_str())
            .bind(g.scope.as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The user columns plus the grants as `role:scope,…`, for one-query lookups
/// of who holds a token or a session.
const HOLDER: &str = "u.*, (SELECT group_concat(g.role || ':' || g.scope_code, ',') FROM user_grants g \
                      WHERE g.user_id = u.id) AS grant_list";

async fn load_user(conn: &mut SqliteConnection, id: i64) -> Result<Option<UserRecord>> {
    let Some(row) = sqlx::query("SELECT * FROM users WHERE id = ?").bind(id).fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let grants = grants_of(conn, id).await?;
    user_from_row(&row, grants).map(Some)
}

/// The username of user `id`, or NotFound.
async fn username_of(conn: &mut SqliteConnection, id: i64) -> Result<String> {
    sqlx::query_scalar("SELECT username FROM users WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("user {id}")))
}

impl SqliteStore {
    pub(super) async fn create_user_row(&self, new: &NewUser, by: &Actor) -> Result<UserRecord> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = ?")
            .bind(&new.username)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!("the username {:?} is taken", new.username)));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, display_name, password_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(&new.username)
        .bind(&new.display_name)
        .bind(&new.password_hash)
        .bind(now_text())
        .fetch_one(&mut *tx)
        .await?;
        insert_grants(&mut tx, id, &new.grants).await?;
        let user = load_user(&mut tx, id).await?.ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
        let detail = json!({"user_id": id, "display_name": new.display_name, "grants": grants_json(&user.grants)});
        append(&mut tx, &audit(by, "create_user", &new.username, detail)).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub(super) async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>> {
        let mut conn = self.pool.acquire().await?;
        load_user(&mut conn, id).await
    }

    pub(super) async fn user_named(&self, username: &str) -> Result<Option<UserRecord>> {
        let mut conn = self.pool.acquire().await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&mut *conn)
            .await?;
        match id {
            Some(id) => load_user(&mut conn, id).await,
            None => Ok(None),
        }
    }

    pub(super) async fn users_within(
        &self,
        within: Option<&UnitCode>,
        limit: u32,
        offset: u32,
    ) -> Result<Page<UserRecord>> {
        let filter = |qb: &mut QueryBuilder<'_, Sqlite>| {
            if let Some(w) = within {
                // A scope is within `w` when its code starts with w's code.
                qb.push(" WHERE u.id IN (SELECT user_id FROM user_grants WHERE substr(scope_code, 1, ");
                qb.push_bind(w.as_str().len() as i64);
                qb.push(") = ");
                qb.push_bind(w.as_str().to_owned());
                qb.push(")");
            }
        };
        let mut count = QueryBuilder::<Sqlite>::new("SELECT count(*) FROM users u");
        filter(&mut count);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT u.* FROM users u");
        filter(&mut qb);
        qb.push(" ORDER BY u.username LIMIT ");
        qb.push_bind(i64::from(limit.min(crate::ListQuery::MAX_LIMIT)));
        qb.push(" OFFSET ");
        qb.push_bind(i64::from(offset));
        let mut conn = self.pool.acquire().await?;
        let rows = qb.build().fetch_all(&mut *conn).await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            let grants = grants_of(&mut conn, r.try_get("id")?).await?;
            items.push(user_from_row(r, grants)?);
        }
        Ok(Page { items, total, limit, offset })
    }

    pub(super) async fn replace_grants(&self, user_id: i64, grants: &[Grant], by: &Actor) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let username = username_of(&mut tx, user_id).await?;
        let old = grants_of(&mut tx, user_id).await?;
        sqlx::query("DELETE FROM user_grants WHERE user_id = ?").bind(user_id).execute(&mut *tx).await?;
        insert_grants(&mut tx, user_id, grants).await?;
        let new = grants_of(&mut tx, user_id).await?;
        let detail = json!({"user_id": user_id, "old": grants_json(&old), "new": grants_json(&new)});
        append(&mut tx, &audit(by, "change_grants", &username, detail)).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn change_password(&self, user_id: i64, password_hash: &str, by: &Actor) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let username = username_of(&mut tx, user_id).await?;
        sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        // A new password ends every session signed in with the old one.
        let ended = sqlx::query("DELETE FROM sessions WHERE user_id = ?").bind(user_id).execute(&mut *tx).await?;
        let detail = json!({"user_id": user_id, "sessions_ended": ended.rows_affected()});
        append(&mut tx, &audit(by, "change_password", &username, detail)).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn change_disabled(&self, user_id: i64, disabled: bool, by: &Actor) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let username = username_of(&mut tx, user_id).await?;
        sqlx::query("UPDATE users SET disabled = ? WHERE id = ?")
            .bind(disabled)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        // A disabled user is signed out everywhere at once.
        let ended = if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = ?").bind(user_id).execute(&mut *tx).await?.rows_affected()
        } else {
            0
        };
        let action = if disabled { "disable_user" } else { "enable_user" };
        let detail = json!({"user_id": user_id, "disabled": disabled, "sessions_ended": ended});
        append(&mut tx, &audit(by, action, &username, detail)).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn sign_in_attempt(
        &self,
        user_id: i64,
        ok: bool,
        locked_until: Option<Timestamp>,
        by: &Actor,
    ) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let username = username_of(&mut tx, user_id).await?;
        let (failed, lock): (i64, Option<String>) = if ok {
            sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            (0, None)
        } else {
            let lock = locked_until.map(ts_text);
            let failed = sqlx::query_scalar(
                "UPDATE users SET failed_logins = failed_logins + 1, locked_until = ? WHERE id = ? RETURNING failed_logins",
            )
            .bind(&lock)
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
            (failed, lock)
        };
        let action = if ok { "sign_in" } else { "sign_in_failed" };
        let detail = json!({"user_id": user_id, "failed_logins": failed, "locked_until": lock});
        append(&mut tx, &audit(by, action, &username, detail)).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn insert_session(&self, s: &SessionRecord) -> Result<()> {
        let now = now_text();
        // Expired sessions are swept here, so the table stays small without a job.
        sqlx::query("DELETE FROM sessions WHERE expires_at <= ?").bind(&now).execute(&self.pool).await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, expires_at, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&s.id_hash)
        .bind(s.user_id)
        .bind(&s.csrf_token)
        .bind(ts_text(s.expires_at))
        .bind(&now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn live_session(&self, id_hash: &str) -> Result<Option<SessionRecord>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE id_hash = ? AND expires_at > ?")
            .bind(id_hash)
            .bind(now_text())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(SessionRecord {
                id_hash: r.try_get("id_hash")?,
                user_id: r.try_get("user_id")?,
                csrf_token: r.try_get("csrf_token")?,
                expires_at: r.ts("expires_at")?,
            })
        })
        .transpose()
    }

    /// A live session and its user, in one query.
    pub(super) async fn session_and_holder(&self, id_hash: &str) -> Result<Option<(SessionRecord, UserRecord)>> {
        let row = sqlx::query(&format!(
            "SELECT s.id_hash, s.csrf_token, s.expires_at AS s_expires_at, {HOLDER} \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ? AND s.expires_at > ?"
        ))
        .bind(id_hash)
        .bind(now_text())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            let user = holder_from_row(&r)?;
            let session = SessionRecord {
                id_hash: r.try_get("id_hash")?,
                user_id: user.id,
                csrf_token: r.try_get("csrf_token")?,
                expires_at: r.ts("s_expires_at")?,
            };
            Ok((session, user))
        })
        .transpose()
    }

    /// A token (revoked or not) and its user, in one query.
    pub(super) async fn token_and_holder(&self, token_hash: &str) -> Result<Option<(TokenRecord, UserRecord)>> {
        let row = sqlx::query(&format!(
            "SELECT t.id AS t_id, t.name AS t_name, t.created_at AS t_created_at, t.expires_at AS t_expires_at, \
             t.last_used_at AS t_last_used_at, t.revoked_at AS t_revoked_at, {HOLDER} \
             FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            let user = holder_from_row(&r)?;
            let token = token_from_row(&r, "t_", Some(user.id))?;
            Ok((token, user))
        })
        .transpose()
    }

    pub(super) async fn remove_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = ?").bind(id_hash).execute(&self.pool).await?;
        Ok(())
    }

    pub(super) async fn insert_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        expires_at: Option<Timestamp>,
        by: &Actor,
    ) -> Result<TokenRecord> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let username = username_of(&mut tx, user_id).await?;
        let row = sqlx::query(
            "INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(now_text())
        .bind(expires_at.map(ts_text))
        .fetch_one(&mut *tx)
        .await?;
        let token = token_from_row(&row, "", None)?;
        // Never the secret nor its hash: the log is read by more people than the token's owner.
        let detail =
            json!({"user_id": user_id, "token_id": token.id, "name": name, "expires_at": expires_at.map(ts_text)});
        append(&mut tx, &audit(by, "create_token", &username, detail)).await?;
        tx.commit().await?;
        Ok(token)
    }

    pub(super) async fn token_hashed(&self, token_hash: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query("SELECT * FROM api_tokens WHERE token_hash = ?")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| token_from_row(r, "", None)).transpose()
    }

    pub(super) async fn tokens_of(&self, user_id: i64) -> Result<Vec<TokenRecord>> {
        let rows = sqlx::query("SELECT * FROM api_tokens WHERE user_id = ? ORDER BY id")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| token_from_row(r, "", None)).collect()
    }

    pub(super) async fn revoke(&self, user_id: i64, token_id: i64, by: &Actor) -> Result<bool> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let name: Option<String> = sqlx::query_scalar(
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL RETURNING name",
        )
        .bind(now_text())
        .bind(token_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(name) = name else {
            return Ok(false);
        };
        let username = username_of(&mut tx, user_id).await?;
        let detail = json!({"user_id": user_id, "token_id": token_id, "name": name});
        append(&mut tx, &audit(by, "revoke_token", &username, detail)).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(super) async fn touch(&self, token_id: i64) -> Result<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = ? WHERE id = ?")
            .bind(now_text())
            .bind(token_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
