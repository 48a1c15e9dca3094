"""Locating the table in a camera list or status report: raw cells → header + data rows as text.

CSV (UTF-8 with or without BOM, else GB18030; delimiter sniffed) and XLSX (read with openpyxl's
parsers, every cell as text, so a 20-digit id never becomes a float). Counties often put a title row
or two above the header: the first ``HEADER_SCAN_ROWS`` rows are scanned for the row naming the most
known columns. Row numbers stay the spreadsheet's own, for messages.

Every table is bounded (``TableLimits``: ``GRIDMAP_MAX_TABLE_ROWS`` and ``_COLUMNS``), and refused
with ``TableTooLarge`` (413 ``too_many_rows`` / ``too_many_columns``) as soon as it is known to be
beyond them: an XLSX sheet by its declared ``<dimension ref=…>`` before any cell is read, then —
the dimension may lie or be missing — by each cell as the sheet XML is streamed (a cell in column
XFD stops the reading there: no row is ever widened to 16,384 cells); a CSV record by record (and a
line with far too many delimiters before the csv module splits it); a JSON list of reports item by
item (``gridmap.io.status_updates``).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import itertools
import json
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gridmap.config import Settings, get_settings
from gridmap.errors import GridmapError
from gridmap.io.archives import check_archive
from gridmap.io.fields import detect_fields, match_fields

if TYPE_CHECKING:
    from gridmap.io.xls import XlsBook

#: File suffix → format.
FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".xls": "xls",  # Excel 97–2003, which county offices still keep: gridmap.io.xls
    ".geojson": "geojson",
    ".json": "geojson",
}
#: Extensions a camera register may be uploaded with (the upload page's ``accept`` list, from the
#: server's page config): the readable formats.
UPLOAD_EXTENSIONS = tuple(FORMATS)
#: Formats read as workbooks (sheets), not as a CSV.
WORKBOOK_FORMATS = ("xlsx", "xls")
#: Rows scanned for the header (a title row or two often sits above it).
HEADER_SCAN_ROWS = 10


class CameraReadError(GridmapError):
    """The file as a whole cannot be read. ``.code``: unreadable, unsupported_format, no_header,
    missing_columns, encoding_unknown, empty (and ``TableTooLarge``'s); ``.message``: Chinese, actionable."""


class TableTooLarge(CameraReadError):
    """A sheet, CSV or JSON list beyond ``TableLimits``: ``too_many_rows`` or ``too_many_columns``,
    413, the message saying the limit and how to split the file; ``detail`` has the figures."""

    status = 413


@dataclass(frozen=True)
class TableLimits:
    """Bounds of one table (defaults: the settings ``GRIDMAP_MAX_TABLE_ROWS`` / ``_COLUMNS``). Rows
    are the spreadsheet's (or CSV's) rows, header and title rows included; a JSON list's items."""

    max_rows: int
    max_columns: int

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> TableLimits:
        s = settings or get_settings()
        return cls(s.max_table_rows, s.max_table_columns)

    def too_many_rows(
        self, where: str, rows: int | None = None, *, declared: str | None = None, unit: str = "行"
    ) -> TableTooLarge:
        """The refusal for ``where`` (工作表“X”, 文件, ...) having ``rows`` rows (None: more than the
        limit, counted while reading; ``declared``: the sheet's dimension when that is what says
        so); ``unit``: 行, or 条 for a list of reports."""
        if declared and rows:
            told = f"声明的范围是 {declared}，共 {rows:,} {unit}，"
        else:
            told = f"有 {rows:,} {unit}，" if rows else ""  # "" counted while reading: more than the limit
        split = (
            "请分批发送，每批不超过上限"
            if unit == "条"
            else "请按乡镇（或网格）拆分成几个文件分批上传，每个不超过上限；若末尾有大量空行或只设了格式的行，请删除后重新保存"
        )
        return TableTooLarge(
            "too_many_rows",
            f"{where}{told}超过上限 {self.max_rows:,} {unit}：{split}（或请管理员调整 GRIDMAP_MAX_TABLE_ROWS）。",
            {"rows": rows, "max_rows": self.max_rows, "dimension": declared},
        )

    def too_many_columns(
        self, where: str, columns: int, *, row: int | None = None, declared: str | None = None, sheet: bool = True
    ) -> TableTooLarge:
        """The refusal for ``where`` reaching column ``columns`` (in row ``row``, or by its
        declared dimension ``declared``); ``sheet``: an XLSX sheet (else a CSV record, which has at
        least ``columns`` fields)."""
        from openpyxl.utils import get_column_letter  # imported here: only the message needs it

        letter = f"（{get_column_letter(columns)} 列）" if columns <= 16_384 else ""
        if declared:
            told = f"声明的范围是 {declared}，共 {columns:,} 列"
        elif sheet:
            told = (f"第 {row:,} 行" if row else "") + f"有内容或格式的单元格到了第 {columns:,} 列{letter}"
        else:
            told = f"第 {row:,} 行至少有 {columns:,} 列"
        return TableTooLarge(
            "too_many_columns",
            f"{where}{told}，超过上限 {self.max_columns:,} 列（摄像头台账通常不到 100 列）：请删除右侧多余的列"
            "（包括看似空白、但有内容或格式的列），或只把需要的列复制到新表另存后上传"
            "（或请管理员调整 GRIDMAP_MAX_TABLE_COLUMNS）。",
            {"columns": columns, "max_columns": self.max_columns, "row": row, "dimension": declared},
        )


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
    """ "csv" | "xlsx" | "xls" | "geojson" from the suffix; ``CameraReadError("unsupported_format")`` otherwise."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        hint = "（.ods 请在 WPS 或 LibreOffice 中另存为 .xlsx）" if path.suffix.lower() == ".ods" else ""
        raise CameraReadError(
            "unsupported_format",
            f"不支持的文件类型“{path.suffix or path.name}”{hint}：请上传 CSV（.csv）、"
            "Excel（.xlsx 或 .xls）或 GeoJSON（.geojson）文件。",
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
    lines = list(itertools.islice((line for line in _lines(text) if line.strip()), HEADER_SCAN_ROWS))
    counts = {d: sum(line.count(d) for line in lines) for d in _DELIMITERS}
    return max(_DELIMITERS, key=lambda d: (counts[d], d == ","))


#: A CSV line is refused before the csv module splits it when it has this many times the column
#: limit of delimiters outside quotes (a record of millions of empty fields would be a list of
#: millions first); the exact count of every record is checked after splitting.
_LINE_GUARD = 4


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` with their ends, as iterating ``io.StringIO(text)`` gives them (split
    at "\n" only: the csv module reads "\r\n" and "\r" itself), without StringIO's copy of the
    text at 4 bytes a character."""
    start = 0
    while start < len(text):
        end = text.find("\n", start) + 1 or len(text)
        yield text[start:end]
        start = end


def _guarded_lines(text: str, delimiter: str, limits: TableLimits) -> Iterator[str]:
    """The lines of ``text`` as ``csv.reader`` reads them, refusing one with far too many fields."""
    most = _LINE_GUARD * limits.max_columns
    for number, line in enumerate(_lines(text), start=1):
        if line.count(delimiter) > most and sum(part.count(delimiter) for part in line.split('"')[::2]) > most:
            raise limits.too_many_columns("文件", most + 1, row=number, sheet=False)
        yield line


def csv_cells(data: bytes, limits: TableLimits | None = None) -> tuple[list[list[str]], list[str]]:
    """All records of a CSV as trimmed text cells (record k = spreadsheet row k + 1) and notes.
    Raises ``TableTooLarge`` at the first record beyond ``limits`` (default: the settings')."""
    limits = limits or TableLimits.from_settings()
    text, note = decode_text(data)
    delimiter = sniff_delimiter(text)
    notes = [note] + ([f"分隔符：{_DELIMITERS[delimiter]}"] if delimiter != "," else [])
    rows: list[list[str]] = []
    try:
        if text.count("\n") >= limits.max_rows:  # perhaps too many records: count them before keeping any
            counted = csv.reader(_guarded_lines(text, delimiter, limits), delimiter=delimiter)
            if sum(1 for _ in itertools.islice(counted, limits.max_rows + 1)) > limits.max_rows:
                raise limits.too_many_rows("文件")
        for record in csv.reader(_guarded_lines(text, delimiter, limits), delimiter=delimiter):
            if len(rows) == limits.max_rows:
                raise limits.too_many_rows("文件")
            if len(record) > limits.max_columns:
                raise limits.too_many_columns("文件", len(record), row=len(rows) + 1, sheet=False)
            rows.append([cell.strip() for cell in record])
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
    if isinstance(value, int) and abs(value) >= 2**53:  # calamine's: it was a float, so show one
        return repr(float(value))
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value).strip()


