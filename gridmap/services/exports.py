"""Bulk exports of the live data: the areas of one level with their figures, and the cameras, as
GeoPackage, GeoParquet, zipped Shapefile, CSV or XLSX (``GET /api/v1/exports/…`` and
``gridmap export areas|cameras``: the same function, the same file).

The caller passes one snapshot connection (REPEATABLE READ): the rows, their figures and the data
revision named in the file name are of the same moment. Geometric formats are in EPSG:4490 by
default, or (``crs="gk"``) in the data's CGCS2000 3° Gauss-Krüger zone
(:func:`gridmap.geometry.metric.metric_crs` of the extent of the counties in the database: the zone
whose central meridian is nearest its centre, the one a county's ``area_m2`` is measured in; e.g.
EPSG:4547 for the sample county). The zone is the county's, never the part exported's: 鹿邑县
straddles 115.5°E, and two townships on either side still come in the same CRS. The writers
are :mod:`gridmap.io.exports`; the SQL is :mod:`gridmap.db.exports`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
from sqlalchemy import Connection

from gridmap.config import STORAGE_SRID
from gridmap.db import areas as areas_db
from gridmap.db import exports as exports_db
from gridmap.db.revisions import current_revision
from gridmap.errors import GridmapError
from gridmap.geometry.metric import metric_crs
from gridmap.io.exports import AREA_COLUMNS, CAMERA_COLUMNS, FORMATS, Written, write_export
from gridmap.levels import LEVEL_BY_KEY, LEVELS, level_key, level_name

#: What ``crs`` may be: EPSG:4490 (default) or the data's Gauss-Krüger zone.
CRS_CHOICES = ("4490", "gk")


class ExportRefused(GridmapError):
    """An export asked for something that cannot be (code, Chinese message; 400, 404 for an area)."""

    status = 400
    statuses = {"area_not_found": 404}


@dataclass(frozen=True)
class Export:
    """A written export: where, what to call it, its media type, how many rows, its CRS (EPSG code,
    None for tables), the data revision and, for Shapefile, the text encoding."""

    path: Path
    file_name: str
    media_type: str
    rows: int
    epsg: int | None
    revision: int
    encoding: str | None = None


def check_format(fmt: str) -> str:
    key = fmt.strip().lower()
    if key not in FORMATS:
        raise ExportRefused(
            "unknown_format",
            f"format 只能是 {' / '.join(FORMATS)}，而不是 {fmt!r}。",
            {"format": fmt, "allowed": list(FORMATS)},
        )
    return key


def check_crs(crs: str | None, fmt: str) -> str:
    """``4490`` (also ``EPSG:4490``, the default) or ``gk``; 400 ``invalid_crs`` otherwise, and
    ``crs_not_applicable`` for ``gk`` with CSV or XLSX (tables carry no geometry: cameras' lon/lat
    are always EPSG:4490)."""
    key = (crs or "4490").strip().lower().removeprefix("epsg:")
    if key not in CRS_CHOICES:
        raise ExportRefused(
            "invalid_crs",
            f"crs 只能是 4490（CGCS2000 经纬度，默认）或 gk（数据所在的 CGCS2000 高斯-克吕格 3° 分带），而不是 {crs!r}。",
            {"crs": crs, "allowed": list(CRS_CHOICES)},
        )
    if key == "gk" and not FORMATS[fmt].geometry:
        raise ExportRefused(
            "crs_not_applicable",
            f"{FORMATS[fmt].label} 不含几何，不能选择坐标系：crs=gk 只用于 gpkg、parquet、shp（摄像头的经纬度列总是 EPSG:4490）。",
            {"crs": crs, "format": fmt},
        )
    return key


def parse_level(value: str | int) -> int:
    """A level number (0–4) or key (county … microgrid); 400 ``invalid_level`` otherwise."""
    text = str(value).strip().lower()
    if text in LEVEL_BY_KEY:
        return LEVEL_BY_KEY[text].number
    if text.isdigit() and int(text) < len(LEVELS):
        return int(text)
    raise ExportRefused(
        "invalid_level",
        f"层级只能是 0 县、1 乡镇/街道、2 村/社区、3 网格、4 微网格（或 {', '.join(LEVEL_BY_KEY)}），而不是 {value!r}。",
        {"level": value},
    )


def _area_not_found(code: str) -> ExportRefused:
    return ExportRefused("area_not_found", f"没有编码为 {code} 的区域：请检查编码。", {"code": code})


def _where(conn: Connection, code: str | None) -> str:
    """The file name's place: the code asked for, else the area the data adds up to (the one
    county, or their city or province), else ``all``."""
    return code or areas_db.screen_root(conn) or "all"


def _epsg(conn: Connection, frame: gpd.GeoDataFrame, crs: str, fmt: str) -> int | None:
    """The EPSG code of the file: None for tables, 4490, or the Gauss-Krüger zone of the whole
    data's extent (so every export of a county, whatever part of it, is in the same zone)."""
    if not FORMATS[fmt].geometry:
        return None
    if crs == "gk":
        extent = exports_db.data_extent(conn)
        geoms = frame.geometry.to_numpy() if extent is None else np.array([extent], dtype=object)
        return int(metric_crs(geoms).to_epsg() or 0) or None
    return STORAGE_SRID


