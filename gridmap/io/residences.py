"""Residence (building) points with household counts, for the field-of-view figures.

Any vector format GDAL reads (GeoPackage, Shapefile, GeoJSON, CSV with a geometry, …), read with
pyogrio. Each feature is a point (a polygon, e.g. a building outline, counts at its
representative point); its households come from the column ``户数`` / ``households`` (or
``住户数``, ``户``, ``hh``). Coordinates are returned in EPSG:4490 (a file without a CRS is taken
as EPSG:4490).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyogrio
import shapely

from gridmap.config import STORAGE_SRID
from gridmap.errors import GridmapError

#: Household-count columns, in order of preference (case-insensitive).
HOUSEHOLD_COLUMNS = ("户数", "households", "住户数", "户", "hh")


class ResidencesReadError(GridmapError):
    """``unreadable`` or ``no_households_column``: the residences file cannot be used."""

    status = 422


def read_residences(path: str | Path, layer: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(points in EPSG:4490, households per point as float64) of a residences file. Features
    without a geometry are dropped; a missing or negative count counts 0."""
    try:
        frame = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:  # DataSourceError, DataLayerError, FieldError, …: all "cannot read"
        raise ResidencesReadError(
            "unreadable", f"无法读取住户点文件 {Path(path).name}：{exc}", {"path": str(path)}
        ) from None
    columns = {str(c).strip().lower(): c for c in frame.columns if c != "geometry"}
    name = next((columns[c] for c in HOUSEHOLD_COLUMNS if c in columns), None)
    if name is None:
        raise ResidencesReadError(
            "no_households_column",
            f"住户点文件 {Path(path).name} 没有户数列：请提供“户数”或“households”列。",
            {"columns": [str(c) for c in frame.columns if c != "geometry"]},
        )
    if frame.crs is not None and frame.crs.to_epsg() != STORAGE_SRID:
        frame = frame.to_crs(STORAGE_SRID)
    geoms = frame.geometry.to_numpy()
    keep = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    geoms = geoms[keep]
    counts = np.asarray(frame[name].apply(lambda v: _number(v)).to_numpy(dtype="float64"), dtype="float64")[keep]
    points = np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms))
    return np.asarray(points, dtype=object), np.maximum(np.nan_to_num(counts, nan=0.0), 0.0)


def _number(value: object) -> float:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return float("nan")
