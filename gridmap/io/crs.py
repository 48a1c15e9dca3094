"""Coordinate reference systems of boundary files: parsing what users give, inferring a missing one
from coordinate magnitudes, and the CGCS2000 Gauss-Krüger EPSG codes (easting 500 000 m on the central meridian):

- 3° zones 25–45 (central meridian = 3 × zone): EPSG 4513–4533 with the zone prefix in the easting,
  4534–4554 without.
- 6° zones 13–23 (central meridian = 6 × zone − 3): EPSG 4491–4501 with the prefix, 4502–4512 without.

With the zone prefix the easting reads ``zone * 1 000 000 + 500 000 ± …``, e.g. 38 617 980 in 3°
zone 38 (CM 114°E).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from pyproj import CRS
from pyproj.exceptions import CRSError

from gridmap.errors import GridmapError

#: Storage CRS: CGCS2000 geographic (lon/lat, degrees).
CGCS2000_EPSG = 4490
#: China's extent in lon/lat degrees (minlon, minlat, maxlon, maxlat), generous: the mainland,
#: Hainan, the South China Sea islands and the borders.
CHINA_LONLAT_BOUNDS = (73.0, 3.0, 136.0, 54.0)
#: Easting within a Gauss-Krüger zone (metres, false easting 500 000 m included) and northing range
#: (metres) plausible for China.
GK_EASTING_RANGE = (100_000.0, 900_000.0)
GK_NORTHING_RANGE = (300_000.0, 6_100_000.0)

_ZONES = {3: (25, 45), 6: (13, 23)}
_FIRST_EPSG = {(3, True): 4513, (3, False): 4534, (6, True): 4491, (6, False): 4502}


class CrsUnknownError(GridmapError, ValueError):
    """The CRS cannot be determined (or a given one cannot be parsed); ``message`` is Chinese."""

    def __init__(self, message: str):
        super().__init__("crs_unknown", message)


def parse_crs(value: str | int | CRS) -> CRS:
    """A CRS from what a user types: 4526, "4526", "EPSG:4526", a WKT or PROJ string."""
    if isinstance(value, CRS):
        return value
    text = str(value).strip()
    try:
        return CRS.from_epsg(int(text)) if text.isdigit() else CRS.from_user_input(text)
    except CRSError as exc:
        raise CrsUnknownError(
            f"无法识别指定的坐标系“{value}”：请给出 EPSG 编号，例如 4490（CGCS2000 经纬度）"
            f"或 4526（CGCS2000 3° 分带高斯-克吕格第 38 带）。"
        ) from exc


def crs_label(crs: CRS) -> str:
    """Short label for notes and messages, e.g. "EPSG:4526（CGCS2000 / 3-degree Gauss-Kruger zone 38）"."""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}（{crs.name}）" if epsg else crs.name


def gauss_kruger_epsg(lon: float, zone_width: int = 3, prefix: bool = False) -> int:
    """EPSG code of the CGCS2000 Gauss-Krüger CRS whose central meridian is nearest ``lon`` (degrees).

    ``zone_width`` is 3 or 6 (degrees); ``prefix`` chooses the variant whose easting carries the
    zone number (EPSG 4513–4533 / 4491–4501) instead of plain 500 000 m (4534–4554 / 4502–4512).
    Longitudes outside 73.5°E–136.5°E (3°) or 72°E–138°E (6°) raise ValueError.
    """
    if zone_width not in _ZONES:
        raise ValueError(f"zone_width must be 3 or 6, not {zone_width}")
    first, last = _ZONES[zone_width]
    zone = round(lon / 3) if zone_width == 3 else math.floor(lon / 6) + 1
    if not first <= zone <= last or not math.isfinite(lon):
        raise ValueError(f"longitude {lon} is outside the CGCS2000 {zone_width}° Gauss-Krüger zones")
    return _FIRST_EPSG[zone_width, prefix] + zone - first


def gauss_kruger_equivalent(crs: CRS) -> CRS | None:
    """The CGCS2000 Gauss-Krüger EPSG CRS with ``crs``'s projection (transverse Mercator, scale 1,
    same central meridian and false easting, on GRS80/WGS84: within a metre of each other), for a
    CRS that names no EPSG code (MapInfo writes CGCS2000 zones as WGS84-based projections); None
    when ``crs`` has its EPSG code already or is not such a projection."""
    if crs.to_epsg() is not None or not crs.is_projected:
        return None
    with warnings.catch_warnings():  # "you will likely lose information": only these numbers are looked at
        warnings.simplefilter("ignore", UserWarning)
        params = crs.to_dict()
    if params.get("proj") != "tmerc" or float(params.get("k", params.get("k_0", 1.0))) != 1.0:
        return None
    if params.get("y_0", 0) != 0 or params.get("lat_0", 0) != 0 or params.get("units", "m") != "m":
        return None
    if params.get("ellps", params.get("datum")) not in ("GRS80", "WGS84"):
        return None
    lon_0, x_0 = float(params.get("lon_0", 0)), float(params.get("x_0", 0))
    for (width, prefix), first in _FIRST_EPSG.items():
        low, high = _ZONES[width]
        for zone in range(low, high + 1):
            meridian = zone * 3 if width == 3 else zone * 6 - 3
            easting = 500_000.0 + (zone * 1_000_000 if prefix else 0)
            if math.isclose(lon_0, meridian) and math.isclose(x_0, easting):
                return CRS.from_epsg(first + zone - low)
    return None


def within_china(lonlat_bounds: tuple[float, float, float, float] | np.ndarray) -> bool:
    """Whether lon/lat bounds (degrees) lie inside ``CHINA_LONLAT_BOUNDS``."""
    minx, miny, maxx, maxy = (float(v) for v in lonlat_bounds)
    west, south, east, north = CHINA_LONLAT_BOUNDS
    return west <= minx <= maxx <= east and south <= miny <= maxy <= north


def describe_bounds(bounds: tuple[float, float, float, float] | np.ndarray) -> str:
    """Bounds as "x 38,617,980–38,655,920，y 3,726,660–3,771,980" (whatever the units)."""
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    return f"x {_num(minx)}–{_num(maxx)}，y {_num(miny)}–{_num(maxy)}"


def infer_crs(bounds: tuple[float, float, float, float] | np.ndarray) -> tuple[CRS, str]:
    """Guess the CRS of coordinates from their bounds; returns the CRS and a Chinese note saying why.

    Lon/lat inside China → EPSG:4490; CGCS2000 Gauss-Krüger eastings with a zone prefix → the zone's
    EPSG code. Raises ``CrsUnknownError`` (Chinese message naming the likely EPSG range) for eastings
    without a zone prefix (the central meridian cannot be known) and anything else.
    """
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    seen = describe_bounds(bounds)
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise CrsUnknownError("图层没有坐标（没有要素或几何为空），无法判断坐标系；请用 --crs 指定。")
    if within_china((minx, miny, maxx, maxy)):
        return CRS.from_epsg(CGCS2000_EPSG), (
            f"按坐标范围（{seen}）推断为经纬度，按 CGCS2000 经纬度 EPSG:4490 读取"
            "（WGS84 经纬度与之相差不到 1 米，同样适用）。"
        )
    if within_china((miny, minx, maxy, maxx)):
        raise CrsUnknownError(
            f"坐标范围 {seen} 像是纬度在前、经度在后的经纬度，无法直接使用：请在源文件中交换 x/y，"
            "或用 --crs 指定坐标系。"
        )
    north_ok = GK_NORTHING_RANGE[0] <= miny <= maxy <= GK_NORTHING_RANGE[1]
    zone = int(minx // 1_000_000)
    if north_ok and zone == int(maxx // 1_000_000):
        easting = (minx - zone * 1_000_000, maxx - zone * 1_000_000)
        in_zone = GK_EASTING_RANGE[0] <= easting[0] <= easting[1] <= GK_EASTING_RANGE[1]
        for width, (first, last) in _ZONES.items():
            if in_zone and first <= zone <= last:
                epsg = _FIRST_EPSG[width, True] + zone - first
                meridian = zone * 3 if width == 3 else zone * 6 - 3
                return CRS.from_epsg(epsg), (
                    f"按坐标范围（{seen} 米）推断为 EPSG:{epsg}（CGCS2000 {width}° 分带高斯-克吕格投影"
                    f"第 {zone} 带，中央经线 {meridian}°E）：东坐标以带号 {zone} 开头。"
                    "若数据实为西安 80 或北京 54 坐标，请用 --crs 指定。"
                )
        if zone == 0 and in_zone:
            example = gauss_kruger_epsg(114.0)
            raise CrsUnknownError(
                f"坐标范围（{seen} 米）像是不带带号的高斯-克吕格投影坐标，无法从坐标判断中央经线。"
                "CGCS2000 3° 分带为 EPSG:4534–4554（中央经线 75°E–135°E，每 3° 一个），"
                "6° 分带为 EPSG:4502–4512（中央经线 75°E–135°E，每 6° 一个）。"
                f"请用 --crs 指定，例如中央经线 114°E 的 3° 分带：--crs {example}。"
            )
    raise CrsUnknownError(
        f"文件没有坐标系信息，坐标范围（{seen}）既不像中国境内的经纬度，也不像 CGCS2000 高斯-克吕格"
        "投影坐标（可能是地方独立坐标系）。请补上 .prj 文件，或用 --crs 指定坐标系（EPSG 编号）。"
    )


def _num(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4f}".rstrip("0").rstrip(".")
