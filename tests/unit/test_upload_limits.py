"""Bounded reading of everything a county uploads, without a database: XLSX sheets and CSV files
within row and column limits (refused from an XLSX sheet's declared dimension before any cell is
read, and while streaming when the dimension lies or is missing), lists of status reports counted
as they are decoded, reports that list a bounded number of rejected rows, and shapefiles whose DBF
header is corrupt refused as ``unreadable`` instead of crashing."""

from __future__ import annotations

import json
import re
import time
import tracemalloc
import zipfile
from pathlib import Path

import openpyxl
import pytest
from dbf_files import CORRUPTIONS, corrupt_copy, write_grids_shapefile
from sheets import cell, register_rows, row_xml, sheet_xml, write_xlsx
from typer.testing import CliRunner

from gridmap.cli import app
from gridmap.config import get_settings
from gridmap.db.cameras import UpsertCounts
from gridmap.io.boundaries import read_boundary_file
from gridmap.io.boundary_formats import BoundaryReadError
from gridmap.io.cameras import RowProblem, read_camera_file
from gridmap.io.status_updates import load_reports_json, read_status_updates
from gridmap.io.tables import CameraReadError, TableLimits, TableTooLarge, xlsx_sheets
from gridmap.services.cameras import ImportResult, StatusResult

DATA_DIR = get_settings().data_dir
COUNTY = "411628"
runner = CliRunner()


def _refusal(call, *args, **kwargs) -> tuple[TableTooLarge, float, float]:
    """The ``TableTooLarge`` ``call`` raises, the seconds it took and the peak MB Python allocated."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(TableTooLarge) as refused:
            call(*args, **kwargs)
        return refused.value, time.perf_counter() - start, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _xfd_register(path: Path, rows: int = 2000) -> Path:
    """A register as openpyxl writes it, with one stray cell in the last column (XFD1): its
    declared dimension is A1:XFD<rows+1>, the file a few dozen KB."""
    book = openpyxl.Workbook()
    sheet = book.active
    for values in register_rows(rows):
        sheet.append(values)
    sheet.cell(row=1, column=16_384, value="x")
    book.save(path)
    return path


def _with_dimension(path: Path, out: Path, dimension: str | None) -> Path:
    """``path`` with its first sheet's ``<dimension>`` saying ``dimension`` (None: without one)."""
    new = f'<dimension ref="{dimension}"/>'.encode() if dimension else b""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data, count = re.subn(rb'<dimension ref="[^"]*"\s*/>', new, data)
                assert count == 1
            dst.writestr(info.filename, data)
    return out


# ------------------------------------------------------------------------------------------ XLSX


def test_a_sheet_reaching_column_xfd_is_refused_from_its_dimension(tmp_path):
    path = _xfd_register(tmp_path / "台账.xlsx")
    assert path.stat().st_size < 100_000
    refused, seconds, peak_mb = _refusal(read_camera_file, path, county_code=COUNTY)
    assert (refused.code, refused.http_status) == ("too_many_columns", 413)
    assert refused.detail["dimension"] == "A1:XFD2001" and refused.detail["columns"] == 16_384
    assert "256" in refused.message and "XFD" in refused.message and "GRIDMAP_MAX_TABLE_COLUMNS" in refused.message
    # Refused before any row was read: not one 16,384-cell row was built (each would be ~128 KB of
    # pointers alone; before, this file took ~3 GB and half a minute).
    assert peak_mb < 20 and seconds < 5


@pytest.mark.parametrize("dimension", ["A1:E2001", None], ids=["dimension_lies", "no_dimension"])
def test_a_cell_beyond_the_column_limit_stops_the_reading_when_the_dimension_does_not_say_so(tmp_path, dimension):
    real = _xfd_register(tmp_path / "real.xlsx")
    path = _with_dimension(real, tmp_path / "台账.xlsx", dimension)
    refused, seconds, peak_mb = _refusal(read_camera_file, path, county_code=COUNTY)
    assert refused.code == "too_many_columns" and refused.detail["row"] == 1
    assert refused.detail["columns"] == 16_384 and refused.detail["dimension"] is None
    assert peak_mb < 20 and seconds < 5


