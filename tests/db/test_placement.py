"""A boundary file read in the wrong CRS validates clean on its own; against the live database it
must be refused (issue 16): the neighbouring Gauss-Krüger zone (with the zone prefix and without),
and a web-map (GCJ-02) GeoJSON read as WGS84, each found with the CRS that fits named, and nothing
published. Files are written by GDAL (pyogrio) in the tests; the database is the loaded sample
(read only: validation writes nothing; the publish refusal leaves the live data as it was)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import prcoords
import pyogrio
import pytest
import shapely
from boundary_files import CHINESE
from conftest import loaded_database
from db_state import checksums
from typer.testing import CliRunner

from gridmap.cli import app
from gridmap.services.boundaries import ReadOptions, check_file, database_parents

runner = CliRunner()


def check(engine, path, crs=None):
    with engine.connect() as conn:
        return check_file(path, read=ReadOptions(crs=crs), parent_lookup=database_parents(conn), live=conn)[1].report


def misplaced(report) -> list:
    return [f for f in report.findings if f.kind == "crs_mismatch"]


def test_the_sample_in_its_own_crs_fits(loaded_engine, data_dir):
    report = check(loaded_engine, data_dir / "luyi_grids_gk38.zip")
    assert report.ok and not misplaced(report)


def test_the_neighbouring_zone_is_refused_naming_the_right_one(loaded_engine, data_dir, monkeypatch):
    report = check(loaded_engine, data_dir / "luyi_grids_gk38.zip", crs="4527")  # zone 39 instead of 38
    (finding,) = misplaced(report)
    assert not report.ok and finding.severity == "error"
    assert finding.detail["crs_suggested"] == "4526" and finding.detail["fit"] < 0.05
    assert finding.detail["suggested_fit"] > 0.95
    assert 700_000 < finding.detail["shift_m"] < 740_000  # one 3° zone at 34°N: about 720 km
    assert "--crs 4526" in finding.message and "未发布" in finding.message
    # the CLI: exit 1 and the finding in the JSON report
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", loaded_engine.url.render_as_string(hide_password=False))
    result = runner.invoke(
        app, ["validate", str(data_dir / "luyi_grids_gk38.zip"), "--crs", "4527", "--format", "json"]
    )
    assert result.exit_code == 1, result.output
    issues = json.loads(result.stdout)["issues"]
    assert issues[0]["kind"] == "crs_mismatch" and issues[0]["crs_suggested"] == "4526"


#: Web maps' offsets, as prcoords applies them to WGS84 lon/lat (GCJ-02: 高德、腾讯; BD-09: 百度).
OFFSETS = {"gcj02": prcoords.wgs_gcj, "bd09": prcoords.wgs_bd}


@pytest.fixture(scope="module")
def township_files(township, tmp_path_factory):
    """One township's areas written by GDAL: GK CM 114°E without zone prefix (EPSG:4547), and
    ``(offset, driver)`` → a GeoJSON or KML whose lon/lat were shifted to that web map's offset
    vertex by vertex (as web-map tools and DataV export them)."""
    folder = tmp_path_factory.mktemp("placement")
    gk = folder / "township_cm114.gpkg"
    pyogrio.write_dataframe(township.to_crs(4547).rename(columns=CHINESE)[[*CHINESE.values(), "geometry"]], gk)
    web: dict[tuple[str, str], Path] = {}
    for offset, shift in OFFSETS.items():

        def shifted(xy: np.ndarray, shift=shift) -> np.ndarray:
            out = [shift(prcoords.Coords(lat, lon)) for lon, lat in xy]
            return np.array([[c.lon, c.lat] for c in out])

        frame = township.to_crs(4326)
        frame = frame.set_geometry(shapely.transform(frame.geometry.to_numpy(), shifted), crs=4326)
        for driver, suffix in (("GeoJSON", "geojson"), ("KML", "kml")):
            path = folder / f"township_{offset}.{suffix}"
            pyogrio.write_dataframe(frame[["code", "name", "parent_code", "geometry"]], path, driver=driver)
            web[offset, driver] = path
    return gk, web


def test_a_prefixless_file_in_the_wrong_zone_is_refused(loaded_engine, township_files):
    gk, _ = township_files
    assert not misplaced(check(loaded_engine, gk))
    report = check(loaded_engine, gk, crs="4548")  # CM 117°E instead of 114°E, no prefix
    (finding,) = misplaced(report)
    assert finding.detail["crs_suggested"] == "4547" and finding.detail["basis"] == "same_codes"


@pytest.mark.parametrize(("offset", "driver"), [("gcj02", "GeoJSON"), ("gcj02", "KML"), ("bd09", "KML")])
def test_a_web_map_file_read_as_wgs84_is_refused_and_reads_right_with_its_crs(
    loaded_engine, township_files, offset, driver
):
    path = township_files[1][offset, driver]
    report = check(loaded_engine, path)
    (finding,) = misplaced(report)
    assert finding.detail["crs_suggested"] == offset and 200 < finding.detail["shift_m"] < 1500
    assert f"--crs {offset}" in finding.message
    fixed = check(loaded_engine, path, crs=offset)
    assert not misplaced(fixed) and fixed.ok, [f.message for f in fixed.findings][:3]
    assert any("逐个顶点" in n for n in fixed.source["notes"])


def test_publishing_a_misplaced_file_is_refused_and_changes_nothing(data_dir, monkeypatch):
    url, engine = loaded_database("gridmap_test_placement")
    try:
        monkeypatch.setenv("GRIDMAP_DATABASE_URL", url)
        before = checksums(engine)
        result = runner.invoke(app, ["publish", str(data_dir / "luyi_grids_gk38.zip"), "--crs", "4527", "--by", "测试"])
        assert result.exit_code == 1 and "crs_mismatch" in result.output, result.output
        assert checksums(engine) == before
    finally:
        engine.dispose()


def test_without_a_database_a_crs_contradicting_the_files_own_is_a_warning(data_dir):
    """No live areas to compare with: `--crs` against the file's own .prj is a warning saying how far
    apart the two readings are; the same CRS given again is no warning."""
    report = check_file(data_dir / "luyi_grids_gk38.zip", read=ReadOptions(crs="4527"))[1].report
    (warning,) = [f for f in report.findings if f.kind == "crs_override"]
    assert warning.severity == "warning" and report.ok  # a warning: the file may be right, the .prj wrong
    assert 700_000 < warning.detail["shift_m"] < 740_000 and "EPSG:4526" in warning.message
    same = check_file(data_dir / "luyi_grids_gk38.zip", read=ReadOptions(crs="4526"))[1].report
    assert not [f for f in same.findings if f.kind == "crs_override"]


def test_a_file_repeating_a_code_is_compared_without_error(loaded_engine, township, tmp_path):
    """A repeated code is a duplicate_code error, not a crash of the placement check."""
    areas = township.to_crs(4547).rename(columns=CHINESE)[[*CHINESE.values(), "geometry"]]
    repeated = pd.concat([areas, areas.iloc[[len(areas) - 1]]], ignore_index=True)
    path = tmp_path / "repeated.gpkg"
    pyogrio.write_dataframe(repeated, path)
    report = check(loaded_engine, path)
    assert not misplaced(report) and any(f.kind == "duplicate_code" for f in report.findings)
