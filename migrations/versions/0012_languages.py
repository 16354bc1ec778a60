"""clinic languages: the languages the staff offer care in, interpreter services and the
languages they cover (bit masks in data/vocab/language.json order), and their as-of date

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

"""
from alembic import op
import sqlalchemy as sa

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    # BigInteger: the language vocabulary (31 today) grows past a 32-bit mask. Plain ADD COLUMN
    # (no batch copy of the table on SQLite, which would lose the expression index ix_clinic_name).
    op.add_column('clinic', sa.Column('languages_mask', sa.BigInteger(), nullable=False, server_default='0'))
    op.add_column('clinic', sa.Column('interpreter_services', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.add_column('clinic', sa.Column('interpreter_languages_mask', sa.BigInteger(), nullable=False,
                                      server_default='0'))
    op.add_column('clinic', sa.Column('languages_as_of', sa.Date(), nullable=True))


def downgrade():
    # SQLite 3.35+ drops a column in place.
    for column in ('languages_as_of', 'interpreter_languages_mask', 'interpreter_services', 'languages_mask'):
        op.drop_column('clinic', column)
