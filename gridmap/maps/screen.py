"""The offline screen bundle (``gridmap export-screen DIR``): a folder any static web server
(nginx, IIS, ``python3 -m http.server``, a USB stick served by any of them) serves as a complete
big-screen map, with no gridmap server at all.

The folder holds::

    index.html        the /embed page rendered for offline use, drawing from gridmap.pmtiles
    map.html          the one-map page (/map) in package mode: levels, metrics, hover and click
    gridmap.pmtiles   the tile package (gridmap.tiles.package: every layer, one data revision)
    static/           the pages' scripts and styles, vendored Leaflet, Leaflet.VectorGrid and
                      pmtiles (with their licences), at the same relative places as the server's
    bundle.json       what was exported: gridmap version, data revision, zoom range, page options
    web.config        IIS: serve .pmtiles (IIS refuses extensions it has no MIME type for)

Every URL in the pages is relative (``static/…``, ``gridmap.pmtiles``), so the folder works under
any path. The pages read the package with HTTP range requests, or whole when the server has none
(``package.js``). Each page carries its Content-Security-Policy in a ``<meta>`` element (the
server's header, less ``frame-ancestors``, which a ``<meta>`` cannot carry): requests to the
folder's own server only. No basemap: a screen network reaches no tile server.

The folder is written under a temporary name beside ``DIR`` and renamed at the end; an existing
``DIR`` is replaced only when it is empty or an earlier bundle (it has ``bundle.json``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import Engine

from gridmap import __version__
from gridmap.config import Settings
from gridmap.errors import GridmapError
from gridmap.maps.pages import csp, page_config, render_html
from gridmap.tiles.layers import LAYERS, TileLayer
from gridmap.tiles.package import Box, PackageSummary, Progress, export_package

PACKAGE_NAME = "gridmap.pmtiles"
MANIFEST = "bundle.json"
#: Files of the pages' static folders a screen does not need (the API docs, the upload page).
_SKIP = {"vendor/swagger-ui", "js/upload.js"}
_WEB_CONFIG = """<?xml version="1.0" encoding="utf-8"?>
<!-- gridmap export-screen: IIS serves only the extensions it knows; .pmtiles is the tile package. -->
<configuration>
  <system.webServer>
    <staticContent>
      <remove fileExtension=".pmtiles" />
      <mimeMap fileExtension=".pmtiles" mimeType="application/octet-stream" />
    </staticContent>
  </system.webServer>
</configuration>
"""


class ScreenError(GridmapError):
    """A bundle that cannot be written where asked (exit 2)."""

    exit_code: ClassVar[int] = 2


@dataclass(frozen=True)
class ScreenOptions:
    """The /embed options of the bundle's ``index.html``: the level drawn (``county`` …
    ``microgrid``), the metric colouring it, the theme, cameras shown, the figures panel shown."""

    level: str = "grid"
    metric: str = "online_rate"
    theme: str = "dark"
    cameras: bool = False
    summary: bool = True


def _static_files() -> Iterator[tuple[Traversable, str]]:
    """(resource, path under ``static/``) of every file the offline pages load: gridmap.web's
    static folder (less :data:`_SKIP`) and gridmap.maps' vendored Leaflet (``leaflet/``)."""

    def walk(folder: Traversable, prefix: str) -> Iterator[tuple[Traversable, str]]:
        for item in sorted(folder.iterdir(), key=lambda t: t.name):
            path = prefix + item.name
            if path in _SKIP or item.name.startswith((".", "__")):
                continue
            if item.is_dir():
                yield from walk(item, path + "/")
            else:
                yield item, path

    yield from walk(files("gridmap.web") / "static", "")
    yield from walk(files("gridmap.maps") / "static" / "leaflet", "leaflet/")


def page_html(template: str, page: dict[str, Any], settings: Settings) -> str:
    """A page for the bundle: relative URLs (base ``./``, static ``static/``), no basemap, the
    Content-Security-Policy in a ``<meta>``."""
    config = page_config(page, base="./", settings=settings)
    config["basemap"] = None
    config["readAccess"] = "open"
    head = f'<meta http-equiv="Content-Security-Policy" content="{csp(None, meta=True)}">'
    return render_html(template, config, base="./", static="static/", head=head)


