"""The sample city's generated neighbours of 鹿邑 (data/city/): full counties that validate clean,
share 鹿邑's border vertex for vertex, and bring camera registers of their own."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from gridmap.config import SAMPLE_PROJECTED_EPSG, STORAGE_SRID
from gridmap.io.cameras import read_camera_file
from gridmap.levels import LEVELS
from gridmap.sample import files as g
from gridmap.services.boundaries import check_file

LUYI = "411628"
NEIGHBOURS = {"411625": "郸城县", "411627": "太康县"}


@pytest.fixture(scope="module")
def city_dir(data_dir):
    return data_dir / g.CITY_DIR


@pytest.fixture(scope="module")
def manifest(city_dir) -> dict:
    return json.loads((city_dir / g.CITY_MANIFEST).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def counties(data_dir, city_dir) -> dict[str, shapely.Polygon]:
    """Each county's outline as stored (EPSG:4490), 鹿邑 from luyi_grids.gpkg."""
    paths = {LUYI: data_dir / g.GPKG} | {code: city_dir / g.city_gpkg(code) for code in NEIGHBOURS}
    out = {}
    for code, path in paths.items():
        (geom,) = shapely.get_parts(pyogrio.read_dataframe(path, layer="county").geometry.to_numpy())
        out[code] = geom
    return out


@pytest.fixture(scope="module")
def metric(counties) -> dict[str, shapely.Polygon]:
    """The outlines in GK zone 38 (metres)."""
    s = gpd.GeoSeries(list(counties.values()), crs=STORAGE_SRID).to_crs(SAMPLE_PROJECTED_EPSG)
    return dict(zip(counties, s))


