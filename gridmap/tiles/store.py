"""The precomputed tile geometry: what a tile server would otherwise compute on every request.

``tile_area``: one row per live area and zoom (the area layer's minzoom … :data:`MAX_ZOOM`), with
the geometry already transformed to EPSG:3857, simplified, snapped to that zoom's tile grid and
validated exactly as ``ST_AsMVTGeom`` would (it is ``ST_AsMVTGeom`` over the whole world at
``4096·2^z`` units), stored in that zoom's *global tile units* with y upwards (srid 0):
``X = (x₃₈₅₇ + πR)·4096·2^z / 2πR``. Tile z/x/y is then the box ``[x·4096, (x+1)·4096] ×
[(2^z−1−y)·4096, (2^z−y)·4096]`` of its zoom's rows; an area inside the tile's buffer needs only an
integer shift and a flip (``ST_Affine``), only areas crossing the buffer edge are clipped by
``ST_AsMVTGeom`` at request time. Each row keeps its exact box (``x_min`` … ``y_max``): index
boxes are single precision, up to 32 units off at z16 in these coordinates. The properties (name,
figures from ``area_stats``) are copied in so a tile reads one table. The rows of different zooms lie in disjoint coordinate ranges for
anything east of Greenwich and north of the equator, so one GiST index per level serves every zoom.

``tile_camera``: the drawn cameras (status ≠ removed) with their point in EPSG:3857 and properties.

:func:`refresh_tile_tables` keeps both in step with the data; it runs inside
:func:`gridmap.coverage.stats.record_change`, i.e. in the writer's transaction, so tiles, figures and
the data revision change together at commit:

- areas (publish, rollback, sample load — the kinds that replace areas): rows whose ``area.id`` is
  gone are deleted and areas without rows are built. ``replace_subtree`` gives every area it writes
  a new id, so exactly the replaced subtree is rebuilt: the sample county's 12,195 areas make
  63,507 rows in ≈2–3 s (about half ``ST_AsMVTGeom``, half writing rows and index entries), one
  township ≈0.1 s;
- figures (every kind): rows whose copied figures differ from ``area_stats`` are updated;
- cameras (every kind): the cameras inside the change's extent are rewritten (all of them when
  the extent is unknown).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text

from gridmap.tiles.layers import AREA_MINZOOMS, EXTENT, HALF_WORLD, MAX_ZOOM

#: Kinds of change that can replace areas (see gridmap.coverage.stats.CHANGE_KINDS).
AREA_KINDS = frozenset({"publish", "rollback", "sample_load"})

_FIGURES = ("planned", "installed", "online", "rollout_rate", "online_rate", "households")

_DELETE_GONE_AREAS = text("""
    DELETE FROM tile_area t WHERE NOT EXISTS (SELECT 1 FROM area a WHERE a.id = t.area_id)
""")

_BUILD_NEW_AREAS = text(f"""
    WITH a AS MATERIALIZED (
        SELECT a.id, a.level, a.code, a.name, a.area_m2, ST_Transform(a.geom, 3857) AS geom
        FROM area a
        WHERE NOT EXISTS (SELECT 1 FROM tile_area t WHERE t.area_id = a.id)
    )
    INSERT INTO tile_area (area_id, z, level, code, fid, name, area_m2, {", ".join(_FIGURES)}, geom,
                           x_min, y_min, x_max, y_max)
    SELECT a.id, zz.z, a.level, a.code,
           CASE WHEN length(a.code) <= 18 THEN CAST(a.code AS bigint) END,
           a.name, a.area_m2,
           coalesce(s.planned, 0), coalesce(s.installed, 0), coalesce(s.online, 0),
           s.rollout_rate, s.online_rate, s.households, g.geom,
           ST_XMin(g.box), ST_YMin(g.box), ST_XMax(g.box), ST_YMax(g.box)
    FROM a
    LEFT JOIN area_stats s ON s.code = a.code
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

_UPDATE_FIGURES = text(f"""
    UPDATE tile_area t SET {", ".join(f"{c} = s.{c}" for c in _FIGURES)}
    FROM area_stats s
    WHERE s.code = t.code
      AND ({", ".join(f"t.{c}" for c in _FIGURES)}) IS DISTINCT FROM ({", ".join(f"s.{c}" for c in _FIGURES)})
""")

