"""Excel 97–2003 workbooks (``.xls``, BIFF in an OLE2 compound file) read with python-calamine,
within ``TableLimits`` and a budget of cells checked *before* calamine sees the file.

calamine parses every sheet of an ``.xls`` when the workbook is opened, each into a dense grid as
large as the sheet's farthest cell: a 5.6 KB file with one cell at A1 and one at IV65536 in each of
four sheets costs it 1 s and 2 GB. So the workbook stream is first walked record by record (its
record headers only, a few bytes each: ``sheet_extents``), noting each sheet's declared
``DIMENSIONS`` and the farthest row and column any cell record (values, blanks, formulas) reaches;
a sheet beyond the row or column limit, or a workbook whose sheets together span more than
``XLS_MAX_CELLS`` cells, is refused there (``TableTooLarge``), an encrypted one too.

Cells are then kept as text as the XLSX path keeps them (``gridmap.io.tables.cell_text``): a text
cell stays exactly as typed (a 20-digit id typed as text stays exact); a number cell holding a
20-digit id is a float that has lost its last digits, and becomes its repr ("4.1162800011318e+19"),
which the id check rejects; dates become ISO dates.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field

from gridmap.io.tables import CameraReadError, TableLimits, TableTooLarge, cell_text

#: The most cells (rows × columns of each sheet's extent, all sheets together) an ``.xls`` may
#: span: calamine holds every sheet as a dense grid, about 32 bytes a cell. 65,536 rows (the most
#: an .xls has) of 61 columns; a county register is usually well under a million.
XLS_MAX_CELLS = 4_000_000
#: The most BIFF records walked (a record is 4 bytes at least; MULRK/MULBLANK hold many cells).
XLS_MAX_RECORDS = 2 * XLS_MAX_CELLS + 200_000

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

_BOF, _EOF, _BOUNDSHEET, _DIMENSIONS, _FILEPASS = 0x0809, 0x000A, 0x0085, 0x0200, 0x002F
#: Records of one cell with its row and column first: FORMULA, BLANK, NUMBER, LABEL, BOOLERR,
#: RK, LABELSST, RSTRING (and their BIFF2–4 forms).
_ONE_CELL = frozenset({0x0006, 0x0206, 0x0406, 0x0201, 0x0203, 0x0204, 0x0205, 0x027E, 0x00FD, 0x00D6})
#: Records of a run of cells in one row (MULRK, MULBLANK): row, first column, …, last column.
_RUN_OF_CELLS = frozenset({0x00BD, 0x00BE})


@dataclass
class SheetExtent:
    """A substream of the workbook: its name (from BOUNDSHEET, "" when unknown), the farthest
    row and column (1-based) its cells reach, and its declared DIMENSIONS ("A1:IV65536")."""

    name: str
    rows: int = 0
    columns: int = 0
    declared: tuple[int, int] | None = None
    where: str = field(default="", repr=False)

    @property
    def cells(self) -> int:
        rows, columns = self.declared or (0, 0)
        return max(self.rows, rows) * max(self.columns, columns)


def workbook_stream(data: bytes) -> bytes:
    """The BIFF stream ("Workbook", or "Book" in Excel 5/95 files) of an OLE2 ``.xls``; its size
    is bounded by the file's. ``CameraReadError("unreadable")`` when there is none."""
    import olefile  # imported here: only .xls needs it

    if not data.startswith(OLE_MAGIC):
        raise CameraReadError("unreadable", _not_xls_message(data))
    try:
        with olefile.OleFileIO(data) as ole:
            for name in ("Workbook", "Book"):
                if ole.exists(name):
                    stream: bytes = ole.openstream(name).read()
                    return stream
            raise CameraReadError(
                "unreadable", "文件是 Office 97–2003 格式，但里面没有 Excel 工作簿（可能是 Word 或其他文件）。"
            )
    except CameraReadError:
        raise
    except Exception as exc:  # olefile's own errors for a damaged compound file, struct.error ...
        raise unreadable_xls(exc) from exc


