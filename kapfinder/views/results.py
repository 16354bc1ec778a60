"""What a page of search results says around its cards, shared by /search and the insurance pages:
the heading that says what was matched, the chosen filters (each removable) and the page links.

``link`` arguments turn criteria into the URL of the same page for them, so each page keeps its own
address and parameters.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterable

from flask_babel import gettext as _
from flask_babel import ngettext

from .. import vocab
from ..search import SearchCriteria, SearchPage
from . import wording

Link = Callable[[SearchCriteria], str]


def heading(page: SearchPage) -> str:
    """'6 clinics near New York, NY take Aetna for IV ketamine': the count, where, and what matched."""
    c, n, loc = page.criteria, page.total, page.location
    place = loc.label if loc else None
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
        chip(vocab.METHODS.label(method), methods=tuple(m for m in criteria.methods if m != method))
    if criteria.insurance and "insurance" not in fixed:
        chip(_("Insurance: %(carrier)s", carrier=vocab.CARRIERS.label(criteria.insurance)),
             insurance=None, plan_type=None, service=None)
    if criteria.plan_type:
        chip(_("Plan type: %(plan_type)s", plan_type=vocab.PLAN_TYPES.label(criteria.plan_type)), plan_type=None)
    if criteria.service:
        chip(_("Covered service: %(service)s", service=vocab.SERVICES.label(criteria.service)), service=None)
    for condition in criteria.conditions:
        chip(vocab.CONDITIONS.label(condition), conditions=tuple(x for x in criteria.conditions if x != condition))
    if criteria.setting:
        chip(vocab.SETTINGS.label(criteria.setting), setting=None)
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
