"""The coverage map: the areas of one level coloured by 上云率 or 安装率, as one offline page.

What the page shows (``gridmap export-map``, or :func:`coverage_map` in a notebook):

- every area of ``level`` (under ``code`` when given), filled by the class of its rate;
- the outlines of the level above (townships over villages, grids over micro-grids, ...), drawn on
  top but not catching the mouse, so hovering anywhere shows the area's tooltip: code, name,
  planned / installed / online cameras and both rates (two decimals);
- a title box with the county's totals (and the selected area's when ``code`` is given), a legend
  with the number of areas per class, a layer control and a scale bar;
- no basemap unless one is asked for (an XYZ URL template: see :mod:`gridmap.maps.basemap`).

**Figures** are the stored rows of :func:`gridmap.coverage.table.coverage_rows`, exactly what
``gridmap coverage`` prints; they and the geometries are read in one REPEATABLE READ transaction
when an engine is passed, so they come from the same snapshot.

**Classes** (:data:`RATE_CLASSES`), lower bound included, computed from the integer counts (not
from rounded fractions): ``< 80%``, ``80–90%``, ``90–95%``, ``95–98%``, ``≥ 98%``, and
``无数据`` (grey) when the denominator is zero (nothing planned for 安装率, nothing installed for
上云率). 95% is the target the report works to (:data:`TARGET`): the classes below it are warm
(red → yellow), the ones at or above it cool (light → dark blue). Red–yellow–blue (ColorBrewer
RdYlBu) stays readable for colour-blind readers, unlike red–green. Both metrics use the same
classes and colours, so two printed maps can be compared with one legend.

**Geometry** comes from the ``area`` table (EPSG:4490). For the page only, each level is simplified
as a coverage (``shapely.coverage_simplify``: neighbours keep identical shared edges, so no slivers
open between them) with the tolerance of :data:`SIMPLIFY_METRES` (2 m for micro-grids up to 30 m
for the county outline, about 1/150 of a typical area's width). GEOS drops a vertex when the
triangle it forms with its neighbours is smaller than tolerance² (Visvalingam–Whyatt), so the
tolerance is a length scale rather than a strict bound on how far an edge moves. Metres become
degrees through the length of one degree of latitude at the data's latitude
(:func:`metres_to_degrees`; the longer of the two degree lengths, so a degree tolerance never
stands for more metres than stated). Coordinates are rounded to
:data:`DECIMALS` decimals (1e-5°, about 1 m). Parent outlines are drawn as lines with each shared
edge once, and the embedded GeoJSON is written compactly (:func:`coverage_page`). Measured on the
sample county (whose boundaries are already simplified at 20 m, so the tolerances remove little):
level 0 0.2 MB, level 1 0.5 MB, level 2 1.7 MB, level 3 (1,294 grids) 3.0 MB, level 4 (10,311
micro-grids under 1,294 grid outlines) 9.4 MB, written in about 4 s.

**Safety.** Every text from the data (names, codes) is HTML-escaped with its braces turned into
character references (:func:`gridmap.maps.labels.html_text`): folium renders its output through
Jinja a second time, and tooltips use ``innerHTML``.
"""

from __future__ import annotations

import datetime as dt
import html as html_lib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import folium
import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry import mapping
from sqlalchemy import Connection, Engine, text

from gridmap.coverage.rates import Counts, percent
from gridmap.coverage.table import CoverageRow, coverage_rows
from gridmap.db.areas import county_codes
from gridmap.db.figures import chain_of
from gridmap.errors import GridmapError
from gridmap.levels import LEVELS
from gridmap.maps.basemap import new_map
from gridmap.maps.controls import HtmlControl, KeepLayerOrder, PageStyle
from gridmap.maps.labels import format_count, html_text, level_label
from gridmap.maps.offline import standalone_html
from gridmap.maps.panels import PANEL_CSS

__all__ = [
    "METRICS",
    "NO_DATA",
    "RATE_CLASSES",
    "SIMPLIFY_METRES",
    "TARGET",
    "CoverageMapError",
    "coverage_map",
    "coverage_page",
    "map_iframe",
    "metres_to_degrees",
    "rate_class",
    "row_class",
    "write_coverage_map",
]


