"""Rendering tiles, checking the data revision, and what TileJSON needs from the data.

One :class:`TileService` per application (``app.state.tiles``). It talks to PostgreSQL through a
small pool of its own psycopg connections (autocommit; ``jit`` off; a statement timeout) rather
than the app's SQLAlchemy pool: a tile is one prepared statement, and the engine's checkout (with
``pool_pre_ping``, a ``SELECT 1`` round trip) and reset-on-return (a ``ROLLBACK``) would double
the round trips of a small tile. The pool also bounds how many tiles render at once (default 4),
so a burst of cold tiles queues here instead of swamping the database.

The HTTP route renders on the event loop (:meth:`TileService.tile_async`, psycopg's asyncio
connections: no thread hop per tile). The blocking calls (:meth:`TileService.render`,
:meth:`TileService.check_revision` — at most every ``check_interval`` —,
:meth:`TileService.ensure_revision`, :meth:`TileService.bounds`) use a
second, synchronous pool and are run in a worker thread by the routes; scripts and tests may
call them directly.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import math
import queue
import threading
import time
from typing import Any

import psycopg
import psycopg.errors
import shapely
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from gridmap.errors import DatabaseUnavailable
from gridmap.tiles.cache import DEFAULT_MAX_BYTES, Box, Regions, Tile, TileCache
from gridmap.tiles.layers import BUFFER, EXTENT, HALF_WORLD, LAYERS, TileLayer, tile_size_m
from gridmap.tiles.sql import tile_params, tile_sql

log = logging.getLogger(__name__)

#: How often (seconds) a process looks at the data revision by itself; a write shows in its tiles
#: after at most this long (plus the HTTP max-age clients may cache for), at once for a URL that
#: names the new revision (``?v=``). The app sets it from ``GRIDMAP_TILE_CHECK_INTERVAL``.
DEFAULT_CHECK_INTERVAL = 1.0
DEFAULT_POOL_SIZE = 4
#: zlib level 1: on these tiles 2–3× faster than level 6 for 5–12 % more bytes, and a cold tile's
#: compression is on the request's path (a cached tile is compressed once).
GZIP_LEVEL = 1
#: Over this many new revisions at once, the whole cache is dropped instead of evicted by extent.
MAX_REVISIONS_EVICTED = 200
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


class TileDatabaseError(DatabaseUnavailable):
    """The database could not answer (down, restarting, timed out): 503 ``database_unavailable``."""

    def __init__(self, detail: str):
        super().__init__("数据库暂时不可用，瓦片无法生成，请稍后重试。", detail)


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
        raise AssertionError("unreachable: the second attempt returns or raises")

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
        conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True, application_name="gridmap tiles")
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
        raise AssertionError("unreachable: the second attempt returns or raises")

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
    def __init__(
        self,
        engine: Engine,
        *,
        layers: dict[str, TileLayer] | None = None,
        cache_bytes: int = DEFAULT_MAX_BYTES,
        check_interval: float = DEFAULT_CHECK_INTERVAL,
        pool_size: int = DEFAULT_POOL_SIZE,
        gzip_level: int = GZIP_LEVEL,
    ):
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
                task = asyncio.current_task()
                assert task is not None  # a coroutine awaited here always runs in a task
                if not pending.cancelled() or task.cancelling():
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

    def _store(
        self, layer: TileLayer, z: int, x: int, y: int, revision: int, data: bytes, gz: bytes, started: float
    ) -> Tile:
        tile = Tile(
            revision=int(revision), gz=gz, digest=hashlib.blake2b(data, digest_size=16).hexdigest(), size=len(data)
        )
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

    def ensure_revision(self, wanted: int) -> None:
        """Make sure the cache has processed revision ``wanted`` (a request named it, ``?v=``):
        wait for a check in progress, then check now unless that one got there. A tile request
        never gets content older than the newest revision it can know of."""
        if self.cache.revision is not None and self.cache.revision >= wanted:
            return
        with self._check_lock:
            if self.cache.revision is not None and self.cache.revision >= wanted:
                return
            self._next_check = time.monotonic() + self.check_interval
            try:
                self.pool.run(self._advance)
            except TileDatabaseError as exc:
                log.warning("tile cache: cannot read the data revision: %s", exc)

    def _advance(self, conn: psycopg.Connection) -> None:
        row = conn.execute("SELECT revision FROM data_revision WHERE id = 1").fetchone()
        assert row is not None  # the migrations create the single data_revision row
        current = int(row[0])
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
            row = self.pool.run(
                lambda conn: conn.execute(
                    f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ({sql}) AS x", params
                ).fetchone()
            )
            box: Box | None = None
            if row[0] is not None:
                west, south, east, north = (float(v) for v in row)
                box = (west, south, east, north)
            known = {**known, layer.id: box}
            self._bounds = (self.cache.revision, known)
        return known[layer.id]

    def stats(self) -> dict[str, Any]:
        return {
            **self.cache.stats(),
            "renders": self.renders,
            "coalesced": self.coalesced,
            "render_ms_mean": round(self.render_seconds / self.renders * 1000, 2) if self.renders else None,
            "check_interval_s": self.check_interval,
        }


_CHANGES_SQL = """
    SELECT revision, everything, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), codes,
           ST_AsBinary(ST_Transform(points, 3857))
    FROM (SELECT revision, everything, codes, points, ST_Transform(extent, 3857) AS e FROM data_change
          WHERE revision > %(seen)s AND revision <= %(current)s) AS c
