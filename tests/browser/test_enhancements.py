"""What JavaScript adds, and the map: "use my location" (granted, denied, without JavaScript),
the server-drawn map (markers match the list, keyboard, text alternative, no outside request),
"copy link", and the print stylesheet."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from conftest import PHONE, search_form

AUSTIN = {"latitude": 30.2672, "longitude": -97.7431}


def test_use_my_location_fills_the_field_and_searches_near_it(make_site, austin_clinics, check_axe):
    site = make_site(geolocation=AUSTIN, permissions=["geolocation"])
    page = site.page
    site.goto("/")
    button = page.get_by_role("button", name="Use my location")
    expect(button).to_be_visible()
    button.click()
    field = search_form(page).get_by_label("ZIP code, city or address")
    expect(field).to_have_value("30.2672,-97.7431")
    expect(page.locator(".use-location-status")).to_contain_text("Location filled in")
    check_axe(page, "home after using my location")
    search_form(page).get_by_role("button", name="Find clinics").click()
    expect(page.locator("h1")).to_contain_text("30.267, -97.743")
    expect(page.locator("#results-heading")).to_contain_text("25 clinics near 30.267, -97.743")
    assert site.foreign_requests() == []  # the position went nowhere but to kapfinder


def test_use_my_location_denied_says_so_politely(make_site, austin_clinics):
    site = make_site(geolocation=AUSTIN, permissions=[])
    site.context.clear_permissions()
    page = site.page
    site.goto("/")
    page.get_by_role("button", name="Use my location").click()
    status = page.locator(".use-location-status")
    expect(status).to_contain_text("did not share your location")
    expect(status).to_have_attribute("role", "status")
    expect(search_form(page).get_by_label("ZIP code, city or address")).to_have_value("")


def test_without_javascript_the_extras_stay_hidden_and_the_map_still_shows(make_site, austin_clinics):
    site = make_site(java_script_enabled=False)
    page = site.page
    site.goto("/")
    expect(page.get_by_role("button", name="Use my location")).to_be_hidden()
    site.goto("/search?location=78701")
    expect(page.get_by_role("button", name="Copy link")).to_be_hidden()
    expect(page.locator("svg.map .map-marker")).to_have_count(20)
    expect(page.locator(".result-list > li")).to_have_count(20)


def test_map_markers_match_the_list_and_are_reachable_by_keyboard(make_site, austin_clinics, check_axe):
    site = make_site()
    page = site.page
    site.goto("/search?location=78701&page=2")
    names = page.locator(".result-list .result-name").all_inner_texts()
    labels = [page.locator("svg.map .map-marker").nth(i).get_attribute("aria-label")
              for i in range(page.locator("svg.map .map-marker").count())]
    numbers = sorted(int(label.split(".")[0]) for label in labels)
    assert numbers == list(range(21, 26))  # the list on page 2 starts at 21
    for label in labels:
        number, rest = label.split(". ", 1)
        assert rest.startswith(names[int(number) - 21] + ":"), label
        assert re.search(r"\d+\.\d mi (north|north-east|east|south-east|south|south-west|west|north-west) of Austin, TX", rest)
    drawn = page.locator("svg.map .map-marker text").all_text_contents()
    assert sorted(map(int, drawn)) == list(range(21, 26))  # the numbers a sighted patient sees

    # The text alternative lists the same clinics in list order.
    page.get_by_text("The map as text").click()
    alt = page.locator(".map-text li").all_inner_texts()
    assert [a.split(": ")[0] for a in alt] == [f"{21 + i}. {name}" for i, name in enumerate(names)]
    expect(page.locator("figure.map-figure figcaption")).to_contain_text("numbered as in the list")

    # Keyboard: Tab reaches a marker; Enter jumps to that clinic in the list.
    marker = page.locator("svg.map .map-marker").last  # drawn last-to-first, so number 21 is last
    marker.focus()
    assert page.evaluate("document.activeElement.getAttribute('aria-label')").startswith("21. ")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')").startswith("21. ")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#result-"))
    target = page.url.split("#", 1)[1]
    expect(page.locator(f"[id='{target}']")).to_have_text(names[0])
    check_axe(page, "results with the map")
    assert site.foreign_requests() == []
    assert page.locator("svg.map image").count() == 0  # no tiles unless an operator sets KAPFINDER_TILE_URL


def test_clinic_page_map_and_no_outside_request(make_site, austin_clinics):
    site = make_site(viewport=PHONE)
    page = site.page
    site.goto("/clinics/austin-care-05")
    expect(page.locator(".clinic-map svg.map")).to_be_visible()
    expect(page.locator(".clinic-map figcaption")).to_contain_text("Austin Care 05 is at latitude 30.331")
    assert site.foreign_requests() == []


def clipboard_text(site) -> str:
    """What is on the clipboard, read from a blank page of the same origin: the site's own pages may
    not read the clipboard (Permissions-Policy ``clipboard-read=()``)."""
    reader = site.context.new_page()
    url = site.url("/_test/clipboard-reader")
    reader.route(url, lambda route: route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>r</title>"))
    reader.goto(url)
    try:
        return reader.evaluate("navigator.clipboard.readText()")
    finally:
        reader.close()


def test_copy_link(make_site, austin_clinics):
    site = make_site(permissions=["clipboard-read", "clipboard-write"])
    page = site.page
    site.goto("/search?location=78701&method=oral")
    page.get_by_role("button", name="Copy link").click()
    expect(page.locator(".copy-link-status")).to_contain_text("Link copied")
    assert clipboard_text(site) == page.url

    site.goto("/clinics/austin-care-02")
    page.get_by_role("button", name="Copy link").click()
    expect(page.locator(".copy-link-status")).to_contain_text("Link copied")
    assert clipboard_text(site) == site.url("/clinics/austin-care-02")
    expect(page.get_by_role("button", name="Print")).to_be_visible()


def test_print_shows_the_search_addresses_and_phones_without_navigation(make_site, austin_clinics, screenshot):
    site = make_site()
    page = site.page
    site.goto("/search?location=78701&method=oral")
    page.emulate_media(media="print")
    expect(page.locator(".site-nav")).to_be_hidden()
    expect(page.locator("form.search-form")).to_be_hidden()
    expect(page.locator(".pagination")).to_be_hidden()
    expect(page.get_by_role("button", name="Copy link")).to_be_hidden()
    expect(page.locator("h1")).to_contain_text("Austin, TX")
    expect(page.locator(".search-summary")).to_be_visible()
    expect(page.locator(".page-address")).to_contain_text("/search?location=78701&method=oral")
    expect(page.locator(".search-choices")).to_have_text("Your choices: How the medicine is given: Oral or sublingual")
    first = page.locator(".result-list > li").first
    expect(first).to_contain_text("Main St")
    expect(first).to_contain_text("Austin, TX 78701")
    expect(first).to_contain_text("(512) 555-0001")
    expect(page.locator(".crisis-bar")).to_contain_text("988")
    screenshot(page, "print-results")
    pdf = page.pdf(format="Letter")
    assert pdf.startswith(b"%PDF")

    site.goto("/clinics/austin-care-01")
    page.emulate_media(media="print")
    expect(page.locator(".site-nav")).to_be_hidden()
    expect(page.locator(".listing-actions")).to_be_hidden()
    expect(page.locator(".clinic-header")).to_contain_text("Main St")
    expect(page.locator(".clinic-header")).to_contain_text("Austin, TX 78701")
    expect(page.locator(".clinic-contact")).to_contain_text("(512) 555-0000")
    screenshot(page, "print-clinic")
