"""OGC API – Features under /ogc, read by the real GDAL OAPIF driver (through pyogrio) and over
plain HTTP: every micro-grid and camera with the figures of ``area_stats``, in CRS84 and in
EPSG:4490 (latitude first on the wire, longitude first once GDAL has read it), the landing page,
conformance, collections, paging, bbox/bbox-crs, crs and Content-Crs, filters, HTML, and the
errors with their stable codes.

GDAL talks to a server in a process of its own (a server thread in this process would wait for
the GIL GDAL holds while it downloads); the JSON tests use the session's server.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx
import pyogrio
import pytest
from sqlalchemy import text

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
EPSG3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
TOWN = "411628001"
FIGURES = ["planned", "installed", "online", "rollout_rate", "online_rate", "households", "area_m2"]


@contextmanager
def process_server(engine, **settings):
    """``uvicorn --factory gridmap.api.app:create_app`` on ``engine``'s database in a child
    process; ``settings`` become ``GRIDMAP_<NAME>`` variables. Yields the base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "GRIDMAP_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "GRIDMAP_SNAPSHOT_CHECK": "0",  # no daily snapshot in a database other tests read
        **{f"GRIDMAP_{k.upper()}": str(v) for k, v in settings.items()},
    }
    argv = [sys.executable, "-m", "uvicorn", "--factory", "gridmap.api.app:create_app", "--port", str(port)]
    proc = subprocess.Popen([*argv, "--log-level", "warning"], env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not answer within 60 s"
                time.sleep(0.2)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def ogc_process(loaded_engine):
    with process_server(loaded_engine) as base:
        yield base + "/ogc"


def stats(engine, level: int) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("""SELECT a.code, s.planned, s.installed, s.online, s.rollout_rate, s.online_rate,
                           coalesce(s.households, a.households) AS households, a.area_m2
                    FROM area a LEFT JOIN area_stats s USING (code) WHERE a.level = :level"""),
            {"level": level},
        ).mappings()
        return {r["code"]: dict(r) for r in rows}


def same(a, b) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return (a is None or (isinstance(a, float) and math.isnan(a))) and (
            b is None or (isinstance(b, float) and math.isnan(b))
        )
    return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-9)


def assert_figures(df, expected: dict[str, dict]) -> None:
    assert len(df) == len(expected) and set(df["code"]) == set(expected)
    for row in df[["code", *FIGURES]].itertuples(index=False):
        want = expected[row.code]
        for name in FIGURES:
            assert same(getattr(row, name), want[name]), (row.code, name, getattr(row, name), want[name])


# --------------------------------------------------------------------------- GDAL


def test_gdal_lists_every_collection(ogc_process):
    layers = dict(pyogrio.list_layers("OAPIF:" + ogc_process))
    assert layers == {
        "county": "MultiPolygon",
        "township": "MultiPolygon",
        "village": "MultiPolygon",
        "grid": "MultiPolygon",
        "microgrid": "MultiPolygon",
        "cameras": "Point",
    }


def test_gdal_reads_every_microgrid_with_its_figures_in_the_storage_crs(ogc_process, loaded_engine):
    """No CRS asked: GDAL takes the storageCrs (EPSG:4490), asks for it with crs=, gets latitude
    first and swaps it back: the county lies at 115–116°E, 33–35°N."""
    df = pyogrio.read_dataframe("OAPIF:" + ogc_process, layer="microgrid")
    assert df.crs.to_epsg() == 4490
    assert_figures(df, stats(loaded_engine, 4))
    assert df["rollout_rate"].dtype.kind == "f"  # typed by the describedby schema, not by a first page of 0/1
    minx, miny, maxx, maxy = df.total_bounds
    assert 115 < minx < maxx < 116 and 33 < miny < maxy < 35


def test_gdal_reads_every_microgrid_in_crs84(ogc_process, loaded_engine):
    df = pyogrio.read_dataframe("OAPIF:" + ogc_process, layer="microgrid", columns=["code", *FIGURES], CRS="OGC:CRS84")
    assert df.crs.to_string() == "OGC:CRS84"
    assert_figures(df, stats(loaded_engine, 4))
    minx, miny, maxx, maxy = df.total_bounds
    assert 115 < minx < maxx < 116 and 33 < miny < maxy < 35
    # the same polygons as in EPSG:4490 (within the 7 decimals written)
    with loaded_engine.connect() as conn:
        box = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                "(SELECT ST_Extent(geom)::geometry e FROM area WHERE level = 4) x"
            )
        ).one()
    assert all(abs(a - b) < 2e-7 for a, b in zip(df.total_bounds, box))


