"""Reading the boundary files county staff bring (real files written by GDAL) and writing a
repaired copy back in the same format, CRS and encoding."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from gridmap.io.boundaries import read_areas, read_boundary_file
from gridmap.io.boundary_formats import BoundaryReadError, BoundaryWriteError
from gridmap.io.boundary_writer import write_boundary_file
from gridmap.io.crs import gauss_kruger_epsg, infer_crs
from gridmap.io.encoding import detect_dbf_encoding, encoding_name
from gridmap.sample.files import GEOJSON_DIR, GPKG, SHAPEFILE_ZIP

LEVEL_LAYERS = ["county", "township", "village", "grid", "microgrid"]


@pytest.fixture(scope="module")
def gpkg(data_dir) -> Path:
    return data_dir / GPKG


@pytest.fixture(scope="module")
def townships(gpkg) -> gpd.GeoDataFrame:
    """The 24 townships as GDAL reads them from the GeoPackage (EPSG:4490, Chinese columns)."""
    return pyogrio.read_dataframe(gpkg, layer="township")


@pytest.fixture(scope="module")
def gk_township(data_dir, tmp_path_factory) -> Path:
    """township.shp/.shx/.dbf/.prj/.cpg extracted from the sample zip (GK zone 38, GBK)."""
    folder = tmp_path_factory.mktemp("gk")
    with zipfile.ZipFile(data_dir / SHAPEFILE_ZIP) as archive:
        for ext in ("shp", "shx", "dbf", "prj", "cpg"):
            archive.extract(f"township.{ext}", folder)
    return folder / "township.shp"


def shapefile_copy(shp: Path, folder: Path, drop: tuple[str, ...] = ()) -> Path:
    """A copy of ``shp`` and its sidecars in ``folder`` without the extensions in ``drop``."""
    folder.mkdir(parents=True, exist_ok=True)
    for part in shp.parent.glob(f"{shp.stem}.*"):
        if part.suffix not in drop:
            (folder / part.name).write_bytes(part.read_bytes())
    return folder / shp.name


def zip_of(files: list[Path], target: Path, folder: str = "") -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for file in files:
            archive.write(file, f"{folder}{file.name}")
    return target


def max_offset_m(a: gpd.GeoSeries, b: gpd.GeoSeries, epsg: int = 4526) -> float:
    """Largest coordinate difference in metres between two aligned geometry series (same vertices)."""
    ca = shapely.get_coordinates(a.to_crs(epsg).to_numpy())
    cb = shapely.get_coordinates(b.to_crs(epsg).to_numpy())
    assert ca.shape == cb.shape
    return float(np.abs(ca - cb).max())


def error_of(call, *args, **kwargs) -> BoundaryReadError:
    with pytest.raises(BoundaryReadError) as info:
        call(*args, **kwargs)
    return info.value


# ------------------------------------------------------------------------------------ GeoPackage


def test_gpkg_one_layer(gpkg, townships):
    bf = read_boundary_file(gpkg, layer="township")
    assert (bf.format, bf.layers, bf.encoding, bf.encoding_source) == ("gpkg", ["township"], "UTF-8", "format")
    assert (bf.source_crs.to_epsg(), bf.crs_source) == (4490, "file")
    assert bf.field_mapping == {
        "code": "编码",
        "name": "名称",
        "parent_code": "上级编码",
        "level": "层级",
        "kind": "类型",
        "households": "户数",
        "worker_name": "网格员",
        "worker_phone": "联系电话",
    }
    areas = bf.areas
    assert areas.crs.to_epsg() == 4490 and len(areas) == 24
    assert areas["code"].tolist() == townships["编码"].tolist()
    assert areas["name"].tolist() == townships["名称"].tolist()
    assert areas["level"].dtype == "Int64" and (areas["level"] == 1).all()
    assert areas["households"].dtype == "Int64" and areas["households"].sum() == townships["户数"].sum()
    assert areas["source_row"].tolist() == list(range(24)) and (areas["layer"] == "township").all()
    assert areas.geometry.geom_equals_exact(townships.geometry, tolerance=0).all()
    assert list(bf.originals) == ["township"]
    assert bf.originals["township"].columns.tolist() == townships.columns.tolist()
    assert any("township" in n and "24" in n for n in bf.notes)


def test_gpkg_all_layers_in_file_order(gpkg):
    bf = read_boundary_file(gpkg)
    assert bf.layers == LEVEL_LAYERS
    counts = bf.areas.groupby("layer", sort=False).size()
    assert counts.index.tolist() == LEVEL_LAYERS and counts.tolist() == [1, 24, 565, 1294, 10311]
    # layer by layer, each in file order with its own 0-based source_row
    assert (bf.areas.groupby("layer")["source_row"].apply(lambda s: (s.diff().dropna() == 1).all())).all()
    assert bf.areas.groupby("layer", sort=False)["level"].first().tolist() == [0, 1, 2, 3, 4]
    assert any("county、township、village、grid、microgrid" in n for n in bf.notes)


def test_unknown_layer_lists_the_layers(gpkg):
    err = error_of(read_boundary_file, gpkg, layer="乡镇")
    assert err.code == "layer_not_found"
    assert "county、township、village、grid、microgrid" in err.message


def test_layers_without_polygons_are_skipped(tmp_path, townships):
    path = tmp_path / "mixed.gpkg"
    points = gpd.GeoDataFrame({"编码": ["411628001"]}, geometry=[shapely.Point(115.5, 33.9)], crs=4490)
    pyogrio.write_dataframe(points, path, layer="cameras")
    pyogrio.write_dataframe(townships, path, layer="township")
    bf = read_boundary_file(path)
    assert bf.layers == ["township"]
    assert any("cameras" in n and "跳过" in n for n in bf.notes)
    assert error_of(read_boundary_file, path, layer="cameras").code == "no_polygon_layer"
    only_points = tmp_path / "points.gpkg"
    pyogrio.write_dataframe(points, only_points, layer="cameras")
    assert error_of(read_boundary_file, only_points).code == "no_polygon_layer"


# ------------------------------------------------------------------------------------- Shapefile


def test_zipped_shapefile_gbk_with_cpg(data_dir, townships):
    bf = read_boundary_file(data_dir / SHAPEFILE_ZIP, layer="township")
    assert (bf.format, bf.encoding, bf.encoding_source) == ("shapefile", "GBK", "cpg")
    assert (bf.source_crs.to_epsg(), bf.crs_source) == (4526, "file")
    assert bf.areas["name"].tolist() == townships["名称"].tolist()
    assert bf.areas["code"].tolist() == townships["编码"].tolist()
    assert max_offset_m(bf.areas.geometry, townships.geometry.explode(index_parts=False)) < 0.01
    assert any("GBK" in n and ".cpg" in n for n in bf.notes)


def test_zip_with_several_shapefiles_in_a_subfolder(tmp_path, gk_township, data_dir):
    folder = tmp_path / "parts"
    with zipfile.ZipFile(data_dir / SHAPEFILE_ZIP) as archive:
        for ext in ("shp", "shx", "dbf", "prj", "cpg"):
            archive.extract(f"county.{ext}", folder)
    files = sorted(folder.iterdir()) + sorted(gk_township.parent.glob("township.*"))
    path = zip_of(files, tmp_path / "边界.zip", folder="鹿邑县/")
    bf = read_boundary_file(path)
    assert bf.layers == ["county", "township"] and len(bf.areas) == 25
    assert bf.areas["name"].iloc[0] == "鹿邑县" and bf.encoding == "GBK"


def test_shapefile_without_cpg_is_detected_as_gb18030(tmp_path, gk_township, townships):
    no_cpg = zip_of(
        [p for p in sorted(gk_township.parent.glob("township.*")) if p.suffix != ".cpg"], tmp_path / "no_cpg.zip"
    )
    # GDAL alone falls back to ISO-8859-1 and gives mojibake
    raw = pyogrio.read_dataframe(no_cpg)
    assert "编码" not in raw.columns and "真源街道" not in raw.iloc[:, 1].tolist()
    bf = read_boundary_file(no_cpg)
    assert (bf.encoding, bf.encoding_source) == ("GB18030", "detected")
    assert bf.field_mapping["name"] == "名称"
    assert bf.areas["name"].tolist() == townships["名称"].tolist()
    assert any("GB18030" in n and "没有 .cpg" in n for n in bf.notes)
    explicit = read_boundary_file(no_cpg, encoding="gbk")
    assert (explicit.encoding, explicit.encoding_source) == ("GBK", "explicit")
    assert explicit.areas["name"].tolist() == townships["名称"].tolist()


def test_undecodable_shapefile_text_asks_for_an_encoding(tmp_path):
    path = tmp_path / "latin.shp"
    frame = gpd.GeoDataFrame(
        {"code": ["411628001"], "name": ["ÿÖÿ"]}, geometry=[shapely.box(115.4, 33.8, 115.5, 33.9)], crs=4490
    )
    pyogrio.write_dataframe(frame, path, encoding="ISO-8859-1")
    path.with_suffix(".cpg").unlink()
    err = error_of(read_boundary_file, path)
    assert err.code == "encoding_unknown" and "--encoding" in err.message
    assert read_boundary_file(path, encoding="latin1").areas["name"].tolist() == ["ÿÖÿ"]
    assert error_of(read_boundary_file, path, encoding="no-such-codec").code == "encoding_unknown"


@pytest.mark.filterwarnings("ignore:Could not decode error message")
def test_utf8_shapefile_with_names_cut_inside_a_character(tmp_path, townships):
    path = tmp_path / "utf8.shp"
    pyogrio.write_dataframe(townships.iloc[:3], path, encoding="UTF-8")  # 上级编码 = 12 bytes, cut at 10
    with pytest.raises(UnicodeDecodeError):  # as QGIS/GDAL write it, pyogrio cannot open it
        pyogrio.read_dataframe(path)
    bf = read_boundary_file(path)
    assert (bf.encoding, bf.encoding_source) == ("UTF-8", "cpg")
    assert bf.areas["name"].tolist() == townships["名称"].tolist()[:3]
    assert "上级编" in bf.areas.columns and any("截断" in n for n in bf.notes)


def test_gauss_kruger_without_prj_is_inferred(tmp_path, gk_township, townships):
    path = shapefile_copy(gk_township, tmp_path / "noprj", drop=(".prj",))
    bf = read_boundary_file(path)
    assert (bf.source_crs.to_epsg(), bf.crs_source) == (4526, "inferred")
    assert max_offset_m(bf.areas.geometry, townships.geometry.explode(index_parts=False)) < 0.01
    assert any("EPSG:4526" in n and "38" in n and "推断" in n for n in bf.notes)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_gauss_kruger_without_zone_prefix_needs_a_crs(tmp_path, gk_township, townships):
    frame = pyogrio.read_dataframe(gk_township, encoding="GBK")
    frame = frame.set_geometry(frame.geometry.translate(xoff=-38_000_000)).set_crs(None, allow_override=True)
    path = tmp_path / "noprefix.shp"
    pyogrio.write_dataframe(frame, path, encoding="GBK")
    assert not path.with_suffix(".prj").exists()
    err = error_of(read_boundary_file, path)
    assert err.code == "crs_unknown" and "--crs" in err.message and "4534" in err.message
    bf = read_boundary_file(path, crs="EPSG:4547")  # CGCS2000 3° GK, CM 114°E, no prefix
    assert (bf.source_crs.to_epsg(), bf.crs_source) == (4547, "explicit")
    assert max_offset_m(bf.areas.geometry, townships.geometry.explode(index_parts=False)) < 0.01


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_lonlat_without_prj_is_cgcs2000(tmp_path, townships):
    path = tmp_path / "lonlat.shp"
    pyogrio.write_dataframe(townships.set_crs(None, allow_override=True), path, encoding="GBK")
    bf = read_boundary_file(path)
    assert (bf.source_crs.to_epsg(), bf.crs_source) == (4490, "inferred")
    assert any("经纬度" in n and "4490" in n for n in bf.notes)


def test_prj_contradicting_the_coordinates_is_a_crs_mismatch(tmp_path, gk_township, townships):
    frame = pyogrio.read_dataframe(gk_township, encoding="GBK").set_crs(4490, allow_override=True)
    path = tmp_path / "wrongprj.shp"
    pyogrio.write_dataframe(frame, path, encoding="GBK")
    err = error_of(read_boundary_file, path)
    assert err.code == "crs_mismatch" and "--crs 4526" in err.message and "38,617,980" in err.message
    assert read_boundary_file(path, crs=4526).crs_source == "explicit"
    # one stray feature outside China is a data error for the validator, not a wrong CRS
    stray = townships.copy()
    stray.loc[3, "geometry"] = shapely.box(0, 0, 1, 1)
    pyogrio.write_dataframe(stray, tmp_path / "stray.gpkg")
    bf = read_boundary_file(tmp_path / "stray.gpkg")
    assert len(bf.areas) == 24 and any("1 个要素（第 4 个）" in n for n in bf.notes)


def test_incomplete_shapefile_and_zip_without_shapefile(tmp_path, gk_township):
    path = shapefile_copy(gk_township, tmp_path / "nodbf", drop=(".dbf",))
    assert error_of(read_boundary_file, path).code == "shapefile_incomplete"
    other = tmp_path / "readme.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("说明.txt", "无")
    err = error_of(read_boundary_file, other)
    assert err.code == "unsupported_format" and "说明.txt" in err.message


# --------------------------------------------------------------------- GeoJSON, KML, KMZ, others


def test_geojson_with_english_fields(data_dir, townships):
    bf = read_boundary_file(data_dir / GEOJSON_DIR / "township.geojson")
    assert (bf.format, bf.encoding_source, bf.source_crs.to_epsg()) == ("geojson", "format", 4490)
    assert bf.field_mapping["code"] == "code" and bf.field_mapping["worker_phone"] == "worker_phone"
    assert bf.areas["code"].tolist() == townships["编码"].tolist()


@pytest.mark.parametrize(("suffix", "layer"), [(".kml", "乡镇"), (".kmz", "township")])
def test_kml_and_kmz_written_by_gdal(tmp_path, townships, suffix, layer):
    # (GDAL's own KMZ writer mangles non-ASCII layer names in the archive, hence "township" there)
    path = tmp_path / f"乡镇{suffix}"
    pyogrio.write_dataframe(
        townships[["编码", "名称", "户数", "geometry"]].to_crs(4326), path, driver="LIBKML", layer=layer
    )
    bf = read_boundary_file(path, encoding="GBK")
    assert (bf.format, bf.layers, bf.encoding, bf.source_crs.to_epsg()) == (suffix[1:], [layer], "UTF-8", 4326)
    assert bf.field_mapping == {"code": "编码", "name": "名称", "households": "户数"}
    assert bf.areas["code"].tolist() == townships["编码"].tolist()
    assert bf.areas["households"].tolist() == townships["户数"].tolist()  # KML stores text: back to Int64
    assert not bf.areas.geometry.has_z.any()
    assert max_offset_m(bf.areas.geometry, townships.geometry) < 0.01
    assert "tessellate" not in bf.areas and "tessellate" in bf.originals[layer]
    assert any("忽略指定的编码 GBK" in n for n in bf.notes)


def test_kml_with_untyped_chinese_data_fields(tmp_path):
    """As Google Earth and 奥维 write it: <name> plus <Data name="编码">, a MultiGeometry, altitudes."""
    path = tmp_path / "网格.kml"
    ring = (
        "<Polygon><outerBoundaryIs><LinearRing><coordinates>{0},33.80,12 {1},33.80,12 {1},33.90,12 {0},33.80,12"
        "</coordinates></LinearRing></outerBoundaryIs></Polygon>"
    )
    path.write_text(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>网格</name><Folder><name>一号片区</name>
<Placemark><name>一号网格</name><ExtendedData><Data name="编码"><value>411628001001001</value></Data>
<Data name="网格员"><value>张三</value></Data></ExtendedData>
<MultiGeometry>{ring.format(115.4, 115.5)}{ring.format(115.6, 115.7)}</MultiGeometry>
</Placemark></Folder></Document></kml>""",
        encoding="utf-8",
    )
    bf = read_boundary_file(path)
    assert bf.layers == ["一号片区"]
    assert bf.field_mapping == {"code": "编码", "name": "Name", "worker_name": "网格员"}
    row = bf.areas.iloc[0]
    assert (row["code"], row["name"], row["worker_name"]) == ("411628001001001", "一号网格", "张三")
    assert row.geometry.geom_type == "MultiPolygon" and not row.geometry.has_z