def sheet_extents(stream: bytes) -> list[SheetExtent]:
    """Each substream's extent, from the record headers of the BIFF ``stream`` (see the module).
    Raises ``CameraReadError`` for an encrypted workbook, ``TableTooLarge`` (``too_many_cells``)
    for one of more than ``XLS_MAX_RECORDS`` records."""
    names: dict[int, str] = {}
    extents: list[SheetExtent] = []
    current: SheetExtent | None = None
    unpack = struct.unpack_from
    pos, end, records = 0, len(stream), 0
    while pos + 4 <= end:
        kind, size = unpack("<HH", stream, pos)
        body, pos = pos + 4, pos + 4 + size
        records += 1
        if records > XLS_MAX_RECORDS:
            raise _too_many_cells("工作簿", None)
        if kind in _ONE_CELL:
            if current is not None and size >= 4 and pos <= end:
                row, column = unpack("<HH", stream, body)
                current.rows, current.columns = max(current.rows, row + 1), max(current.columns, column + 1)
        elif kind in _RUN_OF_CELLS:
            if current is not None and size >= 6 and pos <= end:
                (row,) = unpack("<H", stream, body)
                (column,) = unpack("<H", stream, pos - 2)
                current.rows, current.columns = max(current.rows, row + 1), max(current.columns, column + 1)
        elif kind == _BOF:
            current = SheetExtent(names.get(body - 4, ""))
            extents.append(current)
        elif kind == _EOF:
            current = None
        elif kind == _DIMENSIONS and current is not None and pos <= end:
            if size >= 14:  # BIFF8: first row, last row + 1 (32 bits), first column, last column + 1
                _first, rows, _c, columns = unpack("<IIHH", stream, body)
            elif size >= 10:
                _r, rows, _c, columns = unpack("<HHHH", stream, body)
            else:
                continue
            current.declared = (rows, columns)
        elif kind == _BOUNDSHEET and pos <= end and size >= 8:
            (offset,) = unpack("<I", stream, body)
            names[offset] = _sheet_name(stream[body + 6 : pos])
        elif kind == _FILEPASS:
            raise CameraReadError(
                "unreadable", "Excel 文件已加密（设置了打开密码）：请在 Excel 中取消密码后另存为 .xlsx 或 .xls 再上传。"
            )
    return extents[1:] if extents else []  # the first substream is the workbook globals


def _sheet_name(raw: bytes) -> str:
    """A BOUNDSHEET's name (BIFF8: length, a flag byte, Latin-1 or UTF-16 characters); "" when
    it cannot be read."""
    if len(raw) < 2:
        return ""
    length, wide = raw[0], raw[1] & 1
    text = raw[2 : 2 + length * (2 if wide else 1)]
    try:
        return text.decode("utf-16-le" if wide else "latin-1")
    except UnicodeDecodeError:
        return ""


def check_extents(extents: list[SheetExtent], limits: TableLimits) -> None:
    """Refuse a workbook beyond ``limits`` or ``XLS_MAX_CELLS``, before calamine opens it."""
    for k, sheet in enumerate(extents, start=1):
        where = f"工作表“{sheet.name}”" if sheet.name else f"第 {k} 个工作表"
        rows, columns = sheet.declared or (0, 0)
        declared = _range(rows, columns) if sheet.declared else None
        if columns > limits.max_columns:
            raise limits.too_many_columns(where, columns, declared=declared)
        if rows > limits.max_rows:
            raise limits.too_many_rows(where, rows, declared=declared)
        if sheet.columns > limits.max_columns:
            raise limits.too_many_columns(where, sheet.columns)
        if sheet.rows > limits.max_rows:
            raise limits.too_many_rows(where, sheet.rows)
        if sheet.cells > XLS_MAX_CELLS:
            raise _too_many_cells(where, sheet)
    total = sum(s.cells for s in extents)
    if total > XLS_MAX_CELLS:
        raise _too_many_cells(f"工作簿的 {len(extents)} 个工作表合计", None, total)


