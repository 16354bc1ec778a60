"""GET /api/v1/clinics and /api/v1/clinics/<id or slug>: shapes, every filter, pagination, coverage,
and distances against an independent great-circle oracle."""
from __future__ import annotations

import math
import random
from datetime import date, timedelta

import pytest
from geopy.distance import great_circle

from kapfinder import vocab
from kapfinder.models import utcnow

from conftest import AUSTIN

ROUND_ROCK = (30.5083, -97.6789)  # ~17 mi north of downtown Austin
SAN_ANTONIO = (29.4241, -98.4936)  # ~74 mi south-west
DALLAS = (32.7767, -96.7970)  # ~182 mi north


def oracle_miles(a, b) -> float:
    return great_circle(a, b, radius=6371.0088).km / 1.609344


def tenth(x: float) -> float:
    return math.floor(x * 10 + 0.5) / 10


def names(body) -> list[str]:
    return [r["name"] for r in body["results"]]


# --- shapes ----------------------------------------------------------------------------------

SUMMARY_FIELDS = {"id", "slug", "name", "url", "distance_mi", "distance_km", "match", "lat", "lon", "address",
                  "phone", "website", "methods", "settings", "conditions", "services", "insurance", "self_pay",
                  "accepting_new_patients", "accepting_as_of", "languages", "interpreter_services",
                  "interpreter_languages", "languages_as_of", "verified_at", "stale", "sample"}
DETAIL_EXTRA = {"description", "email", "hours", "hours_note", "timezone", "at_home_states", "therapy",
                "therapy_extras", "payment_options", "safety", "npi", "confirmed_at", "updated_at"}


def test_search_result_has_every_field_in_the_published_shape(api_get, full_clinic, conforms):
    response = api_get("/clinics", location="78701")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = response.get_json()
    conforms(body, "SearchResponse")
    assert set(body) == {"query", "total", "page", "per_page", "pages", "results"}
    assert (body["total"], body["page"], body["per_page"], body["pages"]) == (1, 1, 20, 1)
    [r] = body["results"]
    assert set(r) == SUMMARY_FIELDS  # no coverage without insurance
    assert r["id"] == full_clinic.id and r["id"] == r["id"].lower()
    assert r["slug"] == "hill-country-ketamine-care-austin"
    assert r["url"] == "http://kapfinder.test/clinics/hill-country-ketamine-care-austin"
    assert (r["distance_mi"], r["distance_km"], r["match"]) == (0.0, 0.0, "distance")
    assert (r["lat"], r["lon"]) == AUSTIN
    assert r["address"] == {"street": "100 Congress Ave", "city": "Austin", "state": "TX", "zip": "78701"}
    assert r["phone"] == "+15125550100"
    assert r["website"] == "https://clinic.example"
    # Lists in vocabulary order, whatever order the listing was given in.
    assert r["methods"] == ["iv", "oral", "esketamine-nasal"]
    assert r["settings"] == ["in-clinic", "at-home"]
    assert r["conditions"] == ["depression", "ptsd"]
    assert r["services"] == ["esketamine", "ketamine", "psychotherapy", "evaluation"]
    assert r["insurance"] == [
        {"carrier": "aetna", "plan_types": ["hmo", "ppo"], "service": "esketamine", "network": "in-network",
         "as_of": "2025-04-01"},
        {"carrier": "cigna", "plan_types": [], "service": "esketamine", "network": "in-network",
         "as_of": "2025-04-03"},
        {"carrier": "aetna", "plan_types": ["ppo"], "service": "ketamine", "network": "out-of-network",
         "as_of": "2025-04-02"},
    ]
    assert r["self_pay"] == [
        {"service": "ketamine", "min_usd": 450, "max_usd": 600, "as_of": "2025-03-02"},
        {"service": "psychotherapy", "min_usd": 150, "max_usd": 200, "as_of": "2025-03-01"},
    ]
    assert (r["accepting_new_patients"], r["accepting_as_of"]) == (True, "2025-05-01")
    assert r["verified_at"] == full_clinic.verified_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (r["stale"], r["sample"]) == (False, False)
    assert (r["languages"], r["interpreter_services"], r["interpreter_languages"], r["languages_as_of"]) == (
        ["en", "es"], True, ["ase"], "2025-04-01")


