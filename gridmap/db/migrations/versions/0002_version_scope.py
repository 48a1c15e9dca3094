"""Boundary versions record their top level and what a rollback restored; area names optional.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("boundary_version", sa.Column("top_level", sa.SmallInteger(), nullable=True))
    op.add_column("boundary_version", sa.Column("restored_from", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        "boundary_version_restored_from_fkey", "boundary_version", "boundary_version", ["restored_from"], ["id"]
    )
    op.execute("UPDATE boundary_version SET top_level = 0 WHERE top_level IS NULL AND length(root_code) = 6")
    op.alter_column("area", "name", existing_type=sa.Text(), nullable=True)
    op.alter_column("area_version", "name", existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE area SET name = code WHERE name IS NULL")
    op.execute("UPDATE area_version SET name = code WHERE name IS NULL")
    op.alter_column("area_version", "name", existing_type=sa.Text(), nullable=False)
    op.alter_column("area", "name", existing_type=sa.Text(), nullable=False)
    op.drop_constraint("boundary_version_restored_from_fkey", "boundary_version", type_="foreignkey")
    op.drop_column("boundary_version", "restored_from")
    op.drop_column("boundary_version", "top_level")
