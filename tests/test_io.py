"""Readers: column detection and clear errors for values they do not know."""

from __future__ import annotations

import pandas as pd
import pytest

from gridmap.io.cameras import read_camera_table
from gridmap.io.fields import detect_fields
from gridmap.io.boundaries import AREA_FIELD_ALIASES
from gridmap.sample.files import CAMERAS_CSV, CAMERAS_XLSX


def test_detects_chinese_and_english_area_fields():
    assert detect_fields(["编码", "名称", "上级编码", "户数"], AREA_FIELD_ALIASES) == {
        "code": "编码", "name": "名称", "parent_code": "上级编码", "households": "户数"}
    assert detect_fields(["CODE", "Name", "PARENT_CODE"], AREA_FIELD_ALIASES) == {
        "code": "CODE", "name": "Name", "parent_code": "PARENT_CODE"}
    assert detect_fields(["网格编码", "编码"], AREA_FIELD_ALIASES, explicit={"code": "编码"})["code"] == "编码"
    with pytest.raises(KeyError, match="不存在|not in the file"):
        detect_fields(["编码"], AREA_FIELD_ALIASES, explicit={"code": "代码"})


def test_camera_csv_and_xlsx_read_alike(data_dir):
    csv = read_camera_table(data_dir / CAMERAS_CSV)
    xlsx = read_camera_table(data_dir / CAMERAS_XLSX)
    pd.testing.assert_frame_equal(csv, xlsx)
    assert csv["status"].value_counts().to_dict() == {"installed": 10048, "planned": 472}
    assert int(csv["online"].sum()) == 9896


def test_unknown_status_is_reported_with_its_row(tmp_path):
    path = tmp_path / "cams.csv"
    pd.DataFrame({"设备编码": ["41162800001320000001", "41162800001320000002"],
                  "经度": ["115.4", "115.5"], "纬度": ["33.8", "33.9"],
                  "安装状态": ["已安装", "坏了"], "在线状态": ["在线", ""]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"坏了.*row\(s\) 3"):
        read_camera_table(path)


def test_missing_required_columns_are_named(tmp_path):
    path = tmp_path / "cams.csv"
    pd.DataFrame({"设备编码": ["41162800001320000001"], "经度": ["115.4"]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="lat, status"):
        read_camera_table(path)
