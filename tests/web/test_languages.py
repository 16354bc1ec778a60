"""Languages spoken on the patient's pages: the filter on /search and the insurance pages, the line on
each card, the clinic page's section, and a bad code explained beside the field."""
from __future__ import annotations

from datetime import date

import pytest

from fixtures.pages import get_page, tags, text_of, texts  # noqa: F401  (get_page is a fixture)
from tests.web.test_insurance_pages import card_text, field_error

AUSTIN = dict(city="Austin", state="TX", zip="78701", lat=30.2713, lon=-97.7426)


@pytest.fixture
def three(make_clinic):
    make_clinic(name="Clínica Esperanza", languages=["es", "en"], **AUSTIN,
                insurance=[{"carrier": "aetna", "service": "ketamine", "network": "in-network"}])
    make_clinic(name="Interpreters Welcome", languages=["en"], interpreter_services=True,
                interpreter_languages=["es", "ase"], **AUSTIN,
                insurance=[{"carrier": "aetna", "service": "ketamine", "network": "in-network"}])
    make_clinic(name="Says Nothing", **AUSTIN,
                insurance=[{"carrier": "aetna", "service": "ketamine", "network": "in-network"}])


def test_search_by_spanish_finds_staff_and_interpreters_and_cards_say_so(get_page, three):
    html = get_page("/search", query_string={"location": "78701", "language": "es"}).get_data(as_text=True)
    cards = texts(html, cls="result-card")
    assert len(cards) == 2 and not any("Says Nothing" in c for c in cards)
    assert "Languages: English, Spanish" in card_text(html.encode(), "Clínica Esperanza")
    interpreted = card_text(html.encode(), "Interpreters Welcome")
    assert "Languages: English" in interpreted and "Interpreters: Spanish, American Sign Language (ASL)" in interpreted
    # The choice is a removable chip, and the box stays ticked.
    assert "Language: Spanish" in text_of(html, cls="search-summary")
    ticked = [a["value"] for _t, a in tags(html, "input") if a.get("name") == "language" and "checked" in a]
    assert ticked == ["es"]


def test_a_code_typed_in_capitals_filters_and_shows_its_box_ticked(get_page, three):
    html = get_page("/search", query_string={"location": "78701", "language": "ES"}).get_data(as_text=True)
    assert len(texts(html, cls="result-card")) == 2
    ticked = [a["value"] for _t, a in tags(html, "input") if a.get("name") == "language" and "checked" in a]
    assert ticked == ["es"]


def test_a_card_says_nothing_about_languages_the_listing_does_not_state(get_page, three):
    html = get_page("/search", query_string={"location": "78701"}).get_data(as_text=True)
    assert "Languages" not in card_text(html.encode(), "Says Nothing")


def test_an_unknown_language_is_explained_next_to_the_field(get_page):
    response = get_page("/search", status=400, query_string={"location": "78701", "language": "xx"})
    html = response.get_data(as_text=True)
    assert "‘xx’ is not one of the choices." in field_error(html.encode(), "language")


def test_the_insurance_lookup_and_carrier_pages_filter_by_language(client, three):
    response = client.get("/insurance", query_string={"insurance": "aetna", "location": "78701", "language": "ase"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Interpreters Welcome" in page and "Clínica Esperanza" not in page and "Says Nothing" not in page
    response = client.get("/insurance/aetna", query_string={"location": "78701", "language": ["es"]})
    page = response.get_data(as_text=True)
    assert "Interpreters Welcome" in page and "Clínica Esperanza" in page and "Says Nothing" not in page
    response = client.get("/insurance/aetna", query_string={"location": "78701", "language": "klingon"})
    assert response.status_code == 400
    assert "‘klingon’ is not one of the choices." in field_error(response.data, "language")


def test_the_clinic_page_lists_staff_languages_and_interpreter_services(get_page, make_clinic):
    make_clinic(name="Both", slug="both-austin", languages=["es", "vi"], interpreter_services=True,
                interpreter_languages=["so"], languages_as_of=date(2026, 3, 2))
    make_clinic(name="Neither", slug="neither-austin")
    html = get_page("/clinics/both-austin").get_data(as_text=True)
    section = text_of(html, cls="clinic-languages")
    assert "Staff offer care in Spanish, Vietnamese" in section
    assert "Interpreter services offered, for Somali" in section
    assert "As of" in section
    section = text_of(get_page("/clinics/neither-austin").get_data(as_text=True), cls="clinic-languages")
    assert "not listed (ask the clinic)" in section and "English" not in section


def test_in_spanish_the_filter_chip_and_card_read_in_spanish(client, three):
    response = client.get("/search", query_string={"location": "78701", "language": "es", "lang": "es"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Idioma: Español" in text_of(html, cls="search-summary")
    assert "Idiomas: Inglés, Español" in card_text(html.encode(), "Clínica Esperanza")
    assert "Intérpretes: Español, Lengua de señas americana (ASL)" in card_text(html.encode(), "Interpreters Welcome")
