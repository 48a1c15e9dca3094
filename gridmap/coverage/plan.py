"""Where the next cameras should go: a maximal-covering placement plan (pure computation).

The model, everything in metres in one projected CRS (the county's Gauss-Krüger zone):

- **Demand.** Households are spread uniformly over each leaf area (micro-grid): a global lattice of
  points ``demand_spacing_m`` apart, each point standing for ``demand_spacing_m²`` m² and
  ``households / leaf area × demand_spacing_m²`` households of the leaf it lies in. Only lattice
  points near a candidate are made (nothing else can be newly seen). Points already inside an
  installed camera's view have no demand left. Optional residence points (x, y, households)
  replace the lattice: then each point carries its own households and no area. Points covered by
  exactly the same candidates are merged into one demand *group* (weights summed), so the model's
  size follows the candidates, not the lattice's fineness.
- **Candidates.** A site (position, bearing in degrees clockwise from grid north, kind) with its
  view polygon (:func:`gridmap.geometry.view.sectors`), the grid it lies in, and where it came from:
  ``auto`` (a lattice ``site_spacing_m`` apart inside every grid, each site in 8 compass directions
  for a bullet camera, or once for a dome), ``planned`` (a planned-but-not-installed camera, as its
  register describes it) or ``file``. Candidates that see no unseen demand are dropped, except that
  with ``must_cover_each_grid`` every grid without a camera keeps its best one.
- **Coverage matrix** demand groups × candidates, sparse, from one vectorized STRtree query
  (``contains``) of the candidate views against the lattice points.
- **MCLP.** Choose at most ``budget`` candidates maximising the weight (households or m²) of the
  demand they newly see; with ``must_cover_each_grid`` every grid without an installed camera gets
  at least one site in it. Small models are built by PySAL ``spopt`` (``MCLP.from_cost_matrix``) and
  solved with HiGHS through PuLP; spopt takes a *dense* demand × candidate matrix and adds one PuLP
  constraint per demand point in Python, which does not scale to the county (hundreds of thousands
  of groups × tens of thousands of candidates), so larger models are passed to HiGHS (``highspy``)
  directly as a sparse column-wise matrix: the same formulation (x binary per candidate, y ∈ [0, 1]
  per group, y_g ≤ Σ x_j over the candidates seeing g, Σ x ≤ N, and the must-cover rows).
  Its LP relaxation (x ∈ [0, 1]) is solved too; ``optimality_gap`` = (LP bound − value) / LP bound.
- **Greedy** (lazy, with a heap) when the model has more than ``max_exact_nonzeros`` nonzeros or
  the solver finds no feasible solution within ``time_limit_s``. Without the must-cover rows its
  value is at least (1 − 1/e) ≈ 63.2 % of the optimum (Nemhauser, Wolsey & Fisher 1978); with them
  the grids are served first (the best site of each, one grid after another) and the bound does not
  hold as such. The gap is still reported against the LP bound.
- **Cameras for every grid** (LSCP): every candidate lies in exactly one grid, so the least number
  of new cameras that puts one in every grid without an installed camera is the number of those
  grids (each has a candidate: its lattice, or a point on its surface).

Figures are households and m² (never degrees); positions come out in EPSG:4490 via the caller.
"""

from __future__ import annotations

import heapq
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from scipy import sparse
from scipy.spatial import cKDTree

from gridmap.errors import GridmapError
from gridmap.geometry.view import BULLET, DOME, KINDS, ViewSpec, sectors, view_specs

#: The eight compass directions of an auto candidate: degrees clockwise from north, and their names.
COMPASS8 = (0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0)
OBJECTIVES = ("households", "area")
SOURCES = ("auto", "planned", "file")
#: The approximation ratio of greedy maximal covering: 1 − 1/e.
GREEDY_BOUND = 1.0 - 1.0 / math.e


class PlanRefused(GridmapError):
    """The plan cannot be made as asked (``budget_below_grid_count``, ``no_candidates`` …): 422."""

    status = 422
    exit_code = 2


@dataclass(frozen=True)
class PlanSettings:
    """How fine the model is and how long it may take: ``site_spacing_m`` (metres between auto
    candidate sites), ``demand_spacing_m`` (metres between demand points), ``time_limit_s`` (seconds
    per HiGHS solve), ``max_exact_nonzeros`` (coverage nonzeros above which greedy is used),
    ``spopt_max_cells`` (dense groups × candidates cells up to which spopt builds the model)."""

    site_spacing_m: float = 200.0
    demand_spacing_m: float = 10.0
    time_limit_s: float = 60.0
    max_exact_nonzeros: int = 3_000_000
    spopt_max_cells: int = 200_000


