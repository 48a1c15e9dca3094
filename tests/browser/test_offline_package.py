"""The pages drawing from an offline tile package (``gridmap export-tiles``) in Debian's chromium:
/embed?package=<URL> reads a PMTiles file from another web server (range requests, or the whole
file from a server without them) and draws the micro-grids with no request to /tiles or any other
live endpoint; ?package=file reads a file the reader chooses, with no request at all.
Screenshots: ``test-artifacts/screenshots/embed_offline_*.png``.
"""

from __future__ import annotations

import pytest
from browser import screenshot, wait_for, wait_idle
from range_server import serve_files
from sqlalchemy import text

from gridmap.tiles.package import export_package

#: Requests to these are the live server's: an offline page makes none of them.
LIVE = ("/tiles", "/healthz", "/events/", "/api/")


@pytest.fixture(scope="module")
def package_dir(loaded_engine, tmp_path_factory):
    folder = tmp_path_factory.mktemp("screen")
    export_package(loaded_engine, folder / "luyi.pmtiles", minzoom=0, maxzoom=12)
    return folder


@pytest.fixture(scope="module")
def county(loaded_engine):
    with loaded_engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT a.name, s.planned, s.installed, s.online, r.revision FROM area a "
                "JOIN area_stats s USING (code) CROSS JOIN data_revision r WHERE a.level = 0"
            )
        ).one()


def _open(browser, url: str):
    page = browser.page(1920, 1080)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    wait_for(page, "!!(window.gm && gm.state.package)", 30, "the package to open")
    wait_idle(page)
    return page, requests


def _check_drawn(page, county, microgrids: int) -> None:
    drawn = page.evaluate("gm.layers.area.gmFeatures.size")
    assert drawn == microgrids, f"{drawn} micro-grids drawn, {microgrids} in the county"
    assert page.evaluate("gm.state.summarySource") == "tiles"
    stats = page.text_content("#gm-embed-stats")
    assert f"{county.installed:,}" in stats and f"{county.online:,}" in stats and f"{county.planned:,}" in stats
    assert page.text_content("#gm-embed-county") == county.name
    status = page.text_content("#gm-embed-status")
    assert "离线数据包" in status and f"数据版本 {county.revision}" in status and "不随实时数据更新" in status


def test_embed_draws_micro_grids_from_a_package_url_without_asking_the_server(
    api_url, browser, package_dir, county, loaded_engine
):
    with loaded_engine.connect() as conn:
        microgrids = conn.execute(text("SELECT count(*) FROM area WHERE level = 4")).scalar_one()
    with serve_files(package_dir) as (files, served):
        page, requests = _open(browser, f"{api_url}/embed?layer=microgrid&package={files}/luyi.pmtiles&refresh=60")
        _check_drawn(page, county, microgrids)
        screenshot(page, "embed_offline_microgrid")
        own = [u for u in requests if u.startswith(api_url)]
        assert not [u for u in own if any(p in u for p in LIVE)], [u for u in own if any(p in u for p in LIVE)]
        assert any(u.startswith(files) for u in requests)
        assert all(" bytes=" in line for line in served if line.startswith("GET")), served[:5]  # range requests
        page.context.close()


def test_a_server_without_range_requests_is_read_whole(api_url, browser, package_dir, county):
    with serve_files(package_dir, ranges=False) as (files, served):
        page, requests = _open(browser, f"{api_url}/embed?layer=grid&package={files}/luyi.pmtiles&theme=light")
        assert page.evaluate("gm.layers.area.gmFeatures.size") == 1294
        assert not [u for u in requests if u.startswith(api_url) and any(p in u for p in LIVE)]
        screenshot(page, "embed_offline_grid_light")
        page.context.close()


def test_embed_reads_a_local_package_the_reader_chooses(api_url, browser, package_dir, county):
    page = browser.page(1920, 1080)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{api_url}/embed?layer=village&package=file&cameras=true")
    page.wait_for_selector(".gm-package-picker")
    assert "请选择离线数据包" in page.text_content("#gm-embed-status")
    screenshot(page, "embed_offline_picker")
    page.set_input_files(".gm-package-input", str(package_dir / "luyi.pmtiles"))
    wait_for(page, "!!gm.state.package", 30, "the package to open")
    wait_idle(page)
    assert page.locator(".gm-package-picker").count() == 0
    assert page.evaluate("gm.layers.area.gmFeatures.size") > 300
    assert page.evaluate("gm.layers.cameras !== null")
    assert page.text_content("#gm-embed-county") == county.name
    assert "luyi.pmtiles" in page.text_content("#gm-embed-status")
    assert not [u for u in requests if any(p in u for p in LIVE)]
    page.context.close()


def test_a_package_url_that_cannot_be_read_says_so(api_url, browser, package_dir):
    with serve_files(package_dir) as (files, _served):
        page = browser.page(1280, 720)
        page.goto(f"{api_url}/embed?package={files}/missing.pmtiles")
        wait_for(page, "document.querySelector('#gm-embed-status').textContent.includes('无法打开离线数据包')", 20)
        page.context.close()
    browser.failed[:] = [f for f in browser.failed if "missing.pmtiles" not in f]  # the 404s expected


def test_the_policy_admits_the_package_server_only(http):
    """connect-src gains the origin of a package on another server, nothing else; a relative path
    or ``file`` adds nothing; anything else is refused with a stable code."""

    def connect_src(params) -> str:
        r = http.get("/embed", params=params)
        assert r.status_code == 200, r.text
        policy = dict(p.strip().split(" ", 1) for p in r.headers["content-security-policy"].split(";"))
        return policy["connect-src"]

    assert connect_src({}) == "'self'"
    assert connect_src({"package": "http://10.1.2.3:8080/pkg/luyi.pmtiles?x=1"}) == "'self' http://10.1.2.3:8080"
    assert connect_src({"package": "/files/luyi.pmtiles"}) == "'self'"
    assert connect_src({"package": "file"}) == "'self'"
    for bad in ("javascript:alert(1)", "http://a b/x", "http://h/x;script-src *", "//evil/x.pmtiles", "ftp://h/x"):
        r = http.get("/embed", params={"package": bad})
        assert r.status_code == 422 and r.json()["code"] == "invalid_package", (bad, r.text)
