"""The insurance filter means the patient's method (DESIGN.md → Insurance, services and prices).

With ``method`` and no ``service``, ``insurance`` keeps a clinic only when the carrier covers (in or out
of network) the service a chosen method the clinic lists implies. The rule lives in
``kapfinder.coverage``; SQL (and PostGIS), the in-memory index and HSDS build their filters from it.
Here each path is held to ``coverage_for`` — the per-service answer a result card shows — over
thousands of random clinic × query pairs, and the measured cases of issue 15 are checked page by page.
"""
from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from fixtures.clinics import build_clinic
from kapfinder import coverage, hsds, vocab
from kapfinder.models import Clinic, utcnow
from kapfinder.search import parse_criteria, registry, search
from kapfinder.search.indexed import filters_for
from kapfinder.search.sql import filter_conditions

AUSTIN = (30.2713, -97.7426)


def _args(**kw):
    return {k: (v if isinstance(v, list) else [str(v)]) for k, v in kw.items()}


def _random_clinic(rng: random.Random, i: int, now) -> Clinic:
    methods = rng.sample(vocab.METHODS.slugs, k=rng.randint(1, 3))
    insurance = []
    for carrier in rng.sample(vocab.CARRIERS.slugs[:4], k=rng.randint(0, 3)):
        for service in rng.sample(vocab.SERVICES.slugs, k=rng.randint(1, 3)):
            insurance.append({"carrier": carrier, "service": service,
                              "network": rng.choice(vocab.NETWORKS.slugs),
                              "plan_types": rng.sample(vocab.PLAN_TYPES.slugs[:4], k=rng.choice([0, 0, 1, 2]))})
    return build_clinic(
        name=f"Rule clinic {i:03d}", lat=AUSTIN[0] + rng.uniform(-0.3, 0.3), lon=AUSTIN[1] + rng.uniform(-0.3, 0.3),
        methods=methods, rems_certified="esketamine-nasal" in methods,
        therapy=rng.choice(vocab.THERAPY.slugs), offers_evaluation=rng.random() < 0.5,
        insurance=insurance, confirmed_at=now - timedelta(days=rng.choice([1, 40, 200])))


def _random_query(rng: random.Random) -> dict:
    q = {"location": "78701", "radius": 100, "insurance": rng.choice(vocab.CARRIERS.slugs[:4])}
    if rng.random() < 0.35:
        q["plan_type"] = rng.choice(vocab.PLAN_TYPES.slugs[:4])
    if rng.random() < 0.25:
        q["service"] = rng.choice(vocab.SERVICES.slugs)
    if rng.random() < 0.8:
        q["method"] = rng.sample(vocab.METHODS.slugs, k=rng.choice([1, 1, 2, 3]))
    return _args(**q)


def _expected(clinic: Clinic, criteria) -> bool:
    """The rule from what a card shows: the method filter, then coverage_for's per-service answer."""
    if criteria.methods and not set(criteria.methods) & set(clinic.methods):
        return False
    entries = coverage.coverage_for(clinic, criteria.insurance, criteria.plan_type)
    return coverage.takes_insurance(clinic, criteria.insurance, criteria.plan_type, criteria.service,
                                    criteria.methods, coverage=entries)


def test_every_path_gives_coverage_for_s_answer_on_random_clinics_and_queries(db_session):
    rng = random.Random(15)
    now = utcnow()
    clinics = [_random_clinic(rng, i, now) for i in range(120)]
    db_session.add_all(clinics)
    db_session.commit()
    by_id = {c.id: c for c in db_session.scalars(select(Clinic))}
    pairs = kept = 0
    for _ in range(40):
        query = _random_query(rng)
        criteria = parse_criteria(query, api=True)
        expected = {cid for cid, clinic in by_id.items() if _expected(clinic, criteria)}
        pairs += len(by_id)
        kept += len(expected)

        sql = set(db_session.scalars(select(Clinic.id).where(*filter_conditions(criteria))))
        assert sql == expected, query

        snapshot = registry.lookup(db_session).snapshot
        assert snapshot is not None
        matches = snapshot.within(*AUSTIN, 100, filters_for(criteria))
        assert set(snapshot.id_at(matches.clinics)) == expected, query

        # The whole search, by SQL (PostGIS on PostgreSQL) and by the index: same totals.
        assert search(db_session, criteria, now=now, use_index=False).total == len(expected), query
        assert search(db_session, criteria, now=now).total == len(expected), query
    assert pairs == 4800
    assert 0.05 * pairs < kept < 0.6 * pairs  # the mix keeps some clinics and refuses others


def test_wanted_services_follow_the_chosen_methods():
    ws = coverage.wanted_services
    assert [(w.service, vocab.METHODS.unmask(w.methods)) for w in ws(None, ["iv", "esketamine-nasal"])] == [
        ("esketamine", ["esketamine-nasal"]), ("ketamine", ["iv"])]
    assert [(w.service, w.methods) for w in ws("psychotherapy", ["iv"])] == [("psychotherapy", 0)]
    assert [w.service for w in ws(None, [])] == list(vocab.SERVICES.slugs)
    assert [(w.service, vocab.METHODS.unmask(w.methods)) for w in ws(None, ["im", "oral"])] == [
        ("ketamine", ["im", "oral"])]


