"""Coverage tables as text, CSV, XLSX and JSON (the CLI writes these; the API serves the JSON).

Text and CSV show rates as percentages to two decimals ("95.51%"), as counties report them; an
undefined rate (nothing planned / installed) is "—" in text and empty in CSV. JSON keeps fractions
(null where undefined). XLSX stores fractions with a percentage number format, so Excel shows
95.51% and still computes with the exact value. CSV is UTF-8 with a BOM so Excel opens Chinese
names correctly.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from rich import box
from rich.console import Console
from rich.table import Table

from gridmap.coverage.rates import percent
from gridmap.coverage.table import CoverageRow
from gridmap.coverage.view import ViewRow
from gridmap.io.cells import FORMULA_TRIGGERS as FORMULA_TRIGGERS  # re-exported: kept where it was
from gridmap.io.cells import as_values as _as_values
from gridmap.io.cells import safe_text
from gridmap.levels import level_name

FORMATS = ("text", "json", "csv", "xlsx")

#: (key, Chinese header) of the table columns, in order.
COLUMNS = (
    ("code", "编码"),
    ("name", "名称"),
    ("level", "层级"),
    ("planned", "计划数"),
    ("installed", "已安装"),
    ("online", "在线"),
    ("rollout_rate", "安装率"),
    ("online_rate", "上云率"),
    ("cameras_per_km2", "每平方公里摄像头"),
    ("households_per_camera", "每摄像头户数"),
    ("no_camera_children", "无摄像头下级数"),
)
#: The field-of-view columns added with ``view`` (``gridmap coverage --view``, ``view=true``):
#: m² and households in the parts some installed camera sees (:mod:`gridmap.coverage.view`).
VIEW_COLUMNS = (
    ("seen_m2", "视野覆盖面积(m²)"),
    ("seen_rate", "视野覆盖率"),
    ("households_seen", "视野内户数"),
    ("households_seen_rate", "视野内户数占比"),
)
_RATES = {"rollout_rate", "online_rate", "seen_rate", "households_seen_rate"}
Views = Mapping[str, ViewRow] | None


def _columns(view: Views) -> tuple[tuple[str, str], ...]:
    return COLUMNS + VIEW_COLUMNS if view is not None else COLUMNS


def view_row_dict(r: CoverageRow, view: Views) -> dict[str, Any]:
    """The row's figures (``CoverageRow.to_dict``), with its view figures when ``view`` is given
    (None where the area has no view row)."""
    d = r.to_dict()
    if view is not None:
        v = view.get(r.code)
        vd = v.to_dict() if v is not None else {}
        for key, _ in VIEW_COLUMNS:
            d[key] = vd.get(key)
    return d


def _cell(row: Mapping[str, Any], key: str, *, blank: str) -> str:
    value = row[key]
    if key in _RATES:
        return blank if value is None else percent(value)
    if key == "level":
        return level_name(int(value))
    if value is None:
        return blank
    if isinstance(value, float):
        return f"{value:.2f}"
    return f"{value:,}" if isinstance(value, int) and blank == "—" else str(value)


def to_json(rows: Sequence[CoverageRow], view: Views = None) -> str:
    return json.dumps([view_row_dict(r, view) for r in rows], ensure_ascii=False, indent=2)


def to_text(
    rows: Sequence[CoverageRow], *, title: str | None = None, width: int | None = None, view: Views = None
) -> str:
    """An aligned table (CJK-width aware) for the terminal or a .txt file (``width`` characters:
    160, or 220 with the view columns)."""
    columns = _columns(view)
    width = width or (220 if view is not None else 160)
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for key, header in columns:
        table.add_column(header, justify="left" if key in {"code", "name", "level"} else "right", no_wrap=True)
    for r in rows:
        d = view_row_dict(r, view)
        table.add_row(*(_cell(d, key, blank="—") for key, _ in columns))
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, force_terminal=False, soft_wrap=True).print(table)
    return out.getvalue()


def to_csv(rows: Sequence[CoverageRow], view: Views = None) -> str:
    columns = _columns(view)
    out = io.StringIO()
    # CRLF (RFC 4180): a name holding a CR or LF is quoted, never split into two rows.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([key for key, _ in columns] + ["operators"])
    for r in rows:
        d = view_row_dict(r, view)
        operators = "; ".join(f"{op} {c['planned']}/{c['installed']}/{c['online']}" for op, c in d["operators"].items())
        writer.writerow(
            [
                safe_text(_cell(d, key, blank="") if key in _RATES else ("" if d[key] is None else d[key]))
                for key, _ in columns
            ]
            + [safe_text(operators)]
        )
    return out.getvalue()


def write_xlsx(rows: Sequence[CoverageRow], path: str | Path | IO[bytes], view: Views = None) -> None:
    """Sheet 覆盖统计 (one row per area, with the view columns when ``view`` is given) and sheet
    运营商 (one row per area and operator)."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "覆盖统计"
    columns = _columns(view)
    ws.append([header for _, header in columns])
    for r in rows:
        d = view_row_dict(r, view)
        ws.append([level_name(d["level"]) if key == "level" else d[key] for key, _ in columns])
    keys = [key for key, _ in columns]
    for key in _RATES & set(keys):
        letter = get_column_letter(keys.index(key) + 1)
        for cell in ws[letter][1:]:
            cell.number_format = "0.00%"
    for i, (key, _) in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = 20 if key in {"code", "name"} else 12
    ws.freeze_panes = "A2"
    ops = wb.create_sheet("运营商")
    ops.append(["编码", "名称", "运营商", "计划数", "已安装", "在线", "安装率", "上云率"])
    for r in rows:
        for op, c in r.to_dict()["operators"].items():
            ops.append(
                [r.code, r.name, op, c["planned"], c["installed"], c["online"], c["rollout_rate"], c["online_rate"]]
            )
    for col in ("G", "H"):
        for cell in ops[col][1:]:
            cell.number_format = "0.00%"
    for sheet in (ws, ops):
        _as_values(sheet)
    wb.save(path)


def render(rows: Sequence[CoverageRow], fmt: str, *, title: str | None = None, view: Views = None) -> str:
    """``rows`` as text, JSON or CSV (XLSX is binary: use ``write_xlsx``); with ``view`` (view rows
    by code) the field-of-view columns too."""
    if fmt == "json":
        return to_json(rows, view)
    if fmt == "csv":
        return to_csv(rows, view)
    if fmt == "text":
        return to_text(rows, title=title, view=view)
    raise ValueError(f"unknown format {fmt!r}")
