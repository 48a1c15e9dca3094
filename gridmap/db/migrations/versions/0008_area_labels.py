"""Area labels: where each live area's name goes on a map (area_label: the centre of its largest
inscribed circle, EPSG:4490, and the circle's radius in metres in the area's Gauss-Krüger zone).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "area_label",
        sa.Column("area_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("short_name", sa.Text(), nullable=True),
        sa.Column("geom", Geometry("POINT", srid=4490, spatial_index=False), nullable=False),
        sa.Column("radius_m", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("area_id"),
    )
    op.create_index("ix_area_label_geom", "area_label", ["geom"], postgresql_using="gist")
    op.create_index("ix_area_label_level_radius", "area_label", ["level", "radius_m"])
    # The live areas' labels, as the application builds them (frozen SQL: gridmap.db.labels when
    # 0008 was written).
    op.execute("""
    INSERT INTO area_label (area_id, level, code, name, short_name, geom, radius_m)
    SELECT a.id, a.level, a.code, a.name,
           CASE WHEN p.name <> '' AND starts_with(a.name, p.name) AND length(a.name) > length(p.name)
                THEN substr(a.name, length(p.name) + 1) ELSE a.name END,
           ST_Transform(ST_SetSRID(c.center, a.zone), 4490),
           ST_Distance(c.center, c.nearest)
    FROM (SELECT id, level, code, name, parent_code, geom,
                 4509 + least(45, greatest(25, floor((ST_X(ST_Centroid(ST_Envelope(geom))) + 1.5) / 3)))::int AS zone
          FROM area WHERE NOT ST_IsEmpty(geom)) AS a
    LEFT JOIN area p ON p.code = a.parent_code
    CROSS JOIN LATERAL ST_MaximumInscribedCircle(ST_Transform(a.geom, a.zone)) AS c
    """)


def downgrade() -> None:
    op.drop_index("ix_area_label_level_radius", table_name="area_label")
    op.drop_index("ix_area_label_geom", table_name="area_label")
    op.drop_table("area_label")
