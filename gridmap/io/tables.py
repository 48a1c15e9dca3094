"""Locating the table in a camera list or status report: raw cells → header + data rows as text.

CSV (UTF-8 with or without BOM, else GB18030; delimiter sniffed) and XLSX (read with openpyxl, every
cell as text, so a 20-digit id never becomes a float). Counties often put a title row or two above
the header: the first ``HEADER_SCAN_ROWS`` rows are scanned for the row naming the most known
columns. Row numbers stay the spreadsheet's own, for messages.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gridmap.errors import GridmapError
from gridmap.io.archives import check_archive
from gridmap.io.fields import detect_fields

#: File suffix → format.
FORMATS = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".geojson": "geojson", ".json": "geojson"}
#: Extensions a camera register may be uploaded with (the upload page's ``accept`` list, from the
#: server's page config).
#: What the upload page offers to pick: the readable formats, and .xls, which county offices keep:
#: picking one gives the clear "save it as .xlsx" refusal instead of a file the picker hides.
UPLOAD_EXTENSIONS = (*FORMATS, ".xls")
#: Rows scanned for the header (a title row or two often sits above it).
HEADER_SCAN_ROWS = 10


class CameraReadError(GridmapError):
    """The file as a whole cannot be read. ``.code``: unreadable, unsupported_format, no_header,
    missing_columns, encoding_unknown, empty; ``.message``: Chinese, actionable."""


@dataclass
class Table:
    """The data rows under a recognised header. ``frame`` has the header's column names and text
    cells (trimmed, "" when empty), blank rows removed; ``rows`` the spreadsheet row numbers."""

    frame: pd.DataFrame
    rows: np.ndarray
    mapping: dict[str, str]
    notes: list[str]
    file_format: str


def refuse_lone_surrogates(document: object) -> None:
    """``CameraReadError("unreadable")`` when parsed JSON holds a lone surrogate (an escape such as
    ``"\\ud800"`` that is half of a pair): such text has no UTF-8, so no answer or database takes it."""
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise CameraReadError(
            "unreadable", "JSON 中含有无效的 Unicode 转义（单独的代理项，如 \\ud800）：请检查生成它的程序。"
        ) from None
    except (RecursionError, ValueError, TypeError):
        pass  # too deep or not JSON types: the reader's own checks say what is wrong


def file_format(path: Path) -> str:
    """ "csv" | "xlsx" | "geojson" from the suffix; ``CameraReadError("unsupported_format")`` otherwise."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        hint = "（.xls 请在 Excel 中另存为 .xlsx）" if path.suffix.lower() == ".xls" else ""
        raise CameraReadError(
            "unsupported_format",
            f"不支持的文件类型“{path.suffix or path.name}”{hint}：请上传 CSV（.csv）、"
            "Excel（.xlsx）或 GeoJSON（.geojson）文件。",
        )
    return fmt


def decode_text(data: bytes) -> tuple[str, str]:
    """Text of a CSV file and a Chinese note: UTF-8 (with or without BOM), else GB18030 (a superset
    of GBK/GB2312), as ``gridmap.io.encoding`` does for DBF files."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "文件编码：UTF-8（带 BOM）"
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), "文件编码：UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "文件不是有效的 UTF-8，按 GB18030（兼容 GBK/GB2312）读取"
    except UnicodeDecodeError:
        raise CameraReadError(
            "encoding_unknown",
            "无法判断文件编码：既不是 UTF-8，也不能按 GBK/GB18030 解码。请在 Excel 或 WPS 中"
            "另存为“CSV UTF-8（逗号分隔）”后重新上传，或直接上传 .xlsx 文件。",
        ) from None


_DELIMITERS = {",": "逗号", ";": "分号", "\t": "制表符"}


def sniff_delimiter(text: str) -> str:
    """The delimiter (, ; or tab) occurring most often in the first 10 non-empty lines; "," on a tie."""
    lines = [line for line in text.splitlines() if line.strip()][:HEADER_SCAN_ROWS]
    counts = {d: sum(line.count(d) for line in lines) for d in _DELIMITERS}
    return max(_DELIMITERS, key=lambda d: (counts[d], d == ","))


def csv_cells(data: bytes) -> tuple[list[list[str]], list[str]]:
    """All records of a CSV as trimmed text cells (record k = spreadsheet row k + 1) and notes."""
    text, note = decode_text(data)
    delimiter = sniff_delimiter(text)
    notes = [note] + ([f"分隔符：{_DELIMITERS[delimiter]}"] if delimiter != "," else [])
    try:
        rows = [[cell.strip() for cell in record] for record in csv.reader(io.StringIO(text), delimiter=delimiter)]
    except csv.Error as exc:
        raise CameraReadError("unreadable", f"无法按 CSV 读取文件：{exc}") from exc
    return rows, notes


def cell_text(value: object) -> str:
    """An XLSX cell as text, without inventing digits: whole numbers below 2**53 as integers,
    larger floats (an id typed as a number) as Python's repr, e.g. "4.1162800011318e+19"; dates as
    ISO ("2023-11-16", with " HH:MM:SS" when not midnight); booleans "true"/"false"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value).strip()


