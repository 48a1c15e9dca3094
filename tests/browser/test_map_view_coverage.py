"""/map's 视野覆盖 view (issue 18): grids coloured by the share their cameras' views cover, as
/api/v1/coverage/view says, and the 视野盲区 layer of a selected village, in Debian's chromium on the
shared session server (read-only). Screenshot: ``test-artifacts/screenshots/map_view_coverage.png``."""

from __future__ import annotations

from browser import screenshot, wait_for, wait_idle

from gridmap.maps.view_classes import VIEW_CLASSES, VIEW_NOT_COMPUTED, view_class


def test_view_coverage_colours_the_grids_and_draws_the_unseen_parts(api_url, http, browser):
    page = browser.page(1366, 768)
    page.goto(f"{api_url}/map#level=grid&metric=view_coverage")
    wait_idle(page)
    wait_for(page, "gm.seen.rates && gm.seen.rates.size > 0", what="the seen shares")
    wait_idle(page)
    legend = page.evaluate("[...document.querySelectorAll('#gm-legend .gm-legend-row')].map(r => r.dataset.cls)")
    assert legend == [c.key for c in reversed(VIEW_CLASSES)] + [VIEW_NOT_COMPUTED.key]
    rows = {r["code"]: r for r in http.get("/api/v1/coverage/view", params={"level": 3}).json()["rows"]}
    drawn = page.evaluate("""(() => { const out = {};
        gm.layers.area.gmFeatures.forEach((p, code) => {
          out[code] = [gm.viewClass(p).key, gm.layers.area.gmStyle(p, gm.map.getZoom()).fillColor]; });
        return out; })()""")
    assert len(drawn) > 100
    colours = {c.key: c.colour for c in (*VIEW_CLASSES, VIEW_NOT_COMPUTED)}
    for code, (key, colour) in drawn.items():
        assert key == view_class(rows[code]["seen_rate"]).key, code
        assert colour == colours[key]
    assert len({k for k, _ in drawn.values()}) >= 3  # the grids differ
    # a village selected: its 视野盲区 drawn over the grids, as /api/v1/coverage/view/unseen gives them
    village = next(r for r in http.get("/api/v1/coverage/view", params={"level": 2}).json()["rows"] if r["seen_m2"] > 0)
    page.evaluate(f"gm.select('{village['code']}', {{fly: true}})")
    wait_for(page, "gm.seen.unseen !== null", what="the unseen layer")
    wait_idle(page)
    unseen = http.get("/api/v1/coverage/view/unseen", params={"code": village["code"]}).json()
    assert page.evaluate("gm.seen.unseen.getLayers().length") == len(unseen["features"])
    assert page.evaluate("gm.map.getBounds().intersects(gm.seen.unseen.getBounds())")
    # the village's card: its own view figures, as the API gives them
    wait_for(page, "gm.seen.card !== null", what="the card's view figures")
    wait_idle(page)
    card = dict(
        page.evaluate("""[...document.querySelectorAll('#gm-area-facts dt')]
            .map(dt => [dt.textContent, dt.nextElementSibling.textContent])""")
    )
    expected = f"{village['seen_rate'] * 100:.2f}% · {round(village['seen_m2']):,} m²"
    assert card["视野覆盖"] == expected
    assert card["视野内户数"].startswith(f"{round(village['households_seen']):,} 户")
    screenshot(page, "map_view_coverage")
    # another view: the unseen layer and the card's view figures go
    page.evaluate("gm.setMetric('online_rate')")
    wait_idle(page)
    assert page.evaluate("gm.seen.unseen") is None
    assert "视野覆盖" not in page.evaluate("document.querySelector('#gm-area-facts').textContent")
    page.close()
