"""Committed changes reach the search index without a rebuild, and its answers stay exact meanwhile.

Migration 0011 lists the clinics each write changed; ``search.delta.Patched`` answers from the
snapshot built before the writes plus the changed clinics re-read from SQL. Here writes of every
kind a directory sees (re-confirmations, field edits, approvals, unpublishing, at-home states,
insurance, a rolled-back write) are interleaved with searches, each answered by the index and by
SQL, on whichever engine the suite runs.
"""
from __future__ import annotations

import random
import time
from datetime import timedelta

import pytest
from sqlalchemy import text

from kapfinder import vocab
from kapfinder.bulk import delete_clinics
from kapfinder.models import Clinic, ClinicInsurance, utcnow
from kapfinder.search import delta, registry
from kapfinder.search.freshness import read_token
import test_searchindex
from test_searchindex import _args, _both, _facts, _ids, random_queries

directory = test_searchindex.directory  # the same ~300-clinic directory, as a fixture here too

pytestmark = pytest.mark.usefixtures("directory")


def _fresh_base(session):
    """A whole snapshot built now, so what follows is patched onto it."""
    engine = session.get_bind()
    entry = registry._entry(engine)
    entry.building = True
    registry._rebuild(engine, entry)
    session.rollback()
    base = entry.snapshot
    assert base is not None and not isinstance(base, delta.Patched)
    return base


def _check(session, queries, now, base=None):
    """Index and SQL agree on every query; with ``base``, the index answered patched onto it."""
    for query in queries:
        fast, slow = _both(session, query, now)
        assert _facts(fast) == _facts(slow), query
    current = registry.current(session)
    if base is not None:
        assert isinstance(current, delta.Patched) and current.base is base, "the index was rebuilt"
    return current


def _changes(session, since: int) -> list:
    return session.execute(text("SELECT clinic_id FROM search_change WHERE generation > :g"), {"g": since}).scalars().all()


@pytest.mark.parametrize("seed", [7, 8])
def test_answers_stay_exact_while_every_kind_of_change_streams_in(db_session, directory, seed):
    rng = random.Random(seed)
    now = utcnow()
    base = _fresh_base(db_session)
    published = [c for c in directory if c.status == "published"]
    pending = [c for c in directory if c.status == "pending"]
    writes = [
        ("re-confirmation", lambda c: setattr(c, "confirmed_at", now - timedelta(minutes=rng.randint(0, 5))), published),
        ("re-confirmation at a shared time", lambda c: setattr(c, "confirmed_at", published[0].confirmed_at), published),
        ("rename", lambda c: setattr(c, "name", rng.choice(["aardvark", "Zulu", "beta"]) + f" {c.id[:4]}"), published),
        ("move", lambda c: (setattr(c, "lat", 30.27 + rng.uniform(-0.5, 0.5)),
                            setattr(c, "lon", -97.74 + rng.uniform(-0.5, 0.5))), published),
        ("methods", lambda c: setattr(c, "methods", rng.sample(vocab.METHODS.slugs, k=2)), published),
        ("accepting", lambda c: setattr(c, "accepting_new_patients", not c.accepting_new_patients), published),
        ("approval", lambda c: setattr(c, "status", "published"), pending),
        ("unpublishing", lambda c: setattr(c, "status", "archived"), published),
        ("at-home states", lambda c: (setattr(c, "settings", ["in-clinic", "at-home"]),
                                      setattr(c, "at_home_states", ["TX", "NY"])), published),
    ]
    queries = list(random_queries(200, seed=31 + seed))
    for i, (_kind, write, pool) in enumerate(writes * 2):
        clinic = rng.choice(pool)
        write(clinic)
        db_session.commit()
        _check(db_session, queries[i * 10:(i + 1) * 10], now, base)
    # Insurance rows change on their own table.
    clinic = published[3]
    db_session.add(ClinicInsurance(clinic_id=clinic.id, carrier=vocab.CARRIERS.slugs[0], service="ketamine",
                                   network=vocab.NETWORKS.slugs[0]))
    db_session.commit()
    current = _check(db_session, [_args(location="78701", radius=500, insurance=vocab.CARRIERS.slugs[0], per_page=100)],
                     now, base)
    assert clinic.id in current.changed


