//! `civicgrid access`: walking accessibility of every node of a street graph, read from a folder of CSV files and written as one CSV row per node.
//!
//! The folder has the layout of the Helsinki test data (see
//! `crates/civicgrid-geo/tests/data/helsinki-walk/README.md`): `nodes.csv`
//! (id,lon,lat), `edges.csv` (from,to,length_m, undirected), `pois.csv`
//! (id,category,lon,lat) and `poi_snap.csv` (poi_id,node_id,snap_m — each
//! facility sits on that node; `snap_m` is not used). The output follows
//! pandana's reference file: `node_id`, then `count_<category>` for every
//! category, then `nearest_<category>`, categories in alphabetical order,
//! numbers with three decimals, and the radius where none is within it.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use civicgrid_geo::{Accessibility, Facilities, LatLng, NodeId, WalkEdge, WalkGraph};

/// Reads the graph folder `dir`, measures accessibility within `radius_m`
/// metres, writes `out`, and prints a one-line summary with the time taken.
pub(crate) fn run(dir: &Path, radius_m: f64, out: &Path) -> anyhow::Result<()> {
    if !(radius_m.is_finite() && radius_m > 0.0) {
        bail!("--radius must be a positive number of metres, not {radius_m}");
    }
    let started = Instant::now();
    let (graph, facilities) = read_folder(dir)?;
    let read = started.elapsed();
    let started = Instant::now();
    let access = Accessibility::compute(&graph, &facilities, &[radius_m]).context("could not measure accessibility")?;
    let computed = started.elapsed();
    write_csv(&access, radius_m, out).with_context(|| format!("could not write {}", out.display()))?;
    println!(
        "access: {} nodes, {} edges, {} facilities in {} categories, radius {radius_m} m: read in {:.1} ms, computed in {:.1} ms; wrote {}",
        graph.node_count(),
        graph.edge_count(),
        facilities.len(),
        facilities.categories().len(),
        read.as_secs_f64() * 1e3,
        computed.as_secs_f64() * 1e3,
        out.display()
    );
    Ok(())
}

/// The graph and its facilities, every facility on the node `poi_snap.csv` gives it.
fn read_folder(dir: &Path) -> anyhow::Result<(WalkGraph, Facilities)> {
    let nodes_csv = Csv::open(dir, "nodes.csv", &["id", "lon", "lat"])?;
    let mut positions: Vec<Option<LatLng>> = vec![None; nodes_csv.rows.len()];
    for row in nodes_csv.rows() {
        let row = row?;
        let id: usize = row.parse("id")?;
        let slot = positions.get_mut(id).ok_or_else(|| {
            row.error(format!("node id {id} is out of range; ids must run 0..{} without gaps", nodes_csv.rows.len()))
        })?;
        if slot.is_some() {
            return Err(row.error(format!("node id {id} appears twice")));
        }
        let at = LatLng::new(row.parse("lat")?, row.parse("lon")?).map_err(|e| row.error(e.to_string()))?;
        *slot = Some(at);
    }
    // Every id is below the row count and none repeats, so none is missing.
    let positions: Vec<LatLng> = positions.into_iter().flatten().collect();
    let n = positions.len();

    let edges_csv = Csv::open(dir, "edges.csv", &["from", "to", "length_m"])?;
    let mut edges = Vec::with_capacity(edges_csv.rows.len());
    for row in edges_csv.rows() {
        let row = row?;
        let edge = WalkEdge { from: row.node(n, "from")?, to: row.node(n, "to")?, length_m: row.parse("length_m")? };
        if !(edge.length_m.is_finite() && edge.length_m >= 0.0) {
            return Err(
                row.error(format!("length_m {} must be a finite number of metres, not negative", edge.length_m))
            );
        }
        edges.push(edge);
    }
    let graph = WalkGraph::new(&positions, &edges).context("could not build the walking graph")?;

    let pois_csv = Csv::open(dir, "pois.csv", &["id", "category", "lon", "lat"])?;
    let mut categories: HashMap<&str, &str> = HashMap::new();
    for row in pois_csv.rows() {
        let row = row?;
        let (id, category) = (row.field("id"), row.field("category"));
        if category.is_empty() {
            return Err(row.error("the category is empty".into()));
        }
        if categories.insert(id, category).is_some() {
            return Err(row.error(format!("POI id {id} appears twice")));
        }
    }
    let snap_csv = Csv::open(dir, "poi_snap.csv", &["poi_id", "node_id"])?;
    let mut on_node: Vec<(&str, NodeId)> = Vec::with_capacity(snap_csv.rows.len());
    for row in snap_csv.rows() {
        let row = row?;
        let poi = row.field("poi_id");
        let category =
            categories.get(poi).ok_or_else(|| row.error(format!("POI id {poi} is not in {}", pois_csv.path)))?;
        on_node.push((category, row.node(n, "node_id")?));
    }
    // Alphabetical categories give the reference file's column order.
    on_node.sort_by(|a, b| a.0.cmp(b.0));
    let mut facilities = Facilities::new();
    let mut names: Vec<&str> = categories.values().copied().collect();
    names.sort_unstable();
    for name in names {
        facilities.category(name);
    }
    for (category, node) in on_node {
        facilities.add(category, node);
    }
    Ok((graph, facilities))
}

