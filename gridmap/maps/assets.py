"""The front-end files vendored in ``gridmap/maps/static/`` and their inlined forms.

Only Leaflet is vendored (see ``static/README.md``): the maps we build need nothing else. The
files are kept byte-identical to the npm package; what changes on the way into a page is done
here: the source-map comment is dropped and the CSS images become ``data:`` URIs.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from importlib.resources import files
from importlib.resources.abc import Traversable

LEAFLET_VERSION = "1.9.4"

#: ``gridmap/maps/static`` as an importlib resource (works from a wheel, a zip or a checkout).
STATIC: Traversable = files("gridmap.maps") / "static"
LEAFLET_DIR: Traversable = STATIC / "leaflet"

_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")
_SOURCE_MAP = re.compile(r"^//# sourceMappingURL=.*$", re.MULTILINE)
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif", ".woff2": "font/woff2"}


def data_uri(resource: Traversable) -> str:
    """A file as a base64 ``data:`` URI (type from its extension)."""
    suffix = "." + resource.name.rsplit(".", 1)[-1]
    return f"data:{_MIME[suffix]};base64," + base64.b64encode(resource.read_bytes()).decode("ascii")


def inline_css_urls(css: str, base: Traversable) -> str:
    """``css`` with every relative ``url(...)`` replaced by the ``data:`` URI of the file it names
    (relative to ``base``). Fragment URLs (``#default#VML``) and ``data:`` URIs are kept;
    a relative URL naming a file that is not vendored is an error."""

    def replace(match: re.Match) -> str:
        url = match.group(2).strip()
        if url.startswith(("#", "data:")):
            return match.group(0)
        if re.match(r"^[a-z][a-z0-9+.-]*:|^//", url, re.IGNORECASE):
            raise ValueError(f"vendored CSS refers to an external resource: {url}")
        target = base
        for part in url.split("/"):
            target = target / part
        if not target.is_file():
            raise FileNotFoundError(f"vendored CSS refers to {url}, which is not vendored")
        return f'url("{data_uri(target)}")'

    return _CSS_URL.sub(replace, css)


@functools.cache
def leaflet_js() -> str:
    """Leaflet's minified JavaScript, ready to sit inside ``<script>`` (no source-map comment),
    followed by a few lines pointing ``L.Icon.Default`` at the inlined marker images (Leaflet
    otherwise derives their path from the CSS, which fails once the CSS is inlined)."""
    js = _SOURCE_MAP.sub("", (LEAFLET_DIR / "leaflet.js").read_text(encoding="utf-8"))
    images = LEAFLET_DIR / "images"
    icons = {
        "iconUrl": data_uri(images / "marker-icon.png"),
        "iconRetinaUrl": data_uri(images / "marker-icon-2x.png"),
        "shadowUrl": data_uri(images / "marker-shadow.png"),
    }
    shim = f"\nL.Icon.Default.imagePath = '';\nL.Icon.Default.mergeOptions({json.dumps(icons)});\n"
    return js.rstrip() + "\n" + shim


@functools.cache
def leaflet_css() -> str:
    """Leaflet's CSS with its images inlined as ``data:`` URIs."""
    return inline_css_urls((LEAFLET_DIR / "leaflet.css").read_text(encoding="utf-8"), LEAFLET_DIR)
