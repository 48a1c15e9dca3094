"""The camera write path keeps its leaf index per boundary state (``services.cameras.leaf_index``):
reused while the boundaries stay, never after a publish changed them. Real PostGIS, the real
publish and import code paths."""

from __future__ import annotations

import pytest
import shapely
from boundary_files import write_gpkg
from conftest import loaded_database
from sqlalchemy import text

from gridmap.services.boundaries import publish_file
from gridmap.services.cameras import import_cameras, leaf_index

HEADER = (
    "设备编码,设备名称,所属乡镇,所属村(社区),所属网格,点位类型,经度,纬度,监控方向,安装状态,在线状态,运营商,安装日期"
)


@pytest.fixture(scope="module")
def engine():
    _url, eng = loaded_database("gridmap_test_leaf_index")
    yield eng
    eng.dispose()


def camera_file(path, device_id: str, grid: str, lon: float, lat: float):
    path.write_text(
        f"{HEADER}\n{device_id},测试点位,真源街道,振兴社区,{grid},路口,{lon:.9f},{lat:.9f},南,已安装,在线,中国移动,2024-01-01\n",
        encoding="utf-8",
    )
    return path


def area_of(engine, device_id: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(text("SELECT area_code FROM camera WHERE device_id = :d"), {"d": device_id}).scalar_one()


def test_the_index_is_reused_until_a_publish_and_cameras_land_in_the_new_areas(engine, township, tmp_path):
    # Two micro-grids of one grid; a point well inside the first.
    leaves = township[township["level"] == 4].sort_values("code")
    grid = leaves["parent_code"].value_counts().index[0]
    a, b = leaves.loc[leaves["parent_code"] == grid, "code"].iloc[:2]
    inside = township.loc[township["code"] == a].to_crs(4490).geometry.iloc[0].representative_point()
    lon, lat = inside.x, inside.y

    with engine.connect() as conn:
        first = leaf_index(conn)
        assert leaf_index(conn) is first  # the same boundaries: not rebuilt
        assert first.assign_codes([lon], [lat])[0] == a
    import_cameras(engine, camera_file(tmp_path / "one.csv", "41162800011318999901", grid, lon, lat), created_by="t")
    assert area_of(engine, "41162800011318999901") == a

    # Publish the township with the two micro-grids' codes swapped: the point now lies in b.
    changed = township.copy()
    rows_a, rows_b = changed["code"] == a, changed["code"] == b
    changed.loc[rows_a, "code"], changed.loc[rows_b, "code"] = b, a
    publish_file(engine, write_gpkg(changed, tmp_path / "swapped.gpkg"), by="test")

    with engine.connect() as conn:
        after = leaf_index(conn)
        assert after is not first
        assert after.assign_codes([lon], [lat])[0] == b
        assert leaf_index(conn) is after
    import_cameras(engine, camera_file(tmp_path / "two.csv", "41162800011318999902", grid, lon, lat), created_by="t")
    assert area_of(engine, "41162800011318999902") == b
    assert area_of(engine, "41162800011318999901") == b  # moved by the publish itself


def test_another_database_with_the_same_rows_gets_its_own_index(engine):
    _url, other = loaded_database("gridmap_test_leaf_index_other")
    try:
        with engine.connect() as c1, other.connect() as c2:
            assert leaf_index(c1) is not leaf_index(c2)
            assert shapely.get_num_geometries(leaf_index(c2).geoms).sum() > 0
    finally:
        other.dispose()


def test_an_import_builds_the_index_of_its_own_county_only(engine):
    """The CRS check's index covers the county the import goes to, not the whole database."""
    from gridmap.db.cameras import leaf_areas
    from gridmap.services.cameras import leaf_index

    with engine.connect() as conn:
        town = "411628001"
        codes, _ = leaf_areas(conn, town)
        assert len(codes) and all(c.startswith(town) for c in codes)
        assert len(codes) < len(leaf_areas(conn)[0])
        assert leaf_index(conn, town) is leaf_index(conn, town)
        assert leaf_index(conn, town) is not leaf_index(conn, "411628")
