"""Languages spoken (issue 19): what the owner says and nothing more, checked like every other field,
set on the care step, shown on the review, dated, and moderated like the address."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from kapfinder import listings
from kapfinder.models import Clinic, ListingRevision
from tests.listings.conftest import form_data, post_step, post_decision, valid_listing

NEW = "/owner/listings/new"


def errors_of(db_session, **overrides) -> dict[str, str]:
    with pytest.raises(listings.InvalidListing) as err:
        listings.clean_listing(db_session, valid_listing(**overrides))
    return {e.field: e.reason for e in err.value.errors}


def test_languages_are_only_what_the_owner_says(db_session):
    values = listings.clean_listing(db_session, valid_listing())
    assert values["languages"] == [] and values["interpreter_languages"] == []  # English is not implied
    values = listings.clean_listing(db_session, valid_listing(languages=["ES", "en", "ase"], interpreter_services=True,
                                                              interpreter_languages=["vi"]))
    # In vocabulary order, codes in any case.
    assert values["languages"] == ["en", "es", "ase"]
    assert (values["interpreter_services"], values["interpreter_languages"]) == (True, ["vi"])


def test_unknown_language_codes_are_refused(db_session):
    assert errors_of(db_session, languages=["es", "xx"]) == {"languages": "unknown_value"}
    assert errors_of(db_session, interpreter_services=True, interpreter_languages=["spanish"]) == {
        "interpreter_languages": "unknown_value"}
    assert "not a known language code" in listings.rules.describe(
        listings.rules.InvalidParameter("languages", "unknown_value", value="xx"))


def test_interpreter_languages_need_interpreter_services(db_session):
    assert errors_of(db_session, interpreter_languages=["es"]) == {
        "interpreter_languages": "interpreter_languages_without_service"}
    # Interpreter services without naming the languages is a fact a patient can call about.
    assert listings.clean_listing(db_session, valid_listing(interpreter_services=True))["interpreter_services"]


def test_the_care_step_carries_the_languages_and_explains_a_mistake_beside_the_field(db_session, owner, signed_in):
    client = signed_in(owner)
    page = client.get(f"{NEW}/care").get_data(as_text=True)
    languages = page[page.find('id="field-languages"'):page.find('id="field-interpreter_services"')]
    assert 'value="es"' in languages and 'value="ase"' in languages and "Spanish" in languages
    assert "Languages your staff offer care in" in page and "nothing is assumed" in page
    response = post_step(client, NEW, "care", form_data(valid_listing(interpreter_languages=["es"])))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    block = page[page.find('id="field-interpreter_languages"'):]
    block = block[:block.find('id="field-', 10)]
    assert "tick ‘We offer interpreter services’ too" in block.replace("&#39;", "'").replace("&#8216;", "‘")
    response = post_step(client, NEW, "care", form_data(valid_listing(languages=["en", "es"], interpreter_services=True,
                                                                      interpreter_languages=["ase"])))
    assert response.status_code == 303
    review = client.get(f"{NEW}/review").get_data(as_text=True)
    assert "English, Spanish" in review and "American Sign Language (ASL)" in review


def test_a_language_change_waits_for_a_moderator_who_sees_it_and_dates_it(db_session, owner, moderator, signed_in,
                                                                          monkeypatch):
    clinic = listings.create_listing(db_session, owner.id, valid_listing(languages=["en"]))
    clinic = listings.approve_listing(db_session, clinic.id, moderator.id)
    assert clinic.languages == ["en"] and clinic.languages_as_of == date.today()
    result = listings.edit_listing(db_session, clinic.id, owner.id, clinic.version,
                                   valid_listing(languages=["en", "es"], interpreter_services=True))
    assert set(result.pending) == {"languages", "interpreter_services"}
    db_session.expire_all()
    assert db_session.get(Clinic, clinic.id).languages == ["en"]  # not yet
    mod = signed_in(moderator)
    path = f"/moderate/listings/{clinic.id}"
    page = mod.get(path).get_data(as_text=True)
    assert "languages" in page and "English, Spanish" in page and "interpreter services" in page
    revision = db_session.scalars(select(ListingRevision)).one()
    post_decision(mod, f"/moderate/revisions/{revision.id}/approve", page=path)
    db_session.expire_all()
    clinic = db_session.get(Clinic, clinic.id)
    assert clinic.languages == ["en", "es"] and clinic.interpreter_services
    assert clinic.languages_as_of == date.today()


def test_an_edit_that_leaves_the_languages_alone_keeps_their_date(db_session, owner, moderator):
    clinic = listings.approve_listing(db_session, listings.create_listing(
        db_session, owner.id, valid_listing(languages=["es"])).id, moderator.id)
    clinic.languages_as_of = date.today() - timedelta(days=30)
    db_session.commit()
    listings.edit_listing(db_session, clinic.id, owner.id, clinic.version,
                          valid_listing(languages=["es"], description="New words"))
    db_session.expire_all()
    assert db_session.get(Clinic, clinic.id).languages_as_of == date.today() - timedelta(days=30)

