//! The audit log: every write appends a hash-chained entry inside its own
//! transaction; entries are read back filtered and paged, and the chain is
//! checked from the first entry to the last.
//!
//! # The hash of an entry
//!
//! ```text
//! hash = lower-hex( SHA-256( prev_hash || "\n" || line ) )
//! line = canonical JSON of the array
//!        [seq, at, actor, actor_id, ip, action, target, detail, reason]
//! ```
//!
//! `prev_hash` is the previous entry's `hash` (64 `0`s for entry 1) as ASCII
//! hex. `seq` and `actor_id` are JSON integers, `actor_id`, `ip` and `reason`
//! are `null` when absent, `at` is the stored RFC 3339 text (UTC, six
//! fractional digits, e.g. `2026-03-01T08:00:00.000000Z`). Canonical JSON has
//! no whitespace, object keys sorted by their UTF-8 bytes, strings escaped as
//! `serde_json` escapes them and numbers as `serde_json` prints them. Entries
//! are numbered 1, 2, 3 … without gaps.

use super::SqliteStore;
use crate::{AuditEntry, AuditQuery, ChainCheck, NewAudit, Page, Result, StoreError, hex};
use jiff::Timestamp;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

/// `prev_hash` of the first entry.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Now, as the store writes timestamps: fixed width, so text order is time order.
pub(crate) fn now_text() -> String {
    ts_text(Timestamp::now())
}

pub(crate) fn ts_text(t: Timestamp) -> String {
    format!("{t:.6}")
}

/// An optional timestamp column.
pub(crate) fn opt_ts(r: &SqliteRow, col: &str) -> Result<Option<Timestamp>> {
    let s: Option<String> = r.try_get(col)?;
    s.as_deref().map(parse_ts).transpose()
}

pub(crate) fn parse_ts(s: &str) -> Result<Timestamp> {
    s.parse().map_err(|e| StoreError::Corrupt(format!("bad timestamp {s:?}: {e}")))
}

/// Writes `v` as canonical JSON (see the module header).
pub(crate) fn canonical_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Sorted here, whatever order the map keeps (serde_json's
            // `preserve_order` feature may be on somewhere in the build).
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(&map[k], out);
            }
            out.push('}');
        }
    }
}

fn canonical(v: &Value) -> String {
    let mut s = String::new();
    canonical_json(v, &mut s);
    s
}

/// The hash of an entry whose fields are those of `e`, linked to `prev_hash`.
fn entry_hash(prev_hash: &str, e: &AuditEntry, at: &str) -> String {
    let line =
        canonical(&serde_json::json!([e.seq, at, e.actor, e.actor_id, e.ip, e.action, e.target, e.detail, e.reason]));
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(line.as_bytes());
    hex(&h.finalize())
}

/// Appends `new` inside the caller's transaction, which must hold the write
/// lock (`BEGIN IMMEDIATE`) so no other append reads the same chain head.
pub(crate) async fn append(conn: &mut SqliteConnection, new: &NewAudit) -> Result<AuditEntry> {
    let head =
        sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_optional(&mut *conn).await?;
    let (seq, prev_hash) = match head {
        Some(r) => (r.try_get::<i64, _>("seq")? + 1, r.try_get::<String, _>("hash")?),
        None => (1, GENESIS.to_owned()),
    };
    let at_text = now_text();
    let mut entry = AuditEntry {
        seq,
        at: parse_ts(&at_text)?,
        actor: new.actor.username.clone(),
        actor_id: new.actor.user_id,
        ip: new.actor.ip.clone(),
        action: new.action.clone(),
        target: new.target.clone(),
        detail: new.detail.clone(),
        reason: new.reason.clone(),
        prev_hash,
        hash: String::new(),
    };
    entry.hash = entry_hash(&entry.prev_hash, &entry, &at_text);
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, actor_id, ip, action, target, detail, reason, prev_hash, hash) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(entry.seq)
    .bind(&at_text)
    .bind(&entry.actor)
    .bind(entry.actor_id)
    .bind(&entry.ip)
    .bind(&entry.action)
    .bind(&entry.target)
    .bind(canonical(&entry.detail))
    .bind(&entry.reason)
    .bind(&entry.prev_hash)
    .bind(&entry.hash)
    .execute(&mut *conn)
    .await?;
    Ok(entry)
}

