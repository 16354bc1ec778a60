"""load the offline gazetteer from the pinned zipcodes package

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

"""
from alembic import op

from kapfinder.geo import load_gazetteer

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    load_gazetteer(op.get_bind())


def downgrade():
    op.execute("DELETE FROM gazetteer_place")
    op.execute("DELETE FROM gazetteer_zip")
