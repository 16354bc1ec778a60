"""The search core against an independent oracle: every published clinic, geopy's great-circle
distance, Python sorting — compared with what ``search`` returns page by page."""
from __future__ import annotations

import math
import random
from datetime import timedelta

import pytest
from geopy.distance import great_circle

from kapfinder import vocab
from kapfinder.errors import AmbiguousLocation, InvalidParameter, UnknownLocation
from kapfinder.models import Clinic, ClinicFacts, utcnow
from kapfinder.search import InvalidCriteria, SearchCriteria, parse_criteria, search
from kapfinder.search.cards import load_cards

AUSTIN = (30.2713, -97.7426)  # ZIP 78701 centroid


def oracle_miles(a, b) -> float:
    return great_circle(a, b, radius=6371.0088).km / 1.609344


def half_up(x: float) -> float:
    return math.floor(x * 10 + 0.5) / 10


def args(**kw):
    out = {}
    for k, v in kw.items():
        out[k] = v if isinstance(v, list) else [str(v)]
    return out


@pytest.fixture
def scattered(make_clinic):
    """60 published clinics within ~120 mi of Austin, a few sharing a point, mixed freshness."""
    rng = random.Random(7)
    now = utcnow()
    clinics = []
    for i in range(60):
        if i % 10 == 0:
            lat, lon = AUSTIN  # exact ties in distance
        else:
            lat = AUSTIN[0] + rng.uniform(-1.6, 1.6)
            lon = AUSTIN[1] + rng.uniform(-1.8, 1.8)
        age = rng.choice([1, 10, 40, 95, 200])
        clinics.append(make_clinic(
            name=rng.choice(["alpha", "Beta", "gamma", "Delta"]) + f" clinic {i:02d}",
            lat=lat, lon=lon, confirmed_at=now - timedelta(days=age), verified_at=now - timedelta(days=age),
            methods=rng.sample(["iv", "im", "oral", "ketamine-nasal"], k=rng.randint(1, 2)),
            conditions=rng.sample(vocab.CONDITIONS.slugs, k=2)))
    return clinics


def oracle(clinics, point, radius, now, predicate=lambda c: True):
    cutoff = now - timedelta(days=90)
    rows = []
    for c in clinics:
        if c.status != "published" or not predicate(c):
            continue
        d = oracle_miles(point, (c.lat, c.lon))
        if d <= radius:
            stale = c.confirmed_at < cutoff
            rows.append(((half_up(d), stale, -c.confirmed_at.timestamp(), c.name.lower(), c.id), c.id, d))
    rows.sort()
    return [(cid, d) for _k, cid, d in rows]


@pytest.mark.parametrize("radius", [10, 25, 60, 150])
def test_ranking_and_radius_match_the_oracle_on_every_page(db_session, scattered, radius):
    now = utcnow()
    expected = oracle(scattered, AUSTIN, radius, now)
    got = []
    page = 1
    while True:
        result = search(db_session, parse_criteria(args(location="78701", radius=radius, page=page, per_page=7),
                                                   api=True), now=now)
        assert result.total == len(expected)
        assert result.pages == math.ceil(len(expected) / 7)
        if not result.hits:
            break
        got += [(h.clinic.id, h.distance_mi) for h in result.hits]
        page += 1
    assert [cid for cid, _ in got] == [cid for cid, _ in expected]
    for (_, d_got), (_, d_exp) in zip(got, expected):
        assert d_got == pytest.approx(d_exp, abs=1e-6)


def test_method_and_condition_filters_or_within_and_across(db_session, scattered):
    now = utcnow()
    crit = parse_criteria(args(location="Austin, TX", radius=200, method=["im", "oral"],
                               condition=["ptsd"], per_page=100), api=True)
    result = search(db_session, crit, now=now)
    centre = (result.location.lat, result.location.lon)
    expected = oracle(scattered, centre, 200, now,
                      lambda c: bool({"im", "oral"} & set(c.methods)) and "ptsd" in c.conditions)
    assert [h.clinic.id for h in result.hits] == [cid for cid, _ in expected]
    assert expected, "the fixture should produce matches"


