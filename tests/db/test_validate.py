"""Boundary validation on files written by GDAL: the clean sample, and variants with planted defects.

Every planted defect must be found exactly once, with the right kind, codes and area (within 1 %);
the clean sample must give no finding at all, whatever format it comes in.
"""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from boundary_files import CHINESE, findings, write_gpkg, zip_shapefile
from planting import METRIC, PLANTERS, plant_gap, plant_outside, plant_overlap, plant_sliver
from typer.testing import CliRunner

from gridmap.cli import app
from gridmap.geometry.partition import Tolerances
from gridmap.geometry.validate import ValidationOptions, analyse
from gridmap.sample.files import GPKG, SHAPEFILE_ZIP
from gridmap.services.boundaries import check_file

runner = CliRunner()


# ------------------------------------------------------------------------------------ clean sample


def test_the_clean_sample_gpkg_has_no_findings(data_dir):
    src, analysis = check_file(data_dir / GPKG)
    report = analysis.report.to_dict()
    assert report["ok"] and report["issues"] == []
    assert report["summary"]["levels"] == {"0": 1, "1": 24, "2": 565, "3": 1294, "4": 10311}
    assert report["summary"]["metric_crs"] == "EPSG:4547"  # GK CM 114°E, metres


def test_the_clean_sample_shapefile_checked_against_the_database(loaded_engine, data_dir):
    from gridmap.services.boundaries import database_parents

    with loaded_engine.connect() as conn:
        src, analysis = check_file(
            data_dir / SHAPEFILE_ZIP, read=_read(layer="microgrid"), parent_lookup=database_parents(conn)
        )
    assert src.encoding == "GBK" and src.source_crs.to_epsg() == 4526
    assert analysis.report.ok and analysis.report.findings == []
    assert analysis.scope.root == "411628" and analysis.scope.top_level == 4


def test_clean_township_in_other_formats_has_no_findings(township, tmp_path):
    # GBK shapefile without .cpg, in GK zone 38 without .prj: the reader must detect both.
    shp = tmp_path / "gk" / "网格.shp"
    shp.parent.mkdir()
    pyogrio.write_dataframe(township.rename(columns=CHINESE)[[*CHINESE.values(), "geometry"]], shp, encoding="GBK")
    for sidecar in (".cpg", ".prj"):
        shp.with_suffix(sidecar).unlink(missing_ok=True)
    kml = tmp_path / "township.kml"
    pyogrio.write_dataframe(township.to_crs(4326)[["code", "name", "parent_code", "geometry"]], kml, driver="LIBKML")
    for path, expect in ((shp, {"encoding_source": "detected", "crs_source": "inferred"}), (kml, {"format": "kml"})):
        src, analysis = check_file(path)
        assert analysis.report.findings == [], (path, analysis.report.to_dict()["issues"][:2])
        assert analysis.report.feature_count == len(township)
        for key, value in expect.items():
            assert analysis.report.source[key] == value
    assert set(src.areas["name"]) == set(township["name"])


def test_vertex_mismatch_along_a_shared_edge_is_not_reported(township):
    """An extra vertex on one side of a shared edge (a T-junction) encloses no area: GEOS's coverage
    validator flags it, we must not report it as a gap or overlap."""
    gdf = township.copy()
    _, b, edge = __import__("planting").shared_edge(gdf, set())
    row = gdf.index[gdf["code"] == b][0]
    gdf.loc[row, "geometry"] = shapely.segmentize(gdf.loc[row, "geometry"], 3.0)  # new vertices on every edge
    geoms = gdf.loc[gdf["level"] == 4].geometry.to_numpy()
    assert not shapely.coverage_is_valid(geoms)  # GEOS does see the mismatch
    assert analyse(gdf.to_crs(4490)).report.findings == []


