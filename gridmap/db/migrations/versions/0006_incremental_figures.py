"""Incremental figures: per-operator figures and structure in area_stats' family, tile rows without
figures (tiles join area_stats), what each change touched by area code and camera position.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TILE_FIGURES = (
    ("planned", sa.Integer(), False),
    ("installed", sa.Integer(), False),
    ("online", sa.Integer(), False),
    ("rollout_rate", sa.Float(), True),
    ("online_rate", sa.Float(), True),
    ("households", sa.Integer(), True),
)


def upgrade() -> None:
    op.add_column("area_stats", sa.Column("children", sa.Integer(), server_default="0", nullable=False))
    op.add_column("area_stats", sa.Column("no_camera_children", sa.Integer(), server_default="0", nullable=False))
    # Rows are updated in place all day (status pushes): room on each page for HOT updates.
    op.execute("ALTER TABLE area_stats SET (fillfactor = 70)")
    op.create_table(
        "area_operator_stats",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("operator", sa.Text(), nullable=False),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.Column("installed", sa.Integer(), nullable=False),
        sa.Column("online", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code", "operator"),
        postgresql_with={"fillfactor": 70},
    )
    op.add_column("data_change", sa.Column("codes", postgresql.ARRAY(sa.Text()), nullable=True))
    op.add_column(
        "data_change", sa.Column("points", Geometry("MULTIPOINT", srid=4490, spatial_index=False), nullable=True)
    )
    op.add_column("data_change", sa.Column("everything", sa.Boolean(), server_default="false", nullable=False))
    op.add_column("data_change", sa.Column("root", sa.Text(), nullable=True))
    op.execute("UPDATE data_change SET everything = (extent IS NULL)")  # before 0006 no extent meant anywhere
    for name, _type, _null in _TILE_FIGURES:
        op.drop_column("tile_area", name)
    op.create_index("ix_tile_area_code", "tile_area", ["code"])
    # Status reports update cameras (and their tile rows) all day: room on each page for HOT
    # updates (no index entry written).
    op.execute("ALTER TABLE camera SET (fillfactor = 80)")
    op.execute("ALTER TABLE tile_camera SET (fillfactor = 80)")
    # Every figure from scratch, as the application computed them when 0006 was written (frozen SQL).
    for statement in _RECOMPUTE:
        op.execute(statement)
    for level in (4, 3, 2, 1, 0):
        op.execute(_STRUCTURE.format(level=level))


def downgrade() -> None:
    op.execute("ALTER TABLE camera RESET (fillfactor)")
    op.execute("ALTER TABLE tile_camera RESET (fillfactor)")
    op.drop_index("ix_tile_area_code", table_name="tile_area")
    for name, type_, nullable in _TILE_FIGURES:
        op.add_column(
            "tile_area", sa.Column(name, type_, server_default="0" if not nullable else None, nullable=nullable)
        )
        if not nullable:
            op.alter_column("tile_area", name, server_default=None)
    op.execute("""UPDATE tile_area t SET planned = s.planned, installed = s.installed, online = s.online,
                                       rollout_rate = s.rollout_rate, online_rate = s.online_rate,
                                       households = s.households
                  FROM area_stats s WHERE s.code = t.code""")
    op.drop_column("data_change", "root")
    op.drop_column("data_change", "everything")
    op.drop_column("data_change", "points")
    op.drop_column("data_change", "codes")
    op.drop_table("area_operator_stats")
    op.execute("ALTER TABLE area_stats RESET (fillfactor)")
    op.drop_column("area_stats", "no_camera_children")
    op.drop_column("area_stats", "children")


#: Per area and operator ('' for none): cameras not removed in the leaf areas below, rolled up the
#: parent_code chain; an area's own row is the sum over its operators.
_RECOMPUTE = (
    "DELETE FROM area_operator_stats",
    "DELETE FROM area_stats",
    """
    WITH RECURSIVE leaf AS (
        SELECT area_code AS code, coalesce(operator, '') AS operator,
               count(*) AS planned,
               count(*) FILTER (WHERE status = 'installed') AS installed,
               count(*) FILTER (WHERE status = 'installed' AND online) AS online
        FROM camera WHERE area_code IS NOT NULL AND status <> 'removed' GROUP BY 1, 2
    ), chain(leaf, code) AS (
        SELECT DISTINCT code, code FROM leaf
        UNION ALL
        SELECT chain.leaf, a.parent_code FROM chain JOIN area a ON a.code = chain.code
        WHERE a.parent_code IS NOT NULL
    )
    INSERT INTO area_operator_stats (code, operator, planned, installed, online)
    SELECT chain.code, leaf.operator, sum(leaf.planned), sum(leaf.installed), sum(leaf.online)
    FROM chain JOIN leaf ON leaf.code = chain.leaf
    WHERE EXISTS (SELECT 1 FROM area a WHERE a.code = chain.code)
    GROUP BY 1, 2
    """,
    """
    INSERT INTO area_stats (code, level, planned, installed, online, rollout_rate, online_rate, households)
    SELECT a.code, a.level, coalesce(t.planned, 0), coalesce(t.installed, 0), coalesce(t.online, 0),
           CASE WHEN t.planned > 0 THEN CAST(t.installed AS float8) / t.planned END,
           CASE WHEN t.installed > 0 THEN CAST(t.online AS float8) / t.installed END,
           a.households
    FROM area a
    LEFT JOIN (SELECT code, sum(planned)::int AS planned, sum(installed)::int AS installed,
                      sum(online)::int AS online
               FROM area_operator_stats GROUP BY code) t ON t.code = a.code
    """,
)
#: Children, children without an installed camera and households (own, else the children's sum),
#: one level at a time from the deepest.
_STRUCTURE = """
    UPDATE area_stats s SET children = x.children, no_camera_children = x.blind,
                            households = coalesce(x.own, x.households)
    FROM (SELECT p.code, p.households AS own, count(c.code)::int AS children,
                 (count(c.code) FILTER (WHERE coalesce(cs.installed, 0) = 0))::int AS blind,
                 sum(cs.households)::int AS households
          FROM area p LEFT JOIN area c ON c.parent_code = p.code LEFT JOIN area_stats cs ON cs.code = c.code
          WHERE p.level = {level} GROUP BY p.code, p.households) x
    WHERE s.code = x.code
"""
