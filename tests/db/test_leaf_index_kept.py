"""The camera write path keeps its leaf index in a file per boundary state
(``services.cameras.kept_leaf_index``, ``GRIDMAP_INDEX_DIR``): another process loads it instead of
building it, gets the same answers, and never uses a file of other boundaries or a damaged one.
Real PostGIS, the real publish code path."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from boundary_files import write_gpkg
from conftest import loaded_database

from gridmap.coverage.assign import LeafIndex
from gridmap.db.cameras import leaf_areas
from gridmap.services import cameras
from gridmap.services.boundaries import publish_file
from gridmap.services.cameras import kept_index_path, leaf_index


@pytest.fixture(scope="module")
def engine():
    _url, eng = loaded_database("gridmap_test_leaf_index_kept")
    yield eng
    eng.dispose()


@pytest.fixture
def index_dir(tmp_path, monkeypatch):
    """A fresh GRIDMAP_INDEX_DIR, and no index kept in memory: each call of ``leaf_index`` acts like
    the first one of a new process."""
    monkeypatch.setenv("GRIDMAP_INDEX_DIR", str(tmp_path / "indexes"))
    monkeypatch.setattr(cameras, "_LEAF_INDEXES", {})
    return tmp_path / "indexes"


def fresh(conn) -> LeafIndex:
    cameras._LEAF_INDEXES.clear()
    return leaf_index(conn)


def county_points(index: LeafIndex, n: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    minx, miny, maxx, maxy = shapely.total_bounds(index.geoms)
    rng = np.random.default_rng(5)
    return rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)


def test_the_kept_index_is_loaded_and_answers_like_a_fresh_build(engine, index_dir):
    with engine.connect() as conn:
        first = fresh(conn)  # built and written
        files = list(index_dir.glob("*.leafidx"))
        assert len(files) == 1
        assert first.labels.flags.writeable  # built here
        kept = fresh(conn)
        assert not kept.labels.flags.writeable  # loaded: a view of the file
        built = LeafIndex.build(*leaf_areas(conn))
    assert list(kept.codes) == list(built.codes)
    x, y = county_points(built)
    assert np.array_equal(kept.assign(x, y), built.assign(x, y))
    assert (kept.assign(x, y) >= 0).mean() > 0.5


def test_a_damaged_file_is_rebuilt_and_replaced(engine, index_dir):
    with engine.connect() as conn:
        built = fresh(conn)
        (path,) = index_dir.glob("*.leafidx")
        data = bytearray(path.read_bytes())
        data[len(data) // 3] ^= 0x01
        path.write_bytes(bytes(data))
        again = fresh(conn)
        assert again.labels.flags.writeable  # rebuilt, not read from the damaged file
        assert not fresh(conn).labels.flags.writeable  # the rewritten file is good
        path.write_bytes(b"")
        assert fresh(conn).labels.flags.writeable
    x, y = county_points(built)
    assert np.array_equal(again.assign(x, y), built.assign(x, y))


def test_an_unwritable_directory_only_costs_the_rebuild(engine, tmp_path, monkeypatch):
    blocker = tmp_path / "a file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("GRIDMAP_INDEX_DIR", str(blocker / "indexes"))
    monkeypatch.setattr(cameras, "_LEAF_INDEXES", {})
    with engine.connect() as conn:
        assert fresh(conn).codes.size > 10_000
        assert fresh(conn).labels.flags.writeable


def test_a_publish_makes_the_kept_file_stale_and_it_is_replaced(engine, index_dir, township, tmp_path):
    leaves = township[township["level"] == 4].sort_values("code")
    grid = leaves["parent_code"].value_counts().index[0]
    a, b = leaves.loc[leaves["parent_code"] == grid, "code"].iloc[:2]
    inside = township.loc[township["code"] == a].to_crs(4490).geometry.iloc[0].representative_point()
    with engine.connect() as conn:
        before = fresh(conn)
        assert before.assign_codes([inside.x], [inside.y])[0] == a
        (old_file,) = index_dir.glob("*.leafidx")

    changed = township.copy()
    rows_a, rows_b = changed["code"] == a, changed["code"] == b
    changed.loc[rows_a, "code"], changed.loc[rows_b, "code"] = b, a
    publish_file(engine, write_gpkg(changed, tmp_path / "swapped.gpkg"), by="test")

    with engine.connect() as conn:
        after = fresh(conn)  # another key: the old file is not even opened
        assert after.labels.flags.writeable
        assert after.assign_codes([inside.x], [inside.y])[0] == b
        (new_file,) = index_dir.glob("*.leafidx")  # the older state's file is gone
        assert new_file != old_file
        kept = fresh(conn)
        assert not kept.labels.flags.writeable
        assert kept.assign_codes([inside.x], [inside.y])[0] == b
        built = LeafIndex.build(*leaf_areas(conn))
    x, y = county_points(built)
    assert np.array_equal(kept.assign(x, y), built.assign(x, y))


def test_the_file_name_depends_on_the_database_prefix_and_state():
    key = ("postgresql+psycopg://u:***@h:5432/db", "411628", 16384, 12195, 1, 2, 3)
    assert kept_index_path(key) == kept_index_path(tuple(key))
    assert kept_index_path(key) != kept_index_path((*key[:-1], 4))
    assert kept_index_path(key).name.split("-")[0] == kept_index_path((*key[:-1], 4)).name.split("-")[0]
    assert kept_index_path(key).name.split("-")[0] != kept_index_path((key[0], None, *key[2:])).name.split("-")[0]
