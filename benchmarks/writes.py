"""Benchmark of the write path: status pushes, a 10,000-status batch, the first read after a push,
sustained pushes beside readers, a township publish and a camera import — on the sample county and
on the same county with 1.1 million cameras, against the previous implementation in the same run.

Set-up (scratch databases ``gridmap_bench_writes_*_p<pid>`` in the local cluster, dropped at the end):

- ``new_small``: this checkout's migrations and the sample county (10,520 cameras);
- ``new_large``: the same plus synthetic cameras up to ``--cameras`` (default 1,100,000): points
  drawn inside every micro-grid (``ST_GeneratePoints``, seeded), valid 20-digit GB/T 28181 ids, 95 %
  installed, 98 % of those online, three operators; figures and tile rows then rebuilt;
- the baseline (``--baseline REF``, default the commit that starts this work; ``--baseline none``
  skips it): a ``git worktree`` of REF in a temporary directory, its own migrations and sample load
  (``old_small``, ``old_large`` with the same synthetic cameras), its server and scripts run from the
  worktree with this venv's Python.

Each database is served alone by ``uvicorn --factory gridmap.api.app:create_app --workers 1``
(asyncio, h11, no access log); clients are threads with keep-alive ``httpx.Client``s and an admin
token, and share the machine's CPUs with the server and PostgreSQL (the load average is printed).

1. one single-camera status push over HTTP, sequentially (a random installed camera, the opposite
   of its state, a newer report time each): p50 / p99;
2. a 10,000-status batch (random installed cameras, random states; large county);
3. the first ``/api/v1/coverage`` (the default rows) after each push;
4. sustained: 4 pushers (batches of ``--batch`` statuses) beside 8 readers for ``--seconds``: status
   reports applied per second; readers cycle through a big screen's requests — its tiles (township
   and grid layers over the county, micro-grids and cameras at the centre), ``/api/v1/summary`` and
   ``/api/v1/coverage`` — p50 / p99 per kind and the tile hit rate (``X-Tile-Cache``); on the large
   county also with ``GRIDMAP_TILE_CHECK_INTERVAL=2`` (the cache looks at the revision every 2 s
   instead of 1 s: the trade between hit rate and freshness for clients that name no revision);
5. a township publish (the sample's first township, unchanged: ``publish_file`` in a subprocess);
6. memory: the server's peak RSS (VmHWM) after its runs; a camera import (the sample register again,
   unchanged, and 100,000 cameras changed) in a subprocess: wall time and peak RSS.

Targets (issue 11): single push p50 ≤ 20 ms, p99 ≤ 100 ms at both sizes, large/small p50 ≤ 1.5;
10,000-status batch ≤ 1 s; sustained ≥ 2,000 changes/s with reader p99 ≤ 100 ms and tile hit rate
≥ 90 %; first /coverage after a push ≤ 50 ms; a township publish not slower than the baseline.

    .venv/bin/python benchmarks/writes.py [--cameras 1100000] [--pushes 300] [--seconds 20] [--batch 200]
                                          [--baseline REF|none] [--quick]

About 15 minutes with the baseline (most of it building the two large databases), 6 without.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from memory import status_kb  # noqa: E402  (benchmarks/memory.py)

DEFAULT_BASELINE = "82ca034"  # main before the incremental write path (the sample date fix only)
SCRATCH = "gridmap_bench_writes"
_T0 = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
_clock = itertools.count()


def next_at() -> str:
    """A report time one second after the last: every report is newer than any applied before."""
    return (_T0 + dt.timedelta(seconds=next(_clock))).isoformat()


# ----------------------------------------------------------------------------------------------
# Code under test: this checkout, or a worktree of the baseline


class Code:
    """Where a version of gridmap lives, and how to run Python (scripts, servers) with it."""

    def __init__(self, name: str, root: Path):
        self.name, self.root = name, root

    def env(self, url: str) -> dict[str, str]:
        # cwd = the code's root and PYTHONPATH: its ``gridmap`` package wins over the editable install.
        return {**os.environ, "PYTHONPATH": str(self.root), "GRIDMAP_DATABASE_URL": url, "GRIDMAP_READ_ACCESS": "open"}

    def run(self, url: str, script: str, *args: str) -> dict:
        """Run ``script`` (Python; prints one JSON line last) with this code; returns that JSON."""
        done = subprocess.run(
            [sys.executable, "-c", script, *args], cwd=self.root, env=self.env(url), capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"{self.name}: script failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def baseline_worktree(ref: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="gridmap-baseline-"))
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(path), ref], check=True)
    return path


def drop_worktree(path: Path) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False)


_SETUP = """
import json, sys, time
from sqlalchemy import create_engine, text
from gridmap.config import get_settings
from gridmap.db.migrate import upgrade
from gridmap.sample.load import load_sample

