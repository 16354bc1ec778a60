"""A patient's journeys in a real browser: search by ZIP and by "City, ST", change filters, page
through, open a clinic and come back with every choice kept; the insurance lookup; reporting a
problem; and the whole patient journey with the keyboard alone."""
from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from conftest import search_form


def result_names(page) -> list[str]:
    return page.locator(".result-list .result-name").all_inner_texts()


def test_search_by_zip_page_through_open_a_clinic_and_come_back(site, austin_clinics, check_axe):
    page = site.page
    site.goto("/")
    form = search_form(page)
    form.get_by_label("ZIP code, city or address").fill("78701")
    form.get_by_role("button", name="Find clinics").click()

    expect(page.locator("#results-heading")).to_contain_text("25 clinics near Austin, TX")
    expect(page.locator("h1")).to_contain_text("Austin, TX")
    assert result_names(page) == [f"Austin Care {n:02d}" for n in range(1, 21)]  # nearest first
    check_axe(page, "results page 1")

    page.get_by_role("link", name="Next page").click()
    expect(page).to_have_url(re.compile(r"page=2"))
    assert result_names(page) == [f"Austin Care {n:02d}" for n in range(21, 26)]
    assert page.locator(".result-list").get_attribute("start") == "21"

    page.get_by_role("link", name="Austin Care 23", exact=True).click()
    expect(page.locator("h1")).to_have_text("Austin Care 23")
    expect(page.locator(".clinic-contact a[href^='tel:']")).to_have_attribute("href", "tel:+15125550022")

    page.go_back()
    expect(page).to_have_url(re.compile(r"page=2"))
    assert result_names(page) == [f"Austin Care {n:02d}" for n in range(21, 26)]
    expect(search_form(page).get_by_label("ZIP code, city or address")).to_have_value("78701")


def test_city_search_filters_and_choices_kept_after_visiting_a_clinic(site, austin_clinics):
    page = site.page
    site.goto("/")
    form = search_form(page)
    form.get_by_label("ZIP code, city or address").fill("austin,  tx")
    form.get_by_role("button", name="Find clinics").click()
    expect(page.locator("h1")).to_contain_text("Austin, TX")
    expect(page.locator("#results-heading")).to_contain_text("25 clinics near Austin, TX")

    # Narrow it down on the results page: oral ketamine, Aetna, within 10 miles.
    form = search_form(page)
    form.locator("summary", has_text="More filters").click()
    form.get_by_label("Oral or sublingual").check()
    form.get_by_label("Distance").select_option("10")
    form.get_by_label("Insurance carrier").select_option("aetna")
    form.get_by_role("button", name="Find clinics").click()

    # Aetna covers only Spravato at these clinics: nobody takes it for oral ketamine.
    expect(page.locator("#results-heading")).to_have_text("No clinics near Austin, TX take Aetna for oral ketamine")
    expect(page.locator(".search-summary .chip")).to_have_count(2)  # Oral, Insurance: Aetna

    # Tick Spravato too: every third clinic within 10 mi of the city (01 … 13) takes Aetna for it.
    form = search_form(page)
    form.locator("summary", has_text="More filters").click()
    form.get_by_label("Spravato (esketamine nasal spray)").check()
    form.get_by_role("button", name="Find clinics").click()
    expect(page.locator("#results-heading")).to_have_text(
        "5 clinics near Austin, TX take Aetna for Spravato or oral ketamine")
    assert sorted(result_names(page)) == ["Austin Care 01", "Austin Care 04", "Austin Care 07", "Austin Care 10", "Austin Care 13"]
    for card in page.locator(".result-list > li").all():
        expect(card.locator(".coverage-lead").first).to_contain_text("Spravato: in network with Aetna")

    page.get_by_role("link", name="Austin Care 10", exact=True).click()
    expect(page.locator("h1")).to_have_text("Austin Care 10")
    page.go_back()

    form = search_form(page)
    expect(form.get_by_label("ZIP code, city or address")).to_have_value("austin,  tx")
    form.locator("summary", has_text="More filters").click()
    expect(form.get_by_label("Oral or sublingual")).to_be_checked()
    expect(form.get_by_label("Spravato (esketamine nasal spray)")).to_be_checked()
    expect(form.get_by_label("IV infusion")).not_to_be_checked()
    expect(form.get_by_label("Distance")).to_have_value("10")
    expect(form.get_by_label("Insurance carrier")).to_have_value("aetna")
    assert sorted(result_names(page)) == ["Austin Care 01", "Austin Care 04", "Austin Care 07", "Austin Care 10", "Austin Care 13"]

    # Removing the Spravato chip goes back to the oral-only answer.
    page.get_by_role("link", name="Remove filter: Spravato (esketamine nasal spray)").click()
    expect(page.locator("#results-heading")).to_have_text("No clinics near Austin, TX take Aetna for oral ketamine")


