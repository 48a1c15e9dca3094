"""`gridmap export-map`: the offline coverage map, against the sample county in a real PostGIS.

Pages are read back as a browser would get them: the GeoJSON handed to Leaflet (folium's
``<layer>_add({...});`` lines), the fill colour folium's style function gives each feature, the
legend and title boxes, and the page's external references (``check_offline``).
"""

from __future__ import annotations

import html
import json
import re
import time

import pytest
from conftest import engine_for_cli
from sqlalchemy import text
from typer.testing import CliRunner

from gridmap.cli import app
from gridmap.coverage.rates import percent
from gridmap.coverage.table import compute_coverage
from gridmap.maps import check_offline
from gridmap.maps.coverage_map import (
    NO_DATA,
    RATE_CLASSES,
    CoverageMapError,
    coverage_map,
    coverage_page,
    metres_to_degrees,
    rate_class,
    row_class,
    write_coverage_map,
)

runner = CliRunner()
TOWNSHIP = "411628001"
BASEMAP = "http://127.0.0.1:8080/tiles/{z}/{x}/{y}.png"


# --- reading a page back ------------------------------------------------------------------------


def payloads(page: str) -> list[dict]:
    """The FeatureCollections the page hands to Leaflet, in page order (choropleth first)."""
    return [json.loads(m.group(1)) for m in re.finditer(r"_add\((\{.*\})\);$", page, re.MULTILINE)]


def areas(page: str) -> dict[str, dict]:
    """The coloured areas by code (their properties, HTML-decoded code as key)."""
    return {html.unescape(f["properties"]["code"]): f for f in payloads(page)[0]["features"]}


def fill_colours(page: str) -> dict[str, str]:
    """Code → fillColor, evaluated from the switch folium writes for the choropleth's style."""
    body = re.search(
        r"function (\w+)_styler\(feature\) \{\s*switch\(feature\.id\) \{(.*?)\n\s*default:\s*return (\{.*?\});",
        page,
        re.DOTALL,
    )
    assert body, "no style function in the page"
    by_id: dict[int, str] = {}
    for cases, style in re.findall(r"((?:case \d+: )+)\s*return (\{.*?\});", body.group(2)):
        for case in re.findall(r"case (\d+):", cases):
            by_id[int(case)] = json.loads(style)["fillColor"]
    default = json.loads(body.group(3))["fillColor"]
    return {html.unescape(f["properties"]["code"]): by_id.get(f["id"], default) for f in payloads(page)[0]["features"]}


def panel(page: str, css_class: str) -> str:
    match = re.search(rf'<div id="\w+" class="gridmap-panel {css_class}">(.*?)</div>\s*\n', page, re.DOTALL)
    assert match, css_class
    return match.group(1)


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def coverage(loaded_engine):
    """Every area's figures computed from scratch (not the stored figures the map shows)."""
    with loaded_engine.connect() as conn:
        return compute_coverage(conn)


def level_rows(coverage, level: int) -> list:
    return [r for r in coverage.rows.values() if r.level == level]


@pytest.fixture
def cli_env(loaded_engine, db_url, monkeypatch):
    yield from engine_for_cli(db_url, monkeypatch)


def export(tmp_path, *args: str):
    out = tmp_path / "map.html"
    result = runner.invoke(app, ["export-map", "--out", str(out), *args])
    return result, out


@pytest.fixture(scope="module")
def grid_pages(loaded_engine, db_url, tmp_path_factory) -> dict[str, str]:
    """The level-3 page for each metric, written by the CLI (one run per metric for the module)."""
    pages = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRIDMAP_DATABASE_URL", db_url)
        for metric in ("online_rate", "rollout_rate"):
            out = tmp_path_factory.mktemp(metric) / "grids.html"
            result = runner.invoke(app, ["export-map", "--level", "3", "--metric", metric, "--out", str(out)])
            assert result.exit_code == 0, result.output
            assert str(out) in result.stdout and "1,294" in result.stdout
            pages[metric] = out.read_text(encoding="utf-8")
    return pages


# --- the page -----------------------------------------------------------------------------------


def test_cli_writes_an_offline_page(grid_pages):
    for page in grid_pages.values():
        check_offline(page)
        assert "L.tileLayer" not in page  # no basemap unless asked for
        for host in ("cdn.jsdelivr.net", "code.jquery.com", "cdnjs.cloudflare.com", "unpkg"):
            assert host not in page
        assert '<html lang="zh-CN">' in page
        assert "<title>鹿邑县 网格上云率地图</title>" in grid_pages["online_rate"]


