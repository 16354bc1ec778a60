"""The insurance blueprint: the lookup at /insurance, one page per carrier, and the wording
helpers the coverage macros (templates/_macros/coverage.html) use on every page."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
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
    context.update(page=page, shows_sample=page.has_sample, now=utcnow(), plan_label=label,
                   pages=_pagination(page, url_for("insurance.lookup"), drop=()),
                   title=_("Clinics that take %(plan)s", plan=label))
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
    context.update(page=page, shows_sample=page.has_sample, now=utcnow(),
                   pages=_pagination(page, here, drop=("insurance",)))
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


def _pagination(page, base: str, drop) -> dict | None:
    if page.pages <= 1 and page.page <= 1:
        return None

    def link(n: int) -> str:
        pairs = [(k, v) for k, v in page.criteria.to_args(page=n) if k not in drop]
        return base + ("?" + urlencode(pairs) if pairs else "")

    numbers = sorted({1, page.pages, *range(max(1, page.page - 2), min(page.pages, page.page + 2) + 1)})
    return {
        "previous": link(min(page.page - 1, page.pages)) if page.page > 1 and page.pages else None,
        "next": link(page.page + 1) if page.page < page.pages else None,
        "numbers": [(n, link(n)) for n in numbers if n >= 1],
    }


def _carrier_links() -> list[dict]:
    notes = all_notes()
    return [{"slug": slug, "label": vocab.CARRIERS.label(slug), "href": url_for("insurance.carrier", carrier=slug),
             "as_of": notes[slug].as_of if slug in notes else None} for slug in vocab.CARRIERS.slugs]


# --- wording helpers every template may use (the coverage macros call them) --------------------

#: Insurance facts (and prices) not re-confirmed within this long are labelled "not confirmed recently".
FACT_FRESH_FOR = timedelta(days=90)

SERVICE_LABELS = {
    "esketamine": _l("Spravato"),
    "ketamine": _l("Ketamine"),
    "psychotherapy": _l("Psychotherapy"),
    "evaluation": _l("Evaluation"),
}
# Short method names for "IV/IM ketamine".
RACEMIC_SHORT = {"iv": _l("IV"), "im": _l("IM"), "oral": _l("oral"), "ketamine-nasal": _l("nasal")}
PAYMENT_LABELS = {
    "sliding_scale": _l("Sliding-scale fees"),
    "financing": _l("Payment plans or financing"),
    "superbill": _l("Superbill for out-of-network reimbursement"),
    "hsa_fsa": _l("HSA/FSA cards accepted"),
}


@bp.app_template_global("coverage_service_label")
def service_label(clinic, service: str) -> str:
    """A service as a patient reads it; ketamine is named by the clinic's racemic methods."""
    if service == "ketamine" and clinic is not None:
        methods = [str(RACEMIC_SHORT[m]) for m in clinic.methods if m in RACEMIC_SHORT]
        if methods:
            return _("%(methods)s ketamine", methods="/".join(methods))
    return str(SERVICE_LABELS.get(service, service))


@bp.app_template_global("coverage_carrier_label")
def carrier_label(carrier: str | None, plan_type: str | None = None, plan_types=()) -> str:
    """'Aetna PPO' for a requested plan type; 'Aetna (PPO, POS plans)' for a row's own plan types."""
    if not carrier:
        return _("your plan")
    name = vocab.CARRIERS.label(carrier) if carrier in vocab.CARRIERS else carrier
    if plan_type and plan_type in vocab.PLAN_TYPES:
        return _("%(carrier)s %(plan_type)s", carrier=name, plan_type=vocab.PLAN_TYPES.label(plan_type))
    if plan_types:
        return _("%(carrier)s (%(plan_types)s plans)", carrier=name, plan_types=plan_types_label(plan_types))
    return name


@bp.app_template_global("coverage_plan_types_label")
def plan_types_label(plan_types) -> str:
    if not plan_types:
        return _("all plan types")
    return ", ".join(vocab.PLAN_TYPES.label(p) for p in plan_types if p in vocab.PLAN_TYPES)


@bp.app_template_global("coverage_network_label")
def network_label(network: str | None) -> str:
    return {"in-network": _("in network"), "out-of-network": _("out of network")}.get(network or "", _("self-pay"))


@bp.app_template_global("coverage_price")
def price_text(min_usd: int | None, max_usd: int | None) -> str:
    """'$450–$600', '$450' when min = max, 'price not listed' when unknown."""
    if min_usd is None and max_usd is None:
        return _("price not listed")
    if min_usd is None or max_usd is None or min_usd == max_usd:
        return _("$%(amount)s", amount=f"{(min_usd if min_usd is not None else max_usd):,}")
    return _("$%(low)s–$%(high)s", low=f"{min_usd:,}", high=f"{max_usd:,}")


@bp.app_template_global("coverage_payment_label")
def payment_label(slug: str) -> str:
    return str(PAYMENT_LABELS.get(slug, slug))


@bp.app_template_global("coverage_fact_stale")
def fact_stale(as_of, today: date | None = None) -> bool:
    """True when a fact's as-of date is missing or older than 90 days."""
    if as_of is None:
        return True
    if isinstance(as_of, str):
        as_of = date.fromisoformat(as_of)
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    return as_of < (today or date.today()) - FACT_FRESH_FOR


@bp.app_template_global("coverage_iso_date")
def iso_date(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    return value.isoformat() if isinstance(value, date) else str(value)


@bp.app_template_global("vocab_service_slugs")
def service_slugs() -> tuple[str, ...]:
    return vocab.SERVICES.slugs


@bp.app_template_global("carrier_note_text")
def carrier_note_text(note) -> str:
    """A carrier note's text through the translation catalogue (the notes are data, keyed by their English text)."""
    return _(note.text)
