"""The coverage answer for one carrier: every listing case × every plan-type case (issue 3)."""
from __future__ import annotations

from datetime import date

import pytest

from kapfinder.coverage import coverage_for
from kapfinder.search import parse_criteria, search
from fixtures.clinics import build_clinic

LISTING_CASES = {
    # what the listing says about Aetna for Spravato → the rows it carries
    "in-network": [{"carrier": "aetna", "service": "esketamine", "network": "in-network"}],
    "out-of-network": [{"carrier": "aetna", "service": "esketamine", "network": "out-of-network"}],
    "not-taken": [{"carrier": "cigna", "service": "esketamine", "network": "in-network"}],
    "not-offered": [],
}
PLAN_CASES = {
    "matches": (["ppo", "pos"], "ppo"),
    "does-not-match": (["hmo"], "ppo"),
    "no-plan-type-listed": ([], "ppo"),
}


def expected_status(listing: str, plan: str) -> str:
    if listing == "not-offered":
        return "not-offered"
    if listing == "not-taken" or plan == "does-not-match":
        return "self-pay"
    return listing


@pytest.mark.parametrize("plan", PLAN_CASES)
@pytest.mark.parametrize("listing", LISTING_CASES)
def test_coverage_status_for_every_case(listing, plan):
    plan_types, asked = PLAN_CASES[plan]
    rows = [dict(r, plan_types=plan_types, as_of=date(2026, 10, 1)) for r in LISTING_CASES[listing]]
    methods = ["iv"] if listing == "not-offered" else ["iv", "esketamine-nasal"]
    clinic = build_clinic(methods=methods, rems_certified=True, superbill=True, insurance=rows,
                          prices=[{"service": "esketamine", "min_usd": 600, "max_usd": 900},
                                  {"service": "ketamine", "min_usd": 450, "max_usd": 600}])
    clinic.refresh_derived()
    entries = coverage_for(clinic, "aetna", asked)
    assert [e["service"] for e in entries] == ["esketamine", "ketamine", "psychotherapy", "evaluation"]
    spravato = entries[0]
    status = expected_status(listing, plan)
    assert spravato["status"] == status
    if status in ("in-network", "out-of-network"):
        assert spravato["network"] == status
        assert spravato["plan_types"] == plan_types
        assert spravato["as_of"] == "2026-10-01"
    else:
        assert spravato["network"] is None
    if status == "not-offered":
        assert spravato["min_usd"] is None
    else:
        assert (spravato["min_usd"], spravato["max_usd"]) == (600, 900)
    # A clinic-wide superbill is a note, never an out-of-network status.
    assert entries[1]["status"] == "self-pay" and "superbill" in entries[1]["notes"]
    assert (entries[1]["min_usd"], entries[1]["max_usd"]) == (450, 600)
    assert entries[3]["status"] == "not-offered"


def test_without_plan_type_any_row_counts_and_in_network_wins():
    clinic = build_clinic(insurance=[
        {"carrier": "aetna", "service": "ketamine", "network": "out-of-network", "plan_types": ["ppo"]},
        {"carrier": "aetna", "service": "ketamine", "network": "in-network", "plan_types": ["hmo"]},
    ])
    clinic.refresh_derived()
    assert coverage_for(clinic, "aetna")[1]["status"] == "in-network"
    assert coverage_for(clinic, "aetna", "ppo")[1]["status"] == "out-of-network"
    assert coverage_for(clinic, "aetna", "epo")[1]["status"] == "self-pay"


def test_service_filter_keeps_only_in_or_out_of_network_for_that_service(db_session, make_clinic):
    spravato = make_clinic(name="Spravato in network", methods=["esketamine-nasal"], rems_certified=True,
                           insurance=[{"carrier": "aetna", "service": "esketamine", "network": "in-network"}])
    therapy = make_clinic(name="Therapy out of network",
                          insurance=[{"carrier": "aetna", "service": "psychotherapy", "network": "out-of-network"}])
    make_clinic(name="Self-pay only", superbill=True)

    def ids(**kw):
        crit = parse_criteria({k: [v] for k, v in dict(location="78701", insurance="aetna", **kw).items()}, api=True)
        return [h.clinic.id for h in search(db_session, crit).hits]

    assert ids(service="esketamine") == [spravato.id]
    assert ids(service="psychotherapy") == [therapy.id]
    assert ids(service="evaluation") == []
    assert set(ids()) == {spravato.id, therapy.id}


def test_search_hits_carry_the_coverage_answer(db_session, make_clinic):
    make_clinic(insurance=[{"carrier": "uhc", "service": "ketamine", "network": "in-network", "plan_types": ["ppo"]}])
    crit = parse_criteria({"location": ["78701"], "insurance": ["uhc"], "plan_type": ["ppo"]}, api=True)
    hit = search(db_session, crit).hits[0]
    assert [(e["service"], e["status"]) for e in hit.coverage] == [
        ("esketamine", "not-offered"), ("ketamine", "in-network"), ("psychotherapy", "self-pay"),
        ("evaluation", "not-offered")]
    assert search(db_session, parse_criteria({"location": ["78701"]}, api=True)).hits[0].coverage is None
