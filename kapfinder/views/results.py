"""The search pages' common part, shared by /search, /insurance and /insurance/<carrier>: running
the search of a request (``run``), every bad field shown next to it (``form_errors``), and what a page
of results says around its cards (``page_context``): the heading that says what was matched, the
chosen filters (each removable) and the page links.

``link`` arguments turn criteria into the URL of the same page for them (``linker``), so each page
keeps its own address and parameters.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable
from urllib.parse import urlencode

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.datastructures import MultiDict

from .. import vocab, vocab_words
from ..errors import InvalidParameter, KapfinderError
from ..extensions import db
from ..messages import error_message
from ..models import utcnow
from ..search import InvalidCriteria, SearchCriteria, SearchPage, parse_criteria, search
from ..search.criteria import MAX_VALUE_LENGTH
from ..search.plan import resolve
from . import wording
from .location import location_links

Link = Callable[[SearchCriteria], str]


# --- running the search of a request -----------------------------------------------------------

@dataclass
class Outcome:
    """What a results page's request came to: a page of results, the errors to show next to the
    fields, or neither (no place given: the page asks where)."""

    page: SearchPage | None = None
    errors: list[KapfinderError] = field(default_factory=list)


def run(args: dict[str, list[str]], *, sent: bool, carrier_required: bool = False) -> Outcome:
    """Parse and run the search of a results page, with every bad field reported at once.

    Without a place the page asks where; when ``sent`` (the form came back without one) that is a
    field error instead. ``carrier_required``: a lookup needs a carrier (/insurance).
    """
    errors: list[KapfinderError] = []
    try:
        criteria = parse_criteria(args, api=False)
    except InvalidCriteria as invalid:
        criteria, errors = invalid.valid, list(invalid.errors)
    if carrier_required and criteria.insurance is None and not any(
            e.field == "insurance" or e.reason == "requires_insurance" for e in errors):
        errors.append(InvalidParameter("insurance", "required"))
    if errors:
        return Outcome(errors=errors + _place_errors(criteria, errors))
    if not criteria.has_location:
        return Outcome(errors=[_location_needed()] if sent else [])
    try:
        return Outcome(page=search(db.session, criteria, cache=current_app.extensions.get("kapfinder_cache"),
                                   use_index=current_app.config.get("SEARCH_INDEX", True)))
    except KapfinderError as err:
        return Outcome(errors=[err])


def _location_needed() -> InvalidParameter:
    return InvalidParameter("location", "location_needed")


def _place_errors(criteria: SearchCriteria, errors: list[KapfinderError]) -> list[KapfinderError]:
    """With other fields wrong, what is wrong with the place too, so all is fixed in one go."""
    if any(e.field == "location" for e in errors):
        return []
    if not criteria.location:
        return [_location_needed()]
    try:
        resolve(db.session, criteria, cache=current_app.extensions.get("kapfinder_cache"))
    except KapfinderError as err:
        return [err]
    return []


def location_prompt() -> str:
    """What the location field asks when no place was given yet."""
    return error_message(_location_needed())


# --- showing it -------------------------------------------------------------------------------

def display_args(pairs: Iterable[tuple[str, str]]) -> MultiDict:
    """The query as a form re-shows it: no control characters (a NUL byte is never echoed), nothing
    absurdly long."""
    return MultiDict([(k, "".join(ch for ch in v if ord(ch) >= 32 and ord(ch) != 127)[:MAX_VALUE_LENGTH])
                      for k, v in pairs])


def form_errors(form, errors: list[KapfinderError], base: str, pairs) -> dict[str, Any]:
    """Each error next to the field it names (``form.field_named``), or above the form; with the
    place's choices or suggestions as links to ``base`` that keep the other parameters (``pairs``)."""
    general: list[str] = []
    links: dict[str, list] = {"location_choices": [], "location_suggestions": []}
    for err in errors:
        message = error_message(err)
        field_ = form.field_named(err.field)
        if field_ is None:
            general.append(message)
            continue
        field_.errors = [*field_.errors, message]
        if err.reason == "too_long" and field_.type == "StringField":
            field_.data = ""  # not worth echoing 10,000 characters back
        if field_.name == "radius":
            field_.data = field_.default  # a select cannot show the bad value; keep the usual one chosen
        if field_.name == "location":
            links = location_links(err, base, pairs)
    return {"general_errors": general, **links}


def linker(base: str, drop: Iterable[str] = ()) -> Link:
    """Criteria → the URL of the page at ``base`` for them (parameters in ``drop`` live in the path)."""
    drop = set(drop)

    def link(criteria: SearchCriteria) -> str:
        pairs = [(k, v) for k, v in criteria.to_args(page=criteria.page) if k not in drop]
        return base + ("?" + urlencode(pairs) if pairs else "")
    return link