def xlsx_sheets(source: Path | bytes) -> dict[str, list[list[str]]]:
    """Every sheet of a workbook as rows of text cells (row k of the list = spreadsheet row k + 1).

    Read with openpyxl directly (cached formula values): going through pandas turns a 20-digit id
    stored as a number into an integer with made-up last digits, which no check could catch."""
    import openpyxl  # imported here: only XLSX needs it

    try:
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as workbook:
            check_archive(workbook, source.name if isinstance(source, Path) else "工作簿")
    except (zipfile.BadZipFile, OSError):
        pass  # not a zip at all: openpyxl says so below, in its words turned into ours
    try:
        book = openpyxl.load_workbook(
            io.BytesIO(source) if isinstance(source, bytes) else source, read_only=True, data_only=True
        )
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException ...
        raise CameraReadError(
            "unreadable", f"无法按 Excel（.xlsx）读取文件：{exc}。请确认文件没有损坏、没有加密。"
        ) from exc
    try:
        return {
            ws.title: [[cell_text(v) for v in row] for row in ws.iter_rows(min_row=1, values_only=True)]
            for ws in book.worksheets
        }
    finally:
        book.close()


def _column_names(cells: Sequence[str]) -> list[str]:
    """Header cells as unique column names: an empty cell becomes "第N列", repeats get "(2)", "(3)"."""
    names: list[str] = []
    for k, cell in enumerate(cells):
        name = cell or f"第{k + 1}列"
        base, n = name, 1
        while name in names:
            n += 1
            name = f"{base}({n})"
        names.append(name)
    return names


@dataclass
class _HeaderMatch:
    index: int  # 0-based row index in the sheet
    names: list[str]
    mapping: dict[str, str]
    missing: list[str]  # required fields not found


def _match_header(
    cells: Sequence[str],
    index: int,
    aliases: Mapping[str, tuple[str, ...]],
    required: Sequence[str],
    explicit: Mapping[str, str],
) -> _HeaderMatch | None:
    """How well row ``cells`` works as the header; None when an explicitly named column is missing."""
    names = _column_names(cells)
    try:
        mapping = detect_fields(names, aliases, explicit)
    except KeyError:
        return None
    return _HeaderMatch(index, names, mapping, [f for f in required if f not in mapping])


def find_header(
    grid: list[list[str]],
    aliases: Mapping[str, tuple[str, ...]],
    required: Sequence[str],
    explicit: Mapping[str, str] | None = None,
) -> tuple[_HeaderMatch | None, _HeaderMatch | None]:
    """Scan the first ``HEADER_SCAN_ROWS`` rows for the header. Returns (the row having all
    ``required`` fields with the most recognised columns — the first such on a tie — or None; the
    row with the most recognised columns even if incomplete, for the error message, or None)."""
    matches = []
    for index, cells in enumerate(grid[:HEADER_SCAN_ROWS]):
        match = _match_header(cells, index, aliases, required, explicit or {}) if any(cells) else None
        if match is not None:
            matches.append(match)
    complete = [m for m in matches if not m.missing]
    header = max(complete, key=lambda m: (len(m.mapping), -m.index), default=None)
    best = max(matches, key=lambda m: (len(m.mapping) - len(m.missing), -m.index), default=None)
    return header, best