def test_only_published_clinics_are_searchable(db_session, make_clinic):
    for status in ("draft", "pending", "rejected", "archived"):
        make_clinic(name=f"{status} one", status=status)
    shown = make_clinic(name="Published one")
    result = search(db_session, parse_criteria(args(location="78701"), api=True))
    assert [h.clinic.id for h in result.hits] == [shown.id]
    assert search(db_session, parse_criteria({}, api=True)).total == 1


def test_stale_listing_ranks_after_fresh_one_at_equal_distance(db_session, make_clinic, days_ago):
    stale = make_clinic(name="Aardvark", confirmed_at=days_ago(120))
    fresh = make_clinic(name="Zebra", confirmed_at=days_ago(3))
    older_fresh = make_clinic(name="Mongoose", confirmed_at=days_ago(30))
    result = search(db_session, parse_criteria(args(location="78701"), api=True))
    assert [h.clinic.id for h in result.hits] == [fresh.id, older_fresh.id, stale.id]


def test_sort_name_and_verified(db_session, make_clinic, days_ago):
    b = make_clinic(name="beta", confirmed_at=days_ago(5), lat=30.30, lon=-97.74)
    a = make_clinic(name="Alpha", confirmed_at=days_ago(50), lat=30.50, lon=-97.74)
    c = make_clinic(name="Gamma", confirmed_at=days_ago(1), lat=30.60, lon=-97.74)
    by_name = search(db_session, parse_criteria(args(location="78701", sort="name"), api=True))
    assert [h.clinic.id for h in by_name.hits] == [a.id, b.id, c.id]
    by_verified = search(db_session, parse_criteria(args(location="78701", sort="verified", radius=100), api=True))
    assert [h.clinic.id for h in by_verified.hits] == [c.id, b.id, a.id]
    no_location = search(db_session, parse_criteria(args(sort="distance"), api=True))
    assert no_location.sort == "name"
    assert [h.clinic.id for h in no_location.hits] == [a.id, b.id, c.id]
    assert all(h.distance_mi is None for h in no_location.hits)


def test_at_home_programmes_follow_in_clinic_results(db_session, make_clinic):
    near = make_clinic(name="Near clinic")
    # An at-home programme with its office far away (Dallas), serving Texas.
    home = make_clinic(name="Home programme", settings=["at-home"], at_home_states=["TX", "OK"],
                       lat=32.78, lon=-96.80, city="Dallas", zip="75201")
    # Both in clinic and at home, within the radius: listed once, as a distance match.
    both = make_clinic(name="Both", settings=["in-clinic", "at-home"], at_home_states=["TX"], lat=30.28, lon=-97.75)
    make_clinic(name="Serves elsewhere", settings=["at-home"], at_home_states=["CA"])
    result = search(db_session, parse_criteria(args(location="78701"), api=True))
    assert [(h.clinic.id, h.match) for h in result.hits] == [
        (near.id, "distance"), (both.id, "distance"), (home.id, "state")]
    assert result.hits[-1].distance_mi is None
    assert result.total == 3

    only_home = search(db_session, parse_criteria(args(location="78701", setting="at-home"), api=True))
    assert {h.clinic.id for h in only_home.hits} == {home.id, both.id}
    assert all(h.match == "state" for h in only_home.hits)
    only_clinic = search(db_session, parse_criteria(args(location="78701", setting="in-clinic"), api=True))
    assert [h.clinic.id for h in only_clinic.hits] == [near.id, both.id]
    assert search(db_session, parse_criteria({}, api=True)).total == 4  # no location: no at-home group


def test_state_alone_lists_every_in_clinic_listing_in_it_by_name(db_session, make_clinic):
    far = make_clinic(name="El Paso clinic", lat=31.76, lon=-106.49, city="El Paso", zip="79901")
    near = make_clinic(name="Austin clinic")
    make_clinic(name="Oklahoma clinic", state="OK", lat=35.47, lon=-97.52, city="Oklahoma City", zip="73102")
    result = search(db_session, parse_criteria(args(location="Texas", radius=5), api=True))
    assert result.location.kind == "state"
    assert [h.clinic.id for h in result.hits] == [near.id, far.id]
    assert all(h.distance_mi is None for h in result.hits)


