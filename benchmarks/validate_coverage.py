"""Benchmark of boundary validation (``gridmap.geometry.validate.analyse``) against its floor.

The floor is ``shapely.coverage_invalid_edges`` alone on the same polygons, already in the metric
CRS the validator measures in: GEOS's own coverage validator, the least any partition check can
cost. The validator runs every check (validity, codes, scope, parents, partition, households).

1. The sample county (``data/luyi_grids.gpkg``): 10,311 micro-grids, their 1,294 grids as parents
   supplied through ``parent_lookup`` (an in-memory GeoDataFrame; no database). Also a variant whose
   parents are densified (extra vertices every few metres) so their boundaries no longer match the
   children's vertex for vertex: that defeats the exact-boundary fast path and forces the overlay.
2. A generated coverage of 1,000,000 jittered ~50 m quads (``--quick``: 100,000) around 114°E 34°N,
   with 10×10-cell blocks as parents: timed clean (must report nothing), then with planted defects
   (each must be found).

    .venv/bin/python benchmarks/validate_coverage.py [--quick] [--runs N] [--big-runs N]
                                                    [--densified-children] [--profile]

Times are the best of N runs after one warm-up (time.perf_counter; fewer runs when they would take
over 90 s). ``--densified-children`` adds the sample's micro-grids densified the same way (siblings
then share no vertex exactly either; slow: about a minute per run). Peak memory is the resident
set high-water mark, reset before each phase through ``/proc/self/clear_refs`` on
Linux so each phase's own peak is shown (VmHWM; ``ru_maxrss`` where /proc is missing).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from memory import peak_rss_mb, reset_peak, rss_mb  # noqa: E402  (benchmarks/memory.py)

from gridmap.geometry.metric import metric_crs, to_metric  # noqa: E402
from gridmap.geometry.validate import analyse  # noqa: E402
from gridmap.io.boundaries import read_areas  # noqa: E402

SAMPLE = ROOT / "data" / "luyi_grids.gpkg"
METRIC_EPSG = 4547  # CGCS2000 3-degree Gauss-Krüger, central meridian 114°E
CELL_M = 50.0  # generated cell size
JITTER_M = 12.5  # ± per axis; < CELL_M / 2 keeps every quad simple
BLOCK = 10  # parents are BLOCK × BLOCK cells
COUNTY = 411699  # a made-up county code for the generated data
TARGET_S, TARGET_RATIO = 1.0, 3.0


# ----------------------------------------------------------------------------------------------
# Measuring


def timed(fn, runs: int, first=None, budget_s: float = 90.0):
    """(best, median, runs done, last result) of ``runs`` timed calls of ``fn`` after one untimed
    warm-up call of ``first`` (default ``fn``); fewer runs (at least one) when the warm-up shows
    they would take more than ``budget_s`` in all."""
    t = time.perf_counter()
    result = (first or fn)()
    warm = time.perf_counter() - t
    if warm * runs > budget_s:
        runs = max(1, int(budget_s // warm))
    times = []
    for _ in range(runs):
        result = None  # let the previous result go before the next run
        gc.collect()
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), len(times), result


@contextmanager
def fast_path_probe():
    """What ``check_partition`` decides per parent, seen through the shapely calls it makes:
    ``equals_exact`` once per level on (union of the children, parent), True where they are equal
    vertex for vertex; the first ``difference`` per level receives the parents that still need the
    overlay (after the vertex-noise test). Diagnostics only, run outside the timed runs."""
    seen: dict[str, list[int]] = {"exact": [], "parents": [], "overlaid": []}
    eq, diff = shapely.equals_exact, shapely.difference
    state = {"level_open": False}

    def probe_eq(*args, **kwargs):
        out = np.atleast_1d(np.asarray(eq(*args, **kwargs), dtype=bool))
        seen["exact"].append(int(out.sum()))
        seen["parents"].append(len(out))
        state["level_open"] = True
        return out if np.ndim(args[0]) else out[0]

    def probe_diff(*args, **kwargs):
        if state["level_open"]:
            seen["overlaid"].append(len(np.atleast_1d(args[0])))
            state["level_open"] = False
        return diff(*args, **kwargs)

    shapely.equals_exact, shapely.difference = probe_eq, probe_diff
    try:
        yield seen
    finally:
        shapely.equals_exact, shapely.difference = eq, diff


def fast_path_text(seen: dict) -> str:
    if not seen or not seen["parents"]:
        return "fast path n/a"
    n, exact = sum(seen["parents"]), sum(seen["exact"])
    over = f"{sum(seen['overlaid']):,}" if seen["overlaid"] else "?"
    return f"parents: {exact:,}/{n:,} exact, {over} overlaid"


def findings_text(report) -> str:
    s = report.summary()
    kinds = " ".join(f"{k}={v}" for k, v in s["by_kind"].items())
    return f"{s['errors']} err {s['warnings']} warn" + (f" ({kinds})" if kinds else "")


def profile(label: str, fn, top: int = 25) -> None:
    print(f"\n--- cProfile: {label} (cumulative, top {top}) ---")
    pr = cProfile.Profile()
    pr.enable()
    fn()
    pr.disable()
    stats = pstats.Stats(pr, stream=sys.stdout)
    stats.sort_stats("cumulative").print_stats(top)


class Table:
    HEAD = ("case", "runs", "best s", "median s", "× floor", "polygons/s", "result")

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def add(
        self, case: str, timing: tuple | None = None, floor: float | None = None, n: int | None = None, result: str = ""
    ) -> None:
        best, median, runs = timing[:3] if timing else (None, None, None)
        self.rows.append(
            (
                case,
                f"{runs}" if runs else "",
                f"{best:.3f}" if best is not None else "",
                f"{median:.3f}" if median is not None and runs and runs > 1 else "",
                f"{best / floor:.2f}" if best is not None and floor else "",
                f"{n / best:,.0f}" if best and n else "",
                result,
            )
        )

    def print(self) -> None:
        rows = [self.HEAD, *self.rows]
        k_num = len(self.HEAD) - 1
        w = [max(len(r[i]) for r in rows) for i in range(len(self.HEAD))]
        for k, r in enumerate(rows):
            cells = [r[0].ljust(w[0])] + [r[i].rjust(w[i]) for i in range(1, k_num)] + [r[k_num]]
            print("  " + "  ".join(cells).rstrip())
            if k == 0:
                print("  " + "  ".join("-" * x for x in w[:k_num]) + "  " + "-" * 6)


def verdict(best: float, floor: float) -> str:
    ok_t, ok_r = best < TARGET_S, best <= TARGET_RATIO * floor
    return (
        f"under {TARGET_S:g} s: {'yes' if ok_t else 'NO'} ({best:.3f} s); "
        f"within {TARGET_RATIO:g}× floor: {'yes' if ok_r else 'NO'} ({best / floor:.2f}×)"
    )


# ----------------------------------------------------------------------------------------------
# 1. The sample county


def bench_sample(runs: int, densify_m: float, densified_children: bool, do_profile: bool) -> None:
    print(f"\n1. Sample county: {SAMPLE.relative_to(ROOT)}")
    t = time.perf_counter()
    micro = read_areas(SAMPLE, "microgrid")
    grids = read_areas(SAMPLE, "grid")
    read_s = time.perf_counter() - t
    n = len(micro)
    geoms = micro.geometry.to_numpy()
    crs = metric_crs(geoms)
    print(
        f"   {n:,} micro-grids ({int(shapely.get_num_coordinates(geoms).sum()):,} vertices), "
        f"{len(grids):,} grids as parents via parent_lookup; read in {read_s:.2f} s; "
        f"metric CRS EPSG:{crs.to_epsg()}"
    )

    def lookup(scope, codes):
        return grids

    # Densified parents: extra vertices every few metres (in the metric CRS), back to EPSG:4490.
    # They lie on the parents' edges up to reprojection round-off, so not exactly on the children's.
    dense = densified(grids, crs, densify_m)
    added = int(
        shapely.get_num_coordinates(dense.geometry.to_numpy()).sum()
        - shapely.get_num_coordinates(grids.geometry.to_numpy()).sum()
    )

    def dense_lookup(scope, codes):
        return dense

    table = Table()
    t = timed(lambda: to_metric(geoms, crs), runs)
    geoms_m = t[3]
    table.add("reprojection 4490 → metric (children)", t, n=n)
    t = timed(lambda: shapely.coverage_invalid_edges(geoms_m), runs)
    floor = t[0]
    table.add("floor: coverage_invalid_edges (metric)", t, floor, n, f"{flagged_text(t[3])}")

    verdicts = []
    cases = [("exact parents", micro, lookup), (f"parents densified {densify_m:g} m", micro, dense_lookup)]
    if densified_children:
        dense_children = densified(micro, crs, densify_m)
        cases.append((f"children densified {densify_m:g} m", dense_children, lookup))
        t = timed(lambda: shapely.coverage_invalid_edges(to_metric(dense_children.geometry.to_numpy(), crs)), 1)
        table.add(f"  (floor on children densified {densify_m:g} m)", t, floor, n, flagged_text(t[3]))
    noisy = []
    for label, upload, lookup_ in cases:
        seen: dict = {}
        t = timed(
            lambda: analyse(upload, parent_lookup=lookup_),
            runs,
            first=lambda: probed(seen, lambda: analyse(upload, parent_lookup=lookup_)),
        )
        report = t[3].report
        table.add(f"full analyse(), {label}", t, floor, n, f"{findings_text(report)}; {fast_path_text(seen)}")
        verdicts.append((label, t[0]))
        if report.findings and label != "exact parents":
            noisy.append((label, report))
    table.print()
    print(f"   densified parents: +{added:,} vertices on {len(grids):,} parents")
    for label, best in verdicts:
        print(f"   target, {label + ':':<30} {verdict(best, floor)}")
    for label, report in noisy:
        print(f"   NOTE: {label} (same boundaries, vertex noise only) produced findings:")
        for f in report.findings[:10]:
            print(f"     {f.kind} {f.severity} {f.codes} {f.area_m2:.4f} m²")
    if do_profile:
        for label, upload, lookup_ in cases:
            profile(f"sample county, {label}", lambda: analyse(upload, parent_lookup=lookup_))


def densified(areas: gpd.GeoDataFrame, crs, spacing_m: float) -> gpd.GeoDataFrame:
    """``areas`` with extra vertices every ``spacing_m`` metres along their edges (inserted in the
    metric CRS, then back to EPSG:4490): the same boundaries, but the new vertices sit on their
    neighbours' edges only up to round-off, and a shared edge densified from either end differs."""
    geoms_m = shapely.segmentize(to_metric(areas.geometry.to_numpy(), crs), spacing_m)
    return areas.set_geometry(
        gpd.GeoSeries(shapely.transform(geoms_m, _xy_transformer(crs, 4490)), index=areas.index, crs=4490)
    )


