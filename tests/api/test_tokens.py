"""API tokens: the CLI creates, lists and revokes them; only hashes are stored; authentication
tells unknown, expired and revoked tokens apart. Plus /healthz. Real PostGIS, real HTTP."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from api_server import client, serve
from conftest import engine_for_cli, fresh_database
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from gridmap.cli import app
from gridmap.db.tokens import Principal, TokenError, authenticate, create_token

runner = CliRunner()


@pytest.fixture(scope="module")
def url() -> str:
    from gridmap.db.migrate import upgrade

    url = fresh_database("gridmap_test_tokens")
    upgrade(url)
    return url


@pytest.fixture
def engine(url, monkeypatch):
    yield from engine_for_cli(url, monkeypatch)


def gridmap(*args: str):
    return runner.invoke(app, list(args))


def test_create_prints_the_secret_once_and_stores_only_its_hash(engine):
    result = gridmap(
        "token",
        "create",
        "--role",
        "editor",
        "--scope",
        "411628001",
        "--name",
        "城关镇网格办",
        "--days",
        "30",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    secret = out["token"]
    assert secret.startswith("gm_") and len(secret) > 40
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM api_token WHERE id = :id"), {"id": out["id"]}).one()
        dump = json.dumps([list(map(str, r)) for r in conn.execute(text("SELECT * FROM api_token")).all()])
    assert secret not in dump
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert (row.role, row.scope, row.name, row.token_prefix) == ("editor", "411628001", "城关镇网格办", secret[:10])
    assert dt.timedelta(days=29) < row.expires_at - dt.datetime.now(dt.UTC) <= dt.timedelta(days=30)

    with engine.begin() as conn:
        principal, why = authenticate(conn, secret)
    assert why == "ok" and principal == Principal(out["id"], "城关镇网格办", "editor", "411628001")
    assert principal.may_change("411628001002") and not principal.may_change("411628002001")
    assert not principal.may_change(None)

    listing = gridmap("token", "list")
    assert listing.exit_code == 0 and "城关镇网格办" in listing.output and secret[:10] in listing.output
    assert secret not in listing.output


@pytest.mark.parametrize(
    "args, code",
    [
        (["--role", "editor", "--name", "x"], "scope_required"),
        (["--role", "boss", "--name", "x"], "unknown_role"),
        (["--role", "viewer", "--name", "  "], "name_required"),
        (["--role", "editor", "--scope", "4116x", "--name", "x"], "invalid_scope"),
        (["--role", "viewer", "--name", "x", "--expires", "2001-01-01"], "already_expired"),
    ],
)
def test_create_refuses_bad_requests_with_a_reason(engine, args, code):
    result = gridmap("token", "create", *args)
    assert result.exit_code == 2 and code in result.output


def test_expired_revoked_and_unknown_tokens_are_told_apart(engine):
    with engine.begin() as conn:
        secret, row = create_token(conn, name="大屏", role="embed")
        conn.execute(
            text("UPDATE api_token SET expires_at = now() - interval '1 second' WHERE id = :id"), {"id": row.id}
        )
        revoked_secret, revoked = create_token(conn, name="旧令牌", role="admin")
    assert gridmap("token", "revoke", str(revoked.id)).exit_code == 0
    assert gridmap("token", "revoke", "999999").exit_code == 2
    with engine.begin() as conn:
        assert authenticate(conn, secret) == (None, "expired")
        assert authenticate(conn, revoked_secret) == (None, "revoked")
        assert authenticate(conn, "gm_nope") == (None, "unknown")
    listing = json.loads(gridmap("token", "list", "--format", "json").stdout)
    states = {t["name"]: t["state"] for t in listing}
    assert states["大屏"] == "expired" and states["旧令牌"] == "revoked"


def test_last_used_is_recorded_at_most_once_a_minute(engine):
    with engine.begin() as conn:
        secret, row = create_token(conn, name="计数", role="viewer")
    with engine.begin() as conn:
        authenticate(conn, secret)
        first = conn.execute(text("SELECT last_used_at FROM api_token WHERE id = :id"), {"id": row.id}).scalar_one()
    with engine.begin() as conn:
        authenticate(conn, secret)
        second = conn.execute(text("SELECT last_used_at FROM api_token WHERE id = :id"), {"id": row.id}).scalar_one()
    assert first is not None and second == first
    with pytest.raises(TokenError), engine.begin() as conn:
        create_token(conn, name="x", role="editor", scope=None)


def test_healthz_reports_the_database(engine):
    with serve(engine) as base, client(base) as http:
        ok = http.get("/healthz")
        assert ok.status_code == 200
        assert ok.json()["status"] == "ok" and ok.json()["database"] == "ok"
        assert isinstance(ok.json()["revision"], int)
        assert http.get("/docs").status_code == 200
        spec = http.get("/openapi.json").json()
        assert "/healthz" in spec["paths"]
        missing = http.get("/no/such/page")
        assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    dead = create_engine("postgresql+psycopg://nobody:x@127.0.0.1:1/none")
    with serve(dead) as base, client(base) as http:
        down = http.get("/healthz")
        assert down.status_code == 503
        assert down.json()["database"] == "unreachable" and "数据库" in down.json()["message"]
    dead.dispose()
