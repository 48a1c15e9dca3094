"""The read API over real HTTP (areas, cameras, coverage, trend, summary, search) on the session
server with the sample county loaded: figures equal the CLI's, filters equal PostGIS counts.

Nothing here writes through the shared server. Writes this module makes directly (two coverage
snapshots on dates long past, the tokens of the token test) are removed again at the end.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import shapely
from api_server import client, serve
from conftest import engine_for_cli
from openpyxl import load_workbook
from sqlalchemy import text
from typer.testing import CliRunner

from gridmap.api.revision_cache import RevisionCache
from gridmap.cli import app as cli_app

COUNTY, TOWN, VILLAGE, GRID = "411628", "411628001", "411628001001", "411628001001001"
BOX = (115.45, 33.85, 115.60, 34.00)  # a part of the county (lon/lat degrees)
BOX_Q = ",".join(map(str, BOX))
AREA_KEYS = {
    "code",
    "name",
    "level",
    "level_name",
    "kind",
    "parent_code",
    "households",
    "population",
    "worker_name",
    "area_m2",
    "planned",
    "installed",
    "online",
    "rollout_rate",
    "online_rate",
}
CAMERA_KEYS = {
    "device_id",
    "name",
    "status",
    "online",
    "operator",
    "area_code",
    "installed_on",
    "last_seen",
    "place_type",
}
runner = CliRunner()


@pytest.fixture
def cli(db_url, loaded_engine, monkeypatch):
    """The CLI pointed at the session's loaded database."""
    yield from engine_for_cli(db_url, monkeypatch)


_cli_rows: dict[tuple[str, ...], list[dict]] = {}


def cli_json(*args: str) -> list[dict]:
    """``gridmap <args> --format json`` (each command run once: the data does not change here)."""
    if args not in _cli_rows:
        result = runner.invoke(cli_app, [*args, "--format", "json"])
        assert result.exit_code == 0, result.output
        _cli_rows[args] = json.loads(result.stdout)
    return _cli_rows[args]


def county_row() -> dict:
    """The county's row of `gridmap coverage` (listed after its province and city rows)."""
    rows = cli_json("coverage")
    assert [r["level"] for r in rows[:3]] == [-2, -1, 0]
    return rows[2]


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def ok(response, status: int = 200):
    assert response.status_code == status, response.text[:500]
    return response.json()


def error_code(response, status: int) -> str:
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert set(body) == {"code", "message", "detail"} and body["message"]
    return body["code"]


def coordinates(geometry) -> list[tuple[float, float]]:
    return [tuple(p) for p in shapely.get_coordinates(shapely.geometry.shape(geometry)).tolist()]


# --------------------------------------------------------------------------- areas


def test_areas_of_a_level_are_geojson_with_the_coverage_figures(http, cli):
    r = http.get("/api/v1/areas", params={"level": 1, "limit": 1000, "geometry": "simplified"})
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = ok(r)
    assert (fc["type"], fc["numberMatched"], fc["numberReturned"], fc["links"]) == ("FeatureCollection", 24, 24, [])
    codes = [f["id"] for f in fc["features"]]
    assert codes == sorted(codes) and len(codes) == 24
    expected = {row["code"]: row for row in cli_json("coverage", "--level", "1")}
    for feature in fc["features"]:
        p = feature["properties"]
        assert feature["type"] == "Feature" and feature["id"] == p["code"] and set(p) == AREA_KEYS
        assert (p["level"], p["level_name"], p["parent_code"]) == (1, "乡镇/街道", COUNTY)
        row = expected[p["code"]]
        for key in ("name", "planned", "installed", "online", "rollout_rate", "online_rate", "households"):
            assert p[key] == row[key], (p["code"], key)
        assert isinstance(p["area_m2"], float) and p["area_m2"] > 0
        assert feature["geometry"]["type"] == "MultiPolygon" and "crs" not in feature["geometry"]
    # Names and keys can be used for the level too.
    assert ok(http.get("/api/v1/areas", params={"level": "township", "geometry": "none"}))["numberMatched"] == 24


