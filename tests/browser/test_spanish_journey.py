"""A Spanish-speaking patient on a 390 px phone (issue 19): a browser that prefers Spanish gets the
site in Spanish without choosing anything, searches, filters, reads a clinic's insurance answer and
reports a problem, and never meets an English catalogue sentence; axe finds nothing serious on the way.
The language switch is a plain link that works without JavaScript."""
from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from conftest import search_form
from fixtures.spanish import english_leaks

PHONE_390 = {"width": 390, "height": 844}


def assert_spanish(page, label: str) -> None:
    html = page.content()
    assert '<html lang="es">' in html, label
    assert english_leaks(html) == [], label


def test_the_patient_journey_in_spanish_on_a_phone(make_site, austin_clinics, db_session, check_axe):
    from kapfinder.models import ProblemReport

    site = make_site(viewport=PHONE_390, locale="es-US", extra_http_headers={"Accept-Language": "es-US,es;q=0.9"})
    page = site.page
    site.goto("/")
    assert_spanish(page, "home")
    check_axe(page, "home (es)")

    # Search by ZIP code.
    form = search_form(page)
    form.get_by_label("Código postal (ZIP), ciudad o dirección").fill("78701")
    form.get_by_role("button", name="Buscar clínicas").click()
    expect(page.locator("#results-heading")).to_contain_text("25 clínicas cerca de Austin, TX")
    expect(page).to_have_url(re.compile(r"lang=es"))  # the GET form kept the language in the address
    assert_spanish(page, "results")
    check_axe(page, "results (es)")

    # Filter: Spravato, with Aetna.
    form = search_form(page)
    form.locator("summary", has_text="Más filtros").click()
    form.get_by_label("Spravato (esketamina en aerosol nasal)").check()
    form.get_by_label("Aseguradora").select_option("aetna")
    form.get_by_role("button", name="Buscar clínicas").click()
    expect(page.locator("#results-heading")).to_contain_text("Aetna")
    expect(page.locator(".result-list > li").first.locator(".coverage-lead").first).to_contain_text(
        "Spravato: en la red de Aetna")
    assert_spanish(page, "filtered results")
    check_axe(page, "filtered results (es)")

    # Read a clinic's insurance answer.
    page.get_by_role("link", name="Austin Care 04", exact=True).click()
    expect(page.locator("h1")).to_have_text("Austin Care 04")
    expect(page).to_have_url(re.compile(r"lang=es"))
    main = page.locator("main")
    expect(main).to_contain_text("Seguros que, según esta ficha, acepta la clínica, por servicio")
    expect(main).to_contain_text("en la red")
    expect(main).to_contain_text("La cobertura depende de su plan.")
    assert_spanish(page, "clinic page")
    check_axe(page, "clinic page (es)")

    # Report a problem.
    page.get_by_role("link", name="Reportar un problema con esta ficha").click()
    assert_spanish(page, "report form")
    check_axe(page, "report form (es)")
    page.get_by_role("button", name="Enviar reporte").click()  # nothing chosen: a message beside the field
    expect(page.locator("main")).to_contain_text("qué está mal")
    assert_spanish(page, "report form with an error")
    check_axe(page, "report form with an error (es)")
    page.get_by_label("La clínica cerró").check()
    page.get_by_label("¿Algo más? (opcional)").fill("El edificio está vacío.")
    page.get_by_role("button", name="Enviar reporte").click()
    expect(page.locator("h1")).to_have_text("Gracias")
    assert_spanish(page, "report sent")
    check_axe(page, "report sent (es)")
    db_session.expire_all()
    (report,) = db_session.scalars(select(ProblemReport)).all()
    assert report.reason == "closed"


def test_the_language_switch_is_a_plain_link(make_site, austin_clinics):
    site = make_site(viewport=PHONE_390, java_script_enabled=False)
    page = site.page
    site.goto("/clinics/austin-care-02")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("link", name="Español").click()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page).to_have_url(re.compile(r"/clinics/austin-care-02\?lang=es$"))
    assert english_leaks(page.content()) == []
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Austin Care 02")
