"""Walking accessibility, CivicGrid against pandana on the same graph folders.

Called by scripts/bench-pandana inside a virtual environment holding pandana.

  tile SRC DST --nx 4 --ny 4   copies of a graph folder side by side, one graph
  pandana GRAPH --radius R[,R] --out CSV
                               pandana's answers for a folder, and its own
                               measurements as one JSON line
  compare --civicgrid BIN GRAPH... --radius R[,R] [--radius-of NAME=R[,R]]
                               runs both on each folder, checks the answers
                               agree and prints the table

A graph folder holds nodes.csv (id,lon,lat), edges.csv (from,to,length_m,
undirected), pois.csv (id,category,lon,lat) and poi_snap.csv (poi_id,node_id:
the node each facility sits on). Both tools get the same files: pandana is
given each facility at the position of its node, so its own snapping puts it
on that node (checked).
"""

import argparse
import csv
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time

EARTH_RADIUS_M = 6_371_008.8


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def haversine_m(lon1, lat1, lon2, lat2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


# --- tile -------------------------------------------------------------------


def tile(src, dst, nx, ny, joins):
    """nx × ny copies of the graph in src, each shifted by the graph's extent
    plus a 20 m gap, ids offset, and every pair of neighbouring copies joined
    by `joins` edges: the copy's nodes nearest the shared border, each linked
    to its nearest node across it (straight-line length, in millimetres like
    the source lengths)."""
    nodes = [(int(r["id"]), float(r["lon"]), float(r["lat"])) for r in read_csv(os.path.join(src, "nodes.csv"))]
    nodes.sort()
    edges = read_csv(os.path.join(src, "edges.csv"))
    pois = read_csv(os.path.join(src, "pois.csv"))
    snaps = read_csv(os.path.join(src, "poi_snap.csv"))
    n, p = len(nodes), len(pois)
    lons = [x for _, x, _ in nodes]
    lats = [y for _, _, y in nodes]
    mid_lat = math.radians((min(lats) + max(lats)) / 2)
    gap_lat = 20 / (EARTH_RADIUS_M * math.pi / 180)
    gap_lon = gap_lat / math.cos(mid_lat)
    step_lon = max(lons) - min(lons) + gap_lon
    step_lat = max(lats) - min(lats) + gap_lat

    def shifted(t):
        i, j = t % nx, t // nx
        return [(x + i * step_lon, y + j * step_lat) for _, x, y in nodes]

    copies = [shifted(t) for t in range(nx * ny)]
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(dst, "nodes.csv"), "w") as f:
        f.write("id,lon,lat\n")
        for t, at in enumerate(copies):
            for v, (x, y) in enumerate(at):
                f.write(f"{t * n + v},{x:.7f},{y:.7f}\n")
    joined = set()

    def join(a, b, east):
        # The `joins` nodes of copy a nearest its border with b, each to its nearest in b.
        key = (lambda v: -copies[a][v][0]) if east else (lambda v: -copies[a][v][1])
        near_border = sorted(range(n), key=key)[:joins]
        facing = sorted(range(n), key=lambda v: copies[b][v][0] if east else copies[b][v][1])[: joins * 5]
        for v in near_border:
            x, y = copies[a][v]
            w = min(facing, key=lambda u: haversine_m(x, y, *copies[b][u]))
            joined.add((a * n + v, b * n + w, round(haversine_m(x, y, *copies[b][w]), 3)))

    for t in range(nx * ny):
        i, j = t % nx, t // nx
        if i + 1 < nx:
            join(t, t + 1, True)
        if j + 1 < ny:
            join(t, t + nx, False)
    with open(os.path.join(dst, "edges.csv"), "w") as f:
        f.write("from,to,length_m\n")
        for t in range(nx * ny):
            for e in edges:
                f.write(f"{int(e['from']) + t * n},{int(e['to']) + t * n},{e['length_m']}\n")
        for a, b, m in sorted(joined):
            f.write(f"{a},{b},{m:.3f}\n")
    with open(os.path.join(dst, "pois.csv"), "w") as f:
        f.write("id,category,lon,lat\n")
        for t in range(nx * ny):
            i, j = t % nx, t // nx
            for r in pois:
                x, y = float(r["lon"]) + i * step_lon, float(r["lat"]) + j * step_lat
                f.write(f"{int(r['id']) + t * p},{r['category']},{x:.7f},{y:.7f}\n")
    with open(os.path.join(dst, "poi_snap.csv"), "w") as f:
        f.write("poi_id,node_id,snap_m\n")
        for t in range(nx * ny):
            for r in snaps:
                f.write(f"{int(r['poi_id']) + t * p},{int(r['node_id']) + t * n},{r['snap_m']}\n")
    print(
        f"tiled {src}: {nx}x{ny} copies, {n * nx * ny} nodes, {len(edges) * nx * ny + len(joined)} edges "
        f"({len(joined)} joining the copies), {p * nx * ny} POIs -> {dst}"
    )


