"""The precomputed tile geometry: what a tile server would otherwise compute on every request.

``tile_area``: one row per live area and zoom (the area layer's minzoom … :data:`MAX_ZOOM`), with
the geometry already transformed to EPSG:3857, simplified, snapped to that zoom's tile grid and
validated exactly as ``ST_AsMVTGeom`` would (it is ``ST_AsMVTGeom`` over the whole world at
``4096·2^z`` units), stored in that zoom's *global tile units* with y upwards (srid 0):
``X = (x₃₈₅₇ + πR)·4096·2^z / 2πR``. Tile z/x/y is then the box ``[x·4096, (x+1)·4096] ×
[(2^z−1−y)·4096, (2^z−y)·4096]`` of its zoom's rows; an area inside the tile's buffer needs only an
integer shift and a flip (``ST_Affine``), only areas crossing the buffer edge are clipped by
``ST_AsMVTGeom`` at request time. Each row keeps its exact box (``x_min`` … ``y_max``): index
boxes are single precision, up to 32 units off at z16 in these coordinates; the tile cache also
evicts by these boxes. The fixed properties (code, name, level, size) are copied in; the figures
are not: a tile joins ``area_stats`` (kept current by deltas), so a status change rewrites no tile
row. The rows of different zooms lie in disjoint coordinate ranges for anything east of Greenwich
and north of the equator, so one GiST index per level serves every zoom.

``tile_camera``: the drawn cameras (status ≠ removed) with their point in EPSG:3857 and properties.

Feature ids (the MVT ``id`` of each feature, what MapLibre's ``feature-state`` keys on) stay below
2^53, so JavaScript reads them exactly: an area's is its code's id in ``area_feature_id``, given
once when the code first gets tile rows (in code order, in the writer's transaction) and never
taken back, so a code keeps it across publishes and rollbacks; a camera's is ``camera.id``
(stable per device id: a removed camera only changes status; only reloading the sample deletes cameras). The codes
and device ids themselves stay properties (``promoteId: 'code'`` is the alternative for clients).

Both are kept in step by the write path (``gridmap.services.changes.record_change``), in the
writer's transaction, so tiles, figures and the data revision change together at commit:

- areas (publish, rollback): the rows of the replaced areas are deleted and the new areas' rows
  built (:func:`sync_area_rows` with their codes): one township ≈0.1 s; the sample county's
  12,195 areas make 63,507 rows in ≈2–3 s (about half ``ST_AsMVTGeom``, half writing rows and
  index entries);
- cameras (every kind): the rows of the cameras the write changed, by device id
  (:func:`sync_camera_rows`), never by rewriting a region.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, text

from gridmap.db.cameras import CHANGED_CAMERAS
from gridmap.tiles.grid import EXTENT, HALF_WORLD, MAX_ZOOM
from gridmap.tiles.layers import AREA_MINZOOMS

_DELETE_GONE_AREAS = text("""
    DELETE FROM tile_area t
    WHERE (CAST(:codes AS text[]) IS NULL OR t.code = ANY(CAST(:codes AS text[])))
      AND NOT EXISTS (SELECT 1 FROM area a WHERE a.id = t.area_id)
""")

#: Feature ids for the codes of the areas about to get rows that have none yet, in code order (a
#: parent before its children); ids are never given back (see ``gridmap.db.models.AreaFeatureId``).
#: Two writers registering one code: the second waits for the first and then does nothing.
_REGISTER_CODES = text("""
    INSERT INTO area_feature_id (code)
    SELECT a.code FROM area a
    WHERE (CAST(:codes AS text[]) IS NULL OR a.code = ANY(CAST(:codes AS text[])))
      AND a.level >= 0  -- the city and province rows (gridmap.db.regions) are not drawn
      AND NOT EXISTS (SELECT 1 FROM area_feature_id r WHERE r.code = a.code)
    ORDER BY a.code COLLATE "C"
    ON CONFLICT (code) DO NOTHING
