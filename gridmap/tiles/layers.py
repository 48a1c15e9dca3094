"""The tile layers and the tile maths (WebMercatorQuad / XYZ, EPSG:3857).

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

Every tile has one MVT layer named like the URL's layer, extent 4096, buffer 64. Area features
carry the area code as their integer feature id as well (for ``feature-state`` in MapLibre).
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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import morecantile

from gridmap.levels import LEVELS

#: The tile matrix set: OGC WebMercatorQuad (EPSG:3857, XYZ rows from the top), from morecantile.
TMS = morecantile.tms.get("WebMercatorQuad")
#: Half the width of the EPSG:3857 world, metres (π × 6378137).
HALF_WORLD = TMS.xy_bbox.right
#: Tile extent (integer units across a tile) and buffer (units beyond each edge).
EXTENT = 4096
BUFFER = 64
#: Highest zoom served (and precomputed); clients overzoom above it.
MAX_ZOOM = 16
#: Most features one tile carries (see the module docstring for the order).
MAX_FEATURES = 4096

AREA_FIELDS = {
    "code": "String: 区划编码（县 6 位，乡镇 9，村 12，网格 15，微网格 18）",
    "name": "String: 名称",
    "level": "Number: 层级 0 县 1 乡镇/街道 2 村/社区 3 网格 4 微网格",
    "rollout_rate": "Number: 建设率 = 已安装 / 规划（0..1；规划为 0 时缺省）",
    "online_rate": "Number: 在线率 = 在线 / 已安装（0..1；已安装为 0 时缺省）",
    "planned": "Number: 规划摄像头数（不含已拆除）",
    "installed": "Number: 已安装摄像头数",
    "online": "Number: 在线摄像头数",
    "households": "Number: 户数（本级缺省时为下级之和）",
}
CAMERA_FIELDS = {
    "device_id": "String: 设备编码（GB/T 28181，20 位）",
    "name": "String: 名称",
    "status": "String: planned 规划 | installed 已安装（已拆除的不显示）",
    "online": "Boolean: 是否在线",
    "operator": "String: 运营单位",
    "area_code": "String: 所在微网格编码",
}


@dataclass(frozen=True)
class TileLayer:
    id: str
    title: str
    minzoom: int
    maxzoom: int
    #: Area level (0..4), or None for the cameras.
    level: int | None
    fields: dict[str, str] = field(default_factory=dict)
    max_features: int = MAX_FEATURES

    @property
    def is_area(self) -> bool:
        return self.level is not None

    def has_zoom(self, z: int) -> bool:
        return self.minzoom <= z <= self.maxzoom


_AREA_MINZOOM = {0: 0, 1: 8, 2: 10, 3: 11, 4: 12}

LAYERS: dict[str, TileLayer] = {
    **{
        lv.key: TileLayer(lv.key, lv.name_zh, _AREA_MINZOOM[lv.number], MAX_ZOOM, lv.number, AREA_FIELDS)
        for lv in LEVELS
    },
    "cameras": TileLayer("cameras", "摄像头", 12, MAX_ZOOM, None, CAMERA_FIELDS),
}
AREA_LAYERS = tuple(layer for layer in LAYERS.values() if layer.is_area)
#: minzoom of each area level, indexed by level (the precomputation builds zooms minzoom..MAX_ZOOM).
AREA_MINZOOMS = tuple(_AREA_MINZOOM[lv.number] for lv in LEVELS)


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


def lonlat_to_3857(lon: float, lat: float) -> tuple[float, float]:
    lat = max(-85.05112878, min(85.05112878, lat))
    return (math.radians(lon) * 6378137.0, math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * 6378137.0)
