"""Offline tile packages: every layer's tiles in one PMTiles v3 or MBTiles file, for screens on a
network that cannot reach the server (``gridmap export-tiles``).

The tiles are the server's own: each one is made by the layer's tile statement
(:meth:`~gridmap.tiles.layers.TileLayer.sql` with :meth:`~gridmap.tiles.layers.TileLayer.params`,
the statements ``/tiles/{layer}/{z}/{x}/{y}.mvt`` runs), all of them in one REPEATABLE READ,
read-only transaction: a package holds exactly one data revision (written in its metadata).

One tile per z/x/y holding every layer: an MVT tile is a protobuf message of repeated ``layers``
(field 3), and ``ST_AsMVT`` answers one such message with one layer, so the single-layer tiles of a
z/x/y (distinct layer names) concatenated are the multi-layer tile (what MapLibre, GDAL, QGIS
and the pages read; the metadata's ``vector_layers`` lists the layers with their fields and zoom
ranges). A layer is only in the tiles of its own zoom range (``county`` from z0, ``microgrid`` from
z12 …), and a tile no layer has a feature in is left out.

Which tiles: at each zoom, those whose box grown by the MVT buffer (64 of 4096 units, as the tile
statement looks) meets the layer's data extent (optionally cut to ``bbox``); empty ones are
skipped. EPSG:3857 XYZ; MBTiles rows count from the bottom (TMS), as the format requires.

Both formats store the tiles gzipped (PMTiles ``tile_compression`` gzip, clustered; MBTiles as
GDAL and MapLibre's tooling expect). The file is written under a temporary name beside the target
and renamed at the end: an interrupted export never leaves a partial file under the target name.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import math
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import psycopg
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer
from sqlalchemy import Engine

from gridmap.errors import GridmapError
from gridmap.tiles.grid import BUFFER, EXTENT, HALF_WORLD, MAX_ZOOM, lonlat_to_3857, tile_size_m
from gridmap.tiles.layers import LAYERS, TileLayer
from gridmap.tiles.service import SESSION_SETTINGS, conninfo_of

Format = Literal["pmtiles", "mbtiles"]
FORMATS: tuple[Format, ...] = ("pmtiles", "mbtiles")
#: (west, south, east, north) in degrees (EPSG:4490 ≈ WGS 84 at this scale).
Box = tuple[float, float, float, float]
#: zlib level of the stored tiles: a package is written once and read many times.
GZIP_LEVEL = 6
ATTRIBUTION = "gridmap"


class PackageError(GridmapError):
    """A package that cannot be made as asked: ``code`` ``no_data`` (nothing to write: exit 1)
    or an option that cannot be used (exit 2)."""

    exit_codes: ClassVar[dict[str, int]] = {"no_data": 1}

    def __init__(self, code: str, message: str, detail: Any | None = None):
        super().__init__(code, message, detail)
        self.exit_code = self.exit_codes.get(code, 2)  # type: ignore[misc]


@dataclass
class PackageSummary:
    """What an export wrote: the file, its format, zoom range, layers, data revision, tile counts
    (written; per zoom) and bytes."""

    path: Path
    format: Format
    minzoom: int
    maxzoom: int
    layers: list[str]
    revision: int
    bounds: Box
    tiles: int = 0
    tiles_per_zoom: dict[int, int] = field(default_factory=dict)
    queried: int = 0
    bytes: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)


#: progress(z, tiles asked so far, tiles written so far): called after each zoom (and within a big one).
Progress = Callable[[int, int, int], None]


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def split_layers(tile: bytes) -> dict[str, bytes]:
    """The layers of an (uncompressed) MVT tile, each as a single-layer tile (its bytes as
    ``ST_AsMVT`` writes them): {layer name: bytes}. The inverse of concatenating single-layer tiles."""
    layers: dict[str, bytes] = {}
    pos = 0
    while pos < len(tile):
        start = pos
        key, pos = _varint(tile, pos)
        if key != (3 << 3 | 2):  # only field 3 (layers), length-delimited, in a tile
            raise ValueError(f"not an MVT tile: field key {key} at byte {start}")
        length, pos = _varint(tile, pos)
        body, pos = tile[pos : pos + length], pos + length
        name, inner = None, 0
        while inner < len(body):
            field_key, inner = _varint(body, inner)
            wire = field_key & 7
            if wire == 0:
                _, inner = _varint(body, inner)
            elif wire == 2:
                size, inner = _varint(body, inner)
                if field_key >> 3 == 1:
                    name = body[inner : inner + size].decode()
                inner += size
            elif wire in (1, 5):
                inner += 8 if wire == 1 else 4
            else:
                raise ValueError(f"not an MVT layer: wire type {wire}")
        if name is None:
            raise ValueError("an MVT layer without a name")
        layers[name] = tile[start:pos]
    return layers


def tiles_meeting_box(z: int, box: Box) -> Iterator[tuple[int, int]]:
    """(x, y) of the zoom-``z`` XYZ tiles whose box grown by the MVT buffer meets ``box`` (degrees)."""
    west, south, east, north = box
    x0m, y0m = lonlat_to_3857(west, south)
    x1m, y1m = lonlat_to_3857(east, north)
    size, last = tile_size_m(z), (1 << z) - 1
    grow = size * (BUFFER + 0.5) / EXTENT
    tx0 = max(0, math.floor((x0m + HALF_WORLD - grow) / size))
    tx1 = min(last, math.floor((x1m + HALF_WORLD + grow) / size))
    ty0 = max(0, math.floor((HALF_WORLD - y1m - grow) / size))
    ty1 = min(last, math.floor((HALF_WORLD - y0m + grow) / size))
    for x in range(tx0, tx1 + 1):
        for y in range(ty0, ty1 + 1):
            yield x, y


def _intersect(a: Box, b: Box | None) -> Box | None:
    if b is None:
        return a
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return box if box[0] <= box[2] and box[1] <= box[3] else None


def _extent(conn: psycopg.Connection[Any], layer: TileLayer) -> Box | None:
    sql, params = layer.extent_sql()
    row = conn.execute(f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ({sql}) AS x", params).fetchone()
    if row is None or row[0] is None:
        return None
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


def _county_name(conn: psycopg.Connection[Any]) -> str | None:
    rows = conn.execute('SELECT name FROM area WHERE level = 0 ORDER BY code COLLATE "C"').fetchall()
    return "、".join(str(r[0]) for r in rows) if rows else None


def _center(bounds: Box, minzoom: int, maxzoom: int) -> list[float]:
    west, south, east, north = bounds
    span = max(east - west, (north - south) * 1.2, 1e-6)
    zoom = max(minzoom, min(maxzoom, int(math.log2(720 / span))))
    return [round((west + east) / 2, 6), round((south + north) / 2, 6), zoom]


#: The label rows a package carries (``gridmap_labels``), in this column order.
LABEL_FIELDS = ["level", "code", "name", "short_name", "lon", "lat", "radius_m"]


def _labels(conn: psycopg.Connection[Any], levels: list[int], bbox: Box | None) -> dict[str, Any]:
    """Where the names of the exported levels go (``area_label``, see :mod:`gridmap.db.labels`),
    for the pages offline: ``{"fields": LABEL_FIELDS, "rows": [[…], …]}``, lon/lat EPSG:4490
    degrees (6 decimals), radius in metres; only label points inside ``bbox`` when given."""
    west, south, east, north = bbox if bbox is not None else (-180.0, -90.0, 180.0, 90.0)
    rows = conn.execute(
        """SELECT level, code, name, short_name, round(ST_X(geom)::numeric, 6)::float8,
                  round(ST_Y(geom)::numeric, 6)::float8, round(radius_m::numeric, 1)::float8
           FROM area_label
           WHERE level = ANY(%(levels)s) AND level > 0
             AND geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4490)
           ORDER BY level, radius_m DESC, code COLLATE "C"
        """,
        {"levels": levels, "w": west, "s": south, "e": east, "n": north},
    ).fetchall()
    return {"fields": LABEL_FIELDS, "rows": [list(r) for r in rows]}


def metadata_of(
    layers: Sequence[TileLayer],
    *,
    minzoom: int,
    maxzoom: int,
    bounds: Box,
    revision: int,
    exported_at: str,
    county: str | None,
) -> dict[str, Any]:
    """The package's metadata (TileJSON-like, as PMTiles and MBTiles readers expect): name,
    bounds, center, zoom range, format ``pbf``, ``vector_layers`` (each layer's id, fields and
    zoom range within the package), attribution, the data revision and the export time (UTC); the
    export adds ``gridmap_labels`` (where the areas' names go, :func:`_labels`)."""
    title = f"gridmap {county}" if county else "gridmap"
    return {
        "name": title,
        "description": f"{county or ''}网格与摄像头覆盖率矢量瓦片（gridmap 离线包，数据版本 {revision}）",
        "version": "1.0.0",
        "type": "overlay",
        "format": "pbf",
        "attribution": ATTRIBUTION,
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": [round(v, 6) for v in bounds],
        "center": _center(bounds, minzoom, maxzoom),
        "vector_layers": [
            {
                "id": layer.id,
                "description": layer.title,
                "minzoom": max(minzoom, layer.minzoom),
                "maxzoom": min(maxzoom, layer.maxzoom),
                # MBTiles 1.3: each field's type (Number, String, Boolean), which GDAL reads.
                "fields": {name: text.split(":", 1)[0] for name, text in layer.fields.items()},
            }
            for layer in layers
        ],
        "gridmap_revision": revision,
        "gridmap_exported_at": exported_at,
        "gridmap_source_maxzoom": MAX_ZOOM,
    }


class _PMTilesSink:
    def __init__(self, path: Path):
        self.file = path.open("wb")
        self.writer = Writer(self.file)

    def add(self, z: int, tiles: list[tuple[int, int, bytes]]) -> None:
        # Tile ids in ascending order (a zoom's ids all lie above the previous zoom's): clustered.
        for tile_id, data in sorted((zxy_to_tileid(z, x, y), data) for x, y, data in tiles):
            self.writer.write_tile(tile_id, data)

    def finish(self, metadata: dict[str, Any]) -> None:
        west, south, east, north = metadata["bounds"]
        lon, lat, zoom = metadata["center"]
        header = {
            "tile_type": TileType.MVT,
            "tile_compression": Compression.GZIP,
            "min_lon_e7": int(west * 1e7),
            "min_lat_e7": int(south * 1e7),
            "max_lon_e7": int(east * 1e7),
            "max_lat_e7": int(north * 1e7),
            "center_zoom": int(zoom),
            "center_lon_e7": int(lon * 1e7),
            "center_lat_e7": int(lat * 1e7),
        }
        self.writer.finalize(header, metadata)
        self.file.close()

    def close(self) -> None:
        self.file.close()


class _MBTilesSink:
    def __init__(self, path: Path):
        self.db = sqlite3.connect(path)
        self.db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE metadata (name TEXT, value TEXT);
            CREATE UNIQUE INDEX name ON metadata (name);
            CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
            CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);
            """
        )

    def add(self, z: int, tiles: list[tuple[int, int, bytes]]) -> None:
        last = (1 << z) - 1
        self.db.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", [(z, x, last - y, data) for x, y, data in tiles])

    def finish(self, metadata: dict[str, Any]) -> None:
        plain = {k: v for k, v in metadata.items() if k != "vector_layers"}
        rows = {
            **{k: v if isinstance(v, str) else json.dumps(v) for k, v in plain.items()},
            "bounds": ",".join(str(v) for v in metadata["bounds"]),
            "center": ",".join(str(v) for v in metadata["center"]),
            "json": json.dumps({"vector_layers": metadata["vector_layers"]}, ensure_ascii=False),
        }
        self.db.executemany("INSERT INTO metadata VALUES (?, ?)", sorted(rows.items()))
        self.db.commit()
        self.db.close()

    def close(self) -> None:
        self.db.close()


def parse_layers(value: str | None) -> list[TileLayer]:
    """``a,b,…`` (layer ids) as layers in the server's order; None or empty: every layer."""
    if not value:
        return list(LAYERS.values())
    wanted = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [w for w in wanted if w not in LAYERS]
    if unknown or not wanted:
        raise PackageError(
            "unknown_layer", f"没有名为 {'、'.join(unknown) or value} 的图层，可用图层：{'、'.join(LAYERS)}"
        )
    return [layer for layer in LAYERS.values() if layer.id in wanted]


