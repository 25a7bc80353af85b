//! `civicgrid import osm FILE.osm.pbf`: the walking network and facilities of an OpenStreetMap extract, written as a graph folder for `civicgrid access` and/or into the database.
//!
//! The reading is `civicgrid_geo::osm` (which ways are walked, how the
//! graph is cut), the tags → category table is
//! `civicgrid_domain::osm_facilities`. Here: the largest connected part of
//! the network is kept unless `--all-components` (islands are mostly
//! clipping artefacts, and a facility snapped to one is out of reach);
//! with `--out` the folder gets `nodes.csv` (id,lon,lat,osm_id),
//! `edges.csv` (from,to,length_m,osm_way), `pois.csv`
//! (id,category,lon,lat,osm_id) and `poi_snap.csv` (poi_id,node_id,snap_m:
//! the nearest graph node in a straight line); with a database the stored
//! street network is replaced and the facilities merged by their OSM id
//! (`osm:node/123`, code `OSMN123`). A facility outside every grid of the
//! district is skipped and counted: the store places every facility in a
//! grid, and one outside them belongs to nobody's service circle.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use civicgrid_domain::{FacilityCategory, StreetEdge};
use civicgrid_geo::osm::{self, OsmElement, OsmExtract, Tags};
use civicgrid_geo::{LatLng, WalkGraph};
use civicgrid_store::{Actor, ExternalFacility, NetworkImport, NetworkImported, NetworkNode};
use indicatif::{ProgressBar, ProgressStyle};

use crate::Db;

/// Where the import goes and how.
#[derive(Debug, clap::Args)]
pub(crate) struct OsmArgs {
    /// The extract to read (`.osm.pbf`).
    file: std::path::PathBuf,
    /// Database whose street network is replaced and whose facilities are
    /// merged: a file path or sqlite://PATH.
    #[arg(long, env = "CIVICGRID_DATABASE")]
    database: Option<String>,
    /// Key file of the database (see `serve --help`).
    #[arg(long, env = "CIVICGRID_KEY_FILE")]
    key_file: Option<std::path::PathBuf>,
    /// Folder to write the graph to, in the layout `civicgrid access --graph` reads.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Keep every connected part of the network, not only the largest.
    #[arg(long)]
    all_components: bool,
}

/// OSM tags → CivicGrid category, through the domain's table.
fn classify(tags: &Tags<'_>) -> Option<FacilityCategory> {
    civicgrid_domain::osm_facilities::category_from_osm(|k| tags.get(k))
}

pub(crate) async fn run(args: OsmArgs) -> anyhow::Result<()> {
    if args.database.is_none() && args.out.is_none() {
        bail!("nothing to write: give --out DIR for a graph folder, --database for the district's database, or both");
    }
    let started = Instant::now();
    let shown = args.file.display().to_string();
    let file = File::open(&args.file).with_context(|| format!("could not open {shown}"))?;
    let size = file.metadata().with_context(|| format!("could not read {shown}"))?.len();
    let bar = bar(size, "{msg} [{bar:40}] {bytes}/{total_bytes} ({elapsed})", "reading");
    let mut extract = osm::read(BufReader::new(file), &classify, &mut |bytes| bar.set_position(bytes))
        .with_context(|| format!("could not import {shown}"))?;
    bar.finish_and_clear();
    let read = started.elapsed();
    if extract.edges.is_empty() {
        bail!("{shown} holds no walkable ways: is it the extract of a town?");
    }
    let components = extract.component_sizes().len();
    let dropped = if args.all_components { 0 } else { extract.keep_largest_component() };
    let graph = extract.walk_graph().context("could not build the walking graph")?;

    println!(
        "read {shown}: {} blocks, {} nodes, {} ways, {} relations (skipped) in {:.2} s",
        extract.counts.blocks,
        extract.counts.nodes,
        extract.counts.ways,
        extract.counts.relations,
        read.as_secs_f64()
    );
    let dropped_note = match (args.all_components, dropped) {
        (true, _) => format!("; {components} connected parts kept"),
        (false, 0) => String::new(),
        (false, n) => format!("; {n} nodes in {} small disconnected parts dropped", components - 1),
    };
    println!(
        "walking network: {} nodes, {} edges, {:.2} km of walkways from {} ways{dropped_note}",
        extract.nodes.len(),
        extract.edges.len(),
        extract.length_km(),
        extract.walkable_ways
    );
    let mut per_category: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &extract.facilities {
        *per_category.entry(f.category.as_str()).or_default() += 1;
    }
    let listed: Vec<String> = per_category.iter().map(|(c, n)| format!("{c} {n}")).collect();
    println!("facilities: {} ({})", extract.facilities.len(), listed.join(", "));

    if let Some(dir) = &args.out {
        write_folder(&extract, &graph, dir).with_context(|| format!("could not write {}", dir.display()))?;
        println!("wrote {}: nodes.csv, edges.csv, pois.csv, poi_snap.csv", dir.display());
    }
    if let Some(database) = args.database {
        let db = Db { database, key_file: args.key_file };
        let (report, outside) = store(&extract, &shown, &db).await?;
        println!(
            "database {}: street network replaced ({} nodes, {} edges); facilities in the district's grids: \
             {} added, {} updated, {} unchanged, {} no longer in the file removed; {outside} outside every grid skipped",
            crate::shown(&db.database),
            report.nodes,
            report.edges,
            report.added,
            report.updated,
            report.unchanged,
            report.removed
        );
    }
    println!("done in {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn bar(len: u64, template: &str, message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "),
    );
    bar.set_message(message);
    bar
}

