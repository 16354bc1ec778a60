"""Sample data: fictional clinics at real STANDARD ZIP centroids, deterministic for a seed."""
from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from kapfinder import sample, vocab
from kapfinder.models import Clinic, ClinicAtHomeState, ClinicInsurance, ClinicPrice, GazetteerZip
from kapfinder.search import parse_criteria, search

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def zips(db_session):
    return sample.standard_zips(db_session)


def _clinics(db_session) -> list[Clinic]:
    db_session.expire_all()
    return list(db_session.scalars(select(Clinic).order_by(Clinic.slug)))


@pytest.fixture
def loaded(runner, db_session):
    result = runner.invoke(args=["sample", "load", "--clinics", "300", "--seed", "1"])
    assert result.exit_code == 0, result.output
    return _clinics(db_session)


def test_the_same_seed_makes_the_same_clinics_and_another_seed_others(zips):
    first = [(r.clinic["id"], r.clinic["slug"], r.clinic["name"], r.clinic["zip"])
             for r in sample.generate(zips, 50, seed=7, now=NOW)]
    again = [(r.clinic["id"], r.clinic["slug"], r.clinic["name"], r.clinic["zip"])
             for r in sample.generate(zips, 50, seed=7, now=NOW)]
    other = [(r.clinic["id"], r.clinic["slug"], r.clinic["name"], r.clinic["zip"])
             for r in sample.generate(zips, 50, seed=8, now=NOW)]
    assert first == again
    assert all(str(uuid.UUID(row[0])) == row[0] for row in first)  # lowercase canonical UUIDs
    assert len({row[0] for row in first}) == 50 and len({row[1] for row in first}) == 50
    assert not {row[0] for row in first} & {row[0] for row in other}
    assert [row[1] for row in first] != [row[1] for row in other]


def test_loading_twice_with_one_seed_gives_the_same_ids_and_slugs(runner, db_session):
    assert runner.invoke(args=["sample", "load", "--clinics", "40", "--seed", "3"]).exit_code == 0
    first = [(c.id, c.slug) for c in _clinics(db_session)]
    assert runner.invoke(args=["sample", "load", "--clinics", "40", "--seed", "3"]).exit_code == 0
    assert [(c.id, c.slug) for c in _clinics(db_session)] == first


def test_load_says_what_it_did(runner, db_session):
    result = runner.invoke(args=["sample", "load", "--clinics", "25"])
    assert result.exit_code == 0, result.output
    assert "loaded 25 fictional sample clinic(s) with seed 1" in result.output
    assert "Removed 0 earlier" in result.output


def test_default_load_is_300_clinics(runner, db_session):
    assert runner.invoke(args=["sample", "load"]).exit_code == 0
    assert db_session.scalar(select(func.count()).select_from(Clinic)) == 300


def test_every_clinic_is_a_published_sample_at_a_real_standard_zip_centroid(loaded, db_session):
    assert len(loaded) == 300
    gazetteer = {z.zip: z for z in db_session.scalars(select(GazetteerZip).where(
        GazetteerZip.zip.in_({c.zip for c in loaded})))}
    for clinic in loaded:
        z = gazetteer[clinic.zip]
        assert z.zip_type == "STANDARD"
        assert (clinic.lat, clinic.lon, clinic.city, clinic.state) == (z.lat, z.lon, z.city, z.state)
        assert clinic.timezone == z.timezone
        assert clinic.sample is True and clinic.status == "published"
        assert clinic.street and clinic.name


def test_sample_clinics_spread_over_the_country_and_cluster_in_cities(loaded):
    states = Counter(c.state for c in loaded)
    cities = Counter((c.city, c.state) for c in loaded)
    assert len(states) >= 25
    assert cities.most_common(1)[0][1] >= 5  # some city has several clinics


def test_names_and_contact_details_are_obviously_fictional(loaded):
    for clinic in loaded:
        assert "fictional sample listing" in clinic.description
        assert re.fullmatch(r"\+1[2-9]\d\d55501\d\d", clinic.phone), clinic.phone
        assert clinic.website == f"https://{clinic.slug}.example"
        assert clinic.email.endswith(".example")
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", clinic.slug)
        assert clinic.slug.startswith(sample.slugify(clinic.name))


def test_npis_pass_the_luhn_check(loaded):
    assert sample.npi_is_valid("1234567893")  # CMS's published example
    assert not sample.npi_is_valid("1234567890")
    assert not sample.npi_is_valid("3234567893")
    assert all(sample.npi_is_valid(c.npi) for c in loaded)