@dataclass
class Candidates:
    """Candidate sites, all arrays of one length: ``x, y`` (metres), ``bearing`` (degrees clockwise
    from north, NaN: all round), ``kind`` (``bullet``/``dome``/``half_dome``), ``angle`` (degrees),
    ``range_m`` (metres), ``source`` (auto/planned/file), ``label`` (device id or file row, "" for
    auto), ``grid`` (index of the grid it lies in, −1: none)."""

    x: np.ndarray
    y: np.ndarray
    bearing: np.ndarray
    kind: np.ndarray
    angle: np.ndarray
    range_m: np.ndarray
    source: np.ndarray
    label: np.ndarray
    grid: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="int64"))

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, index: np.ndarray) -> Candidates:
        return Candidates(**{k: np.asarray(v)[index] for k, v in self.__dict__.items()})

    def views(self) -> np.ndarray:
        return sectors(self.x, self.y, self.bearing, self.angle, self.range_m)

    @staticmethod
    def concat(parts: list[Candidates]) -> Candidates:
        keys = Candidates.__dataclass_fields__.keys()
        return Candidates(**{k: np.concatenate([np.asarray(getattr(p, k)) for p in parts]) for k in keys})


def make_candidates(
    x: np.ndarray,
    y: np.ndarray,
    bearing: np.ndarray,
    kind: np.ndarray,
    source: str,
    label: np.ndarray | None = None,
    specs: dict[str, ViewSpec] | None = None,
) -> Candidates:
    """Candidates at ``x, y`` (metres) with their bearings (degrees, NaN: all round) and kinds; the
    angle and range of each come from ``specs`` (default :func:`view_specs`)."""
    specs = specs or view_specs()
    n = len(x)
    kind = np.asarray(kind, dtype=object)
    return Candidates(
        x=np.asarray(x, dtype="float64"),
        y=np.asarray(y, dtype="float64"),
        bearing=np.asarray(bearing, dtype="float64"),
        kind=kind,
        angle=np.array([specs[k].angle_deg for k in kind], dtype="float64"),
        range_m=np.array([specs[k].range_m for k in kind], dtype="float64"),
        source=np.full(n, source, dtype=object),
        label=np.asarray(label if label is not None else np.full(n, "", dtype=object), dtype=object),
        grid=np.full(n, -1, dtype="int64"),
    )


