//! Cases in SQLite: the event log, the summary row rewritten with each event
//! in the same transaction, one escalation per deadline, and idempotent filing.

use super::SqliteStore;
use super::audit::{append, append_all};
use crate::cases::*;
use crate::feed::{CHANGE_COLUMNS, CHANGES_AFTER, CaseChange, change_from_row, change_of};
use crate::schema::{
    case_number, case_number_prefix, check_first_events, keep_near, key_reused, next_case_seq, push_case_filters,
    push_case_page,
};
use crate::stored::{case_from_row, event_from_row, now_text, ts_text};
use crate::view::{Added, Page};
use crate::{Actor, NewAudit, Result, StoreError};
use sqlx::query_builder::Separated;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

/// Inserts events of a case with the next global ids (writers take turns
/// on SQLite, so ids follow the order of commits), each with the case's
/// state after it, in one statement; their ids.
async fn insert_events(
    conn: &mut SqliteConnection,
    case_id: i64,
    events: &[(CaseEventRecord, String)],
) -> Result<Vec<i64>> {
    Ok(insert_events_of(conn, &[(case_id, events)]).await?.pop().unwrap_or_default())
}

/// The head of a multi-row INSERT of events, for [`push_event`].
pub(super) const INSERT_EVENTS: &str = "INSERT INTO case_events (id, case_id, seq, at, actor_id, actor, role, unit, kind, data, note, photos, lat, lon, state) ";

/// One row of [`INSERT_EVENTS`]: event `id` of case `case_id`, with the
/// case's state after it when known.
pub(super) fn push_event<'a>(
    b: &mut Separated<'_, 'a, Sqlite, &'static str>,
    id: i64,
    case_id: i64,
    e: &'a CaseEventRecord,
    state: Option<&'a str>,
) {
    b.push_bind(id)
        .push_bind(case_id)
        .push_bind(e.seq)
        .push_bind(ts_text(e.at))
        .push_bind(e.actor_id)
        .push_bind(e.actor.as_str())
        .push_bind(e.role.as_str())
        .push_bind(e.unit.as_str())
        .push_bind(e.kind.as_str())
        .push_bind(e.data.to_string())
        .push_bind(e.note.as_str())
        .push_bind(serde_json::json!(e.photos).to_string())
        .push_bind(e.lat)
        .push_bind(e.lon)
        .push_bind(state);
}

/// [`insert_events`] for several cases at once, a statement per thousand
/// events; the ids of each case's events.
async fn insert_events_of(
    conn: &mut SqliteConnection,
    cases: &[(i64, &[(CaseEventRecord, String)])],
) -> Result<Vec<Vec<i64>>> {
    let mut rows = Vec::new();
    for (case_id, events) in cases {
        for (e, state) in events.iter() {
            for photo in &e.photos {
                sqlx::query("INSERT OR IGNORE INTO case_attachments (case_id, attachment_id) VALUES (?, ?)")
                    .bind(case_id)
                    .bind(photo)
                    .execute(&mut *conn)
                    .await?;
            }
            rows.push((*case_id, e, state.as_str()));
        }
    }
    let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM case_events").fetch_one(&mut *conn).await?;
    let mut next = last;
    for chunk in rows.chunks(1000) {
        let mut qb = QueryBuilder::<Sqlite>::new(INSERT_EVENTS);
        qb.push_values(chunk, |mut b, (case_id, e, state)| {
            next += 1;
            push_event(&mut b, next, *case_id, e, Some(state));
        });
        qb.build().execute(&mut *conn).await?;
    }
    let mut id = last;
    Ok(cases
        .iter()
        .map(|(_, events)| {
            events
                .iter()
                .map(|_| {
                    id += 1;
                    id
                })
                .collect()
        })
        .collect())
}