def test_methods_settings_and_care_models_are_a_realistic_mix(loaded):
    methods = Counter(m for c in loaded for m in c.methods)
    assert set(methods) == set(vocab.METHODS.slugs)
    for clinic in loaded:
        assert clinic.methods and clinic.settings and clinic.conditions
        if "esketamine-nasal" in clinic.methods:
            assert clinic.rems_certified
        assert clinic.therapy in vocab.THERAPY
        if clinic.therapy == "medication-only":
            assert "psychotherapy" not in clinic.services and not clinic.therapy_extras
        for day in clinic.hours:
            assert day["day"] in ("mo", "tu", "we", "th", "fr", "sa", "su")
            assert re.fullmatch(r"\d\d:\d\d", day["opens"]) and day["opens"] < day["closes"]
    at_home = [c for c in loaded if "at-home" in c.settings]
    assert 0.05 <= len(at_home) / len(loaded) <= 0.16
    for clinic in at_home:
        assert 1 <= len(clinic.at_home_states) <= 6
        assert clinic.state in clinic.at_home_states and clinic.street and clinic.zip
    assert {c.therapy for c in loaded} == set(vocab.THERAPY.slugs)
    assert {x for c in loaded for x in c.therapy_extras} == set(vocab.THERAPY_EXTRAS.slugs)
    assert {x for c in loaded for x in c.conditions} == set(vocab.CONDITIONS.slugs)


def test_about_a_third_speak_spanish_and_other_languages_spread(loaded):
    spanish = [c for c in loaded if "es" in c.languages]
    assert 0.25 <= len(spanish) / len(loaded) <= 0.45
    others = Counter(code for c in loaded for code in c.languages if code not in ("en", "es"))
    assert len(others) >= 8  # a spread, not one or two
    assert any(not c.languages for c in loaded)  # some listings do not say: English is never assumed
    with_interpreters = [c for c in loaded if c.interpreter_services]
    assert 0.1 <= len(with_interpreters) / len(loaded) <= 0.4
    for clinic in loaded:
        assert not clinic.interpreter_languages or clinic.interpreter_services
        assert (clinic.languages_as_of is not None) == bool(clinic.languages or clinic.interpreter_services)


def test_insurance_covers_every_carrier_and_service_with_a_realistic_spread(loaded):
    rows = [(c, ins) for c in loaded for ins in c.insurance]
    assert {ins.carrier for _, ins in rows} == set(vocab.CARRIERS.slugs)
    assert {ins.service for _, ins in rows} == set(vocab.SERVICES.slugs)
    for clinic, ins in rows:
        assert ins.service in clinic.services  # coverage only for what the clinic offers
        assert ins.network in vocab.NETWORKS
        assert ins.as_of == clinic.confirmed_at.date()
    assert any(not ins.plan_types for _, ins in rows) and any(ins.plan_types for _, ins in rows)

    def share_in_network(service: str) -> float:
        offering = [c for c in loaded if service in c.services]
        taking = [c for c in offering if any(i.service == service and i.network == "in-network" for i in c.insurance)]
        return len(taking) / len(offering)

    # Spravato is usually in network; racemic ketamine is mostly self-pay.
    assert share_in_network("esketamine") > 0.5
    assert share_in_network("ketamine") < 0.2
    self_pay_ketamine = [c for c in loaded if "ketamine" in c.services
                         and not any(i.service == "ketamine" for i in c.insurance)]
    assert len(self_pay_ketamine) > len([c for c in loaded if "ketamine" in c.services]) / 2
    oon = [c for c in loaded if any(i.network == "out-of-network" for i in c.insurance)]
    assert oon and all(c.superbill for c in oon)


def test_prices_are_whole_dollars_in_plausible_ranges(loaded):
    prices = [(c, p) for c in loaded for p in c.prices]
    assert {p.service for _, p in prices} == set(vocab.SERVICES.slugs)
    bounds = {"esketamine": (600, 1000), "psychotherapy": (150, 250), "evaluation": (250, 500),
              "ketamine": (100, 800)}
    for clinic, price in prices:
        assert isinstance(price.min_usd, int) and isinstance(price.max_usd, int)
        low, high = bounds[price.service]
        assert low <= price.min_usd <= price.max_usd <= high
        assert price.service in clinic.services
        if price.service == "ketamine" and "iv" in clinic.methods:
            assert price.min_usd >= 400
    assert any(c.sliding_scale for c in loaded) and any(c.financing for c in loaded)
    assert any(c.hsa_fsa for c in loaded)