def test_files_have_luyis_layers_fields_and_the_manifests_figures(data_dir, city_dir, manifest):
    assert manifest["city"] == {"code": "4116", "name": "周口市"}
    assert {c["code"]: c["name"] for c in manifest["counties"]} == NEIGHBOURS
    luyi_fields = {lv.key: pyogrio.read_info(data_dir / g.GPKG, layer=lv.key)["fields"].tolist() for lv in LEVELS}
    luyi_columns = pd.read_csv(data_dir / g.CAMERAS_CSV, nrows=1, encoding="utf-8-sig").columns.tolist()
    for county in manifest["counties"]:
        code, path = county["code"], city_dir / county["files"]["areas"]
        assert [name for name, _ in pyogrio.list_layers(path)] == [lv.key for lv in LEVELS]
        for lv in LEVELS:
            info = pyogrio.read_info(path, layer=lv.key)
            assert info["crs"] == f"EPSG:{STORAGE_SRID}" and info["geometry_type"] == "MultiPolygon"
            assert info["fields"].tolist() == luyi_fields[lv.key]
            assert info["features"] == county["areas"][lv.key]
            codes = pyogrio.read_dataframe(path, layer=lv.key, read_geometry=False)["编码"]
            assert codes.str.fullmatch(rf"{code}\d{{{lv.code_length - 6}}}").all() and codes.is_unique
        assert 2000 <= county["areas"]["microgrid"] <= 4000 and 8 <= county["areas"]["township"] <= 12
        cameras = pd.read_csv(city_dir / county["files"]["cameras"], encoding="utf-8-sig", dtype=str)
        assert cameras.columns.tolist() == luyi_columns
        for name, digest in manifest["sha256"].items():
            assert hashlib.sha256((city_dir / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("code", sorted(NEIGHBOURS))
def test_each_neighbour_validates_clean(city_dir, manifest, code):
    src, analysis = check_file(city_dir / g.city_gpkg(code))
    assert analysis.report.errors == []
    assert analysis.report.ok
    county = next(c for c in manifest["counties"] if c["code"] == code)
    assert len(src.areas) == sum(county["areas"].values())


def test_the_counties_share_exact_borders(counties, metric, manifest):
    codes = list(counties)
    for i, a in enumerate(codes):
        for b in codes[i + 1 :]:
            assert shapely.intersection(metric[a], metric[b]).area < 1.0, (a, b)
    union = shapely.coverage_union_all(np.array(list(counties.values()), dtype=object))
    assert union.geom_type == "Polygon" and len(union.interiors) == 0  # no gap along a shared stretch
    assert shapely.coverage_is_valid(np.array(list(counties.values()), dtype=object))
    luyi_ring = counties[LUYI].exterior
    luyi_vertices = set(map(tuple, shapely.get_coordinates(luyi_ring)))
    for code in NEIGHBOURS:
        shared_m = shapely.intersection(metric[LUYI].boundary, metric[code].boundary).length
        assert shared_m > 10_000, code
        stated = next(c for c in manifest["counties"] if c["code"] == code)["shared_border_km"][LUYI]
        assert shared_m / 1000 == pytest.approx(stated, abs=0.01)
        xy = shapely.get_coordinates(counties[code])
        on_border = shapely.distance(shapely.points(xy), luyi_ring) < 1e-9
        assert on_border.sum() > 100
        assert all(tuple(p) in luyi_vertices for p in xy[on_border]), "a vertex on 鹿邑's border that 鹿邑 lacks"


@pytest.mark.parametrize("code", sorted(NEIGHBOURS))
def test_camera_registers_read_clean_and_lie_in_their_own_county(city_dir, counties, manifest, code):
    county = next(c for c in manifest["counties"] if c["code"] == code)
    path = city_dir / county["files"]["cameras"]
    table = read_camera_file(path, county_code=code, extent=counties[code].bounds)
    assert table.rejected == []
    register = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert len(register) == county["cameras"]["planned"]
    assert register["设备编码"].str.fullmatch(rf"{code}00\d{{12}}").all() and register["设备编码"].is_unique
    lon, lat = register["经度"].astype(float).to_numpy(), register["纬度"].astype(float).to_numpy()
    assert shapely.contains_xy(counties[code], lon, lat).all()
    for other in set(counties) - {code}:
        assert not shapely.intersects_xy(counties[other], lon, lat).any()
    micro = pyogrio.read_dataframe(city_dir / county["files"]["areas"], layer="microgrid")
    assert set(register["所属网格"]) <= set(micro["上级编码"])
    installed = int((register["安装状态"] == "已安装").sum())
    online = int((register["在线状态"] == "在线").sum())
    assert county["cameras"] == {"planned": len(register), "installed": installed, "online": online}


def test_the_counties_are_at_different_rollout_stages(data_dir, city_dir, manifest):
    rates = {}
    for county in manifest["counties"]:
        register = pd.read_csv(city_dir / county["files"]["cameras"], encoding="utf-8-sig", dtype=str)
        installed = (register["安装状态"] == "已安装").sum()
        rates[county["code"]] = (installed / len(register), (register["在线状态"] == "在线").sum() / installed)
        assert register["运营商"].nunique() >= 2
    assert rates["411625"] == pytest.approx((0.70, 0.90), abs=0.005)
    assert rates["411627"] == pytest.approx((0.99, 0.97), abs=0.005)
    operators = {
        c["code"]: set(pd.read_csv(city_dir / c["files"]["cameras"], encoding="utf-8-sig")["运营商"])
        for c in manifest["counties"]
    }
    assert operators["411625"] != operators["411627"]


_GENERATE = """
import datetime, json, sys
from pathlib import Path
from gridmap.sample.city import generate_city
manifest = generate_city(Path(sys.argv[1]), Path(sys.argv[2]))
print(json.dumps({"today": datetime.date.today().isoformat(), "sha256": manifest["sha256"]}))
"""


@pytest.mark.slow
def test_regenerating_the_city_gives_the_committed_files(data_dir, city_dir, manifest, tmp_path):
    """Same bytes on another date (the clock moved for GDAL's C code too)."""
    faketime = shutil.which("faketime")
    assert faketime, "the faketime command (Debian package faketime) is needed: `make test` installs it"
    done = subprocess.run(
        [faketime, "2031-07-15 09:30:00", sys.executable, "-c", _GENERATE, str(data_dir), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["today"] == "2031-07-15"
    assert result["sha256"] == manifest["sha256"]
    assert (tmp_path / g.CITY_MANIFEST).read_bytes() == (city_dir / g.CITY_MANIFEST).read_bytes()
