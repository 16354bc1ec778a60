"""The site in Spanish (issue 19): the catalogue is complete, every page a patient or owner reads is
Spanish with ``?lang=es`` or a Spanish browser, links keep the language, and the API stays neutral."""
from __future__ import annotations

from datetime import date

import pytest

from fixtures.accounts import csrf_token, mail_links, outbox_messages, post_form
from fixtures.pages import hrefs, tags, text_of
from fixtures.spanish import english_leaks, visible_text
from kapfinder import catalogues, vocab

SPANISH = {"Accept-Language": "es-US,es;q=0.9,en;q=0.5"}


@pytest.fixture
def clinic(make_clinic):
    return make_clinic(
        name="Lakeside Ketamine", slug="lakeside-austin", methods=["iv", "esketamine-nasal"],
        settings=["in-clinic", "at-home"], at_home_states=["TX", "NY"], conditions=["depression", "ptsd"],
        therapy="integrated", therapy_extras=["somatic"], offers_evaluation=True, prescriber_types=["md", "np"],
        therapist_licenses=["lcsw"], rems_certified=True, sliding_scale=True, superbill=True,
        accepting_as_of=date(2026, 2, 1), hours=[{"day": "tu", "opens": "08:30", "closes": "17:00"}],
        insurance=[{"carrier": "aetna", "service": "esketamine", "network": "in-network", "plan_types": ["ppo"]},
                   {"carrier": "bcbs", "service": "ketamine", "network": "out-of-network"}],
        prices=[{"service": "ketamine", "min_usd": 450, "max_usd": 1600}])


def spanish_page(client, url: str, status: int = 200, **kw) -> str:
    response = client.get(url, **kw)
    assert response.status_code == status, (url, response.status_code)
    html = response.get_data(as_text=True)
    assert '<html lang="es">' in html, url
    assert english_leaks(html) == [], url
    return html


# --- the catalogue --------------------------------------------------------------------------------

def test_every_extracted_message_has_a_reviewed_spanish_translation():
    """Extraction runs afresh (code, templates, mails, vocabularies, carrier notes): a new English
    string without a Spanish translation, or a fuzzy one, fails here and in `make messages`."""
    assert catalogues.problems("es") == []


def test_the_catalogue_holds_the_vocabularies_and_carrier_notes():
    found = catalogues.extract()
    for term in vocab.METHODS:
        assert term.label in found and term.description in found
    assert "Spravato (esketamine nasal spray)" in found
    catalogue = catalogues.read_catalogue("es")
    assert catalogue.get("Spravato (esketamine nasal spray)").string == "Spravato (esketamina en aerosol nasal)"
    assert any("{carrier}" in msgid for msgid in found)


def test_the_leak_finder_sees_english_on_an_english_page(client, clinic):
    """The check the page tests rely on is not blind: the same page in English is full of leaks."""
    html = client.get("/clinics/lakeside-austin?lang=en").get_data(as_text=True)
    assert len(english_leaks(html)) > 20


# --- every page in Spanish ------------------------------------------------------------------------

PATIENT_PAGES = [
    "/", "/search", "/search?location=30.27,-97.74", "/search?location=30.27,-97.74&method=iv&condition=ptsd",
    "/clinics/lakeside-austin", "/clinics/lakeside-austin/report", "/insurance",
    "/insurance?insurance=aetna&location=30.27,-97.74", "/insurance?insurance=bcbs&service=ketamine&location=30.27,-97.74",
    "/learn/methods", "/learn/insurance", "/learn/vetting", "/about", "/open-data/",
    "/account/sign-in", "/account/sign-up", "/account/reset",
] + [f"/insurance/{slug}" for slug in vocab.CARRIERS.slugs]


@pytest.mark.parametrize("url", PATIENT_PAGES)
def test_every_patient_page_in_spanish_has_no_english_catalogue_text(client, clinic, url):
    html = spanish_page(client, url + ("&" if "?" in url else "?") + "lang=es")
    assert "Llame o envíe un mensaje de texto al" in visible_text(html)  # the crisis line, in Spanish


def test_error_pages_and_bad_input_in_spanish(client, clinic):
    html = spanish_page(client, "/no-such-page?lang=es", status=404)
    assert "No encontramos esa página" in html
    # Bad input: the messages beside the fields are Spanish too.
    spanish_page(client, "/search?lang=es&location=&radius=7", status=400)
    spanish_page(client, "/insurance?lang=es&insurance=nope", status=400)


def test_a_state_search_names_the_state_in_spanish(client, make_clinic):
    make_clinic(name="Manhattan KAP", slug="manhattan-kap", state="NY", city="New York", zip="10001",
                lat=40.75, lon=-73.99)
    html = spanish_page(client, "/search?location=New+York&lang=es")
    assert "Nueva York" in text_of(html, tag="h1") and "New York ·" not in html
    assert "en Nueva York, numeradas como en la lista" in visible_text(html)  # the map's text names it too
    # The map's meridians are west of Greenwich: Spanish writes O (oeste), never W.
    assert "°O</text>" in html and "°W</text>" not in html and "°N</text>" in html


