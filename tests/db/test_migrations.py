"""Alembic migrations against a real PostGIS: up, down, up again, and no drift from the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import fresh_database
from sqlalchemy import create_engine, inspect, text

from gridmap.db import migrate
from gridmap.db.models import Base

OUR_TABLES = {
    "area",
    "area_label",
    "area_version",
    "boundary_version",
    "camera",
    "camera_import",
    "coverage_snapshot",
    "api_token",
    "data_revision",
    "data_change",
    "area_stats",
    "area_operator_stats",
    "upload",
    "tile_area",
    "tile_camera",
    "area_feature_id",
    "region_outline",
}
GIST_INDEXES = {
    "ix_area_geom",
    "ix_camera_geom",
    "ix_tile_camera_geom",
    "ix_area_label_geom",
    "ix_region_outline_geom",
    *(f"ix_tile_area_geom_l{lv}" for lv in range(5)),
}


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"spatial_ref_sys", "alembic_version"}
    finally:
        engine.dispose()


def _gist_indexes(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(
                conn.execute(
                    text(
                        "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexdef LIKE '%USING gist%'"
                    )
                ).scalars()
            )
    finally:
        engine.dispose()


def _owners(url: str) -> tuple[str, bool, set[str]]:
    """The role ``url`` logs in as, whether it is a superuser, and the owners of our tables."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            role, superuser = conn.execute(
                text("SELECT rolname, rolsuper FROM pg_roles WHERE rolname = current_user")
            ).one()
            owners = conn.execute(
                text("SELECT DISTINCT tableowner FROM pg_tables WHERE tablename = ANY(:t)"),
                {"t": [*OUR_TABLES, "alembic_version"]},
            ).scalars()
            return role, superuser, set(owners)
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade():
    url = fresh_database("gridmap_test_migrations")
    migrate.upgrade(url)
    assert _tables(url) == OUR_TABLES
    role, superuser, owners = _owners(url)
    assert not superuser and owners == {role}  # the service's role ran them: it owns every table
    assert _gist_indexes(url) == GIST_INDEXES
    assert migrate.current_revision(url) == migrate.head_revision()

    migrate.downgrade(url, "base")
    assert _tables(url) == set()
    assert migrate.current_revision(url) is None

    migrate.upgrade(url)
    assert _tables(url) == OUR_TABLES
    migrate.upgrade(url)  # idempotent
    assert migrate.current_revision(url) == migrate.head_revision()


def test_models_and_migrations_agree(db_url):
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": _ours})
            assert compare_metadata(ctx, Base.metadata) == []
    finally:
        engine.dispose()


def _ours(obj, name, type_, reflected, compare_to):
    from geoalchemy2 import alembic_helpers

    if type_ == "table" and reflected and compare_to is None:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


_LABEL_ROWS = "SELECT code, name, short_name, level, ST_AsText(geom), radius_m FROM area_label ORDER BY code"


def test_upgrading_a_database_with_data_fills_the_figures_and_tiles(data_dir):
    """A county loaded before migrations 0004–0006 gets its figures and tile rows on upgrade: the
    migrations' own (frozen) SQL gives exactly what the application computes."""
    from gridmap.coverage.table import differences
    from gridmap.db.labels import label_differences
    from gridmap.sample.load import load_sample
    from gridmap.tiles.store import tile_differences

    url = fresh_database("gridmap_test_migrate_data")
    migrate.upgrade(url)
    engine = create_engine(url)
    load_sample(engine, data_dir)
    with engine.connect() as conn:
        stats = conn.execute(text("SELECT * FROM area_stats ORDER BY code")).all()
        operators = conn.execute(text("SELECT * FROM area_operator_stats ORDER BY code, operator")).all()
        tiles = conn.execute(text("SELECT count(*), count(DISTINCT area_id) FROM tile_area")).one()
        fids = conn.execute(text("SELECT DISTINCT code, fid FROM tile_area ORDER BY code")).all()
        camera_fids = conn.execute(text("SELECT device_id, fid FROM tile_camera ORDER BY device_id")).all()
        labels = conn.execute(text(_LABEL_ROWS)).all()
    migrate.downgrade(url, "0003")
    migrate.upgrade(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT * FROM area_stats ORDER BY code")).all() == stats
        assert conn.execute(text("SELECT * FROM area_operator_stats ORDER BY code, operator")).all() == operators
        assert conn.execute(text("SELECT count(*), count(DISTINCT area_id) FROM tile_area")).one() == tiles
        assert differences(conn) == []
        # 0007 gives the feature ids the write path gives: one per code, in code order, below 2^53.
        assert conn.execute(text("SELECT DISTINCT code, fid FROM tile_area ORDER BY code")).all() == fids
        assert conn.execute(text("SELECT device_id, fid FROM tile_camera ORDER BY device_id")).all() == camera_fids
        assert tile_differences(conn) == []
        # 0008 places the names where the write path places them.
        assert conn.execute(text(_LABEL_ROWS)).all() == labels
        assert label_differences(conn) == []
    assert len(labels) == 12195 and all(r.radius_m > 0 for r in labels)
    assert len(fids) == 12195 and len({f for _, f in fids}) == 12195 and max(f for _, f in fids) < 2**53
    assert [c for c, _ in sorted(fids, key=lambda r: r[1])] == sorted(c for c, _ in fids)
    assert tiles[0] > 0 and len(stats) == 12195 + 2 and len(operators) > 0  # and 周口市, 河南省
    engine.dispose()
