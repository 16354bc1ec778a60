"""One search index per database per process: which snapshot answers, when it is rebuilt. No Flask.

A search computes its page from this process's latest snapshot (``current``) and checks, with the
page's cards, that its session sees the data the snapshot was built from (``freshness``). When it
does not, ``lookup`` brings the snapshot up to date: by patching it with the clinics changed since
(``delta``: a few milliseconds, under a lock, so concurrent searches wait for one patch rather than
falling back to SQL), and past ``delta.REBASE_AT`` changed clinics by building a new base in the
background while the patched index answers. Only what cannot be patched (a bulk load, a restore,
a log trimmed past the snapshot) rebuilds before the index answers again: at once when a build is
quick, else in a background thread (once a build takes longer than ``SYNC_BUILD_S``) while SQL
answers. gunicorn's master builds the index before it forks its workers (``warm``), so they share
its arrays.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from . import delta
from .build import build as build_index
from .cards import cache_for
from .summaries import store_for
from .freshness import Token, has_state_table, read_token
from .index import Snapshot

log = logging.getLogger(__name__)

#: Rebuilds that took longer than this run in a background thread; searches use SQL meanwhile.
SYNC_BUILD_S = 0.5


class _Entry:
    def __init__(self) -> None:
        self.snapshot: Snapshot | delta.Patched | None = None
        self.lock = threading.Lock()
        self.patching = threading.Lock()
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
        delta.prepare(snapshot)
        with entry.patching:
            current = entry.snapshot
            if current is None or current.token[0] != snapshot.token[0] or current.token[1] < snapshot.token[1]:
                entry.snapshot = snapshot
            elif isinstance(current, delta.Patched):  # a new base: it takes on what was patched meanwhile
                entry.snapshot = snapshot if current.token == snapshot.token else _patched(engine, snapshot) or current
            # else a whole snapshot as new as this one is there already
            if current is not None and entry.snapshot is not current:
                _carry_over(engine, current, entry.snapshot)
    except Exception:  # the SQL path keeps answering; the next search tries again
        log.exception("search index: rebuild failed")
    finally:
        entry.building = False


@dataclass
class Lookup:
    """What a search needs from this module: the token its session sees and, if valid, the snapshot."""

    token: Token | None
    snapshot: Snapshot | delta.Patched | None
    #: When no snapshot stands for ``token``: this process's index if it is newer (the session began
    #: before a commit the index has). A search may try it: its own read of the token with its
    #: cards says whether the session sees it by then (READ COMMITTED does).
    newer: Snapshot | delta.Patched | None = None


def current(session: Session) -> Snapshot | delta.Patched | None:
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
    if snapshot is not None and token is not None and snapshot.token[0] == token[0]:
        if token[1] < snapshot.token[1]:  # a transaction begun before a change this process has
            return Lookup(token, None, snapshot)
        patched = _patch(engine, entry, token)
        if patched is not None:
            if patched.token == token:
                return Lookup(token, patched)
            return Lookup(token, None, patched if patched.token[1] > token[1] else None)
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


def _patched(engine: Engine, current: Snapshot | delta.Patched) -> Snapshot | delta.Patched | None:
    """``current`` patched up to now, its card cache carried over without the changed clinics."""
    try:
        advanced = delta.advance(engine, current)
    except Exception:  # a rebuild takes over
        log.exception("search index: patching failed")
        return None
    if isinstance(advanced, delta.Patched) and advanced is not current:
        cache_for(advanced).keep_from(cache_for(current), advanced.latest)
        store_for(advanced).keep_from(store_for(current), advanced.latest)
    return advanced


def _carry_over(engine: Engine, old: Snapshot | delta.Patched, new: Snapshot | delta.Patched) -> None:
    """A new base takes the pre-encoded API results of the state it replaces, but those of the
    clinics changed in between: the results encoded before gunicorn forked stay in use after a
    re-base. Nothing is carried when the change log cannot say what changed."""
    if len(store_for(new)) or not len(store_for(old)):
        return
    dropped = delta.changed_between(engine, old.token, new.token)
    if dropped is not None:
        store_for(new).keep_from(store_for(old), dropped)


def _patch(engine: Engine, entry: _Entry, token: Token) -> Snapshot | delta.Patched | None:
    """The entry's snapshot patched up to what the searching session sees (or later), once for
    all the threads that ask meanwhile; None when only a rebuild will do."""
    if not entry.patching.acquire(timeout=5):
        return None
    try:
        current = entry.snapshot
        if current is None or current.token[0] != token[0]:
            return None
        if current.token[1] >= token[1]:
            return current
        advanced = _patched(engine, current)
        if advanced is None:
            return None
        entry.snapshot = advanced
    finally:
        entry.patching.release()
    if isinstance(advanced, delta.Patched) and len(advanced.changed) > delta.REBASE_AT:
        with entry.lock:
            if entry.building:
                return advanced
            entry.building = True
        apart = advanced.base.built_s > SYNC_BUILD_S  # a small base is rebuilt in this process
        threading.Thread(target=_rebuild, args=(engine, entry, apart), name="search-index", daemon=True).start()
    return advanced


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