def test_query_echoes_every_normalised_parameter(api_get, full_clinic, conforms):
    body = api_get("/clinics", location=" austin,  tx ", radius="50", method=["oral", "iv"], insurance="aetna",
                   plan_type="ppo", service="esketamine", condition=["ptsd", "depression"], setting="in-clinic",
                   language=["ES", "en"], accepting="1", sort="verified", page="1", per_page="5").get_json()
    conforms(body, "SearchResponse")
    query = body["query"]
    assert query["location"]["input"] == "austin,  tx"
    assert query["location"]["label"] == "Austin, TX"
    assert isinstance(query["location"]["lat"], float) and isinstance(query["location"]["lon"], float)
    assert {k: v for k, v in query.items() if k != "location"} == {
        "radius": 50, "method": ["iv", "oral"], "insurance": "aetna", "plan_type": "ppo",
        "service": "esketamine", "condition": ["depression", "ptsd"], "language": ["en", "es"],
        "setting": "in-clinic", "accepting": True,
        "sort": "verified", "page": 1, "per_page": 5}
    assert names(body) == ["Hill Country Ketamine Care"]


def test_query_without_location_has_null_location_and_sorts_by_name(api_get, make_clinic, conforms):
    make_clinic(name="beta clinic")
    make_clinic(name="Alpha Clinic", lat=DALLAS[0], lon=DALLAS[1])
    body = api_get("/clinics").get_json()
    conforms(body, "SearchResponse")
    assert body["query"]["location"] is None
    assert body["query"]["sort"] == "name"
    assert body["query"]["method"] == [] and body["query"]["condition"] == []
    assert body["query"]["radius"] is None
    assert names(body) == ["Alpha Clinic", "beta clinic"]
    assert all(r["distance_mi"] is None and r["distance_km"] is None and r["match"] is None
               for r in body["results"])


def test_lat_lon_parameters_resolve_to_a_point_location(api_get, make_clinic):
    make_clinic(name="Near", lat=ROUND_ROCK[0], lon=ROUND_ROCK[1])
    body = api_get("/clinics", lat=str(AUSTIN[0]), lon=str(AUSTIN[1])).get_json()
    assert body["query"]["location"]["label"] == "30.271, -97.743"
    assert body["query"]["location"]["lat"] == AUSTIN[0]
    assert names(body) == ["Near"]
    assert body["results"][0]["distance_mi"] == tenth(oracle_miles(AUSTIN, ROUND_ROCK))


def test_state_matches_come_after_distance_matches_with_null_distance(api_get, make_clinic, conforms):
    make_clinic(name="A At Home Programme", lat=DALLAS[0], lon=DALLAS[1], settings=["at-home"],
                at_home_states=["TX"])
    make_clinic(name="Z Downtown", lat=AUSTIN[0], lon=AUSTIN[1])
    body = api_get("/clinics", location="78701").get_json()
    conforms(body, "SearchResponse")
    assert [(r["name"], r["match"], r["distance_mi"], r["distance_km"]) for r in body["results"]] == [
        ("Z Downtown", "distance", 0.0, 0.0), ("A At Home Programme", "state", None, None)]
    assert body["total"] == 2


def test_whole_state_location_has_null_point_and_ignores_radius(api_get, make_clinic):
    make_clinic(name="Dallas Clinic", lat=DALLAS[0], lon=DALLAS[1], city="Dallas", state="TX")
    body = api_get("/clinics", location="Texas", radius="5").get_json()
    assert body["query"]["location"] == {"input": "Texas", "label": "Texas", "lat": None, "lon": None}
    assert names(body) == ["Dallas Clinic"]  # every in-clinic listing in the state; radius ignored
    assert body["results"][0]["distance_mi"] is None


