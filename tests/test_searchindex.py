"""The in-memory search index answers exactly what SQL answers, and never from stale data.

``test_search.py`` holds the SQL path to an independent oracle; here every distance-ranked search is
run both ways (``use_index=True`` and ``False``) over a mixed directory, and the index is checked to
follow every committed write, to ignore uncommitted ones and to survive a restore.
"""
from __future__ import annotations

import random
import time
from datetime import timedelta

import pytest
from sqlalchemy import text

from fixtures.clinics import build_clinic
from kapfinder import vocab
from kapfinder.models import Clinic, utcnow
from kapfinder.search import build, cards, index, parse_criteria, registry, search
from kapfinder.search.freshness import read_token

# (ZIP, lat, lon, state) of places the directory is built around.
PLACES = [("78701", 30.2713, -97.7426, "TX"), ("73301", 30.2672, -97.7431, "TX"),
          ("10001", 40.7506, -73.9972, "NY"), ("07030", 40.7449, -74.0320, "NJ"),
          ("98101", 47.6114, -122.3305, "WA"), ("97201", 45.5076, -122.6905, "OR"),
          ("59001", 45.5244, -109.5426, "MT")]


def _args(**kw):
    return {k: (v if isinstance(v, list) else [str(v)]) for k, v in kw.items()}


@pytest.fixture
def directory(db_session):
    """~300 clinics around a few cities: every setting, status, filter column and insurance shape."""
    rng = random.Random(11)
    spoken = random.Random(12)  # languages draw apart, so the rest of the directory stays as it was
    now = utcnow()
    clinics = []
    for i in range(300):
        _zip, lat, lon, state = rng.choice(PLACES)
        settings = rng.choice([["in-clinic"], ["in-clinic"], ["at-home"], ["in-clinic", "at-home"]])
        exact = i % 17 == 0  # exact ties in distance
        insurance = []
        for carrier in rng.sample(vocab.CARRIERS.slugs, k=rng.randint(0, 3)):
            for service in rng.sample(vocab.SERVICES.slugs, k=rng.randint(1, 2)):
                insurance.append({"carrier": carrier, "service": service,
                                  "network": rng.choice(vocab.NETWORKS.slugs),
                                  "plan_types": rng.sample(vocab.PLAN_TYPES.slugs, k=rng.choice([0, 0, 1, 2]))})
        clinics.append(build_clinic(
            name=rng.choice(["alpha", "Beta", "gamma", "Delta", "Él"]) + f" clinic {i:03d}",
            lat=lat if exact else lat + rng.uniform(-2.5, 2.5), lon=lon if exact else lon + rng.uniform(-3, 3),
            state=state, settings=settings,
            at_home_states=rng.sample(["TX", "NY", "NJ", "WA", "OR", "MT", "CA"], k=2) if "at-home" in settings else [],
            status=rng.choice(["published"] * 8 + ["pending", "draft", "archived"]),
            confirmed_at=now - timedelta(days=rng.choice([1, 30, 89, 91, 400])),
            methods=rng.sample(vocab.METHODS.slugs, k=rng.randint(1, 3)),
            conditions=rng.sample(vocab.CONDITIONS.slugs, k=rng.randint(1, 3)),
            therapy=rng.choice(vocab.THERAPY.slugs), offers_evaluation=rng.random() < 0.5,
            accepting_new_patients=rng.choice([True, False, None]), insurance=insurance,
            **_languages(spoken)))
    db_session.add_all(clinics)
    db_session.commit()
    return clinics


#: A few languages, the last ones in the vocabulary among them (the high bits of the mask).
SOME_LANGUAGES = ["en", "es", "zh", "vi", "ase", "so", "uk", "nv"]


def _languages(rng) -> dict:
    """Staff languages and, for some clinics, interpreter services covering others."""
    interpreters = rng.random() < 0.3
    return {"languages": rng.sample(SOME_LANGUAGES, k=rng.choice([0, 1, 1, 2])), "interpreter_services": interpreters,
            "interpreter_languages": rng.sample(SOME_LANGUAGES, k=rng.randint(0, 2)) if interpreters else []}


def _both(session, query: dict, now):
    criteria = parse_criteria(query, api=True)
    fast = search(session, criteria, now=now)
    assert registry.lookup(session, build=False).snapshot is not None, "the index did not answer"
    slow = search(session, criteria, now=now, use_index=False)
    return fast, slow


