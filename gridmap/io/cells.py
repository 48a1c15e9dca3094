"""Cells of the tables county staff open in Excel or WPS (CSV and XLSX downloads): text that would
start a formula stays text (OWASP: CSV injection). Used by the coverage tables
(``gridmap.coverage.formats``) and the bulk exports (``gridmap.io.exports``)."""

from __future__ import annotations

from typing import Any

#: A text cell starting with one of these is read as a formula by Excel and WPS (OWASP: CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: Any) -> Any:
    """A cell for a CSV that county staff open in Excel or WPS: text that would start a formula
    gets a leading apostrophe (OWASP's advice), so it is shown, never run; other values as they are."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) else value


def as_values(sheet: Any) -> None:
    """Every cell of ``sheet`` (openpyxl) as a value: openpyxl stores a string starting with "=" as
    a formula; here it stays the text it is (an area named "=cmd|..." is shown, never run)."""
    for row in sheet.iter_rows():
        for cell in row:
            if cell.data_type == "f":
                cell.data_type = "s"
