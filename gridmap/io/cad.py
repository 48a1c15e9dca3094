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
with no code text takes its CAD layer name when that looks like a code; with none it gets no code
and a per-polygon note naming it (layer, handle, where it lies) — the validator then lists it as
an area without a code. With several it gets no code either, and the codes found go to the
``候选编码`` column, which the validator names in its finding.

What the drawer chose can be chosen here too (:class:`CadChoice`): the CAD layer holding the
boundaries (other closed polylines — buildings, ponds — are then left out), and where the codes
and names are: the texts of one CAD layer, a block attribute tag, or the polylines' own extended
data (XDATA of an application, as CASS writes it). A chosen source becomes a column of its own
name, so the boundary reader's field mapping (``--field code=注记``) takes it like any column.

The drawing is read with ezdxf (pure Python; it decodes texts by the header's ``$DWGCODEPAGE``,
``ANSI_936`` = GBK in Chinese AutoCAD, and UTF-8 from AutoCAD 2007 on, and gives MTEXT without its
formatting codes). GDAL's DXF driver would also read it, but it gives closed polylines as lines,
flattens block attributes into one text column and leaves no say in which text belongs where.
Before ezdxf parses anything, the entities are counted in the raw bytes and refused beyond a
bound (``too_many_entities``), so a hostile drawing costs a byte scan, not minutes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
#: The code texts found in a polygon holding several (joined by "、"); None elsewhere.
CANDIDATES_COLUMN = "候选编码"
FIXED_COLUMNS = (CODE_COLUMN, NAME_COLUMN, LAYER_COLUMN, HANDLE_COLUMN, CANDIDATES_COLUMN)


@dataclass(frozen=True)
class CadChoice:
    """What the reader was told about a drawing: ``layer`` the CAD layer of the boundaries (None:
    every layer); ``code_from`` / ``name_from`` a CAD text layer, block attribute tag or XDATA
    application holding the codes / names (None: found by the rules in the module docstring)."""

    layer: str | None = None
    code_from: str | None = None
    name_from: str | None = None

    def column(self, role: str) -> str | None:
        """The column a chosen source becomes: its own name, or for names read from the same
        source as the codes (XDATA holding both) that name followed by （名称）."""
        source = self.code_from if role == "code" else self.name_from
        if not source or source in FIXED_COLUMNS:
            return source
        return f"{source}（名称）" if role == "name" and source == self.code_from else source

    def fields(self, fields: Mapping[str, str] | None) -> dict[str, str]:
        """The boundary reader's field mapping with the chosen sources' columns."""
        chosen = {role: column for role in ("code", "name") if (column := self.column(role))}
        return {**(fields or {}), **chosen}


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
    candidates: list[str | None] = field(default_factory=list)  # CANDIDATES_COLUMN
    chosen: dict[str, list[str | None]] = field(default_factory=dict)  # a chosen source's column

    def columns(self) -> dict[str, list]:
        """The drawing as table columns (the fixed ones, then the chosen sources')."""
        table: dict[str, list] = {
            CODE_COLUMN: self.codes,
            NAME_COLUMN: self.names,
            LAYER_COLUMN: self.layers,
            HANDLE_COLUMN: self.handles,
        }
        if any(c is not None for c in self.candidates):
            table[CANDIDATES_COLUMN] = self.candidates
        return table | self.chosen


@dataclass(frozen=True)
class _Text:
    text: str
    x: float
    y: float
    role: str  # "code" | "name"
    layer: str
    tag: str | None = None  # a block attribute's tag


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


def read_dxf(path: Path, *, encoding: str | None, max_entities: int, choice: CadChoice | None = None) -> CadDrawing:
    """The closed polylines of ``path``'s model space with the code and name texts inside each.

    ``encoding`` overrides the header's code page; ``max_entities`` bounds the drawing before it is
    parsed; ``choice`` names the boundary layer and the code and name sources. Raises
    ``CadReadError``."""
    import ezdxf
    from ezdxf.lldxf.const import DXFError

    choice = choice or CadChoice()
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
    closed = _polygons(msp)
    polygons = _on_layer(closed, choice.layer, path, notes)
    if closed.open_count:
        notes.append(
            f"CAD 文件中有 {closed.open_count:,} 条未闭合的多段线，不是面，已跳过（若是网格边界，请在 CAD 中闭合后重新导出）。"
        )
    texts = _texts(msp)
    n = len(polygons.shapes)
    drawing = CadDrawing(
        codes=[None] * n,
        names=[None] * n,
        layers=polygons.layers,
        handles=polygons.handles,
        polygons=np.array(polygons.shapes, dtype=object),
        encoding=doc.encoding,
        codepage=str(doc.header.get("$DWGCODEPAGE", "")),
        notes=notes,
        candidates=[None] * n,
    )
    if n:
        inside = _texts_inside(drawing.polygons, texts)
        chosen_codes = bool(choice.code_from) and choice.code_from not in FIXED_COLUMNS
        _assign_texts(drawing, inside, note_codes=not chosen_codes)
        for source, role in ((choice.code_from, "code"), (choice.name_from, "name")):
            if source and source not in FIXED_COLUMNS:
                _assign_source(drawing, choice, role, inside, polygons.entities, texts, path)
    return drawing


