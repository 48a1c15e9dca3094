"""MVT feature ids that JavaScript reads exactly (below 2^53), one per code (device id) within a
layer, and the same for a code across publishes and rollbacks (gridmap.tiles.store,
migration 0007).

Micro-grid codes have 18 digits: as ids (before 0007) a JavaScript decoder read 710 distinct
micro-grids of a screen as 104 ids. Runs in a database of its own (it publishes).
"""

from __future__ import annotations

import itertools

import geopandas as gpd
import mapbox_vector_tile
import pytest
from api_server import client, serve
from boundary_files import write_gpkg
from conftest import loaded_database
from planting import METRIC
from sqlalchemy import text

from gridmap.services.boundaries import publish_file, rollback
from gridmap.tiles.grid import HALF_WORLD, lonlat_to_3857, tile_size_m
from gridmap.tiles.store import tile_differences

SAFE = 2**53  # Number.MAX_SAFE_INTEGER + 1
CENTRE = (115.48, 33.86)
TOWNSHIP = "411628001"
_serial = itertools.count(1)


@pytest.fixture(scope="module")
def engine():
    _url, eng = loaded_database("gridmap_test_feature_ids")
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def http(engine):
    with serve(engine, tile_check_interval_s=0) as base, client(base) as c:
        yield c


def tiles_around(lon: float, lat: float, z: int, radius: int = 1) -> list[tuple[int, int, int]]:
    x0, y0 = lonlat_to_3857(lon, lat)
    size = tile_size_m(z)
    x, y = int((x0 + HALF_WORLD) // size), int((HALF_WORLD - y0) // size)
    return [(z, x + dx, y + dy) for dx in range(-radius, radius + 1) for dy in range(-radius, radius + 1)]


def features(http, layer: str, tiles) -> list[dict]:
    found = []
    for z, x, y in tiles:
        r = http.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt")
        assert r.status_code in (200, 204), r.text
        if r.content:
            found += mapbox_vector_tile.decode(r.content)[layer]["features"]
    return found


def ids_by_key(found: list[dict], key: str) -> dict[str, int]:
    """key → feature id, checking that one key has one id and one id one key (a feature cut by
    tile edges appears in several tiles: same key, same id)."""
    pairs = {(f["properties"][key], f["id"]) for f in found}
    by_key = dict(pairs)
    assert len(by_key) == len(pairs), "a code with two ids"
    assert len(set(by_key.values())) == len(by_key), "two codes with one id"
    return by_key


def area_ids(engine, prefix: str) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                text("SELECT code, fid FROM area_feature_id WHERE code LIKE :p || '%' ORDER BY code"), {"p": prefix}
            ).all()
        )


def test_every_feature_id_is_safe_in_javascript_and_one_per_code(http, engine):
    for layer, z, radius in (("microgrid", 14, 1), ("grid", 13, 1), ("village", 11, 0), ("county", 8, 0)):
        found = features(http, layer, tiles_around(*CENTRE, z, radius))
        assert len(found) >= (1 if layer == "county" else 4), layer
        assert all(0 < f["id"] < SAFE for f in found), layer
        by_code = ids_by_key(found, "code")
        # as a JavaScript decoder reads them: doubles, still one per code
        assert len({float(i) for i in by_code.values()}) == len(by_code), layer
        registered = area_ids(engine, "411628")
        assert all(registered[code] == fid for code, fid in by_code.items()), layer
    micro = ids_by_key(features(http, "microgrid", tiles_around(*CENTRE, 14, 1)), "code")
    assert len(micro) > 300  # a screenful of micro-grids, each its own id
    cameras = features(http, "cameras", tiles_around(*CENTRE, 14, 1))
    by_device = ids_by_key(cameras, "device_id")
    assert len(by_device) > 50 and all(0 < i < SAFE for i in by_device.values())
    with engine.connect() as conn:
        rows = dict(
            conn.execute(
                text("SELECT device_id, id FROM camera WHERE device_id = ANY(:d)"), {"d": list(by_device)}
            ).all()
        )
    assert by_device == rows  # the camera's row id, stable per device


def live_subtree(engine, root: str) -> gpd.GeoDataFrame:
    with engine.connect() as conn:
        gdf = gpd.read_postgis(
            text("""SELECT code, name, parent_code, level, kind, households, worker_name, worker_phone, geom
                    FROM area WHERE code LIKE :root || '%' ORDER BY level, code"""),
            conn,
            geom_col="geom",
            params={"root": root},
        )
    return gdf.rename_geometry("geometry").to_crs(METRIC)


def test_a_code_keeps_its_id_across_publishes_and_rollbacks(http, engine, tmp_path):
    before = area_ids(engine, TOWNSHIP)
    old_rows = area_rows(engine)
    with engine.connect() as conn:
        top = conn.execute(text("SELECT max(fid) FROM area_feature_id")).scalar_one()
    # The same township again, other households: every area row is written anew, the ids stay.
    gdf = live_subtree(engine, TOWNSHIP)
    gdf["households"] = gdf["households"].fillna(0) + 1
    first = publish_file(engine, write_gpkg(gdf, tmp_path / f"t{next(_serial)}.gpkg"), by="测试")
    assert not old_rows & area_rows(engine)
    assert area_ids(engine, TOWNSHIP) == before
    # Once more with one micro-grid under a new code: that code gets the next id.
    leaf = gdf.index[gdf["level"] == 4][0]
    renamed = gdf.loc[leaf, "code"]
    new_code = renamed[:-3] + "987"
    assert new_code not in set(gdf["code"])
    gdf.loc[leaf, "code"] = new_code
    publish_file(engine, write_gpkg(gdf, tmp_path / f"t{next(_serial)}.gpkg"), by="测试")
    after = area_ids(engine, TOWNSHIP)
    assert after == {**before, new_code: top + 1}
    z, x, y = _tile_holding(engine, new_code, 14)
    drawn = ids_by_key(features(http, "microgrid", [(z, x, y)]), "code")
    assert drawn[new_code] == top + 1 and renamed not in drawn
    everywhere = area_ids(engine, "411628")  # the tile shows the neighbouring township too
    assert all(everywhere[c] == i for c, i in drawn.items())
    # Back to the first version: the old code is drawn with its old id again.
    rollback(engine, first.version_id, by="测试", force=True, reason="测试：回滚")
    drawn = ids_by_key(features(http, "microgrid", [(z, x, y)]), "code")
    assert renamed in drawn and new_code not in drawn
    assert drawn[renamed] == before[renamed] and all(everywhere[c] == i for c, i in drawn.items())
    assert area_ids(engine, TOWNSHIP) == after  # ids are never given back
    with engine.connect() as conn:
        assert tile_differences(conn) == []


def area_rows(engine) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT id FROM area WHERE code LIKE :p || '%'"), {"p": TOWNSHIP}).scalars())


def _tile_holding(engine, code: str, z: int) -> tuple[int, int, int]:
    with engine.connect() as conn:
        lon, lat = conn.execute(
            text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM area WHERE code = :c) s"),
            {"c": code},
        ).one()
    return tiles_around(lon, lat, z, 0)[0]
