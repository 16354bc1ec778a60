"""/clinics/<slug>: the whole listing, directions that open the phone's map app, 404s."""
from __future__ import annotations

from datetime import date
from urllib.parse import unquote

import pytest
from babel.dates import format_date

from fixtures.pages import get_page, hrefs, tags, text_of, texts  # noqa: F401  (get_page is a fixture)


@pytest.fixture
def full_clinic(make_clinic, days_ago):
    return make_clinic(
        name="Lakeside Ketamine & Wellness", slug="lakeside-ketamine-austin",
        description="Prep, dosing & integration under one roof.",
        street="500 W 5th St", city="Austin", state="TX", zip="78701", lat=30.2686, lon=-97.7494,
        timezone="America/Chicago", phone="+15125550188", website="https://lakeside.example",
        email="hello@lakeside.example",
        methods=["iv", "esketamine-nasal"], settings=["in-clinic", "at-home"], at_home_states=["TX", "OK"],
        conditions=["depression", "ptsd"], therapy="integrated", therapy_extras=["somatic"], offers_evaluation=True,
        prescriber_types=["md", "np"], therapist_licenses=["lcsw", "psyd"], rems_certified=True,
        vital_signs_monitoring=True, medical_screening=True, npi="1234567893",
        sliding_scale=True, superbill=True,
        accepting_new_patients=True, accepting_as_of=date(2026, 2, 1),
        verified_at=days_ago(30), confirmed_at=days_ago(5),
        hours=[{"day": "tu", "opens": "08:30", "closes": "17:00"}, {"day": "mo", "opens": "09:00", "closes": "18:00"}],
        hours_note="Closed on federal holidays.",
        insurance=[{"carrier": "aetna", "service": "esketamine", "network": "in-network", "plan_types": ["ppo"]},
                   {"carrier": "bcbs", "service": "ketamine", "network": "out-of-network"}],
        prices=[{"service": "ketamine", "min_usd": 450, "max_usd": 600}],
    )


def test_clinic_page_shows_the_whole_listing(get_page, full_clinic):
    html = get_page("/clinics/lakeside-ketamine-austin").get_data(as_text=True)
    main = text_of(html, tag="main")
    assert "Lakeside Ketamine &amp; Wellness" in html and "Lakeside Ketamine & Wellness · kapfinder" in text_of(html, tag="title")
    for fact in ("Prep, dosing & integration under one roof.", "500 W 5th St", "Austin, TX 78701",
                 "IV infusion", "Spravato (esketamine nasal spray)", "In the clinic", "At home (telehealth)",
                 "Oklahoma, Texas", "Depression, PTSD", "Therapist present during dosing", "Somatic therapy",
                 "MD", "NP", "LCSW", "PsyD", "1234567893", "Closed on federal holidays.",
                 "Aetna", "Blue Cross Blue Shield", "$450–$600", "hello@lakeside.example"):
        assert fact in main, fact
    safety = text_of(html, cls="clinic-safety")
    assert "Spravato REMS certified yes" in safety
    assert "Vital signs monitored during treatment yes" in safety
    assert "Medical screening before treatment yes" in safety
    assert f"Accepting new patients (as of {format_date(date(2026, 2, 1), 'medium', locale='en')})" in main
    assert f"Verified {format_date(full_clinic.verified_at, 'medium', locale='en')}" in main
    assert f"Last confirmed {format_date(full_clinic.confirmed_at, 'medium', locale='en')}" in main
    assert "tel:+15125550188" in hrefs(html) and "(512) 555-0188" in main
    assert "https://lakeside.example" in hrefs(html)
    assert "Sliding-scale fees: yes" in main


def test_hours_are_in_day_order_with_day_names_and_the_clinics_time_zone(get_page, full_clinic):
    html = get_page("/clinics/lakeside-ketamine-austin").get_data(as_text=True)
    rows = texts(html, tag="tr")
    hours = [r for r in rows if r.startswith(("Monday", "Tuesday"))]
    assert hours == ["Monday 9:00 AM–6:00 PM", "Tuesday 8:30 AM–5:00 PM"]
    assert "Central Time" in text_of(html, cls="hours")


def test_directions_links_open_the_phones_map_app(get_page, full_clinic):
    html = get_page("/clinics/lakeside-ketamine-austin").get_data(as_text=True)
    links = {a["href"]: a for t, a in tags(html, "a") if a.get("href", "").startswith(("geo:", "https://maps.apple"))}
    geo_link = next(h for h in links if h.startswith("geo:30.2686,-97.7494?q="))
    apple = next(h for h in links if h.startswith("https://maps.apple.com/?daddr="))
    assert unquote(geo_link.split("?q=")[1]) == "500 W 5th St, Austin, TX 78701"
    assert unquote(apple.split("daddr=")[1]) == "500 W 5th St, Austin, TX 78701"
    assert all("noreferrer" in links[h]["rel"] for h in (geo_link, apple))


def test_report_and_claim_links(get_page, full_clinic):
    html = get_page("/clinics/lakeside-ketamine-austin").get_data(as_text=True)
    assert "/clinics/lakeside-ketamine-austin/report" in hrefs(html)
    assert "/clinics/lakeside-ketamine-austin/claim" in hrefs(html)
    assert "Is this your clinic? Claim it" in html


def test_stale_listing_says_so_in_words(get_page, make_clinic, days_ago):
    clinic = make_clinic(slug="old-one", verified_at=days_ago(200), confirmed_at=days_ago(95))
    html = get_page("/clinics/old-one").get_data(as_text=True)
    expected = f"Not confirmed since {format_date(clinic.confirmed_at, 'medium', locale='en')}"
    assert expected in text_of(html, cls="badge-stale")


def test_sample_clinic_is_labelled(get_page, make_clinic):
    make_clinic(slug="pretend", sample=True)
    html = get_page("/clinics/pretend").get_data(as_text=True)
    assert "Fictional sample listing" in text_of(html, cls="sample-label")
    assert "Fictional sample data" in text_of(html, cls="sample-banner")


def test_a_website_that_is_not_http_is_not_a_link(get_page, make_clinic):
    make_clinic(slug="odd-site", website="javascript:alert(1)")
    html = get_page("/clinics/odd-site").get_data(as_text=True)
    assert not any(h.startswith("javascript:") for h in hrefs(html))


def test_unknown_slug_is_a_friendly_404(get_page):
    html = get_page("/clinics/no-such-clinic", status=404).get_data(as_text=True)
    assert "We couldn't find that page" in html


@pytest.mark.parametrize("status", ["draft", "pending", "rejected", "archived"])
def test_unpublished_clinic_is_404(get_page, make_clinic, status):
    make_clinic(slug="hidden-clinic", status=status)
    html = get_page("/clinics/hidden-clinic", status=404).get_data(as_text=True)
    assert "hidden-clinic" not in html.replace("/clinics/hidden-clinic", "")


def test_html_in_a_listing_is_escaped(get_page, make_clinic):
    make_clinic(slug="escaped", name="<b>Bold</b> Clinic", description="<script>alert(1)</script>")
    html = get_page("/clinics/escaped").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "<b>Bold</b>" not in html
    assert "&lt;b&gt;Bold&lt;/b&gt; Clinic" in html
