"""A kept ``LeafIndex`` (``save`` / ``load``): the same answers as the index it was saved from, and
nothing at all from a file of another key or format version, or one cut short or altered."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import shapely

from gridmap.coverage import assign
from gridmap.coverage.assign import LeafIndex


@pytest.fixture(scope="module")
def built() -> LeafIndex:
    # 6×5 unit squares with one overlapping square of a larger code and one hole: boundaries,
    # overlaps, holes and outside.
    codes, geoms = [], []
    for i in range(6):
        for j in range(5):
            codes.append(f"4116280{i}{j}")
            geoms.append(shapely.box(114 + i, 33 + j, 115 + i, 34 + j))
    codes.append("411628999")
    geoms.append(shapely.box(114.5, 33.5, 116.5, 35.5))
    geoms[7] = shapely.Polygon(geoms[7].exterior.coords, [[(115.2, 35.2), (115.8, 35.2), (115.8, 35.8)]])
    return LeafIndex.build(codes, geoms)


def points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    grid = np.arange(113.5, 121, 0.25)
    x = np.concatenate([rng.uniform(113, 121, 20_000), np.repeat(grid, 30), [np.nan]])
    y = np.concatenate([rng.uniform(32, 39, 20_000), np.tile(np.arange(32.5, 40, 0.25), grid.size), [34.0]])
    return x, y


def test_a_loaded_index_answers_like_the_built_one(built, tmp_path) -> None:
    path = tmp_path / "one.leafidx"
    built.save(path, "db|411628|1,2,3")
    kept = LeafIndex.load(path, "db|411628|1,2,3")
    assert kept is not None
    assert list(kept.codes) == list(built.codes)
    assert shapely.equals_exact(kept.geoms, built.geoms, tolerance=0).all()
    assert (kept.x0, kept.y0, kept.cell) == (built.x0, built.y0, built.cell)
    for name in ("labels", "cand_ptr", "cand_idx"):
        assert np.array_equal(getattr(kept, name), getattr(built, name))
    assert not kept.labels.flags.writeable  # a view of the mapped file, not a copy
    x, y = points()
    assert np.array_equal(kept.assign(x, y), built.assign(x, y))
    assert list(kept.assign_codes(x[:50], y[:50])) == list(built.assign_codes(x[:50], y[:50]))


def test_an_empty_index_is_kept_too(tmp_path) -> None:
    LeafIndex.build([], []).save(tmp_path / "empty.leafidx", "k")
    kept = LeafIndex.load(tmp_path / "empty.leafidx", "k")
    assert kept is not None and kept.codes.size == 0
    assert kept.assign(np.array([114.0]), np.array([33.0])).tolist() == [assign.OUTSIDE]


def test_a_file_of_another_key_is_not_used(built, tmp_path) -> None:
    built.save(tmp_path / "k.leafidx", "db|411628|1,2,3")
    assert LeafIndex.load(tmp_path / "k.leafidx", "db|411628|1,2,4") is None
    assert LeafIndex.load(tmp_path / "missing.leafidx", "db|411628|1,2,3") is None


def test_a_file_of_another_format_version_is_not_used(built, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(assign, "KEPT_FORMAT", assign.KEPT_FORMAT + 1)
    built.save(tmp_path / "next.leafidx", "k")
    monkeypatch.undo()
    assert LeafIndex.load(tmp_path / "next.leafidx", "k") is None


def _damaged(data: bytes, how: str) -> bytes:
    (length,) = struct.unpack_from("<I", data, 16)
    start = -(-(20 + length) // 64) * 64
    if how == "empty":
        return b""
    if how == "garbage":
        return bytes(np.random.default_rng(1).integers(0, 256, len(data), dtype=np.uint8))
    if how == "cut":
        return data[: len(data) // 2]
    if how == "header cut":
        return data[: 20 + length // 2]
    if how == "header not json":
        return data[:20] + b"{" * length + data[20 + length :]
    if how == "one bit of the raster":
        i = start + 8  # in the labels, the first array
        return data[:i] + bytes([data[i] ^ 1]) + data[i + 1 :]
    if how == "one bit of the last polygon":
        header = json.loads(data[20 : 20 + length])
        wkb = next(a for a in header["arrays"] if a["name"] == "wkb")
        i = start + wkb["offset"] + wkb["shape"][0] - 3  # in the last coordinate
        return data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1 :]
    if how == "appended":
        return data + b"\0" * 64
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "empty",
        "garbage",
        "cut",
        "header cut",
        "header not json",
        "one bit of the raster",
        "one bit of the last polygon",
        "appended",
    ],
)
def test_a_damaged_file_is_not_used(built, tmp_path, how) -> None:
    path = tmp_path / "k.leafidx"
    built.save(path, "k")
    path.write_bytes(_damaged(path.read_bytes(), how))
    assert LeafIndex.load(path, "k") is None


def test_saving_replaces_a_file_whole(built, tmp_path) -> None:
    path = tmp_path / "k.leafidx"
    path.write_bytes(b"old and broken")
    built.save(path, "k")
    assert LeafIndex.load(path, "k") is not None
    assert [p.name for p in tmp_path.iterdir()] == ["k.leafidx"]  # no temporary file left
