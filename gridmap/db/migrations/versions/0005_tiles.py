"""Vector tiles: precomputed tile geometry (tile_area per area and zoom, tile_camera).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'tile_area',
        sa.Column('area_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('z', sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column('level', sa.SmallInteger(), nullable=False),
        sa.Column('code', sa.Text(), nullable=False),
        sa.Column('fid', sa.BigInteger(), nullable=True),
        sa.Column('name', sa.Text(), nullable=True),
        sa.Column('area_m2', sa.Float(), nullable=True),
        sa.Column('planned', sa.Integer(), nullable=False),
        sa.Column('installed', sa.Integer(), nullable=False),
        sa.Column('online', sa.Integer(), nullable=False),
        sa.Column('rollout_rate', sa.Float(), nullable=True),
        sa.Column('online_rate', sa.Float(), nullable=True),
        sa.Column('households', sa.Integer(), nullable=True),
        sa.Column('geom', Geometry('GEOMETRY', spatial_index=False), nullable=False),
        sa.Column('x_min', sa.Float(), nullable=False),
        sa.Column('y_min', sa.Float(), nullable=False),
        sa.Column('x_max', sa.Float(), nullable=False),
        sa.Column('y_max', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('area_id', 'z'),
    )
    for level in range(5):
        op.create_index(f'ix_tile_area_geom_l{level}', 'tile_area', ['geom'], postgresql_using='gist',
                        postgresql_where=sa.text(f'level = {level}'))
    op.create_table(
        'tile_camera',
        sa.Column('device_id', sa.String(length=20), nullable=False),
        sa.Column('name', sa.Text(), nullable=True),
        sa.Column('status', sa.Text(), nullable=False),
        sa.Column('online', sa.Boolean(), nullable=False),
        sa.Column('operator', sa.Text(), nullable=True),
        sa.Column('area_code', sa.Text(), nullable=True),
        sa.Column('geom', Geometry('POINT', srid=3857, spatial_index=False), nullable=False),
        sa.PrimaryKeyConstraint('device_id'),
    )
    op.create_index('ix_tile_camera_geom', 'tile_camera', ['geom'], postgresql_using='gist')
    # Existing data gets its tile rows now (the same code record_change runs on every write).
    from gridmap.tiles.store import rebuild_tile_tables

    rebuild_tile_tables(op.get_bind())


def downgrade() -> None:
    op.drop_index('ix_tile_camera_geom', table_name='tile_camera')
    op.drop_table('tile_camera')
    for level in range(5):
        op.drop_index(f'ix_tile_area_geom_l{level}', table_name='tile_area')
    op.drop_table('tile_area')
