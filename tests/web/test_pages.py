"""The layout and the pages that are not search results: home, explainers, About, error pages."""
from __future__ import annotations

import pytest

from fixtures.pages import get_page, hrefs, tags, text_of, texts  # noqa: F401  (get_page is a fixture)
from kapfinder import vocab

PAGES = ["/", "/search", "/search?location=78701", "/learn/methods", "/learn/vetting", "/about", "/open-data/"]


@pytest.mark.parametrize("url", PAGES)
def test_every_page_has_crisis_line_disclaimer_and_no_inline_code(get_page, make_clinic, url):
    make_clinic(name="Riverside Ketamine")
    html = get_page(url).get_data(as_text=True)
    assert 'class="skip-link" href="#main"' in html
    assert 'id="main"' in html
    links = hrefs(html)
    for path in ("/", "/insurance", "/learn/methods", "/about", "/owner/", "/hsds/", "/open-data/"):
        assert path in links, path
    assert "CC-BY-4.0" in text_of(html, cls="licence")
    sheets = [a.get("href") for _t, a in tags(html, "link") if a.get("rel") == "stylesheet"]
    # Our own stylesheets only: nothing fetched from another host.
    assert sheets[0] == "/static/css/site.css"
    assert all(href.startswith("/static/css/") for href in sheets)


def test_nav_names_every_section(get_page):
    html = get_page("/").get_data(as_text=True)
    nav = text_of(html, tag="nav")
    for label in ("Search", "Insurance", "Learn", "About", "For clinics"):
        assert label in nav
    assert 'aria-current="page"' in html


def test_home_has_search_form_with_every_filter(get_page):
    html = get_page("/").get_data(as_text=True)
    forms = tags(html, "form")
    assert forms[0][1]["action"] == "/search" and forms[0][1]["method"] == "get"
    names = {a.get("name") for t, a in tags(html) if t in ("input", "select")}
    assert {"location", "radius", "method", "insurance", "plan_type", "service", "condition", "setting",
            "accepting"} <= names
    radius_options = [a["value"] for t, a in tags(html, "option")][:6]
    assert radius_options == ["5", "10", "25", "50", "100", "250"]
    # every method with its plain-language description, straight from the vocabulary
    for term in vocab.METHODS:
        assert term.label in html
        assert term.description in html
    assert "What is ketamine-assisted psychotherapy?" in html
    assert 'id="location-tools"' in html


def test_every_field_has_a_label(get_page):
    html = get_page("/").get_data(as_text=True)
    label_for = {a.get("for") for _t, a in tags(html, "label")}
    for tag, attrs in tags(html):
        if tag in ("input", "select") and attrs.get("type") != "hidden":
            assert attrs["id"] in label_for, attrs


def test_learn_methods_explains_each_method(get_page):
    html = get_page("/learn/methods").get_data(as_text=True)
    for term in vocab.METHODS:
        assert term.description in html
        assert f"/search?method={term.slug}" in hrefs(html)


def test_learn_vetting_covers_rems_licences_screening_monitoring(get_page):
    text = text_of(get_page("/learn/vetting").get_data(as_text=True), tag="main")
    for words in ("REMS", "licence", "NPI", "Screening", "Monitoring"):
        assert words in text


def test_learn_insurance_is_routed(get_page):
    get_page("/learn/insurance")


def test_unknown_learn_topic_is_a_friendly_404(get_page):
    html = get_page("/learn/astrology", status=404).get_data(as_text=True)
    assert "We couldn't find that page" in html


def test_about_credits_sources_and_states_privacy(get_page):
    html = get_page("/about").get_data(as_text=True)
    text = text_of(html, tag="main")
    for words in ("zipcodes", "GeoNames", "CC BY 4.0", "USPS ZIP Locale Detail", "unitedstateszipcodes.org",
                  "Open Referral", "CC BY-SA 4.0", "no patient accounts", "no search log tied to your IP",
                  "no third-party requests", "not medical advice"):
        assert words.lower() in text.lower(), words
    assert "/open-data/" in hrefs(html) and "/hsds/" in hrefs(html)


class TestLicenceFromConfig:
    @pytest.fixture
    def app_config(self, app_config):
        app_config.DATA_LICENSE = "ODbL-1.0"
        return app_config

    def test_footer_and_about_show_the_configured_licence(self, get_page):
        html = get_page("/about").get_data(as_text=True)
        assert "ODbL-1.0" in text_of(html, cls="licence")
        assert "https://opendatacommons.org/licenses/odbl/1-0/" in hrefs(html)


def test_unknown_path_is_a_friendly_404(get_page):
    html = get_page("/no/such/page", status=404).get_data(as_text=True)
    assert "We couldn't find that page" in html
    assert "/" in hrefs(html)


def test_server_error_page_is_friendly(app, client):
    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError("boom")

    app.logger.disabled = True
    response = client.get("/boom-for-test")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Sorry, something went wrong" in html
    assert "Call or text" in html and "988" in html
    assert "boom" not in html


def test_sample_banner_only_when_a_sample_listing_is_shown(get_page, make_clinic):
    make_clinic(name="Real Clinic")
    assert texts(get_page("/search?location=Texas").get_data(as_text=True), cls="sample-banner") == []
    make_clinic(name="Made Up Clinic", sample=True)
    html = get_page("/search?location=Texas").get_data(as_text=True)
    assert "Fictional sample data" in text_of(html, cls="sample-banner")
    assert texts(get_page("/about").get_data(as_text=True), cls="sample-banner") == []


def test_stylesheet_is_served_with_focus_print_and_no_imports(client):
    response = client.get("/static/css/site.css")
    assert response.status_code == 200
    css = response.get_data(as_text=True)
    response.close()
    assert ":focus-visible" in css
    assert "@media print" in css
    assert "@import" not in css and "url(http" not in css
