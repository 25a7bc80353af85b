//! Cases in PostgreSQL: the event log, the summary row rewritten with each
//! event in the same transaction, one escalation per deadline whichever node
//! gets there first, and idempotent filing.

use super::audit::append;
use super::{Hold, PgStore, hold};
use crate::cases::*;
use crate::feed::{CHANGE_COLUMNS, CHANGES_AFTER, CHANNEL, change_from_row, change_of};
use crate::schema::{
    case_number, case_number_prefix, check_first_events, keep_near, key_reused, next_case_seq, push_case_filters,
    push_case_page,
};
use crate::stored::{case_from_row, event_from_row, now_text, ts_text};
use crate::view::{Added, Page};
use crate::{Actor, NewAudit, Result, StoreError};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

/// Inserts the event with the case's state after it, draws its global id and
/// tells the live feed, which hears it when (and only if) the transaction
/// commits. The id is drawn holding the audit chain's lock, which every case
/// write takes and holds to its commit: ids then follow the order of commits,
/// so a receiver that asks for the events after the last id it saw misses
/// none. Returns the notice.
async fn insert_event(
    conn: &mut PgConnection,
    case: &CaseRecord,
    e: &CaseEventRecord,
    state: &str,
) -> Result<crate::CaseChange> {
    let case_id = case.id;
    for photo in &e.photos {
        sqlx::query("INSERT INTO case_attachments (case_id, attachment_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(case_id)
            .bind(photo)
            .execute(&mut *conn)
            .await?;
    }
    let photos = serde_json::to_string(&e.photos).map_err(|x| StoreError::Invalid(x.to_string()))?;
    hold(&mut *conn, Hold::AuditChain, "").await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO case_events (case_id, seq, at, actor_id, actor, role, unit, kind, data, note, photos, lat, lon, state) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
    )
    .bind(case_id)
    .bind(e.seq)
    .bind(ts_text(e.at))
    .bind(e.actor_id)
    .bind(&e.actor)
    .bind(&e.role)
    .bind(&e.unit)
    .bind(&e.kind)
    .bind(e.data.to_string())
    .bind(&e.note)
    .bind(photos)
    .bind(e.lat)
    .bind(e.lon)
    .bind(state)
    .fetch_one(&mut *conn)
    .await?;
    let mut change = change_of(id, case, e);
    change.state = Some(state.to_owned());
    let payload = serde_json::to_string(&change).map_err(|x| StoreError::Invalid(x.to_string()))?;
    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(&mut *conn).await?;
    Ok(change)
}

