"""OGC API – Features (Part 1 Core, GeoJSON, HTML, OpenAPI 3.0; Part 2 CRS by reference): the
vocabulary, the parsing of its query parameters, format negotiation, its own OpenAPI 3.0 document
and the HTML pages. The routes are in :mod:`gridmap.api.routers.ogc`; the SQL in
:mod:`gridmap.db.areas` and :mod:`gridmap.db.cameras`.

Coordinates: CRS84 is longitude, latitude (degrees); EPSG:4490 is written in its EPSG axis order,
latitude, longitude (as Part 2 asks, and as GDAL reads it); EPSG:3857 is x, y in metres. A
``bbox`` is read in ``bbox-crs`` with the same axis order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from fastapi import Request
from jinja2 import Environment, PackageLoader, select_autoescape

from gridmap import __version__
from gridmap.api.errors import ApiError
from gridmap.api.schemas_read import comma_numbers
from gridmap.db.areas import OutputCrs
from gridmap.levels import LEVELS

PREFIX = "/ogc"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
EPSG3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
STORAGE_CRS = EPSG4490

#: The CRSs every collection serves, by URI: how the database writes them.
CRSS: dict[str, OutputCrs] = {
    CRS84: OutputCrs(4490, lat_first=False),
    EPSG4490: OutputCrs(4490, lat_first=True),
    EPSG3857: OutputCrs(3857, lat_first=False),
}
#: The longest CRS URI read (anything longer is refused before it is looked at).
MAX_CRS_LENGTH = 200
#: Longest value of a property filter.
MAX_FILTER_LENGTH = 100

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]

#: Features per page when ``limit`` is not given: a short HTML page, a small JSON answer. GDAL
#: asks for max(1000, this) per page and QGIS for its own page size, up to the maximum
#: (``GRIDMAP_OGC_MAX_LIMIT``) advertised in the OpenAPI documents.
DEFAULT_LIMIT = 100
#: Largest offset (PostgreSQL's OFFSET is a bigint).
MAX_OFFSET = 2**63 - 1

OAS30 = "application/vnd.oai.openapi+json;version=3.0"
OAS31 = "application/vnd.oai.openapi+json;version=3.1"
GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"

Format = Literal["json", "html"]


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    level: int | None  # None: cameras
    filters: tuple[str, ...]


AREA_FILTERS = ("code", "parent_code", "level")
CAMERA_FILTERS = ("device_id", "area_code", "status", "online", "operator")

COLLECTIONS: dict[str, Collection] = {
    **{
        lv.key: Collection(
            lv.key,
            lv.name_zh,
            f"{lv.name_zh}（第 {lv.number} 级，编码 {lv.code_length} 位）的边界与覆盖率指标："
            "计划、已安装、在线路数，安装率、上云率，户数、人口、面积（平方米）。",
            lv.number,
            AREA_FILTERS,
        )
        for lv in LEVELS
    },
    "cameras": Collection(
        "cameras",
        "摄像头",
        "摄像头点位（GB/T 28181 设备编码）：状态、是否在线、运营商、所在微网格。默认不含已拆除的。",
        None,
        CAMERA_FILTERS,
    ),
}

ITEM_PARAMETERS = ("f", "limit", "offset", "bbox", "bbox-crs", "crs", "datetime")


# --------------------------------------------------------------------------- parameters


def check_parameters(request: Request, allowed: tuple[str, ...]) -> None:
    """400 ``unknown_parameter`` for a query parameter this resource does not declare (Part 1,
    /req/core/query-param-unknown): a misspelt filter must not silently return everything."""
    unknown = sorted({k for k in request.query_params if k not in allowed})
    if unknown:
        raise ApiError(
            400,
            "unknown_parameter",
            f"不支持的查询参数：{'、'.join(unknown)}。此处可用的参数：{'、'.join(allowed)}。",
            {"unknown": unknown, "allowed": list(allowed)},
        )


def negotiate(request: Request) -> Format:
    """``f=json`` / ``f=html`` (406 ``unsupported_format`` for anything else); without ``f``, HTML
    when the Accept header prefers text/html over JSON (a browser), else JSON."""
    f = request.query_params.get("f")
    if f is not None:
        value = f.strip().lower()
        if value in ("json", "geojson", JSON, GEOJSON):
            return "json"
        if value in ("html", HTML):
            return "html"
        raise ApiError(
            406,
            "unsupported_format",
            f"不支持的格式 f={f[:50]!r}：只能是 json（GeoJSON / JSON）或 html。",
            {"f": f[:200], "allowed": ["json", "html"]},
        )
    html_q = json_q = 0.0
    for part in request.headers.get("accept", "").split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        q = 1.0
        for p in params.split(";"):
            key, _, value = p.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media in (HTML, "application/xhtml+xml"):
            html_q = max(html_q, q)
        elif media in (JSON, GEOJSON, "application/*", "*/*") or media.endswith("+json"):
            json_q = max(json_q, q)
    return "html" if html_q > json_q else "json"


#: Longest ``datetime`` value read (an interval of two RFC 3339 times with offsets is ~60).
MAX_DATETIME_LENGTH = 100


def parse_datetime(value: str | None) -> str | None:
    """``datetime`` (Part 1, /req/core/fc-time-definition): an RFC 3339 date or date-time, or an
    interval ``start/end`` with ``..`` or nothing for an open end; 400 ``invalid_datetime``
    otherwise. Returned as given: the features are the live state and have no time of their own
    (the collections declare no temporal extent), so every feature matches any valid value."""
    if value is None:
        return None
    ends = value.split("/") if len(value) <= MAX_DATETIME_LENGTH else []
    ok = 1 <= len(ends) <= 2 and all(_is_instant(e) or (len(ends) == 2 and e in ("", "..")) for e in ends)
    if not ok or all(e in ("", "..") for e in ends):
        raise ApiError(
            400,
            "invalid_datetime",
            "datetime 应为 RFC 3339 时间（如 2026-01-31 或 2026-01-31T08:00:00Z）或区间“开始/结束”"
            "（开放的一端写 ..）。",
            {"datetime": value[:MAX_DATETIME_LENGTH]},
        )
    return value


def _is_instant(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text) if "T" in text or "t" in text else dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) >= 10


def parse_crs(value: str | None, name: str = "crs") -> str:
    """A CRS URI this API serves (CRS84 when not given); 400 ``invalid_crs`` otherwise."""
    if value is None or not value.strip():
        return CRS84
    uri = value.strip()
    if uri.startswith("https://"):
        uri = "http://" + uri[len("https://") :]
    if len(uri) <= MAX_CRS_LENGTH and uri in CRSS:
        return uri
    raise ApiError(
        400,
        "invalid_crs",
        f"{name} 只能是以下坐标系之一：{'、'.join(CRSS)}（CRS84 为经度、纬度；EPSG:4490 为纬度、经度；"
        "EPSG:3857 为米）。",
        {name: value[:MAX_CRS_LENGTH], "allowed": list(CRSS)},
    )


def _bbox_error(value: str, why: str) -> ApiError:
    return ApiError(400, "invalid_bbox", f"bbox 不正确：{why}", {"bbox": value[:300]})


#: Web Mercator's square, metres (x), and the y of ±85.06° (where it ends).
_MERCATOR_X = 20037508.3427892
_MERCATOR_Y = 20048966.1040863


def parse_bbox(value: str | None, crs: str) -> tuple[float, float, float, float] | None:
    """``bbox`` in ``crs`` (``bbox-crs``), 4 numbers (or 6, heights ignored) in that CRS's axis
    order, as (xmin, ymin, xmax, ymax) with x = longitude / easting; 400 ``invalid_bbox``."""
    if value is None or not value.strip():
        return None
    numbers = comma_numbers(value)
    if len(numbers) not in (4, 6):
        raise _bbox_error(value, "应为 4 个（或含高程的 6 个）用逗号分隔的数字。")
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if crs == EPSG3857:
        x0, y0, x1, y1 = numbers
        if not (
            abs(x0) <= _MERCATOR_X and abs(x1) <= _MERCATOR_X and abs(y0) <= _MERCATOR_Y and abs(y1) <= _MERCATOR_Y
        ):
            raise _bbox_error(value, "EPSG:3857 坐标超出范围（单位：米，x 绝对值不超过 20037508.34）。")
    else:
        if crs == EPSG4490:  # EPSG axis order: latitude first
            numbers = [numbers[1], numbers[0], numbers[3], numbers[2]]
        x0, y0, x1, y1 = numbers
        if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
            order = "纬度,经度（EPSG:4490 轴顺序）" if crs == EPSG4490 else "经度,纬度（CRS84）"
            raise _bbox_error(value, f"超出经纬度范围：应为 最小{order},最大{order}，单位：度。")
    if x0 > x1 or y0 > y1:
        raise _bbox_error(value, "最小值不能大于最大值（不支持跨越 180° 经线的范围）。")
    return (x0, y0, x1, y1)


def parse_int(value: str | None, name: str, default: int, minimum: int, maximum: int) -> int:
    """An integer query parameter between ``minimum`` and ``maximum``; 400 ``invalid_<name>``."""
    if value is None or not value.strip():
        return default
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or not minimum <= int(text) <= maximum:
        raise ApiError(
            400,
            f"invalid_{name}",
            f"{name} 应为 {minimum} 到 {maximum} 之间的整数，而不是 {value[:50]!r}。",
            {name: value[:50], "minimum": minimum, "maximum": maximum},
        )
    return int(text)


def parse_bool(value: str | None, name: str) -> bool | None:
    if value is None or not value.strip():
        return None
    text = value.strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ApiError(400, f"invalid_{name}", f"{name} 只能是 true 或 false，而不是 {value[:50]!r}。", {name: value[:50]})


def filter_value(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if len(value) > MAX_FILTER_LENGTH:
        raise ApiError(
            400,
            "invalid_parameter",
            f"参数 {name} 太长（最多 {MAX_FILTER_LENGTH} 个字符）。",
            {"parameter": name, "length": len(value)},
        )
    return value


# --------------------------------------------------------------------------- links


def base_url(request: Request) -> str:
    """The landing page's absolute URL (no trailing slash)."""
    return str(request.base_url).rstrip("/") + PREFIX