def xlsx_sheets(source: Path | bytes, limits: TableLimits | None = None) -> dict[str, list[list[str]]]:
    """Every sheet of a workbook as rows of text cells (row k of the list = spreadsheet row k + 1),
    within ``limits`` (default: the settings'). See :class:`XlsxBook`."""
    with XlsxBook(source, limits) as book:
        return {name: book.grid(name) for name in book.names}


class XlsxBook:
    """An XLSX workbook read sheet by sheet, each within ``TableLimits``.

    openpyxl's own parsers read the workbook parts (sheet names, shared strings, number formats:
    which cells are dates) and each cell's value (cached formula values), but not
    ``load_workbook``: in read-only mode it sizes every sheet up front, parsing all of a sheet that
    has no ``<dimension>``, and then widens every row to the declared width (16,384 cells a row for
    a sheet reaching column XFD). Here a sheet is streamed: its dimension is checked when met, then
    each cell's column as soon as the cell is parsed, before the rest of its row, and each row's
    number before its cells are kept (``_sheet_grid``).

    Going through pandas would turn a 20-digit id stored as a number into an integer with made-up
    last digits, which no check could catch: cells are kept as text (:func:`cell_text`).
    Raises ``CameraReadError`` (``unreadable``), ``ArchiveRefused`` or ``TableTooLarge``."""

    def __init__(self, source: Path | bytes, limits: TableLimits | None = None):
        from openpyxl.reader.excel import ExcelReader  # imported here: only XLSX needs openpyxl
        from openpyxl.styles.stylesheet import apply_stylesheet

        self.limits = limits or TableLimits.from_settings()
        data = io.BytesIO(source) if isinstance(source, bytes) else source
        try:
            with zipfile.ZipFile(data) as workbook:
                check_archive(workbook, source.name if isinstance(source, Path) else "工作簿")
        except (zipfile.BadZipFile, OSError):
            pass  # not a zip at all: openpyxl says so below, in its words turned into ours
        try:
            reader = ExcelReader(data, read_only=True, data_only=True, keep_links=False)
        except Exception as exc:  # zipfile.BadZipFile, InvalidFileException ...
            raise _unreadable_xlsx(exc) from exc
        self._reader = reader
        try:
            reader.read_manifest()
            reader.read_strings()
            reader.read_workbook()
            apply_stylesheet(reader.archive, reader.wb)
            #: sheet name → its part in the archive, in the workbook's order (chart sheets left out).
            self._parts = {
                sheet.name: rel.target
                for sheet, rel in reader.parser.find_sheets()
                if rel.target in reader.valid_files and "chartsheet" not in rel.Type
            }
        except Exception as exc:  # KeyError (a part missing), ValueError / ParseError (bad XML) ...
            self.close()
            raise _unreadable_xlsx(exc) from exc

    @property
    def names(self) -> list[str]:
        return list(self._parts)

    def grid(self, name: str) -> list[list[str]]:
        """The rows of sheet ``name`` as text cells (row k of the list = spreadsheet row k + 1; a
        row ends at its last cell, except the first ``HEADER_SCAN_ROWS``, which are as wide as the
        sheet, so an empty header cell still names its column)."""
        from openpyxl.worksheet._reader import WorkSheetParser

        wb = self._reader.wb
        try:
            with self._reader.archive.open(self._parts[name]) as src:
                parser = WorkSheetParser(
                    src,
                    self._reader.shared_strings,
                    data_only=True,
                    epoch=wb.epoch,
                    date_formats=wb._date_formats,
                    timedelta_formats=wb._timedelta_formats,
                )
                return _sheet_grid(parser, f"工作表“{name}”", self.limits)
        except TableTooLarge:
            raise
        except Exception as exc:  # bad XML, a shared string that is not there, a bad cell reference ...
            raise _unreadable_xlsx(exc) from exc

    def close(self) -> None:
        self._reader.archive.close()

    def __enter__(self) -> XlsxBook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unreadable_xlsx(exc: Exception) -> CameraReadError:
    return CameraReadError("unreadable", f"无法按 Excel（.xlsx）读取文件：{exc}。请确认文件没有损坏、没有加密。")