def lattice_sites(grid_polys: np.ndarray, spacing_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sites of a square lattice ``spacing_m`` apart (metres) inside each grid polygon, plus a point
    on the surface of every grid the lattice misses: (x, y, grid index)."""
    xmin, ymin, xmax, ymax = shapely.total_bounds(grid_polys)
    xs = np.arange(math.floor(xmin / spacing_m), math.ceil(xmax / spacing_m) + 1) * spacing_m + spacing_m / 2
    ys = np.arange(math.floor(ymin / spacing_m), math.ceil(ymax / spacing_m) + 1) * spacing_m + spacing_m / 2
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    points = shapely.points(gx, gy)
    tree = shapely.STRtree(grid_polys)
    p_idx, g_idx = tree.query(points, predicate="within")
    _, first = np.unique(p_idx, return_index=True)  # a point on a shared edge: one grid
    p_idx, g_idx = p_idx[first], g_idx[first]
    missing = np.setdiff1d(np.arange(len(grid_polys)), g_idx)
    inner = shapely.point_on_surface(grid_polys[missing])
    x = np.concatenate([gx[p_idx], shapely.get_x(inner)])
    y = np.concatenate([gy[p_idx], shapely.get_y(inner)])
    return x, y, np.concatenate([g_idx, missing]).astype("int64")


def auto_candidates(
    grid_polys: np.ndarray, spacing_m: float, kind: str = BULLET, specs: dict[str, ViewSpec] | None = None
) -> Candidates:
    """The auto candidates: :func:`lattice_sites` in every grid, each in the 8 compass directions
    (a bullet or half-dome) or once all round (a dome)."""
    x, y, grid = lattice_sites(grid_polys, spacing_m)
    if kind == DOME:
        bearings = np.full(len(x), np.nan)
    else:
        x, y, grid = np.repeat(x, 8), np.repeat(y, 8), np.repeat(grid, 8)
        bearings = np.tile(np.array(COMPASS8), len(x) // 8)
    cands = make_candidates(x, y, bearings, np.full(len(x), kind, dtype=object), "auto", specs=specs)
    cands.grid = grid
    return cands


def locate_in_grids(x: np.ndarray, y: np.ndarray, grid_polys: np.ndarray) -> np.ndarray:
    """The index of the grid each point (metres) lies in, −1 where none."""
    out = np.full(len(x), -1, dtype="int64")
    if len(x) == 0 or len(grid_polys) == 0:
        return out
    p_idx, g_idx = shapely.STRtree(grid_polys).query(shapely.points(x, y), predicate="intersects")
    out[p_idx[::-1]] = g_idx[::-1]  # the first grid listed wins
    return out


@dataclass
class PlanInputs:
    """What the plan works on, in metres of one projected CRS: the grids (``grid_codes``,
    ``grid_polys``, ``grid_has_camera``: an installed camera lies in it), the leaf areas
    (``leaf_polys``, ``leaf_households``), the installed cameras' views (``seen``), and optionally
    residence points (``residences``: x, y, households) that replace the uniform spread."""

    grid_codes: np.ndarray
    grid_polys: np.ndarray
    grid_has_camera: np.ndarray
    leaf_polys: np.ndarray
    leaf_households: np.ndarray
    seen: np.ndarray
    residences: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


@dataclass
class Model:
    """The covering model: ``cover`` (CSR, candidates × demand groups, 1 where the candidate sees
    the group), each group's ``households`` and ``area_m2`` (m²), and the candidates (thinned)."""

    candidates: Candidates
    cover: sparse.csr_matrix
    households: np.ndarray
    area_m2: np.ndarray
    demand_points: int
    seconds: float

    def weights(self, objective: str) -> np.ndarray:
        return self.households if objective == "households" else self.area_m2


def _demand_points(
    inputs: PlanInputs, cands: Candidates, spacing: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lattice points (x, y) near the candidates, with households and m² each, and the points as
    shapely Points (metres, the county's GK zone); unseen only."""
    if inputs.residences is not None:
        x, y, hh = (np.asarray(a, dtype="float64") for a in inputs.residences)
        area = np.zeros(len(x))
        points = shapely.points(x, y)
    else:
        # The lattice cells within each distinct site's reach (bounding square of its range).
        site = np.unique(np.column_stack([cands.x, cands.y, cands.range_m]), axis=0)
        lo_x = np.floor((site[:, 0] - site[:, 2]) / spacing).astype("int64")
        hi_x = np.ceil((site[:, 0] + site[:, 2]) / spacing).astype("int64")
        lo_y = np.floor((site[:, 1] - site[:, 2]) / spacing).astype("int64")
        hi_y = np.ceil((site[:, 1] + site[:, 2]) / spacing).astype("int64")
        # Marked on a boolean raster of the sites' extent (one byte per lattice cell: 16 MB for a
        # 40 km county at 10 m), so each cell is kept once without sorting millions of keys.
        ox0, oy0 = int(lo_x.min()), int(lo_y.min())
        mask = np.zeros((int(hi_y.max()) - oy0 + 1, int(hi_x.max()) - ox0 + 1), dtype=bool)
        for lx, hx, ly, hy in _grouped_boxes(lo_x, hi_x, lo_y, hi_y):
            nx, ny = hx[0] - lx[0] + 1, hy[0] - ly[0] + 1
            ox, oy = (a.ravel() for a in np.meshgrid(np.arange(nx), np.arange(ny)))
            mask[(ly[:, None] - oy0 + oy[None, :]).ravel(), (lx[:, None] - ox0 + ox[None, :]).ravel()] = True
        iy, ix = np.nonzero(mask)
        ix, iy = ix + ox0, iy + oy0
        x, y = (ix + 0.5) * spacing, (iy + 0.5) * spacing
        # only the points within some site's range (its disc, not its bounding square)
        distance, nearest = cKDTree(site[:, :2]).query(np.column_stack([x, y]), distance_upper_bound=site[:, 2].max())
        near = np.isfinite(distance)
        near[near] = distance[near] <= site[nearest[near], 2]
        x, y = x[near], y[near]
        points = shapely.points(x, y)
        leaf_areas = shapely.area(inputs.leaf_polys)
        density = np.divide(
            np.asarray(inputs.leaf_households, dtype="float64"),
            leaf_areas,
            out=np.zeros(len(leaf_areas)),
            where=leaf_areas > 0,
        )
        p_idx, l_idx = shapely.STRtree(inputs.leaf_polys).query(points, predicate="within")
        _, first = np.unique(p_idx, return_index=True)
        p_idx, l_idx = p_idx[first], l_idx[first]
        x, y, points = x[p_idx], y[p_idx], points[p_idx]
        hh = density[l_idx] * spacing * spacing
        area = np.full(len(x), spacing * spacing)
    if len(inputs.seen) and len(x):
        seen = shapely.STRtree(inputs.seen[~shapely.is_missing(inputs.seen)])
        inside, _ = seen.query(points, predicate="within")
        keep = np.ones(len(x), dtype=bool)
        keep[inside] = False
        x, y, hh, area, points = x[keep], y[keep], hh[keep], area[keep], points[keep]
    return np.column_stack([x, y]), hh, area, points


def _grouped_boxes(lo_x, hi_x, lo_y, hi_y):
    """Yield the boxes grouped by their size (so each group is one vectorized meshgrid)."""
    size = np.column_stack([hi_x - lo_x, hi_y - lo_y])
    shapes, inverse = np.unique(size, axis=0, return_inverse=True)
    for k in range(len(shapes)):
        sel = inverse.ravel() == k
        yield lo_x[sel], hi_x[sel], lo_y[sel], hi_y[sel]


def build_model(
    inputs: PlanInputs,
    cands: Candidates,
    settings: PlanSettings,
    objective: str = "households",
    keep_per_grid: bool = False,
) -> Model:
    """The covering model of ``cands`` over the unseen demand (see the module docstring). Candidates
    that see no unseen weight are dropped; with ``keep_per_grid`` each grid without a camera keeps
    its best candidate (by weight, then m²) even so."""
    started = time.perf_counter()
    if len(cands) == 0:
        raise PlanRefused("no_candidates", "没有候选点位：请检查候选文件或网格数据。")
    xy, hh, area, points = _demand_points(inputs, cands, settings.demand_spacing_m)
    views = cands.views()
    ok = ~shapely.is_missing(views)
    tree = shapely.STRtree(points)
    v_idx, p_idx = tree.query(views[ok], predicate="contains")
    v_idx = np.flatnonzero(ok)[v_idx]
    # Group the points covered by exactly the same candidates: two random 64-bit hashes of the set.
    rng = np.random.default_rng(18)
    h1, h2 = rng.integers(1, 2**62, len(cands)), rng.integers(1, 2**62, len(cands))
    order = np.argsort(p_idx, kind="stable")
    v_sorted, p_sorted = v_idx[order], p_idx[order]
    covered, starts = np.unique(p_sorted, return_index=True)
    sig1 = np.add.reduceat(h1[v_sorted], starts) if len(starts) else np.zeros(0, dtype="int64")
    sig2 = np.add.reduceat(h2[v_sorted], starts) if len(starts) else np.zeros(0, dtype="int64")
    group_of_point, rep = _unique_rows(np.column_stack([sig1, sig2]))
    n_groups = len(rep)
    g_hh = np.bincount(group_of_point, weights=hh[covered], minlength=n_groups)
    g_area = np.bincount(group_of_point, weights=area[covered], minlength=n_groups)
    # The groups' candidates: those of each group's representative point.
    rep_point = covered[rep]
    lookup = np.full(len(xy), -1, dtype="int64")
    lookup[rep_point] = np.arange(n_groups)
    g_of_pair = lookup[p_idx]
    sel = g_of_pair >= 0
    cover = sparse.csr_matrix(
        (np.ones(int(sel.sum()), dtype="float64"), (v_idx[sel], g_of_pair[sel])), shape=(len(cands), n_groups)
    )
    cover.data[:] = 1.0
    weights = g_hh if objective == "households" else g_area
    gain = cover @ weights
    keep = gain > 0
    if keep_per_grid:
        area_gain = cover @ g_area
        needy = np.flatnonzero(~inputs.grid_has_camera)
        in_needy = np.isin(cands.grid, needy) & (cands.grid >= 0)
        served = np.unique(cands.grid[keep & in_needy])
        lacking = np.setdiff1d(np.unique(cands.grid[in_needy]), served)
        if len(lacking):
            idx = np.flatnonzero(np.isin(cands.grid, lacking))
            best = np.lexsort((-area_gain[idx], -gain[idx], cands.grid[idx]))
            g_sorted = cands.grid[idx][best]
            firsts = np.unique(g_sorted, return_index=True)[1]
            keep[idx[best[firsts]]] = True
    model = restrict(Model(cands, cover, g_hh, g_area, len(xy), 0.0), np.flatnonzero(keep))
    model.seconds = time.perf_counter() - started
    return model


def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inverse, index of the first of each distinct row) of an (n, 2) integer array."""
    if len(rows) == 0:
        return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64")
    order = np.lexsort((rows[:, 1], rows[:, 0]))  # (np.unique over rows is ~10× slower)
    ordered = rows[order]
    new = np.ones(len(rows), dtype=bool)
    new[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
    group_sorted = np.cumsum(new) - 1
    inverse = np.empty(len(rows), dtype="int64")
    inverse[order] = group_sorted
    return inverse, order[new].astype("int64")  # lexsort is stable: a group's first is its lowest index


# ---------------------------------------------------------------------------------------------
# Solving
# ---------------------------------------------------------------------------------------------


@dataclass
class Solution:
    """The chosen candidates (indices into the model's), the objective value, the LP bound and how
    it was found (``exact``, ``exact_time_limit``, ``greedy``), with the solver's seconds."""

    chosen: np.ndarray
    value: float
    lp_bound: float | None
    method: str
    seconds: float
    solver: str

    @property
    def gap(self) -> float | None:
        if self.lp_bound is None:
            return None
        if self.lp_bound <= 0:
            return 0.0
        return max(0.0, (self.lp_bound - self.value) / self.lp_bound)


def covered_value(model: Model, chosen: np.ndarray, weights: np.ndarray) -> float:
    """The weight of the groups seen by the ``chosen`` candidates together."""
    if len(chosen) == 0:
        return 0.0
    seen = np.asarray(model.cover[np.asarray(chosen)].sum(axis=0)).ravel() > 0
    return float(weights[seen].sum())


def _grid_rows(model: Model, needy: np.ndarray) -> list[np.ndarray]:
    """For each grid in ``needy`` (indices), the candidates lying in it."""
    grid = model.candidates.grid
    order = np.argsort(grid, kind="stable")
    g_sorted = grid[order]
    out = []
    for g in needy:
        lo, hi = np.searchsorted(g_sorted, g, "left"), np.searchsorted(g_sorted, g, "right")
        out.append(order[lo:hi])
    return out


def needy_grids(model: Model, grid_has_camera: np.ndarray) -> np.ndarray:
    """Grids without an installed camera that have a candidate (indices)."""
    return np.intersect1d(np.flatnonzero(~grid_has_camera), model.candidates.grid[model.candidates.grid >= 0])


def solve_highs(
    model: Model,
    weights: np.ndarray,
    budget: int,
    grid_rows: list[np.ndarray],
    time_limit_s: float,
    relax: bool = False,
) -> tuple[np.ndarray | None, float | None, str]:
    """The MCLP with HiGHS (``highspy``), built column-wise from the sparse coverage matrix.
    Returns (x values, objective, status text); x None when no feasible solution was found."""
    import highspy

    n_c, n_g = model.cover.shape
    cover_t = model.cover.T.tocsr()  # groups × candidates
    n_rows_cover = n_g
    # Rows: [cover rows: y_g − Σ x_j ≤ 0] [budget: Σ x_j ≤ N] [grid rows: Σ_{j in grid} x_j ≥ 1]
    rows_idx, cols_idx, vals = [], [], []
    coo = cover_t.tocoo()
    rows_idx.append(coo.row)
    cols_idx.append(coo.col)
    vals.append(-np.ones(coo.nnz))
    rows_idx.append(np.arange(n_g))
    cols_idx.append(n_c + np.arange(n_g))
    vals.append(np.ones(n_g))
    rows_idx.append(np.full(n_c, n_rows_cover))
    cols_idx.append(np.arange(n_c))
    vals.append(np.ones(n_c))
    for k, members in enumerate(grid_rows):
        rows_idx.append(np.full(len(members), n_rows_cover + 1 + k))
        cols_idx.append(members)
        vals.append(np.ones(len(members)))
    n_rows = n_rows_cover + 1 + len(grid_rows)
    a = sparse.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows_idx), np.concatenate(cols_idx))), shape=(n_rows, n_c + n_g)
    )
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_c + n_g, n_rows
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = np.concatenate([np.zeros(n_c), weights]).astype("float64")
    lp.col_lower_ = np.zeros(n_c + n_g)
    lp.col_upper_ = np.ones(n_c + n_g)
    inf = highspy.kHighsInf
    lp.row_lower_ = np.concatenate([np.full(n_g, -inf), [-inf], np.ones(len(grid_rows))])
    lp.row_upper_ = np.concatenate([np.zeros(n_g), [float(budget)], np.full(len(grid_rows), inf)])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype("int32")
    lp.a_matrix_.index_ = a.indices.astype("int32")
    lp.a_matrix_.value_ = a.data
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n_c + n_g, n_rows
    if not relax:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * n_c + [highspy.HighsVarType.kContinuous] * n_g
    h = _quiet_highs()
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("threads", 1)
    h.setOptionValue("mip_rel_gap", 1e-6)
    h.passModel(lp)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    if relax:
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None, None, status
        return np.asarray(h.getSolution().col_value[:n_c]), float(info.objective_function_value), status
    if info.primal_solution_status != 2:  # kSolutionStatusFeasible
        return None, None, status
    x = np.asarray(h.getSolution().col_value[:n_c])
    return x, float(info.objective_function_value), status