def test_3d_polygons_lose_z_with_a_note(tmp_path, townships):
    path = tmp_path / "z.gpkg"
    frame = townships.set_geometry(shapely.force_3d(townships.geometry.to_numpy(), z=50.0), crs=4490)
    pyogrio.write_dataframe(frame, path, layer="township")
    assert pyogrio.read_dataframe(path).geometry.has_z.all()
    bf = read_boundary_file(path)
    assert not bf.areas.geometry.has_z.any()
    assert bf.areas.geometry.geom_equals_exact(townships.geometry, tolerance=0).all()
    assert any("24 个要素带高程" in n for n in bf.notes)


def test_collections_of_polygons_become_multipolygons(tmp_path):
    path = tmp_path / "gc.geojson"
    a, b = shapely.box(115.4, 33.8, 115.5, 33.9), shapely.box(115.6, 33.8, 115.7, 33.9)
    frame = gpd.GeoDataFrame(
        {"编码": ["411628001", "411628002"]},
        geometry=[shapely.GeometryCollection([a, b]), shapely.GeometryCollection([a, shapely.Point(115.45, 33.85)])],
        crs=4490,
    )
    pyogrio.write_dataframe(frame, path)
    bf = read_boundary_file(path)
    assert bf.areas.geometry.geom_type.tolist() == ["MultiPolygon", "GeometryCollection"]
    assert any("1 个要素是只含多边形的几何集合" in n for n in bf.notes)


