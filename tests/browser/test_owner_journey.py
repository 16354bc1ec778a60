"""From owner to patient in a real browser, on a phone: an owner registers and confirms the address
from the mail, fills in a listing step by step at 390×844 (a mistake first, an extra insurance row,
Enter pressed in a text box), a moderator approves it, and a patient finds it. axe runs on every
owner and moderator page on the way; every step's page stays short and its main button reachable."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from conftest import PHONE, search_form, sign_in, sideways_overflow
from fixtures.accounts import DEFAULT_PASSWORD, mail_links, outbox_messages

NEWCOMER_PHONE = {"width": 390, "height": 844}
#: The old one-page form was about 9,000 px tall on this phone; no step may come near that.
MAX_STEP_HEIGHT = 3 * NEWCOMER_PHONE["height"] + 600


def check_step(page, check_axe, screenshot, number: int, title: str) -> None:
    """The page is step ``number``, says so, passes axe, is short, fits sideways, and its main button
    is on the first screen or reached by scrolling (and then fully on screen, big enough to tap)."""
    expect(page.locator("h1")).to_contain_text(f"Step {number} of 5:")
    expect(page.locator("h1")).to_contain_text(title)
    expect(page.locator(".steps [aria-current='step']")).to_contain_text(title)
    screenshot(page, f"owner-step-{number}")
    check_axe(page, f"listing step {number}")
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height <= MAX_STEP_HEIGHT, f"step {number} is {height} px tall on a phone"
    assert sideways_overflow(page) == 0
    primary = page.locator(".step-actions .button-primary")
    expect(primary).to_have_count(1)
    primary.scroll_into_view_if_needed()
    expect(primary).to_be_in_viewport(ratio=1)
    box = primary.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44


def save_and_continue(page) -> None:
    page.locator(".step-actions").get_by_role("button", name="Save and continue").click()
    page.wait_for_load_state()


def test_owner_registers_submits_moderator_approves_patient_finds(app, make_site, make_user, check_axe, screenshot):
    moderator = make_user(email="mod@kapfinder.example", role="moderator")
    owner = make_site(viewport=NEWCOMER_PHONE, is_mobile=True, has_touch=True)
    page = owner.page

    # Sign up, then confirm the address with the link from the mail.
    owner.goto("/")
    page.get_by_role("link", name="For clinics").click()
    if "/account/sign-in" in page.url:
        page.get_by_role("link", name=re.compile("create an account|sign up", re.I)).first.click()
    expect(page.locator("h1")).to_contain_text("Create an account")
    check_axe(page, "sign-up")
    page.get_by_label("Email address").fill("dr.rivera@harbor-rivera.example")
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    page.get_by_label("Password again").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("h1")).to_contain_text("Check your email")
    check_axe(page, "check your email")
    (message,) = outbox_messages(app)
    (link,) = [href for href in mail_links(message) if "/account/confirm" in href]
    assert link.startswith(owner.base)
    page.goto(link)
    expect(page.locator("h1")).to_contain_text("Confirm your email address")
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.locator("h1")).to_contain_text("Email address confirmed")

    sign_in(owner, "dr.rivera@harbor-rivera.example", DEFAULT_PASSWORD)
    owner.goto("/owner/")
    expect(page.locator("h1")).to_have_text("Your listings")
    check_axe(page, "owner dashboard")
    page.get_by_role("link", name="Add a new listing").click()

    # Step 1. A mistake first: the summary names it and links to the field.
    check_step(page, check_axe, screenshot, 1, "Basics and address")
    assert page.locator("input[name=lat], input[name=lon]").count() == 0  # never asked for coordinates
    page.get_by_label("About the clinic").fill("Ketamine-assisted psychotherapy by the river.")
    page.get_by_label("Street address").fill("100 Congress Ave")
    page.get_by_label("City", exact=True).fill("Austin")
    page.get_by_label("State", exact=True).select_option("TX")
    page.get_by_label("ZIP code").fill("78701")
    page.get_by_label("Phone").fill("(512) 555-0199")
    page.get_by_label("Website").fill("https://harbor-rivera.example")
    save_and_continue(page)
    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary.get_by_role("link")).to_have_count(1)  # only the name: nothing from later steps
    expect(page.get_by_label("Clinic name")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Street address")).to_have_value("100 Congress Ave")  # the rest was kept
    check_axe(page, "step 1 with an error")
    screenshot(page, "owner-step-1-error")
    summary.get_by_role("link", name=re.compile("Clinic name")).click()
    expect(page).to_have_url(re.compile(r"#name$"))
    expect(page.get_by_label("Clinic name")).to_be_in_viewport()
    page.get_by_label("Clinic name").fill("Harbor Rivera KAP")
    save_and_continue(page)

    # Step 2.
    check_step(page, check_axe, screenshot, 2, "Methods and care")
    expect(page.locator(".field-group ul").first).to_have_css("list-style-type", "none")
    page.get_by_label("IV infusion").check()
    page.get_by_label("In the clinic").check()
    page.get_by_label("Depression", exact=True).check()
    page.get_by_label("Preparation and integration sessions").check()
    page.get_by_label("Yes", exact=True).check()
    save_and_continue(page)

    # Step 3: a second insurance row, added without any script; then Enter in a price box continues
    # (it must not press a row's "Remove" button).
    check_step(page, check_axe, screenshot, 3, "Insurance and prices")
    page.locator("[name='insurance-0-carrier']").select_option("aetna")
    page.locator("[name='insurance-0-service']").select_option("ketamine")
    page.locator("[name='insurance-0-network']").select_option("in-network")
    page.get_by_role("button", name="Add another insurance row").click()
    expect(page).to_have_url(re.compile(r"/prices#insurance-row-1$"))
    expect(page.locator(".insurance-row")).to_have_count(2)
    expect(page.locator("[name='insurance-0-carrier']")).to_have_value("aetna")  # saved, not lost
    page.locator("[name='insurance-1-carrier']").select_option("bcbs")
    page.locator("[name='insurance-1-service']").select_option("psychotherapy")
    page.locator("[name='insurance-1-network']").select_option("out-of-network")
    page.locator("[name='prices-ketamine-min']").fill("450")
    page.locator("[name='prices-ketamine-max']").fill("600")
    page.locator("[name='prices-ketamine-max']").press("Enter")
    page.wait_for_load_state()

    # Step 4.
    check_step(page, check_axe, screenshot, 4, "Safety and hours")
    page.get_by_label("NPI number").fill("1234567893")
    page.get_by_label("Monday Opens").fill("09:00")
    page.get_by_label("Monday Closes").fill("17:00")
    save_and_continue(page)

    # Step 5: the review says where the listing will show, from the ZIP code; no coordinates asked.
    check_step(page, check_axe, screenshot, 5, "Review and submit")
    expect(page.locator("#placement")).to_contain_text("Shown at the centre of ZIP 78701, Austin, TX.")
    expect(page.get_by_label("Latitude")).not_to_be_visible()  # inside the closed "Correct the map position"
    expect(page.locator("main")).to_contain_text("Aetna · Ketamine")
    expect(page.locator("main")).to_contain_text("Blue Cross")
    page.locator(".step-actions").get_by_role("button", name="Submit for review").click()
    expect(page.locator("body")).to_contain_text("waiting for a moderator")
    check_axe(page, "owner listing")
    screenshot(page, "owner-listing")

    # Not public yet.
    patient = make_site(viewport=PHONE)
    patient.goto("/search?location=Austin%2C+TX")
    expect(patient.page.get_by_role("link", name="Harbor Rivera KAP")).to_have_count(0)

    # A moderator approves it.
    mod = make_site()
    sign_in(mod, moderator.email, DEFAULT_PASSWORD)
    mod.goto("/moderate/")
    check_axe(mod.page, "moderation queue")
    screenshot(mod.page, "moderation-queue")
    mod.page.get_by_role("link", name="Harbor Rivera KAP").click()
    check_axe(mod.page, "moderation listing")
    screenshot(mod.page, "moderation-listing")
    mod.page.get_by_role("button", name="Approve and publish").click()
    mod.page.wait_for_load_state()

    # The patient, on a phone, finds it and can call it.
    page = patient.page
    patient.goto("/")
    form = search_form(page)
    form.locator("input[name=location]").fill("Austin, TX")
    form.locator("input[name=location]").press("Enter")
    page.get_by_role("link", name="Harbor Rivera KAP", exact=True).click()
    expect(page.locator("h1")).to_have_text("Harbor Rivera KAP")
    expect(page.locator(".clinic-contact a[href^='tel:']")).to_have_attribute("href", "tel:+15125550199")
    expect(page.locator("main")).to_contain_text("Aetna")
    assert sideways_overflow(page) == 0
