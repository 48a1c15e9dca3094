"""Where we measure: a projected CRS in metres suited to the data.

Areas and widths are computed in the CGCS2000 3-degree Gauss-Krüger zone (no zone prefix, EPSG
4534–4554) whose central meridian is nearest the data's centre; a county spans well under ±1.5°,
where the scale error stays below 0.04 % (areas below 0.08 %). Input that is already in a projected
metre CRS is measured in it directly.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyproj
import pyproj.aoi
import pyproj.database
import shapely

from gridmap.config import STORAGE_SRID
from gridmap.io.crs import gauss_kruger_epsg


def metric_crs(geoms_4490: np.ndarray) -> pyproj.CRS:
    """The GK zone for the centre of ``geoms_4490`` (lon/lat, EPSG:4490)."""
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms_4490)
    if not np.isfinite(xmin):
        return pyproj.CRS.from_epsg(gauss_kruger_epsg(114.0))
    try:
        return pyproj.CRS.from_epsg(gauss_kruger_epsg((xmin + xmax) / 2))
    except ValueError:  # outside China's GK zones: the UTM zone of the centre
        area = pyproj.aoi.AreaOfInterest(xmin, ymin, xmax, ymax)
        return pyproj.CRS.from_epsg(int(pyproj.database.query_utm_crs_info("WGS 84", area_of_interest=area)[0].code))


def to_metric(geoms_4490: np.ndarray, crs: pyproj.CRS) -> np.ndarray:
    """``geoms_4490`` reprojected to ``crs`` (None stays None)."""
    return _transform(geoms_4490, pyproj.CRS.from_epsg(STORAGE_SRID), crs)


def to_storage(geoms: np.ndarray, crs: pyproj.CRS) -> np.ndarray:
    """``geoms`` in ``crs`` reprojected to EPSG:4490 (None stays None)."""
    return _transform(geoms, crs, pyproj.CRS.from_epsg(STORAGE_SRID))


#: Coordinates per thread below which reprojection stays on one thread.
_CHUNK = 100_000
_MAX_THREADS = 4


def _transform(geoms: np.ndarray, src: pyproj.CRS, dst: pyproj.CRS) -> np.ndarray:
    geoms = np.asarray(geoms, dtype=object)
    transformer = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    present = ~shapely.is_missing(geoms)
    out = geoms.copy()
    out[present] = shapely.transform(geoms[present], lambda xy: _transform_xy(transformer, xy))
    return out


def _transform_xy(transformer: pyproj.Transformer, xy: np.ndarray) -> np.ndarray:
    """``xy`` (n × 2) through ``transformer``; large arrays in slices on several threads (PROJ
    releases the GIL, and a pyproj Transformer is thread-safe): the same numbers, sooner."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = min(_MAX_THREADS, cpus, len(xy) // _CHUNK)
    if threads <= 1:
        return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
    out = np.empty_like(xy)

    def part(lo: int, hi: int) -> None:
        out[lo:hi, 0], out[lo:hi, 1] = transformer.transform(xy[lo:hi, 0], xy[lo:hi, 1])

    cuts = np.linspace(0, len(xy), threads + 1).astype(int).tolist()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(part, cuts[:-1], cuts[1:]))
    return out