# --- pandana ----------------------------------------------------------------


def rss_now_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def column(name, cat, radii, r):
    return f"{name}_{cat}" if len(radii) == 1 else f"{name}_{cat}_{r}"


def run_pandana(graph, radii_text, out, report):
    """pandana's work on one folder: the network (its contraction hierarchy),
    precompute at the largest radius, a count per category and radius, and
    the nearest facility of every category. Writes its measurements as JSON
    to `report` (pandana prints progress on stdout)."""
    import numpy as np
    import pandas as pd
    import pandana

    radii = radii_text.split(",")
    largest = max(float(r) for r in radii)
    t0 = time.perf_counter()
    nodes = pd.read_csv(os.path.join(graph, "nodes.csv"), index_col="id").sort_index()
    edges = pd.read_csv(os.path.join(graph, "edges.csv"))
    pois = pd.read_csv(os.path.join(graph, "pois.csv"), index_col="id")
    snaps = pd.read_csv(os.path.join(graph, "poi_snap.csv"), index_col="poi_id")
    on = pois.join(snaps["node_id"])
    cats = sorted(on["category"].unique())
    read_s = time.perf_counter() - t0
    base_kib = rss_now_kib()

    wall0, cpu0 = time.perf_counter(), time.process_time()
    net = pandana.Network(nodes["lon"], nodes["lat"], edges["from"], edges["to"], edges[["length_m"]], twoway=True)
    net.precompute(largest)
    counts = {}
    for cat in cats:
        at = on.loc[on["category"] == cat, "node_id"]
        net.set(at, name=cat)
        for r in radii:
            counts[column("count", cat, radii, r)] = net.aggregate(float(r), type="count", decay="flat", name=cat)
    nearest = {}
    for cat in cats:
        at = on.loc[on["category"] == cat, "node_id"]
        net.set_pois(cat, largest, 1, nodes.loc[at, "lon"], nodes.loc[at, "lat"])
        nearest[f"nearest_{cat}"] = net.nearest_pois(largest, cat, num_pois=1)[1]
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0

    # Each facility must sit on the node poi_snap.csv names, as it does for CivicGrid.
    misplaced = 0
    for cat in cats:
        at = on.loc[on["category"] == cat, "node_id"]
        got = net.get_node_ids(nodes.loc[at, "lon"], nodes.loc[at, "lat"])
        misplaced += int((np.asarray(got) != np.asarray(at)).sum())
    frame = pd.DataFrame({**counts, **nearest})
    frame.index.name = "node_id"
    frame.to_csv(out, float_format="%.3f")
    with open(report, "w") as f:
        json.dump(
            {
                "pandana": pandana.__version__ if hasattr(pandana, "__version__") else "?",
                "read_s": read_s,
                "work_wall_s": wall,
                "work_cpu_s": cpu,
                "base_rss_kib": base_kib,
                "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "misplaced": misplaced,
            },
            f,
        )


# --- compare ----------------------------------------------------------------


