"""Official outlines of regions (issue 17), on the sample city (鹿邑 411628, 郸城 411625, 太康 411627)
in a real PostGIS, with outline and county files written by GDAL (pyogrio) and run through the real
commands: ``gridmap regions outline | list | gaps`` and ``gridmap validate``.

The test outline of 周口市 is the three counties' union with a hole cut across the 鹿邑–郸城
border (both counties then reach outside it), a piece added on 鹿邑's outer edge (a gap next to
鹿邑) and a piece away from every county (a county not loaded yet). Every figure is checked
against shapely's in the Gauss-Krüger zone of the outline."""

from __future__ import annotations

import json
import time

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
import shapely.affinity
from conftest import engine_for_cli, fresh_database
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from gridmap.cli import app
from gridmap.db.migrate import upgrade
from gridmap.db.regions import sync_regions
from gridmap.geometry.metric import metric_crs, to_metric
from gridmap.sample.load import load_city

runner = CliRunner()
LUYI, DANCHENG, TAIKANG, CITY = "411628", "411625", "411627", "4116"
#: Half the side of the hole and of the added pieces, degrees (~1 km).
HALF = 0.01


@pytest.fixture(scope="module")
def url() -> str:
    url = fresh_database("gridmap_test_outlines")
    upgrade(url)
    engine = create_engine(url)
    try:
        from conftest import DATA_DIR

        load_city(engine, DATA_DIR, history_days=1)
    finally:
        engine.dispose()
    return url


@pytest.fixture
def engine(url, monkeypatch):
    monkeypatch.delenv("GRIDMAP_REGION_NAMES", raising=False)
    yield from engine_for_cli(url, monkeypatch)


@pytest.fixture(scope="module")
def shapes(url) -> dict[str, shapely.Geometry]:
    """The live counties, the exact union, and the test outline's parts (EPSG:4490)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT code, ST_AsBinary(geom) FROM area WHERE level = 0")).all()
    finally:
        engine.dispose()
    counties = {code: shapely.from_wkb(bytes(wkb)) for code, wkb in rows}
    union = shapely.union_all(list(counties.values()))
    border = shapely.intersection(counties[LUYI].boundary, counties[DANCHENG].boundary)
    p = shapely.line_merge(border).interpolate(0.5, normalized=True) if border.length else None
    assert p is not None, "鹿邑 and 郸城 share a border"
    hole = shapely.box(p.x - HALF, p.y - HALF, p.x + HALF, p.y + HALF)
    # on 鹿邑's outer edge, as far from its neighbours as it gets
    others = shapely.union_all([counties[DANCHENG], counties[TAIKANG]])
    ring = counties[LUYI].boundary
    candidates = [ring.interpolate(f, normalized=True) for f in np.linspace(0, 1, 200, endpoint=False)]
    q = max(candidates, key=lambda c: shapely.distance(c, others))
    attached = shapely.difference(shapely.box(q.x - HALF, q.y - HALF, q.x + HALF, q.y + HALF), union)
    xmin, ymin, xmax, ymax = union.bounds
    far = shapely.box(xmax + 0.05, ymin, xmax + 0.05 + 2 * HALF, ymin + 2 * HALF)
    outline = shapely.union_all([shapely.difference(union, hole), attached, far])
    return {**counties, "union": union, "hole": hole, "attached": attached, "far": far, "outline": outline}


def m2(geom, crs) -> float:
    return float(shapely.area(to_metric(np.array([geom], dtype=object), crs)[0]))


def write_outline(path, geom, **columns) -> str:
    frame = gpd.GeoDataFrame({k: [v] for k, v in columns.items()}, geometry=[geom], crs=4490)
    pyogrio.write_dataframe(frame, path, driver="GPKG" if str(path).endswith(".gpkg") else "GeoJSON")
    return str(path)


def county_file(tmp_path, code: str, name: str, geom) -> str:
    """A county's own feature as a county office hands it in (Chinese field names, GPKG)."""
    frame = gpd.GeoDataFrame({"编码": [code], "名称": [name], "层级": [0]}, geometry=[geom], crs=4490)
    path = tmp_path / f"{code}.gpkg"
    pyogrio.write_dataframe(frame, path, layer="区县", driver="GPKG")
    return str(path)


def load(path: str, *args: str) -> None:
    result = runner.invoke(app, ["regions", "outline", path, *args])
    assert result.exit_code == 0, result.output


