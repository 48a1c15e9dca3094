"""Bulk exports (``/api/v1/exports/…`` and ``gridmap export``) over real HTTP on the sample county:
every format read back (GDAL through pyogrio; GeoParquet with pyarrow, this GDAL has no Parquet
driver) with the right count, CRS, Chinese text and the database's figures.

Nothing here writes to the shared database; the module's own server writes its temporary files
under a folder of its own, checked empty after every answer.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pyproj
import pytest
import shapely
from api_server import client, serve, serve_app
from api_tokens import make_token
from conftest import engine_for_cli
from openpyxl import load_workbook
from sqlalchemy import text
from typer.testing import CliRunner

from gridmap.api.app import create_app
from gridmap.cli import app as cli_app
from gridmap.config import get_settings
from gridmap.geometry.metric import metric_crs
from gridmap.io.encoding import dbf_decodes

COUNTY, TOWN = "411628", "411628001"
FIGURES = ["planned", "installed", "online", "rollout_rate", "online_rate", "households"]
SHP_FIELDS = [
    "code",
    "name",
    "level",
    "level_name",
    "parent",
    "kind",
    "households",
    "population",
    "worker",
    "area_m2",
    "planned",
    "installed",
    "online",
    "rollout_r",
    "online_r",
]
runner = CliRunner()


@pytest.fixture(scope="module")
def tmp_exports(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("export-tmp")


@pytest.fixture(scope="module")
def web(loaded_engine, tmp_exports):
    """A server of this module: reading open, temporary files under ``tmp_exports``."""
    with serve(loaded_engine, upload_tmp_dir=tmp_exports) as base, client(base) as c:
        yield c


@pytest.fixture(scope="module")
def revision(loaded_engine) -> int:
    with loaded_engine.connect() as conn:
        return int(conn.execute(text("SELECT revision FROM data_revision")).scalar_one())


def db_areas(engine, level: int, parent: str | None = None) -> gpd.GeoDataFrame:
    """The live areas of ``level`` and their stored figures, straight from the tables."""
    where = "a.level = :level" + (" AND a.code LIKE :parent || '%' AND a.code <> :parent" if parent else "")
    with engine.connect() as conn:
        frame = gpd.read_postgis(
            text(f"""SELECT a.code, a.name, a.parent_code, coalesce(s.households, a.households) AS households,
                            s.planned, s.installed, s.online, s.rollout_rate, s.online_rate, a.area_m2, a.geom
                     FROM area a LEFT JOIN area_stats s ON s.code = a.code WHERE {where} ORDER BY a.code"""),
            conn,
            geom_col="geom",
            params={"level": level, "parent": parent},
        )
    return frame


def db_cameras(engine, area: str | None = None) -> pd.DataFrame:
    where = "status <> 'removed'" + (" AND area_code LIKE :area || '%'" if area else "")
    with engine.connect() as conn:
        return pd.read_sql(
            text(f"""SELECT device_id, name, status, online, operator, area_code, ST_X(geom) AS lon, ST_Y(geom) AS lat
                     FROM camera WHERE {where} ORDER BY device_id"""),
            conn,
            params={"area": area},
        )


def download(web, path: str, tmp_exports: Path, **params):
    r = web.get(path, params=params)
    assert r.status_code == 200, r.text[:500]
    assert list(tmp_exports.iterdir()) == []  # the temporary directory is gone before the answer
    return r


def saved(tmp_path: Path, r, name: str | None = None) -> Path:
    path = tmp_path / (name or r.headers["content-disposition"].split('filename="')[1].rstrip('"'))
    path.write_bytes(r.content)
    return path


def assert_figures(got: pd.DataFrame, expected: pd.DataFrame, names: dict[str, str] | None = None) -> None:
    """``got``'s codes, names and figures (columns renamed by ``names``) equal the database's."""
    got = got.rename(columns=names or {}).reset_index(drop=True)
    assert got["code"].tolist() == expected["code"].tolist()
    assert got["name"].tolist() == expected["name"].tolist()  # Chinese intact
    for column in FIGURES:
        want = pd.to_numeric(expected[column]).to_numpy(dtype=float)
        have = pd.to_numeric(got[column]).to_numpy(dtype=float)
        np.testing.assert_allclose(have, want, rtol=1e-12, equal_nan=True, err_msg=column)


def test_micro_grids_as_geopackage(web, loaded_engine, tmp_exports, tmp_path, revision):
    r = download(web, "/api/v1/exports/areas", tmp_exports, level="microgrid")
    assert r.headers["content-type"] == "application/geopackage+sqlite3"
    assert r.headers["content-disposition"] == f'attachment; filename="areas_{COUNTY}_microgrid_r{revision}.gpkg"'
    assert r.headers["x-data-revision"] == str(revision) and r.headers["x-export-rows"] == "10311"
    path = saved(tmp_path, r)
    info = pyogrio.read_info(path)
    assert (info["layer_name"], info["features"], info["crs"], info["geometry_type"]) == (
        "microgrid",
        10311,
        "EPSG:4490",
        "MultiPolygon",
    )
    got = pyogrio.read_dataframe(path)
    expected = db_areas(loaded_engine, 4)
    assert_figures(got, expected)
    assert got["level_name"].eq("微网格").all() and got["parent_code"].tolist() == expected["parent_code"].tolist()
    assert shapely.equals_exact(got.geometry.to_numpy(), expected.geometry.to_numpy(), tolerance=1e-9).all()


GEOMETRIC = [("gpkg", "4490"), ("gpkg", "gk"), ("parquet", "4490"), ("parquet", "gk"), ("shp", "4490"), ("shp", "gk")]


@pytest.mark.parametrize(("fmt", "crs"), GEOMETRIC)
def test_townships_in_each_geometric_format_and_crs(web, loaded_engine, tmp_exports, tmp_path, revision, fmt, crs):
    r = download(web, "/api/v1/exports/areas", tmp_exports, level=1, format=fmt, crs=crs)
    expected = db_areas(loaded_engine, 1)
    epsg = 4490 if crs == "4490" else metric_crs(db_areas(loaded_engine, 0).geometry.to_numpy()).to_epsg()
    assert epsg in (4490, 4547)  # 鹿邑县 lies in the 3° zone of 114°E
    suffix = {"gpkg": ".gpkg", "parquet": ".parquet", "shp": ".shp.zip"}[fmt]
    crs_part = "" if crs == "4490" else f"_epsg{epsg}"
    assert r.headers["content-disposition"] == (
        f'attachment; filename="areas_{COUNTY}_township{crs_part}_r{revision}{suffix}"'
    )
    assert (
        r.headers["content-type"]
        == {
            "gpkg": "application/geopackage+sqlite3",
            "parquet": "application/vnd.apache.parquet",
            "shp": "application/zip",
        }[fmt]
    )
    path = saved(tmp_path, r)
    if fmt == "parquet":
        geo = json.loads(pq.read_metadata(path).metadata[b"geo"])
        declared = geo["columns"][geo["primary_column"]]["crs"]
        assert declared["id"] == {"authority": "EPSG", "code": epsg}  # PROJJSON naming the EPSG code
        assert pyproj.CRS.from_json_dict(declared).to_epsg() == epsg
        got = gpd.read_parquet(path)
        names = None
    else:
        info = pyogrio.read_info(path)
        assert (info["features"], info["crs"]) == (24, f"EPSG:{epsg}")
        got = pyogrio.read_dataframe(path)
        names = None
        if fmt == "shp":
            assert list(info["fields"]) == SHP_FIELDS
            names = {"parent": "parent_code", "rollout_r": "rollout_rate", "online_r": "online_rate"}
            check_shapefile_zip(path, "township")
    assert_figures(got, expected, names)
    assert got.crs.to_epsg() == epsg
    # the same boundaries, in the CRS asked for
    back = gpd.GeoSeries(got.geometry.to_numpy(), crs=epsg).to_crs(4490)
    # (a Shapefile reads single-part areas back as Polygon, rings in its own orientation)
    assert (shapely.hausdorff_distance(back.to_numpy(), expected.geometry.to_numpy()) < 1e-6).all()


def check_shapefile_zip(path: Path, stem: str) -> None:
    """.shp .shx .dbf .prj .cpg; the .cpg says GBK and the DBF's text is GBK (not UTF-8)."""
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == [f"{stem}{s}" for s in (".shp", ".shx", ".dbf", ".prj", ".cpg")]
        assert archive.read(f"{stem}.cpg") == b"GBK"
        dbf = archive.read(f"{stem}.dbf")
    assert dbf_decodes(dbf, "GBK") and not dbf_decodes(dbf, "UTF-8")
    assert "真源街道".encode("gbk") in dbf or "微网格".encode("gbk") in dbf or "村委会".encode("gbk") in dbf


