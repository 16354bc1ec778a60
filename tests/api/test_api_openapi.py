"""GET /api/v1/openapi.json and /api/v1/taxonomy: a valid OpenAPI 3.1 document that matches the
routes, the vocabularies and the server's real answers."""
from __future__ import annotations

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from kapfinder import vocab

VOCAB_PARAMETERS = {"method": vocab.METHODS, "insurance": vocab.CARRIERS, "plan_type": vocab.PLAN_TYPES,
                    "service": vocab.SERVICES, "condition": vocab.CONDITIONS, "setting": vocab.SETTINGS,
                    "sort": vocab.SORTS}


def search_params(doc) -> dict[str, dict]:
    return {p["name"]: p for p in doc["paths"]["/clinics"]["get"]["parameters"]}


def param_enum(param) -> list[str]:
    schema = param["schema"]
    return schema.get("items", schema)["enum"]


def test_served_document_is_valid_openapi_31(client, openapi_doc):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    served = response.get_json()
    assert served == openapi_doc
    assert served["openapi"].startswith("3.1")
    assert served["servers"] == [{"url": "http://kapfinder.test/api/v1"}]
    OpenAPIV31SpecValidator(served).validate()


def test_every_api_route_is_documented_and_every_documented_path_exists(app, openapi_doc):
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            assert rule.methods - {"HEAD", "OPTIONS"} == {"GET"}, rule
            path = rule.rule.removeprefix("/api/v1")
            routes.add(path.replace("<ident>", "{clinic}"))
    assert routes == set(openapi_doc["paths"])
    assert all(set(item) == {"get"} for item in openapi_doc["paths"].values())


@pytest.mark.parametrize("name", sorted(VOCAB_PARAMETERS))
def test_parameter_enums_are_the_vocabularies(openapi_doc, name):
    assert param_enum(search_params(openapi_doc)[name]) == list(VOCAB_PARAMETERS[name].slugs)


@pytest.mark.parametrize("name", sorted(VOCAB_PARAMETERS))
def test_every_documented_value_is_accepted_and_others_are_not(api_get, openapi_doc, name):
    extra = {"insurance": "aetna"} if name in ("plan_type", "service") else {}
    for value in param_enum(search_params(openapi_doc)[name]):
        assert api_get("/clinics", **{**extra, name: value}).status_code == 200, value
    response = api_get("/clinics", **{**extra, name: "not-a-" + name})
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == name


@pytest.mark.parametrize("name", ["radius", "per_page", "lat", "lon"])
def test_numeric_bounds_are_the_ones_the_server_enforces(api_get, openapi_doc, name):
    schema = search_params(openapi_doc)[name]["schema"]
    lo, hi = schema["minimum"], schema["maximum"]
    pair = {"radius": {"location": "78701"}, "per_page": {}, "lat": {"lon": "0"}, "lon": {"lat": "0"}}[name]
    for ok in (lo, hi):
        assert api_get("/clinics", **pair, **{name: str(ok)}).status_code == 200, ok
    step = 1 if schema["type"] == "integer" else 0.5
    for bad in (lo - step, hi + step):
        response = api_get("/clinics", **pair, **{name: str(bad)})
        assert response.status_code == 400, bad
        assert response.get_json()["error"]["field"] == name


def test_text_parameter_limits_are_documented(openapi_doc):
    location = search_params(openapi_doc)["location"]["schema"]
    assert location["maxLength"] == 200
    assert "\\u0000" in location["pattern"]


def test_error_codes_are_documented(openapi_doc):
    codes = openapi_doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    assert {"invalid_parameter", "unknown_location", "ambiguous_location", "not_found", "method_not_allowed",
            "rate_limited"} <= set(codes)
    responses = openapi_doc["paths"]["/clinics"]["get"]["responses"]
    assert {"200", "400", "429"} <= set(responses)
    assert "404" in openapi_doc["paths"]["/clinics/{clinic}"]["get"]["responses"]
    assert "MethodNotAllowed" in openapi_doc["components"]["responses"]


def test_taxonomy_lists_every_vocabulary_with_labels(api_get, conforms):
    response = api_get("/taxonomy")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = response.get_json()
    conforms(body, "Taxonomy")
    assert set(body) == set(vocab.TAXONOMY)
    assert {"method", "setting", "insurance", "plan_type", "service", "network", "condition", "therapy",
            "therapy_extra"} <= set(body)
    assert [t["slug"] for t in body["insurance"]] == list(vocab.CARRIERS.slugs)
    languages = {t["slug"]: t["label"] for t in body["language"]}
    assert len(languages) == 31 and languages["es"] == "Spanish" and languages["ase"] == "American Sign Language (ASL)"
    uhc = next(t for t in body["insurance"] if t["slug"] == "uhc")
    assert uhc["label"] == "UnitedHealthcare"
    assert [t["slug"] for t in body["service"]] == ["esketamine", "ketamine", "psychotherapy", "evaluation"]
    assert [t["slug"] for t in body["plan_type"]] == ["hmo", "ppo", "epo", "pos", "hdhp", "medicare-advantage",
                                                      "other"]
    for terms in body.values():
        assert all(set(t) == {"slug", "label", "description"} and t["label"] and t["description"]
                   for t in terms)


def test_schemas_reject_what_the_api_never_sends(conforms):
    """A schema that accepts anything proves nothing: check the validator bites."""
    with pytest.raises(AssertionError):
        conforms({"error": {"code": "teapot", "message": "x", "field": None}}, "Error")
    with pytest.raises(AssertionError):
        conforms({"query": {}, "total": 0, "page": 1, "per_page": 20, "pages": 0, "results": [], "extra": 1},
                 "SearchResponse")
