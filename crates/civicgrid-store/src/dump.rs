//! Backup, restore and export: a whole database as one stream of JSON lines
//! that either backend writes and reads, so a SQLite district restores onto
//! PostgreSQL as readily as onto SQLite.
//!
//! # The format (`civicgrid-dump-1`)
//!
//! ```text
//! {"format":"civicgrid-dump-1","schema_version":5,"made_at":"2026-…Z","backend":"sqlite"}
//! {"table":"org_units","columns":["id","code",…]}
//! [1,"610304",…]                      one JSON array per row, in key order
//! …                                   every table of TABLES, in that order
//! {"end":{"org_units":1167,…}}        the rows of each table, last
//! ```
//!
//! Values are what the database holds, unchanged: integers and reals as JSON
//! numbers (reals print shortest and parse exactly, so they round-trip bit
//! for bit), text as strings, bytes as standard base64 strings, flags as
//! `true`/`false` from PostgreSQL and `1`/`0` from SQLite (either loads into
//! either). Timestamps and JSON columns are text already, so the audit chain
//! hashes the same bytes after a restore. Personal data stays as stored:
//! ciphertext and keyed hashes, useless without the key file.
//!
//! A dump is read in one snapshot (a SQLite read transaction, a PostgreSQL
//! REPEATABLE READ one), so it is consistent while a server writes. It loads
//! into an empty database of the same schema version in one transaction:
//! all of it or nothing, the row counts checked against the last line, and
//! the restore itself audited on the restored chain.

use crate::schema::write_entry;
use crate::stored::{Columns, now_text};
use crate::{Actor, NewAudit, Result, StoreError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::TryStreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::query::Query;
use sqlx::{Database, Executor, IntoArguments};
use std::fmt::Write as _;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufWriter};

/// The first line's `format`.
pub const DUMP_FORMAT: &str = "civicgrid-dump-1";

/// A table as a dump carries it.
#[derive(Debug)]
struct Table {
    name: &'static str,
    /// `ORDER BY` of its rows: its primary key.
    order: &'static str,
    /// Columns that refer to rows of the same table, possibly later ones:
    /// inserted empty and set once the table is in.
    later: &'static [&'static str],
}

const fn table(name: &'static str, order: &'static str) -> Table {
    Table { name, order, later: &[] }
}

/// Every table of the schema, each after those it refers to.
const TABLES: &[Table] = &[
    table("org_units", "id"),
    table("compounds", "code"),
    table("buildings", "id"),
    table("households", "id"),
    table("residents", "id"),
    table("facilities", "id"),
    table("cameras", "code"),
    table("party_branches", "code"),
    table("party_branch_grids", "grid_code"),
    table("party_groups", "code"),
    table("people", "id"),
    table("person_roles", "person_id, kind, unit_code"),
    table("settings", "key"),
    table("street_nodes", "id"),
    table("street_edges", "id"),
    table("idempotency_keys", "key"),
    table("users", "id"),
    table("user_grants", "user_id, role, scope_code"),
    table("sessions", "id_hash"),
    table("api_tokens", "id"),
    table("audit_log", "seq"),
    Table { name: "cases", order: "id", later: &["duplicate_of", "merged_into"] },
    table("case_events", "case_id, seq"),
    table("case_escalations", "case_id, deadline"),
    table("case_idempotency", "key"),
    table("attachments", "id"),
    table("case_attachments", "case_id, attachment_id"),
    table("responders", "id"),
    table("calls", "id"),
    table("call_offers", "call_id, responder_id"),
    table("call_devices", "code"),
];

/// Tables whose `id` (PostgreSQL's column) is the hidden rowid on SQLite:
/// registered facilities number their codes by it, so it moves with them.
const ROWID_IDS: &[&str] = &["facilities"];

