"""Loading the sample city into a fresh PostGIS: each county its own subtree with its manifest's
figures, 鹿邑's unchanged, every camera in its own county; and `gridmap demo --city`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from conftest import fresh_database
from sqlalchemy import create_engine, text

from gridmap.coverage.table import coverage_rows, differences
from gridmap.db.areas import screen_root
from gridmap.db.migrate import upgrade
from gridmap.sample import files as g
from gridmap.sample.load import load_city

LUYI = {"county": 1, "township": 24, "village": 565, "grid": 1294, "microgrid": 10311}
LEVEL_KEYS = ("county", "township", "village", "grid", "microgrid")


@pytest.fixture(scope="module")
def city(data_dir):
    url = fresh_database("gridmap_test_city")
    upgrade(url)
    engine = create_engine(url)
    started = time.perf_counter()
    codes = load_city(engine, data_dir, history_days=2)
    print(f"load_city: {time.perf_counter() - started:.1f} s")  # noqa: T201 (shown with -s)
    yield url, engine, codes
    engine.dispose()


@pytest.fixture(scope="module")
def manifests(data_dir) -> dict[str, dict]:
    luyi = json.loads((data_dir / g.MANIFEST).read_text(encoding="utf-8"))
    city = json.loads((data_dir / g.CITY_DIR / g.CITY_MANIFEST).read_text(encoding="utf-8"))
    return {"411628": luyi} | {c["code"]: c for c in city["counties"]}


def test_each_county_has_its_manifests_figures(city, manifests):
    _, engine, codes = city
    assert codes == ["411628", "411625", "411627"]
    with engine.connect() as conn:
        per_level = conn.execute(
            text("SELECT left(code, 6), level, count(*) FROM area WHERE level >= 0 GROUP BY 1, 2 ORDER BY 1, 2")
        ).all()
        rows = {r.code: r for r in coverage_rows(conn, level=0)}
    areas: dict[str, dict[str, int]] = {}
    for county, level, n in per_level:
        areas.setdefault(county, {})[LEVEL_KEYS[level]] = n
    assert set(areas) == set(manifests)
    for code, m in manifests.items():
        assert areas[code] == m["areas"], code
        assert (rows[code].planned, rows[code].installed, rows[code].online) == tuple(m["cameras"].values()), code
    assert areas["411628"] == LUYI
    assert (rows["411628"].planned, rows["411628"].installed, rows["411628"].online) == (10520, 10048, 9896)
    assert f"{rows['411628'].rollout_rate:.2%}" == "95.51%" and f"{rows['411628'].online_rate:.2%}" == "98.49%"
    assert f"{rows['411625'].rollout_rate:.2%}" == "70.00%" and f"{rows['411627'].rollout_rate:.2%}" == "99.00%"


def test_the_city_row_is_the_sum_of_its_counties(city):
    """周口市 (4116) and 河南省 (41), derived from the three counties: figures, outline, children;
    `gridmap coverage --code 4116 --format json` lists the city and its counties."""
    url, engine, _ = city
    with engine.connect() as conn:
        counties = {r.code: r for r in coverage_rows(conn, level=0)}
        (city_row,) = coverage_rows(conn, level=-1)
        (province,) = coverage_rows(conn, level=-2)
        assert differences(conn) == []
        outline = conn.execute(
            text("""SELECT ST_Area(c.geom) - (SELECT sum(ST_Area(geom)) FROM area WHERE level = 0),
                           ST_NumGeometries(c.geom) FROM area c WHERE c.code = '4116'""")
        ).one()
        assert screen_root(conn) == "4116"
    for row in (city_row, province):
        assert row.planned == sum(c.planned for c in counties.values())
        assert row.installed == sum(c.installed for c in counties.values())
        assert row.online == sum(c.online for c in counties.values())
        assert row.children == (3 if row is city_row else 1)
    assert city_row.area_km2 == pytest.approx(sum(c.area_km2 for c in counties.values()), abs=0.01)
    assert abs(outline[0]) < 1e-9 and outline[1] == 1  # exact shared borders: one polygon, no overlap
    env = {**os.environ, "GRIDMAP_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "gridmap.cli", "coverage", "--code", "4116", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    listed = [(r["code"], r["level"], r["planned"]) for r in json.loads(done.stdout)]
    assert listed == [("4116", -1, city_row.planned)] + [(c, 0, counties[c].planned) for c in sorted(counties)]


def test_every_camera_is_in_its_own_county_and_stated_grid(city, data_dir, manifests):
    _, engine, _ = city
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT device_id, area_code FROM camera")).all()
    assert len(rows) == sum(m["cameras"]["planned"] for m in manifests.values())
    assert all(area is not None and area[:6] == device[:6] for device, area in rows)
    with engine.connect() as conn:
        unplaced = conn.execute(text("SELECT count(*) FROM camera WHERE area_code IS NULL")).scalar_one()
    assert unplaced == 0


def test_no_two_stored_counties_overlap(city):
    _, engine, _ = city
    with engine.connect() as conn:
        pairs = conn.execute(
            text("""
            SELECT a.code, b.code, ST_Area(ST_Transform(ST_Intersection(a.geom, b.geom), 4526)),
                   ST_Length(ST_Transform(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom)), 4526))
            FROM area a JOIN area b ON a.level = 0 AND b.level = 0 AND a.code < b.code AND a.geom && b.geom""")
        ).all()
    shared = {(a, b): (overlap, length) for a, b, overlap, length in pairs}
    assert all(overlap < 1.0 for overlap, _ in shared.values())
    assert shared[("411625", "411628")][1] > 10_000 and shared[("411627", "411628")][1] > 10_000


def test_demo_city_reloads_and_prints_every_county(city, manifests):
    """The demo loads the city again over the loaded one: nothing doubles."""
    url, engine, _ = city
    env = {**os.environ, "GRIDMAP_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "gridmap.cli", "demo", "--no-serve", "--city"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for line in ("411628 鹿邑县", "411625 郸城县", "411627 太康县", "95.51%", "98.49%", "70.00%", "90.00%", "99.00%"):
        assert line in out, line
    assert "15,011" in out  # micro-grids of the three counties: 10,311 + 2,600 + 2,100
    with engine.connect() as conn:
        n_areas = conn.execute(text("SELECT count(*) FROM area WHERE level >= 0")).scalar_one()
        n_cameras = conn.execute(text("SELECT count(*) FROM camera")).scalar_one()
    assert n_areas == sum(sum(m["areas"].values()) for m in manifests.values())
    assert n_cameras == sum(m["cameras"]["planned"] for m in manifests.values())


def test_the_pages_open_on_the_city_and_drill_down_to_a_county(city, browser):
    """/map and /embed on the sample city: titled 周口市 with the county names drawn; /embed ranks
    the counties (as /api/v1/map/screen does) and ?area= gives a county its own scoped screen."""
    from api_server import serve
    from browser import screenshot, wait_for, wait_idle

    _, engine, _ = city
    with serve(engine) as base:
        page = browser.page(1600, 1000)
        page.goto(f"{base}/map")
        wait_idle(page)
        wait_for(page, "document.querySelector('#gm-county-name').textContent === '周口市'", 20, "the city's title")
        wait_for(page, "document.querySelectorAll('.gm-maplabel[data-level=\"0\"]').length === 3", 20, "county names")
        names = page.inner_text(".gm-maplabels")
        assert all(n in names for n in ("鹿邑县", "郸城县", "太康县"))
        screenshot(page, "city_map")
        page = browser.page(1920, 1080)
        page.goto(f"{base}/embed?theme=dark&refresh=600")
        wait_idle(page)
        wait_for(page, "gm.state.trend !== null && gm.state.offline !== null", 20, "the trend and offline cameras")
        assert page.inner_text("#gm-embed-county") == "周口市"
        assert page.inner_text("#gm-rank-title").startswith("县")
        ranked = page.evaluate("Array.from(document.querySelectorAll('.gm-rank-row')).map(r => r.dataset.code)")
        assert ranked == ["411628", "411627", "411625"]  # 上云率 98.49% > 97.02% > 90.00%
        screenshot(page, "city_embed")
        page.goto(f"{base}/embed?theme=dark&refresh=600&area=411625")
        wait_idle(page)
        wait_for(page, "gm.state.trend !== null && gm.state.offline !== null", 20, "the trend and offline cameras")
        assert page.inner_text("#gm-embed-county") == "郸城县"
        assert page.inner_text("#gm-rank-title").startswith("乡镇")
        assert len(page.query_selector_all(".gm-rank-row")) == 12