def _sheet_grid(parser: Any, where: str, limits: TableLimits) -> list[list[str]]:
    """The sheet ``parser`` (openpyxl's ``WorkSheetParser`` on the sheet's XML: its cell values,
    dates and shared strings) reads, streamed within ``limits``: each cell's column is checked as
    soon as the cell is parsed, before the rest of its row (a row of a million cells stops at cell
    ``max_columns + 1``), each row's number before its cells are converted."""
    from openpyxl.utils.cell import column_index_from_string
    from openpyxl.worksheet._reader import CELL_TAG, DATA_TAG, DIMENSION_TAG, ROW_TAG
    from openpyxl.xml.functions import iterparse

    columns = _column_indexes(limits.max_columns)
    rows: list[list[str]] = []
    width = counted = 0  # counted: cells of the current row so far
    for _event, element in iterparse(parser.source):
        tag = element.tag
        if tag == CELL_TAG:
            ref = element.get("r")  # "XFD7"; without it, the cell follows the previous one
            letters = ref.rstrip(_DIGITS).upper() if ref else ""
            counted += 1
            column = columns.get(letters) if ref else counted
            if column is None:  # not among the first max_columns columns' names
                column = column_index_from_string(letters)  # ValueError: not a reference at all
            if column > limits.max_columns:
                row = int(ref[len(letters) :]) if ref and ref[len(letters) :].isdigit() else None
                raise limits.too_many_columns(where, column, row=row)
        elif tag == ROW_TAG:
            number, cells = parser.parse_row(element)
            element.clear()  # its cells are kept as text below, not as XML
            counted = 0
            if not cells or number <= len(rows):  # an empty row, or one out of order (skipped, as openpyxl does)
                continue
            if number > limits.max_rows:
                raise limits.too_many_rows(where)
            values = [""] * max(c["column"] for c in cells)
            for c in cells:
                values[c["column"] - 1] = cell_text(c["value"])
            rows.extend([] for _ in range(number - 1 - len(rows)))
            rows.append(values)
            width = max(width, len(values))
        elif tag == DIMENSION_TAG:
            _check_dimension(element.get("ref"), where, limits)
            width = _declared_width(element.get("ref"), limits)
        elif tag == DATA_TAG:
            break  # nothing after the cells is needed
    for values in rows[:HEADER_SCAN_ROWS]:
        values.extend([""] * (width - len(values)))
    return rows


