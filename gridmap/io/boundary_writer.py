"""Writing a repaired copy of a boundary file in its own format, layers, attributes, CRS and
encoding (see ``gridmap.io.boundaries.write_boundary_file``, which calls ``write_boundary_file`` here).

Geometries come in EPSG:4490 (CGCS2000 lon/lat, degrees) and are transformed back to each layer's
CRS. Shapefiles get the layer's encoding, a .cpg (the original's text when it had one) and a .prj.
GeoJSON and a plain ``.shp`` hold one layer: several layers raise ``single_layer_format`` (write
``.zip``, ``.gpkg`` or ``.kml`` instead). KMZ is written as one ``doc.kml`` whose layer schemas sit
inside their layer (GDAL's own KMZ writer mangles non-ASCII layer names). MapInfo tables are
written as ``.tab`` (or ``.mif`` when ``out`` says so; zipped when the input was a zip) with the
Chinese charset when read as GBK; a CAD drawing as a DXF (AutoCAD 2000, ANSI_936) with each area's
rings as closed polylines and its code and name as texts inside (``gridmap.io.cad.write_dxf``).
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError, FieldError, GeometryError

from gridmap.config import STORAGE_SRID
from gridmap.io.boundary_formats import (
    FORMATS,
    FORMATS_BY_KEY,
    MAPINFO_PARTS,
    PART_EXTENSIONS,
    POLYGONAL_TYPES,
    SHAPEFILE_PARTS,
    BoundaryFile,
    BoundaryWriteError,
)
from gridmap.io.cad import LAYER_COLUMN, write_dxf


def write_boundary_file(
    source: BoundaryFile, geometries: Sequence[object] | np.ndarray | gpd.GeoSeries, out: str | Path
) -> Path:
    """Write ``source`` back with new ``geometries`` (aligned with ``source.areas`` rows, EPSG:4490;
    a GeoSeries in another CRS is reprojected first) to ``out``; returns ``out``.

    The format follows ``out``'s extension when it names one (.zip = zipped shapefiles, .shp, .gpkg,
    .geojson/.json, .kml, .kmz), else the input's. Layers, attribute columns (``originals``), each
    layer's CRS and, for shapefiles, the encoding (with a .cpg, the original's text when it had one)
    and a .prj are kept. Rows of a layer missing from ``source.areas`` keep their original geometry.
    Single-layer formats (.geojson, .shp) with several layers raise ``BoundaryWriteError``.
    The file is written next to ``out`` first and moved into place (an existing ``out`` is replaced).
    """
    out = Path(out)
    suffix = out.suffix.lower()
    fmt = source.format if suffix == ".zip" and source.format == "mapinfo" else FORMATS.get(suffix, source.format)
    family = FORMATS_BY_KEY[fmt]
    zipped = suffix == ".zip" or (
        bool(family.parts) and suffix not in PART_EXTENSIONS and source.path.suffix.lower() == ".zip"
    )
    frames = _layer_frames(source, geometries)
    one_layer = not family.multi_layer or (bool(family.parts) and not zipped)
    if one_layer and len(frames) > 1:
        raise BoundaryWriteError(
            "single_layer_format",
            f"{family.label} 文件只能保存一个图层，而这里有 {len(frames)} 个（{'、'.join(frames)}）。"
            "请写成 .zip（多个 Shapefile）、.gpkg 或 .kml，或先只读取一个图层。",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".gridmap-write-", dir=out.parent) as tmp:
        try:
            _WRITERS[fmt](frames, source, Path(tmp), out, zipped)
        except (DataSourceError, DataLayerError, FieldError, GeometryError, ValueError) as exc:
            raise BoundaryWriteError("write_failed", f"写出“{out.name}”失败：{exc}") from exc
    return out


# One writer per format family: (layers, the file as read, a scratch folder next to ``out``,
# ``out``, whether shapefiles go into a zip). Each writes into the scratch folder, then moves the
# result into place.
Writer = Callable[[Mapping[str, gpd.GeoDataFrame], BoundaryFile, Path, Path, bool], None]


def _shapefile(
    frames: Mapping[str, gpd.GeoDataFrame], source: BoundaryFile, work: Path, out: Path, zipped: bool
) -> None:
    written = _write_shapefiles(frames, source, work / "shp")
    if zipped:
        _zip_files(work / "shp", written, work / "out.zip")
        os.replace(work / "out.zip", out)
    else:
        for file in written:
            os.replace(work / "shp" / file, out.with_suffix(Path(file).suffix))


def _kmz(frames: Mapping[str, gpd.GeoDataFrame], source: BoundaryFile, work: Path, out: Path, zipped: bool) -> None:
    _write_kml(frames, work / "doc.kml")
    _schemas_into_layers(work / "doc.kml")
    with zipfile.ZipFile(work / "out.kmz", "w", zipfile.ZIP_DEFLATED) as kmz:
        kmz.write(work / "doc.kml", "doc.kml")
    os.replace(work / "out.kmz", out)


def _single_file(write: Callable[[Mapping[str, gpd.GeoDataFrame], BoundaryFile, Path], None], fmt: str) -> Writer:
    def writer(
        frames: Mapping[str, gpd.GeoDataFrame], source: BoundaryFile, work: Path, out: Path, _zipped: bool
    ) -> None:
        target = work / f"out{out.suffix if out.suffix.lower() in FORMATS else FORMATS_BY_KEY[fmt].extensions[0]}"
        write(frames, source, target)
        os.replace(target, out)

    return writer


def _geojson(frames: Mapping[str, gpd.GeoDataFrame], _source: BoundaryFile, target: Path) -> None:
    ((name, frame),) = frames.items()
    pyogrio.write_dataframe(frame, target, layer=name, driver=FORMATS_BY_KEY["geojson"].driver)


def _mapinfo(frames: Mapping[str, gpd.GeoDataFrame], source: BoundaryFile, work: Path, out: Path, zipped: bool) -> None:
    ext = ".mif" if out.suffix.lower() == ".mif" else ".tab"
    folder = work / "mapinfo"
    written = []
    for name, frame in frames.items():
        info = source.layer_info.get(name)
        encoding = (info.encoding if info else source.encoding.split("/")[0]).upper()
        chinese = encoding in ("GBK", "GB18030", "GB2312", "CP936")
        target = folder / f"{name}{ext}"
        target.parent.mkdir(parents=True, exist_ok=True)
        pyogrio.write_dataframe(
            frame,
            target,
            driver=FORMATS_BY_KEY["mapinfo"].driver,
            dataset_options={"FORMAT": "MIF"} if ext == ".mif" else None,
            layer_options={"ENCODING": "CP936"} if chinese else None,
        )
        written += [
            str(p.relative_to(folder))
            for p in sorted(target.parent.iterdir())
            if p.stem == target.stem and p.suffix.lower() in MAPINFO_PARTS
        ]
    if zipped:
        _zip_files(folder, written, work / "out.zip")
        os.replace(work / "out.zip", out)
    else:
        for file in written:
            os.replace(folder / file, out.with_suffix(Path(file).suffix))


def _dxf(frames: Mapping[str, gpd.GeoDataFrame], source: BoundaryFile, target: Path) -> None:
    ((name, frame),) = frames.items()
    info = source.layer_info.get(name)
    mapping = info.field_mapping if info else source.field_mapping

    def column(canonical: str) -> list[str | None]:
        key = mapping.get(canonical)
        if key is None or key not in frame:
            return [None] * len(frame)
        return [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in frame[key]]

    layers = [str(v) if v else name for v in frame[LAYER_COLUMN]] if LAYER_COLUMN in frame else [name] * len(frame)
    write_dxf(target, list(frame.geometry), column("code"), column("name"), layers)


_WRITERS: dict[str, Writer] = {
    "shapefile": _shapefile,
    "gpkg": _single_file(lambda frames, source, target: _write_gpkg(frames, source, target), "gpkg"),
    "geojson": _single_file(_geojson, "geojson"),
    "kml": _single_file(lambda frames, _source, target: _write_kml(frames, target), "kml"),
    "kmz": _kmz,
    "mapinfo": _mapinfo,
    "dxf": _single_file(_dxf, "dxf"),
}


def _layer_frames(source: BoundaryFile, geometries) -> dict[str, gpd.GeoDataFrame]:
    """Per layer: the original attributes with the new geometry in the layer's CRS."""
    if isinstance(geometries, gpd.GeoSeries) and geometries.crs is not None:
        geometries = geometries.to_crs(STORAGE_SRID)
    geoms = np.asarray(geometries.to_numpy() if isinstance(geometries, gpd.GeoSeries) else geometries, dtype=object)
    if len(geoms) != len(source.areas):
        raise BoundaryWriteError(
            "row_count_mismatch", f"几何数量（{len(geoms):,}）与读入的要素数量（{len(source.areas):,}）不一致。"
        )
    layer_of = source.areas["layer"].to_numpy()
    row_of = source.areas["source_row"].to_numpy()
    frames = {}
    for name in source.layers:
        original = source.originals[name]
        info = source.layer_info.get(name)
        crs = info.crs if info else source.source_crs
        mask = layer_of == name
        new = gpd.GeoSeries(geoms[mask], crs=STORAGE_SRID).to_crs(crs).to_numpy()
        combined = original.geometry.to_numpy().copy()
        combined[row_of[mask]] = new
        frames[name] = original.set_geometry(gpd.GeoSeries(combined, index=original.index, crs=crs))
    return frames


