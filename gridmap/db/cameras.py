"""The ``camera`` table: writes (upsert by GB/T 28181 device id, online/offline reports, expiry,
assignment to leaf areas) and the API's reads (filtered pages as GeoJSON built by PostgreSQL, counts).

The assignment rule, here in PostGIS and in ``gridmap.coverage.assign`` in memory (the two give
identical results): a camera belongs to the **leaf area** (an area with no child areas) that
covers it, boundary included (``ST_Covers``); a camera covered by several leaf areas (on a shared
boundary, or inside an overlap) goes to the one with the smallest code; a camera no leaf area
covers has no area (``area_code`` NULL) and is listed as outside.

Points are EPSG:4490 (CGCS2000) longitude/latitude degrees rounded to 7 decimals. An area filter
selects the cameras whose leaf area (``camera.area_code``) is the area or lies below it by
``parent_code``, the same rule the coverage counts use.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from gridmap.db.areas import BBOX_SQL, LONLAT, SUBTREE_CTE, OutputCrs, Page, bbox_params, envelope_sql, geometry_sql
from gridmap.db.copy import copy_columns, ewkb_hex
from gridmap.db.locks import bound_lock_waits

#: Columns an import writes. ``device_id`` is the key; coordinates are always written (required in
#: every file); the others only when the file has them (``present``), so a file without an online
#: column leaves the online flags a video platform reported untouched.
_KEY = "device_id"
_ALWAYS = ("geom", "raw_x", "raw_y", "raw_crs", "status")
_OPTIONAL = ("name", "online", "operator", "installed_on", "direction", "place_type")
_COLUMNS = (_KEY, *_ALWAYS, *_OPTIONAL)
#: The live leaf areas: areas no other area names as its parent (never a city or province row,
#: ``gridmap.db.regions``: while a publish replaces a county its city may have no child for a moment).
LEAF_AREAS_SQL = (
    "SELECT a.code, a.geom FROM area a WHERE a.level >= 0 "
    "AND NOT EXISTS (SELECT 1 FROM area ch WHERE ch.parent_code = a.code)"
)


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int
    updated: int
    unchanged: int


def upsert_cameras(
    conn: Connection, cameras: pd.DataFrame, raw_crs: str, present: Iterable[str] | None = None
) -> UpsertCounts:
    """Insert or update ``cameras`` by ``device_id``; returns how many rows were new, changed or
    already identical (so re-importing a register changes nothing and says so).

    ``cameras`` has canonical columns: device_id, lon/lat (EPSG:4490 degrees), raw_x/raw_y (as
    read, in ``raw_crs``), status, and optionally online, name, operator, installed_on, direction,
    place_type, kind (kept in ``attrs['kind']``). On existing cameras only the optional columns in ``present`` are updated
    (default: those in the frame). A camera that is no longer installed is never online.
    """
    n = len(cameras)
    given = set(cameras.columns if present is None else present)
    present = given & set(_OPTIONAL)
    # The register's kind column (枪机/球机/半球) is kept in attrs['kind'] (read by view_cameras).
    with_kind = "kind" in given
    geoms = shapely.points(cameras["lon"].to_numpy(float), cameras["lat"].to_numpy(float))
    columns: dict[str, Sequence[object]] = {c: cameras[c].tolist() if c in cameras else [None] * n for c in _COLUMNS}
    columns.update(
        geom=ewkb_hex(geoms),
        raw_crs=[raw_crs] * n,
        raw_x=cameras.get("raw_x", cameras["lon"]).tolist(),
        raw_y=cameras.get("raw_y", cameras["lat"]).tolist(),
    )
    if "online" not in present:
        columns["online"] = [False] * n  # new cameras start offline until a platform reports them
    else:
        columns["online"] = [bool(o) and s == "installed" for o, s in zip(columns["online"], columns["status"])]
    written = list(_COLUMNS)
    if with_kind:
        kinds = cameras["kind"].tolist() if "kind" in cameras else [None] * n
        columns["attrs"] = [
            json.dumps({"kind": k.strip()}, ensure_ascii=False) if isinstance(k, str) and k.strip() else "{}"
            for k in kinds
        ]
        written.append("attrs")
    conn.execute(text("CREATE TEMP TABLE camera_in (LIKE camera INCLUDING DEFAULTS) ON COMMIT DROP"))
    copy_columns(conn, "camera_in", {c: columns[c] for c in written})

    updated = [*_ALWAYS, *sorted(present - {"online"})]
    sets = [f"{c} = EXCLUDED.{c}" for c in updated]
    online_new = "EXCLUDED.online" if "online" in present else "camera.online"
    sets.append(f"online = ({online_new} AND EXCLUDED.status = 'installed')")
    compared = [c for c in updated if c != "geom"] + ["online"]
    old = ", ".join(f"camera.{c}" for c in compared[:-1]) + ", camera.online"
    new = ", ".join(f"EXCLUDED.{c}" for c in compared[:-1]) + f", ({online_new} AND EXCLUDED.status = 'installed')"
    if with_kind:
        sets.append("attrs = (camera.attrs - 'kind') || EXCLUDED.attrs")
        old += ", camera.attrs->>'kind'"
        new += ", EXCLUDED.attrs->>'kind'"
    row = conn.execute(
        text(f"""
        WITH written AS (
            INSERT INTO camera ({", ".join(written)})
            SELECT {", ".join(written)} FROM camera_in
            ON CONFLICT (device_id) DO UPDATE SET {", ".join(sets)}, updated_at = now()
            WHERE ({old}) IS DISTINCT FROM ({new})
            RETURNING (xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written
    """)
    ).one()
    inserted, changed = int(row[0]), int(row[1])
    _refresh_statistics(conn, inserted)
    return UpsertCounts(inserted, changed, n - inserted - changed)


#: Inserted rows from which a write checks whether the planner's idea of the camera table is stale.
ANALYZE_FROM_ROWS = 500


def _refresh_statistics(conn: Connection, inserted: int) -> None:
    """``ANALYZE camera`` (on the writer's transaction, which it sees) when this write inserted at
    least :data:`ANALYZE_FROM_ROWS` rows and more than half of what the planner believes the table
    holds: a county's first register into an empty (or emptied) table. With the old statistics
    (0 rows) the planner joins the assignment's camera rows in a nested loop around the whole
    per-camera leaf search, O(n²) point-in-polygon tests (18 minutes for 10,520 cameras in a test
    run); the sample it reads is at most 3× the rows inserted, so the cost follows the write."""
    if inserted < ANALYZE_FROM_ROWS:
        return
    believed = conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'camera'::regclass")).scalar_one()
    if inserted > max(float(believed), 0.0) / 2:
        conn.execute(text("ANALYZE camera"))


#: The write path's record of the cameras a transaction changes: as they were when locked (see
#: :func:`lock_cameras`) and as they are now (the ``now_`` columns: the same at first; the writer
#: keeps them in step with what it writes — from its own ``RETURNING``, or by reading the cameras
#: again with :func:`record_current_states`). A temporary table of the session, emptied at every
#: commit.
CHANGED_CAMERAS = "change_camera"
_CHANGED_CAMERAS_TABLE = text(f"""
    CREATE TEMP TABLE IF NOT EXISTS {CHANGED_CAMERAS} (
        device_id text PRIMARY KEY, name text, area_code text, operator text, status text,
        online boolean, status_at timestamptz, x float8, y float8, digest text,
        now_name text, now_area_code text, now_operator text, now_status text, now_online boolean,
        now_geom geometry(Point, 4490)
    ) ON COMMIT DELETE ROWS""")
#: A camera row's fingerprint (every column): was it written at all?
ROW_DIGEST = "md5(CAST(c AS text))"


def prepare_changed_cameras(conn: Connection) -> None:
    """Make sure this session has its ``change_camera`` table (empty unless cameras were locked)."""
    conn.execute(_CHANGED_CAMERAS_TABLE)


def record_current_states(conn: Connection) -> None:
    """Fill the ``now_`` columns of ``change_camera`` from the cameras as the write left them (one
    look-up per camera; a camera that does not exist keeps them empty)."""
    conn.execute(
        text(f"""
        UPDATE {CHANGED_CAMERAS} g SET now_name = c.name, now_area_code = c.area_code, now_operator = c.operator,
                                      now_status = c.status, now_online = c.online, now_geom = c.geom
        FROM camera c WHERE c.device_id = g.device_id""")
    )


#: After ``UPDATE camera … RETURNING c.device_id, c.<column>`` as CTE ``written``: the new values
#: recorded as the cameras' current state.
_NOW = "UPDATE " + CHANGED_CAMERAS + " g SET now_{column} = w.{column} FROM written w WHERE g.device_id = w.device_id"


def lock_cameras(
    conn: Connection, where: str, params: dict | None = None, *, new_ids: Sequence[str] = (), digest: bool = False
) -> int:
    """Lock the cameras ``where`` selects (SQL on ``camera c``), in device-id order, and remember
    their state as it is now in ``change_camera`` (for ``record_change``: figures move by the
    difference). ``new_ids``: device ids the caller may insert — remembered as absent (no status)
    when there is no such camera. ``digest``: also remember each row's fingerprint
    (:data:`ROW_DIGEST`), to tell afterwards which rows were written at all. Locking in one global
    order is what keeps concurrent writers from deadlocking. Returns the number of existing
    cameras locked."""
    prepare_changed_cameras(conn)
    bound_lock_waits(conn)
    locked = conn.execute(
        text(f"""
        INSERT INTO {CHANGED_CAMERAS} (device_id, name, area_code, operator, status, online, status_at, x, y, digest,
                                      now_name, now_area_code, now_operator, now_status, now_online, now_geom)
        SELECT c.device_id, c.name, c.area_code, c.operator, c.status, c.online, c.status_at,
               ST_X(c.geom), ST_Y(c.geom), {ROW_DIGEST if digest else "NULL"},
               c.name, c.area_code, c.operator, c.status, c.online, c.geom
        FROM camera c WHERE {where} ORDER BY c.device_id FOR UPDATE OF c
        ON CONFLICT (device_id) DO NOTHING"""),
        params or {},
    ).rowcount
    if new_ids:
        conn.execute(
            text(
                f"INSERT INTO {CHANGED_CAMERAS} (device_id) SELECT unnest(CAST(:ids AS text[])) "
                "ON CONFLICT (device_id) DO NOTHING"
            ),
            {"ids": list(new_ids)},
        )
    return int(locked)


@dataclass(frozen=True)
class StatusCounts:
    applied: int  # reports that set a camera's online flag (changed or confirmed)
    stale: int  # reports older than the newest one already applied: ignored
    unknown: list[str]  # device ids not in the register
    not_installed: list[str]  # online reports for cameras that are planned or removed


def apply_status_updates(
    conn: Connection, updates: pd.DataFrame, may_change: Callable[[str | None], bool] | None = None
) -> tuple[StatusCounts, list[tuple[str, str | None]]]:
    """Apply online/offline reports (columns device_id, online, at — a tz-aware time).

    Per camera only the newest report of the batch counts, and only if it is newer than the last
    report applied (``status_at``): platforms resend and reorder reports. ``last_seen`` moves
    to the report time when the camera is reported online. An "online" report for a camera that is
    not installed is refused (listed), never turned into an installation. ``may_change(area_code)``
    (a token's scope): reports for cameras it refuses are not applied; their (device id, area
    code) are returned second. The cameras are locked in device-id order (:func:`lock_cameras`).
    """
    if updates.empty:
        return StatusCounts(0, 0, [], []), []
    # Times as integer microseconds since the epoch (PostgreSQL's own resolution): compared and
    # written without a datetime object per report.
    times = updates["at"].dt.as_unit("us").array.asi8.tolist()
    newest: dict[str, tuple[bool, int]] = {}  # per camera its newest report (the later row on a tie)
    for device_id, online, at in zip(updates["device_id"].tolist(), updates["online"].tolist(), times):
        if device_id not in newest or at >= newest[device_id][1]:
            newest[device_id] = (online, at)
    batch_stale = len(updates) - len(newest)
    ids = sorted(newest)
    lock_cameras(conn, "c.device_id = ANY(CAST(:ids AS text[]))", {"ids": ids})
    known = {
        d: (area, status, at)
        for d, area, status, at in conn.execute(
            text(
                f"""SELECT device_id, area_code, status, CAST(extract(epoch FROM status_at) * 1000000 AS bigint)
            FROM {CHANGED_CAMERAS}"""
            )
        ).all()
    }
    unknown, not_installed, refused = [], [], []
    stale = 0
    apply_ids, apply_online, apply_at = [], [], []
    for device_id in ids:
        online, at = newest[device_id]
        state = known.get(device_id)
        if state is None:
            unknown.append(device_id)
            continue
        area, status, status_at = state
        if may_change is not None and not may_change(area):
            refused.append((device_id, area))
        elif online and status != "installed":
            not_installed.append(device_id)
        elif status_at is not None and at <= status_at:
            stale += 1
        else:
            apply_ids.append(device_id)
            apply_online.append(bool(online))
            apply_at.append(at)
    applied = 0
    if apply_ids:
        applied = conn.execute(
            text(
                """
            WITH written AS (
                UPDATE camera c SET online = s.online, status_at = s.at,
                                    last_seen = CASE WHEN s.online THEN greatest(c.last_seen, s.at) ELSE c.last_seen END,
                                    updated_at = now()
                FROM (SELECT device_id, online, timestamptz 'epoch' + us * interval '1 microsecond' AS at
                      FROM unnest(CAST(:ids AS text[]), CAST(:online AS boolean[]), CAST(:us AS bigint[]))
                           AS u(device_id, online, us)) s
                WHERE c.device_id = s.device_id
                RETURNING c.device_id, c.online)
            """
                + _NOW.format(column="online")
            ),
            {"ids": apply_ids, "online": apply_online, "us": apply_at},
        ).rowcount
    return StatusCounts(int(applied), stale + batch_stale, sorted(unknown), sorted(not_installed)), refused


def expire_statuses(conn: Connection, ttl_seconds: float) -> int:
    """The status time-to-live: online cameras whose last online report (``last_seen``) is older
    than ``ttl_seconds`` are set offline, as of the moment their report expired (``status_at``, so a
    report older than that arriving later is stale). Cameras marked online by a register import
    and never reported (no ``last_seen``) are left alone. Returns how many went offline. (A scan of
    the camera table: an index on ``last_seen`` would make every status report a non-HOT update.)"""
    cutoff = {"ttl": float(ttl_seconds)}
    lock_cameras(conn, "c.online AND c.last_seen < now() - make_interval(secs => :ttl)", cutoff)
    return int(
        conn.execute(
            text(
                f"""
        WITH written AS (
            UPDATE camera c SET online = false,
                                status_at = greatest(c.status_at, c.last_seen + make_interval(secs => :ttl)),
                                updated_at = now()
            FROM {CHANGED_CAMERAS} g
            WHERE c.device_id = g.device_id AND c.online
              AND c.last_seen < now() - make_interval(secs => :ttl)
            RETURNING c.device_id, c.online)
        """
                + _NOW.format(column="online")
            ),
            cutoff,
        ).rowcount
    )


def assign_cameras_to_areas(
    conn: Connection, *, device_ids: Sequence[str] | None = None, root_code: str | None = None, locked: bool = False
) -> None:
    """Set ``area_code`` of cameras to the leaf area covering them (rule in the module docstring).

    Which cameras: all (default); those in ``device_ids`` (after an import); those in
    ``change_camera`` (``locked``: a publish locked its region with :func:`lock_cameras`); or,
    after boundaries under ``root_code`` changed, those that were in that subtree, were outside
    every area, or lie within the subtree's extent.
    """
    params: dict[str, Any]
    if device_ids is not None:
        where, params = "c.device_id = ANY(CAST(:ids AS text[]))", {"ids": list(device_ids)}
    elif root_code is not None:
        where = """(c.area_code IS NULL OR c.area_code LIKE CAST(:root AS text) || '%'
                    OR c.geom && (SELECT ST_Extent(geom) FROM area WHERE code LIKE CAST(:root AS text) || '%'))"""
        params = {"root": root_code}
    else:
        where, params = "TRUE", {}
    # The leaf areas with an index of their own: probing the live table would test every camera
    # against the county, its township, ... before reaching the leaf (2.5x slower).
    conn.execute(text("DROP TABLE IF EXISTS pg_temp.leaf_area"))
    conn.execute(text(f"CREATE TEMP TABLE leaf_area ON COMMIT DROP AS {LEAF_AREAS_SQL}"))
    conn.execute(text("CREATE INDEX ON leaf_area USING gist (geom)"))
    # Cameras are tested in the order of their current leaf: consecutive tests then meet the same
    # polygon, which PostGIS prepares once (several times faster than in device-id order).
    if locked:
        _assign_locked(conn)
        return
    conn.execute(
        text(f"""
        UPDATE camera cam SET area_code = hit.code
        FROM (SELECT x.id, x.area_code AS old, {_LEAF_OF.format(point="x.geom")} AS code
              FROM (SELECT c.id, c.area_code, c.geom FROM camera c WHERE {where}
                    ORDER BY c.area_code, c.id OFFSET 0) x) hit
        WHERE hit.old IS DISTINCT FROM hit.code AND cam.id = hit.id
    """),
        params,
    )


#: The leaf area covering ``{point}`` (the smallest code on a shared boundary), or NULL.
_LEAF_OF = "(SELECT a.code FROM leaf_area a WHERE ST_Covers(a.geom, {point}) ORDER BY a.code LIMIT 1)"


def _assign_locked(conn: Connection) -> None:
    """The assignment for the cameras a publish locked (their points are those remembered then:
    a publish moves no camera). Driven from the leaves: each leaf polygon is prepared once and
    tested against the points inside its box (indexed), ~7× faster than testing each point
    against its candidate leaves in turn, where the polygon changes at every call. The new leaf
    is recorded as the cameras' current one in ``change_camera``."""
    conn.execute(text("DROP TABLE IF EXISTS pg_temp.locked_point"))
    conn.execute(
        text(f"""CREATE TEMP TABLE locked_point ON COMMIT DROP AS
                          SELECT device_id, area_code, ST_SetSRID(ST_Point(x, y), 4490) AS p FROM {CHANGED_CAMERAS}
                          WHERE status IS NOT NULL AND x IS NOT NULL""")
    )
    conn.execute(text("CREATE INDEX ON locked_point USING gist (p)"))
    conn.execute(text("ANALYZE locked_point"))
    conn.execute(
        text(
            """
        WITH written AS (
            UPDATE camera cam SET area_code = hit.code
            FROM (SELECT pt.device_id, pt.area_code AS old, l.code
                  FROM locked_point pt LEFT JOIN (
                      SELECT q.device_id, min(a.code) AS code
                      FROM leaf_area a JOIN locked_point q ON q.p && a.geom AND ST_Covers(a.geom, q.p)
                      GROUP BY q.device_id) l USING (device_id)) hit
            WHERE hit.old IS DISTINCT FROM hit.code AND cam.device_id = hit.device_id
            RETURNING cam.device_id, cam.area_code)
        """
            + _NOW.format(column="area_code")
        )
    )


def cameras_in(conn: Connection, root_code: str) -> int:
    """How many cameras (not removed) lie in the subtree under ``root_code``."""
    return int(
        conn.execute(
            text("""SELECT count(*) FROM camera
                                    WHERE area_code LIKE CAST(:root AS text) || '%' AND status <> 'removed'"""),
            {"root": root_code},
        ).scalar_one()
    )


def leaf_areas(conn: Connection, prefix: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(codes, polygons in EPSG:4490) of the live leaf areas: areas with no child area (only those
    whose code starts with ``prefix``: one county's, or a city's, when given)."""
    rows = conn.execute(
        text(f"""SELECT code, ST_AsBinary(geom) FROM ({LEAF_AREAS_SQL}) leaf
                 WHERE CAST(:prefix AS text) IS NULL OR starts_with(code, CAST(:prefix AS text)) ORDER BY code"""),
        {"prefix": prefix},
    ).all()
    codes = np.array([r[0] for r in rows], dtype=object)
    geoms = shapely.from_wkb([bytes(r[1]) for r in rows]) if rows else np.array([], dtype=object)
    return codes, np.asarray(geoms, dtype=object)


def view_cameras(
    conn: Connection, prefix: str | None = None, statuses: tuple[str, ...] = ("installed",)
) -> dict[str, np.ndarray]:
    """The cameras whose view is drawn (``statuses``: installed by default) under ``prefix``: arrays
    ``device_id``, ``name``, ``kind`` (``attrs->>'kind'``, None when the register had no kind column),
    ``direction`` (the register's text), ``status``, ``area_code``, ``lon``, ``lat`` (EPSG:4490 degrees),
    ordered by device id. Cameras without a position are left out."""
    rows = conn.execute(
        text("""SELECT device_id, name, attrs->>'kind', direction, status, area_code, ST_X(geom), ST_Y(geom)
                FROM camera
                WHERE status = ANY(CAST(:statuses AS text[])) AND geom IS NOT NULL
                  AND (CAST(:prefix AS text) IS NULL OR starts_with(area_code, CAST(:prefix AS text)))
                ORDER BY device_id"""),
        {"prefix": prefix, "statuses": list(statuses)},
    ).all()
    names = ("device_id", "name", "kind", "direction", "status", "area_code")
    out = {k: np.array([r[i] for r in rows], dtype=object) for i, k in enumerate(names)}
    out["lon"] = np.array([r[6] for r in rows], dtype="float64")
    out["lat"] = np.array([r[7] for r in rows], dtype="float64")
    return out


def areas_fingerprint(conn: Connection, prefix: str | None = None) -> tuple[int, int, int, int, int]:
    """What identifies the live area rows (those whose code starts with ``prefix``, when given) as
    this connection's snapshot sees them: (database oid, row count, sum and max of the row ids,
    latest ``updated_at`` in µs since 1970). Areas are only ever replaced (delete + insert, new ids
    from a sequence), never updated in place, so any publish, rollback or sample load there changes
    it; a database dropped and made again has another oid, and one in a cluster made afresh (oids
    and ids counted from the start again) has later insert times. ~2 ms for a county (12,195 rows)."""
    row = conn.execute(
        text("""SELECT (SELECT oid FROM pg_database WHERE datname = current_database()),
                       count(*), coalesce(sum(id), 0), coalesce(max(id), 0),
                       coalesce(floor(extract(epoch FROM max(updated_at)) * 1000000), 0)::bigint FROM area
                WHERE level >= 0 AND (CAST(:prefix AS text) IS NULL OR starts_with(code, CAST(:prefix AS text)))"""),
        {"prefix": prefix},
    ).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4])


# ---------------------------------------------------------------------------------------------
# Reads for the API
# ---------------------------------------------------------------------------------------------

#: How a camera without an operator is named in coverage rows (``CoverageRow.to_dict``) and here.
UNKNOWN_OPERATOR = "未知"

CAMERA_PROPERTIES = """json_build_object(
    'device_id', c.device_id, 'name', c.name, 'status', c.status, 'online', c.online,
    'operator', c.operator, 'area_code', c.area_code, 'installed_on', c.installed_on,
    'last_seen', c.last_seen, 'place_type', c.place_type)"""


def camera_filters_sql(
    statuses: Sequence[str] | None,
    online: bool | None,
    operator: str | None,
    area: str | None,
    bbox: Sequence[float] | None,
    bbox_srid: int = 4490,
    device_id: str | None = None,
    area_code: str | None = None,
) -> tuple[list[str], list[str], dict[str, Any]]:
    """The WHERE terms, CTEs and parameters of the camera filters (see :func:`list_cameras`) on
    ``camera c``; the export and the list share them."""
    params: dict[str, Any]
    where, ctes, params = [], [], {}
    if device_id is not None:
        where.append("c.device_id = :device_id")
        params["device_id"] = device_id
    if area_code is not None:
        where.append("c.area_code = :area_code")
        params["area_code"] = area_code
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
        where.append(f"ST_Intersects(c.geom, {envelope_sql(bbox_srid)})")
        params.update(bbox_params(bbox))
    return where, ctes, params


def list_cameras(
    conn: Connection,
    *,
    statuses: Sequence[str] | None = None,
    online: bool | None = None,
    operator: str | None = None,
    area: str | None = None,
    bbox: Sequence[float] | None = None,
    limit: int = 1000,
    offset: int = 0,
    device_id: str | None = None,
    area_code: str | None = None,
    crs: OutputCrs = LONLAT,
    bbox_srid: int = 4490,
) -> Page:
    """Cameras as GeoJSON point features, by device id.

    - ``statuses``: only these (``planned``, ``installed``, ``removed``); default: all but removed;
    - ``online``: only online (True) or not online (False) cameras;
    - ``operator``: exact operator name (``未知``: cameras with none, as in coverage rows);
    - ``area``: cameras in that area or below;
    - ``bbox`` (x/y in ``bbox_srid``, default EPSG:4490 lon/lat degrees): cameras inside the box
      (boundary included);
    - ``device_id``, ``area_code``: exactly that camera, exactly that leaf area (OGC property filters);
    - ``crs``: the coordinates written (default EPSG:4490 lon/lat degrees, 7 decimals).
    """
    where, ctes, params = camera_filters_sql(statuses, online, operator, area, bbox, bbox_srid, device_id, area_code)
    params.update(limit=limit, offset=offset)
    ctes.append(f"matched AS (SELECT c.id, c.device_id FROM camera c WHERE {' AND '.join(where)})")
    ctes.append("page AS (SELECT id, device_id FROM matched ORDER BY device_id LIMIT :limit OFFSET :offset)")
    sql = f"""
        WITH RECURSIVE {", ".join(ctes)}
        SELECT (SELECT count(*) FROM matched), (SELECT count(*) FROM page),
               coalesce((SELECT json_agg(json_build_object(
                             'type', 'Feature', 'id', c.device_id, 'geometry', {geometry_sql("full", "c.geom", crs)},
                             'properties', {CAMERA_PROPERTIES}) ORDER BY c.device_id)
                         FROM page p JOIN camera c ON c.id = p.id), '[]'::json)::text
    """
    matched, returned, features = conn.execute(text(sql), params).one()
    return Page(int(matched), int(returned), features)


def count_cameras(
    conn: Connection,
    *,
    statuses: Sequence[str] | None = None,
    online: bool | None = None,
    operator: str | None = None,
    area: str | None = None,
    bbox: Sequence[float] | None = None,
) -> int:
    """How many cameras :func:`list_cameras` matches with the same filters."""
    where, ctes, params = camera_filters_sql(statuses, online, operator, area, bbox)
    prefix = f"WITH RECURSIVE {', '.join(ctes)} " if ctes else ""
    return int(
        conn.execute(text(f"{prefix}SELECT count(*) FROM camera c WHERE {' AND '.join(where)}"), params).scalar_one()
    )


def offline_cameras(conn: Connection, area: str, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """The installed cameras that are not online under ``area`` (their leaf area is it or lies
    below it): (how many there are, the first ``limit`` of them, the most recently seen first,
    never seen last, ties by device id). Each row: device_id, name, area_code (the leaf),
    child_code and area_name (the direct child of ``area`` it lies in, and that child's name; the
    area itself for a camera of a leaf ``area``), last_seen (a timezone-aware datetime or None).
    The sort and the limit run in PostgreSQL."""
    cte = """WITH RECURSIVE sub(code, child) AS (
            SELECT code, NULL::text FROM area WHERE code = :root
            UNION ALL
            SELECT a.code, coalesce(sub.child, a.code) FROM area a JOIN sub ON a.parent_code = sub.code
        ), matched AS (
            SELECT c.device_id, c.name, c.area_code, c.last_seen, coalesce(sub.child, :root) AS child_code
            FROM camera c JOIN sub ON sub.code = c.area_code
            WHERE c.status = 'installed' AND NOT c.online
        )"""
    params = {"root": area, "limit": limit}
    total = int(conn.execute(text(f"{cte} SELECT count(*) FROM matched"), params).scalar_one())
    if not limit:
        return total, []
    rows = conn.execute(
        text(f"""{cte}
            SELECT m.device_id, m.name, m.area_code, m.child_code, t.name AS area_name, m.last_seen
            FROM (SELECT * FROM matched ORDER BY last_seen DESC NULLS LAST, device_id COLLATE "C" LIMIT :limit) m
            LEFT JOIN area t ON t.code = m.child_code
            ORDER BY m.last_seen DESC NULLS LAST, m.device_id COLLATE "C" """),
        params,
    ).mappings()
    return total, [dict(r) for r in rows]


def camera_extent(conn: Connection) -> list[float] | None:
    """[minlon, minlat, maxlon, maxlat] of the cameras not removed (EPSG:4490 degrees, rounded
    outwards to 7 decimals); None without any."""
    return conn.execute(
        text(
            f"SELECT CASE WHEN e IS NULL THEN NULL ELSE {BBOX_SQL.format(g='e')} END FROM (SELECT ST_Extent(geom)::geometry AS e "
            "FROM camera WHERE status <> 'removed') x"
        )
    ).scalar_one()
