"""Bulk insert of clinics with their insurance, prices and at-home states. No Flask, no ORM objects.

Used by ``flask sample load`` (up to a million clinics) and by imports. Rows go in with SQLAlchemy
Core ``insert()`` executemany in batches; on PostgreSQL with psycopg they can go through ``COPY``
instead, which is several times faster. Derived columns (unit vector, services offered) come from
``models.derived_columns``, the same function the ORM hook uses, so a bulk-loaded clinic is the
same row the ORM would have written.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from typing import Any, Iterable, Iterator

from sqlalchemy import JSON, ColumnElement, Connection, delete, insert, select, update
from sqlalchemy.orm import Session

from . import vocab
from .models import (Base, Clinic, ClinicAtHomeState, ClinicInsurance, ClinicPrice, derived_columns,
                     new_id, utcnow)

BATCH_SIZE = 5000
LOAD_CACHE_KIB = 256 * 1024
#: Page cache per clinic for very large loads (its rows and index entries, with room to spare).
CACHE_KIB_PER_CLINIC = 2
MAX_LOAD_CACHE_KIB = 4 * 1024 * 1024

CLINIC = Clinic.__table__
INSURANCE = ClinicInsurance.__table__
PRICE = ClinicPrice.__table__
AT_HOME = ClinicAtHomeState.__table__

#: List-valued clinic fields and the mask column + vocabulary behind each.
LIST_FIELDS = {
    "methods": ("methods_mask", vocab.METHODS),
    "settings": ("settings_mask", vocab.SETTINGS),
    "conditions": ("conditions_mask", vocab.CONDITIONS),
    "therapy_extras": ("therapy_extras_mask", vocab.THERAPY_EXTRAS),
    "prescriber_types": ("prescriber_types_mask", vocab.PRESCRIBER_TYPES),
    "therapist_licenses": ("therapist_licenses_mask", vocab.THERAPIST_LICENSES),
    "languages": ("languages_mask", vocab.LANGUAGES),
    "interpreter_languages": ("interpreter_languages_mask", vocab.LANGUAGES),
}


@dataclass
class ClinicRows:
    """One clinic as plain rows: the clinic's column values and its child rows (without keys).

    ``clinic`` may use list fields (``methods=["iv"]``) or mask columns (``methods_mask=1``);
    insurance rows may use ``plan_types`` or ``plan_types_mask``. Missing columns get the model's
    defaults; derived columns are always recomputed.
    """

    clinic: dict[str, Any]
    insurance: list[dict[str, Any]] = field(default_factory=list)
    prices: list[dict[str, Any]] = field(default_factory=list)
    at_home_states: list[str] = field(default_factory=list)


def _column_defaults(table) -> tuple[dict[str, Any], dict[str, Any]]:
    scalars: dict[str, Any] = {}
    callables: dict[str, Any] = {}
    for col in table.columns:
        d = col.default
        if d is None:
            scalars[col.key] = None
        elif d.is_scalar:
            scalars[col.key] = d.arg
        elif d.is_callable:
            callables[col.key] = d.arg
        else:  # a SQL expression default: none on these tables today
            scalars[col.key] = None
    return scalars, callables


_CLINIC_SCALARS, _CLINIC_CALLABLES = _column_defaults(CLINIC)
_CLINIC_CALLABLES.pop("id", None)  # ids are handled explicitly
_CLINIC_CALLABLES.pop("created_at", None)
_CLINIC_CALLABLES.pop("updated_at", None)
_CLINIC_KEYS = frozenset(c.key for c in CLINIC.columns)


def clinic_row(values: dict[str, Any], now=None) -> dict[str, Any]:
    """A complete clinic row (every column) from partial values, derived columns included."""
    values = dict(values)
    for name, (column, vocabulary) in LIST_FIELDS.items():
        if name in values:
            values[column] = vocabulary.mask(values.pop(name))
    row = dict(_CLINIC_SCALARS)
    for key, make in _CLINIC_CALLABLES.items():
        if key not in values:
            row[key] = make(None)
    row.update((k, v) for k, v in values.items() if k in _CLINIC_KEYS)
    if row.get("id") is None:
        row["id"] = new_id()
    if row.get("created_at") is None:
        row["created_at"] = now or utcnow()
    if row.get("updated_at") is None:
        row["updated_at"] = row["created_at"]
    if row.get("version") is None:
        row["version"] = 1
    row.update(derived_columns(row))
    return row


def insurance_row(clinic_id: str, values: dict[str, Any]) -> dict[str, Any]:
    values = dict(values)
    mask = values.pop("plan_types_mask", None)
    if "plan_types" in values:
        mask = vocab.PLAN_TYPES.mask(values.pop("plan_types"))
    return {"clinic_id": clinic_id, "carrier": values["carrier"], "service": values["service"],
            "network": values["network"], "plan_types_mask": mask or 0, "as_of": values.get("as_of")}


def price_row(clinic_id: str, values: dict[str, Any]) -> dict[str, Any]:
    return {"clinic_id": clinic_id, "service": values["service"], "min_usd": values.get("min_usd"),
            "max_usd": values.get("max_usd"), "as_of": values.get("as_of")}


def to_orm(record: ClinicRows) -> Clinic:
    """The same clinic as ORM objects, for small loads and for checking the bulk path against."""
    row = clinic_row(record.clinic)
    clinic = Clinic(**{k: v for k, v in row.items()})
    for values in record.insurance:
        clinic.insurance.append(ClinicInsurance(**{k: v for k, v in insurance_row(row["id"], values).items()
                                                   if k != "clinic_id"}))
    for values in record.prices:
        clinic.prices.append(ClinicPrice(**{k: v for k, v in price_row(row["id"], values).items()
                                           if k != "clinic_id"}))
    clinic.at_home_states = record.at_home_states
    return clinic


def _connection(bind: Session | Connection) -> Connection:
    """The connection of a Connection, a Session or a scoped session (Flask-SQLAlchemy's)."""
    return bind if isinstance(bind, Connection) else bind.connection()


def _batches(records: Iterable[ClinicRows], size: int) -> Iterator[list[ClinicRows]]:
    it = iter(records)
    while batch := list(islice(it, size)):
        yield batch


def _rows_of(batch: list[ClinicRows], now) -> tuple[list[dict], list[dict], list[dict], list[dict]]:
    clinics, insurance, prices, states = [], [], [], []
    for record in batch:
        row = clinic_row(record.clinic, now)
        clinics.append(row)
        cid = row["id"]
        insurance.extend(insurance_row(cid, v) for v in record.insurance)
        prices.extend(price_row(cid, v) for v in record.prices)
        states.extend({"clinic_id": cid, "state": s} for s in vocab.STATES.ordered(record.at_home_states))
    return clinics, insurance, prices, states


def _use_copy(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"


def _executemany(conn: Connection, table, rows: list[dict]) -> None:
    """Core ``insert(table)`` executed with the DBAPI's executemany.

    The statement and each column's bind processor (JSON, UTC datetimes, dates...) come from
    SQLAlchemy; applying them here once per column, rather than through the per-row parameter
    assembly of ``conn.execute(insert(table), rows)``, makes large loads about a third faster.
    """
    keys = list(rows[0])
    compiled = insert(table).compile(dialect=conn.dialect, column_keys=keys)
    dialect = conn.dialect
    procs = {k: table.c[k].type.dialect_impl(dialect).bind_processor(dialect) for k in keys}
    if compiled.positional:
        order = list(compiled.positiontup or [])
        if sorted(order) != sorted(keys):  # a statement we cannot map to columns: let Core do it
            conn.execute(insert(table), rows)
            return
        take = itemgetter(*order) if len(order) > 1 else (lambda row: (row[order[0]],))
        convert = [(i, procs[k]) for i, k in enumerate(order) if procs[k] is not None]
        params = []
        for row in rows:
            values = list(take(row))
            for i, p in convert:
                values[i] = p(values[i])
            params.append(tuple(values))
    else:
        params = [{k: (procs[k](v) if procs[k] else v) for k, v in row.items()} for row in rows]
    conn.exec_driver_sql(compiled.string, params)


def _copy(conn: Connection, table, rows: list[dict]) -> None:
    """PostgreSQL COPY of complete rows (psycopg 3), in the connection's open transaction."""
    from psycopg.types.json import Json

    if not rows:
        return
    keys = list(rows[0])
    json_keys = {c.key for c in table.columns if isinstance(c.type, JSON)}
    cols = ", ".join(conn.dialect.identifier_preparer.quote(table.c[k].name) for k in keys)
    take = itemgetter(*keys) if len(keys) > 1 else (lambda row: (row[keys[0]],))
    wrap = [i for i, k in enumerate(keys) if k in json_keys]
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:
        with cur.copy(f"COPY {conn.dialect.identifier_preparer.format_table(table)} ({cols}) FROM STDIN") as copy:
            write = copy.write_row
            for row in rows:
                values = take(row)
                if wrap:
                    values = list(values)
                    for i in wrap:
                        values[i] = Json(values[i])
                write(values)


def insert_clinics(bind: Session | Connection, records: Iterable[ClinicRows], *,
                   batch_size: int = BATCH_SIZE, use_copy: bool | None = None, now=None) -> int:
    """Insert clinics and their child rows in batches, inside the caller's transaction.

    ``records`` may be a generator: at most one batch is held in memory. ``use_copy`` defaults to
    COPY on PostgreSQL + psycopg and Core executemany elsewhere. Returns the number of clinics.
    """
    conn = _connection(bind)
    copy = _use_copy(conn) if use_copy is None else use_copy
    now = now or utcnow()
    count = 0
    with loading_cache(conn), search_triggers_once(conn), cyclic_gc_paused():
        for batch in _batches(records, batch_size):
            clinics, insurance, prices, states = _rows_of(batch, now)
            for table, rows in ((CLINIC, clinics), (INSURANCE, insurance), (PRICE, prices), (AT_HOME, states)):
                if not rows:
                    continue
                if copy:
                    _copy(conn, table, rows)
                else:
                    _executemany(conn, table, rows)
            count += len(clinics)
    return count


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Python's cycle collector off while rows stream through: they hold no cycles (reference
    counting frees each batch), yet the millions of short-lived dicts kept triggering collections
    that walk every object of the process, a third of a large load's Python time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def loading_cache(conn: Connection, kib: int = LOAD_CACHE_KIB) -> Iterator[None]:
    """A large SQLite page cache while loading, so the index pages of random UUID keys stay in
    memory instead of spilling into (and bloating) the WAL. SQLite allocates cache pages only as
    they are used. The connection goes back to the pool with its usual cache size."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = int(conn.exec_driver_sql("PRAGMA cache_size").scalar())
    # Never shrink a cache an outer caller has already enlarged.
    if before < 0 and -before >= kib:
        yield
        return
    conn.exec_driver_sql(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {before}")


#: A load of at least this many clinics into an empty directory builds the indexes after the rows.
REINDEX_FROM = 20_000


def _secondary_indexes(conn: Connection) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the clinic tables' indexes that no constraint owns."""
    names = (CLINIC.name, INSURANCE.name, PRICE.name, AT_HOME.name)
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({', '.join('?' * len(names))})", names).all()
    elif conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "WHERE t.relname = ANY(%(names)s) AND t.relnamespace = to_regnamespace(current_schema()) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
            {"names": list(names)}).all()
    else:
        return []
    return [(name, sql) for name, sql in rows]