def test_explicit_field_mapping_and_missing_code(tmp_path, townships):
    path = tmp_path / "renamed.geojson"
    frame = townships.rename(columns={"编码": "GRID_ID", "名称": "TITLE", "层级": "级"})
    frame["级"] = ["乡镇"] * 20 + ["街道", "乡", "镇", "第一级"]
    frame["户数"] = frame["户数"].astype(str)
    frame.loc[0, "户数"] = "约 23000"
    pyogrio.write_dataframe(frame, path)
    err = error_of(read_boundary_file, path)
    assert err.code == "no_code_field" and "GRID_ID" in err.message and "--field code=" in err.message
    bf = read_boundary_file(path, fields={"code": "GRID_ID", "name": "TITLE", "level": "级"})
    assert bf.field_mapping["code"] == "GRID_ID" and bf.field_mapping["name"] == "TITLE"
    assert bf.areas["code"].tolist() == townships["编码"].tolist()
    assert bf.areas["level"].tolist()[19:] == [1, 1, 1, 1, pd.NA]
    assert pd.isna(bf.areas["households"].iloc[0]) and bf.areas["households"].iloc[1] == townships["户数"].iloc[1]
    assert any("“约 23000”" in n for n in bf.notes) and any("“第一级”" in n for n in bf.notes)
    err = error_of(read_boundary_file, path, fields={"code": "编号"})
    assert err.code == "field_not_found" and "GRID_ID" in err.message


