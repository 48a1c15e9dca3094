"""Attribute encodings of shapefiles: the ``.cpg`` file, or detection from the DBF bytes.

Chinese shapefiles are usually GBK (code page 936) or UTF-8. A ``.cpg`` file names the encoding;
without it, the DBF header's language id is often 0 and GDAL/pyogrio fall back to ISO-8859-1,
which turns Chinese into mojibake. We decode every character value (and field name) of the DBF:
strict UTF-8 first, then GB18030 (a superset of GBK and GB2312).

Encoding names returned here are canonical display names ("UTF-8", "GBK", "GB18030", ...) that
Python's codecs, pyogrio and GDAL's iconv all understand.

The DBF header is checked first (``read_dbf_header``): a header that contradicts itself or the
file — a header length beyond the file, field descriptors without their terminator or that do not
fit the record, a record count the file cannot hold (truncated, or billions declared) — is a
``DbfHeaderError`` (``unreadable``), not a crash here or a file GDAL reads as "no columns".
"""

from __future__ import annotations

import codecs
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gridmap.errors import GridmapError
from gridmap.io.boundary_formats import BoundaryReadError

#: What .cpg files (ArcGIS, QGIS, GDAL) say → canonical name.
_CPG_NAMES = {
    "936": "GBK",
    "cp936": "GBK",
    "ansi936": "GBK",
    "gbk": "GBK",
    "gb2312": "GBK",
    "euccn": "GBK",
    "54936": "GB18030",
    "gb18030": "GB18030",
    "65001": "UTF-8",
    "utf8": "UTF-8",
    "utf-8": "UTF-8",
    "950": "BIG5",
    "cp950": "BIG5",
    "big5": "BIG5",
    "1252": "CP1252",
    "ansi1252": "CP1252",
    "cp1252": "CP1252",
    "88591": "ISO-8859-1",
    "iso88591": "ISO-8859-1",
    "latin1": "ISO-8859-1",
}
_DISPLAY = {
    "utf-8": "UTF-8",
    "gbk": "GBK",
    "gb18030": "GB18030",
    "big5": "BIG5",
    "cp1252": "CP1252",
    "latin-1": "ISO-8859-1",
    "iso8859-1": "ISO-8859-1",
    "gb2312": "GBK",
}
#: Candidates tried on a DBF without .cpg, in order.
DETECTION_ORDER = ("UTF-8", "GB18030")


class EncodingUnknownError(GridmapError, ValueError):
    """No encoding decodes the attribute text (or a given name is unknown); ``message`` is Chinese."""

    def __init__(self, message: str):
        super().__init__("encoding_unknown", message)


def encoding_name(name: str) -> str:
    """Canonical name of an encoding as a user or a .cpg file writes it ("936", "gbk", "UTF8" ...).

    GB2312 is read as its superset GBK. Raises ``EncodingUnknownError`` for an unknown name.
    """
    key = "".join(name.split()).lower().replace("_", "")
    if key in _CPG_NAMES:
        return _CPG_NAMES[key]
    candidates = [key] + ([f"cp{key}"] if key.isdigit() else [])
    for candidate in candidates:
        try:
            info = codecs.lookup(candidate)
        except (LookupError, ValueError):  # ValueError: a NUL in the name
            continue
        if not getattr(info, "_is_text_encoding", True):  # rot13, base64, zlib …: not text encodings
            continue
        return _DISPLAY.get(info.name, info.name.upper())
    raise EncodingUnknownError(f"不认识的编码名称“{name}”；中文数据常用 GBK、GB18030 或 UTF-8。")


def find_sidecar(shp: Path, suffix: str) -> Path | None:
    """The file next to ``shp`` with the same stem and ``suffix`` (".dbf", ".cpg" ...), any case."""
    for candidate in shp.parent.iterdir():
        if candidate.stem.lower() == shp.stem.lower() and candidate.suffix.lower() == suffix:
            return candidate
    return None


@dataclass(frozen=True)
class DbfField:
    name: bytes  # raw bytes of the field name, NUL padding removed
    type: str  # "C" character, "N" numeric, "F", "D", "L" ...
    offset: int  # byte offset within a record (the deletion flag is byte 0)
    length: int  # bytes


@dataclass(frozen=True)
class DbfHeader:
    records: int
    header_length: int
    record_length: int
    fields: tuple[DbfField, ...]


class DbfHeaderError(BoundaryReadError):
    """A DBF whose header contradicts itself or the file (code ``unreadable``, 422)."""

    def __init__(self, name: str, problem: str):
        super().__init__(
            "unreadable",
            f"属性表“{name}”的文件头已损坏：{problem}。请在 GIS 软件中重新导出 Shapefile，把 .shp、.shx、.dbf、.prj、.cpg 一起重新上传。",
            {"file": name, "problem": problem},
        )


