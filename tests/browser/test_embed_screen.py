"""/embed as a command-centre screen in Chromium at 1920×1080 and 3840×2160: text and panels scale
with the viewport and fill it, the ranking of the townships and the 30-day trend match the API, a
clock, the latest offline cameras, the dimmed "数据截至 …（连接中断）" state when the server stops
answering, the layout options (?panels=, ?rank=), an embed token (the panels from /api/v1/map/screen) and a
township's screen (?area=: its villages ranked, the map fitted to it). The shared session server reads openly; the
sample load wrote 30 days of history ending at its load date, so the trend has points (the tests
compare with the API, never with the machine's date).

Screenshots: ``test-artifacts/screenshots/embed_screen_*.png``.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import httpx
import pytest
from browser import screenshot, wait_for, wait_idle

from gridmap.api.routers.pages import script_json

SIZES = [(1920, 1080), (3840, 2160)]
PANEL_IDS = ("gm-embed-stats", "gm-embed-dist", "gm-embed-trend", "gm-embed-rank", "gm-embed-offline")


def _open(browser, url: str, width: int, height: int):
    page = browser.page(width, height)
    page.goto(url)
    wait_idle(page)
    wait_for(page, "gm.state.trend !== null && gm.state.offline !== null", 20, "the trend and offline cameras")
    return page


def _box(page, selector: str) -> dict:
    return page.evaluate(
        f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect();"
        " return {x: r.x, y: r.y, w: r.width, h: r.height}; })()"
    )


def _font(page, selector: str) -> float:
    return page.evaluate(f"parseFloat(getComputedStyle(document.querySelector({selector!r})).fontSize)")


@pytest.fixture(scope="module")
def screens(api_url, browser):
    """Each size's measures: KPI font, boxes of the map and panels, ranking, trend, offline list."""
    measured = {}
    for width, height in SIZES:
        page = _open(browser, f"{api_url}/embed?layer=grid&metric=online_rate&refresh=600", width, height)
        screenshot(page, f"embed_screen_{width}x{height}")
        measured[width] = {
            "kpi": _font(page, "#gm-embed-stats .gm-stat-value"),
            "count": _font(page, "#gm-embed-stats .gm-stat-count .gm-stat-value"),
            "label": _font(page, ".gm-stat-label"),
            "rank_row": _font(page, ".gm-rank-row"),
            "clock": _font(page, "#gm-embed-clock"),
            "map": _box(page, ".gm-screen-map"),
            "panels": {i: _box(page, f"#{i}") for i in PANEL_IDS if page.is_visible(f"#{i}")},
            "rank": page.evaluate(
                "Array.from(document.querySelectorAll('.gm-rank-row')).map(r => "
                "[r.dataset.code, r.querySelector('.gm-rank-name').textContent, "
                "r.querySelector('.gm-rank-rate').textContent])"
            ),
            "points": page.evaluate(
                "Array.from(document.querySelectorAll('circle.gm-trend-online_rate')).map(c => "
                "[c.dataset.date, Number(c.dataset.rate)])"
            ),
            "rollout_points": page.locator("circle.gm-trend-rollout_rate").count(),
            "offline": page.evaluate("gm.state.offline.map(c => c.device_id)"),
            "offline_rows": page.locator(".gm-offline-row").count(),
            "clock_text": page.text_content("#gm-embed-clock"),
            "viewport": (width, height),
        }
        page.context.close()
    return measured


def test_text_grows_with_the_screen(screens):
    small, big = screens[1920], screens[3840]
    assert big["kpi"] / small["kpi"] >= 1.8, (small["kpi"], big["kpi"])
    for key in ("count", "label", "rank_row", "clock"):
        assert big[key] / small[key] >= 1.8, (key, small[key], big[key])
    # readable figures, not sub-text: planned / installed / online at least 30 px at 1080p
    assert small["kpi"] >= 60 and small["count"] >= 30 and small["label"] >= 16


