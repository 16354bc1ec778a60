"""The insurance blueprint: the lookup at /insurance and one page per carrier."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from .. import vocab, vocab_words
from ..carrier_notes import all_notes, notes_for
from ..forms.insurance import (CARRIER_PARAMETERS, LOOKUP_PARAMETERS, CarrierClinicsForm,
                               InsuranceLookupForm)
from . import results

bp = Blueprint("insurance", __name__, url_prefix="/insurance")


# --- pages ------------------------------------------------------------------------------------

@bp.get("", endpoint="lookup")
def lookup():
    """The lookup: with a carrier, the search results with a coverage answer on every clinic."""
    args = _picked(LOOKUP_PARAMETERS)
    form = InsuranceLookupForm(results.display_args(args.items(multi=True)))
    given = {name for name, value in args.items(multi=True) if value.strip() and name != "radius"}
    context = {"form": form, "carriers": _carrier_links(), "page": None, "general_errors": [],
               "location_choices": [], "location_suggestions": [], "title": _("Insurance lookup")}
    if not given:
        return render_template("insurance/lookup.html", **context)
    # Without a place: a page that asks when the link carried no location (200), rather than list
    # the carrier's clinics nationwide; a form error when the form was sent without one (400).
    outcome = results.run(args.to_dict(flat=False), sent="location" in args, carrier_required=True)
    here = url_for("insurance.lookup")
    if outcome.errors:
        context.update(results.form_errors(form, outcome.errors, here, args.items(multi=True)))
        return render_template("insurance/lookup.html", **context), 400
    if outcome.page is None:
        return render_template("insurance/lookup.html", **context, location_prompt=results.location_prompt())
    page = outcome.page
    criteria = page.criteria
    label = vocab_words.label(vocab.CARRIERS, criteria.insurance)
    if criteria.plan_type:
        label = _("%(carrier)s %(plan_type)s", carrier=label, plan_type=vocab_words.label(vocab.PLAN_TYPES, criteria.plan_type))
    context.update(results.page_context(page, results.linker(here)), plan_label=label,
                   title=_("Clinics that take %(plan)s", plan=label))
    return render_template("insurance/lookup.html", **context)


@bp.get("/<carrier>", endpoint="carrier")
def carrier(carrier: str):
    """What a carrier typically covers for KAP, then clinics in its network near a location."""
    if carrier not in vocab.CARRIERS:
        abort(404)
    args = _picked(CARRIER_PARAMETERS)
    form = CarrierClinicsForm(results.display_args(args.items(multi=True)))
    here = url_for("insurance.carrier", carrier=carrier)
    context = {"form": form, "carrier": carrier, "carrier_label": vocab_words.label(vocab.CARRIERS, carrier),
               "notes": notes_for(carrier), "page": None, "general_errors": [], "location_choices": [],
               "location_suggestions": [], "action": here, "title": _("%(carrier)s: what it usually covers for KAP",
                                          carrier=vocab_words.label(vocab.CARRIERS, carrier))}
    # Without a place the page shows the notes alone; a plan type or a page number asked for
    # clinics, so then the place is a form error.
    sent = any((args.get(name) or "").strip() for name in ("plan_type", "page"))
    outcome = results.run({"insurance": [carrier], **args.to_dict(flat=False)}, sent=sent)
    if outcome.errors:
        context.update(results.form_errors(form, outcome.errors, here, args.items(multi=True)))
        return render_template("insurance/carrier.html", **context), 400
    if outcome.page is not None:
        context.update(results.page_context(outcome.page, results.linker(here, drop=("insurance",)),
                                            fixed=("insurance",)))
    return render_template("insurance/carrier.html", **context)


# --- helpers the views use --------------------------------------------------------------------

def _picked(names) -> MultiDict:
    """Only the parameters this page reads, every value kept (a repeated one is the parser's to refuse)."""
    return MultiDict([(k, v) for k, v in request.args.items(multi=True) if k in names])


def _carrier_links() -> list[dict]:
    notes = all_notes()
    return [{"slug": slug, "label": vocab_words.label(vocab.CARRIERS, slug), "href": url_for("insurance.carrier", carrier=slug),
             "as_of": notes[slug].as_of if slug in notes else None} for slug in vocab.CARRIERS.slugs]
