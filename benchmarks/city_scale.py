"""Benchmark of gridmap at city scale (issue 17): a ~10-county city beside the one-county sample,
both measured in the same run, so every figure comes with its city / county ratio.

Set-up (scratch databases ``gridmap_bench_city_p<pid>`` and ``gridmap_bench_city_county_p<pid>``
in the local cluster, dropped at the end unless ``--keep-db``):

- ``county``: migrations and the sample county (``load_sample``: 鹿邑 411628, 12,195 areas, 10,520
  cameras);
- ``city``: migrations, the sample city (``load_city``: 鹿邑, 郸城 411625, 太康 411627), then
  ``--counties`` − 3 more counties of 周口市 (411602 川汇区, 411603 淮阳区, 411621 扶沟县, 411622 西华县,
  411623 商水县, 411624 沈丘县, 411681 项城市; more are numbered 41163x…): each a copy of 鹿邑 —
  codes re-prefixed (``new_code + old_code[6:]``, device ids and the register's grid codes
  likewise), geometry and camera points translated by a multiple of 0.6° so no copy overlaps
  another county — written out as a GeoPackage and a CSV register and loaded through the same
  services a user's upload goes through: ``check_file`` against the live data and
  ``publish_analysis`` (what ``publish_file`` does, split to time validation and write), then
  ``import_cameras(county=…)``. Each county's steps are timed: a publish or import whose time grows
  with the counties already loaded (not with its own size) shows in that table.
  ``--cameras N`` tops the city up with synthetic cameras (``ST_GeneratePoints`` in every leaf,
  valid ids of the leaf's county, 95 % installed, 98 % of those online) to N in all, then
  rebuilds figures and tiles (``record_change(..., everything=True)``).
  Both databases are ``VACUUM ANALYZE``d after loading.

Both databases are then served at once, each by its own ``uvicorn --factory
gridmap.api.app:create_app --workers 1`` (as ``benchmarks/writes.py`` serves it), and measured in
alternation with the same requests, so load from elsewhere on the machine falls on both alike:

1. tiles at city zoom, first on the fresh servers (cold: the tile cache empty) then again (warm):
   county z8 and township z8/z9 over the city's box, grid z11 (its minzoom) over 鹿邑;
2. ``/api/v1/coverage?code=4116`` (the city and its counties) and ``?code=411628`` (鹿邑 and its
   townships): the first answer, then p50 over ``--requests`` (served from the revision cache);
3. ``--pushes`` single-camera status pushes per server (``POST /api/v1/cameras/status``, a random
   installed camera, the opposite of its state, sequential, admin token; blocks of 25 to one server,
   then the other): p50 / p99; then ``--requests`` rounds of one push followed by
   ``/api/v1/coverage?code=4116`` (recomputed after each change);
4. each server's peak RSS (VmHWM).

In the benchmark's process: 5. validation of 鹿邑 against its live neighbours —
``check_file(path, parent_lookup=database_parents(conn), live=conn)`` on 鹿邑's areas (written from
each database with pyogrio), 3 runs alternating between the databases, median, and the same without
``live`` (the checks against the neighbours are the difference); the benchmark's own peak RSS
(building the city included); 6. the leaf index a camera import's CRS check builds
(``LeafIndex.build`` over ``leaf_areas(conn, county)``: the leaves of the county imported into,
鹿邑 here) at both sizes, beside the same over every live leaf of the database (what it built
before): seconds, cells, MB, peak RSS. ``--profile`` prints cProfile listings of the last added county's publish and
import.

Targets (issue 17): single push p50 ≤ 20 ms, p99 ≤ 100 ms at both sizes, city / county close to 1
(a push's cost grows with the change, not the data). The machine's CPUs are shared with PostgreSQL,
the server and whatever else runs (the load average is printed at each step): compare only figures
of the same run.

    .venv/bin/python benchmarks/city_scale.py [--counties 10] [--pushes 300] [--requests 20]
                                              [--cameras N] [--keep-db] [--profile]

About 6–8 minutes with the defaults on 2 cores (most of it building the city).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import math
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from memory import peak_rss_mb, reset_peak, rss_mb  # noqa: E402  (benchmarks/memory.py)
from writes import Code, Server, admin_token, cluster, installed_cameras, pct  # noqa: E402

SCRATCH = "gridmap_bench_city"
SOURCE = "411628"  # the county every copy is made of (鹿邑: the largest of the sample city)
CITY = "4116"
#: 周口市's other county-level codes (GB/T 2260), in the order the copies take them.
NEW_COUNTIES = {
    "411602": "川汇区",
    "411603": "淮阳区",
    "411621": "扶沟县",
    "411622": "西华县",
    "411623": "商水县",
    "411624": "沈丘县",
    "411681": "项城市",
}
STEP_DEG = 0.6  # copies sit on a grid of offsets this far apart
_T0 = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)


def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def log(msg: str) -> None:
    print(f"   [{time.strftime('%H:%M:%S')} load {load_avg()}, RSS {rss_mb():.0f} MB] {msg}", flush=True)


# ----------------------------------------------------------------------------------------------
# Building the databases


@dataclass
class CountyLoad:
    code: str
    name: str
    areas: int
    cameras: int
    validate_s: float
    publish_s: float
    import_s: float
    findings: str = ""


@dataclass
class Built:
    url: str
    name: str
    load_s: float
    loads: list[CountyLoad] = field(default_factory=list)
    synthetic_s: float = float("nan")
    areas: int = 0
    cameras: int = 0
    installed: int = 0
    counties: int = 0


def new_codes(n: int) -> list[tuple[str, str]]:
    out = list(NEW_COUNTIES.items())[:n]
    k = 30
    while len(out) < n:  # beyond 周口市's real codes: made-up ones of the same city
        out.append((f"4116{k:02d}", f"合成县{k}"))
        k += 1
    return out


def offsets(source_box: tuple[float, ...], taken: list[tuple[float, ...]], n: int) -> list[tuple[float, float]]:
    """``n`` translations (multiples of STEP_DEG) of ``source_box`` meeting none of ``taken`` (nor
    each other), nearest the city first."""
    if n == 0:
        return []

    def meets(a, b, margin=0.02):
        return not (a[2] + margin < b[0] or b[2] + margin < a[0] or a[3] + margin < b[1] or b[3] + margin < a[1])

    cx = (min(b[0] for b in taken) + max(b[2] for b in taken)) / 2
    cy = (min(b[1] for b in taken) + max(b[3] for b in taken)) / 2
    sx, sy = (source_box[0] + source_box[2]) / 2, (source_box[1] + source_box[3]) / 2
    slots = sorted(
        ((i * STEP_DEG, j * STEP_DEG) for i in range(-6, 7) for j in range(-6, 7)),
        key=lambda d: ((sx + d[0] - cx) ** 2 + (sy + d[1] - cy) ** 2, d),
    )
    out: list[tuple[float, float]] = []
    boxes = list(taken)
    for dx, dy in slots:
        box = (source_box[0] + dx, source_box[1] + dy, source_box[2] + dx, source_box[3] + dy)
        if any(meets(box, b) for b in boxes):
            continue
        out.append((dx, dy))
        boxes.append(box)
        if len(out) == n:
            return out
    raise SystemExit(f"no room for {n} copies within ±{6 * STEP_DEG:.1f}°")


def copy_county(
    source_areas, source_cameras, code: str, name: str, dx: float, dy: float, tmp: Path
) -> tuple[Path, Path, int, int]:
    """鹿邑's areas and register re-coded to ``code`` and moved by (dx, dy) degrees: a GeoPackage
    (one layer, every level) and a CSV register, as a user would upload them."""
    import pyogrio

    areas = source_areas.copy()
    areas["code"] = code + areas["code"].str[6:]
    areas["parent_code"] = areas["parent_code"].map(lambda p: None if p is None or len(p) < 6 else code + p[6:])
    areas.loc[areas["level"] == 0, "name"] = name
    areas["geometry"] = areas.geometry.translate(dx, dy)
    gpkg = tmp / f"{code}_grids.gpkg"
    pyogrio.write_dataframe(
        areas[["code", "name", "parent_code", "level", "kind", "households", "geometry"]], gpkg, driver="GPKG"
    )
    cams = source_cameras.copy()
    cams["设备编码"] = code + cams["设备编码"].str[6:]
    cams["所属网格"] = code + cams["所属网格"].str[6:]
    cams["经度"] = (cams["经度"].astype(float) + dx).round(6)
    cams["纬度"] = (cams["纬度"].astype(float) + dy).round(6)
    csv = tmp / f"{code}_cameras.csv"
    cams.to_csv(csv, index=False, encoding="utf-8-sig")
    return gpkg, csv, len(areas), len(cams)


def publish_county(engine, gpkg: Path) -> tuple[float, float, str]:
    """``publish_file`` in two timed steps: validation against the live data, then the write."""
    from gridmap.db.areas import VersionInfo
    from gridmap.db.revisions import current_revision
    from gridmap.services.boundaries import check_file, database_parents, publish_analysis

    t = time.perf_counter()
    with engine.connect() as conn:
        based_on = current_revision(conn)
        src, analysis = check_file(gpkg, parent_lookup=database_parents(conn), live=conn)
    validate_s = time.perf_counter() - t
    findings = ", ".join(sorted({f"{f.kind}" for f in analysis.report.findings}))
    info = VersionInfo(
        created_by="benchmark", file_name=gpkg.name, file_sha256=hashlib.sha256(gpkg.read_bytes()).hexdigest()
    )
    t = time.perf_counter()
    publish_analysis(engine, analysis, src.areas, info, based_on=based_on)
    return validate_s, time.perf_counter() - t, findings


def counts(engine, built: Built) -> None:
    from sqlalchemy import text

    with engine.connect() as conn:
        built.areas = conn.execute(text("SELECT count(*) FROM area WHERE level >= 0")).scalar_one()
        built.counties = conn.execute(text("SELECT count(*) FROM area WHERE level = 0")).scalar_one()
        built.cameras, built.installed = conn.execute(
            text("SELECT count(*), count(*) FILTER (WHERE status = 'installed') FROM camera")
        ).one()


def vacuum(engine) -> None:
    from sqlalchemy import text

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def build_county(keep: bool) -> Built:
    from sqlalchemy import create_engine

    from gridmap.config import get_settings
    from gridmap.db.migrate import upgrade
    from gridmap.sample.load import load_sample

    name = f"{SCRATCH}_county" + ("" if keep else f"_p{os.getpid()}")
    url = cluster().ensure_database(name, drop_first=True)
    upgrade(url)
    engine = create_engine(url)
    t = time.perf_counter()
    load_sample(engine, get_settings().data_dir)
    built = Built(url, name, time.perf_counter() - t)
    vacuum(engine)
    counts(engine, built)
    engine.dispose()
    return built


def profiled(enabled: bool, label: str, work):
    """``work()``, under cProfile when ``enabled`` (the top functions by cumulative time printed)."""
    if not enabled:
        return work()
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    result = prof.runcall(work)
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(r"gridmap|sqlalchemy/engine/base.py", 25)
    print(f"\n--- profile: {label} ---\n" + "\n".join(out.getvalue().splitlines()[6:]), flush=True)
    return result


def build_city(n_counties: int, cameras: int, tmp: Path, keep: bool, profile: bool = False) -> Built:
    import geopandas as gpd
    import pandas as pd
    from sqlalchemy import create_engine, text

    from gridmap.config import STORAGE_SRID, get_settings
    from gridmap.db.migrate import upgrade
    from gridmap.io.boundaries import read_areas
    from gridmap.levels import LEVELS
    from gridmap.sample.files import CAMERAS_CSV, GPKG
    from gridmap.sample.load import load_city
    from gridmap.services.cameras import import_cameras

    data = get_settings().data_dir
    name = SCRATCH + ("" if keep else f"_p{os.getpid()}")
    url = cluster().ensure_database(name, drop_first=True)
    upgrade(url)
    engine = create_engine(url)
    t = time.perf_counter()
    loaded = load_city(engine, data)
    built = Built(url, name, time.perf_counter() - t)
    log(f"load_city ({', '.join(loaded)}): {built.load_s:.1f} s")

    source_areas = gpd.GeoDataFrame(
        pd.concat([read_areas(data / GPKG, layer=lv.key) for lv in LEVELS], ignore_index=True),
        geometry="geometry",
        crs=STORAGE_SRID,
    )
    source_cameras = pd.read_csv(data / CAMERAS_CSV, dtype=str, encoding="utf-8-sig")
    with engine.connect() as conn:
        taken = [
            tuple(r)
            for r in conn.execute(
                text("SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM area WHERE level = 0")
            ).all()
        ]
    source_box = tuple(source_areas.loc[source_areas["level"] == 0].total_bounds)
    copies = new_codes(max(0, n_counties - len(loaded)))
    for i, ((code, county_name), (dx, dy)) in enumerate(
        zip(copies, offsets(source_box, taken, len(copies)), strict=True)
    ):
        gpkg, csv, n_areas, n_cams = copy_county(source_areas, source_cameras, code, county_name, dx, dy, tmp)
        last = profile and i == len(copies) - 1
        validate_s, publish_s, findings = profiled(last, f"publish {code}", lambda: publish_county(engine, gpkg))
        t = time.perf_counter()
        result = profiled(
            last, f"import {code}", lambda: import_cameras(engine, csv, county=code, created_by="benchmark")
        )
        import_s = time.perf_counter() - t
        if result.rejected:
            raise SystemExit(f"{code}: {len(result.rejected)} cameras rejected, e.g. {result.rejected[0]}")
        load = CountyLoad(code, county_name, n_areas, n_cams, validate_s, publish_s, import_s, findings)
        built.loads.append(load)
        log(
            f"{code} {county_name} (鹿邑 moved {dx:+.1f}°, {dy:+.1f}°): {n_areas:,} areas validated {validate_s:.1f} s"
            f" + published {publish_s:.1f} s, {n_cams:,} cameras imported {import_s:.1f} s"
            + (f" (findings: {findings})" if findings else "")
        )
    if cameras:
        built.synthetic_s = top_up(engine, cameras)
    vacuum(engine)
    counts(engine, built)
    engine.dispose()
    return built


def top_up(engine, cameras: int) -> float:
    """Synthetic cameras in every leaf up to ``cameras`` in all (seeded), figures and tiles rebuilt."""
    from sqlalchemy import text

    from gridmap.services.changes import record_change

    t = time.perf_counter()
    with engine.begin() as conn:
        leaves = conn.execute(
            text(
                "SELECT count(*) FROM area a WHERE a.level >= 0 "
                "AND NOT EXISTS (SELECT 1 FROM area c WHERE c.parent_code = a.code)"
            )
        ).scalar_one()
        have = conn.execute(text("SELECT count(*) FROM camera")).scalar_one()
        if cameras <= have:
            return 0.0
        per = max(1, math.ceil((cameras - have) / leaves))
        conn.execute(text("SELECT setseed(0.42)"))
        # Ids: the leaf's county, industry 0001, type 131/132, network digit 0–9 (the registers' is 8
        # in 14th place after type; these use n / 1,000,000 there), serial.
        conn.execute(
            text("""
            INSERT INTO camera (device_id, name, geom, raw_x, raw_y, raw_crs, status, online, operator, area_code)
            SELECT left(code, 6) || '0001' || CASE WHEN n % 2 = 0 THEN '131' ELSE '132' END
                   || (n / 1000000)::text || lpad((n % 1000000)::text, 6, '0'),
                   '合成点位', geom, ST_X(geom), ST_Y(geom), 'cgcs2000',
                   CASE WHEN r < 0.95 THEN 'installed' ELSE 'planned' END, r < 0.95 * 0.98,
                   (ARRAY['中国移动', '中国电信', '中国联通'])[1 + n % 3], code
            FROM (SELECT row_number() OVER () AS n, random() AS r, code, geom FROM (
                      SELECT a.code, (ST_Dump(ST_GeneratePoints(a.geom, :per, 7))).geom AS geom FROM area a
                      WHERE a.level >= 0 AND NOT EXISTS (SELECT 1 FROM area c WHERE c.parent_code = a.code)) p
                  ORDER BY code LIMIT :want) x"""),
            {"per": per, "want": cameras - have},
        )
        record_change(conn, "repair", everything=True)
    seconds = time.perf_counter() - t
    log(f"synthetic cameras up to {cameras:,}: {seconds:.1f} s")
    return seconds


# ----------------------------------------------------------------------------------------------
# Measurements


def box_of(url: str, code: str) -> tuple[float, float, float, float]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        box = conn.execute(
            text("SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM area WHERE code = :c"),
            {"c": code},
        ).one()
    engine.dispose()
    return tuple(float(v) for v in box)


def tile_paths(layer: str, z: int, box: tuple[float, float, float, float]) -> list[str]:
    from gridmap.tiles.grid import HALF_WORLD, lonlat_to_3857, tile_size_m

    (x0, y0), (x1, y1) = lonlat_to_3857(box[0], box[1]), lonlat_to_3857(box[2], box[3])
    size = tile_size_m(z)
    return [
        f"/tiles/{layer}/{z}/{x}/{y}.mvt"
        for x in range(int((x0 + HALF_WORLD) // size), int((x1 + HALF_WORLD) // size) + 1)
        for y in range(int((HALF_WORLD - y1) // size), int((HALF_WORLD - y0) // size) + 1)
    ]


def tile_sets(city_box, county_box) -> list[tuple[str, list[str]]]:
    return [
        ("county z8, city box", tile_paths("county", 8, city_box)),
        ("township z8, city box", tile_paths("township", 8, city_box)),
        ("township z9, city box", tile_paths("township", 9, city_box)),
        ("grid z11, 鹿邑 box", tile_paths("grid", 11, county_box)),
    ]


def fetch_tiles(c: httpx.Client, paths: list[str]) -> dict:
    times, size, misses = [], 0, 0
    for path in paths:
        t = time.perf_counter()
        r = c.get(path)
        times.append(time.perf_counter() - t)
        assert r.status_code in (200, 204), (path, r.status_code, r.text[:200])
        size += len(r.content)
        misses += r.headers.get("x-tile-cache") == "miss"
    return {
        "n": len(paths),
        "sum": sum(times) * 1000,
        "p50": pct(times, 0.5) * 1000,
        "max": max(times) * 1000,
        "kb": size / 1024,
        "misses": misses,
    }


def timed_gets(c: httpx.Client, path: str, n: int) -> tuple[float, float]:
    """(first answer ms, p50 of the next n ms)."""
    times = []
    for _ in range(n + 1):
        t = time.perf_counter()
        r = c.get(path)
        times.append(time.perf_counter() - t)
        assert r.status_code == 200, (path, r.text[:300])
    return times[0] * 1000, pct(times[1:], 0.5) * 1000


class Pusher:
    """Single-camera status pushes: a random installed camera, the opposite of its last state, a
    report time one second after the last."""

    def __init__(self, c: httpx.Client, cameras: list[str], seed: int = 1):
        self.c, self.cameras, self.rng = c, cameras, random.Random(seed)
        self.online: dict[str, bool] = {}
        self.clock = 0

    def push(self) -> float:
        device = self.cameras[self.rng.randrange(len(self.cameras))]
        state = not self.online.get(device, True)
        self.clock += 1
        at = (_T0 + dt.timedelta(seconds=self.clock)).isoformat()
        t = time.perf_counter()
        r = self.c.post("/api/v1/cameras/status", json=[{"device_id": device, "online": state, "at": at}])
        seconds = time.perf_counter() - t
        assert r.status_code == 200 and r.json()["applied"] == 1, r.text
        self.online[device] = state
        return seconds


BLOCK = 25  # pushes (or requests) to one server before switching to the other


def serve_and_measure(dbs: dict[str, Built], tiles: list[tuple[str, list[str]]], pushes: int, requests: int) -> dict:
    """Both databases served at once and measured in alternation (tiles, coverage, blocks of BLOCK
    pushes), so other load on the machine falls on both alike."""
    out: dict = {label: {"tiles": {}} for label in dbs}
    with contextlib.ExitStack() as stack:
        servers = {label: stack.enter_context(Server(Code("new", ROOT), b.url)) for label, b in dbs.items()}
        readers = {
            label: stack.enter_context(httpx.Client(base_url=s.base, headers={"Accept-Encoding": "gzip"}, timeout=600))
            for label, s in servers.items()
        }
        for label, paths in tiles:  # cold: each server's tile cache is empty
            for key, c in readers.items():
                out[key]["tiles"][label] = {"cold": fetch_tiles(c, paths)}
        for label, paths in tiles:
            for key, c in readers.items():
                out[key]["tiles"][label]["warm"] = fetch_tiles(c, paths)
        for code in (CITY, SOURCE):
            for key, c in readers.items():
                out[key][f"coverage {code}"] = timed_gets(c, f"/api/v1/coverage?code={code}", requests)
        log("tiles and coverage done")
        pushers = {}
        for key, b in dbs.items():
            token = admin_token(b.url)
            c = stack.enter_context(
                httpx.Client(base_url=servers[key].base, headers={"Authorization": f"Bearer {token}"}, timeout=600)
            )
            pushers[key] = Pusher(c, installed_cameras(b.url))
            for _ in range(10):  # warm-up: connections, prepared plans
                pushers[key].push()
        times: dict[str, list[float]] = {key: [] for key in dbs}
        while any(len(t) < pushes for t in times.values()):
            for key, pusher in pushers.items():
                times[key] += [pusher.push() for _ in range(min(BLOCK, pushes - len(times[key])))]
        after: dict[str, list[float]] = {key: [] for key in dbs}
        for _ in range(requests):
            for key, pusher in pushers.items():
                pusher.push()
                t = time.perf_counter()
                r = pusher.c.get(f"/api/v1/coverage?code={CITY}")
                after[key].append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
        log("pushes done")
        for key in dbs:
            out[key]["push"] = {"n": pushes, "p50": pct(times[key], 0.5) * 1000, "p99": pct(times[key], 0.99) * 1000}
            out[key]["coverage after push"] = pct(after[key], 0.5) * 1000
            out[key]["server_peak_mb"] = servers[key].peak_mb()
    return out


def county_file(built: Built, tmp: Path) -> Path:
    """鹿邑's areas as this database holds them, written out as a GeoPackage (one layer)."""
    import geopandas as gpd
    import pyogrio
    from sqlalchemy import create_engine, text

    engine = create_engine(built.url)
    with engine.connect() as conn:
        areas = gpd.read_postgis(
            text(
                "SELECT code, name, parent_code, level, kind, households, geom FROM area "
                "WHERE code LIKE :c || '%' AND level >= 0 ORDER BY level, code"
            ),
            conn,
            geom_col="geom",
            params={"c": SOURCE},
        )
    engine.dispose()
    areas.loc[areas["level"] == 0, "parent_code"] = None  # as in a county's file
    path = tmp / f"{built.name}_{SOURCE}.gpkg"
    pyogrio.write_dataframe(areas.rename_geometry("geometry"), path, driver="GPKG")
    return path


