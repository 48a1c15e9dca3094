"""Levels above the county (issue 17): the province and city rows derived from the live counties
(``gridmap.db.regions``). On the loaded sample, 河南省 and 周口市 hold exactly 鹿邑's figures and
outline; publishing counties of the same and of another city (GDAL-written files, through the
real command) grows the city, adds the next one, and moves where pages open; camera writes move
the city and province by deltas; and the stored figures always equal a recount from scratch."""

from __future__ import annotations

import json

import pandas as pd
import pyogrio
import pytest
from boundary_files import CHINESE, write_gpkg
from conftest import engine_for_cli, loaded_database
from mvt_tiles import decode, tile_at
from sqlalchemy import text
from typer.testing import CliRunner

from gridmap.cli import app
from gridmap.coverage.table import differences
from gridmap.db.areas import screen_root
from gridmap.io.boundaries import read_areas
from gridmap.levels import LEVELS
from gridmap.sample.files import CAMERAS_CSV, GPKG

runner = CliRunner()
LUYI, CITY, PROVINCE = "411628", "4116", "41"


@pytest.fixture(scope="module")
def url() -> str:
    url, engine = loaded_database("gridmap_test_regions")
    engine.dispose()
    return url


@pytest.fixture
def engine(url, monkeypatch):
    yield from engine_for_cli(url, monkeypatch)


def row(conn, code: str):
    return conn.execute(
        text("""SELECT a.name, a.level, a.parent_code, s.planned, s.installed, s.online, s.rollout_rate,
                       s.online_rate, s.children, a.area_m2, ST_Area(a.geom) AS deg2
                FROM area a JOIN area_stats s USING (code) WHERE a.code = :c"""),
        {"c": code},
    ).one()


def county_like(data_dir, code: str, name: str, shift: tuple[float, float], deepest: int = 4) -> pd.DataFrame:
    """The sample's first township's subtree as a county of its own: codes re-prefixed with
    ``code``, the township's outline as the county, moved by ``shift`` degrees (no overlap), its
    levels down to ``deepest`` (3: a county without micro-grids)."""
    areas = pd.concat([read_areas(data_dir / GPKG, layer=lv.key) for lv in LEVELS[1 : deepest + 1]], ignore_index=True)
    first = sorted(areas.loc[areas["level"] == 1, "code"])[0]
    part = areas[areas["code"].str.startswith(first)].copy()
    county = part[part["code"] == first].copy()
    county["level"], county["code"], county["parent_code"], county["name"] = 0, first, None, name
    county["code"] = LUYI  # re-prefixed below like every other code
    part = pd.concat([county, part], ignore_index=True)
    part["code"] = code + part["code"].str[6:]
    part.loc[part["code"] == code, "code"] = code
    part["parent_code"] = part["parent_code"].map(lambda p: None if p is None or pd.isna(p) else code + p[6:])
    part.loc[part["level"] == 1, "parent_code"] = code
    part = part.set_geometry(part.geometry.translate(*shift))
    return part.set_crs(4490, allow_override=True)