class CoverageMapError(GridmapError):
    """A coverage map that cannot be made: ``code`` is stable English snake_case (for scripts and
    tests), ``message`` is Chinese (for the person who ran the command)."""

    statuses = {"unknown_code": 404, "cannot_write": 500}


@dataclass(frozen=True)
class Metric:
    key: str
    #: Chinese name (上云率 / 安装率)
    label: str
    #: how it is computed, in Chinese
    formula: str
    numerator: str
    denominator: str
    #: what a zero denominator means, in Chinese (the 无数据 class)
    no_data: str


METRICS: dict[str, Metric] = {
    "online_rate": Metric("online_rate", "上云率", "在线 / 已安装", "online", "installed", "已安装为 0"),
    "rollout_rate": Metric("rollout_rate", "安装率", "已安装 / 计划", "installed", "planned", "计划为 0"),
}


@dataclass(frozen=True)
class RateClass:
    """One legend class: ``lower <= rate < upper`` in whole percent (None: unbounded)."""

    key: str
    label: str
    lower: int | None
    upper: int | None
    colour: str

    def contains(self, numerator: int, denominator: int) -> bool:
        """Exact test on the counts: ``lower% <= numerator / denominator < upper%``."""
        scaled = numerator * 100
        return (self.lower is None or scaled >= self.lower * denominator) and (
            self.upper is None or scaled < self.upper * denominator
        )


#: The classes, worst first (ColorBrewer RdYlBu 5; warm below the 95% target, cool at or above it).
RATE_CLASSES: tuple[RateClass, ...] = (
    RateClass("lt80", "< 80%", None, 80, "#d7191c"),
    RateClass("80_90", "80% – 90%", 80, 90, "#fdae61"),
    RateClass("90_95", "90% – 95%", 90, 95, "#fee090"),
    RateClass("95_98", "95% – 98%", 95, 98, "#abd9e9"),
    RateClass("ge98", "≥ 98%", 98, None, "#2c7bb6"),
)
#: No rate (zero denominator): neither 0% nor 100%.
NO_DATA = RateClass("none", "无数据", None, None, "#bdbdbd")
#: The target the warm/cool split marks (also the notebook's target line).
TARGET = 0.95

#: Simplification tolerance per level, in metres (about 1/150 of a typical area's width there).
SIMPLIFY_METRES: dict[int, float] = {0: 30.0, 1: 15.0, 2: 8.0, 3: 4.0, 4: 2.0}
#: Coordinate decimals in the page: 1e-5° is 1.1 m north–south, 0.9 m east–west at 34° N, so a vertex
#: moves at most ≈ 0.7 m, less than every tolerance; shared vertices round alike, so no slivers.
DECIMALS = 5

#: Fill of the coloured areas; their own edges (white) and the parent outlines, per level.
FILL_OPACITY = 0.8
EDGE_WEIGHT: dict[int, float] = {0: 1.5, 1: 1.2, 2: 0.8, 3: 0.6, 4: 0.3}
OUTLINE_COLOUR = "#222222"
OUTLINE_WEIGHT: dict[int, float] = {0: 3.0, 1: 2.2, 2: 1.6, 3: 1.2}

TOOLTIP_FIELDS = ["code", "name", "planned", "installed", "online", "rollout_pct", "online_pct"]
TOOLTIP_ALIASES = ["编码", "名称", "计划", "已安装", "在线", "安装率", "上云率"]

_GRS80 = Geod(ellps="GRS80")  # the CGCS2000 ellipsoid (flattening differs by 1e-10)
_GEOMS_SQL = text("SELECT code, ST_AsBinary(geom) FROM area WHERE level = :level")