def validation(dbs: dict[str, Built], tmp: Path, runs: int = 3) -> dict:
    """check_file on 鹿邑's file against each database (with and without ``live``), the databases
    alternating run by run."""
    from sqlalchemy import create_engine

    from gridmap.services.boundaries import check_file, database_parents

    files = {key: county_file(b, tmp) for key, b in dbs.items()}
    engines = {key: create_engine(b.url) for key, b in dbs.items()}
    seconds: dict[tuple[str, str], list[float]] = {}
    findings: dict[tuple[str, str], set[str]] = {}
    for _ in range(runs):
        for mode in ("live", "no_live"):
            for key, engine in engines.items():
                with engine.connect() as conn:
                    t = time.perf_counter()
                    _, analysis = check_file(
                        files[key], parent_lookup=database_parents(conn), live=conn if mode == "live" else None
                    )
                    seconds.setdefault((key, mode), []).append(time.perf_counter() - t)
                findings[key, mode] = {f"{f.severity}:{f.kind}" for f in analysis.report.findings}
    for engine in engines.values():
        engine.dispose()
    return {
        key: {
            mode: {
                "median": statistics.median(seconds[key, mode]),
                "min": min(seconds[key, mode]),
                "findings": sorted(findings[key, mode]),
            }
            for mode in ("live", "no_live")
        }
        for key in dbs
    }


