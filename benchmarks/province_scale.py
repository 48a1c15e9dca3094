"""A province's camera counts, partitioned by county, on dask.distributed — and where one machine
stops coping (issue 17).

1. Generate (in a child process, skipped when ``--dir`` already holds the same province): N
   counties (``--counties``, ≤ 153) made of the sample county's 10,311 micro-grids
   (``data/luyi_grids.gpkg``) under new codes ``41`` + city 01..17 + county 21..29, each copy shifted
   on a lattice so that no two counties' bounding boxes meet; one GeoParquet file per county
   (``<dir>/leaves/<code>.parquet``). M cameras (``--cameras``) spread evenly over the counties,
   uniform in each county's bounding box (seeded; about 30% fall outside every micro-grid),
   status planned 25% / installed 70% / removed 5%, online true/false/missing 70/20/10%, written
   per county as ``<dir>/cameras/county=<code>/part-00000.parquet`` in row groups of 500,000 —
   never more than one chunk in memory.
2. The distributed run: a LocalCluster of ``--workers`` worker processes (1 thread each) with
   ``--memory-limit`` each (the nanny kills a worker that goes beyond 95% of it: a run with no
   worker restarted stayed within it), ``county_leaf_counts`` over every county. Prints wall time,
   each worker's peak RSS (ru_maxrss) and its RSS before the run, the client's peak, the totals.
3. One machine (child processes, peak RSS from ru_maxrss): ``batch.leaf_counts`` with one
   ``LeafIndex`` over all the leaves of the first ``--check`` counties and all their cameras; its
   counts must equal the distributed ones of those counties (exactly), and its time is the
   baseline the distributed figures are compared with. Then the same on growing numbers of
   counties (``--grow``), each size attempted only if the memory and time projected from the
   previous one (linear in the counties) stay under ``--budget-gib`` and ``--timeout``.

    .venv/bin/python benchmarks/province_scale.py                                   # 6 counties, 600k cameras
    .venv/bin/python benchmarks/province_scale.py --counties 150 --cameras 15000000 \\
        --grow 6,12,25,50,100,150 --dir /tmp/gridmap-province
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gridmap.coverage.distributed import (  # noqa: E402
    count_county,
    county_leaf_counts,
    list_counties,
    peak_rss_mib,
    write_county_cameras,
    write_county_leaves,
)

CHUNK = 500_000
MAX_COUNTIES = 17 * 9


def county_codes(n: int) -> list[str]:
    if n > MAX_COUNTIES:
        raise SystemExit(f"--counties at most {MAX_COUNTIES}")
    return [f"41{1 + i // 9:02d}{21 + i % 9:02d}" for i in range(n)]


# ------------------------------------------------------------------------------------------------
# 1. The province


def generate(out: Path, counties: int, cameras: int, seed: int) -> None:
    import shapely

    from gridmap.io.boundaries import read_areas

    grids = read_areas(ROOT / "data" / "luyi_grids.gpkg", layer="microgrid")[["code", "geometry"]]
    minx, miny, maxx, maxy = grids.total_bounds
    step_x, step_y = (maxx - minx) + 0.02, (maxy - miny) + 0.02
    columns = int(np.ceil(np.sqrt(counties)))
    geoms = grids.geometry.to_numpy()
    rng = np.random.default_rng(seed)
    per = np.full(counties, cameras // counties)
    per[: cameras % counties] += 1
    device = 0
    t0 = time.perf_counter()
    for i, county in enumerate(county_codes(counties)):
        dx, dy = (i % columns) * step_x, (i // columns) * step_y
        copy = grids.copy()
        copy["code"] = county + copy["code"].str[6:]
        copy["geometry"] = shapely.transform(geoms, lambda xy, dx=dx, dy=dy: xy + [dx, dy])
        write_county_leaves(str(out / "leaves"), county, copy)
        del copy

        def chunks(n: int, dx: float = dx, dy: float = dy):
            nonlocal device
            for start in range(0, n, CHUNK):
                m = min(CHUNK, n - start)
                yield pd.DataFrame(
                    {
                        "device_id": np.arange(device, device + m, dtype=np.int64),
                        "lon": rng.uniform(minx, maxx, m) + dx,
                        "lat": rng.uniform(miny, maxy, m) + dy,
                        "status": pd.Categorical.from_codes(
                            rng.choice(3, m, p=[0.25, 0.7, 0.05]), ["planned", "installed", "removed"]
                        ),
                        "online": pd.array(rng.choice([True, False, None], m, p=[0.7, 0.2, 0.1]), dtype="boolean"),
                    }
                )
                device += m

        write_county_cameras(str(out / "cameras"), county, chunks(int(per[i])))
        if (i + 1) % 25 == 0:
            print(f"  generated {i + 1}/{counties} counties ({time.perf_counter() - t0:.0f} s)", flush=True)
    (out / "manifest.json").write_text(json.dumps({"counties": counties, "cameras": cameras, "seed": seed}))
    print(f"generated in {time.perf_counter() - t0:.0f} s, peak RSS {peak_rss_mib():.0f} MiB", flush=True)


# ------------------------------------------------------------------------------------------------
# 3. One machine (child process)


def single_machine(out: Path, counties: int, save: str | None) -> None:
    import geopandas as gpd
    import pyarrow.parquet as pq

    from gridmap.coverage.assign import LeafIndex
    from gridmap.coverage.batch import leaf_counts

    codes = county_codes(counties)
    t0 = time.perf_counter()
    leaves = pd.concat([gpd.read_parquet(out / "leaves" / f"{c}.parquet") for c in codes], ignore_index=True)
    cams = pd.concat(
        [
            pq.read_table(out / "cameras" / f"county={c}", columns=["lon", "lat", "status", "online"]).to_pandas()
            for c in codes
        ],
        ignore_index=True,
    )
    t1 = time.perf_counter()
    index = LeafIndex.build(leaves["code"].to_numpy(), leaves.geometry.to_numpy())
    del leaves
    t2 = time.perf_counter()
    counts = leaf_counts(index, cams["lon"], cams["lat"], cams["status"], cams["online"])
    t3 = time.perf_counter()
    if save:
        counts.leaf.assign(outside=counts.outside).to_parquet(save)
    print(
        json.dumps(
            {
                "counties": counties,
                "leaves": len(index.codes),
                "cameras": len(cams),
                "read_s": t1 - t0,
                "build_s": t2 - t1,
                "count_s": t3 - t2,
                "total_s": t3 - t0,
                "peak_mib": peak_rss_mib(),
                "raster": list(index.labels.shape),
                "boundary_cells": index.boundary_cells,
            }
        )
    )


def run_single(out: Path, counties: int, timeout: float, save: str | None = None) -> dict | None:
    cmd = [sys.executable, __file__, "--dir", str(out), "--single", str(counties)] + (["--save", save] if save else [])
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"counties": counties, "timeout": timeout}
    if done.returncode:
        return {"counties": counties, "failed": done.returncode, "stderr": done.stderr[-800:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------
# 2. The distributed run, then 3.


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default="/tmp/gridmap-province")
    ap.add_argument("--counties", type=int, default=6)
    ap.add_argument("--cameras", type=int, default=600_000)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="1.5GiB")
    ap.add_argument("--check", type=int, default=6, help="counties compared with one machine")
    ap.add_argument("--grow", default="", help="county counts to try on one machine, e.g. 6,12,25,50")
    ap.add_argument("--budget-gib", type=float, default=6.0)
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per one-machine attempt")
    ap.add_argument("--grow-only", action="store_true", help="skip the distributed run and the check")
    ap.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--single", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--save", help=argparse.SUPPRESS)
    args = ap.parse_args()
    out = Path(args.dir)
    if args.single:
        single_machine(out, args.single, args.save)
        return
    if args.generate_only:
        generate(out, args.counties, args.cameras, args.seed)
        return

    manifest = out / "manifest.json"
    wanted = {"counties": args.counties, "cameras": args.cameras, "seed": args.seed}
    if not manifest.exists() or json.loads(manifest.read_text()) != wanted:
        if out.exists():
            subprocess.run(["rm", "-rf", str(out / "leaves"), str(out / "cameras"), str(manifest)], check=True)
        print(f"generating {args.counties} counties, {args.cameras:,} cameras in {out} …", flush=True)
        argv = ["--generate-only", "--dir", str(out), "--counties", str(args.counties)]
        argv += ["--cameras", str(args.cameras), "--seed", str(args.seed)]
        subprocess.run([sys.executable, __file__, *argv], check=True)
    size = sum(f.stat().st_size for f in out.rglob("*.parquet"))
    print(f"province: {args.counties} counties, {args.cameras:,} cameras, {size / 2**20:,.0f} MiB of Parquet")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    if args.grow_only:
        sizes = [int(x) for x in args.grow.split(",") if x]
        first = run_single(out, sizes[0], args.timeout)
        assert first and "total_s" in first, first
        _print_single(first)
        args.grow = ",".join(map(str, sizes[1:]))
        grow(out, list_counties(str(out / "leaves")), args, [first])
        return

    import logging

    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=args.workers,
        threads_per_worker=1,
        processes=True,
        memory_limit=args.memory_limit,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = Client(cluster)
    counties = list_counties(str(out / "leaves"))
    # Warm the workers (imports) on one county, so the RSS "before" includes the libraries.
    client.gather(
        client.map(
            count_county, counties[:1], leaves_dir=str(out / "leaves"), cameras_dir=str(out / "cameras"), pure=False
        )
    )
    pids = client.run(os.getpid)
    before = client.run(_rss_mib)
    t0 = time.perf_counter()
    run = county_leaf_counts(client, str(out / "leaves"), str(out / "cameras"), counties)
    wall = time.perf_counter() - t0
    peaks = client.run(peak_rss_mib)
    restarted = client.run(os.getpid) != pids
    client.close()
    cluster.close()
    leaf = run.counts.leaf
    print(
        f"\ndistributed ({args.workers} workers × {args.memory_limit}, 1 thread each): {len(counties)} counties, "
        f"{len(leaf):,} leaves, {int(run.cameras.sum()):,} cameras in {wall:.1f} s "
        f"({int(run.cameras.sum()) / wall:,.0f} cameras/s)"
    )
    for w in sorted(peaks):
        print(f"  worker {w}: peak RSS {peaks[w]:,.0f} MiB (RSS {before[w]:,.0f} MiB before the run)")
    print(f"  workers restarted: {'YES' if restarted else 'none'}; client peak RSS {peak_rss_mib():,.0f} MiB")
    print(
        f"  totals: planned {int(leaf['planned'].sum()):,}, installed {int(leaf['installed'].sum()):,}, "
        f"online {int(leaf['online'].sum()):,}, outside {run.counts.outside:,}"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    # 3. One machine on the first --check counties: the same figures, and the baseline time.
    check = min(args.check, len(counties))
    saved = str(out / "single_check.parquet")
    single = run_single(out, check, args.timeout, saved)
    assert single and "total_s" in single, single
    frame = pd.read_parquet(saved)
    from gridmap.coverage.batch import BatchCounts

    one = BatchCounts(frame[["planned", "installed", "online"]], int(frame["outside"].iloc[0]) if len(frame) else 0)
    same = one == run.of(counties[:check])
    print(
        f"\none machine, {check} counties ({single['leaves']:,} leaves, {single['cameras']:,} cameras): "
        f"{single['total_s']:.1f} s (read {single['read_s']:.1f}, index {single['build_s']:.1f}, "
        f"count {single['count_s']:.1f}), peak RSS {single['peak_mib']:,.0f} MiB — "
        f"counts identical to the distributed run's: {same}"
    )
    per_d, per_1 = wall / len(counties), single["total_s"] / check
    print(f"  seconds per county: distributed {per_d:.2f}, one machine {per_1:.2f} (ratio {per_d / per_1:.2f})")
    assert same, "the distributed counts differ from one machine's"

    grow(out, counties, args, [single])


def grow(out: Path, counties: list[str], args, history: list[dict]) -> None:
    """One machine on growing sizes, while the projection stays within budget."""
    for n in [int(x) for x in args.grow.split(",") if x]:
        if n > len(counties):
            break
        mem, secs = _project(history, n)
        if mem > args.budget_gib * 1024 or secs > args.timeout:
            print(
                f"one machine, {n} counties: not attempted — projected {mem / 1024:.1f} GiB, {secs:.0f} s "
                f"(budget {args.budget_gib} GiB, {args.timeout:.0f} s)"
            )
            break
        got = run_single(out, n, args.timeout)
        assert got
        if "total_s" not in got:
            print(f"one machine, {n} counties: stopped ({got})")
            break
        _print_single(got)
        history.append(got)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _print_single(got: dict) -> None:
    print(
        f"one machine, {got['counties']} counties ({got['leaves']:,} leaves, {got['cameras']:,} cameras): "
        f"{got['total_s']:.1f} s (index {got['build_s']:.1f}, count {got['count_s']:.1f}; raster "
        f"{got['raster'][0]}×{got['raster'][1]}, {got['boundary_cells']:,} boundary cells), "
        f"peak RSS {got['peak_mib']:,.0f} MiB",
        flush=True,
    )


def _project(history: list[dict], n: int) -> tuple[float, float]:
    """(MiB, s) expected for ``n`` counties on one machine, 15% above the trend of the last two
    sizes measured (or proportional to the one measured): the leaf index's raster is capped, so
    memory grows less than linearly once it is reached."""
    last = history[-1]
    if len(history) < 2:
        return last["peak_mib"] / last["counties"] * n * 1.15, last["total_s"] / last["counties"] * n * 1.15
    prev = history[-2]
    span = max(last["counties"] - prev["counties"], 1)
    mem = last["peak_mib"] + max(last["peak_mib"] - prev["peak_mib"], 0) / span * (n - last["counties"])
    secs = last["total_s"] + max(last["total_s"] - prev["total_s"], 0) / span * (n - last["counties"])
    return mem * 1.15, secs * 1.15


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    main()
