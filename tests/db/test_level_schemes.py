"""Per-county level schemes (issue 17, part 2): a county declares which levels it has and how long
their codes are, and validation, publishing, cameras, figures and /map follow it.

The county here is built from the sample's first township, the way an urban district draws it:
no villages (its townships are the township's villages), grids numbered with 4 digits under their
township (13-digit codes), no micro-grids. It is written by GDAL as a county office hands it in and
published through the real commands into a database of its own (migrated, otherwise empty)."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from boundary_files import write_gpkg
from conftest import engine_for_cli, fresh_database
from sqlalchemy import text
from typer.testing import CliRunner

from gridmap.cli import app
from gridmap.coverage.table import differences
from gridmap.io.boundaries import read_areas
from gridmap.levels import SCHEME_ATTR, Scheme
from gridmap.sample.files import GPKG

runner = CliRunner()
CODE = "411697"
SCHEME = "乡镇:9,网格:13"


@pytest.fixture(scope="module")
def url() -> str:
    from gridmap.db.migrate import upgrade

    url = fresh_database("gridmap_test_schemes")
    upgrade(url)
    return url


@pytest.fixture
def engine(url, monkeypatch):
    yield from engine_for_cli(url, monkeypatch)


@pytest.fixture(scope="module")
def county(data_dir) -> gpd.GeoDataFrame:
    """County 411697: townships = the sample's first township's villages (9 digits), grids = their
    grids with 4-digit numbers (13 digits); no level column, the codes say it all."""
    villages = read_areas(data_dir / GPKG, layer="village")
    grids = read_areas(data_dir / GPKG, layer="grid")
    first = sorted(villages["parent_code"])[0]
    v = villages[villages["parent_code"] == first].copy()
    g = grids[grids["parent_code"].isin(v["code"])].copy()
    top = gpd.GeoDataFrame(
        {"code": [CODE], "name": ["方案县"], "parent_code": [None]},
        geometry=[shapely.union_all(v.geometry.to_numpy())],
        crs=4490,
    )
    v["code"], v["parent_code"] = CODE + v["code"].str[-3:], CODE
    g["parent_code"] = CODE + g["parent_code"].str[-3:]
    g["code"] = g["parent_code"] + "0" + g["code"].str[-3:]
    out = pd.concat([top, v, g], ignore_index=True)
    out["level"] = None
    for column in ("kind", "households", "worker_name", "worker_phone"):
        if column not in out:
            out[column] = None
    return gpd.GeoDataFrame(out, geometry="geometry", crs=4490)


def validate(path, *extra) -> tuple[int, dict]:
    result = runner.invoke(app, ["validate", str(path), "--format", "json", *extra])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def test_a_scheme_is_read_from_its_text_and_written_back():
    scheme = Scheme.parse(SCHEME)
    assert (scheme.numbers, scheme.lengths) == ((0, 1, 3), (6, 9, 13))
    assert Scheme.parse(scheme.spec()) == scheme
    assert scheme.level_of_code("4116970010001") == 3 and scheme.parent_code_of("4116970010001") == "411697001"
    assert scheme.level_of_code("411697001001") is None  # a village code: no such level here


def test_the_county_validates_with_its_scheme_and_not_without(engine, county, tmp_path):
    """Without it the 13-digit codes are no level of the standard scheme: read as local numbers
    under their townships, they become villages with made-up codes; with it, grids with their own."""
    path = write_gpkg(county, tmp_path / "scheme.gpkg")
    townships, grids = (county["code"].str.len() == 9).sum(), (county["code"].str.len() == 13).sum()
    code, report = validate(path)
    assert report["summary"]["levels"] == {"0": 1, "1": townships, "2": grids}
    assert any("本地编码" in note for note in report["notes"])
    code, report = validate(path, "--scheme", SCHEME)
    assert code == 0, [i["message"] for i in report["issues"] if i["severity"] == "error"]
    assert report["summary"]["levels"] == {"0": 1, "1": townships, "3": grids}
    assert not any("本地编码" in note for note in report["notes"])
    assert report["scheme"]["spec"] == Scheme.parse(SCHEME).spec()


def test_a_bad_scheme_is_refused_with_its_code(engine, county, tmp_path):
    path = write_gpkg(county, tmp_path / "scheme.gpkg")
    result = runner.invoke(app, ["validate", str(path), "--scheme", "网格:13,乡镇:9"])
    assert result.exit_code == 2 and "bad_scheme" in result.output and "顺序" in result.output


def test_a_gap_between_grids_is_found_across_the_missing_level(engine, county, tmp_path):
    """Grids must fill their township although the level between them (villages) is absent."""
    grids = county[county["code"].str.len() == 13]
    dropped = grids["code"].iloc[0]
    path = write_gpkg(county[county["code"] != dropped], tmp_path / "gap.gpkg")
    code, report = validate(path, "--scheme", SCHEME)
    gaps = [i for i in report["issues"] if i["kind"] == "gap"]
    assert code == 1 and gaps and any(dropped[:9] in i["codes"] for i in gaps)
    lost = float(grids.loc[grids["code"] == dropped].to_crs(4527).area.iloc[0])
    assert sum(i["area_m2"] for i in gaps) == pytest.approx(lost, rel=0.01)


def test_published_with_its_scheme_the_county_keeps_it_and_cameras_fill_its_grids(engine, county, tmp_path):
    path = write_gpkg(county, tmp_path / "scheme.gpkg")
    result = runner.invoke(app, ["publish", str(path), "--scheme", SCHEME, "--format", "json"])
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT attrs ->> :a FROM area WHERE code = :c"), {"a": SCHEME_ATTR, "c": CODE})
        assert stored.scalar_one() == Scheme.parse(SCHEME).spec()
        levels = dict(conn.execute(text("SELECT level, count(*) FROM area WHERE level >= 0 GROUP BY level")).all())
        assert set(levels) == {0, 1, 3}
        parents = conn.execute(
            text("SELECT DISTINCT p.level FROM area c JOIN area p ON p.code = c.parent_code WHERE c.level = 3")
        ).scalars()
        assert list(parents) == [1]  # grids hang under townships
    grids = county[county["code"].str.len() == 13]
    points = [g.representative_point() for g in grids.geometry]
    cams = pd.DataFrame(
        {
            "设备编码": [f"41169700001318{i:06d}" for i in range(len(grids))],
            "经度": [round(p.x, 7) for p in points],
            "纬度": [round(p.y, 7) for p in points],
            "安装状态": "已安装",
            "在线状态": "在线",
        }
    )
    cams.to_csv(tmp_path / "cams.csv", index=False, encoding="utf-8-sig")
    result = runner.invoke(app, ["cameras", "import", str(tmp_path / "cams.csv"), "--county", CODE])
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        placed = dict(
            conn.execute(text("SELECT area_code, count(*) FROM camera GROUP BY area_code")).all()  # type: ignore[arg-type]
        )
        assert placed == dict.fromkeys(grids["code"], 1)  # one camera in each grid, the county's leaves
        installed = conn.execute(text("SELECT installed FROM area_stats WHERE code = :c"), {"c": CODE}).scalar_one()
        assert installed == len(grids) and differences(conn) == []


def test_a_later_upload_follows_the_stored_scheme_and_another_one_is_refused(engine, county, tmp_path):
    township = sorted(county.loc[county["code"].str.len() == 9, "code"])[0]
    part = county[county["code"].str.startswith(township)]
    path = write_gpkg(part, tmp_path / "township.gpkg")
    code, report = validate(path)  # no --scheme: the county's own, from the database
    assert code == 0, [i["message"] for i in report["issues"] if i["severity"] == "error"]
    result = runner.invoke(app, ["validate", str(path), "--scheme", "standard"])
    assert result.exit_code == 2 and "scheme_conflict" in result.output


def test_an_upload_through_the_api_follows_the_scheme_or_is_refused(engine, county, tmp_path):
    from api_server import client, serve
    from api_tokens import make_token

    township = sorted(county.loc[county["code"].str.len() == 9, "code"])[-1]
    path = write_gpkg(county[county["code"].str.startswith(township)], tmp_path / "township.gpkg")

    def upload(http, **form):
        with open(path, "rb") as f:
            return http.post("/api/v1/uploads/boundaries", files={"file": (path.name, f)}, data=form)

    with serve(engine) as base, client(base, make_token(engine, "editor", CODE)) as http:
        r = upload(http, scheme="微网格:18,乡镇:9")
        assert (r.status_code, r.json()["code"]) == (422, "bad_scheme"), r.text
        r = upload(http, scheme="township:9,village:12,grid:15")
        assert (r.status_code, r.json()["code"]) == (422, "scheme_conflict"), r.text
        r = upload(http)  # the county's scheme, as published
        assert r.status_code == 201 and r.json()["status"] == "validated", r.text
        assert r.json()["report"]["summary"]["levels"] == {
            "1": 1,
            "3": int(county["code"].str.startswith(township).sum()) - 1,
        }


def test_the_map_offers_only_the_levels_the_county_has(engine, browser):
    from api_server import client, serve
    from browser import screenshot, wait_for, wait_idle

    with serve(engine) as base:
        with client(base) as http:
            detail = http.get(f"/api/v1/areas/{CODE}", params={"geometry": "none"}).json()
        assert detail["properties"]["levels"] == [0, 1, 3]
        page = browser.page(1400, 900)
        page.goto(f"{base}/map#level=microgrid")
        wait_idle(page)
        wait_for(page, "document.querySelectorAll('#gm-levels button').length === 3", 20, "three level buttons")
        buttons = page.evaluate("Array.from(document.querySelectorAll('#gm-levels button')).map(b => b.textContent)")
        assert buttons == ["县", "乡镇/街道", "网格"]
        assert page.evaluate("gm.state.level") == 3  # asked for micro-grids: the deepest level there is
        screenshot(page, "scheme_county_map")
        page.goto(f"{base}/embed?layer=microgrid&theme=dark&refresh=600")
        wait_idle(page)
        layer = page.evaluate("JSON.parse(document.getElementById('gm-config').textContent).page.layer")
        assert layer == "grid"  # its grids, not an empty micro-grid layer
