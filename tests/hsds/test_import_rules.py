"""Imports check a listing with the owner form's own rules (kapfinder.listing_rules).

Each test is one place where the import and the form used to disagree; the report still says where
(file line or JSON pointer) and which field.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import select

from kapfinder.exchange.importer import run_import
from kapfinder.models import Clinic

from .test_exchange import empty_directory, export
from .test_import_errors import edit_json, org_file


@pytest.fixture
def flat_csv(runner, db_session, rich_clinic, tmp_path) -> Path:
    """A flat CSV export of one clinic that uses every field, in an empty directory."""
    path = tmp_path / "in.csv"
    export(runner, "csv", path)
    empty_directory(db_session)
    return path


@pytest.fixture
def json_dir(runner, db_session, rich_clinic, tmp_path) -> Path:
    path = tmp_path / "json"
    export(runner, "hsds-json", path)
    empty_directory(db_session)
    return path


def edit_row(path: Path, **cells: str) -> None:
    """Change cells of the only row of a flat CSV, as a spreadsheet user would."""
    with open(path, newline="", encoding="utf-8") as f:
        [row] = list(csv.DictReader(f))
    row.update(cells)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, list(row), lineterminator="\r\n")
        writer.writeheader()
        writer.writerow(row)


def problems(db_session, path: Path) -> list[str]:
    """What the import reports; it must also have stored nothing."""
    report = run_import(db_session(), path, publish=True)
    db_session.expire_all()
    assert db_session.scalars(select(Clinic)).first() is None
    return [str(p) for p in report.problems]


def imported(db_session, path: Path) -> Clinic:
    report = run_import(db_session(), path, publish=True)
    assert report.ok, [str(p) for p in report.problems]
    db_session.expire_all()
    return db_session.scalars(select(Clinic)).one()


# --- settings and at-home programmes ----------------------------------------------------------------

def test_an_at_home_programme_without_states_is_refused(db_session, flat_csv):
    edit_row(flat_csv, at_home_states="")
    assert problems(db_session, flat_csv) == [
        "in.csv line 2: at_home_states: the at-home setting needs the states the programme serves"]


@pytest.mark.parametrize("column,message", [
    ("settings", "at least one setting (in-clinic, at-home) is required"),
    ("therapy", "a care model is required"),
    ("phone", "is required"),
])
def test_what_the_form_requires_an_import_requires(db_session, flat_csv, column, message):
    edit_row(flat_csv, **{column: ""}, **({"at_home_states": ""} if column == "settings" else {}))
    assert problems(db_session, flat_csv) == [f"in.csv line 2: {column}: {message}"]


def test_hsds_without_a_setting_is_refused_not_guessed_in_clinic(db_session, json_dir):
    def drop_settings(doc):
        for service in doc["services"]:
            service["attributes"] = [a for a in service["attributes"] if a["link_type"] != "setting"]
            service["service_areas"] = []
    edit_json(org_file(json_dir), drop_settings)
    found = problems(db_session, json_dir)
    assert any(p.endswith("#/services: settings: at least one setting (in-clinic, at-home) is required")
               for p in found), found


def test_hsds_without_street_or_city_is_refused(db_session, json_dir):
    edit_json(org_file(json_dir), lambda d: d["locations"][0]["addresses"][0].update(address_1="", city=""))
    found = problems(db_session, json_dir)
    assert any(p.endswith("#/locations/0/addresses/0/address_1: street: is required") for p in found), found
    assert any(p.endswith("#/locations/0/addresses/0/city: city: is required") for p in found), found


# --- contact details ---------------------------------------------------------------------------------

def test_a_phone_outside_the_us_is_refused_with_its_pointer(db_session, json_dir):
    edit_json(org_file(json_dir), lambda d: d["locations"][0]["phones"][0].update(number="+44 20 7123 4567"))
    found = problems(db_session, json_dir)
    assert any(p.endswith("#/locations/0/phones/0/number: phone: ‘+44 20 7123 4567’ is not a valid US phone number")
               for p in found), found


@pytest.mark.parametrize("website", ["javascript:alert(1)", "https://user:secret@hill.example", "ftp://hill.example"])
def test_a_website_the_form_refuses_is_refused(db_session, flat_csv, website):
    edit_row(flat_csv, website=website)
    assert problems(db_session, flat_csv) == [
        f"in.csv line 2: website: ‘{website}’ is not an http:// or https:// web address with a real host name"]


def test_email_and_website_are_stored_as_the_form_normalises_them(db_session, flat_csv):
    edit_row(flat_csv, email="Care@Hill.EXAMPLE", website="HILL.example/about", phone="512.555.0123")
    clinic = imported(db_session, flat_csv)
    assert (clinic.email, clinic.website, clinic.phone) == ("Care@hill.example", "https://hill.example/about",
                                                            "+15125550123")


def test_an_npi_written_with_other_digits_is_refused(db_session, flat_csv):
    edit_row(flat_csv, npi="1\uff1234567893")  # a full-width 2: the same digits to int(), not to the NPI registry
    assert problems(db_session, flat_csv) == [
        "in.csv line 2: npi: ‘1\uff1234567893’ is not an NPI (10 digits starting with 1 or 2)"]


# --- safety, text and place ----------------------------------------------------------------------------

def test_spravato_without_rems_names_the_rems_field(db_session, flat_csv):
    edit_row(flat_csv, rems_certified="false")
    assert problems(db_session, flat_csv) == [
        "in.csv line 2: rems_certified: esketamine-nasal (Spravato) may only be listed by a REMS-certified setting"]


@pytest.mark.parametrize("column,value,message", [
    ("description", "d" * 5001, "is longer than 5000 characters (5001)"),
    ("hours_note", "n" * 501, "is longer than 500 characters (501)"),
    ("name", "Hill\x07Country", "holds a control character or a line break"),
    ("name", "Hill\nCountry", "holds a control character or a line break"),
    ("description", "Ketamine\x0b& more", "holds a control character (only tabs and line breaks may appear in it)"),
])
def test_text_limits_and_control_characters_are_the_forms(db_session, flat_csv, column, value, message):
    edit_row(flat_csv, **{column: value})
    assert problems(db_session, flat_csv) == [f"in.csv line 2: {column}: {message}"]


def test_a_zip_plus_four_without_hyphen_is_taken_and_a_longer_one_refused(db_session, flat_csv):
    edit_row(flat_csv, zip="787011234")
    assert imported(db_session, flat_csv).zip == "78701"


def test_a_zip_with_too_many_digits_is_refused(db_session, flat_csv):
    edit_row(flat_csv, zip="78701-12345")
    assert problems(db_session, flat_csv) == ["in.csv line 2: zip: ‘78701-12345’ is not a 5-digit ZIP code"]


def test_a_slug_that_is_not_a_slug_is_refused(db_session, flat_csv):
    edit_row(flat_csv, slug="Hill Country/../admin")
    assert problems(db_session, flat_csv) == [
        "in.csv line 2: slug: ‘Hill Country/../admin’ is not a slug (lower-case letters, digits and single hyphens, "
        "at most 220 characters)"]


# --- hours, insurance and prices ----------------------------------------------------------------------

@pytest.mark.parametrize("hours,message", [
    ("mo 17:00-09:00", "‘mo 17:00-09:00’ is not a weekday (mo…su) with HH:MM times, closing after opening"),
    ("mo 09:00-13:00; mo 12:00-17:00", "two opening times on mo overlap"),
])
def test_hours_that_make_no_sense_are_refused(db_session, flat_csv, hours, message):
    edit_row(flat_csv, hours=hours)
    assert problems(db_session, flat_csv) == [f"in.csv line 2: hours: {message}"]


def test_insurance_for_a_service_the_listing_does_not_offer_is_refused(db_session, flat_csv):
    edit_row(flat_csv, offers_evaluation="false", prices="ketamine:450-600:2024-02-01",
             insurance="evaluation:aetna:in-network::2024-04-01")
    assert problems(db_session, flat_csv) == [
        "in.csv line 2: insurance: aetna insurance is given for evaluation, a service this listing does not offer "
        "(its methods, care model and evaluation flag decide that)"]


def test_one_carrier_both_in_and_out_of_network_for_the_same_plans_is_refused(db_session, flat_csv):
    edit_row(flat_csv, insurance="ketamine:aetna:in-network:ppo:; ketamine:aetna:out-of-network:ppo:")
    assert problems(db_session, flat_csv) == [
        "in.csv line 2: insurance: aetna for ketamine is given as both in-network and out-of-network "
        "for the same plan types"]


def test_the_same_row_twice_is_stored_once_keeping_its_date(db_session, flat_csv):
    edit_row(flat_csv, insurance="ketamine:aetna:in-network:ppo,hmo:2024-04-01; ketamine:aetna:in-network:hmo,ppo:")
    clinic = imported(db_session, flat_csv)
    assert [(r.carrier, r.service, r.plan_types) for r in clinic.insurance] == [("aetna", "ketamine", ["hmo", "ppo"])]


@pytest.mark.parametrize("prices,message", [
    ("ketamine:450-100001:", "the ketamine price 100001 is not a whole number of dollars from 0 to 100000"),
    ("ketamine:450-600:; ketamine:500-700:", "the ketamine price is given more than once"),
])
def test_prices_the_form_refuses_are_refused(db_session, flat_csv, prices, message):
    edit_row(flat_csv, prices=prices)
    assert problems(db_session, flat_csv) == [f"in.csv line 2: prices: {message}"]


def test_a_single_price_is_both_ends_and_no_price_is_no_row(db_session, flat_csv):
    edit_row(flat_csv, prices="ketamine:-600:2024-02-01; evaluation:-:")
    clinic = imported(db_session, flat_csv)
    assert [(p.service, p.min_usd, p.max_usd, p.as_of.isoformat()) for p in clinic.prices] == [
        ("ketamine", 600, 600, "2024-02-01")]
