"""One error model, seen from outside: every refusal is JSON ``{code, message, detail}`` with a
stable code; a database that cannot be reached is 503 ``database_unavailable`` on every JSON
route; a NUL character in a query is refused before any route runs; and the answers of the read
API match the app's own OpenAPI document (a contract test: the schema is what clients generate
their code from).
"""

from __future__ import annotations

import socket

import jsonschema
import pytest
from api_server import client, serve, serve_app
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import create_engine

from gridmap.api.app import create_app
from gridmap.errors import GridmapError

COUNTY, TOWN, GRID = "411628", "411628001", "411628001001001"

NUL_URLS = [
    "/api/v1/search?q=%00",
    "/api/v1/search?q=ab%00cd",
    f"/api/v1/areas?parent={TOWN}%00",
    "/api/v1/areas/4116%0028",
    "/api/v1/cameras?operator=%E4%B8%AD%00",
    "/api/v1/cameras?area=%00",
    "/api/v1/coverage?code=%00",
    "/api/v1/coverage/blind?code=%00",
    "/api/v1/coverage/trend/%00",
    "/tiles/grid.json?token=%00",
    "/map?token=%00",
]


@pytest.mark.parametrize("url", NUL_URLS)
def test_a_nul_character_in_the_request_is_refused_as_400(http, url):
    r = http.get(url)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "invalid_request" and "NUL" in body["message"]


def _dead_engine(engine):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return create_engine(engine.url.set(port=port), pool_pre_ping=True)


DB_ROUTES = [
    "/api/v1/summary",
    "/api/v1/areas?level=1",
    f"/api/v1/areas/{TOWN}",
    f"/api/v1/areas/{TOWN}/cameras",
    "/api/v1/cameras?limit=5",
    "/api/v1/coverage",
    f"/api/v1/coverage/trend/{COUNTY}",
    "/api/v1/search?q=鹿邑",
]


def test_a_database_that_cannot_be_reached_answers_503_json_on_every_route(loaded_engine):
    dead = _dead_engine(loaded_engine)
    with serve(dead) as base, client(base) as http:
        for url in DB_ROUTES:
            r = http.get(url)
            assert r.status_code == 503, (url, r.status_code, r.text[:200])
            assert r.headers["content-type"].startswith("application/json"), url
            assert r.json()["code"] == "database_unavailable" and r.headers["retry-after"] == "5", url
        health = http.get("/healthz")
        assert health.status_code == 503
    dead.dispose()


def test_an_unexpected_error_is_json_500_without_the_traceback(loaded_engine):
    app = create_app(loaded_engine)

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals /tmp/xyz")

    @app.get("/refused")
    def refused():
        raise GridmapError("made_up", "示例拒绝。", {"x": 1}, status=418)

    with serve_app(app) as base, client(base) as http:
        r = http.get("/boom")
        assert r.status_code == 500 and r.json()["code"] == "internal_error"
        assert "secret" not in r.text and "/tmp" not in r.text
        r = http.get("/refused")
        assert r.status_code == 418 and r.json() == {"code": "made_up", "message": "示例拒绝。", "detail": {"x": 1}}


# --------------------------------------------------------------------------- the OpenAPI contract

CONTRACT_URLS = [
    ("/api/v1/summary", {}),
    ("/api/v1/areas", {"level": 1, "limit": 3}),
    ("/api/v1/areas", {"parent": TOWN, "geometry": "none", "limit": 5}),
    (f"/api/v1/areas/{TOWN}", {}),
    (f"/api/v1/areas/{TOWN}/cameras", {"limit": 3}),
    ("/api/v1/cameras", {"limit": 3, "online": "false"}),
    ("/api/v1/coverage", {}),
    ("/api/v1/coverage", {"code": TOWN, "level": 3}),
    ("/api/v1/coverage/blind", {"code": TOWN}),
    (f"/api/v1/coverage/trend/{COUNTY}", {}),
    ("/api/v1/search", {"q": "鹿邑"}),
    ("/api/v1/areas/999999", {}),
    ("/api/v1/areas", {"limit": 20001}),
    ("/api/v1/uploads", {}),
]


def _operation(spec: dict, path: str) -> dict:
    """The GET operation of the OpenAPI path template that ``path`` matches."""
    parts = path.strip("/").split("/")
    for template, item in spec["paths"].items():
        tparts = template.strip("/").split("/")
        matches = len(tparts) == len(parts) and all(t == p or t.startswith("{") for t, p in zip(tparts, parts))
        if matches and "get" in item:
            return item["get"]
    raise AssertionError(f"{path} is not in the OpenAPI document")