def test_paging_walks_every_grid_exactly_once(http, cli):
    expected = {row["code"]: row for row in cli_json("coverage", "--level", "3")}
    figures = ("planned", "installed", "online", "rollout_rate", "online_rate", "households")
    seen, url, pages = [], "/api/v1/areas?level=3&limit=400&geometry=none", 0
    while url:
        fc = ok(http.get(url))
        assert fc["numberMatched"] == 1294 and fc["numberReturned"] == len(fc["features"])
        rels = {link["rel"]: link["href"] for link in fc["links"]}
        assert ("prev" in rels) == (pages > 0)
        seen += [f["id"] for f in fc["features"]]
        for f in fc["features"]:  # the figures of area_stats are the CLI's
            p = f["properties"]
            assert {k: p[k] for k in figures} == {k: expected[f["id"]][k] for k in figures}
            assert isinstance(p["planned"], int) and isinstance(p["rollout_rate"], (int, float, type(None)))
        url, pages = rels.get("next"), pages + 1
        if url:
            query = parse_qs(urlsplit(url).query)
            assert query["level"] == ["3"] and query["geometry"] == ["none"] and query["limit"] == ["400"]
    assert pages == 4 and len(seen) == len(set(seen)) == 1294 and seen == sorted(seen)
    last = ok(http.get("/api/v1/areas", params={"level": 3, "limit": 400, "offset": 1200, "geometry": "none"}))
    assert last["numberReturned"] == 94 and [link["rel"] for link in last["links"]] == ["prev"]
    assert parse_qs(urlsplit(last["links"][0]["href"]).query)["offset"] == ["800"]
    beyond = ok(http.get("/api/v1/areas", params={"level": 3, "offset": 5000, "geometry": "none"}))
    assert (beyond["numberMatched"], beyond["numberReturned"], beyond["features"]) == (1294, 0, [])


def test_geometry_full_simplified_none(http):
    params = {"parent": TOWN, "level": 4, "limit": 1000}
    full = ok(http.get("/api/v1/areas", params=params))["features"]
    simple = ok(http.get("/api/v1/areas", params={**params, "geometry": "simplified", "tolerance": 20}))["features"]
    none = ok(http.get("/api/v1/areas", params={**params, "geometry": "none"}))["features"]
    assert [f["id"] for f in full] == [f["id"] for f in simple] == [f["id"] for f in none] and len(full) > 50
    assert all(f["geometry"] is None for f in none)
    assert [f["properties"] for f in none] == [f["properties"] for f in full]
    n_full = sum(len(coordinates(f["geometry"])) for f in full)
    n_simple = sum(len(coordinates(f["geometry"])) for f in simple)
    assert n_simple < n_full
    for f in full + simple:
        shape = shapely.geometry.shape(f["geometry"])
        assert shape.is_valid and not shape.is_empty
        # EPSG:4490 lon/lat degrees, at most 7 decimals.
        for x, y in coordinates(f["geometry"]):
            assert 115 < x < 116 and 33 < y < 35 and round(x, 7) == x and round(y, 7) == y
    # Simplified stays within the tolerance of the full boundary (20 m ≈ 0.00018°).
    for a, b in zip(full, simple):
        assert (
            shapely.hausdorff_distance(shapely.geometry.shape(a["geometry"]), shapely.geometry.shape(b["geometry"]))
            <= 20 / 111_320 + 1e-9
        )


def test_parent_bbox_and_q_filters_agree_with_postgis(http, loaded_engine):
    children = ok(http.get("/api/v1/areas", params={"parent": TOWN, "geometry": "none", "limit": 1000}))
    assert children["numberMatched"] == scalar(
        loaded_engine, "SELECT count(*) FROM area WHERE parent_code = :c", c=TOWN
    )
    assert all(f["properties"]["parent_code"] == TOWN for f in children["features"])
    grids = ok(http.get("/api/v1/areas", params={"parent": TOWN, "level": 3, "geometry": "none", "limit": 1000}))
    assert (
        grids["numberMatched"]
        == scalar(
            loaded_engine,
            """
        SELECT count(*) FROM area g JOIN area v ON v.code = g.parent_code WHERE g.level = 3 AND v.parent_code = :c
    """,
            c=TOWN,
        )
        > 0
    )
    for level in (1, 4):
        in_box = ok(http.get("/api/v1/areas", params={"level": level, "bbox": BOX_Q, "geometry": "none", "limit": 1}))
        assert (
            in_box["numberMatched"]
            == scalar(
                loaded_engine,
                """
            SELECT count(*) FROM area WHERE level = :level
               AND ST_Intersects(geom, ST_MakeEnvelope(:a, :b, :c, :d, 4490))
        """,
                level=level,
                a=BOX[0],
                b=BOX[1],
                c=BOX[2],
                d=BOX[3],
            )
            > 0
        )
    by_code = ok(http.get("/api/v1/areas", params={"q": VILLAGE, "geometry": "none", "limit": 1000}))
    assert by_code["numberMatched"] == scalar(
        loaded_engine, "SELECT count(*) FROM area WHERE code LIKE :p", p=VILLAGE + "%"
    )
    by_name = ok(http.get("/api/v1/areas", params={"q": "真源", "level": 2, "geometry": "none"}))
    assert by_name["numberMatched"] >= 1 and all("真源" in f["properties"]["name"] for f in by_name["features"])
    # LIKE wildcards are taken literally.
    assert ok(http.get("/api/v1/areas", params={"q": "%", "geometry": "none"}))["numberMatched"] == 0