_CAMERA_COLUMNS = "device_id, name, status, online, operator, area_code"
_SELECT_CAMERAS = f"""
    SELECT {_CAMERA_COLUMNS}, ST_Transform(geom, 3857) FROM camera c
    WHERE c.status <> 'removed' AND c.geom IS NOT NULL
"""
_DELETE_ALL_CAMERAS = text("DELETE FROM tile_camera")
_INSERT_ALL_CAMERAS = text(f"INSERT INTO tile_camera ({_CAMERA_COLUMNS}, geom) {_SELECT_CAMERAS}")
_DELETE_CAMERAS_IN = text("""
    DELETE FROM tile_camera t
    WHERE t.geom && ST_Transform(ST_GeomFromText(:extent, 4490), 3857)
       OR t.device_id IN (SELECT device_id FROM camera WHERE geom && ST_GeomFromText(:extent, 4490))
""")
_UPSERT_CAMERAS_IN = text(f"""
    INSERT INTO tile_camera ({_CAMERA_COLUMNS}, geom)
    {_SELECT_CAMERAS} AND c.geom && ST_GeomFromText(:extent, 4490)
    ON CONFLICT (device_id) DO UPDATE SET
        {", ".join(f"{c} = excluded.{c}" for c in _CAMERA_COLUMNS.split(", ")[1:])}, geom = excluded.geom
""")


def refresh_tile_tables(conn: Connection, kind: str, extent_wkt: str | None = None) -> dict[str, int]:
    """Bring ``tile_area`` / ``tile_camera`` up to date after a change of ``kind`` that touched
    ``extent_wkt`` (EPSG:4490 polygon; None = anywhere), on the caller's transaction. Call after
    ``area_stats`` is rewritten. Returns row counts (for logs and tests).

    A database not yet migrated to 0005 has no tile tables: nothing to do then.
    """
    if not conn.execute(text("SELECT to_regclass('tile_area') IS NOT NULL")).scalar_one():
        return {}
    with _build_settings(conn):
        done = {"area_rows_deleted": 0, "area_rows_built": 0}
        if kind in AREA_KINDS:
            done = sync_area_rows(conn)
        done["figure_rows_updated"] = conn.execute(_UPDATE_FIGURES).rowcount
        done["camera_rows"] = sync_cameras(conn, extent_wkt)
    return done


#: Planner settings for the statements here (restored afterwards, the transaction is the caller's):
#: its guess of generate_series' rows makes the build look expensive enough to JIT-compile (~0.3 s,
#: more than building a township's rows) and to memoize geometries by hashing them (~0.3 s for a
#: county, for nothing: no two are equal).
_SETTINGS = {"jit": "off", "enable_memoize": "off"}


@contextmanager
def _build_settings(conn: Connection) -> Iterator[None]:
    previous = {name: conn.execute(text("SELECT current_setting(:n), set_config(:n, :v, true)"),
                                   {"n": name, "v": value}).one()[0]
                for name, value in _SETTINGS.items()}
    try:
        yield
    finally:
        for name, value in previous.items():
            conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})


def sync_area_rows(conn: Connection) -> dict[str, int]:
    """Delete the rows of areas that are gone, build the rows of areas that have none."""
    deleted = conn.execute(_DELETE_GONE_AREAS).rowcount
    built = conn.execute(_BUILD_NEW_AREAS, {"minzooms": list(AREA_MINZOOMS), "maxzoom": MAX_ZOOM}).rowcount
    if built > 20000:  # a county or more: fresh statistics now rather than at the next autovacuum
        conn.execute(text("ANALYZE tile_area"))
    return {"area_rows_deleted": deleted, "area_rows_built": built}


def sync_cameras(conn: Connection, extent_wkt: str | None) -> int:
    """Rewrite the cameras inside ``extent_wkt`` (all when None); returns the rows written."""
    if extent_wkt is None:
        conn.execute(_DELETE_ALL_CAMERAS)
        written = conn.execute(_INSERT_ALL_CAMERAS).rowcount
        conn.execute(text("ANALYZE tile_camera"))
        return written
    conn.execute(_DELETE_CAMERAS_IN, {"extent": extent_wkt})
    return conn.execute(_UPSERT_CAMERAS_IN, {"extent": extent_wkt}).rowcount


def rebuild_tile_tables(conn: Connection) -> dict[str, int]:
    """Build both tables from scratch (migration 0005; repairs)."""
    with _build_settings(conn):
        conn.execute(text("DELETE FROM tile_area"))
        done = sync_area_rows(conn)
        done["camera_rows"] = sync_cameras(conn, None)
    return done
