"""Column names with units and punctuation, and DBF names cut at 10 GBK bytes (gridmap.io.fields)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import geopandas as gpd
import openpyxl
import pyogrio
import pytest
from shapely.geometry import box

from gridmap.io.boundaries import AREA_FIELD_ALIASES, read_boundary_file
from gridmap.io.cameras import CAMERA_FIELD_ALIASES, CameraReadError, read_camera_file
from gridmap.io.encoding import read_dbf_header
from gridmap.io.fields import _bare, match_fields

GOOD = "41162800011318000001"
EXTENT = (115.27, 33.65, 115.69, 34.07)


def _csv(path: Path, rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    return path


@pytest.mark.parametrize(
    "lon,lat",
    [
        ("经度（°）", "纬度(度)"),
        ("经度（E）", "纬度（N）"),
        ("经度:", "纬度："),
        ("经\u3000度", "纬 度"),
        ("经度/°", "纬度/度"),
        ("经度°", "纬度[°N]"),
        ("经度【东经】", "纬度〔北纬〕"),
        ("Ｘ坐标（米）", "Y坐标(m)"),
        ("Longitude (deg)", "LATITUDE(degrees)"),
    ],
)
def test_units_and_punctuation_around_a_name_are_ignored(lon, lat):
    match = match_fields(["设备编码", lon, lat, "状态"], CAMERA_FIELD_ALIASES)
    assert (match.mapping["lon"], match.mapping["lat"]) == (lon, lat)
    assert match.unsure == []


def test_notes_say_which_decoration_was_ignored():
    match = match_fields(["设备编码", "经度（°）", "纬度：", "状态"], CAMERA_FIELD_ALIASES)
    assert match.notes == ["列“经度（°）”按“经度”识别（忽略单位）", "列“纬度：”按“纬度”识别（忽略标点）"]
    assert match_fields(["设备编码", "经度", "纬度", "状态"], CAMERA_FIELD_ALIASES).notes == []


def test_exact_names_win_over_decorated_ones():
    match = match_fields(["经度（°）", "经度", "纬度(N)"], CAMERA_FIELD_ALIASES)
    assert (match.mapping["lon"], match.mapping["lat"]) == ("经度", "纬度(N)")
    assert match.notes == ["列“纬度(N)”按“纬度”识别（忽略单位）"]


def test_no_two_fields_share_a_name_once_decorations_are_dropped():
    for aliases in (CAMERA_FIELD_ALIASES, AREA_FIELD_ALIASES):
        owners: dict[str, set[str]] = {}
        for canonical, names in aliases.items():
            for alias in names:
                owners.setdefault(_bare(alias), set()).add(canonical)
        assert {key: found for key, found in owners.items() if len(found) > 1} == {}
    assert _bare("经度（°）") != _bare("纬度（°）") and _bare("X(m)") != _bare("Y(m)")
    assert _bare("经度") == "经度"  # the 度 of the name itself stays


def test_two_decorated_columns_for_one_field_are_not_guessed():
    match = match_fields(["设备编码", "经度(°)", "经度（E）", "纬度"], CAMERA_FIELD_ALIASES)
    assert "lon" not in match.mapping and match.mapping["lat"] == "纬度"
    assert len(match.unsure) == 1 and "“经度(°)”" in match.unsure[0] and "“经度（E）”" in match.unsure[0]


def test_an_ambiguous_column_is_named_in_the_missing_columns_error(tmp_path):
    path = _csv(
        tmp_path / "cams.csv",
        [["设备编码", "经度(°)", "经度/E", "纬度", "状态"], [GOOD, "115.5", "1", "33.9", "已安装"]],
    )
    with pytest.raises(CameraReadError) as err:
        read_camera_file(path, extent=EXTENT)
    assert err.value.code == "missing_columns" and "无法确定" in err.value.message and "“经度/E”" in err.value.message


def test_dbf_names_cut_at_10_gbk_bytes_match_the_long_alias():
    match = match_fields(["编码", "名称", "所属村社区"], AREA_FIELD_ALIASES)
    assert match.mapping["parent_code"] == "所属村社区"
    assert match.notes == ["列“所属村社区”按“所属村社区编码”识别（字段名被 Shapefile 截断为 10 字节）"]
    # cut inside a character: GDAL shows the half character as U+FFFD, or the reader drops it
    assert match_fields(["编码", "所属村社\ufffd"], AREA_FIELD_ALIASES).mapping["parent_code"] == "所属村社\ufffd"
    assert match_fields(["编码", "所属村社"], AREA_FIELD_ALIASES).mapping["parent_code"] == "所属村社"
    assert match_fields(["code", "parent_cod"], AREA_FIELD_ALIASES).mapping["parent_code"] == "parent_cod"


def test_short_names_are_never_taken_as_cut():
    # "上级" begins 上级网格编码 but is 4 bytes: nowhere near the DBF limit
    assert "parent_code" not in match_fields(["编码", "上级"], AREA_FIELD_ALIASES).mapping
    # 10 bytes, but every alias it begins is 10 bytes or less: nothing was cut
    assert "worker_name" not in match_fields(["编码", "网格员姓名"[:4]], AREA_FIELD_ALIASES).mapping
    assert match_fields(["编码", "专职网格"], AREA_FIELD_ALIASES).notes == []


def test_a_cut_name_that_begins_aliases_of_two_fields_is_not_used():
    match = match_fields(["编码", "行政区划"], AREA_FIELD_ALIASES)  # 行政区划代码 (code) or 行政区划名称 (name)
    assert match.mapping == {"code": "编码"}
    assert match.unsure == [
        "列“行政区划”可能是被截断的 “行政区划代码”或“行政区划名称”，无法确定，未使用；请指定字段对应的列"
    ]
    # explicit mapping settles it
    assert match_fields(["编码", "行政区划"], AREA_FIELD_ALIASES, {"name": "行政区划"}).mapping["name"] == "行政区划"


def test_csv_register_with_units_in_the_coordinate_headers(tmp_path):
    rows = [["设备编码", "经度（°）", "纬度(度)", "安装状态"], [GOOD, "115.4979", "33.8612", "已安装"]]
    table = read_camera_file(_csv(tmp_path / "cams.csv", rows), extent=EXTENT)
    assert table.rejected == [] and (table.mapping["lon"], table.mapping["lat"]) == ("经度（°）", "纬度(度)")
    assert (table.cameras.loc[0, "raw_x"], table.cameras.loc[0, "raw_y"]) == (115.4979, 33.8612)
    assert table.cameras.loc[0, "lon"] == pytest.approx(115.4979) and table.cameras.loc[0, "lat"] == pytest.approx(
        33.8612
    )
    assert "列“经度（°）”按“经度”识别（忽略单位）" in table.notes
    assert "列“纬度(度)”按“纬度”识别（忽略单位）" in table.notes


def test_xlsx_register_with_axis_letters_in_the_coordinate_headers(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["点位清单"])
    sheet.append(["设备编码", "设备名称", "经度（E）", "纬度（N）", "安装状态"])
    sheet.append([GOOD, "路口1", "115.5021", "33.9034", "已安装"])
    book.save(tmp_path / "cams.xlsx")
    table = read_camera_file(tmp_path / "cams.xlsx", extent=EXTENT)
    assert table.rejected == [] and table.cameras.loc[0, "name"] == "路口1"
    assert (table.cameras.loc[0, "raw_x"], table.cameras.loc[0, "raw_y"]) == (115.5021, 33.9034)
    assert "列“经度（E）”按“经度”识别（忽略单位）" in table.notes


def test_gbk_shapefile_whose_long_chinese_field_names_gdal_cut(tmp_path):
    cells = [box(115.50, 33.90, 115.51, 33.91), box(115.51, 33.90, 115.52, 33.91)]
    frame = gpd.GeoDataFrame(
        {
            "行政区划代码": ["411628001001", "411628001002"],
            "行政区划名称": ["第一网格", "第二网格"],
            "所属村社区编码": ["411628001", "411628001"],
        },
        geometry=cells,
        crs=4490,
    )
    path = tmp_path / "grids.shp"
    with pytest.warns(RuntimeWarning, match="Normalized/laundered"):
        pyogrio.write_dataframe(frame, path, encoding="GBK")
    names = [f.name for f in read_dbf_header(path.with_suffix(".dbf").read_bytes()).fields]
    assert names == ["行政区划代".encode("gbk"), "行政区划名".encode("gbk"), "所属村社区".encode("gbk")]
    bf = read_boundary_file(path)
    assert bf.field_mapping == {"code": "行政区划代", "name": "行政区划名", "parent_code": "所属村社区"}
    assert bf.areas["parent_code"].tolist() == ["411628001", "411628001"]
    assert bf.areas["name"].tolist() == ["第一网格", "第二网格"]
    assert "列“所属村社区”按“所属村社区编码”识别（字段名被 Shapefile 截断为 10 字节）。" in bf.notes
    assert "列“行政区划代”按“行政区划代码”识别（字段名被 Shapefile 截断为 10 字节）。" in bf.notes
