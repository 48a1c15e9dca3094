"""Bulk export files of the live data: a table of areas or cameras (one row each, with their
figures) written as GeoPackage, GeoParquet, zipped Shapefile, CSV or XLSX.

Rows come in as a GeoDataFrame in EPSG:4490 (CGCS2000 lon/lat, degrees) whose columns are the
``key`` of :data:`AREA_COLUMNS` / :data:`CAMERA_COLUMNS`; each writer turns them into its format's
types and names:

- **GeoPackage** (GDAL, via pyogrio): one layer, MultiPolygon (areas) or Point (cameras), in the
  CRS asked for; its ``gpkg_spatial_ref_sys`` row names the EPSG code (4490, or the Gauss-Krüger
  zone such as 4547). ``last_seen`` is a DateTime in UTC (the GeoPackage rule), ``installed_on``
  ISO text.
- **GeoParquet** (geopandas + pyarrow, GeoParquet 1.x, WKB): the CRS as PROJJSON with its EPSG id;
  ``installed_on`` a date, ``last_seen`` a timestamp (+08:00).
- **Shapefile**, zipped as ``<stem>.shp.zip`` (.shp .shx .dbf .prj .cpg; GDAL and QGIS open a
  ``.shp.zip`` directly): field names of at most 10 ASCII bytes (the ``shp`` name of each column,
  see :func:`shapefile_fields`), attribute text in **GBK** with a ``.cpg`` saying ``GBK`` (what
  Chinese desktop GIS expect). When some text cannot be written in GBK (a rare character outside
  it, e.g. 𠀀), the *whole* file is written in UTF-8 and the ``.cpg`` says ``UTF-8``: never a
  crash, never a ``?`` in a name. Dates and times are ISO 8601 text (the DBF has no time of day).
  The ``.prj`` is GDAL's ESRI WKT, which GDAL and QGIS resolve back to the EPSG code.
- **CSV**: UTF-8 with a BOM (Excel opens Chinese names right), CRLF, a header row of the keys;
  text cells (codes, ids, names) quoted, numbers bare, rates as fractions; text that would start
  a formula gets an apostrophe (:func:`gridmap.io.cells.safe_text`). No geometry: cameras carry
  ``lon``/``lat`` (EPSG:4490 degrees, 7 decimals), areas only their figures.
- **XLSX** (openpyxl): one sheet, a header row of the Chinese names, codes and ids as text cells
  (an 18-digit code never becomes a float), rates as fractions shown as percentages, dates as date
  cells, ``last_seen`` as ISO 8601 text with its offset.

Empty tables write valid, empty files.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from gridmap.config import STORAGE_SRID
from gridmap.io.cells import safe_text

Kind = Literal["text", "int", "float", "rate", "bool", "date", "datetime"]

#: Times are shown in China time.
CHINA_TIME = "Asia/Shanghai"


@dataclass(frozen=True)
class Column:
    key: str  # column name in GeoPackage, GeoParquet and CSV
    header: str  # the XLSX header (Chinese)
    shp: str  # the Shapefile (DBF) field name: ASCII, at most 10 bytes
    kind: Kind


#: Areas with their figures: the properties of ``/api/v1/areas`` (``area`` + ``area_stats``).
AREA_COLUMNS: tuple[Column, ...] = (
    Column("code", "编码", "code", "text"),
    Column("name", "名称", "name", "text"),
    Column("level", "层级", "level", "int"),
    Column("level_name", "层级名称", "level_name", "text"),
    Column("parent_code", "上级编码", "parent", "text"),
    Column("kind", "类型", "kind", "text"),
    Column("households", "户数", "households", "int"),
    Column("population", "人口", "population", "int"),
    Column("worker_name", "网格员", "worker", "text"),
    Column("area_m2", "面积（平方米）", "area_m2", "float"),
    Column("planned", "计划数", "planned", "int"),
    Column("installed", "已安装", "installed", "int"),
    Column("online", "在线", "online", "int"),
    Column("rollout_rate", "安装率", "rollout_r", "rate"),
    Column("online_rate", "上云率", "online_r", "rate"),
)

#: Cameras: the properties of ``/api/v1/cameras`` plus lon/lat (EPSG:4490 degrees).
CAMERA_COLUMNS: tuple[Column, ...] = (
    Column("device_id", "设备编码", "device_id", "text"),
    Column("name", "名称", "name", "text"),
    Column("status", "状态", "status", "text"),
    Column("online", "在线", "online", "bool"),
    Column("operator", "运营商", "operator", "text"),
    Column("area_code", "所在区域编码", "area_code", "text"),
    Column("installed_on", "安装日期", "installed", "date"),
    Column("last_seen", "最后在线时间", "last_seen", "datetime"),
    Column("place_type", "点位类型", "place_type", "text"),
    Column("lon", "经度", "lon", "float"),
    Column("lat", "纬度", "lat", "float"),
)


@dataclass(frozen=True)
class ExportFormat:
    key: str
    label: str
    suffix: str  # of the file name
    media_type: str
    geometry: bool  # holds geometries (and so a CRS)


FORMATS: dict[str, ExportFormat] = {
    f.key: f
    for f in (
        ExportFormat("gpkg", "GeoPackage", ".gpkg", "application/geopackage+sqlite3", True),
        ExportFormat("parquet", "GeoParquet", ".parquet", "application/vnd.apache.parquet", True),
        ExportFormat("shp", "Shapefile（zip）", ".shp.zip", "application/zip", True),
        ExportFormat("csv", "CSV", ".csv", "text/csv; charset=utf-8", False),
        ExportFormat(
            "xlsx", "XLSX", ".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", False
        ),
    )
}

#: Encodings of the Shapefile's text: GBK, else (something GBK cannot hold) UTF-8.
SHAPEFILE_ENCODINGS = ("GBK", "UTF-8")


def format_of_path(path: str | Path) -> str | None:
    """The export format a file name asks for by its ending (``.shp.zip`` and ``.zip`` are
    Shapefile), or None."""
    name = str(path).lower()
    if name.endswith(".zip"):
        return "shp"
    for key, fmt in FORMATS.items():
        if name.endswith(fmt.suffix) or (key == "parquet" and name.endswith(".geoparquet")):
            return key
    return None


def shapefile_fields(columns: Sequence[Column]) -> dict[str, str]:
    """{key: Shapefile field name} of ``columns`` (the mapping documented in the README)."""
    return {c.key: c.shp for c in columns}


@dataclass(frozen=True)
class Written:
    path: Path
    rows: int
    encoding: str | None = None  # the Shapefile's text encoding (GBK or UTF-8)


def write_export(
    frame: gpd.GeoDataFrame,
    columns: Sequence[Column],
    fmt: str,
    out: str | Path,
    *,
    crs: int = STORAGE_SRID,
    layer: str = "export",
    geometry_type: str = "MultiPolygon",
) -> Written:
    """Write ``frame`` (EPSG:4490, the ``columns``' keys) as ``fmt`` to ``out``; geometric formats
    in EPSG ``crs`` (4490 or a projected code, e.g. a CGCS2000 Gauss-Krüger zone) with ``layer``
    as the layer (and, for Shapefile, member) name and ``geometry_type`` ("MultiPolygon" or
    "Point"). Raises ``ValueError`` for an unknown format."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    out = Path(out)
    if FORMATS[fmt].geometry:
        geo = frame if crs == STORAGE_SRID else frame.to_crs(crs)
        if fmt == "gpkg":
            _write_gpkg(geo, columns, out, layer, geometry_type)
        elif fmt == "parquet":
            _write_parquet(geo, columns, out)
        else:
            return Written(out, len(frame), _write_shapefile_zip(geo, columns, out, layer, geometry_type))
    elif fmt == "csv":
        _write_csv(frame, columns, out)
    else:
        _write_xlsx(frame, columns, out, layer)
    return Written(out, len(frame))


# ------------------------------------------------------------------------------------ values


def _text(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), None)


