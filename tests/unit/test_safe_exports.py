"""Exports county staff open in Excel or WPS never carry a formula: a name that starts one is shown
as text (OWASP: CSV injection)."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from gridmap.coverage.formats import safe_text, to_csv, write_xlsx
from gridmap.coverage.rates import Counts
from gridmap.coverage.table import CoverageRow

HOSTILE = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1+1"]


def _row(name: str, code: str, operator: str = "中国移动") -> CoverageRow:
    counts = Counts(planned=10, installed=9, online=8)
    return CoverageRow(code, name, 4, None, counts, 0.5, 30, 0, 0, {operator: counts})


@pytest.mark.parametrize("name", HOSTILE)
def test_text_that_would_start_a_formula_gets_an_apostrophe(name):
    assert safe_text(name) == "'" + name
    assert safe_text("鹿邑县") == "鹿邑县" and safe_text(-3) == -3 and safe_text(None) is None


def test_csv_cells_never_start_a_formula():
    rows = [_row(name, f"41162800100100100{i}", operator=name) for i, name in enumerate(HOSTILE)]
    table = list(csv.reader(io.StringIO(to_csv(rows), newline="")))
    cells = [cell for line in table[1:] for cell in line]
    assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r")) or (c.startswith("-") and c[1:2] != "")]
    assert {line[1] for line in table[1:]} == {"'" + name for name in HOSTILE}


def test_xlsx_holds_values_never_formulas(tmp_path):
    path = tmp_path / "coverage.xlsx"
    write_xlsx([_row(name, f"41162800100100100{i}", operator=name) for i, name in enumerate(HOSTILE)], path)
    with zipfile.ZipFile(path) as xlsx:
        sheets = [xlsx.read(n).decode() for n in xlsx.namelist() if n.startswith("xl/worksheets/sheet")]
    assert len(sheets) == 2 and not any("<f>" in s or "<f " in s for s in sheets)
    from openpyxl import load_workbook

    wb = load_workbook(path)
    names = {c.value for c in wb["覆盖统计"]["B"][1:]}
    assert names == {n.replace("\r", "\n") for n in HOSTILE}  # shown as named, as text (XML turns CR into LF)
