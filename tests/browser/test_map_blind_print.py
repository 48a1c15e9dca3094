"""/map (一张图), issue 15: the 盲区 and 户/摄像头 views, the blind list, printing to one landscape
page, the downloads, and accessibility (contrast, text size, keyboard), in Debian's chromium at
1366×768 and 1920×1080 on the shared session server (read-only).

Screenshots (and the printed PDF) go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import io

import httpx
import pytest
from browser import SCREENSHOTS, screenshot, wait_for, wait_idle
from pypdf import PdfReader
from sqlalchemy import text

from gridmap.maps.blind import BLIND_CLASSES, HOUSEHOLD_CLASSES, blind_class, household_class

SIZES = [(1366, 768), (1920, 1080)]
SIZE_IDS = ["1366x768", "1920x1080"]


def open_map(browser, api_url: str, size: tuple[int, int], hash_: str):
    page = browser.page(*size)
    page.goto(f"{api_url}/map#{hash_}")
    wait_idle(page)
    return page


def grid_figures(engine) -> dict[str, tuple[str, int, int, int, int | None]]:
    """code → (name, planned, installed, online, households) of every grid (level 3)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("""SELECT a.code, a.name, coalesce(s.planned, 0), coalesce(s.installed, 0), coalesce(s.online, 0),
                           s.households
                    FROM area a LEFT JOIN area_stats s ON s.code = a.code WHERE a.level = 3""")
        ).all()
    return {r[0]: (r[1], int(r[2]), int(r[3]), int(r[4]), r[5]) for r in rows}


# ------------------------------------------------------------------------------------ the endpoint


