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
    ("/api/v1/areas", {"limit": 5000}),
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


def test_security_headers_on_json_tiles_static_files_and_the_docs(http):
    for url in ("/api/v1/summary", "/api/v1/areas/999999", "/tiles/county/0/0/0.mvt", "/static/js/common.js", "/docs"):
        assert http.get(url).headers.get("x-content-type-options") == "nosniff", url
    docs = http.get("/docs")
    csp = docs.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "'sha256-" in csp  # the page's one inline script, by its hash


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
