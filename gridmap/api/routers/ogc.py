"""OGC API – Features under /ogc: the landing page, /conformance, /collections (one per area level,
and the cameras), their items (GeoJSON or HTML, paged, with bbox, crs and property filters) and
single features; /ogc/api is its OpenAPI 3.0 definition. What the parameters mean and how they are
read is in :mod:`gridmap.api.ogc`; the SQL is :func:`gridmap.db.areas.list_areas` and
:func:`gridmap.db.cameras.list_cameras` (the same queries, and so the same figures, as
/api/v1/areas and /api/v1/cameras).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from gridmap.api import ogc
from gridmap.api.conditional import cache_headers, not_modified, revision_etag
from gridmap.api.deps import Reader, SettingsDep
from gridmap.api.errors import ApiError, responses
from gridmap.api.revision_cache import RevisionedDep, SnapshotConn
from gridmap.api.schemas_read import GeoJSONResponse, json_bytes, parse_level, parse_statuses
from gridmap.config import Settings
from gridmap.db import areas as areas_db
from gridmap.db import cameras as cameras_db
from gridmap.db.areas import Page
from gridmap.db.revisions import current_revision

router = APIRouter(prefix=ogc.PREFIX, tags=["ogc"])


# --------------------------------------------------------------------------- models (docs)


class Link(BaseModel):
    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class LandingPage(BaseModel):
    title: str
    description: str | None = None
    links: list[Link]


class Conformance(BaseModel):
    conformsTo: list[str]


class SpatialExtent(BaseModel):
    bbox: list[list[float]] = Field(description="[minlon, minlat, maxlon, maxlat] in CRS84.")
    crs: str


class Extent(BaseModel):
    spatial: SpatialExtent


class CollectionInfo(BaseModel):
    id: str
    title: str
    description: str | None = None
    itemType: str
    crs: list[str]
    storageCrs: str
    extent: Extent | None = None
    links: list[Link]


class Collections(BaseModel):
    links: list[Link]
    collections: list[CollectionInfo]


class OgcFeature(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    id: str
    geometry: dict[str, Any] | None
    properties: dict[str, Any] | None


class OgcFeatureCollection(BaseModel):
    type: str
    numberMatched: int
    numberReturned: int
    timeStamp: str
    links: list[Link]
    features: list[OgcFeature]


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_F = _query(
    "f", {"type": "string", "enum": ["json", "html"]}, "json 或 html（默认按 Accept 头：浏览器 HTML，其余 JSON）。"
)
_CRS = {"type": "string", "enum": list(ogc.CRSS), "maxLength": ogc.MAX_CRS_LENGTH}
_TEXT = {"type": "string", "maxLength": ogc.MAX_FILTER_LENGTH}
#: Documented maximum of ``limit``: set from the settings by :func:`document_limits`.
_LIMIT = _query("limit", {"type": "integer", "minimum": 1, "default": ogc.DEFAULT_LIMIT}, "每页要素数。")
_ITEM_PARAMS = [
    _F,
    _LIMIT,
    _query("offset", {"type": "integer", "minimum": 0, "default": 0}, "跳过的要素数（见 next 链接）。"),
    _query(
        "bbox",
        {"type": "string"},
        "范围 4 个数，按 bbox-crs 的轴顺序：CRS84 为 最小经度,最小纬度,最大经度,最大纬度；"
        "EPSG:4490 为 最小纬度,最小经度,最大纬度,最大经度；EPSG:3857 为米。",
    ),
    _query("bbox-crs", _CRS, "bbox 的坐标系，默认 CRS84。"),
    _query("crs", _CRS, "输出坐标系，默认 CRS84（经度,纬度）；EPSG:4490 为纬度,经度。"),
    _query(
        "datetime",
        {"type": "string", "maxLength": ogc.MAX_DATETIME_LENGTH},
        "RFC 3339 时间或区间（开始/结束，开放端写 ..）。要素是当前状态，没有自己的时间：有效值匹配全部要素。",
    ),
    _query("code", _TEXT, "区域集合：区域编码。"),
    _query("parent_code", _TEXT, "区域集合：上级区域编码。"),
    _query("level", _TEXT, "区域集合：层级（0–4 或英文名）。"),
    _query("device_id", _TEXT, "cameras：设备编码。"),
    _query("area_code", _TEXT, "cameras：所在微网格编码。"),
    _query("status", _TEXT, "cameras：planned、installed、removed（可逗号分隔多个）。"),
    _query("online", {"type": "boolean"}, "cameras：是否在线。"),
    _query("operator", _TEXT, "cameras：运营商。"),
]
_HTML_200: dict[int | str, dict[str, Any]] = {200: {"content": {ogc.HTML: {"schema": {"type": "string"}}}}}
CollectionId = Annotated[
    str, Path(description="集合：county、township、village、grid、microgrid（各级区域）或 cameras。")
]


def document_limits(spec: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """``spec`` (the app's OpenAPI) with the ``limit`` maximum of the OGC items and of
    /api/v1/areas set to ``GRIDMAP_OGC_MAX_LIMIT``."""
    for path in (f"{ogc.PREFIX}/collections/{{collectionId}}/items", "/api/v1/areas"):
        for param in spec.get("paths", {}).get(path, {}).get("get", {}).get("parameters", []):
            if param.get("name") == "limit" and param.get("in") == "query":
                param["schema"] = {**param["schema"], "maximum": settings.ogc_max_limit}
    return spec


# --------------------------------------------------------------------------- helpers


def _collection(collection_id: str) -> ogc.Collection:
    c = ogc.COLLECTIONS.get(collection_id)
    if c is None:
        raise ApiError(
            404,
            "collection_not_found",
            f"没有名为 {collection_id[:64]!r} 的集合：可用的有 {'、'.join(ogc.COLLECTIONS)}（见 /ogc/collections）。",
            {"collectionId": collection_id[:64], "collections": list(ogc.COLLECTIONS)},
        )
    return c


def _json(content: Any, media_type: str = ogc.JSON, headers: dict[str, str] | None = None) -> Response:
    return Response(json_bytes(content), media_type=media_type, headers={"Vary": "Accept", **(headers or {})})


def _html(template: str, request: Request, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    base = ogc.base_url(request)
    page = ogc.render(template, base=base, json_url=str(request.url.include_query_params(f="json")), **context)
    return HTMLResponse(
        page,
        headers={
            "Content-Security-Policy": ogc.HTML_CSP,
            "Vary": "Accept",
            "Referrer-Policy": "no-referrer",
            **(headers or {}),
        },
    )


def _extents(rev: Any) -> dict[str, list[float] | None]:
    def compute(conn) -> dict[str, list[float] | None]:
        levels = areas_db.level_extents(conn)
        out: dict[str, list[float] | None] = {
            c.id: levels.get(c.level) for c in ogc.COLLECTIONS.values() if c.level is not None
        }
        out["cameras"] = cameras_db.camera_extent(conn)
        return out

    return rev.get("ogc_extents", compute)


def _collection_info(request: Request, c: ogc.Collection, extent: list[float] | None) -> dict[str, Any]:
    href = f"{ogc.base_url(request)}/collections/{c.id}"
    info: dict[str, Any] = {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "itemType": "feature",
        "crs": list(ogc.CRSS),
        "storageCrs": ogc.STORAGE_CRS,
        "links": [
            ogc.link(href, "self", ogc.JSON, f"{c.title}（JSON）"),
            ogc.link(href + "?f=html", "alternate", ogc.HTML, f"{c.title}（HTML）"),
            ogc.link(href + "/items", "items", ogc.GEOJSON, f"{c.title}：要素（GeoJSON）"),
            ogc.link(href + "/items?f=html", "items", ogc.HTML, f"{c.title}：要素（HTML）"),
            ogc.link(href + "/schema", "describedby", ogc.SCHEMA_JSON, f"{c.title}：要素的 JSON Schema"),
        ],
    }
    if extent is not None:
        info["extent"] = {"spatial": {"bbox": [extent], "crs": ogc.CRS84}}
    return info


def _page(request: Request, conn, c: ogc.Collection, *, limit: int, offset: int, bbox, bbox_crs: str, crs: str) -> Page:
    q = request.query_params
    output, bbox_srid = ogc.CRSS[crs], ogc.CRSS[bbox_crs].srid
    if c.level is not None:
        level = parse_level(ogc.filter_value(request, "level"))
        if level is not None and level != c.level:
            return Page(0, 0, "[]")
        return areas_db.list_areas(
            conn,
            level=c.level,
            bbox=bbox,
            bbox_srid=bbox_srid,
            code=ogc.filter_value(request, "code"),
            parent_code=ogc.filter_value(request, "parent_code"),
            limit=limit,
            offset=offset,
            crs=output,
        )
    return cameras_db.list_cameras(
        conn,
        statuses=parse_statuses(ogc.filter_value(request, "status")),
        online=ogc.parse_bool(q.get("online"), "online"),
        operator=ogc.filter_value(request, "operator"),
        device_id=ogc.filter_value(request, "device_id"),
        area_code=ogc.filter_value(request, "area_code"),
        bbox=bbox,
        bbox_srid=bbox_srid,
        limit=limit,
        offset=offset,
        crs=output,
    )


# --------------------------------------------------------------------------- routes


@router.get(
    "",
    response_model=LandingPage,
    summary="OGC API – Features 入口页",
    responses={**_HTML_200, **responses(401, 403, 406)},
    openapi_extra={"parameters": [_F]},
)
def landing(request: Request, _: Reader):
    """Links to the API definition (service-desc: /ogc/api, OpenAPI 3.0; the whole app's
    /openapi.json), its documentation (/docs), the conformance classes and the collections."""
    fmt = ogc.negotiate(request)
    ogc.check_parameters(request, ("f",))
    base, root = ogc.base_url(request), str(request.base_url).rstrip("/")
    links = [
        *ogc.self_links(request, fmt),
        ogc.link(f"{base}/api", "service-desc", ogc.OAS30, "OGC API 的 OpenAPI 3.0 定义"),
        ogc.link(f"{root}/openapi.json", "service-desc", ogc.OAS31, "整个 gridmap API 的 OpenAPI 定义"),
        ogc.link(f"{root}/docs", "service-doc", ogc.HTML, "API 文档"),
        ogc.link(f"{base}/conformance", "conformance", ogc.JSON, "符合的标准类别"),
        ogc.link(f"{base}/collections", "data", ogc.JSON, "数据集合"),
    ]
    body = {
        "title": "gridmap 网格与视频覆盖数据",
        "description": "各级区域（县、乡镇/街道、村/社区、网格、微网格）的边界与覆盖率指标，以及摄像头点位。",
        "links": links,
    }
    if fmt == "html":
        return _html("ogc_landing.html", request, landing=body)
    return _json(body)


@router.get("/api", include_in_schema=False)
def api_definition(request: Request, _: Reader, settings: SettingsDep):
    """The OpenAPI 3.0 definition of /ogc (``service-desc``)."""
    ogc.check_parameters(request, ("f",))
    doc = ogc.openapi_document(request, settings.ogc_max_limit, settings.read_access == "token")
    return _json(doc, ogc.OAS30)


@router.get(
    "/conformance",
    response_model=Conformance,
    summary="符合的 OGC 标准类别",
    responses={**_HTML_200, **responses(401, 403, 406)},
    openapi_extra={"parameters": [_F]},
)
def conformance(request: Request, _: Reader):
    """Part 1 core, geojson, html, oas30 and Part 2 crs."""
    fmt = ogc.negotiate(request)
    ogc.check_parameters(request, ("f",))
    if fmt == "html":
        return _html("ogc_conformance.html", request, classes=ogc.CONFORMANCE)
    return _json({"conformsTo": ogc.CONFORMANCE})


@router.get(
    "/collections",
    response_model=Collections,
    summary="数据集合",
    responses={**_HTML_200, **responses(401, 403, 406)},
    openapi_extra={"parameters": [_F]},
)
def collections(request: Request, _: Reader, rev: RevisionedDep):
    """One collection per area level (county … microgrid) and the cameras, each with its extent
    (CRS84), its CRSs and its storage CRS (EPSG:4490)."""
    fmt = ogc.negotiate(request)
    ogc.check_parameters(request, ("f",))
    extents = _extents(rev)
    body = {
        "links": ogc.self_links(request, fmt),
        "collections": [_collection_info(request, c, extents.get(c.id)) for c in ogc.COLLECTIONS.values()],
    }
    if fmt == "html":
        return _html("ogc_collections.html", request, body=body)
    return _json(body)


@router.get(
    "/collections/{collectionId}",
    response_model=CollectionInfo,
    summary="一个数据集合",
    responses={**_HTML_200, **responses(401, 403, 404, 406)},
    openapi_extra={"parameters": [_F]},
)
def collection(request: Request, collectionId: CollectionId, _: Reader, rev: RevisionedDep):  # noqa: N803
    c = _collection(collectionId)
    fmt = ogc.negotiate(request)
    ogc.check_parameters(request, ("f",))
    info = _collection_info(request, c, _extents(rev).get(c.id))
    info["links"][:2] = ogc.self_links(request, fmt)
    if fmt == "html":
        return _html("ogc_collection.html", request, c=info)
    return _json(info)


@router.get(
    "/collections/{collectionId}/schema",
    summary="集合要素的 JSON Schema",
    responses={200: {"content": {ogc.SCHEMA_JSON: {"schema": {"type": "object"}}}}, **responses(401, 403, 404)},
    response_class=Response,
)
def schema(request: Request, collectionId: CollectionId, _: Reader):  # noqa: N803
    """The JSON Schema of a feature (properties and their types), the collection's `describedby`."""
    c = _collection(collectionId)
    ogc.check_parameters(request, ())
    return _json(ogc.feature_schema(c), ogc.SCHEMA_JSON)


@router.get(
    "/collections/{collectionId}/items",
    response_model=OgcFeatureCollection,
    response_class=GeoJSONResponse,
    summary="集合的要素",
    responses={**_HTML_200, **responses(400, 401, 403, 404, 406)},
    openapi_extra={"parameters": _ITEM_PARAMS},
)
def items(request: Request, collectionId: CollectionId, _: Reader, conn: SnapshotConn, settings: SettingsDep):  # noqa: N803
    """Features as GeoJSON (``application/geo+json``) or an HTML table, sorted by code (areas) or
    device id (cameras), paged with `limit` (default 100, at most `GRIDMAP_OGC_MAX_LIMIT`) and
    `offset`: `numberMatched`, `numberReturned`, `timeStamp`, and `next`/`prev` links that keep
    every other parameter. Properties are those of /api/v1/areas and /api/v1/cameras. The answer's
    CRS is in the `Content-Crs` header. Unknown parameters: 400 `unknown_parameter`."""
    c = _collection(collectionId)
    fmt = ogc.negotiate(request)
    ogc.check_parameters(request, ogc.ITEM_PARAMETERS + c.filters)
    q = request.query_params
    limit = ogc.parse_int(q.get("limit"), "limit", ogc.DEFAULT_LIMIT, 1, settings.ogc_max_limit)
    offset = ogc.parse_int(q.get("offset"), "offset", 0, 0, ogc.MAX_OFFSET)
    crs = ogc.parse_crs(q.get("crs"))
    bbox_crs = ogc.parse_crs(q.get("bbox-crs"), "bbox-crs")
    bbox = ogc.parse_bbox(q.get("bbox"), bbox_crs)
    ogc.parse_datetime(q.get("datetime"))
    headers = _revision_headers(request, conn, fmt, crs)
    if (unchanged := not_modified(request, headers["ETag"], headers)) is not None:
        return unchanged
    page = _page(request, conn, c, limit=limit, offset=offset, bbox=bbox, bbox_crs=bbox_crs, crs=crs)
    page_type = ogc.GEOJSON if fmt == "json" else ogc.HTML
    links = ogc.self_links(request, fmt, ogc.GEOJSON)
    if page.returned and offset + page.returned < page.matched:
        href = request.url.include_query_params(offset=offset + page.returned, limit=limit, f=fmt)
        links.append(ogc.link(str(href), "next", page_type, "下一页"))
    if offset > 0:
        href = request.url.include_query_params(offset=max(0, offset - limit), limit=limit, f=fmt)
        links.append(ogc.link(str(href), "prev", page_type, "上一页"))
    links.append(ogc.link(f"{ogc.base_url(request)}/collections/{c.id}", "collection", ogc.JSON, c.title))
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    if fmt == "html":
        features = json.loads(page.features_json)
        return _html(
            "ogc_items.html",
            request,
            headers,
            c=c,
            page=page,
            offset=offset,
            features=features,
            columns=_columns(features),
            links=links,
            crs=crs,
        )
    head = json.dumps(
        {
            "type": "FeatureCollection",
            "numberMatched": page.matched,
            "numberReturned": page.returned,
            "timeStamp": stamp,
            "links": links,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    body = head[:-1] + ',"features":' + page.features_json + "}"
    return Response(body.encode("utf-8"), media_type=ogc.GEOJSON, headers={"Vary": "Accept", **headers})


@router.get(
    "/collections/{collectionId}/items/{featureId}",
    response_model=OgcFeature,
    response_class=GeoJSONResponse,
    summary="一个要素",
    responses={**_HTML_200, **responses(400, 401, 403, 404, 406)},
    openapi_extra={"parameters": [_F, _query("crs", _CRS, "输出坐标系，默认 CRS84。")]},
)
def item(
    request: Request,
    collectionId: CollectionId,  # noqa: N803
    featureId: Annotated[str, Path(description="区域编码或设备编码。")],  # noqa: N803
    _: Reader,
    conn: SnapshotConn,
):
    """One feature: an area by its code, a camera by its device id (removed ones included);
    404 `feature_not_found`."""
    c = _collection(collectionId)
    fmt = ogc.negotiate(request)
    ogc.check_parameters(request, ("f", "crs"))
    crs = ogc.parse_crs(request.query_params.get("crs"))
    headers = _revision_headers(request, conn, fmt, crs)
    if (unchanged := not_modified(request, headers["ETag"], headers)) is not None:
        return unchanged
    page = Page(0, 0, "[]")
    if len(featureId) <= 64:
        if c.level is not None:
            page = areas_db.list_areas(conn, level=c.level, code=featureId, limit=1, crs=ogc.CRSS[crs])
        else:
            page = cameras_db.list_cameras(
                conn, device_id=featureId, statuses=("planned", "installed", "removed"), limit=1, crs=ogc.CRSS[crs]
            )
    if not page.returned:
        raise ApiError(
            404,
            "feature_not_found",
            f"集合 {c.id} 中没有编号为 {featureId[:64]!r} 的要素。",
            {"collectionId": c.id, "featureId": featureId[:64]},
        )
    base = ogc.base_url(request)
    links = [
        *ogc.self_links(request, fmt, ogc.GEOJSON),
        ogc.link(f"{base}/collections/{c.id}", "collection", ogc.JSON, c.title),
    ]
    if fmt == "html":
        feature = json.loads(page.features_json)[0]
        return _html(
            "ogc_item.html", request, headers, c=c, feature=feature, columns=_columns([feature]), links=links, crs=crs
        )
    text = page.features_json[1:-1]  # the one feature of "[{…}]"
    body = text[:-1] + ',"links":' + json.dumps(links, ensure_ascii=False, separators=(",", ":")) + "}"
    return Response(body.encode("utf-8"), media_type=ogc.GEOJSON, headers={"Vary": "Accept", **headers})


def _revision_headers(request: Request, conn: Connection, fmt: str, crs: str) -> dict[str, str]:
    """``Content-Crs`` and the data revision's ``ETag`` / ``Cache-Control`` of a features answer
    (:mod:`gridmap.api.conditional`: a client revalidating an unchanged page gets a 304)."""
    etag = revision_etag(request, current_revision(conn), fmt)
    return {"Content-Crs": f"<{crs}>", "Vary": "Accept", **cache_headers(request, etag)}


def _columns(features: list[dict[str, Any]]) -> list[str]:
    """The property names of ``features``, in the order they first appear."""
    seen: dict[str, None] = {}
    for f in features:
        for key in f.get("properties") or {}:
            seen.setdefault(key, None)
    return list(seen)
