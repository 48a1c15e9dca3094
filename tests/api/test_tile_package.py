"""Offline tile packages (``gridmap export-tiles``, :mod:`gridmap.tiles.package`): a PMTiles
package holds exactly the tiles the server serves, GDAL reads the PMTiles and MBTiles files, the
MBTiles metadata and row order are as the format says, an interrupted export leaves no file.

One package of the sample county at z8–13 (every layer: county from 8, township 8, village 10,
grid 11, micro-grid and cameras 12) is written once for the module, from the shared test database
the shared server (``api_url``) reads.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import mapbox_vector_tile
import pyogrio
import pytest
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import Compression, TileType
from typer.testing import CliRunner

from gridmap.cli.app import app
from gridmap.tiles.grid import HALF_WORLD, lonlat_to_3857, tile_size_m
from gridmap.tiles.layers import LAYERS
from gridmap.tiles.package import export_package, split_layers

MINZOOM, MAXZOOM = 8, 13


@pytest.fixture(scope="module")
def package(loaded_engine, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("package") / "county.pmtiles"
    summary = export_package(loaded_engine, out, fmt="pmtiles", minzoom=MINZOOM, maxzoom=MAXZOOM)
    assert summary.path == out and out.stat().st_size == summary.bytes
    return out


@pytest.fixture(scope="module")
def package_tiles(package) -> dict[tuple[int, int, int], bytes]:
    with package.open("rb") as f:
        return {zxy: gzip.decompress(data) for zxy, data in all_tiles(MmapSource(f))}


@pytest.fixture(scope="module")
def mbtiles(loaded_engine, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("package") / "county.mbtiles"
    export_package(loaded_engine, out, fmt="mbtiles", minzoom=11, maxzoom=12)
    return out


def test_every_tile_of_the_package_is_the_servers(package_tiles, http):
    """Each tile of the package, split into its layers, is byte for byte what /tiles/{layer}
    answers for that z/x/y; a layer is in a tile exactly when the server's tile is not empty."""
    assert package_tiles
    for (z, x, y), tile in package_tiles.items():
        layers = split_layers(tile)
        assert layers, f"empty tile {z}/{x}/{y} in the package"
        for layer in LAYERS.values():
            if not layer.has_zoom(z):
                assert layer.id not in layers
                continue
            r = http.get(f"/tiles/{layer.id}/{z}/{x}/{y}.mvt")
            if r.status_code == 204:
                assert layer.id not in layers, f"{layer.id} {z}/{x}/{y}: empty on the server"
            else:
                assert r.status_code == 200
                assert layers.get(layer.id) == r.content, f"{layer.id} {z}/{x}/{y} differs from the server's"