COVERAGE_CSS = """
.gridmap-title { max-width: 340px; }
.gridmap-title .gm-head { font-size: 15px; margin-bottom: 2px; }
.gridmap-title table { border-collapse: collapse; margin: 4px 0; }
.gridmap-title th, .gridmap-title td { padding: 1px 6px; border-bottom: 1px solid #eee; text-align: right; }
.gridmap-title th:first-child, .gridmap-title td:first-child { text-align: left; }
.gridmap-legend .gm-swatch { border-color: #fff; }
.gridmap-legend .gm-count { color: #666; margin-left: 4px; }
"""


def metres_to_degrees(metres: float, latitude: float) -> float:
    """``metres`` as degrees for simplifying lon/lat data near ``latitude``: divided by the length
    of one degree of latitude there (≈ 110.9 km at 34° N), the longer of the two degree lengths,
    so the result never stands for more than ``metres``, east–west or north–south."""
    lat = min(max(latitude, -89.0), 89.0)
    _, _, one_degree = _GRS80.inv(0.0, lat - 0.5, 0.0, lat + 0.5)
    return metres / one_degree


def rate_class(numerator: int, denominator: int) -> RateClass:
    """The legend class of ``numerator / denominator`` (:data:`NO_DATA` when the denominator is 0)."""
    if not denominator:
        return NO_DATA
    return next(c for c in RATE_CLASSES if c.contains(numerator, denominator))


def row_class(row: CoverageRow | Counts, metric: str) -> RateClass:
    """The legend class of an area (or of counts) for ``metric``."""
    m = _metric(metric)
    counts = row.counts if isinstance(row, CoverageRow) else row
    return rate_class(getattr(counts, m.numerator), getattr(counts, m.denominator))


@dataclass
class _Built:
    map: folium.Map
    title: str
    areas: int
    county: CoverageRow | None


def coverage_map(
    source: Engine | Connection,
    *,
    level: int,
    metric: str = "online_rate",
    code: str | None = None,
    basemap: str | None = None,
) -> folium.Map:
    """The folium map of every area of ``level`` under ``code`` (the whole database when None),
    coloured by ``metric`` (``online_rate`` 上云率 or ``rollout_rate`` 安装率).

    ``source`` is an engine (a connection is opened and closed) or an open connection (used as
    it is, e.g. inside a test's transaction). Raises :class:`CoverageMapError`. Use
    :func:`coverage_page` (or :func:`write_coverage_map`) for an offline file, and
    :func:`map_iframe` to show it in a notebook without a CDN."""
    return _build(source, level=level, metric=metric, code=code, basemap=basemap).map


def coverage_page(m: folium.Map, title: str | None = None) -> str:
    """:func:`standalone_html` of a coverage map, with the embedded GeoJSON re-written compactly
    (no spaces after separators, Chinese as UTF-8 rather than ``\\uXXXX``: about 15% smaller)."""
    return _compact_geojson(standalone_html(m, title=title))


def write_coverage_map(
    engine: Engine | Connection,
    out: str | Path,
    *,
    level: int = 3,
    metric: str = "online_rate",
    code: str | None = None,
    basemap: str | None = None,
) -> str:
    """Write the coverage map as one offline HTML file (UTF-8); returns one summary line."""
    built = _build(engine, level=level, metric=metric, code=code, basemap=basemap)
    page = coverage_page(built.map, title=built.title)
    out = Path(out)
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise CoverageMapError("cannot_write", f"无法写入 {out}：{exc.strerror or exc}") from exc
    m = METRICS[metric]
    size = len(page.encode("utf-8")) / 1e6
    county = ""
    if built.county is not None:
        county = (
            f"；{built.county.name or built.county.code} 上云率 {percent(built.county.online_rate)}，"
            f"安装率 {percent(built.county.rollout_rate)}"
        )
    return (
        f"已写出{level_label(level)} {format_count(built.areas)} 个区域的{m.label}地图：{out}"
        f"（{size:.1f} MB）{county} / {built.areas:,} areas, level {level}, {metric}"
    )