def parse_bbox(value: str | None) -> Box | None:
    """``west,south,east,north`` in degrees, or None."""
    if not value:
        return None
    try:
        west, south, east, north = (float(v) for v in value.split(","))
    except ValueError:
        raise PackageError("invalid_bbox", f"范围应为 西,南,东,北 四个经纬度数字，而不是“{value}”") from None
    if not (-180 <= west < east <= 180 and -85.06 <= south < north <= 85.06):
        raise PackageError("invalid_bbox", f"范围无效：应满足 西 < 东、南 < 北，且在经纬度范围内（“{value}”）")
    return (west, south, east, north)


def export_package(
    engine: Engine,
    out: Path,
    *,
    fmt: Format = "pmtiles",
    minzoom: int = 0,
    maxzoom: int = 14,
    layers: Sequence[TileLayer] | None = None,
    bbox: Box | None = None,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
) -> PackageSummary:
    """Write the tiles of ``layers`` (default: all) at zooms ``minzoom``…``maxzoom`` meeting the
    data's extent (cut to ``bbox``) to ``out`` as a PMTiles v3 or MBTiles package (see the module
    docstring). Raises :class:`PackageError` for a zoom range or box that holds no tile."""
    if fmt not in FORMATS:
        raise PackageError("invalid_format", f"格式应为 {' / '.join(FORMATS)} 之一，而不是“{fmt}”")
    if not 0 <= minzoom <= maxzoom <= MAX_ZOOM:
        raise PackageError("invalid_zoom", f"级别范围无效：应满足 0 ≤ 最小级别 ≤ 最大级别 ≤ {MAX_ZOOM}")
    chosen = list(layers) if layers else list(LAYERS.values())
    active = [layer for layer in chosen if layer.minzoom <= maxzoom and layer.maxzoom >= minzoom]
    if not active:
        names = "、".join(f"{layer.id}（{layer.minzoom}–{layer.maxzoom} 级）" for layer in chosen)
        raise PackageError("zoom_out_of_range", f"所选图层在第 {minzoom}–{maxzoom} 级都没有瓦片：{names}")
    exported_at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0).isoformat()
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    tmp.unlink(missing_ok=True)
    sink: _PMTilesSink | _MBTilesSink = _PMTilesSink(tmp) if fmt == "pmtiles" else _MBTilesSink(tmp)
    try:
        summary = _write(engine, sink, out, fmt, minzoom, maxzoom, active, bbox, progress, exported_at)
        sink.finish(summary.metadata)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(Exception):
            sink.close()
        tmp.unlink(missing_ok=True)
        raise
    summary.bytes = out.stat().st_size
    return summary


