"""The pages: ``/map`` (一张图), ``/embed`` (大屏嵌入) and ``/upload`` (数据上传), and the files
they load under ``/static``.

The pages are static HTML templates (``gridmap/web/templates``) plus vendored JavaScript and CSS
(``gridmap/web/static``, Leaflet from ``gridmap/maps/static/leaflet``): everything is served by
this app, so they work on an intranet with no internet. What the server tells a page goes into one
inline JSON block (``<script type="application/json" id="gm-config">``), escaped so that no value can
close the script element; the pages insert every data string with ``textContent``. That block also
carries the vocabulary the pages share with the rest of gridmap, defined once in Python
(:func:`vocabulary`: levels, metrics, legend classes, kinds and severities of validation findings,
accepted upload extensions), so the JavaScript keeps no copy of its own.

The pages' scripts are native ES modules (``<script type="module">``, no build step) after the
classic scripts that define Leaflet's global ``L``. A page names its entry module with ``?v=`` (see
:func:`asset_version`); the modules it imports by relative URL (``./common.js``) come without it,
so every asset requested without ``?v=`` is sent with ``Cache-Control: no-cache`` (revalidated by
its ETag on each use): a browser never runs a new page module with an old ``common.js``.

Every page answer carries a Content-Security-Policy that allows requests to this server only
(images also to the basemap's host when ``GRIDMAP_BASEMAP_URL`` is set), so a page cannot reach
the internet even by mistake. ``/embed`` may be framed by any big-screen page; the others only by
this server's own pages.

A ``token`` in the page URL is never written into the HTML: the page's JavaScript reads it from
``location.search`` and sends it with its API requests (``Authorization: Bearer``) and tile
requests (``?token=``).
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from html import escape as html_escape
from importlib.resources import files
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from gridmap import __version__
from gridmap.api.deps import PageReader, SettingsDep, TileReader
from gridmap.api.errors import ApiError
from gridmap.config import Settings
from gridmap.geometry.report import KINDS, SEVERITIES
from gridmap.io.boundary_formats import UPLOAD_EXTENSIONS as BOUNDARY_EXTENSIONS
from gridmap.io.tables import UPLOAD_EXTENSIONS as CAMERA_EXTENSIONS
from gridmap.levels import LEVELS
from gridmap.maps.coverage_map import METRICS, NO_DATA, RATE_CLASSES, TARGET, RateClass

router = APIRouter(tags=["pages"])

WEB = files("gridmap.web")


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


@cache
def _template(name: str) -> str:
    return (WEB / "templates" / name).read_text(encoding="utf-8")


@cache
def asset_version() -> str:
    """Changes whenever a served file changes: appended to asset URLs (``?v=``) so browsers that
    cached an older page's scripts fetch the new ones."""
    digest = hashlib.sha256(__version__.encode())
    for folder in (WEB / "static" / "js", WEB / "static" / "css"):
        for item in sorted(folder.iterdir(), key=lambda t: t.name):
            if item.is_file():
                digest.update(item.name.encode() + item.read_bytes())
    return digest.hexdigest()[:12]


def script_json(value: object) -> str:
    """``value`` as JSON that is safe inside ``<script type="application/json">``: ``<``, ``>`` and
    ``&`` (and the JS line separators) become ``\\u`` escapes, so no string can end the element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escape in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text


def _rate_class(c: RateClass) -> dict:
    return {"key": c.key, "label": c.label, "lower": c.lower, "upper": c.upper, "colour": c.colour}


@cache
def vocabulary() -> dict[str, Any]:
    """What the pages share with the rest of gridmap, each defined once in Python: the levels
    (``gridmap.levels.LEVELS``), the metrics, legend classes and target
    (``gridmap.maps.coverage_map``), the kinds of validation findings (``gridmap.geometry.report.KINDS``:
    label, severity, colour) and their severities (``SEVERITIES`` there), and the extensions an
    upload may have (boundary files: ``gridmap.io.boundary_formats``; camera registers:
    ``gridmap.io.tables``). Part of every page's config (``common.js`` reads it)."""
    return {
        "levels": [
            {"level": lv.number, "key": lv.key, "name": lv.name_zh, "codeLength": lv.code_length} for lv in LEVELS
        ],
        "metrics": {
            key: {
                "key": m.key,
                "label": m.label,
                "formula": m.formula,
                "numerator": m.numerator,
                "denominator": m.denominator,
                "noData": m.no_data,
            }
            for key, m in METRICS.items()
        },
        "rateClasses": [_rate_class(c) for c in RATE_CLASSES],
        "noData": _rate_class(NO_DATA),
        "target": TARGET,
        "kinds": {kind: {"label": k.label, "severity": k.severity, "colour": k.colour} for kind, k in KINDS.items()},
        "severities": dict(SEVERITIES),
        "uploadExtensions": {"boundary": list(BOUNDARY_EXTENSIONS), "cameras": list(CAMERA_EXTENSIONS)},
    }


def basemap_config(settings: Settings) -> dict | None:
    """The optional XYZ basemap: URL template, attribution and subdomains (天地图 uses t0–t7)."""
    if not settings.basemap_url:
        return None
    url = settings.basemap_url
    subdomains = "01234567" if "tianditu" in url.lower() else "abc"
    return {"url": url, "attribution": settings.basemap_attribution or "底图", "subdomains": subdomains}


