"""search_change: which clinics each generation changed, so search indexes patch instead of rebuilding

Migration 0007 moves ``search_state.generation`` with every write to the clinic tables. This one
makes the same triggers say *which* clinics a generation touched: one ``search_change`` row
(generation, clinic_id) per clinic, written in the writing transaction (a rolled-back write leaves
no row and no generation). A process holding an index built at generation G reads the rows after G
and re-reads only those clinics (``kapfinder/search/delta.py``).

A row with no clinic_id is a *rebuild marker*: the write was too large to list (a TRUNCATE, a
PostgreSQL statement touching more than ``MANY`` clinics, a SQLite bulk load that sets the triggers
aside, see ``bulk.search_triggers_once``); an index older than it rebuilds in full. The log keeps
the last ``KEEP`` generations: ``search_state.change_floor`` says that every change after it is
still listed (an index built at or after the floor can patch; an older one rebuilds).

SQLite: the row triggers keep migration 0007's names (``search_bump_<table>_<operation>``), so a
bulk load that sets those aside sets the change log aside too. PostgreSQL: 0007's BEFORE statement
triggers still move the generation; AFTER statement triggers with transition tables list the
clinics at the generation that statement moved to (the row lock on search_state, held until
commit, keeps generations and their rows in commit order).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

"""
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

TABLES = ("clinic", "clinic_insurance", "clinic_price", "clinic_at_home_state")
OPERATIONS = ("INSERT", "UPDATE", "DELETE")
#: Generations the log keeps.
KEEP = 10_000
#: A PostgreSQL statement touching more clinics than this writes a rebuild marker instead.
MANY = 1_000

_TRIM = (f"DELETE FROM search_change WHERE generation <= (SELECT generation - {KEEP} FROM search_state WHERE id = 1); "
         f"UPDATE search_state SET change_floor = generation - {KEEP} WHERE id = 1 "
         f"AND change_floor < generation - {KEEP};")


def _key(table: str) -> str:
    return "id" if table == "clinic" else "clinic_id"


def upgrade():
    op.execute("CREATE TABLE search_change (generation BIGINT NOT NULL, clinic_id VARCHAR(36))")
    op.execute("CREATE INDEX ix_search_change_generation ON search_change (generation)")
    op.execute("ALTER TABLE search_state ADD COLUMN change_floor BIGINT NOT NULL DEFAULT 0")
    # Whatever came before is not listed: an index built before this migration rebuilds.
    op.execute("UPDATE search_state SET generation = generation + 1, change_floor = generation + 1 WHERE id = 1")
    if op.get_bind().dialect.name == "postgresql":
        _postgres_up()
    else:
        _sqlite_triggers(with_changes=True)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            for operation in (*OPERATIONS, "TRUNCATE"):
                op.execute(f"DROP TRIGGER IF EXISTS search_change_{table}_{operation.lower()} ON {table}")
                op.execute(f"DROP FUNCTION IF EXISTS kapfinder_search_change_{table}_{operation.lower()}()")
        op.execute("DROP FUNCTION IF EXISTS kapfinder_search_change_list(bigint, text[])")
    else:
        _sqlite_triggers(with_changes=False)
    op.execute("DROP TABLE search_change")
    with op.batch_alter_table("search_state") as batch:
        batch.drop_column("change_floor")


def _sqlite_triggers(with_changes: bool) -> None:
    for table in TABLES:
        key = _key(table)
        for operation in OPERATIONS:
            name = f"search_bump_{table}_{operation.lower()}"
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
            body = "UPDATE search_state SET generation = generation + 1 WHERE id = 1;"
            if with_changes:
                rows = {"INSERT": ["NEW"], "DELETE": ["OLD"], "UPDATE": ["NEW", "OLD"]}[operation]
                for which in rows:
                    guard = f" AND OLD.{key} IS NOT NEW.{key}" if which == "OLD" and operation == "UPDATE" else ""
                    body += (f" INSERT INTO search_change (generation, clinic_id) "
                             f"SELECT generation, {which}.{key} FROM search_state WHERE id = 1{guard};")
                body += " " + _TRIM
            op.execute(f"CREATE TRIGGER {name} AFTER {operation} ON {table} BEGIN {body} END")


def _postgres_up() -> None:
    op.execute(f"""
        CREATE FUNCTION kapfinder_search_change_list(gen bigint, ids text[]) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            IF cardinality(ids) > {MANY} THEN
                INSERT INTO search_change (generation, clinic_id) VALUES (gen, NULL);
            ELSIF cardinality(ids) > 0 THEN
                INSERT INTO search_change (generation, clinic_id) SELECT gen, unnest(ids);
            END IF;
            DELETE FROM search_change WHERE generation <= gen - {KEEP};
            UPDATE search_state SET change_floor = gen - {KEEP} WHERE id = 1 AND change_floor < gen - {KEEP};
        END $$""")
    for table in TABLES:
        key = _key(table)
        for operation in OPERATIONS:
            name = f"{table}_{operation.lower()}"
            sources = {"INSERT": ["new_rows"], "DELETE": ["old_rows"], "UPDATE": ["new_rows", "old_rows"]}[operation]
            referencing = " ".join(f"{s.split('_')[0].upper()} TABLE AS {s}" for s in sources)
            union = " UNION ".join(f"SELECT {key} FROM {s}" for s in sources)
            op.execute(f"""
                CREATE FUNCTION kapfinder_search_change_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM kapfinder_search_change_list(
                        (SELECT generation FROM search_state WHERE id = 1),
                        ARRAY(SELECT DISTINCT k FROM ({union}) AS changed(k) WHERE k IS NOT NULL LIMIT {MANY + 1}));
                    RETURN NULL;
                END $$""")
            op.execute(f"CREATE TRIGGER search_change_{name} AFTER {operation} ON {table} "
                       f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION kapfinder_search_change_{name}()")
        op.execute(f"""
            CREATE FUNCTION kapfinder_search_change_{table}_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO search_change (generation, clinic_id)
                    SELECT generation, NULL FROM search_state WHERE id = 1;
                RETURN NULL;
            END $$""")
        op.execute(f"CREATE TRIGGER search_change_{table}_truncate AFTER TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION kapfinder_search_change_{table}_truncate()")
