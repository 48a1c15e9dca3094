"""The write path: where every write's change reaches everything derived from the data.

A write (status reports, a camera import, a boundary publish or rollback, the status time-to-live,
the sample load) runs in one transaction:

1. it locks what it changes, in the global order below, and the cameras it may change are
   remembered as they were (:func:`gridmap.db.cameras.lock_cameras`);
2. it changes the data;
3. it calls :func:`record_change`, which brings the derived data up to date — each step
   proportional to the change, never to the data:

   - tile rows: the replaced areas' rows (:func:`gridmap.tiles.store.sync_area_rows`), the changed
     cameras' rows by device id (:func:`gridmap.tiles.store.sync_camera_rows`);
   - label positions: the replaced areas' rows (:func:`gridmap.db.labels.sync_label_rows`);
   - the data revision (:func:`gridmap.db.revisions.bump_revision`);
   - figures: the changed cameras' deltas up the parent chain, new areas' rows
     (:mod:`gridmap.db.figures`);
   - the change log caches evict by: the areas whose figures moved, the cameras' old and new
     points, the box where boundaries changed (:func:`gridmap.db.revisions.log_change`), and the
     revision announced to listeners at commit.

Lock order — every writer takes its locks in this order, so writers wait for each other but never
deadlock:

1. the ``area`` table: publishes and rollbacks ROW EXCLUSIVE, camera imports SHARE (an import's
   assignment and a publish's never interleave; publishes run side by side, imports too);
2. advisory locks: a publish's subtree (:mod:`gridmap.db.locks`), the import lock;
3. camera rows, in device-id order (:func:`gridmap.db.cameras.lock_cameras`);
4. the ``data_revision`` row (taken by :func:`record_change`): it serialises only the short end of
   each write — figures and the change log —, so writes to different townships proceed in parallel
   and status pushes queue only for milliseconds.

A write that fails anywhere rolls back with everything it derived: figures, tiles, revision.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import shapely
from sqlalchemy import Connection, text

from gridmap.db import figures
from gridmap.db.cameras import CHANGED_CAMERAS, prepare_changed_cameras
from gridmap.db.labels import rebuild_label_rows, sync_label_rows
from gridmap.db.regions import sync_regions
from gridmap.db.revisions import bump_revision, log_change
from gridmap.logs import event, get_logger
from gridmap.tiles.store import rebuild_tile_tables, sync_area_rows, sync_camera_rows

log = get_logger("services.changes")

#: Kinds of change recorded in ``data_change.kind``.
CHANGE_KINDS = ("publish", "rollback", "camera_import", "status", "status_expiry", "sample_load", "repair")

#: Signed contributions of the cameras in ``change_camera``: minus as they were (an old leaf among
#: the replaced areas counts from the anchor up, the replaced rows being rebuilt), plus as they are.
_CAMERA_DELTAS = f"""
    SELECT CASE WHEN g.area_code = ANY(CAST(:removed AS text[])) THEN CAST(:anchor AS text) ELSE g.area_code END,
           coalesce(g.operator, ''), {figures.contribution("g.status", "g.online", -1)}
    FROM {CHANGED_CAMERAS} g WHERE g.area_code IS NOT NULL
    UNION ALL
    SELECT g.now_area_code, coalesce(g.now_operator, ''), {figures.contribution("g.now_status", "g.now_online")}
    FROM {CHANGED_CAMERAS} g WHERE g.now_area_code IS NOT NULL
