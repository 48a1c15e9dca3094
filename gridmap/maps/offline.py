"""One self-contained HTML file from a folium map: works with no network at all.

folium puts ``<script src>`` / ``<link href>`` tags for CDN files in every page (Leaflet, jQuery,
Bootstrap, Leaflet.awesome-markers, Font Awesome, ...). :func:`standalone_html` replaces each one
it knows: the vendored Leaflet is inlined; the others are dropped, which is safe only while the
page does not use them, so each dropped file comes with a pattern of the code that would need it
and the page is checked against it. A CDN file it does not know, a dropped file the page needs, or
any external reference left in the result (script ``src``, ``link href``, ``img src``, CSS
``url()`` / ``@import``, ...) raises :class:`ExternalResourceError`: a folium upgrade cannot
silently bring a CDN back.

Not checked: URLs built inside JavaScript. An XYZ basemap URL template (``L.tileLayer``) is left
as it is on purpose: tiles are data, not page assets, and need their tile server to be reachable.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

import folium

from gridmap.maps.assets import leaflet_css, leaflet_js


class ExternalResourceError(ValueError):
    """The page would need a file from the network (or next to it) to work."""


@dataclass(frozen=True)
class CdnFile:
    """A file folium may link from a CDN, and what a standalone page does with it."""

    label: str
    url: re.Pattern[str]
    #: the inline element replacing the link, or None: the file is dropped
    inline: Callable[[], str] | None = None
    #: for a dropped file: page code that shows the page needs it after all
    needed_if: re.Pattern[str] | None = None


def _script(js: str) -> str:
    if re.search(r"</script", js, re.IGNORECASE):
        raise ValueError("inline JavaScript must not contain '</script'")
    return f"<script>{js}</script>"


def _style(css: str) -> str:
    if re.search(r"</style", css, re.IGNORECASE):
        raise ValueError("inline CSS must not contain '</style'")
    return f"<style>{css}</style>"


_AWESOME = re.compile(r"AwesomeMarkers|awesome-marker")

#: The CDN files folium 0.20 links, by URL (versions loosened where a newer patch release is harmless).
CDN_FILES: tuple[CdnFile, ...] = (
    CdnFile("Leaflet JS", re.compile(r"/leaflet@1\.9\.\d+/dist/leaflet\.js$"), lambda: _script(leaflet_js())),
    CdnFile("Leaflet CSS", re.compile(r"/leaflet@1\.9\.\d+/dist/leaflet\.css$"), lambda: _style(leaflet_css())),
    CdnFile(
        "jQuery",
        re.compile(r"//code\.jquery\.com/jquery-[\d.]+(\.min)?\.js$"),
        needed_if=re.compile(r"(?<![\w$])(?:jQuery|\$)\s*[.(]"),
    ),
    CdnFile(
        "Bootstrap JS",
        re.compile(r"/bootstrap@[\d.]+/dist/js/bootstrap(\.bundle)?(\.min)?\.js$"),
        needed_if=re.compile(r"\bbootstrap\.[A-Z]|data-bs-(?:toggle|target)"),
    ),
    CdnFile("Bootstrap CSS", re.compile(r"/bootstrap@[\d.]+/dist/css/bootstrap(\.min)?\.css$")),
    CdnFile(
        "Bootstrap 3 glyphicons",
        re.compile(r"/bootstrap/3\.[\d.]+/css/bootstrap-glyphicons(\.min)?\.css$"),
        needed_if=re.compile(r"glyphicon"),
    ),
    CdnFile(
        "Font Awesome",
        re.compile(r"/@fortawesome/fontawesome-free@[\d.]+/css/all(\.min)?\.css$"),
        needed_if=re.compile(r"\bfa-[a-z]"),
    ),
    CdnFile(
        "Leaflet.awesome-markers JS",
        re.compile(r"/Leaflet\.awesome-markers/[\d.]+/leaflet\.awesome-markers(\.min)?\.js$"),
        needed_if=_AWESOME,
    ),
    CdnFile(
        "Leaflet.awesome-markers CSS",
        re.compile(r"/Leaflet\.awesome-markers/[\d.]+/leaflet\.awesome-markers(\.min)?\.css$"),
        needed_if=_AWESOME,
    ),
    CdnFile(
        "awesome-markers rotation CSS",
        re.compile(r"/folium/templates/leaflet\.awesome\.rotate(\.min)?\.css$"),
        needed_if=_AWESOME,
    ),
)


@dataclass(frozen=True)
class _Tag:
    start: int
    end: int
    tag: str
    url: str


_JS_STRING = re.compile(r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'""")
_NUMBER_RUN = re.compile(r"[-\d.,\s\[\]]{64,}")