def link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def self_links(request: Request, fmt: Format, json_type: str = JSON) -> list[dict[str, str]]:
    """``self`` (this format) and ``alternate`` (the other) for the current URL."""
    as_json = str(request.url.include_query_params(f="json"))
    as_html = str(request.url.include_query_params(f="html"))
    if fmt == "json":
        return [link(as_json, "self", json_type, "本页（JSON）"), link(as_html, "alternate", HTML, "本页（HTML）")]
    return [link(as_html, "self", HTML, "本页（HTML）"), link(as_json, "alternate", json_type, "本页（JSON）")]


# --------------------------------------------------------------------------- the OpenAPI 3.0 document


def _param(name: str, schema: dict[str, Any], description: str, where: str = "query") -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "in": where, "required": where == "path", "schema": schema}
    out["description"] = description
    if where == "query":
        out.update(style="form", explode=False)
    return out


def _filter_params(collection: Collection) -> list[dict[str, Any]]:
    text: dict[str, Any] = {"type": "string", "maxLength": MAX_FILTER_LENGTH}
    docs: dict[str, tuple[str, dict[str, Any]]] = {
        "code": ("区域编码（完全相等）", text),
        "parent_code": ("上级区域编码（完全相等）", text),
        "level": ("层级 0–4 或其英文名（与集合的层级不同则无结果）", text),
        "device_id": ("设备编码（完全相等）", text),
        "area_code": ("所在微网格编码（完全相等）", text),
        "status": ("planned、installed、removed，可用逗号分隔多个；默认不含 removed", text),
        "online": ("是否在线", {"type": "boolean"}),
        "operator": ("运营商（完全相等；未知：没有运营商的）", text),
    }
    return [_param(name, docs[name][1], docs[name][0]) for name in collection.filters]