@pytest.mark.parametrize("width", [1920, 3840])
def test_the_map_and_panels_fill_the_screen(screens, width):
    s = screens[width]
    vw, vh = s["viewport"]
    boxes = [s["map"], *s["panels"].values()]
    assert len(s["panels"]) == len(PANEL_IDS), s["panels"].keys()
    covered = sum(b["w"] * b["h"] for b in boxes)
    assert covered >= 0.8 * vw * vh, f"map and panels cover {covered / (vw * vh):.0%} of the screen"
    assert s["map"]["w"] >= 0.4 * vw and s["map"]["h"] >= 0.8 * vh
    for name, b in s["panels"].items():  # every panel on screen
        assert b["x"] >= 0 and b["y"] >= 0 and b["x"] + b["w"] <= vw + 0.5 and b["y"] + b["h"] <= vh + 0.5, name
    left = max(b["x"] + b["w"] for b in boxes)
    bottom = max(b["y"] + b["h"] for b in boxes)
    assert left >= 0.97 * vw and bottom >= 0.9 * vh  # nothing empty at the right or the bottom


def test_the_ranking_matches_the_coverage_rows(screens, http):
    rows = [r for r in http.get("/api/v1/coverage").json()["rows"] if r["level"] == 1]
    assert len(rows) == 24
    expected = sorted(rows, key=lambda r: (-r["online_rate"], r["code"]))
    for width in (1920, 3840):
        shown = screens[width]["rank"]
        assert [c for c, _, _ in shown] == [r["code"] for r in expected]
        assert [n for _, n, _ in shown] == [r["name"] for r in expected]
        assert [t for _, _, t in shown] == [f"{r['online_rate'] * 100:.2f}%" for r in expected]


def test_the_trend_matches_the_trend_api(screens, http):
    county = next(r for r in http.get("/api/v1/coverage").json()["rows"] if r["level"] == 0)
    shown = screens[1920]["points"]
    assert len(shown) >= 2 and screens[1920]["rollout_points"] == len(shown)
    api = http.get(f"/api/v1/coverage/trend/{county['code']}", params={"from": shown[0][0]}).json()["points"]
    assert [(p["date"], pytest.approx(p["online_rate"])) for p in api] == [(d, r) for d, r in shown]
    assert api[-1]["online_rate"] == county["online_rate"]  # the last day is today's figures
    assert screens[3840]["points"] == shown


def test_clock_and_offline_cameras(screens, http):
    s = screens[1920]
    assert re.search(r"\d\d:\d\d:\d\d", s["clock_text"]) and "星期" in s["clock_text"]
    cams = http.get("/api/v1/cameras", params={"online": "false", "status": "installed", "limit": 5000}).json()
    features = [f["properties"] for f in cams["features"]]

    def newest_first(c):
        seen = dt.datetime.fromisoformat(c["last_seen"]).timestamp() if c["last_seen"] else -math.inf
        return (-seen, c["device_id"])

    assert s["offline_rows"] == len(s["offline"]) == 4
    assert s["offline"] == [c["device_id"] for c in sorted(features, key=newest_first)[:4]]


def test_an_unreachable_server_dims_the_screen(api_url, browser):
    page = _open(browser, f"{api_url}/embed?layer=township&refresh=1", 1920, 1080)
    assert page.is_hidden("#gm-embed-banner")
    assert float(page.evaluate("getComputedStyle(document.querySelector('.gm-screen-left')).opacity")) == 1
    page.route("**/healthz*", lambda route: route.abort())
    page.route("**/api/**", lambda route: route.abort())
    wait_for(page, "document.body.classList.contains('gm-embed-stale')", 10, "the unreachable state")
    banner = page.text_content("#gm-embed-banner")
    assert page.is_visible("#gm-embed-banner") and "数据截至" in banner and "连接中断" in banner
    assert _font(page, "#gm-embed-banner") >= 40
    for side in (".gm-screen-left", ".gm-screen-right", ".gm-screen-map"):
        assert float(page.evaluate(f"getComputedStyle(document.querySelector({side!r})).opacity")) < 0.5
    screenshot(page, "embed_screen_unreachable")
    page.unroute("**/healthz*")
    page.unroute("**/api/**")
    wait_for(page, "!document.body.classList.contains('gm-embed-stale')", 10, "the screen to recover")
    assert page.is_hidden("#gm-embed-banner")
    page.context.close()


