"""Benchmark of what the pages draw over the tiles (issue 15): the label rows' cost on the write
path, and the two overlay endpoints' cost per request, each against a baseline from the same run.

Set-up: a scratch database with the sample county (``benchmarks/tiles.py``'s ``make_database``,
dropped at the end unless ``--keep-db``).

Write path (in a transaction that is rolled back, so nothing changes): the rows of one township's
subtree (1 + villages + grids + micro-grids) are deleted and rebuilt — the label rows
(``gridmap.db.labels.sync_label_rows``) against the tile rows of the same areas
(``gridmap.tiles.store.sync_area_rows``, the baseline: what a publish of that township already
pays) — and the same for the whole county. A publish pays for the areas it replaces: the township's
time over the county's should be about its share of the areas.

Requests (one uvicorn worker, one httpx client, keep-alive, ``--repeat`` times each, median):
``/api/v1/map/labels`` for the townships and for the grids at county view, the camera clusters at
zooms 9 and 11, against a cached vector tile (``/tiles/grid/11/…``, the baseline: what a page
already asks for dozens of times per view).

    .venv/bin/python benchmarks/overlays.py [--repeat 30] [--keep-db]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiles import Server, make_database  # noqa: E402

COUNTY_BOX = "114.9,33.5,116.1,34.3"


def write_path(url: str, repeat: int) -> None:
    from sqlalchemy import create_engine, text

    from gridmap.db.labels import sync_label_rows
    from gridmap.tiles.store import sync_area_rows

    engine = create_engine(url)
    with engine.connect() as conn:
        township = conn.execute(text("SELECT code FROM area WHERE level = 1 ORDER BY code LIMIT 1")).scalar_one()
        sub = (
            conn.execute(
                text("""WITH RECURSIVE t AS (SELECT code FROM area WHERE code = :c
                    UNION ALL SELECT a.code FROM area a JOIN t ON a.parent_code = t.code) SELECT code FROM t"""),
                {"c": township},
            )
            .scalars()
            .all()
        )
        everything = conn.execute(text("SELECT code FROM area")).scalars().all()

    def once(codes: list[str], table: str, sync) -> float:
        with engine.connect() as conn:
            tx = conn.begin()
            conn.execute(text(f"DELETE FROM {table} WHERE code = ANY(:c)"), {"c": codes})
            t0 = time.perf_counter()
            sync(conn, codes)
            elapsed = time.perf_counter() - t0
            tx.rollback()
        return elapsed

    print(f"-- write path: rows of one township ({len(sub):,} areas) and of the county ({len(everything):,})")
    print(f"{'':<28}{'labels':>10}{'tile rows':>11}{'ratio':>8}")
    for name, codes, n in (("township " + township, sub, repeat), ("county", everything, max(1, repeat // 5))):
        labels = statistics.median(once(codes, "area_label", sync_label_rows) for _ in range(n))
        tiles = statistics.median(once(codes, "tile_area", sync_area_rows) for _ in range(n))
        print(f"{name:<28}{labels:>9.3f}s{tiles:>10.3f}s{labels / tiles:>8.2f}")
    engine.dispose()


def requests(url: str, repeat: int) -> None:
    opts = ["--workers", "1", "--loop", "asyncio", "--http", "h11", "--no-access-log", "--host", "127.0.0.1"]
    server = Server(
        "gridmap",
        [sys.executable, "-m", "uvicorn", "--factory", "gridmap.api.app:create_app", *opts],
        {"GRIDMAP_DATABASE_URL": url, "GRIDMAP_READ_ACCESS": "open", "GRIDMAP_SNAPSHOT_CHECK": "0"},
        "/healthz",
        None,
    )
    server.start()
    try:
        with httpx.Client(base_url=server.base, headers={"Accept-Encoding": "gzip"}, timeout=60) as c:
            cases = {
                "tile grid/11 (cached, baseline)": ("/tiles/grid/11/1681/818.mvt", {}),
                "labels townships, county view": ("/api/v1/map/labels", {"level": 1, "bbox": COUNTY_BOX}),
                "labels grids, all in the county": (
                    "/api/v1/map/labels",
                    {"level": 3, "bbox": COUNTY_BOX, "limit": 3000},
                ),
                # what /map asks at zoom 11 (names of 2 characters fit from ≈800 m; it asks for half)
                "labels grids, as /map at z11": (
                    "/api/v1/map/labels",
                    {"level": 3, "bbox": COUNTY_BOX, "min_radius_m": 400},
                ),
                "clusters z9": ("/api/v1/map/camera-clusters", {"z": 9, "bbox": COUNTY_BOX}),
                "clusters z11": ("/api/v1/map/camera-clusters", {"z": 11, "bbox": COUNTY_BOX}),
            }
            times: dict[str, float] = {}
            for name, (path, params) in cases.items():
                r = c.get(path, params=params)
                assert r.status_code in (200, 204), (path, r.status_code, r.text[:200])
                runs = []
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    r = c.get(path, params=params)
                    runs.append(time.perf_counter() - t0)
                times[name] = statistics.median(runs)
                size = len(r.content)
                base = times["tile grid/11 (cached, baseline)"]
                print(f"{name:<34}{times[name] * 1000:>8.2f} ms{size / 1024:>9.1f} KB{times[name] / base:>8.2f}×")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    print("== Overlays: label rows on the write path, names and clusters per request", flush=True)
    url, name, _ = make_database(args.keep_db)
    try:
        write_path(url, max(3, args.repeat // 6))
        print(f"-- requests (median of {args.repeat}; ratio to a cached tile)")
        requests(url, args.repeat)
    finally:
        if not args.keep_db:
            from gridmap.config import get_settings
            from gridmap.devdb import LocalCluster

            LocalCluster.from_settings(get_settings()).drop_database(name)


if __name__ == "__main__":
    main()