def test_blind_endpoint_sorts_by_households_and_counts_its_classes(http, loaded_engine):
    by_code = http.get("/api/v1/coverage/blind").json()
    ranked = http.get("/api/v1/coverage/blind", params={"sort": "households"}).json()
    assert [r["code"] for r in by_code["rows"]] == sorted(r["code"] for r in by_code["rows"])  # the contract stays
    assert sorted(r["code"] for r in ranked["rows"]) == [r["code"] for r in by_code["rows"]]
    keys = [(r["households"] is None, -(r["households"] or 0), r["code"]) for r in ranked["rows"]]
    assert keys == sorted(keys) and ranked["rows"][0]["households"] >= ranked["rows"][-1]["households"]
    no_plan = sum(1 for r in ranked["rows"] if r["planned"] == 0)
    assert ranked["classes"] == {"no_plan": no_plan, "not_installed": len(ranked["rows"]) - no_plan}
    assert ranked["total"] == by_code["total"] == 1294 and len(ranked["rows"]) == 61
    figures = grid_figures(loaded_engine)
    assert {c for c, f in figures.items() if f[2] == 0} == {r["code"] for r in ranked["rows"]}
    # the downloads follow the order; a bad sort is a 400 with a stable code
    csv_ = http.get("/api/v1/coverage/blind", params={"sort": "households", "format": "csv"})
    assert csv_.status_code == 200 and csv_.headers["content-disposition"].endswith('_level3.csv"')
    lines = csv_.content.decode("utf-8-sig").splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == [r["code"] for r in ranked["rows"]]
    xlsx = http.get("/api/v1/coverage/blind", params={"sort": "households", "format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    bad = http.get("/api/v1/coverage/blind", params={"sort": "nope"})
    assert bad.status_code == 400 and bad.json()["code"] == "unknown_sort"


# ------------------------------------------------------------------------------------ 盲区 view


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_blind_view_colours_lists_and_selects(api_url, http, loaded_engine, browser, size):
    page = open_map(browser, api_url, size, "level=grid&metric=blind")
    # the blind list (opened by the 盲区 view) is /api/v1/coverage/blind, most households first
    wait_for(page, "document.querySelectorAll('#gm-blind-list .gm-blind-item').length > 0", what="the blind list")
    api = http.get("/api/v1/coverage/blind", params={"level": 3, "sort": "households"}).json()
    listed = page.evaluate(
        "[...document.querySelectorAll('#gm-blind-list .gm-blind-item')].map(b => [b.dataset.code, b.dataset.cls])"
    )
    assert [c for c, _ in listed] == [r["code"] for r in api["rows"]]
    households = [r["households"] for r in api["rows"]]
    assert households == sorted(households, reverse=True)
    figures = grid_figures(loaded_engine)
    for code, cls in listed:
        assert cls == blind_class(*figures[code][1:4]).key, code
    assert {cls for _, cls in listed} <= {"no_plan", "not_installed"}

    # the legend: the four classes, no plan apart from planned-but-not-installed
    legend = page.evaluate("[...document.querySelectorAll('#gm-legend .gm-legend-row')].map(r => r.dataset.cls)")
    assert legend[: len(BLIND_CLASSES)] == [c.key for c in BLIND_CLASSES]

    # the colouring of known grids (one of each class present on screen) matches their figures
    drawn = page.evaluate("""(() => { const out = {};
        gm.layers.area.gmFeatures.forEach((p, code) => {
          const s = gm.layers.area.gmStyle(p, gm.map.getZoom());
          out[code] = [gm.blindClass(p).key, s.fillColor]; });
        return out; })()""")
    colours = {c.key: c.colour for c in BLIND_CLASSES}
    seen: dict[str, str] = {}
    for code, (key, fill) in drawn.items():
        if code in figures:
            want = blind_class(*figures[code][1:4])
            assert (key, fill) == (want.key, want.colour), (code, figures[code], key, fill)
            seen.setdefault(key, code)
    assert {"covered", "not_installed"} <= set(seen), seen
    assert all(colours[k] for k in seen)

    # the summary's count of grids with no camera is a button that opens the list and focuses it
    page.click("#gm-blind-close")
    assert page.is_hidden("#gm-blind")
    count = page.text_content("#gm-blind-open")
    assert int(count.replace(",", "")) > 0
    page.click("#gm-blind-open")
    wait_for(page, "document.activeElement && document.activeElement.id === 'gm-blind-title'", what="focus")
    assert page.is_visible("#gm-blind")
    assert page.evaluate("[document.scrollingElement.scrollTop, document.body.scrollTop]") == [0, 0]  # header stays
    wait_idle(page)
    screenshot(page, f"map_blind_{size[0]}")

    # clicking an entry selects and flies to the grid
    first = api["rows"][0]
    page.click(f"#gm-blind-list .gm-blind-item[data-code='{first['code']}']")
    wait_for(page, f"gm.state.area && gm.state.area.properties.code === '{first['code']}'", what="the selection")
    wait_idle(page)
    assert page.text_content("#gm-area-name") == (first["name"] or first["code"])
    assert page.evaluate("gm.map.getBounds().contains(gm.layers.highlight.getBounds().getCenter())")
    facts = page.text_content("#gm-area-facts")
    assert "户/摄像头" in facts and "无已安装摄像头" in facts and "盲区类别" in facts
    assert page.evaluate("[document.scrollingElement.scrollTop, document.body.scrollTop]") == [0, 0]
    screenshot(page, f"map_blind_selected_{size[0]}")

    # 户/摄像头: households per installed camera, its own class when nothing is installed
    page.click("#gm-metrics .gm-seg-btn[data-value='households_per_camera']")
    wait_idle(page)
    classes = page.evaluate("""(() => { const out = {};
        gm.layers.area.gmFeatures.forEach((p, code) => {
          out[code] = [gm.householdClass(p).key, gm.layers.area.gmStyle(p, gm.map.getZoom()).fillColor]; });
        return out; })()""")
    hpc_colours = {c.key: c.colour for c in HOUSEHOLD_CLASSES}
    checked = 0
    for code, (key, fill) in classes.items():
        if code in figures:
            want = household_class(figures[code][4], figures[code][2])
            assert key == want.key and fill == want.colour == hpc_colours.get(key, want.colour), code
            checked += 1
    assert checked > 0
    assert page.evaluate("location.hash").find("metric=households_per_camera") > 0
    screenshot(page, f"map_households_per_camera_{size[0]}")
    page.context.close()


# ------------------------------------------------------------------------------------ print and export


def render_pdf(browser, path) -> None:
    """A picture of ``path`` as chromium's own PDF viewer shows it (``<path>.png``): the page as
    printed. A page of its own (a local file, no server involved)."""
    viewer = browser.browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        viewer.goto(path.as_uri())
        viewer.wait_for_timeout(1500)  # the viewer paints after load; this is only the artifact
        viewer.screenshot(path=str(path.with_suffix(".png")))
    finally:
        viewer.close()


def pdf_text(pdf: bytes) -> tuple[int, tuple[int, int], str]:
    """(pages, first page's size in points, its text without spaces)."""
    reader = PdfReader(io.BytesIO(pdf))
    box = reader.pages[0].mediabox
    return len(reader.pages), (round(float(box.width)), round(float(box.height))), reader.pages[0].extract_text()


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_print_gives_one_landscape_page_with_legend_and_figures(api_url, http, browser, size):
    page = open_map(browser, api_url, size, "level=township&metric=online_rate")
    summary = page.evaluate("gm.state.viewSummary")
    centre = page.evaluate("[gm.map.getCenter().lat, gm.map.getCenter().lng, gm.map.getZoom()]")
    assert page.is_visible("#gm-print") and page.text_content("#gm-print") == "打印/导出 PDF"

    page.emulate_media(media="print")
    # the screen controls are hidden, the map keeps its view (same centre and zoom)
    for selector in ("#gm-toolbar", "#gm-search", "#gm-export", ".leaflet-control-zoom"):
        assert page.is_hidden(selector), selector
    assert page.is_visible(".gm-north") and page.is_visible("#gm-print-meta")
    assert page.evaluate("[gm.map.getCenter().lat, gm.map.getCenter().lng, gm.map.getZoom()]") == centre
    pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / f"map_print_{size[0]}.pdf").write_bytes(pdf)
    page.emulate_media(media="screen")
    render_pdf(browser, SCREENSHOTS / f"map_print_{size[0]}.pdf")

    pages, paper, words = pdf_text(pdf)
    assert pages == 1, f"{pages} pages"
    assert paper == (842, 595)  # A4 landscape, in points
    words = words.replace(" ", "")
    for wanted in (
        "网格化视频监控一张图",
        "上云率",
        "≥98%",
        "无数据",
        "计划摄像头",
        "已安装",
        "在线",
        "北",
        "制图时间",
    ):
        assert wanted in words, (wanted, words[:800])
    for figure in (summary["planned"], summary["installed"], summary["online"]):
        assert f"{figure:,}" in words, (figure, words[:800])
    assert "打印/导出" not in words and "搜索" not in words  # controls are not printed
    page.context.close()


def test_download_links_follow_the_area_and_level(api_url, http, loaded_engine, browser):
    page = open_map(browser, api_url, (1366, 768), "level=grid&metric=online_rate")
    hrefs = page.evaluate(
        "['gm-dl-coverage','gm-dl-blind-xlsx','gm-dl-blind-csv'].map(i => document.getElementById(i).href)"
    )
    assert "format=xlsx" in hrefs[0] and "level=3" in hrefs[0] and "code=" not in hrefs[0]
    response = httpx.get(hrefs[0])
    assert response.status_code == 200 and response.content[:2] == b"PK"
    assert response.headers["content-disposition"].endswith('_level3.xlsx"')
    assert "sort=households" in hrefs[1] and "format=csv" in hrefs[2]
    # a township selected: its grids
    with loaded_engine.connect() as conn:
        town = conn.execute(text("SELECT code FROM area WHERE level = 1 ORDER BY code LIMIT 1")).scalar_one()
    page.evaluate(f"gm.select('{town}')")
    wait_for(page, f"document.getElementById('gm-dl-coverage').href.indexOf('code={town}') > 0", what="the links")
    blind_csv = httpx.get(page.evaluate("document.getElementById('gm-dl-blind-csv').href"))
    assert blind_csv.status_code == 200
    api = http.get("/api/v1/coverage/blind", params={"code": town, "level": 3, "sort": "households"}).json()
    lines = blind_csv.content.decode("utf-8-sig").splitlines()[1:]
    assert [line.split(",")[0] for line in lines] == [r["code"] for r in api["rows"]]
    page.context.close()


# ------------------------------------------------------------------------------------ accessibility

#: Runs in the page: every visible text node's colour against its effective background (the first
#: opaque background up the tree, semi-transparent ones composited; a gradient counts by its worst
#: stop), with the element's opacity; and its font size. Returns the offenders.
AUDIT = r"""(() => {
  const parse = (c) => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const v = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
  const lum = (c) => { const f = (x) => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const over = (top, under) => [0, 1, 2].map(i => top[i] * top[3] + under[i] * (1 - top[3])).concat([1]);
  function backgrounds(node) {
    // the candidate backgrounds behind node: a list of opaque colours
    let layers = [];
    for (let n = node; n; n = n.parentElement) {
      const cs = getComputedStyle(n);
      const img = cs.backgroundImage;
      if (img && img.indexOf('gradient') >= 0) {
        const stops = (img.match(/rgba?\([^)]+\)/g) || []).map(parse).map(c => c[3] < 1 ? over(c, [255, 255, 255, 1]) : c);
        return stops.map(s => layers.reduceRight((acc, l) => over(l, acc), s));
      }
      const bg = parse(cs.backgroundColor);
      if (bg && bg[3] > 0) {
        layers.push(bg);
        if (bg[3] >= 1) return [layers.reduceRight((acc, l) => over(l, acc), [255, 255, 255, 1])];
      }
    }
    return [layers.reduceRight((acc, l) => over(l, acc), [255, 255, 255, 1])];
  }
  const bad = [], small = [];
  let count = 0;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    const text = t.textContent.trim();
    const e = t.parentElement;
    if (!text || !e || e.closest('script,style,[aria-hidden="true"] .gm-sr')) continue;
    const r = document.createRange(); r.selectNodeContents(t);
    const rect = r.getBoundingClientRect();
    const cs = getComputedStyle(e);
    if (rect.width < 1 || rect.height < 1 || cs.visibility !== 'visible' || e.closest('.gm-sr')) continue;
    let opacity = 1;
    for (let n = e; n; n = n.parentElement) opacity *= Number(getComputedStyle(n).opacity);
    const fg = parse(cs.color); fg[3] *= opacity;
    count++;
    const worst = Math.min.apply(null, backgrounds(e).map(bg => ratio(over(fg, bg), bg)));
    const label = text.slice(0, 24) + ' <' + e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ')[0] : '') + '>';
    if (worst < 4.5) bad.push(label + ' ' + worst.toFixed(2) + ':1');
    if (parseFloat(cs.fontSize) < 14) small.push(label + ' ' + cs.fontSize);
  }
  return {count, bad, small};
})()"""

#: Names in lists that are cut (their box narrower than their text).
CUT = """[...document.querySelectorAll('.gm-child-name, .gm-search-name, .gm-dist-label, .gm-legend-row')]
  .filter(e => e.offsetParent && e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)"""


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_contrast_text_size_and_names_on_the_map_page(api_url, loaded_engine, browser, size):
    page = open_map(browser, api_url, size, "level=grid&metric=online_rate")
    with loaded_engine.connect() as conn:
        village = conn.execute(
            text("""SELECT v.code FROM area v WHERE v.level = 2 ORDER BY
                    (SELECT max(length(g.name)) FROM area g WHERE g.parent_code = v.code) DESC, v.code LIMIT 1""")
        ).scalar_one()
    # every panel in use: a village with long grid names selected, the blind list open, cameras on
    page.evaluate(f"gm.select('{village}')")
    page.evaluate("gm.openBlind(false)")
    wait_idle(page)
    for metric in ("online_rate", "rollout_rate", "blind", "households_per_camera"):
        page.click(f"#gm-metrics .gm-seg-btn[data-value='{metric}']")
        wait_idle(page)
        audit = page.evaluate(AUDIT)
        assert audit["count"] > 100, audit["count"]
        assert audit["bad"] == [], f"{metric}: text below 4.5:1 contrast: {audit['bad'][:30]}"
        assert audit["small"] == [], f"{metric}: text below 14 px: {audit['small'][:30]}"
        assert page.evaluate(CUT) == [], metric
    # every chip (white or black ink on its class colour) reaches 4.5:1
    chips = page.evaluate("document.querySelectorAll('.gm-chip').length")
    assert chips >= 5, chips
    screenshot(page, f"map_a11y_{size[0]}")
    page.context.close()


def test_keyboard_reaches_levels_search_and_lists_and_enter_selects(api_url, browser):
    page = open_map(browser, api_url, (1366, 768), "level=grid&metric=blind")
    wait_for(page, "document.querySelectorAll('#gm-blind-list .gm-blind-item').length > 0", what="the blind list")
    page.evaluate("document.activeElement && document.activeElement.blur()")
    reached: list[str] = []
    target = None
    for _ in range(150):
        page.keyboard.press("Tab")
        info = page.evaluate("""(() => { const a = document.activeElement; if (!a) return null;
            const cs = getComputedStyle(a);
            return {id: a.id, cls: a.className, code: a.dataset ? a.dataset.code || null : null,
                    group: a.closest('[role=radiogroup]') ? a.closest('[role=radiogroup]').id : null,
                    outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2}; })()""")
        if not info:
            continue
        key = info["group"] or info["id"] or str(info["cls"]).split(" ")[-1]
        reached.append(key)
        assert info["outline"], f"no visible focus on {info}"
        if "gm-blind-item" in str(info["cls"]):
            target = info["code"]
            break
    assert "gm-levels" in reached and "gm-search-input" in reached and "gm-metrics" in reached, reached
    assert target, f"Tab never reached the blind list: {reached}"
    page.keyboard.press("Enter")
    wait_for(page, f"gm.state.area && gm.state.area.properties.code === '{target}'", what="Enter to select")
    wait_for(page, "document.activeElement && document.activeElement.id === 'gm-area-name'", what="focus on the area")
    # the area's children are buttons too: Tab from the heading reaches them, Enter opens one
    page.evaluate("document.querySelector('#gm-area-children .gm-child').focus()")
    child = page.evaluate("document.activeElement.dataset.code")
    page.keyboard.press("Enter")
    wait_for(page, f"gm.state.area && gm.state.area.properties.code === '{child}'", what="Enter on a child")
    page.context.close()