def page_context(page: SearchPage, link: Link, fixed: Iterable[str] = ()) -> dict[str, Any]:
    """What a template needs to show a page of results around its cards."""
    return {"page": page, "general_errors": [], "location_choices": [], "location_suggestions": [],
            "heading": heading(page), "chips": filter_chips(page.criteria, link, fixed=fixed),
            "pages": pagination(page, link), "shows_sample": page.has_sample, "now": utcnow()}


# --- around the cards -------------------------------------------------------------------------


def heading(page: SearchPage) -> str:
    """'6 clinics near New York, NY take Aetna for IV ketamine': the count, where, and what matched."""
    c, n, loc = page.criteria, page.total, page.location
    place = vocab_words.place(loc) if loc else None
    if n == 0:
        subject = (_("No clinics in %(place)s", place=place) if loc and loc.kind == "state"
                   else _("No clinics near %(place)s", place=place) if loc else _("No clinics"))
        n = 2  # the verb agrees with "no clinics"
    elif loc and loc.kind == "state":
        subject = ngettext("%(num)d clinic in %(place)s", "%(num)d clinics in %(place)s", n, place=place)
    elif loc:
        subject = ngettext("%(num)d clinic near %(place)s", "%(num)d clinics near %(place)s", n, place=place)
    else:
        subject = ngettext("%(num)d clinic", "%(num)d clinics", n)
    what = wording.treatment_phrase(c.service, c.methods)
    if c.insurance:
        plan = wording.carrier_label(c.insurance, c.plan_type)
        predicate = (ngettext("takes %(plan)s for %(what)s", "take %(plan)s for %(what)s", n, plan=plan, what=what)
                     if what else ngettext("takes %(plan)s", "take %(plan)s", n, plan=plan))
    elif what:
        predicate = ngettext("offers %(what)s", "offer %(what)s", n, what=what)
    else:
        return subject
    return _("%(subject)s %(predicate)s", subject=subject, predicate=predicate)


def filter_chips(criteria: SearchCriteria, link: Link, fixed: Iterable[str] = ()) -> list[dict[str, str]]:
    """The patient's choices, each with the link that drops it (``fixed`` parameters are left out:
    e.g. the carrier of /insurance/<carrier>, which is in the path)."""
    fixed = set(fixed)
    chips: list[dict[str, str]] = []

    def chip(label: str, **changes) -> None:
        chips.append({"label": label, "href": link(replace(criteria, page=1, **changes))})

    for method in criteria.methods:
        chip(vocab_words.label(vocab.METHODS, method), methods=tuple(m for m in criteria.methods if m != method))
    if criteria.insurance and "insurance" not in fixed:
        chip(_("Insurance: %(carrier)s", carrier=vocab_words.label(vocab.CARRIERS, criteria.insurance)),
             insurance=None, plan_type=None, service=None)
    if criteria.plan_type:
        chip(_("Plan type: %(plan_type)s", plan_type=vocab_words.label(vocab.PLAN_TYPES, criteria.plan_type)), plan_type=None)
    if criteria.service:
        chip(_("Covered service: %(service)s", service=vocab_words.label(vocab.SERVICES, criteria.service)), service=None)
    for condition in criteria.conditions:
        chip(vocab_words.label(vocab.CONDITIONS, condition), conditions=tuple(x for x in criteria.conditions if x != condition))
    for language in criteria.languages:
        chip(_("Language: %(language)s", language=vocab_words.label(vocab.LANGUAGES, language)),
             languages=tuple(x for x in criteria.languages if x != language))
    if criteria.setting:
        chip(vocab_words.label(vocab.SETTINGS, criteria.setting), setting=None)
    if criteria.accepting:
        chip(_("Accepting new patients"), accepting=False)
    return chips


def pagination(page: SearchPage, link: Link) -> dict | None:
    """Previous / numbered / next links that keep every parameter of the search."""
    if page.pages <= 1 and page.page <= 1:
        return None

    def to(number: int) -> str:
        return link(replace(page.criteria, page=number))

    numbers = sorted({1, page.pages, *range(max(1, page.page - 2), min(page.pages, page.page + 2) + 1)})
    return {
        "previous": to(min(page.page - 1, page.pages)) if page.page > 1 and page.pages else None,
        "next": to(page.page + 1) if page.page < page.pages else None,
        "numbers": [(n, to(n)) for n in numbers if n >= 1],
    }
