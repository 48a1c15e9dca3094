"""Vector tiles: precomputed tile geometry (tile_area per area and zoom, tile_camera).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tile_area",
        sa.Column("area_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("z", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("fid", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("area_m2", sa.Float(), nullable=True),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.Column("installed", sa.Integer(), nullable=False),
        sa.Column("online", sa.Integer(), nullable=False),
        sa.Column("rollout_rate", sa.Float(), nullable=True),
        sa.Column("online_rate", sa.Float(), nullable=True),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.Column("geom", Geometry("GEOMETRY", spatial_index=False), nullable=False),
        sa.Column("x_min", sa.Float(), nullable=False),
        sa.Column("y_min", sa.Float(), nullable=False),
        sa.Column("x_max", sa.Float(), nullable=False),
        sa.Column("y_max", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("area_id", "z"),
    )
    for level in range(5):
        op.create_index(
            f"ix_tile_area_geom_l{level}",
            "tile_area",
            ["geom"],
            postgresql_using="gist",
            postgresql_where=sa.text(f"level = {level}"),
        )
    op.create_table(
        "tile_camera",
        sa.Column("device_id", sa.String(length=20), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("operator", sa.Text(), nullable=True),
        sa.Column("area_code", sa.Text(), nullable=True),
        sa.Column("geom", Geometry("POINT", srid=3857, spatial_index=False), nullable=False),
        sa.PrimaryKeyConstraint("device_id"),
    )
    op.create_index("ix_tile_camera_geom", "tile_camera", ["geom"], postgresql_using="gist")
    # Existing data gets its tile rows now. Frozen SQL: the tile rows as the application built them
    # when 0005 was written (a migration must not call code that keeps changing).
    op.execute("SET LOCAL jit = off")
    op.execute(_BUILD_AREA_ROWS)
    op.execute(_BUILD_CAMERA_ROWS)


# Each area at each zoom from its level's minzoom (0, 8, 10, 11, 12) to 16: ST_AsMVTGeom over the whole
# EPSG:3857 world (half width 20037508.342789244 m) at 4096·2^z units, flipped to y up.
_BUILD_AREA_ROWS = """
    WITH a AS MATERIALIZED (
        SELECT a.id, a.level, a.code, a.name, a.area_m2, ST_Transform(a.geom, 3857) AS geom FROM area a
    )
    INSERT INTO tile_area (area_id, z, level, code, fid, name, area_m2, planned, installed, online,
                           rollout_rate, online_rate, households, geom, x_min, y_min, x_max, y_max)
    SELECT a.id, zz.z, a.level, a.code,
           CASE WHEN length(a.code) <= 18 THEN CAST(a.code AS bigint) END,
           a.name, a.area_m2,
           coalesce(s.planned, 0), coalesce(s.installed, 0), coalesce(s.online, 0),
           s.rollout_rate, s.online_rate, s.households, g.geom,
           ST_XMin(g.box), ST_YMin(g.box), ST_XMax(g.box), ST_YMax(g.box)
    FROM a
    LEFT JOIN area_stats s ON s.code = a.code
    CROSS JOIN LATERAL generate_series((ARRAY[0, 8, 10, 11, 12])[a.level + 1], 16) AS zz(z)
    CROSS JOIN LATERAL (
        SELECT ST_Affine(ST_AsMVTGeom(a.geom, ST_MakeBox2D(ST_Point(-20037508.342789244, -20037508.342789244),
                                                           ST_Point(20037508.342789244, 20037508.342789244)),
                                      4096 << zz.z, 0, false),
                         1, 0, 0, -1, 0, CAST(4096 << zz.z AS float8)) AS geom
        OFFSET 0
    ) m
    CROSS JOIN LATERAL (SELECT m.geom, CAST(m.geom AS box3d) AS box OFFSET 0) g
    WHERE g.geom IS NOT NULL
"""
_BUILD_CAMERA_ROWS = """
    INSERT INTO tile_camera (device_id, name, status, online, operator, area_code, geom)
    SELECT device_id, name, status, online, operator, area_code, ST_Transform(geom, 3857) FROM camera
    WHERE status <> 'removed' AND geom IS NOT NULL
"""


def downgrade() -> None:
    op.drop_index("ix_tile_camera_geom", table_name="tile_camera")
    op.drop_table("tile_camera")
    for level in range(5):
        op.drop_index(f"ix_tile_area_geom_l{level}", table_name="tile_area")
    op.drop_table("tile_area")
