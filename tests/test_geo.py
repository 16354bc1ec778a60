"""The offline gazetteer: every location form of DESIGN.md, addresses, suggestions for misspellings,
ambiguity (largest place first), unknown places, distance."""
from __future__ import annotations

import pytest
from geopy.distance import great_circle

from kapfinder import geo
from kapfinder.errors import AmbiguousLocation, InvalidParameter, UnknownLocation
from kapfinder.models import GazetteerPlace, GazetteerZip


@pytest.mark.parametrize("text, label, state, kind", [
    ("78701", "Austin, TX", "TX", "zip"),
    ("78701-1234", "Austin, TX", "TX", "zip"),
    ("787011234", "Austin, TX", "TX", "zip"),
    (" 78701 ", "Austin, TX", "TX", "zip"),
    ("Austin, TX", "Austin, TX", "TX", "city"),
    ("austin,tx", "Austin, TX", "TX", "city"),
    ("AUSTIN ,  texas", "Austin, TX", "TX", "city"),
    ("Austin TX", "Austin, TX", "TX", "city"),
    ("St. Louis, MO", "Saint Louis, MO", "MO", "city"),
    ("saint louis, missouri", "Saint Louis, MO", "MO", "city"),
    ("St Louis MO", "Saint Louis, MO", "MO", "city"),
    ("Ft Worth, TX", "Fort Worth, TX", "TX", "city"),
    ("fort worth, tx", "Fort Worth, TX", "TX", "city"),
    ("Port St. Lucie, FL", "Port Saint Lucie, FL", "FL", "city"),
    ("San Juan, PR", "San Juan, PR", "PR", "city"),
    ("Washington, DC", "Washington, DC", "DC", "city"),
    ("Texas", "Texas", "TX", "state"),
    ("tx", "Texas", "TX", "state"),
    ("Washington", "Washington", "WA", "state"),
    ("new  york", "New York", "NY", "state"),
    ("MT", "Montana", "MT", "state"),
    ("Billings, MT", "Billings, MT", "MT", "city"),
    # Addresses and "City, ST ZIP": the ZIP decides, labelled with its city.
    ("New York, NY 10001", "New York, NY", "NY", "zip"),
    ("123 Main St, Austin, TX 78701", "Austin, TX", "TX", "zip"),
    ("Austin, TX 78701-1234", "Austin, TX", "TX", "zip"),
    ("Austin TX 787011234", "Austin, TX", "TX", "zip"),
    ("1600 Pennsylvania Ave NW, Washington, DC 20500, USA", "Washington, DC", "DC", "zip"),
    ("Dallas, TX 78701", "Austin, TX", "TX", "zip"),
    ("Washington 20001", "Washington, DC", "DC", "zip"),
    ("123 Main Ct 78701", "Austin, TX", "TX", "zip"),
    # Addresses without a ZIP: their trailing "City, ST".
    ("123 Main St, Austin, TX", "Austin, TX", "TX", "city"),
    ("123 Main St Austin TX", "Austin, TX", "TX", "city"),
    ("100 Congress Ave, Suite 200, Austin, Texas", "Austin, TX", "TX", "city"),
    ("500 W 2nd St, Austin TX", "Austin, TX", "TX", "city"),
    ("Austin, TX, USA", "Austin, TX", "TX", "city"),
])
def test_location_forms_resolve(db_session, text, label, state, kind):
    loc = geo.resolve_location(db_session, text)
    assert (loc.label, loc.state, loc.kind) == (label, state, kind)
    assert loc.input == text.strip()
    if kind == "state":
        assert loc.lat is None and loc.lon is None
    else:
        assert -90 <= loc.lat <= 90 and -180 <= loc.lon <= 180


def test_city_point_is_mean_of_its_standard_zip_centroids(db_session):
    standard = db_session.query(GazetteerZip).filter_by(city="Austin", state="TX", zip_type="STANDARD").all()
    assert len(standard) > 10
    loc = geo.resolve_location(db_session, "Austin, TX")
    assert loc.lat == pytest.approx(sum(z.lat for z in standard) / len(standard), abs=0.05)
    assert loc.lon == pytest.approx(sum(z.lon for z in standard) / len(standard), abs=0.05)