url, cameras, new_code = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "new"
upgrade(url)
engine = create_engine(url)
load_sample(engine, get_settings().data_dir)
t = time.perf_counter()
if cameras:
    with engine.begin() as conn:
        leaves = conn.execute(text("SELECT count(*) FROM area a WHERE NOT EXISTS "
                                   "(SELECT 1 FROM area c WHERE c.parent_code = a.code)")).scalar_one()
        have = conn.execute(text("SELECT count(*) FROM camera")).scalar_one()
        per = max(1, (cameras - have) // leaves)
        conn.execute(text("SELECT setseed(0.42)"))
        # Ids: centre 41162800, industry 01, type 131/132, network 0/1 (the sample's is 8), serial.
        conn.execute(text('''
            INSERT INTO camera (device_id, name, geom, raw_x, raw_y, raw_crs, status, online, operator, area_code)
            SELECT '4116280001' || CASE WHEN n % 2 = 0 THEN '131' ELSE '132' END || (n / 1000000)::text
                   || lpad((n % 1000000)::text, 6, '0'),
                   '合成点位', geom, ST_X(geom), ST_Y(geom), 'cgcs2000',
                   CASE WHEN r < 0.95 THEN 'installed' ELSE 'planned' END, r < 0.95 * 0.98,
                   (ARRAY['中国移动', '中国电信', '中国联通'])[1 + n % 3], code
            FROM (SELECT row_number() OVER () AS n, random() AS r, code, geom FROM (
                      SELECT a.code, (ST_Dump(ST_GeneratePoints(a.geom, :per, 7))).geom AS geom FROM area a
                      WHERE NOT EXISTS (SELECT 1 FROM area c WHERE c.parent_code = a.code)) p) x'''),
                     {"per": per})
        if new_code:
            from gridmap.services.changes import record_change
            record_change(conn, "repair", everything=True)
        else:
            from gridmap.coverage.stats import record_change
            record_change(conn, "sample_load")
with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
    conn.execute(text("VACUUM ANALYZE"))
    total = conn.execute(text("SELECT count(*) FROM camera")).scalar_one()
print(json.dumps({"cameras": total, "synthetic_s": time.perf_counter() - t}))
"""

_PUBLISH = """
import json, sys, time
from sqlalchemy import create_engine
from gridmap.services.boundaries import publish_file
engine = create_engine(sys.argv[1])
with engine.connect() as conn:
    pass
t = time.perf_counter()
result = publish_file(engine, sys.argv[2], by="benchmark")
print(json.dumps({"seconds": time.perf_counter() - t, "version": result.version_id}))
"""

_IMPORT = """
import json, resource, sys, time
from sqlalchemy import create_engine
from gridmap.services.cameras import import_cameras
engine = create_engine(sys.argv[1])
t = time.perf_counter()
result = import_cameras(engine, sys.argv[2])
seconds = time.perf_counter() - t
peak = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak, "rows": result.source_rows,
                  "updated": result.counts.updated, "unchanged": result.counts.unchanged}))
