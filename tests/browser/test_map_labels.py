"""Area names and camera clusters over the map (issue 15 part 1), in Debian's chromium at
1366×768, 1920×1080 and 3840×2160: names are HTML text in the map, read back here as rendered
boxes — present, the areas' own (short) names, fitting their areas, never overlapping each other
or the controls; camera clusters below the camera tiles' zoom add up to the cameras; /embed
scales its names with the screen; an offline package brings its own names.

Screenshots: ``test-artifacts/screenshots/labels_*.png``.
"""

from __future__ import annotations

import pytest
from browser import screenshot, wait_for, wait_idle
from range_server import serve_files
from sqlalchemy import text

from gridmap.tiles.package import export_package

SIZES = [(1366, 768), (1920, 1080), (3840, 2160)]
SIZE_IDS = ["1366x768", "1920x1080", "3840x2160"]

#: Every name on the map with its rendered box (client pixels) and font size.
BOXES = """[...document.querySelectorAll('.gm-maplabel')].map(n => {
  const r = n.getBoundingClientRect();
  return {text: n.textContent, code: n.dataset.code, level: +n.dataset.level, x0: r.left, y0: r.top,
          x1: r.right, y1: r.bottom, size: parseFloat(getComputedStyle(n).fontSize)};
})"""
#: Boxes of elements by selector (the controls over the map, the clusters).
RECTS = """(sel) => [...document.querySelectorAll(sel)].filter(n => n.offsetParent !== null).map(n => {
  const r = n.getBoundingClientRect(); return {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom};
})"""


def overlapping(a: dict, b: dict) -> bool:
    return a["x0"] < b["x1"] - 0.5 and b["x0"] < a["x1"] - 0.5 and a["y0"] < b["y1"] - 0.5 and b["y0"] < a["y1"] - 0.5


def assert_apart(boxes: list[dict], others: list[dict] = ()) -> None:
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not overlapping(a, b), (a, b)
        for o in others:
            assert not overlapping(a, o), (a, o)


@pytest.fixture(scope="module")
def names(loaded_engine):
    """code → the label row (name, short_name, level, radius_m) of every area (as the API serves it)."""
    with loaded_engine.connect() as conn:
        rows = conn.execute(text("SELECT code, name, short_name, level, radius_m FROM area_label")).mappings().all()
    return {r["code"]: dict(r) for r in rows}


def open_page(browser, url: str, size: tuple[int, int]):
    page = browser.page(*size)
    page.goto(url)
    wait_idle(page)
    return page


def check_names(page, names: dict, *, max_level: int, min_size: float = 14) -> list[dict]:
    boxes = page.evaluate(BOXES)
    mpp = page.evaluate(
        "(() => { const m = gm.map; return 40075016.686 * Math.cos(m.getCenter().lat * Math.PI / 180)"
        " / (256 * 2 ** m.getZoom()); })()"
    )
    frame = page.evaluate(
        "(() => { const r = gm.map.getContainer().getBoundingClientRect();"
        " return {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}; })()"
    )
    for b in boxes:
        lab = names[b["code"]]
        assert b["text"] == lab["short_name"] and lab["level"] == b["level"] <= max_level
        assert b["size"] >= min_size
        # it fits its area: no wider than 2.2 inscribed radii (the page's rule, with a pixel to spare)
        assert b["x1"] - b["x0"] <= 2.2 * lab["radius_m"] / mpp + 1.5, (b, lab["radius_m"] / mpp)
        assert frame["x0"] <= b["x0"] and b["x1"] <= frame["x1"] and frame["y0"] <= b["y0"] and b["y1"] <= frame["y1"]
    return boxes


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_township_names_at_county_zoom_never_overlap(api_url, browser, names, size):
    page = open_page(browser, f"{api_url}/map#level=grid&metric=online_rate", size)
    wait_for(page, "document.querySelectorAll('.gm-maplabel').length > 0", what="the names")
    wait_idle(page)
    boxes = check_names(page, names, max_level=3)
    townships = [b for b in boxes if b["level"] == 1]
    assert len(townships) >= 18, [b["text"] for b in boxes]  # of 24; a few small central ones give way
    controls = page.evaluate(RECTS, "#gm-toolbar, #gm-legend, .leaflet-control-zoom, .leaflet-control-scale")
    assert_apart(boxes, controls)
    # readable: the names are real text of the page (a screen reader reads them)
    assert page.locator(".gm-maplabels").get_attribute("aria-label") == "地图上的名称"
    assert "郑家集乡" in page.inner_text(".gm-maplabels")
    screenshot(page, f"labels_map_county_{size[0]}x{size[1]}")
    page.context.close()


