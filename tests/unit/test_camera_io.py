"""Camera register, device id, point coordinate and status report readers (no database needed)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import prcoords
import pyogrio
import pytest
from pyproj import Geod, Transformer

from gridmap.config import get_settings
from gridmap.io.cameras import CameraReadError, read_camera_file
from gridmap.io.coords import from_wgs84, normalize_point_crs, to_storage
from gridmap.io.crs import CrsUnknownError
from gridmap.io.device_ids import check_device_ids, describe
from gridmap.io.status_updates import read_status_updates

DATA_DIR = get_settings().data_dir
COUNTY = "411628"
EXTENT = (115.27, 33.65, 115.69, 34.07)
GEOD = Geod(ellps="GRS80")
HEADER = ["设备编码", "设备名称", "经度", "纬度", "安装状态", "在线状态", "运营商", "安装日期"]


def _write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8", delimiter: str = ",") -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def _sample_points(n: int = 50) -> pd.DataFrame:
    """n sample camera points spread over the county (lon/lat degrees), read without our reader."""
    raw = pd.read_csv(DATA_DIR / "luyi_cameras.csv", dtype=str, encoding="utf-8-sig")
    picked = raw.iloc[np.linspace(0, len(raw) - 1, n).astype(int)]
    return pd.DataFrame(
        {
            "device_id": picked["设备编码"].to_numpy(),
            "lon": picked["经度"].astype(float).to_numpy(),
            "lat": picked["纬度"].astype(float).to_numpy(),
        }
    )


def _distances_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(np.asarray(lon1), np.asarray(lat1), np.asarray(lon2), np.asarray(lat2))[2])


def _problems(table) -> dict[int, str]:
    return {p.row: p.code for p in table.rejected}


# ------------------------------------------------------------------------------------------------
# The real sample files
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_tables():
    return {
        name: read_camera_file(DATA_DIR / name, county_code=COUNTY, extent=EXTENT)
        for name in ("luyi_cameras.csv", "luyi_cameras.xlsx")
    }


@pytest.mark.parametrize("name,fmt", [("luyi_cameras.csv", "csv"), ("luyi_cameras.xlsx", "xlsx")])
def test_sample_register_reads_completely(sample_tables, name, fmt):
    table = sample_tables[name]
    cams = table.cameras
    assert table.file_format == fmt
    assert table.rejected == []
    assert table.source_rows == 10520 and len(cams) == 10520
    assert cams["status"].value_counts().to_dict() == {"installed": 10048, "planned": 472}
    assert int(cams["online"].sum()) == 9896
    assert not (cams["online"] & (cams["status"] != "installed")).any()
    assert cams["row"].iloc[0] == 2 and cams["row"].iloc[-1] == 10521
    assert cams["device_id"].str.fullmatch(r"41162800\d{12}").all() and cams["device_id"].is_unique
    assert cams.loc[0, "device_id"] == "41162800011318000001"
    assert cams.loc[0, "installed_on"] == dt.date(2023, 11, 16)
    assert cams.loc[0, "grid_code"] == "411628001001001" and cams.loc[0, "operator"] == "中国移动"
    assert table.crs == "cgcs2000"
    np.testing.assert_array_equal(cams["lon"], cams["raw_x"])  # CGCS2000 in, CGCS2000 stored
    assert cams["lon"].between(EXTENT[0], EXTENT[2]).all() and cams["lat"].between(EXTENT[1], EXTENT[3]).all()
    assert {"device_id", "lon", "lat", "status", "online", "installed_on", "grid_code"} <= table.present
    assert table.mapping["device_id"] == "设备编码" and table.mapping["lat"] == "纬度"
    planned = cams[cams["status"] == "planned"]
    assert planned["installed_on"].isna().all() and not planned["online"].any()


def test_sample_csv_and_xlsx_agree(sample_tables):
    csv_cams = sample_tables["luyi_cameras.csv"].cameras
    xlsx_cams = sample_tables["luyi_cameras.xlsx"].cameras
    pd.testing.assert_frame_equal(csv_cams, xlsx_cams)


# ------------------------------------------------------------------------------------------------
# Bad rows
# ------------------------------------------------------------------------------------------------

GOOD = "41162800011318000001"
BAD_ROWS = [
    HEADER,
    [GOOD, "村口1号", "115.4979", "33.9382", "已安装", "在线", "中国移动", "2023-11-16"],  # 2 good
    ["", "无编码", "115.5", "33.9", "已安装", "在线", "", ""],  # 3
    ["4116280001131800000", "19位", "115.5", "33.9", "已安装", "在线", "", ""],  # 4
    ["4.11628E+19", "科学计数法", "115.5", "33.9", "已安装", "在线", "", ""],  # 5
    ["41162700011318000006", "外县", "115.5", "33.9", "已安装", "在线", "", ""],  # 6
    ["41162800011188000007", "NVR", "115.5", "33.9", "已安装", "在线", "", ""],  # 7
    [GOOD, "重复", "115.5", "33.9", "已安装", "在线", "", ""],  # 8
    ["", "", "", "", "", "", "", ""],  # 9 blank
    ["41162800011318000010", "无经度", "", "33.9", "已安装", "在线", "", ""],  # 10
    ["41162800011318000011", "纬度错", "115.5", "三十三", "已安装", "在线", "", ""],  # 11
    ["41162800011318000012", "县外", "116.5", "33.9", "已安装", "在线", "", ""],  # 12
    ["41162800011318000013", "状态错", "115.5", "33.9", "坏了", "在线", "", ""],  # 13
    ["41162800011318000014", "在线错", "115.5", "33.9", "已安装", "也许", "", ""],  # 14
    ["41162800011318000015", "未装在线", "115.5", "33.9", "未安装", "在线", "", ""],  # 15
    ["41162800011318000016", "日期错", "115.5", "33.9", "已安装", "在线", "", "2023-13-45"],  # 16
    ["41162800011318000017", "度分秒", "115°29'52.5\"", "33°56'17.6\"", "建成", "ON", "", "2023/5/6"],  # 17 good
    [" 41162800011318000018 ", " 带空格 ", "115.4979°", " 33.9382° ", " 规划 ", "", "", ""],  # 18 good
    ["４１１６２８０００１１３１８００００１９", "全角", "115.48", "33.92", "已建", "Y", "", "2023年5月6日"],  # 19 good
    ["41162800011328000020", "已拆", "115.47", "33.91", "拆除", "否", "中国电信", "45000"],  # 20 good
    ["4116280001131800002X", "两处错", "115.5", "33.9", "坏了", "在线", "", ""],  # 21
]
EXPECTED_REJECTS = {
    3: "device_id_missing",
    4: "device_id_format",
    5: "device_id_format",
    6: "device_id_county",
    7: "device_id_type",
    8: "device_id_duplicate",
    10: "coord_missing",
    11: "coord_not_number",
    12: "coord_outside_county",
    13: "status_unknown",
    14: "online_unknown",
    15: "online_not_installed",
    16: "date_invalid",
    21: "device_id_format",
}


@pytest.fixture(scope="module")
def bad_table(tmp_path_factory):
    path = _write_csv(tmp_path_factory.mktemp("bad") / "cams.csv", BAD_ROWS, encoding="gbk")
    return read_camera_file(path, county_code=COUNTY, extent=EXTENT)


def test_every_bad_row_kind_is_rejected_with_its_row(bad_table):
    assert _problems(bad_table) == EXPECTED_REJECTS
    assert [p.row for p in bad_table.rejected] == sorted(EXPECTED_REJECTS)
    assert bad_table.source_rows == 19  # 20 data rows, the blank one not counted
    assert bad_table.cameras["row"].tolist() == [2, 17, 18, 19, 20]
    assert any("GB18030" in note for note in bad_table.notes)


def test_rejected_rows_name_field_and_value(bad_table):
    by_row = {p.row: p for p in bad_table.rejected}
    assert "科学计数法" in by_row[5].message and "文本" in by_row[5].message
    assert "19 位" in by_row[4].message
    assert "411627" in by_row[6].message and "411628" in by_row[6].message
    assert "118" in by_row[7].message and by_row[7].field == "设备编码"
    assert "第 2 行" in by_row[8].message and by_row[8].device_id == GOOD
    assert by_row[10].field == "经度" and by_row[10].value == ""
    assert by_row[11].field == "纬度" and by_row[11].value == "三十三" and "三十三" in by_row[11].message
    assert "116.5" in by_row[12].message
    assert by_row[13].value == "坏了" and "坏了" in by_row[13].message and "已安装" in by_row[13].message
    assert by_row[14].field == "在线状态" and "也许" in by_row[14].message
    assert "未安装" in by_row[15].message
    assert by_row[16].field == "安装日期" and "2023-13-45" in by_row[16].message
    assert by_row[3].device_id is None and by_row[13].device_id == "41162800011318000013"


def test_good_rows_are_parsed(bad_table):
    cams = bad_table.cameras.set_index("row")
    assert cams.loc[17, "lon"] == pytest.approx(115 + 29 / 60 + 52.5 / 3600, abs=1e-12)
    assert cams.loc[17, "lat"] == pytest.approx(33 + 56 / 60 + 17.6 / 3600, abs=1e-12)
    assert cams.loc[17, "installed_on"] == dt.date(2023, 5, 6) and cams.loc[17, "online"] == True  # noqa: E712
    assert cams.loc[18, "device_id"] == "41162800011318000018" and cams.loc[18, "name"] == "带空格"
    assert (cams.loc[18, "lon"], cams.loc[18, "lat"]) == (115.4979, 33.9382)
    assert cams.loc[18, "status"] == "planned" and cams.loc[18, "online"] == False  # noqa: E712
    assert cams.loc[18, "installed_on"] is None and cams.loc[18, "operator"] is None
    assert cams.loc[19, "device_id"] == "41162800011318000019" and cams.loc[19, "status"] == "installed"
    assert cams.loc[19, "installed_on"] == dt.date(2023, 5, 6) and cams.loc[19, "online"] == True  # noqa: E712
    assert cams.loc[20, "installed_on"] == dt.date(2023, 3, 15)  # Excel serial day 45000
    assert cams.loc[20, "status"] == "removed" and cams.loc[20, "operator"] == "中国电信"


def test_without_county_code_and_extent_only_universal_checks_apply(tmp_path):
    path = _write_csv(tmp_path / "cams.csv", BAD_ROWS, encoding="gbk")
    table = read_camera_file(path)
    problems = _problems(table)
    assert 6 not in problems and 12 not in problems  # other county's id, point outside the county
    assert problems[7] == "device_id_type" and problems[8] == "device_id_duplicate"


def test_semicolon_csv_with_title_row_keeps_true_row_numbers(tmp_path):
    rows = [
        ["鹿邑县公共视频监控点位表"],
        ["国标编码", "X坐标", "Y坐标", "建设状态"],
        [GOOD, "115.5", "33.9", "已安装"],
        ["41162800011318000002", "115.5", "33.9", "待建"],
        ["41162800011318000003", "115.5", "33.9", "未知"],
    ]
    table = read_camera_file(_write_csv(tmp_path / "cams.csv", rows, delimiter=";"), county_code=COUNTY)
    assert table.cameras["row"].tolist() == [3, 4]
    assert _problems(table) == {5: "status_unknown"}
    assert table.cameras["status"].tolist() == ["installed", "planned"]
    assert table.cameras["online"].isna().all() and "online" not in table.present
    assert table.cameras["name"].tolist() == [None, None] and table.cameras["installed_on"].tolist() == [None, None]
    assert table.mapping == {"device_id": "国标编码", "lon": "X坐标", "lat": "Y坐标", "status": "建设状态"}
    assert any("第 2 行" in note for note in table.notes) and any("分号" in note for note in table.notes)


def test_swapped_lon_lat_gives_a_note_but_no_swap(tmp_path):
    points = _sample_points(8)
    rows = [["设备编码", "经度", "纬度", "安装状态"]] + [
        [d, f"{lat}", f"{lon}", "已安装"] for d, lon, lat in zip(points["device_id"], points["lon"], points["lat"])
    ]
    table = read_camera_file(_write_csv(tmp_path / "cams.csv", rows), extent=EXTENT)
    assert set(_problems(table).values()) == {"coord_outside_county"} and len(table.rejected) == 8
    assert any("填反" in note for note in table.notes)


# ------------------------------------------------------------------------------------------------
# XLSX and GeoJSON
# ------------------------------------------------------------------------------------------------


def test_xlsx_with_title_row_and_number_cells(tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "说明"
    book.active["A1"] = "本文件为摄像头点位登记表"
    sheet = book.create_sheet("点位")
    sheet["A1"] = "鹿邑县公共视频监控点位表"
    sheet.append([])
    sheet.append(["序号", "设备国标编码", "点位名称", "经度", "纬度", "安装状态", "在线状态", "安装日期"])
    sheet.append([1, GOOD, "村口", 115.4979, 33.9382, "已安装", "在线", dt.datetime(2023, 11, 16)])  # row 4
    sheet.append([2, 41162800011318000002, "数字", 115.49, 33.93, "已安装", "在线", None])  # row 5
    sheet.append([3, "41162800011318000003", "状态错", 115.49, 33.93, "？", "", None])  # row 6
    sheet.append([])  # row 7
    sheet.append([4, "41162800011318000004", "离线", "115.48", "33.92", "已安装", "离线", 45000])  # row 8
    path = tmp_path / "cams.xlsx"
    book.save(path)
    table = read_camera_file(path, county_code=COUNTY, extent=EXTENT)
    assert table.file_format == "xlsx"
    assert table.cameras["row"].tolist() == [4, 8]
    assert _problems(table) == {5: "device_id_format", 6: "status_unknown"}
    assert "科学计数法" in table.rejected[0].message
    assert table.cameras["installed_on"].tolist() == [dt.date(2023, 11, 16), dt.date(2023, 3, 15)]
    assert table.cameras["lon"].tolist() == [115.4979, 115.48]
    assert table.source_rows == 4
    assert any("点位" in note for note in table.notes) and any("第 3 行" in note for note in table.notes)

    with pytest.raises(CameraReadError) as err:
        read_camera_file(path, sheet="不存在")
    assert err.value.code == "no_header" and "点位" in err.value.message
    with pytest.raises(CameraReadError) as err:
        read_camera_file(path, sheet="说明")
    assert err.value.code == "missing_columns"


def test_xlsx_without_any_header_lists_its_sheets(tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "甲"
    book.active.append(["名称", "备注"])
    book.create_sheet("乙").append(["设备编码", "经度"])
    path = tmp_path / "cams.xlsx"
    book.save(path)
    with pytest.raises(CameraReadError) as err:
        read_camera_file(path)
    assert err.value.code == "no_header" and "甲" in err.value.message and "乙" in err.value.message


def _points_frame(points: pd.DataFrame, crs: int) -> gpd.GeoDataFrame:
    status = ["已安装"] * len(points)
    return gpd.GeoDataFrame(
        {"设备编码": points["device_id"], "安装状态": status, "在线状态": ["在线"] * len(points)},
        geometry=gpd.points_from_xy(points["lon"], points["lat"]),
        crs=crs,
    )


def test_geojson_points_in_wgs84_and_cgcs2000(tmp_path):
    points = _sample_points(12)
    frame = _points_frame(points, 4326)
    frame.loc[3, "安装状态"] = "不知道"
    frame.loc[7, "geometry"] = None
    path = tmp_path / "wgs.geojson"
    pyogrio.write_dataframe(frame, path, driver="GeoJSON")
    table = read_camera_file(path, county_code=COUNTY, extent=EXTENT)
    assert table.file_format == "geojson" and table.crs == "wgs84"
    assert _problems(table) == {4: "status_unknown", 8: "coord_missing"}  # feature numbers, 1-based
    kept = points.drop(index=[3, 7])
    to_4490 = Transformer.from_crs(4326, 4490, always_xy=True)
    lon, lat = to_4490.transform(kept["lon"].to_numpy(), kept["lat"].to_numpy())
    np.testing.assert_allclose(table.cameras["lon"], lon, atol=1e-9)
    np.testing.assert_allclose(table.cameras["lat"], lat, atol=1e-9)
    assert table.cameras["device_id"].tolist() == kept["device_id"].tolist()

    path = tmp_path / "cgcs.geojson"
    pyogrio.write_dataframe(_points_frame(points, 4490), path, driver="GeoJSON")
    table = read_camera_file(path, county_code=COUNTY, extent=EXTENT)
    assert table.crs == "cgcs2000" and table.rejected == []
    np.testing.assert_array_equal(table.cameras["lon"], points["lon"])


# ------------------------------------------------------------------------------------------------
# Field mapping and whole-file errors
# ------------------------------------------------------------------------------------------------


def test_explicit_field_mapping(tmp_path):
    rows = [["编号甲", "东经度数", "北纬度数", "现状", "经度"], [GOOD, "115.5", "33.9", "已安装", "999"]]
    path = _write_csv(tmp_path / "cams.csv", rows)
    with pytest.raises(CameraReadError) as err:
        read_camera_file(path)
    assert err.value.code == "missing_columns" and "设备编码" in err.value.message
    fields = {"device_id": "编号甲", "lon": "东经度数", "lat": "北纬度数", "status": "现状"}
    table = read_camera_file(path, fields=fields, extent=EXTENT)
    assert table.mapping == fields and table.rejected == []
    assert (table.cameras.loc[0, "lon"], table.cameras.loc[0, "lat"]) == (115.5, 33.9)
    with pytest.raises(CameraReadError) as err:
        read_camera_file(path, fields={**fields, "name": "名字"})
    assert err.value.code == "missing_columns" and "名字" in err.value.message
    with pytest.raises(CameraReadError) as err:
        read_camera_file(path, fields={"colour": "现状"})
    assert err.value.code == "missing_columns" and "colour" in err.value.message


def test_missing_required_columns_are_named(tmp_path):
    path = _write_csv(tmp_path / "cams.csv", [["设备编码", "经度"], [GOOD, "115.4"]])
    with pytest.raises(CameraReadError) as err:
        read_camera_file(path)
    assert err.value.code == "missing_columns"
    assert "纬度" in err.value.message and "安装状态" in err.value.message and "经度、" not in err.value.message


@pytest.mark.parametrize(
    "name,data,code",
    [
        ("cams.xls", b"\xd0\xcf\x11\xe0", "unreadable"),
        ("cams.ods", b"PK\x03\x04", "unsupported_format"),
        ("cams.csv", b"", "empty"),
        ("cams.csv", b"\xff\xfe\xff\xff,\xff", "encoding_unknown"),
        ("cams.xlsx", b"not a zip", "unreadable"),
        ("cams.geojson", b'{"type": "FeatureCollection", "features": []}', "empty"),
        ("cams.csv", "设备编码,经度,纬度,安装状态\r\n".encode(), "empty"),
    ],
)
def test_whole_file_errors(tmp_path, name, data, code):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(CameraReadError) as err:
        read_camera_file(path)
    assert err.value.code == code and err.value.message


# ------------------------------------------------------------------------------------------------
# Point CRSs
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("crs,forward", [("gcj02", prcoords.wgs_gcj), ("bd09", prcoords.wgs_bd)])
def test_shifted_map_coordinates_come_back_within_2_m(tmp_path, crs, forward):
    truth = _sample_points(50)
    shifted = [forward(prcoords.Coords(lat, lon)) for lon, lat in zip(truth["lon"], truth["lat"])]
    rows = [["设备编码", "经度", "纬度", "安装状态"]] + [
        [d, repr(c.lon), repr(c.lat), "已安装"] for d, c in zip(truth["device_id"], shifted)
    ]
    path = _write_csv(tmp_path / f"{crs}.csv", rows)
    table = read_camera_file(path, crs=crs, county_code=COUNTY, extent=EXTENT)
    assert table.rejected == [] and table.crs == crs
    lon, lat = Transformer.from_crs(4326, 4490, always_xy=True).transform(
        truth["lon"].to_numpy(), truth["lat"].to_numpy()
    )
    assert _distances_m(table.cameras["lon"], table.cameras["lat"], lon, lat).max() < 2.0
    assert table.cameras["raw_x"].tolist() == [c.lon for c in shifted]
    # Read as if they were CGCS2000, the same points are hundreds of metres off.
    wrong = read_camera_file(path, county_code=COUNTY, extent=EXTENT).cameras
    assert _distances_m(wrong["lon"], wrong["lat"], lon, lat).min() > 100


def test_from_wgs84_matches_prcoords_and_to_storage_inverts_it():
    truth = _sample_points(20)
    lon, lat = truth["lon"].to_numpy(), truth["lat"].to_numpy()
    gx, gy = from_wgs84(lon, lat, "GCJ-02")
    expected = prcoords.wgs_gcj(prcoords.Coords(lat[5], lon[5]))
    assert (gx[5], gy[5]) == (expected.lon, expected.lat)
    back_x, back_y = to_storage(gx, gy, "高德")
    assert _distances_m(back_x, back_y, lon, lat).max() < 0.01
    assert _distances_m(gx, gy, lon, lat).min() > 100


def test_projected_coordinates(tmp_path):
    truth = _sample_points(10)
    x, y = Transformer.from_crs(4490, 4526, always_xy=True).transform(truth["lon"].to_numpy(), truth["lat"].to_numpy())
    rows = [["设备编码", "X", "Y", "安装状态"]] + [
        [d, f"{a:.3f}", f"{b:.3f}", "已安装"] for d, a, b in zip(truth["device_id"], x, y)
    ]
    path = _write_csv(tmp_path / "gk.csv", rows)
    table = read_camera_file(path, crs="4526", extent=EXTENT)
    assert table.crs == "EPSG:4526" and table.rejected == []
    assert _distances_m(table.cameras["lon"], table.cameras["lat"], truth["lon"], truth["lat"]).max() < 0.01
    undeclared = read_camera_file(path, extent=EXTENT)
    assert len(undeclared.rejected) == 10 and any("4526" in note for note in undeclared.notes)


def test_normalize_point_crs():
    assert normalize_point_crs(None) == "cgcs2000"
    assert normalize_point_crs("", default="wgs84") == "wgs84"
    assert [normalize_point_crs(v) for v in ("WGS-84", "EPSG:4326", "4326")] == ["wgs84"] * 3
    assert [normalize_point_crs(v) for v in ("CGCS2000", "EPSG:4490", "2000")] == ["cgcs2000"] * 3
    assert [normalize_point_crs(v) for v in ("GCJ02", "gcj-02", "高德", "腾讯", "火星")] == ["gcj02"] * 5
    assert [normalize_point_crs(v) for v in ("BD-09", "bd09", "百度")] == ["bd09"] * 3
    assert normalize_point_crs("4527") == "EPSG:4527" and normalize_point_crs("epsg:4526") == "EPSG:4526"
    with pytest.raises(CrsUnknownError) as err:
        normalize_point_crs("北京地图")
    assert "gcj02" in err.value.message and "bd09" in err.value.message


def test_to_storage_keeps_nan_and_leaves_points_outside_china_unshifted():
    lon, lat = to_storage(np.array([np.nan, 115.5, 2.3522]), np.array([33.9, np.nan, 48.8566]), "gcj02")
    assert np.isnan(lon[:2]).all() and np.isnan(lat[:2]).all()
    assert _distances_m(lon[2:], lat[2:], [2.3522], [48.8566])[0] < 1.0  # Paris: datum change only
    x, y = to_storage(np.array([115.5]), np.array([33.9]), "gcj02")
    assert _distances_m(x, y, [115.5], [33.9])[0] > 100


# ------------------------------------------------------------------------------------------------
# Device ids
# ------------------------------------------------------------------------------------------------


def test_check_device_ids_codes_keep_the_index():
    ids = pd.Series(
        [
            GOOD,
            None,
            " 4116 2800 0113 1800 0001 ",
            "41162800011318",
            "41162900011318000001",
            "41162800012008000001",
            "４１１６２８０００１１３２８０００００１",
            "'41162800011318000001",
        ],
        index=[10, 11, 12, 13, 14, 15, 16, 17],
    )
    codes = check_device_ids(ids, COUNTY)
    assert codes.index.tolist() == ids.index.tolist()
    assert codes.tolist() == [
        None,
        "device_id_missing",
        None,
        "device_id_format",
        "device_id_county",
        "device_id_type",
        None,
        None,
    ]
    assert check_device_ids(ids, None).tolist()[4] is None  # no county check without a county code
    message = describe("device_id_county", "41162700011318000001", "411628")
    assert "411627" in message and "411628" in message
    assert "科学计数法" in describe("device_id_format", "4.11628E+19")
    assert "200" in describe("device_id_type", "41162800012008000001")


# ------------------------------------------------------------------------------------------------
# Status reports
# ------------------------------------------------------------------------------------------------

NOW = dt.datetime(2026, 11, 21, 9, 30)
EIGHT_AM = pd.Timestamp("2026-11-21 08:00:00+08:00")


def test_status_updates_from_csv(tmp_path):
    rows = [
        ["国标编码", "状态", "上报时间"],
        [GOOD, "ON", "2026-11-21 08:00:00"],  # 2
        ["41162800011318000002", "离线", "1795219200"],  # 3 epoch seconds = 08:00 Beijing
        ["4116280001131800000", "OFF", ""],  # 4 bad id
        ["41162800011318000004", "维修中", ""],  # 5 unknown status
        ["41162800011318000005", "在线", "昨天"],  # 6 bad time
        ["41162800011318000006", "0", ""],  # 7 no time → default
        [GOOD, "OFF", "2026-11-21T01:00:00Z"],
    ]  # 8 same device again, UTC
    result = read_status_updates(_write_csv(tmp_path / "status.csv", rows, encoding="gbk"), default_time=NOW)
    assert result.source_rows == 7
    assert _problems(result) == {4: "device_id_format", 5: "online_unknown", 6: "time_invalid"}
    assert result.rejected[1].value == "维修中" and result.rejected[1].field == "状态"
    updates = result.updates
    assert updates["row"].tolist() == [2, 3, 7, 8]
    assert updates["device_id"].tolist() == [GOOD, "41162800011318000002", "41162800011318000006", GOOD]
    assert updates["online"].tolist() == [True, False, False, False]
    assert updates["at"].tolist() == [
        EIGHT_AM,
        EIGHT_AM,
        pd.Timestamp("2026-11-21 09:30:00+08:00"),
        pd.Timestamp("2026-11-21 09:00:00+08:00"),
    ]
    assert str(updates["at"].dt.tz) == "Asia/Shanghai"


def test_status_updates_from_json_list_and_dict(tmp_path):
    items = [
        {"DeviceID": GOOD, "Status": "ON", "time": "2026-11-21 08:00:00"},
        {"deviceId": "41162800011318000002", "online": False, "timestamp": 1795219200000},
        {"device_id": "", "online": True},
        {"device_id": "41162800011318000004", "status": "maybe"},
        {"device_id": "41162800011318000005", "online": "true", "at": "2026/11/21 08:00"},
        "not an object",
    ]
    for source in (items, {"updates": items}, {"items": items}):
        result = read_status_updates(source, default_time=NOW)
        assert _problems(result) == {3: "device_id_missing", 4: "online_unknown", 6: "device_id_missing"}
        assert result.updates["row"].tolist() == [1, 2, 5]
        assert result.updates["online"].tolist() == [True, False, True]
        assert result.updates["at"].tolist() == [EIGHT_AM] * 3
        assert result.rejected[1].field == "status"
    path = tmp_path / "status.json"
    path.write_text(json.dumps({"updates": items}, ensure_ascii=False), encoding="utf-8")
    assert read_status_updates(path, default_time=NOW).updates["row"].tolist() == [1, 2, 5]
    assert read_status_updates(path.read_bytes(), default_time=NOW).updates["row"].tolist() == [1, 2, 5]
    assert read_status_updates(path.read_text(encoding="utf-8"), default_time=NOW).updates["row"].tolist() == [1, 2, 5]
    assert read_status_updates(str(path), default_time=NOW).updates["row"].tolist() == [1, 2, 5]
    with pytest.raises(CameraReadError) as err:
        read_status_updates({"records": items})
    assert err.value.code == "unreadable"
    with pytest.raises(CameraReadError) as err:
        read_status_updates([{"device_id": GOOD}])
    assert err.value.code == "missing_columns" and "在线状态" in err.value.message


def test_status_updates_from_xlsx_with_datetime_cells(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["设备编码", "在线状态", "状态时间"])
    book.active.append([GOOD, "在线", dt.datetime(2026, 11, 21, 8, 0)])
    book.active.append(["41162800011318000002", "掉线", None])
    path = tmp_path / "status.xlsx"
    book.save(path)
    result = read_status_updates(path, default_time=dt.datetime(2026, 11, 21, 1, 30, tzinfo=dt.UTC))
    assert result.rejected == []
    assert result.updates["online"].tolist() == [True, False]
    assert result.updates["at"].tolist() == [EIGHT_AM, pd.Timestamp("2026-11-21 09:30:00+08:00")]