def _china_times(values: pd.Series) -> pd.Series:
    times = pd.to_datetime(values, utc=True)
    return times.dt.tz_convert(CHINA_TIME)


def _iso_dates(values: pd.Series) -> pd.Series:
    return values.map(lambda v: None if v is None or pd.isna(v) else pd.Timestamp(v).date().isoformat())


def _iso_times(values: pd.Series) -> pd.Series:
    times = _china_times(values)
    return pd.Series(
        [None if pd.isna(t) else t.isoformat(timespec="seconds") for t in times], index=values.index, dtype=object
    )


def _typed(frame: pd.DataFrame, columns: Sequence[Column], *, times: Literal["native", "text"]) -> pd.DataFrame:
    """The ``columns`` of ``frame`` with one dtype per kind: text as object (None for missing),
    integers as nullable Int64, rates and floats as float64, booleans as bool; dates and times
    native (``times="native"``: dates as ``datetime.date``, times tz-aware in China time) or as
    ISO 8601 text."""
    out: dict[str, Any] = {}
    for c in columns:
        values = frame[c.key] if c.key in frame else pd.Series([None] * len(frame), index=frame.index, dtype=object)
        if c.kind == "text":
            out[c.key] = _text(values)
        elif c.kind == "int":
            out[c.key] = pd.array(values, dtype="Int64")
        elif c.kind in ("float", "rate"):
            out[c.key] = pd.to_numeric(values, errors="coerce").astype("float64")
        elif c.kind == "bool":
            out[c.key] = values.fillna(False).astype(bool)
        elif c.kind == "date":
            out[c.key] = (
                _iso_dates(values) if times == "text" else values.map(lambda v: None if pd.isna(v) else v)
            ).astype(object)
        else:
            out[c.key] = _iso_times(values) if times == "text" else _china_times(values)
    return pd.DataFrame(out, index=frame.index)