async fn write_summary(conn: &mut SqliteConnection, case_id: i64, s: &CaseSummary, events: i64) -> Result<()> {
    sqlx::query(
        "UPDATE cases SET state = ?, category = COALESCE(?, category), handler_unit = ?, step_deadline = ?, escalate_at = ?, escalation = ?, \
         supervision = ?, duplicate_of = ?, merged_into = ?, closed_at = ?, events = ?, updated_at = ? WHERE id = ?",
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

async fn load_case(conn: &mut SqliteConnection, id: i64) -> Result<Option<CaseRecord>> {
    let row = sqlx::query("SELECT * FROM cases WHERE id = ?").bind(id).fetch_optional(&mut *conn).await?;
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

/// A case to file: its row, its first events (each with the state after
/// it), the summary after them, the idempotency key and who files it.
#[derive(Clone, Copy)]
pub(super) struct Filing<'a> {
    pub new: &'a NewCase,
    pub events: &'a [(CaseEventRecord, String)],
    pub summary: &'a CaseSummary,
    pub key: Option<&'a str>,
    pub by: &'a Actor,
}

impl Filing<'_> {
    /// The case's district, street, community and grid, once it is known
    /// fit to file.
    fn check(&self) -> Result<[String; 4]> {
        check_first_events(self.events)?;
        crate::schema::grid_placement(&self.new.grid)
    }
}

/// Files cases inside a transaction, together, in a few statements for all
/// of them: the rows with their summaries, the events, the keys and the
/// audit entries. A key used before answers with the case it filed (and
/// no changes), as does a key used twice in the batch; one used for a
/// different request is refused. One answer per filing, in order, and the
/// notices to tell once it commits; an error of the database fails all.
pub(super) async fn file_all_in(
    conn: &mut SqliteConnection,
    filings: &[Filing<'_>],
) -> Result<(Vec<Result<Added<CaseRecord>>>, Vec<CaseChange>)> {
    use std::collections::HashMap;
    let checked: Vec<Result<[String; 4]>> = filings.iter().map(Filing::check).collect();
    let mut places: Vec<Option<[String; 4]>> = Vec::with_capacity(filings.len());
    let mut out: Vec<Option<Result<Added<CaseRecord>>>> = Vec::with_capacity(filings.len());
    for c in checked {
        match c {
            Ok(place) => {
                places.push(Some(place));
                out.push(None);
            }
            Err(e) => {
                places.push(None);
                out.push(Some(Err(e)));
            }
        }
    }
    let fingerprints: Vec<String> = filings.iter().map(|f| f.new.fingerprint()).collect();
    // Keys used before.
    let keys: Vec<&str> = filings.iter().zip(&out).filter(|(_, o)| o.is_none()).filter_map(|(f, _)| f.key).collect();
    let mut seen: HashMap<String, (String, i64)> = HashMap::new();
    for chunk in keys.chunks(500) {
        let mut qb =
            QueryBuilder::<Sqlite>::new("SELECT key, fingerprint, case_id FROM case_idempotency WHERE key IN (");
        let mut list = qb.separated(", ");
        for key in chunk {
            list.push_bind(*key);
        }
        qb.push(")");
        for row in qb.build().fetch_all(&mut *conn).await? {
            seen.insert(row.try_get("key")?, (row.try_get("fingerprint")?, row.try_get("case_id")?));
        }
    }
    let mut fresh = Vec::new();
    let mut again = Vec::new();
    let mut first_of: HashMap<&str, usize> = HashMap::new();
    for (i, f) in filings.iter().enumerate() {
        if out[i].is_some() {
            continue;
        }
        let Some(key) = f.key else {
            fresh.push(i);
            continue;
        };
        if let Some((earlier, case_id)) = seen.get(key) {
            out[i] = Some(if *earlier == fingerprints[i] {
                load_case(conn, *case_id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("case {case_id}")))
                    .map(|item| Added { item, created: false })
            } else {
                Err(key_reused(key))
            });
        } else if let Some(&j) = first_of.get(key) {
            again.push((i, j));
        } else {
            first_of.insert(key, i);
            fresh.push(i);
        }
    }
    // Numbers run per district and day in China Standard Time.
    let mut numbers = Vec::with_capacity(fresh.len());
    let mut last: HashMap<String, i64> = HashMap::new();
    for &i in &fresh {
        let district = places[i].as_ref().map_or("", |p| p[0].as_str());
        let prefix = case_number_prefix(district, filings[i].events[0].0.at);
        let n = match last.get(&prefix) {
            Some(n) => n + 1,
            None => next_case_seq::<Sqlite>(conn, &prefix).await?,
        };
        numbers.push(case_number(&prefix, n));
        last.insert(prefix, n);
    }
    // The rows with their summaries, read back as they were written.
    let now = now_text();
    let mut cases: HashMap<String, CaseRecord> = HashMap::new();
    let rows: Vec<_> = fresh.iter().zip(&numbers).filter_map(|(&i, n)| Some(((i, n), places[i].as_ref()?))).collect();
    for chunk in rows.chunks(400) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO cases (number, source, category, title, description, lat, lon, district_code, street_code, \
             community_code, grid_code, reporter_id, state, handler_unit, step_deadline, escalate_at, escalation, \
             supervision, duplicate_of, merged_into, closed_at, events, created_at, updated_at) ",
        );
        qb.push_values(chunk, |mut b, ((i, number), place)| {
            let f = &filings[*i];
            let (new, s) = (f.new, f.summary);
            b.push_bind((*number).clone())
                .push_bind(new.source.clone())
                .push_bind(s.category.clone().unwrap_or_else(|| new.category.clone()))
                .push_bind(new.title.clone())
                .push_bind(new.description.clone())
                .push_bind(new.lat)
                .push_bind(new.lon)
                .push_bind(place[0].clone())
                .push_bind(place[1].clone())
                .push_bind(place[2].clone())
                .push_bind(place[3].clone())
                .push_bind(new.reporter_id)
                .push_bind(s.state.clone())
                .push_bind(s.handler_unit.clone())
                .push_bind(s.step_deadline.map(ts_text))
                .push_bind(s.escalate_at.map(ts_text))
                .push_bind(s.escalation.clone())
                .push_bind(s.supervision)
                .push_bind(s.duplicate_of)
                .push_bind(s.merged_into)
                .push_bind(s.closed_at.map(ts_text))
                .push_bind(f.events.len() as i64)
                .push_bind(ts_text(f.events[0].0.at))
                .push_bind(now.clone());
        });
        qb.push(" RETURNING *");
        // RETURNING gives rows in no promised order: matched by number.
        for row in qb.build().fetch_all(&mut *conn).await? {
            let case = case_from_row(&row)?;
            cases.insert(case.number.clone(), case);
        }
    }
    let filed: Vec<&CaseRecord> = numbers
        .iter()
        .map(|n| cases.get(n).ok_or_else(|| StoreError::Write(format!("case {n} was not written"))))
        .collect::<Result<_>>()?;
    let of_cases: Vec<(i64, &[(CaseEventRecord, String)])> =
        fresh.iter().zip(&filed).map(|(&i, c)| (c.id, filings[i].events)).collect();
    let ids = insert_events_of(conn, &of_cases).await?;
    let keyed: Vec<(&str, &String, i64)> =
        fresh.iter().zip(&filed).filter_map(|(&i, c)| filings[i].key.map(|k| (k, &fingerprints[i], c.id))).collect();
    for chunk in keyed.chunks(1000) {
        let mut qb = QueryBuilder::<Sqlite>::new("INSERT INTO case_idempotency (key, fingerprint, case_id) ");
        qb.push_values(chunk, |mut b, (key, fingerprint, id)| {
            b.push_bind(*key).push_bind((*fingerprint).clone()).push_bind(*id);
        });
        qb.build().execute(&mut *conn).await?;
    }
    let audits: Vec<NewAudit> =
        fresh.iter().zip(&filed).map(|(&i, c)| file_audit(filings[i].by, c.id, &c.number, filings[i].new)).collect();
    append_all(conn, &audits).await?;
    let mut changes = Vec::new();
    for ((&i, case), ids) in fresh.iter().zip(&filed).zip(&ids) {
        changes.extend(changes_of(case, ids, filings[i].events));
        out[i] = Some(Ok(Added { item: (*case).clone(), created: true }));
    }
    for (i, j) in again {
        out[i] = Some(match &out[j] {
            Some(Ok(first)) if fingerprints[i] == fingerprints[j] => {
                Ok(Added { item: first.item.clone(), created: false })
            }
            _ => Err(key_reused(filings[i].key.unwrap_or_default())),
        });
    }
    let out = out.into_iter().map(|o| o.unwrap_or_else(|| Err(StoreError::Write("not filed".into())))).collect();
    Ok((out, changes))
}

