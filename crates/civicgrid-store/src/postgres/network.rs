//! The street network in PostgreSQL: replaced whole by an import, with the import's facilities merged into the registered ones by their external id.

use std::collections::HashMap;

use super::audit::append;
use super::{CHUNK, Hold, PgStore, bind_place, hold};
use crate::schema::{check_network, network_entry};
use crate::{Actor, ExternalFacility, NetworkImport, NetworkImported, Progress, Result, StoreError};
use civicgrid_domain::{StreetEdge, StreetNetwork};
use sqlx::{Postgres, QueryBuilder, Row};

impl PgStore {
    pub(super) async fn replace_network(
        &self,
        import: &NetworkImport,
        progress: Progress<'_>,
        by: &Actor,
    ) -> Result<NetworkImported> {
        check_network(import)?;
        let total = (import.nodes.len() + import.edges.len() + import.facilities.len()) as u64;
        let mut done = 0u64;
        let mut tx = self.pool.begin().await?;
        // Two imports at once would each keep their own network and merge
        // the facilities against a state the other is changing.
        hold(&mut tx, Hold::Network, "").await?;
        sqlx::query("DELETE FROM street_edges").execute(&mut *tx).await?;
        sqlx::query("DELETE FROM street_nodes").execute(&mut *tx).await?;
        let nodes: Vec<(i64, &crate::NetworkNode)> = (0..).zip(&import.nodes).collect();
        Self::bulk(
            &mut tx,
            "INSERT INTO street_nodes (id, lon, lat, osm_id) ",
            &nodes,
            |b, (id, n)| {
                b.push_bind(*id).push_bind(n.lon).push_bind(n.lat).push_bind(n.osm_id);
            },
            &mut done,
            total,
            progress,
        )
        .await?;
        Self::bulk(
            &mut tx,
            "INSERT INTO street_edges (from_id, to_id, length_m, name) ",
            &import.edges,
            |b, e| {
                b.push_bind(i64::from(e.from))
                    .push_bind(i64::from(e.to))
                    .push_bind(e.length_m)
                    .push_bind(e.name.as_str());
            },
            &mut done,
            total,
            progress,
        )
        .await?;

        let rows = sqlx::query(
            "SELECT code, external_id, category, name, address, lat, lon, grid_code FROM facilities \
             WHERE external_id IS NOT NULL AND left(external_id, length($1)) = $1",
        )
        .bind(&import.id_prefix)
        .fetch_all(&mut *tx)
        .await?;
        let by_id: HashMap<&str, &ExternalFacility> =
            import.facilities.iter().map(|f| (f.external_id.as_str(), f)).collect();
        // External id → whether the stored row equals the imported one.
        let mut stored: HashMap<String, bool> = HashMap::new();
        let mut stale = Vec::new();
        for r in &rows {
            let (code, id): (String, String) = (r.try_get("code")?, r.try_get("external_id")?);
            match by_id.get(id.as_str()) {
                Some(f) => {
                    let same = code == f.code
                        && r.try_get::<String, _>("category")? == f.category.as_str()
                        && r.try_get::<String, _>("name")? == f.name
                        && r.try_get::<String, _>("address")? == f.address
                        && r.try_get::<f64, _>("lat")? == f.lat
                        && r.try_get::<f64, _>("lon")? == f.lon
                        && r.try_get::<String, _>("grid_code")? == f.grid.as_str();
                    stored.insert(id, same);
                }
                None => stale.push(code),
            }
        }
        for chunk in stale.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Postgres>::new("DELETE FROM facilities WHERE code IN (");
            let mut list = qb.separated(", ");
            for code in chunk {
                list.push_bind(code);
            }
            qb.push(")");
            qb.build().execute(&mut *tx).await?;
        }

        let mut report = NetworkImported {
            nodes: import.nodes.len() as u64,
            edges: import.edges.len() as u64,
            removed: stale.len() as u64,
            ..NetworkImported::default()
        };
        let mut writes: Vec<&ExternalFacility> = Vec::new();
        for f in &import.facilities {
            match stored.get(&f.external_id) {
                Some(true) => report.unchanged += 1,
                Some(false) => {
                    report.updated += 1;
                    writes.push(f);
                }
                None => {
                    report.added += 1;
                    writes.push(f);
                }
            }
        }
        done += report.unchanged;
        for chunk in writes.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Postgres>::new(
                "INSERT INTO facilities (code, category, name, address, lat, lon, \
                 district_code, street_code, community_code, grid_code, external_id) ",
            );
            qb.push_values(chunk, |mut b, f| {
                b.push_bind(f.code.as_str())
                    .push_bind(f.category.as_str())
                    .push_bind(f.name.as_str())
                    .push_bind(f.address.as_str())
                    .push_bind(f.lat)
                    .push_bind(f.lon);
                bind_place(&mut b, &f.grid);
                b.push_bind(f.external_id.as_str());
            });
            // Only a row of the same external id is updated: a code taken by
            // a registered facility or another source's writes nothing, and
            // the count below turns that into an error.
            qb.push(
                " ON CONFLICT (code) DO UPDATE SET category = excluded.category, name = excluded.name, \
                 address = excluded.address, lat = excluded.lat, lon = excluded.lon, \
                 district_code = excluded.district_code, street_code = excluded.street_code, \
                 community_code = excluded.community_code, grid_code = excluded.grid_code, \
                 external_id = excluded.external_id \
                 WHERE facilities.external_id IS NOT DISTINCT FROM excluded.external_id",
            );
            let written = qb.build().execute(&mut *tx).await?.rows_affected();
            if written != chunk.len() as u64 {
                return Err(StoreError::Conflict(format!(
                    "{} of the imported facilities' codes belong to other facilities",
                    chunk.len() as u64 - written
                )));
            }
            done += chunk.len() as u64;
            progress(done, total);
        }

        append(&mut tx, &network_entry(import, &report, by)).await?;
        tx.commit().await?;
        progress(total, total);
        Ok(report)
    }

    pub(super) async fn stored_network(&self) -> Result<StreetNetwork> {
        let rows = sqlx::query("SELECT id, lon, lat FROM street_nodes ORDER BY id").fetch_all(&self.pool).await?;
        let mut nodes = Vec::with_capacity(rows.len());
        for (i, r) in (0i64..).zip(&rows) {
            let id: i64 = r.try_get("id")?;
            if id != i {
                return Err(StoreError::Corrupt(format!("street node ids skip from {} to {id}", i - 1)));
            }
            nodes.push([r.try_get("lon")?, r.try_get("lat")?]);
        }
        let rows = sqlx::query("SELECT from_id, to_id, length_m, name FROM street_edges ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        let node = |r: &sqlx::postgres::PgRow, col: &str| -> Result<u32> {
            let id: i64 = r.try_get(col)?;
            u32::try_from(id).map_err(|_| StoreError::Corrupt(format!("street edge names node {id}")))
        };
        let edges = rows
            .iter()
            .map(|r| {
                Ok(StreetEdge {
                    from: node(r, "from_id")?,
                    to: node(r, "to_id")?,
                    length_m: r.try_get("length_m")?,
                    name: r.try_get("name")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(StreetNetwork { nodes, edges })
    }
}
