"""A tiny per-app cache of values computed from the data, keyed by (name, data revision).

Every write that changes what the API shows bumps ``data_revision`` in its own transaction
(:func:`gridmap.services.changes.record_change`), so a value computed at revision *r* is right for
every request that sees revision *r*, and wrong for none. Reading the revision is one cheap row
(:func:`gridmap.db.revisions.current_revision`), so a route reads it on every request and asks
the cache for ``(name, revision)``: the expensive value (a rendered XLSX, a long CSV, …)
is computed once per revision and per process.

- Thread-safe: FastAPI runs sync routes in a thread pool. Concurrent requests for the same
  missing key wait for one computation instead of all computing it.
- A value stored at revision *r* evicts the same name's values of older revisions; a late
  request still on an older snapshot neither evicts nor replaces a newer value.
- At most ``max_entries`` values, least recently used dropped first (``cachetools.LRUCache``).
- One cache per app (``app.state.revision_cache``, made by ``create_app``), never per module: two
  apps in one process (tests serve several databases) have revision counters of their own.

The caller must read the revision and compute the value on the same database snapshot (the read
routes use a REPEATABLE READ, read-only connection: see :func:`snapshot_conn`), else a value
computed from newer data could be stored under the older revision.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from typing import Annotated, TypeVar, cast

from cachetools import LRUCache
from fastapi import Depends, Request
from sqlalchemy import Connection

from gridmap.api.deps import Conn
from gridmap.db.revisions import current_revision

T = TypeVar("T")


class RevisionCache:
    """Values keyed by ``(name, revision)``; see the module docstring."""

    def __init__(self, max_entries: int = 64):
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: LRUCache[tuple[Hashable, int], object] = LRUCache(maxsize=max_entries)
        self._building: dict[tuple[Hashable, int], threading.Lock] = {}
        #: How many values were computed (for tests and the curious).
        self.computed = 0

    def get(self, name: Hashable, revision: int, compute: Callable[[], T]) -> T:
        """The value of ``name`` at ``revision``, computing it with ``compute()`` when missing."""
        key = (name, revision)
        with self._lock:
            if key in self._entries:
                return cast(T, self._entries[key])  # a read marks it recently used
            building = self._building.setdefault(key, threading.Lock())
        with building:
            with self._lock:
                if key in self._entries:  # computed by the request we waited for
                    return cast(T, self._entries[key])
            try:
                value = compute()
            except BaseException:
                with self._lock:
                    self._building.pop(key, None)
                raise
            with self._lock:
                self._building.pop(key, None)
                self.computed += 1
                same_name = [k for k in self._entries if k[0] == name]
                if any(k[1] > revision for k in same_name):
                    return value  # a newer revision is cached already: do not keep an older value
                for k in same_name:
                    del self._entries[k]
                self._entries[key] = value  # drops the least recently used beyond max_entries
            return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def cache_of(request: Request) -> RevisionCache:
    """The app's cache (``create_app`` makes it)."""
    return request.app.state.revision_cache


def snapshot_conn(conn: Conn) -> Iterator[Connection]:
    """The request's connection as one read-only REPEATABLE READ snapshot: the revision, the
    ``area_stats`` figures and everything else a route reads belong to the same moment."""
    conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    try:
        yield conn
    finally:
        conn.rollback()


class Revisioned:
    """A request's snapshot connection, its data revision and the app's cache."""

    def __init__(self, conn: Connection, cache: RevisionCache):
        self.conn, self.cache = conn, cache
        self.revision = current_revision(conn)

    def get(self, name: Hashable, compute: Callable[[Connection], T]) -> T:
        """The value of ``name`` at this request's revision (``compute(conn)`` when not cached)."""
        return self.cache.get(name, self.revision, lambda: compute(self.conn))


def revisioned(
    conn: Annotated[Connection, Depends(snapshot_conn)], cache: Annotated[RevisionCache, Depends(cache_of)]
) -> Revisioned:
    return Revisioned(conn, cache)


SnapshotConn = Annotated[Connection, Depends(snapshot_conn)]
RevisionedDep = Annotated[Revisioned, Depends(revisioned)]
