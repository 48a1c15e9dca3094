"""Read queries on cameras for the API: filtered pages as GeoJSON (built by PostgreSQL), counts.

Points are EPSG:4490 (CGCS2000) longitude/latitude degrees rounded to 7 decimals. An area filter
selects the cameras whose leaf area (``camera.area_code``) is the area or lies below it by
``parent_code``, the same rule the coverage counts use.
"""

from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import Connection, text

from gridmap.db.area_queries import ENVELOPE, SUBTREE_CTE, Page, bbox_params

#: How a camera without an operator is named in coverage rows (``CoverageRow.to_dict``) and here.
UNKNOWN_OPERATOR = "未知"

CAMERA_PROPERTIES = """json_build_object(
    'device_id', c.device_id, 'name', c.name, 'status', c.status, 'online', c.online,
    'operator', c.operator, 'area_code', c.area_code, 'installed_on', c.installed_on,
    'last_seen', c.last_seen, 'place_type', c.place_type)"""


def _filters(statuses: Sequence[str] | None, online: bool | None, operator: str | None, area: str | None,
             bbox: Sequence[float] | None) -> tuple[list[str], list[str], dict[str, Any]]:
    where, ctes, params = [], [], {}
    if statuses:
        where.append("c.status = ANY(:statuses)")
        params["statuses"] = list(statuses)
    else:
        where.append("c.status <> 'removed'")
    if online is not None:
        where.append("c.online = :online")
        params["online"] = online
    if operator is not None:
        if operator == UNKNOWN_OPERATOR:
            where.append("coalesce(c.operator, '') IN ('', :operator)")
        else:
            where.append("c.operator = :operator")
        params["operator"] = operator
    if area is not None:
        ctes.append(SUBTREE_CTE)
        where.append("c.area_code IN (SELECT code FROM sub)")
        params["root"] = area
    if bbox is not None:
        where.append(f"ST_Intersects(c.geom, {ENVELOPE})")
        params.update(bbox_params(bbox))
    return where, ctes, params


def list_cameras(conn: Connection, *, statuses: Sequence[str] | None = None, online: bool | None = None,
                 operator: str | None = None, area: str | None = None, bbox: Sequence[float] | None = None,
                 limit: int = 1000, offset: int = 0) -> Page:
    """Cameras as GeoJSON point features, by device id.

    - ``statuses``: only these (``planned``, ``installed``, ``removed``); default: all but removed;
    - ``online``: only online (True) or not online (False) cameras;
    - ``operator``: exact operator name (``未知``: cameras with none, as in coverage rows);
    - ``area``: cameras in that area or below;
    - ``bbox`` (lon/lat degrees): cameras inside the box (boundary included).
    """
    where, ctes, params = _filters(statuses, online, operator, area, bbox)
    params.update(limit=limit, offset=offset)
    ctes.append(f"matched AS (SELECT c.id, c.device_id FROM camera c WHERE {' AND '.join(where)})")
    ctes.append("page AS (SELECT id, device_id FROM matched ORDER BY device_id LIMIT :limit OFFSET :offset)")
    sql = f"""
        WITH RECURSIVE {', '.join(ctes)}
        SELECT (SELECT count(*) FROM matched), (SELECT count(*) FROM page),
               coalesce((SELECT json_agg(json_build_object(
                             'type', 'Feature', 'id', c.device_id, 'geometry', ST_AsGeoJSON(c.geom, 7, 0)::json,
                             'properties', {CAMERA_PROPERTIES}) ORDER BY c.device_id)
                         FROM page p JOIN camera c ON c.id = p.id), '[]'::json)::text
    """
    matched, returned, features = conn.execute(text(sql), params).one()
    return Page(int(matched), int(returned), features)


def count_cameras(conn: Connection, *, statuses: Sequence[str] | None = None, online: bool | None = None,
                  operator: str | None = None, area: str | None = None, bbox: Sequence[float] | None = None) -> int:
    """How many cameras :func:`list_cameras` matches with the same filters."""
    where, ctes, params = _filters(statuses, online, operator, area, bbox)
    prefix = f"WITH RECURSIVE {', '.join(ctes)} " if ctes else ""
    return int(conn.execute(text(f"{prefix}SELECT count(*) FROM camera c WHERE {' AND '.join(where)}"),
                            params).scalar_one())
