"""Languages spoken on a 390 px phone (issue 19): a patient ticks Spanish behind "More filters", the
results say so in a chip, and the first card's "Languages: …" line is on the first screen."""
from __future__ import annotations

from playwright.sync_api import expect

from conftest import search_form, sideways_overflow
from test_phone_layout import PHONE_390, box, on_first_screen

AUSTIN = dict(city="Austin", state="TX", zip="78701", timezone="America/Chicago", lon=-97.7426)


def test_filter_by_spanish_on_a_phone_and_the_card_says_so_on_the_first_screen(make_site, make_clinic, check_axe,
                                                                               screenshot):
    make_clinic(name="Nearest, English only", slug="english-only", languages=["en"], lat=30.2713, **AUSTIN)
    make_clinic(name="Clínica del Río Ketamina y Psicoterapia Integrada", slug="clinica-del-rio",
                languages=["en", "es"], lat=30.2813, **AUSTIN)
    make_clinic(name="Interpreters on the phone", slug="interpreters", languages=["en"], interpreter_services=True,
                interpreter_languages=["es", "ase"], lat=30.2913, **AUSTIN)
    site = make_site(viewport=PHONE_390)
    site.goto("/")
    page = site.page
    form = search_form(page)
    form.get_by_label("ZIP code, city or address").fill("78701")
    form.locator("summary", has_text="More filters").click()
    form.locator("#field-language").get_by_label("Spanish", exact=True).check()
    form.get_by_role("button", name="Find clinics").click()

    expect(page.locator("#results-heading")).to_have_text("2 clinics near Austin, TX")
    expect(page.locator(".search-summary a.chip")).to_have_text(["Language: Spanish✕"])
    cards = page.locator(".result-list > li")
    expect(cards).to_have_count(2)
    first = cards.first
    expect(first.locator(".result-name")).to_have_text("Clínica del Río Ketamina y Psicoterapia Integrada")
    languages = first.locator(".result-languages")
    expect(languages).to_have_text("Languages: English, Spanish")
    assert on_first_screen(languages, PHONE_390), box(languages)
    expect(cards.nth(1).locator(".result-languages")).to_contain_text(
        "Interpreters: Spanish, American Sign Language (ASL)")
    screenshot(page, "results-spanish")
    assert sideways_overflow(page) == 0
    check_axe(page, "results filtered by Spanish at 390 px")

    # The clinic page lists the staff's languages too.
    first.locator(".result-name a").click()
    expect(page.locator(".staff-languages")).to_have_text("English, Spanish")
    assert sideways_overflow(page) == 0
