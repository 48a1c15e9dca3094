"""The boundary file formats gridmap reads and writes, and the shape of a file once read.

One :class:`BoundaryFormat` per family (Shapefile, GeoPackage, GeoJSON, KML, KMZ, MapInfo TAB/MIF,
CAD drawings in DXF) holds what the
rest of the code needs to know about it: its extensions, label, GDAL driver, whether it holds
several layers and whether its text is UTF-8 by specification. Readers
(:mod:`gridmap.io.boundaries`), the writer (:mod:`gridmap.io.boundary_writer`), the CLI and the
upload page (its ``accept`` list, from the server's page config) all take the formats from
:data:`BOUNDARY_FORMATS`, so a new family is one entry here plus its read and write branches.

:class:`BoundaryFile` is what reading gives and what writing takes back (coordinates of ``areas``
in EPSG:4490, CGCS2000 lon/lat degrees; ``originals`` in the file's own CRS).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import shapely
from pyproj import CRS

from gridmap.errors import GridmapError


@dataclass(frozen=True)
class BoundaryFormat:
    """One family of boundary files."""

    key: str  # "shapefile", "gpkg", "geojson", "kml", "kmz", "mapinfo", "dxf": BoundaryFile.format
    label: str  # shown to people: "Shapefile", "GeoPackage", ...
    extensions: tuple[str, ...]  # lower case, with the dot; the first is the one written by default
    driver: str  # the GDAL driver that writes it
    multi_layer: bool  # whether one file holds several layers (a plain .shp does not: see extensions)
    utf8_by_spec: bool  # attribute text is UTF-8 whatever the file says (GPKG, GeoJSON, KML)
    #: Coordinates are WGS84 lon/lat whatever the file says (KML): a --crs is ignored.
    wgs84_only: bool = False
    #: Sidecar files (.dbf/.prj/.cpg beside a .shp): an encoding may be given, a .prj may be missing.
    sidecars: bool = False
    #: GDAL configuration while reading (LIBKML would launder <Data name="编码"> into "______").
    read_config: tuple[tuple[str, str], ...] = ()
    #: Columns the driver adds to every layer; left out of the areas when they carry nothing.
    driver_columns: tuple[str, ...] = ()
    #: The files one dataset is made of (its extensions): extracted from a zip together; a loose
    #: file of such a family cannot be uploaded alone (zip it).
    parts: tuple[str, ...] = ()


#: Columns LIBKML adds to every KML layer.
_KML_STANDARD = (
    "id", "Name", "description", "timestamp", "begin", "end", "altitudeMode", "tessellate",
    "extrude", "visibility", "drawOrder", "icon", "snippet",
)  # fmt: skip
_KML_READ = (("LIBKML_LAUNDER_FIELD_NAMES", "NO"),)

#: The files of one shapefile that are read, zipped and written.
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
#: The files of one MapInfo table: native TAB (.tab .dat .map .id, .ind an index) or MIF/MID.
MAPINFO_PARTS = (".tab", ".dat", ".map", ".id", ".ind", ".mif", ".mid")

BOUNDARY_FORMATS: tuple[BoundaryFormat, ...] = (
    BoundaryFormat(
        "shapefile", "Shapefile", (".zip", ".shp"), "ESRI Shapefile", True, False, sidecars=True, parts=SHAPEFILE_PARTS
    ),
    BoundaryFormat("gpkg", "GeoPackage", (".gpkg",), "GPKG", True, True),
    BoundaryFormat("geojson", "GeoJSON", (".geojson", ".json"), "GeoJSON", False, True),
    BoundaryFormat(
        "kml",
        "KML",
        (".kml",),
        "LIBKML",
        True,
        True,
        wgs84_only=True,
        read_config=_KML_READ,
        driver_columns=_KML_STANDARD,
    ),
    BoundaryFormat(
        "kmz",
        "KMZ",
        (".kmz",),
        "LIBKML",
        True,
        True,
        wgs84_only=True,
        read_config=_KML_READ,
        driver_columns=_KML_STANDARD,
    ),
    # A .zip holding .tab or .mif tables (and no .shp) is read as MapInfo.
    BoundaryFormat("mapinfo", "MapInfo", (".tab", ".mif"), "MapInfo File", True, False, parts=MAPINFO_PARTS),
    # AutoCAD drawings: closed polylines with their code texts inside (gridmap.io.cad).
    BoundaryFormat("dxf", "CAD（DXF）", (".dxf",), "DXF", False, False),
)
#: Format key → format.
FORMATS_BY_KEY = {f.key: f for f in BOUNDARY_FORMATS}
#: Extension → format key.
FORMATS = {ext: f.key for f in BOUNDARY_FORMATS for ext in f.extensions}
#: Format key → label.
FORMAT_LABELS = {f.key: f.label for f in BOUNDARY_FORMATS}
#: Extensions of a file that is one part of several (a plain ``.shp`` comes without its ``.dbf``,
#: a ``.tab`` without its ``.dat`` and ``.map``, a ``.mif`` without its ``.mid``): zip them.
PART_EXTENSIONS = (".shp", ".tab", ".mif")
#: Extensions a file may be uploaded with.
UPLOAD_EXTENSIONS = tuple(ext for ext in FORMATS if ext not in PART_EXTENSIONS)
#: Extensions that hold one layer only.
SINGLE_LAYER_EXTENSIONS = (".shp", ".geojson", ".json", ".tab", ".mif", ".dxf")

#: shapely type ids of areal geometries.
POLYGONAL_TYPES = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)


class BoundaryReadError(GridmapError):
    """The file cannot be read. ``.code`` is a stable English error code, ``.message`` a Chinese,
    actionable message."""


class BoundaryWriteError(GridmapError):
    """The repaired copy cannot be written. ``.code`` stable English, ``.message`` Chinese."""


@dataclass(frozen=True)
class LayerInfo:
    """How one layer was read (a file's layers may differ, e.g. one shapefile without .prj)."""

    name: str
    encoding: str
    encoding_source: str  # "cpg" | "detected" | "explicit" | "format" | "file" (MapInfo charset, DXF code page)
    crs: CRS
    crs_source: str  # "file" | "inferred" | "explicit"
    field_mapping: dict[str, str]
    geometry_type: str  # as the file declares it: "Polygon", "MultiPolygon", "Unknown" ...
    cpg_text: str | None = None  # the shapefile's .cpg content, written back as found
    #: the CRS the file itself declares, when ``--crs`` overrode it with a different one
    declared_crs: CRS | None = None


@dataclass
class BoundaryFile:
    path: Path
    format: str  # a BoundaryFormat.key
    layers: list[str]  # the layers that were read, in order
    encoding: str  # attribute encoding used ("UTF-8", "GBK", "GB18030" ...; "GBK/UTF-8" if layers differ)
    #: "cpg" | "detected" | "explicit" | "format" (GPKG/GeoJSON/KML are UTF-8 by spec) | "file" (the
    #: file declares it: a MapInfo table's Charset, a DXF's $DWGCODEPAGE)
    encoding_source: str
    source_crs: CRS  # CRS of the coordinates in the file (of the first layer; see layer_info)
    crs_source: str  # "file" | "inferred" | "explicit"
    field_mapping: dict[str, str]  # canonical name -> column name in the file
    notes: list[str]  # Chinese sentences for the report
    #: EPSG:4490; canonical columns + "layer" (str) + "source_row" (0-based row within its layer)
    #: + every other column under its original name.
    areas: gpd.GeoDataFrame
    #: per layer: the attributes exactly as read (original column names), geometry in the layer's CRS.
    originals: dict[str, gpd.GeoDataFrame]
    layer_info: dict[str, LayerInfo] = field(default_factory=dict)