/// The external key of a facility and the code made from it.
fn keys(element: OsmElement) -> (String, String) {
    let code = match element {
        OsmElement::Node(id) => format!("OSMN{id}"),
        OsmElement::Way(id) => format!("OSMW{id}"),
    };
    (format!("osm:{element}"), code)
}

/// Replaces the stored network and merges the facilities located in the
/// district's grids; returns what the store did and how many were outside.
async fn store(
    extract: &OsmExtract<FacilityCategory>,
    source: &str,
    db: &Db,
) -> anyhow::Result<(NetworkImported, usize)> {
    let store = db.open().await?;
    if store.is_empty().await? {
        bail!(
            "database {} holds no district: write one first (`civicgrid demo`, or your own)",
            crate::shown(&db.database)
        );
    }
    let locator =
        civicgrid_server::Locator::load(store.as_ref()).await.context("could not load the district's grids")?;
    let mut facilities = Vec::new();
    let mut outside = 0;
    for f in &extract.facilities {
        let Some(grid) = locator.grid_of(f.position) else {
            outside += 1;
            continue;
        };
        let (external_id, code) = keys(f.element);
        facilities.push(ExternalFacility {
            external_id,
            code,
            category: f.category,
            name: f.name.clone(),
            address: f.address.clone(),
            grid: grid.clone(),
            lat: f.position.lat(),
            lon: f.position.lon(),
        });
    }
    let import = NetworkImport {
        source: Path::new(source).file_name().map_or(source.to_owned(), |n| n.to_string_lossy().into_owned()),
        id_prefix: "osm:".into(),
        nodes: extract
            .nodes
            .iter()
            .map(|n| NetworkNode { lon: n.position.lon(), lat: n.position.lat(), osm_id: Some(n.osm_id) })
            .collect(),
        edges: extract
            .edges
            .iter()
            .map(|e| StreetEdge { from: e.from, to: e.to, length_m: e.length_m, name: e.name.clone() })
            .collect(),
        facilities,
    };
    let bar = bar(0, "{msg} [{bar:40}] {pos}/{len} rows ({elapsed})", "writing");
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let report = store
        .import_network(&import, &progress, &Actor::system("import osm"))
        .await
        .with_context(|| format!("could not write the import into {}", crate::shown(&db.database)))?;
    bar.finish_and_clear();
    Ok((report, outside))
}

/// The graph folder `civicgrid access --graph` reads.
fn write_folder(extract: &OsmExtract<FacilityCategory>, graph: &WalkGraph, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut w = BufWriter::new(File::create(dir.join("nodes.csv"))?);
    writeln!(w, "id,lon,lat,osm_id")?;
    for (i, n) in extract.nodes.iter().enumerate() {
        writeln!(w, "{i},{:.7},{:.7},{}", n.position.lon(), n.position.lat(), n.osm_id)?;
    }
    w.flush()?;
    let mut w = BufWriter::new(File::create(dir.join("edges.csv"))?);
    writeln!(w, "from,to,length_m,osm_way")?;
    for e in &extract.edges {
        writeln!(w, "{},{},{:.3},{}", e.from, e.to, e.length_m, e.way)?;
    }
    w.flush()?;
    let mut pois = BufWriter::new(File::create(dir.join("pois.csv"))?);
    let mut snaps = BufWriter::new(File::create(dir.join("poi_snap.csv"))?);
    writeln!(pois, "id,category,lon,lat,osm_id")?;
    writeln!(snaps, "poi_id,node_id,snap_m")?;
    for (i, f) in extract.facilities.iter().enumerate() {
        let at: LatLng = f.position;
        writeln!(pois, "{i},{},{:.7},{:.7},{}", f.category, at.lon(), at.lat(), f.element)?;
        // The graph is not empty (checked before), so every facility has a nearest node.
        if let Some((node, m)) = graph.nearest_node(at) {
            writeln!(snaps, "{i},{node},{m:.2}")?;
        }
    }
    pois.flush()?;
    snaps.flush()?;
    Ok(())
}