def test_acceptable_city_alias_resolves(db_session):
    alias = db_session.query(GazetteerPlace).filter_by(name_key="saint louisvl", state="OH").one()
    assert geo.resolve_location(db_session, "Saint Louisvl, OH").label == f"{alias.name}, OH"


def test_gazetteer_holds_only_active_zips_of_states_dc_and_pr(db_session):
    states = {s for (s,) in db_session.query(GazetteerZip.state).distinct()}
    assert states == set(geo.vocab.STATES.slugs)
    assert db_session.query(GazetteerZip).filter_by(zip_type="MILITARY").count() == 0
    assert db_session.query(GazetteerZip).filter(GazetteerZip.lat == 0, GazetteerZip.lon == 0).count() == 0
    assert db_session.get(GazetteerZip, "09001") is None  # APO/FPO Europe


def test_point_takes_state_of_nearest_zip_within_50_miles(db_session):
    loc = geo.resolve_location(db_session, "30.2672, -97.7431")
    assert (loc.kind, loc.state, loc.label) == ("point", "TX", "30.267, -97.743")
    at_sea = geo.resolve_location(db_session, "30.0,-60.0")
    assert at_sea.state is None


@pytest.mark.parametrize("text", ["91,0", "0,181", "-90.5, 10"])
def test_point_out_of_range_is_invalid(db_session, text):
    with pytest.raises(InvalidParameter) as caught:
        geo.resolve_location(db_session, text)
    assert caught.value.reason == "coordinates_out_of_range"


@pytest.mark.parametrize("text", ["Atlantis, ZZ", "zzzz", "00000", "99999", "Austin, ZZ", "Gotham, NY", ",", "12"])
def test_unknown_places_are_errors_never_a_default_point(db_session, text):
    with pytest.raises(UnknownLocation) as caught:
        geo.resolve_location(db_session, text)
    assert caught.value.location == text.strip()


def test_an_address_ending_in_a_city_without_state_asks_which_one(db_session):
    with pytest.raises(AmbiguousLocation) as caught:
        geo.resolve_location(db_session, "123 Main St, Portland")
    assert caught.value.choices[0] == {"label": "Portland, OR", "location": "Portland, OR"}


@pytest.mark.parametrize("text", ["Paris, France", "Toronto, Canada"])
def test_a_place_abroad_is_not_taken_for_a_us_town(db_session, text):
    with pytest.raises(UnknownLocation):
        geo.resolve_location(db_session, text)


def test_an_unknown_zip_in_an_address_is_an_error_offering_the_city(db_session):
    with pytest.raises(UnknownLocation) as caught:
        geo.resolve_location(db_session, "123 Main St, Austin, TX 99999")
    err = caught.value
    assert (err.reason, err.params["zip"]) == ("unknown_zip", "99999")
    assert err.suggestions == [{"label": "Austin, TX", "location": "Austin, TX"}]


@pytest.mark.parametrize("text, zip_state, state, city", [
    ("Austin, NY 78701", "Texas", "New York", "Austin, TX"),
    ("Kansas City, KS 64105", "Missouri", "Kansas", "Kansas City, KS"),
])
def test_a_zip_in_another_state_than_the_one_typed_is_an_error_not_a_guess(db_session, text, zip_state, state, city):
    with pytest.raises(UnknownLocation) as caught:
        geo.resolve_location(db_session, text)
    err = caught.value
    assert err.reason == "zip_not_in_state"
    assert (err.params["zip_state"], err.params["state"]) == (zip_state, state)
    # Both readings are offered: the ZIP (labelled with its own city) and the city as typed.
    zip5 = text[-5:]
    assert err.suggestions[0]["location"] == zip5 and zip5 in err.suggestions[0]["label"]
    assert {"label": city, "location": city} in err.suggestions
    for suggestion in err.suggestions:
        geo.resolve_location(db_session, suggestion["location"])


