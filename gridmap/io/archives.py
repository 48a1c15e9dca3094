"""Archives read from uploads (zipped shapefiles, KMZ, XLSX workbooks) are checked from their
central directory before anything is extracted: how many members, how many bytes they unpack to in
all, and how much each one expands. A zip bomb (a few MB that unpack to GB) is refused at once,
with a stable code and a Chinese message saying the limit and how to split the file, instead of
filling the disk or the server's memory first.

Reading a member never yields more than the size the directory declares (``zipfile`` stops there),
so checking the declared sizes bounds the work.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass

from gridmap.config import Settings, get_settings
from gridmap.errors import GridmapError

MB = 1024 * 1024
#: A member smaller than this is never refused for its ratio (tiny files compress oddly).
RATIO_FLOOR_BYTES = 1 * MB


class ArchiveRefused(GridmapError):
    """An archive beyond the limits (``archive_too_many_members``, ``archive_too_large``,
    ``archive_ratio``): 413 with what the limit is."""

    status = 413


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds of one archive: members, bytes unpacked in all, expansion ratio of one member (the
    defaults live in the settings: ``GRIDMAP_MAX_ARCHIVE_MEMBERS``, ``_MAX_UNZIPPED_MB``, ``_MAX_ZIP_RATIO``)."""

    max_members: int
    max_unpacked_bytes: int
    max_ratio: float

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ArchiveLimits:
        s = settings or get_settings()
        return cls(s.max_archive_members, int(s.max_unzipped_mb * MB), s.max_zip_ratio)


def check_archive(archive: zipfile.ZipFile, name: str, limits: ArchiveLimits | None = None) -> None:
    """Refuse ``archive`` (file ``name``) when its central directory exceeds ``limits`` (default:
    the settings'); reads nothing but the directory."""
    limits = limits or ArchiveLimits.from_settings()
    infos = [i for i in archive.infolist() if not i.is_dir()]
    if len(infos) > limits.max_members:
        raise ArchiveRefused(
            "archive_too_many_members",
            f"压缩包“{name}”中有 {len(infos):,} 个文件，超过上限 {limits.max_members:,} 个："
            "请只压缩需要上传的文件，或分成几个压缩包上传。",
            {"members": len(infos), "max_members": limits.max_members},
        )
    total = sum(i.file_size for i in infos)
    if total > limits.max_unpacked_bytes:
        raise ArchiveRefused(
            "archive_too_large",
            f"压缩包“{name}”解压后共 {total / MB:,.0f} MB，超过上限 {limits.max_unpacked_bytes / MB:,.0f} MB："
            "请按乡镇拆分后分批上传（或请管理员调整 GRIDMAP_MAX_UNZIPPED_MB）。",
            {"unpacked_mb": round(total / MB, 1), "max_unpacked_mb": round(limits.max_unpacked_bytes / MB, 1)},
        )
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= RATIO_FLOOR_BYTES and ratio > limits.max_ratio:
            raise ArchiveRefused(
                "archive_ratio",
                f"压缩包“{name}”中的“{info.filename}”压缩比为 {ratio:,.0f} 倍（{info.compress_size / MB:,.1f} MB 解压为 "
                f"{info.file_size / MB:,.0f} MB），超过上限 {limits.max_ratio:,.0f} 倍，疑似“压缩炸弹”，未解压："
                "请检查文件，或直接上传未压缩的文件。",
                {"member": info.filename, "ratio": round(ratio, 1), "max_ratio": limits.max_ratio},
            )