def _write_shapefiles(frames: Mapping[str, gpd.GeoDataFrame], source: BoundaryFile, folder: Path) -> list[str]:
    """One shapefile per layer (``layer`` may hold a folder) with .cpg and .prj; the written files
    relative to ``folder``."""
    written = []
    for name, frame in frames.items():
        info = source.layer_info.get(name)
        encoding = info.encoding if info else source.encoding.split("/")[0]
        shp = folder / f"{name}.shp"
        shp.parent.mkdir(parents=True, exist_ok=True)
        pyogrio.write_dataframe(frame, shp, driver="ESRI Shapefile", encoding=encoding)
        if info and info.cpg_text:
            shp.with_suffix(".cpg").write_text(info.cpg_text, encoding="ascii")
        written += [
            str(p.relative_to(folder))
            for p in sorted(shp.parent.iterdir())
            if p.stem == shp.stem and p.suffix.lower() in SHAPEFILE_PARTS
        ]
    return written


def _zip_files(folder: Path, files: list[str], target: Path) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(folder / file, PurePosixPath(Path(file)).as_posix())


def _write_gpkg(frames: Mapping[str, gpd.GeoDataFrame], source: BoundaryFile, target: Path) -> None:
    for name, frame in frames.items():
        info = source.layer_info.get(name)
        declared = (info.geometry_type if info else "").split(" ")[0]
        types = set(shapely.get_type_id(frame.geometry.to_numpy()).tolist()) - {-1}
        if declared == "MultiPolygon" or (declared == "Polygon" and types - {shapely.GeometryType.POLYGON}):
            declared = "MultiPolygon"  # a repaired polygon may have become several
        polygonal = declared in ("Polygon", "MultiPolygon") and types <= set(POLYGONAL_TYPES)
        pyogrio.write_dataframe(
            frame,
            target,
            layer=name,
            driver="GPKG",
            promote_to_multi=True if polygonal and declared == "MultiPolygon" else None,
            geometry_type=declared if polygonal else None,
        )


def _write_kml(frames: Mapping[str, gpd.GeoDataFrame], target: Path) -> None:
    for i, (name, frame) in enumerate(frames.items()):
        pyogrio.write_dataframe(frame.to_crs(4326), target, layer=name, driver="LIBKML", append=i > 0)


def _schemas_into_layers(kml: Path) -> None:
    """Move each <Schema> LIBKML writes at the top into the layer <Document> that uses it: inside a
    KMZ, GDAL's LIBKML reader finds a layer's fields only there (a plain .kml reads either way)."""
    ns = "http://www.opengis.net/kml/2.2"
    ET.register_namespace("", ns)
    tree = ET.parse(kml)
    root = tree.getroot().find(f"{{{ns}}}Document")
    if root is None:
        return
    schemas = {s.get("id"): s for s in root.findall(f"{{{ns}}}Schema")}
    for layer in root.findall(f"{{{ns}}}Document"):
        used = {d.get("schemaUrl", "").lstrip("#") for d in layer.iter(f"{{{ns}}}SchemaData")}
        for schema_id in sorted(used & schemas.keys()):
            root.remove(schemas[schema_id])
            layer.insert(0, schemas.pop(schema_id))
    tree.write(kml, xml_declaration=True, encoding="UTF-8")
