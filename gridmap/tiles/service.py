"""Rendering tiles, checking the data revision, and what TileJSON needs from the data.

One :class:`TileService` per application (``app.state.tiles``). It talks to PostgreSQL through a
small pool of its own psycopg connections (autocommit; ``jit`` off; a statement timeout) rather
than the app's SQLAlchemy pool: a tile is one prepared statement, and the engine's checkout (with
``pool_pre_ping``, a ``SELECT 1`` round trip) and reset-on-return (a ``ROLLBACK``) would double
the round trips of a small tile. The pool also bounds how many tiles render at once (default 4),
so a burst of cold tiles queues here instead of swamping the database.

The HTTP route renders on the event loop (:meth:`TileService.tile_async`, psycopg's asyncio
connections: no thread hop per tile). The blocking calls (:meth:`TileService.render`,
:meth:`TileService.check_revision` — at most every 0.2 s —, :meth:`TileService.bounds`) use a
second, synchronous pool and are run in a worker thread by the routes; scripts and tests may
call them directly.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import queue
import threading
import time
from typing import Any

import psycopg
import psycopg.errors
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from gridmap.tiles.cache import DEFAULT_MAX_BYTES, Box, Regions, Tile, TileCache
from gridmap.tiles.layers import LAYERS, TileLayer
from gridmap.tiles.sql import tile_params, tile_sql

log = logging.getLogger(__name__)

#: How often (seconds) a process looks at the data revision; a write shows in its tiles after at
#: most this long (plus the HTTP max-age clients may cache for).
DEFAULT_CHECK_INTERVAL = 0.2
DEFAULT_POOL_SIZE = 4
#: zlib level 1: on these tiles 2–3× faster than level 6 for 5–12 % more bytes, and a cold tile's
#: compression is on the request's path (a cached tile is compressed once).
GZIP_LEVEL = 1
#: Over this many new revisions at once, the whole cache is dropped instead of evicted by extent.
MAX_REVISIONS_EVICTED = 200
#: Over this many areas of one level touched by a change, their boxes are merged into one.
MAX_BOXES_PER_LAYER = 64
STATEMENT_TIMEOUT = "20s"
SESSION_SETTINGS = (
    f"SET statement_timeout = '{STATEMENT_TIMEOUT}'",
    "SET jit = off",  # JIT compiling costs more than any tile query
    # The tile statements are prepared once per connection and their plan does not depend on the
    # tile (an index scan around a box): plan once, not at each of the first five executions.
    "SET plan_cache_mode = force_generic_plan",
)
#: Tiles larger than this are gzipped in a worker thread rather than on the event loop.
GZIP_INLINE_MAX = 32 * 1024


NOT_MIGRATED = "the tile tables are missing: run `gridmap db migrate` (migration 0005)"


class TileDatabaseError(RuntimeError):
    """The database could not answer (down, restarting, timed out)."""


class ConnectionPool:
    """A few autocommit psycopg connections, handed out LIFO; at most ``size`` in use at once."""

    def __init__(self, conninfo: str, size: int = DEFAULT_POOL_SIZE):
        self.conninfo = conninfo
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._closed = False

    @classmethod
    def for_engine(cls, engine: Engine, size: int = DEFAULT_POOL_SIZE) -> ConnectionPool:
        return cls(engine.url.set(drivername="postgresql").render_as_string(hide_password=False), size)

    def _connect(self) -> psycopg.Connection:
        conn = psycopg.connect(self.conninfo, autocommit=True, application_name="gridmap tiles")
        for setting in SESSION_SETTINGS:
            conn.execute(setting)
        return conn

    def run(self, fn):
        """``fn(conn)`` on a pooled connection, once more on a fresh one if that connection had
        died (e.g. the server restarted since it was opened). Database failures (no connection,
        statement timeout) raise :class:`TileDatabaseError`."""
        for attempt in (1, 2):
            with self._slots:
                try:
                    conn = self._idle.get_nowait()
                except queue.Empty:
                    try:
                        conn = self._connect()
                    except psycopg.OperationalError as exc:
                        raise TileDatabaseError(_first_line(exc)) from exc
                try:
                    return fn(conn)
                except psycopg.errors.UndefinedTable as exc:
                    raise TileDatabaseError(NOT_MIGRATED) from exc
                except psycopg.OperationalError as exc:
                    if attempt == 2 or not conn.broken:
                        raise TileDatabaseError(_first_line(exc)) from exc
                finally:
                    if self._closed or not _reusable(conn):
                        conn.close()
                    else:
                        self._idle.put(conn)

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


class AsyncConnectionPool:
    """The same for the event loop (psycopg's asyncio connections): tiles are rendered without a
    thread hop. Made on first use inside the loop that uses it."""

    def __init__(self, conninfo: str, size: int = DEFAULT_POOL_SIZE):
        self.conninfo = conninfo
        self.size = size
        self._idle: list[psycopg.AsyncConnection] = []
        self._slots: asyncio.Semaphore | None = None
        self._closed = False

    async def _connect(self) -> psycopg.AsyncConnection:
        conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True,
                                                     application_name="gridmap tiles")
        for setting in SESSION_SETTINGS:
            await conn.execute(setting)
        return conn

    async def run(self, fn):
        """``await fn(conn)`` on a pooled connection (as :meth:`ConnectionPool.run`)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        for attempt in (1, 2):
            async with self._slots:
                try:
                    conn = self._idle.pop() if self._idle else await self._connect()
                except psycopg.OperationalError as exc:
                    raise TileDatabaseError(_first_line(exc)) from exc
                try:
                    return await fn(conn)
                except psycopg.errors.UndefinedTable as exc:
                    raise TileDatabaseError(NOT_MIGRATED) from exc
                except psycopg.OperationalError as exc:
                    if attempt == 2 or not conn.broken:
                        raise TileDatabaseError(_first_line(exc)) from exc
                finally:
                    if self._closed or not _reusable(conn):
                        await conn.close()
                    else:
                        self._idle.append(conn)

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            await self._idle.pop().close()


def _reusable(conn: psycopg.Connection | psycopg.AsyncConnection) -> bool:
    """Open and idle: not broken, and not left mid-query (e.g. by a cancelled request)."""
    return not (conn.broken or conn.closed) and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class TileService:
    def __init__(self, engine: Engine, *, layers: dict[str, TileLayer] | None = None,
                 cache_bytes: int = DEFAULT_MAX_BYTES, check_interval: float = DEFAULT_CHECK_INTERVAL,
                 pool_size: int = DEFAULT_POOL_SIZE, gzip_level: int = GZIP_LEVEL):
        self.layers = dict(layers or LAYERS)
        self.cache = TileCache(cache_bytes)
        self.check_interval = check_interval
        self.gzip_level = gzip_level
        self.pool = ConnectionPool.for_engine(engine, pool_size)
        self.async_pool = AsyncConnectionPool(self.pool.conninfo, pool_size)
        self._sql = {layer_id: tile_sql(layer) for layer_id, layer in self.layers.items()}
        self._next_check = 0.0
        self._check_lock = threading.Lock()
        self._bounds: tuple[int | None, dict[str, Box | None]] = (None, {})
        self._pending: dict[tuple[str, int, int, int], asyncio.Future] = {}
        self.renders = 0
        self.render_seconds = 0.0
        self.coalesced = 0

    def close(self) -> None:
        self.pool.close()

    async def aclose(self) -> None:
        await self.async_pool.close()
        self.pool.close()

    # -- tiles ------------------------------------------------------------------------------

    def render(self, layer: TileLayer, z: int, x: int, y: int) -> Tile:
        """Make tile z/x/y of ``layer`` from the database and store it in the cache (blocking)."""
        started = time.perf_counter()
        sql, params = self._sql[layer.id], tile_params(layer, z, x, y)
        # binary: the tile arrives as raw bytes, not as hex text to decode.
        revision, data = self.pool.run(lambda conn: conn.execute(sql, params, prepare=True, binary=True).fetchone())
        data = bytes(data or b"")
        return self._store(layer, z, x, y, revision, data, self._gzip(data), started)

    async def render_async(self, layer: TileLayer, z: int, x: int, y: int) -> Tile:
        """The same on the event loop (the HTTP route): no thread hop unless the tile is large
        enough for its compression to be worth moving off the loop."""
        started = time.perf_counter()
        sql, params = self._sql[layer.id], tile_params(layer, z, x, y)

        async def query(conn: psycopg.AsyncConnection):
            cursor = await conn.execute(sql, params, prepare=True, binary=True)
            return await cursor.fetchone()

        revision, data = await self.async_pool.run(query)
        data = bytes(data or b"")
        gz = self._gzip(data) if len(data) <= GZIP_INLINE_MAX else await run_in_threadpool(self._gzip, data)
        return self._store(layer, z, x, y, revision, data, gz, started)

    async def tile_async(self, layer: TileLayer, z: int, x: int, y: int) -> tuple[Tile, bool]:
        """(tile, came from the cache) for the HTTP route: the cache, else one render per tile
        at a time — requests for a tile being rendered wait for that render (screens refreshing
        together after a change would otherwise each render the same tiles)."""
        key = (layer.id, z, x, y)
        tile = self.cache.get(key)
        if tile is not None:
            return tile, True
        pending = self._pending.get(key)
        if pending is not None:
            self.coalesced += 1
            try:
                return await asyncio.shield(pending), False
            except asyncio.CancelledError:
                if not pending.cancelled() or asyncio.current_task().cancelling():
                    raise  # this request itself was cancelled
                return await self.render_async(layer, z, x, y), False  # the render's request was
        future = self._pending[key] = asyncio.get_running_loop().create_future()
        try:
            tile = await self.render_async(layer, z, x, y)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # marked retrieved: there may be no one waiting
            raise
        else:
            future.set_result(tile)
            return tile, False
        finally:
            del self._pending[key]

    def _gzip(self, data: bytes) -> bytes:
        return gzip.compress(data, compresslevel=self.gzip_level, mtime=0) if data else b""

    def _store(self, layer: TileLayer, z: int, x: int, y: int, revision: int, data: bytes, gz: bytes,
               started: float) -> Tile:
        tile = Tile(revision=int(revision), gz=gz, digest=hashlib.blake2b(data, digest_size=16).hexdigest(),
                    size=len(data))
        self.cache.put((layer.id, z, x, y), tile)
        self.renders += 1
        self.render_seconds += time.perf_counter() - started
        return tile

    def get(self, layer: TileLayer, z: int, x: int, y: int) -> tuple[Tile, bool]:
        """(tile, came from the cache) — the whole lookup, blocking (scripts, tests)."""
        if self.check_due():
            self.check_revision()
        tile = self.cache.get((layer.id, z, x, y))
        return (tile, True) if tile is not None else (self.render(layer, z, x, y), False)

    # -- freshness --------------------------------------------------------------------------

    def check_due(self) -> bool:
        return time.monotonic() >= self._next_check

    def check_revision(self) -> None:
        """Read the data revision; when it moved, evict the tiles the new changes touch. One
        thread checks at a time (the others go on with the cache as it is)."""
        if not self._check_lock.acquire(blocking=False):
            return
        try:
            self._next_check = time.monotonic() + self.check_interval
            self.pool.run(self._advance)
        except TileDatabaseError as exc:  # keep serving what is cached; misses will report it
            log.warning("tile cache: cannot read the data revision: %s", exc)
        finally:
            self._check_lock.release()

    def _advance(self, conn: psycopg.Connection) -> None:
        current = int(conn.execute("SELECT revision FROM data_revision WHERE id = 1").fetchone()[0])
        seen = self.cache.revision
        if seen == current:
            return
        if seen is None or current < seen or current - seen > MAX_REVISIONS_EVICTED:
            regions = None  # first look, a database that went back in time, or a flood of changes
        else:
            regions = changed_regions(conn, seen, current, self.layers.values())
        evicted = self.cache.advance(current, regions)
        log.info("tile cache: revision %s → %s, %d tiles evicted", seen, current, evicted)

    # -- TileJSON ---------------------------------------------------------------------------

    def bounds(self, layer: TileLayer) -> Box | None:
        """(west, south, east, north) of the layer's data in degrees, None when it has none;
        remembered until the data revision changes."""
        revision, known = self._bounds
        if revision is None or revision != self.cache.revision:
            known = {}
        if layer.id not in known:
            if layer.is_area:
                sql, params = "SELECT ST_Extent(geom) AS e FROM area WHERE level = %(level)s", {"level": layer.level}
            else:
                sql, params = "SELECT ST_Extent(geom) AS e FROM camera WHERE status <> 'removed'", {}
            row = self.pool.run(lambda conn: conn.execute(
                f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ({sql}) AS x", params).fetchone())
            known = {**known, layer.id: None if row[0] is None else tuple(float(v) for v in row)}
            self._bounds = (self.cache.revision, known)
        return known[layer.id]

    def stats(self) -> dict[str, Any]:
        return {**self.cache.stats(), "renders": self.renders, "coalesced": self.coalesced,
                "render_ms_mean": round(self.render_seconds / self.renders * 1000, 2) if self.renders else None,
                "check_interval_s": self.check_interval}


_CHANGES_SQL = """
    SELECT revision, extent IS NULL, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
    FROM (SELECT revision, extent, ST_Transform(extent, 3857) AS e FROM data_change
          WHERE revision > %(seen)s AND revision <= %(current)s) AS c
"""
#: Boxes (EPSG:3857) of the areas meeting the changes' extents: their figures may have changed
#: (they contain a changed camera or area), and so may every tile they reach into.
_TOUCHED_AREAS_SQL = """
    SELECT level, ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b)
    FROM (SELECT DISTINCT ON (a.id) a.level, ST_Transform(ST_Envelope(a.geom), 3857) AS b
          FROM area a JOIN data_change c ON a.geom && c.extent
          WHERE c.revision > %(seen)s AND c.revision <= %(current)s) AS x
"""


def changed_regions(conn: psycopg.Connection, seen: int, current: int, layers) -> Regions:
    """What revisions ``seen``+1 … ``current`` changed, per layer.

    - cameras: the changes' extents (they cover every camera written, where it was and is);
    - an area layer: the extents (areas replaced or removed lie inside them) plus the box of every
      live area of that level meeting an extent — its figures may have changed, and they show in
      every tile it reaches. Ancestors contain their descendants, so a change in a micro-grid
      reaches its grid, village, township and county this way, and only those.

    A change with no extent, or a revision without its ``data_change`` row, means everything.
    """
    params = {"seen": seen, "current": current}
    changes = conn.execute(_CHANGES_SQL, params).fetchall()
    if len(changes) != current - seen or any(unknown for _, unknown, *_ in changes):
        return Regions(everything=True)
    extents: list[Box] = [tuple(float(v) for v in row[2:]) for row in changes]
    by_level: dict[int, list[Box]] = {}
    for level, *box in conn.execute(_TOUCHED_AREAS_SQL, params):
        by_level.setdefault(int(level), []).append(tuple(float(v) for v in box))
    regions = Regions()
    for layer in layers:
        boxes = list(extents)
        if layer.is_area:
            touched = by_level.get(layer.level, [])
            if len(touched) > MAX_BOXES_PER_LAYER:
                touched = [_union(touched)]
            boxes += touched
        regions.boxes[layer.id] = boxes
    return regions


def _union(boxes: list[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
