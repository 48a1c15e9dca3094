"""Cached tiles answered before the routing (:class:`gridmap.api.routers.tiles.CachedTiles`):
the same answers, byte for byte, as the app without that layer, and never a stale tile.

Two real servers on the same database and settings — the app as made, and the same app without
the ``CachedTiles`` middleware — are asked the same requests (each tile once before, so both have
it cached); status, headers (but ``date``) and body must be equal, and the first server must have
answered the cached tiles itself (its ``early_hits``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from api_server import serve_app
from api_tokens import make_token
from conftest import loaded_database
from sqlalchemy import text

from gridmap.api.app import create_app
from gridmap.api.routers.tiles import CachedTiles
from gridmap.config import get_settings
from gridmap.tiles.grid import HALF_WORLD, lonlat_to_3857, tile_size_m


def tile_url(layer: str, z: int, lon: float, lat: float) -> str:
    x, y = lonlat_to_3857(lon, lat)
    size = tile_size_m(z)
    return f"/tiles/{layer}/{z}/{int((x + HALF_WORLD) // size)}/{int((HALF_WORLD - y) // size)}.mvt"


#: Tiles at the sample county's middle (areas, cameras), and one empty (204) far away.
TILES = [
    tile_url("grid", 13, 115.48, 33.86),
    tile_url("cameras", 15, 115.48, 33.86),
    tile_url("township", 11, 115.48, 33.86),
]
EMPTY = "/tiles/grid/13/10/10.mvt"
ORIGIN = "https://screen.example"


@pytest.fixture(scope="module")
def own_engine():
    _, engine = loaded_database("gridmap_test_tilefast")
    yield engine
    engine.dispose()


@contextmanager
def pair(engine, **settings) -> Iterator[tuple[httpx.Client, httpx.Client, object]]:
    """(client of the app, client of the app without CachedTiles, the first app's tile service)."""
    settings = {"snapshot_check_s": 0, "cors_origins": ORIGIN, **settings}
    fast = create_app(engine, get_settings().model_copy(update=settings))
    plain = create_app(engine, get_settings().model_copy(update=settings))
    assert any(m.cls is CachedTiles for m in plain.user_middleware)
    plain.user_middleware = [m for m in plain.user_middleware if m.cls is not CachedTiles]
    with (
        serve_app(fast) as a,
        serve_app(plain) as b,
        httpx.Client(base_url=a, timeout=30) as ca,
        httpx.Client(base_url=b, timeout=30) as cb,
    ):
        yield ca, cb, fast


def same(fast: httpx.Client, plain: httpx.Client, method: str, url: str, **kw) -> httpx.Response:
    """The request to both servers; asserts equal answers: status, headers in order (but ``date``)
    and body as sent (compressed or not). Returns the answer (body decoded as usual)."""
    got = []
    for c in (fast, plain):
        with c.stream(method, url, **kw) as r:
            got.append(
                (r.status_code, [(k, v) for k, v in r.headers.raw if k.lower() != b"date"], b"".join(r.iter_raw()))
            )
    assert got[0] == got[1], f"{method} {url} {kw}"
    status, headers, body = got[0]
    return httpx.Response(status, headers=headers, content=body)


def test_open_reading_same_answers(own_engine):
    with pair(own_engine) as (fast, plain, app):
        for url in [*TILES, EMPTY]:
            for c in (fast, plain):
                assert c.get(url).status_code in (200, 204)  # now cached on both
        service = app.state.tiles
        before = service.early_hits
        statuses = set()
        for url in TILES:
            r = same(fast, plain, "GET", url, headers={"Accept-Encoding": "gzip"})
            assert r.headers["x-tile-cache"] == "hit" and r.headers["content-encoding"] == "gzip"
            statuses.add(r.status_code)
            etag = r.headers["etag"]
            assert (
                same(fast, plain, "GET", url, headers={"Accept-Encoding": "gzip", "If-None-Match": etag}).status_code
                == 304
            )
            assert same(fast, plain, "GET", url, headers={"If-None-Match": f'W/"x", {etag}'}).status_code == 304
            plain_r = same(fast, plain, "GET", url, headers={"Accept-Encoding": "identity"})
            assert "content-encoding" not in plain_r.headers and plain_r.status_code == 200
            same(fast, plain, "HEAD", url, headers={"Accept-Encoding": "gzip"})
            r = same(fast, plain, "GET", url, headers={"Accept-Encoding": "gzip", "Origin": ORIGIN})
            assert r.headers["access-control-allow-origin"] == ORIGIN and "Origin" in r.headers["vary"]
            r = same(fast, plain, "GET", url, headers={"Origin": "https://elsewhere.example"})
            assert "access-control-allow-origin" not in r.headers
        assert same(fast, plain, "GET", EMPTY).status_code == 204
        with own_engine.connect() as conn:
            revision = conn.execute(text("SELECT revision FROM data_revision")).scalar_one()
        same(fast, plain, "GET", TILES[0], params={"v": revision}, headers={"Accept-Encoding": "gzip"})
        answered = service.early_hits - before
        assert answered == 7 * len(TILES) + 2, answered  # every cached tile above came from the early layer
        # What the early layer does not answer goes on to the app: the same errors.
        for url in ["/tiles/nope/13/1/1.mvt", "/tiles/grid/3/1/1.mvt", "/tiles/grid/13/99999/1.mvt"]:
            assert same(fast, plain, "GET", url).status_code == 404
        assert same(fast, plain, "GET", "/tiles/grid/13/1/x.mvt").status_code == 422
        assert same(fast, plain, "POST", TILES[0]).status_code == 405
        assert same(fast, plain, "GET", TILES[0], headers={"Authorization": "Basic eA=="}).status_code == 401
        assert same(fast, plain, "GET", TILES[0], params={"token": "gm_nonsense"}).status_code == 401
        assert same(fast, plain, "GET", TILES[0], params={"token": "a\x00"}).status_code == 400
        assert statuses == {200}


def test_token_reading_same_answers(own_engine):
    embed = make_token(own_engine, "embed")
    viewer = make_token(own_engine, "viewer")
    editor = make_token(own_engine, "editor", "411628")
    dead = make_token(own_engine, "embed", state="revoked")
    with pair(own_engine, read_access="token") as (fast, plain, app):
        url = TILES[0]
        for c in (fast, plain):
            assert c.get(url, params={"token": embed}).status_code == 200
        before = app.state.tiles.early_hits
        assert same(fast, plain, "GET", url).status_code == 401
        r = same(fast, plain, "GET", url, params={"token": embed}, headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200 and r.headers["cache-control"].startswith("private")
        etag = r.headers["etag"]
        assert (
            same(fast, plain, "GET", url, params={"token": embed}, headers={"If-None-Match": etag}).status_code == 304
        )
        assert same(fast, plain, "GET", url, headers={"Authorization": f"Bearer {viewer}"}).status_code == 200
        assert same(fast, plain, "GET", url, headers={"Authorization": f"Bearer {editor}"}).status_code == 200
        h = {"Origin": ORIGIN, "Accept-Encoding": "gzip"}
        assert same(fast, plain, "GET", url, params={"token": embed}, headers=h).status_code == 200
        assert app.state.tiles.early_hits - before == 5
        assert same(fast, plain, "GET", url, params={"token": editor}).json()["code"] == "token_in_url_not_allowed"
        assert same(fast, plain, "GET", url, params={"token": dead}).json()["code"] == "token_revoked"
        assert same(fast, plain, "GET", url, headers={"Authorization": "Token gm_x"}).status_code == 401
        assert app.state.tiles.early_hits - before == 5  # refusals are the app's


def test_never_stale(own_engine):
    """A write after a tile was cached: the early layer serves the new tile at once to a URL naming
    the new revision (``?v=``), and to every request once the revision was checked."""
    from gridmap.services.cameras import apply_status_reports

    with own_engine.connect() as conn:
        camera = conn.execute(
            text("SELECT device_id, online FROM camera WHERE status <> 'removed' ORDER BY device_id LIMIT 1")
        ).one()
        lon, lat = conn.execute(
            text("SELECT ST_X(geom), ST_Y(geom) FROM camera WHERE device_id = :d"), {"d": camera.device_id}
        ).one()
    url = tile_url("cameras", 15, lon, lat)
    # A long check interval: only ?v= (or the interval's end) makes the cache look at the revision.
    with pair(own_engine, tile_check_interval_s=3600) as (fast, _plain, app):
        first = fast.get(url)
        assert first.status_code == 200
        again = fast.get(url)
        assert again.headers["x-tile-cache"] == "hit" and again.headers["etag"] == first.headers["etag"]
        result = apply_status_reports(
            own_engine,
            [{"device_id": camera.device_id, "online": not camera.online, "at": dt.datetime.now(dt.UTC).isoformat()}],
        )
        assert result.applied == 1, result.to_dict()
        with own_engine.connect() as conn:
            revision = conn.execute(text("SELECT revision FROM data_revision")).scalar_one()
        named = fast.get(url, params={"v": revision})
        assert named.headers["x-tile-cache"] == "miss" and named.headers["etag"] != first.headers["etag"]
        assert int(named.headers["x-tile-revision"]) >= revision
        before = app.state.tiles.early_hits
        later = fast.get(url)  # the cache has processed the revision: the new tile, from the early layer
        assert later.headers["etag"] == named.headers["etag"] and later.headers["x-tile-cache"] == "hit"
        assert app.state.tiles.early_hits == before + 1
