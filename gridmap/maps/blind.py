"""Blind spots (盲区) and households per camera (户/摄像头): the two extra views of /map, defined
once here and handed to the page in its config (:func:`gridmap.maps.pages.vocabulary`).

**Blind classes** (:data:`BLIND_CLASSES`, worst first) tell apart what the rate classes lump into
one grey 无数据: an area with no camera planned (规划为 0), one planned but with none installed, one
with cameras installed but none online, and one covered (at least one camera online). The first two
are the blind areas of ``/api/v1/coverage/blind`` (no installed camera).

**Households per camera** (:data:`HOUSEHOLD_CLASSES`): households / installed cameras, fewer is
better; undefined when nothing is installed (its own class, :data:`HOUSEHOLDS_NO_CAMERA`) or when
the households are unknown (:data:`HOUSEHOLDS_UNKNOWN`). Bounds are in households per camera,
lower bound included.

Colours: the blind classes purple (no plan: a planning gap, not a building one), red, orange and
pale blue; households per camera the RdYlBu ramp of the rate classes (blue good, red bad).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BLIND_CLASSES",
    "HOUSEHOLDS_NO_CAMERA",
    "HOUSEHOLDS_UNKNOWN",
    "HOUSEHOLD_CLASSES",
    "BlindClass",
    "HouseholdClass",
    "blind_class",
    "household_class",
]


@dataclass(frozen=True)
class BlindClass:
    key: str
    #: short Chinese label (legend, list badge)
    label: str
    #: what it means, in Chinese
    description: str
    colour: str
    #: True for the classes of /api/v1/coverage/blind (no installed camera)
    blind: bool


#: Worst first.
BLIND_CLASSES: tuple[BlindClass, ...] = (
    BlindClass("no_plan", "未规划", "规划为 0：没有规划摄像头", "#7b3294", True),
    BlindClass("not_installed", "规划未安装", "已规划，但没有已安装的摄像头", "#d7191c", True),
    BlindClass("none_online", "安装无在线", "已安装，但没有在线的摄像头", "#fdae61", False),
    BlindClass("covered", "有在线", "至少一台摄像头在线", "#abd9e9", False),
)
_BY_KEY = {c.key: c for c in BLIND_CLASSES}


def blind_class(planned: int, installed: int, online: int) -> BlindClass:
    """The blind class of an area's counts (cameras, removed ones excluded)."""
    if online:
        return _BY_KEY["covered"]
    if installed:
        return _BY_KEY["none_online"]
    return _BY_KEY["not_installed"] if planned else _BY_KEY["no_plan"]


@dataclass(frozen=True)
class HouseholdClass:
    """``lower <= households / installed < upper`` (None: unbounded)."""

    key: str
    label: str
    lower: int | None
    upper: int | None
    colour: str


#: Worst (most households per camera) first.
HOUSEHOLD_CLASSES: tuple[HouseholdClass, ...] = (
    HouseholdClass("hpc_ge200", "≥ 200 户", 200, None, "#d7191c"),
    HouseholdClass("hpc_100_200", "100 – 200 户", 100, 200, "#fdae61"),
    HouseholdClass("hpc_50_100", "50 – 100 户", 50, 100, "#fee090"),
    HouseholdClass("hpc_20_50", "20 – 50 户", 20, 50, "#abd9e9"),
    HouseholdClass("hpc_lt20", "< 20 户", None, 20, "#2c7bb6"),
)
#: Nothing installed: households per camera is undefined (a blind area with households).
HOUSEHOLDS_NO_CAMERA = HouseholdClass("hpc_no_camera", "无已安装摄像头", None, None, "#7b3294")
#: Households unknown.
HOUSEHOLDS_UNKNOWN = HouseholdClass("hpc_unknown", "户数未知", None, None, "#bdbdbd")


def household_class(households: int | None, installed: int) -> HouseholdClass:
    """The class of ``households / installed`` (exact on the integers)."""
    if not installed:
        return HOUSEHOLDS_NO_CAMERA
    if households is None:
        return HOUSEHOLDS_UNKNOWN
    for c in HOUSEHOLD_CLASSES:
        if (c.lower is None or households >= c.lower * installed) and (
            c.upper is None or households < c.upper * installed
        ):
            return c
    raise AssertionError("the classes cover every ratio")  # pragma: no cover
