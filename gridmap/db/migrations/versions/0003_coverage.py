"""Coverage: area sizes, camera status times, the camera import log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("area", "area_version"):
        op.add_column(table, sa.Column("area_m2", sa.Float(), nullable=True))
        # Areas written from now on are measured in the data's Gauss-Krüger zone; older rows get the
        # ellipsoidal area, which differs from it by well under 0.1 %.
        op.execute(f"UPDATE {table} SET area_m2 = ST_Area(geom::geography)")
    op.add_column("camera", sa.Column("status_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "camera_import",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.Column("crs", sa.Text(), nullable=False),
        sa.Column("source_rows", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("camera_import")
    op.drop_column("camera", "status_at")
    for table in ("area_version", "area"):
        op.drop_column(table, "area_m2")