"""


@dataclass(frozen=True)
class AreaReplacement:
    """Areas a publish or rollback replaced under ``root``: the codes live before (``removed``)
    and now (``added``), the deepest area kept above them (``anchor``: the parent of the replaced
    top level; None when the top of the tree was replaced) and the box (WKT, EPSG:4490 degrees) of
    the old and new outlines."""

    root: str
    removed: tuple[str, ...]
    added: tuple[str, ...]
    anchor: str | None
    extent_wkt: str | None
    codes: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "codes", tuple(sorted(set(self.removed) | set(self.added))))


def record_change(
    conn: Connection,
    kind: str,
    *,
    areas: AreaReplacement | None = None,
    everything: bool = False,
    root: str | None = None,
) -> int | None:
    """Bring figures, tile rows and the change log up to date after a write, on its transaction;
    returns the new revision, or None when nothing a map shows changed (no revision is taken).

    The cameras the write changed are those it locked with ``lock_cameras``, their current state
    kept in step by the writer (``change_camera``'s ``now_`` columns); ``areas`` describes replaced
    areas; ``everything`` rebuilds all derived data (the sample load under ``root``, repairs).
    """
    if kind not in CHANGE_KINDS:
        raise ValueError(f"unknown change kind {kind!r}")
    prepare_changed_cameras(conn)
    # Statistics of the cameras just locked (a temporary table has none): without them the planner
    # guesses hundreds of rows and hashes the whole camera and area tables (O(data)) instead of
    # looking up the few changed rows by index; with them a 1-camera change costs ~1 ms here. The
    # row count is what matters: one column's statistics are enough.
    conn.execute(text(f"ANALYZE {CHANGED_CAMERAS} (device_id)"))
    if everything:
        sync_regions(conn)
        rebuild_tile_tables(conn)
        rebuild_label_rows(conn)
        revision = bump_revision(conn)
        figures.rebuild(conn)
        log_change(conn, revision, kind, everything=True, root=root)
        _forget_cameras(conn)
        event(log, "change", kind=kind, revision=revision, everything=True, root=root or "all")
        return revision
    if areas is not None:
        sync_area_rows(conn, areas.codes)
        sync_label_rows(conn, areas.codes)
    cameras = sync_camera_rows(conn)
    if not cameras.changed and areas is None:
        _forget_cameras(conn)
        return None
    revision = bump_revision(conn)
    structure: set[str] = set()
    if areas is not None:
        figures.reset_areas(conn, areas.removed, areas.added)
        structure.update(areas.added)
        structure.update(figures.chain_of(conn, areas.anchor))
    moved = figures.apply_deltas(
        conn,
        _CAMERA_DELTAS,
        {"removed": list(areas.removed) if areas else [], "anchor": areas.anchor if areas else None},
    )
    structure.update(figures.parents_of(conn, moved.installed_codes))
    figures.refresh_structure(conn, sorted(structure))
    log_change(
        conn,
        revision,
        kind,
        extent_wkt=areas.extent_wkt if areas else None,
        codes=moved.codes,
        points_wkb=cameras.points_wkb,
        root=areas.root if areas else None,
    )
    _forget_cameras(conn)
    # Status reports can come thousands a second: they log at DEBUG, the other writes at INFO.
    event(
        log,
        "change",
        level=logging.DEBUG if kind in ("status", "status_expiry") else logging.INFO,
        kind=kind,
        revision=revision,
        root=areas.root if areas else None,
        areas_replaced=len(areas.codes) if areas else 0,
        cameras_changed=cameras.changed,
        figures_moved=len(moved.codes),
    )
    return revision


def _forget_cameras(conn: Connection) -> None:
    """Empty ``change_camera`` (it is emptied at commit too): a second write in the same
    transaction starts from a clean record."""
    conn.execute(text(f"DELETE FROM {CHANGED_CAMERAS}"))


def extent_of(conn: Connection, sql: str, params: dict | None = None) -> tuple[float, float, float, float] | None:
    """Bounding box (EPSG:4490 degrees) of the geometries ``sql`` selects (one geometry column), or None."""
    row = conn.execute(
        text(
            f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            f"FROM (SELECT ST_Extent(g)::geometry AS e FROM ({sql}) AS s(g)) AS x"
        ),
        params or {},
    ).one()
    if row[0] is None:
        return None
    xmin, ymin, xmax, ymax = (float(v) for v in row)
    return xmin, ymin, xmax, ymax


def extent_wkt(boxes: Iterable[tuple[float, float, float, float] | None]) -> str | None:
    """WKT polygon of the union of bounding boxes (None ones skipped); None when all are None."""
    present = [b for b in boxes if b is not None]
    if not present:
        return None
    minx, miny = min(b[0] for b in present), min(b[1] for b in present)
    maxx, maxy = max(b[2] for b in present), max(b[3] for b in present)
    # A flat box (one point, a line) would make ST_Envelope a point or line that data_change.extent
    # (POLYGON) refuses: widen it by ~1 cm.
    pad = 1e-7
    if maxx - minx < pad:
        minx, maxx = minx - pad, maxx + pad
    if maxy - miny < pad:
        miny, maxy = miny - pad, maxy + pad
    return shapely.box(minx, miny, maxx, maxy).wkt
