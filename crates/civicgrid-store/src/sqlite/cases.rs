//! Cases in SQLite: the event log, the summary row rewritten with each event
//! in the same transaction, one escalation per deadline, and idempotent filing.

use super::SqliteStore;
use super::audit::{append, now_text, opt_ts, parse_ts, ts_text};
use crate::cases::*;
use crate::view::{Added, Page};
use crate::{Actor, NewAudit, Result, StoreError};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

/// Metres per degree of latitude, for the bounding box around a point.
const M_PER_DEG: f64 = 111_320.0;

fn case_from_row(r: &SqliteRow) -> Result<CaseRecord> {
    let supervision: i64 = r.try_get("supervision")?;
    let category: String = r.try_get("category")?;
    Ok(CaseRecord {
        id: r.try_get("id")?,
        number: r.try_get("number")?,
        source: r.try_get("source")?,
        category: category.clone(),
        title: r.try_get("title")?,
        description: r.try_get("description")?,
        lat: r.try_get("lat")?,
        lon: r.try_get("lon")?,
        grid: r.try_get("grid_code")?,
        reporter_id: r.try_get("reporter_id")?,
        summary: CaseSummary {
            state: r.try_get("state")?,
            category: Some(category).filter(|c| !c.is_empty()),
            handler_unit: r.try_get("handler_unit")?,
            step_deadline: opt_ts(r, "step_deadline")?,
            escalate_at: opt_ts(r, "escalate_at")?,
            escalation: r.try_get("escalation")?,
            supervision: supervision != 0,
            duplicate_of: r.try_get("duplicate_of")?,
            merged_into: r.try_get("merged_into")?,
            closed_at: opt_ts(r, "closed_at")?,
        },
        events: r.try_get("events")?,
        created_at: parse_ts(r.try_get("created_at")?)?,
        updated_at: parse_ts(r.try_get("updated_at")?)?,
    })
}

fn event_from_row(r: &SqliteRow) -> Result<CaseEventRecord> {
    let data: String = r.try_get("data")?;
    let photos: String = r.try_get("photos")?;
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("case event: {e}"));
    Ok(CaseEventRecord {
        seq: r.try_get("seq")?,
        at: parse_ts(r.try_get("at")?)?,
        actor_id: r.try_get("actor_id")?,
        actor: r.try_get("actor")?,
        role: r.try_get("role")?,
        unit: r.try_get("unit")?,
        kind: r.try_get("kind")?,
        data: serde_json::from_str(&data).map_err(corrupt)?,
        note: r.try_get("note")?,
        photos: serde_json::from_str(&photos).map_err(corrupt)?,
        lat: r.try_get("lat")?,
        lon: r.try_get("lon")?,
    })
}