def measured(cmd, env=None):
    """Runs cmd under GNU time; returns its stdout, wall seconds, CPU
    seconds (user + system, from wait4 in microseconds: GNU time prints
    hundredths) and peak RSS in KiB (from GNU time, not wait4: Linux carries
    a process's peak RSS across exec, so a child forked from this large
    Python process would report at least this process's size)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as usage, tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        child = subprocess.Popen(
            ["/usr/bin/time", "-o", usage.name, "-f", "%M", *cmd], stdout=out, stderr=subprocess.PIPE, env=env
        )
        err = child.stderr.read()
        _, status, rusage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{err.decode()}")
        out.seek(0)
        return out.read().decode(), wall, rusage.ru_utime + rusage.ru_stime, int(usage.read().split()[-1])


def measured_often(cmd, seconds=2.0, most=15):
    """measured(cmd) again and again until `seconds` of wall time or `most`
    runs: the median wall and CPU time, the largest peak RSS, the runs."""
    runs = []
    while not runs or (sum(r[1] for r in runs) < seconds and len(runs) < most):
        runs.append(measured(cmd))
    median = lambda xs: sorted(xs)[len(xs) // 2]
    return runs[0][0], median([r[1] for r in runs]), median([r[2] for r in runs]), max(r[3] for r in runs), len(runs)


def agree(ours, theirs):
    """(cells compared, [(node, column, civicgrid, pandana)] that differ):
    counts must be equal, distances within 0.01 m."""
    a, b = read_csv(ours), read_csv(theirs)
    if len(a) != len(b) or set(a[0]) != set(b[0]):
        sys.exit(f"{ours} and {theirs} differ in shape: {len(a)} rows {sorted(a[0])}, {len(b)} rows {sorted(b[0])}")
    cells, differ = 0, []
    for x, y in zip(a, b):
        for k in x:
            if k == "node_id":
                continue
            g, w = float(x[k]), float(y[k])
            cells += 1
            ok = g == w if k.startswith("count_") else abs(g - w) <= 0.01
            if not ok:
                differ.append((int(x["node_id"]), k, g, w))
    return cells, differ


def arbitrate(graph, radii, differ):
    """Settles each difference with a third, plain computation: scipy's
    Dijkstra over the lengths as written (float64), counting "within r" as
    d <= r + 1e-6 m like CivicGrid. Returns one line per difference."""
    import numpy as np
    import scipy.sparse as sp
    from scipy.sparse.csgraph import dijkstra

    edges = read_csv(os.path.join(graph, "edges.csv"))
    n = graph_size(graph)[0]
    f = np.array([int(e["from"]) for e in edges])
    t = np.array([int(e["to"]) for e in edges])
    w = np.array([float(e["length_m"]) for e in edges])
    # pandana keeps each length as whole millimetres, cut down: trunc(length_m * 1000.0).
    mm = np.trunc(w * 1000.0)
    matrix = lambda lengths: sp.coo_matrix((np.r_[lengths, lengths], (np.r_[f, t], np.r_[t, f])), shape=(n, n)).tocsr()
    exact, truncated = matrix(w), matrix(mm)
    category = {r["id"]: r["category"] for r in read_csv(os.path.join(graph, "pois.csv"))}
    on = {}
    for r in read_csv(os.path.join(graph, "poi_snap.csv")):
        on.setdefault(category[r["poi_id"]], []).append(int(r["node_id"]))
    largest = max(float(r) for r in radii.split(","))
    lines = []
    for node, column, ours, theirs in differ:
        kind, rest = column.split("_", 1)
        cat, r = rest, largest
        if kind == "count" and len(radii.split(",")) > 1:
            cat, r = rest.rsplit("_", 1)[0], float(rest.rsplit("_", 1)[1])
        d = dijkstra(exact, indices=[node], limit=largest + 1)[0][on[cat]]
        d_mm = dijkstra(truncated, indices=[node], limit=largest * 1000 + 1000)[0][on[cat]] / 1000
        if kind == "count":
            truth = float((d <= r + 1e-6).sum())
            near = ", ".join(f"{x:.3f}" for x in sorted(d) if abs(x - r) < 0.01)
            near_mm = ", ".join(f"{x:.3f}" for x in sorted(d_mm) if abs(x - r) < 0.01)
            why = f"{cat} at {near} m exactly, {near_mm} m in pandana's truncated millimetres"
        else:
            truth = float(min(d.min(), largest))
            why = f"exactly {truth:.4f} m, {min(d_mm.min(), largest):.3f} m in truncated millimetres"
        right = "civicgrid" if (ours == truth if kind == "count" else abs(ours - truth) <= 0.01) else "pandana" if (
            theirs == truth if kind == "count" else abs(theirs - truth) <= 0.01) else "neither"
        lines.append(f"node {node} {column}: civicgrid {ours:g}, pandana {theirs:g}; scipy {truth:g} "
                     f"({why}): {right} is right")
    return lines


def graph_size(graph):
    def rows(name):
        with open(os.path.join(graph, name)) as f:
            return sum(1 for _ in f) - 1

    cats = {r["category"] for r in read_csv(os.path.join(graph, "pois.csv"))}
    return rows("nodes.csv"), rows("edges.csv"), rows("pois.csv"), len(cats)


def compare(civicgrid, graphs, default_radii, radii_of):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    mib = lambda kib: kib / 1024
    rows = []
    work = tempfile.mkdtemp(prefix="pandana-peer-")
    for graph in graphs:
        name = os.path.basename(os.path.normpath(graph))
        radii = radii_of.get(name, default_radii)
        n, e, p, c = graph_size(graph)
        print(f"\n{name}: {n} nodes, {e} edges, {p} POIs in {c} categories, radius {radii} m")
        theirs = os.path.join(work, f"{name}-pandana.csv")
        report = os.path.join(work, f"{name}-pandana.json")
        cmd = [sys.executable, __file__, "pandana", graph, "--radius", radii, "--out", theirs, "--report", report]
        _, p_wall, _, _ = measured(cmd, env)
        with open(report) as f:
            pd_ = json.load(f)
        if pd_["misplaced"]:
            sys.exit(f"pandana put {pd_['misplaced']} facilities on other nodes than poi_snap.csv")
        print(
            f"  pandana {pd_['pandana']} (OMP_NUM_THREADS=1): network + precompute + counts + nearest "
            f"{pd_['work_wall_s']:.3f} s wall, {pd_['work_cpu_s']:.3f} s CPU; "
            f"peak RSS {mib(pd_['peak_rss_kib']):.1f} MiB "
            f"({mib(pd_['peak_rss_kib'] - pd_['base_rss_kib']):.1f} MiB above the "
            f"{mib(pd_['base_rss_kib']):.1f} MiB of Python, pandas and the read tables); "
            f"whole process {p_wall:.2f} s wall"
        )
        runs = {}
        for threads in ("1", "0"):
            ours = os.path.join(work, f"{name}-civicgrid-{threads}.csv")
            cmd = [civicgrid, "access", "--graph", graph, "--radius", radii, "--threads", threads, "--out", ours]
            out, wall, cpu, rss, times = measured_often(cmd)
            computed = float(out.split("computed in ")[1].split(" ms")[0]) / 1e3
            cells, differ = agree(ours, theirs)
            label = "1 thread" if threads == "1" else f"{os.cpu_count()} threads"
            print(
                f"  civicgrid, {label}: whole process {wall:.3f} s wall, {cpu:.3f} s CPU, "
                f"peak RSS {mib(rss):.1f} MiB (median of {times} runs; computing {computed:.3f} s wall); "
                f"{cells - len(differ)} of {cells} answers agree"
            )
            runs[threads] = (wall, cpu, rss, computed, differ)
        differ = runs["1"][4]
        with open(os.path.join(work, f"{name}-civicgrid-1.csv")) as a, open(os.path.join(work, f"{name}-civicgrid-0.csv")) as b:
            threads_agree = a.read() == b.read()
        verdicts = arbitrate(graph, radii, differ[:50]) if differ else []
        for line in verdicts:
            print(f"    {line}")
        if not threads_agree:
            print("    civicgrid's answers on one thread and on every core differ")
        ours_wrong = len(differ) > 50 or any(not v.endswith("civicgrid is right") for v in verdicts)
        rows.append((name, n, radii, pd_, runs, len(differ), ours_wrong or not threads_agree))

    print("\npandana / civicgrid. pandana's time is its work alone (network, precompute, counts, nearest),")
    print("without Python's start, imports and reading; civicgrid's is its whole process (start, read the")
    print("CSV files, compute, write the CSV). Memory: peak RSS of each process; 'w/o Python' takes away")
    print("what pandana's process held before its work (Python, pandas and the tables read).")
    print(
        f"{'graph':<16}{'nodes':>7} {'radii m':<14}{'pandana':>9}{'civicgrid':>11}{'time':>7}"
        f"{'all cores':>11}{'pandana':>10}{'civicgrid':>11}{'memory':>8}{'w/o Python':>11}  answers"
    )
    print(
        f"{'':<16}{'':>7} {'':<14}{'CPU s':>9}{'CPU s':>11}{'x':>7}"
        f"{'wall s':>11}{'MiB':>10}{'MiB':>11}{'x':>8}{'x':>11}"
    )
    for name, n, radii, pd_, runs, differ, wrong in rows:
        _, cpu1, rss1, _, _ = runs["1"]
        wall_all = runs["0"][0]
        answers = "identical" if not differ else f"{differ} differ" + (" (civicgrid wrong!)" if wrong else ", pandana's rounding")
        print(
            f"{name:<16}{n:>7} {radii:<14}{pd_['work_cpu_s']:>9.2f}{cpu1:>11.3f}{pd_['work_cpu_s'] / cpu1:>7.1f}"
            f"{wall_all:>11.3f}{mib(pd_['peak_rss_kib']):>10.0f}{mib(rss1):>11.1f}"
            f"{pd_['peak_rss_kib'] / rss1:>8.1f}{(pd_['peak_rss_kib'] - pd_['base_rss_kib']) / rss1:>11.1f}  {answers}"
        )
    for name, n, radii, pd_, runs, differ, wrong in rows:
        if "," in radii:
            wall_all, wall1 = runs["0"][0], runs["1"][0]
            verdict = "met" if wall_all < 1.0 else "missed"
            print(
                f"{name}, every category at {radii} m: civicgrid {wall_all:.3f} s on every core, "
                f"{wall1:.3f} s on one (whole process): under 1 s {verdict}"
            )
    if any(wrong for *_, wrong in rows):
        sys.exit("civicgrid's answers are wrong somewhere (see above)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    t = sub.add_parser("tile")
    t.add_argument("src")
    t.add_argument("dst")
    t.add_argument("--nx", type=int, default=4)
    t.add_argument("--ny", type=int, default=4)
    t.add_argument("--joins", type=int, default=20, help="edges across each border between copies")
    r = sub.add_parser("pandana")
    r.add_argument("graph")
    r.add_argument("--radius", default="1200")
    r.add_argument("--out", required=True)
    r.add_argument("--report", required=True, help="JSON file for the measurements")
    c = sub.add_parser("compare")
    c.add_argument("--civicgrid", required=True)
    c.add_argument("graphs", nargs="+")
    c.add_argument("--radius", default="1200")
    c.add_argument("--radius-of", action="append", default=[], metavar="NAME=R[,R]")
    a = ap.parse_args()
    if a.what == "tile":
        tile(a.src, a.dst, a.nx, a.ny, a.joins)
    elif a.what == "pandana":
        run_pandana(a.graph, a.radius, a.out, a.report)
    else:
        compare(a.civicgrid, a.graphs, a.radius, dict(x.split("=", 1) for x in a.radius_of))


if __name__ == "__main__":
    main()