def test_stale_listing_is_flagged(api_get, make_clinic, days_ago):
    make_clinic(name="Old", confirmed_at=days_ago(91), verified_at=days_ago(200))
    make_clinic(name="Fresh", confirmed_at=days_ago(89))
    body = api_get("/clinics").get_json()
    assert {r["name"]: r["stale"] for r in body["results"]} == {"Fresh": False, "Old": True}


def test_sample_listing_is_marked(api_get, make_clinic):
    make_clinic(name="Fictional", sample=True)
    assert api_get("/clinics").get_json()["results"][0]["sample"] is True


# --- detail -----------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["id", "ID", "slug"])
def test_detail_by_id_or_slug_has_the_whole_listing(api_get, full_clinic, conforms, key):
    ident = {"id": full_clinic.id, "ID": full_clinic.id.upper(), "slug": full_clinic.slug}[key]
    response = api_get(f"/clinics/{ident}")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    d = response.get_json()
    conforms(d, "ClinicDetail")
    assert set(d) == SUMMARY_FIELDS | DETAIL_EXTRA
    assert d["id"] == full_clinic.id
    assert (d["distance_mi"], d["match"]) == (None, None)
    assert d["description"] == "A clinic made by a test."
    assert d["email"] == "care@clinic.example"
    assert d["hours"] == [{"day": "mo", "opens": "09:00", "closes": "17:00"}]
    assert d["hours_note"] == "Closed on federal holidays."
    assert d["timezone"] == "America/Chicago"
    assert d["at_home_states"] == vocab.STATES.ordered(["TX", "OK"])
    assert d["therapy"] == "integrated"
    assert d["therapy_extras"] == ["group-integration", "somatic"]
    assert d["payment_options"] == {"sliding_scale": True, "financing": False, "superbill": True, "hsa_fsa": False}
    assert d["safety"] == {"prescriber_types": ["md", "np"], "therapist_licenses": ["lcsw"], "rems_certified": True,
                           "vital_signs_monitoring": True, "medical_screening": True}
    assert d["npi"] == "1234567893"
    assert d["confirmed_at"] == full_clinic.confirmed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert d["updated_at"].endswith("Z")


@pytest.mark.parametrize("status", ["draft", "pending", "rejected", "archived"])
def test_unpublished_clinic_is_not_found_by_id_or_slug(api_get, make_clinic, conforms, status):
    clinic = make_clinic(status=status)
    for ident in (clinic.id, clinic.slug):
        response = api_get(f"/clinics/{ident}")
        assert response.status_code == 404
        body = response.get_json()
        conforms(body, "Error")
        assert body["error"]["code"] == "not_found"
    assert api_get("/clinics").get_json()["total"] == 0


@pytest.mark.parametrize("ident", ["no-such-clinic", "00000000-0000-4000-8000-000000000000", "x" * 300])
def test_unknown_clinic_is_json_404(api_get, make_clinic, conforms, ident):
    make_clinic()
    response = api_get(f"/clinics/{ident}")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    body = response.get_json()
    conforms(body, "Error")
    assert body["error"]["code"] == "not_found"


# --- every filter -----------------------------------------------------------------------------

@pytest.fixture
def varied(make_clinic, days_ago):
    """Four in-clinic listings in and around Austin plus one at-home programme, each differing."""
    return {
        "iv": make_clinic(name="IV Place", methods=["iv"], conditions=["depression"], accepting_new_patients=True,
                          lat=AUSTIN[0], lon=AUSTIN[1], confirmed_at=days_ago(30),
                          insurance=[{"carrier": "aetna", "service": "ketamine", "network": "in-network",
                                      "plan_types": ["ppo"]}]),
        "spravato": make_clinic(name="Spravato Place", methods=["esketamine-nasal"], rems_certified=True,
                                conditions=["treatment-resistant-depression"], accepting_new_patients=False,
                                lat=ROUND_ROCK[0], lon=ROUND_ROCK[1], confirmed_at=days_ago(2),
                                insurance=[{"carrier": "aetna", "service": "esketamine",
                                            "network": "in-network", "plan_types": ["hmo"]},
                                           {"carrier": "cigna", "service": "esketamine",
                                            "network": "out-of-network"}]),
        "im": make_clinic(name="IM Place", methods=["im"], conditions=["ptsd", "anxiety"],
                          therapy="medication-only", lat=SAN_ANTONIO[0], lon=SAN_ANTONIO[1],
                          confirmed_at=days_ago(5),
                          insurance=[{"carrier": "aetna", "service": "psychotherapy", "network": "in-network"}]),
        "far": make_clinic(name="Far Place", methods=["iv"], lat=DALLAS[0], lon=DALLAS[1]),
        "home": make_clinic(name="Home Programme", methods=["oral"], settings=["at-home"], at_home_states=["TX"],
                            lat=DALLAS[0], lon=DALLAS[1], conditions=["anxiety"]),
    }