async fn write_summary(conn: &mut PgConnection, case_id: i64, s: &CaseSummary, events: i64) -> Result<()> {
    sqlx::query(
        "UPDATE cases SET state = $1, category = COALESCE($2, category), handler_unit = $3, step_deadline = $4, escalate_at = $5, escalation = $6, \
         supervision = $7, duplicate_of = $8, merged_into = $9, closed_at = $10, events = $11, updated_at = $12 WHERE id = $13",
    )
    .bind(&s.state)
    .bind(&s.category)
    .bind(&s.handler_unit)
    .bind(s.step_deadline.map(ts_text))
    .bind(s.escalate_at.map(ts_text))
    .bind(&s.escalation)
    .bind(s.supervision)
    .bind(s.duplicate_of)
    .bind(s.merged_into)
    .bind(s.closed_at.map(ts_text))
    .bind(events)
    .bind(now_text())
    .bind(case_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn load_case(conn: &mut PgConnection, id: i64) -> Result<Option<CaseRecord>> {
    let row = sqlx::query("SELECT * FROM cases WHERE id = $1").bind(id).fetch_optional(&mut *conn).await?;
    row.as_ref().map(case_from_row).transpose()
}

/// The case with its row locked to the end of the transaction: whoever acts
/// on a case meanwhile waits, then finds it changed.
async fn lock_case(conn: &mut PgConnection, id: i64) -> Result<Option<CaseRecord>> {
    let row = sqlx::query("SELECT * FROM cases WHERE id = $1 FOR UPDATE").bind(id).fetch_optional(&mut *conn).await?;
    row.as_ref().map(case_from_row).transpose()
}

fn audit_event(by: &Actor, case_id: i64, e: &CaseEventRecord) -> NewAudit {
    NewAudit {
        actor: by.clone(),
        action: "case_event".into(),
        target: format!("case:{case_id}"),
        detail: serde_json::json!({ "seq": e.seq, "kind": e.kind }),
        reason: None,
    }
}

/// Files a case inside a transaction: the case with its first events (each
/// with the state after it) and the summary after them; with a key, the
/// case an earlier request filed. Commits nothing.
async fn file_in(
    conn: &mut PgConnection,
    new: &NewCase,
    events: &[(CaseEventRecord, String)],
    summary: &CaseSummary,
    key: Option<&str>,
    by: &Actor,
) -> Result<Added<CaseRecord>> {
    check_first_events(events)?;
    let first = &events[0].0;
    let place = crate::schema::grid_placement(&new.grid)?;
    let fingerprint = new.fingerprint();
    if let Some(key) = key {
        hold(&mut *conn, Hold::IdempotencyKey, &format!("case:{key}")).await?;
        let seen = sqlx::query("SELECT fingerprint, case_id FROM case_idempotency WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(seen) = seen {
            let earlier: String = seen.try_get("fingerprint")?;
            if earlier != fingerprint {
                return Err(key_reused(key));
            }
            let id: i64 = seen.try_get("case_id")?;
            let case = load_case(conn, id).await?.ok_or_else(|| StoreError::NotFound(format!("case {id}")))?;
            return Ok(Added { item: case, created: false });
        }
    }
    // Numbers run per district and day in China Standard Time.
    let prefix = case_number_prefix(&place[0], first.at);
    hold(&mut *conn, Hold::CaseNumbers, &prefix).await?;
    let number = case_number(&prefix, next_case_seq::<Postgres>(conn, &prefix).await?);
    let now = now_text();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO cases (number, source, category, title, description, lat, lon, district_code, street_code, \
         community_code, grid_code, reporter_id, state, events, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $15) RETURNING id",
    )
    .bind(&number)
    .bind(&new.source)
    .bind(&new.category)
    .bind(&new.title)
    .bind(&new.description)
    .bind(new.lat)
    .bind(new.lon)
    .bind(&place[0])
    .bind(&place[1])
    .bind(&place[2])
    .bind(&place[3])
    .bind(new.reporter_id)
    .bind(&summary.state)
    .bind(ts_text(first.at))
    .bind(&now)
    .fetch_one(&mut *conn)
    .await?;
    let row = load_case(conn, id).await?.ok_or_else(|| StoreError::NotFound(format!("case {id}")))?;
    for (e, state) in events {
        insert_event(conn, &row, e, state).await?;
    }
    write_summary(conn, id, summary, events.len() as i64).await?;
    if let Some(key) = key {
        sqlx::query("INSERT INTO case_idempotency (key, fingerprint, case_id) VALUES ($1, $2, $3)")
            .bind(key)
            .bind(&fingerprint)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    append(conn, &file_audit(by, id, &number, new)).await?;
    let case = load_case(conn, id).await?.ok_or_else(|| StoreError::NotFound(format!("case {id}")))?;
    Ok(Added { item: case, created: true })
}

/// Appends events to a case inside a transaction, its row locked (their
/// seqs must follow the case's last), with the summary after them and an
/// audit entry each.
async fn append_in(
    conn: &mut PgConnection,
    case_id: i64,
    events: &[(CaseEventRecord, String)],
    summary: &CaseSummary,
    by: &Actor,
) -> Result<()> {
    let case = lock_case(conn, case_id).await?.ok_or_else(|| StoreError::NotFound(format!("case {case_id}")))?;
    for (i, (e, state)) in events.iter().enumerate() {
        if e.seq != case.events + 1 + i as i64 {
            return Err(StoreError::Conflict(format!(
                "case {} changed meanwhile (it has {} events, this would be event {}); reload it and try again",
                case.number, case.events, e.seq
            )));
        }
        insert_event(conn, &case, e, state).await?;
        append(conn, &audit_event(by, case_id, e)).await?;
    }
    if let Some((last, _)) = events.last() {
        write_summary(conn, case_id, summary, last.seq).await?;
    }
    Ok(())
}

impl PgStore {
    pub(super) async fn insert_case(
        &self,
        new: &NewCase,
        first: &CaseEventRecord,
        summary: &CaseSummary,
        key: Option<&str>,
        by: &Actor,
    ) -> Result<Added<CaseRecord>> {
        let mut tx = self.pool.begin().await?;
        let added = file_in(&mut tx, new, &[(first.clone(), summary.state.clone())], summary, key, by).await?;
        tx.commit().await?;
        Ok(added)
    }

    /// Files a call with its case; see [`crate::Store::open_call`].
    pub(super) async fn insert_call(
        &self,
        call: &crate::NewCall,
        new: &NewCase,
        events: &[(CaseEventRecord, String)],
        summary: &CaseSummary,
        key: Option<&str>,
        by: &Actor,
    ) -> Result<Added<crate::CallRecord>> {
        let mut tx = self.pool.begin().await?;
        let added = file_in(&mut tx, new, events, summary, key, by).await?;
        let mut filed = crate::calls::file_calls::<Postgres>(&mut tx, &[(&added, call, key)]).await?;
        let call = filed.pop().unwrap_or_else(|| Err(StoreError::Write("not filed".into())))?;
        tx.commit().await?;
        Ok(call)
    }

    /// One step of a call; see [`crate::Store::update_call`].
    pub(super) async fn change_call(&self, u: &crate::CallUpdate, by: &Actor) -> Result<crate::CallRecord> {
        let mut tx = self.pool.begin().await?;
        let case_id = crate::calls::apply_update::<Postgres>(&mut tx, u).await?;
        if let Some(summary) = &u.summary {
            append_in(&mut tx, case_id, &u.events, summary, by).await?;
        }
        let call = crate::calls::load_call::<Postgres>(&mut tx, u.call_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("call {}", u.call_id)))?;
        tx.commit().await?;
        Ok(call)
    }

    pub(super) async fn add_case_event(
        &self,
        case_id: i64,
        event: &CaseEventRecord,
        summary: &CaseSummary,
        escalation: Option<(jiff::Timestamp, &str)>,
        by: &Actor,
    ) -> Result<CaseRecord> {
        let mut tx = self.pool.begin().await?;
        let case = lock_case(&mut tx, case_id).await?.ok_or_else(|| StoreError::NotFound(format!("case {case_id}")))?;
        if event.seq != case.events + 1 {
            return Err(StoreError::Conflict(format!(
                "case {} changed meanwhile (it has {} events, this would be event {}); reload it and try again",
                case.number, case.events, event.seq
            )));
        }
        if let Some((deadline, level)) = escalation {
            // The claim and the event commit together, and only for the time
            // the case is due now: a clock that read the case before someone
            // acted on it finds it moved on.
            if case.summary.escalate_at.map(ts_text) != Some(ts_text(deadline)) {
                return Err(StoreError::Conflict(format!(
                    "case {} is no longer due for escalation at this time",
                    case.number
                )));
            }
            let done = sqlx::query(
                "INSERT INTO case_escalations (case_id, deadline, level, at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (case_id, deadline) DO NOTHING",
            )
            .bind(case_id)
            .bind(ts_text(deadline))
            .bind(level)
            .bind(ts_text(event.at))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::Conflict(format!("case {} was already escalated for this time", case.number)));
            }
        }
        insert_event(&mut tx, &case, event, &summary.state).await?;
        write_summary(&mut tx, case_id, summary, event.seq).await?;
        append(&mut tx, &audit_event(by, case_id, event)).await?;
        let case = load_case(&mut tx, case_id).await?.ok_or_else(|| StoreError::NotFound(format!("case {case_id}")))?;
        tx.commit().await?;
        Ok(case)
    }

    pub(super) async fn clear_escalation(
        &self,
        case_id: i64,
        events: i64,
        deadline: jiff::Timestamp,
        by: &Actor,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done =
            sqlx::query("UPDATE cases SET escalate_at = NULL WHERE id = $1 AND events = $2 AND escalate_at = $3")
                .bind(case_id)
                .bind(events)
                .bind(ts_text(deadline))
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        append(&mut tx, &drop_escalation_audit(by, case_id, deadline)).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(super) async fn changes_after(&self, after: i64, limit: u32) -> Result<Vec<crate::CaseChange>> {
        changes_after(&self.pool, after, limit).await
    }

    pub(super) async fn case_by_id(&self, id: i64) -> Result<Option<CaseRecord>> {
        let mut conn = self.pool.acquire().await?;
        load_case(&mut conn, id).await
    }

    pub(super) async fn events_of(&self, id: i64) -> Result<Vec<CaseEventRecord>> {
        let rows = sqlx::query("SELECT * FROM case_events WHERE case_id = $1 ORDER BY seq")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    pub(super) async fn list_cases(&self, q: &CaseQuery) -> Result<Page<CaseRecord>> {
        let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) FROM cases WHERE 1 = 1");
        push_case_filters(&mut count, q);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut qb = QueryBuilder::<Postgres>::new("SELECT * FROM cases WHERE 1 = 1");
        push_case_filters(&mut qb, q);
        push_case_page(&mut qb, q);
        let rows = qb.build().fetch_all(&self.pool).await?;
        let mut items = rows.iter().map(case_from_row).collect::<Result<Vec<_>>>()?;
        keep_near(&mut items, q);
        Ok(Page { items, total, limit: q.limit, offset: q.offset })
    }

    pub(super) async fn escalations_due(&self, now: jiff::Timestamp, limit: u32) -> Result<Vec<CaseRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM cases c WHERE c.escalate_at IS NOT NULL AND c.escalate_at < $1 AND c.closed_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM case_escalations e WHERE e.case_id = c.id AND e.deadline = c.escalate_at) \
             ORDER BY c.escalate_at LIMIT $2",
        )
        .bind(ts_text(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(case_from_row).collect()
    }
}

