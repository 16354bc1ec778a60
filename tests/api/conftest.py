"""Helpers for the JSON API tests: GET with repeatable parameters, and validation against the
OpenAPI document the server itself publishes."""
from __future__ import annotations

from datetime import date

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from kapfinder.openapi import build_openapi

AUSTIN = (30.2713, -97.7426)  # ZIP 78701 centroid
OPENAPI_URI = "urn:kapfinder:openapi"


@pytest.fixture
def api_get(client):
    """``api_get("/clinics", location="78701", method=["iv", "im"])`` → the test response."""

    def get(path: str, **params):
        pairs = []
        for name, value in params.items():
            for v in value if isinstance(value, list) else [value]:
                pairs.append((name, str(v)))
        return client.get("/api/v1" + path, query_string=pairs)

    return get


@pytest.fixture
def openapi_doc(app):
    """The document as the app serves it (test_api_openapi checks the route returns exactly this)."""
    return build_openapi(app.config["BASE_URL"] + "/api/v1")


@pytest.fixture
def conforms(openapi_doc):
    """``conforms(body, "SearchResponse")`` raises if the body does not match the published schema."""
    registry = Registry().with_resource(OPENAPI_URI, Resource.from_contents(openapi_doc, DRAFT202012))

    def check(body, schema_name: str) -> None:
        schema = {"$ref": f"{OPENAPI_URI}#/components/schemas/{schema_name}"}
        validator = Draft202012Validator(schema, registry=registry,
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])

    return check


@pytest.fixture
def full_clinic(make_clinic, days_ago):
    """A clinic with every field filled, published, at the Austin 78701 centroid."""
    return make_clinic(
        name="Hill Country Ketamine Care", slug="hill-country-ketamine-care-austin",
        lat=AUSTIN[0], lon=AUSTIN[1], street="100 Congress Ave", city="Austin", state="TX", zip="78701",
        methods=["oral", "esketamine-nasal", "iv"], settings=["at-home", "in-clinic"],
        conditions=["ptsd", "depression"], therapy="integrated", therapy_extras=["somatic", "group-integration"],
        offers_evaluation=True, sliding_scale=True, superbill=True, hsa_fsa=False, financing=False,
        prescriber_types=["np", "md"], therapist_licenses=["lcsw"], rems_certified=True,
        vital_signs_monitoring=True, medical_screening=True, npi="1234567893",
        hours=[{"day": "mo", "opens": "09:00", "closes": "17:00"}], hours_note="Closed on federal holidays.",
        at_home_states=["TX", "OK"], accepting_new_patients=True, accepting_as_of=date(2025, 5, 1),
        languages=["en", "es"], interpreter_services=True, interpreter_languages=["ase"],
        languages_as_of=date(2025, 4, 1),
        verified_at=days_ago(10), confirmed_at=days_ago(3),
        insurance=[
            {"carrier": "aetna", "service": "ketamine", "network": "out-of-network", "plan_types": ["ppo"],
             "as_of": date(2025, 4, 2)},
            {"carrier": "aetna", "service": "esketamine", "network": "in-network", "plan_types": ["ppo", "hmo"],
             "as_of": date(2025, 4, 1)},
            {"carrier": "cigna", "service": "esketamine", "network": "in-network", "as_of": date(2025, 4, 3)},
        ],
        prices=[{"service": "psychotherapy", "min_usd": 150, "max_usd": 200, "as_of": date(2025, 3, 1)},
                {"service": "ketamine", "min_usd": 450, "max_usd": 600, "as_of": date(2025, 3, 2)}],
    )
