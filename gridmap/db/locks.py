"""Locks that order writers (see ``gridmap.services.changes`` for the whole order).

- **Subtrees.** A publish or rollback replacing the subtree under ``root`` holds an exclusive
  advisory lock on ``root`` and shared ones on each area code above it (its prefixes at the
  levels' code lengths). Two publishes therefore conflict exactly when one subtree contains the
  other (the same root, an ancestor, a descendant); siblings proceed side by side. The locks are
  *tried*, never waited for: the second of two overlapping publishes is refused at once
  (:class:`SubtreeBusy`, naming the subtree being published), rather than publishing over data it
  did not validate against.
- **The ``area`` table.** Publishes take it ROW EXCLUSIVE, camera imports SHARE: the two conflict,
  each with itself not. A camera import assigns its cameras against the areas it sees; a publish
  in between would leave them on areas it replaced.
- **Camera imports** hold one advisory lock among themselves: an import may insert a camera
  another import is inserting, and each must see the other's camera as it left it.

Advisory locks are transaction-level: a crash or a dropped connection releases them. A writer
waits for a lock at most :data:`LOCK_TIMEOUT` (then its transaction fails, changing nothing: the
API answers 503 and the caller may retry).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from gridmap.errors import GridmapError
from gridmap.levels import LEVELS

_KEY = "hashtextextended(:key, 0)"
#: The longest a writer waits for any lock (rows, tables, advisory locks).
LOCK_TIMEOUT = "60s"


def bound_lock_waits(conn: Connection) -> None:
    """On the caller's transaction: wait for no lock longer than :data:`LOCK_TIMEOUT`."""
    conn.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": LOCK_TIMEOUT})


class SubtreeBusy(GridmapError):
    """Another write holds a subtree overlapping ``root``: ``holder`` is what it said it is doing
    (e.g. ``publish 411628001``), when known. 409 ``write_conflict``."""

    status = 409
    exit_code = 1

    def __init__(self, root: str, holder: str | None):
        self.root, self.holder = root, holder
        doing = f"（{holder}）" if holder else ""
        super().__init__(
            "write_conflict",
            f"另一次写入{doing}正在修改与 {root} 重叠的区域：本次未做任何修改，请等它完成后重试。",
            {"root": root, "conflict": holder},
        )


def _subtree_key(code: str) -> str:
    return f"gridmap.subtree.{code}"


def ancestors_by_prefix(code: str) -> list[str]:
    """The codes above ``code`` in the default scheme: its prefixes at the levels' code lengths."""
    return [code[: lv.code_length] for lv in LEVELS if lv.code_length < len(code)]


def lock_subtree(conn: Connection, root: str, doing: str) -> None:
    """Take the subtree locks for ``root`` on the caller's transaction, or raise
    :class:`SubtreeBusy` at once. ``doing`` (e.g. ``publish``) names this write to the others."""
    conn.execute(text("SELECT set_config('application_name', :name, true)"), {"name": f"gridmap {doing} {root}"[:63]})
    wanted = [(root, "pg_try_advisory_xact_lock")] + [
        (a, "pg_try_advisory_xact_lock_shared") for a in ancestors_by_prefix(root)
    ]
    for code, function in wanted:
        key = _subtree_key(code)
        if not conn.execute(text(f"SELECT {function}({_KEY})"), {"key": key}).scalar_one():
            raise SubtreeBusy(root, _holder(conn, key))


def _holder(conn: Connection, key: str) -> str | None:
    """What the session holding advisory lock ``key`` calls itself (``gridmap publish …``)."""
    name = conn.execute(
        text(f"""
        SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid() AND l.objsubid = 1
          AND l.classid = CAST(({_KEY} >> 32) & 4294967295 AS oid)
          AND l.objid = CAST({_KEY} & 4294967295 AS oid)
        LIMIT 1"""),
        {"key": key},
    ).scalar_one_or_none()
    return name.removeprefix("gridmap ") if name else None


def lock_areas_for_publish(conn: Connection) -> None:
    bound_lock_waits(conn)
    conn.execute(text("LOCK TABLE area IN ROW EXCLUSIVE MODE"))


def lock_areas_for_import(conn: Connection) -> None:
    """Imports: no publish changes areas while this transaction assigns cameras to them; one
    import at a time."""
    conn.execute(text("LOCK TABLE area IN SHARE MODE"))
    conn.execute(text(f"SELECT pg_advisory_xact_lock({_KEY})"), {"key": "gridmap.services.cameras"})


def lock_regions(conn: Connection) -> None:
    """Writers that change the counties' region rows (``gridmap.db.regions``) one at a time: two
    counties of one city published side by side each redraw the city from what the other left."""
    conn.execute(text(f"SELECT pg_advisory_xact_lock({_KEY})"), {"key": "gridmap.db.regions"})


def try_lock_status_expiry(conn: Connection) -> bool:
    """One status expiry at a time (every server process runs it): False when another holds it."""
    return bool(
        conn.execute(text(f"SELECT pg_try_advisory_xact_lock({_KEY})"), {"key": "gridmap.status_expiry"}).scalar_one()
    )