def test_about_fifteen_percent_are_stale_and_dates_are_recent(loaded):
    now = datetime.now(timezone.utc)
    stale = [c for c in loaded if c.is_stale(now)]
    assert 0.08 <= len(stale) / len(loaded) <= 0.22
    for clinic in loaded:
        age = (now - clinic.confirmed_at).days
        assert 0 <= age <= 151
        assert clinic.verified_at <= clinic.confirmed_at
        if clinic.accepting_new_patients is not None:
            assert clinic.accepting_as_of is not None
    assert {c.accepting_new_patients for c in loaded} == {True, False, None}


def test_a_reload_replaces_the_earlier_sample_and_keeps_real_listings(runner, db_session, make_clinic):
    real = make_clinic(name="A Real Clinic", slug="a-real-clinic")
    assert runner.invoke(args=["sample", "load", "--clinics", "60", "--seed", "1"]).exit_code == 0
    first_ids = {c.id for c in _clinics(db_session) if c.sample}
    result = runner.invoke(args=["sample", "load", "--clinics", "60", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "Removed 60 earlier" in result.output
    clinics = _clinics(db_session)
    samples = [c for c in clinics if c.sample]
    assert len(samples) == 60
    assert not first_ids & {c.id for c in samples}
    assert [c.id for c in clinics if not c.sample] == [real.id]
    # No child row of a replaced clinic survives.
    current = {c.id for c in clinics}
    for model in (ClinicInsurance, ClinicPrice, ClinicAtHomeState):
        assert set(db_session.scalars(select(model.clinic_id).distinct())) <= current


def test_sample_slugs_avoid_existing_listings(zips, runner, db_session, make_clinic):
    first = next(sample.generate(zips, 1, seed=5, now=NOW))
    taken = make_clinic(name="Someone Else", slug=first.clinic["slug"])
    assert runner.invoke(args=["sample", "load", "--clinics", "1", "--seed", "5"]).exit_code == 0
    loaded = [c for c in _clinics(db_session) if c.sample]
    assert loaded[0].id == first.clinic["id"]
    assert loaded[0].slug == first.clinic["slug"] + "-2"
    assert db_session.get(Clinic, taken.id).slug == first.clinic["slug"]


def test_slugs_are_ascii_folded_with_a_number_on_collision():
    assert sample.slugify("Sunrise Ketamine Wellness Austin") == "sunrise-ketamine-wellness-austin"
    assert sample.slugify("Café Ñandú — Mayagüez") == "cafe-nandu-mayaguez"
    slugs = sample._Slugs(["a-b"])
    assert [slugs.claim("a-b"), slugs.claim("a-b"), slugs.claim("c")] == ["a-b-2", "a-b-3", "c"]


def test_a_patient_finds_sample_clinics_near_their_zip(loaded, db_session):
    clinic = next(c for c in loaded if "in-clinic" in c.settings)
    page = search(db_session, parse_criteria({"location": [clinic.zip], "radius": ["10"]}, api=True))
    ids = {hit.clinic.id for hit in page.hits}
    assert page.total >= 1
    nearest = page.hits[0]
    assert nearest.distance_mi is not None and nearest.distance_mi < 0.01
    assert clinic.id in ids or page.total > len(page.hits)


def test_a_reload_keeps_a_sample_listing_its_owner_claimed(runner, db_session):
    from kapfinder.accounts import create_user

    assert runner.invoke(args=["sample", "load", "--clinics", "20"]).exit_code == 0
    owner = create_user(db_session, "owner@clinic.example", "a long enough passphrase", role="owner")
    claimed = db_session.scalars(select(Clinic).order_by(Clinic.id).limit(1)).one()
    claimed.owner_id, claimed.name = owner.id, "Renamed by its owner"
    db_session.commit()
    claimed_id = claimed.id

    result = runner.invoke(args=["sample", "load", "--clinics", "20"])
    assert result.exit_code == 0, result.output
    db_session.expire_all()
    kept = db_session.get(Clinic, claimed_id)
    assert kept is not None and kept.name == "Renamed by its owner" and kept.sample
    assert db_session.scalar(select(func.count()).select_from(Clinic)) == 20



def test_every_sample_clinic_is_a_listing_the_owner_form_would_take(loaded, db_session):
    """So an export of the sample directory imports again (imports check the form's rules)."""
    from kapfinder import listings

    for clinic in loaded:
        values = listings.snapshot(clinic)
        assert listings.clean_listing(db_session, values) == values, clinic.slug
