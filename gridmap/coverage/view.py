"""Field-of-view coverage (视野覆盖): how much of each area the installed cameras actually see.

Counting cameras per grid says nothing about what they watch. Here every installed camera's view
(a sector from its position, direction, angle and range: :mod:`gridmap.geometry.view`) is laid over
the leaf areas, and per area at every level (leaf up to the county) come:

- ``area_m2``: the area in m² (the sum of its leaves', measured in the county's Gauss-Krüger zone);
- ``seen_m2`` / ``seen_rate``: the part some view covers (views clipped to the area, so to the
  county; overlapping views count once), m² and its fraction of ``area_m2``;
- ``households`` / ``households_seen``: households, and those in seen parts. Households are spread
  uniformly over each leaf (its ``area.households`` times the leaf's seen fraction), or, with a
  residences layer (:class:`Residences`: points with household counts), counted at the points: a
  leaf's households are then its points' sum and the seen ones those of points inside seen parts;
- ``unseen`` (leaves only): the parts no camera sees (视野盲区) as polygons in metres. A parent's
  unseen parts are its leaves' (never unioned: a county's would be one huge polygon).

Not to be confused with the blind areas of :mod:`gridmap.maps.blind` (盲区: areas with *no installed
camera*): a grid with cameras can still have most of its area unseen.

Vectorized: one STRtree query pairs leaves with the views that touch them, one ``intersection``
call cuts every pair, pieces are unioned per leaf (a loop only over the leaves with more than one
piece, each a handful of polygons) and one ``difference`` call leaves the unseen parts. The sample
county (10,048 cameras, 10,311 micro-grids) takes about a second; ``benchmarks/view_coverage.py``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyproj
import shapely
from sqlalchemy import Connection, text

from gridmap.db.cameras import leaf_areas, view_cameras
from gridmap.geometry.metric import metric_crs, to_metric
from gridmap.geometry.view import ViewSpec, camera_views

#: The columns of the view figures, in order (exports and CSV add them under these names).
VIEW_COLUMNS: dict[str, str] = {
    "area_m2": "面积（m²）",
    "seen_m2": "视野覆盖面积（m²）",
    "seen_rate": "视野覆盖率",
    "households": "户数",
    "households_seen": "视野内户数",
    "households_seen_rate": "视野内户数占比",
    "cameras": "已安装摄像头",
}


@dataclass(frozen=True)
class Residences:
    """Building/residence points with household counts, in the same metre CRS as the areas."""

    points: np.ndarray  # shapely Points, metres
    households: np.ndarray  # float64, households at each point (NaN/negative: 0)


@dataclass(frozen=True)
class LeafView:
    """The view figures of the leaf areas, index-aligned with ``codes`` (all in metres / m²)."""

    codes: np.ndarray
    area_m2: np.ndarray
    seen_m2: np.ndarray
    households: np.ndarray  # float64; NaN where unknown
    households_seen: np.ndarray  # float64; NaN where unknown
    seen: np.ndarray  # polygons (metres) seen in each leaf, None where nothing is seen (or not kept)
    unseen: np.ndarray  # polygons (metres) not seen in each leaf, empty where all is seen


def leaf_view(
    codes: np.ndarray,
    leaves: np.ndarray,
    views: np.ndarray,
    households: np.ndarray | None = None,
    residences: Residences | None = None,
) -> LeafView:
    """What ``views`` see of each leaf: ``leaves`` and ``views`` are polygons in the same metre CRS
    (a GK zone); ``households`` per leaf (NaN: unknown) are spread uniformly over the leaf unless
    ``residences`` are given (then counted at the points, see the module docstring)."""
    leaves = np.asarray(leaves, dtype=object)
    views = np.asarray(views, dtype=object)
    views = views[~shapely.is_missing(views)]
    n = len(leaves)
    area = shapely.area(leaves).astype("float64") if n else np.zeros(0)
    seen = np.full(n, None, dtype=object)
    if n and len(views):
        li, vi = shapely.STRtree(views).query(leaves, predicate="intersects")
        order = np.argsort(li, kind="stable")
        li, vi = li[order], vi[order]
        pieces = shapely.intersection(leaves[li], views[vi])
        if len(li):
            cut = np.flatnonzero(np.diff(li)) + 1
            starts, ends = np.r_[0, cut], np.r_[cut, len(li)]
            one = ends - starts == 1
            seen[li[starts[one]]] = pieces[starts[one]]
            for s, e in zip(starts[~one], ends[~one], strict=True):  # a few pieces per leaf
                seen[li[s]] = shapely.union_all(pieces[s:e])
    present = ~shapely.is_missing(seen)
    seen_m2 = np.zeros(n)
    seen_m2[present] = shapely.area(seen[present])
    seen_m2 = np.minimum(seen_m2, area)
    unseen = leaves.copy()
    if present.any():
        unseen[present] = shapely.difference(leaves[present], seen[present])
    if residences is not None:
        hh, hh_seen = _at_points(leaves, seen, residences)
    else:
        hh = np.full(n, np.nan) if households is None else np.asarray(households, dtype="float64")
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(area > 0, seen_m2 / area, 0.0)
        hh_seen = hh * share
    return LeafView(np.asarray(codes, dtype=object), area, seen_m2, hh, hh_seen, seen, unseen)


def _at_points(leaves: np.ndarray, seen: np.ndarray, residences: Residences) -> tuple[np.ndarray, np.ndarray]:
    """Households per leaf and those seen, counted at residence points (a point on a shared edge
    counts in one leaf only: the first the tree gives)."""
    n = len(leaves)
    weight = np.nan_to_num(np.asarray(residences.households, dtype="float64"), nan=0.0)
    weight = np.maximum(weight, 0.0)
    hh, hh_seen = np.zeros(n), np.zeros(n)
    points = np.asarray(residences.points, dtype=object)
    if not len(points) or not n:
        return hh, hh_seen
    pi, li = shapely.STRtree(leaves).query(points, predicate="intersects")
    _, first = np.unique(pi, return_index=True)
    pi, li = pi[first], li[first]
    np.add.at(hh, li, weight[pi])
    has_seen = ~shapely.is_missing(seen[li])
    inside = np.zeros(len(pi), dtype=bool)
    inside[has_seen] = shapely.intersects(seen[li[has_seen]], points[pi[has_seen]])
    np.add.at(hh_seen, li[inside], weight[pi[inside]])
    return hh, hh_seen


@dataclass
class ViewRow:
    """One area's view figures (m², households; rates are fractions, None when undefined)."""

    code: str
    name: str | None
    level: int
    parent_code: str | None
    area_m2: float
    seen_m2: float
    households: float | None
    households_seen: float | None
    cameras: int

    @property
    def seen_rate(self) -> float | None:
        return self.seen_m2 / self.area_m2 if self.area_m2 > 0 else None

    @property
    def households_seen_rate(self) -> float | None:
        if self.households is None or self.households_seen is None or self.households <= 0:
            return None
        return self.households_seen / self.households

    def to_dict(self) -> dict[str, Any]:
        """JSON figures: m² to 0.1, households to 0.01 (uniform spreading gives fractions)."""
        return {
            "code": self.code,
            "name": self.name,
            "level": self.level,
            "parent_code": self.parent_code,
            "area_m2": round(self.area_m2, 1),
            "seen_m2": round(self.seen_m2, 1),
            "seen_rate": None if self.seen_rate is None else round(self.seen_rate, 6),
            "households": None if self.households is None else round(self.households, 2),
            "households_seen": None if self.households_seen is None else round(self.households_seen, 2),
            "households_seen_rate": None if self.households_seen_rate is None else round(self.households_seen_rate, 6),
            "cameras": self.cameras,
        }