def check_explicit_fields(
    explicit: Mapping[str, str] | None, aliases: Mapping[str, tuple[str, ...]], labels: Mapping[str, str]
) -> dict[str, str]:
    """``explicit`` (canonical → column) with names trimmed; unknown canonical names raise
    ``CameraReadError("missing_columns")``."""
    explicit = {str(k).strip(): str(v).strip() for k, v in (explicit or {}).items()}
    unknown = [k for k in explicit if k not in aliases]
    if unknown:
        known = "、".join(f"{k}（{labels.get(k, k)}）" for k in aliases)
        raise CameraReadError("missing_columns", f"不认识的字段名“{'、'.join(unknown)}”。可以指定的字段：{known}。")
    return explicit


def missing_columns_error(
    missing: Sequence[str],
    names: Sequence[str],
    aliases: Mapping[str, tuple[str, ...]],
    labels: Mapping[str, str],
    where: str = "",
    field_hint: bool = True,
) -> CameraReadError:
    """``missing_columns`` naming the ``missing`` required fields, the columns the file has
    (``names``) and the column names that would be recognised (and ``--field`` when ``field_hint``)."""
    wanted = "；".join(f"{labels.get(k, k)}（{k}）可用列名：{'、'.join(aliases[k][:8])}" for k in missing)
    hint = (
        f"也可以用 --field 字段=列名 指定，例如 --field {missing[0]}=列名。" if field_hint else "请改正列名后重新上传。"
    )
    return CameraReadError(
        "missing_columns",
        f"{where}缺少必需的列：{'、'.join(labels.get(k, k) for k in missing)}。现有的列：{'、'.join(names) or '无'}。"
        f"{wanted}。{hint}",
    )


def absent_columns_error(
    absent: Mapping[str, str], names: Sequence[str], labels: Mapping[str, str], where: str = ""
) -> CameraReadError:
    """``missing_columns`` for explicitly named columns (canonical → column) the file does not have."""
    listed = "、".join(f"“{col}”（指定为{labels.get(k, k)}）" for k, col in absent.items())
    return CameraReadError(
        "missing_columns", f"{where}指定的列 {listed} 不在文件表头中。现有的列：{'、'.join(names) or '无'}。"
    )


def _header_error(
    best: _HeaderMatch | None,
    grid: list[list[str]],
    aliases: Mapping[str, tuple[str, ...]],
    required: Sequence[str],
    explicit: Mapping[str, str],
    labels: Mapping[str, str],
    where: str = "",
    field_hint: bool = True,
) -> CameraReadError:
    """The error for a sheet without a complete header among its first rows."""
    seen = {c for row in grid[:HEADER_SCAN_ROWS] for c in row if c}
    absent = {k: col for k, col in explicit.items() if col not in seen}
    if absent:
        names = best.names if best else [c for row in grid[:1] for c in row]
        return absent_columns_error(absent, names, labels, where)
    if best is None:
        return missing_columns_error(
            list(required), [], aliases, labels, where + "前 10 行中没有像表头的行，", field_hint
        )
    if best.index > 0:
        where += f"（最像表头的是第 {best.index + 1} 行）"
    return missing_columns_error(best.missing, best.names, aliases, labels, where, field_hint)