def leaf_index_cost(dbs: dict[str, Built], prefix: str | None = None) -> dict:
    """What a camera import's CRS check builds once per boundary state
    (``gridmap.services.cameras.leaf_index``): the index of the live leaves under ``prefix`` (the
    county imported into; None: every leaf of the database), read and built afresh here (seconds,
    cells, MB of its arrays, the build's peak RSS)."""
    from sqlalchemy import create_engine

    from gridmap.coverage.assign import LeafIndex
    from gridmap.db.cameras import leaf_areas

    out = {}
    for key, b in dbs.items():
        engine = create_engine(b.url)
        reset_peak()
        before = rss_mb()
        t = time.perf_counter()
        with engine.connect() as conn:
            codes, geoms = leaf_areas(conn, prefix)
        read_s = time.perf_counter() - t
        index = LeafIndex.build(codes, geoms)
        build_s = time.perf_counter() - t - read_s
        out[key] = {
            "leaves": len(codes),
            "read_s": read_s,
            "build_s": build_s,
            "cells": index.labels.size,
            "cell_m": index.cell * 111_000,
            "arrays_mb": (index.labels.nbytes + index.cand_ptr.nbytes + index.cand_idx.nbytes) / 2**20,
            "peak_over_mb": peak_rss_mb() - before,
        }
        del index, codes, geoms
        engine.dispose()
    return out


