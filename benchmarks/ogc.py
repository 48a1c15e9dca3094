"""Benchmark of OGC API – Features items (``/ogc/collections/microgrid/items``) against tipg on the
same PostGIS tables, in the same run.

Set-up: a scratch database with the sample county, made by ``benchmarks/tiles.py``'s
``make_database`` (migrations, ``load_sample``, ``VACUUM ANALYZE``; dropped at the end unless
``--keep-db``), plus one view for tipg, ``tipg_ogc.microgrid``: the micro-grids joined with
``area_stats``, with the same properties gridmap writes (code, name, level, level_name, kind,
parent_code, households, population, worker_name, area_m2, planned, installed, online,
rollout_rate, online_rate). tipg (``pip install gridmap[bench]``) runs from this venv as
``uvicorn tipg.main:app`` with ``TIPG_MAX_FEATURES_PER_QUERY`` raised to gridmap's maximum, so
both can answer the same requests. Each server runs alone (``uvicorn --workers 1``, no access
log) in a subprocess; one client (httpx, keep-alive, ``Accept-Encoding: gzip``) sends:

- ``page1000``: the first page of 1,000 micro-grids (``limit=1000``), ``--repeat`` times;
- ``pagemax``: one page of the maximum limit (20,000: the whole 10,311), ``--repeat`` times;
- ``walk``: the whole collection, following ``next`` links with ``limit=1000`` (11 pages);
- ``gdal``: the GDAL OAPIF driver (pyogrio) reading the whole layer as a GeoDataFrame.

Figures: features/s (features ÷ wall time of the median repetition), MB on the wire, and gridmap's
ratio to tipg. The client shares the 2 CPUs with the server and PostgreSQL.

    .venv/bin/python benchmarks/ogc.py [--repeat 5] [--keep-db]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiles import SCRATCH_DB, Server, make_database  # noqa: E402

MAX = 20_000
VIEW = """
CREATE SCHEMA IF NOT EXISTS tipg_ogc;
CREATE OR REPLACE VIEW tipg_ogc.microgrid AS
SELECT a.code AS id, a.code, a.name, a.level, '微网格'::text AS level_name, a.kind, a.parent_code,
       coalesce(s.households, a.households) AS households, a.population, a.worker_name, a.area_m2,
       s.planned, s.installed, s.online, s.rollout_rate, s.online_rate, a.geom
FROM area a LEFT JOIN area_stats s USING (code) WHERE a.level = 4;
"""


def servers(url: str) -> dict[str, tuple[Server, str]]:
    opts = ["--workers", "1", "--loop", "asyncio", "--http", "h11", "--no-access-log", "--host", "127.0.0.1"]
    ours = Server(
        "gridmap",
        [sys.executable, "-m", "uvicorn", "--factory", "gridmap.api.app:create_app", *opts],
        {"GRIDMAP_DATABASE_URL": url, "GRIDMAP_READ_ACCESS": "open", "GRIDMAP_OGC_MAX_LIMIT": str(MAX)},
        "/healthz",
        None,
    )
    tipg = Server(
        "tipg",
        [sys.executable, "-m", "uvicorn", "tipg.main:app", *opts],
        {
            "DATABASE_URL": url.replace("+psycopg", ""),
            "TIPG_DB_SCHEMAS": '["tipg_ogc"]',
            "TIPG_MAX_FEATURES_PER_QUERY": str(MAX),
            "TIPG_CATALOG_TTL": "0",
        },
        "/collections",
        None,
    )
    return {"tipg": (tipg, "/collections/tipg_ogc.microgrid"), "gridmap": (ours, "/ogc/collections/microgrid")}


def timed(client: httpx.Client, url: str, params: dict | None = None) -> tuple[float, int, int, dict]:
    t0 = time.perf_counter()
    r = client.get(url, params=params)
    body = r.json()
    elapsed = time.perf_counter() - t0
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return elapsed, len(body["features"]), int(r.headers.get("content-length", len(r.content))), body


def walk(client: httpx.Client, url: str) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    n = size = 0
    next_url: str | None = url + "/items?limit=1000"
    while next_url:
        r = client.get(next_url)
        assert r.status_code == 200, r.text[:300]
        body = r.json()
        n += len(body["features"])
        size += int(r.headers.get("content-length", len(r.content)))
        nxt = [link["href"] for link in body.get("links", []) if link.get("rel") == "next"]
        next_url = nxt[0] if nxt and body["features"] else None
    return time.perf_counter() - t0, n, size


def measure(server: Server, collection: str, repeat: int) -> dict[str, tuple[float, int, int]]:
    import pyogrio

    out: dict[str, tuple[float, int, int]] = {}
    with httpx.Client(base_url=server.base, headers={"Accept-Encoding": "gzip"}, timeout=300) as c:
        items = collection + "/items"
        timed(c, items, {"limit": 1000})  # warm-up (catalogue, buffers)
        for name, params in (("page1000", {"limit": 1000}), ("pagemax", {"limit": MAX})):
            runs = [timed(c, items, params) for _ in range(repeat)]
            t = statistics.median(r[0] for r in runs)
            out[name] = (t, runs[0][1], runs[0][2])
        runs3 = [walk(c, server.base + collection) for _ in range(max(1, repeat // 2))]
        out["walk"] = (statistics.median(r[0] for r in runs3), runs3[0][1], runs3[0][2])
    root = server.base + ("/ogc" if server.name == "gridmap" else "")
    layer = collection.rsplit("/", 1)[1]
    times, n = [], 0
    for _ in range(max(1, repeat // 2)):
        t0 = time.perf_counter()
        df = pyogrio.read_dataframe("OAPIF:" + root, layer=layer, PREFERRED_CRS="OGC:CRS84")
        times.append(time.perf_counter() - t0)
        n = len(df)
    out["gdal"] = (statistics.median(times), n, 0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    import tipg

    print(f"== OGC API – Features items: gridmap vs tipg {tipg.__version__} (micro-grids, one client)", flush=True)
    url, name, _ = make_database(args.keep_db)
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        for statement in VIEW.split(";"):
            if statement.strip():
                conn.execute(text(statement))
    engine.dispose()
    results: dict[str, dict[str, tuple[float, int, int]]] = {}
    try:
        for label, (server, collection) in servers(url).items():
            server.start()
            try:
                results[label] = measure(server, collection, args.repeat)
            finally:
                server.stop()
    finally:
        if not args.keep_db:
            from gridmap.config import get_settings
            from gridmap.devdb import LocalCluster

            LocalCluster.from_settings(get_settings()).drop_database(name)
    load = os.getloadavg()[0]
    print(f"   load average {load:.2f}; median of {args.repeat} (walk, gdal: {max(1, args.repeat // 2)})")
    print(
        f"   {'case':<10} {'server':<8} {'features':>9} {'seconds':>8} {'features/s':>11} {'MB (gzip)':>10} {'ratio':>7}"
    )
    for case in ("page1000", "pagemax", "walk", "gdal"):
        base = results["tipg"][case]
        for label in ("tipg", "gridmap"):
            t, n, size = results[label][case]
            ratio = (n / t) / (base[1] / base[0]) if label == "gridmap" else 1.0
            mb = f"{size / 1e6:10.2f}" if size else f"{'–':>10}"
            print(f"   {case:<10} {label:<8} {n:>9,} {t:>8.3f} {n / t:>11,.0f} {mb} {ratio:>6.2f}×")


if __name__ == "__main__":
    assert SCRATCH_DB
    main()
