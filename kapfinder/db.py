"""Engine set-up and write transactions, shared by the app, the CLI and the benchmark.

SQLite (the embedded default) runs in WAL mode with a busy timeout and foreign keys on, and
every write transaction starts with ``BEGIN IMMEDIATE`` so two writers queue instead of one
failing with "database is locked" half-way through. Reads use plain deferred ``BEGIN`` so they
never wait on each other.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session, scoped_session

IMMEDIATE = "kapfinder_immediate"
BUSY_TIMEOUT_MS = 15000
#: SQLite's own page cache per connection (its default is 2 MB). The operating system caches the
#: file already and a search reads only its page of cards, so each of a worker's connections keeps
#: a small one; bulk loads enlarge theirs while they run (bulk.loading_cache).
PAGE_CACHE_KIB = 512


def configure_engine(engine: Engine) -> None:
    if engine.dialect.name != "sqlite" or getattr(engine, "_kapfinder_configured", False):
        return
    engine._kapfinder_configured = True  # type: ignore[attr-defined]

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every test
        # Let SQLAlchemy, not pysqlite, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "memory":
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if conn.get_execution_options().get(IMMEDIATE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


@contextmanager
def write_transaction(session: Session) -> Iterator[Session]:
    """Run a read-modify-write unit of work as one transaction that takes the write lock first.

    Whatever the session was reading before is finished first: a deferred SQLite transaction
    that has already read cannot safely be upgraded to a writer.
    """
    if isinstance(session, scoped_session):  # Flask-SQLAlchemy's db.session
        session = session()
    if session.in_transaction():
        session.commit()
    session.connection(execution_options={IMMEDIATE: True})
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def raw_fetchall(session: Session, sql: str, ids: Sequence[Any] = ()) -> list[tuple]:
    """Rows of ``sql`` straight from the driver, in the session's transaction, for the few hot
    read paths where SQLAlchemy's per-statement work costs more than the query itself (a search
    runs several such statements). ``IN {ids}`` in ``sql`` becomes ``IN (?, ?, …)`` for ``ids``
    (``= ANY(%s)`` with one array on PostgreSQL).

    Values come back as the driver gives them (convert with the column types where needed).
    """
    return raw_fetchall_many(session, [(sql, ids)])[0]


def raw_fetchall_many(session: Session, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple]]:
    """``raw_fetchall`` for several independent statements; with psycopg they travel in one
    pipeline, so the whole batch costs one round trip to the server instead of one each."""
    conn = session.connection()
    mark = _PLACEHOLDERS.get(conn.dialect.paramstyle)
    if mark is None:  # a driver with another parameter style: let SQLAlchemy do it
        out = []
        for sql, ids in statements:
            names = {f"p{i}": v for i, v in enumerate(ids)}
            marks = ", ".join(f":p{i}" for i in range(len(ids)))
            out.append([tuple(r) for r in conn.execute(text(sql.replace("{ids}", f"({marks})")), names).all()])
        return out
    prepared = [_driver_sql(conn.dialect.name, mark, sql, ids) for sql, ids in statements]
    raw = conn.connection.dbapi_connection
    cursors = [raw.cursor() for _ in prepared]
    try:
        if len(prepared) > 1 and conn.dialect.driver == "psycopg":
            with raw.pipeline():
                for cursor, (sql, params) in zip(cursors, prepared):
                    cursor.execute(sql, params)
                return [cursor.fetchall() for cursor in cursors]
        for cursor, (sql, params) in zip(cursors, prepared):
            cursor.execute(sql, params)
        return [cursor.fetchall() for cursor in cursors]
    finally:
        for cursor in cursors:
            cursor.close()


def _driver_sql(dialect: str, mark: str, sql: str, ids: Sequence[Any]) -> tuple[str, tuple]:
    times = sql.count("{ids}")  # each occurrence takes the ids again
    if dialect == "postgresql":
        # One array parameter: the statement text never changes, so psycopg prepares it once and
        # the server stops planning it on every call.
        return sql.replace("IN {ids}", "= ANY(%s)"), (list(ids),) * times
    return sql.replace("{ids}", f"({', '.join([mark] * len(ids))})"), tuple(ids) * times