"""
#: The tile boxes (each zoom's global tile units) of the areas whose figures changed.
_AREA_BOXES_SQL = "SELECT level, z, x_min, y_min, x_max, y_max FROM tile_area WHERE code = ANY(%(codes)s)"
#: An area spanning more tiles than this at a zoom is evicted as a range, not tile by tile.
MAX_LISTED_TILES = 64


def changed_regions(conn: psycopg.Connection, seen: int, current: int, layers) -> Regions:
    """Which tiles revisions ``seen``+1 … ``current`` changed:

    - area layers: every tile showing an area whose figures changed (``data_change.codes``), at
      every zoom, found from the area's exact box in ``tile_area`` — a tile shows an area when the
      area's box meets the tile grown by its buffer, exactly the test the tile query makes;
    - the camera layer: the tiles showing a changed camera where it was or is (``points``);
    - every layer: every tile meeting a box where boundaries changed (``extent``).

    A change marked ``everything``, or a revision without its ``data_change`` row, means everything.
    """
    params = {"seen": seen, "current": current}
    changes = conn.execute(_CHANGES_SQL, params).fetchall()
    if len(changes) != current - seen or any(everything for _, everything, *_ in changes):
        return Regions(everything=True)
    regions = Regions()
    by_level = {layer.level: layer.id for layer in layers if layer.is_area}
    cameras = next((layer for layer in layers if not layer.is_area), None)
    codes: set[str] = set()
    for _revision, _everything, x0, y0, x1, y1, changed_codes, points in changes:
        if x0 is not None:
            for layer in layers:
                regions.boxes.setdefault(layer.id, []).append((float(x0), float(y0), float(x1), float(y1)))
        codes.update(changed_codes or ())
        if points is not None and cameras is not None:
            for px, py in shapely.get_coordinates(shapely.from_wkb(bytes(points))):
                _add_point(regions, cameras, float(px), float(py))
    if codes:
        for level, z, x_min, y_min, x_max, y_max in conn.execute(_AREA_BOXES_SQL, {"codes": sorted(codes)}):
            layer_id = by_level.get(int(level))
            if layer_id is not None:
                _add_area(regions, layer_id, int(z), float(x_min), float(y_min), float(x_max), float(y_max))
    return regions


def _add_area(regions: Regions, layer_id: str, z: int, x_min: float, y_min: float, x_max: float, y_max: float) -> None:
    """The tiles of zoom ``z`` whose buffered box meets an area's box (zoom-``z`` global tile units,
    y up; see gridmap.tiles.store): tile x when ``x·E − B ≤ x_max`` and ``(x+1)·E + B ≥ x_min``."""
    last = (1 << z) - 1
    x0, x1 = max(0, math.ceil((x_min - BUFFER) / EXTENT - 1)), min(last, math.floor((x_max + BUFFER) / EXTENT))
    row0, row1 = max(0, math.ceil((y_min - BUFFER) / EXTENT - 1)), min(last, math.floor((y_max + BUFFER) / EXTENT))
    y0, y1 = last - row1, last - row0  # rows counted from the bottom → XYZ rows from the top
    _add_range(regions, layer_id, z, x0, x1, y0, y1)


def _add_point(regions: Regions, layer: TileLayer, px: float, py: float) -> None:
    """The camera tiles showing a point (EPSG:3857 metres), at each of the layer's zooms: those
    whose box grown by the buffer (plus the half unit the tile query allows) holds it."""
    for z in range(layer.minzoom, layer.maxzoom + 1):
        size, last = tile_size_m(z), (1 << z) - 1
        grow = size * (BUFFER + 0.5) / EXTENT
        x0 = max(0, math.ceil((px + HALF_WORLD - grow) / size - 1))
        x1 = min(last, math.floor((px + HALF_WORLD + grow) / size))
        y0 = max(0, math.ceil((HALF_WORLD - py - grow) / size - 1))
        y1 = min(last, math.floor((HALF_WORLD - py + grow) / size))
        _add_range(regions, layer.id, z, x0, x1, y0, y1)


def _add_range(regions: Regions, layer_id: str, z: int, x0: int, x1: int, y0: int, y1: int) -> None:
    if x1 < x0 or y1 < y0:
        return
    if (x1 - x0 + 1) * (y1 - y0 + 1) <= MAX_LISTED_TILES:
        regions.keys.update((layer_id, z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1))
    else:
        regions.ranges.setdefault((layer_id, z), []).append((x0, x1, y0, y1))
