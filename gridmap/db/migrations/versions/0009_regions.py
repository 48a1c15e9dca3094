"""Levels above the county: province (-2) and city (-1) rows in ``area``, derived from the live
counties (``gridmap.db.regions``). Every existing code, level and figure stays as it was; the
counties get their city as parent, and the new rows' figures are their counties' sums.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridmap.levels import REGION_NAMES

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Frozen SQL: what gridmap.db.regions and the figures' roll-up give, when 0009 was written.
_OUTLINE = """
    UPDATE area r SET geom = u.geom, area_m2 = u.area_m2
    FROM (SELECT parent_code, ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Union(geom)), 3)) AS geom,
                 sum(area_m2) AS area_m2
          FROM area WHERE level = {child} GROUP BY parent_code) u
    WHERE r.code = u.parent_code AND r.level = {level}
"""
_FIGURES = """
    INSERT INTO area_stats (code, level, planned, installed, online, households, rollout_rate, online_rate)
    SELECT code, level, planned, installed, online, households,
           CASE WHEN planned > 0 THEN CAST(installed AS float8) / planned END,
           CASE WHEN installed > 0 THEN CAST(online AS float8) / installed END
    FROM (SELECT p.code, p.level, coalesce(sum(s.planned), 0)::int AS planned,
                 coalesce(sum(s.installed), 0)::int AS installed, coalesce(sum(s.online), 0)::int AS online,
                 sum(s.households)::int AS households, count(c.code)::int AS children
          FROM area p LEFT JOIN area c ON c.parent_code = p.code LEFT JOIN area_stats s ON s.code = c.code
          WHERE p.level = {level} GROUP BY p.code, p.level) x;
    INSERT INTO area_operator_stats (code, operator, planned, installed, online)
    SELECT p.code, o.operator, sum(o.planned)::int, sum(o.installed)::int, sum(o.online)::int
    FROM area p JOIN area c ON c.parent_code = p.code JOIN area_operator_stats o ON o.code = c.code
    WHERE p.level = {level} GROUP BY p.code, o.operator HAVING sum(o.planned) > 0;
    UPDATE area_stats s SET children = x.children, no_camera_children = x.blind
    FROM (SELECT p.code, count(c.code)::int AS children,
                 (count(c.code) FILTER (WHERE coalesce(cs.installed, 0) = 0))::int AS blind
          FROM area p LEFT JOIN area c ON c.parent_code = p.code LEFT JOIN area_stats cs ON cs.code = c.code
          WHERE p.level = {level} GROUP BY p.code) x
    WHERE s.code = x.code;
"""


def upgrade() -> None:
    op.drop_constraint("ck_area_level", "area", type_="check")
    op.create_check_constraint("ck_area_level", "area", "level BETWEEN -2 AND 4")
    names = sa.table("region_name", sa.column("code", sa.Text), sa.column("name", sa.Text))
    op.execute("CREATE TEMPORARY TABLE region_name (code text PRIMARY KEY, name text) ON COMMIT DROP")
    op.bulk_insert(names, [{"code": c, "name": n} for c, n in REGION_NAMES.items()])
    for length, level, kind, parent in ((2, -2, "省", "NULL"), (4, -1, "市", "left(r.code, 2)")):
        op.execute(f"""
            INSERT INTO area (code, name, level, parent_code, kind, geom)
            SELECT r.code, n.name, {level}, {parent}, '{kind}', ST_GeomFromText('MULTIPOLYGON EMPTY', 4490)
            FROM (SELECT DISTINCT left(code, {length}) AS code FROM area WHERE level = 0) r
            LEFT JOIN region_name n ON n.code = r.code
            ORDER BY r.code""")
    op.execute("UPDATE area SET parent_code = left(code, 4) WHERE level = 0")
    op.execute(_OUTLINE.format(child=0, level=-1))
    op.execute(_OUTLINE.format(child=-1, level=-2))
    op.execute(_FIGURES.format(level=-1))
    op.execute(_FIGURES.format(level=-2))
    op.execute("UPDATE data_revision SET revision = revision + 1, changed_at = now()")


def downgrade() -> None:
    op.execute("DELETE FROM area_operator_stats WHERE code IN (SELECT code FROM area WHERE level < 0)")
    op.execute("DELETE FROM area_stats WHERE code IN (SELECT code FROM area WHERE level < 0)")
    op.execute("DELETE FROM coverage_snapshot WHERE level < 0")
    op.execute("UPDATE area SET parent_code = NULL WHERE level = 0")
    op.execute("DELETE FROM area WHERE level < 0")
    op.execute("SET CONSTRAINTS fk_area_parent_code IMMEDIATE")  # no pending checks before ALTER TABLE
    op.drop_constraint("ck_area_level", "area", type_="check")
    op.create_check_constraint("ck_area_level", "area", "level BETWEEN 0 AND 4")