def test_gdal_reads_every_camera_and_the_other_levels(ogc_process, loaded_engine):
    with loaded_engine.connect() as conn:
        cameras = conn.execute(text("SELECT count(*) FROM camera WHERE status <> 'removed'")).scalar_one()
    df = pyogrio.read_dataframe("OAPIF:" + ogc_process, layer="cameras", PREFERRED_CRS="EPSG:4490")
    assert len(df) == cameras == 10_520 and df["device_id"].is_unique
    assert df.crs.to_epsg() == 4490
    assert 115 < df.geometry.x.min() < df.geometry.x.max() < 116 and 33 < df.geometry.y.min() < df.geometry.y.max() < 35
    for level, layer in enumerate(["county", "township", "village", "grid"]):
        part = pyogrio.read_dataframe("OAPIF:" + ogc_process, layer=layer)
        assert_figures(part, stats(loaded_engine, level))


def test_gdal_sizes_its_pages_from_the_advertised_maximum(loaded_engine):
    """With GRIDMAP_OGC_MAX_LIMIT=500, GDAL's default page (1,000) would be refused (400): it reads
    the whole grid level only because it found the maximum in /ogc/api."""
    with process_server(loaded_engine, ogc_max_limit=500) as base:
        df = pyogrio.read_dataframe("OAPIF:" + base + "/ogc", layer="grid", columns=["code"])
        assert len(df) == 1294
        assert httpx.get(base + "/ogc/collections/grid/items", params={"limit": 501}).status_code == 400


# --------------------------------------------------------------------------- JSON