@dataclass
class ViewCoverage:
    """The view figures of one county (or any area subtree): every area's row, the leaves' polygons."""

    crs: pyproj.CRS
    leaves: LeafView
    rows: dict[str, ViewRow]
    cameras: int
    seconds: float
    residences: bool = False
    leaf_index: dict[str, int] = field(default_factory=dict)

    def row(self, code: str) -> ViewRow | None:
        return self.rows.get(code)

    def select(self, code: str | None = None, level: int | None = None) -> list[ViewRow]:
        """:func:`select_rows` of this result's rows."""
        return select_rows(self.rows, code, level)

    def unseen_under(self, code: str) -> list[tuple[str, float, Any]]:
        """(leaf code, unseen m², unseen polygon in metres) of the leaves at or under ``code`` with
        something unseen."""
        out = []
        lv = self.leaves
        for i, c in enumerate(lv.codes):
            if c.startswith(code):
                g = lv.unseen[i]
                if g is not None and not g.is_empty:
                    out.append((c, float(lv.area_m2[i] - lv.seen_m2[i]), g))
        return out


def select_rows(rows: dict[str, ViewRow], code: str | None = None, level: int | None = None) -> list[ViewRow]:
    """Rows as ``gridmap coverage`` selects them: no options, the top area and its direct
    children; ``level``: every area of that level (under ``code``); ``code`` alone: that area and
    its direct children. Raises KeyError for a code not in ``rows``."""
    if code is not None and code not in rows:
        raise KeyError(code)
    ordered = sorted(rows.values(), key=lambda r: (r.level, r.code))
    if level is not None:
        return [r for r in ordered if r.level == level and (code is None or r.code.startswith(code))]
    if code is None:
        top = min((r.level for r in ordered), default=0)
        tops = [r for r in ordered if r.level == top]
        if len(tops) != 1:
            return tops
        code = tops[0].code
    return [rows[code]] + [r for r in ordered if r.parent_code == code]


