"""The JSON API answers index searches from each clinic's pre-encoded result (search.summaries):
the body must be exactly the one the result dicts give (serialize.search_response), for every kind
of search, result and page, whether the entries were read on demand or preloaded."""
from __future__ import annotations

import json

import orjson
import pytest

from kapfinder import sample
from kapfinder.formats import clinic_url
from kapfinder.search import parse_criteria, search
from kapfinder.search import summaries
from kapfinder.serialize import search_response

QUERIES = [
    {"location": "78701", "radius": "250"},
    {"location": "10001", "radius": "100", "page": "2"},
    {"location": "60601", "radius": "250", "insurance": "aetna"},
    {"location": "94103", "radius": "250", "insurance": "cigna", "plan_type": "ppo", "per_page": "50"},
    {"location": "33101", "radius": "250", "method": "iv", "insurance": "uhc"},
    {"location": "98101", "radius": "250", "service": "esketamine", "insurance": "humana"},
    {"location": "Austin, TX", "radius": "25", "accepting": "1"},
    {"location": "78701", "radius": "250", "language": "es", "per_page": "50"},
    {"location": "80202", "radius": "10"},  # at-home programmes serving the state, after the near ones
    {"location": "02108", "radius": "250", "condition": "ptsd", "page": "3", "per_page": "10"},
]


def _expected(app, db_session, params):
    criteria = parse_criteria({k: [v] for k, v in params.items()}, api=True)
    page = search(db_session, criteria)
    base = app.config["BASE_URL"]
    return orjson.dumps(search_response(page, lambda c: clinic_url(base, c.slug)),
                        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS) + b"\n"


@pytest.fixture
def directory(db_session):
    sample.load(db_session, 400, seed=18)


@pytest.mark.parametrize("preload", [False, True])
def test_the_pre_encoded_answer_is_the_dict_answer(app, client, db_session, directory, preload):
    if preload:  # as gunicorn's master does: a whole snapshot, every result encoded
        from kapfinder.extensions import db

        snapshot = _preload(db)
        assert len(summaries.store_for(snapshot)) == snapshot.n
    compared = 0
    for params in QUERIES:
        for headers in ({"Cache-Control": "no-cache"}, {}):
            got = client.get("/api/v1/clinics", query_string=params, headers=headers)
            assert got.status_code == 200, got.get_data(as_text=True)
            expected = _expected(app, db_session, params)
            assert json.loads(got.get_data()) == json.loads(expected), params
            assert got.get_data() == expected, params  # the same bytes, keys in the same order
            compared += len(json.loads(expected)["results"])
    assert compared > 100
    from kapfinder.extensions import db
    from kapfinder.search import registry

    assert len(summaries.store_for(registry.lookup(db.session).snapshot)) >= 50  # the index answered


def test_a_change_is_seen_at_once(client, db_session, make_clinic):
    clinic = make_clinic(name="Before", lat=30.2713, lon=-97.7426)
    url = "/api/v1/clinics?location=78701&radius=10"
    no_cache = {"Cache-Control": "no-cache"}
    assert [r["name"] for r in client.get(url, headers=no_cache).get_json()["results"]] == ["Before"]
    clinic.name = "After"
    db_session.commit()
    assert [r["name"] for r in client.get(url, headers=no_cache).get_json()["results"]] == ["After"]


def _preload(db):
    """A whole snapshot built now (as gunicorn's master builds one) with every result preloaded."""
    from kapfinder.search import delta, registry
    from kapfinder.search.freshness import TOKEN_SQL, token_of

    engine = db.session.get_bind()
    entry = registry._entry(engine)
    entry.building = True
    registry._rebuild(engine, entry)
    db.session.rollback()
    snapshot = registry.lookup(db.session).snapshot
    assert snapshot is not None and not isinstance(snapshot, delta.Patched)
    ids = snapshot.id_at(__import__("numpy").arange(snapshot.n))
    assert summaries.store_for(snapshot).preload(
        db.session, ids, TOKEN_SQL, fresh=lambda rows: token_of(rows) == snapshot.token)
    db.session.rollback()
    return snapshot


def _same_as_dicts(app, client, db_session):
    for params in QUERIES:
        got = client.get("/api/v1/clinics", query_string=params, headers={"Cache-Control": "no-cache"})
        assert got.status_code == 200, got.get_data(as_text=True)
        assert got.get_data() == _expected(app, db_session, params), params


def test_edits_patched_into_the_index_show_in_pre_encoded_answers(app, client, db_session, directory):
    """Preloaded results outlive writes (the index is patched, not rebuilt), but never the change:
    an edited clinic's result is read again, the others still come from the preloaded buffers, and
    a re-base in between keeps both true."""
    from kapfinder.extensions import db
    from kapfinder.models import Clinic
    from kapfinder.search import delta, registry

    base = _preload(db)
    near_austin = client.get("/api/v1/clinics", query_string=QUERIES[0],
                             headers={"Cache-Control": "no-cache"}).get_json()["results"]
    edited = db_session.get(Clinic, near_austin[0]["id"])
    edited.name = "Renamed After Preload"
    edited.phone = "+15125550199"
    db_session.commit()
    results = client.get("/api/v1/clinics", query_string=QUERIES[0],
                         headers={"Cache-Control": "no-cache"}).get_json()["results"]
    assert [r["name"] for r in results if r["id"] == edited.id] == ["Renamed After Preload"]
    current = registry.current(db.session)
    assert isinstance(current, delta.Patched) and current.base is base, "patched, not rebuilt"
    store = summaries.store_for(current)
    assert len(store) >= base.n - 1, "the preloaded results were carried over"
    _same_as_dicts(app, client, db_session)

    # A re-base (a new whole snapshot) keeps the carried results, still without the edited clinic.
    engine = db.session.get_bind()
    entry = registry._entry(engine)
    entry.building = True
    registry._rebuild(engine, entry)
    db.session.rollback()
    rebased = registry.current(db.session)
    assert not isinstance(rebased, delta.Patched)
    assert len(summaries.store_for(rebased)) >= base.n - 1
    edited.name = "Renamed Again"
    db_session.commit()
    results = client.get("/api/v1/clinics", query_string=QUERIES[0],
                         headers={"Cache-Control": "no-cache"}).get_json()["results"]
    assert [r["name"] for r in results if r["id"] == edited.id] == ["Renamed Again"]
    _same_as_dicts(app, client, db_session)
