"""Excel 97–2003 (.xls) camera registers: real files written by xlwt, read by gridmap.io.xls
(python-calamine after the BIFF records are walked for the sheet's extent)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import xlwt

from gridmap.config import get_settings
from gridmap.io.cameras import CameraReadError, read_camera_file
from gridmap.io.tables import TableLimits, TableTooLarge, read_table
from gridmap.io.xls import XLS_MAX_CELLS

DATA_DIR = get_settings().data_dir
COUNTY = "411628"
EXTENT = (115.27, 33.65, 115.69, 34.07)
GOOD = "41162800011318000001"
DATE = xlwt.easyxf(num_format_str="YYYY-MM-DD")


def write_xls(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    """A real .xls: each sheet's rows from row 1 (None: an empty cell; dates formatted as dates)."""
    book = xlwt.Workbook(encoding="utf-8")
    for name, rows in sheets.items():
        sheet = book.add_sheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, dt.date):
                    sheet.write(r, c, value, DATE)
                else:
                    sheet.write(r, c, value)
    book.save(str(path))
    return path


def sample_rows(n: int) -> list[list[str]]:
    with open(DATA_DIR / "luyi_cameras.csv", encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))[: n + 1]


def test_text_ids_stay_exact_and_number_ids_are_rejected(tmp_path):
    path = write_xls(
        tmp_path / "cams.xls",
        {
            "说明": [["本文件为摄像头点位登记表"]],
            "点位": [
                ["鹿邑县公共视频监控点位表"],
                [],
                ["序号", "设备国标编码", "点位名称", "经度", "纬度", "安装状态", "在线状态", "安装日期"],
                [1, GOOD, "村口", 115.4979, 33.9382, "已安装", "在线", dt.date(2023, 11, 16)],  # row 4
                [2, 41162800011318000002, "数字", 115.49, 33.93, "已安装", "在线", None],  # row 5: a number id
                [3, 41162800011318003, "17位数字", 115.49, 33.93, "已安装", "在线", None],  # row 6: > 2**53
                [],  # row 7
                [4, "41162800011318000004", "离线", "115.48", "33.92", "已安装", "离线", 45000],  # row 8
            ],
        },
    )
    table = read_camera_file(path, county_code=COUNTY, extent=EXTENT)
    assert table.file_format == "xls"
    assert table.cameras["device_id"].tolist() == [GOOD, "41162800011318000004"]
    assert table.cameras["row"].tolist() == [4, 8]
    problems = {p.row: p for p in table.rejected}
    assert {row: p.code for row, p in problems.items()} == {5: "device_id_format", 6: "device_id_format"}
    assert "科学计数法" in problems[5].message  # the same reason as for an .xlsx
    assert problems[6].value != "41162800011318003"  # the float's digits, never a made-up integer
    assert table.cameras["installed_on"].tolist() == [dt.date(2023, 11, 16), dt.date(2023, 3, 15)]
    assert table.cameras["lon"].tolist() == [115.4979, 115.48]
    assert any("点位" in note for note in table.notes) and any("第 3 行" in note for note in table.notes)
    with pytest.raises(CameraReadError) as err:
        read_camera_file(path, sheet="不存在")
    assert err.value.code == "no_header" and "点位" in err.value.message


def test_sample_register_as_xls_reads_as_the_csv_does(tmp_path):
    rows = sample_rows(400)
    path = write_xls(tmp_path / "台账.xls", {"摄像头台账": rows})
    csv_path = tmp_path / "台账.csv"
    with open(csv_path, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)
    pd.testing.assert_frame_equal(read_camera_file(path).cameras, read_camera_file(csv_path).cameras)


def test_an_xlsx_renamed_xls_is_read_by_its_content(tmp_path):
    book = openpyxl.Workbook()
    for row in sample_rows(5):
        book.active.append(row)
    path = tmp_path / "cams.xls"
    book.save(path)
    assert len(read_camera_file(path).cameras) == 5


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(lambda good: bytes(range(256)) * 40, id="random-bytes"),
        pytest.param(lambda good: good[: len(good) // 2], id="truncated"),
        pytest.param(lambda good: good[:8] + bytes(len(good) - 8), id="ole-header-then-zeros"),
        pytest.param(lambda good: "<html><table><tr><td>设备编码</td></tr></table></html>".encode(), id="html"),
    ],
)
def test_a_corrupt_xls_is_unreadable_not_a_crash(tmp_path, content):
    good = write_xls(tmp_path / "good.xls", {"台账": sample_rows(300)}).read_bytes()
    path = tmp_path / "cams.xls"
    path.write_bytes(content(good))
    with pytest.raises(CameraReadError) as err:
        read_camera_file(path)
    assert err.value.code == "unreadable" and "xls" in err.value.message.lower()


