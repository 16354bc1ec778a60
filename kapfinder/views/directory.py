"""The patient-facing pages: home, search results, one clinic, the explainers and About.

Views are thin: the search page runs its search through ``results`` (the same ``parse_criteria`` the
API uses, ``search`` once) and renders; a core error becomes a message next to the field it names.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import time

from babel.dates import get_timezone_name
from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import format_time, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import listings, vocab_words
from ..extensions import db
from ..forms.search import MAX_RADIUS, RADIUS_CHOICES, SearchForm
from ..models import Clinic, utcnow
from . import results

bp = Blueprint("directory", __name__)

LEARN_TOPICS = {
    "methods": ("learn/methods.html", _l("Ketamine treatment methods")),
    "vetting": ("learn/vetting.html", _l("How to check a clinic")),
    "insurance": ("learn/insurance.html", _l("What insurance usually covers")),
}
DAY_NAMES = {
    "mo": _l("Monday"), "tu": _l("Tuesday"), "we": _l("Wednesday"), "th": _l("Thursday"),
    "fr": _l("Friday"), "sa": _l("Saturday"), "su": _l("Sunday"),
}


# --- pages ------------------------------------------------------------------------------------

@bp.get("/")
def home():
    return render_template("directory/home.html", form=SearchForm())


@bp.get("/search", endpoint="search")
def search_page():
    form = SearchForm(results.display_args(request.args.items(multi=True)))
    args = request.args.to_dict(flat=False)
    # No place: a link without one (a bare /search, "Find clinics offering IV" on /learn/methods)
    # is a page that asks (200); a form sent with the location left empty is a form error (400).
    outcome = results.run(args, sent="location" in args)
    here = url_for("directory.search")
    if outcome.errors:
        shown = results.form_errors(form, outcome.errors, here, request.args.items(multi=True))
        return render_template("directory/search.html", form=form, page=None, title=_("Check your search"),
                               **shown), 400
    if outcome.page is None:
        return render_template("directory/search.html", form=form, page=None, general_errors=[], location_choices=[],
                               location_prompt=results.location_prompt(), title=_("Find KAP clinics near you"))
    page, link = outcome.page, results.linker(here)
    return render_template("directory/search.html", form=form, title=_search_title(page),
                           wider=_wider_radius(page, link), **results.page_context(page, link))


@bp.get("/clinics/<slug>")
def clinic(slug: str):
    found = listings.published_clinic(db.session, slug, details=True)
    if found is None:
        abort(404)
    return render_template("directory/clinic.html", clinic=found, shows_sample=found.sample, now=utcnow(),
                           hours=_hours(found), timezone_name=_timezone_name(found.timezone),
                           address=_address(found))


@bp.get("/learn/<topic>")
def learn(topic: str):
    if topic not in LEARN_TOPICS:
        abort(404)
    template, title = LEARN_TOPICS[topic]
    return render_template(template, title=title, topics=LEARN_TOPICS, topic=topic)


@bp.get("/about")
def about():
    return render_template("directory/about.html")


# --- helpers the views use --------------------------------------------------------------------

def _search_title(page) -> str:
    loc = page.location
    if loc is None:
        return _("All clinics")
    if loc.kind == "state":
        return _("KAP clinics in %(place)s", place=vocab_words.place(loc))
    return _("KAP clinics near %(place)s", place=vocab_words.place(loc))


def _wider_radius(page, link: results.Link) -> dict | None:
    """The next radius up, for a search with a point that found too little."""
    loc = page.location
    if loc is None or not loc.has_point:
        return None
    radius = page.criteria.radius
    bigger = [r for r in (*RADIUS_CHOICES, MAX_RADIUS) if r > radius]
    if not bigger:
        return None
    return {"radius": bigger[0], "href": link(replace(page.criteria, radius=bigger[0], page=1))}


def _hours(clinic: Clinic) -> list[dict]:
    rows = []
    for item in clinic.hours or []:
        day = item.get("day")
        if day not in DAY_NAMES:
            continue
        rows.append({"day": DAY_NAMES[day], "opens": _clock(item.get("opens")), "closes": _clock(item.get("closes")),
                     "order": list(DAY_NAMES).index(day)})
    return sorted(rows, key=lambda r: r["order"])


def _clock(value: str | None) -> str:
    try:
        hours, minutes = (int(part) for part in (value or "").split(":"))
        return format_time(time(hours, minutes), "short")
    except (ValueError, TypeError):
        return value or ""


def _timezone_name(zone: str | None) -> str | None:
    if not zone:
        return None
    try:
        return get_timezone_name(zone, width="long", locale=get_locale())
    except LookupError:
        return zone


def _address(clinic: Clinic) -> str:
    return ", ".join(part for part in (clinic.street, clinic.city, f"{clinic.state} {clinic.zip}".strip()) if part)