def test_layout_options(api_url, browser, http):
    html = http.get("/embed", params={"panels": "clock,kpi", "rank": "rollout_rate"}).text
    assert '"panels":["kpi","clock"]' in html and '"rank":"rollout_rate"' in html
    assert '"panels":["kpi","rank","trend","offline","clock"]' in http.get("/embed").text
    assert '"rank":"rollout_rate"' in http.get("/embed", params={"metric": "rollout_rate"}).text
    for bad in ("kpi,map", "nothing", ",,"):
        r = http.get("/embed", params={"panels": bad})
        assert r.status_code == 422 and r.json()["code"] == "invalid_panels", (bad, r.text)
    r = http.get("/embed", params={"rank": "households"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"
    assert script_json(["kpi"]) == '["kpi"]'

    # Only the ranking by installation rate: the map takes the rest of the screen.
    page = browser.page(1920, 1080)
    page.goto(f"{api_url}/embed?layer=village&panels=rank&rank=rollout_rate&refresh=0")
    wait_idle(page)
    assert page.is_hidden("#gm-embed-stats") and page.is_hidden("#gm-embed-clock")
    assert page.is_hidden("#gm-embed-trend") and page.is_hidden("#gm-embed-offline")
    assert page.is_hidden(".gm-screen-left")
    assert "安装率" in page.text_content("#gm-rank-title")
    rows = [r for r in http.get("/api/v1/coverage").json()["rows"] if r["level"] == 1]
    best = max(rows, key=lambda r: (r["rollout_rate"], [-ord(c) for c in r["code"]]))
    assert page.get_attribute(".gm-rank-row", "data-code") == best["code"]
    assert _box(page, ".gm-screen-map")["w"] >= 0.7 * 1920
    screenshot(page, "embed_screen_rank_only")
    page.context.close()


def _rank_codes(page) -> list[str]:
    return page.evaluate("Array.from(document.querySelectorAll('.gm-rank-row')).map(r => r.dataset.code)")


def _by_rate(rows: list[dict], key: str = "online_rate") -> list[dict]:
    """The ranking's order: highest rate first, no rate last, ties by code."""
    return sorted(rows, key=lambda r: (r[key] is None, -(r[key] or 0), r["code"]))


def test_with_an_embed_token_the_panels_come_from_the_screen_read(browser, http):
    """An embed token may read /api/v1/map/screen: the figures, the ranking, the trend and the
    offline cameras come from it (equal to what the API answers to the same token), not from the
    tiles; the JSON API beyond it stays closed to the token."""
    from api_server import serve
    from conftest import loaded_database

    from gridmap.db.tokens import create_token

    _, engine = loaded_database("gridmap_test_embed_screen")
    with engine.begin() as conn:
        secret, _ = create_token(conn, name="embed screen test", role="embed")
    with serve(engine, read_access="token") as base:
        assert httpx.get(base + "/api/v1/coverage", params={"token": secret}).status_code in (401, 403)
        api = httpx.get(
            base + "/api/v1/map/screen", params={"offline": 4}, headers={"Authorization": f"Bearer {secret}"}
        )
        assert api.status_code == 200, api.text
        body = api.json()
        page = browser.page(1920, 1080)
        page.goto(f"{base}/embed?layer=grid&refresh=600&token={secret}")
        wait_idle(page)
        wait_for(page, "gm.state.trend !== null && gm.state.offline !== null", 20, "the trend and offline cameras")
        assert page.evaluate("[gm.state.rankSource, gm.state.summarySource]") == ["api", "api"]
        assert _rank_codes(page) == [r["code"] for r in _by_rate(body["children"])]
        assert page.text_content("#gm-rank-title") == "乡镇上云率排名"
        points = page.evaluate("gm.state.trend.map(p => [p.date, p.online_rate, p.rollout_rate])")
        assert points == [[p["date"], p["online_rate"], p["rollout_rate"]] for p in body["trend"]["points"]]
        assert len(points) >= 2 and page.locator("circle.gm-trend-online_rate").count() == len(points)
        assert page.is_visible("#gm-trend-chart") and page.is_visible("#gm-embed-offline")
        shown = page.evaluate("gm.state.offline.map(c => c.device_id)")
        assert shown == [c["device_id"] for c in body["offline"]["cameras"]] and len(shown) == 4
        rows = page.evaluate(
            "Array.from(document.querySelectorAll('.gm-offline-row .gm-offline-where')).map(e => e.textContent)"
        )
        assert rows == [f"{c['area_name']} · {c['device_id']}" for c in body["offline"]["cameras"]]
        assert f"{body['offline']['total']:,}" in page.text_content("#gm-offline-note")
        stats = page.text_content("#gm-embed-stats")
        assert f"{body['figures']['online']:,}" in stats and f"{body['blind']:,}" in stats
        assert page.text_content("#gm-embed-county") == body["area"]["name"] == "鹿邑县"
        screenshot(page, "embed_screen_token")
        page.context.close()
    engine.dispose()


TOWNSHIP = "411628001"  # 真源街道


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_township_screen_ranks_its_villages_and_fits_the_map(api_url, browser, http, size):
    width, height = size
    body = http.get("/api/v1/map/screen", params={"area": TOWNSHIP, "level": "village"}).json()
    villages = body["children"]
    assert len(villages) > 5 and {v["level"] for v in villages} == {2}
    page = _open(browser, f"{api_url}/embed?area={TOWNSHIP}&layer=village&refresh=600", width, height)
    expected = _by_rate(villages)
    assert _rank_codes(page) == [r["code"] for r in expected]
    names = page.evaluate("Array.from(document.querySelectorAll('.gm-rank-name')).map(e => e.textContent)")
    assert names == [r["name"] or r["code"] for r in expected]
    assert page.text_content("#gm-rank-title") == "村/社区上云率排名"
    # a ranking longer than its panel shows the leaders and the laggards, the middle folded into one line
    wait_for(
        page,
        "(() => { const l = document.getElementById('gm-rank-list'); return l.scrollHeight <= l.clientHeight + 1; })()",
        10,
        "the ranking to fit its panel",
    )
    fit = page.evaluate(
        "(() => { const l = document.getElementById('gm-rank-list'); const vis = [...l.querySelectorAll('.gm-rank-row')]"
        ".filter(r => !r.hidden).map(r => r.dataset.code); const more = l.querySelector('.gm-rank-more');"
        " return {overflow: l.scrollHeight - l.clientHeight, vis: vis, more: more ? more.textContent : null}; })()"
    )
    assert fit["overflow"] <= 1, fit
    folded = len(expected) - len(fit["vis"])
    if folded:
        top = (len(fit["vis"]) + 1) // 2
        assert fit["vis"] == [r["code"] for r in expected[:top]] + [
            r["code"] for r in expected[len(expected) - (len(fit["vis"]) - top) :]
        ]
        assert fit["more"] == f"… 另有 {folded} 个 …"
    else:
        assert fit["more"] is None
    assert page.evaluate("gm.state.outlineKey") == "township"  # its own outline, not the county's
    assert page.text_content("#gm-embed-county") == "真源街道" and page.title().startswith("真源街道")
    stats = page.text_content("#gm-embed-stats")
    assert f"{body['figures']['installed']:,}" in stats and f"{body['areas']:,}" in stats  # the township's figures
    # the map shows the whole township, and the township fills it along one axis at least
    view = page.evaluate(
        "(() => { const b = gm.map.getBounds(); return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; })()"
    )
    box = body["area"]["bbox"]
    assert view[0] <= box[0] and view[1] <= box[1] and view[2] >= box[2] and view[3] >= box[3], (view, box)
    assert max((box[2] - box[0]) / (view[2] - view[0]), (box[3] - box[1]) / (view[3] - view[1])) >= 0.8, (view, box)
    shown = page.evaluate("gm.state.offline.map(c => c.device_id)")
    assert shown == [c["device_id"] for c in body["offline"]["cameras"][:4]]
    screenshot(page, f"embed_screen_township_{width}x{height}")
    page.context.close()


def test_area_option_is_checked(http):
    assert '"area":"411628001"' in http.get("/embed", params={"area": TOWNSHIP}).text
    assert '"area":null' in http.get("/embed").text
    for bad in ("<script>", "4" * 65, "a b"):
        r = http.get("/embed", params={"area": bad})
        assert r.status_code == 422 and r.json()["code"] == "invalid_request", (bad, r.text)


def test_an_unknown_area_shows_the_county_and_says_so(api_url, browser):
    page = browser.page(1920, 1080)
    page.goto(f"{api_url}/embed?area=999999&layer=township&refresh=0")
    wait_idle(page)
    assert "999999" in page.text_content("#gm-embed-status")
    assert page.evaluate("[gm.state.rankSource, gm.state.failed]") == ["tiles", False]
    assert len(_rank_codes(page)) == 24  # the county's townships, from the tiles
    assert [f for f in browser.failed if "/api/v1/map/screen?area=999999" in f and f.startswith("404")]
    browser.failed.clear()  # the expected 404
    page.context.close()
