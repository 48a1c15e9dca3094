"""Reading the boundary files county staff bring, and writing a repaired copy back.

Formats (chosen by extension): zipped Shapefile(s) (``.zip``, one or more ``.shp`` anywhere in the
archive), plain ``.shp``, GeoPackage (``.gpkg``), GeoJSON (``.geojson``/``.json``), KML and KMZ
(read with GDAL's LIBKML driver, which turns ExtendedData/SchemaData into columns), MapInfo tables
(``.tab`` with .dat/.map/.id, or ``.mif``/``.mid``; loose or in a ``.zip`` without ``.shp``; GDAL's
"MapInfo File" driver, with the table's CoordSys and Charset) and CAD drawings (``.dxf``: closed
polylines with their code texts inside, see ``gridmap.io.cad``; no CRS in the file, so it is
inferred from zone-prefixed eastings or given with ``--crs``).

``read_boundary_file`` gives a ``BoundaryFile``: the areas in EPSG:4490 (CGCS2000 lon/lat, degrees)
under canonical column names (see ``AREA_FIELD_ALIASES``), plus everything needed to write the file
back as it came (``originals``: attributes as read, geometry in the file's CRS) and Chinese
``notes`` saying which layers, encoding, CRS and columns were used and why. Geometry is kept as read
(invalid or non-polygon features stay, for the validator to report), except that Z/M is dropped and
a geometry collection holding only polygons (a KML MultiGeometry) becomes a MultiPolygon.

``gridmap.io.boundary_writer.write_boundary_file`` writes the same layers and attribute columns with
new geometries in the file's own CRS, format and (for shapefiles) encoding and ``.cpg``. The formats
themselves are listed once, in ``gridmap.io.boundary_formats``. GeoJSON and a plain ``.shp`` hold one layer: writing several layers
to them raises ``BoundaryWriteError`` (``single_layer_format``); write ``.zip``, ``.gpkg`` or ``.kml``.

Value normalisation (codes as text, counts and levels as Int64) lives in ``gridmap.io.area_values``,
encoding detection in ``gridmap.io.encoding``, CRS inference in ``gridmap.io.crs``.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError, FieldError, GeometryError
from pyproj import CRS

from gridmap.config import STORAGE_SRID, Settings, get_settings
from gridmap.io.archives import check_archive
from gridmap.io.area_values import LEVEL_WORDS, InexactCodeError, code_strings, integers
from gridmap.io.boundary_formats import (
    FORMAT_LABELS,
    FORMATS,
    FORMATS_BY_KEY,
    MAPINFO_PARTS,
    POLYGONAL_TYPES,
    SHAPEFILE_PARTS,
    BoundaryFile,
    BoundaryReadError,
    LayerInfo,
)
from gridmap.io.cad import ENTITIES_PER_FEATURE, CadChoice, CadReadError, read_dxf
from gridmap.io.crs import (
    CHINA_LONLAT_BOUNDS,
    CrsUnknownError,
    crs_label,
    describe_bounds,
    gauss_kruger_equivalent,
    infer_crs,
    parse_crs,
)
from gridmap.io.encoding import (
    EncodingUnknownError,
    ShapefileEncoding,
    encoding_name,
    find_sidecar,
    shapefile_encoding,
    strip_truncated_names,
)
from gridmap.io.fields import match_fields
from gridmap.io.mapinfo import MapInfoEncodingError, mapinfo_encoding, missing_parts

#: Canonical area fields and the column names counties use for them, most specific first
#: (matched ignoring case, spaces, underscores, units and punctuation, and as DBF names cut at 10 bytes;
#: see ``gridmap.io.fields``).
AREA_FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "code": (
        "code",
        "网格编码",
        "网格编号",
        "编码",
        "区划代码",
        "区划编码",
        "行政区划代码",
        "行政代码",
        "代码",
        "网格代码",
        "xzqdm",
        "qhdm",
        "wgbm",
        "bm",
        "gridcode",
    ),
    "name": (
        "name",
        "网格名称",
        "名称",
        "区划名称",
        "行政区划名称",
        "网格名",
        "xzqmc",
        "qhmc",
        "wgmc",
        "mc",
        "gridname",
    ),
    "parent_code": (
        "parent_code",
        "上级编码",
        "上级网格编码",
        "父级编码",
        "上级代码",
        "上级区划代码",
        "父编码",
        "所属村社区编码",
        "所属社区编码",
        "所属村居编码",
        "parentcode",
        "sjbm",
        "sjdm",
        "pcode",
        "parent",
    ),
    "level": ("level", "层级", "网格层级", "级别", "网格级别", "cj", "jb"),
    "kind": ("kind", "类型", "网格类型", "类别", "type"),
    "households": ("households", "户数", "总户数", "户数(户)", "hs", "hh"),
    "population": ("population", "人口", "人口数", "总人口", "常住人口", "rk", "pop"),
    "worker_name": ("worker_name", "网格员", "网格员姓名", "网格员名称", "专职网格员", "网格管理员", "负责人", "wgy"),
    "worker_phone": (
        "worker_phone",
        "联系电话",
        "网格员电话",
        "网格员联系电话",
        "网格员手机",
        "电话",
        "手机",
        "手机号",
        "联系方式",
        "phone",
        "tel",
        "lxdh",
    ),
}
#: Chinese labels of the canonical fields, for notes and messages.
FIELD_LABELS = {
    "code": "编码",
    "name": "名称",
    "parent_code": "上级编码",
    "level": "层级",
    "kind": "类型",
    "households": "户数",
    "population": "人口",
    "worker_name": "网格员",
    "worker_phone": "联系电话",
}
_STRING_FIELDS = ("code", "parent_code", "worker_phone")
_COUNT_FIELDS = ("households", "population")
_RESERVED = ("layer", "source_row")
#: Archives inside an archive: never opened (one level of packing only), named in the refusal.
NESTED_ARCHIVE_EXTENSIONS = (".zip", ".kmz", ".7z", ".rar", ".tar", ".gz", ".tgz", ".bz2", ".xz")
STORAGE_CRS = CRS.from_epsg(STORAGE_SRID)


@dataclass(frozen=True)
class _LayerRef:
    name: str  # shown to users and used as the layer name when writing
    dataset: str  # what pyogrio opens
    ogr_layer: str | None
    geometry_type: str | None  # declared; None: no geometry column
    shp: Path | None = None


@dataclass
class _Layer:
    ref: _LayerRef
    frame: gpd.GeoDataFrame  # as read
    encoding: ShapefileEncoding
    crs: CRS
    crs_source: str
    crs_note: str
    notes: list[str] = field(default_factory=list)
    declared_crs: CRS | None = None  # the file's own CRS, when --crs overrode it with another


@dataclass(frozen=True)
class ReadLimits:
    """Most features in a file, vertices in one feature and vertices in the whole file; checked
    while reading, before any validation (defaults: ``GRIDMAP_MAX_FEATURES``,
    ``_MAX_FEATURE_VERTICES``, ``_MAX_FILE_VERTICES``). Refusals are 413 ``too_many_features`` /
    ``too_many_vertices`` with the limit and how to split the file."""

    max_features: int
    max_feature_vertices: int
    max_file_vertices: int

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ReadLimits:
        s = settings or get_settings()
        return cls(s.max_features, s.max_feature_vertices, s.max_file_vertices)


class _Counts:
    """Features and vertices read so far, against the limits."""

    def __init__(self, path: Path, limits: ReadLimits):
        self.path, self.limits = path, limits
        self.features = self.vertices = 0

    def declared(self, ref: _LayerRef, count: int) -> None:
        """Refuse before reading a layer whose declared feature count is over the limit."""
        if count >= 0:
            self._features(self.features + count, ref)

    def read(self, ref: _LayerRef, frame: gpd.GeoDataFrame) -> None:
        self._features(self.features + len(frame), ref)
        self.features += len(frame)
        counts = shapely.get_num_coordinates(frame.geometry.to_numpy())
        largest = int(counts.max()) if len(counts) else 0
        if largest > self.limits.max_feature_vertices:
            row = int(np.argmax(counts))
            raise BoundaryReadError(
                "too_many_vertices",
                f"“{self.path.name}”图层“{ref.name}”第 {row + 1} 个要素有 {largest:,} 个顶点，超过单个要素的上限 "
                f"{self.limits.max_feature_vertices:,} 个，未做校验：请先在 GIS 软件中简化（抽稀）该图形后重新上传"
                "（或请管理员调整 GRIDMAP_MAX_FEATURE_VERTICES）。",
                {"layer": ref.name, "feature": row + 1, "vertices": largest,
                 "max_feature_vertices": self.limits.max_feature_vertices},
                status=413,
            )  # fmt: skip
        self.vertices += int(counts.sum())
        if self.vertices > self.limits.max_file_vertices:
            raise BoundaryReadError(
                "too_many_vertices",
                f"“{self.path.name}”的图形至少有 {self.vertices:,} 个顶点，超过上限 {self.limits.max_file_vertices:,} 个，"
                "未做校验：请按乡镇拆分后分批上传，或先在 GIS 软件中简化图形（或请管理员调整 GRIDMAP_MAX_FILE_VERTICES）。",
                {"vertices": self.vertices, "max_file_vertices": self.limits.max_file_vertices},
                status=413,
            )

    def _features(self, total: int, ref: _LayerRef) -> None:
        if total > self.limits.max_features:
            raise BoundaryReadError(
                "too_many_features",
                f"“{self.path.name}”中至少有 {total:,} 个要素（读到图层“{ref.name}”），超过上限 "
                f"{self.limits.max_features:,} 个，未做校验：请按乡镇拆分后分批上传（或请管理员调整 GRIDMAP_MAX_FEATURES）。",
                {"features": total, "max_features": self.limits.max_features},
                status=413,
            )


# --------------------------------------------------------------------------------------------- read


def read_boundary_file(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: str | int | None = None,
    encoding: str | None = None,
    fields: Mapping[str, str] | None = None,
    limits: ReadLimits | None = None,
    require_code: bool = True,
) -> BoundaryFile:
    """Read a boundary file (see the module docstring) into a ``BoundaryFile``.

    ``layer`` picks one layer (default: every layer holding polygons, concatenated in file order);
    ``crs`` (EPSG code or string) overrides the file's CRS; ``encoding`` overrides a shapefile's
    .cpg/detected encoding; ``fields`` (canonical → column) overrides the column detection;
    ``limits`` bound features and vertices (default: the settings'); ``require_code=False`` reads a
    layer without a code column too (an official outline given its code on the command line).
    Raises ``BoundaryReadError``.
    """
    path = Path(path)
    fmt = _format_of(path)
    if not path.is_file():
        raise BoundaryReadError("file_not_found", f"找不到文件“{path}”。")
    offset = _web_offset(crs)
    if offset is not None:  # read as the file declares (lon/lat), then undo the offset vertex by vertex
        crs = None
    explicit_crs, explicit_enc = _explicit_crs(crs), _explicit_encoding(encoding)
    notes: list[str] = []
    family = FORMATS_BY_KEY[fmt]
    if explicit_enc and family.utf8_by_spec:
        notes.append(f"{FORMAT_LABELS[fmt]} 文件按规范使用 UTF-8 编码，已忽略指定的编码 {explicit_enc}。")
    if explicit_crs is not None and family.wgs84_only and explicit_crs != CRS.from_epsg(4326):
        notes.append(
            f"{FORMAT_LABELS[fmt]} 文件的坐标按规范是 WGS84 经纬度，已忽略指定的坐标系 {crs_label(explicit_crs)}。"
        )
        explicit_crs = None
    if path.suffix.lower() == ".kmz":  # GDAL unpacks it: check it first (zips are checked as extracted)
        try:
            with zipfile.ZipFile(path) as kmz:
                check_archive(kmz, path.name)
        except (zipfile.BadZipFile, OSError) as exc:
            raise BoundaryReadError(
                "unreadable", f"“{path.name}”不是有效的 KMZ 文件（可能已损坏或未传完整）。"
            ) from exc
    layers: list[_Layer] = []
    with tempfile.TemporaryDirectory(prefix="gridmap-read-") as tmp:
        fmt, listed = _list_layers(path, fmt, Path(tmp))
        # a drawing's --layer is its CAD layer, its --field code=/name= may name a text layer, block
        # attribute or XDATA application (gridmap.io.cad)
        cad = CadChoice(layer, (fields or {}).get("code"), (fields or {}).get("name")) if fmt == "dxf" else None
        refs = _choose_layers(listed, None if cad else layer, notes)
        counts = _Counts(path, limits or ReadLimits.from_settings())
        for ref in refs:
            loaded = _load_layer(ref, fmt, explicit_enc, explicit_crs, Path(tmp), counts, cad)
            if loaded is None:
                if layer is not None:
                    raise BoundaryReadError("no_polygon_layer", f"图层“{ref.name}”中没有面要素，不能作为网格边界。")
                notes.append(f"图层“{ref.name}”中没有面要素，已跳过。")
                continue
            layers.append(loaded)
    if not layers:
        raise BoundaryReadError("no_polygon_layer", f"文件“{path.name}”中没有含面要素的图层，不能作为网格边界。")
    src = _assemble(path, fmt, layers, cad.fields(fields) if cad else fields, notes, require_code)
    return src if offset is None else _undo_web_offset(src, offset)


#: ``--crs`` values naming a web map's offset lon/lat (GCJ-02: 高德、腾讯; BD-09: 百度), with labels.
WEB_OFFSETS = {"gcj02": "GCJ-02（高德、腾讯）", "bd09": "BD-09（百度）"}


def _web_offset(crs: str | int | CRS | None) -> str | None:
    """``"gcj02"`` or ``"bd09"`` when ``crs`` names a web map's offset (any spelling
    ``gridmap.io.coords.normalize_point_crs`` knows), else None."""
    if not isinstance(crs, str) or not crs.strip() or crs.strip().isdigit():
        return None
    from gridmap.io.coords import normalize_point_crs

    try:
        name = normalize_point_crs(crs)
    except CrsUnknownError:
        return None
    return name if name in WEB_OFFSETS else None


def _undo_web_offset(src: BoundaryFile, offset: str) -> BoundaryFile:
    """``src`` read as lon/lat in a web map's offset: every vertex converted to CGCS2000 on its own
    (the offset varies across the country, so no single transformation does it)."""
    from dataclasses import replace

    from gridmap.io.coords import to_storage

    if not src.source_crs.is_geographic:
        raise BoundaryReadError(
            "crs_unknown",
            f"{WEB_OFFSETS[offset]} 只用于经纬度坐标，而文件的坐标系是 {crs_label(src.source_crs)}：请去掉 --crs {offset}。",
        )

    def convert(xy: np.ndarray) -> np.ndarray:
        x, y = to_storage(xy[:, 0], xy[:, 1], offset)
        return np.column_stack([x, y])

    geoms = shapely.transform(src.areas.geometry.to_numpy(), convert)
    areas = src.areas.set_geometry(gpd.GeoSeries(geoms, index=src.areas.index, crs=STORAGE_SRID))
    note = (
        f"坐标系：按指定的 --crs {offset}，把 {WEB_OFFSETS[offset]} 经纬度逐个顶点换算为 CGCS2000"
        "（网络地图的偏移随位置变化，只能逐点换算；换算后顶点位置误差在 1 米左右）。"
    )
    return replace(src, areas=areas, crs_source="explicit", notes=[*src.notes, note])


def read_areas(path: str | Path, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read the polygon layers of a boundary file (or ``layer``) as canonical columns (see
    ``AREA_FIELD_ALIASES``) in EPSG:4490, every Polygon promoted to a MultiPolygon. Columns not
    recognised are kept under their own names. A thin wrapper of ``read_boundary_file``."""
    areas = read_boundary_file(path, layer=layer).areas.drop(columns=list(_RESERVED))
    geoms = areas.geometry.to_numpy().copy()
    single = shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON
    geoms[single] = shapely.multipolygons(geoms[single, None])
    return areas.set_geometry(gpd.GeoSeries(geoms, index=areas.index, crs=STORAGE_SRID))


