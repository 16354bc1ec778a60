"""The patient-facing pages: home, search results, one clinic, the explainers and About.

Views are thin: the search page parses the query with the same ``parse_criteria`` the API uses,
calls ``search`` once and renders; a core error becomes a message next to the field it names.
"""
from __future__ import annotations

from datetime import time
from urllib.parse import urlencode

from babel.dates import get_timezone_name
from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_babel import format_time, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import MultiDict

from .. import geo
from ..errors import InvalidParameter, KapfinderError
from ..extensions import db
from ..forms.search import MAX_RADIUS, RADIUS_CHOICES, SearchForm
from ..messages import error_message
from ..models import Clinic, utcnow
from ..search import parse_criteria, search
from . import results
from .location import location_links

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
    form = SearchForm(_display_args())
    args = request.args.to_dict(flat=False)
    try:
        criteria = parse_criteria(args, api=False)
        if not criteria.has_location:
            return _ask_where(form, args)
        page = search(db.session, criteria, cache=current_app.extensions.get("kapfinder_cache"),
                      use_index=current_app.config.get("SEARCH_INDEX", True))
    except KapfinderError as err:
        errors = [err, *_further_errors(args, err)]
        if not _location_given(args) and not any(e.field == "location" for e in errors):
            errors.append(InvalidParameter("location", "location_needed"))
        return _search_form_errors(form, errors)
    return render_template("directory/search.html", form=form, page=page, general_errors=[], location_choices=[],
                           title=_search_title(page), heading=results.heading(page), shows_sample=page.has_sample,
                           chips=results.filter_chips(page.criteria, _criteria_url),
                           pages=results.pagination(page, _criteria_url), wider=_wider_radius(page), now=utcnow())


def _location_given(args: dict[str, list[str]]) -> bool:
    return any(value.strip() for value in args.get("location") or [])


def _ask_where(form: SearchForm, args: dict[str, list[str]]):
    """No place given: ask for one, keeping the other choices, rather than list every clinic A–Z.

    A form sent with the location left empty is a form error (400); a link without one (a bare
    /search, "Find clinics offering IV" on /learn/methods) is a page that asks (200)."""
    needed = InvalidParameter("location", "location_needed")
    if "location" in args:
        return _search_form_errors(form, [needed])
    return render_template("directory/search.html", form=form, page=None, general_errors=[], location_choices=[],
                           location_prompt=error_message(needed), title=_("Find KAP clinics near you"))


def _further_errors(args: dict[str, list[str]], first: KapfinderError) -> list[KapfinderError]:
    """The other bad parameters too, so the patient can fix everything in one go."""
    found: list[KapfinderError] = []
    args = dict(args)
    err = first
    for _attempt in range(len(args) + 1):
        if not err.field or err.field not in args:
            return found
        args.pop(err.field)
        try:
            criteria = parse_criteria(args, api=False)
        except KapfinderError as next_err:
            err = next_err
            # "choose a carrier first" only echoes the carrier's own error.
            if not (err.reason == "requires_insurance" and any(e.field == "insurance" for e in [first, *found])):
                found.append(err)
            continue
        if criteria.location and not any(e.field == "location" for e in [first, *found]):
            try:
                geo.resolve_location(db.session, criteria.location)
            except KapfinderError as loc_err:
                found.append(loc_err)
        return found
    return found


def _search_form_errors(form: SearchForm, errors: list[KapfinderError]):
    general: list[str] = []
    links = {"location_choices": [], "location_suggestions": []}
    for err in errors:
        message = error_message(err)
        field = form.field_named(err.field)
        if field is None:
            general.append(message)
            continue
        field.errors = [*field.errors, message]
        if err.reason == "too_long" and field.type == "StringField":
            field.data = ""  # not worth echoing 10,000 characters back
        if field.name == "radius":
            field.data = field.default  # a select cannot show the bad value; keep the usual one chosen
        if field.name == "location":
            links = location_links(err, url_for("directory.search"), request.args.items(multi=True))
    return render_template("directory/search.html", form=form, page=None, general_errors=general,
                           **links, title=_("Check your search")), 400


@bp.get("/clinics/<slug>")
def clinic(slug: str):
    found = db.session.scalar(
        select(Clinic).where(Clinic.slug == slug, Clinic.status == "published").options(
            selectinload(Clinic.insurance), selectinload(Clinic.prices), selectinload(Clinic.at_home_state_rows)))
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

def _display_args() -> MultiDict:
    """The query as the form re-shows it: without control characters (a NUL byte is never echoed)."""
    return MultiDict([(k, "".join(ch for ch in v if ord(ch) >= 32 and ord(ch) != 127))
                      for k, v in request.args.items(multi=True)])


def _search_url(pairs) -> str:
    query = urlencode(list(pairs))
    return url_for("directory.search") + ("?" + query if query else "")


def _search_title(page) -> str:
    loc = page.location
    if loc is None:
        return _("All clinics")
    if loc.kind == "state":
        return _("KAP clinics in %(place)s", place=loc.label)
    return _("KAP clinics near %(place)s", place=loc.label)


def _criteria_url(criteria) -> str:
    return _search_url(criteria.to_args(page=criteria.page))


def _wider_radius(page) -> dict | None:
    """The next radius up, for a search with a point that found too little."""
    loc = page.location
    if loc is None or not loc.has_point:
        return None
    radius = page.criteria.radius
    bigger = [r for r in (*RADIUS_CHOICES, MAX_RADIUS) if r > radius]
    if not bigger:
        return None
    return {"radius": bigger[0], "href": _search_url(page.criteria.to_args(radius=bigger[0]))}


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