class _PageScan(HTMLParser):
    """One pass over a rendered page: the ``<script src>`` / ``<link href>`` tags with their
    character offsets, and the page's own code (script bodies and the other tags' attributes),
    for :attr:`CdnFile.needed_if`."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.tags: list[_Tag] = []
        self._code: list[str] = []
        self._attrs: list[str] = []
        self._in_script = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attr = dict(attrs)
        url = attr.get("src") if tag == "script" else attr.get("href") if tag == "link" else None
        if url and _self_contained(html_lib.unescape(url)):
            url = None
        self._in_script = tag == "script" and not url
        tag_text = self.get_starttag_text()
        assert tag_text is not None  # set while a start tag is being handled
        if not url:
            self._attrs.append(tag_text)
            return
        line, col = self.getpos()
        start = self.line_starts[line - 1] + col
        end = start + len(tag_text)
        if tag == "script":
            close = re.compile(r"</script\s*>", re.IGNORECASE).search(self.text, end)
            end = close.end() if close else end
        self.tags.append(_Tag(start, end, tag, html_lib.unescape(url)))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self._in_script = False

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self._code.append(data)

    def own_code(self) -> str:
        """Tag attributes, and script bodies without their string literals and long runs of
        numbers: user data (names, messages, coordinates) must not pass for code that needs a
        library."""
        scripts = (_JS_STRING.sub('""', _NUMBER_RUN.sub(" ", part)) for part in self._code)
        return "\n".join([*self._attrs, *scripts])


def standalone_html(m: folium.Map, title: str | None = None) -> str:
    """The whole page of ``m`` as one HTML document that needs no network: the vendored Leaflet
    is inlined, the CDN files the page does not use are dropped. ``title`` becomes ``<title>``.

    Raises :class:`ExternalResourceError` when the page links a file that is not vendored, uses a
    dropped one, or still refers to anything outside itself."""
    page = _with_title_and_lang(m.get_root().render(), title)
    scan = _PageScan(page)
    tags = scan.tags
    chosen: list[tuple[_Tag, CdnFile]] = []
    unknown = []
    for tag in tags:
        known = next((f for f in CDN_FILES if f.url.search(tag.url)), None)
        if known is None:
            unknown.append(f"<{tag.tag}> {tag.url}")
        else:
            chosen.append((tag, known))
    if unknown:
        raise ExternalResourceError(
            "离线页面不能引用外部资源 / the page links files that are not vendored: "
            + "; ".join(unknown)
            + ". Vendor them under gridmap/maps/static/ and list them in gridmap.maps.offline.CDN_FILES."
        )
    _check_dropped_unused(scan.own_code(), chosen)

    out, pos, done = [], 0, set()
    for tag, known in sorted(chosen, key=lambda c: c[0].start):
        out.append(page[pos : tag.start])
        if known.inline is not None and known.label not in done:
            out.append(known.inline())
            done.add(known.label)
        pos = tag.end
    out.append(page[pos:])
    page = "".join(out)
    check_offline(page)
    return page


def _check_dropped_unused(own_code: str, chosen: list[tuple[_Tag, CdnFile]]) -> None:
    """Raise when the page's own code needs one of the files it is about to lose."""
    for _, known in chosen:
        if known.inline is None and known.needed_if is not None:
            hit = known.needed_if.search(own_code)
            if hit:
                raise ExternalResourceError(
                    f"the map uses {known.label} ({hit.group(0)!r} in the page), which is not vendored: "
                    "vendor it under gridmap/maps/static/ and inline it in gridmap.maps.offline.CDN_FILES, "
                    "or build the map without the feature that needs it"
                )


def _with_title_and_lang(page: str, title: str | None) -> str:
    page = re.sub(r"<html(?![^>]*\blang=)(?=[\s>])", '<html lang="zh-CN"', page, count=1)
    if title is not None:
        page = re.sub(r"</head>", lambda h: f"    <title>{html_lib.escape(title)}</title>\n</head>", page, count=1)
    return page


# --- the final check --------------------------------------------------------------------------

_SRC_TAGS = {"script", "img", "iframe", "frame", "embed", "audio", "video", "source", "track", "input"}
_NON_RESOURCE_RELS = {"canonical", "alternate", "author", "help", "license", "next", "prev", "search", "bookmark"}
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"]*))\s*\)""", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"""@import\s+(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


def _self_contained(url: str) -> bool:
    url = url.strip()
    return not url or url.lower().startswith(("data:", "#", "about:blank", "blob:"))


def _css_urls(css: str) -> list[str]:
    return [next(g for g in m.groups() if g is not None) for m in _CSS_URL.finditer(css)] + [
        next(g for g in m.groups() if g is not None) for m in _CSS_IMPORT.finditer(css)
    ]


class _References(HTMLParser):
    """Collects every reference a browser would load by itself: ``src``/``href``/``srcset``/
    ``poster``/``data`` attributes of resource tags, and ``url()``/``@import`` in CSS."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attr = {k: v or "" for k, v in attrs}
        urls: list[tuple[str, str]] = []
        if tag in _SRC_TAGS and "src" in attr:
            urls.append(("src", attr["src"]))
        if tag == "link" and "href" in attr and not set(attr.get("rel", "").lower().split()) & _NON_RESOURCE_RELS:
            urls.append(("href", attr["href"]))
        if tag in {"image", "use", "feimage"}:
            urls += [(k, attr[k]) for k in ("href", "xlink:href") if k in attr]
        if "srcset" in attr:
            urls += [("srcset", part.split()[0]) for part in attr["srcset"].split(",") if part.strip()]
        if tag == "video" and "poster" in attr:
            urls.append(("poster", attr["poster"]))
        if tag == "object" and "data" in attr:
            urls.append(("data", attr["data"]))
        if "style" in attr:
            urls += [("style url()", u) for u in _css_urls(attr["style"])]
        self.found += [f"<{tag} {what}> {url}" for what, url in urls if not _self_contained(url)]
        self._in_style = tag == "style"

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.found += [f"<style> {u}" for u in _css_urls(data) if not _self_contained(u)]


def external_references(page: str) -> list[str]:
    """Every reference in ``page`` that points outside the page (described as ``<tag attr> url``)."""
    parser = _References()
    parser.feed(page)
    parser.close()
    return parser.found


def check_offline(page: str) -> None:
    """Raise :class:`ExternalResourceError` if ``page`` refers to any file outside itself."""
    found = external_references(page)
    if found:
        raise ExternalResourceError(
            "离线页面不能引用外部资源 / the page still refers to files outside itself: " + "; ".join(found)
        )
