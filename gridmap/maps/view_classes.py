"""/map's 视野覆盖 view: areas coloured by the share of their area the installed cameras' views
cover (``seen_rate`` of :mod:`gridmap.coverage.view`, from ``/api/v1/coverage/view``), and the
style of the 视野盲区 layer (the unseen parts of the selected area, ``/api/v1/coverage/view/unseen``).

Not the 盲区 view of :mod:`gridmap.maps.blind` (areas with no installed camera). Seen shares are
small (a bullet camera sees ~1,700 m²; a village is ~1 km²), so the classes are narrow at the
bottom. Bounds are percentages, lower bound included; RdYlBu as the rate classes (blue good).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["UNSEEN_COLOUR", "VIEW_CLASSES", "VIEW_NOT_COMPUTED", "ViewClass", "view_class"]


@dataclass(frozen=True)
class ViewClass:
    """``lower <= seen share (%) < upper`` (None: unbounded)."""

    key: str
    label: str
    lower: float | None
    upper: float | None
    colour: str


#: Worst (least seen) first.
VIEW_CLASSES: tuple[ViewClass, ...] = (
    ViewClass("seen_lt1", "< 1%", None, 1, "#d7191c"),
    ViewClass("seen_1_5", "1% – 5%", 1, 5, "#fdae61"),
    ViewClass("seen_5_10", "5% – 10%", 5, 10, "#fee090"),
    ViewClass("seen_10_20", "10% – 20%", 10, 20, "#abd9e9"),
    ViewClass("seen_ge20", "≥ 20%", 20, None, "#2c7bb6"),
)
#: Not read yet (or no area: seen share undefined).
VIEW_NOT_COMPUTED = ViewClass("seen_none", "未计算", None, None, "#bdbdbd")
#: Fill and outline of the 视野盲区 polygons.
UNSEEN_COLOUR = "#4a148c"


def view_class(seen_rate: float | None) -> ViewClass:
    """The class of a seen share (a fraction 0..1; None: :data:`VIEW_NOT_COMPUTED`)."""
    if seen_rate is None:
        return VIEW_NOT_COMPUTED
    pct = seen_rate * 100
    for c in VIEW_CLASSES:
        if (c.lower is None or pct >= c.lower) and (c.upper is None or pct < c.upper):
            return c
    return VIEW_NOT_COMPUTED  # pragma: no cover (NaN)