def flagged_text(edges: np.ndarray) -> str:
    return f"{int((~shapely.is_empty(edges)).sum()):,} flagged"


def probed(seen: dict, fn):
    with fast_path_probe() as found:
        out = fn()
    seen.update(found)
    return out


def _xy_transformer(src, dst):
    tr = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    return lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))


# ----------------------------------------------------------------------------------------------
# 2. A generated coverage


class Lattice:
    """(ny+1) × (nx+1) jittered vertices; cell (i, j) is the quad between rows i, i+1 and columns
    j, j+1. Coordinates in EPSG:4547 (``x``, ``y``) and EPSG:4490 (``lon``, ``lat``), transformed
    once per vertex so every neighbour shares its vertices exactly in both."""

    def __init__(self, ny: int, nx: int, seed: int = 20240611) -> None:
        rng = np.random.default_rng(seed)
        self.ny, self.nx = ny, nx
        x0 = 500_000.0 - nx * CELL_M / 2  # centred on 114°E (false easting 500 km)
        y0 = 3_763_000.0 - ny * CELL_M / 2  # ≈ 34°N
        jj, ii = np.meshgrid(np.arange(nx + 1), np.arange(ny + 1))
        self.x = x0 + jj * CELL_M + rng.uniform(-JITTER_M, JITTER_M, jj.shape)
        self.y = y0 + ii * CELL_M + rng.uniform(-JITTER_M, JITTER_M, ii.shape)
        self.to_4490 = pyproj.Transformer.from_crs(METRIC_EPSG, 4490, always_xy=True)
        lon, lat = self.to_4490.transform(self.x.ravel(), self.y.ravel())
        self.lon, self.lat = lon.reshape(self.x.shape), lat.reshape(self.x.shape)

    def cell_coords(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(ny·nx, 5, 2) rings, counter-clockwise, row-major cell order."""
        ring = [
            (slice(None, -1), slice(None, -1)),
            (slice(None, -1), slice(1, None)),
            (slice(1, None), slice(1, None)),
            (slice(1, None), slice(None, -1)),
            (slice(None, -1), slice(None, -1)),
        ]
        xs = np.stack([a[r] for r in ring], axis=-1).reshape(-1, 5)
        ys = np.stack([b[r] for r in ring], axis=-1).reshape(-1, 5)
        return np.stack([xs, ys], axis=-1)

    def block_coords(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(blocks, 4·BLOCK+1, 2) outlines of the BLOCK × BLOCK blocks through the same vertices."""
        k = np.arange(BLOCK)
        di = np.concatenate([np.zeros(BLOCK, int), k, np.full(BLOCK, BLOCK), BLOCK - k, [0]])
        dj = np.concatenate([k, np.full(BLOCK, BLOCK), BLOCK - k, np.zeros(BLOCK, int), [0]])
        bi, bj = np.meshgrid(np.arange(self.ny // BLOCK) * BLOCK, np.arange(self.nx // BLOCK) * BLOCK, indexing="ij")
        i = bi.reshape(-1, 1) + di
        j = bj.reshape(-1, 1) + dj
        return np.stack([a[i, j], b[i, j]], axis=-1)


def generate(ny: int, nx: int):
    """Children (18-digit codes) and parents (15-digit codes), both GeoDataFrames in EPSG:4490."""
    lat = Lattice(ny, nx)
    cells = shapely.polygons(lat.cell_coords(lat.lon, lat.lat))
    cells = shapely.multipolygons(cells[:, None])  # as read_areas delivers them
    blocks = shapely.multipolygons(shapely.polygons(lat.block_coords(lat.lon, lat.lat))[:, None])

    nbx = nx // BLOCK
    p = np.arange(len(blocks), dtype=np.int64)
    # county 6 + township 3 + village 3 + grid 3 digits; every part 1..999
    parent_int = ((COUNTY * 1000 + p // 1000 + 1) * 1000 + (p // 10) % 100 + 1) * 1000 + p % 10 + 1
    ii, jj = np.divmod(np.arange(ny * nx, dtype=np.int64), nx)
    owner = (ii // BLOCK) * nbx + jj // BLOCK
    child_int = parent_int[owner] * 1000 + (ii % BLOCK) * BLOCK + jj % BLOCK + 1
    rng = np.random.default_rng(7)
    children = gpd.GeoDataFrame(
        {
            "code": child_int.astype(str).astype(object),
            "parent_code": parent_int[owner].astype(str).astype(object),
            "level": np.full(len(cells), 4),
            "households": rng.integers(15, 61, len(cells)),
        },
        geometry=gpd.GeoSeries(cells, crs=4490),
        crs=4490,
    )
    parents = gpd.GeoDataFrame(
        {
            "code": parent_int.astype(str).astype(object),
            "parent_code": (parent_int // 1000).astype(str).astype(object),
            "level": np.full(len(blocks), 3),
        },
        geometry=gpd.GeoSeries(blocks, crs=4490),
        crs=4490,
    )
    return lat, children, parents


def plant_defects(lat: Lattice, children: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, Counter, list[str]]:
    """A copy of ``children`` with a handful of defects, the findings expected and their description."""
    ny, nx = lat.ny, lat.nx
    geoms = children.geometry.to_numpy().copy()
    codes = children["code"].to_numpy().copy()
    keep = np.ones(len(geoms), dtype=bool)
    expected: Counter = Counter()
    notes: list[str] = []
    mid_i, mid_j = (ny // BLOCK // 2) * BLOCK, (nx // BLOCK // 2) * BLOCK  # a block near the centre

    def cell(i: int, j: int) -> int:
        return i * nx + j

    def push_edge(i: int, j: int, side: str, dx: float, dy: float) -> None:
        """Insert a vertex at the middle of one edge of cell (i, j), moved by (dx, dy) metres in
        EPSG:4547. The cell's other vertices stay exactly the lattice's."""
        corners = [(i, j), (i, j + 1), (i + 1, j + 1), (i + 1, j)]  # ring order
        after = {"bottom": 0, "right": 1, "top": 2, "left": 3}[side]
        a, b = corners[after], corners[(after + 1) % 4]
        mx, my = (lat.x[a] + lat.x[b]) / 2 + dx, (lat.y[a] + lat.y[b]) / 2 + dy
        new = lat.to_4490.transform(mx, my)
        ring = [(lat.lon[c], lat.lat[c]) for c in corners]
        ring.insert(after + 1, new)
        geoms[cell(i, j)] = shapely.MultiPolygon([shapely.Polygon(ring)])

    # 1. overlap: a cell's right edge bulges 5 m into its right neighbour (same parent)
    push_edge(mid_i + 3, mid_j + 3, "right", 5.0, 0.0)
    expected["overlap"] += 1
    notes.append("overlap: a right edge bulges 5 m into the sibling next to it")
    # 2. gap: one cell deleted inside a block
    keep[cell(mid_i + 6, mid_j + 6)] = False
    expected["gap"] += 1
    notes.append("gap: one cell deleted")
    # 3. outside_parent: a cell on its block's right edge bulges 5 m into the next block
    push_edge(mid_i + 5, mid_j + BLOCK - 1, "right", 5.0, 0.0)
    expected["outside_parent"] += 1
    notes.append("outside_parent: a cell bulges 5 m into the neighbouring parent")
    # 4. outside_parent: a cell on the coverage's outer edge bulges 5 m outwards
    push_edge(0, mid_j + 4, "bottom", 0.0, -5.0)
    expected["outside_parent"] += 1
    notes.append("outside_parent: a cell on the outer edge bulges 5 m outwards")
    # 5. sliver (a gap 0.2 m wide): a cell's top edge dented 0.2 m inwards
    push_edge(mid_i + 1, mid_j + 7, "top", 0.0, -0.2)
    expected["sliver"] += 1
    notes.append("sliver: a top edge dented 0.2 m inwards (a 0.2 m wide gap)")
    # 6. duplicate_code: a cell takes its neighbour's code (geometry untouched)
    codes[cell(mid_i + 8, mid_j + 1)] = codes[cell(mid_i + 8, mid_j + 2)]
    expected["duplicate_code"] += 1
    notes.append("duplicate_code: a cell takes its neighbour's code")

    out = children.copy()
    out["code"] = codes
    out = out.set_geometry(gpd.GeoSeries(geoms, index=children.index, crs=4490))
    return out[keep].reset_index(drop=True), expected, notes


def bench_generated(ny: int, nx: int, runs: int, do_profile: bool) -> None:
    n = ny * nx
    print(
        f"\n2. Generated coverage: {ny:,} × {nx:,} jittered {CELL_M:g} m quads (±{JITTER_M:g} m), "
        f"{n:,} children (18-digit codes), {n // BLOCK**2:,} parents of {BLOCK}×{BLOCK} cells "
        f"(15-digit codes); EPSG:{METRIC_EPSG} → EPSG:4490"
    )
    reset_peak()
    t = time.perf_counter()
    lat, children, parents = generate(ny, nx)
    build_s = time.perf_counter() - t
    print(f"   built (vectorised) in {build_s:.2f} s; peak RSS while building {peak_rss_mb():,.0f} MB")

    def lookup(scope, codes):
        return parents

    geoms = children.geometry.to_numpy()
    crs = metric_crs(geoms)
    assert crs.to_epsg() == METRIC_EPSG, crs
    table = Table()
    t = timed(lambda: to_metric(geoms, crs), runs)
    geoms_m = t[3]
    table.add("reprojection 4490 → metric (children)", t, n=n)
    reset_peak()
    t = timed(lambda: shapely.coverage_invalid_edges(geoms_m), runs)
    floor, floor_peak = t[0], peak_rss_mb()
    table.add("floor: coverage_invalid_edges (metric)", t, floor, n, flagged_text(t[3]))
    del t, geoms_m
    gc.collect()

    base = rss_mb()
    reset_peak()
    seen: dict = {}
    t = timed(
        lambda: analyse(children, parent_lookup=lookup),
        runs,
        first=lambda: probed(seen, lambda: analyse(children, parent_lookup=lookup)),
    )
    full_peak = peak_rss_mb()
    clean = t[3].report
    table.add("full analyse(), clean", t, floor, n, f"{findings_text(clean)}; {fast_path_text(seen)}")
    best = t[0]
    del t
    gc.collect()

    dirty, expected, notes = plant_defects(lat, children)
    t = time.perf_counter()
    found = analyse(dirty, parent_lookup=lookup).report
    dirty_s = time.perf_counter() - t
    table.add(
        f"full analyse(), {sum(expected.values())} defects planted",
        (dirty_s, None, 1),
        floor,
        len(dirty),
        findings_text(found),
    )
    table.print()
    print(
        f"   target (< {TARGET_RATIO:g}× floor): {'yes' if best <= TARGET_RATIO * floor else 'NO'} "
        f"({best / floor:.2f}×)"
    )
    print(
        f"   peak RSS: floor phase {floor_peak:,.0f} MB, validation phase {full_peak:,.0f} MB "
        f"(RSS before the phase {base:,.0f} MB: data, parents, lattice)"
    )
    ok_clean = not clean.findings
    print(f"   clean coverage reports nothing: {'yes' if ok_clean else 'NO'}")
    if not ok_clean:
        for f in clean.findings[:10]:
            print(f"     {f.kind} {f.severity} {f.codes} {f.area_m2:.4f} m²")
    got = Counter(f.kind for f in found.findings)
    print("   planted defects:")
    for note in notes:
        print(f"     - {note}")
    print(f"     {'kind':<16}{'expected':>9}{'found':>7}")
    for kind in sorted(set(expected) | set(got)):
        mark = "ok" if expected[kind] == got[kind] else "MISMATCH"
        print(f"     {kind:<16}{expected[kind]:>9}{got[kind]:>7}  {mark}")
    for f in found.findings:
        print(
            f"       {f.severity:<7} {f.kind:<15} {', '.join(f.codes)}  {f.area_m2:,.2f} m²"
            f"  width {f.detail.get('width_m', '-')}"
        )
    if do_profile:
        profile(f"generated {n:,}, clean", lambda: analyse(children, parent_lookup=lookup))


# ----------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="100,000 generated polygons instead of 1,000,000")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per case for the sample county (default 5)")
    ap.add_argument(
        "--big-runs",
        type=int,
        default=None,
        help="timed runs per case for the generated coverage (default 5 with --quick, else 3)",
    )
    ap.add_argument("--densify", type=float, default=5.0, help="vertex spacing of the densified areas, m")
    ap.add_argument(
        "--densified-children",
        action="store_true",
        help="also validate the sample's micro-grids densified (siblings then share no vertex exactly)",
    )
    ap.add_argument("--profile", action="store_true", help="also print cProfile of each full validation")
    ap.add_argument("--skip-sample", action="store_true", help="only the generated coverage")
    ap.add_argument("--generated-only", action="store_true", help=argparse.SUPPRESS)  # the re-invocation
    args = ap.parse_args()
    ny, nx = (250, 400) if args.quick else (1000, 1000)
    big_runs = args.big_runs or (5 if args.quick else 3)

    if args.generated_only:
        bench_generated(ny, nx, big_runs, args.profile)
        return
    print_header(args, big_runs)
    if not args.skip_sample:
        bench_sample(args.runs, args.densify, args.densified_children, args.profile)
    # The generated coverage in a fresh process: memory the sample freed would blur its RSS figures.
    sys.stdout.flush()
    argv = [sys.executable, __file__, "--generated-only", "--big-runs", str(big_runs)]
    argv += ["--quick"] * args.quick + ["--profile"] * args.profile
    sys.exit(subprocess.run(argv).returncode)


def print_header(args, big_runs: int) -> None:
    print("Boundary validation benchmark: gridmap.geometry.validate.analyse vs shapely.coverage_invalid_edges")
    print(
        f"   shapely {shapely.__version__}, GEOS {shapely.geos_version_string}, geopandas {gpd.__version__}, "
        f"numpy {np.__version__}, pandas {pd.__version__}, pyproj {pyproj.__version__}, "
        f"Python {platform.python_version()}"
    )
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(
        f"   {os.cpu_count()} CPUs ({usable} usable), {platform.machine()}; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other processes skew timings)"
    )
    print(
        f"   timings: best of {args.runs} (sample) / {big_runs} (generated) runs after one warm-up; "
        f"fewer where the warm-up shows they would take over 90 s"
    )


if __name__ == "__main__":
    main()
