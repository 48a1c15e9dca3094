"""Archives are checked from their directory before anything is unpacked: a zip bomb (shapefile
zip, KMZ, XLSX) is refused at once with its code, nothing is extracted, and the limits are settings."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import pytest

from gridmap.io.archives import ArchiveRefused
from gridmap.io.boundaries import read_boundary_file
from gridmap.io.tables import xlsx_sheets
from gridmap.sample.files import SHAPEFILE_ZIP

BOMB_MB = 40  # deflates to ~40 KB: a ratio of ~1,000


def _bomb(path: Path, members: dict[str, int]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, size in members.items():
            zf.writestr(name, b"\0" * size if size else b"x")
    return path


def _leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("gridmap-read-*")}


@pytest.mark.parametrize(
    ("name", "members"),
    [
        ("网格.zip", {"网格.shp": 0, "网格.shx": 0, "网格.dbf": BOMB_MB << 20}),
        ("网格.kmz", {"doc.kml": BOMB_MB << 20}),
    ],
)
def test_a_zip_bomb_is_refused_from_its_directory_before_unpacking(tmp_path, name, members, monkeypatch):
    bomb = _bomb(tmp_path / name, members)
    before = _leftovers()
    opened: list[str] = []  # members read: none may be, the directory says enough
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(
        zipfile.ZipFile, "open", lambda self, m, *a, **k: opened.append(str(m)) or real_open(self, m, *a, **k)
    )
    with pytest.raises(ArchiveRefused) as refused:
        read_boundary_file(bomb)
    assert opened == []  # no 40 MB was inflated to find out
    assert refused.value.code == "archive_ratio" and refused.value.http_status == 413
    assert refused.value.detail["ratio"] > 200 and "压缩炸弹" in refused.value.message
    assert _leftovers() == before  # nothing left in the temp directory


def test_an_xlsx_bomb_is_refused_before_openpyxl_reads_it(tmp_path):
    bomb = _bomb(tmp_path / "台账.xlsx", {"[Content_Types].xml": 0, "xl/worksheets/sheet1.xml": BOMB_MB << 20})
    with pytest.raises(ArchiveRefused) as refused:
        xlsx_sheets(bomb)
    assert refused.value.code == "archive_ratio"
    with pytest.raises(ArchiveRefused):
        xlsx_sheets(bomb.read_bytes())


def test_the_limits_are_settings(data_dir, monkeypatch):
    sample = data_dir / SHAPEFILE_ZIP
    monkeypatch.setenv("GRIDMAP_MAX_ARCHIVE_MEMBERS", "3")
    with pytest.raises(ArchiveRefused) as refused:
        read_boundary_file(sample)
    assert refused.value.code == "archive_too_many_members" and "3" in refused.value.message
    monkeypatch.delenv("GRIDMAP_MAX_ARCHIVE_MEMBERS")
    monkeypatch.setenv("GRIDMAP_MAX_UNZIPPED_MB", "0.5")
    with pytest.raises(ArchiveRefused) as refused:
        read_boundary_file(sample)
    assert refused.value.code == "archive_too_large" and "GRIDMAP_MAX_UNZIPPED_MB" in refused.value.message
    monkeypatch.delenv("GRIDMAP_MAX_UNZIPPED_MB")
    assert len(read_boundary_file(sample).areas) > 10_000  # within the defaults: the sample reads as ever
