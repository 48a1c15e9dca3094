"""Loading the sample into PostGIS: figures, camera assignment, and a failed load losing nothing."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from sqlalchemy import text

from gridmap.coverage.summary import summarize
from gridmap.db.areas import VersionInfo, replace_subtree
from gridmap.io.boundaries import read_areas
from gridmap.sample.files import CAMERAS_CSV, GPKG


def test_sample_load_gives_the_published_figures(loaded_engine):
    with loaded_engine.connect() as conn:
        s = summarize(conn)
    assert s.areas_per_level == {-2: 1, -1: 1, 0: 1, 1: 24, 2: 565, 3: 1294, 4: 10311}  # 河南省, 周口市, 鹿邑县…
    assert (s.planned, s.installed, s.online) == (10520, 10048, 9896)
    assert f"{s.rollout_rate:.2%}" == "95.51%" and f"{s.online_rate:.2%}" == "98.49%"
    assert s.cameras_unplaced == 0


def test_every_camera_is_assigned_to_the_micro_grid_of_its_stated_grid(loaded_engine, data_dir):
    with loaded_engine.connect() as conn:
        rows = pd.DataFrame(
            conn.execute(text("SELECT device_id, area_code FROM camera")).all(), columns=["device_id", "area_code"]
        )
    register = pd.read_csv(data_dir / CAMERAS_CSV, dtype=str, encoding="utf-8-sig")
    merged = register.merge(rows, left_on="设备编码", right_on="device_id")
    assert len(merged) == 10520
    assert (merged["area_code"].str[:15] == merged["所属网格"]).all()


def test_stored_geometry_equals_the_file(loaded_engine, data_dir):
    gpkg = read_areas(data_dir / GPKG, layer="township").set_index("code")
    stored = gpd.read_postgis("SELECT code, geom FROM area WHERE level = 1", loaded_engine, geom_col="geom")
    assert stored.crs.to_epsg() == 4490
    stored = stored.set_index("code").loc[gpkg.index]
    assert stored.geometry.geom_equals_exact(gpkg.geometry, tolerance=1e-12).all()


def test_reloading_is_idempotent(loaded_engine, data_dir):
    from gridmap.sample.load import load_sample

    load_sample(loaded_engine, data_dir)
    with loaded_engine.connect() as conn:
        s = summarize(conn)
        versions = conn.execute(
            text("SELECT status, count(*) FROM boundary_version GROUP BY status ORDER BY status")
        ).all()
    assert s.areas_per_level[4] == 10311 and (s.planned, s.installed, s.online) == (10520, 10048, 9896)
    assert dict(versions)["published"] == 1 and dict(versions)["superseded"] >= 1


def test_a_failing_replacement_leaves_the_live_data_unchanged(loaded_engine, data_dir):
    townships = read_areas(data_dir / GPKG, layer="township")
    broken = pd.concat([townships, townships.iloc[:1]], ignore_index=True)  # a duplicate code
    with loaded_engine.connect() as conn:
        before = conn.execute(
            text(
                "SELECT count(*), max(version_id), md5(string_agg(code || ST_AsEWKB(geom)::text, ',' ORDER BY code)) FROM area"
            )
        ).one()
    with pytest.raises(Exception, match="duplicate key"), loaded_engine.begin() as conn:
        replace_subtree(conn, "411628", gpd.GeoDataFrame(broken, crs=4490), VersionInfo(created_by="test"))
    with loaded_engine.connect() as conn:
        after = conn.execute(
            text(
                "SELECT count(*), max(version_id), md5(string_agg(code || ST_AsEWKB(geom)::text, ',' ORDER BY code)) FROM area"
            )
        ).one()
    assert after == before