def _quiet_highs() -> Any:
    """A ``highspy.Highs`` with its log off; the banner it prints on stdout when the first one is
    made is sent to /dev/null (the CLI's stdout may carry JSON)."""
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return h


def solve_spopt(
    model: Model, weights: np.ndarray, budget: int, grid_rows: list[np.ndarray], time_limit_s: float
) -> np.ndarray | None:
    """The MCLP built by spopt (``MCLP.from_cost_matrix``: cost 0 where a candidate sees a group, 1
    elsewhere, service radius 0.5), the must-cover rows added to its PuLP problem, solved by HiGHS
    through PuLP. Returns the chosen candidate indices, or None when no solution was found."""
    import pulp
    from spopt.locate import MCLP

    cost = 1.0 - model.cover.T.toarray()  # groups × candidates
    # spopt asks for exactly p facilities; ask for what can be placed.
    p = min(budget, model.cover.shape[0])
    with warnings.catch_warnings():  # spopt builds variables the way PuLP 3 deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        mclp = MCLP.from_cost_matrix(cost, weights, service_radius=0.5, p_facilities=p, name="gridmap_plan")
        fac = mclp.fac_vars
        for k, members in enumerate(grid_rows):
            mclp.problem += pulp.lpSum(fac[int(j)] for j in members) >= 1, f"grid_{k}"
        mclp.problem.solve(pulp.HiGHS(msg=False, timeLimit=time_limit_s))
    if pulp.LpStatus[mclp.problem.status] not in ("Optimal",) and mclp.problem.sol_status not in (
        pulp.LpSolutionIntegerFeasible,
        pulp.LpSolutionOptimal,
    ):
        return None
    return np.array([j for j, v in enumerate(fac) if (v.value() or 0) > 0.5], dtype="int64")