/// Files one case inside a transaction; see [`file_all_in`].
async fn file_in(conn: &mut SqliteConnection, f: Filing<'_>) -> Result<(Added<CaseRecord>, Vec<CaseChange>)> {
    let (mut out, changes) = file_all_in(conn, &[f]).await?;
    Ok((out.pop().unwrap_or_else(|| Err(StoreError::Write("not filed".into())))?, changes))
}

/// Files calls with their cases inside a transaction, together; see
/// [`crate::Store::open_call`]. One answer per call, and the notices to
/// tell once it commits.
pub(super) async fn calls_in(
    conn: &mut SqliteConnection,
    calls: &[(&crate::NewCall, Filing<'_>)],
) -> Result<(Vec<Result<Added<crate::CallRecord>>>, Vec<CaseChange>)> {
    let filings: Vec<Filing<'_>> = calls.iter().map(|(_, f)| *f).collect();
    let (cases, changes) = file_all_in(conn, &filings).await?;
    let filed: Vec<_> = calls
        .iter()
        .zip(&cases)
        .filter_map(|((call, f), case)| case.as_ref().ok().map(|case| (case, *call, f.key)))
        .collect();
    let mut made = crate::calls::file_calls::<Sqlite>(conn, &filed).await?.into_iter();
    let out = cases
        .into_iter()
        .map(|case| match case {
            Ok(_) => made.next().unwrap_or_else(|| Err(StoreError::Write("not filed".into()))),
            Err(e) => Err(e),
        })
        .collect();
    Ok((out, changes))
}

/// The feed's notices of events just written with these ids.
fn changes_of(case: &CaseRecord, ids: &[i64], events: &[(CaseEventRecord, String)]) -> Vec<CaseChange> {
    ids.iter()
        .zip(events)
        .map(|(id, (e, state))| {
            let mut c = change_of(*id, case, e);
            c.state = Some(state.clone());
            c
        })
        .collect()
}

/// Appends events to a case inside a transaction (their seqs must follow
/// the case's last), with the summary after them and an audit entry each.
pub(super) async fn append_in(
    conn: &mut SqliteConnection,
    case_id: i64,
    events: &[(CaseEventRecord, String)],
    summary: &CaseSummary,
    by: &Actor,
) -> Result<Vec<CaseChange>> {
    let case = load_case(conn, case_id).await?.ok_or_else(|| StoreError::NotFound(format!("case {case_id}")))?;
    for (i, (e, _)) in events.iter().enumerate() {
        if e.seq != case.events + 1 + i as i64 {
            return Err(StoreError::Conflict(format!(
                "case {} changed meanwhile (it has {} events, this would be event {}); reload it and try again",
                case.number, case.events, e.seq
            )));
        }
    }
    let ids = if events.is_empty() { Vec::new() } else { insert_events(conn, case_id, events).await? };
    for (e, _) in events {
        append(conn, &audit_event(by, case_id, e)).await?;
    }
    if let Some((last, _)) = events.last() {
        write_summary(conn, case_id, summary, last.seq).await?;
    }
    let case = load_case(conn, case_id).await?.ok_or_else(|| StoreError::NotFound(format!("case {case_id}")))?;
    Ok(changes_of(&case, &ids, events))
}

impl SqliteStore {
    pub(super) async fn insert_case(
        &self,
        new: &NewCase,
        first: &CaseEventRecord,
        summary: &CaseSummary,
        key: Option<&str>,
        by: &Actor,
    ) -> Result<Added<CaseRecord>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let (added, changes) =
            file_in(&mut tx, Filing { new, events: &[(first.clone(), summary.state.clone())], summary, key, by })
                .await?;
        if added.created {
            self.feed.commit(tx, changes).await?;
        }
        Ok(added)
    }

    /// One step of a call; see [`crate::Store::update_call`].
    pub(super) async fn change_call(&self, u: &crate::CallUpdate, by: &Actor) -> Result<crate::CallRecord> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let case_id = crate::calls::apply_update::<Sqlite>(&mut tx, u).await?;
        let changes = match &u.summary {
            Some(summary) => append_in(&mut tx, case_id, &u.events, summary, by).await?,
            None => Vec::new(),
        };
        let call = crate::calls::load_call::<Sqlite>(&mut tx, u.call_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("call {}", u.call_id)))?;
        self.feed.commit(tx, changes).await?;
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let case = load_case(&mut tx, case_id).await?.ok_or_else(|| StoreError::NotFound(format!("case {case_id}")))?;
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
                "INSERT INTO case_escalations (case_id, deadline, level, at) VALUES (?, ?, ?, ?) \
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
        let event_id = insert_events(&mut tx, case_id, &[(event.clone(), summary.state.clone())]).await?[0];
        write_summary(&mut tx, case_id, summary, event.seq).await?;
        append(&mut tx, &audit_event(by, case_id, event)).await?;
        let case = load_case(&mut tx, case_id).await?.ok_or_else(|| StoreError::NotFound(format!("case {case_id}")))?;
        self.feed.commit(tx, vec![change_of(event_id, &case, event)]).await?;
        Ok(case)
    }

    pub(super) async fn clear_escalation(
        &self,
        case_id: i64,
        events: i64,
        deadline: jiff::Timestamp,
        by: &Actor,
    ) -> Result<bool> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query("UPDATE cases SET escalate_at = NULL WHERE id = ? AND events = ? AND escalate_at = ?")
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

    pub(super) async fn changes_after(&self, after: i64, limit: u32) -> Result<Vec<CaseChange>> {
        let rows = sqlx::query(&format!("SELECT {CHANGE_COLUMNS} {CHANGES_AFTER} ? ORDER BY e.id LIMIT ?"))
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(change_from_row).collect()
    }

    pub(super) async fn case_by_id(&self, id: i64) -> Result<Option<CaseRecord>> {
        let mut conn = self.pool.acquire().await?;
        load_case(&mut conn, id).await
    }

    pub(super) async fn events_of(&self, id: i64) -> Result<Vec<CaseEventRecord>> {
        let rows = sqlx::query("SELECT * FROM case_events WHERE case_id = ? ORDER BY seq")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    pub(super) async fn list_cases(&self, q: &CaseQuery) -> Result<Page<CaseRecord>> {
        let mut count = QueryBuilder::<Sqlite>::new("SELECT count(*) FROM cases WHERE 1 = 1");
        push_case_filters(&mut count, q);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT * FROM cases WHERE 1 = 1");
        push_case_filters(&mut qb, q);
        push_case_page(&mut qb, q);
        let rows = qb.build().fetch_all(&self.pool).await?;
        let mut items = rows.iter().map(case_from_row).collect::<Result<Vec<_>>>()?;
        keep_near(&mut items, q);
        Ok(Page { items, total, limit: q.limit, offset: q.offset })
    }

    pub(super) async fn escalations_due(&self, now: jiff::Timestamp, limit: u32) -> Result<Vec<CaseRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM cases c WHERE c.escalate_at IS NOT NULL AND c.escalate_at < ? AND c.closed_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM case_escalations e WHERE e.case_id = c.id AND e.deadline = c.escalate_at) \
             ORDER BY c.escalate_at LIMIT ?",
        )
        .bind(ts_text(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(case_from_row).collect()
    }
}

impl SqliteStore {
    pub(super) async fn insert_attachment(&self, a: &crate::attachments::StoredAttachment, by: &Actor) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let kind = serde_json::to_value(a.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let done = sqlx::query(
            "INSERT OR IGNORE INTO attachments (id, kind, size, width, height, uploaded_by, uploaded_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
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
        Ok(sqlx::query_scalar("SELECT uploaded_by FROM attachments WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub(super) async fn cases_showing(&self, attachment_id: &str) -> Result<Vec<CaseRecord>> {
        let rows = sqlx::query(
            "SELECT c.* FROM cases c JOIN case_attachments a ON a.case_id = c.id WHERE a.attachment_id = ? ORDER BY c.id",
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
        let rows = crate::schema::histories_query::<Sqlite>(within, before, after, limit)
            .build()
            .fetch_all(&self.pool)
            .await?;
        crate::stored::group_histories(&rows)
    }
}
