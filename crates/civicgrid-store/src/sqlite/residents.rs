//! Residents' personal data in SQLite: identity and phone numbers encrypted at
//! rest, found by their blind index, masked on the way out, shown in full only
//! with an audited reason, and re-encrypted when the data key rotates.

use super::SqliteStore;
use super::audit::append;
use crate::schema::{push_page, push_within};
use crate::stored::{RESIDENT_SELECT, open_id, open_phone, resident_from_row};
use crate::{Actor, ListQuery, NewAudit, Page, ResidentFull, ResidentSearch, ResidentView, Result, StoreError};
use serde_json::json;
use sqlx::{QueryBuilder, Row, Sqlite};

/// Rows re-encrypted per statement batch.
const REENCRYPT_BATCH: i64 = 1000;

impl SqliteStore {
    pub(super) async fn resident_page(
        &self,
        q: &ListQuery,
        search: Option<&ResidentSearch>,
    ) -> Result<Page<ResidentView>> {
        let filter = |qb: &mut QueryBuilder<'_, Sqlite>| {
            push_within(qb, "r.", &q.within);
            match search {
                Some(ResidentSearch::IdNumber(n)) => {
                    qb.push(" AND r.id_number_index = ");
                    qb.push_bind(self.keys.blind_index(n.as_str()));
                }
                Some(ResidentSearch::Phone(p)) => {
                    qb.push(" AND r.phone_index = ");
                    qb.push_bind(self.keys.blind_index(p.as_str()));
                }
                None => {}
            }
        };
        let mut count = QueryBuilder::<Sqlite>::new("SELECT count(*) FROM residents r WHERE 1 = 1");
        filter(&mut count);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut qb = QueryBuilder::<Sqlite>::new(RESIDENT_SELECT);
        filter(&mut qb);
        qb.push(" ORDER BY r.id");
        push_page(&mut qb, q);
        let rows = qb.build().fetch_all(&self.pool).await?;
        let items = rows.iter().map(|r| resident_from_row(&self.keys, r)).collect::<Result<_>>()?;
        Ok(Page { items, total, limit: q.limit, offset: q.offset })
    }

    pub(super) async fn one_resident(&self, id: i64) -> Result<Option<ResidentView>> {
        let row = sqlx::query(&format!("{RESIDENT_SELECT} AND r.id = ?")).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(|r| resident_from_row(&self.keys, r)).transpose()
    }

    pub(super) async fn unmask_resident(&self, id: i64, reason: &str, by: &Actor) -> Result<Option<ResidentFull>> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(StoreError::Invalid("a reason is required to see personal data in full".into()));
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let Some(row) = sqlx::query("SELECT id, name, id_number_enc, phone_enc FROM residents WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let full = ResidentFull {
            id,
            name: row.try_get("name")?,
            id_number: open_id(&self.keys, &row.try_get::<Vec<u8>, _>("id_number_enc")?)?.as_str().to_owned(),
            phone: open_phone(&self.keys, row.try_get("phone_enc")?)?.map(|p| p.as_str().to_owned()),
        };
        let entry = NewAudit {
            actor: by.clone(),
            action: "view_personal_data".into(),
            target: format!("resident:{id}"),
            detail: json!({"fields": ["id_number", "phone"]}),
            reason: Some(reason.to_owned()),
        };
        // The view is recorded before the numbers leave: if the entry cannot be
        // written, nobody sees them.
        append(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(Some(full))
    }

    pub(super) async fn reencrypt(&self, by: &Actor) -> Result<u64> {
        let head = self.keys.current_header();
        let n = head.len() as i64;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut residents = 0u64;
        let mut people = 0u64;
        // Each batch re-reads the rows still under an old key; rows done drop
        // out of the query, so the loop ends.
        loop {
            let rows = sqlx::query(
                "SELECT id, id_number_enc, phone_enc FROM residents \
                 WHERE substr(id_number_enc, 1, ?1) != ?2 OR (phone_enc IS NOT NULL AND substr(phone_enc, 1, ?1) != ?2) \
                 LIMIT ?3",
            )
            .bind(n)
            .bind(&head)
            .bind(REENCRYPT_BATCH)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let id: i64 = r.try_get("id")?;
                let number = self.keys.decrypt(r.try_get("id_number_enc")?)?;
                let phone_blob: Option<Vec<u8>> = r.try_get("phone_enc")?;
                let phone = phone_blob.map(|b| self.keys.decrypt(&b)).transpose()?;
                sqlx::query("UPDATE residents SET id_number_enc = ?, phone_enc = ? WHERE id = ?")
                    .bind(self.keys.encrypt(&number))
                    .bind(phone.map(|p| self.keys.encrypt(&p)))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                residents += 1;
            }
        }
        loop {
            let rows = sqlx::query(
                "SELECT id, phone_enc FROM people WHERE phone_enc IS NOT NULL AND substr(phone_enc, 1, ?1) != ?2 LIMIT ?3",
            )
            .bind(n)
            .bind(&head)
            .bind(REENCRYPT_BATCH)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let id: i64 = r.try_get("id")?;
                let phone = self.keys.decrypt(r.try_get("phone_enc")?)?;
                sqlx::query("UPDATE people SET phone_enc = ? WHERE id = ?")
                    .bind(self.keys.encrypt(&phone))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                people += 1;
            }
        }
        let entry = NewAudit {
            actor: by.clone(),
            action: "reencrypt_personal_data".into(),
            target: "personal_data".into(),
            detail: json!({"key_id": self.keys.current_key_id(), "residents": residents, "people": people}),
            reason: None,
        };
        append(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(residents + people)
    }
}
