"""rate_limit_window: sign-in, sign-up and reset limits shared through the database without Redis

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'rate_limit_window',
        sa.Column('key', sa.String(length=160), nullable=False),
        sa.Column('window_start', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('hits', sa.Integer(), nullable=False),
        sa.Column('expires_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('key', 'window_start', name=op.f('pk_rate_limit_window')),
    )
    op.create_index(op.f('ix_rate_limit_window_expires_at'), 'rate_limit_window', ['expires_at'])


def downgrade():
    op.drop_index(op.f('ix_rate_limit_window_expires_at'), table_name='rate_limit_window')
    op.drop_table('rate_limit_window')
