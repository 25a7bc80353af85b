//! The district every store test starts from, and the database each test
//! runs on: every contract test runs once per backend, as `sqlite::…` always
//! and as `postgres::…` when `CIVICGRID_TEST_POSTGRES` names a PostgreSQL
//! server (`postgres://postgres@127.0.0.1/postgres`) the tests may create
//! databases on. Each test gets a fresh, empty database of its own; with the
//! variable set, a server that cannot be reached fails the tests.
#![allow(dead_code, reason = "each test file uses some of these helpers")]
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use civicgrid_domain::*;
use civicgrid_store::{Actor, KeyRing, Store};
use jiff::civil::date;
use sqlx::Row;
use std::sync::Arc;

pub mod server;

pub fn code(s: &str) -> UnitCode {
    UnitCode::parse(s).unwrap()
}

pub fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Ring {
    vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
}

fn unit(c: &str, name: &str, boundary: Option<Ring>) -> OrgUnit {
    OrgUnit { code: code(c), name: name.into(), validity: Validity::starting(date(2024, 1, 1)), boundary }
}

/// A district with one street, two communities of two grids each (unit squares
/// of 0.01°), one compound with a building of two households, and a little of
/// everything else.
pub fn small_district() -> DistrictBundle {
    let g = |n: &str| code(n);
    let mut b = DistrictBundle {
        units: vec![
            unit("610304", "陈仓区", None),
            unit("610304003", "千渭街道", None),
            unit("610304003001", "甲社区", Some(rect(107.0, 34.0, 107.02, 34.01))),
            unit("610304003002", "乙社区", Some(rect(107.0, 34.01, 107.02, 34.02))),
            unit("610304003001001", "甲1", Some(rect(107.0, 34.0, 107.01, 34.01))),
            unit("610304003001002", "甲2", Some(rect(107.01, 34.0, 107.02, 34.01))),
            unit("610304003002001", "乙1", Some(rect(107.0, 34.01, 107.01, 34.02))),
            unit("610304003002002", "乙2", Some(rect(107.01, 34.01, 107.02, 34.02))),
        ],
        ..Default::default()
    };
    b.compounds.push(Compound {
        code: "610304003001X01".into(),
        name: "渭河花园".into(),
        grid: g("610304003001001"),
        address: "渭河路1号".into(),
        lat: 34.005,
        lon: 107.005,
    });
    b.buildings.push(Building {
        id: 1,
        compound: "610304003001X01".into(),
        number: 1,
        floors: 6,
        grid: g("610304003001001"),
        lat: 34.005,
        lon: 107.008,
    });
    for (id, room) in [(1, 101), (2, 102)] {
        b.households.push(Household { id, building_id: 1, entrance: 1, room });
    }
    let id_number = IdNumber::compose("610399", date(1940, 5, 1), 11).unwrap();
    b.residents.push(Resident {
        id: 1,
        household_id: 1,
        name: "张三".into(),
        gender: Gender::Male,
        birth: date(1940, 5, 1),
        id_number,
        phone: Some(PhoneNumber::parse("10012345678").unwrap()),
        head_of_household: true,
        care: vec![CareGroup::ElderlyAlone],
    });
    for (i, (cat, grid)) in
        [(FacilityCategory::Clinic, "610304003001001"), (FacilityCategory::PartyServiceStation, "610304003002002")]
            .into_iter()
            .enumerate()
    {
        b.facilities.push(Facility {
            code: format!("FAC{:08}", i + 1),
            category: cat,
            name: format!("设施{i}"),
            grid: g(grid),
            address: String::new(),
            lat: 34.005,
            lon: 107.005,
        });
    }
    for (i, status) in [CameraStatus::Online, CameraStatus::Fault, CameraStatus::Online].into_iter().enumerate() {
        b.cameras.push(Camera {
            code: format!("CAM{i}"),
            name: format!("探头{i}"),
            grid: g("610304003001002"),
            status,
            installed_on: date(2020, 1, 1),
            lat: 34.005,
            lon: 107.015,
        });
    }
    b.party_branches.push(PartyBranch {
        code: "B1".into(),
        name: "甲社区第1网格党支部".into(),
        community: g("610304003001"),
        grids: vec![g("610304003001001"), g("610304003001002")],
    });
    b.party_groups.push(PartyGroup {
        code: "B1G1".into(),
        name: "第1党小组".into(),
        branch: "B1".into(),
        grid: g("610304003001002"),
    });
    let role = |kind, unit: &str| PersonRole { kind, unit: g(unit), since: date(2024, 2, 1) };
    b.people.push(Person {
        id: 1,
        name: "李网格".into(),
        gender: Gender::Female,
        phone: Some(PhoneNumber::parse("10000000001").unwrap()),
        home_community: Some(g("610304003001")),
        roles: vec![role(RoleKind::GridWorker, "610304003001001"), role(RoleKind::GridWorker, "610304003001002")],
    });
    b.people.push(Person {
        id: 2,
        name: "王骑手".into(),
        gender: Gender::Male,
        phone: None,
        home_community: None,
        roles: vec![role(RoleKind::StreetRider, "610304003")],
    });
    b.streets = StreetNetwork {
        nodes: vec![[107.0, 34.0], [107.01, 34.0]],
        edges: vec![StreetEdge { from: 0, to: 1, length_m: 920.0, name: "渭河路".into() }],
    };
    b
}