def _densified_grids(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` (metric) in EPSG:4490 with its grids (level 3) given a vertex every 5 m: the
    micro-grids' union then matches no grid vertex for vertex, so the partition check must prove
    "same boundary" through its vertex-noise (Hausdorff) test or the overlay."""
    gdf = gdf.copy()
    grids = gdf["level"] == 3
    gdf.loc[grids, "geometry"] = shapely.segmentize(gdf.loc[grids].geometry.to_numpy(), 5.0)
    return gdf.to_crs(4490)


def test_densified_parents_validate_clean_and_planted_defects_are_still_found(township):
    clean = _densified_grids(township)
    added = (
        shapely.get_num_coordinates(clean.geometry.to_numpy()).sum()
        - shapely.get_num_coordinates(township.geometry.to_numpy()).sum()
    )
    assert added > 10_000  # the grids really were densified
    assert analyse(clean).report.findings == []
    for kind in ("gap", "overlap"):
        gdf = township.copy()
        expected = PLANTERS[kind](gdf, set())
        found = findings(analyse(_densified_grids(gdf)).report)
        assert [(k, c) for k, c, _ in found] == [(expected.kind, expected.codes)], (kind, found)
        assert found[0][2] == pytest.approx(expected.area_m2, rel=0.01)


# ---------------------------------------------------------------------------------- planted defects


@pytest.mark.parametrize("kind", list(PLANTERS))
def test_each_planted_defect_is_found_exactly_once(township, tmp_path, kind):
    gdf = township.copy()
    expected = PLANTERS[kind](gdf, set())
    src, analysis = check_file(write_gpkg(gdf, tmp_path / f"{kind}.gpkg"))
    found = findings(analysis.report)
    assert len(found) == 1, found
    got_kind, codes, area = found[0]
    assert (got_kind, codes) == (expected.kind, expected.codes)
    assert area == pytest.approx(expected.area_m2, rel=0.01)
    issue = analysis.report.to_dict()["issues"][0]
    assert issue["message"] and issue["geometry"]["type"] in ("Point", "Polygon", "MultiPolygon")
    assert issue["severity"] == ("warning" if kind == "sliver" else "error")
    assert analysis.report.ok == (kind == "sliver")


def test_all_planted_defects_in_one_gbk_gk_shapefile_without_sidecars(township, tmp_path):
    """The worst realistic file: GBK attributes without .cpg, GK coordinates without .prj, zipped,
    with every kind of defect at once."""
    gdf, skip, expected = township.copy(), set(), []
    for planter in PLANTERS.values():
        e = planter(gdf, skip)
        expected.append(e)
        skip |= e.codes
    archive = zip_shapefile(gdf, tmp_path / "upload", tmp_path / "upload.zip", leave_out=(".cpg", ".prj"))
    src, analysis = check_file(archive)
    assert (src.encoding_source, src.crs_source, src.source_crs.to_epsg()) == ("detected", "inferred", 4526)
    found = findings(analysis.report)
    assert len(found) == len(expected), found
    for e in expected:
        match = [f for f in found if f[0] == e.kind and f[1] == e.codes]
        assert len(match) == 1, (e, found)
        assert match[0][2] == pytest.approx(e.area_m2, rel=0.01)


def test_a_parent_without_any_child_is_one_gap_the_size_of_the_parent(township):
    gdf = township.copy()
    grid = sorted(gdf.loc[gdf["level"] == 3, "code"])[1]
    gdf = gdf[~((gdf["level"] == 4) & (gdf["parent_code"] == grid))]
    found = findings(analyse(gdf.to_crs(4490)).report)
    area = float(gdf.loc[gdf["code"] == grid].area.iloc[0])
    assert [(k, c) for k, c, _ in found] == [("gap", {grid})]
    assert found[0][2] == pytest.approx(area, rel=0.01)


def test_sliver_tolerance_is_configurable(township):
    gdf = township.copy()
    expected = plant_sliver(gdf, set(), width=0.2)
    strict = ValidationOptions(tolerances=Tolerances(sliver_width_m=0.1, sliver_area_m2=1.0))
    found = findings(analyse(gdf.to_crs(4490), options=strict).report)
    assert [(k, c) for k, c, _ in found] == [("overlap", expected.codes)]


def test_households_outside_the_policy_range_are_warnings(township):
    gdf = township.copy()
    leaf = gdf.index[gdf["level"] == 4]
    gdf.loc[leaf[0], "households"], gdf.loc[leaf[1], "households"] = 80, 3
    report = analyse(gdf.to_crs(4490)).report
    found = findings(report)
    assert sorted(c.pop() for k, c, _ in found if k == "policy") == sorted(gdf.loc[leaf[:2], "code"])
    assert report.ok  # warnings only
    wide = ValidationOptions(households={4: (1, 100)})
    assert analyse(gdf.to_crs(4490), options=wide).report.findings == []


def test_parent_in_the_database_and_orphans(loaded_engine, township):
    """Micro-grids of one grid, uploaded alone: the grid's boundary comes from PostGIS."""
    from gridmap.services.boundaries import database_parents

    gdf = township.copy()
    grid = sorted(gdf.loc[gdf["level"] == 3, "code"])[0]
    # The township (for plant_outside to find the outer border) plus the grid's micro-grids.
    moved = gpd.GeoDataFrame(
        pd.concat([gdf[gdf["level"] == 1], gdf[gdf["parent_code"] == grid]]), crs=METRIC
    ).reset_index(drop=True)
    bulge = plant_outside(moved, set())
    upload = moved[moved["level"] == 4].copy()
    stray = next(i for i in upload.index if upload.loc[i, "code"] not in bulge.codes)
    upload.loc[stray, ["code", "parent_code"]] = ["999999999999999001", "999999999999999"]
    with loaded_engine.connect() as conn:
        report = analyse(upload.to_crs(4490), parent_code=grid, parent_lookup=database_parents(conn)).report
    found = findings(report)
    kinds = sorted(k for k, _, _ in found)
    assert kinds == ["bad_code", "gap", "outside_parent"], found
    outside = next(f for f in found if f[0] == "outside_parent")
    assert outside[1] == bulge.codes and outside[2] == pytest.approx(bulge.area_m2, rel=0.01)
    # Without --parent-code the stray's unknown parent is an orphan.
    with loaded_engine.connect() as conn:
        report = analyse(upload.to_crs(4490), parent_lookup=database_parents(conn)).report
    assert "orphan" in {k for k, _, _ in findings(report)}


# --------------------------------------------------------------------------------------------- CLI


def _read(**kwargs):
    from gridmap.services.boundaries import ReadOptions

    return ReadOptions(**kwargs)


def test_validate_command_exit_codes_and_json(township, tmp_path):
    clean = write_gpkg(township, tmp_path / "clean.gpkg")
    result = runner.invoke(app, ["validate", str(clean), "--no-db"])
    assert result.exit_code == 0, result.output
    assert "通过" in result.output

    gdf = township.copy()
    e = plant_overlap(gdf, set())
    broken = write_gpkg(gdf, tmp_path / "broken.gpkg")
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["validate", str(broken), "--no-db", "--format", "json", "--out", str(out)])
    assert result.exit_code == 1, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report) >= {"ok", "summary", "issues"} and report["ok"] is False
    issue = report["issues"][0]
    assert set(issue) >= {"kind", "severity", "codes", "area_m2", "geometry", "message"}
    assert issue["kind"] == "overlap" and set(issue["codes"]) == e.codes
    assert shapely.geometry.shape(issue["geometry"]).is_valid

    garbage = tmp_path / "garbage.gpkg"
    garbage.write_bytes(b"not a geopackage")
    result = runner.invoke(app, ["validate", str(garbage), "--no-db"])
    assert result.exit_code == 2 and "无法读取" in result.output


def test_validate_level_and_field_options(township, tmp_path):
    leaf = township[township["level"] == 4].rename(columns={"code": "WGBM_X", "name": "MC"})
    path = tmp_path / "leaf.geojson"
    pyogrio.write_dataframe(leaf.to_crs(4326)[["WGBM_X", "MC", "geometry"]], path)
    result = runner.invoke(
        app,
        [
            "validate",
            str(path),
            "--no-db",
            "--format",
            "json",
            "--field",
            "code=WGBM_X",
            "--field",
            "name=MC",
            "--level",
            "3",
        ],
    )
    report = json.loads(result.stdout)
    assert report["fields"]["code"] == "WGBM_X"
    # --level 3 contradicts the 18-digit codes: one bad_code per feature.
    assert result.exit_code == 1 and report["summary"]["by_kind"] == {"bad_code": len(leaf)}
    result = runner.invoke(app, ["validate", str(path), "--no-db", "--field", "code=NOPE"])
    assert result.exit_code == 2 and "NOPE" in result.output


def test_a_single_township_is_checked_against_its_live_siblings(loaded_engine, township):
    """Uploading one township's subtree: the neighbouring townships in PostGIS stay, so growing
    the township into a neighbour is an overlap with that neighbour."""
    from gridmap.services.boundaries import database_parents

    gdf = township.copy()
    row = gdf.index[gdf["level"] == 1][0]
    with loaded_engine.connect() as conn:
        neighbours = gpd.read_postgis("SELECT code, geom FROM area WHERE level = 1", conn, geom_col="geom").to_crs(
            METRIC
        )
    neighbours = neighbours[neighbours["code"] != gdf.loc[row, "code"]]
    mine = gdf.loc[row, "geometry"]
    touching = neighbours[neighbours.intersects(mine)]
    other = touching.iloc[0]
    edge = shapely.intersection(mine.boundary, other.geom.boundary)
    disk = shapely.get_parts(shapely.line_merge(edge))[0].interpolate(0.5, normalized=True).buffer(25, quad_segs=16)
    grown = mine.union(disk.intersection(mine.union(other.geom)))
    gdf.loc[row, "geometry"] = grown
    with loaded_engine.connect() as conn:
        analysis = analyse(gdf.to_crs(4490), parent_lookup=database_parents(conn))
    assert analysis.scope.root == gdf.loc[row, "code"] and analysis.scope.parent == "411628"
    found = findings(analysis.report)
    overlap = [f for f in found if f[0] == "overlap"]
    assert [f[1] for f in overlap] == [{gdf.loc[row, "code"], other.code}]
    assert overlap[0][2] == pytest.approx(grown.intersection(other.geom).area, rel=0.01)
    # Its villages no longer fill it: the grown part is a gap one level down.
    assert {f[0] for f in found} == {"overlap", "gap"}


def test_validate_html_report_is_an_offline_map_of_the_defects(township, tmp_path):
    from gridmap.maps.offline import external_references

    gdf = township.copy()
    e = plant_gap(gdf, set())
    out = tmp_path / "report.html"
    result = runner.invoke(
        app, ["validate", str(write_gpkg(gdf, tmp_path / "gap.gpkg")), "--no-db", "--format", "html", "--out", str(out)]
    )
    assert result.exit_code == 1, result.output
    page = out.read_text(encoding="utf-8")
    assert external_references(page) == []
    assert "L.map(" in page or "L.map (" in page  # Leaflet inlined and used
    assert next(iter(e.codes)) in page and "空白缝隙" in page and "未通过" in page