async fn insert_event(conn: &mut SqliteConnection, case_id: i64, e: &CaseEventRecord) -> Result<()> {
    for photo in &e.photos {
        sqlx::query("INSERT OR IGNORE INTO case_attachments (case_id, attachment_id) VALUES (?, ?)")
            .bind(case_id)
            .bind(photo)
            .execute(&mut *conn)
            .await?;
    }
    let photos = serde_json::to_string(&e.photos).map_err(|x| StoreError::Invalid(x.to_string()))?;
    sqlx::query(
        "INSERT INTO case_events (case_id, seq, at, actor_id, actor, role, unit, kind, data, note, photos, lat, lon) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .execute(&mut *conn)
    .await?;
    Ok(())
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

impl SqliteStore {
    pub(super) async fn insert_case(
        &self,
        new: &NewCase,
        first: &CaseEventRecord,
        summary: &CaseSummary,
        key: Option<&str>,
        by: &Actor,
    ) -> Result<Added<CaseRecord>> {
        if first.seq != 1 {
            return Err(StoreError::Invalid("a case's first event has seq 1".into()));
        }
        let place = super::grid_placement(&new.grid)?;
        let fingerprint = new.fingerprint();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(key) = key {
            let seen = sqlx::query("SELECT fingerprint, case_id FROM case_idempotency WHERE key = ?")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(seen) = seen {
                let earlier: String = seen.try_get("fingerprint")?;
                if earlier != fingerprint {
                    return Err(StoreError::Conflict(format!(
                        "Idempotency-Key {key:?} was already used for a different request"
                    )));
                }
                let id: i64 = seen.try_get("case_id")?;
                let case = load_case(&mut tx, id).await?.ok_or_else(|| StoreError::NotFound(format!("case {id}")))?;
                return Ok(Added { item: case, created: false });
            }
        }
        // Numbers run per district and day in China Standard Time.
        let day = jiff::tz::offset(8).to_datetime(first.at).strftime("%Y%m%d").to_string();
        let prefix = format!("{}-{day}-", place[0]);
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM cases WHERE number LIKE ? || '%'")
            .bind(&prefix)
            .fetch_one(&mut *tx)
            .await?;
        let number = format!("{prefix}{:06}", n + 1);
        let now = now_text();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO cases (number, source, category, title, description, lat, lon, district_code, street_code, \
             community_code, grid_code, reporter_id, state, events, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?) RETURNING id",
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
        .fetch_one(&mut *tx)
        .await?;
        insert_event(&mut tx, id, first).await?;
        write_summary(&mut tx, id, summary, 1).await?;
        if let Some(key) = key {
            sqlx::query("INSERT INTO case_idempotency (key, fingerprint, case_id) VALUES (?, ?, ?)")
                .bind(key)
                .bind(&fingerprint)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        append(
            &mut tx,
            &NewAudit {
                actor: by.clone(),
                action: "file_case".into(),
                target: format!("case:{id}"),
                detail: serde_json::json!({ "number": number, "source": new.source, "category": new.category }),
                reason: None,
            },
        )
        .await?;
        let case = load_case(&mut tx, id).await?.ok_or_else(|| StoreError::NotFound(format!("case {id}")))?;
        tx.commit().await?;
        Ok(Added { item: case, created: true })
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
        insert_event(&mut tx, case_id, event).await?;
        write_summary(&mut tx, case_id, summary, event.seq).await?;
        append(&mut tx, &audit_event(by, case_id, event)).await?;
        let case = load_case(&mut tx, case_id).await?.ok_or_else(|| StoreError::NotFound(format!("case {case_id}")))?;
        tx.commit().await?;
        Ok(case)
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
        let filter = |qb: &mut QueryBuilder<'_, Sqlite>| {
            if let Some(unit) = &q.within {
                qb.push(format_args!(" AND {} = ", super::level_col(unit.level())));
                qb.push_bind(unit.as_str().to_owned());
            }
            if !q.states.is_empty() {
                qb.push(" AND state IN (");
                let mut sep = qb.separated(", ");
                for s in &q.states {
                    sep.push_bind(s.clone());
                }
                qb.push(")");
            }
            for (col, v) in [("category", &q.category), ("source", &q.source)] {
                if let Some(v) = v {
                    qb.push(format_args!(" AND {col} = "));
                    qb.push_bind(v.clone());
                }
            }
            if let Some(r) = q.reporter_id {
                qb.push(" AND reporter_id = ");
                qb.push_bind(r);
            }
            if let Some(t) = q.overdue_at {
                qb.push(" AND step_deadline < ");
                qb.push_bind(ts_text(t));
            }
            for (op, t) in [(">=", q.created_since), ("<", q.created_until)] {
                if let Some(t) = t {
                    qb.push(format_args!(" AND created_at {op} "));
                    qb.push_bind(ts_text(t));
                }
            }
            if q.open_only {
                qb.push(" AND closed_at IS NULL AND merged_into IS NULL AND state <> 'voided'");
            }
            if let Some((lat, lon, m)) = q.near {
                // A box around the point here; the exact distance after.
                let dlat = m / M_PER_DEG;
                let dlon = m / (M_PER_DEG * lat.to_radians().cos().max(0.01));
                qb.push(" AND lat BETWEEN ");
                qb.push_bind(lat - dlat);
                qb.push(" AND ");
                qb.push_bind(lat + dlat);
                qb.push(" AND lon BETWEEN ");
                qb.push_bind(lon - dlon);
                qb.push(" AND ");
                qb.push_bind(lon + dlon);
            }
        };
        let mut count = QueryBuilder::<Sqlite>::new("SELECT count(*) FROM cases WHERE 1 = 1");
        filter(&mut count);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT * FROM cases WHERE 1 = 1");
        filter(&mut qb);
        qb.push(" ORDER BY created_at DESC, id DESC LIMIT ");
        qb.push_bind(i64::from(q.limit.clamp(1, 10_000)));
        qb.push(" OFFSET ");
        qb.push_bind(i64::from(q.offset));
        let rows = qb.build().fetch_all(&self.pool).await?;
        let mut items = rows.iter().map(case_from_row).collect::<Result<Vec<_>>>()?;
        if let Some((lat, lon, m)) = q.near {
            items.retain(|c| match (civicgrid_geo::LatLng::new(lat, lon), civicgrid_geo::LatLng::new(c.lat, c.lon)) {
                (Ok(a), Ok(b)) => a.haversine_m(b) <= m,
                _ => false,
            });
        }
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
    ) -> Result<Vec<Vec<CaseEventRecord>>> {
        let rows = sqlx::query(&format!(
            "SELECT e.* FROM case_events e JOIN cases c ON c.id = e.case_id \
             WHERE c.{} = ? AND c.created_at < ? ORDER BY e.case_id, e.seq",
            super::level_col(within.level())
        ))
        .bind(within.as_str())
        .bind(ts_text(before))
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<Vec<CaseEventRecord>> = Vec::new();
        let mut last = None;
        for r in &rows {
            let case_id: i64 = r.try_get("case_id")?;
            if last != Some(case_id) {
                out.push(Vec::new());
                last = Some(case_id);
            }
            if let Some(h) = out.last_mut() {
                h.push(event_from_row(r)?);
            }
        }
        Ok(out)
    }
}
