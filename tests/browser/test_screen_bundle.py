"""The offline screen bundle (``gridmap export-screen``) and /map on an offline package, in Debian's
chromium.

The bundle's folder is served by Python's own static server (no range requests) with no gridmap
server for the page: index.html (/embed for micro-grids) draws every micro-grid with the county's
figures and map.html (the one-map page) switches levels and shows an area's tile properties, and
no request leaves the static server. /map?package=<URL> on the gridmap server draws from the
package with no request to /tiles or /api. Screenshots: ``test-artifacts/screenshots/screen_*.png``.
"""

from __future__ import annotations

import pytest
from browser import representative_point, screenshot, wait_for, wait_idle
from range_server import serve_files, serve_static
from sqlalchemy import text

from gridmap.config import get_settings
from gridmap.maps.screen import PACKAGE_NAME, ScreenOptions, export_screen

#: Requests to these are the live server's: an offline page makes none of them.
LIVE = ("/tiles", "/healthz", "/events/", "/api/")
OFFLINE_NOTE = "离线数据包：搜索和详情需要连接服务器"


@pytest.fixture(scope="module")
def bundle(loaded_engine, tmp_path_factory):
    folder = tmp_path_factory.mktemp("usb") / "screen"
    options = ScreenOptions(level="microgrid", metric="online_rate", theme="dark")
    export_screen(loaded_engine, folder, options, get_settings(), minzoom=0, maxzoom=12)
    return folder


@pytest.fixture(scope="module")
def figures(loaded_engine):
    """name, planned, installed, online, revision of the county; the micro-grid count."""
    with loaded_engine.connect() as conn:
        county = conn.execute(
            text(
                "SELECT a.name, s.planned, s.installed, s.online, r.revision FROM area a "
                "JOIN area_stats s USING (code) CROSS JOIN data_revision r WHERE a.level = 0"
            )
        ).one()
        microgrids = conn.execute(text("SELECT count(*) FROM area WHERE level = 4")).scalar_one()
    return county, microgrids


def _open(browser, url: str, ready: str):
    page = browser.page(1920, 1080)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    wait_for(page, ready, 30, "the package to open")
    wait_idle(page)
    return page, requests


def _point(page, lon: float, lat: float) -> tuple[float, float]:
    return page.evaluate(
        f"(() => {{ const p = gm.map.latLngToContainerPoint([{lat}, {lon}]); "
        f"const r = gm.map.getContainer().getBoundingClientRect(); "
        f"return [r.left + p.x, r.top + p.y]; }})()"
    )


def test_the_bundle_draws_every_micro_grid_from_a_plain_static_server(browser, bundle, figures):
    county, microgrids = figures
    with serve_static(bundle) as (site, served):
        page, requests = _open(browser, f"{site}/", "!!(window.gm && gm.state.package)")
        assert page.evaluate("gm.layers.area.gmFeatures.size") == microgrids
        stats = page.text_content("#gm-embed-stats")
        for value in (county.planned, county.installed, county.online):
            assert f"{value:,}" in stats, (value, stats)
        rate = f"{100 * county.online / county.installed:.2f}%"
        assert rate in stats, (rate, stats)
        assert page.text_content("#gm-embed-county") == county.name
        status = page.text_content("#gm-embed-status")
        assert f"离线数据包 {PACKAGE_NAME}" in status and f"数据版本 {county.revision}" in status
        screenshot(page, "screen_bundle_microgrid")
        page.context.close()
    assert requests and all(u.startswith(site + "/") for u in requests), [u for u in requests if site not in u]
    assert any(line.startswith(f"GET /{PACKAGE_NAME}") for line in served)


