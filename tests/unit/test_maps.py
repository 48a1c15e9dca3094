"""Map builders: offline pages (no external references, Leaflet inlined) and the validation map.

The pages are checked by parsing the HTML they produce: their references (stdlib html.parser,
independently of gridmap.maps.offline's own check), the GeoJSON handed to Leaflet and the header
panel's text and figures.
"""

from __future__ import annotations

import fnmatch
import html
import json
import re
import time
import tomllib
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path

import folium
import geopandas as gpd
import pytest
from branca.element import Element
from folium.elements import JavascriptLink
from shapely.geometry import LineString, MultiPolygon, Point, box, mapping

from gridmap.maps import ExternalResourceError, standalone_html, validation_map, write_validation_html
from gridmap.maps.assets import LEAFLET_VERSION

ROOT = Path(__file__).resolve().parents[2]
LON, LAT = 115.48, 33.86


# --- helpers: reading a page back -----------------------------------------------------------


class PageReader(HTMLParser):
    """External references, inline script bodies and the header panel of a page."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.external: list[str] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.header_text: list[str] = []
        self.header_attrs: list[tuple[str, dict]] = []
        self._tag_stack: list[str] = []
        self._header_depth = 0
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attr = {k: v or "" for k, v in attrs}
        for name in ("src", "href", "srcset", "poster", "data"):
            if name in attr and tag != "a" and re.match(r"\s*(https?:)?//", attr[name], re.I):
                self.external.append(f"{tag} {name}={attr[name]}")
        if re.search(r"url\(\s*['\"]?\s*(https?:)?//", attr.get("style", ""), re.I):
            self.external.append(f"{tag} style={attr['style']}")
        if self._header_depth or "gridmap-header" in attr.get("class", ""):
            self._header_depth += 1
            self.header_attrs.append((tag, attr))
        self._tag_stack.append(tag)

    def handle_endtag(self, tag):
        if self._header_depth:
            self._header_depth -= 1
        if self._tag_stack:
            self._tag_stack.pop()

    def handle_data(self, data):
        current = self._tag_stack[-1] if self._tag_stack else ""
        if current == "script":
            self.scripts.append(data)
        elif current == "style":
            self.styles.append(data)
            if re.search(r"url\(\s*['\"]?\s*(https?:)?//|@import", data, re.I):
                self.external.append("style: " + data[:200])
        if self._header_depth:
            self.header_text.append(data)


def geojson_payloads(page: str) -> list[dict]:
    """The FeatureCollections the page hands to Leaflet (folium's ``..._add({...});`` calls)."""
    return [json.loads(m.group(1)) for m in re.finditer(r"_add\((\{.*\})\);$", page, re.MULTILINE)]


def tooltip_text(page: str) -> str:
    """Every property value of every feature, as the browser shows it (HTML entities decoded)."""
    values = [
        html.unescape(str(v))
        for fc in geojson_payloads(page)
        for f in fc["features"]
        for v in f["properties"].values()
        if v is not None
    ]
    return "\n".join(values)


# --- sample data ------------------------------------------------------------------------------


def sample_areas() -> gpd.GeoDataFrame:
    rows = [
        ("411628", "鹿邑县", 0, box(LON - 0.08, LAT - 0.06, LON + 0.08, LAT + 0.06)),
        ("411628001", "真源街道", 1, box(LON - 0.08, LAT - 0.06, LON, LAT + 0.06)),
        ("411628002", None, 1, box(LON, LAT - 0.06, LON + 0.08, LAT + 0.06)),
        ("411628001001", "东关社区", 2, box(LON - 0.08, LAT - 0.06, LON, LAT)),
        ("411628001002", "西关社区", 2, box(LON - 0.08, LAT, LON, LAT + 0.06)),
        ("411628001002001", "西关第一网格", 3, box(LON - 0.08, LAT, LON - 0.04, LAT + 0.06)),
        ("41162800X", "层级不明", None, box(LON + 0.01, LAT + 0.01, LON + 0.02, LAT + 0.02)),
        ("411628002001", "无几何村", 2, None),
    ]
    return gpd.GeoDataFrame(
        {"code": [r[0] for r in rows], "name": [r[1] for r in rows], "level": [r[2] for r in rows]},
        geometry=[r[3] for r in rows],
        crs=4490,
    )


def sample_report() -> dict:
    tiny = box(LON + 0.001, LAT + 0.001, LON + 0.001 + 1e-5, LAT + 0.001 + 5e-6)  # ≈ 1 m × 0.5 m
    issues = [
        {
            "kind": "overlap",
            "severity": "error",
            "codes": ["411628001001", "411628001002"],
            "area_m2": 1234.5,
            "geometry": mapping(box(LON - 0.05, LAT - 0.001, LON - 0.04, LAT + 0.001)),
            "message": "东关社区与西关社区重叠",
        },
        {
            "kind": "overlap",
            "severity": "error",
            "codes": ["411628001", "411628002"],
            "area_m2": 98765.25,
            "geometry": mapping(box(LON - 0.002, LAT + 0.02, LON + 0.002, LAT + 0.03)),
            "message": "真源街道与411628002重叠",
        },
        {
            "kind": "gap",
            "severity": "warning",
            "codes": ["411628001"],
            "area_m2": 0.5,
            "geometry": mapping(tiny),
            "message": "真源街道内有空白缝隙",
        },
        {
            "kind": "outside_parent",
            "severity": "error",
            "codes": ["411628001002001"],
            "area_m2": 5000.0,
            "geometry": mapping(
                MultiPolygon(
                    [
                        box(LON - 0.081, LAT + 0.01, LON - 0.08, LAT + 0.02),
                        box(LON - 0.081, LAT + 0.03, LON - 0.08, LAT + 0.04),
                    ]
                )
            ),
            "message": "西关第一网格超出西关社区范围",
        },
        {
            "kind": "invalid_geometry",
            "severity": "error",
            "codes": ["411628001002"],
            "area_m2": 0.0,
            "geometry": mapping(Point(LON - 0.03, LAT + 0.03)),
            "message": "西关社区边界自相交",
        },
        {
            "kind": "duplicate_code",
            "severity": "error",
            "codes": ["411628001001"],
            "area_m2": None,
            "geometry": None,
            "message": "编码411628001001出现两次",
        },
        {
            "kind": "bad_code",
            "severity": "warning",
            "codes": ["41162800X"],
            "area_m2": 0.0,
            "geometry": None,
            "message": "编码“41162800X”含非数字字符 <b>{{ 7*7 }}</b> {# 注释",
        },
        {
            "kind": "orphan",
            "severity": "error",
            "codes": ["411628003001"],
            "area_m2": 321.0,
            "geometry": mapping(box(LON + 0.03, LAT - 0.03, LON + 0.04, LAT - 0.02)),
            "message": "上级411628003不存在",
        },
        {
            "kind": "policy",
            "severity": "warning",
            "codes": ["411628002"],
            "area_m2": 0.0,
            "geometry": mapping(LineString([(LON, LAT - 0.06), (LON, LAT + 0.06)])),
            "message": "乡镇边界应沿道路或河流划分",
        },
        {
            "kind": "sliver",
            "severity": "warning",
            "codes": ["411628001001", "411628001"],
            "area_m2": 3.2,
            "geometry": mapping(box(LON - 0.06, LAT - 0.06, LON - 0.059, LAT - 0.05999)),
            "message": "东关社区与真源街道之间的细小缝隙",
        },
    ]
    return {
        "ok": False,
        "file": "鹿邑县网格边界.gpkg",
        "summary": {"errors": 6, "warnings": 4, "metric_crs": "EPSG:4526"},
        "issues": issues,
        "notes": ["按 2024 版网格规范检查", "面积按 CGCS2000 高斯-克吕格 38 带计算"],
    }


#: Counted by hand from sample_report(): kind → (errors, warnings).
EXPECTED_COUNTS = {
    "overlap": (2, 0),
    "gap": (0, 1),
    "outside_parent": (1, 0),
    "invalid_geometry": (1, 0),
    "duplicate_code": (1, 0),
    "bad_code": (0, 1),
    "orphan": (1, 0),
    "policy": (0, 1),
    "sliver": (0, 1),
}


@pytest.fixture(scope="module")
def page() -> str:
    return standalone_html(validation_map(sample_report(), sample_areas()), title="校验报告")


# --- the validation page ----------------------------------------------------------------------


def test_validation_page_has_no_external_references(page):
    reader = PageReader(page)
    assert reader.external == []
    for host in ("cdn.jsdelivr.net", "code.jquery.com", "cdnjs.cloudflare.com", "bootstrapcdn", "unpkg"):
        assert host not in page
    assert "L.tileLayer" not in page  # no basemap unless asked for


def test_leaflet_is_inlined(page):
    vendored = (files("gridmap.maps") / "static" / "leaflet" / "leaflet.js").read_text(encoding="utf-8")
    code = vendored.split("//# sourceMappingURL=")[0].rstrip()
    reader = PageReader(page)
    assert any(code in s for s in reader.scripts)
    assert f"Leaflet {LEAFLET_VERSION}" in page
    assert any(".leaflet-control-layers-toggle" in s and "data:image/png;base64," in s for s in reader.styles)


def test_every_issue_is_shown_with_its_message_and_codes(page):
    reader = PageReader(page)
    shown = tooltip_text(page) + "\n" + "".join(reader.header_text)
    for issue in sample_report()["issues"]:
        assert issue["message"] in shown
        for code in issue["codes"]:
            assert code in shown
    assert "1,234.5 m²" in shown and "98,765.2 m²" in shown
    for label in ("重叠", "空白缝隙", "超出上级范围", "几何无效", "上级不存在", "细小缝隙/重叠", "规范提醒"):
        assert label in tooltip_text(page)
    # the escaped message did not turn into markup or a template
    assert "<b>{{ 7*7 }}</b>" not in page


def test_drawn_defects_carry_full_detail_and_tiny_ones_a_locator(page):
    features = [f for fc in geojson_payloads(page) for f in fc["features"] if "message" in f["properties"]]
    gap = [f for f in features if f["properties"]["kind"] == "gap"]
    assert {f["geometry"]["type"] for f in gap} == {"Polygon", "Point"}  # the polygon and its locator
    polygon = next(f for f in gap if f["geometry"]["type"] == "Polygon")
    ring = polygon["geometry"]["coordinates"][0]
    assert len(ring) == 5  # a 1 m × 0.5 m rectangle, not simplified away
    assert sorted({x for x, _ in ring}) == pytest.approx([LON + 0.001, LON + 0.001 + 1e-5], abs=1e-9)
    assert sorted({y for _, y in ring}) == pytest.approx([LAT + 0.001, LAT + 0.001 + 5e-6], abs=1e-9)
    kinds = {f["properties"]["kind"] for f in features}
    assert kinds == {"overlap", "gap", "outside_parent", "invalid_geometry", "orphan", "policy", "sliver"}


def test_header_shows_status_file_and_counts(page):
    reader = PageReader(page)
    text = "".join(reader.header_text)
    assert "未通过" in text
    assert "文件：鹿邑县网格边界.gpkg" in text
    assert "按 2024 版网格规范检查" in text and "高斯-克吕格" in text
    assert "面积计算坐标系：EPSG:4526" in text
    details = next(a for t, a in reader.header_attrs if t == "details")
    assert details["data-ok"] == "false"
    totals = next(a for t, a in reader.header_attrs if "gm-totals" in a.get("class", ""))
    assert (int(totals["data-errors"]), int(totals["data-warnings"])) == (6, 4)
    assert "错误 6 项，警告 4 项" in text
    rows = {
        a["data-kind"]: (int(a["data-errors"]), int(a["data-warnings"]))
        for t, a in reader.header_attrs
        if t == "tr" and "data-kind" in a
    }
    assert rows == EXPECTED_COUNTS
    # issues without geometry are listed in the header, areas counted per level
    assert "无法在地图上标出的问题（2）" in text
    assert "县 1，乡镇/街道 2，村/社区 3，网格 1，未知层级 1" in text


def test_passing_report_says_so():
    report = {"ok": True, "file": "ok.shp", "summary": {}, "issues": []}
    reader = PageReader(standalone_html(validation_map(report, sample_areas())))
    text = "".join(reader.header_text)
    assert "通过" in text and "未通过" not in text and "未发现问题" in text


def test_areas_are_drawn_per_level_with_their_codes(page):
    areas = sample_areas()
    drawn = [
        f["properties"] for fc in geojson_payloads(page) for f in fc["features"] if "message" not in f["properties"]
    ]
    assert sorted(p["code"] for p in drawn) == sorted(areas.dropna(subset=["geometry"])["code"])
    assert {"name": None, "code": "411628002"} in drawn

    m = validation_map(sample_report(), areas)
    layers = [c for c in m._children.values() if isinstance(c, folium.GeoJson)]
    outline = [lyr for lyr in layers if lyr.layer_name.startswith("区域：")]
    assert [lyr.layer_name for lyr in outline] == [
        "区域：县（1）",
        "区域：乡镇/街道（2）",
        "区域：村/社区（2）",
        "区域：网格（1）",
        "区域：未知层级（1）",
    ]
    weights = [lyr.style_function(lyr.data["features"][0])["weight"] for lyr in outline[:4]]
    assert weights == sorted(weights, reverse=True) and len(set(weights)) == 4
    assert len(layers) == len(outline) + 7  # one defect layer per kind drawn
    assert any(isinstance(c, folium.LayerControl) for c in m._children.values())
    assert any(isinstance(c, folium.map.FitBounds) for c in m._children.values())


def test_write_validation_html(tmp_path):
    path = write_validation_html(sample_report(), sample_areas(), tmp_path / "report.html")
    text = path.read_text(encoding="utf-8")
    assert "<title>边界文件校验报告：鹿邑县网格边界.gpkg</title>" in text
    assert '<html lang="zh-CN">' in text
    assert PageReader(text).external == []


def test_basemap_url_is_kept_as_a_tile_layer():
    url = "http://127.0.0.1:8080/tiles/{z}/{x}/{y}.png"
    page = standalone_html(
        validation_map(sample_report(), sample_areas(), basemap=url, basemap_attribution="本地瓦片服务")
    )
    assert url in page and "L.tileLayer" in page
    assert PageReader(page).external == []


# --- standalone_html refuses what would need the network -----------------------------------


def test_unknown_external_script_is_refused():
    m = folium.Map(tiles=None)
    m.get_root().header.add_child(JavascriptLink("https://example.com/lib/heatmap.js"), name="heat")
    with pytest.raises(ExternalResourceError, match="example.com/lib/heatmap.js"):
        standalone_html(m)


@pytest.mark.parametrize(
    "snippet",
    [
        '<div style="background: url(https://example.com/bg.png)">x</div>',
        "<style>.x { background: url('//example.com/bg.png') }</style>",
        '<style>@import "https://example.com/more.css";</style>',
        '<img src="https://example.com/logo.png">',
        '<img src="logo.png">',  # next to the file is not inside it either
    ],
)
def test_remaining_external_references_are_refused(snippet):
    m = folium.Map(tiles=None)
    m.get_root().html.add_child(Element(snippet))
    with pytest.raises(ExternalResourceError, match="logo.png|bg.png|more.css"):
        standalone_html(m)


def test_a_dropped_library_the_page_needs_is_refused():
    m = folium.Map(tiles=None)
    folium.Marker([LAT, LON], icon=folium.Icon(color="red", icon="info-sign")).add_to(m)
    with pytest.raises(ExternalResourceError, match="awesome-markers"):
        standalone_html(m)


def test_plain_markers_work_offline():
    m = folium.Map(tiles=None)
    folium.Marker([LAT, LON], tooltip="县政府").add_to(m)
    page = standalone_html(m)
    assert PageReader(page).external == [] and "L.marker" in page


# --- packaging --------------------------------------------------------------------------------


def test_vendored_files_are_package_data():
    static = files("gridmap.maps") / "static"
    for name in (
        "README.md",
        "leaflet/leaflet.js",
        "leaflet/leaflet.css",
        "leaflet/LICENSE",
        "leaflet/images/layers.png",
        "leaflet/images/layers-2x.png",
        "leaflet/images/marker-icon.png",
        "leaflet/images/marker-icon-2x.png",
        "leaflet/images/marker-shadow.png",
    ):
        assert (static / name).is_file(), name
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["gridmap.maps"]
    package = ROOT / "gridmap" / "maps"
    for path in (package / "static").rglob("*"):
        if path.is_file():
            rel = path.relative_to(package).as_posix()
            assert any(fnmatch.fnmatch(rel, p) for p in patterns), f"{rel} is not in package-data"


# --- size and speed on the sample county -----------------------------------------------------


@pytest.mark.slow
def test_ten_thousand_microgrids_stay_light(data_dir):
    from gridmap.io.boundaries import read_areas

    areas = read_areas(data_dir / "luyi_grids.gpkg", layer="microgrid")
    assert len(areas) == 10_311
    report = sample_report()
    start = time.perf_counter()
    page = standalone_html(validation_map(report, areas))
    seconds = time.perf_counter() - start
    size = len(page.encode("utf-8"))
    # measured: 8.44 MB in ≈ 2 s (build 0.7 s + render and checks 1.2 s)
    assert size < 10_000_000, f"{size:,} bytes"
    assert seconds < 20, f"{seconds:.1f} s"
    codes = {
        f["properties"]["code"]
        for fc in geojson_payloads(page)
        for f in fc["features"]
        if "message" not in f["properties"]
    }
    assert codes == set(areas["code"])
    assert PageReader(page).external == []
