"""One search index per database per process: which snapshot answers, when it is rebuilt. No Flask.

A search computes its page from this process's latest snapshot (``current``) and checks, with the
page's cards, that its session sees the data the snapshot was built from (``freshness``). When it
does not, ``lookup`` brings the snapshot up to date: at once when a build is quick, else in a
background thread (once a build takes longer than ``SYNC_BUILD_S``) while SQL answers. gunicorn's
master builds the index before it forks its workers (``warm``), so they share its arrays.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from .build import build as build_index
from .freshness import Token, has_state_table, read_token
from .index import Snapshot

log = logging.getLogger(__name__)

#: Rebuilds that took longer than this run in a background thread; searches use SQL meanwhile.
SYNC_BUILD_S = 0.5


class _Entry:
    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None
        self.lock = threading.Lock()
        self.building = False


_ENTRIES: dict[Any, _Entry] = {}
_ENTRIES_LOCK = threading.Lock()


def _entry(engine: Engine) -> _Entry:
    key = engine.url
    with _ENTRIES_LOCK:
        entry = _ENTRIES.get(key)
        if entry is None:
            entry = _ENTRIES[key] = _Entry()
        return entry


def _engine_of(session: Session) -> Engine | None:
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    if engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"):
        return None  # another connection would see another database
    return engine


def _rebuild(engine: Engine, entry: _Entry, apart: bool = False) -> None:
    try:
        snapshot = build_index(engine, apart)
        entry.snapshot = snapshot
    except Exception:  # the SQL path keeps answering; the next search tries again
        log.exception("search index: rebuild failed")
    finally:
        entry.building = False


@dataclass
class Lookup:
    """What a search needs from this module: the token its session sees and, if valid, the snapshot."""

    token: Token | None
    snapshot: Snapshot | None


def current(session: Session) -> Snapshot | None:
    """This process's latest snapshot for the session's database, without asking whether the
    session sees the same data: a search computes its page from it, then checks the token in the
    same round trip that loads the page's cards (``indexed.answer``)."""
    engine = _engine_of(session)
    if engine is None or not has_state_table(session):
        return None
    return _entry(engine).snapshot


def lookup(session: Session, *, build: bool = True, token: Token | None = None) -> Lookup:
    """The snapshot valid for what ``session`` sees (``token``, if already read), building or
    refreshing it when it is not."""
    engine = _engine_of(session)
    if engine is None or not has_state_table(session):
        return Lookup(None, None)
    token = token or read_token(session)
    entry = _entry(engine)
    snapshot = entry.snapshot
    if snapshot is not None and snapshot.token == token:
        return Lookup(token, snapshot)
    if not build:
        return Lookup(token, None)
    background = snapshot is not None and snapshot.built_s > SYNC_BUILD_S
    with entry.lock:
        if entry.building:
            return Lookup(token, None)
        if entry.snapshot is not snapshot and entry.snapshot is not None and entry.snapshot.token == token:
            return Lookup(token, entry.snapshot)
        entry.building = True
    if background:
        threading.Thread(target=_rebuild, args=(engine, entry, True), name="search-index", daemon=True).start()
        return Lookup(token, None)
    _rebuild(engine, entry)
    snapshot = entry.snapshot
    return Lookup(token, snapshot if snapshot is not None and snapshot.token == token else None)


def warm(engine: Engine) -> Snapshot | None:
    """Build the index now (gunicorn's master calls this before it forks its workers)."""
    with engine.connect() as conn:
        if not has_state_table(conn):
            return None
    entry = _entry(engine)
    with entry.lock:
        if entry.building:
            return entry.snapshot
        entry.building = True
    _rebuild(engine, entry, apart=True)
    return entry.snapshot
