"""Bad input through the API (issue 2's table and DESIGN.md → Parameters at the edges): always a JSON
error in the published shape naming the first bad parameter, never a 500."""
from __future__ import annotations

import pytest


def error_of(response, status: int, conforms) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/json"
    body = response.get_json()
    conforms(body, "Error")
    return body["error"]


@pytest.mark.parametrize("location", ["Atlantis, ZZ", "zzzz", "00000", "Nowhere, TX", "<script>alert(1)</script>",
                                      "'; DROP TABLE clinic; --"])
def test_unknown_location_is_400_unknown_location(api_get, make_clinic, conforms, location):
    make_clinic()
    error = error_of(api_get("/clinics", location=location), 400, conforms)
    assert error["code"] == "unknown_location"
    assert error["field"] == "location"
    assert location.strip() in error["message"]
    assert "5-digit ZIP" in error["message"]


def test_unknown_location_carries_suggestions_that_resolve(api_get, make_clinic, conforms):
    make_clinic(name="Loop Ketamine", city="Chicago", state="IL", zip="60601", lat=41.8858, lon=-87.6181)
    error = error_of(api_get("/clinics", location="Chicgo"), 400, conforms)
    assert error["code"] == "unknown_location" and error["field"] == "location"
    assert error["suggestions"][0] == {"label": "Chicago, IL", "location": "Chicago, IL"}
    assert len(error["suggestions"]) <= 3
    body = api_get("/clinics", location=error["suggestions"][0]["location"]).get_json()
    assert body["query"]["location"]["label"] == "Chicago, IL"
    assert [r["name"] for r in body["results"]] == ["Loop Ketamine"]
    # With a state, only that state's places.
    error = error_of(api_get("/clinics", location="Chicgo, IL"), 400, conforms)
    assert [s["label"] for s in error["suggestions"]] == ["Chicago, IL"]


def test_nothing_close_is_an_empty_suggestion_list(api_get, conforms):
    error = error_of(api_get("/clinics", location="zzzz"), 400, conforms)
    assert error["suggestions"] == []


def test_zip_in_another_state_is_unknown_location_offering_the_zip(api_get, conforms):
    error = error_of(api_get("/clinics", location="Austin, NY 78701"), 400, conforms)
    assert error["code"] == "unknown_location"
    assert "78701" in error["message"] and "Texas" in error["message"] and "New York" in error["message"]
    assert error["suggestions"][0] == {"label": "78701 (Austin, TX)", "location": "78701"}


@pytest.mark.parametrize("address", ["123 Main St, Austin, TX 78701", "New York, NY 10001", "Austin, TX 78701-1234",
                                     "123 Main St, Austin, TX"])
def test_street_addresses_resolve(api_get, address):
    response = api_get("/clinics", location=address)
    assert response.status_code == 200
    location = response.get_json()["query"]["location"]
    assert location["input"] == address
    assert location["label"] == ("New York, NY" if "10001" in address else "Austin, TX")


def test_ambiguous_choices_come_largest_place_first(api_get, conforms):
    error = error_of(api_get("/clinics", location="Portland"), 400, conforms)
    assert [c["label"] for c in error["choices"]][:2] == ["Portland, OR", "Portland, ME"]
    error = error_of(api_get("/clinics", location="Brooklyn"), 400, conforms)
    assert error["choices"][0]["label"] == "Brooklyn, NY"


def test_ambiguous_city_lists_the_choices(api_get, conforms):
    error = error_of(api_get("/clinics", location="Springfield"), 400, conforms)
    assert error["code"] == "ambiguous_location"
    assert error["field"] == "location"
    labels = [c["label"] for c in error["choices"]]
    assert {"Springfield, IL", "Springfield, MA", "Springfield, MO"} <= set(labels)
    assert all(set(c) == {"label", "location"} for c in error["choices"])
    # Each choice is a location value that resolves.
    choice = next(c for c in error["choices"] if c["label"] == "Springfield, IL")
    body = api_get("/clinics", location=choice["location"]).get_json()
    assert body["query"]["location"]["label"] == "Springfield, IL"