def test_one_area_in_detail(http, cli):
    r = http.get(f"/api/v1/areas/{VILLAGE}")
    assert r.headers["content-type"].startswith("application/geo+json")
    feature = ok(r)
    p = feature["properties"]
    assert feature["id"] == VILLAGE and feature["geometry"]["type"] == "MultiPolygon"
    assert AREA_KEYS | {"coverage", "worker_phone", "ancestors", "children", "bbox", "camera_count", "levels"} == set(p)
    # The levels the live data has below (and at) this area, deepest last.
    assert p["levels"] == sorted(p["levels"]) and p["levels"][0] == p["level"]
    [cli_row] = [r for r in cli_json("coverage", "--code", TOWN) if r["code"] == VILLAGE]
    assert p["coverage"] == cli_row
    assert (p["planned"], p["installed"], p["online"], p["rollout_rate"]) == (
        cli_row["planned"],
        cli_row["installed"],
        cli_row["online"],
        cli_row["rollout_rate"],
    )
    # above the county: its city and province (gridmap.db.regions)
    assert [(a["code"], a["level"]) for a in p["ancestors"]] == [("41", -2), ("4116", -1), (COUNTY, 0), (TOWN, 1)]
    kids = ok(http.get("/api/v1/areas", params={"parent": VILLAGE, "geometry": "none"}))["features"]
    assert [c["code"] for c in p["children"]] == [k["id"] for k in kids]
    assert all(c["planned"] == k["properties"]["planned"] for c, k in zip(p["children"], kids))
    minx, miny, maxx, maxy = shapely.geometry.shape(feature["geometry"]).bounds
    assert p["bbox"][0] <= minx and p["bbox"][1] <= miny and p["bbox"][2] >= maxx and p["bbox"][3] >= maxy
    assert p["bbox"][2] - maxx < 1e-6
    cams = ok(http.get(f"/api/v1/areas/{VILLAGE}/cameras", params={"limit": 1}))
    assert p["camera_count"] == cams["numberMatched"] == cli_row["planned"]
    county = ok(http.get(f"/api/v1/areas/{COUNTY}"))["properties"]
    assert [a["code"] for a in county["ancestors"]] == ["41", "4116"]
    assert len(county["children"]) == 24 and county["camera_count"] == 10520
    city = ok(http.get("/api/v1/areas/4116"))["properties"]
    assert (city["name"], city["level_name"], city["camera_count"]) == ("周口市", "市", 10520)
    assert [c["code"] for c in city["children"]] == [COUNTY]
    leaf = ok(http.get(f"/api/v1/areas/{GRID}001"))["properties"]
    assert leaf["children"] == [] and len(leaf["ancestors"]) == 6


def test_area_cameras_are_the_subtree(http, loaded_engine):
    fc = ok(http.get(f"/api/v1/areas/{TOWN}/cameras", params={"limit": 10000}))
    assert (
        fc["numberMatched"]
        == fc["numberReturned"]
        == scalar(
            loaded_engine,
            """
        SELECT count(*) FROM camera WHERE area_code LIKE :p AND status <> 'removed'""",
            p=TOWN + "%",
        )
    )
    assert all(f["properties"]["area_code"].startswith(TOWN) for f in fc["features"])
    online = ok(http.get(f"/api/v1/areas/{TOWN}/cameras", params={"online": "true", "limit": 1}))
    assert online["numberMatched"] == ok(http.get(f"/api/v1/areas/{TOWN}"))["properties"]["online"]


# --------------------------------------------------------------------------- cameras

