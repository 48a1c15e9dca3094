"""Readers: column detection (camera files: tests/test_camera_io.py)."""

from __future__ import annotations

import pytest

from gridmap.io.boundaries import AREA_FIELD_ALIASES
from gridmap.io.fields import detect_fields


def test_detects_chinese_and_english_area_fields():
    assert detect_fields(["编码", "名称", "上级编码", "户数"], AREA_FIELD_ALIASES) == {
        "code": "编码",
        "name": "名称",
        "parent_code": "上级编码",
        "households": "户数",
    }
    assert detect_fields(["CODE", "Name", "PARENT_CODE"], AREA_FIELD_ALIASES) == {
        "code": "CODE",
        "name": "Name",
        "parent_code": "PARENT_CODE",
    }
    assert detect_fields(["网格编码", "编码"], AREA_FIELD_ALIASES, explicit={"code": "编码"})["code"] == "编码"
    with pytest.raises(KeyError, match="不存在|not in the file"):
        detect_fields(["编码"], AREA_FIELD_ALIASES, explicit={"code": "代码"})