def test_a_bad_location_is_a_message_next_to_the_field(site, austin_clinics, check_axe):
    page = site.page
    site.goto("/")
    form = search_form(page)
    form.get_by_label("ZIP code, city or address").fill("Atlantis, ZZ")
    form.get_by_role("button", name="Find clinics").click()
    field = search_form(page).get_by_label("ZIP code, city or address")
    expect(field).to_have_attribute("aria-invalid", "true")
    described = field.get_attribute("aria-describedby").split()
    error = page.locator(f"#{described[-1]}")
    expect(error).to_contain_text("We couldn")
    expect(page.locator("#error-summary")).to_be_visible()
    check_axe(page, "search with a bad location")


def test_insurance_lookup(site, austin_clinics, check_axe):
    page = site.page
    site.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Insurance").click()
    form = page.locator("form.search-form")
    form.get_by_label("Insurance carrier").select_option("aetna")
    form.get_by_label("Plan type").select_option("ppo")
    form.get_by_label("ZIP code, city or address").fill("78701")
    form.get_by_role("button", name="Find clinics that take my plan").click()

    # Every third clinic (01, 04, ... 25) lists Spravato in network with Aetna PPO.
    expect(page.locator("#results-heading")).to_have_text("9 clinics near Austin, TX take Aetna PPO")
    assert result_names(page)[:3] == ["Austin Care 01", "Austin Care 04", "Austin Care 07"]
    first = page.locator(".result-list > li").first
    expect(first).to_contain_text("Spravato")
    expect(first).to_contain_text("in network")
    check_axe(page, "insurance results")

    page.get_by_role("link", name="Aetna", exact=True).first.click()
    expect(page.locator("h1")).to_contain_text("Aetna")
    check_axe(page, "carrier page")


def test_report_a_problem(site, austin_clinics, db_session, check_axe):
    from kapfinder.models import ProblemReport

    page = site.page
    site.goto("/clinics/austin-care-03")
    page.get_by_role("link", name="Report a problem with this listing").click()
    check_axe(page, "report form")
    page.get_by_label("Clinic has closed").check()
    page.get_by_label("Anything else? (optional)").fill("The building is empty.")
    page.get_by_role("button", name="Send report").click()
    expect(page.locator("h1")).to_have_text("Thank you")
    check_axe(page, "report sent")
    db_session.expire_all()
    (report,) = db_session.scalars(select(ProblemReport)).all()
    assert report.reason == "closed" and "building is empty" in report.note
    page.get_by_role("link", name="Back to the listing").click()
    expect(page.locator("h1")).to_have_text("Austin Care 03")


def focused(page) -> dict:
    return page.evaluate("""() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        return {tag: el.tagName, id: el.id, name: el.getAttribute("name"), text: (el.innerText || "").trim(),
                href: el.getAttribute("href"), outline: style.outlineStyle, shadow: style.boxShadow};
    }""")


def tab_until(page, predicate, limit: int = 120) -> dict:
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        if predicate(now):
            return now
    raise AssertionError("never reached the element with the Tab key")


def test_the_patient_journey_with_the_keyboard_alone(site, austin_clinics):
    page = site.page
    site.goto("/")
    page.keyboard.press("Tab")
    skip = focused(page)
    assert skip["text"] == "Skip to main content" and skip["outline"] != "none"
    page.keyboard.press("Enter")
    location = tab_until(page, lambda f: f["name"] == "location")
    assert location["outline"] != "none" or location["shadow"] != "none"  # focus is visible
    page.keyboard.type("Austin, TX")
    page.keyboard.press("Enter")  # submits the form
    expect(page.locator("#results-heading")).to_contain_text("25 clinics near Austin, TX")

    # Tick a filter from the keyboard: "Change search" to the form, open "More filters", Space on a box.
    tab_until(page, lambda f: f["text"] == "Change search")
    page.keyboard.press("Enter")
    tab_until(page, lambda f: f["tag"] == "SUMMARY")
    page.keyboard.press("Enter")
    tab_until(page, lambda f: f["name"] == "method" and page.evaluate("document.activeElement.value") == "oral")
    page.keyboard.press("Space")
    expect(search_form(page).get_by_label("Oral or sublingual")).to_be_checked()
    tab_until(page, lambda f: f["tag"] == "BUTTON" and f["text"] == "Find clinics")
    page.keyboard.press("Enter")
    expect(page.locator("#results-heading")).to_have_text("12 clinics near Austin, TX offer oral ketamine")

    link = tab_until(page, lambda f: f["text"] == "Austin Care 02")
    assert link["outline"] != "none"
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Austin Care 02")
    phone = tab_until(page, lambda f: (f["href"] or "").startswith("tel:+1"))  # after the 988 and 911 links
    assert phone["href"] == "tel:+15125550001"