def _range(rows: int, columns: int) -> str:
    from openpyxl.utils import get_column_letter

    return f"A1:{get_column_letter(min(max(columns, 1), 16_384))}{max(rows, 1)}"


def _too_many_cells(where: str, sheet: SheetExtent | None, cells: int | None = None) -> TableTooLarge:
    if sheet is not None:
        cells = sheet.cells
        told = f"的范围到了第 {max(sheet.rows, (sheet.declared or (0, 0))[0]):,} 行、第 {max(sheet.columns, (sheet.declared or (0, 0))[1]):,} 列，共 {cells:,} 个单元格，"
    else:
        told = f"共 {cells:,} 个单元格，" if cells else "的记录过多，"
    return TableTooLarge(
        "too_many_cells",
        f"{where}{told}超过 .xls 文件的上限 {XLS_MAX_CELLS:,} 个单元格：请删除远处有内容或格式的单元格"
        "（以及不需要的工作表）后另存为 .xlsx 再上传，或按乡镇拆分成几个文件。",
        {"cells": cells, "max_cells": XLS_MAX_CELLS},
    )


def _not_xls_message(data: bytes) -> str:
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:64].lower()
    if head.startswith((b"<html", b"<!doctype", b"<table", b"<?xml", b"<meta")):
        return (
            "文件扩展名是 .xls，但内容是网页（HTML/XML）表格，不是真正的 Excel 文件（有些系统导出的 .xls 是这样）："
            "请用 Excel 或 WPS 打开后另存为 .xlsx 再上传。"
        )
    return "文件扩展名是 .xls，但内容不是 Excel 97–2003 工作簿：请确认文件没有损坏，或在 Excel 中另存为 .xlsx 后上传。"


def unreadable_xls(exc: Exception) -> CameraReadError:
    return CameraReadError(
        "unreadable",
        f"无法按 Excel 97–2003（.xls）读取文件：{str(exc)[:200]}。请确认文件没有损坏、没有加密，或在 Excel 中另存为 .xlsx 后上传。",
    )


class XlsBook:
    """An ``.xls`` workbook read with calamine after its extents are checked (see the module):
    ``names`` (its worksheets, in order) and ``grid(name)`` as ``XlsxBook`` has them. Raises
    ``CameraReadError`` (``unreadable``) or ``TableTooLarge``."""

    def __init__(self, data: bytes, limits: TableLimits | None = None):
        from python_calamine import CalamineWorkbook, SheetTypeEnum

        self.limits = limits or TableLimits.from_settings()
        check_extents(sheet_extents(workbook_stream(data)), self.limits)
        try:
            self._book = CalamineWorkbook.from_filelike(io.BytesIO(data))
            self.names = [m.name for m in self._book.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
        except Exception as exc:  # calamine's CalamineError, PasswordError, XmlError ...
            raise unreadable_xls(exc) from exc

    def grid(self, name: str) -> list[list[str]]:
        where = f"工作表“{name}”"
        try:
            sheet = self._book.get_sheet_by_name(name)
        except Exception as exc:
            raise unreadable_xls(exc) from exc
        rows, columns = (sheet.end[0] + 1, sheet.end[1] + 1) if sheet.end else (0, 0)
        if columns > self.limits.max_columns:  # the extents said otherwise: never trust one check alone
            raise self.limits.too_many_columns(where, columns)
        if rows > self.limits.max_rows:
            raise self.limits.too_many_rows(where, rows)
        # row k = spreadsheet row k + 1, every row as wide as the sheet
        return [[cell_text(v) for v in row] for row in sheet.to_python(skip_empty_area=False)]

    def close(self) -> None:
        self._book.close()

    def __enter__(self) -> XlsBook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
