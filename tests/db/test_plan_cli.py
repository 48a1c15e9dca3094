"""``gridmap plan cameras`` on the sample county (a real PostGIS, the CLI as a subprocess): every
grid without a camera gets one when asked, a budget below that is refused naming the minimum, and
the outputs (JSON, GeoJSON read back by GDAL, CSV) carry positions in EPSG:4490 and figures in
households and m². Coarse settings keep it quick (the model's exactness is tests/unit/test_plan_model.py)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pyogrio
import pytest

from gridmap.db.exports import export_areas

GRIDMAP = [sys.executable, "-m", "gridmap.cli"]
COARSE = {"GRIDMAP_PLAN_SITE_SPACING_M": "1000", "GRIDMAP_PLAN_DEMAND_SPACING_M": "25"}


def run(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": db_url, **COARSE}
    return subprocess.run([*GRIDMAP, "plan", "cameras", *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def uncovered(loaded_engine) -> set[str]:
    with loaded_engine.connect() as conn:
        grids = export_areas(conn, 3, "411628")
    return set(grids.loc[grids["installed"].fillna(0) == 0, "code"])


def test_must_cover_each_grid_leaves_no_grid_without_a_camera(db_url, uncovered):
    assert len(uncovered) == 61
    result = run(db_url, "--budget", "80", "--must-cover-each-grid", "--format", "json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["cameras_for_every_grid"] == len(uncovered)
    assert uncovered <= {s["grid_code"] for s in answer["sites"]}
    assert 61 <= len(answer["sites"]) <= 80
    assert 0.0 <= answer["optimality_gap"] <= 1.0
    assert answer["households_newly_seen"] == pytest.approx(
        sum(s["households_newly_seen"] for s in answer["sites"]), abs=0.5
    )
    for site in answer["sites"]:
        assert 115.0 < site["lon"] < 116.0 and 33.5 < site["lat"] < 34.2  # EPSG:4490 degrees, in the county
        assert site["households_newly_seen"] >= 0 and site["area_newly_seen_m2"] >= 0
        assert set(site["direction"]) == {"name", "degrees"}


def test_a_budget_below_the_grids_is_refused_with_the_minimum(db_url):
    result = run(db_url, "--budget", "60", "--must-cover-each-grid", "--format", "json")
    assert result.returncode == 2
    assert "budget_below_grid_count" in result.stderr and "61" in result.stderr
    assert result.stdout == ""


def test_geojson_reads_back_in_gdal_and_csv_has_chinese_headers(db_url, tmp_path):
    path = tmp_path / "plan.geojson"
    result = run(db_url, "--budget", "20", "--format", "geojson", "--out", str(path))
    assert result.returncode == 0, result.stderr
    frame = pyogrio.read_dataframe(path)
    assert frame.crs.to_epsg() == 4490
    assert len(frame) == 20 and (frame.geometry.geom_type == "Point").all()
    assert {"grid_code", "households_newly_seen", "area_newly_seen_m2", "direction"} <= set(frame.columns)
    assert (frame["households_newly_seen"].diff().dropna() <= 1e-9).all()  # greedy order: gains fall
    csv_path = tmp_path / "plan.csv"
    assert run(db_url, "--budget", "5", "--format", "csv", "--out", str(csv_path)).returncode == 0
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8-sig")))
    assert len(rows) == 5 and "新增可见户数" in rows[0] and "新增可见面积（平方米）" in rows[0]


def test_a_bad_candidates_file_is_a_clear_error(db_url, tmp_path):
    bad = tmp_path / "c.csv"
    bad.write_text("name,x1\na,1\n", encoding="utf-8")
    result = run(db_url, "--budget", "1", "--candidates", str(bad))
    assert result.returncode == 2 and "candidates_invalid" in result.stderr
    good = tmp_path / "good.csv"
    good.write_text("经度,纬度,方向\n115.4777251,33.8905122,西南\n115.48,33.89,北\n", encoding="utf-8")
    result = run(db_url, "--budget", "1", "--candidates", str(good), "--format", "json")
    assert result.returncode == 0, result.stderr
    site = json.loads(result.stdout)["sites"][0]
    assert site["source"] == "file" and site["direction"]["name"] in ("西南", "北")