#: Field types of dBASE III/IV, FoxPro and Visual FoxPro (GDAL reads the unknown ones as text, but
#: a byte outside these is a sign of a descriptor that is not one).
DBF_FIELD_TYPES = frozenset("CNFLDMBGPYTIV@O+0WQX")
_DBF_TERMINATOR = 0x0D


def read_dbf_header(data: bytes, name: str = ".dbf") -> DbfHeader:
    """Parse a dBASE III header (record count, header and record length, field descriptors) and
    check it against itself and the file's size. Raises ``DbfHeaderError`` naming the file
    ``name`` when the header cannot be right."""
    if len(data) < 32:
        raise DbfHeaderError(name, "文件是空的" if not data else f"文件只有 {len(data)} 字节，不足 32 字节的文件头")
    records, header_length, record_length = struct.unpack_from("<IHH", data, 4)
    if header_length < 33 or header_length > len(data):
        raise DbfHeaderError(
            name,
            f"文件头长度字段为 {header_length:,} 字节，"
            + ("小于最小的 33 字节" if header_length < 33 else f"超过了整个文件的 {len(data):,} 字节"),
        )
    fields: list[DbfField] = []
    offset = 1
    pos = 32
    while data[pos] != _DBF_TERMINATOR:
        if pos + 32 >= header_length:
            raise DbfHeaderError(
                name,
                f"在文件头长度（{header_length:,} 字节）以内找不到字段描述的结束标记（0x0D）：文件头长度或字段描述已损坏",
            )
        raw = data[pos : pos + 32]
        field = DbfField(raw[:11].split(b"\x00", 1)[0], chr(raw[11]), offset, raw[16])
        number = len(fields) + 1
        if not field.name:
            raise DbfHeaderError(name, f"第 {number} 个字段没有名称：字段描述已损坏")
        if field.type.upper() not in DBF_FIELD_TYPES:
            shown = f"“{field.type}”" if field.type.isascii() and field.type.isprintable() else f"0x{raw[11]:02X}"
            raise DbfHeaderError(name, f"第 {number} 个字段的类型 {shown} 不是 dBASE 的字段类型：字段描述已损坏")
        if field.length == 0:
            raise DbfHeaderError(name, f"第 {number} 个字段的长度为 0：字段描述已损坏")
        fields.append(field)
        offset += field.length
        pos += 32
    if offset > record_length:
        raise DbfHeaderError(
            name, f"各字段连同删除标记共 {offset:,} 字节，超过了文件头中的记录长度 {record_length:,} 字节"
        )
    if header_length + records * record_length > len(data):
        raise DbfHeaderError(
            name,
            f"文件头声明有 {records:,} 条记录、每条 {record_length:,} 字节，但文件只有 {len(data):,} 字节，"
            "装不下这么多记录：文件不完整（可能未传完整）或记录数已损坏",
        )
    return DbfHeader(records, header_length, record_length, tuple(fields))


