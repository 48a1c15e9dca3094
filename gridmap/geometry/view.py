"""What a camera sees: its field of view as a polygon in metres.

A camera's view is a circular sector: from its position, centred on its direction (a compass
bearing, degrees clockwise from grid north of the Gauss-Krüger zone), ``angle_deg`` wide and
``range_m`` deep. A dome (球机) turns all the way round, so its view is the full circle. A camera
whose register gives no usable direction is drawn as the circle of the *same area* as its sector
(radius ``range_m * sqrt(angle_deg / 360)``): the expected coverage when the direction is unknown,
neither favouring nor ignoring any side. Everything here works on projected coordinates in metres
(the data's GK zone, see :mod:`gridmap.geometry.metric`); grid north differs from true north by the
meridian convergence (under 1.5° within a 3° zone), which is ignored.

All functions are vectorized over cameras: one shapely call builds every polygon.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import shapely

from gridmap.config import parse_view_kinds

BULLET, DOME, HALF_DOME = "bullet", "dome", "half_dome"
KINDS = (BULLET, DOME, HALF_DOME)
KIND_NAMES = {BULLET: "枪机", DOME: "球机", HALF_DOME: "半球"}

# Compass words as registers write them (监控方向/朝向), in degrees clockwise from north.
_COMPASS = {
    "北": 0.0,
    "东北": 45.0,
    "东": 90.0,
    "东南": 135.0,
    "南": 180.0,
    "西南": 225.0,
    "西": 270.0,
    "西北": 315.0,
    "北偏东": 22.5,
    "东偏北": 67.5,
    "东偏南": 112.5,
    "南偏东": 157.5,
    "南偏西": 202.5,
    "西偏南": 247.5,
    "西偏北": 292.5,
    "北偏西": 337.5,
    "N": 0.0,
    "NNE": 22.5,
    "NE": 45.0,
    "ENE": 67.5,
    "E": 90.0,
    "ESE": 112.5,
    "SE": 135.0,
    "SSE": 157.5,
    "S": 180.0,
    "SSW": 202.5,
    "SW": 225.0,
    "WSW": 247.5,
    "W": 270.0,
    "WNW": 292.5,
    "NW": 315.0,
    "NNW": 337.5,
}
#: The 16 Chinese compass words in bearing order (北 at 0°, then every 22.5° clockwise).
_WORDS16 = tuple(w for w, _ in sorted(((w, b) for w, b in _COMPASS.items() if not w.isascii()), key=lambda t: t[1]))
_FILLER = re.compile(r"^(?:朝向|朝|向|面向|正|偏)+|(?:方向|向|方|侧|面|°|度)+$")
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


def parse_direction(text: object) -> float:
    """A register's direction as a bearing in degrees [0, 360) clockwise from north, or NaN.

    Takes compass words (``南``, ``西南``, ``正北``, ``朝东``, ``东偏南``, ``NE``) and numbers of degrees
    (``135``, ``135°``, ``135度``). Anything else (blank, ``全向``, ``多方向``) is NaN: no usable direction.
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return math.nan
    if isinstance(text, int | float):
        return float(text) % 360.0 if math.isfinite(text) else math.nan
    s = str(text).strip().upper().replace(" ", "")
    s = _FILLER.sub("", s) or s
    s = _FILLER.sub("", s) or s
    if s in _COMPASS:
        return _COMPASS[s]
    if _NUMBER.match(s):
        value = float(s)
        return value % 360.0 if math.isfinite(value) else math.nan
    return math.nan


def compass_word(bearing_deg: float) -> str:
    """The nearest of the 16 compass words for a bearing in degrees (``北``, ``北偏东``, ``东北`` …),
    the inverse of :func:`parse_direction` on them; ``全向`` for NaN (a dome, or no direction)."""
    if not math.isfinite(bearing_deg):
        return "全向"
    return _WORDS16[round((bearing_deg % 360.0) / 22.5) % 16]


def parse_directions(texts: object) -> np.ndarray:
    """:func:`parse_direction` over a sequence: float64 bearings in degrees, NaN where unusable."""
    return np.array([parse_direction(t) for t in np.asarray(texts, dtype=object)], dtype="float64")


_DOME_WORDS = re.compile(r"球机|球型|球形|高速球|云台|PTZ", re.IGNORECASE)
_HALF_DOME_WORDS = re.compile(r"半球")
_BULLET_WORDS = re.compile(r"枪机|枪型|枪式|筒机|卡口", re.IGNORECASE)


