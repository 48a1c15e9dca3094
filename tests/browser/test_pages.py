"""The pages (/map, /embed, /upload) in Debian's chromium, driven by playwright.

Every request a page makes to a host other than this machine is aborted and recorded; each test
ends by asserting there were none (the pages must work on an intranet with no internet). The
read-only map tests use the shared session server (``api_url``); the embed test (which bumps the
data revision), the upload tests and the escaping test use a database and servers of their own.
Screenshots go to ``test-artifacts/screenshots/`` (look at them: they are the pages' review).

No skipping: without /usr/bin/chromium these tests fail and say how to install it.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import time

import httpx
import pytest
from api_server import serve
from browser import defective_boundary_file, representative_point, screenshot, wait_for, wait_idle
from conftest import DATA_DIR, loaded_database
from sqlalchemy import text

from gridmap.api.routers.pages import script_json
from gridmap.db.tokens import create_token
from gridmap.geometry.report import KINDS, SEVERITIES
from gridmap.io.boundary_formats import UPLOAD_EXTENSIONS as BOUNDARY_EXTENSIONS
from gridmap.io.tables import UPLOAD_EXTENSIONS as CAMERA_EXTENSIONS
from gridmap.levels import LEVELS
from gridmap.maps.coverage_map import METRICS, NO_DATA, RATE_CLASSES, TARGET

# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def own_engine():
    """A database of our own with the sample county (the tests here write)."""
    _url, eng = loaded_database("gridmap_test_pages")
    yield eng
    eng.dispose()


def token(engine, role: str, scope: str | None = None) -> str:
    with engine.begin() as conn:
        secret, _ = create_token(
            conn,
            name=f"pages-{role}-{time.monotonic_ns()}",
            role=role,
            scope=scope,
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        )
    return secret


def page_config(html: str) -> dict:
    """The JSON config block of a page."""
    return json.loads(re.search(r'<script type="application/json" id="gm-config">(.*?)</script>', html, re.S).group(1))


#: Runs in the page: common.js as the page's modules imported it (the same URL, so the same module).
COMMON = "await import('/static/js/common.js')"


def map_click(page, lon: float, lat: float) -> None:
    """Click the map where (lon, lat) is, as a person would (projected with the map's own maths)."""
    point = page.evaluate(
        f"(() => {{ const p = gm.map.latLngToContainerPoint([{lat}, {lon}]); "
        f"const r = gm.map.getContainer().getBoundingClientRect(); "
        f"return [r.left + p.x, r.top + p.y]; }})()"
    )
    page.mouse.click(point[0], point[1])


# ------------------------------------------------------------------------------------ without a browser


def test_pages_are_served_with_their_assets_and_a_strict_policy(http):
    for path in ("/map", "/upload", "/embed?layer=village&metric=rollout_rate&theme=light&refresh=0"):
        r = http.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        assert r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "connect-src 'self'" in csp and "script-src 'self'" in csp
        config = page_config(r.text)
        assert [lv["name"] for lv in config["levels"]] == ["县", "乡镇/街道", "村/社区", "网格", "微网格"]
        assert "http://" not in r.text.replace("http://www.w3.org", "") and "https://" not in r.text
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', r.text):
            assert http.get(asset).status_code == 200, asset
        # The page's JavaScript is one ES module (it imports common.js), after Leaflet's classic scripts.
        modules = re.findall(r'<script type="module" src="/static/js/(\w+)\.js\?v=\w+"></script>', r.text)
        assert modules == [path.split("?")[0].strip("/")], modules
        assert r.text.index("leaflet.js") < r.text.index("vectorgrid-shim.js") < r.text.index('type="module"')
        assert "__GM_" not in r.text
    # A versioned asset may be cached as before; an unversioned one (a module imported by relative
    # URL) is revalidated each time, so a new page module never runs with an old common.js.
    assert "cache-control" not in http.get("/static/js/map.js?v=1").headers
    common = http.get("/static/js/common.js")
    assert common.headers["cache-control"] == "no-cache" and "javascript" in common.headers["content-type"]
    assert http.get("/static/js/common.js", headers={"If-None-Match": common.headers["etag"]}).status_code == 304
    embed = http.get("/embed?layer=village&metric=rollout_rate&theme=light&refresh=0").text
    assert '"layer":"village"' in embed and '"metric":"rollout_rate"' in embed and '"refresh":0' in embed
    assert http.get("/embed?layer=nothing").status_code == 422
    assert http.get("/embed?metric=nothing").status_code == 422
    # frame-able by big-screen pages, the others only by this server's pages
    assert "frame-ancestors *" in http.get("/embed").headers["content-security-policy"]
    assert "frame-ancestors 'self'" in http.get("/upload").headers["content-security-policy"]
    for vendored in (
        "/static/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.min.js",
        "/static/vendor/leaflet.vectorgrid/LICENSE",
        "/static/leaflet/leaflet.js",
        "/static/leaflet/LICENSE",
        "/static/leaflet/images/layers.png",
    ):
        assert http.get(vendored).status_code == 200, vendored
    assert http.get("/static/../config.py").status_code == 404


def test_the_page_config_carries_the_vocabulary_defined_in_python(http):
    """Levels, metrics, legend classes, finding kinds and severities, and upload extensions are
    defined once, in Python: the pages read them from their config (common.js has no copy)."""
    for path in ("/map", "/upload", "/embed"):
        config = page_config(http.get(path).text)
        assert config["levels"] == [
            {"level": lv.number, "key": lv.key, "name": lv.name_zh, "codeLength": lv.code_length} for lv in LEVELS
        ]
        assert config["rateClasses"] == [
            {"key": c.key, "label": c.label, "lower": c.lower, "upper": c.upper, "colour": c.colour}
            for c in RATE_CLASSES
        ]
        assert config["noData"] == {
            "key": "none",
            "label": NO_DATA.label,
            "lower": None,
            "upper": None,
            "colour": NO_DATA.colour,
        }
        assert config["target"] == TARGET
        assert list(config["metrics"]) == list(METRICS)
        for key, m in METRICS.items():
            assert config["metrics"][key] == {
                "key": key,
                "label": m.label,
                "formula": m.formula,
                "numerator": m.numerator,
                "denominator": m.denominator,
                "noData": m.no_data,
            }
        assert {k: (v["label"], v["severity"], v["colour"]) for k, v in config["kinds"].items()} == {
            k: tuple(kind) for k, kind in KINDS.items()
        }
        assert config["severities"] == SEVERITIES == {"error": "错误", "warning": "警告"}
        extensions = {"boundary": list(BOUNDARY_EXTENSIONS), "cameras": list(CAMERA_EXTENSIONS)}
        assert config["uploadExtensions"] == extensions
    # The file input's accept list (the boundary tab, before any script runs) is the server's too.
    upload = http.get("/upload").text
    assert re.search(r'id="gm-file"[^>]*accept="([^"]*)"', upload).group(1) == ",".join(BOUNDARY_EXTENSIONS)
    assert ".zip" in BOUNDARY_EXTENSIONS and ".shp" not in BOUNDARY_EXTENSIONS and ".xlsx" in CAMERA_EXTENSIONS
    # The JavaScript keeps no copy of its own.
    common, upload_js = http.get("/static/js/common.js").text, http.get("/static/js/upload.js").text
    assert "#d7191c" not in common and "'已安装 / 计划'" not in common
    assert "'.zip" not in upload_js and "'错误'" not in upload_js


def test_config_json_cannot_close_its_script_element():
    hostile = {"basemap": "</script><script>alert(1)</script>", "name": "a&b\u2028"}
    text_ = script_json(hostile)
    assert "<" not in text_ and ">" not in text_ and "&" not in text_ and "\u2028" not in text_
    assert json.loads(text_) == hostile


def test_basemap_setting_reaches_the_page_and_its_policy(loaded_engine):
    url = "http://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=KEY"
    with serve(loaded_engine, basemap_url=url, basemap_attribution="天地图", basemap_custom=False) as base:
        r = httpx.get(base + "/map")
    config = json.loads(re.search(r'id="gm-config">(.*?)</script>', r.text, re.S).group(1))
    # GRIDMAP_BASEMAP_URL is one basemap of the list (id "basemap"), and the one shown first
    assert config["basemap"]["basemaps"] == [
        {
            "id": "basemap",
            "name": "天地图",
            "url": url,
            "labels": None,
            "attribution": "天地图",
            "subdomains": "01234567",
            "maxNativeZoom": 18,
        }
    ]
    assert config["basemap"]["default"] == "basemap" and config["basemap"]["custom"] is False
    assert "img-src 'self' data: blob: http://*.tianditu.gov.cn" in r.headers["content-security-policy"]


# ------------------------------------------------------------------------------------ /map


def test_map_shows_areas_selects_switches_and_searches(api_url, loaded_engine, browser):
    page = browser.page(1920, 1080)
    page.goto(api_url + "/map")
    wait_idle(page)

    # One set of legend classes: common.js classes by the exported maps' ones (from the page config),
    # and it is a module: nothing is left in a global GM.
    assert page.evaluate("typeof window.GM") == "undefined"
    classes = page.evaluate(
        f"async () => {{ const c = {COMMON}; "
        "return c.RATE_CLASSES.concat([c.NO_DATA]).map(k => [k.key, k.lower, k.upper, k.colour]); }"
    )
    assert classes == [[c.key, c.lower, c.upper, c.colour] for c in (*RATE_CLASSES, NO_DATA)]
    assert page.evaluate(
        f"async () => {{ const c = {COMMON}; return [c.classOfCounts(95, 100).key, c.classOfCounts(9499, 10000).key, "
        "c.classOfCounts(0, 0).key, c.classOfRate(0.95).key, c.classOfRate(null).key]; }"
    ) == ["95_98", "90_95", "none", "95_98", "none"]

    # The grid tiles are drawn: features decoded from the vector tiles, painted on canvases.
    assert page.evaluate("gm.layers.area.gmLayer") == "grid"
    drawn = page.evaluate("""(() => { const t = gm.layers.area._vectorTiles; const codes = new Set();
        Object.values(t).forEach(r => Object.keys(r._features).forEach(c => codes.add(c))); return codes.size; })()""")
    assert drawn > 1000, drawn
    assert page.evaluate("gm.state.viewSummary.level") == 3
    assert "网格" in page.text_content("#gm-view-title")
    screenshot(page, "map_county_grid")

    # Click a grid: its code, name and figures in the side panel, its micro-grids listed.
    code, lon, lat = representative_point(loaded_engine, 3)
    with loaded_engine.connect() as conn:
        name, households = conn.execute(text("SELECT name, households FROM area WHERE code = :c"), {"c": code}).one()
    page.evaluate(f"gm.map.setView([{lat}, {lon}], 14, {{animate: false}})")
    wait_idle(page)
    map_click(page, lon, lat)
    wait_for(page, f"document.getElementById('gm-area-code').textContent === '{code}'", 15, "the clicked grid's panel")
    wait_idle(page)
    assert page.text_content("#gm-area-name") == name
    assert f"{households:,}" in page.text_content("#gm-area-facts")
    assert page.text_content("#gm-area-level") == "网格"
    assert page.locator("#gm-area-children .gm-child").count() > 0
    assert page.evaluate("location.hash").endswith(f"area={code}")
    screenshot(page, "map_grid_selected")

    # 安装率: the same features, re-coloured by their rollout class.
    page.click("#gm-metrics [data-value=rollout_rate]")
    assert page.get_attribute("#gm-metrics [data-value=rollout_rate]", "aria-checked") == "true"
    assert "安装率" in page.text_content("#gm-legend")
    mismatches = page.evaluate(f"""async () => {{ const c = {COMMON}; let bad = 0, n = 0;
        Object.values(gm.layers.area._vectorTiles).forEach(r => Object.values(r._features).forEach(f => {{
          n++; if (f.feature.options.fillColor !== c.rateClass(f.feature.properties, 'rollout_rate').colour) bad++; }}));
        return [bad, n]; }}""")
    assert mismatches[0] == 0 and mismatches[1] > 0, mismatches

    # A child in the panel flies there and opens it.
    child = page.get_attribute("#gm-area-children .gm-child >> nth=0", "data-code")
    page.click("#gm-area-children .gm-child >> nth=0")
    wait_for(page, f"document.getElementById('gm-area-code').textContent === '{child}'", 15, "the child's panel")

    # 村/社区: the village tiles and the view's figures for villages.
    page.click("#gm-levels [data-value='2']")
    wait_idle(page)
    assert page.evaluate("gm.layers.area.gmLayer") == "village"
    wait_for(page, "gm.state.viewSummary && gm.state.viewSummary.level === 2", 10, "the village summary")
    assert "村/社区" in page.text_content("#gm-view-title")

    # Search by name: the list, Enter, the map flies to the area and opens its panel.
    with loaded_engine.connect() as conn:
        town_code, town_name, box = conn.execute(
            text("SELECT code, name, ST_AsText(ST_Centroid(geom)) FROM area WHERE level = 1 ORDER BY code DESC LIMIT 1")
        ).one()
    page.fill("#gm-search-input", town_name)
    wait_for(page, f"!!document.querySelector('#gm-search-list [data-code=\"{town_code}\"]')", 10, "search results")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    wait_for(page, f"document.getElementById('gm-area-code').textContent === '{town_code}'", 15, "the found area")
    wait_idle(page)
    lon_c, lat_c = (float(v) for v in re.findall(r"[-\d.]+", box))
    assert page.evaluate(f"gm.map.getBounds().contains([{lat_c}, {lon_c}])")
    screenshot(page, "map_search_township")

    # Cameras, coloured by state, near the grid clicked above.
    page.evaluate(f"gm.map.setView([{lat}, {lon}], 15, {{animate: false}})")
    page.check("#gm-cameras")
    wait_idle(page)
    states = page.evaluate(f"""async () => {{ const c = {COMMON}; const s = {{}};
        Object.values(gm.layers.cameras._vectorTiles).forEach(r => Object.values(r._features).forEach(f => {{
          const k = c.cameraState(f.feature.properties); s[k] = (s[k] || 0) + 1; }}));
        return s; }}""")
    assert states.get("online", 0) > 0, states
    assert "在线" in page.text_content("#gm-legend")
    with loaded_engine.connect() as conn:
        device, cam_lon, cam_lat = conn.execute(
            text(
                "SELECT device_id, ST_X(geom), ST_Y(geom) FROM camera WHERE status = 'installed' AND online "
                "ORDER BY geom <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) LIMIT 1"
            ),
            {"lon": lon, "lat": lat},
        ).one()
    map_click(page, cam_lon, cam_lat)
    wait_for(page, "!!document.querySelector('.gm-camera-pop')", 10, "the camera's popup")
    assert device in page.text_content(".gm-camera-pop") and "在线" in page.text_content(".gm-camera-pop")
    # the camera's area by name (each name short inside its parent), not by an 18-digit code alone
    with loaded_engine.connect() as conn:
        leaf, leaf_name, town = conn.execute(
            text(
                "SELECT c.area_code, a.name, t.name FROM camera c JOIN area a ON a.code = c.area_code "
                "JOIN area t ON t.code = left(c.area_code, 9) WHERE c.device_id = :d"
            ),
            {"d": device},
        ).one()
    wait_for(page, "document.querySelector('.gm-camera-pop').textContent.includes(' › ')", 10, "the area's names")
    pop = page.text_content(".gm-camera-pop")
    assert town in pop and leaf in pop and leaf_name.split("网格")[-1] in pop
    # in a dense camera area the click may have meant the area: one button opens it
    page.click(".gm-camera-area")
    wait_for(
        page,
        f"(() => {{ const c = document.getElementById('gm-area-code').textContent;"
        f" return c && c !== '{town_code}' && location.hash.endsWith('area=' + c); }})()",
        10,
        "the area panel",
    )
    assert leaf.startswith(page.text_content("#gm-area-code"))  # the area of the coloured level holding it
    screenshot(page, "map_cameras")
    page.context.close()


def test_map_fits_a_laptop_screen(api_url, browser):
    page = browser.page(1366, 768)
    page.goto(api_url + "/map#level=township&metric=rollout_rate")
    wait_idle(page)
    assert page.evaluate("gm.layers.area.gmLayer") == "township"
    for selector in ("#gm-search-input", "#gm-levels", "#gm-metrics", "#gm-legend", "#gm-view", "#gm-link-upload"):
        box = page.locator(selector).bounding_box()
        assert (
            box
            and box["x"] >= 0
            and box["y"] >= 0
            and box["x"] + box["width"] <= 1366
            and box["y"] + box["height"] <= 768
        ), (selector, box)
    toolbar, legend = page.locator("#gm-toolbar").bounding_box(), page.locator("#gm-legend").bounding_box()
    assert toolbar["y"] + toolbar["height"] < legend["y"]
    screenshot(page, "map_laptop_township")
    page.context.close()


def test_api_docs_render_from_vendored_swagger_ui(api_url, browser):
    """/docs works on an intranet: Swagger UI comes from the package, and it lists our endpoints."""
    page = browser.page()
    page.goto(api_url + "/docs")
    wait_for(page, "document.querySelectorAll('.opblock').length > 10", what="Swagger UI to list the endpoints")
    paths = page.evaluate("[...document.querySelectorAll('.opblock-summary-path')].map(e => e.textContent)")
    assert "/healthz" in paths and "/api/v1/areas" in paths and "/api/v1/uploads/boundaries" in paths
    screenshot(page, "docs")
    # Authorize offers both ways a token travels: the bearer header and ?token= (tiles, pages).
    page.locator(".btn.authorize").first.click()
    wait_for(page, "document.querySelectorAll('.auth-container').length >= 2", what="the Authorize dialog")
    dialog = page.locator(".modal-ux").inner_text()
    assert "token" in dialog and "token_in_url" in dialog and "Bearer" in dialog
    screenshot(page, "docs_authorize")
    page.context.close()


# ------------------------------------------------------------------------------------ /embed


def test_embed_with_an_embed_token_refreshes_when_the_data_changes(own_engine, browser):
    from gridmap.db.revisions import current_revision
    from gridmap.services.cameras import apply_status_reports

    secret = token(own_engine, "embed")
    with own_engine.connect() as conn:
        county = conn.execute(
            text(
                "SELECT a.name, s.planned, s.installed, s.online FROM area a "
                "JOIN area_stats s USING (code) WHERE a.level = 0"
            )
        ).one()
    with serve(own_engine, read_access="token") as base:
        assert httpx.get(base + "/embed").status_code == 401  # the page itself needs the token
        assert httpx.get(base + "/map", params={"token": secret}).status_code == 403  # embed: /embed only
        page = browser.page(1920, 1080)
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{base}/embed?layer=grid&metric=online_rate&theme=dark&refresh=600&token={secret}")
        wait_idle(page)
        wait_for(page, "!!gm.state.summary", 15, "the figures")
        tiles = [u for u in requests if ".mvt" in u]
        assert tiles and all(f"token={secret}" in u for u in tiles), tiles[:3]
        assert page.evaluate("gm.state.summarySource") == "api"  # an embed token reads /api/v1/map/screen
        stats = page.text_content("#gm-embed-stats")
        assert f"{county.installed:,}" in stats and f"{county.online:,}" in stats and f"{county.planned:,}" in stats
        assert f"{county.online / county.installed * 100:.2f}%" in stats
        assert page.text_content("#gm-embed-county") == county.name
        assert "gm-embed-dark" in page.get_attribute("body", "class")
        assert page.locator(".leaflet-control-zoom").count() == 0
        screenshot(page, "embed_dark_grid")

        # A camera goes offline: the screen shows it soon after the report is acknowledged: the event
        # stream brings it, not the 10-minute polling (typically well under a second; the bound is
        # loose so that a loaded 2-core machine does not fail it, and still far below the polling).
        with own_engine.connect() as conn:
            device = conn.execute(
                text("SELECT device_id FROM camera WHERE online ORDER BY device_id LIMIT 1")
            ).scalar_one()
        assert apply_status_reports(own_engine, [{"device_id": device, "online": False}]).applied == 1
        acknowledged = time.monotonic()
        with own_engine.connect() as conn:
            new_revision = current_revision(conn)
        shown = f"{county.online - 1:,}"
        wait_for(
            page,
            f"document.querySelector('#gm-embed-stats').textContent.includes({shown!r})",
            20,
            "the new figures from the event stream",
        )
        assert time.monotonic() - acknowledged < 20
        assert page.evaluate("gm.state.revision") == new_revision
        wait_idle(page)
        assert any(f"v={new_revision}" in u for u in requests if ".mvt" in u), "tiles not re-read after the change"
        assert str(new_revision) in page.text_content("#gm-embed-status")
        page.context.close()


# ------------------------------------------------------------------------------------ /upload


def test_upload_shows_the_defects_of_a_boundary_file_and_refuses_to_publish(own_engine, browser, tmp_path):
    path, village, moved = defective_boundary_file(own_engine, tmp_path)
    secret = token(own_engine, "editor", scope=village[:9])
    with serve(own_engine) as base:
        page = browser.page(1920, 1080)
        page.goto(base + "/upload")
        page.fill("#gm-token", secret)
        page.set_input_files("#gm-file", str(path))
        page.click("#gm-submit")
        wait_for(page, "!!document.getElementById('gm-verdict')", 60, "the validation report")
        assert "校验未通过" in page.text_content("#gm-verdict")
        overlaps = page.locator(".gm-issue[data-kind=overlap][data-severity=error]")
        assert overlaps.count() > 0
        assert moved in overlaps.first.text_content() and "重叠" in overlaps.first.text_content()
        assert page.is_disabled("#gm-publish")
        assert "错误" in page.text_content("#gm-publish-why")
        # the defects on the map, coloured by kind
        shapes = page.evaluate("""(() => { const out = []; gmUpload.defectLayer.eachLayer(l => out.push(
            [l.feature.properties.kind, l.options.color])); return out; })()""")
        kinds = {k for k, _ in shapes}
        assert "overlap" in kinds and ["overlap", "#d7191c"] in shapes
        assert page.locator("#gm-defect-map path.leaflet-interactive").count() >= len(shapes) > 0
        overlaps.first.click()
        time.sleep(1.0)
        screenshot(page, "upload_boundary_defects")

        # the token is remembered in this browser
        page.reload()
        assert page.input_value("#gm-token") == secret
        page.context.close()


def test_upload_publishes_a_clean_file_and_reports_camera_rows(own_engine, browser, tmp_path):
    path, village, _ = defective_boundary_file(own_engine, tmp_path, shift_m=0)
    secret = token(own_engine, "editor", scope=village[:9])
    with open(DATA_DIR / "luyi_cameras.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    header, good = rows[0], [r for r in rows[1:] if r[4].startswith(village[:9])][:2]
    bad = list(good[0])
    bad[0] = "4116280001131800000X"  # not a 20-digit id
    cameras = tmp_path / "cameras.csv"
    with open(cameras, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows([header, *good, bad])
    with serve(own_engine) as base:
        page = browser.page(1920, 1080)
        page.goto(base + "/upload")
        page.fill("#gm-token", secret)
        page.set_input_files("#gm-file", str(path))
        page.click("#gm-submit")
        wait_for(page, "!!document.getElementById('gm-verdict')", 60, "the validation report")
        assert "校验通过" in page.text_content("#gm-verdict")
        assert page.is_enabled("#gm-publish")
        page.click("#gm-publish")
        wait_for(page, "!!(gmUpload.publish && (gmUpload.publish.version || gmUpload.publish.code))", 60, "publishing")
        assert page.evaluate("gmUpload.publish.published") is True, page.text_content("#gm-publish-why")
        assert "已发布" in page.text_content("#gm-published")
        assert page.is_disabled("#gm-publish") or "已发布" in page.text_content("#gm-publish-why")

        page.click("#gm-tab-cameras")
        assert page.get_attribute("#gm-file", "accept") == ",".join(CAMERA_EXTENSIONS)  # the server's list
        page.set_input_files("#gm-file", str(cameras))
        page.click("#gm-submit")
        wait_for(page, "!!document.getElementById('gm-verdict')", 60, "the import report")
        assert "部分导入" in page.text_content("#gm-verdict")
        rejected = page.locator("#gm-rejected tbody tr")
        assert rejected.count() == 1 and "4" in rejected.first.locator("td").first.text_content()
        assert page.evaluate("gmUpload.result.imported") == 2
        screenshot(page, "upload_camera_report")
        page.context.close()


def test_data_strings_are_shown_as_text_never_as_html(own_engine, browser):
    hostile = '<img src=x onerror="window.__owned=1">网格<b>粗</b>'
    code, lon, lat = representative_point(own_engine, 3)
    with own_engine.begin() as conn:
        conn.execute(text("UPDATE area SET name = :n WHERE code = :c"), {"n": hostile, "c": code})
    try:
        with serve(own_engine) as base:
            page = browser.page(1600, 900)
            page.goto(f"{base}/map#level=grid&area={code}")
            wait_for(page, f"document.getElementById('gm-area-code').textContent === '{code}'", 20, "the panel")
            wait_idle(page)
            assert page.text_content("#gm-area-name") == hostile
            assert page.locator("#gm-area img, #gm-area b").count() == 0
            page.fill("#gm-search-input", code)
            wait_for(page, f"!!document.querySelector('#gm-search-list [data-code=\"{code}\"]')", 10, "search")
            assert page.locator("#gm-search-list img").count() == 0
            assert page.evaluate("window.__owned") is None
            page.context.close()
    finally:
        with own_engine.begin() as conn:
            conn.execute(text("UPDATE area SET name = '恢复' WHERE code = :c"), {"c": code})
