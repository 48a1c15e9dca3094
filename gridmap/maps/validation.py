"""The map of a boundary-file validation report, for the county's GIS clerk.

It shows the uploaded areas as outlines (one layer per level, the deepest thinnest, with code and
name on hover), the defects on top (a colour per kind; errors with solid borders, warnings dashed;
polygons filled, lines thick, points as dots; hover or click for kind, codes, area and message),
a header panel (file, 通过/未通过, counts by kind, notes, issues with no geometry), a legend and a
layer control, fitted to the data. :func:`write_validation_html` saves it as one offline file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import shapely

from gridmap.levels import level_number
from gridmap.maps.basemap import new_map
from gridmap.maps.controls import HtmlControl, KeepLayerOrder, PageStyle
from gridmap.maps.geojson import area_collections, bounds_of, issue_layers, to_storage_crs
from gridmap.maps.labels import format_count, html_text, kind_colour, kind_label, level_label
from gridmap.maps.offline import standalone_html
from gridmap.maps.panels import PANEL_CSS, header_html, legend_html

#: Outline colour and width per level: county boldest, micro-grid thinnest.
LEVEL_STYLES: dict[int | None, tuple[str, float]] = {
    0: ("#1a1a1a", 3.0),
    1: ("#333333", 2.2),
    2: ("#4d4d4d", 1.5),
    3: ("#666666", 1.0),
    4: ("#8c8c8c", 0.6),
}
UNKNOWN_LEVEL_STYLE = ("#b2182b", 0.8)

DEFECT_FIELDS = ["kind_label", "severity_label", "codes", "area", "message"]
DEFECT_ALIASES = ["类型", "级别", "编码", "面积", "说明"]
TITLE = "边界文件校验报告"


def _outline_style(colour: str, weight: float):
    # fill with opacity 0: hovering anywhere inside an area shows its tooltip
    style = {"color": colour, "weight": weight, "opacity": 0.9, "fill": True, "fillOpacity": 0.0}
    return lambda feature: style


def _defect_style(feature: dict) -> dict:
    props = feature["properties"]
    colour = kind_colour(props.get("kind"))
    warning = props.get("severity") == "warning"
    geom_type = (feature.get("geometry") or {}).get("type", "")
    if geom_type in ("Point", "MultiPoint"):
        return {
            "color": "#ffffff",
            "weight": 1.5,
            "opacity": 1.0,
            "fill": True,
            "fillColor": colour,
            "fillOpacity": 0.95,
            "radius": 5 if props.get("locator") else 7,
            "dashArray": None,
        }
    return {
        "color": colour,
        "weight": 5 if "LineString" in geom_type else 2.5,
        "opacity": 1.0,
        "fill": "Polygon" in geom_type or geom_type == "GeometryCollection",
        "fillColor": colour,
        "fillOpacity": 0.2 if warning else 0.45,
        "dashArray": "6 4" if warning else None,
    }


def _defect_highlight(feature: dict) -> dict:
    return {"weight": 5, "fillOpacity": 0.7}


def _fit(m: folium.Map, areas: gpd.GeoDataFrame, defect_bounds) -> None:
    geoms = areas.geometry.to_numpy()
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    boxes = [b for b in (tuple(shapely.total_bounds(geoms)) if len(geoms) else None, defect_bounds) if b]
    if not boxes:
        return
    b = np.array(boxes, dtype=float)
    minx, miny = b[:, 0].min(), b[:, 1].min()
    maxx, maxy = b[:, 2].max(), b[:, 3].max()
    m.fit_bounds([[miny, minx], [maxy, maxx]], max_zoom=18)


def validation_map(
    report: Mapping, areas: gpd.GeoDataFrame, *, basemap: str | None = None, basemap_attribution: str | None = None
) -> folium.Map:
    """The folium map of a validation ``report`` (shape in DESIGN.md) over the uploaded ``areas``
    (columns ``code``, ``name``, ``level``; EPSG:4490, other CRSs are reprojected).

    ``basemap`` is an optional XYZ tile URL template (it needs its tile server reachable when the
    page is viewed; see :mod:`gridmap.maps.basemap`). Use :func:`standalone_html` or
    :func:`write_validation_html` for an offline file."""
    areas = to_storage_crs(areas)
    m = new_map(basemap=basemap, basemap_attribution=basemap_attribution)
    PageStyle(PANEL_CSS).add_to(m)

    stacked: list[folium.GeoJson] = []
    level_styles: dict[int | None, tuple[str, float]] = {}
    for level, collection in area_collections(areas).items():
        colour, weight = level_styles[level] = LEVEL_STYLES.get(level, UNKNOWN_LEVEL_STYLE)
        layer = folium.GeoJson(
            collection,
            name=f"区域：{level_label(level)}（{format_count(len(collection['features']))}）",
            style_function=_outline_style(colour, weight),
            tooltip=folium.GeoJsonTooltip(["code", "name"], aliases=["编码", "名称"]),
        )
        layer.add_to(m)
        stacked.append(layer)

    issues = list(report.get("issues") or [])
    drawn = issue_layers(issues)
    for kind, collection in drawn.by_kind.items():
        n = sum(1 for f in collection["features"] if not f["properties"]["locator"])
        swatch = f'<span style="color:{kind_colour(kind)}">■</span>'
        layer = folium.GeoJson(
            collection,
            name=f"{swatch} 问题：{html_text(kind_label(kind))}（{format_count(n)}）",
            style_function=_defect_style,
            highlight_function=_defect_highlight,
            marker=folium.CircleMarker(radius=7),
            tooltip=folium.GeoJsonTooltip(DEFECT_FIELDS, aliases=DEFECT_ALIASES),
            popup=folium.GeoJsonPopup(DEFECT_FIELDS, aliases=DEFECT_ALIASES),
        )
        layer.add_to(m)
        stacked.append(layer)

    level_counts = (
        dict(
            sorted(Counter(level_number(v) for v in areas["level"]).items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
        )
        if "level" in areas
        else {}
    )
    HtmlControl(header_html(report, level_counts, drawn.without_geometry), "topleft", "gridmap-header").add_to(m)
    has_points = any(
        f["geometry"]["type"] in ("Point", "MultiPoint") for fc in drawn.by_kind.values() for f in fc["features"]
    )
    HtmlControl(legend_html(drawn.by_kind, level_styles, has_points), "bottomleft", "gridmap-legend").add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    KeepLayerOrder(stacked).add_to(m)
    _fit(m, areas, bounds_of(list(drawn.by_kind.values())))
    return m


def write_validation_html(
    report: Mapping,
    areas: gpd.GeoDataFrame,
    path: str | Path,
    *,
    basemap: str | None = None,
    basemap_attribution: str | None = None,
) -> Path:
    """Write the validation map as one offline HTML file (UTF-8) at ``path``; returns the path."""
    m = validation_map(report, areas, basemap=basemap, basemap_attribution=basemap_attribution)
    title = f"{TITLE}：{report['file']}" if report.get("file") else TITLE
    path = Path(path)
    path.write_text(standalone_html(m, title=title), encoding="utf-8")
    return path