def test_codes_normalised_and_unsafe_float_codes_refused(tmp_path):
    box = shapely.box(115.4, 33.8, 115.5, 33.9)
    path = tmp_path / "codes.geojson"
    frame = gpd.GeoDataFrame(
        {"code": [" 411628001 ", "411628002.0", ""], "parent_code": [411628, 411628, 411628]},
        geometry=[box] * 3,
        crs=4490,
    )
    pyogrio.write_dataframe(frame, path)
    bf = read_boundary_file(path)
    assert bf.areas["code"].tolist() == ["411628001", "411628002", None]
    assert bf.areas["parent_code"].tolist() == ["411628"] * 3
    floats = tmp_path / "float_codes.geojson"
    frame = gpd.GeoDataFrame({"code": [411628001001001001.0]}, geometry=[box], crs=4490)
    pyogrio.write_dataframe(frame, floats)
    assert pyogrio.read_dataframe(floats)["code"].dtype == "float64"
    err = error_of(read_boundary_file, floats)
    assert err.code == "code_not_exact" and "文本" in err.message


def test_garbage_and_unknown_files(tmp_path):
    for name in ("broken.gpkg", "broken.zip", "broken.kml", "broken.geojson"):
        (tmp_path / name).write_bytes(b"\x00\x01not a file at all" * 10)
        assert error_of(read_boundary_file, tmp_path / name).code == "unreadable", name
    (tmp_path / "grids.dwg").write_bytes(b"AC1032")
    assert error_of(read_boundary_file, tmp_path / "grids.dwg").code == "unsupported_format"
    assert error_of(read_boundary_file, tmp_path / "missing.gpkg").code == "file_not_found"
    assert error_of(read_boundary_file, tmp_path / "broken.gpkg", crs="EPSG:nonsense").code == "crs_unknown"


