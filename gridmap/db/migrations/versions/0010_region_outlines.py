"""Official outlines of regions (issue 17): ``region_outline`` holds the boundary a province (2-digit
code), city (4) or county (6) officially has, loaded by ``gridmap regions outline``, EPSG:4490.
Counties are checked against the outline of their city and province (gaps, parts outside).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "region_outline",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=4490, spatial_index=False), nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("code ~ '^([0-9]{2}|[0-9]{4}|[0-9]{6})$'", name="ck_region_outline_code"),
        sa.CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="ck_region_outline_geom"),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index("ix_region_outline_geom", "region_outline", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_index("ix_region_outline_geom", table_name="region_outline")
    op.drop_table("region_outline")