""")

_BUILD_NEW_AREAS = text(f"""
    WITH a AS MATERIALIZED (
        SELECT a.id, a.level, a.code, r.fid, a.name, a.area_m2, ST_Transform(a.geom, 3857) AS geom
        FROM area a JOIN area_feature_id r ON r.code = a.code
        WHERE (CAST(:codes AS text[]) IS NULL OR a.code = ANY(CAST(:codes AS text[])))
          AND a.level >= 0
          AND NOT EXISTS (SELECT 1 FROM tile_area t WHERE t.area_id = a.id)
    )
    INSERT INTO tile_area (area_id, z, level, code, fid, name, area_m2, geom, x_min, y_min, x_max, y_max)
    SELECT a.id, zz.z, a.level, a.code, a.fid, a.name, a.area_m2, g.geom,
           ST_XMin(g.box), ST_YMin(g.box), ST_XMax(g.box), ST_YMax(g.box)
    FROM a
    CROSS JOIN LATERAL generate_series((CAST(:minzooms AS int[]))[a.level + 1], :maxzoom) AS zz(z)
    CROSS JOIN LATERAL (
        SELECT ST_Affine(ST_AsMVTGeom(a.geom, ST_MakeBox2D(ST_Point(-{HALF_WORLD!r}, -{HALF_WORLD!r}),
                                                           ST_Point({HALF_WORLD!r}, {HALF_WORLD!r})),
                                      {EXTENT} << zz.z, 0, false),
                         1, 0, 0, -1, 0, CAST({EXTENT} << zz.z AS float8)) AS geom
        OFFSET 0  -- not pulled up: computed once, not once more for the WHERE
    ) m
    -- box3d: the exact box (box2d would be the single-precision one stored with the geometry)
    CROSS JOIN LATERAL (SELECT m.geom, CAST(m.geom AS box3d) AS box OFFSET 0) g
    WHERE g.geom IS NOT NULL
""")

_CAMERA_COLUMNS = ("device_id", "name", "status", "online", "operator", "area_code")
_INSERT_ALL_CAMERAS = text(f"""
    INSERT INTO tile_camera (fid, {", ".join(_CAMERA_COLUMNS)}, geom)
    SELECT id, {", ".join(_CAMERA_COLUMNS)}, ST_Transform(geom, 3857) FROM camera
    WHERE status <> 'removed' AND geom IS NOT NULL
""")
#: The cameras of ``change_camera`` drawn differently now (or no longer): their tile rows are
#: upserted or deleted by device id; returns the points (EPSG:4490) where they were and are drawn.
_SYNC_CAMERAS = text(f"""
    WITH changed AS MATERIALIZED (
        SELECT g.device_id, g.status <> 'removed' AS was_drawn, g.x AS old_x, g.y AS old_y,
               coalesce(g.now_status <> 'removed' AND g.now_geom IS NOT NULL, false) AS drawn,
               g.now_name AS name, g.now_status AS status, g.now_online AS online, g.now_operator AS operator,
               g.now_area_code AS area_code, g.now_geom AS geom
        FROM {CHANGED_CAMERAS} g
        WHERE (g.name, g.area_code, g.operator, g.status, g.online, g.x, g.y)
              IS DISTINCT FROM (g.now_name, g.now_area_code, g.now_operator, g.now_status,
                                g.now_online, ST_X(g.now_geom), ST_Y(g.now_geom))
    ), upserted AS (
        INSERT INTO tile_camera (fid, {", ".join(_CAMERA_COLUMNS)}, geom)
        SELECT c.id, {", ".join("changed." + c for c in _CAMERA_COLUMNS)}, ST_Transform(changed.geom, 3857)
        FROM changed JOIN camera c ON c.device_id = changed.device_id WHERE changed.drawn
        ON CONFLICT (device_id) DO UPDATE SET
            fid = excluded.fid, {", ".join(f"{c} = excluded.{c}" for c in _CAMERA_COLUMNS[1:])}, geom = excluded.geom
        RETURNING 1
    ), deleted AS (
        DELETE FROM tile_camera t USING changed
        WHERE t.device_id = changed.device_id AND NOT changed.drawn
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM changed),
           (SELECT ST_AsBinary(ST_Collect(p)) FROM (
                SELECT ST_SetSRID(ST_Point(old_x, old_y), 4490) FROM changed WHERE was_drawn AND old_x IS NOT NULL
                UNION ALL
                SELECT geom FROM changed WHERE drawn) AS pts(p)),
           (SELECT count(*) FROM upserted) + (SELECT count(*) FROM deleted)
