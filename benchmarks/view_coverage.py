"""Benchmark of the field-of-view coverage (``gridmap.coverage.view``) on the sample county.

Every installed camera's view (10,048 on the sample) against every micro-grid (10,311), timed in
the same run against two baselines on the same views:

a) gridmap: ``view_coverage`` end to end (reading areas and cameras from PostGIS, views, the
   per-leaf seen and unseen polygons, the roll-up to every level), and ``leaf_view`` alone;
b) ``shapely.union_all`` of the views alone (no clipping, no per-area figures: a floor);
c) geopandas: ``overlay(leaves, views, how="intersection")`` then ``dissolve(by="code")`` and the
   per-leaf ``difference`` (the textbook way to the same per-leaf seen/unseen polygons).

The seen m² of a) and c) are compared (they must agree within 0.01 %).

    GRIDMAP_DATABASE_URL=… .venv/bin/python benchmarks/view_coverage.py [--county 411628] [--runs 3]
                                                                        [--skip-overlay]

Without GRIDMAP_DATABASE_URL, the local cluster's database (``gridmap db up``) with the sample
loaded. Times are the best of ``--runs`` after one warm-up; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import shapely
from sqlalchemy import create_engine

from gridmap.coverage.view import leaf_view, view_coverage
from gridmap.db.cameras import leaf_areas, view_cameras
from gridmap.db.session import database_url
from gridmap.geometry.metric import metric_crs, to_metric
from gridmap.geometry.view import camera_views


def best(fn, runs: int) -> tuple[float, object]:
    fn()  # warm-up
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--county", default="411628")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-overlay", action="store_true")
    args = ap.parse_args()
    engine = create_engine(database_url())
    with engine.connect() as conn:
        t_all, result = best(lambda: view_coverage(conn, args.county), args.runs)
        codes, polys = leaf_areas(conn, args.county)
        cams = view_cameras(conn, args.county)
    crs = metric_crs(polys)
    leaves = to_metric(polys, crs)
    pts = to_metric(shapely.points(cams["lon"], cams["lat"]), crs)
    views = camera_views(shapely.get_x(pts), shapely.get_y(pts), cams["name"], cams["kind"], cams["direction"])
    t_leaf, lv = best(lambda: leaf_view(codes, leaves, views), args.runs)
    t_union, union = best(lambda: shapely.union_all(views), args.runs)
    print(f"county {args.county}: {len(views):,} installed cameras, {len(leaves):,} leaf areas")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs")
    print(f"a) gridmap view_coverage, end to end (PostGIS reads, roll-up)  {t_all:7.2f} s")
    print(f"   gridmap leaf_view alone (seen + unseen per leaf)            {t_leaf:7.2f} s")
    print(f"b) shapely.union_all of the views alone (floor)                {t_union:7.2f} s")
    seen = lv.seen_m2.sum()
    print(
        f"   seen {seen / 1e6:.3f} km² of {lv.area_m2.sum() / 1e6:,.1f} km² (views' union {union.area / 1e6:.3f} km²,"
    )
    print(f"   the rest outside the county); unseen polygons {int((~shapely.is_empty(lv.unseen)).sum()):,}")
    print(f"   county row: {result.rows[args.county].to_dict()}")
    if not args.skip_overlay:
        import geopandas as gpd

        def overlay():
            g_leaves = gpd.GeoDataFrame({"code": codes}, geometry=leaves, crs=crs)
            g_views = gpd.GeoDataFrame({"cam": np.arange(len(views))}, geometry=views, crs=crs)
            cut = gpd.overlay(g_leaves, g_views, how="intersection", keep_geom_type=True)
            seen_by = cut.dissolve(by="code")
            joined = g_leaves.set_index("code").join(seen_by.geometry.rename("seen"))
            present = joined["seen"].notna()
            unseen = joined.geometry.copy()
            unseen[present] = joined.geometry[present].difference(gpd.GeoSeries(joined["seen"][present], crs=crs))
            return float(seen_by.area.sum())

        t_over, over_seen = best(overlay, 1)
        print(f"c) geopandas overlay + dissolve + difference                   {t_over:7.2f} s")
        print(f"   seen m² agree: {abs(over_seen - seen) / seen < 1e-4} ({over_seen:,.0f} vs {seen:,.0f})")
        print(f"   gridmap leaf_view is {t_over / t_leaf:.1f}× faster than the overlay")


if __name__ == "__main__":
    main()
