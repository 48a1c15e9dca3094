"""The tile query of each layer: one statement returning (data revision, MVT bytes).

Both values come from the same statement, hence the same snapshot: the revision a tile is
cached under is exactly the revision of the data it was made from (geometry and figures).

Area layers read ``tile_area`` (see :mod:`gridmap.tiles.store`) at the requested zoom: the GiST
index (one partial index per level) finds the rows whose box meets the tile grown by its buffer
(then checked against each row's exact box: index boxes are single precision); they are ordered
(size, then code) and capped, their figures joined from ``area_stats`` (by primary key, after the
cap), then areas lying inside the buffered tile are only
shifted and flipped into tile coordinates (they were simplified, snapped and validated when
precomputed) and areas crossing its edge are clipped by ``ST_AsMVTGeom``. The level is written
into the SQL (each layer has its own statement, so the partial index always applies); everything
else is a bound parameter, and psycopg prepares each statement on the connection.

Cameras read ``tile_camera`` (EPSG:3857): points within the buffer (exact test, the index's boxes
are single precision) are scaled into tile units and rounded, which is what ``ST_AsMVTGeom`` does
to them.
"""

from __future__ import annotations

from gridmap.tiles.layers import BUFFER, EXTENT, TileLayer, tile_bounds

_REVISION = "(SELECT revision FROM data_revision WHERE id = 1)"

#: The tile's properties: fixed ones from ``tile_area`` (``f``), figures from ``area_stats`` (``s``).
_AREA_PROPERTIES = """f.fid, f.code, f.name, f.level, s.rollout_rate, s.online_rate,
            coalesce(s.planned, 0) AS planned, coalesce(s.installed, 0) AS installed,
            coalesce(s.online, 0) AS online, s.households"""


def area_tile_sql(layer: TileLayer) -> str:
    assert layer.level is not None
    return f"""
SELECT {_REVISION},
  (SELECT ST_AsMVT(t.*, '{layer.id}', {EXTENT}, 'geom', 'fid') FROM (
     SELECT {_AREA_PROPERTIES},
            CASE WHEN f.x_min >= e.bx0 AND f.x_max <= e.bx1 AND f.y_min >= e.by0 AND f.y_max <= e.by1
                 THEN ST_Affine(f.geom, 1, 0, 0, -1, -e.x0, e.top)
                 ELSE ST_AsMVTGeom(f.geom, e.tile, {EXTENT}, {BUFFER}, true) END AS geom
     FROM (SELECT CAST(%(x0)s AS float8) AS x0, CAST(%(y0)s AS float8) + {EXTENT} AS top,
                  CAST(%(x0)s AS float8) - {BUFFER} AS bx0, CAST(%(y0)s AS float8) - {BUFFER} AS by0,
                  CAST(%(x0)s AS float8) + {EXTENT + BUFFER} AS bx1, CAST(%(y0)s AS float8) + {EXTENT + BUFFER} AS by1,
                  ST_MakeEnvelope(%(x0)s - {BUFFER}, %(y0)s - {BUFFER},
                                  %(x0)s + {EXTENT + BUFFER}, %(y0)s + {EXTENT + BUFFER}) AS buffered,
                  ST_MakeBox2D(ST_Point(%(x0)s, %(y0)s), ST_Point(%(x0)s + {EXTENT}, %(y0)s + {EXTENT})) AS tile
           OFFSET 0) AS e
     CROSS JOIN LATERAL (
        SELECT fid, code, name, level, geom, x_min, y_min, x_max, y_max FROM tile_area
        WHERE level = {int(layer.level)} AND z = %(z)s AND geom && e.buffered
          AND x_max >= e.bx0 AND x_min <= e.bx1 AND y_max >= e.by0 AND y_min <= e.by1
        ORDER BY area_m2 DESC NULLS LAST, code COLLATE "C"
        LIMIT {int(layer.max_features)}) AS f
     LEFT JOIN area_stats s ON s.code = f.code
  ) AS t)"""


def camera_tile_sql(layer: TileLayer) -> str:
    return f"""
SELECT {_REVISION},
  (SELECT ST_AsMVT(t.*, '{layer.id}', {EXTENT}, 'geom') FROM (
     SELECT device_id, name, status, online, operator, area_code,
            ST_SnapToGrid(ST_Affine(geom, %(scale)s, 0, 0, -%(scale)s, %(xoff)s, %(yoff)s), 1) AS geom
     FROM (SELECT * FROM tile_camera
           WHERE geom && ST_MakeEnvelope(%(bx0)s, %(by0)s, %(bx1)s, %(by1)s, 3857)
             AND ST_X(geom) BETWEEN %(bx0)s AND %(bx1)s AND ST_Y(geom) BETWEEN %(by0)s AND %(by1)s
           ORDER BY device_id COLLATE "C"
           LIMIT {int(layer.max_features)}) AS c
  ) AS t)"""


def tile_sql(layer: TileLayer) -> str:
    return area_tile_sql(layer) if layer.is_area else camera_tile_sql(layer)


def tile_params(layer: TileLayer, z: int, x: int, y: int) -> dict[str, float | int]:
    """Bound parameters of ``tile_sql(layer)`` for tile z/x/y (coordinates as floats, so every
    execution of a prepared statement has the same parameter types)."""
    if layer.is_area:
        return {"z": z, "x0": float(x * EXTENT), "y0": float(((1 << z) - 1 - y) * EXTENT)}
    xmin, ymin, xmax, ymax = tile_bounds(z, x, y)
    scale = EXTENT / (xmax - xmin)
    # ST_AsMVTGeom keeps a point up to half a unit beyond the buffer (it rounds onto its edge).
    bx0, by0, bx1, by1 = tile_bounds(z, x, y, BUFFER + 0.5)
    return {"scale": scale, "xoff": -xmin * scale, "yoff": ymax * scale, "bx0": bx0, "by0": by0, "bx1": bx1, "by1": by1}
