"""listing_revision.version: what the moderator saw, so an edited revision is never approved unseen

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-04

"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('listing_revision') as batch:
        batch.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))


def downgrade():
    with op.batch_alter_table('listing_revision') as batch:
        batch.drop_column('version')