CAMERA_FILTERS = [
    ({}, "status <> 'removed'"),
    ({"status": "installed"}, "status = 'installed'"),
    ({"status": "planned"}, "status = 'planned'"),
    ({"status": "planned,installed"}, "status IN ('planned', 'installed')"),
    ({"status": "removed"}, "status = 'removed'"),
    ({"online": "true"}, "online"),
    ({"online": "false"}, "NOT online AND status <> 'removed'"),
    ({"status": "installed", "online": "false"}, "status = 'installed' AND NOT online"),
    ({"operator": "中国电信"}, "operator = '中国电信' AND status <> 'removed'"),
    ({"operator": "未知"}, "coalesce(operator, '') = '' AND status <> 'removed'"),
    ({"area": TOWN}, f"area_code LIKE '{TOWN}%' AND status <> 'removed'"),
    ({"area": GRID, "online": "true"}, f"area_code LIKE '{GRID}%' AND online"),
    (
        {"bbox": BOX_Q},
        "ST_Intersects(geom, ST_MakeEnvelope({}, {}, {}, {}, 4490)) AND status <> 'removed'".format(*BOX),
    ),
    (
        {"bbox": BOX_Q, "operator": "中国移动", "status": "installed"},
        "ST_Intersects(geom, ST_MakeEnvelope({}, {}, {}, {}, 4490)) AND operator = '中国移动' "
        "AND status = 'installed'".format(*BOX),
    ),
]


@pytest.mark.parametrize(("params", "where"), CAMERA_FILTERS, ids=[str(p) for p, _ in CAMERA_FILTERS])
def test_camera_filters_agree_with_sql(http, loaded_engine, params, where):
    fc = ok(http.get("/api/v1/cameras", params={**params, "limit": 10}))
    expected = scalar(loaded_engine, f"SELECT count(*) FROM camera WHERE {where}")
    assert fc["numberMatched"] == expected
    assert fc["numberReturned"] == min(10, expected)


def test_cameras_are_point_features_in_device_id_order(http, loaded_engine):
    fc = ok(http.get("/api/v1/cameras", params={"limit": 10000}))
    assert (fc["numberMatched"], fc["numberReturned"]) == (10520, 10000)
    [next_page] = [link["href"] for link in fc["links"] if link["rel"] == "next"]
    rest = ok(http.get(next_page))
    assert rest["numberReturned"] == 520 and [link["rel"] for link in rest["links"]] == ["prev"]
    ids = [f["id"] for f in fc["features"] + rest["features"]]
    assert ids == sorted(ids) and len(set(ids)) == 10520
    with loaded_engine.connect() as conn:
        truth = {
            r.device_id: r
            for r in conn.execute(
                text("SELECT device_id, ST_X(geom) AS x, ST_Y(geom) AS y, status, online, installed_on FROM camera")
            )
        }
    for f in fc["features"][:500]:
        p, t = f["properties"], truth[f["id"]]
        assert set(p) == CAMERA_KEYS and p["device_id"] == f["id"]
        assert f["geometry"]["type"] == "Point"
        x, y = f["geometry"]["coordinates"]
        assert abs(x - t.x) <= 5e-8 and abs(y - t.y) <= 5e-8
        assert (p["status"], p["online"]) == (t.status, t.online) and isinstance(p["online"], bool)
        assert p["installed_on"] == (t.installed_on.isoformat() if t.installed_on else None)
    page = ok(http.get("/api/v1/cameras", params={"limit": 3000, "offset": 3000}))
    assert [f["id"] for f in page["features"]] == ids[3000:6000]
    assert {link["rel"] for link in page["links"]} == {"next", "prev"}


# --------------------------------------------------------------------------- coverage


@pytest.mark.parametrize(
    "args",
    [(), ("--level", "1"), ("--level", "3"), ("--code", TOWN), ("--level", "4", "--code", TOWN)],
    ids=["default", "level1", "level3", "code", "level4-code"],
)
def test_coverage_json_rows_are_the_cli_rows(http, cli, args):
    params = dict(zip((a.lstrip("-") for a in args[::2]), args[1::2]))
    body = ok(http.get("/api/v1/coverage", params=params))
    assert body["rows"] == cli_json("coverage", *args)


