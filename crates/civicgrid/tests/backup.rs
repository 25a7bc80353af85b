//! `migrate`, `backup`, `restore` and `export` as an operator runs them: the
//! demo district with a year of cases backed up and restored on SQLite and,
//! when `CIVICGRID_TEST_POSTGRES` names a server, on PostgreSQL, and moved
//! from SQLite onto PostgreSQL. Each copy is checked: its audit chain, the
//! rows of every table, a resident's decrypted numbers, a database with rows
//! refused as a target, and writes going on after the move.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

#[path = "../../civicgrid-store/tests/common/server.rs"]
mod server;

use civicgrid_store::{Actor, KeyRing};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_civicgrid"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")
        .env_remove("CIVICGRID_DATABASE")
        .env_remove("CIVICGRID_KEY_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Runs the binary, which must succeed; its standard output.
fn ok(args: &[&str]) -> String {
    let out = run(args, "");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// Runs the binary, which must fail; its standard error.
fn refused(args: &[&str]) -> String {
    let out = run(args, "");
    assert!(!out.status.success(), "{args:?} succeeded:\n{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A database of one test: a SQLite file in the test's folder, or a
/// PostgreSQL database made for the test and dropped after it.
struct Place {
    url: String,
    /// The server's URL and the database's name, to drop it.
    server: Option<(String, String)>,
}

impl Place {
    fn sqlite(dir: &Path, name: &str) -> Place {
        Place { url: path(&dir.join(name)).to_owned(), server: None }
    }

    #[cfg(civicgrid_test_postgres)]
    fn postgres() -> Place {
        let (server, name, url) = block_on(server::create_database("civicgrid_cli"));
        Place { url, server: Some((server, name)) }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some((server, name)) = self.server.take() {
            server::drop_database(server, name);
        }
    }
}

fn block_on<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// A backup read back: the rows of each table and the counts of its last line.
#[derive(Debug, Default)]
struct Backup {
    rows: BTreeMap<String, Vec<Value>>,
    counts: BTreeMap<String, u64>,
}

impl Backup {
    fn read(file: &Path) -> Backup {
        let mut b = Backup::default();
        let mut table = String::new();
        for line in std::fs::read_to_string(file).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            if let Some(t) = v.get("table").and_then(Value::as_str) {
                table = t.to_owned();
                b.rows.insert(table.clone(), Vec::new());
            } else if let Some(end) = v.get("end").and_then(Value::as_object) {
                b.counts = end.iter().map(|(t, n)| (t.clone(), n.as_u64().unwrap())).collect();
            } else if v.is_array() {
                b.rows.get_mut(&table).unwrap().push(v);
            }
        }
        for (t, rows) in &b.rows {
            assert_eq!(b.counts[t], rows.len() as u64, "{t}");
        }
        b
    }

    /// The rows of each table as the same text whichever backend wrote
    /// them (flags as 0 and 1), sorted, without the entry `actor` added.
    fn comparable(&self, added_by: &str) -> BTreeMap<String, Vec<String>> {
        self.rows
            .iter()
            .map(|(t, rows)| {
                let mut text: Vec<String> = rows
                    .iter()
                    .filter(|r| !r.as_array().unwrap().contains(&Value::from(added_by)))
                    .map(|r| {
                        let cells: Vec<Value> = r
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|c| c.as_bool().map_or_else(|| c.clone(), |b| Value::from(i64::from(b))))
                            .collect();
                        Value::Array(cells).to_string()
                    })
                    .collect();
                text.sort();
                (t.clone(), text)
            })
            .collect()
    }
}

/// `copy` holds every row of `original` and the one audit entry of `by`.
fn assert_copied(original: &Backup, copy: &Backup, by: &str) {
    assert_eq!(original.counts.len(), 31);
    for (t, n) in &original.counts {
        let extra = u64::from(t == "audit_log");
        assert_eq!(copy.counts[t], n + extra, "rows of {t}");
    }
    assert!(original.counts["residents"] > 100_000 && original.counts["case_events"] > 200);
    assert_eq!(original.comparable(by), copy.comparable(by));
}

/// The district of the tests: the demo with 200 cases and an administrator.
fn district(place: &Place, keys: &Path) {
    ok(&["demo", "--database", &place.url, "--key-file", path(keys), "--history", "200"]);
    let args = ["user", "create", "--username", "chief", "--role", "admin", "--scope", "610304", "--database"];
    let out = run(&[&args[..], &[&place.url, "--key-file", path(keys)]].concat(), "Chencang-District-2026\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Resident 1's numbers in full, read through the store with `keys`.
fn resident(url: &str, keys: &Path) -> (String, Option<String>) {
    block_on(async {
        let store = civicgrid_store::open(url, KeyRing::load(keys).unwrap()).await.unwrap();
        let r = store.resident_in_full(1, "核对迁移", &Actor::system("test")).await.unwrap().unwrap();
        (r.id_number, r.phone)
    })
}

fn migrate_applies_each_migration_once(place: Place) {
    let first = ok(&["migrate", "--database", &place.url]);
    assert!(first.contains("applied 0001 org model") && first.contains("schema at version"), "{first}");
    let second = ok(&["migrate", "--database", &place.url]);
    assert!(second.starts_with("nothing to do: schema at version"), "{second}");
    let status = ok(&["migrate", "--status", "--database", &place.url]);
    assert!(status.contains("0001 org model: applied") && status.contains("; 0 migrations pending"), "{status}");
    assert!(!status.contains(": pending"), "{status}");
}

fn backup_and_restore(a: Place, b: Place, dir: &Path) {
    let keys = dir.join("district.keys");
    district(&a, &keys);
    let file = dir.join("district.backup");
    let out = ok(&["backup", "--database", &a.url, "--out", path(&file)]);
    assert!(out.contains("backed up") && out.contains("key file"), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(refused(&["backup", "--database", &a.url, "--out", path(&file)]).contains("not overwritten"));

    let out = ok(&["restore", "--database", &b.url, "--key-file", path(&keys), "--from", path(&file)]);
    assert!(out.contains("audit chain intact") && out.contains("opens its personal data"), "{out}");
    let verified = ok(&["audit", "verify", "--database", &b.url]);
    assert!(verified.contains("audit chain intact"), "{verified}");
    let again = dir.join("restored.backup");
    ok(&["backup", "--database", &b.url, "--out", path(&again)]);
    let (original, copy) = (Backup::read(&file), Backup::read(&again));
    assert_copied(&original, &copy, "system:restore");

    // A database with rows is never a target, and is left as it was.
    for target in [&a.url, &b.url] {
        let e = refused(&["restore", "--database", target, "--key-file", path(&keys), "--from", path(&file)]);
        assert!(e.contains("not empty"), "{e}");
    }
    assert_eq!(ok(&["audit", "verify", "--database", &b.url]), verified);

    assert_eq!(resident(&a.url, &keys), resident(&b.url, &keys));
    // Writes go on after the restore.
    let args = ["user", "create", "--username", "deputy", "--role", "auditor", "--scope", "610304", "--database"];
    let made = run(&[&args[..], &[&b.url, "--key-file", path(&keys)]].concat(), "Baoji-Auditor-2026!\n");
    assert!(String::from_utf8_lossy(&made.stdout).contains("created user deputy (id 2)"), "{made:?}");
}

#[test]
fn migrate_applies_each_migration_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    migrate_applies_each_migration_once(Place::sqlite(dir.path(), "m.db"));
    let e = refused(&["migrate", "--status", "--database", path(&dir.path().join("none.db"))]);
    assert!(e.contains("not found"), "{e}");
}

#[test]
fn backup_and_restore_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    backup_and_restore(Place::sqlite(dir.path(), "a.db"), Place::sqlite(dir.path(), "b.db"), dir.path());
}

#[test]
fn restore_refuses_what_is_not_a_whole_backup() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.backup");
    std::fs::write(&bad, "PGDMP\u{1}custom\n").unwrap();
    let target = Place::sqlite(dir.path(), "t.db");
    let e = refused(&["restore", "--database", &target.url, "--from", path(&bad)]);
    assert!(e.contains("not a CivicGrid dump"), "{e}");
    let e = refused(&["restore", "--database", &target.url, "--from", path(&dir.path().join("none"))]);
    assert!(e.contains("could not read"), "{e}");
    // An empty database backs up whole; cut short, it restores nothing.
    let empty = Place::sqlite(dir.path(), "empty.db");
    let file = dir.path().join("empty.backup");
    let e = refused(&["backup", "--database", &empty.url, "--out", path(&file)]);
    assert!(e.contains("there is no database at"), "{e}");
    assert!(!file.exists() && !Path::new(&empty.url).exists(), "nothing made");
    ok(&["migrate", "--database", &empty.url]);
    ok(&["backup", "--database", &empty.url, "--out", path(&file)]);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, &text[..text.len() - 20]).unwrap();
    let e = refused(&["restore", "--database", &target.url, "--from", path(&file)]);
    assert!(e.contains("line 33 of the dump: not JSON"), "{e}");
    assert!(ok(&["audit", "verify", "--database", &target.url]).contains("intact: 0 entries"));
    let e = refused(&["export", "--database", &empty.url, "--to", "mysql://localhost/x"]);
    assert!(e.contains("unsupported database"), "{e}");
}

#[cfg(civicgrid_test_postgres)]
#[test]
fn migrate_applies_each_migration_once_on_postgres() {
    migrate_applies_each_migration_once(Place::postgres());
}

#[cfg(civicgrid_test_postgres)]
#[test]
fn backup_and_restore_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    backup_and_restore(Place::postgres(), Place::postgres(), dir.path());
}

