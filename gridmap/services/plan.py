"""The camera placement plan over the live data: read the county from the database, build and solve
the model of :mod:`gridmap.coverage.plan`, and write the answer (JSON, GeoJSON, CSV, XLSX).

Positions go in and come out as EPSG:4490 (CGCS2000) longitude/latitude; the model works in the
county's Gauss-Krüger zone (metres, :mod:`gridmap.geometry.metric`). Figures are households and m².
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import shapely
from sqlalchemy import Connection

from gridmap.config import Settings, get_settings
from gridmap.coverage.plan import (
    KINDS,
    Candidates,
    Plan,
    PlanInputs,
    PlanRefused,
    PlanSettings,
    auto_candidates,
    make_candidates,
    make_plan,
)
from gridmap.db import areas as areas_db
from gridmap.db.cameras import view_cameras
from gridmap.db.exports import export_areas
from gridmap.geometry.metric import metric_crs, to_metric
from gridmap.geometry.view import camera_kind, camera_views, compass_word, parse_directions, view_specs
from gridmap.levels import LEAF_LEVEL, LEVEL_BY_NUMBER

#: Most rows of a candidates file.
MAX_FILE_CANDIDATES = 200_000
SOURCE_NAMES = {"auto": "自动候选", "planned": "已规划未安装", "file": "候选文件"}
KIND_NAMES = {"bullet": "枪机", "dome": "球机", "half_dome": "半球"}
#: The CSV/XLSX columns: (key of a site, Chinese header).
COLUMNS = (
    ("rank", "序号"),
    ("lon", "经度"),
    ("lat", "纬度"),
    ("grid_code", "网格编码"),
    ("direction", "朝向"),
    ("bearing_deg", "方位角（度，正北顺时针）"),
    ("kind_name", "类型"),
    ("households_newly_seen", "新增可见户数"),
    ("area_newly_seen_m2", "新增可见面积（平方米）"),
    ("source_name", "来源"),
    ("device_id", "设备编码"),
)


@dataclass(frozen=True)
class PlanRequest:
    """What a plan is asked for: ``budget`` cameras in county ``code`` (None: the only county),
    candidates in grids of ``level``, the objective (households or m²), whether every grid must
    get a camera, and the kind of the auto candidates."""

    budget: int
    code: str | None = None
    level: int = 3
    must_cover_each_grid: bool = False
    objective: str = "households"
    kind: str = "bullet"
    include_planned: bool = True


def plan_settings(settings: Settings | None = None) -> PlanSettings:
    s = settings or get_settings()
    return PlanSettings(
        site_spacing_m=s.plan_site_spacing_m,
        demand_spacing_m=s.plan_demand_spacing_m,
        time_limit_s=s.plan_time_limit_s,
        max_exact_nonzeros=s.plan_max_nonzeros,
    )


def check_request(conn: Connection, request: PlanRequest, settings: Settings | None = None) -> str:
    """The county the plan is for (checked), or a :class:`PlanRefused`."""
    s = settings or get_settings()
    if not 1 <= request.budget <= s.plan_max_budget:
        raise PlanRefused(
            "invalid_budget",
            f"预算（摄像头台数）应在 1 到 {s.plan_max_budget} 之间（GRIDMAP_PLAN_MAX_BUDGET）。",
            {"budget": request.budget, "max_budget": s.plan_max_budget},
        )
    if request.kind not in KINDS:
        raise PlanRefused("invalid_kind", f"摄像头类型应为 {'、'.join(KINDS)} 之一。", {"kind": request.kind})
    counties = areas_db.county_codes(conn)
    code = request.code
    if code is None:
        if len(counties) != 1:
            raise PlanRefused(
                "county_required", "数据库中有多个县（或没有县）：请用 code 指定县级编码。", {"counties": counties}
            )
        code = counties[0]
    if code not in counties:
        raise PlanRefused("unknown_county", f"没有编码为 {code} 的县：请检查县级编码。", {"code": code}, status=404)
    if not 1 <= request.level <= LEAF_LEVEL:
        raise PlanRefused("invalid_level", "网格层级应在 1（乡镇）到 4（微网格）之间，默认 3（网格）。")
    return code


def load_inputs(
    conn: Connection, county: str, level: int, residences: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
) -> tuple[PlanInputs, pyproj.CRS, dict[str, np.ndarray]]:
    """The county's grids of ``level`` (with whether an installed camera lies in each), its leaf
    areas with their households, the installed cameras' views (metres) and the planned cameras.
    ``residences``: x, y (EPSG:4490 degrees) and households of residence points, if given."""
    grids = export_areas(conn, level, county)
    if grids.empty:
        raise PlanRefused(
            "no_grids",
            f"县 {county} 没有第 {level} 级（{LEVEL_BY_NUMBER[level].name_zh}）区域。",
            {"code": county, "level": level},
        )
    present = areas_db.levels_present(conn, county)
    leaves = export_areas(conn, max(present), county)
    crs = metric_crs(np.asarray(grids.geometry.values, dtype=object))
    installed = view_cameras(conn, county)
    planned = view_cameras(conn, county, statuses=("planned",))
    metric_points = _points_to_metric(installed["lon"], installed["lat"], crs)
    seen = camera_views(
        metric_points[0], metric_points[1], installed["name"], installed["kind"], installed["direction"], view_specs()
    )
    codes = np.asarray(grids["code"], dtype=object)
    has_camera = pd.to_numeric(grids["installed"], errors="coerce").fillna(0).to_numpy() > 0
    hh = pd.to_numeric(leaves["households"], errors="coerce").fillna(0).clip(lower=0).to_numpy(dtype="float64")
    res = None
    if residences is not None:
        rx, ry = _points_to_metric(residences[0], residences[1], crs)
        res = (rx, ry, np.asarray(residences[2], dtype="float64"))
    inputs = PlanInputs(
        grid_codes=codes,
        grid_polys=to_metric(np.asarray(grids.geometry.values, dtype=object), crs),
        grid_has_camera=has_camera,
        leaf_polys=to_metric(np.asarray(leaves.geometry.values, dtype=object), crs),
        leaf_households=hh,
        seen=seen,
        residences=res,
    )
    return inputs, crs, planned


def _points_to_metric(lon: np.ndarray, lat: np.ndarray, crs: pyproj.CRS) -> tuple[np.ndarray, np.ndarray]:
    t = pyproj.Transformer.from_crs(4490, crs, always_xy=True)
    x, y = t.transform(np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64"))
    return np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")


def planned_candidates(planned: dict[str, np.ndarray], crs: pyproj.CRS) -> Candidates:
    """The planned-but-not-installed cameras as candidates, as their registers describe them."""
    x, y = _points_to_metric(planned["lon"], planned["lat"], crs)
    kinds = np.array([camera_kind(n, k) for n, k in zip(planned["name"], planned["kind"])], dtype=object)
    return make_candidates(x, y, parse_directions(planned["direction"]), kinds, "planned", planned["device_id"])


def file_candidates(lon: np.ndarray, lat: np.ndarray, direction: np.ndarray, kind: np.ndarray, crs) -> Candidates:
    x, y = _points_to_metric(lon, lat, crs)
    labels = np.array([f"第{i + 1}行" for i in range(len(lon))], dtype=object)
    return make_candidates(x, y, parse_directions(direction), kind, "file", labels)


def compute(
    inputs: PlanInputs,
    crs_wkt: str,
    cands: Candidates,
    request: PlanRequest,
    settings: PlanSettings,
) -> dict[str, Any]:
    """Solve the plan and answer it as :func:`plan_json` (a module-level function: it runs in a
    worker process for the API)."""
    plan = make_plan(inputs, cands, request.budget, request.objective, request.must_cover_each_grid, settings)
    return plan_json(plan, inputs, pyproj.CRS.from_wkt(crs_wkt), request)


def candidates_for(
    inputs: PlanInputs,
    crs: pyproj.CRS,
    planned: dict[str, np.ndarray],
    request: PlanRequest,
    settings: PlanSettings,
    file: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Candidates:
    """``file`` candidates (lon, lat, direction, kind) when given, else the auto lattice plus the
    planned cameras."""
    if file is not None:
        return file_candidates(*file, crs)
    parts = [auto_candidates(inputs.grid_polys, settings.site_spacing_m, request.kind, view_specs())]
    if request.include_planned and len(planned["lon"]):
        parts.append(planned_candidates(planned, crs))
    return Candidates.concat(parts)


def plan_cameras(
    conn: Connection,
    request: PlanRequest,
    file: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """The plan for ``request`` on the live data, in this process (the CLI)."""
    county = check_request(conn, request, settings)
    ps = plan_settings(settings)
    inputs, crs, planned = load_inputs(conn, county, request.level)
    cands = candidates_for(inputs, crs, planned, request, ps, file)
    out = compute(inputs, crs.to_wkt(), cands, request, ps)
    out["code"] = county
    return out


def plan_json(plan: Plan, inputs: PlanInputs, crs: pyproj.CRS, request: PlanRequest) -> dict[str, Any]:
    """The plan as JSON: ``sites`` in the order chosen (each ``lon``, ``lat`` EPSG:4490 degrees,
    ``grid_code``, ``direction`` {``name``, ``degrees``}, ``kind``, ``households_newly_seen``,
    ``area_newly_seen_m2``, ``source``, ``device_id``) and the totals (see ``Plan.summary``)."""
    c = plan.model.candidates.take(plan.order)
    t = pyproj.Transformer.from_crs(crs, 4490, always_xy=True)
    lon, lat = t.transform(c.x, c.y) if len(c) else (np.zeros(0), np.zeros(0))
    sites = []
    for i in range(len(c)):
        bearing = float(c.bearing[i])
        sites.append(
            {
                "rank": i + 1,
                "lon": round(float(lon[i]), 7),
                "lat": round(float(lat[i]), 7),
                "grid_code": str(inputs.grid_codes[c.grid[i]]) if c.grid[i] >= 0 else None,
                "direction": {
                    "name": compass_word(bearing),
                    "degrees": None if not math.isfinite(bearing) else round(bearing, 1),
                },
                "kind": str(c.kind[i]),
                "households_newly_seen": round(float(plan.site_households[i]), 2),
                "area_newly_seen_m2": round(float(plan.site_area_m2[i]), 1),
                "source": str(c.source[i]),
                "device_id": str(c.label[i]) if c.source[i] == "planned" else None,
            }
        )
    return {"level": request.level, "kind": request.kind, **plan.summary(), "sites": sites}


def plan_geojson(answer: dict[str, Any]) -> dict[str, Any]:
    """The sites as a GeoJSON FeatureCollection of points (EPSG:4490 lon/lat; properties flat, so
    QGIS and ogr read them as columns) with the totals as foreign members."""
    features = []
    for site in answer["sites"]:
        props = {k: v for k, v in site.items() if k not in ("lon", "lat", "direction")}
        props["direction"] = site["direction"]["name"]
        props["bearing_deg"] = site["direction"]["degrees"]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [site["lon"], site["lat"]]},
                "properties": props,
            }
        )
    totals = {k: v for k, v in answer.items() if k != "sites"}
    return {
        "type": "FeatureCollection",
        "name": "camera_plan",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}},
        "plan": totals,
        "features": features,
    }


def site_rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per site for CSV/XLSX, keyed by the Chinese headers of :data:`COLUMNS`."""
    rows = []
    for site in answer["sites"]:
        flat = {
            **site,
            "direction": site["direction"]["name"],
            "bearing_deg": site["direction"]["degrees"],
            "kind_name": KIND_NAMES.get(site["kind"], site["kind"]),
            "source_name": SOURCE_NAMES.get(site["source"], site["source"]),
        }
        rows.append({header: flat.get(key) for key, header in COLUMNS})
    return rows