def _write(
    engine: Engine,
    sink: _PMTilesSink | _MBTilesSink,
    out: Path,
    fmt: Format,
    minzoom: int,
    maxzoom: int,
    layers: list[TileLayer],
    bbox: Box | None,
    progress: Progress | None,
    exported_at: str,
) -> PackageSummary:
    with psycopg.connect(conninfo_of(engine), autocommit=True, application_name="gridmap export-tiles") as conn:
        for setting in SESSION_SETTINGS:
            conn.execute(setting)
        # One snapshot for every tile: the package is one data revision.
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        revision = int(conn.execute("SELECT revision FROM data_revision WHERE id = 1").fetchone()[0])  # type: ignore[index]
        extents: dict[str, Box] = {}
        for layer in layers:
            extent = _extent(conn, layer)
            cut = _intersect(extent, bbox) if extent else None
            if cut is not None:
                extents[layer.id] = cut
        if not extents:
            raise PackageError("no_data", "所选范围内没有数据，没有可导出的瓦片")
        boxes = list(extents.values())
        bounds = (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
        metadata = metadata_of(
            layers,
            minzoom=minzoom,
            maxzoom=maxzoom,
            bounds=bounds,
            revision=revision,
            exported_at=exported_at,
            county=_county_name(conn),
        )
        metadata["gridmap_labels"] = _labels(conn, [la.level for la in layers if la.level is not None], bbox)
        summary = PackageSummary(out, fmt, minzoom, maxzoom, [la.id for la in layers], revision, bounds)
        summary.metadata = metadata
        sql = {layer.id: layer.sql() for layer in layers}
        for z in range(minzoom, maxzoom + 1):
            parts: dict[tuple[int, int], list[bytes]] = {}
            for layer in layers:
                if not layer.has_zoom(z) or layer.id not in extents:
                    continue
                for x, y in tiles_meeting_box(z, extents[layer.id]):
                    cursor = conn.execute(sql[layer.id], layer.params(z, x, y), prepare=True, binary=True)
                    row = cursor.fetchone()
                    summary.queried += 1
                    data = bytes(row[1] or b"") if row else b""
                    if data:
                        parts.setdefault((x, y), []).append(data)
                    if progress and summary.queried % 2000 == 0:
                        progress(z, summary.queried, summary.tiles)
            tiles = [(x, y, gzip.compress(b"".join(p), GZIP_LEVEL, mtime=0)) for (x, y), p in parts.items()]
            if tiles:
                sink.add(z, tiles)
            summary.tiles += len(tiles)
            summary.tiles_per_zoom[z] = len(tiles)
            if progress:
                progress(z, summary.queried, summary.tiles)
        conn.execute("ROLLBACK")
    if not summary.tiles:
        raise PackageError("no_data", "所选范围和级别内没有非空瓦片，没有写出文件")
    return summary
