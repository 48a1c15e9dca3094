"""Repair (opt-in): fix what a machine can fix safely and leave the rest for a person.

1. ``make_valid`` (structure method: collapsed spikes and zero-area parts disappear).
2. Gaps, overlaps and parts outside the parent up to ``max_area_m2`` (slivers included):
   a gap is merged into the bordering sibling with the longest shared border; an overlap stays with
   the sibling whose remaining part borders it longest and is cut from the other; a part outside
   the parent is clipped off.
3. ``coverage_clean`` with a snapping distance in metres over each sibling group touched, so that
   shared edges match vertex for vertex. Groups that still hold an overlap too big to fix are not
   cleaned, because the cleaner would resolve that overlap too.

Larger defects, code errors and policy warnings are left untouched. Works on an ``Analysis`` (the
metric geometry); the result is returned per input row in EPSG:4490.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from gridmap.geometry.metric import to_storage
from gridmap.geometry.shapes import as_multipolygons
from gridmap.geometry.validate import Analysis

_AREAL = ("gap", "overlap", "outside_parent", "sliver")
_ACTION_ZH = {
    "make_valid": "修复无效几何",
    "gap": "并入缝隙",
    "overlap_kept": "保留重叠部分",
    "overlap_cut": "切除重叠部分",
    "outside_parent": "裁去超出上级的部分",
    "snap": "顶点对齐",
}


@dataclass(frozen=True)
class RepairOptions:
    """``max_area_m2``: the largest gap / overlap / outside part fixed automatically (m²);
    ``snap_m``: the snapping distance given to ``coverage_clean`` (metres)."""

    max_area_m2: float = 100.0
    snap_m: float = 0.05


@dataclass
class Repair:
    geoms_4490: np.ndarray  # per input row (rows that could not be used keep their input)
    changes: list[dict[str, Any]]  # one per changed feature: code, row, actions, areas before/after


def repairable(analysis: Analysis, options: RepairOptions | None = None) -> int:
    """How many of ``analysis``'s findings :func:`repair` would fix: invalid geometries made valid
    and gaps, overlaps, slivers and parts outside the parent up to ``options.max_area_m2`` (m²)."""
    options = options or RepairOptions()
    fixable = [f for f in analysis.findings_m if f.kind in _AREAL and f.rows and f.area_m2 <= options.max_area_m2]
    return int(np.count_nonzero(analysis.validity.repaired)) + len(fixable)


def repair(analysis: Analysis, original_4490: np.ndarray, options: RepairOptions | None = None) -> Repair:
    """Repair the features analysed in ``analysis``; ``original_4490`` are the input geometries."""
    options = options or RepairOptions()
    geoms = analysis.geoms_m.copy()
    actions: dict[int, list[str]] = defaultdict(list)
    for row in np.flatnonzero(analysis.validity.repaired):
        actions[int(row)].append("make_valid")

    def of(f) -> str:
        return f.detail.get("of", f.kind)

    areal = [f for f in analysis.findings_m if f.kind in _AREAL and f.rows]
    fixable = [f for f in areal if f.area_m2 <= options.max_area_m2]
    frozen = {r for f in areal if f.area_m2 > options.max_area_m2 and of(f) == "overlap" for r in f.rows}
    n = len(geoms)
    for f in fixable:
        rows = np.array([r for r in f.rows if r < n])  # live siblings (rows >= n) are never changed
        if not len(rows):
            continue
        if of(f) == "gap":
            border = shapely.length(shapely.intersection(shapely.boundary(f.geometry), geoms[rows]))
            win = int(rows[np.argmax(border)])
            geoms[win] = shapely.union(geoms[win], f.geometry)
            actions[win].append("gap")
        elif of(f) == "overlap" and len(rows) == 1:  # with a live sibling: the upload gives way
            geoms[rows[0]] = shapely.difference(geoms[rows[0]], f.geometry)
            actions[int(rows[0])].append("overlap_cut")
        elif of(f) == "overlap":
            rest = shapely.difference(geoms[rows], f.geometry)
            border = shapely.length(shapely.intersection(shapely.boundary(f.geometry), rest))
            win, lose = (int(rows[0]), int(rows[1])) if border[0] >= border[1] else (int(rows[1]), int(rows[0]))
            geoms[lose] = shapely.difference(geoms[lose], f.geometry)
            actions[win].append("overlap_kept")
            actions[lose].append("overlap_cut")
        elif of(f) == "outside_parent":
            child = int(rows[0])
            geoms[child] = shapely.intersection(geoms[child], analysis.parent_geoms_m[f.detail["parent"]])
            actions[child].append("outside_parent")

    # Snap each touched sibling group so shared edges match exactly again.
    level, parent = analysis.hierarchy.level, analysis.hierarchy.parent
    touched = {(level[r], parent[r]) for r in actions if level[r] >= 0}
    usable = ~shapely.is_missing(geoms)
    for lv, p in sorted(touched, key=str):
        group = np.flatnonzero(usable & (level == lv) & (parent == p))
        if frozen.intersection(group.tolist()) or not len(group):
            continue
        geoms[group] = shapely.coverage_clean(as_multipolygons(geoms[group]), snapping_distance=options.snap_m)
    geoms[usable] = as_multipolygons(geoms[usable])
    # np.array(None) below: numpy's stubs refuse a bare None
    bad = usable & ~shapely.is_valid(np.where(usable, geoms, np.array(None)))
    geoms[bad] = as_multipolygons(shapely.make_valid(geoms[bad], method="structure", keep_collapsed=False))

    before = np.where(usable, shapely.area(np.where(usable, analysis.geoms_m, np.array(None))), 0.0)
    after = np.where(usable, shapely.area(np.where(usable, geoms, np.array(None))), 0.0)
    changes = []
    for i in sorted(actions):
        changes.append(
            {
                "code": analysis.hierarchy.codes[i],
                "row": str(analysis.labels[i]),
                "actions": [_ACTION_ZH[a] for a in dict.fromkeys(actions[i])],
                "area_before_m2": round(float(before[i]), 3),
                "area_after_m2": round(float(after[i]), 3),
            }
        )
    out = np.asarray(original_4490, dtype=object).copy()
    out[usable] = to_storage(geoms[usable], analysis.crs)
    return Repair(out, changes)
