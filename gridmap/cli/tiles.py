"""``gridmap export-tiles``: an offline tile package (PMTiles or MBTiles) of every layer, for
screens on a network that cannot reach the server (:mod:`gridmap.tiles.package`).

Exit codes: 0 written; 1 nothing to write (no data in the range or box); 2 an option could not be
used (format, zoom range, layer, box, output folder).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from gridmap.cli._common import check_choice, fail, in_range


def export_tiles(
    out: Annotated[Path, typer.Option(metavar="FILE", help="The package to write (.pmtiles or .mbtiles).")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", metavar="FORMAT", help="pmtiles or mbtiles (default: from the file's extension)."),
    ] = None,
    minzoom: Annotated[int, typer.Option(metavar="Z", callback=in_range(0, 16), help="Lowest zoom (default 0).")] = 0,
    maxzoom: Annotated[
        int, typer.Option(metavar="Z", callback=in_range(0, 16), help="Highest zoom (default 14; the server's is 16).")
    ] = 14,
    layers: Annotated[
        str | None,
        typer.Option(metavar="A,B,…", help="Layers (default all: county,township,village,grid,microgrid,cameras)."),
    ] = None,
    bbox: Annotated[str | None, typer.Option(metavar="W,S,E,N", help="Only tiles meeting this box (degrees).")] = None,
) -> None:
    """Write an offline tile package: every layer's vector tiles in one PMTiles or MBTiles file.

    The tiles are the ones /tiles serves (same statements, one data revision), all layers in one
    MVT per tile, gzipped; metadata: bounds, centre, zoom range, vector_layers, data revision,
    export time. Progress (tile counts) goes to stderr. The file appears only when complete.

    Exit codes: 0 written; 1 nothing to write; 2 an option could not be used.
    """
    from gridmap.db.session import engine_scope
    from gridmap.tiles.package import FORMATS, Format, PackageError, export_package, parse_bbox, parse_layers

    if fmt is None:
        fmt = out.suffix.lower().lstrip(".")
        if fmt not in FORMATS:
            raise fail(f"无法从文件名 {out.name} 判断格式：请用 --format pmtiles 或 mbtiles 指定", "invalid_option")
    check_choice("--format", fmt, FORMATS)
    package_format: Format = "pmtiles" if fmt == "pmtiles" else "mbtiles"
    if minzoom > maxzoom:
        raise fail(f"--minzoom（{minzoom}）不能大于 --maxzoom（{maxzoom}）", "invalid_option")
    if not out.parent.is_dir():
        raise fail(f"目录 {out.parent} 不存在", "invalid_option")
    try:
        chosen, box = parse_layers(layers), parse_bbox(bbox)
    except PackageError as exc:
        raise fail(exc.message, exc.code) from exc

    def progress(z: int, queried: int, written: int) -> None:
        typer.echo(f"第 {z} 级：已查询 {queried:,} 个瓦片，写入 {written:,} 个", err=True)

    started = time.perf_counter()
    with engine_scope() as engine:
        try:
            summary = export_package(
                engine,
                out,
                fmt=package_format,
                minzoom=minzoom,
                maxzoom=maxzoom,
                layers=chosen,
                bbox=box,
                progress=progress,
            )
        except PackageError as exc:
            raise fail(exc.message, exc.code, exc.exit_code) from exc
    seconds = time.perf_counter() - started
    typer.echo(
        f"已写入 {summary.path}（{fmt}，第 {minzoom}–{maxzoom} 级，{summary.tiles:,} 个瓦片，"
        f"{summary.bytes / 1e6:.1f} MB，数据版本 {summary.revision}，用时 {seconds:.1f} 秒）"
    )
