"""Cross-origin reading (gridmap.api.cors) over real HTTP: the read routes answer other origins
(``*`` by default, or a configured list), their preflights are approved, their error answers
carry the headers too; writes never do, and a preflight asking to write is refused.

The browser's side of the same rules (a page on another port loading tiles with MapLibre, and
failing to POST) is tests/browser/test_cross_origin.py.
"""

from __future__ import annotations

import pytest
from api_server import client, serve
from api_tokens import make_token
from conftest import loaded_database

from gridmap.config import Settings, cors_origins

SCREEN = "http://127.0.0.1:9"  # a page elsewhere (another port is another origin)
OTHER = "https://elsewhere.example"
ALLOWED = "https://screen.example.cn"

#: Read routes a foreign page loads (paths on the sample county).
READS = [
    "/tiles",
    "/tiles/microgrid.json",
    "/tiles/county/8/210/102.mvt",
    "/api/v1/areas/411628",
    "/api/v1/search?q=鹿邑",
    "/api/v1/coverage?level=township",
    "/api/v1/coverage/trend/411628",
    "/api/v1/summary",
    "/static/vendor/README.md",
]
#: Write routes, with a body that is refused (no token): the answer must still carry no CORS.
WRITES = [
    ("POST", "/api/v1/cameras/status"),
    ("POST", "/api/v1/uploads/boundaries"),
    ("POST", "/api/v1/uploads/1/publish"),
    ("POST", "/api/v1/versions/1/rollback"),
]


@pytest.fixture(scope="module")
def engine():
    _url, eng = loaded_database("gridmap_test_cors")
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def open_server(engine):
    with serve(engine) as base:  # the default: any origin
        yield base


@pytest.fixture(scope="module")
def listed_server(engine):
    with serve(engine, cors_origins=f"{ALLOWED}/, http://10.0.0.1:8080") as base:
        yield base


def cors_headers(r) -> dict[str, str]:
    return {k.lower(): v for k, v in r.headers.items() if k.lower().startswith("access-control-")}


