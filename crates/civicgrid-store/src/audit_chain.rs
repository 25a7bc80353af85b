//! The audit chain as both backends keep it: how an entry's hash is made, the
//! next entry after a chain head, an entry read back from a row, the filters
//! of the log's queries, and the walk that checks the chain from the first
//! entry to the last.
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

use crate::stored::{Columns, now_text, parse_ts, ts_text};
use crate::{AuditEntry, AuditQuery, ChainCheck, NewAudit, Result, StoreError, hex};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{Database, Encode, QueryBuilder, Type};

/// `prev_hash` of the first entry.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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

/// The entry that follows the chain head `head` (its seq and hash; `None`
/// for an empty log), with its `at` text exactly as it is to be stored and
/// hashed. The caller must hold the chain so that no other append reads the
/// same head before this one commits.
pub(crate) fn next_entry(head: Option<(i64, String)>, new: &NewAudit) -> Result<(AuditEntry, String)> {
    let (seq, prev_hash) = match head {
        Some((seq, hash)) => (seq + 1, hash),
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
    Ok((entry, at_text))
}

/// The `detail` column of an entry: the canonical JSON that was hashed.
pub(crate) fn detail_text(e: &AuditEntry) -> String {
    canonical(&e.detail)
}

/// An entry as stored, with its `at` text exactly as hashed.
pub(crate) fn entry_from_row(r: &impl Columns) -> Result<(AuditEntry, String)> {
    let at = r.text("at")?;
    let detail = r.text("detail")?;
    let entry = AuditEntry {
        seq: r.int("seq")?,
        at: parse_ts(&at)?,
        actor: r.text("actor")?,
        actor_id: r.opt_int("actor_id")?,
        ip: r.opt_text("ip")?,
        action: r.text("action")?,
        target: r.text("target")?,
        detail: serde_json::from_str(&detail)
            .map_err(|e| StoreError::Corrupt(format!("audit entry detail is not JSON: {e}")))?,
        reason: r.opt_text("reason")?,
        prev_hash: r.text("prev_hash")?,
        hash: r.text("hash")?,
    };
    Ok((entry, at))
}

/// `AND …` for each filter of `q`.
pub(crate) fn push_filters<'a, DB: Database>(qb: &mut QueryBuilder<'a, DB>, q: &AuditQuery)
where
    String: Encode<'a, DB> + Type<DB>,
{
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
pub(crate) const VERIFY_BATCH: i64 = 5000;

/// The check of the chain, fed its rows in seq order a batch at a time.
#[derive(Debug)]
pub(crate) struct ChainWalk {
    /// The seq the next row must have; where the next batch starts.
    pub(crate) expected_seq: i64,
    prev_hash: String,
}

impl ChainWalk {
    pub(crate) fn new() -> Self {
        ChainWalk { expected_seq: 1, prev_hash: GENESIS.to_owned() }
    }

    /// The verdict when the rows ran out.
    pub(crate) fn end(&self) -> ChainCheck {
        ChainCheck::Intact { entries: self.expected_seq - 1 }
    }

    /// Checks the next row; the first broken entry ends the walk.
    pub(crate) fn step(&mut self, r: &impl Columns) -> Result<Option<ChainCheck>> {
        let seq = r.int("seq")?;
        let broken = |reason: String| Ok(Some(ChainCheck::Broken { seq, reason }));
        let (e, at) = match entry_from_row(r) {
            Ok(x) => x,
            Err(err) => return broken(format!("the entry cannot be read: {err}")),
        };
        let expected_seq = self.expected_seq;
        if seq != expected_seq {
            let missing = if seq - 1 == expected_seq {
                format!("entry {expected_seq} is missing")
            } else {
                format!("entries {expected_seq} to {} are missing", seq - 1)
            };
            return broken(missing);
        }
        if e.prev_hash != self.prev_hash {
            return broken("its prev_hash does not link to the previous entry's hash".into());
        }
        if entry_hash(&e.prev_hash, &e, &at) != e.hash {
            return broken("its stored hash differs from the hash of its contents".into());
        }
        self.prev_hash = e.hash;
        self.expected_seq += 1;
        Ok(None)
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
