"""The pages' HTML (``/map``, ``/embed``, ``/upload``) for given options and base paths: what the
server's page router (``gridmap.api.routers.pages``) and the offline screen bundle
(:mod:`gridmap.maps.screen`, ``gridmap export-screen``) both render.

A page is a template of ``gridmap/web/templates`` with placeholders: ``__GM_CONFIG__`` (the
inline JSON config, see :func:`page_config`), ``__GM_STATIC__`` (where the static files are:
``/static/`` on the server, ``static/`` beside a bundle's page), ``__GM_BASE__`` (the service's
base URL), ``__GM_V__`` (:func:`asset_version`), ``__GM_HEAD__`` (extra head elements: a bundle's
Content-Security-Policy ``<meta>``) and ``__GM_BOUNDARY_ACCEPT__``.

The config carries the vocabulary the pages share with the rest of gridmap, defined once in
Python (:func:`vocabulary`: levels, metrics, legend classes, kinds and severities of validation
findings, accepted upload extensions), so the JavaScript keeps no copy of its own.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from html import escape as html_escape
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from gridmap import __version__
from gridmap.config import Settings, default_basemap, offered_basemaps, parse_view_kinds
from gridmap.geometry.report import KINDS, SEVERITIES
from gridmap.geometry.view import KIND_NAMES as VIEW_KIND_NAMES
from gridmap.io.boundary_formats import UPLOAD_EXTENSIONS as BOUNDARY_EXTENSIONS
from gridmap.io.cameras import ROW_PROBLEM_LABELS
from gridmap.io.tables import UPLOAD_EXTENSIONS as CAMERA_EXTENSIONS
from gridmap.levels import LEVELS
from gridmap.maps.blind import BLIND_CLASSES, HOUSEHOLD_CLASSES, HOUSEHOLDS_NO_CAMERA, HOUSEHOLDS_UNKNOWN
from gridmap.maps.coverage_map import METRICS, NO_DATA, RATE_CLASSES, TARGET, RateClass
from gridmap.maps.view_classes import UNSEEN_COLOUR, VIEW_CLASSES, VIEW_NOT_COMPUTED

WEB = files("gridmap.web")
#: The /embed options a page URL (or ``gridmap export-screen``) may set, and their choices.
EMBED_LEVELS = ("county", "township", "village", "grid", "microgrid")
EMBED_METRICS = ("online_rate", "rollout_rate")
EMBED_THEMES = ("dark", "light")
#: The /embed panels (``?panels=``, in any order; default all): the big figures, the ranking of the
#: townships, the 30-day trend, the latest offline cameras, the clock.
EMBED_PANELS = ("kpi", "rank", "trend", "offline", "clock")


def parse_panels(value: str | None) -> list[str]:
    """The panels of ``?panels=kpi,rank,…`` (comma-separated, each once, at least one; None or
    empty: all of :data:`EMBED_PANELS`), in :data:`EMBED_PANELS` order. Raises ``ValueError``
    naming the unknown ones."""
    if value is None or not value.strip():
        return list(EMBED_PANELS)
    chosen = {p.strip() for p in value.split(",") if p.strip()}
    unknown = sorted(chosen - set(EMBED_PANELS))
    if unknown or not chosen:
        raise ValueError(unknown)
    return [p for p in EMBED_PANELS if p in chosen]


@cache
def template(name: str) -> str:
    """The text of ``gridmap/web/templates/<name>``."""
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
        # /map's 盲区 and 户/摄像头 views (gridmap.maps.blind)
        "blindClasses": [
            {"key": c.key, "label": c.label, "description": c.description, "colour": c.colour, "blind": c.blind}
            for c in BLIND_CLASSES
        ],
        "householdClasses": [
            {"key": c.key, "label": c.label, "lower": c.lower, "upper": c.upper, "colour": c.colour}
            for c in (*HOUSEHOLD_CLASSES, HOUSEHOLDS_NO_CAMERA, HOUSEHOLDS_UNKNOWN)
        ],
        # /map's 视野覆盖 view and 视野盲区 layer (gridmap.maps.view_classes): worst first, then 未计算
        "viewClasses": [
            {"key": c.key, "label": c.label, "lower": c.lower, "upper": c.upper, "colour": c.colour}
            for c in (*VIEW_CLASSES, VIEW_NOT_COMPUTED)
        ],
        "unseenColour": UNSEEN_COLOUR,
        "kinds": {kind: {"label": k.label, "severity": k.severity, "colour": k.colour} for kind, k in KINDS.items()},
        "severities": dict(SEVERITIES),
        "uploadExtensions": {"boundary": list(BOUNDARY_EXTENSIONS), "cameras": list(CAMERA_EXTENSIONS)},
        "rowProblems": dict(ROW_PROBLEM_LABELS),  # camera row problem code → Chinese label (/upload)
    }


def basemap_config(settings: Settings) -> dict[str, Any]:
    """The basemaps a page offers (:func:`gridmap.config.offered_basemaps`: id, name, tile URL
    template, label layer's template or None, attribution, subdomains, maxNativeZoom), the id shown
    on first load (``default``, ``none``: no basemap) and whether a reader may type a URL of their
    own (``custom``). A 天地图 key is in the tile URLs only."""
    return {
        "basemaps": [
            {
                "id": b.id,
                "name": b.name,
                "url": b.url,
                "labels": b.labels,
                "attribution": b.attribution,
                "subdomains": b.subdomains,
                "maxNativeZoom": b.max_native_zoom,
            }
            for b in offered_basemaps(settings)
        ],
        "default": default_basemap(settings),
        "custom": settings.basemap_custom,
    }


def _image_source(url: str) -> str:
    """The CSP source of a tile template's images: its scheme and host (a ``{s}`` label becomes
    ``*``; anything else templated in the host: any host of its scheme)."""
    parts = urlsplit(url)
    host = parts.netloc
    if "{" in host:
        labels = host.split(".")
        host = ".".join("*" if "{" in label else label for label in labels)
        if host.count("*") != 1 or not host.startswith("*"):
            return f"{parts.scheme}:"
    return f"{parts.scheme}://{host}"


def basemap_image_source(settings: Settings) -> str:
    """The CSP sources of the basemaps' images: the hosts of every offered basemap and label layer,
    or ``http: https:`` when a reader may type a URL of their own (``GRIDMAP_BASEMAP_CUSTOM``)."""
    if settings.basemap_custom:
        return "http: https:"
    sources = [_image_source(u) for b in offered_basemaps(settings) for u in (b.url, b.labels) if u]
    return " ".join(dict.fromkeys(sources))


def package_origin(package: str | None) -> str:
    """The CSP source an offline package's URL (``?package=``, see ``package.js``) needs in
    ``connect-src``: its origin when it is on another server, nothing for a URL on this one, for
    ``file`` (a local file the reader chooses) or no package. Raises ``ValueError`` for anything
    but an http(s) URL, a path on this server, or ``file``."""
    if not package or package == "file":
        return ""
    parts = urlsplit(package)
    bad = any(ch in package for ch in " ;,'\"\\\n\r\t") or (parts.scheme and parts.scheme not in ("http", "https"))
    if bad or (parts.scheme and not parts.hostname) or (not parts.scheme and parts.netloc):
        raise ValueError(package)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme else ""


def csp(settings: Settings | None, *, frame_anywhere: bool = False, connect: str = "", meta: bool = False) -> str:
    """The pages' Content-Security-Policy: requests to the page's own server only (images also to
    the basemaps' hosts, see :func:`basemap_image_source`; ``connect`` added to ``connect-src``). ``meta``: for a ``<meta>`` element,
    which browsers read without ``frame-ancestors`` (and warn about it): that one is left out."""
    basemap = basemap_image_source(settings) if settings else ""
    images = " ".join(s for s in ("'self'", "data:", "blob:", basemap) if s)
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        f"img-src {images}",
        f"connect-src 'self' {connect}".rstrip(),
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
    if not meta:
        directives.append("frame-ancestors *" if frame_anywhere else "frame-ancestors 'self'")
    return "; ".join(directives)


def view_kinds_config(settings: Settings) -> dict[str, dict[str, Any]]:
    """What each camera kind sees (``GRIDMAP_VIEW_KINDS`` over :data:`gridmap.config.VIEW_KIND_DEFAULTS`):
    kind → {``label`` (Chinese), ``angle`` (degrees), ``range`` (metres)}; /map's 布点规划 layer draws
    the sites' view sectors with them (``plan-layer.js``)."""
    return {
        kind: {"label": VIEW_KIND_NAMES.get(kind, kind), "angle": angle, "range": rng}
        for kind, (angle, rng) in parse_view_kinds(settings.view_kinds).items()
    }


def page_config(page: dict, *, base: str, settings: Settings, basemap: dict | None = None) -> dict[str, Any]:
    """A page's inline config: its own options (``page``), the service's base URL, version, read
    access, basemap (``basemap``, default from ``settings``), the vocabulary, the upload limit and
    the camera kinds' views (:func:`view_kinds_config`)."""
    return {
        "page": page,
        "base": base,
        "version": __version__,
        "readAccess": settings.read_access,
        "basemap": basemap_config(settings) if basemap is None else basemap,
        **vocabulary(),
        "maxUploadMb": settings.max_upload_mb,
        "viewKinds": view_kinds_config(settings),
    }


def render_html(name: str, config: dict[str, Any], *, base: str, static: str, head: str = "") -> str:
    """Template ``name`` with its config block, asset URLs (``static``: the static folder's URL,
    ending in ``/``), base URL and extra ``head`` elements filled in."""
    accept = ",".join(vocabulary()["uploadExtensions"]["boundary"])
    return (
        template(name)
        .replace("__GM_HEAD__", head)
        .replace("__GM_BOUNDARY_ACCEPT__", html_escape(accept))
        .replace("__GM_CONFIG__", script_json(config))
        .replace("__GM_STATIC__", static)
        .replace("__GM_V__", asset_version())
        .replace("__GM_BASE__", base)
    )
