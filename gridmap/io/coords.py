"""Point coordinates as counties deliver them, converted to the storage CRS (EPSG:4490 lon/lat degrees).

Camera registers come with coordinates read off very different sources:

- ``cgcs2000``: CGCS2000 geographic lon/lat (EPSG:4490), the storage CRS — unchanged.
- ``wgs84``: GPS lon/lat (EPSG:4326); differs from CGCS2000 by well under 1 m, still transformed.
- ``gcj02``: the "Mars" coordinates of 高德 (AMap) and 腾讯 (Tencent) maps, WGS84 shifted by an
  obfuscation of typically 300–700 m inside China.
- ``bd09``: 百度 (Baidu) maps' coordinates, GCJ-02 shifted once more.
- any EPSG code or pyproj-parsable CRS, e.g. ``"EPSG:4527"`` (CGCS2000 Gauss-Krüger, metres).

GCJ-02 and BD-09 are undone with the ``prcoords`` library's iterative inverses (``*_bored``:
about 0.1 mm from the exact inverse of the forward formula). Like prcoords' own sanity check,
points outside its box around China (lat 0.8293–55.8271°, lon 72.004–137.8347°) are never shifted
(no per-point warning). NaN in gives NaN out.
"""

from __future__ import annotations

import warnings

import numpy as np
import prcoords
from pyproj import CRS, Transformer

from gridmap.io.crs import CGCS2000_EPSG, CrsUnknownError, parse_crs

#: The named point CRSs; ``normalize_point_crs`` also accepts any EPSG code / pyproj string.
POINT_CRS = ("wgs84", "cgcs2000", "gcj02", "bd09")

_ALIASES = {
    "wgs84": "wgs84",
    "wgs-84": "wgs84",
    "wgs 84": "wgs84",
    "wgs1984": "wgs84",
    "gps": "wgs84",
    "epsg:4326": "wgs84",
    "4326": "wgs84",
    "cgcs2000": "cgcs2000",
    "cgcs-2000": "cgcs2000",
    "cgcs 2000": "cgcs2000",
    "2000": "cgcs2000",
    "epsg:4490": "cgcs2000",
    "4490": "cgcs2000",
    "国家2000": "cgcs2000",
    "2000国家大地坐标系": "cgcs2000",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "gcj 02": "gcj02",
    "高德": "gcj02",
    "腾讯": "gcj02",
    "火星": "gcj02",
    "火星坐标": "gcj02",
    "amap": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "bd 09": "bd09",
    "bd09ll": "bd09",
    "百度": "bd09",
    "baidu": "bd09",
}
_ACCEPTED = (
    "wgs84（GPS，EPSG:4326）、cgcs2000（EPSG:4490，默认）、gcj02（高德/腾讯）、bd09（百度），"
    "或 EPSG 编号（例如 4527：CGCS2000 3° 分带高斯-克吕格第 39 带，单位米）"
)
_STORAGE = CRS.from_epsg(CGCS2000_EPSG)


def normalize_point_crs(value: str | None, default: str = "cgcs2000") -> str:
    """The canonical name of a declared point CRS: one of ``POINT_CRS`` or ``"EPSG:nnnn"``.

    Case and the spellings in ``_ALIASES`` are ignored ("WGS-84", "EPSG:4326" → "wgs84"; "百度" →
    "bd09" ...). ``None`` or "" gives ``default``. Anything else must parse as a CRS (EPSG code, WKT,
    PROJ string); a CRS equal to EPSG:4326 / 4490 maps to "wgs84" / "cgcs2000". Raises
    ``CrsUnknownError`` (Chinese message listing the accepted values) otherwise.
    """
    if value is None or not str(value).strip():
        return default if default in POINT_CRS else normalize_point_crs(default)
    text = str(value).strip()
    key = text.lower()
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        crs = parse_crs(text)
    except CrsUnknownError:
        raise CrsUnknownError(f"无法识别坐标系“{text}”：可用 {_ACCEPTED}。") from None
    epsg = crs.to_epsg()
    if epsg is None:
        raise CrsUnknownError(f"坐标系“{text}”没有对应的 EPSG 编号，无法使用：可用 {_ACCEPTED}。")
    return _ALIASES.get(str(epsg), f"EPSG:{epsg}")