def _format_of(path: Path, default: str | None = None) -> str:
    fmt = FORMATS.get(path.suffix.lower(), default)
    if fmt is None and path.suffix.lower() == ".dwg":
        raise BoundaryReadError(
            "unsupported_format",
            f"“{path.name}”是 DWG 图形文件，不能直接读取：请在 CAD 软件中“另存为”DXF（AutoCAD 2000/2004 DXF 即可）后上传。",
        )
    if fmt is None:
        raise BoundaryReadError(
            "unsupported_format",
            f"不支持的文件类型“{path.suffix or path.name}”。请上传 Shapefile（.shp，或把 .shp .shx .dbf .prj .cpg "
            "一起压缩成 .zip）、GeoPackage（.gpkg）、GeoJSON（.geojson）、KML、KMZ、MapInfo（.tab .dat .map .id "
            "或 .mif .mid，压缩成 .zip）或 CAD 的 DXF 文件。",
        )
    return fmt


def _explicit_crs(crs: str | int | CRS | None) -> CRS | None:
    if crs is None or crs == "":
        return None
    try:
        return parse_crs(crs)
    except CrsUnknownError as exc:
        raise BoundaryReadError("crs_unknown", exc.message) from exc


def _explicit_encoding(encoding: str | None) -> str | None:
    if not encoding:
        return None
    try:
        return encoding_name(encoding)
    except EncodingUnknownError as exc:
        raise BoundaryReadError("encoding_unknown", exc.message) from exc


