"""Chinese labels, colours and number formats shared by the map builders."""

from __future__ import annotations

import html
import math

from gridmap.geometry.report import KINDS, SEVERITIES
from gridmap.levels import LEVELS

#: Validation issue kinds with their Chinese labels, in the order the panels list them
#: (one source: ``gridmap.geometry.report.KINDS``).
KIND_LABELS: dict[str, str] = {kind: k.label for kind, k in KINDS.items()}

#: One colour per kind (one source: ``KINDS``).
KIND_COLOURS: dict[str, str] = {kind: k.colour for kind, k in KINDS.items()}
UNKNOWN_KIND_COLOUR = "#555555"

#: Severity → Chinese label (one source: ``gridmap.geometry.report.SEVERITIES``).
SEVERITY_LABELS: dict[str, str] = SEVERITIES

#: Level number → Chinese level name (县, 乡镇/街道, 村/社区, 网格, 微网格).
LEVEL_LABELS: dict[int, str] = {lv.number: lv.name_zh for lv in LEVELS}
UNKNOWN_LEVEL_LABEL = "未知层级"


def html_text(value: object) -> str:
    """``value`` as HTML-escaped text that is also inert for folium, which passes rendered
    elements through Jinja a second time (a ``{{`` or ``{#`` in a name would break the page):
    braces become character references, which browsers show as braces."""
    return html.escape(str(value)).replace("{", "&#123;").replace("}", "&#125;")


def kind_label(kind: str | None) -> str:
    """The Chinese label of an issue kind (the kind itself when it is not a known one)."""
    return KIND_LABELS.get(kind or "", kind or "未分类")


def kind_colour(kind: str | None) -> str:
    return KIND_COLOURS.get(kind or "", UNKNOWN_KIND_COLOUR)


def severity_label(severity: str | None) -> str:
    return SEVERITY_LABELS.get(severity or "", severity or "未知")


def level_label(level: int | None) -> str:
    return UNKNOWN_LEVEL_LABEL if level is None else LEVEL_LABELS.get(level, f"第 {level} 级")


def format_area(area_m2: float | None) -> str:
    """An area in square metres as counties read it: ``"1,234.5 m²"``; ``"—"`` when unknown."""
    if area_m2 is None or not math.isfinite(area_m2):
        return "—"
    return f"{area_m2:,.1f} m²"


def format_count(n: int) -> str:
    return f"{n:,}"
