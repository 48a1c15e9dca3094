"""CAD drawings (DXF) as boundary files: closed polylines are the areas, the texts inside them
their codes and names.

County offices draw grid boundaries in AutoCAD (or CASS) in Gauss-Krüger metres: each area is a
closed LWPOLYLINE/POLYLINE, its code a TEXT or MTEXT (or a block attribute) placed inside it, its
name optionally a second text. :func:`read_dxf` turns such a drawing into one table: a row per
closed polyline, in drawing order, with the columns 编码 / 名称 / CAD图层 / CAD句柄 and the polygon
in the drawing's own coordinates (a DXF records no CRS: the reader of boundary files infers it from
the eastings or takes ``--crs``).

A text belongs to the innermost polygon that contains its insertion point (a village drawn inside
its township labels the village, not the township). A code text is a word of digits and Latin
letters with at least one digit (``411628001``, ``A-12``); every other text is a name. A polygon
with no code text takes its CAD layer name when that looks like a code; with none, or several, it
gets no code and a per-polygon note naming it (layer, handle, where it lies) — the validator then
lists it as an area without a code.

The drawing is read with ezdxf (pure Python; it decodes texts by the header's ``$DWGCODEPAGE``,
``ANSI_936`` = GBK in Chinese AutoCAD, and UTF-8 from AutoCAD 2007 on, and gives MTEXT without its
formatting codes). GDAL's DXF driver would also read it, but it gives closed polylines as lines,
flattens block attributes into one text column and leaves no say in which text belongs where.
Before ezdxf parses anything, the entities are counted in the raw bytes and refused beyond a
bound (``too_many_entities``), so a hostile drawing costs a byte scan, not minutes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely

from gridmap.errors import GridmapError

#: DXF entities per boundary polygon allowed on top of the polygons themselves (texts, hatches,
#: dimension lines, block contents): the entity bound is this times the feature limit.
ENTITIES_PER_FEATURE = 20
#: Curves (polyline arcs) are flattened to chords no further than this from the arc (drawing units, m).
ARC_TOLERANCE = 0.05
#: A code text: digits and Latin letters (and - _), at least one digit.
_CODE_TEXT = re.compile(r"[0-9A-Za-z_\-]*[0-9][0-9A-Za-z_\-]*")
#: Block attribute tags that say what the text is.
_CODE_TAGS = ("编码", "网格编码", "代码", "区划代码", "CODE", "BM", "WGBM", "XZQDM")
_NAME_TAGS = ("名称", "网格名称", "NAME", "MC", "WGMC", "XZQMC")
#: An entity start in an ASCII DXF: the group code 0 on its own line, then the entity's type.
_ENTITY_START = re.compile(rb"(?m)^ *0\r?\n[A-Z][A-Z0-9_]*\r?$")
_BINARY_SENTINEL = b"AutoCAD Binary DXF"

CODE_COLUMN, NAME_COLUMN, LAYER_COLUMN, HANDLE_COLUMN = "编码", "名称", "CAD图层", "CAD句柄"


class CadReadError(GridmapError):
    """The drawing cannot be read (``unreadable``, ``too_many_entities``, ``no_polygon_layer``)."""


@dataclass
class CadDrawing:
    """What :func:`read_dxf` gives: one row per closed polyline (coordinates as drawn)."""

    codes: list[str | None]
    names: list[str | None]
    layers: list[str]
    handles: list[str]
    polygons: np.ndarray  # shapely Polygons, in drawing units
    encoding: str  # the Python codec the texts were decoded with ("cp936", "utf8" ...)
    codepage: str  # the header's $DWGCODEPAGE as written ("ANSI_936"), "" when absent
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Text:
    text: str
    x: float
    y: float
    role: str  # "code" | "name"


def codepage_encoding(codepage: str) -> str:
    """The Python codec of a ``$DWGCODEPAGE`` ("ANSI_936" → "gbk"; unknown → "cp1252")."""
    from ezdxf.tools.codepage import toencoding

    return toencoding(codepage)


def count_entities(path: Path) -> int:
    """Entity starts in an ASCII DXF (sections, tables, blocks and entities: an upper bound of what
    ezdxf will build), from the bytes alone; -1 for a binary DXF."""
    data = path.read_bytes()
    if data.startswith(_BINARY_SENTINEL):
        return -1
    return len(_ENTITY_START.findall(data))


def read_dxf(path: Path, *, encoding: str | None, max_entities: int) -> CadDrawing:
    """The closed polylines of ``path``'s model space with the code and name texts inside each.

    ``encoding`` overrides the header's code page; ``max_entities`` bounds the drawing before it is
    parsed. Raises ``CadReadError``."""
    import ezdxf
    from ezdxf.lldxf.const import DXFError

    entities = count_entities(path)
    if entities > max_entities:
        raise CadReadError(
            "too_many_entities",
            f"CAD 文件“{path.name}”中有约 {entities:,} 个图元，超过上限 {max_entities:,} 个，未做校验："
            "请只保留网格边界（闭合多段线）和编码、名称文字所在的图层，或按乡镇拆分后分批上传。",
            {"entities": entities, "max_entities": max_entities},
            status=413,
        )
    try:
        doc = ezdxf.readfile(path, encoding=encoding) if encoding else ezdxf.readfile(path)
    except (OSError, DXFError, UnicodeDecodeError, ValueError) as exc:
        raise CadReadError(
            "unreadable",
            f"无法读取 CAD 文件“{path.name}”：文件可能已损坏，或不是 DXF 文件（{type(exc).__name__}）。"
            "DWG 文件请先在 CAD 软件中“另存为”DXF（AutoCAD 2000/2004 DXF 即可）。",
        ) from exc
    msp = doc.modelspace()
    if entities < 0 and len(msp) > max_entities:  # binary DXF: counted once parsed
        raise CadReadError(
            "too_many_entities",
            f"CAD 文件“{path.name}”中有 {len(msp):,} 个图元，超过上限 {max_entities:,} 个，未做校验："
            "请只保留网格边界和编码、名称文字所在的图层，或按乡镇拆分后分批上传。",
            {"entities": len(msp), "max_entities": max_entities},
            status=413,
        )
    notes: list[str] = []
    polygons, layers, handles, open_count = _polygons(msp)
    if open_count:
        notes.append(
            f"CAD 文件中有 {open_count:,} 条未闭合的多段线，不是面，已跳过（若是网格边界，请在 CAD 中闭合后重新导出）。"
        )
    texts = _texts(msp)
    drawing = CadDrawing(
        codes=[None] * len(polygons),
        names=[None] * len(polygons),
        layers=layers,
        handles=handles,
        polygons=np.array(polygons, dtype=object),
        encoding=doc.encoding,
        codepage=str(doc.header.get("$DWGCODEPAGE", "")),
        notes=notes,
    )
    if polygons:
        _assign_texts(drawing, texts)
    return drawing


def _polygons(msp) -> tuple[list[shapely.Polygon], list[str], list[str], int]:
    """Closed LWPOLYLINE/POLYLINE (2D or 3D; not meshes) as polygons in drawing order."""
    from ezdxf import path as dxfpath

    polygons, layers, handles, open_count = [], [], [], 0
    for entity in msp.query("LWPOLYLINE POLYLINE"):
        if entity.dxftype() == "POLYLINE" and (entity.is_polygon_mesh or entity.is_poly_face_mesh):
            continue
        points = [(v.x, v.y) for v in dxfpath.make_path(entity).flattening(ARC_TOLERANCE)]
        closed = bool(entity.is_closed) or (len(points) > 2 and points[0] == points[-1])
        if not closed or len(points) < 3:
            open_count += 1
            continue
        polygons.append(shapely.Polygon(points))
        layers.append(str(entity.dxf.layer))
        handles.append(str(entity.dxf.handle))
    return polygons, layers, handles, open_count


def _role(text: str, tag: str | None = None) -> str:
    if tag is not None:
        upper = tag.strip().upper()
        if upper in _CODE_TAGS:
            return "code"
        if upper in _NAME_TAGS:
            return "name"
    return "code" if _CODE_TEXT.fullmatch(text) else "name"


def _texts(msp) -> list[_Text]:
    """TEXT, MTEXT and block attributes (ATTRIB) with where they sit, empty ones left out."""
    found = []
    for entity in msp.query("TEXT MTEXT INSERT"):
        kind = entity.dxftype()
        if kind == "INSERT":
            for attrib in entity.attribs:
                text = _decoded(attrib.plain_text())
                if text:
                    point = attrib.dxf.insert
                    found.append(_Text(text, point.x, point.y, _role(text, attrib.dxf.tag)))
            continue
        text = _decoded(entity.plain_text())
        if not text:
            continue
        point = entity.dxf.insert
        if kind == "TEXT" and (entity.dxf.halign or entity.dxf.valign) and entity.dxf.hasattr("align_point"):
            point = entity.dxf.align_point
        found.append(_Text(text, point.x, point.y, _role(text)))
    return found


def _decoded(text: str) -> str:
    """A text with AutoCAD's ``\\U+XXXX`` escapes (characters outside the code page) decoded and
    its whitespace collapsed."""
    from ezdxf.lldxf.encoding import decode_dxf_unicode

    return " ".join(decode_dxf_unicode(text).split())


def _assign_texts(drawing: CadDrawing, texts: list[_Text]) -> None:
    """Each text to the innermost polygon holding it; then one code (and name) per polygon."""
    polygons = drawing.polygons
    per_polygon: list[list[_Text]] = [[] for _ in range(len(polygons))]
    if texts:
        points = shapely.points([(t.x, t.y) for t in texts])
        valid = shapely.is_valid(polygons)
        areas = np.where(valid, shapely.area(polygons), np.inf)
        tree = shapely.STRtree(polygons)
        text_idx, poly_idx = tree.query(points, predicate="intersects")
        innermost: dict[int, int] = {}
        for t, p in zip(text_idx.tolist(), poly_idx.tolist()):
            if t not in innermost or areas[p] < areas[innermost[t]]:
                innermost[t] = p
        for t, p in innermost.items():
            per_polygon[p].append(texts[t])
    for i, inside in enumerate(per_polygon):
        codes = list(dict.fromkeys(t.text for t in inside if t.role == "code"))
        names = list(dict.fromkeys(t.text for t in inside if t.role == "name"))
        where = _where(drawing, i)
        if len(codes) == 1:
            drawing.codes[i] = codes[0]
        elif not codes and _CODE_TEXT.fullmatch(drawing.layers[i]):
            drawing.codes[i] = drawing.layers[i]
            drawing.notes.append(f"{where}内没有编码文字，按其图层名取编码 {drawing.layers[i]}。")
        elif not codes:
            drawing.notes.append(f"{where}内没有编码文字，未能取得编码：请在该面内写上编码（单行文字或多行文字）。")
        else:
            drawing.notes.append(
                f"{where}内有 {len(codes)} 个编码文字（{'、'.join(codes[:5])}），无法确定是哪一个，未取编码："
                "每个面内只能有一个编码文字。"
            )
        if names:
            drawing.names[i] = names[0]
            if len(names) > 1:
                drawing.notes.append(
                    f"{where}内有 {len(names)} 个名称文字（{'、'.join(names[:5])}），取第一个“{names[0]}”。"
                )


def _where(drawing: CadDrawing, i: int) -> str:
    point = drawing.polygons[i].representative_point() if drawing.polygons[i].is_valid else drawing.polygons[i].centroid
    return (
        f"第 {i + 1} 个面（图层“{drawing.layers[i]}”，句柄 {drawing.handles[i]}，"
        f"位于 x {point.x:,.0f}，y {point.y:,.0f} 附近）"
    )


def write_dxf(
    path: Path,
    polygons: list[shapely.Polygon | shapely.MultiPolygon | None],
    codes: list[str | None],
    names: list[str | None],
    layers: list[str],
    *,
    codepage: str = "ANSI_936",
    text_height: float = 20.0,
) -> None:
    """A DXF (AutoCAD 2000, ``codepage``) with each polygon's rings as closed LWPOLYLINEs on its
    layer, its code as a TEXT at a point inside it and its name as a second TEXT below."""
    import ezdxf

    doc = ezdxf.new("R2000")
    doc.header["$DWGCODEPAGE"] = codepage
    doc.encoding = codepage_encoding(codepage)
    msp = doc.modelspace()
    for layer in dict.fromkeys(layers):
        if layer not in doc.layers:
            doc.layers.add(layer)
    for geom, code, name, layer in zip(polygons, codes, names, layers):
        if geom is None or geom.is_empty:
            continue
        for part in shapely.get_parts(geom):
            for ring in [part.exterior, *part.interiors]:
                msp.add_lwpolyline(list(ring.coords)[:-1], close=True, dxfattribs={"layer": layer})
        inside = geom.representative_point()
        below = shapely.Point(inside.x, inside.y - 1.5 * text_height)
        name_at = below if geom.contains(below) else inside
        for text, point in ((code, inside), (name, name_at)):
            if text:
                msp.add_text(text, height=text_height, dxfattribs={"layer": layer}).set_placement((point.x, point.y))
    doc.saveas(path)