def openapi_document(request: Request, max_limit: int, needs_token: bool) -> dict[str, Any]:
    """The OpenAPI 3.0 definition of ``/ogc`` (its ``service-desc``): every collection's paths
    spelt out (GDAL looks the items path of a collection up by its name) and ``limit`` as a shared
    parameter (``#/components/parameters/limit``, where GDAL and QGIS read its maximum and
    default to size their pages)."""
    ref = {"$ref": "#/components/parameters/"}

    def r(name: str) -> dict[str, str]:
        return {"$ref": ref["$ref"] + name}

    json_or_html = {
        JSON: {"schema": {"type": "object"}},
        HTML: {"schema": {"type": "string"}},
    }
    errors = {
        str(s): {"$ref": f"#/components/responses/{s}"}
        for s in (400, 401, 403, 404, 406, 503)
        if s != 401 or needs_token
    }

    def operation(op_id: str, summary: str, params: list, content: dict) -> dict[str, Any]:
        return {
            "get": {
                "operationId": op_id,
                "summary": summary,
                "tags": ["ogc"],
                "parameters": params,
                "responses": {"200": {"description": summary, "content": content}, **errors},
            }
        }

    paths: dict[str, Any] = {
        "/": operation("getLandingPage", "入口页", [r("f")], json_or_html),
        "/conformance": operation("getConformance", "符合的标准类别", [r("f")], json_or_html),
        "/collections": operation("getCollections", "数据集合", [r("f")], json_or_html),
    }
    features = {
        GEOJSON: {"schema": {"$ref": "#/components/schemas/featureCollectionGeoJSON"}},
        HTML: {"schema": {"type": "string"}},
    }
    feature = {
        GEOJSON: {"schema": {"$ref": "#/components/schemas/featureGeoJSON"}},
        HTML: {"schema": {"type": "string"}},
    }
    for c in COLLECTIONS.values():
        paths[f"/collections/{c.id}"] = operation(f"describe_{c.id}", f"集合：{c.title}", [r("f")], json_or_html)
        item_params = [
            r("f"),
            r("limit"),
            r("offset"),
            r("bbox"),
            r("bbox-crs"),
            r("crs"),
            r("datetime"),
            *_filter_params(c),
        ]
        paths[f"/collections/{c.id}/items"] = operation(
            f"getFeatures_{c.id}", f"{c.title}：要素", item_params, features
        )
        paths[f"/collections/{c.id}/items/{{featureId}}"] = operation(
            f"getFeature_{c.id}", f"{c.title}：单个要素", [r("featureId"), r("f"), r("crs")], feature
        )
    crs_schema = {"type": "string", "format": "uri", "enum": list(CRSS), "default": CRS84}
    error_body = {"content": {JSON: {"schema": {"$ref": "#/components/schemas/exception"}}}}
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "gridmap OGC API – Features",
            "version": __version__,
            "description": "网格与摄像头覆盖数据（OGC API – Features 第 1 部分、第 2 部分）。出错时返回 "
            "{code: 稳定的英文错误码, message: 中文说明, detail}。",
        },
        "servers": [{"url": base_url(request)}],
        "paths": paths,
        "components": {
            "parameters": {
                "f": _param("f", {"type": "string", "enum": ["json", "html"]}, "格式（默认按 Accept 头，通常为 JSON）"),
                "limit": _param(
                    "limit",
                    {"type": "integer", "minimum": 1, "maximum": max_limit, "default": DEFAULT_LIMIT},
                    f"每页要素数（1 到 {max_limit}）",
                ),
                "offset": _param(
                    "offset", {"type": "integer", "minimum": 0, "default": 0}, "跳过的要素数（见 next 链接）"
                ),
                "bbox": _param(
                    "bbox",
                    {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
                    "范围，按 bbox-crs 的轴顺序（CRS84：经度,纬度；EPSG:4490：纬度,经度）",
                ),
                "bbox-crs": _param("bbox-crs", crs_schema, "bbox 的坐标系（默认 CRS84）"),
                "crs": _param("crs", crs_schema, "输出坐标系（默认 CRS84）"),
                "datetime": _param(
                    "datetime",
                    {"type": "string", "maxLength": MAX_DATETIME_LENGTH},
                    "RFC 3339 时间或区间（开始/结束，开放端写 ..）；要素是当前状态，没有自己的时间，任何有效值都匹配全部要素",
                ),
                "featureId": _param("featureId", {"type": "string", "maxLength": 64}, "区域编码或设备编码", "path"),
            },
            "schemas": {
                "exception": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "detail": {}},
                },
                "featureGeoJSON": {
                    "type": "object",
                    "required": ["type", "geometry", "properties"],
                    "properties": {
                        "type": {"type": "string", "enum": ["Feature"]},
                        "id": {"type": "string"},
                        "geometry": {"type": "object", "nullable": True},
                        "properties": {"type": "object", "nullable": True},
                        "links": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "featureCollectionGeoJSON": {
                    "type": "object",
                    "required": ["type", "features"],
                    "properties": {
                        "type": {"type": "string", "enum": ["FeatureCollection"]},
                        "features": {"type": "array", "items": {"$ref": "#/components/schemas/featureGeoJSON"}},
                        "links": {"type": "array", "items": {"type": "object"}},
                        "timeStamp": {"type": "string", "format": "date-time"},
                        "numberMatched": {"type": "integer", "minimum": 0},
                        "numberReturned": {"type": "integer", "minimum": 0},
                    },
                },
            },
            "responses": {
                "400": {"description": "参数不正确（稳定错误码见 code）", **error_body},
                "401": {"description": "需要令牌或令牌无效", **error_body},
                "403": {"description": "令牌不能用于此处", **error_body},
                "404": {"description": "没有这个集合或要素", **error_body},
                "406": {"description": "不支持的格式 f", **error_body},
                "503": {"description": "数据库暂时不可用", **error_body},
            },
        },
    }
    if needs_token:
        doc["components"]["securitySchemes"] = {"token": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"token": []}]
    return doc


