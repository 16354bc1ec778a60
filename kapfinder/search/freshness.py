"""Which state of the directory a session sees: the ``search_state`` token. No Flask here.

Migration 0007 keeps ``search_state`` (epoch, generation) moving with every write to the clinic
tables, inside the writing transaction. A search reads it through its own session; the in-memory
index answers only when it stands for exactly that token (``registry``: built at it, or patched up
to it with the clinics migration 0011's ``search_change`` lists, ``delta``), and whatever is kept
from a search's result (``search_cache_key``) is keyed by it. A restore starts a new epoch, so no
index built before it may take the restored data for what it saw.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..db import raw_fetchall
from .criteria import SearchCriteria

#: (epoch, generation)
Token = tuple[str, int]
TOKEN_SQL = "SELECT epoch, generation FROM search_state WHERE id = 1"

_HAS_STATE: dict[Any, bool] = {}


def has_state_table(bind: Session | Connection) -> bool:
    """Whether migration 0007's ``search_state`` exists (asked once per database URL)."""
    engine = bind if isinstance(bind, Connection) else bind.get_bind()
    engine = engine.engine if isinstance(engine, Connection) else engine
    url = engine.url
    if url not in _HAS_STATE:
        if engine.dialect.name == "postgresql":
            sql = ("SELECT count(*) FROM information_schema.tables "
                   "WHERE table_name = 'search_state' AND table_schema = current_schema()")
        else:
            sql = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'search_state'"
        found = bool(bind.execute(text(sql)).scalar())
        if not found:
            return False  # asked again next time: the migration may run meanwhile
        _HAS_STATE[url] = True
    return _HAS_STATE[url]


def read_token(bind: Session | Connection) -> Token | None:
    if isinstance(bind, Connection):
        return token_of(bind.execute(text(TOKEN_SQL)).all())
    return token_of(raw_fetchall(bind, TOKEN_SQL))  # every search asks: straight through the driver


def token_of(rows: list) -> Token | None:
    """The token in the rows ``TOKEN_SQL`` returned."""
    return (rows[0][0], int(rows[0][1])) if rows else None


def new_epoch(conn: Connection) -> None:
    """After a restore: no index built before it may take the restored data for what it saw."""
    conn.execute(text("UPDATE search_state SET epoch = :epoch WHERE id = 1"), {"epoch": str(uuid.uuid4())})


def search_cache_key(session: Session, criteria: SearchCriteria) -> str | None:
    """A key for whatever is computed from this search's result, valid until the directory
    changes (it holds the data's generation), or None where there is no generation to trust."""
    if not has_state_table(session):
        return None
    token = read_token(session)
    if token is None:
        return None
    query = json.dumps(criteria.as_query(), sort_keys=True, separators=(",", ":"))
    return f"search:{token[0]}:{token[1]}:{hashlib.sha256(query.encode()).hexdigest()}"