/// What a dump needs of a backend beyond the SQL both speak: its catalogue
/// and its parameters.
pub(crate) trait Catalog: Database {
    /// `name` of every table but the migrations' own.
    const TABLES: &'static str;
    /// `name, ty` of the columns of the table bound as the one parameter,
    /// in their order.
    const COLUMNS: &'static str;
    /// Whether the tables of [`ROWID_IDS`] keep their `id` as the rowid.
    const ROWID: bool;
    /// What lets an INSERT write the dump's values into identity columns.
    const OVERRIDING: &'static str;
    /// The placeholder of parameter `n` (from 1).
    fn placeholder(n: usize) -> String;
    fn bind<'q>(q: Query<'q, Self, Self::Arguments<'q>>, c: Cell) -> Query<'q, Self, Self::Arguments<'q>>;
    /// The rows a statement changed.
    fn rows_affected(done: &Self::QueryResult) -> u64;
}

macro_rules! catalog {
    ($db:ty, $tables:expr, $columns:expr, $rowid:expr, $overriding:expr, $placeholder:expr) => {
        impl Catalog for $db {
            const TABLES: &'static str = $tables;
            const COLUMNS: &'static str = $columns;
            const ROWID: bool = $rowid;
            const OVERRIDING: &'static str = $overriding;
            fn placeholder(n: usize) -> String {
                $placeholder(n)
            }
            fn rows_affected(done: &Self::QueryResult) -> u64 {
                done.rows_affected()
            }
            fn bind<'q>(q: Query<'q, Self, Self::Arguments<'q>>, c: Cell) -> Query<'q, Self, Self::Arguments<'q>> {
                match c {
                    Cell::Null(Kind::Int) => q.bind(None::<i64>),
                    Cell::Null(Kind::Real) => q.bind(None::<f64>),
                    Cell::Null(Kind::Text) => q.bind(None::<String>),
                    Cell::Null(Kind::Bytes) => q.bind(None::<Vec<u8>>),
                    Cell::Null(Kind::Bool) => q.bind(None::<bool>),
                    Cell::Int(v) => q.bind(v),
                    Cell::Real(v) => q.bind(v),
                    Cell::Text(v) => q.bind(v),
                    Cell::Bytes(v) => q.bind(v),
                    Cell::Bool(v) => q.bind(v),
                }
            }
        }
    };
}

catalog!(
    sqlx::Sqlite,
    "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
     AND name <> '_sqlx_migrations'",
    "SELECT name, type AS ty FROM pragma_table_info(?) ORDER BY cid",
    true,
    "",
    |_| "?".to_owned()
);

catalog!(
    sqlx::Postgres,
    "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = current_schema() \
     AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations'",
    "SELECT column_name::text AS name, udt_name::text AS ty FROM information_schema.columns \
     WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    false,
    " OVERRIDING SYSTEM VALUE",
    |n| format!("${n}")
);

/// What a dump held, or holds after it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpSummary {
    /// The last migration of the schema the rows belong to.
    pub schema_version: i64,
    /// When its snapshot was taken (RFC 3339, UTC).
    pub made_at: String,
    /// The backend it was read from: `sqlite` or `postgres`.
    pub backend: String,
    /// Rows of each table, in the order of the dump.
    pub tables: Vec<(String, u64)>,
}

impl DumpSummary {
    /// Rows in all.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// How a column's values travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Real,
    Text,
    Bytes,
    Bool,
}

impl Kind {
    /// From the type as the catalogue names it: SQLite's declared type or
    /// PostgreSQL's `udt_name`.
    fn of(ty: &str) -> Option<Kind> {
        Some(match ty {
            "INTEGER" | "int8" => Kind::Int,
            "REAL" | "float8" => Kind::Real,
            "TEXT" | "text" => Kind::Text,
            "BLOB" | "bytea" => Kind::Bytes,
            "bool" => Kind::Bool,
            _ => return None,
        })
    }

    fn expected(self) -> &'static str {
        match self {
            Kind::Int => "an integer",
            Kind::Real => "a number",
            Kind::Text => "a string",
            Kind::Bytes => "a base64 string",
            Kind::Bool => "true or false",
        }
    }
}