def test_townships_as_csv_and_xlsx(web, loaded_engine, tmp_exports, revision):
    expected = db_areas(loaded_engine, 1)
    r = download(web, "/api/v1/exports/areas", tmp_exports, level="township", format="csv")
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == f'attachment; filename="areas_{COUNTY}_township_r{revision}.csv"'
    assert r.content.startswith("\ufeff".encode())  # BOM: Excel reads the Chinese names
    body = r.content.decode("utf-8-sig")
    assert f'"{TOWN}","真源街道",1,"乡镇/街道","{COUNTY}"' in body  # codes quoted as text, numbers bare
    got = pd.read_csv(io.StringIO(body), dtype={"code": str, "parent_code": str})
    assert "geometry" not in got and len(got) == 24
    assert_figures(got, expected)

    r = download(web, "/api/v1/exports/areas", tmp_exports, level="township", format="xlsx")
    assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(r.content))["township"]
    rows = list(sheet.iter_rows())
    header = [c.value for c in rows[0]]
    assert header[:3] == ["编码", "名称", "层级"] and len(rows) == 25
    assert all(row[0].data_type == "s" and isinstance(row[0].value, str) for row in rows[1:])  # codes: text cells
    assert rows[1][0].value == TOWN and rows[1][1].value == "真源街道"
    rate = header.index("安装率")
    assert rows[1][rate].number_format == "0.00%"
    got = pd.DataFrame([[c.value for c in row] for row in rows[1:]], columns=header).rename(
        columns={"编码": "code", "名称": "name", "户数": "households", "计划数": "planned", "已安装": "installed"}
        | {"在线": "online", "安装率": "rollout_rate", "上云率": "online_rate"}
    )
    assert_figures(got, expected)