def test_every_grid_has_its_figures_and_rates(grid_pages, coverage):
    expected = {r.code: r for r in level_rows(coverage, 3)}
    assert len(expected) == 1_294
    for metric, page in grid_pages.items():
        drawn = areas(page)
        assert set(drawn) == set(expected)
        for code, feature in drawn.items():
            row, props = expected[code], feature["properties"]
            assert html.unescape(props["name"]) == row.name
            assert (props["planned"], props["installed"], props["online"]) == (row.planned, row.installed, row.online)
            assert props["rollout_pct"] == percent(row.rollout_rate)
            assert props["online_pct"] == percent(row.online_rate)
            value = getattr(row, metric)
            assert props["rate"] == (None if value is None else pytest.approx(value, abs=1e-8))
            assert props["class"] == row_class(row, metric).key
            assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_fill_colour_follows_the_metric(grid_pages, coverage):
    rows = {r.code: r for r in level_rows(coverage, 3)}
    colours = {metric: fill_colours(page) for metric, page in grid_pages.items()}
    for metric, by_code in colours.items():
        assert by_code == {code: row_class(rows[code], metric).colour for code in rows}
    # no installed camera: no 上云率 (grey) but an 安装率 of 0% (red) when something is planned
    blind = [r for r in level_rows(coverage, 3) if r.planned and not r.installed]
    assert blind
    for row in blind:
        assert colours["online_rate"][row.code] == NO_DATA.colour
        assert colours["rollout_rate"][row.code] == RATE_CLASSES[0].colour
    differ = sum(colours["online_rate"][c] != colours["rollout_rate"][c] for c in rows)
    assert differ > 100


def test_legend_counts_areas_per_class(grid_pages, coverage):
    rows = level_rows(coverage, 3)
    for metric, page in grid_pages.items():
        legend = panel(page, "gridmap-legend")
        counts = {k: int(n) for k, n in re.findall(r'data-class="(\w+)" data-count="(\d+)"', legend)}
        expected = {c.key: 0 for c in (*RATE_CLASSES, NO_DATA)}
        for row in rows:
            expected[row_class(row, metric).key] += 1
        assert counts == expected and sum(counts.values()) == 1_294
        label = "上云率" if metric == "online_rate" else "安装率"
        assert f"<b>{label}</b>" in legend
        for cls in RATE_CLASSES:
            assert html.escape(cls.label) in legend and cls.colour in legend
        assert "无数据" in legend and "村/社区边界" in legend
    # the 61 grids with no installed camera are the no-data class of 上云率
    assert re.search(r'data-class="none" data-count="61"', panel(grid_pages["online_rate"], "gridmap-legend"))


def test_title_box_and_tooltips(grid_pages):
    page = grid_pages["online_rate"]
    title = panel(page, "gridmap-title")
    assert "鹿邑县 视频监控上云率" in title
    assert re.search(r'data-code="411628" data-planned="10520" data-installed="10048" data-online="9896"', title)
    assert "95.51%" in title and "98.49%" in title and "10,520" in title
    assert "bindTooltip(" in page
    fields = json.loads(re.search(r"let fields = (\[.*\]);", page).group(1))
    aliases = json.loads(re.search(r"let aliases = (\[.*\]);", page).group(1))
    assert dict(zip(fields, aliases)) == {
        "code": "编码",
        "name": "名称",
        "planned": "计划",
        "installed": "已安装",
        "online": "在线",
        "rollout_pct": "安装率",
        "online_pct": "上云率",
    }


def test_parent_outlines_are_drawn_once_and_do_not_catch_the_mouse(grid_pages):
    page = grid_pages["online_rate"]
    outline = payloads(page)[1]
    assert len(payloads(page)) == 2
    assert [f["geometry"]["type"] for f in outline["features"]] == ["MultiLineString"]
    assert re.search(r'"interactive": false', page)


def test_code_selects_the_areas_under_it(cli_env, tmp_path, coverage):
    result, out = export(tmp_path, "--level", "4", "--code", TOWNSHIP, "--metric", "rollout_rate")
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    expected = {r.code for r in level_rows(coverage, 4) if r.code.startswith(TOWNSHIP)}
    assert set(areas(page)) == expected and all(c.startswith(TOWNSHIP) for c in expected)
    title = panel(page, "gridmap-title")
    assert f'data-code="{TOWNSHIP}"' in title and 'data-code="411628"' in title
    assert "网格边界" in panel(page, "gridmap-legend")
    check_offline(page)