def test_clinic_page_reads_in_spanish_with_es_us_dates_and_money(client, clinic):
    html = spanish_page(client, "/clinics/lakeside-austin?lang=es")
    main = text_of(html, tag="main")
    for words in ("Infusión intravenosa (IV)", "Spravato (esketamina en aerosol nasal)", "En casa (telesalud)",
                  "Nueva York, Texas", "Depresión, TEPT (estrés postraumático)", "Terapia somática",
                  "Acepta pacientes nuevos (al 1 feb 2026)", "$450–$1,600", "La cobertura depende de su plan",
                  "en la red", "fuera de la red"):
        assert words in main, words


def test_coverage_and_price_dates_read_in_spanish_and_stay_iso_for_machines(client, make_clinic):
    make_clinic(name="Fechas Clinic", slug="fechas-austin", methods=["iv"],
                insurance=[{"carrier": "aetna", "service": "ketamine", "network": "in-network",
                            "as_of": date(2026, 11, 26)}],
                prices=[{"service": "ketamine", "min_usd": 400, "max_usd": 500, "as_of": date(2026, 10, 3)}])
    html = spanish_page(client, "/clinics/fechas-austin?lang=es")
    main = text_of(html, tag="main")
    assert "26 nov 2026" in main and "3 oct 2026" in main
    assert "2026-11-26" not in main and "2026-10-03" not in main
    assert 'datetime="2026-11-26"' in html and 'datetime="2026-10-03"' in html


def test_owner_pages_in_spanish(client, clinic, make_user, login, db_session):
    owner = make_user()
    clinic.owner_id = owner.id
    db_session.commit()
    login(client, owner.email)
    spanish_page(client, "/owner/?lang=es")
    spanish_page(client, f"/owner/listings/{clinic.id}?lang=es")
    for step in ("basics", "care", "prices", "safety", "review"):
        spanish_page(client, f"/owner/listings/new/{step}?lang=es")
        spanish_page(client, f"/owner/listings/{clinic.id}/edit/{step}?lang=es")
    spanish_page(client, "/account/?lang=es")
    spanish_page(client, "/account/password?lang=es")
    spanish_page(client, f"/clinics/{clinic.slug}/claim?lang=es")
    # A step posted with mistakes: every message beside its field, in Spanish.
    path = "/owner/listings/new/basics?lang=es"
    response = client.post(path, data={"csrf_token": csrf_token(client, path), "name": "", "phone": "abc",
                                       "website": "ftp://example.com", "email": "no-at-sign", "action": "next"})
    page = response.get_data(as_text=True)
    assert response.status_code in (200, 400) and '<html lang="es">' in page
    assert english_leaks(page) == []
    assert 'class="field-error"' in page or "error-summary" in page
    # The form posts back to a Spanish address, so the next step (a redirect built by url_for) is Spanish too.
    actions = [a.get("action") or "" for _t, a in tags(page, "form") if a.get("method") == "post"]
    owner_actions = [action for action in actions if action.startswith("/owner/")]
    assert owner_actions and all("lang=es" in action for action in owner_actions), actions


def test_moderator_pages_in_spanish(client, clinic, make_user, login):
    moderator = make_user(email="mod@kapfinder.example", role="moderator")
    login(client, moderator.email)
    spanish_page(client, "/moderate/?lang=es")
    spanish_page(client, f"/moderate/listings/{clinic.id}?lang=es")


def test_a_spanish_browser_gets_spanish_without_asking(client, clinic):
    response = client.get("/clinics/lakeside-austin", headers=SPANISH)
    html = response.get_data(as_text=True)
    assert '<html lang="es">' in html and english_leaks(html) == []
    assert "Accept-Language" in response.headers["Vary"]
    assert "Set-Cookie" not in response.headers  # the language is never a cookie


