"""Basemaps on /map and /embed (issue 15) in Debian's chromium: none by default (no tile asked of
anyone); an intranet XYZ server and a WMTS one (KVP), both real local HTTP servers, chosen in
/map's side panel and asked for the right tiles; 天地图 (its ``_w`` layers and their labels, the
key in ``tk=``) answered by the test in place of the internet; a URL typed by the reader, checked;
an unreachable basemap told in Chinese without breaking the page; /embed?basemap=.
Screenshots: ``test-artifacts/screenshots/map_basemap*.png``.
"""

from __future__ import annotations

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from api_server import serve
from browser import screenshot, wait_for, wait_idle
from PIL import Image, ImageDraw
from range_server import _running

KEY = "0123456789abcdef0123456789abcdef"


def png(labels: bool) -> bytes:
    """A 256-pixel tile: a pale map with two roads, or (``labels``) a transparent one with a dark
    mark, as 天地图's label layers are (so the areas show through them)."""
    image = Image.new("RGBA", (256, 256), (0, 0, 0, 0) if labels else (226, 232, 218, 255))
    draw = ImageDraw.Draw(image)
    if labels:
        draw.rectangle((100, 120, 156, 134), fill=(40, 40, 40, 255))
    else:
        draw.line((0, 64, 256, 90), fill=(250, 250, 250, 255), width=6)
        draw.line((170, 0, 150, 256), fill=(246, 214, 150, 255), width=8)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


TILE, LABEL = png(False), png(True)


@pytest.fixture(scope="module")
def tiles():
    """A tile server standing for a county's intranet one: a PNG for any path but /missing/
    (404), every request's path and query recorded."""
    log: list[str] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            with lock:
                log.append(self.path)
            missing = self.path.startswith("/missing/")
            self.send_response(404 if missing else 200)
            self.send_header("Content-Type", "text/plain" if missing else "image/png")
            body = b"" if missing else TILE
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with _running(Handler) as base:
        yield base, log


@pytest.fixture(scope="module")
def site(loaded_engine, tiles):
    """The API with two intranet basemaps (XYZ and WMTS KVP), a broken one and 天地图."""
    base = tiles[0]
    basemaps = [
        {"id": "xyz", "name": "县影像（内网）", "url": base + "/xyz/{z}/{x}/{y}.png", "max_native_zoom": 17},
        {
            "id": "wmts",
            "name": "县矢量 WMTS",
            "url": base + "/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=vec&STYLE=default&TILEMATRIXSET=w"
            "&TILEMATRIX={TileMatrix}&TILEROW={TileRow}&TILECOL={TileCol}",
        },
        {"id": "broken", "name": "坏的底图", "url": base + "/missing/{z}/{x}/{y}.png"},
    ]
    with serve(loaded_engine, basemaps=json.dumps(basemaps), tianditu_key=KEY) as url:
        yield url


def open_map(browser, url: str, hash_: str = "level=grid&metric=online_rate"):
    page = browser.page(1366, 768)
    page.goto(f"{url}/map#{hash_}")
    wait_idle(page)
    return page


#: The tile under the map's centre at the zoom a tile layer asks for (z, x, y).
CENTRE_TILE = """(maxNative) => { const m = gm.map; const z = Math.min(Math.round(m.getZoom()), maxNative);
  const p = m.project(m.getCenter(), z).divideBy(256).floor(); return [z, p.x, p.y]; }"""


def choose(page, value: str) -> None:
    page.select_option("#gm-basemap", value)


def until(log: list[str], wanted: str, timeout: float = 30.0) -> None:
    """Until the tile server's log holds ``wanted``."""
    deadline = time.monotonic() + timeout
    while wanted not in log:
        assert time.monotonic() < deadline, f"{wanted} never asked: {log[:8]}"
        time.sleep(0.05)


def test_no_settings_no_basemap_and_no_tile_asked(api_url, browser):
    page = browser.page(1366, 768)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.resource_type == "image" else None)
    page.goto(f"{api_url}/map")
    wait_idle(page)
    # the select says 无底图; only a URL of the reader's own could be chosen (allowed by default)
    assert page.evaluate("document.getElementById('gm-basemap').value") == "none"
    assert page.evaluate("[...document.querySelectorAll('#gm-basemap option')].map(o => o.textContent)") == [
        "无底图（离线）",
        "自定义 XYZ/WMTS…",
    ]
    assert page.evaluate("document.querySelectorAll('.leaflet-tile-pane img, .gm-basemap-labels img').length") == 0
    assert [u for u in asked if not u.startswith(api_url)] == []
    assert "basemap=" not in page.evaluate("location.hash")
    assert page.evaluate("gm.state.basemapShown") is False
    page.context.close()


