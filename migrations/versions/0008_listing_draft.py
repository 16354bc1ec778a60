"""listing_draft: an owner's unfinished listing form, saved step by step

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'listing_draft',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('clinic_id', sa.String(length=36), nullable=True),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('step', sa.String(length=16), nullable=False),
        sa.Column('base_version', sa.Integer(), nullable=True),
        sa.Column('base_data', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['owner_id'], ['user.id'], name=op.f('fk_listing_draft_owner_id_user'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['clinic_id'], ['clinic.id'], name=op.f('fk_listing_draft_clinic_id_clinic'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_listing_draft')),
        sa.UniqueConstraint('clinic_id', name=op.f('uq_listing_draft_clinic_id')),
    )
    op.create_index('ix_listing_draft_owner_id', 'listing_draft', ['owner_id'])
    # One draft of a new listing per owner.
    op.create_index('uq_listing_draft_new_listing', 'listing_draft', ['owner_id'], unique=True,
                    sqlite_where=sa.text('clinic_id IS NULL'), postgresql_where=sa.text('clinic_id IS NULL'))


def downgrade():
    op.drop_index('uq_listing_draft_new_listing', table_name='listing_draft')
    op.drop_index('ix_listing_draft_owner_id', table_name='listing_draft')
    op.drop_table('listing_draft')