def test_a_far_cell_is_refused_before_calamine_expands_the_sheet(tmp_path):
    # One cell at A1 and one at IV65536 in each of four sheets: 5.6 KB that calamine alone
    # expands into four dense grids of 16.7 million cells (2 GB).
    sheets = {f"表{k}": [["设备编码"]] for k in range(4)}
    book = xlwt.Workbook(encoding="utf-8")
    for name, rows in sheets.items():
        sheet = book.add_sheet(name)
        sheet.write(0, 0, rows[0][0])
        sheet.write(65535, 255, "远处")
    path = tmp_path / "far.xls"
    book.save(str(path))
    assert path.stat().st_size < 10_000
    started = time.process_time()
    with pytest.raises(TableTooLarge) as err:
        read_camera_file(path)
    assert time.process_time() - started < 0.5  # the records' headers only (4 GB of cells would take seconds)
    assert err.value.code == "too_many_cells" and err.value.status == 413
    assert err.value.detail["max_cells"] == XLS_MAX_CELLS and "表0" in err.value.message


def test_rows_and_columns_beyond_the_limits_are_refused(tmp_path):
    rows: list[list[object]] = [["设备编码", "经度", "纬度", "安装状态"]]
    rows += [[f"41162800011318{k:06d}", 115.4, 33.9, "已安装"] for k in range(30)]
    path = write_xls(tmp_path / "cams.xls", {"台账": rows})
    labels = {"device_id": "设备编码"}
    aliases = {"device_id": ("设备编码",)}
    table = read_table(path, "xls", aliases, ["device_id"], labels=labels, limits=TableLimits(31, 4))
    assert len(table.frame) == 30
    with pytest.raises(TableTooLarge) as err:
        read_table(path, "xls", aliases, ["device_id"], labels=labels, limits=TableLimits(30, 4))
    assert err.value.code == "too_many_rows"
    with pytest.raises(TableTooLarge) as err:
        read_table(path, "xls", aliases, ["device_id"], labels=labels, limits=TableLimits(100, 3))
    assert err.value.code == "too_many_columns"


def test_xls_bytes_read_like_a_file(tmp_path):
    data = write_xls(tmp_path / "cams.xls", {"台账": sample_rows(3)}).read_bytes()
    table = read_table(data, "xls", {"device_id": ("设备编码",)}, ["device_id"], labels={"device_id": "设备编码"})
    assert table.frame["设备编码"].tolist() == [r[0] for r in sample_rows(3)[1:]]
    assert io.BytesIO(data).read(8) == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def test_status_reports_as_xls_read_like_their_csv(tmp_path):
    """A video platform's status export saved as Excel 97–2003: the same reports as the CSV, by
    path and as uploaded bytes (recognised by the OLE header)."""
    import datetime as dt_

    from gridmap.io.status_updates import read_status_updates

    now = dt_.datetime(2026, 11, 21, 9, 0)
    rows = [
        ["国标编码", "状态", "上报时间"],
        ["41162800011318000001", "在线", "2026-11-21 08:00:00"],
        ["41162800011318000002", "离线", ""],
        ["4116280001131800000", "OFF", ""],  # a bad id
    ]
    xls = write_xls(tmp_path / "状态.xls", {"状态": rows})
    csv = tmp_path / "状态.csv"
    csv.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    want = read_status_updates(csv, default_time=now)
    for source in (xls, xls.read_bytes()):
        got = read_status_updates(source, default_time=now)
        assert got.updates.reset_index(drop=True).equals(want.updates.reset_index(drop=True))
        assert [p.code for p in got.rejected] == [p.code for p in want.rejected] == ["device_id_format"]