def _facts(page):
    return (page.total, page.distance_total, page.state_total, page.pages,
            [(h.clinic.id, h.match, None if h.distance_mi is None else round(h.distance_mi, 9), h.coverage)
             for h in page.hits])


def random_queries(count: int, seed: int):
    rng = random.Random(seed)
    spoken = random.Random(seed + 1)
    for _ in range(count):
        zip5, lat, lon, _state = rng.choice(PLACES)
        q = {"location": zip5} if rng.random() < 0.7 else {"lat": round(lat + rng.uniform(-1, 1), 4),
                                                            "lon": round(lon + rng.uniform(-1, 1), 4)}
        q["radius"] = rng.choice([1, 5, 10, 25, 50, 100, 250, 500])
        if rng.random() < 0.4:
            q["method"] = rng.sample(vocab.METHODS.slugs, k=rng.randint(1, 2))
        if rng.random() < 0.3:
            q["condition"] = rng.sample(vocab.CONDITIONS.slugs, k=1)
        if rng.random() < 0.4:
            q["insurance"] = rng.choice(vocab.CARRIERS.slugs)
            if rng.random() < 0.5:
                q["plan_type"] = rng.choice(vocab.PLAN_TYPES.slugs)
            if rng.random() < 0.5:
                q["service"] = rng.choice(vocab.SERVICES.slugs)
        if rng.random() < 0.3:
            q["setting"] = rng.choice(vocab.SETTINGS.slugs)
        if rng.random() < 0.2:
            q["accepting"] = "1"
        if spoken.random() < 0.3:
            q["language"] = spoken.sample(SOME_LANGUAGES, k=spoken.randint(1, 2))
        q["per_page"] = rng.choice([1, 3, 20, 100])
        q["page"] = rng.choice([1, 1, 2, 3, 7])
        yield _args(**q)


def test_index_answers_every_distance_search_exactly_as_sql_does(db_session, directory):
    now = utcnow()
    checked = nonempty = 0
    for query in random_queries(160, seed=3):
        fast, slow = _both(db_session, query, now)
        assert _facts(fast) == _facts(slow), query
        checked += 1
        nonempty += bool(fast.hits)
    assert checked == 160 and nonempty > 50  # the mix really exercises pages with results


def test_every_page_of_a_wide_search_matches_and_the_pages_tile_the_ranking(db_session, directory):
    now = utcnow()
    seen = []
    for page in range(1, 40):
        fast, slow = _both(db_session, _args(location="78701", radius=500, per_page=7, page=page), now)
        assert _facts(fast) == _facts(slow)
        seen += [h.clinic.id for h in fast.hits]
        if not fast.hits:
            break
    assert len(seen) == len(set(seen)) == fast.total > 30


def test_one_page_holding_everything_matches(db_session, directory):
    criteria = parse_criteria(_args(location="10001", radius=500), api=True)
    from dataclasses import replace

    everything = replace(criteria, per_page=10**9)  # what the HSDS proximity list asks for
    now = utcnow()
    fast, slow = search(db_session, everything, now=now), search(db_session, everything, now=now, use_index=False)
    assert _facts(fast) == _facts(slow) and len(fast.hits) == fast.total > 0


def _ids(session, query="78701", radius=25):
    page = search(session, parse_criteria(_args(location=query, radius=radius, per_page=100), api=True))
    return [h.clinic.id for h in page.hits]


def test_a_committed_edit_is_searchable_at_once(db_session, make_clinic):
    near = make_clinic(name="Near", lat=30.2713, lon=-97.7426)
    assert _ids(db_session) == [near.id]
    far = make_clinic(name="Far away", lat=40.75, lon=-73.99)
    assert _ids(db_session) == [near.id]
    far.lat, far.lon = 30.30, -97.75  # it moves to Austin
    db_session.commit()
    assert _ids(db_session) == [near.id, far.id]
    near.status = "archived"
    db_session.commit()
    assert _ids(db_session) == [far.id]
    assert registry.lookup(db_session, build=False).snapshot is not None


