"""The /hsds API: every answer validates against the official compiled schemas, and behaves."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from kapfinder import hsds
from kapfinder.models import utcnow

from .conftest import assert_valid

SERVICE_LIST = "compiled/service_list"


def envelope_ok(body) -> None:
    for key in ("total_items", "total_pages", "page_number", "size", "first_page", "last_page", "empty", "contents"):
        assert key in body


def test_root_says_version_profile_and_openapi_url(client):
    body = client.get("/hsds/").get_json()
    assert body["version"] == "3.0"
    assert body["openapi_url"] == "http://kapfinder.test/hsds/openapi.json"
    assert body["profile"].startswith("https://")


def test_every_document_validates(client, rich_clinic):
    services = client.get("/hsds/services").get_json()
    envelope_ok(services)
    assert services["total_items"] == 5  # Spravato, IV, oral, psychotherapy, evaluation
    for item in services["contents"]:
        assert_valid(SERVICE_LIST, item)
    full = client.get("/hsds/services?full=true").get_json()
    for item in full["contents"]:
        assert_valid("compiled/service", item)
    detail = client.get(f"/hsds/services/{services['contents'][0]['id']}").get_json()
    assert_valid("compiled/service", detail)

    orgs = client.get("/hsds/organizations").get_json()
    assert [o["id"] for o in orgs["contents"]] == [rich_clinic.id]
    assert_valid("compiled/organization_list", orgs["contents"][0])
    for flag in ("false", "true"):
        org = client.get(f"/hsds/organizations/{rich_clinic.id}?full_service={flag}").get_json()
        assert_valid("compiled/organization", org)

    sals = client.get("/hsds/service_at_locations").get_json()
    for item in sals["contents"]:
        assert_valid("compiled/service_at_location_list", item)
    sal = client.get(f"/hsds/service_at_locations/{sals['contents'][0]['id']}").get_json()
    assert_valid("compiled/service_at_location", sal)
    assert sal["location"]["latitude"] == pytest.approx(30.2672)

    for item in client.get("/hsds/taxonomies?per_page=100").get_json()["contents"]:
        assert_valid("taxonomy", item)
        assert_valid("taxonomy", client.get(f"/hsds/taxonomies/{item['id']}").get_json())
    terms = client.get("/hsds/taxonomy_terms?per_page=100").get_json()
    for item in terms["contents"]:
        assert_valid("taxonomy_term", item)
    assert_valid("taxonomy_term", client.get(f"/hsds/taxonomy_terms/{terms['contents'][0]['id']}").get_json())


def test_ids_are_stable_and_documented(client, rich_clinic):
    org = client.get(f"/hsds/organizations/{rich_clinic.id}?full_service=true").get_json()
    assert org["id"] == rich_clinic.id
    keys = {s["name"]: s["id"] for s in org["services"]}
    expected = str(uuid.uuid5(hsds.NAMESPACE, f"{rich_clinic.id}/service/ketamine-iv"))
    assert keys["Ketamine: IV infusion"] == expected
    method = str(uuid.uuid5(hsds.NAMESPACE, "taxonomy/method"))
    assert client.get(f"/hsds/taxonomies/{method}").get_json()["name"] == "kapfinder:method"
    iv = str(uuid.uuid5(hsds.NAMESPACE, "term/method/iv"))
    assert client.get(f"/hsds/taxonomy_terms/{iv}").get_json()["code"] == "iv"


def test_organization_carries_npi_metadata_and_location(client, rich_clinic):
    org = client.get(f"/hsds/organizations/{rich_clinic.id}?full_service=true").get_json()
    assert org["organization_identifiers"][0]["identifier"] == "1234567893"
    location = org["locations"][0]
    assert location["addresses"][0]["postal_code"] == "78701"
    assert location["phones"][0]["number"] == "(512) 555-0123"
    assert [s["byday"] for s in location["schedules"]] == ["MO", "WE"]
    actions = {m["field_name"]: m["replacement_value"] for m in org["metadata"]}
    assert actions["verified_at"].endswith("Z") and actions["confirmed_at"].endswith("Z")
    esk = next(s for s in org["services"] if s["name"].startswith("Spravato"))
    assert esk["assured_date"] == rich_clinic.confirmed_at.date().isoformat()
    insurance = [a for a in esk["attributes"] if a["link_type"] == "insurance"]
    assert insurance[0]["taxonomy_term"]["code"] == "aetna"
    assert insurance[0]["value"] == "in-network; plan_types=hmo,ppo; as_of=2024-04-01"
    iv = next(s for s in org["services"] if s["name"] == "Ketamine: IV infusion")
    oral = next(s for s in org["services"] if s["name"].startswith("Ketamine: Oral"))
    for racemic in (iv, oral):  # each racemic method carries the ketamine insurance and prices
        assert [a["taxonomy_term"]["code"] for a in racemic["attributes"] if a["link_type"] == "insurance"] == ["cigna"]
        assert racemic["cost_options"][0]["amount_description"] == "USD 450-600 per session"
        assert racemic["cost_options"][0]["currency"] == "USD"
        assert sorted(a["extent"] for a in racemic["service_areas"]) == ["OK", "TX"]


def test_only_published_listings_and_unknown_ids_are_404(client, make_clinic):
    hidden = make_clinic(status="pending")
    assert client.get("/hsds/organizations").get_json()["total_items"] == 0
    for path in (f"/hsds/organizations/{hidden.id}",
                 f"/hsds/services/{hsds.service_id(hidden.id, 'ketamine-iv')}",
                 f"/hsds/service_at_locations/{hsds.sal_id(hidden.id, 'ketamine-iv')}",
                 "/hsds/taxonomies/nope", f"/hsds/taxonomy_terms/{uuid.uuid4()}", "/hsds/services/..%2f"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("query, field", [
    ("per_page=0", "per_page"), ("per_page=101", "per_page"), ("page=0", "page"), ("page=x", "page"),
    ("minimal=yes", "minimal"), ("format=xml", "format"), ("taxonomy_term_id=abc", "taxonomy_term_id"),
    ("modified_after=yesterday", "modified_after"), ("search=a%00b", "search"), ("search=" + "a" * 201, "search"),
    ("page=1&page=2", "page"),
])
def test_bad_parameters_are_400_in_the_error_shape(client, query, field):
    response = client.get(f"/hsds/services?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == field and error["code"] and error["message"]


@pytest.mark.parametrize("query, field", [
    ("proximity=1000", "postcode"), ("postcode=99999", "postcode"), ("postcode=7870", "postcode"),
    ("postcode=78701&proximity=0", "proximity"), ("postcode=78701&proximity=804673", "proximity"),
    ("postcode=78701&proximity=far", "proximity"),
])
def test_postcode_and_proximity_are_checked(client, query, field):
    for extra in ("", "&format=ndjson"):
        response = client.get(f"/hsds/service_at_locations?{query}{extra}")
        assert response.status_code == 400
        assert response.get_json()["error"]["field"] == field


def test_paging_envelope(client, make_clinic):
    for n in range(3):
        make_clinic(name=f"Clinic {n}")
    body = client.get("/hsds/services?per_page=2&page=2").get_json()
    assert (body["total_items"], body["total_pages"], body["page_number"], body["size"]) == (6, 3, 2, 2)
    assert (body["first_page"], body["last_page"], body["empty"]) == (False, False, False)
    past = client.get("/hsds/services?per_page=2&page=9").get_json()
    assert past["empty"] is True and past["size"] == 0 and past["contents"] == []


def test_search_is_a_case_insensitive_substring(client, make_clinic):
    make_clinic(name="Sunrise Wellness", description="Calm rooms.", methods=["iv"], therapy="medication-only")
    make_clinic(name="Other Place", description="We also do SUNRISE sessions.", methods=["im"],
                therapy="medication-only")
    make_clinic(name="Third", description="Nothing.", methods=["esketamine-nasal"], therapy="medication-only")
    names = lambda q: sorted(s["organization"]["name"] for s in client.get(f"/hsds/services?search={q}").get_json()["contents"])  # noqa: E731
    assert names("sunrise") == ["Other Place", "Sunrise Wellness"]
    assert names("SPRAVATO") == ["Third"]  # the service name
    assert names("100%25") == []
    orgs = client.get("/hsds/organizations?search=WELLNESS").get_json()
    assert [o["name"] for o in orgs["contents"]] == ["Sunrise Wellness"]


def test_taxonomy_filters(client, make_clinic):
    iv = make_clinic(name="A", methods=["iv"], therapy="medication-only", conditions=["ptsd"])
    make_clinic(name="B", methods=["esketamine-nasal"], therapy="medication-only", conditions=["depression"],
                insurance=[{"carrier": "aetna", "service": "esketamine", "network": "in-network"}])
    term = hsds.term_id("method", "iv")
    body = client.get(f"/hsds/services?taxonomy_term_id={term}").get_json()
    assert [s["organization_id"] for s in body["contents"]] == [iv.id]
    aetna = hsds.term_id("insurance", "aetna")
    assert [s["organization"]["name"] for s in client.get(f"/hsds/services?taxonomy_term_id={aetna}").get_json()["contents"]] == ["B"]
    insurance = hsds.taxonomy_id("insurance")
    assert client.get(f"/hsds/service_at_locations?taxonomy_id={insurance}").get_json()["total_items"] == 1
    assert client.get(f"/hsds/services?organization_id={iv.id}").get_json()["total_items"] == 1
    assert client.get(f"/hsds/services?taxonomy_term_id={uuid.uuid4()}").get_json()["total_items"] == 0


def test_modified_after_and_minimal(client, make_clinic):
    make_clinic(name="Old")
    cutoff = utcnow() + timedelta(seconds=1)
    assert client.get(f"/hsds/services?modified_after={cutoff.strftime('%Y-%m-%dT%H:%M:%SZ')}").get_json()["total_items"] == 0
    body = client.get("/hsds/services?modified_after=2000-01-01T00:00:00Z&minimal=true").get_json()
    assert body["total_items"] == 2
    for item in body["contents"]:
        assert set(item) == {"id", "name", "status", "last_modified"}
        assert_valid(SERVICE_LIST, item)


def test_ndjson_streams_the_whole_list(client, make_clinic):
    for n in range(25):
        make_clinic(name=f"Clinic {n:02d}", methods=["iv"], therapy="medication-only")
    response = client.get("/hsds/services?format=ndjson&per_page=1")
    assert response.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert len(lines) == 25
    for line in lines:
        assert_valid(SERVICE_LIST, line)
    orgs = client.get("/hsds/organizations?format=ndjson").get_data(as_text=True).splitlines()
    assert len(orgs) == 25


def test_taxonomy_terms_top_only_and_parent_id(client):
    method = hsds.taxonomy_id("method")
    body = client.get(f"/hsds/taxonomy_terms?taxonomy_id={method}&top_only=true").get_json()
    assert [t["code"] for t in body["contents"]] == ["iv", "im", "oral", "esketamine-nasal", "ketamine-nasal"]
    assert client.get(f"/hsds/taxonomy_terms?parent_id={hsds.term_id('method', 'iv')}").get_json()["total_items"] == 0


def test_postcode_ranks_by_distance(client, make_clinic):
    far = make_clinic(name="Round Rock", zip="78664", lat=30.5083, lon=-97.6789, methods=["iv"], therapy="medication-only")
    near = make_clinic(name="Zilker", zip="78704", lat=30.2500, lon=-97.7600, methods=["iv"], therapy="medication-only")
    make_clinic(name="Dallas", city="Dallas", zip="75201", lat=32.7876, lon=-96.7994, methods=["iv"], therapy="medication-only")
    body = client.get("/hsds/service_at_locations?postcode=78701").get_json()
    assert [s["service"]["organization_id"] for s in body["contents"]] == [near.id, far.id]
    small = client.get("/hsds/service_at_locations?postcode=78701&proximity=5000").get_json()
    assert [s["service"]["organization_id"] for s in small["contents"]] == [near.id]


def test_sample_listings_are_marked(client, make_clinic):
    clinic = make_clinic(sample=True)
    service = client.get("/hsds/services?full=true").get_json()["contents"][0]
    assert any(a["taxonomy_term"]["code"] == "sample" for a in service["attributes"])
    org = client.get(f"/hsds/organizations/{clinic.id}").get_json()
    assert any(a["taxonomy_term"]["code"] == "sample" for a in org["attributes"])


def test_proximity_keeps_to_the_radius_and_leaves_far_at_home_programmes_out(client, make_clinic):
    near = make_clinic(name="Zilker", zip="78704", lat=30.2500, lon=-97.7600, methods=["iv"], therapy="medication-only")
    # An at-home programme serving Texas, its office in El Paso (about 850 km from Austin).
    far_home = make_clinic(name="Home Visits TX", city="El Paso", zip="79901", lat=31.7587, lon=-106.4869,
                           settings=["at-home"], at_home_states=["TX"], methods=["im"], therapy="medication-only")
    # A clinic within the radius that also visits homes stays: its clinic is within the proximity.
    near_home = make_clinic(name="Clinic and Home Visits", zip="78702", lat=30.2640, lon=-97.7140,
                            settings=["in-clinic", "at-home"], at_home_states=["TX"], methods=["im"],
                            therapy="medication-only")
    body = client.get("/hsds/service_at_locations?postcode=78701&proximity=30000").get_json()
    ids = [s["service"]["organization_id"] for s in body["contents"]]
    assert set(ids) == {near.id, near_home.id} and far_home.id not in ids
    assert body["total_items"] == 2
    # The patient's search still offers the far programme: it serves their state.
    found = client.get("/api/v1/clinics", query_string={"location": "78701", "radius": 25}).get_json()
    assert far_home.id in [r["id"] for r in found["results"]]
