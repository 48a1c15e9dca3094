"""/map's 布点规划 layer (issue 18, plan-layer.js) in Debian's chromium: a plan GeoJSON written by
the real CLI (``gridmap plan cameras --format geojson``, sample county, coarse settings, budget 5)
opened through the file input draws one marker per site with the file's summary and exports the
same features back (GeoJSON) and a CSV with the CLI's Chinese headers; a file that is not a plan
is refused with a Chinese message and nothing drawn; with an editor's token the card computes a
plan over POST /api/v1/plan, and a viewer's token gets the server's Chinese refusal.
Screenshot: ``test-artifacts/screenshots/map_plan_layer.png``."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from api_server import serve
from api_tokens import make_token
from browser import screenshot, wait_for, wait_idle
from conftest import loaded_database

from gridmap.services.plan import COLUMNS

COARSE_ENV = {"GRIDMAP_PLAN_SITE_SPACING_M": "1000", "GRIDMAP_PLAN_DEMAND_SPACING_M": "25"}
COARSE = {"plan_site_spacing_m": 1000.0, "plan_demand_spacing_m": 25.0}


@pytest.fixture(scope="module")
def plan_file(db_url, tmp_path_factory):
    """A plan of 5 cameras as the CLI writes it (GeoJSON, EPSG:4490)."""
    out = tmp_path_factory.mktemp("plan") / "plan.geojson"
    env = {**os.environ, "GRIDMAP_DATABASE_URL": db_url, **COARSE_ENV}
    args = ["plan", "cameras", "--budget", "5", "--format", "geojson", "--out", str(out)]
    result = subprocess.run([sys.executable, "-m", "gridmap.cli", *args], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    return out


def test_a_cli_plan_file_is_drawn_summarised_and_exported_again(api_url, browser, plan_file, tmp_path):
    data = json.loads(plan_file.read_text(encoding="utf-8"))
    n = len(data["features"])
    assert 1 <= n <= 5
    page = browser.page(1366, 768)
    page.goto(f"{api_url}/map#level=grid")
    wait_idle(page)
    page.set_input_files("#gm-plan-file", str(plan_file))
    wait_for(page, f"gm.plan.markers().length === {n}", what="the plan's markers")
    drawn = page.evaluate("gm.plan.markers().map(m => [m.getLatLng().lng, m.getLatLng().lat])")
    assert drawn == [f["geometry"]["coordinates"] for f in data["features"]]
    summary = page.evaluate("gm.plan.summary()")
    households = data["plan"]["households_newly_seen"]
    assert summary.startswith(f"{n} 个点位")
    shown = re.search(r"新增可见 ([\d,.]+) 户", summary)
    assert shown and float(shown.group(1).replace(",", "")) == pytest.approx(households, abs=0.05)
    assert f"{data['plan']['optimality_gap'] * 100:.2f}%" in summary
    # a sector per site (polygons in the plan's pane) and a popup naming the grid and the households
    assert (
        page.evaluate("document.querySelectorAll('.leaflet-gm-plan-pane path, .leaflet-gm-plan-pane canvas').length")
        > 0
    )
    page.evaluate("void gm.plan.markers()[0].openPopup()")
    popup = page.inner_text(".leaflet-popup-content")
    first = data["features"][0]["properties"]
    assert first["grid_code"] in popup and "新增可见户数" in popup and first["direction"] in popup
    wait_idle(page)
    screenshot(page, "map_plan_layer")
    page.evaluate("void gm.map.closePopup()")
    # 导出 GeoJSON: the features loaded, the totals kept
    with page.expect_download() as info:
        page.click("#gm-plan-geojson")
    exported = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert exported["features"] == data["features"]
    assert exported["plan"] == data["plan"]
    # CSV: UTF-8 BOM, the CLI's Chinese headers, a row per site
    with page.expect_download() as info:
        page.click("#gm-plan-csv")
    raw = Path(info.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == [h for _, h in COLUMNS]
    assert len(rows) == n + 1
    assert [r[3] for r in rows[1:]] == [f["properties"]["grid_code"] for f in data["features"]]
    # not a plan: polygons, then text that is not JSON; a Chinese message, nothing drawn
    page.click("#gm-plan-clear")
    assert page.evaluate("gm.plan.markers().length") == 0
    areas = tmp_path / "areas.geojson"
    polygon = {"type": "Polygon", "coordinates": [[[115, 33], [116, 33], [116, 34], [115, 33]]]}
    areas.write_text(
        json.dumps(
            {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": polygon, "properties": {}}]}
        )
    )
    page.set_input_files("#gm-plan-file", str(areas))
    message = wait_for(page, "gm.plan.message()", what="the refusal")
    assert message.startswith("不是布点规划文件") and "点要素" in message
    assert page.evaluate("gm.plan.markers().length") == 0 and page.evaluate("gm.plan.plan()") is None
    junk = tmp_path / "notes.json"
    junk.write_text("这不是 JSON", encoding="utf-8")
    page.set_input_files("#gm-plan-file", str(junk))
    wait_for(page, "gm.plan.message().indexOf('notes.json') >= 0", what="the refusal of a non-JSON file")
    assert page.evaluate("gm.plan.markers().length") == 0
    page.close()


@pytest.fixture(scope="module")
def plan_site():
    _url, eng = loaded_database("gridmap_test_planmap")
    tokens = {"editor": make_token(eng, "editor", "411628"), "viewer": make_token(eng, "viewer")}
    with serve(eng, **COARSE) as base:
        yield base, tokens
    eng.dispose()


def test_an_editor_computes_a_plan_and_a_viewer_is_refused_in_chinese(plan_site, browser):
    base, tokens = plan_site
    page = browser.page(1366, 768)
    page.goto(f"{base}/map#level=grid")
    wait_idle(page)
    page.fill("#gm-plan-budget", "3")
    page.fill("#gm-plan-token", tokens["viewer"])
    page.click("#gm-plan-run")
    message = wait_for(page, "gm.plan.message().indexOf('无法计算') === 0 && gm.plan.message()", what="the refusal")
    assert any(ch >= "\u4e00" for ch in message[5:])  # the server's Chinese message
    assert page.evaluate("gm.plan.markers().length") == 0
    browser.failed.clear()  # the 403 was asked for
    page.fill("#gm-plan-token", tokens["editor"])
    page.click("#gm-plan-run")
    wait_for(page, "gm.plan.markers().length > 0", timeout=120, what="the computed plan")
    plan = page.evaluate("gm.plan.plan()")
    assert 1 <= len(plan["sites"]) <= 3
    assert plan["totals"]["budget"] == 3
    assert page.evaluate("sessionStorage.getItem('gridmap.planToken')") == tokens["editor"]
    assert page.evaluate("localStorage.getItem('gridmap.planToken')") is None
    page.close()