def test_writes_outside_the_orm_move_the_index_too(db_session, make_clinic):
    clinic = make_clinic(name="Raw", lat=30.2713, lon=-97.7426)
    assert _ids(db_session) == [clinic.id]
    db_session.execute(text("UPDATE clinic SET status = 'archived' WHERE id = :id"), {"id": clinic.id})
    db_session.commit()
    assert _ids(db_session) == []
    db_session.execute(text("UPDATE clinic SET status = 'published' WHERE id = :id"), {"id": clinic.id})
    db_session.commit()
    assert _ids(db_session) == [clinic.id]
    insured = parse_criteria(_args(location="78701", insurance="aetna"), api=True)
    assert search(db_session, insured).total == 0
    db_session.execute(text("INSERT INTO clinic_insurance (clinic_id, carrier, service, network, plan_types_mask) "
                            "VALUES (:id, 'aetna', 'ketamine', 'in-network', 0)"), {"id": clinic.id})
    db_session.commit()
    assert search(db_session, insured).total == 1


def test_uncommitted_writes_are_seen_by_their_session_only_and_a_rollback_leaves_no_trace(db_session, make_clinic):
    clinic = make_clinic(name="Maybe", lat=30.2713, lon=-97.7426)
    assert _ids(db_session) == [clinic.id]
    clinic.status = "archived"
    db_session.flush()  # not committed: this session sees it, the index (committed data) does not
    assert _ids(db_session) == []
    db_session.rollback()
    assert _ids(db_session) == [clinic.id]
    assert registry.lookup(db_session, build=False).snapshot is not None


def test_a_slow_rebuild_runs_in_the_background_while_sql_answers(db_session, make_clinic, monkeypatch):
    first = make_clinic(name="First", lat=30.2713, lon=-97.7426)
    assert _ids(db_session) == [first.id]
    monkeypatch.setattr(registry, "SYNC_BUILD_S", -1.0)  # every rebuild counts as slow
    second = make_clinic(name="Second", lat=30.28, lon=-97.74)
    assert _ids(db_session) == [first.id, second.id]  # right at once, from SQL
    deadline = time.monotonic() + 20
    while registry.lookup(db_session, build=False).snapshot is None:
        assert time.monotonic() < deadline, "the background rebuild never finished"
        time.sleep(0.05)
        db_session.rollback()  # a fresh read of search_state
    assert _ids(db_session) == [first.id, second.id]


def test_every_write_to_the_clinic_tables_moves_the_generation(db_session, make_clinic):
    clinic = make_clinic(name="Counted", insurance=[{"carrier": "aetna", "service": "ketamine", "network": "in-network"}],
                         prices=[{"service": "ketamine", "min_usd": 400, "max_usd": 500}], at_home_states=["TX"],
                         settings=["in-clinic", "at-home"])
    seen = [read_token(db_session)]

    def moved(sql, **params):
        db_session.execute(text(sql), {"id": clinic.id, **params})
        db_session.commit()
        token = read_token(db_session)
        assert token != seen[-1], sql
        seen.append(token)

    moved("UPDATE clinic SET name = 'Renamed' WHERE id = :id")
    moved("UPDATE clinic_price SET min_usd = 300 WHERE clinic_id = :id")
    moved("DELETE FROM clinic_at_home_state WHERE clinic_id = :id")
    moved("DELETE FROM clinic_insurance WHERE clinic_id = :id")
    moved("DELETE FROM clinic WHERE id = :id")
    assert len({epoch for epoch, _g in seen}) == 1


def test_restoring_a_backup_starts_a_new_epoch(app, db_session, make_clinic, tmp_path):
    from kapfinder.cli.dbtools import backup, restore
    from kapfinder.extensions import db

    make_clinic(name="Backed up", lat=30.2713, lon=-97.7426)
    before = read_token(db_session)
    db_session.commit()
    backup(db.engine, tmp_path / "backup.dump")
    db.session.remove()
    restore(db.engine, tmp_path / "backup.dump")
    after = read_token(db.session)
    assert after[0] != before[0] and after[1] == before[1]
    assert [c.name for c in db.session.query(Clinic)] == ["Backed up"]