def _schema_of(operation: dict, status: int) -> dict:
    responses = operation["responses"]
    response = responses.get(str(status)) or responses.get("default")
    assert response is not None, f"status {status} is not documented: {sorted(responses)}"
    content = response.get("content", {})
    media = content.get("application/json") or content.get("application/geo+json")
    assert media is not None and "schema" in media, f"no JSON schema documented for {status}"
    return media["schema"]


def test_read_answers_match_the_apps_own_openapi_schema(http):
    spec = http.get("/openapi.json").json()
    registry = Registry().with_resource("urn:openapi", Resource.from_contents(spec, default_specification=DRAFT202012))
    assert spec["components"]["securitySchemes"]["token"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["token"]["description"],
    }
    checked = 0
    for path, params in CONTRACT_URLS:
        r = http.get(path, params=params)
        schema = _schema_of(_operation(spec, path), r.status_code)
        wrapped = {"$ref": "urn:openapi#" + _pointer_to(spec, schema)}
        validator = jsonschema.Draft202012Validator(wrapped, registry=registry)
        errors = sorted(validator.iter_errors(r.json()), key=lambda e: list(e.path))
        assert not errors, f"{path} {params} → {r.status_code}: {errors[0].message} at {list(errors[0].path)}"
        checked += 1
    assert checked == len(CONTRACT_URLS)


def _pointer_to(spec: dict, schema: dict) -> str:
    """A JSON pointer to ``schema`` inside ``spec`` (inline schemas of an operation)."""

    def walk(node, pointer):
        if node is schema:
            return pointer
        if isinstance(node, dict):
            items = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            return None
        for key, value in items:
            found = walk(value, f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}")
            if found is not None:
                return found
        return None

    found = walk(spec, "")
    assert found is not None
    return found


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/areas?offset=9223372036854775808",
        "/api/v1/cameras?offset=99999999999999999999999",
        "/api/v1/areas?limit=1&offset=9223372036854775807",
    ],
)
def test_huge_offsets_are_a_422_or_an_empty_page_never_a_500(http, url):
    r = http.get(url)
    assert r.status_code in (200, 422), r.text
    assert r.status_code == 200 or r.json()["code"] == "invalid_request"
    if r.status_code == 200:
        assert r.json()["features"] == []


def test_every_kind_of_answer_says_nosniff(http, loaded_engine):
    from api_tokens import make_token

    editor = make_token(loaded_engine, "admin", name="nosniff-admin")
    answers = {
        "json": http.get("/api/v1/summary"),
        "geojson": http.get("/api/v1/areas", params={"limit": 1, "geometry": "none"}),
        "error 404": http.get("/api/v1/areas/999999"),
        "no such address": http.get("/no/such/address"),
        "405": http.post("/api/v1/summary"),
        "401": http.get("/api/v1/summary", headers={"Authorization": "Bearer gm_wrong"}),
        "422": http.get("/api/v1/areas", params={"limit": 0}),
        "400 NUL": http.get("/api/v1/search?q=%00"),
        "tile": http.get("/tiles/county/0/0/0.mvt"),
        "empty tile": http.get("/tiles/cameras/16/0/0.mvt"),
        "tile 304": http.get("/tiles/county/0/0/0.mvt", headers={"If-None-Match": "*"}),
        "tilejson": http.get("/tiles/county.json"),
        "static file": http.get("/static/js/common.js"),
        "static 404": http.get("/static/js/nothing.js"),
        "vendored swagger": http.get("/static/vendor/swagger-ui/swagger-ui-bundle.js"),
        "page map": http.get("/map"),
        "page embed": http.get("/embed"),
        "page upload": http.get("/upload"),
        "redirect": http.get("/", follow_redirects=False),
        "docs": http.get("/docs"),
        "openapi": http.get("/openapi.json"),
        "healthz": http.get("/healthz"),
        "head": http.head("/tiles/county/0/0/0.mvt"),
    }
    with serve(loaded_engine, max_upload_mb=0.001) as base, client(base, editor) as small:
        answers["413"] = small.post("/api/v1/cameras/status", content=b"x" * 2000, headers={"Content-Type": "text/csv"})
        answers["413 upload"] = small.post("/api/v1/uploads/cameras", files={"file": ("a.csv", b"x" * 2000)})
    expected = {
        "405": 405,
        "413": 413,
        "413 upload": 413,
        "empty tile": 204,
        "tile 304": 304,
        "redirect": 307,
        "400 NUL": 400,
    }
    for name, r in answers.items():
        assert r.status_code == expected.get(name, r.status_code), (name, r.status_code)
        assert r.headers.get("x-content-type-options") == "nosniff", (name, r.status_code)


