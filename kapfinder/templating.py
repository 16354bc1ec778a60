"""Everything a template may call besides Jinja's and Flask's own: filters, tests, globals and the
values every page reads. ``create_app`` registers them (``register``), never a blueprint, so every
page renders whichever features the app was built with.

The words themselves live with their subject: ``formats`` (dates, phones), ``views.wording``
(coverage, services, prices), ``views.listing_words`` (a listing's fields and values),
``views.location`` (lists of places), ``mapsvg`` (maps). This module names them for templates.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Callable
from urllib.parse import quote

from flask import Flask, current_app
from flask_babel import format_date
from flask_babel import gettext as _

from . import formats, mapsvg, vocab, vocab_words
from .views import listing_words, wording
from .views.location import or_list
from .web import link_to

LICENSE_URLS = {
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "ODbL-1.0": "https://opendatacommons.org/licenses/odbl/1-0/",
    "PDDL-1.0": "https://opendatacommons.org/licenses/pddl/1-0/",
}


def data_license() -> dict[str, str | None]:
    licence = current_app.config.get("DATA_LICENSE") or "CC-BY-4.0"
    return {"id": licence, "url": LICENSE_URLS.get(licence),
            "attribution": current_app.config.get("DATA_ATTRIBUTION")}


def date_text(value: date | datetime | str | None) -> str:
    """A date as the reader's locale writes it ("Dec 6, 2026", "6 dic 2026"); an ISO text is read first."""
    if value is None:
        return _("date unknown")
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    return format_date(value, "medium")


def iso_date(value: Any) -> str:
    """``2025-01-31`` for a date or datetime, "" for None; any other value (a date a draft holds as
    text) as it is."""
    if isinstance(value, date):
        return formats.iso_date(value) or ""
    return "" if value is None else str(value)


def phone_text(e164: str | None) -> str:
    return formats.national_phone(e164) or ""


def is_web_url(value: str | None) -> bool:
    """Only http(s) links become href; anything else is shown as text."""
    return bool(value) and value.lower().startswith(("https://", "http://"))


def url_quote(value: str) -> str:
    return quote(value or "", safe="")


def self_pay_range(clinic) -> dict | None:
    """The lowest and highest listed self-pay price across the clinic's services."""
    lows = [p.min_usd for p in clinic.prices if p.min_usd is not None]
    highs = [p.max_usd for p in clinic.prices if p.max_usd is not None]
    if not lows and not highs:
        return None
    low = min(lows) if lows else min(highs)
    high = max(highs) if highs else max(lows)
    return {"min_usd": low, "max_usd": high}


def listed_carriers(clinic) -> list[str]:
    """Carrier labels a listing names for any service it offers, in vocabulary order."""
    offered = set(clinic.services)
    slugs = vocab.CARRIERS.ordered(row.carrier for row in clinic.insurance if row.service in offered)
    return [vocab_words.label(vocab.CARRIERS, s) for s in slugs]


def service_slugs() -> tuple[str, ...]:
    return vocab.SERVICES.slugs


def results_map_picture(page, tile_url: str | None = None):
    """The results map, its searched place named in the reader's language (a state's name translated)."""
    location = getattr(page, "location", None)
    return mapsvg.for_results(page, tile_url, centre_label=vocab_words.place(location) if location else None)


def carrier_note_text(note) -> str:
    """A carrier note's text through the translation catalogue (the notes are data, keyed by their English text)."""
    return note.translated(vocab_words.text)


FILTERS: dict[str, Callable] = {
    "date_text": date_text, "iso_date": iso_date, "phone_text": phone_text, "tel_href": formats.tel_href,
    "url_quote": url_quote, "or_list": or_list,
    "field_label": listing_words.field_label, "listing_value": listing_words.listing_value,
    "report_reason": listing_words.report_reason,
}
TESTS: dict[str, Callable] = {"web_url": is_web_url}
GLOBALS: dict[str, Callable] = {
    "link_to": link_to, "data_license": data_license,
    "self_pay_range": self_pay_range, "listed_carriers": listed_carriers,
    "results_map_picture": results_map_picture, "clinic_map_picture": mapsvg.for_clinic,
    # the coverage macros (templates/_macros/coverage.html)
    "coverage_service_label": wording.service_label, "coverage_carrier_label": wording.carrier_label,
    "coverage_plan_types_label": wording.plan_types_label, "coverage_network_label": wording.network_label,
    "coverage_price": wording.price_text, "coverage_payment_label": wording.payment_label,
    "coverage_fact_stale": wording.fact_stale, "coverage_iso_date": iso_date,
    "vocab_service_slugs": service_slugs, "carrier_note_text": carrier_note_text,
    "place_label": vocab_words.place,
}


def register(app: Flask) -> None:
    for name, function in FILTERS.items():
        app.add_template_filter(function, name)
    for name, function in TESTS.items():
        app.add_template_test(function, name)
    for name, function in GLOBALS.items():
        app.add_template_global(function, name)

    @app.context_processor
    def _every_page() -> dict[str, Any]:
        return {"vocab": vocab_words.SHOWN, "config_tile_url": app.config.get("TILE_URL")}