impl PgStore {
    pub(super) async fn insert_attachment(&self, a: &crate::attachments::StoredAttachment, by: &Actor) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let kind = serde_json::to_value(a.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let done = sqlx::query(
            "INSERT INTO attachments (id, kind, size, width, height, uploaded_by, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&a.id)
        .bind(kind)
        .bind(i64::try_from(a.size).unwrap_or(i64::MAX))
        .bind(i64::from(a.width))
        .bind(i64::from(a.height))
        .bind(by.user_id)
        .bind(now_text())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() > 0 {
            let detail = serde_json::json!({ "size": a.size, "width": a.width, "height": a.height });
            append(
                &mut tx,
                &NewAudit {
                    actor: by.clone(),
                    action: "upload_attachment".into(),
                    target: a.id.clone(),
                    detail,
                    reason: None,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn attachment_uploader(&self, id: &str) -> Result<Option<Option<i64>>> {
        Ok(sqlx::query_scalar("SELECT uploaded_by FROM attachments WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub(super) async fn cases_showing(&self, attachment_id: &str) -> Result<Vec<CaseRecord>> {
        let rows = sqlx::query(
            "SELECT c.* FROM cases c JOIN case_attachments a ON a.case_id = c.id WHERE a.attachment_id = $1 ORDER BY c.id",
        )
        .bind(attachment_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(case_from_row).collect()
    }

    pub(super) async fn histories(
        &self,
        within: &civicgrid_domain::UnitCode,
        before: jiff::Timestamp,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, Vec<CaseEventRecord>)>> {
        let rows = crate::schema::histories_query::<Postgres>(within, before, after, limit)
            .build()
            .fetch_all(&self.pool)
            .await?;
        crate::stored::group_histories(&rows)
    }
}

/// The case events after id `after`, by id, at most `limit`.
pub(super) async fn changes_after(pool: &sqlx::PgPool, after: i64, limit: u32) -> Result<Vec<crate::CaseChange>> {
    let rows = sqlx::query(&format!("SELECT {CHANGE_COLUMNS} {CHANGES_AFTER} $1 ORDER BY e.id LIMIT $2"))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    rows.iter().map(change_from_row).collect()
}
