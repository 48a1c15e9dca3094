"""Planting known defects into a clean subtree of the sample county, for the validation tests.

Every planter works on a GeoDataFrame in EPSG:4526 (GK zone 38, metres; canonical columns, all
levels of one township), changes one or two features and returns what a correct validator must
report: kind, codes and area in m² (measured here, independently of gridmap.geometry).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

METRIC = 4526


@dataclass
class Expected:
    kind: str
    codes: set[str]
    area_m2: float


def _row(gdf: gpd.GeoDataFrame, code: str) -> int:
    return int(np.flatnonzero(gdf["code"].to_numpy() == code)[0])


def _set_geom(gdf: gpd.GeoDataFrame, code: str, geom) -> None:
    gdf.loc[gdf.index[_row(gdf, code)], "geometry"] = geom


def _geom(gdf: gpd.GeoDataFrame, code: str):
    return gdf.geometry.iloc[_row(gdf, code)]


def _lines(geom, min_length: float) -> list:
    """The merged line pieces of ``geom`` at least ``min_length`` long."""
    lines = [p for p in shapely.get_parts(shapely.get_parts(geom)) if p.geom_type == "LineString" and not p.is_empty]
    merged = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(lines))) if lines else []
    return [p for p in merged if p.length >= min_length]


def leaves(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gdf[gdf["level"] == 4]


def shared_edge(gdf: gpd.GeoDataFrame, skip: set[str], min_length: float = 80.0):
    """Two sibling micro-grids (codes not in ``skip``) with a straight-ish shared border of at
    least ``min_length`` m, and that border as a LineString."""
    leaf = leaves(gdf)
    for _parent, group in leaf.groupby("parent_code"):
        codes, geoms = group["code"].to_numpy(), group.geometry.to_numpy()
        for i in range(len(codes)):
            for j in range(i + 1, len(codes)):
                if codes[i] in skip or codes[j] in skip:
                    continue
                pieces = _lines(shapely.intersection(geoms[i].boundary, geoms[j].boundary), min_length)
                if pieces:
                    return codes[i], codes[j], max(pieces, key=lambda p: p.length)
    raise LookupError("no shared edge found")


def plant_gap(gdf, skip, radius=10.0) -> Expected:
    """Punch a round hole of ``radius`` m inside one micro-grid."""
    code = next(c for c in leaves(gdf)["code"] if c not in skip)
    g = _geom(gdf, code)
    centre = shapely.maximum_inscribed_circle(g).coords[0]
    hole = shapely.Point(centre).buffer(radius, quad_segs=16)
    assert g.contains(hole)
    _set_geom(gdf, code, g.difference(hole))
    return Expected("gap", {code}, hole.area)


def plant_overlap(gdf, skip, radius=15.0) -> Expected:
    a, b, edge = shared_edge(gdf, skip)
    disk = edge.interpolate(0.5, normalized=True).buffer(radius, quad_segs=16)
    # The disk overlaps a as well, so the union dissolves instead of touching along a noisy edge.
    grown = _geom(gdf, a).union(disk.intersection(_geom(gdf, a).union(_geom(gdf, b))))
    _set_geom(gdf, a, grown)
    return Expected("overlap", {a, b}, grown.intersection(_geom(gdf, b)).area)


def plant_sliver(gdf, skip, width=0.2) -> Expected:
    """Push one micro-grid ``width`` m into its neighbour along their whole shared border."""
    a, b, edge = shared_edge(gdf, skip)
    strip = edge.buffer(width, cap_style="flat")
    grown = _geom(gdf, a).union(strip.intersection(_geom(gdf, a).union(_geom(gdf, b))))
    _set_geom(gdf, a, grown)
    return Expected("sliver", {a, b}, grown.intersection(_geom(gdf, b)).area)


def plant_outside(gdf, skip, radius=20.0) -> Expected:
    """Bulge a micro-grid on the township's outer border out of the township (and its grid)."""
    township = gdf.geometry[gdf["level"] == 1].iloc[0]
    for code, g, parent in zip(leaves(gdf)["code"], leaves(gdf).geometry, leaves(gdf)["parent_code"]):
        if code in skip:
            continue
        pieces = _lines(shapely.intersection(g.boundary, township.boundary), 3 * radius)
        if pieces:
            bulge = max(pieces, key=lambda p: p.length).interpolate(0.5, normalized=True).buffer(radius, quad_segs=16)
            extra = bulge.difference(township)
            _set_geom(gdf, code, g.union(extra))
            return Expected("outside_parent", {code, parent}, extra.area)
    raise LookupError("no micro-grid on the border")


def plant_duplicate(gdf, skip) -> Expected:
    a, b, _ = shared_edge(gdf, skip, min_length=1.0)
    gdf.loc[gdf.index[_row(gdf, a)], "code"] = b
    both = gdf.geometry[gdf["code"] == b]
    return Expected("duplicate_code", {b}, float(both.area.sum()))


def plant_wrong_prefix(gdf, skip) -> Expected:
    """Give a micro-grid a code under another grid while its 上级编码 still names its own grid."""
    leaf = leaves(gdf)
    grids = sorted(gdf.loc[gdf["level"] == 3, "code"])
    code, parent = next((c, p) for c, p in zip(leaf["code"], leaf["parent_code"]) if c not in skip)
    other = next(g for g in grids if g != parent)
    new = other + "999"
    area = _geom(gdf, code).area
    gdf.loc[gdf.index[_row(gdf, code)], "code"] = new
    return Expected("bad_code", {new, parent}, area)


def plant_self_intersection(gdf, skip) -> Expected:
    """A zero-width spike in one micro-grid's ring: invalid, but enclosing no area."""
    code = next(c for c in leaves(gdf)["code"] if c not in skip)
    g = _geom(gdf, code)
    poly = max(g.geoms, key=lambda p: p.area) if g.geom_type == "MultiPolygon" else g
    ring = list(poly.exterior.coords)
    k = len(ring) // 2
    (x0, y0), (x1, y1) = ring[k], ring[k + 1]
    tip = (x0 + (y1 - y0) * 2, y0 - (x1 - x0) * 2)  # a spike sticking out of the ring
    spiked = shapely.Polygon(ring[: k + 1] + [tip] + ring[k:], [i.coords for i in poly.interiors])
    assert not spiked.is_valid
    _set_geom(gdf, code, spiked)
    return Expected("invalid_geometry", {code}, g.area)


PLANTERS = {
    "gap": plant_gap,
    "overlap": plant_overlap,
    "sliver": plant_sliver,
    "outside_parent": plant_outside,
    "duplicate_code": plant_duplicate,
    "bad_code": plant_wrong_prefix,
    "invalid_geometry": plant_self_intersection,
}