# ----------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--counties", type=int, default=10, help="counties in the city (default 10; 3 are the sample's)")
    ap.add_argument("--pushes", type=int, default=300, help="single-camera pushes per server (default 300)")
    ap.add_argument("--requests", type=int, default=20, help="repeats per coverage figure (default 20)")
    ap.add_argument("--cameras", type=int, default=0, help="top the city up with synthetic cameras to this many")
    ap.add_argument("--keep-db", action="store_true", help="keep the scratch databases (fixed names)")
    ap.add_argument(
        "--profile", action="store_true", help="cProfile the last added county's publish and import (slows them)"
    )
    args = ap.parse_args()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(
        f"City-scale benchmark: Python {platform.python_version()}, {os.cpu_count()} CPUs ({usable} usable), "
        f"load average {load_avg()} (other processes share the CPUs: compare figures of this run only)",
        flush=True,
    )
    tmp = Path(tempfile.mkdtemp(prefix="gridmap-bench-city-"))
    try:
        t = time.perf_counter()
        county = build_county(args.keep_db)
        log(f"county database: load_sample {county.load_s:.1f} s")
        city = build_city(args.counties, args.cameras, tmp, args.keep_db, args.profile)
        build_s = time.perf_counter() - t
        log(f"both databases built in {build_s:.0f} s")
        city_box, county_box = box_of(city.url, CITY), box_of(city.url, SOURCE)
        tiles = tile_sets(city_box, county_box)
        both = {"county": county, "city": city}
        results = serve_and_measure(both, tiles, args.pushes, args.requests)
        for key, v in validation(both, tmp).items():
            results[key]["validation"] = v
        log("validation done")
        self_peak = peak_rss_mb()
        for key, v in leaf_index_cost(both, "411628").items():
            results[key]["leaf_index"] = v
        for key, v in leaf_index_cost(both).items():
            results[key]["leaf_index_all"] = v
        log("leaf index done")
        report(county, city, results, args, self_peak)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not args.keep_db:
            c = cluster()  # by name: a database whose build failed half-way goes too
            for name in (f"{SCRATCH}_county_p{os.getpid()}", f"{SCRATCH}_p{os.getpid()}"):
                c.drop_database(name)


