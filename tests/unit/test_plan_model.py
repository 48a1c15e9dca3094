"""The placement plan's model (gridmap.coverage.plan) on a small synthetic county in metres:
exact answers equal the brute-force optimum, greedy stays within its bound, the must-cover rows
put a camera in every grid, and the figures are households and m²."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import shapely

from gridmap.coverage.plan import (
    GREEDY_BOUND,
    PlanInputs,
    PlanRefused,
    PlanSettings,
    auto_candidates,
    build_model,
    covered_value,
    greedy,
    make_candidates,
    make_plan,
    solve,
)

# A 600 m × 400 m county at (500000, 3000000): 6 grids of 200 m × 200 m, each of 4 micro-grids.
X0, Y0 = 500_000.0, 3_000_000.0
SETTINGS = PlanSettings(site_spacing_m=100.0, demand_spacing_m=5.0, time_limit_s=30.0)


def _boxes(size: float, nx: int, ny: int) -> np.ndarray:
    return np.array(
        [
            shapely.box(X0 + i * size, Y0 + j * size, X0 + (i + 1) * size, Y0 + (j + 1) * size)
            for j in range(ny)
            for i in range(nx)
        ]
    )


@pytest.fixture(scope="module")
def county() -> PlanInputs:
    grids = _boxes(200.0, 3, 2)
    leaves = _boxes(100.0, 6, 4)
    rng = np.random.default_rng(7)
    households = rng.integers(0, 400, len(leaves)).astype(float)
    households[3] = 0  # an empty micro-grid
    has_camera = np.zeros(len(grids), dtype=bool)
    has_camera[0] = True
    installed = make_candidates([X0 + 50.0], [Y0 + 50.0], [45.0], ["bullet"], "planned")
    return PlanInputs(
        grid_codes=np.array([f"41162800100100{i}" for i in range(len(grids))], dtype=object),
        grid_polys=grids,
        grid_has_camera=has_camera,
        leaf_polys=leaves,
        leaf_households=households,
        seen=installed.views(),
    )


def _few_candidates() -> object:
    """Ten hand-placed candidates, overlapping in pairs so that choices interact."""
    xs = X0 + np.array([60, 90, 300, 320, 500, 520, 110, 300, 480, 250], dtype=float)
    ys = Y0 + np.array([300, 310, 100, 120, 300, 280, 100, 300, 100, 200], dtype=float)
    bearings = np.array([90, 45, 0, 315, 180, 225, 135, 270, 0, math.nan])
    kinds = np.array(["bullet"] * 9 + ["dome"], dtype=object)
    return make_candidates(xs, ys, bearings, kinds, "file")


def test_exact_plan_equals_brute_force_optimum(county):
    cands = _few_candidates()
    model = build_model(county, cands, SETTINGS, "households")
    w = model.weights("households")
    n = model.cover.shape[0]
    assert n >= 6
    for budget in (1, 2, 3, 4):
        best = max(covered_value(model, np.array(s), w) for s in itertools.combinations(range(n), budget))
        sol = solve(model, budget, "households", county.grid_has_camera, False, SETTINGS)
        assert sol.method == "exact"
        assert sol.value == pytest.approx(best, rel=1e-9)
        # the sparse HiGHS model (forced: spopt only for small dense models) agrees
        big = PlanSettings(**{**SETTINGS.__dict__, "spopt_max_cells": 0})
        sol2 = solve(model, budget, "households", county.grid_has_camera, False, big)
        assert sol2.solver.startswith("highs") and sol2.value == pytest.approx(best, rel=1e-9)
        assert sol.lp_bound is not None and sol.lp_bound >= best - 1e-6
        # greedy is within its (1 - 1/e) bound of the optimum
        chosen, gains = greedy(model, w, budget)
        assert gains.sum() == pytest.approx(covered_value(model, chosen, w))
        assert gains.sum() >= GREEDY_BOUND * best - 1e-9


def test_must_cover_puts_a_camera_in_every_grid(county):
    cands = auto_candidates(county.grid_polys, SETTINGS.site_spacing_m)
    plan = make_plan(county, cands, budget=6, must_cover_each_grid=True, settings=SETTINGS)
    grids = set(plan.model.candidates.grid[plan.order].tolist())
    assert set(np.flatnonzero(~county.grid_has_camera).tolist()) <= grids
    assert plan.cameras_for_every_grid == 5
    with pytest.raises(PlanRefused) as refused:
        make_plan(county, cands, budget=4, must_cover_each_grid=True, settings=SETTINGS)
    assert refused.value.code == "budget_below_grid_count"
    assert refused.value.detail["minimum_budget"] == 5


def test_gap_is_zero_when_the_lp_is_integral(county):
    # One candidate alone: the LP's optimum is the integral one.
    cands = make_candidates([X0 + 300.0], [Y0 + 300.0], [math.nan], ["dome"], "file")
    plan = make_plan(county, cands, budget=1, settings=SETTINGS)
    assert plan.solution.gap == 0.0
    assert plan.solution.lp_bound == pytest.approx(plan.solution.value)


def test_figures_are_households_and_square_metres(county):
    # A dome of 80 m in the middle of micro-grid (300..400, 200..300): households ∝ the area seen.
    cx, cy = X0 + 350.0, Y0 + 250.0
    cands = make_candidates([cx], [cy], [math.nan], ["dome"], "file")
    plan = make_plan(county, cands, budget=1, objective="area", settings=SETTINGS)
    disc = shapely.buffer(shapely.points(cx, cy), 80.0, quad_segs=64)
    expected_area = float(shapely.area(disc))  # no part seen by the installed camera in grid 0
    assert plan.area_newly_seen_m2 == pytest.approx(expected_area, rel=0.03)
    density = county.leaf_households / shapely.area(county.leaf_polys)
    expected_hh = float(
        sum(density[i] * shapely.area(shapely.intersection(disc, leaf)) for i, leaf in enumerate(county.leaf_polys))
    )
    assert plan.households_newly_seen == pytest.approx(expected_hh, rel=0.03)
    summary = plan.summary()
    assert set(summary) >= {"households_newly_seen", "area_newly_seen_m2", "optimality_gap", "lp_bound"}
    assert not any("deg" in key for key in summary)


def test_what_the_installed_camera_sees_is_not_new(county):
    # A candidate identical to the installed camera sees nothing new and is dropped.
    cands = make_candidates([X0 + 50.0, X0 + 500.0], [Y0 + 50.0, Y0 + 300.0], [45.0, 0.0], ["bullet", "bullet"], "file")
    model = build_model(county, cands, SETTINGS, "area")
    assert len(model.candidates) == 1 and model.candidates.x[0] == X0 + 500.0


@pytest.mark.parametrize("seed", range(6))
def test_pruning_by_private_weight_keeps_the_optimum(seed):
    """Candidates whose whole weight is below the budget-th largest private weight are dropped
    before solving; on random covering instances the plan still equals the brute-force optimum."""
    from scipy import sparse

    from gridmap.coverage.plan import Model, dominant_candidates

    rng = np.random.default_rng(seed)
    n_c, n_g, budget = 12, 30, 3
    dense = rng.random((n_c, n_g)) < 0.12
    dense[np.arange(n_c), rng.integers(0, n_g, n_c)] = True  # each candidate sees something
    weights = rng.gamma(0.6, 10.0, n_g)
    cands = make_candidates(
        rng.random(n_c) * 100 + X0, rng.random(n_c) * 100 + Y0, np.zeros(n_c), ["bullet"] * n_c, "file"
    )
    cands.grid = np.zeros(n_c, dtype="int64")
    model = Model(cands, sparse.csr_matrix(dense.astype(float)), weights, weights * 10, n_g, 0.0)
    best = max(covered_value(model, np.array(s), weights) for s in itertools.combinations(range(n_c), budget))
    kept = dominant_candidates(model, weights, budget)
    if kept is not None:  # the optimum is among the kept candidates
        assert max(
            covered_value(model, kept[np.array(s)], weights) for s in itertools.combinations(range(len(kept)), budget)
        ) == pytest.approx(best)
    solution = solve(model, budget, "households", np.ones(1, dtype=bool), False, SETTINGS)
    assert len(solution.chosen) <= budget
    assert covered_value(model, solution.chosen, weights) == pytest.approx(best)
    assert solution.lp_bound >= best - 1e-6
