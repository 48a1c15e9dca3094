"""Vector tiles (Mapbox Vector Tile 2.1, EPSG:3857 XYZ / WebMercatorQuad, extent 4096, buffer 64).

- :mod:`gridmap.tiles.grid`: WebMercatorQuad (morecantile), extent, buffer and the tile maths;
- :mod:`gridmap.tiles.layers`: the six layers (five :class:`AreaLayer` levels and the
  :class:`CameraLayer`), each with its zoom range, feature cap, properties, tile statement and
  parameters, extent query, and the tiles a change touches;
- :mod:`gridmap.tiles.store`: the precomputed tile geometry (tables ``tile_area`` and
  ``tile_camera``, and the feature-id registry ``area_feature_id``, migrations 0005–0007), kept in step with the data by the write path
  (:func:`gridmap.services.changes.record_change`);
- :mod:`gridmap.tiles.cache`: the in-process hot-tile cache (gzipped tiles, LRU bounded in bytes,
  evicted tile by tile: the tiles of the areas whose figures changed, of the cameras that changed,
  of the boxes where boundaries changed);
- :mod:`gridmap.tiles.service`: connections, rendering, revision checks and TileJSON data, used by
  the HTTP routes in :mod:`gridmap.api.routers.tiles`.
"""