/// A column of a table here: its name in the dump, how SQL names it, its kind.
#[derive(Debug)]
struct Column {
    name: String,
    sql: String,
    kind: Kind,
}

/// One value read from a dump, ready to bind.
#[derive(Debug, Clone)]
pub(crate) enum Cell {
    Null(Kind),
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
    Bool(bool),
}

impl Cell {
    /// `v` as a value of a column of `kind`: integers and flags load into
    /// each other, so a dump of either backend loads into the other.
    fn from_json(v: Value, kind: Kind) -> std::result::Result<Cell, String> {
        let wrong = |v: &Value| format!("expects {}, found {v}", kind.expected());
        Ok(match (kind, v) {
            (_, Value::Null) => Cell::Null(kind),
            (Kind::Int, Value::Number(n)) => Cell::Int(n.as_i64().ok_or_else(|| wrong(&Value::Number(n)))?),
            (Kind::Int, Value::Bool(b)) => Cell::Int(i64::from(b)),
            (Kind::Real, Value::Number(n)) => Cell::Real(n.as_f64().ok_or_else(|| wrong(&Value::Number(n)))?),
            (Kind::Text, Value::String(s)) => Cell::Text(s),
            (Kind::Bytes, Value::String(s)) => {
                Cell::Bytes(B64.decode(&s).map_err(|e| format!("expects a base64 string: {e}"))?)
            }
            (Kind::Bool, Value::Bool(b)) => Cell::Bool(b),
            (Kind::Bool, Value::Number(n)) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                Cell::Bool(n.as_i64() == Some(1))
            }
            (_, v) => return Err(wrong(&v)),
        })
    }

    fn is_null(&self) -> bool {
        matches!(self, Cell::Null(_))
    }
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The columns of `table` here, with SQLite's rowid as `id` where it is one.
async fn columns<DB>(conn: &mut DB::Connection, table: &str) -> Result<Vec<Column>>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::Row: Columns,
{
    let mut cols = Vec::new();
    if DB::ROWID && ROWID_IDS.contains(&table) {
        cols.push(Column { name: "id".into(), sql: "rowid".into(), kind: Kind::Int });
    }
    for r in DB::bind(sqlx::query::<DB>(DB::COLUMNS), Cell::Text(table.to_owned())).fetch_all(&mut *conn).await? {
        let (name, ty) = (r.text("name")?, r.text("ty")?);
        let kind = Kind::of(&ty).ok_or_else(|| {
            StoreError::Invalid(format!("column {table}.{name} is of type {ty}, which a dump does not carry"))
        })?;
        cols.push(Column { sql: quoted(&name), name, kind });
    }
    if cols.is_empty() {
        return Err(StoreError::Invalid(format!("table {table} does not exist")));
    }
    Ok(cols)
}

/// Refuses a schema whose tables differ from those a dump carries.
async fn check_tables<DB>(conn: &mut DB::Connection) -> Result<()>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::Row: Columns,
{
    let mut here = Vec::new();
    for r in sqlx::query::<DB>(DB::TABLES).fetch_all(&mut *conn).await? {
        here.push(r.text("name")?);
    }
    if let Some(t) = here.iter().find(|t| !TABLES.iter().any(|k| k.name == *t)) {
        return Err(StoreError::Invalid(format!("table {t} is not among the tables a dump carries")));
    }
    if let Some(t) = TABLES.iter().find(|k| !here.iter().any(|t| t == k.name)) {
        return Err(StoreError::Invalid(format!("table {} is missing from the database", t.name)));
    }
    Ok(())
}

