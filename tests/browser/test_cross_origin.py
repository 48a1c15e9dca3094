"""A page on another origin draws gridmap's tiles with MapLibre GL JS, and cannot write.

The page is the README's example (section *Cross-origin use*), verbatim but for the server's
address and the token, served by a tiny static server on another 127.0.0.1 port (another origin).
It loads MapLibre from gridmap's /static/vendor, the TileJSON and the tiles with the token in the
``Authorization`` header (``transformRequest``), in the open mode and with
``GRIDMAP_READ_ACCESS=token``. MapLibre draws with WebGL: chromium runs with SwiftShader
(:data:`browser.WEBGL_ARGS`).

Checked: the micro-grids are drawn (the screenshot is not the blank background), ``feature-state``
on one feature id highlights exactly one micro-grid (with the numeric ids and with
``promoteId: 'code'``), and a cross-origin POST from the page fails (no CORS approval) without
changing anything.
"""

from __future__ import annotations

import http.server
import io
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from api_server import client, serve
from api_tokens import make_token
from browser import WEBGL_ARGS, playwright_browser, screenshot, wait_for
from conftest import loaded_database
from PIL import Image
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER_SERVER = "https://gridmap.example.cn"
PLACEHOLDER_TOKEN = "gm_EMBED_OR_VIEWER_TOKEN"
BACKGROUND = (0x0B, 0x1D, 0x33)


