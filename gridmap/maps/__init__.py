"""Folium map builders for exported HTML maps and notebooks, and the offline page they make.

- :func:`standalone_html`: a folium map as one HTML file that needs no network (Leaflet inlined
  from ``static/``; any remaining external reference is an error).
- :func:`validation_map` / :func:`write_validation_html`: the map of a boundary validation report.
"""

from gridmap.maps.basemap import new_map
from gridmap.maps.offline import ExternalResourceError, check_offline, external_references, standalone_html
from gridmap.maps.validation import validation_map, write_validation_html

__all__ = [
    "ExternalResourceError",
    "check_offline",
    "external_references",
    "new_map",
    "standalone_html",
    "validation_map",
    "write_validation_html",
]
