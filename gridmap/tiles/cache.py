"""The in-process cache of hot tiles.

An LRU (``cachetools.LRUCache``) bounded by bytes (default 64 MB), keyed by (layer, z, x, y),
holding each tile gzipped with its ETag and the data revision it was made at. Thread-safe (one
lock; the routes touch it from the event loop and from worker threads).

Invalidation follows the data revision (``data_revision``, bumped by every write in the write's
transaction, see :mod:`gridmap.coverage.stats`). :class:`gridmap.tiles.service.TileService` reads it
at most every ``check_interval`` seconds; when it moved, it works out per layer which regions
changed (:class:`Regions`) and calls :meth:`TileCache.advance`, which evicts exactly the tiles
whose buffered extent meets one of them. Figures roll up (a camera going offline changes its
micro-grid, grid, village, township and county), so for an area layer the regions are the
changes' extents *plus the boxes of that level's areas meeting them*; see
:func:`gridmap.tiles.service.changed_regions`.

A tile made from an older snapshot than the revision the cache has already processed is not
stored (it could carry data that was just evicted); one made from a newer snapshot is (the
eviction for that revision, when it comes, treats it like any other tile).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from cachetools import LRUCache

from gridmap.tiles.layers import BUFFER, tile_bounds

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


@dataclass
class Regions:
    """What changed, per layer id: boxes in EPSG:3857 metres; ``everything`` for a change with no
    known extent (or too many changes to list)."""

    everything: bool = False
    boxes: dict[str, list[Box]] = field(default_factory=dict)

    def touches(self, layer: str, z: int, x: int, y: int) -> bool:
        if self.everything:
            return True
        boxes = self.boxes.get(layer)
        if not boxes:
            return False
        x0, y0, x1, y1 = tile_bounds(z, x, y, BUFFER)
        return any(b[0] <= x1 and b[2] >= x0 and b[1] <= y1 and b[3] >= y0 for b in boxes)


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
                stale = [k for k in self._lru.keys() if regions.touches(*k)]
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
            return {"hits": self.hits, "misses": self.misses,
                    "hit_ratio": round(self.hits / lookups, 4) if lookups else None,
                    "entries": len(self._lru), "bytes": int(self._lru.currsize), "max_bytes": self.max_bytes,
                    "revision": self.revision, "invalidations": self.invalidations,
                    "invalidated_tiles": self.invalidated}


def _size(tile: Tile) -> int:
    return len(tile.gz) + ENTRY_OVERHEAD
