"""``gridmap export-tiles``: an offline tile package (PMTiles or MBTiles) of every layer, for
screens on a network that cannot reach the server (:mod:`gridmap.tiles.package`); ``gridmap
export-screen``: that package with the big-screen pages, a folder any static web server serves
(:mod:`gridmap.maps.screen`).

Exit codes: 0 written; 1 nothing to write (no data in the range or box); 2 an option could not be
used (format, zoom range, layer, box, output folder, page option).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from gridmap.cli._common import check_choice, fail, in_range

#: The package options ``export-tiles`` and ``export-screen`` share.
MinZoom = Annotated[int, typer.Option(metavar="Z", callback=in_range(0, 16), help="Lowest zoom (default 0).")]
MaxZoom = Annotated[
    int, typer.Option(metavar="Z", callback=in_range(0, 16), help="Highest zoom (default 14; the server's is 16).")
]
Layers = Annotated[
    str | None,
    typer.Option(
        metavar="A,B,…", help="Layers in the package (default all: county,township,village,grid,microgrid,cameras)."
    ),
]
Box = Annotated[str | None, typer.Option(metavar="W,S,E,N", help="Only tiles meeting this box (degrees).")]


def export_tiles(
    out: Annotated[Path, typer.Option(metavar="FILE", help="The package to write (.pmtiles or .mbtiles).")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", metavar="FORMAT", help="pmtiles or mbtiles (default: from the file's extension)."),
    ] = None,
    minzoom: MinZoom = 0,
    maxzoom: MaxZoom = 14,
    layers: Layers = None,
    bbox: Box = None,
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


def export_screen(
    folder: Annotated[
        Path, typer.Argument(metavar="DIR", help="The folder to write (new, empty, or an earlier bundle).")
    ],
    level: Annotated[
        str,
        typer.Option(metavar="LEVEL", help="Level drawn: county, township, village, grid, microgrid (default grid)."),
    ] = "grid",
    metric: Annotated[
        str, typer.Option(metavar="METRIC", help="Colouring: online_rate (上云率) or rollout_rate (安装率).")
    ] = "online_rate",
    theme: Annotated[str, typer.Option(metavar="THEME", help="dark or light (default dark).")] = "dark",
    cameras: Annotated[bool, typer.Option("--cameras", help="Show the cameras.")] = False,
    no_summary: Annotated[bool, typer.Option("--no-summary", help="Hide the county's figures.")] = False,
    minzoom: MinZoom = 0,
    maxzoom: MaxZoom = 14,
    layers: Layers = None,
    bbox: Box = None,
) -> None:
    """Write an offline screen bundle: a folder any static web server can serve, no gridmap server.

    DIR gets index.html (the /embed page for LEVEL, METRIC, THEME, drawing from the package),
    map.html (the one-map page on the same package), gridmap.pmtiles (every layer, as
    export-tiles writes it), static/ (scripts, styles, vendored Leaflet, VectorGrid, pmtiles),
    bundle.json (what was exported) and web.config (IIS). The folder appears only when complete.

    Exit codes: 0 written; 1 nothing to write; 2 an option could not be used.
    """
    from gridmap.config import get_settings
    from gridmap.db.session import engine_scope
    from gridmap.maps.pages import EMBED_LEVELS, EMBED_METRICS, EMBED_THEMES
    from gridmap.maps.screen import ScreenError, ScreenOptions
    from gridmap.maps.screen import export_screen as write_bundle
    from gridmap.tiles.package import PackageError, parse_bbox, parse_layers

    check_choice("--level", level, EMBED_LEVELS)
    check_choice("--metric", metric, EMBED_METRICS)
    check_choice("--theme", theme, EMBED_THEMES)
    if minzoom > maxzoom:
        raise fail(f"--minzoom（{minzoom}）不能大于 --maxzoom（{maxzoom}）", "invalid_option")
    try:
        chosen, box = parse_layers(layers), parse_bbox(bbox)
    except PackageError as exc:
        raise fail(exc.message, exc.code) from exc
    options = ScreenOptions(level=level, metric=metric, theme=theme, cameras=cameras, summary=not no_summary)

    def progress(z: int, queried: int, written: int) -> None:
        typer.echo(f"第 {z} 级：已查询 {queried:,} 个瓦片，写入 {written:,} 个", err=True)

    started = time.perf_counter()
    with engine_scope() as engine:
        try:
            package, size = write_bundle(
                engine,
                folder,
                options,
                get_settings(),
                minzoom=minzoom,
                maxzoom=maxzoom,
                layers=chosen,
                bbox=box,
                progress=progress,
            )
        except PackageError as exc:
            raise fail(exc.message, exc.code, exc.exit_code) from exc
        except ScreenError as exc:
            raise fail(exc.message, exc.code) from exc
    seconds = time.perf_counter() - started
    typer.echo(
        f"已写入大屏包 {folder}（第 {minzoom}–{maxzoom} 级，{package.tiles:,} 个瓦片，共 {size / 1e6:.1f} MB，"
        f"数据版本 {package.revision}，用时 {seconds:.1f} 秒）：用任一静态网站服务器提供此目录，打开 index.html"
    )
