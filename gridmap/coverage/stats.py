"""The stored coverage figures (``area_stats``) and the data revision, rewritten by every write.

Every write that changes what a map shows (a boundary publish or rollback, a camera import, status
reports, the sample load) calls :func:`record_change` inside its own transaction. It recomputes
every area's figures with :func:`gridmap.coverage.table.compute_coverage` (the same rows the CLI
prints), stores them in ``area_stats`` and bumps ``data_revision``. Readers (tiles, pages, the
API's caches) therefore see figures and revision change together, at commit, and a cache keyed by
the revision can never serve figures older than the data.

It then brings the precomputed tile geometry up to date (``gridmap.tiles.store.refresh_tile_tables``:
the replaced areas' rows, changed figures, the cameras in the change's extent).

Cost: ~0.3 s for the sample county (12,000 areas), paid by the write, not by each tile; a
publish also pays for its areas' tile rows (≈2–3 s for a whole county, ≈0.1 s for a township).
"""

from __future__ import annotations

import shapely
from sqlalchemy import Connection, text

from gridmap.coverage.table import compute_coverage
from gridmap.db.copy import copy_columns
from gridmap.tiles.store import refresh_tile_tables

#: Kinds of change recorded in ``data_change.kind``.
CHANGE_KINDS = ("publish", "rollback", "camera_import", "status", "sample_load")


def record_change(conn: Connection, kind: str, extent_wkt: str | None = None) -> int:
    """Recompute ``area_stats`` and bump the revision, on the caller's transaction.

    ``extent_wkt``: a polygon (EPSG:4490, lon/lat degrees) bounding everything the change touched,
    for caches that can evict selectively; None means "anywhere". Returns the new revision.
    """
    if kind not in CHANGE_KINDS:
        raise ValueError(f"unknown change kind {kind!r}")
    # The row lock taken here orders concurrent writers: revisions become visible in order.
    revision = conn.execute(text(
        "UPDATE data_revision SET revision = revision + 1, changed_at = now() WHERE id = 1 RETURNING revision"
    )).scalar_one()
    conn.execute(text("""INSERT INTO data_change (revision, kind, extent)
                         VALUES (:rev, :kind, ST_Envelope(ST_GeomFromText(CAST(:extent AS text), 4490)))"""),
                 {"rev": revision, "kind": kind, "extent": extent_wkt})
    refresh_area_stats(conn)
    refresh_tile_tables(conn, kind, extent_wkt)
    return int(revision)


def refresh_area_stats(conn: Connection) -> int:
    """Rewrite ``area_stats`` from the live areas and cameras; returns the number of areas."""
    rows = list(compute_coverage(conn).rows.values())
    conn.execute(text("DELETE FROM area_stats"))
    copy_columns(conn, "area_stats", {
        "code": [r.code for r in rows],
        "level": [r.level for r in rows],
        "planned": [r.counts.planned for r in rows],
        "installed": [r.counts.installed for r in rows],
        "online": [r.counts.online for r in rows],
        "rollout_rate": [r.counts.rollout_rate for r in rows],
        "online_rate": [r.counts.online_rate for r in rows],
        "households": [r.households for r in rows],
    })
    return len(rows)


def current_revision(conn: Connection) -> int:
    """The revision of the data as this connection's snapshot sees it."""
    return int(conn.execute(text("SELECT revision FROM data_revision WHERE id = 1")).scalar_one())


def extent_of(conn: Connection, sql: str, params: dict | None = None) -> tuple[float, float, float, float] | None:
    """Bounding box (EPSG:4490 degrees) of the geometries ``sql`` selects (one geometry column), or None."""
    row = conn.execute(text(f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                            f"FROM (SELECT ST_Extent(g)::geometry AS e FROM ({sql}) AS s(g)) AS x"),
                       params or {}).one()
    return None if row[0] is None else tuple(float(v) for v in row)


def extent_wkt(*boxes: tuple[float, float, float, float] | None) -> str | None:
    """WKT polygon of the union of bounding boxes (None ones skipped); None when all are None."""
    boxes = [b for b in boxes if b is not None]
    if not boxes:
        return None
    minx, miny = min(b[0] for b in boxes), min(b[1] for b in boxes)
    maxx, maxy = max(b[2] for b in boxes), max(b[3] for b in boxes)
    # One camera (or cameras in a line) has a flat box, which ST_Envelope turns into a point or
    # line that data_change.extent (POLYGON) refuses: widen it by ~1 cm.
    pad = 1e-7
    if maxx - minx < pad:
        minx, maxx = minx - pad, maxx + pad
    if maxy - miny < pad:
        miny, maxy = miny - pad, maxy + pad
    return shapely.box(minx, miny, maxx, maxy).wkt
