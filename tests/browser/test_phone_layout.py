"""The first screen answers the patient (issue 15): measured with Playwright bounding boxes on a
390×844 phone and a 1280×800 laptop. The place box and the button are on the first screen of the home
page; on results, the heading says what matched, the chosen filters sit on one line above the list,
and the first clinic's name and its coverage line for the patient's method are on the first screen."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import search_form, sideways_overflow, sign_in

PHONE_390 = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
NEW_YORK = dict(city="New York", state="NY", zip="10001", timezone="America/New_York")
IV_AETNA = "/search?location=10001&method=iv&insurance=aetna"


@pytest.fixture
def new_york_clinics(make_clinic):
    """Six clinics around ZIP 10001 that take Aetna for IV ketamine, with long names and the other
    services listed too (the cards a patient would compare), and one that takes Aetna only for therapy."""
    clinics = []
    for n in range(6):
        clinics.append(make_clinic(
            name=f"Midtown Integrative Ketamine and Psychotherapy Center {n + 1}", slug=f"midtown-{n + 1}",
            street=f"{100 + n} West 34th Street, Suite {200 + n}", lat=40.7506 + 0.004 * n, lon=-73.9972,
            methods=["iv", "im", "esketamine-nasal"], rems_certified=True, offers_evaluation=True, superbill=True,
            insurance=[{"carrier": "aetna", "service": "ketamine", "network": "in-network", "plan_types": ["ppo"]},
                       {"carrier": "aetna", "service": "psychotherapy", "network": "out-of-network"}],
            prices=[{"service": "esketamine", "min_usd": 600, "max_usd": 900},
                    {"service": "evaluation", "min_usd": 250, "max_usd": 400}],
            phone=f"+1212555{n:04d}", sample=n == 0, **NEW_YORK))
    make_clinic(name="Therapy Only Aetna", slug="therapy-only", lat=40.75, lon=-73.99, methods=["iv"],
                insurance=[{"carrier": "aetna", "service": "psychotherapy", "network": "in-network"}], **NEW_YORK)
    return clinics


def box(locator) -> dict:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not on the page"
    return found


def on_first_screen(locator, viewport) -> bool:
    b = box(locator)
    return b["y"] >= 0 and b["y"] + b["height"] <= viewport["height"]


@pytest.mark.parametrize("viewport", [PHONE_390, LAPTOP], ids=["390x844", "1280x800"])
def test_home_puts_the_place_box_and_the_button_on_the_first_screen(make_site, viewport, check_axe):
    site = make_site(viewport=viewport)
    site.goto("/")
    page = site.page
    form = search_form(page)
    place = form.get_by_label("ZIP code, city or address")
    button = form.get_by_role("button", name="Find clinics")
    assert on_first_screen(place, viewport), box(place)
    assert on_first_screen(button, viewport), box(button)
    assert box(place)["y"] < box(button)["y"]
    # The other filters wait behind "More filters" until asked for.
    expect(form.get_by_label("IV infusion")).to_be_hidden()
    form.locator("summary", has_text="More filters").click()
    expect(form.get_by_label("IV infusion")).to_be_visible()
    expect(form.get_by_label("Insurance carrier")).to_be_visible()
    assert sideways_overflow(page) == 0
    check_axe(page, f"home at {viewport['width']} px")


def test_the_form_works_without_javascript(make_site, new_york_clinics):
    site = make_site(viewport=PHONE_390, java_script_enabled=False)
    site.goto("/")
    page = site.page
    form = search_form(page)
    form.get_by_label("ZIP code, city or address").fill("10001")
    form.locator("summary", has_text="More filters").click()  # native <details>: no script needed
    form.get_by_label("IV infusion").check()
    form.get_by_label("Insurance carrier").select_option("aetna")
    form.get_by_role("button", name="Find clinics").click()
    expect(page.locator("#results-heading")).to_have_text("6 clinics near New York, NY take Aetna for IV ketamine")


@pytest.mark.parametrize("viewport", [PHONE_390, LAPTOP], ids=["390x844", "1280x800"])
def test_results_answer_on_the_first_screen(make_site, new_york_clinics, viewport, check_axe, screenshot):
    site = make_site(viewport=viewport)
    site.goto(IV_AETNA)
    page = site.page
    heading = page.locator("#results-heading")
    expect(heading).to_have_text("6 clinics near New York, NY take Aetna for IV ketamine")
    screenshot(page, "results-first-screen")
    assert page.locator("h1").count() == 1 and page.locator("h1").get_attribute("id") == "results-heading"

    summary = page.locator(".search-summary")
    chips = summary.locator("a.chip")
    expect(chips).to_have_text(["IV infusion✕", "Insurance: Aetna✕"])
    cards = page.locator(".result-list > li")
    expect(cards).to_have_count(6)
    first = cards.first
    name = first.locator(".result-name")
    lead = first.locator(".coverage-lead").first
    expect(lead).to_contain_text("IV ketamine: in network with Aetna (PPO plans), as of ")
    assert box(heading)["y"] < box(summary)["y"] < box(name)["y"] < box(lead)["y"]
    assert on_first_screen(name, viewport), box(name)
    assert on_first_screen(summary, viewport), box(summary)
    if viewport is PHONE_390:
        # The summary stays one compact block: the place, two chips and "Change search".
        assert box(summary)["height"] <= 110, box(summary)
        assert on_first_screen(lead, viewport), box(lead)
    # The card leads with the answer, before the other services, its phone and its details link.
    other = first.locator(".coverage-sentence")
    assert box(lead)["y"] < box(other)["y"] < box(first.locator(".result-phone"))["y"] + 1
    expect(first.locator(".details-link")).to_be_visible()
    expect(first.locator("a[href^='tel:']")).to_have_attribute("href", "tel:+12125550000")
    assert "Therapy Only Aetna" not in page.locator(".result-list").inner_text()

    # Compact: six cards make a page a patient can scroll (it was 7,434 px before).
    height = page.evaluate("document.documentElement.scrollHeight")
    if viewport is PHONE_390:
        assert height < 5000, height
        assert max(box(card)["height"] for card in cards.all()) < 500
    assert sideways_overflow(page) == 0
    check_axe(page, f"results at {viewport['width']} px")


def test_copy_link_and_print_sit_in_one_line_and_the_address_box_stays_hidden(make_site, new_york_clinics):
    site = make_site(viewport=PHONE_390)
    site.goto(IV_AETNA)
    page = site.page
    copy = page.get_by_role("button", name="Copy link")
    printer = page.get_by_role("button", name="Print")
    expect(copy).to_be_visible()
    expect(printer).to_be_visible()
    expect(page.locator(".copy-link-url")).to_be_hidden()
    assert abs(box(copy)["y"] - box(printer)["y"]) < 2  # side by side
    site.goto("/clinics/midtown-2")
    expect(page.locator(".copy-link-url")).to_be_hidden()

    # Without JavaScript neither button nor the raw address box shows.
    bare = make_site(viewport=PHONE_390, java_script_enabled=False)
    bare.goto(IV_AETNA)
    expect(bare.page.locator(".copy-link-url")).to_be_hidden()
    expect(bare.page.get_by_role("button", name="Copy link")).to_be_hidden()


def test_each_chip_removes_its_filter(make_site, new_york_clinics):
    site = make_site(viewport=PHONE_390)
    site.goto(IV_AETNA + "&accepting=1")
    page = site.page
    expect(page.locator(".search-summary a.chip")).to_have_count(3)
    page.get_by_role("link", name="Remove filter: Insurance: Aetna").click()
    expect(page.locator("#results-heading")).to_have_text("7 clinics near New York, NY offer IV ketamine")
    expect(page.locator(".search-summary a.chip")).to_have_text(["IV infusion✕", "Accepting new patients✕"])
    page.get_by_role("link", name="Remove filter: IV infusion").click()
    expect(page.locator("#results-heading")).to_have_text("7 clinics near New York, NY")
    page.get_by_role("link", name="Change search").click()
    expect(search_form(page).get_by_label("ZIP code, city or address")).to_be_in_viewport()


def test_signed_in_phone_header_keeps_one_row_of_navigation_and_sign_out(make_site, make_user):
    from fixtures.accounts import DEFAULT_PASSWORD

    make_user(email="owner@clinic.example")
    site = make_site(viewport=PHONE_390)
    sign_in(site, "owner@clinic.example", DEFAULT_PASSWORD)
    site.goto("/owner/")
    page = site.page
    header = page.locator(".site-header").bounding_box()
    assert header["height"] < 110, f"the signed-in header is {header['height']}px tall at 390px"
    links = page.locator(".site-nav a").all()
    tops = {round(link.bounding_box()["y"]) for link in links}
    assert len(tops) == 1, "the navigation wraps onto a second row"
    sign_out = page.get_by_role("button", name="Sign out")
    assert sign_out.is_visible()
    sign_out.click()
    page.wait_for_load_state()
    assert "/account/sign-in" in page.url
    site.goto("/owner/")
    assert "/account/sign-in" in page.url