def test_intranet_xyz_basemap_loads_its_tiles_and_survives_reload(site, tiles, browser):
    base, log = tiles
    page = open_map(browser, site)
    assert page.evaluate("[...document.querySelectorAll('#gm-basemap option')].map(o => o.value)") == [
        "none",
        "tianditu_vec",
        "tianditu_img",
        "xyz",
        "wmts",
        "broken",
        "custom",
    ]
    assert log == []  # nothing asked before it is chosen
    choose(page, "xyz")
    z, x, y = page.evaluate(CENTRE_TILE, 17)
    until(log, f"/xyz/{z}/{x}/{y}.png")
    wait_for(
        page,
        "[...document.querySelectorAll('.gm-basemap-tiles img')].some(i => i.complete && i.naturalWidth === 256)",
        what="basemap tiles drawn",
    )
    assert all(p.startswith("/xyz/") for p in log)
    # the base layer under the areas, lighter fills over it, the choice in the hash
    assert page.evaluate(
        "document.querySelector('.gm-basemap-tiles').parentElement.classList.contains('leaflet-tile-pane')"
    )
    assert page.evaluate("gm.state.basemapShown && document.body.classList.contains('gm-with-basemap')")
    assert "basemap=xyz" in page.evaluate("location.hash")
    wait_idle(page)
    page.evaluate("document.getElementById('gm-side').scrollTop = document.getElementById('gm-basemap-card').offsetTop")
    screenshot(page, "map_basemap_xyz")
    # reloaded: the hash names it
    page.reload()
    wait_idle(page)
    assert page.evaluate("document.getElementById('gm-basemap').value") == "xyz"
    # opened again without the hash: remembered in localStorage
    page.goto(f"{site}/map#level=grid&metric=online_rate")
    wait_idle(page)
    assert page.evaluate("document.getElementById('gm-basemap').value") == "xyz"
    assert page.evaluate("document.querySelectorAll('.gm-basemap-tiles img').length") > 0
    # back to none: the tiles go, the fills are as before
    choose(page, "none")
    assert page.evaluate("document.querySelectorAll('.gm-basemap-tiles').length") == 0
    assert page.evaluate("gm.state.basemapShown") is False and "basemap=" not in page.evaluate("location.hash")
    page.context.close()


def test_wmts_kvp_template_asks_tilematrix_row_and_col(site, tiles, browser):
    base, log = tiles
    log.clear()
    page = open_map(browser, site)
    choose(page, "wmts")
    z, x, y = page.evaluate(CENTRE_TILE, 18)
    wait_for(page, "document.querySelectorAll('.gm-basemap-tiles img').length > 0", what="WMTS tiles")
    # what the page asks for: the tiles' own URLs (the server's log may lag behind the page)
    srcs = page.evaluate("[...document.querySelectorAll('.gm-basemap-tiles img')].map(i => i.src)")
    assert all(s.startswith(base + "/wmts?") for s in srcs), srcs[:3]
    asked = [parse_qs(urlsplit(p).query) for p in srcs]
    assert asked, log[:5]
    assert all(q["SERVICE"] == ["WMTS"] and q["TILEMATRIXSET"] == ["w"] for q in asked)
    cells = {(int(q["TILEMATRIX"][0]), int(q["TILECOL"][0]), int(q["TILEROW"][0])) for q in asked}
    assert (z, x, y) in cells, (z, x, y, sorted(cells)[:5])
    page.context.close()


def test_tianditu_imagery_asks_img_w_and_cia_w_with_the_key(site, browser):
    page = open_map(browser, site)
    answered: list[str] = []

    def fulfil(route) -> None:
        answered.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=LABEL if "/cia_w/" in route.request.url else TILE)

    page.route("https://*.tianditu.gov.cn/**", fulfil)
    choose(page, "tianditu_img")
    z, x, y = page.evaluate(CENTRE_TILE, 18)
    wait_for(page, "document.querySelectorAll('.gm-basemap-labels img').length > 0", what="the label layer")
    wait_idle(page)
    parsed = [urlsplit(u) for u in answered]
    assert {p.hostname for p in parsed} <= {f"t{i}.tianditu.gov.cn" for i in range(8)}
    layers = {p.path for p in parsed}
    assert layers == {"/img_w/wmts", "/cia_w/wmts"}, layers
    for p in parsed:
        q = parse_qs(p.query)
        assert q["tk"] == [KEY] and q["TILEMATRIXSET"] == ["w"] and q["LAYER"] == [p.path[1:4]]
    assert (str(z), str(x), str(y)) in {
        (q["TILEMATRIX"][0], q["TILECOL"][0], q["TILEROW"][0]) for q in (parse_qs(p.query) for p in parsed)
    }
    # the labels above the area fills (400) and below the outlines (420); the imagery under them
    z_index = page.evaluate(
        "['gm-areas', 'gm-basemap-labels', 'gm-outline'].map(n => Number(gm.map.getPane(n).style.zIndex))"
    )
    assert z_index == [400, 410, 420]
    assert page.evaluate("document.querySelector('.leaflet-control-attribution').textContent").find("天地图") >= 0
    screenshot(page, "map_basemap_tianditu")
    page.context.close()


