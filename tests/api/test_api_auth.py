"""Who may do what: every write endpoint (and a read endpoint when reading needs a token) for every
kind of caller, over real HTTP against a real PostGIS of its own.

Callers: no token, viewer, editor in scope (411628001), editor out of scope (411628002), admin,
expired, revoked, embed, unknown token, malformed header. A refused call must not write anything:
the data revision (bumped by every write), the uploads and the versions stay as they were.
"""

from __future__ import annotations

import itertools

import geopandas as gpd
import pyogrio
import pytest
from api_server import client, serve
from api_tokens import OTHER, SCOPE, make_token, register
from conftest import loaded_database
from sqlalchemy import text

CALLERS = ["none", "viewer", "editor_in", "editor_out", "admin", "expired", "revoked", "embed", "unknown", "malformed"]
#: How every write endpoint answers a caller that may not write at all.
REFUSED = {
    "none": (401, "token_required"),
    "viewer": (403, "role_cannot_write"),
    "expired": (401, "token_expired"),
    "revoked": (401, "token_revoked"),
    "embed": (403, "role_cannot_write"),
    "unknown": (401, "token_invalid"),
    "malformed": (401, "token_malformed"),
}
OUT = (403, "out_of_scope")
#: Endpoint → answers of the callers who may write (status, or (status, error code)).
WRITERS = {
    "upload_boundaries": {"editor_in": 201, "editor_out": OUT, "admin": 201},
    "list_uploads": {"editor_in": 200, "editor_out": 200, "admin": 200},
    "get_upload": {"editor_in": 200, "editor_out": OUT, "admin": 200},
    "publish_upload": {"editor_in": 200, "editor_out": OUT, "admin": 200},
    "list_versions": {"editor_in": 200, "editor_out": 200, "admin": 200},
    "rollback_version": {"editor_in": 200, "editor_out": OUT, "admin": 200},
    "import_cameras": {"editor_in": 201, "editor_out": OUT, "admin": 201},
    # Status reports are judged per row: out of scope → rejected rows, not a refused request.
    "camera_status": {"editor_in": 200, "editor_out": (200, "rows:out_of_scope"), "admin": 200},
}
WRITES = {"upload_boundaries", "publish_upload", "rollback_version", "import_cameras", "camera_status"}
_serial = itertools.count(950001)


@pytest.fixture(scope="module")
def engine():
    _url, eng = loaded_database("gridmap_test_auth")
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def headers(engine) -> dict[str, dict[str, str]]:
    secrets = {
        "viewer": make_token(engine, "viewer"),
        "editor_in": make_token(engine, "editor", SCOPE),
        "editor_out": make_token(engine, "editor", OTHER),
        "admin": make_token(engine, "admin"),
        "expired": make_token(engine, "editor", SCOPE, "expired"),
        "revoked": make_token(engine, "admin", None, "revoked"),
        "embed": make_token(engine, "embed"),
        "unknown": "gm_" + "x" * 43,
    }
    out = {name: {"Authorization": f"Bearer {secret}"} for name, secret in secrets.items()}
    out["none"] = {}
    out["malformed"] = {"Authorization": "Token " + secrets["admin"]}
    return out


@pytest.fixture(scope="module")
def http(engine):
    with serve(engine) as base, client(base) as c:
        yield c


@pytest.fixture(scope="module")
def grid_file(engine, tmp_path_factory):
    """The micro-grids of one grid in 411628001, exported from the database as a GeoPackage."""
    with engine.connect() as conn:
        grid = conn.execute(
            text("SELECT min(code) FROM area WHERE level = 3 AND code LIKE :p"), {"p": SCOPE + "%"}
        ).scalar_one()
        gdf = gpd.read_postgis(
            text("""SELECT code, name, parent_code, level, kind, households, geom FROM area
                                       WHERE parent_code = :g ORDER BY code"""),
            conn,
            geom_col="geom",
            params={"g": grid},
        )
    path = tmp_path_factory.mktemp("auth") / "微网格.gpkg"
    pyogrio.write_dataframe(gdf, path, layer="微网格")
    return grid, path


@pytest.fixture(scope="module")
def ctx(engine, http, headers, grid_file):
    """An upload kept by the admin and a version published from it, to read and roll back."""
    grid, path = grid_file
    kept = _upload(http, headers["admin"], grid, path)
    assert kept.status_code == 201, kept.text
    published = _upload(http, headers["admin"], grid, path).json()["upload_id"]
    r = http.post(f"/api/v1/uploads/{published}/publish", headers=headers["admin"])
    assert r.status_code == 200, r.text
    return {
        "grid": grid,
        "path": path,
        "upload_id": kept.json()["upload_id"],
        "version": r.json()["version"],
        "engine": engine,
    }


def _upload(http, hdrs, grid, path):
    return http.post(
        "/api/v1/uploads/boundaries",
        headers=hdrs,
        data={"parent_code": grid},
        files={"file": (path.name, path.read_bytes())},
    )


def _camera_csv() -> bytes:
    reg = register()
    row = reg[reg["所属网格"].str.startswith(SCOPE)].iloc[[40]].copy()
    row["设备编码"] = f"41162800011318{next(_serial):06d}"
    row["经度"] = [f"{float(x) + 0.0001:.6f}" for x in row["经度"]]
    return row.to_csv(index=False).encode("utf-8-sig")


