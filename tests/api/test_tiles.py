"""Vector tiles over real HTTP: contents against PostGIS, HTTP caching, errors, TileJSON, the
in-process cache and its invalidation by writes.

Reading tests use the shared read-only server (``api_url``); the cap, token and invalidation
tests write, so they run on a database and servers of their own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import socket
import time
from dataclasses import replace

import mapbox_vector_tile
import pytest
from api_server import client, serve, serve_app
from conftest import loaded_database
from mvt_tiles import decode, tile_at
from shapely.geometry import shape
from sqlalchemy import create_engine, text

from gridmap.api.app import create_app
from gridmap.tiles.grid import BUFFER, EXTENT
from gridmap.tiles.layers import LAYERS
from gridmap.tiles.service import DEFAULT_POOL_TIMEOUT, UNREACHABLE_WAIT, TileService

AREA_PROPS = ["code", "name", "level", "rollout_rate", "online_rate", "planned", "installed", "online", "households"]
CAMERA_PROPS = ["device_id", "name", "status", "online", "operator", "area_code"]
#: The sample county's middle.
CENTRE = (115.48, 33.86)


def url_of(layer: str, z: int, x: int, y: int) -> str:
    return f"/tiles/{layer}/{z}/{x}/{y}.mvt"


def get_features(http, layer: str, z: int, x: int, y: int) -> list[dict]:
    r = http.get(url_of(layer, z, x, y))
    assert r.status_code in (200, 204), r.text
    return decode(r.content, layer)


_AREA_FILTER = "FROM area a WHERE a.level = :level"
_CAMERA_FILTER = "FROM camera a WHERE a.status <> 'removed'"


def postgis_counts(engine, layer: str, z: int, x: int, y: int) -> tuple[int, int, int]:
    """(areas intersecting the tile grown by 1 unit less than its buffer, by its buffer exactly
    (ST_Intersects), by 1 unit more) — features thinner than half a unit at the edge may or may
    not survive the snap to whole units."""
    spec = LAYERS[layer]
    where = _AREA_FILTER if spec.is_area else _CAMERA_FILTER
    sql = text(f"""SELECT {
        ", ".join(
            f"count(*) FILTER (WHERE ST_Intersects(g, ST_TileEnvelope(:z, :x, :y, margin => {m})))"
            for m in ((BUFFER - 1) / EXTENT, BUFFER / EXTENT, (BUFFER + 1) / EXTENT)
        )
    }
                   FROM (SELECT ST_Transform(a.geom, 3857) AS g {where}) AS s""")
    with engine.connect() as conn:
        return tuple(conn.execute(sql, {"z": z, "x": x, "y": y, "level": spec.level}).one())


def postgis_reference(engine, layer: str, z: int, x: int, y: int) -> dict[str, object]:
    """key → geometry of the tile as PostGIS makes it straight from the source tables
    (ST_Transform + ST_AsMVTGeom per request, what a plain tile server does)."""
    spec = LAYERS[layer]
    key = "code" if spec.is_area else "device_id"
    where = _AREA_FILTER if spec.is_area else _CAMERA_FILTER
    with engine.connect() as conn:
        body = conn.execute(
            text(f"""
            SELECT ST_AsMVT(t.*, 'ref', {EXTENT}, 'geom') FROM (
                SELECT a.{key}, ST_AsMVTGeom(ST_Transform(a.geom, 3857), ST_TileEnvelope(:z, :x, :y), {EXTENT}, {BUFFER})
                       AS geom {where}
                  AND ST_Transform(a.geom, 3857) && ST_TileEnvelope(:z, :x, :y, margin => {2 * BUFFER / EXTENT})) t"""),
            {"z": z, "x": x, "y": y, "level": spec.level},
        ).scalar_one()
    features = mapbox_vector_tile.decode(bytes(body or b""), default_options={"y_coord_down": True})
    return {f["properties"][key]: shape(f["geometry"]) for f in features.get("ref", {}).get("features", [])}


# ----------------------------------------------------------------------------------------------
# Contents (shared read-only server)

CENTRE_TILES = [
    ("county", 10),
    ("township", 10),
    ("village", 12),
    ("grid", 13),
    ("microgrid", 14),
    ("microgrid", 12),
    ("cameras", 14),
    ("cameras", 12),
]


@pytest.mark.parametrize(("layer", "z"), CENTRE_TILES)
def test_features_are_the_areas_meeting_the_tile_with_exact_geometry(http, loaded_engine, layer, z):
    x, y = tile_at(*CENTRE, z)
    features = get_features(http, layer, z, x, y)
    inner, exact, outer = postgis_counts(loaded_engine, layer, z, x, y)
    assert 0 < len(features) < LAYERS[layer].max_features  # not capped
    assert inner <= len(features) <= outer and abs(len(features) - exact) <= outer - inner
    # Exactly what PostGIS makes from the source tables, feature by feature.
    key = "code" if LAYERS[layer].is_area else "device_id"
    ours = {f["properties"][key]: shape(f["geometry"]) for f in features}
    reference = postgis_reference(loaded_engine, layer, z, x, y)
    assert ours.keys() == reference.keys()
    for k, geom in reference.items():
        assert ours[k].symmetric_difference(geom).area <= 1e-6 * max(geom.area, 1), k
        if not LAYERS[layer].is_area:
            assert ours[k].equals(geom), k


def test_area_properties_are_the_area_stats_row(http, loaded_engine):
    x, y = tile_at(*CENTRE, 13)
    features = get_features(http, "grid", 13, x, y)
    codes = [f["properties"]["code"] for f in features]
    with loaded_engine.connect() as conn:
        rows = {
            r.code: r._asdict()
            for r in conn.execute(
                text("""
            SELECT s.code, a.name, s.level, s.rollout_rate, s.online_rate, s.planned, s.installed, s.online, s.households
            FROM area_stats s JOIN area a USING (code) WHERE s.code = ANY(:codes)"""),
                {"codes": codes},
            )
        }
        fids = dict(
            conn.execute(text("SELECT code, fid FROM area_feature_id WHERE code = ANY(:c)"), {"c": codes}).all()
        )
    assert len(rows) == len(features) > 5
    for f in features:
        row = rows[f["properties"]["code"]]
        # A null (a rate over zero cameras) is left out of the feature.
        assert f["properties"] == {k: v for k, v in row.items() if v is not None}
        assert set(f["properties"]) <= set(AREA_PROPS)
        assert f["id"] == fids[row["code"]] < 2**53  # the code's registered id, exact in JavaScript
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert any(row["online"] for row in rows.values())


def test_camera_properties_are_the_camera_rows(http, loaded_engine):
    x, y = tile_at(*CENTRE, 13)
    features = get_features(http, "cameras", 13, x, y)
    ids = [f["properties"]["device_id"] for f in features]
    with loaded_engine.connect() as conn:
        rows = {
            r.device_id: r._asdict()
            for r in conn.execute(
                text(f"""
            SELECT {", ".join(CAMERA_PROPS)} FROM camera WHERE device_id = ANY(:ids)"""),
                {"ids": ids},
            )
        }
    assert len(rows) == len(features) > 20
    for f in features:
        row = rows[f["properties"]["device_id"]]
        assert f["properties"] == {k: v for k, v in row.items() if v is not None}
        assert isinstance(f["properties"]["online"], bool) and f["geometry"]["type"] == "Point"
    assert {"planned", "installed"} <= {r["status"] for r in rows.values()}
    assert "removed" not in {r["status"] for r in rows.values()}


def test_http_caching_gzip_identity_and_304(http):
    x, y = tile_at(*CENTRE, 14)
    path = url_of("microgrid", 14, x, y)
    with http.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as r:
        raw = b"".join(r.iter_raw())
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
    assert r.headers["cache-control"] == "public, max-age=60, stale-while-revalidate=600"
    assert r.headers["x-tile-cache"] in ("hit", "miss")
    gz_etag = r.headers["etag"]
    plain = http.get(path, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    assert plain.headers["x-tile-cache"] == "hit"
    assert gzip.decompress(raw) == plain.content and len(raw) < len(plain.content)
    etag = plain.headers["etag"]
    assert etag.startswith('"') and gz_etag == etag[:-1] + '-gz"'
    for tag, encoding in ((etag, "identity"), (gz_etag, "gzip"), (f'W/{etag}, "other"', "gzip")):
        again = http.get(path, headers={"If-None-Match": tag, "Accept-Encoding": encoding})
        assert again.status_code == 304 and again.content == b"", tag
        assert again.headers["etag"] in (etag, gz_etag)
    assert http.get(path, headers={"If-None-Match": '"nope"'}).status_code == 200


def test_empty_tile_is_204(http):
    r = http.get(url_of("county", 10, 0, 0))
    assert r.status_code == 204 and r.content == b"" and "cache-control" in r.headers


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/tiles/roads/10/840/409.mvt", 404, "unknown_layer"),
        ("/tiles/roads.json", 404, "unknown_layer"),
        ("/tiles/microgrid/11/420/204.mvt", 404, "zoom_out_of_range"),
        ("/tiles/cameras/17/1/1.mvt", 404, "zoom_out_of_range"),
        ("/tiles/county/-1/0/0.mvt", 404, "zoom_out_of_range"),
        ("/tiles/county/3/8/0.mvt", 404, "tile_out_of_range"),
        ("/tiles/county/3/0/-1.mvt", 404, "tile_out_of_range"),
        ("/tiles/county/3/a/0.mvt", 422, "invalid_request"),
    ],
)
def test_errors(http, path, status, code):
    r = http.get(path)
    assert r.status_code == status and r.json()["code"] == code, r.text
    assert r.json()["message"]


def test_tilejson(http, api_url, loaded_engine):
    listing = http.get("/tiles").json()
    assert [layer["id"] for layer in listing["layers"]] == list(LAYERS)
    for layer in listing["layers"]:
        tj = http.get(f"/tiles/{layer['id']}.json").json()
        spec = LAYERS[layer["id"]]
        assert tj["tilejson"] == "3.0.0" and tj["scheme"] == "xyz"
        assert tj["tiles"] == [f"{api_url}/tiles/{spec.id}/{{z}}/{{x}}/{{y}}.mvt"] == [layer["tiles"]]
        assert (tj["minzoom"], tj["maxzoom"]) == (spec.minzoom, spec.maxzoom)
        (vl,) = tj["vector_layers"]
        assert vl["id"] == spec.id and list(vl["fields"]) == (AREA_PROPS if spec.is_area else CAMERA_PROPS)
        where = f"FROM area WHERE level = {spec.level}" if spec.is_area else "FROM camera WHERE status <> 'removed'"
        with loaded_engine.connect() as conn:
            expected = conn.execute(
                text(
                    f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                    f"FROM (SELECT ST_Extent(geom) AS e {where}) x"
                )
            ).one()
        assert tj["bounds"] == pytest.approx(list(expected), abs=1e-6)
        lon, lat, zoom = tj["center"]
        assert expected[0] < lon < expected[2] and expected[1] < lat < expected[3]
        assert spec.minzoom <= zoom <= spec.maxzoom
    assert {"hits", "misses", "entries", "bytes", "max_bytes", "revision"} <= set(listing["cache"])


# ----------------------------------------------------------------------------------------------
# Own database: cap, tokens, cache and invalidation


@pytest.fixture(scope="module")
def own_engine():
    _url, engine = loaded_database("gridmap_test_tiles")
    yield engine
    engine.dispose()


def test_the_feature_cap_keeps_the_largest_areas(own_engine):
    capped = {
        **LAYERS,
        "microgrid": replace(LAYERS["microgrid"], max_features=25),
        "cameras": replace(LAYERS["cameras"], max_features=7),
    }
    app = create_app(own_engine)
    app.state.tiles = TileService(own_engine, layers=capped)
    x, y = tile_at(*CENTRE, 13)
    with serve_app(app) as base, client(base) as http:
        areas = get_features(http, "microgrid", 13, x, y)
        cameras = get_features(http, "cameras", 13, x, y)
    full = postgis_reference(own_engine, "microgrid", 13, x, y)
    with own_engine.connect() as conn:
        # The cap applies to the areas whose box meets the buffered tile, largest first; one of
        # them whose outline misses the tile then draws nothing.
        largest = (
            conn.execute(
                text("""SELECT code FROM area WHERE level = 4
                                       AND ST_Transform(geom, 3857) && ST_TileEnvelope(13, :x, :y, margin => :m)
                                       ORDER BY area_m2 DESC, code COLLATE "C" LIMIT 25"""),
                {"x": x, "y": y, "m": BUFFER / EXTENT},
            )
            .scalars()
            .all()
        )
        first_ids = (
            conn.execute(
                text("""SELECT device_id FROM camera WHERE status <> 'removed'
                                         AND ST_Transform(geom, 3857) && ST_TileEnvelope(13, :x, :y, margin => :m)
                                         ORDER BY device_id COLLATE "C" LIMIT 7"""),
                {"x": x, "y": y, "m": BUFFER / EXTENT},
            )
            .scalars()
            .all()
        )
    assert len(full) > 100 and 20 <= len(areas) <= 25
    assert [f["properties"]["code"] for f in areas] == [c for c in largest if c in full]
    assert [f["properties"]["device_id"] for f in cameras] == first_ids


def test_tiles_and_tilejson_with_a_url_token(own_engine):
    from gridmap.db.tokens import create_token

    with own_engine.begin() as conn:
        secret, _ = create_token(conn, name="大屏 1", role="embed")
    with serve(own_engine, read_access="token") as base, client(base) as http:
        x, y = tile_at(*CENTRE, 12)
        assert http.get(url_of("grid", 12, x, y)).json()["code"] == "token_required"
        r = http.get(url_of("grid", 12, x, y), params={"token": secret})
        assert r.status_code == 200 and r.headers["cache-control"].startswith("private,")
        assert decode(r.content, "grid")
        tj = http.get("/tiles/grid.json", params={"token": secret}).json()
        assert tj["tiles"] == [f"{base}/tiles/grid/{{z}}/{{x}}/{{y}}.mvt?token={secret}"]
        assert http.get("/tiles/grid.json").status_code == 401


def test_a_database_that_cannot_be_reached_answers_503(own_engine):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(own_engine)
    # The app's lifespan opens the service (its pool keeps trying to connect in the background).
    app.state.tiles = TileService(create_engine(own_engine.url.set(port=port)))
    with serve_app(app) as base, client(base) as http:
        for path, params, wait in [
            (url_of("grid", 12, *tile_at(*CENTRE, 12)), {}, DEFAULT_POOL_TIMEOUT),  # the pool's wait
            (url_of("grid", 12, *tile_at(*CENTRE, 12)), {"v": 7}, UNREACHABLE_WAIT),  # then shorter ones
            ("/tiles/grid.json", {}, UNREACHABLE_WAIT),
        ]:
            started = time.monotonic()
            r = http.get(path, params=params)
            assert r.status_code == 503 and r.json()["code"] == "database_unavailable", r.text
            assert time.monotonic() - started < 2 * wait + 1, path


def test_concurrent_misses_of_one_tile_render_it_once(own_engine):
    layer = LAYERS["microgrid"]
    x, y = tile_at(*CENTRE, 12)

    async def eight():
        async with TileService(own_engine) as service:
            results = await asyncio.gather(*(service.tile(layer, 12, x, y) for _ in range(8)))
            assert service.renders == 1 and service.coalesced == 7
            assert len({id(tile) for tile, _ in results}) == 1 and not any(hit for _, hit in results)
            assert (await service.tile(layer, 12, x, y))[1] is True

    asyncio.run(eight())


def test_connections_the_server_closed_are_replaced_and_the_query_retried(own_engine):
    """A server restart (here: every tile connection of this database terminated) costs no
    request an error: the dead connection is replaced and the query run again."""
    layer = LAYERS["grid"]
    x, y = tile_at(*CENTRE, 12)

    def terminate() -> int:
        with own_engine.connect() as conn:
            return conn.execute(
                text("""SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                        WHERE datname = current_database() AND application_name = 'gridmap tiles'""")
            ).scalar_one()

    async def main():
        async with TileService(own_engine) as service:
            await asyncio.gather(*(service.tile(layer, 12, x + dx, y) for dx in range(4)))
            assert await asyncio.to_thread(terminate) >= 1
            service.cache.clear()
            tile, hit = await service.tile(layer, 12, x, y)
            assert not hit and not tile.empty
            await asyncio.to_thread(terminate)
            assert await service.bounds(layer) is not None
            stats = service.stats()["connections"]
            assert 1 <= stats["pool_size"] <= 4

    asyncio.run(main())


def test_one_revision_check_at_a_time(own_engine):
    """check_revision skips while a check runs; ensure_revision waits for it, then checks again
    only if that check did not reach the revision it needs."""
    service = TileService(own_engine)
    checks: list[int | None] = []
    gate = asyncio.Event()

    async def advance():  # a check that takes the database to revision 3, one step at a time
        checks.append(service.cache.revision)
        await gate.wait()
        service.cache.advance((service.cache.revision or 0) + 1, None)

    service._advance = advance

    async def main():
        first = asyncio.create_task(service.check_revision())
        await asyncio.sleep(0.01)
        await service.check_revision()  # one is running: returns at once
        assert checks == [None]
        reached = asyncio.create_task(service.ensure_revision(1))  # the running check gets there
        beyond = asyncio.create_task(service.ensure_revision(2))  # it does not: one check more
        await asyncio.sleep(0.01)
        assert checks == [None] and not reached.done()
        gate.set()
        await asyncio.gather(first, reached, beyond)
        assert checks == [None, 1] and service.cache.revision == 2
        await service.ensure_revision(2)  # there already: no check
        assert checks == [None, 1]

    asyncio.run(main())


def _far_point(engine, root: str) -> tuple[float, float]:
    """A point inside a micro-grid as far as possible from township ``root``."""
    with engine.connect() as conn:
        return tuple(
            conn.execute(
                text("""
            SELECT ST_X(p), ST_Y(p) FROM (
                SELECT ST_PointOnSurface(a.geom) AS p, ST_Distance(a.geom, t.geom) AS d
                FROM area a, area t WHERE a.level = 4 AND t.code = :root) x
            ORDER BY d DESC LIMIT 1"""),
                {"root": root},
            ).one()
        )


def test_writes_evict_exactly_the_tiles_they_touch(own_engine, township, tmp_path):
    from boundary_files import write_gpkg

    from gridmap.services.boundaries import publish_file
    from gridmap.services.cameras import apply_status_reports

    root = sorted(township.loc[township["level"] == 1, "code"])[0]
    with own_engine.connect() as conn:
        camera = conn.execute(
            text("""
            SELECT c.device_id, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, c.area_code FROM camera c
            WHERE c.online AND c.area_code LIKE :root || '%' ORDER BY c.device_id LIMIT 1"""),
            {"root": root},
        ).one()
    far = _far_point(own_engine, root)
    near_tiles = {  # tiles showing the camera or an area holding it
        "cameras": ("cameras", 15, *tile_at(camera.lon, camera.lat, 15)),
        "microgrid": ("microgrid", 15, *tile_at(camera.lon, camera.lat, 15)),
        "grid": ("grid", 13, *tile_at(camera.lon, camera.lat, 13)),
        "county": ("county", 10, *tile_at(camera.lon, camera.lat, 10)),
        "township": ("township", 11, *tile_at(camera.lon, camera.lat, 11)),
    }
    far_tile = ("microgrid", 16, *tile_at(*far, 16))

    def state(http, tile):
        """The tile at the newest revision (named in the URL, as the pages do: the cache then
        processes that revision's changes first, whatever its check interval)."""
        with own_engine.connect() as conn:
            revision = conn.execute(text("SELECT revision FROM data_revision")).scalar_one()
        r = http.get(url_of(*tile), params={"v": revision})
        assert r.status_code == 200, r.text
        assert int(r.headers["x-tile-revision"]) >= revision
        return r.headers["x-tile-cache"], r.headers["etag"], decode(r.content, tile[0])

    def find(features, key, value):
        (f,) = [f for f in features if f["properties"][key] == value]
        return f["properties"]

    with serve(own_engine) as base, client(base) as http:
        before = {}
        for name, tile in [*near_tiles.items(), ("far", far_tile)]:
            state(http, tile)
            hit, etag, features = state(http, tile)
            assert hit == "hit", name
            before[name] = (etag, features)
        stats = http.get("/tiles").json()["cache"]
        assert stats["hits"] >= 6 and stats["entries"] >= 6

        # 1. One camera goes offline: its tile and every area tile holding it change, the far tile stays.
        result = apply_status_reports(
            own_engine,
            [{"device_id": camera.device_id, "online": False, "at": dt.datetime.now(dt.UTC).isoformat()}],
        )
        assert result.applied == 1, result.to_dict()
        hit, etag, features = state(http, near_tiles["cameras"])
        assert hit == "miss" and etag != before["cameras"][0]
        assert find(features, "device_id", camera.device_id)["online"] is False
        assert find(before["cameras"][1], "device_id", camera.device_id)["online"] is True
        for name, key in (
            ("microgrid", camera.area_code),
            ("grid", camera.area_code[:15]),
            ("county", camera.area_code[:6]),
            ("township", root),
        ):
            hit, etag, features = state(http, near_tiles[name])
            assert hit == "miss" and etag != before[name][0], name
            was, now = find(before[name][1], "code", key), find(features, "code", key)
            assert now["online"] == was["online"] - 1 and now["installed"] == was["installed"], name
        hit, etag, _ = state(http, far_tile)
        assert (hit, etag) == ("hit", before["far"][0])

        # 2. The township is published again with a new name: its tiles change, the far tile stays.
        upload = township.copy()
        upload.loc[upload["code"] == root, "name"] = "新城街道"
        publish_file(own_engine, write_gpkg(upload, tmp_path / "township.gpkg"), by="测试")
        hit, etag, features = state(http, near_tiles["township"])
        assert hit == "miss" and find(features, "code", root)["name"] == "新城街道"
        hit, etag, features = state(http, near_tiles["microgrid"])
        assert (
            hit == "miss"
            and find(features, "code", camera.area_code)["online"]
            == find(before["microgrid"][1], "code", camera.area_code)["online"] - 1
        )
        hit, etag, _ = state(http, far_tile)
        assert (hit, etag) == ("hit", before["far"][0])
        stats = http.get("/tiles").json()["cache"]
        assert stats["invalidations"] >= 2 and stats["invalidated_tiles"] >= 5
