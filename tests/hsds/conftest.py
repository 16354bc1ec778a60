"""Fixtures of the open-data tests: a small published directory covering every mapped field."""
from __future__ import annotations

from datetime import date

import pytest

from kapfinder.exchange import schemas


def assert_valid(name: str, document) -> None:
    """The document validates against the official schema ``name`` (e.g. "compiled/service")."""
    problems = [f"{schemas.pointer(e.absolute_path)}: {e.message}" for e in schemas.errors(name, document)]
    assert not problems, f"{name}: " + "; ".join(problems[:5])


@pytest.fixture
def rich_clinic(make_clinic, days_ago):
    """A clinic that uses every field HSDS carries."""
    return make_clinic(
        name="Hill Country <b>Ketamine</b> {{ 7*7 }}", slug="hill-country-ketamine-austin",
        description="Ketamine & Spravato; integration therapy.", street="100 Congress Ave", city="Austin",
        state="TX", zip="78701", lat=30.2672, lon=-97.7431, phone="+15125550123",
        website="https://hill.example", email="care@hill.example",
        hours=[{"day": "mo", "opens": "09:00", "closes": "17:00"}, {"day": "we", "opens": "10:00", "closes": "18:30"}],
        hours_note="Closed on public holidays.", methods=["iv", "oral", "esketamine-nasal"],
        settings=["in-clinic", "at-home"], at_home_states=["TX", "OK"], conditions=["depression", "ptsd"],
        therapy="prep-integration", therapy_extras=["group-integration"], offers_evaluation=True,
        sliding_scale=True, superbill=True, accepting_new_patients=True, accepting_as_of=date(2024, 5, 1),
        prescriber_types=["md", "np"], therapist_licenses=["lcsw"], rems_certified=True,
        vital_signs_monitoring=True, medical_screening=True, npi="1234567893",
        languages=["en", "es", "ase"], interpreter_services=True, interpreter_languages=["vi", "so"],
        languages_as_of=date(2024, 6, 1),
        verified_at=days_ago(10), confirmed_at=days_ago(5),
        insurance=[
            {"carrier": "aetna", "service": "esketamine", "network": "in-network", "plan_types": ["ppo", "hmo"],
             "as_of": date(2024, 4, 1)},
            {"carrier": "cigna", "service": "ketamine", "network": "out-of-network", "as_of": date(2024, 3, 1)},
            {"carrier": "aetna", "service": "psychotherapy", "network": "in-network"},
        ],
        prices=[{"service": "ketamine", "min_usd": 450, "max_usd": 600, "as_of": date(2024, 2, 1)},
                {"service": "evaluation", "min_usd": 250, "max_usd": 250}],
    )