_DIGITS = "0123456789"


@functools.lru_cache(maxsize=4)
def _column_indexes(most: int) -> dict[str, int]:
    """Column letters → index, for the first ``most`` columns ("A" → 1 … "IV" → 256)."""
    from openpyxl.utils import get_column_letter

    return {get_column_letter(k): k for k in range(1, min(most, 16_384) + 1)}


def _dimension(ref: str | None) -> tuple[int, int] | None:
    """(rows, columns) a sheet's ``<dimension ref="A1:XFD6001">`` declares; None when unusable."""
    from openpyxl.utils.cell import range_boundaries

    try:
        _min_col, _min_row, max_col, max_row = range_boundaries(ref or "")
    except (ValueError, TypeError):
        return None
    if max_col is None or max_row is None:
        return None
    return max_row, max_col


def _check_dimension(ref: str | None, where: str, limits: TableLimits) -> None:
    """Refuse a sheet whose declared dimension is beyond ``limits``: before any cell is read."""
    size = _dimension(ref)
    if size is None:
        return
    rows, columns = size
    if columns > limits.max_columns:
        raise limits.too_many_columns(where, columns, declared=ref)
    if rows > limits.max_rows:
        raise limits.too_many_rows(where, rows, declared=ref)


def _declared_width(ref: str | None, limits: TableLimits) -> int:
    size = _dimension(ref)
    return size[1] if size is not None and size[1] <= limits.max_columns else 0


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
    unsure = "".join(f"{note}。" for note in match_fields(names, aliases).unsure)
    hint = (
        f"也可以用 --field 字段=列名 指定，例如 --field {missing[0]}=列名。" if field_hint else "请改正列名后重新上传。"
    )
    return CameraReadError(
        "missing_columns",
        f"{where}缺少必需的列：{'、'.join(labels.get(k, k) for k in missing)}。现有的列：{'、'.join(names) or '无'}。"
        f"{wanted}。{unsure}{hint}",
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
    limits: TableLimits | None = None,
) -> Table:
    """Locate the table of a CSV (``fmt="csv"``), XLSX (``"xlsx"``) or XLS (``"xls"``: an XLSX
    renamed .xls is read as XLSX, by its content) file or its bytes: the header
    row among the first 10 (the one with the most recognised columns that has all ``required``),
    the sheet (``sheet``, else the first with such a header: later sheets are not read). Raises
    ``CameraReadError`` (whose message suggests ``--field`` when ``field_hint``), ``TableTooLarge``
    beyond ``limits`` (default: the settings')."""
    explicit = check_explicit_fields(explicit, aliases, labels)
    limits = limits or TableLimits.from_settings()
    data = source if isinstance(source, bytes) else read_bytes(source)
    if not data.strip():
        raise CameraReadError("empty", "文件是空的。")
    if fmt == "csv":
        grid, notes = csv_cells(data, limits)
        return _locate([("", grid)], 1, fmt, notes, aliases, required, explicit, labels, field_hint)
    book: XlsxBook | XlsBook
    if fmt == "xls" and not data.startswith(b"PK\x03\x04"):
        from gridmap.io.xls import XlsBook  # imported here: gridmap.io.xls builds on this module

        book = XlsBook(data, limits)
    else:
        book = XlsxBook(data, limits)
    with book:
        names = book.names
        if sheet is not None:
            if sheet not in names:
                raise CameraReadError("no_header", f"文件中没有工作表“{sheet}”；现有的工作表：{'、'.join(names)}。")
            names = [sheet]
        grids = ((name, book.grid(name)) for name in names)
        return _locate(grids, len(names), fmt, [], aliases, required, explicit, labels, field_hint)