def _basemap_image_source(settings: Settings) -> str:
    """The CSP source for the basemap's images: its scheme and host (a ``{s}`` label becomes ``*``)."""
    if not settings.basemap_url:
        return ""
    parts = urlsplit(settings.basemap_url)
    host = parts.netloc
    if "{" in host:
        labels = host.split(".")
        host = ".".join("*" if "{" in label else label for label in labels)
        if host.count("*") != 1 or not host.startswith("*"):
            return f"{parts.scheme}:" if parts.scheme else "*"
    return f"{parts.scheme}://{host}" if parts.scheme else "*"


def package_source(package: str | None) -> str:
    """The CSP source an offline package's URL (``?package=``, see ``package.js``) needs in
    ``connect-src``: its origin when it is on another server, nothing for a URL on this one, for
    ``file`` (a local file the reader chooses) or no package. Raises 422 ``invalid_package`` for
    anything but an http(s) URL, a path on this server, or ``file``."""
    if not package or package == "file":
        return ""
    parts = urlsplit(package)
    bad = any(ch in package for ch in " ;,'\"\\\n\r\t") or (parts.scheme and parts.scheme not in ("http", "https"))
    if bad or (parts.scheme and not parts.hostname) or (not parts.scheme and parts.netloc):
        raise ApiError(
            422,
            "invalid_package",
            "离线数据包地址无效：应为 http(s) 地址、本服务器上的路径，或 file（选择本机文件）。",
            {"package": package[:200]},
        )
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme else ""


def _csp(settings: Settings, *, frame_anywhere: bool, connect: str = "") -> str:
    images = " ".join(s for s in ("'self'", "data:", "blob:", _basemap_image_source(settings)) if s)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {images}",
            f"connect-src 'self' {connect}".rstrip(),
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors *" if frame_anywhere else "frame-ancestors 'self'",
        ]
    )


def render_page(
    request: Request, settings: Settings, template: str, page: dict, *, frame_anywhere: bool = False, connect: str = ""
) -> HTMLResponse:
    """``template`` with its config block and asset URLs filled in."""
    base = request.scope.get("root_path", "").rstrip("/") + "/"
    config = {
        "page": page,
        "base": base,
        "version": __version__,
        "readAccess": settings.read_access,
        "basemap": basemap_config(settings),
        **vocabulary(),
        "maxUploadMb": settings.max_upload_mb,
    }
    accept = ",".join(vocabulary()["uploadExtensions"]["boundary"])
    html = (
        _template(template)
        .replace("__GM_BOUNDARY_ACCEPT__", html_escape(accept))
        .replace("__GM_CONFIG__", script_json(config))
        .replace("__GM_STATIC__", base + "static/")
        .replace("__GM_V__", asset_version())
        .replace("__GM_BASE__", base)
    )
    headers = {
        "Content-Security-Policy": _csp(settings, frame_anywhere=frame_anywhere, connect=connect),
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return HTMLResponse(html, headers=headers)


@router.get("/", include_in_schema=False)
def index(request: Request) -> RedirectResponse:
    """The service's home is the map (the query string, e.g. ``?token=``, is kept)."""
    query = request.url.query
    return RedirectResponse("map" + (f"?{query}" if query else ""), status_code=307)


@router.get("/map", response_class=HTMLResponse, summary="一张图（区域覆盖率与摄像头）")
def map_page(request: Request, _principal: PageReader, settings: SettingsDep) -> HTMLResponse:
    """The county map: choose a level (县 → 微网格) and a metric (上云率 / 安装率), click an area
    for its figures and children, search by code or name, see the figures of the current view."""
    return render_page(request, settings, "map.html", {"name": "map"})


@router.get("/embed", response_class=HTMLResponse, summary="大屏嵌入地图")
def embed_page(
    request: Request,
    _principal: TileReader,
    settings: SettingsDep,
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
    token: Annotated[str | None, Query(description="嵌入令牌（GRIDMAP_READ_ACCESS=token 时需要）")] = None,
    package: Annotated[
        str | None,
        Query(
            max_length=2000,
            description="离线数据包（gridmap export-tiles 导出的 .pmtiles）的地址，或 file（选择本机文件）："
            "瓦片取自数据包，不向服务器请求",
        ),
    ] = None,
) -> HTMLResponse:
    """A full-screen map for big screens and iframes: no controls, a legend and (optionally) the
    county's figures. Tiles and figures follow the data: the page hears of every change on the
    event stream (/events/revision, within a second) and checks /healthz every ``refresh`` seconds
    (0: neither, a still picture)."""
    page = {
        "name": "embed",
        "layer": layer,
        "metric": metric,
        "theme": theme,
        "refresh": refresh,
        "cameras": cameras,
        "summary": summary,
    }
    connect = package_source(package)
    return render_page(request, settings, "embed.html", page, frame_anywhere=True, connect=connect)


@router.get("/upload", response_class=HTMLResponse, summary="上传边界或摄像头台账")
def upload_page(request: Request, _principal: PageReader, settings: SettingsDep) -> HTMLResponse:
    """Upload a boundary file (checked, then published) or a camera list (imported)."""
    return render_page(request, settings, "upload.html", {"name": "upload"})