_AREAS_SQL = text("""
    SELECT code, name, level, parent_code, households FROM area
    WHERE level >= 0 AND (CAST(:prefix AS text) IS NULL OR starts_with(code, CAST(:prefix AS text)))
    ORDER BY level, code""")


def view_coverage(
    conn: Connection,
    prefix: str | None = None,
    specs: dict[str, ViewSpec] | None = None,
    residences_4490: tuple[np.ndarray, np.ndarray] | None = None,
) -> ViewCoverage:
    """The view figures of every area whose code starts with ``prefix`` (a county's code: the
    unit the service computes and caches), from the installed cameras there. ``specs``: angle and
    range per camera kind (default: the settings' defaults). ``residences_4490``: optional
    (points in EPSG:4490, households per point)."""
    started = time.perf_counter()
    codes, polys = leaf_areas(conn, prefix)
    cams = view_cameras(conn, prefix)
    areas = conn.execute(_AREAS_SQL, {"prefix": prefix}).all()
    crs = metric_crs(polys)
    leaves = to_metric(polys, crs) if len(polys) else polys
    points = to_metric(shapely.points(cams["lon"], cams["lat"]), crs) if len(cams["lon"]) else np.zeros(0, object)
    x = shapely.get_x(points) if len(points) else np.zeros(0)
    y = shapely.get_y(points) if len(points) else np.zeros(0)
    views = camera_views(x, y, cams["name"], cams["kind"], cams["direction"], specs)
    by_code = {r[0]: r for r in areas}
    hh = np.array(
        [np.nan if by_code.get(c) is None or by_code[c][4] is None else by_code[c][4] for c in codes], dtype="float64"
    )
    residences = None
    if residences_4490 is not None:
        residences = Residences(to_metric(residences_4490[0], crs), residences_4490[1])
    lv = leaf_view(codes, leaves, views, hh, residences)
    # kept (and cached by the API) without the seen polygons: the unseen ones are what is served
    lv = replace(lv, seen=np.full(len(lv.codes), None, dtype=object))
    rows = roll_up(lv, [(r[0], r[1], r[2], r[3]) for r in areas], list(cams["area_code"]))
    return ViewCoverage(
        crs=crs,
        leaves=lv,
        rows=rows,
        cameras=len(x),
        seconds=time.perf_counter() - started,
        residences=residences is not None,
        leaf_index={c: i for i, c in enumerate(lv.codes)},
    )


def roll_up(
    lv: LeafView, areas: Sequence[tuple[str, str | None, int, str | None]], camera_areas: Sequence[str | None] = ()
) -> dict[str, ViewRow]:
    """Every area's row: its leaves' figures summed up the ``parent_code`` chain of ``areas``
    (code, name, level, parent_code), so a parent's m² and households are exactly its children's
    sums. ``camera_areas``: the leaf area code of each counted camera."""
    info = {a[0]: a for a in areas}
    rows: dict[str, ViewRow] = {
        code: ViewRow(code, name, level, parent, 0.0, 0.0, None, None, 0) for code, name, level, parent in areas
    }
    for i, code in enumerate(lv.codes):
        if code not in rows:
            rows[code] = ViewRow(code, None, -9, None, 0.0, 0.0, None, None, 0)
            info[code] = (code, None, -9, None)
        chain: list[ViewRow] = []
        c = code
        while c is not None and c in rows and len(chain) < 16:
            chain.append(rows[c])
            c = info[c][3]
        a, s, h, hs = float(lv.area_m2[i]), float(lv.seen_m2[i]), lv.households[i], lv.households_seen[i]
        for row in chain:
            row.area_m2 += a
            row.seen_m2 += s
            if np.isfinite(h):
                row.households = (row.households or 0.0) + float(h)
                row.households_seen = (row.households_seen or 0.0) + float(hs)
    for code in camera_areas:
        c = code
        seen: set[str] = set()
        while c is not None and c in rows and c not in seen:
            seen.add(c)
            rows[c].cameras += 1
            c = info[c][3]
    return rows
