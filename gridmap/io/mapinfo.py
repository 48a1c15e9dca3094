"""MapInfo tables as boundary files: which files make one, and the encoding of their text.

A native table is ``.tab`` (the definition: columns, ``!charset``, CoordSys) + ``.dat`` (the
attributes, dBASE records) + ``.map`` (the geometry) + ``.id`` (the index of the geometry); the
interchange form is ``.mif`` (definition and geometry, ``Charset "…"``) + ``.mid`` (attributes, CSV).
GDAL's "MapInfo File" driver reads both, with the CoordSys as the CRS, and decodes the text by the
declared charset (Chinese MapInfo writes ``WindowsSimpChinese``, i.e. CP936/GBK). A table that
declares ``Neutral`` (or nothing) leaves the bytes undeclared: their encoding is detected from the
bytes as for a shapefile without ``.cpg`` (UTF-8, else GB18030), or given with ``--encoding``.
"""

from __future__ import annotations

import re
from pathlib import Path

from gridmap.errors import GridmapError
from gridmap.io.encoding import ShapefileEncoding, dbf_decodes, encoding_name, find_sidecar

#: MapInfo charset names → Python codecs (the ones county files use; GDAL knows them all).
CHARSETS = {
    "windowssimpchinese": "GBK",
    "windowstradchinese": "BIG5",
    "utf-8": "UTF-8",
    "utf8": "UTF-8",
    "windowslatin1": "CP1252",
    "iso8859_1": "ISO-8859-1",
}
#: The definition is read this far for its charset line (the header is a few hundred bytes).
_HEADER_BYTES = 64 * 1024
#: The attribute bytes looked at when detecting an undeclared encoding.
_SAMPLE_BYTES = 16 * 1024 * 1024
_TAB_CHARSET = re.compile(rb"(?im)^\s*!charset\s+(\S+)")
_MIF_CHARSET = re.compile(rb'(?im)^\s*charset\s+"?([^"\s]+)"?')


class MapInfoEncodingError(GridmapError):
    """The text encoding of a table cannot be settled (``encoding_unknown``)."""


def missing_parts(main: Path) -> list[str]:
    """The companion files a ``.tab`` (.dat .map .id) or ``.mif`` (.mid) lacks."""
    wanted = (".dat", ".map", ".id") if main.suffix.lower() == ".tab" else (".mid",)
    return [ext for ext in wanted if find_sidecar(main, ext) is None]


def declared_charset(main: Path) -> str | None:
    """The table's charset as written (``WindowsSimpChinese``), None when not declared."""
    with open(main, "rb") as f:
        head = f.read(_HEADER_BYTES)
    found = (_TAB_CHARSET if main.suffix.lower() == ".tab" else _MIF_CHARSET).search(head)
    return found.group(1).decode("ascii", "replace") if found else None


def mapinfo_encoding(main: Path, explicit: str | None = None) -> ShapefileEncoding:
    """The encoding of ``main``'s text: ``explicit`` > the declared charset (source "file": GDAL
    decodes it) > detected from the bytes when the charset is Neutral or missing."""
    charset = declared_charset(main)
    if explicit:
        return ShapefileEncoding(explicit, "explicit", f"按指定的编码 {explicit} 读取", None)
    if charset and charset.lower() != "neutral":
        codec = CHARSETS.get(charset.lower())
        name = encoding_name(codec) if codec else charset
        return ShapefileEncoding(name, "file", f"MapInfo 表声明的字符集 {charset}", None)
    what = f"字符集为 {charset}（未声明）" if charset else "没有声明字符集"
    if _decodes(main, "UTF-8"):
        return ShapefileEncoding("UTF-8", "detected", f"MapInfo 表{what}，文字都是有效的 UTF-8（或只有 ASCII）", None)
    if _decodes(main, "GB18030"):
        return ShapefileEncoding(
            "GB18030", "detected", f"MapInfo 表{what}，文字不是有效的 UTF-8，但都能按 GB18030（兼容 GBK）解码", None
        )
    raise MapInfoEncodingError(
        "encoding_unknown",
        f"MapInfo 表{what}，其中的文字既不是 UTF-8 也不能按 GB18030/GBK 解码：请用 --encoding 指定编码（例如 GBK、BIG5）。",
    )


def _decodes(main: Path, encoding: str) -> bool:
    """Whether the definition and the attributes decode as ``encoding``."""
    with open(main, "rb") as f:
        head = f.read(_HEADER_BYTES)
    if main.suffix.lower() == ".tab":
        definition = head
        dat = find_sidecar(main, ".dat")
        data = dat.read_bytes() if dat else b""
        attributes_ok = not data or dbf_decodes(data, encoding)
    else:
        data_at = head.lower().find(b"\ndata")
        definition = head if data_at < 0 else head[:data_at]
        mid = find_sidecar(main, ".mid")
        sample = b""
        if mid:
            with open(mid, "rb") as f:
                sample = f.read(_SAMPLE_BYTES)
        attributes_ok = _text_decodes(sample, encoding)
    return _text_decodes(definition, encoding) and attributes_ok


def _text_decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        return exc.start >= len(data) - 3  # a character cut by the sample's end
    return True