@pytest.mark.parametrize("params, field", [
    ({"location": "78701", "radius": "0"}, "radius"),
    ({"location": "78701", "radius": "501"}, "radius"),
    ({"location": "78701", "radius": "abc"}, "radius"),
    ({"location": "78701", "radius": "1e309"}, "radius"),
    ({"location": "78701", "radius": "NaN"}, "radius"),
    ({"location": "78701", "radius": "2.5"}, "radius"),
    ({"method": "snorted"}, "method"),
    ({"method": ["iv", "bogus"]}, "method"),
    ({"insurance": "acme-health"}, "insurance"),
    ({"condition": "flu"}, "condition"),
    ({"setting": "moon"}, "setting"),
    ({"sort": "random"}, "sort"),
    ({"language": ["es", "spanish"]}, "language"),
    ({"accepting": "yes"}, "accepting"),
    ({"plan_type": "ppo"}, "plan_type"),
    ({"service": "esketamine"}, "service"),
    ({"insurance": "aetna", "plan_type": "gold"}, "plan_type"),
    ({"insurance": "aetna", "service": "massage"}, "service"),
    ({"per_page": "1000"}, "per_page"),
    ({"per_page": "0"}, "per_page"),
    ({"per_page": "ten"}, "per_page"),
    ({"page": "abc"}, "page"),
    ({"lat": "30.27"}, "lon"),
    ({"lon": "-97.74"}, "lat"),
    ({"location": "78701", "lat": "30.27", "lon": "-97.74"}, "lat"),
    ({"lat": "91", "lon": "0"}, "lat"),
    ({"lat": "0", "lon": "-181"}, "lon"),
    ({"lat": "NaN", "lon": "0"}, "lat"),
    ({"location": "91,0"}, "location"),
    ({"location": ["78701", "10001"]}, "location"),
    ({"insurance": ["aetna", "cigna"]}, "insurance"),
    ({"radius": ["5", "10"], "location": "78701"}, "radius"),
    ({"location": "7" * 201}, "location"),
    ({"location": "x" * 10_000}, "location"),
    ({"location": "787\x0001"}, "location"),
    ({"method": "iv\x00"}, "method"),
    ({"location": "Austin\n, TX"}, "location"),
])
def test_bad_parameter_is_400_naming_the_field(api_get, conforms, params, field):
    error = error_of(api_get("/clinics", **params), 400, conforms)
    assert error["code"] == "invalid_parameter"
    assert error["field"] == field
    assert error["message"]


def test_field_is_the_first_bad_parameter(api_get, conforms):
    error = error_of(api_get("/clinics", condition="flu", method="bogus", radius="0", location="78701"),
                     400, conforms)
    assert error["field"] == "radius"


def test_unknown_parameters_are_ignored(api_get, make_clinic):
    make_clinic()
    response = api_get("/clinics", colour="blue")
    assert response.status_code == 200
    assert response.get_json()["total"] == 1


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/clinics", "/taxonomy", "/openapi.json"])
def test_other_methods_are_json_405(client, conforms, method, path):
    response = client.open("/api/v1" + path, method=method)
    error = error_of(response, 405, conforms)
    assert error["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_unknown_api_path_is_json_404(client, conforms):
    error = error_of(client.get("/api/v1/nothing-here"), 404, conforms)
    assert error["code"] == "not_found"


def test_errors_are_readable_from_any_origin(api_get):
    response = api_get("/clinics", radius="0", location="78701")
    assert response.headers["Access-Control-Allow-Origin"] == "*"


class TestReadRateLimit:
    """With KAPFINDER_READ_RATE_LIMIT set, the API answers 429 in the error shape with Retry-After."""

    @pytest.fixture
    def app_config(self, app_config):
        app_config.READ_RATE_LIMIT = "3/minute"
        return app_config

    def test_limit_then_429(self, api_get, conforms):
        for _ in range(3):
            assert api_get("/taxonomy").status_code == 200
        response = api_get("/clinics")
        error = error_of(response, 429, conforms)
        assert error["code"] == "rate_limited"
        assert int(response.headers["Retry-After"]) > 0


def test_no_limit_by_default(api_get):
    assert all(api_get("/taxonomy").status_code == 200 for _ in range(50))
