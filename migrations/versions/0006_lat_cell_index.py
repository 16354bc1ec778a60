"""clinic.lat_cell and covering indexes for bounding-box and insurance searches

Replaces ix_clinic_geo (status, lat, lon): with lat first, a box scanned the whole latitude band
across the country. ``lat_cell`` = floor(lat) lets the search ask for a few one-degree bands, each
a short longitude range, and the index carries every column the radius test and filters read.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

COLUMNS = ["status", "lat_cell", "lon", "lat", "ux", "uy", "uz", "settings_mask", "methods_mask",
           "conditions_mask", "services_mask", "accepting_new_patients", "id"]


def upgrade():
    with op.batch_alter_table('clinic', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lat_cell', sa.Integer(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE clinic SET lat_cell = floor(lat)::integer WHERE lat IS NOT NULL")
    else:  # SQLite's CAST truncates toward zero
        op.execute("UPDATE clinic SET lat_cell = CAST(lat AS INTEGER) - (lat < CAST(lat AS INTEGER)) "
                   "WHERE lat IS NOT NULL")
    op.drop_index('ix_clinic_geo', table_name='clinic')
    op.create_index('ix_clinic_cell', 'clinic', COLUMNS, unique=False)
    # The insurance filter reads carrier, clinic, service, network and plan types from the index alone.
    op.drop_index('ix_clinic_insurance_carrier_clinic', table_name='clinic_insurance')
    op.create_index('ix_clinic_insurance_lookup', 'clinic_insurance',
                    ['carrier', 'clinic_id', 'service', 'network', 'plan_types_mask'], unique=False)


def downgrade():
    op.drop_index('ix_clinic_insurance_lookup', table_name='clinic_insurance')
    op.create_index('ix_clinic_insurance_carrier_clinic', 'clinic_insurance', ['carrier', 'clinic_id'], unique=False)
    op.drop_index('ix_clinic_cell', table_name='clinic')
    op.create_index('ix_clinic_geo', 'clinic', ['status', 'lat', 'lon'], unique=False)
    with op.batch_alter_table('clinic', schema=None) as batch_op:
        batch_op.drop_column('lat_cell')
