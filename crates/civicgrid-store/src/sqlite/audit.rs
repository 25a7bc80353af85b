//! The audit log in SQLite: every write appends a hash-chained entry inside
//! its own transaction (the chain's format is in `audit_chain`); entries are
//! read back filtered and paged, and the chain is checked from the first
//! entry to the last.

use super::SqliteStore;
use crate::audit_chain::{ChainWalk, VERIFY_BATCH, detail_text, entry_from_row, next_entry, push_filters};
use crate::{AuditEntry, AuditQuery, ChainCheck, NewAudit, Page, Result};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

/// Appends `new` inside the caller's transaction, which must hold the write
/// lock (`BEGIN IMMEDIATE`) so no other append reads the same chain head.
pub(crate) async fn append(conn: &mut SqliteConnection, new: &NewAudit) -> Result<AuditEntry> {
    let mut entries = append_all(conn, std::slice::from_ref(new)).await?;
    entries.pop().ok_or_else(|| crate::StoreError::Write("no audit entry written".into()))
}

/// Appends entries in order, chained in memory from the head read once and
/// written in one statement per few hundred.
pub(crate) async fn append_all(conn: &mut SqliteConnection, news: &[NewAudit]) -> Result<Vec<AuditEntry>> {
    if news.is_empty() {
        return Ok(Vec::new());
    }
    let head =
        sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_optional(&mut *conn).await?;
    let mut head = head.map(|r| Ok::<_, sqlx::Error>((r.try_get("seq")?, r.try_get("hash")?))).transpose()?;
    let mut written = Vec::with_capacity(news.len());
    for new in news {
        let (entry, at_text) = next_entry(head.take(), new)?;
        head = Some((entry.seq, entry.hash.clone()));
        written.push((entry, at_text));
    }
    for chunk in written.chunks(500) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO audit_log (seq, at, actor, actor_id, ip, action, target, detail, reason, prev_hash, hash) ",
        );
        qb.push_values(chunk, |mut b, (entry, at_text)| {
            b.push_bind(entry.seq)
                .push_bind(at_text.clone())
                .push_bind(entry.actor.clone())
                .push_bind(entry.actor_id)
                .push_bind(entry.ip.clone())
                .push_bind(entry.action.clone())
                .push_bind(entry.target.clone())
                .push_bind(detail_text(entry))
                .push_bind(entry.reason.clone())
                .push_bind(entry.prev_hash.clone())
                .push_bind(entry.hash.clone());
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(written.into_iter().map(|(e, _)| e).collect())
}

impl SqliteStore {
    pub(super) async fn append_audit_entry(&self, entry: &NewAudit) -> Result<AuditEntry> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let e = append(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(e)
    }

    pub(super) async fn audit_page(&self, q: &AuditQuery) -> Result<Page<AuditEntry>> {
        let mut count = QueryBuilder::<Sqlite>::new("SELECT count(*) FROM audit_log WHERE 1 = 1");
        push_filters(&mut count, q);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT * FROM audit_log WHERE 1 = 1");
        push_filters(&mut qb, q);
        qb.push(" ORDER BY seq DESC LIMIT ");
        qb.push_bind(i64::from(q.limit.min(crate::ListQuery::MAX_LIMIT)));
        qb.push(" OFFSET ");
        qb.push_bind(i64::from(q.offset));
        let rows = qb.build().fetch_all(&self.pool).await?;
        let items = rows.iter().map(|r| entry_from_row(r).map(|(e, _)| e)).collect::<Result<_>>()?;
        Ok(Page { items, total, limit: q.limit, offset: q.offset })
    }

    pub(super) async fn verify_chain(&self) -> Result<ChainCheck> {
        let mut walk = ChainWalk::new();
        loop {
            // Keyset paging keeps memory flat however long the log grows.
            let rows = sqlx::query("SELECT * FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT ?")
                .bind(walk.expected_seq)
                .bind(VERIFY_BATCH)
                .fetch_all(&self.pool)
                .await?;
            if rows.is_empty() {
                return Ok(walk.end());
            }
            for r in &rows {
                if let Some(broken) = walk.step(r)? {
                    return Ok(broken);
                }
            }
        }
    }
}