""")


#: Planner settings for the statements here (restored afterwards, the transaction is the caller's):
#: its guess of generate_series' rows makes the build look expensive enough to JIT-compile (~0.3 s,
#: more than building a township's rows) and to memoize geometries by hashing them (~0.3 s for a
#: county, for nothing: no two are equal).
_SETTINGS = {"jit": "off", "enable_memoize": "off"}


@contextmanager
def _build_settings(conn: Connection) -> Iterator[None]:
    previous = {
        name: conn.execute(text("SELECT current_setting(:n), set_config(:n, :v, true)"), {"n": name, "v": value}).one()[
            0
        ]
        for name, value in _SETTINGS.items()
    }
    try:
        yield
    finally:
        for name, value in previous.items():
            conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})


def sync_area_rows(conn: Connection, codes: Sequence[str] | None = None) -> dict[str, int]:
    """Delete the rows of areas that are gone, build the rows of areas that have none: among the
    areas with ``codes`` (a publish's removed and added codes), or everywhere when None."""
    if codes is not None and not codes:
        return {"area_rows_deleted": 0, "area_rows_built": 0}
    params = {"codes": None if codes is None else sorted(set(codes))}
    with _build_settings(conn):
        deleted = conn.execute(_DELETE_GONE_AREAS, params).rowcount
        conn.execute(_REGISTER_CODES, params)
        built = conn.execute(
            _BUILD_NEW_AREAS, {**params, "minzooms": list(AREA_MINZOOMS), "maxzoom": MAX_ZOOM}
        ).rowcount
    if built > 20000:  # a county or more: fresh statistics now rather than at the next autovacuum
        conn.execute(text("ANALYZE tile_area"))
    return {"area_rows_deleted": deleted, "area_rows_built": built}


@dataclass(frozen=True)
class CameraRows:
    """What :func:`sync_camera_rows` did: cameras drawn differently, rows written or deleted, and
    the points (EPSG:4490 MultiPoint WKB, or None) where they were and are drawn."""

    changed: int
    written: int
    points_wkb: bytes | None


def sync_camera_rows(conn: Connection) -> CameraRows:
    """Bring the tile rows of the cameras in ``change_camera`` (those a write locked, see
    ``gridmap.db.cameras.lock_cameras``, with their current state) up to date, by device id."""
    changed, points, written = conn.execute(_SYNC_CAMERAS).one()
    return CameraRows(int(changed), int(written), bytes(points) if points is not None else None)


def rebuild_tile_tables(conn: Connection) -> dict[str, int]:
    """Build both tables from scratch (the sample load, repairs)."""
    conn.execute(text("DELETE FROM tile_area"))
    done = sync_area_rows(conn, None)
    conn.execute(text("DELETE FROM tile_camera"))
    done["camera_rows"] = conn.execute(_INSERT_ALL_CAMERAS).rowcount
    conn.execute(text("ANALYZE tile_camera"))
    return done


def tile_differences(conn: Connection, limit: int = 20) -> list[str]:
    """How the tile rows differ from the data (empty: they agree): camera rows against the drawn
    cameras, area rows against the live areas (each has rows, none of a gone area)."""
    found: list[str] = []
    columns = ", ".join(_CAMERA_COLUMNS)
    for device_id, where in conn.execute(
        text(f"""
            (SELECT device_id, 'tile row differs from the camera or is missing' FROM (
                SELECT id AS fid, {columns}, ST_Transform(geom, 3857) AS geom FROM camera
                WHERE status <> 'removed' AND geom IS NOT NULL
                EXCEPT SELECT fid, {columns}, geom FROM tile_camera) AS x)
            UNION ALL
            (SELECT device_id, 'tile row of a camera not drawn' FROM tile_camera t
             WHERE NOT EXISTS (SELECT 1 FROM camera c WHERE c.device_id = t.device_id AND c.status <> 'removed'))
            ORDER BY 1 LIMIT :limit"""),
        {"limit": limit},
    ):
        found.append(f"camera {device_id}: {where}")
    for code, where in conn.execute(
        text("""
            (SELECT a.code, 'area without tile rows' FROM area a
             WHERE a.level >= 0 AND NOT EXISTS (SELECT 1 FROM tile_area t WHERE t.area_id = a.id))
            UNION ALL
            (SELECT t.code, 'tile rows of an area that is gone' FROM tile_area t
             WHERE NOT EXISTS (SELECT 1 FROM area a WHERE a.id = t.area_id AND a.code = t.code))
            UNION ALL
            (SELECT t.code, 'tile rows without the code''s feature id' FROM tile_area t
             WHERE NOT EXISTS (SELECT 1 FROM area_feature_id r WHERE r.code = t.code AND r.fid = t.fid))
            ORDER BY 1 LIMIT :limit"""),
        {"limit": limit},
    ):
        found.append(f"area {code}: {where}")
    return found[:limit]