@pytest.mark.parametrize("size", SIZES[:2], ids=SIZE_IDS[:2])
def test_village_grid_and_micro_grid_names_appear_further_in(api_url, browser, loaded_engine, names, size):
    with loaded_engine.connect() as conn:
        village = conn.execute(text("SELECT code FROM area WHERE level = 2 ORDER BY code LIMIT 1")).scalar_one()
    page = open_page(browser, f"{api_url}/map#level=microgrid&metric=online_rate&area={village}", size)
    wait_for(page, "document.querySelectorAll('.gm-maplabel[data-level=\"4\"]').length > 0", what="micro-grid names")
    wait_idle(page)
    boxes = check_names(page, names, max_level=4)
    levels = {b["level"] for b in boxes}
    assert {2, 3, 4} <= levels, levels
    assert_apart(boxes, page.evaluate(RECTS, "#gm-toolbar, #gm-legend, .leaflet-control-zoom"))
    # "杜庄村第一网格2号微网格" inside "杜庄村第一网格" reads "2号微网格"
    micro = [b for b in boxes if b["level"] == 4]
    assert all(b["text"].endswith("微网格") and len(b["text"]) < len(names[b["code"]]["name"]) for b in micro)
    screenshot(page, f"labels_map_village_{size[0]}x{size[1]}")
    # the level coloured bounds the names: at village level no grid or micro-grid names
    page.evaluate("gm.setLevel(2)")
    wait_for(
        page, "![...document.querySelectorAll('.gm-maplabel')].some(n => +n.dataset.level > 2)", what="fewer names"
    )
    wait_idle(page)
    assert {b["level"] for b in check_names(page, names, max_level=2)} <= {1, 2}
    page.context.close()


def test_names_can_be_switched_off_and_stay_off(api_url, browser):
    page = open_page(browser, f"{api_url}/map#level=grid", (1366, 768))
    wait_for(page, "document.querySelectorAll('.gm-maplabel').length > 0", what="the names")
    page.click("#gm-labels")
    wait_for(page, "document.querySelectorAll('.gm-maplabel').length === 0", what="no names")
    assert "labels=0" in page.evaluate("location.hash")
    page.reload()
    wait_idle(page)
    assert page.evaluate("document.querySelectorAll('.gm-maplabel').length") == 0
    assert not page.is_checked("#gm-labels")
    page.context.close()


@pytest.mark.parametrize("size", SIZES[:2], ids=SIZE_IDS[:2])  # a 4K screen shows the county at the cameras' zoom
def test_camera_clusters_at_low_zoom_add_up_and_zoom_in(api_url, browser, loaded_engine, names, size):
    with loaded_engine.connect() as conn:
        drawn = conn.execute(text("SELECT count(*) FROM camera WHERE status <> 'removed'")).scalar_one()
    page = open_page(browser, f"{api_url}/map#level=grid&cameras=1", size)
    wait_for(page, "document.querySelectorAll('.gm-cluster').length > 0", what="the clusters")
    wait_idle(page)
    counts = page.evaluate("[...document.querySelectorAll('.gm-cluster')].map(b => +b.dataset.count)")
    assert sum(counts) == drawn  # the whole county is in view at its zoom
    assert "聚合" in page.inner_text("#gm-notice")
    label = page.get_attribute(".gm-cluster", "aria-label")
    assert "个摄像头" in label and "在线" in label
    boxes = check_names(page, names, max_level=3)
    assert_apart(boxes, page.evaluate(RECTS, ".gm-cluster"))  # names keep clear of the clusters
    screenshot(page, f"labels_map_clusters_{size[0]}x{size[1]}")
    zoom = page.evaluate("gm.map.getZoom()")
    page.locator(".gm-cluster").first.click()
    wait_for(page, f"gm.map.getZoom() > {zoom}", what="the zoom in")
    wait_idle(page)
    after = page.evaluate("[...document.querySelectorAll('.gm-cluster')].map(b => +b.dataset.count)")
    # two levels in, or to the camera tiles' zoom, where single cameras replace the clusters
    assert (not after or max(after) < max(counts)) and page.evaluate("gm.map.getZoom()") >= min(12, zoom + 2) - 0.01
    # keyboard: the clusters are buttons
    assert page.evaluate(
        "document.querySelector('.gm-cluster') === null || document.querySelector('.gm-cluster').tagName === 'BUTTON'"
    )
    page.context.close()


def test_embed_names_scale_with_the_screen(api_url, browser, names):
    sizes = {}
    for size in SIZES[1:]:
        page = open_page(browser, f"{api_url}/embed?layer=grid", size)
        wait_for(page, "document.querySelectorAll('.gm-maplabel').length >= 12", what="the names")
        wait_idle(page)
        boxes = check_names(page, names, max_level=3, min_size=12)
        assert_apart(boxes, page.evaluate(RECTS, ".gm-embed-legend"))
        sizes[size] = max(b["size"] for b in boxes)
        screenshot(page, f"labels_embed_{size[0]}x{size[1]}")
        page.context.close()
    assert sizes[(3840, 2160)] >= 1.8 * sizes[(1920, 1080)]
    page = open_page(browser, f"{api_url}/embed?layer=grid&labels=false", (1920, 1080))
    assert page.evaluate("document.querySelectorAll('.gm-maplabel').length") == 0
    page.context.close()


def test_an_offline_package_brings_its_names(api_url, browser, loaded_engine, names, tmp_path):
    export_package(loaded_engine, tmp_path / "luyi.pmtiles", minzoom=0, maxzoom=12)
    with serve_files(tmp_path) as (files, _served):
        page = browser.page(1920, 1080)
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{api_url}/map?package={files}/luyi.pmtiles#level=grid")
        wait_for(page, "!!(window.gm && gm.state.package)", 30, "the package to open")
        wait_for(page, "document.querySelectorAll('.gm-maplabel').length >= 12", what="the names")
        wait_idle(page)
        check_names(page, names, max_level=3)
        assert not [u for u in requests if "/api/" in u]  # the names came from the package
        page.context.close()