def test_basemap_is_a_tile_layer(cli_env, tmp_path):
    result, out = export(tmp_path, "--level", "1", "--basemap", BASEMAP)
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert BASEMAP in page and "L.tileLayer" in page
    check_offline(page)  # tiles are data fetched by Leaflet, not page assets
    assert len(areas(page)) == 24


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--metric", "coverage"], "unknown_metric", "未知指标"),
        (["--level", "7"], "unknown_level", "未知层级"),
        (["--code", "411628999"], "unknown_code", "不存在"),
        (["--level", "1", "--code", "411628001001001"], "no_areas", "没有乡镇/街道"),
        (["--basemap", "http://tiles.example/tile.png"], "bad_basemap", "XYZ"),
    ],
)
def test_unusable_options_exit_2_with_a_chinese_message(cli_env, tmp_path, args, code, words):
    result, out = export(tmp_path, *args)
    assert result.exit_code == 2, result.output
    assert code in result.stderr and words in result.stderr
    assert not out.exists()


def test_county_level_has_no_parent_outline(loaded_engine, coverage):
    m = coverage_map(loaded_engine, level=0)
    page = coverage_page(m)
    assert list(areas(page)) == ["411628"] and len(payloads(page)) == 1
    with pytest.raises(CoverageMapError) as err:
        coverage_map(loaded_engine, level=-1)
    assert err.value.code == "unknown_level" and "未知层级" in err.value.message


def test_hostile_names_stay_text(loaded_engine):
    hostile = '真源{{ 7*7 }}{% if true %}街{% endif %}{# x #}道</script><script>alert("x")</script>&amp;\'"'
    county = "鹿邑{{ 6*6 }}<b>县</b>"
    with loaded_engine.connect() as conn:
        conn.execute(text("UPDATE area SET name = :n WHERE code = :c"), {"n": hostile, "c": TOWNSHIP})
        conn.execute(text("UPDATE area SET name = :n WHERE code = '411628'"), {"n": county})
        page = coverage_page(coverage_map(conn, level=1), title=county)
        conn.rollback()
    props = areas(page)[TOWNSHIP]["properties"]
    assert html.unescape(props["name"]) == hostile  # not rendered as a template, not markup
    assert "<script>alert" not in page and 'alert("x")' not in page and "{{ 7*7 }}" not in page
    title = panel(page, "gridmap-title")
    assert "鹿邑&#123;&#123; 6*6 &#125;&#125;&lt;b&gt;县&lt;/b&gt;" in title
    assert "<title>鹿邑{{ 6*6 }}&lt;b&gt;县&lt;/b&gt;</title>" in page
    check_offline(page)


def test_rate_classes_are_exact_on_counts():
    assert rate_class(0, 0) is NO_DATA
    assert rate_class(79, 100).key == "lt80" and rate_class(0, 5).key == "lt80"
    assert rate_class(80, 100).key == "80_90"
    assert rate_class(19, 20).key == "95_98"  # exactly 95% meets the target
    assert rate_class(9_499_999, 10_000_000).key == "90_95"
    assert rate_class(49, 50).key == "ge98" and rate_class(7, 7).key == "ge98"
    bounds = [(c.lower, c.upper) for c in RATE_CLASSES]
    assert bounds == [(None, 80), (80, 90), (90, 95), (95, 98), (98, None)]
    # one degree of latitude at 34° N is about 110.9 km
    assert metres_to_degrees(110_900, 34.0) == pytest.approx(1.0, abs=2e-3)


@pytest.mark.slow
def test_whole_county_micro_grid_page_stays_light(loaded_engine, tmp_path):
    out = tmp_path / "micro.html"
    start = time.perf_counter()
    summary = write_coverage_map(loaded_engine, out, level=4)
    seconds = time.perf_counter() - start
    size = out.stat().st_size
    # measured: 9.4 MB in ≈ 3–4 s (10,311 micro-grids + 1,294 grid outlines)
    assert size < 12_000_000, f"{size:,} bytes"
    assert seconds < 20, f"{seconds:.1f} s"
    assert "10,311" in summary and "98.49%" in summary
    page = out.read_text(encoding="utf-8")
    assert len(areas(page)) == 10_311
    check_offline(page)
