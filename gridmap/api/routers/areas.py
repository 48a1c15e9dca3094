"""Areas: GET /api/v1/areas (GeoJSON list), /api/v1/areas/{code} (one area in detail),
/api/v1/areas/{code}/cameras (its cameras) and /api/v1/search (find an area by code or name).

Coordinates are EPSG:4490 (CGCS2000) longitude/latitude in degrees, 7 decimals. Figures are those
of ``gridmap coverage`` (``area_stats``). The SQL is in :mod:`gridmap.db.areas`.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from gridmap.api.conditional import revision_check
from gridmap.api.deps import MAX_OFFSET, Reader, SettingsDep
from gridmap.api.errors import ApiError, responses
from gridmap.api.revision_cache import SnapshotConn
from gridmap.api.routers.cameras import CameraFilters, camera_filters
from gridmap.api.schemas_read import (
    BBOX_DESCRIPTION,
    CRS_MEMBER,
    LEVEL_DESCRIPTION,
    AreaCollection,
    AreaDetail,
    CameraCollection,
    GeoJSONResponse,
    SearchResults,
    feature_collection,
    json_bytes,
    parse_bbox,
    parse_level,
)
from gridmap.coverage.table import coverage_rows
from gridmap.db import areas as areas_db
from gridmap.db import cameras as cameras_db

router = APIRouter(prefix="/api/v1", tags=["areas"])

CodePath = Annotated[
    str, Path(description="Area code, e.g. 411628001 (乡镇) or 411628001001001 (网格).", max_length=64)
]


def area_not_found(code: str) -> ApiError:
    return ApiError(
        404, "area_not_found", f"没有编码为 {code} 的区域：请检查编码，或用 /api/v1/search 查找。", {"code": code}
    )


@router.get(
    "/areas",
    response_model=AreaCollection,
    response_class=GeoJSONResponse,
    responses=responses(400, 401, 403, 404, 422),
)
def list_areas(
    request: Request,
    _: Reader,
    conn: SnapshotConn,
    settings: SettingsDep,
    level: Annotated[str | None, Query(description=LEVEL_DESCRIPTION)] = None,
    parent: Annotated[
        str | None,
        Query(
            max_length=64,
            description=(
                "Parent area code: its direct children; with `level`, the areas of that level anywhere below it."
            ),
        ),
    ] = None,
    bbox: Annotated[str | None, Query(description=BBOX_DESCRIPTION + " Areas intersecting the box.")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Code prefix or part of the name.")] = None,
    limit: Annotated[
        int, Query(ge=1, description="Features per page: at most `GRIDMAP_OGC_MAX_LIMIT` (default 20,000).")
    ] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Features to skip (see the `next` link).")] = 0,
    geometry: Annotated[
        Literal["full", "simplified", "none"],
        Query(
            description=(
                "`full`: the stored boundary; `simplified`: ST_SimplifyPreserveTopology with `tolerance` metres "
                "(converted to degrees as metres / 111,320: exact north-south, slightly finer east-west; each area "
                "stays valid but neighbours may no longer share edges exactly); `none`: null geometry (just the "
                "figures)."
            )
        ),
    ] = "full",
    tolerance: Annotated[
        float, Query(gt=0, le=5000, description="Simplification tolerance in metres (with geometry=simplified).")
    ] = 10.0,
):
    """Areas as a GeoJSON FeatureCollection (EPSG:4490 lon/lat degrees, 7 decimals), sorted by level
    then code, paged with `limit`/`offset`: `numberMatched` counts every match, `links` hold the
    `next`/`prev` pages. Feature `id` is the area code; properties carry the coverage figures
    (planned, installed, online, rollout_rate, online_rate: fractions, null when undefined)."""
    if limit > settings.ogc_max_limit:
        raise ApiError(
            422,
            "invalid_request",
            f"请求参数不正确：limit 最大为 {settings.ogc_max_limit}（GRIDMAP_OGC_MAX_LIMIT）。",
            [{"where": "query.limit", "problem": f"at most {settings.ogc_max_limit}", "input": limit}],
        )
    level_number = parse_level(level)
    box = parse_bbox(bbox)
    if parent is not None and not areas_db.area_exists(conn, parent):
        raise area_not_found(parent)
    headers, unchanged = revision_check(request, conn)
    if unchanged is not None:
        return unchanged
    page = areas_db.list_areas(
        conn,
        level=level_number,
        parent=parent,
        bbox=box,
        q=q or None,
        limit=limit,
        offset=offset,
        geometry=geometry,
        tolerance_m=tolerance,
    )
    return feature_collection(request, page, limit=limit, offset=offset, headers=headers)


@router.get(
    "/areas/{code}", response_model=AreaDetail, response_class=GeoJSONResponse, responses=responses(401, 403, 404)
)
def get_area(request: Request, code: CodePath, _: Reader, conn: SnapshotConn):
    """One area as a GeoJSON Feature with its full boundary (EPSG:4490 lon/lat degrees, 7 decimals),
    its list properties plus `coverage` (its row of `gridmap coverage`), `worker_phone`, `ancestors`
    (county first), `children` with their figures, `bbox` and `camera_count` (cameras not removed,
    in the area or below). 404 `area_not_found`."""
    headers, unchanged = revision_check(request, conn)
    if unchanged is not None:
        return unchanged
    detail = areas_db.area_detail(conn, code)
    if detail is None:
        raise area_not_found(code)
    properties = detail["properties"]
    row = coverage_rows(conn, code=code)[0]  # the area itself, then its children
    properties["coverage"] = row.to_dict()
    # Cameras not removed whose leaf area is this one or below it: by construction the roll-up's
    # `planned` (the same rule /areas/{code}/cameras counts with), so no second recursive count.
    properties["camera_count"] = row.planned
    feature = {
        "type": "Feature",
        "crs": CRS_MEMBER,
        "id": code,
        "geometry": json.loads(detail["geometry"]) if detail["geometry"] else None,
        "properties": properties,
    }
    return Response(json_bytes(feature), media_type=GeoJSONResponse.media_type, headers=headers)


@router.get(
    "/areas/{code}/cameras",
    response_model=CameraCollection,
    response_class=GeoJSONResponse,
    responses=responses(400, 401, 403, 404, 422),
)
def area_cameras(
    request: Request,
    code: CodePath,
    _: Reader,
    conn: SnapshotConn,
    filters: Annotated[CameraFilters, camera_filters],
    limit: Annotated[int, Query(ge=1, le=10000, description="Features per page.")] = 1000,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Features to skip (see the `next` link).")] = 0,
):
    """The cameras of the area and every area below it, as /api/v1/cameras with `area={code}`."""
    if not areas_db.area_exists(conn, code):
        raise area_not_found(code)
    headers, unchanged = revision_check(request, conn)
    if unchanged is not None:
        return unchanged
    page = cameras_db.list_cameras(conn, **filters.kwargs(), area=code, limit=limit, offset=offset)
    return feature_collection(request, page, limit=limit, offset=offset, headers=headers)


@router.get("/search", response_model=SearchResults, responses=responses(401, 403, 422))
def search(
    _: Reader,
    conn: SnapshotConn,
    q: Annotated[str, Query(min_length=1, max_length=100, description="Code prefix or part of the name.")],
    limit: Annotated[int, Query(ge=1, le=100, description="Most results.")] = 10,
):
    """Areas whose code starts with `q` or whose name contains it (exact matches first, then names
    starting with `q`, then by level and code), with their `bbox` [minlon, minlat, maxlon, maxlat]
    in EPSG:4490 degrees to zoom the map to."""
    return {"results": areas_db.search(conn, q.strip() or q, limit)}
