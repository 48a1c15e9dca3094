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

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'data_revision',
        sa.Column('id', sa.SmallInteger(), nullable=False),
        sa.Column('revision', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint('id = 1', name='ck_data_revision_single_row'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.execute("INSERT INTO data_revision (id, revision) VALUES (1, 0)")
    op.create_table(
        'data_change',
        sa.Column('revision', sa.BigInteger(), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('extent', Geometry('POLYGON', srid=4490, spatial_index=False), nullable=True),
        sa.PrimaryKeyConstraint('revision'),
    )
    op.create_table(
        'area_stats',
        sa.Column('code', sa.Text(), nullable=False),
        sa.Column('level', sa.SmallInteger(), nullable=False),
        sa.Column('planned', sa.Integer(), nullable=False),
        sa.Column('installed', sa.Integer(), nullable=False),
        sa.Column('online', sa.Integer(), nullable=False),
        sa.Column('rollout_rate', sa.Float(), nullable=True),
        sa.Column('online_rate', sa.Float(), nullable=True),
        sa.Column('households', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('code'),
    )
    # A database that already holds a county gets its figures now (the same code record_change
    # runs on every write); otherwise maps would show no figures until the first write.
    from gridmap.coverage.stats import refresh_area_stats

    refresh_area_stats(op.get_bind())
    op.create_table(
        'upload',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('created_by', sa.Text(), nullable=False),
        sa.Column('token_id', sa.BigInteger(), nullable=True),
        sa.Column('file_name', sa.Text(), nullable=False),
        sa.Column('file_sha256', sa.String(length=64), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('options', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
        sa.Column('status', sa.Text(), nullable=False),
        sa.Column('ok', sa.Boolean(), nullable=False),
        sa.Column('root_code', sa.Text(), nullable=True),
        sa.Column('report', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('version_id', sa.BigInteger(), nullable=True),
        sa.CheckConstraint("kind IN ('boundary', 'camera')", name='ck_upload_kind'),
        sa.CheckConstraint("status IN ('validated', 'rejected', 'published', 'failed')", name='ck_upload_status'),
        sa.ForeignKeyConstraint(['token_id'], ['api_token.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['version_id'], ['boundary_version.id']),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('upload')
    op.drop_table('area_stats')
    op.drop_table('data_change')
    op.drop_table('data_revision')
