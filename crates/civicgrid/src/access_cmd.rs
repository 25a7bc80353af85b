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
//! With several radii the counts come per radius, `count_<category>_<radius>`
//! (radius in metres as given), and `nearest_` is cut at the largest.
//! `--export-demo DIR` writes the demo district's street network and
//! facilities as such a folder instead, so that other tools can be run on
//! exactly the same input.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use civicgrid_geo::{Accessibility, Facilities, LatLng, NodeId, WalkEdge, WalkGraph};

/// What `civicgrid access` measures, or which folder it writes.
#[derive(Debug, clap::Args)]
pub(crate) struct AccessArgs {
    /// Folder with nodes.csv, edges.csv, pois.csv and poi_snap.csv.
    #[arg(long, required_unless_present = "export_demo")]
    graph: Option<PathBuf>,
    /// Walking radius in metres (1200 is 15 minutes at 4.8 km/h); several,
    /// comma-separated, give counts for each (400,800,1200: 5, 10, 15 minutes).
    #[arg(long, value_delimiter = ',', default_value = "1200")]
    radius: Vec<f64>,
    /// CSV file to write.
    #[arg(long, required_unless_present = "export_demo")]
    out: Option<PathBuf>,
    /// Threads to measure on; 0 uses every core. The answer does not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Instead of measuring, write the demo district's street network and
    /// facilities (default seed) as a graph folder in DIR.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["graph", "out"])]
    export_demo: Option<PathBuf>,
}

/// Runs `civicgrid access` as `args` ask.
pub(crate) fn run(args: &AccessArgs) -> anyhow::Result<()> {
    if let Some(dir) = &args.export_demo {
        return export_demo(dir).with_context(|| format!("could not write {}", dir.display()));
    }
    let (Some(dir), Some(out)) = (&args.graph, &args.out) else { bail!("--graph and --out are both needed") };
    measure(dir, &args.radius, args.threads, out)
}

/// Reads the graph folder `dir`, measures accessibility within `radii_m`
/// metres, writes `out`, and prints a one-line summary with the time taken.
fn measure(dir: &Path, radii_m: &[f64], threads: usize, out: &Path) -> anyhow::Result<()> {
    for &r in radii_m {
        if !(r.is_finite() && r > 0.0) {
            bail!("--radius must be a positive number of metres, not {r}");
        }
    }
    let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, usize::from) } else { threads };
    let started = Instant::now();
    let (graph, facilities) = read_folder(dir)?;
    let read = started.elapsed();
    let started = Instant::now();
    let access = Accessibility::compute_with_threads(&graph, &facilities, radii_m, threads)
        .context("could not measure accessibility")?;
    let computed = started.elapsed();
    let started = Instant::now();
    write_csv(&access, out).with_context(|| format!("could not write {}", out.display()))?;
    let written = started.elapsed();
    let radii: Vec<String> = radii_m.iter().map(f64::to_string).collect();
    println!(
        "access: {} nodes, {} edges, {} facilities in {} categories, radius {} m, {threads} thread(s): \
         read in {:.1} ms, computed in {:.1} ms, written in {:.1} ms; wrote {}",
        graph.node_count(),
        graph.edge_count(),
        facilities.len(),
        facilities.categories().len(),
        radii.join(", "),
        read.as_secs_f64() * 1e3,
        computed.as_secs_f64() * 1e3,
        written.as_secs_f64() * 1e3,
        out.display()
    );
    Ok(())
}

/// The demo district's streets and facilities as a graph folder, each
/// facility snapped to the nearest node in a straight line.
fn export_demo(dir: &Path) -> anyhow::Result<()> {
    let bundle = civicgrid_demo::generate(civicgrid_demo::DEFAULT_SEED);
    let net = &bundle.streets;
    let (positions, graph) =
        civicgrid_server::access::walk_graph(net).context("could not build the demo's walking graph")?;
    std::fs::create_dir_all(dir)?;
    let mut w = BufWriter::new(File::create(dir.join("nodes.csv"))?);
    writeln!(w, "id,lon,lat")?;
    for (i, p) in positions.iter().enumerate() {
        writeln!(w, "{i},{:.7},{:.7}", p.lon(), p.lat())?;
    }
    w.flush()?;
    // Millimetres, like the Helsinki data and `import osm`: tools that sum
    // integer millimetres (pandana) then see exactly the lengths we do.
    let mut w = BufWriter::new(File::create(dir.join("edges.csv"))?);
    writeln!(w, "from,to,length_m")?;
    for e in &net.edges {
        writeln!(w, "{},{},{:.3}", e.from, e.to, e.length_m)?;
    }
    w.flush()?;
    let mut pois = BufWriter::new(File::create(dir.join("pois.csv"))?);
    let mut snaps = BufWriter::new(File::create(dir.join("poi_snap.csv"))?);
    writeln!(pois, "id,category,lon,lat")?;
    writeln!(snaps, "poi_id,node_id,snap_m")?;
    for (i, f) in bundle.facilities.iter().enumerate() {
        let at = LatLng::new(f.lat, f.lon).with_context(|| format!("facility {} has no valid position", f.code))?;
        let (node, m) = graph.nearest_node(at).context("the demo's street network has no nodes")?;
        writeln!(pois, "{i},{},{:.7},{:.7}", f.category, at.lon(), at.lat())?;
        writeln!(snaps, "{i},{node},{m:.2}")?;
    }
    pois.flush()?;
    snaps.flush()?;
    println!(
        "wrote {}: the demo district's {} street nodes, {} edges and {} facilities in {} categories",
        dir.display(),
        graph.node_count(),
        graph.edge_count(),
        bundle.facilities.len(),
        civicgrid_domain::FacilityCategory::ALL.len()
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

fn write_csv(access: &Accessibility, out: &Path) -> anyhow::Result<()> {
    let mut w = BufWriter::new(File::create(out)?);
    let cats = access.categories();
    let radii = access.radii_m();
    let largest = radii.iter().copied().fold(0.0, f64::max);
    let count_name = |c: &str, r: f64| if radii.len() == 1 { format!("count_{c}") } else { format!("count_{c}_{r}") };
    let header: Vec<String> = std::iter::once("node_id".to_owned())
        .chain(radii.iter().flat_map(|&r| cats.iter().map(move |c| count_name(c, r))))
        .chain(cats.iter().map(|c| format!("nearest_{c}")))
        .collect();
    writeln!(w, "{}", header.join(","))?;
    let counts: Vec<&[u32]> =
        (0..radii.len()).flat_map(|r| (0..cats.len()).map(move |c| access.counts(c, r).unwrap_or_default())).collect();
    let nearest: Vec<&[f64]> = (0..cats.len()).map(|c| access.nearest_m(c).unwrap_or_default()).collect();
    let mut line = String::new();
    for v in 0..access.node_count() {
        line.clear();
        write!(line, "{v}")?;
        // pandana writes counts as floats ("78.000"); the same text keeps the files diffable.
        for column in &counts {
            write!(line, ",{}.000", column[v])?;
        }
        for column in &nearest {
            let m = if column[v].is_finite() { column[v] } else { largest };
            write!(line, ",{m:.3}")?;
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
