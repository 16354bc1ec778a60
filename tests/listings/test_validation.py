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


# --- issue 15: the rules imports share (kapfinder.listing_rules) ------------------------------------

def test_states_without_the_at_home_setting_are_refused_not_dropped(db_session):
    assert fields_in_error(db_session, settings=["in-clinic"], at_home_states=["TX"]) == {
        "at_home_states": "at_home_states_without_setting"}


def test_state_codes_are_read_in_any_case(db_session):
    values = listings.clean_listing(db_session, valid_listing(settings=["at-home"], at_home_states=["tx", " ca"]))
    assert values["at_home_states"] == ["CA", "TX"]


@pytest.mark.parametrize("name", ["Calm\rHarbor", "Calm\tHarbor", "Calm\x85Harbor"])
def test_a_one_line_field_holds_no_line_break_tab_or_control_character(db_session, name):
    assert fields_in_error(db_session, name=name) == {"name": "control_character"}


@pytest.mark.parametrize("char", ["\u202a", "\u202e", "\u2066", "\u2069",  # bidi embeddings, overrides, isolates
                                  "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"])  # zero-width
def test_one_line_fields_refuse_bidi_overrides_and_invisible_characters(db_session, char):
    assert fields_in_error(db_session, name=f"Calm{char}Harbor", city=f"Aus{char}tin") == {
        "name": "control_character", "city": "control_character"}


def test_multi_line_text_refuses_bidi_overrides_but_keeps_line_breaks(db_session):
    assert fields_in_error(db_session, description="Welcome.\nWe are open \u202emorf\u202c today.") == {
        "description": "control_character"}
    values = listings.clean_listing(db_session, valid_listing(description="Welcome.\nSee you soon."))
    assert values["description"] == "Welcome.\nSee you soon."


@pytest.mark.parametrize("name", ["Clínica Añil Bienestar", "Café Zoë Wellness", "青山クリニック", "Ørsted Kløver Care"])
def test_names_keep_real_unicode(db_session, name):
    assert listings.clean_listing(db_session, valid_listing(name=name))["name"] == name


def test_insurance_and_prices_must_be_for_a_service_the_listing_offers(db_session):
    errors = fields_in_error(db_session, offers_evaluation=False,
                             prices=[{"service": "evaluation", "min_usd": 200, "max_usd": 300}])
    assert errors == {"insurance": "service_not_offered", "prices-evaluation": "service_not_offered"}


def test_one_carrier_in_and_out_of_network_for_the_same_plans_is_refused(db_session):
    rows = [{"carrier": "aetna", "service": "ketamine", "network": network, "plan_types": ["ppo"]}
            for network in ("in-network", "out-of-network")]
    assert fields_in_error(db_session, insurance=rows) == {"insurance": "insurance_conflict"}


def test_overlapping_hours_and_a_price_given_twice_are_refused(db_session):
    errors = fields_in_error(db_session, hours=[{"day": "mo", "opens": "09:00", "closes": "13:00"},
                                                {"day": "mo", "opens": "12:00", "closes": "17:00"}],
                             prices=[{"service": "ketamine", "min_usd": 400, "max_usd": 500},
                                     {"service": "ketamine", "min_usd": 450, "max_usd": 600}])
    assert errors == {"hours": "hours_overlap", "prices-ketamine": "duplicate_price"}


def test_the_form_and_the_sample_data_share_one_npi_check():
    from kapfinder import sample
    from kapfinder.listings import rules as listing_rules

    assert sample.npi_is_valid is listing_rules.npi_is_valid
    assert not sample.npi_is_valid("1\uff1234567893")  # int() reads the full-width 2; the NPI registry does not