def test_the_bundles_map_page_switches_levels_and_shows_tile_properties(browser, bundle, figures, loaded_engine):
    county, _microgrids = figures
    code, lon, lat = representative_point(loaded_engine, 1)
    with loaded_engine.connect() as conn:
        town = conn.execute(
            text(
                "SELECT a.name, s.planned, s.installed, s.online FROM area a JOIN area_stats s USING (code) "
                "WHERE a.code = :code"
            ),
            {"code": code},
        ).one()
    with serve_static(bundle) as (site, _served):
        page, requests = _open(browser, f"{site}/map.html#level=village", "!!(window.gm && gm.state.started)")
        assert page.evaluate("gm.layers.area.gmLayer") == "village"
        assert page.evaluate("gm.layers.area.gmFeatures.size") > 300
        assert page.text_content("#gm-county-name") == county.name
        assert page.is_disabled("#gm-search-input")
        assert page.get_attribute("#gm-search-input", "placeholder") == OFFLINE_NOTE
        assert f"数据版本 {county.revision}" in page.text_content(".gm-side-foot")

        page.click("#gm-levels [data-value='1']")  # 乡镇
        wait_for(page, "gm.layers.area.gmLayer === 'township'", 10)
        wait_idle(page)
        assert page.evaluate("gm.layers.area.gmFeatures.size") == 24
        # The view's figures, summed from the tiles: the whole county is on screen.
        kpis = page.text_content("#gm-view-kpis")
        assert f"{county.installed:,}" in kpis and f"{county.online:,}" in kpis, kpis
        assert "24 个" in page.text_content("#gm-view-title")

        x, y = _point(page, lon, lat)
        page.mouse.move(x, y)
        wait_for(page, "!document.getElementById('gm-hover').hidden", 5, "the hover box")
        assert town.name in page.text_content("#gm-hover")
        page.mouse.click(x, y)
        wait_for(page, "!document.getElementById('gm-area').hidden", 5, "the area card")
        assert page.text_content("#gm-area-name") == town.name
        assert page.text_content("#gm-area-code") == code
        area = page.text_content("#gm-area-kpis")
        assert f"{town.installed:,}" in area and f"{town.online:,}" in area and f"{town.planned:,}" in area
        assert OFFLINE_NOTE in page.text_content("#gm-area-children")
        assert f"area={code}" in page.evaluate("location.hash")

        page.click("#gm-metrics [data-value='rollout_rate']")
        wait_idle(page)
        assert "安装率" in page.text_content("#gm-legend")
        screenshot(page, "screen_bundle_map_township")
        page.context.close()
    assert requests and all(u.startswith(site + "/") for u in requests), [u for u in requests if site not in u]


def test_map_page_draws_from_a_package_url_without_asking_the_server(api_url, browser, bundle):
    with serve_files(bundle) as (files, _served):
        page, requests = _open(
            browser, f"{api_url}/map?package={files}/{PACKAGE_NAME}#level=grid", "!!(window.gm && gm.state.started)"
        )
        assert page.evaluate("gm.layers.area.gmFeatures.size") > 1000
        page.click("#gm-levels [data-value='2']")  # 行政村
        wait_for(page, "gm.layers.area.gmLayer === 'village'", 10)
        wait_idle(page)
        assert page.evaluate("gm.layers.area.gmFeatures.size") > 300
        assert page.evaluate("gm.layers.outline.gmLayer") == "township"
        page.check("#gm-cameras")
        wait_idle(page)
        screenshot(page, "screen_map_package_url")
        page.context.close()
    live = [u for u in requests if u.startswith(api_url) and any(p in u for p in LIVE)]
    assert live == []
    assert any(u.startswith(files) for u in requests)


def test_map_admits_the_package_server_only(http):
    r = http.get("/map", params={"package": "http://10.1.2.3:8080/luyi.pmtiles"})
    assert r.status_code == 200
    policy = dict(p.strip().split(" ", 1) for p in r.headers["content-security-policy"].split(";"))
    assert policy["connect-src"] == "'self' http://10.1.2.3:8080"
    r = http.get("/map", params={"package": "javascript:alert(1)"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_package"


def test_map_page_reads_a_local_package_the_reader_chooses(api_url, browser, bundle):
    page = browser.page(1600, 900)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{api_url}/map?package=file#level=township")
    page.wait_for_selector(".gm-package-picker")
    assert "请选择离线数据包" in page.text_content(".gm-side-foot")
    screenshot(page, "screen_map_package_picker")
    page.set_input_files(".gm-package-input", str(bundle / PACKAGE_NAME))
    wait_for(page, "!!gm.state.started", 30, "the package to open")
    wait_idle(page)
    assert page.locator(".gm-package-picker").count() == 0
    assert page.evaluate("gm.layers.area.gmFeatures.size") == 24
    assert PACKAGE_NAME in page.text_content(".gm-side-foot")
    assert not [u for u in requests if any(p in u for p in LIVE)]
    page.context.close()