def _file_name(stem: str, epsg: int | None, revision: int, fmt: str) -> str:
    crs_part = f"_epsg{epsg}" if epsg not in (None, STORAGE_SRID) else ""
    return f"{stem}{crs_part}_r{revision}{FORMATS[fmt].suffix}"


def _write(
    conn: Connection, frame: gpd.GeoDataFrame, columns, fmt: str, crs: str, out: Path, layer: str, geometry_type: str
) -> tuple[Written, int | None]:
    epsg = _epsg(conn, frame, crs, fmt)
    written = write_export(frame, columns, fmt, out, crs=epsg or STORAGE_SRID, layer=layer, geometry_type=geometry_type)
    return written, epsg


def export_areas(
    conn: Connection, *, level: int, parent: str | None = None, fmt: str = "gpkg", crs: str = "4490", out: Path
) -> Export:
    """Write the live areas of ``level`` (below ``parent`` when given) with their figures to ``out``.

    Refusals (:class:`ExportRefused`): ``unknown_format``, ``invalid_crs``, ``crs_not_applicable``,
    ``area_not_found`` (404: no live ``parent``), ``level_not_below_parent`` (``level`` is not
    below ``parent``'s)."""
    fmt = check_format(fmt)
    crs = check_crs(crs, fmt)
    if parent is not None:
        parent_level = exports_db.area_level(conn, parent)
        if parent_level is None:
            raise _area_not_found(parent)
        if level <= parent_level:
            raise ExportRefused(
                "level_not_below_parent",
                f"区域 {parent} 是{level_name(parent_level)}（层级 {parent_level}），"
                f"level 须是它下面的层级（大于 {parent_level}），而不是 {level}。",
                {"parent": parent, "parent_level": parent_level, "level": level},
            )
    revision = current_revision(conn)
    frame = exports_db.export_areas(conn, level, parent)
    key = level_key(level)
    written, epsg = _write(conn, frame, AREA_COLUMNS, fmt, crs, out, key, "MultiPolygon")
    stem = f"areas_{_where(conn, parent)}_{key}"
    return Export(
        out,
        _file_name(stem, epsg, revision, fmt),
        FORMATS[fmt].media_type,
        written.rows,
        epsg,
        revision,
        written.encoding,
    )


def export_cameras(
    conn: Connection,
    *,
    area: str | None = None,
    statuses: Sequence[str] | None = None,
    online: bool | None = None,
    operator: str | None = None,
    fmt: str = "gpkg",
    crs: str = "4490",
    out: Path,
) -> Export:
    """Write the cameras (in ``area`` or below when given; filters as ``/api/v1/cameras``, default
    every camera not removed) to ``out``. Refusals as :func:`export_areas`."""
    fmt = check_format(fmt)
    crs = check_crs(crs, fmt)
    if area is not None and not areas_db.area_exists(conn, area):
        raise _area_not_found(area)
    revision = current_revision(conn)
    frame = exports_db.export_cameras(conn, statuses=statuses, online=online, operator=operator, area=area)
    written, epsg = _write(conn, frame, CAMERA_COLUMNS, fmt, crs, out, "cameras", "Point")
    return Export(
        out,
        _file_name(f"cameras_{_where(conn, area)}", epsg, revision, fmt),
        FORMATS[fmt].media_type,
        written.rows,
        epsg,
        revision,
        written.encoding,
    )
