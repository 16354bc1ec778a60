"""The insurance blueprint: the lookup at /insurance and one page per carrier."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from .. import vocab
from ..carrier_notes import all_notes, notes_for
from ..errors import InvalidParameter, KapfinderError
from ..extensions import db
from ..forms.insurance import (CARRIER_PARAMETERS, LOOKUP_PARAMETERS, CarrierClinicsForm,
                               InsuranceLookupForm)
from ..messages import error_message
from ..models import utcnow
from ..search import parse_criteria, search
from . import results
from .location import location_links

bp = Blueprint("insurance", __name__, url_prefix="/insurance")


# --- pages ------------------------------------------------------------------------------------

@bp.get("", endpoint="lookup")
def lookup():
    """The lookup: with a carrier, the search results with a coverage answer on every clinic."""
    args = _picked(LOOKUP_PARAMETERS)
    form = InsuranceLookupForm(_display(args))
    given = {name for name, value in args.items(multi=True) if value.strip() and name != "radius"}
    context = {"form": form, "carriers": _carrier_links(), "page": None, "general_errors": [],
               "location_choices": [], "location_suggestions": [], "title": _("Insurance lookup")}
    if not given:
        return render_template("insurance/lookup.html", **context)
    try:
        criteria = parse_criteria(args.to_dict(flat=False), api=False)
        if criteria.insurance is None:
            raise InvalidParameter("insurance", "required")
        if not criteria.has_location:
            # Ask where rather than list the carrier's clinics nationwide: a page that asks when the
            # link carried no location (200), a form error when the form was sent without one (400).
            needed = InvalidParameter("location", "location_needed")
            if "location" in args:
                raise needed
            context["location_prompt"] = error_message(needed)
            return render_template("insurance/lookup.html", **context)
        page = search(db.session, criteria, cache=current_app.extensions.get("kapfinder_cache"),
                      use_index=current_app.config.get("SEARCH_INDEX", True))
    except KapfinderError as err:
        return _form_error(err, form, context, "insurance/lookup.html", url_for("insurance.lookup"), args)
    label = vocab.CARRIERS.label(criteria.insurance)
    if criteria.plan_type:
        label = _("%(carrier)s %(plan_type)s", carrier=label, plan_type=vocab.PLAN_TYPES.label(criteria.plan_type))
    link = _linker(url_for("insurance.lookup"), drop=())
    context.update(page=page, shows_sample=page.has_sample, now=utcnow(), plan_label=label,
                   heading=results.heading(page), chips=results.filter_chips(page.criteria, link),
                   pages=results.pagination(page, link), title=_("Clinics that take %(plan)s", plan=label))
    return render_template("insurance/lookup.html", **context)


@bp.get("/<carrier>", endpoint="carrier")
def carrier(carrier: str):
    """What a carrier typically covers for KAP, then clinics in its network near a location."""
    if carrier not in vocab.CARRIERS:
        abort(404)
    args = _picked(CARRIER_PARAMETERS)
    form = CarrierClinicsForm(_display(args))
    here = url_for("insurance.carrier", carrier=carrier)
    context = {"form": form, "carrier": carrier, "carrier_label": vocab.CARRIERS.label(carrier),
               "notes": notes_for(carrier), "page": None, "general_errors": [], "location_choices": [],
               "location_suggestions": [], "action": here, "title": _("%(carrier)s: what it usually covers for KAP",
                                          carrier=vocab.CARRIERS.label(carrier))}
    if not (args.get("location") or "").strip():
        if (args.get("plan_type") or "").strip() or (args.get("page") or "").strip():
            form.location.errors = [error_message(InvalidParameter("location", "location_needed"))]
            return render_template("insurance/carrier.html", **context), 400
        return render_template("insurance/carrier.html", **context)
    try:
        criteria = parse_criteria({"insurance": [carrier], **args.to_dict(flat=False)}, api=False)
        page = search(db.session, criteria, cache=current_app.extensions.get("kapfinder_cache"),
                      use_index=current_app.config.get("SEARCH_INDEX", True))
    except KapfinderError as err:
        return _form_error(err, form, context, "insurance/carrier.html", here, args)
    link = _linker(here, drop=("insurance",))
    context.update(page=page, shows_sample=page.has_sample, now=utcnow(), heading=results.heading(page),
                   chips=results.filter_chips(page.criteria, link, fixed=("insurance",)),
                   pages=results.pagination(page, link))
    return render_template("insurance/carrier.html", **context)


# --- helpers the views use --------------------------------------------------------------------

def _picked(names) -> MultiDict:
    """Only the parameters this page reads, every value kept (a repeated one is the parser's to refuse)."""
    return MultiDict([(k, v) for k, v in request.args.items(multi=True) if k in names])


def _display(args: MultiDict) -> MultiDict:
    """The values as the form re-shows them: no control characters, nothing absurdly long."""
    return MultiDict([(k, "".join(ch for ch in v if ord(ch) >= 32 and ord(ch) != 127)[:200])
                      for k, v in args.items(multi=True)])


def _form_error(err: KapfinderError, form, context: dict, template: str, base: str, args: MultiDict):
    message = error_message(err)
    field = form.field_named(err.field)
    if field is not None:
        field.errors = [message]
    else:
        context["general_errors"] = [message]
    if err.field == "location":
        context.update(location_links(err, base, args.items(multi=True)))
    return render_template(template, **context), 400


def _linker(base: str, drop):
    """Criteria → the URL of this page for them (parameters in ``drop`` live in the path)."""
    def link(criteria) -> str:
        pairs = [(k, v) for k, v in criteria.to_args(page=criteria.page) if k not in drop]
        return base + ("?" + urlencode(pairs) if pairs else "")
    return link


def _carrier_links() -> list[dict]:
    notes = all_notes()
    return [{"slug": slug, "label": vocab.CARRIERS.label(slug), "href": url_for("insurance.carrier", carrier=slug),
             "as_of": notes[slug].as_of if slug in notes else None} for slug in vocab.CARRIERS.slugs]