def test_blind_rows_are_the_cli_rows(http, cli):
    body = ok(http.get("/api/v1/coverage/blind"))
    assert body["rows"] == cli_json("coverage", "blind") and body["level"] == 3 and body["total"] == 1294
    assert len(body["rows"]) == 61 and all(r["installed"] == 0 for r in body["rows"])
    town = ok(http.get("/api/v1/coverage/blind", params={"level": 4, "code": TOWN}))
    assert town["rows"] == cli_json("coverage", "blind", "--level", "4", "--code", TOWN)
    assert ok(http.get("/api/v1/coverage/blind", params={"level": 1}))["rows"] == []


def test_coverage_downloads(http):
    r = http.get("/api/v1/coverage", params={"code": TOWN, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == f'attachment; filename="coverage_{TOWN}.csv"'
    assert r.content.startswith("\ufeff".encode())  # BOM: Excel reads the Chinese names
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    json_rows = ok(http.get("/api/v1/coverage", params={"code": TOWN}))["rows"]
    assert [row["code"] for row in rows] == [row["code"] for row in json_rows]
    assert rows[0]["rollout_rate"] == f"{json_rows[0]['rollout_rate'] * 100:.2f}%"

    r = http.get("/api/v1/coverage", params={"level": 3, "format": "xlsx"})
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert r.headers["content-disposition"] == f'attachment; filename="coverage_{COUNTY}_level3.xlsx"'
    wb = load_workbook(io.BytesIO(r.content), read_only=True)
    assert wb.sheetnames == ["覆盖统计", "运营商"]
    sheet = list(wb["覆盖统计"].iter_rows(values_only=True))
    assert sheet[0][0] == "编码" and len(sheet) == 1 + 1294
    assert (
        http.get("/api/v1/coverage", params={"format": "csv"})
        .headers["content-disposition"]
        .endswith(f'filename="coverage_{COUNTY}.csv"')
    )
    blind = http.get("/api/v1/coverage/blind", params={"format": "csv", "code": TOWN})
    assert blind.headers["content-disposition"] == f'attachment; filename="blind_{TOWN}_level3.csv"'


@pytest.fixture(scope="module")
def snapshots(loaded_engine):
    """Snapshots on two dates long past (removed at the end of the module): the first as if nothing
    had been installed yet, the second the real figures (taken by the nightly job's function)."""
    from gridmap.coverage.snapshots import take_snapshot

    days = [dt.date(2001, 1, 1), dt.date(2001, 1, 2)]
    with loaded_engine.begin() as conn:
        conn.execute(
            text("""INSERT INTO coverage_snapshot (snapshot_date, area_code, level, planned, installed, online)
                             SELECT :day, code, level, planned, 0, 0 FROM area_stats"""),
            {"day": days[0]},
        )
        take_snapshot(conn, days[1])
    yield days
    with loaded_engine.begin() as conn:
        conn.execute(text("DELETE FROM coverage_snapshot WHERE snapshot_date = ANY(:d)"), {"d": days})


def test_trend(http, snapshots, cli):
    # (the sample load also writes 30 recent days of history: read the two dates long past)
    body = ok(http.get(f"/api/v1/coverage/trend/{COUNTY}", params={"to": "2001-12-31"}))
    assert body["code"] == COUNTY
    assert [p["date"] for p in body["points"]] == ["2001-01-01", "2001-01-02"]
    first = body["points"][0]
    assert (first["planned"], first["installed"], first["rollout_rate"], first["online_rate"]) == (10520, 0, 0.0, None)
    county = county_row()
    for p in body["points"][1:]:
        assert {k: p[k] for k in ("planned", "installed", "online", "rollout_rate", "online_rate")} == {
            k: county[k] for k in ("planned", "installed", "online", "rollout_rate", "online_rate")
        }
    one = ok(http.get(f"/api/v1/coverage/trend/{TOWN}", params={"from": "2001-01-02", "to": "2001-01-02"}))
    assert [p["date"] for p in one["points"]] == ["2001-01-02"]
    assert (
        ok(http.get(f"/api/v1/coverage/trend/{TOWN}", params={"from": "2002-01-01", "to": "2002-12-31"}))["points"]
        == []
    )


# --------------------------------------------------------------------------- summary and search


def test_summary_of_the_whole_county_is_the_county_row(http, cli):
    county = county_row()
    assert county["code"] == COUNTY
    figures = {k: county[k] for k in ("planned", "installed", "online", "rollout_rate", "online_rate")}
    for level, areas in ((0, 1), (1, 24), (3, 1294), (4, 10311)):
        s = ok(http.get("/api/v1/summary", params={"level": level}))
        assert {k: s[k] for k in figures} == figures and (s["level"], s["areas"]) == (level, areas)
    assert ok(http.get("/api/v1/summary"))["blind"] == 61  # default level 3: the blind grids
    whole = ok(http.get("/api/v1/summary", params={"level": 3, "bbox": "110,30,120,38"}))
    assert whole["areas"] == 1294 and whole["planned"] == county["planned"]


def test_summary_of_a_view_counts_areas_by_their_representative_point(http, loaded_engine):
    s = ok(http.get("/api/v1/summary", params={"level": 3, "bbox": BOX_Q}))
    with loaded_engine.connect() as conn:
        row = conn.execute(
            text("""
            SELECT count(*), sum(s.planned), sum(s.installed), sum(s.online), count(*) FILTER (WHERE s.installed = 0)
            FROM area a JOIN area_stats s USING (code)
            WHERE a.level = 3 AND ST_Within(ST_PointOnSurface(a.geom), ST_MakeEnvelope(:a, :b, :c, :d, 4490))
        """),
            dict(zip("abcd", BOX)),
        ).one()
    assert (s["areas"], s["planned"], s["installed"], s["online"], s["blind"]) == tuple(int(v) for v in row)
    assert 0 < s["areas"] < 1294 and s["rollout_rate"] == s["installed"] / s["planned"]
    empty = ok(http.get("/api/v1/summary", params={"bbox": "0,0,1,1"}))
    assert (empty["areas"], empty["planned"], empty["rollout_rate"], empty["online_rate"]) == (0, 0, None, None)


def test_search(http):
    results = ok(http.get("/api/v1/search", params={"q": TOWN}))["results"]
    assert results[0]["code"] == TOWN and results[0]["level_name"] == "乡镇/街道" and len(results) == 10
    assert all(r["code"].startswith(TOWN) for r in results)
    minlon, minlat, maxlon, maxlat = results[0]["bbox"]
    assert 115 < minlon < maxlon < 116 and 33 < minlat < maxlat < 35
    by_name = ok(http.get("/api/v1/search", params={"q": "真源", "limit": 50}))["results"]
    assert by_name[0]["name"] == "真源街道" and all("真源" in r["name"] for r in by_name)
    assert ok(http.get("/api/v1/search", params={"q": "没有这个地方"}))["results"] == []


# --------------------------------------------------------------------------- errors

ERRORS = [
    ("/api/v1/areas?bbox=1,2,3", 400, "invalid_bbox"),
    ("/api/v1/areas?bbox=a,b,c,d", 400, "invalid_bbox"),
    ("/api/v1/areas?bbox=115.6,33.8,115.4,34.0", 400, "invalid_bbox"),  # min > max
    ("/api/v1/areas?bbox=33.8,115.4,34.0,115.6", 400, "invalid_bbox"),  # lat/lon swapped
    ("/api/v1/areas?bbox=12800000,3900000,12900000,4000000", 400, "invalid_bbox"),  # metres
    ("/api/v1/cameras?bbox=1,2,3,nan", 400, "invalid_bbox"),
    ("/api/v1/summary?bbox=1,2,3,4,5", 400, "invalid_bbox"),
    ("/api/v1/areas?level=5", 400, "invalid_level"),
    ("/api/v1/areas?level=城市", 400, "invalid_level"),
    ("/api/v1/coverage?level=-3", 400, "invalid_level"),
    ("/api/v1/summary?level=x", 400, "invalid_level"),
    ("/api/v1/cameras?status=online", 400, "invalid_status"),
    ("/api/v1/areas/411628/cameras?status=installed,broken", 400, "invalid_status"),
    ("/api/v1/coverage/trend/411628?from=2024-13-01", 400, "invalid_date"),
    ("/api/v1/coverage/trend/411628?to=yesterday", 400, "invalid_date"),
    ("/api/v1/coverage/trend/411628?from=2024-02-01&to=2024-01-01", 400, "invalid_date"),
    ("/api/v1/coverage?format=pdf", 400, "unknown_format"),
    ("/api/v1/coverage/blind?format=text", 400, "unknown_format"),
    ("/api/v1/areas/999999", 404, "area_not_found"),
    ("/api/v1/areas/999999/cameras", 404, "area_not_found"),
    ("/api/v1/areas?parent=999999", 404, "area_not_found"),
    ("/api/v1/cameras?area=999999", 404, "area_not_found"),
    ("/api/v1/coverage?code=999999", 404, "area_not_found"),
    ("/api/v1/coverage/blind?code=999999", 404, "area_not_found"),
    ("/api/v1/coverage/trend/999999", 404, "area_not_found"),
    ("/api/v1/areas?limit=20001", 422, "invalid_request"),
    ("/api/v1/areas?offset=-1", 422, "invalid_request"),
    ("/api/v1/areas?geometry=round", 422, "invalid_request"),
    ("/api/v1/cameras?online=maybe", 422, "invalid_request"),
    ("/api/v1/search", 422, "invalid_request"),
    ("/api/v1/search?q=x&limit=0", 422, "invalid_request"),
]


@pytest.mark.parametrize(("url", "status", "code"), ERRORS, ids=[u for u, _, _ in ERRORS])
def test_errors_have_stable_codes(http, url, status, code):
    assert error_code(http.get(url), status) == code


# --------------------------------------------------------------------------- tokens


def test_token_access(loaded_engine):
    from gridmap.db.tokens import create_token

    with loaded_engine.begin() as conn:
        viewer, viewer_row = create_token(conn, name="test_api_read viewer", role="viewer")
        embed, embed_row = create_token(conn, name="test_api_read embed", role="embed")
    try:
        with serve(loaded_engine, read_access="token") as base:
            with client(base) as anonymous:
                r = anonymous.get("/api/v1/areas", params={"level": 0})
                assert error_code(r, 401) == "token_required" and r.headers["www-authenticate"] == "Bearer"
                assert error_code(anonymous.get("/api/v1/coverage"), 401) == "token_required"
            with client(base, viewer) as c:
                assert ok(c.get("/api/v1/areas", params={"level": 0}))["numberMatched"] == 1
                assert ok(c.get("/api/v1/summary", params={"level": 0}))["planned"] == 10520
            with client(base, embed) as c:
                for url in ("/api/v1/areas", "/api/v1/cameras", "/api/v1/coverage", "/api/v1/search?q=1"):
                    assert error_code(c.get(url), 403) == "embed_token_read_only"
            with client(base, "gm_not_a_token") as c:
                assert error_code(c.get("/api/v1/coverage"), 401) == "token_invalid"
    finally:
        with loaded_engine.begin() as conn:
            conn.execute(text("DELETE FROM api_token WHERE id IN (:a, :b)"), {"a": viewer_row.id, "b": embed_row.id})


# --------------------------------------------------------------------------- the revision cache


def test_revision_cache_computes_once_per_revision():
    cache, calls = RevisionCache(max_entries=3), []

    def slow(value):
        def compute():
            calls.append(value)
            time.sleep(0.05)
            return value

        return compute

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("coverage", 1, slow("r1")))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["r1"] * 8 and calls == ["r1"]
    assert cache.get("coverage", 2, slow("r2")) == "r2" and calls == ["r1", "r2"]
    assert len(cache) == 1  # revision 1's value was dropped
    # A late request still on revision 1 computes its value but does not replace revision 2's.
    assert cache.get("coverage", 1, slow("late")) == "late"
    assert cache.get("coverage", 2, slow("again")) == "r2"
    for name in "abc":
        cache.get(name, 2, lambda: name)
    assert len(cache) == 3 and cache.get("coverage", 2, slow("evicted")) == "evicted"
    with pytest.raises(ZeroDivisionError):
        cache.get("boom", 2, lambda: 1 / 0)
    assert cache.get("boom", 2, lambda: "fine") == "fine"


def test_api_caches_coverage_per_revision(loaded_engine, monkeypatch):
    import api_server

    from gridmap.api.app import create_app

    apps = []
    monkeypatch.setattr(api_server, "create_app", lambda *a, **k: apps.append(create_app(*a, **k)) or apps[-1])
    with serve(loaded_engine) as base, client(base) as c:
        first = ok(c.get("/api/v1/coverage", params={"code": VILLAGE}))
        assert ok(c.get("/api/v1/coverage", params={"code": VILLAGE})) == first
        assert ok(c.get(f"/api/v1/areas/{VILLAGE}"))["properties"]["coverage"] == first["rows"][0]
    assert apps[0].state.revision_cache.computed == 1  # the village's JSON once (rows: the stored figures)


def _rings_follow_the_right_hand_rule(geometry: dict) -> bool:
    """RFC 7946 §3.1.6: exterior rings counter-clockwise, holes clockwise."""
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    for rings in polygons:
        for i, ring in enumerate(rings):
            if shapely.LinearRing(ring).is_ccw != (i == 0):
                return False
    return True


@pytest.mark.parametrize("geometry", ["full", "simplified"])
def test_rings_are_counter_clockwise_at_every_level(http, geometry):
    """Stored rings keep the file's orientation (the sample's upper levels are clockwise); every
    GeoJSON answer follows RFC 7946 all the same."""
    for level in range(5):
        params = {"level": level, "limit": 300, "geometry": geometry} | ({"parent": TOWN} if level > 1 else {})
        features = ok(http.get("/api/v1/areas", params=params))["features"]
        assert features and all(_rings_follow_the_right_hand_rule(f["geometry"]) for f in features), level
    assert _rings_follow_the_right_hand_rule(ok(http.get(f"/api/v1/areas/{COUNTY}"))["geometry"])


def test_gdal_reads_the_geojson_api_as_cgcs2000(http):
    """The GeoJSON answers name EPSG:4490 in band: GDAL (and so QGIS and ogr2ogr) labels the data
    CGCS2000 instead of assuming WGS 84, with lon/lat coordinates as sent."""
    import pyogrio
    from pyproj import CRS

    # GDAL's GeoJSON driver on the body (pyogrio would fetch a URL through /vsicurl/, which wants
    # range requests; ogr2ogr and QGIS fetch the whole answer).
    body = http.get("/api/v1/areas", params={"level": 1, "limit": 100}).content
    info = pyogrio.read_info(body)
    assert CRS.from_user_input(info["crs"]).to_epsg() == 4490
    frame = pyogrio.read_dataframe(body)
    assert len(frame) == 24 and frame.crs.to_epsg() == 4490
    minx, miny, maxx, maxy = frame.total_bounds
    assert 115 < minx < maxx < 116 and 33 < miny < maxy < 35
    detail = pyogrio.read_dataframe(http.get(f"/api/v1/areas/{TOWN}").content)
    assert detail.crs.to_epsg() == 4490 and detail["code"].tolist() == [TOWN]
    cameras = pyogrio.read_dataframe(http.get("/api/v1/cameras", params={"limit": 10}).content)
    assert len(cameras) == 10 and cameras.crs.to_epsg() == 4490


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/areas?level=1",
        f"/api/v1/areas/{TOWN}",
        f"/api/v1/areas/{TOWN}/cameras?limit=5",
        "/api/v1/cameras?limit=5",
        "/ogc/collections/township/items",
        f"/ogc/collections/township/items/{TOWN}",
        "/ogc/collections/township/items?f=html",
    ],
)
def test_revalidating_an_unchanged_answer_costs_a_304(http, url):
    """Lists and features carry an ETag of the data revision: a client that has the answer gets a
    304 without a body while nothing changed (the tiles have their own: tests/api/test_tiles.py)."""
    first = ok(http.get(url)) if "f=html" not in url else http.get(url)
    assert first is not None
    r = http.get(url)
    etag = r.headers["etag"]
    assert etag.startswith('W/"r') and "no-cache" in r.headers["cache-control"]
    again = http.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert http.get(url, headers={"If-None-Match": 'W/"r0-other"'}).status_code == 200
    # Another page, format or parameter is another answer with another tag.
    variant = "crs=http://www.opengis.net/def/crs/EPSG/0/3857" if url.startswith("/ogc/") else "limit=3"
    other = http.get(url + ("&" if "?" in url else "?") + variant)
    assert other.status_code == 200
    assert other.headers["etag"] != etag


def test_a_change_of_data_changes_the_tag():
    """A write bumps the data revision: the old tag no longer matches (a database of its own)."""
    from conftest import loaded_database
    from sqlalchemy import text as sql

    _url, engine = loaded_database("gridmap_test_etag")
    try:
        with serve(engine) as base, client(base) as c:
            url = "/api/v1/areas?level=1&geometry=none"
            etag = c.get(url).headers["etag"]
            assert c.get(url, headers={"If-None-Match": etag}).status_code == 304
            with engine.begin() as conn:
                conn.execute(sql("UPDATE data_revision SET revision = revision + 1 WHERE id = 1"))
            fresh = c.get(url, headers={"If-None-Match": etag})
            assert fresh.status_code == 200 and fresh.headers["etag"] != etag
    finally:
        engine.dispose()