async fn schema_version<DB>(conn: &mut DB::Connection) -> Result<i64>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::Row: Columns,
{
    let r = sqlx::query::<DB>("SELECT coalesce(max(version), 0) AS v FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut *conn)
        .await?;
    r.int("v")
}

fn value_of(row: &impl Columns, c: &Column, table: &str) -> Result<Value> {
    let v = match c.kind {
        Kind::Int => row.opt_int(&c.name)?.map(Value::from),
        Kind::Real => row
            .opt_real(&c.name)?
            .map(|f| {
                serde_json::Number::from_f64(f).map(Value::Number).ok_or_else(|| {
                    StoreError::Corrupt(format!("{table}.{} holds {f}, which JSON cannot carry", c.name))
                })
            })
            .transpose()?,
        Kind::Text => row.opt_text(&c.name)?.map(Value::String),
        Kind::Bytes => row.opt_bytes(&c.name)?.map(|b| Value::String(B64.encode(b))),
        Kind::Bool => row.opt_flag(&c.name)?.map(Value::Bool),
    };
    Ok(v.unwrap_or(Value::Null))
}

/// The first line of a dump; its fields in this order.
#[derive(Serialize)]
struct Header<'a> {
    format: &'a str,
    schema_version: i64,
    made_at: &'a str,
    backend: &'a str,
}

/// The line that begins a table.
#[derive(Serialize)]
struct Section<'a> {
    table: &'a str,
    columns: Vec<&'a str>,
}

/// Writes `v` as JSON and a newline.
async fn write_line(out: &mut (impl AsyncWrite + Unpin), v: &impl Serialize) -> Result<()> {
    let line = serde_json::to_string(v).map_err(|e| StoreError::Invalid(format!("could not write the dump: {e}")))?;
    write_text(out, &line).await
}

async fn write_text(out: &mut (impl AsyncWrite + Unpin), line: &str) -> Result<()> {
    let failed = |e: std::io::Error| StoreError::Invalid(format!("could not write the dump: {e}"));
    out.write_all(line.as_bytes()).await.map_err(failed)?;
    out.write_all(b"\n").await.map_err(failed)
}

/// Writes every table to `out`, reading inside the caller's transaction,
/// which must see one snapshot of the database.
pub(crate) async fn write<DB>(
    conn: &mut DB::Connection,
    backend: &str,
    out: &mut (dyn AsyncWrite + Send + Unpin),
) -> Result<DumpSummary>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::Row: Columns,
{
    check_tables::<DB>(conn).await?;
    let summary_head = (schema_version::<DB>(conn).await?, now_text());
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let head = Header { format: DUMP_FORMAT, schema_version: summary_head.0, made_at: &summary_head.1, backend };
    write_line(&mut out, &head).await?;
    let mut tables = Vec::with_capacity(TABLES.len());
    for t in TABLES {
        let cols = columns::<DB>(conn, t.name).await?;
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        write_line(&mut out, &Section { table: t.name, columns: names }).await?;
        let mut sql = String::from("SELECT ");
        for (i, c) in cols.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(sql, "{sep}{} AS {}", c.sql, quoted(&c.name));
        }
        let _ = write!(sql, " FROM {} ORDER BY {}", t.name, t.order);
        let mut rows = sqlx::query::<DB>(&sql).fetch(&mut *conn);
        let mut n = 0u64;
        while let Some(row) = rows.try_next().await? {
            let values = cols.iter().map(|c| value_of(&row, c, t.name)).collect::<Result<Vec<_>>>()?;
            write_line(&mut out, &Value::Array(values)).await?;
            n += 1;
        }
        tables.push((t.name.to_owned(), n));
    }
    let counts: Vec<String> = tables.iter().map(|(t, n)| format!("\"{t}\":{n}")).collect();
    write_text(&mut out, &format!("{{\"end\":{{{}}}}}", counts.join(","))).await?;
    out.flush().await.map_err(|e| StoreError::Invalid(format!("could not write the dump: {e}")))?;
    Ok(DumpSummary { schema_version: summary_head.0, made_at: summary_head.1, backend: backend.to_owned(), tables })
}