def call(endpoint: str, http, hdrs, ctx, fresh_upload):
    """Make the request for ``endpoint`` with headers ``hdrs``."""
    if endpoint == "upload_boundaries":
        return _upload(http, hdrs, ctx["grid"], ctx["path"])
    if endpoint == "list_uploads":
        return http.get("/api/v1/uploads", headers=hdrs)
    if endpoint == "get_upload":
        return http.get(f"/api/v1/uploads/{ctx['upload_id']}", headers=hdrs)
    if endpoint == "publish_upload":
        return http.post(f"/api/v1/uploads/{fresh_upload()}/publish", headers=hdrs, json={})
    if endpoint == "list_versions":
        return http.get("/api/v1/versions", headers=hdrs, params={"code": SCOPE})
    if endpoint == "rollback_version":
        return http.post(f"/api/v1/versions/{ctx['version']}/rollback", headers=hdrs, json={"reason": "权限测试"})
    if endpoint == "import_cameras":
        return http.post("/api/v1/uploads/cameras", headers=hdrs, files={"file": ("cams.csv", _camera_csv())})
    if endpoint == "camera_status":
        reg = register()
        device = reg[reg["所属网格"].str.startswith(SCOPE) & (reg["安装状态"] == "已安装")].iloc[0]["设备编码"]
        # The opposite of its state: a report that changes nothing visible takes no revision.
        with ctx["engine"].connect() as conn:
            online = conn.execute(text("SELECT online FROM camera WHERE device_id = :d"), {"d": device}).scalar_one()
        return http.post("/api/v1/cameras/status", headers=hdrs, json=[{"device_id": device, "online": not online}])
    raise AssertionError(endpoint)


def state(engine) -> tuple[int, int, int, int]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(
                text("""SELECT (SELECT revision FROM data_revision), (SELECT count(*) FROM upload),
                                                 (SELECT count(*) FROM boundary_version),
                                                 (SELECT count(*) FROM camera_import)""")
            ).one()
        )


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", list(WRITERS))
def test_write_endpoints(engine, http, headers, ctx, endpoint, caller):
    def fresh_upload():
        r = _upload(http, headers["admin"], ctx["grid"], ctx["path"])
        assert r.status_code == 201, r.text
        return r.json()["upload_id"]

    expected = REFUSED.get(caller) or WRITERS[endpoint][caller]
    status, code = expected if isinstance(expected, tuple) else (expected, None)
    # A publish needs a fresh upload: made (by the admin) before the state is taken.
    if endpoint == "publish_upload":
        upload_id = fresh_upload()
        fresh_upload = lambda: upload_id  # noqa: E731
    before = state(engine)
    r = call(endpoint, http, headers[caller], ctx, fresh_upload)
    assert r.status_code == status, r.text
    body = r.json()
    if code == "rows:out_of_scope":
        assert body["applied"] == 0 and [p["code"] for p in body["rejected"]] == ["out_of_scope"]
    elif code is not None:
        assert body["code"] == code and body["message"]
    if status == 401:
        assert r.headers["www-authenticate"] == "Bearer"
    if status >= 400 or code == "rows:out_of_scope":
        assert state(engine) == before  # nothing written, not even a kept upload
    elif endpoint in WRITES and endpoint != "upload_boundaries":
        assert state(engine)[0] == before[0] + 1  # the write went through record_change


@pytest.fixture(scope="module")
def token_reading(engine):
    with serve(engine, read_access="token") as base, client(base) as c:
        if c.get("/api/v1/areas", params={"limit": 1}).json().get("code") == "not_found":
            pytest.skip("the areas router is not there yet")
        yield c


READERS = {
    "none": (401, "token_required"),
    "viewer": 200,
    "editor_in": 200,
    "editor_out": 200,
    "admin": 200,
    "expired": (401, "token_expired"),
    "revoked": (401, "token_revoked"),
    "embed": (403, "embed_token_read_only"),
    "unknown": (401, "token_invalid"),
    "malformed": (401, "token_malformed"),
}


@pytest.mark.parametrize("caller", CALLERS)
def test_reading_when_it_needs_a_token(token_reading, headers, caller):
    expected = READERS[caller]
    status, code = expected if isinstance(expected, tuple) else (expected, None)
    r = token_reading.get("/api/v1/areas", params={"limit": 1, "geometry": "none"}, headers=headers[caller])
    assert r.status_code == status, r.text
    if code:
        assert r.json()["code"] == code


@pytest.mark.parametrize("caller", ["expired", "revoked", "unknown", "malformed"])
def test_a_dead_token_is_refused_even_where_reading_is_open(http, headers, caller):
    r = http.get("/api/v1/areas", params={"limit": 1, "geometry": "none"}, headers=headers[caller])
    if r.status_code == 404 and r.json()["code"] == "not_found":
        pytest.skip("the areas router is not there yet")
    assert (r.status_code, r.json()["code"]) == READERS[caller]


URL_TOKENS = {
    "viewer": 200,
    "embed": 200,
    "editor_in": (401, "token_in_url_not_allowed"),
    "admin": (401, "token_in_url_not_allowed"),
    "revoked": (401, "token_revoked"),
    "unknown": (401, "token_invalid"),
}


@pytest.mark.parametrize("caller", URL_TOKENS)
@pytest.mark.parametrize("path", ["/tiles/grid.json", "/embed", "/map"])
def test_only_read_tokens_may_travel_in_a_url(http, headers, caller, path):
    """URLs reach access logs and browser history: editor and admin tokens are refused there."""
    secret = headers[caller]["Authorization"].removeprefix("Bearer ")
    r = http.get(path, params={"token": secret})
    expected = URL_TOKENS[caller]
    if path == "/map" and caller == "embed":
        expected = (403, "embed_token_read_only")  # the one map reads the API: not for embed tokens
    status, code = expected if isinstance(expected, tuple) else (expected, None)
    assert r.status_code == status, r.text
    if code:
        assert r.json()["code"] == code
    # The same editor token in the header is fine.
    if caller in ("editor_in", "admin"):
        assert http.get(path, headers=headers[caller]).status_code == 200