def test_pagination_totals_across_both_groups(db_session, make_clinic):
    for i in range(5):
        make_clinic(name=f"Clinic {i}")
    for i in range(3):
        make_clinic(name=f"Home {i}", settings=["at-home"], at_home_states=["TX"], lat=None, lon=None)
    pages = [search(db_session, parse_criteria(args(location="78701", per_page=3, page=p), api=True))
             for p in (1, 2, 3, 4)]
    assert [p.total for p in pages] == [8] * 4
    assert pages[0].pages == 3
    assert [len(p.hits) for p in pages] == [3, 3, 2, 0]
    assert [h.match for p in pages for h in p.hits] == ["distance"] * 5 + ["state"] * 3


def test_insurance_filter_counts_only_offered_services(db_session, make_clinic):
    takes = make_clinic(name="Takes Aetna", methods=["esketamine-nasal"], rems_certified=True,
                        insurance=[{"carrier": "aetna", "service": "esketamine", "network": "in-network",
                                    "plan_types": ["ppo"]}])
    # A row for a service the clinic does not offer does not count.
    make_clinic(name="Stray row", methods=["iv"], therapy="medication-only",
                insurance=[{"carrier": "aetna", "service": "psychotherapy", "network": "in-network"}])
    all_plans = make_clinic(name="All plans", insurance=[{"carrier": "aetna", "service": "ketamine",
                                                          "network": "out-of-network"}])
    q = lambda **kw: [h.clinic.id for h in search(db_session, parse_criteria(args(location="78701", **kw), api=True)).hits]
    assert set(q(insurance="aetna")) == {takes.id, all_plans.id}
    assert set(q(insurance="aetna", plan_type="ppo")) == {takes.id, all_plans.id}
    assert q(insurance="aetna", plan_type="hmo") == [all_plans.id]
    assert q(insurance="aetna", service="esketamine") == [takes.id]
    assert q(insurance="cigna") == []


def test_accepting_filter(db_session, make_clinic):
    yes = make_clinic(accepting_new_patients=True)
    make_clinic(accepting_new_patients=False)
    make_clinic(accepting_new_patients=None)
    result = search(db_session, parse_criteria(args(location="78701", accepting="1"), api=True))
    assert [h.clinic.id for h in result.hits] == [yes.id]


@pytest.mark.parametrize("use_index", [True, False])
def test_language_filter_matches_staff_or_interpreter_languages_any_of(db_session, make_clinic, use_index):
    spanish = make_clinic(name="Staff speak Spanish", languages=["en", "es"])
    interpreted = make_clinic(name="Interpreters for Spanish", languages=["en"], interpreter_services=True,
                              interpreter_languages=["es", "nv"])
    asl = make_clinic(name="ASL staff", languages=["ase"])
    unstated = make_clinic(name="Languages not stated")
    home = make_clinic(name="At home in Spanish", settings=["at-home"], at_home_states=["TX"], lat=None, lon=None,
                       languages=["es"])

    def names(**query) -> list[str]:
        crit = parse_criteria(args(location="78701", per_page=50, **query), api=True)
        return sorted(h.clinic.name for h in search(db_session, crit, use_index=use_index).hits)

    assert names(language="es") == sorted([spanish.name, interpreted.name, home.name])
    assert names(language=["ES", "ase"]) == sorted([spanish.name, interpreted.name, asl.name, home.name])
    assert names(language="nv") == [interpreted.name]  # the last bit of the mask
    assert names(language="en") == sorted([spanish.name, interpreted.name])  # English is never implied
    assert unstated.name not in names(language=list(vocab.LANGUAGES.slugs))
    assert names(language="so") == []