def _field_bytes(data: bytes, header: DbfHeader, field: DbfField) -> tuple[bytes, np.ndarray]:
    """All values of one character field: the values joined by b"\\n" (one blob, for a fast check)
    and the fixed-width matrix (records × length) for the slow per-value check."""
    n = min(header.records, (len(data) - header.header_length) // max(header.record_length, 1))
    table = np.frombuffer(data, np.uint8, n * header.record_length, header.header_length)
    values = table.reshape(n, header.record_length)[:, field.offset : field.offset + field.length]
    newline = np.full((n, 1), ord("\n"), np.uint8)
    return np.hstack([values, newline]).tobytes(), values


def _decodes(raw: bytes, encoding: str, width: int) -> bool:
    """Whether one value decodes strictly; a multibyte character cut off by a value that fills its
    whole field (GDAL truncates at the byte width) is tolerated."""
    value = raw.rstrip(b" \x00")
    try:
        value.decode(encoding)
        return True
    except UnicodeDecodeError as exc:
        return len(value) == width and exc.end == len(value) and exc.start >= len(value) - 3


def dbf_decodes(data: bytes, encoding: str) -> bool:
    """Whether every field name and character value of the DBF ``data`` decodes as ``encoding``."""
    header = read_dbf_header(data)
    if not all(_decodes(f.name, encoding, 10) for f in header.fields):
        return False
    for field in header.fields:
        if field.type != "C":
            continue
        blob, values = _field_bytes(data, header, field)
        try:
            blob.decode(encoding)
        except UnicodeDecodeError:
            if not all(_decodes(row.tobytes(), encoding, field.length) for row in values):
                return False
    return True


def strip_truncated_names(data: bytes, encoding: str) -> tuple[bytes, list[tuple[str, str]]]:
    """Field names cut inside a multibyte character (GDAL and QGIS cut UTF-8 names at 10 bytes,
    e.g. "联系电话" → "联系电" + 1 byte) make pyogrio fail; returns the DBF bytes with the broken tail
    bytes removed from those names, and (raw name shown with "�", new name) per name changed."""
    header = read_dbf_header(data)
    patched = bytearray(data)
    changes = []
    for k, field in enumerate(header.fields):
        try:
            field.name.decode(encoding)
        except UnicodeDecodeError as exc:
            if exc.end != len(field.name) or exc.start < len(field.name) - 3:
                continue
            kept = field.name[: exc.start]
            pos = 32 + 32 * k
            patched[pos : pos + 11] = kept.ljust(11, b"\x00")
            changes.append((field.name.decode(encoding, "replace"), kept.decode(encoding)))
    return bytes(patched), changes


def _is_ascii(data: bytes) -> bool:
    header = read_dbf_header(data)
    names = b"".join(f.name for f in header.fields)
    blobs = [_field_bytes(data, header, f)[0] for f in header.fields if f.type == "C"]
    return all(b.isascii() for b in [names, *blobs])


def detect_dbf_encoding(data: bytes) -> tuple[str, str]:
    """Encoding of a DBF's text from its bytes, and a Chinese reason for the report.

    Pure ASCII → UTF-8; all strict UTF-8 → UTF-8; else all GB18030 → GB18030; otherwise raises
    ``EncodingUnknownError`` asking for ``--encoding``.
    """
    if _is_ascii(data):
        return "UTF-8", "DBF 中只有 ASCII 字符，按 UTF-8 读取"
    if dbf_decodes(data, "UTF-8"):
        return "UTF-8", "DBF 中的文字都是有效的 UTF-8"
    if dbf_decodes(data, "GB18030"):
        return "GB18030", "DBF 中的文字不是有效的 UTF-8，但都能按 GB18030（兼容 GBK/GB2312）解码"
    raise EncodingUnknownError(
        "无法判断属性文字的编码：DBF 中的文字既不是有效的 UTF-8，也不能按 GB18030/GBK 解码，且没有 .cpg 文件。"
        "请用 --encoding 指定编码（例如 --encoding GBK 或 --encoding BIG5），或在 .shp 旁放一个写有编码名称的 .cpg 文件。"
    )


@dataclass(frozen=True)
class ShapefileEncoding:
    encoding: str  # canonical name, see ``encoding_name``
    source: str  # "explicit" | "cpg" | "detected"
    reason: str  # Chinese, for the report
    cpg_text: str | None  # the .cpg file's content as found (kept when writing a copy)


def shapefile_encoding(shp: Path, explicit: str | None = None) -> ShapefileEncoding:
    """The encoding to read ``shp``'s attributes with: ``explicit`` > the ``.cpg`` file (when its
    encoding decodes the DBF) > detection from the DBF bytes. Raises ``DbfHeaderError`` for a DBF
    whose header is corrupt, ``EncodingUnknownError`` when no encoding fits."""
    cpg = find_sidecar(shp, ".cpg")
    cpg_text = cpg.read_bytes().decode("ascii", "replace").strip() if cpg else None
    dbf = find_sidecar(shp, ".dbf")
    data = dbf.read_bytes() if dbf else b""
    if dbf is not None:
        read_dbf_header(data, dbf.name)  # a corrupt header is refused before anything reads the records
    if explicit:
        if data and not dbf_decodes(data, explicit):
            raise EncodingUnknownError(
                f"DBF 中的文字不能按指定的编码 {explicit} 解码；请换一个编码（常用 GBK、GB18030、UTF-8）。"
            )
        return ShapefileEncoding(explicit, "explicit", f"按指定的编码 {explicit} 读取", cpg_text)
    fallback = ""
    if cpg_text:
        try:
            declared = encoding_name(cpg_text)
        except EncodingUnknownError:
            fallback = f".cpg 文件写的“{cpg_text}”不是已知的编码名称，改为按内容检测："
        else:
            if not data or dbf_decodes(data, declared):
                return ShapefileEncoding(declared, "cpg", f"来自 .cpg 文件（“{cpg_text}”）", cpg_text)
            fallback = f".cpg 文件写的是 {cpg_text}，但 DBF 中的文字不能按它解码，改为按内容检测："
    if not data:
        return ShapefileEncoding("UTF-8", "detected", "没有 .dbf 文件，没有属性文字", cpg_text)
    encoding, reason = detect_dbf_encoding(data)
    prefix = fallback or "没有 .cpg 文件，"
    return ShapefileEncoding(encoding, "detected", prefix + reason, cpg_text)
