"""The data revision (``data_revision``, one row) and the change log (``data_change``).

Every write that changes what maps show bumps the revision in its own transaction and logs what it
touched, so caches keyed by the revision can never serve older data, and can evict exactly what
changed (see ``gridmap.services.changes``). The bump takes the row's lock: it is the last, short
step of a write (figures, log), which is what it serialises; committed revisions become visible in
order. At commit PostgreSQL also delivers ``NOTIFY gridmap_revision`` with the new revision to
every listener (the pages' event stream, ``gridmap.api.events``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, text

#: The LISTEN/NOTIFY channel that carries each new revision (payload: the revision as text).
CHANNEL = "gridmap_revision"
#: Change-log rows older than this many revisions and this age are deleted (a cache further behind
#: starts over; a publish checks the log for publishes made since it validated).
KEEP_CHANGES = 5000
KEEP_AGE = dt.timedelta(hours=1)
#: More changed codes or camera points than this in one change: caches start over instead.
MAX_LISTED = 100_000


def current_revision(conn: Connection) -> int:
    """The revision of the data as this connection's snapshot sees it."""
    return int(conn.execute(text("SELECT revision FROM data_revision WHERE id = 1")).scalar_one())


def bump_revision(conn: Connection) -> int:
    """The next revision, taken on the caller's transaction (holds the row lock until it ends)."""
    return int(
        conn.execute(
            text("UPDATE data_revision SET revision = revision + 1, changed_at = now() WHERE id = 1 RETURNING revision")
        ).scalar_one()
    )


def log_change(
    conn: Connection,
    revision: int,
    kind: str,
    *,
    extent_wkt: str | None = None,
    codes: list[str] | None = None,
    points_wkb: bytes | None = None,
    root: str | None = None,
    everything: bool = False,
) -> None:
    """Record what ``revision`` changed (see ``gridmap.db.models.DataChange``), prune old rows and
    announce the revision (delivered at commit)."""
    if (codes is not None and len(codes) > MAX_LISTED) or everything:
        codes, points_wkb, everything = None, None, True
    conn.execute(
        text("""
        INSERT INTO data_change (revision, kind, extent, codes, points, root, everything)
        VALUES (:rev, :kind, ST_Envelope(ST_GeomFromText(CAST(:extent AS text), 4490)), CAST(:codes AS text[]),
                ST_Multi(ST_GeomFromWKB(CAST(:points AS bytea), 4490)), :root, :everything)"""),
        {
            "rev": revision,
            "kind": kind,
            "extent": extent_wkt,
            "codes": codes,
            "points": points_wkb,
            "root": root,
            "everything": everything,
        },
    )
    if revision % 500 == 0:
        conn.execute(
            text("DELETE FROM data_change WHERE revision <= :old AND changed_at < now() - :age"),
            {"old": revision - KEEP_CHANGES, "age": KEEP_AGE},
        )
    conn.execute(text("SELECT pg_notify(:channel, CAST(:rev AS text))"), {"channel": CHANNEL, "rev": revision})


def replaced_since(conn: Connection, revision: int, root: str) -> tuple[int, str, str] | None:
    """The first change after ``revision`` that replaced a subtree overlapping ``root`` (containing
    it or inside it): (revision, kind, its root); None when there is none."""
    row = conn.execute(
        text("""
        SELECT revision, kind, coalesce(root, '') FROM data_change
        WHERE revision > :rev AND kind IN ('publish', 'rollback', 'sample_load')
          AND (root LIKE :root || '%' OR :root LIKE root || '%')
        ORDER BY revision LIMIT 1"""),
        {"rev": revision, "root": root},
    ).one_or_none()
    return None if row is None else (int(row[0]), row[1], row[2])