def test_point_location_takes_state_of_nearest_zip(db_session, make_clinic):
    home = make_clinic(name="Home", settings=["at-home"], at_home_states=["TX"], lat=None, lon=None)
    result = search(db_session, parse_criteria(args(lat="30.27", lon="-97.74"), api=True))
    assert result.location.state == "TX"
    assert result.location.label == "30.270, -97.740"
    assert [h.clinic.id for h in result.hits] == [home.id]
    at_sea = search(db_session, parse_criteria(args(lat="25.0", lon="-60.0"), api=True))
    assert at_sea.location.state is None and at_sea.total == 0


@pytest.mark.parametrize("params, field, reason", [
    ({"radius": ["0"]}, "radius", "out_of_range"),
    ({"radius": ["501"]}, "radius", "out_of_range"),
    ({"radius": ["abc"]}, "radius", "not_a_number"),
    ({"radius": ["1e309"]}, "radius", "not_a_number"),
    ({"radius": ["NaN"]}, "radius", "not_a_number"),
    ({"radius": ["2.5"]}, "radius", "not_a_number"),
    ({"method": ["iv", "teleport"]}, "method", "unknown_value"),
    ({"insurance": ["acme"]}, "insurance", "unknown_value"),
    ({"condition": ["flu"]}, "condition", "unknown_value"),
    ({"language": ["es", "xx"]}, "language", "unknown_value"),
    ({"language": ["Spanish"]}, "language", "unknown_value"),
    ({"plan_type": ["ppo"]}, "plan_type", "requires_insurance"),
    ({"service": ["ketamine"]}, "service", "requires_insurance"),
    ({"page": ["two"]}, "page", "not_a_number"),
    ({"per_page": ["1000"]}, "per_page", "out_of_range"),
    ({"per_page": ["0"]}, "per_page", "out_of_range"),
    ({"lat": ["91"], "lon": ["0"]}, "lat", "coordinates_out_of_range"),
    ({"lat": ["0"], "lon": ["-181"]}, "lon", "coordinates_out_of_range"),
    ({"lat": ["30"]}, "lon", "lat_and_lon"),
    ({"location": ["78701"], "lat": ["30"], "lon": ["-97"]}, "lat", "location_and_coordinates"),
    ({"location": ["78701", "78702"]}, "location", "repeated"),
    ({"location": ["x" * 201]}, "location", "too_long"),
    ({"location": ["Austin\x00"]}, "location", "control_character"),
    ({"accepting": ["yes"]}, "accepting", "unknown_value"),
    ({"sort": ["random"]}, "sort", "unknown_value"),
    ({"radius": ["0"], "method": ["bad"]}, "radius", "out_of_range"),  # first bad parameter wins
])
def test_bad_parameters_name_their_field(params, field, reason):
    with pytest.raises(InvalidParameter) as caught:
        parse_criteria(params, api=True)
    assert (caught.value.field, caught.value.reason) == (field, reason)


def test_every_bad_parameter_is_collected_and_the_first_leads():
    params = {"location": ["x" * 201], "radius": ["0"], "method": ["iv", "teleport"], "insurance": ["acme"],
              "plan_type": ["ppo"], "service": ["bogus"], "sort": ["random"], "page": ["two"]}
    with pytest.raises(InvalidCriteria) as caught:
        parse_criteria(params, api=False)
    found = [(e.field, e.reason) for e in caught.value.errors]
    # One error per parameter; "choose a carrier first" is not said about a carrier given but bad.
    assert found == [("location", "too_long"), ("radius", "out_of_range"), ("method", "unknown_value"),
                     ("insurance", "unknown_value"), ("service", "unknown_value"), ("sort", "unknown_value"),
                     ("page", "not_a_number")]
    assert isinstance(caught.value, InvalidParameter)
    assert (caught.value.field, caught.value.reason) == ("location", "too_long")
    # What passed is kept, for a page that still checks the place it was given.
    with pytest.raises(InvalidCriteria) as caught:
        parse_criteria({"location": ["Austin, TX"], "radius": ["abc"], "plan_type": ["ppo"]}, api=False)
    assert [(e.field, e.reason) for e in caught.value.errors] == [("radius", "not_a_number"),
                                                                   ("plan_type", "requires_insurance")]
    assert caught.value.valid.location == "Austin, TX"


