"""The index engine: a distance-ranked ``Plan`` answered from the in-memory index. No Flask here.

Same groups, order and totals as the SQL engine (``tests/test_searchindex.py`` holds them equal). The
page is computed from this process's snapshot first; the token read with its cards says whether the
session sees that snapshot's data. If not, the snapshot is brought up to date (or SQL answers while
it rebuilds).
"""
from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from .. import vocab
from . import registry
from .cards import cache_for
from .criteria import SearchCriteria
from .freshness import TOKEN_SQL, Token, token_of
from .index import Filters, Snapshot, coverage_wanted, micros
from .plan import Answer, Plan


def filters_for(criteria: SearchCriteria) -> Filters:
    """The criteria's filter groups as the index tests them."""
    return Filters(
        methods=vocab.METHODS.mask(criteria.methods), conditions=vocab.CONDITIONS.mask(criteria.conditions),
        languages=vocab.LANGUAGES.mask(criteria.languages),
        accepting=criteria.accepting, carrier=criteria.insurance,
        coverage=coverage_wanted(criteria.service, criteria.methods, criteria.plan_type)
        if criteria.insurance else ())


def answer(session: Session, plan: Plan, store=cache_for) -> Answer | None:
    """The answer, with its cards, when a snapshot valid for what ``session`` sees gives it; else None.
    ``store(snapshot)`` keeps what is read per clinic (``load_then``): cards, or the API's
    pre-encoded results (``summaries.store_for``), which the answer then holds instead."""
    snapshot = registry.current(session)
    token = None
    if snapshot is not None:
        found, token = _answer(session, snapshot, plan, store)
        if found is not None:
            return found
    found_lookup = registry.lookup(session, token=token)
    snapshot = found_lookup.snapshot or found_lookup.newer
    if snapshot is not None:  # (a newer one answers if the session sees it by now; else SQL)
        found, _token = _answer(session, snapshot, plan, store)
        return found
    return None


def _answer(session: Session, snapshot: Snapshot, plan: Plan, store=cache_for) -> tuple[Answer | None, Token | None]:
    """The snapshot's answer and the token the session sees; no answer when that is not the snapshot's."""
    loc = plan.point
    radius = plan.criteria.radius
    f = filters_for(plan.criteria)
    empty = np.empty(0, dtype=np.int64)
    near = snapshot.within(loc.lat, loc.lon, radius, f) if plan.near else None
    home, confirmed = snapshot.in_state_at_home(plan.home_state, f) if plan.home_state else (empty, empty)
    if plan.near and len(home):
        keep = ~snapshot.near(home, loc.lat, loc.lon, radius)
        home, confirmed = home[keep], confirmed[keep]
    window = plan.window(near.total if near is not None else 0, len(home))
    rows: list[tuple[str, float | None, str | None]] = []
    if window.near:
        rows += [(cid, d, "distance") for cid, d in
                 snapshot.ranked(near, window.near.start, window.near.stop, loc.lat, loc.lon)]
    if window.in_state:
        stale = confirmed < micros(plan.cutoff)
        order = np.concatenate([np.flatnonzero(~stale), np.flatnonzero(stale)])
        take = order[window.in_state.start:window.in_state.stop]
        rows += [(cid, None, "state") for cid in snapshot.id_at(home[take])]
    cards, token_rows = store(snapshot).load_then(
        session, [cid for cid, _d, _m in rows], TOKEN_SQL, fresh=lambda got: token_of(got) == snapshot.token)
    token = token_of(token_rows)
    if cards is None:
        return None, token
    return Answer(rows, near.total if near is not None else 0, len(home), cards), token