def test_read_areas_stays_a_canonical_multipolygon_reader(data_dir, townships):
    areas = read_areas(data_dir / SHAPEFILE_ZIP, layer="township")
    assert (areas.geometry.geom_type == "MultiPolygon").all()
    assert "layer" not in areas and "source_row" not in areas
    assert areas["code"].tolist() == townships["编码"].tolist()


# ----------------------------------------------------------------------------------------- helpers


def test_crs_helpers():
    assert gauss_kruger_epsg(115.48) == 4547 and gauss_kruger_epsg(115.48, prefix=True) == 4526
    assert gauss_kruger_epsg(115.48, zone_width=6) == 4509 and gauss_kruger_epsg(115.48, 6, True) == 4498
    assert gauss_kruger_epsg(75.0, prefix=True) == 4513 and gauss_kruger_epsg(135.0) == 4554
    with pytest.raises(ValueError):
        gauss_kruger_epsg(10.0)
    assert infer_crs((19_500_000, 3_000_000, 19_600_000, 3_100_000))[0].to_epsg() == 4497  # 6° zone 19
    assert infer_crs((100.0, 20.0, 101.0, 21.0))[0].to_epsg() == 4490


def test_encoding_helpers(gk_township):
    assert [encoding_name(n) for n in ("936", "cp936", "GB2312", "utf8", "65001", "GB18030")] == [
        "GBK",
        "GBK",
        "GBK",
        "UTF-8",
        "UTF-8",
        "GB18030",
    ]
    assert detect_dbf_encoding(gk_township.with_suffix(".dbf").read_bytes())[0] == "GB18030"


