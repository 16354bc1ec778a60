"""How insurance, services and prices read on a page: the words result cards, the clinic page and the
insurance pages share. Plain functions (translated through Flask-Babel); ``kapfinder.templating``
names them for templates (``coverage_*``)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Iterable

from flask_babel import format_number
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import vocab, vocab_words
from ..models import STALE_AFTER

SERVICE_LABELS = {
    "esketamine": _l("Spravato"),
    "ketamine": _l("Ketamine"),
    "psychotherapy": _l("Psychotherapy"),
    "evaluation": _l("Evaluation"),
}
#: A service inside a sentence ("… take Aetna for psychotherapy").
SERVICE_PHRASES = {
    "esketamine": _l("Spravato"),
    "ketamine": _l("ketamine treatment"),
    "psychotherapy": _l("psychotherapy"),
    "evaluation": _l("a psychiatric evaluation"),
}
# Short method names for "IV/IM ketamine".
RACEMIC_SHORT = {"iv": _l("IV"), "im": _l("IM"), "oral": _l("oral"), "ketamine-nasal": _l("nasal")}
PAYMENT_LABELS = {
    "sliding_scale": _l("Sliding-scale fees"),
    "financing": _l("Payment plans or financing"),
    "superbill": _l("Superbill for out-of-network reimbursement"),
    "hsa_fsa": _l("HSA/FSA cards accepted"),
}


def racemic_label(methods: Iterable[str]) -> str | None:
    """'IV/IM ketamine' for these methods' racemic ones, or None when there are none."""
    short = [str(RACEMIC_SHORT[m]) for m in vocab.METHODS.ordered(methods) if m in RACEMIC_SHORT]
    return _("%(methods)s ketamine", methods="/".join(short)) if short else None


def service_label(clinic, service: str, methods: Iterable[str] | None = None) -> str:
    """A service as a patient reads it; ketamine is named by the clinic's racemic methods, or by
    ``methods`` (those the patient chose that the clinic lists) when given."""
    if service == "ketamine" and clinic is not None:
        listed = clinic.methods
        chosen = [m for m in (methods or ()) if m in listed]
        label = racemic_label(chosen or listed)
        if label:
            return label
    return str(SERVICE_LABELS.get(service, service))


def treatment_phrase(service: str | None, methods: Iterable[str]) -> str | None:
    """What the patient asked about, inside a sentence: 'IV ketamine', 'Spravato or IV/IM ketamine',
    'psychotherapy'; None when they named neither a service nor a method."""
    if service:
        return str(SERVICE_PHRASES[service])
    methods = list(methods)
    parts = []
    if "esketamine-nasal" in methods:
        parts.append(str(SERVICE_PHRASES["esketamine"]))
    if racemic := racemic_label(methods):
        parts.append(racemic)
    if len(parts) == 2:
        return _("%(first)s or %(second)s", first=parts[0], second=parts[1])
    return parts[0] if parts else None


def carrier_label(carrier: str | None, plan_type: str | None = None, plan_types=()) -> str:
    """'Aetna PPO' for a requested plan type; 'Aetna (PPO, POS plans)' for a row's own plan types."""
    if not carrier:
        return _("your plan")
    name = vocab_words.label(vocab.CARRIERS, carrier) if carrier in vocab.CARRIERS else carrier
    if plan_type and plan_type in vocab.PLAN_TYPES:
        return _("%(carrier)s %(plan_type)s", carrier=name, plan_type=vocab_words.label(vocab.PLAN_TYPES, plan_type))
    if plan_types:
        return _("%(carrier)s (%(plan_types)s plans)", carrier=name, plan_types=plan_types_label(plan_types))
    return name


def plan_types_label(plan_types) -> str:
    if not plan_types:
        return _("all plan types")
    return ", ".join(vocab_words.label(vocab.PLAN_TYPES, p) for p in plan_types if p in vocab.PLAN_TYPES)


def network_label(network: str | None) -> str:
    return {"in-network": _("in network"), "out-of-network": _("out of network")}.get(network or "", _("self-pay"))


def price_text(min_usd: int | None, max_usd: int | None) -> str:
    """'$450–$600', '$450' when min = max, 'price not listed' when unknown."""
    if min_usd is None and max_usd is None:
        return _("price not listed")
    if min_usd is None or max_usd is None or min_usd == max_usd:
        return _("$%(amount)s", amount=format_number(min_usd if min_usd is not None else max_usd))
    return _("$%(low)s–$%(high)s", low=format_number(min_usd), high=format_number(max_usd))


def payment_label(slug: str) -> str:
    return str(PAYMENT_LABELS.get(slug, slug))


def fact_stale(as_of, today: date | None = None) -> bool:
    """True when a fact's as-of date is missing or older than ``STALE_AFTER`` (90 days): labelled
    "not confirmed recently"."""
    if as_of is None:
        return True
    if isinstance(as_of, str):
        as_of = date.fromisoformat(as_of)
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    return as_of < (today or date.today()) - STALE_AFTER