def test_cameras(web, loaded_engine, tmp_exports, tmp_path, revision):
    r = download(web, "/api/v1/exports/cameras", tmp_exports)
    assert r.headers["content-disposition"] == f'attachment; filename="cameras_{COUNTY}_r{revision}.gpkg"'
    path = saved(tmp_path, r)
    info = pyogrio.read_info(path)
    assert (info["features"], info["crs"], info["geometry_type"]) == (10520, "EPSG:4490", "Point")
    got = pyogrio.read_dataframe(path)
    expected = db_cameras(loaded_engine)
    assert got["device_id"].tolist() == expected["device_id"].tolist()
    assert (
        got["name"].tolist() == expected["name"].tolist() and got["operator"].tolist() == expected["operator"].tolist()
    )
    np.testing.assert_allclose(got.geometry.x, expected["lon"], atol=1e-9)

    town = db_cameras(loaded_engine, TOWN)
    r = download(web, "/api/v1/exports/cameras", tmp_exports, area=TOWN, format="xlsx")
    assert r.headers["content-disposition"] == f'attachment; filename="cameras_{TOWN}_r{revision}.xlsx"'
    rows = list(load_workbook(io.BytesIO(r.content))["cameras"].iter_rows(values_only=True))
    assert rows[0][:2] == ("设备编码", "名称") and len(rows) == 1 + len(town)
    assert [row[0] for row in rows[1:]] == town["device_id"].tolist()  # 20-digit ids stay text
    lon, lat = rows[0].index("经度"), rows[0].index("纬度")
    np.testing.assert_allclose([row[lon] for row in rows[1:]], town["lon"], atol=1e-7)
    np.testing.assert_allclose([row[lat] for row in rows[1:]], town["lat"], atol=1e-7)

    r = download(web, "/api/v1/exports/cameras", tmp_exports, area=TOWN, format="shp", crs="gk")
    path = saved(tmp_path, r)
    info = pyogrio.read_info(path)
    assert (info["features"], info["crs"]) == (len(town), "EPSG:4547")
    got = pyogrio.read_dataframe(path)
    assert got["name"].tolist() == town["name"].tolist()
    check_shapefile_zip(path, "cameras")
    np.testing.assert_allclose(got["lon"], town["lon"], atol=1e-7)  # lon/lat stay EPSG:4490 degrees