/// The actor of the tests' own writes.
pub fn tester() -> Actor {
    Actor::system("test")
}

/// Writes each listed `async fn name(db: TestDb)` as a test per backend:
/// `sqlite::name`, and `postgres::name` when the crate was built with
/// `CIVICGRID_TEST_POSTGRES` set.
#[macro_export]
macro_rules! on_each_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::common::TestDb::sqlite()).await
                }
            )*
        }
        #[cfg(civicgrid_test_postgres)]
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::common::TestDb::postgres().await).await
                }
            )*
        }
    };
}

/// Where one test's store lives: a SQLite file in a temporary folder, or a
/// PostgreSQL database made for the test and dropped after it. The key file
/// is in the folder either way, so reopening reads what was written before.
#[derive(Debug)]
pub struct TestDb {
    dir: tempfile::TempDir,
    url: String,
    /// The server's own URL and the test database's name, to drop it.
    server: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("c.db").to_str().unwrap().to_owned();
        TestDb { dir, url, server: None }
    }

    /// A fresh database on the server named by `CIVICGRID_TEST_POSTGRES`.
    pub async fn postgres() -> Self {
        let (server, name, url) = server::create_database("civicgrid_test").await;
        TestDb { dir: tempfile::tempdir().unwrap(), url, server: Some((server, name)) }
    }

    /// Another fresh, empty database on the same backend.
    pub async fn sibling(&self) -> TestDb {
        if self.is_postgres() { TestDb::postgres().await } else { TestDb::sqlite() }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn is_postgres(&self) -> bool {
        self.server.is_some()
    }

    /// The store, with its key file in the test's folder.
    pub async fn open(&self) -> Arc<dyn Store> {
        let keys = KeyRing::load_or_create(&self.key_file()).unwrap();
        self.open_with(keys).await
    }

    pub async fn open_with(&self, keys: KeyRing) -> Arc<dyn Store> {
        civicgrid_store::open(&self.url, keys).await.unwrap()
    }

    pub fn key_file(&self) -> std::path::PathBuf {
        self.dir.path().join("keys.json")
    }

    /// A fresh store holding [`small_district`].
    pub async fn loaded(&self) -> Arc<dyn Store> {
        let store = self.open().await;
        assert!(store.is_empty().await.unwrap());
        store.import_district(&small_district(), &|_, _| {}, &tester()).await.unwrap();
        store
    }

    /// Runs `sql` on a connection of its own, beside the store's, as someone
    /// with the database in hand would.
    pub async fn execute(&self, sql: &str) -> Result<u64, String> {
        let done = match self.raw().await {
            Raw::Sqlite(pool) => sqlx::query(sql).execute(&pool).await.map(|r| r.rows_affected()),
            Raw::Postgres(pool) => sqlx::query(sql).execute(&pool).await.map(|r| r.rows_affected()),
        };
        done.map_err(|e| e.to_string())
    }

    /// The text in the first column of the first row of `sql`.
    pub async fn text(&self, sql: &str) -> String {
        match self.raw().await {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap(),
            Raw::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap(),
        }
    }

    /// The bytes in the first column of every row of `sql`.
    pub async fn blobs(&self, sql: &str) -> Vec<Vec<u8>> {
        match self.raw().await {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap(),
            Raw::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap(),
        }
    }

    /// Removes the triggers that keep the audit log append-only, as whoever
    /// holds the database can.
    pub async fn allow_tampering(&self) {
        let on = if self.is_postgres() { " ON audit_log" } else { "" };
        for trigger in ["audit_log_no_update", "audit_log_no_delete"] {
            self.execute(&format!("DROP TRIGGER {trigger}{on}")).await.unwrap();
        }
    }

    /// Whether `needle` is stored as it is anywhere in the database: in the
    /// SQLite file or its write-ahead log (pages, indexes, free space), or in
    /// any text or bytes of any row of any PostgreSQL table.
    pub async fn holds_in_plain(&self, needle: &str) -> bool {
        let found = |hay: &[u8]| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
        match self.raw().await {
            Raw::Sqlite(_) => {
                ["c.db", "c.db-wal"].iter().any(|f| found(&std::fs::read(self.dir.path().join(f)).unwrap_or_default()))
            }
            Raw::Postgres(pool) => {
                let tables: Vec<String> =
                    sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                for table in tables {
                    for row in sqlx::query(&format!("SELECT * FROM {table}")).fetch_all(&pool).await.unwrap() {
                        for (i, _) in row.columns().iter().enumerate() {
                            let cell = match row.try_get::<Option<String>, _>(i) {
                                Ok(text) => text.map(String::into_bytes),
                                Err(_) => row.try_get::<Option<Vec<u8>>, _>(i).ok().flatten(),
                            };
                            if cell.is_some_and(|c| found(&c)) {
                                return true;
                            }
                        }
                    }
                }
                false
            }
        }
    }

    async fn raw(&self) -> Raw {
        if self.is_postgres() {
            Raw::Postgres(sqlx::PgPool::connect(&self.url).await.unwrap())
        } else {
            let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(&self.url);
            Raw::Sqlite(sqlx::SqlitePool::connect_with(opts).await.unwrap())
        }
    }
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((server, name)) = self.server.take() {
            server::drop_database(server, name);
        }
    }
}
