"""A blank folium map for offline pages, with an optional XYZ basemap.

No basemap by default: the pages must work with no network. A basemap is an XYZ URL template
(``{z}/{x}/{y}``, optional ``{s}``) such as a county's local tile server or 天地图 (Web Mercator
"_w" layers, with the county's key in ``tk=``). Its URL is left in the page as it is: tiles are
fetched from that server when the page is viewed, so a basemap needs that server to be reachable
(the rest of the page still works without it). Our data is in CGCS2000 (EPSG:4490); Leaflet shows
it as WGS 84, which differs from CGCS2000 by well under a metre.
"""

from __future__ import annotations

import folium

from gridmap.maps.controls import AttributionPrefix

#: Deepest zoom offered (≈ 0.04 m per pixel); basemap tiles are scaled up past their own maximum.
MAX_ZOOM = 22
BASEMAP_NATIVE_MAX_ZOOM = 18


def new_map(
    *, basemap: str | None = None, basemap_attribution: str | None = None, basemap_subdomains: str = "abc", **kwargs
) -> folium.Map:
    """A folium map with no tiles, drawn on a canvas (fast with 10,000+ polygons), a scale bar,
    and, when ``basemap`` is an XYZ URL template, that basemap (attribution defaults to 底图)."""
    m = folium.Map(tiles=None, prefer_canvas=True, control_scale=True, max_zoom=MAX_ZOOM, **kwargs)
    AttributionPrefix("Leaflet").add_to(m)
    if basemap:
        folium.TileLayer(
            basemap,
            attr=basemap_attribution or "底图",
            name="底图",
            overlay=False,
            control=True,
            max_zoom=MAX_ZOOM,
            max_native_zoom=BASEMAP_NATIVE_MAX_ZOOM,
            subdomains=basemap_subdomains,
        ).add_to(m)
    return m