def readme_page() -> str:
    """The README's MapLibre example (the html block that loads maplibre-gl.mjs)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```html\n(.*?)```", readme, re.S) if "maplibre-gl.mjs" in b]
    assert len(blocks) == 1, "README: one MapLibre example"
    page = blocks[0]
    assert PLACEHOLDER_SERVER in page and PLACEHOLDER_TOKEN in page
    return page


@contextmanager
def static_site(html: str) -> Iterator[str]:
    """``html`` as /index.html of a static server on another port; yields its origin."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = html.encode()
            self.send_response(200 if self.path in ("/", "/index.html") else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def engine():
    _url, eng = loaded_database("gridmap_test_cross_origin")
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def chromium():
    with playwright_browser(WEBGL_ARGS) as b:
        yield b


def drawn_pixels(png: bytes) -> int:
    """Pixels of the screenshot that are not the page's background colour."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(n for n, colour in image.getcolors(image.width * image.height) if colour != BACKGROUND)


def loaded(page) -> int:
    return wait_for(
        page,
        """window.map && map.loaded() && map.areTilesLoaded()
           && map.queryRenderedFeatures({layers: ['microgrid']}).length""",
        60,
        "MapLibre to draw the micro-grids",
    )


def settle(page) -> None:
    """Until MapLibre has drawn what was just changed (two frames, then nothing left to load)."""
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    wait_for(page, "map.loaded() && map.areTilesLoaded()", 30, "MapLibre to settle")


#: How many distinct micro-grids (by code) on screen have ``selected`` in their feature state, for
#: a layer; and each feature's id type.
SELECTED = """(layer) => {
    const codes = new Set();
    for (const f of map.queryRenderedFeatures({layers: [layer]})) {
        if (f.state && f.state.selected) codes.add(f.properties.code);
    }
    return [...codes];
}"""


@pytest.mark.parametrize("mode", ["open", "token"])
def test_a_maplibre_page_on_another_origin_draws_the_micro_grids(engine, chromium, mode):
    token = make_token(engine, "embed") if mode == "token" else ""
    console: list[str] = []
    editor = make_token(engine, "editor", "411628001")
    with serve(engine, read_access=mode) as api:
        page_html = readme_page().replace(PLACEHOLDER_SERVER, api).replace(PLACEHOLDER_TOKEN, token)
        with static_site(page_html) as site:
            assert site.split(":")[-1] != api.split(":")[-1]  # another port: another origin
            page = chromium.page(1280, 800)
            page.goto(site + "/")
            features = loaded(page)
            assert features > 100, features
            assert page.evaluate("map.getSource('gridmap').tiles[0]").startswith(api + "/tiles/microgrid/")
            assert "token=" not in page.evaluate("map.getSource('gridmap').tiles[0]")  # it went in a header
            shot = screenshot(page, f"cross_origin_maplibre_{mode}")
            drawn = drawn_pixels(shot.read_bytes())
            assert drawn > 0.5 * 1280 * 800, drawn  # most of the screen is micro-grids, not background

            # feature-state on one id: exactly one micro-grid.
            ids = page.evaluate("""() => {
                const byCode = {};
                for (const f of map.queryRenderedFeatures({layers: ['microgrid']})) byCode[f.properties.code] = f.id;
                return byCode;
            }""")
            assert len(ids) > 100 and len(set(ids.values())) == len(ids)  # one id per code, as JavaScript reads them
            code = sorted(ids)[len(ids) // 2]
            page.evaluate(
                "(id) => map.setFeatureState({source: 'gridmap', sourceLayer: 'microgrid', id}, {selected: true})",
                ids[code],
            )
            settle(page)
            assert page.evaluate(SELECTED, "microgrid") == [code]
            after = screenshot(page, f"cross_origin_maplibre_{mode}_selected")
            changed = _changed(shot.read_bytes(), after.read_bytes())
            assert 0 < changed < 0.01 * 1280 * 800, changed  # one micro-grid's pixels, not seven

            # The same keyed by the code (promoteId), as the README suggests.
            page.evaluate(
                """(api) => {
                map.addSource('by-code', {type: 'vector', url: `${api}/tiles/microgrid.json`, promoteId: 'code'});
                map.addLayer({id: 'by-code', type: 'line', source: 'by-code', 'source-layer': 'microgrid',
                              paint: {'line-color': ['case', ['boolean', ['feature-state', 'selected'], false],
                                                     '#ff00ff', '#000000'], 'line-width': 1}});
            }""",
                api,
            )
            wait_for(
                page,
                "map.loaded() && map.areTilesLoaded() && map.queryRenderedFeatures({layers: ['by-code']}).length",
                60,
            )
            page.evaluate(
                "(id) => map.setFeatureState({source: 'by-code', sourceLayer: 'microgrid', id}, {selected: true})", code
            )
            settle(page)
            assert page.evaluate(SELECTED, "by-code") == [code]

            # Writing from the page fails: the preflight is refused, and a "simple" POST (no
            # preflight) is answered without CORS, so the page learns nothing.
            with engine.connect() as conn:
                revision = conn.execute(text("SELECT revision FROM data_revision")).scalar_one()
                online = conn.execute(
                    text("SELECT device_id FROM camera WHERE online AND area_code LIKE '411628001%' ORDER BY 1 LIMIT 1")
                ).scalar_one()
            # A page of its own, without playwright's request interception: with it, playwright
            # answers CORS preflights itself and the browser would send the POST.
            plain = chromium.browser.new_context()
            writer = plain.new_page()
            writer.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            writer.goto(site + "/nothing-here")
            outcomes = writer.evaluate(
                """async ([api, editor, online]) => {
                const tries = [
                    fetch(`${api}/api/v1/cameras/status`, {method: 'POST',
                          headers: {Authorization: `Bearer ${editor}`, 'Content-Type': 'application/json'},
                          body: JSON.stringify({reports: [{device_id: online, online: false}]})}),
                    fetch(`${api}/api/v1/cameras/status`, {method: 'POST', body: `device_id,online\n${online},0`}),
                ];
                return Promise.all(tries.map(p => p.then(r => `answered ${r.status}`, e => e.name)));
            }""",
                [api, editor, online],
            )
            assert outcomes == ["TypeError", "TypeError"], outcomes
            plain.close()
            with engine.connect() as conn:
                assert conn.execute(text("SELECT revision FROM data_revision")).scalar_one() == revision
                assert conn.execute(text("SELECT online FROM camera WHERE device_id = :d"), {"d": online}).scalar_one()
            # … which the same request from a program does change (the refusal is CORS, not the request).
            with client(api, editor) as program:
                r = program.post("/api/v1/cameras/status", json={"reports": [{"device_id": online, "online": False}]})
                assert r.status_code == 200, r.text
            with engine.connect() as conn:
                assert not conn.execute(
                    text("SELECT online FROM camera WHERE device_id = :d"), {"d": online}
                ).scalar_one()
            # The read API is readable from the page (a viewer token in token mode).
            viewer = make_token(engine, "viewer") if mode == "token" else ""
            summary = page.evaluate(
                """async ([api, token]) => {
                const r = await fetch(`${api}/api/v1/summary`, token ? {headers: {Authorization: `Bearer ${token}`}} : {});
                return [r.status, (await r.json()).code || 'ok'];
            }""",
                [api, viewer],
            )
            assert summary == [200, "ok"], summary
            page.context.close()
    assert not chromium.external, chromium.external
    assert not chromium.errors, chromium.errors
    chromium.failed.clear()
    # The two refused writes, as the browser reports them: the preflight refused, the simple POST unreadable.
    refused = [e for e in console if "/api/v1/cameras/status" in e and "blocked by CORS policy" in e]
    assert len(refused) == 2 and sum("preflight" in e for e in refused) == 1, console


def _changed(before: bytes, after: bytes) -> int:
    """Pixels that differ between two screenshots of one size."""
    a, b = (np.asarray(Image.open(io.BytesIO(png)).convert("RGB")) for png in (before, after))
    return int((a != b).any(axis=2).sum())