fn write_csv(access: &Accessibility, radius_m: f64, out: &Path) -> anyhow::Result<()> {
    let mut w = BufWriter::new(File::create(out)?);
    let cats = access.categories();
    let header: Vec<String> = std::iter::once("node_id".to_owned())
        .chain(cats.iter().map(|c| format!("count_{c}")))
        .chain(cats.iter().map(|c| format!("nearest_{c}")))
        .collect();
    writeln!(w, "{}", header.join(","))?;
    let counts: Vec<&[u32]> = (0..cats.len()).map(|c| access.counts(c, 0).unwrap_or_default()).collect();
    let nearest: Vec<&[f64]> = (0..cats.len()).map(|c| access.nearest_m(c).unwrap_or_default()).collect();
    let mut line = String::new();
    for v in 0..access.node_count() {
        line.clear();
        line.push_str(&v.to_string());
        // pandana writes counts as floats ("78.000"); the same text keeps the files diffable.
        for column in &counts {
            line.push_str(&format!(",{:.3}", f64::from(column[v])));
        }
        for column in &nearest {
            let m = if column[v].is_finite() { column[v] } else { radius_m };
            line.push_str(&format!(",{m:.3}"));
        }
        writeln!(w, "{line}")?;
    }
    w.flush()?;
    Ok(())
}

/// A small CSV file with a header row and no quoted fields, kept as text so
/// that rows can borrow from it and name their line in errors.
struct Csv {
    path: String,
    columns: Vec<String>,
    /// (line number from 1, the line)
    rows: Vec<(usize, String)>,
}

impl Csv {
    /// Reads `dir/name`, checking that the header holds every `required` column.
    fn open(dir: &Path, name: &str, required: &[&str]) -> anyhow::Result<Self> {
        let path = dir.join(name);
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).with_context(|| format!("could not read {shown}"))?;
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
        let Some((_, header)) = lines.next() else { bail!("{shown} is empty; expected a header line") };
        let columns: Vec<String> = header.split(',').map(|c| c.trim().to_owned()).collect();
        for want in required {
            if !columns.iter().any(|c| c == want) {
                bail!("{shown} line 1: no column {want:?} in the header (found {header:?})");
            }
        }
        let rows = lines.filter(|(_, l)| !l.trim().is_empty()).map(|(i, l)| (i, l.to_owned())).collect();
        Ok(Self { path: shown, columns, rows })
    }

    /// The data lines, each checked to have as many fields as the header.
    fn rows(&self) -> impl Iterator<Item = anyhow::Result<Row<'_>>> {
        self.rows.iter().map(|(line, text)| {
            let row = Row { csv: self, line: *line, fields: text.split(',').collect() };
            if row.fields.len() != self.columns.len() {
                return Err(row.error(format!(
                    "expected {} fields ({}), found {}",
                    self.columns.len(),
                    self.columns.join(","),
                    row.fields.len()
                )));
            }
            Ok(row)
        })
    }
}

/// One data line of a [`Csv`].
struct Row<'a> {
    csv: &'a Csv,
    line: usize,
    fields: Vec<&'a str>,
}

impl<'a> Row<'a> {
    fn error(&self, message: String) -> anyhow::Error {
        anyhow::anyhow!("{} line {}: {message}", self.csv.path, self.line)
    }

    /// The text of a column named in the header (checked by [`Csv::open`]).
    fn field(&self, column: &str) -> &'a str {
        let i = self.csv.columns.iter().position(|c| c == column).unwrap_or(usize::MAX);
        self.fields.get(i).map_or("", |f| f.trim())
    }

    fn parse<T: std::str::FromStr>(&self, column: &str) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        let text = self.field(column);
        text.parse().map_err(|e| self.error(format!("{column} {text:?} is not a valid number: {e}")))
    }

    /// A node id that must exist in a graph of `n` nodes.
    fn node(&self, n: usize, column: &str) -> anyhow::Result<NodeId> {
        let id: NodeId = self.parse(column)?;
        if id as usize >= n {
            return Err(self.error(format!("{column} {id} is not a node of nodes.csv (ids 0..{n})")));
        }
        Ok(id)
    }
}