def _data_frame(grid: list[list[str]], header: _HeaderMatch) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows below ``header`` as text, blank rows dropped, with their spreadsheet row numbers."""
    width = len(header.names)
    body = grid[header.index + 1 :]
    rows, data = [], []
    for k, cells in enumerate(body):
        cells = (list(cells) + [""] * width)[:width]
        if any(cells):
            rows.append(header.index + 2 + k)
            data.append(cells)
    frame = pd.DataFrame(data, columns=header.names, dtype=object) if data else pd.DataFrame(columns=header.names)
    return frame.reset_index(drop=True), np.array(rows, dtype=np.int64)


def read_table(
    source: Path | bytes,
    fmt: str,
    aliases: Mapping[str, tuple[str, ...]],
    required: Sequence[str],
    explicit: Mapping[str, str] | None = None,
    sheet: str | None = None,
    *,
    labels: Mapping[str, str],
    field_hint: bool = True,
) -> Table:
    """Locate the table of a CSV (``fmt="csv"``) or XLSX (``"xlsx"``) file or its bytes: the header
    row among the first 10 (the one with the most recognised columns that has all ``required``),
    the sheet (``sheet``, else the first with such a header). Raises ``CameraReadError`` (whose
    message suggests ``--field`` when ``field_hint``)."""
    explicit = check_explicit_fields(explicit, aliases, labels)
    data = source if isinstance(source, bytes) else read_bytes(source)
    if not data.strip():
        raise CameraReadError("empty", "文件是空的。")
    if fmt == "csv":
        grid, notes = csv_cells(data)
        sheets = {"": grid}
    else:
        sheets, notes = xlsx_sheets(data), []
        if sheet is not None:
            if sheet not in sheets:
                raise CameraReadError("no_header", f"文件中没有工作表“{sheet}”；现有的工作表：{'、'.join(sheets)}。")
            sheets = {sheet: sheets[sheet]}
    chosen: tuple[str, _HeaderMatch] | None = None
    tried: list[tuple[str, _HeaderMatch | None]] = []  # non-empty sheets without a complete header
    for name, grid in sheets.items():
        header, best = find_header(grid, aliases, required, explicit)
        if header is not None:
            chosen = name, header
            break
        if any(any(row) for row in grid):
            tried.append((name, best))
    if chosen is None:
        raise _no_table_error(sheets, tried, aliases, required, explicit, labels, field_hint)
    name, header = chosen
    frame, rows = _data_frame(sheets[name], header)
    if fmt == "xlsx":
        notes.append(f"读取工作表“{name}”" + (f"（共 {len(sheets)} 个工作表）" if len(sheets) > 1 else ""))
    if header.index > 0:
        notes.append(f"表头在第 {header.index + 1} 行，上方 {header.index} 行（标题等）已跳过")
    notes.append(mapping_note(header.mapping, header.names, labels))
    if frame.empty:
        raise CameraReadError("empty", f"表头（第 {header.index + 1} 行）下面没有数据行。")
    return Table(frame, rows, header.mapping, notes, fmt)


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CameraReadError("unreadable", f"无法读取文件“{path}”：{exc.strerror or exc}。") from exc


def _no_table_error(
    sheets: Mapping[str, list[list[str]]],
    tried: list[tuple[str, _HeaderMatch | None]],
    aliases,
    required,
    explicit,
    labels,
    field_hint: bool,
) -> CameraReadError:
    """``missing_columns`` for a file with one table, ``no_header`` listing the sheets otherwise."""
    if not tried:
        return CameraReadError("empty", "文件中没有任何数据。")
    if len(tried) == 1:
        name, best = tried[0]
        where = f"工作表“{name}”：" if name else ""
        return _header_error(best, sheets[name], aliases, required, explicit, labels, where, field_hint)
    parts = []
    for name, best in tried:
        missing = best.missing if best else list(required)
        parts.append(f"“{name}”缺少 {'、'.join(labels.get(k, k) for k in missing)}")
    return CameraReadError(
        "no_header",
        f"没有一个工作表的前 10 行中有完整的表头（需要 {'、'.join(labels.get(k, k) for k in required)} 列）："
        f"{'；'.join(parts)}。请用 --sheet 指定工作表" + ("，或用 --field 字段=列名 指定列。" if field_hint else "。"),
    )


def mapping_note(mapping: Mapping[str, str], names: Sequence[str], labels: Mapping[str, str]) -> str:
    used = "，".join(f"{labels.get(k, k)} ← “{col}”" for k, col in mapping.items())
    unused = [n for n in names if n not in mapping.values()]
    return f"识别的列：{used}" + (f"；未使用的列：{'、'.join(unused)}" if unused else "")
