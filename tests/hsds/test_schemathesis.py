"""Schemathesis against the official HSDS openapi.json and against kapfinder's patched copy.

In-process (WSGI), a fixed and bounded number of examples per operation, nothing fetched: the
official document's ``$ref`` URLs are resolved to the files in kapfinder/data/hsds-3.0.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance, response_schema_conformance

from kapfinder.hsds.openapi import official_with_local_refs

EXAMPLES = 25
OFFICIAL_OPERATIONS = ["GET /", "GET /services", "GET /services/{id}", "GET /organizations",
                       "GET /organizations/{id}", "GET /service_at_locations", "GET /taxonomies",
                       "GET /taxonomies/{id}", "GET /taxonomy_terms", "GET /taxonomy_terms/{id}"]
PATCHED_OPERATIONS = OFFICIAL_OPERATIONS + ["GET /service_at_locations/{id}"]


@pytest.fixture
def directory(rich_clinic, make_clinic):
    make_clinic(name="Sample Home", settings=["at-home"], at_home_states=["TX"], methods=["oral"], sample=True)
    return rich_clinic


def operations(schema):
    return {op.ok().label: op.ok() for op in schema.get_all_operations()}


def run(operation, app, **validate) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate(app=app, base_url="http://kapfinder.test/hsds", **validate)

    check()


@pytest.mark.slow
@pytest.mark.parametrize("label", OFFICIAL_OPERATIONS)
def test_official_document_finds_no_server_error_or_bad_200(app, directory, label):
    schema = schemathesis.openapi.from_dict(official_with_local_refs())
    run(operations(schema)[label], app, checks=[not_a_server_error, response_schema_conformance])


@pytest.mark.slow
@pytest.mark.parametrize("label", PATCHED_OPERATIONS)
def test_patched_document_passes_every_check(app, directory, label):
    schema = schemathesis.openapi.from_wsgi("/hsds/openapi.json", app)
    excluded = [positive_data_acceptance] if label == "GET /service_at_locations" else []
    # postcode/proximity pairing and unknown ZIPs: no per-parameter schema can say it (DESIGN.md).
    run(operations(schema)[label], app, excluded_checks=excluded)


def test_patched_document_corrects_the_service_at_location_schema(client):
    doc = client.get("/hsds/openapi.json").get_json()
    answer = doc["paths"]["/service_at_locations/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert answer["schema"] == {"$ref": "#/components/schemas/compiled_service_at_location"}
    assert "raw.githubusercontent.com" not in client.get("/hsds/openapi.json").get_data(as_text=True)
    assert doc["paths"]["/services"]["get"]["responses"]["400"]
    assert doc["paths"]["/services/{id}"]["get"]["responses"]["404"]