/// An entry as stored, with its `at` text exactly as hashed.
fn entry_from_row(r: &SqliteRow) -> Result<(AuditEntry, String)> {
    let at: String = r.try_get("at")?;
    let detail: String = r.try_get("detail")?;
    let entry = AuditEntry {
        seq: r.try_get("seq")?,
        at: parse_ts(&at)?,
        actor: r.try_get("actor")?,
        actor_id: r.try_get("actor_id")?,
        ip: r.try_get("ip")?,
        action: r.try_get("action")?,
        target: r.try_get("target")?,
        detail: serde_json::from_str(&detail)
            .map_err(|e| StoreError::Corrupt(format!("audit entry detail is not JSON: {e}")))?,
        reason: r.try_get("reason")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    };
    Ok((entry, at))
}

/// `AND …` for each filter of `q`.
fn push_filters(qb: &mut QueryBuilder<'_, Sqlite>, q: &AuditQuery) {
    for (col, v) in [("actor", &q.actor), ("action", &q.action), ("target", &q.target)] {
        if let Some(v) = v {
            qb.push(format_args!(" AND {col} = "));
            qb.push_bind(v.clone());
        }
    }
    if let Some(t) = q.since {
        qb.push(" AND at >= ");
        qb.push_bind(ts_text(t));
    }
    if let Some(t) = q.until {
        qb.push(" AND at < ");
        qb.push_bind(ts_text(t));
    }
}

/// Rows read per round trip while checking the chain.
const VERIFY_BATCH: i64 = 5000;

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
        let mut expected_seq = 1i64;
        let mut prev_hash = GENESIS.to_owned();
        loop {
            // Keyset paging keeps memory flat however long the log grows.
            let rows = sqlx::query("SELECT * FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT ?")
                .bind(expected_seq)
                .bind(VERIFY_BATCH)
                .fetch_all(&self.pool)
                .await?;
            if rows.is_empty() {
                return Ok(ChainCheck::Intact { entries: expected_seq - 1 });
            }
            for r in &rows {
                let seq: i64 = r.try_get("seq")?;
                let broken = |reason: String| Ok(ChainCheck::Broken { seq, reason });
                let (e, at) = match entry_from_row(r) {
                    Ok(x) => x,
                    Err(err) => return broken(format!("the entry cannot be read: {err}")),
                };
                if seq != expected_seq {
                    let missing = if seq - 1 == expected_seq {
                        format!("entry {expected_seq} is missing")
                    } else {
                        format!("entries {expected_seq} to {} are missing", seq - 1)
                    };
                    return broken(missing);
                }
                if e.prev_hash != prev_hash {
                    return broken("its prev_hash does not link to the previous entry's hash".into());
                }
                if entry_hash(&e.prev_hash, &e, &at) != e.hash {
                    return broken("its stored hash differs from the hash of its contents".into());
                }
                prev_hash = e.hash;
                expected_seq += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]
    use super::*;

    /// The documented format, checked against a hash computed outside Rust
    /// (Python's `json.dumps(…, separators=(",", ":"), ensure_ascii=False,
    /// sort_keys=True)` and `hashlib.sha256`), so a verifier in any language
    /// can recompute the chain.
    #[test]
    fn the_hash_follows_the_documented_format() {
        let at = "2026-03-01T08:00:00.000000Z";
        let e = AuditEntry {
            seq: 1,
            at: at.parse().unwrap(),
            actor: "system:test".into(),
            actor_id: None,
            ip: None,
            action: "set_setting".into(),
            target: "demo_seed".into(),
            detail: serde_json::json!({"value": "7", "引": "\"", "a": [true, null]}),
            reason: None,
            prev_hash: GENESIS.into(),
            hash: String::new(),
        };
        assert_eq!(ts_text(e.at), at);
        assert_eq!(entry_hash(GENESIS, &e, at), "65c53c3dfbd205f8eebce780e699cc67336c49bcb9fd0d6091f894fd722da6f0");
    }
}