/// The lines of a dump, numbered for the errors.
struct Lines<'a> {
    input: &'a mut (dyn AsyncBufRead + Send + Unpin),
    buf: String,
    n: u64,
}

impl Lines<'_> {
    /// The next line as JSON; `None` at the end of the input.
    async fn next(&mut self) -> Result<Option<Value>> {
        self.buf.clear();
        self.n += 1;
        let read = self.input.read_line(&mut self.buf).await.map_err(|e| self.bad(format!("cannot be read: {e}")))?;
        if read == 0 {
            self.n -= 1;
            return Ok(None);
        }
        serde_json::from_str(&self.buf).map(Some).map_err(|e| self.bad(format!("not JSON: {e}")))
    }

    /// The next line, which must be there.
    async fn expect(&mut self) -> Result<Value> {
        self.next().await?.ok_or_else(|| {
            StoreError::Invalid(format!("the dump ends after line {} without its last line: it is incomplete", self.n))
        })
    }

    fn bad(&self, what: impl std::fmt::Display) -> StoreError {
        StoreError::Invalid(format!("line {} of the dump: {what}", self.n))
    }
}

/// Reads the dump's first line: its format, version and origin.
fn header(v: &Value, lines: &Lines<'_>) -> Result<(i64, String, String)> {
    if v.get("format").and_then(Value::as_str) != Some(DUMP_FORMAT) {
        return Err(StoreError::Invalid(format!(
            "this is not a CivicGrid dump: its first line does not name the format {DUMP_FORMAT}"
        )));
    }
    let field = |k: &str| v.get(k).ok_or_else(|| lines.bad(format!("no {k:?} in the header")));
    let version = field("schema_version")?.as_i64().ok_or_else(|| lines.bad("the schema_version is not an integer"))?;
    let made_at = field("made_at")?.as_str().unwrap_or_default().to_owned();
    let backend = field("backend")?.as_str().unwrap_or_default().to_owned();
    Ok((version, made_at, backend))
}

