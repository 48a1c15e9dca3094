"""Vector tiles (Mapbox Vector Tile 2.1, EPSG:3857 XYZ / WebMercatorQuad, extent 4096, buffer 64).

- :mod:`gridmap.tiles.layers`: the six layers (county … microgrid, cameras), their zoom ranges,
  feature cap, properties, and the tile maths;
- :mod:`gridmap.tiles.store`: the precomputed tile geometry (tables ``tile_area`` and
  ``tile_camera``, migrations 0005–0006), kept in step with the data by the write path
  (:func:`gridmap.services.changes.record_change`);
- :mod:`gridmap.tiles.sql`: the per-layer tile query (``ST_AsMVT`` over the precomputed rows, the
  figures joined from ``area_stats``);
- :mod:`gridmap.tiles.cache`: the in-process hot-tile cache (gzipped tiles, LRU bounded in bytes,
  evicted tile by tile: the tiles of the areas whose figures changed, of the cameras that changed,
  of the boxes where boundaries changed);
- :mod:`gridmap.tiles.service`: connections, rendering, revision checks and TileJSON data, used by
  the HTTP routes in :mod:`gridmap.api.routers.tiles`.
"""
