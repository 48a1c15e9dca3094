"""Shapefiles whose DBF header is corrupt: a real one written by GDAL, then bytes changed the ways
broken exports and interrupted copies change them."""

from __future__ import annotations

import shutil
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pyogrio
import shapely

Corruption = Callable[[bytearray], bytearray]


def write_grids_shapefile(folder: Path) -> Path:
    """Twenty grids written by GDAL (UTF-8, with .cpg and .prj) into ``folder`` (made, and
    holding nothing else); the .shp path."""
    folder.mkdir(parents=True, exist_ok=True)
    grids = gpd.GeoDataFrame(
        {
            "编码": [f"411628001001{k:03d}" for k in range(20)],
            "名称": [f"网格{k}" for k in range(20)],
            "户数": list(range(20)),
        },
        geometry=[shapely.box(115.5 + k * 0.01, 33.9, 115.505 + k * 0.01, 33.905) for k in range(20)],
        crs=4490,
    )
    pyogrio.write_dataframe(grids, folder / "网格.shp", encoding="UTF-8")
    return folder / "网格.shp"


def _set(offset: int, fmt: str, value: int) -> Corruption:
    def corrupt(data: bytearray) -> bytearray:
        struct.pack_into(fmt, data, offset, value)
        return data

    return corrupt


def _bytes(offset: int, raw: bytes) -> Corruption:
    def corrupt(data: bytearray) -> bytearray:
        data[offset : offset + len(raw)] = raw
        return data

    return corrupt


def _terminator_missing(data: bytearray) -> bytearray:
    header_length = struct.unpack_from("<H", data, 8)[0]
    data[header_length - 1] = 0x20
    return data


#: name → (corruption of the DBF bytes, a word the refusal's message holds). The header: bytes 4–7
#: record count, 8–9 header length, 10–11 record length; 32-byte field descriptors from byte 32
#: (name, type at +11, length at +16), ended by 0x0D.
CORRUPTIONS: dict[str, tuple[Corruption, str]] = {
    "header_length_beyond_the_file": (_set(8, "<H", 0xFFFF), "文件头长度"),
    "header_length_too_small": (_set(8, "<H", 33), "结束标记"),
    "terminator_missing": (_terminator_missing, "结束标记"),
    "record_count_huge": (_set(4, "<I", 0xFFFFFFF0), "4,294,967,280 条记录"),
    "record_length_zero": (_set(10, "<H", 0), "记录长度"),
    "record_length_huge": (_set(10, "<H", 0xFFFF), "65,535 字节"),
    "descriptors_garbage": (_bytes(32, bytes((k * 37 + 11) % 256 for k in range(96))), "字段"),
    "descriptors_zeroed": (_bytes(32, bytes(96)), "没有名称"),
    "field_length_zero": (_bytes(48, b"\x00"), "长度为 0"),
    "truncated": (lambda data: data[: len(data) // 2], "不完整"),
    "truncated_in_the_header": (lambda data: data[:40], "文件头长度"),
    "empty": (lambda data: bytearray(), "空的"),
}


def corrupt_copy(shp: Path, folder: Path, corruption: Corruption) -> Path:
    """The shapefile ``shp`` copied into ``folder`` with its DBF bytes passed through ``corruption``."""
    folder.mkdir()
    for part in shp.parent.iterdir():
        shutil.copyfile(part, folder / part.name)
    dbf = folder / f"{shp.stem}.dbf"
    dbf.write_bytes(bytes(corruption(bytearray(dbf.read_bytes()))))
    return folder / shp.name


def zipped(shp: Path, archive: Path) -> Path:
    """The parts of the shapefile ``shp`` zipped into ``archive``, as county staff upload them."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in sorted(shp.parent.iterdir()):
            if part.stem == shp.stem:
                zf.write(part, part.name)
    return archive