#: The directories of an absolute path in a library's message (the server's temporary directories
#: are nobody's business): removed, the file name stays.
_DIRECTORIES = re.compile(r"(?:/vsi\w+)?(?:/[^/\s'\"“”‘’()（）]+)+/")


def _unreadable(path: Path | str, fmt: str, exc: Exception) -> BoundaryReadError:
    detail = _DIRECTORIES.sub("", str(exc).splitlines()[0])[:200] if str(exc) else type(exc).__name__
    return BoundaryReadError(
        "unreadable",
        f"无法读取文件“{Path(path).name}”：文件可能已损坏，或不是有效的 {FORMAT_LABELS[fmt]} 文件"
        f"（{detail}）。请重新导出后再上传。",
    )


def _list_layers(path: Path, fmt: str, workdir: Path) -> tuple[str, list[_LayerRef]]:
    """The file's format (a zip of MapInfo tables is "mapinfo") and layers in file order (a zip is
    extracted into ``workdir``)."""
    if fmt == "dxf":
        return fmt, [_LayerRef(path.stem, str(path), None, "Polygon")]
    if FORMATS_BY_KEY[fmt].parts:
        if path.suffix.lower() == ".zip":
            fmt, mains = _extract_parts(path, workdir)
        else:
            mains = [(path.stem, path)]
        refs = []
        for name, main in mains:
            _check_parts(main, fmt)
            try:
                declared = pyogrio.list_layers(main)[0][1]
            except (DataSourceError, DataLayerError, IndexError, UnicodeDecodeError) as exc:
                raise _unreadable(main, fmt, exc) from exc
            refs.append(_LayerRef(name, str(main), None, declared, main))
        return fmt, refs
    try:
        listed = pyogrio.list_layers(path)
    except (DataSourceError, DataLayerError) as exc:
        raise _unreadable(path, fmt, exc) from exc
    return fmt, [_LayerRef(str(name), str(path), str(name), gtype) for name, gtype in listed]


