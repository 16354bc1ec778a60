"""search_state: a generation counter that moves with every change to what search reads

The in-memory search index (kapfinder/search/index.py) keeps a copy of the published clinics'
coordinates and filter columns in each process. It is valid while ``search_state`` says the same
(epoch, generation) it was built at. Triggers on clinic, clinic_insurance, clinic_price and
clinic_at_home_state bump the generation in the writing transaction, so no path that changes a
listing (ORM, Core, bulk load, raw SQL) can leave an index stale. ``epoch`` changes when a backup is
restored, so a counter that happens to come back to an earlier value is never mistaken for it.

SQLite: row triggers (the whole database has one writer at a time anyway). PostgreSQL: one BEFORE
statement trigger per table; the UPDATE holds the row's lock until commit, so generations commit in
order and a COPY of a million rows bumps it once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25

"""
import uuid

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

TABLES = ("clinic", "clinic_insurance", "clinic_price", "clinic_at_home_state")
OPERATIONS = ("INSERT", "UPDATE", "DELETE")


def upgrade():
    op.execute("CREATE TABLE search_state (id INTEGER PRIMARY KEY, epoch VARCHAR(36) NOT NULL, "
               "generation BIGINT NOT NULL)")
    op.execute(f"INSERT INTO search_state (id, epoch, generation) VALUES (1, '{uuid.uuid4()}', 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION kapfinder_search_bump() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE search_state SET generation = generation + 1 WHERE id = 1;
                RETURN NULL;
            END $$""")
        for table in TABLES:
            op.execute(f"CREATE TRIGGER search_bump_{table} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE "
                       f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION kapfinder_search_bump()")
    else:
        for table in TABLES:
            for operation in OPERATIONS:
                op.execute(f"CREATE TRIGGER search_bump_{table}_{operation.lower()} AFTER {operation} ON {table} "
                           f"BEGIN UPDATE search_state SET generation = generation + 1 WHERE id = 1; END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS search_bump_{table} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS kapfinder_search_bump()")
    else:
        for table in TABLES:
            for operation in OPERATIONS:
                op.execute(f"DROP TRIGGER IF EXISTS search_bump_{table}_{operation.lower()}")
    op.execute("DROP TABLE search_state")