# -------------------------------------------------------------------------------------------- write


def shifted(bf, metres: float = 5.0) -> gpd.GeoSeries:
    """The areas moved 5 m east (a visible 'repair'), EPSG:4490."""
    return bf.areas.geometry.to_crs(4526).translate(xoff=metres).to_crs(4490)


def assert_round_trip(bf, out: Path, new: gpd.GeoSeries):
    """``out`` reads back with ``bf``'s layers and attributes and the ``new`` geometry."""
    back = read_boundary_file(out)
    assert back.layers == bf.layers
    for name in bf.layers:
        original = bf.originals[name].drop(columns="geometry")
        pd.testing.assert_frame_equal(back.originals[name].drop(columns="geometry"), original, check_dtype=False)
    assert back.areas.drop(columns="geometry").equals(bf.areas.drop(columns="geometry"))
    assert max_offset_m(back.areas.geometry, new) < 0.01
    assert max_offset_m(back.areas.geometry, bf.areas.geometry) > 4.9
    return back


def test_write_zipped_shapefile_keeps_gbk_cpg_and_crs(tmp_path, gk_township, data_dir):
    source = zip_of(sorted(gk_township.parent.glob("township.*")), tmp_path / "in.zip")
    bf = read_boundary_file(source)
    new = shifted(bf)
    out = write_boundary_file(bf, new, tmp_path / "out.zip")
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == [f"township.{e}" for e in ("cpg", "dbf", "prj", "shp", "shx")]
        assert archive.read("township.cpg") == b"GBK"
        assert "真源街道".encode("gbk") in archive.read("township.dbf")
    back = assert_round_trip(bf, out, new)
    assert (back.encoding, back.encoding_source, back.source_crs.to_epsg()) == ("GBK", "cpg", 4526)