@pytest.mark.parametrize("text, first", [
    ("Chicgo", "Chicago, IL"),
    ("Chicgo, IL", "Chicago, IL"),
    ("chicgo il", "Chicago, IL"),
    ("Chciago, Illinois", "Chicago, IL"),
    ("San Fransisco", "San Francisco, CA"),
    ("Los Angelos, CA", "Los Angeles, CA"),
    ("St Lous, MO", "Saint Louis, MO"),
    ("Albequerque", "Albuquerque, NM"),
    ("Phildelphia", "Philadelphia, PA"),
    ("Chicago, IN", "Chicago, IL"),  # the state has no such place: the name where it is
    ("123 Main St, Chicgo, IL 99999", "Chicago, IL"),
])
def test_a_misspelt_place_gets_suggestions_never_a_silent_guess(db_session, text, first):
    with pytest.raises(UnknownLocation) as caught:
        geo.resolve_location(db_session, text)
    suggestions = caught.value.suggestions
    assert suggestions[0] == {"label": first, "location": first}
    assert 1 <= len(suggestions) <= 3
    # Each suggestion is something the patient can search for as it is.
    for suggestion in suggestions:
        assert geo.resolve_location(db_session, suggestion["location"]).kind == "city"


def test_suggestions_stay_in_the_state_typed(db_session):
    with pytest.raises(UnknownLocation) as caught:
        geo.resolve_location(db_session, "Chicgo, IL")
    assert {s["location"][-2:] for s in caught.value.suggestions} == {"IL"}
    with pytest.raises(UnknownLocation) as caught:
        geo.resolve_location(db_session, "Chicgo")
    # Without a state, the large city before the small ones a slip away (Chico, CA).
    labels = [s["label"] for s in caught.value.suggestions]
    assert labels[0] == "Chicago, IL" and "Chico, CA" in labels


@pytest.mark.parametrize("text", ["zzzz", "00000", "xqzv, TX", "x'; DROP TABLE clinic; --", "a" * 200])
def test_nonsense_gets_no_suggestions(db_session, text):
    with pytest.raises(UnknownLocation) as caught:
        geo.resolve_location(db_session, text)
    assert caught.value.suggestions == []


@pytest.mark.parametrize("text, first, second", [
    ("Portland", "Portland, OR", "Portland, ME"),
    ("Brooklyn", "Brooklyn, NY", None),
    ("Austin", "Austin, TX", None),
])
def test_ambiguous_city_choices_come_largest_place_first(db_session, text, first, second):
    with pytest.raises(AmbiguousLocation) as caught:
        geo.resolve_location(db_session, text)
    labels = [c["label"] for c in caught.value.choices]
    assert labels[0] == first
    if second:
        assert labels[1] == second
    # Largest by the number of the place's ZIP codes, ties by state.
    places = {(p.name, p.state): p.zip_count for p in db_session.query(GazetteerPlace).filter_by(
        name_key=geo.normalise_place(text))}
    counts = [places[tuple(label.rsplit(", ", 1))] for label in labels]
    assert counts == sorted(counts, reverse=True)


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_location_is_required_not_everything(db_session, text):
    with pytest.raises(InvalidParameter) as caught:
        geo.resolve_location(db_session, text)
    assert caught.value.reason == "required"


def test_ambiguous_city_offers_a_choice_per_state(db_session):
    with pytest.raises(AmbiguousLocation) as caught:
        geo.resolve_location(db_session, "Springfield")
    choices = caught.value.choices
    assert {"label": "Springfield, IL", "location": "Springfield, IL"} in choices
    assert len(choices) >= 5
    # Each choice resolves without further questions.
    for choice in choices:
        assert geo.resolve_location(db_session, choice["location"]).kind == "city"