def preflight(http, path: str, method: str = "GET", origin: str = SCREEN, headers: str = "authorization"):
    return http.options(
        path,
        headers={"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers},
    )


def test_the_setting_reads_any_a_list_or_off():
    assert cors_origins("*") == ("*",)
    assert cors_origins(" https://A.example/ ,http://10.1.2.3:8080") == ("https://a.example", "http://10.1.2.3:8080")
    assert cors_origins("") is None and cors_origins("none") is None and cors_origins(" NONE ") is None
    assert Settings(cors_origins="http://a.example, *").cors_origins == "*"
    with pytest.raises(ValueError):
        Settings(cors_origins="screen.example.cn")  # a host is not an origin
    with pytest.raises(ValueError):
        Settings(cors_origins="https://a.example/path")


@pytest.mark.parametrize("path", READS)
def test_read_routes_are_readable_from_any_origin_by_default(open_server, path):
    with client(open_server) as http:
        r = http.get(path, headers={"Origin": SCREEN})
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
        assert r.headers["access-control-allow-origin"] == "*"
        exposed = {h.strip() for h in r.headers["access-control-expose-headers"].split(",")}
        assert {"ETag", "X-Tile-Revision", "X-Tile-Cache", "Content-Crs", "Link", "Content-Disposition"} <= exposed
        assert "access-control-allow-credentials" not in r.headers
        assert "origin" not in r.headers.get("vary", "").lower()  # "*" does not depend on the origin
        pre = preflight(http, path)
        assert pre.status_code == 204, pre.text
        assert pre.headers["access-control-allow-origin"] == "*"
        assert pre.headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS"
        allowed = {h.strip().lower() for h in pre.headers["access-control-allow-headers"].split(",")}
        assert {"authorization", "if-none-match", "accept"} <= allowed
        assert int(pre.headers["access-control-max-age"]) > 0
        head = http.head(path, headers={"Origin": SCREEN})
        assert head.headers.get("access-control-allow-origin") == "*" or head.status_code == 405


def test_tiles_keep_their_caching_headers_and_a_304_is_readable_too(open_server):
    with client(open_server) as http:
        r = http.get("/tiles/county/8/210/102.mvt", headers={"Origin": SCREEN, "Accept-Encoding": "gzip"})
        assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
        assert r.headers["vary"] == "Accept-Encoding" and r.headers["access-control-allow-origin"] == "*"
        again = http.get(
            "/tiles/county/8/210/102.mvt",
            headers={"Origin": SCREEN, "Accept-Encoding": "gzip", "If-None-Match": r.headers["etag"]},
        )
        assert again.status_code == 304 and again.headers["access-control-allow-origin"] == "*"


def test_a_list_of_origins_answers_those_and_no_other(listed_server):
    with client(listed_server) as http:
        for path in ("/tiles/microgrid.json", "/api/v1/summary"):
            ok = http.get(path, headers={"Origin": ALLOWED})
            assert ok.headers["access-control-allow-origin"] == ALLOWED
            assert "Origin" in ok.headers["vary"]
            other = http.get(path, headers={"Origin": OTHER})
            assert other.status_code == 200 and cors_headers(other) == {}
            assert "Origin" in other.headers["vary"]  # a cache must not hand this one to ALLOWED
            pre = preflight(http, path, origin=ALLOWED)
            assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == ALLOWED
            refused = preflight(http, path, origin=OTHER)
            assert refused.status_code == 403 and cors_headers(refused) == {}
            assert refused.json()["code"] == "cors_refused" and OTHER in refused.json()["message"]


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_writes_carry_no_cors_and_their_preflight_is_refused(open_server, method, path):
    with client(open_server) as http:
        r = http.request(method, path, headers={"Origin": SCREEN}, json={"reports": []})
        assert r.status_code in (401, 422), r.text
        assert cors_headers(r) == {}
        pre = preflight(http, path, method=method, headers="authorization, content-type")
        assert pre.status_code == 403 and cors_headers(pre) == {}
        assert pre.json()["code"] == "cors_refused"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_preflight_asking_to_write_to_a_read_route_is_refused(open_server, method):
    with client(open_server) as http:
        pre = preflight(http, "/tiles/microgrid.json", method=method)
        assert pre.status_code == 403 and cors_headers(pre) == {}
        assert method in pre.json()["message"]


def test_a_post_from_another_origin_with_a_valid_editor_token_gets_no_cors(engine, open_server):
    editor = make_token(engine, "editor", "411628001")
    with client(open_server, editor) as http:
        r = http.post("/api/v1/cameras/status", headers={"Origin": SCREEN}, json={"reports": []})
        assert r.status_code in (200, 422) and cors_headers(r) == {}
        listing = http.get("/api/v1/uploads", headers={"Origin": SCREEN})  # the editors' own reads
        assert listing.status_code == 200 and cors_headers(listing) == {}
        assert preflight(http, "/api/v1/uploads").status_code == 403


def test_other_options_requests_are_plain_answers_not_errors_of_the_server(open_server):
    with client(open_server) as http:
        for path in ("/map", "/healthz", "/nowhere", "/api/v1/uploads/boundaries", "/static/js/common.js"):
            pre = preflight(http, path)
            assert pre.status_code == 403 and cors_headers(pre) == {}, path
            plain = http.options(path)  # no Origin: not CORS; the route's own answer
            assert plain.status_code in (404, 405) and plain.json()["code"] in ("not_found", "method_not_allowed")
            assert cors_headers(plain) == {}


def test_error_answers_of_read_routes_carry_cors(open_server, engine):
    with client(open_server) as http:
        for path, status, code in [
            ("/tiles/nolayer.json", 404, "unknown_layer"),
            ("/tiles/microgrid/3/1/1.mvt", 404, "zoom_out_of_range"),
            ("/api/v1/areas/999999", 404, "area_not_found"),
            ("/api/v1/coverage?level=planet", 400, "invalid_level"),
            ("/api/v1/areas?limit=0", 422, "invalid_request"),
        ]:
            r = http.get(path, headers={"Origin": SCREEN})
            assert (r.status_code, r.json()["code"]) == (status, code), r.text
            assert r.headers["access-control-allow-origin"] == "*"
    with serve(engine, read_access="token") as base, client(base) as http:
        for path in ("/tiles/microgrid.json", "/tiles/grid/14/13447/6552.mvt", "/api/v1/summary"):
            r = http.get(path, headers={"Origin": SCREEN})
            assert r.status_code == 401 and r.json()["code"] == "token_required"
            assert r.headers["access-control-allow-origin"] == "*"
            assert "WWW-Authenticate" in r.headers["access-control-expose-headers"]
        wrong = http.get("/tiles/microgrid.json", headers={"Origin": SCREEN, "Authorization": "Bearer gm_nope"})
        assert wrong.status_code == 401 and wrong.headers["access-control-allow-origin"] == "*"
        viewer = make_token(engine, "viewer")
        ok = http.get("/tiles/microgrid.json", headers={"Origin": SCREEN, "Authorization": f"Bearer {viewer}"})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "*"


def test_cors_off_leaves_everything_as_without_it(engine):
    with serve(engine, cors_origins="none") as base, client(base) as http:
        r = http.get("/tiles/microgrid.json", headers={"Origin": SCREEN})
        assert r.status_code == 200 and cors_headers(r) == {}
        assert preflight(http, "/tiles/microgrid.json").status_code == 405