def write_screen_files(
    folder: Path, options: ScreenOptions, settings: Settings, summary: PackageSummary | None = None
) -> list[str]:
    """The pages, static files, ``web.config`` and ``bundle.json`` into ``folder`` (beside a
    package named :data:`PACKAGE_NAME`); returns the paths written, relative to ``folder``."""
    written: list[str] = []

    def put(relative: str, data: bytes) -> None:
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written.append(relative)

    embed = {"name": "embed", "refresh": 0, "package": PACKAGE_NAME, **asdict(options)}
    embed["layer"] = embed.pop("level")
    put("index.html", page_html("embed.html", embed, settings).encode())
    put("map.html", page_html("map.html", {"name": "map", "package": PACKAGE_NAME}, settings).encode())
    for resource, relative in _static_files():
        put(f"static/{relative}", resource.read_bytes())
    put("web.config", _WEB_CONFIG.encode())
    manifest: dict[str, Any] = {
        "gridmap_version": __version__,
        "package": PACKAGE_NAME,
        "pages": {"index.html": embed, "map.html": {"name": "map"}},
    }
    if summary is not None:
        manifest.update(
            revision=summary.revision,
            exported_at=summary.metadata.get("gridmap_exported_at"),
            minzoom=summary.minzoom,
            maxzoom=summary.maxzoom,
            layers=summary.layers,
            bounds=[round(v, 6) for v in summary.bounds],
            tiles=summary.tiles,
        )
    put(MANIFEST, (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode())
    return written


def _check_target(dest: Path) -> None:
    if not dest.parent.is_dir():
        raise ScreenError("invalid_option", f"目录 {dest.parent} 不存在")
    if dest.exists() and not dest.is_dir():
        raise ScreenError("target_exists", f"{dest} 已存在且不是目录")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / MANIFEST).is_file():
        raise ScreenError(
            "target_not_empty", f"目录 {dest} 不是空目录，也不是 gridmap 大屏包（没有 {MANIFEST}）：请换一个目录"
        )


def _swap_in(tmp: Path, dest: Path) -> None:
    """``tmp`` becomes ``dest``; an earlier ``dest`` (empty, or an earlier bundle) is removed."""
    if not dest.exists():
        os.replace(tmp, dest)
        return
    old = dest.with_name(f".{dest.name}.{os.getpid()}.old")
    os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    except BaseException:
        os.replace(old, dest)
        raise
    shutil.rmtree(old, ignore_errors=True)


def export_screen(
    engine: Engine,
    dest: Path,
    options: ScreenOptions,
    settings: Settings,
    *,
    minzoom: int = 0,
    maxzoom: int = 14,
    layers: Sequence[TileLayer] | None = None,
    bbox: Box | None = None,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
) -> tuple[PackageSummary, int]:
    """Write the screen bundle to ``dest`` (see the module docstring): the package of ``layers``
    at zooms ``minzoom``…``maxzoom`` (``gridmap.tiles.package.export_package``) and the pages
    for ``options``. Returns the package's summary and the bundle's size in bytes. Raises
    :class:`ScreenError` for a ``dest`` that cannot be used, ``PackageError`` as the export does
    (the level drawn must be among ``layers``)."""
    dest = Path(dest)
    _check_target(dest)
    if layers and options.level not in {layer.id for layer in layers}:
        raise ScreenError("invalid_option", f"显示的层级 {options.level} 不在导出的图层中")
    if LAYERS[options.level].minzoom > maxzoom:
        raise ScreenError(
            "invalid_option",
            f"显示的层级 {options.level} 从第 {LAYERS[options.level].minzoom} 级起才有瓦片：--maxzoom 应不小于它",
        )
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        summary = export_package(
            engine,
            tmp / PACKAGE_NAME,
            minzoom=minzoom,
            maxzoom=maxzoom,
            layers=layers,
            bbox=bbox,
            progress=progress,
            now=now,
        )
        written = write_screen_files(tmp, options, settings, summary)
        size = summary.bytes + sum((tmp / relative).stat().st_size for relative in written)
        _swap_in(tmp, dest)
    except BaseException:
        with contextlib.suppress(Exception):
            shutil.rmtree(tmp)
        raise
    return summary, size
