"""Vector tiles for the tests: which tile holds a point, and one layer's features decoded."""

from __future__ import annotations

import mapbox_vector_tile

from gridmap.tiles.grid import EXTENT, HALF_WORLD, lonlat_to_3857, tile_size_m


def tile_at(lon: float, lat: float, z: int) -> tuple[int, int]:
    """(x, y) of the XYZ tile of zoom ``z`` holding the point (lon/lat degrees)."""
    x, y = lonlat_to_3857(lon, lat)
    size = tile_size_m(z)
    return int((x + HALF_WORLD) // size), int((HALF_WORLD - y) // size)


def decode(body: bytes, layer: str) -> list[dict]:
    """The features of the tile's one layer ``layer`` (an empty body: none)."""
    if not body:
        return []
    tiles = mapbox_vector_tile.decode(body, default_options={"y_coord_down": True})
    assert set(tiles) == {layer}, f"one MVT layer named {layer}, got {set(tiles)}"
    assert tiles[layer]["extent"] == EXTENT
    return tiles[layer]["features"]
