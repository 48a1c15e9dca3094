"""The export writers (``gridmap.io.exports``) on small tables: the hard cases the sample county
does not have — a name GBK cannot hold, text that would start a formula, line breaks and quotes,
dates and times, an empty table — read back with GDAL (pyogrio) and openpyxl."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from openpyxl import load_workbook

from gridmap.io.encoding import dbf_decodes
from gridmap.io.exports import AREA_COLUMNS, CAMERA_COLUMNS, FORMATS, format_of_path, write_export

SQUARE = shapely.MultiPolygon([shapely.box(115.4, 33.9, 115.41, 33.91)])


def areas(names: list[str]) -> gpd.GeoDataFrame:
    n = len(names)
    return gpd.GeoDataFrame(
        {
            "code": [f"4116280010010010{i:02d}" for i in range(n)],
            "name": names,
            "level": [4] * n,
            "households": ([12] + [None] * n)[:n],
            "planned": [3] * n,
            "rollout_rate": ([0.5] + [None] * n)[:n],
        },
        geometry=[SQUARE] * n,
        crs=4490,
    )


def test_a_name_gbk_cannot_hold_writes_the_whole_shapefile_in_utf8(tmp_path):
    out = tmp_path / "a.shp.zip"
    written = write_export(areas(["真源街道", "𠀀村"]), AREA_COLUMNS, "shp", out, layer="microgrid")
    assert written.encoding == "UTF-8"
    with zipfile.ZipFile(out) as archive:
        assert archive.read("microgrid.cpg") == b"UTF-8"
        assert dbf_decodes(archive.read("microgrid.dbf"), "UTF-8")
    assert pyogrio.read_dataframe(out)["name"].tolist() == ["真源街道", "𠀀村"]

    written = write_export(areas(["真源街道", "鹿邑县"]), AREA_COLUMNS, "shp", out, layer="microgrid")
    assert written.encoding == "GBK"
    with zipfile.ZipFile(out) as archive:
        assert archive.read("microgrid.cpg") == b"GBK"
        assert "鹿邑县".encode("gbk") in archive.read("microgrid.dbf")
    assert pyogrio.read_dataframe(out)["name"].tolist() == ["真源街道", "鹿邑县"]


def test_csv_quotes_text_keeps_numbers_bare_and_never_starts_a_formula(tmp_path):
    out = tmp_path / "a.csv"
    write_export(areas(["=cmd|' /C calc'!A0", '说"引号"\r\n换行']), AREA_COLUMNS, "csv", out)
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith("code,name,level,level_name,parent_code")
    assert lines[1].startswith('"411628001001001000","\'=cmd|\' /C calc\'!A0",4,,,,12,')
    back = pd.read_csv(io.BytesIO(data), dtype={"code": str}, encoding="utf-8-sig")
    assert back["name"].tolist() == ["'=cmd|' /C calc'!A0", '说"引号"\r\n换行']
    assert back["code"].tolist() == ["411628001001001000", "411628001001001001"]
    assert back["rollout_rate"].tolist()[0] == 0.5 and pd.isna(back["rollout_rate"][1])


def test_xlsx_cells_text_codes_values_not_formulas_dates_as_dates(tmp_path):
    out = tmp_path / "c.xlsx"
    cameras = gpd.GeoDataFrame(
        {
            "device_id": ["41162800001318002616"],
            "name": ["=1+1"],
            "status": ["installed"],
            "online": [True],
            "installed_on": [dt.date(2024, 3, 12)],
            "last_seen": [pd.Timestamp("2024-05-01T00:00:00Z")],
            "lon": [115.4976141],
            "lat": [34.0624744],
        },
        geometry=[shapely.Point(115.4976141, 34.0624744)],
        crs=4490,
    )
    write_export(cameras, CAMERA_COLUMNS, "xlsx", out, layer="cameras")
    sheet = load_workbook(out)["cameras"]
    header = [c.value for c in sheet[1]]
    row = dict(zip(header, sheet[2]))
    assert row["设备编码"].value == "41162800001318002616" and row["设备编码"].data_type == "s"
    assert row["名称"].value == "=1+1" and row["名称"].data_type == "s"  # shown, never run
    assert row["在线"].value is True
    assert row["安装日期"].value == dt.datetime(2024, 3, 12) and row["安装日期"].is_date
    assert row["最后在线时间"].value == "2024-05-01T08:00:00+08:00"  # China time, with its offset

    gpkg = tmp_path / "c.gpkg"
    write_export(cameras, CAMERA_COLUMNS, "gpkg", gpkg, layer="cameras", geometry_type="Point")
    back = pyogrio.read_dataframe(gpkg)
    assert back["installed_on"][0] == "2024-03-12"
    assert pd.Timestamp(back["last_seen"][0]) == pd.Timestamp("2024-05-01T00:00:00Z")


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_an_empty_table_writes_an_empty_file(tmp_path, fmt):
    out = tmp_path / f"empty{FORMATS[fmt].suffix}"
    written = write_export(areas([]), AREA_COLUMNS, fmt, out, layer="grid")
    assert written.rows == 0 and out.stat().st_size > 0
    if fmt in ("gpkg", "shp"):
        assert pyogrio.read_info(out)["features"] == 0


def test_format_of_a_file_name():
    assert [format_of_path(n) for n in ("a.gpkg", "a.GPKG", "a.shp.zip", "a.zip", "a.parquet", "a.csv", "a.xlsx")] == [
        "gpkg",
        "gpkg",
        "shp",
        "shp",
        "parquet",
        "csv",
        "xlsx",
    ]
    assert format_of_path("a.kml") is None
