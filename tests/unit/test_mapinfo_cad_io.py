"""Boundary files as county offices keep them: MapInfo tables (TAB and MIF/MID, written by GDAL)
and CAD drawings (DXF, written by ezdxf: closed polylines, code and name texts inside, GBK code
page), read through ``read_areas``/``check_file`` and validated clean."""

from __future__ import annotations

import zipfile
from pathlib import Path

import ezdxf
import geopandas as gpd
import pyogrio
import pytest
import shapely
from boundary_files import surveyed_drawing

from gridmap.io.boundaries import read_areas, read_boundary_file
from gridmap.io.boundary_formats import UPLOAD_EXTENSIONS, BoundaryReadError
from gridmap.io.boundary_writer import write_boundary_file
from gridmap.sample.files import GPKG
from gridmap.services.boundaries import ReadOptions, check_file

GK38_PREFIX, GK_CM114 = 4526, 4547  # CGCS2000 3° zone 38 (CM 114°E) with / without the zone prefix


@pytest.fixture(scope="module")
def townships(data_dir) -> gpd.GeoDataFrame:
    """The sample's 24 townships as GDAL reads them (EPSG:4490, Chinese columns 编码/名称/...)."""
    return pyogrio.read_dataframe(data_dir / GPKG, layer="township")


def zipped(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for file in sorted(folder.iterdir()):
            archive.write(file, f"边界/{file.name}")
    return target


def mapinfo(frame: gpd.GeoDataFrame, folder: Path, name: str, *, mif: bool = False) -> Path:
    """``frame`` as GDAL writes a MapInfo table with the Chinese charset (WindowsSimpChinese)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}{'.mif' if mif else '.tab'}"
    pyogrio.write_dataframe(
        frame[["编码", "名称", "上级编码", "geometry"]],
        path,
        driver="MapInfo File",
        dataset_options={"FORMAT": "MIF"} if mif else None,
        layer_options={"ENCODING": "CP936"},
    )
    return path


def drawing(frame: gpd.GeoDataFrame, path: Path, *, skip_code: int | None = None, two_codes: int | None = None) -> Path:
    """``frame`` (projected) as a Chinese AutoCAD drawing: one closed LWPOLYLINE per area on layer
    “网格边界”, its code as TEXT (even rows) or formatted MTEXT (odd rows) and its name as TEXT
    inside it, on layer “注记”; code page ANSI_936."""
    doc = ezdxf.new("R2000")
    doc.header["$DWGCODEPAGE"] = "ANSI_936"
    doc.encoding = "gbk"  # ezdxf writes $DWGCODEPAGE from it: ANSI_936
    msp = doc.modelspace()
    for i, (geom, code, name) in enumerate(zip(frame.geometry, frame["编码"], frame["名称"])):
        (polygon,) = shapely.get_parts(geom)
        msp.add_lwpolyline(list(polygon.exterior.coords)[:-1], close=True, dxfattribs={"layer": "网格边界"})
        inside = polygon.representative_point()
        if i != skip_code:
            if i % 2:
                msp.add_mtext("{\\fSimSun|b1;" + code + "}", dxfattribs={"layer": "注记"}).set_location(
                    (inside.x, inside.y)
                )
            else:
                msp.add_text(code, height=30, dxfattribs={"layer": "注记"}).set_placement((inside.x, inside.y))
        if i == two_codes:
            msp.add_text("411628999", height=30, dxfattribs={"layer": "注记"}).set_placement((inside.x, inside.y))
        msp.add_text(name, height=30, dxfattribs={"layer": "注记"}).set_placement((inside.x + 1, inside.y + 1))
    msp.add_lwpolyline([(0, 0), (1, 1), (2, 0)], dxfattribs={"layer": "道路"})  # open: not an area
    doc.saveas(path)
    return path


def error_of(call, *args, **kwargs) -> BoundaryReadError:
    with pytest.raises(BoundaryReadError) as caught:
        call(*args, **kwargs)
    return caught.value


def assert_same_areas(areas: gpd.GeoDataFrame, townships: gpd.GeoDataFrame, tolerance_deg: float = 1e-6) -> None:
    assert areas["code"].tolist() == townships["编码"].tolist()
    assert areas["name"].tolist() == townships["名称"].tolist()
    offsets = areas.geometry.to_numpy(), townships.geometry.to_numpy()
    assert float(shapely.hausdorff_distance(*offsets).max()) < tolerance_deg


# -------------------------------------------------------------------------------------------- MapInfo


@pytest.mark.parametrize(("mif", "epsg"), [(False, 4490), (True, GK38_PREFIX)])
def test_zipped_mapinfo_tables_with_chinese_charset(tmp_path, townships, mif, epsg):
    table = mapinfo(townships.to_crs(epsg), tmp_path / "mi", "乡镇", mif=mif)
    head = table.read_bytes()[:400]
    assert b"WindowsSimpChinese" in head and "名称".encode("gbk") in table.read_bytes() + b"".join(
        p.read_bytes() for p in table.parent.iterdir()
    )
    archive = zipped(table.parent, tmp_path / "乡镇.zip")
    areas = read_areas(archive)
    assert_same_areas(areas, townships, 1e-5)
    src, analysis = check_file(archive)
    assert (src.format, src.layers, src.encoding, src.encoding_source) == ("mapinfo", ["乡镇"], "GBK", "file")
    # MapInfo has no CGCS2000 datum: lon/lat comes back as WGS84, zone 38 as its CGCS2000 EPSG code
    assert src.source_crs.to_epsg() == (4326 if epsg == 4490 else GK38_PREFIX)
    assert analysis.report.findings == []


def test_loose_mapinfo_table_without_charset_is_detected(tmp_path, townships):
    table = mapinfo(townships, tmp_path / "mi", "neutral")
    table.write_bytes(table.read_bytes().replace(b"WindowsSimpChinese", b"Neutral"))
    with pytest.raises(UnicodeDecodeError):  # GDAL alone cannot read it
        pyogrio.read_dataframe(table)
    bf = read_boundary_file(table)
    assert (bf.encoding, bf.encoding_source) == ("GB18030", "detected")
    assert bf.areas["name"].tolist() == townships["名称"].tolist()
    assert read_boundary_file(table, encoding="gbk").encoding_source == "explicit"
    table.with_suffix(".map").unlink()
    err = error_of(read_boundary_file, table)
    assert err.code == "mapinfo_incomplete" and ".map" in err.message


def test_mapinfo_zip_repaired_copy_stays_mapinfo(tmp_path, townships):
    archive = zipped(mapinfo(townships.to_crs(GK38_PREFIX), tmp_path / "mi", "乡镇").parent, tmp_path / "in.zip")
    bf = read_boundary_file(archive)
    out = write_boundary_file(bf, bf.areas.geometry, tmp_path / "out.zip")
    again = read_boundary_file(out)
    assert (again.format, again.encoding, again.source_crs.to_epsg()) == ("mapinfo", "GBK", GK38_PREFIX)
    assert_same_areas(again.areas, townships, 1e-5)


# ------------------------------------------------------------------------------------------------ DXF


def test_dxf_with_zone_prefix_codes_as_text_and_mtext(tmp_path, townships):
    path = drawing(townships.to_crs(GK38_PREFIX), tmp_path / "乡镇界线.dxf")
    raw = path.read_bytes()
    assert b"ANSI_936" in raw and "真源街道".encode("gbk") in raw and b"MTEXT" in raw
    areas = read_areas(path)
    assert_same_areas(areas, townships)
    assert set(areas["CAD图层"]) == {"网格边界"}
    src, analysis = check_file(path)
    assert (src.format, src.crs_source, src.source_crs.to_epsg()) == ("dxf", "inferred", GK38_PREFIX)
    assert (src.encoding, src.encoding_source) == ("GBK", "file")
    assert any("未闭合" in n for n in src.notes)
    assert analysis.report.findings == []


def test_dxf_without_zone_prefix_needs_a_crs(tmp_path, townships):
    projected = townships.to_crs(GK_CM114)
    path = drawing(projected, tmp_path / "无带号.dxf")
    err = error_of(read_boundary_file, path)
    assert err.code == "crs_unknown" and "DXF" in err.message and f"--crs {GK_CM114}" in err.message
    assert f"x {round(projected.total_bounds[0]):,}" in err.message
    src, analysis = check_file(path, read=ReadOptions(crs=str(GK_CM114)))
    assert (src.crs_source, src.source_crs.to_epsg()) == ("explicit", GK_CM114)
    assert_same_areas(src.areas, townships)
    assert analysis.report.findings == []


def test_dxf_polygon_without_or_with_two_codes_is_named(tmp_path, townships):
    path = drawing(townships.to_crs(GK38_PREFIX), tmp_path / "缺编码.dxf", skip_code=3, two_codes=5)
    src, analysis = check_file(path)
    codes = src.areas["code"].tolist()
    assert codes[3] is None and codes[5] is None
    assert codes[:3] == townships["编码"].tolist()[:3]
    assert any("第 4 个面" in n and "没有编码文字" in n for n in src.notes)
    assert any("第 6 个面" in n and "2 个编码文字" in n and "411628999" in n for n in src.notes)
    missing = [f for f in analysis.report.findings if f.kind == "bad_code"]
    assert sorted(r for f in missing for r in f.rows) == [3, 5]
    (several,) = [f for f in missing if f.rows == [5]]
    assert several.detail["reason"] == "several_codes"
    assert several.detail["candidates"] == [townships["编码"].iloc[5], "411628999"]
    assert "多个编码" in several.message and "411628999" in several.message
    assert src.areas["候选编码"].iloc[5] == f"{townships['编码'].iloc[5]}、411628999"


@pytest.mark.parametrize(
    ("codes", "fields"),
    [
        ("layer", {"code": "WGBM注记", "name": "WGMC注记"}),
        ("attrib", {"code": "DM", "name": "MC"}),
        ("xdata", {"code": "SOUTH", "name": "SOUTH"}),
    ],
)
def test_dxf_boundary_layer_and_code_source_chosen(tmp_path, townships, codes, fields):
    path = surveyed_drawing(townships.to_crs(GK38_PREFIX), tmp_path / f"{codes}.dxf", codes=codes)
    # as found: house outlines are areas too, and the frame year makes codes ambiguous
    unchosen = read_boundary_file(path)
    assert len(unchosen.areas) > len(townships)
    assert any("2 个图层含闭合多段线" in n and "“JJX”" in n and "--layer" in n for n in unchosen.notes)
    src, analysis = check_file(path, read=ReadOptions(layer="JJX", fields=fields))
    assert_same_areas(src.areas, townships, 1e-5)
    assert analysis.report.findings == []
    assert any("按指定的图层“JJX”" in n for n in src.notes)
    assert src.layer_info[src.layers[0]].field_mapping["code"] == fields["code"]


def test_dxf_unknown_layer_or_source_is_refused_listing_what_is_there(tmp_path, townships):
    path = surveyed_drawing(townships.to_crs(GK38_PREFIX), tmp_path / "s.dxf", codes="layer")
    err = error_of(read_boundary_file, path, layer="边界")
    assert err.code == "cad_layer_not_found" and "“JJX”（24 个）" in err.message and "房屋" in err.message
    err = error_of(read_boundary_file, path, layer="JJX", fields={"code": "编码层"})
    assert err.code == "cad_source_not_found" and "WGBM注记" in err.message and "图框" in err.message
    assert err.detail["text_layers"] and err.http_status == 422


def test_dxf_repaired_copy_reads_back(tmp_path, townships):
    bf = read_boundary_file(drawing(townships.to_crs(GK38_PREFIX), tmp_path / "in.dxf"))
    out = write_boundary_file(bf, bf.areas.geometry, tmp_path / "out.dxf")
    again = read_boundary_file(out)
    assert (again.format, again.encoding, again.source_crs.to_epsg()) == ("dxf", "GBK", GK38_PREFIX)
    assert_same_areas(again.areas, townships)


def test_dxf_entity_bound_and_garbage(tmp_path, townships):
    from gridmap.io.boundaries import ReadLimits

    path = drawing(townships.to_crs(GK38_PREFIX), tmp_path / "big.dxf")
    err = error_of(read_boundary_file, path, limits=ReadLimits(2, 500_000, 10_000_000))
    assert err.code == "too_many_entities" and err.http_status == 413
    (tmp_path / "bad.dxf").write_bytes(b"not a drawing\n")
    assert error_of(read_boundary_file, tmp_path / "bad.dxf").code in ("unreadable", "no_polygon_layer")
    assert error_of(read_boundary_file, tmp_path / "x.dwg").code == "unsupported_format"


def test_upload_extensions():
    assert ".dxf" in UPLOAD_EXTENSIONS and ".zip" in UPLOAD_EXTENSIONS
    assert not {".tab", ".mif", ".shp"} & set(UPLOAD_EXTENSIONS)
