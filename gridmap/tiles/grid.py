"""The tile grid: OGC WebMercatorQuad (EPSG:3857, XYZ rows from the top, from morecantile), the
MVT extent and buffer, and the tile maths every layer shares. Coordinates in EPSG:3857 metres;
"tile units" are 1/EXTENT of a tile.
"""

from __future__ import annotations

import math

import morecantile

#: The tile matrix set: OGC WebMercatorQuad (EPSG:3857, XYZ rows from the top), from morecantile.
TMS = morecantile.tms.get("WebMercatorQuad")
#: Half the width of the EPSG:3857 world, metres (π × 6378137).
HALF_WORLD = TMS.xy_bbox.right
#: Tile extent (integer units across a tile) and buffer (units beyond each edge).
EXTENT = 4096
BUFFER = 64
#: Highest zoom served (and precomputed); clients overzoom above it.
MAX_ZOOM = 16
#: Most features one tile carries (see ``gridmap.tiles.layers`` for the order).
MAX_FEATURES = 4096


def tile_size_m(z: int) -> float:
    """Width of a zoom-z tile in EPSG:3857 metres."""
    return 2 * HALF_WORLD / (1 << z)


def unit_m(z: int) -> float:
    """One tile unit (1/4096 of a tile) at zoom z, EPSG:3857 metres."""
    return tile_size_m(z) / EXTENT


def tolerance_m(z: int) -> float:
    """Simplification tolerance at zoom z (half a tile unit), EPSG:3857 metres."""
    return unit_m(z) / 2


def tile_bounds(z: int, x: int, y: int, buffer: float = 0) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of tile z/x/y in EPSG:3857 metres (``TMS.xy_bounds``), grown by
    ``buffer`` tile units."""
    left, bottom, right, top = TMS.xy_bounds(morecantile.Tile(x, y, z))
    grow = (right - left) * buffer / EXTENT
    return left - grow, bottom - grow, right + grow, top + grow


def tile_in_range(z: int, x: int, y: int) -> bool:
    """Whether z/x/y names a tile (WebMercatorQuad's matrix at zoom z is 2^z × 2^z)."""
    return 0 <= x < (1 << z) and 0 <= y < (1 << z)


#: Web Mercator's sphere (metres) and latitude limit (degrees).
EARTH_RADIUS = 6378137.0
MAX_LATITUDE = 85.05112878


def lonlat_to_3857(lon: float, lat: float) -> tuple[float, float]:
    lat = max(-MAX_LATITUDE, min(MAX_LATITUDE, lat))
    return (math.radians(lon) * EARTH_RADIUS, math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * EARTH_RADIUS)


def lonlat_of_3857(x: float, y: float) -> tuple[float, float]:
    """EPSG:3857 metres → longitude/latitude degrees (the projection's inverse on its sphere; what
    ``ST_Transform`` gives for EPSG:4490, whose datum PostGIS takes as WGS 84's)."""
    return math.degrees(x / EARTH_RADIUS), math.degrees(2 * math.atan(math.exp(y / EARTH_RADIUS)) - math.pi / 2)


TileRange = tuple[int, int, int, int]  # x0, x1, y0, y1 (inclusive, XYZ rows)


def tiles_meeting_units(z: int, x_min: float, y_min: float, x_max: float, y_max: float) -> TileRange:
    """The zoom-``z`` tiles whose buffered box meets a box in zoom-``z`` global tile units (y up, as
    ``tile_area`` stores them): tile x when ``x·E − B ≤ x_max`` and ``(x+1)·E + B ≥ x_min``."""
    last = (1 << z) - 1
    x0, x1 = max(0, math.ceil((x_min - BUFFER) / EXTENT - 1)), min(last, math.floor((x_max + BUFFER) / EXTENT))
    row0, row1 = max(0, math.ceil((y_min - BUFFER) / EXTENT - 1)), min(last, math.floor((y_max + BUFFER) / EXTENT))
    return x0, x1, last - row1, last - row0  # rows counted from the bottom → XYZ rows from the top


def tiles_holding_point(z: int, px: float, py: float, buffer: float = BUFFER + 0.5) -> TileRange:
    """The zoom-``z`` tiles whose box grown by ``buffer`` tile units holds a point (EPSG:3857 m)."""
    size, last = tile_size_m(z), (1 << z) - 1
    grow = size * buffer / EXTENT
    x0 = max(0, math.ceil((px + HALF_WORLD - grow) / size - 1))
    x1 = min(last, math.floor((px + HALF_WORLD + grow) / size))
    y0 = max(0, math.ceil((HALF_WORLD - py - grow) / size - 1))
    y1 = min(last, math.floor((HALF_WORLD - py + grow) / size))
    return x0, x1, y0, y1