@pytest.mark.parametrize("params, expected", [
    ({}, ["IV Place", "Spravato Place", "Home Programme"]),
    ({"radius": "100"}, ["IV Place", "Spravato Place", "IM Place", "Home Programme"]),
    ({"radius": "500"}, ["IV Place", "Spravato Place", "IM Place", "Far Place", "Home Programme"]),
    ({"radius": "100", "method": "im"}, ["IM Place"]),
    ({"radius": "100", "method": ["im", "esketamine-nasal"]}, ["Spravato Place", "IM Place"]),
    ({"radius": "100", "method": "oral"}, ["Home Programme"]),
    ({"radius": "100", "condition": "anxiety"}, ["IM Place", "Home Programme"]),
    ({"radius": "100", "condition": ["ptsd", "treatment-resistant-depression"]}, ["Spravato Place", "IM Place"]),
    ({"radius": "100", "condition": "anxiety", "method": "oral"}, ["Home Programme"]),
    ({"radius": "100", "setting": "in-clinic"}, ["IV Place", "Spravato Place", "IM Place"]),
    ({"radius": "100", "setting": "at-home"}, ["Home Programme"]),
    ({"radius": "100", "accepting": "1"}, ["IV Place", "IM Place", "Home Programme"]),
    ({"radius": "100", "accepting": "0"}, ["IV Place", "Spravato Place", "IM Place", "Home Programme"]),
    ({"radius": "100", "insurance": "aetna"}, ["IV Place", "Spravato Place"]),  # IM: psychotherapy not offered
    ({"radius": "100", "insurance": "aetna", "plan_type": "ppo"}, ["IV Place"]),
    ({"radius": "100", "insurance": "aetna", "plan_type": "hmo"}, ["Spravato Place"]),
    ({"radius": "100", "insurance": "aetna", "plan_type": "epo"}, []),
    ({"radius": "100", "insurance": "cigna"}, ["Spravato Place"]),
    ({"radius": "100", "insurance": "aetna", "service": "esketamine"}, ["Spravato Place"]),
    ({"radius": "100", "insurance": "aetna", "service": "evaluation"}, []),
    ({"radius": "100", "insurance": "humana"}, []),
    ({"radius": "100", "sort": "name"}, ["IM Place", "IV Place", "Spravato Place", "Home Programme"]),
    ({"radius": "100", "sort": "verified"}, ["Spravato Place", "IM Place", "IV Place", "Home Programme"]),
])
def test_every_filter_through_the_api(api_get, varied, conforms, params, expected):
    body = api_get("/clinics", location="78701", **params).get_json()
    conforms(body, "SearchResponse")
    assert names(body) == expected
    assert body["total"] == len(expected)


def test_filters_without_location(api_get, varied):
    body = api_get("/clinics", method="iv", setting="in-clinic").get_json()
    assert names(body) == ["Far Place", "IV Place"]


def test_coverage_is_given_only_with_insurance(api_get, varied, conforms):
    plain = api_get("/clinics", location="78701").get_json()
    assert all("coverage" not in r for r in plain["results"])

    body = api_get("/clinics", location="78701", insurance="aetna", plan_type="ppo").get_json()
    conforms(body, "SearchResponse")
    [r] = body["results"]
    assert [(c["service"], c["status"]) for c in r["coverage"]] == [
        ("esketamine", "not-offered"), ("ketamine", "in-network"), ("psychotherapy", "self-pay"),
        ("evaluation", "not-offered")]
    ketamine = r["coverage"][1]
    assert (ketamine["network"], ketamine["plan_types"]) == ("in-network", ["ppo"])
    assert ketamine["as_of"] == date.today().isoformat()