def render(answer: dict[str, Any], fmt: str) -> str:
    """``json``, ``geojson`` or ``csv`` text of a plan."""
    if fmt == "json":
        return json.dumps(answer, ensure_ascii=False, indent=2)
    if fmt == "geojson":
        return json.dumps(plan_geojson(answer), ensure_ascii=False)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[h for _, h in COLUMNS], lineterminator="\n")
    writer.writeheader()
    writer.writerows(site_rows(answer))
    return buf.getvalue()


def write_xlsx(answer: dict[str, Any], path: Path) -> None:
    """The sites (sheet 点位) and the totals (sheet 汇总) as an Excel workbook."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "点位"
    ws.append([h for _, h in COLUMNS])
    for row in site_rows(answer):
        ws.append(list(row.values()))
    totals = wb.create_sheet("汇总")
    for key, value in answer.items():
        if key != "sites":
            totals.append([key, value if not isinstance(value, dict | list) else json.dumps(value, ensure_ascii=False)])
    wb.save(path)


# ---------------------------------------------------------------------------------------------
# Candidate files
# ---------------------------------------------------------------------------------------------

_LON = ("lon", "lng", "longitude", "x", "经度")
_LAT = ("lat", "latitude", "y", "纬度")
_DIRECTION = ("direction", "bearing", "方向", "朝向", "监控方向")
_KIND = ("kind", "type", "类型", "摄像机类型")


def _column(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    lowered = {str(c).strip().lower(): c for c in frame.columns}
    for n in names:
        if n in lowered:
            return lowered[n]
    return None


def read_candidate_file(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidate points from a CSV (columns lon/lat or 经度/纬度, EPSG:4490; optional
    direction/方向 and kind/类型) or any GDAL vector file of points (reprojected to EPSG:4490):
    (lon, lat, direction, kind). Raises :class:`PlanRefused` ``candidates_unreadable`` /
    ``candidates_invalid`` with what is wrong."""
    if not path.is_file():
        raise PlanRefused("candidates_unreadable", f"找不到候选文件 {path}。", {"file": str(path)})
    try:
        if path.suffix.lower() in (".csv", ".txt"):
            frame = _read_csv(path)
            lon_c, lat_c = _column(frame, _LON), _column(frame, _LAT)
            if lon_c is None or lat_c is None:
                raise PlanRefused(
                    "candidates_invalid",
                    "候选 CSV 需要经度、纬度两列（lon/lat 或 经度/纬度，CGCS2000 度）。",
                    {"columns": [str(c) for c in frame.columns][:50]},
                )
            lon = pd.to_numeric(frame[lon_c], errors="coerce").to_numpy(dtype="float64")
            lat = pd.to_numeric(frame[lat_c], errors="coerce").to_numpy(dtype="float64")
        else:
            import pyogrio

            frame = pyogrio.read_dataframe(path, max_features=MAX_FILE_CANDIDATES + 1)
            if frame.crs is not None:
                frame = frame.to_crs(4490)
            geoms = np.asarray(frame.geometry.values, dtype=object)
            if len(geoms) and not (shapely.get_type_id(geoms) == 0).all():
                raise PlanRefused("candidates_invalid", "候选文件中的要素应全部为点。", {"file": path.name})
            lon, lat = shapely.get_x(geoms), shapely.get_y(geoms)
    except PlanRefused:
        raise
    except Exception as exc:  # GDAL, the CSV parser: the file cannot be read
        raise PlanRefused(
            "candidates_unreadable", f"无法读取候选文件 {path.name}：{str(exc)[:200]}", {"file": path.name}
        ) from None
    n = len(lon)
    if n == 0:
        raise PlanRefused("candidates_invalid", "候选文件中没有点位。", {"file": path.name})
    if n > MAX_FILE_CANDIDATES:
        raise PlanRefused(
            "candidates_invalid", f"候选点位最多 {MAX_FILE_CANDIDATES:,} 个。", {"max": MAX_FILE_CANDIDATES}
        )
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90))
    if bad.any():
        rows = (np.flatnonzero(bad)[:20] + 1).tolist()
        raise PlanRefused(
            "candidates_invalid", f"候选文件第 {rows[0]} 行等 {int(bad.sum())} 行的坐标无效。", {"rows": rows}
        )
    d_c, k_c = _column(frame, _DIRECTION), _column(frame, _KIND)
    direction = frame[d_c].to_numpy(dtype=object) if d_c is not None else np.full(n, None, dtype=object)
    kind_text = frame[k_c].to_numpy(dtype=object) if k_c is not None else np.full(n, None, dtype=object)
    kind = np.array([camera_kind(None, k) for k in kind_text], dtype=object)
    return lon, lat, direction, kind


def _read_csv(path: Path) -> pd.DataFrame:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return pd.read_csv(path, dtype=str, encoding=encoding, nrows=MAX_FILE_CANDIDATES + 1)
        except UnicodeDecodeError:
            continue
    raise PlanRefused("candidates_unreadable", "候选 CSV 的编码无法识别（应为 UTF-8 或 GBK）。", {"file": path.name})