# --------------------------------------------------------------------------- feature schemas


def _json_type(annotation: Any) -> dict[str, str]:
    """The JSON Schema type of a model field (``X | None`` counts as X: GDAL reads one type)."""
    import types
    import typing

    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = args[0] if args else str
    if typing.get_origin(annotation) is Literal:
        return {"type": "string"}
    if annotation is bool:
        return {"type": "boolean"}
    if annotation is int:
        return {"type": "integer"}
    if annotation is float:
        return {"type": "number"}
    if annotation is dt.datetime:
        return {"type": "string", "format": "date-time"}
    if annotation is dt.date:
        return {"type": "string", "format": "date"}
    return {"type": "string"}


def feature_schema(collection: Collection) -> dict[str, Any]:
    """The JSON Schema of one feature of ``collection`` (its ``describedby`` link): the property
    types of /api/v1/areas and /api/v1/cameras (``gridmap.api.schemas_read``), so that GDAL types
    a rate as a real number even when the first page has only 0 and 1."""
    from gridmap.api.schemas_read import AreaProperties, CameraProperties

    model = AreaProperties if collection.level is not None else CameraProperties
    properties = {
        name: {**_json_type(field.annotation), **({"description": field.description} if field.description else {})}
        for name, field in model.model_fields.items()
    }
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "title": collection.title,
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "string"},
            "geometry": {"type": "object"},
            "properties": {"type": "object", "properties": properties},
        },
    }