def test_write_keeps_the_cpg_text_as_found(tmp_path, gk_township, townships):
    source = shapefile_copy(gk_township, tmp_path / "cp936")
    source.with_suffix(".cpg").write_text("936")
    bf = read_boundary_file(source)
    assert (bf.encoding, bf.encoding_source) == ("GBK", "cpg") and any("“936”" in n for n in bf.notes)
    assert bf.areas["name"].tolist() == townships["名称"].tolist()
    out = write_boundary_file(bf, bf.areas.geometry, tmp_path / "out.zip")
    with zipfile.ZipFile(out) as archive:
        assert archive.read("township.cpg") == b"936"


def test_write_detected_encoding_and_inferred_crs_get_cpg_and_prj(tmp_path, gk_township):
    source = shapefile_copy(gk_township, tmp_path / "bare", drop=(".cpg", ".prj"))
    bf = read_boundary_file(source)
    assert (bf.encoding_source, bf.crs_source) == ("detected", "inferred")
    out = write_boundary_file(bf, shifted(bf), tmp_path / "out" / "township.shp")
    assert out.with_suffix(".cpg").read_text() == "GB18030" and out.with_suffix(".prj").exists()
    back = assert_round_trip(bf, out, shifted(bf))
    assert (back.encoding_source, back.crs_source, back.source_crs.to_epsg()) == ("cpg", "file", 4526)


def test_write_gpkg_layers(tmp_path, gpkg):
    source = tmp_path / "two.gpkg"
    for name in ("county", "township"):
        pyogrio.write_dataframe(pyogrio.read_dataframe(gpkg, layer=name), source, layer=name)
    bf = read_boundary_file(source)
    new = shifted(bf)
    out = write_boundary_file(bf, new, tmp_path / "fixed.gpkg")
    assert [list(x) for x in pyogrio.list_layers(out)] == [["county", "MultiPolygon"], ["township", "MultiPolygon"]]
    assert_round_trip(bf, out, new)
    for single in ("all.geojson", "all.shp"):  # one layer per file: refused, nothing written
        with pytest.raises(BoundaryWriteError) as info:
            write_boundary_file(bf, new, tmp_path / single)
        assert info.value.code == "single_layer_format" and not (tmp_path / single).exists()


def test_write_geojson(tmp_path, data_dir):
    bf = read_boundary_file(data_dir / GEOJSON_DIR / "township.geojson")
    new = shifted(bf)
    out = write_boundary_file(bf, new, tmp_path / "fixed.geojson")
    assert_round_trip(bf, out, new)
    with pytest.raises(BoundaryWriteError) as info:
        write_boundary_file(bf, new.iloc[:3], tmp_path / "short.geojson")
    assert info.value.code == "row_count_mismatch"


def test_write_kml_with_two_layers(tmp_path, townships, gpkg):
    source = tmp_path / "in.kml"
    county = pyogrio.read_dataframe(gpkg, layer="county")
    for i, (name, frame) in enumerate((("县", county), ("乡镇", townships))):
        pyogrio.write_dataframe(
            frame[["编码", "名称", "geometry"]].to_crs(4326), source, driver="LIBKML", layer=name, append=i > 0
        )
    bf = read_boundary_file(source)
    assert bf.layers == ["县", "乡镇"]
    new = shifted(bf)
    for out in (tmp_path / "fixed.kml", tmp_path / "fixed.kmz"):
        write_boundary_file(bf, new, out)
        back = assert_round_trip(bf, out, new)
        assert back.format == out.suffix[1:]