def _ring(z: int, bounds) -> list[tuple[int, int]]:
    """The tiles of the data's bounds grown by one tile on each side."""
    west, south, east, north = bounds
    size = tile_size_m(z)
    (x0, y0), (x1, y1) = lonlat_to_3857(west, north), lonlat_to_3857(east, south)
    tx0, tx1 = int((x0 + HALF_WORLD) // size) - 1, int((x1 + HALF_WORLD) // size) + 1
    ty0, ty1 = int((HALF_WORLD - y0) // size) - 1, int((HALF_WORLD - y1) // size) + 1
    return [(x, y) for x in range(tx0, tx1 + 1) for y in range(ty0, ty1 + 1)]


def test_every_non_empty_server_tile_is_in_the_package(package_tiles, http):
    """Around the county (a tile more on each side), every tile the server draws something in at
    z8–12 is in the package, with that layer (z13 is covered by the comparison above: the package's
    tiles there are checked against the server; its ring here would be 1,000 requests more)."""
    bounds = http.get("/tiles/county.json").json()["bounds"]
    for z in range(MINZOOM, 13):
        for layer in LAYERS.values():
            if not layer.has_zoom(z):
                continue
            for x, y in _ring(z, bounds):
                r = http.get(f"/tiles/{layer.id}/{z}/{x}/{y}.mvt")
                if r.status_code == 200:
                    assert layer.id in split_layers(package_tiles.get((z, x, y), b"")), f"{layer.id} {z}/{x}/{y}"


def test_pmtiles_header_and_metadata(package, package_tiles, loaded_engine):
    with package.open("rb") as f:
        reader = Reader(MmapSource(f))
        header, metadata = reader.header(), reader.metadata()
    assert header["tile_type"] == TileType.MVT and header["tile_compression"] == Compression.GZIP
    assert header["clustered"] and header["min_zoom"] == MINZOOM and header["max_zoom"] == MAXZOOM
    assert header["addressed_tiles_count"] == len(package_tiles)
    assert metadata["format"] == "pbf" and metadata["name"] == "gridmap 鹿邑县"
    assert (metadata["minzoom"], metadata["maxzoom"]) == (MINZOOM, MAXZOOM)
    west, south, east, north = metadata["bounds"]
    assert 115.0 < west < east < 116.0 and 33.5 < south < north < 34.2
    assert west < metadata["center"][0] < east and south < metadata["center"][1] < north
    layers = {v["id"]: v for v in metadata["vector_layers"]}
    assert list(layers) == list(LAYERS)
    assert (layers["county"]["minzoom"], layers["microgrid"]["minzoom"], layers["cameras"]["maxzoom"]) == (8, 12, 13)
    assert layers["grid"]["fields"]["online_rate"] == "Number"
    assert layers["cameras"]["fields"]["online"] == "Boolean"
    from sqlalchemy import text

    with loaded_engine.connect() as conn:
        assert metadata["gridmap_revision"] == conn.execute(text("SELECT revision FROM data_revision")).scalar()
    assert metadata["gridmap_exported_at"].endswith("+00:00")


def test_gdal_reads_the_pmtiles(package):
    """GDAL's PMTiles driver (pyogrio) sees every layer; at z13 each area and camera drawn there
    (features cut at tile edges count once per tile)."""
    layers = dict(pyogrio.list_layers(package))
    assert set(layers) == set(LAYERS)
    counts = {name: pyogrio.read_info(package, layer=name)["features"] for name in layers}
    assert counts["county"] >= 1 and counts["township"] >= 24 and counts["grid"] >= 1294
    assert counts["microgrid"] >= 10311 and counts["cameras"] >= 10000
    grid = pyogrio.read_dataframe(package, layer="grid")
    assert {"code", "name", "online_rate", "installed"} <= set(grid.columns)
    assert grid["installed"].dtype.kind in "if"  # Number fields typed as numbers
    assert grid["code"].str.len().eq(15).all()


def test_mbtiles_is_valid(mbtiles):
    db = sqlite3.connect(mbtiles)
    meta = dict(db.execute("SELECT name, value FROM metadata"))
    assert meta["format"] == "pbf" and (meta["minzoom"], meta["maxzoom"]) == ("11", "12")
    assert len(meta["bounds"].split(",")) == 4 and len(meta["center"].split(",")) == 3
    vector_layers = json.loads(meta["json"])["vector_layers"]
    assert [v["id"] for v in vector_layers] == ["county", "township", "village", "grid", "microgrid", "cameras"]
    rows = db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles").fetchall()
    assert {r[0] for r in rows} == {11, 12}
    z, x, row, data = rows[0]
    y = (1 << z) - 1 - row  # TMS rows from the bottom
    xm, ym = (x + 0.5) * tile_size_m(z) - HALF_WORLD, HALF_WORLD - (y + 0.5) * tile_size_m(z)
    assert 12_800_000 < xm < 12_900_000 and 3_950_000 < ym < 4_060_000  # in the county, not mirrored
    tile = mapbox_vector_tile.decode(gzip.decompress(data))
    assert set(tile) <= set(LAYERS)
    db.close()
    layers = dict(pyogrio.list_layers(mbtiles))
    assert set(layers) == set(LAYERS)
    assert pyogrio.read_info(mbtiles, layer="grid")["features"] >= 1294


def test_cli_export_and_refusals(loaded_engine, tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", loaded_engine.url.render_as_string(hide_password=False))
    runner = CliRunner()
    out = tmp_path / "t.pmtiles"
    result = runner.invoke(
        app, ["export-tiles", "--out", str(out), "--minzoom", "10", "--maxzoom", "11", "--layers", "grid,county"]
    )
    assert result.exit_code == 0, result.output
    assert "已写入" in result.stdout and "第 11 级" in result.stderr
    with out.open("rb") as f:
        assert [v["id"] for v in Reader(MmapSource(f)).metadata()["vector_layers"]] == ["county", "grid"]
    assert [p.name for p in tmp_path.iterdir()] == ["t.pmtiles"]  # no temporary file left
    cases = [
        (["--out", str(tmp_path / "x.zip")], "invalid_option"),
        (["--out", str(tmp_path / "x.pmtiles"), "--layers", "roads"], "unknown_layer"),
        (["--out", str(tmp_path / "x.pmtiles"), "--minzoom", "9", "--maxzoom", "3"], "invalid_option"),
        (["--out", str(tmp_path / "x.pmtiles"), "--maxzoom", "17"], "invalid_option"),
        (["--out", str(tmp_path / "x.pmtiles"), "--bbox", "1,2,3"], "invalid_bbox"),
        (["--out", str(tmp_path / "x.pmtiles"), "--layers", "microgrid", "--maxzoom", "8"], "zoom_out_of_range"),
    ]
    for args, code in cases:
        result = runner.invoke(app, ["export-tiles", *args])
        assert result.exit_code == 2, (args, result.output)
        assert f"（{code}）" in result.stderr
    # A box with no data: nothing to write (exit 1), no file.
    result = runner.invoke(app, ["export-tiles", "--out", str(tmp_path / "x.pmtiles"), "--bbox", "100,20,101,21"])
    assert result.exit_code == 1 and "（no_data）" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["t.pmtiles"]


def test_an_interrupted_export_leaves_no_file(loaded_engine, tmp_path):
    out = tmp_path / "t.mbtiles"
    out.write_bytes(b"the previous package")

    def interrupt(z, queried, written):
        if z == 11:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_package(loaded_engine, out, fmt="mbtiles", minzoom=10, maxzoom=12, progress=interrupt)
    assert [p.name for p in tmp_path.iterdir()] == ["t.mbtiles"]
    assert out.read_bytes() == b"the previous package"
