"""Reading the sample's camera register (10,520 rows): openpyxl (our streamed XlsxBook, the XLSX
path) against python-calamine on the same .xlsx, and the .xls path (the BIFF walk + calamine) on
the same rows written by xlwt; median of several runs, all in one run.

    GRIDMAP_HOME=... python benchmarks/xls_reader.py [--runs 7]
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import tempfile
import time
from pathlib import Path

from gridmap.config import get_settings
from gridmap.io.tables import cell_text, xlsx_sheets
from gridmap.io.xls import XlsBook, sheet_extents, workbook_stream
from gridmap.sample.files import CAMERAS_CSV, CAMERAS_XLSX


def calamine_sheets(data: bytes) -> dict[str, list[list[str]]]:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    return {
        name: [[cell_text(v) for v in row] for row in book.get_sheet_by_name(name).to_python(skip_empty_area=False)]
        for name in book.sheet_names
    }


def xls_sheets(data: bytes) -> dict[str, list[list[str]]]:
    with XlsBook(data) as book:
        return {name: book.grid(name) for name in book.names}


def median_seconds(work, data: bytes, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work(data)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    import xlwt

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    data_dir = get_settings().data_dir
    xlsx = (data_dir / CAMERAS_XLSX).read_bytes()
    with open(data_dir / CAMERAS_CSV, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("摄像头台账")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    with tempfile.TemporaryDirectory() as folder:
        book.save(str(Path(folder) / "c.xls"))
        xls = (Path(folder) / "c.xls").read_bytes()

    a, b = xlsx_sheets(xlsx), calamine_sheets(xlsx)
    same = all(x == y[: len(x)] and not any(y[len(x) :]) for x, y in zip(*a.values(), *b.values()))
    print(f"{len(rows) - 1:,} rows × {len(rows[0])} columns; the two XLSX readers give the same text: {same}")
    base = median_seconds(xlsx_sheets, xlsx, runs)
    figures = {
        "xlsx, openpyxl (XlsxBook)": base,
        "xlsx, python-calamine": median_seconds(calamine_sheets, xlsx, runs),
        "xls, BIFF walk only": median_seconds(lambda d: sheet_extents(workbook_stream(d)), xls, runs),
        "xls, XlsBook (walk + calamine)": median_seconds(xls_sheets, xls, runs),
    }
    for name, seconds in figures.items():
        print(f"{name:34} {seconds * 1000:8.1f} ms   {base / seconds:5.1f}× openpyxl's speed")


if __name__ == "__main__":
    main()
