"""listing revisions, claims, problem reports, audit log

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25

"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _decided():
    return [
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
    ]


def upgrade():
    op.create_table(
        'listing_revision',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('clinic_id', sa.String(length=36), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('changes', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        *_decided(),
        sa.ForeignKeyConstraint(['clinic_id'], ['clinic.id'], name=op.f('fk_listing_revision_clinic_id_clinic'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['author_id'], ['user.id'], name=op.f('fk_listing_revision_author_id_user'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'],
                                name=op.f('fk_listing_revision_decided_by_id_user'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_listing_revision')),
    )
    op.create_index('ix_listing_revision_clinic_id', 'listing_revision', ['clinic_id'])
    op.create_index('ix_listing_revision_status_created', 'listing_revision', ['status', 'created_at'])

    op.create_table(
        'listing_claim',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('clinic_id', sa.String(length=36), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('method', sa.String(length=16), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        *_decided(),
        sa.ForeignKeyConstraint(['clinic_id'], ['clinic.id'], name=op.f('fk_listing_claim_clinic_id_clinic'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_listing_claim_user_id_user'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_listing_claim_decided_by_id_user'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_listing_claim')),
    )
    op.create_index('ix_listing_claim_clinic_id', 'listing_claim', ['clinic_id'])
    op.create_index('ix_listing_claim_user_id', 'listing_claim', ['user_id'])
    op.create_index('ix_listing_claim_status_created', 'listing_claim', ['status', 'created_at'])

    op.create_table(
        'problem_report',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('clinic_id', sa.String(length=36), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('resolution', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        *_decided(),
        sa.ForeignKeyConstraint(['clinic_id'], ['clinic.id'], name=op.f('fk_problem_report_clinic_id_clinic'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_problem_report_decided_by_id_user'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_problem_report')),
    )
    op.create_index('ix_problem_report_clinic_id', 'problem_report', ['clinic_id'])
    op.create_index('ix_problem_report_status_created', 'problem_report', ['status', 'created_at'])

    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('clinic_id', sa.String(length=36), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('field', sa.String(length=64), nullable=False),
        sa.Column('old', sa.JSON(), nullable=True),
        sa.Column('new', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['clinic_id'], ['clinic.id'], name=op.f('fk_audit_log_clinic_id_clinic'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_audit_log_user_id_user'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    )
    op.create_index('ix_audit_log_clinic_created', 'audit_log', ['clinic_id', 'created_at'])

    op.create_table(
        'reminder_sent',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('clinic_id', sa.String(length=36), nullable=False),
        sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['clinic_id'], ['clinic.id'], name=op.f('fk_reminder_sent_clinic_id_clinic'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_sent')),
        sa.UniqueConstraint('clinic_id', 'confirmed_at', name='uq_reminder_sent_cycle'),
    )


def downgrade():
    op.drop_table('reminder_sent')
    op.drop_index('ix_audit_log_clinic_created', table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_index('ix_problem_report_status_created', table_name='problem_report')
    op.drop_index('ix_problem_report_clinic_id', table_name='problem_report')
    op.drop_table('problem_report')
    op.drop_index('ix_listing_claim_status_created', table_name='listing_claim')
    op.drop_index('ix_listing_claim_user_id', table_name='listing_claim')
    op.drop_index('ix_listing_claim_clinic_id', table_name='listing_claim')
    op.drop_table('listing_claim')
    op.drop_index('ix_listing_revision_status_created', table_name='listing_revision')
    op.drop_index('ix_listing_revision_clinic_id', table_name='listing_revision')
    op.drop_table('listing_revision')
