"""Small vectorized helpers on shapely geometry arrays (no Python loops over geometries)."""

from __future__ import annotations

import numpy as np
import shapely

_POLYGON = shapely.GeometryType.POLYGON
_POLYGONAL = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)


def polygon_parts(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every polygon inside ``geoms`` (through multi-parts and collections; lines and points are
    dropped) and the index of the geometry each came from."""
    geoms = np.asarray(geoms, dtype=object)
    index = np.arange(len(geoms))
    parts, owner = geoms, index
    while True:
        types = shapely.get_type_id(parts)
        nested = (types >= shapely.GeometryType.MULTIPOINT) & ~shapely.is_empty(parts)
        if not nested.any():
            break
        sub, sub_idx = shapely.get_parts(parts[nested], return_index=True)
        parts = np.concatenate([parts[~nested], sub])
        owner = np.concatenate([owner[~nested], owner[nested][sub_idx]])
    keep = (shapely.get_type_id(parts) == _POLYGON) & ~shapely.is_empty(parts)
    return parts[keep], owner[keep]


def as_multipolygons(geoms: np.ndarray) -> np.ndarray:
    """Each geometry's polygonal content as one MultiPolygon; None where there is none."""
    geoms = np.asarray(geoms, dtype=object)
    parts, owner = polygon_parts(geoms)
    if not len(parts):
        return np.full(len(geoms), None, dtype=object)
    return as_multipolygons_from(parts, owner, len(geoms))


def interior_holes(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The holes of every polygon in ``geoms`` as polygons, with the index of their geometry."""
    parts, owner = polygon_parts(geoms)
    counts = shapely.get_num_interior_rings(parts)
    if not counts.sum():
        return np.empty(0, dtype=object), np.empty(0, dtype=int)
    which = np.repeat(np.arange(len(parts)), counts)
    ring_no = np.concatenate([np.arange(c) for c in counts if c])
    rings = shapely.get_interior_ring(parts[which], ring_no)
    return shapely.polygons(rings), owner[which]


def width_m(geoms: np.ndarray, tolerance: float | np.ndarray) -> np.ndarray:
    """Width of each polygon: the diameter of its largest inscribed circle, found to within
    ``tolerance`` (CRS units, scalar or one per polygon)."""
    geoms = np.asarray(geoms, dtype=object)
    if not len(geoms):
        return np.empty(0)
    return 2.0 * shapely.length(shapely.maximum_inscribed_circle(geoms, tolerance=tolerance))


def without_specks(geoms: np.ndarray, min_area: float) -> np.ndarray:
    """``geoms`` as MultiPolygons without the parts and holes smaller than ``min_area`` (CRS
    units squared); None where nothing is left."""
    parts, owner = polygon_parts(geoms)
    keep = shapely.area(parts) >= min_area
    parts, owner = parts[keep], owner[keep]
    cleaned = []
    for part in parts:  # only called on the few unions with unmatched edges
        holes = [h for h in part.interiors if shapely.area(shapely.Polygon(h)) >= min_area]
        cleaned.append(part if len(holes) == len(part.interiors) else shapely.Polygon(part.exterior, holes))
    if not cleaned:
        return np.full(len(geoms), None, dtype=object)
    return as_multipolygons_from(np.array(cleaned, dtype=object), owner, len(geoms))


def as_multipolygons_from(parts: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """MultiPolygons of ``parts`` grouped by ``owner`` (0..n-1); None where an owner has none."""
    out = np.full(n, None, dtype=object)
    order = np.argsort(owner, kind="stable")  # shapely wants the part indices sorted
    parts, owner = parts[order], owner[order]
    owners = np.unique(owner)
    out[owners] = shapely.multipolygons(parts, indices=np.searchsorted(owners, owner))
    return out
