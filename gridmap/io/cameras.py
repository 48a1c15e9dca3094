"""Reading camera registers (CSV, XLSX or GeoJSON; Chinese or English headers) into canonical columns,
with every bad row reported instead of failing the whole file.

``read_camera_file`` gives a ``CameraTable``: the valid rows (coordinates converted to EPSG:4490,
CGCS2000 lon/lat degrees), one ``RowProblem`` per rejected row (true spreadsheet row number, stable
English code, Chinese message naming the value), and Chinese notes saying how the file was read.
``CameraReadError`` is raised only when the file as a whole cannot be read.

The pieces:

- locating the table in a sheet: ``gridmap.io.tables.read_table`` (encoding and delimiter of a CSV,
  the sheet of a workbook, a title row above the header), shared with ``gridmap.io.status_updates``;
- device ids: ``gridmap.io.device_ids`` (GB/T 28181);
- coordinates: ``parse_coordinates`` here (decimal degrees, "115.4979°", DMS), CRS conversion in
  ``gridmap.io.coords``;
- status, online, date words: ``STATUS_WORDS``, ``ONLINE_WORDS``, ``parse_dates``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from gridmap.io.coords import normalize_point_crs, to_storage
from gridmap.io.crs import CHINA_LONLAT_BOUNDS, CrsUnknownError, infer_crs
from gridmap.io.device_ids import check_device_ids, describe, normalize_device_ids
from gridmap.io.fields import match_fields
from gridmap.io.tables import (
    CameraReadError,
    Table,
    TableLimits,
    absent_columns_error,
    check_explicit_fields,
    decode_text,
    file_format,
    mapping_note,
    missing_columns_error,
    read_bytes,
    read_table,
    refuse_lone_surrogates,
)

#: Canonical camera fields and the column names registers use for them, most specific first
#: (matched ignoring case, spaces, underscores, units and punctuation: see ``gridmap.io.fields``). X/Y
#: names come last: they are lon/lat only when nothing better is there.
CAMERA_FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "device_id": (
        "device_id",
        "设备编码",
        "国标编码",
        "设备国标编码",
        "国标ID",
        "国标编号",
        "GB28181编码",
        "GB28181编号",
        "国标设备编码",
        "通道编码",
        "通道国标编码",
        "设备ID",
        "deviceid",
        "编码",
        "设备编号",
    ),
    "name": (
        "name",
        "设备名称",
        "点位名称",
        "摄像头名称",
        "摄像机名称",
        "通道名称",
        "名称",
        "camera_name",
        "devicename",
    ),
    "lon": ("lon", "经度", "longitude", "lng", "经度坐标", "x", "X坐标", "横坐标"),
    "lat": ("lat", "纬度", "latitude", "纬度坐标", "y", "Y坐标", "纵坐标"),
    "status": ("status", "安装状态", "建设状态", "点位状态", "状态"),
    "online": ("online", "在线状态", "是否在线", "上云状态", "联网状态", "设备状态", "online_status"),
    "operator": ("operator", "运营商", "运营单位", "建设运营商", "建设单位", "承建单位", "维护单位"),
    "installed_on": ("installed_on", "安装日期", "安装时间", "建成日期", "建成时间", "上线日期", "install_date"),
    "direction": ("direction", "监控方向", "拍摄方向", "方向", "朝向"),
    "place_type": ("place_type", "点位类型", "位置类型", "场所类型", "安装位置"),
    "grid_code": ("grid_code", "所属网格", "网格编码", "所属网格编码", "网格代码"),
    # 枪机/球机/半球 (read by gridmap.geometry.view.camera_kind for the field of view)
    "kind": ("kind", "摄像机类型", "摄像头类型", "相机类型", "设备类型", "类型", "camera_type"),
}
REQUIRED_FIELDS = ("device_id", "lon", "lat", "status")
#: Chinese labels of the canonical fields, for notes and messages.
FIELD_LABELS = {
    "device_id": "设备编码",
    "name": "设备名称",
    "lon": "经度",
    "lat": "纬度",
    "status": "安装状态",
    "online": "在线状态",
    "operator": "运营商",
    "installed_on": "安装日期",
    "direction": "监控方向",
    "place_type": "点位类型",
    "grid_code": "所属网格",
    "kind": "摄像机类型",
}
#: Installation status words → planned / installed / removed (matched ignoring case and spaces).
STATUS_WORDS = {
    "已安装": "installed",
    "安装": "installed",
    "已建成": "installed",
    "已建": "installed",
    "建成": "installed",
    "完成": "installed",
    "已完成": "installed",
    "正常": "installed",
    "installed": "installed",
    "未安装": "planned",
    "规划": "planned",
    "计划": "planned",
    "未建": "planned",
    "待建": "planned",
    "待安装": "planned",
    "在建": "planned",
    "planned": "planned",
    "已拆除": "removed",
    "拆除": "removed",
    "已撤除": "removed",
    "撤除": "removed",
    "注销": "removed",
    "已注销": "removed",
    "removed": "removed",
}
#: Online words → bool (ignoring case; ON/OFF as GB/T 28181 platforms report). Empty means offline.
ONLINE_WORDS = {
    "在线": True,
    "是": True,
    "online": True,
    "ON": True,
    "1": True,
    "true": True,
    "Y": True,
    "yes": True,
    "离线": False,
    "不在线": False,
    "掉线": False,
    "否": False,
    "offline": False,
    "OFF": False,
    "0": False,
    "false": False,
    "N": False,
    "no": False,
    "": False,
}
#: Row problem codes, in the order rows are checked (a rejected row reports its first problem).
ROW_PROBLEM_CODES = (
    "device_id_missing",
    "device_id_format",
    "device_id_county",
    "device_id_type",
    "device_id_duplicate",
    "coord_missing",
    "coord_not_number",
    "coord_outside_county",
    "status_unknown",
    "online_unknown",
    "online_not_installed",
    "date_invalid",
)
#: Row problem code → short Chinese label (reports and pages show these, never the codes).
ROW_PROBLEM_LABELS: dict[str, str] = {
    "device_id_missing": "缺少设备编码",
    "device_id_format": "设备编码格式不对",
    "device_id_county": "设备编码不属于本县",
    "device_id_type": "设备编码类型不是摄像头",
    "device_id_duplicate": "设备编码重复",
    "coord_missing": "缺少经纬度",
    "coord_not_number": "经纬度不是数字",
    "coord_outside_county": "坐标不在本县范围内",
    "status_unknown": "状态无法识别",
    "online_unknown": "在线状态无法识别",
    "online_not_installed": "未安装却标为在线",
    "date_invalid": "日期无法识别",
    "device_unknown": "设备不在台账中",
    "out_of_scope": "超出令牌的修改范围",
}


def row_problem_label(code: str | None) -> str:
    """The Chinese label of a row problem code (the code itself when it is not a known one)."""
    return ROW_PROBLEM_LABELS.get(code or "", code or "未知原因")


#: Output columns of ``CameraTable.cameras``.
CAMERA_COLUMNS = (
    "row",
    "device_id",
    "name",
    "lon",
    "lat",
    "raw_x",
    "raw_y",
    "status",
    "online",
    "operator",
    "installed_on",
    "direction",
    "place_type",
    "grid_code",
    "kind",
)
_TEXT_FIELDS = ("name", "operator", "direction", "place_type", "grid_code", "kind")
_STATUS_LABELS = {"installed": "已安装", "planned": "计划/未安装", "removed": "已拆除"}
_GEOMETRY_X, _GEOMETRY_Y = "geometry.x", "geometry.y"


@dataclass(frozen=True)
class RowProblem:
    """Why one row was rejected."""

    row: int  # spreadsheet row number (header = row 1 when on top, first data row = 2); GeoJSON: feature number (1-based)
    code: str  # stable English code, see ``ROW_PROBLEM_CODES``
    message: str  # Chinese, actionable, names the value
    device_id: str | None = None
    field: str | None = None  # source column name
    value: str | None = None  # the offending cell text
    lon: float | None = None  # the row's point (EPSG:4490 degrees) when its coordinates could be read
    lat: float | None = None


@dataclass
class CameraTable:
    """A camera register as read. ``cameras`` holds the valid rows only, columns ``CAMERA_COLUMNS``:
    row, device_id, name, lon, lat (EPSG:4490 degrees, after conversion), raw_x, raw_y (as read, in
    the declared CRS), status (planned | installed | removed), online (boolean; <NA> when the file has
    no online column), operator, installed_on (datetime.date or None), direction, place_type,
    grid_code (the file's own 所属网格, else None), kind (摄像机类型 as written: 枪机/球机/半球, else None)."""

    cameras: pd.DataFrame
    rejected: list[RowProblem]  # one per rejected row, sorted by row
    mapping: dict[str, str]  # canonical → source column
    present: frozenset[str]  # canonical fields the file has (an import only updates those)
    crs: str  # normalised declared CRS (see ``gridmap.io.coords.normalize_point_crs``)
    source_rows: int  # data rows read (blank rows skipped and not counted)
    notes: list[str] = field(default_factory=list)  # Chinese
    file_format: str = "csv"  # "csv" | "xlsx" | "xls" | "geojson"


# ---------------------------------------------------------------------------------------------
# GeoJSON
# ---------------------------------------------------------------------------------------------


def _property_text(value: object) -> str:
    """A GeoJSON property as text (integers exactly, as JSON keeps them; None → "")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value).strip()


def _point_xy(geometry: object) -> tuple[str, str]:
    """x, y text of a Point (or a one-point MultiPoint) geometry; ("", "") for anything else."""
    if not isinstance(geometry, dict):
        return "", ""
    coords = geometry.get("coordinates")
    if geometry.get("type") == "MultiPoint" and isinstance(coords, list) and len(coords) == 1:
        coords = coords[0]
    elif geometry.get("type") != "Point":
        return "", ""
    if not isinstance(coords, list) or len(coords) < 2:
        return "", ""
    return _property_text(coords[0]), _property_text(coords[1])


def geojson_crs(document: Mapping) -> str | None:
    """The point CRS named by a GeoJSON ``crs`` member (pre-RFC 7946), e.g.
    "urn:ogc:def:crs:EPSG::4490" → "cgcs2000"; None when absent or not understood."""
    crs = document.get("crs")
    name = crs.get("properties", {}).get("name") if isinstance(crs, dict) else None
    if not isinstance(name, str):
        return None
    if name.upper().endswith("CRS84"):
        return "wgs84"
    match = re.search(r"EPSG:+(?:[\d.]*:)?(\d+)$", name, re.IGNORECASE)
    try:
        return normalize_point_crs(f"EPSG:{match.group(1)}" if match else name)
    except CrsUnknownError:
        return None


def read_geojson_table(path: Path, explicit: Mapping[str, str] | None) -> tuple[Table, str | None]:
    """A FeatureCollection of points as a ``Table`` (properties as text; the point's x/y in the
    columns "geometry.x"/"geometry.y"; rows = feature numbers from 1) and the CRS its ``crs``
    member names, if any."""
    explicit = check_explicit_fields(explicit, CAMERA_FIELD_ALIASES, FIELD_LABELS)
    data = read_bytes(path)
    if not data.strip():
        raise CameraReadError("empty", "文件是空的。")
    try:
        document = json.loads(decode_text(data)[0])
    except json.JSONDecodeError as exc:
        raise CameraReadError(
            "unreadable", f"文件不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列：{exc.msg}）。"
        ) from exc
    except RecursionError:
        raise CameraReadError("unreadable", "JSON 嵌套层数过多：GeoJSON 应为要素（Feature）的集合。") from None
    refuse_lone_surrogates(document)
    features = document.get("features") if isinstance(document, dict) else None
    if not isinstance(features, list):
        raise CameraReadError("unreadable", "GeoJSON 文件应为 FeatureCollection（含 features 数组）。")
    if not features:
        raise CameraReadError("empty", "GeoJSON 文件中没有要素。")
    limits = TableLimits.from_settings()
    if len(features) > limits.max_rows:
        raise limits.too_many_rows("GeoJSON 文件", len(features), unit="个要素")
    records, rows = [], []
    for number, feature in enumerate(features, start=1):
        feature = feature if isinstance(feature, dict) else {}
        props = feature.get("properties")
        if not isinstance(props, dict):
            props = {}
        record = {str(k).strip(): _property_text(v) for k, v in props.items()}
        record[_GEOMETRY_X], record[_GEOMETRY_Y] = _point_xy(feature.get("geometry"))
        if any(record.values()):
            records.append(record)
            rows.append(number)
    if not records:
        raise CameraReadError("empty", "GeoJSON 文件中的要素都没有属性和几何。")
    frame = pd.DataFrame.from_records(records).astype(object)
    frame = frame.where(frame.notna(), "")
    names = [c for c in frame.columns if c not in (_GEOMETRY_X, _GEOMETRY_Y)]
    where = "GeoJSON 要素属性中"
    absent = {k: col for k, col in explicit.items() if col not in frame.columns}
    if absent:
        raise absent_columns_error(absent, names, FIELD_LABELS, where)
    match = match_fields(
        list(frame.columns), CAMERA_FIELD_ALIASES, {"lon": _GEOMETRY_X, "lat": _GEOMETRY_Y, **explicit}
    )
    mapping = match.mapping
    missing = [f for f in REQUIRED_FIELDS if f not in mapping]
    if missing:
        raise missing_columns_error(missing, names, CAMERA_FIELD_ALIASES, FIELD_LABELS, where)
    notes = ["经纬度取自要素的点几何", mapping_note(mapping, names, FIELD_LABELS), *match.notes]
    return Table(frame, np.array(rows, dtype=np.int64), mapping, notes, "geojson"), geojson_crs(document)


# ---------------------------------------------------------------------------------------------
# Values: coordinates, words, dates
# ---------------------------------------------------------------------------------------------

_FULL_WIDTH = str.maketrans("０１２３４５６７８９．－＋", "0123456789.-+")
_NUMBER = r"\d+(?:\.\d+)?"
_DMS = re.compile(
    rf"^(?P<h1>东经|西经|北纬|南纬|[EWNS])?(?P<sign>[-+])?(?P<d>{_NUMBER})"
    rf"(?:[°º˚度](?:(?P<m>{_NUMBER})['′’分](?:(?P<s>{_NUMBER})(?:\"|″|”|''|′′|’’|秒)?)?)?)?(?P<h2>[EWNS])?$",
    re.IGNORECASE,
)


def parse_coordinate(text: str) -> float:
    """One coordinate in degrees from text: "115.4979", "115.4979°", "E115.4979", "东经115.4979",
    "115°29'52.5\"", "115度29分52.5秒", "115°29.875'"; NaN when it is none of these (or minutes /
    seconds ≥ 60). Plain numbers in other units (metres) pass through unchanged."""
    value = "".join(text.translate(_FULL_WIDTH).split())
    match = _DMS.match(value)
    if not match or not value:
        return float("nan")
    deg, minutes, seconds = (float(match[g]) if match[g] else 0.0 for g in ("d", "m", "s"))
    if minutes >= 60 or seconds >= 60 or ((match["m"] or match["s"]) and not float(deg).is_integer()):
        return float("nan")
    sign = (
        -1.0
        if (
            match["sign"] == "-"
            or any(h and h.upper() in ("W", "S", "西经", "南纬") for h in (match["h1"], match["h2"]))
        )
        else 1.0
    )
    return sign * (deg + minutes / 60 + seconds / 3600)


def parse_coordinates(values: pd.Series) -> pd.Series:
    """Coordinates as floats (NaN when empty or not a number; see ``parse_coordinate``). Plain
    numbers are parsed vectorized, only the rest one by one."""
    numbers = pd.to_numeric(values.astype(object), errors="coerce").astype(float)
    rest = numbers.isna() & (values != "")
    if rest.any():
        numbers[rest] = [parse_coordinate(v) for v in values[rest]]
    return numbers.where(np.isfinite(numbers))


def word_key(value: object) -> str:
    """How a status word is compared: without spaces, lower case."""
    return "".join(str(value).split()).lower()


def lookup_words(values: pd.Series, words: Mapping[str, object]) -> pd.Series:
    """Values mapped through ``words`` ignoring case and spaces; NaN where unknown."""
    known = {word_key(k): v for k, v in words.items()}
    key = values.astype(str).map(word_key)
    return key.map(known).astype(object).where(key.isin(known.keys()), np.nan)


_Meaning = TypeVar("_Meaning")


def word_list(words: Mapping[str, _Meaning], labels: Mapping[_Meaning, str]) -> str:
    """Accepted words grouped by meaning, e.g. "已安装、已建成…（已安装）；未安装…（计划/未安装）"."""
    groups: dict[_Meaning, list[str]] = {}
    for word, meaning in words.items():
        groups.setdefault(meaning, []).append(word or "空")
    return "；".join(f"{'、'.join(ws)}（{labels[m]}）" for m, ws in groups.items())


_EXCEL_EPOCH = dt.date(1899, 12, 30)
#: Excel serial day numbers accepted as dates: 20000 = 1954-10-03 … 99999 = 2173-10-14.
EXCEL_SERIAL_RANGE = (20000, 99999)


def parse_dates(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Dates from text: "2023-11-16", "2023/11/16", "2023.11.16", "2023年11月16日", "20231116",
    with or without a time; Excel serial day numbers (``EXCEL_SERIAL_RANGE``). Returns (objects:
    ``datetime.date`` or None, bool mask of non-empty values that are not valid dates)."""
    text = values.astype(str).str.strip().str.translate(_FULL_WIDTH)
    ymd = text.str.replace(r"[年月/.]", "-", regex=True).str.replace("日", "", regex=False)
    parts = ymd.str.extract(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
    compact = text.str.extract(r"^(\d{4})(\d{2})(\d{2})$")
    parts = parts.fillna(compact).astype(float)
    dates = pd.to_datetime(pd.DataFrame({"year": parts[0], "month": parts[1], "day": parts[2]}), errors="coerce")
    serial = pd.to_numeric(text.where(parts[0].isna()), errors="coerce")
    in_range = serial.between(*EXCEL_SERIAL_RANGE)
    serial_dates = pd.Timestamp(_EXCEL_EPOCH) + pd.to_timedelta(np.floor(serial.where(in_range)), unit="D")
    dates = dates.fillna(serial_dates)
    dates = dates.where(dates.dt.year.between(1, 9999))  # year 0 parses, but is no date (nor is 10000)
    out = pd.Series([d.date() if pd.notna(d) else None for d in dates], index=values.index, dtype=object)
    return out, (text != "") & dates.isna()


# ---------------------------------------------------------------------------------------------
# Row checks
# ---------------------------------------------------------------------------------------------


@dataclass
class _Context:
    """What the row checks share: the canonical text columns and the parsed values."""

    text: pd.DataFrame  # canonical field → text
    rows: pd.Series  # spreadsheet row numbers
    mapping: dict[str, str]
    crs: str
    county_code: str | tuple[str, ...] | None  # the ids' county code, or several centre codes
    extent: tuple[float, float, float, float] | None
    values: dict[str, pd.Series] = field(default_factory=dict)  # parsed: device_id, raw_x, raw_y, lon, lat, ...


_Check = Callable[[_Context], pd.DataFrame]
_PROBLEM_COLUMNS = ["code", "field", "value", "message"]


def _flagged(
    ctx: _Context, mask: pd.Series, code: str | pd.Series, canonical: str | pd.Series, message: Callable[[int], str]
) -> pd.DataFrame:
    """Problem rows (index of ``ctx.text``) where ``mask``: code, source column, cell text, message."""
    index = mask.index[mask.fillna(False).astype(bool)]
    codes = code[index] if isinstance(code, pd.Series) else pd.Series(code, index=index, dtype=object)
    fields = canonical[index] if isinstance(canonical, pd.Series) else pd.Series(canonical, index=index, dtype=object)
    cells = {f: dict(zip(index, ctx.text[f][index])) for f in pd.unique(fields) if f in ctx.text}
    return pd.DataFrame(
        {
            "code": codes,
            "field": [ctx.mapping.get(f, f) for f in fields],
            "value": [cells[f][i] if f in cells else "" for i, f in zip(index, fields)],
            "message": [message(i) for i in index],
        },
        index=index,
        columns=_PROBLEM_COLUMNS,
    )


def _check_device_ids(ctx: _Context) -> pd.DataFrame:
    raw = ctx.text["device_id"]
    codes = check_device_ids(raw, ctx.county_code)
    ctx.values["device_id"] = normalize_device_ids(raw)
    ctx.values["id_ok"] = codes.isna()
    return _flagged(ctx, codes.notna(), codes, "device_id", lambda i: describe(codes[i], raw[i], ctx.county_code))


def _check_duplicates(ctx: _Context) -> pd.DataFrame:
    """device_id_duplicate: a valid id seen on an earlier row (the first occurrence is kept)."""
    ids = ctx.values["device_id"]
    valid = ids[ctx.values["id_ok"]]
    repeated = valid.duplicated(keep="first")
    first_row = dict(zip(valid[~repeated], ctx.rows[valid.index[~repeated]]))
    return _flagged(
        ctx,
        repeated.reindex(ids.index, fill_value=False),
        "device_id_duplicate",
        "device_id",
        lambda i: (
            f"设备编码“{ids[i]}”与第 {first_row[ids[i]]} 行重复：同一文件中每个设备只能出现一次，"
            "本行未导入；请删除重复行或改正编码。"
        ),
    )


def _check_coordinates(ctx: _Context) -> pd.DataFrame:
    """coord_missing / coord_not_number (lon before lat), then coord_outside_county after the
    conversion to EPSG:4490."""
    x, y = parse_coordinates(ctx.text["lon"]), parse_coordinates(ctx.text["lat"])
    lon, lat = (pd.Series(v, index=x.index) for v in to_storage(x.to_numpy(), y.to_numpy(), ctx.crs))
    ctx.values.update(raw_x=x, raw_y=y, lon=lon, lat=lat)
    empty_x, empty_y = ctx.text["lon"] == "", ctx.text["lat"] == ""
    cases = [empty_x, empty_y, x.isna(), y.isna()]
    code = pd.Series(
        np.select(cases, ["coord_missing", "coord_missing", "coord_not_number", "coord_not_number"], ""), index=x.index
    )
    which = pd.Series(np.select(cases, ["lon", "lat", "lon", "lat"], "lon"), index=x.index)
    geometry = ctx.mapping["lon"] == _GEOMETRY_X
    problems = _flagged(
        ctx,
        code != "",
        code,
        which,
        lambda i: _coordinate_message(code[i], which[i], ctx.text.at[i, which[i]], geometry),
    )
    outside = _outside(lon, lat, ctx.extent) & x.notna() & y.notna()
    ctx.values["outside"] = outside
    return pd.concat(
        [
            problems,
            _flagged(
                ctx, outside, "coord_outside_county", "lon", lambda i: _outside_message(ctx, x[i], y[i], lon[i], lat[i])
            ),
        ]
    )


def _coordinate_message(code: str, canonical: str, value: str, geometry: bool) -> str:
    label = FIELD_LABELS[canonical]
    if geometry:
        return "要素没有点几何（几何为空或不是 Point），无法确定位置。"
    if code == "coord_missing":
        return f"{label}为空：请填写{label}（十进制度，例如 {'115.4979' if canonical == 'lon' else '33.9382'}）。"
    return f"{label}“{value}”不是数字：请写成十进制度（例如 115.4979）、带度号（115.4979°）或度分秒（115°29'52.5\"）。"


def _outside(lon: pd.Series, lat: pd.Series, extent: tuple[float, float, float, float] | None) -> pd.Series:
    """Points (EPSG:4490 degrees) outside ``extent`` (minlon, minlat, maxlon, maxlat), or outside
    China when no extent is given; non-finite results of a conversion count as outside."""
    minx, miny, maxx, maxy = extent if extent is not None else CHINA_LONLAT_BOUNDS
    return ~(lon.between(minx, maxx) & lat.between(miny, maxy))


def _outside_message(ctx: _Context, x: float, y: float, lon: float, lat: float) -> str:
    where = (
        "本县范围（经度 {:.4f}–{:.4f}，纬度 {:.4f}–{:.4f}）".format(*np.array(ctx.extent)[[0, 2, 1, 3]])
        if ctx.extent is not None
        else "中国境内"
    )
    raw = "" if ctx.crs == "cgcs2000" else f"（原坐标 x={x:g}，y={y:g}，按 {ctx.crs} 换算）"
    point = f"经度 {lon:.6f}，纬度 {lat:.6f}" if np.isfinite(lon) and np.isfinite(lat) else "无法换算"
    return (
        f"点位（{point}）{raw}不在{where}：请核对经纬度是否填错、填反，或坐标系是否正确"
        "（高德/腾讯坐标为 gcj02，百度坐标为 bd09）。"
    )


def _check_status(ctx: _Context) -> pd.DataFrame:
    status = lookup_words(ctx.text["status"], STATUS_WORDS)
    ctx.values["status"] = status
    accepted = word_list(STATUS_WORDS, _STATUS_LABELS)
    return _flagged(
        ctx,
        status.isna(),
        "status_unknown",
        "status",
        lambda i: (
            (f"安装状态“{ctx.text.at[i, 'status']}”无法识别" if ctx.text.at[i, "status"] else "安装状态为空")
            + f"；可用的写法：{accepted}。"
        ),
    )


def _check_online(ctx: _Context) -> pd.DataFrame:
    if "online" not in ctx.text:
        ctx.values["online"] = pd.Series(pd.NA, index=ctx.text.index, dtype="boolean")
        return pd.DataFrame(columns=_PROBLEM_COLUMNS)
    online = lookup_words(ctx.text["online"], ONLINE_WORDS)
    ctx.values["online"] = online
    accepted = word_list(ONLINE_WORDS, {True: "在线", False: "离线"})
    unknown = _flagged(
        ctx,
        online.isna(),
        "online_unknown",
        "online",
        lambda i: f"在线状态“{ctx.text.at[i, 'online']}”无法识别；可用的写法：{accepted}。",
    )
    status = ctx.values["status"]
    conflict = (online == True) & status.notna() & (status != "installed")  # noqa: E712 (object column)
    return pd.concat(
        [
            unknown,
            _flagged(
                ctx,
                conflict,
                "online_not_installed",
                "online",
                lambda i: (
                    f"在线状态为“{ctx.text.at[i, 'online']}”，但安装状态为“{ctx.text.at[i, 'status']}”：只有已安装的摄像头"
                    "才能在线；请改正安装状态或在线状态。"
                ),
            ),
        ]
    )


def _check_dates(ctx: _Context) -> pd.DataFrame:
    if "installed_on" not in ctx.text:
        ctx.values["installed_on"] = pd.Series([None] * len(ctx.text), index=ctx.text.index, dtype=object)
        return pd.DataFrame(columns=_PROBLEM_COLUMNS)
    dates, bad = parse_dates(ctx.text["installed_on"])
    ctx.values["installed_on"] = dates
    return _flagged(
        ctx,
        bad,
        "date_invalid",
        "installed_on",
        lambda i: (
            f"安装日期“{ctx.text.at[i, 'installed_on']}”不是有效日期：请写成 2023-11-16、2023/11/16 或 2023年11月16日。"
        ),
    )


#: The row checks in order; a rejected row reports the first problem found.
ROW_CHECKS: tuple[_Check, ...] = (
    _check_device_ids,
    _check_duplicates,
    _check_coordinates,
    _check_status,
    _check_online,
    _check_dates,
)


def _degrees(value: object) -> float | None:
    """A coordinate as a plain float, None when missing or not finite."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return round(number, 7) if math.isfinite(number) else None


def _first_problems(ctx: _Context) -> pd.DataFrame:
    """All checks run on all rows; each row keeps its first problem (``ROW_CHECKS`` order, and the
    order within a check: missing before format before county …)."""
    found = [check(ctx) for check in ROW_CHECKS]
    problems = pd.concat([f for f in found if not f.empty] or [pd.DataFrame(columns=_PROBLEM_COLUMNS)])
    return problems[~problems.index.duplicated(keep="first")]


# ---------------------------------------------------------------------------------------------
# Notes about the file as a whole
# ---------------------------------------------------------------------------------------------


def _coordinate_notes(ctx: _Context) -> list[str]:
    """Hints when most points are outside: lon/lat columns swapped, or projected coordinates (metres)
    read as degrees. Nothing is changed automatically."""
    x, y = ctx.values["raw_x"], ctx.values["raw_y"]
    numeric = x.notna() & y.notna()
    outside = ctx.values["outside"][numeric]
    if numeric.sum() == 0 or outside.mean() <= 0.5:
        return []
    where = "本县范围" if ctx.extent is not None else "中国境内"
    notes = [f"{numeric.sum()} 个点位中有 {int(outside.sum())} 个不在{where}。"]
    lon, lat = to_storage(y[numeric].to_numpy(), x[numeric].to_numpy(), ctx.crs)
    swapped_inside = ~_outside(pd.Series(lon), pd.Series(lat), ctx.extent)
    if swapped_inside.mean() > 0.5:
        notes.append(
            f"把“{ctx.mapping['lon']}”“{ctx.mapping['lat']}”两列对调后，{int(swapped_inside.sum())} 个点位"
            f"在{where}：经纬度两列可能填反了，请检查后重新上传（未自动对调）。"
        )
    elif ctx.crs in ("cgcs2000", "wgs84", "gcj02", "bd09") and float(np.nanmax(np.abs(x[numeric]))) > 1000:
        try:
            crs, reason = infer_crs((x[numeric].min(), y[numeric].min(), x[numeric].max(), y[numeric].max()))
            notes.append(f"坐标数值像是投影坐标（米）而不是经纬度：{reason}请用 --crs {crs.to_epsg()} 指定坐标系。")
        except CrsUnknownError as exc:
            notes.append(f"坐标数值像是投影坐标（米）而不是经纬度：{exc.message}")
    return notes


def _crs_note(declared: str | None, crs: str, fmt: str, member: str | None) -> str:
    if declared:
        return f"坐标系：按指定的 {crs} 换算为 CGCS2000 经纬度（EPSG:4490）" + (
            f"（文件声明的是 {member}，以指定的为准）" if member and member != crs else ""
        )
    if member:
        return f"坐标系：按 GeoJSON 文件声明的 {crs} 读取"
    if fmt == "geojson":
        return "未指定坐标系：GeoJSON 按 WGS84 经纬度（EPSG:4326）读取"
    return (
        "未指定坐标系：按 CGCS2000 经纬度（EPSG:4490）读取；若坐标取自高德/腾讯地图请指定 gcj02，"
        "取自百度地图请指定 bd09，GPS 坐标可指定 wgs84"
    )


# ---------------------------------------------------------------------------------------------
# The reader
# ---------------------------------------------------------------------------------------------


def read_camera_file(
    path: str | Path,
    *,
    crs: str | None = None,
    fields: Mapping[str, str] | None = None,
    sheet: str | None = None,
    county_code: str | Sequence[str] | None = None,
    extent: tuple[float, float, float, float] | None = None,
) -> CameraTable:
    """Read a camera register: ``.csv``/``.txt``, ``.xlsx``/``.xlsm``, ``.xls`` or ``.geojson``/``.json``.

    ``crs``: the coordinates' CRS (see ``gridmap.io.coords.normalize_point_crs``); default
    cgcs2000 (GeoJSON: its ``crs`` member, else wgs84). ``fields``: canonical → column, wins over
    detection. ``sheet``: the XLSX sheet (default: the first with a matching header).
    ``county_code``: 6-digit code the ids must start with, or the centre codes (prefixes) of
    several counties, one of which each id must start with. ``extent``: (minlon, minlat, maxlon,
    maxlat) in EPSG:4490 degrees; points outside are rejected (without it: points outside China).
    Raises ``CameraReadError`` when the file as a whole cannot be read (``CrsUnknownError`` for a
    ``crs`` it cannot parse); bad rows go to ``rejected``.
    """
    path = Path(path)
    fmt = file_format(path)
    chosen = normalize_point_crs(crs) if crs is not None and str(crs).strip() else None
    member = None
    if fmt == "geojson":
        table, member = read_geojson_table(path, fields)
    else:
        table = read_table(path, fmt, CAMERA_FIELD_ALIASES, REQUIRED_FIELDS, fields, sheet, labels=FIELD_LABELS)
    point_crs = chosen or member or ("wgs84" if fmt == "geojson" else "cgcs2000")
    text = pd.DataFrame({k: table.frame[col].astype(object) for k, col in table.mapping.items()})
    ctx = _Context(
        text,
        pd.Series(table.rows, index=text.index),
        dict(table.mapping),
        point_crs,
        (county_code.strip() or None) if isinstance(county_code, str) else tuple(county_code) if county_code else None,
        extent,
    )
    problems = _first_problems(ctx)
    notes = table.notes + [_crs_note(chosen, point_crs, fmt, member)] + _coordinate_notes(ctx)
    if "online" not in table.mapping:
        notes.append("文件没有在线状态列：online 为空，导入时不改变已有摄像头的在线状态")
    problems = problems.sort_index()
    nowhere = pd.Series(np.nan, index=text.index)
    lons, lats = ctx.values.get("lon", nowhere), ctx.values.get("lat", nowhere)
    rejected = [
        RowProblem(int(row), code, message, device_id or None, source, value, _degrees(x), _degrees(y))
        for row, device_id, code, message, source, value, x, y in zip(
            ctx.rows[problems.index],
            ctx.values["device_id"][problems.index],
            problems["code"],
            problems["message"],
            problems["field"],
            problems["value"],
            lons[problems.index],
            lats[problems.index],
        )
    ]
    if rejected:
        counts = pd.Series([p.code for p in rejected]).value_counts()
        notes.append(
            f"{len(rejected)} 行未通过检查：" + "，".join(f"{row_problem_label(c)} {n} 行" for c, n in counts.items())
        )
    return CameraTable(
        _cameras(ctx, problems.index),
        rejected,
        dict(table.mapping),
        frozenset(table.mapping),
        point_crs,
        len(text),
        notes,
        fmt,
    )


def _cameras(ctx: _Context, rejected: pd.Index) -> pd.DataFrame:
    """The valid rows as ``CAMERA_COLUMNS``."""
    keep = ~ctx.text.index.isin(rejected)
    v = ctx.values
    out = pd.DataFrame(
        {
            "row": ctx.rows.astype("int64"),
            "device_id": v["device_id"].astype(object),
            "name": _text_or_none(ctx.text, "name"),
            "lon": v["lon"].astype(float),
            "lat": v["lat"].astype(float),
            "raw_x": v["raw_x"].astype(float),
            "raw_y": v["raw_y"].astype(float),
            "status": v["status"].astype(object),
            "online": v["online"].astype("boolean"),
            "operator": _text_or_none(ctx.text, "operator"),
            "installed_on": v["installed_on"],
            "direction": _text_or_none(ctx.text, "direction"),
            "place_type": _text_or_none(ctx.text, "place_type"),
            "grid_code": _text_or_none(ctx.text, "grid_code"),
            "kind": _text_or_none(ctx.text, "kind"),
        },
        index=ctx.text.index,
        columns=list(CAMERA_COLUMNS),
    )
    return out[keep].reset_index(drop=True)


def _text_or_none(text: pd.DataFrame, canonical: str) -> pd.Series:
    if canonical not in text:
        return pd.Series([None] * len(text), index=text.index, dtype=object)
    column = text[canonical].astype(object)
    return column.where(column != "", None)