def test_the_cli_writes_what_the_api_serves(web, db_url, loaded_engine, tmp_exports, tmp_path, monkeypatch):
    for _ in engine_for_cli(db_url, monkeypatch):
        out = tmp_path / "towns.csv"
        result = runner.invoke(cli_app, ["export", "areas", "--level", "township", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "24 行" in result.stdout
        api = download(web, "/api/v1/exports/areas", tmp_exports, level=1, format="csv")
        assert out.read_bytes() == api.content

        out = tmp_path / "grids.gpkg"
        args = ["export", "areas", "--level", "3", "--parent", TOWN, "--crs", "gk", "--out", str(out)]
        result = runner.invoke(cli_app, args)
        assert result.exit_code == 0, result.output
        api = download(web, "/api/v1/exports/areas", tmp_exports, level=3, parent=TOWN, crs="gk")
        from_api = pyogrio.read_dataframe(saved(tmp_path, api))
        from_cli = pyogrio.read_dataframe(out)
        assert from_cli.crs == from_api.crs and len(from_cli) == len(db_areas(loaded_engine, 3, TOWN))
        pd.testing.assert_frame_equal(from_cli, from_api)

        out = tmp_path / "cams.xlsx"
        result = runner.invoke(cli_app, ["export", "cameras", "--area", TOWN, "--out", str(out)])
        assert result.exit_code == 0, result.output
        rows = list(load_workbook(out).active.iter_rows(values_only=True))
        assert len(rows) == 1 + len(db_cameras(loaded_engine, TOWN))

        result = runner.invoke(cli_app, ["export", "areas", "--level", "town", "--out", str(tmp_path / "x.gpkg")])
        assert result.exit_code == 2 and "invalid_level" in result.stderr
        result = runner.invoke(cli_app, ["export", "areas", "--level", "4", "--out", str(tmp_path / "x.kml")])
        assert result.exit_code == 2 and "missing_option" in result.stderr


BAD = [
    ("areas", {}, 400, "level_required"),
    ("areas", {"level": "town"}, 400, "invalid_level"),
    ("areas", {"level": 1, "format": "kml"}, 400, "unknown_format"),
    ("areas", {"level": 1, "crs": "3857"}, 400, "invalid_crs"),
    ("areas", {"level": 1, "format": "csv", "crs": "gk"}, 400, "crs_not_applicable"),
    ("areas", {"level": 4, "parent": "999"}, 404, "area_not_found"),
    ("areas", {"level": 1, "parent": TOWN}, 400, "level_not_below_parent"),
    ("cameras", {"status": "broken"}, 400, "invalid_status"),
    ("cameras", {"area": "999"}, 404, "area_not_found"),
    ("cameras", {"format": "xlsx", "crs": "gk"}, 400, "crs_not_applicable"),
]


def test_bad_parameters_get_stable_codes(web, tmp_exports):
    for what, params, status, code in BAD:
        r = web.get(f"/api/v1/exports/{what}", params=params)
        assert (r.status_code, r.json()["code"]) == (status, code), (what, params, r.text)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in r.json()["message"])
    assert list(tmp_exports.iterdir()) == []


def test_exports_need_a_token_when_reading_does_and_are_bounded(loaded_engine):
    app = create_app(loaded_engine, get_settings().model_copy(update={"read_access": "token", "export_workers": 1}))
    viewer = make_token(loaded_engine, "viewer", name="export-viewer")
    with serve_app(app) as base, client(base) as anonymous, client(base, viewer) as reader:
        r = anonymous.get("/api/v1/exports/areas", params={"level": 1, "format": "csv"})
        assert (r.status_code, r.json()["code"]) == (401, "token_required")
        assert reader.get("/api/v1/exports/areas", params={"level": 1, "format": "csv"}).status_code == 200
        with app.state.export_slots.hold():  # another export is being written
            r = reader.get("/api/v1/exports/cameras", params={"format": "csv"})
            assert (r.status_code, r.json()["code"]) == (429, "too_many_exports") and r.headers["retry-after"]
        assert reader.get("/api/v1/exports/cameras", params={"format": "csv", "area": TOWN}).status_code == 200
    with loaded_engine.begin() as conn:
        conn.execute(text("DELETE FROM api_token WHERE name = 'export-viewer'"))
