"""What the pages draw over the tiles: area names (``/api/v1/map/labels``), camera clusters at
low zoom (``/api/v1/map/camera-clusters``), and everything a command-centre screen shows for one
area (``/api/v1/map/screen``: figures, ranking of its children, trend, latest offline cameras).

Both are map content like the tiles (names and counts the tiles carry too), so they take what the
tiles take: an embed token as well as a viewer's, in the header or as ``?token=`` for screens.
Answers carry the data revision's ETag (304 when unchanged). The SQL is in
:mod:`gridmap.db.labels`, :mod:`gridmap.tiles.clusters` and :mod:`gridmap.coverage.screen`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from gridmap.api.conditional import revision_check
from gridmap.api.deps import TileReader
from gridmap.api.errors import ApiError, responses
from gridmap.api.revision_cache import SnapshotConn
from gridmap.api.schemas_read import (
    BBOX_DESCRIPTION,
    LEVEL_DESCRIPTION,
    CoverageRowModel,
    Rate,
    TrendPointModel,
    json_bytes,
    parse_bbox,
    parse_level,
)
from gridmap.coverage.screen import default_area, latest_snapshot, screen
from gridmap.coverage.snapshots import today_in_china
from gridmap.coverage.table import BLIND_DEFAULT_LEVEL
from gridmap.db.labels import list_labels
from gridmap.tiles.clusters import camera_clusters
from gridmap.tiles.grid import MAX_ZOOM

router = APIRouter(prefix="/api/v1/map", tags=["map"])

MAX_LABELS = 5000
MAX_CLUSTERS = 5000


class Label(BaseModel):
    code: str
    name: str | None
    short_name: str | None = Field(description="The name without its parent's name where it starts with it.")
    level: int
    lon: float = Field(description="EPSG:4490 longitude of the label point (degrees).")
    lat: float = Field(description="EPSG:4490 latitude of the label point (degrees).")
    radius_m: float = Field(description="Radius of the area's largest inscribed circle, metres.")


class Labels(BaseModel):
    level: int
    labels: list[Label]
    truncated: bool = Field(description="True when `limit` cut the list (the roomiest areas come first).")


class Cluster(BaseModel):
    lon: float = Field(description="EPSG:4490 longitude of the cameras' mean position (degrees).")
    lat: float
    planned: int = Field(description="Cameras drawn (planned or installed; removed ones are not drawn).")
    installed: int
    online: int


class Clusters(BaseModel):
    z: int
    cell_px: int
    clusters: list[Cluster]
    truncated: bool


def _box(bbox: str) -> tuple[float, float, float, float]:
    box = parse_bbox(bbox)
    if box is None:
        raise ApiError(400, "invalid_bbox", "缺少 bbox：最小经度,最小纬度,最大经度,最大纬度（EPSG:4490，单位：度）。")
    return box.minlon, box.minlat, box.maxlon, box.maxlat


@router.get("/labels", response_model=Labels, responses=responses(400, 401, 403, 422))
def labels(
    request: Request,
    _: TileReader,
    conn: SnapshotConn,
    level: Annotated[str, Query(description=LEVEL_DESCRIPTION)],
    bbox: Annotated[str, Query(description=BBOX_DESCRIPTION + " Label points inside the box.")],
    min_radius_m: Annotated[
        float,
        Query(
            ge=0,
            le=1_000_000,
            description="Only areas whose largest inscribed circle has at least this radius (metres): "
            "a page asks for the areas whose names can fit at its zoom.",
        ),
    ] = 0.0,
    limit: Annotated[int, Query(ge=1, le=MAX_LABELS, description="Most labels (roomiest areas first).")] = 2000,
):
    """Where to write the names of one level's areas: for each area in the box, its name, code and
    label point (the centre of its largest inscribed circle: always inside the area; EPSG:4490
    degrees) with that circle's radius in metres, roomiest first. A name `w` pixels wide fits at a
    zoom where `2 × radius_m` covers about `w` pixels."""
    level_number = parse_level(level)
    if level_number is None:
        raise ApiError(400, "invalid_level", "缺少 level：0 县、1 乡镇/街道、2 村/社区、3 网格、4 微网格。")
    box = _box(bbox)
    headers, unchanged = revision_check(request, conn)
    if unchanged is not None:
        return unchanged
    rows = list_labels(conn, level=level_number, bbox=box, min_radius_m=min_radius_m, limit=limit + 1)
    body = {"level": level_number, "labels": rows[:limit], "truncated": len(rows) > limit}
    return Response(json_bytes(body), media_type="application/json", headers=headers)


@router.get("/camera-clusters", response_model=Clusters, responses=responses(400, 401, 403, 422))
def clusters(
    request: Request,
    _: TileReader,
    conn: SnapshotConn,
    z: Annotated[int, Query(ge=0, le=MAX_ZOOM, description="The map's zoom (Web Mercator, 256-pixel tiles).")],
    bbox: Annotated[str, Query(description=BBOX_DESCRIPTION + " Cameras inside the box.")],
    cell_px: Annotated[int, Query(ge=20, le=512, description="Side of a cluster cell in screen pixels.")] = 80,
):
    """The drawn cameras in the box grouped by a grid of `cell_px` pixels at zoom `z` (anchored at the
    world's corner, so clusters stay put as the map pans): each cluster at its cameras' mean position
    (EPSG:4490 degrees) with their counts planned (drawn), installed and online; largest first."""
    box = _box(bbox)
    headers, unchanged = revision_check(request, conn)
    if unchanged is not None:
        return unchanged
    rows = camera_clusters(conn, z=z, bbox=box, cell_px=cell_px, limit=MAX_CLUSTERS + 1)
    body = {"z": z, "cell_px": cell_px, "clusters": rows[:MAX_CLUSTERS], "truncated": len(rows) > MAX_CLUSTERS}
    return Response(json_bytes(body), media_type="application/json", headers=headers)


class ScreenArea(BaseModel):
    code: str
    name: str | None
    level: int
    bbox: list[float] | None = Field(description="[minlon, minlat, maxlon, maxlat], EPSG:4490 degrees.")


class ScreenFigures(BaseModel):
    planned: int
    installed: int
    online: int
    rollout_rate: float | None = Rate
    online_rate: float | None = Rate
    households: int | None


class ScreenTrend(BaseModel):
    from_: str = Field(alias="from", description="First day (YYYY-MM-DD, days in China).")
    to: str = Field(description="Last day: the server's today.")
    points: list[TrendPointModel]


class OfflineCamera(BaseModel):
    device_id: str
    name: str | None
    area_code: str | None = Field(description="The camera's leaf area.")
    child_code: str = Field(description="The direct child of the area it lies in (the area itself for a leaf).")
    area_name: str | None = Field(description="That child's name.")
    last_seen: str | None = Field(description="Last online report (ISO 8601); null: never seen.")


class OfflineCameras(BaseModel):
    total: int = Field(description="Installed cameras not online under the area.")
    cameras: list[OfflineCamera]


class Screen(BaseModel):
    area: ScreenArea
    figures: ScreenFigures
    level: int
    areas: int = Field(description="Areas of `level` at or under the area.")
    blind: int = Field(description="Of those, how many have no installed camera.")
    children: list[CoverageRowModel] = Field(description="Coverage rows of the area's direct children, by code.")
    trend: ScreenTrend
    offline: OfflineCameras


@router.get("/screen", response_model=Screen, responses=responses(400, 401, 403, 404, 422))
def screen_figures(
    request: Request,
    _: TileReader,
    conn: SnapshotConn,
    area: Annotated[
        str | None, Query(max_length=64, description="Area code (default: the county, the level-0 area).")
    ] = None,
    level: Annotated[
        str | None, Query(description=LEVEL_DESCRIPTION + " The level the map colours; default 3 (网格).")
    ] = None,
    days: Annotated[int, Query(ge=1, le=366, description="Days of trend, up to the server's today (China).")] = 30,
    offline: Annotated[int, Query(ge=0, le=100, description="How many offline cameras to list.")] = 10,
):
    """Everything a command-centre screen (`/embed`) shows for one area, in one read: the area
    (code, name, level, bbox in EPSG:4490 degrees), its figures, how many areas of `level` lie under
    it (`areas`) and how many of those have no installed camera (`blind`), the coverage rows of its
    direct children (the ranking), its daily snapshots of the last `days` days (`trend`, oldest
    first, as /coverage/trend gives them) and its installed cameras that are not online
    (`offline`: the total, and the most recently seen first, never seen last). Readable with an
    embed token. 404 `area_not_found`."""
    level_number = parse_level(level)
    level_number = BLIND_DEFAULT_LEVEL if level_number is None else level_number
    code = area if area is not None else default_area(conn)
    if code is None:
        raise ApiError(404, "area_not_found", "数据库中还没有区域：请先导入区域边界。", {"area": None})
    today = today_in_china()
    headers, unchanged = revision_check(request, conn, f"{today}|{latest_snapshot(conn)}")
    if unchanged is not None:
        return unchanged
    body = screen(conn, code, level=level_number, days=days, offline=offline, today=today)
    if body is None:
        raise ApiError(404, "area_not_found", f"没有编码为 {code} 的区域：请检查 area 参数。", {"area": code})
    return Response(json_bytes(body), media_type="application/json", headers=headers)