def test_the_url_beats_the_browser_and_english_is_the_default(client, clinic):
    assert '<html lang="en">' in client.get("/about").get_data(as_text=True)
    html = client.get("/about?lang=en", headers=SPANISH).get_data(as_text=True)
    assert '<html lang="en">' in html and "About kapfinder" in html
    html = client.get("/about?lang=xx", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="en">' in html


# --- the switch, hreflang, links that keep the language --------------------------------------------

def test_every_page_has_a_plain_switch_link_and_hreflang_alternates(client, clinic):
    html = client.get("/search?location=30.27,-97.74&method=iv&lang=es").get_data(as_text=True)
    switch = [a for _t, a in tags(html, "a") if a.get("hreflang") == "en"]
    assert switch and switch[0]["href"] == "/search?location=30.27%2C-97.74&method=iv&lang=en"
    assert "English" in text_of(html, cls="language-switch")
    alternates = {a["hreflang"]: a["href"] for _t, a in tags(html, "link") if a.get("rel") == "alternate"}
    assert alternates == {
        "en": "http://kapfinder.test/search?location=30.27%2C-97.74&method=iv&lang=en",
        "es": "http://kapfinder.test/search?location=30.27%2C-97.74&method=iv&lang=es",
        "x-default": "http://kapfinder.test/search?location=30.27%2C-97.74&method=iv",
    }
    english = client.get("/about").get_data(as_text=True)
    assert "Español" in text_of(english, cls="language-switch")
    assert [a["href"] for _t, a in tags(english, "a") if a.get("hreflang") == "es"] == ["/about?lang=es"]


def test_links_and_get_forms_on_a_spanish_page_keep_the_language(client, clinic):
    html = client.get("/search?location=30.27,-97.74&lang=es").get_data(as_text=True)
    # Every internal link but the JSON APIs' (language-neutral) and static files.
    internal = [h for h in hrefs(html) if h.startswith("/") and not h.startswith(("/static/", "/hsds", "/api/"))]
    assert internal and all("lang=es" in h or "lang=en" in h for h in internal), internal
    for _t, form in tags(html, "form"):
        assert form.get("method") == "get"
    hidden = [a for _t, a in tags(html, "input") if a.get("name") == "lang"]
    assert hidden and all(a["value"] == "es" and a["type"] == "hidden" for a in hidden)
    # An English page from an English browser keeps its addresses clean.
    english = client.get("/search?location=30.27,-97.74").get_data(as_text=True)
    assert not [h for h in hrefs(english) if "lang=" in h and 'hreflang="es"' not in h][1:]
    assert not [a for _t, a in tags(english, "input") if a.get("name") == "lang"]


def test_reporting_a_problem_in_spanish(client, clinic):
    html = spanish_page(client, "/clinics/lakeside-austin/report?lang=es")
    assert "¿Qué está mal?" in html
    response = post_form(client, "/clinics/lakeside-austin/report?lang=es", {"reason": ""})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert '<html lang="es">' in page and english_leaks(page) == []
    assert "Elija qué está mal" in page or "qué está mal" in text_of(page, tag="main")
    response = post_form(client, "/clinics/lakeside-austin/report?lang=es",
                         {"reason": "phone-disconnected", "note": "Nadie contesta"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="es">' in page and english_leaks(page) == []


def test_a_spanish_sign_up_mails_in_spanish_with_a_spanish_link(app, client):
    response = post_form(client, "/account/sign-up?lang=es", {
        "email": "paciente@example.com", "password": "una frase de paso larga", "confirm": "una frase de paso larga"})
    assert response.status_code == 200
    assert english_leaks(response.get_data(as_text=True)) == []
    [message] = outbox_messages(app)
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "Alguien, probablemente usted, creó una cuenta de kapfinder" in body
    assert english_leaks(body) == []
    assert any("lang=es" in link for link in mail_links(message))


def test_the_owner_is_mailed_in_english_when_a_spanish_reader_reports(app, client, clinic, make_user, db_session):
    owner = make_user()
    clinic.owner_id = owner.id
    db_session.commit()
    post_form(client, "/clinics/lakeside-austin/report?lang=es", {"reason": "price-wrong", "note": ""})
    [message] = outbox_messages(app)
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "Someone reported a problem with your listing" in body and "Price is wrong" in body
    assert not [link for link in mail_links(message) if "lang=" in link]


# --- caches hold no Spanish; the API stays neutral -------------------------------------------------

def test_cached_search_answers_show_each_readers_language(client, clinic):
    url = "/search?location=30.27,-97.74&method=iv"
    first = client.get(url + "&lang=es").get_data(as_text=True)
    second = client.get(url).get_data(as_text=True)
    third = client.get(url + "&lang=es").get_data(as_text=True)
    assert "Infusión intravenosa (IV)" in first and "Infusión intravenosa (IV)" in third
    assert "IV infusion" in second and "Infusión" not in second


def test_the_api_is_language_neutral_except_the_taxonomy_when_asked(client, clinic):
    clinics = client.get("/api/v1/clinics?location=30.27,-97.74", headers=SPANISH)
    assert clinics.status_code == 200
    body = clinics.get_data(as_text=True)
    assert "lang=" not in body and "Infusión" not in body
    assert client.get("/api/v1/taxonomy", headers=SPANISH).json["method"][0]["label"] == "IV infusion"
    spanish = client.get("/api/v1/taxonomy?lang=es").json
    assert spanish["method"][0] == {
        "slug": "iv", "label": "Infusión intravenosa (IV)",
        "description": "Infusión intravenosa: la ketamina se pasa lentamente por un suero en la vena, por lo "
                       "general durante 40 minutos o más, con vigilancia en la clínica."}
    assert [t["slug"] for t in spanish["insurance"]] == list(vocab.CARRIERS.slugs)
    bad = client.get("/api/v1/clinics?location=nowhere-at-all-zzz&lang=es")
    assert bad.status_code == 400 and "lang=" not in bad.get_data(as_text=True)