@dataclass
class _Closed:
    """The closed polylines of a drawing (and how many open ones were passed over)."""

    shapes: list[shapely.Polygon] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    handles: list[str] = field(default_factory=list)
    entities: list = field(default_factory=list)  # the ezdxf entities (for their XDATA)
    open_count: int = 0


def _polygons(msp) -> _Closed:
    """Closed LWPOLYLINE/POLYLINE (2D or 3D; not meshes) as polygons in drawing order."""
    from ezdxf import path as dxfpath

    found = _Closed()
    for entity in msp.query("LWPOLYLINE POLYLINE"):
        if entity.dxftype() == "POLYLINE" and (entity.is_polygon_mesh or entity.is_poly_face_mesh):
            continue
        points = [(v.x, v.y) for v in dxfpath.make_path(entity).flattening(ARC_TOLERANCE)]
        closed = bool(entity.is_closed) or (len(points) > 2 and points[0] == points[-1])
        if not closed or len(points) < 3:
            found.open_count += 1
            continue
        found.shapes.append(shapely.Polygon(points))
        found.layers.append(str(entity.dxf.layer))
        found.handles.append(str(entity.dxf.handle))
        found.entities.append(entity)
    return found


def _on_layer(closed: _Closed, layer: str | None, path: Path, notes: list[str]) -> _Closed:
    """The polylines of the chosen CAD layer (all without a choice, with a note when they lie on
    several layers). An unknown layer is refused, listing the layers that hold closed polylines."""
    counts: dict[str, int] = {}
    for name in closed.layers:
        counts[name] = counts.get(name, 0) + 1
    listed = "、".join(f"“{name}”（{count:,} 个）" for name, count in counts.items())
    if layer is None:
        if len(counts) > 1:
            notes.append(
                f"CAD 文件中有 {len(counts)} 个图层含闭合多段线：{listed}，都按网格边界读取；"
                "若其中有房屋、水塘等其他闭合线，请用 --layer 指定边界所在的图层。"
            )
        return closed
    keep = [i for i, name in enumerate(closed.layers) if name == layer]
    if not keep:
        keep = [i for i, name in enumerate(closed.layers) if name.casefold() == layer.casefold()]
    if not keep:
        raise CadReadError(
            "cad_layer_not_found",
            f"CAD 文件“{path.name}”的图层“{layer}”中没有闭合多段线。含闭合多段线的图层：{listed or '无'}。",
            {"layer": layer, "layers": counts},
            status=422,
        )
    notes.append(f"按指定的图层“{closed.layers[keep[0]]}”读取网格边界（{len(keep):,} 个面），其他图层的闭合线未读取。")
    return _Closed(
        [closed.shapes[i] for i in keep],
        [closed.layers[i] for i in keep],
        [closed.handles[i] for i in keep],
        [closed.entities[i] for i in keep],
        closed.open_count,
    )


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
                    point, tag = attrib.dxf.insert, str(attrib.dxf.tag)
                    found.append(_Text(text, point.x, point.y, _role(text, tag), str(attrib.dxf.layer), tag))
            continue
        text = _decoded(entity.plain_text())
        if not text:
            continue
        point = entity.dxf.insert
        if kind == "TEXT" and (entity.dxf.halign or entity.dxf.valign) and entity.dxf.hasattr("align_point"):
            point = entity.dxf.align_point
        found.append(_Text(text, point.x, point.y, _role(text), str(entity.dxf.layer)))
    return found


def _decoded(text: str) -> str:
    """A text with AutoCAD's ``\\U+XXXX`` escapes (characters outside the code page) decoded and
    its whitespace collapsed."""
    from ezdxf.lldxf.encoding import decode_dxf_unicode

    return " ".join(decode_dxf_unicode(text).split())


def _texts_inside(polygons: np.ndarray, texts: list[_Text]) -> list[list[_Text]]:
    """Per polygon, the texts whose insertion point it is the innermost polygon holding."""
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
        for t, p in sorted(innermost.items()):
            per_polygon[p].append(texts[t])
    return per_polygon