def test_every_page_of_a_wide_search_tiles_the_ranking_after_changes(db_session, directory):
    now = utcnow()
    base = _fresh_base(db_session)
    published = [c for c in directory if c.status == "published"]
    for clinic in published[:40:3]:  # newest now, tied with each other: names decide among them
        clinic.confirmed_at = now - timedelta(days=1)
    db_session.commit()
    seen = []
    for page in range(1, 60):
        query = _args(location="78701", radius=500, per_page=7, page=page)
        _check(db_session, [query], now, base)
        fast, _slow = _both(db_session, query, now)
        seen += [h.clinic.id for h in fast.hits]
        if not fast.hits:
            break
    assert len(seen) == len(set(seen)) == fast.total > 30


def test_a_rolled_back_write_leaves_no_trace(db_session, directory):
    base = _fresh_base(db_session)
    token = read_token(db_session)
    clinic = next(c for c in directory if c.status == "published")
    clinic.status = "archived"
    clinic.name = "Never Saved"
    db_session.flush()
    db_session.rollback()
    db_session.rollback()
    assert read_token(db_session) == token and _changes(db_session, token[1]) == []
    _check(db_session, list(random_queries(20, seed=4)), utcnow())
    assert registry.current(db_session) is base  # nothing to patch: the base answers as built


def test_a_change_is_searchable_right_after_its_commit_from_another_connection(db_session, directory, make_clinic):
    base = _fresh_base(db_session)
    clinic = make_clinic(name="Just Listed", lat=30.2713, lon=-97.7426)
    engine = db_session.get_bind()
    assert clinic.id in _ids(db_session, radius=1)
    with engine.begin() as conn:  # another process's write, raw SQL
        conn.execute(text("UPDATE clinic SET status = 'archived' WHERE id = :id"), {"id": clinic.id})
    db_session.rollback()
    started = time.perf_counter()
    assert clinic.id not in _ids(db_session, radius=1)
    assert time.perf_counter() - started < 1.0
    current = registry.current(db_session)
    assert isinstance(current, delta.Patched) and current.base is base and current.token == read_token(db_session)


def test_a_bulk_write_or_a_trimmed_log_rebuilds_the_index_in_full(db_session, directory):
    now = utcnow()
    base = _fresh_base(db_session)
    doomed = [c.id for c in directory[:30]]
    renamed = directory[40].id
    db_session.remove()
    if db_session.get_bind().dialect.name == "postgresql":
        db_session.execute(text("TRUNCATE clinic_at_home_state"))  # lists no clinic: a rebuild marker
    else:
        delete_clinics(db_session, Clinic.id.in_(doomed))  # sets the per-row triggers aside: a rebuild marker
    db_session.commit()
    assert None in _changes(db_session, base.token[1])
    _check(db_session, list(random_queries(20, seed=8)), now)
    rebuilt = registry.current(db_session)
    assert not isinstance(rebuilt, delta.Patched) and rebuilt is not base

    # The log keeps the last 10,000 generations: an index older than its floor rebuilds too.
    db_session.execute(text("UPDATE search_state SET change_floor = generation + 1 WHERE id = 1"))
    db_session.commit()
    clinic = db_session.get(Clinic, renamed)
    clinic.name = "After The Floor"
    db_session.commit()
    _check(db_session, list(random_queries(20, seed=9)), now)
    assert not isinstance(registry.current(db_session), delta.Patched)


def test_past_the_rebase_point_a_new_base_is_built_while_the_patched_index_answers(db_session, directory, monkeypatch):
    monkeypatch.setattr(delta, "REBASE_AT", 5)
    now = utcnow()
    base = _fresh_base(db_session)
    published = [c for c in directory if c.status == "published"]
    for clinic in published[:8]:
        clinic.confirmed_at = now - timedelta(hours=1)
        db_session.commit()
        _check(db_session, list(random_queries(3, seed=len(clinic.name))), now)
    deadline = time.monotonic() + 20
    while True:
        db_session.rollback()
        _check(db_session, list(random_queries(3, seed=2)), now)
        current = registry.current(db_session)
        if getattr(current, "base", current) is not base:
            break
        assert time.monotonic() < deadline, "no new base was built"
        time.sleep(0.05)
    _check(db_session, list(random_queries(40, seed=12)), now)