def findings(path: str) -> tuple[int, list[dict]]:
    result = runner.invoke(app, ["validate", path, "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    return result.exit_code, [i for i in report["issues"] if i["kind"].startswith("county_")]


def test_an_exact_outline_reports_nothing(engine, shapes, tmp_path):
    load(write_outline(tmp_path / "zhoukou.gpkg", shapes["union"]), "--code", CITY, "--name", "周口市")
    exit_code, found = findings(county_file(tmp_path, LUYI, "鹿邑县", shapes[LUYI]))
    assert found == [] and exit_code == 0
    report = json.loads(runner.invoke(app, ["regions", "gaps", CITY, "--format", "json"]).stdout)
    assert report["gaps"] == [] and report["outside"] == []
    assert report["uncovered_m2"] < 1.0 and abs(report["covered_m2"] - report["area_m2"]) < 1.0


def test_a_county_past_the_outline_and_the_gap_next_to_it_are_found(engine, shapes, tmp_path):
    load(write_outline(tmp_path / "zhoukou.geojson", shapes["outline"], 代码=CITY, 名称="周口市"))
    crs = metric_crs(np.array([shapes["outline"]]))
    started = time.perf_counter()
    exit_code, found = findings(county_file(tmp_path, LUYI, "鹿邑县", shapes[LUYI]))
    print(f"validate 鹿邑 against the outline: {time.perf_counter() - started:.2f} s")  # noqa: T201
    assert exit_code == 1  # an error: the part outside
    by_kind = {}
    for f in found:
        by_kind.setdefault(f["kind"], []).append(f)
    (outside,) = by_kind["county_outside_region"]
    assert outside["severity"] == "error" and outside["codes"] == [LUYI, CITY]
    assert outside["area_m2"] == pytest.approx(m2(shapes[LUYI] & shapes["hole"], crs), rel=1e-4)
    assert "周口市" in outside["message"] and "超出" in outside["message"]
    assert outside["geometry"]["type"] in ("Polygon", "MultiPolygon")
    (gap,) = by_kind["county_gap"]  # the attached piece; the far one is not 鹿邑's
    assert gap["severity"] == "warning" and gap["codes"][0] == LUYI
    assert gap["area_m2"] == pytest.approx(m2(shapes["attached"], crs), rel=1e-4)
    assert "空白" in gap["message"]
    # 郸城 reaches into the hole too, and leaves no gap
    exit_code, found = findings(county_file(tmp_path, DANCHENG, "郸城县", shapes[DANCHENG]))
    assert exit_code == 1 and [f["kind"] for f in found] == ["county_outside_region"]
    assert found[0]["area_m2"] == pytest.approx(m2(shapes[DANCHENG] & shapes["hole"], crs), rel=1e-4)
    # 郸城 drawn short of 鹿邑: the strip it leaves is a gap between the two
    strip = shapes[DANCHENG] & shapes[LUYI].buffer(0.004) - shapes["hole"]
    _, found = findings(county_file(tmp_path, DANCHENG, "郸城县", shapes[DANCHENG] - strip))
    gaps = [f for f in found if f["kind"] == "county_gap"]
    assert len(gaps) >= 1 and all(LUYI in g["codes"] and g["codes"][0] == DANCHENG for g in gaps)
    assert sum(g["area_m2"] for g in gaps) == pytest.approx(m2(strip, crs), rel=1e-3)


def test_the_gaps_report_agrees_with_shapely(engine, shapes, tmp_path):
    load(write_outline(tmp_path / "zhoukou.gpkg", shapes["outline"]), "--code", CITY)
    started = time.perf_counter()
    result = runner.invoke(app, ["regions", "gaps", CITY, "--format", "json"])
    print(f"regions gaps {CITY}: {time.perf_counter() - started:.2f} s")  # noqa: T201 (shown with -s)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    outline, union = shapes["outline"], shapes["union"]
    crs = metric_crs(np.array([outline]))
    assert report["crs"] == f"EPSG:{crs.to_epsg()}"
    assert report["area_m2"] == pytest.approx(m2(outline, crs), abs=1.0)
    assert report["covered_m2"] == pytest.approx(m2(outline & union, crs), abs=1.0)
    assert report["uncovered_m2"] == pytest.approx(m2(outline - union, crs), abs=1.0)
    assert sorted(c["code"] for c in report["counties"]) == [DANCHENG, TAIKANG, LUYI]
    gaps = sorted(report["gaps"], key=lambda g: g["touching"])
    assert [(g["touching"], g["touches"]) for g in gaps] == [(False, []), (True, [LUYI])]
    assert gaps[0]["area_m2"] == pytest.approx(m2(shapes["far"], crs), abs=1.0)
    assert gaps[1]["area_m2"] == pytest.approx(m2(shapes["attached"], crs), abs=1.0)
    outside = {o["code"]: o["area_m2"] for o in report["outside"]}
    assert set(outside) == {LUYI, DANCHENG}
    for code in outside:
        assert outside[code] == pytest.approx(m2(shapes[code] & shapes["hole"], crs), abs=1.0)
    text_out = runner.invoke(app, ["regions", "gaps", CITY]).stdout
    assert "Gaps" in text_out and LUYI in text_out


def test_region_names_come_from_the_csv_and_the_outline(engine, shapes, tmp_path, monkeypatch):
    names = tmp_path / "names.csv"
    names.write_bytes("代码,名称\n4116,周口市（测试）\n41,河南\n".encode("gbk"))
    monkeypatch.setenv("GRIDMAP_REGION_NAMES", str(names))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM region_outline"))
    result = runner.invoke(app, ["regions", "names"])  # now, not at the next publish
    assert result.exit_code == 0 and "4116" in result.stdout, result.output
    with engine.connect() as conn:
        got = dict(tuple(r) for r in conn.execute(text("SELECT code, name FROM area WHERE level < 0")))
    assert got == {CITY: "周口市（测试）", "41": "河南"}
    # an outline loaded with a name names its region, over the CSV
    load(write_outline(tmp_path / "zk.gpkg", shapes["union"]), "--code", CITY, "--name", "周口")
    listed = runner.invoke(app, ["regions", "list"])
    assert listed.exit_code == 0, listed.output
    assert "周口" in listed.stdout and "河南" in listed.stdout
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM area WHERE code = :c"), {"c": CITY}).scalar_one() == "周口"
    monkeypatch.delenv("GRIDMAP_REGION_NAMES")
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM region_outline"))
        sync_regions(conn)
        got = dict(tuple(r) for r in conn.execute(text("SELECT code, name FROM area WHERE level < 0")))
    assert got == {CITY: "周口市", "41": "河南省"}  # back to the built-in names


@pytest.mark.parametrize(
    ("content", "problem"),
    [("code,名字\n4116,x\n", "代码,名称"), ("代码,名称\n41161,x\n", "第 2 行"), ("代码,名称\n4116,\n", "没有名称")],
)
def test_a_bad_names_file_stops_the_command(engine, tmp_path, monkeypatch, content, problem):
    names = tmp_path / "names.csv"
    names.write_text(content, encoding="utf-8")
    monkeypatch.setenv("GRIDMAP_REGION_NAMES", str(names))
    result = runner.invoke(app, ["regions", "list"])
    assert result.exit_code == 2 and "invalid_setting" in result.stderr and problem in result.stderr


def test_bad_outline_files_get_their_codes(engine, shapes, tmp_path):
    luyi = shapes[LUYI]
    line = shapely.Polygon([(115.0, 33.8), (115.1, 33.8), (115.2, 33.8), (115.0, 33.8)])  # no area
    cases = [
        (write_outline(tmp_path / "a.gpkg", luyi), ["--code", "41161"], "outline_bad_code"),
        (write_outline(tmp_path / "b.gpkg", luyi, 代码="41x6"), [], "outline_bad_code"),
        (write_outline(tmp_path / "c.gpkg", luyi, 备注="x"), [], "no_code_field"),
        (write_outline(tmp_path / "d.geojson", line, 代码="4116"), [], "outline_empty"),
    ]
    two = gpd.GeoDataFrame({"代码": ["4116", "4117"]}, geometry=[luyi, shapes[TAIKANG]], crs=4490)
    pyogrio.write_dataframe(two, tmp_path / "two.gpkg")
    cases.append((str(tmp_path / "two.gpkg"), ["--name", "周口市"], "outline_name_ambiguous"))
    (tmp_path / "broken.geojson").write_text("{not json", encoding="utf-8")
    cases.append((str(tmp_path / "broken.geojson"), ["--code", CITY], "unreadable"))
    far_away = shapely.affinity.translate(luyi, 3.0, 0.0)  # a zone off: ~280 km east
    cases.append((write_outline(tmp_path / "e.gpkg", far_away), ["--code", CITY], "outline_misplaced"))
    for path, args, code in cases:
        result = runner.invoke(app, ["regions", "outline", path, *args])
        assert result.exit_code == 2 and f"（{code}）" in result.stderr, (path, result.output)
        assert code != "no_code_field" or "--code" in result.stderr
    with engine.connect() as conn:  # nothing loaded by any of them
        assert conn.execute(text("SELECT count(*) FROM region_outline WHERE code = '4117'")).scalar_one() == 0


def test_a_province_file_loads_each_city(engine, shapes, tmp_path):
    two = gpd.GeoDataFrame(
        {"代码": [CITY, CITY, "4117"], "名称": ["周口市", "周口市", "驻马店市"]},
        geometry=[shapes[LUYI], shapes[DANCHENG] | shapes[TAIKANG], shapes["far"]],
        crs=4490,
    )
    pyogrio.write_dataframe(two, tmp_path / "henan.gpkg")
    result = runner.invoke(app, ["regions", "outline", str(tmp_path / "henan.gpkg")])
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT code, name, area_m2 FROM region_outline ORDER BY code")).all()
    crs = metric_crs(np.array([shapes["union"]]))
    assert [(c, n) for c, n, _ in rows] == [(CITY, "周口市"), ("4117", "驻马店市")]
    assert rows[0][2] == pytest.approx(m2(shapes["union"], crs), rel=1e-6)


def test_an_outline_in_a_projected_crs_is_measured_the_same(engine, shapes, tmp_path):
    """Gauss-Krüger zone 38 coordinates (as survey offices hand outlines in), read with the file's CRS."""
    frame = gpd.GeoDataFrame({"代码": [CITY]}, geometry=[shapes["union"]], crs=4490).to_crs(4526)
    pyogrio.write_dataframe(frame, tmp_path / "gk.gpkg")
    load(str(tmp_path / "gk.gpkg"))
    with engine.connect() as conn:
        area = conn.execute(text("SELECT area_m2 FROM region_outline WHERE code = :c"), {"c": CITY}).scalar_one()
    crs = metric_crs(np.array([shapes["union"]]))
    assert area == pytest.approx(m2(shapes["union"], crs), rel=1e-6)
    report = json.loads(runner.invoke(app, ["regions", "gaps", CITY, "--format", "json"]).stdout)
    assert report["gaps"] == [] and report["outside"] == []  # the round trip through GK moves no border


def test_a_county_is_checked_against_its_own_outline_too(engine, shapes, tmp_path):
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM region_outline"))
    own = shapely.union_all([shapes[LUYI] - shapes["hole"], shapes["attached"]])
    load(write_outline(tmp_path / "luyi.gpkg", own), "--code", LUYI, "--name", "鹿邑县")
    crs = metric_crs(np.array([own]))
    exit_code, found = findings(county_file(tmp_path, LUYI, "鹿邑县", shapes[LUYI]))
    assert exit_code == 1
    assert sorted((f["kind"], tuple(f["codes"])) for f in found) == [
        ("county_gap", (LUYI,)),
        ("county_outside_region", (LUYI,)),
    ]
    areas = {f["kind"]: f["area_m2"] for f in found}
    assert areas["county_outside_region"] == pytest.approx(m2(shapes[LUYI] & shapes["hole"], crs), rel=1e-4)
    assert areas["county_gap"] == pytest.approx(m2(shapes["attached"], crs), rel=1e-4)
    # an outline of 鹿邑 taking in part of 郸城: that land is not empty, 郸城 reaches in
    taken = shapes[DANCHENG] & shapes["hole"]
    load(write_outline(tmp_path / "luyi2.gpkg", shapes[LUYI] | taken), "--code", LUYI)
    report = json.loads(runner.invoke(app, ["regions", "gaps", LUYI, "--format", "json"]).stdout)
    assert report["name"] == "鹿邑县" and [c["code"] for c in report["counties"]] == [LUYI]
    assert report["covered_by_others_m2"] == pytest.approx(m2(taken, crs), rel=1e-3)
    assert report["gaps"] == [] and report["outside"] == [] and report["uncovered_m2"] < 1.0