def _with_geometry(frame: gpd.GeoDataFrame, columns: Sequence[Column], times: Literal["native", "text"]):
    return gpd.GeoDataFrame(
        _typed(frame, columns, times=times), geometry=frame.geometry.to_numpy(), crs=frame.crs
    ).reset_index(drop=True)


# ------------------------------------------------------------------------------------ writers


def _write_gpkg(frame: gpd.GeoDataFrame, columns: Sequence[Column], out: Path, layer: str, geometry_type: str) -> None:
    table = _with_geometry(frame, columns, "native")
    # GPKG has a date type, but pyogrio writes Python dates as text: ISO text it is, on purpose.
    # Its DATETIME must be UTC ("…Z", GeoPackage 1.2 §1.1.1.1.1): GDAL warns on any other offset.
    for c in columns:
        if c.kind == "date":
            table[c.key] = _iso_dates(table[c.key])
        elif c.kind == "datetime":
            table[c.key] = table[c.key].dt.tz_convert("UTC")
    out.unlink(missing_ok=True)
    pyogrio.write_dataframe(
        table,
        out,
        layer=layer,
        driver="GPKG",
        geometry_type=geometry_type,
        promote_to_multi=geometry_type.startswith("Multi"),
    )


def _write_parquet(frame: gpd.GeoDataFrame, columns: Sequence[Column], out: Path) -> None:
    _with_geometry(frame, columns, "native").to_parquet(out, index=False)


def _gbk_holds(table: pd.DataFrame, columns: Sequence[Column]) -> bool:
    for c in columns:
        if c.kind != "text":
            continue
        try:
            "\n".join(v for v in table[c.key] if v is not None).encode("gbk")
        except UnicodeEncodeError:
            return False
    return True


def _write_shapefile_zip(
    frame: gpd.GeoDataFrame, columns: Sequence[Column], out: Path, stem: str, geometry_type: str
) -> str:
    """The Shapefile parts as a zip at ``out``; returns the text encoding used (GBK or UTF-8)."""
    table = _with_geometry(frame, columns, "text")
    encoding = "GBK" if _gbk_holds(table, columns) else "UTF-8"
    table = table.rename(columns=shapefile_fields(columns))
    with tempfile.TemporaryDirectory(prefix=".gridmap-shp-", dir=out.parent) as tmp:
        shp = Path(tmp) / f"{stem}.shp"
        pyogrio.write_dataframe(
            table,
            shp,
            driver="ESRI Shapefile",
            encoding=encoding,
            geometry_type=geometry_type,
            promote_to_multi=geometry_type.startswith("Multi"),
        )
        shp.with_suffix(".cpg").write_text(encoding, encoding="ascii")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
                archive.write(shp.with_suffix(suffix), f"{stem}{suffix}")
    return encoding


def _csv_cell(value: Any) -> str:
    """One CSV field: empty for missing, numbers bare, booleans true/false, text quoted (RFC 4180:
    inner quotes doubled; a line break stays inside the quotes) and formula-safe."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | float | np.integer | np.floating):
        return repr(float(value)) if isinstance(value, float | np.floating) else str(int(value))
    return '"' + str(safe_text(value)).replace('"', '""') + '"'


def _write_csv(frame: pd.DataFrame, columns: Sequence[Column], out: Path) -> None:
    table = _typed(frame, columns, times="text")
    with out.open("w", encoding="utf-8-sig", newline="") as f:
        # CRLF between records (RFC 4180); text quoted so readers keep codes as text, numbers bare.
        f.write(",".join(c.key for c in columns) + "\r\n")
        for row in table.itertuples(index=False, name=None):
            f.write(",".join(_csv_cell(v) for v in row) + "\r\n")


def _xlsx_cell(value: Any, kind: Kind) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return int(value)
    if kind in ("float", "rate"):
        return float(value)
    if kind == "date":
        return dt.date.fromisoformat(value) if isinstance(value, str) else value
    return value


def _write_xlsx(frame: pd.DataFrame, columns: Sequence[Column], out: Path, title: str) -> None:
    """Written row by row (openpyxl's write-only mode: half the time and a fraction of the memory of
    a workbook kept whole). Text is stored as text cells; a text starting with "=" is stored as the
    text it is (openpyxl would make it a formula), never run."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    table = _typed(frame, columns, times="text")
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title[:31])
    for i, c in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = 22 if c.kind in ("text", "datetime") else 12
    ws.freeze_panes = "A2"
    ws.append([c.header for c in columns])
    formats = {"rate": "0.00%", "date": "yyyy-mm-dd"}
    kinds = [c.kind for c in columns]

    def cell(value: Any, kind: Kind) -> Any:
        value = _xlsx_cell(value, kind)
        if value is None:
            return None
        if kind in formats:
            styled = WriteOnlyCell(ws, value)
            styled.number_format = formats[kind]
            return styled
        if isinstance(value, str) and value.startswith("="):
            text = WriteOnlyCell(ws, value)
            text.data_type = "s"
            return text
        return value

    for row in table.itertuples(index=False, name=None):
        ws.append([cell(v, k) for v, k in zip(row, kinds)])
    wb.save(out)