def map_iframe(m: folium.Map, *, height: int = 600, title: str | None = None) -> str:
    """``m`` as an ``<iframe srcdoc>`` (in a ``<div>``) holding its offline page, for
    ``IPython.display.HTML``: unlike folium's own notebook display it loads nothing from a CDN, and
    the sandbox lets the map's scripts run without access to the notebook page."""
    page = coverage_page(m, title=title)
    return (
        f'<div class="gridmap-map"><iframe srcdoc="{html_lib.escape(page, quote=True)}" '
        f'title="{html_lib.escape(title or "地图")}" style="width:100%;height:{int(height)}px;border:1px solid #ddd" '
        f'sandbox="allow-scripts"></iframe></div>'
    )


_GEOJSON_ADD = re.compile(r"^(\s*[A-Za-z_$][\w$]*_add\()(\{.*\})(\);)$", re.MULTILINE)


def _compact_geojson(page: str) -> str:
    """folium's ``<layer>_add({...});`` data lines re-dumped compactly, still safe inside
    ``<script>`` (``<``, ``>``, ``&`` and ``'`` escaped as folium does)."""

    def compact(match: re.Match) -> str:
        data = json.dumps(json.loads(match.group(2)), ensure_ascii=False, separators=(",", ":"))
        data = (
            data.replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("&", "\\u0026")
            .replace("'", "\\u0027")
            .replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029")
        )
        return match.group(1) + data + match.group(3)

    return _GEOJSON_ADD.sub(compact, page)


# --- building ---------------------------------------------------------------------------------


def _metric(metric: str) -> Metric:
    if metric not in METRICS:
        choices = "、".join(f"{k}（{v.label}）" for k, v in METRICS.items())
        raise CoverageMapError("unknown_metric", f"未知指标“{metric}”，可选：{choices}")
    return METRICS[metric]


def _check_level(level: int) -> None:
    if level not in {lv.number for lv in LEVELS}:
        choices = "、".join(f"{lv.number}（{lv.name_zh}）" for lv in LEVELS)
        raise CoverageMapError("unknown_level", f"未知层级 {level}，可选：{choices}")


def _check_basemap(basemap: str | None) -> None:
    if basemap is not None and not all(p in basemap for p in ("{z}", "{x}", "{y}")):
        raise CoverageMapError("bad_basemap", f"底图应为含 {{z}}、{{x}}、{{y}} 的 XYZ 瓦片地址模板，而不是“{basemap}”")


@contextmanager
def _connection(source: Engine | Connection) -> Iterator[Connection]:
    if isinstance(source, Connection):
        yield source
        return
    with source.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ")  # figures and shapes: one snapshot
        yield conn


def _geometries(conn: Connection, level: int, codes: set[str]) -> dict[str, shapely.Geometry]:
    rows = conn.execute(_GEOMS_SQL, {"level": level}).all()
    picked = [(c, bytes(wkb)) for c, wkb in rows if c in codes and wkb is not None]
    geoms = shapely.from_wkb([w for _, w in picked]) if picked else []
    return {c: g for (c, _), g in zip(picked, geoms) if g is not None and not g.is_empty}


def _display_shapes(shapes: dict[str, shapely.Geometry], level: int, latitude: float) -> dict[str, shapely.Geometry]:
    """``shapes`` simplified as one coverage for display and rounded to :data:`DECIMALS`."""
    if not shapes:
        return {}
    codes = list(shapes)
    geoms = np.array([shapes[c] for c in codes], dtype=object)
    tolerance = metres_to_degrees(SIMPLIFY_METRES[level], latitude)
    try:
        simple = shapely.coverage_simplify(geoms, tolerance)
    except shapely.errors.GEOSException:  # not a valid coverage (e.g. published with --force)
        simple = shapely.simplify(geoms, tolerance, preserve_topology=True)
    simple = shapely.transform(simple, lambda xy: np.round(xy, DECIMALS))
    return dict(zip(codes, simple))


