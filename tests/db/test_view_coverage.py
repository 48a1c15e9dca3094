"""Field-of-view coverage (视野覆盖) on the real sample county: the figures in m² and households
add up level by level, a dome at a grid's centre sees all of it and a camera looking away none, a
register's kind column reaches the views, the CLI and the API agree, the unseen parts (视野盲区)
come as polygons in EPSG:4490 with their m², and the whole county takes seconds."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time

import numpy as np
import pyogrio
import pytest
import shapely
from conftest import loaded_database
from sqlalchemy import text

from gridmap.coverage.view import view_coverage
from gridmap.geometry.metric import metric_crs, to_metric, to_storage
from gridmap.geometry.view import view_specs
from gridmap.services.cameras import import_cameras
from gridmap.services.view_coverage import unseen_features

COUNTY = "411628"
GRIDMAP = [sys.executable, "-m", "gridmap.cli"]


def run(*args: str, url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": url}
    return subprocess.run([*GRIDMAP, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def county_view(loaded_engine):
    started = time.perf_counter()
    with loaded_engine.connect() as conn:
        view = view_coverage(conn, COUNTY)
        county_m2 = conn.execute(text("SELECT area_m2 FROM area WHERE code = :c"), {"c": COUNTY}).scalar_one()
        households = conn.execute(text("SELECT households FROM area WHERE code = :c"), {"c": COUNTY}).scalar_one()
    return view, time.perf_counter() - started, county_m2, households


def test_the_whole_county_in_seconds_with_every_installed_camera(county_view):
    view, seconds, _, _ = county_view
    assert view.cameras == 10_048
    assert seconds <= 10.0, f"{seconds:.1f} s"


def test_figures_are_square_metres_and_households_not_degrees(county_view):
    view, _, county_m2, households = county_view
    county = view.rows[COUNTY]
    # the sum of the leaves' m² is the county's stored area (m², GK zone) within 0.1 %
    assert abs(view.leaves.area_m2.sum() - county_m2) / county_m2 < 0.001
    assert abs(county.area_m2 - county_m2) / county_m2 < 0.001
    assert county.area_m2 > 1e9  # ~1,240 km²; in degrees it would be ~0.12
    assert 1e6 < county.seen_m2 < county.area_m2
    assert county.households == households
    assert 0 < county.households_seen < county.households
    assert county.cameras == 10_048


def test_a_parents_seen_area_is_the_sum_of_its_childrens(county_view):
    view, _, _, _ = county_view
    children: dict[str, list] = {}
    for row in view.rows.values():
        if row.parent_code in view.rows:
            children.setdefault(row.parent_code, []).append(row)
    assert len(children) > 1000
    for code, kids in children.items():
        parent = view.rows[code]
        assert parent.seen_m2 == pytest.approx(sum(k.seen_m2 for k in kids), rel=1e-9, abs=1e-6)
        assert parent.area_m2 == pytest.approx(sum(k.area_m2 for k in kids), rel=1e-9)
        assert parent.households_seen == pytest.approx(sum(k.households_seen or 0 for k in kids), rel=1e-9, abs=1e-9)
        assert parent.cameras == sum(k.cameras for k in kids)
    for row in view.rows.values():
        assert 0.0 <= row.seen_m2 <= row.area_m2 + 1e-6


# ------------------------------------------------------------------ two cameras of a register of their own


@pytest.fixture(scope="module")
def own_db(tmp_path_factory):
    """A database of this module's own where every sample camera is planned only, and a register
    adds two installed ones: a dome (球机, by the kind column) at the centre of grid A, and a
    bullet just east of grid B looking east (away from it)."""
    url, engine = loaded_database("gridmap_test_view")
    with engine.begin() as conn:
        conn.execute(text("UPDATE camera SET status = 'planned', online = false"))
        grids = conn.execute(
            text("""SELECT code, ST_AsBinary(geom) FROM area WHERE level = 3 AND code IN
                    ((SELECT min(code) FROM area WHERE level = 3 AND code LIKE '411628001%'),
                     (SELECT min(code) FROM area WHERE level = 3 AND code LIKE '411628204%'))
                    ORDER BY code""")
        ).all()
    (code_a, wkb_a), (code_b, wkb_b) = grids
    polys = np.array([shapely.from_wkb(bytes(wkb_a)), shapely.from_wkb(bytes(wkb_b))], dtype=object)
    crs = metric_crs(polys)
    a, b = to_metric(polys, crs)
    centre = shapely.point_on_surface(a)
    reach = max(centre.distance(shapely.Point(p)) for p in shapely.get_coordinates(a)) + 10.0
    xmin, ymin, xmax, ymax = b.bounds
    outside = shapely.Point(xmax + 5.0, (ymin + ymax) / 2)
    dome, bullet = to_storage(np.array([centre, outside], dtype=object), crs)
    register = tmp_path_factory.mktemp("view") / "cameras.csv"
    with register.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["设备编码", "设备名称", "经度", "纬度", "监控方向", "安装状态", "摄像机类型"])
        w.writerow(["41162800011318990001", "网格中心", f"{dome.x:.8f}", f"{dome.y:.8f}", "", "已安装", "球机"])
        w.writerow(["41162800011318990002", "向东", f"{bullet.x:.8f}", f"{bullet.y:.8f}", "东", "已安装", "枪机"])
    import_cameras(engine, register)
    yield url, engine, code_a, code_b, reach, (dome, bullet)
    engine.dispose()


def test_a_registers_kind_column_is_kept_for_the_views(own_db):
    _, engine, *_ = own_db
    with engine.connect() as conn:
        kinds = dict(
            conn.execute(
                text("SELECT device_id, attrs->>'kind' FROM camera WHERE device_id LIKE '4116280001131899%'")
            ).all()
        )
    assert kinds == {"41162800011318990001": "球机", "41162800011318990002": "枪机"}


def test_a_dome_at_a_grids_centre_sees_all_of_it_and_a_camera_looking_away_none(own_db):
    _, engine, code_a, code_b, reach, _ = own_db
    specs = view_specs(json.dumps({"dome": {"range": reach}}))
    with engine.connect() as conn:
        view = view_coverage(conn, COUNTY, specs)
    assert view.cameras == 2
    a, b = view.rows[code_a], view.rows[code_b]
    assert a.seen_m2 == pytest.approx(a.area_m2, rel=1e-9) and a.seen_rate == pytest.approx(1.0)
    assert a.households_seen == pytest.approx(a.households)
    assert view.unseen_under(code_a) == []
    assert b.seen_m2 == 0.0 and b.households_seen == 0.0
    assert b.cameras == 0  # the bullet stands outside grid B
    # the defaults (dome 80 m) see only part of grid A
    with engine.connect() as conn:
        default = view_coverage(conn, COUNTY)
    assert 0 < default.rows[code_a].seen_m2 < a.area_m2


def test_households_at_residence_points_via_the_cli(own_db, tmp_path):
    url, engine, code_a, code_b, _, (dome, _) = own_db
    # one point at the dome (seen: 12 households), one in grid B (unseen: 5)
    with engine.connect() as conn:
        inside_b = conn.execute(
            text("SELECT ST_AsBinary(ST_PointOnSurface(geom)) FROM area WHERE code = :c"), {"c": code_b}
        ).scalar_one()
    import geopandas as gpd

    points = gpd.GeoDataFrame({"户数": [12, 5]}, geometry=[dome, shapely.from_wkb(bytes(inside_b))], crs=4490)
    path = tmp_path / "residences.geojson"
    pyogrio.write_dataframe(points, path, driver="GeoJSON")
    unseen = tmp_path / "unseen.gpkg"
    result = run(
        "coverage", "view", "--code", code_a[:9], "--level", "3", "--format", "json",
        "--residences", str(path), "--unseen", str(unseen), url=url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    rows = {r["code"]: r for r in body["rows"]}
    assert rows[code_a]["households"] == 12 and rows[code_a]["households_seen"] == 12
    frame = pyogrio.read_dataframe(unseen)
    assert frame.crs.to_epsg() == 4490 and set(frame.columns) == {"code", "unseen_m2", "geometry"}
    assert all(c.startswith(code_a[:9]) for c in frame["code"])
    township = next(r for r in body["rows"] if r["code"] == code_a)
    assert frame["unseen_m2"].sum() > township["area_m2"]  # the whole township's unseen parts, in m²
    # the other grid's point is not under this township: the CLI counts only points there
    result = run("coverage", "view", "--code", code_b, "--format", "json", "--residences", str(path), url=url)
    assert json.loads(result.stdout)["rows"][0]["households"] == 5
    assert json.loads(result.stdout)["rows"][0]["households_seen"] == 0


# ------------------------------------------------------------------ the API and the CLI


def test_the_api_and_the_cli_agree(db_url, http):
    answer = http.get("/api/v1/coverage/view", params={"level": "1"})
    assert answer.status_code == 200, answer.text
    api = answer.json()
    result = run("coverage", "view", "--level", "1", "--format", "json", url=db_url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == api
    assert api["cameras"] == 10_048 and len(api["rows"]) == 24
    default = http.get("/api/v1/coverage/view").json()["rows"]
    assert default[0]["code"] == COUNTY and len(default) == 25
    assert sum(r["seen_m2"] for r in default[1:]) == pytest.approx(default[0]["seen_m2"], abs=5)
    csv_answer = http.get("/api/v1/coverage/view", params={"code": COUNTY, "format": "csv"})
    assert csv_answer.headers["content-type"].startswith("text/csv")
    assert "seen_rate" in csv_answer.text.splitlines()[0]


def test_the_unseen_parts_of_a_village_as_geojson(http, county_view):
    view, *_ = county_view
    village = next(r for r in view.rows.values() if r.level == 2 and r.seen_m2 > 0)
    answer = http.get("/api/v1/coverage/view/unseen", params={"code": village.code})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/geo+json"
    body = answer.json()
    assert body["crs"]["properties"]["name"].endswith("4490")
    assert body["unseen_m2"] == pytest.approx(village.area_m2 - village.seen_m2, abs=0.2)
    assert sum(f["properties"]["unseen_m2"] for f in body["features"]) == pytest.approx(body["unseen_m2"], abs=5)
    lon, lat = np.array(body["features"][0]["geometry"]["coordinates"][0][0]).reshape(-1)[:2]
    assert 114 < lon < 117 and 33 < lat < 35  # degrees in EPSG:4490


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/api/v1/coverage/view", {"code": "999999"}, 404, "area_not_found"),
        ("/api/v1/coverage/view", {"level": "9"}, 400, "invalid_level"),
        ("/api/v1/coverage/view", {"format": "pdf"}, 400, "unknown_format"),
        ("/api/v1/coverage/view/unseen", {"code": COUNTY}, 400, "unseen_scope_too_large"),
        ("/api/v1/coverage/view/unseen", {"code": "411628999"}, 404, "area_not_found"),
    ],
)
def test_bad_requests_get_a_stable_code_and_a_chinese_message(http, path, params, status, code):
    answer = http.get(path, params=params)
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in answer.json()["message"])


def test_a_region_over_more_counties_than_the_bound_is_refused(db_url, loaded_engine):
    from gridmap.services import view_coverage as service

    with loaded_engine.connect() as conn:
        bound, service.MAX_COUNTIES = service.MAX_COUNTIES, 0
        try:
            with pytest.raises(service.ViewRequestError) as refused:
                service.view_rows(conn, "41")
        finally:
            service.MAX_COUNTIES = bound
        assert refused.value.code == "view_scope_too_large" and refused.value.http_status == 400
        # within the bound: the city and the province are their county's sums
        rows, _ = service.view_rows(conn, "4116")
        assert rows[0].code == "4116" and rows[0].seen_m2 == rows[1].seen_m2 and rows[1].code == COUNTY
        unseen = unseen_features(conn, "411628001001001")
        assert unseen["features"] and all(f["properties"]["unseen_m2"] > 0 for f in unseen["features"])


def view_county(http) -> dict:
    return http.get("/api/v1/coverage/view", params={"code": COUNTY}).json()["rows"][0]


def test_the_coverage_exports_carry_the_view_figures_when_asked(db_url, http, tmp_path):
    """`gridmap coverage --view` and `/api/v1/coverage?view=true` add the view columns to the
    coverage table (JSON, CSV, XLSX), the same figures as `/api/v1/coverage/view`; without the
    option the table is as before."""
    import openpyxl

    view = {r["code"]: r for r in http.get("/api/v1/coverage/view", params={"level": "1"}).json()["rows"]}
    keys = ("seen_m2", "seen_rate", "households_seen", "households_seen_rate")
    answer = http.get("/api/v1/coverage", params={"level": "1", "view": "true"})
    assert answer.status_code == 200, answer.text
    rows = answer.json()["rows"]
    assert len(rows) == 24 and all(r[k] == view[r["code"]][k] for r in rows for k in keys)
    assert rows[0]["planned"] == http.get("/api/v1/coverage", params={"level": "1"}).json()["rows"][0]["planned"]
    assert "seen_m2" not in http.get("/api/v1/coverage", params={"level": "1"}).json()["rows"][0]
    result = run("coverage", "--level", "1", "--view", "--format", "json", url=db_url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == rows
    # CSV: the columns after the coverage ones, rates as percentages.
    lines = list(
        csv.reader(
            http.get("/api/v1/coverage", params={"view": "1", "format": "csv"}).text.lstrip("\ufeff").splitlines()
        )
    )
    head = lines[0]
    assert head[-5:] == [*keys, "operators"]
    by_code = {line[0]: dict(zip(head, line, strict=True)) for line in lines[1:]}
    assert by_code[COUNTY]["seen_rate"] == f"{view_county(http)['seen_rate'] * 100:.2f}%"
    assert all(r["seen_rate"].endswith("%") for r in by_code.values())  # regions above too: sums
    # XLSX: Chinese headers, fractions formatted as percentages.
    xlsx = tmp_path / "coverage.xlsx"
    xlsx.write_bytes(http.get("/api/v1/coverage", params={"view": "true", "format": "xlsx"}).content)
    ws = openpyxl.load_workbook(xlsx)["覆盖统计"]
    header = [c.value for c in ws[1]]
    assert header[-4:] == ["视野覆盖面积(m²)", "视野覆盖率", "视野内户数", "视野内户数占比"]
    seen_rate = ws.cell(row=2, column=header.index("视野覆盖率") + 1)
    assert seen_rate.number_format == "0.00%" and 0 < seen_rate.value < 1
