"""The pages: ``/map`` (一张图), ``/embed`` (大屏嵌入) and ``/upload`` (数据上传), and the files
they load under ``/static``.

The pages are static HTML templates (``gridmap/web/templates``) plus vendored JavaScript and CSS
(``gridmap/web/static``, Leaflet from ``gridmap/maps/static/leaflet``): everything is served by
this app, so they work on an intranet with no internet. The HTML itself is rendered by
:mod:`gridmap.maps.pages` (shared with the offline screen bundle, ``gridmap export-screen``); this
router only reads the request's options and sends the answer with its headers. What the server tells a page goes into one
inline JSON block (``<script type="application/json" id="gm-config">``), escaped so that no value can
close the script element; the pages insert every data string with ``textContent``. That block also
carries the vocabulary the pages share with the rest of gridmap, defined once in Python
(:func:`gridmap.maps.pages.vocabulary`: levels, metrics, legend classes, kinds and severities of validation findings,
accepted upload extensions), so the JavaScript keeps no copy of its own.

The pages' scripts are native ES modules (``<script type="module">``, no build step) after the
classic scripts that define Leaflet's global ``L``. A page names its entry module with ``?v=`` (see
:func:`gridmap.maps.pages.asset_version`); the modules it imports by relative URL (``./common.js``) come without it,
so every asset requested without ``?v=`` is sent with ``Cache-Control: no-cache`` (revalidated by
its ETag on each use): a browser never runs a new page module with an old ``common.js``.

Every page answer carries a Content-Security-Policy that allows requests to this server only
(images also to the configured basemaps' hosts, and to any http(s) host while
``GRIDMAP_BASEMAP_CUSTOM`` lets a reader type a basemap URL of their own), so a page cannot reach
the internet even by mistake. ``/embed`` may be framed by any big-screen page; the others only by
this server's own pages.

A ``token`` in the page URL is never written into the HTML: the page's JavaScript reads it from
``location.search`` and sends it with its API requests (``Authorization: Bearer``) and tile
requests (``?token=``).
"""

from __future__ import annotations

import os
from typing import Annotated, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from gridmap.api.deps import Conn, PageReader, SettingsDep, TileReader
from gridmap.api.errors import ApiError
from gridmap.config import NO_BASEMAP, Settings, default_basemap, offered_basemaps
from gridmap.db.areas import levels_present
from gridmap.levels import LEVEL_BY_KEY, level_key
from gridmap.maps.pages import EMBED_PANELS, csp, package_origin, page_config, parse_panels, render_html
from gridmap.maps.pages import script_json as script_json  # re-exported: the page tests use it

router = APIRouter(tags=["pages"])

#: What ``/embed?area=`` accepts: a plausible area code (letters, digits, ``_ . -``), checked
#: against the data by the page's read of /api/v1/map/screen.
AREA_CODE_PATTERN = r"^[0-9A-Za-z_.\-]+$"