def greedy(
    model: Model, weights: np.ndarray, budget: int, grid_rows: list[np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Lazy greedy: (chosen candidate indices in the order chosen, the weight each newly saw).
    With ``grid_rows``, first one site per grid (the grid whose best site gains most goes first)."""
    cover = model.cover
    seen = np.zeros(cover.shape[1], dtype=bool)
    chosen: list[int] = []
    gains: list[float] = []

    def gain(j: int) -> float:
        cols = cover.indices[cover.indptr[j] : cover.indptr[j + 1]]
        return float(weights[cols[~seen[cols]]].sum())

    def take(j: int, g: float) -> None:
        chosen.append(j)
        gains.append(g)
        seen[cover.indices[cover.indptr[j] : cover.indptr[j + 1]]] = True

    def run(pool: np.ndarray, stop: int, grid_of: np.ndarray | None = None) -> None:
        initial = np.asarray(cover[pool] @ weights).ravel() if len(pool) else np.zeros(0)
        heap = [(-float(g), int(j)) for g, j in zip(initial, pool)]
        heapq.heapify(heap)
        done_grids: set[int] = set()
        while heap and len(chosen) < stop:
            _, j = heapq.heappop(heap)
            if grid_of is not None and int(grid_of[j]) in done_grids:
                continue
            g = gain(j)
            if heap and g < -heap[0][0] - 1e-12:
                heapq.heappush(heap, (-g, j))
                continue
            if grid_of is None and g <= 0 and chosen:
                break
            take(j, g)
            if grid_of is not None:
                done_grids.add(int(grid_of[j]))

    if grid_rows:
        pool = np.concatenate(grid_rows) if grid_rows else np.zeros(0, dtype="int64")
        run(pool, min(budget, len(grid_rows)), grid_of=model.candidates.grid)
    rest = np.setdiff1d(np.arange(cover.shape[0]), np.array(chosen, dtype="int64"))
    run(rest, budget)
    return np.array(chosen, dtype="int64"), np.array(gains)


def solve(
    model: Model,
    budget: int,
    objective: str,
    grid_has_camera: np.ndarray,
    must_cover_each_grid: bool,
    settings: PlanSettings,
) -> Solution:
    """The best ``budget`` candidates of ``model`` (see the module docstring for the method)."""
    started = time.perf_counter()
    weights = model.weights(objective)
    grid_rows: list[np.ndarray] = []
    if must_cover_each_grid:
        needy = np.flatnonzero(~grid_has_camera)
        have = needy_grids(model, grid_has_camera)
        if len(have) < len(needy):
            missing = len(needy) - len(have)
            raise PlanRefused(
                "grid_without_candidates",
                f"有 {missing} 个无摄像头的网格没有候选点位，无法保证每个网格都有摄像头：请提供覆盖这些网格的候选点位。",
                {"grids": missing},
            )
        if budget < len(needy):
            raise PlanRefused(
                "budget_below_grid_count",
                f"预算 {budget} 台不足以让每个网格都有摄像头：还有 {len(needy)} 个网格没有已安装的摄像头，至少需要 {len(needy)} 台。",
                {"budget": budget, "minimum_budget": int(len(needy))},
            )
        grid_rows = _grid_rows(model, needy)
    n_c = model.cover.shape[0]
    if n_c == 0:
        return Solution(np.zeros(0, dtype="int64"), 0.0, 0.0, "exact", time.perf_counter() - started, "none")
    protect = np.isin(model.candidates.grid, np.flatnonzero(~grid_has_camera)) if grid_rows else None
    kept = dominant_candidates(model, weights, budget, protect)
    if kept is not None:
        sub = solve(restrict(model, kept), budget, objective, grid_has_camera, must_cover_each_grid, settings)
        return Solution(
            kept[sub.chosen], sub.value, sub.lp_bound, sub.method, time.perf_counter() - started, sub.solver
        )
    lp_x, lp_value, _ = solve_highs(model, weights, budget, grid_rows, settings.time_limit_s, relax=True)
    chosen: np.ndarray | None = None
    method, solver = "exact", "highs"
    if lp_x is not None and np.all(np.minimum(lp_x, 1.0 - lp_x) < 1e-7):
        chosen, solver = np.flatnonzero(lp_x > 0.5), "highs_lp_integral"  # the LP's optimum is integral
    elif budget >= n_c and not grid_rows:
        chosen = np.arange(n_c)
        solver = "all"
    elif model.cover.nnz <= settings.max_exact_nonzeros:
        cells = model.cover.shape[0] * model.cover.shape[1]
        if cells <= settings.spopt_max_cells:
            chosen = solve_spopt(model, weights, budget, grid_rows, settings.time_limit_s)
            solver = "spopt+pulp+highs"
        else:
            x, _, status = solve_highs(model, weights, budget, grid_rows, settings.time_limit_s)
            if x is not None:
                chosen = np.flatnonzero(x > 0.5)
                if status != "Optimal":
                    method = "exact_time_limit"
    if chosen is None or method == "exact_time_limit":
        # no solution in time, or one the time limit cut short: greedy's, when it is better
        picked, _ = greedy(model, weights, budget, grid_rows or None)
        if chosen is None or covered_value(model, picked, weights) > covered_value(model, chosen, weights):
            chosen, method, solver = picked, "greedy", "lazy_greedy"
    value = covered_value(model, chosen, weights)
    return Solution(chosen, value, lp_value, method, time.perf_counter() - started, solver)


def dominant_candidates(
    model: Model, weights: np.ndarray, budget: int, protect: np.ndarray | None = None
) -> np.ndarray | None:
    """The candidates that can be in an optimal plan of ``budget`` sites, or None when pruning
    removes nothing. ``protect``: candidates always kept (those in the grids the must-cover rows
    name: dropping one of them could make a grid's row unsatisfiable; the swap below never touches
    those rows, since it removes an unprotected candidate and adds one).

    A candidate's *private* weight is what only it sees. Let P be the ``budget``-th largest private
    weight. A candidate whose whole weight is below P is in no optimal plan: a plan of ``budget``
    sites holding it lacks one of the ``budget`` candidates of largest private weight, and swapping
    it for that one gains at least P minus its weight > 0. So the optimum is kept, and the LP bound
    of the kept candidates still bounds it from above (it bounds their own optimum, the same one).
    With the auto lattice most candidates see a few households each and drop out."""
    n_c, n_g = model.cover.shape
    if budget >= n_c:
        return None
    csc = model.cover.tocsc()
    single = np.flatnonzero(np.diff(csc.indptr) == 1)
    owner = csc.indices[csc.indptr[single]]
    private = np.bincount(owner, weights=weights[single], minlength=n_c)
    threshold = np.partition(private, n_c - budget)[n_c - budget]
    total = np.asarray(model.cover @ weights).ravel()
    keep = total >= threshold
    if protect is not None:
        keep |= protect
    kept = np.flatnonzero(keep)
    return kept if len(kept) < n_c else None


def restrict(model: Model, kept: np.ndarray) -> Model:
    """``model`` with only the candidates ``kept`` (and the demand groups they see)."""
    cover = model.cover[kept]
    used = np.flatnonzero(np.diff(cover.tocsc().indptr) > 0)
    return Model(
        candidates=model.candidates.take(kept),
        cover=cover[:, used].tocsr(),
        households=model.households[used],
        area_m2=model.area_m2[used],
        demand_points=model.demand_points,
        seconds=model.seconds,
    )


def marginal_gains(model: Model, chosen: np.ndarray, objective: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The chosen candidates in greedy order (the one that newly sees most first) with what each
    newly sees: (order, households, m²). The gains add up to the set's total."""
    if len(chosen) == 0:
        return np.zeros(0, dtype="int64"), np.zeros(0), np.zeros(0)
    sub = Model(
        model.candidates.take(chosen), model.cover[chosen], model.households, model.area_m2, model.demand_points, 0.0
    )
    order, _ = greedy(sub, sub.weights(objective) + 1e-9 * sub.weights("area"), len(chosen))
    order = np.concatenate([order, np.setdiff1d(np.arange(len(chosen)), order)])  # zero-gain sites last
    hh, area = [], []
    seen = np.zeros(sub.cover.shape[1], dtype=bool)
    for j in order:
        cols = sub.cover.indices[sub.cover.indptr[j] : sub.cover.indptr[j + 1]]
        new = cols[~seen[cols]]
        hh.append(float(model.households[new].sum()))
        area.append(float(model.area_m2[new].sum()))
        seen[cols] = True
    return chosen[order], np.array(hh), np.array(area)


@dataclass
class Plan:
    """A plan: the model, the solution, the chosen sites in order with their gains, and the number
    of new cameras that puts one in every grid without an installed camera."""

    model: Model
    solution: Solution
    order: np.ndarray
    site_households: np.ndarray
    site_area_m2: np.ndarray
    cameras_for_every_grid: int
    objective: str
    budget: int
    must_cover_each_grid: bool

    @property
    def households_newly_seen(self) -> float:
        return float(self.site_households.sum())

    @property
    def area_newly_seen_m2(self) -> float:
        return float(self.site_area_m2.sum())

    def summary(self) -> dict[str, Any]:
        gap = self.solution.gap
        return {
            "budget": self.budget,
            "objective": self.objective,
            "must_cover_each_grid": self.must_cover_each_grid,
            "households_newly_seen": round(self.households_newly_seen, 1),
            "area_newly_seen_m2": round(self.area_newly_seen_m2, 1),
            "optimality_gap": None if gap is None else round(gap, 6),
            "lp_bound": None if self.solution.lp_bound is None else round(self.solution.lp_bound, 3),
            "objective_value": round(self.solution.value, 3),
            "method": self.solution.method,
            "solver": self.solution.solver,
            "greedy_bound": round(GREEDY_BOUND, 4) if self.solution.method == "greedy" else None,
            "cameras_for_every_grid": self.cameras_for_every_grid,
            "candidates": len(self.model.candidates),
            "demand_groups": int(self.model.cover.shape[1]),
            "demand_points": self.model.demand_points,
            "nonzeros": int(self.model.cover.nnz),
            "seconds_model": round(self.model.seconds, 3),
            "seconds_solve": round(self.solution.seconds, 3),
        }


def make_plan(
    inputs: PlanInputs,
    cands: Candidates,
    budget: int,
    objective: str = "households",
    must_cover_each_grid: bool = False,
    settings: PlanSettings | None = None,
) -> Plan:
    """Build the model over ``cands`` and solve it (the whole plan, see the module docstring)."""
    settings = settings or PlanSettings()
    if objective not in OBJECTIVES:
        raise PlanRefused("invalid_objective", f"目标应为 {' 或 '.join(OBJECTIVES)}。", {"objective": objective})
    if budget < 1:
        raise PlanRefused("invalid_budget", "预算（摄像头台数）至少为 1。", {"budget": budget})
    missing = cands.grid < 0
    if missing.any():
        cands.grid = cands.grid.copy()
        cands.grid[missing] = locate_in_grids(cands.x[missing], cands.y[missing], inputs.grid_polys)
    # A site must stand in one of the county's grids (a candidate file's point elsewhere is not a
    # site of this plan); this also bounds the demand lattice to the county's extent.
    cands = cands.take(np.flatnonzero(cands.grid >= 0))
    model = build_model(inputs, cands, settings, objective, keep_per_grid=must_cover_each_grid)
    solution = solve(model, budget, objective, inputs.grid_has_camera, must_cover_each_grid, settings)
    order, hh, area = marginal_gains(model, solution.chosen, objective)
    # A site that newly sees nothing is left out, unless it is its grid's only site (must-cover).
    gain = hh if objective == "households" else area
    grids = model.candidates.grid[order]
    needy = set(np.flatnonzero(~inputs.grid_has_camera).tolist()) if must_cover_each_grid else set()
    keep = np.ones(len(order), dtype=bool)
    for i in np.flatnonzero(gain <= 0):
        g = int(grids[i])
        if g not in needy or (keep & (grids == g)).sum() > 1:
            keep[i] = False
    order, hh, area = order[keep], hh[keep], area[keep]
    return Plan(
        model=model,
        solution=Solution(order, solution.value, solution.lp_bound, solution.method, solution.seconds, solution.solver),
        order=order,
        site_households=hh,
        site_area_m2=area,
        cameras_for_every_grid=int((~inputs.grid_has_camera).sum()),
        objective=objective,
        budget=budget,
        must_cover_each_grid=must_cover_each_grid,
    )


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise PlanRefused("invalid_kind", f"摄像头类型应为 {'、'.join(KINDS)} 之一。", {"kind": kind})
    return kind
