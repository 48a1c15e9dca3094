"""GeoJSON for the validation map: light outlines of the uploaded areas, full detail for defects.

Areas can be 10,000+ polygons, so their outlines are simplified by about a metre and rounded to
6 decimals (≈ 0.1 m) for display only. Defects keep their geometry (8 decimals, ≈ 1 mm), since a
sliver can be centimetres wide; a defect too small to see at county scale also gets a locator
point. Every text that a tooltip puts into the page (``innerHTML``) is HTML-escaped here.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape

from gridmap.config import STORAGE_SRID
from gridmap.levels import level_number
from gridmap.maps.labels import format_area, html_text, kind_label, severity_label

#: Outline simplification for display, in degrees (≈ 1 m at 34° N).
OUTLINE_TOLERANCE_DEG = 1e-5
OUTLINE_DECIMALS = 6
DEFECT_DECIMALS = 8
#: Defects whose bounding box is smaller than this (degrees, ≈ 100 m: one or two pixels at county
#: zoom) also get a locator point.
LOCATOR_BELOW_DEG = 1e-3
#: At most this many codes are listed per issue in a tooltip.
MAX_CODES_SHOWN = 20


def _text(value: Any) -> str | None:
    """A cell as text (None for null/NaN); integer-valued floats lose their ``.0``."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def to_storage_crs(areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``areas`` in EPSG:4490 (a frame without a CRS is taken to be in it already)."""
    if areas.crs is None or areas.crs.to_epsg() == STORAGE_SRID:
        return areas
    return areas.to_crs(STORAGE_SRID)


def area_collections(areas: gpd.GeoDataFrame) -> dict[int | None, dict]:
    """One GeoJSON FeatureCollection of display outlines per level (``None``: level unknown),
    shallowest level first. Properties: ``code``, ``name`` (both escaped). Null and empty geometries
    are left out."""
    areas = to_storage_crs(areas)
    geoms = areas.geometry.to_numpy()
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    geoms = shapely.simplify(geoms[keep], OUTLINE_TOLERANCE_DEG, preserve_topology=True)
    geoms = shapely.transform(geoms, lambda xy: np.round(xy, OUTLINE_DECIMALS))
    n = int(keep.sum())
    codes = areas["code"].to_numpy(dtype=object)[keep] if "code" in areas else [None] * n
    names = areas["name"].to_numpy(dtype=object)[keep] if "name" in areas else [None] * n
    levels = areas["level"].to_numpy(dtype=object)[keep] if "level" in areas else [None] * n

    out: dict[int | None, dict] = {}
    for geojson, code, name, level in zip(shapely.to_geojson(geoms), codes, names, levels):
        name_text, code_text = _text(name), _text(code)
        features = out.setdefault(level_number(level), {"type": "FeatureCollection", "features": []})["features"]
        features.append(
            {
                "type": "Feature",
                "id": len(features),
                "properties": {
                    "code": html_text(code_text) if code_text else None,
                    "name": html_text(name_text) if name_text else None,
                },
                "geometry": json.loads(geojson),
            }
        )
    return dict(sorted(out.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)))


def _round(coords: Any, decimals: int) -> Any:
    if isinstance(coords, (int, float)):
        return round(coords, decimals)
    return [_round(c, decimals) for c in coords]


def _rounded_geometry(geometry: dict) -> dict:
    if geometry["type"] == "GeometryCollection":
        return {
            "type": "GeometryCollection",
            "geometries": [_rounded_geometry(g) for g in geometry.get("geometries", [])],
        }
    return {"type": geometry["type"], "coordinates": _round(geometry["coordinates"], DEFECT_DECIMALS)}


def usable_geometry(geometry: Any) -> dict | None:
    """The issue's GeoJSON geometry when it can be drawn, else None (null, malformed, empty).
    A shapely geometry (or anything with ``__geo_interface__``) is accepted too."""
    if hasattr(geometry, "__geo_interface__"):
        geometry = geometry.__geo_interface__
    if not isinstance(geometry, dict) or "type" not in geometry:
        return None
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, shapely.errors.ShapelyError):
        return None
    if geom.is_empty:
        return None
    return geometry


def issue_properties(issue: dict) -> dict:
    """Tooltip properties of one issue: kind and severity (raw, for styling, and in Chinese),
    codes, formatted area and message, all escaped for ``innerHTML``."""
    codes = [str(c) for c in (issue.get("codes") or [])]
    shown = "、".join(codes[:MAX_CODES_SHOWN])
    if len(codes) > MAX_CODES_SHOWN:
        shown += f" 等 {len(codes)} 个"
    area = issue.get("area_m2")
    return {
        "kind": issue.get("kind"),
        "severity": issue.get("severity"),
        "kind_label": html_text(kind_label(issue.get("kind"))),
        "severity_label": html_text(severity_label(issue.get("severity"))),
        "codes": html_text(shown) or "—",
        "area": format_area(float(area) if isinstance(area, numbers.Real) and not isinstance(area, bool) else None),
        "message": html_text(str(issue.get("message") or "")),
    }


@dataclass
class IssueLayers:
    """Issues split for drawing: a FeatureCollection per kind (in first-seen order) and the
    issues that have no drawable geometry."""

    by_kind: dict[str, dict] = field(default_factory=dict)
    without_geometry: list[dict] = field(default_factory=list)


def drawn_geometries(geometry: dict) -> list[tuple[dict, bool]]:
    """What to draw for one usable issue geometry: (its rounded GeoJSON, False), plus
    (a locator point, True) when the defect is too small to see at county scale."""
    out = [(_rounded_geometry(geometry), False)]
    geom = shape(geometry)
    if geom.geom_type != "Point":
        minx, miny, maxx, maxy = geom.bounds
        if max(maxx - minx, maxy - miny) < LOCATOR_BELOW_DEG and all(map(math.isfinite, geom.bounds)):
            point = geom.representative_point()
            out.append(({"type": "Point", "coordinates": _round([point.x, point.y], DEFECT_DECIMALS)}, True))
    return out


def issue_layers(issues: list[dict]) -> IssueLayers:
    """Group issues by kind as GeoJSON features (full-detail geometry, plus a ``locator`` point
    for defects too small to see at county scale)."""
    layers = IssueLayers()
    for issue in issues:
        geometry = usable_geometry(issue.get("geometry"))
        if geometry is None:
            layers.without_geometry.append(issue)
            continue
        props = issue_properties(issue)
        features = layers.by_kind.setdefault(
            str(issue.get("kind") or ""), {"type": "FeatureCollection", "features": []}
        )["features"]
        for drawn, locator in drawn_geometries(geometry):
            features.append(
                {"type": "Feature", "id": len(features), "properties": {**props, "locator": locator}, "geometry": drawn}
            )
    return layers


def bounds_of(collections: list[dict]) -> tuple[float, float, float, float] | None:
    """(minx, miny, maxx, maxy) over every feature of ``collections``, None when there is none."""
    geoms = [shape(f["geometry"]) for fc in collections for f in fc["features"]]
    if not geoms:
        return None
    return tuple(shapely.total_bounds(np.array(geoms, dtype=object)).tolist())