"""


# ----------------------------------------------------------------------------------------------
# Databases and servers


def cluster():
    from gridmap.config import get_settings
    from gridmap.devdb import LocalCluster

    c = LocalCluster.from_settings(get_settings())
    c.up()
    return c


def make_db(code: Code, key: str, cameras: int) -> tuple[str, dict]:
    name = f"{SCRATCH}_{key}_p{os.getpid()}"
    url = cluster().ensure_database(name, drop_first=True)
    t = time.perf_counter()
    info = code.run(url, _SETUP, url, str(cameras), "new" if code.name == "new" else "old")
    info["setup_s"] = time.perf_counter() - t
    return url, info


def admin_token(url: str) -> str:
    from sqlalchemy import create_engine

    from gridmap.db.tokens import create_token

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            secret, _ = create_token(
                conn, name="benchmark", role="admin", expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
            )
    finally:
        engine.dispose()
    return secret


def installed_cameras(url: str) -> list[str]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    text("SELECT device_id FROM camera WHERE status = 'installed' ORDER BY device_id")
                ).scalars()
            )
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, code: Code, url: str, env: dict[str, str] | None = None):
        self.code, self.url, self.extra_env = code, url, env or {}
        self.proc: subprocess.Popen | None = None
        self.base = ""

    def __enter__(self) -> Server:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "gridmap.api.app:create_app",
                "--workers",
                "1",
                "--loop",
                "asyncio",
                "--http",
                "h11",
                "--no-access-log",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=self.code.root,
            env={**self.code.env(self.url), **self.extra_env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit("server did not start")

    def peak_mb(self) -> float:
        kb = status_kb("VmHWM", self.proc.pid) if self.proc else None
        return kb / 1024 if kb else float("nan")

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


# ----------------------------------------------------------------------------------------------
# Measurements


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


def single_pushes(
    base: str, token: str, cameras: list[str], n: int, rng: random.Random, coverage_after: bool = False
) -> dict:
    """n sequential single-camera pushes; with ``coverage_after`` a GET /api/v1/coverage after each."""
    push, cover, online = [], [], {}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=600) as c:
        c.get("/healthz")
        for i in range(n + 10):  # the first 10: warm-up (connections, prepared plans), not counted
            if i == 10:
                push.clear(), cover.clear()
            device = cameras[rng.randrange(len(cameras))]
            state = not online.get(device, True)
            t = time.perf_counter()
            r = c.post("/api/v1/cameras/status", json=[{"device_id": device, "online": state, "at": next_at()}])
            push.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
            online[device] = state
            if coverage_after:
                t = time.perf_counter()
                r = c.get("/api/v1/coverage")
                cover.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
    out = {"n": n, "p50": pct(push, 0.5) * 1000, "p99": pct(push, 0.99) * 1000}
    if cover:
        out.update(cover_p50=pct(cover, 0.5) * 1000, cover_p99=pct(cover, 0.99) * 1000)
    return out


def batches(base: str, token: str, cameras: list[str], size: int, n: int, rng: random.Random) -> dict:
    seconds = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=600) as c:
        c.get("/healthz")
        for _ in range(n):
            at = next_at()
            body = [{"device_id": d, "online": rng.random() < 0.5, "at": at} for d in rng.sample(cameras, size)]
            t = time.perf_counter()
            r = c.post("/api/v1/cameras/status", json=body)
            seconds.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
    return {"n": n, "median_s": statistics.median(seconds), "max_s": max(seconds)}


def screen_requests(url: str) -> list[tuple[str, str]]:
    """A big screen's requests: the township and grid layers over the whole county (z10/z11),
    micro-grids and cameras around the centre (z14), the view's summary and the coverage rows."""
    from sqlalchemy import create_engine, text

    from gridmap.tiles.grid import HALF_WORLD, lonlat_to_3857, tile_size_m

    engine = create_engine(url)
    with engine.connect() as conn:
        box = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                "(SELECT ST_Extent(geom)::geometry AS e FROM area WHERE level = 0) x"
            )
        ).one()
    engine.dispose()

    def tiles(layer, z, lon0, lat0, lon1, lat1):
        (x0, y0), (x1, y1) = lonlat_to_3857(lon0, lat0), lonlat_to_3857(lon1, lat1)
        size = tile_size_m(z)
        return [
            ("tile", f"/tiles/{layer}/{z}/{x}/{y}.mvt")
            for x in range(int((x0 + HALF_WORLD) // size), int((x1 + HALF_WORLD) // size) + 1)
            for y in range(int((HALF_WORLD - y1) // size), int((HALF_WORLD - y0) // size) + 1)
        ]

    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    out = (
        tiles("township", 10, *box)
        + tiles("grid", 11, *box)
        + tiles("county", 10, *box)
        + tiles("microgrid", 14, cx - 0.03, cy - 0.02, cx + 0.03, cy + 0.02)
        + tiles("cameras", 14, cx - 0.03, cy - 0.02, cx + 0.03, cy + 0.02)
    )
    bbox = f"{cx - 0.1:.4f},{cy - 0.08:.4f},{cx + 0.1:.4f},{cy + 0.08:.4f}"
    out += [("summary", f"/api/v1/summary?level=3&bbox={bbox}"), ("coverage", "/api/v1/coverage")] * 4
    return out


def sustained(
    base: str,
    token: str,
    cameras: list[str],
    requests: list[tuple[str, str]],
    seconds: float,
    batch: int,
    pushers: int = 4,
    readers: int = 8,
) -> dict:
    stop = threading.Event()
    lock = threading.Lock()
    pushed, applied, push_s, errors = [0], [0], [], []
    lat: dict[str, list[float]] = {}
    cache = {"hit": 0, "miss": 0}

    def pusher(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
            while not stop.is_set():
                at = next_at()
                body = [{"device_id": d, "online": rng.random() < 0.5, "at": at} for d in rng.sample(cameras, batch)]
                t = time.perf_counter()
                r = c.post("/api/v1/cameras/status", json=body)
                with lock:
                    push_s.append(time.perf_counter() - t)
                    if r.status_code == 200:
                        pushed[0] += batch
                        applied[0] += r.json()["applied"]
                    elif len(errors) < 5:
                        errors.append(f"push {r.status_code} {r.text[:200]}")

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        order = requests[:]
        rng.shuffle(order)
        mine: dict[str, list[float]] = {}
        hits = {"hit": 0, "miss": 0}
        with httpx.Client(base_url=base, headers={"Accept-Encoding": "gzip"}, timeout=120) as c:
            for kind, path in itertools.cycle(order):
                if stop.is_set():
                    break
                t = time.perf_counter()
                r = c.get(path)
                mine.setdefault(kind, []).append(time.perf_counter() - t)
                if r.status_code not in (200, 204) and len(errors) < 5:
                    errors.append(f"{kind} {r.status_code} {path}")
                if "x-tile-cache" in r.headers:
                    hits[r.headers["x-tile-cache"]] += 1
        with lock:
            for k, v in mine.items():
                lat.setdefault(k, []).extend(v)
            for k, v in hits.items():
                cache[k] += v

    threads = [threading.Thread(target=pusher, args=(i,)) for i in range(pushers)] + [
        threading.Thread(target=reader, args=(100 + i,)) for i in range(readers)
    ]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    time.sleep(seconds)
    stop.set()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    lookups = cache["hit"] + cache["miss"]
    return {
        "reports_per_s": pushed[0] / wall,
        "applied_per_s": applied[0] / wall,
        "push_p50": pct(push_s, 0.5) * 1000,
        "push_p99": pct(push_s, 0.99) * 1000,
        "readers": {k: (len(v), pct(v, 0.5) * 1000, pct(v, 0.99) * 1000) for k, v in sorted(lat.items())},
        "all_p99": pct([x for v in lat.values() for x in v], 0.99) * 1000,
        "hit_rate": cache["hit"] / lookups if lookups else float("nan"),
        "errors": errors,
    }


def township_file(tmp: Path) -> Path:
    """The sample's first township (levels 1–4) as a GeoPackage, unchanged."""
    import pandas as pd
    import pyogrio

    from gridmap.config import get_settings
    from gridmap.io.boundaries import read_areas
    from gridmap.sample.files import GPKG

    gpkg = get_settings().data_dir / GPKG
    areas = pd.concat(
        [read_areas(gpkg, layer=lv) for lv in ("township", "village", "grid", "microgrid")], ignore_index=True
    )
    first = sorted(areas.loc[areas["level"] == 1, "code"])[0]
    import geopandas as gpd

    sub = gpd.GeoDataFrame(areas[areas["code"].str.startswith(first)], geometry="geometry", crs=4490)
    path = tmp / "township.gpkg"
    pyogrio.write_dataframe(
        sub[["code", "name", "parent_code", "level", "households", "geometry"]], path, driver="GPKG"
    )
    return path


def changed_register(url: str, tmp: Path, rows: int) -> Path:
    """``rows`` cameras of the database as a register, each with its online state flipped."""
    import pandas as pd
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        frame = pd.DataFrame(
            conn.execute(
                text("""
            SELECT device_id AS 设备编码, coalesce(name, '') AS 设备名称, round(ST_X(geom)::numeric, 7) AS 经度,
                   round(ST_Y(geom)::numeric, 7) AS 纬度, CASE status WHEN 'installed' THEN '已安装' ELSE '规划' END AS 安装状态,
                   CASE WHEN status = 'installed' AND NOT online THEN '在线' ELSE '离线' END AS 在线状态,
                   coalesce(operator, '') AS 运营商
            FROM camera WHERE status <> 'removed' ORDER BY device_id LIMIT :n"""),
                {"n": rows},
            )
            .mappings()
            .all()
        )
    engine.dispose()
    path = tmp / f"register_{rows}.csv"
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    return path


# ----------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cameras", type=int, default=1_100_000, help="cameras in the large county (default 1.1M)")
    ap.add_argument("--pushes", type=int, default=300, help="single-camera pushes per server (default 300)")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the sustained run (default 20 s)")
    ap.add_argument("--batch", type=int, default=200, help="statuses per push in the sustained run (default 200)")
    ap.add_argument(
        "--baseline", default=DEFAULT_BASELINE, help=f"git ref to compare with, or none (default {DEFAULT_BASELINE})"
    )
    ap.add_argument("--quick", action="store_true", help="110,000 cameras, 100 pushes, 10 s")
    args = ap.parse_args()
    if args.quick:
        args.cameras, args.pushes, args.seconds = 110_000, 100, 10.0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(
        f"Write-path benchmark: Python {platform.python_version()}, {os.cpu_count()} CPUs ({usable} usable), "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    codes = {"new": Code("new", ROOT)}
    worktree = None
    if args.baseline != "none":
        worktree = baseline_worktree(args.baseline)
        codes["old"] = Code("old", worktree)
    tmp = Path(tempfile.mkdtemp(prefix="gridmap-bench-writes-"))
    dbs: dict[tuple[str, str], str] = {}
    results: dict[tuple[str, str], dict] = {}
    try:
        township = township_file(tmp)
        for key, code in codes.items():
            for size, cameras in (("small", 0), ("large", args.cameras)):
                url, info = make_db(code, f"{key}_{size}", cameras)
                dbs[key, size] = url
                print(
                    f"   {key:<4}{size:<6} {info['cameras']:>10,} cameras, set up in {info['setup_s']:.0f} s "
                    f"(synthetic cameras, figures and tiles rebuilt: {info['synthetic_s']:.0f} s)",
                    flush=True,
                )
        for (key, size), url in dbs.items():
            code, rng = codes[key], random.Random(1)
            token, cameras = admin_token(url), installed_cameras(url)
            r: dict = {}
            n = args.pushes if key == "new" else (30 if size == "small" else 10)
            with Server(code, url) as server:
                r["single"] = single_pushes(server.base, token, cameras, n, rng)
                r["cover"] = single_pushes(server.base, token, cameras, min(n, 50), rng, coverage_after=True)
                if size == "large":
                    r["batch"] = batches(server.base, token, cameras, 10_000, 5 if key == "new" else 1, rng)
                if key == "new":
                    r["sustained"] = sustained(
                        server.base, token, cameras, screen_requests(url), args.seconds, args.batch
                    )
                r["server_peak_mb"] = server.peak_mb()
            if key == "new" and size == "large":  # the same with the tile cache looking every 2 s
                with Server(code, url, {"GRIDMAP_TILE_CHECK_INTERVAL": "2"}) as server:
                    r["sustained_2s"] = sustained(
                        server.base, token, cameras, screen_requests(url), args.seconds, args.batch
                    )
            r["publish"] = [code.run(url, _PUBLISH, url, str(township))["seconds"] for _ in range(3)]
            r["import_same"] = code.run(url, _IMPORT, url, str(ROOT / "data" / "luyi_cameras.csv"))
            if size == "large":
                r["import_100k"] = code.run(url, _IMPORT, url, str(changed_register(url, tmp, 100_000)))
            results[key, size] = r
            print(f"   {key} {size}: done", flush=True)
        report(results, args)
    finally:
        c = cluster()
        for url in dbs.values():
            c.drop_database(url.rsplit("/", 1)[1].split("?")[0])
        if worktree is not None:
            drop_worktree(worktree)


def report(results: dict, args) -> None:
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}×" if b and b == b else "—"

    new_s, new_l = results["new", "small"], results["new", "large"]
    old_s, old_l = results.get(("old", "small")), results.get(("old", "large"))
    print("\n1. One single-camera status push over HTTP (sequential)")
    print(f"   {'':<18}{'n':>5}{'p50 ms':>10}{'p99 ms':>10}{'vs baseline p50':>18}")
    for label, r, base in (("sample county", new_s, old_s), (f"{args.cameras:,} cameras", new_l, old_l)):
        rows = [("new " + label, r["single"], base["single"]["p50"] if base else None)]
        if base:
            rows.append(("baseline " + label, base["single"], None))
        for name, s, b in rows:
            print(f"   {name:<30}{s['n']:>5}{s['p50']:>10.1f}{s['p99']:>10.1f}{(ratio(s['p50'], b) if b else ''):>18}")
    growth = new_l["single"]["p50"] / new_s["single"]["p50"]
    print(
        f"   large / sample p50: {growth:.2f} (target ≤ 1.5); targets p50 ≤ 20 ms, p99 ≤ 100 ms: "
        f"{'met' if max(new_s['single']['p50'], new_l['single']['p50']) <= 20 and max(new_s['single']['p99'], new_l['single']['p99']) <= 100 and growth <= 1.5 else 'NOT met'}"
    )
    print("\n2. A 10,000-status batch (large county)")
    print(
        f"   new: median {new_l['batch']['median_s']:.2f} s, max {new_l['batch']['max_s']:.2f} s (target ≤ 1 s)"
        + (
            f"; baseline {old_l['batch']['median_s']:.1f} s ({ratio(old_l['batch']['median_s'], new_l['batch']['median_s'])} slower)"
            if old_l
            else ""
        )
    )
    print("\n3. The first /api/v1/coverage after a push")
    for label, r, base in (("sample", new_s, old_s), ("large", new_l, old_l)):
        c = r["cover"]
        print(
            f"   {label:<7} new p50 {c['cover_p50']:.1f} ms, p99 {c['cover_p99']:.1f} ms"
            + (
                f"; baseline p50 {base['cover']['cover_p50']:.1f} ms, p99 {base['cover']['cover_p99']:.1f} ms"
                if base
                else ""
            )
        )
    print(
        f"\n4. Sustained: 4 pushers × {args.batch} statuses beside 8 readers, {args.seconds:.0f} s "
        f"(tile cache looking every 1 s, the default; 'large 2 s': every 2 s)"
    )
    for label, s in (
        ("sample", new_s["sustained"]),
        ("large", new_l["sustained"]),
        ("large 2 s", new_l["sustained_2s"]),
    ):
        readers = ", ".join(f"{k} n={n:,} p50 {p50:.1f} p99 {p99:.1f} ms" for k, (n, p50, p99) in s["readers"].items())
        print(
            f"   {label:<9} {s['reports_per_s']:,.0f} reports/s ({s['applied_per_s']:,.0f} applied/s), push p50 "
            f"{s['push_p50']:.0f} ms p99 {s['push_p99']:.0f} ms; readers: {readers}; all readers p99 "
            f"{s['all_p99']:.1f} ms; tile hit rate {s['hit_rate']:.1%}"
            + (f"; errors {s['errors']}" if s["errors"] else "")
        )
    print("\n5. A township publish (the sample's first township, unchanged), seconds (3 runs)")
    for label, r, base in (("sample", new_s, old_s), ("large", new_l, old_l)):
        med = statistics.median(r["publish"])
        print(
            f"   {label:<7} new median {med:.2f} s {[f'{x:.2f}' for x in r['publish']]}"
            + (
                f"; baseline median {statistics.median(base['publish']):.2f} s (new/baseline "
                f"{ratio(med, statistics.median(base['publish']))})"
                if base
                else ""
            )
        )
    print("\n6. Memory and imports")
    for (key, size), r in sorted(results.items()):
        imp = r["import_same"]
        line = (
            f"   {key:<4}{size:<6} server peak RSS {r['server_peak_mb']:.0f} MB; sample register re-imported "
            f"({imp['unchanged']:,} unchanged) {imp['seconds']:.1f} s, peak {imp['peak_mb']:.0f} MB"
        )
        if "import_100k" in r:
            big = r["import_100k"]
            line += f"; 100,000 changed cameras {big['seconds']:.1f} s, peak {big['peak_mb']:.0f} MB"
        print(line)


if __name__ == "__main__":
    main()