def report(county: Built, city: Built, results: dict, args, self_peak: float) -> None:
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if b else "—"

    rc, rk = results["city"], results["county"]
    print(f"\nLoad average at the end: {load_avg()}")
    print("\nDatabases")
    print(f"   {'':<8}{'counties':>9}{'areas':>9}{'cameras':>10}{'installed':>11}{'load s':>9}")
    for label, b in (("county", county), ("city", city)):
        print(f"   {label:<8}{b.counties:>9}{b.areas:>9,}{b.cameras:>10,}{b.installed:>11,}{b.load_s:>9.1f}")
    print(
        "\n1. Building the city: each added county (a copy of 鹿邑) through check_file + publish_analysis + import_cameras"
    )
    print(f"   load_city (3 counties, record_change(everything=True) per county): {city.load_s:.1f} s")
    print(f"   {'county':<16}{'areas':>8}{'cameras':>9}{'validate s':>12}{'publish s':>11}{'import s':>10}  findings")
    for ld in city.loads:
        print(
            f"   {ld.code + ' ' + ld.name:<16}{ld.areas:>8,}{ld.cameras:>9,}{ld.validate_s:>12.1f}{ld.publish_s:>11.1f}"
            f"{ld.import_s:>10.1f}  {ld.findings or '—'}"
        )
    if city.loads:
        first, last = city.loads[0], city.loads[-1]
        print(
            f"   last / first county: validate {ratio(last.validate_s, first.validate_s)}, publish "
            f"{ratio(last.publish_s, first.publish_s)}, import {ratio(last.import_s, first.import_s)}"
        )
    if city.synthetic_s == city.synthetic_s:
        print(f"   synthetic cameras up to {args.cameras:,}: {city.synthetic_s:.1f} s")

    print("\n2. One single-camera status push over HTTP (sequential; target p50 ≤ 20 ms, p99 ≤ 100 ms)")
    print(f"   {'':<8}{'n':>5}{'p50 ms':>9}{'p99 ms':>9}")
    for label, r in (("county", rk), ("city", rc)):
        print(f"   {label:<8}{r['push']['n']:>5}{r['push']['p50']:>9.1f}{r['push']['p99']:>9.1f}")
    met = all(r["push"]["p50"] <= 20 and r["push"]["p99"] <= 100 for r in (rk, rc))
    print(
        f"   city / county: p50 {ratio(rc['push']['p50'], rk['push']['p50'])}, p99 "
        f"{ratio(rc['push']['p99'], rk['push']['p99'])}; targets {'met' if met else 'NOT met'}"
    )

    print("\n3. Validating 鹿邑 (check_file with database_parents) against each database, median of 3")
    print(f"   {'':<28}{'county s':>10}{'city s':>9}{'city/county':>13}  findings (city)")
    for key, label in (("live", "live=conn (neighbours)"), ("no_live", "without live")):
        a, b = rk["validation"][key], rc["validation"][key]
        print(
            f"   {label:<28}{a['median']:>10.2f}{b['median']:>9.2f}{ratio(b['median'], a['median']):>13}"
            f"  {', '.join(b['findings']) or 'none'}"
        )
    for label, r in (("county", rk), ("city", rc)):
        v = r["validation"]
        print(
            f"   {label}: the live checks (placement, neighbours) {v['live']['median'] - v['no_live']['median']:.2f} s"
        )

    print(
        f"\n4. Coverage (first answer, then p50 of {args.requests} from the revision cache; after a push: recomputed)"
    )
    print(f"   {'':<30}{'county ms':>11}{'city ms':>9}{'city/county':>13}")
    for code in (CITY, SOURCE):
        (a0, a), (b0, b) = rk[f"coverage {code}"], rc[f"coverage {code}"]
        print(f"   {f'?code={code} first':<30}{a0:>11.1f}{b0:>9.1f}{ratio(b0, a0):>13}")
        print(f"   {f'?code={code} p50 (cached)':<30}{a:>11.1f}{b:>9.1f}{ratio(b, a):>13}")
    a, b = rk["coverage after push"], rc["coverage after push"]
    print(f"   {f'?code={CITY} p50 after a push':<30}{a:>11.1f}{b:>9.1f}{ratio(b, a):>13}")

    print("\n   Tiles at city zoom (the same tiles on both; cold: fresh server; ms per tile; KB: all the tiles)")
    print(
        f"   {'':<24}{'tiles':>6}{'county cold p50/max':>21}{'city cold p50/max':>19}{'city/county sum':>17}"
        f"{'warm p50 county/city':>22}{'KB county/city':>17}"
    )
    for label in rc["tiles"]:
        a, b = rk["tiles"][label], rc["tiles"][label]
        print(
            f"   {label:<24}{b['cold']['n']:>6}{a['cold']['p50']:>12.1f}/{a['cold']['max']:<8.1f}"
            f"{b['cold']['p50']:>10.1f}/{b['cold']['max']:<8.1f}{ratio(b['cold']['sum'], a['cold']['sum']):>17}"
            f"{a['warm']['p50']:>13.1f}/{b['warm']['p50']:<8.1f}{a['cold']['kb']:>9.0f}/{b['cold']['kb']:<7.0f}"
        )

    print("\n5. Memory (peak RSS, VmHWM)")
    print(
        f"   server: county {rk['server_peak_mb']:.0f} MB, city {rc['server_peak_mb']:.0f} MB; "
        f"this benchmark (built the city, ran the validations): {self_peak:.0f} MB"
    )
    print("\n6. A camera import's leaf index (gridmap.services.cameras.leaf_index, rebuilt after a publish):")
    print("   of the county imported into (鹿邑), as imports build it; and of every leaf, as they built it before")
    print(
        f"   {'':<16}{'leaves':>9}{'read s':>8}{'build s':>9}{'cells':>13}{'cell m':>8}{'arrays MB':>11}{'peak +MB':>10}"
    )
    for what in ("leaf_index", "leaf_index_all"):
        for label, r in (("county", rk), ("city", rc)):
            v = r[what]
            name = f"{label}{' (all)' if what == 'leaf_index_all' else ''}"
            print(
                f"   {name:<16}{v['leaves']:>9,}{v['read_s']:>8.2f}{v['build_s']:>9.2f}{v['cells']:>13,}"
                f"{v['cell_m']:>8.1f}{v['arrays_mb']:>11.0f}{v['peak_over_mb']:>10.0f}"
            )
        a, b = rk[what], rc[what]
        print(f"   city / county: read + build {ratio(b['read_s'] + b['build_s'], a['read_s'] + a['build_s'])}")


if __name__ == "__main__":
    main()
