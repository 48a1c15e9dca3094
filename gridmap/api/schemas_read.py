"""Request parameters and response models of the read API (areas, cameras, coverage, search).

Parameters that need a stable error code of their own (``invalid_bbox``, ``invalid_level``,
``invalid_status``, ``invalid_date``, ``unknown_format``) arrive as text and are parsed here;
everything else is typed in the route (FastAPI answers ``invalid_request`` for those).

The GeoJSON answers are built in SQL and sent as they come (no re-serialisation in Python); the
models below describe them in OpenAPI. Coordinates are EPSG:4490 (CGCS2000) longitude/latitude
in degrees, rounded to 7 decimals (about 1 cm), per RFC 7946 order (lon, lat).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any, Literal, NamedTuple

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from gridmap.api.errors import ApiError
from gridmap.db.areas import Page
from gridmap.db.models import CAMERA_STATUSES
from gridmap.levels import ALL_LEVELS, LEVEL_BY_NUMBER

# --------------------------------------------------------------------------- parameters


class BBox(NamedTuple):
    """A lon/lat box in EPSG:4490 degrees."""

    minlon: float
    minlat: float
    maxlon: float
    maxlat: float


BBOX_DESCRIPTION = (
    "Bounding box `minlon,minlat,maxlon,maxlat` in EPSG:4490 (CGCS2000) longitude/latitude "
    "degrees, e.g. `115.3,33.8,115.6,34.0`."
)
LEVEL_DESCRIPTION = (
    "Level: -2 province 省, -1 city 市 (both derived from the live counties), 0 county 县, 1 township 乡镇/街道, "
    "2 village 村/社区, 3 grid 网格, 4 micro-grid 微网格 "
    "(the number or its key: province, city, county, township, village, grid, microgrid)."
)


def comma_numbers(value: str) -> list[float]:
    """The comma-separated finite numbers of ``value`` (a ``bbox``); [] when any part is not one."""
    try:
        numbers = [float(p.strip()) for p in value.split(",")]
    except ValueError:
        return []
    return numbers if all(math.isfinite(n) for n in numbers) else []


def parse_bbox(value: str | None) -> BBox | None:
    """``minlon,minlat,maxlon,maxlat`` → :class:`BBox`; 400 ``invalid_bbox`` with the reason."""
    if value is None or not value.strip():
        return None
    numbers = comma_numbers(value)
    if len(numbers) != 4:
        raise ApiError(
            400,
            "invalid_bbox",
            f"bbox 应为 4 个用逗号分隔的数字：最小经度,最小纬度,最大经度,最大纬度"
            f"（EPSG:4490 经纬度，单位：度），而不是 {value!r}。",
            {"bbox": value},
        )
    box = BBox(*numbers)
    if not (
        -180 <= box.minlon <= 180 and -180 <= box.maxlon <= 180 and -90 <= box.minlat <= 90 and -90 <= box.maxlat <= 90
    ):
        hint = "是否把经度和纬度写反了？" if any(abs(n) > 90 for n in (box.minlat, box.maxlat)) else ""
        raise ApiError(
            400,
            "invalid_bbox",
            f"bbox 超出经纬度范围：经度应在 -180 到 180 之间，纬度应在 -90 到 90 之间（单位：度，不是米）。{hint}",
            {"bbox": value},
        )
    if box.minlon > box.maxlon or box.minlat > box.maxlat:
        raise ApiError(
            400,
            "invalid_bbox",
            "bbox 的顺序应为 最小经度,最小纬度,最大经度,最大纬度：最小值不能大于最大值。",
            {"bbox": value},
        )
    return box


def parse_level(value: str | int | None) -> int | None:
    """A level number (-2–4) or key (province … microgrid); 400 ``invalid_level`` otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip().lower()
    keys = {lv.key: lv.number for lv in ALL_LEVELS}
    if text in keys:
        return keys[text]
    if text.lstrip("-").isdigit() and len(text) <= 3 and int(text) in LEVEL_BY_NUMBER:
        return int(text)
    raise ApiError(
        400,
        "invalid_level",
        f"层级只能是 -2 省、-1 市、0 县、1 乡镇/街道、2 村/社区、3 网格、4 微网格"
        f"（或 {', '.join(keys)}），而不是 {value!r}。",
        {"level": value},
    )


