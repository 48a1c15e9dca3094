"""Initial schema: areas, boundary versions, cameras, coverage snapshots, API tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_prefix", sa.String(length=12), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('viewer', 'editor', 'admin', 'embed')", name="ck_api_token_role"),
        sa.CheckConstraint("scope IS NULL OR scope ~ '^[0-9]+$'", name="ck_api_token_scope"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "boundary_version",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.Column("root_code", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("feature_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('validated', 'published', 'rejected', 'superseded', 'rolled_back')",
            name="ck_boundary_version_status",
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_boundary_version_root_code", "boundary_version", ["root_code"], unique=False)
    op.create_geospatial_table(
        "camera",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("device_id", sa.String(length=20), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4490,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("raw_x", sa.Double(), nullable=True),
        sa.Column("raw_y", sa.Double(), nullable=True),
        sa.Column("raw_crs", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("online", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("operator", sa.Text(), nullable=True),
        sa.Column("installed_on", sa.Date(), nullable=True),
        sa.Column("direction", sa.Text(), nullable=True),
        sa.Column("place_type", sa.Text(), nullable=True),
        sa.Column("area_code", sa.Text(), nullable=True),
        sa.Column("attrs", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("NOT online OR status = 'installed'", name="ck_camera_online_installed"),
        sa.CheckConstraint("device_id ~ '^[0-9]{20}$'", name="ck_camera_device_id"),
        sa.CheckConstraint("status IN ('planned', 'installed', 'removed')", name="ck_camera_status"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("device_id"),
    )
    op.create_index("ix_camera_area_code", "camera", ["area_code"], unique=False)
    op.create_geospatial_index(
        "ix_camera_geom", "camera", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index("ix_camera_status", "camera", ["status"], unique=False)
    op.create_table(
        "coverage_snapshot",
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("area_code", sa.Text(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.Column("installed", sa.Integer(), nullable=False),
        sa.Column("online", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("installed <= planned AND online <= installed", name="ck_coverage_snapshot_counts"),
        sa.PrimaryKeyConstraint("snapshot_date", "area_code"),
    )
    op.create_index("ix_coverage_snapshot_area_code", "coverage_snapshot", ["area_code", "snapshot_date"], unique=False)
    op.create_geospatial_table(
        "area",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("parent_code", sa.Text(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=True),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("worker_name", sa.Text(), nullable=True),
        sa.Column("worker_phone", sa.Text(), nullable=True),
        sa.Column("attrs", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4490,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("version_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("code ~ '^[0-9]+$'", name="ck_area_code_digits"),
        sa.CheckConstraint("ST_IsValid(geom)", name="ck_area_geom_valid"),
        sa.CheckConstraint("households IS NULL OR households >= 0", name="ck_area_households"),
        sa.CheckConstraint("level BETWEEN 0 AND 4", name="ck_area_level"),
        sa.ForeignKeyConstraint(
            ["parent_code"], ["area.code"], name="fk_area_parent_code", initially="DEFERRED", deferrable=True
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["boundary_version.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_geospatial_index(
        "ix_area_geom", "area", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index("ix_area_level", "area", ["level"], unique=False)
    op.create_index("ix_area_parent_code", "area", ["parent_code"], unique=False)
    op.create_geospatial_table(
        "area_version",
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("parent_code", sa.Text(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=True),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("worker_name", sa.Text(), nullable=True),
        sa.Column("worker_phone", sa.Text(), nullable=True),
        sa.Column("attrs", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4490,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["version_id"], ["boundary_version.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("version_id", "code"),
    )


def downgrade() -> None:
    op.drop_geospatial_table("area_version")
    op.drop_index("ix_area_parent_code", table_name="area")
    op.drop_index("ix_area_level", table_name="area")
    op.drop_geospatial_index("ix_area_geom", table_name="area", postgresql_using="gist", column_name="geom")
    op.drop_geospatial_table("area")
    op.drop_index("ix_coverage_snapshot_area_code", table_name="coverage_snapshot")
    op.drop_table("coverage_snapshot")
    op.drop_index("ix_camera_status", table_name="camera")
    op.drop_geospatial_index("ix_camera_geom", table_name="camera", postgresql_using="gist", column_name="geom")
    op.drop_index("ix_camera_area_code", table_name="camera")
    op.drop_geospatial_table("camera")
    op.drop_index("ix_boundary_version_root_code", table_name="boundary_version")
    op.drop_table("boundary_version")
    op.drop_table("api_token")
