"""Writing cameras: upsert by GB/T 28181 device id, then assignment to leaf areas."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, text

from gridmap.db.copy import copy_columns, ewkb_hex
from gridmap.levels import LEAF_LEVEL

_COLUMNS = ("device_id", "name", "geom", "raw_x", "raw_y", "raw_crs", "status", "online", "operator",
            "installed_on", "direction", "place_type")


def upsert_cameras(conn: Connection, cameras: pd.DataFrame, geoms: gpd.GeoSeries, raw_crs: str) -> int:
    """Insert or update cameras by ``device_id`` (canonical columns; ``geoms`` in EPSG:4490).

    Re-importing the same register is idempotent: rows are matched on device_id, never duplicated.
    Returns the number of rows written.
    """
    conn.execute(text("CREATE TEMP TABLE camera_in (LIKE camera INCLUDING DEFAULTS) ON COMMIT DROP"))
    n = len(cameras)
    columns = {c: cameras[c].tolist() if c in cameras else [None] * n for c in _COLUMNS}
    columns.update(geom=ewkb_hex(geoms.to_numpy()), raw_x=cameras["lon"].tolist(), raw_y=cameras["lat"].tolist(),
                   raw_crs=[raw_crs] * n)
    copy_columns(conn, "camera_in", columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS if c != "device_id")
    conn.execute(text(f"""
        INSERT INTO camera ({', '.join(_COLUMNS)})
        SELECT {', '.join(_COLUMNS)} FROM camera_in
        ON CONFLICT (device_id) DO UPDATE SET {updates}, updated_at = now()
    """))
    return n


def assign_cameras_to_areas(conn: Connection) -> int:
    """Set each camera's ``area_code`` to the leaf area covering it; returns how many were placed.

    Rule for a point on a shared boundary (covered by several leaf areas): the smallest code wins,
    so the assignment is deterministic and every camera counts exactly once.
    """
    conn.execute(text("UPDATE camera SET area_code = NULL"))
    result = conn.execute(text("""
        UPDATE camera c SET area_code = hit.code
        FROM (
            SELECT DISTINCT ON (c2.id) c2.id, a.code
            FROM camera c2 JOIN area a ON a.level = :leaf AND ST_Covers(a.geom, c2.geom)
            ORDER BY c2.id, a.code
        ) hit
        WHERE c.id = hit.id
    """), {"leaf": LEAF_LEVEL})
    return result.rowcount