def test_the_docs_page_may_run_only_the_vendored_swagger_ui_and_not_be_framed(http):
    import base64
    import hashlib
    import re

    docs = http.get("/docs")
    csp = dict(part.strip().split(" ", 1) for part in docs.headers["content-security-policy"].split(";"))
    assert csp["frame-ancestors"] == "'none'" and docs.headers["x-frame-options"] == "DENY"
    scripts = csp["script-src"].split()
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts and scripts[0] == "'self'"
    # The page's one inline script (it starts the UI) is allowed by its hash, and only it.
    inline = re.findall(r"<script>(.*?)</script>", docs.text, re.S)
    assert [f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline] == scripts[1:]
    # Everything else it loads comes from this server, and is there.
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert assets and all(a.startswith("/static/vendor/swagger-ui/") for a in assets), assets
    for asset in assets:
        assert http.get(asset).status_code == 200, asset
    assert csp["default-src"] == "'self'" and csp["connect-src"] == "'self'"


def test_the_openapi_document_describes_every_error_as_the_error_body(http):
    spec = http.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            answers = operation["responses"]
            assert {"400", "503"} <= set(answers), (method, path)
            for status, answer in answers.items():
                if status.startswith(("4", "5")) and not (path == "/healthz" and status == "503"):
                    assert answer["content"] == {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
                    }, (method, path, status)
    # Reading is open here (GRIDMAP_READ_ACCESS=open): a token is optional on the readers, needed on writes.
    assert {} in spec["paths"]["/api/v1/areas"]["get"]["security"]
    assert {} not in spec["paths"]["/api/v1/uploads/cameras"]["post"]["security"]
    # The ?token= query token, where it is accepted (tiles, TileJSON, pages), as an apiKey-in-query scheme.
    assert spec["components"]["securitySchemes"]["token_in_url"]["in"] == "query"
    assert spec["components"]["securitySchemes"]["token_in_url"]["name"] == "token"
    for path in ("/tiles/{layer}/{z}/{x}/{y}.mvt", "/tiles/{layer}.json", "/embed"):
        assert spec["paths"][path]["get"]["security"] == [{"token": []}, {"token_in_url": []}, {}], path
    assert {"token_in_url": []} not in spec["paths"]["/api/v1/areas"]["get"]["security"]
    assert {"token_in_url": []} not in spec["paths"]["/api/v1/cameras/status"]["post"]["security"]


def test_a_deeply_nested_status_body_is_a_422(loaded_engine):
    from api_tokens import make_token

    from gridmap.api.app import create_app

    admin = make_token(loaded_engine, "admin", name="deep-json-admin")
    with serve_app(create_app(loaded_engine)) as base, client(base, admin) as http:
        deep = "[" * 100_000 + "]" * 100_000
        r = http.post("/api/v1/cameras/status", content=deep, headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["code"] == "unreadable", r.text[:300]


def test_a_zip_bomb_upload_is_a_413_and_nothing_is_kept(loaded_engine, tmp_path):
    import io
    import zipfile

    from api_tokens import make_token
    from db_state import checksums
    from sqlalchemy import text

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("网格.shp", b"x")
        zf.writestr("网格.dbf", b"\0" * (40 << 20))
    admin = make_token(loaded_engine, "admin", name="zip-bomb-admin")
    with loaded_engine.connect() as conn:
        uploads = conn.execute(text("SELECT count(*) FROM upload")).scalar_one()
    before = checksums(loaded_engine)
    with serve(loaded_engine) as base, client(base, admin) as http:
        r = http.post("/api/v1/uploads/boundaries", files={"file": ("网格.zip", buffer.getvalue())})
    assert r.status_code == 413 and r.json()["code"] == "archive_ratio", r.text[:300]
    assert checksums(loaded_engine) == before
    with loaded_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM upload")).scalar_one() == uploads