SCHEMA_JSON = "application/schema+json"


# --------------------------------------------------------------------------- HTML


#: Chinese column headings of the HTML tables (the JSON keeps the property names).
LABELS = {
    "code": "编码",
    "name": "名称",
    "level": "层级",
    "level_name": "层级名称",
    "kind": "类型",
    "parent_code": "上级编码",
    "households": "户数",
    "population": "人口",
    "worker_name": "网格员",
    "area_m2": "面积（km²）",
    "planned": "计划",
    "installed": "已安装",
    "online": "在线",
    "rollout_rate": "安装率",
    "online_rate": "上云率",
    "device_id": "设备编码",
    "status": "状态",
    "operator": "运营单位",
    "area_code": "所在微网格",
    "installed_on": "安装日期",
    "last_seen": "最近上报",
    "place_type": "点位类型",
}
_RATES = ("rollout_rate", "online_rate")


def cell(value: Any, column: str) -> str:
    """A property as the HTML tables show it: rates as percentages (2 decimals), ``area_m2`` in
    km² (2 decimals), whole numbers with thousands separators, booleans as 是/否."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int | float):
        if column in _RATES:
            return f"{value * 100:.2f}%"
        if column == "area_m2":
            return f"{value / 1e6:,.2f}"
        if isinstance(value, int) or float(value).is_integer():
            return f"{int(value):,}"
    return str(value)


@cache
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("gridmap.web", "templates"), autoescape=select_autoescape(default=True))
    env.filters["cell"] = cell
    env.filters["label"] = lambda column: LABELS.get(column, column)
    return env


#: The HTML pages run no script and load nothing from elsewhere.
HTML_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'self'"
)


def render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)
