//! Cases written with their whole histories at once: a synthetic year for the
//! demo, or cases migrated from another system. Multi-row INSERTs inside one
//! transaction, like the district import, instead of one transaction per event.

use super::SqliteStore;
use super::audit::append;
use super::cases::{INSERT_EVENTS, push_event};
use crate::cases::{CaseEventRecord, ImportedCase};
use crate::schema::{case_number_prefix, check_imported_case};
use crate::stored::ts_text;
use crate::{Actor, NewAudit, Progress, Result};
use sqlx::{QueryBuilder, Sqlite};
use std::collections::HashMap;

/// One case as its row is written: its id and number assigned here.
struct Row<'a> {
    id: i64,
    number: String,
    place: [String; 4],
    imported: &'a ImportedCase,
}

/// An imported event as its row is written: its case's id, the event, and
/// the case's state when it is the case's last.
type EventRow<'a> = (i64, &'a CaseEventRecord, Option<&'a str>);

/// Rows of `case_attachments` per INSERT; two binds each.
const LINKS: usize = 1000;

impl SqliteStore {
    pub(super) async fn insert_imported_cases(
        &self,
        cases: &[ImportedCase],
        progress: Progress<'_>,
        by: &Actor,
    ) -> Result<()> {
        let places = cases.iter().map(check_imported_case).collect::<Result<Vec<_>>>()?;
        let Some(first) = cases.first() else { return Ok(()) };
        let events: usize = cases.iter().map(|c| c.events.len()).sum();
        let total = (cases.len() + events) as u64;
        let mut done = 0u64;
        // IMMEDIATE: ids, numbers and the audit chain head must not move before this commits.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let first_id: i64 =
            sqlx::query_scalar("SELECT coalesce(max(id), 0) + 1 FROM cases").fetch_one(&mut *tx).await?;
        // Numbers run per district and day in China Standard Time, after those
        // already given that day (a range over the unique index on number).
        let mut next: HashMap<String, i64> = HashMap::new();
        let mut rows = Vec::with_capacity(cases.len());
        for ((imported, place), id) in cases.iter().zip(places).zip(first_id..) {
            let prefix = case_number_prefix(&place[0], imported.events[0].at);
            let n = match next.get_mut(&prefix) {
                Some(n) => n,
                None => {
                    let filed: i64 = sqlx::query_scalar("SELECT count(*) FROM cases WHERE number >= ? AND number < ?")
                        .bind(&prefix)
                        // ':' follows the digits in ASCII: the end of this day's numbers.
                        .bind(format!("{prefix}:"))
                        .fetch_one(&mut *tx)
                        .await?;
                    next.entry(prefix.clone()).or_insert(filed)
                }
            };
            *n += 1;
            rows.push(Row { id, number: format!("{prefix}{n:06}"), place, imported });
        }
        Self::bulk(
            &mut tx,
            "INSERT INTO cases (id, number, source, category, title, description, lat, lon, district_code, \
             street_code, community_code, grid_code, reporter_id, state, handler_unit, step_deadline, escalate_at, \
             escalation, supervision, duplicate_of, merged_into, events, created_at, updated_at, closed_at) ",
            &rows,
            |b, r| {
                let (c, s) = (&r.imported.case, &r.imported.summary);
                let category = s.category.as_deref().unwrap_or(&c.category);
                let (first, last) = (&r.imported.events[0], &r.imported.events[r.imported.events.len() - 1]);
                b.push_bind(r.id)
                    .push_bind(r.number.as_str())
                    .push_bind(c.source.as_str())
                    .push_bind(category)
                    .push_bind(c.title.as_str())
                    .push_bind(c.description.as_str())
                    .push_bind(c.lat)
                    .push_bind(c.lon);
                for code in &r.place {
                    b.push_bind(code.as_str());
                }
                b.push_bind(c.reporter_id)
                    .push_bind(s.state.as_str())
                    .push_bind(s.handler_unit.as_deref())
                    .push_bind(s.step_deadline.map(ts_text))
                    .push_bind(s.escalate_at.map(ts_text))
                    .push_bind(s.escalation.as_deref())
                    .push_bind(s.supervision)
                    .push_bind(s.duplicate_of)
                    .push_bind(s.merged_into)
                    .push_bind(last.seq)
                    .push_bind(ts_text(first.at))
                    .push_bind(ts_text(last.at))
                    .push_bind(s.closed_at.map(ts_text));
            },
            &mut done,
            total,
            progress,
        )
        .await?;
        // The events take the next global ids; each case's last event knows its state.
        let first_event: i64 =
            sqlx::query_scalar("SELECT coalesce(max(id), 0) + 1 FROM case_events").fetch_one(&mut *tx).await?;
        let events: Vec<EventRow<'_>> = rows
            .iter()
            .flat_map(|r| {
                let last = r.imported.events.len() - 1;
                let state = r.imported.summary.state.as_str();
                r.imported.events.iter().enumerate().map(move |(i, e)| (r.id, e, (i == last).then_some(state)))
            })
            .collect();
        let numbered: Vec<(i64, &EventRow<'_>)> = (first_event..).zip(&events).collect();
        Self::bulk(
            &mut tx,
            INSERT_EVENTS,
            &numbered,
            |b, (id, (case_id, e, state))| push_event(b, *id, *case_id, e, *state),
            &mut done,
            total,
            progress,
        )
        .await?;
        // Only photos uploaded here can be linked; a migrated history may name others.
        let photos: Vec<(i64, &str)> =
            events.iter().flat_map(|(id, e, _)| e.photos.iter().map(move |p| (*id, p.as_str()))).collect();
        for chunk in photos.chunks(LINKS) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT OR IGNORE INTO case_attachments (case_id, attachment_id) SELECT v.column1, v.column2 FROM (",
            );
            qb.push_values(chunk, |mut b, (id, photo)| {
                b.push_bind(*id).push_bind(*photo);
            });
            qb.push(") AS v JOIN attachments a ON a.id = v.column2");
            qb.build().execute(&mut *tx).await?;
        }
        let last = rows.last().map_or(first_id, |r| r.id);
        let detail = serde_json::json!({
            "cases": rows.len(),
            "events": events.len(),
            "first_id": first_id,
            "last_id": last,
            "first_number": rows.first().map(|r| r.number.as_str()),
            "last_number": rows.last().map(|r| r.number.as_str()),
        });
        let target = first.case.grid.at_level(civicgrid_domain::Level::District).map_or_else(String::new, String::from);
        append(&mut tx, &NewAudit { actor: by.clone(), action: "import_cases".into(), target, detail, reason: None })
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