def test_landing_conformance_and_openapi(http, api_url):
    landing = http.get("/ogc")
    assert landing.status_code == 200 and landing.headers["content-type"] == "application/json"
    links = {(link["rel"], link["type"]): link["href"] for link in landing.json()["links"]}
    assert links[("self", "application/json")].startswith(api_url + "/ogc")
    assert ("alternate", "text/html") in links
    assert links[("service-desc", "application/vnd.oai.openapi+json;version=3.0")] == api_url + "/ogc/api"
    assert links[("service-desc", "application/vnd.oai.openapi+json;version=3.1")] == api_url + "/openapi.json"
    assert links[("service-doc", "text/html")] == api_url + "/docs"
    assert links[("conformance", "application/json")] == api_url + "/ogc/conformance"
    assert links[("data", "application/json")] == api_url + "/ogc/collections"
    assert set(http.get("/ogc/conformance").json()["conformsTo"]) == {
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
        "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    }
    doc = http.get("/ogc/api")
    assert doc.headers["content-type"].startswith("application/vnd.oai.openapi+json;version=3.0")
    spec = doc.json()
    assert spec["openapi"].startswith("3.0") and spec["servers"] == [{"url": api_url + "/ogc"}]
    limit = spec["components"]["parameters"]["limit"]
    assert limit["schema"]["maximum"] == 20_000 >= 10_000 and limit["schema"]["default"] == 100
    assert {"$ref": "#/components/parameters/limit"} in spec["paths"]["/collections/microgrid/items"]["get"][
        "parameters"
    ]
    app_spec = http.get("/openapi.json").json()
    ogc_paths = [p for p in app_spec["paths"] if p.startswith("/ogc")]
    assert "/ogc/collections/{collectionId}/items" in ogc_paths
    assert all(op["tags"] == ["ogc"] for p in ogc_paths for op in app_spec["paths"][p].values())
    items_params = app_spec["paths"]["/ogc/collections/{collectionId}/items"]["get"]["parameters"]
    assert next(p for p in items_params if p["name"] == "limit")["schema"]["maximum"] == 20_000
    areas_params = app_spec["paths"]["/api/v1/areas"]["get"]["parameters"]
    assert next(p for p in areas_params if p["name"] == "limit")["schema"]["maximum"] == 20_000


def test_collections_with_extents_crs_and_links(http, loaded_engine):
    body = http.get("/ogc/collections").json()
    ids = [c["id"] for c in body["collections"]]
    assert ids == ["county", "township", "village", "grid", "microgrid", "cameras"]
    titles = {c["id"]: c["title"] for c in body["collections"]}
    assert titles["microgrid"] == "微网格" and titles["township"] == "乡镇/街道"
    with loaded_engine.connect() as conn:
        county = conn.execute(
            text("SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM area WHERE level = 0")
        ).one()
    for c in body["collections"]:
        assert c["itemType"] == "feature" and c["storageCrs"] == EPSG4490
        assert c["crs"] == [CRS84, EPSG4490, EPSG3857]
        assert c["extent"]["spatial"]["crs"] == CRS84
        box = c["extent"]["spatial"]["bbox"][0]
        assert box[0] <= county[0] + 1e-6 or c["id"] == "cameras"
        assert 115 < box[0] < box[2] < 116 and 33 < box[1] < box[3] < 35
        rels = {(link["rel"], link["type"]) for link in c["links"]}
        assert {
            ("items", "application/geo+json"),
            ("items", "text/html"),
            ("describedby", "application/schema+json"),
        } <= rels
    one = http.get("/ogc/collections/grid").json()
    assert one["id"] == "grid" and one["links"][0]["rel"] == "self"


def test_paging_walks_every_item_exactly_once(http):
    url, seen, pages = "/ogc/collections/microgrid/items?limit=3000", [], 0
    while url:
        r = http.get(url)
        assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
        assert r.headers["content-crs"] == f"<{CRS84}>"
        fc = r.json()
        assert fc["numberMatched"] == 10_311 and fc["numberReturned"] == len(fc["features"]) <= 3000
        assert fc["timeStamp"].endswith("Z")
        seen += [f["id"] for f in fc["features"]]
        nxt = [link for link in fc["links"] if link["rel"] == "next"]
        assert all(link["type"] == "application/geo+json" for link in nxt)
        url = nxt[0]["href"] if nxt else None
        pages += 1
    assert pages == 4 and len(seen) == len(set(seen)) == 10_311
    last = http.get("/ogc/collections/microgrid/items", params={"limit": 3000, "offset": 9000}).json()
    prev = next(link for link in last["links"] if link["rel"] == "prev")
    assert "offset=6000" in prev["href"] and "limit=3000" in prev["href"]


def test_properties_equal_the_plain_api(http):
    ogc = http.get("/ogc/collections/township/items", params={"limit": 100}).json()
    plain = http.get("/api/v1/areas", params={"level": 1, "limit": 100}).json()
    assert [f["properties"] for f in ogc["features"]] == [f["properties"] for f in plain["features"]]
    assert [f["geometry"] for f in ogc["features"]] == [f["geometry"] for f in plain["features"]]


def test_crs_axis_order_and_content_crs(http):
    lonlat = http.get(f"/ogc/collections/township/items/{TOWN}")
    latlon = http.get(f"/ogc/collections/township/items/{TOWN}", params={"crs": EPSG4490})
    merc = http.get(f"/ogc/collections/township/items/{TOWN}", params={"crs": EPSG3857})
    assert lonlat.headers["content-crs"] == f"<{CRS84}>" and latlon.headers["content-crs"] == f"<{EPSG4490}>"
    assert merc.headers["content-crs"] == f"<{EPSG3857}>"
    a = lonlat.json()["geometry"]["coordinates"][0][0]
    b = latlon.json()["geometry"]["coordinates"][0][0]
    m = merc.json()["geometry"]["coordinates"][0][0]
    assert [[y, x] for x, y in a] == b
    assert 115 < a[0][0] < 116 and 33 < b[0][0] < 35
    x = 6378137 * math.radians(a[0][0])
    y = 6378137 * math.log(math.tan(math.pi / 4 + math.radians(a[0][1]) / 2))
    assert abs(m[0][0] - x) < 0.05 and abs(m[0][1] - y) < 0.05
    # the exterior ring is counter-clockwise in lon/lat
    ring = a
    area2 = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:]))
    assert area2 > 0
    feature = lonlat.json()
    assert feature["id"] == TOWN and {link["rel"] for link in feature["links"]} >= {"self", "alternate", "collection"}


