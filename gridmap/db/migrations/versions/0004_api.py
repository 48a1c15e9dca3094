"""The API: data revisions (cache invalidation), per-area coverage figures for tiles, uploads.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_revision",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("revision", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_data_revision_single_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO data_revision (id, revision) VALUES (1, 0)")
    op.create_table(
        "data_change",
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("extent", Geometry("POLYGON", srid=4490, spatial_index=False), nullable=True),
        sa.PrimaryKeyConstraint("revision"),
    )
    op.create_table(
        "area_stats",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.Column("installed", sa.Integer(), nullable=False),
        sa.Column("online", sa.Integer(), nullable=False),
        sa.Column("rollout_rate", sa.Float(), nullable=True),
        sa.Column("online_rate", sa.Float(), nullable=True),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("code"),
    )
    # A database that already holds a county gets its figures now; otherwise maps would show no
    # figures until the first write. Frozen SQL: what the application computed when 0004 was written
    # (a migration must not call code that keeps changing).
    op.execute(_FILL_AREA_STATS)
    for level in (4, 3, 2, 1, 0):
        op.execute(_ROLL_UP_HOUSEHOLDS.format(level=level))
    op.create_table(
        "upload",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("token_id", sa.BigInteger(), nullable=True),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("options", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("root_code", sa.Text(), nullable=True),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("version_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("kind IN ('boundary', 'camera')", name="ck_upload_kind"),
        sa.CheckConstraint("status IN ('validated', 'rejected', 'published', 'failed')", name="ck_upload_status"),
        sa.ForeignKeyConstraint(["token_id"], ["api_token.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["version_id"], ["boundary_version.id"]),
        sa.PrimaryKeyConstraint("id"),
    )


#: Counts per area: each camera's leaf area (camera.area_code) rolled up the parent_code chain.
_FILL_AREA_STATS = """
    WITH RECURSIVE leaf AS (
        SELECT area_code AS code,
               count(*) FILTER (WHERE status <> 'removed') AS planned,
               count(*) FILTER (WHERE status = 'installed') AS installed,
               count(*) FILTER (WHERE status = 'installed' AND online) AS online
        FROM camera WHERE area_code IS NOT NULL GROUP BY 1
    ), chain(leaf, code) AS (
        SELECT code, code FROM leaf
        UNION ALL
        SELECT chain.leaf, a.parent_code FROM chain JOIN area a ON a.code = chain.code
        WHERE a.parent_code IS NOT NULL
    ), totals AS (
        SELECT chain.code, sum(leaf.planned)::int AS planned, sum(leaf.installed)::int AS installed,
               sum(leaf.online)::int AS online
        FROM chain JOIN leaf ON leaf.code = chain.leaf GROUP BY 1
    )
    INSERT INTO area_stats (code, level, planned, installed, online, rollout_rate, online_rate, households)
    SELECT a.code, a.level, coalesce(t.planned, 0), coalesce(t.installed, 0), coalesce(t.online, 0),
           CASE WHEN t.planned > 0 THEN CAST(t.installed AS float8) / t.planned END,
           CASE WHEN t.installed > 0 THEN CAST(t.online AS float8) / t.installed END,
           a.households
    FROM area a LEFT JOIN totals t ON t.code = a.code
"""
#: An area without its own households gets the sum of its children's (deepest level first).
_ROLL_UP_HOUSEHOLDS = """
    UPDATE area_stats s SET households = x.households
    FROM (SELECT p.code, sum(cs.households)::int AS households
          FROM area p JOIN area c ON c.parent_code = p.code JOIN area_stats cs ON cs.code = c.code
          WHERE p.level = {level} AND p.households IS NULL GROUP BY p.code) x
    WHERE s.code = x.code
"""


def downgrade() -> None:
    op.drop_table("upload")
    op.drop_table("area_stats")
    op.drop_table("data_change")
    op.drop_table("data_revision")