def _feature(i: int, row: CoverageRow, geom: shapely.Geometry, metric: Metric, cls: RateClass) -> dict:
    value = getattr(row, metric.key)
    return {
        "type": "Feature",
        "id": i,
        "properties": {
            "code": html_text(row.code),
            "name": html_text(row.name) if row.name else "—",
            "planned": row.planned,
            "installed": row.installed,
            "online": row.online,
            "rollout_pct": percent(row.rollout_rate),
            "online_pct": percent(row.online_rate),
            # the coloured metric as a fraction (None: no rate) and its legend class
            "rate": None if value is None else round(value, 8),
            "class": cls.key,
        },
        "geometry": mapping(geom),
    }


def _outline_lines(parents: dict[str, shapely.Geometry]) -> shapely.Geometry:
    """The parents' boundaries with every shared edge once (half the bytes of the polygons)."""
    rings = shapely.boundary(np.array(list(parents.values()), dtype=object))
    try:
        return shapely.line_merge(shapely.union_all(rings))
    except shapely.errors.GEOSException:
        return shapely.multilinestrings(shapely.get_parts(rings))


def _fill_style(level: int):
    colours = {c.key: c.colour for c in (*RATE_CLASSES, NO_DATA)}
    weight = EDGE_WEIGHT.get(level, 0.5)

    def style(feature: dict) -> dict:
        return {
            "fillColor": colours[feature["properties"]["class"]],
            "fillOpacity": FILL_OPACITY,
            "color": "#ffffff",
            "weight": weight,
            "opacity": 0.9,
        }

    return style


def _highlight(feature: dict) -> dict:
    return {"color": "#000000", "weight": 2.5, "opacity": 1.0, "fillOpacity": 0.9}


def _build(source: Engine | Connection, *, level: int, metric: str, code: str | None, basemap: str | None) -> _Built:
    m_info = _metric(metric)
    _check_level(level)
    _check_basemap(basemap)
    with _connection(source) as conn:
        try:
            rows = coverage_rows(conn, level=level, code=code)
        except KeyError:
            raise CoverageMapError("unknown_code", f"编码“{code}”不存在（数据库中没有这个区域）") from None
        if not rows:
            where = f"编码 {code} 之下" if code else "数据库中"
            raise CoverageMapError("no_areas", f"{where}没有{level_label(level)}（第 {level} 级）区域")
        shapes = _geometries(conn, level, {r.code for r in rows})
        parent_rows = sorted({r.parent_code for r in rows if r.parent_code} if level > 0 else set())
        parent_shapes = _geometries(conn, level - 1, set(parent_rows)) if parent_rows else {}
        county = _county_row(conn, code)
        scope = coverage_rows(conn, code=code)[0] if code is not None else None
    if not shapes:
        raise CoverageMapError("no_areas", f"{level_label(level)}（第 {level} 级）区域都没有边界，无法绘制")

    minx, miny, maxx, maxy = shapely.total_bounds(np.array(list(shapes.values()), dtype=object))
    latitude = (miny + maxy) / 2
    display = _display_shapes(shapes, level, latitude)
    parents = _display_shapes(parent_shapes, level - 1, latitude) if parent_shapes else {}

    m = new_map(basemap=basemap)
    PageStyle(PANEL_CSS + COVERAGE_CSS).add_to(m)
    features: list[dict] = []
    per_class = {c.key: 0 for c in (*RATE_CLASSES, NO_DATA)}
    for row in rows:
        if row.code not in display:
            continue
        cls = row_class(row, metric)
        per_class[cls.key] += 1
        features.append(_feature(len(features), row, display[row.code], m_info, cls))

    layers = []
    fill = folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=f"{html_text(level_label(level))}{m_info.label}（{format_count(len(features))}）",
        style_function=_fill_style(level),
        highlight_function=_highlight,
        tooltip=folium.GeoJsonTooltip(TOOLTIP_FIELDS, aliases=TOOLTIP_ALIASES, localize=True),
    )
    fill.add_to(m)
    layers.append(fill)
    if parents:
        outline = {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "id": 0, "properties": {}, "geometry": mapping(_outline_lines(parents))}],
        }
        style = {"color": OUTLINE_COLOUR, "weight": OUTLINE_WEIGHT.get(level - 1, 1.0), "opacity": 0.9}
        layer = folium.GeoJson(
            outline,
            name=f"{html_text(level_label(level - 1))}边界（{format_count(len(parents))}）",
            style_function=lambda f: style,
            interactive=False,
        )
        layer.add_to(m)
        layers.append(layer)

    HtmlControl(_title_html(m_info, level, len(features), county, scope), "topleft", "gridmap-title").add_to(m)
    HtmlControl(_legend_html(m_info, level, per_class, bool(parents)), "bottomleft", "gridmap-legend").add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    KeepLayerOrder(layers).add_to(m)
    m.fit_bounds([[miny, minx], [maxy, maxx]])

    place = (scope.name or scope.code) if scope is not None else (county.name or county.code) if county else ""
    title = f"{place} {level_label(level)}{m_info.label}地图".strip()
    return _Built(m, title, len(features), county)


