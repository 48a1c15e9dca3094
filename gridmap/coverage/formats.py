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
_RATES = {"rollout_rate", "online_rate"}


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


def to_json(rows: Sequence[CoverageRow]) -> str:
    return json.dumps([r.to_dict() for r in rows], ensure_ascii=False, indent=2)


def to_text(rows: Sequence[CoverageRow], *, title: str | None = None, width: int = 160) -> str:
    """An aligned table (CJK-width aware) for the terminal or a .txt file."""
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for key, header in COLUMNS:
        table.add_column(header, justify="left" if key in {"code", "name", "level"} else "right", no_wrap=True)
    for r in rows:
        d = r.to_dict()
        table.add_row(*(_cell(d, key, blank="—") for key, _ in COLUMNS))
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, force_terminal=False, soft_wrap=True).print(table)
    return out.getvalue()


def to_csv(rows: Sequence[CoverageRow]) -> str:
    out = io.StringIO()
    # CRLF (RFC 4180): a name holding a CR or LF is quoted, never split into two rows.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([key for key, _ in COLUMNS] + ["operators"])
    for r in rows:
        d = r.to_dict()
        operators = "; ".join(f"{op} {c['planned']}/{c['installed']}/{c['online']}" for op, c in d["operators"].items())
        writer.writerow(
            [
                safe_text(_cell(d, key, blank="") if key in _RATES else ("" if d[key] is None else d[key]))
                for key, _ in COLUMNS
            ]
            + [safe_text(operators)]
        )
    return out.getvalue()


def write_xlsx(rows: Sequence[CoverageRow], path: str | Path | IO[bytes]) -> None:
    """Sheet 覆盖统计 (one row per area) and sheet 运营商 (one row per area and operator)."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "覆盖统计"
    ws.append([header for _, header in COLUMNS])
    for r in rows:
        d = r.to_dict()
        ws.append([level_name(d["level"]) if key == "level" else d[key] for key, _ in COLUMNS])
    keys = [key for key, _ in COLUMNS]
    for key in _RATES:
        letter = get_column_letter(keys.index(key) + 1)
        for cell in ws[letter][1:]:
            cell.number_format = "0.00%"
    for i, (key, _) in enumerate(COLUMNS, start=1):
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


def render(rows: Sequence[CoverageRow], fmt: str, *, title: str | None = None) -> str:
    """``rows`` as text, JSON or CSV (XLSX is binary: use ``write_xlsx``)."""
    if fmt == "json":
        return to_json(rows)
    if fmt == "csv":
        return to_csv(rows)
    if fmt == "text":
        return to_text(rows, title=title)
    raise ValueError(f"unknown format {fmt!r}")