@pytest.fixture
def new_york(make_clinic):
    """Clinics near ZIP 10001 shaped like issue 15's measurement: Aetna covers IV at one clinic only."""
    make = lambda name, **kw: make_clinic(  # noqa: E731
        name=name, city="New York", state="NY", zip="10001", lat=40.7506, lon=-73.9972,
        timezone="America/New_York", **kw)
    return {
        "iv_in_network": make("IV In Network", methods=["iv"], insurance=[
            {"carrier": "aetna", "service": "ketamine", "network": "in-network", "plan_types": ["ppo"]}]),
        "iv_self_pay_therapy_covered": make("IV Self-pay, Therapy Covered", methods=["iv"], insurance=[
            {"carrier": "aetna", "service": "psychotherapy", "network": "in-network"}],
            prices=[{"service": "ketamine", "min_usd": 450, "max_usd": 600}]),
        "iv_self_pay_evaluation_covered": make("IV Self-pay, Evaluation Covered", methods=["iv"],
                                               offers_evaluation=True, insurance=[
            {"carrier": "aetna", "service": "evaluation", "network": "out-of-network"}]),
        "im_covered_spravato_self_pay": make("IM Covered, Spravato Self-pay", methods=["im", "esketamine-nasal"],
                                             rems_certified=True, insurance=[
            {"carrier": "aetna", "service": "ketamine", "network": "in-network"}]),
        "spravato_bcbs": make("Spravato BCBS", methods=["esketamine-nasal", "iv"], rems_certified=True, insurance=[
            {"carrier": "bcbs", "service": "esketamine", "network": "in-network"}]),
        "iv_bcbs_therapy_only": make("IV BCBS Therapy Only", methods=["iv", "esketamine-nasal"], rems_certified=True,
                                     insurance=[{"carrier": "bcbs", "service": "psychotherapy", "network": "in-network"}]),
    }


def _api_names(client, query: str) -> list[str]:
    body = client.get("/api/v1/clinics?" + query).get_json()
    return sorted(r["name"] for r in body["results"])


def test_iv_and_aetna_means_aetna_pays_for_iv_on_the_api(client, new_york):
    assert _api_names(client, "location=10001&method=iv&insurance=aetna") == ["IV In Network"]
    # Ticking IV or Spravato: the IM clinic lists Spravato, but Aetna covers only its IM ketamine.
    assert _api_names(client, "location=10001&method=iv&method=esketamine-nasal&insurance=aetna") == ["IV In Network"]
    assert _api_names(client, "location=10001&method=im&insurance=aetna") == ["IM Covered, Spravato Self-pay"]
    assert _api_names(client, "location=10001&method=esketamine-nasal&insurance=bcbs") == ["Spravato BCBS"]
    # A named service decides instead of the methods; without either, any offered service counts.
    assert _api_names(client, "location=10001&method=iv&insurance=aetna&service=psychotherapy") == [
        "IV Self-pay, Therapy Covered"]
    assert len(_api_names(client, "location=10001&insurance=aetna")) == 4
    assert _api_names(client, "location=10001&method=iv&insurance=aetna&plan_type=hmo") == []


def test_the_same_answer_with_the_index_switched_off(client, app, new_york):
    app.config["SEARCH_INDEX"] = False
    try:
        assert _api_names(client, "location=10001&method=iv&insurance=aetna") == ["IV In Network"]
        assert _api_names(client, "location=New York&method=esketamine-nasal&insurance=bcbs") == ["Spravato BCBS"]
    finally:
        app.config["SEARCH_INDEX"] = True


def test_the_search_page_and_the_lookup_give_the_same_answer(client, new_york):
    page = client.get("/search?location=10001&method=iv&insurance=aetna").get_data(as_text=True)
    assert "IV In Network" in page and "IV Self-pay, Therapy Covered" not in page
    lookup = client.get("/insurance?insurance=aetna&method=iv&location=10001").get_data(as_text=True)
    assert "IV In Network" in lookup and "IV Self-pay, Therapy Covered" not in lookup


def test_hsds_services_carry_a_carrier_only_for_what_it_covers(client, new_york):
    aetna = hsds.term_id("insurance", "aetna")
    body = client.get(f"/hsds/services?taxonomy_term_id={aetna}&per_page=100").get_json()
    names = sorted((s["organization"]["name"], s["name"]) for s in body["contents"])
    iv_name = hsds.ServiceSpec("ketamine-iv", "ketamine", "iv").name  # "Ketamine: IV infusion"
    # IV services carry Aetna only where Aetna covers ketamine; the therapy service of another clinic does.
    assert (new_york["iv_in_network"].name, iv_name) in names
    assert not any(org == "IV Self-pay, Therapy Covered" and name == iv_name for org, name in names)
    assert any(org == "IV Self-pay, Therapy Covered" and name != iv_name for org, name in names)
    assert not any(org == "IM Covered, Spravato Self-pay" and "Spravato" in name for org, name in names)
    assert client.get(f"/hsds/services?taxonomy_term_id={uuid.uuid4()}").get_json()["total_items"] == 0
