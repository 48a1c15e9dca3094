"""Every write bumps the data revision and moves area_stats in its own transaction; failed or
empty writes change neither. Real PostGIS, the real publish / import / status code paths."""

from __future__ import annotations

import datetime as dt

import pytest
import shapely
from boundary_files import write_gpkg
from conftest import DATA_DIR, loaded_database
from planting import plant_overlap
from sqlalchemy import text

from gridmap.coverage.table import differences
from gridmap.db.revisions import current_revision
from gridmap.sample.files import CAMERAS_CSV
from gridmap.services.boundaries import PublishRefused, publish_file
from gridmap.services.cameras import apply_status_reports, import_cameras


@pytest.fixture(scope="module")
def engine():
    _url, eng = loaded_database("gridmap_test_revision")
    yield eng
    eng.dispose()


def revision(engine) -> int:
    with engine.connect() as conn:
        return current_revision(conn)


def last_change(engine) -> tuple[str, shapely.Geometry | None, shapely.Geometry | None, list[str] | None]:
    """(kind, extent, camera points, area codes) of the newest change."""
    with engine.connect() as conn:
        kind, extent, points, codes = conn.execute(
            text(
                "SELECT kind, ST_AsText(extent), ST_AsText(points), codes FROM data_change "
                "ORDER BY revision DESC LIMIT 1"
            )
        ).one()
    return kind, *(None if wkt is None else shapely.from_wkt(wkt) for wkt in (extent, points)), codes


def stats_match_coverage(engine) -> None:
    with engine.connect() as conn:
        assert differences(conn) == []


def test_sample_load_fills_area_stats_with_the_county_figures(engine):
    stats_match_coverage(engine)
    with engine.connect() as conn:
        county = conn.execute(text("SELECT planned, installed, online FROM area_stats WHERE code = '411628'")).one()
    assert tuple(county) == (10520, 10048, 9896)
    assert last_change(engine) == ("sample_load", None, None, None)


def test_re_importing_an_unchanged_register_does_not_bump_the_revision(engine):
    before = revision(engine)
    result = import_cameras(engine, DATA_DIR / CAMERAS_CSV, created_by="test")
    assert result.counts.inserted == 0 and result.counts.updated == 0
    assert revision(engine) == before


def test_a_status_report_bumps_the_revision_with_the_cameras_extent(engine):
    with engine.connect() as conn:
        cams = conn.execute(
            text("""SELECT device_id, ST_X(geom) AS x, ST_Y(geom) AS y FROM camera
                                    WHERE online ORDER BY device_id LIMIT 3""")
        ).all()
        county_online = conn.execute(text("SELECT online FROM area_stats WHERE code = '411628'")).scalar_one()
    before = revision(engine)
    at = dt.datetime.now(dt.UTC).isoformat()
    result = apply_status_reports(engine, [{"device_id": c.device_id, "online": False, "at": at} for c in cams])
    assert result.applied == 3
    assert revision(engine) == before + 1
    kind, extent, points, codes = last_change(engine)
    assert kind == "status" and extent is None  # no boundary changed
    # The cameras' own points, and the areas whose figures moved: their leaves and every ancestor.
    assert {(p.x, p.y) for p in points.geoms} == {(c.x, c.y) for c in cams}  # where they were and are
    with engine.connect() as conn:
        leaves = set(
            conn.execute(
                text("SELECT area_code FROM camera WHERE device_id = ANY(:ids)"), {"ids": [c.device_id for c in cams]}
            ).scalars()
        )
    assert leaves <= set(codes) and "411628" in codes
    assert all(any(leaf.startswith(code) for leaf in leaves) for code in codes)
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT online FROM area_stats WHERE code = '411628'")).scalar_one() == county_online - 3
        )
    stats_match_coverage(engine)

    # The same reports again are stale: nothing changes, the revision stays.
    again = apply_status_reports(engine, [{"device_id": c.device_id, "online": False, "at": at} for c in cams])
    assert again.applied == 0 and revision(engine) == before + 1


def test_a_refused_publish_changes_neither_revision_nor_stats(engine, township, tmp_path):
    before = revision(engine)
    with engine.connect() as conn:
        stats_before = conn.execute(text("SELECT * FROM area_stats ORDER BY code")).all()
    gdf = township.copy()
    plant_overlap(gdf, set())
    with pytest.raises(PublishRefused) as refused:
        publish_file(engine, write_gpkg(gdf, tmp_path / "bad.gpkg"), by="test")
    assert refused.value.code == "validation_failed"
    assert revision(engine) == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT * FROM area_stats ORDER BY code")).all() == stats_before


def test_a_publish_bumps_the_revision_with_the_township_extent(engine, township, tmp_path):
    before = revision(engine)
    gdf = township.copy()
    gdf.loc[gdf["level"] == 4, "households"] = 7
    result = publish_file(engine, write_gpkg(gdf, tmp_path / "township.gpkg"), by="test")
    assert revision(engine) == before + 1
    kind, extent, _points, _codes = last_change(engine)
    assert kind == "publish"
    outline = township.to_crs(4490).loc[township["level"] == 1].geometry.iloc[0]
    assert extent.bounds == pytest.approx(outline.bounds, abs=1e-6)
    with engine.connect() as conn:
        hh = (
            conn.execute(
                text("SELECT DISTINCT households FROM area_stats WHERE level = 4 AND code LIKE :c"),
                {"c": result.scope.root + "%"},
            )
            .scalars()
            .all()
        )
    assert hh == [7]
    stats_match_coverage(engine)