def test_bbox_in_each_crs_selects_the_same_features(http):
    lon0, lat0, lon1, lat1 = 115.45, 33.85, 115.55, 33.95
    base = "/ogc/collections/grid/items"

    def ids(**params):
        r = http.get(base, params={"limit": 5000, **params})
        assert r.status_code == 200, r.text
        return {f["id"] for f in r.json()["features"]}

    crs84 = ids(bbox=f"{lon0},{lat0},{lon1},{lat1}")
    assert 0 < len(crs84) < 1294
    assert ids(bbox=f"{lat0},{lon0},{lat1},{lon1}", **{"bbox-crs": EPSG4490}) == crs84

    def merc(lon, lat):
        return 6378137 * math.radians(lon), 6378137 * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    (x0, y0), (x1, y1) = merc(lon0, lat0), merc(lon1, lat1)
    assert ids(bbox=f"{x0},{y0},{x1},{y1}", **{"bbox-crs": EPSG3857}) == crs84
    assert ids(bbox=f"{lon0},{lat0},0,{lon1},{lat1},100") == crs84  # 6 numbers: heights ignored


def test_property_filters(http, loaded_engine):
    villages = http.get("/ogc/collections/village/items", params={"parent_code": TOWN, "limit": 1000}).json()
    with loaded_engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM area WHERE parent_code = :p"), {"p": TOWN}).scalar_one()
        online = conn.execute(
            text("SELECT count(*) FROM camera WHERE online AND status <> 'removed' AND operator = '中国移动'")
        ).scalar_one()
    assert villages["numberMatched"] == n > 0
    assert all(f["properties"]["parent_code"] == TOWN for f in villages["features"])
    one = http.get("/ogc/collections/township/items", params={"code": TOWN}).json()
    assert [f["id"] for f in one["features"]] == [TOWN]
    assert http.get("/ogc/collections/township/items", params={"level": "grid"}).json()["numberMatched"] == 0
    assert http.get("/ogc/collections/township/items", params={"level": "1"}).json()["numberMatched"] == 24
    cams = http.get(
        "/ogc/collections/cameras/items", params={"online": "true", "operator": "中国移动", "limit": 1}
    ).json()
    assert cams["numberMatched"] == online
    device = cams["features"][0]["id"]
    by_id = http.get("/ogc/collections/cameras/items", params={"device_id": device}).json()
    assert by_id["numberMatched"] == 1
    leaf = by_id["features"][0]["properties"]["area_code"]
    in_leaf = http.get("/ogc/collections/cameras/items", params={"area_code": leaf}).json()
    assert device in {f["id"] for f in in_leaf["features"]}
    assert http.get(f"/ogc/collections/cameras/items/{device}").json()["properties"]["device_id"] == device


