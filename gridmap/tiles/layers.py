"""The tile layers (WebMercatorQuad / XYZ, EPSG:3857; the grid and its maths: :mod:`gridmap.tiles.grid`).

=========  =====  ========  =======  =========================================================
layer      level  minzoom   maxzoom  properties
=========  =====  ========  =======  =========================================================
county     0      0         16       code, name, level, rollout_rate, online_rate, planned,
township   1      8         16       installed, online, households (figures from
village    2      10        16       ``area_stats``; a null rate is left out of the feature)
grid       3      11        16
microgrid  4      12        16
cameras    –      12        16       device_id, name, status, online, operator, area_code
=========  =====  ========  =======  =========================================================

Every tile has one MVT layer named like the URL's layer, extent 4096, buffer 64. Every feature
has an integer id below 2^53 (exact in JavaScript, for ``feature-state`` in MapLibre): an area's
is its code's id in ``area_feature_id``, the same across publishes and rollbacks; a camera's is
``camera.id`` (:mod:`gridmap.tiles.store`). The code (device id) is a property as well:
``promoteId: 'code'`` (``'device_id'``) makes it the id on the client instead.
Cameras with status ``removed`` are not drawn. Beyond ``maxzoom`` clients overzoom (TileJSON says
so); below ``minzoom`` a layer would be an unreadable carpet (e.g. ~600 micro-grids in one z12
tile already), so those zooms answer 404 ``zoom_out_of_range``.

Simplification: at zoom z one tile unit is ``2π·6378137 / 2^z / 4096`` metres (EPSG:3857 metres;
×cos φ on the ground, ≈0.83 at the sample county's 34°N), and geometry is simplified
(Douglas-Peucker, the step ``ST_AsMVTGeom`` applies) with half a unit as tolerance and snapped to
whole units: :func:`tolerance_m` (z10 4.78 m, z12 1.19 m, z14 0.30 m, z16 0.07 m).

Feature cap: at most :data:`MAX_FEATURES` features per tile. The rows are ordered before the cap
is applied, so a capped tile is deterministic: areas by size (largest first, then code), cameras
by device id. No tile of the sample county comes near the cap; it bounds the worst case (about
500 KB of tile) for denser data.

Each layer is one object with everything the service needs of it (the model is tipg's
``Collection``): its tile statement (:meth:`TileLayer.sql`, one statement returning the data
revision and the MVT bytes, from the same snapshot: the revision a tile is cached under is exactly
the revision of the data it was made from), its bound parameters for a tile
(:meth:`TileLayer.params`), the query of its data's extent (TileJSON ``bounds``) and which of its
tiles a run of changes touched (:meth:`TileLayer.add_changes`). :class:`AreaLayer` serves the five
levels from ``tile_area``, :class:`CameraLayer` the cameras from ``tile_camera``
(:mod:`gridmap.tiles.store` keeps both in step with the data). A new layer is a class here (or a
new instance of one) and an entry in :data:`LAYERS`.

Area tiles: the GiST index (one partial index per level) finds the rows whose box meets the tile
grown by its buffer (then checked against each row's exact box: index boxes are single precision);
they are ordered (size, then code) and capped, their figures joined from ``area_stats`` (by
primary key, after the cap), then areas lying inside the buffered tile are only shifted and flipped
into tile coordinates (they were simplified, snapped and validated when precomputed) and areas
crossing its edge are clipped by ``ST_AsMVTGeom``. The level is written into the SQL (each layer
has its own statement, so the partial index always applies); everything else is a bound parameter,
and psycopg prepares each statement on the connection.

Camera tiles: points within the buffer (exact test, the index's boxes are single precision) are
scaled into tile units and rounded, which is what ``ST_AsMVTGeom`` does to them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from gridmap.levels import LEVELS
from gridmap.tiles.cache import Regions
from gridmap.tiles.grid import (
    BUFFER,
    EXTENT,
    MAX_FEATURES,
    MAX_ZOOM,
    tile_bounds,
    tiles_holding_point,
    tiles_meeting_units,
)

#: Each property's type as TileJSON 3.0 ``vector_layers[].fields`` names it (``Number``,
#: ``String``, ``Boolean``: what GDAL's MVT driver and QGIS read the attribute types from) …
AREA_FIELDS = {
    "code": "String",
    "name": "String",
    "level": "Number",
    "rollout_rate": "Number",
    "online_rate": "Number",
    "planned": "Number",
    "installed": "Number",
    "online": "Number",
    "households": "Number",
}
CAMERA_FIELDS = {
    "device_id": "String",
    "name": "String",
    "status": "String",
    "online": "Boolean",
    "operator": "String",
    "area_code": "String",
}
#: … and what it means (``/tiles`` lists these as ``field_descriptions``).
AREA_FIELD_DESCRIPTIONS = {
    "code": "区划编码（县 6 位，乡镇 9，村 12，网格 15，微网格 18）",
    "name": "名称",
    "level": "层级 0 县 1 乡镇/街道 2 村/社区 3 网格 4 微网格",
    "rollout_rate": "建设率 = 已安装 / 规划（0..1；规划为 0 时缺省）",
    "online_rate": "在线率 = 在线 / 已安装（0..1；已安装为 0 时缺省）",
    "planned": "规划摄像头数（不含已拆除）",
    "installed": "已安装摄像头数",
    "online": "在线摄像头数",
    "households": "户数（本级缺省时为下级之和）",
}
CAMERA_FIELD_DESCRIPTIONS = {
    "device_id": "设备编码（GB/T 28181，20 位）",
    "name": "名称",
    "status": "planned 规划 | installed 已安装（已拆除的不显示）",
    "online": "是否在线",
    "operator": "运营单位",
    "area_code": "所在微网格编码",
}


_REVISION = "(SELECT revision FROM data_revision WHERE id = 1)"

#: The tile's properties: fixed ones from ``tile_area`` (``f``), figures from ``area_stats`` (``s``).
_AREA_PROPERTIES = """f.fid, f.code, f.name, f.level, s.rollout_rate, s.online_rate,
            coalesce(s.planned, 0) AS planned, coalesce(s.installed, 0) AS installed,
            coalesce(s.online, 0) AS online, s.households"""


@dataclass(frozen=True)
class Changes:
    """What a run of revisions changed, as the layers need it to find their touched tiles:
    ``boxes``: EPSG:3857 boxes where boundaries changed; ``area_tiles``: per level, the tile-unit
    boxes (z, x_min, y_min, x_max, y_max) of the areas whose figures changed, at every zoom;
    ``points``: EPSG:3857 points where changed cameras were or are drawn."""

    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    area_tiles: dict[int, list[tuple[int, float, float, float, float]]] = field(default_factory=dict)
    points: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class TileLayer(ABC):
    """One tile layer: its name in URLs and in the tile, zoom range, fields (TileJSON
    ``vector_layers``) and feature cap; how its tiles are made and which of them a change touches."""

    id: str
    title: str
    minzoom: int
    maxzoom: int
    #: property → type (``Number``, ``String``, ``Boolean``: TileJSON ``vector_layers[].fields``)
    fields: dict[str, str] = field(default_factory=dict)
    #: property → what it means (Chinese)
    field_descriptions: dict[str, str] = field(default_factory=dict)
    max_features: int = MAX_FEATURES

    #: Area level (0..4), or None for a layer that is not one.
    level: int | None = None

    @property
    def is_area(self) -> bool:
        return self.level is not None

    def has_zoom(self, z: int) -> bool:
        return self.minzoom <= z <= self.maxzoom

    @abstractmethod
    def sql(self) -> str:
        """The tile statement: one row (data revision, MVT bytes), parameters from :meth:`params`."""

    @abstractmethod
    def params(self, z: int, x: int, y: int) -> dict[str, float | int]:
        """Bound parameters of :meth:`sql` for tile z/x/y (coordinates as floats, so every execution
        of a prepared statement has the same parameter types)."""

    @abstractmethod
    def extent_sql(self) -> tuple[str, dict[str, Any]]:
        """A query of the layer's data's extent (one ``ST_Extent`` value named ``e``, EPSG:4490)."""

    def add_changes(self, regions: Regions, changes: Changes) -> None:
        """Add the tiles of this layer that ``changes`` touched to ``regions``: by default every
        tile meeting a box where boundaries changed."""
        for box in changes.boxes:
            regions.boxes.setdefault(self.id, []).append(box)


@dataclass(frozen=True)
class AreaLayer(TileLayer):
    """The areas of one level, from ``tile_area`` with the figures of ``area_stats``."""

    def sql(self) -> str:
        assert self.level is not None
        return f"""
    SELECT {_REVISION},
      (SELECT ST_AsMVT(t.*, '{self.id}', {EXTENT}, 'geom', 'fid') FROM (
         SELECT {_AREA_PROPERTIES},
                CASE WHEN f.x_min >= e.bx0 AND f.x_max <= e.bx1 AND f.y_min >= e.by0 AND f.y_max <= e.by1
                     THEN ST_Affine(f.geom, 1, 0, 0, -1, -e.x0, e.top)
                     ELSE ST_AsMVTGeom(f.geom, e.tile, {EXTENT}, {BUFFER}, true) END AS geom
         FROM (SELECT CAST(%(x0)s AS float8) AS x0, CAST(%(y0)s AS float8) + {EXTENT} AS top,
                      CAST(%(x0)s AS float8) - {BUFFER} AS bx0, CAST(%(y0)s AS float8) - {BUFFER} AS by0,
                      CAST(%(x0)s AS float8) + {EXTENT + BUFFER} AS bx1, CAST(%(y0)s AS float8) + {EXTENT + BUFFER} AS by1,
                      ST_MakeEnvelope(%(x0)s - {BUFFER}, %(y0)s - {BUFFER},
                                      %(x0)s + {EXTENT + BUFFER}, %(y0)s + {EXTENT + BUFFER}) AS buffered,
                      ST_MakeBox2D(ST_Point(%(x0)s, %(y0)s), ST_Point(%(x0)s + {EXTENT}, %(y0)s + {EXTENT})) AS tile
               OFFSET 0) AS e
         CROSS JOIN LATERAL (
            SELECT fid, code, name, level, geom, x_min, y_min, x_max, y_max FROM tile_area
            WHERE level = {int(self.level)} AND z = %(z)s AND geom && e.buffered
              AND x_max >= e.bx0 AND x_min <= e.bx1 AND y_max >= e.by0 AND y_min <= e.by1
            ORDER BY area_m2 DESC NULLS LAST, code COLLATE "C"
            LIMIT {int(self.max_features)}) AS f
         LEFT JOIN area_stats s ON s.code = f.code
      ) AS t)"""

    def params(self, z: int, x: int, y: int) -> dict[str, float | int]:
        return {"z": z, "x0": float(x * EXTENT), "y0": float(((1 << z) - 1 - y) * EXTENT)}

    def extent_sql(self) -> tuple[str, dict[str, Any]]:
        return "SELECT ST_Extent(geom) AS e FROM area WHERE level = %(level)s", {"level": self.level}

    def add_changes(self, regions: Regions, changes: Changes) -> None:
        """Also every tile showing an area of this level whose figures changed, at every zoom (a
        tile shows an area when the area's box meets the tile grown by its buffer, exactly the
        test the tile query makes)."""
        super().add_changes(regions, changes)
        assert self.level is not None
        for z, x_min, y_min, x_max, y_max in changes.area_tiles.get(self.level, ()):
            regions.add_tiles(self.id, z, *tiles_meeting_units(z, x_min, y_min, x_max, y_max))


@dataclass(frozen=True)
class CameraLayer(TileLayer):
    """The cameras (not those removed), from ``tile_camera``."""

    def sql(self) -> str:
        return f"""
    SELECT {_REVISION},
      (SELECT ST_AsMVT(t.*, '{self.id}', {EXTENT}, 'geom', 'fid') FROM (
         SELECT fid, device_id, name, status, online, operator, area_code,
                ST_SnapToGrid(ST_Affine(geom, %(scale)s, 0, 0, -%(scale)s, %(xoff)s, %(yoff)s), 1) AS geom
         FROM (SELECT * FROM tile_camera
               WHERE geom && ST_MakeEnvelope(%(bx0)s, %(by0)s, %(bx1)s, %(by1)s, 3857)
                 AND ST_X(geom) BETWEEN %(bx0)s AND %(bx1)s AND ST_Y(geom) BETWEEN %(by0)s AND %(by1)s
               ORDER BY device_id COLLATE "C"
               LIMIT {int(self.max_features)}) AS c
      ) AS t)"""

    def params(self, z: int, x: int, y: int) -> dict[str, float | int]:
        xmin, ymin, xmax, ymax = tile_bounds(z, x, y)
        scale = EXTENT / (xmax - xmin)
        # ST_AsMVTGeom keeps a point up to half a unit beyond the buffer (it rounds onto its edge).
        bx0, by0, bx1, by1 = tile_bounds(z, x, y, BUFFER + 0.5)
        return {
            "scale": scale,
            "xoff": -xmin * scale,
            "yoff": ymax * scale,
            "bx0": bx0,
            "by0": by0,
            "bx1": bx1,
            "by1": by1,
        }

    def extent_sql(self) -> tuple[str, dict[str, Any]]:
        return "SELECT ST_Extent(geom) AS e FROM camera WHERE status <> 'removed'", {}

    def add_changes(self, regions: Regions, changes: Changes) -> None:
        """Also the tiles showing a changed camera where it was or is, at each zoom."""
        super().add_changes(regions, changes)
        for px, py in changes.points:
            for z in range(self.minzoom, self.maxzoom + 1):
                regions.add_tiles(self.id, z, *tiles_holding_point(z, px, py))


_AREA_MINZOOM = {0: 0, 1: 8, 2: 10, 3: 11, 4: 12}

LAYERS: dict[str, TileLayer] = {
    **{
        lv.key: AreaLayer(
            lv.key,
            lv.name_zh,
            _AREA_MINZOOM[lv.number],
            MAX_ZOOM,
            AREA_FIELDS,
            AREA_FIELD_DESCRIPTIONS,
            level=lv.number,
        )
        for lv in LEVELS
    },
    "cameras": CameraLayer("cameras", "摄像头", 12, MAX_ZOOM, CAMERA_FIELDS, CAMERA_FIELD_DESCRIPTIONS),
}
AREA_LAYERS = tuple(layer for layer in LAYERS.values() if layer.is_area)
#: minzoom of each area level, indexed by level (the precomputation builds zooms minzoom..MAX_ZOOM).
AREA_MINZOOMS = tuple(_AREA_MINZOOM[lv.number] for lv in LEVELS)