def test_distance_is_great_circle_on_the_design_sphere():
    a, b = (30.2672, -97.7431), (32.7767, -96.7970)
    expected = great_circle(a, b, radius=6371.0088).km / 1.609344
    assert geo.distance_mi(*a, *b) == pytest.approx(expected, rel=1e-12)
    assert 180 < expected < 190


@pytest.mark.parametrize("value, rounded", [(0.04, 0.0), (0.05, 0.1), (1.25, 1.3), (12.349, 12.3), (2.0, 2.0)])
def test_round_tenth_is_half_up(value, rounded):
    assert geo.round_tenth(value) == rounded


@pytest.mark.parametrize("lat, lon", [(30.0, -97.0), (64.8, -147.7), (51.9, 179.9), (51.9, -179.9), (-33.0, 151.0)])
def test_bounding_box_contains_the_whole_circle(lat, lon):
    south, north, west, east, wraps = geo.bounding_box(lat, lon, 250)
    for bearing in range(0, 360, 5):
        p = great_circle(kilometers=250 * 1.609344 * 0.999999, radius=6371.0088).destination((lat, lon), bearing)
        assert south <= p.latitude <= north
        if wraps:
            assert p.longitude >= west or p.longitude <= east
        else:
            assert west <= p.longitude <= east


def test_cached_answers_match_the_gazetteer_and_are_reused(db_session):
    from kapfinder.cache import LocalCache

    cache = LocalCache()
    first = geo.resolve_location(db_session, "Austin, TX", cache=cache)
    assert first == geo.resolve_location(db_session, "Austin, TX")
    assert cache.get("geo:v2:austin, tx") is not None
    # The cached answer is what later calls get: poison it and see it come back.
    cache.set("geo:v2:austin, tx", {"found": ["Cached, TX", "city", "TX", 1.0, 2.0]})
    assert geo.resolve_location(db_session, "Austin, TX", cache=cache).label == "Cached, TX"
    for text, error in (("zzzz", UnknownLocation), ("Springfield", AmbiguousLocation),
                        ("Chicgo", UnknownLocation), ("Austin, NY 78701", UnknownLocation)):
        fresh = []
        for _ in range(2):
            with pytest.raises(error) as caught:
                geo.resolve_location(db_session, text, cache=cache)
            fresh.append(caught.value)
        assert str(fresh[0]) == str(fresh[1])  # same reason and parameters from the cache
        assert getattr(fresh[0], "suggestions", None) == getattr(fresh[1], "suggestions", None)
        assert getattr(fresh[0], "choices", None) == getattr(fresh[1], "choices", None)
    # Suggestions are part of the cached answer: poison them and see them come back.
    cache.set("geo:v2:chicgo", {"unknown": {"reason": "unknown_location", "params": {},
                                            "suggestions": [{"label": "Cached, IL", "location": "Cached, IL"}]}})
    with pytest.raises(UnknownLocation) as caught:
        geo.resolve_location(db_session, "Chicgo", cache=cache)
    assert caught.value.suggestions == [{"label": "Cached, IL", "location": "Cached, IL"}]


def test_distance_is_geopys_great_circle_to_the_last_bit():
    """geo.distance_mi inlines geopy's great_circle for speed; it must give the very same floats."""
    import random

    from geopy.distance import great_circle

    from kapfinder import geo

    rng = random.Random(5)
    for i in range(20000):
        a = (rng.uniform(-90, 90), rng.uniform(-180, 180))
        if i % 2:  # near pairs, where ranking ties are decided
            b = (max(-90.0, min(90.0, a[0] + rng.uniform(-0.02, 0.02))),
                 max(-180.0, min(180.0, a[1] + rng.uniform(-0.02, 0.02))))
        else:
            b = (rng.uniform(-90, 90), rng.uniform(-180, 180))
        expected = great_circle(a, b, radius=geo.EARTH_RADIUS_KM).km / geo.KM_PER_MILE
        assert geo.distance_mi(*a, *b) == expected, (a, b)
    assert geo.distance_mi(30.0, 190.0, 30.0, -170.0) == 0.0  # out-of-range longitudes: geopy itself
