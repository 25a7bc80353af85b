//! `civicgrid access` as a planner runs it: the Helsinki walking graph in, a CSV out that agrees with pandana's; and broken input folders refused with a message naming the file and line.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn helsinki() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../civicgrid-geo/tests/data/helsinki-walk")
}

fn access(graph: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_civicgrid"))
        .args(["access", "--radius", "1200", "--graph"])
        .arg(graph)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// Header and rows keyed by node id.
fn read(path: &Path) -> (Vec<String>, HashMap<String, HashMap<String, f64>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_owned).collect();
    let rows = lines
        .map(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            let values = header.iter().cloned().zip(fields.iter().map(|f| f.parse::<f64>().unwrap())).collect();
            (fields[0].to_owned(), values)
        })
        .collect();
    (header, rows)
}

#[test]
fn the_helsinki_graph_gives_pandanas_counts_and_distances() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("access.csv");
    let run = access(&helsinki(), &out);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    let (header, ours) = read(&out);
    let cats = ["bus_stop", "food", "health", "school", "supermarket"];
    let expected_header: Vec<String> = std::iter::once("node_id".to_owned())
        .chain(cats.iter().map(|c| format!("count_{c}")))
        .chain(cats.iter().map(|c| format!("nearest_{c}")))
        .collect();
    assert_eq!(header, expected_header);

    let (ref_header, reference) = read(&helsinki().join("reference_pandana_r1200.csv"));
    assert_eq!(ours.len(), reference.len());
    let mut mismatches = Vec::new();
    for (node, want) in &reference {
        let got = &ours[node];
        for column in &ref_header[1..] {
            let (g, w) = (got[column], want[column]);
            let ok = if column.starts_with("count_") { g == w } else { (g - w).abs() <= 0.01 };
            if !ok {
                mismatches.push(format!("node {node} {column}: ours {g}, pandana {w}"));
            }
        }
    }
    mismatches.sort();
    assert!(
        mismatches.is_empty(),
        "{} differences:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(20)].join("\n")
    );
}

#[test]
fn broken_folders_are_refused_naming_the_file_and_line() {
    // What to break, how, and what the message must say.
    type Case = (&'static str, fn(&Path), &'static [&'static str]);
    let cases: [Case; 4] = [
        ("a bad number", |d| replace_line(d, "edges.csv", 3, "365,2428,four"), &["edges.csv line 3", "length_m"]),
        ("an unknown node", |d| replace_line(d, "poi_snap.csv", 2, "0,99999,1.0"), &["poi_snap.csv line 2", "99999"]),
        ("a short row", |d| replace_line(d, "nodes.csv", 5, "3,24.94"), &["nodes.csv line 5", "expected 3 fields"]),
        ("a missing file", |d| std::fs::remove_file(d.join("pois.csv")).unwrap(), &["could not read", "pois.csv"]),
    ];
    for (what, break_it, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        for name in ["nodes.csv", "edges.csv", "pois.csv", "poi_snap.csv"] {
            std::fs::copy(helsinki().join(name), dir.path().join(name)).unwrap();
        }
        break_it(dir.path());
        let out = dir.path().join("out.csv");
        let run = access(dir.path(), &out);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{what}: exit status {:?}", run.status);
        for e in expected {
            assert!(stderr.contains(e), "{what}: {e:?} not in {stderr}");
        }
        assert!(!out.exists(), "{what}: no output is written for broken input");
    }
}

/// Replaces line `line` (from 1, the header being line 1) of `dir/name`.
fn replace_line(dir: &Path, name: &str, line: usize, text: &str) {
    let path = dir.join(name);
    let mut lines: Vec<String> = std::fs::read_to_string(&path).unwrap().lines().map(str::to_owned).collect();
    lines[line - 1] = text.to_owned();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn the_demo_district_exported_as_a_folder_gives_counts_at_5_10_and_15_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("demo");
    let export =
        Command::new(env!("CARGO_BIN_EXE_civicgrid")).arg("access").arg("--export-demo").arg(&folder).output().unwrap();
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));

    let out = dir.path().join("access.csv");
    let run = Command::new(env!("CARGO_BIN_EXE_civicgrid"))
        .args(["access", "--radius", "400,800,1200", "--threads", "1", "--graph"])
        .arg(&folder)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let (header, rows) = read(&out);
    assert!(header.contains(&"count_clinic_400".to_owned()) && header.contains(&"count_clinic_1200".to_owned()));
    assert!(header.contains(&"nearest_clinic".to_owned()));
    let nodes = std::fs::read_to_string(folder.join("nodes.csv")).unwrap().lines().count() - 1;
    assert_eq!(rows.len(), nodes);
    // A wider circle holds at least what a narrower one does, and a clinic
    // nearer than 400 m is counted at 400 m.
    for row in rows.values() {
        assert!(
            row["count_clinic_400"] <= row["count_clinic_800"] && row["count_clinic_800"] <= row["count_clinic_1200"]
        );
        assert_eq!(row["nearest_clinic"] <= 400.0, row["count_clinic_400"] >= 1.0, "{row:?}");
    }
}