def parse_statuses(value: str | None) -> tuple[str, ...] | None:
    """``planned``, ``installed``, ``removed`` or several joined by commas; 400 ``invalid_status``."""
    if value is None or not value.strip():
        return None
    statuses = tuple(dict.fromkeys(s.strip().lower() for s in value.split(",") if s.strip()))
    wrong = [s for s in statuses if s not in CAMERA_STATUSES]
    if wrong or not statuses:
        raise ApiError(
            400,
            "invalid_status",
            f"状态只能是 planned（计划）、installed（已安装）、removed（已拆除），可用逗号分隔多个，而不是 {value!r}。",
            {"status": value},
        )
    return statuses


def parse_date(value: str | None, name: str) -> dt.date | None:
    if value is None or not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ApiError(
            400, "invalid_date", f"{name} 应为 YYYY-MM-DD 格式的日期，而不是 {value!r}。", {name: value}
        ) from None


def parse_format(value: str, allowed: tuple[str, ...]) -> str:
    fmt = value.strip().lower()
    if fmt not in allowed:
        raise ApiError(
            400,
            "unknown_format",
            f"format 只能是 {' / '.join(allowed)}，而不是 {value!r}。",
            {"format": value, "allowed": list(allowed)},
        )
    return fmt


class GeoJSONResponse(JSONResponse):
    """JSON of RFC 7946 GeoJSON (the body is usually rendered by PostgreSQL already)."""

    media_type = "application/geo+json"


# --------------------------------------------------------------------------- GeoJSON models (docs)

Rate = Field(default=None, description="Fraction 0..1; null when the denominator is 0.")


class Link(BaseModel):
    rel: Literal["next", "prev"]
    href: str


class AreaProperties(BaseModel):
    code: str
    name: str | None
    level: int
    level_name: str = Field(description="县 / 乡镇/街道 / 村/社区 / 网格 / 微网格")
    kind: str | None = Field(description="What the county calls it: 街道, 镇, 乡, 社区, 村, 网格, 微网格.")
    parent_code: str | None
    households: int | None = Field(description="Own figure, or the sum of the children's (as `gridmap coverage`).")
    population: int | None
    worker_name: str | None = Field(description="网格员")
    area_m2: float | None
    planned: int | None
    installed: int | None
    online: int | None
    rollout_rate: float | None = Rate
    online_rate: float | None = Rate


#: The GeoJSON (2008) ``crs`` member naming EPSG:4490 (CGCS2000). RFC 7946 dropped the member and
#: assumes WGS 84, but allows another CRS "by prior arrangement"; GDAL (so QGIS, ogr2ogr) reads the
#: member and labels the data EPSG:4490 instead of EPSG:4326. Coordinates stay lon, lat.
CRS_MEMBER: dict[str, Any] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}}


class NamedCrs(BaseModel):
    type: Literal["name"] = "name"
    properties: dict[str, str] = Field(
        description='`{"name": "urn:ogc:def:crs:EPSG::4490"}` (CGCS2000; lon, lat order).'
    )


class Geometry(BaseModel):
    type: str = Field(description="Point, MultiPolygon, … (EPSG:4490 lon/lat degrees, 7 decimals).")
    coordinates: Any


class AreaFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str = Field(description="The area code.")
    geometry: Geometry | None = Field(description="Null with geometry=none.")
    properties: AreaProperties


class AreaCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    crs: NamedCrs
    numberMatched: int
    numberReturned: int
    links: list[Link]
    features: list[AreaFeature]


class AreaRef(BaseModel):
    code: str
    name: str | None
    level: int


class ChildArea(AreaRef):
    planned: int | None
    installed: int | None
    online: int | None
    rollout_rate: float | None = Rate
    online_rate: float | None = Rate


class OperatorCounts(BaseModel):
    planned: int
    installed: int
    online: int
    rollout_rate: float | None = Rate
    online_rate: float | None = Rate


class CoverageRowModel(BaseModel):
    """A row of `gridmap coverage --format json` (``CoverageRow.to_dict()``)."""

    code: str
    name: str | None
    level: int
    parent_code: str | None
    planned: int
    installed: int
    online: int
    rollout_rate: float | None = Rate
    online_rate: float | None = Rate
    cameras_per_km2: float | None
    households: int | None
    households_per_camera: float | None
    area_km2: float | None
    children: int
    no_camera_children: int
    operators: dict[str, OperatorCounts] = Field(description="By operator (未知 when not given).")
    seen_m2: float | None = Field(
        default=None, description="With view=true: the part installed cameras' views cover, m² (GK zone)."
    )
    seen_rate: float | None = Field(default=None, description="With view=true: seen_m2 / area (fraction).")
    households_seen: float | None = Field(
        default=None, description="With view=true: households in seen parts (uniform per micro-grid)."
    )
    households_seen_rate: float | None = Field(default=None, description="With view=true: a fraction.")


