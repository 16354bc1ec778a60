"""From owner to patient in a real browser: an owner registers and confirms the address from the
mail, submits a listing (first with a mistake), a moderator approves it, and a patient finds it.
axe runs on every owner and moderator page on the way."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from conftest import PHONE, search_form, sign_in, sideways_overflow
from fixtures.accounts import DEFAULT_PASSWORD, mail_links, outbox_messages


def fill_listing(page) -> None:
    form = page.locator("form").filter(has=page.get_by_role("button", name="Submit for review"))
    form.get_by_label("Clinic name").fill("Harbor Rivera KAP")
    form.get_by_label("About the clinic").fill("Ketamine-assisted psychotherapy by the river.")
    form.get_by_label("Street address").fill("100 Congress Ave")
    form.get_by_label("City").fill("Austin")
    form.get_by_label("State").select_option("TX")
    form.get_by_label("ZIP code").fill("78701")
    form.get_by_label("Phone").fill("(512) 555-0199")
    form.get_by_label("Website").fill("https://harbor-rivera.example")
    form.get_by_label("IV infusion").check()
    form.get_by_label("In the clinic").check()
    form.get_by_label("Depression", exact=True).check()
    form.get_by_label("Preparation and integration sessions").check()
    form.get_by_label("NPI number").fill("1234567893")
    form.get_by_label("Yes", exact=True).check()


def test_owner_registers_submits_moderator_approves_patient_finds(app, make_site, make_user, check_axe, screenshot):
    moderator = make_user(email="mod@kapfinder.example", role="moderator")
    owner = make_site()
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
    expect(page.locator("h1")).to_contain_text("Email address confirmed")

    # Sign in and submit a listing; a missing field is explained next to it first.
    sign_in(owner, "dr.rivera@harbor-rivera.example", DEFAULT_PASSWORD)
    owner.goto("/owner/")
    expect(page.locator("h1")).to_have_text("Your listings")
    check_axe(page, "owner dashboard")
    page.get_by_role("link", name="Add a new listing").click()
    check_axe(page, "new listing form")
    screenshot(page, "owner-new-listing")
    fill_listing(page)
    page.get_by_label("Clinic name").fill("")
    page.get_by_role("button", name="Submit for review").click()
    name = page.get_by_label("Clinic name")
    expect(name).to_have_attribute("aria-invalid", "true")
    # Only the name is wrong: the three blank insurance rows a browser submits must not count.
    errors = page.locator(".field-error p, .form-section-error, .section-error").all_inner_texts()
    assert len(errors) == 1, f"an owner who left the insurance rows blank is told: {errors}"
    check_axe(page, "new listing form with an error")
    screenshot(page, "owner-new-listing-error")
    page.get_by_label("Clinic name").fill("Harbor Rivera KAP")
    page.get_by_role("button", name="Submit for review").click()
    expect(page.locator("body")).to_contain_text("waiting for a moderator")
    check_axe(page, "owner listing")
    screenshot(page, "owner-listing")

    # Not public yet.
    patient = make_site(viewport=PHONE)
    patient.goto("/search?location=Austin%2C+TX")
    expect(patient.page.locator("#results-heading")).to_contain_text("No clinics found")

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
    form.get_by_label("ZIP code, city or address").fill("Austin, TX")
    form.get_by_role("button", name="Find clinics").click()
    expect(page.locator("#results-heading")).to_contain_text("1 clinic found")
    page.get_by_role("link", name="Harbor Rivera KAP", exact=True).click()
    expect(page.locator("h1")).to_have_text("Harbor Rivera KAP")
    expect(page.locator(".clinic-contact a[href^='tel:']")).to_have_attribute("href", "tel:+15125550199")
    assert sideways_overflow(page) == 0