def test_a_typed_url_is_checked_then_drawn(site, tiles, browser):
    base, log = tiles
    log.clear()
    page = open_map(browser, site)
    choose(page, "custom")
    assert page.is_visible("#gm-basemap-url")
    for bad, says in (
        ("ftp://10.0.0.1/{z}/{x}/{y}.png", "http"),
        (base + "/tile.png", "缺少瓦片占位符"),
        (base + "/{z}/{x}/{y}.png?s={Style}", "{Style}"),
    ):
        page.fill("#gm-basemap-url", bad)
        page.click("#gm-basemap-apply")
        assert page.is_visible("#gm-basemap-error") and says in page.text_content("#gm-basemap-error"), bad
    assert not [p for p in log if p.startswith("/own/")] and page.evaluate("gm.state.basemapShown") is False
    page.fill("#gm-basemap-url", base + "/own/{TileMatrix}/{TileCol}/{TileRow}.png")
    page.keyboard.press("Enter")
    wait_for(page, "document.querySelectorAll('.gm-basemap-tiles img').length > 0", what="the typed basemap")
    assert not page.is_visible("#gm-basemap-error")
    z, x, y = page.evaluate(CENTRE_TILE, 18)
    until(log, f"/own/{z}/{x}/{y}.png")
    assert "basemap=custom" in page.evaluate("location.hash")
    page.reload()
    wait_idle(page)
    assert page.evaluate("document.getElementById('gm-basemap').value") == "custom"
    assert page.evaluate("document.getElementById('gm-basemap-url').value") == base + "/own/{z}/{x}/{y}.png"
    page.context.close()


def test_an_unreachable_basemap_is_told_once_and_breaks_nothing(site, browser):
    page = open_map(browser, site)
    choose(page, "broken")
    notice = wait_for(
        page,
        "!document.getElementById('gm-notice').hidden && document.getElementById('gm-notice').textContent",
        what="the notice",
    )
    assert notice.startswith("底图无法加载：坏的底图"), notice
    # the page still works: another level draws
    page.evaluate("gm.setLevel(2)")
    wait_idle(page)
    assert page.evaluate("gm.layers.area.gmLayer") == "village" and page.evaluate("gm.state.basemap") == "broken"
    failed = [f for f in browser.failed if "/missing/" not in f]
    browser.failed.clear()
    assert failed == []
    page.context.close()


def test_embed_takes_a_basemap_parameter(site, tiles, browser):
    base, log = tiles
    log.clear()
    page = browser.page(1280, 720)
    page.goto(f"{site}/embed?layer=township&refresh=0&basemap=xyz")
    wait_for(page, "document.querySelectorAll('.gm-basemap-tiles img').length > 0", what="embed basemap")
    assert any(p.startswith("/xyz/") for p in log)
    assert page.evaluate("document.querySelector('#gm-basemap')") is None  # no select on a screen
    page.context.close()
    # none / default: nothing asked; an unknown one is refused with a stable code
    # (the page's own requests: the closed page's last tiles may still reach the server)
    page = browser.page(1280, 720)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    page.goto(f"{site}/embed?layer=township&refresh=0&basemap=none")
    wait_for(page, "document.querySelectorAll('.leaflet-gm-areas-pane canvas').length > 0", what="areas")
    assert page.evaluate("document.querySelectorAll('.gm-basemap-tiles').length") == 0
    assert [u for u in asked if u.startswith(base)] == [] and any("/tiles/township/" in u for u in asked)
    page.context.close()
    r = httpx.get(f"{site}/embed", params={"basemap": "osm"})
    assert r.status_code == 422 and r.json()["code"] == "unknown_basemap"