def to_storage(lon: np.ndarray, lat: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert points to EPSG:4490 (CGCS2000) lon/lat degrees.

    ``lon``/``lat`` are x/y in the declared ``crs`` (see ``normalize_point_crs``): degrees for the
    named CRSs, the CRS's own units (e.g. metres east/north) for an EPSG code. NaN stays NaN;
    GCJ-02/BD-09 points outside China are not shifted (only datum-transformed as WGS84).
    """
    x, y = _as_float(lon), _as_float(lat)
    name = normalize_point_crs(crs)
    if name == "cgcs2000":
        return x, y
    if name == "gcj02":
        x, y = _undo_offset(x, y, prcoords.gcj_wgs_bored)
    elif name == "bd09":
        x, y = _undo_offset(x, y, prcoords.bd_wgs_bored)
    source = "EPSG:4326" if name in ("wgs84", "gcj02", "bd09") else name
    return _transform(source, x, y)


def from_wgs84(lon: np.ndarray, lat: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """The forward direction: WGS84 lon/lat degrees → lon/lat degrees in ``crs``.

    ``crs`` is "wgs84" (unchanged), "gcj02" or "bd09" (prcoords' ``wgs_gcj`` / ``wgs_bd``; points
    outside China unchanged), "cgcs2000" or any EPSG code (pyproj, x/y in that CRS's units).
    """
    x, y = _as_float(lon), _as_float(lat)
    name = normalize_point_crs(crs)
    if name == "wgs84":
        return x, y
    if name == "gcj02":
        return _apply(x, y, prcoords.wgs_gcj)
    if name == "bd09":
        return _apply(x, y, prcoords.wgs_bd)
    target = f"EPSG:{CGCS2000_EPSG}" if name == "cgcs2000" else name
    transformer = Transformer.from_crs("EPSG:4326", target, always_xy=True)
    out_x, out_y = transformer.transform(x, y)
    return np.asarray(out_x, dtype=float), np.asarray(out_y, dtype=float)


def _as_float(values: np.ndarray) -> np.ndarray:
    return np.array(values, dtype=float, copy=True).reshape(-1)


def _transform(source: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pyproj ``source`` → EPSG:4490 (always x=lon/easting first); NaN in → NaN out."""
    transformer = Transformer.from_crs(source, _STORAGE, always_xy=True)
    out_x, out_y = transformer.transform(x, y)
    out_x, out_y = np.asarray(out_x, dtype=float), np.asarray(out_y, dtype=float)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    out_x[bad], out_y[bad] = np.nan, np.nan
    return out_x, out_y


def _in_china(lon: float, lat: float) -> bool:
    """prcoords' sanity box (also False for NaN)."""
    return prcoords.sanity_in_china_p(prcoords.Coords(lat, lon))


def _apply(x: np.ndarray, y: np.ndarray, func) -> tuple[np.ndarray, np.ndarray]:
    """Run a prcoords scalar function (``Coords(lat, lon)`` → ``Coords``) over points inside China;
    other points (and NaN) are returned unchanged."""
    out = [
        func(prcoords.Coords(b, a), False) if _in_china(a, b) else prcoords.Coords(b, a)
        for a, b in zip(x.tolist(), y.tolist())
    ]
    return (
        np.array([c.lon for c in out], dtype=float).reshape(-1),
        np.array([c.lat for c in out], dtype=float).reshape(-1),
    )


def _undo_offset(x: np.ndarray, y: np.ndarray, inverse) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 / BD-09 degrees → WGS84 degrees with prcoords' precise iterative ``inverse``."""
    with warnings.catch_warnings():  # points are pre-checked; prcoords would warn once per point
        warnings.simplefilter("ignore")
        return _apply(x, y, inverse)
