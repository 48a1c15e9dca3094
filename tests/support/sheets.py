"""XLSX files written part by part for the tests: the sheet XML exactly as a test needs it (a
dimension that lies or is missing, cells without references, a row of a million cells), which no
spreadsheet library would write."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import escape

_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
</Types>"""
_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""
_WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets>
</workbook>"""
_WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>
</Relationships>"""
SHEET_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'


def cell(ref: str | None, text: str) -> str:
    """An inline-string cell (``ref`` None: no reference, the cell follows the previous one)."""
    where = f' r="{ref}"' if ref else ""
    return f'<c{where} t="inlineStr"><is><t>{escape(text)}</t></is></c>'


def row_xml(number: int, values: Iterable[str]) -> str:
    """Row ``number`` with ``values`` from column A on (empty strings skipped, as Excel does)."""
    from openpyxl.utils import get_column_letter

    cells = "".join(cell(f"{get_column_letter(k)}{number}", v) for k, v in enumerate(values, start=1) if v)
    return f'<row r="{number}">{cells}</row>'


def sheet_xml(rows: Iterable[str], dimension: str | None) -> str:
    """A worksheet with ``rows`` (``row_xml`` strings) and, unless None, ``<dimension ref=…>``."""
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return f"{SHEET_HEAD}{dim}<sheetData>{''.join(rows)}</sheetData></worksheet>"


def write_xlsx(path: Path, sheet: str, *, name: str = "台账", stored: bool = False) -> Path:
    """A workbook of one sheet ``name`` whose XML is ``sheet`` (see :func:`sheet_xml`). ``stored``:
    members not compressed (a huge but repetitive sheet then passes the archive's ratio check)."""
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w", method) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr("xl/workbook.xml", _WORKBOOK.format(name=escape(name)))
        zf.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        zf.writestr("xl/worksheets/sheet1.xml", sheet)
    return path


def register_rows(n: int, first: int = 1) -> list[list[str]]:
    """A header and ``n`` camera rows of the sample county (valid ids, inside the county)."""
    rows = [["设备编码", "设备名称", "经度", "纬度", "安装状态"]]
    rows += [
        [f"41162800011318{900000 + first + k:06d}", f"点位{k}", f"{115.45 + k * 1e-5:.6f}", "33.90", "已安装"]
        for k in range(n)
    ]
    return rows