def publish(engine, data_dir, tmp_path, code: str, name: str, shift) -> None:
    path = write_gpkg(county_like(data_dir, code, name, shift), tmp_path / f"{code}.gpkg")
    result = runner.invoke(app, ["publish", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output


#: The neighbours the later tests publish: one in 周口市 east of 鹿邑, one in 商丘市 north of it.
NEIGHBOURS = (("411699", "测试县", (0.6, 0.0)), ("411499", "测试县二", (0.0, 0.6)))


@pytest.fixture(scope="module")
def neighbours(url, data_dir, tmp_path_factory) -> None:
    """The two neighbours live (published once per module, so each test that needs them stands
    alone; publishing again is harmless)."""
    folder = tmp_path_factory.mktemp("neighbours")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRIDMAP_DATABASE_URL", url)
        for code, name, shift in NEIGHBOURS:
            publish(None, data_dir, folder, code, name, shift)


def city_register(data_dir, folder):
    """A register across 鹿邑 and 411699: 40 of 鹿邑's first township's cameras, the same points
    moved into 411699 with its own ids, and one row in 411699 carrying 鹿邑's centre code."""
    sample = pd.read_csv(data_dir / CAMERAS_CSV, dtype=str, encoding="utf-8-sig")
    town = sample[sample["所属网格"].str.startswith("411628001")].head(40).copy()
    moved = town.copy()  # the same points in 411699 (the township moved 0.6° east), its own ids
    moved["经度"] = (moved["经度"].astype(float) + 0.6).round(6).astype(str)
    moved["设备编码"] = "411699" + moved["设备编码"].str[6:]
    moved["所属网格"] = "411699" + moved["所属网格"].str[6:]
    wrong = moved.head(1).copy()
    wrong["设备编码"] = "411628" + wrong["设备编码"].str[6:14] + "999999"  # 鹿邑's centre code, in 411699
    path = folder / "city.csv"
    pd.concat([town, moved.iloc[1:], wrong], ignore_index=True).to_csv(path, index=False, encoding="utf-8-sig")
    return town, moved, wrong, path


@pytest.fixture(scope="module")
def registered(url, neighbours, data_dir, tmp_path_factory):
    """The register across counties imported once without --county: (its rows, the command's result)."""
    town, moved, wrong, path = city_register(data_dir, tmp_path_factory.mktemp("register"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRIDMAP_DATABASE_URL", url)
        result = runner.invoke(app, ["cameras", "import", str(path), "--format", "json"])
    return (town, moved, wrong), result


def test_the_sample_county_sits_in_its_city_and_province(engine):
    with engine.connect() as conn:
        county, city, province = row(conn, LUYI), row(conn, CITY), row(conn, PROVINCE)
        assert (city.name, city.level, city.parent_code, city.children) == ("周口市", -1, PROVINCE, 1)
        assert (province.name, province.level, province.parent_code) == ("河南省", -2, None)
        assert county.parent_code == CITY
        for region in (city, province):
            assert (region.planned, region.installed, region.online) == (10520, 10048, 9896)
            assert (region.rollout_rate, region.online_rate) == (county.rollout_rate, county.online_rate)
            assert region.area_m2 == pytest.approx(county.area_m2)
            assert region.deg2 == pytest.approx(county.deg2, rel=1e-9)
        assert screen_root(conn) == LUYI  # one county alone: pages open on it, as before
        assert differences(conn) == []
        # regions are not drawn: no tile rows, no names
        assert not conn.execute(text("SELECT count(*) FROM tile_area WHERE level < 0")).scalar_one()
        assert not conn.execute(text("SELECT count(*) FROM area_label WHERE level < 0")).scalar_one()


def test_coverage_of_the_city_lists_it_and_its_counties(engine):
    result = runner.invoke(app, ["coverage", "--code", CITY, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["code"], r["level"]) for r in rows] == [(CITY, -1), (LUYI, 0)]
    assert rows[0]["planned"] == rows[1]["planned"] == 10520


def test_counties_arriving_grow_the_city_and_another_city_adds_a_row(engine, data_dir, tmp_path):
    with engine.connect() as conn:
        luyi = row(conn, LUYI)
        alone = conn.execute(text("SELECT count(*) FROM area WHERE code = ANY(:c)"), {"c": [NEIGHBOURS[0][0]]})
        assert alone.scalar_one() == 0, "run this test before the neighbours fixture publishes them"
    publish(engine, data_dir, tmp_path, *NEIGHBOURS[0])
    with engine.connect() as conn:
        city, new = row(conn, CITY), row(conn, "411699")
        assert city.children == 2 and new.parent_code == CITY
        assert city.area_m2 == pytest.approx(luyi.area_m2 + new.area_m2)
        assert (city.planned, city.installed) == (luyi.planned + new.planned, luyi.installed + new.installed)
        assert screen_root(conn) == CITY  # two counties: pages open on their city
        assert differences(conn) == []
    publish(engine, data_dir, tmp_path, *NEIGHBOURS[1])  # in 商丘市
    with engine.connect() as conn:
        other, province = row(conn, "4114"), row(conn, PROVINCE)
        assert (other.name, other.parent_code, other.children) == ("商丘市", PROVINCE, 1)
        assert province.children == 2 and screen_root(conn) == PROVINCE
        assert province.area_m2 == pytest.approx(row(conn, CITY).area_m2 + other.area_m2)
        assert differences(conn) == []
    # republishing a county keeps its city's figures exact (no double count of its cameras)
    publish(engine, data_dir, tmp_path, *NEIGHBOURS[0])
    with engine.connect() as conn:
        assert row(conn, CITY).planned == luyi.planned + new.planned
        assert differences(conn) == []


def test_a_register_across_counties_imports_in_one_go_each_camera_in_its_county(engine, registered):
    """Without --county the register goes to the area every county lies in; each camera lands in
    the county its point lies in, and an id whose centre code is another county's is rejected."""
    (town, moved, wrong), result = registered
    assert result.exit_code == 1, result.output  # imported, with a rejected row
    body = json.loads(result.stdout)
    assert [(r["code"], r["device_id"]) for r in body["rejected"]] == [("device_id_county", wrong["设备编码"].iloc[0])]
    assert "411699" in body["rejected"][0]["message"]
    with engine.connect() as conn:
        placed = dict(
            conn.execute(
                text("SELECT device_id, left(area_code, 6) FROM camera WHERE device_id = ANY(:ids)"),
                {"ids": [*town["设备编码"], *moved["设备编码"].iloc[1:]]},
            ).all()
        )
        assert placed == {d: d[:6] for d in [*town["设备编码"], *moved["设备编码"].iloc[1:]]}
        assert differences(conn) == []


def test_a_camera_write_moves_the_city_and_province_by_its_delta(engine):
    with engine.connect() as conn:
        device = conn.execute(
            text(
                "SELECT device_id FROM camera WHERE status = 'installed' AND online AND area_code LIKE :c || '%' LIMIT 1"
            ),
            {"c": LUYI},
        ).scalar_one()
        before = {c: row(conn, c).online for c in (LUYI, CITY, PROVINCE)}
    report = json.dumps([{"device_id": device, "online": False}])  # no time: as received now
    result = runner.invoke(app, ["cameras", "status", "-", "--format", "json"], input=report)
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        assert {c: row(conn, c).online for c in (LUYI, CITY, PROVINCE)} == {c: v - 1 for c, v in before.items()}
        assert differences(conn) == []


def test_a_county_overlapping_a_live_neighbour_is_refused_and_nothing_changes(engine, data_dir, tmp_path):
    path = write_gpkg(county_like(data_dir, "411698", "重叠县", (0.0, 0.02)), tmp_path / "overlap.gpkg")
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*), max(updated_at) FROM area")).one()
    result = runner.invoke(app, ["publish", str(path), "--format", "json"])
    assert result.exit_code == 1, result.output
    issues = json.loads(result.stdout)["report"]["issues"]
    (overlap,) = [i for i in issues if i["kind"] == "county_overlap"]
    assert overlap["codes"] == ["411698", LUYI] and overlap["neighbour_name"] == "鹿邑县"
    assert overlap["area_m2"] > 1_000_000 and overlap["geometry"]["type"] in ("Polygon", "MultiPolygon")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*), max(updated_at) FROM area")).one() == before


def test_a_new_county_in_the_wrong_zone_is_refused_naming_the_right_one(engine, data_dir, tmp_path):
    """A county not live yet is checked against its city's live counties (it should lie near)."""
    county = county_like(data_dir, "411697", "错带县", (0.3, -0.45)).to_crs(4526)
    gk = tmp_path / "gk38.gpkg"
    pyogrio.write_dataframe(county.rename(columns=CHINESE)[[*CHINESE.values(), "geometry"]], gk)
    result = runner.invoke(app, ["validate", str(gk), "--crs", "4527", "--format", "json"])
    assert result.exit_code == 1, result.output
    (finding,) = [i for i in json.loads(result.stdout)["issues"] if i["kind"] == "crs_mismatch"]
    assert finding["basis"] == "same_city" and finding["crs_suggested"] == "4526"
    result = runner.invoke(app, ["validate", str(gk), "--format", "json"])
    assert result.exit_code == 0, result.output


def test_tokens_scoped_to_a_county_or_a_city_are_enforced(engine, registered):
    """A county's admin cannot touch another county; a city's editor may import across its
    counties, not into another city's."""
    from api_server import client, serve
    from api_tokens import make_token

    with engine.connect() as conn:
        cams = conn.execute(
            text("""SELECT device_id, left(area_code, 6) FROM camera
                    WHERE area_code LIKE '411699%' OR area_code LIKE '411628001%' ORDER BY device_id""")
        ).all()
    by_county = {c: [d for d, k in cams if k == c] for c in ("411628", "411699")}
    assert by_county["411628"] and by_county["411699"]

    def status(http, devices):
        """The codes of the reports refused (a push applies the others)."""
        r = http.post("/api/v1/cameras/status", json=[{"device_id": d, "online": True} for d in devices])
        assert r.status_code in (200, 207), r.text
        return [x["code"] for x in r.json()["rejected"]]

    county_admin, city_editor, other_city = (
        make_token(engine, "admin", "411699"),
        make_token(engine, "editor", CITY),
        make_token(engine, "editor", "4114"),
    )
    with serve(engine) as base:
        with client(base, county_admin) as http:
            assert status(http, by_county["411699"][:2]) == []
            assert status(http, by_county["411628"][:1]) == ["out_of_scope"]
        with client(base, city_editor) as http:
            assert status(http, by_county["411699"][:1] + by_county["411628"][:1]) == []
        with client(base, other_city) as http:
            assert status(http, by_county["411628"][:1]) == ["out_of_scope"]
    with engine.connect() as conn:
        assert differences(conn) == []


def test_a_county_without_micro_grids_validates_publishes_and_is_drawn(engine, data_dir, tmp_path):
    """Its grids are its leaves: cameras land in them, the figures roll up, the grid tiles draw it."""
    from api_server import client, serve

    county = county_like(data_dir, "411696", "无微网格县", (-0.6, 0.0), deepest=3)
    path = write_gpkg(county, tmp_path / "no_micro.gpkg")
    result = runner.invoke(app, ["publish", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    grids = county[county["level"] == 3]
    cams = pd.DataFrame(
        {
            "设备编码": [f"41169600001318{i:06d}" for i in range(len(grids))],
            "经度": [round(g.representative_point().x, 6) for g in grids.geometry],
            "纬度": [round(g.representative_point().y, 6) for g in grids.geometry],
            "安装状态": "已安装",
            "在线状态": "在线",
        }
    )
    cams.to_csv(tmp_path / "cams.csv", index=False, encoding="utf-8-sig")
    result = runner.invoke(app, ["cameras", "import", str(tmp_path / "cams.csv"), "--county", "411696"])
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        placed = conn.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE length(area_code) = 15) FROM camera WHERE area_code LIKE '411696%'"
            )
        ).one()
        assert tuple(placed) == (len(grids), len(grids))  # every camera in a grid, the county's leaves
        assert row(conn, "411696").installed == len(grids) and differences(conn) == []
        assert not conn.execute(text("SELECT count(*) FROM area WHERE code LIKE '411696%' AND level = 4")).scalar_one()
        lon, lat = grids.geometry.iloc[0].representative_point().coords[0]
    x, y = tile_at(lon, lat, 14)
    with serve(engine) as base, client(base) as http:
        tile = http.get(f"/tiles/grid/14/{x}/{y}.mvt")
        assert tile.status_code == 200
        assert any(f["properties"]["code"].startswith("411696") for f in decode(tile.content, "grid"))


def test_two_counties_of_one_city_published_at_once_both_count(engine, data_dir, tmp_path):
    """Two publishes side by side (different subtrees, both allowed) with status pushes between:
    the city's outline and figures hold both counties, equal to a recount from scratch."""
    import threading

    from gridmap.services.boundaries import publish_file

    paths = [
        write_gpkg(county_like(data_dir, code, f"并发县{i}", shift), tmp_path / f"{code}.gpkg")
        for i, (code, shift) in enumerate((("411695", (0.6, 0.3)), ("411694", (-0.6, 0.3))))
    ]
    errors: list[BaseException] = []

    def run(path):
        try:
            publish_file(engine, path, by="test")
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    with engine.connect() as conn:
        device = conn.execute(
            text("SELECT device_id FROM camera WHERE status = 'installed' AND area_code LIKE '411628%' LIMIT 1")
        ).scalar_one()
    threads = [threading.Thread(target=run, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for i in range(6):  # camera writes moving the same city row meanwhile
        report = json.dumps([{"device_id": device, "online": bool(i % 2)}])
        result = runner.invoke(app, ["cameras", "status", "-", "--format", "json"], input=report)
        assert result.exit_code == 0, result.output
    for t in threads:
        t.join()
    assert not errors, errors
    with engine.connect() as conn:
        counties = conn.execute(
            text("SELECT code, area_m2 FROM area WHERE level = 0 AND left(code, 4) = :c"), {"c": CITY}
        ).all()
        assert {"411695", "411694"} <= {c for c, _ in counties}
        assert row(conn, CITY).area_m2 == pytest.approx(sum(m for _, m in counties))
        assert row(conn, CITY).children == len(counties)
        assert differences(conn) == []