class AreaDetailProperties(AreaProperties):
    worker_phone: str | None
    coverage: CoverageRowModel | None
    ancestors: list[AreaRef] = Field(description="From the county down to the parent.")
    children: list[ChildArea]
    bbox: list[float] = Field(description="[minlon, minlat, maxlon, maxlat], EPSG:4490 degrees.")
    camera_count: int = Field(description="Cameras (not removed) in the area and below.")


class AreaDetail(BaseModel):
    type: Literal["Feature"] = "Feature"
    crs: NamedCrs
    id: str
    geometry: Geometry
    properties: AreaDetailProperties


class CameraProperties(BaseModel):
    device_id: str = Field(description="GB/T 28181 device id (20 digits).")
    name: str | None
    status: Literal["planned", "installed", "removed"]
    online: bool
    operator: str | None
    area_code: str | None = Field(description="The leaf area (micro-grid) it lies in; null when in none.")
    installed_on: dt.date | None
    last_seen: dt.datetime | None
    place_type: str | None


class CameraFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str = Field(description="The device id.")
    geometry: Geometry | None
    properties: CameraProperties


class CameraCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    crs: NamedCrs
    numberMatched: int
    numberReturned: int
    links: list[Link]
    features: list[CameraFeature]


# --------------------------------------------------------------------------- JSON models


class CoverageRows(BaseModel):
    rows: list[CoverageRowModel]


class BlindRows(CoverageRows):
    level: int
    total: int = Field(description="Areas of the level (under code): the rows are the blind ones among them.")
    classes: dict[str, int] = Field(
        default_factory=dict,
        description="How many rows have no camera planned (no_plan) and how many some planned but none installed "
        "(not_installed).",
    )


class TrendPointModel(BaseModel):
    date: dt.date
    planned: int
    installed: int
    online: int
    rollout_rate: float | None = Rate
    online_rate: float | None = Rate


class Trend(BaseModel):
    code: str
    points: list[TrendPointModel]


class Summary(BaseModel):
    level: int
    areas: int = Field(description="Areas of the level whose representative point lies in bbox.")
    planned: int
    installed: int
    online: int
    rollout_rate: float | None = Rate
    online_rate: float | None = Rate
    blind: int = Field(description="Of those areas, how many have no installed camera.")


class SearchResult(BaseModel):
    code: str
    name: str | None
    level: int
    level_name: str
    bbox: list[float] | None = Field(description="[minlon, minlat, maxlon, maxlat], EPSG:4490 degrees.")


class SearchResults(BaseModel):
    results: list[SearchResult]


# --------------------------------------------------------------------------- paged GeoJSON answers


def feature_collection(
    request: Request, page: Page, *, limit: int, offset: int, headers: dict[str, str] | None = None
) -> Response:
    """A FeatureCollection answer around ``page`` (features rendered by PostgreSQL, spliced in as
    they are), with ``numberMatched``, ``numberReturned`` and next/prev links that keep every other
    query parameter."""
    links = []
    if offset + page.returned < page.matched and page.returned:
        links.append(
            {"rel": "next", "href": str(request.url.include_query_params(offset=offset + page.returned, limit=limit))}
        )
    if offset > 0:
        links.append(
            {"rel": "prev", "href": str(request.url.include_query_params(offset=max(0, offset - limit), limit=limit))}
        )
    head = json.dumps(
        {
            "type": "FeatureCollection",
            "crs": CRS_MEMBER,
            "numberMatched": page.matched,
            "numberReturned": page.returned,
            "links": links,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    body = head[:-1] + ',"features":' + page.features_json + "}"
    return Response(body.encode("utf-8"), media_type=GeoJSONResponse.media_type, headers=headers)


def json_bytes(content: Any) -> bytes:
    """Compact UTF-8 JSON (what :class:`fastapi.responses.JSONResponse` sends), for cached answers."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