def _assign_texts(drawing: CadDrawing, per_polygon: list[list[_Text]], *, note_codes: bool = True) -> None:
    """One code (and name) per polygon from the texts inside it, by the texts' roles (noting the
    polygons left without a code unless ``note_codes`` is false: the codes are chosen elsewhere)."""
    for i, inside in enumerate(per_polygon):
        codes = list(dict.fromkeys(t.text for t in inside if t.role == "code"))
        names = list(dict.fromkeys(t.text for t in inside if t.role == "name"))
        where = _where(drawing, i)
        if len(codes) == 1:
            drawing.codes[i] = codes[0]
        elif not codes and _CODE_TEXT.fullmatch(drawing.layers[i]):
            drawing.codes[i] = drawing.layers[i]
            if note_codes:
                drawing.notes.append(f"{where}内没有编码文字，按其图层名取编码 {drawing.layers[i]}。")
        elif not codes:
            if note_codes:
                drawing.notes.append(f"{where}内没有编码文字，未能取得编码：请在该面内写上编码（单行文字或多行文字）。")
        elif note_codes:
            drawing.candidates[i] = "、".join(codes)
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


def _assign_source(
    drawing: CadDrawing,
    choice: CadChoice,
    role: str,
    per_polygon: list[list[_Text]],
    entities: list,
    texts: list[_Text],
    path: Path,
) -> None:
    """The column ``source``: per polygon, the texts inside it on the CAD layer or with the block
    attribute tag ``source``, else the strings of the polyline's XDATA of application ``source``.
    For codes, several different values leave the polygon without one (noted, and listed in
    ``候选编码``); for names the first is taken."""
    source = str(choice.code_from if role == "code" else choice.name_from)
    folded = source.casefold()
    by_layer = any(t.layer.casefold() == folded for t in texts)
    by_tag = any(t.tag is not None and t.tag.casefold() == folded for t in texts)
    by_xdata = not (by_layer or by_tag) and any(_xdata_strings(e, source) for e in entities)
    if not (by_layer or by_tag or by_xdata):
        layers = list(dict.fromkeys(t.layer for t in texts))
        tags = list(dict.fromkeys(t.tag for t in texts if t.tag))
        apps = sorted({str(app) for e in entities if e.xdata for app in e.xdata.data})
        raise CadReadError(
            "cad_source_not_found",
            f"CAD 文件“{path.name}”中没有名为“{source}”的文字图层、块属性或扩展数据（XDATA），"
            f"无法从中读取{'编码' if role == 'code' else '名称'}。"
            f"有文字的图层：{'、'.join(layers[:20]) or '无'}；块属性：{'、'.join(tags[:20]) or '无'}；"
            f"扩展数据：{'、'.join(apps[:20]) or '无'}。",
            {"source": source, "text_layers": layers[:50], "attribute_tags": tags[:50], "xdata_apps": apps[:50]},
            status=422,
        )
    column: list[str | None] = [None] * len(per_polygon)
    if role == "code":
        drawing.candidates = [None] * len(per_polygon)
    for i, inside in enumerate(per_polygon):
        if by_xdata:
            values = _xdata_strings(entities[i], source)  # codes and names side by side: pick by form
            values = [v for v in values if bool(_CODE_TEXT.fullmatch(v)) == (role == "code")] or values
        else:
            values = [
                t.text
                for t in inside
                if (t.layer.casefold() == folded if by_layer else t.tag is not None and t.tag.casefold() == folded)
            ]
        values = list(dict.fromkeys(values))
        if len(values) == 1 or (values and role == "name"):
            column[i] = values[0]
        elif values:
            drawing.candidates[i] = "、".join(values)
            drawing.notes.append(
                f"{_where(drawing, i)}内“{source}”有 {len(values)} 个编码（{'、'.join(values[:5])}），"
                "无法确定是哪一个，未取编码：每个面内只能有一个编码。"
            )
        elif role == "code":
            drawing.notes.append(f"{_where(drawing, i)}内没有“{source}”的编码，未能取得编码。")
    kind = "文字图层" if by_layer else "块属性" if by_tag else "扩展数据（XDATA）"
    drawing.notes.append(f"{'编码' if role == 'code' else '名称'}按指定的{kind}“{source}”读取。")
    drawing.chosen[choice.column(role) or source] = column


def _xdata_strings(entity, app: str) -> list[str]:
    """The non-empty strings (group code 1000) of ``entity``'s XDATA of application ``app``."""
    if not entity.has_xdata(app):
        return []
    return [text for code, value in entity.get_xdata(app) if code == 1000 and (text := _decoded(str(value)))]


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