class _StaticFiles(StaticFiles):
    """Files as StaticFiles serves them; one requested without ``?v=`` (a module imported by
    relative URL, an image named by a stylesheet) with ``Cache-Control: no-cache``."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if "v" not in parse_qs(scope.get("query_string", b"").decode("latin-1")):
            response.headers["Cache-Control"] = "no-cache"
        return response


# /static/... : our files first, then gridmap.maps' vendored Leaflet (/static/leaflet/...).
router.mount("/static", _StaticFiles(packages=[("gridmap.web", "static"), ("gridmap.maps", "static")]), name="static")


def package_source(package: str | None) -> str:
    """The CSP source an offline package's URL (``?package=``) needs in ``connect-src``
    (:func:`gridmap.maps.pages.package_origin`). Raises 422 ``invalid_package`` for anything but an
    http(s) URL, a path on this server, or ``file``."""
    try:
        return package_origin(package)
    except ValueError:
        raise ApiError(
            422,
            "invalid_package",
            "离线数据包地址无效：应为 http(s) 地址、本服务器上的路径，或 file（选择本机文件）。",
            {"package": (package or "")[:200]},
        ) from None


def render_page(
    request: Request, settings: Settings, template: str, page: dict, *, frame_anywhere: bool = False, connect: str = ""
) -> HTMLResponse:
    """``template`` with its config block and asset URLs filled in (for this app's root path)."""
    base = request.scope.get("root_path", "").rstrip("/") + "/"
    html = render_html(template, page_config(page, base=base, settings=settings), base=base, static=base + "static/")
    headers = {
        "Content-Security-Policy": csp(settings, frame_anywhere=frame_anywhere, connect=connect),
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return HTMLResponse(html, headers=headers)


#: ``?package=`` of /map and /embed (read by package.js in the page).
PACKAGE_QUERY = Query(
    max_length=2000,
    description="离线数据包（gridmap export-tiles 导出的 .pmtiles）的地址，或 file（选择本机文件）："
    "瓦片取自数据包，不向服务器请求",
)


@router.get("/", include_in_schema=False)
def index(request: Request) -> RedirectResponse:
    """The service's home is the map (the query string, e.g. ``?token=``, is kept)."""
    query = request.url.query
    return RedirectResponse("map" + (f"?{query}" if query else ""), status_code=307)


@router.get("/map", response_class=HTMLResponse, summary="一张图（区域覆盖率与摄像头）")
def map_page(
    request: Request,
    _principal: PageReader,
    settings: SettingsDep,
    conn: Conn,
    package: Annotated[str | None, PACKAGE_QUERY] = None,
) -> HTMLResponse:
    """The county map: choose a level (县 → 微网格) and a metric (上云率 / 安装率), click an area
    for its figures and children, search by code or name, see the figures of the current view.
    Only the levels the live data has are offered (a city whose counties have no micro-grids shows
    no 微网格 button). With ``package``, the areas come from an offline package (search and
    details need the server: hidden), figures summed from its tiles."""
    connect = package_source(package)
    page = {"name": "map", "levels": None if package else levels_present(conn)}
    return render_page(request, settings, "map.html", page, connect=connect)


@router.get("/embed", response_class=HTMLResponse, summary="大屏嵌入地图")
def embed_page(
    request: Request,
    _principal: TileReader,
    settings: SettingsDep,
    conn: Conn,
    layer: Annotated[
        Literal["county", "township", "village", "grid", "microgrid"], Query(description="显示的层级")
    ] = "grid",
    metric: Annotated[Literal["online_rate", "rollout_rate"], Query(description="着色指标")] = "online_rate",
    theme: Annotated[Literal["dark", "light"], Query(description="配色")] = "dark",
    refresh: Annotated[
        int,
        Query(
            ge=0, le=86400, description="检查连接和数据版本的间隔（秒；数据变化另由事件流在 1 秒内送达），0 为不刷新"
        ),
    ] = 60,
    cameras: Annotated[bool, Query(description="是否显示摄像头")] = False,
    summary: Annotated[bool, Query(description="是否显示汇总数字")] = True,
    labels: Annotated[
        bool, Query(description="是否在地图上显示区域名称（乡镇起，到所显示的层级，放得下时显示）")
    ] = True,
    token: Annotated[str | None, Query(description="嵌入令牌（GRIDMAP_READ_ACCESS=token 时需要）")] = None,
    package: Annotated[str | None, PACKAGE_QUERY] = None,
    panels: Annotated[
        str | None,
        Query(
            max_length=200,
            description="显示的面板，逗号分隔：kpi 汇总数字、rank 乡镇排名、trend 30 天趋势、offline 最近离线摄像头、"
            "clock 时钟（默认全部）",
        ),
    ] = None,
    rank: Annotated[
        Literal["online_rate", "rollout_rate"] | None, Query(description="乡镇排名所按的指标（默认同着色指标）")
    ] = None,
    area: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=AREA_CODE_PATTERN,
            description="大屏所示区域的编码（默认全县）：地图缩放到该区域，排名为其下一级区域",
        ),
    ] = None,
    basemap: Annotated[
        str | None,
        Query(max_length=40, description="底图：none（无底图）或已配置底图的 id（默认按 GRIDMAP_BASEMAP_DEFAULT）"),
    ] = None,
) -> HTMLResponse:
    """A full-screen map for big screens and iframes: no controls, a legend and (optionally) the
    county's figures, a ranking of the townships, the 30-day trend, the latest offline cameras and
    a clock (``panels``; 422 ``invalid_panels`` for an unknown one); ``area``: that area's screen
    (the map fitted to it, its children ranked). Tiles and figures follow the data: the page hears of every change on the
    event stream (/events/revision, within a second) and checks /healthz every ``refresh`` seconds
    (0: neither, a still picture). ``basemap``: ``none`` or a configured basemap's id (422
    ``unknown_basemap`` for another). A ``layer`` the live data (under ``area``) does not have
    shows the deepest level above it that it has (a county without micro-grids: its grids)."""
    page = {
        "name": "embed",
        "layer": layer if package else present_layer(layer, levels_present(conn, area)),
        "metric": metric,
        "theme": theme,
        "refresh": refresh,
        "cameras": cameras,
        "summary": summary,
        "labels": labels,
        "panels": _panels(panels),
        "rank": rank or metric,
        "area": area,
        "basemap": _basemap(settings, basemap),
    }
    connect = package_source(package)
    return render_page(request, settings, "embed.html", page, frame_anywhere=True, connect=connect)


def present_layer(key: str, present: list[int]) -> str:
    """``key`` (a level's key) when its level is among ``present``, else the key of the deepest
    present level above it (the shallowest present one when none is above; ``key`` when none is)."""
    level = LEVEL_BY_KEY[key].number
    if not present or level in present:
        return key
    above = [lv for lv in present if lv < level]
    return level_key(above[-1] if above else present[0])


def _panels(value: str | None) -> list[str]:
    try:
        return parse_panels(value)
    except ValueError as exc:
        raise ApiError(
            422,
            "invalid_panels",
            f"面板参数无效：可选 {', '.join(EMBED_PANELS)}，用逗号分隔。",
            {"panels": (value or "")[:200], "unknown": exc.args[0] if exc.args else []},
        ) from None


def _basemap(settings: Settings, value: str | None) -> str:
    """``?basemap=`` of /embed: ``none`` or an offered basemap's id (None: the settings' default)."""
    if value is None:
        return default_basemap(settings)
    ids = [NO_BASEMAP] + [b.id for b in offered_basemaps(settings)]
    if value not in ids:
        raise ApiError(
            422, "unknown_basemap", f"没有这个底图：可选 {', '.join(ids)}。", {"basemap": value, "choices": ids}
        )
    return value


@router.get("/upload", response_class=HTMLResponse, summary="上传边界或摄像头台账")
def upload_page(request: Request, _principal: PageReader, settings: SettingsDep) -> HTMLResponse:
    """Upload a boundary file (checked, then published) or a camera list (imported)."""
    return render_page(request, settings, "upload.html", {"name": "upload"})