def test_a_row_of_a_million_cells_is_refused_at_the_first_cell_beyond_the_limit(tmp_path):
    """Cells without references (the XML allows it), no dimension: the row is refused while it is
    parsed, not built first (a million XML elements would be hundreds of MB)."""
    million = f"<row>{cell(None, '设备编码')}{'<c/>' * 1_000_000}</row>"
    path = write_xlsx(tmp_path / "台账.xlsx", sheet_xml([million], None), stored=True)
    assert path.stat().st_size > 4_000_000
    refused, _seconds, peak_mb = _refusal(xlsx_sheets, path)
    assert refused.code == "too_many_columns" and refused.detail["columns"] == 257
    assert peak_mb < 20


def test_rows_beyond_the_limit_are_refused_by_dimension_or_while_streaming(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDMAP_MAX_TABLE_ROWS", "100")
    rows = [row_xml(k, values) for k, values in enumerate(register_rows(150), start=1)]
    declared = write_xlsx(tmp_path / "declared.xlsx", sheet_xml(rows, "A1:E151"))
    refused = _refusal(read_camera_file, declared, county_code=COUNTY)[0]
    assert refused.code == "too_many_rows" and refused.detail == {"rows": 151, "max_rows": 100, "dimension": "A1:E151"}
    assert "拆分" in refused.message and "GRIDMAP_MAX_TABLE_ROWS" in refused.message
    for dimension in ("A1:E10", None):
        streamed = write_xlsx(tmp_path / "streamed.xlsx", sheet_xml(rows, dimension))
        refused = _refusal(read_camera_file, streamed, county_code=COUNTY)[0]
        assert refused.code == "too_many_rows" and refused.detail["rows"] is None
    # 100 rows (a header and 99 cameras) is within the limit.
    exact = write_xlsx(tmp_path / "exact.xlsx", sheet_xml(rows[:100], None))
    assert read_camera_file(exact, county_code=COUNTY).source_rows == 99


def test_the_sample_register_reads_as_before_within_limits_set_to_its_own_size(monkeypatch):
    """The sample register: 10,521 rows (header + 10,520 cameras) by 13 columns. Limits of exactly
    that size read it whole, as the defaults do; one row or column fewer refuses it."""
    for name in ("luyi_cameras.xlsx", "luyi_cameras.csv"):
        default = read_camera_file(DATA_DIR / name, county_code=COUNTY)
        monkeypatch.setenv("GRIDMAP_MAX_TABLE_ROWS", "10521")
        monkeypatch.setenv("GRIDMAP_MAX_TABLE_COLUMNS", "13")
        exact = read_camera_file(DATA_DIR / name, county_code=COUNTY)
        assert exact.source_rows == default.source_rows == 10_520 and exact.rejected == default.rejected == []
        assert exact.cameras.equals(default.cameras)
        monkeypatch.setenv("GRIDMAP_MAX_TABLE_ROWS", "10520")
        assert _refusal(read_camera_file, DATA_DIR / name, county_code=COUNTY)[0].code == "too_many_rows"
        monkeypatch.setenv("GRIDMAP_MAX_TABLE_ROWS", "10521")
        monkeypatch.setenv("GRIDMAP_MAX_TABLE_COLUMNS", "12")
        assert _refusal(read_camera_file, DATA_DIR / name, county_code=COUNTY)[0].code == "too_many_columns"
        monkeypatch.delenv("GRIDMAP_MAX_TABLE_ROWS")
        monkeypatch.delenv("GRIDMAP_MAX_TABLE_COLUMNS")


def test_only_the_sheets_up_to_the_register_are_read(tmp_path, monkeypatch):
    """A workbook whose first sheet is the register and whose second is huge imports: the sheets
    after the one with the header are not read (asking for the huge one by name refuses it)."""
    monkeypatch.setenv("GRIDMAP_MAX_TABLE_ROWS", "50")
    book = openpyxl.Workbook()
    book.active.title = "台账"
    for values in register_rows(10):
        book.active.append(values)
    log = book.create_sheet("日志")
    for k in range(200):
        log.append([f"第{k}条"])
    path = tmp_path / "台账.xlsx"
    book.save(path)
    assert read_camera_file(path, county_code=COUNTY).source_rows == 10
    refused = _refusal(read_camera_file, path, county_code=COUNTY, sheet="日志")[0]
    assert refused.code == "too_many_rows" and "工作表“日志”" in refused.message


def test_sparse_rows_and_cells_keep_their_places(tmp_path):
    """Rows and cells the XML leaves out are empty; references in lower case are references;
    cells without one follow the previous cell; the first rows are as wide as the sheet."""
    rows = [
        f'<row r="1">{cell("a1", "设备编码")}{cell("C1", "经度")}</row>',
        f'<row r="4">{cell("b4", "x")}{cell(None, "y")}</row>',
    ]
    path = write_xlsx(tmp_path / "台账.xlsx", sheet_xml(rows, "A1:D4"))
    assert xlsx_sheets(path) == {"台账": [["设备编码", "", "经度", ""], [""] * 4, [""] * 4, ["", "x", "y", ""]]}


def test_a_sheet_with_a_broken_cell_reference_is_unreadable(tmp_path):
    path = write_xlsx(tmp_path / "台账.xlsx", sheet_xml([f'<row r="1">{cell("1A", "设备编码")}</row>'], None))
    with pytest.raises(CameraReadError) as refused:
        read_camera_file(path, county_code=COUNTY)
    assert refused.value.code == "unreadable"


# ------------------------------------------------------------------------------------------- CSV


def _csv(path: Path, rows: list[list[str]]) -> Path:
    path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_csv_rows_and_columns_beyond_the_limits_are_refused_while_reading(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDMAP_MAX_TABLE_ROWS", "100")
    monkeypatch.setenv("GRIDMAP_MAX_TABLE_COLUMNS", "20")
    rows = register_rows(150)
    refused = _refusal(read_camera_file, _csv(tmp_path / "a.csv", rows), county_code=COUNTY)[0]
    assert (refused.code, refused.http_status, refused.detail["max_rows"]) == ("too_many_rows", 413, 100)
    assert read_camera_file(_csv(tmp_path / "b.csv", rows[:100]), county_code=COUNTY).source_rows == 99
    wide = [r + [""] * 16 for r in rows[:10]]  # 21 fields a row
    refused = _refusal(read_camera_file, _csv(tmp_path / "c.csv", wide), county_code=COUNTY)[0]
    assert refused.code == "too_many_columns" and refused.detail["row"] == 1 and refused.detail["columns"] == 21


def test_records_are_counted_not_lines(tmp_path, monkeypatch):
    """Quoted cells may hold line breaks: 6 records on 21 lines are within a limit of 10 rows."""
    monkeypatch.setenv("GRIDMAP_MAX_TABLE_ROWS", "10")
    rows = register_rows(5)
    for values in rows[1:]:
        values[1] = '"第一行\n第二行\n第三行\n第四行"'
    table = read_camera_file(_csv(tmp_path / "a.csv", rows), county_code=COUNTY)
    assert table.source_rows == 5 and table.cameras["name"].iloc[0] == "第一行\n第二行\n第三行\n第四行"
    refused = _refusal(read_camera_file, _csv(tmp_path / "b.csv", register_rows(10)), county_code=COUNTY)[0]
    assert refused.code == "too_many_rows" and refused.message.startswith("文件超过上限 10 行：")


def test_a_csv_line_of_millions_of_fields_is_refused_before_it_is_split(tmp_path):
    path = tmp_path / "台账.csv"
    path.write_bytes(("\ufeff设备编码" + "," * 4_000_000 + "\n").encode())
    refused = _refusal(read_camera_file, path, county_code=COUNTY)[0]
    # Refused by the line's delimiters (more than 4 × 256), before the csv module made a list of
    # 4 million cells of it: splitting it would have counted 4,000,001.
    assert refused.code == "too_many_columns" and refused.detail["columns"] == 4 * 256 + 1


def test_quoted_delimiters_are_not_columns(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDMAP_MAX_TABLE_COLUMNS", "10")
    rows = register_rows(3)
    rows[1][1] = '"' + "," * 200 + '"'  # a name of 200 commas, quoted: one cell
    table = read_camera_file(_csv(tmp_path / "a.csv", rows), county_code=COUNTY)
    assert table.source_rows == 3 and table.cameras["name"].iloc[0] == "," * 200


# ---------------------------------------------------------------------------------- status reports


def test_a_json_list_of_reports_is_counted_as_it_is_decoded(monkeypatch):
    monkeypatch.setenv("GRIDMAP_MAX_TABLE_ROWS", "100")
    item = '{"device_id": "41162800011318000001", "online": "ON"}'
    for wrap in ("[{}]", '{{"reports": [{}]}}', '{{"updates": [{}], "x": 1}}'):
        # Items after the 101st are never decoded: the text there need not even be JSON.
        text = wrap.format(",".join([item] * 101) + ", this is not JSON")
        refused = _refusal(load_reports_json, text)[0]
        assert refused.code == "too_many_rows" and "100 条" in refused.message and "分批" in refused.message
        within = wrap.format(",".join([item] * 100))
        assert load_reports_json(within) == json.loads(within)
    assert _refusal(read_status_updates, ("[" + ",".join([item] * 101) + "]").encode())[0].code == "too_many_rows"
    assert _refusal(read_status_updates, [json.loads(item)] * 101)[0].code == "too_many_rows"
    assert read_status_updates([json.loads(item)] * 100).source_rows == 100


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "{}",
        ' \n [ {"a": [1, 2, {"b": null}]} , 2 , "x" ] \n',
        '{"reports": [], "n": 1}',
        '{"Updates": [{"device_id": "1"}], "meta": {"reports": [1]}}',
        '"just a string"',
        "3",
    ],
)
def test_load_reports_json_is_json_loads_within_the_limit(text):
    assert load_reports_json(text) == json.loads(text)


@pytest.mark.parametrize("text", ["[1, 2", "[1 2]", "[1,]", '{"reports": [1}', '{"a" 1}', "{1: 2}", "[1] x", ""])
def test_load_reports_json_fails_where_json_loads_fails(text):
    with pytest.raises(json.JSONDecodeError) as ours:
        load_reports_json(text)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(text)
    assert ours.value.pos == theirs.value.pos


def test_status_sheets_share_the_limits(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDMAP_MAX_TABLE_ROWS", "10")
    body = "设备编码,在线状态\n" + "".join(f"41162800011318{k:06d},在线\n" for k in range(1, 11))
    assert _refusal(read_status_updates, body.encode())[0].code == "too_many_rows"
    assert read_status_updates(body.encode()[: body.encode().rindex(b"4116")]).source_rows == 9


# ---------------------------------------------------------------------------------------- reports


def _problems(n: int) -> list[RowProblem]:
    codes = ("device_id_format", "coord_missing", "status_unknown")
    return [RowProblem(k + 2, codes[k % 3], f"第 {k + 2} 行的问题", None, "设备编码", f"值{k}") for k in range(n)]


def test_reports_list_the_first_rejected_rows_and_count_all_of_them(monkeypatch):
    result = ImportResult("a.csv", "cgcs2000", COUNTY, 2500, UpsertCounts(0, 0, 0), _problems(2500))
    report = result.to_dict()  # the default: 1,000 listed
    assert report["rejected_count"] == 2500 and len(report["rejected"]) == 1000 and report["rejected_truncated"]
    assert report["rejected_by_code"] == {"device_id_format": 834, "coord_missing": 833, "status_unknown": 833}
    assert report["rejected"][-1]["row"] == 1001
    assert any("只列出前 1,000 行" in n and "--rejected" in n for n in report["notes"])
    assert len(json.dumps(report, ensure_ascii=False)) < 200_000
    monkeypatch.setenv("GRIDMAP_MAX_REPORT_REJECTED", "5")
    small = result.to_dict()
    assert [p["row"] for p in small["rejected"]] == [2, 3, 4, 5, 6] and small["rejected_count"] == 2500
    outside = [{"device_id": f"d{k}", "row": k, "lon": 115.0, "lat": 33.0} for k in range(12)]
    some_outside = ImportResult("a.csv", "cgcs2000", COUNTY, 12, UpsertCounts(12, 0, 0), [], outside).to_dict()
    assert (some_outside["outside_count"], len(some_outside["outside"]), some_outside["outside_truncated"]) == (
        12,
        5,
        True,
    )
    whole = ImportResult("a.csv", "cgcs2000", COUNTY, 4, UpsertCounts(1, 0, 0), _problems(3)).to_dict()
    assert whole["rejected_truncated"] is False and len(whole["rejected"]) == 3
    assert whole["outside_truncated"] is False and whole["rejected_by_code"] == {
        "device_id_format": 1,
        "coord_missing": 1,
        "status_unknown": 1,
    }
    assert not any("只列出" in n for n in whole["notes"])
    status = StatusResult(3000, 0, 0, _problems(3000)).to_dict()
    assert (len(status["rejected"]), status["rejected_count"], status["rejected_truncated"]) == (5, 3000, True)
    assert sum(status["rejected_by_code"].values()) == 3000


def test_any_number_of_rejected_rows_make_a_report_of_bounded_size():
    report = ImportResult("a.csv", "cgcs2000", COUNTY, 10**6, UpsertCounts(0, 0, 0), _problems(200_000)).to_dict()
    assert report["rejected_count"] == 200_000
    assert len(json.dumps(report, ensure_ascii=False).encode()) < 1_000_000  # PostgreSQL's jsonb takes 256 MB


# ---------------------------------------------------------------------------- corrupt DBF headers


@pytest.fixture(scope="module")
def shapefile(tmp_path_factory) -> Path:
    return write_grids_shapefile(tmp_path_factory.mktemp("shp"))


def test_the_uncorrupted_shapefile_reads(shapefile):
    assert len(read_boundary_file(shapefile).areas) == 20


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_a_corrupt_dbf_header_is_unreadable_with_a_reason(shapefile, tmp_path, name):
    corruption, word = CORRUPTIONS[name]
    path = corrupt_copy(shapefile, tmp_path / name, corruption)
    start = time.perf_counter()
    with pytest.raises(BoundaryReadError) as refused:
        read_boundary_file(path)
    assert time.perf_counter() - start < 5
    assert refused.value.code == "unreadable" and refused.value.http_status == 422
    assert "网格.dbf" in refused.value.message and "文件头已损坏" in refused.value.message
    assert word in refused.value.message, refused.value.message
    with pytest.raises(BoundaryReadError) as with_encoding:  # an explicit encoding does not skip the check
        read_boundary_file(path, encoding="GBK")
    assert with_encoding.value.code == "unreadable"


@pytest.mark.parametrize("name", ["header_length_beyond_the_file", "record_count_huge", "descriptors_garbage"])
def test_gridmap_validate_says_why_a_corrupt_dbf_cannot_be_read(shapefile, tmp_path, name):
    path = corrupt_copy(shapefile, tmp_path / name, CORRUPTIONS[name][0])
    result = runner.invoke(app, ["validate", str(path), "--no-db"])
    assert result.exit_code == 2, result.output  # 2: the file cannot be used (README, exit codes)
    assert isinstance(result.exception, SystemExit)  # no traceback
    assert result.stdout == ""
    line = result.stderr.strip()
    assert line.startswith("gridmap: 无法读取") and "文件头已损坏" in line and line.endswith("（unreadable）"), line
    assert "Traceback" not in result.output and "Error" not in result.output


def test_read_the_limits_from_the_settings(monkeypatch):
    monkeypatch.setenv("GRIDMAP_MAX_TABLE_ROWS", "7")
    monkeypatch.setenv("GRIDMAP_MAX_TABLE_COLUMNS", "9")
    assert TableLimits.from_settings() == TableLimits(7, 9)
    defaults = get_settings().model_copy(update={"max_table_rows": 500_000})
    assert TableLimits.from_settings(defaults).max_rows == 500_000
    monkeypatch.setenv("GRIDMAP_MAX_TABLE_ROWS", "0")
    with pytest.raises(Exception, match="GRIDMAP_MAX_TABLE_ROWS"):
        get_settings()