@contextmanager
def _set_aside(conn: Connection, objects: list[tuple[str, str]], kind: str) -> Iterator[None]:
    """Drop these (name, CREATE statement) schema objects, and create them again after the block,
    in the caller's transaction: a failure restores them with everything else."""
    for name, _sql in objects:
        conn.exec_driver_sql(f'DROP {kind} "{name}"')
    try:
        yield
    finally:
        for _name, sql in objects:
            conn.exec_driver_sql(sql)


@contextmanager
def indexes_after(conn: Connection, enabled: bool = True) -> Iterator[None]:
    """Around a large load into an empty directory: the secondary indexes are dropped and built
    again after the rows, one sort each instead of a million insertions (several times faster on
    both engines). Use it only when no one is searching the directory yet: until the load commits,
    dropping an index holds other readers of the table back (PostgreSQL) or from the new rows (SQLite)."""
    with _set_aside(conn, _secondary_indexes(conn) if enabled else [], "INDEX"):
        yield


@contextmanager
def search_triggers_once(conn: Connection) -> Iterator[None]:
    """Around a bulk write on SQLite, whose triggers run once per row: migration 0007's
    ``search_bump_*`` triggers are set aside and the search generation moves once at the end (with
    migration 0011's rebuild marker: the change log lists none of the load's clinics).
    PostgreSQL's run once per statement already: nothing to do."""
    if conn.dialect.name != "sqlite":
        yield
        return
    triggers = [(name, sql) for name, sql in conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'search_bump_%'").all()]
    with _set_aside(conn, triggers, "TRIGGER"):
        yield
    if triggers:
        conn.exec_driver_sql("UPDATE search_state SET generation = generation + 1 WHERE id = 1")
        if any(name == "search_bump_clinic_insert" and "search_change" in sql for name, sql in triggers):
            # Migration 0011's change log lists no clinic of this load: a rebuild marker says so.
            conn.exec_driver_sql("INSERT INTO search_change (generation, clinic_id) "
                                 "SELECT generation, NULL FROM search_state WHERE id = 1")


def analyze(bind: Session | Connection) -> None:
    """Refresh the planner's statistics of the clinic tables after a large load, so the first
    searches use the indexes well (SQLite's sqlite_stat1, PostgreSQL's pg_statistic)."""
    conn = _connection(bind)
    for table in (CLINIC, INSURANCE, PRICE, AT_HOME):
        conn.exec_driver_sql(f"ANALYZE {conn.dialect.identifier_preparer.format_table(table)}")


def cache_kib_for(clinics: int) -> int:
    """The SQLite page cache to load this many clinics without spilling: at least the default."""
    return max(LOAD_CACHE_KIB, min(MAX_LOAD_CACHE_KIB, clinics * CACHE_KIB_PER_CLINIC))


def delete_clinics(bind: Session | Connection, where: ColumnElement[bool]) -> int:
    """Delete the clinics matching ``where`` and every row that refers to them, in the caller's
    transaction, whatever tables other features add (a SET NULL reference is cleared instead)."""
    conn = _connection(bind)
    with loading_cache(conn), search_triggers_once(conn):
        return _delete_clinics(conn, where)


def _delete_clinics(conn: Connection, where: ColumnElement[bool]) -> int:
    ids = select(CLINIC.c.id).where(where)
    for table in reversed(Base.metadata.sorted_tables):
        if table is CLINIC:
            continue
        for fk in table.foreign_keys:
            if fk.column is not CLINIC.c.id:
                continue
            if (fk.ondelete or "").upper() == "SET NULL":
                conn.execute(update(table).where(fk.parent.in_(ids)).values({fk.parent.key: None}))
            else:
                conn.execute(delete(table).where(fk.parent.in_(ids)))
    return conn.execute(delete(CLINIC).where(where)).rowcount or 0

