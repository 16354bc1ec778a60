"""Validation of a submitted listing: each rule of issue 4 item 2, with the field it names."""
from __future__ import annotations

import pytest

from kapfinder import listings
from kapfinder.errors import InvalidParameter
from tests.listings.conftest import valid_listing


@pytest.mark.parametrize("npi", ["1234567893", "1000000020"])
def test_valid_npis_pass(npi):
    assert listings.validate_npi(npi) == npi


@pytest.mark.parametrize("npi", ["1234567890", "１２３４５６７８９３", "3234567893", "123456789", "12345678933",
                                 "12345 67893", "٠١٢٣٤٥٦٧٨٩", ""])
def test_invalid_npis_are_refused(npi):
    with pytest.raises(InvalidParameter) as err:
        listings.validate_npi(npi)
    assert (err.value.field, err.value.reason) == ("npi", "invalid_npi")


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
                                 "data:text/html,<script>alert(1)</script>", "ftp://clinic.example",
                                 "//evil.example", "https://user:pw@clinic.example", "https://localhost",
                                 "http://exa mple.com", "vbscript:msgbox"])
def test_websites_other_than_http_or_https_are_refused(url):
    with pytest.raises(InvalidParameter) as err:
        listings.normalise_website(url)
    assert err.value.field == "website"


def test_a_bare_host_becomes_an_https_url():
    assert listings.normalise_website("calmharbor.example/about") == "https://calmharbor.example/about"
    assert listings.normalise_website("HTTP://Calmharbor.Example") == "http://calmharbor.example"


def test_phone_is_stored_as_e164_and_must_be_a_us_number():
    assert listings.normalise_phone("(512) 555-0100") == "+15125550100"
    for bad in ("+44 20 7123 4567", "555", "call us"):
        with pytest.raises(InvalidParameter):
            listings.normalise_phone(bad)


def test_email_is_checked_without_dns():
    assert listings.normalise_email("Care@CalmHarbor.example") == "Care@calmharbor.example"
    with pytest.raises(InvalidParameter):
        listings.normalise_email("not an email")


def fields_in_error(db_session, **overrides) -> dict[str, str]:
    with pytest.raises(listings.InvalidListing) as err:
        listings.clean_listing(db_session, valid_listing(**overrides))
    return {e.field: e.reason for e in err.value.errors}


def test_a_valid_listing_is_cleaned(db_session):
    values = listings.clean_listing(db_session, valid_listing())
    assert values["phone"] == "+15125550100"
    assert values["methods"] == ["iv", "im"]
    assert values["prices"] == [{"service": "ketamine", "min_usd": 450, "max_usd": 600}]


def test_zip_must_be_in_the_state(db_session):
    assert fields_in_error(db_session, zip="10001") == {"zip": "zip_not_in_state"}
    assert fields_in_error(db_session, zip="00000") == {"zip": "unknown_zip"}
    assert fields_in_error(db_session, zip="7870") == {"zip": "invalid_zip"}


def test_price_minimum_must_not_exceed_maximum(db_session):
    errors = fields_in_error(db_session, prices=[{"service": "ketamine", "min_usd": 700, "max_usd": 600}])
    assert errors == {"prices-ketamine": "price_min_above_max"}


def test_esketamine_requires_rems(db_session):
    spravato_only = {"methods": ["esketamine-nasal"], "prices": []}  # no racemic ketamine: no ketamine price
    assert fields_in_error(db_session, **spravato_only) == {"rems_certified": "rems_required"}
    values = listings.clean_listing(db_session, valid_listing(**spravato_only, rems_certified=True))
    assert values["methods"] == ["esketamine-nasal"]


def test_at_home_programme_names_its_states(db_session):
    assert fields_in_error(db_session, settings=["at-home"]) == {"at_home_states": "at_home_needs_states"}
    values = listings.clean_listing(db_session, valid_listing(settings=["at-home"], at_home_states=["TX", "CA"]))
    assert values["at_home_states"] == ["CA", "TX"]


def test_every_problem_is_reported_at_once(db_session):
    errors = fields_in_error(db_session, name="", npi="1234567890", website="javascript:alert(1)",
                             phone="12", email="nope", methods=[])
    assert set(errors) == {"name", "npi", "website", "phone", "email", "methods"}


def test_unknown_vocabulary_and_control_characters_are_refused(db_session):
    errors = fields_in_error(db_session, methods=["iv", "snorting"], name="Calm\x00Harbor")
    assert errors == {"methods": "unknown_value", "name": "control_character"}


def test_hours_must_be_real_times(db_session):
    errors = fields_in_error(db_session, hours=[{"day": "mo", "opens": "17:00", "closes": "09:00"}])
    assert errors == {"hours": "invalid_hours"}