def test_coverage_out_of_network_and_self_pay_prices(api_get, full_clinic, conforms):
    body = api_get("/clinics", location="78701", insurance="aetna", plan_type="ppo").get_json()
    conforms(body, "SearchResponse")
    coverage = {c["service"]: c for c in body["results"][0]["coverage"]}
    assert coverage["esketamine"]["status"] == "in-network"
    assert coverage["ketamine"]["status"] == "out-of-network"
    assert (coverage["ketamine"]["min_usd"], coverage["ketamine"]["max_usd"]) == (450, 600)
    assert coverage["psychotherapy"]["status"] == "self-pay"
    assert (coverage["psychotherapy"]["min_usd"], coverage["psychotherapy"]["max_usd"]) == (150, 200)
    assert "superbill" in coverage["psychotherapy"]["notes"]
    # Aetna HMO: the ketamine row is PPO-only, so ketamine is self-pay there.
    hmo = api_get("/clinics", location="78701", insurance="aetna", plan_type="hmo").get_json()
    assert {c["service"]: c["status"] for c in hmo["results"][0]["coverage"]}["ketamine"] == "self-pay"


# --- pagination -------------------------------------------------------------------------------

@pytest.fixture
def seven(make_clinic):
    return [make_clinic(name=f"Clinic {i}") for i in range(7)]


def test_pages_slice_the_results_and_count_them(api_get, seven):
    seen = []
    for page in (1, 2, 3):
        body = api_get("/clinics", per_page="3", page=str(page)).get_json()
        assert (body["total"], body["pages"], body["page"], body["per_page"]) == (7, 3, page, 3)
        seen += names(body)
    assert seen == [f"Clinic {i}" for i in range(7)]


@pytest.mark.parametrize("page", ["0", "-5"])
def test_page_below_one_is_page_one(api_get, seven, page):
    body = api_get("/clinics", per_page="3", page=page).get_json()
    assert body["page"] == 1 and body["query"]["page"] == 1
    assert names(body) == ["Clinic 0", "Clinic 1", "Clinic 2"]


@pytest.mark.parametrize("page", ["4", "99999999999999999999999999"])
def test_page_past_the_end_is_empty_not_an_error(api_get, seven, conforms, page):
    response = api_get("/clinics", per_page="3", page=page)
    assert response.status_code == 200
    body = response.get_json()
    conforms(body, "SearchResponse")
    assert body["results"] == [] and body["total"] == 7 and body["pages"] == 3


def test_nothing_matches_is_zero_pages(api_get, seven):
    body = api_get("/clinics", location="10001").get_json()
    assert (body["total"], body["pages"], body["results"]) == (0, 0, [])


# --- distances against an independent oracle --------------------------------------------------

def test_distances_and_radius_match_the_great_circle_oracle(api_get, make_clinic):
    rng = random.Random(20250101)
    now = utcnow()
    clinics = [make_clinic(name=f"Oracle {i:02d}", lat=AUSTIN[0] + rng.uniform(-1.5, 1.5),
                           lon=AUSTIN[1] + rng.uniform(-1.7, 1.7), confirmed_at=now - timedelta(days=i))
               for i in range(40)]
    for radius in (10, 40, 90):
        expected = {}
        for c in clinics:
            miles = oracle_miles(AUSTIN, (c.lat, c.lon))
            if miles <= radius:
                expected[c.id] = (tenth(miles), tenth(miles * 1.609344))
        body = api_get("/clinics", location="78701", radius=str(radius), per_page="100").get_json()
        got = {r["id"]: (r["distance_mi"], r["distance_km"]) for r in body["results"]}
        assert got == expected
        assert body["total"] == len(expected)
        distances = [r["distance_mi"] for r in body["results"]]
        assert distances == sorted(distances)
