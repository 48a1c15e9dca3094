"""Cameras: GET /api/v1/cameras, a GeoJSON list filtered by status, online, operator, area subtree
and bbox. Points are EPSG:4490 (CGCS2000) longitude/latitude in degrees, 7 decimals. The SQL is in
:mod:`gridmap.db.cameras`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from gridmap.api.conditional import revision_check
from gridmap.api.deps import MAX_OFFSET, Reader
from gridmap.api.errors import ApiError, responses
from gridmap.api.revision_cache import SnapshotConn
from gridmap.api.schemas_read import (
    BBOX_DESCRIPTION,
    BBox,
    CameraCollection,
    GeoJSONResponse,
    feature_collection,
    parse_bbox,
    parse_statuses,
)
from gridmap.db import areas as areas_db
from gridmap.db import cameras as cameras_db

router = APIRouter(prefix="/api/v1", tags=["cameras"])


@dataclass(frozen=True)
class CameraFilters:
    statuses: tuple[str, ...] | None
    online: bool | None
    operator: str | None
    bbox: BBox | None

    def kwargs(self) -> dict[str, Any]:
        return {"statuses": self.statuses, "online": self.online, "operator": self.operator, "bbox": self.bbox}


def _camera_filters(
    status: Annotated[
        str | None,
        Query(
            description=(
                "planned (计划), installed (已安装) or removed (已拆除); several separated by commas. "
                "Default: every camera except removed ones."
            )
        ),
    ] = None,
    online: Annotated[
        bool | None,
        Query(
            description="true: online cameras only; false: not online ones "
            "(planned ones included unless `status` says otherwise)."
        ),
    ] = None,
    operator: Annotated[
        str | None,
        Query(
            max_length=100,
            description=("Operator, exactly as imported (中国移动, 中国电信, 中国联通 …); 未知: cameras without one."),
        ),
    ] = None,
    bbox: Annotated[str | None, Query(description=BBOX_DESCRIPTION + " Cameras inside the box.")] = None,
) -> CameraFilters:
    return CameraFilters(parse_statuses(status), online, operator or None, parse_bbox(bbox))


camera_filters = Depends(_camera_filters)


@router.get(
    "/cameras",
    response_model=CameraCollection,
    response_class=GeoJSONResponse,
    responses=responses(400, 401, 403, 404, 422),
)
def list_cameras(
    request: Request,
    _: Reader,
    conn: SnapshotConn,
    filters: Annotated[CameraFilters, camera_filters],
    area: Annotated[str | None, Query(max_length=64, description="Area code: cameras in that area or below.")] = None,
    limit: Annotated[int, Query(ge=1, le=10000, description="Features per page.")] = 1000,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Features to skip (see the `next` link).")] = 0,
):
    """Cameras as a GeoJSON FeatureCollection of points (EPSG:4490 lon/lat degrees, 7 decimals), by
    device id, paged like /api/v1/areas. Feature `id` is the 20-digit GB/T 28181 device id;
    `area_code` is the leaf area (micro-grid) the camera lies in."""
    if area is not None and not areas_db.area_exists(conn, area):
        raise ApiError(404, "area_not_found", f"没有编码为 {area} 的区域：请检查 area 参数。", {"code": area})
    headers, unchanged = revision_check(request, conn)
    if unchanged is not None:
        return unchanged
    page = cameras_db.list_cameras(conn, **filters.kwargs(), area=area, limit=limit, offset=offset)
    return feature_collection(request, page, limit=limit, offset=offset, headers=headers)