def _zip_name(info: zipfile.ZipInfo) -> str:
    """A member's name; names without the UTF-8 flag are usually GBK on Chinese Windows."""
    if info.flag_bits & 0x800:
        return info.filename
    raw = info.filename.encode("cp437")
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


def _extract_parts(path: Path, workdir: Path) -> tuple[str, list[tuple[str, Path]]]:
    """Extract the shapefile and MapInfo parts of a zip (any folder; macOS ``__MACOSX`` junk
    skipped) into ``workdir``; returns the format ("shapefile" when there is a .shp, else
    "mapinfo") and its (layer name, .shp/.tab/.mif path) in archive order. A layer is named by its
    file stem, or by folder/stem when two folders hold the same stem."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BoundaryReadError(
            "unreadable", f"“{path.name}”不是有效的 zip 压缩包（可能已损坏或未传完整），请重新压缩后上传。"
        ) from exc
    shps: list[PurePosixPath] = []
    tables: list[PurePosixPath] = []
    members: list[str] = []
    with archive:
        check_archive(archive, path.name)
        for info in archive.infolist():
            if info.is_dir():
                continue
            name = _zip_name(info)
            members.append(name)
            parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".", "..", "/")]
            if not parts or parts[0] == "__MACOSX" or parts[-1].startswith("._"):
                continue
            relative = PurePosixPath(*parts)
            if relative.suffix.lower() not in SHAPEFILE_PARTS + MAPINFO_PARTS:
                continue
            target = workdir.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            except RuntimeError as exc:  # encrypted
                raise BoundaryReadError("unreadable", f"压缩包“{path.name}”设置了密码，请去掉密码后重新上传。") from exc
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
                raise BoundaryReadError(
                    "unreadable", f"压缩包“{path.name}”中的“{name}”无法解压（文件已损坏），请重新压缩后上传。"
                ) from exc
            if relative.suffix.lower() == ".shp":
                shps.append(relative)
            elif relative.suffix.lower() in (".tab", ".mif"):
                tables.append(relative)
    fmt = "shapefile" if shps or not tables else "mapinfo"
    if fmt == "mapinfo":
        shps = tables
    nested = [m for m in members if m.lower().endswith(NESTED_ARCHIVE_EXTENSIONS)]
    if not shps and nested:
        raise BoundaryReadError(
            "archive_nested",
            f"压缩包“{path.name}”中没有 .shp 文件，只有压缩包（{'、'.join(nested[:5])}"
            f"{' 等' if len(nested) > 5 else ''}）：压缩包中的压缩包不会被打开。请解压内层压缩包，"
            "把其中的 .shp .shx .dbf .prj .cpg 直接压缩成一个 .zip 上传。",
            {"nested": nested[:100]},
        )
    if not shps:
        listing = "、".join(members[:10]) + ("……" if len(members) > 10 else "") or "空"
        raise BoundaryReadError(
            "unsupported_format",
            f"压缩包“{path.name}”中没有 .shp 文件，也没有 MapInfo 的 .tab/.mif 文件（内容：{listing}）。"
            "请把 Shapefile 的 .shp .shx .dbf .prj .cpg（或 MapInfo 的 .tab .dat .map .id）一起压缩，"
            "或直接上传 .gpkg、.geojson、.kml、.dxf 文件。",
        )
    stems = [s.stem for s in shps]
    return fmt, [
        (s.stem if stems.count(s.stem) == 1 else str(s.with_suffix("")), workdir.joinpath(*s.parts)) for s in shps
    ]


def _check_parts(main: Path, fmt: str) -> None:
    if fmt == "mapinfo":
        missing = missing_parts(main)
        if missing:
            raise BoundaryReadError(
                "mapinfo_incomplete",
                f"MapInfo 表“{main.name}”缺少 {'、'.join(missing)} 文件。MapInfo 表由多个同名文件组成"
                "（.tab .dat .map .id，或 .mif .mid），请一起压缩成一个 .zip 上传。",
            )
        return
    shp = main
    missing = [ext for ext in (".shx", ".dbf") if find_sidecar(shp, ext) is None]
    if missing:
        raise BoundaryReadError(
            "shapefile_incomplete",
            f"Shapefile“{shp.name}”缺少 {'、'.join(missing)} 文件。Shapefile 由多个同名文件组成，请把 .shp .shx .dbf"
            "（以及 .prj .cpg）一起上传，最好压缩成一个 .zip。",
        )


def _choose_layers(refs: list[_LayerRef], layer: str | None, notes: list[str]) -> list[_LayerRef]:
    if layer is not None:
        chosen = [r for r in refs if r.name == layer] or [r for r in refs if r.name.lower() == layer.lower()]
        if not chosen:
            raise BoundaryReadError(
                "layer_not_found", f"文件中没有图层“{layer}”。现有的图层：{'、'.join(r.name for r in refs)}。"
            )
        return chosen[:1]
    kept = []
    for ref in refs:
        declared = (ref.geometry_type or "").split(" ")[0]
        if ref.geometry_type is None:
            notes.append(f"图层“{ref.name}”没有几何（只是属性表），已跳过。")
        elif declared in ("Point", "MultiPoint", "LineString", "MultiLineString"):
            notes.append(f"图层“{ref.name}”是{'点' if 'Point' in declared else '线'}图层，不含面要素，已跳过。")
        else:
            kept.append(ref)
    return kept


def _load_layer(
    ref: _LayerRef,
    fmt: str,
    explicit_enc: str | None,
    explicit_crs: CRS | None,
    workdir: Path,
    counts: _Counts,
    cad: CadChoice | None = None,
) -> _Layer | None:
    """Read one layer as it is and settle its encoding and CRS; None when it holds no polygons."""
    if fmt == "dxf":
        return _load_drawing(ref, explicit_enc, explicit_crs, counts, cad)
    encoding = _layer_encoding(ref, fmt, explicit_enc)
    notes: list[str] = []
    dataset = ref.dataset
    family = FORMATS_BY_KEY[fmt]
    if family.sidecars:
        dataset = _without_truncated_names(ref, encoding.encoding, workdir, notes)
    # GDAL decodes a MapInfo table by its declared Charset itself ("file"); else it is told.
    told = not family.utf8_by_spec and encoding.source != "file"
    kwargs = {"layer": ref.ogr_layer, "encoding": encoding.encoding if told else None}
    config = dict(family.read_config)
    try:
        with _gdal_config(config):
            counts.declared(ref, _declared_features(dataset, ref.ogr_layer))
            try:
                frame = pyogrio.read_dataframe(dataset, **kwargs)
            except (GeometryError, shapely.errors.ShapelyError):
                frame = pyogrio.read_dataframe(dataset, on_invalid="fix", **kwargs)
                notes.append(
                    f"图层“{ref.name}”有无法解析的几何（如没有闭合的环），已尽量修正，修正不了的按空几何处理。"
                )
    except (DataSourceError, DataLayerError, FieldError, GeometryError, UnicodeDecodeError) as exc:
        raise _unreadable(ref.dataset, fmt, exc) from exc
    counts.read(ref, frame)
    if not _has_polygons(_collections_to_multipolygons(frame.geometry.to_numpy())[0]):
        return None
    if fmt == "mapinfo" and frame.crs is not None:
        equivalent = gauss_kruger_equivalent(frame.crs)
        if equivalent is not None:
            notes.append(
                f"图层“{ref.name}”的 MapInfo 坐标系（{frame.crs.name}）与 {crs_label(equivalent)} 的投影参数相同"
                "（MapInfo 常以 WGS84 基准代替 CGCS2000，两者相差不到 1 米），按后者读取。"
            )
            frame = frame.set_crs(equivalent, allow_override=True)
    layer = _with_crs(ref, fmt, frame, encoding, explicit_crs)
    layer.notes = notes
    return layer


def _load_drawing(
    ref: _LayerRef, explicit_enc: str | None, explicit_crs: CRS | None, counts: _Counts, cad: CadChoice | None
) -> _Layer:
    """A DXF drawing (``gridmap.io.cad``) as one layer: a row per closed polyline."""
    try:
        drawing = read_dxf(
            Path(ref.dataset),
            encoding=explicit_enc,
            max_entities=ENTITIES_PER_FEATURE * counts.limits.max_features,
            choice=cad,
        )
    except CadReadError as exc:
        raise BoundaryReadError(exc.code, exc.message, exc.detail, status=exc.http_status) from exc
    counts.declared(ref, len(drawing.polygons))
    if not len(drawing.polygons):
        raise BoundaryReadError(
            "no_polygon_layer",
            f"CAD 文件“{Path(ref.dataset).name}”中没有闭合的多段线（LWPOLYLINE/POLYLINE），不能作为网格边界："
            "请把每个网格画成闭合的多段线，编码写在其中。",
        )
    frame = gpd.GeoDataFrame(drawing.columns(), geometry=drawing.polygons)
    counts.read(ref, frame)
    if explicit_enc:
        encoding = ShapefileEncoding(explicit_enc, "explicit", f"按指定的编码 {explicit_enc} 读取文字", None)
    else:
        declared = f"文件头 $DWGCODEPAGE 为 {drawing.codepage}" if drawing.codepage else "文件头没有写代码页"
        encoding = ShapefileEncoding(
            encoding_name(drawing.encoding), "file", f"{declared}，按 {drawing.encoding} 解码文字", None
        )
    layer = _with_crs(ref, "dxf", frame, encoding, explicit_crs)
    layer.notes = drawing.notes
    return layer


def _declared_features(dataset: str, layer: str | None) -> int:
    """The layer's feature count where the format knows it without reading the features (a
    shapefile's header, a GeoPackage's table); -1 otherwise."""
    try:
        return int(pyogrio.read_info(dataset, layer=layer, force_feature_count=False)["features"])
    except (DataSourceError, DataLayerError, KeyError, TypeError, ValueError):
        return -1


@contextmanager
def _gdal_config(options: Mapping[str, str]) -> Iterator[None]:
    """GDAL config options set for the duration of a read, then restored."""
    previous = {key: pyogrio.get_gdal_config_option(key) for key in options}
    pyogrio.set_gdal_config_options(dict(options))
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(previous)


def _without_truncated_names(ref: _LayerRef, encoding: str, workdir: Path, notes: list[str]) -> str:
    """The shapefile to open: ``ref``'s own, or a copy whose DBF field names cut inside a character
    are repaired (the user's file is never changed)."""
    shp = ref.shp
    assert shp is not None  # a shapefile's layer always has its .shp (see _list_layers)
    dbf = find_sidecar(shp, ".dbf")
    assert dbf is not None  # _check_shapefile_parts refused a shapefile without one
    data = dbf.read_bytes()
    patched, changes = strip_truncated_names(data, encoding)
    if not changes:
        return ref.dataset
    folder = Path(tempfile.mkdtemp(dir=workdir))
    for part in SHAPEFILE_PARTS:
        sidecar = find_sidecar(shp, part)
        if sidecar is not None and part != ".dbf":
            shutil.copyfile(sidecar, folder / f"{shp.stem}{part}")
    (folder / f"{shp.stem}.dbf").write_bytes(patched)
    renamed = "、".join(f"“{old}”→“{new}”" for old, new in changes)
    notes.append(
        f"图层“{ref.name}”的字段名被截断在一个字的中间（Shapefile 字段名最多 10 个字节），已去掉残缺的字节：{renamed}。"
    )
    return str(folder / f"{shp.stem}.shp")


def _with_crs(
    ref: _LayerRef, fmt: str, frame: gpd.GeoDataFrame, encoding: ShapefileEncoding, explicit_crs: CRS | None
) -> _Layer:
    """The layer with its CRS: explicit > the file's (KML: WGS84) > inferred from the bounds."""
    file_crs = CRS.from_epsg(4326) if FORMATS_BY_KEY[fmt].wgs84_only else frame.crs
    if explicit_crs is not None:
        differs = file_crs is not None and file_crs != explicit_crs
        note = f"按指定的 --crs 使用 {crs_label(explicit_crs)}" + (
            f"（文件中写的是 {crs_label(file_crs)}）" if differs else ""
        )
        return _Layer(
            ref, frame, encoding, explicit_crs, "explicit", note + "。", declared_crs=file_crs if differs else None
        )
    if file_crs is not None:
        why = f"{FORMAT_LABELS[fmt]} 规定使用 WGS84 经纬度" if FORMATS_BY_KEY[fmt].wgs84_only else "来自文件"
        return _Layer(ref, frame, encoding, file_crs, "file", f"{crs_label(file_crs)}，{why}。")
    try:
        inferred, why = infer_crs(frame.total_bounds)
    except CrsUnknownError as exc:
        raise BoundaryReadError("crs_unknown", f"图层“{ref.name}”没有坐标系信息{_no_prj(fmt)}。{exc.message}") from exc
    return _Layer(ref, frame, encoding, inferred, "inferred", f"文件没有坐标系信息{_no_prj(fmt)}，{why}")


def _no_prj(fmt: str) -> str:
    if fmt == "dxf":
        return "（DXF 文件不记录坐标系）"
    if fmt == "mapinfo":
        return "（MapInfo 表的 CoordSys 是非地球坐标）"
    return "（缺少 .prj 文件）" if FORMATS_BY_KEY[fmt].sidecars else ""


def _layer_encoding(ref: _LayerRef, fmt: str, explicit: str | None) -> ShapefileEncoding:
    if FORMATS_BY_KEY[fmt].utf8_by_spec:
        return ShapefileEncoding("UTF-8", "format", f"{FORMAT_LABELS[fmt]} 规定使用 UTF-8", None)
    if fmt == "mapinfo":
        assert ref.shp is not None  # a MapInfo layer always has its .tab/.mif (see _list_layers)
        try:
            return mapinfo_encoding(ref.shp, explicit)
        except MapInfoEncodingError as exc:
            raise BoundaryReadError("encoding_unknown", f"图层“{ref.name}”：{exc.message}") from exc
    assert ref.shp is not None  # a shapefile's layer always has its .shp (see _list_layers)
    try:
        return shapefile_encoding(ref.shp, explicit)
    except EncodingUnknownError as exc:
        raise BoundaryReadError("encoding_unknown", f"图层“{ref.name}”：{exc.message}") from exc


def _collections_to_multipolygons(geoms: np.ndarray) -> tuple[np.ndarray, int]:
    """Geometry collections holding only polygons → MultiPolygons; returns (geoms, how many)."""
    geoms = geoms.copy()
    count = 0
    for i in np.flatnonzero(shapely.get_type_id(geoms) == shapely.GeometryType.GEOMETRYCOLLECTION):
        parts = shapely.get_parts(shapely.get_parts(geoms[i]))
        if len(parts) and (shapely.get_type_id(parts) == shapely.GeometryType.POLYGON).all():
            geoms[i] = shapely.multipolygons(parts)
            count += 1
    return geoms, count


def _has_polygons(geoms: np.ndarray) -> bool:
    types = shapely.get_type_id(geoms)
    if np.isin(types, POLYGONAL_TYPES).any():
        return True
    parts = shapely.get_parts(geoms[types == shapely.GeometryType.GEOMETRYCOLLECTION])
    return bool(np.isin(shapely.get_type_id(parts), POLYGONAL_TYPES).any())


# ----------------------------------------------------------------------------------------- assemble


def _assemble(
    path: Path,
    fmt: str,
    layers: list[_Layer],
    fields: Mapping[str, str] | None,
    notes: list[str],
    require_code: bool = True,
) -> BoundaryFile:
    """Geometry fixes, reprojection, field mapping and types per layer; then one ``areas`` frame."""
    total = sum(len(lay.frame) for lay in layers)
    names = [lay.ref.name for lay in layers]
    if len(layers) == 1:
        notes.insert(0, f"读取了 {FORMAT_LABELS[fmt]} 文件的图层“{names[0]}”（{total:,} 个要素）。")
    else:
        notes.insert(
            0,
            f"读取了 {FORMAT_LABELS[fmt]} 文件的 {len(layers)} 个图层：{'、'.join(names)}（共 {total:,} 个要素），按此顺序合并。",
        )
    notes += _grouped([(lay.ref.name, f"属性编码：{lay.encoding.encoding}，{lay.encoding.reason}。") for lay in layers])
    notes += _grouped([(lay.ref.name, f"坐标系：{lay.crs_note}") for lay in layers])
    if any(lay.crs != STORAGE_CRS for lay in layers):
        notes.append("坐标已转换为 CGCS2000 经纬度（EPSG:4490）。")

    parts, originals, infos, mapping_notes, detail_notes = [], {}, {}, [], []
    column_notes: list[str] = []
    for lay in layers:
        name = lay.ref.name
        frame = lay.frame.set_crs(lay.crs, allow_override=True)
        originals[name] = frame
        geoms, fixes = _fix_geometries(frame.geometry.to_numpy(), name)
        detail_notes += lay.notes + fixes
        lonlat = gpd.GeoSeries(geoms, crs=lay.crs).to_crs(STORAGE_SRID)
        detail_notes += _check_extent(lay, frame, lonlat)
        ignored = _driver_noise(frame, name, FORMATS_BY_KEY[fmt].driver_columns)
        columns = [c for c in frame.columns if c != frame.geometry.name and c not in ignored]
        mapping = _field_mapping(name, columns, fields, require_code)
        mapping_notes.append((name, _mapping_note(mapping)))
        given = {k: mapping[k] for k in fields or {} if k in mapping}
        for note in match_fields(columns, AREA_FIELD_ALIASES, given).notes:
            column_notes.append(f"{note}。" if len(layers) == 1 else f"图层“{name}”的{note}。")
        table, value_notes = _canonical_table(name, frame, mapping, columns)
        detail_notes += value_notes
        parts.append(gpd.GeoDataFrame(table, geometry=lonlat.to_numpy(), crs=STORAGE_SRID))
        infos[name] = LayerInfo(
            name,
            lay.encoding.encoding,
            lay.encoding.source,
            lay.crs,
            lay.crs_source,
            mapping,
            lay.ref.geometry_type or "Unknown",
            lay.encoding.cpg_text,
            lay.declared_crs,
        )
    notes += _grouped(mapping_notes) + column_notes + detail_notes
    areas = _concat(parts)
    first = infos[names[0]]
    combined_mapping: dict[str, str] = {}
    for info in infos.values():
        for canonical, column in info.field_mapping.items():
            combined_mapping.setdefault(canonical, column)
    return BoundaryFile(
        path=path,
        format=fmt,
        layers=names,
        encoding="/".join(dict.fromkeys(i.encoding for i in infos.values())),
        encoding_source="/".join(dict.fromkeys(i.encoding_source for i in infos.values())),
        source_crs=first.crs,
        crs_source=first.crs_source,
        field_mapping=combined_mapping,
        notes=notes,
        areas=areas,
        originals=originals,
        layer_info=infos,
    )


def _grouped(items: Sequence[tuple[str, str]]) -> list[str]:
    """One note per distinct text; prefixed with its layers when the layers differ."""
    groups: dict[str, list[str]] = {}
    for layer, text in items:
        groups.setdefault(text, []).append(layer)
    if len(groups) <= 1:
        return list(groups)
    return [f"图层 {'、'.join(layers)} 的{text}" for text, layers in groups.items()]


def _fix_geometries(geoms: np.ndarray, layer: str) -> tuple[np.ndarray, list[str]]:
    notes = []
    zm = shapely.has_z(geoms) | shapely.has_m(geoms)
    if zm.any():
        geoms = shapely.force_2d(geoms)
        notes.append(f"图层“{layer}”有 {int(zm.sum()):,} 个要素带高程（Z）或量测值（M），已去掉，只保留平面坐标。")
    geoms, collections = _collections_to_multipolygons(geoms)
    if collections:
        notes.append(
            f"图层“{layer}”有 {collections:,} 个要素是只含多边形的几何集合（如 KML 的 MultiGeometry），已转为多面（MultiPolygon）。"
        )
    return geoms, notes


def _check_extent(lay: _Layer, frame: gpd.GeoDataFrame, lonlat: gpd.GeoSeries) -> list[str]:
    """``crs_mismatch`` when no feature of the reprojected layer lies in China; a note naming the
    features outside when only some do (stray features are data errors for the validator)."""
    per_feature = shapely.bounds(lonlat.to_numpy())
    valid = np.isfinite(per_feature).all(axis=1)
    if not valid.any():
        return []
    west, south, east, north = CHINA_LONLAT_BOUNDS
    minx, miny, maxx, maxy = per_feature.T
    inside = valid & (minx >= west) & (maxx <= east) & (miny >= south) & (maxy <= north)
    if inside[valid].all():
        return []
    if inside.any():
        outside = np.flatnonzero(valid & ~inside)
        numbers = "、".join(str(i + 1) for i in outside[:10]) + ("……" if len(outside) > 10 else "")
        return [
            f"图层“{lay.ref.name}”有 {len(outside):,} 个要素（第 {numbers} 个）换算后不在中国境内，"
            "可能是错误数据，已保留，由检查报告列出。"
        ]
    bounds = lonlat[valid].total_bounds
    raw = frame.geometry[valid].total_bounds
    source = {"file": "文件中的坐标系", "explicit": "指定的 --crs", "inferred": "推断的坐标系"}[lay.crs_source]
    try:
        guess, _ = infer_crs(raw)
        hint = f"这些坐标看起来是 {crs_label(guess)}，可用 --crs {guess.to_epsg()} 指定。"
    except CrsUnknownError:
        hint = "请检查 .prj 文件（或 GeoJSON 的 crs）是否与坐标一致，或用 --crs 指定正确的坐标系。"
    raise BoundaryReadError(
        "crs_mismatch",
        f"图层“{lay.ref.name}”按{source} {crs_label(lay.crs)} 换算成经纬度后，范围是 {describe_bounds(bounds)}，"
        f"不在中国境内：坐标系与坐标不符。文件中的原始坐标范围：{describe_bounds(raw)}。{hint}",
    )


def _driver_noise(frame: gpd.GeoDataFrame, layer: str, driver_columns: tuple[str, ...]) -> list[str]:
    """The driver's own columns (LIBKML's standard ones) that carry nothing (empty, constant
    defaults, generated ids)."""
    noise = []
    for column in driver_columns:
        if column not in frame:
            continue
        values = frame[column]
        text = values.astype(str).str.strip()
        constant = (
            column in ("tessellate", "extrude", "visibility", "altitudeMode") and values.nunique(dropna=False) <= 1
        )
        generated_id = column == "id" and text.str.fullmatch(re.escape(layer) + r"\.\d+").all()
        if values.isna().all() or text.eq("").all() or constant or generated_id:
            noise.append(column)
    return noise


def _field_mapping(
    layer: str, columns: list[str], explicit: Mapping[str, str] | None, require_code: bool = True
) -> dict[str, str]:
    resolved: dict[str, str] = {}
    for canonical, column in (explicit or {}).items():
        if canonical not in AREA_FIELD_ALIASES:
            known = "、".join(f"{k}（{v}）" for k, v in FIELD_LABELS.items())
            raise BoundaryReadError("field_unknown", f"不认识的字段名“{canonical}”。可以指定的字段：{known}。")
        matches = [c for c in columns if c == column] or [c for c in columns if c.lower() == str(column).lower()]
        if not matches:
            raise BoundaryReadError(
                "field_not_found",
                f"图层“{layer}”中没有列“{column}”（指定为{FIELD_LABELS[canonical]}）。现有的列：{'、'.join(columns)}。",
            )
        resolved[canonical] = matches[0]
    match = match_fields(columns, AREA_FIELD_ALIASES, resolved)
    mapping = match.mapping
    if "code" not in mapping and require_code:
        unsure = "".join(f"{note}。" for note in match.unsure)
        raise BoundaryReadError(
            "no_code_field",
            f"图层“{layer}”中找不到编码列。现有的列：{'、'.join(columns) or '无'}。{unsure}请把编码列命名为“编码”"
            "（也可以是 网格编码、区划代码、CODE），或用 --field code=列名 指定哪一列是编码。",
        )
    return {c: mapping[c] for c in AREA_FIELD_ALIASES if c in mapping}


def _mapping_note(mapping: Mapping[str, str]) -> str:
    used = "，".join(f"{FIELD_LABELS[c]} ← “{col}”" for c, col in mapping.items())
    missing = [FIELD_LABELS[c] for c in AREA_FIELD_ALIASES if c not in mapping]
    return f"字段对应：{used}" + (f"；未找到：{'、'.join(missing)}" if missing else "") + "。"


def _canonical_table(
    layer: str, frame: gpd.GeoDataFrame, mapping: Mapping[str, str], columns: list[str]
) -> tuple[pd.DataFrame, list[str]]:
    """Canonical columns (normalised types), "layer", "source_row", then the other columns."""
    notes: list[str] = []
    n = len(frame)
    table: dict[str, object] = {}
    for canonical, column in mapping.items():
        values = frame[column].reset_index(drop=True)
        label = f"图层“{layer}”的{FIELD_LABELS[canonical]}列“{column}”"
        if canonical in _STRING_FIELDS:
            try:
                table[canonical] = code_strings(values, label, notes, exact=canonical != "worker_phone")
            except InexactCodeError as exc:
                raise BoundaryReadError("code_not_exact", exc.message) from exc
        elif canonical in _COUNT_FIELDS:
            table[canonical] = integers(values, label, notes)
        elif canonical == "level":
            table[canonical] = integers(values, label, notes, LEVEL_WORDS)
        else:
            table[canonical] = values.to_numpy()
    table["layer"] = np.full(n, layer, dtype=object)
    table["source_row"] = np.arange(n, dtype=np.int64)
    for column in columns:
        if column in mapping.values():
            continue
        target = column if column not in table else f"{column}_原"
        if target != column:
            notes.append(f"图层“{layer}”的列“{column}”与标准字段重名，改称“{target}”。")
        table[target] = frame[column].to_numpy()
    return pd.DataFrame(table, index=pd.RangeIndex(n)), notes


def _concat(parts: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    areas = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    canonical = [c for c in AREA_FIELD_ALIASES if c in areas]
    others = [c for c in areas.columns if c not in canonical and c not in _RESERVED and c != "geometry"]
    areas = areas[canonical + list(_RESERVED) + others + ["geometry"]]
    for column in canonical:
        if column in (*_COUNT_FIELDS, "level"):
            areas[column] = areas[column].astype("Int64")
        elif column in _STRING_FIELDS:
            areas[column] = areas[column].astype(object).where(areas[column].notna(), None)
    areas["source_row"] = areas["source_row"].astype(np.int64)
    return gpd.GeoDataFrame(areas, geometry="geometry", crs=STORAGE_SRID)