def _county_row(conn: Connection, code: str | None) -> CoverageRow | None:
    """The county (level 0) the map belongs to: ``code``'s ancestor, or the only county."""
    above = chain_of(conn, code) if code is not None else county_codes(conn)
    counties = [r for r in (coverage_rows(conn, code=c)[0] for c in above) if r.level == 0]
    return counties[0] if len(counties) == 1 else None


def _figures_row(label: str, row: CoverageRow) -> str:
    return (
        f'<tr data-code="{html_text(row.code)}" data-planned="{row.planned}" data-installed="{row.installed}" '
        f'data-online="{row.online}"><td>{label}</td><td>{format_count(row.planned)}</td>'
        f"<td>{format_count(row.installed)}</td><td>{format_count(row.online)}</td>"
        f"<td>{percent(row.rollout_rate)}</td><td>{percent(row.online_rate)}</td></tr>"
    )


def _title_html(metric: Metric, level: int, n: int, county: CoverageRow | None, scope: CoverageRow | None) -> str:
    place = (county.name or county.code) if county is not None else ""
    parts = [
        f'<div class="gm-head"><b>{html_text(place)} 视频监控{metric.label}</b></div>',
        f"<div>{html_text(level_label(level))} {format_count(n)} 个，按{metric.label}（{metric.formula}）着色</div>",
    ]
    rows = []
    if county is not None:
        rows.append(_figures_row("全县", county))
    if scope is not None and (county is None or scope.code != county.code):
        rows.append(_figures_row(f"{html_text(scope.name or '')} {html_text(scope.code)}".strip(), scope))
    if rows:
        parts.append(
            "<table><thead><tr><th></th><th>计划</th><th>已安装</th><th>在线</th><th>安装率</th>"
            f"<th>上云率</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
    generated = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
    parts.append(f'<div class="gm-muted">安装率 = 已安装 / 计划；上云率 = 在线 / 已安装。数据生成于 {generated}</div>')
    return "".join(parts)


def _legend_html(metric: Metric, level: int, per_class: dict[str, int], has_parents: bool) -> str:
    rows = [f"<div><b>{metric.label}</b>（{metric.formula}）</div>"]
    for cls in reversed(RATE_CLASSES):
        rows.append(_legend_row(cls, cls.label, per_class[cls.key]))
    rows.append(_legend_row(NO_DATA, f"{NO_DATA.label}（{metric.no_data}）", per_class[NO_DATA.key]))
    if has_parents:
        rows.append(
            f'<div><span class="gm-line" style="border-top:{OUTLINE_WEIGHT.get(level - 1, 1.0):.1f}px solid '
            f'{OUTLINE_COLOUR}"></span>{html_text(level_label(level - 1))}边界</div>'
        )
    rows.append(f'<div class="gm-muted">目标 {TARGET:.0%}：暖色未达标，蓝色达标</div>')
    return "".join(rows)


def _legend_row(cls: RateClass, label: str, count: int) -> str:
    return (
        f'<div data-class="{cls.key}" data-count="{count}"><span class="gm-swatch" '
        f'style="background:{cls.colour}"></span>{html_text(label)}'
        f'<span class="gm-count">{format_count(count)}</span></div>'
    )
