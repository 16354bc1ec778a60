"""PostgreSQL only: the PostGIS extension and a GiST-indexed geography column on clinic (no-op on SQLite)

``clinic.geog`` is a stored generated column, so PostgreSQL keeps it in step with ``lat``/``lon``
on every insert and update (ORM, bulk load or import) without any application code. It is NULL
when either coordinate is missing.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    if not _postgresql():
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute(
        "ALTER TABLE clinic ADD COLUMN geog geography(Point, 4326) GENERATED ALWAYS AS ("
        "CASE WHEN lat IS NOT NULL AND lon IS NOT NULL "
        "THEN ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography END) STORED"
    )
    op.execute("CREATE INDEX ix_clinic_geog ON clinic USING gist (geog)")


def downgrade():
    if not _postgresql():
        return
    op.execute("DROP INDEX IF EXISTS ix_clinic_geog")
    op.execute("ALTER TABLE clinic DROP COLUMN IF EXISTS geog")
    # The extension stays: other databases objects may use it, and dropping it needs superuser.
