"""The camera placement plan on the sample county (issue 18): N = 472 (the planned-but-not-installed
cameras) and N = 1,000. For each N: households newly seen by the plan, by (a) the planned cameras
as their registers place and point them (N = 472 only: there are 472), and by (b) a naive
baseline — one bullet camera at the centroid (point on surface) of each of the N grids with the
most unseen households, each turned to its best of 8 compass directions — the gap to the LP bound,
and the times. Run after `make demo` (or with GRIDMAP_DATABASE_URL on a loaded database):

    .venv/bin/python benchmarks/plan_cameras.py [--budgets 472,1000] [--code 411628]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import shapely

from gridmap.coverage.plan import COMPASS8, build_model, covered_value, make_candidates, make_plan
from gridmap.db.session import engine_scope
from gridmap.services.plan import (
    PlanRequest,
    candidates_for,
    check_request,
    load_inputs,
    plan_settings,
    planned_candidates,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budgets", default="472,1000")
    parser.add_argument("--code", default=None, help="county code (needed when the database holds several)")
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    ps = plan_settings()
    with engine_scope() as engine, engine.connect() as conn:
        county = check_request(conn, PlanRequest(budget=1, code=args.code))
        t = time.perf_counter()
        inputs, crs, planned = load_inputs(conn, county, 3)
        print(
            f"load: {time.perf_counter() - t:.2f} s; {len(inputs.grid_codes):,} grids, "
            f"{int((~inputs.grid_has_camera).sum())} without a camera; {len(planned['lon'])} planned cameras"
        )
    print(
        f"settings: sites every {ps.site_spacing_m:g} m, demand points every {ps.demand_spacing_m:g} m, "
        f"time limit {ps.time_limit_s:g} s"
    )

    # (a) the planned cameras as they are
    planned_c = planned_candidates(planned, crs)
    pm = build_model(inputs, planned_c, ps, "households")
    planned_hh = covered_value(pm, np.arange(len(pm.candidates)), pm.households)
    print(f"(a) the {len(planned['lon'])} planned cameras as registered: {planned_hh:,.1f} households newly seen")

    # (b) naive: the N grids with most unseen households, a camera at each one's point on surface
    grid_pts = shapely.point_on_surface(inputs.grid_polys)
    gx, gy = shapely.get_x(grid_pts), shapely.get_y(grid_pts)
    n_g = len(gx)
    naive_c = make_candidates(
        np.repeat(gx, 8), np.repeat(gy, 8), np.tile(COMPASS8, n_g), np.full(8 * n_g, "bullet", dtype=object), "file"
    )
    naive_c.grid = np.repeat(np.arange(n_g), 8)
    nm = build_model(inputs, naive_c, ps, "households")
    grid_unseen = _grid_unseen_households(inputs, ps)
    for budget in budgets:
        req = PlanRequest(budget=budget)
        cands = candidates_for(inputs, crs, planned, req, ps)
        t = time.perf_counter()
        plan = make_plan(inputs, cands, budget, "households", False, ps)
        seconds = time.perf_counter() - t
        s = plan.summary()
        print(
            f"\nN = {budget:,}: plan {s['households_newly_seen']:,.1f} households, {s['area_newly_seen_m2']:,.0f} m² "
            f"newly seen; method {s['method']} ({s['solver']}), LP bound {s['lp_bound']}, gap "
            f"{(s['optimality_gap'] or 0) * 100:.3f}%; {s['candidates']:,} candidates, {s['demand_groups']:,} "
            f"demand groups, {s['nonzeros']:,} nonzeros; model {s['seconds_model']:.1f} s + solve "
            f"{s['seconds_solve']:.1f} s = {seconds:.1f} s"
        )
        top = np.argsort(-grid_unseen, kind="stable")[:budget]
        chosen = _best_direction(nm, top)
        naive_hh = covered_value(nm, chosen, nm.households)
        print(
            f"    naive (centroids of the {budget:,} grids with most unseen households, best of 8 directions): "
            f"{naive_hh:,.1f} households; plan / naive = {s['households_newly_seen'] / max(naive_hh, 1e-9):.1f}×"
        )
        if budget == len(planned["lon"]):
            print(
                f"    planned cameras as registered: {planned_hh:,.1f}; plan / planned = "
                f"{s['households_newly_seen'] / max(planned_hh, 1e-9):.1f}×"
            )
        must = make_plan(inputs, cands, max(budget, int((~inputs.grid_has_camera).sum())), "households", True, ps)
        m = must.summary()
        print(
            f"    with --must-cover-each-grid: {m['households_newly_seen']:,.1f} households, gap "
            f"{(m['optimality_gap'] or 0) * 100:.3f}%, method {m['method']}"
        )


def _grid_unseen_households(inputs, ps) -> np.ndarray:
    """Households of each grid not seen by an installed camera (uniform over micro-grids)."""
    leaf_pts = shapely.point_on_surface(inputs.leaf_polys)
    p_idx, g_idx = shapely.STRtree(inputs.grid_polys).query(leaf_pts, predicate="within")
    seen = shapely.union_all(inputs.seen[~shapely.is_missing(inputs.seen)])
    seen_share = shapely.area(shapely.intersection(inputs.leaf_polys, seen)) / shapely.area(inputs.leaf_polys)
    unseen = inputs.leaf_households * (1.0 - seen_share)
    out = np.zeros(len(inputs.grid_polys))
    np.add.at(out, g_idx, unseen[p_idx])
    return out


def _best_direction(model, grids: np.ndarray) -> np.ndarray:
    """For each grid in ``grids``, its naive candidate (of the model's) that alone sees most."""
    gain = np.asarray(model.cover @ model.households).ravel()
    chosen = []
    for g in grids:
        idx = np.flatnonzero(model.candidates.grid == g)
        if len(idx):
            chosen.append(idx[np.argmax(gain[idx])])
    return np.array(chosen, dtype="int64")


if __name__ == "__main__":
    main()