/// Loads a dump into the empty database behind `conn`, inside the caller's
/// transaction. Refuses a database holding any row, a dump of another schema
/// version, and a dump that is damaged or cut short.
pub(crate) async fn read<DB>(
    conn: &mut DB::Connection,
    input: &mut (dyn AsyncBufRead + Send + Unpin),
) -> Result<DumpSummary>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::Row: Columns,
{
    check_tables::<DB>(conn).await?;
    for t in TABLES {
        let any =
            sqlx::query::<DB>(&format!("SELECT 1 AS one FROM {} LIMIT 1", t.name)).fetch_optional(&mut *conn).await?;
        if any.is_some() {
            return Err(StoreError::Conflict(format!(
                "the database is not empty (table {} has rows): restore into a new, empty database",
                t.name
            )));
        }
    }
    let here = schema_version::<DB>(conn).await?;
    let mut lines = Lines { input, buf: String::new(), n: 0 };
    let not_a_dump = |e| match e {
        StoreError::Invalid(why) => StoreError::Invalid(format!("this is not a CivicGrid dump: {why}")),
        e => e,
    };
    let first = lines.next().await.map_err(not_a_dump)?;
    let first = first.ok_or_else(|| StoreError::Invalid("the dump is empty".into()))?;
    let (version, made_at, backend) = header(&first, &lines)?;
    if version < here {
        return Err(StoreError::Invalid(format!(
            "the dump is of schema version {version}, older than this database's {here}: restore it with the \
             CivicGrid release that made it, then run `civicgrid migrate` with this one"
        )));
    }
    if version > here {
        return Err(StoreError::Invalid(format!(
            "the dump is of schema version {version}, newer than this CivicGrid's {here}: restore it with the \
             release that made it or a later one"
        )));
    }
    let mut tables = Vec::with_capacity(TABLES.len());
    let mut next = lines.expect().await?;
    for t in TABLES {
        let section = next.get("table").and_then(Value::as_str);
        if section != Some(t.name) {
            return Err(lines.bad(format!("expected the columns of table {}, found {}", t.name, short(&next))));
        }
        let cols = section_columns(&next, columns::<DB>(conn, t.name).await?, t.name, &lines)?;
        let id_at = cols.iter().position(|c| c.name == "id");
        let later: Vec<usize> =
            cols.iter().enumerate().filter(|(_, c)| t.later.contains(&c.name.as_str())).map(|(i, _)| i).collect();
        let per_insert = (30_000 / cols.len()).clamp(1, crate::schema::CHUNK);
        let mut chunk: Vec<Vec<Cell>> = Vec::with_capacity(per_insert);
        let mut deferred: Vec<(Cell, usize, Cell)> = Vec::new();
        let mut n = 0u64;
        next = loop {
            let line = lines.expect().await?;
            let Value::Array(values) = line else { break line };
            if values.len() != cols.len() {
                return Err(lines.bad(format!("{} values for the {} columns of {}", values.len(), cols.len(), t.name)));
            }
            let mut row = values
                .into_iter()
                .zip(&cols)
                .map(|(v, c)| Cell::from_json(v, c.kind).map_err(|e| lines.bad(format!("{}.{} {e}", t.name, c.name))))
                .collect::<Result<Vec<_>>>()?;
            for &i in &later {
                if !row[i].is_null() {
                    let id = match id_at.map(|k| &row[k]) {
                        Some(Cell::Int(id)) => *id,
                        _ => return Err(lines.bad(format!("a row of {} without an id", t.name))),
                    };
                    let value = std::mem::replace(&mut row[i], Cell::Null(cols[i].kind));
                    deferred.push((Cell::Int(id), i, value));
                }
            }
            chunk.push(row);
            n += 1;
            if chunk.len() == per_insert {
                let rows = std::mem::take(&mut chunk);
                insert::<DB>(conn, t.name, &cols, rows).await.map_err(|e| refused(&lines, t.name, e))?;
            }
        };
        if !chunk.is_empty() {
            insert::<DB>(conn, t.name, &cols, chunk).await.map_err(|e| refused(&lines, t.name, e))?;
        }
        for (id, i, value) in deferred {
            let sql = format!(
                "UPDATE {} SET {} = {} WHERE id = {}",
                t.name,
                cols[i].sql,
                DB::placeholder(1),
                DB::placeholder(2)
            );
            let set = DB::bind(DB::bind(sqlx::query::<DB>(&sql), value), id).execute(&mut *conn).await;
            set.map_err(|e| refused(&lines, t.name, e.into()))?;
        }
        tables.push((t.name.to_owned(), n));
    }
    let Some(counts) = next.get("end").and_then(Value::as_object) else {
        return Err(lines.bad(format!("expected the end of the dump, found {}", short(&next))));
    };
    for (t, n) in &tables {
        let said = counts.get(t).and_then(Value::as_u64);
        if said != Some(*n) {
            return Err(StoreError::Invalid(format!(
                "table {t}: the dump's last line counts {} rows, the dump holds {n}",
                said.map_or_else(|| "no".to_owned(), |s| s.to_string())
            )));
        }
    }
    if lines.next().await?.is_some() {
        return Err(lines.bad("more data after the end of the dump"));
    }
    Ok(DumpSummary { schema_version: version, made_at, backend, tables })
}

/// A refusal of the database to take rows (a constraint they break), told
/// by the line the dump had reached.
fn refused(lines: &Lines<'_>, table: &str, e: StoreError) -> StoreError {
    match e {
        StoreError::Database(sqlx::Error::Database(db)) => {
            lines.bad(format!("the rows of {table} up to here do not fit this database: {db}"))
        }
        e => e,
    }
}

