"""The in-process cache of hot tiles.

An LRU (``cachetools.LRUCache``) bounded by bytes (default 64 MB), keyed by (layer, z, x, y),
holding each tile gzipped with its ETag and the data revision it was made at. Thread-safe (one
lock; the routes touch it from the event loop and from worker threads).

Invalidation follows the data revision (``data_revision``, bumped by every write in the write's
transaction, see :mod:`gridmap.services.changes`). :class:`gridmap.tiles.service.TileService`
reads it at most every ``check_interval`` seconds, and at once when a request names a newer
revision (``?v=``); when it moved, it works out which tiles changed (:class:`Regions`, see
:func:`gridmap.tiles.service.changed_regions`) and calls :meth:`TileCache.advance`, which evicts
exactly those: the tiles showing an area whose figures changed (at every zoom), the tiles
showing a camera that changed (where it was and where it is), and every tile meeting a box where
boundaries changed. A status change of one camera evicts its own camera tiles and the tiles of its
micro-grid, grid, village, township and county, nothing else.

A tile that survives an advance is known to be current at the cache's revision. A tile made from
an older snapshot than the revision the cache has already processed is not stored (it could carry
data that was just evicted); one made from a newer snapshot is (the eviction for that revision,
when it comes, treats it like any other tile).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from cachetools import LRUCache

from gridmap.tiles.grid import BUFFER, tile_bounds

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: Bytes counted per entry on top of the tile itself (key, entry object, ETag).
ENTRY_OVERHEAD = 200

Key = tuple[str, int, int, int]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Tile:
    revision: int
    #: The tile gzipped (b"" for an empty tile).
    gz: bytes
    #: Hex digest of the uncompressed tile (the ETag's core).
    digest: str
    #: Length of the uncompressed tile (0: empty, answered 204).
    size: int

    @property
    def empty(self) -> bool:
        return self.size == 0


#: An area spanning more tiles than this at a zoom is evicted as a range, not tile by tile.
MAX_LISTED_TILES = 64


@dataclass
class Regions:
    """What changed: tiles (``keys``), tile ranges per (layer, zoom) (``ranges``: (x0, x1, y0,
    y1), inclusive, for areas too large to list tile by tile) and boxes in EPSG:3857 metres per
    layer (``boxes``: every tile of the layer meeting one, buffer included); ``everything`` for a
    change with no known extent (or too many changes to list)."""

    everything: bool = False
    keys: set[Key] = field(default_factory=set)
    ranges: dict[tuple[str, int], list[tuple[int, int, int, int]]] = field(default_factory=dict)
    boxes: dict[str, list[Box]] = field(default_factory=dict)

    def touches(self, layer: str, z: int, x: int, y: int) -> bool:
        if self.everything or (layer, z, x, y) in self.keys:
            return True
        if any(x0 <= x <= x1 and y0 <= y <= y1 for x0, x1, y0, y1 in self.ranges.get((layer, z), ())):
            return True
        boxes = self.boxes.get(layer)
        if not boxes:
            return False
        x0, y0, x1, y1 = tile_bounds(z, x, y, BUFFER)
        return any(b[0] <= x1 and b[2] >= x0 and b[1] <= y1 and b[3] >= y0 for b in boxes)

    def add_tiles(self, layer: str, z: int, x0: int, x1: int, y0: int, y1: int) -> None:
        """The tiles x0..x1 × y0..y1 of ``layer`` at zoom ``z``: listed one by one when few, else
        as a range."""
        if x1 < x0 or y1 < y0:
            return
        if (x1 - x0 + 1) * (y1 - y0 + 1) <= MAX_LISTED_TILES:
            self.keys.update((layer, z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1))
        else:
            self.ranges.setdefault((layer, z), []).append((x0, x1, y0, y1))

    @property
    def scan(self) -> bool:
        """Whether evicting needs a look at every cached tile (ranges or boxes), not just ``keys``."""
        return self.everything or bool(self.ranges) or any(self.boxes.values())


class TileCache:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_bytes = max_bytes
        self._lru: LRUCache[Key, Tile] = LRUCache(maxsize=max_bytes, getsizeof=_size)
        self._lock = threading.Lock()
        #: The data revision whose changes have been applied to the cache (None: not read yet).
        self.revision: int | None = None
        self.hits = 0
        self.misses = 0
        self.invalidated = 0
        self.invalidations = 0

    def get(self, key: Key) -> Tile | None:
        with self._lock:
            tile = self._lru.get(key)
            if tile is None:
                self.misses += 1
            else:
                self.hits += 1
            return tile

    def get_hit(self, key: Key) -> Tile | None:
        """The cached tile, counted as a hit; None, counted as nothing, when it is not cached
        (the caller then asks :meth:`get` on its way to rendering it, which counts the miss)."""
        with self._lock:
            tile = self._lru.get(key)
            if tile is not None:
                self.hits += 1
            return tile

    def put(self, key: Key, tile: Tile) -> bool:
        """Store ``tile`` unless it predates the processed revision; True when stored."""
        with self._lock:
            if self.revision is not None and tile.revision < self.revision:
                return False
            try:
                self._lru[key] = tile
            except ValueError:  # larger than the whole cache
                return False
            return True

    def advance(self, revision: int, regions: Regions | None) -> int:
        """The data moved on to ``revision``: evict the tiles ``regions`` touches (all of them
        when None) and record the revision. Returns the number of tiles evicted."""
        with self._lock:
            if regions is None or regions.everything:
                evicted = len(self._lru)
                self._lru.clear()
            else:
                if regions.scan:
                    stale = [k for k in self._lru if regions.touches(*k)]
                else:  # only listed tiles: look them up rather than test every cached tile
                    stale = [k for k in regions.keys if k in self._lru]
                for k in stale:
                    del self._lru[k]
                evicted = len(stale)
            self.revision = revision
            self.invalidated += evicted
            self.invalidations += 1
            return evicted

    def clear(self) -> None:
        with self._lock:
            self._lru.clear()

    def __contains__(self, key: Key) -> bool:
        with self._lock:
            return key in self._lru

    def stats(self) -> dict[str, int | float | None]:
        with self._lock:
            lookups = self.hits + self.misses
            return {
                "hits": self.hits,
                "misses": self.misses,
                "hit_ratio": round(self.hits / lookups, 4) if lookups else None,
                "entries": len(self._lru),
                "bytes": int(self._lru.currsize),
                "max_bytes": self.max_bytes,
                "revision": self.revision,
                "invalidations": self.invalidations,
                "invalidated_tiles": self.invalidated,
            }


def _size(tile: Tile) -> int:
    return len(tile.gz) + ENTRY_OVERHEAD