def test_a_card_reads_as_its_clinic_does(db_session, make_clinic, days_ago):
    clinic = make_clinic(methods=["iv", "esketamine-nasal"], settings=["in-clinic", "at-home"], at_home_states=["TX"],
                         rems_certified=True, superbill=True, confirmed_at=days_ago(91), insurance=[
                             {"carrier": "aetna", "service": "esketamine", "network": "in-network",
                              "plan_types": ["ppo"]}])
    card = load_cards(db_session, [clinic.id])[clinic.id]
    for facts in (clinic, card):
        assert isinstance(facts, ClinicFacts)
    for name in ("methods", "settings", "conditions", "services", "therapy_extras", "prescriber_types",
                 "therapist_licenses", "at_home_states", "payment_options"):
        assert getattr(card, name) == getattr(clinic, name), name
    assert card.is_stale() and clinic.is_stale()
    assert [r.plan_types for r in card.insurance] == [r.plan_types for r in clinic.insurance] == [["ppo"]]
    with pytest.raises(AttributeError):
        card.methods = ["oral"]  # cards are read-only


def test_edges_that_are_not_errors(db_session, make_clinic):
    make_clinic()
    assert parse_criteria({"page": ["0"]}, api=True).page == 1
    assert parse_criteria({"page": ["-3"]}, api=True).page == 1
    past = search(db_session, parse_criteria({"page": ["99"]}, api=True))
    assert past.total == 1 and past.hits == [] and past.page == 99
    huge = search(db_session, parse_criteria({"page": ["9" * 30]}, api=True))
    assert huge.hits == []
    # Empty form fields are absent, and the HTML form never takes per_page.
    assert parse_criteria({"location": [""], "insurance": [""], "per_page": ["1000"]}, api=False) == SearchCriteria()


def test_location_errors_surface_from_search(db_session):
    for text in ("Atlantis, ZZ", "zzzz", "00000"):
        with pytest.raises(UnknownLocation):
            search(db_session, parse_criteria({"location": [text]}, api=True))
    with pytest.raises(AmbiguousLocation) as caught:
        search(db_session, parse_criteria({"location": ["Springfield"]}, api=True))
    labels = [c["label"] for c in caught.value.choices]
    assert "Springfield, IL" in labels and "Springfield, MO" in labels


def test_sql_and_html_in_parameters_are_just_text(db_session, make_clinic):
    make_clinic()
    with pytest.raises(UnknownLocation):
        search(db_session, parse_criteria({"location": ["'; DROP TABLE clinic; --"]}, api=True))
    with pytest.raises(UnknownLocation):
        search(db_session, parse_criteria({"location": ["<script>alert(1)</script>"]}, api=True))
    assert db_session.query(Clinic).count() == 1


def test_postgresql_searches_through_postgis_and_sqlite_through_the_index(db_session):
    from kapfinder.search import has_postgis

    assert has_postgis(db_session) is (db_session.get_bind().dialect.name == "postgresql")


def test_deep_pages_rank_like_the_first_ones(db_session, make_clinic, monkeypatch):
    """Past the depth where one query returns the rows before a page, the ranking is the same."""
    from kapfinder.search import sql

    for i in range(9):
        make_clinic(name=f"Clinic {i}", lat=30.2713 + i * 0.01, lon=-97.7426)
    crit = lambda page: parse_criteria(args(location="78701", per_page=2, page=page), api=True)
    shallow = [h.clinic.id for p in range(1, 6) for h in search(db_session, crit(p)).hits]
    monkeypatch.setattr(sql, "_MAX_RANKED_ROWS", 0)
    deep = [h.clinic.id for p in range(1, 6) for h in search(db_session, crit(p)).hits]
    assert deep == shallow and len(shallow) == 9