def test_a_bulk_load_is_searchable_at_once_and_leaves_the_triggers_in_place(db_session, make_clinic):
    from kapfinder import bulk, sample

    assert _ids(db_session, radius=500) == []
    records = list(sample.generate(sample.standard_zips(db_session), 400, seed=2))
    before = read_token(db_session)
    bulk.insert_clinics(db_session.connection(), iter(records))
    db_session.commit()
    assert read_token(db_session) != before
    wide = parse_criteria(_args(location="78701", radius=500), api=True)
    found = search(db_session, wide)
    assert registry.lookup(db_session, build=False).snapshot is not None
    assert _facts(found) == _facts(search(db_session, wide, use_index=False)) and found.total > 0
    # The per-row triggers are back: an ordinary write after the load still moves the generation.
    after_load = read_token(db_session)
    clinic = make_clinic(name="After the load", lat=30.2713, lon=-97.7426)
    assert read_token(db_session) != after_load
    assert clinic.id in _ids(db_session, radius=500)


def test_a_full_card_cache_starts_again_without_losing_a_result(db_session, directory, monkeypatch):
    monkeypatch.setattr(cards, "CARD_CACHE_SIZE", 5)
    now = utcnow()
    for query in random_queries(30, seed=9):
        fast, slow = _both(db_session, query, now)
        assert _facts(fast) == _facts(slow), query


def test_clinics_sharing_a_point_and_a_confirmation_time_rank_by_name_then_id(db_session, make_clinic):
    now = utcnow()
    names = ["delta", "Bravo", "alpha", "Charlie", "bravo"]
    clinics = [make_clinic(name=name, lat=30.2713, lon=-97.7426, confirmed_at=now) for name in names]
    older = make_clinic(name="Aardvark", lat=30.2713, lon=-97.7426, confirmed_at=now - timedelta(days=3))
    stale = make_clinic(name="Aaa stale", lat=30.2713, lon=-97.7426, confirmed_at=now - timedelta(days=120))
    by_name = sorted(clinics, key=lambda c: (c.name.lower(), c.id))
    assert _ids(db_session) == [c.id for c in by_name] + [older.id, stale.id]
    assert registry.lookup(db_session, build=False).snapshot is not None


def test_ids_that_are_not_canonical_uuids_are_still_found(db_session, make_clinic):
    # Written outside kapfinder (say with psql): the index keeps such ids as text.
    odd = make_clinic(id="Clinic-1-From-Psql", name="Odd id", lat=30.2713, lon=-97.7426)
    usual = make_clinic(name="Usual id", lat=30.30, lon=-97.75)
    assert _ids(db_session) == [odd.id, usual.id]
    assert registry.lookup(db_session, build=False).snapshot is not None


@pytest.mark.parametrize("how", ["fork", "fresh interpreter"])
def test_an_index_built_in_another_process_answers_exactly_as_sql_does(db_session, directory, how, monkeypatch):
    engine = db_session.get_bind()
    if how == "fork":
        snapshot = build._build_in_fork(engine)
    else:  # what a worker with threads does
        monkeypatch.setattr(build.threading, "active_count", lambda: 4)
        snapshot = build._build_apart(engine)
    assert snapshot.token == read_token(db_session) and snapshot.n > 200
    registry._entry(engine).snapshot = snapshot
    now = utcnow()
    for query in random_queries(40, seed=5):
        fast, slow = _both(db_session, query, now)
        assert registry.current(db_session) is snapshot  # no rebuild happened: this snapshot answered
        assert _facts(fast) == _facts(slow), query


def test_coverage_patterns_kept_apart_filter_exactly_as_the_common_ones(db_session, directory, monkeypatch):
    # A million clinics have thousands of coverage patterns per carrier; only the commonest get a
    # code of their own. With room for two, most clinics here take the other path.
    monkeypatch.setattr(index.Coverage, "COMMON", 2)
    now = utcnow()
    insured = 0
    for query in random_queries(120, seed=21):
        if "insurance" not in query:
            continue
        fast, slow = _both(db_session, query, now)
        assert _facts(fast) == _facts(slow), query
        insured += 1
    snapshot = registry.lookup(db_session, build=False).snapshot
    # The directory may have reached the index as a delta beside an earlier base (delta.Patched).
    parts = [snapshot.base, snapshot.delta] if hasattr(snapshot, "delta") else [snapshot]
    assert insured > 30 and sum(len(c.rare_positions) for part in parts for c in part.carriers.values()) > 100
