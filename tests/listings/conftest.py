"""Fixtures for listings, moderation and owner pages: accounts and a valid listing form."""
from __future__ import annotations

import itertools
import re
from html import unescape

import pytest

from kapfinder.models import User, utcnow

PASSWORD = "correct horse battery staple"  # = fixtures.accounts.DEFAULT_PASSWORD
_n = itertools.count(1)


def _make_account(db_session, role: str, email: str | None = None) -> User:
    from kapfinder import accounts

    email = email or f"{role}{next(_n)}@owners.example"
    return accounts.create_user(db_session, email, PASSWORD, role=role, confirmed=True)


@pytest.fixture
def db_session(app):
    """The request-scoped session itself (services call ``session.in_transaction()``)."""
    from kapfinder.extensions import db

    return db.session()


@pytest.fixture
def make_account(db_session):
    return lambda role="owner", email=None: _make_account(db_session, role, email)


@pytest.fixture
def owner(make_account) -> User:
    return make_account("owner")


@pytest.fixture
def other_owner(make_account) -> User:
    return make_account("owner")


@pytest.fixture
def moderator(make_account) -> User:
    return make_account("moderator")


def valid_listing(**overrides) -> dict:
    """What a filled-in listing form submits, as the service reads it."""
    data = {
        "name": "Calm Harbor Ketamine", "description": "Ketamine-assisted psychotherapy in Austin.",
        "street": "100 Congress Ave", "city": "Austin", "state": "TX", "zip": "78701",
        "lat": None, "lon": None, "phone": "(512) 555-0100", "website": "https://www.calmharbor.example",
        "email": "care@calmharbor.example", "npi": "1234567893",
        "methods": ["iv", "im"], "settings": ["in-clinic"], "at_home_states": [],
        "conditions": ["depression", "ptsd"], "therapy": "prep-integration", "therapy_extras": [],
        "offers_evaluation": True, "sliding_scale": False, "financing": True, "superbill": True,
        "hsa_fsa": False, "accepting_new_patients": True,
        "prescriber_types": ["md"], "therapist_licenses": ["lcsw"], "rems_certified": False,
        "vital_signs_monitoring": True, "medical_screening": True,
        "hours": [{"day": "mo", "opens": "09:00", "closes": "17:00"}], "hours_note": "",
        "insurance": [{"carrier": "aetna", "service": "evaluation", "network": "in-network", "plan_types": ["ppo"]}],
        "prices": [{"service": "ketamine", "min_usd": 450, "max_usd": 600}],
    }
    data.update(overrides)
    return data


@pytest.fixture
def listing_data():
    return valid_listing


@pytest.fixture
def now():
    return utcnow()


from fixtures.accounts import login, make_user  # noqa: E402,F401  (until tests/conftest.py lists them)


def form_data(values: dict, version: int | None = None) -> dict:
    """The POST body the listing form sends for ``values`` (a ``valid_listing`` dict)."""
    data: dict = {}
    for key in ("name", "description", "street", "city", "state", "zip", "phone", "website", "email", "npi",
                "therapy", "hours_note"):
        data[key] = values.get(key) or ""
    for key in ("lat", "lon"):
        data[key] = "" if values.get(key) is None else str(values[key])
    for key in ("methods", "settings", "at_home_states", "conditions", "therapy_extras", "prescriber_types",
                "therapist_licenses", "languages", "interpreter_languages"):
        data[key] = list(values.get(key) or [])
    for key in ("offers_evaluation", "rems_certified", "vital_signs_monitoring", "medical_screening",
                "sliding_scale", "financing", "superbill", "hsa_fsa", "interpreter_services"):
        if values.get(key):
            data[key] = "y"
    accepting = values.get("accepting_new_patients")
    data["accepting_new_patients"] = "unknown" if accepting is None else ("yes" if accepting else "no")
    for row in values.get("hours") or []:
        data[f"hours-{row['day']}-opens"], data[f"hours-{row['day']}-closes"] = row["opens"], row["closes"]
    for row in values.get("prices") or []:
        data[f"prices-{row['service']}-min"] = str(row["min_usd"])
        data[f"prices-{row['service']}-max"] = str(row["max_usd"])
    for i, row in enumerate(values.get("insurance") or []):
        data[f"insurance-{i}-carrier"] = row["carrier"]
        data[f"insurance-{i}-service"] = row["service"]
        data[f"insurance-{i}-network"] = row["network"]
        data[f"insurance-{i}-plan_types"] = list(row.get("plan_types") or [])
    if version is not None:
        data["version"] = str(version)
    return data


STEPS = ("basics", "care", "prices", "safety", "review")
_HIDDEN = re.compile(r'<input[^>]*name="(csrf_token|version)"[^>]*>')


def hidden_values(page: str) -> dict:
    """The CSRF token and listing version hidden in a step page, as a browser would send them."""
    out = {}
    for tag in _HIDDEN.finditer(page):
        value = re.search(r'value="([^"]*)"', tag.group(0))
        out[tag.group(1)] = unescape(value.group(1)) if value else ""
    return out


def post_step(client, path: str, step: str, data: dict, action: str = "next"):
    """POST ``data`` to one step of the listing form, with the hidden fields of that step's page."""
    page = client.get(f"{path}/{step}")
    assert page.status_code == 200, (path, step, page.status_code)
    body = {**hidden_values(page.get_data(as_text=True)), **data, "action": action}
    return client.post(f"{path}/{step}", data=body)


def walk_steps(client, values: dict, path: str = "/owner/listings/new", steps=STEPS):
    """Fill in ``values`` (a ``valid_listing`` dict) step by step, pressing "Save and continue" on each
    (the last one submits). Each step reads only its own fields, so every step is sent the whole
    form. Stops at the first step that does not move on; returns that response or the last one."""
    data = form_data(values)
    response = None
    for step in steps:
        response = post_step(client, path, step, data)
        if step != "review" and response.status_code != 303:
            return response
    return response


@pytest.fixture
def signed_in(app, login):
    """``signed_in(user)``: a fresh client signed in as ``user``."""
    def make(user):
        client = app.test_client()
        login(client, user.email, PASSWORD)
        return client

    return make


_FORM = re.compile(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', re.S)


def form_fields(page: str, action: str) -> dict:
    """The hidden fields of the form on ``page`` that posts to ``action``, as a browser sends them."""
    for form in _FORM.finditer(page):
        if unescape(form.group(1)) == action:
            fields = {}
            for tag in re.finditer(r'<input type="hidden"[^>]*>|<input[^>]*name="csrf_token"[^>]*>', form.group(2)):
                name = re.search(r'name="([^"]*)"', tag.group(0))
                value = re.search(r'value="([^"]*)"', tag.group(0))
                if name:
                    fields[name.group(1)] = unescape(value.group(1)) if value else ""
            return fields
    raise AssertionError(f"no form posting to {action}")


def post_decision(client, action: str, data: dict | None = None, *, page: str):
    """Press a moderator's decision button on the listing page at ``page`` (GET now, with its hidden
    CSRF token and version), adding ``data`` (e.g. the reason)."""
    html = client.get(page).get_data(as_text=True)
    return client.post(action, data={**form_fields(html, action), **(data or {})})