#[cfg(civicgrid_test_postgres)]
#[test]
fn export_moves_a_sqlite_district_onto_postgres() {
    use civicgrid_store::{CaseEventRecord, CaseSummary, NewCase, NewFacility};
    let dir = tempfile::tempdir().unwrap();
    let source = Place::sqlite(dir.path(), "district.db");
    let keys = dir.path().join("district.db.keys");
    district(&source, &keys);
    let target = Place::postgres();
    let out = ok(&["export", "--database", &source.url, "--to", &target.url]);
    assert!(out.contains("exported") && out.contains("audit chain intact"), "{out}");
    assert!(out.contains("opens its personal data") && out.contains("--key-file"), "{out}");
    if target.url.contains('@') {
        assert!(!out.contains(&target.url), "the password printed: {out}");
    }
    // The audit chain checks out on the server without any key.
    assert!(ok(&["audit", "verify", "--database", &target.url]).contains("audit chain intact"));
    let (from, to) = (dir.path().join("from.backup"), dir.path().join("to.backup"));
    ok(&["backup", "--database", &source.url, "--out", path(&from)]);
    ok(&["backup", "--database", &target.url, "--out", path(&to)]);
    assert_copied(&Backup::read(&from), &Backup::read(&to), "system:export");
    assert_eq!(resident(&source.url, &keys), resident(&target.url, &keys));
    // A second export finds the target full.
    assert!(refused(&["export", "--database", &source.url, "--to", &target.url]).contains("not empty"));

    // New rows on the server get ids after the moved ones.
    let args = ["user", "create", "--username", "deputy", "--role", "auditor", "--scope", "610304", "--database"];
    let made = run(&[&args[..], &[&target.url, "--key-file", path(&keys)]].concat(), "Baoji-Auditor-2026!\n");
    assert!(String::from_utf8_lossy(&made.stdout).contains("created user deputy (id 2)"), "{made:?}");
    let facilities = Backup::read(&to).counts["facilities"];
    let cases = Backup::read(&to).counts["cases"] as i64;
    block_on(async {
        let store = civicgrid_store::open(&target.url, KeyRing::load(&keys).unwrap()).await.unwrap();
        let by = Actor::system("test");
        let grid = civicgrid_domain::UnitCode::parse("610304003002006").unwrap();
        let new = NewFacility {
            category: civicgrid_domain::FacilityCategory::Pharmacy,
            name: "迁移后药房".into(),
            address: String::new(),
            grid: grid.clone(),
            lat: 34.36,
            lon: 107.37,
        };
        let added = store.add_facility(&new, None, &by).await.unwrap();
        assert_eq!(added.item.code, format!("FAC{:08}", facilities + 1));
        let case = NewCase {
            source: "resident_report".into(),
            category: "0101".into(),
            title: "迁移后".into(),
            description: String::new(),
            lat: 34.36,
            lon: 107.37,
            grid,
            reporter_id: Some(2),
        };
        let at = jiff::Timestamp::now();
        let first = CaseEventRecord {
            seq: 1,
            at,
            actor_id: Some(2),
            actor: "deputy".into(),
            role: "resident".into(),
            unit: "610304003002006".into(),
            kind: "report".into(),
            data: serde_json::json!({}),
            note: String::new(),
            photos: vec![],
            lat: None,
            lon: None,
        };
        let summary = CaseSummary {
            state: "reported".into(),
            category: None,
            handler_unit: None,
            step_deadline: None,
            escalate_at: None,
            escalation: None,
            supervision: false,
            duplicate_of: None,
            merged_into: None,
            closed_at: None,
        };
        let filed = store.file_case(&case, &first, &summary, None, &by).await.unwrap();
        assert_eq!(filed.item.id, cases + 1);
    });
    assert!(ok(&["audit", "verify", "--database", &target.url]).contains("audit chain intact"));
}
