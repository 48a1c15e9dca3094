"""View-coverage rows (:class:`gridmap.coverage.view.ViewRow`) as text, CSV and JSON.

Areas in m² (whole square metres in text and CSV), shares as percentages to two decimals in text
and CSV ("1.39%", empty/"—" when undefined), households to one decimal (spread uniformly over each
micro-grid, so seen households are fractions). JSON keeps fractions (null where undefined).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from gridmap.coverage.rates import percent
from gridmap.coverage.view import ViewRow
from gridmap.io.cells import safe_text
from gridmap.levels import level_name

FORMATS = ("table", "json", "csv")

#: (key, Chinese header) of the columns, in order.
COLUMNS = (
    ("code", "编码"),
    ("name", "名称"),
    ("level", "层级"),
    ("cameras", "已安装摄像头"),
    ("area_m2", "面积（m²）"),
    ("seen_m2", "视野覆盖面积（m²）"),
    ("seen_rate", "视野覆盖率"),
    ("households", "户数"),
    ("households_seen", "视野内户数"),
    ("households_seen_rate", "视野内户数占比"),
)
_RATES = {"seen_rate", "households_seen_rate"}


def _cell(d: dict[str, Any], key: str, blank: str) -> str:
    value = d[key]
    if value is None:
        return blank
    if key in _RATES:
        return percent(value)
    if key == "level":
        return level_name(int(value))
    if key in {"area_m2", "seen_m2"}:
        return f"{value:,.0f}" if blank == "—" else f"{value:.0f}"
    if key in {"households", "households_seen"}:
        return f"{value:,.1f}" if blank == "—" else f"{value:.1f}"
    return str(value)


def to_text(rows: Sequence[ViewRow], title: str | None = None, width: int = 160) -> str:
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for key, header in COLUMNS:
        table.add_column(header, justify="left" if key in {"code", "name", "level"} else "right", no_wrap=True)
    for r in rows:
        d = r.to_dict()
        table.add_row(*(_cell(d, key, "—") for key, _ in COLUMNS))
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, force_terminal=False, soft_wrap=True).print(table)
    return out.getvalue()


def to_csv(rows: Sequence[ViewRow]) -> str:
    """CSV with the English keys as header (as ``gridmap coverage --format csv``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([key for key, _ in COLUMNS])
    for r in rows:
        d = r.to_dict()
        writer.writerow([safe_text(_cell(d, key, "")) for key, _ in COLUMNS])
    return out.getvalue()


def to_json(rows: Sequence[ViewRow], cameras: int) -> str:
    return json.dumps({"cameras": cameras, "rows": [r.to_dict() for r in rows]}, ensure_ascii=False, indent=2)


def render(rows: Sequence[ViewRow], fmt: str, cameras: int, title: str | None = None) -> str:
    if fmt == "json":
        return to_json(rows, cameras)
    if fmt == "csv":
        return to_csv(rows)
    if fmt == "table":
        return to_text(rows, title=title)
    raise ValueError(f"unknown format {fmt!r}")