def _locate(
    grids: Iterable[tuple[str, list[list[str]]]],
    count: int,
    fmt: str,
    notes: list[str],
    aliases: Mapping[str, tuple[str, ...]],
    required: Sequence[str],
    explicit: Mapping[str, str],
    labels: Mapping[str, str],
    field_hint: bool,
) -> Table:
    """The table of the first of ``grids`` (``count`` sheets, read one by one) having a header."""
    chosen: tuple[str, _HeaderMatch] | None = None
    seen: dict[str, list[list[str]]] = {}
    tried: list[tuple[str, _HeaderMatch | None]] = []  # non-empty sheets without a complete header
    for name, grid in grids:
        seen[name] = grid
        header, best = find_header(grid, aliases, required, explicit)
        if header is not None:
            chosen = name, header
            break
        if any(any(row) for row in grid):
            tried.append((name, best))
    if chosen is None:
        raise _no_table_error(seen, tried, aliases, required, explicit, labels, field_hint)
    name, header = chosen
    frame, rows = _data_frame(seen[name], header)
    if fmt in WORKBOOK_FORMATS:
        notes.append(f"读取工作表“{name}”" + (f"（共 {count} 个工作表）" if count > 1 else ""))
    if header.index > 0:
        notes.append(f"表头在第 {header.index + 1} 行，上方 {header.index} 行（标题等）已跳过")
    notes.append(mapping_note(header.mapping, header.names, labels))
    notes += match_fields(header.names, aliases, explicit).notes
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
