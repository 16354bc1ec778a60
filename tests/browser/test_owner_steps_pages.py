"""Every step of the owner's listing form at phone and desktop width, in its busiest state (errors
shown, extra insurance rows and opening times, a map-position correction open), and the dashboard
with drafts: axe finds no serious or critical violation and nothing scrolls sideways."""
from __future__ import annotations

from playwright.sync_api import expect

from conftest import DESKTOP, PHONE, axe_violations, describe_violations, sideways_overflow, sign_in
from fixtures.accounts import DEFAULT_PASSWORD

STEPS = ("basics", "care", "prices", "safety", "review")


def busy_draft(db_session, owner_id: int, clinic_id: str | None = None) -> None:
    """A draft with a mistake on every step, two insurance rows and a second opening time on Monday."""
    from kapfinder.listings import drafts

    version = None
    if clinic_id is not None:
        from kapfinder.models import Clinic

        version = db_session.get(Clinic, clinic_id).version
    values = {
        "basics": {"name": "", "street": "100 Congress Ave", "city": "Austin", "state": "TX", "zip": "78701",
                   "phone": "12", "website": "javascript:alert(1)"},
        "care": {"methods": ["esketamine-nasal"], "settings": ["at-home"], "at_home_states": [], "therapy": ""},
        "prices": {"prices": [{"service": "ketamine", "min_usd": "700", "max_usd": "600"}],
                   "insurance": [{"carrier": "aetna", "service": "esketamine", "network": "in-network",
                                  "plan_types": ["ppo"]},
                                 {"carrier": "cigna", "service": "", "network": "", "plan_types": []}]},
        "safety": {"npi": "1234567890", "hours": [{"day": "mo", "opens": "09:00", "closes": "12:00"},
                                                  *drafts.blank_hours()[1:],
                                                  {"day": "mo", "opens": "18:00", "closes": "13:00"}]},
        "review": {"lat": "300", "lon": "-97.7"},
    }
    for step, submitted in values.items():
        drafts.save_step(db_session, owner_id, clinic_id, step, submitted, seen_version=version)


def test_every_step_in_its_busiest_state_at_both_widths(make_site, make_user, db_session, axe_source, screenshot):
    owner = make_user()
    busy_draft(db_session, owner.id)
    problems = []
    for viewport in (PHONE, DESKTOP):
        site = make_site(viewport=viewport)
        sign_in(site, owner.email, DEFAULT_PASSWORD)
        page = site.page
        site.goto("/owner/")
        expect(page.get_by_role("link", name="Continue your draft")).to_be_visible()
        found = axe_violations(page, axe_source)
        if found:
            problems.append(f"dashboard with a draft at {viewport['width']} px:\n{describe_violations(found)}")
        for step in STEPS:
            site.goto(f"/owner/listings/new/{step}")
            page.locator(".step-actions .button-primary").click()  # shows this step's errors (400)
            expect(page.locator("#error-summary")).to_be_visible()
            found = axe_violations(page, axe_source)
            if found:
                problems.append(f"{step} with errors at {viewport['width']} px:\n{describe_violations(found)}")
            overflow = sideways_overflow(page)
            if overflow > 0:
                problems.append(f"{step} at {viewport['width']} px scrolls sideways by {overflow} px")
            screenshot(page, f"owner-step-{step}-errors")
    assert not problems, "\n".join(problems)


def test_the_summary_links_take_the_owner_to_each_field(make_site, make_user, db_session):
    owner = make_user()
    busy_draft(db_session, owner.id)
    site = make_site(viewport=PHONE)
    sign_in(site, owner.email, DEFAULT_PASSWORD)
    page = site.page
    site.goto("/owner/listings/new/review")
    links = page.locator("#error-summary a")
    assert links.count() >= 8
    # A link to another step opens that step at the field.
    page.locator("#error-summary").get_by_role("link", name="Phone: Enter a US phone number, e.g. (512) 555-0100.").click()
    expect(page.locator("h1")).to_contain_text("Basics and address")
    expect(page.get_by_label("Phone")).to_be_in_viewport()
    expect(page.get_by_label("Phone")).to_have_value("12")
    # A link on the same page goes to the field; one inside a closed disclosure opens it.
    page.locator(".step-actions .button-primary").click()
    site.goto("/owner/listings/new/review")
    page.locator("#error-summary").get_by_role("link", name="Latitude: Enter a number from -90 to 90.").click()
    expect(page.get_by_label("Latitude")).to_be_visible()
    expect(page.get_by_label("Latitude")).to_be_in_viewport()
