"""Geometry validity: empty, non-polygon and invalid features, and their repair by make_valid.

Checked in EPSG:4490, the CRS the geometry is stored in (PostGIS checks ``ST_IsValid`` there too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import shapely

from gridmap.geometry.shapes import as_multipolygons

# GEOS's reasons (shapely.is_valid_reason) in the words a county GIS clerk uses.
_REASONS_ZH = {
    "Self-intersection": "边界自相交",
    "Ring Self-intersection": "环自相交",
    "Too few points in geometry component": "点数过少",
    "Hole lies outside shell": "内环位于外环之外",
    "Holes are nested": "内环相互嵌套",
    "Interior is disconnected": "内部不连通",
    "Nested shells": "外环相互嵌套",
    "Duplicate Rings": "重复的环",
    "Invalid Coordinate": "坐标无效",
    "Ring is not closed": "环未闭合",
}
_LOCATION = re.compile(r"\[\s*([-+0-9.eE]+)\s+([-+0-9.eE]+)\s*\]")


@dataclass
class Validity:
    """Per-feature outcome. ``usable`` holds each feature as a valid MultiPolygon (repaired where
    needed) or None when nothing polygonal is left; ``problem`` is a Chinese description for the
    features that need a finding (None for good ones); ``location`` a Point (EPSG:4490) or None."""

    usable: np.ndarray
    problem: np.ndarray
    location: np.ndarray
    repaired: np.ndarray  # bool: usable differs from the input (make_valid or polygon extraction)


def check_validity(geoms: np.ndarray) -> Validity:
    """Classify and repair ``geoms`` (any geometry types, EPSG:4490)."""
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    problem = np.full(n, None, dtype=object)
    location = np.full(n, None, dtype=object)
    repaired = np.zeros(n, dtype=bool)

    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    types = shapely.get_type_id(geoms)
    polygonal = np.isin(types, [shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON])
    problem[missing] = "几何为空"

    valid = np.zeros(n, dtype=bool)
    valid[~missing] = shapely.is_valid(geoms[~missing])
    invalid = ~missing & ~valid
    for i in np.flatnonzero(invalid):  # only the (few) invalid features
        reason = shapely.is_valid_reason(geoms[i])
        words = reason.split("[")[0].strip()
        problem[i] = _REASONS_ZH.get(words, words)
        if m := _LOCATION.search(reason):
            location[i] = shapely.Point(float(m.group(1)), float(m.group(2)))

    other = ~missing & ~polygonal & ~invalid
    # np.array(None): numpy's stubs refuse a bare None
    usable = np.where(missing, np.array(None), geoms)
    usable[invalid] = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
    # Rebuild only what is not already a MultiPolygon (most files are: this stays cheap at 1M rows).
    single = polygonal & valid & (types == shapely.GeometryType.POLYGON)
    if single.any():
        usable[single] = shapely.multipolygons(geoms[single][:, None])
    usable[invalid | other] = as_multipolygons(usable[invalid | other])
    for i in np.flatnonzero(other):
        kind = shapely.get_type_id(geoms[i])
        name = shapely.GeometryType(kind).name.lower()
        problem[i] = f"不是面要素（{name}）" if usable[i] is None else f"包含非面部分（{name}），只使用其中的面"
    repaired[:] = (invalid | other) & ~shapely.is_missing(usable)
    return Validity(usable=usable, problem=problem, location=location, repaired=repaired)