def test_html_pages_by_f_and_by_accept(http):
    for url in [
        "/ogc",
        "/ogc/conformance",
        "/ogc/collections",
        "/ogc/collections/township",
        "/ogc/collections/township/items",
        f"/ogc/collections/township/items/{TOWN}",
    ]:
        for r in (http.get(url, params={"f": "html"}), http.get(url, headers={"Accept": "text/html,*/*;q=0.8"})):
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), url
            assert "<script" not in r.text and "script-src" not in r.headers["content-security-policy"]
            assert "default-src 'none'" in r.headers["content-security-policy"]
    page = http.get("/ogc/collections/township/items", params={"f": "html", "limit": 5}).text
    assert "rollout_rate" in page and TOWN in page and "下一页" in page
    # Figures as people read them: Chinese headings, rates as percentages, km², thousands.
    town = http.get(f"/ogc/collections/township/items/{TOWN}").json()["properties"]
    assert ">安装率<" in page and ">户数<" in page
    assert f"{town['rollout_rate'] * 100:.2f}%" in page and f"{town['households']:,}" in page
    assert f"{town['area_m2'] / 1e6:,.2f}" in page
    assert http.get("/ogc", headers={"Accept": "application/json"}).headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/ogc/collections/nothing", 404, "collection_not_found"),
        ("/ogc/collections/nothing/items", 404, "collection_not_found"),
        ("/ogc/collections/township/items/999", 404, "feature_not_found"),
        ("/ogc/collections/cameras/items/x", 404, "feature_not_found"),
        ("/ogc/collections/grid/items?crs=EPSG:4326", 400, "invalid_crs"),
        ("/ogc/collections/grid/items?crs=" + "x" * 5000, 400, "invalid_crs"),
        ("/ogc/collections/grid/items?bbox-crs=urn:ogc:def:crs:EPSG::4326&bbox=1,2,3,4", 400, "invalid_crs"),
        ("/ogc/collections/grid/items?bbox=1,2,3", 400, "invalid_bbox"),
        ("/ogc/collections/grid/items?bbox=115,34,116,nan", 400, "invalid_bbox"),
        ("/ogc/collections/grid/items?bbox=116,34,115,35", 400, "invalid_bbox"),
        ("/ogc/collections/grid/items?bbox=115,95,116,96", 400, "invalid_bbox"),
        (f"/ogc/collections/grid/items?bbox-crs={EPSG4490}&bbox=115,34,116,35", 400, "invalid_bbox"),
        ("/ogc/collections/grid/items?limit=20001", 400, "invalid_limit"),
        ("/ogc/collections/grid/items?limit=0", 400, "invalid_limit"),
        ("/ogc/collections/grid/items?limit=ten", 400, "invalid_limit"),
        ("/ogc/collections/grid/items?offset=-1", 400, "invalid_offset"),
        ("/ogc/collections/grid/items?offset=99999999999999999999", 400, "invalid_offset"),
        ("/ogc/collections/grid/items?parent=411628001", 400, "unknown_parameter"),
        ("/ogc/collections/grid/items?device_id=1", 400, "unknown_parameter"),
        ("/ogc/collections/cameras/items?online=maybe", 400, "invalid_online"),
        ("/ogc/collections/cameras/items?status=broken", 400, "invalid_status"),
        ("/ogc/collections/grid/items?level=9", 400, "invalid_level"),
        ("/ogc/collections/grid/items?code=" + "1" * 101, 400, "invalid_parameter"),
        ("/ogc/collections/grid/items?f=xml", 406, "unsupported_format"),
        ("/ogc/collections/grid/items?datetime=yesterday", 400, "invalid_datetime"),
        ("/ogc/collections/grid/items?datetime=../..", 400, "invalid_datetime"),
        ("/ogc/collections/grid/items?datetime=2026-13-01", 400, "invalid_datetime"),
        ("/ogc/collections/grid/items?datetime=2026-01-01/2026-02-01/2026-03-01", 400, "invalid_datetime"),
        ("/ogc?f=pdf", 406, "unsupported_format"),
        ("/api/v1/areas?limit=20001", 422, "invalid_request"),
    ],
)
def test_errors_have_stable_codes(http, url, status, code):
    r = http.get(url)
    assert r.status_code == status, r.text[:300]
    body = r.json()
    assert body["code"] == code and body["message"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])  # Chinese


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-31",
        "2026-01-31T08:00:00Z",
        "2026-01-31T08:00:00+08:00",
        "2026-01-01/..",
        "../2026-01-01",
        "/2026-01-01",
    ],
)
def test_datetime_is_read_and_every_live_feature_matches(http, value):
    """Part 1 core: items take `datetime`. The features are the live state, with no time of their
    own (no temporal extent), so a valid instant or interval keeps every feature."""
    fc = http.get("/ogc/collections/township/items", params={"datetime": value}).json()
    assert fc["numberMatched"] == 24


def test_the_plain_list_takes_a_whole_county_level_in_one_page(http):
    fc = http.get("/api/v1/areas", params={"level": 4, "limit": 20_000, "geometry": "none"}).json()
    assert fc["numberReturned"] == fc["numberMatched"] == 10_311 and not fc["links"]


def test_reading_needs_a_token_where_the_api_does(loaded_engine):
    from api_server import serve
    from api_tokens import make_token

    viewer = make_token(loaded_engine, "viewer", name="ogc-viewer")
    with serve(loaded_engine, read_access="token") as base:
        assert httpx.get(base + "/ogc/collections").json()["code"] == "token_required"
        ok = httpx.get(base + "/ogc/collections/grid/items", headers={"Authorization": f"Bearer {viewer}"})
        assert ok.status_code == 200 and ok.json()["numberMatched"] == 1294
        assert httpx.get(base + "/ogc/api", headers={"Authorization": f"Bearer {viewer}"}).json()["security"]