/// The columns a section header names, each matched to a column here.
fn section_columns(header: &Value, mut here: Vec<Column>, table: &str, lines: &Lines<'_>) -> Result<Vec<Column>> {
    let names: Vec<&str> = header
        .get("columns")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut cols = Vec::with_capacity(names.len());
    for name in &names {
        let Some(i) = here.iter().position(|c| c.name == *name) else {
            return Err(lines.bad(format!("column {table}.{name} is not in this database")));
        };
        cols.push(here.swap_remove(i));
    }
    if let Some(c) = here.first() {
        return Err(lines.bad(format!("column {table}.{} is missing from the dump", c.name)));
    }
    Ok(cols)
}

async fn insert<DB>(conn: &mut DB::Connection, table: &str, cols: &[Column], rows: Vec<Vec<Cell>>) -> Result<()>
where
    DB: Catalog,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    let names: Vec<&str> = cols.iter().map(|c| c.sql.as_str()).collect();
    let mut sql = format!("INSERT INTO {table} ({}){} VALUES ", names.join(", "), DB::OVERRIDING);
    let mut n = 0;
    for (r, row) in rows.iter().enumerate() {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for i in 0..row.len() {
            n += 1;
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(sql, "{sep}{}", DB::placeholder(n));
        }
        sql.push(')');
    }
    let mut q = sqlx::query::<DB>(&sql);
    for c in rows.into_iter().flatten() {
        q = DB::bind(q, c);
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

/// The start of a line, for an error.
fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// The audit entry of a restore, on the restored chain.
pub(crate) fn restore_entry(s: &DumpSummary, by: &Actor) -> NewAudit {
    let detail = json!({
        "backend": s.backend,
        "made_at": s.made_at,
        "schema_version": s.schema_version,
        "rows": s.rows(),
    });
    write_entry(by, "restore", "database", detail)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]
    use super::*;

    #[test]
    fn values_load_into_either_backends_kinds() {
        assert!(matches!(Cell::from_json(json!(1), Kind::Bool), Ok(Cell::Bool(true))));
        assert!(matches!(Cell::from_json(json!(false), Kind::Int), Ok(Cell::Int(0))));
        assert!(matches!(Cell::from_json(json!("AQI="), Kind::Bytes), Ok(Cell::Bytes(b))if b == [1, 2]));
        assert!(matches!(Cell::from_json(Value::Null, Kind::Text), Ok(Cell::Null(Kind::Text))));
        let e = Cell::from_json(json!("x"), Kind::Int).unwrap_err();
        assert_eq!(e, "expects an integer, found \"x\"");
        assert!(Cell::from_json(json!(2), Kind::Bool).is_err());
        assert!(Cell::from_json(json!(1.5), Kind::Int).is_err());
        assert!(Cell::from_json(json!("not base64!"), Kind::Bytes).is_err());
    }

    #[test]
    fn reals_round_trip_exactly() {
        for f in [107.37512345678901_f64, 34.1 + 0.2, 1e-300, -0.0, f64::MAX, 0.1 + 0.7] {
            let text = Value::Number(serde_json::Number::from_f64(f).unwrap()).to_string();
            let back: Value = serde_json::from_str(&text).unwrap();
            match Cell::from_json(back, Kind::Real).unwrap() {
                Cell::Real(g) => assert_eq!(f.to_bits(), g.to_bits(), "{f} → {text}"),
                c => panic!("{c:?}"),
            }
        }
    }

    #[test]
    fn every_table_comes_after_those_it_refers_to() {
        // A spot check of the order the foreign keys need.
        let at = |n: &str| TABLES.iter().position(|t| t.name == n).unwrap();
        for (before, after) in [
            ("compounds", "buildings"),
            ("buildings", "households"),
            ("households", "residents"),
            ("people", "person_roles"),
            ("party_branches", "party_branch_grids"),
            ("street_nodes", "street_edges"),
            ("users", "cases"),
            ("cases", "case_events"),
            ("attachments", "case_attachments"),
        ] {
            assert!(at(before) < at(after), "{before} must come before {after}");
        }
    }
}