def camera_kind(name: object, kind: object = None) -> str:
    """``bullet`` | ``dome`` | ``half_dome`` from a kind column (枪机/球机/半球, or the English words)
    or else the camera's name; a camera that says nothing is a bullet (fixed) camera, the commonest
    kind in the rollout. GB/T 28181 device types (131 camera, 132 network camera) do not tell
    domes from bullets, so the id is not used."""
    for text in (kind, name):
        if text is None or (isinstance(text, float) and math.isnan(text)):
            continue
        s = str(text).strip()
        if s.lower() in KINDS:
            return s.lower()
        if _HALF_DOME_WORDS.search(s):
            return HALF_DOME
        if _DOME_WORDS.search(s):
            return DOME
        if _BULLET_WORDS.search(s):
            return BULLET
    return BULLET


@dataclass(frozen=True)
class ViewSpec:
    """How far and how wide one kind of camera sees: ``angle_deg`` (degrees, 360 = all round) and
    ``range_m`` (metres)."""

    angle_deg: float
    range_m: float


def view_specs(setting: str = "") -> dict[str, ViewSpec]:
    """The view of each camera kind: the defaults, overridden by ``GRIDMAP_VIEW_KINDS``."""
    return {kind: ViewSpec(angle, rng) for kind, (angle, rng) in parse_view_kinds(setting).items()}


def sectors(
    x: np.ndarray,
    y: np.ndarray,
    bearing_deg: np.ndarray,
    angle_deg: np.ndarray,
    range_m: np.ndarray,
    segments: int = 16,
    circle_segments: int = 64,
) -> np.ndarray:
    """The view polygons of cameras at ``x, y`` (metres, a projected CRS), vectorized.

    ``bearing_deg``: the direction, degrees clockwise from grid north (NaN: unknown, drawn as the
    circle of the sector's area). ``angle_deg``: the view's width in degrees (≥ 360: a full circle).
    ``range_m``: its depth in metres. A sector's arc has ``segments`` straight pieces and a circle
    ``circle_segments``, inscribed in the true arc (areas a little under the exact
    ``angle/360 * pi * r**2``: 0.16 % for a circle of 64 pieces, 0.13 % for an 80° sector of 16). Returns an object array of shapely Polygons (None where ``range_m`` ≤ 0 or a
    coordinate is not finite), in the same CRS as ``x, y``.
    """
    x, y = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    n = x.shape[0]
    bearing = np.broadcast_to(np.asarray(bearing_deg, dtype="float64"), (n,))
    angle = np.clip(np.broadcast_to(np.asarray(angle_deg, dtype="float64"), (n,)), 0.0, 360.0)
    rng = np.broadcast_to(np.asarray(range_m, dtype="float64"), (n,)).copy()
    unknown = ~np.isfinite(bearing)
    full = (angle >= 360.0) | unknown
    rng[unknown] = rng[unknown] * np.sqrt(angle[unknown] / 360.0)
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(rng) & (rng > 0) & (angle > 0)
    out = np.full(n, None, dtype=object)

    circle = ok & full
    if circle.any():
        t = np.radians(360.0 * np.arange(circle_segments + 1) / circle_segments)[
            None, :
        ]  # closed ring: first point == last point
        r = rng[circle][:, None]
        ring = np.stack([x[circle][:, None] + r * np.sin(t), y[circle][:, None] + r * np.cos(t)], axis=-1)
        out[circle] = shapely.polygons(ring)
    wedge = ok & ~full
    if wedge.any():
        k = np.arange(segments + 1, dtype="float64") / segments  # 0 … 1 along the arc
        b, a, r = bearing[wedge][:, None], angle[wedge][:, None], rng[wedge][:, None]
        t = np.radians(b - a / 2 + a * k[None, :])
        cx, cy = x[wedge][:, None], y[wedge][:, None]
        arc = np.stack([cx + r * np.sin(t), cy + r * np.cos(t)], axis=-1)
        apex = np.stack([cx, cy], axis=-1)
        ring = np.concatenate([apex, arc, apex], axis=1)
        out[wedge] = shapely.polygons(ring)
    return out


def camera_views(
    x: np.ndarray,
    y: np.ndarray,
    names: np.ndarray,
    kinds: np.ndarray,
    directions: np.ndarray,
    specs: dict[str, ViewSpec] | None = None,
) -> np.ndarray:
    """The view polygons of cameras as registers describe them, vectorized over cameras.

    ``x, y``: positions in metres (the data's GK zone). ``names``, ``kinds``: the register's name and
    kind column (None where absent), read by :func:`camera_kind`. ``directions``: the register's
    direction text or bearing, read by :func:`parse_direction`. ``specs``: angle and range per kind
    (default :func:`view_specs` of the defaults). Returns Polygons in the CRS of ``x, y``.
    """
    specs = specs or view_specs()
    kind = np.array([camera_kind(n, k) for n, k in zip(names, kinds, strict=True)], dtype=object)
    angle = np.array([specs[k].angle_deg for k in kind], dtype="float64")
    rng = np.array([specs[k].range_m for k in kind], dtype="float64")
    return sectors(x, y, parse_directions(directions), angle, rng)
