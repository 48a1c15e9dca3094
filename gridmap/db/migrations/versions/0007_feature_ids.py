"""Vector tile feature ids below 2^53: an id registry for area codes (area_feature_id), the camera's
row id for cameras (tile_camera.fid).

Before 0007 an area's MVT feature id was its code as an integer: a micro-grid's 18-digit code is
above 2^53, and JavaScript decoders (MapLibre GL JS, OpenLayers) read ids as doubles, so
neighbouring micro-grids collapsed onto one id (feature-state on one darkened seven). Now every
code gets a small integer once, kept for ever (codes are never deleted from the registry): a code
has the same id across publishes and rollbacks.

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "area_feature_id",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("fid", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.PrimaryKeyConstraint("code"),
        sa.UniqueConstraint("fid", name="uq_area_feature_id_fid"),
    )
    # Existing areas in code order (a parent before its children), as the application registers
    # them (frozen SQL: gridmap.tiles.store when 0007 was written).
    op.execute('INSERT INTO area_feature_id (code) SELECT code FROM area ORDER BY code COLLATE "C"')
    op.execute("UPDATE tile_area t SET fid = r.fid FROM area_feature_id r WHERE r.code = t.code")
    op.alter_column("tile_area", "fid", nullable=False)
    op.add_column("tile_camera", sa.Column("fid", sa.BigInteger(), nullable=True))
    op.execute("UPDATE tile_camera t SET fid = c.id FROM camera c WHERE c.device_id = t.device_id")
    op.alter_column("tile_camera", "fid", nullable=False)


def downgrade() -> None:
    op.drop_column("tile_camera", "fid")
    op.alter_column("tile_area", "fid", nullable=True)
    op.execute("UPDATE tile_area SET fid = CASE WHEN length(code) <= 18 THEN CAST(code AS bigint) END")
    op.drop_table("area_feature_id")
