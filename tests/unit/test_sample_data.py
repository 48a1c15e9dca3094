"""The sample county files are a faithful, exact nested partition (checked with shapely and GDAL)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from gridmap.config import SAMPLE_PROJECTED_EPSG, STORAGE_SRID
from gridmap.levels import LEVELS
from gridmap.sample import files as g

EXPECTED_COUNTS = {"county": 1, "township": 24, "village": 565, "grid": 1294, "microgrid": 10311}


@pytest.fixture(scope="module")
def levels(data_dir) -> dict[str, gpd.GeoDataFrame]:
    """Every level from the GeoPackage, reprojected to GK zone 38 (metres) for measuring."""
    return {
        lv.key: pyogrio.read_dataframe(data_dir / g.GPKG, layer=lv.key).to_crs(SAMPLE_PROJECTED_EPSG) for lv in LEVELS
    }


@pytest.fixture(scope="module")
def cameras_csv(data_dir) -> pd.DataFrame:
    return pd.read_csv(data_dir / g.CAMERAS_CSV, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def test_counts_per_level_and_crs(data_dir, levels):
    assert {k: len(v) for k, v in levels.items()} == EXPECTED_COUNTS
    for lv in LEVELS:
        info = pyogrio.read_info(data_dir / g.GPKG, layer=lv.key)
        assert info["crs"] == f"EPSG:{STORAGE_SRID}"
        assert info["geometry_type"] == "MultiPolygon"


def test_county_is_near_luyi(levels):
    county = levels["county"].to_crs(STORAGE_SRID).geometry.iloc[0]
    centre = county.centroid
    assert abs(centre.x - 115.48) < 0.1 and abs(centre.y - 33.86) < 0.1
    assert levels["county"].geometry.area.sum() / 1e6 == pytest.approx(1240, rel=0.01)


def test_every_level_partitions_its_parent(levels):
    for upper, lower in zip(LEVELS[:-1], LEVELS[1:]):
        parents, children = levels[upper.key], levels[lower.key]
        assert set(children["上级编码"]) == set(parents["编码"]), f"{lower.key}: every parent has children"
        for code, kids in children.groupby("上级编码"):
            geoms = kids.geometry.to_numpy()
            assert shapely.coverage_is_valid(geoms), f"{lower.key} under {code}: gaps/overlaps between siblings"
            parent = parents.loc[parents["编码"] == code].geometry.iloc[0]
            union = shapely.coverage_union_all(geoms)
            assert shapely.symmetric_difference(union, parent).area < 1.0, f"{lower.key} under {code}"


def test_the_whole_micro_grid_layer_is_one_valid_coverage(levels):
    geoms = levels["microgrid"].geometry.to_numpy()
    assert shapely.is_valid(geoms).all()
    assert shapely.coverage_is_valid(geoms)
    total = levels["microgrid"].geometry.area.sum()
    assert total == pytest.approx(levels["county"].geometry.area.iloc[0], abs=1.0)


def test_shapes_are_irregular_not_rectangles_or_hexagons(levels):
    micro = levels["microgrid"].geometry
    vertices = shapely.get_num_coordinates(micro.to_numpy())
    assert np.median(vertices) > 12  # not 5-vertex rectangles or 7-vertex hexagons
    compactness = 4 * np.pi * micro.area / micro.length**2  # 1 for a circle, 0.785 square, 0.907 hexagon
    assert 0.3 < np.median(compactness) < 0.8
    assert micro.area.std() / micro.area.mean() > 0.3  # sizes vary (towns are denser)


def test_codes_follow_the_scheme_and_prefix_their_parent(levels):
    for lv in LEVELS:
        gdf = levels[lv.key]
        assert gdf["编码"].str.fullmatch(rf"\d{{{lv.code_length}}}").all(), lv.key
        assert gdf["编码"].is_unique
        assert (gdf["层级"] == lv.number).all()
        if lv.number:
            assert (gdf["编码"].str[: LEVELS[lv.number - 1].code_length] == gdf["上级编码"]).all()
    assert levels["county"]["编码"].iloc[0] == "411628"


def test_names_are_chinese_and_unique_within_parent(levels):
    for lv in LEVELS:
        gdf = levels[lv.key]
        assert gdf["名称"].str.contains(r"[\u4e00-\u9fff]").all()
        if lv.number:
            assert not gdf.duplicated(["上级编码", "名称"]).any()
    assert levels["township"]["名称"].str.endswith(("街道", "镇", "乡")).all()
    assert levels["village"]["名称"].str.endswith(("村", "社区")).all()


def test_households_and_grid_workers(levels):
    micro = levels["microgrid"]
    assert micro["户数"].between(15, 60).all()
    assert 27 <= micro["户数"].mean() <= 33
    for upper, lower in zip(LEVELS[:-1], LEVELS[1:]):
        sums = levels[lower.key].groupby("上级编码")["户数"].sum()
        stated = levels[upper.key].set_index("编码")["户数"]
        assert (stated.sort_index() == sums.reindex(stated.index).sort_index()).all(), upper.key
    for key in ("grid", "microgrid"):
        assert levels[key]["网格员"].str.fullmatch(r"[\u4e00-\u9fff]{2,3}").all()
        assert levels[key]["联系电话"].str.fullmatch(r"1[3-9]\d{9}").all()


def test_camera_register_reproduces_the_published_figures(cameras_csv, data_dir):
    planned = len(cameras_csv)
    installed = int((cameras_csv["安装状态"] == "已安装").sum())
    online = int((cameras_csv["在线状态"] == "在线").sum())
    assert (planned, installed, online) == (10520, 10048, 9896)
    assert f"{installed / planned:.2%}" == "95.51%" and f"{online / installed:.2%}" == "98.49%"
    xlsx = pd.read_excel(data_dir / g.CAMERAS_XLSX, dtype=str, keep_default_na=False)
    assert list(xlsx.columns) == list(cameras_csv.columns)
    pd.testing.assert_frame_equal(xlsx, cameras_csv)


def test_camera_ids_follow_gbt28181(cameras_csv):
    ids = cameras_csv["设备编码"]
    assert ids.is_unique
    assert ids.str.fullmatch(r"41162800\d{12}").all()
    assert ids.str[10:13].isin(["131", "132"]).all()


def test_cameras_are_uneven_and_operators_serve_township_regions(levels, cameras_csv):
    per_grid = cameras_csv.groupby("所属网格").size().reindex(levels["grid"]["编码"], fill_value=0)
    assert (per_grid == 0).sum() > 0, "some grids have no camera"
    assert per_grid.max() >= 3 * per_grid.median()
    ops = cameras_csv.groupby("所属乡镇")["运营商"].unique()
    assert ops.map(len).eq(1).all(), "one operator per township"
    assert ops.map(lambda a: a[0]).value_counts().tolist() == [8, 8, 8]
    # Each operator's townships form one connected region.
    towns = levels["township"].set_index("名称")
    for operator, names in ops.map(lambda a: a[0]).groupby(ops.map(lambda a: a[0])):
        region = shapely.union_all(towns.loc[names.index].geometry.to_numpy())
        assert region.geom_type == "Polygon", operator


def test_camera_points_lie_in_their_grid(levels, cameras_csv):
    grids = levels["grid"].to_crs(STORAGE_SRID).set_index("编码").geometry
    lon, lat = cameras_csv["经度"].astype(float), cameras_csv["纬度"].astype(float)
    assert shapely.contains_xy(grids.loc[cameras_csv["所属网格"]].to_numpy(), lon, lat).all()


def test_gbk_shapefile_reads_back_and_matches_the_geopackage(data_dir, levels):
    zpath = data_dir / g.SHAPEFILE_ZIP
    with zipfile.ZipFile(zpath) as zf:
        assert zf.read("township.cpg").decode().strip().upper() == "GBK"
        dbf = zf.read("township.dbf")
    assert "真源街道".encode("gbk") in dbf  # the attribute bytes really are GBK ...
    with pytest.raises(UnicodeDecodeError):
        dbf.decode("utf-8")  # ... and not UTF-8
    for lv in LEVELS:
        shp = pyogrio.read_dataframe(f"/vsizip/{zpath}/{lv.key}.shp")
        assert shp.crs.to_epsg() == SAMPLE_PROJECTED_EPSG
        gpkg = levels[lv.key]
        assert shp["名称"].tolist() == gpkg["名称"].tolist()
        assert shp["编码"].tolist() == gpkg["编码"].tolist()
        # Shapefile (GK zone 38) → EPSG:4490 → GK again vs the GeoPackage: same vertices within 1 cm.
        shp_4490 = shp.to_crs(STORAGE_SRID).to_crs(SAMPLE_PROJECTED_EPSG)
        a = shapely.get_coordinates(shapely.normalize(shp_4490.geometry.to_numpy()))
        b = shapely.get_coordinates(shapely.normalize(gpkg.geometry.to_numpy()))
        assert a.shape == b.shape
        assert np.abs(a - b).max() < 0.01


def test_geojson_matches_the_geopackage(data_dir, levels):
    for lv in LEVELS:
        gj = pyogrio.read_dataframe(data_dir / g.GEOJSON_DIR / f"{lv.key}.geojson")
        assert gj.crs.to_epsg() == STORAGE_SRID
        assert gj["code"].tolist() == levels[lv.key]["编码"].tolist()
        a = shapely.get_coordinates(gj.to_crs(SAMPLE_PROJECTED_EPSG).geometry.to_numpy())
        b = shapely.get_coordinates(levels[lv.key].geometry.to_numpy())
        assert np.abs(a - b).max() < 0.01


def test_manifest_checksums_match_the_files(data_dir):
    manifest = json.loads((data_dir / g.MANIFEST).read_text(encoding="utf-8"))
    assert manifest["areas"] == EXPECTED_COUNTS
    assert manifest["cameras"] == {"planned": 10520, "installed": 10048, "online": 9896}
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256((data_dir / name).read_bytes()).hexdigest() == digest, name


#: A date far from the day the sample was written: the files must not carry the day they are made.
MOVED_CLOCK = "2031-07-15 09:30:00"

_GENERATE = """
import datetime, json, sys
from pathlib import Path
from gridmap.sample.generate import generate
manifest = generate(Path(sys.argv[1]))
print(json.dumps({"today": datetime.date.today().isoformat(), "sha256": manifest["sha256"]}))
"""


@pytest.mark.slow
def test_generator_is_deterministic_and_reproduces_the_committed_files(data_dir, tmp_path):
    """Regenerating gives the committed bytes on any date: the generator runs with the clock moved
    (libfaketime moves it for GDAL's C code too, which stamps a date into each .dbf header)."""
    faketime = shutil.which("faketime")
    assert faketime, "the faketime command (Debian package faketime) is needed: `make test` installs it"
    done = subprocess.run(
        [faketime, MOVED_CLOCK, sys.executable, "-c", _GENERATE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["today"] == MOVED_CLOCK[:10], "the clock was not moved"
    committed = json.loads((data_dir / g.MANIFEST).read_text(encoding="utf-8"))
    assert result["sha256"] == committed["sha256"]
    assert re.fullmatch(r"[0-9a-f]{64}", result["sha256"][g.GPKG])
    with zipfile.ZipFile(tmp_path / g.SHAPEFILE_ZIP) as zf:
        dbf = zf.read("county.dbf")
    assert (dbf[1] + 1900, dbf[2], dbf[3]) == (2026, 11, 21)  # pinned, not the moved clock's date
