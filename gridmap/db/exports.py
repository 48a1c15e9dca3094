"""The rows of the bulk exports (``gridmap.services.exports``): every live area of one level with its
figures, and the cameras, as GeoDataFrames in EPSG:4490 (CGCS2000 lon/lat, degrees).

The figures are those of ``/api/v1/areas`` and ``gridmap coverage`` (``area_stats``, left-joined);
subtrees follow ``parent_code`` like the coverage roll-up. The caller reads on one snapshot
(REPEATABLE READ) so that geometry, figures and the data revision belong to the same moment.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from gridmap.config import STORAGE_SRID
from gridmap.db.areas import LEVEL_NAMES, SUBTREE_CTE
from gridmap.db.cameras import camera_filters_sql


def area_level(conn: Connection, code: str) -> int | None:
    """The level of the live area ``code``; None when there is none."""
    return conn.execute(text("SELECT level FROM area WHERE code = :code"), {"code": code}).scalar_one_or_none()


def export_areas(conn: Connection, level: int, parent: str | None = None) -> gpd.GeoDataFrame:
    """The live areas of ``level`` (anywhere below ``parent`` when given), by code: code, name,
    level, level_name, parent_code, kind, households, population, worker_name, area_m2 (m², measured
    in the Gauss-Krüger zone), planned, installed, online, rollout_rate, online_rate (fractions,
    None when undefined) and the boundary as a MultiPolygon (EPSG:4490)."""
    params: dict[str, object] = {"level": level, "level_names": LEVEL_NAMES}
    where, cte = "a.level = :level", ""
    if parent is not None:
        cte = f"WITH RECURSIVE {SUBTREE_CTE}"
        where += " AND a.code IN (SELECT code FROM sub) AND a.code <> :root"
        params["root"] = parent
    result = conn.execute(
        text(f"""{cte}
        SELECT a.code, a.name, a.level, (CAST(:level_names AS text[]))[a.level + 3] AS level_name,
               a.parent_code, a.kind, coalesce(s.households, a.households) AS households, a.population,
               a.worker_name, a.area_m2, s.planned, s.installed, s.online, s.rollout_rate, s.online_rate,
               ST_AsBinary(ST_Multi(a.geom)) AS geom
        FROM area a LEFT JOIN area_stats s ON s.code = a.code
        WHERE {where} ORDER BY a.code"""),
        params,
    )
    return _frame(result.keys(), result.all())


def export_cameras(
    conn: Connection,
    *,
    statuses: Sequence[str] | None = None,
    online: bool | None = None,
    operator: str | None = None,
    area: str | None = None,
) -> gpd.GeoDataFrame:
    """Cameras (filters as :func:`gridmap.db.cameras.list_cameras`; default every one not removed),
    by device id: device_id, name, status, online, operator, area_code, installed_on, last_seen
    (UTC), place_type, lon, lat (EPSG:4490 degrees, 7 decimals) and the point."""
    where, ctes, params = camera_filters_sql(statuses, online, operator, area, None)
    prefix = f"WITH RECURSIVE {', '.join(ctes)} " if ctes else ""
    result = conn.execute(
        text(f"""{prefix}
        SELECT c.device_id, c.name, c.status, c.online, c.operator, c.area_code, c.installed_on, c.last_seen,
               c.place_type, round(ST_X(c.geom)::numeric, 7)::float8 AS lon, round(ST_Y(c.geom)::numeric, 7)::float8 AS lat,
               ST_AsBinary(c.geom) AS geom
        FROM camera c WHERE {" AND ".join(where)} ORDER BY c.device_id"""),
        params,
    )
    return _frame(result.keys(), result.all())


def _frame(keys, rows) -> gpd.GeoDataFrame:
    table = pd.DataFrame(rows, columns=list(keys))
    geoms = shapely.from_wkb([bytes(g) if g is not None else None for g in table.pop("geom")])
    return gpd.GeoDataFrame(table, geometry=geoms, crs=STORAGE_SRID)


def data_extent(conn: Connection) -> shapely.Geometry | None:
    """The bounding box (EPSG:4490) of the live areas at the top of the tree (the counties): the
    extent whose centre picks the Gauss-Krüger zone of every export; None without areas."""
    wkb = conn.execute(
        text("SELECT ST_AsBinary(ST_Extent(geom)::geometry) FROM area WHERE parent_code IS NULL")
    ).scalar_one()
    return None if wkb is None else shapely.from_wkb(bytes(wkb))
