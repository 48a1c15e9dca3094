"""Rendering tiles, checking the data revision, and what TileJSON needs from the data.

One :class:`TileService` per application (``app.state.tiles``), opened and closed by the app's
lifespan (:func:`gridmap.api.app.create_app`); a script or test uses ``async with
TileService(engine) as service:``. Everything it asks PostgreSQL — tiles, the data revision and
its changes, the layers' bounds — goes through one :class:`psycopg_pool.AsyncConnectionPool` on
the event loop (no thread hop per tile), not through the app's SQLAlchemy pool: a tile is one
prepared statement, and the engine's checkout (with ``pool_pre_ping``, a ``SELECT 1`` round trip)
and reset-on-return (a ``ROLLBACK``) would double the round trips of a small tile. For the same
reason the pool checks no connection when handing it out: a connection found broken by its query
is replaced and the query run once more (:meth:`TileService._run`).

The pool: autocommit connections with :data:`SESSION_SETTINGS` (statement timeout, ``jit`` off,
generic plans), 1 to ``pool_size`` (default 4) of them — which also bounds how many tiles render at
once, so a burst of cold tiles queues here instead of swamping the database. A request waits at
most ``pool_timeout`` (default 3 s) for a connection: a database that cannot be reached (or one so
slow that every connection stays busy that long) answers 503 ``database_unavailable``
(:class:`TileDatabaseError`) rather than holding the request.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import psycopg.errors
import shapely
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from gridmap.errors import DatabaseUnavailable
from gridmap.tiles.cache import DEFAULT_MAX_BYTES, Box, Regions, Tile, TileCache
from gridmap.tiles.layers import LAYERS, Changes, TileLayer

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How often (seconds) a process looks at the data revision by itself; a write shows in its tiles
#: after at most this long (plus the HTTP max-age clients may cache for), at once for a URL that
#: names the new revision (``?v=``). The app sets it from ``GRIDMAP_TILE_CHECK_INTERVAL``.
DEFAULT_CHECK_INTERVAL = 1.0
#: The most connections (the pool grows from one as requests need them, and shrinks back to one
#: after 10 minutes without use).
DEFAULT_POOL_SIZE = 4
#: Seconds a request waits for a connection before it answers 503.
DEFAULT_POOL_TIMEOUT = 3.0
#: Once a request got no connection in time, the next ones wait at most this long, until a query
#: succeeds again: while the database is down they answer 503 at once (the pool's connection
#: attempts go on in the background), and one the pool can connect to again is found at once.
UNREACHABLE_WAIT = 0.5
#: Seconds the pool keeps trying (1, 2, 4 … s apart) to replace a connection it could not make;
#: then it stops until a request needs one. Short, so that a database back after a long outage is
#: used at once rather than after the pool's next, ever longer, pause.
RECONNECT_TIMEOUT = 5.0
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

    def __init__(self, reason: str):
        # The driver's reason goes to the log, not to the client (it may name hosts, ports, roles).
        super().__init__("数据库暂时不可用，瓦片无法生成，请稍后重试。")
        self.reason = reason
        log.warning("tiles: database unavailable: %s", reason)


async def _configure(conn: psycopg.AsyncConnection) -> None:
    """Each new connection of the pool, once (autocommit: it stays idle, as the pool requires)."""
    for setting in SESSION_SETTINGS:
        await conn.execute(setting)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def conninfo_of(engine: Engine) -> str:
    """The libpq connection string of a SQLAlchemy engine's database."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class TileService:
    def __init__(
        self,
        engine: Engine,
        *,
        layers: dict[str, TileLayer] | None = None,
        cache_bytes: int = DEFAULT_MAX_BYTES,
        check_interval: float = DEFAULT_CHECK_INTERVAL,
        pool_size: int = DEFAULT_POOL_SIZE,
        pool_timeout: float = DEFAULT_POOL_TIMEOUT,
        gzip_level: int = GZIP_LEVEL,
    ):
        self.layers = dict(layers or LAYERS)
        self.cache = TileCache(cache_bytes)
        self.check_interval = check_interval
        self.gzip_level = gzip_level
        #: Opened by :meth:`open` (in the loop that will use it), closed by :meth:`close`.
        self.pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            conninfo_of(engine),
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "application_name": "gridmap tiles"},
            configure=_configure,
            open=False,
            timeout=pool_timeout,
            reconnect_timeout=RECONNECT_TIMEOUT,
            name="gridmap-tiles",
        )
        self._sql = {layer_id: layer.sql() for layer_id, layer in self.layers.items()}
        self._next_check = 0.0
        #: Held while a revision check runs (one at a time); see :meth:`_check_holding_lock`.
        self._check_lock = asyncio.Lock()
        self._check_task: asyncio.Task | None = None  # the last check (a reference keeps it running)
        #: Requests waiting for the lock to check (ensure_revision); checks ended, and whether the
        #: last one could not read the revision.
        self._check_waiters = 0
        self._checks = 0
        self._check_failed = False
        #: Set when a request got no connection in time, cleared by the next query that runs.
        self._unreachable = False
        self._bounds: tuple[int | None, dict[str, Box | None]] = (None, {})
        self._pending: dict[tuple[str, int, int, int], asyncio.Future] = {}
        self.renders = 0
        self.render_seconds = 0.0
        self.coalesced = 0
        #: Cached tiles answered before the app's routing (:class:`gridmap.api.routers.tiles.CachedTiles`).
        self.early_hits = 0

    async def open(self) -> None:
        """Start the pool (without waiting for a connection: a database that is down now does not
        stop the app from starting; its tiles answer 503 until it is back)."""
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def __aenter__(self) -> TileService:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _run(self, fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        """``await fn(conn)`` on a pooled connection, once more if that connection had died (e.g.
        the server restarted since it was opened: the pool then replaces it, and checks the other
        idle ones first, which likely died with it). Database failures — no connection within
        the pool's timeout, a statement timeout — raise :class:`TileDatabaseError`; a missing
        table says the database needs migrating."""
        for attempt in (1, 2):
            timeout = min(UNREACHABLE_WAIT, self.pool.timeout) if self._unreachable else None
            try:
                async with self.pool.connection(timeout) as conn:
                    try:
                        result = await fn(conn)
                        self._unreachable = False
                        return result
                    except psycopg.errors.UndefinedTable as exc:
                        raise TileDatabaseError(NOT_MIGRATED) from exc
                    except psycopg.OperationalError as exc:
                        if attempt == 2 or not conn.broken:
                            raise TileDatabaseError(_first_line(exc)) from exc
                        log.info("tile pool: connection lost (%s); trying again", _first_line(exc))
            except PoolTimeout as exc:  # the database is down, or every connection stayed busy
                self._unreachable = True
                raise TileDatabaseError(_first_line(exc)) from exc
            except psycopg.OperationalError as exc:  # psycopg_pool.PoolClosed: the app is stopping
                raise TileDatabaseError(_first_line(exc)) from exc
            await self.pool.check()
        raise AssertionError("unreachable: the second attempt returns or raises")

    # -- tiles ------------------------------------------------------------------------------

    async def render(self, layer: TileLayer, z: int, x: int, y: int) -> Tile:
        """Make tile z/x/y of ``layer`` from the database and store it in the cache. The tile is
        gzipped on the event loop unless it is large enough for that to be worth a thread hop."""
        started = time.perf_counter()
        sql, params = self._sql[layer.id], layer.params(z, x, y)

        async def query(conn: psycopg.AsyncConnection[Any]) -> tuple[Any, ...] | None:
            # binary: the tile arrives as raw bytes, not as hex text to decode.
            cursor = await conn.execute(sql, params, prepare=True, binary=True)
            return await cursor.fetchone()

        row = await self._run(query)
        assert row is not None  # an aggregate: always one row
        revision, data = row
        data = bytes(data or b"")
        gz = self._gzip(data) if len(data) <= GZIP_INLINE_MAX else await run_in_threadpool(self._gzip, data)
        return self._store(layer, z, x, y, revision, data, gz, started)

    async def tile(self, layer: TileLayer, z: int, x: int, y: int) -> tuple[Tile, bool]:
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
                return await self.render(layer, z, x, y), False  # the render's request was
        future = self._pending[key] = asyncio.get_running_loop().create_future()
        try:
            tile = await self.render(layer, z, x, y)
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

    # -- freshness --------------------------------------------------------------------------

    def check_due(self) -> bool:
        return time.monotonic() >= self._next_check

    async def check_revision(self) -> None:
        """Read the data revision; when it moved, evict the tiles the new changes touch. One
        check at a time: when one is running, this returns at once (the request goes on with the
        cache as it is)."""
        if self._check_lock.locked() or self._check_waiters:  # running, or about to
            return
        await self._check_lock.acquire()  # free, and no one waiting for it: taken at once
        await self._check_holding_lock()

    async def ensure_revision(self, wanted: int) -> None:
        """Make sure the cache has processed revision ``wanted`` (a request named it, ``?v=``):
        wait for a check in progress, then check now unless that one got there. A tile request
        never gets content older than the newest revision it can know of. (Unless the database
        does not answer: when the check waited for could not read the revision, this does not try
        again — requests naming a revision would otherwise queue here, each waiting in turn.)"""
        if self._has_processed(wanted):
            return
        checks = self._checks
        self._check_waiters += 1
        try:
            await self._check_lock.acquire()
        finally:
            self._check_waiters -= 1
        if self._has_processed(wanted) or (self._checks > checks and self._check_failed):
            self._check_lock.release()
            return
        await self._check_holding_lock()

    def _has_processed(self, revision: int) -> bool:
        return self.cache.revision is not None and self.cache.revision >= revision

    async def _check_holding_lock(self) -> None:
        """The check, the lock already taken: in a task of its own that releases the lock when it
        ends, so that a request cancelled meanwhile neither cuts the check short nor lets a second
        one start while the first still evicts (in a worker thread)."""
        self._next_check = time.monotonic() + self.check_interval

        async def check() -> None:
            failed = True
            try:
                await self._advance()
                failed = False
            except TileDatabaseError as exc:  # keep serving what is cached; misses will report it
                log.warning("tile cache: cannot read the data revision: %s", exc)
            finally:
                self._checks += 1
                self._check_failed = failed
                self._check_lock.release()

        task = self._check_task = asyncio.ensure_future(check())
        await asyncio.shield(task)

    async def _advance(self) -> None:
        seen = self.cache.revision

        async def read(conn: psycopg.AsyncConnection[Any]) -> tuple[int, Regions | None]:
            cursor = await conn.execute("SELECT revision FROM data_revision WHERE id = 1")
            row = await cursor.fetchone()
            assert row is not None  # the migrations create the single data_revision row
            current = int(row[0])
            if seen is None or current == seen or current < seen or current - seen > MAX_REVISIONS_EVICTED:
                return current, None  # unchanged; or a first look, a database that went back in time, a flood
            return current, await changed_regions(conn, seen, current, self.layers.values())

        current, regions = await self._run(read)
        if current == seen:
            return
        # Testing every cached tile against boxes takes ≈0.1 s for 20,000 tiles: off the loop.
        evicted = await run_in_threadpool(self.cache.advance, current, regions)
        log.info("tile cache: revision %s → %s, %d tiles evicted", seen, current, evicted)

    # -- TileJSON ---------------------------------------------------------------------------

    async def bounds(self, layer: TileLayer) -> Box | None:
        """(west, south, east, north) of the layer's data in degrees, None when it has none;
        remembered until the data revision changes."""
        revision, known = self._bounds
        if revision is None or revision != self.cache.revision:
            known = {}
        if layer.id not in known:
            sql, params = layer.extent_sql()

            async def query(conn: psycopg.AsyncConnection[Any]) -> tuple[Any, ...] | None:
                cursor = await conn.execute(
                    f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ({sql}) AS x", params
                )
                return await cursor.fetchone()

            row = await self._run(query)
            box: Box | None = None
            if row is not None and row[0] is not None:
                west, south, east, north = (float(v) for v in row)
                box = (west, south, east, north)
            known = {**known, layer.id: box}
            self._bounds = (self.cache.revision, known)
        return known[layer.id]

    def stats(self) -> dict[str, Any]:
        pool = self.pool.get_stats()
        return {
            **self.cache.stats(),
            "renders": self.renders,
            "coalesced": self.coalesced,
            "early_hits": self.early_hits,
            "render_ms_mean": round(self.render_seconds / self.renders * 1000, 2) if self.renders else None,
            "check_interval_s": self.check_interval,
            "connections": {k: pool.get(k, 0) for k in ("pool_size", "pool_available", "requests_waiting")},
        }


_CHANGES_SQL = """
    SELECT revision, everything, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), codes,
           ST_AsBinary(ST_Transform(points, 3857))
    FROM (SELECT revision, everything, codes, points, ST_Transform(extent, 3857) AS e FROM data_change
          WHERE revision > %(seen)s AND revision <= %(current)s) AS c
"""
#: The tile boxes (each zoom's global tile units) of the areas whose figures changed.
_AREA_BOXES_SQL = "SELECT level, z, x_min, y_min, x_max, y_max FROM tile_area WHERE code = ANY(%(codes)s)"


async def changed_regions(conn: psycopg.AsyncConnection[Any], seen: int, current: int, layers) -> Regions:
    """Which tiles revisions ``seen``+1 … ``current`` changed: the change log read once
    (:class:`~gridmap.tiles.layers.Changes`: boxes where boundaries changed, the tile boxes of the
    areas whose figures changed, the points of the changed cameras), then each layer adds the
    tiles it shows of them (:meth:`~gridmap.tiles.layers.TileLayer.add_changes`).

    A change marked ``everything``, or a revision without its ``data_change`` row, means everything.
    """
    params = {"seen": seen, "current": current}
    rows = await (await conn.execute(_CHANGES_SQL, params)).fetchall()
    if len(rows) != current - seen or any(everything for _, everything, *_ in rows):
        return Regions(everything=True)
    changes = Changes()
    codes: set[str] = set()
    for _revision, _everything, x0, y0, x1, y1, changed_codes, points in rows:
        if x0 is not None:
            changes.boxes.append((float(x0), float(y0), float(x1), float(y1)))
        codes.update(changed_codes or ())
        if points is not None:
            changes.points.extend(
                (float(px), float(py)) for px, py in shapely.get_coordinates(shapely.from_wkb(bytes(points)))
            )
    if codes:
        boxes = await (await conn.execute(_AREA_BOXES_SQL, {"codes": sorted(codes)})).fetchall()
        for level, z, x_min, y_min, x_max, y_max in boxes:
            changes.area_tiles.setdefault(int(level), []).append(
                (int(z), float(x_min), float(y_min), float(x_max), float(y_max))
            )
    regions = Regions()
    for layer in layers:
        layer.add_changes(regions, changes)
    return regions
