"""Repair (`gridmap validate --fix OUT`): small defects disappear, large ones stay reported, every
change is listed, and the output keeps the input's format and CRS."""

from __future__ import annotations

import json

import pyogrio
import pytest
from boundary_files import CHINESE, findings, zip_shapefile
from planting import plant_gap, plant_outside, plant_overlap, plant_self_intersection, plant_sliver
from typer.testing import CliRunner

from gridmap.cli import app
from gridmap.services.boundaries import check_file

runner = CliRunner()


def test_fix_removes_small_defects_and_leaves_large_ones(township, tmp_path):
    gdf, skip = township.copy(), set()
    small, large = [], []
    for planter, kwargs, bucket in (
        (plant_gap, {"radius": 3.0}, small),
        (plant_overlap, {"radius": 5.0}, small),
        (plant_outside, {"radius": 6.0}, small),
        (plant_sliver, {}, small),
        (plant_self_intersection, {}, small),
        (plant_gap, {"radius": 10.0}, large),
        (plant_overlap, {"radius": 15.0}, large),
        (plant_outside, {"radius": 20.0}, large),
    ):
        e = planter(gdf, skip, **kwargs)
        bucket.append(e)
        skip |= e.codes
    archive = zip_shapefile(gdf, tmp_path / "in", tmp_path / "grids.zip")

    before = findings(check_file(archive)[1].report)
    assert len(before) == len(small) + len(large)

    fixed = tmp_path / "fixed.zip"
    result = runner.invoke(
        app, ["validate", str(archive), "--no-db", "--fix", str(fixed), "--format", "json", "--max-fix-area", "100"]
    )
    report = json.loads(result.stdout)
    assert result.exit_code == 1  # the large defects remain errors
    assert report["input_summary"]["errors"] > report["summary"]["errors"]

    # The repaired file: same format, encoding and CRS; only the large defects remain.
    src, analysis = check_file(fixed)
    assert (src.format, src.encoding, src.source_crs.to_epsg()) == ("shapefile", "GBK", 4526)
    assert set(src.areas["name"]) == set(township["name"])
    after = findings(analysis.report)
    assert sorted((k, tuple(sorted(c))) for k, c, _ in after) == sorted((e.kind, tuple(sorted(e.codes))) for e in large)
    for e in large:
        area = next(a for k, c, a in after if k == e.kind and c == e.codes)
        assert area == pytest.approx(e.area_m2, rel=0.01)

    # Every change is listed with its areas before and after (m²).
    changes = {c["code"]: c for c in report["repairs"]}
    for e in small:
        assert e.codes & set(changes), e
    gap_owner = next(iter(small[0].codes))
    assert "并入缝隙" in changes[gap_owner]["actions"]
    grown = changes[gap_owner]["area_after_m2"] - changes[gap_owner]["area_before_m2"]
    assert grown == pytest.approx(small[0].area_m2, rel=0.01)
    untouched = set(township["code"]) - set(changes)
    assert untouched  # the rest of the township is not rewritten


def test_fix_writes_geopackage_for_geopackage(township, tmp_path):
    gdf = township.copy()
    plant_sliver(gdf, set())
    src_path = tmp_path / "in.gpkg"
    pyogrio.write_dataframe(
        gdf.to_crs(4490).rename(columns=CHINESE)[[*CHINESE.values(), "geometry"]], src_path, layer="网格"
    )
    out = tmp_path / "out.gpkg"
    result = runner.invoke(app, ["validate", str(src_path), "--no-db", "--fix", str(out)])
    assert result.exit_code == 0, result.output
    assert "[修复]" in result.output
    assert pyogrio.list_layers(out)[0][0] == "网格"
    assert check_file(out)[1].report.findings == []
