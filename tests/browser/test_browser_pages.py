"""Every page type at phone (375 px) and desktop (1280 px) width: axe-core finds no serious or
critical violation, nothing scrolls sideways, and a screenshot of each goes to tests/screenshots/."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import DESKTOP, PHONE, axe_violations, describe_violations, sideways_overflow, sign_in
from fixtures.accounts import DEFAULT_PASSWORD

PUBLIC_PAGES = {
    "home": "/",
    "results": "/search?location=78701",
    "results-filtered": "/search?location=Austin%2C+TX&method=oral&insurance=aetna&radius=50&page=1",
    "results-state": "/search?location=TX",
    "results-none": "/search?location=99501",
    "results-error": "/search?location=Atlantis%2C+ZZ&radius=7x",
    "results-ambiguous": "/search?location=Springfield",
    "results-suggestions": "/search?location=Chicgo&method=iv",
    "results-ask-where": "/search?method=iv",
    "clinic": "/clinics/austin-care-01",
    "clinic-sample": "/clinics/austin-care-25",
    "insurance": "/insurance",
    "insurance-results": "/insurance?insurance=aetna&location=78701",
    "carrier": "/insurance/aetna",
    "learn-methods": "/learn/methods",
    "learn-insurance": "/learn/insurance",
    "learn-vetting": "/learn/vetting",
    "about": "/about",
    "open-data": "/open-data/",
    "not-found": "/clinics/no-such-clinic",
    "sign-in": "/account/sign-in",
    "sign-up": "/account/sign-up",
    "password-reset": "/account/reset",
    "report": "/clinics/austin-care-01/report",
    "claim": "/clinics/austin-care-01/claim",
}
SIGNED_IN_PAGES = {
    "owner-dashboard": ("owner", "/owner/"),
    "owner-new": ("owner", "/owner/listings/new"),
    "account": ("owner", "/account/"),
    "change-password": ("owner", "/account/password"),
    "moderation-queue": ("moderator", "/moderate/"),
}


def visit_at_both_widths(make_site, path, name, axe_source, screenshot, before=None):
    problems = []
    for viewport in (PHONE, DESKTOP):
        site = make_site(viewport=viewport)
        if before:
            before(site)
        response = site.goto(path)
        assert response.status < 500, f"{path}: {response.status}"
        found = axe_violations(site.page, axe_source)
        if found:
            problems.append(f"{name} at {viewport['width']} px:\n{describe_violations(found)}")
        overflow = sideways_overflow(site.page)
        if overflow > 0:
            problems.append(f"{name} at {viewport['width']} px scrolls sideways by {overflow} px")
        screenshot(site.page, name)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", PUBLIC_PAGES)
def test_public_page_types(make_site, austin_clinics, axe_source, screenshot, name):
    visit_at_both_widths(make_site, PUBLIC_PAGES[name], name, axe_source, screenshot)


@pytest.mark.parametrize("name", SIGNED_IN_PAGES)
def test_signed_in_page_types(make_site, austin_clinics, make_user, axe_source, screenshot, name):
    role, path = SIGNED_IN_PAGES[name]
    user = make_user(role=role)
    visit_at_both_widths(make_site, path, name, axe_source, screenshot,
                         before=lambda site: sign_in(site, user.email, DEFAULT_PASSWORD))


def test_moderation_listing_page(make_site, austin_clinics, make_user, db_session, axe_source, screenshot):
    from kapfinder import listings

    owner = make_user()
    moderator = make_user(role="moderator")
    listings.report_problem(db_session, "austin-care-02", "closed")
    clinic = austin_clinics[1]
    visit_at_both_widths(make_site, f"/moderate/listings/{clinic.id}", "moderation-listing", axe_source, screenshot,
                         before=lambda site: sign_in(site, moderator.email, DEFAULT_PASSWORD))
    assert owner.id


def test_phone_layout_search_first_and_tappable_contacts(make_site, austin_clinics):
    site = make_site(viewport=PHONE)
    page = site.page
    site.goto("/")
    form_top = page.locator("form.search-form").bounding_box()["y"]
    explainer_top = page.locator(".explainer").bounding_box()["y"]
    assert form_top < explainer_top, "on a phone the search form comes before the explanation"
    assert form_top < PHONE["height"] * 1.5, "the search form starts within the first screen and a half"

    site.goto("/search?location=78701")
    cards = page.locator(".result-list > li")
    expect(cards).to_have_count(20)
    for card in cards.all()[:5]:
        box = card.bounding_box()
        assert box["width"] <= PHONE["width"]  # readable cards, one per row
        phone = card.locator("a[href^='tel:']")
        expect(phone).to_have_count(1)
        assert phone.get_attribute("href").startswith("tel:+1")
        tap = phone.bounding_box()
        assert tap["height"] >= 24 and tap["width"] >= 24
    for marker in page.locator("svg.map .map-marker").all():
        tap = marker.bounding_box()  # map markers are 24 px targets on a phone too
        assert tap["height"] >= 24 and tap["width"] >= 24, tap

    site.goto("/clinics/austin-care-01")
    expect(page.locator(".clinic-contact a[href^='tel:+1']")).to_have_count(1)
    expect(page.locator("a[href^='geo:30.']")).to_have_count(1)  # opens the phone's map app
    assert page.locator("a[href^='geo:']").get_attribute("rel") == "noreferrer"
