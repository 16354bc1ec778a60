"""GET /api/v1/clinics answers a repeated search from its response cache, and never after the
directory changed: the key holds the data's generation."""
from __future__ import annotations

import zlib

from sqlalchemy import text


def _names(response):
    assert response.status_code == 200
    return [r["name"] for r in response.get_json()["results"]]


def test_a_cached_answer_ends_when_the_directory_changes(client, db_session, make_clinic):
    clinic = make_clinic(name="Cached Clinic", lat=30.2713, lon=-97.7426)
    url = "/api/v1/clinics?location=78701&radius=10"
    assert _names(client.get(url)) == ["Cached Clinic"]
    assert _names(client.get(url)) == ["Cached Clinic"]  # from the cache
    # A change made behind the app's back (raw SQL, another process) still ends the cached answer.
    db_session.execute(text("UPDATE clinic SET name = 'Renamed Clinic' WHERE id = :id"), {"id": clinic.id})
    db_session.commit()
    assert _names(client.get(url)) == ["Renamed Clinic"]
    make_clinic(name="Second Clinic", lat=30.28, lon=-97.74)
    assert _names(client.get(url)) == ["Renamed Clinic", "Second Clinic"]


def test_a_repeated_search_is_the_cached_body_and_no_cache_asks_for_a_fresh_one(app, client, make_clinic):
    make_clinic(name="Fresh Clinic", lat=30.2713, lon=-97.7426)
    url = "/api/v1/clinics?location=78701"
    responses = app.extensions["kapfinder_response_cache"]
    assert _names(client.get(url)) == ["Fresh Clinic"]
    # Poison the cached body: a normal request gets it, a no-cache request does not.
    from kapfinder.extensions import db
    from kapfinder.search import parse_criteria, search_cache_key

    key = search_cache_key(db.session, parse_criteria({"location": ["78701"]}, api=True))
    stored = responses.get_bytes(key)
    body = client.get(url).get_data()
    assert stored is not None and zlib.decompress(stored) == body  # kept compressed, served as it was
    responses.set_bytes(key, zlib.compress(b'{"results": [{"name": "From the cache"}]}'), ttl=60)
    assert _names(client.get(url)) == ["From the cache"]
    assert _names(client.get(url, headers={"Cache-Control": "no-cache"})) == ["Fresh Clinic"]
    # An entry in another format (a previous release's, in a shared Redis) is a miss, never a 500.
    responses.set_bytes(key, b'{"results": []}', ttl=60)
    assert _names(client.get(url)) == ["Fresh Clinic"]


def test_a_page_of_results_is_stored_in_a_fraction_of_its_size(app, client, make_clinic):
    for n in range(20):
        make_clinic(name=f"Clinic number {n}", lat=30.27 + n / 1000, lon=-97.74)
    body = client.get("/api/v1/clinics?location=78701").get_data()
    from kapfinder.extensions import db
    from kapfinder.search import parse_criteria, search_cache_key

    key = search_cache_key(db.session, parse_criteria({"location": ["78701"]}, api=True))
    stored = app.extensions["kapfinder_response_cache"].get_bytes(key)
    assert stored is not None and len(stored) * 3 < len(body)


def test_errors_are_never_cached(client, make_clinic):
    make_clinic(name="Any Clinic")
    assert client.get("/api/v1/clinics?location=Atlantis, ZZ").status_code == 400
    assert client.get("/api/v1/clinics?location=Atlantis, ZZ").status_code == 400
    assert client.get("/api/v1/clinics?radius=0&location=78701").status_code == 400


def test_a_no_cache_answer_is_not_kept(app, client, make_clinic):
    make_clinic(name="Fresh Clinic", lat=30.2713, lon=-97.7426)
    url = "/api/v1/clinics?location=78701&radius=25"
    assert _names(client.get(url, headers={"Cache-Control": "no-cache"})) == ["Fresh Clinic"]
    from kapfinder.extensions import db
    from kapfinder.search import parse_criteria, search_cache_key

    key = search_cache_key(db.session, parse_criteria({"location": ["78701"], "radius": ["25"]}, api=True))
    assert app.extensions["kapfinder_response_cache"].get_bytes(key) is None
    assert _names(client.get(url)) == ["Fresh Clinic"]
    assert app.extensions["kapfinder_response_cache"].get_bytes(key) is not None
